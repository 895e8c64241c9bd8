/*
 * test_sink.c - the keyed idempotent sink and the canonical export
 * (pl_sink.h).  Expected CSV bytes and digests are written out by hand or
 * computed here with xxhash directly, never through the export's own code.
 *
 * Layout: fixtures (config, row builders, file and database readers), then
 * one test per property: exact bytes, idempotence, conflicts, rollback,
 * ordering, wide integers, payload hex, empty tables, missing inputs, the
 * commit latch, snapshots, bulk replay, bad databases.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "pl_sink.h"
#include "tutil.h"

/* ---------------------------------------------------------------- fixtures */

static char *dir;   /* state directory */
static char *out;   /* export directory */
static pl_config cfg;

static void setup(void)
{
    dir = tu_tmpdir();
    out = tu_tmpdir();
    memset(&cfg, 0, sizeof cfg);
    cfg.naggs = 3;
    snprintf(cfg.aggs[0].name, sizeof cfg.aggs[0].name, "1m");
    cfg.aggs[0].kind = PL_AGG_TUMBLING;
    cfg.aggs[0].size = cfg.aggs[0].slide = 60000000000LL;
    snprintf(cfg.aggs[1].name, sizeof cfg.aggs[1].name, "B");
    cfg.aggs[1].kind = PL_AGG_TICKS;
    cfg.aggs[1].threshold = 10;
    snprintf(cfg.aggs[2].name, sizeof cfg.aggs[2].name, "a");
    cfg.aggs[2].kind = PL_AGG_VOLUME;
    cfg.aggs[2].threshold = 1000;
}

static void teardown(void)
{
    tu_rmrf(dir);
    tu_rmrf(out);
    free(dir);
    free(out);
}

static pl_bar mkbar(uint32_t agg, const char *sym, uint64_t seq)
{
    pl_bar b;
    memset(&b, 0, sizeof b);
    b.agg = agg;
    b.sym = sym;
    b.sym_len = (uint32_t)strlen(sym);
    b.seq = seq;
    b.start_ns = 300000000000LL;
    b.end_ns = 360000000000ULL;
    b.open = 18925000000LL;
    b.high = 19000000000LL;
    b.low = 18900000000LL;
    b.close = 18950000000LL;
    b.volume = 300;
    b.trades = 3;
    b.vwap = 18937500000LL;
    return b;
}

static pl_late mklate(uint32_t p, uint64_t off)
{
    pl_late l;
    memset(&l, 0, sizeof l);
    l.partition = p;
    l.offset = off;
    l.event_ns = 1000;
    l.sym = "MSFT";
    l.sym_len = 4;
    l.price_e8 = 41150000000LL;
    l.qty = 20;
    l.watermark_ns = 2000;
    return l;
}

static pl_dlq mkdlq(uint32_t p, uint64_t off, const char *payload)
{
    pl_dlq d;
    memset(&d, 0, sizeof d);
    d.partition = p;
    d.offset = off;
    d.reason = 1; /* fields */
    d.payload = (const uint8_t *)payload;
    d.len = (uint32_t)strlen(payload);
    return d;
}

static pl_sink *open_sink(void)
{
    pl_sink *k = NULL;
    pl_errbuf eb = {{0}};
    int rc = pl_sink_open(dir, &cfg, &k, &eb);
    ck_assert_msg(rc == 0, "pl_sink_open: %d %s", rc, eb.msg);
    ck_assert_ptr_nonnull(k);
    return k;
}

static void begin(pl_sink *k)
{
    pl_errbuf eb = {{0}};
    int rc = pl_sink_begin(k, &eb);
    ck_assert_msg(rc == 0, "begin: %d %s", rc, eb.msg);
}

static void commit(pl_sink *k)
{
    pl_errbuf eb = {{0}};
    int rc = pl_sink_commit(k, &eb);
    ck_assert_msg(rc == 0, "commit: %d %s", rc, eb.msg);
}

#define OK_BAR(k, b) ck_assert_msg(pl_sink_bar((k), (b)) == 0, "bar: %s", pl_sink_errmsg(k))
#define OK_LATE(k, l) ck_assert_msg(pl_sink_late((k), (l)) == 0, "late: %s", pl_sink_errmsg(k))
#define OK_DLQ(k, d) ck_assert_msg(pl_sink_dlq((k), (d)) == 0, "dlq: %s", pl_sink_errmsg(k))

static int export(pl_digests *d, pl_errbuf *eb)
{
    return pl_sink_export(dir, out, PL_EXPORT_ALLOW_PARTIAL, d, eb);
}

static int export_ok(pl_digests *d)
{
    pl_errbuf eb = {{0}};
    int rc = export(d, &eb);
    ck_assert_msg(rc == 0, "export: %d %s", rc, eb.msg);
    return rc;
}

static char *read_out(const char *name)
{
    char path[4096];
    char *s;
    snprintf(path, sizeof path, "%s/%s", out, name);
    s = tu_slurp(path, NULL);
    ck_assert_msg(s != NULL, "cannot read %s", path);
    return s;
}

static void assert_file(const char *name, const char *want)
{
    char *got = read_out(name);
    ck_assert_str_eq(got, want);
    free(got);
}

/* Independent digest: XXH3-128, canonical big-endian, lowercase hex. */
static void xx_hex(const char *s, char hex[33])
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(s, strlen(s)));
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", c.digest[i]);
}

