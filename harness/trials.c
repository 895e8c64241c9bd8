/*
 * trials.c - one trial in flight (a slot): its processes one after the
 * other, and the verdict from how each ended.
 *
 *   trial_start -> spawn_run -> on_run_exit -+-> spawn_run   (crashed: restart)
 *                                            +-> spawn_export (exit 0)
 *                                            +-> finish       (error, loop, not reached)
 *   spawn_export -> on_export_exit -> finish (converged, diverged, conflict, error)
 *   spawn_export -> finish (converged early: the last run stopped at convergence)
 *
 * Early stop (docs/semantics.md, "Early stop at convergence"): the unarmed
 * processes of a trial - never one armed with a fault, whose fault must
 * fire - get the golden run's convergence digests, and a recovery that
 * reaches a golden checkpoint with equal digests stops there; the trial is
 * converged without an export.  Soundness-guard trials (a seeded fraction)
 * run to the end instead, only told to report where they would have stopped,
 * and a full verdict other than converged after such a report is a harness
 * error (finish()).
 *
 * Snapshot starts (snap.c): a trial of kills alone may start from a copy of
 * the discovery run's state at a checkpoint, its first crash armed at the
 * hit that follows; one that does not converge so runs again from record 0
 * (finish() -> snap_redo -> hn__on_exit_slot), whose verdict counts.  When
 * that run converges, the copy start is run in its from-record-0 form, a
 * double-crash trial (a kill at the copy's hit, then the planned faults):
 * its red verdict is the trial's, under that schedule, so that it replays
 * and shrinks like any other; if it converges too, the trial is an error.
 *
 * A crash must be the one we armed: rp-crash.so appends a line to the trace
 * file before it sends SIGKILL, so a SIGKILL without a new trace line (the
 * OOM killer, say) is told apart from ours.
 */
#include "hn_runner_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hn_faults.h"
#include "pl_fs.h"

/* ------------------------------------------------------------------ trials */

/* The double-crash form of a copy start (the top of this file); 0, or -1
 * when it would have too many faults. */
static int snap_alt(const ctx *c, slot *s)
{
    const hn_trial *t = s->t;
    hn_trial *a = &s->alt;
    if (t->nfaults + 1 > HN_MAX_CRASHES)
        return -1;
    memset(a, 0, sizeof *a);
    a->nfaults = t->nfaults + 1;
    a->fault[0].kind = HN_F_KILL;
    snprintf(a->fault[0].point, sizeof a->fault[0].point, "%s", c->snap_point);
    a->fault[0].k = s->snap_h1;
    for (int i = 0; i < t->nfaults; i++)
        a->fault[i + 1] = t->fault[i];
    a->fault[1].k = s->snap_k1;
    return 0;
}

