/*
 * hn_gen.h - the deterministic workload generator behind `replayproof gen`.
 *
 * It writes an interchange CSV log (header, then one record per line in
 * canonical (ingest_ns, partition) order) that is a pure function of the
 * options and the seed: same options, same seed, same bytes, on any machine.
 * No floating point and no clock take part in any output byte.  The workload
 * model (partitions, keyed and spread symbols, producer clock skew, disorder,
 * stalls, poison, duplicate, boundary and late events) is described in
 * docs/generator.md.
 *
 * Usage: hn_gen_defaults(), then hn_gen_parse_opt() once per option given as
 * key/value text (command line or a scenario file's [workload] section), then
 * hn_gen_write() or hn_gen_write_path().
 */
#ifndef HN_GEN_H
#define HN_GEN_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "pl_err.h"

/* hn_gen_opts.set: which of the three rate-defining options were given. */
#define HN_GEN_SET_DURATION 1u
#define HN_GEN_SET_RATE 2u
#define HN_GEN_SET_TICKS 4u
/* ... and which of the boundary mode's shape options were given (a scenario
 * fills the others from its [pipeline], hn_gen_boundary_from_config). */
#define HN_GEN_SET_MAX_DELAY 8u
#define HN_GEN_SET_IDLE 16u
#define HN_GEN_SET_WINDOW 32u
#define HN_GEN_SET_SLIDE 64u
#define HN_GEN_SET_VOLUME 128u
#define HN_GEN_SET_DOLLAR 256u

/* hn_gen_opts.mode */
#define HN_GEN_MODE_RANDOM 0   /* the statistical workload model (default) */
#define HN_GEN_MODE_BOUNDARY 1 /* a small scripted log on every boundary of the contract */
#define HN_GEN_BOUNDARY_PARTITIONS 3

#define HN_GEN_MAX_PARTITIONS 4096
#define HN_GEN_MAX_SYMBOLS 1000000
#define HN_GEN_MAX_PRODUCERS 1024
#define HN_GEN_MAX_STALLS 100000
#define HN_GEN_MAX_RATE 1000000000LL   /* ticks per second: at most one per ns */
#define HN_GEN_MAX_TICKS 1000000000000LL
#define HN_GEN_PPM 1000000             /* fractions are held in parts per million */

/* 2026-01-05 14:30:00 UTC, a Monday's open. */
#define HN_GEN_DEFAULT_START 1767623400000000000LL

/*
 * Generator options.  Callers may read every field and may set them directly,
 * but hn_gen_parse_opt() is the checked way; hn_gen_validate() checks the
 * combination.  Durations and times are nanoseconds; fractions are parts per
 * million (0 .. HN_GEN_PPM).
 */
typedef struct hn_gen_opts {
    uint64_t seed;
    int32_t partitions;   /* 1 .. HN_GEN_MAX_PARTITIONS */
    int32_t symbols;      /* 1 .. HN_GEN_MAX_SYMBOLS */
    int32_t producers;    /* per partition, 1 .. HN_GEN_MAX_PRODUCERS */
    int32_t stalls;       /* 0 .. HN_GEN_MAX_STALLS */
    int64_t start;        /* ingest_ns of the first record, >= 0 */
    int64_t duration;     /* ingest-time span, > 0 */
    int64_t rate;         /* ticks per second over all partitions, 1 .. HN_GEN_MAX_RATE */
    int64_t ticks;        /* exact record count (used when HN_GEN_SET_TICKS) */
    int64_t disorder;     /* max ordinary delay of event time behind ingest time */
    int64_t skew;         /* producer clock skew drawn from [-skew, +skew] */
    int64_t stall_len;    /* length of each stall, > 0 */
    int32_t spread_ppm;   /* symbols not keyed to one home partition */
    int32_t poison_ppm;   /* records with a poison payload */
    int32_t dup_ppm;      /* events repeating their symbol's previous event_ns */
    int32_t boundary_ppm; /* events snapped onto a 1 s / 1 m boundary, or 1 ns before */
    int32_t late_ppm;     /* events far behind the disorder bound */
    int32_t mode;         /* HN_GEN_MODE_*; boundary mode reads only seed, start and
                             the six fields below (docs/generator.md) */
    int64_t max_delay;    /* boundary: the B the log is shaped for, >= 0 */
    int64_t idle_timeout; /* boundary: the I, >= 0 (0: idleness off) */
    int64_t window;       /* boundary: a time window's size, > 0 */
    int64_t slide;        /* boundary: its slide, 0 = window (tumbling) */
    int64_t volume;       /* boundary: a volume threshold, 0 = none */
    int64_t dollar;       /* boundary: a dollar threshold (whole units), 0 = none */
    unsigned set;         /* HN_GEN_SET_* bits, maintained by hn_gen_parse_opt */
    /* not an option: when *stop becomes non-zero (a signal handler sets it)
     * generation ends within one batch of records with -EINTR, and
     * hn_gen_write_path removes its temporary file; NULL = never */
    volatile sig_atomic_t *stop;
} hn_gen_opts;

