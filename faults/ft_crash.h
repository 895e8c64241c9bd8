/*
 * ft_crash.h - what the files of rp-crash.so share (not an interface of the
 * library: its interface is the environment, docs/faults.md).
 */
#ifndef FT_CRASH_H
#define FT_CRASH_H

/* crash.c: parse RP_FIU_* from the current environment and arm libfiu; at
 * most once per process, before main.  Exits with status 2 and one line on
 * stderr when a variable is malformed. */
__attribute__((visibility("hidden"))) void ft__configure(void);

#endif
