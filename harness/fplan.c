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

int hn_parse_u64(const char *s, size_t n, uint64_t *v)
{
    uint64_t k = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || k > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
            return -1;
        k = k * 10 + (uint64_t)(s[i] - '0');
    }
    *v = k;
    return 0;
}

int hn_errno_parse(const char *s, size_t n)
{
    uint64_t v;
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
        if (strlen(errs[i].name) == n && memcmp(errs[i].name, s, n) == 0)
            return errs[i].err;
    if (hn_parse_u64(s, n, &v) < 0)
        return -1;
    return v >= 1 && v <= 4095 ? (int)v : -1;
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

/* An fsync or fdatasync point of libfiu's POSIX preload. */
static int is_sync(const char *point)
{
    return strcmp(point, "posix/io/sync/fsync") == 0 ||
           strcmp(point, "posix/io/sync/fdatasync") == 0;
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
    /* fsyncgate: an fsync or fdatasync of the io-errors list fails, and a
     * power cut follows at the first checkpoint completed after it (the
     * failed call's data lost though a later fsync succeeded).  Hits in runs
     * of three consecutive calls spread over the run: a commit cycle makes
     * a few syncs of different files, and a run covers each of them. */
    int nsync = 0, js = 0;
    for (int e = 0; e < sc->nioerr; e++)
        nsync += is_sync(sc->ioerr_point[e]);
    for (int e = 0; e < sc->nioerr && sc->io_pc_budget > 0 && nsync > 0; e++) {
        if (!is_sync(sc->ioerr_point[e]))
            continue;
        int share = sc->io_pc_budget / nsync + (js < sc->io_pc_budget % nsync);
        uint64_t cnt = counts ? count_of(counts, sc->ioerr_point[e]) : 0;
        int m = cnt < (uint64_t)share ? (int)cnt : share;
        js++;
        for (int j = 0; j < m; j++) {
            hn_fault f[2];
            memset(f, 0, sizeof f);
            f[0].kind = HN_F_IOERR;
            snprintf(f[0].point, sizeof f[0].point, "%s", sc->ioerr_point[e]);
            uint64_t groups = (uint64_t)(m + 2) / 3, room = cnt > 2 ? cnt - 2 : 1;
            /* the g-th of `groups` runs at (g + 1) / (groups + 1) of the calls */
            uint64_t base = 1 + ((uint64_t)(j / 3) + 1) * (room - 1) / (groups + 1);
            f[0].k = base + (uint64_t)(j % 3) <= cnt ? base + (uint64_t)(j % 3) : cnt;
            f[0].err = sc->ioerr_errno[e];
            f[1].kind = HN_F_POWERCUT;
            f[1].model = HN_PC_STRICT;
            snprintf(f[1].point, sizeof f[1].point, "ckpt/done/after");
            f[1].k = 1;
            if ((ret = push(trials, n, &cap, &f[0], eb)) < 0)
                return ret;
            (*trials)[*n - 1].fault[1] = f[1];
            (*trials)[*n - 1].nfaults = 2;
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
            /* every other state dir of another configuration: the operator
             * runs --discard-state and that run is killed at its commit point */
            if (f.corrupt == HN_C_FOREIGN && j % 2 == 1) {
                hn_fault *d = &(*trials)[*n - 1].fault[1];
                memset(d, 0, sizeof *d);
                d->kind = HN_F_KILL;
                d->discard = 1;
                snprintf(d->point, sizeof d->point, "discard/rename/after");
                d->k = 1;
                (*trials)[*n - 1].nfaults = 2;
            }
        }
    }
    return 0;
}
