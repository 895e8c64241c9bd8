/*
 * fuzz_log.c - the log reader: a valid three-partition log is made once;
 * each input then replaces one of its files (the first byte picks the
 * manifest or a partition file) and the reader opens, scans and walks it
 * with cursors.  Any damage must be an error, never a crash or a read
 * outside the mapping.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "pl_log.h"

static char base[300];
/* the base log's files, kept in memory and rewritten for every input */
static const char *const names[4] = { "p0.log", "p1.log", "p2.log", "MANIFEST" };
static uint8_t *file[4];
static size_t flen[4];

static void make_base(void)
{
    char csv[300], path[400];
    pl_errbuf eb;
    static const char text[] = "partition,ingest_ns,event_ns,symbol,price,qty\n"
                               "0,1000,900,AAPL,189.25,100\n"
                               "1,1500,1400,MSFT,411.5,20\n"
                               "0,2000,garbage\n"
                               "2,2500,2400,X,1,1\n"
                               "1,3000000000,2999999999,MSFT,411.75,5\n";
    fz_write(fz_path(csv, sizeof csv, "base.csv"), (const uint8_t *)text, sizeof text - 1);
    fz_path(base, sizeof base, "base");
    if (pl_log_import(csv, base, -1, 0, NULL, &eb) != 0)
        abort();
    for (int i = 0; i < 4; i++) {
        FILE *f;
        snprintf(path, sizeof path, "%s/%s", base, names[i]);
        f = fopen(path, "rb");
        if (!f)
            abort();
        file[i] = malloc(1 << 16);
        flen[i] = fread(file[i], 1, 1 << 16, f);
        fclose(f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    char logdir[300], path[400];
    pl_errbuf eb;
    pl_log *log = NULL;
    uint64_t nscan;
    if (!base[0])
        make_base();
    if (n == 0)
        return 0;
    fz_path(logdir, sizeof logdir, "log");
    (void)mkdir(logdir, 0755);
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", logdir, names[i]);
        if (i == d[0] % 4)
            fz_write(path, d + 1, n - 1);
        else
            fz_write(path, file[i], flen[i]);
    }
    if (pl_log_open(logdir, &log, &eb) != 0)
        return 0;
    (void)pl_log_scan(log, &nscan, NULL, &eb);
    for (uint32_t p = 0; p < pl_log_partitions(log); p++) {
        pl_cursor c;
        if (pl_cur_init(log, p, 0, &c, &eb) != 0)
            continue;
        while (pl_cur_next(&c, &eb) == 1)
            if (c.len > 0 && c.payload[c.len - 1] == 0x7f)
                eb.msg[0] = 0; /* touch the last payload byte */
    }
    pl_log_close(log);
    return 0;
}