static void finish(const ctx *c, slot *s, int verdict)
{
    hn_trial_result *res = &s->res;
    if (s->snap_hit && verdict != HN_V_CONVERGED) {
        /* rule (3) of snap.c: a red verdict must hold from record 0 */
        s->snap_redo = 1;
        s->snap_v1 = verdict;
        s->snap_h1 = s->snap_hit;
        s->snap_k1 = s->snap_k;
        snprintf(s->snap_d1, sizeof s->snap_d1, "%.399s", res->detail);
        hn_run_trial_format(s->t, s->snap_plan, sizeof s->snap_plan);
        hn__note(c, "from the snapshot at %s hit %llu the trial ended %s; running it again "
                 "from record 0", c->snap_point, (unsigned long long)s->snap_hit,
                 hn_verdict_name(verdict));
        s->phase = PH_IDLE;
        return;
    }
    if (s->snap_h1 && !s->snap_alt && verdict == HN_V_CONVERGED && snap_alt(c, s) == 0) {
        /* red from the copy, green as planned: the copy start from record 0 */
        hn__note(c, "as planned the trial converges from record 0; running its form with a "
                 "kill at %s hit %llu first", c->snap_point, (unsigned long long)s->snap_h1);
        s->snap_redo = 2;
        s->phase = PH_IDLE;
        return;
    }
    if (s->snap_h1) {
        char was[sizeof res->detail];
        snprintf(was, sizeof was, "%s", res->detail);
        if (s->snap_alt && verdict != HN_V_CONVERGED)
            /* reproducible from record 0 under this (double-crash) schedule */
            snprintf(res->detail, sizeof res->detail, "found from a snapshot start: as "
                     "planned (%.200s) the trial converges; with a kill at %s hit %llu "
                     "first it does not: %.500s", s->snap_plan, c->snap_point,
                     (unsigned long long)s->snap_h1, was);
        else if (verdict == HN_V_CONVERGED) {
            /* neither the planned trial nor its double-crash form is red */
            snprintf(res->detail, sizeof res->detail, "snapshot start disagrees: from the "
                     "snapshot at %s hit %llu (the state a kill there leaves) the trial "
                     "ended %s (%.300s); from record 0 it converges%s", c->snap_point,
                     (unsigned long long)s->snap_h1, hn_verdict_name(s->snap_v1), s->snap_d1,
                     s->snap_alt ? ", also with a kill there first"
                                 : " (with a kill there first it would have too many faults)");
            verdict = HN_V_ERROR;
        }
        hn__note(c, "%s", res->detail);
    }
    s->snap_h1 = 0;
    s->snap_alt = 0;
    res->verdict = verdict;
    if (res->early == HN_EARLY_GUARD && res->converged_at >= 0 && verdict != HN_V_CONVERGED) {
        /* early stop would have called this trial converged: unsound */
        char was[sizeof res->detail];
        snprintf(was, sizeof was, "%s", res->detail);
        res->guard_disagrees = 1;
        snprintf(res->detail, sizeof res->detail, "soundness guard: early stop would have "
                 "judged this trial converged at position %lld, the full run says %s: %.800s",
                 (long long)res->converged_at, hn_verdict_name(verdict), was);
        hn__note(c, "%s", res->detail);
    }
    res->restarts = s->nproc > 0 ? s->nproc - 1 : 0;
    res->duration_ms = (hn__now_ns() - s->t0) / 1000000;
    if (verdict != HN_V_CONVERGED || c->keep)
        snprintf(res->state_dir, sizeof res->state_dir, "%s", s->state);
    else {
        res->state_dir[0] = 0;
        pl_fs_rm_rf(s->dir);
    }
    s->phase = PH_IDLE;
}

static void set_detail(slot *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_detail(slot *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->res.detail, sizeof s->res.detail, fmt, ap);
    va_end(ap);
}

static int snap_eligible(const hn_trial *t);

