/*
 * crash.c - rp-crash.so, the preload library that crashes, fails or counts
 * the fail points of any libfiu-instrumented process.
 *
 * The harness LD_PRELOADs it into a program built with -DFIU_ENABLE and
 * linked dynamically against libfiu, and steers it through the environment
 * (docs/faults.md is the full manual):
 *
 *   RP_FIU_COUNT=PATH RP_FIU_POINTS=PAT[,PAT...]  count hits; write at exit
 *   RP_FIU_CRASH=NAME:K[,NAME:K...]              SIGKILL at the K-th hit
 *   RP_FIU_FAIL=NAME:K[:ERRNO][,...]             the K-th hit fails
 *   RP_FIU_TRACE=PATH                            one line per crash/fail
 *   RP_FIU_SNAP=NAME:EVERY RP_FIU_SNAP_DIR=PATH RP_FIU_SNAP_OUT=PATH
 *                                                state-dir snapshots (snap.c)
 *
 * Layout: configuration and its parser (run by the constructor, before
 * main, or per child by the fork server in forksrv.c); the point table (a pointer cache in front of a string hash); the
 * libfiu callback; the fiu_fail() interposer; the count-file writer; the
 * constructor.
 *
 * Why an interposer: libfiu passes an external callback the name a point
 * was *enabled* under (a pattern such as "ckpt/" plus a star), not the
 * name that was hit ("ckpt/fsync/after").  So this library also defines
 * fiu_fail(): being preloaded, it wins symbol resolution for the program's
 * calls, records the hit name in a thread-local and calls libfiu's own
 * fiu_fail().  libfiu still does the matching, so enables made by others
 * (fiu-run, fiu-ctrl, the POSIX preload, the program itself) keep working.
 *
 * Unlike library code this file prints and exits: a malformed variable must
 * stop the target before main runs, and nobody else could report it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcntl.h>
#include <fiu-control.h>
#include <fiu.h>

#include "ft_crash.h"
#include "ft_fsrv.h"

#define FT_MAX_PATTERNS 64   /* RP_FIU_POINTS entries */
#define FT_MAX_ARMED 64      /* RP_FIU_CRASH + RP_FIU_FAIL entries: one bit each */
#define FT_MAX_POINTS 1024   /* distinct point names seen by one process */
#define FT_HASH_SLOTS 2048   /* string hash, power of two, at most half full */
#define FT_PCACHE_SLOTS 512  /* pointer cache, power of two, direct mapped */
#define FT_MAX_NAME 255

/* Preloaded at startup, so static TLS is available: initial-exec saves a
 * __tls_get_addr call per hit (a late dlopen of this library would fail). */
#define FT_TLS _Thread_local __attribute__((tls_model("initial-exec")))

enum { FT_CRASH = 1, FT_FAIL = 2 };

/* One RP_FIU_CRASH or RP_FIU_FAIL entry.  Immutable after the constructor
 * except hits, which counts the hits of every point the pattern matches. */
typedef struct ft_armed {
    const char *pattern;
    uint64_t k;
    int action;
    int err; /* FT_FAIL: the errno the K-th hit delivers */
    atomic_uint_fast64_t hits;
} ft_armed;

/* One point name seen at run time.  Published once under ft_lock; after
 * that only hits changes. */
typedef struct ft_point {
    char *name;
    uint64_t armed; /* bit i set: ft_cfg.armed[i] matches this name */
    int counted;    /* matches an RP_FIU_POINTS pattern */
    int snap;       /* is RP_FIU_SNAP's point */
    atomic_uint_fast64_t hits;
} ft_point;

static struct {
    const char *count_path;
    const char *trace_path;
    const char *patterns[FT_MAX_PATTERNS];
    int npatterns;
    ft_armed armed[FT_MAX_ARMED];
    int narmed;
    pid_t owner; /* only this process writes the count file */
    int snap_on;
    ft_snap_cfg snap;
} ft_cfg;

