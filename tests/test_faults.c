/*
 * test_faults.c - rp-crash.so, the crash/fail/count preload, driven through
 * rp-fiu-probe (tests/probe/fiu_probe.c), a program that evaluates named
 * fail points a given number of times and prints a line after each.
 *
 * Layout: a runner that starts the probe with the preload and a set of
 * variables in a scratch directory and keeps its stdout/stderr/status;
 * then cases for counting, crashing, failing, the trace, the events flag
 * and malformed variables.  Expected outputs are written out literally from
 * the probe's arguments, never derived from the preload's own output.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tutil.h"

typedef struct probe_run {
    char *dir;
    int status; /* exit status, or 128 + signal */
    char *out;
    char *err;
} probe_run;

/* Runs `rp-fiu-probe ARGS` with rp-crash.so preloaded and ENV (NAME=VALUE
 * words, already shell-quoted) in r->dir, which is created on first use;
 * cwd is r->dir so relative paths in ENV land there. */
static void run_probe(probe_run *r, const char *env, const char *args)
{
    char probe[PATH_MAX], so[PATH_MAX], path[PATH_MAX + 16];

    snprintf(probe, sizeof probe, "%s", tu_bin("rp-fiu-probe"));
    snprintf(so, sizeof so, "%s", tu_bin("rp-crash.so"));
    ck_assert_msg(access(probe, X_OK) == 0, "%s is not built", probe);
    ck_assert_msg(access(so, R_OK) == 0, "%s is not built", so);
    if (!r->dir)
        r->dir = tu_tmpdir();
    free(r->out);
    free(r->err);
    /* exec: no shell is left to print "Killed" into err after a crash */
    r->status = tu_sh("cd '%s' && exec env LD_PRELOAD='%s' %s '%s' %s >out 2>err", r->dir, so,
                      env, probe, args);
    snprintf(path, sizeof path, "%s/out", r->dir);
    r->out = tu_slurp(path, NULL);
    snprintf(path, sizeof path, "%s/err", r->dir);
    r->err = tu_slurp(path, NULL);
    ck_assert(r->out && r->err);
}

/* Contents of a file in the run's directory, or NULL. */
static char *run_file(probe_run *r, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", r->dir, name);
    return tu_slurp(path, NULL);
}

static void run_done(probe_run *r)
{
    tu_rmrf(r->dir);
    free(r->dir);
    free(r->out);
    free(r->err);
}

/* ---- counting --------------------------------------------------------- */

START_TEST(count_wildcard_exact)
{
    probe_run r = {0};
    char *c;
    run_probe(&r, "RP_FIU_COUNT=counts RP_FIU_POINTS='a/*,c/x,d/never'",
              "-q a/two:5 a/one:3 b/z:4 c/x:2 c/y:1 a/two:2");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "start events=1\ndone hits=17 fails=0\n");
    c = run_file(&r, "counts");
    ck_assert_ptr_nonnull(c);
    /* sorted by name; b/z and c/y match no pattern; d/never listed with 0 */
    ck_assert_str_eq(c, "a/one 3\na/two 7\nc/x 2\nd/never 0\n");
    ck_assert_ptr_null(run_file(&r, "counts.tmp"));
    ck_assert_str_eq(r.err, "");
    free(c);
    run_done(&r);
}
END_TEST

/* Counting never fails a hit: every line says ok. */
START_TEST(count_never_fails)
{
    probe_run r = {0};
    char *c;
    run_probe(&r, "RP_FIU_COUNT=counts RP_FIU_POINTS='*'", "z:2 y/1:1");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "start events=1\nz 1 ok\nz 2 ok\ny/1 1 ok\ndone hits=3 fails=0\n");
    c = run_file(&r, "counts");
    ck_assert_str_eq(c, "y/1 1\nz 2\n");
    free(c);
    run_done(&r);
}
END_TEST

