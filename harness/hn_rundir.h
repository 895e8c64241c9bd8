/*
 * hn_rundir.h - the run directory: where one `replayproof run` leaves what
 * people look at afterwards (docs/reports.md).
 *
 *   RUNS/<UTC time>-<6 hex>/          one per run; RUNS is out/runs by default
 *     index.html junit.xml summary.md  the report (reports/)
 *     <scenario>/scenario.ini          the scenario file as it was run
 *     <scenario>/golden/{bars,late,dlq}.csv  the golden export (plots, diffs by hand)
 *     <scenario>/batch/{...}.csv       refpipe batch's tables, when they disagreed
 *     <scenario>/trials/<seq>/         kept state dirs of failing trials
 *   RUNS/latest -> <the newest run dir>
 *
 * Work dirs stay on tmpfs while a scenario runs (fast); afterwards what is
 * kept is moved here under a size cap and the work dir is removed, so
 * nothing of a run stays in /dev/shm.
 */
#ifndef HN_RUNDIR_H
#define HN_RUNDIR_H

#include <stddef.h>
#include <stdint.h>

#include "hn_results.h"
#include "hn_run.h"
#include "hn_scenario.h"
#include "pl_err.h"

#define HN_RUNDIR_KEEP_MAX_MB 512  /* default cap on what one run dir keeps */
#define HN_RUNDIR_KEEP_RUNS 20     /* default number of run dirs kept */

/*
 * Create RUNS/<UTC yyyymmddTHHMMSSZ>-<6 hex>/ (RUNS created as needed) and
 * point RUNS/latest at it (replaced atomically).  out gets its absolute path.
 * Returns 0 or -errno with eb set.
 */
/* cp -R of regular files, directories and symlinks (others are skipped);
 * `to` may exist.  Used for run dirs and for snapshot starts (snap.c). */
int hn_rundir_copy_tree(const char *from, const char *to, pl_errbuf *eb);
/* Bytes of the regular files under path (symlinks not followed). */
int64_t hn_rundir_tree_bytes(const char *path);
int hn_rundir_create(const char *runs, char *out, size_t n, pl_errbuf *eb);

/*
 * The folder of scenario index i of scs in the run dir: RUNDIR/NAME, or
 * RUNDIR/NAME.2, .3, ... for a name that an earlier scenario of the run has.
 */
void hn_rundir_scenario(const char *rundir, const hn_scenario *scs, int i, char *out, size_t n);

/* Copy the scenario file into DIR/scenario.ini (DIR created). */
int hn_rundir_save_scenario(const char *dir, const hn_scenario *sc, pl_errbuf *eb);

/*
 * Copy the golden export (WORKDIR/golden/export/{bars,late,dlq}.csv) and,
 * with with_batch, refpipe batch's tables (WORKDIR/batch) into DIR/golden and
 * DIR/batch, unless already there or over *budget (decremented).
 */
int hn_rundir_keep_tables(const char *dir, const char *workdir, int with_batch, int64_t *budget,
                          pl_errbuf *eb);

/*
 * After a scenario: move what its work dir kept (r->workdir) into DIR: the
 * golden and batch tables, then each kept trial dir, oldest plan index
 * first, while the bytes moved stay within *budget (decremented); a trial
 * dir over budget is deleted and its trials.state_dir set to NULL.  Then
 * the work dir is removed.  r->workdir and r->failures[].state_dir are
 * rewritten to where things now are ("" when deleted), and the database's
 * trials.state_dir likewise (db may be NULL).  *dropped counts trial dirs
 * deleted over the cap.  Returns 0 or -errno/database error (eb set); the
 * work dir is removed in every case.
 */
int hn_rundir_keep(const char *dir, hn_scenario_result *r, hn_res *db, int64_t run_id,
                   int64_t *budget, int *dropped, pl_errbuf *eb);

/*
 * Remove the oldest run dirs of RUNS so that at most keep remain (never
 * the one named current).  *removed gets how many went.  Only names of the
 * run dir form are touched.
 */
int hn_rundir_prune(const char *runs, int keep, const char *current, int *removed,
                    pl_errbuf *eb);
/* The same, never removing a run dir named by the last component of one of
 * spare[0..nspare) (a merge spares its own and the shards' run dirs that its
 * database names). */
int hn_rundir_prune_but(const char *runs, int keep, const char *const *spare, int nspare,
                        int *removed, pl_errbuf *eb);

#endif
