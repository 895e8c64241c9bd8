/*
 * corrupt.c - the corruption kinds of hn_corrupt.h.
 *
 * Layout: the seeded draw; finding the newest checkpoint; one function per
 * way of damaging a file (truncate, flip, zero a sector); the sink page
 * flip; replacing the dir with a donor's; hn_corrupt_apply dispatching.
 *
 * The damage is done with plain writes and no fsync: the pipeline restarted
 * on the dir reads it through the same page cache.  Nothing here follows a
 * symlink out of the state dir: entries are opened by name inside it.
 */
#include "hn_corrupt.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "pl_fs.h"

/* splitmix64 of seed and a salt: the draw for one decision. */
static uint64_t draw(uint64_t seed, uint64_t salt)
{
    uint64_t z = seed + salt * 0x9e3779b97f4a7c15ULL + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void say(char *what, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *what, size_t n, const char *fmt, ...)
{
    va_list ap;
    if (!what || n == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(what, n, fmt, ap);
    va_end(ap);
}

/* The newest ckpt-<16 hex> of dir into name (a bare file name). */
static int newest_ckpt(const char *dir, char *name, size_t n, pl_errbuf *eb)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    if (!d)
        return pl_err_os(eb, errno, "corrupt: opendir(%s)", dir);
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l != 21 || strncmp(e->d_name, "ckpt-", 5) != 0 ||
            strspn(e->d_name + 5, "0123456789abcdef") != 16)
            continue;
        /* fixed-width hex: bytewise order is numeric order */
        if (l < n && (!found || strcmp(e->d_name, name) > 0)) {
            memcpy(name, e->d_name, l + 1);
            found = 1;
        }
    }
    closedir(d);
    if (!found)
        return pl_err(eb, PL_ENOTFOUND, "corrupt: no checkpoint in %s", dir);
    return 0;
}

/* Open dir/name for read-write; its size into *size. */
static int open_rw(const char *dir, const char *name, char *path, size_t pn, off_t *size,
                   pl_errbuf *eb)
{
    struct stat st;
    int fd;
    snprintf(path, pn, "%s/%s", dir, name);
    fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? pl_err(eb, PL_ENOTFOUND, "corrupt: no %s", path)
                               : pl_err_os(eb, errno, "corrupt: open(%s)", path);
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return pl_err_os(eb, e, "corrupt: fstat(%s)", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return pl_err(eb, PL_ENOTFOUND, "corrupt: %s is empty", path);
    }
    *size = st.st_size;
    return fd;
}

static int flip_bit(int fd, const char *path, off_t at, int bit, pl_errbuf *eb)
{
    unsigned char b;
    if (pread(fd, &b, 1, at) != 1)
        return pl_err_os(eb, errno ? errno : EIO, "corrupt: pread(%s)", path);
    b ^= (unsigned char)(1u << bit);
    if (pwrite(fd, &b, 1, at) != 1)
        return pl_err_os(eb, errno ? errno : ENOSPC, "corrupt: pwrite(%s)", path);
    return 0;
}

static int damage_ckpt(const char *dir, int kind, uint64_t seed, char *what, size_t wn,
                       pl_errbuf *eb)
{
    char name[64], path[4096];
    off_t size;
    int fd, rc = 0;

    if ((rc = newest_ckpt(dir, name, sizeof name, eb)) < 0)
        return rc;
    if (kind == HN_C_DELETE) {
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (unlink(path) != 0)
            return pl_err_os(eb, errno, "corrupt: unlink(%s)", path);
        say(what, wn, "%s deleted", name);
        return 0;
    }
    fd = open_rw(dir, name, path, sizeof path, &size, eb);
    if (fd < 0)
        return fd;
    if (kind == HN_C_TRUNCATE) {
        off_t len = (off_t)(draw(seed, 1) % (uint64_t)size);
        if (ftruncate(fd, len) != 0)
            rc = pl_err_os(eb, errno, "corrupt: ftruncate(%s)", path);
        else
            say(what, wn, "%s truncated from %lld to %lld bytes", name, (long long)size,
                (long long)len);
    } else if (kind == HN_C_BITFLIP) {
        off_t at = (off_t)(draw(seed, 2) % (uint64_t)size);
        int bit = (int)(draw(seed, 3) % 8);
        rc = flip_bit(fd, path, at, bit, eb);
        if (rc == 0)
            say(what, wn, "%s: bit %d of byte %lld flipped", name, bit, (long long)at);
    } else { /* HN_C_ZERO_SECTOR */
        static const char zero[HN_CORRUPT_SECTOR];
        uint64_t nsec = ((uint64_t)size + HN_CORRUPT_SECTOR - 1) / HN_CORRUPT_SECTOR;
        off_t at = (off_t)(draw(seed, 4) % nsec) * HN_CORRUPT_SECTOR;
        size_t len = size - at < HN_CORRUPT_SECTOR ? (size_t)(size - at) : HN_CORRUPT_SECTOR;
        if (pwrite(fd, zero, len, at) != (ssize_t)len)
            rc = pl_err_os(eb, errno ? errno : ENOSPC, "corrupt: pwrite(%s)", path);
        else
            say(what, wn, "%s: sector %lld (%zu bytes at %lld) zeroed", name,
                (long long)(at / HN_CORRUPT_SECTOR), len, (long long)at);
    }
    if (close(fd) != 0 && rc == 0)
        rc = pl_err_os(eb, errno, "corrupt: close(%s)", path);
    return rc;
}

