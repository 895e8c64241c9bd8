/*
 * digest.c - the canonical table writer (pl_digest.h): a buffered file
 * writer that hashes every byte it writes with the XXH3-128 streaming state,
 * and replaces its target atomically on close.
 *
 * Invariants:
 *  (1) The digest covers exactly the bytes handed to the kernel, in order:
 *      the buffer is hashed when, and only when, it is written out, so an
 *      export and its digest cannot disagree.
 *  (2) The final name only ever holds a complete table: bytes go to
 *      path.tmp, which is renamed over path after it was written, fsync'd and
 *      closed without error.
 *  (3) A failed write, fsync or close latches the writer (f->err) and is
 *      never retried on the same descriptor: after a failed fsync the kernel
 *      may have dropped the dirty pages and a second fsync would report
 *      success for data that is gone.
 *
 * Life of one export (function behind each transition):
 *
 *   (absent) --pl_dfile_open--> path.tmp open --pl_dfile_write*--> dirty
 *   dirty --pl_dfile_close: flush, fsync, close--> path.tmp durable
 *   path.tmp durable --pl_dfile_close: rename, fsync(dir)--> path durable
 *   open/dirty --pl_dfile_abort, or any failure in close--> path.tmp removed
 *
 * Layout: helpers (full write, directory fsync), then open / write / flush /
 * close / abort, then the one-shot digest.
 */
#include "pl_digest.h"
#include "pl_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fiu-local.h>
#include <xxhash.h>

#define DFILE_BUF (1u << 20)

struct pl_dfile {
    int fd;
    int err;           /* latched negative code; 0 while healthy (3) */
    char *path;        /* final name */
    char *tmp;         /* path + ".tmp" */
    unsigned char *buf;
    size_t len;        /* bytes buffered, not yet written or hashed */
    XXH3_state_t *xs;
    pl_errbuf eb;      /* message for a failure inside pl_dfile_write */
};

/* ---- helpers ---- */

static void fmt_digest(char hex_out[33], const unsigned char digest[16]);

static void dfile_free(pl_dfile *f)
{
    free(f->path);
    free(f->tmp);
    free(f->buf);
    XXH3_freeState(f->xs);
    free(f);
}

/* ---- the writer ---- */

int pl_dfile_open(const char *path, pl_dfile **out, pl_errbuf *eb)
{
    pl_dfile *f = calloc(1, sizeof *f);
    size_t n = strlen(path);
    int rc;

    *out = NULL;
    if (!f)
        return pl_err_os(eb, ENOMEM, "export %s", path);
    f->fd = -1;
    f->path = strdup(path);
    f->tmp = malloc(n + 5);
    f->buf = malloc(DFILE_BUF);
    f->xs = XXH3_createState();
    if (!f->path || !f->tmp || !f->buf || !f->xs) {
        rc = pl_err_os(eb, ENOMEM, "export %s", path);
        goto fail;
    }
    memcpy(f->tmp, path, n);
    memcpy(f->tmp + n, ".tmp", 5);
    if (XXH3_128bits_reset(f->xs) != XXH_OK) {
        rc = pl_err(eb, PL_EIO, "export %s: XXH3 state reset failed", path);
        goto fail;
    }
    /* O_TRUNC: a path.tmp left by a crash must not contribute stale bytes past our end */
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        rc = pl_err_os(eb, errno, "open(%s)", f->tmp);
        goto fail;
    }
    *out = f;
    return 0;
fail:
    dfile_free(f);
    return rc;
}

/* Write out and hash the buffer; latches on failure (3). */
static int dfile_flush(pl_dfile *f)
{
    int rc;
    if (f->err)
        return f->err;
    if (f->len == 0)
        return 0;
    rc = pl_fs_write_all(f->fd, f->buf, f->len, f->tmp, &f->eb);
    if (rc == 0 && fiu_fail("digest/write/after"))
        rc = pl_err_os(&f->eb, EIO, "write(%s)", f->tmp);
    if (rc < 0) {
        f->err = rc;
        return f->err;
    }
    /* hashed only once written: keeps (1) */
    XXH3_128bits_update(f->xs, f->buf, f->len);
    f->len = 0;
    return 0;
}

int pl_dfile_write(pl_dfile *f, const void *p, size_t n)
{
    const unsigned char *s = p;
    if (f->err)
        return f->err;
    while (n > 0) {
        size_t k = DFILE_BUF - f->len;
        int rc;
        if (k > n)
            k = n;
        memcpy(f->buf + f->len, s, k);
        f->len += k;
        s += k;
        n -= k;
        if (f->len == DFILE_BUF && (rc = dfile_flush(f)) < 0)
            return rc;
    }
    return 0;
}

int pl_dfile_close(pl_dfile *f, char hex_out[33], pl_errbuf *eb)
{
    XXH128_canonical_t c;
    int rc, fd;

    hex_out[0] = 0;
    if ((rc = dfile_flush(f)) < 0) {
        pl_err(eb, rc, "%s", f->eb.msg);
        goto fail;
    }
    /* without this fsync a power cut after the rename can leave path empty or torn: keeps (2) */
    if (pl_fs_fsync(f->fd) != 0) {
        /* keeps (3): the descriptor is abandoned, never fsync'd again */
        rc = pl_err_os(eb, errno, "fsync(%s)", f->tmp);
        goto fail;
    }
    if (fiu_fail("digest/fsync/after")) {
        rc = pl_err(eb, -EIO, "fsync(%s): Input/output error (fail point digest/fsync/after)",
                    f->tmp);
        goto fail;
    }
    /* close can report a deferred write error (NFS, quota) that fsync did not: keeps (2) */
    fd = f->fd;
    f->fd = -1;
    if (close(fd) != 0) {
        rc = pl_err_os(eb, errno, "close(%s)", f->tmp);
        goto fail;
    }
    /* rename is the atomic switch: readers see the old table or the new one, never a torn one (2) */
    if (rename(f->tmp, f->path) != 0) {
        rc = pl_err_os(eb, errno, "rename(%s, %s)", f->tmp, f->path);
        goto fail;
    }
    if (fiu_fail("digest/rename/after")) {
        /* path is complete (2): leaving it is safe, the caller only learns of a failure */
        rc = pl_err(eb, -EIO, "rename(%s): Input/output error (fail point digest/rename/after)",
                    f->path);
        dfile_free(f);
        return rc;
    }
    /* without this fsync a power cut can forget the rename and bring back the old table */
    if ((rc = pl_fs_sync_parent(f->path, eb)) < 0) {
        /* path is complete (2); only its durability is unknown, so it stays */
        dfile_free(f);
        return rc;
    }
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(f->xs));
    fmt_digest(hex_out, c.digest);
    dfile_free(f);
    return 0;
fail:
    if (f->fd >= 0)
        close(f->fd); /* already failing: a second error would say nothing new */
    unlink(f->tmp); /* a failed export leaves nothing behind; the final name is untouched */
    dfile_free(f);
    return rc;
}

void pl_dfile_abort(pl_dfile *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    unlink(f->tmp);
    dfile_free(f);
}

/* ---- one-shot digest ---- */

/* Canonical XXH128 bytes are big-endian, so plain hex of them is what xxhsum -H2 prints. */
static void fmt_digest(char hex_out[33], const unsigned char digest[16])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        hex_out[2 * i] = hx[digest[i] >> 4];
        hex_out[2 * i + 1] = hx[digest[i] & 15];
    }
    hex_out[32] = 0;
}

void pl_digest_hex(const void *p, size_t n, char hex_out[33])
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(p, n));
    fmt_digest(hex_out, c.digest);
}