static int64_t count_rows(const char *sql)
{
    char path[4096];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t n;
    snprintf(path, sizeof path, "%s/sink.db", dir);
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

#define H_BARS "agg,symbol,seq,start_ns,end_ns,open,high,low,close,volume,trades,vwap\n"
#define H_LATE "partition,offset,event_ns,symbol,price,qty,watermark_ns\n"
#define H_DLQ "partition,offset,reason,payload_hex\n"
#define L_BAR "1m,AAPL,5,300000000000,360000000000,189.25000000,190.00000000,189.00000000," \
              "189.50000000,300,3,189.37500000"

/* ------------------------------------------------------------------ tests */

START_TEST(t_exact_csv)
{
    pl_sink *k = open_sink();
    pl_bar b = mkbar(0, "AAPL", 5);
    pl_late l = mklate(1, 7), l2 = mklate(1, 8);
    pl_dlq d = mkdlq(0, 2, "garbage");
    pl_digests dg;
    char hex[33];
    static const char bars[] = H_BARS L_BAR "\n";
    static const char late[] = H_LATE "1,7,1000,MSFT,411.50000000,20,2000\n"
                                      "1,8,0,X.Y_Z-9,0.00000001,1000000000,-1\n";
    static const char dlq[] = H_DLQ "0,2,fields,67617262616765\n";

    l2.event_ns = 0;
    l2.sym = "X.Y_Z-9";
    l2.sym_len = 7;
    l2.price_e8 = 1;
    l2.qty = 1000000000;
    l2.watermark_ns = -1;
    begin(k);
    OK_BAR(k, &b);
    OK_LATE(k, &l);
    OK_LATE(k, &l2);
    OK_DLQ(k, &d);
    commit(k);
    ck_assert_int_eq(pl_sink_close(k, NULL), 0);

    export_ok(&dg);
    assert_file("bars.csv", bars);
    assert_file("late.csv", late);
    assert_file("dlq.csv", dlq);
    ck_assert_int_eq(dg.nbars, 1);
    ck_assert_int_eq(dg.nlate, 2);
    ck_assert_int_eq(dg.ndlq, 1);
    ck_assert_int_eq(dg.nconflicts, 0);
    xx_hex(bars, hex);
    ck_assert_str_eq(dg.bars, hex);
    xx_hex(late, hex);
    ck_assert_str_eq(dg.late, hex);
    xx_hex(dlq, hex);
    ck_assert_str_eq(dg.dlq, hex);
}
END_TEST

START_TEST(t_reinsert_identical)
{
    pl_sink *k = open_sink();
    pl_bar b = mkbar(0, "AAPL", 5);
    pl_late l = mklate(1, 7);
    pl_dlq d = mkdlq(0, 2, "garbage");
    pl_sink_stats st;
    pl_digests dg;
    pl_errbuf eb = {{0}};
    int64_t n = -1;

    begin(k);
    OK_BAR(k, &b);
    OK_LATE(k, &l);
    OK_DLQ(k, &d);
    /* a replay inside the same transaction is absorbed too */
    OK_BAR(k, &b);
    commit(k);
    pl_sink_stats_get(k, &st);
    ck_assert_int_eq(st.inserted, 3);
    ck_assert_int_eq(st.absorbed, 1);
    ck_assert_int_eq(pl_sink_close(k, NULL), 0);

    k = open_sink();
    begin(k);
    OK_BAR(k, &b);
    OK_LATE(k, &l);
    OK_DLQ(k, &d);
    commit(k);
    pl_sink_stats_get(k, &st);
    ck_assert_int_eq(st.inserted, 0);
    ck_assert_int_eq(st.absorbed, 3);
    ck_assert_int_eq(st.conflicts, 0);
    ck_assert_int_eq(st.commits, 1);
    ck_assert_int_eq(pl_sink_conflicts(k, &n, &eb), 0);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(pl_sink_close(k, NULL), 0);

    export_ok(&dg);
    ck_assert_int_eq(dg.nbars, 1);
    ck_assert_int_eq(dg.nlate, 1);
    ck_assert_int_eq(dg.ndlq, 1);
    ck_assert_int_eq(count_rows("SELECT count(*) FROM conflicts"), 0);
}
END_TEST

START_TEST(t_reinsert_different)
{
    pl_sink *k = open_sink();
    pl_bar b = mkbar(0, "AAPL", 5), b2;
    pl_late l = mklate(1, 7), l2;
    pl_dlq d = mkdlq(0, 2, "garbage"), d2;
    pl_sink_stats st;
    pl_digests dg;
    pl_errbuf eb = {{0}};
    int64_t n = -1;
    char path[4096];
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    int i = 0;
    static const char *want[][3] = {
        {"bars", "1m,AAPL,5", L_BAR},
        {"late", "1,7", "1,7,1000,MSFT,411.50000000,20,2000"},
        {"dlq", "0,2", "0,2,fields,67617262616765"},
    };
    static const char *attempted[] = {
        "1m,AAPL,5,300000000000,360000000000,189.25000000,190.00000000,189.00000000,"
        "189.50000001,300,3,189.37500000",
        "1,7,1000,MSFT,411.50000000,21,2000",
        "0,2,symbol,67617262616766",
    };

    begin(k);
    OK_BAR(k, &b);
    OK_LATE(k, &l);
    OK_DLQ(k, &d);
    commit(k);
    ck_assert_int_eq(pl_sink_close(k, NULL), 0);

    b2 = b;
    b2.close += 1;
    l2 = l;
    l2.qty = 21;
    d2 = mkdlq(0, 2, "garbagf");
    d2.reason = 3; /* symbol */
    k = open_sink();
    begin(k);
    OK_BAR(k, &b2);
    OK_LATE(k, &l2);
    OK_DLQ(k, &d2);
    /* the same divergence replayed again is one row, not two */
    OK_BAR(k, &b2);
    commit(k);
    pl_sink_stats_get(k, &st);
    ck_assert_int_eq(st.inserted, 0);
    ck_assert_int_eq(st.absorbed, 0);
    ck_assert_int_eq(st.conflicts, 4);
    ck_assert_int_eq(pl_sink_conflicts(k, &n, &eb), 0);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(pl_sink_close(k, NULL), 0);

    ck_assert_int_eq(export(&dg, &eb), PL_ECONFLICT);
    ck_assert_ptr_nonnull(strstr(eb.msg, "3 conflict"));
    ck_assert_int_eq(dg.nconflicts, 3);
    /* files are written anyway, with the original rows */
    assert_file("bars.csv", H_BARS L_BAR "\n");
    assert_file("late.csv", H_LATE "1,7,1000,MSFT,411.50000000,20,2000\n");
    assert_file("dlq.csv", H_DLQ "0,2,fields,67617262616765\n");
    ck_assert_int_eq(dg.nbars, 1);

    snprintf(path, sizeof path, "%s/sink.db", dir);
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT tbl, key, stored, attempted FROM conflicts"
                                        " ORDER BY id",
                                        -1, &q, NULL),
                     SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW) {
        ck_assert_int_lt(i, 3);
        ck_assert_str_eq((const char *)sqlite3_column_text(q, 0), want[i][0]);
        ck_assert_str_eq((const char *)sqlite3_column_text(q, 1), want[i][1]);
        ck_assert_str_eq((const char *)sqlite3_column_text(q, 2), want[i][2]);
        ck_assert_str_eq((const char *)sqlite3_column_text(q, 3), attempted[i]);
        i++;
    }
    ck_assert_int_eq(i, 3);
    sqlite3_finalize(q);
    sqlite3_close(db);
}
END_TEST

START_TEST(t_rollback_on_close)
{
    pl_sink *k = open_sink();
    pl_bar b1 = mkbar(0, "AAPL", 1), b2 = mkbar(0, "AAPL", 2);
    pl_late l = mklate(0, 0);
    pl_dlq d = mkdlq(0, 1, "x");
    pl_digests dg;

    begin(k);
    OK_BAR(k, &b1);
    commit(k);
    begin(k);
    OK_BAR(k, &b2);
    OK_LATE(k, &l);
    OK_DLQ(k, &d);
    ck_assert_int_eq(pl_sink_close(k, NULL), 0); /* no commit */

    export_ok(&dg);
    ck_assert_int_eq(dg.nbars, 1);
    ck_assert_int_eq(dg.nlate, 0);
    ck_assert_int_eq(dg.ndlq, 0);
    assert_file("bars.csv", H_BARS "1m,AAPL,1,300000000000,360000000000,189.25000000,"
                                   "190.00000000,189.00000000,189.50000000,300,3,189.37500000\n");
    assert_file("late.csv", H_LATE);

    /* the rolled-back keys are free: writing them again inserts, no conflict */
    k = open_sink();
    begin(k);
    b2.close = 1;
    OK_BAR(k, &b2);
    commit(k);
    {
        pl_sink_stats st;
        pl_sink_stats_get(k, &st);
        ck_assert_int_eq(st.inserted, 1);
        ck_assert_int_eq(st.conflicts, 0);
    }
    ck_assert_int_eq(pl_sink_close(k, NULL), 0);
}
END_TEST

