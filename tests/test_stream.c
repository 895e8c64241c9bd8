/*
 * test_stream.c - the streaming core (pl_stream.h): watermark, idleness,
 * lateness, release order, every aggregation kind with hand-computed bars,
 * 2^63 edges, dead letters, save/restore equivalence at every split point,
 * load fuzzing, and a brute-force oracle on generated logs.
 *
 * Layout: an emission recorder (every emission becomes one text line);
 * helpers that build configurations and push records; the hand-computed
 * cases; the generated-log cases (oracle, save/restore, fuzz); the benchmark
 * (a short run always, the full shape with RP_STREAM_BENCH=1).
 *
 * The oracle here is a batch computation written for this file: it sorts
 * on-time events and cuts bars from sorted runs, sharing nothing with the
 * heap, the window ring or the incremental watermark of stream.c.
 */
#include <check.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pl_config.h"
#include "pl_payload.h"
#include "pl_stream.h"

/* ---- emission recorder ---------------------------------------------- */

typedef struct rec_log {
    char **line;
    size_t n, cap;
    int fail_bar_at; /* >0: the bar callback returns 7 at this bar (1-based) */
    size_t nbars;
} rec_log;

static void log_add(rec_log *L, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (L->n == L->cap) {
        L->cap = L->cap ? L->cap * 2 : 64;
        L->line = realloc(L->line, L->cap * sizeof *L->line);
        ck_assert_ptr_nonnull(L->line);
    }
    L->line[L->n] = strdup(buf);
    ck_assert_ptr_nonnull(L->line[L->n]);
    L->n++;
}

static void log_free(rec_log *L)
{
    for (size_t i = 0; i < L->n; i++)
        free(L->line[i]);
    free(L->line);
    memset(L, 0, sizeof *L);
}

static int on_bar(void *ctx, const pl_bar *b)
{
    rec_log *L = ctx;
    L->nbars++;
    if (L->fail_bar_at && (int)L->nbars == L->fail_bar_at)
        return 7;
    log_add(L, "B %u %.*s %" PRIu64 " %" PRId64 " %" PRIu64 " %" PRId64 " %" PRId64 " %" PRId64
               " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64,
            b->agg, (int)b->sym_len, b->sym, b->seq, b->start_ns, b->end_ns, b->open, b->high,
            b->low, b->close, b->volume, b->trades, b->vwap);
    return 0;
}

static int on_late(void *ctx, const pl_late *l)
{
    log_add(ctx, "L %u %" PRIu64 " %" PRId64 " %.*s %" PRId64 " %" PRId64 " %" PRId64,
            l->partition, l->offset, l->event_ns, (int)l->sym_len, l->sym, l->price_e8, l->qty,
            l->watermark_ns);
    return 0;
}

static int on_dlq(void *ctx, const pl_dlq *d)
{
    char hex[1024];
    ck_assert_uint_lt(d->len, 500);
    pl_fmt_hex(hex, d->payload, d->len);
    log_add(ctx, "D %u %" PRIu64 " %d %s", d->partition, d->offset, d->reason, hex);
    return 0;
}

static pl_emit emitter(rec_log *L)
{
    pl_emit e = { L, on_bar, on_late, on_dlq };
    return e;
}

static int log_has(const rec_log *L, const char *want)
{
    for (size_t i = 0; i < L->n; i++)
        if (strcmp(L->line[i], want) == 0)
            return 1;
    return 0;
}

static size_t log_count(const rec_log *L, char kind)
{
    size_t n = 0;
    for (size_t i = 0; i < L->n; i++)
        n += L->line[i][0] == kind;
    return n;
}

#define ck_assert_line(L, i, want)                                                          \
    do {                                                                                    \
        ck_assert_uint_gt((L)->n, (size_t)(i));                                             \
        ck_assert_str_eq((L)->line[i], want);                                               \
    } while (0)

/* ---- configurations and pushing ------------------------------------ */

static pl_config mkcfg(int64_t B, int64_t I)
{
    pl_config c;
    memset(&c, 0, sizeof c);
    c.max_delay = B;
    c.idle_timeout = I;
    return c;
}

static void add_agg(pl_config *c, int kind, int64_t size, int64_t slide, int64_t thr)
{
    pl_agg_spec *a = &c->aggs[c->naggs];
    ck_assert_int_lt(c->naggs, PL_MAX_AGGS);
    snprintf(a->name, sizeof a->name, "a%d", c->naggs);
    a->kind = kind;
    a->size = size;
    a->slide = kind == PL_AGG_TUMBLING ? size : slide;
    a->threshold = thr;
    c->naggs++;
}

/* A stream plus the bookkeeping that canonical pushes need. */
typedef struct tstream {
    pl_stream *s;
    rec_log log;
    uint64_t off[8];
    uint64_t pos;
} tstream;

static void ts_open(tstream *t, const pl_config *c, uint32_t np)
{
    pl_errbuf eb = { "" };
    pl_emit e;
    memset(t, 0, sizeof *t);
    e = emitter(&t->log);
    ck_assert_msg(pl_stream_new(c, np, &e, &t->s, &eb) == 0, "%s", eb.msg);
}

static void ts_close(tstream *t)
{
    pl_stream_free(t->s);
    log_free(&t->log);
}

static void push(tstream *t, uint32_t p, int64_t T, const char *payload)
{
    int rc = pl_stream_push(t->s, p, t->off[p], T, (const uint8_t *)payload,
                            (uint32_t)strlen(payload), t->pos);
    ck_assert_msg(rc == 0, "push %s: %d %s", payload, rc, pl_stream_errmsg(t->s));
    t->off[p]++;
    t->pos++;
}

static void finish(tstream *t)
{
    int rc = pl_stream_finish(t->s);
    ck_assert_msg(rc == 0, "finish: %d %s", rc, pl_stream_errmsg(t->s));
}

/* ---- watermark, idleness, lateness ---------------------------------- */

START_TEST(test_watermark_bound)
{
    pl_config c = mkcfg(10, 0);
    tstream t;
    pl_stream_stats st;
    add_agg(&c, PL_AGG_TICKS, 0, 0, 1);
    ts_open(&t, &c, 1);
    ck_assert_int_eq(pl_stream_watermark(t.s), PL_WM_NEG_INF);
    push(&t, 0, 1, "100,A,1,1");
    ck_assert_int_eq(pl_stream_watermark(t.s), 89);
    push(&t, 0, 2, "95,A,2,1");
    ck_assert_int_eq(pl_stream_watermark(t.s), 89);
    push(&t, 0, 3, "89,A,3,1"); /* t == W: late */
    push(&t, 0, 4, "90,A,4,1"); /* t == W + 1: on time */
    pl_stream_stats_get(t.s, &st);
    ck_assert_uint_eq(st.buffered, 3);
    ck_assert_uint_eq(st.late, 1);
    ck_assert_uint_eq(t.log.n, 1);
    ck_assert_line(&t.log, 0, "L 0 2 89 A 300000000 1 89");
    push(&t, 0, 5, "200,A,5,1");
    ck_assert_int_eq(pl_stream_watermark(t.s), 189);
    pl_stream_stats_get(t.s, &st);
    ck_assert_uint_eq(st.buffered, 1);
    ck_assert_uint_eq(st.released, 3);
    /* ticks:1 shows the release order: 90, 95, 100 */
    ck_assert_uint_eq(t.log.n, 4);
    ck_assert_line(&t.log, 1, "B 0 A 0 90 91 400000000 400000000 400000000 400000000 1 1 400000000");
    ck_assert_line(&t.log, 2, "B 0 A 1 95 96 200000000 200000000 200000000 200000000 1 1 200000000");
    ck_assert_line(&t.log, 3, "B 0 A 2 100 101 100000000 100000000 100000000 100000000 1 1 100000000");
    finish(&t);
    ck_assert_int_eq(pl_stream_watermark(t.s), PL_WM_POS_INF);
    ck_assert_uint_eq(t.log.n, 5);
    ck_assert_line(&t.log, 4, "B 0 A 3 200 201 500000000 500000000 500000000 500000000 1 1 500000000");
    ts_close(&t);
}
END_TEST

START_TEST(test_watermark_zero_bound)
{
    pl_config c = mkcfg(0, 0);
    tstream t;
    add_agg(&c, PL_AGG_TICKS, 0, 0, 1);
    ts_open(&t, &c, 1);
    push(&t, 0, 1, "100,A,1,1");
    ck_assert_int_eq(pl_stream_watermark(t.s), 99);
    push(&t, 0, 2, "100,A,2,1"); /* equal to maxev: still on time */
    push(&t, 0, 3, "99,A,3,1");  /* late */
    ck_assert_uint_eq(t.log.n, 1);
    ck_assert_line(&t.log, 0, "L 0 2 99 A 300000000 1 99");
    push(&t, 0, 4, "101,A,4,1");
    ck_assert_int_eq(pl_stream_watermark(t.s), 100);
    ck_assert_uint_eq(t.log.n, 3);
    ck_assert_str_eq(t.log.line[1], "B 0 A 0 100 101 100000000 100000000 100000000 100000000 1 1 100000000");
    ck_assert_str_eq(t.log.line[2], "B 0 A 1 100 101 200000000 200000000 200000000 200000000 1 1 200000000");
    ts_close(&t);
}
END_TEST

