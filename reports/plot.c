/*
 * plot.c - gnuplot through a pipe (rp_plot.h).
 *
 * Layout: spawning gnuplot with both pipes; the poll loop that writes the
 * script while reading the SVG (gnuplot may start writing before it has read
 * everything, so writing first and reading afterwards could deadlock on two
 * full pipes); turning gnuplot's SVG document into an element for the page.
 */
#include "rp_plot.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PLOT_TIMEOUT_MS 60000
#define SVG_MAX (64 << 20)

extern char **environ;

void rp_plot_label(char *buf, size_t n, const char *s)
{
    size_t i = 0;
    for (; s && *s && i + 1 < n; s++)
        buf[i++] = (*s >= 0x20 && *s < 0x7f && !strchr("'\\\"@`", *s)) ? *s : '?';
    if (n)
        buf[i] = 0;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Prefix every id and every reference to one. */
static char *prefix_ids(const char *svg, const char *pfx)
{
    static const char *const pats[] = {"id=\"", "id='", "href=\"#", "href='#", "url(#"};
    size_t plen = strlen(pfx), n = 0, cap = strlen(svg) * 2 + 64;
    char *out = malloc(cap);
    const char *p = svg;
    if (!out)
        return NULL;
    while (*p) {
        size_t m = 0;
        for (size_t i = 0; i < sizeof pats / sizeof pats[0] && !m; i++)
            if (strncmp(p, pats[i], strlen(pats[i])) == 0)
                m = strlen(pats[i]);
        if (n + m + plen + 2 > cap) {
            char *q = realloc(out, cap *= 2);
            if (!q) {
                free(out);
                return NULL;
            }
            out = q;
        }
        if (m) {
            memcpy(out + n, p, m);
            n += m;
            p += m;
            memcpy(out + n, pfx, plen);
            n += plen;
        } else
            out[n++] = *p++;
    }
    out[n] = 0;
    return out;
}

int rp_plot_svg(const char *script, int width, int height, const char *id_prefix, char **svg,
                pl_errbuf *eb)
{
    const char *prog = getenv("RP_GNUPLOT");
    char *argv[2], head[256], *out = NULL, *in = NULL, *start;
    int inp[2] = {-1, -1}, outp[2] = {-1, -1}, ret = 0, status = 0, devnull = -1;
    size_t inlen, inoff = 0, outlen = 0, outcap = 0;
    posix_spawn_file_actions_t fa;
    pid_t pid = -1;
    int64_t deadline;

    *svg = NULL;
    if (!prog || !*prog)
        prog = "gnuplot";
    snprintf(head, sizeof head,
             "set terminal svg size %d,%d dynamic noenhanced font 'sans,10' "
             "background rgb 'white'\nset output\n", width, height);
    inlen = strlen(head) + strlen(script) + 2;
    in = malloc(inlen + 1);
    if (!in)
        return pl_err(eb, -ENOMEM, "out of memory");
    inlen = (size_t)snprintf(in, inlen + 1, "%s%s\n", head, script);

    /* stdin is a socket so that send(MSG_NOSIGNAL) can write to it: a
     * gnuplot that quits early is then EPIPE, not a SIGPIPE that kills us */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, inp) < 0 ||
        pipe2(outp, O_CLOEXEC) < 0) {
        ret = pl_err_os(eb, errno, "pipe");
        goto out;
    }
    devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, inp[0], 0);
    posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    if (devnull >= 0)
        posix_spawn_file_actions_adddup2(&fa, devnull, 2);
    argv[0] = (char *)prog;
    argv[1] = NULL;
    ret = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(inp[0]);
    close(outp[1]);
    inp[0] = outp[1] = -1;
    if (ret) {
        pid = -1;
        ret = pl_err(eb, PL_ENOTFOUND, "%s cannot be run: %s", prog, strerror(ret));
        goto out;
    }
    deadline = mono_ms() + PLOT_TIMEOUT_MS;
    while (outp[0] >= 0) {
        struct pollfd pf[2] = {{outp[0], POLLIN, 0}, {inp[1], POLLOUT, 0}};
        int npf = inp[1] >= 0 ? 2 : 1;
        int64_t left = deadline - mono_ms();
        int rc;
        if (left <= 0) {
            ret = pl_err(eb, PL_EIO, "%s ran for more than %d s: killed", prog,
                         PLOT_TIMEOUT_MS / 1000);
            goto out;
        }
        rc = poll(pf, (nfds_t)npf, (int)left);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            ret = pl_err_os(eb, errno, "poll");
            goto out;
        }
        if (npf == 2 && (pf[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = (pf[1].revents & POLLOUT)
                            ? send(inp[1], in + inoff, inlen - inoff, MSG_NOSIGNAL | MSG_DONTWAIT)
                            : -1;
            if (w > 0)
                inoff += (size_t)w;
            if (w < 0 && errno == EAGAIN)
                w = 0;
            if (w < 0 || inoff == inlen) {
                /* EOF tells gnuplot the script is complete; EPIPE: it quit */
                close(inp[1]);
                inp[1] = -1;
            }
        }
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r;
            if (outcap - outlen < 65536) {
                char *q;
                if (outcap > SVG_MAX) {
                    ret = pl_err(eb, PL_ELIMIT, "%s wrote more than %d MiB", prog,
                                 SVG_MAX >> 20);
                    goto out;
                }
                q = realloc(out, outcap = outcap * 2 + 65536);
                if (!q) {
                    ret = pl_err(eb, -ENOMEM, "out of memory");
                    goto out;
                }
                out = q;
            }
            r = read(outp[0], out + outlen, outcap - outlen - 1);
            if (r > 0)
                outlen += (size_t)r;
            else if (r == 0 || errno != EINTR) {
                close(outp[0]);
                outp[0] = -1;
            }
        }
    }
    if (inp[1] >= 0) {
        close(inp[1]);
        inp[1] = -1;
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    pid = -1;
    if (!out || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        ret = pl_err(eb, WIFEXITED(status) && WEXITSTATUS(status) == 127 ? PL_ENOTFOUND : PL_EIO,
                     "%s failed (%s %d)", prog,
                     WIFEXITED(status) ? "exit status" : "signal",
                     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        goto out;
    }
    out[outlen] = 0;
    start = strstr(out, "<svg");
    if (!start) {
        ret = pl_err(eb, PL_EIO, "%s wrote no SVG", prog);
        goto out;
    }
    *svg = prefix_ids(start, id_prefix);
    if (!*svg)
        ret = pl_err(eb, -ENOMEM, "out of memory");
out:
    if (pid > 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    for (int i = 0; i < 2; i++) {
        if (inp[i] >= 0)
            close(inp[i]);
        if (outp[i] >= 0)
            close(outp[i]);
    }
    if (devnull >= 0)
        close(devnull);
    free(in);
    free(out);
    return ret;
}
