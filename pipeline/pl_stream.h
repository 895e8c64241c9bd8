/*
 * pl_stream.h - the streaming core: per-partition watermarks with idleness,
 * the monotone global watermark, the reorder buffer, and the aggregations
 * (time windows and data-driven bars).  Records are pushed one at a time in
 * canonical order; results leave through the pl_emit callbacks as soon as
 * the semantics allow (late and dead-letter rows at once, data-driven bars
 * when they close, time-window bars when the watermark passes their end).
 *
 * The whole state can be serialised to a deterministic byte string and
 * restored, which is what checkpoints are made of: a stream restored from
 * pl_stream_save() output and fed the remaining records produces exactly the
 * emissions the uninterrupted stream would have produced.
 *
 * Nothing here reads a clock, draws a random number, uses floating point, or
 * iterates an unordered container.
 */
#ifndef PL_STREAM_H
#define PL_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "pl_config.h"
#include "pl_err.h"

typedef struct pl_stream pl_stream;

/* Version of the pl_stream_save encoding; a state of another version is
 * refused by pl_stream_load. */
#define PL_STREAM_STATE_VERSION 2u

/* W's sentinels: minus and plus infinity. */
#define PL_WM_NEG_INF INT64_MIN
#define PL_WM_POS_INF INT64_MAX

/* A closed bar.  Pointers are valid only during the callback. */
typedef struct pl_bar {
    uint32_t agg;     /* index into pl_config.aggs */
    const char *sym;  /* not NUL-terminated */
    uint32_t sym_len;
    uint64_t seq;     /* window k, or per-(agg,symbol) bar counter */
    int64_t start_ns;
    uint64_t end_ns;  /* may exceed INT64_MAX for windows near 2^63 */
    int64_t open, high, low, close; /* price_e8 */
    int64_t volume;
    int64_t trades;
    int64_t vwap;     /* price_e8, rounded half up */
} pl_bar;

/* A late event: t <= W when it arrived. */
typedef struct pl_late {
    uint32_t partition;
    uint64_t offset;
    int64_t event_ns;
    const char *sym;
    uint32_t sym_len;
    int64_t price_e8;
    int64_t qty;
    int64_t watermark_ns; /* the W that rejected it */
} pl_late;

/* A poison record. */
typedef struct pl_dlq {
    uint32_t partition;
    uint64_t offset;
    int reason; /* enum pl_poison, > 0 */
    const uint8_t *payload;
    uint32_t len;
} pl_dlq;

/*
 * Emission callbacks.  A non-zero return aborts the push that triggered it and
 * is returned from pl_stream_push/pl_stream_finish unchanged; the stream is
 * then unusable (the caller restarts from a checkpoint).
 */
typedef struct pl_emit {
    void *ctx;
    int (*bar)(void *ctx, const pl_bar *b);
    int (*late)(void *ctx, const pl_late *l);
    int (*dlq)(void *ctx, const pl_dlq *d);
} pl_emit;

/* Counters, for checkpoints, progress and benchmarks. */
typedef struct pl_stream_stats {
    uint64_t records, valid, poison, late, released, bars;
    uint64_t buffered;     /* events currently in the reorder buffer */
    uint64_t open_windows; /* time windows currently open, all aggs and symbols */
    uint64_t symbols;
} pl_stream_stats;

/* cfg is copied.  partitions >= 1.  *emit is copied. */
int pl_stream_new(const pl_config *cfg, uint32_t partitions, const pl_emit *emit,
                  pl_stream **out, pl_errbuf *eb);
void pl_stream_free(pl_stream *s);

/*
 * Process one record.  Records must come in canonical order
 * (ingest_ns, partition, offset); `position` is the record's 0-based index in
 * that order (the reorder buffer's tie-break).  The first record pushed after
 * pl_stream_new defines the initial last_ingest of every partition.
 */
int pl_stream_push(pl_stream *s, uint32_t partition, uint64_t offset, int64_t ingest_ns,
                   const uint8_t *payload, uint32_t len, uint64_t position);

/* End of input: W = +inf, release everything, fire every open time window. */
int pl_stream_finish(pl_stream *s);

/*
 * The end-of-input flush in bounded steps, for a driver that must commit in
 * between.  pl_stream_next_step returns the least watermark above W at
 * which something is released or fires (the head window end - 1 of a time
 * aggregation, or the largest event time seen while events are buffered),
 * or PL_WM_POS_INF when nothing is left but pl_stream_finish.
 * pl_stream_advance raises W to w (no-op when w <= W; +inf is
 * pl_stream_finish) and releases and fires what that allows, like a push
 * that moved the watermark.  Only after the last record: a later push would
 * see an advanced W.  The state in between is a valid state to save.
 * Emitting in these steps and then finishing gives exactly the rows that
 * one pl_stream_finish gives.
 */
int64_t pl_stream_next_step(const pl_stream *s);
int pl_stream_advance(pl_stream *s, int64_t w);

int64_t pl_stream_watermark(const pl_stream *s);
void pl_stream_stats_get(const pl_stream *s, pl_stream_stats *st);

/*
 * The message of the last error pl_stream_push/pl_stream_finish returned
 * (which step, which partition/offset or window, and why); "" when none.
 * Emission callbacks' own codes leave it empty.  Valid until the next call.
 */
const char *pl_stream_errmsg(const pl_stream *s);

/*
 * Partition p's watermark inputs, for progress reports and tests:
 * *has_maxev (0/1), *maxev (0 when none) and *last_ingest.  PL_EUSAGE when
 * p is out of range.
 */
int pl_stream_partition(const pl_stream *s, uint32_t p, int *has_maxev, int64_t *maxev,
                        int64_t *last_ingest);

/*
 * Serialise the complete state (per-partition maxev and last_ingest, W, the
 * reorder buffer, every open window and partial data-driven bar, the symbol
 * table, counters) into a malloc'd buffer.  Deterministic: the same history
 * gives the same bytes.  Returns 0 or -ENOMEM; caller frees *buf.  A stream
 * made unusable by a failed push/finish is not saved (PL_EUSAGE).
 */
int pl_stream_save(const pl_stream *s, uint8_t **buf, size_t *len);

/*
 * Restore into a fresh stream made by pl_stream_new with the same cfg and
 * partitions.  Malformed input is PL_ECORRUPT (never a crash, never a partial
 * restore that is then used); state saved under other B, I, aggregations or
 * partition count is PL_ECONFIG; a stream that was already used is PL_EUSAGE.
 * On failure s is unchanged.
 */
int pl_stream_load(pl_stream *s, const uint8_t *buf, size_t len, pl_errbuf *eb);

#endif
