/*
 * test_hfaults.c - the harness against a misbehaving pipeline and a broken
 * results database.  The pipeline is the real fault build behind a wrapper
 * script that misbehaves in the trials (RP_FIU_CRASH is set there): it
 * leaves children running, ignores SIGTERM and hangs, or deletes its state
 * dir.  Each gets a verdict (or converges) and the harness neither hangs
 * nor leaves processes behind; a corrupt results database is one clear
 * error with exit 2.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tutil.h"

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir();
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
}

/* A small scenario whose binary is dir/wrap, a script doing `misdeed` in
 * trial processes of `run` and then the real fault build. */
static void scenario(const char *misdeed, const char *faults)
{
    char p[4200], text[4096];
    snprintf(p, sizeof p, "%s/wrap", dir);
    snprintf(text, sizeof text,
             "#!/bin/sh\nif [ \"$1\" = run ] && [ -n \"$RP_FIU_CRASH\" ]; then\n%s\nfi\n"
             "exec '%s' \"$@\"\n", misdeed, tu_bin("refpipe-fiu"));
    tu_write(p, text);
    ck_assert_int_eq(tu_sh("chmod +x %s", p), 0);
    snprintf(p, sizeof p, "%s/s.ini", dir);
    snprintf(text, sizeof text,
             "[scenario]\nname = hf\n[workload]\nseed = 3\npartitions = 2\nsymbols = 3\n"
             "ticks = 600\nduration = 6s\n[pipeline]\nbinary = ./wrap\n"
             "agg = 1s=tumbling:1s\ncheckpoint-every = 100\n[faults]\n%s\n", faults);
    tu_write(p, text);
    ck_assert_int_eq(tu_sh("mkdir -p %s/work", dir), 0);
}

static int run(void)
{
    return tu_sh("cd %s && '%s' run -q -j 2 --results r.db --workdir work s.ini > out 2> err",
                 dir, tu_bin("replayproof"));
}

static long long q(const char *sql)
{
    return tu_query_int(dir, "r.db", sql);
}

/* Children the pipeline leaves running are ended with it (they outlived
 * every trial before). */
START_TEST(children_that_outlive_the_pipeline_are_ended)
{
    char misdeed[128];
    snprintf(misdeed, sizeof misdeed, "sleep 4242.%d &", (int)getpid());
    scenario(misdeed, "points = sink/commit/after\nhits = 1,2,3\n");
    ck_assert_int_eq(run(), 0);
    ck_assert_int_eq(q("SELECT count(*) FROM trials WHERE verdict = 'converged'"), 3);
    ck_assert_msg(tu_sh("pgrep -f 'slee[p] 4242.%d' > /dev/null", (int)getpid()) != 0,
                  "a child of the pipeline is still running");
}
END_TEST

/* A pipeline that ignores SIGTERM and hangs: a `hang` verdict at the
 * scenario's timeout, and nothing left running. */
START_TEST(hang_ignoring_sigterm_is_a_verdict)
{
    char misdeed[128];
    snprintf(misdeed, sizeof misdeed, "trap '' TERM; exec sleep 4343.%d", (int)getpid());
    scenario(misdeed, "points = sink/commit/after\nhits = 1\ntimeout = 1s\n");
    ck_assert_int_eq(run(), 1);
    ck_assert_int_eq(q("SELECT count(*) FROM trials WHERE verdict = 'hang'"), 1);
    ck_assert_int_ne(tu_sh("pgrep -f 'slee[p] 4343.%d' > /dev/null", (int)getpid()), 0);
}
END_TEST

/* A pipeline that deletes its own state dir before running: a verdict
 * for every trial (it starts over and converges), the run completes. */
START_TEST(state_dir_deleted_by_the_pipeline)
{
    scenario("rm -rf \"$3\"", "points = sink/commit/after\nhits = 1,2\n");
    ck_assert_int_eq(run(), 0);
    ck_assert_int_eq(q("SELECT count(*) FROM trials"), 2);
}
END_TEST

/* A results database that is not one: one line naming it, exit 2, and the
 * file left as it was. */
START_TEST(corrupt_results_database)
{
    char p[4200];
    scenario(":", "points = sink/commit/after\nhits = 1\n");
    snprintf(p, sizeof p, "%s/r.db", dir);
    tu_write(p, "this is not a database, it is a text file of sufficient length to matter\n");
    ck_assert_int_eq(run(), 2);
    ck_assert_int_eq(tu_sh("test $(wc -l < %s/err) -eq 1 && grep -q 'r.db' %s/err", dir, dir),
                     0);
    ck_assert_int_eq(tu_sh("grep -q 'not a database, it is' %s", p), 0);
}
END_TEST

Suite *hfaults_suite(void)
{
    Suite *s = suite_create("hfaults");
    TCase *tc = tcase_create("hfaults");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, children_that_outlive_the_pipeline_are_ended);
    tcase_add_test(tc, hang_ignoring_sigterm_is_a_verdict);
    tcase_add_test(tc, state_dir_deleted_by_the_pipeline);
    tcase_add_test(tc, corrupt_results_database);
    suite_add_tcase(s, tc);
    return s;
}
