/*
 * test_shard.c - Check suite for sharding (`replayproof run --shard I/N`)
 * and `replayproof merge` (harness/shard.c, harness/merge.c).
 *
 * The oracle of a sharded run is the unsharded run of the same suite: the
 * union of the shards' trials must be its trials, each once, and the merged
 * database must give the same scenario rows, trial rows, divergences,
 * summary.md and junit.xml, up to run numbers, times and work dir names.
 * Refusals are checked on copies of shard databases edited with SQL.
 */
#include <check.h>
#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hn_shard.h"
#include "tutil.h"

/* ------------------------------------------------------------------ units */

START_TEST(shard_parse_and_partition)
{
    static const char *bad[] = {"", "0/3", "4/3", "3", "1/0", "/3", "1/", "1/3x", " 1/3", "-1/3",
                                "1//3", "1/1001", "99999/99999", "a/b", "1/3/3"};
    pl_errbuf eb = {{0}};
    int i = 0, n = 0;
    ck_assert_int_eq(hn_shard_parse("1/1", &i, &n, &eb), 0);
    ck_assert(i == 1 && n == 1);
    ck_assert_int_eq(hn_shard_parse("7/12", &i, &n, &eb), 0);
    ck_assert(i == 7 && n == 12);
    ck_assert_int_eq(hn_shard_parse("1000/1000", &i, &n, &eb), 0);
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        eb.msg[0] = 0;
        ck_assert_msg(hn_shard_parse(bad[b], &i, &n, &eb) == PL_EUSAGE, "'%s' accepted", bad[b]);
        ck_assert_msg(strstr(eb.msg, "--shard") != NULL, "%s", eb.msg);
    }
    /* every plan index of every plan size in exactly one shard, slices within
     * one trial of each other, plan indexes kept */
    for (int count = 1; count <= 7; count++)
        for (int total = 0; total <= 40; total++) {
            hn_trial plan[40];
            int seen[40] = {0}, smallest = total, largest = 0;
            memset(plan, 0, sizeof plan);
            for (int t = 0; t < total; t++) {
                plan[t].nfaults = 1;
                snprintf(plan[t].fault[0].point, sizeof plan[t].fault[0].point, "p");
                plan[t].fault[0].k = (uint64_t)t + 1;
            }
            for (int s = 1; s <= count; s++) {
                hn_trial *out;
                int *seqs, m;
                ck_assert_int_eq(hn_shard_slice(plan, total, 100, s, count, &out, &seqs, &m, &eb), 0);
                for (int j = 0; j < m; j++) {
                    int idx = seqs[j] - 100;
                    ck_assert(idx >= 0 && idx < total);
                    ck_assert_int_eq(out[j].fault[0].k, (uint64_t)idx + 1);
                    ck_assert(j == 0 || seqs[j] > seqs[j - 1]);
                    seen[idx]++;
                }
                if (m < smallest)
                    smallest = m;
                if (m > largest)
                    largest = m;
                free(out);
                free(seqs);
            }
            for (int t = 0; t < total; t++)
                ck_assert_msg(seen[t] == 1, "N=%d n=%d: index %d in %d shards", count, total, t,
                              seen[t]);
            ck_assert(largest - smallest <= 1);
        }
}
END_TEST

START_TEST(plan_digest_tells_plans_apart)
{
    hn_trial a[2], b[2];
    char da[33], db[33], dc[33];
    pl_errbuf eb = {{0}};
    memset(a, 0, sizeof a);
    for (int i = 0; i < 2; i++) {
        a[i].nfaults = 1;
        snprintf(a[i].fault[0].point, sizeof a[i].fault[0].point, "sink/commit/before");
        a[i].fault[0].k = (uint64_t)i + 1;
    }
    memcpy(b, a, sizeof b);
    b[1].fault[0].k = 3;
    ck_assert_int_eq(hn_shard_plan_digest(a, 2, NULL, 0, da, &eb), 0);
    ck_assert_int_eq(hn_shard_plan_digest(b, 2, NULL, 0, db, &eb), 0);
    ck_assert_int_eq(strlen(da), 32);
    ck_assert_str_ne(da, db);
    /* where the kills end and the power cuts begin is no part of the plan's
     * identity, the order is */
    ck_assert_int_eq(hn_shard_plan_digest(a, 1, a + 1, 1, dc, &eb), 0);
    ck_assert_str_eq(da, dc);
}
END_TEST

