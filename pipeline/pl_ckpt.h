/*
 * pl_ckpt.h - atomic checkpoint files: write, verify, load with fallback.
 *
 * A checkpoint is one file STATEDIR/ckpt-<seqno as 16 lowercase hex digits>
 * holding a small header (what the checkpoint is: seqno, configuration and
 * log fingerprints, position), an opaque body built by the caller (stream
 * state, per-partition offsets, ...) and an XXH3-128 checksum over both.
 * This module owns the container and its durability; it never looks inside
 * the body.  The file format, the write protocol and its numbered
 * invariants are in ckpt.c and docs/commit-protocol.md.
 *
 * Usage: at start-up pl_ckpt_load() picks the newest checkpoint that
 * verifies (skipping torn or corrupt ones, refusing one written under
 * another configuration or for another log); after each sink commit
 * pl_ckpt_write() makes a new one durable and prunes all but it and the
 * newest sound one before it.
 */
#ifndef PL_CKPT_H
#define PL_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "pl_err.h"

/* Format version written by this build; load accepts only this version. */
#define PL_CKPT_VERSION 1u
/* Largest checkpoint file (header + body + checksum) written or read. */
#define PL_CKPT_MAX_FILE ((uint64_t)1 << 32)

/* What a checkpoint says about itself.  All fields are the caller's. */
typedef struct pl_ckpt_meta {
    uint64_t seqno;     /* names the file; must exceed every existing ckpt-* */
    uint64_t config_fp; /* pl_config_fingerprint() of the run */
    uint64_t log_id;    /* pl_log_identity() of the log */
    uint64_t position;  /* records consumed (canonical position to resume at) */
} pl_ckpt_meta;

/*
 * Write a checkpoint durably: STATEDIR/ckpt.tmp is written, fsync'd, closed,
 * renamed to STATEDIR/ckpt-<seqno> and the directory fsync'd; then every
 * older checkpoint is removed except the newest one that verifies, has the
 * same config_fp and log_id and a position not above m->position (corrupt
 * ones go, whatever their number), and the directory fsync'd again.  body may be NULL when len == 0.  statedir must exist.
 *
 * Returns 0 when the new checkpoint and the pruning are durable.  Errors:
 * PL_EUSAGE (bad arguments, or m->seqno not greater than an existing
 * checkpoint's), PL_ELIMIT (body too large), -errno for a failed system
 * call (-ENOSPC: "disk full"), -EIO from an armed fail point.  After a
 * failure before the rename the older checkpoints are untouched; after the
 * rename the new file is complete but may not survive a power cut; either
 * way the caller must not retry on the same state but restart and load.
 * errno is preserved.
 */
int pl_ckpt_write(const char *statedir, const pl_ckpt_meta *m, const void *body, size_t len,
                  pl_errbuf *eb);

/*
 * The same with the body given in two parts, stored back to back (a load
 * returns them as one body).  Saves the caller from copying a large state
 * behind a small header of its own.
 */
int pl_ckpt_write2(const char *statedir, const pl_ckpt_meta *m, const void *body, size_t blen,
                   const void *tail, size_t tlen, pl_errbuf *eb);

/*
 * The result of pl_ckpt_load.  The caller owns body (free it with
 * pl_ckpt_loaded_free) and may read every field.
 */
typedef struct pl_ckpt_loaded {
    pl_ckpt_meta meta;   /* of the checkpoint used (zero when none) */
    uint8_t *body;       /* malloc'd copy of the body; NULL when none */
    size_t len;          /* body length */
    uint64_t next_seqno; /* seqno for the next pl_ckpt_write: one more than the
                            highest ckpt-* name present, valid or not, so that a
                            new checkpoint never sorts below a skipped one */
    /* Human-readable lines separated by '\n' (no trailing newline), e.g.
     * "skipped ckpt-0000000000000007: checksum mismatch" then
     * "using ckpt-0000000000000006 (position 6000000)".  Truncated with
     * "..." if it would overflow. */
    char report[2048];
} pl_ckpt_loaded;

/*
 * Load the newest checkpoint in statedir that verifies (size, magic,
 * version, header length, body length against the file size, checksum, and
 * the seqno in the header against the name).  Checkpoints that fail are
 * skipped, each with a "skipped" line in out->report, and the next older one
 * is tried.  *out is always initialised first.
 *
 * Returns 1 with *out filled when a checkpoint was loaded; 0 when there is
 * no valid checkpoint (or no statedir): the caller replays from the start;
 * PL_ECONFIG when the newest valid checkpoint was written under another
 * configuration (config_fp) or for another log (log_id): never a fallback to
 * an older one; -errno when the directory or a file cannot be read for a
 * reason that is not the file's fault (EACCES, EMFILE, ENOMEM, ...).
 * Call pl_ckpt_loaded_free in every case.
 */
int pl_ckpt_load(const char *statedir, uint64_t config_fp, uint64_t log_id,
                 pl_ckpt_loaded *out, pl_errbuf *eb);

/*
 * pl_ckpt_load, but a checkpoint whose position is above max_position is
 * skipped (a "skipped ... ahead of the sink" line) and the next older one
 * tried: the caller's output (the sink) only holds rows up to max_position,
 * so resuming after it would lose the rows in between.
 */
int pl_ckpt_load_upto(const char *statedir, uint64_t config_fp, uint64_t log_id,
                      uint64_t max_position, pl_ckpt_loaded *out, pl_errbuf *eb);

/* Free out->body and reset it; safe on a zeroed or already freed struct. */
void pl_ckpt_loaded_free(pl_ckpt_loaded *l);

/*
 * Remove every checkpoint (ckpt-* and ckpt.tmp) from statedir and fsync the
 * directory, for --discard-state.  Returns 0 (also when statedir does not
 * exist) or -errno.  Remove checkpoints before the sink they refer to: a
 * crash in between then leaves a consistent pair.
 */
int pl_ckpt_discard(const char *statedir, pl_errbuf *eb);

#endif
