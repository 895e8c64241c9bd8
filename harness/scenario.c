/*
 * scenario.c - scenario files: INI text parsed by libinih into an
 * hn_scenario, every value checked, every error one line
 * "FILE:LINE: [section] key: problem".
 *
 * Layout:
 *   1. Schema: sections and keys, the parse context, error helpers.
 *   2. Value parsers: integers, booleans, fractions, names, paths, fail point
 *      patterns, hit lists.
 *   3. libinih's reader callback.  libinih gives its handler neither line
 *      numbers (Debian builds it without INI_HANDLER_LINENO) nor section
 *      headers (nor INI_CALL_HANDLER_ON_NEW_SECTION), so the reader counts
 *      lines, notes section headers, catches lines libinih would silently
 *      misread (too long, indented) and lines it rejects without calling
 *      the handler (no '=').
 *   4. The handler: one function per section.
 *   5. hn_scenario_load: defaults, the parse, whole-file checks.
 *   6. refpipe argv words.
 *   7. The pipeline binary and its fail points (`replayproof check`).
 */
#include "hn_scenario.h"
#include "hn_run.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hn_faults.h"

extern char **environ;

#define NS_S 1000000000LL
#define PPM 1000000

/* ---------------------------------------------------------------- 1. Schema */

enum sec_id { SEC_NONE = -1, SEC_SCENARIO, SEC_WORKLOAD, SEC_PIPELINE, SEC_FAULTS, SEC_EXPECT, NSEC };

static const char *const sec_names[NSEC] = {"scenario", "workload", "pipeline", "faults",
                                            "expect"};
/* [expect] alone may be left out: its defaults are the correctness statement. */
static const int sec_required[NSEC] = {1, 1, 1, 1, 0};

enum key_id {
    K_NAME, K_DESCRIPTION,
    K_CSV,
    K_BINARY, K_AGG, K_MAX_DELAY, K_IDLE_TIMEOUT, K_CHECKPOINT_EVERY, K_ENV, K_FORK_SERVER,
    K_POINTS, K_HITS, K_CRASHES, K_BUDGET, K_SEED, K_TIMEOUT, K_MAX_RESTARTS,
    K_POWERCUT, K_POWERCUT_AT, K_POWERCUT_BUDGET,
    K_IO_ERRORS, K_IO_BUDGET, K_IO_PC_BUDGET, K_CORRUPT, K_CORRUPT_BUDGET, K_EARLY_STOP,
    K_FULL_RUN, K_SNAP_START, K_SNAP_POINT,
    K_CONVERGE, K_AGREE, K_MAX_LATE, K_MAX_DLQ,
    NKEYS
};

static const struct keydef {
    int sec;
    const char *name;
    int repeatable;
} keydefs[NKEYS] = {
    [K_NAME] = {SEC_SCENARIO, "name", 0},
    [K_DESCRIPTION] = {SEC_SCENARIO, "description", 0},
    [K_CSV] = {SEC_WORKLOAD, "csv", 0},
    [K_BINARY] = {SEC_PIPELINE, "binary", 0},
    [K_AGG] = {SEC_PIPELINE, "agg", 1},
    [K_MAX_DELAY] = {SEC_PIPELINE, "max-delay", 0},
    [K_IDLE_TIMEOUT] = {SEC_PIPELINE, "idle-timeout", 0},
    [K_CHECKPOINT_EVERY] = {SEC_PIPELINE, "checkpoint-every", 0},
    [K_ENV] = {SEC_PIPELINE, "env", 1},
    [K_FORK_SERVER] = {SEC_PIPELINE, "fork-server", 0},
    [K_POINTS] = {SEC_FAULTS, "points", 0},
    [K_HITS] = {SEC_FAULTS, "hits", 0},
    [K_CRASHES] = {SEC_FAULTS, "crashes", 0},
    [K_BUDGET] = {SEC_FAULTS, "budget", 0},
    [K_SEED] = {SEC_FAULTS, "seed", 0},
    [K_TIMEOUT] = {SEC_FAULTS, "timeout", 0},
    [K_MAX_RESTARTS] = {SEC_FAULTS, "max-restarts", 0},
    [K_POWERCUT] = {SEC_FAULTS, "powercut", 0},
    [K_POWERCUT_AT] = {SEC_FAULTS, "powercut-at", 0},
    [K_POWERCUT_BUDGET] = {SEC_FAULTS, "powercut-budget", 0},
    [K_IO_ERRORS] = {SEC_FAULTS, "io-errors", 0},
    [K_IO_BUDGET] = {SEC_FAULTS, "io-budget", 0},
    [K_IO_PC_BUDGET] = {SEC_FAULTS, "io-powercut-budget", 0},
    [K_CORRUPT] = {SEC_FAULTS, "corrupt", 0},
    [K_CORRUPT_BUDGET] = {SEC_FAULTS, "corrupt-budget", 0},
    [K_EARLY_STOP] = {SEC_FAULTS, "early-stop", 0},
    [K_FULL_RUN] = {SEC_FAULTS, "full-run-fraction", 0},
    [K_SNAP_START] = {SEC_FAULTS, "snapshot-start", 0},
    [K_SNAP_POINT] = {SEC_FAULTS, "snapshot-point", 0},
    [K_CONVERGE] = {SEC_EXPECT, "converge", 0},
    [K_AGREE] = {SEC_EXPECT, "agree-with-batch", 0},
    [K_MAX_LATE] = {SEC_EXPECT, "max-late-fraction", 0},
    [K_MAX_DLQ] = {SEC_EXPECT, "max-dlq-fraction", 0},
};

#define MAX_GEN_KEYS 64
#define MAX_HIT_SAMPLE 1000000
#define MAX_BUDGET 100000000
#define MAX_RESTARTS 1000000
#define DEFAULT_BINARY "refpipe-fiu"
#define DEFAULT_CHECKPOINT_EVERY 1000
#define DEFAULT_BUDGET 2000
#define DEFAULT_TIMEOUT (60 * NS_S)
#define MIN_TIMEOUT 1000000LL
#define DEFAULT_MAX_RESTARTS 20
#define DEFAULT_POWERCUT_BUDGET 200

typedef struct sc_ctx {
    hn_scenario *sc;
    pl_errbuf *eb;
    const char *path;
    FILE *f;
    char *buf;              /* getline's buffer */
    size_t cap;
    int lineno;             /* the line last handed to libinih */
    int sec;                /* enum sec_id of the current section */
    int sec_line[NSEC];     /* header line of each section seen, 0 = absent */
    int key_line[NKEYS];    /* first line of each key seen, 0 = absent */
    int pending;            /* a key line libinih has not yet passed to the handler */
    int desc_open;          /* an indented line may continue the description */
    int cont;               /* the line being handled continues the description */
    int ngen;               /* generator keys seen, for duplicates */
    char gen_key[MAX_GEN_KEYS][32];
    int gen_line[MAX_GEN_KEYS];
    char dir[4096];         /* the scenario's directory with its '/', or "" */
    int err;                /* the first error; later ones are not recorded */
} sc_ctx;

