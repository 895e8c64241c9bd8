/*
 * plan.c - fault schedules as text (hn_run_trial_parse/format/check) and
 * the planner (hn_run_plan): which trials a scenario runs, from its
 * discovered fail points and its seed.
 *
 * Layout: the seeded PRNG; fault kinds, models and the schedule syntax;
 * the planner (rules in the comment above it, for users in docs/cli.md).
 */
#include "hn_runner_int.h"
#include "hn_faults.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* splitmix64: tiny, seedable, and the same on every machine. */
uint64_t hn__mix_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0 (rejection sampling: no modulo bias). */
uint64_t hn__mix_below(uint64_t *s, uint64_t n)
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, x;
    do
        x = hn__mix_next(s);
    while (x >= lim);
    return x % n;
}
/* ---------------------------------------------------- fault schedules */

const char *hn_fault_kind_name(int kind)
{
    static const char *const names[HN_F__COUNT] = {"kill", "powercut", "ioerr", "corrupt"};
    return kind >= 0 && kind < HN_F__COUNT ? names[kind] : "?";
}

static const char *const pc_names[HN_PC__COUNT] = {"strict", "keep-some", "torn",
                                                   "ext4-ordered"};

const char *hn_pc_model_name(int model)
{
    return model >= 0 && model < HN_PC__COUNT ? pc_names[model] : "?";
}

int hn_pc_model_parse(const char *s, size_t n)
{
    for (int i = 0; i < HN_PC__COUNT; i++)
        if (strlen(pc_names[i]) == n && memcmp(pc_names[i], s, n) == 0)
            return i;
    return -1;
}

static const char *const corrupt_names[HN_C__COUNT] = {
    "truncate", "bitflip", "zero-sector", "delete", "sink-bitflip", "foreign-config",
    "sink-value-rot"};

const char *hn_corrupt_name(int kind)
{
    return kind >= 0 && kind < HN_C__COUNT ? corrupt_names[kind] : "?";
}

static int corrupt_parse(const char *s, size_t n)
{
    for (int i = 0; i < HN_C__COUNT; i++)
        if (strlen(corrupt_names[i]) == n && memcmp(corrupt_names[i], s, n) == 0)
            return i;
    return -1;
}

/* errno names an I/O-error fault may use (numbers are accepted too). */
static const struct {
    const char *name;
    int err;
} err_names[] = {{"EIO", EIO},       {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT},
                 {"EROFS", EROFS},   {"EFBIG", EFBIG},   {"EINTR", EINTR},
                 {"EAGAIN", EAGAIN}, {"ENOMEM", ENOMEM}, {"EACCES", EACCES},
                 {"EPERM", EPERM},   {"ENOENT", ENOENT}, {"EBADF", EBADF}};

static int valid_point(const char *s, size_t n)
{
    if (n == 0 || n > HN_POINT_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~' || s[i] == ',' || s[i] == ':' || s[i] == '*' ||
            s[i] == '@')
            return 0;
    return 1;
}

/* "POINT:K" in [s, e) into f->point, f->k. */
static int parse_point_k(const char *s, const char *e, hn_fault *f)
{
    const char *colon = memchr(s, ':', (size_t)(e - s));
    if (!colon || !valid_point(s, (size_t)(colon - s)) || hn_parse_u64(colon + 1, (size_t)(e - (colon + 1)), &f->k) < 0 ||
        f->k == 0)
        return -1;
    memcpy(f->point, s, (size_t)(colon - s));
    f->point[colon - s] = 0;
    return 0;
}

/* "NAME[/SEED]" in [s, e): the name's length, the seed into *seed. */
static int parse_seeded(const char *s, const char *e, size_t *nlen, uint64_t *seed)
{
    const char *slash = memchr(s, '/', (size_t)(e - s));
    *seed = 0;
    *nlen = (size_t)((slash ? slash : e) - s);
    if (slash && hn_parse_u64(slash + 1, (size_t)(e - (slash + 1)), seed) < 0)
        return -1;
    return 0;
}

