/*
 * rundir.c - run directories (hn_rundir.h).
 *
 * Layout: tree helpers (rm -rf, size, copy); creating a run dir and its
 * `latest` link; keeping a scenario's work dir; pruning old runs.
 *
 * Work dirs are usually on tmpfs and the run dir on disk, so a move is a
 * rename when both are on one file system and a copy followed by removal
 * otherwise (EXDEV).  The run dir is results for people, not state: nothing
 * here is fsynced.
 */
#include "hn_rundir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pl_fs.h"

/* ------------------------------------------------------------ tree helpers */

static int64_t tree_bytes_acc;

static int size_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F)
        tree_bytes_acc += st->st_size;
    return 0;
}

int64_t hn_rundir_tree_bytes(const char *path)
{
    tree_bytes_acc = 0;
    nftw(path, size_entry, 16, FTW_PHYS);
    return tree_bytes_acc;
}

static int copy_file(const char *from, const char *to, mode_t mode, pl_errbuf *eb)
{
    char buf[1 << 16];
    int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, ret = 0;
    ssize_t n;
    if (in < 0)
        return pl_err_os(eb, errno, "open(%s)", from);
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 07777);
    if (out < 0) {
        ret = pl_err_os(eb, errno, "open(%s)", to);
        goto out;
    }
    /* in the kernel when it can (no user-space buffer); from the first
     * call that cannot, by read and write */
    for (;;) {
        ssize_t c = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (c > 0)
            continue;
        if (c == 0)
            goto out;
        if (errno == EINTR)
            continue;
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) {
            ret = pl_err_os(eb, errno, "copy_file_range(%s)", to);
            goto out;
        }
        break;
    }
    while ((n = read(in, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = pl_err_os(eb, errno, "read(%s)", from);
            goto out;
        }
        if ((ret = pl_fs_write_all(out, buf, (size_t)n, to, eb)))
            goto out;
    }
out:
    if (out >= 0 && close(out) < 0 && ret == 0)
        ret = pl_err_os(eb, errno, "close(%s)", to);
    close(in);
    return ret;
}

/* cp -R of regular files, directories and symlinks (others are skipped). */
int hn_rundir_copy_tree(const char *from, const char *to, pl_errbuf *eb)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    int ret = 0;
    if (lstat(from, &st) < 0)
        return pl_err_os(eb, errno, "stat(%s)", from);
    if (S_ISREG(st.st_mode))
        return copy_file(from, to, st.st_mode, eb);
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlink(from, target, sizeof target - 1);
        if (n < 0)
            return pl_err_os(eb, errno, "readlink(%s)", from);
        target[n] = 0;
        return symlink(target, to) < 0 ? pl_err_os(eb, errno, "symlink(%s)", to) : 0;
    }
    if (!S_ISDIR(st.st_mode))
        return 0;
    if (mkdir(to, st.st_mode & 07777) < 0 && errno != EEXIST)
        return pl_err_os(eb, errno, "mkdir(%s)", to);
    d = opendir(from);
    if (!d)
        return pl_err_os(eb, errno, "opendir(%s)", from);
    while (ret == 0 && (e = readdir(d))) {
        char a[PATH_MAX], b[PATH_MAX];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if ((ret = pl_fs_pathf(a, eb, "%s/%s", from, e->d_name)) == 0 &&
            (ret = pl_fs_pathf(b, eb, "%s/%s", to, e->d_name)) == 0)
            ret = hn_rundir_copy_tree(a, b, eb);
    }
    closedir(d);
    return ret;
}

/* mv from to (to must not exist); across file systems by copy + rm. */
static int move_tree(const char *from, const char *to, pl_errbuf *eb)
{
    int ret;
    if (rename(from, to) == 0)
        return 0;
    if (errno != EXDEV)
        return pl_err_os(eb, errno, "rename(%s, %s)", from, to);
    ret = hn_rundir_copy_tree(from, to, eb);
    if (ret)
        pl_fs_rm_rf(to); /* no half copies in the run dir */
    pl_fs_rm_rf(from);
    return ret;
}

/* ------------------------------------------------------------------ create */

int hn_rundir_create(const char *runs, char *out, size_t n, pl_errbuf *eb)
{
    char name[64], path[PATH_MAX], abs[PATH_MAX], tmp[PATH_MAX];
    struct timespec ts;
    struct tm tm;
    unsigned rnd;
    int ret;

    if ((ret = pl_fs_mkdir_p(runs, eb)))
        return ret;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    for (int attempt = 0;; attempt++) {
        /* the short id tells apart runs started in the same second */
        rnd = (unsigned)((ts.tv_nsec ^ ((long)getpid() << 12)) + (long)attempt * 0x9e3779b9L) &
              0xffffff;
        snprintf(name, sizeof name, "%04d%02d%02dT%02d%02d%02dZ-%06x", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rnd);
        if ((ret = pl_fs_pathf(path, eb, "%s/%s", runs, name)))
            return ret;
        if (mkdir(path, 0777) == 0)
            break;
        if (errno != EEXIST || attempt > 100)
            return pl_err_os(eb, errno, "mkdir(%s)", path);
    }
    if (!realpath(path, abs))
        return pl_err_os(eb, errno, "realpath(%s)", path);
    if (snprintf(out, n, "%s", abs) >= (int)n)
        return pl_err(eb, -ENAMETOOLONG, "run dir path too long: %s", abs);
    /* latest: a relative link made under a temp name and renamed over the old
     * one, so that readers never find it missing */
    if ((ret = pl_fs_pathf(tmp, eb, "%s/.latest.%ld", runs, (long)getpid())))
        return ret;
    unlink(tmp);
    if (symlink(name, tmp) < 0)
        return pl_err_os(eb, errno, "symlink(%s)", tmp);
    if ((ret = pl_fs_pathf(path, eb, "%s/latest", runs)))
        return ret;
    if (rename(tmp, path) < 0) {
        ret = pl_err_os(eb, errno, "rename(%s, %s)", tmp, path);
        unlink(tmp);
        return ret;
    }
    return 0;
}

