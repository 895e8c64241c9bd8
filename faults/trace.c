/*
 * trace.c - rp-trace.so, the preload library that records every
 * file-system operation a process makes under one directory, and the
 * libfiu point hits in between, for the harness's power-cut explorer
 * (harness/cutstate.c builds crash states from it offline).
 *
 *   RP_TRACE_DIR=DIR   the directory to watch (a pipeline's state dir)
 *   RP_TRACE_OUT=PATH  the trace (PATH) and the written bytes (PATH.data);
 *                      format in ft_trace.h
 *
 * Layout: configuration and the real functions (dlsym RTLD_NEXT); paths
 * (absolute, normalised, relative to DIR); the descriptor table (fd ->
 * inode, path); the record writer; the
 * start-of-run snapshot of DIR; the interposers, grouped as open/close/dup,
 * writes, sizes, syncs, namespace, libfiu; the constructor.
 *
 * What it sees: calls through the dynamic symbol table.  The pipeline and
 * Debian's libsqlite3 (whose VFS keeps pointers to open64, pwrite64,
 * fdatasync, ftruncate64, unlink, ... resolved through the same table) go
 * through it; glibc's own internal calls (stdio's write, remove's unlink)
 * and writes through mmap (SQLite's -shm) do not.  The -shm file is a
 * cache that SQLite rebuilds from the WAL when it is invalid, so the crash
 * states do not need its contents.
 *
 * fiu_fail() is interposed the way rp-crash.so does it (see crash.c): the
 * hit is recorded first, then the next fiu_fail in the lookup order (rp-
 * crash.so's when both are preloaded, this one first; else libfiu's) runs,
 * so a crash armed at the same hit happens after the hit is in the trace.
 *
 * Records go straight to the files with one write each: a traced process
 * that is killed leaves a valid prefix.  Like crash.c this file prints and
 * exits when its configuration is bad: nobody else could report it.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ft_trace.h"

#define TR_MAX_FIU 512    /* distinct point names counted */
#define TR_TLS _Thread_local __attribute__((tls_model("initial-exec")))

enum { FD_UNKNOWN = 0, FD_NOT_OURS, FD_OURS };

typedef struct tr_fd {
    uint8_t state;        /* FD_*: an inherited descriptor starts unknown */
    uint8_t dir, sync, append;
    uint64_t ino;
    char *path;           /* absolute, normalised */
} tr_fd;

static struct {
    int active;
    char dir[PATH_MAX];
    size_t dirlen;
    int tfd, dfd;
    tr_fd *fds;
    int nfds;
    struct {
        const char *name;
        uint64_t hits;
    } fiu[TR_MAX_FIU];
    int nfiu;
} tr;

static pthread_mutex_t tr_lock = PTHREAD_MUTEX_INITIALIZER;
static TR_TLS int tr_busy; /* inside the tracer: calls pass straight through */

/* ---- configuration and real functions ---------------------------------- */

static void tr_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void tr_die(const char *fmt, ...)
{
    char line[PATH_MAX + 200];
    va_list ap;
    int n = snprintf(line, sizeof line, "rp-trace: ");
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    strcat(line, "\n");
    if (write(STDERR_FILENO, line, strlen(line)) < 0) {
        /* nothing left to report to */
    }
    _exit(2);
}

