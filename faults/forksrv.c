/*
 * forksrv.c - the fork server inside rp-crash.so (protocol: ft_fsrv.h).
 *
 * When RP_FORKSRV_FD is set, the program does not start: this library's
 * __libc_start_main (it wins symbol resolution, being preloaded) keeps the
 * program's main and serves the harness instead.  Dynamic loading,
 * relocation and the constructors of every shared library are paid once;
 * for each request the server forks, and the child calls glibc's own
 * __libc_start_main with the request's argv and environment, exactly as
 * the kernel's exec of the program would have (that call runs the program's
 * own constructors, registers the dynamic linker's destructor and ends in
 * exit(main(...))).  Before that the child takes what exec would give it:
 *
 *   - its own process group (the harness kills the group at a timeout and
 *     ends what the program leaves running when it is reaped);
 *   - stdin /dev/null, stdout and stderr opened by the server on the
 *     request's paths (an open that fails is reported, as posix_spawn does);
 *   - the signal dispositions and mask the server had on entry (the ones
 *     the program would start with: the harness spawns the server with the
 *     defaults and an empty mask, and a sanitizer's handlers installed
 *     during loading are kept);
 *   - no descriptor of the server's (the control socket is closed);
 *   - the request's environment as environ, then RP_FIU_* read from it
 *     (ft__configure), so that faults are armed per request.
 *
 * The server may run with libfiu's POSIX preload loaded after this library
 * (LD_PRELOAD="rp-crash.so fiu_posix_preload.so", the harness's second
 * server per slot): its wrappers then see the server's own calls (the
 * socket, poll, fork, waitpid), but nothing is armed in the server, so they
 * pass straight through; a child arms its posix/... points from its request
 * after the fork, with the one libfiu both libraries share, and the count
 * of each point starts there, as in a freshly executed process.
 *
 * The server reaps each child, ends what is left of its process group while
 * the child is still a zombie (so the group id cannot have been reused), and
 * reports the wait status.  It stops when the harness closes the socket.
 *
 * Not reproduced: what a fresh exec re-randomizes (address layout: every
 * child has the server's), /proc/self/cmdline (the server's argv), threads
 * a library's constructor might have started (a fork copies only the
 * calling thread; programs whose libraries start threads at load should run
 * with --no-fork-server).  Like the rest of this library it prints (one
 * line, on the server's stderr) and exits when it cannot go on.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ft_crash.h"
#include "ft_fsrv.h"

extern char **environ;

typedef int (*ft_main_fn)(int, char **, char **);
typedef int (*ft_start_fn)(ft_main_fn, int, char **, ft_main_fn, void (*)(void), void (*)(void),
                           void *);

/* What __libc_start_main was called with; every child starts from it. */
static struct {
    ft_start_fn real;
    ft_main_fn main, init;
    void (*fini)(void);
    void (*rtld_fini)(void);
    void *stack_end;
    int ctl;
#ifdef FT_FSRV_TEST_HOOKS
    long die_after;            /* FT_FSRV_ENV_DIE: children left before dying; 0: never */
#endif
    struct sigaction sa[NSIG];
    sigset_t mask;
} fs;

static void fs_die(const char *what, int err) __attribute__((noreturn));
static void fs_die(const char *what, int err)
{
    char line[300];
    int n = snprintf(line, sizeof line, "rp-crash: fork server: %s: %s\n", what, strerror(err));
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* nothing left to report to */
    }
    _exit(127);
}

/* ---- the socket ------------------------------------------------------- */

static int fs_send(const ft_fsrv_msg *m, const void *body)
{
    struct iovec iov[2] = {{(void *)m, sizeof *m}, {(void *)body, body ? m->len : 0}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = body ? 2 : 1};
    size_t want = sizeof *m + (body ? m->len : 0), done = 0;
    while (done < want) {
        ssize_t w = sendmsg(fs.ctl, &mh, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += (size_t)w;
        /* a short send: advance through the vector */
        while (w > 0 && mh.msg_iovlen > 0) {
            size_t take = (size_t)w < mh.msg_iov->iov_len ? (size_t)w : mh.msg_iov->iov_len;
            mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + take;
            mh.msg_iov->iov_len -= take;
            w -= (ssize_t)take;
            if (mh.msg_iov->iov_len == 0) {
                mh.msg_iov++;
                mh.msg_iovlen--;
            }
        }
    }
    return 0;
}

static void fs_reply(uint32_t type, int32_t a, int32_t b)
{
    ft_fsrv_msg m = {FT_FSRV_MAGIC, type, a, b, 0};
    /* the harness is gone if this fails: the next read sees EOF */
    (void)fs_send(&m, NULL);
}

/* n bytes; 1 done, 0 EOF before the first byte, -1 error or EOF inside */
static int fs_read(void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fs.ctl, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r == 0 && got == 0 ? 0 : -1;
        got += (size_t)r;
    }
    return 1;
}

/* ---- one child -------------------------------------------------------- */

