/*
 * stream_save.c - the streaming core's state as a deterministic, versioned
 * byte string (pl_stream_save / pl_stream_load), the body of checkpoints.
 *
 * Layout: the writer, the reader, the encoding of one partial bar, save,
 * load.  Every integer is little-endian of fixed width; there is no padding
 * and nothing depends on pointer values, capacities or heap layout, so one
 * history gives one byte string.  Version 2 (version 1 stored each buffered
 * event's position too):
 *
 *   u32 magic 'RPS1', u32 version 2
 *   i64 B, i64 I, u32 naggs, naggs x (u32 kind, u64 size, u64 slide, u64 threshold)
 *   u32 partitions, u8 have_first, u8 finished, i64 W, i64 last_ingest_ns,
 *   u64 last_position
 *   partitions x (u8 has_maxev, i64 maxev, i64 last_ingest)
 *   u64 records, valid, poison, late, released, bars, open_windows
 *   u32 nsym, nsym x (u8 len, len bytes)              (ids in order)
 *   u64 nbuf, nbuf x (i64 t, i64 price, u32 qty, u32 sym)  (in (t, position) order)
 *   per aggregation, in configuration order:
 *     time:        u64 nwin, nwin x (u64 k, u32 n, n x (u32 sym, bar))  (k ascending)
 *     data-driven: nsym x (u64 seq, u8 open, [bar if open])
 *   bar = i64 open, high, low, close, u64 volume, i64 trades,
 *         u64 notional_hi, u64 notional_lo, i64 first_t, i64 last_t
 *
 * Loading checks every length before it allocates and every value the data
 * path relies on (the invariants of stream_int.h) before it is used: a
 * truncated or altered buffer gives PL_ECORRUPT, never an out-of-bounds
 * read.  The state is built in a scratch stream and swapped in only whole.
 */
#include "stream_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pl_unsafe.h"

#define SAVE_MAGIC 0x31535052u /* "RPS1" */
#define SAVE_VERSION PL_STREAM_STATE_VERSION
#define BAR_BYTES 80u
#define BUF_ENTRY_BYTES 24u

/* ---- writer ---------------------------------------------------------- */

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
    int err;
} wbuf;

static void w_bytes(wbuf *w, const void *src, size_t n)
{
    if (w->err)
        return;
    if (w->cap - w->n < n) {
        size_t cap = w->cap ? w->cap : 4096;
        uint8_t *q;
        while (cap - w->n < n)
            cap *= 2;
        q = realloc(w->p, cap);
        if (!q) {
            w->err = -ENOMEM;
            return;
        }
        w->p = q;
        w->cap = cap;
    }
    memcpy(w->p + w->n, src, n);
    w->n += n;
}

