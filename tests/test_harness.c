/*
 * test_harness.c - Check suite for `replayproof run` and `replayproof replay`
 * (harness/runner.c, harness/results.c, harness/progress.c).
 *
 * Layout: helpers (scenario files, running replayproof, querying the results
 * database); unit tests of the planner, trial specs and the results
 * database; end-to-end tests through the real binaries: a correct pipeline
 * converges, the test-only broken builds of refpipe-fiu are caught at the
 * right trials (and only there) with a working reproducer, and stand-in
 * "pipelines" (shell scripts delegating to refpipe-fiu) produce the hang,
 * crash-loop, not-reached and error (a crash nobody armed) verdicts, a
 * batch disagreement and a failed expectation.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hn_results.h"
#include "hn_run.h"
#include "hn_scenario.h"
#include "tutil.h"

/* ---------------------------------------------------------------- helpers */

/* A small scenario: 2000 ticks, 10 commit cycles; the extra text ("key =
 * value" lines) goes into [pipeline], [faults] and [expect]. */
static char *write_scenario(const tu_env *e, const char *name, const char *pipeline_extra,
                            const char *faults, const char *expect_extra)
{
    char *path = NULL, *text = NULL;
    ck_assert(asprintf(&path, "%s/%s.ini", e->tmp, name) > 0);
    ck_assert(asprintf(&text,
                       "[scenario]\nname = %s\n"
                       "[workload]\nseed = 3\npartitions = 2\nsymbols = 5\nduration = 20s\n"
                       "rate = 100\npoison-frac = 0.5%%\n"
                       "[pipeline]\nagg = 1s=tumbling:1s\ncheckpoint-every = 200\n%s"
                       "[faults]\n%s"
                       "[expect]\nconverge = true\n%s",
                       name, pipeline_extra, faults, expect_extra) > 0);
    tu_write(path, text);
    free(text);
    return path;
}

/* replayproof run ... SCENARIO; stdout and stderr saved in tmp. */
static int run_rp(const tu_env *e, const char *opts, const char *scenario)
{
    return tu_sh("'%s' run --results '%s' --workdir '%s' %s '%s' >'%s/stdout' 2>'%s/stderr'",
                 tu_bin("replayproof"), e->db, e->work, opts, scenario, e->tmp, e->tmp);
}

static char *output(const tu_env *e, const char *which)
{
    char path[700];
    char *s;
    snprintf(path, sizeof path, "%s/%s", e->tmp, which);
    s = tu_slurp(path, NULL);
    ck_assert_msg(s != NULL, "no %s", path);
    return s;
}

/* First column of the first row of a query, as an integer (-1: no row). */
static long long q_int(const tu_env *e, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;
    ck_assert_int_eq(sqlite3_open_v2(e->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void dump_on_failure(const tu_env *e)
{
    char *o = output(e, "stdout"), *er = output(e, "stderr");
    fprintf(stderr, "---- stdout\n%s---- stderr\n%s----\n", o, er);
    free(o);
    free(er);
}

/* ---------------------------------------------------------------- planner */

static void plan_scenario(hn_scenario *sc)
{
    memset(sc, 0, sizeof *sc);
    snprintf(sc->name, sizeof sc->name, "p");
    sc->checkpoint_every = 1000;
    sc->hits_mode = HN_HITS_ALL;
    sc->crashes = 1;
    sc->budget = 2000;
    sc->seed = 1;
    sc->max_restarts = 20;
}

static int has_trial(const hn_trial *t, int n, const char *point, uint64_t k)
{
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].fault[0].point, point) == 0 && t[i].fault[0].k == k)
            return 1;
    return 0;
}

START_TEST(plan_exhaustive_within_budget)
{
    hn_scenario sc;
    hn_point pts[2] = {{"a/x", 5}, {"b/y", 3}};
    hn_trial *t = NULL;
    int n = 0;
    uint64_t cand = 0;
    plan_scenario(&sc);
    ck_assert_int_eq(hn_run_plan(&sc, pts, 2, 5000, 0, &t, &n, &cand, NULL), 0);
    ck_assert_int_eq(n, 8);
    ck_assert_uint_eq(cand, 8);
    /* sorted by point, then hit */
    for (int i = 0; i < 5; i++) {
        ck_assert_str_eq(t[i].fault[0].point, "a/x");
        ck_assert_uint_eq(t[i].fault[0].k, (uint64_t)i + 1);
        ck_assert_int_eq(t[i].nfaults, 1);
    }
    ck_assert_str_eq(t[7].fault[0].point, "b/y");
    ck_assert_uint_eq(t[7].fault[0].k, 3);
    free(t);
}
END_TEST

