/*
 * pl_batch.h - the offline recomputation: the oracle the streaming path is
 * checked against.  It reads the whole log and applies the semantics with
 * no streaming state: one pass computes the watermark in force before every
 * position and classifies events, then events are grouped and sorted and
 * bars computed per group.  It deliberately shares no watermark, reorder or
 * window code with pl_stream.
 */
#ifndef PL_BATCH_H
#define PL_BATCH_H

#include "pl_config.h"
#include "pl_err.h"
#include "pl_log.h"
#include "pl_sink.h"

/* Write OUTDIR/bars.csv, late.csv, dlq.csv in canonical form and fill *d. */
int pl_batch_run(pl_log *log, const pl_config *cfg, const char *outdir, pl_digests *d,
                 pl_errbuf *eb);

/* Internal (tested on its own): qsort(base, n, size, cmp) that checks
 * pl_stop every few ten thousand elements of work.  Returns 0, or -EINTR
 * (eb set, the order then meaningless) once a stop was requested.  Equal
 * elements end in no particular order, as with qsort. */
int pl__batch_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *),
                   pl_errbuf *eb);

#endif
