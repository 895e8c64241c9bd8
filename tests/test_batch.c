/*
 * test_batch.c - Check suite for the offline recomputation (pl_batch.h).
 *
 * Each test imports a small hand-written interchange CSV into a fresh log,
 * runs pl_batch_run and compares the three exported tables, in full, with
 * text worked out by hand from the semantics contract; the working is in
 * the comments next to each expected row.  run_batch also checks that the
 * returned digests and row counts describe the files actually written.
 * The last test compares sliding windows with a brute-force enumeration.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_batch.h"
#include "pl_digest.h"
#include "tutil.h"

#define BARS_H "agg,symbol,seq,start_ns,end_ns,open,high,low,close,volume,trades,vwap\n"
#define LATE_H "partition,offset,event_ns,symbol,price,qty,watermark_ns\n"
#define DLQ_H "partition,offset,reason,payload_hex\n"

typedef struct result {
    char *dir;
    char *bars, *late, *dlq;
    pl_digests d;
} result;

static void cfg_base(pl_config *c, int64_t B, int64_t I)
{
    memset(c, 0, sizeof *c);
    c->max_delay = B;
    c->idle_timeout = I;
}

static void cfg_agg(pl_config *c, const char *name, int kind, int64_t size, int64_t slide,
                    int64_t threshold)
{
    pl_agg_spec *a = &c->aggs[c->naggs++];
    snprintf(a->name, sizeof a->name, "%s", name);
    a->kind = kind;
    a->size = size;
    a->slide = kind == PL_AGG_TUMBLING ? size : slide;
    a->threshold = threshold;
}

static int64_t count_rows(const char *text)
{
    int64_t n = -1; /* the header is not a row */
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    return n;
}

static char *slurp_checked(const char *dir, const char *name, const char *digest, int64_t rows)
{
    char path[4096], hex[33];
    size_t len;
    char *text;
    snprintf(path, sizeof path, "%s/out/%s", dir, name);
    text = tu_slurp(path, &len);
    ck_assert_msg(text != NULL, "%s not written", path);
    pl_digest_hex(text, len, hex);
    ck_assert_str_eq(digest, hex);
    ck_assert_int_eq(rows, count_rows(text));
    return text;
}

/* Import csv with `partitions` partitions, run the batch into DIR/out. */
static void run_batch(const char *csv, int partitions, const pl_config *cfg, result *r)
{
    char path[4096], logdir[4096], outdir[4096];
    pl_errbuf eb = {{0}};
    pl_log *log = NULL;
    int rc;

    memset(r, 0, sizeof *r);
    r->dir = tu_tmpdir();
    snprintf(path, sizeof path, "%s/in.csv", r->dir);
    snprintf(logdir, sizeof logdir, "%s/log", r->dir);
    snprintf(outdir, sizeof outdir, "%s/out", r->dir);
    tu_write(path, csv);
    rc = pl_log_import(path, logdir, partitions, 0, NULL, &eb);
    ck_assert_msg(rc == 0, "import: %d %s", rc, eb.msg);
    rc = pl_log_open(logdir, &log, &eb);
    ck_assert_msg(rc == 0, "open: %d %s", rc, eb.msg);
    rc = pl_batch_run(log, cfg, outdir, &r->d, &eb);
    ck_assert_msg(rc == 0, "batch: %d %s", rc, eb.msg);
    pl_log_close(log);
    ck_assert_int_eq(r->d.nconflicts, 0);
    r->bars = slurp_checked(r->dir, "bars.csv", r->d.bars, r->d.nbars);
    r->late = slurp_checked(r->dir, "late.csv", r->d.late, r->d.nlate);
    r->dlq = slurp_checked(r->dir, "dlq.csv", r->d.dlq, r->d.ndlq);
}

static void result_free(result *r)
{
    tu_rmrf(r->dir);
    free(r->dir);
    free(r->bars);
    free(r->late);
    free(r->dlq);
}

/*
 * One partition, B = 10, I = 0, tumbling 100.
 *   off 0 t=100: W=-inf, on time; maxev 100, W = 100-10-1 = 89
 *   off 1 t=95 : 95 > 89, on time (out of order but within B)
 *   off 2 t=89 : 89 <= 89, late with W=89
 *   off 3 t=90 : 90 > 89, on time
 *   off 4 t=200: on time; maxev 200, W = 189
 *   off 5 t=150: 150 <= 189, late with W=189 (though its window never closed
 *                before: lateness is decided by W alone)
 * Windows: [0,100) holds t=90 (price 4) then t=95 (price 2) in t order:
 * open 4 high 4 low 2 close 2, vol 2, vwap (4+2)/2 = 3.  [100,200) holds t=100
 * alone, [200,300) t=200 alone.
 */
