/*
 * hn_run.h - `replayproof run` and `replayproof replay`: explore the crash
 * points of a scenario and judge every recovery against an uninterrupted run.
 *
 * Per scenario (hn_run_scenario):
 *   golden     generate or take the CSV; BINARY import; BINARY run without
 *              faults; BINARY export (the reference digests and tables);
 *              BINARY batch (the oracle: must agree when expect_agree);
 *              the [expect] bounds
 *   discovery  one run under the crash preload counting every fail point hit
 *   plan       trials = sequences of crashes (hn_run_plan; rules in
 *              docs/cli.md "How trials are planned")
 *   trials     run on -j N parallel slots: crash at the armed hit (SIGKILL),
 *              restart until exit 0, export, compare with the golden tables
 *
 * The pipeline is driven only through its command line (docs/cli.md), so any
 * libfiu-instrumented binary with refpipe's CLI can be tested.  Library code:
 * nothing is printed; progress and verbose lines go through hn_run_hooks, and
 * results to the hn_res database when one is given.
 */
#ifndef HN_RUN_H
#define HN_RUN_H

#include <signal.h>
#include <stdint.h>

#include "hn_cut.h"
#include "hn_results.h"
#include "hn_scenario.h"
#include "pl_err.h"

#define HN_POINT_MAX 127     /* longest fail point name (HN_MAX_CRASHES: hn_scenario.h) */

/* Trial verdicts.  Everything but HN_V_CONVERGED is a failure. */
enum hn_verdict {
    HN_V_CONVERGED = 0, /* final tables identical to the golden run, no conflict */
    HN_V_DIVERGED,      /* a digest differs from the golden run */
    HN_V_CONFLICT,      /* export exit 1: the sink recorded a differing replay */
    HN_V_CRASH_LOOP,    /* still not complete after max-restarts restarts */
    HN_V_HANG,          /* a process exceeded the timeout and was killed */
    HN_V_NOT_REACHED,   /* the run completed without reaching the armed first crash */
    HN_V_ERROR,         /* unexpected exit status, a crash that was not armed, ... */
    HN_V_IO_ERROR,      /* an injected I/O error was not reported as one (exit 4 and
                           one line) nor absorbed (exit 0) */
    HN_V_LOST_PROGRESS, /* after a power cut the restart resumed from a checkpoint older
                           than one the run had reported complete (durable) */
    HN_V_SILENT_OVERWRITE, /* a stored row that differed from its replay was overwritten
                              without a conflict recorded (sink-value-rot) */
    HN_V__COUNT
};

/* "converged", "diverged", "conflict", "crash-loop", "hang", "not-reached",
 * "error", "io-error", "lost-progress", "silent-overwrite"; "?" for anything else. */
const char *hn_verdict_name(int v);

/*
 * A fault schedule.  A trial is a list of faults; the i-th process of the
 * trial is armed with fault[i] (i < nfaults) and later processes run unarmed
 * until one completes.  A power cut is not armed in a process: it replaces
 * the state dir with a crash state built from the scenario's recorded trace,
 * and comes first, the processes after it taking the next faults; or last,
 * after other faults: then the processes before it run traced (until one
 * completes), the crash state is built from that trial's own trace, its
 * POINT:K (or POS) counted from the first failed fsync in it, and the
 * pipeline restarts on it.  Text form (docs/cli.md "Fault schedules"), entries joined by ',':
 *
 *   POINT:K                      kill at the K-th hit of POINT (as before)
 *   kill:POINT:K                 the same, spelled out
 *   discard:POINT:K              the process runs with --discard-state, killed at
 *                                the K-th hit of POINT
 *   powercut:MODEL[/SEED]@POINT:K  power cut at the K-th hit of POINT in
 *                                the recorded trace, persistence model MODEL
 *   powercut:MODEL[/SEED]:POS    power cut before trace record POS (0-based)
 *   ioerr:POINT:K:ERRNO          the K-th hit of POINT fails with ERRNO
 *                                (a name, EIO, or a number)
 *   corrupt:KIND[/SEED]@POINT:K  kill at POINT:K, then corrupt the state
 *
 * The kill is the only kind a trial can run so far; the others parse, are
 * stored and formatted, and are refused at run time (hn_run_trial_check).
 */
enum hn_fault_kind { HN_F_KILL = 0, HN_F_POWERCUT, HN_F_IOERR, HN_F_CORRUPT, HN_F__COUNT };

