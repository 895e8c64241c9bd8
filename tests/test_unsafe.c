/*
 * test_unsafe.c - the broken variants of the fault build (pl_unsafe.h) do
 * what their descriptions say, where they say it: each changes the export
 * (or makes the restart fail) in the situation it models, the restore-side
 * ones change nothing without a restart, and the plain build refuses every
 * one of them.  The kill matrix (`replayproof mutants`) relies on this: a
 * variant that changed nothing would be a survivor no scenario could catch.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tutil.h"

#define OPTS_BATCH "--agg 10s=tumbling:10s --agg t9=ticks:9 --agg v=volume:20000 " \
                   "--max-delay 300ms --idle-timeout 3s"
#define OPTS OPTS_BATCH " --checkpoint-every 250"
#define GEN "--seed 5 --partitions 3 --symbols 12 --duration 30s --rate 100 --disorder 500ms "   \
            "--skew 200ms " \
            "--producers 2 --stalls 2 --stall-len 8s --poison-frac 0.01 --late-frac 0.01 "   \
            "--dup-frac 0.05"

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir();
    tu_golden(dir, GEN, "--partitions 3", OPTS, OPTS_BATCH);
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
}

/* refpipe-fiu run on state dir st with variant v ("" none), crashed at
 * `crash` (NULL: not).  Returns the shell status (137: the crash). */
static int run_v(const char *st, const char *v, const char *crash)
{
    if (crash)
        return tu_sh("cd %s && REFPIPE_UNSAFE=%s RP_FIU_CRASH='%s' LD_PRELOAD=%s %s run log %s "
                     "--quiet " OPTS " 2>>%s/stderr.log",
                     dir, v, crash, tu_bin("rp-crash.so"), tu_bin("refpipe-fiu"), st, dir);
    return tu_sh("cd %s && REFPIPE_UNSAFE=%s %s run log %s --quiet " OPTS " 2>>%s/stderr.log", dir,
                 v, tu_bin("refpipe-fiu"), st, dir);
}

/* Export st; 1 when it fails (a sink conflict) or differs from the golden
 * run in table `tbl` ("bars", "late", "dlq", or NULL: any). */
static int differs(const char *st, const char *tbl)
{
    if (tu_sh("cd %s && rm -rf %s.exp && %s export %s %s.exp > %s.d 2>/dev/null", dir, st,
              tu_bin("refpipe"), st, st, st) != 0)
        return 1;
    if (!tbl)
        return tu_sh("cd %s && cmp -s golden.d %s.d", dir, st) != 0;
    return tu_sh("cd %s && cmp -s gexp/%s.csv %s.exp/%s.csv", dir, tbl, st, tbl) != 0;
}

/* Variants that change results in one uninterrupted run, and the table
 * where they must show. */
static const struct {
    const char *name, *tbl;
} direct[] = {
    { "float-vwap", "bars" },        /* rounding */
    { "wallclock-window", "bars" },  /* end_ns from the clock */
    { "watermark-max", "late" },     /* premature watermark: more late events */
    { "poison-retry", "dlq" },       /* dead letters dropped */
    { "wallclock-idleness", "late" }, /* stalled partitions never idle: fewer late */
};

START_TEST(direct_variant_changes_results)
{
    char st[32];
    snprintf(st, sizeof st, "d%d", _i);
    ck_assert_int_eq(run_v(st, direct[_i].name, NULL), 0);
    ck_assert_msg(differs(st, direct[_i].tbl), "%s: %s.csv unchanged", direct[_i].name,
                  direct[_i].tbl);
}
END_TEST

/* poison-retry drops the dead letters altogether, and only them. */
START_TEST(poison_retry_drops_dead_letters)
{
    ck_assert_int_eq(run_v("p", "poison-retry", NULL), 0);
    ck_assert(!differs("p", "bars"));
    ck_assert(!differs("p", "late"));
    ck_assert_int_eq(tu_sh("cd %s && test $(wc -l < p.exp/dlq.csv) -eq 1 && "
                           "test $(wc -l < gexp/dlq.csv) -gt 1", dir), 0);
}
END_TEST

/* Equal event times (dup-frac) come out in a random order: some run of
 * three differs from the golden one (each differs unless every shuffled
 * tie of differing prices fell back into place). */
START_TEST(unseeded_tiebreak_changes_bars)
{
    int changed = 0;
    for (int i = 0; i < 3 && !changed; i++) {
        char st[16];
        snprintf(st, sizeof st, "u%d", i);
        ck_assert_int_eq(run_v(st, "unseeded-tiebreak", NULL), 0);
        changed = differs(st, "bars");
    }
    ck_assert_msg(changed, "three runs with shuffled ties all equal the golden bars");
}
END_TEST

