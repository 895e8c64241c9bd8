/*
 * results.c - the harness's results database (hn_results.h; the schema is
 * documented in docs/results-schema.md).
 *
 * Layout: helpers (mkdir -p, SQLite error mapping, statement runner); the
 * schema and its version check; runs; scenarios; trials, divergences and
 * hit counts; batch transactions; kill-matrix cells and shrunk reproducers.
 *
 * The database accumulates across runs: tables are created once and never
 * dropped or rewritten, and a file of another schema version is refused
 * rather than migrated silently.  Times are UTC ISO-8601 text produced by
 * SQLite itself.  WAL mode lets report tools read while a run writes; the
 * results are history, not state that a crash must keep consistent with
 * anything else, so synchronous=NORMAL (durable across a process crash) is
 * enough.
 */
#include "hn_results.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hn_run.h"
#include "pl_fs.h"

/* How long a write waits for another process's write lock by default. */
#define RES_BUSY_MS 60000
#define RES_BUSY_STEP_MS 20

struct hn_res {
    sqlite3 *db;
    char path[PATH_MAX];
    sqlite3_stmt *ins_trial, *ins_div, *ins_hits;
    int wait_ms;                   /* hn_res_set_wait */
    volatile sig_atomic_t *stop;   /* hn_res_set_stop: ends a wait early */
};

/* ---------------------------------------------------------------- helpers */

static int sq_err(hn_res *r, int rc, const char *what, pl_errbuf *eb)
{
    /* another process holds the write lock: the wait ran out (or was
     * stopped); say so, as busy is not a broken database */
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
        if (r->stop && *r->stop)
            return pl_err(eb, -EBUSY, "results database %s: %s: locked by another process "
                          "(interrupted while waiting for its write lock)", r->path, what);
        return pl_err(eb, -EBUSY, "results database %s: %s: locked by another process "
                      "(waited %d ms for its write lock)", r->path, what, r->wait_ms);
    }
    int code = (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT ? PL_ECORRUPT
                                                                              : PL_EDB;
    int sys = r->db ? sqlite3_system_errno(r->db) : 0;
    /* the OS's reason decides the exit status: a read-only or forbidden
     * path is the user's to fix, a full disk an I/O failure */
    if (sys && ((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_IOERR ||
                (rc & 0xff) == SQLITE_FULL || (rc & 0xff) == SQLITE_READONLY))
        return pl_err(eb, -sys, "results database %s: %s: %s (%s)", r->path, what,
                      sqlite3_errmsg(r->db), strerror(sys));
    if ((rc & 0xff) == SQLITE_FULL || (rc & 0xff) == SQLITE_IOERR)
        code = (rc & 0xff) == SQLITE_FULL ? -ENOSPC : PL_EIO;
    return pl_err(eb, code, "results database %s: %s: %s", r->path, what,
                  r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc));
}

static int exec_sql(hn_res *r, const char *sql, const char *what, pl_errbuf *eb)
{
    char *msg = NULL;
    int rc = sqlite3_exec(r->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        sqlite3_free(msg); /* sqlite3_errmsg holds the same text */
        return sq_err(r, rc, what, eb);
    }
    return 0;
}

/* SQLite's busy handler: sleep in short steps while another process holds
 * the lock, up to wait_ms, and not at all once a stop was requested. */
static int busy_wait(void *arg, int count)
{
    const hn_res *r = arg;
    if ((r->stop && *r->stop) || (int64_t)count * RES_BUSY_STEP_MS >= r->wait_ms)
        return 0;
    usleep(RES_BUSY_STEP_MS * 1000);
    return 1;
}

int hn_res_set_wait(hn_res *r, int ms)
{
    int old = r->wait_ms;
    r->wait_ms = ms < 0 ? RES_BUSY_MS : ms;
    return old;
}

void hn_res_set_stop(hn_res *r, volatile sig_atomic_t *stop)
{
    r->stop = stop;
}