/* One entry [p, e).  Returns 0, or -1 with *why set. */
static int parse_fault(const char *p, const char *e, hn_fault *f, const char **why)
{
    size_t ncolon = 0, nlen;
    const char *body;
    memset(f, 0, sizeof *f);
    for (const char *q = p; q < e; q++)
        ncolon += *q == ':';
    *why = "expected POINT:K, kill:POINT:K, discard:POINT:K, powercut:MODEL@POINT:K, "
           "powercut:MODEL:POS, ioerr:POINT:K:ERRNO or corrupt:KIND@POINT:K";
    if (ncolon == 1) { /* bare POINT:K: a kill, as schedules were written before */
        f->kind = HN_F_KILL;
        *why = "expected POINT:K with K >= 1";
        return parse_point_k(p, e, f);
    }
#define PREFIX(s) ((size_t)(e - p) > sizeof s - 1 && memcmp(p, s, sizeof s - 1) == 0)
    if (PREFIX("kill:")) {
        f->kind = HN_F_KILL;
        *why = "expected kill:POINT:K with K >= 1";
        return parse_point_k(p + 5, e, f);
    }
    if (PREFIX("discard:")) {
        f->kind = HN_F_KILL;
        f->discard = 1;
        *why = "expected discard:POINT:K with K >= 1";
        return parse_point_k(p + 8, e, f);
    }
    if (PREFIX("powercut:")) {
        const char *at, *colon;
        f->kind = HN_F_POWERCUT;
        body = p + 9;
        at = memchr(body, '@', (size_t)(e - body));
        colon = memchr(body, ':', (size_t)(e - body));
        *why = "expected powercut:MODEL[/SEED]@POINT:K or powercut:MODEL[/SEED]:POS, MODEL "
               "one of strict, keep-some, torn, ext4-ordered";
        if (at) {
            if (parse_seeded(body, at, &nlen, &f->seed) < 0 ||
                (f->model = hn_pc_model_parse(body, nlen)) < 0)
                return -1;
            return parse_point_k(at + 1, e, f);
        }
        if (!colon || parse_seeded(body, colon, &nlen, &f->seed) < 0 ||
            (f->model = hn_pc_model_parse(body, nlen)) < 0)
            return -1;
        return hn_parse_u64(colon + 1, (size_t)(e - (colon + 1)), &f->k);
    }
    if (PREFIX("ioerr:")) {
        const char *last;
        f->kind = HN_F_IOERR;
        body = p + 6;
        last = e;
        while (last > body && last[-1] != ':')
            last--;
        *why = "expected ioerr:POINT:K:ERRNO, ERRNO a name such as EIO or ENOSPC, or a number";
        if (last <= body || last == e || parse_point_k(body, last - 1, f) < 0)
            return -1;
        for (size_t i = 0; i < sizeof err_names / sizeof *err_names; i++)
            if (strlen(err_names[i].name) == (size_t)(e - last) &&
                memcmp(err_names[i].name, last, (size_t)(e - last)) == 0)
                f->err = err_names[i].err;
        if (!f->err) {
            uint64_t v;
            if (hn_parse_u64(last, (size_t)(e - last), &v) < 0 || v == 0 || v > 4095)
                return -1;
            f->err = (int)v;
        }
        return 0;
    }
    if (PREFIX("corrupt:")) {
        const char *at;
        f->kind = HN_F_CORRUPT;
        body = p + 8;
        at = memchr(body, '@', (size_t)(e - body));
        *why = "expected corrupt:KIND[/SEED]@POINT:K, KIND one of truncate, bitflip, "
               "zero-sector, delete, sink-bitflip, foreign-config, sink-value-rot";
        if (!at || parse_seeded(body, at, &nlen, &f->seed) < 0 ||
            (f->corrupt = corrupt_parse(body, nlen)) < 0)
            return -1;
        return parse_point_k(at + 1, e, f);
    }
#undef PREFIX
    return -1;
}

