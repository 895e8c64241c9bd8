/*
 * test_soak.c - scripts/soak.sh, the flakiness audit of `make soak`: two
 * runs of a small scenario with different -j and work dirs agree; a run
 * that behaves differently (a broken pipeline variant switched on for the
 * second run only) is reported with the difference.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "tutil.h"

#define TINY "[scenario]\nname = tiny\n[workload]\nseed = 3\npartitions = 2\nsymbols = 3\n" \
             "ticks = 600\nduration = 6s\n[pipeline]\nagg = 1s=tumbling:1s\n"             \
             "checkpoint-every = 100\n[faults]\npoints = sink/commit/*\nbudget = 6\n"

START_TEST(soak_agrees_and_catches_a_difference)
{
    char *dir = tu_tmpdir();
    char p[4200], bindir[4200];
    snprintf(p, sizeof p, "%s/tiny.ini", dir);
    tu_write(p, TINY);
    snprintf(bindir, sizeof bindir, "%s", tu_bin(""));
    ck_assert_int_eq(tu_sh("SOAK_N=2 SOAK_SCENARIOS='%s' SOAK_OUT='%s/soak' BIN='%s' "
                           "sh scripts/soak.sh > %s/out 2>&1", p, dir, bindir, dir), 0);
    ck_assert_int_eq(tu_sh("grep -q 'soak: 2 runs, verdicts, trial plans and digests "
                           "identical' %s/out", dir), 0);
    ck_assert_int_eq(tu_sh("grep -q '^trial|tiny|sink/commit/after:1|converged' "
                           "%s/soak/fp-2.txt", dir), 0);
    /* the second run's pipeline conflicts on replay: soak must say so */
    snprintf(p, sizeof p, "%s/bin/replayproof", dir);
    ck_assert_int_eq(tu_sh("mkdir %s/bin", dir), 0);
    tu_write(p, "#!/bin/sh\nd=$(dirname \"$0\")\n"
                "if [ -e \"$d/second\" ]; then export REFPIPE_UNSAFE=nondeterministic-replay; fi\n"
                "touch \"$d/second\"\n");
    ck_assert_int_eq(tu_sh("echo 'exec %sreplayproof \"$@\"' >> %s && chmod +x %s", bindir, p,
                           p), 0);
    ck_assert_int_eq(tu_sh("SOAK_N=2 SOAK_SCENARIOS='%s/tiny.ini' SOAK_OUT='%s/soak2' BIN='%s/bin' "
                           "sh scripts/soak.sh > %s/out2 2>&1", dir, dir, dir, dir), 1);
    ck_assert_int_eq(tu_sh("grep -q 'soak: run 2 (-j 2, .*) differs from run 1' %s/out2", dir), 0);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

Suite *soak_suite(void)
{
    Suite *s = suite_create("soak");
    TCase *tc = tcase_create("soak");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, soak_agrees_and_catches_a_difference);
    suite_add_tcase(s, tc);
    return s;
}
