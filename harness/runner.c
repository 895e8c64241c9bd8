/*
 * runner.c - `replayproof run` and `replayproof replay` (hn_run.h): golden
 * run, discovery, planning, and the trials on a pool of parallel slots.
 *
 * Layout: small helpers (clock, paths, files, rm -rf, quoting, PRNG);
 * verdict names and trial specs; the planner; child processes (environment,
 * posix_spawn into their own process group, pidfd waits with deadlines);
 * reading exports and finding the first differing row; the golden phase and
 * discovery; the trial state machine; the pool; the two entry points.
 *
 * Why it is shaped this way:
 *  - The pipeline is a black box driven through its command line, so a trial
 *    is a sequence of processes.  Each slot of the pool owns one trial and
 *    advances its state machine when its current process ends; the main
 *    process polls one pidfd per busy slot with the nearest deadline as the
 *    timeout.  No threads, no SIGCHLD handler, no reaping of children that
 *    are not ours, and the results database is written by this process only.
 *  - Every child gets its own process group, so a timeout kills a shell
 *    script together with what it started (a hang is never left behind).
 *  - A crash must be the one we armed: rp-crash.so appends a line to the
 *    trace file before it sends SIGKILL, so a SIGKILL without a new trace
 *    line (the OOM killer, say) is told apart from ours.
 *  - Work dirs default to tmpfs: a process crash does not need disk
 *    durability (the page cache survives a killed process, which is what a
 *    crash trial models), and the pipeline's many fsyncs then cost nothing.
 */
#include "hn_run.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "pl_fs.h"

extern char **environ;

#define MAX_ARGS 64
#define DB_BATCH 256          /* trial rows per results transaction, at most */
#define DB_FLUSH_NS 1000000000LL /* ... or this long since the last one */
#define KEEP_FAILURES 1000    /* failing trials listed in the summary */
#define POLL_MAX_MS 200       /* wake up at least this often (stop flag, hooks) */

static const char *const tbl_name[3] = {"bars", "late", "dlq"};

/* ---------------------------------------------------------------- helpers */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* snprintf into a PATH_MAX buffer; too long is an error, never a cut path. */
static int pathf(char *out, pl_errbuf *eb, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int pathf(char *out, pl_errbuf *eb, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(out, PATH_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= PATH_MAX)
        return pl_err(eb, -ENAMETOOLONG, "path too long: %.200s...", out);
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D)
        return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
    return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* rm -rf; best effort (a work dir that cannot be removed only costs space). */
static void rm_rf(const char *path)
{
    if (path && *path)
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Whole file, NUL-terminated, malloc'd; NULL with errno set on failure. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rbe");
    char *buf = NULL;
    size_t n = 0, cap = 0, r;
    if (!f)
        return NULL;
    for (;;) {
        if (cap - n < 4096) {
            char *nb = realloc(buf, cap ? cap * 2 : 8192);
            if (!nb) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
            cap = cap ? cap * 2 : 8192;
        }
        r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

/* The last few lines of a file (at most n-1 bytes), one line, with " | "
 * between lines; "" when the file is empty or missing. */
static void tail_of(const char *path, char *out, size_t n)
{
    char buf[1024];
    ssize_t got;
    off_t size;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t o = 0;
    out[0] = 0;
    if (fd < 0)
        return;
    size = lseek(fd, 0, SEEK_END);
    if (size > (off_t)sizeof buf - 1)
        lseek(fd, size - (off_t)(sizeof buf - 1), SEEK_SET);
    else
        lseek(fd, 0, SEEK_SET);
    got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got <= 0)
        return;
    buf[got] = 0;
    while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r'))
        buf[--got] = 0;
    for (char *p = buf; *p && o + 4 < n; p++) {
        if (*p == '\n') {
            memcpy(out + o, " | ", 3);
            o += 3;
        } else
            out[o++] = (*p >= 0x20 && *p != 0x7f) ? *p : '?';
    }
    out[o] = 0;
}

/* Append s to out, quoted for a POSIX shell when it needs to be. */
static void shell_quote(char *out, size_t n, const char *s)
{
    size_t o = strlen(out);
    int plain = *s != 0;
    for (const char *c = s; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                    "-_./=:,+@%", *c))
            plain = 0;
    if (plain) {
        snprintf(out + o, n - o, "%s", s);
        return;
    }
    if (o + 1 < n)
        out[o++] = '\'';
    for (const char *c = s; *c && o + 5 < n; c++) {
        if (*c == '\'') {
            memcpy(out + o, "'\\''", 4);
            o += 4;
        } else
            out[o++] = *c;
    }
    if (o + 1 < n)
        out[o++] = '\'';
    out[o < n ? o : n - 1] = 0;
}

/* splitmix64: tiny, seedable, and the same on every machine. */
static uint64_t mix_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0 (rejection sampling: no modulo bias). */
static uint64_t mix_below(uint64_t *s, uint64_t n)
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, x;
    do
        x = mix_next(s);
    while (x >= lim);
    return x % n;
}

/* ------------------------------------------------------- verdicts, specs */

const char *hn_verdict_name(int v)
{
    static const char *const names[HN_V__COUNT] = {
        "converged", "diverged", "conflict", "crash-loop", "hang", "not-reached", "error"};
    return v >= 0 && v < HN_V__COUNT ? names[v] : "?";
}

const char *hn_sc_verdict_name(int v)
{
    static const char *const names[] = {"converged",       "no-points", "expectation-failed",
                                        "batch-disagrees", "failed",    "error"};
    return v >= 0 && v <= HN_SC_ERROR ? names[v] : "?";
}

