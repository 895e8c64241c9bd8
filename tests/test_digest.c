/*
 * test_digest.c - the digest writer and the one-shot digest.
 *
 * Layout: the digest format against fixed vectors, against the library's
 * hash formatted independently (high64 then low64), and against the xxhsum
 * command-line tool when it is installed; then the writer: content and digest
 * across buffer boundaries, atomic replacement, abort, and failures (missing
 * directory, write past a file-size limit, rename onto a directory), each
 * checked for what it leaves on disk.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "pl_digest.h"
#include "tutil.h"

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Deterministic bytes that vary at every offset (so misordered chunks show). */
static unsigned char *pattern(size_t n)
{
    unsigned char *b = malloc(n ? n : 1);
    uint64_t x = 0x243f6a8885a308d3ULL;
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b[i] = (unsigned char)x;
    }
    return b;
}

/* The library's hash printed as high64 then low64: the canonical order. */
static void ref_hex(const void *p, size_t n, char out[33])
{
    XXH128_hash_t h = XXH3_128bits(p, n);
    snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, (uint64_t)h.high64, (uint64_t)h.low64);
}

START_TEST(test_known_vectors)
{
    char hx[33];
    pl_digest_hex("", 0, hx);
    ck_assert_str_eq(hx, "99aa06d3014798d86001c324468d497f");
    pl_digest_hex("abc", 3, hx);
    ck_assert_str_eq(hx, "06b05ab6733a618578af5f94892f3950");
    ck_assert_uint_eq(strlen(hx), 32);
}
END_TEST

START_TEST(test_matches_library)
{
    size_t sizes[] = {0, 1, 3, 16, 17, 128, 129, 240, 241, 1000, 65536, 1000003};
    unsigned char *b = pattern(1000003);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char got[33], want[33];
        pl_digest_hex(b, sizes[i], got);
        ref_hex(b, sizes[i], want);
        ck_assert_msg(strcmp(got, want) == 0, "size %zu: %s vs %s", sizes[i], got, want);
        for (int k = 0; k < 32; k++)
            ck_assert(strchr("0123456789abcdef", got[k]) != NULL);
    }
    free(b);
}
END_TEST