static int spawn_run(const ctx *c, slot *s)
{
    const hn_trial *t = s->t;
    const hn_fault *f = hn__armed_fault(t, s->nproc);
    char *argv[MAX_ARGS + 12], *extra[8], line[8192];
    char ev_pre[3 * PATH_MAX + 64], ev_crash[HN_POINT_MAX + 48], ev_trace[PATH_MAX + 16];
    char ev_tdir[PATH_MAX + 16], ev_tout[PATH_MAX + 32];
    int i = s->nproc, n = 0, nextra = 0, ret;

    argv[n++] = (char *)c->bin;
    argv[n++] = "run";
    argv[n++] = (char *)c->logdir;
    argv[n++] = s->state;
    for (int j = 0; j < c->npargs; j++)
        argv[n++] = c->pargs[j];
    /* an I/O-error process must report the failure in one line: keep its
     * progress lines out */
    if (f && f->kind == HN_F_IOERR)
        argv[n++] = "--quiet";
    if (s->discard || (f && f->discard)) {
        /* a refusal of a damaged state dir is followed by what an operator does */
        argv[n++] = "--discard-state";
        s->discard = 0;
    }
    if (!f && c->conv[0] && !s->pc_late && s->res.early != HN_EARLY_OFF) {
        /* early stop only where no fault is armed: an armed fault must fire;
         * and not in a traced part, which a power cut will cut */
        argv[n++] = s->guard ? "--check-converged" : "--stop-when-converged";
        argv[n++] = (char *)c->conv;
    }
    if (c->trust_digest && snap_eligible(t))
        /* kills alone: the digest committed with the rows is theirs (every
         * process of the trial keeps it); any other fault can change rows
         * behind it, and those trials' recoveries scan (docs/semantics.md) */
        argv[n++] = "--trust-sink-digest";
    argv[n] = NULL;
    if (f || s->pc_late) {
        int posix = f && f->kind == HN_F_IOERR && hn_ioerr_is_posix(f->point);
        if (hn__preload(c, (s->pc_late ? HN_PRE_TRACE : 0u) | (f ? HN_PRE_CRASH : 0u) |
                               (posix ? HN_PRE_POSIX : 0u),
                        ev_pre, sizeof ev_pre) < 0)
            return pl_err(c->eb, -ENAMETOOLONG, "LD_PRELOAD too long");
        extra[nextra++] = ev_pre;
        extra[nextra++] = (char *)c->asan_env;
    }
    if (f) {
        /* from a snapshot the first crash counts its hits from there */
        snprintf(ev_crash, sizeof ev_crash, "RP_FIU_CRASH=%s:%llu", f->point,
                 (unsigned long long)(i == 0 && s->snap_hit ? s->snap_k : f->k));
        if (f->kind == HN_F_IOERR)
            snprintf(ev_crash, sizeof ev_crash, "RP_FIU_FAIL=%s:%llu:%d", f->point,
                     (unsigned long long)f->k, f->err);
        snprintf(ev_trace, sizeof ev_trace, "RP_FIU_TRACE=%s", s->trace);
        extra[nextra++] = ev_crash;
        extra[nextra++] = ev_trace;
    }
    if (s->pc_late) {
        snprintf(ev_tdir, sizeof ev_tdir, "RP_TRACE_DIR=%s", s->state);
        snprintf(ev_tout, sizeof ev_tout, "RP_TRACE_OUT=%s/fs.trace", s->dir);
        extra[nextra++] = ev_tdir;
        extra[nextra++] = ev_tout;
        /* later processes append to the first one's trace, without a new snapshot */
        if (i > 0)
            extra[nextra++] = "RP_TRACE_STARTED=1";
    }
    if ((ret = pl_fs_pathf(s->log, c->eb, "%s/run-%d.log", s->dir, i + 1)))
        return ret;
    s->trace_lines = hn__count_lines(s->trace);
    if (c->verbose) {
        hn__describe(c, line, sizeof line, argv, extra, nextra);
        hn__note(c, "process %d: %s", i + 1, line);
    }
    ret = hn__spawn_in(c, hn__slot_srv(c, s->idx), argv, extra, nextra, s->log, NULL, &s->p);
    if (ret < 0)
        return ret;
    s->nproc++;
    s->phase = PH_RUN;
    return 0;
}

/*
 * The line `converged-early position=P stopped=yes|no` of a run's output
 * (refpipe run --stop-when-converged / --check-converged).  Returns 1 with
 * *pos and *stopped, or 0 when there is none.
 */
static int early_marker(const char *log, int64_t *pos, int *stopped)
{
    static const char key[] = "converged-early position=";
    char *text = hn__slurp(log, NULL), *p;
    long long v;
    char word[8];
    int found = 0;
    for (p = text; p && (p = strstr(p, key)) != NULL; p += sizeof key - 1) {
        if ((p == text || p[-1] == '\n') &&
            sscanf(p + sizeof key - 1, "%lld stopped=%7s", &v, word) == 2 && v >= 0 &&
            (!strcmp(word, "yes") || !strcmp(word, "no"))) {
            *pos = v;
            *stopped = word[0] == 'y';
            found = 1;
            break;
        }
    }
    free(text);
    return found;
}

static int spawn_export(const ctx *c, slot *s)
{
    char *argv[] = {(char *)c->bin, "export", s->state, s->out, NULL};
    char line[8192], dig[PATH_MAX], err[PATH_MAX];
    int ret, stopped;
    int64_t pos;

    if (s->res.early != HN_EARLY_OFF && early_marker(s->log, &pos, &stopped) &&
        stopped == !s->guard) {
        s->res.converged_at = pos;
        hn__note(c, "the recovery %s at position %lld", stopped ? "converged early and stopped"
                 : "would have stopped at convergence", (long long)pos);
        if (stopped) {
            /* by determinism the rest is the golden run: no export to judge */
            if (s->unplanned)
                set_detail(s, "%s", s->unplanned_what);
            else
                set_detail(s, "converged-early at position %lld%s%s", (long long)pos,
                           s->notes[0] ? "; " : "", s->notes);
            finish(c, s, s->unplanned ? HN_V_ERROR : HN_V_CONVERGED);
            return 0;
        }
    }
    if ((ret = pl_fs_pathf(dig, c->eb, "%s/export.out", s->dir)) ||
        (ret = pl_fs_pathf(err, c->eb, "%s/export.err", s->dir)))
        return ret;
    if (c->verbose) {
        hn__describe(c, line, sizeof line, argv, NULL, 0);
        hn__note(c, "export: %s", line);
    }
    ret = hn__spawn_in(c, hn__slot_srv(c, s->idx), argv, NULL, 0, dig, err, &s->p);
    if (ret == 0)
        s->phase = PH_EXPORT;
    return ret;
}