void hn_rundir_scenario(const char *rundir, const hn_scenario *scs, int i, char *out, size_t n)
{
    int same = 0;
    for (int j = 0; j < i; j++)
        same += strcmp(scs[j].name, scs[i].name) == 0;
    if (same)
        snprintf(out, n, "%s/%s.%d", rundir, scs[i].name, same + 1);
    else
        snprintf(out, n, "%s/%s", rundir, scs[i].name);
}

int hn_rundir_save_scenario(const char *dir, const hn_scenario *sc, pl_errbuf *eb)
{
    char path[PATH_MAX];
    int ret;
    if ((ret = pl_fs_mkdir_p(dir, eb)))
        return ret;
    if ((ret = pl_fs_pathf(path, eb, "%s/scenario.ini", dir)))
        return ret;
    return copy_file(sc->path, path, 0666, eb);
}

/* -------------------------------------------------------------------- keep */

int hn_rundir_keep_tables(const char *dir, const char *work, int with_batch, int64_t *budget,
                          pl_errbuf *eb)
{
    static const char *const tables[] = {"golden/export", "golden", "batch", "batch"};
    char a[PATH_MAX], b[PATH_MAX];
    int ret = 0;
    for (int i = 0; i < (with_batch ? 4 : 2); i += 2) {
        if ((ret = pl_fs_pathf(a, eb, "%s/%s", work, tables[i])) ||
            (ret = pl_fs_pathf(b, eb, "%s/%s", dir, tables[i + 1])))
            return ret;
        if (access(a, X_OK) < 0 || access(b, F_OK) == 0 || hn_rundir_tree_bytes(a) > *budget)
            continue;
        if ((ret = pl_fs_mkdir_p(b, eb)))
            return ret;
        for (int k = 0; k < 3; k++) {
            static const char *const names[] = {"bars.csv", "late.csv", "dlq.csv"};
            char fa[PATH_MAX], fb[PATH_MAX];
            struct stat st;
            if ((ret = pl_fs_pathf(fa, eb, "%s/%s", a, names[k])) ||
                (ret = pl_fs_pathf(fb, eb, "%s/%s", b, names[k])))
                return ret;
            if (stat(fa, &st) < 0)
                continue;
            if ((ret = copy_file(fa, fb, 0666, eb)))
                return ret;
            *budget -= st.st_size;
        }
    }
    return 0;
}

