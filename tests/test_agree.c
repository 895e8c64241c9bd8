/*
 * test_agree.c - end-to-end agreement: `refpipe run` + `refpipe export`
 * must equal the independent `refpipe batch` recomputation byte for byte,
 * across generated logs (seeds, partition counts, disorder, skew, stalls,
 * poison, several aggregations, B = 0, I = 0), and must not depend on the
 * checkpoint interval.  Everything goes through the real binaries.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tutil.h"

typedef struct agree_case {
    const char *gen;  /* replayproof gen options */
    const char *opts; /* refpipe run / batch options */
} agree_case;

#define AGG5 "--agg 1s=tumbling:1s --agg sl=sliding:10s:3s --agg t7=ticks:7 " \
             "--agg v=volume:5000 --agg d=dollar:250000"

static const agree_case cases[] = {
    { "--seed 1 --partitions 1 --symbols 5 --ticks 3000", "--agg 1m=tumbling:1m" },
    { "--seed 2 --partitions 4 --symbols 20 --ticks 8000 --disorder 800ms", AGG5 },
    { "--seed 3 --partitions 8 --symbols 50 --ticks 12000 --disorder 1s --skew 300ms "
      "--producers 3", AGG5 " --max-delay 0" },
    { "--seed 4 --partitions 4 --symbols 10 --ticks 8000 --stalls 3 --stall-len 15s "
      "--disorder 200ms", AGG5 " --idle-timeout 0" },
    { "--seed 5 --partitions 4 --symbols 10 --ticks 8000 --stalls 3 --stall-len 15s "
      "--disorder 200ms", AGG5 " --idle-timeout 2s --max-delay 100ms" },
    { "--seed 6 --partitions 3 --symbols 8 --ticks 6000 --poison-frac 0.02 --dup-frac 0.05 "
      "--boundary-frac 0.05 --late-frac 0.01", AGG5 " --max-delay 0 --idle-timeout 0" },
    { "--seed 7 --partitions 16 --symbols 30 --ticks 10000 --disorder 2s --skew 1s "
      "--late-frac 0.02", "--agg 5s=tumbling:5s --agg sl=sliding:2s:5s --max-delay 50ms" },
    /* more partitions than a power of two and than any small-P special case */
    { "--seed 9 --partitions 40 --symbols 60 --ticks 12000 --disorder 1s --skew 200ms "
      "--stalls 4 --stall-len 5s", "--agg 10s=tumbling:10s --agg t5=ticks:5 --max-delay 200ms "
      "--idle-timeout 2s" },
    { "--seed 8 --partitions 2 --symbols 3 --ticks 5000 --boundary-frac 0.2 --dup-frac 0.2",
      "--agg 1s=tumbling:1s --agg w=sliding:1s:1s --agg t1=ticks:1 --max-delay 1ms" },
};

#define NCASES ((int)(sizeof cases / sizeof cases[0]))

static int files_equal(const char *a, const char *b)
{
    size_t la, lb;
    char *x = tu_slurp(a, &la), *y = tu_slurp(b, &lb);
    int eq = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return eq;
}

static void check_agree(const char *dir, const char *expdir, const char *batchdir)
{
    static const char *tables[] = { "bars.csv", "late.csv", "dlq.csv" };
    for (int i = 0; i < 3; i++) {
        char a[4096], b[4096];
        snprintf(a, sizeof a, "%s/%s/%s", dir, expdir, tables[i]);
        snprintf(b, sizeof b, "%s/%s/%s", dir, batchdir, tables[i]);
        ck_assert_msg(files_equal(a, b), "%s: streaming and batch differ (diff %s %s)", dir, a, b);
    }
}

/* gen + import into dir/log; returns 0 */
static void make_log(const char *dir, const char *gen)
{
    ck_assert_int_eq(tu_sh("%s gen %s %s/in.csv", tu_bin("replayproof"), gen, dir), 0);
    ck_assert_int_eq(tu_sh("%s import %s/in.csv %s/log 2>/dev/null", tu_bin("refpipe"), dir, dir), 0);
}