static ft_point ft_points[FT_MAX_POINTS];
static int ft_npoints;                /* under ft_lock */
static int ft_slots[FT_HASH_SLOTS];   /* index + 1 into ft_points, 0 = empty; under ft_lock */
static atomic_int ft_overflow;        /* a name did not fit: counts are incomplete */
static pthread_mutex_t ft_lock = PTHREAD_MUTEX_INITIALIZER;

/* Pointer cache: point names are nearly always string literals, so the
 * address identifies the point and saves hashing the string on every hit.
 * The two fields are read separately and may pair up wrongly under a race,
 * or the address may be a reused buffer now holding another name: the
 * strcmp in ft_point_get catches both. */
static struct {
    _Atomic(const char *) key;
    _Atomic(ft_point *) pt;
} ft_pcache[FT_PCACHE_SLOTS];

/* Set by the interposer around libfiu's fiu_fail(), read by the callback. */
static FT_TLS const char *ft_hit_name;
static FT_TLS int ft_hit_err;

static int (*_Atomic ft_real_fail)(const char *);

/* ---- configuration ---------------------------------------------------- */

static void ft_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void ft_die(const char *fmt, ...)
{
    char line[600];
    va_list ap;
    int n = snprintf(line, sizeof line, "rp-crash: ");
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    strcat(line, "\n");
    /* one write: the harness matches the whole line */
    if (write(STDERR_FILENO, line, strlen(line)) < 0) {
        /* nothing left to report to */
    }
    _exit(2);
}

static void ft_bad(const char *var, const char *entry)
{
    ft_die("%s: bad entry '%s'", var, entry);
}

/* Names and patterns: printable ASCII without space, ',' or ':' (the
 * separators), at most FT_MAX_NAME bytes; a '*' only as the last byte,
 * because libfiu only knows prefix wildcards. */
static int ft_valid_pattern(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > FT_MAX_NAME)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == ',' || c == ':')
            return 0;
        if (c == '*' && i + 1 != n)
            return 0;
    }
    return 1;
}

/* Decimal, 1 .. UINT64_MAX, digits only. */
static int ft_parse_k(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (v == 0)
        return -1;
    *out = v;
    return 0;
}

static const struct {
    const char *name;
    int err;
} ft_errnames[] = {
    {"EPERM", EPERM},   {"ENOENT", ENOENT}, {"EINTR", EINTR},   {"EIO", EIO},
    {"ENXIO", ENXIO},   {"EBADF", EBADF},   {"EAGAIN", EAGAIN}, {"ENOMEM", ENOMEM},
    {"EACCES", EACCES}, {"EFAULT", EFAULT}, {"EBUSY", EBUSY},   {"EEXIST", EEXIST},
    {"EXDEV", EXDEV},   {"ENODEV", ENODEV}, {"ENOTDIR", ENOTDIR}, {"EISDIR", EISDIR},
    {"EINVAL", EINVAL}, {"ENFILE", ENFILE}, {"EMFILE", EMFILE}, {"EFBIG", EFBIG},
    {"ENOSPC", ENOSPC}, {"ESPIPE", ESPIPE}, {"EROFS", EROFS},   {"EPIPE", EPIPE},
    {"ENAMETOOLONG", ENAMETOOLONG}, {"ENOLCK", ENOLCK}, {"ENOSYS", ENOSYS},
    {"ENOTEMPTY", ENOTEMPTY}, {"ELOOP", ELOOP}, {"EOVERFLOW", EOVERFLOW},
    {"EDQUOT", EDQUOT}, {"ESTALE", ESTALE}, {"ETIMEDOUT", ETIMEDOUT},
    {"ECANCELED", ECANCELED},
};

/* A symbolic name from the table above, or a decimal 1 .. 4095. */
static int ft_parse_errno(const char *s, int *out)
{
    uint64_t v;
    for (size_t i = 0; i < sizeof ft_errnames / sizeof ft_errnames[0]; i++) {
        if (strcmp(s, ft_errnames[i].name) == 0) {
            *out = ft_errnames[i].err;
            return 0;
        }
    }
    if (ft_parse_k(s, &v) < 0 || v > 4095)
        return -1;
    *out = (int)v;
    return 0;
}