/* Record the first error only: the message a user reads is the first problem. */
static int ctx_fail(sc_ctx *c, int code, int line, const char *sec, const char *key,
                    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int ctx_fail(sc_ctx *c, int code, int line, const char *sec, const char *key,
                    const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    if (c->err)
        return c->err;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (sec && key)
        pl_err(c->eb, code, "%s:%d: [%s] %s: %s", c->path, line, sec, key, msg);
    else if (sec)
        pl_err(c->eb, code, "%s:%d: [%s]: %s", c->path, line, sec, msg);
    else
        pl_err(c->eb, code, "%s:%d: %s", c->path, line, msg);
    /* keys and values quoted from the file may hold control bytes: keep one printable line */
    for (char *q = c->eb ? c->eb->msg : NULL; q && *q; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f)
            *q = '?';
    c->err = code;
    return code;
}

/* A key's error at the current line, in the current section. */
#define KEY_FAIL(c, key, ...) \
    ctx_fail((c), PL_EUSAGE, (c)->lineno, sec_names[(c)->sec], (key), __VA_ARGS__)

/*
 * The part of a library message after the option it names ("--agg '...':
 * ..." becomes "'...': ..."), since our prefix names the key already.
 */
static const char *strip_key(const char *msg, const char *key)
{
    const char *p = msg;
    size_t n;
    while (*key == '-')
        key++;
    while (*p == '-')
        p++;
    n = strlen(key);
    if (n == 0 || strncmp(p, key, n) != 0 || (p[n] != ':' && p[n] != ' '))
        return msg;
    p += n;
    if (*p == ':')
        p++;
    while (*p == ' ')
        p++;
    return p;
}

/* ------------------------------------------------------- 2. Value parsers */

static int is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Digits only, no sign, no overflow, <= max.  Returns 0 or -1. */
static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (!is_digit(*s) || v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const struct { const char *w; int v; } words[] = {
        {"true", 1}, {"yes", 1}, {"1", 1}, {"false", 0}, {"no", 0}, {"0", 0},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strcasecmp(s, words[i].w) == 0) {
            *out = words[i].v;
            return 0;
        }
    }
    return -1;
}

/*
 * A fraction of 1 in parts per million: "0.01", "1", "0" or a percentage
 * "1%", "0.5%".  Integer arithmetic only; digits finer than 1 ppm are an
 * error rather than silently dropped, so a bound means what it says.
 * Returns 0, or -1 with why filled.
 */
static int parse_ppm(const char *s, int64_t *out, char *why, size_t whyn)
{
    size_t n = strlen(s), i = 0;
    int pct = 0;
    uint64_t iv = 0, fv = 0, unit, place;
    if (n > 0 && s[n - 1] == '%') {
        pct = 1;
        n--;
    }
    while (i < n && i < 9 && is_digit(s[i]))
        iv = iv * 10 + (uint64_t)(s[i++] - '0');
    if (i == 0 || (i < n && (s[i] != '.' || i + 1 == n)))
        goto bad;
    /* ppm per unit of the integer part; then per unit of each fraction digit */
    unit = pct ? 10000 : PPM;
    place = unit;
    if (i < n) {
        for (i++; i < n; i++) {
            if (!is_digit(s[i]))
                goto bad;
            if (place == 1) {
                if (s[i] != '0') {
                    snprintf(why, whyn, "'%s' is finer than one part per million", s);
                    return -1;
                }
                continue;
            }
            place /= 10;
            fv += (uint64_t)(s[i] - '0') * place;
        }
    }
    if (iv * unit + fv > PPM) {
        snprintf(why, whyn, "'%s' is more than 1 (100%%): write a fraction like 0.05 or a "
                 "percentage like 5%%", s);
        return -1;
    }
    *out = (int64_t)(iv * unit + fv);
    return 0;
bad:
    snprintf(why, whyn, "'%s' is not a fraction (a decimal like 0.01, or a percentage like 1%%)",
             s);
    return -1;
}

static int name_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || is_digit(ch) ||
           ch == '_' || ch == '.' || ch == '-';
}

static int valid_name(const char *s, size_t n)
{
    if (n == 0 || n > HN_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i]))
            return 0;
    return 1;
}

/* dir + rel into out (absolute rel unchanged).  Returns 0 or -1 (too long). */
static int join_path(const char *dir, const char *rel, char *out, size_t n)
{
    int w;
    if (rel[0] == '/')
        dir = "";
    w = snprintf(out, n, "%s%s", dir, rel);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

/*
 * Fail point patterns follow libfiu (and rp-crash.so): a point name, or a
 * prefix followed by one '*' at the end.  A '*' elsewhere would pass here
 * and match nothing at run time, so it is refused.
 */
static int check_pattern(const char *p, size_t n, char *why, size_t whyn)
{
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '*' && i + 1 < n) {
            snprintf(why, whyn, "'%.*s': '*' may only end a pattern (patterns are a point "
                     "name or a prefix followed by '*')", (int)n, p);
            return -1;
        }
        if (!name_char(ch) && ch != '/' && ch != '*') {
            snprintf(why, whyn, "'%.*s': invalid character '%c' (allowed: A-Z a-z 0-9 _ / . - "
                     "and a final *)", (int)n, p, ch);
            return -1;
        }
    }
    if (n >= sizeof ((hn_scenario *)0)->patterns[0]) {
        snprintf(why, whyn, "'%.40s...': longer than %zu bytes", p,
                 sizeof ((hn_scenario *)0)->patterns[0] - 1);
        return -1;
    }
    return 0;
}

/*
 * Split a list on commas and blanks ("a, b c").  Calls fn for each entry;
 * an empty entry (",,", a leading or trailing comma) is an error.  Returns
 * 0, -1 with why filled, or fn's failure.
 */
typedef int (*item_fn)(void *arg, const char *s, size_t n, char *why, size_t whyn);

static int split_list(const char *s, item_fn fn, void *arg, char *why, size_t whyn)
{
    int need_item = 0, nitems = 0;
    const char *p = s;
    for (;;) {
        while (is_space(*p))
            p++;
        if (*p == 0)
            break;
        if (*p == ',') {
            if (need_item || nitems == 0) {
                snprintf(why, whyn, "'%s': empty entry between commas", s);
                return -1;
            }
            need_item = 1;
            p++;
            continue;
        }
        {
            const char *q = p;
            while (*q && *q != ',' && !is_space(*q))
                q++;
            if (fn(arg, p, (size_t)(q - p), why, whyn) < 0)
                return -1;
            nitems++;
            need_item = 0;
            p = q;
        }
    }
    if (need_item) {
        snprintf(why, whyn, "'%s': trailing comma", s);
        return -1;
    }
    if (nitems == 0) {
        snprintf(why, whyn, "empty list");
        return -1;
    }
    return 0;
}

static int add_pattern(void *arg, const char *s, size_t n, char *why, size_t whyn)
{
    hn_scenario *sc = arg;
    if (check_pattern(s, n, why, whyn) < 0)
        return -1;
    for (int i = 0; i < sc->npatterns; i++) {
        if (strlen(sc->patterns[i]) == n && memcmp(sc->patterns[i], s, n) == 0) {
            snprintf(why, whyn, "'%.*s' is listed twice", (int)n, s);
            return -1;
        }
    }
    if (sc->npatterns >= HN_MAX_PATTERNS) {
        snprintf(why, whyn, "more than %d patterns", HN_MAX_PATTERNS);
        return -1;
    }
    memcpy(sc->patterns[sc->npatterns], s, n);
    sc->patterns[sc->npatterns][n] = 0;
    sc->npatterns++;
    return 0;
}

/* io-errors entry: CALL[:ERRNO] (hn_faults.h). */
static int add_ioerr(void *arg, const char *s, size_t n, char *why, size_t whyn)
{
    hn_scenario *sc = arg;
    const char *colon = memchr(s, ':', n);
    size_t cn = colon ? (size_t)(colon - s) : n;
    char point[128];
    int err = EIO;
    if (hn_ioerr_point(s, cn, point, sizeof point) < 0) {
        snprintf(why, whyn, "'%.*s': not a call (write, pwrite, fsync, fdatasync, rename, "
                 "write-short, pwrite-short) or a fail point name", (int)cn, s);
        return -1;
    }
    if (colon && (err = hn_errno_parse(colon + 1, n - cn - 1)) < 0) {
        snprintf(why, whyn, "'%.*s': '%.*s' is not an errno (EIO, ENOSPC, EDQUOT, EROFS, ... "
                 "or a number)", (int)n, s, (int)(n - cn - 1), colon + 1);
        return -1;
    }
    for (int i = 0; i < sc->nioerr; i++)
        if (!strcmp(sc->ioerr_point[i], point) && sc->ioerr_errno[i] == err) {
            snprintf(why, whyn, "'%.*s' is listed twice", (int)n, s);
            return -1;
        }
    if (sc->nioerr >= HN_MAX_IOERR) {
        snprintf(why, whyn, "more than %d entries", HN_MAX_IOERR);
        return -1;
    }
    snprintf(sc->ioerr_point[sc->nioerr], sizeof sc->ioerr_point[0], "%s", point);
    sc->ioerr_errno[sc->nioerr++] = err;
    return 0;
}

