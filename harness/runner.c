/*
 * runner.c - `replayproof run` and `replayproof replay` (hn_run.h): the
 * orchestration of one scenario: golden run, discovery, plan, the pool.
 *
 * Layout: the golden phase and discovery; the context of a scenario
 * (binaries, pipeline options, environment, work dir); the two entry points.
 * The other parts: plan.c (schedules, planner), procs.c (child processes),
 * judge.c (digests, diffs), trials.c (one trial), pool.c (parallel trials).
 *
 * Work dirs default to tmpfs: a process crash does not need disk durability
 * (the page cache survives a killed process, which is what a crash trial
 * models), and the pipeline's many fsyncs then cost nothing.
 */
#include "hn_runner_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hn_faults.h"
#include "hn_shard.h"
#include "hn_xform.h"
#include "pl_fs.h"

/* ------------------------------------------------------- golden, discovery */

/* Data lines of an interchange CSV (the exact header line is not one). */
static int64_t count_records(const char *path)
{
    static const char header[] = "partition,ingest_ns,event_ns,symbol,price,qty";
    FILE *f = fopen(path, "re");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int64_t count = 0;
    if (!f)
        return -1;
    while ((n = getline(&line, &cap, f)) >= 0) {
        if (count == 0 && n >= (ssize_t)sizeof header - 1 &&
            memcmp(line, header, sizeof header - 1) == 0 &&
            (n == (ssize_t)sizeof header - 1 || line[sizeof header - 1] == '\n')) {
            count = -1; /* the header: counted back to 0 below */
        }
        count++;
    }
    free(line);
    fclose(f);
    return count;
}

