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
 *                timeout, max-restarts
 *   [expect]     converge, agree-with-batch, max-late-fraction,
 *                max-dlq-fraction
 *
 * Every error names file:line and the key.
 */
#ifndef HN_SCENARIO_H
#define HN_SCENARIO_H

#include <stdint.h>

#include "hn_gen.h"
#include "pl_config.h"
#include "pl_err.h"

#define HN_MAX_PATTERNS 32
#define HN_MAX_HITS 256
#define HN_NAME_MAX 64

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

    /* [pipeline] */
    char binary[4096];           /* default "refpipe-fiu", looked up next to replayproof */
    pl_config cfg;               /* aggregations, max-delay, idle-timeout (finished) */
    uint64_t checkpoint_every;   /* default 1000 */
    int nenv;
    char env[8][256];            /* extra KEY=VALUE for every pipeline process */

    /* [faults] */
    int npatterns;
    char patterns[HN_MAX_PATTERNS][128]; /* fail point globs, e.g. "ckpt/*" ; default "*" */
    int hits_mode;               /* enum hn_hits_mode; default HN_HITS_ALL */
    int sample;                  /* HN_HITS_SAMPLE: hits per point */
    int nhits;
    uint64_t hits[HN_MAX_HITS];  /* HN_HITS_LIST */
    int crashes;                 /* crashes per trial, >= 1; the 2nd.. land during recovery */
    int budget;                  /* max trials for this scenario; default 2000 */
    uint64_t seed;               /* sampling seed; default 1 */
    int64_t timeout_ns;          /* per process; default 60 s */
    int max_restarts;            /* restarts before "crash loop"; default 20 */

    /* [expect] */
    int expect_converge;         /* default 1 */
    int expect_agree;            /* default 1: golden run must equal refpipe batch */
    int64_t max_late_ppm;        /* -1 = no bound; else parts per million of valid events */
    int64_t max_dlq_ppm;         /* -1 = no bound; else parts per million of records */
} hn_scenario;

/*
 * Parse and validate a scenario file.  Returns 0, or PL_EUSAGE / PL_EFORMAT /
 * -errno with eb holding one line "FILE:LINE: [section] key: problem"
 * (LINE is the line of the offending key, or of the end of the file for a
 * missing section or key).  Unknown sections and keys are errors.
 */
int hn_scenario_load(const char *path, hn_scenario *sc, pl_errbuf *eb);

/* The refpipe options this scenario implies, as argv words appended to
 * argv[*argc..]; returns the number appended (at most 2 * (PL_MAX_AGGS + 3)).
 * Strings live in *sc (buffers inside it) or are static. */
int hn_scenario_pipeline_args(const hn_scenario *sc, char **argv, int max);

#endif