/* The request's strings, checked: cwd, out, err, argv[argc], env[envc]. */
typedef struct fs_req {
    char *cwd, *out, *err;
    int argc, envc;
    char **words; /* argv, NULL, env, NULL: the layout __libc_start_main expects */
} fs_req;

static int fs_parse(char *body, uint32_t len, int argc, int envc, fs_req *r)
{
    char *p = body, *end = body + len;
    char *fixed[3];
    int k = 0;
    if (argc < 1 || envc < 0 || argc > FT_FSRV_MAX_WORDS || envc > FT_FSRV_MAX_WORDS ||
        argc + envc > FT_FSRV_MAX_WORDS || len == 0 || end[-1] != 0)
        return -1;
    r->words = calloc((size_t)argc + (size_t)envc + 2, sizeof *r->words);
    if (!r->words)
        return -1;
    for (int i = 0; i < 3 + argc + envc; i++) {
        if (p >= end)
            return -1;
        if (i < 3)
            fixed[i] = p;
        else if (i < 3 + argc)
            r->words[k++] = p;
        else {
            if (k == argc)
                r->words[k++] = NULL;
            r->words[k++] = p;
        }
        p += strlen(p) + 1;
    }
    if (k == argc)
        r->words[k++] = NULL;
    r->words[k] = NULL;
    r->cwd = fixed[0];
    r->out = fixed[1];
    r->err = fixed[2];
    r->argc = argc;
    r->envc = envc;
    return 0;
}

static void fs_child(fs_req *r, int in, int out, int err) __attribute__((noreturn));
/* Room for variables ft__configure adds (REFPIPE_FIU_EVENTS) */
#define FS_ENV_SPARE 8

static void fs_child(fs_req *r, int in, int out, int err)
{
    char **env, **words;
    int n = 0;
    size_t room = (size_t)r->argc + (size_t)r->envc + 2 + FS_ENV_SPARE;

    /* own process group first: a kill of the group must not miss it */
    setpgid(0, 0);
    close(fs.ctl);
    if (dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
        dup2(err >= 0 ? err : out, STDERR_FILENO) < 0)
        fs_die("dup2", errno);
    close(in);
    close(out);
    if (err >= 0)
        close(err);
    if (r->cwd[0] && chdir(r->cwd) != 0)
        fs_die(r->cwd, errno);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &fs.sa[s], NULL); /* glibc's internal signals refuse: fine */
    sigprocmask(SIG_SETMASK, &fs.mask, NULL);

    environ = r->words + r->argc + 1;
    program_invocation_name = r->words[0];
    program_invocation_short_name = strrchr(r->words[0], '/') ? strrchr(r->words[0], '/') + 1
                                                               : r->words[0];
    /* allocated before the faults are armed: a fail point of libfiu's POSIX
     * preload at libc/mm/calloc counts the program's calls, not ours (and
     * must not fail this one) */
    words = calloc(room, sizeof *words);
    if (!words)
        fs_die("calloc", ENOMEM);
    /* faults from this request's RP_FIU_* (it may add a variable) */
    ft__configure();

    /* __libc_start_main takes environ from after argv's NULL: rebuild the
     * block from environ as it is now */
    for (env = environ; *env; env++)
        n++;
    if ((size_t)r->argc + (size_t)n + 2 > room) {
        /* more variables than foreseen (never, today): allocate again, now armed */
        free(words);
        words = calloc((size_t)r->argc + (size_t)n + 2, sizeof *words);
        if (!words)
            fs_die("calloc", ENOMEM);
    }
    memcpy(words, r->words, (size_t)r->argc * sizeof *words);
    memcpy(words + r->argc + 1, environ, (size_t)n * sizeof *words);
    errno = 0;
    fs.real(fs.main, r->argc, words, fs.init, fs.fini, fs.rtld_fini, fs.stack_end);
    _exit(127); /* not reached: the real one ends in exit() */
}

/* Without a pidfd (a kernel before 5.3): has pid ended?  It stays a zombie. */
static int fs_ended(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0;
}

/* Wait for the running child, honouring KILL; then end its group and reap.
 * Returns its wait status; exits the server when the harness is gone. */