int hn_run_trial_parse(const char *spec, hn_trial *t, pl_errbuf *eb)
{
    const char *p = spec;
    memset(t, 0, sizeof *t);
    if (!*spec)
        return pl_err(eb, PL_EUSAGE, "--trial: empty (expected POINT:K[,POINT:K...])");
    for (;;) {
        const char *end = strchr(p, ','), *why;
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (t->nfaults == HN_MAX_CRASHES)
            return pl_err(eb, PL_EUSAGE, "--trial '%s': more than %d faults", spec,
                          HN_MAX_CRASHES);
        if (parse_fault(p, p + len, &t->fault[t->nfaults], &why) < 0)
            return pl_err(eb, PL_EUSAGE, "--trial '%s': bad entry '%.*s' (%s)", spec,
                          (int)len, p, why);
        /* a power cut comes first, or last after the faults of the (traced)
         * processes it cuts, never both */
        if (t->fault[t->nfaults].kind == HN_F_POWERCUT && t->nfaults > 0 &&
            (end || t->fault[0].kind == HN_F_POWERCUT))
            return pl_err(eb, PL_EUSAGE,
                          "--trial '%s': a power cut can only be the first fault or, after "
                          "others, the last ('%.*s')", spec, (int)len, p);
        t->nfaults++;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

static const char *err_name(int err, char *buf, size_t n)
{
    for (size_t i = 0; i < sizeof err_names / sizeof *err_names; i++)
        if (err_names[i].err == err)
            return err_names[i].name;
    snprintf(buf, n, "%d", err);
    return buf;
}

/* One fault as text; snprintf style. */
static int format_fault(const hn_fault *f, char *buf, size_t n)
{
    char seed[32] = "", eb[16];
    if (f->seed)
        snprintf(seed, sizeof seed, "/%llu", (unsigned long long)f->seed);
    switch (f->kind) {
    case HN_F_POWERCUT:
        if (f->point[0])
            return snprintf(buf, n, "powercut:%s%s@%s:%llu", hn_pc_model_name(f->model), seed,
                            f->point, (unsigned long long)f->k);
        return snprintf(buf, n, "powercut:%s%s:%llu", hn_pc_model_name(f->model), seed,
                        (unsigned long long)f->k);
    case HN_F_IOERR:
        return snprintf(buf, n, "ioerr:%s:%llu:%s", f->point, (unsigned long long)f->k,
                        err_name(f->err, eb, sizeof eb));
    case HN_F_CORRUPT:
        return snprintf(buf, n, "corrupt:%s%s@%s:%llu", hn_corrupt_name(f->corrupt), seed,
                        f->point, (unsigned long long)f->k);
    default:
        return snprintf(buf, n, "%s%s:%llu", f->discard ? "discard:" : "", f->point,
                        (unsigned long long)f->k);
    }
}

int hn_run_trial_format(const hn_trial *t, char *buf, size_t n)
{
    size_t o = 0;
    if (n)
        buf[0] = 0;
    for (int i = 0; i < t->nfaults; i++) {
        int w;
        if (i) {
            if (o + 1 < n)
                buf[o] = ',', buf[o + 1] = 0;
            o++;
        }
        w = format_fault(&t->fault[i], buf + (o < n ? o : n), o < n ? n - o : 0);
        if (w < 0)
            return w;
        o += (size_t)w;
    }
    return (int)o;
}

int hn_run_trial_check(const hn_trial *t, pl_errbuf *eb)
{
    for (int i = 0; i < t->nfaults; i++)
        if (t->fault[i].kind != HN_F_KILL && t->fault[i].kind != HN_F_POWERCUT &&
            t->fault[i].kind != HN_F_IOERR && t->fault[i].kind != HN_F_CORRUPT) {
            char spec[HN_POINT_MAX + 96];
            format_fault(&t->fault[i], spec, sizeof spec);
            return pl_err(eb, PL_EUSAGE, "fault '%s': %s faults are not implemented yet", spec,
                          hn_fault_kind_name(t->fault[i].kind));
        }
    return 0;
}

/* ---------------------------------------------------------------- planner */

/*
 * Planning rules (docs/cli.md explains them to users):
 *  - Candidates per point: every hit 1..count (hits = all), the listed hits
 *    that exist (hits = list), or up to `sample` of them (hits = sample N).
 *  - Within the budget everything is taken.  Otherwise, in rounds that give
 *    each point one pick per pass (points in name order): (a) the first and
 *    the last hit of every point; (b) the hits at checkpoint boundaries -
 *    every hit of a per-cycle point (ckpt, sink: few hits), and hits
 *    n*checkpoint_every and n*checkpoint_every+1 of a per-event point - taken
 *    in a spreading order so that a partial take still covers the run;
 *    (c) the rest of the budget shared evenly between points with candidates
 *    left, each share a stratified random sample (one pick in each of q equal
 *    slices of the point's candidates) from the scenario seed.
 *  - A point is per-event when it is hit more often than the run has commit
 *    cycles (+2 for the epoch and final checkpoints).
 *  - crashes > 1: each later crash is drawn from the trial's own seed among
 *    all selected points; per-event points at a hit in 1..checkpoint_every,
 *    per-cycle points at hit 1, so that it lands during recovery, before the
 *    restarted process completes its first cycle.
 */

typedef struct pplan {
    const hn_point *pt;
    uint64_t ncand;          /* candidates */
    uint64_t *list;          /* sorted; NULL: candidates are 1..ncand */
    uint64_t quota;          /* at most this many trials */
    int per_event;
    uint64_t *chosen;
    size_t nchosen, cap;
    uint64_t *set;           /* open addressing on k (k >= 1, 0 = empty) */
    size_t setcap;
    uint64_t rng;
} pplan;

static uint64_t cand_at(const pplan *p, uint64_t i)
{
    return p->list ? p->list[i] : i + 1;
}

static int is_chosen(const pplan *p, uint64_t k)
{
    size_t m = p->setcap - 1, i = (size_t)(k * UINT64_C(0x9e3779b97f4a7c15) >> 17) & m;
    if (!p->setcap)
        return 0;
    while (p->set[i]) {
        if (p->set[i] == k)
            return 1;
        i = (i + 1) & m;
    }
    return 0;
}

/* Returns 1 when added, 0 when already chosen or over quota, -ENOMEM. */
static int choose(pplan *p, uint64_t k)
{
    size_t m, i;
    if (p->nchosen >= p->quota || is_chosen(p, k))
        return 0;
    if (p->nchosen + 1 > p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 16;
        uint64_t *n = realloc(p->chosen, nc * sizeof *n);
        if (!n)
            return -ENOMEM;
        p->chosen = n;
        p->cap = nc;
    }
    if ((p->nchosen + 1) * 2 > p->setcap) {
        size_t nc = p->setcap ? p->setcap * 2 : 64;
        uint64_t *ns = calloc(nc, sizeof *ns);
        if (!ns)
            return -ENOMEM;
        for (size_t j = 0; j < p->nchosen; j++) {
            uint64_t v = p->chosen[j];
            size_t s = (size_t)(v * UINT64_C(0x9e3779b97f4a7c15) >> 17) & (nc - 1);
            while (ns[s])
                s = (s + 1) & (nc - 1);
            ns[s] = v;
        }
        free(p->set);
        p->set = ns;
        p->setcap = nc;
    }
    p->chosen[p->nchosen++] = k;
    m = p->setcap - 1;
    i = (size_t)(k * UINT64_C(0x9e3779b97f4a7c15) >> 17) & m;
    while (p->set[i])
        i = (i + 1) & m;
    p->set[i] = k;
    return 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Bit-reversal order of 0..n-1: any prefix of it is spread over the range. */
static void spread_order(uint64_t *v, size_t n)
{
    size_t pow = 1, o = 0;
    int bits = 0;
    uint64_t *tmp;
    if (n < 3)
        return;
    while (pow < n) {
        pow <<= 1;
        bits++;
    }
    tmp = malloc(n * sizeof *tmp);
    if (!tmp)
        return; /* plain order is still a valid order */
    for (size_t i = 0; i < pow; i++) {
        size_t r = 0;
        for (int b = 0; b < bits; b++)
            if (i & ((size_t)1 << b))
                r |= (size_t)1 << (bits - 1 - b);
        if (r < n)
            tmp[o++] = v[r];
    }
    memcpy(v, tmp, n * sizeof *v);
    free(tmp);
}

/* Boundary hits of one point, in spreading order; *out malloc'd. */
static int boundaries(const pplan *p, uint64_t every, uint64_t **out, size_t *n)
{
    size_t cap = 16, m = 0;
    uint64_t *v = malloc(cap * sizeof *v);
    if (!v)
        return -ENOMEM;
#define PUSH(x)                                                                          \
    do {                                                                                 \
        if (m == cap) {                                                                  \
            uint64_t *nv = realloc(v, (cap *= 2) * sizeof *v);                           \
            if (!nv) {                                                                   \
                free(v);                                                                 \
                return -ENOMEM;                                                          \
            }                                                                            \
            v = nv;                                                                      \
        }                                                                                \
        v[m++] = (x);                                                                    \
    } while (0)
    if (!p->per_event) {
        /* every hit of a per-cycle point sits at a boundary; a huge count
         * cannot be per-cycle, so this stays small */
        for (uint64_t i = 0; i < p->ncand; i++)
            PUSH(cand_at(p, i));
    } else if (p->list) {
        for (uint64_t i = 0; i < p->ncand; i++) {
            uint64_t k = p->list[i];
            if (k % every == 0 || (k > 1 && k % every == 1))
                PUSH(k);
        }
    } else {
        for (uint64_t b = every; b <= p->ncand && b >= every; b += every) {
            PUSH(b);
            if (b + 1 <= p->ncand)
                PUSH(b + 1);
        }
    }
#undef PUSH
    spread_order(v, m);
    *out = v;
    *n = m;
    return 0;
}

/* Stratified pick of q new hits of p: one per slice of its candidates. */
static int fill_point(pplan *p, uint64_t q, int64_t *left)
{
    int added = 0;
    for (uint64_t j = 0; j < q && *left > 0; j++) {
        uint64_t lo = (uint64_t)((unsigned __int128)j * p->ncand / q);
        uint64_t hi = (uint64_t)((unsigned __int128)(j + 1) * p->ncand / q);
        uint64_t span = hi - lo, start;
        if (span == 0)
            continue;
        start = hn__mix_below(&p->rng, span);
        for (uint64_t t = 0; t < span; t++) {
            int rc = choose(p, cand_at(p, lo + (start + t) % span));
            if (rc < 0)
                return rc;
            if (rc == 1) {
                added++;
                (*left)--;
                break;
            }
        }
    }
    return added;
}

int hn_run_plan(const hn_scenario *sc, const hn_point *pts, int npts, uint64_t records,
                int budget, hn_trial **out, int *nout, uint64_t *candidates, pl_errbuf *eb)
{
    pplan *pp = NULL;
    hn_trial *tr = NULL;
    uint64_t every = sc->checkpoint_every ? sc->checkpoint_every : 1;
    uint64_t cycles = records / every + 2, total_cand = 0;
    int64_t left = budget > 0 ? budget : sc->budget > 0 ? sc->budget : 2000;
    int ret = 0, ntr = 0;
    int64_t want;

    *out = NULL;
    *nout = 0;
    *candidates = 0;
    if (npts <= 0)
        return 0;
    pp = calloc((size_t)npts, sizeof *pp);
    if (!pp)
        return pl_err(eb, -ENOMEM, "planning: out of memory");
    for (int i = 0; i < npts; i++) {
        pplan *p = &pp[i];
        p->pt = &pts[i];
        p->per_event = pts[i].count > cycles;
        p->rng = sc->seed ^ XXH3_64bits(pts[i].name, strlen(pts[i].name));
        if (sc->hits_mode == HN_HITS_LIST) {
            p->list = malloc(((size_t)sc->nhits + 1) * sizeof *p->list);
            if (!p->list) {
                ret = pl_err(eb, -ENOMEM, "planning: out of memory");
                goto done;
            }
            for (int h = 0; h < sc->nhits; h++)
                if (sc->hits[h] >= 1 && sc->hits[h] <= pts[i].count)
                    p->list[p->ncand++] = sc->hits[h];
            qsort(p->list, (size_t)p->ncand, sizeof *p->list, cmp_u64);
            {
                uint64_t u = 0;
                for (uint64_t h = 0; h < p->ncand; h++)
                    if (h == 0 || p->list[h] != p->list[u - 1])
                        p->list[u++] = p->list[h];
                p->ncand = u;
            }
        } else
            p->ncand = pts[i].count;
        p->quota = p->ncand;
        if (sc->hits_mode == HN_HITS_SAMPLE && (uint64_t)sc->sample < p->quota)
            p->quota = sc->sample > 0 ? (uint64_t)sc->sample : 0;
        total_cand += p->quota;
    }
    *candidates = total_cand;

    /* (a) first and last hit of every point */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < npts && left > 0; i++) {
            pplan *p = &pp[i];
            int rc;
            if (!p->ncand)
                continue;
            rc = choose(p, cand_at(p, pass ? p->ncand - 1 : 0));
            if (rc < 0) {
                ret = -ENOMEM;
                goto done;
            }
            left -= rc;
        }

    /* (b) checkpoint boundaries, round robin */
    {
        uint64_t **bl = calloc((size_t)npts, sizeof *bl);
        size_t *bn = calloc((size_t)npts, sizeof *bn), *bi = calloc((size_t)npts, sizeof *bi);
        int more = 1;
        if (!bl || !bn || !bi) {
            free(bl);
            free(bn);
            free(bi);
            ret = -ENOMEM;
            goto done;
        }
        for (int i = 0; i < npts && ret == 0; i++)
            if (pp[i].ncand && boundaries(&pp[i], every, &bl[i], &bn[i]) < 0)
                ret = -ENOMEM;
        while (ret == 0 && more && left > 0) {
            more = 0;
            for (int i = 0; i < npts && left > 0; i++) {
                while (bi[i] < bn[i]) {
                    int rc = choose(&pp[i], bl[i][bi[i]++]);
                    if (rc < 0) {
                        ret = -ENOMEM;
                        break;
                    }
                    if (rc == 1) {
                        left--;
                        break;
                    }
                }
                if (bi[i] < bn[i])
                    more = 1;
            }
        }
        for (int i = 0; i < npts; i++)
            free(bl[i]);
        free(bl);
        free(bn);
        free(bi);
        if (ret) {
            ret = -ENOMEM;
            goto done;
        }
    }

    /* (c) the rest, shared evenly; leftovers of saturated points go round again */
    while (left > 0) {
        int64_t elig = 0, added = 0, share, extra;
        for (int i = 0; i < npts; i++)
            if (pp[i].nchosen < pp[i].quota)
                elig++;
        if (!elig)
            break;
        share = left / elig;
        extra = left % elig;
        for (int i = 0; i < npts && left > 0; i++) {
            pplan *p = &pp[i];
            uint64_t room = p->quota - p->nchosen, q;
            int rc;
            if (!room)
                continue;
            q = (uint64_t)share + (extra > 0 ? 1 : 0);
            if (extra > 0)
                extra--;
            if (q > room)
                q = room;
            if (!q)
                continue;
            rc = fill_point(p, q, &left);
            if (rc < 0) {
                ret = -ENOMEM;
                goto done;
            }
            added += rc;
        }
        if (!added) {
            /* every slice hit already chosen hits: take the first free ones */
            for (int i = 0; i < npts && left > 0; i++)
                for (uint64_t c = 0; c < pp[i].ncand && left > 0 &&
                                     pp[i].nchosen < pp[i].quota; c++) {
                    int rc = choose(&pp[i], cand_at(&pp[i], c));
                    if (rc < 0) {
                        ret = -ENOMEM;
                        goto done;
                    }
                    left -= rc;
                    added += rc;
                }
            if (!added)
                break;
        }
    }

    want = 0;
    for (int i = 0; i < npts; i++)
        want += (int64_t)pp[i].nchosen;
    tr = calloc(want ? (size_t)want : 1, sizeof *tr);
    if (!tr) {
        ret = -ENOMEM;
        goto done;
    }
    for (int i = 0; i < npts; i++) {
        pplan *p = &pp[i];
        if (p->nchosen) /* a point the budget left out has no array at all */
            qsort(p->chosen, p->nchosen, sizeof *p->chosen, cmp_u64);
        for (size_t j = 0; j < p->nchosen; j++) {
            hn_trial *t = &tr[ntr++];
            uint64_t s = sc->seed ^ XXH3_64bits(p->pt->name, strlen(p->pt->name)) ^
                         (p->chosen[j] * UINT64_C(0xd1b54a32d192ed03));
            t->fault[0].kind = HN_F_KILL;
            snprintf(t->fault[0].point, sizeof t->fault[0].point, "%s", p->pt->name);
            t->fault[0].k = p->chosen[j];
            t->nfaults = 1;
            for (int c = 1; c < sc->crashes && c < HN_MAX_CRASHES; c++) {
                const pplan *q = &pp[hn__mix_below(&s, (uint64_t)npts)];
                uint64_t lim = every < q->pt->count ? every : q->pt->count;
                t->fault[c].kind = HN_F_KILL;
                snprintf(t->fault[c].point, sizeof t->fault[c].point, "%s", q->pt->name);
                t->fault[c].k = q->per_event && lim > 1 ? 1 + hn__mix_below(&s, lim) : 1;
                t->nfaults++;
            }
        }
    }
    *out = tr;
    *nout = ntr;
    tr = NULL;

done:
    if (ret < 0)
        pl_err(eb, ret, "planning: out of memory");
    free(tr);
    for (int i = 0; pp && i < npts; i++) {
        free(pp[i].list);
        free(pp[i].chosen);
        free(pp[i].set);
    }
    free(pp);
    return ret;
}


/* ---------------------------------------------------- power-cut planning */

/* Positions of the hits of the points the scenario selects (powercut-at =
 * points): the cut lands when the process reaches the point. */
static int hit_positions(const hn_scenario *sc, const hn_cut_trace *cut, uint64_t **pos,
                         size_t *n)
{
    uint64_t *v = malloc((hn_cut_nrecords(cut) + 1) * sizeof *v), k;
    size_t cnt = 0;
    if (!v)
        return -ENOMEM;
    for (uint64_t p = 0; p < hn_cut_nrecords(cut); p++) {
        char name[HN_POINT_MAX + 1];
        int match = sc->npatterns == 0;
        if (!hn_cut_hit_at(cut, p, name, sizeof name, &k))
            continue;
        for (int i = 0; i < sc->npatterns && !match; i++)
            match = hn_scenario_pattern_match(sc->patterns[i], name);
        if (match)
            v[cnt++] = p;
    }
    *pos = v;
    *n = cnt;
    return 0;
}

int hn_run_plan_powercut(const hn_scenario *sc, const hn_cut_trace *cut, hn_trial **out,
                         int *nout, uint64_t *candidates, pl_errbuf *eb)
{
    uint64_t *pos[HN_PC__COUNT] = {0};
    size_t npos[HN_PC__COUNT] = {0}, total = 0;
    int nm = sc->npc_models, ret = 0, ntr = 0;
    int64_t budget = sc->pc_budget > 0 ? sc->pc_budget : 200;
    hn_trial *tr = NULL;

    *out = NULL;
    *nout = 0;
    *candidates = 0;
    if (nm <= 0)
        return 0;
    for (int i = 0; i < nm && ret == 0; i++) {
        int m = sc->pc_models[i];
        if (sc->pc_at_points) {
            if ((ret = hit_positions(sc, cut, &pos[i], &npos[i])) < 0)
                pl_err(eb, ret, "planning: out of memory");
        } else
            ret = hn_cut_candidates(cut, m, &pos[i], &npos[i], eb);
        total += npos[i];
    }
    if (ret < 0)
        goto done;
    *candidates = total;
    tr = calloc(total ? total : 1, sizeof *tr);
    if (!tr) {
        ret = pl_err(eb, -ENOMEM, "planning: out of memory");
        goto done;
    }
    for (int i = 0; i < nm; i++) {
        int m = sc->pc_models[i];
        /* an even share of the budget; what a small model leaves goes on */
        uint64_t share = (uint64_t)budget / (uint64_t)(nm - i), take;
        take = npos[i] < share ? npos[i] : share;
        budget -= (int64_t)take;
        if (take < npos[i])
            spread_order(pos[i], npos[i]); /* any prefix covers the whole run */
        if (take)
            qsort(pos[i], (size_t)take, sizeof *pos[i], cmp_u64);
        for (uint64_t j = 0; j < take; j++) {
            hn_trial *t = &tr[ntr++];
            hn_fault *f = &t->fault[0];
            uint64_t p = pos[i][j], k;
            t->nfaults = 1;
            f->kind = HN_F_POWERCUT;
            f->model = m;
            f->k = p;
            /* a cut at a fail point hit is written as that hit: readable,
             * and it names the same cut in another trace of the same run */
            if (hn_cut_hit_at(cut, p, f->point, sizeof f->point, &k) &&
                hn_cut_hit_pos(cut, f->point, k) == (int64_t)p)
                f->k = k;
            else
                f->point[0] = 0;
            if (m == HN_PC_KEEP_SOME || m == HN_PC_TORN) {
                uint64_t key[3] = {sc->seed, p, (uint64_t)m};
                f->seed = XXH3_64bits(key, sizeof key) % 1000000 + 1;
            }
        }
    }
    *out = tr;
    *nout = ntr;
    tr = NULL;
done:
    free(tr);
    for (int i = 0; i < nm; i++)
        free(pos[i]);
    return ret;
}
