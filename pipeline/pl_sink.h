/*
 * pl_sink.h - the keyed, idempotent SQLite sink and the canonical export.
 *
 * Bars are keyed (agg, symbol, seq), late and dead-letter rows
 * (partition, offset).  Writing a row whose key exists is absorbed when the
 * stored row is identical and recorded in the `conflicts` table when it is
 * not; nothing is ever overwritten.  Rows are staged inside a transaction
 * opened by pl_sink_begin, and written (in key order) and made durable by
 * pl_sink_commit (synchronous=FULL).  Schema: docs/results-schema.md (sink section).
 */
#ifndef PL_SINK_H
#define PL_SINK_H

#include <stdint.h>

#include "pl_config.h"
#include "pl_err.h"
#include "pl_stream.h"

typedef struct pl_sink pl_sink;

/*
 * Open or create STATEDIR/sink.db.  cfg is used for aggregation names.
 * Before returning, the WAL is checkpointed into sink.db and truncated, and
 * both are fsync'd: what the handle sees is durable.  PL_ELOCKED when a
 * reader holds an old snapshot that stops this, PL_ECONFIG for a sink of
 * another schema version, PL_ECORRUPT for a file that is not a database.
 */
int pl_sink_open(const char *statedir, const pl_config *cfg, pl_sink **out, pl_errbuf *eb);
/*
 * What every pl_sink_open does first, alone: copy STATEDIR/sink.db's WAL into
 * sink.db, truncate it and make both durable (keeps (6) and (7) of sink.c).
 * Content, cut and stored digest stay as they are.  1 when folded; 0 when
 * there is no sink.db or it is not a sink of this schema version (then the
 * file is not touched); a negative code on failure.  For a copy of a state
 * dir that many processes will open (a test harness's snapshots).
 */
int pl_sink_fold_wal(const char *statedir, pl_errbuf *eb);
/*
 * Close; an open transaction is rolled back.  A healthy handle checkpoints
 * the WAL into sink.db first (a reader in the way only postpones that to
 * the next open).  Returns 0, or the first failure (a checkpoint or fsync
 * error, an unfinalized statement) with eb (may be NULL) naming it: a
 * writer that cares whether its work is durable checks it.  Always frees k.
 */
int pl_sink_close(pl_sink *k, pl_errbuf *eb);

int pl_sink_begin(pl_sink *k, pl_errbuf *eb);
/*
 * Stage one row of the open transaction (outside one, write it at once).
 * The row is copied: b, l, d and their text may be reused on return.
 * Arguments are checked here (PL_EUSAGE, PL_ELIMIT); the SQLite writes, and
 * so their failures and the conflict checks, happen when the stage is
 * written: in pl_sink_commit, or in the call that fills the stage.  A
 * failure there latches the handle.
 */
int pl_sink_bar(pl_sink *k, const pl_bar *b);
int pl_sink_late(pl_sink *k, const pl_late *l);
int pl_sink_dlq(pl_sink *k, const pl_dlq *d);
/*
 * Write the staged rows into the open transaction and commit it.  A failure
 * latches the sink: every later call returns PL_EIO/PL_EDB (-ENOMEM when
 * the stage could not be written for lack of memory) and the caller must
 * restart from its last checkpoint.
 */
int pl_sink_commit(pl_sink *k, pl_errbuf *eb);
/*
 * The cut: how far the rows of the committed transactions go, and under
 * which configuration and log they were computed.  The driver records it in
 * every transaction it commits (pl_sink_set_cut, inside the transaction),
 * so that it is durable exactly with the rows.
 */
typedef struct pl_sink_cut {
    uint64_t position;  /* records consumed in canonical order */
    uint64_t config_fp; /* the driver's configuration fingerprint */
    uint64_t log_id;    /* the log's identity */
    int finished;       /* 1: the run reached the end of its log */
} pl_sink_cut;
/* Record *c in the open transaction.  Failures latch like a write. */
int pl_sink_set_cut(pl_sink *k, const pl_sink_cut *c, pl_errbuf *eb);
/* The committed cut: 1 with *c filled, 0 when none was recorded (a new or
 * never-committed sink; *c zeroed), PL_ECORRUPT when it is damaged. */
int pl_sink_get_cut(pl_sink *k, pl_sink_cut *c, pl_errbuf *eb);