static int add_corrupt(void *arg, const char *s, size_t n, char *why, size_t whyn)
{
    hn_scenario *sc = arg;
    int k = hn_corrupt_parse(s, n);
    if (k < 0) {
        snprintf(why, whyn, "'%.*s' is not a corruption (truncate, bitflip, zero-sector, "
                 "delete, sink-bitflip, foreign-config, sink-value-rot)", (int)n, s);
        return -1;
    }
    for (int i = 0; i < sc->ncorrupt; i++)
        if (sc->corrupt[i] == k) {
            snprintf(why, whyn, "'%.*s' is listed twice", (int)n, s);
            return -1;
        }
    sc->corrupt[sc->ncorrupt++] = k; /* distinct kinds: fits HN_MAX_CORRUPT */
    return 0;
}

static int add_hit(void *arg, const char *s, size_t n, char *why, size_t whyn)
{
    hn_scenario *sc = arg;
    char tmp[32];
    uint64_t v;
    int i;
    if (n >= sizeof tmp || (memcpy(tmp, s, n), tmp[n] = 0, parse_uint(tmp, UINT64_MAX, &v)) < 0
        || v == 0) {
        snprintf(why, whyn, "'%.*s' is not a hit number (1, 2, ...); hits is all, sample N, "
                 "or a list like 1,2,5,100", (int)(n < 40 ? n : 40), s);
        return -1;
    }
    if (sc->nhits >= HN_MAX_HITS) {
        snprintf(why, whyn, "more than %d hit numbers", HN_MAX_HITS);
        return -1;
    }
    /* kept ascending: the order hits are listed in means nothing */
    for (i = sc->nhits; i > 0 && sc->hits[i - 1] > v; i--)
        sc->hits[i] = sc->hits[i - 1];
    if (i > 0 && sc->hits[i - 1] == v) {
        memmove(&sc->hits[i], &sc->hits[i + 1], (size_t)(sc->nhits - i) * sizeof sc->hits[0]);
        snprintf(why, whyn, "hit %llu is listed twice", (unsigned long long)v);
        return -1;
    }
    sc->hits[i] = v;
    sc->nhits++;
    return 0;
}

/* ---------------------------------------------------------- 3. The reader */

static int find_section(const char *s, size_t n)
{
    for (int i = 0; i < NSEC; i++)
        if (strlen(sec_names[i]) == n && memcmp(sec_names[i], s, n) == 0)
            return i;
    return SEC_NONE;
}

/* A section header line ("[name]" at the start of the line). */
static void see_section(sc_ctx *c, const char *p)
{
    const char *end = strchr(p + 1, ']');
    size_t n;
    int s;
    if (!end) {
        ctx_fail(c, PL_EFORMAT, c->lineno, NULL, NULL,
                 "syntax error: section header without ']'");
        return;
    }
    n = (size_t)(end - p - 1);
    s = find_section(p + 1, n);
    if (s == SEC_NONE) {
        ctx_fail(c, PL_EUSAGE, c->lineno, NULL, NULL,
                 "[%.*s]: unknown section (expected [scenario], [workload], [pipeline], "
                 "[faults] or [expect])", (int)(n < 64 ? n : 64), p + 1);
        return;
    }
    if (c->sec_line[s]) {
        ctx_fail(c, PL_EUSAGE, c->lineno, sec_names[s], NULL,
                 "section given twice (first at line %d)", c->sec_line[s]);
        return;
    }
    c->sec_line[s] = c->lineno;
    c->sec = s;
}

/*
 * libinih's ini_reader: one line per call, like fgets.  Returning NULL ends
 * the parse, which is how the first error stops it.
 */
static char *reader(char *str, int num, void *stream)
{
    sc_ctx *c = stream;
    ssize_t n;
    char *line, *p;

    if (c->pending) {
        /* libinih dropped the previous key line without calling the handler */
        ctx_fail(c, PL_EFORMAT, c->pending, NULL, NULL,
                 "syntax error: expected 'key = value', '[section]' or a ';' or '#' comment");
    }
    if (c->err)
        return NULL;
    errno = 0;
    n = getline(&c->buf, &c->cap, c->f);
    if (n < 0) {
        if (ferror(c->f))
            c->err = pl_err_os(c->eb, errno ? errno : EIO, "%s: read", c->path);
        return NULL;
    }
    c->lineno++;
    line = c->buf;
    if (n > 0 && line[n - 1] == '\n')
        line[--n] = 0;
    if ((size_t)n != strlen(line)) {
        ctx_fail(c, PL_EFORMAT, c->lineno, NULL, NULL, "NUL byte in the line");
        return NULL;
    }
    /* libinih would skip a UTF-8 BOM; our own header check must too */
    if (c->lineno == 1 && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
        line += 3;
        n -= 3;
    }
    /* libinih reads a longer line in pieces and misparses the rest */
    if (n > num - 2) {
        ctx_fail(c, PL_EFORMAT, c->lineno, NULL, NULL,
                 "line longer than %d characters (a description may continue on indented "
                 "lines)", num - 2);
        return NULL;
    }
    c->cont = 0;
    for (p = line; is_space(*p) || *p == '\r'; p++)
        ;
    if (*p == 0 || *p == ';' || *p == '#') {
        /* blank or comment: libinih ignores it, and so may we */
    } else if (p > line) {
        /* libinih (multi-line on) makes this a continuation of the previous key */
        if (!c->desc_open) {
            ctx_fail(c, PL_EFORMAT, c->lineno, NULL, NULL,
                     "indented line (only a description may continue on indented lines; "
                     "remove the indentation)");
            return NULL;
        }
        c->cont = 1;
    } else if (*p == '[') {
        c->desc_open = 0;
        see_section(c, p);
        if (c->err)
            return NULL;
    } else {
        c->pending = c->lineno;
    }
    memcpy(str, line, (size_t)n);
    str[n] = '\n';
    str[n + 1] = 0;
    return str;
}

/* --------------------------------------------------------- 4. The handler */

/* A single-valued key seen twice is an error; a repeatable one accumulates. */
static int see_key(sc_ctx *c, int k, const char *raw)
{
    if (c->key_line[k] && !keydefs[k].repeatable)
        return KEY_FAIL(c, raw, "duplicated key (first at line %d)",
                        c->key_line[k]);
    if (!c->key_line[k])
        c->key_line[k] = c->lineno;
    return 0;
}

static int unknown_key(sc_ctx *c, const char *name)
{
    char list[256];
    size_t w = 0;
    int sec = c->sec, nk = 0, seen = 0;
    for (int k = 0; k < NKEYS; k++)
        if (keydefs[k].sec == sec)
            nk++;
    list[0] = 0;
    for (int k = 0; k < NKEYS && w < sizeof list; k++) {
        if (keydefs[k].sec != sec)
            continue;
        seen++;
        w += (size_t)snprintf(list + w, sizeof list - w, "%s%s",
                              seen == 1 ? "" : seen == nk ? " or " : ", ", keydefs[k].name);
    }
    return KEY_FAIL(c, name, "unknown key (expected %s)", list);
}

static int on_scenario(sc_ctx *c, int k, const char *v)
{
    hn_scenario *sc = c->sc;
    size_t n = strlen(v);
    switch (k) {
    case K_NAME:
        if (!valid_name(v, n))
            return KEY_FAIL(c, "name", "'%.80s' is not a name (1 to %d of A-Z a-z 0-9 _ . -)",
                            v, HN_NAME_MAX);
        memcpy(sc->name, v, n + 1);
        return 0;
    default: /* K_DESCRIPTION */
        if (n >= sizeof sc->description)
            return KEY_FAIL(c, "description", "longer than %zu bytes",
                            sizeof sc->description - 1);
        memcpy(sc->description, v, n + 1);
        c->desc_open = 1;
        return 0;
    }
}

