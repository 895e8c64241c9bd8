/*
 * fsrv.c - the harness's end of a fork server (hn_fsrv.h; the server is
 * faults/forksrv.c, the protocol faults/ft_fsrv.h).
 *
 * Layout: the ELF check; socket helpers; start and handshake; spawn, kill,
 * wait; stop.
 */
#include "hn_fsrv.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ft_fsrv.h"

#define FSRV_FD 3                       /* the control socket in the server */
#define FSRV_STOP_NS 2000000000LL       /* a server that does not stop is killed */

struct hn_fsrv {
    pid_t pid;       /* the server */
    int pidfd;       /* the server's */
    int fd;          /* control socket */
    pid_t child;     /* the running child, 0 when none */
    char bin[4096];
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ------------------------------------------------------------- ELF check */

int hn_fsrv_usable(const char *bin, char *why, size_t nwhy)
{
    Elf64_Ehdr eh;
    struct stat st;
    int fd = open(bin, O_RDONLY | O_CLOEXEC), ok = 0;
    why[0] = 0;
    if (fd < 0) {
        snprintf(why, nwhy, "%s cannot be read: %s", bin, strerror(errno));
        return 0;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, nwhy, "%s is not a regular file", bin);
        goto done;
    }
    if (st.st_mode & (S_ISUID | S_ISGID)) {
        snprintf(why, nwhy, "%s is set-user-ID or set-group-ID (the loader ignores LD_PRELOAD)",
                 bin);
        goto done;
    }
    if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh ||
        memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
        char two[2] = {0, 0};
        if (pread(fd, two, 2, 0) == 2 && two[0] == '#' && two[1] == '!')
            snprintf(why, nwhy, "%s is a script (#!), not an ELF binary", bin);
        else
            snprintf(why, nwhy, "%s is not an ELF binary", bin);
        goto done;
    }
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr)) {
        snprintf(why, nwhy, "%s is not a 64-bit ELF binary", bin);
        goto done;
    }
    for (int i = 0; i < eh.e_phnum && !ok; i++) {
        Elf64_Phdr ph;
        if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph)) !=
            (ssize_t)sizeof ph)
            break;
        ok = ph.p_type == PT_INTERP;
    }
    if (!ok)
        snprintf(why, nwhy, "%s is statically linked (no program interpreter to preload into)",
                 bin);
done:
    close(fd);
    return ok;
}

void hn_fsrv_spawnattr(posix_spawnattr_t *at)
{
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setpgroup(at, 0);
    posix_spawnattr_setsigmask(at, &none);
    posix_spawnattr_setsigdefault(at, &all);
    posix_spawnattr_setflags(at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                     POSIX_SPAWN_SETSIGDEF);
}

/* ---------------------------------------------------------------- socket */

static int write_all(int fd, const void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = send(fd, (const char *)buf + done, n - done, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        done += (size_t)w;
    }
    return 0;
}

/* One message within deadline (absolute, now_ns clock).  1 read, 0 EOF,
 * -1 error, -2 timed out. */
static int read_msg(int fd, ft_fsrv_msg *m, int64_t deadline)
{
    size_t got = 0;
    while (got < sizeof *m) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - now_ns();
        ssize_t r;
        if (left <= 0)
            return -2;
        r = poll(&p, 1, (int)(left / 1000000 > 1000 ? 1000 : left / 1000000 + 1));
        if (r < 0 && errno != EINTR)
            return -1;
        if (r <= 0)
            continue;
        r = read(fd, (char *)m + got, sizeof *m - got);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return got == 0 ? 0 : -1;
        got += (size_t)r;
    }
    return m->magic == FT_FSRV_MAGIC ? 1 : -1;
}

/* ----------------------------------------------------------------- start */

/* Kill the server's group, reap it; its wait status in *st. */
static void reap_server(hn_fsrv *s, int *st)
{
    int dummy;
    kill(-s->pid, SIGKILL);
    while (waitpid(s->pid, st ? st : &dummy, 0) < 0 && errno == EINTR) {
    }
    if (s->pidfd >= 0)
        close(s->pidfd);
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}