/* Two partitions, p1 silent at first, I = 100: see the step comments. */
static void idle_log(tstream *t)
{
    push(t, 0, 1000, "500,A,1,1");
    push(t, 0, 1100, "600,A,2,1"); /* p1: 1100 - 1000 = I, still active */
    push(t, 0, 1101, "700,A,3,1"); /* p1 idle now */
    push(t, 1, 1150, "650,A,4,1");
    push(t, 0, 1160, "900,A,5,1");
    push(t, 1, 1170, "850,A,6,1");
}

START_TEST(test_idleness)
{
    pl_config c = mkcfg(0, 100);
    tstream t;
    int has;
    int64_t mx, li;
    add_agg(&c, PL_AGG_TICKS, 0, 0, 1);
    ts_open(&t, &c, 2);
    push(&t, 0, 1000, "500,A,1,1");
    ck_assert_int_eq(pl_stream_watermark(t.s), PL_WM_NEG_INF);
    ck_assert_int_eq(pl_stream_partition(t.s, 1, &has, &mx, &li), 0);
    ck_assert_int_eq(has, 0);
    ck_assert_int_eq(li, 1000); /* initial last_ingest = the first record's */
    push(&t, 0, 1100, "600,A,2,1");
    ck_assert_int_eq(pl_stream_watermark(t.s), PL_WM_NEG_INF);
    push(&t, 0, 1101, "700,A,3,1");
    ck_assert_int_eq(pl_stream_watermark(t.s), 699);
    ck_assert_uint_eq(log_count(&t.log, 'B'), 2); /* 500 and 600 released */
    /* the stalled partition's old event is late */
    push(&t, 1, 1150, "650,A,4,1");
    ck_assert(log_has(&t.log, "L 1 0 650 A 400000000 1 699"));
    /* and still counts for maxev */
    ck_assert_int_eq(pl_stream_partition(t.s, 1, &has, &mx, &li), 0);
    ck_assert_int_eq(has, 1);
    ck_assert_int_eq(mx, 650);
    ck_assert_int_eq(li, 1150);
    /* min(899, 649) < W: W does not go back */
    push(&t, 0, 1160, "900,A,5,1");
    ck_assert_int_eq(pl_stream_watermark(t.s), 699);
    push(&t, 1, 1170, "850,A,6,1");
    ck_assert_int_eq(pl_stream_watermark(t.s), 849);
    ck_assert_uint_eq(log_count(&t.log, 'B'), 3);
    ck_assert_str_eq(t.log.line[t.log.n - 1],
                     "B 0 A 2 700 701 300000000 300000000 300000000 300000000 1 1 300000000");
    ck_assert_int_eq(pl_stream_partition(t.s, 2, &has, &mx, &li), PL_EUSAGE);
    ts_close(&t);
}
END_TEST

START_TEST(test_idleness_off)
{
    pl_config c = mkcfg(0, 0);
    tstream t;
    add_agg(&c, PL_AGG_TICKS, 0, 0, 1);
    ts_open(&t, &c, 2);
    idle_log(&t);
    /* I = 0: p1 holds W at -inf until it speaks, then min(699, 649) */
    ck_assert_int_eq(pl_stream_watermark(t.s), 849);
    ck_assert_uint_eq(log_count(&t.log, 'L'), 0);
    ts_close(&t);

    ts_open(&t, &c, 2);
    push(&t, 0, 1000, "500,A,1,1");
    push(&t, 0, 1000000000, "600,A,2,1");
    push(&t, 0, 2000000000, "700,A,3,1");
    ck_assert_int_eq(pl_stream_watermark(t.s), PL_WM_NEG_INF);
    ck_assert_uint_eq(t.log.n, 0);
    finish(&t);
    ck_assert_uint_eq(log_count(&t.log, 'B'), 3);
    ts_close(&t);
}
END_TEST

START_TEST(test_poison_keeps_partition_active)
{
    pl_config c = mkcfg(0, 100);
    tstream t;
    add_agg(&c, PL_AGG_TICKS, 0, 0, 1);
    ts_open(&t, &c, 2);
    push(&t, 1, 0, "10,A,1,1");
    push(&t, 1, 150, "garbage");
    push(&t, 0, 200, "500,A,2,1");
    /* p1 spoke (poison) at 150: active, so W = min(499, 9) */
    ck_assert_int_eq(pl_stream_watermark(t.s), 9);
    push(&t, 0, 251, "600,A,3,1");
    ck_assert_int_eq(pl_stream_watermark(t.s), 599);
    ts_close(&t);
}
END_TEST

START_TEST(test_release_tie_break)
{
    pl_config c = mkcfg(0, 0);
    tstream t;
    char buf[64];
    add_agg(&c, PL_AGG_TICKS, 0, 0, 1);
    ts_open(&t, &c, 3);
    /* 30 events at t = 50 across partitions: positions decide the order */
    for (int i = 0; i < 30; i++) {
        snprintf(buf, sizeof buf, "50,X,%d,1", i + 1);
        push(&t, (uint32_t)(i % 3), 10 + i / 3, buf);
    }
    ck_assert_int_eq(pl_stream_watermark(t.s), 49);
    push(&t, 0, 100, "60,X,99,1");
    push(&t, 1, 100, "60,X,99,1");
    ck_assert_int_eq(pl_stream_watermark(t.s), 49);
    ck_assert_uint_eq(t.log.n, 0);
    push(&t, 2, 100, "60,X,99,1");
    ck_assert_int_eq(pl_stream_watermark(t.s), 59);
    ck_assert_uint_eq(t.log.n, 30);
    for (int i = 0; i < 30; i++) {
        char want[160];
        snprintf(want, sizeof want,
                 "B 0 X %d 50 51 %d00000000 %d00000000 %d00000000 %d00000000 1 1 %d00000000", i,
                 i + 1, i + 1, i + 1, i + 1, i + 1);
        ck_assert_str_eq(t.log.line[i], want);
    }
    ts_close(&t);
}
END_TEST

/* ---- time windows ----------------------------------------------------- */

START_TEST(test_tumbling_boundaries)
{
    pl_config c = mkcfg(0, 0);
    tstream t;
    add_agg(&c, PL_AGG_TUMBLING, 60, 60, 0);
    ts_open(&t, &c, 1);
    push(&t, 0, 1, "0,A,1,1");
    push(&t, 0, 2, "59,A,2,2");
    ck_assert_uint_eq(t.log.n, 0); /* W = 58 < 59 */
    push(&t, 0, 3, "60,A,3,3");    /* W = 59: [0,60) fires */
    ck_assert_uint_eq(t.log.n, 1);
    ck_assert_line(&t.log, 0, "B 0 A 0 0 60 100000000 200000000 100000000 200000000 3 2 166666667");
    push(&t, 0, 4, "119,A,4,1");
    push(&t, 0, 5, "120,B,5,1");
    push(&t, 0, 6, "120,A,6,1");
    ck_assert_uint_eq(t.log.n, 2); /* W = 119: [60,120) fires */
    ck_assert_line(&t.log, 1, "B 0 A 1 60 120 300000000 400000000 300000000 400000000 4 2 325000000");
    finish(&t);
    ck_assert_uint_eq(t.log.n, 4);
    ck_assert_line(&t.log, 2, "B 0 B 2 120 180 500000000 500000000 500000000 500000000 1 1 500000000");
    ck_assert_line(&t.log, 3, "B 0 A 2 120 180 600000000 600000000 600000000 600000000 1 1 600000000");
    ts_close(&t);
}
END_TEST

START_TEST(test_sliding_overlap)
{
    pl_config c = mkcfg(0, 0);
    tstream t;
    pl_stream_stats st;
    add_agg(&c, PL_AGG_SLIDING, 10, 5, 0);
    ts_open(&t, &c, 1);
    push(&t, 0, 1, "4,A,1,1");
    push(&t, 0, 2, "5,A,2,1");
    push(&t, 0, 3, "9,A,3,1");
    ck_assert_uint_eq(t.log.n, 0);
    push(&t, 0, 4, "10,A,4,1"); /* W = 9: [0,10) fires */
    ck_assert_uint_eq(t.log.n, 1);
    ck_assert_line(&t.log, 0, "B 0 A 0 0 10 100000000 300000000 100000000 300000000 3 3 200000000");
    push(&t, 0, 5, "14,A,5,1");
    pl_stream_stats_get(t.s, &st);
    ck_assert_uint_eq(st.open_windows, 2); /* [5,15) and [10,20) */
    finish(&t);
    /* [15,25) got nothing (14 < 15): no bar */
    ck_assert_uint_eq(t.log.n, 3);
    ck_assert_line(&t.log, 1, "B 0 A 1 5 15 200000000 500000000 200000000 500000000 4 4 350000000");
    ck_assert_line(&t.log, 2, "B 0 A 2 10 20 400000000 500000000 400000000 500000000 2 2 450000000");
    ts_close(&t);
}
END_TEST

