/*
 * charts.c - the report's plots (rp_report.h: rp_charts_make), drawn by
 * gnuplot (plot.c).
 *
 * Layout: a growable text buffer for scripts; one function per plot, each
 * turning data of the run (and, for bars and late events, the golden export
 * kept in the run dir) into a script with inline data blocks; the list.
 *
 * Only numbers go into data blocks; labels from data pass through
 * rp_plot_label, so nothing from the results can become a gnuplot command.
 */
#include "rp_report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "rp_plot.h"

#define W 860
#define H 300

typedef struct sbuf {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int need;
    if (b->oom)
        return;
    va_start(ap, fmt);
    need = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
    va_end(ap);
    if (need < 0) {
        b->oom = 1;
        return;
    }
    if (!b->s || b->n + (size_t)need + 1 > b->cap) {
        size_t cap = (b->cap + (size_t)need + 1) * 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
        va_start(ap, fmt);
        vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
    }
    b->n += (size_t)need;
}

static const char *const vcolor[RP_NV] = {"#4caf50", "#d32f2f", "#7b1fa2", "#f57c00",
                                          "#1976d2", "#795548", "#000000", "#9e9e9e"};

/* ------------------------------------------------------------------ plots */

/* Cumulative trials by verdict, in the order they finished (ids). */
static int outcomes(const rp_scn *s, sbuf *b, char *why, size_t wn)
{
    int cum[RP_NV] = {0}, *order, used[RP_NV] = {0}, first = 1;
    if (s->ntrials == 0) {
        snprintf(why, wn, "no trials were run");
        return 1;
    }
    order = malloc((size_t)s->ntrials * sizeof *order);
    if (!order)
        return -ENOMEM;
    for (int i = 0; i < s->ntrials; i++)
        order[i] = i;
    /* insertion sort by id: trials are stored nearly in id order already */
    for (int i = 1; i < s->ntrials; i++) {
        int x = order[i], j = i;
        while (j > 0 && s->trials[order[j - 1]].id > s->trials[x].id) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = x;
    }
    sb_printf(b, "$d << EOD\n0");
    for (int v = 0; v < RP_NV; v++)
        sb_printf(b, " 0");
    sb_printf(b, "\n");
    for (int i = 0; i < s->ntrials; i++) {
        const rp_trial *t = &s->trials[order[i]];
        cum[t->v]++;
        used[t->v] = 1;
        sb_printf(b, "%d", i + 1);
        for (int v = 0; v < RP_NV; v++)
            sb_printf(b, " %d", cum[v]);
        sb_printf(b, "\n");
    }
    free(order);
    sb_printf(b, "EOD\nset xlabel 'trials finished'\nset ylabel 'trials'\nset key top left\n"
                 "set grid\nset yrange [0:*]\nplot ");
    for (int v = 0; v < RP_NV; v++) {
        if (!used[v])
            continue;
        sb_printf(b, "%s$d using 1:%d with steps lw 2 lc rgb '%s' title '%s'", first ? "" : ", ",
                  v + 2, vcolor[v], rp_verdicts[v]);
        first = 0;
    }
    sb_printf(b, "\n");
    return 0;
}

/* Trial duration against where its first crash fell in the log: hit k of
 * the point's n hits counted by discovery is about k/n through the log. */
static int recovery(const rp_scn *s, sbuf *b, char *why, size_t wn)
{
    int nok = 0, nbad = 0;
    if (s->ntrials == 0) {
        snprintf(why, wn, "no trials were run");
        return 1;
    }
    for (int pass = 0; pass < 2; pass++) {
        sb_printf(b, "$%s << EOD\n", pass ? "bad" : "ok");
        for (int i = 0; i < s->ntrials; i++) {
            const rp_trial *t = &s->trials[i];
            int64_t n = 0;
            double pos;
            if ((t->v != RP_V_CONVERGED) != pass)
                continue;
            for (int j = 0; j < s->nhits; j++)
                if (strcmp(s->hits[j].point, t->point) == 0)
                    n = s->hits[j].count;
            pos = n > 0 ? (double)t->k / (double)n : 0;
            if (s->records > 0)
                pos *= (double)s->records;
            sb_printf(b, "%.6g %.3f\n", pos, (double)t->duration_ms / 1000.0);
            if (pass)
                nbad++;
            else
                nok++;
        }
        sb_printf(b, "EOD\n");
    }
    sb_printf(b, "set xlabel '%s'\nset ylabel 'trial duration (s)'\nset grid\nset key top right\n"
                 "set yrange [0:*]\nplot ",
              s->records > 0 ? "crash position (records into the log, from hit k of n)"
                             : "crash position (hit k of n)");
    if (nok)
        sb_printf(b, "$ok using 1:2 with points pt 7 ps 0.6 lc rgb '#4caf50' title 'converged'%s",
                  nbad ? ", " : "");
    if (nbad)
        sb_printf(b, "$bad using 1:2 with points pt 7 ps 0.9 lc rgb '#d32f2f' title 'failed'");
    sb_printf(b, "\n");
    return 0;
}

