/*
 * ckpt.c - atomic checkpoint files (see pl_ckpt.h and docs/commit-protocol.md).
 *
 * Layout: the file format and the invariants first, then small helpers
 * (paths, little-endian codec, errors, directory listing), then the write
 * protocol (pl_ckpt_write), verification and load with fallback
 * (pl_ckpt_load), and discard.
 *
 * File STATEDIR/ckpt-<seqno, 16 lowercase hex digits>, integers little-endian:
 *
 *     off  size  field
 *       0     8  magic "RPCKPT\r\n"
 *       8     4  format version (1)
 *      12     4  header length (56)
 *      16     8  seqno (equals the seqno in the file name)
 *      24     8  config_fp
 *      32     8  log_id
 *      40     8  position (records consumed)
 *      48     8  body length L
 *      56     L  body (opaque)
 *    56+L    16  XXH3-128 of bytes [0, 56+L), canonical (big-endian) form
 *
 * Invariants:
 *  (1) A file under a final name ckpt-N is complete: it gets that name only
 *      by rename() after all its bytes were written, fsync'd and the
 *      descriptor closed without error.  A torn write can only ever be
 *      ckpt.tmp, which load ignores.
 *  (2) No checkpoint is removed before a newer one is durable under its
 *      final name (renamed and the directory fsync'd), and one older
 *      checkpoint is kept as well: the newest one that verifies (3), was
 *      written under the same configuration and log, and is not ahead of
 *      the new one.  Pruning goes by validity, not by number: a corrupt
 *      newer file never survives at the expense of a sound older one.
 *  (3) A checkpoint is used only after its size, magic, version, header
 *      length, body length (against the file size), checksum and seqno
 *      (against its name) verify; nothing read from a file that fails is
 *      returned.  A failing file is skipped and the next older one tried.
 *  (4) A checkpoint that verifies but was written under another
 *      configuration or for another log is refused (PL_ECONFIG): never a
 *      silent fallback to an older checkpoint or to a replay from zero.
 *  (5) Seqnos strictly increase: a write whose seqno is not greater than
 *      every existing ckpt-* name is refused, so the highest name is the
 *      newest state and pruning never removes the file just written.
 *  (6) A failed write, fsync or close is returned, never retried on the same
 *      descriptor (the kernel may have dropped the dirty pages and would
 *      report success the second time); recovery goes through a restart.
 *  (7) Load is deterministic: names are sorted numerically, so the same
 *      directory contents give the same choice and the same report.
 *  (8) Memory is bounded by the real file size, itself bounded by
 *      PL_CKPT_MAX_FILE; a bogus length in a header never sizes an
 *      allocation.
 *
 * One checkpoint file's life (function behind each transition):
 *
 *   (absent) --pl_ckpt_write: open+write--> ckpt.tmp dirty
 *   ckpt.tmp dirty --pl_ckpt_write: fsync+close--> ckpt.tmp durable
 *   ckpt.tmp durable --pl_ckpt_write: rename--> ckpt-N named
 *   ckpt-N named --pl_ckpt_write: fsync(dir)--> ckpt-N durable
 *   ckpt-N durable --pl_ckpt_load: verify ok--> in use
 *   ckpt-N any --pl_ckpt_load: verify fails--> skipped (left on disk)
 *   ckpt-N durable --pl_ckpt_write of a later one, prune--> removed
 *                     (unless it is the newest sound one before it)
 *   any --pl_ckpt_discard--> removed
 *   ckpt.tmp dirty/durable --crash--> ignored by pl_ckpt_load,
 *                                     truncated by the next pl_ckpt_write
 */
#include "pl_ckpt.h"
#include "pl_fs.h"
#include "pl_unsafe.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fiu-local.h>
#include <xxhash.h>

#define CKPT_MAGIC "RPCKPT\r\n"
#define CKPT_HDR 56u
#define CKPT_SUM 16u
#define CKPT_MIN (CKPT_HDR + CKPT_SUM)
#define CKPT_PREFIX "ckpt-"
#define CKPT_PREFIX_LEN 5
#define CKPT_TMP "ckpt.tmp"
#define CKPT_NAME_LEN (CKPT_PREFIX_LEN + 16)