#define REAL(ret, name, args)                                                            \
    static ret(*real_##name) args;                                                       \
    static ret(*get_##name(void)) args                                                   \
    {                                                                                    \
        if (!real_##name)                                                                \
            *(void **)&real_##name = dlsym(RTLD_NEXT, #name);                            \
        return real_##name;                                                              \
    }

REAL(int, open, (const char *, int, ...))
REAL(int, open64, (const char *, int, ...))
REAL(int, openat, (int, const char *, int, ...))
REAL(int, openat64, (int, const char *, int, ...))
REAL(int, close, (int))
REAL(int, dup, (int))
REAL(int, dup2, (int, int))
REAL(int, dup3, (int, int, int))
REAL(int, fcntl, (int, int, ...))
REAL(int, fcntl64, (int, int, ...))
REAL(ssize_t, write, (int, const void *, size_t))
REAL(ssize_t, pwrite, (int, const void *, size_t, off_t))
REAL(ssize_t, pwrite64, (int, const void *, size_t, off_t))
REAL(ssize_t, writev, (int, const struct iovec *, int))
REAL(ssize_t, pwritev, (int, const struct iovec *, int, off_t))
REAL(ssize_t, pwritev64, (int, const struct iovec *, int, off_t))
REAL(ssize_t, pwritev2, (int, const struct iovec *, int, off_t, int))
REAL(int, ftruncate, (int, off_t))
REAL(int, ftruncate64, (int, off_t))
REAL(int, truncate, (const char *, off_t))
REAL(int, truncate64, (const char *, off_t))
REAL(int, fallocate, (int, int, off_t, off_t))
REAL(int, fallocate64, (int, int, off_t, off_t))
REAL(int, posix_fallocate, (int, off_t, off_t))
REAL(int, posix_fallocate64, (int, off_t, off_t))
REAL(int, fsync, (int))
REAL(int, fdatasync, (int))
REAL(int, sync_file_range, (int, off_t, off_t, unsigned int))
REAL(void, sync, (void))
REAL(int, syncfs, (int))
REAL(int, rename, (const char *, const char *))
REAL(int, renameat, (int, const char *, int, const char *))
REAL(int, renameat2, (int, const char *, int, const char *, unsigned int))
REAL(int, link, (const char *, const char *))
REAL(int, linkat, (int, const char *, int, const char *, int))
REAL(int, unlink, (const char *))
REAL(int, unlinkat, (int, const char *, int))
REAL(int, mkdir, (const char *, mode_t))
REAL(int, mkdirat, (int, const char *, mode_t))
REAL(int, rmdir, (const char *))
REAL(int, fiu_fail, (const char *))

/* ---- paths -------------------------------------------------------------- */

/* Collapse "//", "/./" and "/x/.." in place; out is absolute. */
static void tr_normalise(char *p)
{
    char *out = p, *s = p;
    while (*s) {
        while (*s == '/')
            s++;
        if (!*s)
            break;
        char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 1 && s[0] == '.') {
            /* nothing */
        } else if (n == 2 && s[0] == '.' && s[1] == '.') {
            while (out > p && *--out != '/')
                ;
        } else {
            *out++ = '/';
            memmove(out, s, n);
            out += n;
        }
        s += n;
    }
    if (out == p)
        *out++ = '/';
    *out = 0;
}

/* The absolute path of (dirfd, path) into out; -1 when it cannot be known. */
static int tr_abs(int dirfd, const char *path, char *out)
{
    char base[PATH_MAX];
    if (!path)
        return -1;
    if (path[0] == '/') {
        if (strlen(path) >= PATH_MAX)
            return -1;
        strcpy(out, path);
    } else {
        if (dirfd == AT_FDCWD) {
            if (!getcwd(base, sizeof base))
                return -1;
        } else if (dirfd >= 0 && dirfd < tr.nfds && tr.fds[dirfd].path) {
            snprintf(base, sizeof base, "%s", tr.fds[dirfd].path);
        } else {
            char link[64];
            ssize_t n;
            snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
            n = readlink(link, base, sizeof base - 1);
            if (n < 0)
                return -1;
            base[n] = 0;
        }
        if ((size_t)snprintf(out, PATH_MAX, "%s/%s", base, path) >= PATH_MAX)
            return -1;
    }
    tr_normalise(out);
    return 0;
}

/* The part of abs below DIR ("" for DIR itself), or NULL when outside. */
static const char *tr_rel(const char *abs)
{
    if (strncmp(abs, tr.dir, tr.dirlen) != 0)
        return NULL;
    if (abs[tr.dirlen] == 0)
        return abs + tr.dirlen;
    if (abs[tr.dirlen] == '/')
        return abs + tr.dirlen + 1;
    return NULL;
}

/* ---- descriptors --------------------------------------------------------- */

static tr_fd *tr_slot(int fd)
{
    if (fd < 0)
        return NULL;
    if (fd >= tr.nfds) {
        int n = tr.nfds ? tr.nfds : 64;
        while (n <= fd)
            n *= 2;
        tr_fd *nf = realloc(tr.fds, (size_t)n * sizeof *nf);
        if (!nf)
            tr_die("out of memory");
        memset(nf + tr.nfds, 0, (size_t)(n - tr.nfds) * sizeof *nf);
        tr.fds = nf;
        tr.nfds = n;
    }
    return &tr.fds[fd];
}

/* fd is known not to be ours (closed, or opened outside DIR). */
static void tr_fd_clear(int fd)
{
    tr_fd *s = tr_slot(fd);
    if (s) {
        free(s->path);
        memset(s, 0, sizeof *s);
        s->state = FD_NOT_OURS;
    }
}

/* Fill s from what fd is, given its absolute path. */
static void tr_fd_fill(tr_fd *s, int fd, const char *abs, int flags)
{
    struct stat st;
    free(s->path);
    memset(s, 0, sizeof *s);
    s->state = FD_NOT_OURS;
    if (!tr_rel(abs) || fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
        return;
    s->state = FD_OURS;
    s->ino = (uint64_t)st.st_ino;
    s->dir = S_ISDIR(st.st_mode);
    s->sync = (flags & (O_SYNC | O_DSYNC)) != 0;
    s->append = (flags & O_APPEND) != 0;
    s->path = strdup(abs);
}

/* The traced object behind fd, or NULL.  A descriptor this process did not
 * open through us (inherited across exec) is looked up once. */
static tr_fd *tr_fd_get(int fd)
{
    tr_fd *s = tr_slot(fd);
    if (!s)
        return NULL;
    if (s->state == FD_UNKNOWN) {
        char link[64], abs[PATH_MAX];
        ssize_t n;
        int fl;
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        n = readlink(link, abs, sizeof abs - 1);
        fl = get_fcntl()(fd, F_GETFL);
        if (n <= 0 || abs[0] != '/' || fl < 0) {
            tr_fd_clear(fd);
            return NULL;
        }
        abs[n] = 0;
        tr_fd_fill(s, fd, abs, fl);
    }
    return s->state == FD_OURS ? s : NULL;
}

/* ---- records ------------------------------------------------------------- */

static void tr_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = get_write()(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            tr_die("writing the trace: %s", strerror(w < 0 ? errno : EIO));
        p += w;
        n -= (size_t)w;
    }
}

/*
 * Append one record, with len bytes gathered from iov (INIT_FILE, WRITE)
 * into PATH.data.  Under an flock of PATH.data, because the programs a
 * traced shell runs append to the same trace.
 */
static void tr_emit(int op, int flags, uint64_t ino, const char *path, const char *path2,
                    uint64_t off, uint64_t len, const struct iovec *iov, int iovcnt, int err)
{
    char buf[sizeof(ft_trec) + 2 * PATH_MAX];
    ft_trec r;
    struct stat st;
    size_t pl = path ? strlen(path) : 0, p2 = path2 ? strlen(path2) : 0;
    if (pl >= PATH_MAX || p2 >= PATH_MAX)
        tr_die("path too long in the trace");
    memset(&r, 0, sizeof r);
    r.op = (uint8_t)op;
    r.flags = (uint8_t)flags;
    r.plen = (uint16_t)pl;
    r.p2len = (uint16_t)p2;
    r.err = err;
    r.ino = ino;
    r.off = off;
    r.len = len;
    while (flock(tr.dfd, LOCK_EX) != 0)
        if (errno != EINTR)
            tr_die("flock(trace data): %s", strerror(errno));
    if (iov) {
        size_t left = (size_t)len;
        if (fstat(tr.dfd, &st) != 0)
            tr_die("fstat(trace data): %s", strerror(errno));
        r.data = (uint64_t)st.st_size;
        for (int i = 0; i < iovcnt && left > 0; i++) {
            size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
            tr_write_all(tr.dfd, iov[i].iov_base, n);
            left -= n;
        }
    }
    memcpy(buf, &r, sizeof r);
    if (pl)
        memcpy(buf + sizeof r, path, pl);
    if (p2)
        memcpy(buf + sizeof r + pl, path2, p2);
    tr_write_all(tr.tfd, buf, sizeof r + pl + p2);
    flock(tr.dfd, LOCK_UN);
}

/* Is this call ours to record?  Takes the lock when it is. */
static int tr_enter(void)
{
    if (!tr.active || tr_busy)
        return 0;
    pthread_mutex_lock(&tr_lock);
    tr_busy = 1;
    return 1;
}

static void tr_leave(void)
{
    tr_busy = 0;
    pthread_mutex_unlock(&tr_lock);
}

/* ---- the start-of-run snapshot ------------------------------------------ */

static int tr_snap_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    const char *rel = tr_rel(path);
    (void)ftw;
    if (!rel)
        return 0;
    if (flag == FTW_D) {
        tr_emit(FT_OP_INIT_DIR, FT_TF_DIR, (uint64_t)st->st_ino, rel, NULL, 0, 0, NULL, 0, 0);
    } else if (flag == FTW_F && S_ISREG(st->st_mode)) {
        struct iovec v = {NULL, 0};
        size_t cap = 0;
        int fd = get_open()(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = 0;
        if (fd < 0)
            tr_die("snapshot: open(%s): %s", path, strerror(errno));
        for (;;) {
            if (v.iov_len == cap) {
                char *nb = realloc(v.iov_base, cap = cap ? cap * 2 : 65536);
                if (!nb)
                    tr_die("out of memory");
                v.iov_base = nb;
            }
            n = read(fd, (char *)v.iov_base + v.iov_len, cap - v.iov_len);
            if (n <= 0)
                break;
            v.iov_len += (size_t)n;
        }
        get_close()(fd);
        if (n < 0)
            tr_die("snapshot: read(%s): %s", path, strerror(errno));
        tr_emit(FT_OP_INIT_FILE, 0, (uint64_t)st->st_ino, rel, NULL, 0, v.iov_len, &v, 1, 0);
        free(v.iov_base);
    }
    return 0;
}

/* ---- open, close, dup -------------------------------------------------- */

/* After a successful open of abs: track fd, record a creation or truncation. */
static void tr_opened(int fd, const char *abs, int flags, int existed)
{
    const char *rel = tr_rel(abs);
    tr_fd *s = tr_slot(fd);
    if (!s)
        return;
    tr_fd_fill(s, fd, abs, flags);
    if (s->state != FD_OURS || s->dir)
        return;
    if ((flags & O_CREAT) && !existed)
        tr_emit(FT_OP_OPEN, FT_TF_CREATED | ((flags & O_TRUNC) ? FT_TF_TRUNC : 0), s->ino, rel,
                NULL, 0, 0, NULL, 0, 0);
    else if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY)
        tr_emit(FT_OP_OPEN, FT_TF_TRUNC, s->ino, rel, NULL, 0, 0, NULL, 0, 0);
}

static int tr_open_common(int dirfd, const char *path, int flags, mode_t mode, int how)
{
    char abs[PATH_MAX];
    int traced = tr_enter(), existed = 0, fd, saved;
    struct stat st;
    if (traced && tr_abs(dirfd, path, abs) == 0 && tr_rel(abs) && (flags & O_CREAT))
        existed = stat(abs, &st) == 0;
    switch (how) {
    case 0: fd = get_open()(path, flags, mode); break;
    case 1: fd = get_open64()(path, flags, mode); break;
    case 2: fd = get_openat()(dirfd, path, flags, mode); break;
    default: fd = get_openat64()(dirfd, path, flags, mode); break;
    }
    if (traced) {
        saved = errno;
        if (fd >= 0 && tr_abs(dirfd, path, abs) == 0)
            tr_opened(fd, abs, flags, existed);
        else if (fd >= 0)
            tr_fd_clear(fd);
        tr_leave();
        errno = saved;
    }
    return fd;
}

static mode_t tr_mode(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

__attribute__((visibility("default"))) int open(const char *path, int flags, ...)
{
    va_list ap;
    mode_t m;
    va_start(ap, flags);
    m = tr_mode(flags, ap);
    va_end(ap);
    return tr_open_common(AT_FDCWD, path, flags, m, 0);
}

__attribute__((visibility("default"))) int open64(const char *path, int flags, ...)
{
    va_list ap;
    mode_t m;
    va_start(ap, flags);
    m = tr_mode(flags, ap);
    va_end(ap);
    return tr_open_common(AT_FDCWD, path, flags, m, 1);
}

__attribute__((visibility("default"))) int __open_2(const char *path, int flags)
{
    return tr_open_common(AT_FDCWD, path, flags, 0, 0);
}

__attribute__((visibility("default"))) int __open64_2(const char *path, int flags)
{
    return tr_open_common(AT_FDCWD, path, flags, 0, 1);
}

__attribute__((visibility("default"))) int openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    mode_t m;
    va_start(ap, flags);
    m = tr_mode(flags, ap);
    va_end(ap);
    return tr_open_common(dirfd, path, flags, m, 2);
}

__attribute__((visibility("default"))) int openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    mode_t m;
    va_start(ap, flags);
    m = tr_mode(flags, ap);
    va_end(ap);
    return tr_open_common(dirfd, path, flags, m, 3);
}