START_TEST(watermark_and_bound)
{
    pl_config c;
    result r;
    cfg_base(&c, 10, 0);
    cfg_agg(&c, "t", PL_AGG_TUMBLING, 100, 0, 0);
    run_batch("partition,ingest_ns,event_ns,symbol,price,qty\n"
              "0,1000,100,A,1,1\n"
              "0,1001,95,A,2,1\n"
              "0,1002,89,A,3,1\n"
              "0,1003,90,A,4,1\n"
              "0,1004,200,A,5,1\n"
              "0,1005,150,A,6,1\n",
              -1, &c, &r);
    ck_assert_str_eq(r.bars, BARS_H
                     "t,A,0,0,100,4.00000000,4.00000000,2.00000000,2.00000000,2,2,3.00000000\n"
                     "t,A,1,100,200,1.00000000,1.00000000,1.00000000,1.00000000,1,1,1.00000000\n"
                     "t,A,2,200,300,5.00000000,5.00000000,5.00000000,5.00000000,1,1,5.00000000\n");
    ck_assert_str_eq(r.late, LATE_H
                     "0,2,89,A,3.00000000,1,89\n"
                     "0,5,150,A,6.00000000,1,189\n");
    ck_assert_str_eq(r.dlq, DLQ_H);
    result_free(&r);
}
END_TEST

/*
 * Two partitions, B = 0, tumbling 1000.  Canonical order (by ingest):
 *   pos0 p0/0 T=100 t=1000    pos4 p1/1 T=170 t=1030
 *   pos1 p0/1 T=140 t=1010    pos5 p0/3 T=180 t=1040
 *   pos2 p0/2 T=151 t=1020    pos6 p1/2 T=190 t=1025
 *   pos3 p1/0 T=160 t=1019
 * last_ingest starts at 100 (the first record's ingest) for both partitions.
 */
static const char *idle_csv =
    "0,100,1000,A,1,1\n"
    "0,140,1010,A,1,1\n"
    "0,151,1020,A,1,1\n"
    "1,160,1019,A,2,1\n"
    "1,170,1030,A,3,1\n"
    "0,180,1040,A,4,1\n"
    "1,190,1025,A,5,1\n";

/*
 * I = 50.  pos0, pos1: p1 is active (T - 100 <= 50) and has no events, so
 * W = -inf.  pos2: T=151, 151-100 = 51 > 50, p1 is idle; W = wm0 = 1019.
 * pos3: p1 resumes with t=1019 <= 1019, late with W=1019; afterwards
 * min(wm0=1019, wm1=1018) = 1018 but W stays 1019 (never decreases).
 * pos4: t=1030 on time; min(1019, 1029) -> W 1019.  pos5: t=1040 on time;
 * min(1039, 1029) -> W 1029.  pos6: t=1025 <= 1029, late with W=1029.
 * Window [1000,2000) (seq 1) holds t=1000,1010,1020,1030,1040 at prices
 * 1,1,1,3,4: open 1 high 4 low 1 close 4, vol 5, vwap 10/5 = 2.
 */
START_TEST(idle_partition_makes_late)
{
    pl_config c;
    result r;
    cfg_base(&c, 0, 50);
    cfg_agg(&c, "w", PL_AGG_TUMBLING, 1000, 0, 0);
    run_batch(idle_csv, 2, &c, &r);
    ck_assert_str_eq(r.bars, BARS_H
                     "w,A,1,1000,2000,1.00000000,4.00000000,1.00000000,4.00000000,5,5,2.00000000\n");
    ck_assert_str_eq(r.late, LATE_H
                     "1,0,1019,A,2.00000000,1,1019\n"
                     "1,2,1025,A,5.00000000,1,1029\n");
    ck_assert_str_eq(r.dlq, DLQ_H);
    result_free(&r);
}
END_TEST

/*
 * The same log with I = 0: the silent p1 holds W at -inf through pos2, so
 * pos3 (t=1019) is on time; then W = min(1019, 1018) = 1018, pos4 -> 1019,
 * pos5 -> min(1039, 1029) = 1029, pos6 t=1025 late with W=1029.
 * The window gains t=1019 at price 2: 1,1,2,1,3,4 in t order,
 * vol 6, vwap 12/6 = 2.
 */
START_TEST(no_idleness_waits)
{
    pl_config c;
    result r;
    cfg_base(&c, 0, 0);
    cfg_agg(&c, "w", PL_AGG_TUMBLING, 1000, 0, 0);
    run_batch(idle_csv, 2, &c, &r);
    ck_assert_str_eq(r.bars, BARS_H
                     "w,A,1,1000,2000,1.00000000,4.00000000,1.00000000,4.00000000,6,6,2.00000000\n");
    ck_assert_str_eq(r.late, LATE_H "1,2,1025,A,5.00000000,1,1029\n");
    result_free(&r);
}
END_TEST

/*
 * The idleness boundary and W's monotonicity.  B = 0, I = 50, two partitions,
 * last_ingest starts at 100.  Canonical order:
 *   pos0 p0/0 T=100 t=1000 price 1: W=-inf before; p1 active, none: W=-inf
 *   pos1 p0/1 T=150 t=1005 price 2: 150-100 = 50 <= 50, p1 still active:
 *        W=-inf
 *   pos2 p0/2 T=151 t=1004 price 3: on time (W=-inf before it); now p1 is
 *        idle (51 > 50): W = wm0 = 1005-0-1 = 1004
 *   pos3 p0/3 T=152 t=1020 price 4: on time; W = 1019
 *   pos4 p1/0 T=160 t=1010 price 6: late with W=1019; p1 active again with
 *        wm1 = 1009, min(1019, 1009) = 1009 but W stays 1019
 *   pos5 p0/4 T=161 t=1015 price 5: 1015 <= 1019, late with W=1019
 * Window [1000,2000) holds t=1000,1004,1005,1020 at prices 1,3,2,4:
 * open 1 high 4 low 1 close 4, vol 4, vwap 10/4 = 2.5.
 */
