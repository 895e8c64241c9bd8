/*
 * test_ckpt.c - Check suite for checkpoint files (pipeline/ckpt.c).
 *
 * Layout: helpers (paths, raw file I/O, and forge(), an independent encoder
 * of the documented file format used as the oracle), then the tests: round
 * trip and format, ordering and pruning, damage (every truncation, every bit
 * flip, forged headers), configuration/log refusal, stray files, discard,
 * errors, and - in a -DFIU_ENABLE build only - the four fail points.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fiu-local.h>
#ifdef FIU_ENABLE
#include <fiu-control.h>
#endif
#include <xxhash.h>

#include "pl_ckpt.h"
#include "pl_err.h"
#include "tutil.h"

#define FP_A 0x1111111111111111ULL
#define FP_B 0x2222222222222222ULL
#define LOG_A 0xaaaaaaaaaaaaaaaaULL
#define LOG_B 0xbbbbbbbbbbbbbbbbULL

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir();
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
    dir = NULL;
}

/* Path of ckpt-<seq> in the test directory; a fresh buffer per call slot. */
static const char *cpath(uint64_t seq)
{
    static char buf[4][PATH_MAX];
    static int slot;
    char *b = buf[slot++ & 3];
    snprintf(b, PATH_MAX, "%s/ckpt-%016" PRIx64, dir, seq);
    return b;
}

static const char *dpath(const char *name)
{
    static char buf[4][PATH_MAX];
    static int slot;
    char *b = buf[slot++ & 3];
    snprintf(b, PATH_MAX, "%s/%s", dir, name);
    return b;
}

static void put_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert(n == 0 || fwrite(p, 1, n, f) == n);
    ck_assert(fclose(f) == 0);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Number of directory entries whose name starts with "ckpt". */
static int count_ckpt(void)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    ck_assert(d != NULL);
    while ((de = readdir(d)) != NULL)
        n += strncmp(de->d_name, "ckpt", 4) == 0;
    closedir(d);
    return n;
}

static void write_ok(uint64_t seq, uint64_t fp, uint64_t log, uint64_t pos, const char *body)
{
    pl_ckpt_meta m = {seq, fp, log, pos};
    pl_errbuf eb = {{0}};
    int rc = pl_ckpt_write(dir, &m, body, body ? strlen(body) : 0, &eb);
    ck_assert_msg(rc == 0, "pl_ckpt_write(%" PRIu64 ") = %d: %s", seq, rc, eb.msg);
}

static void le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * Independent encoder of the documented format (docs/commit-protocol.md)
 * with arbitrary field values; the checksum is always right, so only the
 * field checks can reject what it makes.  Returns a malloc'd buffer.
 */
static uint8_t *forge(uint32_t ver, uint32_t hlen, uint64_t seq, uint64_t fp, uint64_t log,
                      uint64_t pos, uint64_t blen_field, const void *body, size_t blen,
                      size_t *n)
{
    size_t total = 56 + blen + 16;
    uint8_t *b = malloc(total);
    XXH128_canonical_t c;
    ck_assert(b != NULL);
    memcpy(b, "RPCKPT\r\n", 8);
    le(b + 8, ver, 4);
    le(b + 12, hlen, 4);
    le(b + 16, seq, 8);
    le(b + 24, fp, 8);
    le(b + 32, log, 8);
    le(b + 40, pos, 8);
    le(b + 48, blen_field, 8);
    if (blen)
        memcpy(b + 56, body, blen);
    XXH128_canonicalFromHash(&c, XXH3_128bits(b, 56 + blen));
    memcpy(b + 56 + blen, c.digest, 16);
    *n = total;
    return b;
}

/* Load expecting checkpoint `seq` with body `body`. */
static void expect_load(uint64_t seq, const char *body, pl_ckpt_loaded *out)
{
    pl_errbuf eb = {{0}};
    int rc = pl_ckpt_load(dir, FP_A, LOG_A, out, &eb);
    ck_assert_msg(rc == 1, "load = %d (%s), report: %s", rc, eb.msg, out->report);
    ck_assert_msg(out->meta.seqno == seq, "loaded %" PRIu64 ", expected %" PRIu64 "; report: %s",
                  out->meta.seqno, seq, out->report);
    ck_assert_uint_eq(out->len, strlen(body));
    ck_assert(memcmp(out->body, body, out->len) == 0);
}

