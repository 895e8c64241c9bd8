/*
 * ftrials.c - the I/O-error and corruption faults in a running trial
 * (hn__fault_exit, called by trials.c whenever a run process ends).
 *
 * I/O error (ioerr:POINT:K:ERRNO), judged on the armed process:
 *   the fault fired (rp-crash.so's trace line) and the process exited 4 with
 *   one line            -> an I/O failure reported as such: restart
 *   fired, exited 0     -> absorbed (a short write completed): export
 *   fired, anything else (another status, several lines, a signal)
 *                       -> verdict io-error
 *   not fired           -> the usual handling (not-reached, error)
 * Corruption (corrupt:KIND[/SEED]@POINT:K): after the armed kill the state
 * dir is damaged (hn_corrupt.h), then the usual restart.  A later process
 * that refuses the state (exit 2, the reason its last line) is what the
 * contract allows: it
 * is noted and followed once by a run with --discard-state, which must then
 * converge like any other (once more after each such run that a
 * discard:POINT:K entry killed: the operator finishes the discard).
 * sink-value-rot (a stored bar's value changed, the page valid) is judged
 * by hn__judge_rot at the export instead of against the golden tables.
 */
#include "hn_runner_int.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "hn_corrupt.h"
#include "hn_faults.h"

static void add_note(slot *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_note(slot *s, const char *fmt, ...)
{
    size_t o = strlen(s->notes);
    va_list ap;
    if (o && o + 2 < sizeof s->notes) {
        memcpy(s->notes + o, "; ", 3);
        o += 2;
    }
    va_start(ap, fmt);
    vsnprintf(s->notes + o, sizeof s->notes - o, fmt, ap);
    va_end(ap);
}

static int corrupted_before(const hn_trial *t, int i)
{
    for (int j = 0; j <= i && j < t->nfaults; j++)
        if (t->fault[j].kind == HN_F_CORRUPT)
            return 1;
    return 0;
}

const hn_fault *hn__armed_fault(const hn_trial *t, int i)
{
    int j = i + (t->nfaults > 0 && t->fault[0].kind == HN_F_POWERCUT);
    return j < t->nfaults && t->fault[j].kind != HN_F_POWERCUT ? &t->fault[j] : NULL;
}

int hn__fault_exit(const ctx *c, slot *s, int st, int *verdict)
{
    const hn_trial *t = s->t;
    int i = s->nproc - 1;
    const hn_fault *f = hn__armed_fault(t, i);
    int fired = f && hn__count_lines(s->trace) > s->trace_lines;
    char why[64], tail[640], errname[32];

    hn__status_text(st, why, sizeof why);
    if (f && f->kind == HN_F_IOERR && fired) {
        long lines = hn__count_lines(s->log);
        s->res.crashes_fired++;
        snprintf(errname, sizeof errname, "%s", strerror(f->err));
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            add_note(s, "I/O error %s:%llu (%s) absorbed", f->point, (unsigned long long)f->k,
                     errname);
            hn__note(c, "process %d: %s after its I/O error (absorbed)", i + 1, why);
            return HN_FX_EXPORT;
        }
        if (WIFEXITED(st) && WEXITSTATUS(st) == 4 && lines == 1) {
            hn__note(c, "process %d: %s, one line, at %s hit %llu (the armed I/O error)",
                     i + 1, why, f->point, (unsigned long long)f->k);
            return HN_FX_RESTART;
        }
        hn__tail_of(s->log, tail, sizeof tail);
        snprintf(s->res.detail, sizeof s->res.detail,
                 "process %d: I/O error %s at %s hit %llu; expected exit 4 with one line (or "
                 "0), got: %s, %ld lines: %s", i + 1, errname, f->point,
                 (unsigned long long)f->k, why, lines, tail);
        hn__note(c, "%s", s->res.detail);
        *verdict = HN_V_IO_ERROR;
        return HN_FX_FINISH;
    }
    if (f && f->kind == HN_F_CORRUPT && fired && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) {
        char what[400];
        pl_errbuf eb = {{0}};
        int ret = f->corrupt == HN_C_SINK_VALUE_ROT
                      ? hn_corrupt_value_rot(s->state, f->seed, s->rot_key, sizeof s->rot_key,
                                             what, sizeof what, &eb)
                      : hn_corrupt_apply(s->state, f->corrupt, f->seed, c->donor, what,
                                         sizeof what, &eb);
        if (ret == PL_ENOTFOUND) {
            add_note(s, "%s: nothing to damage (%s)", hn_corrupt_name(f->corrupt), eb.msg);
            hn__note(c, "corrupt %s: nothing to damage: %s", hn_corrupt_name(f->corrupt),
                     eb.msg);
        } else if (ret < 0) {
            snprintf(s->res.detail, sizeof s->res.detail, "corrupt %s: %s",
                     hn_corrupt_name(f->corrupt), eb.msg);
            *verdict = HN_V_ERROR;
            return HN_FX_FINISH;
        } else {
            hn__note(c, "corrupt: %s", what);
        }
        return HN_FX_NONE; /* the usual restart after an armed kill */
    }
    if (!f && corrupted_before(t, i) && s->refused <= s->discards_cut && WIFEXITED(st) &&
        WEXITSTATUS(st) == 2 && hn__count_lines(s->log) >= 1) {
        /* the last line says why; the run's notes before it (a checkpoint it
         * refused or skipped) are part of the same refusal */
        hn__tail_of(s->log, tail, sizeof tail);
        s->refused++;
        s->discard = 1;
        add_note(s, "process %d refused the damaged state: %s", i + 1, tail);
        hn__note(c, "process %d: refused the damaged state (%s); next with --discard-state",
                 i + 1, tail);
        return HN_FX_RESTART;
    }
    return HN_FX_NONE;
}