/* Persistence models of a power cut (docs/faults.md). */
enum hn_pc_model {
    HN_PC_STRICT = 0,   /* POSIX: data at fsync, directory entries at a dir fsync */
    HN_PC_KEEP_SOME,    /* strict plus a seeded subset of the unsynced operations */
    HN_PC_TORN,         /* strict plus one unsynced write kept partly (512-byte sectors) */
    HN_PC_EXT4_ORDERED, /* strict, but a rename of a written file implies its data */
    HN_PC__COUNT
};

/* Corruptions of the state at crash time. */
enum hn_corrupt_kind {
    HN_C_TRUNCATE = 0,  /* truncate the newest checkpoint */
    HN_C_BITFLIP,       /* flip one bit of the newest checkpoint */
    HN_C_ZERO_SECTOR,   /* zero one 512-byte sector of the newest checkpoint */
    HN_C_DELETE,        /* delete the newest checkpoint */
    HN_C_SINK_BITFLIP,  /* flip one bit in a page of the sink */
    HN_C_FOREIGN,       /* a state dir from another configuration */
    HN_C_SINK_VALUE_ROT, /* one bit of a stored bar's volume, the page valid */
    HN_C__COUNT
};

typedef struct hn_fault {
    int kind;                        /* enum hn_fault_kind */
    char point[HN_POINT_MAX + 1];    /* fail point; "" for a power cut at a position */
    uint64_t k;                      /* 1-based hit number; a power cut without a
                                      * point: the 0-based trace position */
    int model;                       /* HN_F_POWERCUT: enum hn_pc_model */
    int err;                         /* HN_F_IOERR: errno value (> 0) */
    int corrupt;                     /* HN_F_CORRUPT: enum hn_corrupt_kind */
    uint64_t seed;                   /* keep-some, torn, corrupt: which ops/bits (0 if not given) */
    int discard;                     /* HN_F_KILL: the process runs with --discard-state (an
                                      * operator's discard, cut short at POINT:K) */
} hn_fault;

typedef struct hn_trial {
    int nfaults;
    hn_fault fault[HN_MAX_CRASHES];
} hn_trial;

/* Longest formatted trial. */
#define HN_TRIAL_SPEC_MAX (HN_MAX_CRASHES * (HN_POINT_MAX + 72))

/* "kill", "powercut", "ioerr", "corrupt"; "?" for anything else. */
const char *hn_fault_kind_name(int kind);
/* "strict", "keep-some", "torn", "ext4-ordered"; "?" for anything else. */
const char *hn_pc_model_name(int model);
/* The model named s (n bytes), or -1. */
int hn_pc_model_parse(const char *s, size_t n);
/* "truncate", "bitflip", "zero-sector", "delete", "sink-bitflip", "foreign-config",
 * "sink-value-rot". */
const char *hn_corrupt_name(int kind);

/* Parse a fault schedule (see above).  PL_EUSAGE with a message naming the
 * entry. */
int hn_run_trial_parse(const char *spec, hn_trial *t, pl_errbuf *eb);
/* The same text back (a bare kill as POINT:K, so that the specs of earlier
 * results stay what they were); returns the length (snprintf style). */
int hn_run_trial_format(const hn_trial *t, char *buf, size_t n);

/* Append s to the NUL-terminated text in out (n bytes in all), quoted for a
 * POSIX shell when it needs to be (single quotes unless every byte is plainly
 * safe); returns the length the whole text needs (strlcat style: >= n means
 * it was cut).  Reproducer lines, recorded command lines and git commands
 * are all quoted with it. */
size_t hn_run_shell_quote(char *out, size_t n, const char *s);
/* 0 when every fault of t is of a kind the runner can run, else PL_EUSAGE
 * with a message naming the first one that is not. */
int hn_run_trial_check(const hn_trial *t, pl_errbuf *eb);

/* One fail point and how often the discovery run hit it. */
typedef struct hn_point {
    char name[HN_POINT_MAX + 1];
    uint64_t count;
} hn_point;

/*
 * Plan the trials of a scenario (pure and deterministic: same inputs, same
 * plan).  pts: the discovered points that match the scenario's patterns, with
 * count > 0, sorted by name.  records: records in the log (tells per-event
 * points from per-cycle ones).  budget > 0 overrides sc->budget.
 * *out (malloc'd, caller frees) gets the trials sorted by (point, k), *nout
 * their number, *candidates the size of the selection before the budget.
 * Returns 0 or -ENOMEM.
 */
int hn_run_plan(const hn_scenario *sc, const hn_point *pts, int npts, uint64_t records,
                int budget, hn_trial **out, int *nout, uint64_t *candidates, pl_errbuf *eb);