/* mkdir -p of the directory that will hold path. */
static int make_parent(const char *path, pl_errbuf *eb)
{
    char dir[PATH_MAX];
    char *slash;
    int ret;
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return pl_err(eb, -ENAMETOOLONG, "results database path too long: %s", path);
    slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    /* SQLite would only say "unable to open database file" */
    if ((ret = pl_fs_mkdir_p(dir, eb)))
        return ret;
    /* a new database and its WAL are files in dir: a read-only dir must be
     * named as such (exit 2), not reported as a database error */
    if (access(path, F_OK) != 0 && access(dir, W_OK) != 0)
        return pl_err_os(eb, errno, "results database %s: directory %s", path, dir);
    return 0;
}

static int prepare(hn_res *r, const char *sql, sqlite3_stmt **st, pl_errbuf *eb)
{
    int rc = sqlite3_prepare_v2(r->db, sql, -1, st, NULL);
    if (rc != SQLITE_OK)
        return sq_err(r, rc, "prepare", eb);
    return 0;
}

/* Bind text, or NULL for an empty or missing string. */
static int bind_opt(sqlite3_stmt *st, int i, const char *s)
{
    if (!s || !*s)
        return sqlite3_bind_null(st, i);
    return sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

/* Step a fully bound statement that returns no rows, then reset it. */
static int step_done(hn_res *r, sqlite3_stmt *st, const char *what, pl_errbuf *eb)
{
    int rc = sqlite3_step(st);
    int ret = rc == SQLITE_DONE ? 0 : sq_err(r, rc, what, eb);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

/* ----------------------------------------------------------------- schema */

static const char *schema_sql =
    "CREATE TABLE IF NOT EXISTS meta(\n"
    "  key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT, WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS runs(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  started TEXT NOT NULL,\n"
    "  finished TEXT,\n"
    "  argv TEXT NOT NULL,\n"
    "  host TEXT NOT NULL,\n"
    "  exit_status INTEGER) STRICT;\n"
    "CREATE TABLE IF NOT EXISTS scenarios(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id),\n"
    "  name TEXT NOT NULL,\n"
    "  path TEXT NOT NULL,\n"
    "  started TEXT NOT NULL,\n"
    "  records INTEGER,\n"
    "  golden_bars TEXT, golden_late TEXT, golden_dlq TEXT,\n"
    "  bars_rows INTEGER, late_rows INTEGER, dlq_rows INTEGER,\n"
    "  batch_bars TEXT, batch_late TEXT, batch_dlq TEXT,\n"
    "  verdict TEXT NOT NULL,\n"
    "  candidates INTEGER NOT NULL DEFAULT 0,\n"
    "  trials_planned INTEGER NOT NULL DEFAULT 0,\n"
    "  trials_run INTEGER NOT NULL DEFAULT 0,\n"
    "  failures INTEGER NOT NULL DEFAULT 0,\n"
    "  duration_ms INTEGER,\n"
    "  trials_ms INTEGER,\n"
    "  detail TEXT,\n"
    "  workload TEXT) STRICT;\n"
    "CREATE INDEX IF NOT EXISTS scenarios_by_name ON scenarios(name, run_id);\n"
    "CREATE TABLE IF NOT EXISTS trials(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  scenario_id INTEGER NOT NULL REFERENCES scenarios(id),\n"
    "  seq INTEGER NOT NULL,\n"
    "  crashes TEXT NOT NULL,\n"
    "  point TEXT NOT NULL,\n"
    "  k INTEGER NOT NULL,\n"
    "  verdict TEXT NOT NULL,\n"
    "  restarts INTEGER NOT NULL,\n"
    "  duration_ms INTEGER NOT NULL,\n"
    "  bars TEXT, late TEXT, dlq TEXT,\n"
    "  state_dir TEXT,\n"
    "  detail TEXT,\n"
    "  early TEXT,\n"
    "  converged_at INTEGER,\n"
    "  snap_hit INTEGER) STRICT;\n"
    "CREATE INDEX IF NOT EXISTS trials_by_scenario ON trials(scenario_id, verdict);\n"
    "CREATE TABLE IF NOT EXISTS divergences(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  scenario_id INTEGER NOT NULL REFERENCES scenarios(id),\n"
    "  trial_id INTEGER REFERENCES trials(id),\n"
    "  tbl TEXT NOT NULL,\n"
    "  line INTEGER NOT NULL,\n"
    "  expected TEXT,\n"
    "  actual TEXT) STRICT;\n"
    "CREATE INDEX IF NOT EXISTS divergences_by_trial ON divergences(trial_id);\n"
    "CREATE TABLE IF NOT EXISTS hits(\n"
    "  scenario_id INTEGER NOT NULL REFERENCES scenarios(id),\n"
    "  point TEXT NOT NULL,\n"
    "  count INTEGER NOT NULL,\n"
    "  PRIMARY KEY(scenario_id, point)) STRICT, WITHOUT ROWID;\n"
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '1');\n";

/* Provenance (hn_res_prov_set, hn_res_file_add): tables that old readers
 * ignore, so they do not change the schema version. */
static const char *prov_schema_sql =
    "CREATE TABLE IF NOT EXISTS provenance(\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id),\n"
    "  key TEXT NOT NULL,\n"
    "  value TEXT NOT NULL,\n"
    "  PRIMARY KEY(run_id, key)) STRICT, WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS run_files(\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id),\n"
    "  role TEXT NOT NULL,\n"
    "  path TEXT NOT NULL,\n"
    "  scenario TEXT,\n"
    "  xxh3 TEXT,\n"
    "  bytes INTEGER,\n"
    "  PRIMARY KEY(run_id, role, path)) STRICT, WITHOUT ROWID;\n"
    /* the whole plan of a scenario and the shard that ran part of it
     * (hn_res_plan_add); `replayproof merge` compares the digests */
    "CREATE TABLE IF NOT EXISTS plans(\n"
    "  scenario_id INTEGER PRIMARY KEY REFERENCES scenarios(id),\n"
    "  trials INTEGER NOT NULL,\n"
    "  xxh3 TEXT NOT NULL,\n"
    "  shard INTEGER NOT NULL,\n"
    "  shards INTEGER NOT NULL) STRICT;\n";

/* The kill matrix (`replayproof mutants`, hn_res_mutant_add) and its shrunk
 * reproducers (`mutants --shrink`, hn_res_shrink_add): tables that only add,
 * so a file made before them gets them (empty) when it is opened, and the
 * schema version is unchanged. */
static const char *mutants_schema_sql =
    "CREATE TABLE IF NOT EXISTS mutants(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id),\n"
    "  mutant TEXT NOT NULL,\n"
    "  scenario TEXT NOT NULL,\n"
    "  path TEXT NOT NULL,\n"
    "  outcome TEXT NOT NULL,\n"
    "  verdict TEXT,\n"
    "  how TEXT,\n"
    "  trials INTEGER NOT NULL,\n"
    "  duration_ms INTEGER NOT NULL,\n"
    "  reproduce TEXT,\n"
    "  detail TEXT) STRICT;\n"
    "CREATE INDEX IF NOT EXISTS mutants_by_run ON mutants(run_id, mutant);\n"
    "CREATE TABLE IF NOT EXISTS shrinks(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id),\n"
    "  mutant TEXT,\n"
    "  scenario TEXT NOT NULL,\n"
    "  verdict TEXT NOT NULL,\n"
    "  records_before INTEGER NOT NULL, records INTEGER NOT NULL,\n"
    "  partitions_before INTEGER NOT NULL, partitions INTEGER NOT NULL,\n"
    "  symbols_before INTEGER NOT NULL, symbols INTEGER NOT NULL,\n"
    "  aggs_before INTEGER NOT NULL, aggs INTEGER NOT NULL,\n"
    "  faults_before INTEGER NOT NULL, faults INTEGER NOT NULL,\n"
    "  replays INTEGER NOT NULL,\n"
    "  budget_exhausted INTEGER NOT NULL,\n"
    "  scenario_path TEXT NOT NULL,\n"
    "  scenario_text TEXT,\n"
    "  csv_path TEXT NOT NULL,\n"
    "  csv_text TEXT,\n"
    "  trial TEXT,\n"
    "  reproduce TEXT NOT NULL) STRICT;\n"
    "CREATE INDEX IF NOT EXISTS shrinks_by_run ON shrinks(run_id);\n";

/* Create the schema or check the version of an existing one.  Runs under
 * BEGIN IMMEDIATE so that two runs opening a new file at once cannot both
 * decide to create it. */
static int check_schema(hn_res *r, pl_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int ret, rc;
    char version[32] = "";

    if ((ret = exec_sql(r, "BEGIN IMMEDIATE", "begin", eb)))
        return ret;
    if ((ret = exec_sql(r, schema_sql, "creating the schema", eb)) ||
        (ret = exec_sql(r, prov_schema_sql, "creating the provenance tables", eb)) ||
        (ret = exec_sql(r, mutants_schema_sql, "creating the mutants tables", eb)))
        goto fail;
    if ((ret = prepare(r, "SELECT value FROM meta WHERE key = 'schema_version'", &st, eb)))
        goto fail;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(version, sizeof version, "%s", (const char *)sqlite3_column_text(st, 0));
    else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        ret = sq_err(r, rc, "reading schema_version", eb);
        goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (atoi(version) != HN_RES_SCHEMA_VERSION) {
        ret = pl_err(eb, PL_ECONFIG,
                     "results database %s has schema version '%s'; this replayproof "
                     "writes version %d (use another --results file)",
                     r->path, version, HN_RES_SCHEMA_VERSION);
        goto fail;
    }
    /* scenarios.workload, trials.early, trials.converged_at and
     * trials.snap_hit came within version 1: nullable columns, so a file
     * written before them gets them in place */
    {
        static const char *const added[][3] = {
            {"scenarios", "workload", "TEXT"},
            {"trials", "early", "TEXT"},
            {"trials", "converged_at", "INTEGER"},
            {"trials", "snap_hit", "INTEGER"},
        };
        for (size_t i = 0; i < sizeof added / sizeof added[0]; i++) {
            char sql[160];
            snprintf(sql, sizeof sql, "SELECT count(*) FROM pragma_table_info('%s') "
                     "WHERE name = '%s'", added[i][0], added[i][1]);
            if ((ret = prepare(r, sql, &st, eb)))
                goto fail;
            rc = sqlite3_step(st);
            rc = rc == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
            sqlite3_finalize(st);
            st = NULL;
            if (rc)
                continue;
            snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", added[i][0],
                     added[i][1], added[i][2]);
            if ((ret = exec_sql(r, sql, "adding a column", eb)))
                goto fail;
        }
    }
    return exec_sql(r, "COMMIT", "commit", eb);

fail:
    sqlite3_finalize(st);
    sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
    return ret;
}

