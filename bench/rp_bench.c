/*
 * rp_bench.c - measuring tools for `make bench` (bench/run.sh drives them).
 *
 *   rp-bench exec CMD [ARGS...]   run CMD, print "wall_s=... maxrss_kb=... status=..."
 *   rp-bench read LOGDIR          sequential read(2) of the partition files (the bound)
 *   rp-bench walk LOGDIR          cursor walk over every record of every partition
 *   rp-bench run LOGDIR STATEDIR [--null-sink] AGG...
 *                                 pl_run in this process (as `refpipe run --quiet
 *                                 --agg AGG...`): wall and CPU time; --null-sink
 *                                 drops the rows instead of writing them
 *   rp-bench ckpt SYMBOLS WINDOWS DIR
 *                                 build stream state with SYMBOLS symbols and WINDOWS
 *                                 open sliding windows each, time save + checkpoint write
 *
 * This is measurement code: it reads the clock, which the pipeline never does.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pl_ckpt.h"
#include "pl_config.h"
#include "pl_log.h"
#include "pl_run.h"
#include "pl_stream.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmd_exec(int argc, char **argv)
{
    double t0 = now_s(), t1;
    struct rusage ru;
    int st;
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 3;
    }
    if (pid == 0) {
        execvp(argv[0], argv);
        perror(argv[0]);
        _exit(127);
    }
    if (wait4(pid, &st, 0, &ru) < 0) {
        perror("wait4");
        return 3;
    }
    t1 = now_s();
    printf("wall_s=%.6f maxrss_kb=%ld status=%d\n", t1 - t0, ru.ru_maxrss,
           WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    (void)argc;
    return 0;
}

static int open_log(const char *dir, pl_log **log)
{
    pl_errbuf eb = { { 0 } };
    if (pl_log_open(dir, log, &eb) < 0) {
        fprintf(stderr, "rp-bench: %s\n", eb.msg);
        return -1;
    }
    return 0;
}

static int cmd_read(const char *dir)
{
    pl_log *log;
    static char buf[1 << 20];
    uint64_t bytes = 0;
    double t0, t1;
    if (open_log(dir, &log) < 0)
        return 2;
    t0 = now_s();
    for (uint32_t p = 0; p < pl_log_partitions(log); p++) {
        int fd = open(pl_log_part_path(log, p), O_RDONLY);
        ssize_t n;
        if (fd < 0) {
            perror(pl_log_part_path(log, p));
            return 2;
        }
        while ((n = read(fd, buf, sizeof buf)) > 0)
            bytes += (uint64_t)n;
        close(fd);
    }
    t1 = now_s();
    printf("wall_s=%.6f bytes=%llu records=%llu\n", t1 - t0, (unsigned long long)bytes,
           (unsigned long long)pl_log_total(log));
    pl_log_close(log);
    return 0;
}

static int cmd_walk(const char *dir)
{
    pl_log *log;
    pl_errbuf eb = { { 0 } };
    uint64_t n = 0, sum = 0;
    double t0, t1;
    if (open_log(dir, &log) < 0)
        return 2;
    t0 = now_s();
    for (uint32_t p = 0; p < pl_log_partitions(log); p++) {
        pl_cursor c;
        int rc;
        if (pl_cur_init(log, p, 0, &c, &eb) < 0) {
            fprintf(stderr, "rp-bench: %s\n", eb.msg);
            return 2;
        }
        while ((rc = pl_cur_next(&c, &eb)) == 1) {
            n++;
            sum += (uint64_t)c.ingest_ns + c.len; /* touch the record */
        }
        if (rc < 0) {
            fprintf(stderr, "rp-bench: %s\n", eb.msg);
            return 2;
        }
    }
    t1 = now_s();
    printf("wall_s=%.6f records=%llu check=%llu\n", t1 - t0, (unsigned long long)n,
           (unsigned long long)sum);
    pl_log_close(log);
    return 0;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmd_run(int argc, char **argv)
{
    pl_run_opts o;
    pl_run_result res;
    pl_errbuf eb = { { 0 } };
    double w0, c0, w1, c1;
    int i = 2, rc;
    pl_run_opts_init(&o);
    o.logdir = argv[0];
    o.statedir = argv[1];
    if (i < argc && !strcmp(argv[i], "--null-sink")) {
        pl__bench_null_sink = 1;
        i++;
    }
    for (; i < argc; i++)
        if (pl_config_add_agg(&o.cfg, argv[i], &eb) < 0) {
            fprintf(stderr, "rp-bench: %s\n", eb.msg);
            return 2;
        }
    pl_config_finish(&o.cfg);
    w0 = now_s();
    c0 = cpu_s();
    rc = pl_run(&o, &res, &eb);
    c1 = cpu_s();
    w1 = now_s();
    if (rc < 0) {
        fprintf(stderr, "rp-bench: run: %s\n", eb.msg);
        return 2;
    }
    printf("wall_s=%.6f cpu_s=%.6f records=%llu bars=%llu\n", w1 - w0, c1 - c0,
           (unsigned long long)res.processed, (unsigned long long)res.stats.bars);
    return 0;
}

