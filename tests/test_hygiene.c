/*
 * test_hygiene.c - what the project leaves behind and prints around its
 * results: the test runner honours CK_VERBOSITY; the README's first
 * example keeps its files under out/.
 * The tests run from the repository root, as `make check-run` runs them.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tutil.h"

/* CK_VERBOSITY=silent: nothing on stdout (CK_NORMAL was hard-wired). */
START_TEST(runner_honours_ck_verbosity)
{
    char *dir = tu_tmpdir();
    char p[4200];
    size_t n = 1;
    char *out;
    ck_assert_int_eq(tu_sh("CK_VERBOSITY=silent CK_RUN_SUITE=config '%s' > %s/out 2>&1",
                           tu_bin("rp-tests"), dir), 0);
    snprintf(p, sizeof p, "%s/out", dir);
    out = tu_slurp(p, &n);
    ck_assert_ptr_nonnull(out);
    ck_assert_msg(n == 0, "silent runner printed: %s", out);
    free(out);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/*
 * The README's first example, as written but for a shorter workload, run
 * in a scratch copy of the repository layout: afterwards only bin/ and out/
 * may exist there (it left a 37 MB CSV and three directories in the root).
 */
START_TEST(readme_example_stays_under_out)
{
    char *dir = tu_tmpdir();
    char bindir[4200];
    snprintf(bindir, sizeof bindir, "%s", tu_bin(""));
    bindir[strlen(bindir) - 1] = 0; /* the trailing '/' */
    ck_assert_int_eq(tu_sh("awk '/^## A first example/{f=1} f&&/^```sh/{b=1;next} b&&/^```/{exit} "
                           "b' README.md | grep -v '^make$' | sed 's/--duration 5m/--duration 5s/' "
                           "> %s/example.sh && grep -q 'refpipe import' %s/example.sh", dir, dir),
                     0);
    ck_assert_int_eq(tu_sh("cd %s && ln -s '%s' bin && sh -e example.sh > log 2>&1", dir, bindir),
                     0);
    ck_assert_int_eq(tu_sh("cd %s && test \"$(ls | sort | tr '\\n' ' ')\" = "
                           "'bin example.sh log out '", dir), 0);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

Suite *hygiene_suite(void)
{
    Suite *s = suite_create("hygiene");
    TCase *tc = tcase_create("hygiene");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, runner_honours_ck_verbosity);
    tcase_add_test(tc, readme_example_stays_under_out);
    suite_add_tcase(s, tc);
    return s;
}