__attribute__((visibility("default"))) int __openat_2(int dirfd, const char *path, int flags)
{
    return tr_open_common(dirfd, path, flags, 0, 2);
}

__attribute__((visibility("default"))) int __openat64_2(int dirfd, const char *path, int flags)
{
    return tr_open_common(dirfd, path, flags, 0, 3);
}

__attribute__((visibility("default"))) int creat(const char *path, mode_t mode)
{
    return tr_open_common(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode, 0);
}

__attribute__((visibility("default"))) int creat64(const char *path, mode_t mode)
{
    return tr_open_common(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode, 1);
}

__attribute__((visibility("default"))) int close(int fd)
{
    if (tr_enter()) {
        tr_fd *s = tr_fd_get(fd);
        if (s)
            tr_emit(FT_OP_CLOSE, s->dir ? FT_TF_DIR : 0, s->ino, NULL, NULL, 0, 0, NULL, 0, 0);
        tr_fd_clear(fd);
        tr_leave();
    }
    return get_close()(fd);
}

/* newfd is a copy of oldfd (dup, dup2, dup3, F_DUPFD). */
static void tr_dup(int oldfd, int newfd)
{
    tr_fd *o, *n;
    if (newfd < 0 || newfd == oldfd)
        return;
    tr_fd_clear(newfd);
    o = tr_fd_get(oldfd);
    if (!o)
        return;
    n = tr_slot(newfd);
    o = tr_fd_get(oldfd); /* tr_slot may have moved the table */
    free(n->path);
    *n = *o;
    n->path = o->path ? strdup(o->path) : NULL;
}

