/*
 * test_log.c - the on-disk partitioned log: import, open, cursors, cat.
 *
 * Layout: helpers (scratch dirs, import/cat of in-memory CSV text, a
 * separately written record model used as the oracle); round trips
 * (hand-written edge cases and seeded random logs, 1 to 64 partitions);
 * every envelope error with its line number and no leftovers; valid edge
 * cases of the envelope; target directory rules; open errors; corruption
 * (flipped bytes, bad magic, truncation, extension, manifest damage); seeks
 * at every kind of offset against sequential reading; peek; identity; scan.
 */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xxhash.h>

#include "pl_log.h"
#include "tutil.h"

#define HDR "partition,ingest_ns,event_ns,symbol,price,qty\n"
#define HDR_CR "partition,ingest_ns,event_ns,symbol,price,qty\r\n"

/* ---- helpers ---------------------------------------------------------- */

static char *scratch;

static void setup(void) { scratch = tu_tmpdir(); }

static void teardown(void)
{
    tu_rmrf(scratch);
    free(scratch);
    scratch = NULL;
}

static char *sp(const char *name)
{
    char *s = NULL;
    ck_assert(asprintf(&s, "%s/%s", scratch, name) >= 0);
    return s;
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert(fwrite(data, 1, len, f) == len);
    ck_assert(fclose(f) == 0);
}

/* Import `len` bytes of CSV into scratch/<logname> with PL_IMPORT_* flags. */
static int import_flags(const void *csv, size_t len, const char *logname, int parts,
                        unsigned flags, uint64_t *n, pl_errbuf *eb)
{
    char *in = sp("in.csv"), *dir = sp(logname);
    int rc;
    write_bytes(in, csv, len);
    eb->msg[0] = 0;
    rc = pl_log_import(in, dir, parts, flags, n, eb);
    free(in);
    free(dir);
    return rc;
}

static int import_buf(const void *csv, size_t len, const char *logname, int parts,
                      uint64_t *n, pl_errbuf *eb)
{
    return import_flags(csv, len, logname, parts, 0, n, eb);
}

static int import_str(const char *csv, const char *logname, int parts, uint64_t *n,
                      pl_errbuf *eb)
{
    return import_buf(csv, strlen(csv), logname, parts, n, eb);
}

static pl_log *open_ok(const char *logname)
{
    pl_errbuf eb = { "" };
    pl_log *log = NULL;
    char *dir = sp(logname);
    int rc = pl_log_open(dir, &log, &eb);
    ck_assert_msg(rc == 0, "open %s: %d %s", dir, rc, eb.msg);
    free(dir);
    return log;
}

/* cat into a malloc'd buffer */
static char *cat_str(pl_log *log, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    pl_errbuf eb = { "" };
    FILE *f = open_memstream(&buf, &n);
    int rc;
    ck_assert(f != NULL);
    rc = pl_log_cat(log, f, &eb);
    ck_assert_msg(rc == 0, "cat: %d %s", rc, eb.msg);
    ck_assert(fclose(f) == 0);
    if (len)
        *len = n;
    return buf;
}

static int exists(const char *name)
{
    struct stat st;
    char *p = sp(name);
    int r = stat(p, &st) == 0;
    free(p);
    return r;
}