START_TEST(idle_boundary_and_monotone_watermark)
{
    pl_config c;
    result r;
    cfg_base(&c, 0, 50);
    cfg_agg(&c, "w", PL_AGG_TUMBLING, 1000, 0, 0);
    run_batch("0,100,1000,A,1,1\n"
              "0,150,1005,A,2,1\n"
              "0,151,1004,A,3,1\n"
              "0,152,1020,A,4,1\n"
              "1,160,1010,A,6,1\n"
              "0,161,1015,A,5,1\n",
              2, &c, &r);
    ck_assert_str_eq(r.late, LATE_H
                     "0,4,1015,A,5.00000000,1,1019\n"
                     "1,0,1010,A,6.00000000,1,1019\n");
    ck_assert_str_eq(r.bars, BARS_H
                     "w,A,1,1000,2000,1.00000000,4.00000000,1.00000000,4.00000000,4,4,2.50000000\n");
    result_free(&r);
}
END_TEST

/*
 * A partition with no records at all (p1 of 2) holds W at -inf for the whole
 * run when I = 0: nothing is late however far back t jumps.  With I = 5 it
 * is idle once T - 10 > 5, i.e. from T=16 on.  Records (p0): T=10 t=100,
 * T=16 t=50, T=17 t=49.  I=5: pos0 W=-inf (p1 active, no events); pos1
 * t=50 on time, then p1 idle so W = wm0 = 100-0-1 = 99; pos2 t=49 late, W=99.
 */
START_TEST(empty_partition_holds_watermark)
{
    static const char *csv = "0,10,100,A,1,1\n0,16,50,A,1,1\n0,17,49,A,1,1\n";
    pl_config c;
    result r;
    cfg_base(&c, 0, 0);
    cfg_agg(&c, "k", PL_AGG_TICKS, 0, 0, 100);
    run_batch(csv, 2, &c, &r);
    ck_assert_str_eq(r.late, LATE_H);
    ck_assert_str_eq(r.bars, BARS_H); /* 3 ticks < 100: incomplete, not emitted */
    result_free(&r);

    cfg_base(&c, 0, 5);
    cfg_agg(&c, "k", PL_AGG_TICKS, 0, 0, 100);
    run_batch(csv, 2, &c, &r);
    ck_assert_str_eq(r.late, LATE_H "0,2,49,A,1.00000000,1,99\n");
    result_free(&r);
}
END_TEST

/*
 * Poison of every reason, spread over two partitions so that the table's
 * (partition, offset) order differs from canonical order.  Offsets count
 * poison records too.  Hex by byte: "garbage" = 67 61 72 62 61 67 65,
 * "12a,A,1,1" = 31 32 61 2c 41 2c 31 2c 31, and so on; the CR of a CRLF line
 * belongs to the payload (0d), making "1\r" a bad qty.  The two valid events
 * (A t=5 price 1 qty 1, B t=6 price 1.5 qty 2) land in window [0,10).
 */
START_TEST(poison_in_dlq)
{
    pl_config c;
    result r;
    cfg_base(&c, 0, 0);
    cfg_agg(&c, "t10", PL_AGG_TUMBLING, 10, 0, 0);
    run_batch("partition,ingest_ns,event_ns,symbol,price,qty\n"
              "1,1,garbage\n"        /* p1/0 fields */
              "0,2,12a,A,1,1\n"      /* p0/0 event_time */
              "0,3,5,A,1,1\n"        /* p0/1 valid */
              "1,4,5,a,1,1\n"        /* p1/1 symbol (lowercase) */
              "0,5,5,A,0,1\n"        /* p0/2 price (zero) */
              "1,6,5,A,1,0\n"        /* p1/2 qty (zero) */
              "0,7,5,A,1,1\r\n"      /* p0/3 qty ("1\r") */
              "1,8,5,A,1,1,1\n"      /* p1/3 fields (five) */
              "1,9,6,B,1.5,2",       /* p1/4 valid; no final LF */
              -1, &c, &r);
    ck_assert_str_eq(r.dlq, DLQ_H
                     "0,0,event_time,3132612c412c312c31\n"
                     "0,2,price,352c412c302c31\n"
                     "0,3,qty,352c412c312c310d\n"
                     "1,0,fields,67617262616765\n"
                     "1,1,symbol,352c612c312c31\n"
                     "1,2,qty,352c412c312c30\n"
                     "1,3,fields,352c412c312c312c31\n");
    ck_assert_str_eq(r.bars, BARS_H
                     "t10,A,0,0,10,1.00000000,1.00000000,1.00000000,1.00000000,1,1,1.00000000\n"
                     "t10,B,0,0,10,1.50000000,1.50000000,1.50000000,1.50000000,2,1,1.50000000\n");
    ck_assert_str_eq(r.late, LATE_H);
    result_free(&r);
}
END_TEST

