/*
 * snap.c - rp-crash.so's snapshots: copies of a process's state dir taken
 * at hits of one fail point, with the hit counts of every counted point at
 * that moment.  The harness takes them during its discovery run and starts
 * kill trials from them instead of from record 0 (docs/faults.md,
 * "Snapshot starts").
 *
 *   RP_FIU_SNAP=NAME:EVERY   at every hit of NAME append a marks line; at
 *                            every EVERY-th hit also copy the state dir
 *                            (EVERY 0: marks only)
 *   RP_FIU_SNAP_DIR=PATH     the state dir to copy
 *   RP_FIU_SNAP_OUT=PATH     an existing dir: OUT/marks, OUT/HIT/ (copies)
 *
 * A marks line is "HIT NAME=COUNT NAME=COUNT ...\n": the hit number of
 * NAME, then every point counted so far (RP_FIU_POINTS) with its hits,
 * this hit included.  It is written with one append, before the copy, so a
 * reader sees whole lines only.
 *
 * The copy is scratch for the harness, not durable state: no fsync.  It is
 * made in OUT/HIT.tmp and renamed, so that OUT/HIT is whole when present
 * (a process killed mid-copy leaves only the .tmp).  It copies regular
 * files and subdirectories; anything else (a socket, a FIFO) is skipped.
 *
 * Runs inside libfiu's callback (crash.c), under libfiu's read lock and
 * recursion guard: the POSIX preload fails none of these calls.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ft_crash.h"

#define FT_SNAP_DEPTH 8 /* subdirectory levels copied, at most */

static int ft_copy_file(int sfd, const char *dst, mode_t mode)
{
    char buf[65536];
    int dfd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 07777);
    ssize_t n;
    if (dfd < 0)
        return -1;
    while ((n = read(sfd, buf, sizeof buf)) > 0) {
        char *p = buf;
        while (n > 0) {
            ssize_t w = write(dfd, p, (size_t)n);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                close(dfd);
                return -1;
            }
            p += w;
            n -= w;
        }
    }
    if (close(dfd) != 0 || n < 0)
        return -1;
    return 0;
}

static int ft_copy_tree(const char *src, const char *dst, int depth)
{
    char s[PATH_MAX], d[PATH_MAX];
    DIR *dir;
    struct dirent *e;
    int ret = 0;

    if (depth > FT_SNAP_DEPTH)
        return 0;
    if (mkdir(dst, 0755) != 0 && errno != EEXIST)
        return -1;
    dir = opendir(src);
    if (!dir)
        return -1;
    while (ret == 0 && (e = readdir(dir)) != NULL) {
        struct stat st;
        int fd;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if ((size_t)snprintf(s, sizeof s, "%s/%s", src, e->d_name) >= sizeof s ||
            (size_t)snprintf(d, sizeof d, "%s/%s", dst, e->d_name) >= sizeof d) {
            ret = -1;
            break;
        }
        if (lstat(s, &st) != 0) {
            if (errno != ENOENT) /* removed since readdir: nothing to copy */
                ret = -1;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            ret = ft_copy_tree(s, d, depth + 1);
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        fd = open(s, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue; /* removed since readdir */
        ret = ft_copy_file(fd, d, st.st_mode);
        close(fd);
    }
    closedir(dir);
    return ret;
}

/* rm -r of a tree this file made (no symlinks in it). */
static void ft_remove_tree(const char *path, int depth)
{
    char p[PATH_MAX];
    DIR *dir = depth <= FT_SNAP_DEPTH + 1 ? opendir(path) : NULL;
    struct dirent *e;
    if (dir) {
        while ((e = readdir(dir)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            if ((size_t)snprintf(p, sizeof p, "%s/%s", path, e->d_name) >= sizeof p)
                continue;
            /* a directory: Linux says EISDIR, POSIX allows EPERM */
            if (unlink(p) != 0 && (errno == EISDIR || errno == EPERM))
                ft_remove_tree(p, depth + 1);
        }
        closedir(dir);
    }
    rmdir(path);
}

void ft__snap_hit(const ft_snap_cfg *cfg, uint64_t hit, const char *marks_line, size_t len)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    int fd;

    if ((size_t)snprintf(path, sizeof path, "%s/marks", cfg->out) >= sizeof path)
        return;
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    /* one append: a reader never sees half a line */
    if (write(fd, marks_line, len) < 0) {
        /* best effort: a missing line only means no snapshot start there */
    }
    close(fd);
    if (cfg->every == 0 || hit % cfg->every != 0)
        return;
    if ((size_t)snprintf(path, sizeof path, "%s/%llu", cfg->out, (unsigned long long)hit) >=
            sizeof path ||
        (size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return;
    ft_remove_tree(tmp, 0);
    if (ft_copy_tree(cfg->dir, tmp, 0) != 0 || rename(tmp, path) != 0)
        ft_remove_tree(tmp, 0); /* no snapshot here: the harness starts such trials at 0 */
}
