/*
 * hn_fpool.h - a pool of forked worker processes for independent pieces of
 * harness work (the mutants' cells, their shrinks): each task runs in a
 * child of its own and hands back a fixed-size result through a pipe.
 *
 * A task is a whole scenario run (golden phase, discovery, trials), which
 * leaves one of two CPUs idle for much of its time: its golden phase is
 * sequential, and its trial pool drains one slot at a time at the end.  Two
 * such runs side by side fill those gaps.  Separate processes rather than
 * threads because a scenario run owns process-wide things (its children,
 * signal dispositions, fork servers).
 *
 * The parent chooses which task starts next (next) and sees each result as
 * it arrives (done), so a schedule can depend on the results so far.  Tasks
 * must not touch what the parent owns (an open SQLite connection: the child
 * never uses it, and leaves with _exit so nothing of the parent's is flushed
 * or closed twice).
 */
#ifndef HN_FPOOL_H
#define HN_FPOOL_H

#include <signal.h>
#include <stddef.h>

#include "pl_err.h"

typedef struct hn_fpool {
    int workers;           /* tasks at once (>= 1) */
    size_t res_size;       /* bytes of one result */
    void *ctx;
    /* parent: the task to start next (>= 0); HN_FPOOL_WAIT when none can start
     * before a running one finishes; HN_FPOOL_DONE when none is left */
    int (*next)(void *ctx);
    /* child: run the task, its result into res (res_size bytes, zeroed) */
    void (*run)(void *ctx, int task, void *res);
    /* parent: the task's result, in the order tasks finish; a negative return
     * ends the pool (running tasks are stopped) with that code */
    int (*done)(void *ctx, int task, const void *res);
    volatile sig_atomic_t *stop; /* when it becomes non-zero: stop the workers, -EINTR */
} hn_fpool;

#define HN_FPOOL_WAIT (-1)
#define HN_FPOOL_DONE (-2)

/*
 * Run tasks until next says HN_FPOOL_DONE and every started one has
 * finished.  Returns 0; a negative code from done; -EINTR when *stop became
 * non-zero (the workers get SIGTERM and are waited for); or an OS error, or
 * PL_EIO when a worker ended without a whole result (killed, crashed), with
 * eb set.  Every worker has been waited for when it returns.
 */
int hn_fpool_run(const hn_fpool *p, pl_errbuf *eb);

#endif
