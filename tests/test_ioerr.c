/*
 * test_ioerr.c - Check suite `ioerr`: I/O errors injected into refpipe's
 * system calls at the k-th call, through libfiu's POSIX preload
 * (fiu_posix_preload.so, points posix/io/...) steered by rp-crash.so's
 * RP_FIU_FAIL.  Each failed call must end the process with exit 4 and one
 * line (or be absorbed, exit 0), a restart must converge to the
 * uninterrupted run, and no export may differ with exit 0.  Discovery
 * counts the POSIX points' hits the same way on every run, so a trial can
 * target the k-th call.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tutil.h"

#define POSIX_PRELOAD "/usr/lib/fiu/fiu_posix_preload.so"
#define OPTS "--agg 10s=tumbling:10s --agg v=volume:20000 --max-delay 300ms " \
             "--idle-timeout 3s --checkpoint-every 300"
#define GEN "--seed 9 --partitions 3 --symbols 12 --ticks 3000 --disorder 500ms " \
            "--poison-frac 0.01 --late-frac 0.01"
#define POINTS "posix/io/rw/*,posix/io/sync/*,posix/io/dir/rename"

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir();
    tu_golden(dir, GEN, "", OPTS, NULL);
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
}

/* Hits of point in one counted run on a fresh state dir; -1 if absent. */
static long count(const char *point, const char *file)
{
    char path[4096], name[256];
    long n = -1, c;
    FILE *f;
    ck_assert_int_eq(tu_sh("cd %s && rm -rf cnt && RP_FIU_COUNT=%s/%s RP_FIU_POINTS='" POINTS
                           "' LD_PRELOAD=%s:" POSIX_PRELOAD " %s run log cnt --quiet " OPTS,
                           dir, dir, file, tu_bin("rp-crash.so"), tu_bin("refpipe-fiu")), 0);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    while (fscanf(f, "%255s %ld", name, &c) == 2)
        if (!strcmp(name, point))
            n = c;
    fclose(f);
    return n;
}

static int skip_sanitized(void)
{
#ifdef RP_SANITIZED
    /* libfiu's POSIX preload and AddressSanitizer intercept the same
     * symbols; the combination crashes before main (see test_crash.c) */
    return 1;
#else
    ck_assert_msg(tu_sh("test -r " POSIX_PRELOAD) == 0,
                  POSIX_PRELOAD " missing (make deps installs fiu-utils)");
    return 0;
#endif
}

/* The POSIX points are hit, and as often on every run (so hit k names the
 * same call in discovery and in the trial). */
START_TEST(t_discovery_counts_posix_points)
{
    static const char *pts[] = {"posix/io/rw/write", "posix/io/rw/pwrite",
                                "posix/io/sync/fsync", "posix/io/sync/fdatasync",
                                "posix/io/dir/rename", "posix/io/rw/write/reduce"};
    if (skip_sanitized())
        return;
    for (size_t i = 0; i < sizeof pts / sizeof pts[0]; i++) {
        long a = count(pts[i], "c1"), b = count(pts[i], "c2");
        ck_assert_msg(a > 0, "%s never hit", pts[i]);
        ck_assert_msg(a == b, "%s: %ld hits, then %ld", pts[i], a, b);
    }
}
END_TEST

/*
 * Fail hit k of point with err; then restart until complete and compare.
 * Returns the armed process's exit status.  *fired: the fault was
 * delivered (rp-crash's trace has its line).
 */
static int fail_and_recover(const char *st, const char *point, long k, const char *err,
                            int *fired, char *line, size_t ln)
{
    char p[4096];
    size_t n = 0;
    char *e;
    int rc, rc2 = -1;
    rc = tu_sh("cd %s && rm -rf %s %s.trace && RP_FIU_FAIL=%s:%ld:%s RP_FIU_TRACE=%s/%s.trace "
               "LD_PRELOAD=%s:" POSIX_PRELOAD " %s run log %s --quiet " OPTS " 2> %s.err",
               dir, st, st, point, k, err, dir, st, tu_bin("rp-crash.so"),
               tu_bin("refpipe-fiu"), st, st);
    *fired = tu_sh("grep -q '^fail ' %s/%s.trace 2>/dev/null", dir, st) == 0;
    snprintf(p, sizeof p, "%s/%s.err", dir, st);
    e = tu_slurp(p, &n);
    ck_assert_ptr_nonnull(e);
    snprintf(line, ln, "%.*s", (int)(n && e[n - 1] == '\n' ? n - 1 : n), e);
    if (rc == 4)
        ck_assert_msg(n > 0 && memchr(e, '\n', n) == e + n - 1,
                      "%s:%ld:%s: exit 4 but not one line: %s", point, k, err, e);
    free(e);
    for (int i = 0; i < 4 && rc2 != 0; i++)
        rc2 = tu_sh("cd %s && %s run log %s --quiet " OPTS " 2>/dev/null", dir,
                    tu_bin("refpipe-fiu"), st);
    ck_assert_msg(rc2 == 0, "%s:%ld:%s: restart exited %d", point, k, err, rc2);
    ck_assert_int_eq(tu_sh("cd %s && %s export %s %s.exp > %s.d", dir, tu_bin("refpipe"), st,
                           st, st), 0);
    ck_assert_msg(tu_sh("cd %s && cmp -s golden.d %s.d", dir, st) == 0,
                  "%s:%ld:%s: export differs from the uninterrupted run", point, k, err);
    return rc;
}

