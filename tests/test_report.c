/*
 * test_report.c - Check suite for the reports (reports/, `replayproof
 * report`), the run directory (harness/rundir.c) and the provenance
 * (harness/prov.c, results.c).
 *
 * Layout: helpers; escaping; hostile data written straight into a results
 * database; degraded reports (no gnuplot, zero trials, golden/batch-only
 * failures, a run without scenarios); run dir keeping and pruning; an
 * end-to-end run of broken pipelines (divergences from a double-crash
 * schedule, a hang, a crash loop) whose report is checked and whose
 * reproducer is run; a headless Chromium loading the page.
 *
 * Oracles are independent of the writers: xmllint validates junit.xml
 * against tests/junit-10.xsd (and refuses control bytes and bad UTF-8),
 * xxhsum -H2 checks the recorded digests, the shell runs the reproducer.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hn_results.h"
#include "hn_run.h"
#include "hn_rundir.h"
#include "rp_esc.h"
#include "rp_report.h"
#include "tutil.h"

#ifndef RP_BINDIR
#define RP_BINDIR "bin"
#endif

/* ---------------------------------------------------------------- helpers */

static char *esc_to_string(const char *s, size_t n, int mode, int nl)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert(f != NULL);
    rp_esc(f, s, n, mode, nl);
    ck_assert(fclose(f) == 0);
    return buf;
}

static char *file_in(const char *dir, const char *name)
{
    char path[4096];
    char *s;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    s = tu_slurp(path, NULL);
    ck_assert_msg(s != NULL, "no %s", path);
    return s;
}

static int xmllint_ok(const char *dir)
{
    return tu_sh("xmllint --noout --schema tests/junit-10.xsd '%s/junit.xml' >'%s/xmllint.out' "
                 "2>&1", dir, dir) == 0;
}

/* No raw byte that HTML/XML must never carry from data. */
static void assert_no_raw_bytes(const char *s, const char *what)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        ck_assert_msg(!(*p < 0x20 && *p != '\n' && *p != '\t') && *p != 0xff && *p != 0xfe,
                      "%s has a raw byte 0x%02x at %ld", what, *p,
                      (long)(p - (const unsigned char *)s));
}

/* The text of the first <pre class="repro"> after `after`, entities decoded. */
static char *repro_from_html(const char *html, const char *after)
{
    const char *p = strstr(html, after), *q, *end;
    char *out, *o;
    ck_assert_msg(p != NULL, "no '%s' in the report", after);
    q = strstr(p, "<pre class=\"repro\">");
    ck_assert_msg(q != NULL, "no reproducer after '%s'", after);
    q += strlen("<pre class=\"repro\">");
    end = strstr(q, "</pre>");
    ck_assert(end != NULL);
    out = o = calloc(1, (size_t)(end - q) + 1);
    ck_assert(out != NULL);
    while (q < end) {
        static const struct { const char *ent; char c; } ents[] = {
            {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''}};
        int hit = 0;
        for (size_t i = 0; i < sizeof ents / sizeof ents[0] && !hit; i++)
            if (strncmp(q, ents[i].ent, strlen(ents[i].ent)) == 0) {
                *o++ = ents[i].c;
                q += strlen(ents[i].ent);
                hit = 1;
            }
        if (!hit)
            *o++ = *q++;
    }
    return out;
}

