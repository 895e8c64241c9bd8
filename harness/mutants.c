/*
 * mutants.c - `replayproof mutants` (hn_mutants.h): the kill matrix of the
 * pipeline's broken variants against a set of scenarios.
 *
 * Layout: listing the variants (`BINARY unsafe`); one cell (the scenario
 * run through hn_run_scenario with REFPIPE_UNSAFE added to its env, and
 * stopped through the runner's stop flag at the first detection); the
 * printed matrix.
 *
 * The hook is the scenario's own [pipeline] env: the runner passes it to
 * every pipeline process (golden, batch, discovery, trials), so a cell is
 * exactly what `REFPIPE_UNSAFE=NAME replayproof run SCENARIO` would do, and
 * that is the reproducer it prints.
 *
 * The matrix (hn_mut_run_matrix) runs its cells in worker processes
 * (hn_fpool.h); the schedule below chooses which cell starts next.
 */
#include "hn_mutants.h"
#include "hn_fpool.h"
#include "pl_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Variants whose bug only loses data that was written but never made
 * durable: a killed process keeps the page cache, so only the power-cut
 * model can reveal them (wal-autocheckpoint together with an fsync error,
 * discard-nonatomic with a discard cut short). */
static const char *const power_cut_only[] = { "no-fsync-before-rename", "no-dir-fsync",
                                              "wal-autocheckpoint", "discard-nonatomic" };

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------- the list */