int hn_res_open(const char *path, hn_res **out, pl_errbuf *eb)
{
    hn_res *r;
    int rc, ret;

    *out = NULL;
    r = calloc(1, sizeof *r);
    if (!r)
        return pl_err(eb, -ENOMEM, "out of memory");
    snprintf(r->path, sizeof r->path, "%s", path);
    if ((ret = make_parent(path, eb)))
        goto fail;
    rc = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                         SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        ret = sq_err(r, rc, "open", eb);
        goto fail;
    }
    r->wait_ms = RES_BUSY_MS;
    sqlite3_busy_handler(r->db, busy_wait, r);
    /* journal_mode is the first statement that reads the file: a file that
     * is not a database fails here with SQLITE_NOTADB */
    if ((ret = exec_sql(r, "PRAGMA journal_mode=WAL", "journal_mode=WAL", eb)) ||
        (ret = exec_sql(r, "PRAGMA synchronous=NORMAL", "synchronous=NORMAL", eb)) ||
        (ret = exec_sql(r, "PRAGMA foreign_keys=ON", "foreign_keys=ON", eb)))
        goto fail;
    if ((ret = check_schema(r, eb)))
        goto fail;
    if ((ret = prepare(r,
                       "INSERT INTO trials(scenario_id, seq, crashes, point, k, verdict, "
                       "restarts, duration_ms, bars, late, dlq, state_dir, detail, early, "
                       "converged_at, snap_hit) "
                       "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)",
                       &r->ins_trial, eb)) ||
        (ret = prepare(r,
                       "INSERT INTO divergences(scenario_id, trial_id, tbl, line, expected, "
                       "actual) VALUES(?1,?2,?3,?4,?5,?6)",
                       &r->ins_div, eb)) ||
        (ret = prepare(r,
                       "INSERT OR REPLACE INTO hits(scenario_id, point, count) "
                       "VALUES(?1,?2,?3)",
                       &r->ins_hits, eb)))
        goto fail;
    *out = r;
    return 0;