/* One buffer holds every name in turn: the pointer cache must not merge them. */
START_TEST(count_shared_buffer)
{
    probe_run r = {0};
    char *c;
    run_probe(&r, "RP_FIU_COUNT=counts RP_FIU_POINTS='*'",
              "-q -b sink/commit/after:3 ckpt/write/after:4 sink/commit/before:5 "
              "ckpt/write/after:1");
    ck_assert_int_eq(r.status, 0);
    c = run_file(&r, "counts");
    ck_assert_str_eq(c, "ckpt/write/after 5\nsink/commit/after 3\nsink/commit/before 5\n");
    free(c);
    run_done(&r);
}
END_TEST

/* A run that reaches no point still writes the (empty) table. */
START_TEST(count_no_hits)
{
    probe_run r = {0};
    char *c;
    run_probe(&r, "RP_FIU_COUNT=counts RP_FIU_POINTS='log/*'", "stream/event/after:3");
    ck_assert_int_eq(r.status, 0);
    c = run_file(&r, "counts");
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(c, "");
    free(c);
    run_done(&r);
}
END_TEST

/* 10 million hits through a wildcard: exact, and well inside the timeout. */
START_TEST(count_ten_million)
{
    probe_run r = {0};
    char *c;
    struct timespec t0, t1;
    double secs;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    run_probe(&r, "RP_FIU_COUNT=counts RP_FIU_POINTS='stream/*'",
              "-q stream/event/after:9999999 log/block/enter:5 stream/event/before:1");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_int_eq(r.status, 0);
    c = run_file(&r, "counts");
    ck_assert_str_eq(c, "stream/event/after 9999999\nstream/event/before 1\n");
    /* about 0.4 s on a 2-core VM; 15 s means something went quadratic */
    ck_assert_msg(secs < 15.0, "10M counted hits took %.2f s", secs);
    free(c);
    run_done(&r);
}
END_TEST

/* ---- crashing --------------------------------------------------------- */

START_TEST(crash_at_k)
{
    probe_run r = {0};
    run_probe(&r, "RP_FIU_CRASH=sink/commit/after:4", "sink/commit/after:10");
    ck_assert_int_eq(r.status, 128 + 9);
    /* hits 1..3 completed; hit 4 never returned; no exit path ran */
    ck_assert_str_eq(r.out, "start events=1\nsink/commit/after 1 ok\nsink/commit/after 2 ok\n"
                            "sink/commit/after 3 ok\n");
    ck_assert_str_eq(r.err, "");
    run_done(&r);
}
END_TEST

START_TEST(crash_at_first_hit)
{
    probe_run r = {0};
    run_probe(&r, "RP_FIU_CRASH=a:1", "b:2 a:3");
    ck_assert_int_eq(r.status, 137);
    ck_assert_str_eq(r.out, "start events=1\nb 1 ok\nb 2 ok\n");
    run_done(&r);
}
END_TEST

/* Several armed points: the first one reached kills, and the trace names it. */
START_TEST(crash_first_reached)
{
    probe_run r = {0};
    char *t;
    run_probe(&r, "RP_FIU_CRASH=b/y:2,a/x:3 RP_FIU_TRACE=trace", "a/x:5 b/y:5");
    ck_assert_int_eq(r.status, 137);
    ck_assert_str_eq(r.out, "start events=1\na/x 1 ok\na/x 2 ok\n");
    t = run_file(&r, "trace");
    ck_assert_str_eq(t, "crash a/x 3\n");
    free(t);
    run_done(&r);
}
END_TEST

/* A wildcard entry counts the hits of every matching point together. */
START_TEST(crash_wildcard)
{
    probe_run r = {0};
    run_probe(&r, "RP_FIU_CRASH='ckpt/*:4'", "ckpt/write/after:2 log/block/enter:3 ckpt/fsync/after:5");
    ck_assert_int_eq(r.status, 137);
    ck_assert_str_eq(r.out, "start events=1\nckpt/write/after 1 ok\nckpt/write/after 2 ok\n"
                            "log/block/enter 1 ok\nlog/block/enter 2 ok\nlog/block/enter 3 ok\n"
                            "ckpt/fsync/after 1 ok\n");
    run_done(&r);
}
END_TEST

/* K beyond the last hit: the program runs to completion untouched. */
START_TEST(crash_never_reached)
{
    probe_run r = {0};
    run_probe(&r, "RP_FIU_CRASH=a:4", "a:3");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "start events=1\na 1 ok\na 2 ok\na 3 ok\ndone hits=3 fails=0\n");
    run_done(&r);
}
END_TEST

