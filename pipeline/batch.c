/*
 * batch.c - the offline recomputation of a run's three tables (pl_batch.h).
 *
 * This is the oracle the streaming path is checked against, so it is written
 * straight from the semantics contract, for clarity rather than speed, and
 * shares no watermark, reorder or window code with the streaming core:
 *
 *   1. load_records   every record of every partition, then sorted into the
 *                     canonical order (ingest_ns, partition, offset);
 *   2. classify       one pass in that order: the watermark W in force before
 *                     each record, and each record sorted into dead letters,
 *                     late events (with the W that rejected them) or on-time
 *                     events;
 *   3. the released stream is all on-time events in (t, position) order:
 *                     when an event is released changes nothing a bar holds
 *                     (an on-time event is never behind a window that fired,
 *                     and every window fires at end of input), so no
 *                     release timing is simulated;
 *   4. write_bars     on-time events sorted by (symbol, t, position); each
 *                     aggregation, in name order, walks each symbol's events
 *                     and writes its bars in seq order, so rows come out in
 *                     canonical order without being stored;
 *   5. write_late / write_dlq, sorted by (partition, offset).
 *
 * Everything is held in memory: about 32 bytes per record plus 40 per
 * on-time event.  Payload and symbol bytes are not copied; they point into
 * the log's mapping, which outlives this call.
 */
#include "pl_batch.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pl_digest.h"
#include "pl_fs.h"
#include "pl_payload.h"
#include "pl_unsafe.h"

typedef unsigned __int128 u128;

/* One record of the log, before parsing. */
typedef struct rec {
    int64_t ingest;
    uint64_t offset;
    const uint8_t *payload;
    uint32_t part;
    uint32_t len;
} rec;

/* An on-time event; pos is its place in canonical order (the tie-break). */
typedef struct event {
    int64_t t;
    int64_t price;
    const char *sym;
    uint64_t pos;
    uint32_t qty;
    uint32_t sym_len;
} event;

typedef struct late_row {
    uint32_t part;
    uint64_t offset;
    pl_tick e;
    int64_t wm; /* the W that rejected it */
} late_row;

typedef struct dlq_row {
    uint32_t part;
    uint64_t offset;
    int reason;
    const uint8_t *payload;
    uint32_t len;
} dlq_row;

/* What classify produces. */
typedef struct tables {
    event *ev;
    size_t nev;
    late_row *late;
    size_t nlate;
    dlq_row *dlq;
    size_t ndlq;
} tables;

/* One bar's contents, computed from a run of events in released order. */
typedef struct bar {
    int64_t open, high, low, close, vwap;
    int64_t volume;
    uint64_t trades;
} bar;

/*
 * W and wm are "minus infinity" before any event.  INT64_MIN stands for it:
 * a real wm = maxev - B - 1 is never below INT64_MIN (maxev >= 0, B <= INT64_MAX),
 * and W is only ever compared as `t <= W` with t >= 0, which is false for
 * both, so the stand-in never changes a result.
 */
#define NEG_INF INT64_MIN

/* Events read between two stop checks while bars are computed. */
#define STOP_WORK (1u << 20)

/* ---- sorting that a stop request can end ------------------------------- */

/* Elements qsort sorts at once, and merged between two stop checks. */
#define SORT_RUN 65536

/*
 * The sorts of millions of records take seconds, and qsort cannot be left
 * early (answering "equal" once a stop is requested still leaves it all its
 * merge passes: about a second under load).  So runs of SORT_RUN elements
 * are sorted by qsort, then merged pairwise, bottom up, through a buffer of
 * the same size; the stop request is checked after each run and every
 * SORT_RUN elements merged.  The comparators here order by unique keys, so
 * the result is exactly qsort's.  Without memory for the buffer the runs
 * are left to one qsort (the order is the same, a stop is only seen later).
 */