/* ---- round trip and format ---------------------------------------------- */

START_TEST(test_roundtrip)
{
    static const uint8_t body[] = {0, 1, 2, 0xff, 0, 'x', '\n', 0x80};
    pl_ckpt_meta m = {1, FP_A, LOG_A, 42};
    pl_ckpt_loaded out;
    pl_errbuf eb = {{0}};

    ck_assert_int_eq(pl_ckpt_write(dir, &m, body, sizeof body, &eb), 0);
    ck_assert(exists(cpath(1)));
    ck_assert(!exists(dpath("ckpt.tmp")));
    ck_assert_int_eq(pl_ckpt_load(dir, FP_A, LOG_A, &out, &eb), 1);
    ck_assert_uint_eq(out.meta.seqno, 1);
    ck_assert_uint_eq(out.meta.config_fp, FP_A);
    ck_assert_uint_eq(out.meta.log_id, LOG_A);
    ck_assert_uint_eq(out.meta.position, 42);
    ck_assert_uint_eq(out.len, sizeof body);
    ck_assert(memcmp(out.body, body, sizeof body) == 0);
    ck_assert_uint_eq(out.next_seqno, 2);
    ck_assert_str_eq(out.report, "using ckpt-0000000000000001 (position 42)");
    pl_ckpt_loaded_free(&out);
    ck_assert(out.body == NULL);
    pl_ckpt_loaded_free(&out); /* idempotent */
}
END_TEST

/* A body written in two parts loads as their concatenation. */
START_TEST(test_two_part_body)
{
    static const uint8_t head[] = {'h', 'e', 'a', 'd', 0};
    static const uint8_t tail[] = {0xff, 't', 'a', 'i', 'l', 0, 7};
    uint8_t joined[sizeof head + sizeof tail];
    pl_ckpt_meta m = {3, FP_A, LOG_A, 9};
    pl_ckpt_loaded out;
    pl_errbuf eb = {{0}};

    memcpy(joined, head, sizeof head);
    memcpy(joined + sizeof head, tail, sizeof tail);
    ck_assert_int_eq(pl_ckpt_write2(dir, &m, head, sizeof head, tail, sizeof tail, &eb), 0);
    ck_assert_int_eq(pl_ckpt_load(dir, FP_A, LOG_A, &out, &eb), 1);
    ck_assert_uint_eq(out.len, sizeof joined);
    ck_assert(memcmp(out.body, joined, sizeof joined) == 0);
    pl_ckpt_loaded_free(&out);
    m.seqno = 4;
    ck_assert_int_eq(pl_ckpt_write2(dir, &m, NULL, 1, tail, sizeof tail, &eb), PL_EUSAGE);
}
END_TEST

START_TEST(test_empty_body)
{
    pl_ckpt_meta m = {7, FP_A, LOG_A, 0};
    pl_ckpt_loaded out;
    pl_errbuf eb = {{0}};
    ck_assert_int_eq(pl_ckpt_write(dir, &m, NULL, 0, &eb), 0);
    ck_assert_int_eq(pl_ckpt_load(dir, FP_A, LOG_A, &out, &eb), 1);
    ck_assert_uint_eq(out.meta.seqno, 7);
    ck_assert_uint_eq(out.len, 0);
    ck_assert_uint_eq(out.next_seqno, 8);
    pl_ckpt_loaded_free(&out);
}
END_TEST

/* The bytes on disk are exactly the documented layout (and deterministic). */
START_TEST(test_format_layout)
{
    const char *body = "state-bytes";
    size_t n, got;
    uint8_t *want = forge(1, 56, 0x0123456789abcdefULL, FP_B, LOG_B, 987654321,
                          strlen(body), body, strlen(body), &n);
    pl_ckpt_meta m = {0x0123456789abcdefULL, FP_B, LOG_B, 987654321};
    pl_errbuf eb = {{0}};
    char *have;
    ck_assert_int_eq(pl_ckpt_write(dir, &m, body, strlen(body), &eb), 0);
    have = tu_slurp(cpath(0x0123456789abcdefULL), &got);
    ck_assert(have != NULL);
    ck_assert_uint_eq(got, n);
    ck_assert(memcmp(have, want, n) == 0);
    free(have);
    free(want);
}
END_TEST