/* ---- helpers ------------------------------------------------------------ */

static int ckpt__path(char *buf, size_t n, const char *dir, const char *name, pl_errbuf *eb)
{
    int k = snprintf(buf, n, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= n)
        return pl_err_os(eb, ENAMETOOLONG, "checkpoint path %s/%s", dir, name);
    return 0;
}

static void ckpt__name(char *buf, size_t n, uint64_t seq)
{
    snprintf(buf, n, CKPT_PREFIX "%016" PRIx64, seq);
}

/* ckpt-<16 lowercase hex>, nothing else: uppercase would give two names per seqno. */
static int ckpt__parse_name(const char *name, uint64_t *seq)
{
    uint64_t v = 0;
    if (strncmp(name, CKPT_PREFIX, CKPT_PREFIX_LEN) != 0 || strlen(name) != CKPT_NAME_LEN)
        return 0;
    for (const char *p = name + CKPT_PREFIX_LEN; *p; p++) {
        int d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else
            return 0;
        v = (v << 4) | (uint64_t)d;
    }
    *seq = v;
    return 1;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void ckpt__encode(uint8_t *h, const pl_ckpt_meta *m, uint64_t body_len)
{
    memcpy(h, CKPT_MAGIC, 8);
    put32(h + 8, PL_CKPT_VERSION);
    put32(h + 12, CKPT_HDR);
    put64(h + 16, m->seqno);
    put64(h + 24, m->config_fp);
    put64(h + 32, m->log_id);
    put64(h + 40, m->position);
    put64(h + 48, body_len);
}

/*
 * Check a header against the size of the file it came from.  Returns 1 and
 * fills *m and *body_len when it is well formed, else 0 with `why` set.
 * No side effects, so write can assert it on what it encoded.
 */
static int ckpt__header_ok(const uint8_t *h, uint64_t fsize, pl_ckpt_meta *m,
                           uint64_t *body_len, char *why, size_t whylen)
{
    uint32_t ver, hlen;
    uint64_t blen;
    if (memcmp(h, CKPT_MAGIC, 8) != 0) {
        snprintf(why, whylen, "bad magic (not a checkpoint file)");
        return 0;
    }
    ver = get32(h + 8);
    if (ver != PL_CKPT_VERSION) {
        snprintf(why, whylen, "unsupported format version %" PRIu32 " (this build reads %u)",
                 ver, PL_CKPT_VERSION);
        return 0;
    }
    hlen = get32(h + 12);
    if (hlen != CKPT_HDR) {
        snprintf(why, whylen, "bad header length %" PRIu32 " (expected %u)", hlen, CKPT_HDR);
        return 0;
    }
    blen = get64(h + 48);
    /* compared by subtraction: a bogus huge length cannot overflow (8) */
    if (blen != fsize - CKPT_MIN) {
        snprintf(why, whylen,
                 "body length %" PRIu64 " does not match the file size %" PRIu64
                 " (torn or extended)", blen, fsize);
        return 0;
    }
    m->seqno = get64(h + 16);
    m->config_fp = get64(h + 24);
    m->log_id = get64(h + 32);
    m->position = get64(h + 40);
    *body_len = blen;
    return 1;
}

/* An OS failure of `step` on `path`; ENOSPC gets a message an operator acts on. */
static int ckpt__os2(pl_errbuf *eb, int err, const char *step, const char *path, const char *to)
{
    const char *sep = to ? ", " : "";
    if (!to)
        to = "";
    if (err == ENOSPC)
        return pl_err(eb, -ENOSPC, "%s(%s%s%s): disk full (no space left for the checkpoint)",
                      step, path, sep, to);
    return pl_err_os(eb, err, "%s(%s%s%s)", step, path, sep, to);
}

static int ckpt__os(pl_errbuf *eb, int err, const char *step, const char *path)
{
    return ckpt__os2(eb, err, step, path, NULL);
}

static int ckpt__cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/*
 * The seqnos of all ckpt-* names in dir, sorted ascending (keeps (7)).
 * *seqs is malloc'd (NULL when none).  *has_tmp (may be NULL) tells whether
 * ckpt.tmp exists.  A missing dir is -ENOENT.
 */
static int ckpt__list(const char *dir, uint64_t **seqs, size_t *n, int *has_tmp, pl_errbuf *eb)
{
    DIR *d = NULL;
    struct dirent *de;
    uint64_t *v = NULL, seq;
    size_t cnt = 0, cap = 0;
    int rc = 0;

    *seqs = NULL;
    *n = 0;
    if (has_tmp)
        *has_tmp = 0;
    d = opendir(dir);
    if (!d) {
        rc = pl_err_os(eb, errno, "opendir(%s)", dir);
        goto fail;
    }
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (!de) {
            if (errno) {
                rc = pl_err_os(eb, errno, "readdir(%s)", dir);
                goto fail;
            }
            break;
        }
        if (has_tmp && strcmp(de->d_name, CKPT_TMP) == 0)
            *has_tmp = 1;
        if (!ckpt__parse_name(de->d_name, &seq))
            continue;
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            uint64_t *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rc = pl_err_os(eb, ENOMEM, "listing checkpoints in %s", dir);
                goto fail;
            }
            v = nv;
            cap = ncap;
        }
        v[cnt++] = seq;
    }
    if (cnt > 1)
        qsort(v, cnt, sizeof *v, ckpt__cmp_u64);
    closedir(d);
    *seqs = v;
    *n = cnt;
    return 0;

