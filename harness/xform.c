/*
 * xform.c - seeded transforms of a captured CSV log (hn_xform.h).
 *
 * Layout: options and their description; reading the log into records;
 * the transforms, each from its own splitmix64 stream so that turning one
 * on or off leaves the draws of the others unchanged (stalls, bursts and
 * disorder, skew, poison, in that order); the stable sort into canonical
 * order; writing.
 */
#include "hn_xform.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pl_payload.h"

#define NS_MS 1000000LL
#define NS_S 1000000000LL
#define HEADER "partition,ingest_ns,event_ns,symbol,price,qty"

void hn_xform_init(hn_xform *x)
{
    memset(x, 0, sizeof *x);
    x->seed = 1;
    x->burst_len = NS_S;
    x->stall_len = 5 * NS_S;
}

int hn_xform_active(const hn_xform *x)
{
    return x->set != 0;
}

static void dur(char *b, size_t n, int64_t v)
{
    if (v % NS_S == 0)
        snprintf(b, n, "%llds", (long long)(v / NS_S));
    else if (v % NS_MS == 0)
        snprintf(b, n, "%lldms", (long long)(v / NS_MS));
    else
        snprintf(b, n, "%lldns", (long long)v);
}

int hn_xform_describe(const hn_xform *x, char *buf, size_t n)
{
    char a[32], b[32];
    size_t w = 0;
    int r = snprintf(buf, n, "seed=%llu", (unsigned long long)x->seed);
#define ADD(...)                                                                          \
    do {                                                                                  \
        w += (size_t)(r > 0 ? r : 0);                                                     \
        r = snprintf(buf + (w < n ? w : n), w < n ? n - w : 0, __VA_ARGS__);              \
    } while (0)
    if (x->set & HN_XF_SKEW) {
        dur(a, sizeof a, x->skew);
        ADD(" skew=%s", a);
    }
    if (x->set & HN_XF_DISORDER) {
        dur(a, sizeof a, x->disorder);
        dur(b, sizeof b, x->burst_len);
        if (x->bursts)
            ADD(" disorder=%s bursts=%dx%s", a, (int)x->bursts, b);
        else
            ADD(" disorder=%s", a);
    }
    if (x->set & HN_XF_STALLS) {
        dur(a, sizeof a, x->stall_len);
        ADD(" stalls=%dx%s", (int)x->stalls, a);
    }
    if (x->set & HN_XF_POISON) {
        /* parts per million as a fraction of 1 without trailing zeros */
        int fd = 6, f = x->poison_ppm % 1000000;
        while (fd > 0 && f % 10 == 0)
            f /= 10, fd--;
        if (fd)
            ADD(" poison-frac=%d.%0*d", (int)(x->poison_ppm / 1000000), fd, f);
        else
            ADD(" poison-frac=%d", (int)(x->poison_ppm / 1000000));
    }
#undef ADD
    return (int)(w + (size_t)(r > 0 ? r : 0));
}

/* ------------------------------------------------------------ records */

typedef struct xrec {
    int64_t part, ingest, orig_ingest;
    size_t idx;
    const char *pl;  /* payload in the input buffer, or in own when set */
    size_t pln;
    char *own;
} xrec;

static int64_t dec(const char *s, size_t n)
{
    uint64_t v = 0;
    if (n == 0 || n > 19)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    return v > (uint64_t)INT64_MAX ? -1 : (int64_t)v;
}

static int parse(char *buf, size_t len, xrec **out, size_t *nout, int64_t *nparts,
                 pl_errbuf *eb)
{
    size_t cap = 1024, n = 0, line = 1;
    char *p = buf, *end = buf + len;
    xrec *r = malloc(cap * sizeof *r);
    if (!r)
        return pl_err(eb, -ENOMEM, "xform: out of memory");
    *nparts = 0;
    if ((size_t)(end - p) >= sizeof HEADER - 1 && !memcmp(p, HEADER, sizeof HEADER - 1) &&
        (p[sizeof HEADER - 1] == '\n' || p + sizeof HEADER - 1 == end)) {
        p += sizeof HEADER - 1;
        p += p < end;
        line++;
    }
    for (; p < end; line++) {
        char *nl = memchr(p, '\n', (size_t)(end - p)), *c1, *c2;
        char *le = nl ? nl : end;
        c1 = memchr(p, ',', (size_t)(le - p));
        c2 = c1 ? memchr(c1 + 1, ',', (size_t)(le - c1 - 1)) : NULL;
        if (!c2 || dec(p, (size_t)(c1 - p)) < 0 || dec(c1 + 1, (size_t)(c2 - c1 - 1)) < 0) {
            free(r);
            return pl_err(eb, PL_EFORMAT, "xform: line %zu: no partition,ingest_ns envelope",
                          line);
        }
        if (n == cap) {
            xrec *nr = realloc(r, (cap *= 2) * sizeof *r);
            if (!nr) {
                free(r);
                return pl_err(eb, -ENOMEM, "xform: out of memory");
            }
            r = nr;
        }
        memset(&r[n], 0, sizeof r[n]);
        r[n].part = dec(p, (size_t)(c1 - p));
        r[n].ingest = r[n].orig_ingest = dec(c1 + 1, (size_t)(c2 - c1 - 1));
        r[n].idx = n;
        r[n].pl = c2 + 1;
        r[n].pln = (size_t)(le - c2 - 1);
        if (r[n].part + 1 > *nparts)
            *nparts = r[n].part + 1;
        n++;
        p = nl ? nl + 1 : end;
    }
    *out = r;
    *nout = n;
    return 0;
}