/*
 * Plan the power-cut trials of a scenario from its recorded trace (pure and
 * deterministic): for each model of sc->pc_models, the distinct crash
 * states at the cut candidates (hn_cut_candidates), or with pc_at_points
 * the hits of the points matching the scenario's patterns; within
 * sc->pc_budget (shared evenly between the models, each share spread over
 * the run), each a one-fault schedule "powercut:...".  *out malloc'd,
 * sorted by (model, position); *candidates the number before the budget.
 * Returns 0 or a negative code (eb).
 */
int hn_run_plan_powercut(const hn_scenario *sc, const hn_cut_trace *cut, hn_trial **out,
                         int *nout, uint64_t *candidates, pl_errbuf *eb);

/* How a trial used early stop at convergence (docs/semantics.md, "Early stop
 * at convergence"). */
enum hn_early {
    HN_EARLY_OFF = 0,  /* off (switched off, or the pipeline lacks it) */
    HN_EARLY_ON,       /* its unarmed processes could stop at convergence */
    HN_EARLY_GUARD     /* soundness guard: ran to the end, the early verdict checked */
};
/* The outcome of one trial. */
typedef struct hn_trial_result {
    int seq;                   /* index in the plan */
    hn_trial trial;
    int verdict;               /* enum hn_verdict */
    int restarts;              /* processes started after the first one */
    int crashes_fired;         /* armed crashes that happened */
    int64_t duration_ms;
    int have_digests;
    char digest[3][33];        /* bars, late, dlq of the trial's export */
    int64_t rows[3];
    char state_dir[4096];      /* kept state dir; "" when removed */
    char detail[1024];         /* why it failed (stderr tail, signal, ...) */
    int ndiv;
    hn_res_div div[3];         /* first differing row per differing table */
    int early;                 /* enum hn_early */
    int64_t converged_at;      /* position where the recovery converged (HN_EARLY_ON: and
                                  stopped; HN_EARLY_GUARD: would have); -1 if it did not */
    int guard_disagrees;       /* HN_EARLY_GUARD: converged_at >= 0 but the full run's
                                  verdict is not converged: a harness error */
    uint64_t snap_hit;         /* started from the snapshot taken at this hit of the
                                  snapshot point (docs/semantics.md, "Snapshot starts");
                                  0: from record 0 */
} hn_trial_result;

/* A failing trial, kept for the summary. */
typedef struct hn_failure {
    char spec[HN_TRIAL_SPEC_MAX];
    int verdict;
    char state_dir[4096];
    char detail[1024];
    hn_res_div div;            /* first divergence, line 0 if none */
} hn_failure;

/* Scenario verdicts, in rising severity; when several apply, the most
 * severe is the verdict. */
enum hn_sc_verdict {
    HN_SC_CONVERGED = 0,
    HN_SC_NO_POINTS,           /* no selected fail point was hit: nothing was tested */
    HN_SC_EXPECTATION,         /* an [expect] bound failed */
    HN_SC_BATCH_DISAGREES,     /* golden run differs from refpipe batch */
    HN_SC_FAILED,              /* at least one trial failed */
    HN_SC_ERROR                /* golden/discovery could not be done: harness error */
};
const char *hn_sc_verdict_name(int v);

typedef struct hn_scenario_result {
    int verdict;               /* enum hn_sc_verdict */
    int exit_status;           /* 0, 1 (a failure), 3 (harness/golden error) */
    char detail[1024];
    char workdir[4096];        /* this scenario's work dir ("" once removed) */
    int64_t records;
    char workload[256];        /* a csv log's transform (hn_xform_describe), "" if none */
    char golden[3][33];
    int64_t golden_rows[3];
    char batch[3][33];
    int nbatch_div;
    hn_res_div batch_div[3];
    int npoints;
    hn_point *points;          /* discovered and selected (malloc'd) */
    char unmatched[1024];      /* patterns that matched no hit point, space separated */
    uint64_t candidates;
    int planned, run;
    int by_verdict[HN_V__COUNT];
    int nfailures;             /* failing trials (all of them) */
    int nkept;                 /* the first of them, kept in failures[] */
    hn_failure *failures;
    int64_t duration_ms;       /* the whole scenario */
    int64_t trials_ms;         /* the kill trials alone (what trials/s is measured on) */
    /* power cuts (zero unless the scenario asks for them); planned, run and
     * by_verdict above count them too */
    uint64_t pc_records;       /* records in the traced run's trace */
    uint64_t pc_candidates;    /* distinct crash states at the cut candidates */
    int pc_planned, pc_run;
    int64_t pc_ms;             /* the power-cut trials alone (crash states/s) */
    int plan_total;            /* trials of the whole plan, every shard's (planned above
                                  counts this shard's) */
    char plan_digest[33];      /* of the whole plan (hn_shard_plan_digest); "" before it */
    /* trial processes (runs and exports) started through a fork server and
     * by fork+exec */
    int64_t procs_fsrv, procs_exec;
    /* early stop: trials that stopped at convergence, soundness-guard trials
     * run in full, and those of them whose early verdict would have differed
     * (any makes the scenario a harness error, exit 3) */
    int early_on, early_stopped, guard_run, guard_disagree;
    char guard_first[HN_TRIAL_SPEC_MAX]; /* the first disagreeing trial's schedule */
    /* snapshot starts: usable snapshots, trials that started from one */
    int snap_count, snap_started;
} hn_scenario_result;

