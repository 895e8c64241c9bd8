/*
 * pl_config.h - a run's configuration: lateness bound, idleness timeout and
 * the aggregations, parsed from command-line text, with a fingerprint that
 * checkpoints use to refuse state written under another configuration.
 */
#ifndef PL_CONFIG_H
#define PL_CONFIG_H

#include <stdint.h>

#include "pl_err.h"

enum pl_agg_kind {
    PL_AGG_TUMBLING = 1, /* tumbling:SIZE */
    PL_AGG_SLIDING = 2,  /* sliding:SIZE:SLIDE */
    PL_AGG_TICKS = 3,    /* ticks:N */
    PL_AGG_VOLUME = 4,   /* volume:V */
    PL_AGG_DOLLAR = 5    /* dollar:D (whole currency units) */
};

/* Limits, checked when the options are parsed (docs/semantics.md, "Limits"). */
#define PL_AGG_NAME_MAX 31
#define PL_MAX_AGGS 16 /* aggregations per run */
/* ceil(SIZE/SLIDE) windows per event of a sliding aggregation: beyond this
 * each event would cost more than a million window updates */
#define PL_MAX_WINDOWS_PER_EVENT (1u << 20)

typedef struct pl_agg_spec {
    char name[PL_AGG_NAME_MAX + 1]; /* [A-Za-z0-9_.-]{1,31} */
    int kind;                       /* enum pl_agg_kind */
    int64_t size;                   /* time windows: size in ns (> 0) */
    int64_t slide;                  /* time windows: slide in ns (> 0; = size for tumbling) */
    int64_t threshold;              /* ticks: N; volume: V; dollar: D (all > 0) */
} pl_agg_spec;

typedef struct pl_config {
    int64_t max_delay;    /* B, ns, >= 0 */
    int64_t idle_timeout; /* I, ns, >= 0; 0 = idleness detection off */
    int naggs;            /* 1 .. PL_MAX_AGGS */
    pl_agg_spec aggs[PL_MAX_AGGS];
} pl_config;

#define PL_DEFAULT_MAX_DELAY 1000000000LL     /* 1 s */
#define PL_DEFAULT_IDLE_TIMEOUT 10000000000LL /* 10 s */
#define PL_DEFAULT_AGG "1m=tumbling:1m"

/* Set B and I to their defaults and naggs to 0. */
void pl_config_init(pl_config *cfg);

/*
 * Parse a duration: a decimal integer with an optional unit ns us ms s m h
 * (bare integer = ns).  Result must be >= 0 and fit in int64.  `what` names
 * the argument in the error message.  Returns 0 or PL_EUSAGE.
 */
int pl_parse_duration(const char *s, const char *what, int64_t *out, pl_errbuf *eb);

/*
 * Parse "NAME=SPEC" and append it to cfg.  Duplicate names, unknown kinds,
 * zero or overflowing sizes, too many aggregations and a sliding window in
 * more than PL_MAX_WINDOWS_PER_EVENT windows per event are PL_EUSAGE with
 * the argument quoted.
 */
int pl_config_add_agg(pl_config *cfg, const char *arg, pl_errbuf *eb);

/* If no aggregation was given, add PL_DEFAULT_AGG. */
void pl_config_finish(pl_config *cfg);

/*
 * Canonical one-line description, e.g.
 * "max_delay=1000000000 idle_timeout=0 agg=1m:tumbling:60000000000 ..." .
 * Aggregations appear in the order given.  Returns the length (snprintf style).
 */
int pl_config_describe(const pl_config *cfg, char *buf, size_t n);

/* XXH3-64 of the canonical description. */
uint64_t pl_config_fingerprint(const pl_config *cfg);

#endif