fail:
    hn_res_close(r);
    return ret;
}

void hn_res_close(hn_res *r)
{
    if (!r)
        return;
    sqlite3_finalize(r->ins_trial);
    sqlite3_finalize(r->ins_div);
    sqlite3_finalize(r->ins_hits);
    if (r->db)
        sqlite3_close(r->db);
    free(r);
}

/* ------------------------------------------------------------------- runs */

/* argv as one line; words that a shell would split or expand are quoted. */
static char *join_argv(int argc, char *const argv[])
{
    size_t cap = 1;
    char *s;
    for (int i = 0; i < argc; i++)
        cap += 4 * strlen(argv[i]) + 3;
    s = malloc(cap);
    if (!s)
        return NULL;
    s[0] = 0;
    for (int i = 0; i < argc; i++) {
        if (i)
            strcat(s, " ");
        hn_run_shell_quote(s, cap, argv[i]);
    }
    return s;
}

int hn_res_run_begin(hn_res *r, int argc, char *const argv[], int64_t *run_id, pl_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    char host[256] = "";
    char *line = join_argv(argc, argv);
    int ret;

    if (!line)
        return pl_err(eb, -ENOMEM, "out of memory");
    if (gethostname(host, sizeof host - 1) < 0)
        snprintf(host, sizeof host, "unknown");
    ret = prepare(r,
                  "INSERT INTO runs(started, argv, host) "
                  "VALUES(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?1, ?2)",
                  &st, eb);
    if (ret == 0) {
        sqlite3_bind_text(st, 1, line, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, host, -1, SQLITE_TRANSIENT);
        ret = step_done(r, st, "inserting the run", eb);
    }
    if (ret == 0)
        *run_id = sqlite3_last_insert_rowid(r->db);
    sqlite3_finalize(st);
    free(line);
    return ret;
}