/* late-lt: an event exactly on W.  One partition, B = 0: after t = 1000,
 * W = 999, so t = 999 is late by the contract and on time for the variant. */
START_TEST(late_lt_lets_the_watermark_event_through)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/w.csv", dir);
    tu_write(path, "0,10,1000,AAA,1,1\n0,20,999,AAA,1,1\n0,30,5000,AAA,1,1\n");
    ck_assert_int_eq(tu_sh("cd %s && %s import w.csv wlog >/dev/null 2>&1", dir,
                           tu_bin("refpipe")), 0);
    for (int v = 0; v < 2; v++) {
        ck_assert_int_eq(tu_sh("cd %s && rm -rf w%d w%d.exp && REFPIPE_UNSAFE=%s %s run wlog w%d "
                               "--quiet --agg 1=tumbling:1us --max-delay 0 --idle-timeout 0 && "
                               "%s export w%d w%d.exp >/dev/null",
                               dir, v, v, v ? "late-lt" : "", tu_bin("refpipe-fiu"), v,
                               tu_bin("refpipe"), v, v), 0);
        ck_assert_int_eq(tu_sh("cd %s && test $(wc -l < w%d.exp/late.csv) -eq %d", dir, v,
                               v ? 1 : 2), 0);
    }
}
END_TEST

/* Variants on the checkpoint's way: harmless without a restart, visible
 * after one (at some checkpoint of the run). */
static const char *restore[] = {
    "reorder-buffer-not-saved", "idle-state-not-saved", "counters-reset-on-restore",
    "bar-seq-not-restored",
};

START_TEST(restore_variant_needs_a_restart)
{
    const char *v = restore[_i];
    int changed = 0;
    ck_assert_int_eq(run_v("n", v, NULL), 0);
    ck_assert_msg(!differs("n", NULL), "%s changes an uninterrupted run", v);
    for (int k = 2; k <= 12 && !changed; k++) {
        char st[16], crash[64];
        snprintf(st, sizeof st, "r%d", k);
        snprintf(crash, sizeof crash, "ckpt/done/after:%d", k);
        ck_assert_int_eq(run_v(st, v, crash), 137);
        ck_assert_int_eq(run_v(st, v, NULL), 0);
        changed = differs(st, NULL);
    }
    ck_assert_msg(changed, "%s: no restart from checkpoints 2..12 changed the export", v);
}
END_TEST

/* offset-off-by-one: the stored offsets no longer add up to the position,
 * and the restart refuses the checkpoint instead of reading a record twice. */
START_TEST(offset_off_by_one_refused_on_restart)
{
    ck_assert_int_eq(run_v("o", "offset-off-by-one", NULL), 0);
    ck_assert(!differs("o", NULL));
    ck_assert_int_eq(run_v("o2", "offset-off-by-one", "ckpt/done/after:4"), 137);
    ck_assert_int_ne(run_v("o2", "", NULL), 0);
    ck_assert_int_eq(tu_sh("grep -q 'do not add up' %s/stderr.log", dir), 0);
}
END_TEST

/* The plain build has no variants: every name listed by the fault build is
 * refused, with exit status 2. */
START_TEST(plain_build_refuses_every_variant)
{
    char path[4096], name[128];
    FILE *f;
    int n = 0;
    ck_assert_int_eq(tu_sh("%s unsafe > %s/names", tu_bin("refpipe-fiu"), dir), 0);
    snprintf(path, sizeof path, "%s/names", dir);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    while (fscanf(f, "%127s%*[^\n]", name) == 1) {
        n++;
        ck_assert_msg(tu_sh("cd %s && REFPIPE_UNSAFE=%s %s run log plain --quiet " OPTS
                            " 2>/dev/null", dir, name, tu_bin("refpipe")) == 2,
                      "plain refpipe accepted %s", name);
    }
    fclose(f);
    ck_assert_int_ge(n, 13);
}
END_TEST

Suite *unsafe_suite(void)
{
    Suite *s = suite_create("unsafe");
    TCase *tc = tcase_create("unsafe");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, direct_variant_changes_results, 0,
                        (int)(sizeof direct / sizeof direct[0]));
    tcase_add_test(tc, poison_retry_drops_dead_letters);
    tcase_add_test(tc, unseeded_tiebreak_changes_bars);
    tcase_add_test(tc, late_lt_lets_the_watermark_event_through);
    tcase_add_loop_test(tc, restore_variant_needs_a_restart, 0,
                        (int)(sizeof restore / sizeof restore[0]));
    tcase_add_test(tc, offset_off_by_one_refused_on_restart);
    tcase_add_test(tc, plain_build_refuses_every_variant);
    suite_add_tcase(s, tc);
    return s;
}
