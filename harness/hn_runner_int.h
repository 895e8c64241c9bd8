/*
 * hn_runner_int.h - what the files of `replayproof run` share (not a public
 * interface: hn_run.h is).
 *
 *   plan.c     fault schedules as text, the planner, the seeded PRNG
 *   procs.c    files and text helpers; child processes: environment, spawn
 *              into an own process group, pidfd waits with deadlines, kill
 *   judge.c    verdict names, export digests, table comparison, first diff
 *   trials.c   the per-trial state machine (a slot: run, restart, export)
 *   snap.c     snapshot starts: kill trials from a copy of the discovery
 *              run's state at a checkpoint
 *   pool.c     the parallel pool of slots and the results-database batches
 *   runner.c   scenario orchestration: golden, discovery, hn_run_scenario,
 *              hn_run_replay
 *
 * ctx is one scenario's context, built by runner.c and read by the rest;
 * a slot is one trial in flight; a pool is the set of slots of one scenario.
 */
#ifndef HN_RUNNER_INT_H
#define HN_RUNNER_INT_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "hn_fsrv.h"
#include "hn_run.h"
#include "pl_fs.h"

#define MAX_ARGS 64
#define DB_BATCH 256          /* trial rows per results transaction, at most */
#define DB_FLUSH_NS 1000000000LL /* ... or this long since the last one */
#define KEEP_FAILURES 1000    /* failing trials listed in the summary */
#define POLL_MAX_MS 200       /* wake up at least this often (stop flag, hooks) */

/* "bars", "late", "dlq": the three tables of an export, in digest order. */
extern const char *const hn__tbl_name[3];

typedef struct hn__snaps hn__snaps;
struct hn__fsrv_slot;            /* a slot's fork servers (procs.c) */

typedef struct ctx {
    const hn_scenario *sc;
    hn_cut_trace *cut;            /* the recorded trace, for power cuts; NULL if none */
    const hn_run_opts *o;
    pl_errbuf *eb;
    int verbose;                  /* replay: describe every process */
    int keep;
    char bin[PATH_MAX];           /* the pipeline binary */
    char preload[PATH_MAX];       /* rp-crash.so */
    char tracelib[PATH_MAX];      /* rp-trace.so (power cuts) */
    char dir[PATH_MAX];           /* this scenario's work dir */
    char logdir[PATH_MAX];
    char gold_out[PATH_MAX];      /* golden export: bars.csv late.csv dlq.csv */
    char *pargs[MAX_ARGS];        /* options for `run` */
    int npargs;
    char *bargs[MAX_ARGS];        /* the same without --checkpoint-every, for `batch` */
    int nbargs;
    char **env;                   /* inherited environment + scenario env */
    int nenv;
    char golden[3][33];
    int64_t golden_rows[3];
    int64_t timeout_ns;
    int max_restarts;
    /* "ASAN_OPTIONS=...verify_asan_link_order=0", given with the preload: an
     * AddressSanitizer build refuses to start when a preloaded library comes
     * before its runtime, unless told not to check */
    char asan_env[512];
    char donor[PATH_MAX];         /* foreign-config corruption: a state dir of another
                                     configuration ("" until made) */
    struct hn__fsrvs *fs;         /* fork servers, per slot and preload, and what they ran
                                     (procs.c); NULL in a replay: fork+exec */
    char conv[PATH_MAX];          /* the golden run's convergence digests; "" when early
                                     stop is off or the pipeline cannot do it */
    int trust_digest;             /* the pipeline has --trust-sink-digest: given to the
                                     processes of kill-only trials, their snapshots'
                                     discovery run and probes (trials.c) */
    int guard_all;                /* every trial is a soundness-guard trial (replay) */
    hn__snaps *snaps;             /* snapshot starts (snap.c); NULL: every trial from 0 */
    char snap_point[HN_POINT_MAX + 1]; /* the point snapshots are taken at */
} ctx;

typedef struct proc {
    pid_t pid;
    int pidfd;                 /* readable when it ended: its pidfd, or for a fork
                                  server's child the server's socket (not owned) */
    int64_t t0, deadline;
    hn_fsrv *srv;              /* the fork server it runs under; NULL: our own child */
} proc;
enum { PH_IDLE = 0, PH_RUN, PH_EXPORT };

