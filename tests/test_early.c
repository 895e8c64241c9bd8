/*
 * test_early.c - replayproof's early stop at convergence.  Recoveries stop
 * at the golden checkpoint where they caught up with the crashed run (the
 * position is checked against the crash point), and the verdicts equal
 * those of full runs (--no-early-stop, early-stop = false).  The soundness
 * guard: a pipeline wrapper that damages the sink after a recovery that
 * converged - what early stop cannot see - is caught by the guard trials
 * (exit 3, "soundness guard"), and goes unseen without them, which is why
 * they exist.  A binary without the convergence options runs every trial to
 * the end.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tutil.h"

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir();
    ck_assert_int_eq(tu_sh("mkdir -p %s/work", dir), 0);
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
}

/* A scenario of 600 ticks, a cycle per 100 records, behind dir/wrap: a
 * script that runs `pre`, then the real fault build, and in a run given
 * convergence digests `post` after it ($rc its status, $st the state dir);
 * other processes exec the binary, so that a crash is a signal. */
static void scenario(const char *pre, const char *post, const char *faults)
{
    char body[4096];
    snprintf(body, sizeof body,
             "st=\"$3\"\n%s\ncase \"$*\" in *-converged*)\n'%s' \"$@\"\nrc=$?\n%s\n"
             "exit $rc;;\nesac", pre, tu_bin("refpipe-fiu"), post);
    tu_wrapped_scenario(dir, "early", body, faults);
}

static int run(const char *opts)
{
    return tu_sh("cd %s && rm -f r.db && '%s' run -q -j 2 --results r.db --workdir work %s "
                 "s.ini > out 2> err", dir, tu_bin("replayproof"), opts);
}

static long long q(const char *sql)
{
    return tu_query_int(dir, "r.db", sql);
}

/* A crash after the k-th sink commit leaves the sink at the k-th cycle's
 * cut (position 100 k: few rows per cycle, so cycles end by records) with
 * the checkpoint one cycle behind; the recovery stops at 100 k. */
START_TEST(recoveries_stop_where_they_caught_up)
{
    scenario(":", ":", "points = sink/commit/after, ckpt/done/after\nhits = 1,2,3\n"
             "full-run-fraction = 0\n");
    ck_assert_int_eq(run(""), 0);
    ck_assert_int_eq(q("SELECT count(*) FROM trials WHERE verdict = 'converged' AND "
                       "early = 'stopped' AND bars IS NULL"), 6);
    ck_assert_int_eq(q("SELECT count(*) FROM trials WHERE point = 'sink/commit/after' AND "
                       "converged_at = 100 * k AND detail = 'converged-early at position ' "
                       "|| converged_at"), 3);
    /* after the k-th checkpoint (k-1 th cycle; the first is the epoch's) the
     * next cycle is the first the recovery commits */
    ck_assert_int_eq(q("SELECT count(*) FROM trials WHERE point = 'ckpt/done/after' AND "
                       "converged_at = 100 * k"), 3);
    ck_assert_int_eq(tu_sh("grep -q 'early stop: 6 trials converged early' %s/out", dir), 0);
    /* the reports say it */
    ck_assert_int_eq(tu_sh("grep -q 'early 6 of 6 trials stopped early' %s/runs/latest/summary.md"
                           " && grep -q 'trials_converged_early\" value=\"6\"' "
                           "%s/runs/latest/junit.xml && grep -q '6 of 6 trials converged early' "
                           "%s/runs/latest/index.html", dir, dir, dir), 0);

    /* the switch: full runs, with exports, and the same verdicts */
    ck_assert_int_eq(run("--no-early-stop"), 0);
    ck_assert_int_eq(q("SELECT count(*) FROM trials WHERE verdict = 'converged' AND "
                       "early IS NULL AND converged_at IS NULL AND bars IS NOT NULL"), 6);
    ck_assert_int_ne(tu_sh("grep -q 'early stop:' %s/out", dir), 0);
}
END_TEST

START_TEST(scenario_key_turns_it_off)
{
    scenario(":", ":", "points = sink/commit/after\nhits = 2\nearly-stop = false\n");
    ck_assert_int_eq(run(""), 0);
    ck_assert_int_eq(q("SELECT count(*) FROM trials WHERE early IS NULL AND bars IS NOT NULL"),
                     1);
    scenario(":", ":", "points = sink/commit/after\nhits = 2\nfull-run-fraction = 120%\n");
    ck_assert_int_eq(run(""), 2);
    ck_assert_int_eq(tu_sh("grep -q 'full-run-fraction' %s/err", dir), 0);
}
END_TEST

/* A pipeline that goes wrong after its recovery converged (here: a foreign
 * bar slipped into the sink once a run that was given the golden digests
 * exits): the digests compared at convergence cannot see it. */
