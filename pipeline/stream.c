/*
 * stream.c - the streaming core's data path (pl_stream.h): watermarks with
 * idleness, the reorder buffer, and the aggregations.  The checkpoint
 * encoding of the same state lives in stream_save.c; the state itself and
 * its invariants, numbered (1)..(4), are in stream_int.h.
 *
 * Layout: construction; the symbol table (open addressing on ids, never
 * iterated for output: per-id arrays are); the reorder buffer (a radix
 * heap on t, FIFO within a key, merged with one sorted run); bars and their
 * emission; time windows (a ring
 * of open window indices per aggregation, fired from its head); data-driven
 * bars; the per-record step (parse, late check, watermark, release); finish
 * and accessors.
 *
 * Costs per record: O(P) for the watermark when the pusher held the
 * minimum and moved it, or the active set may have changed, else O(1); amortised O(log range of t)
 * sequential moves in the reorder buffer (about two for evenly spread
 * times: into a bucket, then sorted into the run),
 * O(windows containing t) per time aggregation, O(1) per data-driven one.
 * Nothing is allocated per event once the arrays have grown to the
 * working set.
 */
#include "stream_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pl_payload.h"
#include "pl_unsafe.h"

/* Symbol ids are uint32 and index per-aggregation arrays of K entries each. */
#define MAX_SYMBOLS (1u << 28)
/* K = ceil(size/slide) windows per event; option parsing refuses more, this
 * guards callers that build a pl_config by hand. */
#define MAX_K PL_MAX_WINDOWS_PER_EVENT

/* ---- construction ---------------------------------------------------- */

static int agg_init(pl__agg *a, const pl_agg_spec *sp, int i, pl_errbuf *eb)
{
    memset(a, 0, sizeof *a);
    a->kind = sp->kind;
    switch (sp->kind) {
    case PL_AGG_TUMBLING:
    case PL_AGG_SLIDING:
        if (sp->size <= 0 || (sp->kind == PL_AGG_SLIDING && sp->slide <= 0))
            return pl_err(eb, PL_EUSAGE, "stream: aggregation %d (%s): size and slide must be > 0",
                          i, sp->name);
        a->size = (uint64_t)sp->size;
        /* Tumbling is sliding with slide = size, whatever the spec's slide says. */
        a->slide = sp->kind == PL_AGG_TUMBLING ? a->size : (uint64_t)sp->slide;
        a->K = a->slide >= a->size ? 1 : (a->size - 1) / a->slide + 1;
        a->edge = a->size - (a->K - 1) * a->slide;
        if (a->K > MAX_K)
            return pl_err(eb, PL_ELIMIT,
                          "stream: aggregation %d (%s): size/slide = %llu windows per event "
                          "(at most %u)", i, sp->name, (unsigned long long)a->K, MAX_K);
        a->ring = calloc(a->K, sizeof *a->ring);
        if (!a->ring)
            return pl_err(eb, -ENOMEM, "stream: aggregation %d (%s): out of memory", i, sp->name);
        return 0;
    case PL_AGG_TICKS:
    case PL_AGG_VOLUME:
    case PL_AGG_DOLLAR:
        if (sp->threshold <= 0)
            return pl_err(eb, PL_EUSAGE, "stream: aggregation %d (%s): threshold must be > 0", i,
                          sp->name);
        a->thr = (uint64_t)sp->threshold;
        a->thr128 = (unsigned __int128)a->thr * 100000000u;
        return 0;
    default:
        return pl_err(eb, PL_EUSAGE, "stream: aggregation %d (%s): unknown kind %d", i, sp->name,
                      sp->kind);
    }
}

static void agg_free(pl__agg *a)
{
    if (a->ring)
        for (uint64_t i = 0; i < a->K; i++)
            free(a->ring[i].syms);
    free(a->ring);
    free(a->hi1);
    free(a->tbars);
    free(a->dbars);
    free(a->seq);
}

int pl_stream_new(const pl_config *cfg, uint32_t partitions, const pl_emit *emit,
                  pl_stream **out, pl_errbuf *eb)
{
    pl_stream *s = NULL;
    int rc;

    *out = NULL;
    if (!cfg || partitions < 1)
        return pl_err(eb, PL_EUSAGE, "stream: need a configuration and >= 1 partition");
    if (cfg->max_delay < 0 || cfg->idle_timeout < 0)
        return pl_err(eb, PL_EUSAGE, "stream: max_delay and idle_timeout must be >= 0");
    if (cfg->naggs < 1 || cfg->naggs > PL_MAX_AGGS)
        return pl_err(eb, PL_EUSAGE, "stream: %d aggregations (1..%d)", cfg->naggs, PL_MAX_AGGS);
    s = calloc(1, sizeof *s);
    if (!s)
        return pl_err(eb, -ENOMEM, "stream: out of memory");
    s->cfg = *cfg;
    s->np = partitions;
    if (emit)
        s->emit = *emit;
    s->W = PL_WM_NEG_INF;
    s->has_maxev = calloc(partitions, 1);
    s->maxev = calloc(partitions, sizeof *s->maxev);
    s->wm = calloc(partitions, sizeof *s->wm);
    s->last_ingest = calloc(partitions, sizeof *s->last_ingest);
    s->active = calloc(partitions, 1);
    s->hmask = 63;
    s->hbits = 6;
    s->htab = calloc(s->hmask + 1, sizeof *s->htab);
    if (!s->has_maxev || !s->maxev || !s->wm || !s->last_ingest || !s->active || !s->htab) {
        rc = pl_err(eb, -ENOMEM, "stream: out of memory for %u partitions", partitions);
        goto fail;
    }
    for (uint32_t q = 0; q < partitions; q++)
        s->wm[q] = PL_WM_NEG_INF;
    s->naggs = cfg->naggs;
    for (int i = 0; i < s->naggs; i++) {
        rc = agg_init(&s->aggs[i], &cfg->aggs[i], i, eb);
        if (rc < 0)
            goto fail;
    }
    *out = s;
    return 0;

fail:
    pl_stream_free(s);
    return rc;
}

