/*
 * log.c - the on-disk partitioned log (pl_log.h; format in
 * docs/log-format.md): import from interchange CSV, open and read through
 * cursors, cat back to CSV.
 *
 * Layout of this file:
 *   1. format constants and little-endian helpers
 *   2. open/close: the manifest reader and its validation
 *   3. cursors: block entry (checksum + structure), seek, peek
 *   4. cat (k-way merge over partitions) and scan
 *   5. import: the CSV envelope parser (pass 1 validates everything, pass 2
 *      writes blocks), the manifest writer and the durable publish sequence
 *
 * Trust boundary: the manifest is validated completely at open, so that the
 * block index can be used without checks afterwards; each block is verified
 * (checksum, header against the index, records tiling the block exactly) the
 * first time a cursor enters it, so that the inline pl_cur_next() can never
 * read outside the mapping.
 */
#include "pl_log.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include <fiu-local.h>
#include <xxhash.h>

#include "pl_fs.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the inline pl_cur_next() reads little-endian records natively"
#endif

/* ---- 1. format ------------------------------------------------------- */

#define BLK_MAGIC 0x424c5052u /* "RPLB" */
#define BLK_HDR 32            /* magic, count, len, flags, first, checksum */
#define BLK_SUM_AT 24         /* checksum field; hashed: [0,24) ++ records */
#define REC_HDR 12            /* u64 ingest_ns, u32 len */
#define BLK_MAX_RECORDS 4096u
#define BLK_MAX_BYTES (256u << 10)
#define BLK_MIN_BYTES (16u << 10)
/* Import holds one open block per partition; this bounds their sum. */
#define IMPORT_BUFFER_BUDGET (64u << 20)

#define MAN_NAME "MANIFEST"
#define MAN_MAGIC "RPLOGMAN"
#define MAN_VERSION 1u
#define MAN_HDR 32  /* magic[8], version, partitions, total records, total blocks */
#define MAN_PART 24 /* records, blocks, file size */
#define MAN_BLK 24  /* first offset, file position, checksum */
#define MAN_TRAILER 8

#define CSV_HEADER "partition,ingest_ns,event_ns,symbol,price,qty"

static inline uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

typedef unsigned long long ull;

typedef struct blkent {
    uint64_t first; /* offset of the block's first record */
    uint64_t pos;   /* file byte where the block header starts */
    uint64_t sum;   /* the block's checksum (also in its header) */
} blkent;

struct part {
    char *path;
    uint32_t index;      /* partition number, for messages */
    const uint8_t *base; /* mapping; NULL for an empty file */
    uint64_t size, records, nblocks;
    const blkent *blk;   /* nblocks entries inside pl_log.blks */
    atomic_uchar *ok;    /* per block: verified since open (see block_enter) */
};

struct pl_log {
    char *dir;
    uint32_t nparts;
    uint64_t total, bytes, identity;
    struct part *parts;
    blkent *blks;
    atomic_uchar *ok;
};

/* Checksum of a block: XXH3-64 over header bytes [0,24) then the records. */
static int block_sum(const uint8_t *hdr, const uint8_t *recs, size_t len, uint64_t *sum)
{
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        return -ENOMEM;
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, hdr, BLK_SUM_AT);
    XXH3_64bits_update(st, recs, len);
    *sum = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return 0;
}

/* ---- 2. open / close ------------------------------------------------- */

static char *path_join(const char *dir, const char *name)
{
    char *s = NULL;
    if (asprintf(&s, "%s/%s", dir, name) < 0)
        return NULL;
    return s;
}

static char *part_path(const char *dir, uint32_t part)
{
    char *s = NULL;
    if (asprintf(&s, "%s/p%u.log", dir, part) < 0)
        return NULL;
    return s;
}

static int read_all(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -EIO; /* shrank under us */
        got += (size_t)r;
    }
    return 0;
}

/*
 * Check everything the readers later rely on without checking: sizes add
 * up, per-partition sums match, block positions and offsets start at 0 and
 * increase, every block can hold its header and records.
 */