int hn_mut_list(const char *binary, hn_mutant **out, int *n, pl_errbuf *eb)
{
    char *const argv[] = { (char *)binary, "unsafe", NULL };
    posix_spawn_file_actions_t fa;
    int fds[2], st, ret = 0, cap = 0;
    pid_t pid;
    char *buf = NULL;
    size_t len = 0, bcap = 0;
    hn_mutant *ms = NULL;

    *out = NULL;
    *n = 0;
    if (pipe2(fds, O_CLOEXEC) < 0)
        return pl_err_os(eb, errno, "pipe");
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    ret = posix_spawn(&pid, binary, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (ret) {
        close(fds[0]);
        return pl_err_os(eb, ret, "%s unsafe", binary);
    }
    for (;;) {
        ssize_t k;
        if (bcap - len < 4096) {
            char *nb = realloc(buf, bcap + 65536);
            if (!nb) {
                ret = pl_err(eb, -ENOMEM, "out of memory");
                break;
            }
            buf = nb;
            bcap += 65536;
        }
        k = read(fds[0], buf + len, bcap - len - 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        len += (size_t)k;
    }
    close(fds[0]);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (ret)
        goto fail;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        ret = pl_err(eb, PL_EUSAGE, "'%s unsafe' failed (status %d): the pipeline must be a "
                     "fault build that lists its variants", binary, st);
        goto fail;
    }
    buf[len] = 0;
    for (char *line = buf, *nl; *line; line = nl) {
        size_t w;
        hn_mutant *m;
        nl = strchr(line, '\n');
        if (nl)
            *nl++ = 0;
        else
            nl = line + strlen(line);
        if (!*line)
            continue;
        w = strcspn(line, " \t");
        if (w == 0 || w >= HN_MUT_NAME_MAX) {
            ret = pl_err(eb, PL_EFORMAT, "'%s unsafe' printed an unexpected line: %.80s",
                         binary, line);
            goto fail;
        }
        if (*n == cap) {
            hn_mutant *nm = realloc(ms, (size_t)(cap = cap ? 2 * cap : 32) * sizeof *nm);
            if (!nm) {
                ret = pl_err(eb, -ENOMEM, "out of memory");
                goto fail;
            }
            ms = nm;
        }
        m = &ms[(*n)++];
        memset(m, 0, sizeof *m);
        memcpy(m->name, line, w);
        line += w;
        line += strspn(line, " \t");
        snprintf(m->what, sizeof m->what, "%s", line);
        for (size_t i = 0; i < sizeof power_cut_only / sizeof power_cut_only[0]; i++)
            if (!strcmp(m->name, power_cut_only[i]))
                m->power_cut_only = 1;
    }
    free(buf);
    *out = ms;
    return 0;

fail:
    free(buf);
    free(ms);
    *n = 0;
    return ret;
}

/* ------------------------------------------------------------- one cell */

typedef struct cellrun {
    hn_mut_cell *cell;
    volatile sig_atomic_t stop;      /* the runner's stop flag for this cell */
    volatile sig_atomic_t *user;     /* the caller's (signals) */
    int detected, all;
} cellrun;

static void detected(cellrun *c)
{
    c->detected = 1;
    if (!c->all)
        c->stop = 1;
}

static void on_phase(void *ctx, const hn_scenario *sc, const char *phase,
                     const hn_scenario_result *r)
{
    cellrun *c = ctx;
    (void)sc;
    if (c->user && *c->user)
        c->stop = 1;
    /* the golden run is judged against batch before discovery starts */
    if (!c->detected && !strcmp(phase, "discovery") && r->nbatch_div > 0) {
        snprintf(c->cell->verdict, sizeof c->cell->verdict, "%s",
                 hn_sc_verdict_name(HN_SC_BATCH_DISAGREES));
        snprintf(c->cell->how, sizeof c->cell->how, "golden run vs batch (%s.csv line %lld)",
                 r->batch_div[0].tbl, (long long)r->batch_div[0].line);
        c->cell->trials = 0;
        detected(c);
    }
}

static void on_notice(void *ctx, const hn_scenario *sc, const char *line)
{
    cellrun *c = ctx;
    (void)sc;
    if (!c->cell->notice[0])
        snprintf(c->cell->notice, sizeof c->cell->notice, "%s", line);
}

static void on_trial(void *ctx, const hn_scenario *sc, const hn_trial_result *t, int done,
                     int total, int failed)
{
    cellrun *c = ctx;
    (void)sc;
    (void)total;
    (void)failed;
    if (c->user && *c->user)
        c->stop = 1;
    if (!c->detected && t->verdict != HN_V_CONVERGED) {
        char spec[HN_TRIAL_SPEC_MAX];
        hn_run_trial_format(&t->trial, spec, sizeof spec);
        snprintf(c->cell->verdict, sizeof c->cell->verdict, "%s", hn_verdict_name(t->verdict));
        snprintf(c->cell->how, sizeof c->cell->how, "%s", spec);
        snprintf(c->cell->detail, sizeof c->cell->detail, "%s", t->detail);
        c->cell->trials = done;
        detected(c);
    }
}

int hn_mut_run_cell(const hn_scenario *sc, const hn_mutant *m, const hn_mut_opts *o,
                    volatile sig_atomic_t *stop, hn_mut_cell *cell, pl_errbuf *eb)
{
    hn_scenario *msc = NULL;
    hn_run_opts ro = o->run;
    hn_scenario_result r;
    cellrun c;
    int64_t t0 = mono_ms();
    int ret;
    const char *rp = o->replayproof ? o->replayproof : "bin/replayproof";

    memset(cell, 0, sizeof *cell);
    memset(&c, 0, sizeof c);
    for (int i = 0; i < sc->nenv && m; i++)
        if (!strncmp(sc->env[i], "REFPIPE_UNSAFE=", 15))
            return pl_err(eb, PL_EUSAGE, "%s: sets REFPIPE_UNSAFE itself; a mutant run needs "
                          "it unset", sc->path);
    msc = malloc(sizeof *msc);
    if (!msc)
        return pl_err(eb, -ENOMEM, "out of memory");
    *msc = *sc;
    if (m) {
        if (msc->nenv >= HN_MAX_ENV) {
            free(msc);
            return pl_err(eb, PL_ELIMIT, "%s: %d env entries already, no room for "
                          "REFPIPE_UNSAFE", sc->path, sc->nenv);
        }
        snprintf(msc->env[msc->nenv++], sizeof msc->env[0], "REFPIPE_UNSAFE=%s", m->name);
    }
    c.cell = cell;
    c.user = stop;
    c.all = o->all_trials;
    ro.db = NULL; /* the matrix is the result; trial rows of mutants are not */
    ro.stop = &c.stop;
    ro.hooks.ctx = &c;
    ro.hooks.phase = on_phase;
    ro.hooks.trial = on_trial;
    ro.hooks.note = NULL;
    /* kept with the cell: the caller decides whether it was said already */
    ro.hooks.notice = on_notice;

    ret = hn_run_scenario(msc, &ro, &r, eb);
    cell->ms = mono_ms() - t0;
    if (ret == -EINTR && c.detected && !(stop && *stop))
        ret = 0; /* our own stop at the first detection */
    if (ret < 0)
        goto out;
    if (c.detected) {
        cell->outcome = HN_MUT_CAUGHT;
    } else if (r.exit_status != 0) {
        /* the golden run failed, an [expect] bound failed, or no point hit */
        cell->outcome = HN_MUT_CAUGHT;
        snprintf(cell->verdict, sizeof cell->verdict, "%s", hn_sc_verdict_name(r.verdict));
        snprintf(cell->how, sizeof cell->how, "%s",
                 r.verdict == HN_SC_ERROR ? "golden run failed" : "scenario verdict");
        snprintf(cell->detail, sizeof cell->detail, "%s", r.detail);
        cell->trials = r.run;
    } else {
        /* "needs a power cut" only where the scenario has none */
        cell->outcome = m && m->power_cut_only && sc->npc_models == 0 ? HN_MUT_NEEDS_POWER_CUT
                                                                      : HN_MUT_SURVIVED;
        snprintf(cell->verdict, sizeof cell->verdict, "%s", hn_sc_verdict_name(r.verdict));
        cell->trials = r.run;
    }
    if (cell->outcome == HN_MUT_CAUGHT) {
        if (m) {
            snprintf(cell->reproduce, sizeof cell->reproduce, "REFPIPE_UNSAFE=");
            hn_run_shell_quote(cell->reproduce, sizeof cell->reproduce, m->name);
            strncat(cell->reproduce, " ", sizeof cell->reproduce - strlen(cell->reproduce) - 1);
        }
        hn_run_shell_quote(cell->reproduce, sizeof cell->reproduce, rp);
        if (cell->trials > 0 && strcmp(cell->how, "scenario verdict") &&
            strcmp(cell->how, "golden run failed")) {
            strncat(cell->reproduce, " replay ",
                    sizeof cell->reproduce - strlen(cell->reproduce) - 1);
            hn_run_shell_quote(cell->reproduce, sizeof cell->reproduce, sc->path);
            strncat(cell->reproduce, " --trial ",
                    sizeof cell->reproduce - strlen(cell->reproduce) - 1);
            hn_run_shell_quote(cell->reproduce, sizeof cell->reproduce, cell->how);
        } else {
            /* caught by the golden phase: one trial is enough to see it */
            strncat(cell->reproduce, " run --budget 1 ",
                    sizeof cell->reproduce - strlen(cell->reproduce) - 1);
            hn_run_shell_quote(cell->reproduce, sizeof cell->reproduce, sc->path);
        }
    }
out:
    /* the reproducer rebuilds everything; kept dirs of a matrix would pile up */
    if (r.workdir[0] && !o->run.keep)
        pl_fs_rm_rf(r.workdir);
    hn_run_result_free(&r);
    free(msc);
    return ret;
}

/* ------------------------------------------------------------ the schedule */

enum { CELL_PENDING = 0, CELL_RUNNING, CELL_DONE };

typedef struct matrix_run {
    const hn_mut_matrix *mx;
    const hn_mut_opts *o;
    volatile sig_atomic_t *stop;
    hn_mut_cell *cells;
    int nrows;
    char *state;       /* per cell: CELL_* */
    int *busy;         /* per row: a cell of it is running */
    int *caught;       /* per row: catches so far */
    int *kills;        /* per scenario: catches so far */
    int *order;        /* without depth: the cells in the order they start */
    int next_cell;     /* without depth: the next of order */
    pl_errbuf *eb;
} matrix_run;

/* A task's result as it crosses the pipe. */
typedef struct cell_res {
    int ret;
    pl_errbuf eb;
    hn_mut_cell cell;
} cell_res;

/* Costliest scenario first, then the first given; rows in order. */
static int cmp_cost(const void *a, const void *b, void *ctx)
{
    const matrix_run *r = ctx;
    int x = *(const int *)a, y = *(const int *)b;
    int nsc = r->mx->nsc, jx = x % nsc, jy = y % nsc;
    int64_t cx = r->mx->cost ? r->mx->cost[jx] : 0, cy = r->mx->cost ? r->mx->cost[jy] : 0;
    if (cx != cy)
        return cx > cy ? -1 : 1;
    if (jx != jy)
        return jx < jy ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Row i's next cell: the scenario that caught the most so far, then the
 * cheapest, then the first given; -1 when none is left. */
static int row_next(const matrix_run *r, int i)
{
    const hn_mut_matrix *mx = r->mx;
    int best = -1;
    for (int j = 0; j < mx->nsc; j++) {
        if (r->state[(size_t)i * mx->nsc + j] != CELL_PENDING)
            continue;
        if (best < 0 || r->kills[j] > r->kills[best] ||
            (r->kills[j] == r->kills[best] && mx->cost && mx->cost[j] < mx->cost[best]))
            best = j;
    }
    return best;
}

static int sched_next(void *ctx)
{
    matrix_run *r = ctx;
    const hn_mut_matrix *mx = r->mx;
    int waiting = 0;
    if (!mx->depth) {
        while (r->next_cell < r->nrows * mx->nsc &&
               r->state[r->order[r->next_cell]] != CELL_PENDING)
            r->next_cell++;
        if (r->next_cell == r->nrows * mx->nsc)
            return HN_FPOOL_DONE;
        r->state[r->order[r->next_cell]] = CELL_RUNNING;
        return r->order[r->next_cell++];
    }
    for (int i = 0; i < r->nrows; i++) {
        int j;
        if (r->caught[i] >= mx->depth)
            continue;
        if (r->busy[i]) {
            waiting = 1;
            continue;
        }
        if ((j = row_next(r, i)) < 0)
            continue;
        r->busy[i] = 1;
        r->state[(size_t)i * mx->nsc + j] = CELL_RUNNING;
        return i * mx->nsc + j;
    }
    return waiting ? HN_FPOOL_WAIT : HN_FPOOL_DONE;
}

static void sched_run(void *ctx, int task, void *res)
{
    const matrix_run *r = ctx;
    cell_res *cr = res;
    int i = task / r->mx->nsc, j = task % r->mx->nsc;
    cr->ret = hn_mut_run_cell(&r->mx->scs[j], r->mx->ms ? &r->mx->ms[i] : NULL, r->o, r->stop,
                              &cr->cell, &cr->eb);
}

static int sched_done(void *ctx, int task, const void *res)
{
    matrix_run *r = ctx;
    const hn_mut_matrix *mx = r->mx;
    const cell_res *cr = res;
    int i = task / mx->nsc, j = task % mx->nsc;
    if (cr->ret < 0) {
        *r->eb = cr->eb;
        return cr->ret;
    }
    r->cells[task] = cr->cell;
    r->state[task] = CELL_DONE;
    r->busy[i] = 0;
    if (cr->cell.outcome == HN_MUT_CAUGHT) {
        r->caught[i]++;
        r->kills[j]++;
    }
    return mx->done ? mx->done(mx->ctx, i, j, &r->cells[task]) : 0;
}

int hn_mut_run_matrix(const hn_mut_matrix *mx, const hn_mut_opts *o,
                      volatile sig_atomic_t *stop, hn_mut_cell *cells, pl_errbuf *eb)
{
    matrix_run r;
    hn_fpool p;
    int ret, n;

    memset(&r, 0, sizeof r);
    r.mx = mx;
    r.o = o;
    r.stop = stop;
    r.cells = cells;
    r.eb = eb;
    r.nrows = mx->ms ? mx->nm : 1;
    n = r.nrows * mx->nsc;
    r.state = calloc((size_t)n, 1);
    r.busy = calloc((size_t)r.nrows, sizeof *r.busy);
    r.caught = calloc((size_t)r.nrows, sizeof *r.caught);
    r.kills = calloc((size_t)mx->nsc, sizeof *r.kills);
    r.order = calloc((size_t)n, sizeof *r.order);
    if (!r.state || !r.busy || !r.caught || !r.kills || !r.order) {
        ret = pl_err(eb, -ENOMEM, "out of memory");
        goto out;
    }
    memset(cells, 0, (size_t)n * sizeof *cells);
    for (int k = 0; k < n; k++)
        r.order[k] = k;
    qsort_r(r.order, (size_t)n, sizeof *r.order, cmp_cost, &r);

    memset(&p, 0, sizeof p);
    p.workers = mx->cells;
    p.res_size = sizeof(cell_res);
    p.ctx = &r;
    p.next = sched_next;
    p.run = sched_run;
    p.done = sched_done;
    p.stop = stop;
    ret = hn_fpool_run(&p, eb);
    /* what a depth-limited row did not need */
    for (int k = 0; k < n; k++)
        if (r.state[k] != CELL_DONE)
            cells[k].outcome = HN_MUT_NOT_RUN;
out:
    free(r.state);
    free(r.busy);
    free(r.caught);
    free(r.kills);
    free(r.order);
    return ret;
}

int hn_mut_depth(const hn_mut_cell *cells, int nsc, int i)
{
    int d = 0;
    for (int j = 0; j < nsc; j++)
        d += cells[(size_t)i * nsc + j].outcome == HN_MUT_CAUGHT;
    return d;
}

/* ------------------------------------------------------------ the matrix */

void hn_mut_print(FILE *out, const hn_mutant *ms, int nm, const hn_scenario *scs, int nsc,
                  const hn_mut_cell *cells)
{
    int w = 6;
    for (int i = 0; i < nm; i++)
        if ((int)strlen(ms[i].name) > w)
            w = (int)strlen(ms[i].name);
    fprintf(out, "== kill matrix: %d mutant%s x %d scenario%s (cell: trials to the first "
            "detection, 0 = the golden run; '-' survived; '.' not run)\n", nm, nm == 1 ? "" : "s", nsc,
            nsc == 1 ? "" : "s");
    fprintf(out, "%-*s", w, "mutant");
    for (int j = 0; j < nsc; j++)
        fprintf(out, "  %12.12s", scs[j].name);
    fprintf(out, "  depth\n");
    for (int i = 0; i < nm; i++) {
        int d = hn_mut_depth(cells, nsc, i);
        fprintf(out, "%-*s", w, ms[i].name);
        for (int j = 0; j < nsc; j++) {
            const hn_mut_cell *c = &cells[(size_t)i * nsc + j];
            char t[32];
            if (c->outcome == HN_MUT_CAUGHT)
                snprintf(t, sizeof t, "%d", c->trials);
            else if (c->outcome == HN_MUT_NEEDS_POWER_CUT)
                snprintf(t, sizeof t, "power-cut?");
            else if (c->outcome == HN_MUT_NOT_RUN)
                snprintf(t, sizeof t, ".");
            else
                snprintf(t, sizeof t, "-");
            fprintf(out, "  %12s", t);
        }
        fprintf(out, "  %d%s\n", d,
                d >= 2 ? "" : ms[i].power_cut_only ? "  needs power-cut model"
                            : d == 1 ? "  SHALLOW" : "  SURVIVED");
    }
    fprintf(out, "\n");
    for (int i = 0; i < nm; i++) {
        for (int j = 0; j < nsc; j++) {
            const hn_mut_cell *c = &cells[(size_t)i * nsc + j];
            if (c->outcome != HN_MUT_CAUGHT)
                continue;
            fprintf(out, "%s x %s: %s, %s, %lld.%03lld s\n   %s\n", ms[i].name, scs[j].name,
                    c->verdict, c->how, (long long)(c->ms / 1000), (long long)(c->ms % 1000),
                    c->reproduce);
        }
    }
    fflush(out);
}