__attribute__((visibility("default"))) int dup(int fd)
{
    int r = get_dup()(fd), saved = errno;
    if (r >= 0 && tr_enter()) {
        tr_dup(fd, r);
        tr_leave();
    }
    errno = saved;
    return r;
}

__attribute__((visibility("default"))) int dup2(int fd, int fd2)
{
    int r = get_dup2()(fd, fd2), saved = errno;
    if (r >= 0 && tr_enter()) {
        tr_dup(fd, r);
        tr_leave();
    }
    errno = saved;
    return r;
}

__attribute__((visibility("default"))) int dup3(int fd, int fd2, int flags)
{
    int r = get_dup3()(fd, fd2, flags), saved = errno;
    if (r >= 0 && tr_enter()) {
        tr_dup(fd, r);
        tr_leave();
    }
    errno = saved;
    return r;
}

static int tr_fcntl(int fd, int cmd, void *arg, int is64)
{
    int r = is64 ? get_fcntl64()(fd, cmd, arg) : get_fcntl()(fd, cmd, arg), saved = errno;
    if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && tr_enter()) {
        tr_dup(fd, r);
        tr_leave();
    }
    errno = saved;
    return r;
}

__attribute__((visibility("default"))) int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    void *arg;
    va_start(ap, cmd);
    arg = va_arg(ap, void *);
    va_end(ap);
    return tr_fcntl(fd, cmd, arg, 0);
}