START_TEST(plan_sample_keeps_first_last_and_boundaries)
{
    hn_scenario sc;
    hn_point pts[2] = {{"ckpt/done/after", 22}, {"stream/event/after", 20000}};
    hn_trial *t1 = NULL, *t2 = NULL, *t3 = NULL;
    int n1 = 0, n2 = 0, n3 = 0, same = 1, per_event = 0;
    uint64_t cand = 0;
    plan_scenario(&sc);
    ck_assert_int_eq(hn_run_plan(&sc, pts, 2, 20000, 200, &t1, &n1, &cand, NULL), 0);
    ck_assert_int_eq(n1, 200);
    ck_assert_uint_eq(cand, 20022);
    /* every hit of the per-cycle point, the ends and boundaries of the other */
    for (uint64_t k = 1; k <= 22; k++)
        ck_assert(has_trial(t1, n1, "ckpt/done/after", k));
    ck_assert(has_trial(t1, n1, "stream/event/after", 1));
    ck_assert(has_trial(t1, n1, "stream/event/after", 20000));
    for (uint64_t b = 1000; b < 20000; b += 1000) {
        ck_assert(has_trial(t1, n1, "stream/event/after", b));
        ck_assert(has_trial(t1, n1, "stream/event/after", b + 1));
    }
    /* no duplicates, and the fill is spread: every tenth of the run sampled */
    for (int i = 1; i < n1; i++)
        ck_assert(strcmp(t1[i - 1].fault[0].point, t1[i].fault[0].point) != 0 ||
                  t1[i - 1].fault[0].k < t1[i].fault[0].k);
    for (int tenth = 0; tenth < 10; tenth++) {
        int in = 0;
        for (int i = 0; i < n1; i++)
            if (strcmp(t1[i].fault[0].point, "stream/event/after") == 0 &&
                t1[i].fault[0].k > (uint64_t)tenth * 2000 + 2 &&
                t1[i].fault[0].k < (uint64_t)tenth * 2000 + 999)
                in++;
        ck_assert_msg(in >= 3, "tenth %d has %d sampled hits off the boundaries", tenth, in);
    }
    /* deterministic for one seed, different for another */
    ck_assert_int_eq(hn_run_plan(&sc, pts, 2, 20000, 200, &t2, &n2, &cand, NULL), 0);
    ck_assert_int_eq(n2, n1);
    for (int i = 0; i < n1; i++)
        ck_assert_uint_eq(t1[i].fault[0].k, t2[i].fault[0].k);
    sc.seed = 2;
    ck_assert_int_eq(hn_run_plan(&sc, pts, 2, 20000, 200, &t3, &n3, &cand, NULL), 0);
    ck_assert_int_eq(n3, n1);
    for (int i = 0; i < n1; i++) {
        if (strcmp(t3[i].fault[0].point, "stream/event/after") == 0)
            per_event++;
        if (t1[i].fault[0].k != t3[i].fault[0].k)
            same = 0;
    }
    ck_assert_int_eq(per_event, 200 - 22);
    ck_assert(!same);
    free(t1);
    free(t2);
    free(t3);
}
END_TEST

START_TEST(plan_modes_sample_and_list)
{
    hn_scenario sc;
    hn_point pts[2] = {{"a", 10}, {"b", 2}};
    hn_trial *t = NULL;
    int n = 0;
    uint64_t cand = 0;
    plan_scenario(&sc);
    sc.hits_mode = HN_HITS_SAMPLE;
    sc.sample = 4;
    ck_assert_int_eq(hn_run_plan(&sc, pts, 2, 10000, 0, &t, &n, &cand, NULL), 0);
    ck_assert_int_eq(n, 6); /* 4 of a, both of b */
    ck_assert_uint_eq(cand, 6);
    ck_assert(has_trial(t, n, "a", 1) && has_trial(t, n, "a", 10));
    free(t);

    sc.hits_mode = HN_HITS_LIST;
    sc.nhits = 3;
    sc.hits[0] = 1;
    sc.hits[1] = 3;
    sc.hits[2] = 50; /* beyond both counts: dropped */
    ck_assert_int_eq(hn_run_plan(&sc, pts, 2, 10000, 0, &t, &n, &cand, NULL), 0);
    ck_assert_int_eq(n, 3);
    ck_assert(has_trial(t, n, "a", 1) && has_trial(t, n, "a", 3) && has_trial(t, n, "b", 1));
    ck_assert(!has_trial(t, n, "b", 3));
    free(t);
}
END_TEST

START_TEST(plan_later_crashes_land_in_recovery)
{
    hn_scenario sc;
    hn_point pts[2] = {{"ckpt/done/after", 22}, {"stream/event/after", 20000}};
    hn_trial *t = NULL;
    int n = 0, event_later = 0;
    uint64_t cand = 0;
    plan_scenario(&sc);
    sc.crashes = 3;
    ck_assert_int_eq(hn_run_plan(&sc, pts, 2, 20000, 100, &t, &n, &cand, NULL), 0);
    ck_assert_int_eq(n, 100);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(t[i].nfaults, 3);
        for (int c = 1; c < 3; c++) {
            if (strcmp(t[i].fault[c].point, "ckpt/done/after") == 0)
                ck_assert_uint_eq(t[i].fault[c].k, 1);
            else {
                ck_assert_str_eq(t[i].fault[c].point, "stream/event/after");
                ck_assert(t[i].fault[c].k >= 1 && t[i].fault[c].k <= 1000);
                event_later++;
            }
        }
    }
    ck_assert(event_later > 0 && event_later < 200); /* both points are drawn */
    free(t);
}
END_TEST

START_TEST(trial_spec_round_trip_and_errors)
{
    hn_trial t;
    char buf[256];
    pl_errbuf eb = {{0}};
    ck_assert_int_eq(hn_run_trial_parse("ckpt/write/after:3,stream/event/after:17", &t, &eb), 0);
    ck_assert_int_eq(t.nfaults, 2);
    ck_assert_str_eq(t.fault[1].point, "stream/event/after");
    ck_assert_uint_eq(t.fault[1].k, 17);
    hn_run_trial_format(&t, buf, sizeof buf);
    ck_assert_str_eq(buf, "ckpt/write/after:3,stream/event/after:17");
    ck_assert_int_eq(hn_run_trial_parse("a:0", &t, &eb), PL_EUSAGE);
    ck_assert_int_eq(hn_run_trial_parse("a", &t, &eb), PL_EUSAGE);
    ck_assert(strstr(eb.msg, "'a'") != NULL);
    ck_assert_int_eq(hn_run_trial_parse("a:1,", &t, &eb), PL_EUSAGE);
    ck_assert_int_eq(hn_run_trial_parse("a:x", &t, &eb), PL_EUSAGE);
    ck_assert_int_eq(hn_run_trial_parse("a*:1", &t, &eb), PL_EUSAGE);
    ck_assert_int_eq(hn_run_trial_parse("", &t, &eb), PL_EUSAGE);
}
END_TEST