void pl_stream_free(pl_stream *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->naggs; i++)
        agg_free(&s->aggs[i]);
    free(s->has_maxev);
    free(s->maxev);
    free(s->wm);
    free(s->last_ingest);
    free(s->active);
    free(s->syms);
    free(s->htab);
    for (unsigned i = 0; i < PL__RB_BUCKETS; i++)
        free(s->rb[i].e);
    free(s->run.e);
    free(s);
}

/* ---- symbol table -------------------------------------------------------- */

/*
 * Slot of a name in a table of hmask + 1 = 2^hbits slots: the top bits of
 * a multiplicative hash, which depend on every bit of the name.
 */
static inline uint32_t sym_slot(const pl_stream *s, uint64_t a, uint64_t b)
{
    return (uint32_t)(((a ^ (b * 0x9E3779B97F4A7C15ULL)) * 0xC2B2AE3D27D4EB4FULL) >>
                      (64 - s->hbits));
}

/* realloc p to n elements of sz bytes, zeroing from element old on. */
static int grow_zero(void **p, size_t old, size_t n, size_t sz)
{
    size_t bytes;
    void *q;
    if (__builtin_mul_overflow(n, sz, &bytes))
        return -ENOMEM;
    q = realloc(*p, bytes);
    if (!q)
        return -ENOMEM;
    memset((char *)q + old * sz, 0, (n - old) * sz);
    *p = q;
    return 0;
}

/* Grow every per-symbol array to cap entries; symcap moves only when all did. */
static int grow_symbols(pl_stream *s, uint32_t cap)
{
    uint32_t old = s->symcap;
    if (grow_zero((void **)&s->syms, old, cap, sizeof *s->syms) < 0)
        return -ENOMEM;
    for (int i = 0; i < s->naggs; i++) {
        pl__agg *a = &s->aggs[i];
        if (a->K) {
            size_t rows;
            if (__builtin_mul_overflow((size_t)cap, (size_t)a->K, &rows) ||
                grow_zero((void **)&a->hi1, old, cap, sizeof *a->hi1) < 0 ||
                grow_zero((void **)&a->tbars, (size_t)old * a->K, rows, sizeof *a->tbars) < 0)
                return -ENOMEM;
        } else if (grow_zero((void **)&a->dbars, old, cap, sizeof *a->dbars) < 0 ||
                   grow_zero((void **)&a->seq, old, cap, sizeof *a->seq) < 0) {
            return -ENOMEM;
        }
    }
    s->symcap = cap;
    return 0;
}

static int rehash(pl_stream *s)
{
    uint32_t nmask = s->hmask * 2 + 1;
    uint32_t *nt = calloc((size_t)nmask + 1, sizeof *nt);
    if (!nt)
        return -ENOMEM;
    free(s->htab);
    s->htab = nt;
    s->hmask = nmask;
    s->hbits++;
    for (uint32_t id = 0; id < s->nsym; id++) {
        uint32_t h = sym_slot(s, s->syms[id].w[0], s->syms[id].w[1]);
        while (nt[h])
            h = (h + 1) & nmask;
        nt[h] = id + 1;
    }
    return 0;
}

/*
 * The symbol as two words, zero-padded: what memcpy into zeroed words
 * gives.  Symbols sit inside a payload with the event time before them and
 * price and quantity after, so on little-endian machines one 16-byte load
 * around them plus a mask or shift usually does it, without a
 * variable-length copy.
 */
static inline void sym_words(const char *sym, uint32_t len, const char *base, size_t n,
                             uint64_t *w0, uint64_t *w1)
{
    uint64_t w[2] = { 0, 0 };
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    unsigned __int128 v;
    if ((size_t)(base + n - sym) >= 16) {
        memcpy(&v, sym, 16);
        if (len < 16)
            v &= ((unsigned __int128)1 << (8 * len)) - 1;
        *w0 = (uint64_t)v;
        *w1 = (uint64_t)(v >> 64);
        return;
    }
    if ((size_t)(sym - base) + len >= 16) {
        memcpy(&v, sym + len - 16, 16);
        v >>= 8 * (16 - len);
        *w0 = (uint64_t)v;
        *w1 = (uint64_t)(v >> 64);
        return;
    }
#else
    (void)base;
    (void)n;
#endif
    memcpy(w, sym, len);
    *w0 = w[0];
    *w1 = w[1];
}

/*
 * The id of the symbol with words (w0, w1) and length len, or -1 when it
 * is not in the table yet.  Inline on the per-event path: the lookup is a
 * dozen instructions, the call and the checks of pl__stream_intern around
 * it as many again.
 */
static inline int64_t sym_find(const pl_stream *s, uint64_t w0, uint64_t w1, uint32_t len)
{
    uint32_t h = sym_slot(s, w0, w1), e;
    while ((e = s->htab[h]) != 0) {
        const pl__sym *y = &s->syms[e - 1];
        if (y->w[0] == w0 && y->w[1] == w1 && y->len == len)
            return e - 1;
        h = (h + 1) & s->hmask;
    }
    return -1;
}

int64_t pl__stream_intern(pl_stream *s, const char *sym, uint32_t len, const char *base,
                          size_t n)
{
    uint64_t w0, w1;
    uint32_t h;
    int64_t id;

    if (len < 1 || len > PL_SYMBOL_MAX || sym < base || (size_t)(sym - base) + len > n)
        return pl_err(&s->eb, PL_ECORRUPT, "stream: symbol of %u bytes", len);
    sym_words(sym, len, base, n, &w0, &w1);
    id = sym_find(s, w0, w1, len);
    if (id >= 0)
        return id;
    if (s->nsym >= MAX_SYMBOLS)
        return pl_err(&s->eb, PL_ELIMIT, "stream: more than %u symbols", MAX_SYMBOLS);
    if (s->nsym == s->symcap &&
        grow_symbols(s, s->symcap ? s->symcap * 2 : 64) < 0)
        return pl_err(&s->eb, -ENOMEM, "stream: out of memory for %u symbols", s->nsym + 1);
    /* Load factor <= 1/8: a lookup that does not hit on its first probe
     * is a mispredicted branch on every event with that symbol, and the
     * table is small (4 bytes a slot). */
    if ((uint64_t)(s->nsym + 1) * 8 > (uint64_t)s->hmask + 1 && rehash(s) < 0)
        return pl_err(&s->eb, -ENOMEM, "stream: out of memory for the symbol table");
    h = sym_slot(s, w0, w1);
    while (s->htab[h])
        h = (h + 1) & s->hmask;
    s->syms[s->nsym].w[0] = w0;
    s->syms[s->nsym].w[1] = w1;
    s->syms[s->nsym].len = len;
    s->htab[h] = s->nsym + 1;
    return s->nsym++;
}

