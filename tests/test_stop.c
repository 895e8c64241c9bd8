/*
 * test_stop.c - every long step can be stopped and is bounded.  Real
 * processes get SIGTERM in the middle of generation, import, run, batch
 * and a replayproof run; each must exit (status 3, "interrupted") within a
 * generous bound and leave no temporaries.  A latched write error ends
 * generation at once; a workload above the size cap is refused with its
 * estimate unless --allow-large; run refuses a work dir without the space.
 *
 * The time bound (STOP_BOUND_MS) is a functional check that the stop
 * request is seen at all, with room for a loaded machine; it is not a
 * benchmark (the loops check every few thousand records).
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tutil.h"

#define STOP_BOUND_MS 2000

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

/* 1 when pid has a handler for SIGTERM (SigCgt in /proc/PID/status). */
static int catches_term(pid_t pid)
{
    char path[64], line[256];
    unsigned long long mask = 0;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "SigCgt: %llx", &mask) == 1)
            break;
    fclose(f);
    return (mask >> (SIGTERM - 1)) & 1;
}

/*
 * Start `cmd` (exec'd by sh in dir, so the pid is the program's), wait
 * delay_ms, send SIGTERM, and return its exit status; *ms gets the time
 * from the signal to its exit.  A process still alive after 20 s is killed
 * and fails the test.
 */
static int term_after_line(const char *cmd, const char *line, int delay_ms, long long *ms);

static int term_after(const char *cmd, int delay_ms, long long *ms)
{
    return term_after_line(cmd, NULL, delay_ms, ms);
}

/* As term_after, but when `line` is set the delay starts once the program's
 * stderr (stop.err) holds it (at most 60 s): an event, not a guess at how
 * fast this machine is. */
static int term_after_line(const char *cmd, const char *line, int delay_ms, long long *ms)
{
    char full[8192];
    pid_t pid;
    int st = 0;

    snprintf(full, sizeof full, "cd '%s' && exec %s 2>stop.err >/dev/null", dir, cmd);
    pid = tu_spawn_sh(full);
    /* the program catches SIGTERM once its main has run (a sanitizer build
     * can take longer to get there than the delay): wait for that first */
    for (int i = 0; i < 5000 && !catches_term(pid); i++)
        usleep(1000);
    if (line) {
        int seen = 0;
        for (int i = 0; i < 60000 && !seen && waitpid(pid, &st, WNOHANG) == 0; i++) {
            seen = tu_sh("grep -qF '%s' '%s/stop.err'", line, dir) == 0;
            if (!seen)
                usleep(1000);
        }
        ck_assert_msg(seen, "'%s' never printed '%s'", cmd, line);
    }
    usleep((useconds_t)delay_ms * 1000);
    /* still running: the signal lands in the middle of the work */
    ck_assert_msg(waitpid(pid, &st, WNOHANG) == 0, "'%s' finished within %d ms: give it more "
                  "work", cmd, delay_ms);
    return tu_term_wait(pid, cmd, ms);
}

/* Nothing in dir matches the shell pattern. */
static void none_left(const char *pattern)
{
    ck_assert_msg(tu_sh("cd '%s' && ! ls -d %s >/dev/null 2>&1", dir, pattern) == 0,
                  "left behind in %s: %s", dir, pattern);
}

/* One big workload: 3 M records, its log. */
static void big_log(int with_log)
{
    ck_assert_int_eq(tu_sh("cd '%s' && '%s' gen --ticks 3000000 --partitions 4 big.csv", dir,
                           tu_bin("replayproof")), 0);
    if (with_log)
        ck_assert_int_eq(tu_sh("cd '%s' && '%s' import big.csv log 2>/dev/null", dir,
                               tu_bin("refpipe")), 0);
}

static void expect_stopped(int status, long long ms, const char *what)
{
    ck_assert_msg(status == 3, "%s: exit %d after SIGTERM, not 3", what, status);
    ck_assert_msg(ms < STOP_BOUND_MS, "%s: %lld ms from SIGTERM to exit", what, ms);
    ck_assert_int_eq(tu_sh("grep -q interrupted '%s/stop.err'", dir), 0);
}

START_TEST(gen_stops)
{
    char cmd[4200];
    long long ms;
    int st;
    snprintf(cmd, sizeof cmd, "'%s' gen --duration 10h --rate 100000 g.csv",
             tu_bin("replayproof"));
    st = term_after(cmd, 300, &ms);
    expect_stopped(st, ms, "gen");
    none_left("g.csv*");
}
END_TEST

START_TEST(import_stops)
{
    char cmd[4200];
    long long ms;
    int st;
    big_log(0);
    snprintf(cmd, sizeof cmd, "'%s' import big.csv log", tu_bin("refpipe"));
    st = term_after(cmd, 100, &ms);
    expect_stopped(st, ms, "import");
    none_left("log*"); /* neither the log nor its temporary sibling */
}
END_TEST

