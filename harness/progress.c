/*
 * progress.c - progress display and summaries for `replayproof run`
 * (hn_progress.h).
 *
 * Layout: the hn_prog state; drawing (the in-place bar, the plain line);
 * the two hooks; the summary.
 *
 * On a terminal the bar is one line rewritten with "\r" and cleared with
 * ESC[K before anything else is printed, so that messages never end up
 * glued to a half-drawn bar.  Redraws are limited to ten a second: a fast
 * scenario finishes hundreds of trials a second and drawing each would cost
 * more than the trials.  Elsewhere (CI logs) a status line at most every
 * five seconds keeps logs short but shows that the run is alive.
 */
#include "hn_progress.h"
#include "hn_prov.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REDRAW_NS 100000000LL     /* terminal: at most ten redraws a second */
#define PLAIN_NS 5000000000LL     /* elsewhere: a status line every five seconds */
#define SHOW_DETAILS 10           /* failing trials described in full in the summary */

struct hn_prog {
    FILE *out;
    int tty, quiet;
    int drawn;                    /* a bar is on the screen */
    int64_t trials_t0, last_draw;
    int done, total, failed;
    char name[HN_NAME_MAX + 1];
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

hn_prog *hn_prog_new(FILE *out, int tty, int quiet)
{
    hn_prog *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->out = out;
    p->tty = tty;
    p->quiet = quiet;
    return p;
}

void hn_prog_free(hn_prog *p)
{
    free(p);
}

/* ---------------------------------------------------------------- drawing */

static void clear_bar(hn_prog *p)
{
    if (p->drawn) {
        fputs("\r\033[K", p->out);
        p->drawn = 0;
    }
}

/* "12.3" trials/s and an ETA of "1:05", from integers only. */
static void rate_eta(const hn_prog *p, int64_t now, char *rate, size_t rn, char *eta, size_t en)
{
    int64_t el = now - p->trials_t0;
    int64_t r10 = el > 0 ? (int64_t)p->done * 10000000000LL / el : 0; /* trials/s x 10 */
    snprintf(rate, rn, "%lld.%lld", (long long)(r10 / 10), (long long)(r10 % 10));
    if (p->done > 0 && el > 0) {
        int64_t left_s = (int64_t)(p->total - p->done) * el / p->done / 1000000000LL;
        snprintf(eta, en, "%lld:%02lld", (long long)(left_s / 60), (long long)(left_s % 60));
    } else
        snprintf(eta, en, "?");
}

static void draw(hn_prog *p, int64_t now, int force)
{
    char rate[32], eta[32], bar[31];
    int width = 30, fill;
    if (p->quiet || p->total <= 0)
        return;
    if (!force && now - p->last_draw < (p->tty ? REDRAW_NS : PLAIN_NS))
        return;
    p->last_draw = now;
    rate_eta(p, now, rate, sizeof rate, eta, sizeof eta);
    if (!p->tty) {
        fprintf(p->out, "%s: %d/%d trials, %d failed, %s trials/s, ETA %s\n", p->name, p->done,
                p->total, p->failed, rate, eta);
        fflush(p->out);
        return;
    }
    fill = (int)((int64_t)p->done * width / p->total);
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(width - fill));
    bar[width] = 0;
    fprintf(p->out, "\r\033[K[%s] %d/%d  %s trials/s  ETA %s  %s%s", bar, p->done, p->total,
            rate, eta, p->name, p->failed ? "  FAILURES" : "");
    if (p->failed)
        fprintf(p->out, ": %d", p->failed);
    fflush(p->out);
    p->drawn = 1;
}

/* ------------------------------------------------------------------ hooks */

