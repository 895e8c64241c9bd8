/*
 * tutil.c - helpers for the Check suites (see tutil.h).
 */
#include "tutil.h"

#include <check.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef RP_BINDIR
#define RP_BINDIR "bin"
#endif
#ifndef RP_TESTBINDIR
#define RP_TESTBINDIR "build/testbin"
#endif

char *tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[PATH_MAX];
    snprintf(tmpl, sizeof tmpl, "%s/rptest.XXXXXX", base && *base ? base : "/tmp");
    ck_assert_msg(mkdtemp(tmpl) != NULL, "mkdtemp(%s) failed", tmpl);
    return strdup(tmpl);
}

/* Only what tu_tmpdir made: a dir named rptest.* */
void tu_rmrf(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    if (slash && strncmp(slash + 1, "rptest.", 7) == 0)
        tu_sh("rm -rf '%s'", path);
}

/* Under the runner's /dev/shm root (check_main.c) when it has one. */
void tu_workdir_open(char *out, size_t n, const char *tmp)
{
    const char *shm = getenv("RP_TEST_SHM");
    if (shm && *shm) {
        snprintf(out, n, "%s/rptest-work.XXXXXX", shm);
        ck_assert(mkdtemp(out) != NULL);
    } else
        snprintf(out, n, "%s/work", tmp);
}

void tu_workdir_close(const char *work)
{
    const char *slash = strrchr(work, '/');
    if (slash && strncmp(slash + 1, "rptest-work.", 12) == 0)
        tu_sh("rm -rf '%s'", work);
}

static const char *bin_in(const char *bindir, const char *name)
{
    static char buf[8][PATH_MAX + 64];
    static int slot;
    char cwd[PATH_MAX];
    char *b = buf[slot++ & 7];
    if (bindir[0] == '/')
        snprintf(b, PATH_MAX + 64, "%.*s/%s", PATH_MAX / 2, bindir, name);
    else {
        ck_assert(getcwd(cwd, sizeof cwd) != NULL);
        snprintf(b, PATH_MAX + 64, "%.*s/%s/%.64s", PATH_MAX / 2, cwd, bindir, name);
    }
    return b;
}

const char *tu_bin(const char *name)
{
    return bin_in(RP_BINDIR, name);
}

const char *tu_testbin(const char *name)
{
    return bin_in(RP_TESTBINDIR, name);
}

int tu_sh(const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    int st;
    va_start(ap, fmt);
    ck_assert(vasprintf(&cmd, fmt, ap) >= 0);
    va_end(ap);
    fflush(stdout);
    fflush(stderr);
    st = system(cmd);
    free(cmd);
    ck_assert_msg(st != -1, "system() failed");
    if (WIFEXITED(st)) {
        /* the shell reports a signalled child as 128+sig */
        return WEXITSTATUS(st);
    }
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

char *tu_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0, r;
    if (!f)
        return NULL;
    for (;;) {
        if (cap - n < 65536) {
            cap = cap ? cap * 2 : 131072;
            buf = realloc(buf, cap + 1);
            ck_assert(buf != NULL);
        }
        r = fread(buf + n, 1, cap - n, f);
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

void tu_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    ck_assert(fclose(f) == 0);
}

long long tu_query_int(const char *dir, const char *db, const char *sql)
{
    char p[4200], *s;
    long long v;
    snprintf(p, sizeof p, "%s/q", dir);
    ck_assert_int_eq(tu_sh("sqlite3 %s/%s \"%s\" > %s", dir, db, sql, p), 0);
    s = tu_slurp(p, NULL);
    ck_assert_ptr_nonnull(s);
    v = atoll(s);
    free(s);
    return v;
}

int tu_spawn_sh(const char *cmd)
{
    pid_t pid;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return (int)pid;
}

long long tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tu_term_wait(int pid, const char *what, long long *ms)
{
    long long t0 = tu_now_ms();
    pid_t w = 0;
    int st = 0;
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    while (tu_now_ms() - t0 < 20000 && (w = waitpid(pid, &st, WNOHANG)) == 0)
        usleep(2000);
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        ck_abort_msg("'%s' still running 20 s after SIGTERM", what);
    }
    *ms = tu_now_ms() - t0;
    ck_assert_msg(WIFEXITED(st), "'%s' died by signal %d instead of stopping", what,
                  WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return WEXITSTATUS(st);
}

void tu_golden(const char *dir, const char *gen, const char *import, const char *run,
               const char *batch)
{
    const char *rp = tu_bin("replayproof"), *refpipe = tu_bin("refpipe");
    ck_assert_int_eq(tu_sh("cd %s && %s gen %s in.csv", dir, rp, gen), 0);
    ck_assert_int_eq(tu_sh("cd %s && %s import %s in.csv log >/dev/null 2>&1", dir, refpipe,
                           import), 0);
    ck_assert_int_eq(tu_sh("cd %s && %s run log golden --quiet %s && %s export golden gexp "
                           "> golden.d", dir, refpipe, run, refpipe), 0);
    if (batch)
        ck_assert_int_eq(tu_sh("cd %s && %s batch log bexp %s > batch.d && cmp -s golden.d "
                               "batch.d", dir, refpipe, batch), 0);
}

void tu_env_open(tu_env *e)
{
    e->tmp = tu_tmpdir();
    snprintf(e->db, sizeof e->db, "%s/out/results.db", e->tmp);
    tu_workdir_open(e->work, sizeof e->work, e->tmp);
}

void tu_env_close(tu_env *e)
{
    tu_workdir_close(e->work);
    tu_rmrf(e->tmp);
    free(e->tmp);
}

char *tu_script(const char *dir, const char *name, const char *body)
{
    char *path = NULL, *text = NULL;
    ck_assert(asprintf(&path, "%s/%s", dir, name) > 0);
    ck_assert(asprintf(&text, "#!/bin/sh\n%s\nexec '%s' \"$@\"\n", body,
                       tu_bin("refpipe-fiu")) > 0);
    tu_write(path, text);
    ck_assert(chmod(path, 0755) == 0);
    free(text);
    return path;
}

void tu_wrapped_scenario(const char *dir, const char *name, const char *body,
                         const char *faults)
{
    char *path = tu_script(dir, "wrap", body), *text = NULL;
    free(path);
    ck_assert(asprintf(&path, "%s/s.ini", dir) > 0);
    ck_assert(asprintf(&text, "[scenario]\nname = %s\n[workload]\nseed = 3\npartitions = 2\n"
                       "symbols = 3\nticks = 600\nduration = 6s\n[pipeline]\nbinary = ./wrap\n"
                       "agg = 1s=tumbling:1s\ncheckpoint-every = 100\n[faults]\n%s\n", name,
                       faults) > 0);
    tu_write(path, text);
    free(text);
    free(path);
}