int hn_res_run_end(hn_res *r, int64_t run_id, int exit_status, pl_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int ret = prepare(r,
                      "UPDATE runs SET finished = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), "
                      "exit_status = ?2 WHERE id = ?1",
                      &st, eb);
    if (ret == 0) {
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_int(st, 2, exit_status);
        ret = step_done(r, st, "finishing the run", eb);
    }
    sqlite3_finalize(st);
    return ret;
}

/* -------------------------------------------------------------- scenarios */

int hn_res_scenario_begin(hn_res *r, int64_t run_id, const char *name, const char *path,
                          int64_t *scenario_id, pl_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int ret = prepare(r,
                      "INSERT INTO scenarios(run_id, name, path, started, verdict) "
                      "VALUES(?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'running')",
                      &st, eb);
    if (ret == 0) {
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, path, -1, SQLITE_TRANSIENT);
        ret = step_done(r, st, "inserting a scenario", eb);
    }
    if (ret == 0)
        *scenario_id = sqlite3_last_insert_rowid(r->db);
    sqlite3_finalize(st);
    return ret;
}

int hn_res_scenario_end(hn_res *r, int64_t scenario_id, const hn_res_scenario *s,
                        pl_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int ret = prepare(r,
                      "UPDATE scenarios SET records = ?2, golden_bars = ?3, golden_late = ?4, "
                      "golden_dlq = ?5, bars_rows = ?6, late_rows = ?7, dlq_rows = ?8, "
                      "batch_bars = ?9, batch_late = ?10, batch_dlq = ?11, verdict = ?12, "
                      "candidates = ?13, trials_planned = ?14, trials_run = ?15, "
                      "failures = ?16, duration_ms = ?17, detail = ?18, trials_ms = ?19, "
                      "workload = ?20 WHERE id = ?1",
                      &st, eb);
    if (ret)
        return ret;
    sqlite3_bind_int64(st, 1, scenario_id);
    if (s->records >= 0)
        sqlite3_bind_int64(st, 2, s->records);
    for (int i = 0; i < 3; i++) {
        bind_opt(st, 3 + i, s->golden[i]);
        if (s->golden[i] && *s->golden[i])
            sqlite3_bind_int64(st, 6 + i, s->golden_rows[i]);
        bind_opt(st, 9 + i, s->batch[i]);
    }
    sqlite3_bind_text(st, 12, s->verdict, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 13, s->candidates);
    sqlite3_bind_int64(st, 14, s->planned);
    sqlite3_bind_int64(st, 15, s->run);
    sqlite3_bind_int64(st, 16, s->failures);
    sqlite3_bind_int64(st, 17, s->duration_ms);
    bind_opt(st, 18, s->detail);
    sqlite3_bind_int64(st, 19, s->trials_ms);
    bind_opt(st, 20, s->workload);
    ret = step_done(r, st, "finishing a scenario", eb);
    sqlite3_finalize(st);
    return ret;
}

