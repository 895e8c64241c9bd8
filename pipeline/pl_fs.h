/*
 * pl_fs.h - the few filesystem steps every durable writer needs, in one
 * place: making a directory entry durable, writing a whole buffer, replacing
 * a small file atomically, and mkdir -p.  Modules with their own protocol
 * (checkpoints, the table writer) use these steps; nobody re-implements them.
 */
#ifndef PL_FS_H
#define PL_FS_H

#include <stddef.h>

#include "pl_err.h"

/*
 * fsync(fd), the one call every durable writer here makes: 0, or -1 with
 * errno.  Never retried (the fault build's fsync-retry variant retries).
 */
int pl_fs_fsync(int fd);

/*
 * fsync the directory `dir`, so that names created, renamed or removed in it
 * survive a power cut.  Returns 0 or -errno (eb names the step and the
 * directory).  A failed fsync is returned, never retried.
 */
int pl_fs_sync_dir(const char *dir, pl_errbuf *eb);

/*
 * fsync the file at `path` (opened read-only for the purpose): makes data
 * written through another descriptor, or a truncation, durable.  With
 * missing_ok a missing file is 0.  Returns 0 or -errno; never retried.
 */
int pl_fs_sync_file(const char *path, int missing_ok, pl_errbuf *eb);

/* pl_fs_sync_dir on the directory that holds `path` ("." for a bare name). */
int pl_fs_sync_parent(const char *path, pl_errbuf *eb);

/* Write all of buf to fd across short writes and EINTR.  Returns 0 or
 * -errno (EIO for a write that makes no progress); `what` names the file. */
int pl_fs_write_all(int fd, const void *buf, size_t len, const char *what, pl_errbuf *eb);

/*
 * Atomically replace `path` with `len` bytes: write path.tmp, fsync, close,
 * rename over path, fsync the directory.  On failure path is untouched (the
 * old content, or nothing) and path.tmp is removed.
 */
int pl_fs_replace(const char *path, const void *buf, size_t len, pl_errbuf *eb);

/* mkdir -p: create dir and any missing parents, fsync'ing the parent of
 * each directory it creates (so that a power cut cannot take the new
 * directory, and what is later made durable inside it, away); an existing
 * directory is fine, an existing non-directory is -ENOTDIR. */
int pl_fs_mkdir_p(const char *dir, pl_errbuf *eb);

/* snprintf into a PATH_MAX buffer; a path that does not fit is an error
 * (-ENAMETOOLONG, message in eb), never a silently cut path. */
int pl_fs_pathf(char *out, pl_errbuf *eb, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* rm -rf PATH, best effort: for scratch trees whose leftovers only cost
 * space (never for state that matters: nothing here is durable).  NULL or
 * "" does nothing. */
void pl_fs_rm_rf(const char *path);

/*
 * Publish the complete directory `tmp` under the name `dst` (both in the
 * same parent directory), then fsync the parent.  When dst does not exist
 * this is one rename.  When it does (a directory), the two are exchanged
 * atomically (renameat2 RENAME_EXCHANGE), so that a reader of dst sees the
 * old set of files or the new one, never a mix; on a file system without
 * exchange, dst is first renamed to `tmp`.old (a crash in between leaves no
 * dst rather than a mix).  On success `old` (oldn bytes) names where the
 * previous dst now is, for the caller to remove, or is "" when there was
 * none.  An existing non-directory dst is -ENOTDIR.
 */
int pl_fs_publish_dir(const char *tmp, const char *dst, char *old, size_t oldn, pl_errbuf *eb);

#endif