static long long q_int(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;
    ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static char *q_text(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *v = NULL;
    ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void report_to(const char *db, const char *outdir)
{
    rp_report_opts o;
    rp_report_info info;
    pl_errbuf eb = {{0}};
    memset(&o, 0, sizeof o);
    o.db_path = db;
    o.outdir = outdir;
    o.self = "bin/replayproof";
    ck_assert_msg(rp_report_write(&o, &info, &eb) == 0, "%s", eb.msg);
}

/* ---------------------------------------------------------------- escaping */

START_TEST(escaping_html_xml_md)
{
    /* markup, quotes, controls, bad UTF-8 (stray byte, overlong '/',
     * surrogate, above U+10FFFF), and valid two- and four-byte characters */
    static const char in[] = "<script>a&\"b'\x01\x1b\x7f\xff\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80"
                             "\xc3\xa9\xf0\x9f\x98\x80|*\n";
    char *h = esc_to_string(in, sizeof in - 1, RP_ESC_HTML, 0);
    char *x = esc_to_string(in, sizeof in - 1, RP_ESC_XML, 1);
    char *m = esc_to_string(in, sizeof in - 1, RP_ESC_MD, 0);
    const char *esc = "<span class=\"esc\">";
    ck_assert_str_eq(h, "&lt;script&gt;a&amp;&quot;b&#39;"
                        "<span class=\"esc\">\\x01</span><span class=\"esc\">\\x1b</span>"
                        "<span class=\"esc\">\\x7f</span><span class=\"esc\">\\xff</span>"
                        "<span class=\"esc\">\\xc0</span><span class=\"esc\">\\xaf</span>"
                        "<span class=\"esc\">\\xed</span><span class=\"esc\">\\xa0</span>"
                        "<span class=\"esc\">\\x80</span><span class=\"esc\">\\xf4</span>"
                        "<span class=\"esc\">\\x90</span><span class=\"esc\">\\x80</span>"
                        "<span class=\"esc\">\\x80</span>\xc3\xa9\xf0\x9f\x98\x80|*"
                        "<span class=\"esc\">\\x0a</span>");
    ck_assert_str_eq(x, "&lt;script&gt;a&amp;&quot;b&#39;\\x01\\x1b\\x7f\\xff\\xc0\\xaf\\xed"
                        "\\xa0\\x80\\xf4\\x90\\x80\\x80\xc3\xa9\xf0\x9f\x98\x80|*\n");
    ck_assert_str_eq(m, "&lt;script&gt;a&amp;&quot;b&#39;\\\\x01\\\\x1b\\\\x7f\\\\xff\\\\xc0"
                        "\\\\xaf\\\\xed\\\\xa0\\\\x80\\\\xf4\\\\x90\\\\x80\\\\x80\xc3\xa9"
                        "\xf0\x9f\x98\x80\\|\\*\\\\x0a");
    ck_assert(strstr(h, esc) != NULL);
    free(h);
    free(x);
    free(m);
    /* an embedded NUL is shown, not a terminator */
    x = esc_to_string("a\0b", 3, RP_ESC_XML, 0);
    ck_assert_str_eq(x, "a\\x00b");
    free(x);
}
END_TEST

START_TEST(shell_quote_round_trips)
{
    static const char *const words[] = {"plain/path.ini", "it's <here>", "", "a b\tc$`\\"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        char q[256] = "", cmd[600], *tmp = tu_tmpdir(), *got;
        hn_run_shell_quote(q, sizeof q, words[i]);
        snprintf(cmd, sizeof cmd, "printf '%%s' %s > '%s/w'", q, tmp);
        ck_assert_int_eq(tu_sh("%s", cmd), 0);
        snprintf(cmd, sizeof cmd, "%s/w", tmp);
        got = tu_slurp(cmd, NULL);
        ck_assert_str_eq(got, words[i]);
        free(got);
        tu_rmrf(tmp);
        free(tmp);
    }
}
END_TEST

/* ---------------------------------------------- hostile data, straight in */

static const char hostile_name[] = "<script>alert(1)</script>\"q'\x01\xff";
static const char hostile_line[] = "1s,<b>S\x1b[31m</b>,\xfe\xff,\"x'&,\xc3\xa9";

static int64_t hostile_db(const char *db_path)
{
    hn_res *db = NULL;
    pl_errbuf eb = {{0}};
    char *argv[] = {"replayproof", "run", (char *)hostile_name};
    int64_t run = 0, sid = 0;
    hn_res_div d;
    hn_res_trial t;
    hn_res_scenario s;
    ck_assert_msg(hn_res_open(db_path, &db, &eb) == 0, "%s", eb.msg);
    ck_assert(hn_res_run_begin(db, 3, argv, &run, &eb) == 0);
    ck_assert(hn_res_prov_set(db, run, "git_commit", "<i>abc</i>\x02", &eb) == 0);
    ck_assert(hn_res_scenario_begin(db, run, hostile_name, hostile_name, &sid, &eb) == 0);
    ck_assert(hn_res_hits_add(db, sid, "<p>oint/\x03", 5, &eb) == 0);
    memset(&d, 0, sizeof d);
    snprintf(d.tbl, sizeof d.tbl, "bars");
    d.line = 7;
    snprintf(d.expected, sizeof d.expected, "%s", hostile_line);
    snprintf(d.actual, sizeof d.actual, "1s,S,\x80\x81,<img src=x onerror=alert(1)>,\x7f");
    memset(&t, 0, sizeof t);
    t.crashes = "<p>oint/\x03:2,sink/commit/before:1";
    t.point = "<p>oint/\x03";
    t.k = 2;
    t.verdict = "diverged";
    t.restarts = 2;
    t.duration_ms = 42;
    t.digest[0] = t.digest[1] = t.digest[2] = "";
    t.state_dir = "/nonexistent/<dir>'\x04";
    t.detail = "bars.csv differs \x1b]0;title\x07";
    t.ndiv = 1;
    t.div = &d;
    t.seq = 0;
    ck_assert(hn_res_trial_add(db, sid, &t, &eb) == 0);
    memset(&s, 0, sizeof s);
    s.verdict = "failed";
    s.records = 10;
    s.golden[0] = s.golden[1] = s.golden[2] = "";
    s.batch[0] = s.batch[1] = s.batch[2] = "";
    s.planned = s.run = s.failures = 1;
    s.duration_ms = 5;
    s.trials_ms = 3;
    s.detail = "<script>detail</script>\xff";
    ck_assert(hn_res_scenario_end(db, sid, &s, &eb) == 0);
    ck_assert(hn_res_run_end(db, run, 1, &eb) == 0);
    hn_res_close(db);
    return run;
}

START_TEST(hostile_names_come_out_escaped)
{
    char *tmp = tu_tmpdir(), db[4096], out[4096], *html, *xml, *md;
    snprintf(db, sizeof db, "%s/results.db", tmp);
    snprintf(out, sizeof out, "%s/report", tmp);
    hostile_db(db);
    report_to(db, out);
    html = file_in(out, "index.html");
    xml = file_in(out, "junit.xml");
    md = file_in(out, "summary.md");
    /* nothing from data became markup */
    ck_assert(strstr(html, "<script") == NULL);
    ck_assert(strstr(html, "<b>S") == NULL && strstr(html, "<i>abc") == NULL &&
              strstr(html, "<img") == NULL && strstr(html, "<p>oint") == NULL);
    ck_assert(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;&quot;q&#39;") != NULL);
    ck_assert(strstr(html, "<span class=\"esc\">\\x1b</span>") != NULL);
    ck_assert(strstr(html, "<span class=\"esc\">\\xff</span>") != NULL);
    ck_assert(strstr(html, "\xc3\xa9") != NULL); /* valid UTF-8 stays */
    assert_no_raw_bytes(html, "index.html");
    /* the page forbids every fetch */
    ck_assert(strstr(html, "content=\"default-src 'none'; style-src 'unsafe-inline'; "
                           "img-src data:\"") != NULL);
    /* the reproducer quotes the hostile path for the shell */
    ck_assert(strstr(html, "bin/replayproof replay &#39;&lt;script&gt;") != NULL);
    ck_assert(strstr(xml, "<script") == NULL);
    assert_no_raw_bytes(xml, "junit.xml");
    ck_assert_msg(xmllint_ok(out), "junit.xml does not validate");
    ck_assert(strstr(md, "<script") == NULL && strstr(md, "<img") == NULL);
    ck_assert(strstr(md, "&lt;script&gt;") != NULL);
    assert_no_raw_bytes(md, "summary.md");
    free(html);
    free(xml);
    free(md);
    tu_rmrf(tmp);
    free(tmp);
}
END_TEST

/* ------------------------------------------------------- degraded reports */

START_TEST(report_without_gnuplot_zero_trials_batch_only)
{
    char *tmp = tu_tmpdir(), db_path[4096], out[4096], *html, *xml, *md;
    hn_res *db = NULL;
    pl_errbuf eb = {{0}};
    char *argv[] = {"replayproof", "run"};
    int64_t run = 0, sid = 0, run2 = 0;
    hn_res_scenario s;
    hn_res_div d;

    snprintf(db_path, sizeof db_path, "%s/results.db", tmp);
    snprintf(out, sizeof out, "%s/report", tmp);
    ck_assert(hn_res_open(db_path, &db, &eb) == 0);
    ck_assert(hn_res_run_begin(db, 2, argv, &run, &eb) == 0);
    memset(&s, 0, sizeof s);
    s.records = 100;
    s.golden[0] = s.golden[1] = s.golden[2] = "";
    s.batch[0] = s.batch[1] = s.batch[2] = "";
    /* a scenario whose patterns hit nothing: zero trials */
    ck_assert(hn_res_scenario_begin(db, run, "nothing", "s/nothing.ini", &sid, &eb) == 0);
    s.verdict = "no-points";
    s.detail = "no selected fail point was hit: nothing was tested";
    ck_assert(hn_res_scenario_end(db, sid, &s, &eb) == 0);
    /* only the golden run against batch failed */
    ck_assert(hn_res_scenario_begin(db, run, "batchonly", "s/batch.ini", &sid, &eb) == 0);
    memset(&d, 0, sizeof d);
    snprintf(d.tbl, sizeof d.tbl, "late");
    d.line = 3;
    snprintf(d.expected, sizeof d.expected, "0,5,100,AAA,1.00000000,7,200");
    d.actual_eof = 1;
    ck_assert(hn_res_div_add(db, sid, &d, &eb) == 0);
    s.verdict = "batch-disagrees";
    s.failures = 1;
    s.detail = "the golden run and refpipe batch disagree on late.csv (first at line 3)";
    ck_assert(hn_res_scenario_end(db, sid, &s, &eb) == 0);
    ck_assert(hn_res_run_end(db, run, 1, &eb) == 0);
    /* and a run that ended before any scenario */
    ck_assert(hn_res_run_begin(db, 2, argv, &run2, &eb) == 0);
    ck_assert(hn_res_run_end(db, run2, 3, &eb) == 0);
    hn_res_close(db);

    setenv("RP_GNUPLOT", "/nonexistent/gnuplot", 1);
    {
        rp_report_opts o;
        rp_report_info info;
        memset(&o, 0, sizeof o);
        o.db_path = db_path;
        o.run_id = run;
        o.outdir = out;
        o.self = "bin/replayproof";
        ck_assert_msg(rp_report_write(&o, &info, &eb) == 0, "%s", eb.msg);
        ck_assert_int_eq(info.plots, 0);
        /* the batch-only scenario has no trials: nothing to plot there, and
         * no run dir: bars and late are missing in both scenarios */
        ck_assert(info.plots_missing >= 4);
    }
    html = file_in(out, "index.html");
    xml = file_in(out, "junit.xml");
    md = file_in(out, "summary.md");
    ck_assert(strstr(html, "</html>") != NULL);
    ck_assert(strstr(html, "Nothing to plot: no trials were run") != NULL);
    ck_assert(strstr(html, "Plot missing: the golden export was not kept") != NULL);
    ck_assert(strstr(html, "class=\"v warn\">no-points") != NULL);
    /* the batch disagreement as a field diff with the missing side marked */
    ck_assert(strstr(html, "(the actual file ended before it)") != NULL);
    ck_assert(strstr(html, "<tr class=\"d\"><td class=\"f\">watermark_ns</td>") != NULL);
    ck_assert_msg(xmllint_ok(out), "junit.xml does not validate");
    ck_assert(strstr(xml, "<failure type=\"batch-disagrees\"") != NULL);
    ck_assert(strstr(md, "| batchonly | **batch-disagrees** | 0 | 0 | 0 | - |") != NULL);
    free(html);
    free(xml);
    free(md);

    /* gnuplot missing where there is something to plot: said so */
    {
        hn_res_trial t;
        int64_t run3 = 0;
        ck_assert(hn_res_open(db_path, &db, &eb) == 0);
        ck_assert(hn_res_run_begin(db, 2, argv, &run3, &eb) == 0);
        ck_assert(hn_res_scenario_begin(db, run3, "one", "s/one.ini", &sid, &eb) == 0);
        memset(&t, 0, sizeof t);
        t.crashes = "a/b/c:1";
        t.point = "a/b/c";
        t.k = 1;
        t.verdict = "converged";
        t.digest[0] = t.digest[1] = t.digest[2] = t.state_dir = t.detail = "";
        ck_assert(hn_res_trial_add(db, sid, &t, &eb) == 0);
        s.verdict = "converged";
        s.detail = "";
        s.run = s.planned = 1;
        s.failures = 0;
        ck_assert(hn_res_scenario_end(db, sid, &s, &eb) == 0);
        ck_assert(hn_res_run_end(db, run3, 0, &eb) == 0);
        hn_res_close(db);
    }
    report_to(db_path, out);
    html = file_in(out, "index.html");
    ck_assert(strstr(html, "gnuplot is not installed, so no plot could be drawn") != NULL);
    ck_assert(strstr(html, "<svg") == NULL);
    free(html);

    /* the run without scenarios */
    {
        rp_report_opts o;
        rp_report_info info;
        memset(&o, 0, sizeof o);
        o.db_path = db_path;
        o.run_id = run2;
        o.outdir = out;
        ck_assert(rp_report_write(&o, &info, &eb) == 0);
        ck_assert_msg(xmllint_ok(out), "junit.xml of an empty run does not validate");
        html = file_in(out, "index.html");
        ck_assert(strstr(html, "This run has no scenario.") != NULL);
        free(html);
        /* a run that does not exist is PL_ENOTFOUND */
        o.run_id = 999;
        ck_assert_int_eq(rp_report_write(&o, &info, &eb), PL_ENOTFOUND);
    }
    tu_rmrf(tmp);
    free(tmp);
}
END_TEST

/* ------------------------------------------------------------ kill matrix */

START_TEST(kill_matrix_shown_when_recorded)
{
    char *tmp = tu_tmpdir(), db_path[4096], out[4096], *html;
    hn_res *db = NULL;
    pl_errbuf eb = {{0}};
    char *argv[] = {"replayproof", "mutants"};
    int64_t run = 0, later = 0;
    hn_res_mutant m[] = {
        {"late-lt", "a", "a.ini", "caught", "batch-disagrees", "golden run vs batch", 0, 5,
         "bin/replayproof run a.ini", NULL},
        {"late-lt", "b", "b.ini", "caught", "diverged", "x/y:1", 3, 5, NULL, NULL},
        {"float-<vwap>", "a", "a.ini", "survived", "converged", NULL, 9, 5, NULL, NULL},
        {"float-<vwap>", "b", "b.ini", "caught", "diverged", "x/y:2", 4, 5, NULL, NULL},
    };
    snprintf(db_path, sizeof db_path, "%s/results.db", tmp);
    snprintf(out, sizeof out, "%s/report", tmp);
    ck_assert(hn_res_open(db_path, &db, &eb) == 0);
    ck_assert(hn_res_run_begin(db, 2, argv, &run, &eb) == 0);
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        ck_assert_msg(hn_res_mutant_add(db, run, &m[i], &eb) == 0, "%s", eb.msg);
    ck_assert(hn_res_run_end(db, run, 1, &eb) == 0);
    ck_assert(hn_res_run_begin(db, 2, argv, &later, &eb) == 0);
    ck_assert(hn_res_run_end(db, later, 0, &eb) == 0);
    hn_res_close(db);
    setenv("RP_GNUPLOT", "/nonexistent/gnuplot", 1);
    report_to(db_path, out); /* the later run shows the latest matrix before it */
    html = file_in(out, "index.html");
    ck_assert(strstr(html, "<h2>Kill matrix</h2>") != NULL);
    ck_assert(strstr(html, "run 1, the latest before this run") != NULL);
    /* late-lt is caught twice, float-<vwap> once (shaded, escaped) */
    ck_assert(strstr(html, "<tr><td class=\"mono\">late-lt</td><td class=\"n\">2</td>") != NULL);
    ck_assert(strstr(html, "<tr class=\"d\"><td class=\"mono\">float-&lt;vwap&gt;</td>"
                           "<td class=\"n\">1</td>") != NULL);
    ck_assert(strstr(html, "<span class=\"v bad\">survived</span>") != NULL);
    ck_assert(strstr(html, "after 3 trials") != NULL);
    free(html);
    tu_rmrf(tmp);
    free(tmp);
}
END_TEST

/* ----------------------------------------------------------------- rundir */

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

START_TEST(rundir_keeps_under_cap_and_prunes)
{
    char *tmp = tu_tmpdir(), runs[1024], dirs[3][2048], link[1100], target[4096], work[1024];
    char sdir[4096], p[4600];
    pl_errbuf eb = {{0}};
    hn_scenario_result r;
    int64_t budget;
    int removed = 0, dropped = 0;
    ssize_t n;

    snprintf(runs, sizeof runs, "%s/out/runs", tmp);
    for (int i = 0; i < 3; i++) {
        usleep(30000); /* runs of one second are told apart by their dirs' times */
        ck_assert_msg(hn_rundir_create(runs, dirs[i], sizeof dirs[i], &eb) == 0, "%s", eb.msg);
        ck_assert(strstr(dirs[i], "/out/runs/") != NULL);
    }
    ck_assert(strcmp(dirs[0], dirs[1]) != 0 && strcmp(dirs[1], dirs[2]) != 0);
    snprintf(link, sizeof link, "%s/latest", runs);
    n = readlink(link, target, sizeof target - 1);
    ck_assert(n > 0);
    target[n] = 0;
    ck_assert_str_eq(target, strrchr(dirs[2], '/') + 1);

    /* a work dir with golden tables and two kept trials of 600 KB each */
    snprintf(work, sizeof work, "%s/work", tmp);
    ck_assert_int_eq(tu_sh("mkdir -p '%s/golden/export' '%s/trials/3/state' '%s/trials/12/state' "
                           "'%s/log' && echo bars > '%s/golden/export/bars.csv' && "
                           "head -c 600000 /dev/zero > '%s/trials/3/state/a' && "
                           "head -c 600000 /dev/zero > '%s/trials/12/state/a'",
                           work, work, work, work, work, work, work), 0);
    memset(&r, 0, sizeof r);
    snprintf(r.workdir, sizeof r.workdir, "%s", work);
    r.failures = calloc(2, sizeof *r.failures);
    ck_assert(r.failures != NULL);
    r.nkept = 2;
    snprintf(r.failures[0].state_dir, sizeof r.failures[0].state_dir, "%s/trials/3/state", work);
    snprintf(r.failures[1].state_dir, sizeof r.failures[1].state_dir, "%s/trials/12/state",
             work);
    snprintf(sdir, sizeof sdir, "%s/sc", dirs[2]);
    budget = 1000000; /* room for one trial */
    ck_assert_msg(hn_rundir_keep(sdir, &r, NULL, 0, &budget, &dropped, &eb) == 0, "%s", eb.msg);
    ck_assert_int_eq(dropped, 1);
    ck_assert_int_eq(access(work, F_OK), -1); /* the work dir is gone */
    snprintf(p, sizeof p, "%s/trials/3/state/a", sdir);
    ck_assert_int_eq(access(p, R_OK), 0);
    snprintf(p, sizeof p, "%s/trials/12", sdir);
    ck_assert_int_eq(access(p, F_OK), -1);
    snprintf(p, sizeof p, "%s/golden/bars.csv", sdir);
    ck_assert_int_eq(access(p, R_OK), 0);
    snprintf(p, sizeof p, "%s/trials/3/state", sdir);
    ck_assert_str_eq(r.failures[0].state_dir, p);
    ck_assert_str_eq(r.failures[1].state_dir, "");
    ck_assert_str_eq(r.workdir, sdir);
    ck_assert(budget < 1000000 - 600000);
    free(r.failures);

    /* prune to two: the oldest goes, the current and latest stay */
    ck_assert(hn_rundir_prune(runs, 2, dirs[2], &removed, &eb) == 0);
    ck_assert_int_eq(removed, 1);
    ck_assert_int_eq(access(dirs[0], F_OK), -1);
    ck_assert_int_eq(access(dirs[1], F_OK), 0);
    ck_assert_int_eq(access(dirs[2], F_OK), 0);
    ck_assert_int_eq(count_entries(runs), 3); /* two runs and latest */
    tu_rmrf(tmp);
    free(tmp);
}
END_TEST

/* ------------------------------------------------------------- end to end */

static char *write_scenario(const tu_env *e, const char *name, const char *pipeline,
                            const char *faults)
{
    char *path = NULL, *text = NULL;
    ck_assert(asprintf(&path, "%s/%s.ini", e->tmp, name) > 0);
    ck_assert(asprintf(&text,
                       "[scenario]\nname = %s\n"
                       "[workload]\nseed = 3\npartitions = 2\nsymbols = 5\nduration = 20s\n"
                       "rate = 100\npoison-frac = 0.5%%\ndisorder = 2s\n"
                       "[pipeline]\nagg = 1s=tumbling:1s\ncheckpoint-every = 200\n"
                       "max-delay = 500ms\n%s"
                       "[faults]\n%s[expect]\nconverge = true\n",
                       name, pipeline, faults) > 0);
    tu_write(path, text);
    free(text);
    return path;
}

/* a run of three broken scenarios; returns replayproof's exit status */
static int broken_run(tu_env *e, char **dbl)
{
    char *hang, *loop, *hs, *ls, extra[1400], pidfile[700];
    int rc;
    *dbl = write_scenario(e, "dbl", "env = REFPIPE_UNSAFE=offsets-before-sink\n",
                          "points = sink/commit/before, ckpt/done/after\nhits = sample 4\n"
                          "crashes = 2\nbudget = 40\n");
    snprintf(pidfile, sizeof pidfile, "%s/hung.pid", e->tmp);
    snprintf(extra, sizeof extra, "if [ \"$1\" = run ] && [ -n \"$RP_FIU_CRASH\" ]; then\n"
             "  echo $$ > '%s'; exec sleep 1000\nfi", pidfile);
    hs = tu_script(e->tmp, "hangs.sh", extra);
    snprintf(extra, sizeof extra, "binary = %s\n", hs);
    hang = write_scenario(e, "hang", extra, "points = sink/commit/after\nhits = 2\ntimeout = 1s\n");
    ls = tu_script(e->tmp, "loops.sh",
                      "if [ \"$1\" = run ] && [ -z \"$RP_FIU_CRASH$RP_FIU_COUNT\" ] && "
                      "ls \"$3\"/ckpt-* >/dev/null 2>&1; then kill -KILL $$; fi");
    snprintf(extra, sizeof extra, "binary = %s\n", ls);
    loop = write_scenario(e, "loop", extra,
                          "points = sink/commit/before\nhits = 3, 4\nmax-restarts = 3\n");
    rc = tu_sh("'%s' run -q -j 2 --results '%s' --workdir '%s' '%s' '%s' '%s' >'%s/stdout' "
               "2>'%s/stderr'",
               tu_bin("replayproof"), e->db, e->work, *dbl, hang, loop, e->tmp, e->tmp);
    free(hang);
    free(loop);
    free(hs);
    free(ls);
    return rc;
}

static void dump(const tu_env *e)
{
    char p[700];
    char *o, *er;
    snprintf(p, sizeof p, "%s/stdout", e->tmp);
    o = tu_slurp(p, NULL);
    snprintf(p, sizeof p, "%s/stderr", e->tmp);
    er = tu_slurp(p, NULL);
    fprintf(stderr, "---- stdout\n%s---- stderr\n%s----\n", o ? o : "", er ? er : "");
    free(o);
    free(er);
}

START_TEST(report_of_broken_runs)
{
    tu_env e;
    char *dbl, latest[700], rundir[4096], *html, *xml, *md, *line, *out, *rd, sql[4600];
    char *xx;
    int rc;

    tu_env_open(&e);
    rc = broken_run(&e, &dbl);
    if (rc != 1)
        dump(&e);
    ck_assert_int_eq(rc, 1);
    snprintf(latest, sizeof latest, "%s/out/runs/latest", e.tmp);
    ck_assert(realpath(latest, rundir) != NULL);
    rd = q_text(e.db, "SELECT value FROM provenance WHERE key = 'run_dir'");
    ck_assert(rd != NULL);
    ck_assert_str_eq(rd, rundir);

    html = file_in(rundir, "index.html");
    xml = file_in(rundir, "junit.xml");
    md = file_in(rundir, "summary.md");
    /* grouped failures with a field diff and every crash of a double crash */
    ck_assert(strstr(html, "<h3>Group 1: ") != NULL);
    ck_assert(strstr(html, ", first difference in <code>bars.csv</code> line ") != NULL);
    ck_assert(strstr(html, "</span> kill at <code>") != NULL);
    ck_assert(strstr(html, "<tr class=\"d\"><td class=\"f\">") != NULL);
    ck_assert(strstr(html, "<th>expected (golden)</th>") != NULL);
    ck_assert(strstr(html, "<li>process 1: crash at <code>") != NULL);
    ck_assert(strstr(html, "<li>process 2 (the first restart): crash at <code>") != NULL);
    ck_assert(strstr(html, "class=\"v bad\">hang</span>") != NULL);
    ck_assert(strstr(html, "class=\"v bad\">crash-loop</span>") != NULL);
    ck_assert(strstr(html, "<svg") != NULL); /* gnuplot is installed by make deps */
    ck_assert(strstr(html, "id=\"plot-0-bars\"") != NULL);
    /* the failure groups are distinct: no two groups of one scenario with
     * the same first difference (checked through the database) */
    ck_assert(q_int(e.db, "SELECT count(*) FROM trials WHERE verdict = 'diverged'") >= 2);

    /* nothing of the run is left in the (tmpfs) work dir */
    ck_assert_int_eq(count_entries(e.work), 0);

    /* the reproducer, pasted from the project root, reproduces (exit 1) */
    line = repro_from_html(html, "<h2>dbl ");
    ck_assert_msg(strncmp(line, RP_BINDIR "/replayproof replay ",
                          strlen(RP_BINDIR "/replayproof replay ")) == 0, "%s", line);
    ck_assert(strstr(line, ",") != NULL); /* both crashes of the schedule */
    rc = tu_sh("%s --workdir '%s' >'%s/replay' 2>&1", line, e.work, e.tmp);
    {
        char p[700];
        snprintf(p, sizeof p, "%s/replay", e.tmp);
        out = tu_slurp(p, NULL);
    }
    ck_assert_msg(rc == 1, "reproducer '%s' exited %d:\n%s", line, rc, out);
    ck_assert(strstr(out, "verdict: diverged") != NULL);
    free(out);
    free(line);

    ck_assert_msg(xmllint_ok(rundir), "junit.xml does not validate");
    ck_assert(strstr(xml, "<testsuite name=\"dbl\"") != NULL);
    ck_assert(strstr(xml, "<failure type=\"hang\"") != NULL);
    ck_assert(strstr(xml, "reproduce: " RP_BINDIR "/replayproof replay ") != NULL);
    ck_assert(strncmp(md, "## replayproof run ", 19) == 0);
    ck_assert(strstr(md, "| scenario | verdict | trials | failed | failure groups | trials/s |") !=
              NULL);
    ck_assert(strstr(md, "| hang | **failed** |") != NULL);
    ck_assert(strstr(md, "```sh\n   " RP_BINDIR "/replayproof replay ") != NULL);

    /* kept state dirs moved into the run dir */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM trials WHERE state_dir IS NOT NULL AND "
             "substr(state_dir, 1, %zu) <> '%s'", strlen(rundir), rundir);
    ck_assert_int_eq(q_int(e.db, sql), 0);
    ck_assert(q_int(e.db, "SELECT count(*) FROM trials WHERE state_dir IS NOT NULL") >= 3);
    xx = q_text(e.db, "SELECT state_dir FROM trials WHERE state_dir IS NOT NULL LIMIT 1");
    ck_assert_int_eq(access(xx, X_OK), 0);
    free(xx);

    /* provenance: digests agree with xxhsum, versions and host are there */
    ck_assert_int_eq(q_int(e.db, "SELECT count(*) FROM provenance WHERE key IN ('sqlite', "
                                 "'libfiu', 'host', 'cores_online', 'git_commit', "
                                 "'git_dirty')"), 6);
    ck_assert_int_eq(q_int(e.db, "SELECT count(*) FROM run_files WHERE role = 'scenario'"), 3);
    ck_assert_int_eq(q_int(e.db, "SELECT count(*) FROM run_files WHERE role = 'log' AND "
                                 "length(xxh3) = 32"), 3);
    xx = q_text(e.db, "SELECT xxh3 FROM run_files WHERE role = 'scenario' AND scenario = 'dbl'");
    ck_assert(xx != NULL);
    ck_assert_int_eq(tu_sh("xxhsum -H2 '%s' | grep -q '^%s '", dbl, xx), 0);
    free(xx);
    xx = q_text(e.db, "SELECT xxh3 FROM run_files WHERE role = 'binary' AND scenario = 'dbl'");
    ck_assert(xx != NULL);
    ck_assert_int_eq(tu_sh("xxhsum -H2 '%s' | grep -q '^%s '", tu_bin("refpipe-fiu"), xx), 0);
    free(xx);
    ck_assert(strstr(html, "<h2>Provenance</h2>") != NULL);

    /* replayproof report: by run dir, by number, elsewhere; a bad run is 2 */
    ck_assert_int_eq(tu_sh("'%s' report --results '%s' '%s' -o '%s/again' >/dev/null",
                           tu_bin("replayproof"), e.db, latest, e.tmp), 0);
    ck_assert_int_eq(tu_sh("cmp -s '%s/index.html' '%s/again/index.html'", rundir, e.tmp), 0);
    ck_assert_int_eq(tu_sh("'%s' report --results '%s' 1 -o '%s/again' >/dev/null",
                           tu_bin("replayproof"), e.db, e.tmp), 0);
    ck_assert_int_eq(tu_sh("'%s' report --results '%s' 7 -o '%s/again' 2>/dev/null",
                           tu_bin("replayproof"), e.db, e.tmp), 2);
    ck_assert_int_eq(tu_sh("ls '%s/again' | grep -c tmp >/dev/null", e.tmp), 1);

    free(html);
    free(xml);
    free(md);
    free(rd);
    free(dbl);
    tu_env_close(&e);
}
END_TEST

/* ---------------------------------------------------------------- browser */

/*
 * Headless Chromium loads a report from disk.  Console messages (script
 * errors, Content-Security-Policy refusals of any fetch) are logged on
 * stderr as "CONSOLE"; requests the page starts are in the net log with the
 * file page's opaque origin as initiator ("null"), unlike the browser's own
 * background requests.  The detector is first shown to catch a page that
 * does fetch something.  The screenshot stays in out/test-report/.
 */
static const char *chromium_flags =
    "--headless --no-sandbox --disable-gpu --hide-scrollbars --enable-logging=stderr --v=0 "
    "--disable-background-networking --disable-component-update --disable-sync "
    "--no-first-run --disable-default-apps --disable-extensions";

static int page_is_clean(const char *dir, const char *page, const char *extra)
{
    int rc = tu_sh("cd '%s' && HOME='%s' timeout 120 chromium %s --user-data-dir='%s/profile' "
                   "--log-net-log='%s/net.json' %s 'file://%s' >'%s/dom.html' 2>'%s/chromium.log'",
                   dir, dir, chromium_flags, dir, dir, extra, page, dir, dir);
    int clean;
    ck_assert_msg(rc == 0, "chromium exited %d (see %s/chromium.log)", rc, dir);
    clean = tu_sh("! grep -q 'CONSOLE' '%s/chromium.log' && "
                  "! grep -q '\"initiator\":\"null\"' '%s/net.json'", dir, dir) == 0;
    tu_sh("rm -rf '%s/profile'", dir);
    return clean;
}

START_TEST(browser_loads_report_cleanly)
{
    tu_env e;
    char *dbl, dir[4096], cwd[2048], page[4600], bad[4600], rundir[4096], latest[700];
    char *dom;
    int rc;

    if (tu_sh("command -v chromium >/dev/null 2>&1") != 0) {
        fprintf(stderr, "SKIP browser_loads_report_cleanly: chromium is not installed and "
                        "could not be (make deps installs Debian's chromium)\n");
        return;
    }
    ck_assert(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(dir, sizeof dir, "%s/out/test-report", cwd);
    tu_sh("rm -rf '%s' && mkdir -p '%s'", dir, dir);

    /* the detector catches a page that fetches */
    snprintf(bad, sizeof bad, "%s/fetches.html", dir);
    tu_write(bad, "<!DOCTYPE html><html><body><img src=\"http://192.0.2.1/x.png\">"
                  "<script>console.error('boom')</script></body></html>");
    ck_assert_msg(!page_is_clean(dir, bad, "--dump-dom"), "the detector missed a fetch");
    unlink(bad);

    tu_env_open(&e);
    rc = broken_run(&e, &dbl);
    if (rc != 1)
        dump(&e);
    ck_assert_int_eq(rc, 1);
    snprintf(latest, sizeof latest, "%s/out/runs/latest", e.tmp);
    ck_assert(realpath(latest, rundir) != NULL);
    snprintf(page, sizeof page, "%s/index.html", dir);
    ck_assert_int_eq(tu_sh("cp '%s/index.html' '%s'", rundir, page), 0);
    ck_assert_msg(page_is_clean(dir, page, "--dump-dom"),
                  "console messages or requests while loading the report: see %s", dir);
    dom = file_in(dir, "dom.html");
    ck_assert(strstr(dom, "<h2>Scenarios</h2>") != NULL);
    ck_assert(strstr(dom, "<svg") != NULL);
    free(dom);
    ck_assert_msg(page_is_clean(dir, page, "--window-size=1200,2400 --screenshot=screenshot.png"),
                  "console messages or requests while rendering the report: see %s", dir);
    ck_assert_int_eq(tu_sh("test -s '%s/screenshot.png'", dir), 0);
    tu_sh("rm -f '%s/net.json'", dir);
    free(dbl);
    tu_env_close(&e);
}
END_TEST

Suite *report_suite(void)
{
    Suite *s = suite_create("report");
    TCase *unit = tcase_create("unit"), *e2e = tcase_create("end-to-end");
    tcase_add_test(unit, escaping_html_xml_md);
    tcase_add_test(unit, shell_quote_round_trips);
    tcase_add_test(unit, hostile_names_come_out_escaped);
    tcase_add_test(unit, report_without_gnuplot_zero_trials_batch_only);
    tcase_add_test(unit, kill_matrix_shown_when_recorded);
    tcase_add_test(unit, rundir_keeps_under_cap_and_prunes);
    tcase_set_timeout(e2e, 240);
    tcase_add_test(e2e, report_of_broken_runs);
    tcase_add_test(e2e, browser_loads_report_cleanly);
    suite_add_tcase(s, unit);
    suite_add_tcase(s, e2e);
    return s;
}
