/*
 * pl_converge.h - convergence digests: what a run looked like at each of its
 * checkpoints, so that a later run of the same log and configuration can tell
 * that it has reached the very same state and stop (refpipe run
 * --record-digests FILE, --stop-when-converged FILE).
 *
 * A digest file has one line per checkpoint a run committed:
 *
 *     <position> <state: 16 hex> <sink: 32 hex> <sink rows>
 *
 * position is the checkpoint's position (records plus flush steps, as in the
 * checkpoint header), state the XXH3-64 of the checkpoint body (offsets,
 * stream state, finished flag), sink the order-independent digest of every
 * row in the sink as of that commit (pl_sink_digest: hi then lo half) and
 * sink rows their number.  Positions never decrease.  The format is in
 * docs/cli.md.
 */
#ifndef PL_CONVERGE_H
#define PL_CONVERGE_H

#include <stdint.h>
#include <stdio.h>

#include "pl_err.h"
#include "pl_sink.h"

/* One line of a digest file. */
typedef struct pl_conv_point {
    uint64_t position;
    uint64_t state;
    pl_sink_digest sink;
} pl_conv_point;

typedef struct pl_conv pl_conv;

/*
 * Read a digest file.  Returns 0 with *out (free with pl_conv_free), -errno
 * when it cannot be read, or PL_EFORMAT naming the file and line of the
 * first malformed line (a wrong field count, a bad number, a position below
 * the line before).  An empty file is valid and never matches.
 */
int pl_conv_load(const char *path, pl_conv **out, pl_errbuf *eb);
void pl_conv_free(pl_conv *c);

/* 1 when the file has a line equal to *p in every field, else 0. */
int pl_conv_match(const pl_conv *c, const pl_conv_point *p);

/* Write *p as one line of the format above.  Returns 0 or -errno. */
int pl_conv_write(FILE *f, const pl_conv_point *p);

#endif