/* ---- ordering and pruning ----------------------------------------------- */

START_TEST(test_newest_wins)
{
    pl_ckpt_loaded out;
    write_ok(1, FP_A, LOG_A, 10, "one");
    write_ok(2, FP_A, LOG_A, 20, "two");
    write_ok(0x10, FP_A, LOG_A, 30, "sixteen"); /* numeric, not lexical on a short name */
    expect_load(0x10, "sixteen", &out);
    ck_assert_uint_eq(out.meta.position, 30);
    ck_assert_uint_eq(out.next_seqno, 0x11);
    pl_ckpt_loaded_free(&out);
}
END_TEST

START_TEST(test_keeps_two)
{
    for (uint64_t s = 1; s <= 6; s++) {
        write_ok(s, FP_A, LOG_A, s * 100, "x");
        ck_assert_int_eq(count_ckpt(), s < 2 ? (int)s : 2);
    }
    ck_assert(exists(cpath(5)));
    ck_assert(exists(cpath(6)));
    ck_assert(!exists(cpath(4)));
    ck_assert(!exists(cpath(1)));
}
END_TEST

/* Pruning goes by validity: after recovery fell back past a corrupt newest
 * checkpoint, the next write keeps the sound one it resumed from and drops
 * the corrupt one (numbering alone would do the opposite). */
START_TEST(test_prune_keeps_newest_sound)
{
    size_t n;
    char *full;
    pl_ckpt_loaded out;
    write_ok(1, FP_A, LOG_A, 100, "one");
    write_ok(2, FP_A, LOG_A, 200, "two");
    write_ok(3, FP_A, LOG_A, 300, "three");
    full = tu_slurp(cpath(3), &n);
    ck_assert(full != NULL && n > 60);
    full[58] ^= 1; /* one body bit */
    put_bytes(cpath(3), full, n);
    free(full);
    expect_load(2, "two", &out);
    pl_ckpt_loaded_free(&out);
    write_ok(4, FP_A, LOG_A, 250, "four");
    ck_assert(exists(cpath(4)));
    ck_assert_msg(exists(cpath(2)), "the sound checkpoint 2 was pruned");
    ck_assert_msg(!exists(cpath(3)), "the corrupt checkpoint 3 was kept");
    ck_assert(!exists(cpath(1)));
    /* with 4 damaged too, the load still finds 2 */
    put_bytes(cpath(4), "x", 1);
    expect_load(2, "two", &out);
    pl_ckpt_loaded_free(&out);
}
END_TEST

/* A sound checkpoint ahead of the new one (a timeline abandoned because the
 * sink never got its rows), or of another configuration, is not the one
 * kept; load_upto skips checkpoints ahead of the caller's limit. */
START_TEST(test_prune_and_load_by_position)
{
    pl_ckpt_loaded out;
    pl_errbuf eb = {{0}};
    write_ok(1, FP_A, LOG_A, 100, "one");
    write_ok(2, FP_A, LOG_A, 300, "two");
    ck_assert_int_eq(pl_ckpt_load_upto(dir, FP_A, LOG_A, 250, &out, &eb), 1);
    ck_assert_uint_eq(out.meta.seqno, 1);
    ck_assert_ptr_nonnull(strstr(out.report, "skipped ckpt-0000000000000002: position 300 is "
                                             "ahead of the sink's 250"));
    pl_ckpt_loaded_free(&out);
    ck_assert_int_eq(pl_ckpt_load_upto(dir, FP_A, LOG_A, 99, &out, &eb), 0);
    pl_ckpt_loaded_free(&out);
    /* resumed from 1: the new checkpoint at 150 keeps 1, not the abandoned 2 */
    write_ok(3, FP_A, LOG_A, 150, "three");
    ck_assert(exists(cpath(3)));
    ck_assert_msg(!exists(cpath(2)), "checkpoint 2 (position 300) was kept");
    ck_assert_msg(exists(cpath(1)), "checkpoint 1 (position 100) should be the one kept");
    /* nothing of another configuration is kept beside a new one */
    write_ok(4, FP_B, LOG_A, 0, "other");
    ck_assert(exists(cpath(4)) && !exists(cpath(3)) && !exists(cpath(1)));
}
END_TEST

