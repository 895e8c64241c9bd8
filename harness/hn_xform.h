/*
 * hn_xform.h - seeded transforms of a captured CSV log: the input faults
 * the generator shapes (producer clock skew, disorder bursts, partition
 * stalls, poison) applied to a log given as `csv =` in a scenario, so that
 * a day of real ticks is replayed under the same adversity.
 *
 * The output is a pure function of the input bytes and the options (seed
 * included).  Envelopes are kept valid: within a partition ingest_ns never
 * decreases, records stay in their partition and in their order there.
 * docs/generator.md ("Transforming a captured log") is the manual.
 */
#ifndef HN_XFORM_H
#define HN_XFORM_H

#include <stddef.h>
#include <stdint.h>

#include "pl_err.h"

/* hn_xform.set: which transforms were asked for. */
#define HN_XF_SKEW 1u
#define HN_XF_DISORDER 2u
#define HN_XF_STALLS 4u
#define HN_XF_POISON 8u

typedef struct hn_xform {
    uint64_t seed;
    int64_t skew;        /* each partition's producer: event_ns - s, s from [-skew, skew] */
    int64_t disorder;    /* valid events delayed by a draw in [0, disorder] ... */
    int32_t bursts;      /* ... only within this many bursts of ingest time (0: all) */
    int64_t burst_len;   /* length of a burst (default 1 s) */
    int32_t stalls;      /* intervals in which one partition's records are held back */
    int64_t stall_len;   /* ... and delivered at the stall's end (default 5 s) */
    int32_t poison_ppm;  /* records whose payload is spoiled, every reason in turn */
    unsigned set;        /* HN_XF_* */
} hn_xform;

typedef struct hn_xform_stats {
    int64_t records, skewed, delayed, held, poisoned;
} hn_xform_stats;

/* Defaults: nothing set, seed 1, burst_len 1 s, stall_len 5 s. */
void hn_xform_init(hn_xform *x);

/* 1 when some transform is set. */
int hn_xform_active(const hn_xform *x);

/* One line naming every setting, e.g. "seed=7 skew=5ms stalls=2x5s
 * disorder=200ms bursts=3x1s poison=0.1%" (snprintf style). */
int hn_xform_describe(const hn_xform *x, char *buf, size_t n);

/*
 * Transform the CSV log at in (header optional) into out (header written):
 * the whole input is read, transformed, sorted stably into canonical
 * (ingest_ns, partition) order and written through a temporary file and a
 * rename.  Returns 0; PL_EFORMAT with the line number for a line without an
 * envelope (the import would refuse it too); -errno.
 */
int hn_xform_csv(const hn_xform *x, const char *in, const char *out, hn_xform_stats *st,
                 pl_errbuf *eb);

#endif
