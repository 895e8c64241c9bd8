/*
 * check_main.c - the Check runner.  Every Check suite file in tests/ that defines
 * `Suite *NAME_suite(void)` is registered here through the generated
 * suites.h.  CK_RUN_SUITE / CK_RUN_CASE select a subset (Check's own
 * environment variables); RP_XML=path writes Check's XML log.
 */
#include <check.h>
#include <stdlib.h>

#define RP_SUITE(n) Suite *n##_suite(void);
#include "suites.h"
#undef RP_SUITE

int main(void)
{
    SRunner *sr = srunner_create(NULL);
    int failed;
    const char *xml = getenv("RP_XML");

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
