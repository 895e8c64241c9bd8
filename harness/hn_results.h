/*
 * hn_results.h - the harness's results database: one SQLite file that
 * accumulates every `replayproof run` (runs, scenarios, trials, divergences,
 * fail point hit counts) so that history can be queried with plain SQL.
 * The schema, its version and example queries are in docs/results-schema.md.
 *
 * Only the process that runs the scenarios writes: trial rows are buffered by
 * the caller and written in batches, one transaction per batch
 * (hn_res_begin ... hn_res_commit).  Other processes may read at any time
 * (WAL mode).
 */
#ifndef HN_RESULTS_H
#define HN_RESULTS_H

#include <signal.h>
#include <stdint.h>

#include "pl_err.h"

#define HN_RES_SCHEMA_VERSION 1
#define HN_RES_LINE_MAX 1024 /* stored divergence lines are cut to this many bytes */

typedef struct hn_res hn_res;

/* First differing row of one exported table.  A line of 0 means "none". */
typedef struct hn_res_div {
    char tbl[8];                          /* "bars", "late" or "dlq" */
    int64_t line;                         /* 1-based line in the CSV file; 1 is the header */
    int expected_eof, actual_eof;         /* that side has no such line */
    char expected[HN_RES_LINE_MAX];       /* without LF; cut with "..." when longer */
    char actual[HN_RES_LINE_MAX];
} hn_res_div;

/* One trial as stored.  Strings may be empty; empty digests and state_dir
 * are stored as NULL. */
typedef struct hn_res_trial {
    int64_t seq;                /* index in the scenario's plan */
    const char *crashes;        /* "POINT:K[,POINT:K...]" */
    const char *point;          /* first crash */
    uint64_t k;
    const char *verdict;
    int restarts;
    int64_t duration_ms;
    const char *digest[3];      /* bars, late, dlq: 32 hex, or "" when no export */
    const char *state_dir;      /* kept state dir or "" */
    const char *detail;         /* reason of a failure, "" otherwise */
    int ndiv;
    const hn_res_div *div;
    const char *early;          /* early stop: "stopped", "no-match", "full-run" (a
                                   soundness-guard trial), NULL when off */
    int64_t converged_at;       /* where it converged (stopped, or would have); < 0: NULL */
    int64_t snap_hit;           /* started from the snapshot at this hit; 0: NULL */
} hn_res_trial;

/* A scenario's final row (hn_res_scenario_end). */
typedef struct hn_res_scenario {
    const char *verdict;
    int64_t records;            /* -1 = unknown */
    const char *golden[3];      /* "" = unknown */
    int64_t golden_rows[3];
    const char *batch[3];
    int64_t candidates;         /* trials the fault selection allows before the budget */
    int64_t planned, run, failures;
    int64_t duration_ms;        /* the whole scenario */
    int64_t trials_ms;          /* its trial phase */
    const char *detail;
    const char *workload;       /* a csv log's transform, NULL or "" when none */
} hn_res_scenario;

/*
 * Open (creating it and its directory when missing) the database at path and
 * check or create the schema.  A database of another schema version is
 * PL_ECONFIG; a file that is not SQLite is PL_ECORRUPT; other SQLite failures
 * are PL_EDB.  *out is owned by the caller (hn_res_close).
 */
int hn_res_open(const char *path, hn_res **out, pl_errbuf *eb);
void hn_res_close(hn_res *db);

/*
 * While another process holds the write lock, a write waits up to ms
 * (default 60 000; 0: fail at once; < 0: the default) and then fails
 * -EBUSY with a message saying the database is locked; the wait also ends
 * as soon as *stop (hn_res_set_stop, may be NULL) is set.  Returns the
 * previous wait.
 */
int hn_res_set_wait(hn_res *db, int ms);
void hn_res_set_stop(hn_res *db, volatile sig_atomic_t *stop);

/* A run: argv joined with spaces (words with spaces quoted), the host name,
 * the UTC start time.  hn_res_run_end records the finish time and exit status. */
int hn_res_run_begin(hn_res *db, int argc, char *const argv[], int64_t *run_id, pl_errbuf *eb);
int hn_res_run_end(hn_res *db, int64_t run_id, int exit_status, pl_errbuf *eb);