/* Entries of scratch whose name starts with prefix (e.g. temp siblings). */
static int count_prefixed(const char *prefix)
{
    DIR *d = opendir(scratch);
    struct dirent *de;
    int n = 0;
    ck_assert(d != NULL);
    while ((de = readdir(d)))
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

/* A record model, written independently of log.c: the oracle. */
struct rec {
    uint32_t part;
    uint64_t ts;
    char *payload;
    size_t len;
};

static uint64_t lcg_state;
static uint64_t rnd(void)
{
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return lcg_state >> 33;
}

/*
 * Random canonical log: records sorted by (ts, part) with per-partition file
 * order, payload bytes from an alphabet with commas, CRs and NULs, some empty.
 * Returns the CSV text (with header) in *csv.
 */
static struct rec *gen_log(uint64_t seed, uint32_t parts, size_t n, size_t maxlen,
                           char **csv, size_t *csvlen)
{
    static const char alpha[] = "AB,\r\0x9.-";
    struct rec *r = calloc(n ? n : 1, sizeof *r);
    uint64_t ts = 1767605400000000000ULL;
    size_t i, j, cap = 64 + n * (maxlen + 48), k = 0;
    char *out = malloc(cap);
    ck_assert(r && out);
    lcg_state = seed;
    memcpy(out, HDR, strlen(HDR));
    k = strlen(HDR);
    for (i = 0; i < n; i++) {
        if (rnd() % 3 == 0)
            ts += rnd() % 1000;
        r[i].ts = ts;
        r[i].part = (uint32_t)(rnd() % parts);
        /* ties: keep partitions ascending within equal ts for canonical order */
        if (i > 0 && r[i - 1].ts == ts && r[i].part < r[i - 1].part)
            r[i].part = r[i - 1].part;
        r[i].len = rnd() % 7 == 0 ? 0 : (size_t)(rnd() % (maxlen + 1));
        r[i].payload = malloc(r[i].len + 1);
        for (j = 0; j < r[i].len; j++)
            r[i].payload[j] = alpha[rnd() % (sizeof alpha - 1)];
        k += (size_t)sprintf(out + k, "%u,%llu,", r[i].part, (unsigned long long)r[i].ts);
        memcpy(out + k, r[i].payload, r[i].len);
        k += r[i].len;
        out[k++] = '\n';
    }
    *csv = out;
    *csvlen = k;
    return r;
}

static void free_recs(struct rec *r, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        free(r[i].payload);
    free(r);
}

/* Every partition read sequentially equals the model's records of it, in file order. */
static void check_against_model(pl_log *log, const struct rec *r, size_t n)
{
    uint32_t p;
    pl_errbuf eb = { "" };
    for (p = 0; p < pl_log_partitions(log); p++) {
        pl_cursor c;
        size_t i;
        uint64_t off = 0;
        ck_assert_int_eq(pl_cur_init(log, p, 0, &c, &eb), 0);
        for (i = 0; i < n; i++) {
            if (r[i].part != p)
                continue;
            ck_assert_int_eq(pl_cur_next(&c, &eb), 1);
            ck_assert_uint_eq(c.offset, off);
            ck_assert_uint_eq((uint64_t)c.ingest_ns, r[i].ts);
            ck_assert_uint_eq(c.len, r[i].len);
            ck_assert(memcmp(c.payload, r[i].payload, r[i].len) == 0);
            off++;
        }
        ck_assert_int_eq(pl_cur_next(&c, &eb), 0);
        ck_assert_int_eq(pl_cur_next(&c, &eb), 0); /* stays at the end */
        ck_assert_uint_eq(pl_log_records(log, p), off);
    }
}

/* ---- round trips ------------------------------------------------------ */

START_TEST(t_roundtrip_edges)
{
    /* partition 2 has no records; commas, CR, empty payloads; ts ties */
    const char *csv = HDR
        "0,1767605400000000000,1767605399998000000,AAPL,189.25,100\n"
        "1,1767605400000000000,a,b,,c,,\n"
        "3,1767605400000000000,\n"
        "0,1767605400000100000,\r\n"
        "1,1767605400000100000,,\n"
        "0,1767605400000200000,garbage-bytes-here\r\r\n"
        "3,1767605400000200001,x\n";
    pl_errbuf eb = { "" };
    uint64_t n = 0;
    pl_log *log, *log2;
    char *out, *dir;
    size_t len;

    ck_assert_msg(import_str(csv, "log", 4, &n, &eb) == 0, "%s", eb.msg);
    ck_assert_uint_eq(n, 7);
    log = open_ok("log");
    ck_assert_uint_eq(pl_log_partitions(log), 4);
    ck_assert_uint_eq(pl_log_total(log), 7);
    ck_assert_uint_eq(pl_log_records(log, 0), 3);
    ck_assert_uint_eq(pl_log_records(log, 1), 2);
    ck_assert_uint_eq(pl_log_records(log, 2), 0);
    ck_assert_uint_eq(pl_log_records(log, 3), 2);
    out = cat_str(log, &len);
    ck_assert_uint_eq(len, strlen(csv));
    ck_assert_str_eq(out, csv);

    /* re-import of cat's output: same log, same identity */
    dir = sp("log2");
    write_bytes(dir, out, len); /* as a file first: import refuses a non-directory */
    ck_assert_int_eq(import_buf(out, len, "log2", 4, NULL, &eb), PL_EEXISTS);
    unlink(dir);
    ck_assert_msg(import_buf(out, len, "log2", 4, NULL, &eb) == 0, "%s", eb.msg);
    log2 = open_ok("log2");
    ck_assert_uint_eq(pl_log_identity(log2), pl_log_identity(log));
    free(out);
    out = cat_str(log2, &len);
    ck_assert_str_eq(out, csv);
    free(out);
    free(dir);
    pl_log_close(log2);
    pl_log_close(log);
}
END_TEST

START_TEST(t_roundtrip_no_header_no_lf)
{
    pl_errbuf eb = { "" };
    uint64_t n = 0;
    pl_log *log;
    char *out;
    /* file order is not canonical order; the last line has no LF */
    ck_assert_msg(import_str("1,5,a\n0,5,b\n0,7,c,d", "log", -1, &n, &eb) == 0, "%s", eb.msg);
    ck_assert_uint_eq(n, 3);
    log = open_ok("log");
    ck_assert_uint_eq(pl_log_partitions(log), 2);
    out = cat_str(log, NULL);
    ck_assert_str_eq(out, HDR "0,5,b\n1,5,a\n0,7,c,d\n");
    free(out);
    pl_log_close(log);
}
END_TEST

START_TEST(t_roundtrip_random)
{
    /* _i selects a shape: partitions, records, max payload */
    static const struct { uint32_t parts; size_t n, maxlen; } shapes[] = {
        { 1, 20000, 40 }, { 3, 15000, 200 }, { 64, 30000, 30 }, { 5, 40, 300000 },
    };
    uint32_t parts = shapes[_i].parts;
    size_t n = shapes[_i].n, len, olen;
    char *csv, *out;
    struct rec *r = gen_log(1000 + (uint64_t)_i, parts, n, shapes[_i].maxlen, &csv, &len);
    pl_errbuf eb = { "" };
    uint64_t got = 0, nscan = 0;
    pl_log *log;

    ck_assert_msg(import_buf(csv, len, "log", (int)parts, &got, &eb) == 0, "%s", eb.msg);
    ck_assert_uint_eq(got, n);
    log = open_ok("log");
    ck_assert_uint_eq(pl_log_partitions(log), parts);
    ck_assert_uint_eq(pl_log_total(log), n);
    check_against_model(log, r, n);
    out = cat_str(log, &olen);
    ck_assert_uint_eq(olen, len);
    ck_assert(memcmp(out, csv, len) == 0);
    ck_assert_int_eq(pl_log_scan(log, &nscan, NULL, &eb), 0);
    ck_assert_uint_eq(nscan, n);
    {
        uint64_t sum = 0;
        uint32_t p;
        struct stat st;
        for (p = 0; p < parts; p++) {
            ck_assert(stat(pl_log_part_path(log, p), &st) == 0);
            sum += (uint64_t)st.st_size;
        }
        ck_assert_uint_eq(pl_log_bytes(log), sum);
        ck_assert_ptr_null(pl_log_part_path(log, parts));
    }
    free(out);
    free(csv);
    free_recs(r, n);
    pl_log_close(log);
}
END_TEST

/* ---- envelope errors --------------------------------------------------- */

struct ecase {
    const char *csv;
    int parts;
    int line;
    const char *what; /* substring of the message */
};

static const struct ecase ecases[] = {
    { "0,1,x\n\n", -1, 2, "empty line" },
    { "\n0,1,x\n", -1, 1, "empty line" },
    { "0,1,x\n\n0,2,y\n", 2, 2, "empty line" },
    { HDR "\n", -1, 2, "empty line" },
    { "0,1\n", -1, 1, "commas" },
    { "0,1,a\n01x\n", -1, 2, "commas" },
    { "0,1,a\n0,2,b\n0\n", -1, 3, "commas" },
    { "a,1,x\n", -1, 1, "partition" },
    { ",1,x\n", -1, 1, "partition" },
    { "-1,1,x\n", -1, 1, "partition" },
    { "+0,1,x\n", -1, 1, "partition" },
    { " 0,1,x\n", -1, 1, "partition" },
    { "0 ,1,x\n", -1, 1, "partition" },
    { "0,1,x\n4,1,x\n", 4, 2, "partition" },
    { "0,1,x\n1,1,x\n", 1, 2, "partition" },
    { "4096,1,x\n", -1, 1, "partition" },
    { "99999999999999999999999,1,x\n", -1, 1, "partition" },
    { "0,,x\n", -1, 1, "ingest_ns" },
    { "0,-1,x\n", -1, 1, "ingest_ns" },
    { "0, 1,x\n", -1, 1, "ingest_ns" },
    { "0,1 ,x\n", -1, 1, "ingest_ns" },
    { "0,9223372036854775808,x\n", -1, 1, "ingest_ns" },
    { "0,18446744073709551616,x\n", -1, 1, "ingest_ns" },
    { "0,99999999999999999999999,x\n", -1, 1, "ingest_ns" },
    { "0,1e3,x\n", -1, 1, "ingest_ns" },
    { "0,0x10,x\n", -1, 1, "ingest_ns" },
    { "0,5,a\n1,1,b\n0,4,c\n", -1, 3, "decrease" },
    { "0,5,a\n0,5,b\n0,4,c\n", 3, 3, "decrease" },
    { HDR HDR, -1, 2, "partition" },                                   /* header only first */
    { "partition,ingest_ns,event_ns,symbol,price,qty\r\n0,1,x\n", -1, 1, "CR LF" },
    { "0,1,x\r\n0,2,y\n", -1, 1, "--keep-cr" },
    { "0,1,x\r\n", -1, 1, "(the CR at byte 5)" },
    { "\xEF\xBB\xBF" "partition,ingest_ns,event_ns,symbol,price,qty\n0,1,x\n", -1, 1,
      "byte-order mark (EF BB BF) at byte 0" },
    { "\xEF\xBB\xBF" "0,1,x\n", -1, 1, "byte-order mark" },
    { "partition,ingest_ns,event_ns,symbol,price,qty,\n", -1, 1, "partition" },
    { "PARTITION,ingest_ns,event_ns,symbol,price,qty\n", -1, 1, "partition" },
};

START_TEST(t_envelope_errors)
{
    const struct ecase *e = &ecases[_i];
    pl_errbuf eb = { "" };
    char want[32];
    uint64_t n = 77;
    int rc = import_str(e->csv, "log", e->parts, &n, &eb);

    ck_assert_msg(rc == PL_EFORMAT, "case %d: rc %d (%s)", _i, rc, eb.msg);
    snprintf(want, sizeof want, "line %d:", e->line);
    ck_assert_msg(strstr(eb.msg, want) != NULL, "case %d: want '%s' in '%s'", _i, want, eb.msg);
    ck_assert_msg(strstr(eb.msg, e->what) != NULL, "case %d: want '%s' in '%s'", _i, e->what,
                  eb.msg);
    ck_assert_msg(strstr(eb.msg, "in.csv") != NULL, "case %d: no file name in '%s'", _i, eb.msg);
    ck_assert_uint_eq(n, 0);
    ck_assert(!exists("log"));
    ck_assert_int_eq(count_prefixed("log"), 0);
}
END_TEST

START_TEST(t_payload_limit)
{
    size_t big = PL_LOG_MAX_PAYLOAD, k;
    char *csv = malloc(2 * big + 64);
    pl_errbuf eb = { "" };
    pl_log *log;
    pl_cursor c;

    /* exactly the limit is accepted */
    k = (size_t)sprintf(csv, "0,1,");
    memset(csv + k, 'z', big);
    k += big;
    csv[k++] = '\n';
    ck_assert_msg(import_buf(csv, k, "log", -1, NULL, &eb) == 0, "%s", eb.msg);
    log = open_ok("log");
    ck_assert_int_eq(pl_cur_init(log, 0, 0, &c, &eb), 0);
    ck_assert_int_eq(pl_cur_next(&c, &eb), 1);
    ck_assert_uint_eq(c.len, big);
    pl_log_close(log);

    /* one byte more on line 2 is an error naming the line */
    k += (size_t)sprintf(csv + k, "0,2,");
    memset(csv + k, 'z', big + 1);
    k += big + 1;
    ck_assert_int_eq(import_buf(csv, k, "log2", -1, NULL, &eb), PL_EFORMAT);
    ck_assert_msg(strstr(eb.msg, "line 2:") && strstr(eb.msg, "payload"), "%s", eb.msg);
    /* and the byte where that payload starts: after line 1 and "0,2," */
    {
        char at[64];
        snprintf(at, sizeof at, "(from byte %zu)", (size_t)4 + big + 1 + 4);
        ck_assert_msg(strstr(eb.msg, at) != NULL, "want '%s' in '%s'", at, eb.msg);
    }
    ck_assert(!exists("log2"));
    ck_assert_int_eq(count_prefixed("log2"), 0);
    free(csv);
}
END_TEST

/* ---- CR LF files --------------------------------------------------------- */

START_TEST(t_keep_cr)
{
    pl_errbuf eb = { "" };
    uint64_t n = 0;
    pl_log *log;
    char *out;

    /* --keep-cr: byte for byte, the header (with its CR) still a header */
    {
        const char *crlf = HDR_CR "0,1,x\r\n1,2,y\r\n";
        ck_assert_msg(import_flags(crlf, strlen(crlf), "a", -1, PL_IMPORT_KEEP_CR, &n, &eb) == 0,
                      "%s", eb.msg);
    }
    ck_assert_uint_eq(n, 2);
    log = open_ok("a");
    out = cat_str(log, NULL);
    ck_assert_str_eq(out, HDR "0,1,x\r\n1,2,y\r\n");
    free(out);
    pl_log_close(log);

    /* a first line ending in LF: later CRs belong to their payloads */
    ck_assert_msg(import_str("0,1,x\n0,2,y\r\n", "b", -1, &n, &eb) == 0, "%s", eb.msg);
    ck_assert_uint_eq(n, 2);
    log = open_ok("b");
    out = cat_str(log, NULL);
    ck_assert_str_eq(out, HDR "0,1,x\n0,2,y\r\n");
    free(out);
    pl_log_close(log);

    /* a lone CR without LF on a one-line file is a payload byte too */
    ck_assert_msg(import_str("0,1,x\r", "c", -1, &n, &eb) == 0, "%s", eb.msg);
}
END_TEST

/* ---- valid envelope edge cases ---------------------------------------- */

START_TEST(t_envelope_valid_edges)
{
    pl_errbuf eb = { "" };
    uint64_t n = 0;
    pl_log *log;
    pl_cursor c;
    char *out;

    /* leading zeros, the largest ingest_ns, one trailing LF adds no record */
    ck_assert_msg(import_str("0007,0000,x\n0,9223372036854775807,\n", "a", -1, &n, &eb) == 0,
                  "%s", eb.msg);
    ck_assert_uint_eq(n, 2);
    log = open_ok("a");
    ck_assert_uint_eq(pl_log_partitions(log), 8);
    ck_assert_uint_eq(pl_log_records(log, 7), 1);
    ck_assert_int_eq(pl_cur_init(log, 0, 0, &c, &eb), 0);
    ck_assert_int_eq(pl_cur_next(&c, &eb), 1);
    ck_assert(c.ingest_ns == INT64_MAX);
    ck_assert_uint_eq(c.len, 0);
    out = cat_str(log, NULL);
    ck_assert_str_eq(out, HDR "7,0,x\n0,9223372036854775807,\n");
    free(out);
    pl_log_close(log);

    /* empty file: refused by default (line 1, byte 0, the flag), then one
     * empty partition with PL_IMPORT_ALLOW_EMPTY */
    ck_assert_int_eq(import_str("", "b", -1, &n, &eb), PL_EFORMAT);
    ck_assert_msg(strstr(eb.msg, "line 1:") && strstr(eb.msg, "byte 0") &&
                  strstr(eb.msg, "--allow-empty"), "%s", eb.msg);
    ck_assert(!exists("b"));
    ck_assert_int_eq(import_flags("", 0, "b", -1, PL_IMPORT_ALLOW_EMPTY, &n, &eb), 0);
    ck_assert_uint_eq(n, 0);
    log = open_ok("b");
    ck_assert_uint_eq(pl_log_partitions(log), 1);
    ck_assert_uint_eq(pl_log_total(log), 0);
    ck_assert_uint_eq(pl_log_bytes(log), 0);
    ck_assert_int_eq(pl_cur_init(log, 0, 0, &c, &eb), 0);
    ck_assert_int_eq(pl_cur_next(&c, &eb), 0);
    {
        int64_t ts = 5;
        ck_assert_int_eq(pl_cur_peek(&c, &ts, &eb), 0);
    }
    out = cat_str(log, NULL);
    ck_assert_str_eq(out, HDR);
    free(out);
    pl_log_close(log);

    /* header only, with and without LF, and 3 empty partitions given */
    ck_assert_int_eq(import_str(HDR, "c", -1, &n, &eb), 0);
    ck_assert_int_eq(import_str("partition,ingest_ns,event_ns,symbol,price,qty", "d", 3, &n, &eb),
                     0);
    log = open_ok("d");
    ck_assert_uint_eq(pl_log_partitions(log), 3);
    ck_assert_uint_eq(pl_log_total(log), 0);
    out = cat_str(log, NULL);
    ck_assert_str_eq(out, HDR);
    free(out);
    pl_log_close(log);

    /* equal ingest_ns within a partition is fine */
    ck_assert_int_eq(import_str("0,5,a\n0,5,b\n", "e", 1, &n, &eb), 0);
    ck_assert_uint_eq(n, 2);
}
END_TEST

/* ---- target directory and arguments ----------------------------------- */

START_TEST(t_target_rules)
{
    pl_errbuf eb = { "" };
    char *dir = sp("log"), *f;
    pl_log *log;

    ck_assert_int_eq(import_str("0,1,x\n", "log", 0, NULL, &eb), PL_EUSAGE);
    ck_assert_int_eq(import_str("0,1,x\n", "log", PL_MAX_PARTITIONS + 1, NULL, &eb), PL_EUSAGE);
    ck_assert(!exists("log"));

    /* an existing empty directory is replaced */
    ck_assert(mkdir(dir, 0755) == 0);
    ck_assert_msg(import_str("0,1,x\n", "log", -1, NULL, &eb) == 0, "%s", eb.msg);
    log = open_ok("log");
    ck_assert_uint_eq(pl_log_total(log), 1);
    pl_log_close(log);

    /* a non-empty one is refused and left alone */
    ck_assert_int_eq(import_str("0,1,y\n0,2,z\n", "log", -1, NULL, &eb), PL_EEXISTS);
    ck_assert_msg(strstr(eb.msg, "log") != NULL, "%s", eb.msg);
    log = open_ok("log");
    ck_assert_uint_eq(pl_log_total(log), 1);
    pl_log_close(log);
    ck_assert_int_eq(count_prefixed("log.tmp"), 0);

    /* trailing slash names the same directory */
    free(dir);
    dir = sp("slash/");
    {
        char *in = sp("in.csv");
        ck_assert_msg(pl_log_import(in, dir, 2, 0, NULL, &eb) == 0, "%s", eb.msg);
        free(in);
    }
    log = open_ok("slash");
    ck_assert_uint_eq(pl_log_partitions(log), 2);
    pl_log_close(log);

    /* missing CSV: -ENOENT naming it */
    f = sp("nope.csv");
    ck_assert_int_eq(pl_log_import(f, dir, -1, 0, NULL, &eb), PL_EEXISTS);
    free(dir);
    dir = sp("fresh");
    ck_assert_int_eq(pl_log_import(f, dir, -1, 0, NULL, &eb), -ENOENT);
    ck_assert_msg(strstr(eb.msg, "nope.csv") != NULL, "%s", eb.msg);
    ck_assert(!exists("fresh"));
    ck_assert_int_eq(count_prefixed("fresh"), 0);
    free(f);

    /* a missing parent directory: -ENOENT, nothing created */
    free(dir);
    dir = sp("no/such/log");
    f = sp("in.csv");
    ck_assert_int_eq(pl_log_import(f, dir, -1, 0, NULL, &eb), -ENOENT);
    free(f);
    free(dir);
}
END_TEST

START_TEST(t_many_partitions_limit)
{
    pl_errbuf eb = { "" };
    char csv[64];
    pl_log *log;
    pl_cursor c;

    snprintf(csv, sizeof csv, "%d,1,x\n0,2,y\n", PL_MAX_PARTITIONS - 1);
    ck_assert_msg(import_str(csv, "log", -1, NULL, &eb) == 0, "%s", eb.msg);
    log = open_ok("log");
    ck_assert_uint_eq(pl_log_partitions(log), PL_MAX_PARTITIONS);
    ck_assert_uint_eq(pl_log_records(log, PL_MAX_PARTITIONS - 1), 1);
    ck_assert_uint_eq(pl_log_records(log, 5), 0);
    ck_assert_int_eq(pl_cur_init(log, PL_MAX_PARTITIONS, 0, &c, &eb), PL_EUSAGE);
    {
        char *out = cat_str(log, NULL);
        ck_assert_str_eq(out, HDR "4095,1,x\n0,2,y\n");
        free(out);
    }
    pl_log_close(log);
}
END_TEST

/* More partitions than descriptors: the import's descriptor cache must cope. */
START_TEST(t_fd_limit)
{
    struct rlimit rl = { 48, 48 };
    size_t len, olen;
    char *csv, *out;
    struct rec *r = gen_log(5, 300, 20000, 20, &csv, &len);
    pl_errbuf eb = { "" };
    pl_log *log;

    ck_assert(setrlimit(RLIMIT_NOFILE, &rl) == 0); /* this forked test only */
    ck_assert_msg(import_buf(csv, len, "log", 300, NULL, &eb) == 0, "%s", eb.msg);
    log = open_ok("log"); /* open keeps no descriptor per partition */
    check_against_model(log, r, 20000);
    out = cat_str(log, &olen);
    ck_assert_uint_eq(olen, len);
    ck_assert(memcmp(out, csv, len) == 0);
    free(out);
    free(csv);
    free_recs(r, 20000);
    pl_log_close(log);
}
END_TEST

/* A write failure after the temporary directory exists: it is removed. */
START_TEST(t_write_failure_cleans_up)
{
    size_t len;
    char *csv, *in = sp("in.csv"), *dir = sp("log");
    struct rec *r = gen_log(11, 2, 40000, 40, &csv, &len);
    struct rlimit rl = { 64 << 10, 64 << 10 };
    pl_errbuf eb = { "" };
    int rc;

    write_bytes(in, csv, len);
    signal(SIGXFSZ, SIG_IGN); /* a failing write, not a signal */
    ck_assert(setrlimit(RLIMIT_FSIZE, &rl) == 0);
    rc = pl_log_import(in, dir, -1, 0, NULL, &eb);
    ck_assert_msg(rc == -EFBIG, "rc %d: %s", rc, eb.msg);
    ck_assert_msg(strstr(eb.msg, "p0.log") || strstr(eb.msg, "p1.log"), "%s", eb.msg);
    ck_assert(!exists("log"));
    ck_assert_int_eq(count_prefixed("log"), 0);
    free(csv);
    free(in);
    free(dir);
    free_recs(r, 40000);
}
END_TEST

/* A CSV that is not a regular file (a pipe) imports the same. */
START_TEST(t_import_from_fifo)
{
    size_t len, olen;
    char *csv, *out, *fifo = sp("fifo"), *dir = sp("log");
    struct rec *r = gen_log(9, 4, 50000, 30, &csv, &len);
    pl_errbuf eb = { "" };
    pl_log *log;
    pid_t pid;
    int st;

    ck_assert(mkfifo(fifo, 0600) == 0);
    pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        FILE *f = fopen(fifo, "wb");
        size_t k = f ? fwrite(csv, 1, len, f) : 0;
        _exit(f && k == len && fclose(f) == 0 ? 0 : 1);
    }
    ck_assert_msg(pl_log_import(fifo, dir, -1, 0, NULL, &eb) == 0, "%s", eb.msg);
    ck_assert(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    log = open_ok("log");
    ck_assert_uint_eq(pl_log_total(log), 50000);
    out = cat_str(log, &olen);
    ck_assert_uint_eq(olen, len);
    ck_assert(memcmp(out, csv, len) == 0);
    free(out);
    free(csv);
    free(fifo);
    free(dir);
    free_recs(r, 50000);
    pl_log_close(log);
}
END_TEST

/* ---- open errors and corruption ---------------------------------------- */

static void flip(const char *path, long at, unsigned char mask)
{
    FILE *f = fopen(path, "r+b");
    int ch;
    ck_assert(f != NULL);
    ck_assert(fseek(f, at, SEEK_SET) == 0);
    ch = fgetc(f);
    ck_assert(ch != EOF);
    ck_assert(fseek(f, at, SEEK_SET) == 0);
    fputc(ch ^ mask, f);
    ck_assert(fclose(f) == 0);
}

/* File byte of block b: walk the headers (32 bytes, record length at +8). */
static long block_pos(const char *path, int b)
{
    size_t len;
    char *d = tu_slurp(path, &len);
    long pos = 0;
    ck_assert(d != NULL);
    while (b-- > 0) {
        uint32_t n;
        memcpy(&n, d + pos + 8, 4);
        pos += 32 + (long)n;
        ck_assert((size_t)pos < len);
    }
    free(d);
    return pos;
}

/* 10000 records in partition 0: blocks of 4096, 4096, 1808. */
static void make_three_blocks(const char *name)
{
    size_t n = 10000, i, k = 0;
    char *csv = malloc(n * 32);
    pl_errbuf eb = { "" };
    for (i = 0; i < n; i++)
        k += (size_t)sprintf(csv + k, "0,%zu,payload-%zu\n", 1000 + i, i);
    ck_assert_msg(import_buf(csv, k, name, 2, NULL, &eb) == 0, "%s", eb.msg);
    free(csv);
}

START_TEST(t_open_errors)
{
    pl_errbuf eb = { "" };
    pl_log *log = (pl_log *)1;
    char *d = sp("nolog"), *m;
    size_t len;

    ck_assert_int_eq(pl_log_open(d, &log, &eb), -ENOENT);
    ck_assert_ptr_null(log);
    ck_assert_msg(strstr(eb.msg, "nolog") != NULL, "%s", eb.msg);
    ck_assert(mkdir(d, 0755) == 0);
    ck_assert_int_eq(pl_log_open(d, &log, &eb), PL_ENOTFOUND);
    ck_assert_msg(strstr(eb.msg, "not a refpipe log (no manifest)") && strstr(eb.msg, "nolog"),
                  "%s", eb.msg);
    free(d);

    make_three_blocks("log");
    m = sp("log/MANIFEST");
    flip(m, 40, 0x01);
    d = sp("log");
    ck_assert_int_eq(pl_log_open(d, &log, &eb), PL_ECORRUPT);
    ck_assert_msg(strstr(eb.msg, "MANIFEST") != NULL, "%s", eb.msg);
    flip(m, 40, 0x01);
    log = open_ok("log");
    pl_log_close(log);
    /* a truncated manifest */
    {
        char *data = tu_slurp(m, &len);
        write_bytes(m, data, len - 1);
        ck_assert_int_eq(pl_log_open(d, &log, &eb), PL_ECORRUPT);
        write_bytes(m, data, 0);
        ck_assert_int_eq(pl_log_open(d, &log, &eb), PL_ECORRUPT);
        write_bytes(m, data, len);
        free(data);
    }
    /* a missing partition file names its path */
    {
        char *p1 = sp("log/p1.log");
        ck_assert(unlink(p1) == 0);
        ck_assert_int_eq(pl_log_open(d, &log, &eb), -ENOENT);
        ck_assert_msg(strstr(eb.msg, "p1.log") != NULL, "%s", eb.msg);
        free(p1);
    }
    free(m);
    free(d);
}
END_TEST

START_TEST(t_corrupt_block)
{
    pl_errbuf eb = { "" };
    char *p0 = sp("log/p0.log");
    long b1, b2;
    pl_log *log;
    pl_cursor c;
    int rc;
    uint64_t i;

    make_three_blocks("log");
    b1 = block_pos(p0, 1);
    b2 = block_pos(p0, 2);
    flip(p0, b1 + 32 + 1000, 0x10); /* inside a record of block 1 */

    log = open_ok("log"); /* detected lazily: open does not read blocks */
    ck_assert_int_eq(pl_cur_init(log, 0, 0, &c, &eb), 0);
    for (i = 0; i < 4096; i++)
        ck_assert_int_eq(pl_cur_next(&c, &eb), 1);
    rc = pl_cur_next(&c, &eb);
    ck_assert_int_eq(rc, PL_ECORRUPT);
    ck_assert_msg(strstr(eb.msg, "p0.log") && strstr(eb.msg, "offset 4096") &&
                  strstr(eb.msg, "checksum mismatch"), "%s", eb.msg);
    {
        char want[64];
        snprintf(want, sizeof want, "file byte %ld", b1);
        ck_assert_msg(strstr(eb.msg, want) != NULL, "%s", eb.msg);
    }
    ck_assert_int_eq(pl_cur_next(&c, &eb), PL_ECORRUPT); /* stays failed */
    /* seeking into the damaged block fails; around it works */
    ck_assert_int_eq(pl_cur_init(log, 0, 5000, &c, &eb), PL_ECORRUPT);
    ck_assert_int_eq(pl_cur_init(log, 0, 9000, &c, &eb), 0);
    ck_assert_int_eq(pl_cur_next(&c, &eb), 1);
    ck_assert_uint_eq(c.offset, 9000);
    ck_assert_int_eq(pl_cur_init(log, 0, 4095, &c, &eb), 0);
    ck_assert_int_eq(pl_cur_next(&c, &eb), 1);
    {
        int64_t ts;
        ck_assert_int_eq(pl_cur_peek(&c, &ts, &eb), PL_ECORRUPT);
    }
    {
        FILE *f = fopen("/dev/null", "w");
        ck_assert_int_eq(pl_log_cat(log, f, &eb), PL_ECORRUPT);
        fclose(f);
    }
    pl_log_close(log);
    flip(p0, b1 + 32 + 1000, 0x10);

    /* bad magic of block 2 */
    flip(p0, b2, 0xff);
    log = open_ok("log");
    ck_assert_int_eq(pl_cur_init(log, 0, 9999, &c, &eb), PL_ECORRUPT);
    ck_assert_msg(strstr(eb.msg, "magic") && strstr(eb.msg, "offset 8192"), "%s", eb.msg);
    pl_log_close(log);
    flip(p0, b2, 0xff);

    /* a header field (the count) changed */
    flip(p0, b2 + 4, 0x01);
    log = open_ok("log");
    ck_assert_int_eq(pl_cur_init(log, 0, 8192, &c, &eb), PL_ECORRUPT);
    ck_assert_msg(strstr(eb.msg, "offset 8192") != NULL, "%s", eb.msg);
    pl_log_close(log);
    flip(p0, b2 + 4, 0x01);

    /* the stored checksum itself */
    flip(p0, b2 + 24, 0x80);
    log = open_ok("log");
    ck_assert_int_eq(pl_log_scan(log, NULL, NULL, &eb), PL_ECORRUPT);
    ck_assert_msg(strstr(eb.msg, "checksum") != NULL, "%s", eb.msg);
    pl_log_close(log);
    flip(p0, b2 + 24, 0x80);

    /* restored: everything reads again */
    log = open_ok("log");
    {
        uint64_t n = 0;
        ck_assert_int_eq(pl_log_scan(log, &n, NULL, &eb), 0);
        ck_assert_uint_eq(n, 10000);
    }
    pl_log_close(log);
    free(p0);
}
END_TEST

START_TEST(t_truncate_extend)
{
    pl_errbuf eb = { "" };
    char *p0 = sp("log/p0.log"), *d = sp("log");
    size_t len;
    char *data;
    pl_log *log;

    make_three_blocks("log");
    data = tu_slurp(p0, &len);
    ck_assert(truncate(p0, (off_t)len - 10) == 0);
    ck_assert_int_eq(pl_log_open(d, &log, &eb), PL_ECORRUPT);
    ck_assert_msg(strstr(eb.msg, "p0.log") && strstr(eb.msg, "torn") &&
                  strstr(eb.msg, "offset 8192"), "%s", eb.msg);
    ck_assert(truncate(p0, 0) == 0);
    ck_assert_int_eq(pl_log_open(d, &log, &eb), PL_ECORRUPT);
    ck_assert_msg(strstr(eb.msg, "offset 0") != NULL, "%s", eb.msg);
    write_bytes(p0, data, len);
    {
        FILE *f = fopen(p0, "ab");
        fputc('!', f);
        fclose(f);
    }
    ck_assert_int_eq(pl_log_open(d, &log, &eb), PL_ECORRUPT);
    ck_assert_msg(strstr(eb.msg, "p0.log") != NULL, "%s", eb.msg);
    write_bytes(p0, data, len);
    log = open_ok("log");
    pl_log_close(log);
    free(data);
    free(p0);
    free(d);
}
END_TEST

/*
 * Forge block 2 of make_three_blocks()'s log: apply `edit` to its bytes,
 * then recompute its checksum and the manifest's copy and trailer, so that
 * only the structure checks can catch it.  Written from docs/log-format.md.
 */
static void forge_block2(void (*edit)(uint8_t *blk, size_t len))
{
    char *p0 = sp("log/p0.log"), *m = sp("log/MANIFEST");
    size_t flen, mlen;
    uint8_t *f = (uint8_t *)tu_slurp(p0, &flen), *man = (uint8_t *)tu_slurp(m, &mlen);
    long b2 = block_pos(p0, 2);
    uint32_t rlen;
    uint64_t sum;
    XXH3_state_t *st = XXH3_createState();

    memcpy(&rlen, f + b2 + 8, 4);
    edit(f + b2, 32 + rlen);
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, f + b2, 24);
    XXH3_64bits_update(st, f + b2 + 32, rlen);
    sum = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    memcpy(f + b2 + 24, &sum, 8);
    /* manifest: header 32, 2 partitions x 24, then block entries of 24 */
    memcpy(man + 32 + 2 * 24 + 2 * 24 + 16, &sum, 8);
    sum = XXH3_64bits(man, mlen - 8);
    memcpy(man + mlen - 8, &sum, 8);
    write_bytes(p0, f, flen);
    write_bytes(m, man, mlen);
    free(f);
    free(man);
    free(p0);
    free(m);
}