static int fs_wait(pid_t pid)
{
    int pidfd = pidfd_open(pid, 0), st = 0;
    for (;;) {
        struct pollfd p[2] = {{.fd = fs.ctl, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
        int r = poll(p, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? -1 : 10);
        ft_fsrv_msg m;
        if (r < 0 && errno != EINTR)
            fs_die("poll", errno);
        if (pidfd >= 0 ? r > 0 && p[1].revents : fs_ended(pid))
            break;
        if (r > 0 && p[0].revents) {
            int got = fs_read(&m, sizeof m);
            if (got == 1 && m.magic == FT_FSRV_MAGIC && m.type == FT_FSRV_KILL) {
                if (m.a == pid) {
                    kill(-pid, SIGKILL);
                    kill(pid, SIGKILL);
                }
                continue;
            }
            /* EOF or nonsense: the harness is gone; leave nothing behind */
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            _exit(0);
        }
    }
    /* still a zombie, so the group id is still this child's: what the
     * program left running in its group ends with it */
    kill(-pid, SIGKILL);
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            fs_die("waitpid", errno);
    }
    if (pidfd >= 0)
        close(pidfd);
    return st;
}

static void fs_serve(void) __attribute__((noreturn));
static void fs_serve(void)
{
    for (;;) {
        ft_fsrv_msg m;
        fs_req r = {0};
        char *body = NULL;
        int got = fs_read(&m, sizeof m), in = -1, out = -1, err = -1, e = 0;
        pid_t pid;

        if (got == 0)
            _exit(0); /* the harness closed the socket: done */
        if (got < 0 || m.magic != FT_FSRV_MAGIC)
            _exit(0);
        if (m.type == FT_FSRV_KILL)
            continue; /* for a child already reaped */
        if (m.type != FT_FSRV_REQ || m.len > FT_FSRV_MAX_BODY)
            _exit(0);
        body = malloc((size_t)m.len + 1);
        if (!body)
            fs_die("malloc", ENOMEM);
        if (fs_read(body, m.len) != 1)
            _exit(0);
        body[m.len] = 0;
        if (fs_parse(body, m.len, m.a, m.b, &r) < 0) {
            e = EINVAL;
            goto refuse;
        }
        /* the files first, in the server: a failure is the request's error */
        in = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (in < 0)
            goto fail;
        out = open(r.out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out < 0)
            goto fail;
        if (r.err[0] && (err = open(r.err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
            goto fail;
        /* nothing buffered may be written twice */
        fflush(NULL);
        pid = fork();
        if (pid < 0)
            goto fail;
        if (pid == 0)
            fs_child(&r, in, out, err);
        /* both sides set the group: whichever runs first, the harness
         * never sees a pid whose group does not exist yet */
        setpgid(pid, pid);
        close(in);
        close(out);
        if (err >= 0)
            close(err);
        free(r.words);
        free(body);
        fs_reply(FT_FSRV_STARTED, pid, 0);
        fs_reply(FT_FSRV_EXITED, pid, fs_wait(pid));
#ifdef FT_FSRV_TEST_HOOKS
        /* the test hook: a server that dies between requests, as one the
         * OOM killer took would (the harness must fall back to fork+exec) */
        if (fs.die_after > 0 && --fs.die_after == 0)
            raise(SIGKILL);
#endif
        continue;
    fail:
        e = errno;
    refuse:
        if (in >= 0)
            close(in);
        if (out >= 0)
            close(out);
        if (err >= 0)
            close(err);
        free(r.words);
        free(body);
        fs_reply(FT_FSRV_STARTED, 0, e ? e : EIO);
    }
}

/* ---- the entry point -------------------------------------------------- */

/*
 * Called by the program's _start (crt1.o) in place of glibc's.  Without
 * RP_FORKSRV_FD it only passes through.  glibc 2.34 and later ignore init
 * and fini for current programs (the program's constructors run from its
 * dynamic section inside the real function); they are passed on as given,
 * which also serves programs linked against older glibc.
 */
__attribute__((visibility("default"))) int
__libc_start_main(ft_main_fn main, int argc, char **argv, ft_main_fn init, void (*fini)(void),
                  void (*rtld_fini)(void), void *stack_end)
{
    const char *v = getenv(FT_FSRV_ENV_FD);
    char *end;
    long fd;
    ft_main_fn mainp = main;

    *(void **)&fs.real = dlsym(RTLD_NEXT, "__libc_start_main");
    if (!fs.real)
        fs_die("dlsym(__libc_start_main)", ENOSYS);
    if (!v || !*v)
        return fs.real(mainp, argc, argv, init, fini, rtld_fini, stack_end);
    errno = 0;
    fd = strtol(v, &end, 10);
    if (errno || *end || end == v || fd < 3 || fd > 65535 || fcntl((int)fd, F_GETFD) < 0)
        fs_die(FT_FSRV_ENV_FD " does not name an open descriptor", EBADF);
    fs.ctl = (int)fd;
    /* the control socket never reaches a program the server starts */
    if (fcntl(fs.ctl, F_SETFD, FD_CLOEXEC) < 0)
        fs_die("fcntl", errno);
    fs.main = mainp;
    fs.init = init;
    fs.fini = fini;
    fs.rtld_fini = rtld_fini;
    fs.stack_end = stack_end;
#ifdef FT_FSRV_TEST_HOOKS
    v = getenv(FT_FSRV_ENV_DIE);
    fs.die_after = v ? strtol(v, NULL, 10) : 0;
#endif
    for (int s = 1; s < NSIG; s++)
        sigaction(s, NULL, &fs.sa[s]);
    sigprocmask(SIG_SETMASK, NULL, &fs.mask);
    {
        ft_fsrv_msg m = {FT_FSRV_MAGIC, FT_FSRV_HELLO, FT_FSRV_VERSION, (int32_t)getpid(), 0};
        if (fs_send(&m, NULL) < 0)
            _exit(0);
    }
    fs_serve();
}