/* ------------------------------------------------------ trials and friends */

static int div_add(hn_res *r, int64_t scenario_id, int64_t trial_id, const hn_res_div *d,
                   pl_errbuf *eb)
{
    sqlite3_stmt *st = r->ins_div;
    sqlite3_bind_int64(st, 1, scenario_id);
    if (trial_id > 0)
        sqlite3_bind_int64(st, 2, trial_id);
    sqlite3_bind_text(st, 3, d->tbl, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, d->line);
    if (!d->expected_eof)
        sqlite3_bind_text(st, 5, d->expected, -1, SQLITE_TRANSIENT);
    if (!d->actual_eof)
        sqlite3_bind_text(st, 6, d->actual, -1, SQLITE_TRANSIENT);
    return step_done(r, st, "inserting a divergence", eb);
}

int hn_res_trial_add(hn_res *r, int64_t scenario_id, const hn_res_trial *t, pl_errbuf *eb)
{
    sqlite3_stmt *st = r->ins_trial;
    int64_t id;
    int ret;

    sqlite3_bind_int64(st, 1, scenario_id);
    sqlite3_bind_int64(st, 2, t->seq);
    sqlite3_bind_text(st, 3, t->crashes, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, t->point, -1, SQLITE_TRANSIENT);
    /* hit numbers come from a discovery count; SQLite holds int64 */
    sqlite3_bind_int64(st, 5, t->k > INT64_MAX ? INT64_MAX : (int64_t)t->k);
    sqlite3_bind_text(st, 6, t->verdict, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 7, t->restarts);
    sqlite3_bind_int64(st, 8, t->duration_ms);
    for (int i = 0; i < 3; i++)
        bind_opt(st, 9 + i, t->digest[i]);
    bind_opt(st, 12, t->state_dir);
    bind_opt(st, 13, t->detail);
    bind_opt(st, 14, t->early);
    if (t->early && t->converged_at >= 0)
        sqlite3_bind_int64(st, 15, t->converged_at);
    if (t->snap_hit > 0)
        sqlite3_bind_int64(st, 16, t->snap_hit);
    if ((ret = step_done(r, st, "inserting a trial", eb)))
        return ret;
    id = sqlite3_last_insert_rowid(r->db);
    for (int i = 0; i < t->ndiv; i++)
        if ((ret = div_add(r, scenario_id, id, &t->div[i], eb)))
            return ret;
    return 0;
}

