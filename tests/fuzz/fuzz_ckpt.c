/*
 * fuzz_ckpt.c - the checkpoint loader.  First byte even: the rest is a
 * checkpoint file, STATEDIR/ckpt-0000000000000001, given to pl_ckpt_load
 * (container: magic, version, lengths, checksum); a loaded body's stream
 * part (after run.c's header: magic, version, parts, finished, position,
 * offsets, length) goes to pl_stream_load.  Odd: the rest goes straight to
 * pl_stream_load, checksums out of the way.  A restored stream must accept
 * more records and finish.  The seed corpus holds real checkpoints of
 * `refpipe run` on the log below with the aggregations below, so that the
 * fingerprint and log identity match.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "pl_ckpt.h"
#include "pl_config.h"
#include "pl_log.h"
#include "pl_stream.h"

#define PARTS 3
static const char *const aggs[] = { "1s=tumbling:1s", "s=sliding:10s:1s", "t=ticks:5",
                                    "v=volume:100", "d=dollar:1000" };
static pl_config cfg;
static uint64_t log_id;

static int drop_bar(void *ctx, const pl_bar *b) { return 0; }
static int drop_late(void *ctx, const pl_late *l) { return 0; }
static int drop_dlq(void *ctx, const pl_dlq *d) { return 0; }

static void init(void)
{
    char csv[300], logdir[300];
    pl_errbuf eb;
    pl_log *log;
    static const char text[] = "partition,ingest_ns,event_ns,symbol,price,qty\n"
                               "0,1000,900,AAPL,189.25,100\n"
                               "1,1500,1400,MSFT,411.5,20\n"
                               "0,2000,garbage\n"
                               "2,2500,2400,X,1,1\n"
                               "1,3000000000,2999999999,MSFT,411.75,5\n";
    pl_config_init(&cfg);
    for (size_t i = 0; i < sizeof aggs / sizeof aggs[0]; i++)
        if (pl_config_add_agg(&cfg, aggs[i], &eb) != 0)
            abort();
    fz_write(fz_path(csv, sizeof csv, "base.csv"), (const uint8_t *)text, sizeof text - 1);
    if (pl_log_import(csv, fz_path(logdir, sizeof logdir, "log"), -1, 0, NULL, &eb) != 0 ||
        pl_log_open(logdir, &log, &eb) != 0)
        abort();
    log_id = pl_log_identity(log);
    pl_log_close(log);
}

static void restore(const uint8_t *b, size_t n)
{
    pl_emit emit = { NULL, drop_bar, drop_late, drop_dlq };
    pl_stream *s = NULL;
    pl_errbuf eb;
    static const char pay[] = "5000000000,AAPL,190,3";
    if (pl_stream_new(&cfg, PARTS, &emit, &s, &eb) != 0)
        abort();
    if (pl_stream_load(s, b, n, &eb) == 0) {
        /* what was restored must carry on: later records, then the end */
        for (uint32_t p = 0; p < PARTS; p++)
            (void)pl_stream_push(s, p, 1000 + p, 4000000000LL + p, (const uint8_t *)pay,
                                 sizeof pay - 1, 1000000 + p);
        (void)pl_stream_finish(s);
    }
    pl_stream_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    char st[300], file[400];
    pl_errbuf eb;
    pl_ckpt_loaded ck;
    if (!log_id)
        init();
    if (n == 0)
        return 0;
    if (d[0] & 1) {
        restore(d + 1, n - 1);
        return 0;
    }
    fz_path(st, sizeof st, "state");
    (void)mkdir(st, 0755);
    snprintf(file, sizeof file, "%s/ckpt-0000000000000001", st);
    fz_write(file, d + 1, n - 1);
    if (pl_ckpt_load(st, pl_config_fingerprint(&cfg), log_id, &ck, &eb) == 1) {
        size_t head = 16 + 8 + 8 * PARTS + 8;
        if (ck.len >= head)
            restore(ck.body + head, ck.len - head);
    }
    pl_ckpt_loaded_free(&ck);
    return 0;
}
