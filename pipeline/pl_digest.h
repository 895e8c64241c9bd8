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
int pl_dfile_write(pl_dfile *f, const void *p, size_t n);
/* Flush, fsync, close, rename; writes 33 bytes "<32 hex>\0" to hex_out. */
int pl_dfile_close(pl_dfile *f, char hex_out[33], pl_errbuf *eb);
/* Discard: close and unlink the temp file. */
void pl_dfile_abort(pl_dfile *f);

/* XXH3-128 of a buffer in canonical big-endian hex (as `xxhsum -H2`). */
void pl_digest_hex(const void *p, size_t n, char hex_out[33]);

#endif
