/*
 * test_xform.c - Check suite `xform`: seeded transforms of a CSV log
 * (harness/xform.c).  Each transform is checked against the input read back
 * independently: skew is one constant shift per partition, disorder delays
 * stay within their bound and their bursts, stalls only hold records back
 * to a stall's end, poison hits exactly the asked share with every reason;
 * envelopes stay importable; the same seed gives the same bytes.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hn_gen.h"
#include "hn_scenario.h"
#include "hn_xform.h"
#include "pl_payload.h"
#include "tutil.h"

typedef struct row {
    long part;
    int64_t ingest;
    char pl[128];
    int valid;
    pl_tick tk;
} row;

/* Read a CSV written with a header into rows (test-side parser). */
static row *load(const char *path, size_t *n)
{
    size_t len, cap = 256, k = 0;
    char *buf = tu_slurp(path, &len), *p, *save = NULL;
    row *r = malloc(cap * sizeof *r);
    ck_assert(buf && r);
    p = strtok_r(buf, "\n", &save); /* header */
    ck_assert_str_eq(p, "partition,ingest_ns,event_ns,symbol,price,qty");
    while ((p = strtok_r(NULL, "\n", &save)) != NULL) {
        char *c1 = strchr(p, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        ck_assert(c2 != NULL);
        if (k == cap)
            r = realloc(r, (cap *= 2) * sizeof *r);
        r[k].part = strtol(p, NULL, 10);
        r[k].ingest = strtoll(c1 + 1, NULL, 10);
        snprintf(r[k].pl, sizeof r[k].pl, "%s", c2 + 1);
        k++;
    }
    /* parsed once the array stops moving: tk.sym points into pl */
    for (size_t i = 0; i < k; i++)
        r[i].valid = pl_payload_parse((const uint8_t *)r[i].pl, strlen(r[i].pl), &r[i].tk) ==
                     PL_VALID;
    free(buf);
    *n = k;
    return r;
}

static char *dir;

static void setup(void)
{
    hn_gen_opts o;
    pl_errbuf eb = {{0}};
    char p[4096];
    dir = tu_tmpdir();
    hn_gen_defaults(&o);
    ck_assert_int_eq(hn_gen_parse_opt(&o, "ticks", "4000", &eb), 0);
    ck_assert_int_eq(hn_gen_parse_opt(&o, "partitions", "4", &eb), 0);
    ck_assert_int_eq(hn_gen_parse_opt(&o, "duration", "20s", &eb), 0);
    ck_assert_int_eq(hn_gen_parse_opt(&o, "poison-frac", "0", &eb), 0);
    snprintf(p, sizeof p, "%s/in.csv", dir);
    ck_assert_int_eq(hn_gen_write_path(&o, p, NULL, &eb), 0);
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
}

static row *apply(const hn_xform *x, const char *name, size_t *n, hn_xform_stats *st)
{
    char in[4096], out[4096];
    pl_errbuf eb = {{0}};
    snprintf(in, sizeof in, "%s/in.csv", dir);
    snprintf(out, sizeof out, "%s/%s", dir, name);
    ck_assert_msg(hn_xform_csv(x, in, out, st, &eb) == 0, "%s", eb.msg);
    return load(out, n);
}

/* Canonical order, and each partition's records in their input order. */
static void check_envelopes(const row *in, size_t n, const row *out, size_t m)
{
    ck_assert_uint_eq(n, m);
    for (size_t i = 1; i < m; i++)
        ck_assert(out[i - 1].ingest < out[i].ingest ||
                  (out[i - 1].ingest == out[i].ingest && out[i - 1].part <= out[i].part));
    for (long p = 0; p < 4; p++) {
        size_t a = 0, b = 0;
        for (;;) {
            while (a < n && in[a].part != p)
                a++;
            while (b < m && out[b].part != p)
                b++;
            if (a == n || b == m)
                break;
            /* same record: same symbol when both valid */
            if (in[a].valid && out[b].valid)
                ck_assert(in[a].tk.sym_len == out[b].tk.sym_len &&
                          !memcmp(in[a].tk.sym, out[b].tk.sym, in[a].tk.sym_len));
            ck_assert(out[b].ingest >= in[a].ingest);
            a++, b++;
        }
        ck_assert(a == n && b == m);
    }
}

START_TEST(t_same_seed_same_bytes)
{
    hn_xform x;
    hn_xform_stats st;
    size_t n;
    char a[4096], b[4096], c[4096];
    hn_xform_init(&x);
    x.seed = 3;
    x.skew = 5000000, x.set |= HN_XF_SKEW;
    x.disorder = 100000000, x.set |= HN_XF_DISORDER;
    x.stalls = 2, x.set |= HN_XF_STALLS;
    x.poison_ppm = 2000, x.set |= HN_XF_POISON;
    free(apply(&x, "a.csv", &n, &st));
    free(apply(&x, "b.csv", &n, &st));
    x.seed = 4;
    free(apply(&x, "c.csv", &n, &st));
    snprintf(a, sizeof a, "%s/a.csv", dir);
    snprintf(b, sizeof b, "%s/b.csv", dir);
    snprintf(c, sizeof c, "%s/c.csv", dir);
    ck_assert_int_eq(tu_sh("cmp -s '%s' '%s'", a, b), 0);
    ck_assert_int_ne(tu_sh("cmp -s '%s' '%s'", a, c), 0);
    ck_assert_int_eq(tu_sh("'%s' import '%s' '%s/log' 2>/dev/null", tu_bin("refpipe"), a, dir),
                     0);
}
END_TEST

START_TEST(t_skew_is_one_shift_per_partition)
{
    hn_xform x;
    hn_xform_stats st;
    size_t n, m;
    row *in, *out;
    int64_t shift[4];
    int have[4] = {0}, distinct = 0;
    char p[4096];
    snprintf(p, sizeof p, "%s/in.csv", dir);
    in = load(p, &n);
    hn_xform_init(&x);
    x.skew = 7000000, x.set |= HN_XF_SKEW;
    out = apply(&x, "s.csv", &m, &st);
    check_envelopes(in, n, out, m);
    /* no stalls: the output order is the input order */
    for (size_t i = 0; i < n; i++) {
        int64_t d = in[i].tk.t - out[i].tk.t;
        ck_assert(in[i].valid && out[i].valid);
        ck_assert_int_eq(out[i].ingest, in[i].ingest);
        if (!have[in[i].part]) {
            have[in[i].part] = 1;
            shift[in[i].part] = d;
        }
        ck_assert_int_eq(d, shift[in[i].part]);
        ck_assert(d >= -7000000 && d <= 7000000);
    }
    for (int a = 0; a < 4; a++)
        for (int b = a + 1; b < 4; b++)
            distinct += shift[a] != shift[b];
    ck_assert_int_gt(distinct, 0);
    ck_assert_int_gt(st.skewed, 0);
    free(in);
    free(out);
}
END_TEST

START_TEST(t_disorder_within_bursts)
{
    hn_xform x;
    hn_xform_stats st;
    size_t n, m, delayed = 0;
    row *in, *out;
    char p[4096];
    snprintf(p, sizeof p, "%s/in.csv", dir);
    in = load(p, &n);
    hn_xform_init(&x);
    x.disorder = 400000000, x.set |= HN_XF_DISORDER;
    x.bursts = 2;
    x.burst_len = 2000000000;
    out = apply(&x, "d.csv", &m, &st);
    check_envelopes(in, n, out, m);
    for (size_t i = 0; i < n; i++) {
        int64_t d = in[i].tk.t - out[i].tk.t;
        ck_assert(d >= 0 && d <= 400000000);
        delayed += d > 0;
    }
    /* two 2 s bursts of a 20 s log: some records, at most about a fifth */
    ck_assert_uint_gt(delayed, 0);
    ck_assert_uint_lt(delayed, n / 4);
    ck_assert_int_eq((int64_t)delayed, st.delayed);
    free(in);
    free(out);
}
END_TEST

START_TEST(t_stalls_hold_back)
{
    hn_xform x;
    hn_xform_stats st;
    size_t n, m;
    row *in, *out;
    char p[4096];
    snprintf(p, sizeof p, "%s/in.csv", dir);
    in = load(p, &n);
    hn_xform_init(&x);
    x.stalls = 3, x.set |= HN_XF_STALLS;
    x.stall_len = 1500000000;
    out = apply(&x, "t.csv", &m, &st);
    check_envelopes(in, n, out, m);
    ck_assert_int_gt(st.held, 0);
    {
        /* held records are moved to a stall's end: by less than its length,
         * and the moved records of a partition share few distinct times */
        int64_t moved = 0;
        for (long q = 0; q < 4; q++) {
            size_t a = 0, b = 0;
            while (1) {
                while (a < n && in[a].part != q)
                    a++;
                while (b < m && out[b].part != q)
                    b++;
                if (a == n || b == m)
                    break;
                if (out[b].ingest != in[a].ingest) {
                    ck_assert(out[b].ingest - in[a].ingest <= 1500000000);
                    ck_assert_str_eq(out[b].pl, in[a].pl);
                    moved++;
                }
                a++, b++;
            }
        }
        ck_assert_int_eq(moved, st.held);
    }
    free(in);
    free(out);
}
END_TEST

START_TEST(t_poison_exact_every_reason)
{
    hn_xform x;
    hn_xform_stats st;
    size_t m, bad = 0, reasons[6] = {0};
    row *out;
    hn_xform_init(&x);
    x.poison_ppm = 2500, x.set |= HN_XF_POISON; /* 0.25% of 4000 = 10 */
    out = apply(&x, "p.csv", &m, &st);
    for (size_t i = 0; i < m; i++)
        if (!out[i].valid) {
            bad++;
            reasons[pl_payload_parse((const uint8_t *)out[i].pl, strlen(out[i].pl),
                                     &out[i].tk)]++;
        }
    ck_assert_uint_eq(bad, 10);
    ck_assert_int_eq(st.poisoned, 10);
    for (int k = 1; k <= 5; k++)
        ck_assert_uint_eq(reasons[k], 2);
    free(out);
}
END_TEST

START_TEST(t_describe)
{
    hn_xform x;
    char b[256];
    hn_xform_init(&x);
    ck_assert(!hn_xform_active(&x));
    x.seed = 9;
    x.skew = 5000000, x.set |= HN_XF_SKEW;
    x.disorder = 1000000000, x.bursts = 3, x.set |= HN_XF_DISORDER;
    x.stalls = 2, x.set |= HN_XF_STALLS;
    x.poison_ppm = 1500, x.set |= HN_XF_POISON;
    ck_assert(hn_xform_active(&x));
    hn_xform_describe(&x, b, sizeof b);
    ck_assert_str_eq(b, "seed=9 skew=5ms disorder=1s bursts=3x1s stalls=2x5s "
                        "poison-frac=0.0015");
}
END_TEST

/* Scenario keys: the transform keys go with csv; generator-only keys do not. */
START_TEST(t_scenario_keys)
{
    hn_scenario *sc = calloc(1, sizeof *sc);
    pl_errbuf eb;
    char p[4096], text[1024];
    const char *tail = "[pipeline]\n[faults]\n";
    ck_assert_ptr_nonnull(sc);
    snprintf(p, sizeof p, "%s/s.ini", dir);
    snprintf(text, sizeof text, "[scenario]\n[workload]\nskew = 3ms\ncsv = in.csv\nseed = 4\n"
             "disorder = 50ms\nbursts = 2\nburst-len = 500ms\nstalls = 1\npoison-frac = 0.1%%\n"
             "%s", tail);
    tu_write(p, text);
    memset(&eb, 0, sizeof eb);
    ck_assert_msg(hn_scenario_load(p, sc, &eb) == 0, "%s", eb.msg);
    ck_assert(sc->use_csv);
    ck_assert_uint_eq(sc->xform.seed, 4);
    ck_assert_int_eq(sc->xform.skew, 3000000);
    ck_assert_int_eq(sc->xform.disorder, 50000000);
    ck_assert_int_eq(sc->xform.bursts, 2);
    ck_assert_int_eq(sc->xform.burst_len, 500000000);
    ck_assert_int_eq(sc->xform.stalls, 1);
    ck_assert_int_eq(sc->xform.poison_ppm, 1000);
    ck_assert_uint_eq(sc->xform.set, HN_XF_SKEW | HN_XF_DISORDER | HN_XF_STALLS | HN_XF_POISON);
    snprintf(text, sizeof text, "[scenario]\n[workload]\ncsv = in.csv\n%s", tail);
    tu_write(p, text);
    ck_assert_int_eq(hn_scenario_load(p, sc, &eb), 0);
    ck_assert(!hn_xform_active(&sc->xform));
    snprintf(text, sizeof text, "[scenario]\n[workload]\ncsv = in.csv\nticks = 5\n%s", tail);
    tu_write(p, text);
    ck_assert_int_eq(hn_scenario_load(p, sc, &eb), PL_EUSAGE);
    ck_assert(strstr(eb.msg, "ticks") != NULL);
    snprintf(text, sizeof text, "[scenario]\n[workload]\nticks = 5\nbursts = 2\n%s", tail);
    tu_write(p, text);
    ck_assert_int_eq(hn_scenario_load(p, sc, &eb), PL_EUSAGE);
    ck_assert(strstr(eb.msg, "csv log only") != NULL);
    snprintf(text, sizeof text, "[scenario]\n[workload]\ncsv = in.csv\nbursts = 2\n%s", tail);
    tu_write(p, text);
    ck_assert_int_eq(hn_scenario_load(p, sc, &eb), PL_EUSAGE);
    ck_assert(strstr(eb.msg, "disorder") != NULL);
    free(sc);
}
END_TEST

/* A run records the transform with the scenario and shows it. */
START_TEST(t_run_records_transform)
{
    char p[4096], text[1024];
    snprintf(p, sizeof p, "%s/r.ini", dir);
    snprintf(text, sizeof text,
             "[scenario]\nname = xr\n[workload]\ncsv = in.csv\nseed = 2\nskew = 2ms\n"
             "stalls = 1\nstall-len = 1s\npoison-frac = 0.2%%\n[pipeline]\ncheckpoint-every = 400\n"
             "[faults]\npoints = ckpt/done/after\nbudget = 2\n");
    tu_write(p, text);
    ck_assert_int_eq(tu_sh("'%s' run -q --results '%s/r.db' --workdir '%s' '%s' > '%s/out' 2>&1",
                           tu_bin("replayproof"), dir, dir, p, dir), 0);
    ck_assert_int_eq(tu_sh("grep -q 'transformed: seed=2 skew=2ms stalls=1x1s "
                           "poison-frac=0.002' '%s/out'", dir), 0);
    ck_assert_int_eq(tu_sh("test \"$(sqlite3 '%s/r.db' \"SELECT workload FROM scenarios\")\" = "
                           "'seed=2 skew=2ms stalls=1x1s poison-frac=0.002'", dir), 0);
}
END_TEST

Suite *xform_suite(void)
{
    Suite *s = suite_create("xform");
    TCase *tc = tcase_create("xform");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_same_seed_same_bytes);
    tcase_add_test(tc, t_skew_is_one_shift_per_partition);
    tcase_add_test(tc, t_disorder_within_bursts);
    tcase_add_test(tc, t_stalls_hold_back);
    tcase_add_test(tc, t_poison_exact_every_reason);
    tcase_add_test(tc, t_describe);
    tcase_add_test(tc, t_scenario_keys);
    tcase_add_test(tc, t_run_records_transform);
    suite_add_tcase(s, tc);
    return s;
}