/* Next line of *p (NUL-terminated in place), NULL at the end. */
static char *next_line(char **p)
{
    char *l = *p, *nl;
    if (!l || !*l)
        return NULL;
    nl = strchr(l, '\n');
    if (nl) {
        *nl = 0;
        *p = nl + 1;
    } else
        *p = l + strlen(l);
    return l;
}

/* The bars of one aggregation and symbol: the one of the first bars
 * divergence, else the first bar of the golden export. */
static int bars(const rp_scn *s, sbuf *b, char *title, size_t tn, char *why, size_t wn)
{
    char path[PATH_MAX], *gold = NULL, *trial = NULL, *p, *l, *key = NULL, *kbuf = NULL;
    char *f[12], lab[96];
    const rp_trial *dt = NULL;
    size_t klen = 0;
    int nf, ndiff = 0, nbars = 0, ret = 1;
    long long divseq = -1;

    if (!s->dir) {
        snprintf(why, wn, "the golden export was not kept (no run directory)");
        return 2;
    }
    snprintf(path, sizeof path, "%s/golden/bars.csv", s->dir);
    gold = rp_read_file(path, SIZE_MAX);
    if (!gold) {
        snprintf(why, wn, "the golden export was not kept in the run directory");
        return 2;
    }
    for (int i = 0; i < s->ntrials && !dt; i++)
        for (int j = 0; j < s->trials[i].ndiv && !dt; j++)
            if (strcmp(s->trials[i].div[j].tbl, "bars") == 0 && s->trials[i].state_dir[0])
                dt = &s->trials[i];
    if (dt) {
        const rp_div *d = &dt->div[0];
        for (int j = 0; j < dt->ndiv; j++)
            if (strcmp(dt->div[j].tbl, "bars") == 0)
                d = &dt->div[j];
        nf = rp_csv_split(d->expected ? d->expected : d->actual, &kbuf, f, 12);
        if (nf >= 3)
            divseq = strtoll(f[2], NULL, 10);
        if (nf >= 2) {
            key = kbuf;
            f[1][-1] = ','; /* "agg,symbol" */
            klen = strlen(key);
        }
        snprintf(path, sizeof path, "%s", dt->state_dir);
        p = strrchr(path, '/');
        if (p && (size_t)(p - path) + 20 < sizeof path) {
            strcpy(p, "/export/bars.csv");
            trial = rp_read_file(path, SIZE_MAX);
        }
    }
    p = gold;
    next_line(&p); /* header */
    if (!key) {
        l = next_line(&p);
        if (!l) {
            snprintf(why, wn, "the golden run produced no bars");
            goto out;
        }
        nf = rp_csv_split(l, &kbuf, f, 12);
        if (nf < 2) {
            snprintf(why, wn, "the golden bars.csv is not in the export format");
            goto out;
        }
        f[1][-1] = ',';
        key = kbuf;
        klen = strlen(key);
        p = gold;
        next_line(&p);
    }
    sb_printf(b, "$g << EOD\n");
    while ((l = next_line(&p))) {
        char *lb = NULL;
        if (strncmp(l, key, klen) != 0 || l[klen] != ',')
            continue;
        nf = rp_csv_split(l, &lb, f, 12);
        if (nf == 12) {
            sb_printf(b, "%s %s %s %s %s\n", f[2], f[5], f[7], f[6], f[8]);
            nbars++;
        }
        free(lb);
    }
    sb_printf(b, "EOD\n$t << EOD\n");
    if (trial && dt) {
        /* bars of the trial that are not exactly a golden line */
        char *q = trial;
        next_line(&q);
        while ((l = next_line(&q))) {
            char *lb = NULL, *g2 = strstr(gold, l);
            int exact = g2 && (g2 == gold || g2[-1] == '\n' || g2[-1] == 0) &&
                        (g2[strlen(l)] == '\n' || g2[strlen(l)] == 0);
            if (exact || strncmp(l, key, klen) != 0 || l[klen] != ',')
                continue;
            nf = rp_csv_split(l, &lb, f, 12);
            if (nf == 12) {
                sb_printf(b, "%s %s %s %s %s\n", f[2], f[5], f[7], f[6], f[8]);
                ndiff++;
            }
            free(lb);
        }
    }
    sb_printf(b, "EOD\n");
    if (nbars == 0) {
        snprintf(why, wn, "no golden bars for the chosen symbol");
        goto out;
    }
    rp_plot_label(lab, sizeof lab, key);
    snprintf(title, tn, "Bars of %s (golden OHLC%s)", lab,
             dt ? ", trial's differing bars in red" : "");
    sb_printf(b, "set xlabel 'bar (seq)'\nset ylabel 'price'\nset grid\nset key top left\n"
                 "set boxwidth 0.6 relative\nplot $g using 1:2:3:4:5 with candlesticks "
                 "lc rgb '#455a64' title 'golden'");
    if (ndiff)
        sb_printf(b, ", $t using 1:2:3:4:5 with candlesticks lw 2 lc rgb '#d32f2f' "
                     "title 'trial differs'");
    else if (dt && divseq >= 0)
        /* rows missing from the trial's export: mark the golden bar at the
         * first divergent seq */
        sb_printf(b, ", $g using 1:($1 == %lld ? $5 : NaN) with points pt 7 ps 1.5 "
                     "lc rgb '#d32f2f' title 'first divergent bar'", divseq);
    sb_printf(b, "\n");
    ret = 0;
out:
    free(kbuf);
    free(gold);
    free(trial);
    return ret;
}