/* A golden-phase step failed: the scenario's verdict is "error". */
static int golden_fail(hn_scenario_result *r, int exit_status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int golden_fail(hn_scenario_result *r, int exit_status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
    r->verdict = HN_SC_ERROR;
    r->exit_status = exit_status;
    return 1;
}

/* One golden-phase command that must exit 0.  Returns 0, 1 (verdict set), <0. */
static int golden_step(ctx *c, hn_scenario_result *r, const char *what, char *const argv[],
                       char *const extra[], int nextra, const char *outpath,
                       const char *errpath)
{
    int st, to, ret;
    char why[64], tail[512];
    ret = hn__run_sync(c, argv, extra, nextra, outpath, errpath, &st, &to);
    if (ret < 0)
        return ret;
    if (!to && WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    hn__tail_of(errpath ? errpath : outpath, tail, sizeof tail);
    if (to) {
        hn__dur_text(c->timeout_ns, why, sizeof why);
        return golden_fail(r, 3, "%s: no result within the timeout (%s), killed: %s", what, why,
                           tail);
    }
    hn__status_text(st, why, sizeof why);
    return golden_fail(r, 3, "%s %s: %s", what, why, tail);
}

#define ARGV(...) ((char *const[]){__VA_ARGS__, NULL})

/*
 * Early stop needs the pipeline's convergence options (refpipe run
 * --record-digests, --stop-when-converged, --check-converged); with another
 * binary every trial runs to the end.  1 when `BIN --help` names all three.
 */
static int pipeline_can_stop(ctx *c)
{
    char out[PATH_MAX], *text;
    int st = 0, timed_out = 0, yes;
    if (pl_fs_pathf(out, NULL, "%s/golden/help", c->dir) ||
        hn__run_sync(c, ARGV(c->bin, "--help"), NULL, 0, out, NULL, &st, &timed_out) < 0)
        return 0;
    text = hn__slurp(out, NULL);
    yes = text && !timed_out && WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
          strstr(text, "--record-digests") && strstr(text, "--stop-when-converged") &&
          strstr(text, "--check-converged");
    /* optional: the sink digest recorded with the cut instead of a scan (trials.c) */
    c->trust_digest = yes && strstr(text, "--trust-sink-digest") != NULL;
    free(text);
    unlink(out);
    return yes;
}

/* Workload, import, uninterrupted run, export; with check_batch also the
 * batch oracle and the [expect] bounds.  Returns 0, 1 (verdict set), <0. */
static int golden(ctx *c, hn_scenario_result *r, int check_batch)
{
    const hn_scenario *sc = c->sc;
    char csv[PATH_MAX], state[PATH_MAX], out[PATH_MAX], err[PATH_MAX], bdir[PATH_MAX];
    char parts[32], conv[PATH_MAX] = "";
    char *argv[MAX_ARGS + 8];
    int ret, n;

    if ((ret = pl_fs_pathf(c->logdir, c->eb, "%s/log", c->dir)) ||
        (ret = pl_fs_pathf(state, c->eb, "%s/golden/state", c->dir)) ||
        (ret = pl_fs_pathf(c->gold_out, c->eb, "%s/golden/export", c->dir)) ||
        (ret = pl_fs_pathf(bdir, c->eb, "%s/batch", c->dir)) ||
        (ret = pl_fs_pathf(err, c->eb, "%s/golden/stderr", c->dir)) ||
        (ret = pl_fs_pathf(out, c->eb, "%s/golden/digests", c->dir)) ||
        (ret = pl_fs_mkdir_p(state, c->eb)))
        return ret;

    if (sc->use_csv && hn_xform_active(&sc->xform)) {
        /* a captured log replayed under the scenario's input faults */
        pl_errbuf xeb = {{0}};
        hn_xform_stats xs;
        if ((ret = pl_fs_pathf(csv, c->eb, "%s/ticks.csv", c->dir)))
            return ret;
        hn_xform_describe(&sc->xform, r->workload, sizeof r->workload);
        hn__note(c, "transforming %s (%s) into %s", sc->csv_path, r->workload, csv);
        ret = hn_xform_csv(&sc->xform, sc->csv_path, csv, &xs, &xeb);
        if (ret < 0)
            return golden_fail(r, pl_err_is_input(ret) ? 2 : 3, "workload: %s", xeb.msg);
        r->records = xs.records;
    } else if (sc->use_csv) {
        if ((ret = pl_fs_pathf(csv, c->eb, "%s", sc->csv_path)))
            return ret;
        r->records = count_records(csv);
        if (r->records < 0)
            return golden_fail(r, 2, "workload %s: %s", csv, strerror(errno));
    } else {
        hn_gen_stats gs;
        hn_gen_opts go = sc->gen;
        pl_errbuf geb = {{0}};
        if ((ret = pl_fs_pathf(csv, c->eb, "%s/ticks.csv", c->dir)))
            return ret;
        hn__note(c, "generating the workload into %s", csv);
        go.stop = c->o->stop; /* a long generation must stop on SIGINT/SIGTERM too */
        ret = hn_gen_write_path(&go, csv, &gs, &geb);
        if (ret == -EINTR)
            return pl_err(c->eb, -EINTR, "interrupted");
        if (ret < 0)
            return golden_fail(r, pl_err_is_input(ret) ? 2 : 3, "workload: %s", geb.msg);
        r->records = gs.records;
    }

    /* a generated log declares its partition count: a partition without a
     * single record still holds the watermark back, so it must exist */
    n = 0;
    argv[n++] = c->bin;
    argv[n++] = "import";
    if (!sc->use_csv) {
        snprintf(parts, sizeof parts, "%d", (int)sc->gen.partitions);
        argv[n++] = "--partitions";
        argv[n++] = parts;
    }
    argv[n++] = csv;
    argv[n++] = c->logdir;
    argv[n] = NULL;
    if ((ret = golden_step(c, r, "golden: import", argv, NULL, 0, out, err)))
        return ret;

    n = 0;
    argv[n++] = c->bin;
    argv[n++] = "run";
    argv[n++] = c->logdir;
    argv[n++] = state;
    for (int i = 0; i < c->npargs; i++)
        argv[n++] = c->pargs[i];
    c->conv[0] = 0;
    c->trust_digest = 0;
    if (sc->early_stop && !c->o->no_early_stop) {
        if (pipeline_can_stop(c)) {
            /* the digests recoveries compare themselves with */
            if ((ret = pl_fs_pathf(conv, c->eb, "%s/golden/digests.conv", c->dir)))
                return ret;
            argv[n++] = "--record-digests";
            argv[n++] = conv;
        } else
            hn__note(c, "early stop off: %s has no --stop-when-converged; every trial runs "
                     "to the end", c->bin);
    }
    argv[n] = NULL;
    if ((ret = golden_step(c, r, "golden: run", argv, NULL, 0, out, err)))
        return ret;
    if (conv[0]) {
        memcpy(c->conv, conv, sizeof c->conv);
        r->early_on = 1;
    }

    if ((ret = golden_step(c, r, "golden: export", ARGV(c->bin, "export", state, c->gold_out),
                           NULL, 0, out, err)))
        return ret;
    if (hn__parse_digests(out, c->golden, c->golden_rows) < 0)
        return golden_fail(r, 3, "golden: export printed no digests (%s)", out);
    memcpy(r->golden, c->golden, sizeof r->golden);
    memcpy(r->golden_rows, c->golden_rows, sizeof r->golden_rows);
    for (int i = 0; i < 3; i++)
        hn__note(c, "golden %s  %s.csv  %lld rows", c->golden[i], hn__tbl_name[i],
             (long long)c->golden_rows[i]);
    if (!check_batch)
        return 0;

    n = 0;
    argv[n++] = c->bin;
    argv[n++] = "batch";
    argv[n++] = c->logdir;
    argv[n++] = bdir;
    for (int i = 0; i < c->nbargs; i++)
        argv[n++] = c->bargs[i];
    argv[n] = NULL;
    if ((ret = golden_step(c, r, "golden: batch", argv, NULL, 0, out, err)))
        return ret;
    {
        int64_t brows[3];
        if (hn__parse_digests(out, r->batch, brows) < 0)
            return golden_fail(r, 3, "golden: batch printed no digests (%s)", out);
    }
    if (sc->expect_agree) {
        for (int i = 0; i < 3; i++) {
            char b[PATH_MAX], g[PATH_MAX];
            if (strcmp(r->batch[i], c->golden[i]) == 0)
                continue;
            /* the batch is the oracle: its rows are the expected ones */
            if (pl_fs_pathf(b, NULL, "%s/%s.csv", bdir, hn__tbl_name[i]) == 0 &&
                pl_fs_pathf(g, NULL, "%s/%s.csv", c->gold_out, hn__tbl_name[i]) == 0 &&
                hn__first_diff(b, g, hn__tbl_name[i], &r->batch_div[r->nbatch_div]) == 1)
                r->nbatch_div++;
            else {
                hn_res_div *d = &r->batch_div[r->nbatch_div++];
                memset(d, 0, sizeof *d);
                snprintf(d->tbl, sizeof d->tbl, "%s", hn__tbl_name[i]);
            }
        }
    }
    return 0;
}

/* Parts per million as a percentage with 4 decimals, integers only. */
static void ppm_text(int64_t ppm, char *out, size_t n)
{
    snprintf(out, n, "%lld.%04lld%%", (long long)(ppm / 10000), (long long)(ppm % 10000));
}

/* The [expect] bounds.  Returns 1 and writes detail when one fails. */
static int check_expect(const ctx *c, hn_scenario_result *r, char *detail, size_t n)
{
    const hn_scenario *sc = c->sc;
    int64_t recs = r->records, late = r->golden_rows[1], dlq = r->golden_rows[2];
    int64_t valid = recs - dlq;
    char a[32], b[32];
    detail[0] = 0;
    /* late fraction = late rows / valid events; exact: late*1e6 > max*valid */
    if (sc->max_late_ppm >= 0 && valid > 0 &&
        (unsigned __int128)late * 1000000 > (unsigned __int128)sc->max_late_ppm * valid) {
        ppm_text((int64_t)((unsigned __int128)late * 1000000 / (uint64_t)valid), a, sizeof a);
        ppm_text(sc->max_late_ppm, b, sizeof b);
        snprintf(detail, n, "late fraction %s (%lld late rows / %lld valid events) exceeds "
                 "max-late-fraction %s", a, (long long)late, (long long)valid, b);
        return 1;
    }
    if (sc->max_dlq_ppm >= 0 && recs > 0 &&
        (unsigned __int128)dlq * 1000000 > (unsigned __int128)sc->max_dlq_ppm * recs) {
        ppm_text((int64_t)((unsigned __int128)dlq * 1000000 / (uint64_t)recs), a, sizeof a);
        ppm_text(sc->max_dlq_ppm, b, sizeof b);
        snprintf(detail, n, "dead-letter fraction %s (%lld dlq rows / %lld records) exceeds "
                 "max-dlq-fraction %s", a, (long long)dlq, (long long)recs, b);
        return 1;
    }
    return 0;
}

static int cmp_point(const void *a, const void *b)
{
    return strcmp(((const hn_point *)a)->name, ((const hn_point *)b)->name);
}

/* snapshots per scenario, about: copies every ceil(checkpoints / this).  At
 * 200k ticks (202 checkpoints) 64 took about 11% less CPU than 32 (copies
 * every 4 checkpoints instead of 7: a crash replays fewer cycles from its
 * copy), and 128 no less than 64: more copies mean more probes. */
#define SNAP_MAX 64

/* Snapshot starts for this scenario: the variables that make the discovery
 * run take its copies (snap.c).  Returns the number set in extra (0: off). */
static int snap_env(ctx *c, const char *state, char ev[3][PATH_MAX + HN_POINT_MAX + 32],
                    char *extra[])
{
    long ckpts;
    /* the probes of snap.c need the golden run's convergence digests */
    if (!c->sc->snapshot_start || c->o->no_snapshots || !c->conv[0])
        return 0;
    snprintf(c->snap_point, sizeof c->snap_point, "%s", c->sc->snapshot_point);
    /* the golden run's convergence digests have a line per checkpoint;
     * without them every hit gets a copy */
    ckpts = c->conv[0] ? hn__count_lines(c->conv) : 0;
    snprintf(ev[0], sizeof ev[0], "RP_FIU_SNAP=%s:%ld", c->snap_point,
             ckpts > SNAP_MAX ? (ckpts + SNAP_MAX - 1) / SNAP_MAX : 1);
    snprintf(ev[1], sizeof ev[1], "RP_FIU_SNAP_DIR=%s", state);
    snprintf(ev[2], sizeof ev[2], "RP_FIU_SNAP_OUT=%s/snapshots", c->dir);
    pl_fs_rm_rf(ev[2] + strlen("RP_FIU_SNAP_OUT="));
    if (pl_fs_mkdir_p(ev[2] + strlen("RP_FIU_SNAP_OUT="), NULL) < 0)
        return 0;
    for (int i = 0; i < 3; i++)
        extra[i] = ev[i];
    return 3;
}

/* One counted run: which fail points are hit, how often.  Selects those
 * matching the scenario's patterns; takes the snapshots of snapshot starts.
 * Returns 0, 1 (verdict set), <0. */
static int discover(ctx *c, hn_scenario_result *r)
{
    const hn_scenario *sc = c->sc;
    char state[PATH_MAX], counts[PATH_MAX], log[PATH_MAX], ev_pre[PATH_MAX + 64];
    char ev_count[PATH_MAX + 16], ev_snap[3][PATH_MAX + HN_POINT_MAX + 32];
    char *argv[MAX_ARGS + 8], *extra[8], *text, *line, *save = NULL;
    int n = 0, ret, cap = 16, posix = 0, posix_pat = 0, nsnap;

    if ((ret = pl_fs_pathf(state, c->eb, "%s/discovery/state", c->dir)) ||
        (ret = pl_fs_pathf(counts, c->eb, "%s/discovery/counts", c->dir)) ||
        (ret = pl_fs_pathf(log, c->eb, "%s/discovery/stderr", c->dir)) ||
        (ret = pl_fs_mkdir_p(state, c->eb)))
        return ret;
    unlink(counts);
    /* I/O errors at libfiu's POSIX points: count their hits too */
    for (int i = 0; i < sc->nioerr; i++)
        posix |= hn_ioerr_is_posix(sc->ioerr_point[i]);
    if ((ret = hn__preload(c, HN_PRE_CRASH | (posix ? HN_PRE_POSIX : 0u), ev_pre,
                           sizeof ev_pre)) < 0)
        return pl_err(c->eb, ret, "LD_PRELOAD too long");
    for (int i = 0; i < sc->npatterns; i++)
        posix_pat |= hn_ioerr_is_posix(sc->patterns[i]);
    snprintf(ev_count, sizeof ev_count, "RP_FIU_COUNT=%s", counts);
    extra[0] = ev_pre;
    extra[1] = ev_count;
    /* count everything and select here: then a pattern that matches
     * nothing is known, whatever its form */
    extra[2] = "RP_FIU_POINTS=*";
    extra[3] = c->asan_env;
    nsnap = snap_env(c, state, ev_snap, extra + 4);
    argv[n++] = c->bin;
    argv[n++] = "run";
    argv[n++] = c->logdir;
    argv[n++] = state;
    for (int i = 0; i < c->npargs; i++)
        argv[n++] = c->pargs[i];
    /* its copies start kill-only trials, which trust the digest they hold */
    if (nsnap && c->trust_digest)
        argv[n++] = "--trust-sink-digest";
    argv[n] = NULL;
    if ((ret = golden_step(c, r, "discovery: run", argv, extra, 4 + nsnap, log, NULL)))
        return ret;
    if (nsnap && (ret = hn__snaps_prepare(c, c->snap_point)) < 0)
        return ret;
    r->snap_count = ret;
    text = hn__slurp(counts, NULL);
    if (!text)
        return golden_fail(r, 3, "discovery: no count file %s (is %s preloadable?)", counts,
                           c->preload);
    r->points = malloc((size_t)cap * sizeof *r->points);
    if (!r->points) {
        free(text);
        return pl_err(c->eb, -ENOMEM, "out of memory");
    }
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[HN_POINT_MAX + 2];
        unsigned long long cnt;
        int match = sc->npatterns == 0;
        if (sscanf(line, "%128s %llu", name, &cnt) != 2 || strlen(name) > HN_POINT_MAX ||
            cnt == 0)
            continue;
        for (int i = 0; i < sc->npatterns && !match; i++)
            match = hn_scenario_pattern_match(sc->patterns[i], name);
        /* the preload's points counted for io-errors are no kill points unless a
         * pattern starting with their prefix asks for them */
        if (!match || (hn_ioerr_is_posix(name) && !posix_pat))
            continue;
        if (r->npoints == cap) {
            hn_point *np = realloc(r->points, (size_t)(cap *= 2) * sizeof *np);
            if (!np) {
                free(text);
                return pl_err(c->eb, -ENOMEM, "out of memory");
            }
            r->points = np;
        }
        memcpy(r->points[r->npoints].name, name, strlen(name) + 1); /* length checked above */
        r->points[r->npoints++].count = cnt;
    }
    free(text);
    qsort(r->points, (size_t)r->npoints, sizeof *r->points, cmp_point);
    for (int i = 0; i < sc->npatterns; i++) {
        int hit = 0;
        for (int j = 0; j < r->npoints && !hit; j++)
            hit = hn_scenario_pattern_match(sc->patterns[i], r->points[j].name);
        if (!hit) {
            size_t o = strlen(r->unmatched);
            snprintf(r->unmatched + o, sizeof r->unmatched - o, "%s%s", o ? " " : "",
                     sc->patterns[i]);
        }
    }
    for (int j = 0; j < r->npoints; j++)
        hn__note(c, "discovery: %s hit %llu times", r->points[j].name,
             (unsigned long long)r->points[j].count);
    return 0;
}

/* One run under rp-trace.so from an empty state dir: the file-system
 * operations every power cut of the scenario is built from (hn_cut.h).
 * Returns 0 (c->cut loaded), 1 (verdict set), <0. */
static int record_trace(ctx *c, hn_scenario_result *r)
{
    char state[PATH_MAX], trace[PATH_MAX], log[PATH_MAX];
    char ev_pre[PATH_MAX + 16], ev_dir[PATH_MAX + 16], ev_out[PATH_MAX + 16];
    char *argv[MAX_ARGS + 8], *extra[4];
    int n = 0, ret;

    if ((ret = pl_fs_pathf(state, c->eb, "%s/traced/state", c->dir)) ||
        (ret = pl_fs_pathf(trace, c->eb, "%s/traced/trace", c->dir)) ||
        (ret = pl_fs_pathf(log, c->eb, "%s/traced/stderr", c->dir)) ||
        (ret = pl_fs_mkdir_p(state, c->eb)))
        return ret;
    if (access(c->tracelib, R_OK) < 0)
        return pl_err_os(c->eb, errno, "trace library %s", c->tracelib);
    if ((ret = hn__preload(c, HN_PRE_TRACE, ev_pre, sizeof ev_pre)) < 0)
        return pl_err(c->eb, ret, "LD_PRELOAD too long");
    snprintf(ev_dir, sizeof ev_dir, "RP_TRACE_DIR=%s", state);
    snprintf(ev_out, sizeof ev_out, "RP_TRACE_OUT=%s", trace);
    extra[0] = ev_pre;
    extra[1] = ev_dir;
    extra[2] = ev_out;
    extra[3] = c->asan_env;
    argv[n++] = c->bin;
    argv[n++] = "run";
    argv[n++] = c->logdir;
    argv[n++] = state;
    for (int i = 0; i < c->npargs; i++)
        argv[n++] = c->pargs[i];
    argv[n] = NULL;
    if ((ret = golden_step(c, r, "power cut: traced run", argv, extra, 4, log, NULL)))
        return ret;
    if ((ret = hn_cut_load(trace, &c->cut, c->eb)) < 0)
        return ret;
    r->pc_records = hn_cut_nrecords(c->cut);
    hn__note(c, "power cut: the traced run made %llu file-system records",
             (unsigned long long)r->pc_records);
    return 0;
}

/* A state dir of another configuration for foreign-config corruptions: the
 * log run once with a ticks aggregation nobody else uses.  Returns 0, 1
 * (verdict set), <0. */
static int make_donor(ctx *c, hn_scenario_result *r)
{
    char state[PATH_MAX], log[PATH_MAX];
    char *argv[] = {c->bin, "run", c->logdir, state, "--agg", "donor=ticks:7", "--quiet", NULL};
    int ret;
    if (c->donor[0])
        return 0;
    if ((ret = pl_fs_pathf(state, c->eb, "%s/donor/state", c->dir)) ||
        (ret = pl_fs_pathf(log, c->eb, "%s/donor/stderr", c->dir)) ||
        (ret = pl_fs_mkdir_p(state, c->eb)) ||
        (ret = golden_step(c, r, "donor: run", argv, NULL, 0, log, NULL)))
        return ret;
    snprintf(c->donor, sizeof c->donor, "%s", state);
    return 0;
}

/* The I/O-error and corruption trials after the kills (fplan.c), from the
 * discovery counts; a donor state dir when a foreign-config needs one. */
static int plan_io_corrupt(ctx *c, hn_scenario_result *r, hn_trial **trials, int *n)
{
    char counts[PATH_MAX];
    char *text;
    int ret, before = *n;
    if (c->sc->nioerr == 0 && c->sc->ncorrupt == 0)
        return 0;
    if ((ret = pl_fs_pathf(counts, c->eb, "%s/discovery/counts", c->dir)))
        return ret;
    text = hn__slurp(counts, NULL);
    ret = hn__plan_io_corrupt(c->sc, text, r->points, r->npoints, trials, n, c->eb);
    free(text);
    if (ret < 0)
        return ret;
    r->candidates += (uint64_t)(*n - before);
    for (int i = before; i < *n; i++)
        if ((*trials)[i].fault[0].kind == HN_F_CORRUPT &&
            (*trials)[i].fault[0].corrupt == HN_C_FOREIGN) {
            ret = make_donor(c, r);
            /* a donor that cannot be made is a harness failure */
            if (ret > 0)
                ret = pl_err(c->eb, PL_EIO, "%s", r->detail);
            return ret < 0 ? ret : 0;
        }
    return 0;
}

/* ------------------------------------------------------------ entry points */

void hn_run_opts_init(hn_run_opts *o)
{
    memset(o, 0, sizeof *o);
}

void hn_run_result_free(hn_scenario_result *r)
{
    free(r->points);
    free(r->failures);
    r->points = NULL;
    r->failures = NULL;
}

static int exe_dir(char *out, pl_errbuf *eb)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    char *slash;
    if (n < 0)
        return pl_err_os(eb, errno, "readlink(/proc/self/exe)");
    self[n] = 0;
    slash = strrchr(self, '/');
    if (slash)
        *slash = 0;
    return pl_fs_pathf(out, eb, "%s", self);
}