START_TEST(fault_schedule_kinds)
{
    hn_trial t;
    char buf[512];
    pl_errbuf eb = {{0}};
    const char *spec = "powercut:keep-some/7@ckpt/rename/after:2,kill:sink/commit/before:1,"
                       "ioerr:sink/fsync/before:3:ENOSPC,corrupt:bitflip/9@ckpt/done/after:4";
    ck_assert_int_eq(hn_run_trial_parse(spec, &t, &eb), 0);
    ck_assert_int_eq(t.nfaults, 4);
    ck_assert_int_eq(t.fault[0].kind, HN_F_POWERCUT);
    ck_assert_int_eq(t.fault[0].model, HN_PC_KEEP_SOME);
    ck_assert_uint_eq(t.fault[0].seed, 7);
    ck_assert_str_eq(t.fault[0].point, "ckpt/rename/after");
    ck_assert_uint_eq(t.fault[0].k, 2);
    ck_assert_int_eq(t.fault[1].kind, HN_F_KILL);
    ck_assert_str_eq(t.fault[1].point, "sink/commit/before");
    ck_assert_int_eq(t.fault[2].kind, HN_F_IOERR);
    ck_assert_int_eq(t.fault[2].err, ENOSPC);
    ck_assert_uint_eq(t.fault[2].k, 3);
    ck_assert_int_eq(t.fault[3].kind, HN_F_CORRUPT);
    ck_assert_int_eq(t.fault[3].corrupt, HN_C_BITFLIP);
    ck_assert_uint_eq(t.fault[3].seed, 9);
    hn_run_trial_format(&t, buf, sizeof buf);
    /* kill: is written bare, as every schedule before the prefixes was */
    ck_assert_str_eq(buf, "powercut:keep-some/7@ckpt/rename/after:2,sink/commit/before:1,"
                          "ioerr:sink/fsync/before:3:ENOSPC,corrupt:bitflip/9@ckpt/done/after:4");
    ck_assert_int_eq(hn_run_trial_parse("powercut:torn:0", &t, &eb), 0);
    ck_assert_int_eq(t.fault[0].model, HN_PC_TORN);
    ck_assert_str_eq(t.fault[0].point, "");
    ck_assert_uint_eq(t.fault[0].k, 0);
    hn_run_trial_format(&t, buf, sizeof buf);
    ck_assert_str_eq(buf, "powercut:torn:0");
    ck_assert_int_eq(hn_run_trial_parse("ioerr:a:1:77", &t, &eb), 0);
    ck_assert_int_eq(t.fault[0].err, 77);
    /* a point literally named kill is still a bare kill */
    ck_assert_int_eq(hn_run_trial_parse("kill:5", &t, &eb), 0);
    ck_assert_str_eq(t.fault[0].point, "kill");
    ck_assert_int_eq(hn_run_trial_check(&t, &eb), 0);
    ck_assert_int_eq(hn_run_trial_parse("powercut:weird@a:1", &t, &eb), PL_EUSAGE);
    ck_assert(strstr(eb.msg, "MODEL") != NULL);
    /* a power cut is first, or last after others (fsyncgate), never in between or twice */
    ck_assert_int_eq(hn_run_trial_parse("a:1,powercut:strict:3,b:2", &t, &eb), PL_EUSAGE);
    ck_assert(strstr(eb.msg, "first") != NULL);
    ck_assert_int_eq(hn_run_trial_parse("powercut:strict:1,powercut:strict:3", &t, &eb),
                     PL_EUSAGE);
    ck_assert_int_eq(hn_run_trial_parse("ioerr:posix/io/sync/fsync:3:EIO,powercut:strict@"
                                        "ckpt/done/after:1", &t, &eb), 0);
    ck_assert_int_eq(t.nfaults, 2);
    ck_assert_int_eq(t.fault[1].kind, HN_F_POWERCUT);
    hn_run_trial_format(&t, buf, sizeof buf);
    ck_assert_str_eq(buf, "ioerr:posix/io/sync/fsync:3:EIO,powercut:strict@ckpt/done/after:1");
    ck_assert_int_eq(hn_run_trial_parse("ioerr:a:1:EWHAT", &t, &eb), PL_EUSAGE);
    ck_assert_int_eq(hn_run_trial_parse("corrupt:bitflip:a:1", &t, &eb), PL_EUSAGE);
    ck_assert_int_eq(hn_run_trial_parse("boom:a:1", &t, &eb), PL_EUSAGE);
    ck_assert_int_eq(hn_run_trial_parse("ioerr:a:1:EIO,corrupt:delete@a:2", &t, &eb), 0);
    ck_assert_int_eq(hn_run_trial_check(&t, &eb), 0);
    ck_assert_int_eq(hn_run_trial_parse("powercut:strict:3", &t, &eb), 0);
    ck_assert_int_eq(hn_run_trial_check(&t, &eb), 0);
}
END_TEST

/* ------------------------------------------------------- results database */

