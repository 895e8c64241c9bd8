/* fuzz_scenario.c - the scenario parser (hn_scenario_load) on any file:
 * accepted or refused with one line naming FILE:LINE, never a crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "hn_scenario.h"

static hn_scenario sc;

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    char path[300];
    pl_errbuf eb;
    fz_write(fz_path(path, sizeof path, "s.ini"), d, n);
    memset(&eb, 0, sizeof eb);
    if (hn_scenario_load(path, &sc, &eb) < 0) {
        if (strncmp(eb.msg, path, strlen(path)) != 0 || strchr(eb.msg, '\n'))
            abort(); /* one line, naming the file */
    } else {
        char *argv[64];
        int64_t rec, bytes;
        if (hn_scenario_pipeline_args(&sc, argv, 64) < 0)
            abort();
        hn_scenario_estimate(&sc, &rec, &bytes);
    }
    return 0;
}
