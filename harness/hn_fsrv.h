/*
 * hn_fsrv.h - the harness's end of a fork server: a program under test
 * started once with rp-crash.so acting as its fork server (protocol:
 * faults/ft_fsrv.h), which then forks a fresh child running the program's
 * main for every process the harness asks for.  No exec, no dynamic
 * loading per process.
 *
 * One server runs one child at a time; the harness keeps one per trial
 * slot.  A child is killed through its server (which has not reaped it, so
 * its pid and process group cannot have been reused) and its wait status
 * comes back over the socket.  Library code: nothing is printed.
 */
#ifndef HN_FSRV_H
#define HN_FSRV_H

#include <spawn.h>
#include <stdint.h>
#include <sys/types.h>

#include "pl_err.h"

typedef struct hn_fsrv hn_fsrv;

/*
 * Whether bin can host a fork server: a regular, executable ELF file with
 * a program interpreter (dynamically linked), not set-user-ID or
 * set-group-ID (the loader ignores LD_PRELOAD there).  Returns 1 when it
 * can, 0 when not with the reason in why ("a script (#!), not an ELF
 * binary", ...).
 */
int hn_fsrv_usable(const char *bin, char *why, size_t nwhy);

/* What every child of the harness starts with, fork server or not: its
 * own process group (a timeout kills the whole tree), default signal
 * dispositions and an empty mask, whatever the harness uses itself. */
void hn_fsrv_spawnattr(posix_spawnattr_t *at);

/*
 * Start bin as a fork server: envp is its whole environment and must
 * preload rp-crash.so; stdin /dev/null, stdout and stderr to logpath; its
 * own process group; handshake within handshake_ns.  Returns 0 with *out;
 * 1 when the server cannot be used (why: one phrase, such as "bin exited
 * with status 127 before the handshake"; its stderr is in logpath), nothing
 * left running; a negative code (eb) when the harness itself failed.
 */
int hn_fsrv_start(const char *bin, char *const envp[], const char *logpath,
                  int64_t handshake_ns, hn_fsrv **out, char *why, size_t nwhy, pl_errbuf *eb);

/* The program the server runs (as given to hn_fsrv_start). */
const char *hn_fsrv_bin(const hn_fsrv *s);

/*
 * Run the program's main in a new child: argv (argv[0] as the program
 * sees it), envp its whole environment, stdin /dev/null, stdout to outpath
 * and stderr to errpath (NULL: outpath), created or truncated, mode 0644,
 * working directory the caller's.  Returns 0 with *pid, or a negative code:
 * the server's errno when it could not open a file or fork, PL_EIO when the
 * server is gone.  At most one child per server at a time.
 */
int hn_fsrv_spawn(hn_fsrv *s, char *const argv[], char *const envp[], const char *outpath,
                  const char *errpath, pid_t *pid, pl_errbuf *eb);

/* The control socket: readable once the running child has ended. */
int hn_fsrv_fd(const hn_fsrv *s);

/* SIGKILL the running child and its process group (no-op when none). */
void hn_fsrv_kill(hn_fsrv *s);

/*
 * The running child's wait status, waiting up to timeout_ns for it (the
 * server reports it as soon as it has reaped the child and killed what was
 * left in its process group).  Returns 0, or PL_EIO (eb) when the server
 * died or did not answer: the child is then killed.
 */
int hn_fsrv_wait(hn_fsrv *s, int64_t timeout_ns, int *status, pl_errbuf *eb);

/* Stop the server (a running child is killed first), reap it, free s.
 * NULL is a no-op. */
void hn_fsrv_stop(hn_fsrv *s);

#endif