START_TEST(results_schema_created_checked_refused)
{
    tu_env e;
    hn_res *db = NULL;
    pl_errbuf eb = {{0}};
    int64_t run = 0, sid = 0;
    char junk[700];
    char *argv[] = {"replayproof", "run", "x y.ini"};
    tu_env_open(&e);
    /* created with its directory */
    ck_assert_int_eq(hn_res_open(e.db, &db, &eb), 0);
    ck_assert_int_eq(hn_res_run_begin(db, 3, argv, &run, &eb), 0);
    ck_assert_int_eq(hn_res_scenario_begin(db, run, "s", "s.ini", &sid, &eb), 0);
    ck_assert_int_eq(hn_res_hits_add(db, sid, "ckpt/done/after", 22, &eb), 0);
    ck_assert_int_eq(hn_res_run_end(db, run, 1, &eb), 0);
    hn_res_close(db);
    ck_assert_int_eq(q_int(&e, "SELECT exit_status FROM runs"), 1);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM runs WHERE argv = "
                               "'replayproof run ''x y.ini''' AND finished IS NOT NULL"), 1);
    ck_assert_int_eq(q_int(&e, "SELECT count FROM hits"), 22);
    /* reopening keeps the rows */
    ck_assert_int_eq(hn_res_open(e.db, &db, &eb), 0);
    hn_res_close(db);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM scenarios WHERE verdict = 'running'"), 1);
    /* the kill-matrix tables come with the schema, not with the first row */
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                               "AND name IN ('mutants', 'shrinks')"), 2);
    /* a file made before them gets them when it is opened, its rows kept */
    ck_assert_int_eq(tu_sh("sqlite3 '%s' 'DROP TABLE shrinks; DROP TABLE mutants'", e.db), 0);
    ck_assert_int_eq(hn_res_open(e.db, &db, &eb), 0);
    hn_res_close(db);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                               "AND name IN ('mutants', 'shrinks')"), 2);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM runs"), 1);
    /* another schema version is refused, not migrated */
    ck_assert_int_eq(tu_sh("sqlite3 '%s' \"UPDATE meta SET value = '9'\"", e.db), 0);
    ck_assert_int_eq(hn_res_open(e.db, &db, &eb), PL_ECONFIG);
    ck_assert(strstr(eb.msg, "schema version '9'") != NULL);
    /* so is a file that is not a database */
    snprintf(junk, sizeof junk, "%s/junk.db", e.tmp);
    tu_write(junk, "this is not an SQLite database, not even close to one......\n");
    ck_assert_int_eq(hn_res_open(junk, &db, &eb), PL_ECORRUPT);
    tu_env_close(&e);
}
END_TEST

/* -------------------------------------------------------------- end to end */

START_TEST(run_converges_and_records)
{
    tu_env e;
    char *sc;
    int rc;
    tu_env_open(&e);
    sc = write_scenario(&e, "small", "", "points = *\nhits = all\nbudget = 120\n", "");
    rc = run_rp(&e, "-j 2", sc);
    if (rc != 0)
        dump_on_failure(&e);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM trials"), 120);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM trials WHERE verdict <> 'converged'"), 0);
    ck_assert_int_eq(q_int(&e, "SELECT trials_run FROM scenarios"), 120);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM scenarios WHERE verdict = 'converged' "
                               "AND golden_bars = batch_bars AND records = 2000"), 1);
    /* every trial crashed once and ended with the golden digests, or its
     * recovery stopped at convergence (no export) */
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM trials t JOIN scenarios s "
                               "ON s.id = t.scenario_id WHERE t.restarts = 1 AND "
                               "((t.bars = s.golden_bars AND t.late = s.golden_late AND "
                               "t.dlq = s.golden_dlq AND t.early <> 'stopped') OR "
                               "(t.bars IS NULL AND t.early = 'stopped' AND "
                               "t.converged_at > 0)) AND t.state_dir IS NULL"), 120);
    ck_assert_int_gt(q_int(&e, "SELECT count(*) FROM trials WHERE early = 'stopped'"), 60);
    ck_assert_int_gt(q_int(&e, "SELECT count(*) FROM trials WHERE early = 'full-run'"), 0);
    ck_assert_int_eq(q_int(&e, "SELECT count FROM hits WHERE point = 'stream/event/after'"),
                     2000);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM hits WHERE point LIKE 'ckpt/%'"), 4);
    ck_assert_int_eq(q_int(&e, "SELECT exit_status FROM runs"), 0);
    /* nothing left behind for converged trials */
    ck_assert_int_eq(tu_sh("test -z \"$(ls -A '%s')\"", e.work), 0);
    free(sc);
    tu_env_close(&e);
}
END_TEST

START_TEST(run_results_accumulate)
{
    tu_env e;
    char *sc, *out;
    tu_env_open(&e);
    sc = write_scenario(&e, "acc", "", "points = sink/commit/after, nope/*\nhits = 1, 5\n", "");
    ck_assert_int_eq(run_rp(&e, "-q", sc), 0);
    /* a pattern that selects nothing is reported and recorded */
    out = output(&e, "stdout");
    ck_assert_msg(strstr(out, "matched no hit fail point: nope/*") != NULL, "%s", out);
    free(out);
    ck_assert_int_eq(q_int(&e, "SELECT count FROM hits WHERE point = 'nope/*'"), 0);
    ck_assert_int_eq(run_rp(&e, "-q --budget 1", sc), 0);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM runs WHERE exit_status = 0"), 2);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM scenarios WHERE name = 'acc'"), 2);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM trials"), 3); /* 2, then 1 (budget) */
    ck_assert_int_eq(q_int(&e, "SELECT count(DISTINCT scenario_id) FROM trials"), 2);
    free(sc);
    tu_env_close(&e);
}
END_TEST

