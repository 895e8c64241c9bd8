/*
 * hn_shard.h - sharding a suite across machines (`replayproof run --shard
 * I/N`) and merging the shards' results databases (`replayproof merge`);
 * docs/cli.md "Sharding" and docs/ci.md.
 *
 * A shard runs the whole golden phase of every scenario (golden run, batch
 * oracle, expectations, discovery) and then only the trials it owns: the
 * trial at plan index SEQ belongs to shard SEQ mod N + 1.  The plan is a pure
 * function of the scenario, the binary and the discovered hit counts, so
 * every shard computes the same plan and the N slices are disjoint and cover
 * it; each shard stores the digest of the whole plan (table plans), and
 * merge refuses shards whose plans differ.
 *
 *   shard.c   parsing I/N, ownership, the plan digest, slicing a plan
 *   merge.c   hn_merge: shards' databases -> one new database, atomically
 */
#ifndef HN_SHARD_H
#define HN_SHARD_H

#include <limits.h>
#include <stdint.h>

#include "hn_run.h"
#include "pl_err.h"

#define HN_SHARD_MAX 1000 /* largest N of --shard I/N */

/* Parse "I/N" (decimal, 1 <= I <= N <= HN_SHARD_MAX, nothing else).
 * Returns 0, or PL_EUSAGE with a message naming the text. */
int hn_shard_parse(const char *s, int *index, int *count, pl_errbuf *eb);

/* Does shard index of count own the trial at plan index seq?  count <= 1:
 * every trial. */
static inline int hn_shard_owns(int index, int count, int64_t seq)
{
    return count <= 1 || seq % count == index - 1;
}

/* XXH3-128 (32 hex) of a whole plan: every schedule in plan order, one per
 * line, kills then power cuts.  Equal digests, equal plans.  0 or -ENOMEM. */
int hn_shard_plan_digest(const hn_trial *kills, int nkills, const hn_trial *pcs, int npcs,
                         char hex[33], pl_errbuf *eb);

/*
 * The trials of all[0..n) (plan indexes seq_base + i) that the shard owns,
 * into *out (malloc'd; NULL when none) with their plan indexes in *seqs
 * (malloc'd), *nout of them.  Returns 0 or -ENOMEM.
 */
int hn_shard_slice(const hn_trial *all, int n, int seq_base, int index, int count,
                   hn_trial **out, int **seqs, int *nout, pl_errbuf *eb);

/* What hn_merge found and wrote. */
typedef struct hn_merge_info {
    int shards;                 /* N */
    int merged;                 /* inputs merged */
    char missing[4096];         /* indexes of absent shards, "2,5"; "" when complete */
    int64_t plan_trials;        /* trials of the whole plans, all scenarios */
    int64_t run_trials;         /* trials the merged shards ran */
    int nscenarios;
    int exit_status;            /* what the unsharded run would have exited with (0, 1, 3),
                                   at least 1 when a shard is missing */
    char run_dir[PATH_MAX];     /* the merge's run dir, DIR/runs/<UTC>-<id> beside out
                                   (absolute; `latest` points at it); "" before it is made */
    int pruned;                 /* old run dirs removed from DIR/runs (keep_runs); -1 when
                                   that failed (prune_eb says why; the merge stands) */
    pl_errbuf prune_eb;
} hn_merge_info;

/*
 * Merge the newest run of each database in inputs[0..n) - shards of one
 * suite - into a new results database at out, which must not exist.  The
 * inputs must be finished `replayproof run` runs with the same shard count,
 * distinct shard indexes, the same scenarios (names, plan digests, golden
 * digests) and the same files (replayproof, pipeline binaries, preload,
 * scenario files and logs, by XXH3-128); otherwise PL_EUSAGE naming the
 * first difference and the two files.  The merged database has one run
 * (argv as given, this host), whose scenario rows are what one unsharded
 * run would have stored (docs/cli.md "merge"), and a run dir of its own
 * (info->run_dir, recorded as provenance run_dir) where `report` writes by
 * default, made once the database is complete.  It is built under a
 * temporary name in out's directory, fsync'ed and renamed: out is complete
 * or absent.  Then, with keep_runs > 0, the oldest run dirs of DIR/runs
 * beyond keep_runs are removed as after `run` (hn_rundir_prune), except the
 * merge's own and the shards' run dirs it found (info->pruned).  Returns 0
 * with *info filled, or a negative code (eb set).
 */
int hn_merge(const char *const *inputs, int n, const char *out, int keep_runs, int argc,
             char *const argv[], hn_merge_info *info, pl_errbuf *eb);

#endif
