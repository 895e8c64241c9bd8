/*
 * err.c - error strings and error buffers (see pl_err.h).
 */
#include "pl_err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *pl_strerror(int code)
{
    switch (code) {
#define PL_ERR_STR(name, val, msg) case (val): return msg;
        PL_ERR_MAP(PL_ERR_STR)
#undef PL_ERR_STR
    case 0:
        return "success";
    default:
        break;
    }
    if (code < 0 && code > -1000)
        return strerror(-code);
    return "unknown error";
}

int pl_err(pl_errbuf *eb, int code, const char *fmt, ...)
{
    int saved = errno;
    if (eb) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(eb->msg, sizeof eb->msg, fmt, ap);
        va_end(ap);
    }
    errno = saved;
    return code;
}

int pl_err_os(pl_errbuf *eb, int err, const char *fmt, ...)
{
    int saved = errno;
    if (eb) {
        va_list ap;
        size_t n;
        va_start(ap, fmt);
        vsnprintf(eb->msg, sizeof eb->msg, fmt, ap);
        va_end(ap);
        n = strlen(eb->msg);
        snprintf(eb->msg + n, sizeof eb->msg - n, ": %s", strerror(err));
    }
    errno = saved;
    return -err;
}

int pl_err_is_input(int code)
{
    switch (code) {
    case PL_EUSAGE: case PL_EFORMAT: case PL_ECORRUPT: case PL_ECONFIG:
    case PL_ELOCKED: case PL_EEXISTS: case PL_ENOTFOUND: case PL_EPARTIAL:
    case -ENOENT: case -EACCES: case -ENOTDIR: case -EISDIR: case -EPERM:
    case -ENAMETOOLONG: case -ELOOP:
        return 1;
    default:
        return 0;
    }
}

volatile sig_atomic_t pl_stop;

int pl_check_stop(pl_errbuf *eb, const char *step)
{
    if (!pl_stop)
        return 0;
    return pl_err(eb, -EINTR, "%s: interrupted", step);
}
