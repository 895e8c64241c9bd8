/*
 * html.c - index.html of a run (rp_report.h: rp_html_write).
 *
 * Layout: style; helpers (escaped text, verdict badges, durations); the
 * run header and scenario table; per scenario: configuration, golden run,
 * counts, the fail point x outcome matrix with coverage, failure groups
 * (field-by-field diff, fault schedule, reproducer), plots, history; the
 * provenance.
 *
 * The page is one file with no script: inline CSS and inline SVG only, and
 * a Content-Security-Policy of default-src 'none' so that a browser fetches
 * nothing even if some text slipped through unescaped.  Every string that
 * comes from the database goes through rp_esc.
 */
#include "rp_report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hn_run.h"
#include "rp_esc.h"

#define GROUP_TRIALS_SHOWN 20   /* trials listed per failure group */
#define GROUPS_OPEN 3           /* failure groups shown open; the rest are folded */

static const char *style =
    "body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:0 16px "
    "40px;color:#222}\n"
    "h1{font-size:22px}h2{font-size:19px;border-bottom:2px solid #ccc;padding-top:14px}"
    "h3{font-size:16px}\n"
    "table{border-collapse:collapse;margin:6px 0 12px}td,th{border:1px solid #ccc;"
    "padding:3px 7px;text-align:left;vertical-align:top}th{background:#f3f3f3}\n"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
    "code,pre,.mono{font-family:ui-monospace,monospace;font-size:12.5px}\n"
    "pre{background:#f6f6f6;padding:8px;overflow-x:auto;white-space:pre-wrap;"
    "word-break:break-all}\n"
    ".v{display:inline-block;padding:1px 7px;border-radius:9px;color:#fff;font-weight:600}\n"
    ".ok{background:#2e7d32}.bad{background:#c62828}.warn{background:#ef6c00}"
    ".err{background:#000}\n"
    "tr.d td{background:#ffebee}tr.d td.f{font-weight:700}\n"
    ".esc{color:#b71c1c;background:#fff3e0;border-radius:2px}\n"
    ".missing{color:#8d6e63;font-style:italic}\n"
    ".repro{background:#263238;color:#eceff1}\n"
    "figure{margin:10px 0}figcaption{font-weight:600}svg{max-width:100%;height:auto}\n"
    ".group{border-left:4px solid #c62828;padding-left:10px;margin:14px 0}\n"
    "nav a{margin-right:12px}\n"
    ".diffs{display:flex;flex-wrap:wrap;gap:0 18px;align-items:flex-start}\n"
    ".diffs p{margin:4px 0}\n"
    "table.diff td.mono{max-width:380px;word-break:break-all}\n";

static void h(FILE *o, const char *s)
{
    rp_html(o, s);
}

static const char *badge_class(const char *verdict)
{
    if (strcmp(verdict, "converged") == 0)
        return "ok";
    if (strcmp(verdict, "error") == 0)
        return "err";
    if (strcmp(verdict, "no-points") == 0 || strcmp(verdict, "running") == 0 ||
        strcmp(verdict, "not-reached") == 0)
        return "warn";
    return "bad";
}

static void badge(FILE *o, const char *verdict)
{
    fprintf(o, "<span class=\"v %s\">", badge_class(verdict));
    h(o, verdict);
    fputs("</span>", o);
}

static void ms_text(FILE *o, int64_t ms)
{
    if (ms < 0)
        fputs("?", o);
    else
        fprintf(o, "%" PRId64 ".%03" PRId64 " s", ms / 1000, ms % 1000);
}

static void rate(FILE *o, int64_t run, int64_t ms)
{
    if (ms > 0)
        fprintf(o, "%.1f", (double)run * 1000.0 / (double)ms);
    else
        fputs("-", o);
}

/* ------------------------------------------------------------ diffs etc. */