__attribute__((visibility("default"))) int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    void *arg;
    va_start(ap, cmd);
    arg = va_arg(ap, void *);
    va_end(ap);
    return tr_fcntl(fd, cmd, arg, 1);
}

/* ---- writes ------------------------------------------------------------- */

/* Where a write() on s will land: the end for O_APPEND, else the offset. */
static off_t tr_cur(int fd, const tr_fd *s)
{
    struct stat st;
    if (s->append)
        return fstat(fd, &st) == 0 ? st.st_size : 0;
    return lseek(fd, 0, SEEK_CUR);
}

static void tr_wrote(const tr_fd *s, off_t off, const struct iovec *iov, int cnt, size_t done)
{
    tr_emit(FT_OP_WRITE, s->sync ? FT_TF_SYNCIO : 0, s->ino, NULL, NULL, (uint64_t)off, done,
            iov, cnt, 0);
}

/* One write-like call: off < 0 means "at the descriptor's offset". */
static ssize_t tr_writev_common(int fd, const struct iovec *iov, int cnt, off_t off,
                                ssize_t (*call)(int, const struct iovec *, int, off_t, void *),
                                void *arg)
{
    int traced = tr_enter(), saved;
    tr_fd *s = traced ? tr_fd_get(fd) : NULL;
    off_t at = off;
    ssize_t r;
    if (s && !s->dir && off < 0)
        at = tr_cur(fd, s);
    r = call(fd, iov, cnt, off, arg);
    if (traced) {
        saved = errno;
        if (s && !s->dir && r > 0 && at >= 0)
            tr_wrote(s, at, iov, cnt, (size_t)r);
        tr_leave();
        errno = saved;
    }
    return r;
}

static ssize_t call_write(int fd, const struct iovec *iov, int cnt, off_t off, void *a)
{
    (void)cnt, (void)off, (void)a;
    return get_write()(fd, iov[0].iov_base, iov[0].iov_len);
}

static ssize_t call_pwrite(int fd, const struct iovec *iov, int cnt, off_t off, void *a)
{
    (void)cnt;
    return a ? get_pwrite64()(fd, iov[0].iov_base, iov[0].iov_len, off)
             : get_pwrite()(fd, iov[0].iov_base, iov[0].iov_len, off);
}

static ssize_t call_writev(int fd, const struct iovec *iov, int cnt, off_t off, void *a)
{
    (void)off, (void)a;
    return get_writev()(fd, iov, cnt);
}

static ssize_t call_pwritev(int fd, const struct iovec *iov, int cnt, off_t off, void *a)
{
    return a ? get_pwritev64()(fd, iov, cnt, off) : get_pwritev()(fd, iov, cnt, off);
}

__attribute__((visibility("default"))) ssize_t write(int fd, const void *buf, size_t n)
{
    struct iovec v = {(void *)buf, n};
    if (!tr.active || tr_busy)
        return get_write()(fd, buf, n);
    return tr_writev_common(fd, &v, 1, -1, call_write, NULL);
}

__attribute__((visibility("default"))) ssize_t pwrite(int fd, const void *buf, size_t n,
                                                      off_t off)
{
    struct iovec v = {(void *)buf, n};
    return tr_writev_common(fd, &v, 1, off, call_pwrite, NULL);
}

__attribute__((visibility("default"))) ssize_t pwrite64(int fd, const void *buf, size_t n,
                                                        off_t off)
{
    struct iovec v = {(void *)buf, n};
    return tr_writev_common(fd, &v, 1, off, call_pwrite, (void *)1);
}

__attribute__((visibility("default"))) ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    return tr_writev_common(fd, iov, cnt, -1, call_writev, NULL);
}

__attribute__((visibility("default"))) ssize_t pwritev(int fd, const struct iovec *iov, int cnt,
                                                       off_t off)
{
    return tr_writev_common(fd, iov, cnt, off, call_pwritev, NULL);
}

__attribute__((visibility("default"))) ssize_t pwritev64(int fd, const struct iovec *iov,
                                                         int cnt, off_t off)
{
    return tr_writev_common(fd, iov, cnt, off, call_pwritev, (void *)1);
}

static ssize_t call_pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, void *a)
{
    return get_pwritev2()(fd, iov, cnt, off, (int)(intptr_t)a);
}

