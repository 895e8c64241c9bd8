/*
 * gen.c - the deterministic workload generator (see hn_gen.h and
 * docs/generator.md for the workload model).
 *
 * Layout:
 *   1. PRNG: splitmix64 seeding, xoshiro256**, unbiased bounded draws.
 *   2. Options: one table drives hn_gen_parse_opt; value parsers; validation.
 *   3. Setup: symbols (names, price classes, homes), producer skews, stalls.
 *   4. Output: a large buffer and hand-rolled integer formatting.
 *   5. Records: the generation loop, in global ingest order.
 *   6. hn_gen_write / hn_gen_write_path.
 *
 * Determinism: every output byte is decided by integer arithmetic on draws
 * from two xoshiro256** streams seeded from --seed (one for the setup, one for
 * the records), consumed in a fixed order.  Nothing iterates over an
 * unordered container and nothing reads a clock.
 */
#include "hn_gen.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pl_config.h"
#include "pl_fs.h"
#include "pl_payload.h"

#define NS_US 1000LL
#define NS_MS 1000000LL
#define NS_S 1000000000LL
#define NS_M (60 * NS_S)
#define NS_H (3600 * NS_S)
#define I64_MAX INT64_MAX

/* ------------------------------------------------------------------ 1. PRNG */

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n), n >= 1, without modulo bias (Lemire's method). */
static inline uint64_t rng_below(rng *r, uint64_t n)
{
    uint64_t x = rng_next(r);
    unsigned __int128 m = (unsigned __int128)x * n;
    uint64_t l = (uint64_t)m;
    if (l < n) {
        uint64_t t = -n % n;
        while (l < t) {
            x = rng_next(r);
            m = (unsigned __int128)x * n;
            l = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

/* Uniform in [lo, hi], lo <= hi. */
static inline int64_t rng_range(rng *r, int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)hi - (uint64_t)lo + 1;
    if (span == 0)
        return (int64_t)rng_next(r);
    return (int64_t)((uint64_t)lo + rng_below(r, span));
}

/* Geometric on {0, 1, 2, ...} with P(k) = 2^-(k+1), capped at 63. */
static inline int rng_geom(rng *r)
{
    return __builtin_ctzll(rng_next(r) | (1ULL << 63));
}

/* --------------------------------------------------------------- 2. Options */

enum { K_U64, K_I32, K_I64, K_DUR, K_FRAC, K_MODE };

typedef struct optdef {
    const char *name;
    int kind;
    size_t off;
    int64_t lo, hi;
    unsigned setbit;
} optdef;

#define OFF(f) offsetof(hn_gen_opts, f)
static const optdef optdefs[] = {
    {"seed", K_U64, OFF(seed), 0, 0, 0},
    {"partitions", K_I32, OFF(partitions), 1, HN_GEN_MAX_PARTITIONS, 0},
    {"symbols", K_I32, OFF(symbols), 1, HN_GEN_MAX_SYMBOLS, 0},
    {"spread-frac", K_FRAC, OFF(spread_ppm), 0, HN_GEN_PPM, 0},
    {"start", K_DUR, OFF(start), 0, I64_MAX, 0},
    {"duration", K_DUR, OFF(duration), 1, I64_MAX, HN_GEN_SET_DURATION},
    {"rate", K_I64, OFF(rate), 1, HN_GEN_MAX_RATE, HN_GEN_SET_RATE},
    {"ticks", K_I64, OFF(ticks), 0, HN_GEN_MAX_TICKS, HN_GEN_SET_TICKS},
    {"disorder", K_DUR, OFF(disorder), 0, I64_MAX / 8, 0},
    {"producers", K_I32, OFF(producers), 1, HN_GEN_MAX_PRODUCERS, 0},
    {"skew", K_DUR, OFF(skew), 0, I64_MAX / 8, 0},
    {"stalls", K_I32, OFF(stalls), 0, HN_GEN_MAX_STALLS, 0},
    {"stall-len", K_DUR, OFF(stall_len), 1, I64_MAX, 0},
    {"poison-frac", K_FRAC, OFF(poison_ppm), 0, HN_GEN_PPM, 0},
    {"dup-frac", K_FRAC, OFF(dup_ppm), 0, HN_GEN_PPM, 0},
    {"boundary-frac", K_FRAC, OFF(boundary_ppm), 0, HN_GEN_PPM, 0},
    {"late-frac", K_FRAC, OFF(late_ppm), 0, HN_GEN_PPM, 0},
    {"mode", K_MODE, OFF(mode), HN_GEN_MODE_RANDOM, HN_GEN_MODE_BOUNDARY, 0},
    {"max-delay", K_DUR, OFF(max_delay), 0, I64_MAX / 8, HN_GEN_SET_MAX_DELAY},
    {"idle-timeout", K_DUR, OFF(idle_timeout), 0, I64_MAX / 8, HN_GEN_SET_IDLE},
    {"window", K_DUR, OFF(window), 1, I64_MAX / 8, HN_GEN_SET_WINDOW},
    {"slide", K_DUR, OFF(slide), 0, I64_MAX / 8, HN_GEN_SET_SLIDE},
    {"volume", K_I64, OFF(volume), 0, I64_MAX / 8, HN_GEN_SET_VOLUME},
    {"dollar", K_I64, OFF(dollar), 0, I64_MAX / 8 / 100000000, HN_GEN_SET_DOLLAR},
};
#undef OFF

void hn_gen_defaults(hn_gen_opts *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->partitions = 4;
    o->symbols = 16;
    o->producers = 2;
    o->stalls = 0;
    o->start = HN_GEN_DEFAULT_START;
    o->duration = 10 * NS_S;
    o->rate = 10000;
    o->ticks = 0;
    o->disorder = 50 * NS_MS;
    o->skew = 1 * NS_MS;
    o->stall_len = 5 * NS_S;
    o->spread_ppm = 250000;
    o->poison_ppm = 1000;
    o->dup_ppm = 10000;
    o->boundary_ppm = 10000;
    o->late_ppm = 1000;
    o->mode = HN_GEN_MODE_RANDOM;
    o->max_delay = PL_DEFAULT_MAX_DELAY;
    o->idle_timeout = PL_DEFAULT_IDLE_TIMEOUT;
    o->window = NS_M;
    o->slide = 0;
    o->volume = 0;
    o->dollar = 0;
    o->set = 0;
}

const char *hn_gen_usage(void)
{
    return
        "  --seed N            PRNG seed, 0..2^64-1 (default 1)\n"
        "  --partitions N      partitions, 1..4096 (default 4)\n"
        "  --symbols N         symbols, 1..1000000 (default 16)\n"
        "  --spread-frac FRAC  symbols not keyed to one home partition (default 0.25)\n"
        "  --start NS          ingest_ns of the first record (default 1767623400000000000,\n"
        "                      2026-01-05 14:30:00 UTC)\n"
        "  --duration DUR      ingest-time span (default 10s)\n"
        "  --rate N            ticks per second over all partitions, 1..1e9 (default 10000)\n"
        "  --ticks N           exact record count instead of duration x rate\n"
        "                      (with --duration: that many ticks over that span)\n"
        "  --disorder DUR      max ordinary event-time delay behind ingest (default 50ms)\n"
        "  --producers N       producers per partition, 1..1024 (default 2)\n"
        "  --skew DUR          producer clock skew drawn from [-DUR, +DUR] (default 1ms)\n"
        "  --stalls N          intervals in which one partition receives nothing (default 0)\n"
        "  --stall-len DUR     length of each stall (default 5s)\n"
        "  --poison-frac FRAC  poison payloads, every reason in turn (default 0.001)\n"
        "  --dup-frac FRAC     events repeating their symbol's last event_ns (default 0.01)\n"
        "  --boundary-frac FRAC events on a 1s/1m boundary or 1ns before (default 0.01)\n"
        "  --late-frac FRAC    events far beyond the disorder bound (default 0.001)\n"
        "  --mode MODE         random (default), or boundary: a small scripted log with\n"
        "                      events on every boundary of the contract for the shape:\n"
        "  --max-delay DUR     boundary: B (default 1s)\n"
        "  --idle-timeout DUR  boundary: I, 0 = off (default 10s)\n"
        "  --window DUR        boundary: a time window's size (default 1m)\n"
        "  --slide DUR         boundary: its slide (default: the size, tumbling)\n"
        "  --volume N          boundary: a volume bar threshold (default none)\n"
        "  --dollar N          boundary: a dollar bar threshold (default none)\n"
        "\n"
        "  DUR: integer with unit ns us ms s m h (bare = ns).  FRAC: per-mille integer\n"
        "  (5 = 0.5%), decimal fraction (0.005) or percentage (0.5%).\n";
}

/* Digits only, no sign, no overflow.  Returns 0 or -1. */
static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9)
            return -1;
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/*
 * FRAC to parts per million: "5" per mille, "0.005" fraction, "0.5%"
 * percent.  Digits beyond ppm resolution are truncated.
 */
static int parse_frac(const char *s, int64_t *ppm)
{
    size_t n = strlen(s), ip = 0;
    int pct = 0, scale;
    uint64_t iv = 0, fv = 0;
    size_t fd = 0;
    if (n > 0 && s[n - 1] == '%') {
        pct = 1;
        n--;
    }
    while (ip < n && s[ip] >= '0' && s[ip] <= '9')
        ip++;
    if (ip == 0 || ip > 9 || parse_u64(s, ip, &iv) < 0)
        return -1;
    if (ip < n) {
        if (s[ip] != '.' || ip + 1 == n)
            return -1;
        for (size_t i = ip + 1; i < n; i++) {
            if (s[i] < '0' || s[i] > '9')
                return -1;
            if (fd < 6) {
                fv = fv * 10 + (uint64_t)(s[i] - '0');
                fd++;
            }
        }
        while (fd < 6) {
            fv *= 10;
            fd++;
        }
        /* a bare decimal is a fraction of 1, a percentage a fraction of 100 */
        scale = pct ? 10000 : 1000000;
        *ppm = (int64_t)(iv * (uint64_t)scale + fv * (uint64_t)scale / 1000000);
        return 0;
    }
    *ppm = (int64_t)iv * (pct ? 10000 : 1000);
    return 0;
}

int hn_gen_opt_is_span(const char *key)
{
    char norm[32];
    const char *k = key ? key : "";
    size_t n;
    while (*k == '-')
        k++;
    n = strlen(k);
    if (n >= sizeof norm)
        return 0;
    for (size_t i = 0; i <= n; i++)
        norm[i] = k[i] == '_' ? '-' : k[i];
    for (size_t i = 0; i < sizeof optdefs / sizeof optdefs[0]; i++)
        if (strcmp(norm, optdefs[i].name) == 0)
            return optdefs[i].kind == K_DUR && strcmp(norm, "start") != 0;
    return 0;
}

int hn_gen_parse_opt(hn_gen_opts *o, const char *key, const char *value, pl_errbuf *eb)
{
    char norm[32];
    const char *k = key ? key : "";
    const optdef *d = NULL;
    size_t n;
    uint64_t u;
    int64_t v;
    int rc;

    while (*k == '-')
        k++;
    n = strlen(k);
    if (n >= sizeof norm)
        return pl_err(eb, PL_EUSAGE, "%s: unknown option", key ? key : "");
    for (size_t i = 0; i <= n; i++)
        norm[i] = k[i] == '_' ? '-' : k[i];
    for (size_t i = 0; i < sizeof optdefs / sizeof optdefs[0]; i++)
        if (strcmp(norm, optdefs[i].name) == 0)
            d = &optdefs[i];
    if (!d)
        return pl_err(eb, PL_EUSAGE, "%s: unknown option", key ? key : "");
    if (!value)
        return pl_err(eb, PL_EUSAGE, "%s: missing value", key);

    switch (d->kind) {
    case K_U64:
        if (parse_u64(value, strlen(value), &u) < 0)
            return pl_err(eb, PL_EUSAGE, "%s: '%s' is not an integer in 0..2^64-1", key, value);
        *(uint64_t *)((char *)o + d->off) = u;
        return 0;
    case K_I32:
    case K_I64:
        if (parse_u64(value, strlen(value), &u) < 0 || u > (uint64_t)I64_MAX) {
            size_t i = 0;
            while (value[i] >= '0' && value[i] <= '9')
                i++;
            /* all digits: the number is fine, only too large */
            if (i > 0 && !value[i])
                return pl_err(eb, PL_EUSAGE, "%s: '%s' out of range %lld..%lld", key, value,
                              (long long)d->lo, (long long)d->hi);
            return pl_err(eb, PL_EUSAGE, "%s: '%s' is not a non-negative integer", key, value);
        }
        v = (int64_t)u;
        break;
    case K_DUR:
        rc = pl_parse_duration(value, key, &v, eb);
        if (rc < 0)
            return rc;
        break;
    case K_MODE:
        if (strcmp(value, "random") == 0)
            v = HN_GEN_MODE_RANDOM;
        else if (strcmp(value, "boundary") == 0)
            v = HN_GEN_MODE_BOUNDARY;
        else
            return pl_err(eb, PL_EUSAGE, "%s: '%s' is not a mode (random or boundary)", key,
                          value);
        break;
    default: /* K_FRAC */
        if (parse_frac(value, &v) < 0)
            return pl_err(eb, PL_EUSAGE,
                          "%s: '%s' is not a fraction (per-mille integer, decimal like 0.01, or 1%%)",
                          key, value);
        if (v > HN_GEN_PPM)
            return pl_err(eb, PL_EUSAGE, "%s: '%s' is more than 1 (100%%)", key, value);
        break;
    }
    if (v < d->lo || v > d->hi)
        return pl_err(eb, PL_EUSAGE, "%s: '%s' out of range %lld..%lld", key, value,
                      (long long)d->lo, (long long)d->hi);
    if (d->kind == K_I64 || d->kind == K_DUR)
        *(int64_t *)((char *)o + d->off) = v;
    else
        *(int32_t *)((char *)o + d->off) = (int32_t)v;
    o->set |= d->setbit;
    return 0;
}

/* The record count N and the planned ingest-time span S (ns) of o. */
static void plan(const hn_gen_opts *o, int64_t *nticks, int64_t *span)
{
    if (o->set & HN_GEN_SET_TICKS) {
        *nticks = o->ticks;
        if (o->set & HN_GEN_SET_DURATION)
            *span = o->duration;
        else
            *span = (int64_t)((__int128)o->ticks * NS_S / o->rate);
    } else {
        *nticks = (int64_t)((__int128)o->duration * o->rate / NS_S);
        *span = o->duration;
    }
}

int64_t hn_gen_planned_records(const hn_gen_opts *o)
{
    int64_t nticks, span;
    if (o->mode == HN_GEN_MODE_BOUNDARY)
        return 0;
    plan(o, &nticks, &span);
    return nticks;
}

int hn_gen_validate(const hn_gen_opts *o, pl_errbuf *eb)
{
    int64_t nticks, span;
    __int128 last;

    for (size_t i = 0; i < sizeof optdefs / sizeof optdefs[0]; i++) {
        const optdef *d = &optdefs[i];
        int64_t v;
        if (d->kind == K_U64)
            continue;
        if (d->kind == K_I64 || d->kind == K_DUR)
            v = *(const int64_t *)((const char *)o + d->off);
        else
            v = *(const int32_t *)((const char *)o + d->off);
        if (v < d->lo || v > d->hi)
            return pl_err(eb, PL_EUSAGE, "--%s: %lld out of range %lld..%lld", d->name,
                          (long long)v, (long long)d->lo, (long long)d->hi);
    }
    if (o->mode == HN_GEN_MODE_BOUNDARY) {
        if (o->slide > 0 && o->slide > o->window)
            return pl_err(eb, PL_EUSAGE, "--slide: %lld is larger than --window %lld",
                          (long long)o->slide, (long long)o->window);
        /* the script's event and ingest times stay within a few windows,
         * timeouts and delays of start */
        if ((__int128)o->start + 8 * ((__int128)o->window + o->max_delay + o->idle_timeout) +
                NS_H >= (__int128)I64_MAX / 2)
            return pl_err(eb, PL_EUSAGE, "--start, --window, --max-delay, --idle-timeout: "
                          "the boundary log's times would come near 2^63 ns");
        return 0;
    }
    if ((o->set & (HN_GEN_SET_DURATION | HN_GEN_SET_RATE | HN_GEN_SET_TICKS)) ==
        (HN_GEN_SET_DURATION | HN_GEN_SET_RATE | HN_GEN_SET_TICKS))
        return pl_err(eb, PL_EUSAGE,
                      "--duration, --rate, --ticks: give at most two of the three");
    plan(o, &nticks, &span);
    if (nticks > span)
        return pl_err(eb, PL_EUSAGE,
                      "--ticks: %lld ticks over %lld ns is more than one tick per ns",
                      (long long)nticks, (long long)span);
    if (nticks > HN_GEN_MAX_TICKS)
        return pl_err(eb, PL_EUSAGE, "--duration, --rate: %lld ticks, more than %lld",
                      (long long)nticks, (long long)HN_GEN_MAX_TICKS);
    /* stalls that stop every partition push the clock by up to their length */
    last = (__int128)o->start + span + (__int128)o->stalls * o->stall_len;
    if (last >= (__int128)I64_MAX)
        return pl_err(eb, PL_EUSAGE,
                      "--start, --duration: ingest times would reach 2^63 ns");
    return 0;
}

/* ----------------------------------------------------------------- 3. Setup */

typedef struct sym {
    int64_t price;   /* current price_e8, a multiple of tick */
    int64_t tick;    /* price increment, price_e8 units */
    int64_t unit;    /* one walk step, a multiple of tick */
    int64_t last_t;  /* last event_ns emitted, -1 before the first */
    int64_t last_qty;
    char name[PL_SYMBOL_MAX + 1];
    uint8_t name_len;
} sym;

typedef struct gen {
    const hn_gen_opts *o;
    rng rs, rr;             /* setup stream, record stream */
    int64_t nticks, span;
    sym *syms;
    int32_t nspread;
    int32_t *spread;        /* symbol indices of spread symbols */
    int32_t *keyed;         /* keyed symbol indices grouped by home partition */
    int32_t *koff;          /* keyed[koff[p] .. koff[p+1]) live on p */
    int32_t *elig;          /* partitions that have at least one symbol */
    int32_t nelig;
    int64_t *skews;         /* [p * producers + j] */
    int64_t *st_a, *st_b;   /* merged stall intervals [a, b), grouped by partition */
    int32_t *st_off;        /* stalls of p: st_off[p] .. st_off[p+1] */
    int32_t *st_cur;        /* first stall of p that may still cover the clock */
    int32_t *bparts;        /* partitions of the current batch */
    /* output */
    FILE *f;
    const char *fname;
    char *buf;
    size_t len, cap;
    int werr;
} gen;

typedef struct stall {
    int32_t p;
    int64_t a, b;
} stall;

static int stall_cmp(const void *x, const void *y)
{
    const stall *s = x, *t = y;
    if (s->p != t->p)
        return s->p < t->p ? -1 : 1;
    if (s->a != t->a)
        return s->a < t->a ? -1 : 1;
    return (s->b > t->b) - (s->b < t->b);
}

/*
 * Price classes: tick size, the band the starting price is drawn from, and
 * how many symbols in 100 get the class.  Steps are about 5 bp of the
 * starting price, rounded to the tick.
 */
static const struct pclass {
    int weight;
    int64_t tick, lo, hi;
} pclasses[] = {
    {55, 1000000LL, 5 * 100000000LL, 500 * 100000000LL},            /* equity, 0.01 */
    {15, 10000LL, 5000000LL, 5 * 100000000LL},                      /* penny, 0.0001 */
    {10, 25000000LL, 1000 * 100000000LL, 6000 * 100000000LL},       /* future, 0.25 */
    {10, 1LL, 50000000LL, 70000 * 100000000LL},                     /* crypto, 1e-8 */
    {10, 1000LL, 50000000LL, 2 * 100000000LL},                      /* fx, 0.00001 */
};

static void sym_name(sym *s, int32_t i, int32_t nsym)
{
    char digits[16];
    int w = 4, nd = 0, pos = 0;
    uint32_t v = (uint32_t)i + 1;
    for (uint32_t t = (uint32_t)nsym; t >= 10000; t /= 10)
        w++;
    do {
        digits[nd++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    s->name[pos++] = 'S';
    for (int k = nd; k < w; k++)
        s->name[pos++] = '0';
    while (nd > 0)
        s->name[pos++] = digits[--nd];
    /* a few names use every symbol character class, for bytewise ordering */
    switch ((i + 1) % 10) {
    case 3: s->name[pos++] = '.'; s->name[pos++] = 'A'; break;
    case 6: s->name[pos++] = '_'; s->name[pos++] = 'B'; break;
    case 9: s->name[pos++] = '-'; s->name[pos++] = 'W'; break;
    default: break;
    }
    if ((i + 1) % 50 == 25)
        while (pos < PL_SYMBOL_MAX)
            s->name[pos++] = 'X';
    s->name[pos] = 0;
    s->name_len = (uint8_t)pos;
}

static int setup(gen *g, pl_errbuf *eb)
{
    const hn_gen_opts *o = g->o;
    int32_t nsym = o->symbols, P = o->partitions, nkeyed, *perm = NULL, *kcount = NULL;
    stall *st = NULL;
    int rc = 0;

    g->syms = calloc((size_t)nsym, sizeof *g->syms);
    perm = malloc((size_t)nsym * sizeof *perm);
    kcount = calloc((size_t)P, sizeof *kcount);
    g->spread = malloc((size_t)nsym * sizeof *g->spread);
    g->keyed = malloc((size_t)nsym * sizeof *g->keyed);
    g->koff = calloc((size_t)P + 1, sizeof *g->koff);
    g->elig = malloc((size_t)P * sizeof *g->elig);
    g->skews = malloc((size_t)P * (size_t)o->producers * sizeof *g->skews);
    g->st_off = calloc((size_t)P + 1, sizeof *g->st_off);
    g->st_cur = calloc((size_t)P, sizeof *g->st_cur);
    g->st_a = malloc(((size_t)o->stalls + 1) * sizeof *g->st_a);
    g->st_b = malloc(((size_t)o->stalls + 1) * sizeof *g->st_b);
    g->bparts = malloc(16 * sizeof *g->bparts);
    st = malloc(((size_t)o->stalls + 1) * sizeof *st);
    if (!g->syms || !perm || !kcount || !g->spread || !g->keyed || !g->koff || !g->elig ||
        !g->skews || !g->st_off || !g->st_cur || !g->st_a || !g->st_b || !g->bparts || !st) {
        rc = pl_err_os(eb, ENOMEM, "gen: setup for %d symbols", (int)nsym);
        goto out;
    }

    /* symbols: name, price class, starting price */
    for (int32_t i = 0; i < nsym; i++) {
        sym *s = &g->syms[i];
        int64_t w = rng_range(&g->rs, 0, 99), p0;
        size_t c = 0;
        while (w >= pclasses[c].weight) {
            w -= pclasses[c].weight;
            c++;
        }
        sym_name(s, i, nsym);
        s->tick = pclasses[c].tick;
        p0 = rng_range(&g->rs, pclasses[c].lo, pclasses[c].hi);
        p0 -= p0 % s->tick;
        if (p0 < s->tick)
            p0 = s->tick;
        s->price = p0;
        s->unit = p0 / 2000;
        s->unit -= s->unit % s->tick;
        if (s->unit < s->tick)
            s->unit = s->tick;
        s->last_t = -1;
        s->last_qty = 100;
    }

    /* spread symbols: a seeded random subset of round(n * frac) symbols */
    g->nspread = (int32_t)(((int64_t)nsym * o->spread_ppm + HN_GEN_PPM / 2) / HN_GEN_PPM);
    if (o->spread_ppm > 0 && g->nspread == 0)
        g->nspread = 1;
    for (int32_t i = 0; i < nsym; i++)
        perm[i] = i;
    for (int32_t i = 0; i < g->nspread; i++) {
        int32_t j = (int32_t)rng_range(&g->rs, i, nsym - 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (int32_t i = 0; i < g->nspread; i++)
        g->spread[i] = perm[i];
    /* keep spread symbols in index order so pools read the same on every run */
    for (int32_t i = 1; i < g->nspread; i++)
        for (int32_t j = i; j > 0 && g->spread[j - 1] > g->spread[j]; j--) {
            int32_t t = g->spread[j];
            g->spread[j] = g->spread[j - 1];
            g->spread[j - 1] = t;
        }
    /* keyed symbols, in index order, get homes round robin */
    memset(perm, 0, (size_t)nsym * sizeof *perm);
    for (int32_t i = 0; i < g->nspread; i++)
        perm[g->spread[i]] = 1;
    nkeyed = 0;
    for (int32_t i = 0; i < nsym; i++)
        if (!perm[i])
            kcount[nkeyed++ % P]++;
    for (int32_t p = 0; p < P; p++)
        g->koff[p + 1] = g->koff[p] + kcount[p];
    memset(kcount, 0, (size_t)P * sizeof *kcount);
    nkeyed = 0;
    for (int32_t i = 0; i < nsym; i++)
        if (!perm[i]) {
            int32_t p = nkeyed++ % P;
            g->keyed[g->koff[p] + kcount[p]++] = i;
        }
    g->nelig = 0;
    for (int32_t p = 0; p < P; p++)
        if (g->nspread > 0 || g->koff[p + 1] > g->koff[p])
            g->elig[g->nelig++] = p;

    for (int64_t i = 0; i < (int64_t)P * o->producers; i++)
        g->skews[i] = rng_range(&g->rs, -o->skew, o->skew);

    /* stalls: one eligible partition each, anywhere in the planned span */
    for (int32_t i = 0; i < o->stalls; i++) {
        int64_t room = g->span - o->stall_len;
        st[i].p = g->elig[rng_below(&g->rs, (uint64_t)g->nelig)];
        st[i].a = o->start + (room > 0 ? rng_range(&g->rs, 0, room) : 0);
        st[i].b = st[i].a + o->stall_len;
    }
    qsort(st, (size_t)o->stalls, sizeof *st, stall_cmp);
    {
        int32_t m = 0;
        for (int32_t i = 0; i < o->stalls; i++) {
            /* overlapping stalls of one partition merge into one interval */
            if (m > 0 && st[m - 1].p == st[i].p && st[i].a <= st[m - 1].b) {
                if (st[i].b > st[m - 1].b)
                    st[m - 1].b = st[i].b;
                continue;
            }
            st[m++] = st[i];
        }
        for (int32_t i = 0; i < m; i++) {
            g->st_a[i] = st[i].a;
            g->st_b[i] = st[i].b;
            g->st_off[st[i].p + 1]++;
        }
        for (int32_t p = 0; p < P; p++)
            g->st_off[p + 1] += g->st_off[p];
        for (int32_t p = 0; p < P; p++)
            g->st_cur[p] = g->st_off[p];
    }
out:
    free(perm);
    free(kcount);
    free(st);
    return rc;
}

static void teardown(gen *g)
{
    free(g->syms);
    free(g->spread);
    free(g->keyed);
    free(g->koff);
    free(g->elig);
    free(g->skews);
    free(g->st_a);
    free(g->st_b);
    free(g->st_off);
    free(g->st_cur);
    free(g->bparts);
    free(g->buf);
}

/* ---------------------------------------------------------------- 4. Output */

#define OUT_CAP (1u << 20)
#define LINE_MAX_BYTES 512 /* no generated line comes near this */

static void out_flush(gen *g)
{
    if (g->len > 0 && !g->werr) {
        if (fwrite(g->buf, 1, g->len, g->f) != g->len)
            g->werr = errno ? errno : EIO;
    }
    g->len = 0;
}

/* Room for one more line. */
static inline char *out_reserve(gen *g)
{
    if (g->cap - g->len < LINE_MAX_BYTES)
        out_flush(g);
    return g->buf + g->len;
}

static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static inline char *put_u64(char *d, uint64_t v)
{
    char tmp[20];
    char *e = tmp + sizeof tmp, *p = e;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        p -= 2;
        memcpy(p, digit_pairs + 2 * r, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, digit_pairs + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
    memcpy(d, p, (size_t)(e - p));
    return d + (e - p);
}

static inline char *put_str(char *d, const char *s, size_t n)
{
    memcpy(d, s, n);
    return d + n;
}

#define PUT_LIT(d, lit) put_str((d), (lit), sizeof(lit) - 1)

/* Exactly 8 digits of v < 10^8, zero padded. */
static inline void put_8(char *d, uint32_t v)
{
    for (int i = 3; i >= 0; i--) {
        memcpy(d + 2 * i, digit_pairs + 2 * (v % 100), 2);
        v /= 100;
    }
}

/*
 * price_e8 with `fd` fraction digits (0..8); the digits dropped must be
 * zeros, so fd is at least the number of significant fraction digits.
 */
static inline char *put_price(char *d, int64_t price, int fd)
{
    d = put_u64(d, (uint64_t)(price / 100000000));
    if (fd > 0) {
        char frac[8];
        put_8(frac, (uint32_t)(price % 100000000));
        *d++ = '.';
        d = put_str(d, frac, (size_t)fd);
    }
    return d;
}

/* Significant fraction digits of price_e8 (0 when it is a whole number). */
static inline int frac_digits(int64_t price)
{
    int64_t f = price % 100000000;
    int n = 8;
    if (f == 0)
        return 0;
    while (f % 10 == 0) {
        f /= 10;
        n--;
    }
    return n;
}

static inline char *put_zeros(char *d, int n)
{
    memset(d, '0', (size_t)n);
    return d + n;
}

/* --------------------------------------------------------------- 5. Records */

/* Exact-count selection (Knuth's algorithm S): k of the remaining n records. */
typedef struct picker {
    int64_t need;
} picker;

static inline int pick(rng *r, picker *pk, int64_t remaining)
{
    if (pk->need <= 0)
        return 0;
    if (pk->need >= remaining || (int64_t)rng_below(r, (uint64_t)remaining) < pk->need) {
        pk->need--;
        return 1;
    }
    return 0;
}

static int64_t quota(int64_t n, int32_t ppm, int64_t minimum)
{
    int64_t k = (int64_t)(((__int128)n * ppm + HN_GEN_PPM / 2) / HN_GEN_PPM);
    if (ppm > 0 && k < minimum)
        k = minimum;
    return k < n ? k : n;
}

static inline int64_t clamp_ns(__int128 t)
{
    if (t < 0)
        return 0;
    if (t > (__int128)I64_MAX)
        return I64_MAX;
    return (int64_t)t;
}

/* Is partition p stalled at ingest time t?  t never decreases between calls. */
static inline int stalled(gen *g, int32_t p, int64_t t)
{
    int32_t c = g->st_cur[p], e = g->st_off[p + 1];
    while (c < e && g->st_b[c] <= t)
        c++;
    g->st_cur[p] = c;
    return c < e && g->st_a[c] <= t;
}

/*
 * A partition that can take a record at time *t: a random eligible one, or
 * the next one that is not stalled.  When every eligible partition is
 * stalled the clock (*t and *shift) jumps to the earliest stall end.
 */
static int32_t pick_partition(gen *g, int64_t *t, int64_t *shift)
{
    for (;;) {
        uint64_t start = g->nelig > 1 ? rng_below(&g->rr, (uint64_t)g->nelig) : 0;
        int64_t wake = I64_MAX;
        for (int32_t k = 0; k < g->nelig; k++) {
            int32_t p = g->elig[(start + (uint64_t)k) % (uint64_t)g->nelig];
            if (!stalled(g, p, *t))
                return p;
            if (g->st_b[g->st_cur[p]] < wake)
                wake = g->st_b[g->st_cur[p]];
        }
        *shift += wake - *t;
        *t = wake;
    }
}

/*
 * Ordinary delay of event time behind ingest time: exponential-like on
 * integers (a geometric whole part plus a 16-bit fraction, in units of
 * D/8), capped at D: mostly small, with a tail up to D itself.
 */
static inline int64_t draw_delay(gen *g)
{
    int64_t D = g->o->disorder;
    uint64_t x;
    __int128 dl;
    if (D == 0)
        return 0;
    x = ((uint64_t)rng_geom(&g->rr) << 16) | (rng_next(&g->rr) >> 48);
    dl = (__int128)x * D / (8 << 16);
    return dl > D ? D : (int64_t)dl;
}

/*
 * Move t back onto the boundary at or below it: the minute when that is
 * within max(disorder, 1 s), else the second; then, half the time, 1 ns
 * before it.  Never forward, so a boundary event does not run ahead of its
 * producer and drag the watermark up.
 */
static inline int64_t snap_boundary(gen *g, int64_t t)
{
    int64_t near = g->o->disorder > NS_S ? g->o->disorder : NS_S;
    int64_t b = t / NS_M * NS_M;
    if (t - b > near)
        b = t / NS_S * NS_S;
    if (b > 0 && (rng_next(&g->rr) & 1))
        b -= 1;
    return b;
}

static inline int64_t draw_qty(gen *g)
{
    uint64_t r = rng_below(&g->rr, 1000000);
    if (r < 700000)                 /* round lots */
        return 100 * (1 + (int64_t)rng_below(&g->rr, 100) * rng_below(&g->rr, 100) / 99);
    if (r < 950000)                 /* odd lots */
        return 1 + (int64_t)rng_below(&g->rr, 99);
    if (r < 999900)
        return 1 + (int64_t)rng_below(&g->rr, 10000);
    if (r < 999999)                 /* block trades */
        return rng_range(&g->rr, 10001, 1000000);
    return rng_range(&g->rr, 1000001, PL_QTY_MAX);
}

static inline void walk(gen *g, sym *s)
{
    int k = rng_geom(&g->rr);
    int64_t step;
    if (k == 0)
        return;
    if (k > 8)
        k = 8;
    step = s->unit * k;
    /* reflect at the grammar's bounds so the price stays valid */
    if (rng_next(&g->rr) & 1) {
        if (s->price - step >= s->tick)
            s->price -= step;
        else
            s->price += step;
    } else {
        if (s->price + step < PL_PRICE_LIMIT_E8)
            s->price += step;
        else
            s->price -= step;
    }
}

/* The number of fraction digits to print: minimal, all 8, or in between. */
static inline int pick_fd(gen *g, int64_t price)
{
    int m = frac_digits(price);
    uint64_t r = rng_below(&g->rr, 10);
    if (r < 6)
        return m;
    if (r < 8)
        return 8;
    return m + (int)rng_below(&g->rr, (uint64_t)(9 - m));
}

/* Valid-looking field texts that a poison payload spoils one of. */
typedef struct fields {
    char ev[24], sym[PL_SYMBOL_MAX + 1], price[32], qty[24];
    size_t ev_n, sym_n, price_n, qty_n;
} fields;

#define PUT_F(d, f, x) put_str((d), (f)->x, (f)->x##_n)

static char *put_poison(gen *g, char *d, int reason, const fields *f)
{
    static const char *const bad_ev[] = {
        "", "-1", "1.5", "9223372036854775808", "18446744073709551616",
        "99999999999999999999999", "0x1f", "1e18", "NaN", "12abc"};
    static const char *const bad_sym[] = {
        "", "abc", "ABCDEFGHIJKLMNOPQ", "A B", "AAPL$", "\xc3\x84PL", "A+B", "S1\r", "\x7f",
        "s0001"};
    static const char *const bad_price[] = {
        "0", "0.0", "0.00000000", "-1.25", "+1.25", "1.123456789", "0.000000001",
        "10000000000", "10000000000.0", "99999999999", "1e3", "", "1.", ".5", "12.5.1",
        " 12.5", "NaN", "inf"};
    static const char *const bad_qty[] = {
        "0", "00", "1000000001", "-5", "+5", "1.0", "", "5x", "99999999999999999999999",
        " 5", "1e3"};
#define NV(a) (sizeof(a) / sizeof((a)[0]))
    const char *s;
    uint64_t v;

    switch (reason) {
    case PL_POISON_FIELDS:
        v = rng_below(&g->rr, 7);
        switch (v) {
        case 0: return PUT_LIT(d, "garbage-bytes-here");
        case 1: return d; /* empty payload: one empty field */
        case 2: return PUT_LIT(d, ",,,,");
        case 3:
            d = PUT_F(d, f, ev); *d++ = ','; d = PUT_F(d, f, sym); *d++ = ',';
            return PUT_F(d, f, price);
        case 4:
            d = PUT_F(d, f, ev); *d++ = ';'; d = PUT_F(d, f, sym); *d++ = ';';
            d = PUT_F(d, f, price); *d++ = ';';
            return PUT_F(d, f, qty);
        default:
            d = PUT_F(d, f, ev); *d++ = ','; d = PUT_F(d, f, sym); *d++ = ',';
            d = PUT_F(d, f, price); *d++ = ','; d = PUT_F(d, f, qty); *d++ = ',';
            return v == 5 ? d : PUT_LIT(d, "x");
        }
    case PL_POISON_EVENT_TIME:
        v = rng_below(&g->rr, NV(bad_ev) + 3);
        if (v < NV(bad_ev)) {
            s = bad_ev[v];
            d = put_str(d, s, strlen(s));
        } else if (v == NV(bad_ev)) {
            *d++ = '+'; d = PUT_F(d, f, ev);
        } else if (v == NV(bad_ev) + 1) {
            *d++ = ' '; d = PUT_F(d, f, ev);
        } else {
            d = PUT_F(d, f, ev); *d++ = 'Z';
        }
        *d++ = ','; d = PUT_F(d, f, sym); *d++ = ',';
        d = PUT_F(d, f, price); *d++ = ',';
        return PUT_F(d, f, qty);
    case PL_POISON_SYMBOL:
        s = bad_sym[rng_below(&g->rr, NV(bad_sym))];
        d = PUT_F(d, f, ev); *d++ = ',';
        d = put_str(d, s, strlen(s)); *d++ = ',';
        d = PUT_F(d, f, price); *d++ = ',';
        return PUT_F(d, f, qty);
    case PL_POISON_PRICE:
        s = bad_price[rng_below(&g->rr, NV(bad_price))];
        d = PUT_F(d, f, ev); *d++ = ','; d = PUT_F(d, f, sym); *d++ = ',';
        d = put_str(d, s, strlen(s)); *d++ = ',';
        return PUT_F(d, f, qty);
    default: /* PL_POISON_QTY */
        d = PUT_F(d, f, ev); *d++ = ','; d = PUT_F(d, f, sym); *d++ = ',';
        d = PUT_F(d, f, price); *d++ = ',';
        v = rng_below(&g->rr, NV(bad_qty) + 1);
        if (v < NV(bad_qty)) {
            s = bad_qty[v];
            return put_str(d, s, strlen(s));
        }
        /* a CR before the LF belongs to the payload, so the qty field spoils */
        d = PUT_F(d, f, qty);
        *d++ = '\r';
        return d;
    }
#undef NV
}

static int32_t pick_symbol(gen *g, int32_t p)
{
    int32_t kc = g->koff[p + 1] - g->koff[p];
    uint64_t m = (uint64_t)kc + (uint64_t)g->nspread, a, b, i;
    /* the smaller of two draws: low-numbered symbols of a pool trade more */
    a = rng_below(&g->rr, m);
    b = rng_below(&g->rr, m);
    i = a < b ? a : b;
    return i < (uint64_t)kc ? g->keyed[g->koff[p] + (int32_t)i] : g->spread[i - (uint64_t)kc];
}

static void run(gen *g, hn_gen_stats *st)
{
    const hn_gen_opts *o = g->o;
    picker pk_poison = {quota(g->nticks, o->poison_ppm, 5)};
    picker pk_late = {quota(g->nticks, o->late_ppm, 1)};
    picker pk_bound = {quota(g->nticks, o->boundary_ppm, 1)};
    picker pk_dup = {quota(g->nticks, o->dup_ppm, 1)};
    int64_t shift = 0, gap = g->span / (g->nticks > 0 ? g->nticks : 1);
    int64_t late_base = 2 * o->disorder + 2 * o->skew + NS_S;
    int64_t late_extra = 2 * o->disorder + 2 * o->skew + NS_M;
    int poison_turn = 0;
    char *d;

    d = out_reserve(g);
    d = PUT_LIT(d, "partition,ingest_ns,event_ns,symbol,price,qty\n");
    g->len = (size_t)(d - g->buf);

    for (int64_t i = 0; i < g->nticks;) {
        int64_t base = o->start + (int64_t)((__int128)i * g->span / g->nticks) + shift;
        /* a latched write error ends generation at once (on a full disk it
         * kept generating for minutes); so does a stop request */
        if (g->werr || (o->stop && *o->stop))
            return;
        int64_t t = base + (gap > 1 ? (int64_t)rng_below(&g->rr, (uint64_t)gap) : 0);
        int32_t nb = 1;

        /*
         * Now and then the broker stamps a small batch with one time: equal
         * ingest_ns across (and within) partitions, written in partition
         * order.  The next slot's base is past t, so time never goes back.
         */
        if ((rng_next(&g->rr) & 31) == 0)
            nb = 2 + (int32_t)rng_below(&g->rr, 7);
        if (nb > g->nticks - i)
            nb = (int32_t)(g->nticks - i);
        for (int32_t k = 0; k < nb; k++)
            g->bparts[k] = pick_partition(g, &t, &shift);
        for (int32_t k = 1; k < nb; k++)
            for (int32_t j = k; j > 0 && g->bparts[j - 1] > g->bparts[j]; j--) {
                int32_t x = g->bparts[j];
                g->bparts[j] = g->bparts[j - 1];
                g->bparts[j - 1] = x;
            }

        for (int32_t k = 0; k < nb; k++, i++) {
            int32_t p = g->bparts[k];
            int64_t remaining = g->nticks - i;
            int is_poison = pick(&g->rr, &pk_poison, remaining);
            int is_late = pick(&g->rr, &pk_late, remaining);
            int is_bound = pick(&g->rr, &pk_bound, remaining);
            int is_dup = pick(&g->rr, &pk_dup, remaining);
            int32_t si = pick_symbol(g, p);
            sym *s = &g->syms[si];
            int64_t skew = g->skews[(int64_t)p * o->producers +
                                    (int64_t)rng_below(&g->rr, (uint64_t)o->producers)];
            int64_t ev, qty;
            int exact_dup = 0;

            if (is_late && !is_poison) {
                ev = clamp_ns((__int128)t - late_base -
                              (int64_t)rng_below(&g->rr, (uint64_t)late_extra + 1));
                st->late++;
            } else {
                ev = clamp_ns((__int128)t - draw_delay(g) - skew);
            }
            if (is_bound && !is_poison) {
                ev = snap_boundary(g, ev);
                st->boundary++;
            }
            if (is_dup && !is_poison && s->last_t >= 0) {
                ev = s->last_t;
                exact_dup = (int)(rng_next(&g->rr) & 1);
                st->dup++;
            }
            /* poison leaves the walk alone, so an exact duplicate repeats the last valid price */
            if (!exact_dup && !is_poison)
                walk(g, s);
            qty = exact_dup ? s->last_qty : draw_qty(g);

            d = out_reserve(g);
            d = put_u64(d, (uint64_t)p);
            *d++ = ',';
            d = put_u64(d, (uint64_t)t);
            *d++ = ',';
            if (is_poison) {
                fields f;
                int reason = PL_POISON_FIELDS + poison_turn;
                poison_turn = (poison_turn + 1) % 5;
                f.ev_n = (size_t)(put_u64(f.ev, (uint64_t)ev) - f.ev);
                memcpy(f.sym, s->name, s->name_len);
                f.sym_n = s->name_len;
                f.price_n = (size_t)(put_price(f.price, s->price, pick_fd(g, s->price)) - f.price);
                f.qty_n = (size_t)(put_u64(f.qty, (uint64_t)qty) - f.qty);
                d = put_poison(g, d, reason, &f);
                st->poison[reason]++;
            } else {
                /* rarely, leading zeros: valid by the grammar, hard on parsers */
                uint64_t lz = rng_next(&g->rr);
                int zpos = (lz & 4095) == 0 ? (int)((lz >> 12) % 3) : -1;
                int zn = 1 + (int)((lz >> 16) % 24);
                if (zpos == 0)
                    d = put_zeros(d, zn);
                d = put_u64(d, (uint64_t)ev);
                *d++ = ',';
                d = put_str(d, s->name, s->name_len);
                *d++ = ',';
                if (zpos == 1)
                    d = put_zeros(d, zn);
                d = put_price(d, s->price, pick_fd(g, s->price));
                *d++ = ',';
                if (zpos == 2)
                    d = put_zeros(d, zn);
                d = put_u64(d, (uint64_t)qty);
                s->last_t = ev;
                s->last_qty = qty;
            }
            *d++ = '\n';
            g->len = (size_t)(d - g->buf);
            if (st->records++ == 0)
                st->first_ingest = t;
            st->last_ingest = t;
        }
    }
}

/* ------------------------------------------------------------ 6. Interface */

void hn_gen_boundary_from_config(hn_gen_opts *o, const pl_config *cfg)
{
    int win = 0, vol = 0, dol = 0;
    if (o->mode != HN_GEN_MODE_BOUNDARY)
        return;
    o->partitions = HN_GEN_BOUNDARY_PARTITIONS;
    if (!(o->set & HN_GEN_SET_MAX_DELAY))
        o->max_delay = cfg->max_delay;
    if (!(o->set & HN_GEN_SET_IDLE))
        o->idle_timeout = cfg->idle_timeout;
    for (int i = 0; i < cfg->naggs; i++) {
        const pl_agg_spec *a = &cfg->aggs[i];
        if ((a->kind == PL_AGG_TUMBLING || a->kind == PL_AGG_SLIDING) && !win++) {
            if (!(o->set & HN_GEN_SET_WINDOW))
                o->window = a->size;
            if (!(o->set & HN_GEN_SET_SLIDE))
                o->slide = a->slide == a->size ? 0 : a->slide;
        } else if (a->kind == PL_AGG_VOLUME && !vol++ && !(o->set & HN_GEN_SET_VOLUME)) {
            o->volume = a->threshold;
        } else if (a->kind == PL_AGG_DOLLAR && !dol++ && !(o->set & HN_GEN_SET_DOLLAR)) {
            o->dollar = a->threshold;
        }
    }
}

static int gen_to(const hn_gen_opts *o, FILE *f, const char *fname, hn_gen_stats *stp,
                  pl_errbuf *eb)
{
    gen g;
    hn_gen_stats st;
    int rc;

    memset(&st, 0, sizeof st);
    rc = hn_gen_validate(o, eb);
    if (rc < 0)
        return rc;
    if (o->mode == HN_GEN_MODE_BOUNDARY)
        return hn__gen_boundary(o, f, fname, stp, eb);
    memset(&g, 0, sizeof g);
    g.o = o;
    g.f = f;
    g.fname = fname;
    rng_seed(&g.rs, o->seed, 1);
    rng_seed(&g.rr, o->seed, 2);
    plan(o, &g.nticks, &g.span);
    g.cap = OUT_CAP;
    g.buf = malloc(g.cap);
    if (!g.buf) {
        rc = pl_err_os(eb, ENOMEM, "gen: output buffer");
        goto out;
    }
    rc = setup(&g, eb);
    if (rc < 0)
        goto out;
    errno = 0;
    run(&g, &st);
    if (!g.werr && o->stop && *o->stop) {
        rc = pl_err(eb, -EINTR, "gen: interrupted");
        goto out;
    }
    out_flush(&g);
    if (!g.werr && fflush(f) != 0)
        g.werr = errno ? errno : EIO;
    if (g.werr) {
        rc = pl_err_os(eb, g.werr, "gen: write(%s)", fname);
        goto out;
    }
    if (stp)
        *stp = st;
out:
    teardown(&g);
    return rc;
}

int hn_gen_write(const hn_gen_opts *o, FILE *f, hn_gen_stats *st, pl_errbuf *eb)
{
    return gen_to(o, f, "output", st, eb);
}

int hn_gen_write_path(const hn_gen_opts *o, const char *path, hn_gen_stats *st,
                      pl_errbuf *eb)
{
    char *tmp = NULL;
    FILE *f = NULL;
    int rc;

    rc = hn_gen_validate(o, eb);
    if (rc < 0)
        return rc;
    if (strcmp(path, "-") == 0)
        return gen_to(o, stdout, "stdout", st, eb);

    if (asprintf(&tmp, "%s.tmp", path) < 0) {
        tmp = NULL;
        rc = pl_err_os(eb, ENOMEM, "gen: %s", path);
        goto fail;
    }
    f = fopen(tmp, "wb");
    if (!f) {
        rc = pl_err_os(eb, errno, "gen: open(%s)", tmp);
        goto fail;
    }
    rc = gen_to(o, f, tmp, st, eb);
    if (rc < 0)
        goto fail;
    /* without this a power cut after the rename can leave path empty */
    if (fsync(fileno(f)) != 0) {
        rc = pl_err_os(eb, errno, "gen: fsync(%s)", tmp);
        goto fail;
    }
    /* close reports delayed write errors (NFS, quotas) */
    rc = fclose(f);
    f = NULL;
    if (rc != 0) {
        rc = pl_err_os(eb, errno, "gen: close(%s)", tmp);
        goto fail;
    }
    /* readers see either the old file or the complete new one, never a prefix */
    if (rename(tmp, path) != 0) {
        rc = pl_err_os(eb, errno, "gen: rename(%s, %s)", tmp, path);
        goto fail;
    }
    /* the rename itself is durable only once the directory is synced */
    rc = pl_fs_sync_parent(path, eb);
    free(tmp);
    return rc;
fail:
    if (f)
        fclose(f);
    if (tmp)
        unlink(tmp);
    free(tmp);
    return rc;
}
