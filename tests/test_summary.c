/*
 * test_summary.c - the end-of-scenario summary groups failing trials:
 * the same verdict, fault kind, fail point and first differing row are one
 * group, printed once with its count, its trials and one reproducer; past
 * ten groups the rest is one line per fail point.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hn_progress.h"

static hn_failure *add(hn_scenario_result *r, const char *spec, int verdict, const char *tbl,
                       int64_t line, const char *expected)
{
    hn_failure *f = &r->failures[r->nkept++];
    memset(f, 0, sizeof *f);
    snprintf(f->spec, sizeof f->spec, "%s", spec);
    f->verdict = verdict;
    snprintf(f->detail, sizeof f->detail, "detail of %s", spec);
    if (tbl) {
        snprintf(f->div.tbl, sizeof f->div.tbl, "%s", tbl);
        f->div.line = line;
        snprintf(f->div.expected, sizeof f->div.expected, "%s", expected);
        snprintf(f->div.actual, sizeof f->div.actual, "other");
    }
    r->nfailures++;
    return f;
}

static char *summary(const hn_scenario *sc, const hn_scenario_result *r)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    ck_assert_ptr_nonnull(f);
    hn_prog_summary(f, sc, r);
    fclose(f);
    return buf;
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what))
        n++;
    return n;
}

START_TEST(same_point_and_row_is_one_group)
{
    static hn_scenario sc;
    static hn_scenario_result r;
    static hn_failure fs[16];
    char *out;
    memset(&r, 0, sizeof r);
    snprintf(sc.name, sizeof sc.name, "x");
    snprintf(sc.path, sizeof sc.path, "scenarios/x.ini");
    r.verdict = HN_SC_FAILED;
    r.failures = fs;
    add(&r, "ckpt/done/after:3", HN_V_DIVERGED, "bars", 6, "row six");
    add(&r, "sink/commit/after:1", HN_V_CONFLICT, NULL, 0, NULL);
    add(&r, "ckpt/done/after:5", HN_V_DIVERGED, "bars", 6, "row six");
    add(&r, "ckpt/done/after:9", HN_V_DIVERGED, "bars", 7, "row seven"); /* another row */
    add(&r, "ckpt/done/after:11", HN_V_DIVERGED, "bars", 6, "row six");
    add(&r, "sink/commit/after:4", HN_V_CONFLICT, NULL, 0, NULL);
    add(&r, "ckpt/fsync/after:5", HN_V_DIVERGED, "bars", 6, "row six"); /* another point */
    out = summary(&sc, &r);
    ck_assert_msg(strstr(out, "7 failing trials in 4 groups") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "[1] 3 x diverged, kill at ckpt/done/after: detail of "
                              "ckpt/done/after:3\n") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "trials: ckpt/done/after:3, ckpt/done/after:5, "
                              "ckpt/done/after:11\n") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "[2] 2 x conflict, kill at sink/commit/after") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "[3] 1 x diverged, kill at ckpt/done/after") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "[4] 1 x diverged, kill at ckpt/fsync/after") != NULL, "%s", out);
    ck_assert_int_eq(
        count(out, "reproduce: " RP_BINDIR "/replayproof replay scenarios/x.ini --trial "), 4);
    ck_assert(strstr(out, "--trial ckpt/done/after:5") == NULL); /* one per group */
    free(out);
}
END_TEST

START_TEST(groups_past_ten_are_one_line)
{
    static hn_scenario sc;
    static hn_scenario_result r;
    static hn_failure fs[16];
    char *out;
    memset(&r, 0, sizeof r);
    snprintf(sc.name, sizeof sc.name, "x");
    snprintf(sc.path, sizeof sc.path, "x.ini");
    r.failures = fs;
    for (int i = 0; i < 14; i++) {
        char spec[64], row[16];
        snprintf(spec, sizeof spec, "%s:%d", i % 2 ? "ckpt/done/after" : "sink/commit/before",
                 i + 1);
        snprintf(row, sizeof row, "row %d", i);
        add(&r, spec, HN_V_DIVERGED, "late", i + 2, row);
    }
    r.nfailures = 20; /* six more than were kept */
    out = summary(&sc, &r);
    ck_assert_msg(strstr(out, "14 failing trials in 14 groups") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "[10] ") != NULL && strstr(out, "[11] ") == NULL, "%s", out);
    ck_assert_msg(strstr(out, "4 more groups (all in the results database), by fail point:\n"
                              "   ... 2 groups (2 trials), kill at sink/commit/before, e.g.: "
                              RP_BINDIR "/replayproof replay x.ini --trial sink/commit/before:11\n"
                              "   ... 2 groups (2 trials), kill at ckpt/done/after, e.g.: "
                              RP_BINDIR "/replayproof replay x.ini --trial ckpt/done/after:12\n") != NULL,
                  "%s", out);
    ck_assert_msg(strstr(out, "(6 more failing trials not grouped") != NULL, "%s", out);
    free(out);
}
END_TEST

Suite *summary_suite(void)
{
    Suite *s = suite_create("summary");
    TCase *tc = tcase_create("summary");
    tcase_add_test(tc, same_point_and_row_is_one_group);
    tcase_add_test(tc, groups_past_ten_are_one_line);
    suite_add_tcase(s, tc);
    return s;
}
