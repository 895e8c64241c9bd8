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
 * fsync the directory `dir`, so that names created, renamed or removed in it
 * survive a power cut.  Returns 0 or -errno (eb names the step and the
 * directory).  A failed fsync is returned, never retried.
 */
int pl_fs_sync_dir(const char *dir, pl_errbuf *eb);

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

/* mkdir -p: create dir and any missing parents; an existing directory is
 * fine, an existing non-directory is -ENOTDIR. */
int pl_fs_mkdir_p(const char *dir, pl_errbuf *eb);

#endif