/*
 * The state dir becomes the crash state of the recorded trace at the cut,
 * under the fault's model: what a power cut there could leave.  Returns 0;
 * 1 when it finished the trial (not-reached: the trace has no such hit); a
 * negative code when the state could not be written.
 */
static int power_cut(const ctx *c, slot *s, const hn_fault *f)
{
    hn_cut_info info;
    int64_t pos;
    int ret;
    if (!c->cut) {
        set_detail(s, "power cut without a recorded trace");
        finish(c, s, HN_V_ERROR);
        return 1;
    }
    pos = f->point[0] ? hn_cut_hit_pos(c->cut, f->point, f->k) : (int64_t)f->k;
    if (pos < 0 || (uint64_t)pos > hn_cut_nrecords(c->cut)) {
        if (f->point[0])
            set_detail(s, "the recorded run never reached %s hit %llu", f->point,
                       (unsigned long long)f->k);
        else
            set_detail(s, "the recorded trace has %llu records, none at %llu",
                       (unsigned long long)hn_cut_nrecords(c->cut), (unsigned long long)f->k);
        hn__note(c, "%s", s->res.detail);
        finish(c, s, HN_V_NOT_REACHED);
        return 1;
    }
    ret = hn_cut_build(c->cut, (uint64_t)pos, f->model, f->seed, s->state, &info, c->eb);
    if (ret < 0)
        return ret;
    s->res.crashes_fired++;
    /* the next process's recovery is judged against it (hn__lost_progress) */
    s->pc_durable = hn_cut_durable_ckpt(c->cut, (uint64_t)pos);
    s->pc_check = s->nproc;
    hn__note(c, "power cut before trace record %lld (%s): %llu files, %llu bytes; %llu "
             "operations were not durable, %llu of them kept", (long long)pos,
             hn_pc_model_name(f->model), (unsigned long long)info.files,
             (unsigned long long)info.bytes, (unsigned long long)info.unsynced,
             (unsigned long long)info.kept);
    return 0;
}

/*
 * The traced part of a trial ended with a process that completed: the state
 * dir becomes the crash state of the trial's own trace under the last
 * entry, a power cut whose position counts from the first failed fsync of
 * the trace (or, when none failed under the state dir, from the hit of the
 * first fault): the K-th hit of its point after it, or its K-th record after
 * it; the end of the trace when it has fewer.  Then an untraced restart.
 */
static int late_power_cut(const ctx *c, slot *s)
{
    const hn_trial *t = s->t;
    const hn_fault *f = &t->fault[t->nfaults - 1];
    hn_cut_trace *tr = NULL;
    hn_cut_info info;
    char path[PATH_MAX];
    int64_t anchor, pos;
    int ret;

    s->pc_late = 0;
    if ((ret = pl_fs_pathf(path, c->eb, "%s/fs.trace", s->dir)) ||
        (ret = hn_cut_load(path, &tr, c->eb)) < 0)
        return ret;
    anchor = hn_cut_first_failed_sync(tr);
    if (anchor < 0)
        anchor = hn_cut_hit_pos(tr, t->fault[0].point, t->fault[0].k);
    if (anchor < 0)
        anchor = 0;
    pos = f->point[0] ? hn_cut_hit_after(tr, (uint64_t)anchor, f->point, f->k)
                      : anchor + (int64_t)f->k;
    if (pos < 0 || (uint64_t)pos > hn_cut_nrecords(tr))
        pos = (int64_t)hn_cut_nrecords(tr);
    pl_fs_rm_rf(s->state);
    ret = hn_cut_build(tr, (uint64_t)pos, f->model, f->seed, s->state, &info, c->eb);
    if (ret == 0) {
        s->res.crashes_fired++;
        s->pc_durable = hn_cut_durable_ckpt(tr, (uint64_t)pos);
        s->pc_check = s->nproc;
        hn__note(c, "power cut before record %lld of the trial's trace (%lld records; the "
                 "first failed fsync at %lld), %s: %llu files, %llu bytes; %llu operations "
                 "were not durable, %llu of them kept", (long long)pos,
                 (long long)hn_cut_nrecords(tr), (long long)anchor,
                 hn_pc_model_name(f->model), (unsigned long long)info.files,
                 (unsigned long long)info.bytes, (unsigned long long)info.unsynced,
                 (unsigned long long)info.kept);
    }
    hn_cut_free(tr);
    return ret < 0 ? ret : spawn_run(c, s);
}