/* The variable's value, or NULL when unset or empty (an empty value is how
 * shell scripts say "not this time"). */
static const char *ft_env(const char *var)
{
    const char *v = getenv(var);
    return v && *v ? v : NULL;
}

/* A private, writable copy that the parsed entries point into for the
 * life of the process. */
static char *ft_dup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        ft_die("out of memory");
    return d;
}

/* Split value at ',' in place; calls fn(var, entry) for each entry,
 * including empty ones, so that "a:1,,b:2" is reported, not skipped. */
static void ft_each_entry(const char *var, char *value, void (*fn)(const char *, char *))
{
    char *p = value;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        fn(var, p);
        if (!comma)
            break;
        p = comma + 1;
    }
}

static ft_armed *ft_new_armed(const char *var)
{
    if (ft_cfg.narmed == FT_MAX_ARMED)
        ft_die("%s: too many entries (RP_FIU_CRASH and RP_FIU_FAIL together take at most %d)",
               var, FT_MAX_ARMED);
    return &ft_cfg.armed[ft_cfg.narmed++];
}

/* NAME:K */
static void ft_add_crash(const char *var, char *entry)
{
    char *colon = strchr(entry, ':');
    uint64_t k;
    ft_armed *a;
    char shown[FT_MAX_NAME * 2 + 8];
    snprintf(shown, sizeof shown, "%s", entry);
    if (!colon)
        ft_bad(var, shown);
    *colon = '\0';
    if (!ft_valid_pattern(entry) || ft_parse_k(colon + 1, &k) < 0)
        ft_bad(var, shown);
    a = ft_new_armed(var);
    a->pattern = entry;
    a->k = k;
    a->action = FT_CRASH;
}

/* NAME:K[:ERRNO] */
static void ft_add_fail(const char *var, char *entry)
{
    char *c1 = strchr(entry, ':'), *c2;
    uint64_t k;
    int err = EIO;
    ft_armed *a;
    char shown[FT_MAX_NAME * 2 + 8];
    snprintf(shown, sizeof shown, "%s", entry);
    if (!c1)
        ft_bad(var, shown);
    *c1 = '\0';
    c2 = strchr(c1 + 1, ':');
    if (c2) {
        *c2 = '\0';
        if (ft_parse_errno(c2 + 1, &err) < 0)
            ft_bad(var, shown);
    }
    if (!ft_valid_pattern(entry) || ft_parse_k(c1 + 1, &k) < 0)
        ft_bad(var, shown);
    a = ft_new_armed(var);
    a->pattern = entry;
    a->k = k;
    a->action = FT_FAIL;
    a->err = err;
}

static void ft_add_pattern(const char *var, char *entry)
{
    if (!ft_valid_pattern(entry))
        ft_bad(var, entry);
    if (ft_cfg.npatterns == FT_MAX_PATTERNS)
        ft_die("%s: too many entries (at most %d)", var, FT_MAX_PATTERNS);
    ft_cfg.patterns[ft_cfg.npatterns++] = entry;
}

static int ft_match(const char *pattern, const char *name)
{
    size_t n = strlen(pattern);
    if (pattern[n - 1] == '*')
        return strncmp(pattern, name, n - 1) == 0;
    return strcmp(pattern, name) == 0;
}

/* ---- point table ------------------------------------------------------ */

static size_t ft_ptr_slot(const char *p)
{
    uint64_t h = (uint64_t)(uintptr_t)p * UINT64_C(0x9e3779b97f4a7c15);
    return (size_t)(h >> 32) & (FT_PCACHE_SLOTS - 1);
}

/* FNV-1a: names are short and few; no need for anything stronger. */
static size_t ft_str_slot(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
    return (size_t)(h ^ (h >> 29)) & (FT_HASH_SLOTS - 1);
}