/* write/pwrite/fsync/fdatasync/rename x EIO/ENOSPC/EDQUOT/EROFS at the
 * first, a middle and the last call. */
START_TEST(t_errors_exit_4_and_recover)
{
    static const char *pts[] = {"posix/io/rw/write", "posix/io/rw/pwrite",
                                "posix/io/sync/fsync", "posix/io/sync/fdatasync",
                                "posix/io/dir/rename"};
    static const char *errs[] = {"EIO", "ENOSPC", "EDQUOT", "EROFS"};
    const char *pt = pts[_i];
    long n;
    int exit4 = 0;
    if (skip_sanitized())
        return;
    n = count(pt, "c");
    ck_assert_int_gt(n, 0);
    for (size_t e = 0; e < sizeof errs / sizeof errs[0]; e++) {
        long ks[3] = {1, (n + 1) / 2, n};
        for (int j = 0; j < 3; j++) {
            char line[1024];
            int fired, rc = fail_and_recover("s", pt, ks[j], errs[e], &fired, line,
                                             sizeof line);
            ck_assert_msg(fired, "%s:%ld:%s was not delivered", pt, ks[j], errs[e]);
            /* the failure is reported as an I/O failure, or absorbed */
            ck_assert_msg(rc == 4 || rc == 0, "%s:%ld:%s: exit %d (expected 4): %s", pt,
                          ks[j], errs[e], rc, line);
            exit4 += rc == 4;
        }
    }
    ck_assert_msg(exit4 > 0, "%s: no injected error was ever reported", pt);
}
END_TEST

/* Short writes (libfiu's .../reduce points shorten the count): the
 * pipeline either completes the write or fails it as an I/O error. */
START_TEST(t_short_writes)
{
    static const char *pts[] = {"posix/io/rw/write/reduce", "posix/io/rw/pwrite/reduce"};
    if (skip_sanitized())
        return;
    for (size_t i = 0; i < 2; i++) {
        long n = count(pts[i], "c");
        ck_assert_int_gt(n, 0);
        for (long k = 1; k <= n; k += (n + 3) / 4) {
            char line[1024];
            int fired, rc = fail_and_recover("w", pts[i], k, "EIO", &fired, line,
                                             sizeof line);
            ck_assert_msg(fired, "%s:%ld not delivered", pts[i], k);
            ck_assert_msg(rc == 0 || rc == 4, "%s:%ld: exit %d: %s", pts[i], k, rc, line);
        }
    }
}
END_TEST

/* The broken variant that checkpoints a cycle whose sink commit failed:
 * some failed pwrite (SQLite's WAL write) then loses rows for good, which
 * the same failure on the real build does not. */
START_TEST(t_sink_commit_error_ignored_is_caught)
{
    long n;
    int caught = 0;
    if (skip_sanitized())
        return;
    n = count("posix/io/rw/pwrite", "c");
    ck_assert_int_gt(n, 0);
    for (long k = 1; k <= n && !caught; k++) {
        int rc = tu_sh("cd %s && rm -rf u && REFPIPE_UNSAFE=commit-error-ignored "
                       "RP_FIU_FAIL=posix/io/rw/pwrite:%ld:EIO LD_PRELOAD=%s:" POSIX_PRELOAD
                       " %s run log u --quiet " OPTS " 2>/dev/null",
                       dir, k, tu_bin("rp-crash.so"), tu_bin("refpipe-fiu"));
        ck_assert(rc == 0 || rc == 4);
        ck_assert_int_eq(tu_sh("cd %s && %s run log u --quiet " OPTS " 2>/dev/null", dir,
                               tu_bin("refpipe-fiu")), 0);
        ck_assert_int_eq(tu_sh("cd %s && %s export u u.exp > u.d", dir, tu_bin("refpipe")), 0);
        if (tu_sh("cd %s && cmp -s golden.d u.d", dir) != 0) {
            char line[1024];
            int fired;
            caught = 1;
            /* the real build survives the same failure */
            fail_and_recover("r", "posix/io/rw/pwrite", k, "EIO", &fired, line,
                             sizeof line);
            ck_assert(fired);
        }
    }
    ck_assert_msg(caught, "no failed pwrite lost rows under commit-error-ignored");
}
END_TEST

Suite *ioerr_suite(void)
{
    Suite *s = suite_create("ioerr");
    TCase *tc = tcase_create("ioerr");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, t_discovery_counts_posix_points);
    tcase_add_loop_test(tc, t_errors_exit_4_and_recover, 0, 5);
    tcase_add_test(tc, t_short_writes);
    tcase_add_test(tc, t_sink_commit_error_ignored_is_caught);
    suite_add_tcase(s, tc);
    return s;
}