void hn_run_result_free(hn_scenario_result *r);
/* Online CPUs, 1 .. 256: the default -j of run and --cells of mutants. */
int hn_run_online_cpus(void);

/* Callbacks; any may be NULL.  They run in the calling process. */
typedef struct hn_run_hooks {
    void *ctx;
    /* phase: "golden", "discovery", "trace", "trials", "powercut", "done" */
    void (*phase)(void *ctx, const hn_scenario *sc, const char *phase,
                  const hn_scenario_result *r);
    /* after each finished trial */
    void (*trial)(void *ctx, const hn_scenario *sc, const hn_trial_result *t, int done,
                  int total, int failed);
    /* verbose lines (replay): command lines, exit statuses, digests, diffs */
    void (*note)(void *ctx, const char *line);
    /* a line the user should see whatever the verbosity: the fork server
     * could not be used for this scenario, and why */
    void (*notice)(void *ctx, const hn_scenario *sc, const char *line);
} hn_run_hooks;

typedef struct hn_run_opts {
    int jobs;                   /* parallel trials; <= 0: online CPUs */
    const char *workdir;        /* base for work dirs; NULL: /dev/shm, $TMPDIR or /tmp */
    const char *bindir;         /* pipeline binaries and rp-crash.so; NULL: replayproof's dir */
    int keep;                   /* keep every trial's state dir */
    int budget;                 /* > 0: overrides the scenario's budget */
    hn_res *db;                 /* results database, or NULL */
    int64_t run_id;             /* its runs row */
    hn_run_hooks hooks;
    int shard, shards;          /* --shard I/N: run only the trials whose plan index is
                                   I-1 mod N (hn_shard.h); shards <= 1: all of them */
    volatile sig_atomic_t *stop; /* when it becomes non-zero: kill the children, return -EINTR */
    int no_fork_server;         /* trial processes by fork+exec, never through a fork
                                   server (hn_fsrv.h; replay always forks and executes) */
    int no_early_stop;          /* every trial runs to the end (--no-early-stop) */
    int no_snapshots;           /* every trial starts from record 0 (--no-snapshots) */
} hn_run_opts;

void hn_run_opts_init(hn_run_opts *o);

/* Where work dirs go without --workdir: /dev/shm if writable, else $TMPDIR, else /tmp. */
const char *hn_run_default_base(void);

/*
 * Run one scenario to its verdict.  Returns 0 when the harness did its job
 * (the verdict, failures included, is in *r); a negative code when it could
 * not (spawn failure, results database error, interrupted: -EINTR), with eb
 * set.  A golden run that fails is a verdict (HN_SC_ERROR, exit_status 3),
 * not a return code.  *r is filled in both cases; free it with
 * hn_run_result_free.
 */
int hn_run_scenario(const hn_scenario *sc, const hn_run_opts *o, hn_scenario_result *r,
                    pl_errbuf *eb);

/*
 * `replayproof replay`: the golden run, then exactly this trial, verbosely
 * (every command line with its environment, exit statuses, restarts, digests,
 * first differing rows, through hooks.note).  The trial's work dir is always
 * kept.  Returns 0 with *res filled, or a negative code (eb set) when the
 * harness could not run it; *golden_failed is set when the golden run itself
 * failed (then *res is not meaningful).
 */
int hn_run_replay(const hn_scenario *sc, const hn_trial *t, const hn_run_opts *o,
                  hn_trial_result *res, int *golden_failed, pl_errbuf *eb);

#endif
