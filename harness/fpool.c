/*
 * fpool.c - forked worker processes with fixed-size results (hn_fpool.h).
 *
 * Layout: one worker (fork, run, write the result, _exit); ending workers
 * (SIGTERM and wait); the loop that starts tasks, polls the result pipes and
 * hands each whole result to the caller.
 */
#include "hn_fpool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct worker {
    pid_t pid;   /* 0: free */
    int fd;      /* the result pipe's read end */
    int task;
    size_t got;  /* result bytes read so far */
    char *res;
} worker;

/* Start task t in w.  The child never returns. */
static int start(const hn_fpool *p, worker *ws, int nw, worker *w, int t, pl_errbuf *eb)
{
    int fds[2];
    pid_t pid;
    if (pipe2(fds, O_CLOEXEC) < 0)
        return pl_err_os(eb, errno, "pipe");
    pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return pl_err_os(eb, e, "fork");
    }
    if (pid == 0) {
        char *res = calloc(1, p->res_size);
        size_t off = 0;
        close(fds[0]);
        /* the other workers' pipes are the parent's business */
        for (int i = 0; i < nw; i++)
            if (ws[i].pid > 0)
                close(ws[i].fd);
        if (!res)
            _exit(70);
        p->run(p->ctx, t, res);
        while (off < p->res_size) {
            ssize_t k = write(fds[1], res + off, p->res_size - off);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                _exit(71);
            off += (size_t)k;
        }
        /* _exit: the parent's stdio buffers and database handle are not ours
         * to flush or close */
        _exit(0);
    }
    close(fds[1]);
    w->pid = pid;
    w->fd = fds[0];
    w->task = t;
    w->got = 0;
    return 0;
}

static void reap(worker *w)
{
    while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    close(w->fd);
    w->pid = 0;
}

/* Stop every running worker and wait for it. */
static void end_all(worker *ws, int nw)
{
    for (int i = 0; i < nw; i++)
        if (ws[i].pid > 0)
            kill(ws[i].pid, SIGTERM);
    for (int i = 0; i < nw; i++)
        if (ws[i].pid > 0)
            reap(&ws[i]);
}

int hn_fpool_run(const hn_fpool *p, pl_errbuf *eb)
{
    int nw = p->workers > 0 ? p->workers : 1, running = 0, more = 1, ret = 0;
    worker *ws = calloc((size_t)nw, sizeof *ws);
    struct pollfd *pfd = calloc((size_t)nw, sizeof *pfd);
    int *map = calloc((size_t)nw, sizeof *map);

    if (!ws || !pfd || !map) {
        ret = pl_err(eb, -ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < nw; i++)
        if (!(ws[i].res = malloc(p->res_size ? p->res_size : 1))) {
            ret = pl_err(eb, -ENOMEM, "out of memory");
            goto out;
        }
    for (;;) {
        int np = 0, rr;
        if (p->stop && *p->stop) {
            ret = pl_err(eb, -EINTR, "interrupted");
            goto out;
        }
        while (more && running < nw) {
            int t = p->next(p->ctx), i = 0;
            if (t == HN_FPOOL_DONE)
                more = 0;
            if (t < 0)
                break;
            while (ws[i].pid > 0)
                i++;
            if ((ret = start(p, ws, nw, &ws[i], t, eb)) < 0)
                goto out;
            running++;
        }
        if (running == 0) {
            if (!more)
                break;
            /* nothing runs and nothing may start: a scheduler that would wait forever */
            ret = pl_err(eb, PL_EIO, "worker pool: no task can start and none is running");
            goto out;
        }
        for (int i = 0; i < nw; i++)
            if (ws[i].pid > 0) {
                pfd[np].fd = ws[i].fd;
                pfd[np].events = POLLIN;
                pfd[np].revents = 0;
                map[np++] = i;
            }
        /* a bounded wait: the stop flag is looked at between polls */
        rr = poll(pfd, (nfds_t)np, 200);
        if (rr < 0 && errno != EINTR) {
            ret = pl_err_os(eb, errno, "poll");
            goto out;
        }
        for (int k = 0; k < np && rr > 0; k++) {
            worker *w = &ws[map[k]];
            ssize_t n;
            int st = 0;
            if (!pfd[k].revents)
                continue;
            n = read(w->fd, w->res + w->got, p->res_size - w->got);
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n > 0) {
                w->got += (size_t)n;
                if (w->got < p->res_size)
                    continue;
            }
            /* a whole result, or the end of the pipe: the worker is done */
            while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
                ;
            close(w->fd);
            w->pid = 0;
            running--;
            if (w->got < p->res_size || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                ret = pl_err(eb, PL_EIO, "worker for task %d ended without its result "
                             "(wait status %d)", w->task, st);
                goto out;
            }
            if ((ret = p->done(p->ctx, w->task, w->res)) < 0)
                goto out;
        }
    }
out:
    if (ws) {
        end_all(ws, nw);
        for (int i = 0; i < nw; i++)
            free(ws[i].res);
    }
    free(ws);
    free(pfd);
    free(map);
    return ret;
}
