/*
 * gen_boundary.c - the generator's boundary mode (`replayproof gen --mode
 * boundary`, docs/generator.md): a small scripted log that puts records
 * exactly on every boundary of the contract (docs/semantics.md) for one
 * shape (B, I, a time window, volume and dollar thresholds), so that each
 * `<` against `<=` choice decides the fate of some record.
 *
 * Layout:
 *   1. A model of section 2 of the contract (watermark, idleness), kept only
 *      to know where the boundaries are while the script is written; the
 *      tests judge the output with their own, separate model.
 *   2. Emitting records (canonical order is asserted).
 *   3. The script, phase by phase.
 *
 * The log is a pure function of the shape, --start and --seed (the seed only
 * moves prices of the filler records).  Three partitions.
 */
#include "hn_gen.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define NP HN_GEN_BOUNDARY_PARTITIONS
#define E8 100000000LL
#define MAX_QTY 1000000000LL

/* ------------------------------------------------------------ 1. Model */

typedef struct bgen {
    int64_t B, I, size, slide, volume, dollar, T, step;
    int has_w, has_max[NP];
    int64_t W, maxev[NP], last[NP];
    int prevp;
    uint64_t seed;
    FILE *f;
    int werr;
    hn_gen_stats st;
} bgen;

/* min over active partitions of wm, skipping `skip` (-1: none); 0 when some
 * active partition has no event yet (minus infinity), else 1 and *out. */
static int min_wm(const bgen *g, int64_t T, int skip, int64_t *out)
{
    int have = 0;
    int64_t m = 0;
    for (int q = 0; q < NP; q++) {
        if (q == skip || (g->I > 0 && T - g->last[q] > g->I))
            continue;
        if (!g->has_max[q])
            return 0;
        if (!have || g->maxev[q] - g->B - 1 < m)
            m = g->maxev[q] - g->B - 1;
        have = 1;
    }
    if (have)
        *out = m;
    return have;
}

/* Step 3 and 4 of the contract for a record of partition p at T. */
static void model_step(bgen *g, int p, int64_t T, int valid, int64_t t)
{
    int64_t m;
    g->last[p] = T;
    if (valid && (!g->has_max[p] || t > g->maxev[p])) {
        g->maxev[p] = t;
        g->has_max[p] = 1;
    }
    if (min_wm(g, T, -1, &m) && (!g->has_w || m > g->W)) {
        g->W = m;
        g->has_w = 1;
    }
}

/* ---------------------------------------------------------- 2. Records */

static void put_line(bgen *g, const char *line)
{
    if (!g->werr && fputs(line, g->f) == EOF)
        g->werr = errno ? errno : EIO;
    g->st.records++;
    if (g->st.records == 1)
        g->st.first_ingest = g->T;
    g->st.last_ingest = g->T;
}

static void order(bgen *g, int p)
{
    /* canonical order (ingest_ns, partition): the script writes it so */
    assert(g->st.records == 0 || p >= g->prevp || g->T > g->st.last_ingest);
    g->prevp = p;
}

/* A valid event of partition p at the current ingest time. */
static void ev(bgen *g, int p, int64_t t, const char *sym, int64_t price_e8, int64_t qty)
{
    char line[160], frac[16];
    int fd = 8;
    int64_t fr = price_e8 % E8;
    assert(t >= 0 && price_e8 > 0 && price_e8 < 10000000000LL * E8);
    assert(qty >= 1 && qty <= MAX_QTY);
    order(g, p);
    snprintf(frac, sizeof frac, "%08lld", (long long)fr);
    while (fd > 0 && frac[fd - 1] == '0')
        fd--;
    frac[fd] = 0;
    snprintf(line, sizeof line, "%d,%lld,%lld,%s,%lld%s%s,%lld\n", p, (long long)g->T,
             (long long)t, sym, (long long)(price_e8 / E8), fd ? "." : "", frac,
             (long long)qty);
    if (g->has_w && t <= g->W)
        g->st.late++;
    if (g->has_w && (t == g->W || t == g->W + 1))
        g->st.boundary++;
    put_line(g, line);
    model_step(g, p, g->T, 1, t);
}