/* Late events of the golden run: how far behind the watermark each was
 * (watermark - event time) and the running count of late drops. */
static int late(const rp_scn *s, sbuf *b, char *why, size_t wn)
{
    char path[PATH_MAX], *text, *p, *l, *f[8];
    long long t0 = 0;
    int n = 0;
    if (!s->dir) {
        snprintf(why, wn, "the golden export was not kept (no run directory)");
        return 2;
    }
    snprintf(path, sizeof path, "%s/golden/late.csv", s->dir);
    text = rp_read_file(path, SIZE_MAX);
    if (!text) {
        snprintf(why, wn, "the golden export was not kept in the run directory");
        return 2;
    }
    p = text;
    next_line(&p);
    sb_printf(b, "$d << EOD\n");
    while ((l = next_line(&p))) {
        char *lb = NULL;
        if (rp_csv_split(l, &lb, f, 8) == 7) {
            long long ev = strtoll(f[2], NULL, 10), wm = strtoll(f[6], NULL, 10);
            if (n == 0)
                t0 = ev;
            n++;
            sb_printf(b, "%.6f %.3f %d\n", (double)(ev - t0) / 1e9, (double)(wm - ev) / 1e6, n);
        }
        free(lb);
    }
    sb_printf(b, "EOD\n");
    free(text);
    if (n == 0) {
        snprintf(why, wn, "the golden run dropped no late events");
        return 1;
    }
    sb_printf(b, "set xlabel 'event time of the late event (s, from the first one)'\n"
                 "set ylabel 'watermark - event time (ms)'\nset y2label 'late drops so far'\n"
                 "set ytics nomirror\nset y2tics\nset grid\nset key top left\n"
                 "plot $d using 1:2 with points pt 7 ps 0.5 lc rgb '#1976d2' title 'lateness', "
                 "$d using 1:3 axes x1y2 with steps lw 2 lc rgb '#f57c00' title 'late drops'\n");
    return 0;
}

