/*
 * hn_scenario.h - scenario files: what to run, under which faults, and what
 * must hold.  INI in the spirit of fio job files, parsed with libinih.
 * docs/scenarios.md teaches how to write one.
 *
 *   [scenario]   name, description
 *   [workload]   csv = PATH (relative to the scenario file), or the options
 *                of `replayproof gen` without their leading dashes
 *   [pipeline]   binary, agg (repeatable), max-delay, idle-timeout,
 *                checkpoint-every, env (repeatable KEY=VALUE)
 *   [faults]     points (glob patterns), hits, crashes, budget, seed,
 *                timeout, max-restarts, powercut, powercut-at,
 *                powercut-budget, io-errors, io-budget, corrupt,
 *                corrupt-budget, early-stop, full-run-fraction,
 *                snapshot-start, snapshot-point
 *   [expect]     converge, agree-with-batch, max-late-fraction,
 *                max-dlq-fraction
 *
 * Every error names file:line and the key.  Callers may read every field
 * of hn_scenario after hn_scenario_load; the *_line fields and the arg_*
 * buffers are maintained by this module (see hn_scenario_format_args).
 */
#ifndef HN_SCENARIO_H
#define HN_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "hn_gen.h"
#include "hn_xform.h"
#include "pl_config.h"
#include "pl_err.h"

#define HN_MAX_PATTERNS 32
#define HN_MAX_HITS 256
#define HN_NAME_MAX 64
#define HN_MAX_ENV 8
#define HN_MAX_CRASHES 16
#define HN_MAX_IOERR 16
#define HN_MAX_CORRUPT 8

enum hn_hits_mode {
    HN_HITS_ALL = 1,    /* every hit of every selected point (within budget) */
    HN_HITS_SAMPLE = 2, /* a seeded, stratified sample of `sample` hits per point */
    HN_HITS_LIST = 3    /* explicit hit numbers (1-based) */
};

typedef struct hn_scenario {
    char path[4096];             /* the scenario file as given */
    char name[HN_NAME_MAX + 1];  /* [scenario] name: [A-Za-z0-9_.-]+ ; default: file stem */
    char description[1024];

    /* [workload] */
    int use_csv;                 /* 1: csv_path; 0: generator options in gen */
    char csv_path[4096];         /* resolved against the scenario file's directory */
    hn_gen_opts gen;
    hn_xform xform;              /* csv: seeded input faults applied to the log (seed,
                                    skew, disorder, bursts, burst-len, stalls, stall-len,
                                    poison-frac); nothing set by default */

    /* [pipeline] */
    char binary[4096];           /* default "refpipe-fiu": a bare name (no '/') is looked
                                    up next to replayproof (hn_scenario_binary_path); a
                                    path is resolved against the scenario's directory */
    int no_fork_server;          /* [pipeline] fork-server = false: trial processes by
                                    fork+exec (hn_run_opts.no_fork_server) */
    pl_config cfg;               /* aggregations, max-delay, idle-timeout (finished) */
    uint64_t checkpoint_every;   /* default 1000 */
    int nenv;
    char env[HN_MAX_ENV][256];   /* extra KEY=VALUE for every pipeline process */

    /* [faults] */
    int npatterns;
    char patterns[HN_MAX_PATTERNS][128]; /* a point name, or a prefix ending in '*'; default "*" */
    int hits_mode;               /* enum hn_hits_mode; default HN_HITS_ALL */
    int sample;                  /* HN_HITS_SAMPLE: hits per point */
    int nhits;
    uint64_t hits[HN_MAX_HITS];  /* HN_HITS_LIST: ascending, distinct, >= 1 */
    int crashes;                 /* crashes per trial, 1..HN_MAX_CRASHES (and <=
                                    max_restarts); the 2nd.. land during recovery */
    int budget;                  /* max trials for this scenario; default 2000 */
    uint64_t seed;               /* sampling seed; default 1 */
    int64_t timeout_ns;          /* per process; default 60 s */
    int max_restarts;            /* restarts before "crash loop"; default 20 */
    int npc_models;              /* power cuts: persistence models to explore; 0 = none */
    int pc_models[8];            /* enum hn_pc_model (hn_run.h), in file order */
    int pc_at_points;            /* 1: cut only at hits of the selected points; 0: at
                                    every cut candidate (default) */
    int pc_budget;               /* max power-cut trials; default 200 */
    /* I/O errors and corruption (docs/faults.md), planned after the kills */
    int nioerr;                  /* io-errors = CALL[:ERRNO], ... */
    char ioerr_point[HN_MAX_IOERR][128]; /* libfiu point, e.g. posix/io/sync/fsync */
    int ioerr_errno[HN_MAX_IOERR];       /* errno the call fails with (> 0) */
    int io_budget;               /* io-budget: I/O-error trials; default 40 */
    int io_pc_budget;            /* io-powercut-budget: fsync/fdatasync errors followed
                                    by a power cut (fsyncgate); default 0 */
    int ncorrupt;                /* corrupt = KIND, ... */
    int corrupt[HN_MAX_CORRUPT]; /* enum hn_corrupt_kind (hn_run.h) */
    int corrupt_budget;          /* corrupt-budget: corruption trials; default 24 */
    int early_stop;              /* early-stop: recoveries stop at convergence; default 1 */
    int64_t full_run_ppm;        /* full-run-fraction: soundness-guard trials, parts per
                                    million; default 50000 (5%) */
    int snapshot_start;          /* snapshot-start: kill trials may start from a copy of
                                    the discovery run's state at a checkpoint; default 1 */
    char snapshot_point[128];    /* snapshot-point: where the copies are taken;
                                    default ckpt/done/after */

    /* [expect] */
    int expect_converge;         /* default 1 */
    int expect_agree;            /* default 1: golden run must equal refpipe batch */
    int64_t max_late_ppm;        /* -1 = no bound; else parts per million of valid events */
    int64_t max_dlq_ppm;         /* -1 = no bound; else parts per million of records */

    /* Where things were said, for messages about them: the key's line, or its
     * section header's line when the key was left at its default. */
    int binary_line;             /* [pipeline] binary */
    int points_line;             /* [faults] points */
    int last_line;               /* number of lines in the file */

    /* refpipe option values as text, rebuilt by hn_scenario_format_args. */
    char arg_agg[PL_MAX_AGGS][96]; /* canonical NAME=SPEC, durations in ns */
    char arg_max_delay[24];
    char arg_idle_timeout[24];
    char arg_checkpoint_every[24];
} hn_scenario;