/* A run process completed: export, or first the power cut that ends the
 * traced part of the trial. */
static int after_complete(const ctx *c, slot *s)
{
    return s->pc_late ? late_power_cut(c, s) : spawn_export(c, s);
}

/* Rule (2) of snap.c: kills alone, none of them a discard. */
static int snap_eligible(const hn_trial *t)
{
    if (t->nfaults == 0)
        return 0;
    for (int i = 0; i < t->nfaults; i++)
        if (t->fault[i].kind != HN_F_KILL || t->fault[i].discard)
            return 0;
    return 1;
}

int hn__trial_start(const ctx *c, slot *s, int seq, const hn_trial *t)
{
    int ret, from_zero = s->snap_redo;
    s->snap_alt = s->snap_redo == 2;
    s->snap_redo = 0;
    if (!from_zero)
        s->snap_h1 = 0;
    s->snap_hit = 0;
    memset(&s->res, 0, sizeof s->res);
    s->res.seq = seq;
    s->res.trial = *t;
    s->t = t;
    s->nproc = 0;
    s->unplanned = 0;
    s->unplanned_what[0] = 0;
    s->notes[0] = 0;
    s->discard = 0;
    s->refused = 0;
    s->res.converged_at = -1;
    s->guard = 0;
    if (c->conv[0]) {
        /* the guard's share is seeded by the scenario's seed and the plan index */
        uint64_t x = c->sc->seed ^ ((uint64_t)seq * 0x9e3779b97f4a7c15ULL);
        s->guard = c->guard_all ||
                   (int64_t)hn__mix_below(&x, 1000000) < c->sc->full_run_ppm;
        s->res.early = s->guard ? HN_EARLY_GUARD : HN_EARLY_ON;
    }
    s->discards_cut = 0;
    s->rot_key[0] = 0;
    for (int i = 0; i < t->nfaults; i++)
        if (t->fault[i].kind == HN_F_CORRUPT && t->fault[i].corrupt == HN_C_SINK_VALUE_ROT &&
            c->conv[0]) {
            /* judged on the final sink: a recovery must not stop at a golden
             * state with the damaged row's replay still ahead */
            s->guard = 0;
            s->res.early = HN_EARLY_OFF;
        }
    s->pc_check = -1;
    s->pc_durable = 0;
    s->pc_late = t->nfaults > 1 && t->fault[t->nfaults - 1].kind == HN_F_POWERCUT;
    s->t0 = hn__now_ns();
    if ((ret = pl_fs_pathf(s->dir, c->eb, "%s/trials/%d", c->dir, seq)) ||
        (ret = pl_fs_pathf(s->state, c->eb, "%s/state", s->dir)) ||
        (ret = pl_fs_pathf(s->out, c->eb, "%s/export", s->dir)) ||
        (ret = pl_fs_pathf(s->trace, c->eb, "%s/trace", s->dir)))
        return ret;
    pl_fs_rm_rf(s->dir); /* a stale dir of an earlier replay must not leak state in */
    if ((ret = pl_fs_mkdir_p(s->state, c->eb)))
        return ret;
    if (c->verbose) {
        char spec[sizeof ((hn_failure *)0)->spec];
        hn_run_trial_format(t, spec, sizeof spec);
        hn__note(c, "trial %s in %s", spec, s->dir);
    }
    if (c->snaps && !from_zero && snap_eligible(t) &&
        (ret = hn__snap_pick(c, hn__slot_srv(c, s->idx), t->fault[0].point, t->fault[0].k,
                             &s->snap_hit, &s->snap_k))) {
        if (ret < 0)
            return ret;
        if (hn__snap_restore(c, s->snap_hit, s->state) < 0) {
            /* an optimisation must not fail the trial (a full disk, say):
             * from record 0 instead */
            pl_fs_rm_rf(s->state);
            if ((ret = pl_fs_mkdir_p(s->state, c->eb)))
                return ret;
            s->snap_hit = 0;
        }
        s->res.snap_hit = s->snap_hit;
        if (c->verbose)
            hn__note(c, "starting from the snapshot at %s hit %llu: %s armed at its hit %llu",
                     c->snap_point, (unsigned long long)s->snap_hit, t->fault[0].point,
                     (unsigned long long)s->snap_k);
    }
    if (t->nfaults > 0 && t->fault[0].kind == HN_F_POWERCUT) {
        ret = power_cut(c, s, &t->fault[0]);
        if (ret != 0)
            return ret < 0 ? ret : 0;
    }
    return spawn_run(c, s);
}