int hn_fsrv_start(const char *bin, char *const envp[], const char *logpath,
                  int64_t handshake_ns, hn_fsrv **out, char *why, size_t nwhy, pl_errbuf *eb)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    char ev_fd[32], **env = NULL, *argv[2];
    int sv[2] = {-1, -1}, high = -1, n = 0, rc, ret = 0, st;
    hn_fsrv *s;
    ft_fsrv_msg m;

    *out = NULL;
    why[0] = 0;
    if (!hn_fsrv_usable(bin, why, nwhy))
        return 1;
    s = calloc(1, sizeof *s);
    if (!s)
        return pl_err(eb, -ENOMEM, "out of memory");
    s->fd = s->pidfd = -1;
    snprintf(s->bin, sizeof s->bin, "%s", bin);
    for (char *const *e = envp; *e; e++)
        n++;
    env = calloc((size_t)n + 2, sizeof *env);
    if (!env) {
        free(s);
        return pl_err(eb, -ENOMEM, "out of memory");
    }
    n = 0;
    for (char *const *e = envp; *e; e++)
        if (strncmp(*e, FT_FSRV_ENV_FD "=", sizeof FT_FSRV_ENV_FD) != 0)
            env[n++] = *e;
    snprintf(ev_fd, sizeof ev_fd, "%s=%d", FT_FSRV_ENV_FD, FSRV_FD);
    env[n++] = ev_fd;
    env[n] = NULL;
    /* the harness's end stays out of every child it spawns; the server's
     * end reaches the server as FSRV_FD only (dup2 from a number above it) */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
        (high = fcntl(sv[1], F_DUPFD_CLOEXEC, FSRV_FD + 1)) < 0) {
        ret = pl_err_os(eb, errno, "fork server socket");
        goto fail;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_adddup2(&fa, high, FSRV_FD);
    /* nothing else of the harness's: every child gets 0, 1, 2 only */
    posix_spawn_file_actions_addclosefrom_np(&fa, FSRV_FD + 1);
    /* as hn__spawn gives its children: the server saves the signal state
     * and hands it to every child, so they match a process started directly */
    hn_fsrv_spawnattr(&at);
    argv[0] = (char *)bin;
    argv[1] = NULL;
    rc = posix_spawn(&s->pid, bin, &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(high);
    close(sv[1]);
    sv[1] = -1;
    if (rc != 0) {
        snprintf(why, nwhy, "%s cannot be started: %s", bin, strerror(rc));
        ret = 1;
        goto fail;
    }
    s->fd = sv[0];
    sv[0] = -1;
    s->pidfd = pidfd_open(s->pid, 0);
    rc = read_msg(s->fd, &m, now_ns() + handshake_ns);
    if (rc == 1 && m.type == FT_FSRV_HELLO && m.a == FT_FSRV_VERSION) {
        free(env);
        *out = s;
        return 0;
    }
    if (rc == 1)
        snprintf(why, nwhy, "rp-crash.so speaks another protocol version (%d, not %d)", m.a,
                 FT_FSRV_VERSION);
    else if (rc == -2)
        snprintf(why, nwhy, "no handshake from %s within %lld ms (does it start through "
                 "glibc's __libc_start_main?)", bin, (long long)(handshake_ns / 1000000));
    else {
        char status[64];
        reap_server(s, &st);
        s = NULL;
        if (WIFEXITED(st))
            snprintf(status, sizeof status, "exited with status %d", WEXITSTATUS(st));
        else
            snprintf(status, sizeof status, "was killed by signal %d",
                     WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        snprintf(why, nwhy, "%s %s before the handshake (rp-crash.so not preloaded?)", bin,
                 status);
    }
    ret = 1;
fail:
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    if (s && s->pid > 0)
        reap_server(s, NULL);
    else
        free(s);
    free(env);
    return ret;
}

const char *hn_fsrv_bin(const hn_fsrv *s)
{
    return s->bin;
}

int hn_fsrv_fd(const hn_fsrv *s)
{
    return s->fd;
}

/* ----------------------------------------------------------- the children */

int hn_fsrv_spawn(hn_fsrv *s, char *const argv[], char *const envp[], const char *outpath,
                  const char *errpath, pid_t *pid, pl_errbuf *eb)
{
    char cwd[4096];
    const char *fixed[3];
    size_t len = 0, o = 0;
    int argc = 0, envc = 0, rc, err;
    char *body;
    ft_fsrv_msg m;

    if (s->child)
        return pl_err(eb, PL_EUSAGE, "fork server: a child is still running");
    if (!getcwd(cwd, sizeof cwd))
        cwd[0] = 0; /* the server's own, which is the same */
    fixed[0] = cwd;
    fixed[1] = outpath;
    fixed[2] = errpath ? errpath : "";
    for (int i = 0; i < 3; i++)
        len += strlen(fixed[i]) + 1;
    for (; argv[argc]; argc++)
        len += strlen(argv[argc]) + 1;
    for (; envp[envc]; envc++)
        len += strlen(envp[envc]) + 1;
    if (len > FT_FSRV_MAX_BODY || argc + envc > FT_FSRV_MAX_WORDS)
        return pl_err(eb, PL_ELIMIT, "fork server: command line and environment too long");
    body = malloc(sizeof m + len);
    if (!body)
        return pl_err(eb, -ENOMEM, "out of memory");
    m = (ft_fsrv_msg){FT_FSRV_MAGIC, FT_FSRV_REQ, argc, envc, (uint32_t)len};
    memcpy(body, &m, sizeof m);
    o = sizeof m;
    for (int i = 0; i < 3 + argc + envc; i++) {
        const char *w = i < 3 ? fixed[i] : i < 3 + argc ? argv[i - 3] : envp[i - 3 - argc];
        size_t l = strlen(w) + 1;
        memcpy(body + o, w, l);
        o += l;
    }
    rc = write_all(s->fd, body, o);
    err = errno;
    free(body);
    /* EPIPE or ECONNRESET: the server died since its last answer; like no
     * answer, that is the server gone (PL_EIO), not this request's error */
    if (rc < 0)
        return pl_err(eb, PL_EIO, "fork server for %s: sending a request: %s", s->bin,
                      strerror(err));
    rc = read_msg(s->fd, &m, now_ns() + 30 * 1000000000LL);
    if (rc != 1 || m.type != FT_FSRV_STARTED)
        return pl_err(eb, PL_EIO, "fork server for %s: no answer to a request (%s)", s->bin,
                      rc == 0 ? "it exited" : rc == -2 ? "timed out" : "bad message");
    if (m.a <= 0)
        return pl_err_os(eb, m.b > 0 ? m.b : EIO, "cannot start %s (%s) in the fork server",
                         argv[0], argv[1] ? argv[1] : "");
    s->child = m.a;
    *pid = m.a;
    return 0;
}

void hn_fsrv_kill(hn_fsrv *s)
{
    ft_fsrv_msg m = {FT_FSRV_MAGIC, FT_FSRV_KILL, 0, 0, 0};
    if (!s->child)
        return;
    m.a = s->child;
    /* the server holds the child unreaped: its pid and group are still its
     * own.  If the server is gone, kill directly (the child is then an
     * orphan, and only a reuse of its pid could misdirect this). */
    if (write_all(s->fd, &m, sizeof m) < 0) {
        kill(-s->child, SIGKILL);
        kill(s->child, SIGKILL);
    }
}

int hn_fsrv_wait(hn_fsrv *s, int64_t timeout_ns, int *status, pl_errbuf *eb)
{
    int64_t deadline = now_ns() + timeout_ns;
    ft_fsrv_msg m;
    pid_t child = s->child;
    int rc;
    if (!child)
        return pl_err(eb, PL_EUSAGE, "fork server: no child running");
    for (;;) {
        rc = read_msg(s->fd, &m, deadline);
        if (rc != 1)
            break;
        if (m.type == FT_FSRV_EXITED && m.a == child) {
            s->child = 0;
            *status = m.b;
            return 0;
        }
    }
    /* a server that died or hangs: the child must not outlive the trial */
    kill(-child, SIGKILL);
    kill(child, SIGKILL);
    s->child = 0;
    return pl_err(eb, PL_EIO, "fork server for %s: %s while child %d ran", s->bin,
                  rc == 0 ? "the server exited" : rc == -2 ? "no exit status in time"
                                                           : "a bad message",
                  (int)child);
}

void hn_fsrv_stop(hn_fsrv *s)
{
    int st;
    if (!s)
        return;
    if (s->child) {
        pl_errbuf eb;
        hn_fsrv_kill(s);
        hn_fsrv_wait(s, FSRV_STOP_NS, &st, &eb);
    }
    /* EOF on its socket ends the server; one that does not is killed */
    shutdown(s->fd, SHUT_RDWR);
    if (s->pidfd >= 0) {
        struct pollfd p = {.fd = s->pidfd, .events = POLLIN};
        while (poll(&p, 1, (int)(FSRV_STOP_NS / 1000000)) < 0 && errno == EINTR) {
        }
    }
    reap_server(s, NULL);
}