static int valid_point(const char *s, size_t n)
{
    if (n == 0 || n > HN_POINT_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~' || s[i] == ',' || s[i] == ':' || s[i] == '*')
            return 0;
    return 1;
}

int hn_run_trial_parse(const char *spec, hn_trial *t, pl_errbuf *eb)
{
    const char *p = spec;
    memset(t, 0, sizeof *t);
    if (!*spec)
        return pl_err(eb, PL_EUSAGE, "--trial: empty (expected POINT:K[,POINT:K...])");
    for (;;) {
        const char *end = strchr(p, ','), *colon;
        size_t len = end ? (size_t)(end - p) : strlen(p);
        uint64_t k = 0;
        const char *d;
        colon = memchr(p, ':', len);
        if (t->ncrashes == HN_MAX_CRASHES)
            return pl_err(eb, PL_EUSAGE, "--trial '%s': more than %d crashes", spec,
                          HN_MAX_CRASHES);
        if (!colon || !valid_point(p, (size_t)(colon - p)))
            return pl_err(eb, PL_EUSAGE, "--trial '%s': bad entry '%.*s' (expected POINT:K)",
                          spec, (int)len, p);
        d = colon + 1;
        if (d == p + len)
            return pl_err(eb, PL_EUSAGE, "--trial '%s': entry '%.*s' has no hit number", spec,
                          (int)len, p);
        for (; d < p + len; d++) {
            if (*d < '0' || *d > '9' || k > (UINT64_MAX - (uint64_t)(*d - '0')) / 10)
                return pl_err(eb, PL_EUSAGE,
                              "--trial '%s': hit number in '%.*s' is not a positive integer",
                              spec, (int)len, p);
            k = k * 10 + (uint64_t)(*d - '0');
        }
        if (k == 0)
            return pl_err(eb, PL_EUSAGE, "--trial '%s': hit numbers start at 1 ('%.*s')",
                          spec, (int)len, p);
        memcpy(t->crash[t->ncrashes].point, p, (size_t)(colon - p));
        t->crash[t->ncrashes].point[colon - p] = 0;
        t->crash[t->ncrashes].k = k;
        t->ncrashes++;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

int hn_run_trial_format(const hn_trial *t, char *buf, size_t n)
{
    size_t o = 0;
    if (n)
        buf[0] = 0;
    for (int i = 0; i < t->ncrashes; i++) {
        int w = snprintf(buf + (o < n ? o : n), o < n ? n - o : 0, "%s%s:%llu", i ? "," : "",
                         t->crash[i].point, (unsigned long long)t->crash[i].k);
        if (w < 0)
            return w;
        o += (size_t)w;
    }
    return (int)o;
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
        start = mix_below(&p->rng, span);
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
        qsort(p->chosen, p->nchosen, sizeof *p->chosen, cmp_u64);
        for (size_t j = 0; j < p->nchosen; j++) {
            hn_trial *t = &tr[ntr++];
            uint64_t s = sc->seed ^ XXH3_64bits(p->pt->name, strlen(p->pt->name)) ^
                         (p->chosen[j] * UINT64_C(0xd1b54a32d192ed03));
            snprintf(t->crash[0].point, sizeof t->crash[0].point, "%s", p->pt->name);
            t->crash[0].k = p->chosen[j];
            t->ncrashes = 1;
            for (int c = 1; c < sc->crashes && c < HN_MAX_CRASHES; c++) {
                const pplan *q = &pp[mix_below(&s, (uint64_t)npts)];
                uint64_t lim = every < q->pt->count ? every : q->pt->count;
                snprintf(t->crash[c].point, sizeof t->crash[c].point, "%s", q->pt->name);
                t->crash[c].k = q->per_event && lim > 1 ? 1 + mix_below(&s, lim) : 1;
                t->ncrashes++;
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

/* -------------------------------------------------------- child processes */

typedef struct ctx {
    const hn_scenario *sc;
    const hn_run_opts *o;
    pl_errbuf *eb;
    int verbose;                  /* replay: describe every process */
    int keep;
    char bin[PATH_MAX];           /* the pipeline binary */
    char preload[PATH_MAX];       /* rp-crash.so */
    char dir[PATH_MAX];           /* this scenario's work dir */
    char logdir[PATH_MAX];
    char gold_out[PATH_MAX];      /* golden export: bars.csv late.csv dlq.csv */
    char *pargs[MAX_ARGS];        /* options for `run` */
    int npargs;
    char *bargs[MAX_ARGS];        /* the same without --checkpoint-every, for `batch` */
    int nbargs;
    char **env;                   /* inherited environment + scenario env */
    int nenv;
    char golden[3][33];
    int64_t golden_rows[3];
    int64_t timeout_ns;
    int max_restarts;
    /* "ASAN_OPTIONS=...verify_asan_link_order=0", given with the preload: an
     * AddressSanitizer build refuses to start when a preloaded library comes
     * before its runtime, unless told not to check */
    char asan_env[512];
} ctx;

typedef struct proc {
    pid_t pid;
    int pidfd;
    int64_t t0, deadline;
} proc;

static void note(const ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const ctx *c, const char *fmt, ...)
{
    char line[8192];
    va_list ap;
    if (!c->verbose || !c->o->hooks.note)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->o->hooks.note(c->o->hooks.ctx, line);
}

static size_t key_len(const char *kv)
{
    const char *eq = strchr(kv, '=');
    return eq ? (size_t)(eq - kv) : strlen(kv);
}

/* Variables the harness owns: an inherited value would arm or count
 * something nobody asked for. */
static int harness_var(const char *kv)
{
    return strncmp(kv, "RP_FIU_", 7) == 0 || strncmp(kv, "REFPIPE_FIU_EVENTS=", 19) == 0;
}

static int env_init(ctx *c)
{
    const hn_scenario *sc = c->sc;
    int n = 0;
    for (char **e = environ; *e; e++)
        n++;
    c->env = calloc((size_t)(n + sc->nenv + 1), sizeof *c->env);
    if (!c->env)
        return pl_err(c->eb, -ENOMEM, "out of memory");
    for (char **e = environ; *e; e++) {
        int over = harness_var(*e);
        for (int i = 0; i < sc->nenv && !over; i++)
            if (key_len(*e) == key_len(sc->env[i]) &&
                strncmp(*e, sc->env[i], key_len(*e)) == 0)
                over = 1;
        if (!over)
            c->env[c->nenv++] = *e;
    }
    for (int i = 0; i < sc->nenv; i++)
        c->env[c->nenv++] = (char *)sc->env[i];
    c->env[c->nenv] = NULL;
    return 0;
}

/* Describe a process the way a user can paste it into a shell: the
 * variables that differ from the caller's environment, then argv. */
static void describe(const ctx *c, char *out, size_t n, char *const argv[],
                     char *const extra[], int nextra)
{
    out[0] = 0;
    for (int i = 0; i < c->sc->nenv; i++) {
        shell_quote(out, n, c->sc->env[i]);
        strncat(out, " ", n - strlen(out) - 1);
    }
    for (int i = 0; i < nextra; i++) {
        shell_quote(out, n, extra[i]);
        strncat(out, " ", n - strlen(out) - 1);
    }
    for (int i = 0; argv[i]; i++) {
        if (i)
            strncat(out, " ", n - strlen(out) - 1);
        shell_quote(out, n, argv[i]);
    }
}

/*
 * Start argv[0] with the base environment plus extra ("KEY=VALUE", replacing
 * a base variable of the same name), stdin from /dev/null, stdout to outpath
 * and stderr to errpath (NULL: to outpath too), in a new process group.
 */
static int spawn(const ctx *c, char *const argv[], char *const extra[], int nextra,
                 const char *outpath, const char *errpath, proc *p)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    char **envp;
    int n = 0, rc, ret = 0;

    envp = calloc((size_t)(c->nenv + nextra + 1), sizeof *envp);
    if (!envp)
        return pl_err(c->eb, -ENOMEM, "out of memory");
    for (int i = 0; i < c->nenv; i++) {
        int over = 0;
        for (int j = 0; j < nextra && !over; j++)
            over = key_len(c->env[i]) == key_len(extra[j]) &&
                   strncmp(c->env[i], extra[j], key_len(extra[j])) == 0;
        if (!over)
            envp[n++] = c->env[i];
    }
    for (int j = 0; j < nextra; j++)
        envp[n++] = extra[j];
    envp[n] = NULL;

    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, outpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (errpath)
        posix_spawn_file_actions_addopen(&fa, 2, errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    else
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
    /* own process group: a timeout kills the whole tree (a script and what
     * it started); default signal handling and an empty mask, whatever the
     * harness uses itself */
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    memset(p, 0, sizeof *p);
    p->pidfd = -1;
    rc = posix_spawn(&p->pid, argv[0], &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    free(envp);
    if (rc != 0) {
        ret = pl_err_os(c->eb, rc, "cannot start %s (%s)", argv[0], argv[1] ? argv[1] : "");
        return ret;
    }
    p->t0 = now_ns();
    p->deadline = p->t0 + c->timeout_ns;
    p->pidfd = pidfd_open(p->pid, 0);
    if (p->pidfd < 0) {
        int err = errno;
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        return pl_err_os(c->eb, err, "pidfd_open(%d)", (int)p->pid);
    }
    return 0;
}

/* Collect an exited (or killed) child. */
static int reap(const ctx *c, proc *p, int *status)
{
    pid_t r;
    do
        r = waitpid(p->pid, status, 0);
    while (r < 0 && errno == EINTR);
    if (p->pidfd >= 0)
        close(p->pidfd);
    p->pidfd = -1;
    if (r < 0)
        return pl_err_os(c->eb, errno, "waitpid(%d)", (int)p->pid);
    return 0;
}

static void kill_tree(proc *p)
{
    kill(-p->pid, SIGKILL);
    kill(p->pid, SIGKILL);
}

/* Wait for one child, killing it at its deadline (*timed_out = 1). */
static int wait_sync(const ctx *c, proc *p, int *status, int *timed_out)
{
    *timed_out = 0;
    for (;;) {
        struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
        int64_t left = p->deadline - now_ns();
        int ms = left <= 0 ? 0 : left / 1000000 > POLL_MAX_MS ? POLL_MAX_MS
                                                                : (int)(left / 1000000) + 1;
        int r;
        if (c->o->stop && *c->o->stop) {
            kill_tree(p);
            reap(c, p, status);
            return pl_err(c->eb, -EINTR, "interrupted");
        }
        r = poll(&pfd, 1, ms);
        if (r < 0 && errno != EINTR)
            return pl_err_os(c->eb, errno, "poll");
        if (r > 0)
            return reap(c, p, status);
        if (now_ns() >= p->deadline) {
            kill_tree(p);
            *timed_out = 1;
            return reap(c, p, status);
        }
    }
}

/* "60s" or "1500ms": a timeout as the scenario would say it. */
static void dur_text(int64_t ns, char *out, size_t n)
{
    if (ns % 1000000000 == 0)
        snprintf(out, n, "%llds", (long long)(ns / 1000000000));
    else
        snprintf(out, n, "%lldms", (long long)(ns / 1000000));
}

static void status_text(int st, char *out, size_t n)
{
    if (WIFEXITED(st))
        snprintf(out, n, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) {
        const char *abbr = sigabbrev_np(WTERMSIG(st));
        snprintf(out, n, "killed by SIG%s", abbr ? abbr : "?");
    } else
        snprintf(out, n, "ended with wait status %#x", st);
}

/* Run a command to completion (golden phase).  Returns 0 with *status, or a
 * negative code; a timeout is reported as *timed_out with the tree killed. */
static int run_sync(const ctx *c, char *const argv[], char *const extra[], int nextra,
                    const char *outpath, const char *errpath, int *status, int *timed_out)
{
    proc p;
    char line[8192];
    int ret;
    describe(c, line, sizeof line, argv, extra, nextra);
    note(c, "$ %s", line);
    ret = spawn(c, argv, extra, nextra, outpath, errpath, &p);
    if (ret == 0)
        ret = wait_sync(c, &p, status, timed_out);
    return ret;
}

/* ------------------------------------------------------ exports and diffs */

/* Parse the "<32hex>  bars.csv  N rows" lines of an export or batch.
 * Returns 0 when all three tables were found. */
static int parse_digests(const char *path, char dig[3][33], int64_t rows[3])
{
    char *text = slurp(path, NULL), *line, *save = NULL;
    int found = 0;
    if (!text)
        return -1;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char hex[64], name[64];
        long long n;
        if (sscanf(line, "%63s %63s %lld rows", hex, name, &n) != 3 || strlen(hex) != 32 ||
            strspn(hex, "0123456789abcdef") != 32)
            continue;
        for (int i = 0; i < 3; i++) {
            char want[16];
            snprintf(want, sizeof want, "%s.csv", tbl_name[i]);
            if (strcmp(name, want) == 0) {
                memcpy(dig[i], hex, 33);
                rows[i] = n;
                found |= 1 << i;
            }
        }
    }
    free(text);
    return found == 7 ? 0 : -1;
}

static void cut_line(char *dst, const char *src, ssize_t len)
{
    if (len > 0 && src[len - 1] == '\n')
        len--;
    if (len >= HN_RES_LINE_MAX) {
        memcpy(dst, src, HN_RES_LINE_MAX - 4);
        memcpy(dst + HN_RES_LINE_MAX - 4, "...", 4);
    } else {
        memcpy(dst, src, (size_t)len);
        dst[len] = 0;
    }
}

/* First differing line of two CSV files.  Returns 1 with *d filled when
 * they differ, 0 when identical, -1 when one cannot be read. */
static int first_diff(const char *expected, const char *actual, const char *tbl, hn_res_div *d)
{
    FILE *fe = fopen(expected, "re"), *fa = fopen(actual, "re");
    char *le = NULL, *la = NULL;
    size_t ce = 0, ca = 0;
    int64_t line = 0;
    int ret = 0;
    memset(d, 0, sizeof *d);
    snprintf(d->tbl, sizeof d->tbl, "%s", tbl);
    if (!fe || !fa) {
        ret = -1;
        goto done;
    }
    for (;;) {
        ssize_t ne = getline(&le, &ce, fe), na = getline(&la, &ca, fa);
        line++;
        if (ne < 0 && na < 0)
            break;
        if (ne >= 0 && na >= 0 && ne == na && memcmp(le, la, (size_t)ne) == 0)
            continue;
        d->line = line;
        d->expected_eof = ne < 0;
        d->actual_eof = na < 0;
        if (ne >= 0)
            cut_line(d->expected, le, ne);
        if (na >= 0)
            cut_line(d->actual, la, na);
        ret = 1;
        break;
    }
done:
    free(le);
    free(la);
    if (fe)
        fclose(fe);
    if (fa)
        fclose(fa);
    return ret;
}

static void note_div(const ctx *c, const hn_res_div *d)
{
    note(c, "%s.csv line %lld:", d->tbl, (long long)d->line);
    note(c, "  expected: %s", d->expected_eof ? "(end of file)" : d->expected);
    note(c, "  actual:   %s", d->actual_eof ? "(end of file)" : d->actual);
}

/* Compare an export dir with the golden one: fills div[] for each table
 * whose digest differs.  Returns the number of differing tables. */
static int compare_tables(const ctx *c, const char *outdir, char dig[3][33], hn_res_div div[3],
                          int *ndiv)
{
    int differ = 0;
    *ndiv = 0;
    for (int i = 0; i < 3; i++) {
        char g[PATH_MAX], a[PATH_MAX];
        if (strcmp(dig[i], c->golden[i]) == 0)
            continue;
        differ++;
        if (pathf(g, NULL, "%s/%s.csv", c->gold_out, tbl_name[i]) ||
            pathf(a, NULL, "%s/%s.csv", outdir, tbl_name[i]))
            continue;
        if (first_diff(g, a, tbl_name[i], &div[*ndiv]) == 1)
            (*ndiv)++;
    }
    return differ;
}

/* ------------------------------------------------------- golden, discovery */

/* Data lines of an interchange CSV (the exact header line is not one). */
static int64_t count_records(const char *path)
{
    static const char header[] = "partition,ingest_ns,event_ns,symbol,price,qty";
    FILE *f = fopen(path, "re");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int64_t count = 0;
    if (!f)
        return -1;
    while ((n = getline(&line, &cap, f)) >= 0) {
        if (count == 0 && n >= (ssize_t)sizeof header - 1 &&
            memcmp(line, header, sizeof header - 1) == 0 &&
            (n == (ssize_t)sizeof header - 1 || line[sizeof header - 1] == '\n')) {
            count = -1; /* the header: counted back to 0 below */
        }
        count++;
    }
    free(line);
    fclose(f);
    return count;
}

/* A golden-phase step failed: the scenario's verdict is "error". */
static int golden_fail(hn_scenario_result *r, int exit_status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int golden_fail(hn_scenario_result *r, int exit_status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
    r->verdict = HN_SC_ERROR;
    r->exit_status = exit_status;
    return 1;
}

/* One golden-phase command that must exit 0.  Returns 0, 1 (verdict set), <0. */
static int golden_step(ctx *c, hn_scenario_result *r, const char *what, char *const argv[],
                       char *const extra[], int nextra, const char *outpath,
                       const char *errpath)
{
    int st, to, ret;
    char why[64], tail[512];
    ret = run_sync(c, argv, extra, nextra, outpath, errpath, &st, &to);
    if (ret < 0)
        return ret;
    if (!to && WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    tail_of(errpath ? errpath : outpath, tail, sizeof tail);
    if (to) {
        dur_text(c->timeout_ns, why, sizeof why);
        return golden_fail(r, 3, "%s: no result within the timeout (%s), killed: %s", what, why,
                           tail);
    }
    status_text(st, why, sizeof why);
    return golden_fail(r, 3, "%s %s: %s", what, why, tail);
}

#define ARGV(...) ((char *const[]){__VA_ARGS__, NULL})

/* Workload, import, uninterrupted run, export; with check_batch also the
 * batch oracle and the [expect] bounds.  Returns 0, 1 (verdict set), <0. */
static int golden(ctx *c, hn_scenario_result *r, int check_batch)
{
    const hn_scenario *sc = c->sc;
    char csv[PATH_MAX], state[PATH_MAX], out[PATH_MAX], err[PATH_MAX], bdir[PATH_MAX];
    char parts[32];
    char *argv[MAX_ARGS + 8];
    int ret, n;

    if ((ret = pathf(c->logdir, c->eb, "%s/log", c->dir)) ||
        (ret = pathf(state, c->eb, "%s/golden/state", c->dir)) ||
        (ret = pathf(c->gold_out, c->eb, "%s/golden/export", c->dir)) ||
        (ret = pathf(bdir, c->eb, "%s/batch", c->dir)) ||
        (ret = pathf(err, c->eb, "%s/golden/stderr", c->dir)) ||
        (ret = pathf(out, c->eb, "%s/golden/digests", c->dir)) ||
        (ret = pl_fs_mkdir_p(state, c->eb)))
        return ret;

    if (sc->use_csv) {
        if ((ret = pathf(csv, c->eb, "%s", sc->csv_path)))
            return ret;
        r->records = count_records(csv);
        if (r->records < 0)
            return golden_fail(r, 2, "workload %s: %s", csv, strerror(errno));
    } else {
        hn_gen_stats gs;
        pl_errbuf geb = {{0}};
        if ((ret = pathf(csv, c->eb, "%s/ticks.csv", c->dir)))
            return ret;
        note(c, "generating the workload into %s", csv);
        ret = hn_gen_write_path(&sc->gen, csv, &gs, &geb);
        if (ret < 0)
            return golden_fail(r, pl_err_is_input(ret) ? 2 : 3, "workload: %s", geb.msg);
        r->records = gs.records;
    }

    /* a generated log declares its partition count: a partition without a
     * single record still holds the watermark back, so it must exist */
    n = 0;
    argv[n++] = c->bin;
    argv[n++] = "import";
    if (!sc->use_csv) {
        snprintf(parts, sizeof parts, "%d", (int)sc->gen.partitions);
        argv[n++] = "--partitions";
        argv[n++] = parts;
    }
    argv[n++] = csv;
    argv[n++] = c->logdir;
    argv[n] = NULL;
    if ((ret = golden_step(c, r, "golden: import", argv, NULL, 0, out, err)))
        return ret;

    n = 0;
    argv[n++] = c->bin;
    argv[n++] = "run";
    argv[n++] = c->logdir;
    argv[n++] = state;
    for (int i = 0; i < c->npargs; i++)
        argv[n++] = c->pargs[i];
    argv[n] = NULL;
    if ((ret = golden_step(c, r, "golden: run", argv, NULL, 0, out, err)))
        return ret;

    if ((ret = golden_step(c, r, "golden: export", ARGV(c->bin, "export", state, c->gold_out),
                           NULL, 0, out, err)))
        return ret;
    if (parse_digests(out, c->golden, c->golden_rows) < 0)
        return golden_fail(r, 3, "golden: export printed no digests (%s)", out);
    memcpy(r->golden, c->golden, sizeof r->golden);
    memcpy(r->golden_rows, c->golden_rows, sizeof r->golden_rows);
    for (int i = 0; i < 3; i++)
        note(c, "golden %s  %s.csv  %lld rows", c->golden[i], tbl_name[i],
             (long long)c->golden_rows[i]);
    if (!check_batch)
        return 0;

    n = 0;
    argv[n++] = c->bin;
    argv[n++] = "batch";
    argv[n++] = c->logdir;
    argv[n++] = bdir;
    for (int i = 0; i < c->nbargs; i++)
        argv[n++] = c->bargs[i];
    argv[n] = NULL;
    if ((ret = golden_step(c, r, "golden: batch", argv, NULL, 0, out, err)))
        return ret;
    {
        int64_t brows[3];
        if (parse_digests(out, r->batch, brows) < 0)
            return golden_fail(r, 3, "golden: batch printed no digests (%s)", out);
    }
    if (sc->expect_agree) {
        for (int i = 0; i < 3; i++) {
            char b[PATH_MAX], g[PATH_MAX];
            if (strcmp(r->batch[i], c->golden[i]) == 0)
                continue;
            /* the batch is the oracle: its rows are the expected ones */
            if (pathf(b, NULL, "%s/%s.csv", bdir, tbl_name[i]) == 0 &&
                pathf(g, NULL, "%s/%s.csv", c->gold_out, tbl_name[i]) == 0 &&
                first_diff(b, g, tbl_name[i], &r->batch_div[r->nbatch_div]) == 1)
                r->nbatch_div++;
            else {
                hn_res_div *d = &r->batch_div[r->nbatch_div++];
                memset(d, 0, sizeof *d);
                snprintf(d->tbl, sizeof d->tbl, "%s", tbl_name[i]);
            }
        }
    }
    return 0;
}

/* Parts per million as a percentage with 4 decimals, integers only. */
static void ppm_text(int64_t ppm, char *out, size_t n)
{
    snprintf(out, n, "%lld.%04lld%%", (long long)(ppm / 10000), (long long)(ppm % 10000));
}

/* The [expect] bounds.  Returns 1 and writes detail when one fails. */
static int check_expect(const ctx *c, hn_scenario_result *r, char *detail, size_t n)
{
    const hn_scenario *sc = c->sc;
    int64_t recs = r->records, late = r->golden_rows[1], dlq = r->golden_rows[2];
    int64_t valid = recs - dlq;
    char a[32], b[32];
    detail[0] = 0;
    /* late fraction = late rows / valid events; exact: late*1e6 > max*valid */
    if (sc->max_late_ppm >= 0 && valid > 0 &&
        (unsigned __int128)late * 1000000 > (unsigned __int128)sc->max_late_ppm * valid) {
        ppm_text((int64_t)((unsigned __int128)late * 1000000 / (uint64_t)valid), a, sizeof a);
        ppm_text(sc->max_late_ppm, b, sizeof b);
        snprintf(detail, n, "late fraction %s (%lld late rows / %lld valid events) exceeds "
                 "max-late-fraction %s", a, (long long)late, (long long)valid, b);
        return 1;
    }
    if (sc->max_dlq_ppm >= 0 && recs > 0 &&
        (unsigned __int128)dlq * 1000000 > (unsigned __int128)sc->max_dlq_ppm * recs) {
        ppm_text((int64_t)((unsigned __int128)dlq * 1000000 / (uint64_t)recs), a, sizeof a);
        ppm_text(sc->max_dlq_ppm, b, sizeof b);
        snprintf(detail, n, "dead-letter fraction %s (%lld dlq rows / %lld records) exceeds "
                 "max-dlq-fraction %s", a, (long long)dlq, (long long)recs, b);
        return 1;
    }
    return 0;
}

static int cmp_point(const void *a, const void *b)
{
    return strcmp(((const hn_point *)a)->name, ((const hn_point *)b)->name);
}

/* One counted run: which fail points are hit, how often.  Selects those
 * matching the scenario's patterns.  Returns 0, 1 (verdict set), <0. */
static int discover(ctx *c, hn_scenario_result *r)
{
    const hn_scenario *sc = c->sc;
    char state[PATH_MAX], counts[PATH_MAX], log[PATH_MAX], ev_pre[PATH_MAX + 16];
    char ev_count[PATH_MAX + 16];
    char *argv[MAX_ARGS + 8], *extra[4], *text, *line, *save = NULL;
    int n = 0, ret, cap = 16;

    if ((ret = pathf(state, c->eb, "%s/discovery/state", c->dir)) ||
        (ret = pathf(counts, c->eb, "%s/discovery/counts", c->dir)) ||
        (ret = pathf(log, c->eb, "%s/discovery/stderr", c->dir)) ||
        (ret = pl_fs_mkdir_p(state, c->eb)))
        return ret;
    unlink(counts);
    snprintf(ev_pre, sizeof ev_pre, "LD_PRELOAD=%s", c->preload);
    snprintf(ev_count, sizeof ev_count, "RP_FIU_COUNT=%s", counts);
    extra[0] = ev_pre;
    extra[1] = ev_count;
    /* count everything and select here: then a pattern that matches
     * nothing is known, whatever its form */
    extra[2] = "RP_FIU_POINTS=*";
    extra[3] = c->asan_env;
    argv[n++] = c->bin;
    argv[n++] = "run";
    argv[n++] = c->logdir;
    argv[n++] = state;
    for (int i = 0; i < c->npargs; i++)
        argv[n++] = c->pargs[i];
    argv[n] = NULL;
    if ((ret = golden_step(c, r, "discovery: run", argv, extra, 4, log, NULL)))
        return ret;
    text = slurp(counts, NULL);
    if (!text)
        return golden_fail(r, 3, "discovery: no count file %s (is %s preloadable?)", counts,
                           c->preload);
    r->points = malloc((size_t)cap * sizeof *r->points);
    if (!r->points) {
        free(text);
        return pl_err(c->eb, -ENOMEM, "out of memory");
    }
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[HN_POINT_MAX + 2];
        unsigned long long cnt;
        int match = sc->npatterns == 0;
        if (sscanf(line, "%128s %llu", name, &cnt) != 2 || strlen(name) > HN_POINT_MAX ||
            cnt == 0)
            continue;
        for (int i = 0; i < sc->npatterns && !match; i++)
            match = hn_scenario_pattern_match(sc->patterns[i], name);
        if (!match)
            continue;
        if (r->npoints == cap) {
            hn_point *np = realloc(r->points, (size_t)(cap *= 2) * sizeof *np);
            if (!np) {
                free(text);
                return pl_err(c->eb, -ENOMEM, "out of memory");
            }
            r->points = np;
        }
        memcpy(r->points[r->npoints].name, name, strlen(name) + 1); /* length checked above */
        r->points[r->npoints++].count = cnt;
    }
    free(text);
    qsort(r->points, (size_t)r->npoints, sizeof *r->points, cmp_point);
    for (int i = 0; i < sc->npatterns; i++) {
        int hit = 0;
        for (int j = 0; j < r->npoints && !hit; j++)
            hit = hn_scenario_pattern_match(sc->patterns[i], r->points[j].name);
        if (!hit) {
            size_t o = strlen(r->unmatched);
            snprintf(r->unmatched + o, sizeof r->unmatched - o, "%s%s", o ? " " : "",
                     sc->patterns[i]);
        }
    }
    for (int j = 0; j < r->npoints; j++)
        note(c, "discovery: %s hit %llu times", r->points[j].name,
             (unsigned long long)r->points[j].count);
    return 0;
}

/* ------------------------------------------------------------------ trials */

enum { PH_IDLE = 0, PH_RUN, PH_EXPORT };

typedef struct slot {
    int phase;
    const hn_trial *t;
    hn_trial_result res;
    int nproc;                 /* run processes started */
    int unplanned;             /* deaths that were not an armed crash */
    char unplanned_what[800];
    char notes[256];           /* later armed crashes that were not reached */
    int64_t t0;
    long trace_lines;
    proc p;
    char dir[PATH_MAX], state[PATH_MAX], out[PATH_MAX], trace[PATH_MAX], log[PATH_MAX];
} slot;

static long count_lines(const char *path)
{
    size_t len;
    long n = 0;
    char *t = slurp(path, &len);
    if (!t)
        return 0;
    for (size_t i = 0; i < len; i++)
        n += t[i] == '\n';
    free(t);
    return n;
}

static void finish(const ctx *c, slot *s, int verdict)
{
    hn_trial_result *res = &s->res;
    res->verdict = verdict;
    res->restarts = s->nproc > 0 ? s->nproc - 1 : 0;
    res->duration_ms = (now_ns() - s->t0) / 1000000;
    if (verdict != HN_V_CONVERGED || c->keep)
        snprintf(res->state_dir, sizeof res->state_dir, "%s", s->state);
    else {
        res->state_dir[0] = 0;
        rm_rf(s->dir);
    }
    s->phase = PH_IDLE;
}

static void set_detail(slot *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_detail(slot *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->res.detail, sizeof s->res.detail, fmt, ap);
    va_end(ap);
}

static int spawn_run(const ctx *c, slot *s)
{
    const hn_trial *t = s->t;
    char *argv[MAX_ARGS + 8], *extra[4], line[8192];
    char ev_pre[PATH_MAX + 16], ev_crash[HN_POINT_MAX + 48], ev_trace[PATH_MAX + 16];
    int i = s->nproc, n = 0, nextra = 0, ret;

    argv[n++] = (char *)c->bin;
    argv[n++] = "run";
    argv[n++] = (char *)c->logdir;
    argv[n++] = s->state;
    for (int j = 0; j < c->npargs; j++)
        argv[n++] = c->pargs[j];
    argv[n] = NULL;
    if (i < t->ncrashes) {
        snprintf(ev_pre, sizeof ev_pre, "LD_PRELOAD=%s", c->preload);
        snprintf(ev_crash, sizeof ev_crash, "RP_FIU_CRASH=%s:%llu", t->crash[i].point,
                 (unsigned long long)t->crash[i].k);
        snprintf(ev_trace, sizeof ev_trace, "RP_FIU_TRACE=%s", s->trace);
        extra[nextra++] = ev_pre;
        extra[nextra++] = ev_crash;
        extra[nextra++] = ev_trace;
        extra[nextra++] = (char *)c->asan_env;
    }
    if ((ret = pathf(s->log, c->eb, "%s/run-%d.log", s->dir, i + 1)))
        return ret;
    s->trace_lines = count_lines(s->trace);
    if (c->verbose) {
        describe(c, line, sizeof line, argv, extra, nextra);
        note(c, "process %d: %s", i + 1, line);
    }
    ret = spawn(c, argv, extra, nextra, s->log, NULL, &s->p);
    if (ret < 0)
        return ret;
    s->nproc++;
    s->phase = PH_RUN;
    return 0;
}

static int spawn_export(const ctx *c, slot *s)
{
    char *argv[] = {(char *)c->bin, "export", s->state, s->out, NULL};
    char line[8192], dig[PATH_MAX], err[PATH_MAX];
    int ret;
    if ((ret = pathf(dig, c->eb, "%s/export.out", s->dir)) ||
        (ret = pathf(err, c->eb, "%s/export.err", s->dir)))
        return ret;
    if (c->verbose) {
        describe(c, line, sizeof line, argv, NULL, 0);
        note(c, "export: %s", line);
    }
    ret = spawn(c, argv, NULL, 0, dig, err, &s->p);
    if (ret == 0)
        s->phase = PH_EXPORT;
    return ret;
}

static int trial_start(const ctx *c, slot *s, int seq, const hn_trial *t)
{
    int ret;
    memset(&s->res, 0, sizeof s->res);
    s->res.seq = seq;
    s->res.trial = *t;
    s->t = t;
    s->nproc = 0;
    s->unplanned = 0;
    s->unplanned_what[0] = 0;
    s->notes[0] = 0;
    s->t0 = now_ns();
    if ((ret = pathf(s->dir, c->eb, "%s/trials/%d", c->dir, seq)) ||
        (ret = pathf(s->state, c->eb, "%s/state", s->dir)) ||
        (ret = pathf(s->out, c->eb, "%s/export", s->dir)) ||
        (ret = pathf(s->trace, c->eb, "%s/trace", s->dir)))
        return ret;
    rm_rf(s->dir); /* a stale dir of an earlier replay must not leak state in */
    if ((ret = pl_fs_mkdir_p(s->state, c->eb)))
        return ret;
    if (c->verbose) {
        char spec[sizeof ((hn_failure *)0)->spec];
        hn_run_trial_format(t, spec, sizeof spec);
        note(c, "trial %s in %s", spec, s->dir);
    }
    return spawn_run(c, s);
}

/* The current run process ended with wait status st.  Returns 0, or a
 * negative code when the harness cannot go on. */
static int on_run_exit(const ctx *c, slot *s, int st)
{
    const hn_trial *t = s->t;
    int i = s->nproc - 1, armed = i < t->ncrashes;
    char why[64], tail[640];

    status_text(st, why, sizeof why);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        note(c, "process %d: %s", i + 1, why);
        if (armed && i == 0) {
            set_detail(s, "process 1 exited 0 without reaching its armed crash %s:%llu "
                       "(fewer hits than the discovery run counted, or no such point)",
                       t->crash[0].point, (unsigned long long)t->crash[0].k);
            note(c, "%s", s->res.detail);
            finish(c, s, HN_V_NOT_REACHED);
            return 0;
        }
        if (armed) {
            size_t o = strlen(s->notes);
            snprintf(s->notes + o, sizeof s->notes - o, "%scrash %d (%s:%llu) not reached",
                     o ? "; " : "", i + 1, t->crash[i].point,
                     (unsigned long long)t->crash[i].k);
            note(c, "process %d completed before its armed crash %s:%llu", i + 1,
                 t->crash[i].point, (unsigned long long)t->crash[i].k);
        }
        return spawn_export(c, s);
    }
    if (WIFEXITED(st)) {
        tail_of(s->log, tail, sizeof tail);
        set_detail(s, "process %d (run) %s: %s", i + 1, why, tail);
        note(c, "process %d: %s", i + 1, why);
        finish(c, s, HN_V_ERROR);
        return 0;
    }
    if (armed && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL &&
        count_lines(s->trace) > s->trace_lines) {
        s->res.crashes_fired++;
        note(c, "process %d: %s at %s hit %llu (the armed crash)", i + 1, why,
             t->crash[i].point, (unsigned long long)t->crash[i].k);
    } else {
        tail_of(s->log, tail, sizeof tail);
        if (!s->unplanned++)
            snprintf(s->unplanned_what, sizeof s->unplanned_what,
                     "process %d (run) %s without an armed crash: %s", i + 1, why, tail);
        note(c, "process %d: %s (not an armed crash)", i + 1, why);
    }
    if (s->nproc - 1 >= c->max_restarts) {
        tail_of(s->log, tail, sizeof tail);
        set_detail(s, "not complete after %d restarts; process %d %s: %s", s->nproc - 1,
                   s->nproc, why, tail);
        note(c, "%s", s->res.detail);
        finish(c, s, HN_V_CRASH_LOOP);
        return 0;
    }
    return spawn_run(c, s);
}

static int on_export_exit(const ctx *c, slot *s, int st)
{
    hn_trial_result *res = &s->res;
    char why[64], tail[640], dig[PATH_MAX], err[PATH_MAX];
    int differ;

    status_text(st, why, sizeof why);
    if (pathf(dig, c->eb, "%s/export.out", s->dir) || pathf(err, c->eb, "%s/export.err", s->dir))
        return -ENAMETOOLONG;
    note(c, "export: %s", why);
    if (!WIFEXITED(st) || (WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 1)) {
        tail_of(err, tail, sizeof tail);
        set_detail(s, "export %s: %s", why, tail);
        finish(c, s, HN_V_ERROR);
        return 0;
    }
    if (parse_digests(dig, res->digest, res->rows) < 0) {
        set_detail(s, "export printed no digests (%s)", dig);
        finish(c, s, HN_V_ERROR);
        return 0;
    }
    res->have_digests = 1;
    for (int i = 0; i < 3; i++)
        note(c, "%s %s  %s.csv  %lld rows (golden %s)",
             strcmp(res->digest[i], c->golden[i]) ? "DIFFERS" : "same   ", res->digest[i],
             tbl_name[i], (long long)res->rows[i], c->golden[i]);
    differ = compare_tables(c, s->out, res->digest, res->div, &res->ndiv);
    for (int i = 0; i < res->ndiv; i++)
        note_div(c, &res->div[i]);
    if (WEXITSTATUS(st) == 1) {
        tail_of(err, tail, sizeof tail);
        set_detail(s, "the sink recorded conflicting replays: %s", tail);
        finish(c, s, HN_V_CONFLICT);
        return 0;
    }
    if (differ) {
        char *p = res->detail;
        size_t left = sizeof res->detail;
        int w = snprintf(p, left, "differs from the golden run:");
        for (int i = 0; i < 3 && w > 0 && (size_t)w < left; i++) {
            if (strcmp(res->digest[i], c->golden[i]) == 0)
                continue;
            p += w;
            left -= (size_t)w;
            w = snprintf(p, left, " %s.csv (%lld rows, golden %lld)", tbl_name[i],
                         (long long)res->rows[i], (long long)c->golden_rows[i]);
        }
        finish(c, s, HN_V_DIVERGED);
        return 0;
    }
    if (s->unplanned) {
        set_detail(s, "%s", s->unplanned_what);
        finish(c, s, HN_V_ERROR);
        return 0;
    }
    if (s->notes[0])
        set_detail(s, "%s", s->notes);
    finish(c, s, HN_V_CONVERGED);
    return 0;
}

/* The current process of a slot ended (or timed out). */
static int on_exit_slot(const ctx *c, slot *s, int timed_out)
{
    int st, ret = reap(c, &s->p, &st);
    if (ret < 0)
        return ret;
    if (timed_out) {
        char limit[32];
        dur_text(c->timeout_ns, limit, sizeof limit);
        if (s->phase == PH_EXPORT)
            set_detail(s, "export did not finish within the timeout (%s) and was killed",
                       limit);
        else
            set_detail(s, "process %d (run) did not finish within the timeout (%s) and was "
                       "killed", s->nproc, limit);
        note(c, "%s", s->res.detail);
        finish(c, s, HN_V_HANG);
        return 0;
    }
    if (s->phase == PH_RUN)
        return on_run_exit(c, s, st);
    return on_export_exit(c, s, st);
}

/* -------------------------------------------------------------------- pool */

typedef struct pool {
    const ctx *c;
    hn_scenario_result *r;
    int64_t scenario_id;
    hn_trial_result *pending;   /* finished, not yet in the database */
    int npending;
    int64_t last_flush;
    int done, total, failed;
} pool;

static int flush_db(pool *pl)
{
    const ctx *c = pl->c;
    hn_res *db = c->o->db;
    int ret = 0;
    pl->last_flush = now_ns();
    if (!db || !pl->npending) {
        pl->npending = 0;
        return 0;
    }
    if ((ret = hn_res_begin(db, c->eb)))
        return ret;
    for (int i = 0; i < pl->npending && ret == 0; i++) {
        const hn_trial_result *t = &pl->pending[i];
        char spec[sizeof ((hn_failure *)0)->spec];
        hn_res_trial row;
        hn_run_trial_format(&t->trial, spec, sizeof spec);
        memset(&row, 0, sizeof row);
        row.seq = t->seq;
        row.crashes = spec;
        row.point = t->trial.crash[0].point;
        row.k = t->trial.crash[0].k;
        row.verdict = hn_verdict_name(t->verdict);
        row.restarts = t->restarts;
        row.duration_ms = t->duration_ms;
        for (int j = 0; j < 3; j++)
            row.digest[j] = t->have_digests ? t->digest[j] : "";
        row.state_dir = t->state_dir;
        row.detail = t->detail;
        row.ndiv = t->ndiv;
        row.div = t->div;
        ret = hn_res_trial_add(db, pl->scenario_id, &row, c->eb);
    }
    if (ret == 0)
        ret = hn_res_commit(db, c->eb);
    else
        hn_res_rollback(db);
    pl->npending = 0;
    return ret;
}

/* A trial finished: count it, remember a failure, queue its row. */
static int deliver(pool *pl, const hn_trial_result *t)
{
    const ctx *c = pl->c;
    hn_scenario_result *r = pl->r;
    pl->done++;
    r->run++;
    r->by_verdict[t->verdict]++;
    if (t->verdict != HN_V_CONVERGED) {
        pl->failed++;
        r->nfailures++;
        if (r->nkept < KEEP_FAILURES) {
            hn_failure *f = &r->failures[r->nkept++];
            hn_run_trial_format(&t->trial, f->spec, sizeof f->spec);
            f->verdict = t->verdict;
            snprintf(f->state_dir, sizeof f->state_dir, "%s", t->state_dir);
            snprintf(f->detail, sizeof f->detail, "%s", t->detail);
            if (t->ndiv)
                f->div = t->div[0];
            else
                memset(&f->div, 0, sizeof f->div);
        }
    }
    if (c->o->hooks.trial)
        c->o->hooks.trial(c->o->hooks.ctx, c->sc, t, pl->done, pl->total, pl->failed);
    if (c->o->db) {
        pl->pending[pl->npending++] = *t;
        if (pl->npending == DB_BATCH || now_ns() - pl->last_flush >= DB_FLUSH_NS)
            return flush_db(pl);
    }
    return 0;
}

static void kill_all(slot *slots, int n)
{
    for (int i = 0; i < n; i++) {
        if (slots[i].phase == PH_IDLE)
            continue;
        kill_tree(&slots[i].p);
        waitpid(slots[i].p.pid, NULL, 0);
        if (slots[i].p.pidfd >= 0)
            close(slots[i].p.pidfd);
        slots[i].phase = PH_IDLE;
    }
}

/* Run trials[0..n) on `jobs` slots.  Returns 0 or a harness failure. */
static int run_pool(pool *pl, const hn_trial *trials, int n, int jobs)
{
    const ctx *c = pl->c;
    slot *slots = calloc((size_t)jobs, sizeof *slots);
    struct pollfd *pfd = calloc((size_t)jobs, sizeof *pfd);
    int *map = calloc((size_t)jobs, sizeof *map);
    int next = 0, active = 0, ret = 0;

    pl->total = n;
    pl->last_flush = now_ns();
    if (c->o->db)
        pl->pending = malloc(DB_BATCH * sizeof *pl->pending);
    if (!slots || !pfd || !map || (c->o->db && !pl->pending)) {
        ret = pl_err(c->eb, -ENOMEM, "out of memory");
        goto done;
    }
    while (pl->done < n) {
        int np = 0, ms = POLL_MAX_MS, r;
        int64_t now;

        if (c->o->stop && *c->o->stop) {
            ret = pl_err(c->eb, -EINTR, "interrupted");
            break;
        }
        for (int i = 0; i < jobs && next < n; i++) {
            if (slots[i].phase != PH_IDLE)
                continue;
            ret = trial_start(c, &slots[i], next, &trials[next]);
            if (ret < 0)
                goto done;
            next++;
            active++;
        }
        now = now_ns();
        for (int i = 0; i < jobs; i++) {
            int64_t left;
            if (slots[i].phase == PH_IDLE)
                continue;
            pfd[np].fd = slots[i].p.pidfd;
            pfd[np].events = POLLIN;
            pfd[np].revents = 0;
            map[np++] = i;
            left = (slots[i].p.deadline - now) / 1000000 + 1;
            if (left < ms)
                ms = left < 0 ? 0 : (int)left;
        }
        r = poll(pfd, (nfds_t)np, ms);
        if (r < 0 && errno != EINTR) {
            ret = pl_err_os(c->eb, errno, "poll");
            break;
        }
        now = now_ns();
        for (int j = 0; j < np; j++) {
            slot *s = &slots[map[j]];
            int timed_out = 0;
            if (!(r > 0 && pfd[j].revents)) {
                if (now < s->p.deadline)
                    continue;
                kill_tree(&s->p);
                timed_out = 1;
            }
            ret = on_exit_slot(c, s, timed_out);
            if (ret < 0)
                goto done;
            if (s->phase == PH_IDLE) {
                active--;
                if ((ret = deliver(pl, &s->res)) < 0)
                    goto done;
            }
        }
        if (c->o->db && pl->npending && now - pl->last_flush >= DB_FLUSH_NS &&
            (ret = flush_db(pl)) < 0)
            goto done;
    }
    if (ret == 0)
        ret = flush_db(pl);
done:
    if (slots)
        kill_all(slots, jobs);
    if (ret == -EINTR && pl->npending) {
        /* the trials that did finish before the interrupt are results too */
        pl_errbuf keep = *c->eb;
        flush_db(pl);
        *c->eb = keep;
    }
    (void)active;
    free(slots);
    free(pfd);
    free(map);
    free(pl->pending);
    pl->pending = NULL;
    return ret;
}

/* ------------------------------------------------------------ entry points */

void hn_run_opts_init(hn_run_opts *o)
{
    memset(o, 0, sizeof *o);
}

void hn_run_result_free(hn_scenario_result *r)
{
    free(r->points);
    free(r->failures);
    r->points = NULL;
    r->failures = NULL;
}

static int exe_dir(char *out, pl_errbuf *eb)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    char *slash;
    if (n < 0)
        return pl_err_os(eb, errno, "readlink(/proc/self/exe)");
    self[n] = 0;
    slash = strrchr(self, '/');
    if (slash)
        *slash = 0;
    return pathf(out, eb, "%s", self);
}

static const char *default_base(void)
{
    const char *t = getenv("TMPDIR");
    if (access("/dev/shm", W_OK | X_OK) == 0)
        return "/dev/shm";
    return t && *t ? t : "/tmp";
}

static void ctx_free(ctx *c)
{
    free(c->env);
    c->env = NULL;
}

/* Binaries, pipeline options, environment, the scenario's work dir. */
static int ctx_init(ctx *c, const hn_scenario *sc, const hn_run_opts *o, pl_errbuf *eb,
                    const char *tag)
{
    char bindir[PATH_MAX], base[PATH_MAX], *words[MAX_ARGS];
    const char *binary = sc->binary[0] ? sc->binary : "refpipe-fiu";
    int n, ret;

    memset(c, 0, sizeof *c);
    c->sc = sc;
    c->o = o;
    c->eb = eb;
    c->keep = o->keep;
    c->timeout_ns = sc->timeout_ns > 0 ? sc->timeout_ns : 60000000000LL;
    c->max_restarts = sc->max_restarts > 0 ? sc->max_restarts : 20;
    if (c->max_restarts < sc->crashes)
        c->max_restarts = sc->crashes; /* planned crashes are never a crash loop */
    if (o->bindir)
        ret = pathf(bindir, eb, "%s", o->bindir);
    else
        ret = exe_dir(bindir, eb);
    if (ret)
        return ret;
    if (strchr(binary, '/'))
        ret = pathf(c->bin, eb, "%s", binary);
    else
        ret = pathf(c->bin, eb, "%s/%s", bindir, binary);
    if (ret || (ret = pathf(c->preload, eb, "%s/rp-crash.so", bindir)))
        return ret;
    if (access(c->bin, X_OK) < 0)
        return pl_err_os(eb, errno, "pipeline binary %s", c->bin);
    if (access(c->preload, R_OK) < 0)
        return pl_err_os(eb, errno, "crash library %s", c->preload);
    {
        /* set whatever the binary is: a wrapper script may exec a
         * sanitizer build, and other programs ignore the variable */
        const char *cur = getenv("ASAN_OPTIONS");
        snprintf(c->asan_env, sizeof c->asan_env, "ASAN_OPTIONS=%s%sverify_asan_link_order=0",
                 cur && *cur ? cur : "", cur && *cur ? ":" : "");
    }

    /* the words live in *sc, which outlives the context */
    n = hn_scenario_pipeline_args(sc, words, MAX_ARGS);
    if (n < 0 || n > MAX_ARGS)
        return pl_err(eb, PL_ELIMIT, "%s: too many pipeline options", sc->path);
    for (int i = 0; i < n; i++)
        c->pargs[i] = words[i];
    c->npargs = n;
    n = hn_scenario_batch_args(sc, words, MAX_ARGS);
    if (n < 0 || n > MAX_ARGS)
        return pl_err(eb, PL_ELIMIT, "%s: too many pipeline options", sc->path);
    for (int i = 0; i < n; i++)
        c->bargs[i] = words[i];
    c->nbargs = n;
    if ((ret = env_init(c)))
        return ret;

    if (o->workdir) {
        if ((ret = pl_fs_mkdir_p(o->workdir, eb)) || (ret = pathf(base, eb, "%s", o->workdir)))
            return ret;
    } else if ((ret = pathf(base, eb, "%s", default_base())))
        return ret;
    if ((ret = pathf(c->dir, eb, "%s/rp-%s-%s-XXXXXX", base, tag, sc->name)))
        return ret;
    if (!mkdtemp(c->dir))
        return pl_err_os(eb, errno, "mkdtemp(%s)", c->dir);
    return 0;
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

static void phase(const ctx *c, const char *what, const hn_scenario_result *r)
{
    if (c->o->hooks.phase)
        c->o->hooks.phase(c->o->hooks.ctx, c->sc, what, r);
}

/* Scenario-level rows: hits, the batch divergence, the final verdict. */
static int store_scenario(const ctx *c, int64_t sid, const hn_scenario_result *r)
{
    hn_res *db = c->o->db;
    hn_res_scenario row;
    pl_errbuf eb2 = {{0}};
    pl_errbuf *eb = c->eb->msg[0] ? &eb2 : c->eb; /* keep an earlier error message */
    int ret;
    if (!db)
        return 0;
    if ((ret = hn_res_begin(db, eb)))
        return ret;
    for (int i = 0; i < r->npoints && ret == 0; i++)
        ret = hn_res_hits_add(db, sid, r->points[i].name, r->points[i].count, eb);
    /* a pattern that selected nothing is on record too, as itself with 0 */
    for (int i = 0; i < c->sc->npatterns && ret == 0 && r->unmatched[0]; i++) {
        int hit = 0;
        for (int j = 0; j < r->npoints && !hit; j++)
            hit = hn_scenario_pattern_match(c->sc->patterns[i], r->points[j].name);
        if (!hit)
            ret = hn_res_hits_add(db, sid, c->sc->patterns[i], 0, eb);
    }
    for (int i = 0; i < r->nbatch_div && ret == 0; i++)
        ret = hn_res_div_add(db, sid, &r->batch_div[i], eb);
    memset(&row, 0, sizeof row);
    row.verdict = hn_sc_verdict_name(r->verdict);
    row.records = r->records;
    for (int i = 0; i < 3; i++) {
        row.golden[i] = r->golden[i];
        row.golden_rows[i] = r->golden_rows[i];
        row.batch[i] = r->batch[i];
    }
    row.candidates = (int64_t)r->candidates;
    row.planned = r->planned;
    row.run = r->run;
    row.failures = r->nfailures + (r->nbatch_div > 0) + (r->verdict == HN_SC_EXPECTATION);
    row.duration_ms = r->duration_ms;
    row.trials_ms = r->trials_ms;
    row.detail = r->detail;
    if (ret == 0)
        ret = hn_res_scenario_end(db, sid, &row, eb);
    if (ret == 0)
        ret = hn_res_commit(db, eb);
    else
        hn_res_rollback(db);
    return ret;
}

int hn_run_scenario(const hn_scenario *sc, const hn_run_opts *o, hn_scenario_result *r,
                    pl_errbuf *eb)
{
    ctx c;
    pool pl;
    hn_trial *trials = NULL;
    int64_t t0 = now_ns(), t1, sid = 0;
    int ret, g, ntrials = 0, expect_failed = 0;
    char expect_detail[512];

    memset(r, 0, sizeof *r);
    memset(&pl, 0, sizeof pl);
    r->records = -1;
    ret = ctx_init(&c, sc, o, eb, "run");
    if (ret < 0)
        goto out;
    snprintf(r->workdir, sizeof r->workdir, "%s", c.dir);
    if (o->db && (ret = hn_res_scenario_begin(o->db, o->run_id, sc->name, sc->path, &sid, eb)))
        goto out;

    phase(&c, "golden", r);
    g = golden(&c, r, 1);
    if (g < 0) {
        ret = g;
        goto out;
    }
    if (g == 0) {
        expect_failed = check_expect(&c, r, expect_detail, sizeof expect_detail);
        phase(&c, "discovery", r);
        g = discover(&c, r);
        if (g < 0) {
            ret = g;
            goto out;
        }
    }
    if (g == 0) {
        ret = hn_run_plan(sc, r->points, r->npoints, (uint64_t)(r->records > 0 ? r->records : 0),
                          o->budget, &trials, &ntrials, &r->candidates, eb);
        if (ret < 0)
            goto out;
        r->planned = ntrials;
        r->failures = calloc(KEEP_FAILURES, sizeof *r->failures);
        if (!r->failures) {
            ret = pl_err(eb, -ENOMEM, "out of memory");
            goto out;
        }
        phase(&c, "trials", r);
        pl.c = &c;
        pl.r = r;
        pl.scenario_id = sid;
        t1 = now_ns();
        ret = run_pool(&pl, trials, ntrials, o->jobs > 0 ? o->jobs : online_cpus());
        r->trials_ms = (now_ns() - t1) / 1000000;
        if (ret < 0)
            goto out;

        if (r->nfailures > 0 && sc->expect_converge) {
            r->verdict = HN_SC_FAILED;
            snprintf(r->detail, sizeof r->detail, "%d of %d trials failed", r->nfailures,
                     r->run);
        } else if (r->nbatch_div > 0) {
            r->verdict = HN_SC_BATCH_DISAGREES;
            snprintf(r->detail, sizeof r->detail,
                     "the golden run and refpipe batch disagree on %s.csv (first at line %lld)",
                     r->batch_div[0].tbl, (long long)r->batch_div[0].line);
        } else if (expect_failed) {
            r->verdict = HN_SC_EXPECTATION;
            snprintf(r->detail, sizeof r->detail, "%s", expect_detail);
        } else if (r->npoints == 0) {
            r->verdict = HN_SC_NO_POINTS;
            snprintf(r->detail, sizeof r->detail,
                     "no selected fail point was hit: nothing was tested");
        } else
            r->verdict = HN_SC_CONVERGED;
        r->exit_status = r->verdict == HN_SC_CONVERGED ? 0 : 1;
    }
    ret = 0;

out:
    if (ret < 0) {
        r->verdict = HN_SC_ERROR;
        r->exit_status = 3;
        snprintf(r->detail, sizeof r->detail, "%s", eb->msg);
    }
    r->duration_ms = (now_ns() - t0) / 1000000;
    if (sid) {
        int sret = store_scenario(&c, sid, r);
        if (ret == 0 && sret < 0)
            ret = sret;
    }
    /* failing trials keep their dirs, and then the golden log and export
     * they are judged against; everything else goes */
    if (c.dir[0] && !o->keep) {
        /* an interrupted run has nothing worth keeping unless a trial failed */
        if (r->nfailures == 0 && (r->exit_status == 0 || ret == -EINTR)) {
            rm_rf(c.dir);
            r->workdir[0] = 0;
        } else {
            char p[PATH_MAX];
            if (pathf(p, NULL, "%s/discovery", c.dir) == 0)
                rm_rf(p);
            if (pathf(p, NULL, "%s/batch", c.dir) == 0 && r->nbatch_div == 0)
                rm_rf(p);
            if (pathf(p, NULL, "%s/golden/state", c.dir) == 0)
                rm_rf(p);
        }
    }
    phase(&c, "done", r);
    free(trials);
    ctx_free(&c);
    return ret;
}

int hn_run_replay(const hn_scenario *sc, const hn_trial *t, const hn_run_opts *o,
                  hn_trial_result *res, int *golden_failed, pl_errbuf *eb)
{
    ctx c;
    hn_scenario_result r;
    slot s;
    int ret, g;

    memset(res, 0, sizeof *res);
    memset(&r, 0, sizeof r);
    memset(&s, 0, sizeof s);
    *golden_failed = 0;
    ret = ctx_init(&c, sc, o, eb, "replay");
    if (ret < 0)
        goto out;
    c.verbose = 1;
    c.keep = 1;
    note(&c, "work dir %s", c.dir);
    g = golden(&c, &r, 0);
    if (g != 0) {
        ret = g < 0 ? g : 0;
        if (g > 0) {
            *golden_failed = 1;
            pl_err(eb, PL_EIO, "%s", r.detail);
        }
        goto out;
    }
    ret = trial_start(&c, &s, 0, t);
    while (ret == 0 && s.phase != PH_IDLE) {
        int st_to = 0;
        for (;;) {
            struct pollfd pfd = {.fd = s.p.pidfd, .events = POLLIN};
            int64_t left = s.p.deadline - now_ns();
            int rr;
            if (o->stop && *o->stop) {
                kill_tree(&s.p);
                waitpid(s.p.pid, NULL, 0);
                close(s.p.pidfd);
                ret = pl_err(eb, -EINTR, "interrupted");
                goto out;
            }
            if (left <= 0) {
                kill_tree(&s.p);
                st_to = 1;
                break;
            }
            rr = poll(&pfd, 1, left / 1000000 > POLL_MAX_MS ? POLL_MAX_MS
                                                            : (int)(left / 1000000) + 1);
            if (rr > 0)
                break;
            if (rr < 0 && errno != EINTR) {
                ret = pl_err_os(eb, errno, "poll");
                goto out;
            }
        }
        ret = on_exit_slot(&c, &s, st_to);
    }
    if (ret == 0) {
        *res = s.res;
        note(&c, "restarts: %d, armed crashes fired: %d of %d", res->restarts,
             res->crashes_fired, t->ncrashes);
        note(&c, "verdict: %s%s%s", hn_verdict_name(res->verdict), res->detail[0] ? ": " : "",
             res->detail);
        note(&c, "state dir kept: %s", s.state);
    }
out:
    hn_run_result_free(&r);
    ctx_free(&c);
    return ret;
}