/*
 * Poison records count for idleness (step 3 runs for them) but not for
 * maxev.  I = 5, B = 0; last_ingest starts at 0.  Canonical order:
 *   pos0 p0/0 T=0  t=100  on time; p1 active (0 <= 5), no events: W=-inf
 *   pos1 p1/0 T=6  poison; p0 idle (6 > 5), p1 active, wm1=-inf: W=-inf
 *   pos2 p1/1 T=9  poison; the same
 *   pos3 p0/1 T=10 t=60   on time; p1 active (10-9 <= 5): W=-inf
 *   pos4 p0/2 T=12 t=50   on time; p1 active (12-9 <= 5): W=-inf
 * No late rows; compare silent_partition_goes_idle below.
 */
START_TEST(poison_keeps_partition_active)
{
    pl_config c;
    result r;
    cfg_base(&c, 0, 5);
    cfg_agg(&c, "k", PL_AGG_TICKS, 0, 0, 2);
    run_batch("0,0,100,A,1,1\n"
              "1,6,x\n"
              "1,9,y\n"
              "0,10,60,A,2,1\n"
              "0,12,50,A,3,1\n",
              -1, &c, &r);
    ck_assert_str_eq(r.late, LATE_H);
    ck_assert_str_eq(r.dlq, DLQ_H "1,0,fields,78\n1,1,fields,79\n");
    /* ticks:2 on t order 50 (3), 60 (2), 100 (1): one bar of t=50,60;
     * vwap (3+2)/2 = 2.5; t=100 alone is incomplete */
    ck_assert_str_eq(r.bars, BARS_H
                     "k,A,0,50,61,3.00000000,3.00000000,2.00000000,2.00000000,2,2,2.50000000\n");
    result_free(&r);
}
END_TEST

/*
 * Without the poison on p1, p1 never produces and is idle from T=6 on
 * (6 - 0 > 5): at pos1 (T=10, t=60) W = -inf before it, on time; then
 * W = wm0 = 100-0-1 = 99, so pos2 (T=12, t=50) is late with W=99.
 */
START_TEST(silent_partition_goes_idle)
{
    pl_config c;
    result r;
    cfg_base(&c, 0, 5);
    cfg_agg(&c, "k", PL_AGG_TICKS, 0, 0, 2);
    run_batch("0,0,100,A,1,1\n"
              "0,10,60,A,2,1\n"
              "0,12,50,A,3,1\n",
              2, &c, &r);
    ck_assert_str_eq(r.late, LATE_H "0,2,50,A,3.00000000,1,99\n");
    /* ticks:2 over t=60 (2), t=100 (1): vwap 1.5 */
    ck_assert_str_eq(r.bars, BARS_H
                     "k,A,0,60,101,2.00000000,2.00000000,1.00000000,1.00000000,2,2,1.50000000\n");
    result_free(&r);
}
END_TEST

/*
 * Events X at t = 0, 9, 10, 19, 20, 25 with prices 1..6, qty 1, in order.
 * "tum" tumbling 10: [0,10) {0,9}, [10,20) {10,19}, [20,30) {20,25}.
 * "sl" sliding 10/5, windows [5k, 5k+10): t=0 in k0; 9 in k0,k1; 10 in k1,k2;
 *   19 in k2,k3; 20 in k3,k4; 25 in k4,k5.  So k0 {0,9} vwap 1.5, k1 {9,10}
 *   2.5, k2 {10,19} 3.5, k3 {19,20} 4.5, k4 {20,25} 5.5, k5 {25} 6.
 * "gap" sliding 3/10, windows [10k, 10k+3): t=0 in k0, 10 in k1, 20 in k2;
 *   9, 19 and 25 fall between windows.
 * Output is ordered by name: gap, sl, tum.
 */
START_TEST(time_windows)
{
    pl_config c;
    result r;
    cfg_base(&c, 0, 0);
    cfg_agg(&c, "tum", PL_AGG_TUMBLING, 10, 0, 0);
    cfg_agg(&c, "sl", PL_AGG_SLIDING, 10, 5, 0);
    cfg_agg(&c, "gap", PL_AGG_SLIDING, 3, 10, 0);
    run_batch("0,1,0,X,1,1\n"
              "0,2,9,X,2,1\n"
              "0,3,10,X,3,1\n"
              "0,4,19,X,4,1\n"
              "0,5,20,X,5,1\n"
              "0,6,25,X,6,1\n",
              -1, &c, &r);
    ck_assert_str_eq(r.bars, BARS_H
        "gap,X,0,0,3,1.00000000,1.00000000,1.00000000,1.00000000,1,1,1.00000000\n"
        "gap,X,1,10,13,3.00000000,3.00000000,3.00000000,3.00000000,1,1,3.00000000\n"
        "gap,X,2,20,23,5.00000000,5.00000000,5.00000000,5.00000000,1,1,5.00000000\n"
        "sl,X,0,0,10,1.00000000,2.00000000,1.00000000,2.00000000,2,2,1.50000000\n"
        "sl,X,1,5,15,2.00000000,3.00000000,2.00000000,3.00000000,2,2,2.50000000\n"
        "sl,X,2,10,20,3.00000000,4.00000000,3.00000000,4.00000000,2,2,3.50000000\n"
        "sl,X,3,15,25,4.00000000,5.00000000,4.00000000,5.00000000,2,2,4.50000000\n"
        "sl,X,4,20,30,5.00000000,6.00000000,5.00000000,6.00000000,2,2,5.50000000\n"
        "sl,X,5,25,35,6.00000000,6.00000000,6.00000000,6.00000000,1,1,6.00000000\n"
        "tum,X,0,0,10,1.00000000,2.00000000,1.00000000,2.00000000,2,2,1.50000000\n"
        "tum,X,1,10,20,3.00000000,4.00000000,3.00000000,4.00000000,2,2,3.50000000\n"
        "tum,X,2,20,30,5.00000000,6.00000000,5.00000000,6.00000000,2,2,5.50000000\n");
    ck_assert_str_eq(r.late, LATE_H);
    result_free(&r);
}
END_TEST