START_TEST(run_and_batch_stop)
{
    char cmd[4200];
    long long ms;
    int st;
    /* five mixed aggregations: refpipe got fast enough that one finished
     * 3 M records inside the delay on an idle machine */
    static const char aggs[] = "--agg 1m=tumbling:1m --agg s=sliding:1m:10s --agg t=ticks:100 "
                               "--agg v=volume:5000 --agg d=dollar:1000000";
    big_log(1);
    snprintf(cmd, sizeof cmd, "'%s' run log st --quiet --checkpoint-every 500000 %s",
             tu_bin("refpipe"), aggs);
    st = term_after(cmd, 300, &ms);
    expect_stopped(st, ms, "run");
    /* a stopped run is resumable: the same command completes */
    ck_assert_int_eq(tu_sh("cd '%s' && '%s' run log st --quiet %s", dir, tu_bin("refpipe"), aggs),
                     0);
    /* batch loads and sorts the 3 M records for seconds before its first
     * table (4 s of CPU here): 300 ms lands in the load on a machine several
     * times faster too; the stop while tables are written is
     * batch_stops_while_computing_bars */
    snprintf(cmd, sizeof cmd, "'%s' batch log b", tu_bin("refpipe"));
    st = term_after(cmd, 300, &ms);
    expect_stopped(st, ms, "batch");
    none_left("b/*.tmp*");
    ck_assert_int_ne(tu_sh("test -e '%s/b/bars.csv'", dir), 0);
}
END_TEST

/* One symbol and a 10-minute window sliding by 1 s: computing the bars
 * reads every event hundreds of times, all inside one symbol.  A SIGTERM
 * there went unseen (batch checked once per symbol) and batch finished
 * its tables seconds later with exit 0. */
START_TEST(batch_stops_while_computing_bars)
{
    char cmd[8192];
    long long ms;
    int pid, st;
    ck_assert_int_eq(tu_sh("cd '%s' && '%s' gen --ticks 1000000 --partitions 2 --symbols 1 "
                           "one.csv && '%s' import one.csv log 2>/dev/null", dir,
                           tu_bin("replayproof"), tu_bin("refpipe")), 0);
    snprintf(cmd, sizeof cmd, "cd '%s' && exec '%s' batch log b --agg s=sliding:10m:1s "
             "2>stop.err >/dev/null", dir, tu_bin("refpipe"));
    pid = tu_spawn_sh(cmd);
    /* the bars table is opened once the records are loaded and sorted */
    for (int i = 0; i < 6000 && tu_sh("test -e '%s/b/bars.csv.tmp'", dir) != 0; i++)
        usleep(10000);
    usleep(300000);
    ck_assert_msg(waitpid(pid, &st, WNOHANG) == 0, "batch finished its bars within 300 ms: "
                  "give it more work");
    st = tu_term_wait(pid, "batch", &ms);
    expect_stopped(st, ms, "batch (bars)");
    none_left("b/*");
}
END_TEST

/* The case: a huge workload, stopped while the golden run generates it. */
START_TEST(replayproof_run_stops_during_generation)
{
    char cmd[4200];
    long long ms;
    int st;
    snprintf(cmd, sizeof cmd, "%s/huge.ini", dir);
    tu_write(cmd, "[scenario]\nname = huge\n[workload]\nduration = 5m\nrate = 100000\n"
                  "[pipeline]\n[faults]\n");
    ck_assert_int_eq(tu_sh("mkdir '%s/wd'", dir), 0);
    snprintf(cmd, sizeof cmd, "'%s' run -q --allow-large --results r.db --workdir wd huge.ini",
             tu_bin("replayproof"));
    st = term_after(cmd, 500, &ms);
    expect_stopped(st, ms, "replayproof run");
    none_left("wd/*"); /* the work dir and its partial CSV are gone */
}
END_TEST

/* A scenario whose trials conflict (a broken replay), so that shrink has
 * a failure to work on; `extra` goes into [workload]. */
static void shrink_scenario(const char *workload)
{
    char p[4200], text[2048];
    snprintf(p, sizeof p, "%s/sh.ini", dir);
    snprintf(text, sizeof text,
             "[scenario]\nname = sh\n[workload]\nseed = 3\npartitions = 2\nsymbols = 3\n%s"
             "[pipeline]\nagg = 1s=tumbling:1s\ncheckpoint-every = 100\n"
             "env = REFPIPE_UNSAFE=nondeterministic-replay\n"
             "[faults]\npoints = sink/commit/after\n", workload);
    tu_write(p, text);
    ck_assert_int_eq(tu_sh("mkdir -p '%s/wd'", dir), 0);
}

/* Shrink the failing trial of a scenario with this [workload], SIGTERM
 * after delay_ms: exit 3, and neither its work dir nor a half-shrunk (or
 * half-generated) CSV is left behind. */