/* ------------------------------------------------------------- end to end */

/* The shared scratch (tu_env) and the suite's two scenario files. */
typedef struct env {
    tu_env t;
    char a[600], b[600];
} env;

static void env_open(env *e)
{
    static const char *ini =
        "[scenario]\nname = %s\n"
        "[workload]\nseed = 3\npartitions = 2\nsymbols = 5\nduration = 20s\nrate = 100\n"
        "poison-frac = 0.5%%\ndisorder = 2s\n"
        "[pipeline]\nagg = 1s=tumbling:1s\ncheckpoint-every = 200\nmax-delay = 500ms\n%s"
        "[faults]\npoints = sink/commit/before, ckpt/done/after\nhits = sample 4\n"
        "budget = 10\n[expect]\nconverge = true\n";
    char *text = NULL;
    tu_env_open(&e->t);
    snprintf(e->a, sizeof e->a, "%s/a.ini", e->t.tmp);
    snprintf(e->b, sizeof e->b, "%s/b.ini", e->t.tmp);
    /* a diverges (a broken variant), b converges */
    ck_assert(asprintf(&text, ini, "a", "env = REFPIPE_UNSAFE=offsets-before-sink\n") > 0);
    tu_write(e->a, text);
    free(text);
    ck_assert(asprintf(&text, ini, "b", "") > 0);
    tu_write(e->b, text);
    free(text);
}

/* `replayproof run` of both scenarios into TMP/NAME/r.db; extra: options. */
static int run_suite(const env *e, const char *name, const char *extra)
{
    return tu_sh("'%s' run -q -j 2 %s --results '%s/%s/r.db' --workdir '%s' '%s' '%s' "
                 ">'%s/%s.out' 2>&1", tu_bin("replayproof"), extra, e->t.tmp, name, e->t.work,
                 e->a, e->b, e->t.tmp, name);
}

/* replayproof merge ARGS; stderr into TMP/merge.err */
static int merge(const env *e, const char *args)
{
    return tu_sh("cd '%s' && '%s' merge %s >merge.out 2>merge.err", e->t.tmp,
                 tu_bin("replayproof"), args);
}

/* The work dir of a trial is random (rp-run-NAME-XXXXXX): blank its suffix. */
static void blank_workdirs(char *s)
{
    for (char *p = strstr(s, "/rp-run-"); p; p = strstr(p + 1, "/rp-run-")) {
        char *slash = strchr(p + 1, '/');
        if (slash && slash - p > 14)
            memset(slash - 6, 'X', 6);
    }
}

/* Every row of a query, '|' between columns, '\n' after each row. */
static char *rows(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert(f != NULL);
    ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const unsigned char *t = sqlite3_column_text(st, i);
            fprintf(f, "%s%s", i ? "|" : "", t ? (const char *)t : "NULL");
        }
        fputc('\n', f);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    fclose(f);
    blank_workdirs(buf);
    return buf;
}

static void sql_exec(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql, msg);
    sqlite3_close(db);
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of text sorted, as one text. */
static char *sorted(const char *text)
{
    char *copy = strdup(text), *save = NULL, **lines = NULL, *out, *o;
    size_t n = 0;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        lines = realloc(lines, (n + 1) * sizeof *lines);
        lines[n++] = l;
    }
    qsort(lines, n, sizeof *lines, cmp_line);
    out = o = calloc(1, strlen(text) + 2);
    for (size_t i = 0; i < n; i++)
        o += sprintf(o, "%s\n", lines[i]);
    free(lines);
    free(copy);
    return out;
}