/*
 * Durable progress after a power cut.  refpipe reaches ckpt/done/after only
 * once a checkpoint file and its directory entry are fsync'd; a power cut
 * after that must leave it (or a newer one) for recovery.  Resuming from an
 * older one, or from the start, loses no rows in this protocol (the sink is
 * idempotent) but throws away progress the run had reported durable: what a
 * checkpoint overwritten in place, or an fsync error retried until it
 * "succeeds", leads to.  Judged from the process's "using ckpt-N" line.
 */
int hn__lost_progress(const ctx *c, slot *s, int st)
{
    int i = s->nproc - 1;
    const hn_fault *f = hn__armed_fault(s->t, i);
    char *text, *p, tail[640], from[32];
    uint64_t used = 0;
    int seen = 0;

    if (i != s->pc_check || s->pc_durable == 0)
        return 0;
    s->pc_check = -1;
    /* an I/O-error process runs --quiet: no recovery line to judge by */
    if (f && f->kind == HN_F_IOERR)
        return 0;
    text = hn__slurp(s->log, NULL);
    if (!text)
        return 0;
    for (p = strstr(text, "refpipe run: using ckpt-"); p;
         p = strstr(p + 1, "refpipe run: using ckpt-")) {
        char *end;
        uint64_t v = strtoull(p + 24, &end, 16);
        if (end == p + 40) {
            used = v;
            seen = 1;
        }
    }
    free(text);
    /* no line: a fresh start, if the process got past its recovery */
    if (!seen && !(WIFEXITED(st) && WEXITSTATUS(st) == 0) &&
        !(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
        return 0;
    if (used >= s->pc_durable)
        return 0;
    hn__tail_of(s->log, tail, sizeof tail);
    if (seen)
        snprintf(from, sizeof from, "ckpt-%016llx", (unsigned long long)used);
    else
        snprintf(from, sizeof from, "the start");
    snprintf(s->res.detail, sizeof s->res.detail,
             "ckpt-%016llx was complete (fsync'd, ckpt/done/after) before the power cut; "
             "process %d resumed from %s: %s", (unsigned long long)s->pc_durable, i + 1, from,
             tail);
    hn__note(c, "%s", s->res.detail);
    return 1;
}