/* Trials at these points cannot lose or change rows even when the checkpoint
 * is written before the sink commit: the cycle's checkpoint is not yet
 * durable, or the sink commit already happened. */
static const char *never_diverge =
    "point IN ('stream/event/after', 'sink/commit/after', 'ckpt/write/after', "
    "'ckpt/fsync/after', 'log/block/enter')";

START_TEST(broken_ckpt_first_is_caught_and_reproduced)
{
    tu_env e;
    char *sc, *out, *line, *end, cmd[2048], sql[512];
    int rc;
    tu_env_open(&e);
    sc = write_scenario(&e, "ckptfirst", "env = REFPIPE_UNSAFE=offsets-before-sink\n",
                        "points = *\nhits = sample 12\nbudget = 200\n", "");
    rc = run_rp(&e, "", sc);
    if (rc != 1)
        dump_on_failure(&e);
    ck_assert_int_eq(rc, 1);
    ck_assert(q_int(&e, "SELECT count(*) FROM trials WHERE point = 'sink/commit/before' "
                        "AND verdict = 'diverged'") >= 5);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM trials WHERE %s", never_diverge);
    ck_assert(q_int(&e, sql) >= 30);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM trials WHERE %s AND verdict <> 'converged'",
             never_diverge);
    ck_assert_int_eq(q_int(&e, sql), 0);
    /* a divergence names the first differing row and keeps the state dir */
    ck_assert(q_int(&e, "SELECT count(*) FROM divergences d JOIN trials t ON t.id = d.trial_id "
                        "WHERE t.verdict = 'diverged' AND d.line >= 2") >= 5);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM trials WHERE verdict = 'diverged' AND "
                               "state_dir IS NULL"), 0);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM scenarios WHERE verdict = 'failed'"), 1);

    /* the printed reproducer reproduces */
    out = output(&e, "stdout");
    for (line = out; line; line = end ? end + 1 : NULL) {
        end = strchr(line, '\n');
        if (end)
            *end = 0;
        if (strstr(line, "replayproof replay ") && strstr(line, "--trial sink/commit/before:"))
            break;
    }
    ck_assert_msg(line != NULL, "no reproducer line for sink/commit/before");
    line = strstr(line, "replayproof replay ");
    snprintf(cmd, sizeof cmd, "'%s' %s --workdir '%s' >'%s/replay' 2>&1", tu_bin("replayproof"),
             line + strlen("replayproof "), e.work, e.tmp);
    rc = tu_sh("%s", cmd);
    free(out);
    out = output(&e, "replay");
    ck_assert_msg(rc == 1, "replay exited %d:\n%s", rc, out);
    ck_assert(strstr(out, "verdict: diverged") != NULL);
    ck_assert(strstr(out, "RP_FIU_CRASH=sink/commit/before:") != NULL);
    ck_assert(strstr(out, "REFPIPE_UNSAFE=offsets-before-sink") != NULL);
    ck_assert(strstr(out, "state dir kept: ") != NULL);
    free(out);

    /* and a trial that cannot diverge replays as converged */
    rc = tu_sh("'%s' replay '%s' --trial sink/commit/after:3 --workdir '%s' >'%s/replay' 2>&1",
               tu_bin("replayproof"), sc, e.work, e.tmp);
    out = output(&e, "replay");
    ck_assert_msg(rc == 0, "replay exited %d:\n%s", rc, out);
    ck_assert(strstr(out, "verdict: converged") != NULL);
    free(out);

    /* without --workdir the kept work dir goes under out/replay, as every
     * kept thing goes under out/ (not into tmpfs, which is memory); a
     * refused command makes nothing */
    ck_assert_int_eq(tu_sh("cd '%s' && '%s' replay '%s' --trial nope 2>/dev/null; "
                           "test ! -e out/replay", e.tmp, tu_bin("replayproof"), sc), 0);
    rc = tu_sh("cd '%s' && '%s' replay '%s' --trial sink/commit/after:3 >replay 2>&1",
               e.tmp, tu_bin("replayproof"), sc);
    out = output(&e, "replay");
    ck_assert_msg(rc == 0, "replay exited %d:\n%s", rc, out);
    ck_assert_msg(strstr(out, "work dir out/replay/rp-replay-") != NULL, "%s", out);
    ck_assert_int_eq(tu_sh("cd '%s' && test -d out/replay/rp-replay-*/golden", e.tmp), 0);
    free(out);
    free(sc);
    tu_env_close(&e);
}
END_TEST

START_TEST(broken_nonidempotent_sink_is_a_conflict)
{
    tu_env e;
    char *sc;
    int rc;
    tu_env_open(&e);
    sc = write_scenario(&e, "nonidem", "env = REFPIPE_UNSAFE=nondeterministic-replay\n",
                        "points = sink/commit/after\nhits = all\n", "");
    rc = run_rp(&e, "-q", sc);
    if (rc != 1)
        dump_on_failure(&e);
    ck_assert_int_eq(rc, 1);
    ck_assert(q_int(&e, "SELECT count(*) FROM trials WHERE verdict = 'conflict'") >= 5);
    free(sc);
    tu_env_close(&e);
}
END_TEST

