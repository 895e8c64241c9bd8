/*
 * hn_mutants.h - `replayproof mutants`: run scenarios against every broken
 * variant ("mutant") of the pipeline and build the kill matrix.
 *
 * The pipeline's fault build lists its variants (`BINARY unsafe`, one
 * "NAME  description" line each) and selects one through the environment
 * variable REFPIPE_UNSAFE=NAME.  A cell of the matrix is one scenario run
 * with that variable added to the scenario's [pipeline] env, judged exactly
 * as `replayproof run` judges it; by default the cell stops at the first
 * failing trial, or right after the golden run when it already disagrees
 * with batch.  A mutant is caught by a scenario when the scenario fails
 * (any scenario verdict but "converged" that is not a harness error).  The
 * kill depth of a mutant is the number of scenarios that catch it.
 *
 * Library code: nothing is printed except by hn_mut_print, which writes the
 * matrix to the stream it is given (the command's presentation layer).
 */
#ifndef HN_MUTANTS_H
#define HN_MUTANTS_H

#include <stdint.h>
#include <stdio.h>

#include "hn_run.h"
#include "hn_scenario.h"

#define HN_MUT_NAME_MAX 64

/* One variant listed by `BINARY unsafe`. */
typedef struct hn_mutant {
    char name[HN_MUT_NAME_MAX];
    char what[512];
    int power_cut_only; /* revealed only by a power cut (lost unsynced writes) */
} hn_mutant;

/* The outcome of one mutant x scenario cell. */
enum hn_mut_outcome {
    HN_MUT_SURVIVED = 0, /* the scenario passed with the mutant */
    HN_MUT_CAUGHT,       /* the scenario failed */
    HN_MUT_NEEDS_POWER_CUT, /* survived a scenario without power cuts, and only a power
                              cut can reveal it */
    HN_MUT_NOT_RUN       /* not run: the mutant was already caught --depth times */
};

typedef struct hn_mut_cell {
    int outcome;          /* enum hn_mut_outcome */
    char verdict[32];     /* the scenario verdict, or the first failing trial's */
    char how[HN_TRIAL_SPEC_MAX];        /* "trial 3 (ckpt/done/after:2)", "golden run vs batch", ... */
    int trials;           /* trials run until the first detection (0: before any) */
    int64_t ms;           /* wall time of the cell */
    char reproduce[8192]; /* one command, runnable from the project root */
    char detail[1024];
    char notice[512];     /* the first line the run wanted the user to see (the fork
                             server could not be used, and why), "" if none */
} hn_mut_cell;

/*
 * The variants the binary lists (`BINARY unsafe`).  *out is malloc'd (caller
 * frees), *n their number (0 for a build without variants).  Returns 0 or a
 * negative code with eb set (the binary cannot be run, or prints nonsense).
 */
int hn_mut_list(const char *binary, hn_mutant **out, int *n, pl_errbuf *eb);

typedef struct hn_mut_opts {
    hn_run_opts run;      /* jobs, workdir, bindir, budget; db and hooks are set per cell */
    int all_trials;       /* run every planned trial instead of stopping at the first failure */
    const char *replayproof; /* how the reproducer names replayproof ("bin/replayproof") */
} hn_mut_opts;

/*
 * Run scenario sc with mutant m (NULL: the unmodified pipeline, the
 * baseline) into *cell.  Returns 0 when the harness did its job (the outcome
 * is in *cell), or a negative code: a harness failure, -EINTR when *stop
 * (may be NULL) became non-zero.  With a mutant, a scenario that already
 * sets REFPIPE_UNSAFE is refused (PL_EUSAGE).
 */
int hn_mut_run_cell(const hn_scenario *sc, const hn_mutant *m, const hn_mut_opts *o,
                    volatile sig_atomic_t *stop, hn_mut_cell *cell, pl_errbuf *eb);

/* The matrix, cells run side by side in worker processes (hn_fpool.h). */
typedef struct hn_mut_matrix {
    const hn_scenario *scs;   /* the columns */
    int nsc;
    const hn_mutant *ms;      /* the rows; NULL: one row, the unmodified pipeline */
    int nm;
    int depth;                /* > 0: a row stops at its depth-th catch; its other cells
                                 are HN_MUT_NOT_RUN */
    int cells;                /* cells at once (worker processes, >= 1) */
    const int64_t *cost;      /* per scenario, what a whole run of it took (ms; the
                                 baseline), or NULL: the order of the cells */
    /* each finished cell, in the order they finish; a negative return stops the
     * matrix (running cells are stopped) with that code */
    int (*done)(void *ctx, int i, int j, const hn_mut_cell *c);
    void *ctx;
} hn_mut_matrix;

/*
 * Run the cells of mx into cells[i * nsc + j] (nm x nsc, or 1 x nsc for the
 * baseline).  Every cell is the same hn_mut_run_cell as run alone, in a
 * worker process of its own, up to mx->cells at once; only the order
 * differs, and what a cell finds does not depend on it:
 *   - without depth, every cell runs; those of the costliest scenarios start
 *     first, so that the last to finish are short ones;
 *   - with depth, a row runs one cell at a time (its catches are counted in
 *     order, so that it stops at exactly its depth-th catch) and rows run side
 *     by side; a row's next cell is the scenario that has caught the most
 *     rows so far (then the cheapest, then the first given), so the cells
 *     left out ('.') depend on the finishing order of earlier rows, while the
 *     kill depth reported, min(depth, the scenarios that catch it), does not.
 * Returns 0 when every cell ran or was left out by depth; a negative code
 * (a cell's harness failure, done's code, -EINTR) with eb set.
 */
int hn_mut_run_matrix(const hn_mut_matrix *mx, const hn_mut_opts *o,
                      volatile sig_atomic_t *stop, hn_mut_cell *cells, pl_errbuf *eb);

/* Kill depth of mutant i: cells[i * nsc + j] caught, over j. */
int hn_mut_depth(const hn_mut_cell *cells, int nsc, int i);

/*
 * The matrix on out: one row per mutant (a column per scenario: trials to
 * the first detection, or '-' survived, or 'power-cut?' when only a power
 * cut can reveal it), its kill depth, then per caught cell the verdict, the
 * time and the reproducer.
 */
void hn_mut_print(FILE *out, const hn_mutant *ms, int nm, const hn_scenario *scs, int nsc,
                  const hn_mut_cell *cells);

#endif