/* A big-endian page size field: a power of two in 512 .. 65536 (1 in a
 * database header means 65536), or 0. */
static off_t page_size(const unsigned char *h, int width)
{
    off_t v = width == 2 ? (off_t)(h[0] << 8 | h[1])
                         : (off_t)((uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
                                   (uint32_t)h[2] << 8 | h[3]);
    if (width == 2 && v == 1)
        v = 65536;
    return v >= 512 && v <= 65536 && (v & (v - 1)) == 0 ? v : 0;
}

/*
 * One bit of one sink page: a page of sink.db past the first (the first
 * holds the database header and schema root: damage there is refused by
 * any SQLite open), or the page image of one frame of sink.db-wal, where
 * committed transactions live until SQLite checkpoints them (after a kill
 * that is most of them).  The frame headers and their checksums are left
 * alone: the flip models a medium error inside the data, as a disk
 * without end-to-end checksums returns it.
 */
static int damage_sink(const char *dir, uint64_t seed, char *what, size_t wn, pl_errbuf *eb)
{
    char path[4096], wpath[4096];
    unsigned char h[4];
    off_t size, wsize = 0, page, wpage = 0, npages, nframes = 0, pick, at;
    int fd, wfd = -1, bit, rc = 0;

    fd = open_rw(dir, "sink.db", path, sizeof path, &size, eb);
    if (fd < 0)
        return fd;
    if (pread(fd, h, 2, 16) != 2 || !(page = page_size(h, 2))) {
        rc = pl_err(eb, PL_ENOTFOUND, "corrupt: %s has no valid database header", path);
        goto out;
    }
    npages = size / page;
    wfd = open_rw(dir, "sink.db-wal", wpath, sizeof wpath, &wsize, eb);
    if (wfd >= 0 && pread(wfd, h, 4, 8) == 4 && (wpage = page_size(h, 4)))
        nframes = (wsize - 32) / (24 + wpage);
    if (npages - 1 + nframes < 1) {
        rc = pl_err(eb, PL_ENOTFOUND, "corrupt: %s has no page past the first and no WAL "
                    "frame", path);
        goto out;
    }
    pick = (off_t)(draw(seed, 5) % (uint64_t)(npages - 1 + nframes));
    bit = (int)(draw(seed, 7) % 8);
    if (pick < npages - 1) {
        at = (pick + 1) * page + (off_t)(draw(seed, 6) % (uint64_t)page);
        rc = flip_bit(fd, path, at, bit, eb);
        if (rc == 0)
            say(what, wn, "sink.db: bit %d of byte %lld (page %lld of %lld) flipped", bit,
                (long long)at, (long long)pick + 2, (long long)npages);
    } else {
        off_t fr = pick - (npages - 1);
        at = 32 + fr * (24 + wpage) + 24 + (off_t)(draw(seed, 6) % (uint64_t)wpage);
        rc = flip_bit(wfd, wpath, at, bit, eb);
        if (rc == 0)
            say(what, wn, "sink.db-wal: bit %d of byte %lld (page image of frame %lld of "
                "%lld) flipped", bit, (long long)at, (long long)fr + 1, (long long)nframes);
    }
out:
    if (wfd >= 0)
        close(wfd);
    if (close(fd) != 0 && rc == 0)
        rc = pl_err_os(eb, errno, "corrupt: close(%s)", path);
    return rc;
}

/* Copy regular file src to dst (created, truncated). */
static int copy_file(const char *src, const char *dst, pl_errbuf *eb)
{
    char buf[65536];
    int in, out, rc = 0;
    ssize_t r;
    in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return pl_err_os(eb, errno, "corrupt: open(%s)", src);
    out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        rc = pl_err_os(eb, errno, "corrupt: open(%s)", dst);
        close(in);
        return rc;
    }
    while ((r = read(in, buf, sizeof buf)) > 0)
        if ((rc = pl_fs_write_all(out, buf, (size_t)r, dst, eb)) < 0)
            break;
    if (r < 0 && rc == 0)
        rc = pl_err_os(eb, errno, "corrupt: read(%s)", src);
    close(in);
    if (close(out) != 0 && rc == 0)
        rc = pl_err_os(eb, errno, "corrupt: close(%s)", dst);
    return rc;
}

/* Every regular file of dir removed, then every regular file of donor
 * copied in (a LOCK file included: it is what a copied dir would hold). */