START_TEST(hang_is_a_verdict)
{
    tu_env e;
    char *sc, *script, extra[1200], pidfile[700], *pid;
    int rc;
    tu_env_open(&e);
    snprintf(pidfile, sizeof pidfile, "%s/hung.pid", e.tmp);
    snprintf(extra, sizeof extra, "if [ \"$1\" = run ] && [ -n \"$RP_FIU_CRASH\" ]; then\n"
             "  echo $$ > '%s'; exec sleep 1000\nfi", pidfile);
    script = tu_script(e.tmp, "hangs.sh", extra);
    snprintf(extra, sizeof extra, "binary = %s\n", script);
    sc = write_scenario(&e, "hang", extra, "points = sink/commit/after\nhits = 2\ntimeout = 1s\n",
                        "");
    rc = run_rp(&e, "", sc);
    if (rc != 1)
        dump_on_failure(&e);
    ck_assert_int_eq(rc, 1);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM trials WHERE verdict = 'hang' AND "
                               "duration_ms >= 900 AND state_dir IS NOT NULL"), 1);
    /* the hung process was killed, not left behind */
    pid = tu_slurp(pidfile, NULL);
    ck_assert(pid != NULL);
    ck_assert_int_eq(kill(atoi(pid), 0), -1);
    free(pid);
    free(script);
    free(sc);
    tu_env_close(&e);
}
END_TEST

START_TEST(interrupt_kills_the_pipeline)
{
    tu_env e;
    char *sc, *script, extra[2400], pidfile[700], *pid = NULL, *cmd = NULL;
    pid_t rp;
    int st;
    tu_env_open(&e);
    snprintf(pidfile, sizeof pidfile, "%s/hung.pid", e.tmp);
    snprintf(extra, sizeof extra, "if [ \"$1\" = run ] && [ -n \"$RP_FIU_CRASH\" ]; then\n"
             "  echo $$ > '%s.tmp'; mv '%s.tmp' '%s'; exec sleep 1000\nfi", pidfile, pidfile,
             pidfile);
    script = tu_script(e.tmp, "hangs.sh", extra);
    snprintf(extra, sizeof extra, "binary = %s\n", script);
    sc = write_scenario(&e, "intr", extra, "points = sink/commit/after\nhits = 2\n", "");
    ck_assert(asprintf(&cmd, "exec '%s' run -q --results '%s' --workdir '%s' '%s' >/dev/null "
                       "2>&1", tu_bin("replayproof"), e.db, e.work, sc) > 0);
    rp = fork();
    ck_assert(rp >= 0);
    if (rp == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 300 && !pid; i++) {
        usleep(20000);
        pid = tu_slurp(pidfile, NULL);
    }
    ck_assert_msg(pid != NULL, "the pipeline never started");
    ck_assert_int_eq(kill(atoi(pid), 0), 0);
    ck_assert_int_eq(kill(rp, SIGINT), 0);
    ck_assert_int_eq(waitpid(rp, &st, 0), rp);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 3);
    /* the hung pipeline went with it, and the run is on record as such */
    ck_assert_int_eq(kill(atoi(pid), 0), -1);
    ck_assert_int_eq(q_int(&e, "SELECT exit_status FROM runs"), 3);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM scenarios WHERE verdict = 'error' AND "
                               "detail = 'interrupted'"), 1);
    free(pid);
    free(cmd);
    free(script);
    free(sc);
    tu_env_close(&e);
}
END_TEST

START_TEST(crash_loop_is_a_verdict)
{
    tu_env e;
    char *sc, *script, extra[1200];
    int rc;
    tu_env_open(&e);
    /* every unarmed restart of a state dir with a checkpoint dies */
    script = tu_script(e.tmp, "loops.sh",
                          "if [ \"$1\" = run ] && [ -z \"$RP_FIU_CRASH$RP_FIU_COUNT\" ] && "
                          "ls \"$3\"/ckpt-* >/dev/null 2>&1; then kill -KILL $$; fi");
    snprintf(extra, sizeof extra, "binary = %s\n", script);
    sc = write_scenario(&e, "loop", extra,
                        "points = sink/commit/before\nhits = 3, 4\nmax-restarts = 3\n", "");
    rc = run_rp(&e, "", sc);
    if (rc != 1)
        dump_on_failure(&e);
    ck_assert_int_eq(rc, 1);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM trials WHERE verdict = 'crash-loop' AND "
                               "restarts = 3"), 2);
    free(script);
    free(sc);
    tu_env_close(&e);
}
END_TEST

START_TEST(crash_not_armed_is_an_error)
{
    tu_env e;
    char *sc, *script, extra[1200], body[1200];
    int rc;
    tu_env_open(&e);
    /* the first unarmed restart of each trial segfaults once; the next one
     * completes and converges, but a crash nobody armed is a finding */
    snprintf(body, sizeof body,
             "if [ \"$1\" = run ] && [ -z \"$RP_FIU_CRASH$RP_FIU_COUNT\" ] && "
             "[ ! -e \"$3/../segv-done\" ] && ls \"$3\"/ckpt-* >/dev/null 2>&1; then\n"
             "  touch \"$3/../segv-done\"; kill -SEGV $$\nfi");
    script = tu_script(e.tmp, "segv.sh", body);
    snprintf(extra, sizeof extra, "binary = %s\n", script);
    sc = write_scenario(&e, "segv", extra, "points = sink/commit/after\nhits = 2\n", "");
    rc = run_rp(&e, "", sc);
    if (rc != 1)
        dump_on_failure(&e);
    ck_assert_int_eq(rc, 1);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM trials WHERE verdict = 'error' AND "
                               "restarts = 2 AND detail LIKE '%SIGSEGV without an armed crash%' "
                               "AND (bars IS NOT NULL OR early = 'stopped')"), 1);
    free(script);
    free(sc);
    tu_env_close(&e);
}
END_TEST

