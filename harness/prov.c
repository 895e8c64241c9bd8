/*
 * prov.c - provenance of a run (hn_prov.h).
 *
 * Layout: file digests; git through a pipe; the host and library versions;
 * hn_prov_record and hn_prov_record_log.
 *
 * git is asked, not parsed from .git: worktrees, packed refs and the index
 * make the files hard to read right, and a missing git only costs the two
 * keys.  Its stderr goes to /dev/null (library code prints nothing).
 */
#include "hn_prov.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <xxhash.h>

#include "hn_run.h"

#ifndef RP_FIU_VERSION
#define RP_FIU_VERSION "unknown"
#endif

/* ---------------------------------------------------------------- digests */

int hn_prov_hash_file(const char *path, char hex[33], int64_t *bytes, pl_errbuf *eb)
{
    static const char digits[] = "0123456789abcdef";
    XXH3_state_t *st = XXH3_createState();
    XXH128_canonical_t c;
    char buf[1 << 16];
    int64_t total = 0;
    ssize_t n;
    int fd, ret = 0;

    hex[0] = 0;
    if (!st)
        return pl_err(eb, -ENOMEM, "out of memory");
    XXH3_128bits_reset(st);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ret = pl_err_os(eb, errno, "open(%s)", path);
        goto out;
    }
    while ((n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = pl_err_os(eb, errno, "read(%s)", path);
            goto out;
        }
        XXH3_128bits_update(st, buf, (size_t)n);
        total += n;
    }
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
    for (int i = 0; i < 16; i++) {
        hex[2 * i] = digits[c.digest[i] >> 4];
        hex[2 * i + 1] = digits[c.digest[i] & 15];
    }
    hex[32] = 0;
    if (bytes)
        *bytes = total;
out:
    if (fd >= 0)
        close(fd);
    XXH3_freeState(st);
    return ret;
}

static int add_file(hn_res *db, int64_t run_id, const char *role, const char *path,
                    const char *scenario, pl_errbuf *eb)
{
    char hex[33], abs[PATH_MAX];
    int64_t bytes = -1;
    /* an unreadable file is still worth a row: the report shows it missing */
    if (hn_prov_hash_file(path, hex, &bytes, NULL) < 0)
        hex[0] = 0;
    if (!realpath(path, abs))
        snprintf(abs, sizeof abs, "%s", path);
    return hn_res_file_add(db, run_id, role, abs, scenario, hex, bytes, eb);
}

/* -------------------------------------------------------------------- git */

/* First line of `git -C DIR ARGS` into out ("" when git fails). */
static void git_line(const char *dir, const char *args, char *out, size_t n, int *lines)
{
    char q[PATH_MAX * 4 + 3] = "", cmd[sizeof q + 256], line[512];
    FILE *f;
    int status;

    out[0] = 0;
    if (lines)
        *lines = 0;
    hn_run_shell_quote(q, sizeof q, dir);
    if (snprintf(cmd, sizeof cmd, "git -C %s %s 2>/dev/null", q, args) >= (int)sizeof cmd)
        return;
    f = popen(cmd, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        if (lines)
            ++*lines;
        if (!out[0]) {
            line[strcspn(line, "\n")] = 0;
            size_t len = strlen(line);
            if (len >= n)
                len = n - 1;
            memcpy(out, line, len);
            out[len] = 0;
        }
    }
    status = pclose(f);
    if (status != 0)
        out[0] = 0;
}

/* ---------------------------------------------------------------- records */

int hn_prov_record(hn_res *db, int64_t run_id, const char *bindir, const hn_scenario *scs,
                   int nsc, pl_errbuf *eb)
{
    char commit[128], dirty[16], buf[PATH_MAX], num[64];
    struct utsname u;
    int ret, changed = 0;

    git_line(bindir, "rev-parse HEAD", commit, sizeof commit, NULL);
    if (commit[0]) {
        git_line(bindir, "status --porcelain --untracked-files=no", dirty, sizeof dirty,
                 &changed);
        if ((ret = hn_res_prov_set(db, run_id, "git_commit", commit, eb)) ||
            (ret = hn_res_prov_set(db, run_id, "git_dirty", changed ? "1" : "0", eb)))
            return ret;
    }
    if (uname(&u) == 0) {
        snprintf(buf, sizeof buf, "%s %s %s", u.sysname, u.release, u.machine);
        if ((ret = hn_res_prov_set(db, run_id, "host", u.nodename, eb)) ||
            (ret = hn_res_prov_set(db, run_id, "os", buf, eb)))
            return ret;
    }
    snprintf(num, sizeof num, "%ld", sysconf(_SC_NPROCESSORS_ONLN));
    if ((ret = hn_res_prov_set(db, run_id, "cores_online", num, eb)))
        return ret;
    snprintf(num, sizeof num, "%ld", sysconf(_SC_NPROCESSORS_CONF));
    if ((ret = hn_res_prov_set(db, run_id, "cores_configured", num, eb)))
        return ret;
    snprintf(num, sizeof num, "%u.%u.%u", XXH_versionNumber() / 10000,
             XXH_versionNumber() / 100 % 100, XXH_versionNumber() % 100);
    if ((ret = hn_res_prov_set(db, run_id, "sqlite", sqlite3_libversion(), eb)) ||
        (ret = hn_res_prov_set(db, run_id, "libfiu", RP_FIU_VERSION, eb)) ||
        (ret = hn_res_prov_set(db, run_id, "xxhash", num, eb)))
        return ret;

    snprintf(buf, sizeof buf, "%s/replayproof", bindir);
    if ((ret = add_file(db, run_id, "binary", buf, NULL, eb)))
        return ret;
    snprintf(buf, sizeof buf, "%s/rp-crash.so", bindir);
    if ((ret = add_file(db, run_id, "preload", buf, NULL, eb)))
        return ret;
    for (int i = 0; i < nsc; i++) {
        const hn_scenario *sc = &scs[i];
        if ((ret = add_file(db, run_id, "scenario", sc->path, sc->name, eb)))
            return ret;
        if (hn_scenario_binary_path(sc, buf, sizeof buf, NULL) == 0 &&
            (ret = add_file(db, run_id, "binary", buf, sc->name, eb)))
            return ret;
        if (sc->use_csv && (ret = add_file(db, run_id, "log", sc->csv_path, sc->name, eb)))
            return ret;
    }
    return 0;
}

int hn_prov_record_log(hn_res *db, int64_t run_id, const hn_scenario *sc, const char *workdir,
                       pl_errbuf *eb)
{
    char path[PATH_MAX];
    if (sc->use_csv || !workdir || !workdir[0])
        return 0;
    if (snprintf(path, sizeof path, "%s/ticks.csv", workdir) >= (int)sizeof path ||
        access(path, R_OK) < 0)
        return 0;
    return add_file(db, run_id, "log", path, sc->name, eb);
}

void hn_prov_self(char *out, size_t n)
{
    char exe[PATH_MAX], cwd[PATH_MAX], *slash;
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    size_t cl;
    if (len < 0) {
        snprintf(out, n, "replayproof");
        return;
    }
    exe[len] = 0;
    /* replayproof lies next to whichever of the project's programs runs */
    slash = strrchr(exe, '/');
    if (slash && (size_t)(slash - exe) + sizeof "/replayproof" <= sizeof exe)
        strcpy(slash, "/replayproof");
    if (getcwd(cwd, sizeof cwd) && (cl = strlen(cwd)) > 1 && strncmp(exe, cwd, cl) == 0 &&
        exe[cl] == '/')
        snprintf(out, n, "%s", exe + cl + 1);
    else
        snprintf(out, n, "%s", exe);
}
