/*
 * fs.c - shared durable-filesystem steps (see pl_fs.h).
 *
 * Layout: directory and file fsync, full write, atomic small-file replace,
 * mkdir -p, publishing a directory.
 *
 * Invariants:
 *  (1) A name this module creates, renames or removes is durable when the
 *      function returns 0: the directory holding it was fsync'd afterwards.
 *  (2) A failed fsync is returned and never retried on the same descriptor
 *      (the kernel may have dropped the dirty pages; a second fsync would
 *      report a success that means nothing).
 */
#include "pl_fs.h"
#include "pl_unsafe.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int pl_fs_fsync(int fd)
{
    if (fsync(fd) == 0)
        return 0;
    /* deliberately wrong (fsync-retry): the second call reports on pages the
     * kernel may already have marked clean after the first failure */
    if (pl_unsafe(PL_UNSAFE_FSYNC_RETRY))
        return fsync(fd);
    return -1;
}

int pl_fs_sync_dir(const char *dir, pl_errbuf *eb)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
    if (fd < 0)
        return pl_err_os(eb, errno, "open(%s) for fsync", dir);
    if (pl_fs_fsync(fd) != 0)
        rc = pl_err_os(eb, errno, "fsync(%s)", dir);
    if (close(fd) != 0 && rc == 0)
        rc = pl_err_os(eb, errno, "close(%s)", dir);
    return rc;
}

int pl_fs_sync_file(const char *path, int missing_ok, pl_errbuf *eb)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
    if (fd < 0) {
        if (errno == ENOENT && missing_ok)
            return 0;
        return pl_err_os(eb, errno, "open(%s) for fsync", path);
    }
    /* keeps (2): one attempt, the descriptor is then closed */
    if (pl_fs_fsync(fd) != 0)
        rc = pl_err_os(eb, errno, "fsync(%s)", path);
    if (close(fd) != 0 && rc == 0)
        rc = pl_err_os(eb, errno, "close(%s)", path);
    return rc;
}

int pl_fs_sync_parent(const char *path, pl_errbuf *eb)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t n;
    if (!slash)
        return pl_fs_sync_dir(".", eb);
    n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= sizeof dir)
        return pl_err_os(eb, ENAMETOOLONG, "directory of %s", path);
    memcpy(dir, path, n);
    dir[n] = 0;
    return pl_fs_sync_dir(dir, eb);
}

int pl_fs_write_all(int fd, const void *buf, size_t len, const char *what, pl_errbuf *eb)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == ENOSPC)
            return pl_err(eb, -ENOSPC, "write(%s): disk full (no space left on device)", what);
        if (w <= 0)
            return pl_err_os(eb, w < 0 ? errno : EIO, "write(%s)", what);
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int pl_fs_replace(const char *path, const void *buf, size_t len, pl_errbuf *eb)
{
    char tmp[PATH_MAX];
    int fd = -1, rc;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return pl_err_os(eb, ENAMETOOLONG, "%s", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return pl_err_os(eb, errno, "open(%s)", tmp);
    rc = pl_fs_write_all(fd, buf, len, tmp, eb);
    if (rc < 0)
        goto fail;
    /* without it a power cut can leave the renamed file empty or partial */
    if (pl_fs_fsync(fd) != 0) {
        rc = pl_err_os(eb, errno, "fsync(%s)", tmp);
        goto fail;
    }
    /* a failing close can be the first report of a lost write (NFS) */
    rc = close(fd);
    fd = -1;
    if (rc != 0) {
        rc = pl_err_os(eb, errno, "close(%s)", tmp);
        goto fail;
    }
    /* the final name appears only with complete content */
    if (rename(tmp, path) != 0) {
        rc = pl_err_os(eb, errno, "rename(%s, %s)", tmp, path);
        goto fail;
    }
    /* without it a power cut can undo the rename */
    return pl_fs_sync_parent(path, eb);
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc;
}

int pl_fs_mkdir_p(const char *dir, pl_errbuf *eb)
{
    char buf[PATH_MAX];
    size_t n = strlen(dir);
    struct stat st;
    int rc;
    if (n == 0 || n >= sizeof buf)
        return pl_err(eb, PL_EUSAGE, "bad directory name \"%s\"", dir);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        if (mkdir(buf, 0777) == 0) {
            /* keeps (1): without this fsync a power cut can drop the new
             * directory, and with it everything made durable inside it */
            if ((rc = pl_fs_sync_parent(buf, eb)) < 0)
                return rc;
        } else if (errno != EEXIST) {
            return pl_err_os(eb, errno, "mkdir(%s)", buf);
        }
        buf[i] = dir[i];
    }
    if (stat(dir, &st) != 0)
        return pl_err_os(eb, errno, "stat(%s)", dir);
    if (!S_ISDIR(st.st_mode))
        return pl_err_os(eb, ENOTDIR, "%s", dir);
    return 0;
}

int pl_fs_publish_dir(const char *tmp, const char *dst, char *old, size_t oldn, pl_errbuf *eb)
{
    struct stat st;
    int rc;
    old[0] = 0;
    if (lstat(dst, &st) != 0) {
        if (errno != ENOENT)
            return pl_err_os(eb, errno, "stat(%s)", dst);
        /* the atomic switch: dst appears complete or not at all */
        if (rename(tmp, dst) != 0)
            return pl_err_os(eb, errno, "rename(%s, %s)", tmp, dst);
    } else if (!S_ISDIR(st.st_mode)) {
        return pl_err_os(eb, ENOTDIR, "%s", dst);
    } else if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dst, RENAME_EXCHANGE) == 0) {
        /* one step: a reader of dst sees the old set or the new one, never a mix */
        if ((size_t)snprintf(old, oldn, "%s", tmp) >= oldn)
            return pl_err_os(eb, ENAMETOOLONG, "%s", tmp);
    } else if (errno == EINVAL || errno == ENOSYS) {
        /* No exchange on this file system: move the old set aside first.  A
         * crash in between leaves no dst (and the old set under .old), never a
         * mix of two sets. */
        if ((size_t)snprintf(old, oldn, "%s.old", tmp) >= oldn)
            return pl_err_os(eb, ENAMETOOLONG, "%s", tmp);
        if (rename(dst, old) != 0) {
            rc = pl_err_os(eb, errno, "rename(%s, %s)", dst, old);
            old[0] = 0;
            return rc;
        }
        if (rename(tmp, dst) != 0)
            return pl_err_os(eb, errno, "rename(%s, %s)", tmp, dst);
    } else {
        return pl_err_os(eb, errno, "renameat2(%s, %s, RENAME_EXCHANGE)", tmp, dst);
    }
    /* keeps (1): without it a power cut can undo the switch */
    return pl_fs_sync_parent(dst, eb);
}

int pl_fs_pathf(char *out, pl_errbuf *eb, const char *fmt, ...)
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

void pl_fs_rm_rf(const char *path)
{
    if (path && *path)
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