static int replace_dir(const char *dir, const char *donor, char *what, size_t wn,
                       pl_errbuf *eb)
{
    char a[4096], b[4096];
    struct dirent *e;
    DIR *d;
    int n = 0, rc = 0;

    if (!donor || !*donor)
        return pl_err(eb, PL_EUSAGE, "corrupt: foreign-config needs a donor state dir");
    if (!(d = opendir(dir)))
        return pl_err_os(eb, errno, "corrupt: opendir(%s)", dir);
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        snprintf(a, sizeof a, "%s/%s", dir, e->d_name);
        if (lstat(a, &st) == 0 && S_ISREG(st.st_mode) && unlink(a) != 0) {
            rc = pl_err_os(eb, errno, "corrupt: unlink(%s)", a);
            break;
        }
    }
    closedir(d);
    if (rc < 0)
        return rc;
    if (!(d = opendir(donor)))
        return pl_err_os(eb, errno, "corrupt: opendir(%s)", donor);
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        snprintf(a, sizeof a, "%s/%s", donor, e->d_name);
        snprintf(b, sizeof b, "%s/%s", dir, e->d_name);
        if (lstat(a, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if ((rc = copy_file(a, b, eb)) < 0)
            break;
        n++;
    }
    closedir(d);
    if (rc == 0)
        say(what, wn, "state dir replaced by %d files of %s", n, donor);
    return rc;
}

/*
 * sink-value-rot: one bit of the volume of the newest stored bar (largest
 * end_ns, then key order) flipped, the page left valid: what bit rot in a
 * cell's payload does, which SQLite has no checksum to notice.  The row is
 * the one most likely emitted after the newest checkpoint, so a recovery
 * replays its key.  key (may be NULL) receives the row's CSV key prefix
 * "agg,symbol,seq," as export writes it.
 */
int hn_corrupt_value_rot(const char *statedir, uint64_t seed, char *key, size_t keyn,
                         char *what, size_t whatn, pl_errbuf *eb)
{
    char path[4096];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = 0, src;
    long long seq, vol, rot;
    char agg[128], sym[128];

    if (key && keyn)
        key[0] = 0;
    if ((rc = pl_fs_pathf(path, eb, "%s/sink.db", statedir)))
        return rc;
    if (access(path, F_OK) != 0)
        return pl_err(eb, PL_ENOTFOUND, "corrupt: no %s", path);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT agg, symbol, seq, volume FROM bars"
                           " ORDER BY end_ns DESC, agg, symbol, seq LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = pl_err(eb, -EIO, "corrupt: %s: %s", path, sqlite3_errmsg(db));
        goto done;
    }
    src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        rc = pl_err(eb, PL_ENOTFOUND, "corrupt: %s holds no bars", path);
        goto done;
    }
    if (src != SQLITE_ROW) {
        rc = pl_err(eb, -EIO, "corrupt: %s: %s", path, sqlite3_errmsg(db));
        goto done;
    }
    /* copied: the column texts go with the statement */
    snprintf(agg, sizeof agg, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(sym, sizeof sym, "%s", (const char *)sqlite3_column_text(st, 1));
    seq = sqlite3_column_int64(st, 2);
    vol = sqlite3_column_int64(st, 3);
    rot = vol ^ (1LL << (draw(seed, 7) % 8));
    if (key && keyn)
        snprintf(key, keyn, "%s,%s,%lld,", agg, sym, seq);
    say(what, whatn, "sink.db: bars %s,%s,%lld: volume %lld -> %lld (one bit)", agg, sym, seq,
        vol, rot);
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, "UPDATE bar_rows SET volume = ?4"
                               " WHERE agg_id = (SELECT id FROM aggs WHERE name = ?1)"
                               " AND sym_id = (SELECT id FROM symbols WHERE name = ?2)"
                               " AND seq = ?3", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, agg, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, sym, -1, SQLITE_TRANSIENT) != SQLITE_OK)
        rc = pl_err(eb, -EIO, "corrupt: %s: %s", path, sqlite3_errmsg(db));
    else {
        sqlite3_bind_int64(st, 3, seq);
        sqlite3_bind_int64(st, 4, rot);
        if (sqlite3_step(st) != SQLITE_DONE || sqlite3_changes(db) != 1)
            rc = pl_err(eb, -EIO, "corrupt: %s: update: %s", path, sqlite3_errmsg(db));
    }
done:
    sqlite3_finalize(st);
    if (db && sqlite3_close(db) != SQLITE_OK && rc == 0)
        rc = pl_err(eb, -EIO, "corrupt: close %s", path);
    return rc;
}

int hn_corrupt_apply(const char *statedir, int kind, uint64_t seed, const char *donor,
                     char *what, size_t whatn, pl_errbuf *eb)
{
    if (what && whatn)
        what[0] = 0;
    switch (kind) {
    case HN_C_TRUNCATE:
    case HN_C_BITFLIP:
    case HN_C_ZERO_SECTOR:
    case HN_C_DELETE:
        return damage_ckpt(statedir, kind, seed, what, whatn, eb);
    case HN_C_SINK_BITFLIP:
        return damage_sink(statedir, seed, what, whatn, eb);
    case HN_C_FOREIGN:
        return replace_dir(statedir, donor, what, whatn, eb);
    case HN_C_SINK_VALUE_ROT:
        return hn_corrupt_value_rot(statedir, seed, NULL, 0, what, whatn, eb);
    default:
        return pl_err(eb, PL_EUSAGE, "corrupt: unknown kind %d", kind);
    }
}