const char *hn_run_default_base(void)
{
    const char *t = getenv("TMPDIR");
    if (access("/dev/shm", W_OK | X_OK) == 0)
        return "/dev/shm";
    return t && *t ? t : "/tmp";
}

static void ctx_free(ctx *c)
{
    hn__fsrvs_free(c);
    free(c->env);
    c->env = NULL;
    hn_cut_free(c->cut);
    c->cut = NULL;
    hn__snaps_free(c->snaps);
    c->snaps = NULL;
}

/* Binaries, pipeline options, environment, the scenario's work dir. */
static int ctx_init(ctx *c, const hn_scenario *sc, const hn_run_opts *o, pl_errbuf *eb,
                    const char *tag)
{
    char bindir[PATH_MAX], base[PATH_MAX], *words[MAX_ARGS];
    const char *binary = sc->binary[0] ? sc->binary : "refpipe-fiu";
    int n, ret;

    memset(c, 0, sizeof *c);
    c->sc = sc;
    c->o = o;
    c->eb = eb;
    c->keep = o->keep;
    c->timeout_ns = sc->timeout_ns > 0 ? sc->timeout_ns : 60000000000LL;
    c->max_restarts = sc->max_restarts > 0 ? sc->max_restarts : 20;
    if (c->max_restarts < sc->crashes)
        c->max_restarts = sc->crashes; /* planned crashes are never a crash loop */
    if (o->bindir)
        ret = pl_fs_pathf(bindir, eb, "%s", o->bindir);
    else
        ret = exe_dir(bindir, eb);
    if (ret)
        return ret;
    if (strchr(binary, '/'))
        ret = pl_fs_pathf(c->bin, eb, "%s", binary);
    else
        ret = pl_fs_pathf(c->bin, eb, "%s/%s", bindir, binary);
    if (ret || (ret = pl_fs_pathf(c->preload, eb, "%s/rp-crash.so", bindir)) ||
        (ret = pl_fs_pathf(c->tracelib, eb, "%s/rp-trace.so", bindir)))
        return ret;
    if (access(c->bin, X_OK) < 0)
        return pl_err_os(eb, errno, "pipeline binary %s", c->bin);
    if (access(c->preload, R_OK) < 0)
        return pl_err_os(eb, errno, "crash library %s", c->preload);
    {
        /* set whatever the binary is: a wrapper script may exec a
         * sanitizer build, and other programs ignore the variable */
        const char *cur = getenv("ASAN_OPTIONS");
        snprintf(c->asan_env, sizeof c->asan_env, "ASAN_OPTIONS=%s%sverify_asan_link_order=0",
                 cur && *cur ? cur : "", cur && *cur ? ":" : "");
    }

    /* the words live in *sc, which outlives the context */
    n = hn_scenario_pipeline_args(sc, words, MAX_ARGS);
    if (n < 0 || n > MAX_ARGS)
        return pl_err(eb, PL_ELIMIT, "%s: too many pipeline options", sc->path);
    for (int i = 0; i < n; i++)
        c->pargs[i] = words[i];
    c->npargs = n;
    n = hn_scenario_batch_args(sc, words, MAX_ARGS);
    if (n < 0 || n > MAX_ARGS)
        return pl_err(eb, PL_ELIMIT, "%s: too many pipeline options", sc->path);
    for (int i = 0; i < n; i++)
        c->bargs[i] = words[i];
    c->nbargs = n;
    if ((ret = hn__env_init(c)))
        return ret;

    if (o->workdir) {
        if ((ret = pl_fs_mkdir_p(o->workdir, eb)) || (ret = pl_fs_pathf(base, eb, "%s", o->workdir)))
            return ret;
    } else if ((ret = pl_fs_pathf(base, eb, "%s", hn_run_default_base())))
        return ret;
    if ((ret = pl_fs_pathf(c->dir, eb, "%s/rp-%s-%s-XXXXXX", base, tag, sc->name)))
        return ret;
    if (!mkdtemp(c->dir))
        return pl_err_os(eb, errno, "mkdtemp(%s)", c->dir);
    return 0;
}

