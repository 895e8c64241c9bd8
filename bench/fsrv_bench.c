/*
 * fsrv_bench.c - rp-fsrv-bench, what starting one process costs by fork+exec
 * and through a fork server (bench/harness.sh prints it beside trials/s).
 *
 *   rp-fsrv-bench N PRELOAD BINARY [ARGS...]
 *
 * Runs BINARY ARGS N times each way, alternating (one direct, one through
 * the server), stdout and stderr to /dev/null, and prints
 * "exec_ms=... fsrv_ms=... start_ms=..." (milliseconds per process, and the
 * server's own start-up).  This is measurement code: it reads the clock.
 */
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hn_fsrv.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    char pre[4200], why[1024];
    char *senv[] = {pre, NULL}, *env[] = {NULL};
    pl_errbuf eb = {{0}};
    hn_fsrv *s = NULL;
    double t, exec_s = 0, fsrv_s = 0, start_s;
    int n;

    if (argc < 4 || (n = atoi(argv[1])) < 1) {
        fprintf(stderr, "usage: rp-fsrv-bench N PRELOAD BINARY [ARGS...]\n");
        return 2;
    }
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", argv[2]);
    t = now_s();
    if (hn_fsrv_start(argv[3], senv, "/dev/null", 10000000000LL, &s, why, sizeof why, &eb)) {
        fprintf(stderr, "rp-fsrv-bench: no fork server: %s%s\n", why, eb.msg);
        return 1;
    }
    start_s = now_s() - t;
    for (int i = 0; i < n; i++) {
        posix_spawn_file_actions_t fa;
        struct pollfd p = {.fd = hn_fsrv_fd(s), .events = POLLIN};
        pid_t pid;
        int st;

        t = now_s();
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        if (posix_spawn(&pid, argv[3], &fa, NULL, argv + 3, env) != 0 ||
            waitpid(pid, &st, 0) != pid) {
            fprintf(stderr, "rp-fsrv-bench: cannot run %s\n", argv[3]);
            return 1;
        }
        posix_spawn_file_actions_destroy(&fa);
        exec_s += now_s() - t;

        t = now_s();
        if (hn_fsrv_spawn(s, argv + 3, env, "/dev/null", NULL, &pid, &eb) < 0 ||
            poll(&p, 1, -1) != 1 || hn_fsrv_wait(s, 10000000000LL, &st, &eb) < 0) {
            fprintf(stderr, "rp-fsrv-bench: %s\n", eb.msg);
            return 1;
        }
        fsrv_s += now_s() - t;
    }
    hn_fsrv_stop(s);
    printf("exec_ms=%.3f fsrv_ms=%.3f start_ms=%.3f\n", exec_s * 1000 / n, fsrv_s * 1000 / n,
           start_s * 1000);
    return 0;
}