/* Files written through pl_dfile, digested by the xxhsum tool. */
START_TEST(test_matches_xxhsum)
{
    size_t sizes[] = {0, 1, 100, 1 << 20, (1 << 20) + 1, 3000017};
    char *dir;
    /* make deps installs xxhash: a missing tool is a broken set-up, not a pass */
    ck_assert_msg(tu_sh("command -v xxhsum >/dev/null 2>&1") == 0, "xxhsum not installed");
    dir = tu_tmpdir();
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char path[512], cmd[1100], line[256], hx[33];
        unsigned char *b = pattern(sizes[i]);
        pl_dfile *f;
        pl_errbuf eb = {{0}};
        FILE *pp;
        snprintf(path, sizeof path, "%s/t%zu.csv", dir, i);
        ck_assert_int_eq(pl_dfile_open(path, &f, &eb), 0);
        ck_assert_int_eq(pl_dfile_write(f, b, sizes[i]), 0);
        ck_assert_int_eq(pl_dfile_close(f, hx, &eb), 0);
        snprintf(cmd, sizeof cmd, "xxhsum -H2 '%s' 2>/dev/null", path);
        pp = popen(cmd, "r");
        ck_assert_ptr_nonnull(pp);
        ck_assert_ptr_nonnull(fgets(line, sizeof line, pp));
        ck_assert_int_eq(pclose(pp), 0);
        ck_assert_msg(strncmp(line, hx, 32) == 0 && line[32] == ' ',
                      "size %zu: xxhsum says %s, we say %s", sizes[i], line, hx);
        free(b);
    }
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* Odd-sized writes straddling the 1 MiB buffer: bytes and digest both exact. */
START_TEST(test_write_chunks)
{
    size_t total = 3 * (1 << 20) + 12345, off = 0, step = 1;
    unsigned char *b = pattern(total);
    char *dir = tu_tmpdir(), path[512], tmp[520], hx[33], want[33];
    pl_dfile *f;
    pl_errbuf eb = {{0}};
    char *got;
    size_t len;

    snprintf(path, sizeof path, "%s/bars.csv", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert_int_eq(pl_dfile_open(path, &f, &eb), 0);
    ck_assert(exists(tmp));
    ck_assert(!exists(path)); /* nothing under the final name before close */
    while (off < total) {
        size_t k = step < total - off ? step : total - off;
        ck_assert_int_eq(pl_dfile_write(f, b + off, k), 0);
        off += k;
        step = step * 7 + 3; /* 1, 10, 73, ..., past the buffer size */
        if (step > 2 * (1 << 20))
            step = 5;
    }
    ck_assert_int_eq(pl_dfile_close(f, hx, &eb), 0);
    ck_assert(!exists(tmp));
    got = tu_slurp(path, &len);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(len, total);
    ck_assert(memcmp(got, b, total) == 0);
    pl_digest_hex(b, total, want);
    ck_assert_str_eq(hx, want);
    free(got);
    free(b);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(test_replace_and_abort)
{
    char *dir = tu_tmpdir(), path[512], tmp[520], hx[33];
    pl_dfile *f;
    pl_errbuf eb = {{0}};
    char *got;

    snprintf(path, sizeof path, "%s/late.csv", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    tu_write(path, "old contents that are longer than the new ones\n");
    tu_write(tmp, "stale temp from a crash, longer than what follows\n");

    /* abort: the old table stays, the temp goes */
    ck_assert_int_eq(pl_dfile_open(path, &f, &eb), 0);
    ck_assert_int_eq(pl_dfile_write(f, "half", 4), 0);
    pl_dfile_abort(f);
    pl_dfile_abort(NULL);
    ck_assert(!exists(tmp));
    got = tu_slurp(path, NULL);
    ck_assert_str_eq(got, "old contents that are longer than the new ones\n");
    free(got);

    /* close: replaced whole, no stale tail from the previous temp or table */
    tu_write(tmp, "stale temp from a crash, longer than what follows\n");
    ck_assert_int_eq(pl_dfile_open(path, &f, &eb), 0);
    ck_assert_int_eq(pl_dfile_write(f, "new\n", 4), 0);
    ck_assert_int_eq(pl_dfile_close(f, hx, &eb), 0);
    got = tu_slurp(path, NULL);
    ck_assert_str_eq(got, "new\n");
    free(got);
    ck_assert(!exists(tmp));

    /* a bare file name syncs "." */
    ck_assert_int_eq(chdir(dir), 0);
    ck_assert_int_eq(pl_dfile_open("rel.csv", &f, &eb), 0);
    ck_assert_int_eq(pl_dfile_close(f, hx, &eb), 0);
    ck_assert_str_eq(hx, "99aa06d3014798d86001c324468d497f");
    ck_assert(exists("rel.csv"));
    ck_assert_int_eq(chdir("/"), 0);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(test_open_missing_dir)
{
    pl_errbuf eb = {{0}};
    pl_dfile *f = (pl_dfile *)&eb;
    int rc = pl_dfile_open("/nonexistent-dir-for-test/x/bars.csv", &f, &eb);
    ck_assert_int_eq(rc, -ENOENT);
    ck_assert_ptr_null(f);
    ck_assert_msg(strstr(eb.msg, "bars.csv.tmp") != NULL, "message: %s", eb.msg);
}
END_TEST

/* A write that fails latches: later writes and the close report it, nothing is renamed. */
START_TEST(test_write_failure_latches)
{
    char *dir = tu_tmpdir(), path[512], tmp[520], hx[33] = "x";
    unsigned char *b = pattern(1 << 20);
    pl_dfile *f;
    pl_errbuf eb = {{0}};
    struct rlimit rl = {4096, 4096};
    int rc;

    snprintf(path, sizeof path, "%s/dlq.csv", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    signal(SIGXFSZ, SIG_IGN); /* get EFBIG instead of a signal */
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    ck_assert_int_eq(pl_dfile_open(path, &f, &eb), 0);
    rc = pl_dfile_write(f, b, 1 << 20); /* fills the buffer: written out now */
    ck_assert_int_eq(rc, -EFBIG);
    ck_assert_int_eq(pl_dfile_write(f, "x", 1), -EFBIG);
    rc = pl_dfile_close(f, hx, &eb);
    ck_assert_int_eq(rc, -EFBIG);
    ck_assert_str_eq(hx, "");
    ck_assert_msg(strstr(eb.msg, "write(") && strstr(eb.msg, "dlq.csv.tmp"), "message: %s",
                  eb.msg);
    ck_assert(!exists(tmp));
    ck_assert(!exists(path));
    free(b);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* The failure can also surface only at close, when the buffer is flushed. */
START_TEST(test_close_flush_failure)
{
    char *dir = tu_tmpdir(), path[512], hx[33];
    unsigned char *b = pattern(100000);
    pl_dfile *f;
    pl_errbuf eb = {{0}};
    struct rlimit rl = {4096, 4096};

    snprintf(path, sizeof path, "%s/bars.csv", dir);
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    ck_assert_int_eq(pl_dfile_open(path, &f, &eb), 0);
    ck_assert_int_eq(pl_dfile_write(f, b, 100000), 0); /* still buffered */
    ck_assert_int_eq(pl_dfile_close(f, hx, &eb), -EFBIG);
    ck_assert(!exists(path));
    free(b);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(test_rename_failure)
{
    char *dir = tu_tmpdir(), path[512], tmp[520], hx[33];
    pl_dfile *f;
    pl_errbuf eb = {{0}};
    int rc;

    snprintf(path, sizeof path, "%s/bars.csv", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert_int_eq(mkdir(path, 0755), 0); /* a directory where the table should go */
    ck_assert_int_eq(pl_dfile_open(path, &f, &eb), 0);
    ck_assert_int_eq(pl_dfile_write(f, "a,b\n", 4), 0);
    rc = pl_dfile_close(f, hx, &eb);
    ck_assert_int_eq(rc, -EISDIR);
    ck_assert_msg(strstr(eb.msg, "rename(") != NULL, "message: %s", eb.msg);
    ck_assert(!exists(tmp));
    tu_rmrf(dir);
    free(dir);
}
END_TEST

Suite *digest_suite(void)
{
    Suite *s = suite_create("digest");
    TCase *tc = tcase_create("hash");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_known_vectors);
    tcase_add_test(tc, test_matches_library);
    tcase_add_test(tc, test_matches_xxhsum);
    suite_add_tcase(s, tc);

    tc = tcase_create("dfile");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_write_chunks);
    tcase_add_test(tc, test_replace_and_abort);
    tcase_add_test(tc, test_open_missing_dir);
    tcase_add_test(tc, test_write_failure_latches);
    tcase_add_test(tc, test_close_flush_failure);
    tcase_add_test(tc, test_rename_failure);
    suite_add_tcase(s, tc);
    return s;
}