static long count_lines(const char *s)
{
    long n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* summary.md without what differs between any two runs: the run number,
 * the start time, trials/s, the line on sharding. */
static char *norm_summary(const char *md)
{
    char *copy = strdup(md), *save = NULL, *out = calloc(1, strlen(md) + 1), *o = out;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *cut;
        if (strncmp(l, "Merged from ", 12) == 0 || strncmp(l, "Shard ", 6) == 0 ||
            strncmp(l, "**Merged from ", 14) == 0)
            continue;
        if (strncmp(l, "## replayproof run ", 19) == 0 && (cut = strchr(l, ':')))
            l = cut;
        if ((cut = strstr(l, ", started ")))
            *cut = 0;
        if (l[0] == '|' && (cut = strrchr(l, '|')) && cut > l) {
            *cut = 0;
            if ((cut = strrchr(l, '|')))
                cut[1] = 0; /* the trials/s column */
        }
        o += sprintf(o, "%s\n", l);
    }
    free(copy);
    return out;
}

/* junit.xml without times, timestamps and host. */
static char *norm_junit(const char *xml)
{
    static const char *attrs[] = {" time=\"", " timestamp=\"", " hostname=\""};
    char *out = strdup(xml);
    for (size_t a = 0; a < 3; a++)
        for (char *p = strstr(out, attrs[a]); p; p = strstr(p, attrs[a])) {
            char *q = strchr(p + strlen(attrs[a]), '"');
            ck_assert(q != NULL);
            memmove(p, q + 1, strlen(q + 1) + 1);
        }
    blank_workdirs(out);
    return out;
}

static char *report(const env *e, const char *db, const char *dir, const char *file)
{
    char path[1200];
    char *s;
    ck_assert_int_eq(tu_sh("cd '%s' && '%s' report --results '%s' -o '%s' >/dev/null", e->t.tmp,
                           tu_bin("replayproof"), db, dir), 0);
    snprintf(path, sizeof path, "%s/%s/%s", e->t.tmp, dir, file);
    s = tu_slurp(path, NULL);
    ck_assert_msg(s != NULL, "no %s", path);
    return s;
}

/* Nothing named m.db* in TMP: a refused or failed merge left no output, no
 * temporary file, no journal. */
static void assert_no_output(const env *e, const char *name)
{
    DIR *d = opendir(e->t.tmp);
    struct dirent *de;
    ck_assert(d != NULL);
    while ((de = readdir(d)))
        ck_assert_msg(strncmp(de->d_name, name, strlen(name)) != 0, "left behind: %s",
                      de->d_name);
    closedir(d);
}

/* The one line merge printed on stderr, which must mention `what`. */
static void assert_refused(const env *e, int rc, const char *what)
{
    char path[700];
    char *err;
    snprintf(path, sizeof path, "%s/merge.err", e->t.tmp);
    err = tu_slurp(path, NULL);
    ck_assert(err != NULL);
    ck_assert_msg(rc == 2, "merge exited %d, not 2: %s", rc, err);
    ck_assert_msg(count_lines(err) == 1, "not one line: %s", err);
    ck_assert_msg(strncmp(err, "replayproof merge: ", 19) == 0, "%s", err);
    ck_assert_msg(strstr(err, what) != NULL, "'%s' not in: %s", what, err);
    free(err);
    assert_no_output(e, "m.db");
}

static const char *scn_sql =
    "SELECT name, path, records, golden_bars, golden_late, golden_dlq, bars_rows, late_rows, "
    "dlq_rows, batch_bars, batch_late, batch_dlq, verdict, candidates, trials_planned, "
    "trials_run, failures, detail, workload FROM scenarios ORDER BY id";
static const char *trial_sql =
    "SELECT s.name, t.seq, t.crashes, t.point, t.k, t.verdict, t.restarts, t.bars, t.late, "
    "t.dlq, t.detail, t.snap_hit FROM trials t JOIN scenarios s ON s.id = t.scenario_id "
    "ORDER BY 1, 2";
static const char *div_sql =
    "SELECT s.name, t.seq, d.tbl, d.line, d.expected, d.actual FROM divergences d JOIN "
    "scenarios s ON s.id = d.scenario_id LEFT JOIN trials t ON t.id = d.trial_id "
    "ORDER BY 1, 2, 3";

