/*
 * pl_unsafe.h - deliberately broken variants of refpipe ("mutants"), for
 * proving that the harness catches real failure classes.
 *
 * Each variant is a few lines behind `if (pl_unsafe(PL_UNSAFE_X))` at the
 * place the real bug would be.  They exist only in the fault build
 * (-DFIU_ENABLE): there pl_unsafe() reads one global bit mask; in the plain
 * build it is the constant 0, so the compiler removes every broken branch
 * and pl_unsafe_set() refuses any name.
 *
 * The registry is one X-macro table: ID, the name users give to
 * `refpipe-fiu --unsafe=NAME` (or REFPIPE_UNSAFE=NAME[,NAME...]), and the
 * real-world failure it models (listed by `refpipe-fiu unsafe`).  Add an
 * entry only together with the code behind it: a name that changes nothing
 * would make the harness look better than it is.
 */
#ifndef PL_UNSAFE_H
#define PL_UNSAFE_H

#include "pl_err.h"

#define PL_UNSAFE_MAP(X)                                                              \
    X(OFFSETS_BEFORE_SINK, "offsets-before-sink",                                     \
      "each cycle's checkpoint (offsets and state) is made durable before its sink "  \
      "commit, with no sink cut check: a crash between the two skips the cycle's "    \
      "rows for good")                                                                \
    X(NONDET_REPLAY, "nondeterministic-replay",                                       \
      "a resumed process computes VWAP differently from the first one (state that "   \
      "depends on crash history): replayed rows conflict with the committed ones")     \
    X(OFFSET_OFF_BY_ONE, "offset-off-by-one",                                         \
      "checkpoints store each partition's last consumed offset instead of the next "  \
      "one to read (the classic consumer commit bug): a resume would read a record "  \
      "twice; refpipe's checkpoint check refuses to resume instead")                  \
    X(RB_NOT_SAVED, "reorder-buffer-not-saved",                                       \
      "the reorder buffer is left out of the checkpoint (events held back for "       \
      "disorder live only in memory): a restart loses every buffered event")          \
    X(IDLE_NOT_SAVED, "idle-state-not-saved",                                         \
      "per-partition idleness timers are not checkpointed: after a restart every "    \
      "partition looks as if it had just spoken, so an idle one holds the "           \
      "watermark back again and different events come out late")                      \
    X(COUNTERS_RESET, "counters-reset-on-restore",                                    \
      "the running counters of open tick/volume/dollar bars (trades, volume, "        \
      "notional) restart from zero on restore: the bar open at the checkpoint "       \
      "loses its earlier events and closes at the wrong event")                       \
    X(SEQ_NOT_RESTORED, "bar-seq-not-restored",                                       \
      "data-driven bar numbers (seq per aggregation and symbol) restart from 0 on "   \
      "restore: bars after a restart reuse keys of committed bars")                   \
    X(WALLCLOCK_IDLENESS, "wallclock-idleness",                                       \
      "partition idleness measured on the wall clock of the processing host instead " \
      "of ingest time: replaying a log faster than real time never sees an idle "     \
      "partition, and results depend on processing speed")                            \
    X(WALLCLOCK_WINDOW, "wallclock-window",                                           \
      "bars stamped with the processing time at which they are emitted (end_ns "      \
      "from the wall clock) instead of their event-time end: results depend on "      \
      "when the job ran")                                                             \
    X(UNSEEDED_TIEBREAK, "unseeded-tiebreak",                                         \
      "events with equal event times released in an order drawn from an unseeded "    \
      "random number instead of log position: open, close and data-driven bar "       \
      "boundaries differ from run to run")                                            \
    X(FLOAT_VWAP, "float-vwap",                                                       \
      "VWAP computed from the notional in double precision and truncated, as code "   \
      "summing price*qty in doubles does, instead of exact 128-bit half-up "          \
      "rounding: many bars are off by one unit of 1e-8")                              \
    X(WATERMARK_MAX, "watermark-max",                                                 \
      "the global watermark taken as the max over partitions instead of the min: "    \
      "windows fire before slower partitions have delivered their events, which "     \
      "then come out late")                                                           \
    X(LATE_LT, "late-lt",                                                             \
      "an event is late when t < W instead of t <= W: an event exactly on the "       \
      "watermark is buffered although its windows may have fired")                    \
    X(POISON_RETRY, "poison-retry",                                                   \
      "a poison message is parsed again up to 3 times in memory and then dropped "    \
      "without a dead-letter row: bad input disappears silently")                     \
    X(BATCH_WM_ON_TIME, "batch-on-watermark-on-time",                                 \
      "the batch recomputation takes an event exactly on the watermark (t == W) as "  \
      "on time (`t < W` for `t <= W`): it disagrees with the stream only on logs "    \
      "that have such an event")                                                     \
    X(WAL_AUTOCHECKPOINT, "wal-autocheckpoint",                                       \
      "the sink as SQLite sets it up by default: automatic and close-time WAL "       \
      "checkpoints whose fsync errors are swallowed, no durable checkpoint at open, "  \
      "no sink cut check; a WAL fsync that failed leaves frames the restart builds "  \
      "on, and a power cut then loses rows under newer checkpoints")                  \
    X(DISCARD_NONATOMIC, "discard-nonatomic",                                         \
      "--discard-state unlinks checkpoints then sink files, and a restart trusts the " \
      "checkpoints without checking the sink's own cut: killed in between, the stale " \
      "sink's rows are exported under the new configuration")                         \
    X(NO_CHECKSUM, "no-checksum",                                                     \
      "recovery restores the newest checkpoint without verifying its checksum: a "   \
      "torn or bit-flipped checkpoint (a bad sector, a stray write) is loaded and "   \
      "its wrong state exported with exit 0")                                        \
    X(COMMIT_ERROR_IGNORED, "commit-error-ignored",                                   \
      "a failed sink COMMIT is logged, the cycle's checkpoint written anyway and the " \
      "run carries on with a new connection: the cycle's rows are lost, exit 0")      \
    X(FSYNC_RETRY, "fsync-retry",                                                     \
      "a failed fsync is retried and the run carries on when the retry succeeds; on " \
      "Linux the failed pages may already be clean and dropped, so the retry proves " \
      "nothing (PostgreSQL's fsyncgate)")                                             \
    X(PLAIN_INSERT, "plain-insert",                                                   \
      "the sink appends bars without a key: every row a replay re-emits after a "     \
      "crash is stored again (duplicates)")                                           \
    X(BLIND_UPSERT, "blind-upsert",                                                   \
      "the sink overwrites a row whose key exists (INSERT OR REPLACE): a replay that " \
      "differs replaces the committed row silently instead of being a conflict")      \
    X(CHECKPOINT_BEFORE_EMIT, "checkpoint-before-emit",                               \
      "bars that fired are held in memory and written in the cycle after the "        \
      "checkpoint whose state no longer holds them: a crash in between loses them")   \
    X(IN_PLACE_CHECKPOINT, "in-place-checkpoint",                                     \
      "the newest checkpoint file is truncated and rewritten in place instead of a "  \
      "temp file renamed over it: a write that fails or is cut short destroys the "   \
      "last good checkpoint")

enum {
#define PL_UNSAFE_ENUM(id, name, what) PL_UNSAFE_##id,
    PL_UNSAFE_MAP(PL_UNSAFE_ENUM)
#undef PL_UNSAFE_ENUM
    PL_UNSAFE__COUNT
};

/* The selected variants, one bit per id.  Set once at start-up, before any
 * pipeline work; read everywhere through pl_unsafe(). */
extern unsigned long long pl_unsafe_mask;

#ifdef FIU_ENABLE
#define pl_unsafe(id) ((pl_unsafe_mask >> (id)) & 1ull)
#else
#define pl_unsafe(id) 0
#endif

/*
 * Select the variants named in LIST ("a,b,c"; an empty string selects none)
 * in addition to those already selected.  Returns 0, or PL_EUSAGE with a
 * message naming the unknown entry, or saying that the plain build has no
 * unsafe variants.
 */
int pl_unsafe_set(const char *list, pl_errbuf *eb);

/* Name and description of variant id (0 <= id < PL_UNSAFE__COUNT); NULL
 * outside that range. */
const char *pl_unsafe_name(int id);
const char *pl_unsafe_what(int id);

/* 1 in the fault build (variants can be selected), 0 in the plain build. */
int pl_unsafe_available(void);

#endif
