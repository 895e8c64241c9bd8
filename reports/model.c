/*
 * model.c - loading one run from the results database (rp_model.h).
 *
 * Layout: small helpers (string copies, statements); the run and its
 * provenance; scenarios; trials and their divergences; hits and coverage;
 * failure groups; history; freeing.
 *
 * The database is opened read-only, so that a report can be made while a
 * run is writing (WAL) and can never change the history it reports on.
 * Tables added after schema version 1 (provenance, run_files) may be
 * missing: a report of an older file then simply has no provenance.
 */
#include "rp_model.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hn_run.h"

const char *const rp_verdicts[RP_NV] = {"converged",   "diverged", "conflict", "crash-loop",
                                        "hang",        "not-reached", "error", "other"};

int rp_verdict_index(const char *name)
{
    for (int i = 0; i < RP_V_OTHER; i++)
        if (name && strcmp(name, rp_verdicts[i]) == 0)
            return i;
    return RP_V_OTHER;
}

typedef struct ld {
    sqlite3 *db;
    const char *path;
    pl_errbuf *eb;
} ld;

static char *dup_col(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    int n = sqlite3_column_bytes(st, i);
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    if (t)
        memcpy(s, t, (size_t)n);
    s[t ? n : 0] = 0;
    return s;
}

/* NULL stays NULL */
static char *dup_opt(sqlite3_stmt *st, int i, int *oom)
{
    char *s;
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return NULL;
    s = dup_col(st, i);
    if (!s)
        *oom = 1;
    return s;
}

static int64_t int_or(sqlite3_stmt *st, int i, int64_t dflt)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? dflt : sqlite3_column_int64(st, i);
}

static int db_err(ld *l, const char *what)
{
    int rc = sqlite3_errcode(l->db) & 0xff;
    return pl_err(l->eb, rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT ? PL_ECORRUPT : PL_EDB,
                  "results database %s: %s: %s", l->path, what, sqlite3_errmsg(l->db));
}

static int prep(ld *l, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(l->db, sql, -1, st, NULL) != SQLITE_OK)
        return db_err(l, "query");
    return 0;
}

