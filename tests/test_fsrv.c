/*
 * test_fsrv.c - the fork server (rp-crash.so's server, harness/fsrv.c's
 * client).  Each process run through a server is compared with the same
 * process started directly by posix_spawn (written here, independent of
 * the harness's spawn code): exit status, stdout, stderr, the crash or
 * failure of an armed point at the same hit.  A script or a static binary
 * cannot host a server and says why; a program that ignores the preload is
 * caught at the handshake; a hung child is killed through the server with
 * what it started; nothing (process or descriptor) outlives a server.
 * Scenario level: a run through fork servers gives the trials, verdicts and
 * digests of a run with --no-fork-server, and an ELF wrapper that leaves a
 * child behind or hangs ignoring SIGTERM is handled through the server as
 * it is by fork+exec.  A server that dies between requests hands the rest
 * of the scenario to fork+exec with one line, verdicts unchanged.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hn_fsrv.h"
#include "tutil.h"

extern char **environ;

static char *dir;
static hn_fsrv *srv;
static char preload[4200];

static void setup(void)
{
    dir = tu_tmpdir();
    srv = NULL;
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", tu_bin("rp-crash.so"));
}

static void teardown(void)
{
    hn_fsrv_stop(srv);
    srv = NULL;
    tu_rmrf(dir);
    free(dir);
}

/* environ without RP_FIU_*, LD_PRELOAD and REFPIPE_*, plus up to four
 * entries (NULL ends them); malloc'd array, borrowed strings */
static char **mkenv(const char *a, const char *b, const char *c, const char *d)
{
    const char *add[] = {a, b, c, d};
    int n = 0;
    char **env;
    for (char **e = environ; *e; e++)
        n++;
    env = calloc((size_t)n + 5, sizeof *env);
    ck_assert_ptr_nonnull(env);
    n = 0;
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "RP_FIU_", 7) && strncmp(*e, "LD_PRELOAD=", 11) &&
            strncmp(*e, "REFPIPE_", 8))
            env[n++] = *e;
    for (int i = 0; i < 4 && add[i]; i++)
        env[n++] = (char *)add[i];
    env[n] = NULL;
    return env;
}

static void path(char *out, const char *name)
{
    snprintf(out, 4200, "%s/%s", dir, name);
}

static hn_fsrv *start(const char *bin)
{
    char log[4200], why[1024];
    char **env = mkenv(preload, NULL, NULL, NULL);
    pl_errbuf eb = {{0}};
    hn_fsrv *s = NULL;
    int rc;
    path(log, "server.log");
    rc = hn_fsrv_start(bin, env, log, 20000000000LL, &s, why, sizeof why, &eb);
    free(env);
    ck_assert_msg(rc == 0, "fork server for %s: %d %s%s", bin, rc, why, eb.msg);
    return s;
}

/* Through the server: wait for the end on its socket, return the status. */
static int via_server(hn_fsrv *s, char *const argv[], char **env, const char *out,
                      const char *err)
{
    pl_errbuf eb = {{0}};
    struct pollfd p;
    pid_t pid;
    int st = -1;
    ck_assert_msg(hn_fsrv_spawn(s, argv, env, out, err, &pid, &eb) == 0, "%s", eb.msg);
    ck_assert_int_gt(pid, 0);
    p.fd = hn_fsrv_fd(s);
    p.events = POLLIN;
    ck_assert_int_eq(poll(&p, 1, 60000), 1);
    ck_assert_msg(hn_fsrv_wait(s, 10000000000LL, &st, &eb) == 0, "%s", eb.msg);
    return st;
}

/* Directly: posix_spawn and waitpid, stdin /dev/null. */
static int direct(char *const argv[], char **env, const char *out, const char *err)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int st = -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    /* nothing of the test process's own */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    ck_assert_int_eq(posix_spawn(&pid, argv[0], &fa, NULL, argv, env), 0);
    posix_spawn_file_actions_destroy(&fa);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return st;
}

static void same_file(const char *a, const char *b)
{
    char *x = tu_slurp(a, NULL), *y = tu_slurp(b, NULL);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(y);
    ck_assert_msg(strcmp(x, y) == 0, "%s:\n%s\ndiffers from %s:\n%s", a, x, b, y);
    free(x);
    free(y);
}

