/*
 * junit.c - junit.xml of a run (rp_report.h: rp_junit_write), in the JUnit
 * XML dialect that CI systems read (Jenkins' junit-10.xsd; the schema the
 * tests validate against is tests/junit-10.xsd).
 *
 * A testsuite per scenario; in it a testcase for the golden run against the
 * batch oracle, one for the [expect] bounds, and one per fail point (failing
 * when any trial whose first crash is there failed: the message names the
 * failure groups and carries the reproducer of the first failing trial).  A
 * scenario that could not be run is one testcase with an <error>.
 */
#include "rp_report.h"

#include <inttypes.h>
#include <string.h>

#include "rp_esc.h"

static void x(FILE *o, const char *s)
{
    rp_xml(o, s);
}

static void secs(FILE *o, int64_t ms)
{
    fprintf(o, "%" PRId64 ".%03" PRId64, ms > 0 ? ms / 1000 : 0, ms > 0 ? ms % 1000 : 0);
}

static void testcase_open(FILE *o, const rp_scn *s, const char *name, int64_t ms)
{
    fputs("    <testcase classname=\"replayproof.", o);
    x(o, s->name);
    fputs("\" name=\"", o);
    x(o, name);
    fputs("\" time=\"", o);
    secs(o, ms);
    fputs("\"", o);
}

/* Failing trials at point p, and the first of them. */
static int point_failures(const rp_scn *s, const char *p, const rp_trial **first)
{
    int n = 0;
    *first = NULL;
    for (int i = 0; i < s->ntrials; i++) {
        const rp_trial *t = &s->trials[i];
        if (t->v == RP_V_CONVERGED || strcmp(t->point, p) != 0)
            continue;
        if (!n++)
            *first = t;
    }
    return n;
}

static void point_case(FILE *o, const rp_scn *s, const rp_hit *p, const char *self)
{
    const rp_trial *t;
    int64_t ms = 0;
    int tried = 0, nf = point_failures(s, p->point, &t);
    char line[16384];
    for (int v = 0; v < RP_NV; v++)
        tried += p->by_v[v];
    for (int i = 0; i < s->ntrials; i++)
        if (strcmp(s->trials[i].point, p->point) == 0)
            ms += s->trials[i].duration_ms;
    char name[600];
    snprintf(name, sizeof name, "crash at %s", p->point);
    testcase_open(o, s, name, ms);
    if (tried == 0) {
        fputs(">\n      <skipped message=\"no trial crashed here (not planned)\"/>\n"
              "    </testcase>\n", o);
        return;
    }
    if (!nf) {
        fputs("/>\n", o);
        return;
    }
    rp_repro(line, sizeof line, self, s, t);
    fprintf(o, ">\n      <failure type=\"");
    x(o, t->verdict);
    fprintf(o, "\" message=\"%d of %d trials failed; first: ", nf, tried);
    x(o, t->verdict);
    fputs(" ", o);
    x(o, t->crashes);
    fputs("; reproduce: ", o);
    x(o, line);
    fputs("\">", o);
    /* the groups this point's failures fall into */
    for (int g = 0; g < s->ngroups; g++) {
        const rp_group *gr = &s->groups[g];
        int here = 0;
        for (int i = 0; i < gr->count; i++)
            here += strcmp(s->trials[gr->members[i]].point, p->point) == 0;
        if (!here)
            continue;
        const rp_trial *ft = &s->trials[gr->first];
        fprintf(o, "group %d (%d trials here, %d in all): %s", g + 1, here, gr->count,
                ft->verdict);
        if (ft->ndiv) {
            fputs(", first difference ", o);
            x(o, ft->div[0].tbl);
            fprintf(o, ".csv line %" PRId64 "\n  expected: ", ft->div[0].line);
            x(o, ft->div[0].expected ? ft->div[0].expected : "(end of file)");
            fputs("\n  actual:   ", o);
            x(o, ft->div[0].actual ? ft->div[0].actual : "(end of file)");
        } else if (ft->detail[0]) {
            fputs(": ", o);
            x(o, ft->detail);
        }
        fputs("\n", o);
    }
    fputs("reproduce with:\n", o);
    x(o, line);
    fputs("\n</failure>\n    </testcase>\n", o);
}