START_TEST(test_sliding_three_per_event)
{
    pl_config c = mkcfg(0, 0);
    tstream t;
    add_agg(&c, PL_AGG_SLIDING, 30, 10, 0);
    ts_open(&t, &c, 1);
    push(&t, 0, 1, "25,A,1,1"); /* [0,30) [10,40) [20,50) */
    push(&t, 0, 2, "35,B,2,1"); /* [10,40) [20,50) [30,60) */
    push(&t, 0, 3, "45,A,3,1"); /* W = 44: 35 released; [0,30) and [10,40) fire */
    /* by window, then by the order symbols opened it */
    ck_assert_uint_eq(t.log.n, 3);
    ck_assert_line(&t.log, 0, "B 0 A 0 0 30 100000000 100000000 100000000 100000000 1 1 100000000");
    ck_assert_line(&t.log, 1, "B 0 A 1 10 40 100000000 100000000 100000000 100000000 1 1 100000000");
    ck_assert_line(&t.log, 2, "B 0 B 1 10 40 200000000 200000000 200000000 200000000 1 1 200000000");
    finish(&t); /* 45 joins A's [20,50) and opens [30,60) [40,70) */
    ck_assert_uint_eq(t.log.n, 8);
    ck_assert_line(&t.log, 3, "B 0 A 2 20 50 100000000 300000000 100000000 300000000 2 2 200000000");
    ck_assert_line(&t.log, 4, "B 0 B 2 20 50 200000000 200000000 200000000 200000000 1 1 200000000");
    ck_assert_line(&t.log, 5, "B 0 B 3 30 60 200000000 200000000 200000000 200000000 1 1 200000000");
    ck_assert_line(&t.log, 6, "B 0 A 3 30 60 300000000 300000000 300000000 300000000 1 1 300000000");
    ck_assert_line(&t.log, 7, "B 0 A 4 40 70 300000000 300000000 300000000 300000000 1 1 300000000");
    ts_close(&t);
}
END_TEST

START_TEST(test_sliding_gap)
{
    pl_config c = mkcfg(0, 0);
    tstream t;
    pl_stream_stats st;
    add_agg(&c, PL_AGG_SLIDING, 5, 10, 0);
    ts_open(&t, &c, 1);
    push(&t, 0, 1, "3,A,1,1");  /* [0,5) */
    push(&t, 0, 2, "5,A,2,1");  /* in no window */
    push(&t, 0, 3, "9,A,3,1");  /* in no window */
    push(&t, 0, 4, "10,A,4,1"); /* [10,15) */
    push(&t, 0, 5, "14,A,5,1");
    push(&t, 0, 6, "15,A,6,1"); /* in no window */
    finish(&t);
    pl_stream_stats_get(t.s, &st);
    ck_assert_uint_eq(st.released, 6);
    ck_assert_uint_eq(t.log.n, 2);
    ck_assert_line(&t.log, 0, "B 0 A 0 0 5 100000000 100000000 100000000 100000000 1 1 100000000");
    ck_assert_line(&t.log, 1, "B 0 A 1 10 15 400000000 500000000 400000000 500000000 2 2 450000000");
    ts_close(&t);
}
END_TEST

/*
 * Sliding windows of random size and slide (multiples of each other or
 * not, slide above size too) over small event times, where windows are
 * clipped at k = 0, against a brute-force enumeration of every window:
 * each bar must be emitted once, with the values of its events.
 */
START_TEST(test_sliding_brute_force)
{
    static uint64_t x;
    pl_config c = mkcfg(0, 0);
    tstream t;
    int64_t tt[400], pr[400], qt[400], size, slide, tmax;
    char sy[400];
    size_t nexp = 0;
    int n = 0;

    x = 0x5eed + (uint64_t)_i * 7919;
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
    size = 1 + (int64_t)(RND() % 40);
    slide = 1 + (int64_t)(RND() % 40);
    add_agg(&c, PL_AGG_SLIDING, size, slide, 0);
    ts_open(&t, &c, 1);
    for (int64_t now = (int64_t)(RND() % 5); n < 400; now += (int64_t)(RND() % 4)) {
        char pay[64];
        tt[n] = now;
        sy[n] = (char)('A' + RND() % 3);
        pr[n] = 1 + (int64_t)(RND() % 9);
        qt[n] = 1 + (int64_t)(RND() % 3);
        snprintf(pay, sizeof pay, "%lld,%c,%lld,%lld", (long long)tt[n], sy[n],
                 (long long)pr[n], (long long)qt[n]);
        push(&t, 0, n + 1, pay);
        n++;
    }
    finish(&t);
    tmax = tt[n - 1];
    for (int64_t k = 0; k * slide <= tmax; k++) {
        for (char y = 'A'; y <= 'C'; y++) {
            int64_t o = 0, h = 0, l = 0, cl = 0, v = 0, tr = 0, nt = 0;
            char want[256];
            for (int i = 0; i < n; i++) {
                if (sy[i] != y || tt[i] < k * slide || tt[i] >= k * slide + size)
                    continue;
                if (!tr)
                    o = h = l = pr[i];
                h = pr[i] > h ? pr[i] : h;
                l = pr[i] < l ? pr[i] : l;
                cl = pr[i];
                v += qt[i];
                nt += pr[i] * qt[i];
                tr++;
            }
            if (!tr)
                continue;
            /* prices are whole units: vwap = nt * 1e8 / v rounded half up */
            snprintf(want, sizeof want,
                     "B 0 %c %lld %lld %lld %lld00000000 %lld00000000 %lld00000000 "
                     "%lld00000000 %lld %lld %lld",
                     y, (long long)k, (long long)(k * slide), (long long)(k * slide + size),
                     (long long)o, (long long)h, (long long)l, (long long)cl, (long long)v,
                     (long long)tr, (long long)((2 * nt * 100000000 + v) / (2 * v)));
            ck_assert_msg(log_has(&t.log, want), "size %lld slide %lld: missing %s",
                          (long long)size, (long long)slide, want);
            nexp++;
        }
    }
    ck_assert_uint_eq(log_count(&t.log, 'B'), nexp);
    ck_assert_uint_gt(nexp, 0);
    ts_close(&t);
#undef RND
}
END_TEST

START_TEST(test_time_near_2_63)
{
    pl_config c = mkcfg(0, 0);
    tstream t;
    add_agg(&c, PL_AGG_TUMBLING, 1000000000000000000LL, 0, 0);
    add_agg(&c, PL_AGG_SLIDING, 4611686018427387904LL, 2305843009213693952LL, 0); /* 2^62, 2^61 */
    add_agg(&c, PL_AGG_TICKS, 0, 0, 1);
    ts_open(&t, &c, 1);
    push(&t, 0, 1, "9223372036854775806,Z,1,1");
    ck_assert_int_eq(pl_stream_watermark(t.s), 9223372036854775805LL);
    push(&t, 0, 2, "9223372036854775807,Z,2,1");
    /* W = 2^63 - 2: the first event is out; its windows end beyond W + 1 */
    ck_assert_int_eq(pl_stream_watermark(t.s), 9223372036854775806LL);
    ck_assert_uint_eq(t.log.n, 1);
    ck_assert_line(&t.log, 0, "B 2 Z 0 9223372036854775806 9223372036854775807 100000000 "
                              "100000000 100000000 100000000 1 1 100000000");
    finish(&t);
    ck_assert_uint_eq(t.log.n, 5);
    ck_assert(log_has(&t.log, "B 0 Z 9 9000000000000000000 10000000000000000000 100000000 "
                              "200000000 100000000 200000000 2 2 150000000"));
    ck_assert(log_has(&t.log, "B 1 Z 2 4611686018427387904 9223372036854775808 100000000 "
                              "200000000 100000000 200000000 2 2 150000000"));
    ck_assert(log_has(&t.log, "B 1 Z 3 6917529027641081856 11529215046068469760 100000000 "
                              "200000000 100000000 200000000 2 2 150000000"));
    ck_assert(log_has(&t.log, "B 2 Z 1 9223372036854775807 9223372036854775808 200000000 "
                              "200000000 200000000 200000000 1 1 200000000"));
    ts_close(&t);
}
END_TEST

/* ---- data-driven bars ------------------------------------------------- */

START_TEST(test_ticks)
{
    pl_config c = mkcfg(0, 0);
    tstream t;
    char buf[64];
    add_agg(&c, PL_AGG_TICKS, 0, 0, 3);
    ts_open(&t, &c, 1);
    for (int i = 1; i <= 7; i++) {
        snprintf(buf, sizeof buf, "%d,A,%d,%d", 10 * i, i, i);
        push(&t, 0, i, buf);
        if (i == 3)
            push(&t, 0, i, "35,B,1,1");
    }
    finish(&t);
    /* the 7th event of A and B's single event stay in unfinished bars */
    ck_assert_uint_eq(t.log.n, 2);
    /* vwap: (1+4+9)/6 = 2.33; (16+25+36)/15 = 5.13 */
    ck_assert_line(&t.log, 0, "B 0 A 0 10 31 100000000 300000000 100000000 300000000 6 3 233333333");
    ck_assert_line(&t.log, 1, "B 0 A 1 40 61 400000000 600000000 400000000 600000000 15 3 513333333");
    ts_close(&t);
}
END_TEST

START_TEST(test_volume)
{
    pl_config c = mkcfg(0, 0);
    tstream t;
    add_agg(&c, PL_AGG_VOLUME, 0, 0, 100);
    ts_open(&t, &c, 1);
    push(&t, 0, 1, "1,A,1,40");
    push(&t, 0, 2, "2,A,2,50");
    push(&t, 0, 3, "3,A,3,30"); /* crosses: 120, stays whole */
    push(&t, 0, 4, "4,A,4,100"); /* exactly 100: its own bar */
    push(&t, 0, 5, "5,A,5,99");
    push(&t, 0, 6, "6,A,6,1"); /* reaches 100 */
    push(&t, 0, 7, "7,A,7,60");
    finish(&t);
    ck_assert_uint_eq(t.log.n, 3);
    ck_assert_line(&t.log, 0, "B 0 A 0 1 4 100000000 300000000 100000000 300000000 120 3 191666667");
    ck_assert_line(&t.log, 1, "B 0 A 1 4 5 400000000 400000000 400000000 400000000 100 1 400000000");
    ck_assert_line(&t.log, 2, "B 0 A 2 5 7 500000000 600000000 500000000 600000000 100 2 501000000");
    ts_close(&t);
}
END_TEST

