/*
 * pl_sink.h - the keyed, idempotent SQLite sink and the canonical export.
 *
 * Bars are keyed (agg, symbol, seq), late and dead-letter rows
 * (partition, offset).  Writing a row whose key exists is absorbed when the
 * stored row is identical and recorded in the `conflicts` table when it is
 * not; nothing is ever overwritten.  Rows are written inside a transaction
 * opened by pl_sink_begin and made durable by pl_sink_commit
 * (synchronous=FULL).  Schema: docs/results-schema.md (sink section).
 */
#ifndef PL_SINK_H
#define PL_SINK_H

#include <stdint.h>

#include "pl_config.h"
#include "pl_err.h"
#include "pl_stream.h"

typedef struct pl_sink pl_sink;

/* Open or create STATEDIR/sink.db.  cfg is used for aggregation names. */
int pl_sink_open(const char *statedir, const pl_config *cfg, pl_sink **out, pl_errbuf *eb);
/* Close; an open transaction is rolled back. */
void pl_sink_close(pl_sink *k);

int pl_sink_begin(pl_sink *k, pl_errbuf *eb);
int pl_sink_bar(pl_sink *k, const pl_bar *b);
int pl_sink_late(pl_sink *k, const pl_late *l);
int pl_sink_dlq(pl_sink *k, const pl_dlq *d);
/*
 * Commit the open transaction.  A failure latches the sink: every later call
 * returns PL_EIO/PL_EDB and the caller must restart from its last checkpoint.
 */
int pl_sink_commit(pl_sink *k, pl_errbuf *eb);
/* Message of the last failure of pl_sink_bar/late/dlq. */
const char *pl_sink_errmsg(const pl_sink *k);

/* Number of rows in the conflicts table, and rows written by this handle. */
int pl_sink_conflicts(pl_sink *k, int64_t *n, pl_errbuf *eb);

/*
 * What this handle did since pl_sink_open.  Row counters include rows of
 * transactions that were later rolled back; `conflicts` counts differing
 * replays seen (the table keeps one row per distinct (table, key, attempted)).
 */
typedef struct pl_sink_stats {
    int64_t inserted;  /* new keys written */
    int64_t absorbed;  /* replays identical to the stored row */
    int64_t conflicts; /* replays that differ from the stored row */
    int64_t commits;   /* successful pl_sink_commit calls */
} pl_sink_stats;
void pl_sink_stats_get(const pl_sink *k, pl_sink_stats *st);

/* Digests of the three canonical tables. */
typedef struct pl_digests {
    char bars[33], late[33], dlq[33];
    int64_t nbars, nlate, ndlq, nconflicts;
} pl_digests;

/*
 * Write OUTDIR/bars.csv, late.csv, dlq.csv (SPEC-canonical: sorted, LF,
 * 8-digit prices, hex payloads) from STATEDIR/sink.db and fill *d.  OUTDIR is
 * created if missing.  Returns 0, or PL_ECONFLICT (after writing the files)
 * when the conflicts table is not empty, or another negative code.
 */
int pl_sink_export(const char *statedir, const char *outdir, pl_digests *d, pl_errbuf *eb);

#endif