void hn_prog_phase(void *ctx, const hn_scenario *sc, const char *phase,
                   const hn_scenario_result *r)
{
    hn_prog *p = ctx;
    uint64_t hits = 0;
    if (p->quiet)
        return;
    snprintf(p->name, sizeof p->name, "%s", sc->name);
    clear_bar(p);
    if (strcmp(phase, "golden") == 0)
        fprintf(p->out, "%s: golden run, batch oracle (work dir %s)\n", sc->name, r->workdir);
    else if (strcmp(phase, "discovery") == 0)
        fprintf(p->out, "%s: golden bars %.12s.. (%lld rows), counting fail point hits\n",
                sc->name, r->golden[0], (long long)r->golden_rows[0]);
    else if (strcmp(phase, "trials") == 0) {
        for (int i = 0; i < r->npoints; i++)
            hits += r->points[i].count;
        fprintf(p->out, "%s: %d fail points hit %llu times; %d trials planned of %llu "
                "candidates\n", sc->name, r->npoints, (unsigned long long)hits, r->planned,
                (unsigned long long)r->candidates);
        p->trials_t0 = mono_ns();
        p->last_draw = p->tty ? 0 : p->trials_t0;
        p->done = p->failed = 0;
        p->total = r->planned;
    } else if (strcmp(phase, "done") == 0) {
        p->total = 0;
    }
    fflush(p->out);
}

void hn_prog_trial(void *ctx, const hn_scenario *sc, const hn_trial_result *t, int done,
                   int total, int failed)
{
    hn_prog *p = ctx;
    int64_t now = mono_ns();
    p->done = done;
    p->total = total;
    p->failed = failed;
    if (p->quiet)
        return;
    if (t->verdict != HN_V_CONVERGED) {
        char spec[HN_TRIAL_SPEC_MAX];
        hn_run_trial_format(&t->trial, spec, sizeof spec);
        clear_bar(p);
        fprintf(p->out, "%s: FAIL %s %s (state dir %s)\n", sc->name, hn_verdict_name(t->verdict),
                spec, t->state_dir[0] ? t->state_dir : "removed");
        draw(p, now, 1);
        return;
    }
    draw(p, now, done == total);
    if (done == total)
        clear_bar(p);
}

void hn_prog_notice(void *ctx, const hn_scenario *sc, const char *line)
{
    hn_prog *p = ctx;
    /* shown even when quiet: it says how the run was done */
    clear_bar(p);
    fprintf(p->out, "%s: %s\n", sc->name, line);
    fflush(p->out);
}

/* ---------------------------------------------------------------- summary */

/* A word for a POSIX shell: quoted unless it is plainly safe. */
static void put_quoted(FILE *out, const char *s)
{
    char q[4 * PATH_MAX + 3] = "";
    hn_run_shell_quote(q, sizeof q, s);
    fputs(q, out);
}

static void put_div(FILE *out, const char *indent, const hn_res_div *d)
{
    if (!d->line) {
        fprintf(out, "%s%s.csv differs\n", indent, d->tbl);
        return;
    }
    fprintf(out, "%s%s.csv line %lld\n", indent, d->tbl, (long long)d->line);
    fprintf(out, "%s  expected: %s\n", indent, d->expected_eof ? "(end of file)" : d->expected);
    fprintf(out, "%s  actual:   %s\n", indent, d->actual_eof ? "(end of file)" : d->actual);
}

/*
 * Deduplication.  Failing trials with the same verdict, the same kind and
 * fail point of their first fault and the same first differing row (table,
 * line, expected and actual text; none for a conflict or an error) are one
 * group: hundreds of crashes at one point that all lose the same row are
 * one bug, shown once with a count, the hits it happened at and one
 * reproducer.
 */
typedef struct fgroup {
    int first;              /* index of its first failure in r->failures */
    int count;
    int kind;               /* first fault's kind, -1 when the spec did not parse */
    char point[HN_TRIAL_SPEC_MAX];
} fgroup;

static void first_fault(const hn_failure *f, int *kind, char *point, size_t n)
{
    hn_trial t;
    pl_errbuf eb = {{0}};
    if (hn_run_trial_parse(f->spec, &t, &eb) == 0 && t.nfaults > 0) {
        *kind = t.fault[0].kind;
        snprintf(point, n, "%s", t.fault[0].point);
    } else {
        *kind = -1;
        snprintf(point, n, "%s", f->spec);
    }
}

static int same_div(const hn_res_div *a, const hn_res_div *b)
{
    return !strcmp(a->tbl, b->tbl) && a->line == b->line && a->expected_eof == b->expected_eof &&
           a->actual_eof == b->actual_eof && !strcmp(a->expected, b->expected) &&
           !strcmp(a->actual, b->actual);
}