START_TEST(test_dollar)
{
    pl_config c = mkcfg(0, 0);
    tstream t;
    add_agg(&c, PL_AGG_DOLLAR, 0, 0, 1000);
    ts_open(&t, &c, 1);
    push(&t, 0, 1, "1,A,10,60");     /* 600 */
    push(&t, 0, 2, "2,A,10,39");     /* 990 */
    push(&t, 0, 3, "3,A,10,2");      /* 1010: closes */
    push(&t, 0, 4, "4,A,20.00,50");  /* exactly 1000: closes alone */
    push(&t, 0, 5, "5,A,999.99999999,1"); /* one unit of 1e-8 short */
    push(&t, 0, 6, "6,A,0.00000001,1");   /* exactly 1000 */
    push(&t, 0, 7, "7,A,500,1");
    finish(&t);
    ck_assert_uint_eq(t.log.n, 3);
    ck_assert_line(&t.log, 2, "B 0 A 2 5 7 99999999999 99999999999 1 1 2 2 50000000000");
    ck_assert_line(&t.log, 0, "B 0 A 0 1 4 1000000000 1000000000 1000000000 1000000000 101 3 1000000000");
    ck_assert_line(&t.log, 1, "B 0 A 1 4 5 2000000000 2000000000 2000000000 2000000000 50 1 2000000000");
    ts_close(&t);
}
END_TEST

START_TEST(test_vwap_rounding)
{
    pl_config c = mkcfg(0, 0);
    tstream t;
    add_agg(&c, PL_AGG_TUMBLING, 100, 0, 0);
    ts_open(&t, &c, 1);
    /* 3/2 = 1.5 -> 2 */
    push(&t, 0, 1, "1,A,0.00000001,1");
    push(&t, 0, 1, "2,A,0.00000002,1");
    /* 4/3 = 1.33 -> 1 */
    push(&t, 0, 1, "101,A,0.00000001,2");
    push(&t, 0, 1, "102,A,0.00000002,1");
    /* 5/3 = 1.67 -> 2 */
    push(&t, 0, 1, "201,A,0.00000001,1");
    push(&t, 0, 1, "202,A,0.00000002,2");
    /* sums beyond 2^64: (2*10^18 - 3) * 10^9 / (2 * 10^9) = 999999999999999998.5 -> ...999 */
    push(&t, 0, 1, "301,A,9999999999.99999999,1000000000");
    push(&t, 0, 1, "302,A,9999999999.99999998,1000000000");
    /* 2999999999999999997000000001 / 3000000001 = 999999999666666666.44 -> ...666 */
    push(&t, 0, 1, "401,A,9999999999.99999999,1000000000");
    push(&t, 0, 1, "402,A,9999999999.99999999,1000000000");
    push(&t, 0, 1, "403,A,9999999999.99999999,1000000000");
    push(&t, 0, 1, "404,A,0.00000001,1");
    finish(&t);
    ck_assert_uint_eq(t.log.n, 5);
    ck_assert_line(&t.log, 0, "B 0 A 0 0 100 1 2 1 2 2 2 2");
    ck_assert_line(&t.log, 1, "B 0 A 1 100 200 1 2 1 2 3 2 1");
    ck_assert_line(&t.log, 2, "B 0 A 2 200 300 1 2 1 2 3 2 2");
    ck_assert_line(&t.log, 3, "B 0 A 3 300 400 999999999999999999 999999999999999999 "
                              "999999999999999998 999999999999999998 2000000000 2 "
                              "999999999999999999");
    ck_assert_line(&t.log, 4, "B 0 A 4 400 500 999999999999999999 999999999999999999 1 1 "
                              "3000000001 4 999999999666666666");
    ts_close(&t);
}
END_TEST

START_TEST(test_poison_rows)
{
    pl_config c = mkcfg(0, 0);
    tstream t;
    pl_stream_stats st;
    add_agg(&c, PL_AGG_TICKS, 0, 0, 1);
    ts_open(&t, &c, 2);
    push(&t, 0, 1, "garbage");
    push(&t, 1, 1, "x,A,1,1");
    push(&t, 0, 2, "1,a,1,1");
    push(&t, 0, 3, "1,A,0,1");
    push(&t, 1, 4, "1,A,1,0");
    push(&t, 1, 5, "1,A,1,1\r");
    push(&t, 0, 6, "");
    pl_stream_stats_get(t.s, &st);
    ck_assert_uint_eq(st.poison, 7);
    ck_assert_uint_eq(st.valid, 0);
    ck_assert_uint_eq(t.log.n, 7);
    ck_assert_line(&t.log, 0, "D 0 0 1 67617262616765");
    ck_assert_line(&t.log, 1, "D 1 0 2 782c412c312c31");
    ck_assert_line(&t.log, 2, "D 0 1 3 312c612c312c31");
    ck_assert_line(&t.log, 3, "D 0 2 4 312c412c302c31");
    ck_assert_line(&t.log, 4, "D 1 1 5 312c412c312c30");
    ck_assert_line(&t.log, 5, "D 1 2 5 312c412c312c310d");
    ck_assert_line(&t.log, 6, "D 0 3 1 ");
    ck_assert_int_eq(pl_stream_watermark(t.s), PL_WM_NEG_INF);
    ts_close(&t);
}
END_TEST

/* ---- API misuse and callback failure ---------------------------------- */

START_TEST(test_misuse)
{
    pl_config c = mkcfg(0, 0);
    tstream t;
    pl_stream *s2 = NULL;
    pl_errbuf eb = { "" };
    uint8_t *buf;
    size_t len;
    add_agg(&c, PL_AGG_TICKS, 0, 0, 2);
    ck_assert_int_eq(pl_stream_new(&c, 0, NULL, &s2, &eb), PL_EUSAGE);
    ts_open(&t, &c, 2);
    push(&t, 0, 10, "5,A,1,1");
    ck_assert_int_eq(pl_stream_push(t.s, 2, 0, 11, (const uint8_t *)"5,A,1,1", 7, 1), PL_EUSAGE);
    ck_assert_int_eq(pl_stream_push(t.s, 1, 0, 9, (const uint8_t *)"5,A,1,1", 7, 1), PL_EUSAGE);
    ck_assert(strstr(pl_stream_errmsg(t.s), "canonical") != NULL);
    ck_assert_int_eq(pl_stream_push(t.s, 1, 0, 10, (const uint8_t *)"5,A,1,1", 7, 0), PL_EUSAGE);
    /* refused pushes change nothing: the stream goes on */
    push(&t, 1, 10, "6,A,1,1");
    ck_assert_int_eq(pl_stream_watermark(t.s), 4);
    /* load refuses a used stream */
    ck_assert_int_eq(pl_stream_save(t.s, &buf, &len), 0);
    ck_assert_int_eq(pl_stream_load(t.s, buf, len, &eb), PL_EUSAGE);
    /* and another configuration */
    add_agg(&c, PL_AGG_TICKS, 0, 0, 3);
    ck_assert_int_eq(pl_stream_new(&c, 2, NULL, &s2, &eb), 0);
    ck_assert_int_eq(pl_stream_load(s2, buf, len, &eb), PL_ECONFIG);
    pl_stream_free(s2);
    c.naggs = 1;
    ck_assert_int_eq(pl_stream_new(&c, 3, NULL, &s2, &eb), 0);
    ck_assert_int_eq(pl_stream_load(s2, buf, len, &eb), PL_ECONFIG);
    pl_stream_free(s2);
    free(buf);
    finish(&t);
    ck_assert_int_eq(pl_stream_finish(t.s), PL_EUSAGE);
    ck_assert_int_eq(pl_stream_push(t.s, 0, 1, 20, (const uint8_t *)"5,A,1,1", 7, 5), PL_EUSAGE);
    ts_close(&t);
}
END_TEST

START_TEST(test_callback_failure_latches)
{
    pl_config c = mkcfg(0, 0);
    tstream t;
    uint8_t *buf;
    size_t len;
    add_agg(&c, PL_AGG_TICKS, 0, 0, 1);
    ts_open(&t, &c, 1);
    t.log.fail_bar_at = 2;
    push(&t, 0, 1, "1,A,1,1");
    push(&t, 0, 2, "2,A,1,1"); /* releases 1: the first bar */
    ck_assert_uint_eq(t.log.nbars, 1);
    ck_assert_int_eq(pl_stream_push(t.s, 0, 2, 3, (const uint8_t *)"3,A,1,1", 7, 2), 7);
    ck_assert_int_eq(pl_stream_push(t.s, 0, 3, 4, (const uint8_t *)"4,A,1,1", 7, 3), 7);
    ck_assert_uint_eq(t.log.nbars, 2);
    ck_assert_int_eq(pl_stream_finish(t.s), 7);
    ck_assert_int_ne(pl_stream_save(t.s, &buf, &len), 0);
    ts_close(&t);
}
END_TEST

/* ---- generated logs ----------------------------------------------------- */