/* ---- reorder buffer -------------------------------------------------------- */

/*
 * A radix heap: a priority queue for keys that leave in non-decreasing
 * order and arrive no smaller than the last key that left, which (1) and
 * (2) guarantee (an event enters with t > W, and rb_last <= W).  A key t
 * other than rb_last lives in bucket (L, d): L is the highest byte in which
 * t differs from rb_last and d is t's value in that byte.  So every key in
 * (L, d) is below every key in (L, d' > d) and in any higher level, and
 * bucket 0 holds t == rb_last.  To release, the lowest non-empty bucket is
 * taken once its minimum is <= W and redistributed around that minimum into
 * lower levels; a level-0 bucket holds a single key and simply becomes
 * bucket 0.  Moving rb_last to that minimum leaves every other entry's
 * bucket unchanged, because the minimum agrees with rb_last above byte L.
 *
 * Equal keys therefore always share a bucket, and both appends and
 * redistribution keep insertion order, which is position order: bucket 0,
 * read as a FIFO, yields (t, position) order without comparing positions.
 *
 * The run.  Redistributing level by level moves an event through a bucket
 * of every level below the one it arrived in, each a separate array, so
 * most of the cost is cache misses on bucket storage.  Instead, a taken
 * bucket of at most RUN_MAX events is sorted in one go, stably by t, into
 * the run, a sorted array read from its head.  Its keys are then below
 * every key in the buckets, and events arriving later with a key inside its
 * range land, relative to rb_last = its minimum, in the levels below it.  The
 * two sources are merged as they leave: the smaller key first, and on equal
 * keys the run first, because every event in it arrived before the run was
 * formed and every bucketed event with a key in its range arrived after.
 * A bucket is sorted into the run only while the run is empty, so the
 * buckets below the run's range hold just those few late arrivals.
 *
 * Events leave in batches: the run's events up to min(W, the buckets'
 * minimum), or all of bucket 0, are handed to the aggregations in place.
 */

/* Entries an emptied bucket may keep allocated (see rb_trim). */
#define RB_KEEP 64
/* Largest size an empty bucket starts at (see rb_room): with times spread
 * over many buckets of a level, each would otherwise reserve room for as
 * many events as the level's last bucket held. */
#define RB_START_MAX 256u
/* Largest bucket sorted into the run: above it, a radix pass splits it. */
#define RUN_MAX 4096u
/* Buckets up to this size are sorted by insertion alone. */
#define RUN_SMALL 16u
/* Element moves the insertion sort may spend per event before it gives up
 * (adversarial times) and the bucket is redistributed instead. */
#define RUN_SHIFTS 8u

/*
 * Without a branch on t == last (x = 0), which equal times make frequent
 * and unpredictable: x | 1 gives level 0, and the mask clears the result.
 */
static inline unsigned rb_index(int64_t last, int64_t t)
{
    uint64_t x = (uint64_t)t ^ (uint64_t)last;
    unsigned L = (63u - (unsigned)__builtin_clzll(x | 1)) >> 3;
    unsigned nz = 0u - (unsigned)(x != 0);
    return (1u + L * 256u + (unsigned)(((uint64_t)t >> (8 * L)) & 255u)) & nz;
}

static __attribute__((noinline)) int rb_reserve(pl_stream *s, pl__rbucket *b, size_t need)
{
    size_t cap = b->cap ? b->cap : 32;
    pl__rbent *p;
    while (cap < need)
        cap *= 2;
    p = cap > UINT32_MAX ? NULL : realloc(b->e, cap * sizeof *p);
    if (!p)
        return pl_err(&s->eb, -ENOMEM, "stream: out of memory for %zu buffered events",
                      s->nbuf);
    b->e = p;
    b->cap = (uint32_t)cap;
    return 0;
}

