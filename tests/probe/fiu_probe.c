/*
 * fiu_probe.c - rp-fiu-probe, a tiny libfiu-instrumented program that the
 * faults suite preloads rp-crash.so into.
 *
 *   rp-fiu-probe [-q] [-i] [-b] NAME:N ...
 *
 * For each argument in order it evaluates fiu_fail(NAME) N times.  After
 * each evaluation it prints one line, line-buffered so that a SIGKILL loses
 * nothing printed before it:
 *
 *   NAME I ok                        hit I (1-based, per name) did not fail
 *   NAME I fail RET ERRNO FAILINFO   it failed: fiu_fail's value, errno,
 *                                    fiu_failinfo() as an integer
 *
 * The first line is "start events=V" (V: REFPIPE_FIU_EVENTS as main sees
 * it, "-" when unset), the last "done hits=H fails=F".
 *
 *   -q  print only the start, fail and done lines (for hit-rate runs)
 *   -i  call fiu_init(0) first, as an instrumented program may
 *   -b  pass every name through one shared buffer, so one address stands
 *       for different names (defeats pointer-only caching)
 *
 * Built with -DFIU_ENABLE and linked dynamically against libfiu.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fiu.h>

#define MAX_STEPS 64

static void usage(void)
{
    fputs("usage: rp-fiu-probe [-q] [-i] [-b] NAME:N ...\n", stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *name[MAX_STEPS];
    unsigned long long times[MAX_STEPS], seen[MAX_STEPS], hits = 0, fails = 0;
    static char shared[256];
    int quiet = 0, init = 0, buffer = 0, opt, nsteps = 0;
    const char *ev = getenv("REFPIPE_FIU_EVENTS");

    while ((opt = getopt(argc, argv, "qib")) != -1) {
        if (opt == 'q')
            quiet = 1;
        else if (opt == 'i')
            init = 1;
        else if (opt == 'b')
            buffer = 1;
        else
            usage();
    }
    for (int i = optind; i < argc; i++) {
        char *colon = strrchr(argv[i], ':'), *end;
        if (!colon || colon == argv[i] || nsteps == MAX_STEPS ||
            (size_t)(colon - argv[i]) >= sizeof shared)
            usage();
        *colon = '\0';
        errno = 0;
        times[nsteps] = strtoull(colon + 1, &end, 10);
        if (errno || end == colon + 1 || *end)
            usage();
        name[nsteps++] = argv[i];
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (init && fiu_init(0) != 0) {
        fputs("rp-fiu-probe: fiu_init failed\n", stderr);
        return 1;
    }
    printf("start events=%s\n", ev ? ev : "-");

    for (int s = 0; s < nsteps; s++) {
        const char *point = name[s];
        unsigned long long *count = &seen[s];
        /* hits are numbered per name, across repeated arguments */
        for (int j = 0; j < s; j++)
            if (strcmp(name[j], name[s]) == 0) {
                count = &seen[j];
                break;
            }
        if (count == &seen[s])
            seen[s] = 0;
        if (buffer) {
            strcpy(shared, name[s]);
            point = shared;
        }
        for (unsigned long long t = 0; t < times[s]; t++) {
            int r;
            errno = 0;
            r = fiu_fail(point);
            ++*count;
            hits++;
            if (r) {
                int e = errno;
                fails++;
                printf("%s %llu fail %d %d %ld\n", name[s], *count, r, e,
                       (long)(intptr_t)fiu_failinfo());
            } else if (!quiet)
                printf("%s %llu ok\n", name[s], *count);
        }
    }
    printf("done hits=%llu fails=%llu\n", hits, fails);
    return 0;
}