START_TEST(not_reached_is_a_verdict)
{
    tu_env e;
    char *sc, *script, extra[1200];
    int rc;
    tu_env_open(&e);
    /* armed processes commit far less often than the discovery run counted */
    {
        char body[1024];
        snprintf(body, sizeof body,
                 "if [ \"$1\" = run ] && [ -n \"$RP_FIU_CRASH\" ]; then\n"
                 "  exec '%s' \"$@\" --checkpoint-every 100000\nfi", tu_bin("refpipe-fiu"));
        script = tu_script(e.tmp, "fewer.sh", body);
    }
    snprintf(extra, sizeof extra, "binary = %s\n", script);
    sc = write_scenario(&e, "nr", extra, "points = ckpt/done/after\nhits = 1, 5\n", "");
    rc = run_rp(&e, "", sc);
    if (rc != 1)
        dump_on_failure(&e);
    ck_assert_int_eq(rc, 1);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM trials WHERE k = 5 AND "
                               "verdict = 'not-reached'"), 1);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM trials WHERE k = 1 AND "
                               "verdict = 'converged'"), 1);
    free(script);
    free(sc);
    tu_env_close(&e);
}
END_TEST

START_TEST(batch_disagreement_and_expectations)
{
    tu_env e;
    char *sc, *script, extra[1200], *out;
    int rc;
    tu_env_open(&e);
    /* a batch computed under another lateness bound disagrees */
    {
        char body[1024];
        snprintf(body, sizeof body,
                 "if [ \"$1\" = batch ]; then exec '%s' \"$@\" --max-delay 0; fi",
                 tu_bin("refpipe-fiu"));
        script = tu_script(e.tmp, "batchoff.sh", body);
    }
    snprintf(extra, sizeof extra, "binary = %s\n", script);
    sc = write_scenario(&e, "bd", extra, "points = sink/commit/after\nhits = 1\n", "");
    rc = run_rp(&e, "", sc);
    out = output(&e, "stdout");
    ck_assert_msg(rc == 1, "exit %d:\n%s", rc, out);
    ck_assert(strstr(out, "batch-disagrees") != NULL);
    ck_assert(q_int(&e, "SELECT count(*) FROM divergences WHERE trial_id IS NULL") >= 1);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM scenarios WHERE verdict = "
                               "'batch-disagrees' AND golden_late <> batch_late"), 1);
    free(out);
    free(sc);

    /* poison-frac 0.5% cannot stay under max-dlq-fraction 0.1% */
    sc = write_scenario(&e, "ex", "", "points = sink/commit/after\nhits = 1\n",
                        "max-dlq-fraction = 0.1%\n");
    rc = run_rp(&e, "", sc);
    out = output(&e, "stdout");
    ck_assert_msg(rc == 1, "exit %d:\n%s", rc, out);
    ck_assert(strstr(out, "expectation-failed") != NULL);
    ck_assert(strstr(out, "dead-letter fraction") != NULL);
    free(out);
    free(script);
    free(sc);
    tu_env_close(&e);
}
END_TEST

START_TEST(bad_scenario_is_exit_2_with_file_line)
{
    tu_env e;
    char *sc, *err, want[700];
    tu_env_open(&e);
    sc = write_scenario(&e, "bad", "colour = blue\n", "points = *\n", "");
    ck_assert_int_eq(run_rp(&e, "", sc), 2);
    err = output(&e, "stderr");
    snprintf(want, sizeof want, "%s:", sc);
    ck_assert_msg(strstr(err, want) != NULL && strstr(err, "colour") != NULL, "%s", err);
    free(err);
    /* usage errors are 2 as well, and nothing is written */
    ck_assert_int_eq(run_rp(&e, "-j 0", sc), 2);
    ck_assert_int_eq(tu_sh("'%s' replay '%s' --trial nope >/dev/null 2>&1",
                           tu_bin("replayproof"), sc), 2);
    ck_assert_int_eq(access(e.db, F_OK), -1);
    free(sc);
    tu_env_close(&e);
}
END_TEST

/* ------------------------------------------- I/O errors and corruption */

/* io-errors and corrupt trials are planned from the discovery counts, run,
 * recorded and replayable; a foreign state dir is refused, then discarded. */
START_TEST(io_errors_and_corruption_converge)
{
    tu_env e;
    char *sc, *out;
    int rc;
#ifdef RP_SANITIZED
    return; /* libfiu's POSIX preload and ASan intercept the same calls */
#endif
    tu_env_open(&e);
    sc = write_scenario(&e, "iocor", "",
                        "points = ckpt/done/after\nhits = 2\nbudget = 1\n"
                        "io-errors = fsync:EIO, write:ENOSPC, pwrite:EROFS, write-short\n"
                        "io-budget = 8\n"
                        "corrupt = truncate, delete, foreign-config\ncorrupt-budget = 6\n",
                        "");
    rc = run_rp(&e, "", sc);
    if (rc != 0)
        dump_on_failure(&e);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM trials WHERE crashes LIKE 'ioerr:posix/%' "
                               "AND verdict = 'converged'"), 8);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM trials WHERE crashes LIKE 'ioerr:%:ENOSPC' "
                               "AND point = 'posix/io/rw/write'"), 2);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM trials WHERE crashes LIKE 'corrupt:%' "
                               "AND verdict = 'converged'"), 6);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM trials WHERE crashes LIKE "
                               "'corrupt:foreign-config%' AND detail LIKE '%refused%another "
                               "configuration%'"), 2);
    /* the POSIX points counted for io-errors are not kill points */
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM trials WHERE crashes LIKE 'posix/%'"), 0);
    rc = tu_sh("'%s' replay '%s' --workdir '%s' --trial corrupt:delete/3@ckpt/done/after:4 "
               ">'%s/replay' 2>&1", tu_bin("replayproof"), sc, e.work, e.tmp);
    out = output(&e, "replay");
    ck_assert_msg(rc == 0, "replay exit %d:\n%s", rc, out);
    ck_assert(strstr(out, "deleted") != NULL);
    free(out);
    free(sc);
    tu_env_close(&e);
}
END_TEST