typedef struct slot {
    int idx;                   /* its place in the pool: which fork server it uses */
    int phase;
    const hn_trial *t;
    hn_trial_result res;
    int nproc;                 /* run processes started */
    int unplanned;             /* deaths that were not an armed crash */
    char unplanned_what[800];
    char notes[256];           /* later armed crashes that were not reached */
    int discard;               /* the next run gets --discard-state (after a refusal) */
    int refused;               /* refusals after a corruption so far */
    int guard;                 /* soundness guard: run in full, check the early verdict */
    int discards_cut;          /* --discard-state processes killed by their armed crash */
    int pc_check;              /* the process (0-based) whose recovery a power cut
                                  left to judge (hn__lost_progress), or -1 */
    uint64_t pc_durable;       /* the newest checkpoint complete before the cut */
    int pc_late;               /* the processes run traced until one completes; then
                                  the trial's last entry, a power cut, is built from
                                  their trace (fs.trace in the trial dir) */
    char rot_key[256];         /* sink-value-rot: the damaged bar's "agg,symbol,seq,"
                                  ("" when none); judged by hn__judge_rot */
    uint64_t snap_hit;         /* started from the snapshot at this hit of the snapshot
                                  point (snap.c), 0: from record 0 */
    uint64_t snap_k;           /* ... and its first crash armed at this hit instead */
    int snap_redo;             /* run again from record 0: 1 the trial as planned (it did
                                  not converge from a snapshot), 2 its double-crash form
                                  (alt: it converged as planned) */
    int snap_v1;               /* ... and the verdict and detail of the first run */
    uint64_t snap_h1;          /* its snapshot's hit (0: this is no such second run) */
    uint64_t snap_k1;          /* and the hit its first crash was armed at there */
    char snap_d1[400];
    int snap_alt;              /* this run is the double-crash form */
    hn_trial alt;              /* the double-crash form: a kill at the snapshot point's
                                  hit snap_h1, then the planned faults, the first at
                                  snap_k1 */
    char snap_plan[HN_TRIAL_SPEC_MAX]; /* the planned trial, as text */
    int64_t t0;
    long trace_lines;
    proc p;
    char dir[PATH_MAX], state[PATH_MAX], out[PATH_MAX], trace[PATH_MAX], log[PATH_MAX];
} slot;
typedef struct pool {
    const ctx *c;
    hn_scenario_result *r;
    int64_t scenario_id;
    int seq_base;               /* plan index of trials[0] (trial dirs, results rows) */
    const int *seqs;            /* or, when set, the plan index of each trial (a shard) */
    hn_trial_result *pending;   /* finished, not yet in the database */
    int npending, cap;
    int64_t last_flush;
    int done, total, failed;
} pool;

/* snap.c: after a discovery run under RP_FIU_SNAP=POINT:EVERY, probe its
 * copies and set c->snaps.  The number of usable copies, or a negative code. */
int hn__snaps_prepare(ctx *c, const char *point);
/* The snapshot a kill at POINT:K starts from: 1 with *hit and *k2 (the hit
 * to arm in the restored process), 0 when it starts from record 0, or a
 * negative code.  Probes a copy the first time a trial wants it, through
 * slot sl's fork server when it has one (sl may be NULL). */
int hn__snap_pick(const ctx *c, struct hn__fsrv_slot *sl, const char *point, uint64_t k,
                  uint64_t *hit, uint64_t *k2);
/* Copy the snapshot taken at hit into the state dir. */
int hn__snap_restore(const ctx *c, uint64_t hit, const char *state);
/* Free, and remove the copies. */
void hn__snaps_free(hn__snaps *sn);

/* procs.c: helpers */
int64_t hn__now_ns(void);
/* Whole file, NUL-terminated, malloc'd; NULL with errno set on failure. */
char *hn__slurp(const char *path, size_t *len);
/* The last few lines of a file as one line (" | " between lines). */
void hn__tail_of(const char *path, char *out, size_t n);
/* Newlines in a file (0 when missing). */
long hn__count_lines(const char *path);