START_TEST(t_order)
{
    static const struct { uint32_t agg; const char *sym; uint64_t seq; } in[] = {
        {2, "A", 1}, {1, "b", 1}, {1, "A", 10}, {1, "A", 2}, {0, "AB", 0},
        {0, "A", 3}, {0, "B", 0}, {0, "a", 0}, {1, "A", 9}, {0, "A", 100},
    };
    static const char *want[] = {
        "1m,A,3,", "1m,A,100,", "1m,AB,0,", "1m,B,0,", "1m,a,0,",
        "B,A,2,", "B,A,9,", "B,A,10,", "B,b,1,", "a,A,1,",
    };
    static const uint32_t lp[] = {2, 0, 0, 10, 0, 1};
    static const uint64_t lo[] = {1, 10, 2, 0, 9, 100};
    static const char *lwant[] = {"0,2,", "0,9,", "0,10,", "1,100,", "2,1,", "10,0,"};
    pl_sink *k = open_sink();
    pl_digests dg;
    char *s, *line, *save = NULL;
    size_t i;

    begin(k);
    for (i = 0; i < sizeof in / sizeof in[0]; i++) {
        pl_bar b = mkbar(in[i].agg, in[i].sym, in[i].seq);
        OK_BAR(k, &b);
    }
    for (i = 0; i < sizeof lp / sizeof lp[0]; i++) {
        pl_late l = mklate(lp[i], lo[i]);
        pl_dlq d = mkdlq(lp[i], lo[i], "p");
        OK_LATE(k, &l);
        OK_DLQ(k, &d);
    }
    commit(k);
    ck_assert_int_eq(pl_sink_close(k, NULL), 0);
    export_ok(&dg);
    ck_assert_int_eq(dg.nbars, 10);

    s = read_out("bars.csv");
    line = strtok_r(s, "\n", &save);
    ck_assert_str_eq(line, "agg,symbol,seq,start_ns,end_ns,open,high,low,close,volume,trades,vwap");
    for (i = 0; i < sizeof want / sizeof want[0]; i++) {
        line = strtok_r(NULL, "\n", &save);
        ck_assert_ptr_nonnull(line);
        ck_assert_msg(strncmp(line, want[i], strlen(want[i])) == 0, "row %zu: got %s want %s*",
                      i, line, want[i]);
    }
    ck_assert_ptr_null(strtok_r(NULL, "\n", &save));
    free(s);

    for (int t = 0; t < 2; t++) {
        s = read_out(t ? "dlq.csv" : "late.csv");
        save = NULL;
        line = strtok_r(s, "\n", &save);
        for (i = 0; i < sizeof lwant / sizeof lwant[0]; i++) {
            line = strtok_r(NULL, "\n", &save);
            ck_assert_ptr_nonnull(line);
            ck_assert_msg(strncmp(line, lwant[i], strlen(lwant[i])) == 0, "row %zu: %s", i, line);
        }
        ck_assert_ptr_null(strtok_r(NULL, "\n", &save));
        free(s);
    }
}
END_TEST

START_TEST(t_wide_integers)
{
    pl_sink *k = open_sink();
    pl_bar b = mkbar(0, "Z", 153722867);
    pl_bar b2 = mkbar(0, "Z", 153722868);
    pl_digests dg;

    /* the last windows below 2^63 end above INT64_MAX */
    b.start_ns = INT64_MAX - 5;
    b.end_ns = (uint64_t)INT64_MAX + 6; /* 2^63 + 5 */
    b2.end_ns = UINT64_MAX;
    b2.open = b2.high = b2.low = b2.close = b2.vwap = 999999999999999999LL; /* < 1e18 */
    b2.volume = INT64_MAX;
    begin(k);
    OK_BAR(k, &b);
    OK_BAR(k, &b2);
    commit(k);
    /* and the replay compares the stored bit pattern equal */
    begin(k);
    OK_BAR(k, &b);
    commit(k);
    {
        pl_sink_stats st;
        pl_sink_stats_get(k, &st);
        ck_assert_int_eq(st.absorbed, 1);
        ck_assert_int_eq(st.conflicts, 0);
    }
    ck_assert_int_eq(pl_sink_close(k, NULL), 0);
    export_ok(&dg);
    assert_file("bars.csv",
                H_BARS "1m,Z,153722867,9223372036854775802,9223372036854775813,189.25000000,"
                       "190.00000000,189.00000000,189.50000000,300,3,189.37500000\n"
                       "1m,Z,153722868,300000000000,18446744073709551615,9999999999.99999999,"
                       "9999999999.99999999,9999999999.99999999,9999999999.99999999,"
                       "9223372036854775807,3,9999999999.99999999\n");
}
END_TEST

START_TEST(t_payload_hex)
{
    static const uint8_t raw[] = {0x00, 0xff, 0x7f, 0x80, 0x0a, 0x0d, 0x2c, 0x00};
    pl_sink *k = open_sink();
    pl_dlq d = mkdlq(3, 4, ""), e = mkdlq(3, 5, "");
    pl_digests dg;
    pl_sink_stats st;

    d.payload = raw;
    d.len = sizeof raw;
    d.reason = 5;
    e.payload = NULL; /* an empty payload ("0,123,") */
    e.len = 0;
    begin(k);
    OK_DLQ(k, &d);
    OK_DLQ(k, &e);
    commit(k);
    begin(k);
    OK_DLQ(k, &d);
    OK_DLQ(k, &e);
    /* one trailing byte less is a different payload, not a prefix match */
    d.len--;
    OK_DLQ(k, &d);
    commit(k);
    pl_sink_stats_get(k, &st);
    ck_assert_int_eq(st.absorbed, 2);
    ck_assert_int_eq(st.conflicts, 1);
    ck_assert_int_eq(pl_sink_close(k, NULL), 0);
    ck_assert_int_eq(export(&dg, NULL), PL_ECONFLICT);
    assert_file("dlq.csv", H_DLQ "3,4,qty,00ff7f800a0d2c00\n3,5,fields,\n");
    ck_assert_int_eq(count_rows("SELECT count(*) FROM conflicts WHERE stored ="
                                " '3,4,qty,00ff7f800a0d2c00' AND attempted = '3,4,qty,00ff7f800a0d2c'"),
                     1);
}
END_TEST