/* A scenario row with verdict "running"; filled in by hn_res_scenario_end. */
int hn_res_scenario_begin(hn_res *db, int64_t run_id, const char *name, const char *path,
                          int64_t *scenario_id, pl_errbuf *eb);
int hn_res_scenario_end(hn_res *db, int64_t scenario_id, const hn_res_scenario *s,
                        pl_errbuf *eb);

/* Batch transactions for the rows below (they also work outside one, each
 * then in its own implicit transaction).  A failed commit rolls back;
 * hn_res_rollback abandons a batch after a failed insert (never fails). */
int hn_res_begin(hn_res *db, pl_errbuf *eb);
int hn_res_commit(hn_res *db, pl_errbuf *eb);
void hn_res_rollback(hn_res *db);

int hn_res_trial_add(hn_res *db, int64_t scenario_id, const hn_res_trial *t, pl_errbuf *eb);
/* A divergence not tied to a trial (golden run against the batch oracle). */
int hn_res_div_add(hn_res *db, int64_t scenario_id, const hn_res_div *d, pl_errbuf *eb);
int hn_res_hits_add(hn_res *db, int64_t scenario_id, const char *point, uint64_t count,
                    pl_errbuf *eb);

/* One cell of the kill matrix (`replayproof mutants`, table mutants). */
typedef struct hn_res_mutant {
    const char *mutant, *scenario, *path;
    const char *outcome;        /* "caught", "survived", "needs-power-cut" */
    const char *verdict, *how;  /* may be NULL */
    int64_t trials;             /* trials to the first detection (0: the golden run) */
    int64_t duration_ms;
    const char *reproduce, *detail; /* may be NULL */
} hn_res_mutant;

int hn_res_mutant_add(hn_res *db, int64_t run_id, const hn_res_mutant *m, pl_errbuf *eb);

/* One shrunk reproducer (table shrinks, docs/results-schema.md): a failure of
 * `scenario` (with `mutant`'s variant selected, or NULL) cut down by
 * `replayproof shrink` into a standalone scenario and its CSV, stored as
 * their paths and whole texts, with the one command that reproduces it. */
typedef struct hn_res_shrink {
    const char *mutant, *scenario;  /* mutant may be NULL */
    const char *verdict;            /* the failure that stayed the same */
    int64_t records0, records;
    int partitions0, partitions, symbols0, symbols, aggs0, aggs, faults0, faults;
    int attempts, budget_exhausted;
    const char *scenario_path, *scenario_text, *csv_path, *csv_text; /* texts may be NULL */
    const char *trial;              /* the shrunk schedule; NULL for a batch disagreement */
    const char *reproduce;
} hn_res_shrink;

int hn_res_shrink_add(hn_res *db, int64_t run_id, const hn_res_shrink *s, pl_errbuf *eb);

/*
 * Provenance of a run (docs/results-schema.md, tables provenance and
 * run_files).  hn_res_prov_set stores one key = value for the run (replacing
 * an earlier value of that key); hn_res_file_add the XXH3-128 digest (32 hex,
 * or NULL/"" when the file could not be read) and size (-1 unknown) of a file
 * the run used, under a role ("binary", "preload", "scenario", "log", ...),
 * with the scenario name it belongs to or NULL.  Both work inside or outside
 * a batch transaction.
 */
int hn_res_prov_set(hn_res *db, int64_t run_id, const char *key, const char *value,
                    pl_errbuf *eb);
int hn_res_file_add(hn_res *db, int64_t run_id, const char *role, const char *path,
                    const char *scenario, const char *xxh3, int64_t bytes, pl_errbuf *eb);
/*
 * The whole plan of a scenario (table plans): its number of trials and its
 * digest (hn_shard_plan_digest), and which shard of how many this run ran
 * (1 of 1 unsharded; 0 of N for a merge of N shards).
 */
int hn_res_plan_add(hn_res *db, int64_t scenario_id, int64_t trials, const char *xxh3,
                    int shard, int shards, pl_errbuf *eb);
/*
 * Kept state dirs of the run's trials that lie under `from` (the dir itself
 * or below it) now lie under `to`: their trials.state_dir is rewritten, or
 * set to NULL when to is NULL (removed).
 */
int hn_res_state_dir_moved(hn_res *db, int64_t run_id, const char *from, const char *to,
                           pl_errbuf *eb);

#endif
