/*
 * config.c - a run's configuration (pl_config.h): durations and aggregation
 * specifications parsed from command-line text, the canonical description
 * and its fingerprint.
 *
 * Layout: scanners for a duration and a positive integer, each working on a
 * (pointer, length) slice and explaining a rejection in a short phrase; the
 * public parsers, which quote the whole argument around that phrase; then
 * init / finish / describe / fingerprint.
 *
 * Every accepted value is exact: no floating point, no fractions, and an
 * overflow of int64 is an error rather than a wrap or a clamp, so two runs
 * given the same text always get the same configuration and fingerprint.
 */
#include "pl_config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <xxhash.h>

static const struct {
    const char *name;
    int64_t ns;
} units[] = {
    {"ns", 1LL},
    {"us", 1000LL},
    {"ms", 1000000LL},
    {"s", 1000000000LL},
    {"m", 60000000000LL},
    {"h", 3600000000000LL},
};

static const struct {
    const char *name;
    int kind;
    int nparams; /* fields after the kind */
    const char *usage;
} kinds[] = {
    {"tumbling", PL_AGG_TUMBLING, 1, "tumbling:SIZE"},
    {"sliding", PL_AGG_SLIDING, 2, "sliding:SIZE:SLIDE"},
    {"ticks", PL_AGG_TICKS, 1, "ticks:N"},
    {"volume", PL_AGG_VOLUME, 1, "volume:V"},
    {"dollar", PL_AGG_DOLLAR, 1, "dollar:D"},
};

#define NKINDS (sizeof kinds / sizeof kinds[0])

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Leading decimal digits of s[0..n) into *v, at most INT64_MAX.  Returns the
 * number of digits consumed, or -1 on overflow.  Leading zeros never count
 * toward overflow, because the check is on the value.
 */
static long take_int(const char *s, size_t n, int64_t *v)
{
    size_t i = 0;
    int64_t acc = 0;
    for (; i < n && is_digit(s[i]); i++) {
        int d = s[i] - '0';
        if (acc > (INT64_MAX - d) / 10)
            return -1;
        acc = acc * 10 + d;
    }
    *v = acc;
    return (long)i;
}

/* Common rejections of a number's text; NULL when none applies. */
static const char *number_shape(const char *s, size_t n)
{
    if (n == 0)
        return "empty value";
    for (size_t i = 0; i < n; i++)
        if (is_space(s[i]))
            return "whitespace is not allowed";
    if (s[0] == '+' || s[0] == '-')
        return "signs are not allowed";
    if (!is_digit(s[0]))
        return "does not start with a digit";
    return NULL;
}

/*
 * Duration s[0..n) -> ns.  On rejection returns -1 with a phrase in why
 * (which quotes the unit when the unit is what is wrong).
 */
static int scan_duration(const char *s, size_t n, int64_t *out, char *why, size_t whysz)
{
    const char *shape = number_shape(s, n);
    int64_t v;
    long k;
    size_t ul;

    if (shape) {
        snprintf(why, whysz, "%s (expected an integer with an optional unit ns, us, ms, s, m or h)",
                 shape);
        return -1;
    }
    k = take_int(s, n, &v);
    if (k < 0) {
        snprintf(why, whysz, "duration does not fit in 64 bits of nanoseconds");
        return -1;
    }
    ul = n - (size_t)k;
    if (ul == 0) {
        *out = v; /* a bare integer is nanoseconds */
        return 0;
    }
    if (s[k] == '.' || s[k] == ',') {
        snprintf(why, whysz, "fractions are not allowed (use a smaller unit)");
        return -1;
    }
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        if (strlen(units[u].name) != ul || memcmp(units[u].name, s + k, ul) != 0)
            continue;
        if (v > INT64_MAX / units[u].ns) {
            snprintf(why, whysz, "duration does not fit in 64 bits of nanoseconds");
            return -1;
        }
        *out = v * units[u].ns;
        return 0;
    }
    snprintf(why, whysz, "unknown duration unit '%.*s' (expected ns, us, ms, s, m or h)",
             (int)ul, s + k);
    return -1;
}