#define DAMAGE_AFTER                                                                      \
    "[ $rc -eq 0 ] && sqlite3 \"$st/sink.db\" "                                             \
    "\"INSERT OR IGNORE INTO aggs(name) VALUES('1s'); INSERT INTO symbols(name) VALUES('ZZZ'); " \
    "INSERT INTO bar_rows VALUES((SELECT id FROM aggs WHERE name = '1s'), (SELECT id FROM "      \
    "symbols WHERE name = 'ZZZ'), 999999,0,1,1,1,1,1,1,1,1)\""

START_TEST(soundness_guard_catches_what_early_stop_cannot_see)
{
    scenario(":", DAMAGE_AFTER, "points = sink/commit/after\nhits = 1,2,3\n"
             "full-run-fraction = 100%\n");
    ck_assert_int_eq(run(""), 3);
    ck_assert_int_eq(q("SELECT count(*) FROM trials WHERE early = 'full-run' AND "
                       "verdict = 'diverged' AND converged_at > 0 AND "
                       "detail LIKE 'soundness guard: early stop would have judged%'"), 3);
    ck_assert_int_eq(q("SELECT count(*) FROM scenarios WHERE verdict = 'error' AND "
                       "detail LIKE 'soundness guard: 3 of 3 trials%'"), 1);
    ck_assert_int_eq(tu_sh("grep -q 'soundness guard' %s/out", dir), 0);
    /* without the guard the damage goes unseen: the reason the guard exists */
    scenario(":", DAMAGE_AFTER, "points = sink/commit/after\nhits = 1,2,3\n"
             "full-run-fraction = 0\n");
    ck_assert_int_eq(run(""), 0);
    ck_assert_int_eq(q("SELECT count(*) FROM trials WHERE early = 'stopped'"), 3);
}
END_TEST

/* Which processes trust the sink digest recorded with the cut: every
 * process of a kill-only trial, none of a trial with a corruption (it
 * changes the sink behind the digest's back, so its recoveries scan). */
START_TEST(only_kill_trials_trust_the_recorded_digest)
{
    char pre[512];
    snprintf(pre, sizeof pre, "echo \"$*\" >> '%s/args'", dir);
    scenario(pre, ":", "points = sink/commit/after\nhits = 3\ncorrupt = sink-bitflip\n"
             "corrupt-budget = 3\nfull-run-fraction = 0\n");
    ck_assert_int_eq(run(""), 0);
    ck_assert_int_eq(q("SELECT count(*) FROM trials WHERE crashes = 'sink/commit/after:3' AND "
                       "verdict = 'converged' AND early = 'stopped'"), 1);
    ck_assert_int_ge(q("SELECT count(*) FROM trials WHERE crashes LIKE '%sink-bitflip%'"), 1);
    /* the kill trial's two processes, by their state dir trials/SEQ/state */
    ck_assert_int_eq(tu_sh("cd %s && n=$(sqlite3 r.db \"SELECT seq FROM trials WHERE crashes = "
                           "'sink/commit/after:3'\") && test $(grep -c \"/trials/$n/state "
                           ".*--trust-sink-digest\" args) -eq 2", dir), 0);
    /* the corruption trials' processes ran, none of them trusting */
    ck_assert_int_eq(tu_sh("cd %s && for n in $(sqlite3 r.db \"SELECT seq FROM trials WHERE "
                           "crashes LIKE '%%sink-bitflip%%'\"); do grep -q \"/trials/$n/state \" "
                           "args && ! grep \"/trials/$n/state \" args | grep -q -- "
                           "--trust-sink-digest || exit 1; done", dir), 0);
}
END_TEST

/* A binary whose --help does not offer the options: full runs. */
START_TEST(pipeline_without_the_options_runs_in_full)
{
    scenario("[ \"$1\" = --help ] && { echo 'usage: pipeline run LOG STATE'; exit 0; }", ":",
             "points = sink/commit/after\nhits = 1,2\n");
    ck_assert_int_eq(run(""), 0);
    ck_assert_int_eq(q("SELECT count(*) FROM trials WHERE verdict = 'converged' AND "
                       "early IS NULL AND bars IS NOT NULL"), 2);
}
END_TEST

Suite *early_suite(void)
{
    Suite *s = suite_create("early");
    TCase *tc = tcase_create("early");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, recoveries_stop_where_they_caught_up);
    tcase_add_test(tc, scenario_key_turns_it_off);
    tcase_add_test(tc, soundness_guard_catches_what_early_stop_cannot_see);
    tcase_add_test(tc, pipeline_without_the_options_runs_in_full);
    tcase_add_test(tc, only_kill_trials_trust_the_recorded_digest);
    suite_add_tcase(s, tc);
    return s;
}