/* A shard's part of the plan: the kills and the power cuts it owns (plan
 * indexes: kills from 0, power cuts after them), replacing the whole plan. */
static int shard_slice(const hn_run_opts *o, hn_trial **kills, int *nkills, int **kseq,
                       hn_trial **pcs, int *npcs, int **pseq, pl_errbuf *eb)
{
    hn_trial *k = NULL, *p = NULL;
    int nk = 0, np = 0, ret;
    if ((ret = hn_shard_slice(*kills, *nkills, 0, o->shard, o->shards, &k, kseq, &nk, eb)) < 0)
        return ret;
    if ((ret = hn_shard_slice(*pcs, *npcs, *nkills, o->shard, o->shards, &p, pseq, &np, eb)) < 0) {
        free(k);
        return ret;
    }
    free(*kills);
    free(*pcs);
    *kills = k;
    *nkills = nk;
    *pcs = p;
    *npcs = np;
    return 0;
}

int hn_run_online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

static void phase(const ctx *c, const char *what, const hn_scenario_result *r)
{
    if (c->o->hooks.phase)
        c->o->hooks.phase(c->o->hooks.ctx, c->sc, what, r);
}

/* Scenario-level rows: hits, the batch divergence, the final verdict. */
static int store_scenario(const ctx *c, int64_t sid, const hn_scenario_result *r)
{
    hn_res *db = c->o->db;
    hn_res_scenario row;
    pl_errbuf eb2 = {{0}};
    pl_errbuf *eb = c->eb->msg[0] ? &eb2 : c->eb; /* keep an earlier error message */
    int ret;
    if (!db)
        return 0;
    if ((ret = hn_res_begin(db, eb)))
        return ret;
    for (int i = 0; i < r->npoints && ret == 0; i++)
        ret = hn_res_hits_add(db, sid, r->points[i].name, r->points[i].count, eb);
    /* a pattern that selected nothing is on record too, as itself with 0 */
    for (int i = 0; i < c->sc->npatterns && ret == 0 && r->unmatched[0]; i++) {
        int hit = 0;
        for (int j = 0; j < r->npoints && !hit; j++)
            hit = hn_scenario_pattern_match(c->sc->patterns[i], r->points[j].name);
        if (!hit)
            ret = hn_res_hits_add(db, sid, c->sc->patterns[i], 0, eb);
    }
    for (int i = 0; i < r->nbatch_div && ret == 0; i++)
        ret = hn_res_div_add(db, sid, &r->batch_div[i], eb);
    memset(&row, 0, sizeof row);
    row.verdict = hn_sc_verdict_name(r->verdict);
    row.records = r->records;
    for (int i = 0; i < 3; i++) {
        row.golden[i] = r->golden[i];
        row.golden_rows[i] = r->golden_rows[i];
        row.batch[i] = r->batch[i];
    }
    row.candidates = (int64_t)r->candidates;
    row.planned = r->planned;
    row.run = r->run;
    row.failures = r->nfailures + (r->nbatch_div > 0) + (r->verdict == HN_SC_EXPECTATION);
    row.duration_ms = r->duration_ms;
    row.trials_ms = r->trials_ms;
    row.detail = r->detail;
    row.workload = r->workload;
    if (ret == 0)
        ret = hn_res_scenario_end(db, sid, &row, eb);
    if (ret == 0 && r->plan_digest[0])
        ret = hn_res_plan_add(db, sid, r->plan_total, r->plan_digest,
                              c->o->shards > 1 ? c->o->shard : 1,
                              c->o->shards > 1 ? c->o->shards : 1, eb);
    if (ret == 0)
        ret = hn_res_commit(db, eb);
    else
        hn_res_rollback(db);
    return ret;
}