static int manifest_parse(pl_log *log, const uint8_t *m, size_t len, const char *mpath,
                          pl_errbuf *eb)
{
    uint64_t total, nblk, sum_rec = 0, sum_blk = 0, i, b;
    uint32_t np;
    const uint8_t *pe, *be;

    if (len < MAN_HDR + MAN_TRAILER || memcmp(m, MAN_MAGIC, 8) != 0)
        return pl_err(eb, PL_ECORRUPT, "%s: not a refpipe log manifest (bad magic or too short)",
                      mpath);
    if (XXH3_64bits(m, len - MAN_TRAILER) != rd64(m + len - MAN_TRAILER))
        return pl_err(eb, PL_ECORRUPT, "%s: manifest checksum mismatch", mpath);
    if (rd32(m + 8) != MAN_VERSION)
        return pl_err(eb, PL_ECORRUPT, "%s: unsupported manifest version %u", mpath,
                      rd32(m + 8));
    np = rd32(m + 12);
    total = rd64(m + 16);
    nblk = rd64(m + 24);
    if (np == 0 || np > PL_MAX_PARTITIONS)
        return pl_err(eb, PL_ECORRUPT, "%s: partition count %u outside [1, %d]", mpath, np,
                      PL_MAX_PARTITIONS);
    if (nblk > len / MAN_BLK ||
        len != MAN_HDR + (uint64_t)np * MAN_PART + nblk * MAN_BLK + MAN_TRAILER)
        return pl_err(eb, PL_ECORRUPT, "%s: size %zu does not match %u partitions and %llu blocks",
                      mpath, len, np, (ull)nblk);

    log->nparts = np;
    log->total = total;
    log->identity = rd64(m + len - MAN_TRAILER);
    log->parts = calloc(np, sizeof *log->parts);
    log->blks = calloc(nblk ? nblk : 1, sizeof *log->blks);
    log->ok = calloc(nblk ? nblk : 1, sizeof *log->ok);
    if (!log->parts || !log->blks || !log->ok)
        return pl_err_os(eb, ENOMEM, "%s: loading the block index", mpath);

    pe = m + MAN_HDR;
    be = pe + (size_t)np * MAN_PART;
    for (i = 0; i < nblk; i++) {
        log->blks[i].first = rd64(be + i * MAN_BLK);
        log->blks[i].pos = rd64(be + i * MAN_BLK + 8);
        log->blks[i].sum = rd64(be + i * MAN_BLK + 16);
    }
    for (i = 0; i < np; i++) {
        struct part *pt = &log->parts[i];
        pt->index = (uint32_t)i;
        pt->records = rd64(pe + i * MAN_PART);
        pt->nblocks = rd64(pe + i * MAN_PART + 8);
        pt->size = rd64(pe + i * MAN_PART + 16);
        if (pt->nblocks > nblk - sum_blk || pt->records > UINT64_MAX - sum_rec)
            return pl_err(eb, PL_ECORRUPT, "%s: partition %llu: block or record counts overflow",
                          mpath, (ull)i);
        pt->blk = log->blks + sum_blk;
        pt->ok = log->ok + sum_blk;
        sum_blk += pt->nblocks;
        sum_rec += pt->records;
        if ((pt->records == 0) != (pt->nblocks == 0) || (pt->nblocks == 0 && pt->size != 0))
            return pl_err(eb, PL_ECORRUPT, "%s: partition %llu: %llu records in %llu blocks "
                          "and %llu bytes", mpath, (ull)i, (ull)pt->records,
                          (ull)pt->nblocks, (ull)pt->size);
        for (b = 0; b < pt->nblocks; b++) {
            const blkent *e = &pt->blk[b];
            uint64_t nfirst = b + 1 < pt->nblocks ? pt->blk[b + 1].first : pt->records;
            uint64_t npos = b + 1 < pt->nblocks ? pt->blk[b + 1].pos : pt->size;
            uint64_t want_first = b ? pt->blk[b - 1].first + 1 : 0;
            int ok = b ? e->first >= want_first && e->pos > pt->blk[b - 1].pos
                       : e->first == 0 && e->pos == 0;
            /* a block holds >= 1 record, each at least REC_HDR bytes */
            ok = ok && nfirst > e->first && npos > e->pos &&
                 npos - e->pos >= BLK_HDR + REC_HDR &&
                 npos - e->pos - BLK_HDR <= UINT32_MAX &&
                 nfirst - e->first <= (npos - e->pos - BLK_HDR) / REC_HDR;
            if (!ok)
                return pl_err(eb, PL_ECORRUPT, "%s: partition %llu: block %llu (offset %llu, "
                              "file byte %llu) is inconsistent with its neighbours",
                              mpath, (ull)i, (ull)b, (ull)e->first, (ull)e->pos);
        }
    }
    if (sum_rec != total || sum_blk != nblk)
        return pl_err(eb, PL_ECORRUPT, "%s: partition sums (%llu records, %llu blocks) differ "
                      "from the totals (%llu, %llu)", mpath, (ull)sum_rec, (ull)sum_blk,
                      (ull)total, (ull)nblk);
    return 0;
}

/* A file shorter than the manifest says: name the first block it cuts. */
static int torn_file(const struct part *pt, uint64_t have, pl_errbuf *eb)
{
    uint64_t b;
    for (b = 0; b < pt->nblocks; b++) {
        uint64_t end = b + 1 < pt->nblocks ? pt->blk[b + 1].pos : pt->size;
        if (end > have)
            return pl_err(eb, PL_ECORRUPT, "%s: torn: file has %llu bytes, the manifest records "
                          "%llu; block at offset %llu (file byte %llu) is cut", pt->path,
                          (ull)have, (ull)pt->size, (ull)pt->blk[b].first,
                          (ull)pt->blk[b].pos);
    }
    return pl_err(eb, PL_ECORRUPT, "%s: torn: file has %llu bytes, the manifest records %llu",
                  pt->path, (ull)have, (ull)pt->size);
}

int pl_log_open(const char *logdir, pl_log **out, pl_errbuf *eb)
{
    pl_log *log = NULL;
    char *mpath = NULL;
    uint8_t *man = NULL;
    int fd = -1, rc;
    struct stat st;
    uint32_t i;

    *out = NULL;
    if (stat(logdir, &st) != 0) {
        rc = pl_err_os(eb, errno, "open log %s", logdir);
        goto fail;
    }
    if (!S_ISDIR(st.st_mode)) {
        rc = pl_err_os(eb, ENOTDIR, "open log %s", logdir);
        goto fail;
    }
    log = calloc(1, sizeof *log);
    if (!log || !(log->dir = strdup(logdir))) {
        rc = pl_err_os(eb, ENOMEM, "open log %s", logdir);
        goto fail;
    }
    /* "log/" names "log": keep messages free of "log//p0.log" */
    for (i = (uint32_t)strlen(log->dir); i > 1 && log->dir[i - 1] == '/'; i--)
        log->dir[i - 1] = '\0';
    mpath = path_join(log->dir, MAN_NAME);
    if (!mpath) {
        rc = pl_err_os(eb, ENOMEM, "open log %s", logdir);
        goto fail;
    }
    fd = open(mpath, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        rc = pl_err(eb, PL_ENOTFOUND, "%s: not a refpipe log (no manifest)", logdir);
        goto fail;
    }
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = pl_err_os(eb, errno, "open(%s)", mpath);
        goto fail;
    }
    man = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
    if (!man) {
        rc = pl_err_os(eb, ENOMEM, "reading %s", mpath);
        goto fail;
    }
    rc = read_all(fd, man, (size_t)st.st_size);
    if (rc < 0) {
        rc = pl_err_os(eb, -rc, "read(%s)", mpath);
        goto fail;
    }
    close(fd);
    fd = -1;
    rc = manifest_parse(log, man, (size_t)st.st_size, mpath, eb);
    if (rc < 0)
        goto fail;

    for (i = 0; i < log->nparts; i++) {
        struct part *pt = &log->parts[i];
        void *map;
        pt->path = part_path(log->dir, i);
        if (!pt->path) {
            rc = pl_err_os(eb, ENOMEM, "open log %s", logdir);
            goto fail;
        }
        fd = open(pt->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) != 0) {
            rc = pl_err_os(eb, errno, "open(%s)", pt->path);
            goto fail;
        }
        if ((uint64_t)st.st_size < pt->size) {
            rc = torn_file(pt, (uint64_t)st.st_size, eb);
            goto fail;
        }
        if ((uint64_t)st.st_size > pt->size) {
            rc = pl_err(eb, PL_ECORRUPT, "%s: file has %llu bytes, the manifest records %llu "
                        "(unexpected bytes after the last block)", pt->path,
                        (ull)st.st_size, (ull)pt->size);
            goto fail;
        }
        /* mmap of 0 bytes is EINVAL: an empty partition has no mapping */
        if (pt->size > 0) {
            if (pt->size > SIZE_MAX) {
                rc = pl_err_os(eb, EFBIG, "mmap(%s)", pt->path);
                goto fail;
            }
            map = mmap(NULL, (size_t)pt->size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (map == MAP_FAILED) {
                rc = pl_err_os(eb, errno, "mmap(%s)", pt->path);
                goto fail;
            }
            pt->base = map;
            /* advisory only: readahead matters, its failure does not */
            (void)madvise(map, (size_t)pt->size, MADV_SEQUENTIAL);
        }
        close(fd);
        fd = -1;
        log->bytes += pt->size;
    }
    free(man);
    free(mpath);
    *out = log;
    return 0;