/* Find or create the record for name.  Caller holds ft_lock.  NULL when
 * the table is full or memory ran out; ft_overflow then records that the
 * counts are incomplete. */
static ft_point *ft_point_locked(const char *name)
{
    size_t slot = ft_str_slot(name);
    ft_point *p;
    while (ft_slots[slot]) {
        p = &ft_points[ft_slots[slot] - 1];
        if (strcmp(p->name, name) == 0)
            return p;
        slot = (slot + 1) & (FT_HASH_SLOTS - 1);
    }
    if (ft_npoints == FT_MAX_POINTS)
        goto full;
    p = &ft_points[ft_npoints];
    p->name = strdup(name);
    if (!p->name)
        goto full;
    for (int i = 0; i < ft_cfg.npatterns; i++)
        if (ft_match(ft_cfg.patterns[i], name))
            p->counted = 1;
    for (int i = 0; i < ft_cfg.narmed; i++)
        if (ft_match(ft_cfg.armed[i].pattern, name))
            p->armed |= UINT64_C(1) << i;
    p->snap = ft_cfg.snap_on && strcmp(ft_cfg.snap.point, name) == 0;
    atomic_init(&p->hits, 0);
    ft_slots[slot] = ++ft_npoints;
    return p;

full:
    atomic_store(&ft_overflow, 1);
    return NULL;
}

static ft_point *ft_point_get(const char *name)
{
    size_t slot = ft_ptr_slot(name);
    const char *key = atomic_load_explicit(&ft_pcache[slot].key, memory_order_acquire);
    ft_point *p = atomic_load_explicit(&ft_pcache[slot].pt, memory_order_acquire);

    if (key == name && p && strcmp(p->name, name) == 0)
        return p;
    pthread_mutex_lock(&ft_lock);
    p = ft_point_locked(name);
    pthread_mutex_unlock(&ft_lock);
    if (p) {
        atomic_store_explicit(&ft_pcache[slot].pt, p, memory_order_release);
        atomic_store_explicit(&ft_pcache[slot].key, name, memory_order_release);
    }
    return p;
}

/* ---- the callback ----------------------------------------------------- */

/* Appends one line to RP_FIU_TRACE.  Opened per event, so the target's
 * descriptor table stays untouched until something fires; the write goes to
 * the page cache, which a SIGKILL does not lose. */