START_TEST(test_seqno_not_newer)
{
    pl_ckpt_meta m = {5, FP_A, LOG_A, 1};
    pl_errbuf eb = {{0}};
    pl_ckpt_loaded out;
    write_ok(5, FP_A, LOG_A, 500, "five");
    ck_assert_int_eq(pl_ckpt_write(dir, &m, "again", 5, &eb), PL_EUSAGE);
    ck_assert(strstr(eb.msg, "not newer") != NULL);
    m.seqno = 3;
    ck_assert_int_eq(pl_ckpt_write(dir, &m, "older", 5, &eb), PL_EUSAGE);
    ck_assert_int_eq(count_ckpt(), 1);
    expect_load(5, "five", &out);
    pl_ckpt_loaded_free(&out);
}
END_TEST

/* ---- damage ------------------------------------------------------------- */

START_TEST(test_truncated_newest)
{
    size_t n;
    char *full;
    write_ok(1, FP_A, LOG_A, 1, "first");
    write_ok(2, FP_A, LOG_A, 2, "second-body");
    full = tu_slurp(cpath(2), &n);
    ck_assert(full != NULL && n == 56 + 11 + 16);
    for (size_t len = 0; len < n; len++) {
        pl_ckpt_loaded out;
        put_bytes(cpath(2), full, len);
        expect_load(1, "first", &out);
        ck_assert_msg(strstr(out.report, "skipped ckpt-0000000000000002: ") == out.report,
                      "len %zu: %s", len, out.report);
        ck_assert_uint_eq(out.next_seqno, 3);
        pl_ckpt_loaded_free(&out);
    }
    /* and the untouched file still loads: the loop really tested damage */
    put_bytes(cpath(2), full, n);
    {
        pl_ckpt_loaded out;
        expect_load(2, "second-body", &out);
        pl_ckpt_loaded_free(&out);
    }
    free(full);
}
END_TEST

START_TEST(test_bitflip_newest)
{
    size_t n;
    char *full;
    write_ok(1, FP_A, LOG_A, 1, "first");
    write_ok(2, FP_A, LOG_A, 2, "second-body");
    full = tu_slurp(cpath(2), &n);
    ck_assert(full != NULL);
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            pl_ckpt_loaded out;
            full[i] ^= (char)(1u << bit);
            put_bytes(cpath(2), full, n);
            full[i] ^= (char)(1u << bit);
            expect_load(1, "first", &out);
            ck_assert_msg(strstr(out.report, "skipped ckpt-0000000000000002: ") == out.report,
                          "byte %zu bit %d: %s", i, bit, out.report);
            pl_ckpt_loaded_free(&out);
        }
    }
    free(full);
}
END_TEST

START_TEST(test_zero_length_only)
{
    pl_ckpt_loaded out;
    pl_errbuf eb = {{0}};
    put_bytes(cpath(1), "", 0);
    ck_assert_int_eq(pl_ckpt_load(dir, FP_A, LOG_A, &out, &eb), 0);
    ck_assert(out.body == NULL);
    ck_assert(strstr(out.report, "skipped ckpt-0000000000000001: empty file") != NULL);
    ck_assert(strstr(out.report, "no valid checkpoint") != NULL);
    ck_assert_uint_eq(out.next_seqno, 2);
    pl_ckpt_loaded_free(&out);
}
END_TEST

/* Forged newest file with a correct checksum: the field checks alone must reject it. */
static void forged_newest(uint32_t ver, uint32_t hlen, uint64_t seq_field, uint64_t blen_field,
                          const char *want_why)
{
    const char *body = "forged";
    size_t n;
    uint8_t *f = forge(ver, hlen, seq_field, FP_A, LOG_A, 99, blen_field, body, strlen(body), &n);
    pl_ckpt_loaded out;
    write_ok(1, FP_A, LOG_A, 1, "first");
    put_bytes(cpath(2), f, n);
    free(f);
    expect_load(1, "first", &out);
    ck_assert_msg(strstr(out.report, want_why) != NULL, "report: %s", out.report);
    pl_ckpt_loaded_free(&out);
}