START_TEST(shards_union_is_the_plan_and_merge_is_the_unsharded_run)
{
    env e;
    char db[4][700], opt[700], *whole, *sh[3], *u, *m;
    int rc;

    env_open(&e);
    ck_assert_int_eq(run_suite(&e, "u", ""), 1); /* a diverges */
    snprintf(db[0], sizeof db[0], "%s/u/r.db", e.t.tmp);
    for (int i = 1; i <= 3; i++) {
        char name[16], *bad;
        snprintf(name, sizeof name, "s%d", i);
        snprintf(opt, sizeof opt, "--shard %d/3", i);
        rc = run_suite(&e, name, opt);
        snprintf(db[i], sizeof db[i], "%s/s%d/r.db", e.t.tmp, i);
        /* a shard exits as run does on its slice: 1 with a failing trial */
        bad = rows(db[i], "SELECT count(*) FROM trials WHERE verdict <> 'converged'");
        ck_assert_int_eq(rc, atoi(bad) > 0 ? 1 : 0);
        free(bad);
        sh[i - 1] = rows(db[i], "SELECT value FROM provenance WHERE key = 'shard'");
        snprintf(opt, sizeof opt, "%d/3\n", i);
        ck_assert_str_eq(sh[i - 1], opt);
        free(sh[i - 1]);
    }

    /* the union of the slices is the whole plan, each trial once, with
     * the verdict the unsharded run gave it */
    whole = rows(db[0], "SELECT s.name, t.seq, t.crashes, t.verdict FROM trials t JOIN "
                        "scenarios s ON s.id = t.scenario_id");
    ck_assert(count_lines(whole) >= 12);
    for (int i = 0; i < 3; i++) {
        sh[i] = rows(db[i + 1], "SELECT s.name, t.seq, t.crashes, t.verdict FROM trials t JOIN "
                                "scenarios s ON s.id = t.scenario_id");
        ck_assert(count_lines(sh[i]) >= count_lines(whole) / 3 - 2);
    }
    {
        char *cat = NULL, *a, *b;
        ck_assert(asprintf(&cat, "%s%s%s", sh[0], sh[1], sh[2]) > 0);
        a = sorted(whole);
        b = sorted(cat);
        ck_assert_str_eq(a, b);
        /* disjoint: no line twice */
        for (char *p = b, *q; (q = strchr(p, '\n')) && q[1]; p = q + 1) {
            char *r = strchr(q + 1, '\n');
            ck_assert(!(r && r - q == q - p + 1 && strncmp(p, q + 1, (size_t)(q - p)) == 0));
        }
        free(a);
        free(b);
        free(cat);
    }
    for (int i = 0; i < 3; i++)
        free(sh[i]);
    free(whole);
    /* every shard planned the same whole plan */
    u = rows(db[0], "SELECT trials, xxh3 FROM plans ORDER BY scenario_id");
    for (int i = 1; i <= 3; i++) {
        m = rows(db[i], "SELECT trials, xxh3 FROM plans ORDER BY scenario_id");
        ck_assert_str_eq(u, m);
        free(m);
    }
    free(u);

    /* merged: the unsharded run's rows; exit 1 for the divergence */
    rc = merge(&e, "s2/r.db s3/r.db s1/r.db -o m.db");
    ck_assert_int_eq(rc, 1);
    {
        char mdb[700];
        const char *sqls[3] = {scn_sql, trial_sql, div_sql};
        snprintf(mdb, sizeof mdb, "%s/m.db", e.t.tmp);
        for (int q = 0; q < 3; q++) {
            u = rows(db[0], sqls[q]);
            m = rows(mdb, sqls[q]);
            ck_assert_str_eq(u, m);
            free(u);
            free(m);
        }
        u = rows(mdb, "SELECT exit_status FROM runs");
        ck_assert_str_eq(u, "1\n");
        free(u);
        u = rows(mdb, "SELECT value FROM provenance WHERE key IN ('shards_merged', "
                      "'shards_missing', 'shard_count') ORDER BY key");
        ck_assert_str_eq(u, "3\n1,2,3\n");
        free(u);
    }
    /* and so the report: summary.md and junit.xml */
    {
        char *us = report(&e, "u/r.db", "urep", "summary.md");
        char *ms = report(&e, "m.db", "mrep", "summary.md");
        char *uj = report(&e, "u/r.db", "urep", "junit.xml");
        char *mj = report(&e, "m.db", "mrep", "junit.xml");
        char *a = norm_summary(us), *b = norm_summary(ms);
        char *mh = report(&e, "m.db", "mrep", "index.html");
        /* a shard's run dir is here: the merged page has the scenario files
         * and the plots of the golden tables */
        ck_assert(strstr(mh, "env = REFPIPE_UNSAFE=offsets-before-sink") != NULL);
        ck_assert(strstr(mh, "id=\"plot-0-bars\"") != NULL);
        free(mh);
        ck_assert(strstr(ms, "Merged from shards 1,2,3 of 3") != NULL);
        ck_assert(strstr(ms, "coverage complete") != NULL);
        ck_assert(strstr(a, "| a | **failed** |") != NULL);
        ck_assert_str_eq(a, b);
        free(a);
        free(b);
        a = norm_junit(uj);
        b = norm_junit(mj);
        ck_assert_str_eq(a, b);
        free(a);
        free(b);
        free(us);
        free(ms);
        free(uj);
        free(mj);
    }
    /* without -o: into the merge's own run dir beside m.db (runs/latest),
     * which merge named; report says where, and writes the same files */
    {
        char path[800], line[900], *mo, *ro, *ms, *ds;
        snprintf(path, sizeof path, "%s/merge.out", e.t.tmp);
        mo = tu_slurp(path, NULL);
        ck_assert_ptr_nonnull(mo);
        ck_assert_msg(strstr(mo, "\nrun dir: runs/20") != NULL, "%s", mo);
        ck_assert_int_eq(tu_sh("cd '%s' && test -d runs/latest && test ! -e runs/latest/index.html"
                               " && '%s' report m.db > rep.out", e.t.tmp, tu_bin("replayproof")),
                         0);
        snprintf(path, sizeof path, "%s/rep.out", e.t.tmp);
        ro = tu_slurp(path, NULL);
        ck_assert_ptr_nonnull(ro);
        /* the run dir merge printed is the one report wrote into */
        snprintf(line, sizeof line, "report of run 1: %.*s/index.html (also junit.xml, "
                 "summary.md)\n", (int)strcspn(strstr(mo, "\nrun dir: ") + 10, "\n"),
                 strstr(mo, "\nrun dir: ") + 10);
        ck_assert_str_eq(ro, line);
        snprintf(path, sizeof path, "%s/runs/latest/summary.md", e.t.tmp);
        ds = tu_slurp(path, NULL);
        ck_assert_ptr_nonnull(ds);
        snprintf(path, sizeof path, "%s/mrep/summary.md", e.t.tmp);
        ms = tu_slurp(path, NULL);
        ck_assert_str_eq(ds, ms);
        /* --results and a database file both: refused */
        ck_assert_int_eq(tu_sh("cd '%s' && '%s' report m.db --results m.db 2>/dev/null",
                               e.t.tmp, tu_bin("replayproof")), 2);
        free(mo);
        free(ro);
        free(ds);
        free(ms);
    }

    /* a missing shard: merged, marked incomplete, exit 1 */
    tu_sh("rm -f '%s/m.db'", e.t.tmp);
    rc = merge(&e, "s1/r.db s3/r.db -o m.db");
    ck_assert_int_eq(rc, 1);
    {
        char mdb[700];
        snprintf(mdb, sizeof mdb, "%s/m.db", e.t.tmp);
        u = rows(mdb, "SELECT value FROM provenance WHERE key = 'shards_missing'");
        ck_assert_str_eq(u, "2\n");
        free(u);
        u = report(&e, "m.db", "mrep2", "summary.md");
        ck_assert_msg(strstr(u, "coverage incomplete: shard 2 of 3 missing") != NULL, "%s", u);
        free(u);
        u = report(&e, "m.db", "mrep2", "index.html");
        ck_assert(strstr(u, "coverage incomplete: shard 2 of 3 missing") != NULL);
        free(u);
    }
    tu_sh("rm -rf '%s/m.db' '%s'/mrep*", e.t.tmp, e.t.tmp);

    /* old run dirs beside the merged database go as after a run
     * (--keep-runs): here two made by hand, the oldest, and the first
     * merge's; other names and the latest link stay */
    ck_assert_int_eq(tu_sh("cd '%s/runs' && mkdir 20200101T000000Z-00000a 20200101T000001Z-00000b "
                           "keepme && test $(ls -d 2*Z-* | wc -l) -eq 4", e.t.tmp), 0);
    ck_assert_int_eq(merge(&e, "s1/r.db s2/r.db s3/r.db -o m.db --keep-runs 2"), 1);
    ck_assert_int_eq(tu_sh("cd '%s' && grep -qx 'removed the 3 oldest run dirs of runs "
                           "(--keep-runs 2)' merge.out && cd runs && test $(ls -d 2*Z-* | wc -l) "
                           "-eq 2 && test ! -e 20200101T000001Z-00000b && test -d keepme && "
                           "test -d latest", e.t.tmp), 0);
    /* a shard's run dir that the merged database names is spared, as is the
     * merge's own: beside shard 1's database, with one made by hand */
    ck_assert_int_eq(tu_sh("mkdir '%s/s1/runs/20200101T000000Z-00000c'", e.t.tmp), 0);
    ck_assert_int_eq(merge(&e, "s1/r.db s2/r.db s3/r.db -o s1/m.db --keep-runs 1"), 1);
    ck_assert_int_eq(tu_sh("cd '%s' && grep -qx 'removed the 1 oldest run dir of s1/runs "
                           "(--keep-runs 1)' merge.out && test $(ls -d s1/runs/2*Z-* | wc -l) "
                           "-eq 2", e.t.tmp), 0);
    ck_assert_int_eq(tu_sh("cd '%s' && d=$(sqlite3 s1/m.db \"SELECT value FROM provenance "
                           "WHERE key = 'shard_run_dir'\") && test -d \"$d\" && "
                           "test \"$(dirname \"$d\")\" = \"$(cd s1/runs && pwd -P)\"", e.t.tmp),
                     0);
    tu_sh("rm -rf '%s/m.db' '%s/s1/m.db'", e.t.tmp, e.t.tmp);

    /* refusals: exit 2, one line, nothing written */
    ck_assert_int_eq(tu_sh("cd '%s' && cp s1/r.db dup.db && cp s2/r.db plan.db && "
                           "cp s2/r.db split.db && cp s3/r.db bin.db && cp s2/r.db twice.db && "
                           "cp s1/r.db unfinished.db", e.t.tmp), 0);
    rc = merge(&e, "s1/r.db s2/r.db dup.db -o m.db");
    assert_refused(&e, rc, "are both shard 1/3");
    snprintf(opt, sizeof opt, "%s/plan.db", e.t.tmp);
    sql_exec(opt, "UPDATE plans SET xxh3 = '00000000000000000000000000000000' "
                  "WHERE scenario_id = 2");
    rc = merge(&e, "s1/r.db plan.db s3/r.db -o m.db");
    assert_refused(&e, rc, "scenario 'b': the plan differs");
    snprintf(opt, sizeof opt, "%s/split.db", e.t.tmp);
    sql_exec(opt, "UPDATE provenance SET value = '2/4' WHERE key = 'shard'");
    rc = merge(&e, "s1/r.db split.db -o m.db");
    assert_refused(&e, rc, "trials outside shard 2/4");
    snprintf(opt, sizeof opt, "%s/bin.db", e.t.tmp);
    sql_exec(opt, "UPDATE run_files SET xxh3 = '00000000000000000000000000000000' "
                  "WHERE role = 'binary' AND scenario IS NOT NULL");
    rc = merge(&e, "s1/r.db s2/r.db bin.db -o m.db");
    assert_refused(&e, rc, "not run with the same files: the binary of scenario '");
    snprintf(opt, sizeof opt, "%s/unfinished.db", e.t.tmp);
    sql_exec(opt, "UPDATE runs SET exit_status = NULL");
    rc = merge(&e, "unfinished.db s2/r.db -o m.db");
    assert_refused(&e, rc, "did not finish");
    rc = merge(&e, "s1/r.db a.ini -o m.db");
    assert_refused(&e, rc, "a.ini is not a replayproof results database");
    rc = merge(&e, "s1/r.db nothere.db -o m.db");
    assert_refused(&e, rc, "nothere.db");
    rc = merge(&e, "u/r.db s2/r.db -o m.db");
    assert_refused(&e, rc, "shards of different splits");
    /* found only while writing: the temporary file goes too */
    snprintf(opt, sizeof opt, "%s/twice.db", e.t.tmp);
    sql_exec(opt, "INSERT INTO trials(scenario_id, seq, crashes, point, k, verdict, restarts, "
                  "duration_ms) SELECT scenario_id, seq, crashes, point, k, verdict, restarts, "
                  "duration_ms FROM trials LIMIT 1");
    rc = merge(&e, "s1/r.db twice.db s3/r.db -o m.db");
    assert_refused(&e, rc, "stored by more than one shard");
    /* never over an existing file */
    tu_write(opt, "keep me");
    rc = merge(&e, "s1/r.db s2/r.db s3/r.db -o twice.db");
    ck_assert_int_eq(rc, 2);
    u = tu_slurp(opt, NULL);
    ck_assert_str_eq(u, "keep me");
    free(u);
    ck_assert_int_eq(merge(&e, "s1/r.db"), 2);
    assert_no_output(&e, "m.db");

    /* every shard converged: merge exits 0, and the merged verdict and
     * failure count come from the trials, not from the shards' rows */
    ck_assert_int_eq(tu_sh("cd '%s' && mkdir ok && for i in 1 2 3; do cp s$i/r.db ok/$i.db; "
                           "done", e.t.tmp), 0);
    for (int i = 1; i <= 3; i++) {
        snprintf(opt, sizeof opt, "%s/ok/%d.db", e.t.tmp, i);
        sql_exec(opt, "UPDATE trials SET verdict = 'converged'; UPDATE runs SET exit_status = 0; "
                      "UPDATE scenarios SET verdict = 'converged', failures = 5, detail = NULL");
    }
    ck_assert_int_eq(merge(&e, "ok/3.db ok/1.db ok/2.db -o ok/m.db"), 0);
    snprintf(opt, sizeof opt, "%s/ok/m.db", e.t.tmp);
    u = rows(opt, "SELECT name, verdict, failures, detail FROM scenarios ORDER BY id");
    ck_assert_str_eq(u, "a|converged|0|NULL\nb|converged|0|NULL\n");
    free(u);
    u = rows(opt, "SELECT trials_run FROM scenarios ORDER BY id");
    m = rows(db[0], "SELECT trials_run FROM scenarios ORDER BY id");
    ck_assert_str_eq(u, m);
    free(u);
    free(m);
    u = rows(opt, "SELECT exit_status FROM runs");
    ck_assert_str_eq(u, "0\n");
    free(u);

    /* shards downloaded elsewhere: a run dir is found beside its database */
    ck_assert_int_eq(tu_sh("cd '%s' && mv s1 moved && mv s2 s2.away", e.t.tmp), 0);
    ck_assert_int_eq(merge(&e, "s2.away/r.db moved/r.db s3/r.db -o m.db"), 1);
    snprintf(opt, sizeof opt, "%s/m.db", e.t.tmp);
    u = rows(opt, "SELECT value FROM provenance WHERE key = 'shard_run_dir'");
    ck_assert_msg(strstr(u, "/moved/runs/") != NULL, "%s", u);
    free(u);
    /* and the failing trials' state dirs are named where they now are */
    for (int i = 0; i < 3; i++) {
        static const char *where[3] = {"/moved/runs/", "/s2.away/runs/", "/s3/runs/"};
        char sql[160], *nl;
        snprintf(sql, sizeof sql, "SELECT state_dir FROM trials WHERE seq %% 3 = %d AND "
                 "state_dir IS NOT NULL ORDER BY seq LIMIT 1", i);
        u = rows(opt, sql);
        ck_assert_msg(strstr(u, where[i]) != NULL, "shard %d: %s", i + 1, u);
        if ((nl = strchr(u, '\n')))
            *nl = 0;
        ck_assert_msg(access(u, X_OK) == 0, "%s", u);
        free(u);
    }
    tu_env_close(&e.t);
}
END_TEST