/* The current run process ended with wait status st.  Returns 0, or a
 * negative code when the harness cannot go on. */
static int on_run_exit(const ctx *c, slot *s, int st)
{
    const hn_trial *t = s->t;
    int i = s->nproc - 1;
    const hn_fault *f = hn__armed_fault(t, i);
    int armed = f != NULL, fx, v = HN_V_ERROR;
    char why[64], tail[640];

    /* a recovery after a power cut that went back behind durable progress */
    if (hn__lost_progress(c, s, st)) {
        finish(c, s, HN_V_LOST_PROGRESS);
        return 0;
    }
    /* I/O errors and corruption first (ftrials.c) */
    fx = hn__fault_exit(c, s, st, &v);
    if (fx < 0)
        return fx;
    if (fx == HN_FX_RESTART)
        return spawn_run(c, s);
    if (fx == HN_FX_EXPORT)
        return after_complete(c, s);
    if (fx == HN_FX_FINISH) {
        finish(c, s, v);
        return 0;
    }
    hn__status_text(st, why, sizeof why);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        hn__note(c, "process %d: %s", i + 1, why);
        if (armed && f == &t->fault[0]) {
            set_detail(s, "process 1 exited 0 without reaching its armed crash %s:%llu "
                       "(fewer hits than the discovery run counted, or no such point)",
                       f->point, (unsigned long long)f->k);
            hn__note(c, "%s", s->res.detail);
            finish(c, s, HN_V_NOT_REACHED);
            return 0;
        }
        if (armed) {
            size_t o = strlen(s->notes);
            snprintf(s->notes + o, sizeof s->notes - o, "%scrash %d (%s:%llu) not reached",
                     o ? "; " : "", i + 1, f->point,
                     (unsigned long long)f->k);
            hn__note(c, "process %d completed before its armed crash %s:%llu", i + 1,
                 f->point, (unsigned long long)f->k);
        }
        return after_complete(c, s);
    }
    if (WIFEXITED(st)) {
        hn__tail_of(s->log, tail, sizeof tail);
        set_detail(s, "process %d (run) %s: %s", i + 1, why, tail);
        hn__note(c, "process %d: %s", i + 1, why);
        finish(c, s, HN_V_ERROR);
        return 0;
    }
    if (armed && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL &&
        hn__count_lines(s->trace) > s->trace_lines) {
        s->res.crashes_fired++;
        /* a discard cut short: the next refusal of the state is allowed again */
        s->discards_cut += f->discard;
        hn__note(c, "process %d: %s at %s hit %llu (the armed crash)", i + 1, why,
             f->point, (unsigned long long)f->k);
    } else {
        hn__tail_of(s->log, tail, sizeof tail);
        if (!s->unplanned++)
            snprintf(s->unplanned_what, sizeof s->unplanned_what,
                     "process %d (run) %s without an armed crash: %s", i + 1, why, tail);
        hn__note(c, "process %d: %s (not an armed crash)", i + 1, why);
    }
    if (s->nproc - 1 >= c->max_restarts) {
        hn__tail_of(s->log, tail, sizeof tail);
        set_detail(s, "not complete after %d restarts; process %d %s: %s", s->nproc - 1,
                   s->nproc, why, tail);
        hn__note(c, "%s", s->res.detail);
        finish(c, s, HN_V_CRASH_LOOP);
        return 0;
    }
    return spawn_run(c, s);
}