/* Run argv both ways with the same environment additions (the direct run
 * gets the preload only when it arms something, as the harness does);
 * same status, stdout and stderr.  Returns the status. */
static int both_ways(char *const argv[], const char *arm, const char *arm2)
{
    char so[4200], se[4200], do_[4200], de[4200];
    char **senv = mkenv(arm, arm2, NULL, NULL);
    char **denv = arm ? mkenv(preload, arm, arm2, NULL) : mkenv(NULL, NULL, NULL, NULL);
    int s1, s2;
    path(so, "srv.out");
    path(se, "srv.err");
    path(do_, "direct.out");
    path(de, "direct.err");
    s1 = via_server(srv, argv, senv, so, se);
    s2 = direct(argv, denv, do_, de);
    free(senv);
    free(denv);
    ck_assert_msg(s1 == s2, "%s: status %#x through the server, %#x directly", argv[1], s1, s2);
    same_file(so, do_);
    same_file(se, de);
    return s1;
}

START_TEST(runs_through_the_server_as_by_fork_exec)
{
    char probe[4200];
    char *plain[] = {probe, "-i", "a:3", "b:2", NULL};
    char *bad[] = {probe, "-x", NULL};
    int st;
    snprintf(probe, sizeof probe, "%s", tu_bin("rp-fiu-probe"));
    srv = start(probe);
    st = both_ways(plain, NULL, NULL);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* stderr and a non-zero status */
    st = both_ways(bad, NULL, NULL);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    /* a failing hit with its errno, then a crash */
    st = both_ways(plain, "RP_FIU_FAIL=a:2:ENOSPC", NULL);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_int_eq(tu_sh("grep -qx 'a 2 fail 28 28 28' %s/srv.out", dir), 0);
    st = both_ways(plain, "RP_FIU_CRASH=b:2", NULL);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    /* arming does not outlive its request: unarmed again, and the
     * variable the preload sets for an armed process is gone */
    st = both_ways(plain, NULL, NULL);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_int_eq(tu_sh("grep -qx 'start events=-' %s/srv.out && grep -qx 'done hits=5 "
                           "fails=0' %s/srv.out", dir, dir), 0);
}
END_TEST

/* A crash armed through the channel fires at the K-th hit, as preloaded. */
START_TEST(crash_armed_through_the_server_at_the_same_hit)
{
    char probe[4200], arm[64], trace[4200], ev_trace[4300];
    char *argv[] = {probe, "-q", "a:6", NULL};
    snprintf(probe, sizeof probe, "%s", tu_bin("rp-fiu-probe"));
    path(trace, "trace");
    snprintf(ev_trace, sizeof ev_trace, "RP_FIU_TRACE=%s", trace);
    srv = start(probe);
    for (int k = 1; k <= 6; k += 2) {
        int st;
        unlink(trace);
        snprintf(arm, sizeof arm, "RP_FIU_CRASH=a:%d", k);
        st = both_ways(argv, arm, ev_trace);
        ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        /* one line from each of the two runs, both at hit k */
        ck_assert_int_eq(tu_sh("test \"$(sort -u %s)\" = 'crash a %d' && test $(wc -l < %s) -eq 2",
                               trace, k, trace), 0);
    }
}
END_TEST