static void shrink_stopped(const char *workload, const char *line, int delay_ms)
{
    char cmd[4200];
    long long ms;
    shrink_scenario(workload);
    snprintf(cmd, sizeof cmd, "'%s' shrink sh.ini --trial sink/commit/after:1 --out o "
             "--workdir wd", tu_bin("replayproof"));
    int st = term_after_line(cmd, line, delay_ms, &ms);
    expect_stopped(st, ms, "shrink");
    none_left("wd/*");
    none_left("o/*.csv*");
}

/* Shrinking stops between (and inside) its replays: the signal comes just
 * after the first replay reproduced the failure, with a dozen replays of
 * the halving still ahead ... */
START_TEST(shrink_stops_between_replays)
{
    shrink_stopped("ticks = 30000\nduration = 30s\n", "shrink: reproduced", 50);
}
END_TEST

/* ... and while it generates the scenario's log (3 M records). */
START_TEST(shrink_stops_during_generation)
{
    shrink_stopped("ticks = 3000000\nduration = 10m\n", NULL, 300);
}
END_TEST

/* A full disk latches gen's write error: it ends at once instead of
 * generating on (it ran 10 minutes past SIGTERM). */
START_TEST(gen_write_error_ends_at_once)
{
    long long t0;
    int st;
    if (tu_sh("unshare -m true 2>/dev/null") != 0) {
        fprintf(stderr, "gen_write_error_ends_at_once: skipped, no mount namespace\n");
        return;
    }
    ck_assert_int_eq(tu_sh("mkdir '%s/full'", dir), 0);
    t0 = tu_now_ms();
    st = tu_sh("cd '%s' && unshare -m sh -c 'mount -t tmpfs -o size=1m tmpfs full && "
               "exec %s gen --duration 100h --rate 100000 full/g.csv' 2>err", dir,
               tu_bin("replayproof"));
    ck_assert_int_eq(st, 4);
    ck_assert_msg(tu_now_ms() - t0 < STOP_BOUND_MS, "gen went on %lld ms on a full disk",
                  tu_now_ms() - t0);
    ck_assert_int_eq(tu_sh("grep -q 'No space left' '%s/err'", dir), 0);
}
END_TEST

/* A 50h typo for 50s: refused by check and run with the estimate, unless
 * --allow-large; run also weighs the estimate against the work dir's space. */
START_TEST(size_cap_and_free_space)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/typo.ini", dir);
    tu_write(p, "[scenario]\nname = typo\n[workload]\nduration = 50h\nrate = 1000\n"
                "[pipeline]\n[faults]\n");
    ck_assert_int_eq(tu_sh("cd '%s' && '%s' check typo.ini 2>err", dir, tu_bin("replayproof")),
                     2);
    ck_assert_int_eq(tu_sh("grep -q 'about 180000000 records, an estimated 21972 MiB .*"
                           "--allow-large' '%s/err'", dir), 0);
    ck_assert_int_eq(tu_sh("cd '%s' && '%s' check --allow-large typo.ini >/dev/null", dir,
                           tu_bin("replayproof")), 0);
    ck_assert_int_eq(tu_sh("cd '%s' && '%s' run -q --results r.db --workdir . typo.ini 2>err",
                           dir, tu_bin("replayproof")), 2);
    ck_assert_int_eq(tu_sh("grep -q 'estimated 21972 MiB' '%s/err'", dir), 0);
    ck_assert_int_ne(tu_sh("test -e '%s/r.db'", dir), 0);
    if (tu_sh("unshare -m true 2>/dev/null") != 0)
        return;
    /* allowed, but 22 GB do not fit in 1 MiB: exit 4 before anything runs */
    ck_assert_int_eq(tu_sh("cd '%s' && mkdir small && unshare -m sh -c 'mount -t tmpfs -o "
                           "size=1m tmpfs small && exec %s run -q --allow-large --results "
                           "r.db --workdir small typo.ini' 2>err", dir, tu_bin("replayproof")),
                     4);
    ck_assert_int_eq(tu_sh("grep -q 'only 1 MiB free' '%s/err'", dir), 0);
}
END_TEST

Suite *stop_suite(void)
{
    Suite *s = suite_create("stop");
    TCase *tc = tcase_create("stop");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, gen_stops);
    tcase_add_test(tc, import_stops);
    tcase_add_test(tc, run_and_batch_stop);
    tcase_add_test(tc, batch_stops_while_computing_bars);
    tcase_add_test(tc, replayproof_run_stops_during_generation);
    tcase_add_test(tc, gen_write_error_ends_at_once);
    tcase_add_test(tc, shrink_stops_between_replays);
    tcase_add_test(tc, shrink_stops_during_generation);
    tcase_add_test(tc, size_cap_and_free_space);
    suite_add_tcase(s, tc);
    return s;
}