/*
 * Parse and validate a scenario file into *sc (defaults first, so every
 * field is meaningful on success).  Returns 0; PL_EUSAGE for a bad value, an
 * unknown or duplicated key or section, or a missing section; PL_EFORMAT for
 * a line that is not INI (no '=', an unclosed '[', indentation, longer than
 * 198 characters); -errno when the file, or the [workload] csv, cannot be
 * opened.  eb then holds one line "FILE:LINE: [section] key: problem" (LINE
 * is the offending line, or the last line of the file for a missing
 * section); only the first problem is reported.  Runs nothing: the fail
 * point patterns are checked against a binary by hn_scenario_check_points.
 */
int hn_scenario_load(const char *path, hn_scenario *sc, pl_errbuf *eb);

/*
 * The `refpipe run` options this scenario implies, written as argv words to
 * argv[0..max): every --agg NAME=SPEC in file order, then --max-delay N,
 * --idle-timeout N and, last, --checkpoint-every N (all numbers plain decimal,
 * durations in ns).  Every option is given, defaults included, so the run
 * never depends on refpipe's own defaults.  Returns the number of words
 * written (at most 2 * (PL_MAX_AGGS + 3)), or PL_ELIMIT when max is too small
 * (nothing useful written then).  The strings live in *sc (the arg_* buffers)
 * or are static: keep *sc alive and unchanged while argv is used.
 */
int hn_scenario_pipeline_args(const hn_scenario *sc, char **argv, int max);

/*
 * The same for `refpipe batch`: the --agg, --max-delay and --idle-timeout
 * words, without --checkpoint-every (batch has no commit cycle).
 */
int hn_scenario_batch_args(const hn_scenario *sc, char **argv, int max);

/*
 * Rebuild the arg_* buffers from cfg and checkpoint_every.  hn_scenario_load
 * calls it; call it again after changing those fields by hand.
 */
void hn_scenario_format_args(hn_scenario *sc);

/*
 * The pipeline binary to execute, into out[0..n): a bare name is taken from
 * the directory of the running executable (/proc/self/exe), anything else is
 * sc->binary as resolved by hn_scenario_load.  Returns 0, or -errno /
 * PL_ELIMIT with eb naming the problem.  Does not check that it exists.
 */
int hn_scenario_binary_path(const hn_scenario *sc, char *out, size_t n, pl_errbuf *eb);

/*
 * The work-dir space a run of sc needs, estimated (docs/scenarios.md, "Size
 * cap"): a generated workload's planned records at HN_EST_BYTES_PER_RECORD
 * (its CSV plus its log), or a CSV workload's size (its log; the CSV stays
 * where it is).  *records is exact for generated workloads and the CSV size
 * over 60 otherwise.  Scenarios above HN_LARGE_BYTES are refused by check
 * and run unless --allow-large: a 50h typo for 50s must not fill /dev/shm.
 */
#define HN_EST_BYTES_PER_RECORD 128
#define HN_LARGE_BYTES (2LL << 30)
void hn_scenario_estimate(const hn_scenario *sc, int64_t *records, int64_t *bytes);

/*
 * 1 when the fail point `name` is selected by `pattern`: equal, or pattern
 * ends in '*' and what precedes it is a prefix of name (libfiu's rule, which
 * rp-crash.so follows).  0 otherwise.
 */
int hn_scenario_pattern_match(const char *pattern, const char *name);

/*
 * Check every [faults] pattern against a fail point listing in the format of
 * `refpipe faults` (one point per line, its name the first word; other words
 * ignored).  `what` names the listing's source in the message (e.g. the
 * binary).  Returns 0, or PL_EUSAGE with "FILE:LINE: [faults] points:
 * 'PATTERN' matches no fail point of WHAT" for the first pattern that
 * selects nothing.
 */
int hn_scenario_match_points(const hn_scenario *sc, const char *listing, const char *what,
                             pl_errbuf *eb);

/*
 * Run `BINARY faults` (stdout captured, stderr discarded, at most 10 s) and
 * check the patterns against its output as hn_scenario_match_points does.
 * Returns 0; PL_ENOTFOUND when binary does not exist (nothing checked: the
 * caller decides whether that matters); PL_EUSAGE for an unmatched pattern,
 * a binary that is not executable or that exits non-zero; -errno when it
 * cannot be run.  eb names the file and line in every case.
 */
int hn_scenario_check_points(const hn_scenario *sc, const char *binary, pl_errbuf *eb);

#endif