/* Positive decimal integer s[0..n) that fits int64, no unit. */
static int scan_positive(const char *s, size_t n, int64_t *out, char *why, size_t whysz)
{
    const char *shape = number_shape(s, n);
    int64_t v;
    long k;

    if (shape) {
        snprintf(why, whysz, "%s (expected a positive decimal integer)", shape);
        return -1;
    }
    k = take_int(s, n, &v);
    if (k < 0) {
        snprintf(why, whysz, "'%.*s' does not fit in a signed 64-bit integer", (int)n, s);
        return -1;
    }
    if ((size_t)k != n) {
        snprintf(why, whysz, "'%.*s' is not a plain integer", (int)n, s);
        return -1;
    }
    if (v == 0) {
        snprintf(why, whysz, "must be positive");
        return -1;
    }
    *out = v;
    return 0;
}

void pl_config_init(pl_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_delay = PL_DEFAULT_MAX_DELAY;
    cfg->idle_timeout = PL_DEFAULT_IDLE_TIMEOUT;
    cfg->naggs = 0;
}

int pl_parse_duration(const char *s, const char *what, int64_t *out, pl_errbuf *eb)
{
    char why[160];
    int64_t v;
    if (!s)
        s = "";
    if (!what)
        what = "duration";
    if (scan_duration(s, strlen(s), &v, why, sizeof why) < 0)
        return pl_err(eb, PL_EUSAGE, "%s '%s': %s", what, s, why);
    *out = v;
    return 0;
}

static int name_ok(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '_' ||
           c == '.' || c == '-';
}

int pl_config_add_agg(pl_config *cfg, const char *arg, pl_errbuf *eb)
{
    pl_agg_spec a;
    const char *eq, *spec, *f[4];
    size_t flen[4], nlen;
    size_t nf = 0, kk;
    char why[160];
    int rc = 0;

    memset(&a, 0, sizeof a);
    if (!arg)
        arg = "";
    if (cfg->naggs < 0 || cfg->naggs >= PL_MAX_AGGS) {
        rc = pl_err(eb, PL_EUSAGE, "--agg '%s': too many aggregations (at most %d)", arg,
                    PL_MAX_AGGS);
        goto fail;
    }
    eq = strchr(arg, '=');
    if (!eq) {
        rc = pl_err(eb, PL_EUSAGE, "--agg '%s': missing '=' (expected NAME=KIND:PARAMS)", arg);
        goto fail;
    }
    nlen = (size_t)(eq - arg);
    if (nlen == 0) {
        rc = pl_err(eb, PL_EUSAGE, "--agg '%s': empty aggregation name", arg);
        goto fail;
    }
    if (nlen > PL_AGG_NAME_MAX) {
        rc = pl_err(eb, PL_EUSAGE, "--agg '%s': name longer than %d bytes", arg,
                    PL_AGG_NAME_MAX);
        goto fail;
    }
    for (size_t i = 0; i < nlen; i++) {
        if (!name_ok(arg[i])) {
            rc = pl_err(eb, PL_EUSAGE,
                        "--agg '%s': invalid character in name (allowed: A-Z a-z 0-9 _ . -)",
                        arg);
            goto fail;
        }
    }
    memcpy(a.name, arg, nlen);
    a.name[nlen] = 0;
    for (int j = 0; j < cfg->naggs; j++) {
        if (strcmp(cfg->aggs[j].name, a.name) == 0) {
            rc = pl_err(eb, PL_EUSAGE, "--agg '%s': duplicate aggregation name '%s'", arg,
                        a.name);
            goto fail;
        }
    }

    /* split the spec on ':'; more than 4 fields is wrong for every kind */
    spec = eq + 1;
    for (const char *s = spec;;) {
        const char *c = strchr(s, ':');
        size_t l = c ? (size_t)(c - s) : strlen(s);
        if (nf == 4) {
            nf++;
            break;
        }
        f[nf] = s;
        flen[nf] = l;
        nf++;
        if (!c)
            break;
        s = c + 1;
    }
    for (kk = 0; kk < NKINDS; kk++)
        if (strlen(kinds[kk].name) == flen[0] && memcmp(kinds[kk].name, f[0], flen[0]) == 0)
            break;
    if (kk == NKINDS) {
        rc = pl_err(eb, PL_EUSAGE,
                    "--agg '%s': unknown aggregation kind '%.*s' (expected tumbling, sliding, "
                    "ticks, volume or dollar)",
                    arg, (int)flen[0], f[0]);
        goto fail;
    }
    if (nf != (size_t)kinds[kk].nparams + 1) {
        rc = pl_err(eb, PL_EUSAGE, "--agg '%s': %s fields for %s (expected NAME=%s)", arg,
                    nf > (size_t)kinds[kk].nparams + 1 ? "too many" : "missing",
                    kinds[kk].name, kinds[kk].usage);
        goto fail;
    }
    a.kind = kinds[kk].kind;
    switch (a.kind) {
    case PL_AGG_TUMBLING:
    case PL_AGG_SLIDING:
        if (scan_duration(f[1], flen[1], &a.size, why, sizeof why) < 0) {
            rc = pl_err(eb, PL_EUSAGE, "--agg '%s': %s", arg, why);
            goto fail;
        }
        if (a.size == 0) {
            rc = pl_err(eb, PL_EUSAGE, "--agg '%s': window size must be positive", arg);
            goto fail;
        }
        a.slide = a.size;
        if (a.kind == PL_AGG_SLIDING) {
            if (scan_duration(f[2], flen[2], &a.slide, why, sizeof why) < 0) {
                rc = pl_err(eb, PL_EUSAGE, "--agg '%s': %s", arg, why);
                goto fail;
            }
            if (a.slide == 0) {
                rc = pl_err(eb, PL_EUSAGE, "--agg '%s': slide must be positive", arg);
                goto fail;
            }
            /* the stream refuses it too, but only after the state dir is
             * locked; the batch would accept it: one answer, here */
            if (a.slide < a.size &&
                (uint64_t)((a.size - 1) / a.slide + 1) > PL_MAX_WINDOWS_PER_EVENT) {
                rc = pl_err(eb, PL_EUSAGE, "--agg '%s': each event would fall in %llu windows "
                            "(SIZE/SLIDE, rounded up); the limit is %u", arg,
                            (unsigned long long)((a.size - 1) / a.slide + 1),
                            PL_MAX_WINDOWS_PER_EVENT);
                goto fail;
            }
        }
        break;
    default:
        if (scan_positive(f[1], flen[1], &a.threshold, why, sizeof why) < 0) {
            rc = pl_err(eb, PL_EUSAGE, "--agg '%s': %s", arg, why);
            goto fail;
        }
        break;
    }
    cfg->aggs[cfg->naggs++] = a;
fail:
    return rc;
}