/* Expected vs actual, field by field, differing fields marked. */
static void field_diff(FILE *o, const rp_div *d)
{
    const char *hdr = rp_table_header(d->tbl);
    char *hb = NULL, *eb = NULL, *ab = NULL, *hf[32], *ef[32], *af[32];
    int nh = hdr ? rp_csv_split(hdr, &hb, hf, 32) : 0;
    int ne = d->expected ? rp_csv_split(d->expected, &eb, ef, 32) : 0;
    int na = d->actual ? rp_csv_split(d->actual, &ab, af, 32) : 0;
    int n = nh > ne ? nh : ne;
    if (na > n)
        n = na;
    fputs("<p><code>", o);
    h(o, d->tbl);
    fprintf(o, ".csv</code> line %" PRId64 ": first differing row%s</p>\n", d->line,
            !d->expected ? " (the expected file has no such line)"
            : !d->actual ? " (the actual file ended before it)" : "");
    fputs("<table class=\"diff\"><tr><th>field</th><th>expected (golden)</th>"
          "<th>actual (trial)</th></tr>\n", o);
    for (int i = 0; i < n; i++) {
        const char *e = i < ne ? ef[i] : NULL, *a = i < na ? af[i] : NULL;
        int differs = !e != !a || (e && a && strcmp(e, a) != 0);
        fprintf(o, "<tr%s><td class=\"f\">", differs ? " class=\"d\"" : "");
        if (i < nh)
            h(o, hf[i]);
        else
            fprintf(o, "field %d", i + 1);
        fputs("</td><td class=\"mono\">", o);
        if (e)
            h(o, e);
        else
            fputs("<span class=\"missing\">(none)</span>", o);
        fputs("</td><td class=\"mono\">", o);
        if (a)
            h(o, a);
        else
            fputs("<span class=\"missing\">(none)</span>", o);
        fprintf(o, "</td></tr>\n");
    }
    fputs("</table>\n", o);
    free(hb);
    free(eb);
    free(ab);
}

/* Every fault of the trial's schedule, in order. */
static void schedule(FILE *o, const rp_trial *t)
{
    hn_trial tr;
    int n = 0;
    if (hn_run_trial_parse(t->crashes, &tr, NULL) < 0) {
        fputs("<p class=\"missing\">The schedule could not be read.</p>\n", o);
        return;
    }
    fputs("<ol class=\"sched\">\n", o);
    for (int i = 0; i < tr.nfaults; i++) {
        const hn_fault *f = &tr.fault[i];
        fputs("<li>", o);
        switch (f->kind) {
        case HN_F_POWERCUT:
            fprintf(o, "power cut (%s model", hn_pc_model_name(f->model));
            if (f->seed)
                fprintf(o, ", seed %llu", (unsigned long long)f->seed);
            fputs(") ", o);
            break;
        case HN_F_IOERR:
            fprintf(o, "process %d: I/O error %d ", ++n, f->err);
            break;
        case HN_F_CORRUPT:
            fprintf(o, "process %d: crash, then the state is corrupted (%s), ", ++n,
                    hn_corrupt_name(f->corrupt));
            break;
        default:
            n++;
            fprintf(o, "process %d%s: crash ", n,
                    n == 1 ? "" : n == 2 ? " (the first restart)" : " (a later restart)");
            break;
        }
        if (f->point[0]) {
            fputs("at <code>", o);
            h(o, f->point);
            fprintf(o, "</code>, hit %llu", (unsigned long long)f->k);
        } else
            fprintf(o, "before trace record %llu", (unsigned long long)f->k);
        fputs("</li>\n", o);
    }
    fprintf(o, "<li>then unarmed restarts until one completes (%d restart%s in all)</li>\n",
            t->restarts, t->restarts == 1 ? "" : "s");
    fputs("</ol>\n", o);
}

static void repro(FILE *o, const char *self, const rp_scn *s, const rp_trial *t)
{
    char line[16384];
    rp_repro(line, sizeof line, self, s, t);
    fputs("<pre class=\"repro\">", o);
    h(o, line);
    fputs("</pre>\n", o);
}