int hn_res_div_add(hn_res *r, int64_t scenario_id, const hn_res_div *d, pl_errbuf *eb)
{
    return div_add(r, scenario_id, 0, d, eb);
}

int hn_res_hits_add(hn_res *r, int64_t scenario_id, const char *point, uint64_t count,
                    pl_errbuf *eb)
{
    sqlite3_stmt *st = r->ins_hits;
    sqlite3_bind_int64(st, 1, scenario_id);
    sqlite3_bind_text(st, 2, point, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, count > INT64_MAX ? INT64_MAX : (int64_t)count);
    return step_done(r, st, "inserting hit counts", eb);
}

/* ------------------------------------------------------------- provenance */

/* One-off statements: a run stores a few dozen provenance rows, so they are
 * prepared per call and the handle keeps no statement for them. */
int hn_res_prov_set(hn_res *r, int64_t run_id, const char *key, const char *value,
                    pl_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int ret = prepare(r, "INSERT OR REPLACE INTO provenance(run_id, key, value) "
                         "VALUES(?1,?2,?3)", &st, eb);
    if (ret)
        return ret;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, value ? value : "", -1, SQLITE_TRANSIENT);
    ret = step_done(r, st, "inserting provenance", eb);
    sqlite3_finalize(st);
    return ret;
}

int hn_res_file_add(hn_res *r, int64_t run_id, const char *role, const char *path,
                    const char *scenario, const char *xxh3, int64_t bytes, pl_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int ret = prepare(r, "INSERT OR REPLACE INTO run_files(run_id, role, path, scenario, "
                         "xxh3, bytes) VALUES(?1,?2,?3,?4,?5,?6)", &st, eb);
    if (ret)
        return ret;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, role, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, path, -1, SQLITE_TRANSIENT);
    bind_opt(st, 4, scenario);
    bind_opt(st, 5, xxh3);
    if (bytes >= 0)
        sqlite3_bind_int64(st, 6, bytes);
    ret = step_done(r, st, "inserting a file's digest", eb);
    sqlite3_finalize(st);
    return ret;
}

int hn_res_plan_add(hn_res *r, int64_t scenario_id, int64_t trials, const char *xxh3,
                    int shard, int shards, pl_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int ret = prepare(r, "INSERT OR REPLACE INTO plans(scenario_id, trials, xxh3, shard, shards) "
                         "VALUES(?1,?2,?3,?4,?5)", &st, eb);
    if (ret)
        return ret;
    sqlite3_bind_int64(st, 1, scenario_id);
    sqlite3_bind_int64(st, 2, trials);
    sqlite3_bind_text(st, 3, xxh3, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 4, shard);
    sqlite3_bind_int(st, 5, shards);
    ret = step_done(r, st, "inserting a plan", eb);
    sqlite3_finalize(st);
    return ret;
}

int hn_res_state_dir_moved(hn_res *r, int64_t run_id, const char *from, const char *to,
                           pl_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    size_t n = strlen(from);
    int ret = prepare(r, "UPDATE trials SET state_dir = CASE WHEN ?3 IS NULL THEN NULL "
                         "ELSE ?3 || substr(state_dir, ?4) END "
                         "WHERE substr(state_dir, 1, ?4 - 1) = ?2 AND "
                         "(length(state_dir) = ?4 - 1 OR substr(state_dir, ?4, 1) = '/') AND "
                         "scenario_id IN (SELECT id FROM scenarios WHERE run_id = ?1)",
                      &st, eb);
    if (ret)
        return ret;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, from, -1, SQLITE_TRANSIENT);
    bind_opt(st, 3, to);
    sqlite3_bind_int64(st, 4, (int64_t)n + 1);
    ret = step_done(r, st, "recording a moved state dir", eb);
    sqlite3_finalize(st);
    return ret;
}

