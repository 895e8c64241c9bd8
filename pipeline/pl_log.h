/*
 * pl_log.h - the on-disk partitioned log.
 *
 * LOGDIR holds one file per partition, made of checksummed blocks, plus a
 * small manifest written last (so a directory without one is not a log).
 * Format: docs/log-format.md.  Readers mmap the partition files and walk
 * records through a cursor whose fast path is inline: no call and no syscall
 * per record; each block's XXH3 checksum is verified when a cursor first
 * enters it, and a mismatch or a torn block is reported with partition and
 * record offset.
 */
#ifndef PL_LOG_H
#define PL_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pl_err.h"

#define PL_MAX_PARTITIONS 4096
/* Largest payload import accepts (bytes); a longer one is PL_EFORMAT. */
#define PL_LOG_MAX_PAYLOAD (1u << 20)

typedef struct pl_log pl_log;

/* Flags of pl_log_import. */
#define PL_IMPORT_KEEP_CR 1u     /* accept a first line ending in CR LF (CRs stay in payloads) */
#define PL_IMPORT_ALLOW_EMPTY 2u /* a 0-byte file is an empty log rather than an error */

/*
 * Import interchange CSV csv_path into a new log at logdir.  partitions < 0
 * means "largest partition seen + 1".  logdir must not exist (or be an empty
 * directory).  flags: PL_IMPORT_*.  Envelope errors (PL_EFORMAT) name the
 * 1-based line number (and, for a byte-order mark, a CR LF first line, an
 * oversized payload or an empty file, the byte offset);
 * on any error nothing is left at logdir (the log is built in a temporary
 * sibling directory and renamed into place only when complete and synced).
 * *nrecords_out (may be NULL) receives the number of records imported.
 */
int pl_log_import(const char *csv_path, const char *logdir, int partitions, unsigned flags,
                  uint64_t *nrecords_out, pl_errbuf *eb);

/* Open a log read-only (mmap).  Errors name the path (PL_ENOTFOUND, PL_ECORRUPT, -errno). */
int pl_log_open(const char *logdir, pl_log **out, pl_errbuf *eb);
void pl_log_close(pl_log *log);

uint32_t pl_log_partitions(const pl_log *log);
uint64_t pl_log_records(const pl_log *log, uint32_t part); /* records in partition */
uint64_t pl_log_total(const pl_log *log);                  /* records in all partitions */
/* A 64-bit identity of the log's content (from the manifest: counts and block checksums). */
uint64_t pl_log_identity(const pl_log *log);
/* Sum of partition file sizes in bytes (for benchmarks). */
uint64_t pl_log_bytes(const pl_log *log);
/* Path of partition file `part` (for benchmarks and tests). */
const char *pl_log_part_path(const pl_log *log, uint32_t part);

/*
 * A cursor over one partition.  Public fields after a successful
 * pl_cur_next() returning 1: the record's offset, ingest_ns and payload.
 * The payload points into the mapping and stays valid until pl_log_close.
 * Callers must not touch the fields marked private.
 */
typedef struct pl_cursor {
    /* current record (read-only for callers) */
    uint64_t offset;        /* offset of the current record */
    int64_t ingest_ns;
    const uint8_t *payload;
    uint32_t len;
    /* private */
    pl_log *log;
    uint32_t part;
    const uint8_t *p;       /* next record in the current block */
    const uint8_t *end;     /* end of the current block's records */
    uint64_t next_offset;   /* offset the next pl_cur_next() returns */
    uint64_t block;         /* index of the block after the current one */
} pl_cursor;

/*
 * Position a cursor at record `offset` of partition `part` (offset may equal
 * the partition's record count: the cursor is then at the end).  Seeking is
 * O(log blocks) or better, never a scan of the partition.  The block holding
 * `offset` is verified here, so a damaged block can fail the init itself
 * (PL_ECORRUPT).  part >= partitions or offset > records: PL_EUSAGE.
 * A cursor needs no cleanup; it is valid until pl_log_close.
 */
int pl_cur_init(pl_log *log, uint32_t part, uint64_t offset, pl_cursor *c, pl_errbuf *eb);

/* Slow path: enter the next block (verifies its checksum).  Internal. */
int pl_cur__next_block(pl_cursor *c, pl_errbuf *eb);

/*
 * Advance: returns 1 with the public fields set to the next record, 0 at the
 * end of the partition, or a negative code (PL_ECORRUPT naming partition and
 * offset) when the log is damaged.
 *
 * Record layout inside a block: u64 ingest_ns (LE), u32 payload length (LE),
 * payload bytes.
 */
static inline int pl_cur_next(pl_cursor *c, pl_errbuf *eb)
{
    if (c->p == c->end) {
        int rc = pl_cur__next_block(c, eb);
        if (rc <= 0)
            return rc;
    }
    {
        uint64_t ts;
        uint32_t len;
        __builtin_memcpy(&ts, c->p, 8);
        __builtin_memcpy(&len, c->p + 8, 4);
        c->ingest_ns = (int64_t)ts;
        c->len = len;
        c->payload = c->p + 12;
        c->p += 12 + (size_t)len;
        c->offset = c->next_offset++;
    }
    return 1;
}

/*
 * Peek the ingest_ns of the next record without advancing; 0 at end, 1 ok,
 * <0 error.  Inline for the same reason as pl_cur_next: the merge of
 * partitions peeks once per record.
 */
static inline int pl_cur_peek(pl_cursor *c, int64_t *ingest_ns, pl_errbuf *eb)
{
    uint64_t ts;
    if (c->p == c->end) {
        int rc = pl_cur__next_block(c, eb);
        if (rc <= 0)
            return rc;
    }
    __builtin_memcpy(&ts, c->p, 8);
    *ingest_ns = (int64_t)ts;
    return 1;
}

/*
 * Write the log as interchange CSV to out: the header line, then every record
 * in canonical order (ingest_ns, partition, offset), each line LF-terminated.
 * For a CSV written this way, import followed by cat is byte-identical.
 */
int pl_log_cat(pl_log *log, FILE *out, pl_errbuf *eb);

/*
 * Read every record of every partition through cursors, partition after
 * partition (the bound a pipeline is measured against).  *nrecords_out and
 * *sum_out (either may be NULL) receive the record count and a sum over
 * ingest_ns and payload lengths, so that the work cannot be optimised away.
 */
int pl_log_scan(pl_log *log, uint64_t *nrecords_out, uint64_t *sum_out, pl_errbuf *eb);

#endif