static void group_section(FILE *o, const rp_scn *s, int gi, const char *self)
{
    const rp_group *g = &s->groups[gi];
    const rp_trial *t = &s->trials[g->first];
    fprintf(o, "<div class=\"group\" id=\"s%" PRId64 "-g%d\">\n<h3>Group %d: %d trial%s ",
            s->id, gi + 1, gi + 1, g->count, g->count == 1 ? "" : "s");
    badge(o, t->verdict);
    {
        hn_trial tr;
        int ok = hn_run_trial_parse(t->crashes, &tr, NULL) == 0 && tr.nfaults > 0;
        fprintf(o, " %s at <code>", ok ? hn_fault_kind_name(tr.fault[0].kind) : "fault");
        h(o, ok ? tr.fault[0].point : t->point);
        fputs("</code>", o);
    }
    if (t->ndiv) {
        fputs(", first difference in <code>", o);
        h(o, t->div[0].tbl);
        fprintf(o, ".csv</code> line %" PRId64, t->div[0].line);
    }
    fputs("</h3>\n", o);
    if (t->detail[0]) {
        fputs("<p>", o);
        h(o, t->detail);
        fputs("</p>\n", o);
    }
    fputs("<div class=\"diffs\">\n", o);
    for (int j = 0; j < t->ndiv; j++) {
        fputs("<div>", o);
        field_diff(o, &t->div[j]);
        fputs("</div>\n", o);
    }
    fputs("</div>\n", o);
    fputs("<p>Fault schedule of the first trial of the group (<code>", o);
    h(o, t->crashes);
    fputs("</code>):</p>\n", o);
    schedule(o, t);
    fputs("<p>Kept state dir: ", o);
    if (t->state_dir[0]) {
        fputs("<code>", o);
        h(o, t->state_dir);
        fputs("</code>", o);
    } else
        fputs("<span class=\"missing\">not kept</span>", o);
    fputs("</p>\n<p>Reproduce (from the project root; exits 1 while the failure "
          "reproduces):</p>\n", o);
    repro(o, self, s, t);
    fprintf(o, "<details><summary>All %d trials of this group</summary>\n<table><tr><th>seq</th>"
               "<th>crashes</th><th>restarts</th><th>duration</th><th>state dir</th></tr>\n",
            g->count);
    for (int i = 0; i < g->count && i < GROUP_TRIALS_SHOWN; i++) {
        const rp_trial *m = &s->trials[g->members[i]];
        fprintf(o, "<tr><td class=\"n\">%" PRId64 "</td><td class=\"mono\">", m->seq);
        h(o, m->crashes);
        fprintf(o, "</td><td class=\"n\">%d</td><td class=\"n\">", m->restarts);
        ms_text(o, m->duration_ms);
        fputs("</td><td class=\"mono\">", o);
        h(o, m->state_dir[0] ? m->state_dir : "-");
        fputs("</td></tr>\n", o);
    }
    if (g->count > GROUP_TRIALS_SHOWN)
        fprintf(o, "<tr><td colspan=\"5\">%d more in the results database</td></tr>\n",
                g->count - GROUP_TRIALS_SHOWN);
    fputs("</table></details>\n</div>\n", o);
}

/* -------------------------------------------------------------- matrices */

/* Distinct (point, hit) pairs where a trial's first fault is of this kind. */
static int64_t kind_tried(const rp_scn *s, int kind)
{
    hn_fault *first = calloc((size_t)s->ntrials + 1, sizeof *first);
    int64_t n = 0;
    int m = 0;
    hn_trial t;
    if (!first)
        return 0;
    for (int i = 0; i < s->ntrials; i++) {
        int seen = 0;
        if (hn_run_trial_parse(s->trials[i].crashes, &t, NULL) < 0 || t.nfaults < 1 ||
            t.fault[0].kind != kind)
            continue;
        for (int j = 0; j < m && !seen; j++)
            seen = first[j].k == t.fault[0].k && strcmp(first[j].point, t.fault[0].point) == 0;
        if (!seen) {
            first[m++] = t.fault[0];
            n++;
        }
    }
    free(first);
    return n;
}

