/*
 * report.c - `replayproof report` (rp_report.h): load the run, build the
 * plots, write the three files.
 *
 * Each file is written as NAME.tmp and renamed over NAME, so that a reader
 * (a browser reloading the page, CI picking up junit.xml) sees the previous
 * report or the new one, never half of one.  Reports can be made again from
 * the database at any time, so no fsync: a power cut costs a rerun of
 * `replayproof report`, not data.
 */
#include "rp_report.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hn_run.h"
#include "pl_fs.h"
#include "rp_esc.h"

void rp_repro(char *buf, size_t n, const char *self, const rp_scn *s, const rp_trial *t)
{
    char a[8192] = "", b[4096] = "", c[4096] = "";
    hn_run_shell_quote(a, sizeof a, s->path);
    hn_run_shell_quote(b, sizeof b, t->crashes);
    hn_run_shell_quote(c, sizeof c, self && *self ? self : "replayproof");
    snprintf(buf, n, "%s replay %s --trial %s", c, a, b);
}

typedef int (*writer_fn)(FILE *out, const rp_run *r, const rp_charts *c, const char *self);

static int w_html(FILE *o, const rp_run *r, const rp_charts *c, const char *self)
{
    return rp_html_write(o, r, c, self);
}

static int w_junit(FILE *o, const rp_run *r, const rp_charts *c, const char *self)
{
    return rp_junit_write(o, r, self);
}

static int w_summary(FILE *o, const rp_run *r, const rp_charts *c, const char *self)
{
    return rp_summary_write(o, r, self);
}

static int write_one(const char *dir, const char *name, writer_fn fn, const rp_run *r,
                     const rp_charts *c, const char *self, pl_errbuf *eb)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    FILE *f;
    int ret;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return pl_err(eb, -ENAMETOOLONG, "report path too long: %s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f)
        return pl_err_os(eb, errno, "fopen(%s)", tmp);
    ret = fn(f, r, c, self);
    if (fclose(f) != 0 && ret == 0)
        ret = -errno;
    if (ret < 0) {
        unlink(tmp);
        return pl_err(eb, ret, "writing %s: %s", tmp, pl_strerror(ret));
    }
    if (rename(tmp, path) < 0) {
        ret = pl_err_os(eb, errno, "rename(%s, %s)", tmp, path);
        unlink(tmp);
        return ret;
    }
    return 0;
}

int rp_report_write(const rp_report_opts *o, rp_report_info *info, pl_errbuf *eb)
{
    rp_run *r = NULL;
    rp_charts ch = {0, NULL};
    const char *dir;
    int ret;

    memset(info, 0, sizeof *info);
    if ((ret = rp_model_load(o->db_path, o->run_id, &r, eb)))
        return ret;
    info->run_id = r->id;
    dir = o->outdir ? o->outdir : r->run_dir;
    if (!dir) {
        ret = pl_err(eb, PL_EUSAGE, "run %lld of %s has no run directory: give -o DIR",
                     (long long)r->id, o->db_path);
        goto out;
    }
    snprintf(info->outdir, sizeof info->outdir, "%s", dir);
    if ((ret = pl_fs_mkdir_p(dir, eb)) || (ret = rp_charts_make(r, &ch, eb)))
        goto out;
    for (int i = 0; i < ch.n; i++) {
        if (ch.c[i].svg)
            info->plots++;
        else if (ch.c[i].missing) {
            if (!info->plots_missing++)
                snprintf(info->missing_why, sizeof info->missing_why, "%s", ch.c[i].why);
        }
    }
    if ((ret = write_one(dir, "index.html", w_html, r, &ch, o->self, eb)) ||
        (ret = write_one(dir, "junit.xml", w_junit, r, &ch, o->self, eb)) ||
        (ret = write_one(dir, "summary.md", w_summary, r, &ch, o->self, eb)))
        goto out;
out:
    rp_charts_free(&ch);
    rp_model_free(r);
    return ret;
}