static void ft_trace(const char *what, const char *name, uint64_t hit, int err)
{
    char line[FT_MAX_NAME + 96];
    int fd, n;
    if (!ft_cfg.trace_path)
        return;
    if (err)
        n = snprintf(line, sizeof line, "%s %s %llu %d\n", what, name,
                     (unsigned long long)hit, err);
    else
        n = snprintf(line, sizeof line, "%s %s %llu\n", what, name, (unsigned long long)hit);
    fd = open(ft_cfg.trace_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    if (write(fd, line, (size_t)n) < 0) {
        /* the trace is best effort; the crash itself must still happen */
    }
    close(fd);
}

static void ft_crash(const char *name, uint64_t hit) __attribute__((noreturn));
static void ft_crash(const char *name, uint64_t hit)
{
    ft_trace("crash", name, hit, 0);
    /* SIGKILL: no handler, atexit, stdio flush or destructor may run, or
     * the crash would tidy up what a real one leaves behind */
    kill(getpid(), SIGKILL);
    for (;;)
        pause();
}

/* A hit of RP_FIU_SNAP's point: the marks line, then maybe a copy (snap.c). */
static void ft_snap(uint64_t hit)
{
    static char line[1 << 16];
    size_t n = (size_t)snprintf(line, sizeof line, "%llu", (unsigned long long)hit);
    int full = 0;
    pthread_mutex_lock(&ft_lock);
    for (int i = 0; i < ft_npoints && !full; i++) {
        if (!ft_points[i].counted)
            continue;
        n += (size_t)snprintf(line + n, sizeof line - n, " %s=%llu", ft_points[i].name,
                              (unsigned long long)atomic_load(&ft_points[i].hits));
        full = n + 2 >= sizeof line;
    }
    pthread_mutex_unlock(&ft_lock);
    if (full || atomic_load(&ft_overflow))
        n = (size_t)snprintf(line, sizeof line, "%llu incomplete", (unsigned long long)hit);
    line[n++] = '\n';
    ft__snap_hit(&ft_cfg.snap, hit, line, n);
}

/*
 * Called by libfiu, under its read lock, for every hit of a point enabled
 * by this library.  libfiu's thread-local recursion guard is up, so calls
 * made from here (malloc, open, write) are never failed by the POSIX
 * preload.  Returns non-zero to make this hit fail.
 */
static int ft_callback(const char *enabled_as, int *failnum, void **failinfo,
                       unsigned int *flags)
{
    /* a call that bypassed the interposer is attributed to its pattern */
    const char *name = ft_hit_name ? ft_hit_name : enabled_as;
    ft_point *p = ft_point_get(name);
    int err = 0;

    (void)flags;
    if (!p)
        return 0;
    if (p->snap)
        /* before the armed entries: a crash on this very hit has its marks */
        ft_snap(atomic_fetch_add_explicit(&p->hits, 1, memory_order_relaxed) + 1);
    else
        atomic_fetch_add_explicit(&p->hits, 1, memory_order_relaxed);
    /* crash entries hold the low bits, so a crash wins over a fail on the same hit */
    for (uint64_t m = p->armed; m; m &= m - 1) {
        ft_armed *a = &ft_cfg.armed[__builtin_ctzll(m)];
        uint64_t n = atomic_fetch_add_explicit(&a->hits, 1, memory_order_relaxed) + 1;
        if (n != a->k)
            continue;
        if (a->action == FT_CRASH)
            ft_crash(name, n);
        if (!err) {
            err = a->err;
            ft_trace("fail", name, n, err);
        }
    }
    if (!err)
        return 0;
    /* three channels, one value: fiu_fail() returns it, fiu_failinfo()
     * returns it as (void *)(intptr_t), and the interposer sets errno */
    *failnum = err;
    *failinfo = (void *)(intptr_t)err;
    ft_hit_err = err;
    return 1;
}

/* ---- the interposer --------------------------------------------------- */

static int (*ft_resolve(void))(const char *)
{
    int (*real)(const char *) = atomic_load(&ft_real_fail);
    if (!real) {
        /* the next fiu_fail after this object's is libfiu's */
        *(void **)&real = dlsym(RTLD_NEXT, "fiu_fail");
        atomic_store(&ft_real_fail, real);
    }
    return real;
}

/*
 * Replaces libfiu's fiu_fail() for the whole process.  Same contract: the
 * point's failnum when it fails, 0 otherwise.  errno is left as the caller
 * had it, except after a hit failed by RP_FIU_FAIL, where it is that
 * entry's errno.  Re-entrant: libfiu's POSIX preload can call back in from
 * malloc or open while the callback runs.
 */
__attribute__((visibility("default"))) int fiu_fail(const char *name)
{
    int (*real)(const char *) = atomic_load_explicit(&ft_real_fail, memory_order_relaxed);
    const char *outer_name = ft_hit_name;
    int outer_err = ft_hit_err;
    int saved = errno, r;

    if (!real && !(real = ft_resolve()))
        return 0;
    ft_hit_name = name;
    ft_hit_err = 0;
    r = real(name);
    errno = r && ft_hit_err ? ft_hit_err : saved;
    ft_hit_name = outer_name;
    ft_hit_err = outer_err;
    return r;
}

/* ---- the count file --------------------------------------------------- */

static int ft_by_name(const void *a, const void *b)
{
    return strcmp((*(ft_point *const *)a)->name, (*(ft_point *const *)b)->name);
}

/*
 * atexit handler: "NAME COUNT" lines, sorted bytewise by name, written to
 * PATH.tmp and renamed so that a reader sees the whole table or none.
 * Exact patterns that were never hit are listed with 0; wildcards only
 * list the names that were hit.
 */
static void ft_write_counts(void)
{
    static ft_point *list[FT_MAX_POINTS];
    char tmp[4096];
    const char *path = ft_cfg.count_path;
    int n = 0, err = 0;
    FILE *f = NULL;

    /* a forked child inherits the handler; its counts are not the run's */
    if (getpid() != ft_cfg.owner)
        return;
    pthread_mutex_lock(&ft_lock);
    for (int i = 0; i < ft_cfg.npatterns; i++) {
        const char *pat = ft_cfg.patterns[i];
        if (pat[strlen(pat) - 1] != '*')
            ft_point_locked(pat);
    }
    for (int i = 0; i < ft_npoints; i++)
        if (ft_points[i].counted)
            list[n++] = &ft_points[i];
    pthread_mutex_unlock(&ft_lock);

    if (atomic_load(&ft_overflow)) {
        /* a partial table would read as "these are all the points": leave none */
        unlink(path);
        fprintf(stderr, "rp-crash: RP_FIU_COUNT: more than %d distinct fail points; "
                "no count file written\n", FT_MAX_POINTS);
        return;
    }
    qsort(list, (size_t)n, sizeof list[0], ft_by_name);
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        fprintf(stderr, "rp-crash: RP_FIU_COUNT: path too long\n");
        return;
    }
    f = fopen(tmp, "we");
    if (!f)
        goto fail;
    for (int i = 0; i < n; i++)
        fprintf(f, "%s %llu\n", list[i]->name,
                (unsigned long long)atomic_load(&list[i]->hits));
    if (ferror(f)) {
        err = EIO;
        fclose(f);
        goto fail;
    }
    /* fclose reports the write error of the final flush */
    if (fclose(f) != 0)
        goto fail;
    if (rename(tmp, path) != 0)
        goto fail;
    return;

fail:
    if (!err)
        err = errno;
    unlink(tmp);
    fprintf(stderr, "rp-crash: RP_FIU_COUNT: writing %s: %s\n", path, strerror(err));
}