fail:
    if (fd >= 0)
        close(fd);
    free(man);
    free(mpath);
    pl_log_close(log);
    return rc;
}

void pl_log_close(pl_log *log)
{
    uint32_t i;
    if (!log)
        return;
    for (i = 0; log->parts && i < log->nparts; i++) {
        if (log->parts[i].base)
            munmap((void *)log->parts[i].base, (size_t)log->parts[i].size);
        free(log->parts[i].path);
    }
    free(log->parts);
    free(log->blks);
    free((void *)log->ok);
    free(log->dir);
    free(log);
}

uint32_t pl_log_partitions(const pl_log *log) { return log->nparts; }

uint64_t pl_log_records(const pl_log *log, uint32_t part)
{
    return part < log->nparts ? log->parts[part].records : 0;
}

uint64_t pl_log_total(const pl_log *log) { return log->total; }
uint64_t pl_log_identity(const pl_log *log) { return log->identity; }
uint64_t pl_log_bytes(const pl_log *log) { return log->bytes; }

const char *pl_log_part_path(const pl_log *log, uint32_t part)
{
    return part < log->nparts ? log->parts[part].path : NULL;
}

/* ---- 3. cursors ------------------------------------------------------ */

static int blk_corrupt(const struct part *pt, const blkent *e, pl_errbuf *eb, const char *what)
{
    return pl_err(eb, PL_ECORRUPT, "%s: partition %u, block at record offset %llu "
                  "(file byte %llu): %s", pt->path, pt->index, (ull)e->first, (ull)e->pos, what);
}

/*
 * Verify block b of pt and return its record area.  After this the inline
 * fast path may walk [*rp, *rend) blindly: the records tile it exactly.
 *
 * A block is verified once per open log: hashing is two thirds of a cold
 * sequential read, and a log is immutable once published, so later cursors
 * (cat after a scan, seeks, batch and stream in one process) reuse the
 * verdict.  The flag is atomic because cursors may live on several threads.
 */
static int block_enter(const struct part *pt, uint64_t b, const uint8_t **rp,
                       const uint8_t **rend, pl_errbuf *eb)
{
    const blkent *e = &pt->blk[b];
    int last = b + 1 == pt->nblocks;
    uint64_t count = (last ? pt->records : pt->blk[b + 1].first) - e->first;
    uint64_t len = (last ? pt->size : pt->blk[b + 1].pos) - e->pos - BLK_HDR;
    const uint8_t *h = pt->base + e->pos, *p = h + BLK_HDR, *end = p + len;
    uint64_t sum, i, prev = 0;
    char why[160];
    int rc;

    if (atomic_load_explicit(&pt->ok[b], memory_order_acquire)) {
        *rp = p;
        *rend = end;
        return 0;
    }
    if (rd32(h) != BLK_MAGIC)
        return blk_corrupt(pt, e, eb, "bad block magic");
    if (rd32(h + 4) != count || rd32(h + 8) != len || rd32(h + 12) != 0 ||
        rd64(h + 16) != e->first) {
        snprintf(why, sizeof why, "header (count %u, length %u, flags %u, first offset %llu) "
                 "disagrees with the manifest (count %llu, length %llu)", rd32(h + 4),
                 rd32(h + 8), rd32(h + 12), (ull)rd64(h + 16), (ull)count, (ull)len);
        return blk_corrupt(pt, e, eb, why);
    }
    rc = block_sum(h, p, (size_t)len, &sum);
    if (rc < 0)
        return pl_err_os(eb, -rc, "%s: verifying block at offset %llu", pt->path,
                         (ull)e->first);
    if (sum != rd64(h + BLK_SUM_AT))
        return blk_corrupt(pt, e, eb, "checksum mismatch");
    if (sum != e->sum)
        return blk_corrupt(pt, e, eb, "checksum differs from the manifest's");
    /* a block that hashes right can still be a forged or buggy one */
    for (i = 0; i < count; i++) {
        uint64_t ts;
        uint32_t n;
        if ((size_t)(end - p) < REC_HDR) {
            snprintf(why, sizeof why, "record %llu runs past the block end", (ull)(e->first + i));
            return blk_corrupt(pt, e, eb, why);
        }
        ts = rd64(p);
        n = rd32(p + 8);
        if (n > (size_t)(end - p) - REC_HDR || ts > (uint64_t)INT64_MAX || ts < prev) {
            snprintf(why, sizeof why, "record %llu: %s", (ull)(e->first + i),
                     n > (size_t)(end - p) - REC_HDR ? "length runs past the block end"
                     : ts < prev ? "ingest_ns decreases" : "ingest_ns out of range");
            return blk_corrupt(pt, e, eb, why);
        }
        prev = ts;
        p += REC_HDR + (size_t)n;
    }
    if (p != end)
        return blk_corrupt(pt, e, eb, "records do not fill the block");
    atomic_store_explicit(&pt->ok[b], 1, memory_order_release);
    *rp = h + BLK_HDR;
    *rend = end;
    return 0;
}

