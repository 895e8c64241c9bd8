/*
 * merge.c - `replayproof merge` (hn_shard.h: hn_merge): the results
 * databases of the shards of one suite become one database that reads as
 * one unsharded run.
 *
 * Layout: small SQLite helpers; loading what is compared of each input (its
 * newest run, shard, scenarios with their plans and golden digests, file
 * digests); the compatibility checks; writing the merged database; hn_merge.
 *
 * Every input is read before anything is written, and every refusal is made
 * then, so that a refused merge leaves nothing behind.  The output is built
 * under a temporary name beside it and renamed into place once complete and
 * fsync'ed: a reader (or a CI step after a killed merge) finds the whole
 * merged database or none.
 *
 * What a shard stores that differs from the unsharded run, and how it is
 * merged (scenario by scenario, in the order of the suite):
 *   trials, their divergences   the union; plan indexes (seq) kept
 *   trials_planned, trials_run  sums
 *   failures                    failing trials of the union, plus one for a
 *                               batch disagreement and one for a failed
 *                               expectation, as the runner counts them
 *   verdict                     the most severe of the shards' verdicts: the
 *                               runner picks the most severe that applies,
 *                               and only "failed" depends on the trials
 *   detail                      recomputed for "failed"; else that shard's
 *   trials_ms                   sum (trials/s stays a per-machine rate)
 *   duration_ms                 the longest shard (the wall time of the CI stage)
 * Everything the golden phase produces (records, golden and batch digests,
 * batch divergences, hit counts, plans) is the same in every shard and is
 * taken from the lowest shard index.
 */
#include "hn_shard.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hn_results.h"
#include "hn_rundir.h"
#include "pl_fs.h"

/* What is compared and merged of one scenario row of an input. */
typedef struct m_scn {
    int64_t id;
    char *name, *verdict, *detail, *started;
    int64_t planned, run, duration_ms, trials_ms;
    char *golden[3];            /* NULL when the golden run did not finish */
    int64_t plan_trials;        /* -1: no plans row (the scenario ended before planning) */
    char *plan_xxh3;
} m_scn;

typedef struct m_in {
    const char *path;
    int64_t run_id;
    char *started, *finished, *host;
    char *run_dir;              /* provenance run_dir on the shard's machine, or NULL */
    char local_dir[PATH_MAX];   /* where that run dir is on this machine, or "" */
    int shard, shards;
    int nscn;
    m_scn *scn;
    int nfiles;
    char **files;               /* "role\tscenario\txxh3", sorted */
} m_in;

/* ---------------------------------------------------------------- helpers */