int pl__batch_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *),
                   pl_errbuf *eb)
{
    char *src = base, *dst, *buf;
    int rc;

    if (n <= SORT_RUN) {
        if (n > 1) /* qsort must not be given NULL, even for 0 rows */
            qsort(base, n, size, cmp);
        return 0;
    }
    for (size_t i = 0; i < n; i += SORT_RUN) {
        qsort(src + i * size, n - i < SORT_RUN ? n - i : SORT_RUN, size, cmp);
        if ((rc = pl_check_stop(eb, "batch")) < 0)
            return rc;
    }
    buf = dst = malloc(n * size);
    if (!buf) {
        qsort(base, n, size, cmp);
        return 0;
    }
    for (size_t w = SORT_RUN; w < n; w = w > n / 2 ? n : 2 * w) {
        size_t since = 0;
        char *t;
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                if (cmp(src + j * size, src + i * size) < 0)
                    memcpy(dst + k++ * size, src + j++ * size, size);
                else
                    memcpy(dst + k++ * size, src + i++ * size, size);
                if (++since == SORT_RUN) {
                    since = 0;
                    if ((rc = pl_check_stop(eb, "batch")) < 0) {
                        free(buf);
                        return rc;
                    }
                }
            }
            memcpy(dst + k * size, src + i * size, (mid - i) * size);
            k += mid - i;
            memcpy(dst + k * size, src + j * size, (hi - j) * size);
        }
        t = src;
        src = dst;
        dst = t;
    }
    if (src != base)
        memcpy(base, src, n * size);
    free(buf);
    return 0;
}

/* ---- 1. canonical order ---------------------------------------------- */

static int cmp_canonical(const void *a, const void *b)
{
    const rec *x = a, *y = b;
    if (x->ingest != y->ingest)
        return x->ingest < y->ingest ? -1 : 1;
    if (x->part != y->part)
        return x->part < y->part ? -1 : 1;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return 0;
}

static int load_records(pl_log *log, rec **out, size_t *nout, pl_errbuf *eb)
{
    uint32_t nparts = pl_log_partitions(log);
    uint64_t total = pl_log_total(log);
    rec *r = NULL;
    size_t n = 0;
    int rc = 0;

    if (total > SIZE_MAX / sizeof *r) {
        rc = pl_err(eb, PL_ELIMIT, "batch: %" PRIu64 " records do not fit in memory", total);
        goto fail;
    }
    r = malloc((total ? total : 1) * sizeof *r);
    if (!r) {
        rc = pl_err_os(eb, ENOMEM, "batch: allocating %" PRIu64 " records", total);
        goto fail;
    }
    for (uint32_t p = 0; p < nparts; p++) {
        pl_cursor c;
        rc = pl_cur_init(log, p, 0, &c, eb);
        if (rc < 0)
            goto fail;
        while ((rc = pl_cur_next(&c, eb)) == 1) {
            if ((n & 4095) == 0 && (rc = pl_check_stop(eb, "batch")) < 0)
                goto fail;
            /* without these checks a damaged log could overrun r or make
             * the idleness subtraction in classify overflow */
            if (n == total) {
                rc = pl_err(eb, PL_ECORRUPT,
                            "batch: partition %u offset %" PRIu64
                            ": more records than the manifest's %" PRIu64,
                            p, c.offset, total);
                goto fail;
            }
            if (c.ingest_ns < 0) {
                rc = pl_err(eb, PL_ECORRUPT,
                            "batch: partition %u offset %" PRIu64 ": ingest_ns >= 2^63",
                            p, c.offset);
                goto fail;
            }
            r[n].ingest = c.ingest_ns;
            r[n].offset = c.offset;
            r[n].payload = c.payload;
            r[n].part = p;
            r[n].len = c.len;
            n++;
        }
        if (rc < 0)
            goto fail;
    }
    if ((rc = pl__batch_sort(r, n, sizeof *r, cmp_canonical, eb)) < 0)
        goto fail;
    *out = r;
    *nout = n;
    return 0;
fail:
    free(r);
    return rc;
}

/* ---- 2. watermark and classification ---------------------------------- */

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* Late and dead-letter rows are usually few, so their arrays grow on
 * demand rather than being sized for the whole log. */
