/*
 * ft_fsrv.h - the fork server's control protocol, shared by rp-crash.so
 * (faults/forksrv.c, the server inside the program under test) and the
 * harness (harness/fsrv.c, the client).
 *
 * The harness starts the program with rp-crash.so preloaded and
 * FT_FSRV_ENV_FD naming one end of a Unix stream socket.  The preload
 * answers HELLO before the program's main would run, then serves one
 * request at a time:
 *
 *   harness                      server
 *   REQ + body          ->                 fork; the child runs main
 *                       <-  STARTED        pid (or 0 and an errno)
 *   KILL pid            ->                 (optional: timeout, interrupt)
 *                       <-  EXITED         pid and wait status, once reaped
 *
 * A request's body is NUL-terminated strings: the working directory, the
 * stdout path, the stderr path ("" = stdout's file), argc argv words and envc
 * environment entries ("KEY=VALUE", the child's whole environment).  Every
 * message starts with an ft_fsrv_msg in host byte order (both ends run on
 * one machine).  EOF on the socket stops the server; a child still running
 * is killed with its process group first.
 */
#ifndef FT_FSRV_H
#define FT_FSRV_H

#include <stdint.h>

#define FT_FSRV_ENV_FD "RP_FORKSRV_FD"  /* the control socket's descriptor number */
/* Testing the harness's fallback: the server kills itself (SIGKILL) right
 * after reporting its N-th child, i.e. it dies between two requests.  Only
 * the test variant of the library (compiled with -DFT_FSRV_TEST_HOOKS, the
 * Makefile's testbin) honours it; the shipped rp-crash.so ignores it. */
#define FT_FSRV_ENV_DIE "RP_FORKSRV_DIE_AFTER"
#define FT_FSRV_MAGIC 0x52504653u       /* "RPFS" */
#define FT_FSRV_VERSION 1
#define FT_FSRV_MAX_BODY (1u << 20)     /* a request's strings, at most */
#define FT_FSRV_MAX_WORDS 4096          /* argc + envc, at most */

enum ft_fsrv_type {
    FT_FSRV_HELLO = 1, /* a: protocol version, b: server pid */
    FT_FSRV_REQ,       /* a: argc, b: envc, len: body bytes that follow */
    FT_FSRV_STARTED,   /* a: child pid, or 0 with b: errno */
    FT_FSRV_EXITED,    /* a: child pid, b: wait status */
    FT_FSRV_KILL       /* a: child pid: SIGKILL it and its process group */
};

typedef struct ft_fsrv_msg {
    uint32_t magic;
    uint32_t type;
    int32_t a, b;
    uint32_t len;
} ft_fsrv_msg;

#endif
