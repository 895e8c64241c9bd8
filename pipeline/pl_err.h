/*
 * pl_err.h - error codes and error buffers shared by every refpipe module.
 *
 * Functions return int: 0 on success, a negative code on failure.  OS failures
 * are returned as -errno; the project's own codes live in a reserved range
 * (-1000 .. -1099) and are generated, with their strings, from one X-macro
 * table.  Library code never prints or exits: it fills a pl_errbuf that the
 * caller passes in, naming the step, the path and the cause.
 */
#ifndef PL_ERR_H
#define PL_ERR_H

#include <signal.h>
#include <stddef.h>

/* name, value, message */
#define PL_ERR_MAP(X)                                                        \
    X(USAGE,    -1001, "invalid argument")                                   \
    X(FORMAT,   -1002, "malformed input")                                    \
    X(CORRUPT,  -1003, "corrupt data")                                       \
    X(CONFIG,   -1004, "configuration mismatch")                             \
    X(LOCKED,   -1005, "state directory in use")                             \
    X(IO,       -1006, "I/O failure")                                        \
    X(DB,       -1007, "database error")                                     \
    X(CONFLICT, -1008, "sink conflict")                                      \
    X(EXISTS,   -1009, "already exists")                                     \
    X(NOTFOUND, -1010, "not found")                                          \
    X(LIMIT,    -1011, "limit exceeded")                                     \
    X(PARTIAL,  -1012, "partial state")

enum {
#define PL_ERR_ENUM(name, val, msg) PL_E##name = (val),
    PL_ERR_MAP(PL_ERR_ENUM)
#undef PL_ERR_ENUM
};

/* One message of at most 511 bytes; empty when no error was recorded. */
typedef struct pl_errbuf {
    char msg[512];
} pl_errbuf;

/* Static string for a code (project code or -errno). Never NULL. */
const char *pl_strerror(int code);

/*
 * Record a formatted message in eb (eb may be NULL) and return code, so that
 * callers can write `return pl_err(eb, PL_EFORMAT, "line %zu: ...", n);`.
 * errno is preserved.
 */
int pl_err(pl_errbuf *eb, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Like pl_err for an OS failure: appends ": <strerror(err)>" and returns -err.
 * `err` is a positive errno value.
 */
int pl_err_os(pl_errbuf *eb, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True for codes that mean "the user's input is bad" (exit status 2). */
int pl_err_is_input(int code);

/*
 * A stop request: a program's SIGINT/SIGTERM handler sets it, and the long
 * loops (import, run, export, batch) look at it every few thousand records
 * and return -EINTR through their normal error path, which removes their
 * temporaries.  Never reset by the library.
 */
extern volatile sig_atomic_t pl_stop;

/* pl_stop as an error: -EINTR with "STEP: interrupted" in eb, or 0. */
int pl_check_stop(pl_errbuf *eb, const char *step);

#endif
