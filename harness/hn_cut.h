/*
 * hn_cut.h - crash states from a recorded file-system trace (the power-cut
 * explorer's model).
 *
 * rp-trace.so records what a process did under its state dir (format in
 * faults/ft_trace.h).  From that one run, hn_cut_build rebuilds offline the
 * contents the dir could have after a power cut before trace record `pos`,
 * under a persistence model (enum hn_pc_model in hn_run.h):
 *
 *   strict        a file's data (writes, truncations) are durable at a
 *                 successful fsync/fdatasync of that file; a directory
 *                 entry (create, rename, link, unlink, mkdir, rmdir) at a
 *                 successful fsync of its directory; sync() makes all
 *                 durable; nothing else survives.  After a failed fsync the
 *                 file's unsynced data count as lost, even if a later fsync
 *                 succeeds.
 *   keep-some     strict plus a seeded subset of the operations still
 *                 unsynced at the cut, applied in trace order (POSIX orders
 *                 nothing unsynced, so every subset is a state it allows); a
 *                 rename is kept or lost as a whole.
 *   torn          strict plus one seeded unsynced write kept partly: each of
 *                 its 512-byte sectors (aligned to the file) kept or not,
 *                 at least one kept and, with two or more, one lost.
 *   ext4-ordered  a weaker model: namespace operations become durable in
 *                 trace order at every successful fsync of anything (the
 *                 journal commit), and a rename that becomes durable takes
 *                 the renamed file's data written before it along
 *                 (auto_da_alloc); other data as strict.
 *
 * Library code: nothing printed; errors in a pl_errbuf.
 */
#ifndef HN_CUT_H
#define HN_CUT_H

#include <stddef.h>
#include <stdint.h>

#include "pl_err.h"

typedef struct hn_cut_trace hn_cut_trace;

/* Load PATH and PATH.data.  A trace cut short in the middle of a record is
 * taken up to its last whole record.  Returns 0 or a negative code (eb). */
int hn_cut_load(const char *path, hn_cut_trace **out, pl_errbuf *eb);
void hn_cut_free(hn_cut_trace *t);

/* Records in the trace; cut positions run from 0 to this (a cut at pos
 * keeps the effects of records [0, pos)). */
uint64_t hn_cut_nrecords(const hn_cut_trace *t);

/* The position of the K-th hit of fail point `point` (the cut lands when
 * the process reaches the point), or -1 when the trace has no such hit. */
int64_t hn_cut_hit_pos(const hn_cut_trace *t, const char *point, uint64_t k);

/* The position of the j-th hit (1-based) of `point` after record `from`,
 * counting the records themselves (several processes appending to one
 * trace number their hits each from 1); -1 when the trace has fewer. */
int64_t hn_cut_hit_after(const hn_cut_trace *t, uint64_t from, const char *point, uint64_t j);

/* The position of the first record of the trace that is a failed fsync or
 * fdatasync, or -1 when none failed. */
int64_t hn_cut_first_failed_sync(const hn_cut_trace *t);

/*
 * The newest checkpoint the traced run reported complete before the cut at
 * pos: the seqno in the name (`ckpt-` and 16 hex digits) of the last rename
 * into such a name that precedes the last hit of `ckpt/done/after` in
 * records [0, pos] (a cut at a hit lands when the process has reached it).
 * refpipe reaches that point only once the checkpoint file and its
 * directory entry are fsync'd, so a recovery from this cut must not resume
 * from an older one.  0 when no checkpoint was complete.
 */
uint64_t hn_cut_durable_ckpt(const hn_cut_trace *t, uint64_t pos);

/* 1 when record pos is a fail point hit (name into out, its hit number
 * into *k), else 0. */
int hn_cut_hit_at(const hn_cut_trace *t, uint64_t pos, char *out, size_t n, uint64_t *k);

/* A fail point hit at or just before pos: its name and hit number, for
 * describing a cut ("" and 0 when none). */
void hn_cut_describe(const hn_cut_trace *t, uint64_t pos, char *out, size_t n);

/*
 * The distinct crash states a model allows at the cut candidates: before
 * and after every fsync, fdatasync, rename and unlink, and at every libfiu
 * point hit.  Positions whose crash state under `model` cannot differ from
 * the previous candidate's are left out (nothing that model could keep
 * changed in between).  *pos is malloc'd (caller frees), ascending.
 */
int hn_cut_candidates(const hn_cut_trace *t, int model, uint64_t **pos, size_t *n,
                      pl_errbuf *eb);

/* What a built state holds. */
typedef struct hn_cut_info {
    uint64_t files, dirs, bytes;   /* in the crash state */
    uint64_t unsynced;             /* operations still unsynced at the cut */
    uint64_t kept;                 /* of those, kept by keep-some or torn */
    uint64_t hash;                 /* of names, types and contents */
} hn_cut_info;

/*
 * Build the crash state at pos under model (seed: keep-some's subset,
 * torn's write and sectors) and, when dir is not NULL, write it into dir,
 * which must not exist or be empty (created as needed).  Fills *info when
 * not NULL.  Returns 0 or a negative code (eb).
 */
int hn_cut_build(const hn_cut_trace *t, uint64_t pos, int model, uint64_t seed,
                 const char *dir, hn_cut_info *info, pl_errbuf *eb);

#endif