/* ---- the constructor -------------------------------------------------- */

static void ft_enable(const char *pattern)
{
    /* failnum 1 is a placeholder: the callback sets the real one on a failing hit */
    if (fiu_enable_external(pattern, 1, NULL, 0, ft_callback) != 0)
        ft_die("fiu_enable_external(%s) failed", pattern);
}

/* RP_FIU_SNAP=NAME:EVERY with RP_FIU_SNAP_OUT, and RP_FIU_SNAP_DIR when
 * EVERY > 0.  The marks count the points RP_FIU_POINTS counts. */
static void ft_snap_configure(void)
{
    const char *v = ft_env("RP_FIU_SNAP");
    char *entry, *colon;
    if (!v)
        return;
    entry = ft_dup(v);
    colon = strrchr(entry, ':');
    if (!colon)
        ft_bad("RP_FIU_SNAP", v);
    *colon = '\0';
    if (!ft_valid_pattern(entry) || entry[strlen(entry) - 1] == '*')
        ft_bad("RP_FIU_SNAP", v);
    if (strcmp(colon + 1, "0") == 0)
        ft_cfg.snap.every = 0;
    else if (ft_parse_k(colon + 1, &ft_cfg.snap.every) < 0)
        ft_bad("RP_FIU_SNAP", v);
    ft_cfg.snap.point = entry;
    ft_cfg.snap.out = ft_env("RP_FIU_SNAP_OUT");
    ft_cfg.snap.dir = ft_env("RP_FIU_SNAP_DIR");
    if (!ft_cfg.snap.out)
        ft_die("RP_FIU_SNAP: set without RP_FIU_SNAP_OUT");
    if (ft_cfg.snap.every && !ft_cfg.snap.dir)
        ft_die("RP_FIU_SNAP: copies asked for without RP_FIU_SNAP_DIR");
    if (!ft_cfg.count_path)
        ft_die("RP_FIU_SNAP: set without RP_FIU_COUNT and RP_FIU_POINTS (the marks' counts)");
    ft_cfg.snap_on = 1;
}

