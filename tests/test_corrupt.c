/*
 * test_corrupt.c - Check suite `corrupt`: harness/corrupt.c damages state
 * dirs as described, and refpipe restarted on each damaged dir either
 * converges to the uninterrupted run or refuses with one line (exit 2);
 * it never exports other bars with exit 0.
 *
 * The library cases work on made-up files; the recovery cases crash
 * refpipe-fiu with rp-crash.so mid-run, corrupt its state dir, restart it
 * until it completes and compare the export's digests with the golden run.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hn_corrupt.h"
#include "tutil.h"

#define OPTS_BATCH "--agg 10s=tumbling:10s --agg v=volume:20000 --max-delay 300ms " \
                   "--idle-timeout 3s"
#define OPTS OPTS_BATCH " --checkpoint-every 250"
#define GEN "--seed 5 --partitions 3 --symbols 12 --ticks 3000 --disorder 500ms " \
            "--poison-frac 0.01 --late-frac 0.01"

static char *dir;

/* ---------------------------------------------------------------- library */

static void put(const char *path, size_t n, unsigned char fill)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < n; i++)
        fputc(fill, f);
    ck_assert_int_eq(fclose(f), 0);
}

static long fsize(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Bytes of a and b that differ, and the xor of the first such pair. */
static long ndiff(const char *a, const char *b, unsigned *x)
{
    size_t la, lb;
    char *pa = tu_slurp(a, &la), *pb = tu_slurp(b, &lb);
    long d = 0;
    ck_assert(pa && pb && la == lb);
    for (size_t i = 0; i < la; i++)
        if (pa[i] != pb[i]) {
            if (!d)
                *x = (unsigned char)(pa[i] ^ pb[i]);
            d++;
        }
    free(pa);
    free(pb);
    return d;
}

START_TEST(t_kinds_on_files)
{
    char p[4096], q[4096], what[256];
    pl_errbuf eb = {{0}};
    unsigned x = 0;
    char *d = tu_tmpdir();

    /* no checkpoint, no sink: nothing to damage */
    ck_assert_int_eq(hn_corrupt_apply(d, HN_C_TRUNCATE, 1, NULL, what, sizeof what, &eb),
                     PL_ENOTFOUND);
    ck_assert_int_eq(hn_corrupt_apply(d, HN_C_SINK_BITFLIP, 1, NULL, what, sizeof what, &eb),
                     PL_ENOTFOUND);
    snprintf(p, sizeof p, "%s/ckpt-0000000000000009", d);
    put(p, 3000, 0x5a);
    snprintf(p, sizeof p, "%s/ckpt-000000000000000a", d); /* the newest: hex order */
    put(p, 3000, 0x5a);
    snprintf(q, sizeof q, "%s/ref", d);
    put(q, 3000, 0x5a);

    ck_assert_int_eq(hn_corrupt_apply(d, HN_C_BITFLIP, 7, NULL, what, sizeof what, &eb), 0);
    ck_assert_int_eq(ndiff(p, q, &x), 1);
    ck_assert_msg(x && !(x & (x - 1)), "not one bit: %#x", x);
    ck_assert(strstr(what, "ckpt-000000000000000a") != NULL);
    put(p, 3000, 0x5a);
    ck_assert_int_eq(hn_corrupt_apply(d, HN_C_ZERO_SECTOR, 7, NULL, what, sizeof what, &eb), 0);
    {
        long n = ndiff(p, q, &x);
        ck_assert_msg(n == 512 || n == 3000 % 512, "%ld bytes zeroed (%s)", n, what);
    }
    put(p, 3000, 0x5a);
    ck_assert_int_eq(hn_corrupt_apply(d, HN_C_TRUNCATE, 7, NULL, what, sizeof what, &eb), 0);
    ck_assert_int_lt(fsize(p), 3000);
    ck_assert_int_ge(fsize(p), 0);
    /* the same seed, the same damage */
    {
        long n1 = fsize(p);
        put(p, 3000, 0x5a);
        ck_assert_int_eq(hn_corrupt_apply(d, HN_C_TRUNCATE, 7, NULL, NULL, 0, &eb), 0);
        ck_assert_int_eq(fsize(p), n1);
    }
    ck_assert_int_eq(hn_corrupt_apply(d, HN_C_DELETE, 7, NULL, what, sizeof what, &eb), 0);
    ck_assert_int_eq(fsize(p), -1);
    snprintf(p, sizeof p, "%s/ckpt-0000000000000009", d);
    ck_assert_int_eq(fsize(p), 3000);

    /* sink: a page past the first (page size 4096 from the header) */
    snprintf(p, sizeof p, "%s/sink.db", d);
    {
        unsigned char hdr[4096] = {0};
        FILE *f = fopen(p, "wb");
        hdr[16] = 0x10; /* 4096 */
        ck_assert_ptr_nonnull(f);
        fwrite(hdr, 1, sizeof hdr, f);
        for (int i = 0; i < 3 * 4096; i++)
            fputc(0, f);
        ck_assert_int_eq(fclose(f), 0);
    }
    for (uint64_t seed = 0; seed < 20; seed++) {
        size_t n;
        char *b;
        long at = -1;
        ck_assert_int_eq(hn_corrupt_apply(d, HN_C_SINK_BITFLIP, seed, NULL, what,
                                          sizeof what, &eb), 0);
        b = tu_slurp(p, &n);
        ck_assert_int_eq(n, 4 * 4096);
        for (size_t i = 4096; i < n; i++)
            if (b[i]) {
                ck_assert_int_eq(at, -1);
                at = (long)i;
                b[i] = 0;
            }
        ck_assert_msg(at >= 4096, "seed %llu: no bit flipped past page 1 (%s)",
                      (unsigned long long)seed, what);
        tu_write(p, ""); /* rewrite the clean image */
        {
            FILE *f = fopen(p, "wb");
            b[16] = 0x10;
            fwrite(b, 1, n, f);
            fclose(f);
        }
        free(b);
    }

    /* foreign-config: the dir becomes a copy of the donor */
    ck_assert_int_eq(hn_corrupt_apply(d, HN_C_FOREIGN, 1, NULL, what, sizeof what, &eb),
                     PL_EUSAGE);
    {
        char donor[4096];
        snprintf(donor, sizeof donor, "%s/donor", d);
        ck_assert_int_eq(tu_sh("mkdir '%s' && echo x > '%s/ckpt-0000000000000001'", donor,
                               donor), 0);
        snprintf(p, sizeof p, "%s/sub", d);
        ck_assert_int_eq(tu_sh("mkdir '%s' && echo y > '%s/sink.db'", p, p), 0);
        ck_assert_int_eq(hn_corrupt_apply(p, HN_C_FOREIGN, 1, donor, what, sizeof what, &eb),
                         0);
        ck_assert_int_eq(tu_sh("cd '%s' && test ! -e sink.db && grep -qx x "
                               "ckpt-0000000000000001", p), 0);
    }
    tu_rmrf(d);
    free(d);
}
END_TEST

/* -------------------------------------------------------------- recovery */

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

/* Crash refpipe-fiu in state dir st at stream/event/after:k. */
static void crash_at(const char *st, int k)
{
    ck_assert_int_eq(tu_sh("cd %s && RP_FIU_CRASH=stream/event/after:%d LD_PRELOAD=%s %s run "
                           "log %s --quiet " OPTS " 2>/dev/null",
                           dir, k, tu_bin("rp-crash.so"), tu_bin("refpipe-fiu"), st), 137);
}

enum { CONVERGED = 0, REFUSED = 2, WRONG = 3 };

/*
 * Restart on st until a run exits 0 (then export: its digests must be the
 * golden ones) or a run refuses.  A refusal must be exit 2 or 4 with one
 * line; a completed run whose export differs fails the test: that is the
 * "wrong bars with exit 0" this suite exists to catch.  Returns CONVERGED
 * or REFUSED; *line gets the refusal.
 */
static int recover2(const char *st, const char *what, char *line, size_t ln, int allow_wrong)
{
    int rc = 0;
    for (int tries = 0; tries < 4; tries++) {
        rc = tu_sh("cd %s && %s run log %s --quiet " OPTS " 2> %s.err", dir,
                   tu_bin("refpipe-fiu"), st, st);
        if (rc == 0)
            break;
        if (rc == 2 || rc == 4) {
            char p[4096];
            size_t n;
            char *e;
            snprintf(p, sizeof p, "%s/%s.err", dir, st);
            e = tu_slurp(p, &n);
            ck_assert_ptr_nonnull(e);
            ck_assert_msg(n > 0 && memchr(e, '\n', n) == e + n - 1,
                          "%s: refusal (exit %d) is not one line: %s", what, rc, e);
            snprintf(line, ln, "%.*s", (int)(n - 1), e);
            free(e);
            if (rc == 2)
                return REFUSED;
            continue; /* an I/O failure: running again recovers */
        }
        ck_abort_msg("%s: restart exited %d", what, rc);
    }
    ck_assert_msg(rc == 0, "%s: no completion", what);
    rc = tu_sh("cd %s && %s export %s %s.exp > %s.d 2> %s.xerr", dir, tu_bin("refpipe"), st,
               st, st, st);
    if (rc != 0) {
        snprintf(line, ln, "export exited %d", rc);
        ck_assert_msg(rc == 1 || rc == 2, "%s: export exited %d", what, rc);
        return REFUSED;
    }
    if (allow_wrong && tu_sh("cd %s && cmp -s golden.d %s.d", dir, st) != 0)
        return WRONG;
    ck_assert_msg(tu_sh("cd %s && cmp -s golden.d %s.d", dir, st) == 0,
                  "%s: WRONG BARS WITH EXIT 0: export differs from the uninterrupted run "
                  "(%s/%s.exp)", what, dir, st);
    return CONVERGED;
}

static int recover(const char *st, const char *what, char *line, size_t ln)
{
    return recover2(st, what, line, ln, 0);
}

/* Every checkpoint kind, several seeds: converge or refuse, never wrong. */
START_TEST(t_ckpt_kinds_recover)
{
    static const int kinds[] = {HN_C_TRUNCATE, HN_C_BITFLIP, HN_C_ZERO_SECTOR, HN_C_DELETE};
    int conv = 0, refused = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (uint64_t seed = 1; seed <= 4; seed++) {
            char st[32], what[512], done[256], line[512];
            pl_errbuf eb = {{0}};
            snprintf(st, sizeof st, "s%d_%llu", kinds[k], (unsigned long long)seed);
            crash_at(st, 1100 + 300 * (int)seed);
            {
                char sd[4096];
                snprintf(sd, sizeof sd, "%s/%s", dir, st);
                ck_assert_int_eq(hn_corrupt_apply(sd, kinds[k], seed, NULL, done, sizeof done,
                                                  &eb), 0);
            }
            snprintf(what, sizeof what, "%s seed %llu (%s)", hn_corrupt_name(kinds[k]),
                     (unsigned long long)seed, done);
            if (recover(st, what, line, sizeof line) == CONVERGED)
                conv++;
            else
                refused++;
        }
    /* a damaged newest checkpoint is skipped for the one before it */
    ck_assert_int_eq(conv, 16);
    ck_assert_int_eq(refused, 0);
}
END_TEST

/* A state dir from another configuration: refused with one line, never
 * exported as if it were this run's. */
START_TEST(t_foreign_config_refused)
{
    char sd[4096], donor[4096], done[256], line[512];
    pl_errbuf eb = {{0}};
    ck_assert_int_eq(tu_sh("cd %s && RP_FIU_CRASH=stream/event/after:1500 LD_PRELOAD=%s %s run "
                           "log donor --quiet --agg x=ticks:5 --checkpoint-every 250 "
                           "2>/dev/null", dir, tu_bin("rp-crash.so"), tu_bin("refpipe-fiu")),
                     137);
    crash_at("f", 1200);
    snprintf(sd, sizeof sd, "%s/f", dir);
    snprintf(donor, sizeof donor, "%s/donor", dir);
    ck_assert_int_eq(hn_corrupt_apply(sd, HN_C_FOREIGN, 0, donor, done, sizeof done, &eb), 0);
    ck_assert_int_eq(recover("f", "foreign-config", line, sizeof line), REFUSED);
    ck_assert_msg(strstr(line, "another configuration") != NULL, "refusal: %s", line);
}
END_TEST

/*
 * One bit of a sink page flipped (sink.db or a WAL frame's page image),
 * many seeds.  SQLite keeps no page checksums, so a flip inside a row's
 * value can go unnoticed by the database; refpipe must then notice it
 * before exporting.  RP_SINK_FLIP_REPORT=1 prints each seed's outcome.
 */
START_TEST(t_sink_bitflip_never_silently_wrong)
{
    int n[4] = {0};
    const char *rep = getenv("RP_SINK_FLIP_REPORT");
    for (uint64_t seed = 1; seed <= 12; seed++) {
        char st[32], sd[4096], what[512], done[256], line[512] = "";
        pl_errbuf eb = {{0}};
        int o;
        snprintf(st, sizeof st, "k%llu", (unsigned long long)seed);
        crash_at(st, 2000);
        snprintf(sd, sizeof sd, "%s/%s", dir, st);
        ck_assert_int_eq(hn_corrupt_apply(sd, HN_C_SINK_BITFLIP, seed, NULL, done, sizeof done,
                                          &eb), 0);
        snprintf(what, sizeof what, "sink-bitflip seed %llu (%s)", (unsigned long long)seed,
                 done);
        o = recover2(st, what, line, sizeof line, 1);
        n[o]++;
        if (rep && *rep == '1')
            printf("%s: %s %s\n", what,
                   o == CONVERGED ? "converged" : o == REFUSED ? "refused:" : "WRONG BARS, exit 0",
                   line);
    }
    ck_assert_int_eq(n[CONVERGED] + n[REFUSED] + n[WRONG], 12);
    /* A damaged WAL frame drops it and every later frame; the sink's cut
     * position then lags the checkpoint and recovery must replay. */
    ck_assert_msg(n[WRONG] == 0, "%d of 12 sink bit flips exported wrong bars with exit 0",
                  n[WRONG]);
}
END_TEST

Suite *corrupt_suite(void)
{
    Suite *s = suite_create("corrupt");
    TCase *lib = tcase_create("lib");
    TCase *rec = tcase_create("recovery");
    tcase_set_timeout(lib, 30);
    tcase_add_test(lib, t_kinds_on_files);
    tcase_add_checked_fixture(rec, setup, teardown);
    tcase_set_timeout(rec, 300);
    tcase_add_test(rec, t_ckpt_kinds_recover);
    tcase_add_test(rec, t_foreign_config_refused);
    tcase_add_test(rec, t_sink_bitflip_never_silently_wrong);
    suite_add_tcase(s, lib);
    suite_add_tcase(s, rec);
    return s;
}