void pl_config_finish(pl_config *cfg)
{
    if (cfg->naggs == 0) {
        int rc = pl_config_add_agg(cfg, PL_DEFAULT_AGG, NULL);
        (void)rc; /* a constant that parses: exercised by the tests */
    }
}

static const char *kind_name(int kind)
{
    for (size_t k = 0; k < NKINDS; k++)
        if (kinds[k].kind == kind)
            return kinds[k].name;
    return "unknown";
}

/* snprintf that keeps counting past the end of buf, as snprintf itself does. */
static void put(char *buf, size_t n, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t n, size_t *len, const char *fmt, ...)
{
    va_list ap;
    int k;
    va_start(ap, fmt);
    k = vsnprintf(*len < n ? buf + *len : NULL, *len < n ? n - *len : 0, fmt, ap);
    va_end(ap);
    if (k > 0)
        *len += (size_t)k;
}

int pl_config_describe(const pl_config *cfg, char *buf, size_t n)
{
    size_t len = 0;
    if (n > 0)
        buf[0] = 0;
    put(buf, n, &len, "max_delay=%" PRId64 " idle_timeout=%" PRId64, cfg->max_delay,
        cfg->idle_timeout);
    for (int j = 0; j < cfg->naggs && j < PL_MAX_AGGS; j++) {
        const pl_agg_spec *a = &cfg->aggs[j];
        switch (a->kind) {
        case PL_AGG_TUMBLING:
            put(buf, n, &len, " agg=%s:tumbling:%" PRId64, a->name, a->size);
            break;
        case PL_AGG_SLIDING:
            put(buf, n, &len, " agg=%s:sliding:%" PRId64 ":%" PRId64, a->name, a->size,
                a->slide);
            break;
        default:
            put(buf, n, &len, " agg=%s:%s:%" PRId64, a->name, kind_name(a->kind),
                a->threshold);
            break;
        }
    }
    return (int)len;
}

uint64_t pl_config_fingerprint(const pl_config *cfg)
{
    /* 16 aggregations of at most ~100 bytes each, plus the two durations */
    char buf[4096];
    int n = pl_config_describe(cfg, buf, sizeof buf);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof buf)
        n = (int)sizeof buf - 1; /* unreachable for a config that fits PL_MAX_AGGS */
    return XXH3_64bits(buf, (size_t)n);
}