static int cmp_seq(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

/* rewrite a path that starts with from/ */
static void repath(char *p, size_t n, const char *from, const char *to)
{
    size_t fl = strlen(from);
    char tmp[PATH_MAX];
    if (strncmp(p, from, fl) != 0 || (p[fl] != '/' && p[fl] != 0))
        return;
    if (!to) {
        p[0] = 0;
        return;
    }
    snprintf(tmp, sizeof tmp, "%s%s", to, p + fl);
    snprintf(p, n, "%s", tmp);
}

int hn_rundir_keep(const char *dir, hn_scenario_result *r, hn_res *db, int64_t run_id,
                   int64_t *budget, int *dropped, pl_errbuf *eb)
{
    char work[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
    long *seqs = NULL;
    size_t nseq = 0, cap = 0;
    DIR *d = NULL;
    struct dirent *e;
    int ret = 0;

    *dropped = 0;
    if (!r->workdir[0])
        return 0;
    snprintf(work, sizeof work, "%s", r->workdir);
    if ((ret = pl_fs_mkdir_p(dir, eb)))
        goto out;
    /* tables first: the report's plots and diffs need the golden ones */
    if ((ret = hn_rundir_keep_tables(dir, work, r->nbatch_div > 0, budget, eb)))
        goto out;
    /* kept trial dirs, in plan order */
    if ((ret = pl_fs_pathf(a, eb, "%s/trials", work)))
        goto out;
    d = opendir(a);
    while (d && (e = readdir(d))) {
        char *end;
        long v = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end)
            continue;
        if (nseq == cap) {
            long *p = realloc(seqs, (cap = cap * 2 + 16) * sizeof *p);
            if (!p) {
                ret = pl_err(eb, -ENOMEM, "out of memory");
                goto out;
            }
            seqs = p;
        }
        seqs[nseq++] = v;
    }
    if (d)
        closedir(d);
    d = NULL;
    if (nseq > 1)
        qsort(seqs, nseq, sizeof *seqs, cmp_seq);
    for (size_t i = 0; i < nseq; i++) {
        int64_t sz;
        int keep;
        if ((ret = pl_fs_pathf(a, eb, "%s/trials/%ld", work, seqs[i])) ||
            (ret = pl_fs_pathf(b, eb, "%s/trials/%ld", dir, seqs[i])))
            goto out;
        sz = hn_rundir_tree_bytes(a);
        keep = sz <= *budget;
        if (keep) {
            char parent[PATH_MAX];
            pl_fs_rm_rf(b);
            if ((ret = pl_fs_pathf(parent, eb, "%s/trials", dir)) ||
                (ret = pl_fs_mkdir_p(parent, eb)) || (ret = move_tree(a, b, eb)))
                goto out;
            *budget -= sz;
        } else {
            pl_fs_rm_rf(a);
            ++*dropped;
        }
        if (db && (ret = hn_res_state_dir_moved(db, run_id, a, keep ? b : NULL, eb)))
            goto out;
        for (int f = 0; f < r->nkept; f++)
            repath(r->failures[f].state_dir, sizeof r->failures[f].state_dir, a,
                   keep ? b : NULL);
    }
out:
    if (d)
        closedir(d);
    free(seqs);
    pl_fs_rm_rf(work);
    snprintf(r->workdir, sizeof r->workdir, "%s", ret ? "" : dir);
    return ret;
}

/* ------------------------------------------------------------------- prune */

static int run_dir_name(const char *s)
{
    /* yyyymmddTHHMMSSZ-xxxxxx */
    static const char *const form = "ddddddddTddddddZ-hhhhhh";
    if (strlen(s) != strlen(form))
        return 0;
    for (size_t i = 0; form[i]; i++) {
        char f = form[i], c = s[i];
        if ((f == 'd' && (c < '0' || c > '9')) ||
            (f == 'h' && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) ||
            (f != 'd' && f != 'h' && c != f))
            return 0;
    }
    return 1;
}

typedef struct run_ent {
    char *name;
    struct timespec mtime;
} run_ent;

/* Oldest first: by the time in the name (seconds), then, for runs started
 * in the same second, by the directory's modification time. */
static int cmp_run(const void *a, const void *b)
{
    const run_ent *x = a, *y = b;
    int c = strncmp(x->name, y->name, 16);
    if (c)
        return c;
    if (x->mtime.tv_sec != y->mtime.tv_sec)
        return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec)
        return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* 1 when name is the last component of one of spare[0..nspare). */
static int spared(const char *name, const char *const *spare, int nspare)
{
    for (int i = 0; i < nspare; i++) {
        const char *base = spare[i] ? strrchr(spare[i], '/') : NULL;
        base = base ? base + 1 : spare[i];
        if (base && strcmp(name, base) == 0)
            return 1;
    }
    return 0;
}

int hn_rundir_prune(const char *runs, int keep, const char *current, int *removed,
                    pl_errbuf *eb)
{
    return hn_rundir_prune_but(runs, keep, &current, current ? 1 : 0, removed, eb);
}

int hn_rundir_prune_but(const char *runs, int keep, const char *const *spare, int nspare,
                        int *removed, pl_errbuf *eb)
{
    DIR *d = opendir(runs);
    struct dirent *e;
    run_ent *ents = NULL;
    char path[PATH_MAX];
    size_t n = 0, cap = 0;
    int ret = 0;

    *removed = 0;
    if (!d)
        return pl_err_os(eb, errno, "opendir(%s)", runs);
    while ((e = readdir(d))) {
        struct stat st;
        if (!run_dir_name(e->d_name))
            continue;
        if (n == cap) {
            run_ent *p = realloc(ents, (cap = cap * 2 + 16) * sizeof *p);
            if (!p) {
                ret = pl_err(eb, -ENOMEM, "out of memory");
                goto out;
            }
            ents = p;
        }
        memset(&ents[n], 0, sizeof ents[n]);
        if (pl_fs_pathf(path, NULL, "%s/%s", runs, e->d_name) == 0 && lstat(path, &st) == 0)
            ents[n].mtime = st.st_mtim;
        if (!(ents[n].name = strdup(e->d_name))) {
            ret = pl_err(eb, -ENOMEM, "out of memory");
            goto out;
        }
        n++;
    }
    if (n > 1)
        qsort(ents, n, sizeof *ents, cmp_run);
    for (size_t i = 0; keep > 0 && n - (size_t)*removed > (size_t)keep && i < n; i++) {
        if (spared(ents[i].name, spare, nspare))
            continue;
        if (pl_fs_pathf(path, NULL, "%s/%s", runs, ents[i].name) == 0)
            pl_fs_rm_rf(path);
        ++*removed;
    }
out:
    closedir(d);
    for (size_t i = 0; i < n; i++)
        free(ents[i].name);
    free(ents);
    return ret;
}