START_TEST(streaming_equals_batch)
{
    const agree_case *c = &cases[_i];
    char *dir = tu_tmpdir();
    make_log(dir, c->gen);
    ck_assert_int_eq(tu_sh("%s run %s/log %s/state --quiet --checkpoint-every 997 %s",
                           tu_bin("refpipe"), dir, dir, c->opts), 0);
    ck_assert_int_eq(tu_sh("%s export %s/state %s/exp >/dev/null", tu_bin("refpipe"), dir, dir), 0);
    ck_assert_int_eq(tu_sh("%s batch %s/log %s/bat %s >/dev/null", tu_bin("refpipe"), dir, dir,
                           c->opts), 0);
    check_agree(dir, "exp", "bat");
    {
        /* the tables are not trivially empty */
        char p[4096];
        size_t n;
        char *bars;
        snprintf(p, sizeof p, "%s/exp/bars.csv", dir);
        bars = tu_slurp(p, &n);
        ck_assert_ptr_nonnull(bars);
        ck_assert_msg(strchr(bars, '\n') && strchr(bars, '\n')[1] != 0, "%s: no bars", dir);
        free(bars);
    }
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* SPEC 5.4: the checkpoint interval changes when results appear, not what they are. */
START_TEST(checkpoint_interval_does_not_matter)
{
    char *dir = tu_tmpdir();
    make_log(dir, cases[2].gen);
    ck_assert_int_eq(tu_sh("%s run %s/log %s/s1 --quiet --checkpoint-every 1 %s",
                           tu_bin("refpipe"), dir, dir, AGG5), 0);
    ck_assert_int_eq(tu_sh("%s run %s/log %s/s2 --quiet %s", tu_bin("refpipe"), dir, dir, AGG5), 0);
    ck_assert_int_eq(tu_sh("%s export %s/s1 %s/e1 > %s/d1", tu_bin("refpipe"), dir, dir, dir), 0);
    ck_assert_int_eq(tu_sh("%s export %s/s2 %s/e2 > %s/d2", tu_bin("refpipe"), dir, dir, dir), 0);
    ck_assert_int_eq(tu_sh("cmp -s %s/d1 %s/d2", dir, dir), 0);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* Determinism: two independent runs on the same input give identical digests,
 * and a second run on a completed state dir is a no-op. */
START_TEST(determinism_and_rerun)
{
    char *dir = tu_tmpdir();
    make_log(dir, cases[1].gen);
    ck_assert_int_eq(tu_sh("%s run %s/log %s/a --quiet %s", tu_bin("refpipe"), dir, dir, AGG5), 0);
    ck_assert_int_eq(tu_sh("%s run %s/log %s/b --quiet %s", tu_bin("refpipe"), dir, dir, AGG5), 0);
    ck_assert_int_eq(tu_sh("%s export %s/a %s/ea > %s/da", tu_bin("refpipe"), dir, dir, dir), 0);
    ck_assert_int_eq(tu_sh("%s export %s/b %s/eb > %s/db", tu_bin("refpipe"), dir, dir, dir), 0);
    ck_assert_int_eq(tu_sh("cmp -s %s/da %s/db", dir, dir), 0);
    ck_assert_int_eq(tu_sh("%s run %s/log %s/a %s 2> %s/rerun.err", tu_bin("refpipe"), dir, dir,
                           AGG5, dir), 0);
    ck_assert_int_eq(tu_sh("grep -q 'completed run' %s/rerun.err", dir), 0);
    ck_assert_int_eq(tu_sh("%s export %s/a %s/ea2 > %s/da2", tu_bin("refpipe"), dir, dir, dir), 0);
    ck_assert_int_eq(tu_sh("cmp -s %s/da %s/da2", dir, dir), 0);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* The exported digests are XXH3-128 of the files, as xxhsum -H2 prints them (its stderr,
 * a progress line drawn with CRs, is discarded: it littered the test output). */
START_TEST(digests_match_xxhsum)
{
    char *dir;
    /* make deps installs xxhash: a missing tool is a broken set-up, not a pass */
    ck_assert_msg(tu_sh("command -v xxhsum >/dev/null") == 0, "xxhsum not installed");
    dir = tu_tmpdir();
    make_log(dir, cases[0].gen);
    ck_assert_int_eq(tu_sh("%s run %s/log %s/s --quiet", tu_bin("refpipe"), dir, dir), 0);
    ck_assert_int_eq(tu_sh("%s export %s/s %s/e > %s/d", tu_bin("refpipe"), dir, dir, dir), 0);
    ck_assert_int_eq(tu_sh("cd %s/e && for f in bars.csv late.csv dlq.csv; do "
                           "h=$(xxhsum -H2 $f 2>/dev/null | cut -d' ' -f1); grep -q \"^$h  $f\" ../d || exit 1; "
                           "done", dir), 0);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

Suite *agree_suite(void)
{
    Suite *s = suite_create("agree");
    TCase *tc = tcase_create("agree");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, streaming_equals_batch, 0, NCASES);
    tcase_add_test(tc, checkpoint_interval_does_not_matter);
    tcase_add_test(tc, determinism_and_rerun);
    tcase_add_test(tc, digests_match_xxhsum);
    suite_add_tcase(s, tc);
    return s;
}