/* This scenario's earlier runs: trials/s and failures per run. */
static int history(const rp_scn *s, sbuf *b, char *why, size_t wn)
{
    if (s->nhist < 2) {
        snprintf(why, wn, "no earlier run of this scenario in the database");
        return 1;
    }
    sb_printf(b, "$d << EOD\n");
    for (int i = 0; i < s->nhist; i++) {
        const rp_hist *h = &s->hist[i];
        double rate = h->trials_ms > 0 ? (double)h->trials_run * 1000.0 / (double)h->trials_ms
                                       : 0;
        sb_printf(b, "%" PRId64 " %.3f %" PRId64 "\n", h->run_id, rate, h->failures);
    }
    sb_printf(b, "EOD\nset xlabel 'run'\nset ylabel 'trials/s'\nset y2label 'failures'\n"
                 "set ytics nomirror\nset y2tics\nset yrange [0:*]\nset y2range [0:*]\n"
                 "set grid\nset key top left\nset xtics 1\n"
                 "plot $d using 1:2 with linespoints pt 7 lw 2 lc rgb '#1976d2' "
                 "title 'trials/s', $d using 1:3 axes x1y2 with impulses lw 6 "
                 "lc rgb '#d32f2f' title 'failures'\n");
    return 0;
}

/* ------------------------------------------------------------------- list */

int rp_charts_make(const rp_run *r, rp_charts *out, pl_errbuf *eb)
{
    static const char *const ids[] = {"outcomes", "recovery", "bars", "late", "history"};
    int gnuplot_missing = 0;
    out->n = 0;
    out->c = calloc((size_t)r->nscn * 5 + 1, sizeof *out->c);
    if (!out->c)
        return pl_err(eb, -ENOMEM, "out of memory");
    for (int i = 0; i < r->nscn; i++) {
        const rp_scn *s = &r->scn[i];
        for (int k = 0; k < 5; k++) {
            rp_chart *c = &out->c[out->n++];
            sbuf b = {0};
            char pfx[32];
            int rc;
            pl_errbuf peb = {{0}};
            c->scn = i;
            c->id = ids[k];
            switch (k) {
            case 0:
                snprintf(c->title, sizeof c->title, "Trial outcomes over the run");
                rc = outcomes(s, &b, c->why, sizeof c->why);
                break;
            case 1:
                snprintf(c->title, sizeof c->title,
                         "Trial duration (crash, restarts, recovery) against crash position");
                rc = recovery(s, &b, c->why, sizeof c->why);
                break;
            case 2:
                snprintf(c->title, sizeof c->title, "Bars of one symbol");
                rc = bars(s, &b, c->title, sizeof c->title, c->why, sizeof c->why);
                break;
            case 3:
                snprintf(c->title, sizeof c->title,
                         "Late drops and their lateness behind the watermark (golden run)");
                rc = late(s, &b, c->why, sizeof c->why);
                break;
            default:
                snprintf(c->title, sizeof c->title, "History: trials/s and failures per run");
                rc = history(s, &b, c->why, sizeof c->why);
                break;
            }
            if (b.oom || rc < 0) {
                free(b.s);
                return pl_err(eb, -ENOMEM, "out of memory");
            }
            c->missing = rc == 2;
            if (rc == 0 && gnuplot_missing) {
                snprintf(c->why, sizeof c->why, "gnuplot is not installed");
                c->no_gnuplot = c->missing = 1;
            } else if (rc == 0) {
                snprintf(pfx, sizeof pfx, "s%d%s-", i, c->id);
                rc = rp_plot_svg(b.s, W, H, pfx, &c->svg, &peb);
                c->missing = rc < 0;
                if (rc == PL_ENOTFOUND) {
                    gnuplot_missing = 1;
                    c->no_gnuplot = 1;
                    snprintf(c->why, sizeof c->why, "gnuplot is not installed (%s)", peb.msg);
                } else if (rc < 0)
                    snprintf(c->why, sizeof c->why, "%s", peb.msg);
            }
            free(b.s);
        }
    }
    return 0;
}

void rp_charts_free(rp_charts *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->c[i].svg);
    free(c->c);
    c->c = NULL;
    c->n = 0;
}
