/*
 * hn_faults.h - the I/O-error and corruption fault kinds of a scenario
 * ([faults] io-errors, io-budget, corrupt, corrupt-budget; docs/faults.md):
 * their names, and the planner that adds their trials after the kills
 * (harness/fplan.c).
 *
 * An I/O error fails the K-th call of a libfiu point with an errno: the
 * POSIX calls through libfiu's preload (posix/io/..., counted by the
 * discovery run like any point), or a fail point of the pipeline itself.
 * A corruption kills at a fail point, damages the state dir
 * (hn_corrupt.h) and restarts.
 */
#ifndef HN_FAULTS_H
#define HN_FAULTS_H

#include <stddef.h>
#include <stdint.h>

#include "hn_run.h"
#include "hn_scenario.h"

/* libfiu's POSIX preload library (Debian's fiu-utils). */
#define HN_POSIX_PRELOAD "/usr/lib/fiu/fiu_posix_preload.so"

/*
 * The fail point of an io-errors call name s[0..n): write, pwrite, fsync,
 * fdatasync, rename, write-short, pwrite-short (libfiu's POSIX points;
 * *-short shortens the call instead of failing it), or any point name with a
 * '/' taken as it is.  Returns 0 with point filled, or -1.
 */
int hn_ioerr_point(const char *s, size_t n, char *point, size_t pn);

/* 1 when point is one of libfiu's POSIX preload's (posix/, libc/, linux/): it
 * needs the preload, and is no kill point unless a pattern names it. */
int hn_ioerr_is_posix(const char *point);

/* A decimal of 1 to 19 digits in s[0..n) into *v: 0, or -1 when it is not one
 * (empty, a non-digit, or over UINT64_MAX). */
int hn_parse_u64(const char *s, size_t n, uint64_t *v);

/* errno of "EIO", "ENOSPC", ... or a decimal 1..4095 in s[0..n); -1 if not. */
int hn_errno_parse(const char *s, size_t n);

/* The corruption named s[0..n) (hn_corrupt_name's names), or -1. */
int hn_corrupt_parse(const char *s, size_t n);

/*
 * Append the I/O-error and corruption trials of sc to *trials (realloc'd;
 * *n updated).  counts: the discovery run's count file ("NAME COUNT"
 * lines; the POSIX points are in it when sc has io-errors).  pts: the
 * selected kill points (a corruption's kill is one of them).  Each io-errors
 * entry gets an even share of io-budget, its hits spread from the first to
 * the last; each corruption kind an even share of corrupt-budget, kill
 * points taken in turn, hits spread, the seed the trial's index.
 * Deterministic.  Returns 0 or -ENOMEM.
 */
int hn__plan_io_corrupt(const hn_scenario *sc, const char *counts, const hn_point *pts,
                        int npts, hn_trial **trials, int *n, pl_errbuf *eb);

#endif
