/*
 * pool.c - the trials of a scenario on -j N parallel slots.  Each slot owns
 * one trial and advances its state machine (trials.c) when its current
 * process ends; this process polls one pidfd per busy slot with the nearest
 * deadline as the timeout.  No threads; the results database is written by
 * this process only, in batches.
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
#include <sys/wait.h>
#include <unistd.h>

/* -------------------------------------------------------------------- pool */

/*
 * Write the queued rows in one transaction.  With block == 0 (in the trial
 * loop) a database locked by another process is not waited for: waiting
 * would stall every running trial past its deadline; the rows stay queued
 * for a later flush.  With block == 1 (the end) the wait is the database's
 * (bounded, ended by a stop request).  Rows leave the queue only when
 * committed.
 */
static int flush_db(pool *pl, int block)
{
    const ctx *c = pl->c;
    hn_res *db = c->o->db;
    int ret = 0, wait = 0;
    pl->last_flush = hn__now_ns();
    if (!db || !pl->npending) {
        pl->npending = 0;
        return 0;
    }
    if (!block)
        wait = hn_res_set_wait(db, 0);
    ret = hn_res_begin(db, c->eb);
    if (!block)
        hn_res_set_wait(db, wait);
    if (ret == -EBUSY && !block)
        return 0;
    if (ret)
        return ret;
    for (int i = 0; i < pl->npending && ret == 0; i++) {
        const hn_trial_result *t = &pl->pending[i];
        char spec[sizeof ((hn_failure *)0)->spec];
        hn_res_trial row;
        hn_run_trial_format(&t->trial, spec, sizeof spec);
        memset(&row, 0, sizeof row);
        row.seq = t->seq;
        row.crashes = spec;
        row.point = t->trial.fault[0].point;
        row.k = t->trial.fault[0].k;
        row.verdict = hn_verdict_name(t->verdict);
        row.restarts = t->restarts;
        row.duration_ms = t->duration_ms;
        for (int j = 0; j < 3; j++)
            row.digest[j] = t->have_digests ? t->digest[j] : "";
        row.state_dir = t->state_dir;
        row.detail = t->detail;
        row.ndiv = t->ndiv;
        row.div = t->div;
        row.early = t->early == HN_EARLY_GUARD ? "full-run"
                    : t->early == HN_EARLY_ON ? (t->converged_at >= 0 ? "stopped" : "no-match")
                                              : NULL;
        row.converged_at = t->converged_at;
        row.snap_hit = t->snap_hit > INT64_MAX ? INT64_MAX : (int64_t)t->snap_hit;
        ret = hn_res_trial_add(db, pl->scenario_id, &row, c->eb);
    }
    if (ret == 0)
        ret = hn_res_commit(db, c->eb);
    else
        hn_res_rollback(db);
    if (ret == 0)
        pl->npending = 0;
    return ret;
}

/* A trial finished: count it, remember a failure, queue its row. */
static int deliver(pool *pl, const hn_trial_result *t)
{
    const ctx *c = pl->c;
    hn_scenario_result *r = pl->r;
    pl->done++;
    r->run++;
    r->by_verdict[t->verdict]++;
    r->early_stopped += t->early == HN_EARLY_ON && t->converged_at >= 0;
    r->guard_run += t->early == HN_EARLY_GUARD;
    r->snap_started += t->snap_hit > 0;
    if (t->guard_disagrees && r->guard_disagree++ == 0)
        hn_run_trial_format(&t->trial, r->guard_first, sizeof r->guard_first);
    if (t->verdict != HN_V_CONVERGED) {
        pl->failed++;
        r->nfailures++;
        if (r->nkept < KEEP_FAILURES) {
            hn_failure *f = &r->failures[r->nkept++];
            hn_run_trial_format(&t->trial, f->spec, sizeof f->spec);
            f->verdict = t->verdict;
            snprintf(f->state_dir, sizeof f->state_dir, "%s", t->state_dir);
            snprintf(f->detail, sizeof f->detail, "%s", t->detail);
            if (t->ndiv)
                f->div = t->div[0];
            else
                memset(&f->div, 0, sizeof f->div);
        }
    }
    if (c->o->hooks.trial)
        c->o->hooks.trial(c->o->hooks.ctx, c->sc, t, pl->done, pl->total, pl->failed);
    if (c->o->db) {
        if (pl->npending == pl->cap) {
            /* the database is locked by another process: queue on */
            hn_trial_result *p = realloc(pl->pending, 2 * (size_t)pl->cap * sizeof *p);
            if (!p)
                return pl_err(c->eb, -ENOMEM, "out of memory");
            pl->pending = p;
            pl->cap *= 2;
        }
        pl->pending[pl->npending++] = *t;
        if (pl->npending % DB_BATCH == 0 || hn__now_ns() - pl->last_flush >= DB_FLUSH_NS)
            return flush_db(pl, 0);
    }
    return 0;
}

