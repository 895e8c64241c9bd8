/* fuzz_csv.c - the CSV importer (pl_log_import) on any bytes, with the
 * flags drawn from the first byte; an accepted file is read back through
 * the log reader (open, scan, cat), which must agree on the record count. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "pl_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    char csv[300], logdir[300];
    pl_errbuf eb;
    uint64_t nrec = 0, nscan = 0;
    unsigned flags;
    pl_log *log = NULL;
    if (n == 0)
        return 0;
    flags = d[0] & (PL_IMPORT_KEEP_CR | PL_IMPORT_ALLOW_EMPTY);
    fz_write(fz_path(csv, sizeof csv, "in.csv"), d + 1, n - 1);
    fz_path(logdir, sizeof logdir, "log");
    if (pl_log_import(csv, logdir, (d[0] & 4) ? 3 : -1, flags, &nrec, &eb) == 0) {
        if (pl_log_open(logdir, &log, &eb) != 0)
            abort(); /* what import wrote must open */
        if (pl_log_scan(log, &nscan, NULL, &eb) != 0 || nscan != nrec ||
            pl_log_total(log) != nrec)
            abort();
        {
            FILE *null = fopen("/dev/null", "w");
            if (!null || pl_log_cat(log, null, &eb) != 0)
                abort();
            fclose(null);
        }
        pl_log_close(log);
        fz_rmrf(logdir);
    }
    return 0;
}
