/*
 * converge.c - convergence digest files (pl_converge.h): read one into a
 * sorted array, look a checkpoint up in it, write one line.
 *
 * Layout: parsing of one line; load (the whole file, checked line by line);
 * match (binary search by position, then every field compared); write.
 *
 * A file is trusted for nothing but equality: a run stops only when all
 * four fields of one line equal what it computed itself at a checkpoint it
 * has just committed, so a damaged or foreign file can make a run go on to
 * the end, never stop where it would not have converged (short of a hash
 * collision in both digests at once).
 */
#include "pl_converge.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct pl_conv {
    pl_conv_point *pt; /* ascending by position (the file's order) */
    size_t n;
};

/* Parse exactly `digits` hex digits (0: 1..16 decimal digits) from *s. */
static int parse_num(const char **s, int hex, int digits, uint64_t *out)
{
    const char *p = *s;
    uint64_t v = 0;
    int n = 0;
    for (;; p++, n++) {
        int d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (hex && *p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else
            break;
        if (hex) {
            if (n >= 16)
                return -1;
            v = v << 4 | (uint64_t)d;
        } else {
            if (v > (UINT64_MAX - (uint64_t)d) / 10)
                return -1;
            v = v * 10 + (uint64_t)d;
        }
    }
    if (n == 0 || (digits && n != digits))
        return -1;
    *s = p;
    *out = v;
    return 0;
}

/* "<pos> <state16> <sinkhi16><sinklo16> <rows>" with single spaces. */
static int parse_line(const char *s, pl_conv_point *pt)
{
    if (parse_num(&s, 0, 0, &pt->position) || *s++ != ' ' ||
        parse_num(&s, 1, 16, &pt->state) || *s++ != ' ')
        return -1;
    {
        /* the 32 hex digits of the sink digest: hi half, then lo half */
        char half[17];
        const char *h = half;
        if (strlen(s) < 33)
            return -1;
        memcpy(half, s, 16);
        half[16] = 0;
        if (parse_num(&h, 1, 16, &pt->sink.hi))
            return -1;
        memcpy(half, s + 16, 16);
        h = half;
        if (parse_num(&h, 1, 16, &pt->sink.lo))
            return -1;
        s += 32;
    }
    if (*s++ != ' ' || parse_num(&s, 0, 0, &pt->sink.rows) || *s)
        return -1;
    return 0;
}

int pl_conv_load(const char *path, pl_conv **out, pl_errbuf *eb)
{
    FILE *f = fopen(path, "re");
    pl_conv *c = NULL;
    char *line = NULL;
    size_t cap = 0, ncap = 0, lineno = 0;
    ssize_t len;
    int ret = 0;

    *out = NULL;
    if (!f)
        return pl_err_os(eb, errno, "digest file %s", path);
    c = calloc(1, sizeof *c);
    if (!c) {
        ret = pl_err_os(eb, ENOMEM, "digest file %s", path);
        goto fail;
    }
    errno = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        pl_conv_point pt;
        lineno++;
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = 0;
        if (parse_line(line, &pt) < 0) {
            ret = pl_err(eb, PL_EFORMAT, "digest file %s:%zu: expected 'POSITION STATE16 "
                         "SINK32 ROWS' (lowercase hex), got '%.60s'", path, lineno, line);
            goto fail;
        }
        if (c->n > 0 && pt.position < c->pt[c->n - 1].position) {
            ret = pl_err(eb, PL_EFORMAT, "digest file %s:%zu: position %" PRIu64
                         " below the line before", path, lineno, pt.position);
            goto fail;
        }
        if (c->n == ncap) {
            size_t nc = ncap ? 2 * ncap : 64;
            pl_conv_point *np = realloc(c->pt, nc * sizeof *np);
            if (!np) {
                ret = pl_err_os(eb, ENOMEM, "digest file %s", path);
                goto fail;
            }
            c->pt = np;
            ncap = nc;
        }
        c->pt[c->n++] = pt;
        errno = 0;
    }
    if (ferror(f)) {
        ret = pl_err_os(eb, errno ? errno : EIO, "reading digest file %s", path);
        goto fail;
    }
    free(line);
    fclose(f);
    *out = c;
    return 0;
fail:
    free(line);
    fclose(f);
    pl_conv_free(c);
    return ret;
}

void pl_conv_free(pl_conv *c)
{
    if (!c)
        return;
    free(c->pt);
    free(c);
}

int pl_conv_match(const pl_conv *c, const pl_conv_point *p)
{
    size_t lo = 0, hi = c->n;
    /* first line at p->position; a position may repeat (a resumed record) */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->pt[mid].position < p->position)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < c->n && c->pt[lo].position == p->position; lo++) {
        const pl_conv_point *q = &c->pt[lo];
        if (q->state == p->state && q->sink.lo == p->sink.lo && q->sink.hi == p->sink.hi &&
            q->sink.rows == p->sink.rows)
            return 1;
    }
    return 0;
}

int pl_conv_write(FILE *f, const pl_conv_point *p)
{
    if (fprintf(f, "%" PRIu64 " %016" PRIx64 " %016" PRIx64 "%016" PRIx64 " %" PRIu64 "\n",
                p->position, p->state, p->sink.hi, p->sink.lo, p->sink.rows) < 0)
        return -(errno ? errno : EIO);
    return 0;
}