static void w_uint(wbuf *w, uint64_t v, unsigned bytes)
{
    uint8_t b[8];
    for (unsigned i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    w_bytes(w, b, bytes);
}

static void w_u8(wbuf *w, uint64_t v) { w_uint(w, v, 1); }
static void w_u32(wbuf *w, uint64_t v) { w_uint(w, v, 4); }
static void w_u64(wbuf *w, uint64_t v) { w_uint(w, v, 8); }
static void w_i64(wbuf *w, int64_t v) { w_uint(w, (uint64_t)v, 8); }

static void w_bar(wbuf *w, const pl__bacc *b)
{
    w_i64(w, b->open);
    w_i64(w, b->high);
    w_i64(w, b->low);
    w_i64(w, b->close);
    w_u64(w, b->volume);
    w_i64(w, b->trades);
    w_u64(w, (uint64_t)(b->notional >> 64));
    w_u64(w, (uint64_t)b->notional);
    w_i64(w, b->first_t);
    w_i64(w, b->last_t);
}

/* ---- reader ---------------------------------------------------------- */

typedef struct rbuf {
    const uint8_t *p;
    size_t n, off;
    int bad; /* ran past the end: every later read yields 0 */
} rbuf;

static uint64_t r_uint(rbuf *r, unsigned bytes)
{
    uint64_t v = 0;
    if (r->bad || r->n - r->off < bytes) {
        r->bad = 1;
        return 0;
    }
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[r->off + i] << (8 * i);
    r->off += bytes;
    return v;
}

static uint64_t r_u8(rbuf *r) { return r_uint(r, 1); }
static uint64_t r_u32(rbuf *r) { return r_uint(r, 4); }
static uint64_t r_u64(rbuf *r) { return r_uint(r, 8); }
static int64_t r_i64(rbuf *r) { return (int64_t)r_uint(r, 8); }

static size_t r_left(const rbuf *r)
{
    return r->bad ? 0 : r->n - r->off;
}

static void r_bar(rbuf *r, pl__bacc *b)
{
    uint64_t hi, lo;
    b->open = r_i64(r);
    b->high = r_i64(r);
    b->low = r_i64(r);
    b->close = r_i64(r);
    b->volume = r_u64(r);
    b->trades = r_i64(r);
    hi = r_u64(r);
    lo = r_u64(r);
    b->notional = (unsigned __int128)hi << 64 | lo;
    b->first_t = r_i64(r);
    b->last_t = r_i64(r);
}

static int price_ok(int64_t p)
{
    return p >= 1 && p <= PL__PRICE_MAX_E8;
}

/*
 * A partial bar is possible: prices in range and ordered, volume between
 * trades and trades * 1e9, notional between volume * low and volume * high,
 * events released (last_t <= W) and in time order.  Returns a reason or NULL.
 */
static const char *bar_bad(const pl__bacc *b, int64_t W, uint64_t released)
{
    unsigned __int128 v = b->volume;
    if (b->trades < 1 || (uint64_t)b->trades > released)
        return "trade count";
    if (!price_ok(b->open) || !price_ok(b->high) || !price_ok(b->low) || !price_ok(b->close) ||
        b->low > b->open || b->low > b->close || b->high < b->open || b->high < b->close)
        return "prices";
    if (v < (uint64_t)b->trades || v > (unsigned __int128)(uint64_t)b->trades * PL_QTY_MAX)
        return "volume";
    if (b->notional < v * (uint64_t)b->low || b->notional > v * (uint64_t)b->high)
        return "notional";
    if (b->first_t < 0 || b->first_t > b->last_t || b->last_t > W)
        return "event times";
    return NULL;
}

/* ---- save ------------------------------------------------------------- */

/* A buffered event and its place in pl__stream_rb_collect's output. */
typedef struct ordent {
    pl__rbent e;
    size_t ord;
} ordent;

/* (t, collection order) is (t, position) order: see pl__stream_rb_collect. */
static int cmp_ent(const void *x, const void *y)
{
    const ordent *a = x, *b = y;
    if (a->e.t != b->e.t)
        return a->e.t < b->e.t ? -1 : 1;
    return a->ord < b->ord ? -1 : a->ord > b->ord;
}

static void save_aggs(wbuf *w, const pl_stream *s)
{
    for (int i = 0; i < s->naggs; i++) {
        const pl__agg *a = &s->aggs[i];
        if (a->K) {
            uint64_t nwin = 0;
            for (uint64_t j = 0; j < a->nslots; j++)
                nwin += a->ring[(a->head_k + j) % a->K].n > 0;
            w_u64(w, nwin);
            for (uint64_t j = 0; j < a->nslots; j++) {
                uint64_t k = a->head_k + j;
                const pl__slot *sl = &a->ring[k % a->K];
                if (!sl->n)
                    continue;
                w_u64(w, k);
                w_u32(w, sl->n);
                for (uint32_t x = 0; x < sl->n; x++) {
                    w_u32(w, sl->syms[x]);
                    w_bar(w, &a->tbars[(size_t)sl->syms[x] * a->K + k % a->K]);
                }
            }
        } else {
            for (uint32_t y = 0; y < s->nsym; y++) {
                w_u64(w, a->seq[y]);
                w_u8(w, a->dbars[y].trades > 0);
                if (a->dbars[y].trades > 0)
                    w_bar(w, &a->dbars[y]);
            }
        }
    }
}

int pl_stream_save(const pl_stream *s, uint8_t **buf, size_t *len)
{
    wbuf w = { 0 };
    pl__rbent *flat = NULL;
    ordent *sorted = NULL;
    /* reorder-buffer-not-saved (wrong on purpose): the buffered events are
     * counted as released and left out */
    const uint64_t lost = pl_unsafe(PL_UNSAFE_RB_NOT_SAVED) ? s->nbuf : 0;

    *buf = NULL;
    *len = 0;
    if (s->dead)
        return PL_EUSAGE; /* its state is half-way through a failed step */
    w_u32(&w, SAVE_MAGIC);
    w_u32(&w, SAVE_VERSION);
    w_i64(&w, s->cfg.max_delay);
    w_i64(&w, s->cfg.idle_timeout);
    w_u32(&w, (uint32_t)s->naggs);
    for (int i = 0; i < s->naggs; i++) {
        w_u32(&w, (uint32_t)s->aggs[i].kind);
        w_u64(&w, s->aggs[i].size);
        w_u64(&w, s->aggs[i].slide);
        w_u64(&w, s->aggs[i].thr);
    }
    w_u32(&w, s->np);
    w_u8(&w, (uint64_t)s->have_first);
    w_u8(&w, (uint64_t)s->finished);
    w_i64(&w, s->W);
    w_i64(&w, s->last_T);
    w_u64(&w, s->last_pos);
    for (uint32_t q = 0; q < s->np; q++) {
        w_u8(&w, s->has_maxev[q]);
        w_i64(&w, s->has_maxev[q] ? s->maxev[q] : 0);
        /* idle-state-not-saved (wrong on purpose): as if all had just spoken */
        w_i64(&w, pl_unsafe(PL_UNSAFE_IDLE_NOT_SAVED) ? s->last_T : s->last_ingest[q]);
    }
    w_u64(&w, s->st.records);
    w_u64(&w, s->st.valid);
    w_u64(&w, s->st.poison);
    w_u64(&w, s->st.late);
    w_u64(&w, s->st.released + lost);
    w_u64(&w, s->st.bars);
    w_u64(&w, s->st.open_windows);
    w_u32(&w, s->nsym);
    for (uint32_t y = 0; y < s->nsym; y++) {
        w_u8(&w, s->syms[y].len);
        w_bytes(&w, s->syms[y].w, s->syms[y].len);
    }
    /* The buckets' layout depends on release history; sorted entries do not. */
    if (s->nbuf && !lost) {
        flat = malloc(s->nbuf * sizeof *flat);
        sorted = malloc(s->nbuf * sizeof *sorted);
        if (!flat || !sorted) {
            free(flat);
            free(sorted);
            free(w.p);
            return -ENOMEM;
        }
        pl__stream_rb_collect(s, flat);
        for (size_t i = 0; i < s->nbuf; i++) {
            sorted[i].e = flat[i];
            sorted[i].ord = i;
        }
        free(flat);
        qsort(sorted, s->nbuf, sizeof *sorted, cmp_ent);
    }
    w_u64(&w, s->nbuf - lost);
    for (size_t i = 0; i < s->nbuf - lost; i++) {
        w_i64(&w, sorted[i].e.t);
        w_i64(&w, sorted[i].e.price);
        w_u32(&w, sorted[i].e.qty);
        w_u32(&w, sorted[i].e.sym);
    }
    free(sorted);
    save_aggs(&w, s);
    if (w.err) {
        free(w.p);
        return w.err;
    }
    *buf = w.p;
    *len = w.n;
    return 0;
}

/* ---- load ------------------------------------------------------------- */

#define CORRUPT(...) do { rc = pl_err(eb, PL_ECORRUPT, "stream state: " __VA_ARGS__); goto fail; } while (0)

/* Smallest k whose window [k*slide, k*slide+size) ends after t. */
static uint64_t kmin_of(const pl__agg *a, uint64_t t)
{
    return t < a->size ? 0 : (t - a->size) / a->slide + 1;
}

static int load_time_agg(rbuf *r, pl_stream *t, pl__agg *a, int ai, uint64_t *nopen,
                         pl_errbuf *eb)
{
    uint64_t nwin = r_u64(r), prevk = 0, *lo = NULL;
    int rc = 0;

    if (r->bad)
        CORRUPT("truncated in aggregation %d", ai);
    if (nwin > a->K || (nwin && (t->finished || t->W < 0)))
        CORRUPT("aggregation %d: %llu open windows", ai, (unsigned long long)nwin);
    lo = calloc(t->nsym ? t->nsym : 1, sizeof *lo);
    if (!lo) {
        rc = pl_err(eb, -ENOMEM, "stream state: out of memory");
        goto fail;
    }
    for (uint64_t j = 0; j < nwin; j++) {
        uint64_t k = r_u64(r), n = r_u32(r), start, end;
        if (r->bad)
            CORRUPT("truncated in aggregation %d", ai);
        if ((j && k <= prevk) || (j && k - a->head_k >= a->K))
            CORRUPT("aggregation %d: window %llu out of order or range", ai,
                    (unsigned long long)k);
        if (k > (uint64_t)INT64_MAX / a->slide)
            CORRUPT("aggregation %d: window %llu starts beyond 2^63", ai, (unsigned long long)k);
        start = k * a->slide;
        end = start + a->size;
        /* Not yet fired: end - 1 > W (W >= 0 here). */
        if (end <= (uint64_t)t->W + 1)
            CORRUPT("aggregation %d: window %llu should have fired", ai, (unsigned long long)k);
        if (n < 1 || n > t->nsym || n > r_left(r) / (4 + BAR_BYTES))
            CORRUPT("aggregation %d: window %llu has %llu bars", ai, (unsigned long long)k,
                    (unsigned long long)n);
        for (uint64_t x = 0; x < n; x++) {
            uint32_t sym = (uint32_t)r_u32(r);
            pl__bacc b;
            const char *why;
            r_bar(r, &b);
            if (r->bad)
                CORRUPT("truncated in aggregation %d", ai);
            if (sym >= t->nsym)
                CORRUPT("aggregation %d: symbol id %u", ai, sym);
            /* keeps (3): a symbol's open windows are contiguous */
            if (a->hi1[sym] != 0 && a->hi1[sym] != k)
                CORRUPT("aggregation %d: symbol %u: windows not contiguous at %llu", ai, sym,
                        (unsigned long long)k);
            why = bar_bad(&b, t->W, t->st.released);
            if (why)
                CORRUPT("aggregation %d window %llu symbol %u: bad %s", ai,
                        (unsigned long long)k, sym, why);
            if ((uint64_t)b.first_t < start || (uint64_t)b.last_t >= end)
                CORRUPT("aggregation %d window %llu symbol %u: events outside the window", ai,
                        (unsigned long long)k, sym);
            if (a->hi1[sym] == 0)
                lo[sym] = k;
            rc = pl__stream_open_slot(t, a, k, sym);
            if (rc) {
                rc = pl_err(eb, rc == -ENOMEM ? rc : PL_ECORRUPT, "stream state: %s",
                            t->eb.msg);
                goto fail;
            }
            a->tbars[(size_t)sym * a->K + k % a->K] = b;
            a->hi1[sym] = k + 1;
            (*nopen)++;
        }
        prevk = k;
    }
    /* keeps (3): a symbol's open windows are exactly those holding its last
     * event that have not fired, which the next event relies on. */
    for (uint32_t y = 0; y < t->nsym; y++) {
        uint64_t hi, last, want;
        if (!a->hi1[y])
            continue;
        hi = a->hi1[y] - 1;
        last = (uint64_t)a->tbars[(size_t)y * a->K + hi % a->K].last_t;
        want = kmin_of(a, last);
        if (kmin_of(a, (uint64_t)t->W + 1) > want)
            want = kmin_of(a, (uint64_t)t->W + 1);
        if (hi != last / a->slide || lo[y] != want)
            CORRUPT("aggregation %d: symbol %u: open windows [%llu, %llu] do not match its "
                    "last event", ai, y, (unsigned long long)lo[y], (unsigned long long)hi);
    }
fail:
    free(lo);
    return rc;
}

static int load_dd_agg(rbuf *r, pl_stream *t, pl__agg *a, int ai, pl_errbuf *eb)
{
    int rc = 0;
    if (t->nsym > r_left(r) / 9)
        CORRUPT("truncated in aggregation %d", ai);
    for (uint32_t y = 0; y < t->nsym; y++) {
        uint64_t open;
        a->seq[y] = r_u64(r);
        if (pl_unsafe(PL_UNSAFE_SEQ_NOT_RESTORED))
            a->seq[y] = 0; /* wrong on purpose */
        open = r_u8(r);
        if (r->bad || open > 1)
            CORRUPT("aggregation %d symbol %u: bad bar header", ai, y);
        if (open) {
            pl__bacc *b = &a->dbars[y];
            const char *why;
            r_bar(r, b);
            if (r->bad)
                CORRUPT("truncated in aggregation %d", ai);
            why = bar_bad(b, t->W, t->st.released);
            /* keeps (4) */
            if (!why && ((a->kind == PL_AGG_TICKS && (uint64_t)b->trades >= a->thr) ||
                         (a->kind == PL_AGG_VOLUME && b->volume >= a->thr) ||
                         (a->kind == PL_AGG_DOLLAR && b->notional >= a->thr128)))
                why = "threshold (bar should have closed)";
            if (why)
                CORRUPT("aggregation %d symbol %u: bad %s", ai, y, why);
            if (pl_unsafe(PL_UNSAFE_COUNTERS_RESET))
                b->trades = 0; /* wrong on purpose: the open bar starts over */
        }
    }
fail:
    return rc;
}

static const uint8_t sym_char[256] = {
    ['-'] = 1, ['.'] = 1, ['_'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
    ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
    ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
};

int pl_stream_load(pl_stream *s, const uint8_t *buf, size_t len, pl_errbuf *eb)
{
    pl_stream *t = NULL, tmp;
    int64_t prev_t = 0;
    rbuf rd = { buf, len, 0, 0 }, *r = &rd;
    uint64_t v, nbuf, nopen = 0;
    uint32_t nsym;
    int rc;

    if (s->have_first || s->finished || s->dead || s->nsym)
        return pl_err(eb, PL_EUSAGE, "stream state: load into a stream that has been used");
    rc = pl_stream_new(&s->cfg, s->np, &s->emit, &t, eb);
    if (rc < 0)
        return rc;

    if (r_u32(r) != SAVE_MAGIC)
        CORRUPT("bad magic");
    v = r_u32(r);
    if (v != SAVE_VERSION)
        CORRUPT("format version %llu (this build reads version %u)", (unsigned long long)v,
                SAVE_VERSION);
    if (r_i64(r) != t->cfg.max_delay || r_i64(r) != t->cfg.idle_timeout ||
        r_u32(r) != (uint64_t)t->naggs) {
        rc = pl_err(eb, r->bad ? PL_ECORRUPT : PL_ECONFIG,
                    "stream state: saved under other max_delay/idle_timeout/aggregations");
        goto fail;
    }
    for (int i = 0; i < t->naggs; i++) {
        const pl__agg *a = &t->aggs[i];
        if (r_u32(r) != (uint64_t)a->kind || r_u64(r) != a->size || r_u64(r) != a->slide ||
            r_u64(r) != a->thr) {
            rc = pl_err(eb, r->bad ? PL_ECORRUPT : PL_ECONFIG,
                        "stream state: aggregation %d saved with another definition", i);
            goto fail;
        }
    }
    if (r_u32(r) != t->np) {
        rc = pl_err(eb, r->bad ? PL_ECORRUPT : PL_ECONFIG,
                    "stream state: saved with another partition count");
        goto fail;
    }

    t->have_first = (int)r_u8(r);
    t->finished = (int)r_u8(r);
    t->W = r_i64(r);
    t->last_T = r_i64(r);
    t->last_pos = r_u64(r);
    if (r->bad)
        CORRUPT("truncated header");
    if (t->have_first > 1 || t->finished > 1 || t->last_T < 0 ||
        (t->finished != (t->W == PL_WM_POS_INF)) ||
        (!t->have_first && ((!t->finished && t->W != PL_WM_NEG_INF) || t->last_T || t->last_pos)))
        CORRUPT("bad header flags or watermark");
    if (r_left(r) / 17 < t->np)
        CORRUPT("truncated in partitions");
    for (uint32_t q = 0; q < t->np; q++) {
        uint64_t has = r_u8(r);
        int64_t mx = r_i64(r), li = r_i64(r);
        if (has > 1 || mx < 0 || (!has && mx) || li < 0 || li > t->last_T ||
            (!t->have_first && (has || li)))
            CORRUPT("partition %u: bad maxev/last_ingest", q);
        t->has_maxev[q] = (uint8_t)has;
        t->maxev[q] = mx;
        t->wm[q] = has ? (int64_t)((__int128)mx - t->cfg.max_delay - 1 < INT64_MIN
                                       ? INT64_MIN
                                       : (__int128)mx - t->cfg.max_delay - 1)
                       : PL_WM_NEG_INF;
        t->last_ingest[q] = li;
    }
    t->st.records = r_u64(r);
    t->st.valid = r_u64(r);
    t->st.poison = r_u64(r);
    t->st.late = r_u64(r);
    t->st.released = r_u64(r);
    t->st.bars = r_u64(r);
    t->st.open_windows = r_u64(r);
    if (r->bad)
        CORRUPT("truncated counters");
    if (t->st.valid + t->st.poison != t->st.records || t->st.late > t->st.valid ||
        t->st.released > t->st.valid - t->st.late || (!t->have_first && t->st.records))
        CORRUPT("counters do not add up");

    nsym = (uint32_t)r_u32(r);
    if (r->bad || nsym > r_left(r) / 2 || (!t->have_first && nsym))
        CORRUPT("bad symbol count");
    for (uint32_t y = 0; y < nsym; y++) {
        uint64_t n = r_u8(r);
        char name[PL_SYMBOL_MAX];
        int64_t id;
        if (r->bad || n < 1 || n > PL_SYMBOL_MAX || n > r_left(r))
            CORRUPT("symbol %u: bad length", y);
        for (uint64_t i = 0; i < n; i++) {
            name[i] = (char)r->p[r->off + i];
            if (!sym_char[(uint8_t)name[i]])
                CORRUPT("symbol %u: bad byte", y);
        }
        r->off += n;
        id = pl__stream_intern(t, name, (uint32_t)n, name, n);
        if (id == -ENOMEM) {
            rc = pl_err(eb, -ENOMEM, "stream state: out of memory for symbols");
            goto fail;
        }
        if (id != (int64_t)y)
            CORRUPT("symbol %u: duplicate", y);
    }

    nbuf = r_u64(r);
    if (r->bad || nbuf > r_left(r) / BUF_ENTRY_BYTES)
        CORRUPT("bad reorder buffer length");
    if (nbuf != t->st.valid - t->st.late - t->st.released)
        CORRUPT("reorder buffer length disagrees with the counters");
    for (uint64_t i = 0; i < nbuf; i++) {
        pl__rbent ent, *e = &ent;
        e->t = r_i64(r);
        e->price = r_i64(r);
        v = r_u32(r);
        e->qty = (uint32_t)v;
        e->sym = (uint32_t)r_u32(r);
        if (r->bad)
            CORRUPT("truncated reorder buffer");
        /* keeps (1); inserting in saved order keeps equal times in
         * position order within their bucket */
        if (e->t < 0 || e->t <= t->W || e->sym >= t->nsym || !price_ok(e->price) ||
            e->qty < 1 || e->qty > PL_QTY_MAX || (i && e->t < prev_t))
            CORRUPT("reorder buffer entry %llu", (unsigned long long)i);
        rc = pl__stream_rb_push(t, e);
        if (rc) {
            rc = pl_err(eb, rc, "stream state: %s", t->eb.msg);
            goto fail;
        }
        prev_t = e->t;
    }

    for (int i = 0; i < t->naggs; i++) {
        pl__agg *a = &t->aggs[i];
        rc = a->K ? load_time_agg(r, t, a, i, &nopen, eb) : load_dd_agg(r, t, a, i, eb);
        if (rc)
            goto fail;
    }
    if (nopen != t->st.open_windows)
        CORRUPT("%llu open windows, counter says %llu", (unsigned long long)nopen,
                (unsigned long long)t->st.open_windows);
    if (r->bad || r->off != r->n)
        CORRUPT("%s", r->bad ? "truncated" : "trailing bytes");

    /* Swap the whole state in; the old (fresh) one is freed with t. */
    tmp = *s;
    *s = *t;
    *t = tmp;
    pl_stream_free(t);
    s->eb.msg[0] = 0;
    return 0;

fail:
    pl_stream_free(t);
    return rc;
}
