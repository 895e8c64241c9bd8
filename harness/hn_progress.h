/*
 * hn_progress.h - what `replayproof run` shows while it works and when it is
 * done: a progress bar redrawn in place on a terminal (trials done/total,
 * trials/s, ETA), plain lines at most every few seconds otherwise, a line per
 * failing trial as it happens, and a summary per scenario with one
 * reproducer command per failing trial.
 *
 * This is the command line's presentation layer: unlike the libraries it
 * writes to the streams main hands it.  The hn_prog_phase and hn_prog_trial
 * functions have the signatures of hn_run_hooks and take the hn_prog as ctx.
 */
#ifndef HN_PROGRESS_H
#define HN_PROGRESS_H

#include <stdio.h>

#include "hn_run.h"

typedef struct hn_prog hn_prog;

/*
 * out: the stream for progress (stderr); tty: redraw a bar in place
 * (isatty(fileno(out))); quiet: show nothing while running.  NULL when out of
 * memory.
 */
hn_prog *hn_prog_new(FILE *out, int tty, int quiet);
void hn_prog_free(hn_prog *p);

void hn_prog_phase(void *ctx, const hn_scenario *sc, const char *phase,
                   const hn_scenario_result *r);
void hn_prog_trial(void *ctx, const hn_scenario *sc, const hn_trial_result *t, int done,
                   int total, int failed);
/* hooks.notice: "NAME: line" (also when quiet), the bar cleared first. */
void hn_prog_notice(void *ctx, const hn_scenario *sc, const char *line);

/*
 * The end-of-scenario summary on out: verdict, golden and batch digests,
 * hit counts, trials by verdict, time and rate; for each failing trial its
 * verdict, reason, kept state dir and first differing row, and a line
 * `replayproof replay SCENARIO --trial SPEC` that reproduces it.
 */
void hn_prog_summary(FILE *out, const hn_scenario *sc, const hn_scenario_result *r);

#endif