/* Groups of r's kept failures in order of first appearance; *ng of them. */
static fgroup *group_failures(const hn_scenario_result *r, int *ng)
{
    fgroup *g = calloc((size_t)(r->nkept ? r->nkept : 1), sizeof *g);
    *ng = 0;
    if (!g)
        return NULL;
    for (int i = 0; i < r->nkept; i++) {
        const hn_failure *f = &r->failures[i];
        int kind, j;
        char point[HN_TRIAL_SPEC_MAX];
        first_fault(f, &kind, point, sizeof point);
        for (j = 0; j < *ng; j++) {
            const hn_failure *h = &r->failures[g[j].first];
            if (g[j].kind == kind && !strcmp(g[j].point, point) && h->verdict == f->verdict &&
                same_div(&h->div, &f->div))
                break;
        }
        if (j == *ng) {
            g[j].first = i;
            g[j].kind = kind;
            snprintf(g[j].point, sizeof g[j].point, "%s", point);
            (*ng)++;
        }
        g[j].count++;
    }
    return g;
}

#define SHOW_SPECS 6 /* trial specs listed per group */

static void print_groups(FILE *out, const hn_scenario *sc, const hn_scenario_result *r)
{
    int ng = 0;
    fgroup *g;
    char self[4096];
    if (!r->nkept)
        return;
    /* reproducers as pasted from the current directory: bin/replayproof,
     * not a bare name that is not on PATH */
    hn_prov_self(self, sizeof self);
    g = group_failures(r, &ng);
    if (!g) {
        fprintf(out, "   (out of memory grouping %d failing trials)\n", r->nkept);
        return;
    }
    fprintf(out, "   %d failing trial%s in %d group%s (same verdict, fault kind, fail point and "
            "first differing row):\n", r->nkept, r->nkept == 1 ? "" : "s", ng,
            ng == 1 ? "" : "s");
    for (int j = 0; j < ng; j++) {
        const hn_failure *f = &r->failures[g[j].first];
        int listed = 0;
        if (j >= SHOW_DETAILS)
            break;
        fprintf(out, "   [%d] %d x %s, %s at %s: %s\n", j + 1, g[j].count,
                hn_verdict_name(f->verdict),
                g[j].kind >= 0 ? hn_fault_kind_name(g[j].kind) : "fault", g[j].point, f->detail);
        if (f->div.tbl[0])
            put_div(out, "       ", &f->div);
        fprintf(out, "       trials:");
        for (int i = g[j].first; i < r->nkept && listed < SHOW_SPECS; i++) {
            const hn_failure *h = &r->failures[i];
            int kind;
            char point[HN_TRIAL_SPEC_MAX];
            first_fault(h, &kind, point, sizeof point);
            if (kind != g[j].kind || strcmp(point, g[j].point) || h->verdict != f->verdict ||
                !same_div(&h->div, &f->div))
                continue;
            fprintf(out, "%s %s", listed ? "," : "", h->spec);
            listed++;
        }
        if (g[j].count > listed)
            fprintf(out, " and %d more", g[j].count - listed);
        fputc('\n', out);
        if (f->state_dir[0])
            fprintf(out, "       state dir: %s\n", f->state_dir);
        fputs("       reproduce: ", out);
        put_quoted(out, self);
        fputs(" replay ", out);
        put_quoted(out, sc->path);
        fprintf(out, " --trial %s\n", f->spec);
    }
    if (ng > SHOW_DETAILS) {
        /* the rest as one line per fail point, with one reproducer each */
        fprintf(out, "   %d more groups (all in the results database), by fail point:\n",
                ng - SHOW_DETAILS);
        for (int j = SHOW_DETAILS; j < ng; j++) {
            int seen = 0, n = 0, trials = 0;
            for (int k = SHOW_DETAILS; k < j && !seen; k++)
                seen = g[k].kind == g[j].kind && !strcmp(g[k].point, g[j].point);
            if (seen)
                continue;
            for (int k = j; k < ng; k++)
                if (g[k].kind == g[j].kind && !strcmp(g[k].point, g[j].point)) {
                    n++;
                    trials += g[k].count;
                }
            fprintf(out, "   ... %d group%s (%d trial%s), %s at %s, e.g.: ",
                    n, n == 1 ? "" : "s", trials, trials == 1 ? "" : "s",
                    g[j].kind >= 0 ? hn_fault_kind_name(g[j].kind) : "fault", g[j].point);
            put_quoted(out, self);
            fputs(" replay ", out);
            put_quoted(out, sc->path);
            fprintf(out, " --trial %s\n", r->failures[g[j].first].spec);
        }
    }
    if (r->nfailures > r->nkept)
        fprintf(out, "   (%d more failing trials not grouped; all are in the results database)\n",
                r->nfailures - r->nkept);
    free(g);
}

