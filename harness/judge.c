/*
 * judge.c - verdict names and what a verdict is judged from: the digests an
 * export prints, the golden tables, the first differing row.
 */
#include "hn_runner_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const hn__tbl_name[3] = {"bars", "late", "dlq"};

/* ------------------------------------------------------- verdicts */

const char *hn_verdict_name(int v)
{
    static const char *const names[HN_V__COUNT] = {
        "converged", "diverged", "conflict", "crash-loop", "hang", "not-reached", "error",
        "io-error", "lost-progress", "silent-overwrite"};
    return v >= 0 && v < HN_V__COUNT ? names[v] : "?";
}

const char *hn_sc_verdict_name(int v)
{
    static const char *const names[] = {"converged",       "no-points", "expectation-failed",
                                        "batch-disagrees", "failed",    "error"};
    return v >= 0 && v <= HN_SC_ERROR ? names[v] : "?";
}

/* ------------------------------------------------------ exports and diffs */

/* Parse the "<32hex>  bars.csv  N rows" lines of an export or batch.
 * Returns 0 when all three tables were found. */
int hn__parse_digests(const char *path, char dig[3][33], int64_t rows[3])
{
    char *text = hn__slurp(path, NULL), *line, *save = NULL;
    int found = 0;
    if (!text)
        return -1;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char hex[64], name[64];
        long long n;
        if (sscanf(line, "%63s %63s %lld rows", hex, name, &n) != 3 || strlen(hex) != 32 ||
            strspn(hex, "0123456789abcdef") != 32)
            continue;
        for (int i = 0; i < 3; i++) {
            char want[16];
            snprintf(want, sizeof want, "%s.csv", hn__tbl_name[i]);
            if (strcmp(name, want) == 0) {
                memcpy(dig[i], hex, 33);
                rows[i] = n;
                found |= 1 << i;
            }
        }
    }
    free(text);
    return found == 7 ? 0 : -1;
}

static void cut_line(char *dst, const char *src, ssize_t len)
{
    if (len > 0 && src[len - 1] == '\n')
        len--;
    if (len >= HN_RES_LINE_MAX) {
        memcpy(dst, src, HN_RES_LINE_MAX - 4);
        memcpy(dst + HN_RES_LINE_MAX - 4, "...", 4);
    } else {
        memcpy(dst, src, (size_t)len);
        dst[len] = 0;
    }
}

/* First differing line of two CSV files.  Returns 1 with *d filled when
 * they differ, 0 when identical, -1 when one cannot be read. */
int hn__first_diff(const char *expected, const char *actual, const char *tbl, hn_res_div *d)
{
    FILE *fe = fopen(expected, "re"), *fa = fopen(actual, "re");
    char *le = NULL, *la = NULL;
    size_t ce = 0, ca = 0;
    int64_t line = 0;
    int ret = 0;
    memset(d, 0, sizeof *d);
    snprintf(d->tbl, sizeof d->tbl, "%s", tbl);
    if (!fe || !fa) {
        ret = -1;
        goto done;
    }
    for (;;) {
        ssize_t ne = getline(&le, &ce, fe), na = getline(&la, &ca, fa);
        line++;
        if (ne < 0 && na < 0)
            break;
        if (ne >= 0 && na >= 0 && ne == na && memcmp(le, la, (size_t)ne) == 0)
            continue;
        d->line = line;
        d->expected_eof = ne < 0;
        d->actual_eof = na < 0;
        if (ne >= 0)
            cut_line(d->expected, le, ne);
        if (na >= 0)
            cut_line(d->actual, la, na);
        ret = 1;
        break;
    }
done:
    free(le);
    free(la);
    if (fe)
        fclose(fe);
    if (fa)
        fclose(fa);
    return ret;
}

void hn__note_div(const ctx *c, const hn_res_div *d)
{
    hn__note(c, "%s.csv line %lld:", d->tbl, (long long)d->line);
    hn__note(c, "  expected: %s", d->expected_eof ? "(end of file)" : d->expected);
    hn__note(c, "  actual:   %s", d->actual_eof ? "(end of file)" : d->actual);
}

/* Compare an export dir with the golden one: fills div[] for each table
 * whose digest differs.  Returns the number of differing tables. */
int hn__compare_tables(const ctx *c, const char *outdir, char dig[3][33], hn_res_div div[3],
                          int *ndiv)
{
    int differ = 0;
    *ndiv = 0;
    for (int i = 0; i < 3; i++) {
        char g[PATH_MAX], a[PATH_MAX];
        if (strcmp(dig[i], c->golden[i]) == 0)
            continue;
        differ++;
        if (pl_fs_pathf(g, NULL, "%s/%s.csv", c->gold_out, hn__tbl_name[i]) ||
            pl_fs_pathf(a, NULL, "%s/%s.csv", outdir, hn__tbl_name[i]))
            continue;
        if (hn__first_diff(g, a, hn__tbl_name[i], &div[*ndiv]) == 1)
            (*ndiv)++;
    }
    return differ;
}


/* ------------------------------------------------- a rotted stored row */

int hn__judge_rot(const char *gold, const char *outdir, const char *key, int conflict,
                  char *detail, size_t dn)
{
    char g[PATH_MAX], a[PATH_MAX], *lg = NULL, *la = NULL, kept_line[HN_RES_LINE_MAX] = "";
    size_t cg = 0, ca = 0, kl = strlen(key);
    FILE *fg = NULL, *fa = NULL;
    int v = -1, seen = 0, kept = 0;
    hn_res_div d;

    for (int i = 1; i < 3; i++)
        if (pl_fs_pathf(g, NULL, "%s/%s.csv", gold, hn__tbl_name[i]) ||
            pl_fs_pathf(a, NULL, "%s/%s.csv", outdir, hn__tbl_name[i]) ||
            hn__first_diff(g, a, hn__tbl_name[i], &d) != 0)
            return -1;
    if (pl_fs_pathf(g, NULL, "%s/bars.csv", gold) ||
        pl_fs_pathf(a, NULL, "%s/bars.csv", outdir) || !(fg = fopen(g, "re")) ||
        !(fa = fopen(a, "re")))
        goto done;
    for (;;) {
        ssize_t ng = getline(&lg, &cg, fg), na = getline(&la, &ca, fa);
        if (ng < 0 || na < 0) {
            /* both ended, the damaged row seen once */
            if (ng < 0 && na < 0 && seen == 1)
                v = kept ? HN_V_CONVERGED : conflict ? -1 : HN_V_SILENT_OVERWRITE;
            break;
        }
        if (strncmp(lg, key, kl) == 0 && strncmp(la, key, kl) == 0) {
            seen++;
            kept = ng != na || memcmp(lg, la, (size_t)ng) != 0;
            snprintf(kept_line, sizeof kept_line, "%.*s", (int)(na - (na > 0)), la);
            continue;
        }
        if (ng != na || memcmp(lg, la, (size_t)ng) != 0)
            break;
    }
    if (v == HN_V_SILENT_OVERWRITE)
        snprintf(detail, dn, "silent overwrite: the stored bars row %.200s... differed from "
                 "its replay (its volume rotted before the restart) and is now the replayed "
                 "row, with no conflict recorded (export exited 0): %.300s", key, kept_line);
    else if (v == HN_V_CONVERGED)
        snprintf(detail, dn, "the rotted stored row %.200s... was kept%s", key,
                 conflict ? " and its differing replay recorded in conflicts (export exit 1)"
                          : " (not replayed: no conflict)");
done:
    free(lg);
    free(la);
    if (fg)
        fclose(fg);
    if (fa)
        fclose(fa);
    return v;
}