/* Make room for one more element in *arr (capacity *cap, n used). */
static int grow(void *arr, size_t *cap, size_t n, size_t elem)
{
    void **p = arr;
    size_t c = *cap ? *cap * 2 : 64;
    void *q;
    if (n < *cap)
        return 0;
    q = realloc(*p, c * elem);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/*
 * Walk the records in canonical order applying SPEC section 2 steps 1-4
 * literally, with a full scan of the partitions for step 4.  Step 5 is not
 * needed (see the file comment).
 */
static int classify(const rec *r, size_t n, uint32_t nparts, const pl_config *cfg,
                    tables *tb, pl_errbuf *eb)
{
    int64_t *maxev = NULL;       /* -1: none yet (event times are >= 0) */
    int64_t *last_ingest = NULL;
    int64_t W = NEG_INF;
    int64_t B = cfg->max_delay, I = cfg->idle_timeout;
    size_t late_cap = 0, dlq_cap = 0;
    int rc = 0;

    memset(tb, 0, sizeof *tb);
    maxev = malloc((nparts ? nparts : 1) * sizeof *maxev);
    last_ingest = malloc((nparts ? nparts : 1) * sizeof *last_ingest);
    tb->ev = malloc((n ? n : 1) * sizeof *tb->ev);
    if (!maxev || !last_ingest || !tb->ev) {
        rc = pl_err_os(eb, ENOMEM, "batch: allocating state for %zu records", n);
        goto fail;
    }
    for (uint32_t q = 0; q < nparts; q++) {
        maxev[q] = -1;
        /* SPEC: initially the ingest_ns of the first record in canonical order */
        last_ingest[q] = n ? r[0].ingest : 0;
    }

    for (size_t i = 0; i < n; i++) {
        const rec *x = &r[i];
        pl_tick e;
        int reason;
        if ((i & 4095) == 4095 && (rc = pl_check_stop(eb, "batch")) < 0)
            goto fail;
        reason = pl_payload_parse(x->payload, x->len, &e);
        /* step 1: poison goes to the dead letters */
        if (reason != PL_VALID) {
            dlq_row *d;
            if (grow(&tb->dlq, &dlq_cap, tb->ndlq, sizeof *d) < 0) {
                rc = pl_err_os(eb, ENOMEM, "batch: growing the dead-letter table");
                goto fail;
            }
            d = &tb->dlq[tb->ndlq++];
            d->part = x->part;
            d->offset = x->offset;
            d->reason = reason;
            d->payload = x->payload;
            d->len = x->len;
        } else if (e.t <= W && !(pl_unsafe(PL_UNSAFE_BATCH_WM_ON_TIME) && e.t == W)) {
            /* step 2: late, with the W in force before this record */
            late_row *l;
            if (grow(&tb->late, &late_cap, tb->nlate, sizeof *l) < 0) {
                rc = pl_err_os(eb, ENOMEM, "batch: growing the late table");
                goto fail;
            }
            l = &tb->late[tb->nlate++];
            l->part = x->part;
            l->offset = x->offset;
            l->e = e;
            l->wm = W;
        } else {
            event *v = &tb->ev[tb->nev++];
            v->t = e.t;
            v->price = e.price_e8;
            v->sym = e.sym;
            v->sym_len = e.sym_len;
            v->qty = (uint32_t)e.qty;
            v->pos = i;
        }
        /* step 3: late events count towards maxev too (as the contract says,
         * though it cannot change an output: their wm is below W already) */
        last_ingest[x->part] = x->ingest;
        if (reason == PL_VALID)
            maxev[x->part] = max64(maxev[x->part], e.t);
        /* step 4 */
        {
            int64_t m = INT64_MAX;
            for (uint32_t q = 0; q < nparts; q++) {
                int64_t wm;
                /* x->ingest >= last_ingest[q]: both were seen in canonical
                 * order (or last_ingest is the log's first ingest), so the
                 * difference is >= 0 and cannot overflow */
                if (I != 0 && x->ingest - last_ingest[q] > I)
                    continue;
                /* maxev - B cannot overflow (both >= 0) and maxev - B - 1
                 * >= -INT64_MAX - 1 */
                wm = maxev[q] < 0 ? NEG_INF : maxev[q] - B - 1;
                m = min64(m, wm);
            }
            /* partition x->part is always active, so m was set */
            W = max64(W, m);
        }
    }
    free(maxev);
    free(last_ingest);
    return 0;
fail:
    free(maxev);
    free(last_ingest);
    free(tb->ev);
    free(tb->late);
    free(tb->dlq);
    memset(tb, 0, sizeof *tb);
    return rc;
}

/* ---- 4. bars ------------------------------------------------------------ */

static int cmp_sym(const char *a, uint32_t an, const char *b, uint32_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c != 0)
        return c;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

static int cmp_symbol_t_pos(const void *a, const void *b)
{
    const event *x = a, *y = b;
    int c = cmp_sym(x->sym, x->sym_len, y->sym, y->sym_len);
    if (c != 0)
        return c;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (x->pos != y->pos)
        return x->pos < y->pos ? -1 : 1;
    return 0;
}

/* The bar made of ev[lo..hi), hi > lo, in released order. */
static void bar_of(const event *ev, size_t lo, size_t hi, bar *b)
{
    u128 notional = 0;
    u128 vol;
    u128 q, rem;

    b->open = ev[lo].price;
    b->close = ev[hi - 1].price;
    b->high = ev[lo].price;
    b->low = ev[lo].price;
    b->volume = 0;
    b->trades = hi - lo;
    for (size_t i = lo; i < hi; i++) {
        b->high = max64(b->high, ev[i].price);
        b->low = min64(b->low, ev[i].price);
        /* qty <= 1e9: int64 holds 9e9 events' worth, more than memory does */
        b->volume += ev[i].qty;
        notional += (u128)ev[i].price * ev[i].qty;
    }
    /* half up: round up when the remainder is at least half the divisor */
    vol = (u128)b->volume;
    q = notional / vol;
    rem = notional % vol;
    if (2 * rem >= vol)
        q++;
    b->vwap = (int64_t)q; /* between low and high, so it fits */
}

static int put(pl_dfile *f, const char *s, size_t n, const char *path, pl_errbuf *eb)
{
    int rc = pl_dfile_write(f, s, n);
    if (rc < 0)
        return pl_err(eb, rc, "batch: writing %s: %s", path, pl_strerror(rc));
    return 0;
}

static int write_bar(pl_dfile *f, const char *path, const char *agg, const event *first,
                     uint64_t seq, int64_t start, uint64_t end, const bar *b, pl_errbuf *eb)
{
    char line[512];
    int n = snprintf(line, sizeof line,
                     "%s,%.*s,%" PRIu64 ",%" PRId64 ",%" PRIu64
                     ",%" PRId64 ".%08" PRId64 ",%" PRId64 ".%08" PRId64
                     ",%" PRId64 ".%08" PRId64 ",%" PRId64 ".%08" PRId64
                     ",%" PRId64 ",%" PRIu64 ",%" PRId64 ".%08" PRId64 "\n",
                     agg, (int)first->sym_len, first->sym, seq, start, end,
                     b->open / 100000000, b->open % 100000000,
                     b->high / 100000000, b->high % 100000000,
                     b->low / 100000000, b->low % 100000000,
                     b->close / 100000000, b->close % 100000000,
                     b->volume, b->trades,
                     b->vwap / 100000000, b->vwap % 100000000);
    return put(f, line, (size_t)n, path, eb);
}

/*
 * Time windows [k*slide, k*slide + size), k >= 0, for one symbol's events
 * ev[0..n) in released order.  Window k holds exactly the events with t in
 * the window, a contiguous run since events are sorted by t.  The non-empty
 * windows are those k that some event falls in; walking events in t order
 * and each event's k range upwards visits them once each, in increasing k.
 * Window ends can exceed INT64_MAX, hence the unsigned arithmetic.
 */
static int time_bars(pl_dfile *f, const char *path, const pl_agg_spec *a, const event *ev,
                     size_t n, int64_t *nbars, pl_errbuf *eb)
{
    uint64_t size = (uint64_t)a->size;
    uint64_t slide = a->kind == PL_AGG_TUMBLING ? size : (uint64_t)a->slide;
    uint64_t next_k = 0; /* windows below this were written already */
    size_t lo = 0, hi = 0, work = 0;
    int rc;

    for (size_t i = 0; i < n; i++) {
        uint64_t t = (uint64_t)ev[i].t;
        uint64_t kmax = t / slide;                             /* k*slide <= t */
        uint64_t kmin = t >= size ? (t - size) / slide + 1 : 0; /* t < k*slide + size */
        if (kmin < next_k)
            kmin = next_k;
        for (uint64_t k = kmin; k <= kmax; k++) {
            uint64_t s = k * slide; /* <= t < 2^63 */
            uint64_t e = s + size;  /* < 2^64 */
            bar b;
            while ((uint64_t)ev[lo].t < s)
                lo++;
            while (hi < n && (uint64_t)ev[hi].t < e)
                hi++;
            bar_of(ev, lo, hi, &b);
            rc = write_bar(f, path, a->name, &ev[lo], k, (int64_t)s, e, &b, eb);
            if (rc < 0)
                return rc;
            (*nbars)++;
            /* one symbol can hold every event, and a long sliding window
             * reads each of them many times: ask for a stop after every
             * million events read, not once per symbol */
            work += hi - lo + 1;
            if (work >= STOP_WORK) {
                work = 0;
                if ((rc = pl_check_stop(eb, "batch")) < 0)
                    return rc;
            }
        }
        if (kmax + 1 > next_k)
            next_k = kmax + 1;
    }
    return 0;
}

/*
 * Data-driven bars for one symbol's events ev[0..n) in released order: a
 * bar closes with the event that reaches the threshold (that event stays in
 * it); a trailing bar that never reached it is not emitted.
 */
static int driven_bars(pl_dfile *f, const char *path, const pl_agg_spec *a, const event *ev,
                       size_t n, int64_t *nbars, pl_errbuf *eb)
{
    /* dollar thresholds are whole currency units; sums are in price_e8 */
    u128 dollar_goal = (u128)(uint64_t)a->threshold * 100000000u;
    uint64_t count = 0, vol = 0, seq = 0;
    u128 dollars = 0;
    size_t first = 0;
    int rc;

    for (size_t i = 0; i < n; i++) {
        int closes = 0;
        if ((i & 4095) == 4095 && (rc = pl_check_stop(eb, "batch")) < 0)
            return rc;
        count++;
        vol += ev[i].qty;
        dollars += (u128)ev[i].price * ev[i].qty;
        switch (a->kind) {
        case PL_AGG_TICKS:  closes = count >= (uint64_t)a->threshold; break;
        case PL_AGG_VOLUME: closes = vol >= (uint64_t)a->threshold; break;
        case PL_AGG_DOLLAR: closes = dollars >= dollar_goal; break;
        default: break;
        }
        if (closes) {
            bar b;
            bar_of(ev, first, i + 1, &b);
            rc = write_bar(f, path, a->name, &ev[first], seq, ev[first].t,
                           (uint64_t)ev[i].t + 1, &b, eb);
            if (rc < 0)
                return rc;
            (*nbars)++;
            seq++;
            first = i + 1;
            count = vol = 0;
            dollars = 0;
        }
    }
    return 0;
}

static int cmp_agg_name(const void *a, const void *b)
{
    const pl_agg_spec *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static int open_table(const char *outdir, const char *name, char *path, size_t pathsz,
                      pl_dfile **f, const char *header, pl_errbuf *eb)
{
    int rc;
    if ((size_t)snprintf(path, pathsz, "%s/%s", outdir, name) >= pathsz)
        return pl_err(eb, PL_EUSAGE, "batch: output path %s/%s too long", outdir, name);
    rc = pl_dfile_open(path, f, eb);
    if (rc < 0)
        return rc;
    rc = put(*f, header, strlen(header), path, eb);
    if (rc < 0) {
        pl_dfile_abort(*f);
        *f = NULL;
    }
    return rc;
}

/* ev is sorted here (by symbol, t, position). */
static int write_bars(const char *outdir, const pl_config *cfg, event *ev, size_t nev,
                      pl_digests *d, pl_errbuf *eb)
{
    char path[4096];
    pl_dfile *f = NULL;
    const pl_agg_spec *order[PL_MAX_AGGS];
    int naggs = cfg->naggs;
    int rc;

    if (naggs < 0 || naggs > PL_MAX_AGGS) {
        rc = pl_err(eb, PL_EUSAGE, "batch: %d aggregations", naggs);
        goto fail;
    }
    for (int j = 0; j < naggs; j++) {
        const pl_agg_spec *a = &cfg->aggs[j];
        int timed = a->kind == PL_AGG_TUMBLING || a->kind == PL_AGG_SLIDING;
        int driven = a->kind == PL_AGG_TICKS || a->kind == PL_AGG_VOLUME ||
                     a->kind == PL_AGG_DOLLAR;
        /* a zero size or slide would divide by zero below */
        if ((timed && (a->size <= 0 || (a->kind == PL_AGG_SLIDING && a->slide <= 0))) ||
            (driven && a->threshold <= 0) || (!timed && !driven)) {
            rc = pl_err(eb, PL_EUSAGE, "batch: aggregation %s: invalid specification",
                        a->name);
            goto fail;
        }
        order[j] = a;
    }
    qsort(order, (size_t)naggs, sizeof order[0], cmp_agg_name);
    if ((rc = pl__batch_sort(ev, nev, sizeof *ev, cmp_symbol_t_pos, eb)) < 0)
        goto fail;

    rc = open_table(outdir, "bars.csv", path, sizeof path, &f,
                    "agg,symbol,seq,start_ns,end_ns,open,high,low,close,volume,trades,vwap\n",
                    eb);
    if (rc < 0)
        goto fail;
    d->nbars = 0;
    for (int j = 0; j < naggs; j++) {
        const pl_agg_spec *a = order[j];
        size_t lo = 0;
        while (lo < nev) {
            size_t hi = lo + 1;
            if ((rc = pl_check_stop(eb, "batch")) < 0) /* once per symbol */
                goto fail;
            while (hi < nev &&
                   cmp_sym(ev[lo].sym, ev[lo].sym_len, ev[hi].sym, ev[hi].sym_len) == 0)
                hi++;
            if (a->kind == PL_AGG_TUMBLING || a->kind == PL_AGG_SLIDING)
                rc = time_bars(f, path, a, ev + lo, hi - lo, &d->nbars, eb);
            else
                rc = driven_bars(f, path, a, ev + lo, hi - lo, &d->nbars, eb);
            if (rc < 0)
                goto fail;
            lo = hi;
        }
    }
    rc = pl_dfile_close(f, d->bars, eb);
    f = NULL;
    if (rc < 0)
        goto fail;
    return 0;
fail:
    if (f)
        pl_dfile_abort(f);
    return rc;
}

/* ---- 5. late and dead letters ------------------------------------------ */

static int cmp_late(const void *a, const void *b)
{
    const late_row *x = a, *y = b;
    if (x->part != y->part)
        return x->part < y->part ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int cmp_dlq(const void *a, const void *b)
{
    const dlq_row *x = a, *y = b;
    if (x->part != y->part)
        return x->part < y->part ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int write_late(const char *outdir, late_row *l, size_t n, pl_digests *d,
                      pl_errbuf *eb)
{
    char path[4096];
    pl_dfile *f = NULL;
    int rc;

    if ((rc = pl__batch_sort(l, n, sizeof *l, cmp_late, eb)) < 0)
        return rc;
    rc = open_table(outdir, "late.csv", path, sizeof path, &f,
                    "partition,offset,event_ns,symbol,price,qty,watermark_ns\n", eb);
    if (rc < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        char line[256];
        int len;
        if ((i & 4095) == 4095 && (rc = pl_check_stop(eb, "batch")) < 0)
            goto fail;
        len = snprintf(line, sizeof line,
                           "%" PRIu32 ",%" PRIu64 ",%" PRId64 ",%.*s,%" PRId64 ".%08" PRId64
                           ",%" PRId64 ",%" PRId64 "\n",
                           l[i].part, l[i].offset, l[i].e.t, (int)l[i].e.sym_len, l[i].e.sym,
                           l[i].e.price_e8 / 100000000, l[i].e.price_e8 % 100000000,
                           l[i].e.qty, l[i].wm);
        rc = put(f, line, (size_t)len, path, eb);
        if (rc < 0)
            goto fail;
    }
    d->nlate = (int64_t)n;
    rc = pl_dfile_close(f, d->late, eb);
    f = NULL;
    if (rc < 0)
        goto fail;
    return 0;
fail:
    if (f)
        pl_dfile_abort(f);
    return rc;
}

static int write_dlq(const char *outdir, dlq_row *r, size_t n, pl_digests *d, pl_errbuf *eb)
{
    static const char hexd[] = "0123456789abcdef";
    char path[4096];
    pl_dfile *f = NULL;
    int rc;

    if ((rc = pl__batch_sort(r, n, sizeof *r, cmp_dlq, eb)) < 0)
        return rc;
    rc = open_table(outdir, "dlq.csv", path, sizeof path, &f,
                    "partition,offset,reason,payload_hex\n", eb);
    if (rc < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        char line[128];
        int len;
        if ((i & 4095) == 4095 && (rc = pl_check_stop(eb, "batch")) < 0)
            goto fail;
        len = snprintf(line, sizeof line, "%" PRIu32 ",%" PRIu64 ",%s,", r[i].part,
                           r[i].offset, pl_poison_name(r[i].reason));
        rc = put(f, line, (size_t)len, path, eb);
        if (rc < 0)
            goto fail;
        /* payloads can be long: hex them a chunk at a time */
        for (uint32_t j = 0; j < r[i].len;) {
            char hex[256];
            size_t k = 0;
            while (j < r[i].len && k + 2 <= sizeof hex) {
                hex[k++] = hexd[r[i].payload[j] >> 4];
                hex[k++] = hexd[r[i].payload[j] & 15];
                j++;
            }
            rc = put(f, hex, k, path, eb);
            if (rc < 0)
                goto fail;
        }
        rc = put(f, "\n", 1, path, eb);
        if (rc < 0)
            goto fail;
    }
    d->ndlq = (int64_t)n;
    rc = pl_dfile_close(f, d->dlq, eb);
    f = NULL;
    if (rc < 0)
        goto fail;
    return 0;
fail:
    if (f)
        pl_dfile_abort(f);
    return rc;
}

int pl_batch_run(pl_log *log, const pl_config *cfg, const char *outdir, pl_digests *d,
                 pl_errbuf *eb)
{
    rec *r = NULL;
    size_t n = 0;
    tables tb;
    int rc;

    memset(&tb, 0, sizeof tb);
    memset(d, 0, sizeof *d);
    if (!log || !cfg || !outdir) {
        rc = pl_err(eb, PL_EUSAGE, "batch: missing log, configuration or output directory");
        goto fail;
    }
    /* classify's overflow reasoning assumes B, I >= 0 */
    if (cfg->max_delay < 0 || cfg->idle_timeout < 0) {
        rc = pl_err(eb, PL_EUSAGE, "batch: negative max_delay %" PRId64 " or idle_timeout %" PRId64,
                    cfg->max_delay, cfg->idle_timeout);
        goto fail;
    }
    rc = pl_fs_mkdir_p(outdir, eb);
    if (rc < 0)
        goto fail;
    rc = load_records(log, &r, &n, eb);
    if (rc < 0)
        goto fail;
    rc = classify(r, n, pl_log_partitions(log), cfg, &tb, eb);
    if (rc < 0)
        goto fail;
    /* the records are no longer needed; free them before the sorts below */
    free(r);
    r = NULL;
    rc = write_bars(outdir, cfg, tb.ev, tb.nev, d, eb);
    if (rc < 0)
        goto fail;
    rc = write_late(outdir, tb.late, tb.nlate, d, eb);
    if (rc < 0)
        goto fail;
    rc = write_dlq(outdir, tb.dlq, tb.ndlq, d, eb);
    if (rc < 0)
        goto fail;
    d->nconflicts = 0;
fail:
    free(r);
    free(tb.ev);
    free(tb.late);
    free(tb.dlq);
    return rc;
}