/* ------------------------------------------------------------ transactions */

int hn_res_begin(hn_res *r, pl_errbuf *eb)
{
    /* IMMEDIATE: take the write lock now, so that a concurrent writer makes
     * us wait (busy timeout) here rather than fail in the middle */
    return exec_sql(r, "BEGIN IMMEDIATE", "begin", eb);
}

int hn_res_commit(hn_res *r, pl_errbuf *eb)
{
    int ret = exec_sql(r, "COMMIT", "commit", eb);
    if (ret)
        hn_res_rollback(r);
    return ret;
}

void hn_res_rollback(hn_res *r)
{
    /* fails only when no transaction is open, which is what we want anyway */
    sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---------------------------------------------------------------- mutants */

int hn_res_mutant_add(hn_res *r, int64_t run_id, const hn_res_mutant *m, pl_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int ret;
    if ((ret = prepare(r,
                       "INSERT INTO mutants(run_id, mutant, scenario, path, outcome, verdict, "
                       "how, trials, duration_ms, reproduce, detail) "
                       "VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                       &st, eb)))
        return ret;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, m->mutant, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, m->scenario, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, m->path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, m->outcome, -1, SQLITE_TRANSIENT);
    bind_opt(st, 6, m->verdict);
    bind_opt(st, 7, m->how);
    sqlite3_bind_int64(st, 8, m->trials);
    sqlite3_bind_int64(st, 9, m->duration_ms);
    bind_opt(st, 10, m->reproduce);
    bind_opt(st, 11, m->detail);
    ret = step_done(r, st, "inserting a kill-matrix cell", eb);
    sqlite3_finalize(st);
    return ret;
}

/* ---------------------------------------------------------------- shrinks */

int hn_res_shrink_add(hn_res *r, int64_t run_id, const hn_res_shrink *s, pl_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int ret, i = 1;
    if ((ret = prepare(r,
                       "INSERT INTO shrinks(run_id, mutant, scenario, verdict, records_before, "
                       "records, partitions_before, partitions, symbols_before, symbols, "
                       "aggs_before, aggs, faults_before, faults, replays, budget_exhausted, "
                       "scenario_path, scenario_text, csv_path, csv_text, trial, reproduce) "
                       "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       &st, eb)))
        return ret;
    sqlite3_bind_int64(st, i++, run_id);
    bind_opt(st, i++, s->mutant);
    sqlite3_bind_text(st, i++, s->scenario, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, i++, s->verdict, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, i++, s->records0);
    sqlite3_bind_int64(st, i++, s->records);
    sqlite3_bind_int64(st, i++, s->partitions0);
    sqlite3_bind_int64(st, i++, s->partitions);
    sqlite3_bind_int64(st, i++, s->symbols0);
    sqlite3_bind_int64(st, i++, s->symbols);
    sqlite3_bind_int64(st, i++, s->aggs0);
    sqlite3_bind_int64(st, i++, s->aggs);
    sqlite3_bind_int64(st, i++, s->faults0);
    sqlite3_bind_int64(st, i++, s->faults);
    sqlite3_bind_int64(st, i++, s->attempts);
    sqlite3_bind_int64(st, i++, s->budget_exhausted);
    sqlite3_bind_text(st, i++, s->scenario_path, -1, SQLITE_TRANSIENT);
    bind_opt(st, i++, s->scenario_text);
    sqlite3_bind_text(st, i++, s->csv_path, -1, SQLITE_TRANSIENT);
    bind_opt(st, i++, s->csv_text);
    bind_opt(st, i++, s->trial);
    sqlite3_bind_text(st, i++, s->reproduce, -1, SQLITE_TRANSIENT);
    ret = step_done(r, st, "inserting a shrunk reproducer", eb);
    sqlite3_finalize(st);
    return ret;
}