fail:
    if (d)
        closedir(d);
    free(v);
    return rc;
}

static int ckpt__read_one(const char *dir, uint64_t seq, uint8_t **buf, pl_ckpt_meta *m,
                          uint64_t *body_len, char *why, size_t whylen, pl_errbuf *eb);

/* ---- write -------------------------------------------------------------- */

int pl_ckpt_write(const char *statedir, const pl_ckpt_meta *m, const void *body, size_t len,
                  pl_errbuf *eb)
{
    return pl_ckpt_write2(statedir, m, body, len, NULL, 0, eb);
}

int pl_ckpt_write2(const char *statedir, const pl_ckpt_meta *m, const void *body, size_t blen,
                   const void *tail, size_t tlen, pl_errbuf *eb)
{
    size_t len = blen + tlen;
    char tmp[PATH_MAX], fin[PATH_MAX], name[CKPT_NAME_LEN + 1];
    uint8_t hdr[CKPT_HDR];
    XXH128_canonical_t sum;
    XXH3_state_t *xs = NULL;
    uint64_t *old = NULL;
    size_t nold = 0;
    int fd = -1, rc, tmp_made = 0;

    if (!statedir || !m || (blen > 0 && !body) || (tlen > 0 && !tail))
        return pl_err(eb, PL_EUSAGE, "pl_ckpt_write: missing argument");
    if (len < blen || (uint64_t)len > PL_CKPT_MAX_FILE - CKPT_MIN)
        return pl_err(eb, PL_ELIMIT, "checkpoint body of %zu bytes exceeds the %" PRIu64
                      "-byte limit", len, PL_CKPT_MAX_FILE - CKPT_MIN);
    ckpt__name(name, sizeof name, m->seqno);
    if ((rc = ckpt__path(tmp, sizeof tmp, statedir, CKPT_TMP, eb)) < 0 ||
        (rc = ckpt__path(fin, sizeof fin, statedir, name, eb)) < 0)
        return rc;

    rc = ckpt__list(statedir, &old, &nold, NULL, eb);
    if (rc < 0)
        goto fail;
    /* keeps (5): an older seqno would sort below the state it replaces and be pruned */
    if (nold > 0 && old[nold - 1] >= m->seqno) {
        rc = pl_err(eb, PL_EUSAGE, "checkpoint seqno %" PRIu64 " is not newer than the existing "
                    CKPT_PREFIX "%016" PRIx64 " in %s", m->seqno, old[nold - 1], statedir);
        goto fail;
    }

    ckpt__encode(hdr, m, len);
    {
        pl_ckpt_meta chk;
        uint64_t chk_len;
        char why[160];
        (void)chk;
        (void)chk_len;
        (void)why;
        assert(ckpt__header_ok(hdr, (uint64_t)len + CKPT_MIN, &chk, &chk_len, why, sizeof why) &&
               memcmp(&chk, m, sizeof chk) == 0 && chk_len == len);
    }
    xs = XXH3_createState();
    if (!xs || XXH3_128bits_reset(xs) != XXH_OK || XXH3_128bits_update(xs, hdr, sizeof hdr) != XXH_OK ||
        (blen > 0 && XXH3_128bits_update(xs, body, blen) != XXH_OK) ||
        (tlen > 0 && XXH3_128bits_update(xs, tail, tlen) != XXH_OK)) {
        rc = pl_err_os(eb, ENOMEM, "checksumming checkpoint %s", fin);
        goto fail;
    }
    XXH128_canonicalFromHash(&sum, XXH3_128bits_digest(xs));

    if (pl_unsafe(PL_UNSAFE_IN_PLACE_CHECKPOINT) && nold > 0) {
        /* deliberately wrong: the newest checkpoint itself is rewritten, then
         * renamed; until the write is complete no good checkpoint is left */
        char oname[CKPT_NAME_LEN + 1];
        ckpt__name(oname, sizeof oname, old[nold - 1]);
        if ((rc = ckpt__path(tmp, sizeof tmp, statedir, oname, eb)) < 0)
            goto fail;
    }
    /* O_TRUNC: a ckpt.tmp left by a crash must not contribute stale bytes past our end */
    fd = open(tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = ckpt__os(eb, errno, "open", tmp);
        goto fail;
    }
    tmp_made = !pl_unsafe(PL_UNSAFE_IN_PLACE_CHECKPOINT);
    /* one full pass, short writes resumed: a partial body would fail (3) at load, wasting the cycle */
    if ((rc = pl_fs_write_all(fd, hdr, sizeof hdr, tmp, eb)) < 0 ||
        (rc = pl_fs_write_all(fd, body, blen, tmp, eb)) < 0 ||
        (rc = pl_fs_write_all(fd, tail, tlen, tmp, eb)) < 0 ||
        (rc = pl_fs_write_all(fd, sum.digest, sizeof sum.digest, tmp, eb)) < 0)
        goto fail;
    if (fiu_fail("ckpt/write/after")) {
        rc = pl_err(eb, -EIO, "write(%s): Input/output error (fail point ckpt/write/after)", tmp);
        goto fail;
    }
    /* without this fsync a power cut after the rename can leave ckpt-N empty or torn: keeps (1) */
    if (pl_fs_fsync(fd) != 0) {
        /* keeps (6): the fd is abandoned, never fsync'd again */
        rc = ckpt__os(eb, errno, "fsync", tmp);
        goto fail;
    }
    if (fiu_fail("ckpt/fsync/after")) {
        rc = pl_err(eb, -EIO, "fsync(%s): Input/output error (fail point ckpt/fsync/after)", tmp);
        goto fail;
    }
    /* close can report a deferred write error (NFS, quota) that fsync did not: keeps (1) */
    rc = close(fd);
    fd = -1;
    if (rc != 0) {
        rc = ckpt__os(eb, errno, "close", tmp);
        goto fail;
    }
    /* rename is the atomic switch: readers see no file or a complete one, never a torn one (1) */
    if (rename(tmp, fin) != 0) {
        rc = ckpt__os2(eb, errno, "rename", tmp, fin);
        goto fail;
    }
    tmp_made = 0;
    if (fiu_fail("ckpt/rename/after")) {
        /* ckpt-N is complete (1) and nothing was pruned (2): leaving it is safe */
        rc = pl_err(eb, -EIO, "rename(%s): Input/output error (fail point ckpt/rename/after)", fin);
        goto fail;
    }
    /* without this fsync a power cut can forget the rename; pruning must wait for it (2) */
    if ((rc = pl_fs_sync_dir(statedir, eb)) < 0)
        goto fail;

    /* keeps (2): ckpt-N is durable; of the older ones only the newest sound
     * one stays.  Verified newest first, so usually one read. */
    if (nold > 0) {
        size_t keep = nold; /* none */
        int removed = 0;
        for (size_t i = nold; i-- > 0 && keep == nold;) {
            uint8_t *buf = NULL;
            pl_ckpt_meta om;
            uint64_t olen;
            char why[200];
            rc = ckpt__read_one(statedir, old[i], &buf, &om, &olen, why, sizeof why, eb);
            free(buf);
            if (rc < 0)
                goto fail;
            if (rc == 1 && om.config_fp == m->config_fp && om.log_id == m->log_id &&
                om.position <= m->position)
                keep = i;
        }
        for (size_t i = 0; i < nold; i++) {
            char oname[CKPT_NAME_LEN + 1], opath[PATH_MAX];
            if (i == keep)
                continue;
            ckpt__name(oname, sizeof oname, old[i]);
            if ((rc = ckpt__path(opath, sizeof opath, statedir, oname, eb)) < 0)
                goto fail;
            if (unlink(opath) != 0 && errno != ENOENT) {
                rc = pl_err_os(eb, errno, "unlink(%s) (checkpoint %s is durable)", opath, name);
                goto fail;
            }
            removed = 1;
        }
        /* without this fsync removed checkpoints may reappear after a power cut; harmless
         * for correctness (load verifies and the newer one wins), but the directory grows */
        if (removed && (rc = pl_fs_sync_dir(statedir, eb)) < 0)
            goto fail;
    }
    if (fiu_fail("ckpt/done/after")) {
        rc = pl_err(eb, -EIO, "checkpoint %s: Input/output error (fail point ckpt/done/after)", fin);
        goto fail;
    }
    rc = 0;

fail:
    if (fd >= 0)
        close(fd); /* already failing: a second error would say nothing new */
    if (tmp_made)
        unlink(tmp); /* tidiness only: load ignores ckpt.tmp (1) */
    XXH3_freeState(xs);
    free(old);
    return rc;
}