/* procs.c: child processes */
/* A verbose line (replay only) through hooks.note. */
void hn__note(const ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* c->env: the inherited environment without the harness's own variables,
 * plus the scenario's env. */
int hn__env_init(ctx *c);
/* A process as a shell line: the scenario's variables, extra, argv. */
void hn__describe(const ctx *c, char *out, size_t n, char *const argv[], char *const extra[],
                  int nextra);
/* Preloads of a process, in the one order every start uses (rp-trace.so
 * first: it must see the fsync that libfiu's POSIX preload fails).  Of the
 * HN_PRE_* bits in `which`. */
enum { HN_PRE_TRACE = 1, HN_PRE_CRASH = 2, HN_PRE_POSIX = 4 };
/* "LD_PRELOAD=" and the libraries of `which`, ':'-separated, into out;
 * -ENAMETOOLONG when it does not fit. */
int hn__preload(const ctx *c, unsigned which, char *out, size_t n);
/* Start argv with the base environment plus extra, stdin /dev/null, stdout to
 * outpath, stderr to errpath (NULL: outpath), in a new process group, with a
 * pidfd and a deadline of now + the scenario's timeout. */
int hn__spawn(const ctx *c, char *const argv[], char *const extra[], int nextra,
              const char *outpath, const char *errpath, proc *p);
/* The same through one of slot sl's fork servers when one can run it (the
 * pipeline binary, preloading nothing, rp-crash.so, or rp-crash.so and
 * libfiu's POSIX preload); otherwise (or sl NULL) as hn__spawn. */
int hn__spawn_in(const ctx *c, struct hn__fsrv_slot *sl, char *const argv[],
                 char *const extra[], int nextra, const char *outpath, const char *errpath,
                 proc *p);
/* Collect an exited (or killed) child and close its pidfd. */
int hn__reap(const ctx *c, proc *p, int *status);
/* SIGKILL the child's process group and the child. */
void hn__kill_tree(proc *p);
/* Kill and collect a child whose status nobody needs (interrupt, cleanup). */
void hn__abandon(const ctx *c, proc *p);
/* Fork servers for n slots (started when a slot first needs one), unless
 * off (--no-fork-server) or the environment rules them out (then one
 * notice).  0 or -ENOMEM. */
int hn__fsrvs_init(ctx *c, int n, int off);
/* Trial processes started through a server and by fork+exec so far. */
void hn__fsrvs_count(const ctx *c, int64_t *nsrv, int64_t *nexec);
/* Slot idx's fork servers (one per preload set, each started when first
 * needed); NULL when every process is to be forked and executed (no
 * servers, or they could not be started: the first failure of each kind is
 * reported through hooks.notice, once). */
struct hn__fsrv_slot *hn__slot_srv(const ctx *c, int idx);
/* Stop every server. */
void hn__fsrvs_free(ctx *c);
/* Wait for one child, killing it at its deadline (*timed_out = 1). */
int hn__wait_sync(const ctx *c, proc *p, int *status, int *timed_out);
/* "60s" or "1500ms". */
void hn__dur_text(int64_t ns, char *out, size_t n);
/* "exited with status 2", "killed by SIGKILL", ... */
void hn__status_text(int st, char *out, size_t n);
/* Run a command to completion; a timeout is *timed_out with the tree killed. */
int hn__run_sync(const ctx *c, char *const argv[], char *const extra[], int nextra,
                 const char *outpath, const char *errpath, int *status, int *timed_out);
/* The same through one of slot sl's fork servers when one can run it (as
 * hn__spawn_in), not counted among the trial processes. */
int hn__run_sync_in(const ctx *c, struct hn__fsrv_slot *sl, char *const argv[],
                    char *const extra[], int nextra, const char *outpath, const char *errpath,
                    int *status, int *timed_out);

/* plan.c */
/* splitmix64 step, and uniform in [0, n) for n > 0. */
uint64_t hn__mix_next(uint64_t *s);
uint64_t hn__mix_below(uint64_t *s, uint64_t n);

/* judge.c */
/* The "<32hex>  bars.csv  N rows" lines of an export or batch; 0 when all
 * three tables were found. */
int hn__parse_digests(const char *path, char dig[3][33], int64_t rows[3]);
/* First differing line of two CSV files: 1 with *d filled, 0 identical, -1
 * when one cannot be read. */
int hn__first_diff(const char *expected, const char *actual, const char *tbl, hn_res_div *d);
void hn__note_div(const ctx *c, const hn_res_div *d);
/* Compare an export dir with the golden one; fills div[] for each table
 * whose digest differs.  Returns the number of differing tables. */
int hn__compare_tables(const ctx *c, const char *outdir, char dig[3][33], hn_res_div div[3],
                       int *ndiv);
/* A sink-value-rot trial's export in outdir against the golden export gold
 * (key: the damaged row's
 * "agg,symbol,seq,"; conflict: export exited 1): HN_V_CONVERGED when every
 * table equals the golden one but for that row, kept as it was damaged
 * (detail says whether its replay was recorded as a conflict);
 * HN_V_SILENT_OVERWRITE when the row is back to the golden value and no
 * conflict was recorded; -1 when anything else differs (judge as usual). */
int hn__judge_rot(const char *gold, const char *outdir, const char *key, int conflict,
                  char *detail, size_t dn);

/* trials.c */
/* Start trial t (plan index seq) on an idle slot: fresh dir, first process. */
int hn__trial_start(const ctx *c, slot *s, int seq, const hn_trial *t);
/* The slot's current process ended (or timed out): advance the trial. */
int hn__on_exit_slot(const ctx *c, slot *s, int timed_out);

/* ftrials.c: what an I/O-error or corruption fault does when a run process
 * of a slot ends with wait status st (an I/O error is armed with
 * RP_FIU_FAIL; a corruption damages the state after its armed kill).
 * Returns HN_FX_NONE to go on with the usual handling, HN_FX_RESTART,
 * HN_FX_EXPORT, HN_FX_FINISH (verdict in *verdict), or <0 for a harness
 * failure. */
enum { HN_FX_NONE = 0, HN_FX_RESTART, HN_FX_EXPORT, HN_FX_FINISH };
int hn__fault_exit(const ctx *c, slot *s, int st, int *verdict);

/* ftrials.c: the fault process i (0-based) of t is armed with, or NULL.  A
 * power cut is no process's: a first one is done before process 0 (the
 * processes after it take the rest), a last one after the traced processes
 * that the entries before it arm. */
const hn_fault *hn__armed_fault(const hn_trial *t, int i);

/* ftrials.c: after a power cut, the first process's recovery must resume
 * from the newest checkpoint complete before the cut (s->pc_durable) or a
 * newer one: 1 (with the verdict and detail in s->res) when it resumed from
 * an older one or from the start, else 0.  st: its wait status. */
int hn__lost_progress(const ctx *c, slot *s, int st);

/* pool.c */
/* Run trials[0..n) on `jobs` slots.  Returns 0 or a harness failure. */
int hn__run_pool(pool *pl, const hn_trial *trials, int n, int jobs);

#endif
