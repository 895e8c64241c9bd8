/*
 * shard.c - the run side of sharding (hn_shard.h): parsing --shard I/N, the
 * digest of a whole plan, and the slice of a plan one shard runs.
 *
 * Ownership is the plan index modulo N: the plan is sorted by point and hit,
 * so a round-robin deal gives every shard a share of every fail point, and
 * the slices of two shards can never meet.
 */
#include "hn_shard.h"
#include "hn_faults.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* A decimal number in 1..HN_SHARD_MAX from s[0..n): 0, or -1. */
static int parse_num(const char *s, size_t n, int *out)
{
    uint64_t v;
    if (hn_parse_u64(s, n, &v) < 0 || v < 1 || v > HN_SHARD_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

int hn_shard_parse(const char *s, int *index, int *count, pl_errbuf *eb)
{
    const char *slash = strchr(s, '/');
    int i, n;
    if (!slash || parse_num(s, (size_t)(slash - s), &i) < 0 ||
        parse_num(slash + 1, strlen(slash + 1), &n) < 0)
        return pl_err(eb, PL_EUSAGE, "--shard '%s': expected I/N with 1 <= I <= N <= %d",
                      s, HN_SHARD_MAX);
    if (i > n)
        return pl_err(eb, PL_EUSAGE, "--shard '%s': shard %d of %d does not exist "
                      "(1 <= I <= N)", s, i, n);
    *index = i;
    *count = n;
    return 0;
}

int hn_shard_plan_digest(const hn_trial *kills, int nkills, const hn_trial *pcs, int npcs,
                         char hex[33], pl_errbuf *eb)
{
    static const char digits[] = "0123456789abcdef";
    char spec[HN_TRIAL_SPEC_MAX + 2];
    XXH3_state_t *st = XXH3_createState();
    XXH128_canonical_t c;

    hex[0] = 0;
    if (!st)
        return pl_err(eb, -ENOMEM, "out of memory");
    XXH3_128bits_reset(st);
    for (int i = 0; i < nkills + npcs; i++) {
        const hn_trial *t = i < nkills ? &kills[i] : &pcs[i - nkills];
        int len = hn_run_trial_format(t, spec, sizeof spec - 1);
        if (len < 0 || len > (int)sizeof spec - 2)
            len = (int)strlen(spec);
        /* the line end keeps "a:1","b:2" apart from "a:1b:2" */
        spec[len++] = '\n';
        XXH3_128bits_update(st, spec, (size_t)len);
    }
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
    XXH3_freeState(st);
    for (int i = 0; i < 16; i++) {
        hex[2 * i] = digits[c.digest[i] >> 4];
        hex[2 * i + 1] = digits[c.digest[i] & 15];
    }
    hex[32] = 0;
    return 0;
}

int hn_shard_slice(const hn_trial *all, int n, int seq_base, int index, int count,
                   hn_trial **out, int **seqs, int *nout, pl_errbuf *eb)
{
    int m = 0;
    *out = NULL;
    *seqs = NULL;
    *nout = 0;
    for (int i = 0; i < n; i++)
        m += hn_shard_owns(index, count, (int64_t)seq_base + i);
    if (m == 0)
        return 0;
    *out = malloc((size_t)m * sizeof **out);
    *seqs = malloc((size_t)m * sizeof **seqs);
    if (!*out || !*seqs) {
        free(*out);
        free(*seqs);
        *out = NULL;
        *seqs = NULL;
        return pl_err(eb, -ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++)
        if (hn_shard_owns(index, count, (int64_t)seq_base + i)) {
            (*out)[*nout] = all[i];
            (*seqs)[(*nout)++] = seq_base + i;
        }
    return 0;
}