/*
 * Symbol S, qty and price per event (t = 1..7):
 *   t  1  2  3  4  5  6  7
 *   p 10 20 10 30 10 10 40
 *   q  4  3  5  1  2  6  1      notional p*q: 40 60 50 30 20 60 40
 * "k3" ticks 3: {1,2,3} vol 12, vwap 150/12 = 12.5; {4,5,6} vol 9,
 *   vwap 110/9 = 12.2222222222 -> 12.22222222; t=7 incomplete, dropped.
 * "v10" volume 10: running qty 4,7,12 -> {1,2,3} closes at 12 >= 10;
 *   then 1,3,9,10 -> {4,5,6,7} closes at exactly 10, vwap 150/10 = 15.
 * "d100" dollar 100: 40,100 -> {1,2} (exactly 100), vol 7, vwap 100/7 =
 *   14.285714285 -> 14.28571429 (e8 remainder 4/7 >= 1/2 rounds up);
 *   50,80,100 -> {3,4,5} vol 8 vwap 12.5; 60,100 -> {6,7} vol 7, 14.28571429.
 * end_ns is the last event's t + 1.
 */
START_TEST(data_driven_bars)
{
    pl_config c;
    result r;
    cfg_base(&c, 0, 0);
    cfg_agg(&c, "v10", PL_AGG_VOLUME, 0, 0, 10);
    cfg_agg(&c, "k3", PL_AGG_TICKS, 0, 0, 3);
    cfg_agg(&c, "d100", PL_AGG_DOLLAR, 0, 0, 100);
    run_batch("0,1,1,S,10,4\n"
              "0,2,2,S,20,3\n"
              "0,3,3,S,10,5\n"
              "0,4,4,S,30,1\n"
              "0,5,5,S,10,2\n"
              "0,6,6,S,10,6\n"
              "0,7,7,S,40,1\n",
              -1, &c, &r);
    ck_assert_str_eq(r.bars, BARS_H
        "d100,S,0,1,3,10.00000000,20.00000000,10.00000000,20.00000000,7,2,14.28571429\n"
        "d100,S,1,3,6,10.00000000,30.00000000,10.00000000,10.00000000,8,3,12.50000000\n"
        "d100,S,2,6,8,10.00000000,40.00000000,10.00000000,40.00000000,7,2,14.28571429\n"
        "k3,S,0,1,4,10.00000000,20.00000000,10.00000000,10.00000000,12,3,12.50000000\n"
        "k3,S,1,4,7,30.00000000,30.00000000,10.00000000,10.00000000,9,3,12.22222222\n"
        "v10,S,0,1,4,10.00000000,20.00000000,10.00000000,10.00000000,12,3,12.50000000\n"
        "v10,S,1,4,8,30.00000000,40.00000000,10.00000000,40.00000000,10,4,15.00000000\n");
    result_free(&r);
}
END_TEST

/*
 * Dollar bars compare sum(price_e8 * qty) with D * 10^8: 0.33333333 * 3 =
 * 0.99999999 < 1, + 0.00000001 * 1 = 1.00000000 >= 1 closes the bar (vol 4,
 * vwap 10^8 / 4 = 25000000 -> 0.25000000); 0.99999999 alone stays open and
 * is dropped.
 */
START_TEST(dollar_fractions)
{
    pl_config c;
    result r;
    cfg_base(&c, 0, 0);
    cfg_agg(&c, "d1", PL_AGG_DOLLAR, 0, 0, 1);
    run_batch("0,1,10,F,0.33333333,3\n"
              "0,2,11,F,0.00000001,1\n"
              "0,3,12,F,0.99999999,1\n",
              -1, &c, &r);
    ck_assert_str_eq(r.bars, BARS_H
        "d1,F,0,10,12,0.33333333,0.33333333,0.00000001,0.00000001,4,2,0.25000000\n");
    result_free(&r);
}
END_TEST

/*
 * VWAP rounds half up, in price_e8 units, one tumbling-10 window each:
 *   [0,10):  2e-8 and 3e-8, qty 1: 5/2 = 2.5 -> 3 (half-even would give 2,
 *            truncation 2)
 *   [10,20): 1,1,2 e-8: 4/3 = 1.33 -> 1
 *   [20,30): 1,2,2 e-8: 5/3 = 1.67 -> 2
 *   [30,40): 1.00000001 x3 and 1.00000000 x1: (300000003 + 100000000)/4 =
 *            100000000.75 -> 100000001
 */