START_TEST(t_empty_tables)
{
    pl_sink *k = open_sink();
    pl_digests dg;
    char hex[33];
    ck_assert_int_eq(pl_sink_close(k, NULL), 0);
    export_ok(&dg);
    assert_file("bars.csv", H_BARS);
    assert_file("late.csv", H_LATE);
    assert_file("dlq.csv", H_DLQ);
    ck_assert_int_eq(dg.nbars + dg.nlate + dg.ndlq + dg.nconflicts, 0);
    xx_hex(H_BARS, hex);
    ck_assert_str_eq(dg.bars, hex);
    xx_hex(H_DLQ, hex);
    ck_assert_str_eq(dg.dlq, hex);
}
END_TEST

static int count_entries(const char *path)
{
    DIR *dp = opendir(path);
    struct dirent *e;
    int n = 0;
    ck_assert_ptr_nonnull(dp);
    while ((e = readdir(dp)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(dp);
    return n;
}

START_TEST(t_missing_inputs)
{
    pl_digests dg;
    pl_errbuf eb = {{0}};
    char gone[4096];
    int rc;

    snprintf(gone, sizeof gone, "%s/nope", dir);
    rc = pl_sink_export(gone, out, PL_EXPORT_ALLOW_PARTIAL, &dg, &eb);
    ck_assert_int_eq(rc, PL_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(eb.msg, gone));

    /* state dir present, sink.db absent: nothing may appear in either dir */
    memset(&eb, 0, sizeof eb);
    rc = pl_sink_export(dir, out, PL_EXPORT_ALLOW_PARTIAL, &dg, &eb);
    ck_assert_int_eq(rc, PL_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(eb.msg, "sink.db"));
    ck_assert_ptr_nonnull(strstr(eb.msg, dir));
    ck_assert_int_eq(count_entries(dir), 0);
    ck_assert_int_eq(count_entries(out), 0);

    /* opening for writing also needs the state dir */
    {
        pl_sink *k = (pl_sink *)&eb;
        ck_assert_int_eq(pl_sink_open(gone, &cfg, &k, &eb), PL_ENOTFOUND);
        ck_assert_ptr_null(k);
    }
}
END_TEST

START_TEST(t_outdir_created)
{
    pl_sink *k = open_sink();
    pl_bar b = mkbar(0, "AAPL", 5);
    pl_digests dg;
    pl_errbuf eb = {{0}};
    char nested[4096], path[4096];
    char *s;

    begin(k);
    OK_BAR(k, &b);
    commit(k);
    ck_assert_int_eq(pl_sink_close(k, NULL), 0);
    snprintf(nested, sizeof nested, "%s/x/y/z/", out);
    ck_assert_int_eq(pl_sink_export(dir, nested, PL_EXPORT_ALLOW_PARTIAL, &dg, &eb), 0);
    snprintf(path, sizeof path, "%s/x/y/z/bars.csv", out);
    s = tu_slurp(path, NULL);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, H_BARS L_BAR "\n");
    free(s);
    /* an existing output dir is fine, and a second export gives the same digest */
    {
        pl_digests dg2;
        ck_assert_int_eq(pl_sink_export(dir, nested, PL_EXPORT_ALLOW_PARTIAL, &dg2, &eb), 0);
        ck_assert_str_eq(dg.bars, dg2.bars);
    }
    /* an output path that is a file is an error, not a crash */
    ck_assert_int_eq(pl_sink_export(dir, path, PL_EXPORT_ALLOW_PARTIAL, &dg, &eb), -ENOTDIR);
}
END_TEST

/* A commit that fails (the file-size limit stops the WAL write) latches the handle. */
START_TEST(t_commit_failure_latches)
{
    pl_sink *k = open_sink();
    pl_bar b = mkbar(0, "AAPL", 1);
    pl_digests dg;
    pl_errbuf eb = {{0}};
    struct rlimit old, lim;
    int rc;
    uint64_t i;

    begin(k);
    OK_BAR(k, &b);
    commit(k);

    begin(k);
    for (i = 2; i < 2000; i++) {
        b.seq = i;
        OK_BAR(k, &b);
    }
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 1;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    rc = pl_sink_commit(k, &eb);
    setrlimit(RLIMIT_FSIZE, &old);
    ck_assert_msg(rc == PL_EIO, "commit under a 1-byte file limit: %d %s", rc, eb.msg);
    ck_assert_ptr_nonnull(strstr(eb.msg, "commit"));

    /* latched: nothing works any more, with the first cause */
    memset(&eb, 0, sizeof eb);
    ck_assert_int_eq(pl_sink_begin(k, &eb), PL_EIO);
    ck_assert_ptr_nonnull(strstr(eb.msg, "commit"));
    b.seq = 5000;
    ck_assert_int_eq(pl_sink_bar(k, &b), PL_EIO);
    ck_assert_ptr_nonnull(strstr(pl_sink_errmsg(k), "commit"));
    ck_assert_int_eq(pl_sink_commit(k, &eb), PL_EIO);
    ck_assert_int_eq(pl_sink_close(k, NULL), 0);

    /* restart: only the first cycle is there */
    export_ok(&dg);
    ck_assert_int_eq(dg.nbars, 1);
}
END_TEST

START_TEST(t_usage_errors)
{
    pl_sink *k = open_sink();
    pl_bar b = mkbar(3, "AAPL", 1);
    pl_dlq d = mkdlq(0, 0, "x");
    pl_late l = mklate(0, (uint64_t)INT64_MAX + 1);
    pl_errbuf eb = {{0}};
    pl_digests dg;

    ck_assert_int_eq(pl_sink_commit(k, &eb), PL_EUSAGE);
    begin(k);
    ck_assert_int_eq(pl_sink_begin(k, &eb), PL_EUSAGE);
    ck_assert_int_eq(pl_sink_bar(k, &b), PL_EUSAGE);
    ck_assert_ptr_nonnull(strstr(pl_sink_errmsg(k), "aggregation"));
    b.agg = 0;
    b.seq = (uint64_t)INT64_MAX + 1;
    ck_assert_int_eq(pl_sink_bar(k, &b), PL_ELIMIT);
    ck_assert_int_eq(pl_sink_late(k, &l), PL_ELIMIT);
    d.reason = 0;
    ck_assert_int_eq(pl_sink_dlq(k, &d), PL_EUSAGE);
    d.reason = 6;
    ck_assert_int_eq(pl_sink_dlq(k, &d), PL_EUSAGE);
    /* refused arguments do not latch the handle */
    b.seq = 1;
    OK_BAR(k, &b);
    commit(k);
    ck_assert_int_eq(pl_sink_close(k, NULL), 0);
    export_ok(&dg);
    ck_assert_int_eq(dg.nbars, 1);
    ck_assert_int_eq(dg.ndlq, 0);
}
END_TEST

/* The export reads committed rows only, even while a writer has a cycle open. */
START_TEST(t_export_snapshot)
{
    pl_sink *k = open_sink();
    pl_bar b = mkbar(0, "AAPL", 1);
    pl_digests dg;

    begin(k);
    OK_BAR(k, &b);
    commit(k);
    begin(k);
    b.seq = 2;
    OK_BAR(k, &b);
    export_ok(&dg);
    ck_assert_int_eq(dg.nbars, 1);
    commit(k);
    export_ok(&dg);
    ck_assert_int_eq(dg.nbars, 2);
    ck_assert_int_eq(pl_sink_close(k, NULL), 0);
    ck_assert_int_eq(count_rows("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"),
                     1);
}
END_TEST

START_TEST(t_bulk_replay)
{
    enum { N = 60000 };
    static const char *syms[] = {"AAPL", "MSFT", "GOOG", "B.X", "ZZ_9"};
    pl_sink *k;
    pl_digests dg, dg2;
    pl_sink_stats st;
    int pass, i;

    for (pass = 0; pass < 2; pass++) {
        k = open_sink();
        begin(k);
        for (i = 0; i < N; i++) {
            pl_bar b = mkbar((uint32_t)(i % 3), syms[i % 5], (uint64_t)(i / 15));
            b.close += i;
            OK_BAR(k, &b);
            if (i % 10 == 0) {
                pl_late l = mklate((uint32_t)(i % 4), (uint64_t)i);
                OK_LATE(k, &l);
            }
        }
        commit(k);
        pl_sink_stats_get(k, &st);
        ck_assert_int_eq(pass ? st.absorbed : st.inserted, N + N / 10);
        ck_assert_int_eq(st.conflicts, 0);
        ck_assert_int_eq(pl_sink_close(k, NULL), 0);
        export_ok(pass ? &dg2 : &dg);
    }
    ck_assert_int_eq(dg.nbars, N);
    ck_assert_int_eq(dg.nlate, N / 10);
    ck_assert_str_eq(dg.bars, dg2.bars);
    ck_assert_str_eq(dg.late, dg2.late);
}
END_TEST

/* Rows in sink.db alone (the WAL left out, as a power cut that lost the
 * WAL's unsynced tail would): a copy of sink.db opened on its own. */
static long rows_in_db_file(void)
{
    char cmd[8192], path[4096];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long n = -1;
    snprintf(cmd, sizeof cmd, "rm -rf '%s/alone' && mkdir '%s/alone' && cp '%s/sink.db' "
             "'%s/alone/'", out, out, dir, out);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(path, sizeof path, "%s/alone/sink.db", out);
    /* read-write: a WAL-mode database needs its -shm even to be read */
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM bars", -1, &st, NULL),
                     SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static long long file_size(const char *name)
{
    char path[4096];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/*
 * Commit bar b through a new handle while a reader holds the snapshot before
 * it: the close cannot checkpoint, so the row stays in the WAL only.
 * Returns the reader, still in its transaction.
 */
static sqlite3 *commit_past_a_reader(const pl_bar *b)
{
    pl_sink *k = open_sink();
    pl_errbuf eb = {{0}};
    char path[4096];
    sqlite3 *rd = NULL;
    snprintf(path, sizeof path, "%s/sink.db", dir);
    ck_assert_int_eq(sqlite3_open_v2(path, &rd, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(rd, "BEGIN; SELECT count(*) FROM bars;", NULL, NULL, NULL),
                     SQLITE_OK);
    begin(k);
    OK_BAR(k, b);
    commit(k);
    ck_assert_int_eq(pl_sink_close(k, &eb), 0); /* the reader only postpones the checkpoint */
    ck_assert_int_gt(file_size("sink.db-wal"), 0);
    ck_assert_int_eq(rows_in_db_file(), 0); /* the row is in the WAL only */
    return rd;
}

/*
 * The reopen path.  A reader holding an old snapshot keeps a commit's frames
 * in the WAL past the writer's close (what happened when a WAL fsync failed
 * during a concurrent export).  The next pl_sink_open must copy them into
 * sink.db durably and truncate the WAL before anything builds on them; and
 * while the reader still holds its snapshot, the open must fail rather than
 * go on over frames whose durability is unknown.
 */
START_TEST(t_reopen_makes_wal_durable)
{
    pl_sink *k = open_sink();
    pl_bar b = mkbar(0, "AAPL", 1);
    pl_errbuf eb = {{0}};
    sqlite3 *rd = NULL;
    int rc;

    /* the close checkpoints the new schema into sink.db */
    ck_assert_int_eq(pl_sink_close(k, &eb), 0);
    ck_assert_int_eq(file_size("sink.db-wal"), 0);
    rd = commit_past_a_reader(&b);

    /* the reader still holds its snapshot: the open refuses */
    k = NULL;
    rc = pl_sink_open(dir, &cfg, &k, &eb);
    ck_assert_msg(rc == PL_ELOCKED, "open under an old snapshot: %d %s", rc, eb.msg);
    ck_assert_ptr_null(k);
    ck_assert_ptr_nonnull(strstr(eb.msg, "snapshot"));

    sqlite3_exec(rd, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(rd);
    k = open_sink();
    ck_assert_int_eq(file_size("sink.db-wal"), 0);
    ck_assert_int_eq(rows_in_db_file(), 1);
    ck_assert_int_eq(pl_sink_close(k, &eb), 0);
}
END_TEST

/* The cut is committed with the rows, read back by a new handle, and tells
 * the export whether the run had finished. */
START_TEST(t_cut_and_partial_export)
{
    pl_sink *k = open_sink();
    pl_bar b = mkbar(0, "AAPL", 1);
    pl_sink_cut c = { 250, 0x1234567890abcdefULL, 0xfedcba0987654321ULL, 0 }, got;
    pl_digests dg;
    pl_errbuf eb = {{0}};

    ck_assert_int_eq(pl_sink_get_cut(k, &got, &eb), 0);
    ck_assert_int_eq(pl_sink_set_cut(k, &c, &eb), PL_EUSAGE); /* outside a transaction */
    begin(k);
    OK_BAR(k, &b);
    ck_assert_int_eq(pl_sink_set_cut(k, &c, &eb), 0);
    commit(k);
    begin(k);
    c.position = 999; /* rolled back with its transaction */
    ck_assert_int_eq(pl_sink_set_cut(k, &c, &eb), 0);
    ck_assert_int_eq(pl_sink_close(k, &eb), 0);
    k = open_sink();
    ck_assert_int_eq(pl_sink_get_cut(k, &got, &eb), 1);
    ck_assert_uint_eq(got.position, 250);
    ck_assert_uint_eq(got.config_fp, 0x1234567890abcdefULL);
    ck_assert_uint_eq(got.log_id, 0xfedcba0987654321ULL);
    ck_assert_int_eq(got.finished, 0);
    ck_assert_int_eq(pl_sink_export(dir, out, 0, &dg, &eb), PL_EPARTIAL);
    ck_assert_ptr_nonnull(strstr(eb.msg, "partial"));
    ck_assert_int_eq(count_entries(out), 0);
    begin(k);
    c.position = 300;
    c.finished = 1;
    ck_assert_int_eq(pl_sink_set_cut(k, &c, &eb), 0);
    commit(k);
    ck_assert_int_eq(pl_sink_close(k, &eb), 0);
    ck_assert_int_eq(pl_sink_export(dir, out, 0, &dg, &eb), 0);
    ck_assert_int_eq(dg.partial, 0);
    ck_assert_uint_eq(dg.position, 300);
    ck_assert_int_eq(dg.nbars, 1);
}
END_TEST

/*
 * The stage (sink.c (11)): rows wait in memory and are written in key
 * order, at commit or once the stage is full, and must keep the per-call
 * semantics.  80000 bars in one transaction (more than one full stage),
 * staged in descending key order from one reused symbol buffer: a key
 * staged first and again, differently, after the stage was written once
 * keeps the first row and records one conflict; a key staged twice
 * identically within one stage is absorbed; late and dlq rows of the same
 * transaction stay in their tables; text is copied, not referenced.
 */
START_TEST(t_stage_batches)
{
    enum { N = 80000 };
    pl_sink *k = open_sink();
    pl_sink_stats st;
    pl_digests dg;
    pl_errbuf eb = {{0}};
    char sym[16];
    pl_bar b;
    pl_late l = mklate(3, 4);
    pl_dlq d = mkdlq(5, 6, "x,y");
    char *s;

    begin(k);
    for (int i = N - 1; i >= 0; i--) {
        snprintf(sym, sizeof sym, "S%05d", i % 1000);
        b = mkbar((uint32_t)(i % 3), sym, (uint64_t)(i / 1000));
        OK_BAR(k, &b);
        memset(sym, 'Z', sizeof sym); /* the sink must have copied it */
        if (i == N - 1) {
            OK_LATE(k, &l);
            OK_DLQ(k, &d);
        }
        if (i == N - 2) { /* the same key as i = N - 2, identical, same stage */
            snprintf(sym, sizeof sym, "S%05d", i % 1000);
            OK_BAR(k, &b);
        }
    }
    /* key of i = N - 1 again, after a full stage was written: differs */
    snprintf(sym, sizeof sym, "S%05d", (N - 1) % 1000);
    b = mkbar((uint32_t)((N - 1) % 3), sym, (uint64_t)((N - 1) / 1000));
    b.close += 1;
    OK_BAR(k, &b);
    commit(k);
    pl_sink_stats_get(k, &st);
    ck_assert_int_eq(st.inserted, N + 2);
    ck_assert_int_eq(st.absorbed, 1);
    ck_assert_int_eq(st.conflicts, 1);
    ck_assert_int_eq(pl_sink_close(k, NULL), 0);

    ck_assert_int_eq(export(&dg, &eb), PL_ECONFLICT);
    ck_assert_int_eq(dg.nbars, N);
    ck_assert_int_eq(dg.nlate, 1);
    ck_assert_int_eq(dg.ndlq, 1);
    ck_assert_int_eq(dg.nconflicts, 1);
    ck_assert_int_eq(count_rows("SELECT count(DISTINCT symbol) FROM bars"), 1000);
    ck_assert_int_eq(count_rows("SELECT count(*) FROM bars WHERE symbol NOT LIKE 'S0____'"), 0);
    /* the stored row is the first one staged (close 189.50000000) */
    ck_assert_int_eq(count_rows("SELECT count(*) FROM conflicts WHERE tbl = 'bars' AND"
                                " key = 'B,S00999,79' AND stored LIKE '%,189.50000000,300,%'"
                                " AND attempted LIKE '%,189.50000001,300,%'"),
                     1);
    s = read_out("bars.csv");
    ck_assert_ptr_nonnull(strstr(s, "\n1m,S00000,0,"));
    ck_assert_ptr_nonnull(strstr(s, "\nB,S00999,79,"));
    free(s);
}
END_TEST

/*
 * The stage groups its bars by (agg, symbol) on the symbol's first 16 bytes
 * and length, and compares the rest only then: symbols that share those 16
 * bytes (and the length) must still be told apart, under every
 * aggregation, whatever order the rows were staged in.
 */
START_TEST(t_stage_long_symbols)
{
    static const char *sym[] = { "0123456789abcdefY", "0123456789abcdef", "0123456789abcdefXY",
                                 "0123456789abcdefX" };
    /* bytewise order of sym[] and of the aggregations' names 1m < B < a */
    static const int sorted[] = { 1, 3, 2, 0 };
    enum { NSEQ = 5 };
    pl_sink *k = open_sink();
    pl_sink_stats st;
    pl_digests dg;
    char *s, *line, *save = NULL, want[64];

    begin(k);
    for (int q = NSEQ - 1; q >= 0; q--)
        for (int i = 0; i < 4; i++)
            for (uint32_t a = 0; a < 3; a++) {
                pl_bar b = mkbar(a, sym[i], (uint64_t)q);
                b.volume = 10000 + 1000 * (int64_t)a + 100 * i + q; /* which row it is */
                OK_BAR(k, &b);
            }
    commit(k);
    pl_sink_stats_get(k, &st);
    ck_assert_int_eq(st.inserted, 3 * 4 * NSEQ);
    ck_assert_int_eq(st.absorbed + st.conflicts, 0);
    ck_assert_int_eq(pl_sink_close(k, NULL), 0);
    export_ok(&dg);
    ck_assert_int_eq(dg.nbars, 3 * 4 * NSEQ);

    s = read_out("bars.csv");
    line = strtok_r(s, "\n", &save);
    for (int a = 0; a < 3; a++)
        for (int j = 0; j < 4; j++)
            for (int q = 0; q < NSEQ; q++) {
                const char *agg = a == 0 ? "1m" : a == 1 ? "B" : "a";
                int i = sorted[j];
                line = strtok_r(NULL, "\n", &save);
                ck_assert_ptr_nonnull(line);
                snprintf(want, sizeof want, "%s,%s,%d,", agg, sym[i], q);
                ck_assert_msg(strncmp(line, want, strlen(want)) == 0, "got %s want %s*", line,
                              want);
                snprintf(want, sizeof want, ",%d,3,", 10000 + 1000 * a + 100 * i + q);
                ck_assert_msg(strstr(line, want) != NULL, "row %s: not volume %s", line, want);
            }
    ck_assert_ptr_null(strtok_r(NULL, "\n", &save));
    free(s);
}
END_TEST

/*
 * The content digest kept through both ways the stage writes bars (sink.c
 * (10), (11)): a transaction of new keys only (one statement for the whole
 * stage), then one mixing new keys with identical and differing replays
 * (the statement fails on the first stored key and every row goes one by
 * one).  The digest kept by the handle must equal the one a new handle
 * seeds by scanning what is stored, and the counts must be per row.
 */
START_TEST(t_digest_both_paths)
{
    enum { N = 3000 };
    pl_sink *k = open_sink();
    pl_sink_digest kept, scanned;
    pl_sink_stats st;
    pl_errbuf eb = {{0}};
    char sym[16];
    pl_bar b;

    ck_assert_int_eq(pl_sink_digest_start(k, 0, &eb), 0);
    begin(k);
    for (int i = 0; i < N; i++) {
        snprintf(sym, sizeof sym, "S%03d", i % 100);
        b = mkbar((uint32_t)(i % 3), sym, (uint64_t)i);
        OK_BAR(k, &b);
    }
    commit(k);
    pl_sink_stats_get(k, &st);
    ck_assert_int_eq(st.inserted, N);
    begin(k);
    for (int i = N - 10; i < N + 10; i++) { /* 10 replays, the last one differing; 10 new */
        snprintf(sym, sizeof sym, "S%03d", i % 100);
        b = mkbar((uint32_t)(i % 3), sym, (uint64_t)i);
        if (i == N - 1)
            b.volume++;
        OK_BAR(k, &b);
    }
    commit(k);
    pl_sink_stats_get(k, &st);
    ck_assert_int_eq(st.inserted, N + 10);
    ck_assert_int_eq(st.absorbed, 9);
    ck_assert_int_eq(st.conflicts, 1);
    ck_assert_int_eq(pl_sink_digest_get(k, &kept, &eb), 0);
    ck_assert_int_eq(pl_sink_close(k, NULL), 0);

    k = open_sink();
    ck_assert_int_eq(pl_sink_digest_start(k, 0, &eb), 0);
    ck_assert_int_eq(pl_sink_digest_get(k, &scanned, &eb), 0);
    ck_assert_int_eq(pl_sink_close(k, NULL), 0);
    /* bars and the one conflict row */
    ck_assert_uint_eq(scanned.rows, N + 10 + 1);
    ck_assert_uint_eq(kept.rows, scanned.rows);
    ck_assert_uint_eq(kept.lo, scanned.lo);
    ck_assert_uint_eq(kept.hi, scanned.hi);
    ck_assert_int_eq(count_rows("SELECT count(*) FROM bars"), N + 10);
}
END_TEST

/* A bar_rows row whose symbol id names no symbol (a damaged id) would drop
 * out of the export's join: the export refuses the sink instead. */
START_TEST(t_dangling_id)
{
    pl_sink *k = open_sink();
    pl_bar b = mkbar(0, "AAPL", 1), c = mkbar(0, "MSFT", 1);
    pl_digests dg;
    pl_errbuf eb = {{0}};
    char path[4096];
    sqlite3 *db;

    begin(k);
    OK_BAR(k, &b);
    OK_BAR(k, &c);
    commit(k);
    ck_assert_int_eq(pl_sink_close(k, NULL), 0);
    export_ok(&dg);
    ck_assert_int_eq(dg.nbars, 2);
    snprintf(path, sizeof path, "%s/sink.db", dir);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "UPDATE bar_rows SET sym_id = 1000 WHERE sym_id = (SELECT"
                                      " id FROM symbols WHERE name = 'MSFT')", NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_changes(db), 1);
    sqlite3_close(db);
    ck_assert_int_eq(export(&dg, &eb), PL_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(eb.msg, "sym_id 1000"));
    ck_assert_ptr_nonnull(strstr(eb.msg, "names no aggregation or no symbol"));
}
END_TEST

/*
 * pl_sink_fold_wal, what a test harness runs once on a snapshot copy: a WAL
 * that a reader kept full is folded into sink.db and truncated; another
 * program's WAL-mode database and a missing sink are left exactly as they
 * are (no refpipe tables added, the WAL not checkpointed, no file made).
 */
START_TEST(t_fold_wal)
{
    pl_sink *k = open_sink();
    pl_bar b = mkbar(0, "AAPL", 1);
    pl_errbuf eb = {{0}};
    pl_digests dg;
    char path[4096], cmd[8192];
    sqlite3 *rd = NULL, *db = NULL;
    long long wal;

    ck_assert_int_eq(pl_sink_close(k, &eb), 0);
    rd = commit_past_a_reader(&b);
    sqlite3_exec(rd, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(rd);
    ck_assert_int_eq(pl_sink_fold_wal(dir, &eb), 1);
    ck_assert_int_eq(file_size("sink.db-wal"), 0);
    ck_assert_int_eq(rows_in_db_file(), 1);
    snprintf(cmd, sizeof cmd, "rm -rf '%s/alone'", out);
    ck_assert_int_eq(system(cmd), 0);
    export_ok(&dg);
    ck_assert_int_eq(dg.nbars, 1);

    /* another program's database, in WAL mode, its WAL full */
    snprintf(path, sizeof path, "%s/sink.db", dir);
    snprintf(cmd, sizeof cmd, "rm -f '%s'/sink.db*", dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(x);"
                                      "INSERT INTO t VALUES(1), (2);", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    wal = file_size("sink.db-wal");
    ck_assert_int_gt(wal, 0);
    ck_assert_int_eq(pl_sink_fold_wal(dir, &eb), 0);
    ck_assert_int_eq(file_size("sink.db-wal"), wal);
    ck_assert_int_eq(count_rows("SELECT count(*) FROM sqlite_schema"), 1);
    ck_assert_int_eq(count_rows("SELECT count(*) FROM t"), 2);

    /* no sink at all: nothing made */
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(pl_sink_fold_wal(dir, &eb), 0);
    ck_assert_int_eq(file_size("sink.db"), -1);
}
END_TEST

/* A sink.db made by SQL: the writer and the export refuse it as another
 * schema version, the writer's message containing msg. */
static void refused_version(const char *sql, const char *msg)
{
    char path[4096];
    sqlite3 *db = NULL;
    pl_sink *k = NULL;
    pl_errbuf eb = {{0}};
    pl_digests dg;
    int rc;
    snprintf(path, sizeof path, "%s/sink.db", dir);
    unlink(path);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    rc = pl_sink_open(dir, &cfg, &k, &eb);
    ck_assert_msg(rc == PL_ECONFIG, "open: %d %s", rc, eb.msg);
    ck_assert_ptr_null(k);
    ck_assert_msg(strstr(eb.msg, msg) != NULL, "'%s' does not say '%s'", eb.msg, msg);
    ck_assert_int_eq(pl_sink_export(dir, out, PL_EXPORT_ALLOW_PARTIAL, &dg, &eb), PL_ECONFIG);
}

START_TEST(t_bad_database)
{
    char path[4096];
    pl_sink *k = NULL;
    pl_errbuf eb = {{0}};
    pl_digests dg;
    int rc;

    snprintf(path, sizeof path, "%s/sink.db", dir);
    tu_write(path, "this is not an SQLite database, just some text that is long enough\n");
    rc = pl_sink_open(dir, &cfg, &k, &eb);
    ck_assert_msg(rc == PL_ECORRUPT, "open garbage: %d %s", rc, eb.msg);
    ck_assert_ptr_null(k);
    ck_assert_int_eq(pl_sink_export(dir, out, PL_EXPORT_ALLOW_PARTIAL, &dg, &eb), PL_ECORRUPT);

    /* another schema version is refused, by the writer and by the export */
    refused_version("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                    "INSERT INTO meta VALUES('schema_version', '99');",
                    "sink schema version 99, expected 3");
    /* so is a sink of schema 2, whose bars table was keyed by text names */
    refused_version("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                    "INSERT INTO meta VALUES('schema_version', '2');"
                    "CREATE TABLE bars(agg TEXT, symbol TEXT, seq INTEGER,"
                    " PRIMARY KEY(agg, symbol, seq));"
                    "INSERT INTO bars VALUES('1m', 'AAPL', 1);",
                    "sink schema version 2, expected 3");
    /* and left as it was */
    ck_assert_int_eq(count_rows("SELECT count(*) FROM sqlite_schema WHERE name = 'bar_rows'"), 0);
}
END_TEST

/*
 * Sinks written before bar_rows was keyed (agg_id, seq, sym_id) have the key
 * (agg_id, sym_id, seq).  Such a sink must read, absorb, conflict, take new
 * rows and export exactly as one with today's key: the same calls on both,
 * one of them rebuilt with the old key order after its first commit.
 */
static void old_key_fill(int phase)
{
    static const char *const syms[] = { "MSFT", "AAPL", "ZZ", "A" };
    pl_sink *k = open_sink();
    pl_errbuf eb = {{0}};
    begin(k);
    for (uint32_t a = 0; a < 3; a++)
        for (int i = 0; i < 4; i++)
            for (uint64_t q = 0; q < 3; q++) {
                /* phase 0: seqs 2i..2i+2; phase 1 replays 2i+2 and adds two
                 * (the symbols' seqs overlap only in part); phase 2 replays
                 * AAPL's 4 with another close: a conflict per aggregation */
                pl_bar b = mkbar(a, syms[i], q + (uint64_t)i * 2 + (phase ? 2 : 0));
                if (phase == 2 && (q || i != 1))
                    continue;
                if (phase == 2)
                    b.close += 1;
                OK_BAR(k, &b);
            }
    commit(k);
    ck_assert_int_eq(pl_sink_close(k, &eb), 0);
}

static char *old_key_export(void)
{
    pl_digests dg;
    export_ok(&dg);
    return read_out("bars.csv");
}

START_TEST(t_old_key_order)
{
    static const char old_key[] =
        "CREATE TABLE t AS SELECT * FROM bar_rows;"
        "DROP VIEW bars; DROP TABLE bar_rows;"
        "CREATE TABLE bar_rows("
        " agg_id INTEGER NOT NULL, sym_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
        " start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,"
        " open INTEGER NOT NULL, high INTEGER NOT NULL, low INTEGER NOT NULL,"
        " close INTEGER NOT NULL, volume INTEGER NOT NULL, trades INTEGER NOT NULL,"
        " vwap INTEGER NOT NULL,"
        " PRIMARY KEY(agg_id, sym_id, seq)) WITHOUT ROWID, STRICT;"
        "INSERT INTO bar_rows SELECT * FROM t; DROP TABLE t;";
    char path[4096], *view = NULL, *want1, *want2, *got1, *got2;
    char *fresh = dir;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t n;

    /* today's key: the reference */
    old_key_fill(0);
    want1 = old_key_export();
    old_key_fill(1);
    want2 = old_key_export();
    old_key_fill(2);
    ck_assert_int_eq(count_rows("SELECT count(*) FROM conflicts"), 3);

    /* the same first commit, then bar_rows rebuilt with the old key order */
    dir = tu_tmpdir();
    old_key_fill(0);
    snprintf(path, sizeof path, "%s/sink.db", dir);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_schema WHERE name = 'bars'",
                                        -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    view = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    ck_assert_int_eq(sqlite3_exec(db, old_key, NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, view, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    ck_assert_int_eq(count_rows("SELECT count(*) FROM sqlite_schema WHERE name = 'bar_rows'"
                                " AND sql LIKE '%PRIMARY KEY(agg_id, sym_id, seq)%'"), 1);

    got1 = old_key_export();
    ck_assert_str_eq(got1, want1);
    old_key_fill(1); /* absorbs and inserts through the old key */
    got2 = old_key_export();
    ck_assert_str_eq(got2, want2);
    n = count_rows("SELECT count(*) FROM bar_rows");
    ck_assert_int_eq(n, 3 * 4 * 3 + 3 * 4 * 2);
    old_key_fill(2); /* conflicts: recorded, the stored rows stay */
    ck_assert_int_eq(count_rows("SELECT count(*) FROM conflicts"), 3);
    ck_assert_int_eq(count_rows("SELECT count(*) FROM bar_rows"), n);
    ck_assert_int_eq(count_rows("SELECT count(*) FROM bars WHERE symbol = 'AAPL' AND seq = 4"
                                " AND close = 18950000000"), 3);

    tu_rmrf(dir);
    free(dir);
    dir = fresh;
    free(view);
    free(want1);
    free(want2);
    free(got1);
    free(got2);
}
END_TEST

Suite *sink_suite(void)
{
    Suite *s = suite_create("sink");
    TCase *tc = tcase_create("core");
    TCase *slow = tcase_create("bulk");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, t_exact_csv);
    tcase_add_test(tc, t_reinsert_identical);
    tcase_add_test(tc, t_reinsert_different);
    tcase_add_test(tc, t_rollback_on_close);
    tcase_add_test(tc, t_order);
    tcase_add_test(tc, t_stage_long_symbols);
    tcase_add_test(tc, t_wide_integers);
    tcase_add_test(tc, t_payload_hex);
    tcase_add_test(tc, t_empty_tables);
    tcase_add_test(tc, t_missing_inputs);
    tcase_add_test(tc, t_outdir_created);
    tcase_add_test(tc, t_commit_failure_latches);
    tcase_add_test(tc, t_usage_errors);
    tcase_add_test(tc, t_export_snapshot);
    tcase_add_test(tc, t_bad_database);
    tcase_add_test(tc, t_reopen_makes_wal_durable);
    tcase_add_test(tc, t_cut_and_partial_export);
    tcase_add_test(tc, t_digest_both_paths);
    tcase_add_test(tc, t_dangling_id);
    tcase_add_test(tc, t_fold_wal);
    tcase_add_test(tc, t_old_key_order);
    suite_add_tcase(s, tc);

    tcase_add_checked_fixture(slow, setup, teardown);
    tcase_set_timeout(slow, 120);
    tcase_add_test(slow, t_bulk_replay);
    tcase_add_test(slow, t_stage_batches);
    suite_add_tcase(s, slow);
    return s;
}