static void matrix(FILE *o, const rp_scn *s)
{
    int used[RP_NV] = {0};
    int64_t disc = 0, tried = 0;
    for (int v = 0; v < RP_NV; v++)
        used[v] = s->by_v[v] > 0;
    used[RP_V_CONVERGED] = 1;
    for (int i = 0; i < s->nhits; i++) {
        disc += s->hits[i].count;
        tried += s->hits[i].tried;
    }
    fputs("<h3>Fail points &times; outcome</h3>\n", o);
    if (s->nhits == 0) {
        fputs("<p class=\"missing\">No fail point was discovered.</p>\n", o);
        return;
    }
    fputs("<p>Coverage by fault kind (hits of the discovered fail points where a trial's first "
          "fault landed):", o);
    for (int kind = 0; kind < HN_F__COUNT; kind++) {
        int64_t n = kind_tried(s, kind);
        if (!n && kind != HN_F_KILL)
            continue;
        fprintf(o, " <b>%s</b>: %" PRId64 " of %" PRId64 " (%.1f%%);", hn_fault_kind_name(kind),
                n, disc, disc ? 100.0 * (double)n / (double)disc : 0.0);
    }
    fputs("</p>\n", o);
    (void)tried;
    fputs("<table><tr><th>fail point</th><th>hits discovered</th><th>hits tried</th>"
          "<th>coverage</th>", o);
    for (int v = 0; v < RP_NV; v++)
        if (used[v])
            fprintf(o, "<th>%s</th>", rp_verdicts[v]);
    fputs("</tr>\n", o);
    for (int i = 0; i < s->nhits; i++) {
        const rp_hit *p = &s->hits[i];
        int bad = 0;
        for (int v = 1; v < RP_NV; v++)
            bad += p->by_v[v];
        fprintf(o, "<tr%s><td class=\"mono\">", bad ? " class=\"d\"" : "");
        h(o, p->point);
        fprintf(o, "</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">%" PRId64
                   "</td><td class=\"n\">%s",
                p->count, p->tried, p->count ? "" : "-");
        if (p->count)
            fprintf(o, "%.1f%%", 100.0 * (double)p->tried / (double)p->count);
        fputs("</td>", o);
        for (int v = 0; v < RP_NV; v++)
            if (used[v])
                fprintf(o, "<td class=\"n\">%d</td>", p->by_v[v]);
        fputs("</tr>\n", o);
    }
    fputs("</table>\n", o);
}

static void charts(FILE *o, const rp_charts *c, int scn)
{
    for (int i = 0; i < c->n; i++) {
        const rp_chart *ch = &c->c[i];
        if (ch->scn != scn)
            continue;
        fprintf(o, "<figure id=\"plot-%d-%s\"><figcaption>", scn, ch->id);
        h(o, ch->title);
        fputs("</figcaption>\n", o);
        if (ch->svg)
            fputs(ch->svg, o); /* gnuplot's output; labels were sanitized (rp_plot_label) */
        else {
            fputs(ch->missing ? "<p class=\"missing\">Plot missing: "
                              : "<p class=\"missing\">Nothing to plot: ", o);
            h(o, ch->why);
            fputs("</p>", o);
        }
        fputs("</figure>\n", o);
    }
}

