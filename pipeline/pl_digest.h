/*
 * pl_digest.h - canonical table writers: a buffered file writer that also
 * computes the XXH3-128 digest of every byte written, so that an export and
 * its digest can never disagree.
 */
#ifndef PL_DIGEST_H
#define PL_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "pl_err.h"

typedef struct pl_dfile pl_dfile;

/*
 * Create (truncate) path for writing.  The file is written as path.tmp and
 * renamed into place by pl_dfile_close, so a failed export never leaves a
 * half-written table under the final name.
 */
int pl_dfile_open(const char *path, pl_dfile **out, pl_errbuf *eb);
/*
 * Buffer n bytes (1 MiB buffer; written out and hashed when full).  Returns 0
 * or -errno.  A failed write latches the writer: every later write and the
 * close return the same code, nothing is retried.  The caller then calls
 * pl_dfile_abort (or pl_dfile_close, which reports the failure).
 */
int pl_dfile_write(pl_dfile *f, const void *p, size_t n);
/*
 * Flush, fsync, close, rename path.tmp -> path, fsync the directory; on
 * success writes 33 bytes "<32 hex>\0" (the XXH3-128 digest of every byte
 * written, as pl_digest_hex) to hex_out.  Always frees f.  On failure
 * hex_out is "" and, when the failure came before the rename, path.tmp is
 * removed and path is untouched; when only the directory fsync failed, path
 * is complete but its durability unknown.
 */
int pl_dfile_close(pl_dfile *f, char hex_out[33], pl_errbuf *eb);
/* Discard: close and unlink the temp file; path is untouched.  f may be NULL. */
void pl_dfile_abort(pl_dfile *f);

/* XXH3-128 of a buffer in canonical big-endian hex (as `xxhsum -H2`). */
void pl_digest_hex(const void *p, size_t n, char hex_out[33]);

#endif