int hn_run_scenario(const hn_scenario *sc, const hn_run_opts *o, hn_scenario_result *r,
                    pl_errbuf *eb)
{
    ctx c;
    pool pl;
    hn_trial *trials = NULL, *pcs = NULL;
    int *kseq = NULL, *pseq = NULL;
    int64_t t0 = hn__now_ns(), t1, sid = 0;
    int ret, g, ntrials = 0, npcs = 0, expect_failed = 0;
    char expect_detail[512];

    memset(r, 0, sizeof *r);
    memset(&pl, 0, sizeof pl);
    r->records = -1;
    ret = ctx_init(&c, sc, o, eb, "run");
    if (ret < 0)
        goto out;
    snprintf(r->workdir, sizeof r->workdir, "%s", c.dir);
    /* trial processes through fork servers, one per slot (hn_fsrv.h) */
    if ((ret = hn__fsrvs_init(&c, o->jobs > 0 ? o->jobs : hn_run_online_cpus(),
                              o->no_fork_server || sc->no_fork_server)) < 0)
        goto out;
    if (o->db && (ret = hn_res_scenario_begin(o->db, o->run_id, sc->name, sc->path, &sid, eb)))
        goto out;

    phase(&c, "golden", r);
    g = golden(&c, r, 1);
    if (g < 0) {
        ret = g;
        goto out;
    }
    if (g == 0) {
        expect_failed = check_expect(&c, r, expect_detail, sizeof expect_detail);
        phase(&c, "discovery", r);
        g = discover(&c, r);
        if (g < 0) {
            ret = g;
            goto out;
        }
    }
    if (g == 0 && sc->npc_models > 0) {
        phase(&c, "trace", r);
        g = record_trace(&c, r);
        if (g < 0) {
            ret = g;
            goto out;
        }
    }
    if (g == 0) {
        ret = hn_run_plan(sc, r->points, r->npoints, (uint64_t)(r->records > 0 ? r->records : 0),
                          o->budget, &trials, &ntrials, &r->candidates, eb);
        if (ret < 0)
            goto out;
        if (c.cut && (ret = hn_run_plan_powercut(sc, c.cut, &pcs, &npcs, &r->pc_candidates,
                                                 eb)) < 0)
            goto out;
        if ((ret = plan_io_corrupt(&c, r, &trials, &ntrials)) < 0)
            goto out;
        r->plan_total = ntrials + npcs;
        if ((ret = hn_shard_plan_digest(trials, ntrials, pcs, npcs, r->plan_digest, eb)) < 0 ||
            (o->shards > 1 && (ret = shard_slice(o, &trials, &ntrials, &kseq, &pcs, &npcs,
                                                 &pseq, eb)) < 0))
            goto out;
        r->planned = ntrials + npcs;
        r->pc_planned = npcs;
        r->failures = calloc(KEEP_FAILURES, sizeof *r->failures);
        if (!r->failures) {
            ret = pl_err(eb, -ENOMEM, "out of memory");
            goto out;
        }
        phase(&c, "trials", r);
        pl.c = &c;
        pl.r = r;
        pl.scenario_id = sid;
        pl.seqs = kseq;
        t1 = hn__now_ns();
        ret = hn__run_pool(&pl, trials, ntrials, o->jobs > 0 ? o->jobs : hn_run_online_cpus());
        r->trials_ms = (hn__now_ns() - t1) / 1000000;
        if (ret < 0)
            goto out;
        if (npcs) {
            /* the crash states after the kills, timed on their own */
            int killed_run = r->run;
            phase(&c, "powercut", r);
            pl.done = pl.failed = 0;
            pl.seq_base = ntrials;
            pl.seqs = pseq;
            t1 = hn__now_ns();
            ret = hn__run_pool(&pl, pcs, npcs, o->jobs > 0 ? o->jobs : hn_run_online_cpus());
            r->pc_ms = (hn__now_ns() - t1) / 1000000;
            r->pc_run = r->run - killed_run;
            if (ret < 0)
                goto out;
        }

        if (r->guard_disagree > 0) {
            /* early stop judged wrongly: no verdict of this run can be trusted */
            r->verdict = HN_SC_ERROR;
            snprintf(r->detail, sizeof r->detail,
                     "soundness guard: %d of %d trials run in full disagree with the verdict "
                     "early stop would have given (first: %.300s); rerun with --no-early-stop",
                     r->guard_disagree, r->guard_run, r->guard_first);
        } else if (r->nfailures > 0 && sc->expect_converge) {
            r->verdict = HN_SC_FAILED;
            snprintf(r->detail, sizeof r->detail, "%d of %d trials failed", r->nfailures,
                     r->run);
        } else if (r->nbatch_div > 0) {
            r->verdict = HN_SC_BATCH_DISAGREES;
            snprintf(r->detail, sizeof r->detail,
                     "the golden run and refpipe batch disagree on %s.csv (first at line %lld)",
                     r->batch_div[0].tbl, (long long)r->batch_div[0].line);
        } else if (expect_failed) {
            r->verdict = HN_SC_EXPECTATION;
            snprintf(r->detail, sizeof r->detail, "%s", expect_detail);
        } else if (r->npoints == 0) {
            r->verdict = HN_SC_NO_POINTS;
            snprintf(r->detail, sizeof r->detail,
                     "no selected fail point was hit: nothing was tested");
        } else
            r->verdict = HN_SC_CONVERGED;
        r->exit_status = r->verdict == HN_SC_CONVERGED ? 0 : r->verdict == HN_SC_ERROR ? 3 : 1;
    }
    ret = 0;

out:
    if (ret < 0) {
        r->verdict = HN_SC_ERROR;
        r->exit_status = 3;
        snprintf(r->detail, sizeof r->detail, "%s", eb->msg);
    }
    r->duration_ms = (hn__now_ns() - t0) / 1000000;
    hn__fsrvs_count(&c, &r->procs_fsrv, &r->procs_exec);
    if (sid) {
        int sret = store_scenario(&c, sid, r);
        if (ret == 0 && sret < 0)
            ret = sret;
    }
    /* failing trials keep their dirs, and then the golden log and export
     * they are judged against; everything else goes */
    if (c.dir[0] && !o->keep) {
        /* an interrupted run has nothing worth keeping unless a trial failed */
        if (r->nfailures == 0 && (r->exit_status == 0 || ret == -EINTR)) {
            pl_fs_rm_rf(c.dir);
            r->workdir[0] = 0;
        } else {
            char p[PATH_MAX];
            if (pl_fs_pathf(p, NULL, "%s/discovery", c.dir) == 0)
                pl_fs_rm_rf(p);
            /* the trace stays: a failing power cut is replayed from it */
            if (pl_fs_pathf(p, NULL, "%s/traced/state", c.dir) == 0)
                pl_fs_rm_rf(p);
            if (pl_fs_pathf(p, NULL, "%s/batch", c.dir) == 0 && r->nbatch_div == 0)
                pl_fs_rm_rf(p);
            if (pl_fs_pathf(p, NULL, "%s/golden/state", c.dir) == 0)
                pl_fs_rm_rf(p);
        }
    }
    phase(&c, "done", r);
    free(trials);
    free(pcs);
    free(kseq);
    free(pseq);
    ctx_free(&c);
    return ret;
}