/* the last record one byte shorter: the records no longer fill the block */
static void edit_short(uint8_t *blk, size_t len)
{
    size_t pos = 32, i;
    uint32_t n = 0;
    for (i = 0; i < 1808; i++) {
        memcpy(&n, blk + pos + 8, 4);
        if (i + 1 < 1808)
            pos += 12 + n;
    }
    n--;
    memcpy(blk + pos + 8, &n, 4);
    ck_assert(pos + 12 + n + 1 == len);
}

/* the second record's ingest_ns below the first's */
static void edit_decrease(uint8_t *blk, size_t len)
{
    uint32_t n;
    uint64_t ts;
    memcpy(&n, blk + 32 + 8, 4);
    memcpy(&ts, blk + 32, 8);
    ts--;
    memcpy(blk + 32 + 12 + n, &ts, 8);
}

/* the first record's length far past the block end */
static void edit_long(uint8_t *blk, size_t len)
{
    uint32_t n = (uint32_t)len;
    memcpy(blk + 32 + 8, &n, 4);
}

START_TEST(t_forged_block)
{
    static void (*const edits[])(uint8_t *, size_t) = { edit_short, edit_decrease, edit_long };
    static const char *const want[] = { "do not fill", "decreases", "past the block end" };
    pl_errbuf eb = { "" };
    pl_log *log;
    pl_cursor c;

    make_three_blocks("log");
    forge_block2(edits[_i]);
    log = open_ok("log"); /* the manifest checksum is right */
    ck_assert_int_eq(pl_cur_init(log, 0, 8192, &c, &eb), PL_ECORRUPT);
    ck_assert_msg(strstr(eb.msg, want[_i]) && strstr(eb.msg, "p0.log"), "%s", eb.msg);
    ck_assert_int_eq(pl_cur_init(log, 0, 8191, &c, &eb), 0);
    ck_assert_int_eq(pl_cur_next(&c, &eb), 1);
    ck_assert_int_eq(pl_cur_next(&c, &eb), PL_ECORRUPT);
    pl_log_close(log);
}
END_TEST