/*
 * An indented line after the description: joined with one space.  Some
 * libinih builds keep an inline comment on continuation lines; it is
 * dropped here so that " ; note" means the same on every line.
 */
static int on_continuation(sc_ctx *c, const char *v)
{
    hn_scenario *sc = c->sc;
    size_t have = strlen(sc->description), n;
    for (n = 0; v[n]; n++)
        if (v[n] == ';' && n > 0 && is_space(v[n - 1]))
            break;
    while (n > 0 && is_space(v[n - 1]))
        n--;
    if (n == 0)
        return 0;
    if (have + 1 + n >= sizeof sc->description)
        return KEY_FAIL(c, "description", "longer than %zu bytes",
                        sizeof sc->description - 1);
    if (have)
        sc->description[have++] = ' ';
    memcpy(sc->description + have, v, n);
    sc->description[have + n] = 0;
    return 0;
}

/* Option names listed by hn_gen_usage ("  --NAME ..." lines), comma-separated. */
static void gen_option_list(char *out, size_t n)
{
    const char *u = hn_gen_usage();
    size_t w = 0;
    out[0] = 0;
    while (u && *u && w + 1 < n) {
        const char *eol = strchr(u, '\n');
        if (!eol)
            eol = u + strlen(u);
        if (strncmp(u, "  --", 4) == 0) {
            const char *s = u + 4, *e = s;
            while (e < eol && !is_space(*e))
                e++;
            w += (size_t)snprintf(out + w, n - w, "%s%.*s", w ? ", " : "", (int)(e - s), s);
        }
        u = *eol ? eol + 1 : eol;
    }
}

/*
 * A length of time in a scenario must carry its unit: "max-delay = 500"
 * meant 500 ms far more often than 500 ns.  0 needs none.  Returns 0, or
 * fails the key with a hint spelling out the choices.
 */
static int unit_required(sc_ctx *c, const char *key, const char *v, size_t n)
{
    size_t i = 0, nz = 0;
    for (; i < n && is_digit(v[i]); i++)
        nz += v[i] != '0';
    if (i == 0 || i < n || nz == 0)
        return 0; /* not a bare number (the parser judges it), or zero */
    return KEY_FAIL(c, key, "'%.*s' has no unit (a scenario requires one: %.*sms, %.*ss, ... "
                    "from ns us ms s m h)", (int)(n < 40 ? n : 40), v, (int)(n < 24 ? n : 24), v,
                    (int)(n < 24 ? n : 24), v);
}

/* unit_required for each window field of a tumbling or sliding --agg spec. */
static int agg_units(sc_ctx *c, const char *v)
{
    const char *spec = strchr(v, '='), *f;
    if (!spec)
        return 0;
    spec++;
    if (strncmp(spec, "tumbling:", 9) != 0 && strncmp(spec, "sliding:", 8) != 0)
        return 0;
    for (f = strchr(spec, ':'); f; f = strchr(f, ':')) {
        const char *e;
        f++;
        e = strchr(f, ':');
        if (unit_required(c, "agg", f, e ? (size_t)(e - f) : strlen(f)) < 0)
            return c->err;
    }
    return 0;
}

/* [workload] keys that also apply to a csv log, as seeded transforms. */
static int xform_key(const char *key)
{
    static const char *const keys[] = {"seed",   "skew",      "disorder",    "bursts",
                                       "burst-len", "stalls", "stall-len", "poison-frac"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(key, keys[i]) == 0)
            return 1;
    return 0;
}

static int on_workload(sc_ctx *c, const char *raw, const char *key, const char *v)
{
    hn_scenario *sc = c->sc;
    pl_errbuf geb = {{0}};
    struct stat st;
    int fd;

    if (strcmp(key, "csv") == 0) {
        if (see_key(c, K_CSV, raw) < 0)
            return c->err;
        for (int i = 0; i < c->ngen; i++)
            if (!xform_key(c->gen_key[i]))
                return KEY_FAIL(c, "csv", "given together with generator option '%s' (line "
                                "%d): a workload is a CSV log or generator options, not both",
                                c->gen_key[i], c->gen_line[i]);
        if (!*v)
            return KEY_FAIL(c, "csv", "empty path");
        if (join_path(c->dir, v, sc->csv_path, sizeof sc->csv_path) < 0)
            return KEY_FAIL(c, "csv", "path too long");
        fd = open(sc->csv_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            return ctx_fail(c, -e, c->lineno, "workload", "csv", "'%s': %s", sc->csv_path,
                            strerror(e));
        }
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
            close(fd);
            return ctx_fail(c, -EISDIR, c->lineno, "workload", "csv", "'%s': %s",
                            sc->csv_path, strerror(EISDIR));
        }
        close(fd);
        sc->use_csv = 1;
        return 0;
    }
    if (c->key_line[K_CSV] && !xform_key(key))
        return KEY_FAIL(c, raw, "generator option given together with csv (line %d): a "
                        "workload is a CSV log or generator options, not both",
                        c->key_line[K_CSV]);
    for (int i = 0; i < c->ngen; i++)
        if (strcmp(c->gen_key[i], key) == 0)
            return KEY_FAIL(c, raw, "duplicated key (first at line %d)", c->gen_line[i]);
    if (hn_gen_opt_is_span(raw) && unit_required(c, raw, v, strlen(v)) < 0)
        return c->err;
    if (strcmp(key, "bursts") == 0 || strcmp(key, "burst-len") == 0) {
        /* not a generator option: a csv transform only */
        uint64_t u;
        int64_t d;
        if (strcmp(key, "bursts") == 0) {
            if (parse_uint(v, 1000000, &u) < 0)
                return KEY_FAIL(c, raw, "'%.80s' is not an integer in 0..1000000", v);
            sc->xform.bursts = (int32_t)u;
        } else {
            if (unit_required(c, raw, v, strlen(v)) < 0)
                return c->err;
            if (pl_parse_duration(v, raw, &d, &geb) < 0 || d <= 0)
                return KEY_FAIL(c, raw, "'%.80s' is not a positive duration", v);
            sc->xform.burst_len = d;
        }
    } else if (hn_gen_parse_opt(&sc->gen, raw, v, &geb) < 0) {
        char list[320];
        if (strstr(geb.msg, "unknown option")) {
            gen_option_list(list, sizeof list);
            return KEY_FAIL(c, raw, "unknown key (expected csv, or a generator option: %s)",
                            list);
        }
        return KEY_FAIL(c, raw, "%s", strip_key(geb.msg, raw));
    }
    /* keys hn_gen_parse_opt knows fit: its names are short */
    if (c->ngen < MAX_GEN_KEYS && strlen(key) < sizeof c->gen_key[0]) {
        strcpy(c->gen_key[c->ngen], key);
        c->gen_line[c->ngen] = c->lineno;
        c->ngen++;
    }
    return 0;
}

static int env_name_ok(const char *s, size_t n)
{
    if (n == 0 || is_digit(s[0]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || is_digit(s[i]) ||
              s[i] == '_'))
            return 0;
    return 1;
}

static int on_env(sc_ctx *c, const char *v)
{
    hn_scenario *sc = c->sc;
    const char *eq = strchr(v, '=');
    size_t kn;
    if (!eq || !env_name_ok(v, (size_t)(eq - v)))
        return KEY_FAIL(c, "env", "'%.80s' is not KEY=VALUE (KEY: letters, digits, _)", v);
    kn = (size_t)(eq - v);
    /* the harness drives faults through these; a scenario value would defeat it */
    if ((kn == 10 && memcmp(v, "LD_PRELOAD", 10) == 0) || strncmp(v, "RP_FIU_", 7) == 0 ||
        (kn == 18 && memcmp(v, "REFPIPE_FIU_EVENTS", 18) == 0))
        return KEY_FAIL(c, "env", "%.*s is set by the harness and may not be given", (int)kn,
                        v);
    if (strlen(v) >= sizeof sc->env[0])
        return KEY_FAIL(c, "env", "'%.40s...' longer than %zu bytes", v, sizeof sc->env[0] - 1);
    for (int i = 0; i < sc->nenv; i++)
        if (strncmp(sc->env[i], v, kn + 1) == 0)
            return KEY_FAIL(c, "env", "%.*s is given twice", (int)kn, v);
    if (sc->nenv >= HN_MAX_ENV)
        return KEY_FAIL(c, "env", "more than %d variables", HN_MAX_ENV);
    strcpy(sc->env[sc->nenv++], v);
    return 0;
}

