/*
 * tutil.h - small helpers shared by the Check suites: temporary directories,
 * running the project's binaries through the shell, reading files.
 * Test code only; failures here abort the test with ck_abort_msg.
 */
#ifndef TUTIL_H
#define TUTIL_H

#include <stddef.h>

/* Create a fresh temporary directory; returns a malloc'd absolute path. */
char *tu_tmpdir(void);
/* rm -rf path (test scratch only). */
void tu_rmrf(const char *path);
/* A --workdir for harness runs: a fresh directory on tmpfs when there is
 * one (as replayproof's default), else TMP/work; n bytes at out.
 * tu_workdir_close removes what tu_workdir_open made. */
void tu_workdir_open(char *out, size_t n, const char *tmp);
void tu_workdir_close(const char *work);
/* A harness test's scratch: tmp (scenario files, outputs), work (its
 * --workdir, tu_workdir_open) and db (tmp/out/results.db). */
typedef struct tu_env {
    char *tmp;
    char work[512];
    char db[600];
} tu_env;
void tu_env_open(tu_env *e);
void tu_env_close(tu_env *e);
/* An executable stand-in pipeline dir/name: `body` runs first, then every
 * command is handed to refpipe-fiu.  Returns its malloc'd path. */
char *tu_script(const char *dir, const char *name, const char *body);
/* A scenario behind a stand-in pipeline, in dir: dir/wrap (tu_script with
 * `body`) and dir/s.ini named `name`, 600 ticks on 2 partitions and a cycle
 * per 100 records, run through ./wrap, `faults` as its [faults] lines. */
void tu_wrapped_scenario(const char *dir, const char *name, const char *body,
                         const char *faults);
/* Absolute path of a project binary ("refpipe", "replayproof", ...); static buffer per call site is NOT kept: copy it. */
const char *tu_bin(const char *name);
/* The same in the tests' bin dir, whose rp-crash.so has its test hooks
 * (RP_FORKSRV_DIE_AFTER): replayproof, refpipe-fiu, rp-trace.so, rp-crash.so. */
const char *tu_testbin(const char *name);
/*
 * Run a shell command built from fmt.  Returns the exit status, or 128+signal
 * when killed by a signal.  stdout/stderr go where the test's go unless the
 * command redirects them.
 */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * The golden fixture of the crash suites, in dir: `replayproof gen GEN`
 * into in.csv, `refpipe import IMPORT` into log, an uninterrupted
 * `refpipe run RUN` into golden, exported into gexp with its digests in
 * golden.d; with batch (not NULL) also `refpipe batch BATCH` into bexp with
 * its digests in batch.d, which must be the same as golden.d.
 */
void tu_golden(const char *dir, const char *gen, const char *import, const char *run,
               const char *batch);
/* Start `sh -c cmd` (use exec in cmd so that the pid is the program's);
 * returns the pid. */
int tu_spawn_sh(const char *cmd);
/* Milliseconds of CLOCK_MONOTONIC. */
long long tu_now_ms(void);
/* SIGTERM to pid, then wait for it: returns its exit status and sets *ms
 * to the time from the signal to its exit.  Still running after 20 s
 * (then killed) or ended by a signal: the test fails, naming `what`. */
int tu_term_wait(int pid, const char *what, long long *ms);
/* Read a whole file (NUL-terminated, malloc'd); NULL if it cannot be read. */
char *tu_slurp(const char *path, size_t *len);
/* Write text to path (created/truncated). */
void tu_write(const char *path, const char *text);
/* The first number the sqlite3 shell prints for sql on DIR/DB (its output
 * goes through DIR/q). */
long long tu_query_int(const char *dir, const char *db, const char *sql);

#endif
