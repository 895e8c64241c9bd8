/*
 * check_main.c - the Check runner.  Every Check suite file in tests/ that defines
 * `Suite *NAME_suite(void)` is registered here through the generated
 * suites.h.  CK_RUN_SUITE / CK_RUN_CASE select a subset (Check's own
 * environment variables); RP_XML=path writes Check's XML log.  `rp-tests
 * --list` prints the suite names, one a line (scripts/check.sh runs them
 * as parallel processes).
 *
 * Scratch space: every test makes its dirs under two roots this runner
 * creates, one under $TMPDIR (or /tmp) and one under /dev/shm, and removes
 * after the run.  A test that fails in the middle ends its process before
 * its own clean-up, so removing the roots is what keeps a failed run from
 * leaving rptest dirs behind.
 */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RP_SUITE(n) Suite *n##_suite(void);
#include "suites.h"
#undef RP_SUITE

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

/* Make a scratch root TEMPLATE (mkdtemp) and export it as VAR; 0 or -1. */
static int root_open(char *tmpl, const char *var)
{
    if (!mkdtemp(tmpl))
        return -1;
    return setenv(var, tmpl, 1);
}

static void root_close(const char *root)
{
    if (root[0])
        nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(int argc, char **argv)
{
    SRunner *sr;
    int failed;
    const char *xml = getenv("RP_XML");
    const char *base = getenv("TMPDIR");
    char troot[PATH_MAX] = "", sroot[PATH_MAX] = "";

    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
#define RP_SUITE(n) puts(#n);
#include "suites.h"
#undef RP_SUITE
        return EXIT_SUCCESS;
    }
    if (argc > 1) {
        fprintf(stderr, "usage: rp-tests [--list] (CK_RUN_SUITE, CK_RUN_CASE select)\n");
        return 2;
    }
    snprintf(troot, sizeof troot, "%s/rptest-run.XXXXXX", base && *base ? base : "/tmp");
    if (root_open(troot, "TMPDIR") < 0) {
        fprintf(stderr, "rp-tests: cannot make a scratch dir %s: %m\n", troot);
        return 2;
    }
    if (access("/dev/shm", W_OK) == 0) {
        snprintf(sroot, sizeof sroot, "/dev/shm/rptest-run.XXXXXX");
        if (root_open(sroot, "RP_TEST_SHM") < 0)
            sroot[0] = '\0';
    }
    if (!sroot[0])
        unsetenv("RP_TEST_SHM");
    sr = srunner_create(NULL);

#define RP_SUITE(n) srunner_add_suite(sr, n##_suite());
#include "suites.h"
#undef RP_SUITE

    if (xml)
        srunner_set_xml(sr, xml);
    /* CK_ENV: CK_VERBOSITY (silent, minimal, normal, verbose) chooses; normal if unset */
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    root_close(troot);
    root_close(sroot);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
