/* fuzz_duration.c - the option parsers: pl_parse_duration and
 * pl_config_add_agg on any text.  An accepted duration is >= 0; an accepted
 * aggregation has positive sizes within the windows-per-event limit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pl_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    char *s = malloc(n + 1);
    int64_t v = -1;
    pl_config cfg;
    pl_errbuf eb;
    if (!s)
        return 0;
    memcpy(s, d, n);
    s[n] = 0;
    if (pl_parse_duration(s, "fuzz", &v, &eb) == 0 && v < 0)
        abort();
    pl_config_init(&cfg);
    if (pl_config_add_agg(&cfg, s, &eb) == 0) {
        const pl_agg_spec *a = &cfg.aggs[0];
        if (cfg.naggs != 1)
            abort();
        if ((a->kind == PL_AGG_TUMBLING || a->kind == PL_AGG_SLIDING) &&
            (a->size <= 0 || a->slide <= 0 ||
             (a->slide < a->size &&
              (uint64_t)((a->size - 1) / a->slide + 1) > PL_MAX_WINDOWS_PER_EVENT)))
            abort();
        if (a->kind >= PL_AGG_TICKS && a->threshold <= 0)
            abort();
        {
            char buf[256];
            (void)pl_config_describe(&cfg, buf, sizeof buf);
        }
    }
    free(s);
    return 0;
}
