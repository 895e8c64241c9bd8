/*
 * hn_shrink.h - `replayproof shrink`: minimise a failure while it stays the
 * same failure, into a standalone scenario a reviewer can read.
 *
 * A failure is either a trial (a fault schedule whose verdict is not
 * "converged") or, without a trial, a golden run that disagrees with the
 * batch oracle.  "The same" means the same trial verdict (diverged,
 * conflict, ...), or a batch disagreement whose first differing table is the
 * same.  The reductions, in this order, each kept only when the failure
 * stays the same: drop faults of the schedule (the last first); move the
 * first crash to an earlier hit of its point that still fails (16 hits
 * spread below it, the first failing one); drop aggregations; cut the log to its shortest failing prefix (bisection);
 * drop partitions (renumbering the ones above); drop symbols; cut the
 * prefix again.  Every attempt is one replay of the candidate; the number
 * of attempts is bounded by a budget, and the order of attempts is fixed,
 * so the result is deterministic for deterministic failures.
 *
 * Library code: progress goes through an optional note callback.
 */
#ifndef HN_SHRINK_H
#define HN_SHRINK_H

#include "hn_run.h"
#include "hn_scenario.h"

typedef struct hn_shrink_opts {
    const char *outdir;   /* where NAME-shrunk.ini and its CSV go (created) */
    const char *workdir;  /* base for the replays' work dirs (emptied after each) */
    int budget;           /* attempts at most (> 0) */
    const hn_trial *trial; /* the failing trial, or NULL: a batch disagreement */
    int known_verdict;    /* with trial: its verdict (enum hn_verdict) as already seen
                             by the caller, or 0: replay the original scenario to learn it */
    void (*note)(void *ctx, const char *line);
    void *note_ctx;
    volatile sig_atomic_t *stop;
} hn_shrink_opts;

typedef struct hn_shrink_result {
    int reproduced;         /* the original failure reproduced on the CSV form */
    char verdict[64];       /* what stayed the same */
    int attempts;           /* replays run */
    int budget_exhausted;   /* the budget ended before every reduction was tried */
    int64_t records0, records;   /* log size before and after */
    int partitions0, partitions, symbols0, symbols, aggs0, aggs, faults0, faults;
    char scenario[4096];    /* the written scenario file */
    char csv[4096];         /* and its log */
    char trial[HN_TRIAL_SPEC_MAX]; /* the shrunk schedule ("" for a batch disagreement) */
} hn_shrink_result;

/*
 * Shrink the failure of sc.  Returns 0 with *res filled (res->reproduced 0:
 * nothing was written, the failure did not reproduce in CSV form), or a
 * negative code (harness failure, -EINTR) with eb set.
 */
int hn_shrink(const hn_scenario *sc, const hn_shrink_opts *o, hn_shrink_result *res,
              pl_errbuf *eb);

#endif