typedef struct grec {
    uint32_t p;
    int64_t T;
    char payload[64];
} grec;

static uint64_t rng_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/*
 * A small log in canonical order: np partitions, event times near ingest
 * with disorder, ties, window-boundary times, stalls, very late events and
 * poison.  Times are small so that windows of tens of ns see several events.
 */
static grec *gen_log(uint64_t seed, uint32_t np, size_t n)
{
    grec *g = calloc(n, sizeof *g);
    uint64_t x = seed;
    int64_t T = 1000;
    static const char *const syms[] = { "A", "BB", "C.1", "D_X", "ZZZZZZZZZZZZZZZZ" };
    static const char *const poison[] = { "junk", "1,A,1", "-1,A,1,1", "1,a,1,1", "1,A,0,1",
                                          "1,A,1.123456789,1", "1,A,1,0", "1,A,1,1000000001" };
    ck_assert_ptr_nonnull(g);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rng_next(&x);
        uint32_t p = (uint32_t)(r % np);
        int64_t t;
        r >>= 8;
        if (r % 5 != 0)
            T += (int64_t)(r / 5 % 4);
        r >>= 8;
        /* stall: partition np-1 is silent in part of the log */
        if (np > 1 && p == np - 1 && (T / 300) % 3 == 1)
            p = 0;
        g[i].p = p;
        g[i].T = T;
        switch (r % 16) {
        case 0:
            snprintf(g[i].payload, sizeof g[i].payload, "%s", poison[(r >> 4) % 8]);
            continue;
        case 1:
            t = T - 200 - (int64_t)((r >> 4) % 300); /* far too late */
            break;
        case 2:
            t = (T / 30) * 30 - (int64_t)((r >> 4) % 2); /* boundary, or 1 before */
            break;
        default:
            t = T - 100 + (int64_t)((r >> 4) % 40) - (int64_t)((r >> 10) % 40);
            break;
        }
        if (t < 0)
            t = 0;
        r = rng_next(&x);
        snprintf(g[i].payload, sizeof g[i].payload, "%" PRId64 ",%s,%u.%02u,%u", t,
                 syms[r % 5], 100 + (unsigned)(r >> 8) % 50, (unsigned)(r >> 16) % 100,
                 1 + (unsigned)(r >> 24) % 60);
    }
    /* canonical order: by (ingest, partition), file order kept within a
     * partition (insertion sort is stable) */
    for (size_t i = 1; i < n; i++) {
        grec v = g[i];
        size_t j = i;
        while (j > 0 && (g[j - 1].T > v.T || (g[j - 1].T == v.T && g[j - 1].p > v.p))) {
            g[j] = g[j - 1];
            j--;
        }
        g[j] = v;
    }
    return g;
}

/* Push g[from..to) into t, with offsets and positions from the whole log. */
static void push_range(pl_stream *s, const grec *g, size_t from, size_t to)
{
    uint64_t off[8] = { 0 };
    for (size_t i = 0; i < to; i++) {
        if (i >= from) {
            int rc = pl_stream_push(s, g[i].p, off[g[i].p], g[i].T,
                                    (const uint8_t *)g[i].payload,
                                    (uint32_t)strlen(g[i].payload), i);
            ck_assert_msg(rc == 0, "record %zu: %d %s", i, rc, pl_stream_errmsg(s));
        }
        off[g[i].p]++;
    }
}

static void gen_configs(pl_config *cf, int *n)
{
    int k = 0;
    cf[k] = mkcfg(20, 0);
    add_agg(&cf[k], PL_AGG_TUMBLING, 30, 0, 0);
    add_agg(&cf[k], PL_AGG_TICKS, 0, 0, 4);
    k++;
    cf[k] = mkcfg(0, 40);
    add_agg(&cf[k], PL_AGG_SLIDING, 30, 10, 0);
    add_agg(&cf[k], PL_AGG_VOLUME, 0, 0, 100);
    add_agg(&cf[k], PL_AGG_DOLLAR, 0, 0, 20000);
    k++;
    cf[k] = mkcfg(7, 25);
    add_agg(&cf[k], PL_AGG_SLIDING, 10, 25, 0);
    add_agg(&cf[k], PL_AGG_SLIDING, 31, 7, 0);
    add_agg(&cf[k], PL_AGG_TUMBLING, 1, 0, 0);
    add_agg(&cf[k], PL_AGG_TICKS, 0, 0, 1);
    k++;
    cf[k] = mkcfg(1000000, 3);
    add_agg(&cf[k], PL_AGG_TUMBLING, 64, 0, 0);
    add_agg(&cf[k], PL_AGG_VOLUME, 0, 0, 1);
    k++;
    *n = k;
}

/* ---- the brute-force oracle ---------------------------------------------- */

typedef struct oev {
    int64_t t;
    uint64_t pos;
    char sym[17];
    int64_t price, qty;
    uint64_t k;
} oev;