static void history(FILE *o, const rp_scn *s)
{
    fputs("<h3>History</h3>\n<table><tr><th>run</th><th>started</th><th>commit</th>"
          "<th>verdict</th><th>trials</th><th>failures</th><th>trials/s</th></tr>\n", o);
    for (int i = s->nhist - 1; i >= 0; i--) {
        const rp_hist *hh = &s->hist[i];
        fprintf(o, "<tr%s><td class=\"n\">%" PRId64 "</td><td>",
                hh->scenario_id == s->id ? " style=\"font-weight:700\"" : "", hh->run_id);
        h(o, hh->started);
        fputs("</td><td class=\"mono\">", o);
        if (hh->commit[0]) {
            rp_esc(o, hh->commit, strlen(hh->commit) > 12 ? 12 : strlen(hh->commit),
                   RP_ESC_HTML, 0);
            if (hh->dirty > 0)
                fputs(" (dirty)", o);
        } else
            fputs("?", o);
        fputs("</td><td>", o);
        badge(o, hh->verdict);
        fprintf(o, "</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">%" PRId64
                   "</td><td class=\"n\">",
                hh->trials_run, hh->failures);
        rate(o, hh->trials_run, hh->trials_ms);
        fputs("</td></tr>\n", o);
    }
    fputs("</table>\n", o);
}

/* -------------------------------------------------------------- sections */

static void scenario(FILE *o, const rp_run *r, int i, const rp_charts *c, const char *self)
{
    static const char *const tbl[3] = {"bars", "late", "dlq"};
    const rp_scn *s = &r->scn[i];
    fprintf(o, "<section id=\"s%" PRId64 "\">\n<h2>", s->id);
    h(o, s->name);
    fputs(" ", o);
    badge(o, s->verdict);
    fputs("</h2>\n<p>Scenario file <code>", o);
    h(o, s->path);
    fputs("</code>", o);
    if (s->detail[0]) {
        fputs(": ", o);
        h(o, s->detail);
    }
    fputs("</p>\n<details><summary>Workload and fault configuration</summary>\n", o);
    if (s->config) {
        fputs("<pre>", o);
        rp_esc(o, s->config, (size_t)-1, RP_ESC_HTML, 1);
        fputs("</pre>\n", o);
    } else
        fputs("<p class=\"missing\">The scenario file was not kept with this run.</p>\n", o);
    fputs("</details>\n", o);

    fprintf(o, "<p>Log: %" PRId64 " records. Golden run:", s->records);
    for (int k = 0; k < 3; k++) {
        fprintf(o, " %s <code>", tbl[k]);
        h(o, s->golden[k][0] ? s->golden[k] : "?");
        fprintf(o, "</code> (%" PRId64 " rows)%s", s->rows[k], k < 2 ? "," : ".");
    }
    fprintf(o, " Batch oracle: %s.</p>\n",
            s->nbdiv ? "<b>disagrees</b>" : s->batch[0][0] ? "agrees" : "not run");
    for (int k = 0; k < s->nbdiv; k++) {
        fputs("<p>The golden run against <code>refpipe batch</code> (expected: batch, "
              "actual: golden):</p>\n", o);
        field_diff(o, &s->bdiv[k]);
    }

    fprintf(o, "<p>Trials: %" PRId64 " run of %" PRId64 " planned (%" PRId64
               " candidates) in ", s->run, s->planned, s->candidates);
    ms_text(o, s->trials_ms);
    fputs(" (", o);
    rate(o, s->run, s->trials_ms);
    fputs(" trials/s).</p>\n<table><tr>", o);
    for (int v = 0; v < RP_NV; v++)
        if (s->by_v[v] || v == RP_V_CONVERGED)
            fprintf(o, "<th>%s</th>", rp_verdicts[v]);
    fputs("</tr><tr>", o);
    for (int v = 0; v < RP_NV; v++)
        if (s->by_v[v] || v == RP_V_CONVERGED)
            fprintf(o, "<td class=\"n\">%d</td>", s->by_v[v]);
    fputs("</tr></table>\n", o);

    matrix(o, s);

    fprintf(o, "<h3>Failures: %d trial%s in %d group%s</h3>\n", s->nfailed,
            s->nfailed == 1 ? "" : "s", s->ngroups, s->ngroups == 1 ? "" : "s");
    if (!s->ngroups)
        fputs("<p>No trial failed.</p>\n", o);
    for (int g = 0; g < s->ngroups; g++) {
        if (g == GROUPS_OPEN)
            fprintf(o, "<details><summary>%d more failure groups</summary>\n",
                    s->ngroups - GROUPS_OPEN);
        group_section(o, s, g, self);
    }
    if (s->ngroups > GROUPS_OPEN)
        fputs("</details>\n", o);

    fputs("<h3>Plots</h3>\n", o);
    charts(o, c, i);
    history(o, s);
    fputs("</section>\n", o);
}