/* ---- load --------------------------------------------------------------- */

/* Append one line to out->report; on overflow end it with "..." and drop the rest. */
static void ckpt__note(pl_ckpt_loaded *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void ckpt__note(pl_ckpt_loaded *out, const char *fmt, ...)
{
    size_t cap = sizeof out->report, n = strlen(out->report);
    va_list ap;
    int k;
    if (n + 1 >= cap)
        return; /* already full and marked */
    if (n > 0)
        out->report[n++] = '\n';
    va_start(ap, fmt);
    k = vsnprintf(out->report + n, cap - n, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= cap - n)
        memcpy(out->report + cap - 4, "...", 4);
}

/* read() failures that describe the file's content rather than our environment */
static int ckpt__media_err(int err)
{
    return err == EIO || err == EUCLEAN || err == EBADMSG;
}

/*
 * Read and verify one checkpoint.  Returns 1 with *buf (malloc'd, the whole
 * file), *m and *body_len set when it verifies; 0 with `why` set when it
 * must be skipped; <0 on an error that is not the file's fault.
 */
static int ckpt__read_one(const char *dir, uint64_t seq, uint8_t **buf, pl_ckpt_meta *m,
                          uint64_t *body_len, char *why, size_t whylen, pl_errbuf *eb)
{
    char name[CKPT_NAME_LEN + 1], path[PATH_MAX];
    struct stat st;
    uint8_t *b = NULL;
    uint64_t fsize, got = 0;
    XXH128_canonical_t sum;
    int fd = -1, rc;

    *buf = NULL;
    ckpt__name(name, sizeof name, seq);
    if ((rc = ckpt__path(path, sizeof path, dir, name, eb)) < 0)
        return rc;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || ckpt__media_err(errno)) {
            snprintf(why, whylen, "cannot open: %s", strerror(errno));
            rc = 0;
        } else {
            rc = pl_err_os(eb, errno, "open(%s)", path);
        }
        goto fail;
    }
    if (fstat(fd, &st) != 0) {
        rc = pl_err_os(eb, errno, "fstat(%s)", path);
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "not a regular file");
        rc = 0;
        goto fail;
    }
    fsize = (uint64_t)st.st_size;
    if (fsize == 0) {
        snprintf(why, whylen, "empty file");
        rc = 0;
        goto fail;
    }
    if (fsize < CKPT_MIN) {
        snprintf(why, whylen, "too short (%" PRIu64 " bytes, at least %u needed)", fsize, CKPT_MIN);
        rc = 0;
        goto fail;
    }
    /* keeps (8): the allocation is sized by a bounded real file size, never by the header */
    if (fsize > PL_CKPT_MAX_FILE || fsize > SIZE_MAX - 1) {
        snprintf(why, whylen, "implausible size (%" PRIu64 " bytes)", fsize);
        rc = 0;
        goto fail;
    }
    b = malloc((size_t)fsize + 1);
    if (!b) {
        rc = pl_err_os(eb, ENOMEM, "reading %s (%" PRIu64 " bytes)", path, fsize);
        goto fail;
    }
    /* one byte more than fstat said, so a file that changed under us is noticed */
    while (got < fsize + 1) {
        ssize_t r = read(fd, b + got, (size_t)(fsize + 1 - got));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (ckpt__media_err(errno)) {
                snprintf(why, whylen, "read error: %s", strerror(errno));
                rc = 0;
            } else {
                rc = pl_err_os(eb, errno, "read(%s)", path);
            }
            goto fail;
        }
        if (r == 0)
            break;
        got += (uint64_t)r;
    }
    if (got != fsize) {
        snprintf(why, whylen, "size changed while reading (%" PRIu64 " bytes, then %" PRIu64 ")",
                 fsize, got);
        rc = 0;
        goto fail;
    }
    /* keeps (3): every check passes before anything from the file is trusted */
    if (!ckpt__header_ok(b, fsize, m, body_len, why, whylen)) {
        rc = 0;
        goto fail;
    }
    XXH128_canonicalFromHash(&sum, XXH3_128bits(b, (size_t)(fsize - CKPT_SUM)));
    /* no-checksum: deliberately trusts the content (breaks (3)) */
    if (!pl_unsafe(PL_UNSAFE_NO_CHECKSUM) &&
        memcmp(sum.digest, b + fsize - CKPT_SUM, CKPT_SUM) != 0) {
        snprintf(why, whylen, "checksum mismatch");
        rc = 0;
        goto fail;
    }
    /* a checkpoint copied or renamed by hand would otherwise be taken out of order (5) */
    if (m->seqno != seq) {
        snprintf(why, whylen, "header seqno %" PRIu64 " does not match its name", m->seqno);
        rc = 0;
        goto fail;
    }
    close(fd); /* read-only descriptor: close cannot lose data */
    *buf = b;
    return 1;