static int on_pipeline(sc_ctx *c, int k, const char *v)
{
    hn_scenario *sc = c->sc;
    pl_errbuf leb = {{0}};
    uint64_t u;
    switch (k) {
    case K_BINARY:
        if (!*v)
            return KEY_FAIL(c, "binary", "empty");
        /* a bare name is resolved at run time (hn_scenario_binary_path) */
        if (join_path(strchr(v, '/') ? c->dir : "", v, sc->binary, sizeof sc->binary) < 0)
            return KEY_FAIL(c, "binary", "path too long");
        sc->binary_line = c->lineno;
        return 0;
    case K_AGG:
        if (agg_units(c, v) < 0)
            return c->err;
        if (pl_config_add_agg(&sc->cfg, v, &leb) < 0)
            return KEY_FAIL(c, "agg", "%s", strip_key(leb.msg, "agg"));
        return 0;
    case K_MAX_DELAY:
    case K_IDLE_TIMEOUT:
        if (unit_required(c, keydefs[k].name, v, strlen(v)) < 0)
            return c->err;
        if (pl_parse_duration(v, keydefs[k].name,
                              k == K_MAX_DELAY ? &sc->cfg.max_delay : &sc->cfg.idle_timeout,
                              &leb) < 0)
            return KEY_FAIL(c, keydefs[k].name, "%s", strip_key(leb.msg, keydefs[k].name));
        return 0;
    case K_CHECKPOINT_EVERY:
        if (parse_uint(v, UINT64_MAX, &u) < 0 || u == 0)
            return KEY_FAIL(c, "checkpoint-every", "'%.80s' is not a positive integer "
                            "(records per commit cycle)", v);
        sc->checkpoint_every = u;
        return 0;
    case K_FORK_SERVER: {
        int on;
        if (parse_bool(v, &on) < 0)
            return KEY_FAIL(c, "fork-server", "'%.80s' is not a boolean (true, false, yes, no, "
                            "1 or 0)", v);
        sc->no_fork_server = !on;
        return 0;
    }
    default: /* K_ENV */
        return on_env(c, v);
    }
}

static int on_hits(sc_ctx *c, const char *v)
{
    hn_scenario *sc = c->sc;
    char why[300];
    uint64_t u;
    if (strcmp(v, "all") == 0) {
        sc->hits_mode = HN_HITS_ALL;
        return 0;
    }
    if (strncmp(v, "sample", 6) == 0 && (v[6] == 0 || is_space(v[6]))) {
        const char *p = v + 6;
        while (is_space(*p))
            p++;
        if (parse_uint(p, MAX_HIT_SAMPLE, &u) < 0 || u == 0)
            return KEY_FAIL(c, "hits", "'%.80s': sample needs a count of hits per point, "
                            "1..%d (e.g. sample 20)", v, MAX_HIT_SAMPLE);
        sc->hits_mode = HN_HITS_SAMPLE;
        sc->sample = (int)u;
        return 0;
    }
    sc->nhits = 0;
    if (split_list(v, add_hit, sc, why, sizeof why) < 0)
        return KEY_FAIL(c, "hits", "%s", why);
    sc->hits_mode = HN_HITS_LIST;
    return 0;
}

/* One persistence model of `powercut =`. */
static int add_model(void *arg, const char *s, size_t n, char *why, size_t whyn)
{
    hn_scenario *sc = arg;
    int m = hn_pc_model_parse(s, n);
    if (m < 0) {
        snprintf(why, whyn, "'%.*s' is not a persistence model (strict, keep-some, torn, "
                 "ext4-ordered)", (int)(n < 60 ? n : 60), s);
        return -1;
    }
    for (int i = 0; i < sc->npc_models; i++)
        if (sc->pc_models[i] == m) {
            snprintf(why, whyn, "'%.*s' given twice", (int)n, s);
            return -1;
        }
    sc->pc_models[sc->npc_models++] = m;
    return 0;
}

static int on_powercut(sc_ctx *c, int k, const char *v)
{
    hn_scenario *sc = c->sc;
    char why[300];
    uint64_t u;
    switch (k) {
    case K_POWERCUT:
        sc->npc_models = 0;
        if (strcmp(v, "none") == 0)
            return 0;
        if (split_list(v, add_model, sc, why, sizeof why) < 0)
            return KEY_FAIL(c, "powercut", "%s", why);
        return 0;
    case K_POWERCUT_AT:
        if (strcmp(v, "all") == 0)
            sc->pc_at_points = 0;
        else if (strcmp(v, "points") == 0)
            sc->pc_at_points = 1;
        else
            return KEY_FAIL(c, "powercut-at", "'%.80s' is not 'all' (before and after every "
                            "fsync, rename and unlink, and every fail point hit) or 'points' "
                            "(the hits of the selected points only)", v);
        return 0;
    default: /* K_POWERCUT_BUDGET */
        if (parse_uint(v, MAX_BUDGET, &u) < 0 || u == 0)
            return KEY_FAIL(c, "powercut-budget", "'%.80s' is not an integer in 1..%d (crash "
                            "states)", v, MAX_BUDGET);
        sc->pc_budget = (int)u;
        return 0;
    }
}

static int on_faults(sc_ctx *c, int k, const char *v)
{
    hn_scenario *sc = c->sc;
    pl_errbuf leb = {{0}};
    char why[300];
    uint64_t u;
    int64_t d;
    switch (k) {
    case K_POINTS:
        sc->npatterns = 0;
        if (split_list(v, add_pattern, sc, why, sizeof why) < 0)
            return KEY_FAIL(c, "points", "%s", why);
        sc->points_line = c->lineno;
        return 0;
    case K_HITS:
        return on_hits(c, v);
    case K_POWERCUT:
    case K_POWERCUT_AT:
    case K_POWERCUT_BUDGET:
        return on_powercut(c, k, v);
    case K_CRASHES:
        if (parse_uint(v, HN_MAX_CRASHES, &u) < 0 || u == 0)
            return KEY_FAIL(c, "crashes", "'%.80s' is not an integer in 1..%d (crashes per "
                            "trial)", v, HN_MAX_CRASHES);
        sc->crashes = (int)u;
        return 0;
    case K_BUDGET:
        if (parse_uint(v, MAX_BUDGET, &u) < 0 || u == 0)
            return KEY_FAIL(c, "budget", "'%.80s' is not an integer in 1..%d (trials)", v,
                            MAX_BUDGET);
        sc->budget = (int)u;
        return 0;
    case K_SEED:
        if (parse_uint(v, UINT64_MAX, &u) < 0)
            return KEY_FAIL(c, "seed", "'%.80s' is not an integer in 0..2^64-1", v);
        sc->seed = u;
        return 0;
    case K_TIMEOUT:
        if (unit_required(c, "timeout", v, strlen(v)) < 0)
            return c->err;
        if (pl_parse_duration(v, "timeout", &d, &leb) < 0)
            return KEY_FAIL(c, "timeout", "%s", strip_key(leb.msg, "timeout"));
        /* a bare number is nanoseconds: "timeout = 30" would kill every process */
        if (d < MIN_TIMEOUT)
            return KEY_FAIL(c, "timeout", "'%s' is less than 1 ms (a number without a unit "
                            "is nanoseconds: write 30s)", v);
        sc->timeout_ns = d;
        return 0;
    case K_IO_ERRORS:
        sc->nioerr = 0;
        if (split_list(v, add_ioerr, sc, why, sizeof why) < 0)
            return KEY_FAIL(c, "io-errors", "%s", why);
        return 0;
    case K_CORRUPT:
        sc->ncorrupt = 0;
        if (split_list(v, add_corrupt, sc, why, sizeof why) < 0)
            return KEY_FAIL(c, "corrupt", "%s", why);
        return 0;
    case K_IO_BUDGET:
    case K_IO_PC_BUDGET:
    case K_CORRUPT_BUDGET:
        if (parse_uint(v, MAX_BUDGET, &u) < 0)
            return KEY_FAIL(c, keydefs[k].name, "'%.80s' is not an integer in 0..%d (trials)",
                            v, MAX_BUDGET);
        *(k == K_IO_BUDGET      ? &sc->io_budget
          : k == K_IO_PC_BUDGET ? &sc->io_pc_budget
                                : &sc->corrupt_budget) = (int)u;
        return 0;
    case K_EARLY_STOP:
        if (parse_bool(v, &sc->early_stop) < 0)
            return KEY_FAIL(c, "early-stop", "'%.80s' is not a boolean (true, false, yes, no, "
                            "1 or 0)", v);
        return 0;
    case K_FULL_RUN:
        if (parse_ppm(v, &sc->full_run_ppm, why, sizeof why) < 0)
            return KEY_FAIL(c, "full-run-fraction", "%s", why);
        return 0;
    case K_SNAP_START:
        if (parse_bool(v, &sc->snapshot_start) < 0)
            return KEY_FAIL(c, "snapshot-start", "'%.80s' is not a boolean (true, false, yes, "
                            "no, 1 or 0)", v);
        return 0;
    case K_SNAP_POINT:
        /* one exact point: its hits are counted, not matched */
        if (check_pattern(v, strlen(v), why, sizeof why) < 0)
            return KEY_FAIL(c, "snapshot-point", "%s", why);
        if (strchr(v, '*'))
            return KEY_FAIL(c, "snapshot-point", "'%.80s' is a pattern; name one fail point",
                            v);
        memcpy(sc->snapshot_point, v, strlen(v) + 1);
        return 0;
    default: /* K_MAX_RESTARTS */
        if (parse_uint(v, MAX_RESTARTS, &u) < 0 || u == 0)
            return KEY_FAIL(c, "max-restarts", "'%.80s' is not an integer in 1..%d", v,
                            MAX_RESTARTS);
        sc->max_restarts = (int)u;
        return 0;
    }
}