/* Room for one more event in bucket i: 0 or -ENOMEM. */
static inline int rb_room(pl_stream *s, unsigned i)
{
    pl__rbucket *b = &s->rb[i];
    /* An empty bucket starts at the size its level's last taken bucket
     * had: a bucket growing by doubling from 32 would copy most of its
     * events once more on the way. */
    if (b->n == b->cap) {
        uint32_t hint = s->rb_hint[i ? (i - 1) >> 8 : 0];
        if (rb_reserve(s, b, b->n ? (size_t)b->n + 1 : hint ? hint : 1) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* The bookkeeping of an event with time t just stored at the end of bucket i. */
static inline void rb_added(pl_stream *s, unsigned i, int64_t t)
{
    pl__rbucket *b = &s->rb[i];
    /* selects, not branches: whether t is a new minimum is a coin toss */
    int64_t m = b->head == b->n ? INT64_MAX : b->min_t;
    unsigned nz = i != 0, j = i - nz; /* bucket 0 has no bit: it sets none */
    b->min_t = t < m ? t : m;
    b->n++;
    s->rb_levels |= nz << (j >> 8);
    s->rb_bits[j >> 8][(j & 255) >> 6] |= (uint64_t)nz << (j & 63);
}

static inline int rb_append(pl_stream *s, unsigned i, const pl__rbent *e)
{
    if (rb_room(s, i) < 0)
        return -ENOMEM;
    s->rb[i].e[s->rb[i].n] = *e;
    rb_added(s, i, e->t);
    return 0;
}

/*
 * An arriving event, field by field: built in a local struct and copied,
 * its 4- and 8-byte field stores would be read back as wider loads, which
 * cannot be forwarded from the store buffer and stall for its drain.
 */
static __attribute__((noinline)) int rb_below(pl_stream *s, int64_t t)
{
    return pl_err(&s->eb, PL_ECORRUPT, "stream: event %lld below the released %lld",
                  (long long)t, (long long)s->rb_last);
}

/* Inline into pl_stream_push (the error's formatting is out of line): the
 * call's frame and register saves cost a quarter of what the add does. */
static inline __attribute__((always_inline)) int rb_add(pl_stream *s, int64_t t, int64_t price,
                                                        uint32_t qty, uint32_t sym)
{
    unsigned i;
    pl__rbent *d;
    if (t < s->rb_last)
        return rb_below(s, t);
    i = rb_index(s->rb_last, t);
    if (rb_room(s, i) < 0)
        return -ENOMEM;
    d = &s->rb[i].e[s->rb[i].n];
    d->t = t;
    d->price = price;
    d->qty = qty;
    d->sym = sym;
    rb_added(s, i, t);
    s->nbuf++;
    return 0;
}

int pl__stream_rb_push(pl_stream *s, const pl__rbent *e)
{
    return rb_add(s, e->t, e->price, e->qty, e->sym);
}

void pl__stream_rb_collect(const pl_stream *s, pl__rbent *out)
{
    /* the run first: on equal t its events are the older ones */
    if (s->run.n > s->run.head) {
        memcpy(out, s->run.e + s->run.head, (s->run.n - s->run.head) * sizeof *out);
        out += s->run.n - s->run.head;
    }
    for (unsigned i = 0; i < PL__RB_BUCKETS; i++) {
        const pl__rbucket *b = &s->rb[i];
        if (b->n == b->head)
            continue; /* b->e may be NULL */
        memcpy(out, b->e + b->head, (b->n - b->head) * sizeof *out);
        out += b->n - b->head;
    }
}

/* An emptied bucket gives back storage beyond RB_KEEP entries. */
static inline void rb_trim(pl__rbucket *b)
{
    if (b->cap > RB_KEEP) {
        /* Over a long run every one of the 2049 buckets is used in turn
         * (they follow the bytes of t); keeping each one's peak storage
         * would make memory grow with the log's length. */
        free(b->e);
        b->e = NULL;
        b->cap = 0;
    }
}

/*
 * Sort bucket b of level L >= 1 (2..RUN_MAX events) stably by t into the
 * empty run.  Returns 0 when sorted, 1 when the insertion sort ran over its
 * budget (the run is then left empty and b is untouched), or -ENOMEM.
 */
static int run_form(pl_stream *s, const pl__rbucket *b, unsigned L)
{
    pl__rbucket *r = &s->run;
    pl__rbent *a;
    uint32_t n = b->n;
    size_t budget = (size_t)RUN_SHIFTS * n;

    if (r->cap < n && rb_reserve(s, r, n) < 0)
        return -ENOMEM;
    a = r->e;
    if (n <= RUN_SMALL) {
        memcpy(a, b->e, n * sizeof *a);
    } else {
        /* A stable counting pass on byte L-1 leaves, for evenly spread
         * times, about one event per value: the insertion sort after it
         * then moves little.  The keys agree on every byte above L-1 but
         * byte L, whose value they share too. */
        uint32_t cnt[256] = { 0 };
        unsigned sh = 8 * (L - 1);
        for (uint32_t i = 0; i < n; i++)
            cnt[((uint64_t)b->e[i].t >> sh) & 255]++;
        for (uint32_t d = 0, at = 0; d < 256; d++) {
            uint32_t c = cnt[d];
            cnt[d] = at;
            at += c;
        }
        for (uint32_t i = 0; i < n; i++)
            a[cnt[((uint64_t)b->e[i].t >> sh) & 255]++] = b->e[i];
    }
    /* stable: an event moves only past strictly greater times */
    for (uint32_t i = 1; i < n; i++) {
        pl__rbent x = a[i];
        uint32_t j = i;
        if (a[j - 1].t <= x.t)
            continue;
        do {
            a[j] = a[j - 1];
            j--;
        } while (j > 0 && a[j - 1].t > x.t);
        a[j] = x;
        if (budget < i - j)
            return 1;
        budget -= i - j;
    }
    r->head = 0;
    r->n = n;
    return 0;
}

/*
 * The next events to release, the least (t, position) first: points *out
 * at k >= 1 consecutive events with t <= W and returns k, returns 0 when no
 * buffered event has t <= W, or a negative code.  The events stay valid
 * until the next call.
 */
static int64_t rb_next(pl_stream *s, int64_t W, const pl__rbent **out)
{
    pl__rbucket *run = &s->run, *b0 = &s->rb[0];
    for (;;) {
        pl__rbucket *b = NULL;
        unsigned L = 0, w = 0, d;
        int64_t rmin = 0;
        int have = 1;
        uint32_t k;
        int rc;

        /* the buckets' minimum: bucket 0, else the lowest non-empty one */
        if (b0->head < b0->n) {
            rmin = b0->e[b0->head].t;
        } else if (s->rb_levels) {
            L = (unsigned)__builtin_ctz(s->rb_levels);
            while (!s->rb_bits[L][w])
                w++;
            d = w * 64 + (unsigned)__builtin_ctzll(s->rb_bits[L][w]);
            b = &s->rb[1 + L * 256 + d];
            rmin = b->min_t;
        } else {
            have = 0;
        }

        if (run->head < run->n && (!have || run->e[run->head].t <= rmin)) {
            int64_t lim = have && rmin < W ? rmin : W;
            uint32_t i = run->head;
            while (i < run->n && run->e[i].t <= lim)
                i++;
            k = i - run->head;
            if (!k)
                return 0;
            *out = run->e + run->head;
            run->head = i;
            if (i == run->n)
                run->head = run->n = 0;
            s->nbuf -= k;
            return k;
        }
        if (!have || rmin > W)
            return 0;
        if (!b) {
            /* one key, rb_last <= W, and none of it in the run */
            k = b0->n - b0->head;
            *out = b0->e + b0->head;
            b0->head = b0->n = 0;
            s->nbuf -= k;
            return k;
        }

        s->rb_bits[L][w] &= ~(1ULL << (d & 63));
        if (!(s->rb_bits[L][0] | s->rb_bits[L][1] | s->rb_bits[L][2] | s->rb_bits[L][3]))
            s->rb_levels &= ~(1u << L);
        s->rb_last = b->min_t;
        s->rb_hint[L] = b->n < RB_START_MAX ? b->n : RB_START_MAX;
        if (b->n == 1) {
            /* most buckets below the top levels hold one event: it is the
             * minimum, so it leaves at once */
            s->one = b->e[0];
            b->n = 0;
            rb_trim(b);
            s->nbuf--;
            *out = &s->one;
            return 1;
        }
        if (L == 0) {
            /* one key: the bucket is bucket 0's FIFO as it stands (b0 is empty) */
            pl__rbucket tmp = *b0;
            *b0 = *b;
            *b = tmp;
            continue;
        }
        if (run->n == 0 && b->n <= RUN_MAX) {
            rc = run_form(s, b, L);
            if (rc < 0)
                return rc;
            if (rc == 0) {
                b->n = 0;
                rb_trim(b);
                continue;
            }
        }
        for (uint32_t j = 0; j < b->n; j++) {
            rc = rb_append(s, rb_index(s->rb_last, b->e[j].t), &b->e[j]);
            if (rc)
                return rc;
        }
        b->n = 0;
        rb_trim(b);
    }
}

/* ---- broken variants (pl_unsafe.h; the fault build only) ------------------ */

/* The processing host's clock: what no result may depend on. */
static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* unseeded-tiebreak: shuffle each run of equal times among ev[0..k) with a
 * generator seeded from the clock and the pid, as an unseeded random
 * tie-break would. */
static __attribute__((noinline)) void unsafe_shuffle_ties(pl__rbent *ev, int64_t k)
{
    static uint64_t x;
    if (!x)
        x = (uint64_t)wall_ns() ^ ((uint64_t)getpid() << 32) ^ 1u;
    for (int64_t i = 0, j; i < k; i = j) {
        for (j = i + 1; j < k && ev[j].t == ev[i].t; j++)
            ;
        for (int64_t m = j - 1; m > i; m--) {
            int64_t r;
            pl__rbent tmp;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            r = i + (int64_t)(x % (uint64_t)(m - i + 1));
            tmp = ev[m];
            ev[m] = ev[r];
            ev[r] = tmp;
        }
    }
}

/* poison-retry: parse the poison payload again, up to 3 attempts in all;
 * 1 when it is still poison (and is then dropped without a dead letter). */
static __attribute__((noinline)) int unsafe_poison_dropped(const uint8_t *payload, uint32_t len)
{
    pl_tick tk;
    for (int attempt = 2; attempt <= 3; attempt++)
        if (pl_payload_parse(payload, len, &tk) == PL_VALID)
            return 0;
    return 1;
}

/*
 * Step 4 the wrong ways: watermark-max takes the max over the active
 * partitions; wallclock-idleness decides activity on the wall clock, each
 * partition's last record seen at the time it was pushed (0: not yet, it
 * counts as seen now).  No cache: a full scan per record.  The wall times
 * live outside the stream, one table per process (refpipe runs one
 * stream), so that the plain build's struct is untouched; if the table
 * cannot be allocated, idleness stays on ingest time.
 */
static int64_t *unsafe_wall_seen;

static __attribute__((noinline)) int64_t unsafe_cand(pl_stream *s, uint32_t p, int64_t T)
{
    const int64_t I = s->cfg.idle_timeout;
    const int maxw = (int)pl_unsafe(PL_UNSAFE_WATERMARK_MAX);
    int wall = (int)pl_unsafe(PL_UNSAFE_WALLCLOCK_IDLENESS);
    int64_t cand = maxw ? PL_WM_NEG_INF : PL_WM_POS_INF, now = wall ? wall_ns() : 0;
    if (wall && !unsafe_wall_seen)
        unsafe_wall_seen = calloc(s->np, sizeof *unsafe_wall_seen);
    wall = wall && unsafe_wall_seen;
    if (wall)
        unsafe_wall_seen[p] = now;
    for (uint32_t q = 0; q < s->np; q++) {
        int64_t w = s->wm[q], idle_for;
        if (wall && !unsafe_wall_seen[q])
            unsafe_wall_seen[q] = now;
        idle_for = wall ? now - unsafe_wall_seen[q] : T - s->last_ingest[q];
        if (I && idle_for > I)
            continue;
        if (maxw ? w > cand : w < cand)
            cand = w;
    }
    s->cand_ok = 0;
    return cand;
}

/* ---- bars ---------------------------------------------------------------- */

static inline void acc_start(pl__bacc *b, const pl__rbent *e)
{
    b->open = b->high = b->low = b->close = e->price;
    b->volume = e->qty;
    b->trades = 1;
    b->notional = (unsigned __int128)(uint64_t)e->price * e->qty;
    b->first_t = b->last_t = e->t;
}

static inline void acc_add(pl__bacc *b, const pl__rbent *e)
{
    if (e->price > b->high)
        b->high = e->price;
    if (e->price < b->low)
        b->low = e->price;
    b->close = e->price;
    b->volume += e->qty;
    b->trades++;
    b->notional += (unsigned __int128)(uint64_t)e->price * e->qty;
    b->last_t = e->t;
}

static int emit_bar(pl_stream *s, uint32_t agg, uint32_t sym, uint64_t seq, int64_t start,
                    uint64_t end, const pl__bacc *b)
{
    pl_bar o;
    unsigned __int128 v2 = (unsigned __int128)b->volume * 2;
    s->st.bars++;
    if (!s->emit.bar)
        return 0;
    o.agg = agg;
    o.sym = (const char *)s->syms[sym].w;
    o.sym_len = s->syms[sym].len;
    o.seq = seq;
    o.start_ns = start;
    o.end_ns = end;
    o.open = b->open;
    o.high = b->high;
    o.low = b->low;
    o.close = b->close;
    o.volume = (int64_t)b->volume;
    o.trades = b->trades;
    /* Half up: floor((2*sum + volume) / (2*volume)); the quotient lies in
     * [low, high], so it fits. */
    o.vwap = (int64_t)((b->notional * 2 + b->volume) / v2);
    if (pl_unsafe(PL_UNSAFE_FLOAT_VWAP))
        o.vwap = (int64_t)((double)b->notional / (double)b->volume); /* wrong on purpose */
    if (pl_unsafe(PL_UNSAFE_WALLCLOCK_WINDOW))
        o.end_ns = (uint64_t)wall_ns(); /* wrong on purpose: processing time */
    return s->emit.bar(s->emit.ctx, &o);
}

/* ---- time windows --------------------------------------------------------- */

/* Fire, in index order, every open window of a whose end <= lim. */
static int fire_until(pl_stream *s, pl__agg *a, uint32_t ai, uint64_t lim)
{
    while (a->nslots && a->head_end <= lim) {
        uint64_t k = a->head_k, r = a->K == 1 ? 0 : k % a->K;
        pl__slot *sl = &a->ring[r];
        int64_t start = (int64_t)(k * a->slide);
        for (uint32_t i = 0; i < sl->n; i++) {
            uint32_t sym = sl->syms[i];
            int rc = emit_bar(s, ai, sym, k, start, a->head_end, &a->tbars[(size_t)sym * a->K + r]);
            s->st.open_windows--;
            if (rc)
                return rc;
        }
        sl->n = 0;
        a->head_k++;
        if (--a->nslots)
            a->head_end = a->head_k * a->slide + a->size;
    }
    return 0;
}

int pl__stream_open_slot(pl_stream *s, pl__agg *a, uint64_t k, uint32_t sym)
{
    pl__slot *sl;
    if (a->nslots == 0) {
        a->head_k = k;
        a->nslots = 1;
        a->head_end = k * a->slide + a->size;
        sl = &a->ring[k % a->K];
        sl->k = k;
        sl->n = 0;
    } else {
        uint64_t tail = a->head_k + a->nslots - 1;
        /* keeps (3): a window outside the ring would overwrite an open one */
        if (k < a->head_k || k - a->head_k >= a->K)
            return pl_err(&s->eb, PL_ECORRUPT,
                          "stream: window %llu outside the open range [%llu, +%llu)",
                          (unsigned long long)k, (unsigned long long)a->head_k,
                          (unsigned long long)a->K);
        for (uint64_t j = tail + 1; j <= k; j++) {
            a->ring[j % a->K].k = j;
            a->ring[j % a->K].n = 0;
        }
        if (k > tail)
            a->nslots = k - a->head_k + 1;
        sl = &a->ring[k % a->K];
        if (sl->k != k)
            return pl_err(&s->eb, PL_ECORRUPT, "stream: window ring slot holds %llu, not %llu",
                          (unsigned long long)sl->k, (unsigned long long)k);
    }
    if (sl->n == sl->cap) {
        uint32_t cap = sl->cap ? sl->cap * 2 : 16;
        uint32_t *p = realloc(sl->syms, (size_t)cap * sizeof *p);
        if (!p)
            return pl_err(&s->eb, -ENOMEM, "stream: out of memory for window %llu",
                          (unsigned long long)k);
        sl->syms = p;
        sl->cap = cap;
    }
    sl->syms[sl->n++] = sym;
    return 0;
}

/* Event e into window k of its symbol (ring entry b): the window's first
 * event opens it (hi1: 1 + the symbol's highest window opened). */
static inline int feed_window(pl_stream *s, pl__agg *a, pl__bacc *b, uint64_t k, uint64_t hi1,
                              const pl__rbent *e)
{
    int rc;
    if (k < hi1) {
        acc_add(b, e);
        return 0;
    }
    acc_start(b, e);
    rc = pl__stream_open_slot(s, a, k, e->sym);
    if (rc)
        return rc;
    s->st.open_windows++;
    return 0;
}

static inline int feed_time(pl_stream *s, pl__agg *a, uint32_t ai, const pl__rbent *e)
{
    uint64_t t = (uint64_t)e->t, kmin, kmax, hi1;
    pl__bacc *row;
    int rc;

    /* keeps (3): windows ending at or before t have W >= end - 1 already
     * (t <= W), and firing them now bounds the open set to those holding t. */
    if (a->nslots && a->head_end <= t) {
        rc = fire_until(s, a, ai, t);
        if (rc)
            return rc;
    }
    /* The released stream is t-ordered, so t is nearly always in the
     * slide interval of the previous event: skip the divisions. */
    if (t - a->dk_lo >= a->slide) {
        a->dk = t / a->slide;
        a->dk_lo = a->dk * a->slide;
        a->dkr = a->K == 1 ? 0 : a->dk % a->K;
    }
    kmax = a->dk;
    hi1 = a->hi1[e->sym];
    row = &a->tbars[(size_t)e->sym * a->K];
    if (a->K == 1) {
        if (t - a->dk_lo >= a->size)
            return 0; /* slide > size: t falls between windows */
        rc = feed_window(s, a, row, kmax, hi1, e);
        if (rc)
            return rc;
    } else {
        /*
         * The windows holding t = kmax * slide + rem (rem = t - dk_lo <
         * slide) are the k <= kmax with (kmax - k) * slide + rem < size:
         * K of them when rem < edge, else K - 1; none below k = 0.  This is
         * (t - size) / slide + 1 <= k <= t / slide without dividing, and
         * their ring entries k % K follow from dk % K.
         */
        uint64_t cnt = a->K - (t - a->dk_lo >= a->edge), r;
        if (cnt > kmax + 1)
            cnt = kmax + 1;
        kmin = kmax + 1 - cnt;
        r = a->dkr + a->K - (cnt - 1);
        if (r >= a->K)
            r -= a->K;
        for (uint64_t k = kmin; k <= kmax; k++) {
            pl__bacc *b = &row[r];
            if (++r == a->K)
                r = 0;
            rc = feed_window(s, a, b, k, hi1, e);
            if (rc)
                return rc;
        }
    }
    a->hi1[e->sym] = kmax + 1;
    return 0;
}

/* ---- data-driven bars ------------------------------------------------------ */

static inline int feed_dd(pl_stream *s, pl__agg *a, uint32_t ai, const pl__rbent *e)
{
    pl__bacc *b = &a->dbars[e->sym];
    int closes, rc;
    if (b->trades == 0)
        acc_start(b, e);
    else
        acc_add(b, e);
    switch (a->kind) {
    case PL_AGG_TICKS:
        closes = (uint64_t)b->trades >= a->thr;
        break;
    case PL_AGG_VOLUME:
        closes = b->volume >= a->thr;
        break;
    default:
        closes = b->notional >= a->thr128;
        break;
    }
    if (!closes)
        return 0;
    rc = emit_bar(s, ai, e->sym, a->seq[e->sym]++, b->first_t, (uint64_t)b->last_t + 1, b);
    b->trades = 0; /* the crossing event stays in this bar; the next starts empty */
    return rc;
}

/* ---- the per-record step ----------------------------------------------------- */

/* Step 5: release every buffered event with t <= W, then fire windows. */
static int release(pl_stream *s)
{
    const int64_t W = s->W;
    const pl__rbent *ev;
    int64_t k;
    uint64_t lim;
    int rc;

    while ((k = rb_next(s, W, &ev)) > 0) {
        if (pl_unsafe(PL_UNSAFE_UNSEEDED_TIEBREAK) && k > 1)
            unsafe_shuffle_ties((pl__rbent *)ev, k); /* wrong on purpose */
        s->st.released += (uint64_t)k;
        for (int64_t j = 0; j < k; j++) {
            for (int i = 0; i < s->naggs; i++) {
                pl__agg *a = &s->aggs[i];
                rc = a->K ? feed_time(s, a, (uint32_t)i, &ev[j])
                          : feed_dd(s, a, (uint32_t)i, &ev[j]);
                if (rc)
                    return rc;
            }
        }
    }
    if (k < 0)
        return (int)k;
    /* A window [s, e) fires when W >= e - 1, i.e. e <= W + 1; every end is
     * >= 1, so nothing fires while W < 0, and all fire at +inf. */
    if (W < 0)
        return 0;
    lim = W == PL_WM_POS_INF ? UINT64_MAX : (uint64_t)W + 1;
    for (int i = 0; i < s->naggs; i++) {
        if (s->aggs[i].K) {
            rc = fire_until(s, &s->aggs[i], (uint32_t)i, lim);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int64_t wm_of(int64_t maxev, int64_t B)
{
    /* maxev >= 0 and B >= 0, so maxev - B - 1 >= -2^63: in range, but only
     * when computed wider than int64. */
    __int128 w = (__int128)maxev - B - 1;
    return w < INT64_MIN ? INT64_MIN : (int64_t)w;
}

/*
 * Step 4's minimum over the active partitions at T into s->cand; with
 * `idle` also which partitions are active and when the first of them turns
 * idle.  T >= every last_ingest, so the differences are in [0, 2^63); the
 * pushing partition is active, so the minimum is over at least one wm.
 */
static void wm_scan(pl_stream *s, int64_t T, int idle)
{
    const int64_t I = s->cfg.idle_timeout;
    int64_t cand = PL_WM_POS_INF, idle_at = INT64_MAX;
    for (uint32_t q = 0; q < s->np; q++) {
        int64_t w = s->wm[q], li = s->last_ingest[q];
        if (idle) {
            int64_t until = li > INT64_MAX - I ? INT64_MAX : li + I;
            s->active[q] = I == 0 || T - li <= I;
            if (s->active[q] && I && until < idle_at)
                idle_at = until;
        }
        cand = s->active[q] && w < cand ? w : cand;
    }
    s->cand = cand;
    if (idle) {
        s->idle_at = idle_at;
        s->cand_ok = 1;
    }
}

/*
 * pl_stream_push's checks of the stream and the record, in order, and the
 * first record's setup: 0 when the push may go on, else its return code.
 */
static __attribute__((noinline)) int push_checks(pl_stream *s, uint32_t partition,
                                                 uint64_t offset, int64_t ingest_ns,
                                                 uint64_t position)
{
    if (s->dead)
        return s->dead;
    s->eb.msg[0] = 0;
    if (s->finished)
        return pl_err(&s->eb, PL_EUSAGE, "stream: push after finish");
    if (partition >= s->np)
        return pl_err(&s->eb, PL_EUSAGE, "stream: partition %u out of range (%u partitions)",
                      partition, s->np);
    if (ingest_ns < 0)
        return pl_err(&s->eb, PL_EUSAGE, "stream: partition %u offset %llu: ingest_ns %lld < 0",
                      partition, (unsigned long long)offset, (long long)ingest_ns);
    if (s->have_first && (ingest_ns < s->last_T || position <= s->last_pos))
        return pl_err(&s->eb, PL_EUSAGE,
                      "stream: partition %u offset %llu (ingest %lld, position %llu) is not "
                      "after ingest %lld, position %llu: not canonical order",
                      partition, (unsigned long long)offset, (long long)ingest_ns,
                      (unsigned long long)position, (long long)s->last_T,
                      (unsigned long long)s->last_pos);
    if (!s->have_first) {
        /* Every partition starts as if it had spoken at the first record, so
         * one that never produces goes idle I after the log begins. */
        for (uint32_t q = 0; q < s->np; q++)
            s->last_ingest[q] = ingest_ns;
        s->have_first = 1;
    }
    return 0;
}

int pl_stream_push(pl_stream *s, uint32_t partition, uint64_t offset, int64_t ingest_ns,
                   const uint8_t *payload, uint32_t len, uint64_t position)
{
    pl_tick tk;
    int reason, rc;
    int64_t cand, old_wm;
    const int64_t I = s->cfg.idle_timeout;

    /* One test for the usual case, where push_checks finds nothing: a live
     * stream past its first record, a record in order (ingest_ns >= last_T
     * >= 0 covers the check of ingest_ns >= 0). */
    if (__builtin_expect(s->dead | s->finished | !s->have_first | (partition >= s->np) |
                             (ingest_ns < s->last_T) | (position <= s->last_pos),
                         0) &&
        (rc = push_checks(s, partition, offset, ingest_ns, position)) != 0)
        return rc;
    s->eb.msg[0] = 0;
    s->last_T = ingest_ns;
    s->last_pos = position;
    s->st.records++;
    old_wm = s->wm[partition];

    reason = pl_payload_parse(payload, len, &tk);
    if (reason != PL_VALID) {
        s->st.poison++;
        if (s->emit.dlq &&
            !(pl_unsafe(PL_UNSAFE_POISON_RETRY) && unsafe_poison_dropped(payload, len))) {
            pl_dlq d = { partition, offset, reason, payload, len };
            rc = s->emit.dlq(s->emit.ctx, &d);
            if (rc)
                goto fail;
        }
    } else {
        s->st.valid++;
        /* late-lt (wrong on purpose) lets t == W through */
        if (tk.t < s->W || (tk.t == s->W && !pl_unsafe(PL_UNSAFE_LATE_LT))) {
            s->st.late++;
            if (s->emit.late) {
                pl_late l = { partition, offset, tk.t, tk.sym, tk.sym_len, tk.price_e8, tk.qty,
                              s->W };
                rc = s->emit.late(s->emit.ctx, &l);
                if (rc)
                    goto fail;
            }
        } else {
            uint64_t w0, w1;
            int64_t id;
            /* the parser's symbol is 1..16 bytes inside the payload
             * (pl_payload.h), what pl__stream_intern would check first */
            sym_words(tk.sym, tk.sym_len, (const char *)payload, len, &w0, &w1);
            id = sym_find(s, w0, w1, tk.sym_len);
            if (id < 0) {
                id = pl__stream_intern(s, tk.sym, tk.sym_len, (const char *)payload, len);
                if (id < 0) {
                    rc = (int)id;
                    goto fail;
                }
            }
            /* keeps (1): t > W */
            rc = rb_add(s, tk.t, tk.price_e8, (uint32_t)tk.qty, (uint32_t)id);
            if (rc)
                goto fail;
        }
        /* Late events count too: maxev is what the partition has shown. */
        if (!s->has_maxev[partition] || tk.t > s->maxev[partition]) {
            s->has_maxev[partition] = 1;
            s->maxev[partition] = tk.t;
            s->wm[partition] = wm_of(tk.t, s->cfg.max_delay);
        }
    }
    s->last_ingest[partition] = ingest_ns;

    /* Step 4, from the cached minimum when it cannot have changed: the
     * active set is the same while the pusher was active already and no
     * active partition's last_ingest + I has been passed (later pushes only
     * move T and last_ingest up), and only the pusher's wm moved, up.
     * (A stale, low idle_at only costs a recomputation.) */
    if (pl_unsafe(PL_UNSAFE_WATERMARK_MAX) || pl_unsafe(PL_UNSAFE_WALLCLOCK_IDLENESS))
        s->cand = unsafe_cand(s, partition, ingest_ns);
    else if (!s->cand_ok || !s->active[partition] || (I && ingest_ns > s->idle_at))
        wm_scan(s, ingest_ns, 1);
    else if (old_wm == s->cand && s->wm[partition] != old_wm)
        wm_scan(s, ingest_ns, 0);
    cand = s->cand;
    if (cand <= s->W)
        return 0;
    s->W = cand;
    rc = release(s);
    if (rc)
        goto fail;
    return 0;

fail:
    s->dead = rc;
    return rc;
}

int pl_stream_finish(pl_stream *s)
{
    int rc;
    if (s->dead)
        return s->dead;
    s->eb.msg[0] = 0;
    if (s->finished)
        return pl_err(&s->eb, PL_EUSAGE, "stream: finish called twice");
    s->W = PL_WM_POS_INF;
    s->finished = 1;
    rc = release(s);
    if (rc)
        s->dead = rc;
    return rc;
}

/* ---- the end-of-input flush in steps ----------------------------------------- */

int64_t pl_stream_next_step(const pl_stream *s)
{
    int64_t w = PL_WM_POS_INF;
    if (s->dead || s->finished)
        return PL_WM_POS_INF;
    /* every buffered event has W < t <= its partition's maxev */
    if (s->nbuf) {
        for (uint32_t q = 0; q < s->np; q++)
            if (s->has_maxev[q] && (w == PL_WM_POS_INF || s->maxev[q] > w))
                w = s->maxev[q];
    }
    /* the head window of each time aggregation fires at W = end - 1 > W */
    for (int i = 0; i < s->naggs; i++) {
        const pl__agg *a = &s->aggs[i];
        if (a->K && a->nslots && a->head_end - 1 < (uint64_t)w)
            w = (int64_t)(a->head_end - 1);
    }
    return w;
}

int pl_stream_advance(pl_stream *s, int64_t w)
{
    int rc;
    if (s->dead)
        return s->dead;
    s->eb.msg[0] = 0;
    if (s->finished)
        return pl_err(&s->eb, PL_EUSAGE, "stream: advance after finish");
    if (w == PL_WM_POS_INF)
        return pl_stream_finish(s);
    if (w <= s->W)
        return 0;
    s->W = w;
    rc = release(s);
    if (rc)
        s->dead = rc;
    return rc;
}

/* ---- accessors --------------------------------------------------------------- */

int64_t pl_stream_watermark(const pl_stream *s)
{
    return s->W;
}

void pl_stream_stats_get(const pl_stream *s, pl_stream_stats *st)
{
    *st = s->st;
    st->buffered = s->nbuf;
    st->symbols = s->nsym;
}

const char *pl_stream_errmsg(const pl_stream *s)
{
    return s->eb.msg;
}

int pl_stream_partition(const pl_stream *s, uint32_t p, int *has_maxev, int64_t *maxev,
                        int64_t *last_ingest)
{
    if (p >= s->np)
        return PL_EUSAGE;
    *has_maxev = s->has_maxev[p];
    *maxev = s->has_maxev[p] ? s->maxev[p] : 0;
    *last_ingest = s->last_ingest[p];
    return 0;
}
