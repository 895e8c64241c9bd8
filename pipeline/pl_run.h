/*
 * pl_run.h - the refpipe driver: reads the log in canonical order, pushes it
 * through the streaming core, and commits results and progress in cycles
 * (sink transaction first, then a checkpoint of state and offsets).
 * The commit protocol and its invariants are at the top of run.c and in
 * docs/commit-protocol.md.
 */
#ifndef PL_RUN_H
#define PL_RUN_H

#include <stdint.h>

#include "pl_config.h"
#include "pl_err.h"
#include "pl_stream.h"

#define PL_DEFAULT_CHECKPOINT_EVERY 1000000ULL

typedef struct pl_run_opts {
    const char *logdir;
    const char *statedir;
    pl_config cfg;               /* finished (pl_config_finish) by the caller */
    uint64_t checkpoint_every;   /* records per commit cycle, >= 1 */
    int discard_state;           /* drop checkpoints and sink written under another config/log */
    /* Called with one human-readable line (no newline) about recovery
     * decisions: which checkpoint was used, which were skipped and why. */
    void (*note)(void *ctx, const char *line);
    void *note_ctx;
    /* Convergence digests (pl_converge.h; both may be NULL).  record_digests:
     * write one line per checkpoint this run commits to that file (truncated
     * when the run starts from zero, appended to when it resumes).
     * converged_digests: after each commit cycle, compare the checkpoint just
     * committed with that file's lines; on a match the run stops there, its
     * work durable, unless converge_go_on asks it only to report the first
     * match (pl_run_result.converged_at) and go on to the end. */
    const char *record_digests;
    const char *converged_digests;
    int converge_go_on;
    /* Keep the sink's content digest in every commit cycle even without the
     * two options above, and start from the digest the sink recorded instead
     * of scanning its rows (PL_SINK_DIGEST_STORED): for state dirs that
     * nothing but kills and runs with this option touched (the caller's
     * promise; docs/semantics.md, "Early stop at convergence"). */
    int trust_sink_digest;
} pl_run_opts;

typedef struct pl_run_result {
    uint64_t records_total;   /* records in the log */
    uint64_t resumed_at;      /* canonical position the run started from */
    uint64_t processed;       /* records pushed by this invocation */
    uint64_t cycles;          /* commit cycles completed by this invocation */
    int already_complete;     /* the state dir held a completed run: nothing done */
    pl_stream_stats stats;    /* stream counters at the end (cumulative) */
    /* converged_digests: 1 when a checkpoint of this run matched a line,
     * at position converged_at (the first one); stopped_early when the run
     * stopped there (the state dir then holds an unfinished run) */
    int converged, stopped_early;
    uint64_t converged_at;
} pl_run_result;

void pl_run_opts_init(pl_run_opts *o);

#ifdef PL_BENCH
/*
 * The benchmark build of run.c only (rp-bench run --null-sink): when set,
 * rows the stream emits are counted and dropped instead of handed to the
 * sink (commit cycles and checkpoints run as usual), so that the benchmark
 * can tell what the sink costs.  refpipe has no such switch.
 */
extern int pl__bench_null_sink;
#endif

/*
 * Run (or resume) to the end of the log.  Returns 0 when the run is complete
 * and durable, or when it stopped at a converged checkpoint
 * (res->stopped_early; its work up to there is durable).  Errors: input problems (pl_err_is_input: bad paths, corrupt
 * log, configuration mismatch, locked state dir) and PL_EIO for failed
 * writes/fsyncs (the state dir then holds the last good checkpoint; a restart
 * recovers).  Nothing is printed; recovery notes go through o->note.
 */
int pl_run(const pl_run_opts *o, pl_run_result *res, pl_errbuf *eb);

/* The fail points compiled into the fault build, for `refpipe faults`. */
typedef struct pl_failpoint {
    const char *name;   /* module/step/when */
    const char *leaves; /* what a crash there leaves on disk */
} pl_failpoint;
extern const pl_failpoint pl_failpoints[];
extern const int pl_nfailpoints;

#endif
