/*
 * procs.c - child processes of `replayproof run` (hn_runner_int.h), and the
 * small file and text helpers the runner's files share.
 *
 * Layout: helpers (clock, paths, rm -rf, whole files, tails, shell quoting,
 * line counts); the environment of a child; spawn into an own process group
 * with a pidfd, or through the slot's fork server (hn_fsrv.h); reap, kill;
 * the fork servers of a scenario; waits with deadlines; status texts.
 *
 * Every child gets its own process group, so a timeout kills a shell script
 * together with what it started (a hang is never left behind).  Waits use
 * one pidfd per child: no SIGCHLD handler, no reaping of children that are
 * not ours.
 */
#include "hn_runner_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hn_faults.h"

extern char **environ;

#define FSRV_WAIT_NS 30000000000LL     /* a server reports a killed child's status */
#define FSRV_HANDSHAKE_NS 10000000000LL /* a server is up well within this */

/* ---------------------------------------------------------------- helpers */

int64_t hn__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Whole file, NUL-terminated, malloc'd; NULL with errno set on failure. */
char *hn__slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rbe");
    char *buf = NULL;
    size_t n = 0, cap = 0, r;
    if (!f)
        return NULL;
    for (;;) {
        if (cap - n < 4096) {
            char *nb = realloc(buf, cap ? cap * 2 : 8192);
            if (!nb) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
            cap = cap ? cap * 2 : 8192;
        }
        r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

/* The last few lines of a file (at most n-1 bytes), one line, with " | "
 * between lines; "" when the file is empty or missing. */
void hn__tail_of(const char *path, char *out, size_t n)
{
    char buf[1024];
    ssize_t got;
    off_t size;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t o = 0;
    out[0] = 0;
    got = 0;
    if (fd >= 0) {
        size = lseek(fd, 0, SEEK_END);
        if (size > (off_t)sizeof buf - 1)
            lseek(fd, size - (off_t)(sizeof buf - 1), SEEK_SET);
        else
            lseek(fd, 0, SEEK_SET);
        got = read(fd, buf, sizeof buf - 1);
        close(fd);
    }
    if (got <= 0) {
        /* no output at all: on a full work dir the process could not write
         * its one line either, so say why the tail is empty */
        struct statvfs vfs;
        char d[PATH_MAX];
        const char *slash = strrchr(path, '/');
        snprintf(d, sizeof d, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
        if (statvfs(d, &vfs) == 0 && vfs.f_bavail == 0)
            snprintf(out, n, "(no output: the work dir's file system is full)");
        return;
    }
    buf[got] = 0;
    while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r'))
        buf[--got] = 0;
    for (char *p = buf; *p && o + 4 < n; p++) {
        if (*p == '\n') {
            memcpy(out + o, " | ", 3);
            o += 3;
        } else
            out[o++] = (*p >= 0x20 && *p != 0x7f) ? *p : '?';
    }
    out[o] = 0;
}

static void put_ch(char *out, size_t n, size_t *len, char ch)
{
    if (*len + 1 < n)
        out[*len] = ch;
    ++*len;
}

size_t hn_run_shell_quote(char *out, size_t n, const char *s)
{
    size_t len = strnlen(out, n);
    int plain = *s != 0;
    for (const char *c = s; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                    "-_./=:,+@%", *c))
            plain = 0;
    if (!plain)
        put_ch(out, n, &len, '\'');
    for (const char *c = s; *c; c++) {
        if (*c == '\'' && !plain) {
            /* close, an escaped quote, reopen */
            for (const char *q = "'\\''"; *q; q++)
                put_ch(out, n, &len, *q);
        } else
            put_ch(out, n, &len, *c);
    }
    if (!plain)
        put_ch(out, n, &len, '\'');
    if (n)
        out[len < n ? len : n - 1] = 0;
    return len;
}

long hn__count_lines(const char *path)
{
    size_t len;
    long n = 0;
    char *t = hn__slurp(path, &len);
    if (!t)
        return 0;
    for (size_t i = 0; i < len; i++)
        n += t[i] == '\n';
    free(t);
    return n;
}

/* The preloads a fork server can serve: each kind is a server of its own,
 * started with exactly the LD_PRELOAD a trial process of that kind gets
 * (trials.c), so one libfiu instance serves the preload and rp-crash.so's
 * arming, as in a process started by fork+exec. */
enum { FS_CRASH = 0,   /* rp-crash.so only (and processes that preload nothing) */
       FS_POSIX,       /* rp-crash.so, then libfiu's POSIX preload (I/O errors) */
       FS_KINDS };

struct hn__fsrv_slot {
    hn_fsrv *srv[FS_KINDS];    /* NULL until first used */
};

struct hn__fsrvs {
    int off[FS_KINDS];         /* fell back to fork+exec (said so once) */
    int64_t nsrv, nexec;       /* trial processes started each way */
    int n;
    struct hn__fsrv_slot *slot; /* one per slot */
};

static void fsrv_notice(const ctx *c, int kind, int others_on, const char *why)
{
    char line[1024];
    if (!c->o->hooks.notice)
        return;
    if (kind == FS_POSIX)
        snprintf(line, sizeof line, "fork server with libfiu's POSIX preload not used (%s); "
                 "processes with an I/O error at its points are forked and executed", why);
    else if (others_on)
        snprintf(line, sizeof line, "fork server not used (%s); trial processes without an "
                 "I/O error at libfiu's POSIX points are forked and executed", why);
    else
        snprintf(line, sizeof line, "fork server not used (%s); every trial process is forked "
                 "and executed", why);
    c->o->hooks.notice(c->o->hooks.ctx, c->sc, line);
}

/* Fall back to fork+exec for the rest of the scenario, saying why once:
 * for the processes of one server kind when its server died (the other
 * kind's may be well), for every kind from this one on when all is set (the
 * binary cannot host an rp-crash.so server, so a server that also preloads
 * libfiu's POSIX preload cannot do better). */
static void fsrv_off(const ctx *c, int kind, int all, const char *why)
{
    int on = 0;
    if (!c->fs || c->fs->off[kind])
        return;
    c->fs->off[kind] = 1;
    for (int k = kind + 1; k < FS_KINDS; k++) {
        if (all)
            c->fs->off[k] = 1;
        on |= !c->fs->off[k];
    }
    fsrv_notice(c, kind, on, why);
}

/* -------------------------------------------------------- child processes */

void hn__note(const ctx *c, const char *fmt, ...)
{
    char line[8192];
    va_list ap;
    if (!c->verbose || !c->o->hooks.note)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->o->hooks.note(c->o->hooks.ctx, line);
}

static size_t key_len(const char *kv)
{
    const char *eq = strchr(kv, '=');
    return eq ? (size_t)(eq - kv) : strlen(kv);
}

/* Variables the harness owns: an inherited value would arm or count
 * something nobody asked for. */
static int harness_var(const char *kv)
{
    return strncmp(kv, "RP_FIU_", 7) == 0 || strncmp(kv, "REFPIPE_FIU_EVENTS=", 19) == 0;
}

int hn__env_init(ctx *c)
{
    const hn_scenario *sc = c->sc;
    int n = 0;
    for (char **e = environ; *e; e++)
        n++;
    c->env = calloc((size_t)(n + sc->nenv + 1), sizeof *c->env);
    if (!c->env)
        return pl_err(c->eb, -ENOMEM, "out of memory");
    for (char **e = environ; *e; e++) {
        int over = harness_var(*e);
        for (int i = 0; i < sc->nenv && !over; i++)
            if (key_len(*e) == key_len(sc->env[i]) &&
                strncmp(*e, sc->env[i], key_len(*e)) == 0)
                over = 1;
        if (!over)
            c->env[c->nenv++] = *e;
    }
    for (int i = 0; i < sc->nenv; i++)
        c->env[c->nenv++] = (char *)sc->env[i];
    c->env[c->nenv] = NULL;
    return 0;
}

/* Describe a process the way a user can paste it into a shell: the
 * variables that differ from the caller's environment, then argv. */
void hn__describe(const ctx *c, char *out, size_t n, char *const argv[],
                     char *const extra[], int nextra)
{
    out[0] = 0;
    for (int i = 0; i < c->sc->nenv; i++) {
        hn_run_shell_quote(out, n, c->sc->env[i]);
        strncat(out, " ", n - strlen(out) - 1);
    }
    for (int i = 0; i < nextra; i++) {
        hn_run_shell_quote(out, n, extra[i]);
        strncat(out, " ", n - strlen(out) - 1);
    }
    for (int i = 0; argv[i]; i++) {
        if (i)
            strncat(out, " ", n - strlen(out) - 1);
        hn_run_shell_quote(out, n, argv[i]);
    }
}

/* The base environment plus extra ("KEY=VALUE", replacing a base variable
 * of the same name); the array is malloc'd, the strings are borrowed. */
static char **child_env(const ctx *c, char *const extra[], int nextra)
{
    char **envp = calloc((size_t)(c->nenv + nextra + 1), sizeof *envp);
    int n = 0;
    if (!envp)
        return NULL;
    for (int i = 0; i < c->nenv; i++) {
        int over = 0;
        for (int j = 0; j < nextra && !over; j++)
            over = key_len(c->env[i]) == key_len(extra[j]) &&
                   strncmp(c->env[i], extra[j], key_len(extra[j])) == 0;
        if (!over)
            envp[n++] = c->env[i];
    }
    for (int j = 0; j < nextra; j++)
        envp[n++] = extra[j];
    envp[n] = NULL;
    return envp;
}

int hn__preload(const ctx *c, unsigned which, char *out, size_t n)
{
    const char *lib[3] = { c->tracelib, c->preload, HN_POSIX_PRELOAD };
    size_t at = (size_t)snprintf(out, n, "LD_PRELOAD=");
    for (int i = 0, first = 1; i < 3; i++) {
        if (!(which & (1u << i)))
            continue;
        at += (size_t)snprintf(out + (at < n ? at : n), at < n ? n - at : 0, "%s%s",
                               first ? "" : ":", lib[i]);
        first = 0;
    }
    return at < n ? 0 : -ENAMETOOLONG;
}

/* "LD_PRELOAD=" + what a server of kind preloads. */
static int kind_preload(const ctx *c, int kind, char *out, size_t n)
{
    return hn__preload(c, kind == FS_CRASH ? HN_PRE_CRASH : HN_PRE_CRASH | HN_PRE_POSIX, out,
                       n);
}

/* Which server can run this process as fork+exec would, or -1: only the
 * pipeline binary, and only with the preloads of a server kind (a process
 * that preloads nothing runs in the rp-crash.so server, the library loaded
 * but idle).  rp-trace.so, another binary: fork+exec. */
static int srv_kind(const ctx *c, char *const argv[], char *const extra[], int nextra)
{
    char want[2 * PATH_MAX + 32];
    if (strcmp(argv[0], c->bin) != 0)
        return -1;
    for (int j = 0; j < nextra; j++) {
        if (strncmp(extra[j], "LD_PRELOAD=", 11) != 0)
            continue;
        for (int k = 0; k < FS_KINDS; k++)
            if (kind_preload(c, k, want, sizeof want) == 0 && strcmp(extra[j], want) == 0)
                return k;
        return -1;
    }
    return FS_CRASH;
}

static hn_fsrv *slot_server(const ctx *c, struct hn__fsrv_slot *sl, int kind);

/*
 * Start argv[0] with the base environment plus extra ("KEY=VALUE", replacing
 * a base variable of the same name), stdin from /dev/null, stdout to outpath
 * and stderr to errpath (NULL: to outpath too), in a new process group;
 * through srv when it can run it.
 */
static int spawn(const ctx *c, struct hn__fsrv_slot *sl, char *const argv[],
                 char *const extra[], int nextra, const char *outpath, const char *errpath,
                 proc *p)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    char **envp;
    int rc, ret = 0, kind = sl ? srv_kind(c, argv, extra, nextra) : -1;
    hn_fsrv *srv = kind >= 0 ? slot_server(c, sl, kind) : NULL;

    envp = child_env(c, extra, nextra);
    if (!envp)
        return pl_err(c->eb, -ENOMEM, "out of memory");
    memset(p, 0, sizeof *p);
    p->pidfd = -1;
    if (srv) {
        pl_errbuf seb = {{0}};
        ret = hn_fsrv_spawn(srv, argv, envp, outpath, errpath, &p->pid, &seb);
        if (ret == 0) {
            free(envp);
            p->srv = srv;
            p->pidfd = hn_fsrv_fd(srv);
            p->t0 = hn__now_ns();
            p->deadline = p->t0 + c->timeout_ns;
            return 0;
        }
        if (ret != PL_EIO) {
            /* the server could not open a file or fork: the request's error */
            free(envp);
            return pl_err(c->eb, ret, "%s", seb.msg);
        }
        /* the server is gone: this process and every later one of its kind
         * by fork+exec */
        fsrv_off(c, kind, 0, seb.msg);
    }

    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, outpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (errpath)
        posix_spawn_file_actions_addopen(&fa, 2, errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    else
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
    /* no descriptor of the harness's, whether or not it is close-on-exec
     * (as a fork server's child: 0, 1, 2 only) */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    /* own process group (a timeout kills a script and what it started),
     * default signals, empty mask */
    hn_fsrv_spawnattr(&at);
    rc = posix_spawn(&p->pid, argv[0], &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    free(envp);
    if (rc != 0) {
        ret = pl_err_os(c->eb, rc, "cannot start %s (%s)", argv[0], argv[1] ? argv[1] : "");
        return ret;
    }
    p->t0 = hn__now_ns();
    p->deadline = p->t0 + c->timeout_ns;
    p->pidfd = pidfd_open(p->pid, 0);
    if (p->pidfd < 0) {
        int err = errno;
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        return pl_err_os(c->eb, err, "pidfd_open(%d)", (int)p->pid);
    }
    return 0;
}

int hn__spawn(const ctx *c, char *const argv[], char *const extra[], int nextra,
              const char *outpath, const char *errpath, proc *p)
{
    return spawn(c, NULL, argv, extra, nextra, outpath, errpath, p);
}

int hn__spawn_in(const ctx *c, struct hn__fsrv_slot *sl, char *const argv[],
                 char *const extra[], int nextra, const char *outpath, const char *errpath,
                 proc *p)
{
    int ret = spawn(c, sl, argv, extra, nextra, outpath, errpath, p);
    if (ret == 0 && c->fs)
        ++*(p->srv ? &c->fs->nsrv : &c->fs->nexec);
    return ret;
}

/* Collect an exited (or killed) child. */
int hn__reap(const ctx *c, proc *p, int *status)
{
    pid_t r;
    if (p->srv) {
        /* the server reaped it and ended what was left of its group */
        int ret = hn_fsrv_wait(p->srv, FSRV_WAIT_NS, status, c->eb);
        p->srv = NULL;
        p->pidfd = -1;
        return ret;
    }
    do
        r = waitpid(p->pid, status, 0);
    while (r < 0 && errno == EINTR);
    if (p->pidfd >= 0)
        close(p->pidfd);
    p->pidfd = -1;
    if (r < 0)
        return pl_err_os(c->eb, errno, "waitpid(%d)", (int)p->pid);
    /* children the pipeline left running in its group would outlive the
     * trial (and hold its files): end them too.  The group id cannot name
     * another process while members of the group remain. */
    kill(-p->pid, SIGKILL);
    return 0;
}

void hn__kill_tree(proc *p)
{
    /* a spawn that failed leaves pid 0: kill(-0) would be kill(0), the
     * harness's own process group (and whoever started it) */
    if (p->pid <= 0)
        return;
    if (p->srv) {
        hn_fsrv_kill(p->srv);
        return;
    }
    kill(-p->pid, SIGKILL);
    kill(p->pid, SIGKILL);
}

void hn__abandon(const ctx *c, proc *p)
{
    int st;
    pl_errbuf eb = {{0}};
    if (p->pid <= 0)
        return; /* nothing started (a failed spawn); waitpid(0) would take any child */
    hn__kill_tree(p);
    if (p->srv) {
        hn_fsrv_wait(p->srv, FSRV_WAIT_NS, &st, &eb);
        p->srv = NULL;
        p->pidfd = -1;
        return;
    }
    waitpid(p->pid, NULL, 0);
    if (p->pidfd >= 0)
        close(p->pidfd);
    p->pidfd = -1;
    (void)c;
}

/* ----------------------------------------------------------- fork servers */


int hn__fsrvs_init(ctx *c, int n, int off)
{
    c->fs = calloc(1, sizeof *c->fs);
    if (!c->fs || !(c->fs->slot = calloc((size_t)n, sizeof *c->fs->slot))) {
        free(c->fs);
        c->fs = NULL;
        return pl_err(c->eb, -ENOMEM, "out of memory");
    }
    c->fs->n = n;
    for (int k = 0; k < FS_KINDS; k++)
        c->fs->off[k] = off;
    /* no I/O error at libfiu's POSIX points: no process needs that server
     * (and a notice about the other one can say "every process") */
    c->fs->off[FS_POSIX] = 1;
    for (int i = 0; i < c->sc->nioerr && !off; i++)
        if (hn_ioerr_is_posix(c->sc->ioerr_point[i]))
            c->fs->off[FS_POSIX] = 0;
    for (int i = 0; i < c->nenv && !off; i++)
        if (strncmp(c->env[i], "LD_PRELOAD=", 11) == 0 && c->env[i][11]) {
            /* a process without faults would run under that preload, and the
             * server has another one */
            fsrv_off(c, FS_CRASH, 1, "the environment sets LD_PRELOAD");
            break;
        }
    return 0;
}

struct hn__fsrv_slot *hn__slot_srv(const ctx *c, int idx)
{
    struct hn__fsrvs *fs = c->fs;
    int on = 0;
    for (int k = 0; fs && k < FS_KINDS; k++)
        on |= !fs->off[k];
    if (!on || idx < 0 || idx >= fs->n)
        return NULL;
    return &fs->slot[idx];
}

/* Slot sl's server of a kind, started on first use; NULL when processes of
 * that kind are to be forked and executed. */
static hn_fsrv *slot_server(const ctx *c, struct hn__fsrv_slot *sl, int kind)
{
    struct hn__fsrvs *fs = c->fs;
    char log[PATH_MAX], why[768], ev_pre[2 * PATH_MAX + 32], **envp = NULL;
    char *extra[3];
    pl_errbuf eb = {{0}};
    int rc;
    if (!fs || fs->off[kind])
        return NULL;
    if (sl->srv[kind])
        return sl->srv[kind];
    if (!hn_fsrv_usable(c->bin, why, sizeof why)) {
        /* the binary itself: no server of any kind */
        fsrv_off(c, FS_CRASH, 1, why);
        return NULL;
    }
    extra[0] = ev_pre;
    extra[1] = (char *)c->asan_env;
    /* every symbol bound once in the server, not lazily in each child
     * (the request's environment is the child's: it does not see this) */
    extra[2] = "LD_BIND_NOW=1";
    if (kind_preload(c, kind, ev_pre, sizeof ev_pre) < 0)
        rc = pl_err(&eb, -ENAMETOOLONG, "LD_PRELOAD too long");
    else if (!(envp = child_env(c, extra, 3)))
        rc = pl_err(&eb, -ENOMEM, "out of memory");
    else if (pl_fs_pathf(log, &eb, "%s/fsrv-%d%s.log", c->dir, (int)(sl - fs->slot),
                         kind == FS_POSIX ? "-posix" : "") < 0)
        rc = -ENAMETOOLONG;
    else
        rc = hn_fsrv_start(c->bin, envp, log, c->timeout_ns < FSRV_HANDSHAKE_NS
                                                  ? c->timeout_ns : FSRV_HANDSHAKE_NS,
                           &sl->srv[kind], why, sizeof why, &eb);
    free(envp);
    if (rc == 0)
        return sl->srv[kind];
    /* whatever went wrong, fork+exec still works: fall back, say why once,
     * with what the server printed (a loader error, say) */
    if (rc < 0)
        snprintf(why, sizeof why, "%s", eb.msg);
    else {
        char tail[256];
        size_t o = strlen(why);
        hn__tail_of(log, tail, sizeof tail);
        if (tail[0])
            snprintf(why + o, sizeof why - o, ": %s", tail);
    }
    fsrv_off(c, kind, kind == FS_CRASH, why);
    return NULL;
}

void hn__fsrvs_count(const ctx *c, int64_t *nsrv, int64_t *nexec)
{
    *nsrv = c->fs ? c->fs->nsrv : 0;
    *nexec = c->fs ? c->fs->nexec : 0;
}

void hn__fsrvs_free(ctx *c)
{
    if (!c->fs)
        return;
    for (int i = 0; i < c->fs->n; i++)
        for (int k = 0; k < FS_KINDS; k++)
            hn_fsrv_stop(c->fs->slot[i].srv[k]);
    free(c->fs->slot);
    free(c->fs);
    c->fs = NULL;
}

/* Wait for one child, killing it at its deadline (*timed_out = 1). */
int hn__wait_sync(const ctx *c, proc *p, int *status, int *timed_out)
{
    *timed_out = 0;
    for (;;) {
        struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
        int64_t left = p->deadline - hn__now_ns();
        int ms = left <= 0 ? 0 : left / 1000000 > POLL_MAX_MS ? POLL_MAX_MS
                                                                : (int)(left / 1000000) + 1;
        int r;
        if (c->o->stop && *c->o->stop) {
            hn__kill_tree(p);
            hn__reap(c, p, status);
            return pl_err(c->eb, -EINTR, "interrupted");
        }
        r = poll(&pfd, 1, ms);
        if (r < 0 && errno != EINTR)
            return pl_err_os(c->eb, errno, "poll");
        if (r > 0)
            return hn__reap(c, p, status);
        if (hn__now_ns() >= p->deadline) {
            hn__kill_tree(p);
            *timed_out = 1;
            return hn__reap(c, p, status);
        }
    }
}

/* "60s" or "1500ms": a timeout as the scenario would say it. */
void hn__dur_text(int64_t ns, char *out, size_t n)
{
    if (ns % 1000000000 == 0)
        snprintf(out, n, "%llds", (long long)(ns / 1000000000));
    else
        snprintf(out, n, "%lldms", (long long)(ns / 1000000));
}

void hn__status_text(int st, char *out, size_t n)
{
    if (WIFEXITED(st))
        snprintf(out, n, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) {
        const char *abbr = sigabbrev_np(WTERMSIG(st));
        snprintf(out, n, "killed by SIG%s", abbr ? abbr : "?");
    } else
        snprintf(out, n, "ended with wait status %#x", st);
}

/* Run a command to completion (golden phase).  Returns 0 with *status, or a
 * negative code; a timeout is reported as *timed_out with the tree killed. */
int hn__run_sync(const ctx *c, char *const argv[], char *const extra[], int nextra,
                    const char *outpath, const char *errpath, int *status, int *timed_out)
{
    return hn__run_sync_in(c, NULL, argv, extra, nextra, outpath, errpath, status, timed_out);
}

int hn__run_sync_in(const ctx *c, struct hn__fsrv_slot *sl, char *const argv[],
                    char *const extra[], int nextra, const char *outpath, const char *errpath,
                    int *status, int *timed_out)
{
    proc p;
    char line[8192];
    int ret;
    hn__describe(c, line, sizeof line, argv, extra, nextra);
    hn__note(c, "$ %s", line);
    ret = spawn(c, sl, argv, extra, nextra, outpath, errpath, &p);
    if (ret == 0)
        ret = hn__wait_sync(c, &p, status, timed_out);
    return ret;
}