/* A golden phase that failed in one shard only (here the pipeline refuses
 * an environment that shard was run with) leaves that shard without a plan,
 * golden digests or log digest for the scenario: merge takes it as that
 * scenario's error, names the shard, exits 3, and still refuses a log that
 * is recorded but different. */
START_TEST(golden_failure_in_one_shard_merges_as_error)
{
    env e;
    char mdb[700], *u;

    env_open(&e);
    ck_assert_int_eq(run_suite(&e, "s1", "--shard 1/2"), 1); /* a diverges */
    /* b has no env of its own, so it inherits this; a sets it */
    setenv("REFPIPE_UNSAFE", "bogus", 1);
    ck_assert_int_eq(run_suite(&e, "s2", "--shard 2/2"), 3);
    unsetenv("REFPIPE_UNSAFE");
    snprintf(mdb, sizeof mdb, "%s/s2/r.db", e.t.tmp);
    u = rows(mdb, "SELECT count(*) FROM run_files WHERE role = 'log' AND scenario = 'b'");
    ck_assert_str_eq(u, "0\n");
    free(u);

    ck_assert_int_eq(merge(&e, "s2/r.db s1/r.db -o m.db"), 3);
    snprintf(mdb, sizeof mdb, "%s/m.db", e.t.tmp);
    u = rows(mdb, "SELECT name, verdict, CASE name WHEN 'b' THEN substr(detail, 1, 18) ELSE '' END "
                  "FROM scenarios ORDER BY id");
    ck_assert_str_eq(u, "a|failed|\nb|error|shard 2/2: golden:\n");
    free(u);
    u = rows(mdb, "SELECT exit_status FROM runs");
    ck_assert_str_eq(u, "3\n");
    free(u);

    /* a log both shards recorded must still be the same */
    ck_assert_int_eq(tu_sh("cd '%s' && rm -rf m.db runs && cp s1/r.db s1x.db && sqlite3 s1x.db "
                           "\"UPDATE run_files SET xxh3 = '00' WHERE role = 'log' AND "
                           "scenario = 'a'\"", e.t.tmp), 0);
    ck_assert_int_eq(merge(&e, "s1x.db s2/r.db -o m.db"), 2);
    ck_assert_int_eq(tu_sh("cd '%s' && grep -q \"the log of scenario 'a' differs\" merge.err && "
                           "test ! -e m.db", e.t.tmp), 0);
    tu_env_close(&e.t);
}
END_TEST