void hn_prog_summary(FILE *out, const hn_scenario *sc, const hn_scenario_result *r)
{
    static const char *const tbl[3] = {"bars", "late", "dlq"};
    int64_t ms = r->duration_ms;

    fprintf(out, "== %s (%s): %s\n", sc->name, sc->path, hn_sc_verdict_name(r->verdict));
    if (r->detail[0])
        fprintf(out, "   %s\n", r->detail);
    if (r->workdir[0])
        fprintf(out, "   work dir kept: %s\n", r->workdir);
    if (r->workload[0])
        fprintf(out, "   workload: %s transformed: %s\n", sc->csv_path, r->workload);
    if (r->golden[0][0]) {
        fprintf(out, "   golden:");
        for (int i = 0; i < 3; i++)
            fprintf(out, " %s %s (%lld rows)%s", tbl[i], r->golden[i],
                    (long long)r->golden_rows[i], i < 2 ? "," : "\n");
        if (r->batch[0][0])
            fprintf(out, "   batch: %s\n", r->nbatch_div ? "DISAGREES" : "agrees");
        for (int i = 0; i < r->nbatch_div; i++)
            put_div(out, "     ", &r->batch_div[i]);
    }
    if (r->npoints) {
        fprintf(out, "   fail points:");
        for (int i = 0; i < r->npoints; i++)
            fprintf(out, "%s %s x%llu", i ? "," : "", r->points[i].name,
                    (unsigned long long)r->points[i].count);
        fputc('\n', out);
    }
    if (r->unmatched[0])
        fprintf(out, "   patterns that matched no hit fail point: %s\n", r->unmatched);
    if (r->planned || r->run) {
        int64_t tms = r->trials_ms;
        int64_t r10 = tms > 0 ? (int64_t)(r->run - r->pc_run) * 10000 / tms : 0;
        fprintf(out, "   trials: %d run of %d planned (%llu candidates): %d converged",
                r->run, r->planned, (unsigned long long)r->candidates,
                r->by_verdict[HN_V_CONVERGED]);
        for (int v = 1; v < HN_V__COUNT; v++)
            if (r->by_verdict[v])
                fprintf(out, ", %d %s", r->by_verdict[v], hn_verdict_name(v));
        fprintf(out,
                "\n   time: %lld.%03lld s, of which trials %lld.%03lld s: %lld.%lld trials/s\n",
                (long long)(ms / 1000), (long long)(ms % 1000), (long long)(tms / 1000),
                (long long)(tms % 1000), (long long)(r10 / 10), (long long)(r10 % 10));
        if (r->early_on)
            fprintf(out, "   early stop: %d trials converged early and stopped; %d run in full "
                    "as the soundness guard, %d of them disagreeing\n", r->early_stopped,
                    r->guard_run, r->guard_disagree);
        if (r->snap_count)
            fprintf(out, "   snapshot starts: %d trials started from one of %d checkpoint "
                    "snapshots instead of record 0\n", r->snap_started, r->snap_count);
        if (r->pc_planned || r->pc_records) {
            int64_t pms = r->pc_ms, p10 = pms > 0 ? (int64_t)r->pc_run * 10000 / pms : 0;
            fprintf(out, "   power cuts: %d crash states run of %d planned (%llu distinct at the "
                    "cut candidates of a %llu-record trace) in %lld.%03lld s: %lld.%lld "
                    "states/s\n",
                    r->pc_run, r->pc_planned, (unsigned long long)r->pc_candidates,
                    (unsigned long long)r->pc_records, (long long)(pms / 1000),
                    (long long)(pms % 1000), (long long)(p10 / 10), (long long)(p10 % 10));
        }
        if (r->procs_fsrv || r->procs_exec)
            fprintf(out, "   processes: %lld through the fork server, %lld by fork+exec\n",
                    (long long)r->procs_fsrv, (long long)r->procs_exec);
    } else
        fprintf(out, "   %lld.%03lld s\n", (long long)(ms / 1000), (long long)(ms % 1000));

    print_groups(out, sc, r);
    fflush(out);
}