__attribute__((visibility("default"))) ssize_t pwritev2(int fd, const struct iovec *iov,
                                                        int cnt, off_t off, int flags)
{
    return tr_writev_common(fd, iov, cnt, off, call_pwritev2, (void *)(intptr_t)flags);
}

/* ---- sizes -------------------------------------------------------------- */

static void tr_sized(int fd, int r, int op, uint64_t off, uint64_t len, int mode)
{
    int saved = errno;
    if (r == 0 && tr_enter()) {
        tr_fd *s = tr_fd_get(fd);
        if (s && !s->dir)
            tr_emit(op, 0, s->ino, NULL, NULL, off, len, NULL, 0, mode);
        tr_leave();
    }
    errno = saved;
}

__attribute__((visibility("default"))) int ftruncate(int fd, off_t len)
{
    int r = get_ftruncate()(fd, len);
    tr_sized(fd, r, FT_OP_TRUNC, (uint64_t)len, 0, 0);
    return r;
}

__attribute__((visibility("default"))) int ftruncate64(int fd, off_t len)
{
    int r = get_ftruncate64()(fd, len);
    tr_sized(fd, r, FT_OP_TRUNC, (uint64_t)len, 0, 0);
    return r;
}

static int tr_truncate_path(const char *path, off_t len, int is64)
{
    int r = is64 ? get_truncate64()(path, len) : get_truncate()(path, len), saved = errno;
    char abs[PATH_MAX];
    struct stat st;
    if (r == 0 && tr_enter()) {
        if (tr_abs(AT_FDCWD, path, abs) == 0 && tr_rel(abs) && stat(abs, &st) == 0)
            tr_emit(FT_OP_TRUNC, 0, (uint64_t)st.st_ino, NULL, NULL, (uint64_t)len, 0, NULL, 0,
                    0);
        tr_leave();
    }
    errno = saved;
    return r;
}

__attribute__((visibility("default"))) int truncate(const char *path, off_t len)
{
    return tr_truncate_path(path, len, 0);
}

__attribute__((visibility("default"))) int truncate64(const char *path, off_t len)
{
    return tr_truncate_path(path, len, 1);
}

__attribute__((visibility("default"))) int fallocate(int fd, int mode, off_t off, off_t len)
{
    int r = get_fallocate()(fd, mode, off, len);
    tr_sized(fd, r, FT_OP_FALLOC, (uint64_t)off, (uint64_t)len, mode);
    return r;
}

__attribute__((visibility("default"))) int fallocate64(int fd, int mode, off_t off, off_t len)
{
    int r = get_fallocate64()(fd, mode, off, len);
    tr_sized(fd, r, FT_OP_FALLOC, (uint64_t)off, (uint64_t)len, mode);
    return r;
}

__attribute__((visibility("default"))) int posix_fallocate(int fd, off_t off, off_t len)
{
    int r = get_posix_fallocate()(fd, off, len);
    tr_sized(fd, r, FT_OP_FALLOC, (uint64_t)off, (uint64_t)len, 0);
    return r;
}

__attribute__((visibility("default"))) int posix_fallocate64(int fd, off_t off, off_t len)
{
    int r = get_posix_fallocate64()(fd, off, len);
    tr_sized(fd, r, FT_OP_FALLOC, (uint64_t)off, (uint64_t)len, 0);
    return r;
}

/* ---- syncs -------------------------------------------------------------- */

static void tr_synced(int fd, int r, int flags)
{
    int saved = errno;
    if (tr_enter()) {
        tr_fd *s = tr_fd_get(fd);
        if (s)
            tr_emit(FT_OP_FSYNC, flags | (s->dir ? FT_TF_DIR : 0), s->ino, NULL, NULL, 0, 0, NULL,
                    0, r == 0 ? 0 : saved);
        tr_leave();
    }
    errno = saved;
}

__attribute__((visibility("default"))) int fsync(int fd)
{
    int r = get_fsync()(fd);
    tr_synced(fd, r, 0);
    return r;
}

__attribute__((visibility("default"))) int fdatasync(int fd)
{
    int r = get_fdatasync()(fd);
    tr_synced(fd, r, FT_TF_DATASYNC);
    return r;
}

__attribute__((visibility("default"))) int sync_file_range(int fd, off_t off, off_t n,
                                                             unsigned int flags)
{
    int r = get_sync_file_range()(fd, off, n, flags);
    tr_sized(fd, r, FT_OP_SFR, (uint64_t)off, (uint64_t)n, 0);
    return r;
}

__attribute__((visibility("default"))) void sync(void)
{
    get_sync()();
    if (tr_enter()) {
        tr_emit(FT_OP_SYNC, 0, 0, NULL, NULL, 0, 0, NULL, 0, 0);
        tr_leave();
    }
}

__attribute__((visibility("default"))) int syncfs(int fd)
{
    int r = get_syncfs()(fd), saved = errno;
    if (r == 0 && tr_enter()) {
        tr_emit(FT_OP_SYNC, 0, 0, NULL, NULL, 0, 0, NULL, 0, 0);
        tr_leave();
    }
    errno = saved;
    return r;
}