int pl_cur__next_block(pl_cursor *c, pl_errbuf *eb)
{
    const struct part *pt = &c->log->parts[c->part];
    const uint8_t *p = NULL, *end = NULL;
    int rc;

    if (c->block >= pt->nblocks)
        return 0;
    /* the read a block entry stands for: the first touch of its pages */
    fiu_return_on("log/block/enter",
                  pl_err(eb, -EIO, "%s: block at offset %llu (file byte %llu): injected read "
                         "failure (log/block/enter)", pt->path, (ull)pt->blk[c->block].first,
                         (ull)pt->blk[c->block].pos));
    rc = block_enter(pt, c->block, &p, &end, eb);
    if (rc < 0)
        return rc;
    if (c->block > 0) {
        /* Release the pages of the block behind us: a long sequential read
         * would otherwise keep the whole mapped log resident, and a run's
         * memory would grow with the log's length.  The mapping is private
         * and never written, so a later access (a payload pointer kept by a
         * caller) simply faults the page back in from the file. */
        uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
        uintptr_t lo = ((uintptr_t)pt->base + pt->blk[c->block - 1].pos) & ~(pg - 1);
        uintptr_t hi = ((uintptr_t)pt->base + pt->blk[c->block].pos) & ~(pg - 1);
        if (hi > lo)
            (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
    }
    c->p = p;
    c->end = end;
    c->next_offset = pt->blk[c->block].first;
    c->block++;
    return 1;
}

int pl_cur_init(pl_log *log, uint32_t part, uint64_t offset, pl_cursor *c, pl_errbuf *eb)
{
    const struct part *pt;
    uint64_t lo, hi, k;
    int rc;

    memset(c, 0, sizeof *c);
    c->log = log;
    c->part = part;
    if (part >= log->nparts)
        return pl_err(eb, PL_EUSAGE, "%s: no partition %u (the log has %u)", log->dir, part,
                      log->nparts);
    pt = &log->parts[part];
    if (offset > pt->records)
        return pl_err(eb, PL_EUSAGE, "%s: offset %llu is past the end (%llu records)",
                      pt->path, (ull)offset, (ull)pt->records);
    c->next_offset = offset;
    if (offset == pt->records) {
        c->block = pt->nblocks;
        return 0;
    }
    /* last block whose first offset is <= offset */
    lo = 0;
    hi = pt->nblocks;
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (pt->blk[mid].first <= offset)
            lo = mid;
        else
            hi = mid;
    }
    c->block = lo;
    rc = pl_cur__next_block(c, eb);
    if (rc < 0)
        return rc;
    /* the block was verified: stepping over records stays inside it */
    for (k = offset - pt->blk[lo].first; k > 0; k--)
        c->p += REC_HDR + (size_t)rd32(c->p + 8);
    c->next_offset = offset;
    return 0;
}

/* ---- 4. cat and scan ------------------------------------------------- */

#define CAT_BUF (1u << 20)

struct outbuf {
    FILE *f;
    char *buf;
    size_t used;
};

/* errno is cleared first: stdio does not always set it on a short write */
static int out_flush(struct outbuf *o, pl_errbuf *eb)
{
    errno = 0;
    if (o->used && fwrite(o->buf, 1, o->used, o->f) != o->used)
        return pl_err_os(eb, errno ? errno : EIO, "cat: write");
    o->used = 0;
    return 0;
}

static int out_put(struct outbuf *o, const void *s, size_t n, pl_errbuf *eb)
{
    int rc;
    if (n > CAT_BUF - o->used) {
        rc = out_flush(o, eb);
        if (rc < 0)
            return rc;
        if (n > CAT_BUF) {
            errno = 0;
            if (fwrite(s, 1, n, o->f) != n)
                return pl_err_os(eb, errno ? errno : EIO, "cat: write");
            return 0;
        }
    }
    memcpy(o->buf + o->used, s, n);
    o->used += n;
    return 0;
}

static size_t fmt_u64(char *dst, uint64_t v)
{
    char tmp[20];
    size_t n = 0, i;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (i = 0; i < n; i++)
        dst[i] = tmp[n - 1 - i];
    return n;
}

/* Min-heap of partitions keyed by (current ingest_ns, partition). */
static int heap_less(const pl_cursor *cs, uint32_t a, uint32_t b)
{
    return cs[a].ingest_ns < cs[b].ingest_ns ||
           (cs[a].ingest_ns == cs[b].ingest_ns && a < b);
}

