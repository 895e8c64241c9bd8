/*
 * stream_int.h - the streaming core's private state, shared by stream.c (the
 * data path) and stream_save.c (the checkpoint encoding).  No other module
 * includes this file; everything outside sees only pl_stream.h.
 *
 * Layout: the partial-bar accumulator, the reorder-buffer entry, the
 * per-aggregation state (time windows and data-driven bars), the stream
 * itself, and the few internal functions the two files share.
 *
 * Invariants the data path relies on (stream_save.c checks them on load):
 *  (1) every buffered event has t > W; buffered events with equal t sit
 *      in one reorder bucket in position order, except that the run's
 *      events come before (in position) those of any bucket;
 *  (2) every released event had t <= W when it was released, so the released
 *      stream is ordered by (t, position) across pushes;
 *  (3) time windows: before an event t is added, every window with end <= t
 *      has fired; hence all open windows of an aggregation contain the
 *      current t, their indices span fewer than K = ceil(size/slide) values,
 *      and a symbol's open windows are the contiguous range
 *      [kmin(t), hi1[sym] - 1];
 *  (4) an open data-driven bar is below its threshold.
 */
#ifndef PL_STREAM_INT_H
#define PL_STREAM_INT_H

#include <stdint.h>

#include "pl_payload.h"
#include "pl_stream.h"

/* One partial bar: everything a pl_bar is computed from. */
typedef struct pl__bacc {
    unsigned __int128 notional; /* sum of price_e8 * qty */
    int64_t open, high, low, close;
    uint64_t volume;
    int64_t trades; /* 0: no bar open (data-driven) */
    int64_t first_t, last_t;
} pl__bacc;

/*
 * A buffered event, released in (t, position) order.  The position is not
 * stored: buckets keep insertion order, which is position order (1), and
 * the reorder buffer is copied several times per event, so 24 bytes
 * instead of 32 is a quarter less of its memory traffic.
 */
typedef struct pl__rbent {
    int64_t t;
    int64_t price;
    uint32_t qty;
    uint32_t sym;
} pl__rbent;

/*
 * One bucket of the reorder buffer (a radix heap, see stream.c).  Entries
 * sit in insertion order, which is position order; bucket 0 is read as a
 * FIFO from head.
 */
typedef struct pl__rbucket {
    pl__rbent *e;
    uint32_t head, n, cap; /* rb_reserve keeps cap below 2^32 */
    int64_t min_t;         /* smallest t in e[head..n) */
} pl__rbucket;

/* The symbols with a bar in time window k, in the order they opened it. */
typedef struct pl__slot {
    uint64_t k;
    uint32_t n, cap;
    uint32_t *syms;
} pl__slot;

typedef struct pl__agg {
    int kind; /* enum pl_agg_kind */

    /* Time windows.  ring[k % K] holds window k while it is open (3). */
    uint64_t size, slide, K;
    pl__slot *ring;
    uint64_t head_k;   /* lowest open window, when nslots > 0 */
    uint64_t nslots;   /* window indices in [head_k, head_k + nslots) */
    uint64_t head_end; /* end of window head_k */
    uint64_t *hi1;     /* per symbol: 1 + highest window opened, 0 = none */
    uint64_t dk, dk_lo; /* t / slide and its multiple for the last t, and dk % K
                         * (a cache, not state: t - dk_lo >= slide recomputes) */
    uint64_t dkr;
    uint64_t edge;      /* size - (K - 1) * slide: t holds K windows when
                         * t - dk_lo < edge, else K - 1 */
    pl__bacc *tbars;   /* per symbol: K ring entries, sym * K + k % K */

    /* Data-driven bars. */
    uint64_t thr;                /* ticks: N, volume: V */
    unsigned __int128 thr128;    /* dollar: D * 1e8 */
    pl__bacc *dbars;             /* per symbol */
    uint64_t *seq;               /* per symbol: bars closed so far */
} pl__agg;

/* Radix heap geometry: 8 levels of 256 buckets by byte, plus bucket 0. */
#define PL__RB_LEVELS 8
#define PL__RB_BUCKETS (1 + PL__RB_LEVELS * 256)

typedef struct pl__sym {
    uint64_t w[2]; /* the name, zero-padded to 16 bytes */
    uint32_t len;
} pl__sym;

struct pl_stream {
    pl_config cfg;
    uint32_t np;
    pl_emit emit;

    int dead;        /* non-zero: the code that made the stream unusable */
    int finished;    /* pl_stream_finish ran: W = +inf */
    int have_first;  /* a record has been pushed */
    int64_t W;
    int64_t last_T;     /* ingest_ns of the last record pushed */
    uint64_t last_pos;  /* position of the last record pushed */

    /* per partition */
    uint8_t *has_maxev;
    int64_t *maxev;
    int64_t *wm;           /* maxev - B - 1 saturated, or PL_WM_NEG_INF */
    int64_t *last_ingest;

    /* Step 4's minimum, a cache (not state, not saved): valid when cand_ok;
     * active[q] says whether q was in it, idle_at is no later than the
     * first T at which an active partition turns idle. */
    int cand_ok;
    uint8_t *active;
    int64_t cand, idle_at;

    /* symbol table: ids in first-seen order, open addressing on ids + 1 */
    pl__sym *syms;
    uint32_t nsym, symcap;
    uint32_t *htab;
    uint32_t hmask;     /* 2^hbits - 1 */
    unsigned hbits;

    /* reorder buffer: radix heap on t, FIFO (= position order) within a key */
    pl__rbucket rb[PL__RB_BUCKETS];
    uint64_t rb_bits[PL__RB_LEVELS][4]; /* bucket 1 + 256 L + d not empty */
    unsigned rb_levels;                  /* bit L: rb_bits[L] not all zero */
    int64_t rb_last;                     /* the key buckets are relative to; <= W */
    uint32_t rb_hint[PL__RB_LEVELS];     /* size of the last taken bucket per level */
    pl__rbucket run;                     /* sorted by (t, position), read from head */
    pl__rbent one;                       /* a single released event (see rb_next) */
    size_t nbuf;                         /* events in the buckets and the run */

    int naggs;
    pl__agg aggs[PL_MAX_AGGS];

    pl_stream_stats st; /* buffered and symbols are derived on read */
    pl_errbuf eb;
};

/*
 * Intern a 1..16-byte symbol; returns its id or a negative code.  The
 * symbol lies in a buffer [base, base + n) that may be read around it.
 */
int64_t pl__stream_intern(pl_stream *s, const char *sym, uint32_t len, const char *base,
                          size_t n);

/* Open time window k of aggregation a for symbol sym (appends to its slot). */
int pl__stream_open_slot(pl_stream *s, pl__agg *a, uint64_t k, uint32_t sym);

/* Add an event with t > W to the reorder buffer: 0 or -ENOMEM. */
int pl__stream_rb_push(pl_stream *s, const pl__rbent *e);

/*
 * Copy the buffered events to out[nbuf], bucket after bucket: events with
 * equal t come out in position order, other events in no particular order.
 */
void pl__stream_rb_collect(const pl_stream *s, pl__rbent *out);

/* Save/load must agree on the accumulator limits checked in (4). */
#define PL__PRICE_MAX_E8 (PL_PRICE_LIMIT_E8 - 1)

#endif