START_TEST(run_refuses_bad_shard_values)
{
    static const char *bad[] = {"0/3", "4/3", "3", "1/0", "x/y", "''", "2/1"};
    char *tmp = tu_tmpdir(), path[600];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *err;
        int rc = tu_sh("cd '%s' && '%s' run --shard %s scenarios/none.ini >out 2>err", tmp,
                       tu_bin("replayproof"), bad[i]);
        snprintf(path, sizeof path, "%s/err", tmp);
        err = tu_slurp(path, NULL);
        ck_assert_msg(rc == 2, "--shard %s: exit %d", bad[i], rc);
        ck_assert_msg(count_lines(err) == 1 && strstr(err, "replayproof run: --shard '") == err,
                      "--shard %s: %s", bad[i], err);
        free(err);
    }
    tu_rmrf(tmp);
    free(tmp);
}
END_TEST

Suite *shard_suite(void)
{
    Suite *s = suite_create("shard");
    TCase *unit = tcase_create("unit");
    TCase *e2e = tcase_create("e2e");
    tcase_add_test(unit, shard_parse_and_partition);
    tcase_add_test(unit, plan_digest_tells_plans_apart);
    tcase_add_test(unit, run_refuses_bad_shard_values);
    tcase_set_timeout(e2e, 240);
    tcase_add_test(e2e, shards_union_is_the_plan_and_merge_is_the_unsharded_run);
    tcase_add_test(e2e, golden_failure_in_one_shard_merges_as_error);
    suite_add_tcase(s, unit);
    suite_add_tcase(s, e2e);
    return s;
}