/* What one hn_gen_write produced (counts of records, by kind). */
typedef struct hn_gen_stats {
    int64_t records;       /* data lines written (header not counted) */
    int64_t poison[6];     /* by reason, indexed by enum pl_poison (1..5) */
    int64_t late;          /* records generated as late events */
    int64_t boundary;      /* records generated on or just before a boundary */
    int64_t dup;           /* records repeating their symbol's last event_ns */
    int64_t first_ingest;  /* ingest_ns of the first and last record (0 if none) */
    int64_t last_ingest;
} hn_gen_stats;

/* Fill *o with the defaults listed by hn_gen_usage(). */
void hn_gen_defaults(hn_gen_opts *o);

/* Records that o generates (duration x rate, or ticks); 0 for boundary mode,
 * whose scripted log is a few thousand records.  o must be valid. */
int64_t hn_gen_planned_records(const hn_gen_opts *o);

/*
 * Apply one option.  key is the option name with or without a leading "--",
 * '_' and '-' interchangeable ("poison-frac", "--poison-frac", "poison_frac").
 * Value forms: N = decimal integer; DUR = integer with optional unit
 * ns us ms s m h (bare = ns); FRAC = per-mille integer ("5" = 0.5%), a
 * decimal fraction ("0.005") or a percentage ("0.5%").
 * Returns 0, or PL_EUSAGE with a one-line message in eb that starts with the
 * key as given (e.g. "--rate: 'abc' is not an integer").
 */
int hn_gen_parse_opt(hn_gen_opts *o, const char *key, const char *value, pl_errbuf *eb);

/*
 * 1 when key (spelled as for hn_gen_parse_opt) names a length of time
 * (duration, disorder, skew, stall-len), for callers that require a unit;
 * 0 otherwise, also for start, a point in time where bare = ns since the epoch.
 */
int hn_gen_opt_is_span(const char *key);

/*
 * Check the combination of options (each field in range, at most two of
 * duration/rate/ticks given, at most one tick per nanosecond, every ingest
 * time below 2^63).  Returns 0 or PL_EUSAGE naming the options involved.
 */
int hn_gen_validate(const hn_gen_opts *o, pl_errbuf *eb);

/*
 * Generate the log and write it to f (the header first).  f stays open and is
 * flushed.  st (may be NULL) receives counts.  Returns 0, PL_EUSAGE from
 * hn_gen_validate (nothing written then), -ENOMEM, or -errno of a failed
 * write.
 */
int hn_gen_write(const hn_gen_opts *o, FILE *f, hn_gen_stats *st, pl_errbuf *eb);

/*
 * Like hn_gen_write into path: validated first (a bad option creates no file),
 * written to "<path>.tmp", synced and renamed into place, so path is either
 * absent/old or complete.  On failure the temporary file is removed.  "-"
 * writes to stdout.
 */
int hn_gen_write_path(const hn_gen_opts *o, const char *path, hn_gen_stats *st,
                      pl_errbuf *eb);

/*
 * Boundary mode in a scenario: every shape option not given explicitly is
 * taken from the pipeline configuration: B, I, the first time window's size
 * and slide, the first volume and dollar thresholds.  Also sets partitions to
 * HN_GEN_BOUNDARY_PARTITIONS, the boundary log's count.  No effect in random
 * mode.
 */
struct pl_config;
void hn_gen_boundary_from_config(hn_gen_opts *o, const struct pl_config *cfg);

/*
 * The boundary-mode writer behind hn_gen_write (harness/gen_boundary.c):
 * o already validated.  Same contract as hn_gen_write.
 */
int hn__gen_boundary(const hn_gen_opts *o, FILE *f, const char *fname, hn_gen_stats *st,
                     pl_errbuf *eb);

/* The option list with defaults, for help screens (static text). */
const char *hn_gen_usage(void);

#endif
