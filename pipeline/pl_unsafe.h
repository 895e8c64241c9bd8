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
      "commit: a crash between the two skips the cycle's rows for good")              \
    X(NONDET_REPLAY, "nondeterministic-replay",                                       \
      "a resumed process computes VWAP differently from the first one (state that "   \
      "depends on crash history): replayed rows conflict with the committed ones")   \
    X(BATCH_WM_ON_TIME, "batch-on-watermark-on-time",                                 \
      "the batch recomputation takes an event exactly on the watermark (t == W) as "  \
      "on time (`t < W` for `t <= W`): it disagrees with the stream only on logs "    \
      "that have such an event")

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