static void kill_all(const ctx *c, slot *slots, int n)
{
    for (int i = 0; i < n; i++) {
        if (slots[i].phase == PH_IDLE)
            continue;
        hn__abandon(c, &slots[i].p);
        slots[i].phase = PH_IDLE;
    }
}

/* Run trials[0..n) on `jobs` slots.  Returns 0 or a harness failure. */
int hn__run_pool(pool *pl, const hn_trial *trials, int n, int jobs)
{
    const ctx *c = pl->c;
    slot *slots = calloc((size_t)jobs, sizeof *slots);
    struct pollfd *pfd = calloc((size_t)jobs, sizeof *pfd);
    int *map = calloc((size_t)jobs, sizeof *map);
    int next = 0, active = 0, ret = 0;

    pl->total = n;
    pl->last_flush = hn__now_ns();
    pl->cap = DB_BATCH;
    if (c->o->db)
        pl->pending = malloc(DB_BATCH * sizeof *pl->pending);
    if (!slots || !pfd || !map || (c->o->db && !pl->pending)) {
        ret = pl_err(c->eb, -ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < jobs; i++)
        slots[i].idx = i;
    while (pl->done < n) {
        int np = 0, ms = POLL_MAX_MS, r;
        int64_t now;

        if (c->o->stop && *c->o->stop) {
            ret = pl_err(c->eb, -EINTR, "interrupted");
            break;
        }
        for (int i = 0; i < jobs && next < n; i++) {
            if (slots[i].phase != PH_IDLE)
                continue;
            ret = hn__trial_start(c, &slots[i], pl->seqs ? pl->seqs[next] : pl->seq_base + next,
                                  &trials[next]);
            if (ret < 0)
                goto done;
            next++;
            active++;
            /* a trial can end before any process (a power cut the trace
             * never reached) */
            if (slots[i].phase == PH_IDLE) {
                active--;
                if ((ret = deliver(pl, &slots[i].res)) < 0)
                    goto done;
                i--; /* the slot is free again */
            }
        }
        now = hn__now_ns();
        for (int i = 0; i < jobs; i++) {
            int64_t left;
            if (slots[i].phase == PH_IDLE)
                continue;
            pfd[np].fd = slots[i].p.pidfd;
            pfd[np].events = POLLIN;
            pfd[np].revents = 0;
            map[np++] = i;
            left = (slots[i].p.deadline - now) / 1000000 + 1;
            if (left < ms)
                ms = left < 0 ? 0 : (int)left;
        }
        r = poll(pfd, (nfds_t)np, ms);
        if (r < 0 && errno != EINTR) {
            ret = pl_err_os(c->eb, errno, "poll");
            break;
        }
        now = hn__now_ns();
        for (int j = 0; j < np; j++) {
            slot *s = &slots[map[j]];
            int timed_out = 0;
            if (!(r > 0 && pfd[j].revents)) {
                if (now < s->p.deadline)
                    continue;
                hn__kill_tree(&s->p);
                timed_out = 1;
            }
            ret = hn__on_exit_slot(c, s, timed_out);
            if (ret < 0)
                goto done;
            if (s->phase == PH_IDLE) {
                active--;
                if ((ret = deliver(pl, &s->res)) < 0)
                    goto done;
            }
        }
        if (c->o->db && pl->npending && now - pl->last_flush >= DB_FLUSH_NS &&
            (ret = flush_db(pl, 0)) < 0)
            goto done;
    }
    if (ret == 0 && (ret = flush_db(pl, 1)) < 0 && pl->npending) {
        pl_errbuf why = *c->eb;
        pl_err(c->eb, ret, "%s; %d finished trials not recorded", why.msg, pl->npending);
    }
done:
    if (slots)
        kill_all(c, slots, jobs);
    if (ret == -EINTR && pl->npending) {
        /* the trials that did finish before the interrupt are results too */
        pl_errbuf keep = *c->eb;
        flush_db(pl, 1);
        *c->eb = keep;
    }
    (void)active;
    free(slots);
    free(pfd);
    free(map);
    free(pl->pending);
    pl->pending = NULL;
    return ret;
}