static int nop_bar(void *c, const pl_bar *b) { (void)c; (void)b; return 0; }
static int nop_late(void *c, const pl_late *l) { (void)c; (void)l; return 0; }
static int nop_dlq(void *c, const pl_dlq *d) { (void)c; (void)d; return 0; }

/* State with `syms` symbols, each holding about `wins` open sliding windows
 * (size = wins seconds, slide = 1 s), plus a reorder buffer of events that
 * the watermark has not passed yet. */
static int cmd_ckpt(long syms, long wins, const char *dir)
{
    pl_config cfg;
    pl_errbuf eb = { { 0 } };
    pl_stream *s;
    pl_emit em = { NULL, nop_bar, nop_late, nop_dlq };
    char spec[64], payload[128];
    uint8_t *buf = NULL;
    size_t len = 0;
    uint64_t pos = 0;
    int64_t base = 1767623400000000000LL;
    double t0, t1, t2;
    pl_ckpt_meta meta;

    pl_config_init(&cfg);
    cfg.max_delay = 1000000000LL;
    cfg.idle_timeout = 0;
    snprintf(spec, sizeof spec, "w=sliding:%lds:1s", wins);
    if (pl_config_add_agg(&cfg, spec, &eb) < 0 || pl_stream_new(&cfg, 1, &em, &s, &eb) < 0) {
        fprintf(stderr, "rp-bench: %s\n", eb.msg);
        return 2;
    }
    /* one event per symbol per second for `wins` seconds opens `wins` windows */
    for (long sec = 0; sec <= wins; sec++)
        for (long k = 0; k < syms; k++) {
            int64_t t = base + sec * 1000000000LL + k;
            int n = snprintf(payload, sizeof payload, "%lld,S%05ld,100.5,10", (long long)t, k);
            if (pl_stream_push(s, 0, pos, t, (const uint8_t *)payload, (uint32_t)n, pos) != 0) {
                fprintf(stderr, "rp-bench: push failed\n");
                return 2;
            }
            pos++;
        }
    t0 = now_s();
    if (pl_stream_save(s, &buf, &len) < 0) {
        fprintf(stderr, "rp-bench: save failed\n");
        return 2;
    }
    t1 = now_s();
    memset(&meta, 0, sizeof meta);
    meta.seqno = 1;
    meta.position = pos;
    if (pl_ckpt_write(dir, &meta, buf, len, &eb) < 0) {
        fprintf(stderr, "rp-bench: %s\n", eb.msg);
        return 2;
    }
    t2 = now_s();
    {
        pl_stream_stats st;
        pl_stream_stats_get(s, &st);
        printf("symbols=%ld open_windows=%llu buffered=%llu bytes=%zu save_ms=%.3f write_ms=%.3f\n",
               syms, (unsigned long long)st.open_windows, (unsigned long long)st.buffered, len,
               (t1 - t0) * 1e3, (t2 - t1) * 1e3);
    }
    free(buf);
    pl_stream_free(s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "exec"))
        return cmd_exec(argc - 2, argv + 2);
    if (argc == 3 && !strcmp(argv[1], "read"))
        return cmd_read(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "walk"))
        return cmd_walk(argv[2]);
    if (argc >= 5 && !strcmp(argv[1], "run"))
        return cmd_run(argc - 2, argv + 2);
    if (argc == 5 && !strcmp(argv[1], "ckpt"))
        return cmd_ckpt(atol(argv[2]), atol(argv[3]), argv[4]);
    fprintf(stderr, "usage: rp-bench exec CMD... | read LOGDIR | walk LOGDIR | "
                    "run LOGDIR STATEDIR [--null-sink] AGG... | ckpt SYMBOLS WINDOWS DIR\n");
    return 2;
}
