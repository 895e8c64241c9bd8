/*
 * fuzz_util.h - shared by the libFuzzer targets in tests/fuzz/: a private
 * scratch directory (created on first use, removed at exit) and small file
 * helpers.  Targets that need paths (the CSV importer, the log reader, the
 * checkpoint loader, the scenario parser) write each input there.  It is
 * made under $TMPDIR (`make fuzz` points it into out/fuzz, so that a run
 * ended by a crash leaves nothing in /tmp).
 * Built only by `make fuzz`, with clang -fsanitize=fuzzer,address,undefined.
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fz_dir[256];

static inline void fz_rmrf(const char *path);

static void fz_cleanup(void)
{
    if (fz_dir[0])
        fz_rmrf(fz_dir);
}

/* The scratch directory, made once per process. */
static inline const char *fz_scratch(void)
{
    if (!fz_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(fz_dir, sizeof fz_dir, "%s/rp-fuzz-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(fz_dir))
            abort();
        atexit(fz_cleanup);
    }
    return fz_dir;
}

/* fz_scratch()/name into buf. */
static inline const char *fz_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", fz_scratch(), name);
    return buf;
}

static inline void fz_write(const char *path, const uint8_t *d, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        abort();
    while (n > 0) {
        ssize_t w = write(fd, d, n);
        if (w <= 0)
            abort();
        d += w;
        n -= (size_t)w;
    }
    close(fd);
}

static int fz_rm1(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
    return remove(p) != 0 && errno != ENOENT ? -1 : 0;
}

/* rm -rf without a shell: runs once per input */
static inline void fz_rmrf(const char *path)
{
    if (nftw(path, fz_rm1, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
        abort();
}

#endif