/* The kill matrix: mutants x scenarios, each cell caught (with what and
 * after how many trials) or not, and the kill depth per mutant. */
static void kill_matrix(FILE *o, const rp_run *r)
{
    const char **scn = calloc((size_t)r->nmut + 1, sizeof *scn);
    int nscn = 0;
    if (!r->nmut || !scn) {
        free(scn);
        return;
    }
    for (int i = 0; i < r->nmut; i++) {
        int seen = 0;
        for (int j = 0; j < nscn && !seen; j++)
            seen = strcmp(scn[j], r->mut[i].scenario) == 0;
        if (!seen)
            scn[nscn++] = r->mut[i].scenario;
    }
    fprintf(o, "<section id=\"mutants\">\n<h2>Kill matrix</h2>\n<p>Broken variants of the "
               "fault build against the scenarios (<code>replayproof mutants</code>, run %" PRId64
               "%s). A cell says which verdict caught the variant and after how many trials; "
               "the kill depth is the number of scenarios that catch it.</p>\n<table><tr>"
               "<th>mutant</th><th>kill depth</th>",
            r->mut_run, r->mut_run == r->id ? "" : ", the latest before this run");
    for (int j = 0; j < nscn; j++) {
        fputs("<th>", o);
        h(o, scn[j]);
        fputs("</th>", o);
    }
    fputs("</tr>\n", o);
    for (int i = 0; i < r->nmut; i++) {
        int depth = 0;
        if (i > 0 && strcmp(r->mut[i - 1].mutant, r->mut[i].mutant) == 0)
            continue;
        for (int k = i; k < r->nmut && strcmp(r->mut[k].mutant, r->mut[i].mutant) == 0; k++)
            depth += strcmp(r->mut[k].outcome, "caught") == 0;
        fprintf(o, "<tr%s><td class=\"mono\">", depth < 2 ? " class=\"d\"" : "");
        h(o, r->mut[i].mutant);
        fprintf(o, "</td><td class=\"n\">%d</td>", depth);
        for (int j = 0; j < nscn; j++) {
            const rp_mut *m = NULL;
            for (int k = i; k < r->nmut && strcmp(r->mut[k].mutant, r->mut[i].mutant) == 0 && !m;
                 k++)
                if (strcmp(r->mut[k].scenario, scn[j]) == 0)
                    m = &r->mut[k];
            fputs("<td>", o);
            if (!m) /* mutants --depth: not needed once caught often enough */
                fputs("<span class=\"missing\">not run</span>", o);
            else if (strcmp(m->outcome, "caught") == 0) {
                badge(o, m->verdict[0] ? m->verdict : "caught");
                fprintf(o, " after %" PRId64 " trial%s", m->trials, m->trials == 1 ? "" : "s");
                if (m->reproduce[0]) {
                    fputs("<br><code>", o);
                    h(o, m->reproduce);
                    fputs("</code>", o);
                }
            } else {
                fprintf(o, "<span class=\"v %s\">", strcmp(m->outcome, "survived") == 0
                                                          ? "bad" : "warn");
                h(o, m->outcome);
                fputs("</span>", o);
            }
            fputs("</td>", o);
        }
        fputs("</tr>\n", o);
    }
    fputs("</table>\n</section>\n", o);
    free(scn);
}

/* The kill matrix's shrunk reproducers: how far each failure was cut down,
 * the command that reproduces it and the standalone scenario itself. */