/* The program calling fiu_init itself must not disarm the preload. */
START_TEST(crash_after_program_init)
{
    probe_run r = {0};
    run_probe(&r, "RP_FIU_CRASH=a:2", "-i a:3");
    ck_assert_int_eq(r.status, 137);
    ck_assert_str_eq(r.out, "start events=1\na 1 ok\n");
    run_done(&r);
}
END_TEST

/* Counting and a crash together: the kill leaves no count file behind. */
START_TEST(crash_skips_count_file)
{
    probe_run r = {0};
    char *c;
    run_probe(&r, "RP_FIU_COUNT=counts RP_FIU_POINTS='*' RP_FIU_CRASH=a:2", "a:3");
    ck_assert_int_eq(r.status, 137);
    c = run_file(&r, "counts");
    ck_assert_ptr_null(c);
    run_done(&r);
}
END_TEST

/* ---- failing ---------------------------------------------------------- */

START_TEST(fail_at_k)
{
    probe_run r = {0};
    run_probe(&r, "RP_FIU_FAIL=ckpt/write/after:3:ENOSPC", "ckpt/write/after:5");
    ck_assert_int_eq(r.status, 0);
    /* only hit 3 fails; fiu_fail, errno and failinfo all carry ENOSPC (28) */
    ck_assert_str_eq(r.out, "start events=1\nckpt/write/after 1 ok\nckpt/write/after 2 ok\n"
                            "ckpt/write/after 3 fail 28 28 28\nckpt/write/after 4 ok\n"
                            "ckpt/write/after 5 ok\ndone hits=5 fails=1\n");
    run_done(&r);
}
END_TEST

START_TEST(fail_default_eio_numeric_and_trace)
{
    probe_run r = {0};
    char *t;
    run_probe(&r, "RP_FIU_FAIL='a:1,b/*:2:122' RP_FIU_TRACE=trace", "-q a:2 b/q:1 b/r:2");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "start events=1\na 1 fail 5 5 5\nb/r 1 fail 122 122 122\n"
                            "done hits=5 fails=2\n");
    t = run_file(&r, "trace");
    ck_assert_str_eq(t, "fail a 1 5\nfail b/r 2 122\n");
    free(t);
    run_done(&r);
}
END_TEST

/* ---- the events flag -------------------------------------------------- */

START_TEST(events_flag_only_when_armed)
{
    probe_run r = {0};
    run_probe(&r, "", "a:1");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "start events=-\na 1 ok\ndone hits=1 fails=0\n");
    run_probe(&r, "RP_FIU_CRASH= RP_FIU_TRACE=trace", "a:1");
    ck_assert_str_eq(r.out, "start events=-\na 1 ok\ndone hits=1 fails=0\n");
    run_probe(&r, "RP_FIU_FAIL=zz:9", "a:1");
    ck_assert_str_eq(r.out, "start events=1\na 1 ok\ndone hits=1 fails=0\n");
    run_done(&r);
}
END_TEST

/* ---- malformed variables ---------------------------------------------- */

struct bad_case {
    const char *env;
    const char *line;
};

