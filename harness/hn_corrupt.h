/*
 * hn_corrupt.h - damage a pipeline's state dir the way storage damages it,
 * for the `corrupt` fault kind (docs/faults.md).
 *
 * Every kind acts on a state dir left by a crashed (or finished) pipeline
 * process; the pipeline is then restarted on it and must either converge to
 * the uninterrupted run or refuse with one clear line.  Which byte, bit or
 * sector is hit is a pure function of the seed and the file's size, so a
 * trial replays exactly.
 *
 * The kinds are enum hn_corrupt_kind of hn_run.h (names as in [faults]
 * corrupt = ... and in a trial's corrupt:KIND[/SEED]@POINT:K entry):
 *   truncate       the newest checkpoint cut to a seeded length below its size
 *   bitflip        one seeded bit of the newest checkpoint flipped
 *   zero-sector    one seeded 512-byte sector of the newest checkpoint zeroed
 *   delete         the newest checkpoint removed
 *   sink-bitflip   one seeded bit of one page of sink.db (past the first
 *                  page) flipped
 *   foreign-config the state dir replaced by a copy of a donor state dir
 *                  written under another configuration
 *   sink-value-rot one seeded bit of the volume of the newest stored bar
 *                  flipped, the page valid (bit rot SQLite cannot notice):
 *                  a replay of that key must keep the stored row and
 *                  record the conflict, never overwrite it silently
 */
#ifndef HN_CORRUPT_H
#define HN_CORRUPT_H

#include <stddef.h>
#include <stdint.h>

#include "hn_run.h"
#include "pl_err.h"

#define HN_CORRUPT_SECTOR 512

/*
 * Apply one corruption of `kind` to statedir.  seed picks the length, bit
 * or sector; donor is the state dir copied in by foreign-config (ignored by
 * the others, required by it).  what (may be NULL) receives one line saying
 * exactly what was done ("ckpt-0000000000000007: bit 3 of byte 1234
 * flipped").  Returns 0; PL_ENOTFOUND when there is nothing to damage (no
 * checkpoint, no sink.db, an empty file); PL_EUSAGE for a bad kind or a
 * missing donor; -errno of a failed system call.  eb names the step and
 * the path.
 */
int hn_corrupt_apply(const char *statedir, int kind, uint64_t seed, const char *donor,
                     char *what, size_t whatn, pl_errbuf *eb);

/*
 * The sink-value-rot kind on its own; key (may be NULL) receives the
 * damaged row's key as export's bars.csv line starts, "agg,symbol,seq,".
 * Returns as hn_corrupt_apply (PL_ENOTFOUND: no sink.db or no bar).
 */
int hn_corrupt_value_rot(const char *statedir, uint64_t seed, char *key, size_t keyn,
                         char *what, size_t whatn, pl_errbuf *eb);

#endif