/* Whether an armed entry or a counted pattern already covers name: then
 * the callback sees its hits, and enabling it again would replace libfiu's
 * entry (and leak the old one). */
static int ft_enabled(const char *name)
{
    for (int i = 0; i < ft_cfg.narmed; i++)
        if (ft_match(ft_cfg.armed[i].pattern, name))
            return 1;
    for (int i = 0; i < ft_cfg.npatterns; i++)
        if (ft_match(ft_cfg.patterns[i], name))
            return 1;
    return 0;
}

/* Reads RP_FIU_* from the environment and arms libfiu.  Run once per
 * process before main: by the constructor, or in a fork server's child
 * (forksrv.c) once the request's environment is in place. */
void ft__configure(void)
{
    const char *crash = ft_env("RP_FIU_CRASH"), *fail = ft_env("RP_FIU_FAIL");
    const char *points = ft_env("RP_FIU_POINTS");
    int fd;

    ft_cfg.count_path = ft_env("RP_FIU_COUNT");
    ft_cfg.trace_path = ft_env("RP_FIU_TRACE");
    /* crash entries first: they get the low bits, see ft_callback */
    if (crash)
        ft_each_entry("RP_FIU_CRASH", ft_dup(crash), ft_add_crash);
    if (fail)
        ft_each_entry("RP_FIU_FAIL", ft_dup(fail), ft_add_fail);
    if (points && !ft_cfg.count_path)
        ft_die("RP_FIU_POINTS: set without RP_FIU_COUNT");
    if (ft_cfg.count_path && !points)
        ft_die("RP_FIU_COUNT: set without RP_FIU_POINTS");
    if (points)
        ft_each_entry("RP_FIU_POINTS", ft_dup(points), ft_add_pattern);
    ft_snap_configure();
    if (ft_cfg.narmed == 0 && ft_cfg.npatterns == 0 && !ft_cfg.snap_on)
        return; /* preloaded but idle: fiu_fail passes straight through */

    if (ft_cfg.trace_path) {
        /* find an unwritable trace now, not at the moment of the crash */
        fd = open(ft_cfg.trace_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            ft_die("RP_FIU_TRACE: cannot open '%s': %s", ft_cfg.trace_path, strerror(errno));
        close(fd);
    }
    ft_cfg.owner = getpid();
    if (!ft_resolve())
        ft_die("libfiu's fiu_fail not found");
    /* fiu_init is idempotent (a static flag under libfiu's lock), so the
     * program calling it again in main keeps these enables */
    if (fiu_init(0) != 0)
        ft_die("fiu_init failed");
    /* libfiu keeps one entry per name and its callback sees every hit, so
     * the union of patterns is enough; duplicates just replace themselves */
    for (int i = 0; i < ft_cfg.narmed; i++)
        ft_enable(ft_cfg.armed[i].pattern);
    for (int i = 0; i < ft_cfg.npatterns; i++)
        ft_enable(ft_cfg.patterns[i]);
    if (ft_cfg.snap_on && !ft_enabled(ft_cfg.snap.point))
        ft_enable(ft_cfg.snap.point);
    if (ft_cfg.count_path && atexit(ft_write_counts) != 0)
        ft_die("atexit failed");
    /* refpipe evaluates its per-event points only when this is set */
    if (setenv("REFPIPE_FIU_EVENTS", "1", 1) != 0)
        ft_die("setenv(REFPIPE_FIU_EVENTS) failed");
}

__attribute__((constructor)) static void ft_init(void)
{
    /* a fork server arms nothing itself: each child it forks configures
     * from its own request's environment */
    if (ft_env(FT_FSRV_ENV_FD))
        return;
    ft__configure();
}