/* A pipeline that reports an injected I/O error with the wrong status gets
 * the io-error verdict, with the status in the detail. */
START_TEST(io_error_misreported_is_a_verdict)
{
    tu_env e;
    char *sc, *script, extra[1200];
    int rc;
#ifdef RP_SANITIZED
    return;
#endif
    tu_env_open(&e);
    {
        char body[1024];
        snprintf(body, sizeof body,
                 "if [ \"$1\" = run ] && [ -n \"$RP_FIU_FAIL\" ]; then\n"
                 "  '%s' \"$@\"; s=$?; [ $s = 4 ] && exit 3; exit $s\nfi",
                 tu_bin("refpipe-fiu"));
        script = tu_script(e.tmp, "exit3.sh", body);
    }
    snprintf(extra, sizeof extra, "binary = %s\n", script);
    sc = write_scenario(&e, "io3", extra,
                        "points = ckpt/done/after\nhits = 1\nbudget = 1\n"
                        "io-errors = fsync:EIO\nio-budget = 3\n", "");
    rc = run_rp(&e, "", sc);
    ck_assert_int_eq(rc, 1);
    ck_assert_int_eq(q_int(&e, "SELECT count(*) FROM trials WHERE verdict = 'io-error' AND "
                               "detail LIKE '%expected exit 4%status 3%'"), 3);
    free(script);
    free(sc);
    tu_env_close(&e);
}
END_TEST

/* Every getopt command of replayproof answers -h with its usage (0), an
 * unknown option and an option without its value with one line naming
 * the command and the option (2). */
START_TEST(command_options_usage_and_errors)
{
    /* each command and one of its options that takes a value */
    static const char *const cmds[][2] = {{"run", "--results"}, {"replay", "--trial"},
                                          {"mutants", "--results"}, {"shrink", "--trial"},
                                          {"report", "--results"}, {"merge", "-o"}};
    char *tmp = tu_tmpdir(), p[600], *err;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        const char *c = cmds[i][0], *valued = cmds[i][1];
        char want[200];
        ck_assert_int_eq(tu_sh("'%s' %s -h > '%s/o' 2>&1", tu_bin("replayproof"), c, tmp), 0);
        ck_assert_int_eq(tu_sh("grep -q 'replayproof %s' '%s/o'", c, tmp), 0);
        ck_assert_int_eq(tu_sh("'%s' %s --bogus x.ini > /dev/null 2> '%s/e'",
                               tu_bin("replayproof"), c, tmp), 2);
        snprintf(p, sizeof p, "%s/e", tmp);
        err = tu_slurp(p, NULL);
        snprintf(want, sizeof want, "replayproof %s: unknown option '--bogus' (see replayproof "
                 "help %s)\n", c, c);
        ck_assert_str_eq(err, want);
        free(err);
        ck_assert_int_eq(tu_sh("'%s' %s %s > /dev/null 2> '%s/e'", tu_bin("replayproof"), c,
                               valued, tmp), 2);
        err = tu_slurp(p, NULL);
        snprintf(want, sizeof want, "replayproof %s: option '%s' needs a value\n", c, valued);
        ck_assert_str_eq(err, want);
        free(err);
    }
    tu_rmrf(tmp);
    free(tmp);
}
END_TEST

Suite *harness_suite(void)
{
    Suite *s = suite_create("harness");
    TCase *unit = tcase_create("unit"), *e2e = tcase_create("end-to-end");
    tcase_add_test(unit, plan_exhaustive_within_budget);
    tcase_add_test(unit, plan_sample_keeps_first_last_and_boundaries);
    tcase_add_test(unit, plan_modes_sample_and_list);
    tcase_add_test(unit, plan_later_crashes_land_in_recovery);
    tcase_add_test(unit, trial_spec_round_trip_and_errors);
    tcase_add_test(unit, fault_schedule_kinds);
    tcase_add_test(unit, results_schema_created_checked_refused);
    tcase_add_test(unit, command_options_usage_and_errors);
    tcase_set_timeout(e2e, 60);
    tcase_add_test(e2e, run_converges_and_records);
    tcase_add_test(e2e, run_results_accumulate);
    tcase_add_test(e2e, broken_ckpt_first_is_caught_and_reproduced);
    tcase_add_test(e2e, broken_nonidempotent_sink_is_a_conflict);
    tcase_add_test(e2e, hang_is_a_verdict);
    tcase_add_test(e2e, interrupt_kills_the_pipeline);
    tcase_add_test(e2e, crash_loop_is_a_verdict);
    tcase_add_test(e2e, crash_not_armed_is_an_error);
    tcase_add_test(e2e, not_reached_is_a_verdict);
    tcase_add_test(e2e, batch_disagreement_and_expectations);
    tcase_add_test(e2e, bad_scenario_is_exit_2_with_file_line);
    tcase_add_test(e2e, io_errors_and_corruption_converge);
    tcase_add_test(e2e, io_error_misreported_is_a_verdict);
    suite_add_tcase(s, unit);
    suite_add_tcase(s, e2e);
    return s;
}