/* --------------------------------------------------------- transforms */

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n] (n + 1 values), n >= 0; modulo bias is irrelevant here
 * but the draw is still a pure function of the seed. */
static uint64_t upto(uint64_t *s, uint64_t n)
{
    return n == UINT64_MAX ? mix(s) : mix(s) % (n + 1);
}

/* Replace the event_ns of a valid payload by t. */
static int set_event(xrec *r, int64_t t)
{
    const char *c = memchr(r->pl, ',', r->pln);
    char head[24];
    int hn = snprintf(head, sizeof head, "%lld", (long long)t);
    size_t rest = r->pln - (size_t)(c - r->pl);
    char *o = malloc((size_t)hn + rest + 1);
    if (!o)
        return -ENOMEM;
    memcpy(o, head, (size_t)hn);
    memcpy(o + hn, c, rest);
    o[(size_t)hn + rest] = 0;
    free(r->own);
    r->own = o;
    r->pl = o;
    r->pln = (size_t)hn + rest;
    return 0;
}

static const char *const poisons[5] = {
    "poison",              /* fields */
    "-1,XF,1.0,1",         /* event_time */
    "1,bad sym,1.0,1",     /* symbol */
    "1,XF,0,1",            /* price */
    "1,XF,1.0,0",          /* qty */
};

