/*
 * check_main.c - the Check runner.  Every Check suite file in tests/ that defines
 * `Suite *NAME_suite(void)` is registered here through the generated
 * suites.h.  CK_RUN_SUITE / CK_RUN_CASE select a subset (Check's own
 * environment variables); RP_XML=path writes Check's XML log.  `rp-tests
 * --list` prints the suite names, one a line (scripts/check.sh runs them
 * as parallel processes).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RP_SUITE(n) Suite *n##_suite(void);
#include "suites.h"
#undef RP_SUITE

int main(int argc, char **argv)
{
    SRunner *sr;
    int failed;
    const char *xml = getenv("RP_XML");

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
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
