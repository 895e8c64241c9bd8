/*
 * summary.c - summary.md of a run (rp_report.h: rp_summary_write): the
 * verdict table and the largest failure groups with their reproducers,
 * short enough for a CI job summary or a pull-request comment (GitHub
 * markdown).  Everything from data goes through rp_md; reproducer lines go
 * into fenced blocks when they are plain printable ASCII, so that they can be
 * copied as they are.
 */
#include "rp_report.h"

#include <inttypes.h>
#include <string.h>

#include "rp_esc.h"

#define GROUPS_SHOWN 5 /* per scenario */

static int plain_ascii(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e || *s == '`')
            return 0;
    return 1;
}

int rp_summary_write(FILE *o, const rp_run *r, const char *self)
{
    const char *commit = rp_prov(r, "git_commit"), *dirty = rp_prov(r, "git_dirty");
    char line[16384];
    fprintf(o, "## replayproof run %" PRId64 ": %s\n\n", r->id,
            r->exit_status == 0 ? "all scenarios converged"
            : r->exit_status < 0 ? "unfinished"
            : r->exit_status == 3 ? "harness error" : "FAILED");
    fprintf(o, "Exit status %d", r->exit_status);
    if (commit) {
        fputs(", code ", o);
        rp_esc(o, commit, strlen(commit) > 12 ? 12 : strlen(commit), RP_ESC_MD, 0);
        if (dirty && strcmp(dirty, "1") == 0)
            fputs(" (with uncommitted changes)", o);
    }
    fputs(", started ", o);
    rp_md(o, r->started);
    fputs(".\n\n", o);
    if (rp_shard_text(r, line, sizeof line) == 2) {
        fputs("**", o);
        rp_md(o, line);
        fputs("**\n\n", o);
    } else if (line[0]) {
        rp_md(o, line);
        fputs("\n\n", o);
    }
    if (r->nscn) {
        fputs("| scenario | verdict | trials | failed | failure groups | trials/s |\n"
              "| --- | --- | ---: | ---: | ---: | ---: |\n", o);
        for (int i = 0; i < r->nscn; i++) {
            const rp_scn *s = &r->scn[i];
            fputs("| ", o);
            rp_md(o, s->name);
            fputs(" | ", o);
            if (strcmp(s->verdict, "converged") != 0)
                fputs("**", o);
            rp_md(o, s->verdict);
            if (strcmp(s->verdict, "converged") != 0)
                fputs("**", o);
            fprintf(o, " | %" PRId64 " | %d | %d | ", s->run, s->nfailed, s->ngroups);
            if (s->trials_ms > 0)
                fprintf(o, "%.1f", (double)s->run * 1000.0 / (double)s->trials_ms);
            else
                fputs("-", o);
            fputs(" |\n", o);
        }
        for (int i = 0; i < r->nscn; i++)
            if (r->scn[i].early_stopped || r->scn[i].guard_run || r->scn[i].snap_started) {
                fputs("\nEarly stop at convergence and snapshot starts: ", o);
                for (int j = 0, n = 0; j < r->nscn; j++) {
                    const rp_scn *s = &r->scn[j];
                    if (!s->early_stopped && !s->guard_run && !s->snap_started)
                        continue;
                    fputs(n++ ? "; " : "", o);
                    rp_md(o, s->name);
                    fprintf(o, " %d of %" PRId64 " trials stopped early, %d ran in full as "
                            "the soundness guard, %d started from a snapshot",
                            s->early_stopped, s->run, s->guard_run, s->snap_started);
                }
                fputs(".\n", o);
                break;
            }
    } else
        fputs("This run has no scenario.\n", o);
    for (int i = 0; i < r->nscn; i++) {
        const rp_scn *s = &r->scn[i];
        if (!s->ngroups && !s->nbdiv && strcmp(s->verdict, "converged") == 0)
            continue;
        fputs("\n### ", o);
        rp_md(o, s->name);
        fputs(": ", o);
        rp_md(o, s->verdict);
        fputs("\n\n", o);
        if (s->detail[0]) {
            rp_md(o, s->detail);
            fputs("\n\n", o);
        }
        for (int g = 0; g < s->ngroups && g < GROUPS_SHOWN; g++) {
            const rp_trial *t = &s->trials[s->groups[g].first];
            fprintf(o, "%d. **%d × ", g + 1, s->groups[g].count);
            rp_md(o, t->verdict);
            fputs("**", o);
            if (t->ndiv) {
                fputs(", first difference in ", o);
                rp_md(o, t->div[0].tbl);
                fprintf(o, ".csv line %" PRId64 ": expected ", t->div[0].line);
                rp_md(o, t->div[0].expected ? t->div[0].expected : "(end of file)");
                fputs(", actual ", o);
                rp_md(o, t->div[0].actual ? t->div[0].actual : "(end of file)");
            } else {
                fputs(", first crash at ", o);
                rp_md(o, t->point);
            }
            rp_repro(line, sizeof line, self, s, t);
            if (plain_ascii(line))
                fprintf(o, "\n   ```sh\n   %s\n   ```\n", line);
            else {
                fputs("\n   reproduce: ", o);
                rp_md(o, line);
                fputs("\n", o);
            }
        }
        if (s->ngroups > GROUPS_SHOWN)
            fprintf(o, "\n%d more failure groups are in index.html.\n",
                    s->ngroups - GROUPS_SHOWN);
    }
    fputs("\nThe full report, with field-by-field diffs, fault schedules and plots, is "
          "index.html next to this file.\n", o);
    return ferror(o) ? -5 : 0;
}
