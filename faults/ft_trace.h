/*
 * ft_trace.h - the file-system trace that rp-trace.so writes and the
 * harness's crash-state builder (harness/cutstate.c) reads.
 *
 * Two files: PATH holds the header and the records; PATH.data holds the
 * bytes of every write and of every file that existed at the start, which
 * records address by offset.  Both are appended to in order, so a trace cut
 * short (the traced process was killed) is still a valid prefix.
 *
 *   PATH:      "RPTRACE1" then records: ft_trec, path bytes, path2 bytes
 *   PATH.data: raw bytes
 *
 * Paths are relative to the traced directory ("" is the directory itself),
 * without a trailing NUL.  Objects (files and directories) are named by
 * their inode number; a record that creates one (FT_TF_CREATED opens,
 * mkdir, the start snapshot) starts a new object even when a file system
 * reuses the number of a deleted one.  Several processes may append to one
 * trace (a shell and the programs it runs): each record and its bytes are
 * appended under an flock of PATH.data.
 */
#ifndef FT_TRACE_H
#define FT_TRACE_H

#include <stdint.h>

#define FT_TRACE_MAGIC "RPTRACE1"

enum ft_op {
    FT_OP_INIT_DIR = 1, /* a directory that existed at the start: path, ino */
    FT_OP_INIT_FILE,    /* a file that existed at the start: path, ino, len, data */
    FT_OP_OPEN,         /* open that created or truncated: path, ino, flags */
    FT_OP_WRITE,        /* ino, off, len, data (write, pwrite, writev, pwritev) */
    FT_OP_TRUNC,        /* ino, off = new size (ftruncate, truncate, O_TRUNC on open) */
    FT_OP_FALLOC,       /* ino, off, len; err = fallocate mode */
    FT_OP_FSYNC,        /* ino; flags FT_TF_DATASYNC; err = errno when it failed */
    FT_OP_SFR,          /* sync_file_range: ino, off, len (no durability promise) */
    FT_OP_SYNC,         /* sync() or syncfs(): everything */
    FT_OP_RENAME,       /* path -> path2, ino = the renamed object */
    FT_OP_LINK,         /* path -> path2 (new name), ino */
    FT_OP_UNLINK,       /* path, ino */
    FT_OP_MKDIR,        /* path, ino */
    FT_OP_RMDIR,        /* path, ino */
    FT_OP_CLOSE,        /* ino (informational) */
    FT_OP_FIU,          /* libfiu point hit: path = point name, len = hit number */
    FT_OP__COUNT
};

enum {
    FT_TF_CREATED = 1,  /* FT_OP_OPEN: the file did not exist before */
    FT_TF_TRUNC = 2,    /* FT_OP_OPEN: O_TRUNC */
    FT_TF_DATASYNC = 4, /* FT_OP_FSYNC: fdatasync */
    FT_TF_SYNCIO = 8,   /* FT_OP_WRITE: fd opened O_SYNC or O_DSYNC */
    FT_TF_DIR = 16      /* the object is a directory */
};

typedef struct ft_trec {
    uint8_t op;         /* enum ft_op */
    uint8_t flags;      /* FT_TF_* */
    uint16_t plen;      /* bytes of path after the record */
    uint16_t p2len;     /* bytes of path2 after path */
    uint16_t pad;
    int32_t err;        /* 0, or the errno of a failed fsync; FALLOC: mode */
    uint32_t pad2;
    uint64_t ino;       /* the object's inode number, 0 when unknown */
    uint64_t off;
    uint64_t len;
    uint64_t data;      /* offset of the bytes in PATH.data */
} ft_trec;

#endif
