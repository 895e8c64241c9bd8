/*
 * ft_crash.h - what the files of rp-crash.so share (not an interface of the
 * library: its interface is the environment, docs/faults.md).
 */
#ifndef FT_CRASH_H
#define FT_CRASH_H

#include <stddef.h>
#include <stdint.h>

/* crash.c: parse RP_FIU_* from the current environment and arm libfiu; at
 * most once per process, before main.  Exits with status 2 and one line on
 * stderr when a variable is malformed. */
__attribute__((visibility("hidden"))) void ft__configure(void);

/* RP_FIU_SNAP, RP_FIU_SNAP_DIR, RP_FIU_SNAP_OUT (snap.c). */
typedef struct ft_snap_cfg {
    const char *point; /* the exact point name whose hits are marked */
    uint64_t every;    /* copy the state dir at every EVERY-th hit; 0: never */
    const char *dir;   /* the state dir */
    const char *out;   /* where marks and copies go */
} ft_snap_cfg;

/* snap.c: hit number HIT of cfg->point happened: append the marks line
 * (LEN bytes, newline included) to OUT/marks, and copy the state dir to
 * OUT/HIT when HIT is a multiple of cfg->every.  Best effort: a failure
 * leaves no OUT/HIT, which the harness reads as "no snapshot here". */
__attribute__((visibility("hidden"))) void ft__snap_hit(const ft_snap_cfg *cfg, uint64_t hit,
                                                        const char *marks_line, size_t len);

#endif