static int oev_cmp(const void *x, const void *y)
{
    const oev *a = x, *b = y;
    int c = strcmp(a->sym, b->sym);
    if (c)
        return c;
    if (a->k != b->k)
        return a->k < b->k ? -1 : 1;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

static void oracle_bar(rec_log *L, int agg, const oev *e, size_t n, uint64_t seq, int64_t start,
                       uint64_t end)
{
    int64_t hi = e[0].price, lo = e[0].price, vol = 0;
    unsigned __int128 sum = 0;
    for (size_t i = 0; i < n; i++) {
        hi = e[i].price > hi ? e[i].price : hi;
        lo = e[i].price < lo ? e[i].price : lo;
        vol += e[i].qty;
        sum += (unsigned __int128)e[i].price * (uint64_t)e[i].qty;
    }
    log_add(L, "B %d %s %" PRIu64 " %" PRId64 " %" PRIu64 " %" PRId64 " %" PRId64 " %" PRId64
               " %" PRId64 " %" PRId64 " %zu %" PRId64,
            agg, e[0].sym, seq, start, end, e[0].price, hi, lo, e[n - 1].price, vol, n,
            (int64_t)((2 * sum + (uint64_t)vol) / (2 * (unsigned __int128)vol)));
}

/* Straight from the semantics, batch style. */
static void oracle(const pl_config *c, uint32_t np, const grec *g, size_t n, rec_log *L)
{
    __int128 W = -((__int128)1 << 100); /* -inf */
    __int128 maxev[8];
    int has[8] = { 0 };
    int64_t last[8];
    uint64_t off[8] = { 0 };
    oev *on = calloc(n ? n : 1, sizeof *on);
    size_t non = 0;
    ck_assert_ptr_nonnull(on);
    for (size_t i = 0; i < n; i++) {
        pl_tick tk;
        uint32_t p = g[i].p;
        int reason = pl_payload_parse((const uint8_t *)g[i].payload, strlen(g[i].payload), &tk);
        __int128 m = 0;
        int first = 1;
        if (i == 0)
            for (uint32_t q = 0; q < np; q++)
                last[q] = g[0].T;
        if (reason) {
            char hex[200];
            pl_fmt_hex(hex, (const uint8_t *)g[i].payload, strlen(g[i].payload));
            log_add(L, "D %u %" PRIu64 " %d %s", p, off[p], reason, hex);
        } else {
            if ((__int128)tk.t <= W) {
                log_add(L, "L %u %" PRIu64 " %" PRId64 " %.*s %" PRId64 " %" PRId64 " %" PRId64,
                        p, off[p], tk.t, (int)tk.sym_len, tk.sym, tk.price_e8, tk.qty,
                        (int64_t)W);
            } else {
                oev *e = &on[non++];
                e->t = tk.t;
                e->pos = i;
                memcpy(e->sym, tk.sym, tk.sym_len);
                e->sym[tk.sym_len] = 0;
                e->price = tk.price_e8;
                e->qty = tk.qty;
            }
            if (!has[p] || tk.t > maxev[p])
                maxev[p] = tk.t;
            has[p] = 1;
        }
        last[p] = g[i].T;
        for (uint32_t q = 0; q < np; q++) {
            __int128 w;
            if (c->idle_timeout && g[i].T - last[q] > c->idle_timeout)
                continue;
            w = has[q] ? maxev[q] - c->max_delay - 1 : -((__int128)1 << 100);
            if (first || w < m)
                m = w;
            first = 0;
        }
        if (m > W)
            W = m;
        off[p]++;
    }
    for (int a = 0; a < c->naggs; a++) {
        const pl_agg_spec *sp = &c->aggs[a];
        oev *x = calloc(non * 64 + 1, sizeof *x);
        size_t nx = 0;
        ck_assert_ptr_nonnull(x);
        if (sp->kind == PL_AGG_TUMBLING || sp->kind == PL_AGG_SLIDING) {
            uint64_t slide = sp->kind == PL_AGG_TUMBLING ? (uint64_t)sp->size : (uint64_t)sp->slide;
            for (size_t i = 0; i < non; i++)
                for (uint64_t k = 0; k * slide <= (uint64_t)on[i].t; k++)
                    if ((uint64_t)on[i].t < k * slide + (uint64_t)sp->size) {
                        ck_assert_uint_lt(nx, non * 64);
                        x[nx] = on[i];
                        x[nx++].k = k;
                    }
            qsort(x, nx, sizeof *x, oev_cmp);
            for (size_t i = 0, j; i < nx; i = j) {
                for (j = i; j < nx && x[j].k == x[i].k && !strcmp(x[j].sym, x[i].sym); j++)
                    ;
                oracle_bar(L, a, x + i, j - i, x[i].k, (int64_t)(x[i].k * slide),
                           x[i].k * slide + (uint64_t)sp->size);
            }
        } else {
            memcpy(x, on, non * sizeof *x);
            qsort(x, non, sizeof *x, oev_cmp);
            for (size_t i = 0, j; i < non; i = j) {
                uint64_t seq = 0;
                size_t b = i;
                int64_t vol = 0, cnt = 0;
                unsigned __int128 dol = 0;
                for (j = i; j < non && !strcmp(x[j].sym, x[i].sym); j++) {
                    cnt++;
                    vol += x[j].qty;
                    dol += (unsigned __int128)x[j].price * (uint64_t)x[j].qty;
                    if ((sp->kind == PL_AGG_TICKS && cnt >= sp->threshold) ||
                        (sp->kind == PL_AGG_VOLUME && vol >= sp->threshold) ||
                        (sp->kind == PL_AGG_DOLLAR &&
                         dol >= (unsigned __int128)sp->threshold * 100000000u)) {
                        oracle_bar(L, a, x + b, j + 1 - b, seq++, x[b].t, (uint64_t)x[j].t + 1);
                        b = j + 1;
                        cnt = vol = 0;
                        dol = 0;
                    }
                }
            }
        }
        free(x);
    }
    free(on);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_whole(const pl_config *c, uint32_t np, const grec *g, size_t n, rec_log *L,
                      size_t *marks)
{
    pl_stream *s;
    pl_errbuf eb;
    pl_emit e = emitter(L);
    ck_assert_int_eq(pl_stream_new(c, np, &e, &s, &eb), 0);
    for (size_t i = 0; i < n; i++) {
        push_range(s, g, i, i + 1);
        if (marks)
            marks[i] = L->n;
    }
    ck_assert_int_eq(pl_stream_finish(s), 0);
    pl_stream_free(s);
}

START_TEST(test_oracle_generated)
{
    pl_config cf[8];
    int ncf;
    size_t total_bars = 0, total_late = 0, total_dlq = 0;
    gen_configs(cf, &ncf);
    for (int ci = 0; ci < ncf; ci++) {
        for (uint64_t seed = 1; seed <= 12; seed++) {
            uint32_t np = 1 + (uint32_t)(seed % 4);
            size_t n = 300 + (size_t)seed * 40;
            grec *g = gen_log(seed * 7919 + (uint64_t)ci, np, n);
            rec_log got = { 0 }, want = { 0 };
            run_whole(&cf[ci], np, g, n, &got, NULL);
            oracle(&cf[ci], np, g, n, &want);
            qsort(got.line, got.n, sizeof *got.line, str_cmp);
            qsort(want.line, want.n, sizeof *want.line, str_cmp);
            for (size_t i = 0; i < got.n && i < want.n; i++)
                ck_assert_msg(strcmp(got.line[i], want.line[i]) == 0,
                              "config %d seed %llu line %zu: stream %s / oracle %s", ci,
                              (unsigned long long)seed, i, got.line[i], want.line[i]);
            ck_assert_uint_eq(got.n, want.n);
            total_bars += log_count(&want, 'B');
            total_late += log_count(&want, 'L');
            total_dlq += log_count(&want, 'D');
            log_free(&got);
            log_free(&want);
            free(g);
        }
    }
    /* the generator must actually exercise every kind of output */
    ck_assert_uint_gt(total_bars, 1000);
    ck_assert_uint_gt(total_late, 100);
    ck_assert_uint_gt(total_dlq, 100);
}
END_TEST

/*
 * The reorder buffer over the whole range of t: jitter of 2^40 ns around a
 * rising base, repeated values, times next to 2^63.  ticks:1 numbers the
 * released events per symbol, so the oracle's seq check is an order check.
 */
START_TEST(test_reorder_wide)
{
    size_t nlate = 0, nbars = 0;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        size_t n = 6000;
        grec *g = calloc(n, sizeof *g);
        uint64_t x = seed;
        int64_t pool[16];
        pl_config c = mkcfg((int64_t)1 << (36 + seed), 0);
        rec_log got = { 0 }, want = { 0 };
        ck_assert_ptr_nonnull(g);
        add_agg(&c, PL_AGG_TICKS, 0, 0, 1);
        add_agg(&c, PL_AGG_VOLUME, 0, 0, 50);
        for (int i = 0; i < 16; i++)
            pool[i] = (int64_t)(rng_next(&x) >> 24);
        for (size_t i = 0; i < n; i++) {
            uint64_t r = rng_next(&x);
            int64_t t;
            t = (int64_t)(i << 40) + (int64_t)((r >> 3) & (((uint64_t)1 << 42) - 1));
            if (r % 8 == 0)
                t = pool[(r >> 3) % 16]; /* repeated values */
            if (r % 8 == 1 && i + 100 > n)
                t = INT64_MAX - (int64_t)((r >> 3) % 4);
            if (r % 64 == 2)
                pool[(r >> 3) % 16] = t;
            g[i].p = (uint32_t)((r >> 50) % 3);
            g[i].T = (int64_t)i;
            snprintf(g[i].payload, sizeof g[i].payload, "%" PRId64 ",%c,%u,%u", t,
                     'A' + (int)((r >> 56) % 3), 1 + (unsigned)(r >> 20) % 1000,
                     1 + (unsigned)(r >> 40) % 30);
        }
        run_whole(&c, 3, g, n, &got, NULL);
        oracle(&c, 3, g, n, &want);
        nlate += log_count(&want, 'L');
        nbars += log_count(&want, 'B');
        qsort(got.line, got.n, sizeof *got.line, str_cmp);
        qsort(want.line, want.n, sizeof *want.line, str_cmp);
        ck_assert_uint_eq(got.n, want.n);
        for (size_t i = 0; i < got.n; i++)
            ck_assert_str_eq(got.line[i], want.line[i]);
        log_free(&got);
        log_free(&want);
        free(g);
    }
    ck_assert_uint_gt(nlate, 1000);
    ck_assert_uint_gt(nbars, 10000);
}
END_TEST

/*
 * The reorder buffer's sorted run (a whole bucket sorted at once) merged
 * with the radix buckets: dense times in windows of 2^4..2^20 ns with a
 * bound B inside the window, so that W stops in the middle of a sorted run
 * and later events land inside its range, often on a time already in it
 * (position order across the two); descending blocks that make the
 * insertion sort give up; buckets from a few events to far beyond the run's
 * limit; a save and restore every 613 records.  ticks:1 numbers each
 * symbol's released events, so a misorder is a differing bar.
 */
START_TEST(test_reorder_run)
{
    static const int jbits[] = { 4, 9, 13, 17, 20 };
    size_t nlate = 0, nbars = 0;
    for (uint64_t seed = 1; seed <= 10; seed++) {
        size_t n = 12000;
        grec *g = calloc(n, sizeof *g);
        uint64_t x = seed * 31337;
        int64_t J = (int64_t)1 << jbits[seed % 5], base = (int64_t)1 << 33, recent[8] = { 0 };
        int64_t dbase = 0;
        uint32_t np = 1 + (uint32_t)(seed % 2);
        pl_config c = mkcfg(J / (int64_t)(1 + seed % 4), 0);
        rec_log got = { 0 }, want = { 0 }, chained = { 0 };
        ck_assert_ptr_nonnull(g);
        add_agg(&c, PL_AGG_TICKS, 0, 0, 1);
        add_agg(&c, PL_AGG_VOLUME, 0, 0, 50);
        for (size_t i = 0; i < n; i++) {
            uint64_t r = rng_next(&x);
            int64_t t;
            if (i % 2000 == 0)
                dbase = base & ~(int64_t)255;
            if (i % 2000 < 300 && seed % 3 == 0) {
                /* descending, all with one value of byte 1 */
                t = dbase + 255 - (int64_t)(i % 256);
            } else if (r % 4 == 0) {
                t = recent[(r >> 2) % 8]; /* a time seen lately */
            } else {
                t = base + (int64_t)((r >> 8) % (uint64_t)J);
            }
            recent[(r >> 5) % 8] = t;
            /* the window drifts up, now and then by a whole byte */
            base += (int64_t)((r >> 40) % 3) * (J / 16 + 1) + (r % 97 == 0 ? (int64_t)1 << 24 : 0);
            g[i].p = (uint32_t)((r >> 50) % np);
            g[i].T = (int64_t)i;
            snprintf(g[i].payload, sizeof g[i].payload, "%" PRId64 ",%c,%u,%u", t,
                     'A' + (int)((r >> 56) % 3), 1 + (unsigned)(r >> 20) % 1000,
                     1 + (unsigned)(r >> 44) % 30);
        }
        run_whole(&c, np, g, n, &got, NULL);
        oracle(&c, np, g, n, &want);
        /* Saved and restored every 613 records, the reorder buffer is
         * rebuilt from (t, position) order: a run and buckets holding equal
         * times must come back in the same order. */
        {
            pl_emit e = emitter(&chained);
            pl_stream *s, *s2;
            pl_errbuf eb = { "" };
            ck_assert_int_eq(pl_stream_new(&c, np, &e, &s, &eb), 0);
            for (size_t i = 0; i < n; i++) {
                push_range(s, g, i, i + 1);
                if (i % 613 == 612) {
                    uint8_t *buf;
                    size_t len;
                    ck_assert_int_eq(pl_stream_save(s, &buf, &len), 0);
                    ck_assert_int_eq(pl_stream_new(&c, np, &e, &s2, &eb), 0);
                    ck_assert_msg(pl_stream_load(s2, buf, len, &eb) == 0, "%s", eb.msg);
                    free(buf);
                    pl_stream_free(s);
                    s = s2;
                }
            }
            ck_assert_int_eq(pl_stream_finish(s), 0);
            pl_stream_free(s);
            ck_assert_uint_eq(chained.n, got.n);
            for (size_t i = 0; i < got.n; i++)
                ck_assert_str_eq(chained.line[i], got.line[i]);
        }
        nlate += log_count(&want, 'L');
        nbars += log_count(&want, 'B');
        qsort(got.line, got.n, sizeof *got.line, str_cmp);
        qsort(want.line, want.n, sizeof *want.line, str_cmp);
        for (size_t i = 0; i < got.n && i < want.n; i++)
            ck_assert_msg(strcmp(got.line[i], want.line[i]) == 0, "seed %llu line %zu: %s / %s",
                          (unsigned long long)seed, i, got.line[i], want.line[i]);
        ck_assert_uint_eq(got.n, want.n);
        log_free(&got);
        log_free(&want);
        log_free(&chained);
        free(g);
    }
    ck_assert_uint_gt(nlate, 1000);
    ck_assert_uint_gt(nbars, 50000);
}
END_TEST

/* ---- save / restore --------------------------------------------------------- */

static void save_ok(pl_stream *s, uint8_t **b, size_t *n)
{
    ck_assert_int_eq(pl_stream_save(s, b, n), 0);
    ck_assert_ptr_nonnull(*b);
}

/*
 * Thousands of symbols of every shape the symbol table hashes differently
 * (short, 9 bytes across the word boundary, 16 bytes differing only at the
 * end), interned across many table growths and a save/load in between: each
 * symbol's two events must meet in one ticks:2 bar under its own name.
 */
/* b holds 32 bytes; for k < 10^6 the name has at most 16. */
static void many_sym_name(char *b, size_t k)
{
    switch (k % 4) {
    case 0: snprintf(b, 32, "S%zu", k); break;
    case 1: snprintf(b, 32, "ABCDEFGHIJ%06zu", k); break;
    case 2: snprintf(b, 32, "%zu._-", k); break;
    default: snprintf(b, 32, "X%08zu", k); break;
    }
}

START_TEST(test_many_symbols)
{
    enum { N = 4000 };
    pl_config c = mkcfg(0, 0);
    tstream t;
    char name[32], payload[64], want[256];
    pl_stream *s2;
    pl_emit e;
    pl_errbuf eb = { "" };
    uint8_t *buf;
    size_t len;
    add_agg(&c, PL_AGG_TICKS, 0, 0, 2);
    ts_open(&t, &c, 1);
    for (size_t k = 0; k < N; k++) {
        many_sym_name(name, k);
        snprintf(payload, sizeof payload, "%zu,%s,%zu,1", 1000 + k, name, k + 1);
        push(&t, 0, 1, payload);
    }
    /* the second pass runs on a restored copy */
    save_ok(t.s, &buf, &len);
    e = emitter(&t.log);
    ck_assert_int_eq(pl_stream_new(&c, 1, &e, &s2, &eb), 0);
    ck_assert_msg(pl_stream_load(s2, buf, len, &eb) == 0, "%s", eb.msg);
    free(buf);
    pl_stream_free(t.s);
    t.s = s2;
    for (size_t j = 0; j < N; j++) {
        size_t k = N - 1 - j;
        many_sym_name(name, k);
        snprintf(payload, sizeof payload, "%zu,%s,%zu,1", 1000 + N + j, name, k + 1);
        push(&t, 0, 2, payload);
    }
    finish(&t);
    ck_assert_uint_eq(log_count(&t.log, 'B'), N);
    qsort(t.log.line, t.log.n, sizeof *t.log.line, str_cmp);
    for (size_t k = 0; k < N; k++) {
        int64_t px = (int64_t)(k + 1) * 100000000;
        char *const *hit;
        char *key = want;
        many_sym_name(name, k);
        snprintf(want, sizeof want,
                 "B 0 %s 0 %zu %zu %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " 2 2 %" PRId64,
                 name, 1000 + k, 1000 + 2 * (size_t)N - k, px, px, px, px, px);
        hit = bsearch(&key, t.log.line, t.log.n, sizeof *t.log.line, str_cmp);
        ck_assert_msg(hit != NULL, "missing %s", want);
    }
    ts_close(&t);
}
END_TEST

START_TEST(test_save_restore_every_split)
{
    pl_config cf[8];
    int ncf;
    gen_configs(cf, &ncf);
    for (int ci = 0; ci < ncf; ci++) {
        for (uint64_t seed = 1; seed <= 3; seed++) {
            uint32_t np = 1 + (uint32_t)((seed + (uint64_t)ci) % 3);
            size_t n = 260;
            grec *g = gen_log(seed * 104729 + (uint64_t)ci, np, n);
            rec_log whole = { 0 };
            size_t *marks = calloc(n, sizeof *marks);
            ck_assert_ptr_nonnull(marks);
            run_whole(&cf[ci], np, g, n, &whole, marks);
            for (size_t k = 0; k <= n; k++) {
                rec_log a = { 0 }, b = { 0 };
                pl_emit ea = emitter(&a), eb2 = emitter(&b);
                pl_stream *sa, *sb;
                pl_errbuf eb = { "" };
                uint8_t *buf, *buf2;
                size_t len, len2, base = k ? marks[k - 1] : 0;
                ck_assert_int_eq(pl_stream_new(&cf[ci], np, &ea, &sa, &eb), 0);
                push_range(sa, g, 0, k);
                save_ok(sa, &buf, &len);
                ck_assert_int_eq(pl_stream_new(&cf[ci], np, &eb2, &sb, &eb), 0);
                ck_assert_msg(pl_stream_load(sb, buf, len, &eb) == 0, "split %zu: %s", k,
                              eb.msg);
                /* same history, same bytes (the heap layout differs) */
                save_ok(sb, &buf2, &len2);
                ck_assert_uint_eq(len, len2);
                ck_assert(memcmp(buf, buf2, len) == 0);
                ck_assert_int_eq(pl_stream_watermark(sb), pl_stream_watermark(sa));
                push_range(sb, g, k, n);
                ck_assert_int_eq(pl_stream_finish(sb), 0);
                ck_assert_uint_eq(b.n, whole.n - base);
                for (size_t i = 0; i < b.n; i++)
                    ck_assert_msg(strcmp(b.line[i], whole.line[base + i]) == 0,
                                  "config %d split %zu emission %zu: %s / %s", ci, k, i,
                                  b.line[i], whole.line[base + i]);
                free(buf);
                free(buf2);
                pl_stream_free(sa);
                pl_stream_free(sb);
                log_free(&a);
                log_free(&b);
            }
            log_free(&whole);
            free(marks);
            free(g);
        }
    }
}
END_TEST

/* Restore after every single record, chaining: still the same emissions. */
START_TEST(test_save_restore_chain)
{
    pl_config cf[8];
    int ncf;
    gen_configs(cf, &ncf);
    for (int ci = 0; ci < ncf; ci++) {
        uint32_t np = 3;
        size_t n = 500;
        grec *g = gen_log(99 + (uint64_t)ci, np, n);
        rec_log whole = { 0 }, chain = { 0 };
        pl_emit e = emitter(&chain);
        pl_stream *s;
        pl_errbuf eb = { "" };
        pl_stream_stats st1, st2;
        run_whole(&cf[ci], np, g, n, &whole, NULL);
        ck_assert_int_eq(pl_stream_new(&cf[ci], np, &e, &s, &eb), 0);
        for (size_t i = 0; i <= n; i++) {
            uint8_t *buf;
            size_t len;
            pl_stream *s2;
            save_ok(s, &buf, &len);
            pl_stream_stats_get(s, &st1);
            ck_assert_int_eq(pl_stream_new(&cf[ci], np, &e, &s2, &eb), 0);
            ck_assert_msg(pl_stream_load(s2, buf, len, &eb) == 0, "%s", eb.msg);
            pl_stream_stats_get(s2, &st2);
            ck_assert(memcmp(&st1, &st2, sizeof st1) == 0);
            free(buf);
            pl_stream_free(s);
            s = s2;
            if (i < n)
                push_range(s, g, i, i + 1);
        }
        ck_assert_int_eq(pl_stream_finish(s), 0);
        /* a finished stream saves and loads too */
        {
            uint8_t *buf;
            size_t len;
            pl_stream *s2;
            save_ok(s, &buf, &len);
            ck_assert_int_eq(pl_stream_new(&cf[ci], np, &e, &s2, &eb), 0);
            ck_assert_int_eq(pl_stream_load(s2, buf, len, &eb), 0);
            ck_assert_int_eq(pl_stream_watermark(s2), PL_WM_POS_INF);
            ck_assert_int_eq(pl_stream_finish(s2), PL_EUSAGE);
            pl_stream_free(s2);
            free(buf);
        }
        pl_stream_free(s);
        ck_assert_uint_eq(chain.n, whole.n);
        for (size_t i = 0; i < whole.n; i++)
            ck_assert_str_eq(chain.line[i], whole.line[i]);
        log_free(&whole);
        log_free(&chain);
        free(g);
    }
}
END_TEST

/* Truncations are always corrupt; flipped bytes never crash. */
START_TEST(test_load_fuzz)
{
    pl_config cf[8];
    int ncf;
    size_t accepted = 0, rejected = 0;
    gen_configs(cf, &ncf);
    for (int ci = 0; ci < ncf; ci++) {
        uint32_t np = 2;
        size_t n = 240, cut = 200;
        grec *g = gen_log(4242 + (uint64_t)ci, np, n);
        rec_log sink = { 0 };
        pl_emit e = emitter(&sink);
        pl_stream *s;
        pl_errbuf eb = { "" };
        uint8_t *buf, *bad;
        size_t len;
        pl_stream_stats st;
        ck_assert_int_eq(pl_stream_new(&cf[ci], np, &e, &s, &eb), 0);
        push_range(s, g, 0, cut);
        pl_stream_stats_get(s, &st);
        ck_assert_uint_gt(st.buffered + st.open_windows, 0);
        save_ok(s, &buf, &len);
        pl_stream_free(s);
        bad = malloc(len);
        ck_assert_ptr_nonnull(bad);
        for (size_t l = 0; l < len; l++) {
            /* a private copy of exactly l bytes, so ASan sees any overread */
            uint8_t *tr = malloc(l ? l : 1);
            ck_assert_ptr_nonnull(tr);
            memcpy(tr, buf, l);
            ck_assert_int_eq(pl_stream_new(&cf[ci], np, &e, &s, &eb), 0);
            ck_assert_int_eq(pl_stream_load(s, tr, l, &eb), PL_ECORRUPT);
            pl_stream_free(s);
            free(tr);
        }
        for (size_t i = 0; i < len; i++) {
            static const uint8_t masks[] = { 0x01, 0x10, 0x80, 0xff };
            for (size_t m = 0; m < sizeof masks; m++) {
                int rc;
                memcpy(bad, buf, len);
                bad[i] ^= masks[m];
                ck_assert_int_eq(pl_stream_new(&cf[ci], np, &e, &s, &eb), 0);
                rc = pl_stream_load(s, bad, len, &eb);
                ck_assert_int_le(rc, 0);
                if (rc == 0) {
                    /* accepted (a counter, a price...): it must run or refuse
                     * cleanly, e.g. when the altered position is ahead */
                    uint64_t off[8] = { 0 };
                    accepted++;
                    for (size_t r = 0; r < n && rc == 0; r++) {
                        if (r >= cut)
                            rc = pl_stream_push(s, g[r].p, off[g[r].p], g[r].T,
                                                (const uint8_t *)g[r].payload,
                                                (uint32_t)strlen(g[r].payload), r);
                        off[g[r].p]++;
                    }
                    ck_assert_int_le(rc, 0);
                    if (rc == 0)
                        ck_assert_int_eq(pl_stream_finish(s), 0);
                    log_free(&sink);
                } else {
                    rejected++;
                }
                pl_stream_free(s);
            }
        }
        free(bad);
        free(buf);
        log_free(&sink);
        free(g);
    }
    ck_assert_uint_gt(rejected, 0);
    ck_assert_uint_gt(accepted, 0); /* the continuation path ran too */
}
END_TEST

START_TEST(test_save_deterministic_fresh)
{
    pl_config c = mkcfg(5, 5);
    pl_stream *s1, *s2;
    pl_errbuf eb;
    uint8_t *b1, *b2;
    size_t n1, n2;
    add_agg(&c, PL_AGG_SLIDING, 10, 3, 0);
    ck_assert_int_eq(pl_stream_new(&c, 4, NULL, &s1, &eb), 0);
    ck_assert_int_eq(pl_stream_new(&c, 4, NULL, &s2, &eb), 0);
    save_ok(s1, &b1, &n1);
    ck_assert_int_eq(pl_stream_load(s2, b1, n1, &eb), 0);
    save_ok(s2, &b2, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert(memcmp(b1, b2, n1) == 0);
    ck_assert_int_eq(pl_stream_watermark(s2), PL_WM_NEG_INF);
    free(b1);
    free(b2);
    pl_stream_free(s1);
    pl_stream_free(s2);
}
END_TEST

/* ---- benchmark ----------------------------------------------------------------- */

/*
 * The target shape: 8 partitions, 500 symbols, one tumbling 1m aggregation,
 * event times up to 1 s behind ingest (B = 1 s, I = 10 s), records
 * pre-formatted in memory.  RP_STREAM_BENCH=1 runs 10M records and prints
 * ns per record; otherwise a short run checks the counts.
 */
START_TEST(test_bench)
{
    const char *env = getenv("RP_STREAM_BENCH");
    size_t n = env ? 10000000 : 200000;
    int64_t rate = env && getenv("RP_STREAM_RATE") ? atoll(getenv("RP_STREAM_RATE")) : 1000000;
    int64_t step = 1000000000 / rate;
    char *text = malloc(n * 48);
    uint32_t *len = malloc(n * sizeof *len);
    size_t *at = malloc(n * sizeof *at);
    int64_t *T = malloc(n * sizeof *T);
    uint64_t x = 12345, off[8] = { 0 };
    size_t used = 0;
    pl_config c = mkcfg(1000000000, 10000000000LL);
    pl_stream *s;
    pl_errbuf eb;
    rec_log L = { 0 };
    pl_emit e = { &L, NULL, NULL, NULL };
    pl_stream_stats st;
    struct timespec t0, t1;
    double ns;
    ck_assert(text && len && at && T);
    add_agg(&c, PL_AGG_TUMBLING, 60000000000LL, 0, 0);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rng_next(&x);
        /* mostly small delays, a geometric-like tail up to 1 s */
        int64_t d = (int64_t)(r % 1000) * 1000;
        if ((r >> 10) % 8 == 0)
            d = (int64_t)((r >> 13) % 1000000000);
        T[i] = 1767623400000000000LL + (int64_t)i * step;
        at[i] = used;
        len[i] = (uint32_t)sprintf(text + used, "%" PRId64 ",S%03u,%u.%02u,%u", T[i] - d,
                                   (unsigned)((r >> 40) % 500), 100 + (unsigned)(r >> 50) % 100,
                                   (unsigned)(r >> 20) % 100, 1 + (unsigned)(r >> 30) % 500);
        used += len[i];
    }
    ck_assert_int_eq(pl_stream_new(&c, 8, &e, &s, &eb), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < n; i++) {
        uint32_t p = (uint32_t)(i % 8);
        int rc = pl_stream_push(s, p, off[p]++, T[i], (const uint8_t *)text + at[i], len[i], i);
        if (rc)
            ck_abort_msg("push %zu: %d", i, rc);
    }
    ck_assert_int_eq(pl_stream_finish(s), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)n;
    pl_stream_stats_get(s, &st);
    ck_assert_uint_eq(st.records, n);
    ck_assert_uint_eq(st.late, 0); /* delays <= B */
    ck_assert_uint_eq(st.released, n);
    /* every symbol trades in the log: at least one bar each */
    ck_assert_uint_ge(st.bars, 500);
    if (env) {
        pl_tick tk;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (size_t i = 0; i < n; i++)
            x += (uint64_t)pl_payload_parse((const uint8_t *)text + at[i], len[i], &tk) + (uint64_t)tk.t;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        fprintf(stderr, "stream bench: %zu records, %" PRId64 " records/s of log time: "
                        "%.1f ns/record (%.1f M records/s), parse alone %.1f ns, %" PRIu64 " bars\n",
                n, rate, ns, 1000.0 / ns,
                ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)n,
                st.bars + (x & 0)); /* x keeps the parse loop alive */
    }
    pl_stream_free(s);
    free(text);
    free(len);
    free(at);
    free(T);
}
END_TEST