fail:
    if (fd >= 0)
        close(fd);
    free(b);
    return rc;
}

int pl_ckpt_load(const char *statedir, uint64_t config_fp, uint64_t log_id,
                 pl_ckpt_loaded *out, pl_errbuf *eb)
{
    return pl_ckpt_load_upto(statedir, config_fp, log_id, UINT64_MAX, out, eb);
}

int pl_ckpt_load_upto(const char *statedir, uint64_t config_fp, uint64_t log_id,
                      uint64_t max_position, pl_ckpt_loaded *out, pl_errbuf *eb)
{
    uint64_t *seqs = NULL;
    size_t n = 0;
    int has_tmp = 0, rc;

    if (!out)
        return pl_err(eb, PL_EUSAGE, "pl_ckpt_load: missing argument");
    memset(out, 0, sizeof *out);
    out->next_seqno = 1;
    if (!statedir)
        return pl_err(eb, PL_EUSAGE, "pl_ckpt_load: missing argument");

    rc = ckpt__list(statedir, &seqs, &n, &has_tmp, eb);
    if (rc == -ENOENT) {
        ckpt__note(out, "no checkpoint: %s does not exist; replaying from the start", statedir);
        rc = 0;
        goto done;
    }
    if (rc < 0)
        goto done;
    if (n > 0)
        out->next_seqno = seqs[n - 1] == UINT64_MAX ? UINT64_MAX : seqs[n - 1] + 1;
    if (has_tmp)
        ckpt__note(out, "ignored " CKPT_TMP " (an interrupted checkpoint write)");

    /* newest first, by number (7) */
    for (size_t i = n; i-- > 0;) {
        char name[CKPT_NAME_LEN + 1], why[200];
        uint8_t *buf = NULL;
        pl_ckpt_meta m;
        uint64_t blen = 0;

        ckpt__name(name, sizeof name, seqs[i]);
        rc = ckpt__read_one(statedir, seqs[i], &buf, &m, &blen, why, sizeof why, eb);
        if (rc < 0)
            goto done;
        if (rc == 0) {
            ckpt__note(out, "skipped %s: %s", name, why);
            continue;
        }
        /* keeps (4): state from another configuration or log would yield other results */
        if (m.config_fp != config_fp) {
            free(buf);
            ckpt__note(out, "refused %s: written under another configuration", name);
            rc = pl_err(eb, PL_ECONFIG,
                        "checkpoint %s was written under another configuration or state "
                        "format (fingerprint %016" PRIx64 ", this run %016" PRIx64 "); rerun "
                        "with the same options or pass --discard-state", name, m.config_fp,
                        config_fp);
            goto done;
        }
        if (m.log_id != log_id) {
            free(buf);
            ckpt__note(out, "refused %s: written for another log", name);
            rc = pl_err(eb, PL_ECONFIG,
                        "checkpoint %s was written for another log (log id %016" PRIx64
                        ", this log %016" PRIx64 "); rerun with the same log or pass "
                        "--discard-state", name, m.log_id, log_id);
            goto done;
        }
        /* a checkpoint ahead of what the caller's output holds would skip rows
         * that never became durable there: an older one is used instead */
        if (m.position > max_position) {
            free(buf);
            ckpt__note(out, "skipped %s: position %" PRIu64 " is ahead of the sink's %" PRIu64,
                       name, m.position, max_position);
            continue;
        }
        /* the body moves to the front so that out->body is the allocation to free */
        memmove(buf, buf + CKPT_HDR, (size_t)blen);
        out->meta = m;
        out->body = buf;
        out->len = (size_t)blen;
        ckpt__note(out, "using %s (position %" PRIu64 ")", name, m.position);
        rc = 1;
        goto done;
    }
    if (n == 0)
        ckpt__note(out, "no checkpoint in %s; replaying from the start", statedir);
    else
        ckpt__note(out, "no valid checkpoint in %s; replaying from the start", statedir);
    rc = 0;

done:
    free(seqs);
    return rc;
}