START_TEST(t_cat_write_error)
{
    pl_errbuf eb = { "" };
    pl_log *log;
    FILE *f;
    char *d = sp("log/");
    int rc;

    make_three_blocks("log");
    ck_assert_int_eq(pl_log_open(d, &log, &eb), 0);
    ck_assert_msg(strstr(pl_log_part_path(log, 0), "//") == NULL, "%s", pl_log_part_path(log, 0));
    f = fopen("/dev/full", "w");
    ck_assert(f != NULL);
    rc = pl_log_cat(log, f, &eb);
    ck_assert_msg(rc == -ENOSPC, "rc %d: %s", rc, eb.msg);
    ck_assert_msg(strstr(eb.msg, "write") != NULL, "%s", eb.msg);
    fclose(f);
    pl_log_close(log);
    free(d);
}
END_TEST

/* ---- seek and peek ----------------------------------------------------- */

START_TEST(t_seek_matches_sequential)
{
    /* variable payloads up to 100 KB give blocks closed by bytes and by count */
    size_t n = 12000, len, i;
    char *csv;
    struct rec *r = gen_log(77, 3, n, 60, &csv, &len);
    pl_errbuf eb = { "" };
    pl_log *log;
    uint32_t p;
    int k;

    /* make a few payloads large so some blocks close on size */
    free(csv);
    for (i = 0; i < n; i += 397) {
        free(r[i].payload);
        r[i].len = 100000 + i;
        r[i].payload = malloc(r[i].len);
        memset(r[i].payload, 'a' + (int)(i % 26), r[i].len);
    }
    {
        size_t cap = 64, k2 = 0;
        for (i = 0; i < n; i++)
            cap += r[i].len + 48;
        csv = malloc(cap);
        for (i = 0; i < n; i++) {
            k2 += (size_t)sprintf(csv + k2, "%u,%llu,", r[i].part, (unsigned long long)r[i].ts);
            memcpy(csv + k2, r[i].payload, r[i].len);
            k2 += r[i].len;
            csv[k2++] = '\n';
        }
        len = k2;
    }
    ck_assert_msg(import_buf(csv, len, "log", 3, NULL, &eb) == 0, "%s", eb.msg);
    log = open_ok("log");
    check_against_model(log, r, n);
    for (p = 0; p < 3; p++) {
        uint64_t nrec = pl_log_records(log, p), j;
        int64_t *ts = malloc(nrec * sizeof *ts);
        const uint8_t **pay = malloc(nrec * sizeof *pay);
        uint32_t *pl = malloc(nrec * sizeof *pl);
        pl_cursor c;
        ck_assert_int_eq(pl_cur_init(log, p, 0, &c, &eb), 0);
        for (j = 0; j < nrec; j++) {
            ck_assert_int_eq(pl_cur_next(&c, &eb), 1);
            ts[j] = c.ingest_ns;
            pay[j] = c.payload;
            pl[j] = c.len;
        }
        /* every offset, the end included */
        for (k = 0; (uint64_t)k <= nrec; k++) {
            uint64_t off = (uint64_t)k;
            int64_t pts;
            ck_assert_int_eq(pl_cur_init(log, p, off, &c, &eb), 0);
            if (off == nrec) {
                ck_assert_int_eq(pl_cur_peek(&c, &pts, &eb), 0);
                ck_assert_int_eq(pl_cur_next(&c, &eb), 0);
                continue;
            }
            ck_assert_int_eq(pl_cur_peek(&c, &pts, &eb), 1);
            ck_assert(pts == ts[off]);
            ck_assert_int_eq(pl_cur_next(&c, &eb), 1);
            ck_assert_uint_eq(c.offset, off);
            ck_assert(c.ingest_ns == ts[off]);
            ck_assert(c.payload == pay[off] && c.len == pl[off]);
            if (off + 1 < nrec) {
                ck_assert_int_eq(pl_cur_peek(&c, &pts, &eb), 1);
                ck_assert(pts == ts[off + 1]);
                ck_assert_int_eq(pl_cur_next(&c, &eb), 1);
                ck_assert_uint_eq(c.offset, off + 1);
                ck_assert(c.payload == pay[off + 1]);
            }
        }
        ck_assert_int_eq(pl_cur_init(log, p, nrec + 1, &c, &eb), PL_EUSAGE);
        free(ts);
        free(pay);
        free(pl);
    }
    free(csv);
    free_recs(r, n);
    pl_log_close(log);
}
END_TEST