START_TEST(test_forged_control)
{
    /* the forge itself makes loadable files, so the rejections below mean something */
    size_t n;
    uint8_t *f = forge(1, 56, 2, FP_A, LOG_A, 99, 6, "forged", 6, &n);
    pl_ckpt_loaded out;
    put_bytes(cpath(2), f, n);
    free(f);
    expect_load(2, "forged", &out);
    pl_ckpt_loaded_free(&out);
}
END_TEST

START_TEST(test_wrong_version)
{
    forged_newest(2, 56, 2, 6, "skipped ckpt-0000000000000002: unsupported format version 2");
}
END_TEST

START_TEST(test_wrong_header_len)
{
    forged_newest(1, 64, 2, 6, "skipped ckpt-0000000000000002: bad header length 64");
}
END_TEST

START_TEST(test_huge_body_len)
{
    /* must be rejected by comparison with the file size, not by a failed huge malloc */
    forged_newest(1, 56, 2, (uint64_t)1 << 62, "skipped ckpt-0000000000000002: body length");
}
END_TEST

START_TEST(test_short_body_len)
{
    forged_newest(1, 56, 2, 5, "does not match the file size");
}
END_TEST

START_TEST(test_seqno_name_mismatch)
{
    /* a copy of an older checkpoint under a newer name must not be taken as newer */
    forged_newest(1, 56, 1, 6, "skipped ckpt-0000000000000002: header seqno 1 does not match");
}
END_TEST

START_TEST(test_not_regular)
{
    pl_ckpt_loaded out;
    write_ok(1, FP_A, LOG_A, 1, "first");
    ck_assert(mkdir(cpath(2), 0755) == 0);
    expect_load(1, "first", &out);
    ck_assert(strstr(out.report, "not a regular file") != NULL);
    pl_ckpt_loaded_free(&out);
}
END_TEST

START_TEST(test_report_overflow)
{
    pl_ckpt_loaded out;
    write_ok(1, FP_A, LOG_A, 1, "first");
    for (uint64_t s = 2; s < 120; s++)
        put_bytes(cpath(s), "", 0);
    expect_load(1, "first", &out);
    ck_assert(strlen(out.report) < sizeof out.report);
    ck_assert_str_eq(out.report + strlen(out.report) - 3, "...");
    ck_assert_uint_eq(out.next_seqno, 120);
    pl_ckpt_loaded_free(&out);
}
END_TEST

/* ---- refusal ------------------------------------------------------------ */

START_TEST(test_config_mismatch)
{
    pl_ckpt_loaded out;
    pl_errbuf eb = {{0}};
    write_ok(1, FP_A, LOG_A, 1, "under A");
    write_ok(2, FP_B, LOG_A, 2, "under B");
    /* the older one matches, but falling back would be silent divergence */
    ck_assert_int_eq(pl_ckpt_load(dir, FP_A, LOG_A, &out, &eb), PL_ECONFIG);
    ck_assert(out.body == NULL);
    ck_assert_msg(strstr(eb.msg, "ckpt-0000000000000002 was written under another configuration")
                  != NULL, "%s", eb.msg);
    ck_assert(strstr(eb.msg, "--discard-state") != NULL);
    pl_ckpt_loaded_free(&out);
    ck_assert_int_eq(pl_ckpt_load(dir, FP_B, LOG_A, &out, &eb), 1);
    ck_assert_uint_eq(out.meta.seqno, 2);
    pl_ckpt_loaded_free(&out);
}
END_TEST

START_TEST(test_log_mismatch)
{
    pl_ckpt_loaded out;
    pl_errbuf eb = {{0}};
    write_ok(1, FP_A, LOG_A, 1, "log A");
    write_ok(2, FP_A, LOG_B, 2, "log B");
    ck_assert_int_eq(pl_ckpt_load(dir, FP_A, LOG_A, &out, &eb), PL_ECONFIG);
    ck_assert(out.body == NULL);
    ck_assert_msg(strstr(eb.msg, "written for another log") != NULL, "%s", eb.msg);
    pl_ckpt_loaded_free(&out);
}
END_TEST

/* ---- absence, strays, discard ------------------------------------------- */