int hn_run_replay(const hn_scenario *sc, const hn_trial *t, const hn_run_opts *o,
                  hn_trial_result *res, int *golden_failed, pl_errbuf *eb)
{
    ctx c;
    hn_scenario_result r;
    slot s;
    int ret, g;

    memset(res, 0, sizeof *res);
    memset(&r, 0, sizeof r);
    memset(&s, 0, sizeof s);
    *golden_failed = 0;
    memset(&c, 0, sizeof c);
    if ((ret = hn_run_trial_check(t, eb)) < 0)
        return ret;
    ret = ctx_init(&c, sc, o, eb, "replay");
    if (ret < 0)
        goto out;
    c.verbose = 1;
    c.keep = 1;
    c.guard_all = 1; /* a replay runs to the end and reports where it would have stopped */
    hn__note(&c, "work dir %s", c.dir);
    g = golden(&c, &r, 0);
    if (g != 0) {
        ret = g < 0 ? g : 0;
        if (g > 0) {
            *golden_failed = 1;
            pl_err(eb, PL_EIO, "%s", r.detail);
        }
        goto out;
    }
    if (t->nfaults > 0 && t->fault[0].kind == HN_F_POWERCUT) {
        g = record_trace(&c, &r);
        if (g != 0) {
            ret = g < 0 ? g : 0;
            if (g > 0) {
                *golden_failed = 1;
                pl_err(eb, PL_EIO, "%s", r.detail);
            }
            goto out;
        }
    }
    for (int i = 0; i < t->nfaults; i++)
        if (t->fault[i].kind == HN_F_CORRUPT && t->fault[i].corrupt == HN_C_FOREIGN &&
            (g = make_donor(&c, &r)) != 0) {
            ret = g < 0 ? g : pl_err(eb, PL_EIO, "%s", r.detail);
            goto out;
        }
    ret = hn__trial_start(&c, &s, 0, t);
    while (ret == 0 && s.phase != PH_IDLE) {
        int st_to = 0;
        for (;;) {
            struct pollfd pfd = {.fd = s.p.pidfd, .events = POLLIN};
            int64_t left = s.p.deadline - hn__now_ns();
            int rr;
            if (o->stop && *o->stop) {
                hn__kill_tree(&s.p);
                waitpid(s.p.pid, NULL, 0);
                close(s.p.pidfd);
                ret = pl_err(eb, -EINTR, "interrupted");
                goto out;
            }
            if (left <= 0) {
                hn__kill_tree(&s.p);
                st_to = 1;
                break;
            }
            rr = poll(&pfd, 1, left / 1000000 > POLL_MAX_MS ? POLL_MAX_MS
                                                            : (int)(left / 1000000) + 1);
            if (rr > 0)
                break;
            if (rr < 0 && errno != EINTR) {
                ret = pl_err_os(eb, errno, "poll");
                goto out;
            }
        }
        ret = hn__on_exit_slot(&c, &s, st_to);
    }
    if (ret == 0) {
        *res = s.res;
        hn__note(&c, "restarts: %d, armed crashes fired: %d of %d", res->restarts,
             res->crashes_fired, t->nfaults);
        hn__note(&c, "verdict: %s%s%s", hn_verdict_name(res->verdict), res->detail[0] ? ": " : "",
             res->detail);
        hn__note(&c, "state dir kept: %s", s.state);
    }
out:
    hn_run_result_free(&r);
    ctx_free(&c);
    return ret;
}