static int has_table(ld *l, const char *name)
{
    sqlite3_stmt *st = NULL;
    int yes = 0;
    if (sqlite3_prepare_v2(l->db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                  "name = ?1", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        yes = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return yes;
}

#define OOM(l) pl_err((l)->eb, -ENOMEM, "out of memory")

/* Grow *arr (of *n elements of size sz) by one zeroed element; NULL on OOM. */
static void *push(void *arrp, int *n, size_t sz)
{
    void **arr = arrp;
    char *p = realloc(*arr, (size_t)(*n + 1) * sz);
    if (!p)
        return NULL;
    *arr = p;
    memset(p + (size_t)*n * sz, 0, sz);
    return p + (size_t)(*n)++ * sz;
}

/* ------------------------------------------------------------------- run */

static int load_run(ld *l, int64_t run_id, rp_run *r)
{
    sqlite3_stmt *st = NULL;
    int ret = 0, oom = 0, rc;
    if ((ret = prep(l, run_id > 0 ? "SELECT id, started, finished, argv, host, exit_status "
                                    "FROM runs WHERE id = ?1"
                                  : "SELECT id, started, finished, argv, host, exit_status "
                                    "FROM runs ORDER BY id DESC LIMIT 1",
                    &st)))
        return ret;
    sqlite3_bind_int64(st, 1, run_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        ret = run_id > 0 ? pl_err(l->eb, PL_ENOTFOUND, "results database %s has no run %lld",
                                  l->path, (long long)run_id)
                         : pl_err(l->eb, PL_ENOTFOUND, "results database %s has no run",
                                  l->path);
        goto out;
    }
    if (rc != SQLITE_ROW) {
        ret = db_err(l, "reading runs");
        goto out;
    }
    r->id = sqlite3_column_int64(st, 0);
    r->started = dup_col(st, 1);
    r->finished = dup_col(st, 2);
    r->argv = dup_col(st, 3);
    r->host = dup_col(st, 4);
    r->exit_status = (int)int_or(st, 5, -1);
    if (!r->started || !r->finished || !r->argv || !r->host)
        oom = 1;
    if (oom)
        ret = OOM(l);
out:
    sqlite3_finalize(st);
    return ret;
}

static int load_prov(ld *l, rp_run *r)
{
    sqlite3_stmt *st = NULL;
    int ret = 0, rc;
    if (!has_table(l, "provenance"))
        return 0;
    if ((ret = prep(l, "SELECT key, value FROM provenance WHERE run_id = ?1 ORDER BY key", &st)))
        return ret;
    sqlite3_bind_int64(st, 1, r->id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rp_kv *kv = push(&r->prov, &r->nprov, sizeof *kv);
        if (!kv || !(kv->key = dup_col(st, 0)) || !(kv->value = dup_col(st, 1))) {
            ret = OOM(l);
            goto out;
        }
    }
    if (rc != SQLITE_DONE)
        ret = db_err(l, "reading provenance");
    sqlite3_finalize(st);
    st = NULL;
    if (ret || !has_table(l, "run_files"))
        goto out;
    if ((ret = prep(l, "SELECT role, path, scenario, xxh3, bytes FROM run_files WHERE "
                       "run_id = ?1 ORDER BY scenario IS NOT NULL, scenario, role, path", &st)))
        goto out;
    sqlite3_bind_int64(st, 1, r->id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rp_file *f = push(&r->files, &r->nfiles, sizeof *f);
        if (!f || !(f->role = dup_col(st, 0)) || !(f->path = dup_col(st, 1)) ||
            !(f->scenario = dup_col(st, 2)) || !(f->xxh3 = dup_col(st, 3))) {
            ret = OOM(l);
            goto out;
        }
        f->bytes = int_or(st, 4, -1);
    }
    if (rc != SQLITE_DONE)
        ret = db_err(l, "reading run_files");
out:
    sqlite3_finalize(st);
    return ret;
}

const char *rp_prov(const rp_run *r, const char *key)
{
    for (int i = 0; i < r->nprov; i++)
        if (strcmp(r->prov[i].key, key) == 0)
            return r->prov[i].value;
    return NULL;
}

int rp_shard_text(const rp_run *r, char *buf, size_t n)
{
    const char *shard = rp_prov(r, "shard"), *merged = rp_prov(r, "shards_merged");
    const char *count = rp_prov(r, "shard_count"), *cov = rp_prov(r, "coverage");
    if (merged) {
        snprintf(buf, n, "Merged from shard%s %s of %s (replayproof merge); coverage %s.",
                 strchr(merged, ',') ? "s" : "", merged, count ? count : "?",
                 cov ? cov : "unknown");
        return rp_prov(r, "shards_missing") ? 2 : 1;
    }
    if (shard) {
        snprintf(buf, n, "Shard %s of a sharded run (run --shard): every golden phase, and "
                 "of each plan only the trials of this shard; replayproof merge combines "
                 "the shards.", shard);
        return 1;
    }
    buf[0] = 0;
    return 0;
}

/* -------------------------------------------------------------- scenarios */

static int load_scenarios(ld *l, rp_run *r)
{
    sqlite3_stmt *st = NULL;
    int ret = 0, rc, oom = 0;
    if ((ret = prep(l, "SELECT id, name, path, verdict, detail, started, records, bars_rows, "
                       "late_rows, dlq_rows, candidates, trials_planned, trials_run, failures, "
                       "duration_ms, trials_ms, golden_bars, golden_late, golden_dlq, "
                       "batch_bars, batch_late, batch_dlq FROM scenarios WHERE run_id = ?1 "
                       "ORDER BY id", &st)))
        return ret;
    sqlite3_bind_int64(st, 1, r->id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rp_scn *s = push(&r->scn, &r->nscn, sizeof *s);
        if (!s) {
            oom = 1;
            break;
        }
        s->id = sqlite3_column_int64(st, 0);
        s->name = dup_col(st, 1);
        s->path = dup_col(st, 2);
        s->verdict = dup_col(st, 3);
        s->detail = dup_col(st, 4);
        s->started = dup_col(st, 5);
        s->records = int_or(st, 6, -1);
        for (int i = 0; i < 3; i++) {
            s->rows[i] = int_or(st, 7 + i, -1);
            s->golden[i] = dup_col(st, 16 + i);
            s->batch[i] = dup_col(st, 19 + i);
            if (!s->golden[i] || !s->batch[i])
                oom = 1;
        }
        s->candidates = int_or(st, 10, 0);
        s->planned = int_or(st, 11, 0);
        s->run = int_or(st, 12, 0);
        s->failures = int_or(st, 13, 0);
        s->duration_ms = int_or(st, 14, -1);
        s->trials_ms = int_or(st, 15, -1);
        if (!s->name || !s->path || !s->verdict || !s->detail || !s->started)
            oom = 1;
    }
    if (oom)
        ret = OOM(l);
    else if (rc != SQLITE_DONE)
        ret = db_err(l, "reading scenarios");
    sqlite3_finalize(st);
    return ret;
}

/* ----------------------------------------------------------------- trials */

static int load_div(ld *l, sqlite3_stmt *st, rp_div *d)
{
    int oom = 0;
    snprintf(d->tbl, sizeof d->tbl, "%s", (const char *)sqlite3_column_text(st, 0) ?
             (const char *)sqlite3_column_text(st, 0) : "?");
    d->line = sqlite3_column_int64(st, 1);
    d->expected = dup_opt(st, 2, &oom);
    d->actual = dup_opt(st, 3, &oom);
    return oom ? OOM(l) : 0;
}

/* 1 when table tbl has column col (columns added within a schema version). */
static int has_column(ld *l, const char *tbl, const char *col)
{
    sqlite3_stmt *st = NULL;
    int yes = 0;
    if (sqlite3_prepare_v2(l->db, "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, col, -1, SQLITE_STATIC);
        yes = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
    }
    sqlite3_finalize(st);
    return yes;
}

static int load_trials(ld *l, rp_scn *s)
{
    sqlite3_stmt *st = NULL, *dv = NULL;
    int ret = 0, rc;
    /* early stop's and snapshot starts' columns came within version 1 */
    if ((ret = prep(l, has_column(l, "trials", "snap_hit")
                           ? "SELECT id, seq, crashes, point, k, verdict, restarts, duration_ms, "
                             "state_dir, detail, early, converged_at, snap_hit FROM trials "
                             "WHERE scenario_id = ?1 ORDER BY seq, id"
                       : has_column(l, "trials", "early")
                           ? "SELECT id, seq, crashes, point, k, verdict, restarts, duration_ms, "
                             "state_dir, detail, early, converged_at, NULL FROM trials WHERE "
                             "scenario_id = ?1 ORDER BY seq, id"
                           : "SELECT id, seq, crashes, point, k, verdict, restarts, duration_ms, "
                             "state_dir, detail, NULL, NULL, NULL FROM trials WHERE "
                             "scenario_id = ?1 ORDER BY seq, id",
                    &st)) ||
        (ret = prep(l, "SELECT tbl, line, expected, actual FROM divergences WHERE "
                       "trial_id = ?1 ORDER BY id", &dv)))
        goto out;
    sqlite3_bind_int64(st, 1, s->id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rp_trial *t = push(&s->trials, &s->ntrials, sizeof *t);
        if (!t) {
            ret = OOM(l);
            goto out;
        }
        t->group = -1;
        t->id = sqlite3_column_int64(st, 0);
        t->seq = sqlite3_column_int64(st, 1);
        t->crashes = dup_col(st, 2);
        t->point = dup_col(st, 3);
        t->k = sqlite3_column_int64(st, 4);
        t->verdict = dup_col(st, 5);
        t->restarts = sqlite3_column_int(st, 6);
        t->duration_ms = sqlite3_column_int64(st, 7);
        t->state_dir = dup_col(st, 8);
        t->detail = dup_col(st, 9);
        if (!t->crashes || !t->point || !t->verdict || !t->state_dir || !t->detail) {
            ret = OOM(l);
            goto out;
        }
        t->v = rp_verdict_index(t->verdict);
        s->by_v[t->v]++;
        {
            const char *e = (const char *)sqlite3_column_text(st, 10);
            t->early = !e ? 0 : !strcmp(e, "stopped") ? 1 : !strcmp(e, "full-run") ? 2 : 0;
            t->converged_at = sqlite3_column_type(st, 11) == SQLITE_NULL
                                  ? -1 : sqlite3_column_int64(st, 11);
            s->early_stopped += t->early == 1;
            s->guard_run += t->early == 2;
            s->snap_started += sqlite3_column_type(st, 12) != SQLITE_NULL;
        }
        if (t->v != RP_V_CONVERGED)
            s->nfailed++;
        sqlite3_bind_int64(dv, 1, t->id);
        while ((rc = sqlite3_step(dv)) == SQLITE_ROW && t->ndiv < 3)
            if ((ret = load_div(l, dv, &t->div[t->ndiv++])))
                goto out;
        sqlite3_reset(dv);
    }
    if (rc != SQLITE_DONE)
        ret = db_err(l, "reading trials");
    sqlite3_finalize(dv);
    dv = NULL;
    sqlite3_finalize(st);
    st = NULL;
    if (ret || (ret = prep(l, "SELECT tbl, line, expected, actual FROM divergences WHERE "
                              "scenario_id = ?1 AND trial_id IS NULL ORDER BY id", &st)))
        goto out;
    sqlite3_bind_int64(st, 1, s->id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && s->nbdiv < 3)
        if ((ret = load_div(l, st, &s->bdiv[s->nbdiv++])))
            goto out;
out:
    sqlite3_finalize(dv);
    sqlite3_finalize(st);
    return ret;
}

/* ------------------------------------------------------------------- hits */

static int load_hits(ld *l, rp_scn *s)
{
    sqlite3_stmt *st = NULL;
    int ret, rc;
    if ((ret = prep(l, "SELECT point, count FROM hits WHERE scenario_id = ?1 ORDER BY point",
                    &st)))
        return ret;
    sqlite3_bind_int64(st, 1, s->id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rp_hit *h = push(&s->hits, &s->nhits, sizeof *h);
        if (!h || !(h->point = dup_col(st, 0))) {
            sqlite3_finalize(st);
            return OOM(l);
        }
        h->count = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_err(l, "reading hits");
    /* outcomes per first-crash point; a point a trial names that discovery
     * did not list (another database writer) gets a row of its own */
    for (int i = 0; i < s->ntrials; i++) {
        rp_trial *t = &s->trials[i];
        rp_hit *h = NULL;
        int seen = 0;
        for (int j = 0; j < s->nhits && !h; j++)
            if (strcmp(s->hits[j].point, t->point) == 0)
                h = &s->hits[j];
        if (!h) {
            h = push(&s->hits, &s->nhits, sizeof *h);
            if (!h || !(h->point = strdup(t->point)))
                return OOM(l);
        }
        h->by_v[t->v]++;
        for (int j = 0; j < i && !seen; j++)
            seen = s->trials[j].k == t->k && strcmp(s->trials[j].point, t->point) == 0;
        if (!seen)
            h->tried++;
    }
    return 0;
}

/* ----------------------------------------------------------------- groups */

static int same_div(const rp_div *a, const rp_div *b)
{
    return strcmp(a->tbl, b->tbl) == 0 && a->line == b->line &&
           !a->expected == !b->expected && !a->actual == !b->actual &&
           (!a->expected || strcmp(a->expected, b->expected) == 0) &&
           (!a->actual || strcmp(a->actual, b->actual) == 0);
}

/* The first fault of a schedule; kind -1 (and the whole text as the point)
 * when it does not parse. */
static void first_fault(const char *spec, hn_fault *f)
{
    hn_trial t;
    if (hn_run_trial_parse(spec, &t, NULL) == 0 && t.nfaults > 0) {
        *f = t.fault[0];
        return;
    }
    memset(f, 0, sizeof *f);
    f->kind = -1;
    snprintf(f->point, sizeof f->point, "%s", spec);
}

/* The run summary's rule (harness/progress.c): two failures are the same
 * when they have the same verdict, the same kind and fail point of their
 * first fault and the same first differing row (or none). */
static int same_failure(const rp_trial *a, const rp_trial *b)
{
    hn_fault fa, fb;
    if (a->v != b->v || strcmp(a->verdict, b->verdict) != 0 || (a->ndiv > 0) != (b->ndiv > 0))
        return 0;
    if (a->ndiv && !same_div(&a->div[0], &b->div[0]))
        return 0;
    first_fault(a->crashes, &fa);
    first_fault(b->crashes, &fb);
    return fa.kind == fb.kind && strcmp(fa.point, fb.point) == 0;
}

static int cmp_group(const void *x, const void *y)
{
    const rp_group *a = x, *b = y;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return a->first < b->first ? -1 : a->first > b->first;
}

static int make_groups(ld *l, rp_scn *s)
{
    for (int i = 0; i < s->ntrials; i++) {
        rp_trial *t = &s->trials[i];
        rp_group *g = NULL;
        int *m;
        if (t->v == RP_V_CONVERGED)
            continue;
        for (int j = 0; j < s->ngroups && !g; j++)
            if (same_failure(&s->trials[s->groups[j].first], t))
                g = &s->groups[j];
        if (!g) {
            g = push(&s->groups, &s->ngroups, sizeof *g);
            if (!g)
                return OOM(l);
            g->first = i;
        }
        m = realloc(g->members, (size_t)(g->count + 1) * sizeof *m);
        if (!m)
            return OOM(l);
        g->members = m;
        m[g->count++] = i;
    }
    if (s->ngroups > 1)
        qsort(s->groups, (size_t)s->ngroups, sizeof *s->groups, cmp_group);
    for (int j = 0; j < s->ngroups; j++)
        for (int i = 0; i < s->groups[j].count; i++)
            s->trials[s->groups[j].members[i]].group = j;
    return 0;
}

/* ---------------------------------------------------------------- history */

static int load_history(ld *l, rp_run *r, rp_scn *s)
{
    sqlite3_stmt *st = NULL;
    int ret, rc, prov = has_table(l, "provenance");
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT s.run_id, s.id, s.trials_run, s.failures, s.trials_ms, r.started, "
             "s.verdict, %s, %s FROM scenarios s JOIN runs r ON r.id = s.run_id "
             "WHERE s.name = ?1 AND s.run_id <= ?2 ORDER BY s.run_id DESC, s.id DESC LIMIT 30",
             prov ? "(SELECT value FROM provenance p WHERE p.run_id = s.run_id AND "
                    "p.key = 'git_commit')" : "NULL",
             prov ? "(SELECT value FROM provenance p WHERE p.run_id = s.run_id AND "
                    "p.key = 'git_dirty')" : "NULL");
    if ((ret = prep(l, sql, &st)))
        return ret;
    sqlite3_bind_text(st, 1, s->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, r->id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rp_hist *h = push(&s->hist, &s->nhist, sizeof *h);
        if (!h) {
            sqlite3_finalize(st);
            return OOM(l);
        }
        h->run_id = sqlite3_column_int64(st, 0);
        h->scenario_id = sqlite3_column_int64(st, 1);
        h->trials_run = int_or(st, 2, 0);
        h->failures = int_or(st, 3, 0);
        h->trials_ms = int_or(st, 4, -1);
        h->started = dup_col(st, 5);
        h->verdict = dup_col(st, 6);
        h->commit = dup_col(st, 7);
        h->dirty = sqlite3_column_type(st, 8) == SQLITE_NULL ? -1
                                                             : sqlite3_column_int(st, 8);
        if (!h->started || !h->verdict || !h->commit) {
            sqlite3_finalize(st);
            return OOM(l);
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_err(l, "reading history");
    /* oldest first */
    for (int i = 0, j = s->nhist - 1; i < j; i++, j--) {
        rp_hist t = s->hist[i];
        s->hist[i] = s->hist[j];
        s->hist[j] = t;
    }
    return 0;
}

/* ------------------------------------------------------------ kill matrix */

static int load_mutants(ld *l, rp_run *r)
{
    sqlite3_stmt *st = NULL;
    int ret, rc;
    if (!has_table(l, "mutants"))
        return 0;
    if ((ret = prep(l, "SELECT max(run_id) FROM mutants WHERE run_id <= ?1", &st)))
        return ret;
    sqlite3_bind_int64(st, 1, r->id);
    if (sqlite3_step(st) == SQLITE_ROW)
        r->mut_run = int_or(st, 0, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (!r->mut_run)
        return 0;
    if ((ret = prep(l, "SELECT mutant, scenario, outcome, verdict, how, reproduce, trials, "
                       "duration_ms FROM mutants WHERE run_id = ?1 ORDER BY mutant, id", &st)))
        return ret;
    sqlite3_bind_int64(st, 1, r->mut_run);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rp_mut *m = push(&r->mut, &r->nmut, sizeof *m);
        if (!m || !(m->mutant = dup_col(st, 0)) || !(m->scenario = dup_col(st, 1)) ||
            !(m->outcome = dup_col(st, 2)) || !(m->verdict = dup_col(st, 3)) ||
            !(m->how = dup_col(st, 4)) || !(m->reproduce = dup_col(st, 5))) {
            sqlite3_finalize(st);
            return OOM(l);
        }
        m->trials = int_or(st, 6, 0);
        m->duration_ms = int_or(st, 7, 0);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_err(l, "reading mutants");
}

/* Shrunk reproducers of the kill matrix's run (after load_mutants). */
static int load_shrinks(ld *l, rp_run *r)
{
    sqlite3_stmt *st = NULL;
    int ret, rc;
    if (!r->mut_run || !has_table(l, "shrinks"))
        return 0;
    if ((ret = prep(l, "SELECT mutant, scenario, verdict, scenario_path, scenario_text, "
                       "reproduce, records_before, records, partitions_before, partitions, "
                       "symbols_before, symbols, aggs_before, aggs, replays, budget_exhausted "
                       "FROM shrinks WHERE run_id = ?1 ORDER BY id", &st)))
        return ret;
    sqlite3_bind_int64(st, 1, r->mut_run);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rp_shrink *x = push(&r->shr, &r->nshr, sizeof *x);
        if (!x || !(x->mutant = dup_col(st, 0)) || !(x->scenario = dup_col(st, 1)) ||
            !(x->verdict = dup_col(st, 2)) || !(x->scenario_path = dup_col(st, 3)) ||
            !(x->scenario_text = dup_col(st, 4)) || !(x->reproduce = dup_col(st, 5))) {
            sqlite3_finalize(st);
            return OOM(l);
        }
        x->records0 = int_or(st, 6, 0);
        x->records = int_or(st, 7, 0);
        x->partitions0 = (int)int_or(st, 8, 0);
        x->partitions = (int)int_or(st, 9, 0);
        x->symbols0 = (int)int_or(st, 10, 0);
        x->symbols = (int)int_or(st, 11, 0);
        x->aggs0 = (int)int_or(st, 12, 0);
        x->aggs = (int)int_or(st, 13, 0);
        x->replays = (int)int_or(st, 14, 0);
        x->exhausted = (int)int_or(st, 15, 0);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_err(l, "reading shrinks");
}

/* ------------------------------------------------------------- run files */

char *rp_read_file(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    char *s = NULL;
    size_t n = 0, cap = 0, got;
    if (!f)
        return NULL;
    for (;;) {
        if (cap - n < 65536) {
            char *p = realloc(s, cap = cap * 2 + 65536);
            if (!p) {
                free(s);
                fclose(f);
                return NULL;
            }
            s = p;
        }
        got = fread(s + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0 || n > max)
            break;
    }
    fclose(f);
    s[n] = 0;
    return s;
}

static void attach_dirs(rp_run *r)
{
    /* a merge's own run dir holds only its report: the scenario files and
     * golden tables, the same in every shard, are in a shard's */
    const char *rd = rp_prov(r, "shard_run_dir") ? rp_prov(r, "shard_run_dir") : r->run_dir;
    char p[PATH_MAX];
    if (!rd)
        return;
    for (int i = 0; i < r->nscn; i++) {
        rp_scn *s = &r->scn[i];
        if (snprintf(p, sizeof p, "%s/%s", rd, s->name) >= (int)sizeof p ||
            access(p, X_OK) < 0 || !(s->dir = strdup(p)))
            continue;
        if (snprintf(p, sizeof p, "%s/scenario.ini", s->dir) < (int)sizeof p)
            s->config = rp_read_file(p, 1 << 20);
    }
}

/* ------------------------------------------------------------------- load */

int rp_model_load(const char *db_path, int64_t run_id, rp_run **out, pl_errbuf *eb)
{
    ld l = {NULL, db_path, eb};
    rp_run *r;
    const char *rd;
    int ret;

    *out = NULL;
    if (access(db_path, R_OK) < 0)
        return pl_err_os(eb, errno, "results database %s", db_path);
    r = calloc(1, sizeof *r);
    if (!r || !(r->db_path = strdup(db_path))) {
        free(r);
        return pl_err(eb, -ENOMEM, "out of memory");
    }
    if (sqlite3_open_v2(db_path, &l.db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        ret = db_err(&l, "open");
        goto fail;
    }
    sqlite3_busy_timeout(l.db, 10000);
    if (!has_table(&l, "runs")) {
        ret = sqlite3_errcode(l.db) != SQLITE_OK ? db_err(&l, "open")
                                                  : pl_err(eb, PL_ECORRUPT,
                                                           "%s is not a results database "
                                                           "(no runs table)", db_path);
        goto fail;
    }
    /* one read transaction: the report sees one committed state */
    sqlite3_exec(l.db, "BEGIN", NULL, NULL, NULL);
    if ((ret = load_run(&l, run_id, r)) || (ret = load_prov(&l, r)) ||
        (ret = load_scenarios(&l, r)) || (ret = load_mutants(&l, r)) ||
        (ret = load_shrinks(&l, r)))
        goto fail;
    for (int i = 0; i < r->nscn; i++) {
        rp_scn *s = &r->scn[i];
        if ((ret = load_trials(&l, s)) || (ret = load_hits(&l, s)) ||
            (ret = make_groups(&l, s)) || (ret = load_history(&l, r, s)))
            goto fail;
    }
    rd = rp_prov(r, "run_dir");
    if (rd && !(r->run_dir = strdup(rd))) {
        ret = pl_err(eb, -ENOMEM, "out of memory");
        goto fail;
    }
    attach_dirs(r);
    sqlite3_exec(l.db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(l.db);
    *out = r;
    return 0;
fail:
    sqlite3_close(l.db);
    rp_model_free(r);
    return ret;
}

int rp_model_find_run(const char *db_path, const char *run_dir, int64_t *run_id, pl_errbuf *eb)
{
    ld l = {NULL, db_path, eb};
    sqlite3_stmt *st = NULL;
    int ret = 0;
    if (access(db_path, R_OK) < 0)
        return pl_err_os(eb, errno, "results database %s", db_path);
    if (sqlite3_open_v2(db_path, &l.db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        ret = db_err(&l, "open");
        goto out;
    }
    if (!has_table(&l, "provenance")) {
        ret = pl_err(eb, PL_ENOTFOUND, "results database %s records no run dirs", db_path);
        goto out;
    }
    if ((ret = prep(&l, "SELECT max(run_id) FROM provenance WHERE key = 'run_dir' AND "
                        "value = ?1", &st)))
        goto out;
    sqlite3_bind_text(st, 1, run_dir, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_type(st, 0) == SQLITE_NULL)
        ret = pl_err(eb, PL_ENOTFOUND, "no run of %s has the run dir %s", db_path, run_dir);
    else
        *run_id = sqlite3_column_int64(st, 0);
out:
    sqlite3_finalize(st);
    sqlite3_close(l.db);
    return ret;
}

/* ------------------------------------------------------------------- free */

static void free_div(rp_div *d)
{
    free(d->expected);
    free(d->actual);
}

void rp_model_free(rp_run *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->nscn; i++) {
        rp_scn *s = &r->scn[i];
        for (int j = 0; j < s->ntrials; j++) {
            rp_trial *t = &s->trials[j];
            free(t->crashes);
            free(t->point);
            free(t->verdict);
            free(t->state_dir);
            free(t->detail);
            for (int k = 0; k < t->ndiv; k++)
                free_div(&t->div[k]);
        }
        for (int j = 0; j < s->ngroups; j++)
            free(s->groups[j].members);
        for (int j = 0; j < s->nhits; j++)
            free(s->hits[j].point);
        for (int j = 0; j < s->nbdiv; j++)
            free_div(&s->bdiv[j]);
        for (int j = 0; j < s->nhist; j++) {
            free(s->hist[j].started);
            free(s->hist[j].verdict);
            free(s->hist[j].commit);
        }
        for (int j = 0; j < 3; j++) {
            free(s->golden[j]);
            free(s->batch[j]);
        }
        free(s->trials);
        free(s->groups);
        free(s->hits);
        free(s->hist);
        free(s->name);
        free(s->path);
        free(s->verdict);
        free(s->detail);
        free(s->started);
        free(s->config);
        free(s->dir);
    }
    for (int i = 0; i < r->nprov; i++) {
        free(r->prov[i].key);
        free(r->prov[i].value);
    }
    for (int i = 0; i < r->nfiles; i++) {
        free(r->files[i].role);
        free(r->files[i].path);
        free(r->files[i].scenario);
        free(r->files[i].xxh3);
    }
    for (int i = 0; i < r->nmut; i++) {
        free(r->mut[i].mutant);
        free(r->mut[i].scenario);
        free(r->mut[i].outcome);
        free(r->mut[i].verdict);
        free(r->mut[i].how);
        free(r->mut[i].reproduce);
    }
    free(r->mut);
    for (int i = 0; i < r->nshr; i++) {
        free(r->shr[i].mutant);
        free(r->shr[i].scenario);
        free(r->shr[i].verdict);
        free(r->shr[i].scenario_path);
        free(r->shr[i].scenario_text);
        free(r->shr[i].reproduce);
    }
    free(r->shr);
    free(r->prov);
    free(r->files);
    free(r->scn);
    free(r->started);
    free(r->finished);
    free(r->argv);
    free(r->host);
    free(r->run_dir);
    free(r->db_path);
    free(r);
}

/* -------------------------------------------------------------------- csv */

int rp_csv_split(const char *line, char **buf, char **f, int max)
{
    char *p;
    int n = 0;
    *buf = strdup(line ? line : "");
    if (!*buf)
        return 0;
    p = *buf;
    while (n < max) {
        f[n++] = p;
        p = strchr(p, ',');
        if (!p)
            break;
        *p++ = 0;
    }
    return n;
}

const char *rp_table_header(const char *tbl)
{
    if (strcmp(tbl, "bars") == 0)
        return "agg,symbol,seq,start_ns,end_ns,open,high,low,close,volume,trades,vwap";
    if (strcmp(tbl, "late") == 0)
        return "partition,offset,event_ns,symbol,price,qty,watermark_ns";
    if (strcmp(tbl, "dlq") == 0)
        return "partition,offset,reason,payload_hex";
    return NULL;
}