START_TEST(test_none)
{
    pl_ckpt_loaded out;
    pl_errbuf eb = {{0}};
    char missing[PATH_MAX];
    ck_assert_int_eq(pl_ckpt_load(dir, FP_A, LOG_A, &out, &eb), 0);
    ck_assert(out.body == NULL);
    ck_assert_uint_eq(out.next_seqno, 1);
    ck_assert(strstr(out.report, "no checkpoint") != NULL);
    pl_ckpt_loaded_free(&out);
    snprintf(missing, sizeof missing, "%s/nope", dir);
    ck_assert_int_eq(pl_ckpt_load(missing, FP_A, LOG_A, &out, &eb), 0);
    ck_assert(strstr(out.report, "does not exist") != NULL);
    pl_ckpt_loaded_free(&out);
}
END_TEST

START_TEST(test_strays_ignored)
{
    size_t n;
    uint8_t *f = forge(1, 56, 0xff, FP_A, LOG_A, 5, 4, "high", 4, &n);
    pl_ckpt_loaded out;
    write_ok(1, FP_A, LOG_A, 1, "first");
    /* a complete newer checkpoint left in ckpt.tmp was never renamed: not committed */
    put_bytes(dpath("ckpt.tmp"), f, n);
    put_bytes(dpath("ckpt-00000000000000FF"), f, n);
    put_bytes(dpath("ckpt-00000000000000ff.bak"), f, n);
    put_bytes(dpath("ckpt-zz"), f, n);
    put_bytes(dpath("sink.db"), "x", 1);
    free(f);
    expect_load(1, "first", &out);
    ck_assert_uint_eq(out.next_seqno, 2);
    ck_assert(strstr(out.report, "ignored ckpt.tmp") != NULL);
    pl_ckpt_loaded_free(&out);
}
END_TEST

START_TEST(test_stale_tmp_overwritten)
{
    static char junk[100000];
    pl_ckpt_loaded out;
    memset(junk, 'J', sizeof junk);
    put_bytes(dpath("ckpt.tmp"), junk, sizeof junk);
    write_ok(1, FP_A, LOG_A, 1, "fresh");
    ck_assert(!exists(dpath("ckpt.tmp")));
    expect_load(1, "fresh", &out);
    pl_ckpt_loaded_free(&out);
}
END_TEST

START_TEST(test_discard)
{
    pl_ckpt_loaded out;
    pl_errbuf eb = {{0}};
    char missing[PATH_MAX];
    write_ok(1, FP_A, LOG_A, 1, "a");
    write_ok(2, FP_A, LOG_A, 2, "b");
    put_bytes(dpath("ckpt.tmp"), "t", 1);
    put_bytes(dpath("sink.db"), "x", 1);
    ck_assert_int_eq(count_ckpt(), 3);
    ck_assert_int_eq(pl_ckpt_discard(dir, &eb), 0);
    ck_assert_int_eq(count_ckpt(), 0);
    ck_assert(exists(dpath("sink.db")));
    ck_assert_int_eq(pl_ckpt_load(dir, FP_A, LOG_A, &out, &eb), 0);
    pl_ckpt_loaded_free(&out);
    ck_assert_int_eq(pl_ckpt_discard(dir, &eb), 0); /* nothing left: still fine */
    snprintf(missing, sizeof missing, "%s/nope", dir);
    ck_assert_int_eq(pl_ckpt_discard(missing, &eb), 0);
    /* after a discard, numbering may start again */
    write_ok(1, FP_B, LOG_B, 0, "again");
    ck_assert_int_eq(pl_ckpt_load(dir, FP_B, LOG_B, &out, &eb), 1);
    pl_ckpt_loaded_free(&out);
}
END_TEST

START_TEST(test_write_errors)
{
    pl_ckpt_meta m = {1, FP_A, LOG_A, 0};
    pl_errbuf eb = {{0}};
    char missing[PATH_MAX];
    snprintf(missing, sizeof missing, "%s/nope", dir);
    ck_assert_int_eq(pl_ckpt_write(missing, &m, "x", 1, &eb), -ENOENT);
    ck_assert(strstr(eb.msg, missing) != NULL);
    ck_assert_int_eq(pl_ckpt_write(dir, &m, NULL, 1, &eb), PL_EUSAGE);
    ck_assert_int_eq(pl_ckpt_write(dir, NULL, "x", 1, &eb), PL_EUSAGE);
    ck_assert_int_eq(pl_ckpt_write(dir, &m, "x", (size_t)PL_CKPT_MAX_FILE, &eb), PL_ELIMIT);
    ck_assert_int_eq(count_ckpt(), 0);
    /* ckpt.tmp that cannot be opened for writing (a directory) */
    ck_assert(mkdir(dpath("ckpt.tmp"), 0755) == 0);
    ck_assert_int_eq(pl_ckpt_write(dir, &m, "x", 1, &eb), -EISDIR);
    ck_assert(strstr(eb.msg, "open(") != NULL);
    ck_assert(!exists(cpath(1)));
}
END_TEST