static const struct bad_case bad_cases[] = {
    {"RP_FIU_CRASH=a/x", "rp-crash: RP_FIU_CRASH: bad entry 'a/x'\n"},
    {"RP_FIU_CRASH=a/x:0", "rp-crash: RP_FIU_CRASH: bad entry 'a/x:0'\n"},
    {"RP_FIU_CRASH=a/x:-1", "rp-crash: RP_FIU_CRASH: bad entry 'a/x:-1'\n"},
    {"RP_FIU_CRASH=a/x:1x", "rp-crash: RP_FIU_CRASH: bad entry 'a/x:1x'\n"},
    {"RP_FIU_CRASH=a/x:", "rp-crash: RP_FIU_CRASH: bad entry 'a/x:'\n"},
    {"RP_FIU_CRASH=:3", "rp-crash: RP_FIU_CRASH: bad entry ':3'\n"},
    {"RP_FIU_CRASH=a:1:2", "rp-crash: RP_FIU_CRASH: bad entry 'a:1:2'\n"},
    {"RP_FIU_CRASH=a:18446744073709551616", "rp-crash: RP_FIU_CRASH: bad entry 'a:18446744073709551616'\n"},
    {"RP_FIU_CRASH=a:1,,b:2", "rp-crash: RP_FIU_CRASH: bad entry ''\n"},
    {"RP_FIU_CRASH=a:1,", "rp-crash: RP_FIU_CRASH: bad entry ''\n"},
    {"RP_FIU_CRASH='a*b:1'", "rp-crash: RP_FIU_CRASH: bad entry 'a*b:1'\n"},
    {"RP_FIU_CRASH='a b:1'", "rp-crash: RP_FIU_CRASH: bad entry 'a b:1'\n"},
    {"RP_FIU_FAIL=a:1:EWHAT", "rp-crash: RP_FIU_FAIL: bad entry 'a:1:EWHAT'\n"},
    {"RP_FIU_FAIL=a:1:0", "rp-crash: RP_FIU_FAIL: bad entry 'a:1:0'\n"},
    {"RP_FIU_FAIL=a:1:4096", "rp-crash: RP_FIU_FAIL: bad entry 'a:1:4096'\n"},
    {"RP_FIU_FAIL=a:1:5:6", "rp-crash: RP_FIU_FAIL: bad entry 'a:1:5:6'\n"},
    {"RP_FIU_FAIL=a", "rp-crash: RP_FIU_FAIL: bad entry 'a'\n"},
    {"RP_FIU_COUNT=c RP_FIU_POINTS='a/*,*x'", "rp-crash: RP_FIU_POINTS: bad entry '*x'\n"},
    {"RP_FIU_COUNT=c RP_FIU_POINTS='a,'", "rp-crash: RP_FIU_POINTS: bad entry ''\n"},
    {"RP_FIU_COUNT=c RP_FIU_POINTS='a:1'", "rp-crash: RP_FIU_POINTS: bad entry 'a:1'\n"},
    {"RP_FIU_POINTS=a", "rp-crash: RP_FIU_POINTS: set without RP_FIU_COUNT\n"},
    {"RP_FIU_COUNT=c", "rp-crash: RP_FIU_COUNT: set without RP_FIU_POINTS\n"},
    {"RP_FIU_CRASH=a:1 RP_FIU_TRACE=nodir/trace",
     "rp-crash: RP_FIU_TRACE: cannot open 'nodir/trace': No such file or directory\n"},
};

/* Exit 2 with exactly one line, before main printed anything. */
START_TEST(malformed)
{
    const struct bad_case *b = &bad_cases[_i];
    probe_run r = {0};
    run_probe(&r, b->env, "a:3");
    ck_assert_msg(r.status == 2, "%s: status %d", b->env, r.status);
    ck_assert_str_eq(r.out, "");
    ck_assert_str_eq(r.err, b->line);
    ck_assert_ptr_null(run_file(&r, "c"));
    run_done(&r);
}
END_TEST

Suite *faults_suite(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("count");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, count_wildcard_exact);
    tcase_add_test(tc, count_never_fails);
    tcase_add_test(tc, count_shared_buffer);
    tcase_add_test(tc, count_no_hits);
    tcase_add_test(tc, count_ten_million);
    suite_add_tcase(s, tc);

    tc = tcase_create("crash");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, crash_at_k);
    tcase_add_test(tc, crash_at_first_hit);
    tcase_add_test(tc, crash_first_reached);
    tcase_add_test(tc, crash_wildcard);
    tcase_add_test(tc, crash_never_reached);
    tcase_add_test(tc, crash_after_program_init);
    tcase_add_test(tc, crash_skips_count_file);
    suite_add_tcase(s, tc);

    tc = tcase_create("fail");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, fail_at_k);
    tcase_add_test(tc, fail_default_eio_numeric_and_trace);
    tcase_add_test(tc, events_flag_only_when_armed);
    suite_add_tcase(s, tc);

    tc = tcase_create("malformed");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, malformed, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
    suite_add_tcase(s, tc);
    return s;
}