/* Message of the last failure of pl_sink_bar/late/dlq. */
const char *pl_sink_errmsg(const pl_sink *k);

/* Number of rows in the conflicts table, rows of the open transaction
 * included once its stage has been written. */
int pl_sink_conflicts(pl_sink *k, int64_t *n, pl_errbuf *eb);

/*
 * What this handle did since pl_sink_open.  Row counters count rows as the
 * stage is written (in pl_sink_commit, or when it is full), including rows
 * of transactions that were later rolled back; rows dropped from the stage
 * unwritten do not count.  `conflicts` counts differing replays seen (the
 * table keeps one row per distinct (table, key, attempted)).
 */
typedef struct pl_sink_stats {
    int64_t inserted;  /* new keys written */
    int64_t absorbed;  /* replays identical to the stored row */
    int64_t conflicts; /* replays that differ from the stored row */
    int64_t commits;   /* successful pl_sink_commit calls */
} pl_sink_stats;
void pl_sink_stats_get(const pl_sink *k, pl_sink_stats *st);

/*
 * An order-independent digest of everything the sink stores: the sum, over
 * every row of bars, late, dlq and conflicts, of the XXH3-128 of the row's
 * table and canonical line (the two 64-bit halves summed apart), and the
 * number of rows summed.  Two sinks holding the same rows have the same
 * digest, however and in whatever order the rows got there; a row more,
 * less or different (a torn or flipped value, a recorded conflict) changes
 * it.
 */
typedef struct pl_sink_digest {
    uint64_t lo, hi, rows;
} pl_sink_digest;
/*
 * Start keeping the digest: one scan of the stored rows (O(rows)), then
 * O(1) per row a write stores.  Call between transactions.  Returns 0, or
 * the scan's error (a damaged page, say): then no digest is kept and the
 * handle works as before.
 *
 * Every transaction that records a cut (pl_sink_set_cut) also records the
 * digest kept, or a placeholder when none is.  With PL_SINK_DIGEST_STORED
 * the handle starts from that recorded digest instead of the scan (O(1);
 * returns 1), and scans only when there is none.  That is sound only when
 * nothing but kills (and runs of this code) touched the state dir since the
 * digest was recorded: a row changed behind the sink's back (a corrupted
 * page, a power cut under a broken durability step) is not in it.  The
 * caller decides; docs/semantics.md, "Early stop at convergence".
 */
#define PL_SINK_DIGEST_STORED 1u
int pl_sink_digest_start(pl_sink *k, unsigned flags, pl_errbuf *eb);
/* The digest of the committed rows: 0 with *d filled, or PL_EUSAGE (not
 * started) / -ENOMEM (memory ran out while keeping it). */
int pl_sink_digest_get(const pl_sink *k, pl_sink_digest *d, pl_errbuf *eb);

/* Digests of the three canonical tables. */
typedef struct pl_digests {
    char bars[33], late[33], dlq[33];
    int64_t nbars, nlate, ndlq, nconflicts;
    int partial;       /* the sink holds no finished run */
    uint64_t position; /* the sink's cut position */
} pl_digests;

/* pl_sink_export flags */
#define PL_EXPORT_ALLOW_PARTIAL 1u

/*
 * Write OUTDIR/bars.csv, late.csv, dlq.csv (SPEC-canonical: sorted, LF,
 * 8-digit prices, hex payloads) and digests.xxh128 (their digests, in
 * xxhsum's format) from STATEDIR/sink.db and fill *d.  The set is written
 * into OUTDIR.tmp-XXXXXX beside OUTDIR and renamed into place as one
 * directory: OUTDIR's parents are created if missing; an existing OUTDIR
 * must hold nothing but an earlier export (PL_EEXISTS otherwise) and is
 * replaced as a whole.
 *
 * A sink whose cut is not finished (a killed run, or one in progress) is
 * PL_EPARTIAL and nothing is written, unless flags has
 * PL_EXPORT_ALLOW_PARTIAL: then the set also holds a file PARTIAL saying so.
 * Returns 0, or PL_ECONFLICT (after publishing the files) when the
 * conflicts table is not empty, or another negative code (OUTDIR is then
 * as it was).
 */
int pl_sink_export(const char *statedir, const char *outdir, unsigned flags, pl_digests *d,
                   pl_errbuf *eb);

#endif