/* A poison record of partition p: payload given whole. */
static void poison(bgen *g, int p, const char *payload, int reason)
{
    char line[160];
    order(g, p);
    snprintf(line, sizeof line, "%d,%lld,%s\n", p, (long long)g->T, payload);
    g->st.poison[reason]++;
    put_line(g, line);
    model_step(g, p, g->T, 0, 0);
}

/* A filler price in [10, 20) whole units, from the seed and a counter. */
static int64_t fill_price(bgen *g)
{
    uint64_t z = (g->seed += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return 10 * E8 + (int64_t)(z % 1000) * 1000000;
}

/* The two sides of the watermark, on partition p: t == W is late, t == W + 1
 * is on time (step 2: `t <= W`). */
static void probe(bgen *g, int p, const char *sym)
{
    if (!g->has_w || g->W < 0)
        return;
    ev(g, p, g->W, sym, fill_price(g), 100);
    ev(g, p, g->W + 1, sym, fill_price(g), 100);
}

/* Every partition's newest event at t: W becomes t - B - 1 (when no
 * partition is idle and W was below). */
static void raise_all(bgen *g, int64_t t, const char *sym)
{
    for (int p = 0; p < NP; p++)
        ev(g, p, t, sym, fill_price(g), 100);
}

/* qty summing to exactly `sum` in events of at most MAX_QTY each. */
static void qty_sum(bgen *g, int p, int64_t t, const char *sym, int64_t price, int64_t sum)
{
    while (sum > 0) {
        int64_t q = sum > MAX_QTY ? MAX_QTY : sum;
        ev(g, p, t, sym, price, q);
        sum -= q;
    }
}

/* ----------------------------------------------------------- 3. Script */

static void script(bgen *g, int64_t start)
{
    int64_t s0, e0, X, m, Ta;
    int64_t slide = g->slide, size = g->size;

    /* the first window starting at least one window after start, so that
     * t = s0 - 1 is a valid time in the previous window */
    s0 = (start / slide + 2) * slide;
    e0 = s0 + size;
    g->T = start;

    /* Phase 0: equal ingest times across partitions; a window's start and
     * the nanosecond before it; t = 0, the epoch's window 0. */
    ev(g, 0, 0, "ZERO", fill_price(g), 1);
    ev(g, 0, s0 - 1, "WIN", fill_price(g), 100);
    ev(g, 1, s0, "WIN", fill_price(g), 100);

    /* Phase 1: the start of the log and idleness.  Partition 2 has no
     * record; its last_ingest is the log's first ingest time, so it holds W
     * at minus infinity up to start + I inclusive (`T - last <= I`). */
    if (g->I > 0) {
        g->T = start + g->I;
        ev(g, 0, s0 + 1, "IDLE", fill_price(g), 100);
        /* on time because partition 2 still counts; late for `<` */
        if (min_wm(g, g->T, 2, &m) && m >= 0)
            ev(g, 1, m, "IDLE", fill_price(g), 100);
        g->T++;
        ev(g, 0, s0 + 2, "IDLE", fill_price(g), 100); /* now 2 is idle: W moves */
        probe(g, 1, "WM");
    }
    g->T += g->step;
    ev(g, 2, s0 + 2, "WIN", fill_price(g), 100);

    /* Phase 2: a window's last nanosecond and its end, and firing exactly at
     * W == e - 1 (`W >= e - 1`). */
    g->T += g->step;
    ev(g, 0, s0 + size / 2, "WIN", fill_price(g), 100);
    ev(g, 1, e0 - 1, "WIN", fill_price(g), 100);
    ev(g, 2, e0, "WIN", fill_price(g), 100);
    g->T += g->step;
    raise_all(g, e0 + g->B - 1, "WM"); /* W = e0 - 2: the window stays open */
    g->T += g->step;
    ev(g, 0, e0 - 2, "WIN", fill_price(g), 100); /* late: on W */
    ev(g, 0, e0 - 1, "WIN", fill_price(g), 100); /* on time: last ns of the window */
    g->T += g->step;
    raise_all(g, e0 + g->B, "WM"); /* W = e0 - 1: it fires */
    g->T += g->step;
    ev(g, 1, e0 - 1, "WIN", fill_price(g), 100); /* late: on W, after the window fired */
    ev(g, 1, e0, "WIN", fill_price(g), 100);     /* on time: the next window's start */

    /* Phase 3: equal event times across partitions, one symbol.  Release
     * order is (t, position): partition 1's record comes first in the log,
     * so it opens the bar although partition 0 has the lower number. */
    X = e0 + g->B + 10;
    g->T += g->step;
    ev(g, 1, X, "EQ", 1000 * E8 / 100, 100); /* 10.00 */
    g->T += g->step;
    ev(g, 0, X, "EQ", 2000 * E8 / 100, 200); /* 20.00 */
    ev(g, 2, X, "EQ", 1500 * E8 / 100, 300); /* 15.00 */
    g->T += g->step;
    ev(g, 0, X, "EQ2", 3 * E8, 1); /* equal ingest and event time, partition order */
    ev(g, 1, X, "EQ2", 4 * E8, 1);

    /* Phase 4: the grammar's limits, valid and one step beyond. */
    g->T += g->step;
    ev(g, 0, X + 1, "LIM", 1, 1);                                      /* smallest price, qty */
    ev(g, 0, X + 1, "LIM", 10000000000LL * E8 - 1, MAX_QTY);           /* largest price, qty */
    ev(g, 0, X + 1, "ABCDEFGHIJKLMNOP", fill_price(g), 1);             /* 16-byte symbol */
    poison(g, 1, "1,ABCDEFGHIJKLMNOPQ,1.0,1", 3);                      /* 17-byte symbol */
    poison(g, 1, "1,LIM,10000000000,1", 4);                            /* price 10^10 */
    poison(g, 1, "1,LIM,0.000000001,1", 4);                            /* 9 fraction digits */
    poison(g, 1, "1,LIM,0.00000000,1", 4);                             /* price 0 */
    poison(g, 1, "1,LIM,1.0,0", 5);                                    /* qty 0 */
    poison(g, 1, "1,LIM,1.0,1000000001", 5);                           /* qty 10^9 + 1 */
    poison(g, 1, "9223372036854775808,LIM,1.0,1", 2);                  /* event_ns 2^63 */
    poison(g, 1, "1,LIM,1.0", 1);                                      /* 3 fields */
    /* VWAP exactly half way between two price_e8: (1 + 2) / 2 rounds up */
    ev(g, 2, X + 2, "VW", 1, 1);
    ev(g, 2, X + 3, "VW", 2, 1);

    /* Phase 5: data-driven thresholds reached exactly (`>=`), reached by one
     * event alone, and crossed. */
    if (g->volume > 0) {
        g->T += g->step;
        if (g->volume > 1)
            qty_sum(g, 0, X + 4, "VOL", 5 * E8, g->volume - 1);
        ev(g, 0, X + 4, "VOL", 5 * E8, 1); /* sum == V: closes */
        qty_sum(g, 0, X + 5, "VOL", 5 * E8, g->volume); /* == V: alone when it fits */
        ev(g, 0, X + 5, "VOL", 5 * E8, 1);
        qty_sum(g, 0, X + 6, "VOL", 5 * E8, g->volume); /* V + 1: closes above */
    }
    if (g->dollar > 0) {
        g->T += g->step;
        if (g->dollar > 1)
            qty_sum(g, 0, X + 4, "DOL", E8, g->dollar - 1); /* price 1.00 */
        ev(g, 0, X + 4, "DOL", E8, 1); /* sum == D * 10^8 exactly */
        qty_sum(g, 0, X + 5, "DOL", E8 / 2, 2 * g->dollar - 1); /* price 0.50: D - 0.5 */
        ev(g, 0, X + 5, "DOL", E8 / 2, 1);                      /* == D */
    }

    /* Phase 6: idleness with a laggard.  Partition 2 holds W; 0 and 1 run
     * ahead.  At last[2] + I partition 2 still counts, one ns later it does
     * not. */
    if (g->I > 0) {
        int64_t Y = X + size + g->B + 100;
        g->T += g->step;
        ev(g, 0, Y, "IDLE", fill_price(g), 100);
        ev(g, 1, Y, "IDLE", fill_price(g), 100);
        ev(g, 2, X + 1, "IDLE", fill_price(g), 100);
        Ta = g->T;
        g->T = Ta + g->I;
        ev(g, 0, Y + 1, "IDLE", fill_price(g), 100);
        if (min_wm(g, g->T, 2, &m) && m > g->W)
            ev(g, 1, m, "IDLE", fill_price(g), 100); /* on time: 2 still active */
        probe(g, 1, "WM");
        g->T++;
        ev(g, 0, Y + 2, "IDLE", fill_price(g), 100); /* 2 idle now */
        probe(g, 1, "WM");

        /* Phase 7: the idle partition returns below W: W never decreases. */
        g->T += g->step;
        if (g->W - 1 >= 0)
            ev(g, 2, g->W - 1, "IDLE", fill_price(g), 100); /* late */
        probe(g, 2, "WM");

        /* Phase 8: a poison record keeps its partition active.  Partition
         * 2's last valid record is at T, its poison at T + I/2; at that
         * poison + I it still counts, only because of the poison. */
        g->T += g->step;
        ev(g, 0, Y + 3 * size, "IDLE", fill_price(g), 100);
        ev(g, 1, Y + 3 * size, "IDLE", fill_price(g), 100);
        g->T += g->I / 2 + 1;
        ev(g, 0, Y + 3 * size, "IDLE", fill_price(g), 100);
        ev(g, 1, Y + 3 * size, "IDLE", fill_price(g), 100);
        poison(g, 2, "", 1);
        Ta = g->T;
        g->T = Ta + g->I;
        ev(g, 0, Y + 3 * size + 1, "IDLE", fill_price(g), 100);
        if (min_wm(g, g->T, 2, &m) && m > g->W)
            ev(g, 1, m, "IDLE", fill_price(g), 100); /* on time: the poison counts */
        g->T++;
        ev(g, 0, Y + 3 * size + 2, "IDLE", fill_price(g), 100);
        probe(g, 1, "WM");
    }

    /* Phase 9: a last probe with every partition live, then the end of
     * input, which releases what is buffered and fires every window. */
    g->T += g->step;
    raise_all(g, (g->has_w ? g->W : e0) + 2 * size + g->B + 1, "WM");
    g->T += g->step;
    probe(g, 2, "WM");
    ev(g, 2, (g->has_w ? g->W : e0) + 1, "END", fill_price(g), 1);
}

int hn__gen_boundary(const hn_gen_opts *o, FILE *f, const char *fname, hn_gen_stats *stp,
                     pl_errbuf *eb)
{
    bgen g;
    memset(&g, 0, sizeof g);
    g.B = o->max_delay;
    g.I = o->idle_timeout;
    g.size = o->window;
    g.slide = o->slide > 0 ? o->slide : o->window;
    g.volume = o->volume;
    g.dollar = o->dollar;
    /* keep the partitions live between the phases that want them idle */
    g.step = g.I > 0 ? (g.I / 16 > 1000000 ? 1000000 : g.I / 16) : 1000000;
    if (g.step < 1)
        g.step = 1;
    g.seed = o->seed;
    g.f = f;
    for (int q = 0; q < NP; q++)
        g.last[q] = o->start; /* the contract's initial last_ingest */
    errno = 0;
    if (fputs("partition,ingest_ns,event_ns,symbol,price,qty\n", f) == EOF)
        g.werr = errno ? errno : EIO;
    script(&g, o->start);
    if (!g.werr && fflush(f) != 0)
        g.werr = errno ? errno : EIO;
    if (g.werr)
        return pl_err_os(eb, g.werr, "gen: write(%s)", fname);
    if (stp)
        *stp = g.st;
    return 0;
}