Suite *stream_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("semantics");
    tcase_add_test(tc, test_watermark_bound);
    tcase_add_test(tc, test_watermark_zero_bound);
    tcase_add_test(tc, test_idleness);
    tcase_add_test(tc, test_idleness_off);
    tcase_add_test(tc, test_poison_keeps_partition_active);
    tcase_add_test(tc, test_release_tie_break);
    tcase_add_test(tc, test_tumbling_boundaries);
    tcase_add_test(tc, test_sliding_overlap);
    tcase_add_test(tc, test_sliding_three_per_event);
    tcase_add_test(tc, test_sliding_gap);
    tcase_add_loop_test(tc, test_sliding_brute_force, 0, 40);
    tcase_add_test(tc, test_time_near_2_63);
    tcase_add_test(tc, test_ticks);
    tcase_add_test(tc, test_volume);
    tcase_add_test(tc, test_dollar);
    tcase_add_test(tc, test_vwap_rounding);
    tcase_add_test(tc, test_poison_rows);
    tcase_add_test(tc, test_misuse);
    tcase_add_test(tc, test_callback_failure_latches);
    suite_add_tcase(s, tc);

    tc = tcase_create("generated");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_oracle_generated);
    tcase_add_test(tc, test_reorder_wide);
    tcase_add_test(tc, test_reorder_run);
    tcase_add_test(tc, test_many_symbols);
    tcase_add_test(tc, test_save_restore_every_split);
    tcase_add_test(tc, test_save_restore_chain);
    tcase_add_test(tc, test_load_fuzz);
    tcase_add_test(tc, test_save_deterministic_fresh);
    tcase_add_test(tc, test_bench);
    suite_add_tcase(s, tc);
    return s;
}