/* ---- fail points (fault build only) ------------------------------------- */

#ifdef FIU_ENABLE
/* Arm `point` to fail once during the write of checkpoint 2; check what is left. */
static void fail_at(const char *point, uint64_t want_seq, const char *want_body, int want_files)
{
    pl_ckpt_meta m = {2, FP_A, LOG_A, 2};
    pl_errbuf eb = {{0}};
    pl_ckpt_loaded out;
    ck_assert_int_eq(fiu_init(0), 0);
    write_ok(1, FP_A, LOG_A, 1, "first");
    ck_assert_int_eq(fiu_enable(point, 1, NULL, FIU_ONETIME), 0);
    ck_assert_int_eq(pl_ckpt_write(dir, &m, "second", 6, &eb), -EIO);
    ck_assert_msg(strstr(eb.msg, point) != NULL, "%s", eb.msg);
    fiu_disable(point);
    ck_assert(!exists(dpath("ckpt.tmp")));
    ck_assert(exists(cpath(1))); /* the old checkpoint is untouched */
    ck_assert_int_eq(count_ckpt(), want_files);
    expect_load(want_seq, want_body, &out);
    pl_ckpt_loaded_free(&out);
}

START_TEST(test_fiu_write_after) { fail_at("ckpt/write/after", 1, "first", 1); }
END_TEST
START_TEST(test_fiu_fsync_after) { fail_at("ckpt/fsync/after", 1, "first", 1); }
END_TEST
START_TEST(test_fiu_rename_after) { fail_at("ckpt/rename/after", 2, "second", 2); }
END_TEST
START_TEST(test_fiu_done_after) { fail_at("ckpt/done/after", 2, "second", 2); }
END_TEST
#endif

Suite *ckpt_suite(void)
{
    Suite *s = suite_create("ckpt");
    TCase *tc = tcase_create("core");
    TCase *dmg = tcase_create("damage");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_prune_keeps_newest_sound);
    tcase_add_test(tc, test_prune_and_load_by_position);
    tcase_add_test(tc, test_two_part_body);
    tcase_add_test(tc, test_empty_body);
    tcase_add_test(tc, test_format_layout);
    tcase_add_test(tc, test_newest_wins);
    tcase_add_test(tc, test_keeps_two);
    tcase_add_test(tc, test_seqno_not_newer);
    tcase_add_test(tc, test_config_mismatch);
    tcase_add_test(tc, test_log_mismatch);
    tcase_add_test(tc, test_none);
    tcase_add_test(tc, test_strays_ignored);
    tcase_add_test(tc, test_stale_tmp_overwritten);
    tcase_add_test(tc, test_discard);
    tcase_add_test(tc, test_write_errors);
#ifdef FIU_ENABLE
    tcase_add_test(tc, test_fiu_write_after);
    tcase_add_test(tc, test_fiu_fsync_after);
    tcase_add_test(tc, test_fiu_rename_after);
    tcase_add_test(tc, test_fiu_done_after);
#endif
    suite_add_tcase(s, tc);

    tcase_add_checked_fixture(dmg, setup, teardown);
    tcase_set_timeout(dmg, 60);
    tcase_add_test(dmg, test_truncated_newest);
    tcase_add_test(dmg, test_bitflip_newest);
    tcase_add_test(dmg, test_zero_length_only);
    tcase_add_test(dmg, test_forged_control);
    tcase_add_test(dmg, test_wrong_version);
    tcase_add_test(dmg, test_wrong_header_len);
    tcase_add_test(dmg, test_huge_body_len);
    tcase_add_test(dmg, test_short_body_len);
    tcase_add_test(dmg, test_seqno_name_mismatch);
    tcase_add_test(dmg, test_not_regular);
    tcase_add_test(dmg, test_report_overflow);
    suite_add_tcase(s, dmg);
    return s;
}