/* What cannot host a server says why; nothing is left running. */
START_TEST(a_script_or_a_static_binary_falls_back)
{
    char p[4200], why[1024], log[4200], src[4200];
    char **env = mkenv(preload, NULL, NULL, NULL);
    pl_errbuf eb = {{0}};
    hn_fsrv *s = NULL;

    path(log, "server.log");
    path(p, "script");
    tu_write(p, "#!/bin/sh\necho hello\n");
    ck_assert_int_eq(tu_sh("chmod +x %s", p), 0);
    ck_assert_int_eq(hn_fsrv_start(p, env, log, 5000000000LL, &s, why, sizeof why, &eb), 1);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(why, "script"), "%s", why);

    path(src, "static.c");
    tu_write(src, "int main(void) { return 0; }\n");
    path(p, "static");
    ck_assert_int_eq(tu_sh("cc -static -o %s %s", p, src), 0);
    ck_assert_int_eq(hn_fsrv_start(p, env, log, 5000000000LL, &s, why, sizeof why, &eb), 1);
    ck_assert_msg(strstr(why, "statically linked"), "%s", why);

    /* dynamically linked, but without the preload it never answers: it
     * runs its main and exits */
    free(env);
    env = mkenv(NULL, NULL, NULL, NULL);
    path(p, "dynamic");
    ck_assert_int_eq(tu_sh("cc -o %s %s", p, src), 0);
    ck_assert_int_eq(hn_fsrv_start(p, env, log, 5000000000LL, &s, why, sizeof why, &eb), 1);
    ck_assert_msg(strstr(why, "exited with status 0 before the handshake"), "%s", why);
    free(env);
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
}
END_TEST

/* A child that ignores SIGTERM and hangs is killed through the server,
 * and so is what it started; children it leaves behind when it exits
 * end with it. */