START_TEST(t_identity)
{
    pl_errbuf eb = { "" };
    pl_log *a, *b, *c, *d;
    ck_assert_int_eq(import_str("0,1,x\n1,2,y\n", "a", -1, NULL, &eb), 0);
    ck_assert_int_eq(import_str(HDR "0,1,x\n1,2,y", "b", -1, NULL, &eb), 0);
    ck_assert_int_eq(import_str("0,1,x\n1,2,z\n", "c", -1, NULL, &eb), 0);
    ck_assert_int_eq(import_str("0,1,x\n1,2,y\n", "d", 3, NULL, &eb), 0);
    a = open_ok("a");
    b = open_ok("b");
    c = open_ok("c");
    d = open_ok("d");
    ck_assert_uint_eq(pl_log_identity(a), pl_log_identity(b));
    ck_assert_uint_ne(pl_log_identity(a), pl_log_identity(c));
    ck_assert_uint_ne(pl_log_identity(a), pl_log_identity(d));
    pl_log_close(a);
    pl_log_close(b);
    pl_log_close(c);
    pl_log_close(d);
}
END_TEST

Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("roundtrip");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_roundtrip_edges);
    tcase_add_test(tc, t_roundtrip_no_header_no_lf);
    tcase_add_loop_test(tc, t_roundtrip_random, 0, 4);
    tcase_add_test(tc, t_identity);
    suite_add_tcase(s, tc);

    tc = tcase_create("envelope");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, t_envelope_errors, 0, (int)(sizeof ecases / sizeof ecases[0]));
    tcase_add_test(tc, t_payload_limit);
    tcase_add_test(tc, t_keep_cr);
    tcase_add_test(tc, t_envelope_valid_edges);
    tcase_add_test(tc, t_target_rules);
    tcase_add_test(tc, t_many_partitions_limit);
    tcase_add_test(tc, t_fd_limit);
    tcase_add_test(tc, t_import_from_fifo);
    tcase_add_test(tc, t_write_failure_cleans_up);
    suite_add_tcase(s, tc);

    tc = tcase_create("damage");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_open_errors);
    tcase_add_test(tc, t_corrupt_block);
    tcase_add_test(tc, t_truncate_extend);
    tcase_add_loop_test(tc, t_forged_block, 0, 3);
    tcase_add_test(tc, t_cat_write_error);
    suite_add_tcase(s, tc);

    tc = tcase_create("seek");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_seek_matches_sequential);
    suite_add_tcase(s, tc);
    return s;
}
