/*
 * fplan.c - names and planning of the I/O-error and corruption faults
 * (hn_faults.h).
 */
#include "hn_faults.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *call, *point;
} calls[] = {
    {"write", "posix/io/rw/write"},
    {"pwrite", "posix/io/rw/pwrite"},
    {"fsync", "posix/io/sync/fsync"},
    {"fdatasync", "posix/io/sync/fdatasync"},
    {"rename", "posix/io/dir/rename"},
    {"write-short", "posix/io/rw/write/reduce"},
    {"pwrite-short", "posix/io/rw/pwrite/reduce"},
};

int hn_ioerr_point(const char *s, size_t n, char *point, size_t pn)
{
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
        if (strlen(calls[i].call) == n && memcmp(calls[i].call, s, n) == 0) {
            snprintf(point, pn, "%s", calls[i].point);
            return 0;
        }
    if (n == 0 || n >= pn || n > HN_POINT_MAX || !memchr(s, '/', n))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~' || s[i] == '*' || s[i] == ':' || s[i] == ',')
            return -1;
    memcpy(point, s, n);
    point[n] = 0;
    return 0;
}

int hn_ioerr_is_posix(const char *point)
{
    /* libfiu's preload names its points posix/..., libc/... and linux/... */
    return strncmp(point, "posix/", 6) == 0 || strncmp(point, "libc/", 5) == 0 ||
           strncmp(point, "linux/", 6) == 0;
}

static const struct {
    const char *name;
    int err;
} errs[] = {{"EIO", EIO},     {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT}, {"EROFS", EROFS},
            {"EFBIG", EFBIG}, {"EINTR", EINTR},   {"EAGAIN", EAGAIN}, {"ENOMEM", ENOMEM},
            {"EACCES", EACCES}, {"EPERM", EPERM}, {"ENOENT", ENOENT}, {"EBADF", EBADF}};

int hn_errno_parse(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
        if (strlen(errs[i].name) == n && memcmp(errs[i].name, s, n) == 0)
            return errs[i].err;
    if (n == 0 || n > 4)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= 4095 ? v : -1;
}

int hn_corrupt_parse(const char *s, size_t n)
{
    for (int k = 0; k < HN_C__COUNT; k++)
        if (strlen(hn_corrupt_name(k)) == n && memcmp(hn_corrupt_name(k), s, n) == 0)
            return k;
    return -1;
}

/* The count of point in a count file's text; 0 when absent. */
static uint64_t count_of(const char *text, const char *point)
{
    size_t pl = strlen(point);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, point, pl) && l[pl] == ' ')
            return strtoull(l + pl + 1, NULL, 10);
    return 0;
}

/* The j-th of m hits spread over 1..count, first and last included. */
static uint64_t spread(int j, int m, uint64_t count)
{
    if (m <= 1 || count <= 1)
        return 1;
    return 1 + (uint64_t)j * (count - 1) / (uint64_t)(m - 1);
}

static int push(hn_trial **t, int *n, int *cap, const hn_fault *f, pl_errbuf *eb)
{
    if (*n == *cap) {
        int nc = *cap ? 2 * *cap : 64;
        hn_trial *nt = realloc(*t, (size_t)nc * sizeof *nt);
        if (!nt)
            return pl_err(eb, -ENOMEM, "out of memory planning fault trials");
        *t = nt;
        *cap = nc;
    }
    memset(&(*t)[*n], 0, sizeof **t);
    (*t)[*n].nfaults = 1;
    (*t)[*n].fault[0] = *f;
    (*n)++;
    return 0;
}

int hn__plan_io_corrupt(const hn_scenario *sc, const char *counts, const hn_point *pts,
                        int npts, hn_trial **trials, int *n, pl_errbuf *eb)
{
    int cap = *n, ret = 0;
    for (int e = 0; e < sc->nioerr && sc->io_budget > 0; e++) {
        /* entries earlier in the list take the remainder */
        int share = sc->io_budget / sc->nioerr + (e < sc->io_budget % sc->nioerr);
        uint64_t cnt = counts ? count_of(counts, sc->ioerr_point[e]) : 0;
        int m = cnt < (uint64_t)share ? (int)cnt : share;
        for (int j = 0; j < m; j++) {
            hn_fault f;
            memset(&f, 0, sizeof f);
            f.kind = HN_F_IOERR;
            snprintf(f.point, sizeof f.point, "%s", sc->ioerr_point[e]);
            f.k = spread(j, m, cnt);
            f.err = sc->ioerr_errno[e];
            if ((ret = push(trials, n, &cap, &f, eb)) < 0)
                return ret;
        }
    }
    for (int e = 0; e < sc->ncorrupt && sc->corrupt_budget > 0 && npts > 0; e++) {
        int share = sc->corrupt_budget / sc->ncorrupt + (e < sc->corrupt_budget % sc->ncorrupt);
        for (int j = 0; j < share; j++) {
            const hn_point *p = &pts[j % npts];
            /* the j-th visit of this point among the share */
            int visits = (share - 1 - j % npts) / npts + 1, v = j / npts;
            hn_fault f;
            memset(&f, 0, sizeof f);
            f.kind = HN_F_CORRUPT;
            snprintf(f.point, sizeof f.point, "%s", p->name);
            f.k = spread(v, visits, p->count);
            f.corrupt = sc->corrupt[e];
            f.seed = (uint64_t)j + 1;
            if ((ret = push(trials, n, &cap, &f, eb)) < 0)
                return ret;
        }
    }
    return 0;
}