START_TEST(a_hung_child_is_killed_through_the_server)
{
    char out[4200], cmd[200];
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    char **env = mkenv(NULL, NULL, NULL, NULL);
    pl_errbuf eb = {{0}};
    struct pollfd p;
    pid_t pid;
    int st = 0;
    path(out, "out");
    srv = start("/bin/sh");
    snprintf(cmd, sizeof cmd, "trap '' TERM; sleep 4747.%d; echo not reached", (int)getpid());
    ck_assert_int_eq(hn_fsrv_spawn(srv, argv, env, out, NULL, &pid, &eb), 0);
    p.fd = hn_fsrv_fd(srv);
    p.events = POLLIN;
    ck_assert_int_eq(poll(&p, 1, 300), 0); /* still running */
    hn_fsrv_kill(srv);
    ck_assert_int_eq(poll(&p, 1, 30000), 1);
    ck_assert_int_eq(hn_fsrv_wait(srv, 10000000000LL, &st, &eb), 0);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    ck_assert_int_ne(tu_sh("pgrep -f 'slee[p] 4747.%d' > /dev/null", (int)getpid()), 0);

    snprintf(cmd, sizeof cmd, "sleep 4848.%d & exit 3", (int)getpid());
    st = via_server(srv, argv, env, out, NULL);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3);
    ck_assert_int_ne(tu_sh("pgrep -f 'slee[p] 4848.%d' > /dev/null", (int)getpid()), 0);
    free(env);
}
END_TEST

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    ck_assert_ptr_nonnull(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* A child sees the descriptors a directly started process sees, one that
 * inherits none (so not the control socket); the harness gets back every
 * descriptor and the server process once it stops. */
START_TEST(no_descriptor_or_process_outlives_a_server)
{
    char so[4200], se[4200], do_[4200], de[4200];
    char *argv[] = {"/bin/sh", "-c", "ls /proc/$$/fd", NULL};
    char **env = mkenv(NULL, NULL, NULL, NULL);
    int before = count_fds(), s1, s2;
    path(so, "srv.out");
    path(se, "srv.err");
    path(do_, "direct.out");
    path(de, "direct.err");
    srv = start("/bin/sh");
    for (int i = 0; i < 3; i++) {
        s1 = via_server(srv, argv, env, so, se);
        s2 = direct(argv, env, do_, de);
        ck_assert_int_eq(s1, s2);
        same_file(so, do_);
    }
    hn_fsrv_stop(srv);
    srv = NULL;
    free(env);
    ck_assert_int_eq(count_fds(), before);
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
}
END_TEST

#define POSIX_PRELOAD "/usr/lib/fiu/fiu_posix_preload.so"

/* A server with libfiu's POSIX preload after rp-crash.so, as the harness
 * starts one for processes with I/O errors: a posix/ point armed in a
 * request fails that child's K-th call as it does in a process started
 * directly with the same preloads (coreutils' sync: one fsync per file).
 * Arming lives in the child only: points the server's own loop calls
 * (read, poll, sendmsg, waitpid, kill, close), armed at their first hit in
 * one child, fail nothing in the server, which serves the next requests,
 * and the next child is unarmed again. */
START_TEST(posix_preload_armed_in_each_child_only)
{
    char a[4200], b[4200], err[4200];
    char *argv[] = {"/bin/sync", a, b, NULL};
    char **env;
    int st;
    ck_assert_msg(access(POSIX_PRELOAD, R_OK) == 0, POSIX_PRELOAD " missing (make deps installs "
                  "fiu-utils)");
    path(a, "a");
    path(b, "b");
    path(err, "srv.err");
    tu_write(a, "a\n");
    tu_write(b, "b\n");
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s:%s", tu_bin("rp-crash.so"), POSIX_PRELOAD);
    srv = start("/bin/sync");
    st = both_ways(argv, NULL, NULL);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* the second fsync fails: the second file's */
    st = both_ways(argv, "RP_FIU_FAIL=posix/io/sync/fsync:2:EIO", NULL);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    ck_assert_int_eq(tu_sh("grep -q \"'%s': Input/output error\" %s && ! grep -q \"'%s'\" %s",
                           b, err, a, err), 0);
    st = both_ways(argv, "RP_FIU_FAIL=posix/io/sync/fsync:1:ENOSPC", NULL);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    ck_assert_int_eq(tu_sh("grep -q \"'%s': No space left on device\" %s", a, err), 0);

    /* what the server's loop calls, armed in a child: its status is its own
     * business; the server must go on */
    env = mkenv("RP_FIU_FAIL=posix/io/rw/read:1,posix/io/net/poll:1,posix/io/net/sendmsg:1,"
                "posix/proc/waitpid:1,posix/proc/kill:1,posix/io/oc/close:1,posix/io/oc/open:1",
                NULL, NULL, NULL);
    (void)via_server(srv, argv, env, err, NULL);
    free(env);
    for (int i = 0; i < 2; i++) {
        st = both_ways(argv, NULL, NULL);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x after an armed child", st);
        ck_assert_int_eq(tu_sh("test ! -s %s", err), 0);
    }
}
END_TEST

/* ---------------------------------------------------------- scenarios */

static const char *pipeline_extra = ""; /* more [pipeline] lines */

static void scenario(const char *binary, const char *faults)
{
    char p[4200], text[4096];
    path(p, "s.ini");
    snprintf(text, sizeof text,
             "[scenario]\nname = fs\n[workload]\nseed = 5\npartitions = 2\nsymbols = 3\n"
             "ticks = 600\nduration = 6s\n[pipeline]\nbinary = %s\n%s"
             "agg = 1s=tumbling:1s\ncheckpoint-every = 100\n[faults]\n%s\n", binary,
             pipeline_extra, faults);
    tu_write(p, text);
    ck_assert_int_eq(tu_sh("mkdir -p %s/work", dir), 0);
}

static int run(const char *opt, const char *db, const char *out)
{
    return tu_sh("cd %s && '%s' run -q -j 2 %s --results %s --workdir work s.ini > %s 2> %s.err",
                 dir, tu_bin("replayproof"), opt, db, out, out);
}

/* The trials of the two runs, row for row: spec, verdict, restarts, digests. */
static void same_trials(const char *a, const char *b)
{
    const char *sql = "SELECT seq, crashes, verdict, restarts, bars, late, dlq FROM trials "
                      "ORDER BY seq";
    ck_assert_int_eq(tu_sh("cd %s && sqlite3 %s '%s' > %s.rows && sqlite3 %s '%s' > %s.rows",
                           dir, a, sql, a, b, sql, b), 0);
    ck_assert_int_eq(tu_sh("cd %s && test -s %s.rows && cmp -s %s.rows %s.rows", dir, a, a, b),
                     0);
}

/* The fsync errors need libfiu's POSIX preload, which crashes under
 * AddressSanitizer (docs/faults.md): the sanitizer build fails a fail point
 * only. */
#ifdef RP_SANITIZED
#define IO_ERRORS "ckpt/write/after"
#else
#define IO_ERRORS "fsync:ENOSPC, ckpt/write/after"
#endif

START_TEST(scenario_verdicts_equal_with_and_without)
{
    scenario(tu_bin("refpipe-fiu"), "points = sink/commit/*, ckpt/rename/after\nhits = 1,3,5\n"
             "crashes = 2\nio-errors = " IO_ERRORS "\nio-budget = 4\n");
    ck_assert_int_eq(run("", "a.db", "a.out"), 0);
    ck_assert_int_eq(run("--no-fork-server", "b.db", "b.out"), 0);
    same_trials("a.db", "b.db");
    /* the first went through fork servers (the fsync errors through the
     * one with libfiu's POSIX preload), the second did not; neither said it
     * fell back */
    ck_assert_int_eq(tu_sh("cd %s && grep -Eq '^   processes: [1-9][0-9]* through the fork "
                           "server, 0 by fork' a.out && grep -Eq '^   processes: 0 "
                           "through the fork server' b.out", dir), 0);
    ck_assert_int_ne(tu_sh("grep -q 'fork server not used' %s/a.out.err %s/b.out.err", dir, dir),
                     0);
}
END_TEST

/* The trials of two runs with their details, the work dir's random name
 * left out. */
static void same_trials_detail(const char *a, const char *b)
{
    const char *sql = "SELECT seq, crashes, verdict, restarts, bars, late, dlq, detail, early, "
                      "converged_at, snap_hit FROM trials ORDER BY seq";
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(tu_sh("cd %s && sqlite3 %s '%s' | sed 's/rp-run-fs-[A-Za-z0-9]*//g' > "
                               "%s.rows", dir, i ? b : a, sql, i ? b : a), 0);
    ck_assert_int_eq(tu_sh("cd %s && test -s %s.rows && diff %s.rows %s.rows >&2", dir, a, a, b),
                     0);
}

/* I/O errors at libfiu's POSIX points, on a variant that mishandles them
 * (a failed sink commit checkpointed anyway): every process through the
 * fork servers, and every trial as by fork+exec, failing ones and their
 * details included. */
START_TEST(io_error_verdicts_equal_with_and_without)
{
#ifdef RP_SANITIZED
    /* libfiu's POSIX preload crashes a sanitized refpipe (test_ioerr.c) */
    return;
#endif
    pipeline_extra = "env = REFPIPE_UNSAFE=commit-error-ignored\n";
    scenario(tu_bin("refpipe-fiu"), "points = ckpt/done/after\nhits = 1\nio-errors = "
             "pwrite:EIO, write:ENOSPC, fsync:EIO, pwrite-short\nio-budget = 24\n");
    pipeline_extra = "";
    ck_assert_int_eq(run("", "a.db", "a.out"), 1);
    ck_assert_int_eq(run("--no-fork-server", "b.db", "b.out"), 1);
    same_trials_detail("a.db", "b.db");
    /* not vacuous: I/O-error trials that the variant fails, and some it
     * survives */
    ck_assert_int_eq(tu_sh("cd %s && test $(sqlite3 a.db \"SELECT count(*) FROM trials WHERE "
                           "crashes LIKE 'ioerr:posix/%%' AND verdict <> 'converged'\") -gt 0 && "
                           "test $(sqlite3 a.db \"SELECT count(*) FROM trials WHERE crashes LIKE "
                           "'ioerr:posix/%%' AND verdict = 'converged'\") -gt 0", dir), 0);
    ck_assert_int_eq(tu_sh("cd %s && grep -Eq '^   processes: [1-9][0-9]* through the fork "
                           "server, 0 by fork' a.out && grep -Eq '^   processes: 0 through the "
                           "fork server' b.out", dir), 0);
    ck_assert_int_ne(tu_sh("grep -q 'fork server.* not used' %s/a.out.err", dir), 0);
    /* servers that die after their second child (the tests' variant of
     * rp-crash.so): the rest by fork+exec, each kind saying so at most once,
     * the I/O-error one at least once (it has more than two children), and
     * the same trials */
    ck_assert_int_eq(tu_sh("cd %s && RP_FORKSRV_DIE_AFTER=2 '%s' run -q -j 2 --results c.db "
                           "--workdir work s.ini > c.out 2> c.out.err", dir,
                           tu_testbin("replayproof")), 1);
    same_trials_detail("a.db", "c.db");
    ck_assert_int_eq(tu_sh("cd %s && test $(grep -c 'POSIX preload not used (fork server for ' "
                           "c.out.err) -eq 1 && test $(grep -c '^.*: fork server not used (fork "
                           "server for ' c.out.err) -le 1 && grep -Eq '^   processes: [1-9][0-9]* "
                           "through the fork server, [1-9][0-9]* by fork' c.out", dir), 0);
}
END_TEST

/* A script as the pipeline: one line saying why, then fork+exec. */
START_TEST(scenario_with_a_script_says_so_once)
{
    char p[4200], text[4400];
    path(p, "wrap");
    snprintf(text, sizeof text, "#!/bin/sh\nexec '%s' \"$@\"\n", tu_bin("refpipe-fiu"));
    tu_write(p, text);
    ck_assert_int_eq(tu_sh("chmod +x %s", p), 0);
    scenario("./wrap", "points = sink/commit/after\nhits = 1,2,3\n");
    ck_assert_int_eq(run("", "a.db", "a.out"), 0);
    ck_assert_int_eq(tu_sh("cd %s && test $(grep -c 'fork server not used (.*wrap is a script' "
                           "a.out.err) -eq 1", dir), 0);
    /* 3 trials: a crashed run, a recovery and an export each, less the
     * exports of recoveries that stopped at convergence */
    ck_assert_int_eq(tu_sh("cd %s && grep -Eq '^   processes: 0 through the fork server, [6-9] by "
                           "fork\\+exec' a.out", dir), 0);
}
END_TEST

/* An ELF wrapper (so the server is used) that misbehaves in armed runs:
 * leaves a child running, or ignores SIGTERM and hangs. */
static void elf_wrapper(const char *misdeed)
{
    char p[4200], text[4096], src[4200];
    path(src, "wrap.c");
    snprintf(text, sizeof text,
             "#include <signal.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
             "#include <unistd.h>\n"
             "int main(int argc, char **argv) {\n"
             "    char tag[64];\n"
             "    (void)tag;\n"
             "    if (argc > 1 && !strcmp(argv[1], \"run\") && getenv(\"RP_FIU_CRASH\")) {\n"
             "        %s\n"
             "    }\n"
             "    argv[0] = \"%s\";\n"
             "    execv(argv[0], argv);\n"
             "    return 127;\n"
             "}\n", misdeed, tu_bin("refpipe-fiu"));
    tu_write(src, text);
    path(p, "wrap");
    ck_assert_int_eq(tu_sh("cc -o %s %s", p, src), 0);
}

START_TEST(elf_wrapper_children_and_hangs_through_the_server)
{
    char misdeed[512];
    snprintf(misdeed, sizeof misdeed,
             "snprintf(tag, sizeof tag, \"4949.%d\");\n"
             "        if (fork() == 0) { execlp(\"sleep\", \"sleep\", tag, (char *)0); _exit(1); }",
             (int)getpid());
    elf_wrapper(misdeed);
    scenario("./wrap", "points = sink/commit/after\nhits = 1,2,3\n");
    ck_assert_int_eq(run("", "a.db", "a.out"), 0);
    ck_assert_int_eq(tu_sh("cd %s && grep -Eq '^   processes: [1-9][0-9]* through the fork "
                           "server, 0 by fork' a.out", dir), 0);
    ck_assert_int_ne(tu_sh("pgrep -f 'slee[p] 4949.%d' > /dev/null", (int)getpid()), 0);
    /* the scenario's own switch: the same by fork+exec */
    pipeline_extra = "fork-server = false\n";
    scenario("./wrap", "points = sink/commit/after\nhits = 1,2,3\n");
    pipeline_extra = "";
    ck_assert_int_eq(run("", "c.db", "c.out"), 0);
    ck_assert_int_eq(tu_sh("cd %s && grep -Eq '^   processes: 0 through the fork server, [1-9][0-9]* "
                           "by fork\\+exec' c.out", dir), 0);
    ck_assert_int_ne(tu_sh("pgrep -f 'slee[p] 4949.%d' > /dev/null", (int)getpid()), 0);
    same_trials("a.db", "c.db");

    elf_wrapper("signal(SIGTERM, SIG_IGN);\n        for (;;) pause();");
    scenario("./wrap", "points = sink/commit/after\nhits = 1\ntimeout = 1s\n");
    ck_assert_int_eq(run("", "b.db", "b.out"), 1);
    ck_assert_int_eq(tu_sh("cd %s && test \"$(sqlite3 b.db \"SELECT verdict FROM trials\")\" = "
                           "hang", dir), 0);
    ck_assert_int_eq(tu_sh("cd %s && grep -Eq '^   processes: 1 through the fork server' b.out",
                           dir), 0);
}
END_TEST

/* Every server dies (SIGKILL, the test hook of the tests' variant of
 * rp-crash.so) after its third child: the process it was about to run and
 * every later one are forked and executed, the run says so once, and
 * nothing is left running.  The shipped library ignores the hook: its
 * servers run every process, and the trials are the same. */
START_TEST(a_server_dying_between_requests_falls_back)
{
    char link[4200];
    path(link, "pipe");
    /* a name of this test's own, for looking for leftovers */
    ck_assert_int_eq(symlink(tu_bin("refpipe-fiu"), link), 0);
    scenario(link, "points = sink/commit/after, ckpt/rename/after\nhits = 1,2,3\n");
    ck_assert_int_eq(tu_sh("cd %s && RP_FORKSRV_DIE_AFTER=3 '%s' run -q -j 2 --results a.db "
                           "--workdir work s.ini > a.out 2> a.out.err", dir,
                           tu_testbin("replayproof")), 0);
    /* no I/O errors planned: no second server, and the line says so */
    ck_assert_int_eq(tu_sh("cd %s && test $(grep -c 'fork server not used (fork server for .*pipe"
                           ": .*); every trial process is forked' a.out.err) -eq 1 && test $(wc -l "
                           "< a.out.err) -eq 1", dir), 0);
    ck_assert_int_eq(tu_sh("cd %s && grep -Eq '^   processes: [3-6] through the fork server, "
                           "[1-9][0-9]* by fork\\+exec' a.out", dir), 0);
    ck_assert_int_ne(tu_sh("pgrep -f '^%s' > /dev/null", link), 0);
    /* the shipped library ignores the knob: every process through the
     * servers, and the same trials (fork server and fork+exec agree:
     * scenario_verdicts_equal_with_and_without) */
    ck_assert_int_eq(tu_sh("cd %s && RP_FORKSRV_DIE_AFTER=3 '%s' run -q -j 2 --results b.db "
                           "--workdir work s.ini > b.out 2> b.out.err", dir, tu_bin("replayproof")),
                     0);
    ck_assert_int_eq(tu_sh("cd %s && grep -Eq '^   processes: [1-9][0-9]* through the fork server, "
                           "0 by fork\\+exec' b.out && ! grep -q 'fork server not used' b.out.err",
                           dir), 0);
    same_trials("a.db", "b.db");
}
END_TEST

Suite *fsrv_suite(void)
{
    Suite *s = suite_create("fsrv");
    TCase *tc = tcase_create("server");
    TCase *ts = tcase_create("scenarios");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, runs_through_the_server_as_by_fork_exec);
    tcase_add_test(tc, crash_armed_through_the_server_at_the_same_hit);
    tcase_add_test(tc, a_script_or_a_static_binary_falls_back);
    tcase_add_test(tc, a_hung_child_is_killed_through_the_server);
    tcase_add_test(tc, no_descriptor_or_process_outlives_a_server);
    tcase_add_test(tc, posix_preload_armed_in_each_child_only);
    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(ts, setup, teardown);
    tcase_set_timeout(ts, 180);
    tcase_add_test(ts, scenario_verdicts_equal_with_and_without);
    tcase_add_test(ts, io_error_verdicts_equal_with_and_without);
    tcase_add_test(ts, scenario_with_a_script_says_so_once);
    tcase_add_test(ts, elf_wrapper_children_and_hangs_through_the_server);
    tcase_add_test(ts, a_server_dying_between_requests_falls_back);
    suite_add_tcase(s, ts);
    return s;
}