START_TEST(vwap_half_up)
{
    pl_config c;
    result r;
    cfg_base(&c, 0, 0);
    cfg_agg(&c, "w", PL_AGG_TUMBLING, 10, 0, 0);
    run_batch("0,1,0,H,0.00000002,1\n"
              "0,2,1,H,0.00000003,1\n"
              "0,3,10,H,0.00000001,1\n"
              "0,4,11,H,0.00000001,1\n"
              "0,5,12,H,0.00000002,1\n"
              "0,6,20,H,0.00000001,1\n"
              "0,7,21,H,0.00000002,1\n"
              "0,8,22,H,0.00000002,1\n"
              "0,9,30,H,1.00000001,3\n"
              "0,10,31,H,1,1\n",
              -1, &c, &r);
    ck_assert_str_eq(r.bars, BARS_H
        "w,H,0,0,10,0.00000002,0.00000003,0.00000002,0.00000003,2,2,0.00000003\n"
        "w,H,1,10,20,0.00000001,0.00000002,0.00000001,0.00000002,3,3,0.00000001\n"
        "w,H,2,20,30,0.00000001,0.00000002,0.00000001,0.00000002,3,3,0.00000002\n"
        "w,H,3,30,40,1.00000001,1.00000001,1.00000000,1.00000000,4,2,1.00000001\n");
    result_free(&r);
}
END_TEST

/*
 * Values at the edges of the ranges.  BIG at t = 9e18 (price 1, qty 1) and
 * t = 2^63-1 (price 9999999999.99999999, qty 10^9).
 * "d" dollar INT64_MAX: goal 9223372036854775807 * 10^8 ~ 9.22e26; the
 *   second notional 999999999999999999 * 10^9 ~ 1e27 crosses it, so one bar
 *   of both: vol 1000000001, vwap (10^8 + 999999999999999999 * 10^9) /
 *   1000000001 = 999999999000000000 rem 10^8 (< half) -> 9999999990.00000000;
 *   end = 2^63-1 + 1 = 9223372036854775808, beyond int64, printed unsigned.
 * "t1" ticks 1: one bar per event.
 * "w" tumbling 5e18: both in k=1, [5e18, 10^19): the end exceeds INT64_MAX.
 */
START_TEST(extremes)
{
    pl_config c;
    result r;
    cfg_base(&c, 0, 0);
    cfg_agg(&c, "w", PL_AGG_TUMBLING, 5000000000000000000LL, 0, 0);
    cfg_agg(&c, "t1", PL_AGG_TICKS, 0, 0, 1);
    cfg_agg(&c, "d", PL_AGG_DOLLAR, 0, 0, INT64_MAX);
    run_batch("0,1,9000000000000000000,BIG,1,1\n"
              "0,2,9223372036854775807,BIG,9999999999.99999999,1000000000\n",
              -1, &c, &r);
    ck_assert_str_eq(r.bars, BARS_H
        "d,BIG,0,9000000000000000000,9223372036854775808,1.00000000,9999999999.99999999,"
        "1.00000000,9999999999.99999999,1000000001,2,9999999990.00000000\n"
        "t1,BIG,0,9000000000000000000,9000000000000000001,1.00000000,1.00000000,"
        "1.00000000,1.00000000,1,1,1.00000000\n"
        "t1,BIG,1,9223372036854775807,9223372036854775808,9999999999.99999999,"
        "9999999999.99999999,9999999999.99999999,9999999999.99999999,1000000000,1,"
        "9999999999.99999999\n"
        "w,BIG,1,5000000000000000000,10000000000000000000,1.00000000,9999999999.99999999,"
        "1.00000000,9999999999.99999999,1000000001,2,9999999990.00000000\n");
    result_free(&r);
}
END_TEST

/*
 * Ordering: aggregations by name bytewise ("1m" < "B" < "a": digits, then
 * upper, then lower case), symbols bytewise ('-' 2d < '.' 2e < '0' 30 <
 * 'B' 42 < '_' 5f), seq numerically (2 before 10, though "10" < "2" as text).
 * B = 100 keeps everything on time.  Tumbling 1: window [t, t+1), seq t.
 */
START_TEST(output_order)
{
    static const char *rows[] = {
        "A-,2,2,3", "A-,10,10,11", "A.,5,5,6", "A0,4,4,5", "AB,3,3,4", "A_,10,10,11",
    };
    static const char *names[] = {"1m", "B", "a"};
    char expect[4096];
    size_t n;
    pl_config c;
    result r;
    cfg_base(&c, 100, 0);
    cfg_agg(&c, "a", PL_AGG_TUMBLING, 1, 0, 0);
    cfg_agg(&c, "B", PL_AGG_TUMBLING, 1, 0, 0);
    cfg_agg(&c, "1m", PL_AGG_TUMBLING, 1, 0, 0);
    run_batch("0,1,10,A_,1,1\n"
              "0,2,2,A-,1,1\n"
              "0,3,10,A-,1,1\n"
              "0,4,3,AB,1,1\n"
              "0,5,4,A0,1,1\n"
              "0,6,5,A.,1,1\n",
              -1, &c, &r);
    n = (size_t)snprintf(expect, sizeof expect, "%s", BARS_H);
    for (size_t j = 0; j < 3; j++)
        for (size_t i = 0; i < 6; i++)
            n += (size_t)snprintf(expect + n, sizeof expect - n,
                                  "%s,%s,1.00000000,1.00000000,1.00000000,1.00000000,1,1,"
                                  "1.00000000\n",
                                  names[j], rows[i]);
    ck_assert_str_eq(r.bars, expect);
    result_free(&r);
}
END_TEST