static void heap_down(uint32_t *h, uint32_t n, uint32_t i, const pl_cursor *cs)
{
    for (;;) {
        uint32_t l = 2 * i + 1, m = i, t;
        if (l < n && heap_less(cs, h[l], h[m]))
            m = l;
        if (l + 1 < n && heap_less(cs, h[l + 1], h[m]))
            m = l + 1;
        if (m == i)
            return;
        t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

int pl_log_cat(pl_log *log, FILE *out, pl_errbuf *eb)
{
    struct outbuf o = { out, NULL, 0 };
    pl_cursor *cs = calloc(log->nparts, sizeof *cs);
    uint32_t *heap = calloc(log->nparts, sizeof *heap);
    uint32_t n = 0, i;
    int rc;

    o.buf = malloc(CAT_BUF);
    if (!cs || !heap || !o.buf) {
        rc = pl_err_os(eb, ENOMEM, "cat %s", log->dir);
        goto fail;
    }
    for (i = 0; i < log->nparts; i++) {
        rc = pl_cur_init(log, i, 0, &cs[i], eb);
        if (rc < 0)
            goto fail;
        rc = pl_cur_next(&cs[i], eb);
        if (rc < 0)
            goto fail;
        if (rc == 1)
            heap[n++] = i;
    }
    for (i = n / 2; i-- > 0;)
        heap_down(heap, n, i, cs);
    rc = out_put(&o, CSV_HEADER "\n", sizeof CSV_HEADER, eb);
    if (rc < 0)
        goto fail;
    while (n > 0) {
        uint32_t q = heap[0];
        pl_cursor *c = &cs[q];
        char pre[48];
        size_t k = fmt_u64(pre, q);
        pre[k++] = ',';
        k += fmt_u64(pre + k, (uint64_t)c->ingest_ns);
        pre[k++] = ',';
        if ((rc = out_put(&o, pre, k, eb)) < 0 ||
            (rc = out_put(&o, c->payload, c->len, eb)) < 0 ||
            (rc = out_put(&o, "\n", 1, eb)) < 0)
            goto fail;
        rc = pl_cur_next(c, eb);
        if (rc < 0)
            goto fail;
        if (rc == 0)
            heap[0] = heap[--n];
        heap_down(heap, n, 0, cs);
    }
    rc = out_flush(&o, eb);
    if (rc < 0)
        goto fail;
    errno = 0;
    if (fflush(out) != 0) {
        rc = pl_err_os(eb, errno ? errno : EIO, "cat: write");
        goto fail;
    }
    rc = 0;
fail:
    free(o.buf);
    free(heap);
    free(cs);
    return rc;
}

int pl_log_scan(pl_log *log, uint64_t *nrecords_out, uint64_t *sum_out, pl_errbuf *eb)
{
    uint64_t n = 0, sum = 0;
    uint32_t i;
    int rc = 0;

    for (i = 0; i < log->nparts; i++) {
        pl_cursor c;
        rc = pl_cur_init(log, i, 0, &c, eb);
        if (rc < 0)
            goto fail;
        while ((rc = pl_cur_next(&c, eb)) == 1) {
            n++;
            sum += (uint64_t)c.ingest_ns + c.len;
        }
        if (rc < 0)
            goto fail;
    }
    rc = 0;
fail:
    if (nrecords_out)
        *nrecords_out = n;
    if (sum_out)
        *sum_out = sum;
    return rc;
}

/* ---- 5. import ------------------------------------------------------- */

/* The CSV as one byte range: mmap for regular files, read into memory otherwise. */
struct csv {
    const char *path;
    const uint8_t *data;
    size_t len;
    void *map;
    uint8_t *heap;
};

static int csv_load(struct csv *v, pl_errbuf *eb)
{
    struct stat st;
    int fd = open(v->path, O_RDONLY | O_CLOEXEC), rc = 0;
    size_t cap = 0;

    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = pl_err_os(eb, errno, "import: open(%s)", v->path);
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = pl_err_os(eb, EISDIR, "import: %s", v->path);
        goto out;
    }
    if (S_ISREG(st.st_mode)) {
        if (st.st_size == 0)
            goto out; /* rc == 0: the caller decides about empty files */
        if ((uint64_t)st.st_size > SIZE_MAX) {
            rc = pl_err_os(eb, EFBIG, "import: %s", v->path);
            goto out;
        }
        v->map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (v->map == MAP_FAILED) {
            v->map = NULL;
            rc = pl_err_os(eb, errno, "import: mmap(%s)", v->path);
            goto out;
        }
        (void)madvise(v->map, (size_t)st.st_size, MADV_SEQUENTIAL);
        v->data = v->map;
        v->len = (size_t)st.st_size;
        goto out;
    }
    /* a pipe or device: both passes need the bytes, so keep them all */
    for (;;) {
        ssize_t r;
        if (cap - v->len < (1u << 20)) {
            size_t ncap = cap ? cap * 2 : (8u << 20);
            uint8_t *nb = realloc(v->heap, ncap);
            if (!nb) {
                rc = pl_err_os(eb, ENOMEM, "import: reading %s", v->path);
                goto out;
            }
            v->heap = nb;
            cap = ncap;
        }
        r = read(fd, v->heap + v->len, cap - v->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = pl_err_os(eb, errno, "import: read(%s)", v->path);
            goto out;
        }
        if (r == 0)
            break;
        v->len += (size_t)r;
    }
    v->data = v->heap;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

static void csv_free(struct csv *v)
{
    if (v->map)
        munmap(v->map, v->len);
    free(v->heap);
}

/* Per-partition import state: pass 1 fills the first group, pass 2 the rest. */
struct wpart {
    int64_t last_ts;     /* pass 1: for the non-decreasing check */
    size_t last_line;
    uint64_t records;    /* pass 1: count; pass 2: records written so far */
    uint8_t *buf;        /* the open block: BLK_HDR reserved, then records */
    size_t cap, used;
    uint32_t count;
    uint64_t file_pos;
    blkent *blk;
    uint64_t nblk, blkcap;
};

struct importer {
    struct csv csv;
    unsigned flags;       /* PL_IMPORT_* */
    uint32_t nparts;      /* bound on partition numbers; final P after pass 1 */
    int auto_parts;
    uint32_t maxp;        /* largest partition seen + 1 */
    struct wpart *w;      /* PL_MAX_PARTITIONS entries */
    uint64_t nrecords;
    size_t blk_limit;     /* record bytes per block before it is closed */
    XXH3_state_t *xx;
    char *tmpdir;
    uint32_t created;     /* partition files created in tmpdir */
    int *fds;             /* per partition: open descriptor or -1 */
    int dirfd;            /* tmpdir, for short relative opens */
};

/*
 * Close every cached partition descriptor.  A failing close can be the first
 * report of a lost write (NFS), so it fails the import.
 */
static int fds_close_all(struct importer *im, pl_errbuf *eb)
{
    uint32_t i;
    int rc = 0;
    for (i = 0; im->fds && i < im->created; i++)
        if (im->fds[i] >= 0) {
            if (close(im->fds[i]) != 0 && rc == 0)
                rc = pl_err_os(eb, errno, "import: close(%s/p%u.log)", im->tmpdir, i);
            im->fds[i] = -1;
        }
    return rc;
}

/*
 * The descriptor of partition q's file, opened (or created) on first use and
 * kept: opening per block costs more than the write for many partitions.
 * When the process runs out of descriptors (4096 partitions against a 1024
 * limit) the cache is emptied once and the open retried.
 */
static int part_fd(struct importer *im, uint32_t q, int create, pl_errbuf *eb)
{
    int flags = O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), fd, rc, tries;
    char name[32];

    if (im->fds[q] >= 0)
        return im->fds[q];
    snprintf(name, sizeof name, "p%u.log", q);
    for (tries = 0; tries < 2; tries++) {
        fd = openat(im->dirfd, name, flags, 0644);
        if (fd >= 0) {
            im->fds[q] = fd;
            return fd;
        }
        if ((errno != EMFILE && errno != ENFILE) || tries > 0)
            break;
        rc = fds_close_all(im, eb);
        if (rc < 0)
            return rc;
    }
    return pl_err_os(eb, errno, "import: open(%s/p%u.log)", im->tmpdir, q);
}

static int env_err(const struct importer *im, size_t line, pl_errbuf *eb, const char *what,
                   const uint8_t *f, size_t n)
{
    if (f)
        return pl_err(eb, PL_EFORMAT, "%s: line %zu: %s '%.*s'%s", im->csv.path, line, what,
                      (int)(n > 40 ? 40 : n), (const char *)f, n > 40 ? "..." : "");
    return pl_err(eb, PL_EFORMAT, "%s: line %zu: %s", im->csv.path, line, what);
}

/* Decimal digits only, value < limit; leading zeros allowed. */
static int parse_dec(const uint8_t *s, size_t n, uint64_t limit, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;
    if (n == 0)
        return -1;
    for (i = 0; i < n; i++) {
        unsigned d = (unsigned)s[i] - '0';
        if (d > 9)
            return -1;
        /* v * 10 <= limit - 1 < 2^63 before adding d: no overflow */
        if (v > (limit - 1) / 10 || v * 10 + d >= limit)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/*
 * One line of the CSV (without its LF): the envelope "partition,ingest_ns,"
 * and the payload after it.  Pass 1 checks it all; pass 2 sees only lines
 * pass 1 accepted.
 */
static int parse_line(struct importer *im, size_t line, const uint8_t *s, size_t n,
                      uint32_t *part, uint64_t *ts, const uint8_t **pl, size_t *plen,
                      pl_errbuf *eb)
{
    const uint8_t *c1, *c2;
    uint64_t p;

    if (n == 0)
        return env_err(im, line, eb, "empty line", NULL, 0);
    c1 = memchr(s, ',', n);
    c2 = c1 ? memchr(c1 + 1, ',', n - (size_t)(c1 + 1 - s)) : NULL;
    if (!c2)
        return env_err(im, line, eb, "fewer than two commas (expected partition,ingest_ns,"
                       "payload)", NULL, 0);
    if (parse_dec(s, (size_t)(c1 - s), im->nparts, &p) != 0) {
        char what[96];
        snprintf(what, sizeof what, "partition is not an integer in [0, %u)%s:", im->nparts,
                 im->auto_parts ? " (the partition limit)" : "");
        return env_err(im, line, eb, what, s, (size_t)(c1 - s));
    }
    if (parse_dec(c1 + 1, (size_t)(c2 - c1 - 1), (uint64_t)1 << 63, ts) != 0)
        return env_err(im, line, eb, "ingest_ns is not an integer in [0, 2^63):", c1 + 1,
                       (size_t)(c2 - c1 - 1));
    *part = (uint32_t)p;
    *pl = c2 + 1;
    *plen = n - (size_t)(c2 + 1 - s);
    /* a broker refuses a message above its maximum size (SPEC section 1) */
    if (*plen > PL_LOG_MAX_PAYLOAD)
        return pl_err(eb, PL_EFORMAT, "%s: line %zu: payload of %zu bytes (from byte %zu) "
                      "exceeds the limit of %u bytes (1 MiB; no option raises it)",
                      im->csv.path, line, *plen, (size_t)(*pl - im->csv.data),
                      PL_LOG_MAX_PAYLOAD);
    return 0;
}

/* Write the open block of partition q and index it. */
static int block_flush(struct importer *im, uint32_t q, pl_errbuf *eb)
{
    struct wpart *w = &im->w[q];
    size_t len = w->used - BLK_HDR, off = 0;
    uint64_t sum;
    int fd;

    if (w->count == 0)
        return 0;
    wr32(w->buf, BLK_MAGIC);
    wr32(w->buf + 4, w->count);
    wr32(w->buf + 8, (uint32_t)len);
    wr32(w->buf + 12, 0);
    wr64(w->buf + 16, w->records - w->count);
    XXH3_64bits_reset(im->xx);
    XXH3_64bits_update(im->xx, w->buf, BLK_SUM_AT);
    XXH3_64bits_update(im->xx, w->buf + BLK_HDR, len);
    sum = XXH3_64bits_digest(im->xx);
    wr64(w->buf + BLK_SUM_AT, sum);

    if (w->nblk == w->blkcap) {
        uint64_t ncap = w->blkcap ? w->blkcap * 2 : 16;
        blkent *nb = realloc(w->blk, ncap * sizeof *nb);
        if (!nb)
            return pl_err_os(eb, ENOMEM, "import: block index of partition %u", q);
        w->blk = nb;
        w->blkcap = ncap;
    }
    fd = part_fd(im, q, 0, eb);
    if (fd < 0)
        return fd;
    while (off < w->used) {
        ssize_t r = pwrite(fd, w->buf + off, w->used - off, (off_t)(w->file_pos + off));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return pl_err_os(eb, r < 0 ? errno : EIO, "import: write(%s/p%u.log)",
                             im->tmpdir, q);
        off += (size_t)r;
    }
    w->blk[w->nblk].first = w->records - w->count;
    w->blk[w->nblk].pos = w->file_pos;
    w->blk[w->nblk].sum = sum;
    w->nblk++;
    w->file_pos += w->used;
    w->used = BLK_HDR;
    w->count = 0;
    /* a block grown for one huge record should not pin that memory */
    if (w->cap > BLK_HDR + im->blk_limit) {
        free(w->buf);
        w->buf = NULL;
        w->cap = 0;
    }
    return 0;
}

static int block_append(struct importer *im, uint32_t q, uint64_t ts, const uint8_t *pl,
                        size_t plen, pl_errbuf *eb)
{
    struct wpart *w = &im->w[q];
    size_t need = REC_HDR + plen;
    int rc;

    if (w->count > 0 && (w->count == BLK_MAX_RECORDS || w->used - BLK_HDR + need > im->blk_limit)) {
        rc = block_flush(im, q, eb);
        if (rc < 0)
            return rc;
    }
    if (!w->buf)
        w->used = BLK_HDR;
    if (w->cap < w->used + need) {
        size_t ncap = BLK_HDR + im->blk_limit;
        uint8_t *nb;
        if (ncap < w->used + need)
            ncap = w->used + need;
        nb = realloc(w->buf, ncap);
        if (!nb)
            return pl_err_os(eb, ENOMEM, "import: block buffer of partition %u", q);
        w->buf = nb;
        w->cap = ncap;
    }
    wr64(w->buf + w->used, ts);
    wr32(w->buf + w->used + 8, (uint32_t)plen);
    memcpy(w->buf + w->used + REC_HDR, pl, plen);
    w->used += need;
    w->count++;
    w->records++;
    return 0;
}

/*
 * SPEC section 1: a UTF-8 byte-order mark is refused, naming it (it would
 * otherwise surface as an invisible prefix of the first partition); so is a
 * first line ending in CR LF unless PL_IMPORT_KEEP_CR, because the CR would
 * end every payload and make every record poison.  cr: line 1 (s[0..n),
 * without its LF) ends in CR and an LF follows.
 */
static int first_line_check(const struct importer *im, const uint8_t *s, size_t n, int cr,
                            pl_errbuf *eb)
{
    if (n >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF)
        return pl_err(eb, PL_EFORMAT, "%s: line 1: UTF-8 byte-order mark (EF BB BF) at byte "
                      "0; remove it (no option accepts it)", im->csv.path);
    if (cr && !(im->flags & PL_IMPORT_KEEP_CR))
        return pl_err(eb, PL_EFORMAT, "%s: line 1: ends in CR LF (the CR at byte %zu): a CR "
                      "LF file, whose CRs would end every payload and make it poison; convert "
                      "it to LF line endings, or pass --keep-cr to import it byte for byte",
                      im->csv.path, n - 1);
    return 0;
}

/* Pass 1 (write == 0): validate the envelope of every line.  Pass 2: write. */
static int csv_pass(struct importer *im, int write, pl_errbuf *eb)
{
    const uint8_t *d = im->csv.data;
    size_t len = im->csv.len, pos = 0, line = 0;
    int rc;

    while (pos < len) {
        const uint8_t *s = d + pos, *lf = memchr(s, '\n', len - pos), *pl = NULL;
        size_t n = lf ? (size_t)(lf - s) : len - pos, plen = 0;
        uint32_t q = 0;
        uint64_t ts = 0;
        struct wpart *w;

        pos += n + (lf != NULL);
        line++;
        /* a stop request ends either pass; the caller removes the tmp dir */
        if ((line & 0xffff) == 0 && (rc = pl_check_stop(eb, "import")) < 0)
            return rc;
        if (line == 1) {
            int cr = lf && n > 0 && s[n - 1] == '\r';
            if (!write && (rc = first_line_check(im, s, n, cr, eb)) < 0)
                return rc;
            /* under --keep-cr the header keeps being a header */
            if ((n == sizeof CSV_HEADER - 1 || (cr && n == sizeof CSV_HEADER)) &&
                memcmp(s, CSV_HEADER, sizeof CSV_HEADER - 1) == 0)
                continue;
        }
        rc = parse_line(im, line, s, n, &q, &ts, &pl, &plen, eb);
        if (rc < 0)
            return rc;
        w = &im->w[q];
        if (write) {
            rc = block_append(im, q, ts, pl, plen, eb);
            if (rc < 0)
                return rc;
            continue;
        }
        if (w->records > 0 && (int64_t)ts < w->last_ts)
            return pl_err(eb, PL_EFORMAT, "%s: line %zu: ingest_ns %llu is less than %lld, the "
                          "ingest_ns of partition %u on line %zu (it must not decrease "
                          "within a partition)", im->csv.path, line, (ull)ts,
                          (long long)w->last_ts, q, w->last_line);
        w->last_ts = (int64_t)ts;
        w->last_line = line;
        w->records++;
        im->nrecords++;
        if (q + 1 > im->maxp)
            im->maxp = q + 1;
    }
    return 0;
}

static int write_manifest(struct importer *im, pl_errbuf *eb)
{
    uint64_t nblk = 0, total = 0, i, b;
    size_t len, k;
    uint8_t *m = NULL;
    char *fin = path_join(im->tmpdir, MAN_NAME);
    int rc = 0;

    if (!fin) {
        rc = pl_err_os(eb, ENOMEM, "import: manifest");
        goto fail;
    }
    for (i = 0; i < im->nparts; i++) {
        nblk += im->w[i].nblk;
        total += im->w[i].records;
    }
    len = MAN_HDR + (size_t)im->nparts * MAN_PART + (size_t)nblk * MAN_BLK + MAN_TRAILER;
    m = malloc(len);
    if (!m) {
        rc = pl_err_os(eb, ENOMEM, "import: manifest");
        goto fail;
    }
    memcpy(m, MAN_MAGIC, 8);
    wr32(m + 8, MAN_VERSION);
    wr32(m + 12, im->nparts);
    wr64(m + 16, total);
    wr64(m + 24, nblk);
    k = MAN_HDR;
    for (i = 0; i < im->nparts; i++, k += MAN_PART) {
        wr64(m + k, im->w[i].records);
        wr64(m + k + 8, im->w[i].nblk);
        wr64(m + k + 16, im->w[i].file_pos);
    }
    for (i = 0; i < im->nparts; i++)
        for (b = 0; b < im->w[i].nblk; b++, k += MAN_BLK) {
            wr64(m + k, im->w[i].blk[b].first);
            wr64(m + k + 8, im->w[i].blk[b].pos);
            wr64(m + k + 16, im->w[i].blk[b].sum);
        }
    wr64(m + k, XXH3_64bits(m, k));

    /* the name MANIFEST appears only with complete, durable content, and
     * its directory entry is durable before the directory is published
     * under its final name: a half-written manifest is never taken for a log */
    rc = pl_fs_replace(fin, m, len, eb);
fail:
    free(m);
    free(fin);
    return rc;
}

/* Remove the temporary directory and whatever import put in it. */
static void tmpdir_remove(struct importer *im)
{
    uint32_t i;
    char *p;
    if (!im->tmpdir)
        return;
    for (i = 0; i < im->created; i++)
        if ((p = part_path(im->tmpdir, i))) {
            unlink(p);
            free(p);
        }
    if ((p = path_join(im->tmpdir, MAN_NAME ".tmp"))) {
        unlink(p);
        free(p);
    }
    if ((p = path_join(im->tmpdir, MAN_NAME))) {
        unlink(p);
        free(p);
    }
    rmdir(im->tmpdir);
}

/* logdir must be absent or an empty directory. */
static int check_target(const char *logdir, pl_errbuf *eb)
{
    struct stat st;
    DIR *d;
    struct dirent *de;
    int rc = 0;

    if (stat(logdir, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        return pl_err_os(eb, errno, "import: stat(%s)", logdir);
    }
    if (!S_ISDIR(st.st_mode))
        return pl_err(eb, PL_EEXISTS, "%s: exists and is not a directory", logdir);
    d = opendir(logdir);
    if (!d)
        return pl_err_os(eb, errno, "import: opendir(%s)", logdir);
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            rc = pl_err(eb, PL_EEXISTS, "%s: exists and is not empty", logdir);
            break;
        }
    closedir(d);
    return rc;
}

int pl_log_import(const char *csv_path, const char *logdir, int partitions, unsigned flags,
                  uint64_t *nrecords_out, pl_errbuf *eb)
{
    struct importer im;
    char *target = NULL, *parent = NULL;
    size_t tl;
    uint32_t i;
    int rc, published = 0;

    memset(&im, 0, sizeof im);
    im.dirfd = -1;
    im.csv.path = csv_path;
    im.flags = flags;
    if (nrecords_out)
        *nrecords_out = 0;
    if (!logdir[0])
        return pl_err(eb, PL_EUSAGE, "import: empty log directory name");
    if (partitions == 0 || partitions > PL_MAX_PARTITIONS)
        return pl_err(eb, PL_EUSAGE, "import: partitions must be in [1, %d] (or negative for "
                      "auto), not %d", PL_MAX_PARTITIONS, partitions);
    im.auto_parts = partitions < 0;
    im.nparts = im.auto_parts ? PL_MAX_PARTITIONS : (uint32_t)partitions;

    /* "log/" and "log" name the same directory; the sibling needs the latter */
    target = strdup(logdir);
    if (!target) {
        rc = pl_err_os(eb, ENOMEM, "import");
        goto fail;
    }
    for (tl = strlen(target); tl > 1 && target[tl - 1] == '/'; tl--)
        target[tl - 1] = '\0';
    rc = check_target(target, eb);
    if (rc < 0)
        goto fail;
    im.w = calloc(PL_MAX_PARTITIONS, sizeof *im.w);
    im.xx = XXH3_createState();
    if (!im.w || !im.xx) {
        rc = pl_err_os(eb, ENOMEM, "import");
        goto fail;
    }
    rc = csv_load(&im.csv, eb);
    if (rc < 0)
        goto fail;
    /* a 0-byte file is more often a failed copy than a deliberate empty
     * log (a header-only file is the deliberate form) */
    if (im.csv.len == 0 && !(flags & PL_IMPORT_ALLOW_EMPTY)) {
        rc = pl_err(eb, PL_EFORMAT, "%s: line 1: empty file (0 bytes at byte 0, no records); "
                    "pass --allow-empty to import it as an empty log", csv_path);
        goto fail;
    }

    /* pass 1: the whole envelope is checked before anything is created */
    rc = csv_pass(&im, 0, eb);
    if (rc < 0)
        goto fail;
    if (im.auto_parts)
        im.nparts = im.maxp ? im.maxp : 1;
    im.blk_limit = IMPORT_BUFFER_BUDGET / im.nparts;
    if (im.blk_limit > BLK_MAX_BYTES)
        im.blk_limit = BLK_MAX_BYTES;
    if (im.blk_limit < BLK_MIN_BYTES)
        im.blk_limit = BLK_MIN_BYTES;
    for (i = 0; i < im.nparts; i++)
        im.w[i].records = 0;

    /* built aside, in the same file system so that the final rename is
     * atomic: an error or a crash never leaves a partial log at logdir (a
     * crash can leave this sibling behind; having no manifest until the end,
     * it is never mistaken for a log) */
    if (asprintf(&im.tmpdir, "%s.tmp.XXXXXX", target) < 0) {
        im.tmpdir = NULL;
        rc = pl_err_os(eb, ENOMEM, "import");
        goto fail;
    }
    if (!mkdtemp(im.tmpdir)) {
        rc = pl_err_os(eb, errno, "import: mkdtemp(%s)", im.tmpdir);
        free(im.tmpdir);
        im.tmpdir = NULL;
        goto fail;
    }
    /* mkdtemp makes it private; a log is ordinary data */
    (void)chmod(im.tmpdir, 0755);
    im.dirfd = open(im.tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    im.fds = malloc(im.nparts * sizeof *im.fds);
    if (im.dirfd < 0 || !im.fds) {
        rc = pl_err_os(eb, im.fds ? errno : ENOMEM, "import: open(%s)", im.tmpdir);
        goto fail;
    }
    for (i = 0; i < im.nparts; i++)
        im.fds[i] = -1;
    /* every partition has a file, empty ones included */
    for (i = 0; i < im.nparts; i++) {
        rc = part_fd(&im, i, 1, eb);
        if (rc < 0)
            goto fail;
        im.created = i + 1;
    }

    /* pass 2: the same lines, now known good, into blocks */
    rc = csv_pass(&im, 1, eb);
    if (rc < 0)
        goto fail;
    for (i = 0; i < im.nparts; i++) {
        int fd;
        rc = block_flush(&im, i, eb);
        if (rc < 0)
            goto fail;
        fd = rc = part_fd(&im, i, 0, eb);
        if (rc < 0)
            goto fail;
        /* the manifest must never describe blocks a power cut could lose */
        if (fsync(fd) != 0) {
            rc = pl_err_os(eb, errno, "import: fsync(%s/p%u.log)", im.tmpdir, i);
            goto fail;
        }
        /* a failing close can be the first report of a lost write (NFS) */
        im.fds[i] = -1;
        if (close(fd) != 0) {
            rc = pl_err_os(eb, errno, "import: close(%s/p%u.log)", im.tmpdir, i);
            goto fail;
        }
    }
    /* last inside the directory: a directory without a manifest is no log */
    rc = write_manifest(&im, eb);
    if (rc < 0)
        goto fail;
    /* readers see either no log or the complete one; an existing empty
     * directory is replaced, a non-empty one (a racing import) refuses */
    if (rename(im.tmpdir, target) != 0) {
        int e = errno;
        rc = e == ENOTEMPTY || e == EEXIST
                 ? pl_err(eb, PL_EEXISTS, "%s: exists and is not empty", target)
                 : pl_err_os(eb, e, "import: rename(%s, %s)", im.tmpdir, target);
        goto fail;
    }
    published = 1;
    parent = strdup(target);
    if (!parent) {
        rc = pl_err_os(eb, ENOMEM, "import");
        goto fail;
    }
    /* without it a power cut can forget the rename: the log would vanish
     * after import reported success */
    rc = pl_fs_sync_dir(dirname(parent), eb);
    if (rc < 0)
        goto fail;
    if (nrecords_out)
        *nrecords_out = im.nrecords;
    rc = 0;

fail:
    if (im.fds) {
        pl_errbuf ignored;
        (void)fds_close_all(&im, &ignored); /* only left open on failure */
        free(im.fds);
    }
    if (im.dirfd >= 0)
        close(im.dirfd);
    /* on any error nothing stays at logdir: take a published log back */
    if (rc < 0 && published && rename(target, im.tmpdir) != 0)
        im.tmpdir[0] = '\0';
    if (rc < 0 && im.tmpdir && im.tmpdir[0])
        tmpdir_remove(&im);
    if (im.w)
        for (i = 0; i < PL_MAX_PARTITIONS; i++) {
            free(im.w[i].buf);
            free(im.w[i].blk);
        }
    free(im.w);
    if (im.xx)
        XXH3_freeState(im.xx);
    csv_free(&im.csv);
    free(im.tmpdir);
    free(parent);
    free(target);
    return rc;
}