static void shrunk(FILE *o, const rp_run *r)
{
    if (!r->nshr)
        return;
    fputs("<section id=\"shrunk\">\n<h2>Shrunk reproducers</h2>\n<p>One catch of each "
          "variant cut down by <code>replayproof shrink</code> while it fails the same way "
          "(<a href=\"#mutants\">kill matrix</a>); the scenario and its CSV are stored in the "
          "results database, table <code>shrinks</code>.</p>\n<table><tr><th>mutant</th>"
          "<th>from</th><th>failure</th><th>records</th><th>partitions</th><th>symbols</th>"
          "<th>aggregations</th><th>replays</th><th>reproduce</th></tr>\n", o);
    for (int i = 0; i < r->nshr; i++) {
        const rp_shrink *x = &r->shr[i];
        fputs("<tr><td class=\"mono\">", o);
        h(o, x->mutant);
        fputs("</td><td>", o);
        h(o, x->scenario);
        fputs("</td><td>", o);
        badge(o, x->verdict);
        fprintf(o, "</td><td class=\"n\">%" PRId64 " &rarr; %" PRId64 "</td><td class=\"n\">%d "
                   "&rarr; %d</td><td class=\"n\">%d &rarr; %d</td><td class=\"n\">%d &rarr; "
                   "%d</td><td class=\"n\">%d%s</td><td><code>",
                x->records0, x->records, x->partitions0, x->partitions, x->symbols0, x->symbols,
                x->aggs0, x->aggs, x->replays, x->exhausted ? " (budget ended: not minimal)" : "");
        h(o, x->reproduce);
        fputs("</code>", o);
        if (x->scenario_text[0]) {
            fputs("<details><summary>", o);
            h(o, x->scenario_path);
            fputs("</summary><pre>", o);
            h(o, x->scenario_text);
            fputs("</pre></details>", o);
        }
        fputs("</td></tr>\n", o);
    }
    fputs("</table>\n</section>\n", o);
}

static void provenance(FILE *o, const rp_run *r)
{
    fputs("<section id=\"provenance\">\n<h2>Provenance</h2>\n", o);
    if (!r->nprov && !r->nfiles) {
        fputs("<p class=\"missing\">This run recorded no provenance.</p>\n</section>\n", o);
        return;
    }
    fputs("<table>", o);
    for (int i = 0; i < r->nprov; i++) {
        fputs("<tr><th>", o);
        h(o, r->prov[i].key);
        fputs("</th><td class=\"mono\">", o);
        h(o, r->prov[i].value);
        fputs("</td></tr>\n", o);
    }
    fputs("</table>\n<table><tr><th>role</th><th>scenario</th><th>file</th><th>XXH3-128</th>"
          "<th>bytes</th></tr>\n", o);
    for (int i = 0; i < r->nfiles; i++) {
        const rp_file *f = &r->files[i];
        fputs("<tr><td>", o);
        h(o, f->role);
        fputs("</td><td>", o);
        h(o, f->scenario);
        fputs("</td><td class=\"mono\">", o);
        h(o, f->path);
        fputs("</td><td class=\"mono\">", o);
        h(o, f->xxh3[0] ? f->xxh3 : "unreadable");
        fprintf(o, "</td><td class=\"n\">%" PRId64 "</td></tr>\n", f->bytes);
    }
    fputs("</table>\n</section>\n", o);
}