/* An empty log still yields the three tables, each just its header. */
START_TEST(empty_log)
{
    pl_config c;
    result r;
    cfg_base(&c, 0, 0);
    cfg_agg(&c, "w", PL_AGG_TUMBLING, 10, 0, 0);
    run_batch("partition,ingest_ns,event_ns,symbol,price,qty\n", 1, &c, &r);
    ck_assert_str_eq(r.bars, BARS_H);
    ck_assert_str_eq(r.late, LATE_H);
    ck_assert_str_eq(r.dlq, DLQ_H);
    ck_assert_int_eq(r.d.nbars + r.d.nlate + r.d.ndlq, 0);
    result_free(&r);
}
END_TEST

/* An output path that is a regular file is an error naming it, not a crash. */
START_TEST(bad_outdir)
{
    char *dir = tu_tmpdir();
    char path[4096], logdir[4096], outdir[4096];
    pl_errbuf eb = {{0}};
    pl_log *log = NULL;
    pl_digests d;
    pl_config c;
    int rc;
    cfg_base(&c, 0, 0);
    cfg_agg(&c, "w", PL_AGG_TUMBLING, 10, 0, 0);
    snprintf(path, sizeof path, "%s/in.csv", dir);
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    snprintf(outdir, sizeof outdir, "%s/file", dir);
    tu_write(path, "0,1,1,A,1,1\n");
    tu_write(outdir, "x");
    ck_assert_int_eq(pl_log_import(path, logdir, -1, 0, NULL, &eb), 0);
    ck_assert_int_eq(pl_log_open(logdir, &log, &eb), 0);
    rc = pl_batch_run(log, &c, outdir, &d, &eb);
    ck_assert_int_lt(rc, 0);
    ck_assert_msg(strstr(eb.msg, outdir) != NULL, "message does not name the path: %s",
                  eb.msg);
    pl_log_close(log);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/*
 * Sliding windows against brute force: for every window index k in range,
 * collect the symbol's events with t in [k*slide, k*slide + size) in
 * (t, position) order.  One partition with ingest = file order, so position
 * = line number; B = 10^6 keeps every event on time.  Random but seeded.
 */
#define NRAND 400
START_TEST(sliding_matches_brute_force)
{
    static const int64_t specs[][2] = {{7, 3}, {3, 7}, {10, 10}, {1, 1}, {5, 1}, {64, 16}};
    static const char *syms[] = {"X", "Y", "Z"};
    int64_t t[NRAND], price[NRAND], qty[NRAND];
    int sym[NRAND];
    uint64_t seed = 12345;
    size_t cap = 1 << 22, n = 0;
    char *csv = malloc(cap), *expect = malloc(cap);
    pl_config c;
    result r;

    ck_assert(csv && expect);
    cfg_base(&c, 1000000, 0);
    for (size_t j = 0; j < sizeof specs / sizeof specs[0]; j++) {
        char name[8];
        snprintf(name, sizeof name, "s%zu", j);
        cfg_agg(&c, name, PL_AGG_SLIDING, specs[j][0], specs[j][1], 0);
    }
    for (int i = 0; i < NRAND; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        t[i] = (int64_t)((seed >> 33) % 200);
        sym[i] = (int)((seed >> 20) % 3);
        price[i] = 1 + (int64_t)((seed >> 40) % 5);
        qty[i] = 1 + (int64_t)((seed >> 50) % 3);
        n += (size_t)snprintf(csv + n, cap - n, "0,%d,%" PRId64 ",%s,%" PRId64 ",%" PRId64 "\n",
                              i, t[i], syms[sym[i]], price[i], qty[i]);
    }
    run_batch(csv, 1, &c, &r);

    n = (size_t)snprintf(expect, cap, "%s", BARS_H);
    for (size_t j = 0; j < sizeof specs / sizeof specs[0]; j++) {
        int64_t size = specs[j][0], slide = specs[j][1];
        for (int s = 0; s < 3; s++) {
            for (int64_t k = 0; k * slide < 200; k++) {
                int64_t lo = k * slide, hi = lo + size;
                int64_t o = 0, h = 0, l = 0, cl = 0, vol = 0, notional = 0, trades = 0, vw;
                /* t order, then line order: scan t upwards */
                for (int64_t tt = lo; tt < hi && tt < 200; tt++)
                    for (int i = 0; i < NRAND; i++) {
                        if (sym[i] != s || t[i] != tt)
                            continue;
                        if (trades == 0)
                            o = h = l = price[i];
                        h = price[i] > h ? price[i] : h;
                        l = price[i] < l ? price[i] : l;
                        cl = price[i];
                        vol += qty[i];
                        notional += price[i] * 100000000 * qty[i];
                        trades++;
                    }
                if (trades == 0)
                    continue;
                vw = notional / vol + (2 * (notional % vol) >= vol);
                n += (size_t)snprintf(expect + n, cap - n,
                                      "s%zu,%s,%" PRId64 ",%" PRId64 ",%" PRId64
                                      ",%" PRId64 ".00000000,%" PRId64 ".00000000,%" PRId64
                                      ".00000000,%" PRId64 ".00000000,%" PRId64 ",%" PRId64
                                      ",%" PRId64 ".%08" PRId64 "\n",
                                      j, syms[s], k, lo, hi, o, h, l, cl, vol, trades,
                                      vw / 100000000, vw % 100000000);
            }
        }
    }
    ck_assert_str_eq(r.bars, expect);
    result_free(&r);
    free(csv);
    free(expect);
}
END_TEST

/* ------------------------------------------------- the stoppable sort */

/* Unique keys in a scrambled order (multiplying by an odd constant is a
 * bijection mod 2^64); v keeps the element's identity. */
typedef struct kv {
    uint64_t k;
    uint64_t v;
} kv;

static long kv_cmps, kv_stop_at; /* comparisons so far; request a stop at this one */

static int cmp_kv(const void *a, const void *b)
{
    const kv *x = a, *y = b;
    if (++kv_cmps == kv_stop_at)
        pl_stop = 1;
    return x->k < y->k ? -1 : x->k > y->k;
}

static kv *kv_make(size_t n)
{
    kv *a = malloc((n ? n : 1) * sizeof *a);
    ck_assert_ptr_nonnull(a);
    for (size_t i = 0; i < n; i++) {
        a[i].k = (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ULL;
        a[i].v = i;
    }
    return a;
}

/* The same order as libc's qsort, for sizes around the sort's run length
 * (65536 elements) and several merge passes. */
START_TEST(batch_sort_is_qsort)
{
    static const size_t sizes[] = {0, 1, 2, 1000, 65535, 65536, 65537, 3 * 65536 + 7,
                                   5 * 65536 + 1};
    pl_errbuf eb = {{0}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        kv *a = kv_make(n), *b = kv_make(n);
        kv_stop_at = 0;
        ck_assert_int_eq(pl__batch_sort(a, n, sizeof *a, cmp_kv, &eb), 0);
        if (n > 1)
            qsort(b, n, sizeof *b, cmp_kv);
        ck_assert_msg(memcmp(a, b, n * sizeof *a) == 0, "n = %zu: not qsort's order", n);
        for (size_t i = 1; i < n; i++)
            ck_assert(a[i - 1].k < a[i].k);
        free(a);
        free(b);
    }
}
END_TEST

/* A stop requested in the middle of the sort (at a given comparison, in the
 * runs and in the last merge) ends it within one run's work, -EINTR. */
START_TEST(batch_sort_stops_promptly)
{
    const size_t n = 8 * 65536;
    pl_errbuf eb = {{0}};
    long total, at[2];
    kv *a = kv_make(n);
    kv_cmps = kv_stop_at = 0;
    ck_assert_int_eq(pl__batch_sort(a, n, sizeof *a, cmp_kv, &eb), 0);
    total = kv_cmps;
    free(a);
    /* the last merge pass compares fewer than n times: at[1] lies in it */
    at[0] = 1000;
    at[1] = total - (long)n / 4;
    for (int i = 0; i < 2; i++) {
        a = kv_make(n);
        pl_stop = 0;
        kv_cmps = 0;
        kv_stop_at = at[i];
        eb.msg[0] = 0;
        ck_assert_int_eq(pl__batch_sort(a, n, sizeof *a, cmp_kv, &eb), -EINTR);
        ck_assert(strstr(eb.msg, "interrupted") != NULL);
        /* in a run: what remains of its qsort; in a merge: < 65536 steps */
        ck_assert_msg(kv_cmps - at[i] <= (i == 0 ? 65536L * 20 : 65536L),
                      "stop at comparison %ld of %ld seen after %ld more", at[i], total,
                      kv_cmps - at[i]);
        free(a);
    }
    pl_stop = 0;
}
END_TEST

Suite *batch_suite(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("batch");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, watermark_and_bound);
    tcase_add_test(tc, idle_partition_makes_late);
    tcase_add_test(tc, no_idleness_waits);
    tcase_add_test(tc, idle_boundary_and_monotone_watermark);
    tcase_add_test(tc, empty_partition_holds_watermark);
    tcase_add_test(tc, poison_in_dlq);
    tcase_add_test(tc, poison_keeps_partition_active);
    tcase_add_test(tc, silent_partition_goes_idle);
    tcase_add_test(tc, time_windows);
    tcase_add_test(tc, data_driven_bars);
    tcase_add_test(tc, dollar_fractions);
    tcase_add_test(tc, vwap_half_up);
    tcase_add_test(tc, extremes);
    tcase_add_test(tc, output_order);
    tcase_add_test(tc, empty_log);
    tcase_add_test(tc, bad_outdir);
    tcase_add_test(tc, sliding_matches_brute_force);
    tcase_add_test(tc, batch_sort_is_qsort);
    tcase_add_test(tc, batch_sort_stops_promptly);
    suite_add_tcase(s, tc);
    return s;
}