static int is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static void suite(FILE *o, const rp_run *r, const rp_scn *s, const char *self)
{
    int tests = 2, failures = 0, errors = 0, skipped = 0;
    int err = is(s->verdict, "error") || is(s->verdict, "running");
    const rp_trial *t;
    for (int i = 0; i < s->nhits; i++) {
        int tried = 0;
        for (int v = 0; v < RP_NV; v++)
            tried += s->hits[i].by_v[v];
        tests++;
        if (!tried)
            skipped++;
        else if (point_failures(s, s->hits[i].point, &t))
            failures++;
    }
    failures += s->nbdiv > 0;
    failures += is(s->verdict, "expectation-failed");
    if (err) {
        tests++;
        errors++;
    }
    fputs("  <testsuite name=\"", o);
    x(o, s->name);
    fprintf(o, "\" tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"", tests,
            failures, errors, skipped);
    secs(o, s->duration_ms);
    fputs("\" timestamp=\"", o);
    /* xs:dateTime without the Z and milliseconds that SQLite's text has */
    rp_esc(o, s->started, strlen(s->started) >= 19 ? 19 : strlen(s->started), RP_ESC_XML, 0);
    fputs("\" hostname=\"", o);
    x(o, r->host);
    fputs("\">\n    <properties>\n      <property name=\"verdict\" value=\"", o);
    x(o, s->verdict);
    fputs("\"/>\n      <property name=\"scenario_file\" value=\"", o);
    x(o, s->path);
    fprintf(o, "\"/>\n      <property name=\"trials_run\" value=\"%" PRId64 "\"/>\n"
               "      <property name=\"failure_groups\" value=\"%d\"/>\n"
               "      <property name=\"trials_converged_early\" value=\"%d\"/>\n"
               "      <property name=\"trials_full_run_guard\" value=\"%d\"/>\n"
               "      <property name=\"trials_from_snapshot\" value=\"%d\"/>\n"
               "    </properties>\n",
            s->run, s->ngroups, s->early_stopped, s->guard_run, s->snap_started);
    if (err) {
        testcase_open(o, s, "scenario", s->duration_ms);
        fputs(">\n      <error type=\"harness\" message=\"", o);
        x(o, s->detail[0] ? s->detail : s->verdict);
        fputs("\"/>\n    </testcase>\n", o);
    }
    testcase_open(o, s, "golden run agrees with refpipe batch", 0);
    if (s->nbdiv) {
        fputs(">\n      <failure type=\"batch-disagrees\" message=\"", o);
        x(o, s->detail);
        fputs("\">", o);
        for (int k = 0; k < s->nbdiv; k++) {
            x(o, s->bdiv[k].tbl);
            fprintf(o, ".csv line %" PRId64 "\n  batch:  ", s->bdiv[k].line);
            x(o, s->bdiv[k].expected ? s->bdiv[k].expected : "(end of file)");
            fputs("\n  golden: ", o);
            x(o, s->bdiv[k].actual ? s->bdiv[k].actual : "(end of file)");
            fputs("\n", o);
        }
        fputs("</failure>\n    </testcase>\n", o);
    } else
        fputs("/>\n", o);
    testcase_open(o, s, "expectations", 0);
    if (is(s->verdict, "expectation-failed")) {
        fputs(">\n      <failure type=\"expectation-failed\" message=\"", o);
        x(o, s->detail);
        fputs("\"/>\n    </testcase>\n", o);
    } else
        fputs("/>\n", o);
    for (int i = 0; i < s->nhits; i++)
        point_case(o, s, &s->hits[i], self);
    fputs("  </testsuite>\n", o);
}

int rp_junit_write(FILE *o, const rp_run *r, const char *self)
{
    fprintf(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"replayproof run "
               "%" PRId64 "\">\n", r->id);
    for (int i = 0; i < r->nscn; i++)
        suite(o, r, &r->scn[i], self);
    fputs("</testsuites>\n", o);
    return ferror(o) ? -5 : 0;
}