/* ---- namespace ---------------------------------------------------------- */

/* Open descriptors follow a renamed object (and everything below it). */
static void tr_moved(const char *from, const char *to)
{
    size_t fl = strlen(from);
    for (int i = 0; i < tr.nfds; i++) {
        char *p = tr.fds[i].path, buf[PATH_MAX];
        if (!p || strncmp(p, from, fl) != 0 || (p[fl] != 0 && p[fl] != '/'))
            continue;
        if ((size_t)snprintf(buf, sizeof buf, "%s%s", to, p + fl) >= sizeof buf)
            continue;
        free(p);
        tr.fds[i].path = strdup(buf);
    }
}

static int tr_rename_common(int ofd, const char *old, int nfd, const char *new_, unsigned flags,
                            int how)
{
    char a[PATH_MAX], b[PATH_MAX];
    int traced = tr_enter(), ok = 0, r, saved;
    uint64_t ino = 0;
    struct stat st;
    if (traced && tr_abs(ofd, old, a) == 0 && tr_abs(nfd, new_, b) == 0 &&
        (tr_rel(a) || tr_rel(b))) {
        ok = 1;
        if (lstat(a, &st) == 0)
            ino = (uint64_t)st.st_ino;
    }
    if (how == 0)
        r = get_rename()(old, new_);
    else if (how == 1)
        r = get_renameat()(ofd, old, nfd, new_);
    else
        r = get_renameat2()(ofd, old, nfd, new_, flags);
    if (traced) {
        saved = errno;
        if (r == 0 && ok) {
            if (tr_rel(a) && tr_rel(b))
                tr_emit(FT_OP_RENAME, 0, ino, tr_rel(a), tr_rel(b), flags, 0, NULL, 0, 0);
            else if (tr_rel(a)) /* moved out of DIR: gone from it */
                tr_emit(FT_OP_UNLINK, 0, ino, tr_rel(a), NULL, 0, 0, NULL, 0, 0);
            /* moved in from outside: its contents were never traced; the
             * builder cannot know them (documented limit) */
            tr_moved(a, b);
        }
        tr_leave();
        errno = saved;
    }
    return r;
}

__attribute__((visibility("default"))) int rename(const char *old, const char *new_)
{
    return tr_rename_common(AT_FDCWD, old, AT_FDCWD, new_, 0, 0);
}

__attribute__((visibility("default"))) int renameat(int ofd, const char *old, int nfd,
                                                    const char *new_)
{
    return tr_rename_common(ofd, old, nfd, new_, 0, 1);
}

__attribute__((visibility("default"))) int renameat2(int ofd, const char *old, int nfd,
                                                     const char *new_, unsigned int flags)
{
    return tr_rename_common(ofd, old, nfd, new_, flags, 2);
}

static int tr_link_common(int ofd, const char *old, int nfd, const char *new_, int flags,
                          int how)
{
    char a[PATH_MAX], b[PATH_MAX];
    int traced = tr_enter(), r, saved;
    struct stat st;
    r = how ? get_linkat()(ofd, old, nfd, new_, flags) : get_link()(old, new_);
    if (traced) {
        saved = errno;
        if (r == 0 && tr_abs(ofd, old, a) == 0 && tr_abs(nfd, new_, b) == 0 && tr_rel(b) &&
            lstat(b, &st) == 0)
            tr_emit(FT_OP_LINK, 0, (uint64_t)st.st_ino, tr_rel(a) ? tr_rel(a) : "", tr_rel(b), 0,
                    0, NULL, 0, 0);
        tr_leave();
        errno = saved;
    }
    return r;
}

__attribute__((visibility("default"))) int link(const char *old, const char *new_)
{
    return tr_link_common(AT_FDCWD, old, AT_FDCWD, new_, 0, 0);
}

__attribute__((visibility("default"))) int linkat(int ofd, const char *old, int nfd,
                                                  const char *new_, int flags)
{
    return tr_link_common(ofd, old, nfd, new_, flags, 1);
}

/* unlink, unlinkat, rmdir: how 0 unlink, 1 unlinkat, 2 rmdir. */
static int tr_remove_common(int dfd, const char *path, int flags, int how)
{
    char a[PATH_MAX];
    int traced = tr_enter(), ok = 0, r, saved;
    uint64_t ino = 0;
    struct stat st;
    if (traced && tr_abs(dfd, path, a) == 0 && tr_rel(a)) {
        ok = 1;
        if (lstat(a, &st) == 0)
            ino = (uint64_t)st.st_ino;
    }
    if (how == 0)
        r = get_unlink()(path);
    else if (how == 1)
        r = get_unlinkat()(dfd, path, flags);
    else
        r = get_rmdir()(path);
    if (traced) {
        saved = errno;
        if (r == 0 && ok) {
            int dir = how == 2 || (flags & AT_REMOVEDIR);
            tr_emit(dir ? FT_OP_RMDIR : FT_OP_UNLINK, dir ? FT_TF_DIR : 0, ino, tr_rel(a), NULL,
                    0, 0, NULL, 0, 0);
        }
        tr_leave();
        errno = saved;
    }
    return r;
}