static int on_expect(sc_ctx *c, int k, const char *v)
{
    hn_scenario *sc = c->sc;
    char why[200];
    switch (k) {
    case K_CONVERGE:
    case K_AGREE:
        if (parse_bool(v, k == K_CONVERGE ? &sc->expect_converge : &sc->expect_agree) < 0)
            return KEY_FAIL(c, keydefs[k].name, "'%.80s' is not a boolean (true, false, yes, "
                            "no, 1 or 0)", v);
        return 0;
    default: /* K_MAX_LATE, K_MAX_DLQ */
        if (parse_ppm(v, k == K_MAX_LATE ? &sc->max_late_ppm : &sc->max_dlq_ppm, why,
                      sizeof why) < 0)
            return KEY_FAIL(c, keydefs[k].name, "%s", why);
        return 0;
    }
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    sc_ctx *c = user;
    char key[64];
    size_t n = strlen(name);
    int k;

    c->pending = 0;
    if (c->err)
        return 0;
    if (!value)
        value = "";
    if (c->cont) {
        on_continuation(c, value);
        return c->err ? 0 : 1;
    }
    c->desc_open = 0;
    if (c->sec == SEC_NONE) {
        ctx_fail(c, PL_EUSAGE, c->lineno, NULL, NULL,
                 "key '%.64s' before the first [section]", name);
        return 0;
    }
    if (n == 0) {
        KEY_FAIL(c, "(empty)", "a key name is missing before '='");
        return 0;
    }
    if (n >= sizeof key) {
        KEY_FAIL(c, name, "unknown key");
        return 0;
    }
    /* '_' and '-' are interchangeable in keys, as in generator options */
    for (size_t i = 0; i <= n; i++)
        key[i] = name[i] == '_' ? '-' : name[i];
    if (c->sec == SEC_WORKLOAD) {
        on_workload(c, name, key, value);
        return c->err ? 0 : 1;
    }
    for (k = 0; k < NKEYS; k++)
        if (keydefs[k].sec == c->sec && strcmp(keydefs[k].name, key) == 0)
            break;
    if (k == NKEYS) {
        unknown_key(c, name);
        return 0;
    }
    if (see_key(c, k, name) < 0)
        return 0;
    switch (c->sec) {
    case SEC_SCENARIO:
        on_scenario(c, k, value);
        break;
    case SEC_PIPELINE:
        on_pipeline(c, k, value);
        break;
    case SEC_FAULTS:
        on_faults(c, k, value);
        break;
    default:
        on_expect(c, k, value);
        break;
    }
    (void)section;
    return c->err ? 0 : 1;
}

/* ------------------------------------------------------------ 5. Loading */

static void defaults(hn_scenario *sc)
{
    memset(sc, 0, sizeof *sc);
    hn_gen_defaults(&sc->gen);
    hn_xform_init(&sc->xform);
    pl_config_init(&sc->cfg);
    strcpy(sc->binary, DEFAULT_BINARY);
    sc->checkpoint_every = DEFAULT_CHECKPOINT_EVERY;
    sc->npatterns = 1;
    strcpy(sc->patterns[0], "*");
    sc->hits_mode = HN_HITS_ALL;
    sc->crashes = 1;
    sc->budget = DEFAULT_BUDGET;
    sc->io_budget = 40;
    sc->corrupt_budget = 24;
    sc->early_stop = 1;
    sc->snapshot_start = 1;
    snprintf(sc->snapshot_point, sizeof sc->snapshot_point, "%s", "ckpt/done/after");
    sc->full_run_ppm = 50000; /* 5% */
    sc->seed = 1;
    sc->timeout_ns = DEFAULT_TIMEOUT;
    sc->max_restarts = DEFAULT_MAX_RESTARTS;
    sc->pc_budget = DEFAULT_POWERCUT_BUDGET;
    sc->expect_converge = 1;
    sc->expect_agree = 1;
    sc->max_late_ppm = -1;
    sc->max_dlq_ppm = -1;
}

