/*
 * test_hfaults.c - the harness against a misbehaving pipeline and a broken
 * results database.  The pipeline is the real fault build behind a wrapper
 * script that misbehaves in the trials (RP_FIU_CRASH is set there): it
 * leaves children running, ignores SIGTERM and hangs, or deletes its state
 * dir.  Each gets a verdict (or converges) and the harness neither hangs
 * nor leaves processes behind; a corrupt results database is one clear
 * error with exit 2.  A results database locked by another process is
 * waited for without stalling the trials (their rows stay queued), and
 * the wait ends on SIGTERM; a pipeline that fills the work dir's disk
 * gets an `error` verdict that says so, every trial recorded.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tutil.h"

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir();
}

static void teardown(void)
{
    char p[4200], *pid;
    /* a lock holder a test started (its own process group) */
    snprintf(p, sizeof p, "%s/holder.pid", dir);
    pid = tu_slurp(p, NULL);
    if (pid && atoi(pid) > 1)
        kill(-atoi(pid), SIGKILL);
    free(pid);
    tu_rmrf(dir);
    free(dir);
}

/* A small scenario whose binary is dir/wrap, a script doing `misdeed` in
 * trial processes of `run` and then the real fault build. */
static void scenario(const char *misdeed, const char *faults)
{
    char body[4096];
    snprintf(body, sizeof body,
             "if [ \"$1\" = run ] && [ -n \"$RP_FIU_CRASH\" ]; then\n%s\nfi", misdeed);
    tu_wrapped_scenario(dir, "hf", body, faults);
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
    /* and the run's row has the command line as typed */
    ck_assert_int_eq(q("SELECT count(*) FROM runs WHERE exit_status = 0 AND argv = "
                       "'replayproof run -q -j 2 --results r.db --workdir work s.ini'"), 1);
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

/*
 * The misdeed of the first trial process to get there: start a process
 * (in its own session, so that the trial's end does not end it) that holds
 * the results database's write lock for `secs` seconds, as a second writer
 * would; holder.pid names its group, file `locked` says it holds the lock.
 * Every trial process also sleeps 0.4 s, so that trials are still running
 * while the lock is held.
 */
static void lock_scenario(int secs)
{
    char misdeed[2048];
    snprintf(misdeed, sizeof misdeed,
             "if mkdir %s/once 2>/dev/null; then\n"
             "  setsid sh -c 'echo $$ > %s/holder.pid; "
             "{ echo .timeout 10000; echo \"BEGIN IMMEDIATE;\"; echo \".shell echo > %s/locked\"; "
             "sleep %d; } | sqlite3 %s/r.db' &\n"
             "  while [ ! -s %s/locked ]; do sleep 0.05; done\n"
             "fi\nsleep 0.4", dir, dir, dir, secs, dir, dir);
    scenario(misdeed, "points = sink/commit/after\nhits = all\ntimeout = 2s\n");
}

/* Locked for 13 s while trials run: before, the harness stalled every
 * trial inside its batch write, gave up after SQLite's 10 s busy timeout
 * and lost the queued rows (exit 3); now the trials go on, their rows
 * queue, and all are written once the lock is released (the wait is
 * bounded at 60 s). */
START_TEST(locked_results_database_is_waited_for)
{
    lock_scenario(13);
    ck_assert_int_eq(run(), 0);
    ck_assert_int_eq(tu_sh("test -s %s/locked", dir), 0); /* the lock was held */
    ck_assert_int_eq(q("SELECT count(*) FROM trials WHERE verdict = 'converged'"), 7);
    ck_assert_int_eq(q("SELECT count(*) FROM trials"), 7);
    ck_assert_int_eq(q("SELECT exit_status FROM runs"), 0);
}
END_TEST

/* Locked for good: SIGTERM ends the wait at once (exit 3, one line saying
 * the database is locked), instead of after SQLite's busy timeout. */
START_TEST(wait_for_a_locked_database_stops_on_sigterm)
{
    char cmd[8192];
    pid_t pid;
    int st = 0;
    long long ms;
    lock_scenario(60);
    snprintf(cmd, sizeof cmd, "cd %s && exec '%s' run -q -j 2 --results r.db --workdir work "
             "s.ini > out 2> err", dir, tu_bin("replayproof"));
    pid = tu_spawn_sh(cmd);
    /* the lock is held, and the 7 trials (4 x 0.4 s on 2 slots) are over */
    for (int i = 0; i < 400 && tu_sh("test -s %s/locked", dir) != 0; i++)
        usleep(50000);
    usleep(3000000);
    ck_assert_msg(waitpid(pid, &st, WNOHANG) == 0, "the run ended while the database was "
                  "locked");
    st = tu_term_wait(pid, "replayproof run", &ms);
    ck_assert_msg(ms < 2000, "%lld ms from SIGTERM to exit", ms);
    ck_assert_int_eq(st, 3);
    ck_assert_int_eq(tu_sh("grep -q 'r.db.*locked by another process' %s/err", dir), 0);
}
END_TEST

/* The pipeline fills the work dir's file system (a 4 MiB tmpfs in a
 * private mount namespace) in its first trial and leaves it full: every
 * trial still gets a verdict, `error`, whose detail says the disk is full
 * (the process could not even write its message), every trial is in the
 * results database (on another file system), and the run ends. */
START_TEST(pipeline_that_fills_the_disk)
{
    char misdeed[1024];
    int st;
    if (tu_sh("unshare -m true 2>/dev/null") != 0) {
        fprintf(stderr, "pipeline_that_fills_the_disk: skipped, no mount namespace\n");
        return;
    }
    /* --no-snapshots: a snapshot start's probe runs armed, so it would be
     * the process that fills the disk, and its clean-up would free space
     * before the first trial's output is read */
    snprintf(misdeed, sizeof misdeed,
             "dd if=/dev/zero of=%s/work/fill-$$ bs=64k 2>/dev/null", dir);
    scenario(misdeed, "points = sink/commit/after\nhits = all\n");
    st = tu_sh("cd %s && unshare -m sh -c 'mount -t tmpfs -o size=4m tmpfs work && "
               "exec timeout 100 %s run -q -j 2 --no-snapshots --results r.db --workdir work "
               "s.ini' > out "
               "2> err", dir, tu_bin("replayproof"));
    ck_assert_int_eq(st, 1);
    ck_assert_int_eq(q("SELECT count(*) FROM trials"), 7);
    ck_assert_int_eq(q("SELECT count(*) FROM trials WHERE verdict = 'error' AND "
                       "detail LIKE '%file system is full%'"), 7);
    ck_assert_int_eq(q("SELECT exit_status FROM runs"), 1);
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
    tcase_add_test(tc, locked_results_database_is_waited_for);
    tcase_add_test(tc, wait_for_a_locked_database_stops_on_sigterm);
    tcase_add_test(tc, pipeline_that_fills_the_disk);
    suite_add_tcase(s, tc);
    return s;
}