__attribute__((visibility("default"))) int unlink(const char *path)
{
    return tr_remove_common(AT_FDCWD, path, 0, 0);
}

__attribute__((visibility("default"))) int unlinkat(int dfd, const char *path, int flags)
{
    return tr_remove_common(dfd, path, flags, 1);
}

__attribute__((visibility("default"))) int rmdir(const char *path)
{
    return tr_remove_common(AT_FDCWD, path, 0, 2);
}

static int tr_mkdir_common(int dfd, const char *path, mode_t mode, int how)
{
    char a[PATH_MAX];
    int traced = tr_enter(), r, saved;
    struct stat st;
    r = how ? get_mkdirat()(dfd, path, mode) : get_mkdir()(path, mode);
    if (traced) {
        saved = errno;
        if (r == 0 && tr_abs(dfd, path, a) == 0 && tr_rel(a) && stat(a, &st) == 0)
            tr_emit(FT_OP_MKDIR, FT_TF_DIR, (uint64_t)st.st_ino, tr_rel(a), NULL, 0, 0, NULL, 0,
                    0);
        tr_leave();
        errno = saved;
    }
    return r;
}

__attribute__((visibility("default"))) int mkdir(const char *path, mode_t mode)
{
    return tr_mkdir_common(AT_FDCWD, path, mode, 0);
}

__attribute__((visibility("default"))) int mkdirat(int dfd, const char *path, mode_t mode)
{
    return tr_mkdir_common(dfd, path, mode, 1);
}

/* ---- libfiu ------------------------------------------------------------- */

__attribute__((visibility("default"))) int fiu_fail(const char *name)
{
    int (*next)(const char *) = get_fiu_fail();
    if (tr_enter()) {
        int i, saved = errno;
        for (i = 0; i < tr.nfiu; i++)
            if (tr.fiu[i].name == name || strcmp(tr.fiu[i].name, name) == 0)
                break;
        if (i == tr.nfiu && i < TR_MAX_FIU) {
            tr.fiu[i].name = strdup(name);
            tr.fiu[i].hits = 0;
            if (tr.fiu[i].name)
                tr.nfiu++;
        }
        if (i < tr.nfiu)
            tr_emit(FT_OP_FIU, 0, 0, name, NULL, 0, ++tr.fiu[i].hits, NULL, 0, 0);
        tr_leave();
        errno = saved;
    }
    return next ? next(name) : 0;
}

/* ---- the constructor ---------------------------------------------------- */

__attribute__((constructor)) static void tr_init(void)
{
    const char *dir = getenv("RP_TRACE_DIR"), *out = getenv("RP_TRACE_OUT");
    /* set by the first traced process: the programs it starts append to
     * its trace; O_APPEND everywhere, or one process's offset would write
     * over another's records */
    int child = getenv("RP_TRACE_STARTED") != NULL;
    int mode = O_WRONLY | O_CREAT | O_CLOEXEC | O_APPEND | (child ? 0 : O_TRUNC);
    char data[PATH_MAX + 8], real[PATH_MAX];
    if (!dir || !*dir || !out || !*out) {
        if ((dir && *dir) || (out && *out))
            tr_die("RP_TRACE_DIR and RP_TRACE_OUT go together");
        return; /* preloaded but idle */
    }
    tr_busy = 1;
    if (realpath(dir, real))
        snprintf(tr.dir, sizeof tr.dir, "%s", real);
    else if (tr_abs(AT_FDCWD, dir, tr.dir) < 0)
        tr_die("RP_TRACE_DIR: bad path '%s'", dir);
    tr_normalise(tr.dir);
    tr.dirlen = strlen(tr.dir);
    if (tr.dirlen == 1)
        tr_die("RP_TRACE_DIR: tracing / is not supported");
    if ((size_t)snprintf(data, sizeof data, "%s.data", out) >= sizeof data)
        tr_die("RP_TRACE_OUT: path too long");
    tr.tfd = get_open()(out, mode, 0644);
    tr.dfd = get_open()(data, mode, 0644);
    if (tr.tfd < 0 || tr.dfd < 0)
        tr_die("RP_TRACE_OUT: cannot open '%s': %s", out, strerror(errno));
    if (!child) {
        tr_write_all(tr.tfd, FT_TRACE_MAGIC, 8);
        /* the state before the run is part of every crash state */
        if (access(tr.dir, F_OK) == 0)
            nftw(tr.dir, tr_snap_one, 16, FTW_PHYS);
        if (setenv("RP_TRACE_STARTED", "1", 1) != 0)
            tr_die("setenv failed");
    }
    tr.active = 1;
    tr_busy = 0;
}
