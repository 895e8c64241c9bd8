/*
 * rp_report.h - `replayproof report`: turn one run of the results database
 * into the files people read (docs/reports.md):
 *
 *   index.html   one self-contained page (inline CSS and SVG plots, no
 *                script, a Content-Security-Policy that forbids any fetch)
 *   junit.xml    a testsuite per scenario, a testcase per fail point and per
 *                failure group, for CI systems
 *   summary.md   the verdict table and failure groups, for a CI job summary
 *
 * Modules: model.c loads the run (rp_model.h), charts.c builds the plots
 * with plot.c (gnuplot through a pipe), html.c, junit.c and summary.c write
 * one format each, esc.c escapes everything that comes from data, report.c
 * (here) ties them together.  Library code: nothing is printed.
 */
#ifndef RP_REPORT_H
#define RP_REPORT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pl_err.h"
#include "rp_model.h"

typedef struct rp_report_opts {
    const char *db_path;       /* the results database */
    int64_t run_id;            /* 0: the newest run */
    const char *outdir;        /* NULL: the run's own directory (provenance run_dir) */
    const char *self;          /* replayproof as a user types it from the project root
                                  ("bin/replayproof"); used in reproducer lines */
} rp_report_opts;

typedef struct rp_report_info {
    int64_t run_id;
    char outdir[PATH_MAX];
    int plots, plots_missing;  /* rendered, and wanted but not rendered */
    char missing_why[600];     /* the first reason a plot is missing */
} rp_report_info;

/*
 * Write index.html, junit.xml and summary.md into the output dir (created;
 * each file replaced atomically).  Returns 0 (missing plots are not an
 * error; info says how many); PL_ENOTFOUND for a missing database or run;
 * PL_EUSAGE when no outdir is given and the run has no run dir; -errno for
 * files that cannot be written.
 */
int rp_report_write(const rp_report_opts *o, rp_report_info *info, pl_errbuf *eb);

/* One plot of the report: svg, or why there is none. */
typedef struct rp_chart {
    int scn;                   /* scenario index, -1 for the whole run */
    const char *id;            /* "outcomes", "recovery", "bars", "late", "history" */
    char title[256];
    char *svg;                 /* NULL: not rendered */
    char why[600];             /* why not rendered ("" when rendered) */
    int missing;               /* wanted but not rendered (gnuplot missing or failed, input
                                  not kept); 0 with svg NULL: nothing to plot */
    int no_gnuplot;            /* not rendered because gnuplot is missing */
} rp_chart;

typedef struct rp_charts {
    int n;
    rp_chart *c;
} rp_charts;

/* Build every plot of the run (charts.c).  Returns 0 or -ENOMEM; a plot
 * that cannot be made is a chart with svg NULL and a reason. */
int rp_charts_make(const rp_run *r, rp_charts *out, pl_errbuf *eb);
void rp_charts_free(rp_charts *c);

/* The reproducer of a trial, as a shell line pasted from the project root:
 * "SELF replay SCENARIO --trial CRASHES" with the words quoted. */
void rp_repro(char *buf, size_t n, const char *self, const rp_scn *s, const rp_trial *t);

/* The writers (html.c, junit.c, summary.c); 0 or -errno of the stream. */
int rp_html_write(FILE *out, const rp_run *r, const rp_charts *c, const char *self);
int rp_junit_write(FILE *out, const rp_run *r, const char *self);
int rp_summary_write(FILE *out, const rp_run *r, const char *self);

#endif