/* Checks that need the whole file. */
static int finish(sc_ctx *c)
{
    hn_scenario *sc = c->sc;
    pl_errbuf geb = {{0}};
    const char *base, *dot;
    size_t n;

    /* no line to point at: name the first, where the section belongs */
    if (c->lineno == 0)
        return ctx_fail(c, PL_EUSAGE, 1, NULL, NULL, "empty file (a scenario needs at least "
                        "[scenario], [workload], [pipeline] and [faults]; see docs/scenarios.md)");
    for (int s = 0; s < NSEC; s++)
        if (sec_required[s] && !c->sec_line[s])
            return ctx_fail(c, PL_EUSAGE, c->lineno, NULL, NULL, "missing [%s]", sec_names[s]);
    if (!c->key_line[K_NAME]) {
        base = strrchr(sc->path, '/');
        base = base ? base + 1 : sc->path;
        dot = strrchr(base, '.');
        n = dot && dot > base ? (size_t)(dot - base) : strlen(base);
        if (!valid_name(base, n))
            return ctx_fail(c, PL_EUSAGE, c->sec_line[SEC_SCENARIO], "scenario", "name",
                            "the file name '%.*s' is not a valid default name (1 to %d of "
                            "A-Z a-z 0-9 _ . -): set name =", (int)(n < 80 ? n : 80), base,
                            HN_NAME_MAX);
        memcpy(sc->name, base, n);
        sc->name[n] = 0;
    }
    /* csv: the transform keys given, with the generator's parsing of them */
    for (int i = 0; i < c->ngen; i++) {
        const char *k = c->gen_key[i];
        if (!sc->use_csv && (!strcmp(k, "bursts") || !strcmp(k, "burst-len")))
            return ctx_fail(c, PL_EUSAGE, c->gen_line[i], "workload", k, "applies to a csv "
                            "log only (the generator's disorder has no bursts)");
        if (!sc->use_csv)
            continue;
        if (!strcmp(k, "seed"))
            sc->xform.seed = sc->gen.seed;
        else if (!strcmp(k, "skew"))
            sc->xform.skew = sc->gen.skew, sc->xform.set |= HN_XF_SKEW;
        else if (!strcmp(k, "disorder"))
            sc->xform.disorder = sc->gen.disorder, sc->xform.set |= HN_XF_DISORDER;
        else if (!strcmp(k, "stalls"))
            sc->xform.stalls = sc->gen.stalls, sc->xform.set |= HN_XF_STALLS;
        else if (!strcmp(k, "stall-len"))
            sc->xform.stall_len = sc->gen.stall_len;
        else if (!strcmp(k, "poison-frac"))
            sc->xform.poison_ppm = sc->gen.poison_ppm, sc->xform.set |= HN_XF_POISON;
    }
    if (sc->use_csv && sc->xform.bursts && !(sc->xform.set & HN_XF_DISORDER))
        return ctx_fail(c, PL_EUSAGE, c->sec_line[SEC_WORKLOAD], "workload", "bursts",
                        "bursts of what: give disorder = DUR too");
    /* a boundary log is shaped for this scenario's B, I and aggregations */
    pl_config_finish(&sc->cfg);
    if (!sc->use_csv)
        hn_gen_boundary_from_config(&sc->gen, &sc->cfg);
    if (!sc->use_csv && hn_gen_validate(&sc->gen, &geb) < 0) {
        /* its messages name options as --key: name them as keys here */
        char msg[400];
        size_t w = 0;
        for (const char *p = geb.msg; *p && w + 1 < sizeof msg; p++) {
            if (p[0] == '-' && p[1] == '-' && (p == geb.msg || p[-1] == ' ')) {
                p++;
                continue;
            }
            msg[w++] = *p;
        }
        msg[w] = 0;
        return ctx_fail(c, PL_EUSAGE, c->ngen ? c->gen_line[c->ngen - 1]
                                              : c->sec_line[SEC_WORKLOAD],
                        "workload", NULL, "%s", msg);
    }
    if (sc->crashes > sc->max_restarts) {
        int line = c->key_line[K_CRASHES] ? c->key_line[K_CRASHES]
                                          : c->key_line[K_MAX_RESTARTS];
        return ctx_fail(c, PL_EUSAGE, line, "faults", "crashes",
                        "%d crashes per trial need max-restarts >= %d (it is %d)", sc->crashes,
                        sc->crashes, sc->max_restarts);
    }
    if (!sc->binary_line)
        sc->binary_line = c->sec_line[SEC_PIPELINE];
    if (!sc->points_line)
        sc->points_line = c->sec_line[SEC_FAULTS];
    pl_config_finish(&sc->cfg);
    hn_scenario_format_args(sc);
    return 0;
}

int hn_scenario_load(const char *path, hn_scenario *sc, pl_errbuf *eb)
{
    sc_ctx *c = NULL;
    const char *slash;
    int rc = 0, irc;

    defaults(sc);
    if (strlen(path) >= sizeof sc->path) {
        rc = pl_err(eb, PL_EUSAGE, "%.64s...: scenario path too long", path);
        goto out;
    }
    strcpy(sc->path, path);
    c = calloc(1, sizeof *c);
    if (!c) {
        rc = pl_err_os(eb, ENOMEM, "%s: parse", path);
        goto out;
    }
    c->sc = sc;
    c->eb = eb;
    c->path = path;
    c->sec = SEC_NONE;
    slash = strrchr(path, '/');
    if (slash) {
        size_t n = (size_t)(slash - path) + 1;
        if (n >= sizeof c->dir) {
            rc = pl_err(eb, PL_EUSAGE, "%.64s...: scenario path too long", path);
            goto out;
        }
        memcpy(c->dir, path, n);
        c->dir[n] = 0;
    }
    c->f = fopen(path, "r");
    if (!c->f) {
        rc = pl_err_os(eb, errno, "%s: open", path);
        goto out;
    }
    irc = ini_parse_stream(reader, c, handler, c);
    if (c->err) {
        rc = c->err;
        goto out;
    }
    if (irc != 0) {
        /* a case the reader did not foresee: libinih's own verdict */
        rc = irc > 0 ? ctx_fail(c, PL_EFORMAT, irc, NULL, NULL, "syntax error")
                     : pl_err_os(eb, ENOMEM, "%s: parse", path);
        goto out;
    }
    sc->last_line = c->lineno;
    rc = finish(c);
out:
    if (c) {
        if (c->f)
            fclose(c->f);
        free(c->buf);
        free(c);
    }
    return rc;
}

/* ------------------------------------------------------------- 6. argv */

void hn_scenario_format_args(hn_scenario *sc)
{
    for (int i = 0; i < sc->cfg.naggs && i < PL_MAX_AGGS; i++) {
        const pl_agg_spec *a = &sc->cfg.aggs[i];
        char t[sizeof sc->arg_agg[0]]; /* a copy: source and destination share *sc */
        switch (a->kind) {
        case PL_AGG_TUMBLING:
            snprintf(t, sizeof t, "%s=tumbling:%lld", a->name, (long long)a->size);
            break;
        case PL_AGG_SLIDING:
            snprintf(t, sizeof t, "%s=sliding:%lld:%lld", a->name, (long long)a->size,
                     (long long)a->slide);
            break;
        case PL_AGG_TICKS:
            snprintf(t, sizeof t, "%s=ticks:%lld", a->name, (long long)a->threshold);
            break;
        case PL_AGG_VOLUME:
            snprintf(t, sizeof t, "%s=volume:%lld", a->name, (long long)a->threshold);
            break;
        default:
            snprintf(t, sizeof t, "%s=dollar:%lld", a->name, (long long)a->threshold);
            break;
        }
        memcpy(sc->arg_agg[i], t, sizeof t);
    }
    snprintf(sc->arg_max_delay, sizeof sc->arg_max_delay, "%lld", (long long)sc->cfg.max_delay);
    snprintf(sc->arg_idle_timeout, sizeof sc->arg_idle_timeout, "%lld",
             (long long)sc->cfg.idle_timeout);
    snprintf(sc->arg_checkpoint_every, sizeof sc->arg_checkpoint_every, "%llu",
             (unsigned long long)sc->checkpoint_every);
}

static int put_args(const hn_scenario *sc, char **argv, int max, int every)
{
    int n = 0;
    if (sc->cfg.naggs < 0 || sc->cfg.naggs > PL_MAX_AGGS ||
        2 * sc->cfg.naggs + 4 + (every ? 2 : 0) > max)
        return PL_ELIMIT;
    for (int i = 0; i < sc->cfg.naggs; i++) {
        argv[n++] = (char *)"--agg";
        argv[n++] = (char *)sc->arg_agg[i];
    }
    argv[n++] = (char *)"--max-delay";
    argv[n++] = (char *)sc->arg_max_delay;
    argv[n++] = (char *)"--idle-timeout";
    argv[n++] = (char *)sc->arg_idle_timeout;
    if (every) {
        argv[n++] = (char *)"--checkpoint-every";
        argv[n++] = (char *)sc->arg_checkpoint_every;
    }
    return n;
}

int hn_scenario_pipeline_args(const hn_scenario *sc, char **argv, int max)
{
    return put_args(sc, argv, max, 1);
}

int hn_scenario_batch_args(const hn_scenario *sc, char **argv, int max)
{
    return put_args(sc, argv, max, 0);
}

/* ------------------------------------------- 7. Binary and fail points */

void hn_scenario_estimate(const hn_scenario *sc, int64_t *records, int64_t *bytes)
{
    struct stat st;
    if (sc->use_csv) {
        int64_t size = stat(sc->csv_path, &st) == 0 ? (int64_t)st.st_size : 0;
        *records = size / 60;
        *bytes = size;
        return;
    }
    *records = hn_gen_planned_records(&sc->gen);
    *bytes = *records > INT64_MAX / HN_EST_BYTES_PER_RECORD ? INT64_MAX
                                                            : *records * HN_EST_BYTES_PER_RECORD;
}