static int on_export_exit(const ctx *c, slot *s, int st)
{
    hn_trial_result *res = &s->res;
    char why[64], tail[640], dig[PATH_MAX], err[PATH_MAX];
    int differ;

    hn__status_text(st, why, sizeof why);
    if (pl_fs_pathf(dig, c->eb, "%s/export.out", s->dir) || pl_fs_pathf(err, c->eb, "%s/export.err", s->dir))
        return -ENAMETOOLONG;
    hn__note(c, "export: %s", why);
    if (!WIFEXITED(st) || (WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 1)) {
        hn__tail_of(err, tail, sizeof tail);
        set_detail(s, "export %s: %s", why, tail);
        finish(c, s, HN_V_ERROR);
        return 0;
    }
    if (hn__parse_digests(dig, res->digest, res->rows) < 0) {
        set_detail(s, "export printed no digests (%s)", dig);
        finish(c, s, HN_V_ERROR);
        return 0;
    }
    res->have_digests = 1;
    for (int i = 0; i < 3; i++)
        hn__note(c, "%s %s  %s.csv  %lld rows (golden %s)",
             strcmp(res->digest[i], c->golden[i]) ? "DIFFERS" : "same   ", res->digest[i],
             hn__tbl_name[i], (long long)res->rows[i], c->golden[i]);
    differ = hn__compare_tables(c, s->out, res->digest, res->div, &res->ndiv);
    for (int i = 0; i < res->ndiv; i++)
        hn__note_div(c, &res->div[i]);
    if (s->rot_key[0] && !s->unplanned) {
        /* a rotted stored row: kept (and its replay a recorded conflict) or
         * silently overwritten; anything else is judged as usual */
        int v = hn__judge_rot(c->gold_out, s->out, s->rot_key, WEXITSTATUS(st) == 1, res->detail,
                              sizeof res->detail);
        if (v >= 0) {
            if (v == HN_V_CONVERGED) {
                res->ndiv = 0;
                memset(res->div, 0, sizeof res->div);
            }
            finish(c, s, v);
            return 0;
        }
    }
    if (WEXITSTATUS(st) == 1) {
        hn__tail_of(err, tail, sizeof tail);
        set_detail(s, "the sink recorded conflicting replays: %s", tail);
        finish(c, s, HN_V_CONFLICT);
        return 0;
    }
    if (differ) {
        char *p = res->detail;
        size_t left = sizeof res->detail;
        int w = snprintf(p, left, "differs from the golden run:");
        for (int i = 0; i < 3 && w > 0 && (size_t)w < left; i++) {
            if (strcmp(res->digest[i], c->golden[i]) == 0)
                continue;
            p += w;
            left -= (size_t)w;
            w = snprintf(p, left, " %s.csv (%lld rows, golden %lld)", hn__tbl_name[i],
                         (long long)res->rows[i], (long long)c->golden_rows[i]);
        }
        finish(c, s, HN_V_DIVERGED);
        return 0;
    }
    if (s->unplanned) {
        set_detail(s, "%s", s->unplanned_what);
        finish(c, s, HN_V_ERROR);
        return 0;
    }
    if (s->notes[0])
        set_detail(s, "%s", s->notes);
    finish(c, s, HN_V_CONVERGED);
    return 0;
}

/* The current process of a slot ended (or timed out). */
int hn__on_exit_slot(const ctx *c, slot *s, int timed_out)
{
    int st, ret = hn__reap(c, &s->p, &st);
    if (ret < 0)
        return ret;
    if (timed_out) {
        char limit[32];
        hn__dur_text(c->timeout_ns, limit, sizeof limit);
        if (s->phase == PH_EXPORT)
            set_detail(s, "export did not finish within the timeout (%s) and was killed",
                       limit);
        else
            set_detail(s, "process %d (run) did not finish within the timeout (%s) and was "
                       "killed", s->nproc, limit);
        hn__note(c, "%s", s->res.detail);
        finish(c, s, HN_V_HANG);
        ret = 0;
    } else
        ret = s->phase == PH_RUN ? on_run_exit(c, s, st) : on_export_exit(c, s, st);
    if (ret == 0 && s->phase == PH_IDLE && s->snap_redo)
        /* the planned trial again, or its double-crash form (s->alt) */
        ret = hn__trial_start(c, s, s->res.seq, s->snap_redo == 2 ? &s->alt : s->t);
    return ret;
}