int rp_html_write(FILE *o, const rp_run *r, const rp_charts *c, const char *self)
{
    int missing = 0, nogp = 0, failed = 0;
    const char *commit = rp_prov(r, "git_commit"), *dirty = rp_prov(r, "git_dirty");
    for (int i = 0; i < c->n; i++) {
        missing += c->c[i].missing;
        nogp += c->c[i].no_gnuplot;
    }
    for (int i = 0; i < r->nscn; i++)
        failed += strcmp(r->scn[i].verdict, "converged") != 0;

    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; img-src data:\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n", o);
    fprintf(o, "<title>replayproof run %" PRId64 ": %s</title>\n<style>\n%s</style>\n"
               "</head>\n<body>\n",
            r->id, r->exit_status == 0 ? "passed" : r->exit_status < 0 ? "unfinished" : "FAILED",
            style);
    fprintf(o, "<h1>replayproof run %" PRId64 " ", r->id);
    if (r->exit_status < 0)
        badge(o, "running");
    else
        badge(o, r->exit_status == 0 ? "converged" : r->exit_status == 3 ? "error" : "failed");
    fputs("</h1>\n<p><code>", o);
    h(o, r->argv);
    fputs("</code><br>started ", o);
    h(o, r->started);
    fputs(", finished ", o);
    h(o, r->finished[0] ? r->finished : "(not finished)");
    fprintf(o, ", exit status %d, host ", r->exit_status);
    h(o, r->host);
    fputs(", code ", o);
    if (commit) {
        fputs("<code>", o);
        h(o, commit);
        fputs("</code>", o);
        if (dirty && strcmp(dirty, "1") == 0)
            fputs(" with uncommitted changes", o);
    } else
        fputs("unknown", o);
    fputs("</p>\n", o);
    {
        char line[1024];
        int sh = rp_shard_text(r, line, sizeof line);
        if (sh) {
            fputs(sh == 2 ? "<p class=\"missing\"><b>" : "<p>", o);
            h(o, line);
            fputs(sh == 2 ? "</b></p>\n" : "</p>\n", o);
        }
    }
    if (missing)
        fprintf(o, "<p class=\"missing\">%d plot%s missing%s (each says why below).</p>\n",
                missing, missing == 1 ? "" : "s",
                nogp ? ": gnuplot is not installed, so no plot could be drawn" : "");

    fputs("<h2>Scenarios</h2>\n", o);
    if (!r->nscn)
        fputs("<p>This run has no scenario.</p>\n", o);
    else {
        fputs("<table><tr><th>scenario</th><th>verdict</th><th>trials run</th>"
              "<th>failed</th><th>failure groups</th><th>trials/s</th><th>time</th></tr>\n", o);
        for (int i = 0; i < r->nscn; i++) {
            const rp_scn *s = &r->scn[i];
            fprintf(o, "<tr><td><a href=\"#s%" PRId64 "\">", s->id);
            h(o, s->name);
            fputs("</a></td><td>", o);
            badge(o, s->verdict);
            fprintf(o, "</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">%d</td>"
                       "<td class=\"n\">%d</td><td class=\"n\">",
                    s->run, s->nfailed, s->ngroups);
            rate(o, s->run, s->trials_ms);
            fputs("</td><td class=\"n\">", o);
            ms_text(o, s->duration_ms);
            fputs("</td></tr>\n", o);
        }
        fputs("</table>\n", o);
        fprintf(o, "<p>%d of %d scenario%s did not converge. Start with the first failure "
                   "group of each: its field diff shows what differs, its line reproduces "
                   "it.</p>\n",
                failed, r->nscn, r->nscn == 1 ? "" : "s");
        for (int i = 0; i < r->nscn; i++) {
            const rp_scn *s = &r->scn[i];
            if (!s->early_stopped && !s->guard_run && !s->snap_started)
                continue;
            /* docs/semantics.md, "Early stop at convergence", "Snapshot starts" */
            fputs("<p>", o);
            h(o, s->name);
            fprintf(o, ": %d of %" PRId64 " trials converged early (their recovery stopped at "
                       "a golden checkpoint with equal digests; no export), %d ran in full as "
                       "the soundness guard; %d started from a copy of the discovery run's "
                       "state at a checkpoint.</p>\n", s->early_stopped, s->run, s->guard_run,
                    s->snap_started);
        }
    }
    for (int i = 0; i < r->nscn; i++)
        scenario(o, r, i, c, self);
    kill_matrix(o, r);
    shrunk(o, r);
    provenance(o, r);
    fputs("<p>Results database <code>", o);
    h(o, r->db_path);
    fputs("</code>; this page, <code>junit.xml</code> and <code>summary.md</code> are "
          "described in docs/reports.md.</p>\n</body>\n</html>\n", o);
    return ferror(o) ? -5 : 0;
}