int hn_scenario_binary_path(const hn_scenario *sc, char *out, size_t n, pl_errbuf *eb)
{
    char self[PATH_MAX];
    ssize_t len;
    char *slash;
    int w;

    if (strchr(sc->binary, '/')) {
        if (strlen(sc->binary) >= n)
            return pl_err(eb, PL_ELIMIT, "%s:%d: [pipeline] binary: path too long", sc->path,
                          sc->binary_line);
        strcpy(out, sc->binary);
        return 0;
    }
    len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len < 0)
        return pl_err_os(eb, errno, "%s:%d: [pipeline] binary: readlink(/proc/self/exe)",
                         sc->path, sc->binary_line);
    self[len] = 0;
    slash = strrchr(self, '/');
    if (slash)
        slash[1] = 0;
    else
        self[0] = 0;
    w = snprintf(out, n, "%s%s", self, sc->binary);
    if (w < 0 || (size_t)w >= n)
        return pl_err(eb, PL_ELIMIT, "%s:%d: [pipeline] binary: path too long", sc->path,
                      sc->binary_line);
    return 0;
}

int hn_scenario_pattern_match(const char *pattern, const char *name)
{
    size_t n = strlen(pattern);
    if (n > 0 && pattern[n - 1] == '*')
        return strncmp(pattern, name, n - 1) == 0;
    return strcmp(pattern, name) == 0;
}

int hn_scenario_match_points(const hn_scenario *sc, const char *listing, const char *what,
                             pl_errbuf *eb)
{
    int npoints = 0;
    for (const char *l = listing; *l;) {
        const char *eol = strchr(l, '\n');
        if (!eol)
            eol = l + strlen(l);
        if (l < eol && !is_space(*l))
            npoints++;
        l = *eol ? eol + 1 : eol;
    }
    if (npoints == 0)
        return pl_err(eb, PL_EUSAGE, "%s:%d: [pipeline] binary: '%s faults' lists no fail "
                      "points (is it a libfiu-instrumented build?)", sc->path, sc->binary_line,
                      what);
    for (int i = 0; i < sc->npatterns; i++) {
        int hit = 0, in_run = 0;
        for (const char *l = listing; *l && !in_run;) {
            const char *eol = strchr(l, '\n'), *e = l, *d;
            char word[256];
            if (!eol)
                eol = l + strlen(l);
            while (e < eol && !is_space(*e) && *e != '\r')
                e++;
            if (e > l && (size_t)(e - l) < sizeof word) {
                memcpy(word, l, (size_t)(e - l));
                word[e - l] = 0;
                if (hn_scenario_pattern_match(sc->patterns[i], word)) {
                    /* docs/faults.md: a description starting "export/batch:"
                     * marks a point that `run`, the process trials crash,
                     * never reaches */
                    for (d = e; d < eol && is_space(*d); d++)
                        ;
                    hit = 1;
                    in_run = (size_t)(eol - d) < 13 || memcmp(d, "export/batch:", 13) != 0;
                }
            }
            l = *eol ? eol + 1 : eol;
        }
        if (!hit)
            return pl_err(eb, PL_EUSAGE, "%s:%d: [faults] points: '%s' matches no fail point "
                          "of %s (see '%s faults')", sc->path, sc->points_line,
                          sc->patterns[i], what, what);
        if (!in_run)
            return pl_err(eb, PL_EUSAGE, "%s:%d: [faults] points: '%s' matches only export/batch "
                          "points of %s, which `run` never reaches (trials crash `run`; see "
                          "'%s faults')", sc->path, sc->points_line, sc->patterns[i], what, what);
    }
    return 0;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define LIST_TIMEOUT_MS 10000
#define LIST_MAX (1 << 20)

int hn_scenario_check_points(const hn_scenario *sc, const char *binary, pl_errbuf *eb)
{
    posix_spawn_file_actions_t fa;
    int fa_ok = 0, p[2] = {-1, -1}, rc = 0, status, e;
    pid_t pid = -1;
    char *out = NULL;
    size_t len = 0, cap = 0;
    struct stat st;
    char *argv[3];
    int64_t deadline;

    if (stat(binary, &st) < 0) {
        if (errno == ENOENT)
            return pl_err(eb, PL_ENOTFOUND, "%s:%d: [pipeline] binary: '%s' not found (build "
                          "it with make, or fix the path)", sc->path, sc->binary_line, binary);
        return pl_err_os(eb, errno, "%s:%d: [pipeline] binary: '%s'", sc->path,
                         sc->binary_line, binary);
    }
    if (!S_ISREG(st.st_mode) || access(binary, X_OK) < 0)
        return pl_err(eb, PL_EUSAGE, "%s:%d: [pipeline] binary: '%s' is not an executable file",
                      sc->path, sc->binary_line, binary);
    if (pipe2(p, O_CLOEXEC) < 0) {
        rc = pl_err_os(eb, errno, "%s: pipe", sc->path);
        goto out;
    }
    if ((e = posix_spawn_file_actions_init(&fa)) != 0) {
        rc = pl_err_os(eb, e, "%s: spawn", sc->path);
        goto out;
    }
    fa_ok = 1;
    if ((e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) != 0 ||
        (e = posix_spawn_file_actions_adddup2(&fa, p[1], 1)) != 0 ||
        (e = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0)) != 0) {
        rc = pl_err_os(eb, e, "%s: spawn", sc->path);
        goto out;
    }
    argv[0] = (char *)binary;
    argv[1] = (char *)"faults";
    argv[2] = NULL;
    e = posix_spawn(&pid, binary, &fa, NULL, argv, environ);
    if (e != 0) {
        pid = -1;
        rc = pl_err_os(eb, e, "%s:%d: [pipeline] binary: run '%s faults'", sc->path,
                       sc->binary_line, binary);
        goto out;
    }
    close(p[1]);
    p[1] = -1;
    deadline = mono_ms() + LIST_TIMEOUT_MS;
    for (;;) {
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        int64_t left = deadline - mono_ms();
        ssize_t r;
        if (left <= 0) {
            rc = pl_err(eb, PL_EUSAGE, "%s:%d: [pipeline] binary: '%s faults' did not finish "
                        "within %d s", sc->path, sc->binary_line, binary,
                        LIST_TIMEOUT_MS / 1000);
            goto out;
        }
        if (poll(&pfd, 1, (int)left) < 0) {
            if (errno == EINTR)
                continue;
            rc = pl_err_os(eb, errno, "%s: poll", sc->path);
            goto out;
        }
        if (len + 4096 + 1 > cap) {
            char *nb;
            if (cap >= LIST_MAX) {
                rc = pl_err(eb, PL_EUSAGE, "%s:%d: [pipeline] binary: '%s faults' printed "
                            "more than %d bytes", sc->path, sc->binary_line, binary, LIST_MAX);
                goto out;
            }
            cap = cap ? cap * 2 : 8192;
            nb = realloc(out, cap);
            if (!nb) {
                rc = pl_err_os(eb, ENOMEM, "%s: read fail points", sc->path);
                goto out;
            }
            out = nb;
        }
        r = read(p[0], out + len, cap - len - 1);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            rc = pl_err_os(eb, errno, "%s: read '%s faults'", sc->path, binary);
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    out[len] = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            rc = pl_err_os(eb, errno, "%s: waitpid", sc->path);
            pid = -1;
            goto out;
        }
    }
    pid = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        rc = pl_err(eb, PL_EUSAGE, "%s:%d: [pipeline] binary: '%s faults' %s %d (is it a "
                    "libfiu-instrumented build?)", sc->path, sc->binary_line, binary,
                    WIFEXITED(status) ? "exited with status" : "was killed by signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        goto out;
    }
    rc = hn_scenario_match_points(sc, out, binary, eb);
out:
    if (pid > 0) {
        /* a listing that hangs or floods is abandoned, never left running */
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
    free(out);
    return rc;
}