static int cmp_canon(const void *a, const void *b)
{
    const xrec *x = a, *y = b;
    if (x->ingest != y->ingest)
        return x->ingest < y->ingest ? -1 : 1;
    if (x->part != y->part)
        return x->part < y->part ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static int transform(const hn_xform *x, xrec *r, size_t n, int64_t nparts, hn_xform_stats *st)
{
    int64_t lo = INT64_MAX, hi = 0, *skew = NULL;
    uint64_t s;
    for (size_t i = 0; i < n; i++) {
        lo = r[i].ingest < lo ? r[i].ingest : lo;
        hi = r[i].ingest > hi ? r[i].ingest : hi;
    }
    if (n == 0)
        return 0;
    if (x->set & HN_XF_SKEW) {
        /* one producer clock per partition, drawn in partition order */
        s = x->seed ^ 0x534b4557ULL; /* "SKEW" */
        skew = malloc((size_t)nparts * sizeof *skew);
        if (!skew)
            return -ENOMEM;
        for (int64_t p = 0; p < nparts; p++)
            skew[p] = (int64_t)upto(&s, 2 * (uint64_t)x->skew) - x->skew;
    }
    if (x->set & HN_XF_STALLS) {
        s = x->seed ^ 0x5354414c4c53ULL; /* "STALLS" */
        for (int k = 0; k < x->stalls; k++) {
            int64_t p = (int64_t)upto(&s, (uint64_t)(nparts - 1));
            int64_t a = lo + (int64_t)upto(&s, (uint64_t)(hi - lo));
            int64_t b = a > INT64_MAX - x->stall_len ? INT64_MAX - 1 : a + x->stall_len;
            /* held back to the stall's end: a monotone map of ingest_ns, so
             * a partition's ingest times stay non-decreasing */
            for (size_t i = 0; i < n; i++)
                if (r[i].part == p && r[i].ingest >= a && r[i].ingest < b) {
                    r[i].ingest = b;
                    st->held++;
                }
        }
    }
    for (size_t i = 0; i < n; i++) {
        pl_tick tk;
        int64_t t;
        int changed = 0;
        if (pl_payload_parse((const uint8_t *)r[i].pl, r[i].pln, &tk) != PL_VALID)
            continue;
        t = tk.t;
        if (x->set & HN_XF_DISORDER) {
            int in = x->bursts == 0;
            s = x->seed ^ 0x4255525354ULL; /* "BURST" */
            for (int k = 0; k < x->bursts && !in; k++) {
                int64_t a = lo + (int64_t)upto(&s, (uint64_t)(hi - lo));
                in = r[i].orig_ingest >= a && r[i].orig_ingest - a < x->burst_len;
            }
            if (in) {
                uint64_t d = (x->seed ^ 0x44495344ULL) + r[i].idx * 0x2545f4914f6cdd1dULL;
                int64_t dl = (int64_t)upto(&d, (uint64_t)x->disorder);
                t = t > dl ? t - dl : 0;
                changed = dl != 0;
                st->delayed += changed;
            }
        }
        if (skew) {
            int64_t sk = skew[r[i].part];
            if (sk > 0)
                t = t > sk ? t - sk : 0;
            else if (sk < 0)
                t = t > INT64_MAX + sk ? INT64_MAX : t - sk;
            st->skewed += sk != 0;
            changed |= sk != 0;
        }
        if (changed && set_event(&r[i], t) < 0) {
            free(skew);
            return -ENOMEM;
        }
    }
    free(skew);
    if (x->set & HN_XF_POISON) {
        /* exactly round(n * ppm) records (at least one), by selection sampling */
        int64_t need = (int64_t)(((__int128)n * x->poison_ppm + 500000) / 1000000);
        int reason = 0;
        if (need < 1 && x->poison_ppm > 0)
            need = 1;
        s = x->seed ^ 0x504f49534f4eULL; /* "POISON" */
        for (size_t i = 0; i < n && need > 0; i++)
            if ((int64_t)upto(&s, n - i - 1) < need) {
                free(r[i].own);
                r[i].own = NULL;
                r[i].pl = poisons[reason];
                r[i].pln = strlen(poisons[reason]);
                reason = (reason + 1) % 5;
                need--;
                st->poisoned++;
            }
    }
    qsort(r, n, sizeof *r, cmp_canon);
    return 0;
}

/* -------------------------------------------------------------- write */

static int write_out(const char *out, const xrec *r, size_t n, pl_errbuf *eb)
{
    char tmp[4096];
    FILE *f;
    int ret = 0;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", out) >= sizeof tmp)
        return pl_err(eb, -ENAMETOOLONG, "xform: %s: path too long", out);
    f = fopen(tmp, "wb");
    if (!f)
        return pl_err_os(eb, errno, "xform: open(%s)", tmp);
    fputs(HEADER "\n", f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%lld,%lld,%.*s\n", (long long)r[i].part, (long long)r[i].ingest,
                (int)r[i].pln, r[i].pl);
    if (ferror(f))
        ret = pl_err_os(eb, errno ? errno : EIO, "xform: write(%s)", tmp);
    if (fclose(f) != 0 && ret == 0)
        ret = pl_err_os(eb, errno, "xform: close(%s)", tmp);
    /* a reader sees the old file or the whole new one */
    if (ret == 0 && rename(tmp, out) != 0)
        ret = pl_err_os(eb, errno, "xform: rename(%s, %s)", tmp, out);
    if (ret < 0)
        unlink(tmp);
    return ret;
}

int hn_xform_csv(const hn_xform *x, const char *in, const char *out, hn_xform_stats *stp,
                 pl_errbuf *eb)
{
    hn_xform_stats st;
    char *buf = NULL;
    size_t len = 0, n = 0;
    xrec *r = NULL;
    int64_t nparts = 0;
    int ret;
    FILE *f;

    memset(&st, 0, sizeof st);
    f = fopen(in, "rb");
    if (!f)
        return pl_err_os(eb, errno, "xform: open(%s)", in);
    {
        size_t cap = 1 << 16;
        buf = malloc(cap);
        while (buf) {
            size_t got = fread(buf + len, 1, cap - len, f);
            len += got;
            if (len < cap)
                break;
            {
                char *nb = realloc(buf, cap *= 2);
                if (!nb) {
                    free(buf);
                    buf = NULL;
                }
                buf = nb;
            }
        }
    }
    if (!buf || ferror(f)) {
        ret = buf ? pl_err_os(eb, errno ? errno : EIO, "xform: read(%s)", in)
                  : pl_err(eb, -ENOMEM, "xform: out of memory");
        fclose(f);
        goto out;
    }
    fclose(f);
    if ((ret = parse(buf, len, &r, &n, &nparts, eb)) < 0)
        goto out;
    st.records = (int64_t)n;
    if ((ret = transform(x, r, n, nparts, &st)) < 0) {
        pl_err(eb, ret, "xform: out of memory");
        goto out;
    }
    if ((ret = write_out(out, r, n, eb)) < 0)
        goto out;
    if (stp)
        *stp = st;
out:
    for (size_t i = 0; r && i < n; i++)
        free(r[i].own);
    free(r);
    free(buf);
    return ret;
}