void pl_ckpt_loaded_free(pl_ckpt_loaded *l)
{
    if (!l)
        return;
    free(l->body);
    l->body = NULL;
    l->len = 0;
}

/* ---- discard ------------------------------------------------------------ */

int pl_ckpt_discard(const char *statedir, pl_errbuf *eb)
{
    char name[CKPT_NAME_LEN + 1], path[PATH_MAX];
    uint64_t *seqs = NULL;
    size_t n = 0;
    int has_tmp = 0, rc;

    if (!statedir)
        return pl_err(eb, PL_EUSAGE, "pl_ckpt_discard: missing argument");
    rc = ckpt__list(statedir, &seqs, &n, &has_tmp, eb);
    if (rc == -ENOENT) {
        rc = 0;
        goto fail;
    }
    if (rc < 0)
        goto fail;
    if (has_tmp) {
        if ((rc = ckpt__path(path, sizeof path, statedir, CKPT_TMP, eb)) < 0)
            goto fail;
        if (unlink(path) != 0 && errno != ENOENT) {
            rc = pl_err_os(eb, errno, "unlink(%s)", path);
            goto fail;
        }
    }
    /* any subset left by a crash here is still a set of consistent checkpoints */
    for (size_t i = 0; i < n; i++) {
        ckpt__name(name, sizeof name, seqs[i]);
        if ((rc = ckpt__path(path, sizeof path, statedir, name, eb)) < 0)
            goto fail;
        if (unlink(path) != 0 && errno != ENOENT) {
            rc = pl_err_os(eb, errno, "unlink(%s)", path);
            goto fail;
        }
    }
    /* without this fsync the removed checkpoints can reappear after a power cut
     * and be resumed against a sink the caller removes next */
    rc = (n > 0 || has_tmp) ? pl_fs_sync_dir(statedir, eb) : 0;

fail:
    free(seqs);
    return rc;
}