static int db_fail(sqlite3 *db, const char *path, const char *what, pl_errbuf *eb)
{
    int rc = db ? sqlite3_errcode(db) : SQLITE_ERROR;
    int code = (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT ? PL_ECORRUPT
               : (rc & 0xff) == SQLITE_FULL ? -ENOSPC
               : (rc & 0xff) == SQLITE_IOERR ? PL_EIO : PL_EDB;
    return pl_err(eb, code, "%s: %s: %s", path, what, db ? sqlite3_errmsg(db) : "no handle");
}

static char *dup_col(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

static int64_t int_col(sqlite3_stmt *st, int i, int64_t null_value)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? null_value : sqlite3_column_int64(st, i);
}

static int has_table(sqlite3 *db, const char *schema, const char *name)
{
    char sql[160];
    sqlite3_stmt *st = NULL;
    int yes;
    snprintf(sql, sizeof sql, "SELECT 1 FROM %s.sqlite_master WHERE type = 'table' AND name = ?1",
             schema);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    yes = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return yes;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int eq(const char *a, const char *b)
{
    return a && b ? strcmp(a, b) == 0 : a == b;
}

static void in_free(m_in *in)
{
    for (int i = 0; i < in->nscn; i++) {
        m_scn *s = &in->scn[i];
        free(s->name);
        free(s->verdict);
        free(s->detail);
        free(s->started);
        free(s->plan_xxh3);
        for (int t = 0; t < 3; t++)
            free(s->golden[t]);
    }
    free(in->scn);
    for (int i = 0; i < in->nfiles; i++)
        free(in->files[i]);
    free(in->files);
    free(in->started);
    free(in->finished);
    free(in->host);
    free(in->run_dir);
    memset(in, 0, sizeof *in);
}

/* A scenario verdict's place in enum hn_sc_verdict, which rises in
 * severity (the runner's verdict is the most severe that applies); -1 for
 * a name that is none of them. */
static int severity_of(const char *verdict)
{
    for (int i = 0; i <= HN_SC_ERROR; i++)
        if (eq(verdict, hn_sc_verdict_name(i)))
            return i;
    return -1;
}

static int64_t query_int(sqlite3 *db, const char *sql, const int64_t *v, int n);

/* ------------------------------------------------------------------- load */

static int load_files(sqlite3 *db, m_in *in, pl_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int cap = 0, rc;
    if (!has_table(db, "main", "run_files"))
        return 0;
    /* what a file is (role, scenario) and its bytes; not where it lay, which
     * differs between machines */
    if (sqlite3_prepare_v2(db, "SELECT role || char(9) || coalesce(scenario, '') || char(9) || "
                               "coalesce(xxh3, 'unreadable') FROM run_files WHERE run_id = ?1 "
                               "AND role IN ('binary', 'preload', 'scenario', 'log')",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(db, in->path, "reading run_files", eb);
    sqlite3_bind_int64(st, 1, in->run_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (in->nfiles == cap) {
            char **nf = realloc(in->files, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *nf);
            if (!nf)
                goto nomem;
            in->files = nf;
        }
        if (!(in->files[in->nfiles] = dup_col(st, 0)))
            goto nomem;
        in->nfiles++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(db, in->path, "reading run_files", eb);
    if (in->nfiles)
        qsort(in->files, (size_t)in->nfiles, sizeof *in->files, cmp_str);
    return 0;
nomem:
    sqlite3_finalize(st);
    return pl_err(eb, -ENOMEM, "out of memory");
}

static int load_scenarios(sqlite3 *db, m_in *in, pl_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int cap = 0, rc, plans = has_table(db, "main", "plans");
    char sql[700];
    snprintf(sql, sizeof sql,
             "SELECT s.id, s.name, s.verdict, coalesce(s.detail, ''), s.started, "
             "s.trials_planned, s.trials_run, coalesce(s.duration_ms, 0), "
             "coalesce(s.trials_ms, 0), s.golden_bars, s.golden_late, s.golden_dlq, %s "
             "FROM scenarios s %s WHERE s.run_id = ?1 ORDER BY s.id",
             plans ? "p.trials, p.xxh3" : "NULL, NULL",
             plans ? "LEFT JOIN plans p ON p.scenario_id = s.id" : "");
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(db, in->path, "reading scenarios", eb);
    sqlite3_bind_int64(st, 1, in->run_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        m_scn *s;
        if (in->nscn == cap) {
            m_scn *ns = realloc(in->scn, (size_t)(cap = cap ? 2 * cap : 8) * sizeof *ns);
            if (!ns)
                goto nomem;
            in->scn = ns;
        }
        s = &in->scn[in->nscn++];
        memset(s, 0, sizeof *s);
        s->id = sqlite3_column_int64(st, 0);
        s->name = dup_col(st, 1);
        s->verdict = dup_col(st, 2);
        s->detail = dup_col(st, 3);
        s->started = dup_col(st, 4);
        s->planned = int_col(st, 5, 0);
        s->run = int_col(st, 6, 0);
        s->duration_ms = int_col(st, 7, 0);
        s->trials_ms = int_col(st, 8, 0);
        for (int t = 0; t < 3; t++)
            s->golden[t] = dup_col(st, 9 + t);
        s->plan_trials = int_col(st, 12, -1);
        s->plan_xxh3 = dup_col(st, 13);
        if (!s->name || !s->verdict || !s->detail || !s->started)
            goto nomem;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(db, in->path, "reading scenarios", eb);
    return 0;
nomem:
    sqlite3_finalize(st);
    return pl_err(eb, -ENOMEM, "out of memory");
}

/* The newest run of one input and what merge compares of it. */
static int load_input(const char *path, m_in *in, pl_errbuf *eb)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int ret = 0, rc, exit_null = 1;

    memset(in, 0, sizeof *in);
    in->path = path;
    in->shard = in->shards = 1;
    /* sqlite would name a missing file vaguely */
    if (access(path, R_OK) != 0)
        return pl_err_os(eb, errno, "%s", path);
    /* read and write, never create: only a writer that closes last removes
     * the -wal and -shm files that reading a WAL database makes beside it
     * (SQLite opens a write-protected file read-only by itself) */
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        ret = db_fail(db, path, "open", eb);
        goto out;
    }
    sqlite3_busy_timeout(db, 10000);
    if (!has_table(db, "main", "runs") || !has_table(db, "main", "scenarios")) {
        /* a file that is not SQLite fails in has_table's query as well */
        ret = pl_err(eb, PL_ECORRUPT, "%s is not a replayproof results database", path);
        goto out;
    }
    if (sqlite3_prepare_v2(db, "SELECT id, started, coalesce(finished, ''), host, exit_status, "
                               "argv FROM runs ORDER BY id DESC LIMIT 1", -1, &st,
                           NULL) != SQLITE_OK) {
        ret = db_fail(db, path, "reading runs", eb);
        goto out;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        ret = pl_err(eb, PL_EUSAGE, "%s holds no run", path);
        goto out;
    }
    if (rc != SQLITE_ROW) {
        ret = db_fail(db, path, "reading runs", eb);
        goto out;
    }
    in->run_id = sqlite3_column_int64(st, 0);
    in->started = dup_col(st, 1);
    in->finished = dup_col(st, 2);
    in->host = dup_col(st, 3);
    exit_null = sqlite3_column_type(st, 4) == SQLITE_NULL;
    {
        const char *argv = (const char *)sqlite3_column_text(st, 5);
        if (argv && strncmp(argv, "replayproof run", 15) != 0 &&
            strncmp(argv, "replayproof merge", 17) != 0) {
            ret = pl_err(eb, PL_EUSAGE, "%s: its newest run (%lld) is not a `replayproof run` "
                         "(kill matrices and other commands are not sharded)", path,
                         (long long)in->run_id);
            goto out;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (!in->started || !in->finished || !in->host) {
        ret = pl_err(eb, -ENOMEM, "out of memory");
        goto out;
    }
    if (exit_null) {
        ret = pl_err(eb, PL_EUSAGE, "%s: run %lld did not finish (killed, or still running)",
                     path, (long long)in->run_id);
        goto out;
    }
    if (has_table(db, "main", "provenance")) {
        if (sqlite3_prepare_v2(db, "SELECT key, value FROM provenance WHERE run_id = ?1 AND "
                                   "key IN ('shard', 'shards_merged', 'run_dir')", -1, &st,
                               NULL) != SQLITE_OK) {
            ret = db_fail(db, path, "reading provenance", eb);
            goto out;
        }
        sqlite3_bind_int64(st, 1, in->run_id);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *k = (const char *)sqlite3_column_text(st, 0);
            const char *v = (const char *)sqlite3_column_text(st, 1);
            if (k && strcmp(k, "shards_merged") == 0) {
                ret = pl_err(eb, PL_EUSAGE, "%s: run %lld is itself a merge; merge the shards' "
                             "own databases", path, (long long)in->run_id);
                goto out;
            }
            if (k && v && strcmp(k, "run_dir") == 0) {
                if (!(in->run_dir = strdup(v))) {
                    ret = pl_err(eb, -ENOMEM, "out of memory");
                    goto out;
                }
                continue;
            }
            if (!v || hn_shard_parse(v, &in->shard, &in->shards, NULL) < 0) {
                ret = pl_err(eb, PL_ECORRUPT, "%s: run %lld records the shard '%s'", path,
                             (long long)in->run_id, v ? v : "");
                goto out;
            }
        }
        if (rc != SQLITE_DONE) {
            ret = db_fail(db, path, "reading provenance", eb);
            goto out;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if ((ret = load_scenarios(db, in, eb)) || (ret = load_files(db, in, eb)))
        goto out;
    {
        /* a trial outside the shard's slice: not what `run --shard` stores */
        int64_t v[3] = {in->run_id, in->shards, in->shard - 1};
        int64_t stray = query_int(db, "SELECT count(*) FROM trials t JOIN scenarios s ON "
                                      "s.id = t.scenario_id WHERE s.run_id = ?1 AND "
                                      "t.seq % ?2 <> ?3", v, 3);
        if (stray < 0) {
            ret = db_fail(db, path, "reading trials", eb);
            goto out;
        }
        if (stray > 0) {
            ret = pl_err(eb, PL_EUSAGE, "%s: run %lld holds %lld trial%s outside shard %d/%d",
                         path, (long long)in->run_id, (long long)stray, stray == 1 ? "" : "s",
                         in->shard, in->shards);
            goto out;
        }
    }
    for (int i = 0; i < in->nscn; i++)
        if (severity_of(in->scn[i].verdict) < 0) {
            ret = pl_err(eb, PL_EUSAGE, "%s: scenario '%s' of run %lld has the verdict '%s' "
                         "(not finished)", path, in->scn[i].name, (long long)in->run_id,
                         in->scn[i].verdict);
            goto out;
        }
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ret;
}

/* ---------------------------------------------------------------- checks */

/*
 * Is f ("role\tscenario\txxh3" of another input) a log that in did not
 * record because the scenario's golden phase failed there (no plan, no
 * golden digests) before its log was digested?  A log in records is
 * compared, so a different one is still refused.
 */
static int log_unrecorded(const char *f, const m_in *in)
{
    const char *name = f + 4, *end = strchr(name, '\t');
    size_t len = end ? (size_t)(end - name) : strlen(name);
    if (strncmp(f, "log\t", 4) != 0 || len == 0)
        return 0;
    for (int k = 0; k < in->nfiles; k++)
        if (strncmp(in->files[k], f, 4 + len + 1) == 0)
            return 0;
    for (int i = 0; i < in->nscn; i++) {
        const m_scn *s = &in->scn[i];
        if (strlen(s->name) == len && strncmp(s->name, name, len) == 0)
            return !s->plan_xxh3 && !s->golden[0] && severity_of(s->verdict) == HN_SC_ERROR;
    }
    return 0;
}

/* One line naming the first difference between two inputs, or 0. */
static int compatible(const m_in *a, const m_in *b, pl_errbuf *eb)
{
    if (a->shards != b->shards)
        return pl_err(eb, PL_EUSAGE, "%s is shard %d/%d but %s is shard %d/%d: shards of "
                      "different splits", a->path, a->shard, a->shards, b->path, b->shard,
                      b->shards);
    if (a->shard == b->shard)
        return pl_err(eb, PL_EUSAGE, "%s and %s are both shard %d/%d", a->path, b->path,
                      a->shard, a->shards);
    for (int i = 0; i < a->nscn || i < b->nscn; i++) {
        const m_scn *x = i < a->nscn ? &a->scn[i] : NULL, *y = i < b->nscn ? &b->scn[i] : NULL;
        if (!x || !y || strcmp(x->name, y->name) != 0)
            return pl_err(eb, PL_EUSAGE, "not the same suite: scenario %d is %s%s%s in %s but "
                          "%s%s%s in %s", i + 1, x ? "'" : "", x ? x->name : "missing",
                          x ? "'" : "", a->path, y ? "'" : "", y ? y->name : "missing",
                          y ? "'" : "", b->path);
        /* a scenario that ended before its plan (a golden failure) has none */
        if (x->plan_xxh3 && y->plan_xxh3 &&
            (strcmp(x->plan_xxh3, y->plan_xxh3) != 0 || x->plan_trials != y->plan_trials))
            return pl_err(eb, PL_EUSAGE, "scenario '%s': the plan differs between %s (%lld "
                          "trials, %.12s) and %s (%lld trials, %.12s): other scenario files, "
                          "binaries, --budget, or hit counts that are not deterministic",
                          x->name, a->path, (long long)x->plan_trials, x->plan_xxh3, b->path,
                          (long long)y->plan_trials, y->plan_xxh3);
        for (int t = 0; t < 3; t++)
            if (x->golden[t] && y->golden[t] && strcmp(x->golden[t], y->golden[t]) != 0)
                return pl_err(eb, PL_EUSAGE, "scenario '%s': the golden run's %s digest differs "
                              "between %s and %s", x->name, t == 0 ? "bars" : t == 1 ? "late"
                              : "dlq", a->path, b->path);
    }
    for (int i = 0, j = 0; i < a->nfiles || j < b->nfiles;) {
        const char *x = i < a->nfiles ? a->files[i] : NULL, *y = j < b->nfiles ? b->files[j] : NULL;
        if (eq(x, y)) {
            i++;
            j++;
            continue;
        }
        /* a log one side lacks because its golden phase failed: that
         * shard's verdict (error) says so, the logs are not different */
        if (x && (!y || strcmp(x, y) < 0) && log_unrecorded(x, b)) {
            i++;
            continue;
        }
        if (y && (!x || strcmp(y, x) < 0) && log_unrecorded(y, a)) {
            j++;
            continue;
        }
        {
            /* name the file by role and scenario, as the smaller entry reads */
            const char *f = !x ? y : !y ? x : strcmp(x, y) < 0 ? x : y;
            const char *tab = strchr(f, '\t'), *tab2 = tab ? strchr(tab + 1, '\t') : NULL;
            int rl = tab ? (int)(tab - f) : (int)strlen(f);
            int sl = tab2 ? (int)(tab2 - tab - 1) : 0;
            return pl_err(eb, PL_EUSAGE, "%s and %s were not run with the same files: the %.*s%s"
                          "%.*s%s differs (XXH3-128 in run_files)", a->path, b->path, rl, f,
                          sl ? " of scenario '" : "", sl, sl ? tab + 1 : "", sl ? "'" : "");
        }
    }
    return 0;
}

/* ----------------------------------------------------------------- output */

static int exec_sql(sqlite3 *db, const char *path, const char *sql, pl_errbuf *eb)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(db, path, sql, eb);
    return 0;
}

/* path as an SQLite URI "file:...": bytes outside the unreserved set are
 * percent-encoded, so '?', '#' and '%' in a name stay part of it. */
static int file_uri(const char *path, char *out, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    o += (size_t)snprintf(out, n, "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (o + 4 >= n)
            return -1;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("/-._~", *p))
            out[o++] = (char)*p;
        else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = 0;
    return 0;
}

/* Run one statement with integer parameters ?1..?n bound from v. */
static int run_ints(sqlite3 *db, const char *path, const char *sql, const int64_t *v, int n,
                    pl_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int rc;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(db, path, "prepare", eb);
    for (int i = 0; i < n; i++)
        sqlite3_bind_int64(st, i + 1, v[i]);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_fail(db, path, "writing", eb);
    return 0;
}

/* One integer from a query with integer parameters; -1 on failure. */
static int64_t query_int(sqlite3 *db, const char *sql, const int64_t *v, int n)
{
    sqlite3_stmt *st = NULL;
    int64_t x = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    for (int i = 0; i < n; i++)
        sqlite3_bind_int64(st, i + 1, v[i]);
    if (sqlite3_step(st) == SQLITE_ROW)
        x = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return x;
}

/*
 * The scenario rows of the merged run, before any trial: what every shard
 * has in common is copied from the first input (src, attached), the rest is
 * filled in by finish_scenarios.  ids[j] gets the new id of scenario j.
 */
static int copy_common(sqlite3 *db, const char *tmp, const m_in *first, int64_t run_id,
                       int64_t *ids, pl_errbuf *eb)
{
    int ret;
    for (int j = 0; j < first->nscn; j++) {
        int64_t v[2] = {run_id, first->scn[j].id};
        if ((ret = run_ints(db, tmp,
                            "INSERT INTO scenarios(run_id, name, path, started, records, "
                            "golden_bars, golden_late, golden_dlq, bars_rows, late_rows, "
                            "dlq_rows, batch_bars, batch_late, batch_dlq, verdict, candidates, "
                            "detail, workload) SELECT ?1, name, path, started, records, "
                            "golden_bars, golden_late, golden_dlq, bars_rows, late_rows, "
                            "dlq_rows, batch_bars, batch_late, batch_dlq, verdict, candidates, "
                            "detail, workload FROM src.scenarios WHERE id = ?2",
                            v, 2, eb)))
            return ret;
        ids[j] = sqlite3_last_insert_rowid(db);
        {
            int64_t w[2] = {ids[j], first->scn[j].id};
            if ((ret = run_ints(db, tmp, "INSERT INTO hits(scenario_id, point, count) SELECT ?1, "
                                "point, count FROM src.hits WHERE scenario_id = ?2", w, 2, eb)) ||
                (ret = run_ints(db, tmp, "INSERT INTO divergences(scenario_id, trial_id, tbl, "
                                "line, expected, actual) SELECT ?1, NULL, tbl, line, expected, "
                                "actual FROM src.divergences WHERE scenario_id = ?2 AND "
                                "trial_id IS NULL ORDER BY id", w, 2, eb)))
                return ret;
            if (first->scn[j].plan_xxh3 &&
                (ret = run_ints(db, tmp, "INSERT INTO plans(scenario_id, trials, xxh3, shard, "
                                "shards) SELECT ?1, trials, xxh3, 0, shards FROM src.plans "
                                "WHERE scenario_id = ?2", w, 2, eb)))
                return ret;
        }
    }
    /* which code and files: the same in every shard (checked) */
    {
        int64_t v[2] = {run_id, first->run_id};
        if (has_table(db, "src", "provenance") &&
            (ret = run_ints(db, tmp, "INSERT INTO provenance(run_id, key, value) SELECT ?1, key, "
                            "value FROM src.provenance WHERE run_id = ?2 AND key NOT IN "
                            "('run_dir', 'shard', 'host', 'os', 'cores_online', "
                            "'cores_configured')", v, 2, eb)))
            return ret;
        if (has_table(db, "src", "run_files") &&
            (ret = run_ints(db, tmp, "INSERT INTO run_files(run_id, role, path, scenario, xxh3, "
                            "bytes) SELECT ?1, role, path, scenario, xxh3, bytes FROM "
                            "src.run_files WHERE run_id = ?2", v, 2, eb)))
            return ret;
    }
    return 0;
}

/* The trials of one input (attached as src) and their divergences. */
static int copy_trials(sqlite3 *db, const char *tmp, const m_in *in, const int64_t *ids,
                       pl_errbuf *eb)
{
    int ret;
    /* early stop's columns, when the input has them (added within version 1) */
    int early = query_int(db, "SELECT count(*) FROM pragma_table_info('trials', 'src') "
                              "WHERE name = 'converged_at'", NULL, 0) > 0;
    /* and snapshot starts' column (also within version 1) */
    int snap = query_int(db, "SELECT count(*) FROM pragma_table_info('trials', 'src') "
                             "WHERE name = 'snap_hit'", NULL, 0) > 0;
    for (int j = 0; j < in->nscn; j++) {
        int64_t v[2] = {ids[j], in->scn[j].id};
        if ((ret = run_ints(db, tmp,
                            snap ? "INSERT INTO trials(scenario_id, seq, crashes, point, k, "
                                   "verdict, restarts, duration_ms, bars, late, dlq, state_dir, "
                                   "detail, early, converged_at, snap_hit) SELECT ?1, seq, "
                                   "crashes, point, k, verdict, restarts, duration_ms, bars, "
                                   "late, dlq, state_dir, detail, early, converged_at, snap_hit "
                                   "FROM src.trials WHERE scenario_id = ?2 ORDER BY id"
                            : early ? "INSERT INTO trials(scenario_id, seq, crashes, point, k, "
                                    "verdict, restarts, duration_ms, bars, late, dlq, state_dir, "
                                    "detail, early, converged_at) SELECT ?1, seq, crashes, point, "
                                    "k, verdict, restarts, duration_ms, bars, late, dlq, "
                                    "state_dir, detail, early, converged_at FROM src.trials "
                                    "WHERE scenario_id = ?2 ORDER BY id"
                            : "INSERT INTO trials(scenario_id, seq, crashes, point, k, verdict, "
                              "restarts, duration_ms, bars, late, dlq, state_dir, detail) "
                              "SELECT ?1, seq, crashes, point, k, verdict, restarts, duration_ms, "
                              "bars, late, dlq, state_dir, detail FROM src.trials "
                              "WHERE scenario_id = ?2 ORDER BY id", v, 2, eb)) ||
            /* a trial's divergences follow it by plan index, unique in a
             * scenario (checked in finish_scenarios) */
            (ret = run_ints(db, tmp,
                            "INSERT INTO divergences(scenario_id, trial_id, tbl, line, expected, "
                            "actual) SELECT ?1, (SELECT n.id FROM main.trials n WHERE "
                            "n.scenario_id = ?1 AND n.seq = t.seq ORDER BY n.id DESC LIMIT 1), "
                            "d.tbl, d.line, d.expected, d.actual FROM src.divergences d "
                            "JOIN src.trials t ON t.id = d.trial_id WHERE d.scenario_id = ?2 "
                            "ORDER BY d.id", v, 2, eb)))
            return ret;
    }
    return 0;
}

/*
 * The per-shard figures of each merged scenario: sums, the most severe
 * verdict, the failure count as the runner counts it.  Returns the merged
 * run's exit status (0, 1, 3) or a negative code; a plan index stored twice
 * or in the wrong shard is PL_EUSAGE.
 */
static int finish_scenarios(sqlite3 *db, const char *tmp, const m_in *ins, int n,
                            const int64_t *ids, pl_errbuf *eb)
{
    int status = 0;
    for (int j = 0; j < ins[0].nscn; j++) {
        int64_t planned = 0, run = 0, trials_ms = 0, duration_ms = 0, failing, dup;
        int worst = 0, from = 0, ret;
        char detail[1024];
        sqlite3_stmt *st = NULL;
        const char *started = ins[0].scn[j].started;

        for (int k = 0; k < n; k++) {
            const m_scn *s = &ins[k].scn[j];
            int sev = severity_of(s->verdict);
            planned += s->planned;
            run += s->run;
            trials_ms += s->trials_ms;
            if (s->duration_ms > duration_ms)
                duration_ms = s->duration_ms;
            if (strcmp(s->started, started) < 0)
                started = s->started;
            if (sev > worst) {
                worst = sev;
                from = k;
            }
        }
        dup = query_int(db, "SELECT count(*) FROM (SELECT seq FROM trials WHERE "
                            "scenario_id = ?1 GROUP BY seq HAVING count(*) > 1)", &ids[j], 1);
        failing = query_int(db, "SELECT count(*) FROM trials WHERE scenario_id = ?1 AND "
                                "verdict <> 'converged'", &ids[j], 1);
        if (dup < 0 || failing < 0)
            return db_fail(db, tmp, "counting trials", eb);
        if (dup > 0)
            return pl_err(eb, PL_EUSAGE, "scenario '%s': %lld plan index%s stored by more than "
                          "one shard: these are not the slices of one --shard split",
                          ins[0].scn[j].name, (long long)dup, dup == 1 ? " is" : "es are");
        if (worst == HN_SC_FAILED)
            snprintf(detail, sizeof detail, "%lld of %lld trials failed", (long long)failing,
                     (long long)run);
        else if (worst == HN_SC_ERROR && n > 1)
            /* which shard's harness failed: its run dir and machine are where to look */
            snprintf(detail, sizeof detail, "shard %d/%d: %s", ins[from].shard, ins[from].shards,
                     ins[from].scn[j].detail);
        else
            snprintf(detail, sizeof detail, "%s", ins[from].scn[j].detail);
        if (sqlite3_prepare_v2(db, "UPDATE scenarios SET verdict = ?2, detail = ?3, started = ?4, "
                                   "trials_planned = ?5, trials_run = ?6, failures = ?7 + "
                                   "(EXISTS (SELECT 1 FROM divergences WHERE scenario_id = ?1 "
                                   "AND trial_id IS NULL)) + (?2 = 'expectation-failed'), "
                                   "trials_ms = ?8, duration_ms = ?9 WHERE id = ?1",
                               -1, &st, NULL) != SQLITE_OK)
            return db_fail(db, tmp, "prepare", eb);
        sqlite3_bind_int64(st, 1, ids[j]);
        sqlite3_bind_text(st, 2, hn_sc_verdict_name(worst), -1, SQLITE_STATIC);
        if (detail[0])
            sqlite3_bind_text(st, 3, detail, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, started, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 5, planned);
        sqlite3_bind_int64(st, 6, run);
        sqlite3_bind_int64(st, 7, failing);
        sqlite3_bind_int64(st, 8, trials_ms);
        sqlite3_bind_int64(st, 9, duration_ms);
        ret = sqlite3_step(st);
        sqlite3_finalize(st);
        if (ret != SQLITE_DONE)
            return db_fail(db, tmp, "updating a scenario", eb);
        /* as `run` decides its exit status */
        ret = worst == HN_SC_ERROR ? 3 : worst ? 1 : 0;
        if (ret > status)
            status = ret;
    }
    return status;
}

/* ------------------------------------------------------------------ merge */

static int cmp_shard(const void *a, const void *b)
{
    return ((const m_in *)a)->shard - ((const m_in *)b)->shard;
}

/* The merge's own provenance: which shards, from where, the coverage. */
static int merge_prov(hn_res *res, const m_in *ins, int n, int64_t run_id,
                      const hn_merge_info *info, const char *shard_dir, pl_errbuf *eb)
{
    char text[PATH_MAX + 4608], key[32], list[4096] = "";
    int ret;

    for (int k = 0; k < n; k++) {
        size_t o = strlen(list);
        snprintf(list + o, sizeof list - o, "%s%d", k ? "," : "", ins[k].shard);
        snprintf(key, sizeof key, "shard.%d", ins[k].shard);
        snprintf(text, sizeof text, "%s: run %lld on %s, %s to %s", ins[k].path,
                 (long long)ins[k].run_id, ins[k].host, ins[k].started, ins[k].finished);
        if ((ret = hn_res_prov_set(res, run_id, key, text, eb)))
            return ret;
    }
    snprintf(key, sizeof key, "%d", info->shards);
    if (info->missing[0])
        snprintf(text, sizeof text, "incomplete: shard%s %s of %d missing, %lld of %lld planned "
                 "trials run", strchr(info->missing, ',') ? "s" : "", info->missing,
                 info->shards, (long long)info->run_trials, (long long)info->plan_trials);
    else
        snprintf(text, sizeof text, "complete: all %d shards, %lld of %lld planned trials run",
                 info->shards, (long long)info->run_trials, (long long)info->plan_trials);
    if ((ret = hn_res_prov_set(res, run_id, "shard_count", key, eb)) ||
        (ret = hn_res_prov_set(res, run_id, "shards_merged", list, eb)) ||
        (ret = hn_res_prov_set(res, run_id, "coverage", text, eb)) ||
        (info->missing[0] &&
         (ret = hn_res_prov_set(res, run_id, "shards_missing", info->missing, eb))) ||
        (shard_dir[0] && (ret = hn_res_prov_set(res, run_id, "shard_run_dir", shard_dir, eb))))
        return ret;
    return 0;
}

/*
 * Where each shard's run dir is on this machine (local_dir): the path the
 * shard recorded, or runs/BASENAME beside the shard's database (where a CI
 * artifact of out/ puts it); "" when neither exists.  out gets the one of
 * the lowest shard index, or "": the report takes the scenario files and
 * golden tables, the same in every shard, from it.
 */
static void find_shard_dirs(m_in *ins, int n, char out[PATH_MAX])
{
    char p[PATH_MAX];
    out[0] = 0;
    for (int k = n - 1; k >= 0; k--) {
        const char *rd = ins[k].run_dir, *base = rd ? strrchr(rd, '/') : NULL;
        const char *slash = strrchr(ins[k].path, '/');
        char *found = ins[k].local_dir;
        if (!rd)
            continue;
        if (!realpath(rd, found) &&
            !(base && snprintf(p, sizeof p, "%.*s%sruns%s",
                               slash ? (int)(slash - ins[k].path) : 1,
                               slash ? ins[k].path : ".", "/", base) < (int)sizeof p &&
              realpath(p, found)))
            found[0] = 0;
        if (found[0])
            snprintf(out, PATH_MAX, "%s", found); /* the lowest shard index wins */
    }
}

/* The kept state dirs of the trials copied from in (ids above `after`) lie
 * in its run dir: name them where that dir is on this machine. */
static int relocate_state_dirs(sqlite3 *db, const char *tmp, const m_in *in, int64_t after,
                               pl_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int rc;
    if (!in->run_dir || !in->local_dir[0] || strcmp(in->run_dir, in->local_dir) == 0)
        return 0;
    if (sqlite3_prepare_v2(db, "UPDATE main.trials SET state_dir = ?2 || "
                               "substr(state_dir, length(?1) + 1) WHERE id > ?3 AND "
                               "substr(state_dir, 1, length(?1) + 1) = ?1 || '/'",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(db, tmp, "prepare", eb);
    sqlite3_bind_text(st, 1, in->run_dir, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, in->local_dir, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, after);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(db, tmp, "relocating state dirs", eb);
}

/* Times and exit status of the merged run: from the earliest shard's start
 * to the latest one's end. */
static int finish_run(sqlite3 *db, const char *tmp, const m_in *ins, int n, int64_t run_id,
                      const hn_merge_info *info, pl_errbuf *eb)
{
    const char *started = ins[0].started, *finished = ins[0].finished;
    sqlite3_stmt *st = NULL;
    int rc;

    for (int k = 0; k < n; k++) {
        if (strcmp(ins[k].started, started) < 0)
            started = ins[k].started;
        if (strcmp(ins[k].finished, finished) > 0)
            finished = ins[k].finished;
    }
    if (sqlite3_prepare_v2(db, "UPDATE runs SET started = ?2, finished = ?3, exit_status = ?4 "
                               "WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
        return db_fail(db, tmp, "prepare", eb);
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, started, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, finished, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, info->exit_status);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(db, tmp, "updating the run", eb);
}

/* Build the merged database at tmp (which exists, empty). */
static int write_merged(const char *tmp, m_in *ins, int n, int argc, char *const argv[],
                        hn_merge_info *info, const char *shard_dir, pl_errbuf *eb)
{
    hn_res *res = NULL;
    sqlite3 *db = NULL;
    sqlite3_stmt *att = NULL;
    int64_t run_id = 0, *ids = NULL;
    char uri[3 * PATH_MAX + 16];
    int64_t after;
    int ret, status;

    /* the schema exactly as `run` creates it, the run row, the merge's keys */
    if ((ret = hn_res_open(tmp, &res, eb)) ||
        (ret = hn_res_run_begin(res, argc, argv, &run_id, eb)) ||
        (ret = merge_prov(res, ins, n, run_id, info, shard_dir, eb)))
        goto out;
    hn_res_close(res);
    res = NULL;
    if (sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
        ret = db_fail(db, tmp, "open", eb);
        goto out;
    }
    /* a rollback journal, not WAL: the file alone is the database when it
     * is renamed, with no -wal beside it to go astray */
    if ((ret = exec_sql(db, tmp, "PRAGMA journal_mode=DELETE", eb)))
        goto out;
    ids = calloc((size_t)ins[0].nscn + 1, sizeof *ids);
    if (!ids) {
        ret = pl_err(eb, -ENOMEM, "out of memory");
        goto out;
    }
    if (sqlite3_prepare_v2(db, "ATTACH ?1 AS src", -1, &att, NULL) != SQLITE_OK) {
        ret = db_fail(db, tmp, "prepare", eb);
        goto out;
    }
    /* one input attached at a time: SQLite attaches at most ten */
    for (int k = 0; k < n; k++) {
        if (file_uri(ins[k].path, uri, sizeof uri) < 0) {
            ret = pl_err(eb, -ENAMETOOLONG, "%s: path too long", ins[k].path);
            goto out;
        }
        sqlite3_bind_text(att, 1, uri, -1, SQLITE_STATIC);
        if (sqlite3_step(att) != SQLITE_DONE) {
            ret = db_fail(db, ins[k].path, "attach", eb);
            sqlite3_reset(att);
            goto out;
        }
        sqlite3_reset(att);
        after = query_int(db, "SELECT coalesce(max(id), 0) FROM main.trials", NULL, 0);
        if ((ret = exec_sql(db, tmp, "BEGIN", eb)) ||
            (k == 0 && (ret = copy_common(db, tmp, &ins[0], run_id, ids, eb))) ||
            (ret = copy_trials(db, tmp, &ins[k], ids, eb)) ||
            (ret = relocate_state_dirs(db, tmp, &ins[k], after, eb)) ||
            (ret = exec_sql(db, tmp, "COMMIT", eb)) ||
            (ret = exec_sql(db, tmp, "DETACH src", eb)))
            goto out;
    }
    if ((ret = exec_sql(db, tmp, "BEGIN", eb)))
        goto out;
    status = finish_scenarios(db, tmp, ins, n, ids, eb);
    if (status < 0) {
        ret = status;
        goto out;
    }
    /* a missing shard leaves trials unrun: the suite has not shown that
     * everything converges */
    info->exit_status = status < 1 && info->missing[0] ? 1 : status;
    if ((ret = finish_run(db, tmp, ins, n, run_id, info, eb)) ||
        (ret = exec_sql(db, tmp, "COMMIT", eb)))
        goto out;
    sqlite3_finalize(att);
    att = NULL;
    if (sqlite3_close(db) != SQLITE_OK) {
        ret = pl_err(eb, PL_EDB, "%s: close: %s", tmp, sqlite3_errmsg(db));
        db = NULL;
        goto out;
    }
    db = NULL;
out:
    sqlite3_finalize(att);
    if (db)
        sqlite3_close(db);
    hn_res_close(res);
    free(ids);
    return ret;
}

/* The merged run's provenance run_dir (its one run), in the complete
 * database at tmp. */
static int record_run_dir(const char *tmp, const char *run_dir, pl_errbuf *eb)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc;
    if (sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO provenance(run_id, key, value) SELECT id, "
                               "'run_dir', ?1 FROM runs", -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(db, tmp, "recording the run dir", eb);
        sqlite3_close(db);
        return rc;
    }
    sqlite3_bind_text(st, 1, run_dir, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        rc = db_fail(db, tmp, "recording the run dir", eb);
        sqlite3_close(db);
        return rc;
    }
    if (sqlite3_close(db) != SQLITE_OK)
        return pl_err(eb, PL_EDB, "%s: close: %s", tmp, sqlite3_errmsg(db));
    return 0;
}

static void unlink_tmp(const char *tmp)
{
    static const char *const sfx[] = {"", "-journal", "-wal", "-shm"};
    char p[PATH_MAX + 16];
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        snprintf(p, sizeof p, "%s%s", tmp, sfx[i]);
        unlink(p);
    }
}

int hn_merge(const char *const *inputs, int n, const char *out, int keep_runs, int argc,
             char *const argv[], hn_merge_info *info, pl_errbuf *eb)
{
    m_in *ins = NULL;
    char tmp[PATH_MAX] = "", dir[PATH_MAX], shard_dir[PATH_MAX], runs[PATH_MAX], *slash;
    struct stat sb;
    int ret = 0, fd;

    memset(info, 0, sizeof *info);
    if (n < 1)
        return pl_err(eb, PL_EUSAGE, "no input database");
    /* never over an existing file: it may be a results history, and a stale
     * -wal beside it would be applied to the new database */
    if (lstat(out, &sb) == 0)
        return pl_err(eb, PL_EEXISTS, "%s exists: merge writes a new database (remove it, or "
                      "choose another -o)", out);
    if (errno != ENOENT)
        return pl_err_os(eb, errno, "%s", out);
    ins = calloc((size_t)n, sizeof *ins);
    if (!ins)
        return pl_err(eb, -ENOMEM, "out of memory");
    for (int k = 0; k < n; k++)
        if ((ret = load_input(inputs[k], &ins[k], eb)))
            goto out;
    qsort(ins, (size_t)n, sizeof *ins, cmp_shard);
    for (int k = 1; k < n; k++)
        if ((ret = compatible(&ins[k - 1], &ins[k], eb)))
            goto out;
    /* what a scenario whose golden phase failed lacks (plan, golden digests,
     * log) is not compared, so neighbours alone are not enough: the shards
     * on either side of one are compared directly */
    for (int k = 2; k < n; k++)
        for (int i = 0; i < k - 1; i++)
            if ((ret = compatible(&ins[i], &ins[k], eb)))
                goto out;
    info->shards = ins[0].shards;
    info->merged = n;
    info->nscenarios = ins[0].nscn;
    for (int i = 1, k = 0; i <= info->shards; i++) {
        size_t o = strlen(info->missing);
        if (k < n && ins[k].shard == i) {
            k++;
            continue;
        }
        if (o + 12 < sizeof info->missing)
            snprintf(info->missing + o, sizeof info->missing - o, "%s%d", o ? "," : "", i);
    }
    for (int j = 0; j < ins[0].nscn; j++) {
        for (int k = 0; k < n; k++)
            info->run_trials += ins[k].scn[j].run;
        for (int k = 0; k < n; k++)
            if (ins[k].scn[j].plan_trials >= 0) {
                info->plan_trials += ins[k].scn[j].plan_trials;
                break;
            }
    }

    if ((ret = pl_fs_pathf(dir, eb, "%s", out)))
        goto out;
    slash = strrchr(dir, '/');
    if (slash && slash != dir)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, "%s", slash ? "/" : ".");
    if ((ret = pl_fs_mkdir_p(dir, eb)) || (ret = pl_fs_pathf(tmp, eb, "%s.tmp-XXXXXX", out)))
        goto out;
    fd = mkstemp(tmp);
    if (fd < 0) {
        ret = pl_err_os(eb, errno, "mkstemp(%s)", tmp);
        tmp[0] = 0;
        goto out;
    }
    close(fd);
    find_shard_dirs(ins, n, shard_dir);
    if ((ret = write_merged(tmp, ins, n, argc, argv, info, shard_dir, eb)))
        goto out;
    /* the merge's own run dir, beside MERGED.db as run's is beside its
     * database, for `report` to write into by default; made once the
     * merged database is complete, so a refused merge leaves none */
    if ((ret = pl_fs_pathf(runs, eb, "%s/runs", dir)) ||
        (ret = hn_rundir_create(runs, info->run_dir, sizeof info->run_dir, eb)) ||
        (ret = record_run_dir(tmp, info->run_dir, eb))) {
        if (info->run_dir[0])
            rmdir(info->run_dir); /* empty; `latest` may name it until the next run */
        info->run_dir[0] = 0;
        goto out;
    }
    /* without this fsync a power cut after the rename can leave the merged
     * database's name on a file whose pages never reached the disk */
    if ((ret = pl_fs_sync_file(tmp, 0, eb)))
        goto out;
    /* the complete file appears under its name in one step, or not at all */
    if (rename(tmp, out) != 0) {
        ret = pl_err_os(eb, errno, "rename(%s, %s)", tmp, out);
        goto out;
    }
    tmp[0] = 0;
    /* without this a power cut can forget the rename */
    if ((ret = pl_fs_sync_parent(out, eb)))
        goto out;
    /* old run dirs go as after a run (--keep-runs), but not the ones the
     * merged database names: its own and the shards' found here */
    if (keep_runs > 0) {
        const char *spare[1 + HN_SHARD_MAX];
        int nspare = 0;
        spare[nspare++] = info->run_dir;
        for (int k = 0; k < n && nspare < 1 + HN_SHARD_MAX; k++)
            if (ins[k].local_dir[0])
                spare[nspare++] = ins[k].local_dir;
        if (hn_rundir_prune_but(runs, keep_runs, spare, nspare, &info->pruned,
                                &info->prune_eb) < 0)
            info->pruned = -1;
    }
out:
    if (tmp[0])
        unlink_tmp(tmp);
    for (int k = 0; k < n && ins; k++)
        in_free(&ins[k]);
    free(ins);
    return ret;
}
