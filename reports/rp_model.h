/*
 * rp_model.h - one run of the results database as the report writers see
 * it: loaded once (read-only) by rp_model_load, then only read.
 *
 * Everything is owned by the rp_run and freed by rp_model_free.  Strings
 * are never NULL unless said so; text from the database is kept as bytes
 * (it may hold anything: the writers escape it).
 */
#ifndef RP_MODEL_H
#define RP_MODEL_H

#include <stdint.h>

#include "pl_err.h"

/* Trial verdicts as stored; RP_V_OTHER counts anything else. */
enum { RP_V_CONVERGED = 0, RP_V_DIVERGED, RP_V_CONFLICT, RP_V_CRASH_LOOP, RP_V_HANG,
       RP_V_NOT_REACHED, RP_V_ERROR, RP_V_OTHER, RP_NV };
extern const char *const rp_verdicts[RP_NV];
int rp_verdict_index(const char *name);

typedef struct rp_div {
    char tbl[8];
    int64_t line;
    char *expected, *actual;   /* NULL: that file has no such line */
} rp_div;

typedef struct rp_trial {
    int64_t id, seq, k, duration_ms;
    char *crashes, *point, *verdict;
    char *state_dir, *detail;  /* "" when NULL in the database */
    int restarts, v;           /* v: rp_verdict_index(verdict) */
    int ndiv;
    rp_div div[3];
    int group;                 /* index into rp_scn.groups; -1 for converged */
    int early;                 /* early stop: 0 off or no match, 1 stopped, 2 soundness
                                  guard (ran in full) */
    int64_t converged_at;      /* where it converged (stopped, or would have); -1 */
} rp_trial;

/* Failures that share their first difference (or, without one, their verdict
 * and first crash point). */
typedef struct rp_group {
    int first;                 /* index of its first trial (lowest seq) */
    int count;
    int *members;              /* trial indexes, in seq order */
} rp_group;

typedef struct rp_hit {
    char *point;
    int64_t count;             /* hits counted by discovery */
    int64_t tried;             /* distinct k of trials whose first crash is here */
    int by_v[RP_NV];           /* trials whose first crash is here, by verdict */
} rp_hit;

typedef struct rp_hist {
    int64_t run_id, scenario_id, trials_run, failures, trials_ms;
    char *started, *verdict, *commit; /* commit "" when unknown */
    int dirty;                 /* -1 unknown */
} rp_hist;

typedef struct rp_scn {
    int64_t id;
    char *name, *path, *verdict, *detail, *started;
    int64_t records, rows[3], candidates, planned, run, failures, duration_ms, trials_ms;
    char *golden[3], *batch[3];
    int ntrials, nfailed;
    rp_trial *trials;          /* seq order */
    int ngroups;
    rp_group *groups;          /* largest first, then by first seq */
    int nhits;
    rp_hit *hits;
    int nbdiv;
    rp_div bdiv[3];            /* golden run against refpipe batch */
    int by_v[RP_NV];
    int early_stopped, guard_run; /* trials that stopped at convergence; guard trials */
    int snap_started;             /* trials that started from a snapshot copy */
    int nhist;
    rp_hist *hist;             /* runs of this scenario name, oldest first, this one included */
    char *config;              /* the scenario file's text as kept in the run dir, or NULL */
    char *dir;                 /* its folder in the run dir, or NULL */
} rp_scn;

typedef struct rp_kv {
    char *key, *value;
} rp_kv;

typedef struct rp_file {
    char *role, *path, *scenario, *xxh3; /* scenario, xxh3: "" when NULL */
    int64_t bytes;             /* -1 unknown */
} rp_file;

/* One cell of a kill matrix (table mutants of `replayproof mutants`). */
typedef struct rp_mut {
    char *mutant, *scenario, *outcome;   /* outcome: caught, survived, needs-power-cut */
    char *verdict, *how, *reproduce;     /* "" when NULL */
    int64_t trials, duration_ms;
} rp_mut;

/* One shrunk reproducer of the kill matrix's run (table shrinks). */
typedef struct rp_shrink {
    char *mutant, *scenario, *verdict;   /* "" when NULL */
    int64_t records0, records;
    int partitions0, partitions, symbols0, symbols, aggs0, aggs, replays, exhausted;
    char *scenario_path, *scenario_text, *reproduce; /* "" when NULL */
} rp_shrink;

typedef struct rp_run {
    int64_t id;
    char *started, *finished, *argv, *host; /* finished "" while running */
    int exit_status;           /* -1 unknown */
    int nprov;
    rp_kv *prov;
    int nfiles;
    rp_file *files;
    int nscn;
    rp_scn *scn;
    char *run_dir;             /* provenance run_dir, or NULL */
    int64_t mut_run;           /* the run the kill matrix comes from (this one when it
                                  was a `replayproof mutants` run, else the latest such
                                  run before it); 0: none */
    int nmut;
    rp_mut *mut;               /* its cells, by mutant then scenario */
    int nshr;
    rp_shrink *shr;            /* the shrunk reproducers of that run, by id */
    char *db_path;
} rp_run;

/*
 * Load run run_id (0: the newest run) from the database at db_path, opened
 * read-only.  Returns 0; PL_ENOTFOUND when the file or the run does not
 * exist; PL_ECORRUPT / PL_EDB for a file that is not a results database.
 */
int rp_model_load(const char *db_path, int64_t run_id, rp_run **out, pl_errbuf *eb);
void rp_model_free(rp_run *r);

/* The newest run whose run dir (provenance run_dir) is run_dir (an absolute
 * path, as realpath gives it).  PL_ENOTFOUND when none is. */
int rp_model_find_run(const char *db_path, const char *run_dir, int64_t *run_id, pl_errbuf *eb);

/* Provenance value of key, or NULL. */
const char *rp_prov(const rp_run *r, const char *key);
/* One sentence on sharding into buf (n bytes): which shard of a `run
 * --shard` this run is, or which shards a merge holds and its coverage.
 * Returns 0 (unsharded; buf ""), 1, or 2 for a merge with shards missing. */
int rp_shard_text(const rp_run *r, char *buf, size_t n);

/* Fields of a CSV line into f[0..max) (pointers into a copy in *buf, which
 * the caller frees); no quoting (the exports never quote).  Returns the
 * number of fields. */
int rp_csv_split(const char *line, char **buf, char **f, int max);
/* The header of an exported table ("bars", "late", "dlq"), or NULL. */
const char *rp_table_header(const char *tbl);
/* A whole file read into a malloc'd NUL-terminated string, cut after the
 * first read that passes max bytes; NULL when it cannot be read. */
char *rp_read_file(const char *path, size_t max);

#endif
