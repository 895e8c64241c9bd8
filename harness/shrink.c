/*
 * shrink.c - `replayproof shrink` (hn_shrink.h): delta-debugging of one
 * failure into a small standalone scenario.
 *
 * Layout: the log as lines (generated into CSV first when the scenario has
 * a generator workload); a candidate (which records, which aggregations,
 * which faults) written as CSV + scenario; the test "does it still fail the
 * same way" (one replay of the trial, or one golden run against batch);
 * the reductions; the entry point.
 */
#include "hn_shrink.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hn_gen.h"
#include "hn_mutants.h"
#include "pl_fs.h"

#define CSV_HEADER "partition,ingest_ns,event_ns,symbol,price,qty"

/* ------------------------------------------------------------- the log */

typedef struct rec {
    char *line;      /* without LF; starts with the partition */
    uint32_t part;
    char sym[17];    /* "" when the payload has no symbol field (poison) */
} rec;

typedef struct logv {
    rec *r;
    size_t n;
    char *text;      /* owns the lines */
} logv;

static int load_log(const char *path, logv *lv, pl_errbuf *eb)
{
    FILE *f = fopen(path, "rb");
    long len;
    size_t cap = 0;
    char *p;
    memset(lv, 0, sizeof *lv);
    if (!f)
        return pl_err_os(eb, errno, "open(%s)", path);
    if (fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
        fclose(f);
        return pl_err_os(eb, errno, "reading %s", path);
    }
    lv->text = malloc((size_t)len + 1);
    if (!lv->text || fread(lv->text, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        return pl_err(eb, lv->text ? PL_EIO : -ENOMEM, "reading %s", path);
    }
    fclose(f);
    lv->text[len] = 0;
    for (p = lv->text; *p;) {
        char *nl = strchr(p, '\n'), *c1, *c3;
        rec *x;
        if (nl)
            *nl = 0;
        if (*p && strcmp(p, CSV_HEADER) != 0) {
            if (lv->n == cap) {
                rec *nr = realloc(lv->r, (cap = cap ? 2 * cap : 4096) * sizeof *nr);
                if (!nr)
                    return pl_err(eb, -ENOMEM, "out of memory");
                lv->r = nr;
            }
            x = &lv->r[lv->n++];
            x->line = p;
            x->part = (uint32_t)strtoul(p, NULL, 10);
            x->sym[0] = 0;
            /* partition,ingest,event_ns,SYMBOL,... */
            c1 = strchr(p, ',');
            c1 = c1 ? strchr(c1 + 1, ',') : NULL;
            c1 = c1 ? strchr(c1 + 1, ',') : NULL;
            c3 = c1 ? strchr(c1 + 1, ',') : NULL;
            if (c1 && c3 && c3 - c1 - 1 >= 1 && c3 - c1 - 1 <= 16) {
                memcpy(x->sym, c1 + 1, (size_t)(c3 - c1 - 1));
                x->sym[c3 - c1 - 1] = 0;
            }
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    return 0;
}

/* ------------------------------------------------------------ candidates */

typedef struct cand {
    size_t n;
    size_t *idx;                 /* records of the log, in log order */
    int naggs;
    int agg[PL_MAX_AGGS];        /* indices into the original cfg.aggs */
    hn_trial t;                  /* unused for a batch disagreement */
} cand;

static int cand_copy(cand *dst, const cand *src)
{
    size_t *idx = malloc((src->n ? src->n : 1) * sizeof *idx);
    if (!idx)
        return -ENOMEM;
    memcpy(idx, src->idx, src->n * sizeof *idx);
    free(dst->idx);
    *dst = *src;
    dst->idx = idx;
    return 0;
}

/* Partitions present in c, renumbered densely in order: map[p] = new + 1. */
static uint32_t part_map(const logv *lv, const cand *c, uint32_t *map, uint32_t np)
{
    uint32_t k = 0;
    memset(map, 0, np * sizeof *map);
    for (size_t i = 0; i < c->n; i++)
        map[lv->r[c->idx[i]].part] = 1;
    for (uint32_t p = 0; p < np; p++)
        if (map[p])
            map[p] = ++k;
    return k;
}

static int write_csv(const char *path, const logv *lv, const cand *c, uint32_t np,
                     pl_errbuf *eb)
{
    uint32_t *map = calloc(np, sizeof *map);
    FILE *f;
    if (!map)
        return pl_err(eb, -ENOMEM, "out of memory");
    part_map(lv, c, map, np);
    f = fopen(path, "w");
    if (!f) {
        free(map);
        return pl_err_os(eb, errno, "open(%s)", path);
    }
    fputs(CSV_HEADER "\n", f);
    for (size_t i = 0; i < c->n; i++) {
        const rec *x = &lv->r[c->idx[i]];
        fprintf(f, "%u%s\n", map[x->part] - 1, strchr(x->line, ','));
    }
    free(map);
    if (fclose(f) != 0)
        return pl_err_os(eb, errno, "writing %s", path);
    return 0;
}

/* The scenario of candidate c: sc with its CSV and aggregations. */
static void cand_scenario(const hn_scenario *sc, const cand *c, const char *csv,
                          hn_scenario *out)
{
    *out = *sc;
    out->use_csv = 1;
    snprintf(out->csv_path, sizeof out->csv_path, "%s", csv);
    out->cfg.naggs = c->naggs;
    for (int i = 0; i < c->naggs; i++)
        out->cfg.aggs[i] = sc->cfg.aggs[c->agg[i]];
    out->max_late_ppm = out->max_dlq_ppm = -1;
    hn_scenario_format_args(out);
}

/* The scenario file: every key the run depends on, durations in ns. */
static int write_ini(const char *path, const hn_scenario *s, const char *csvname,
                     const hn_trial *t, const char *from, pl_errbuf *eb)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return pl_err_os(eb, errno, "open(%s)", path);
    fprintf(f, "; written by replayproof shrink from %s\n", from);
    fprintf(f, "[scenario]\nname = %.50s-shrunk\n", s->name);
    fprintf(f, "[workload]\ncsv = %s\n", csvname);
    fprintf(f, "[pipeline]\n");
    if (strcmp(s->binary, "refpipe-fiu"))
        fprintf(f, "binary = %s\n", s->binary);
    for (int i = 0; i < s->cfg.naggs; i++) {
        const pl_agg_spec *a = &s->cfg.aggs[i];
        if (a->kind == PL_AGG_TUMBLING)
            fprintf(f, "agg = %s=tumbling:%lldns\n", a->name, (long long)a->size);
        else if (a->kind == PL_AGG_SLIDING)
            fprintf(f, "agg = %s=sliding:%lldns:%lldns\n", a->name, (long long)a->size,
                    (long long)a->slide);
        else
            fprintf(f, "agg = %s=%s:%lld\n", a->name,
                    a->kind == PL_AGG_TICKS ? "ticks" : a->kind == PL_AGG_VOLUME ? "volume"
                                                                                 : "dollar",
                    (long long)a->threshold);
    }
    fprintf(f, "max-delay = %lldns\nidle-timeout = %lldns\ncheckpoint-every = %s\n",
            (long long)s->cfg.max_delay, (long long)s->cfg.idle_timeout,
            s->arg_checkpoint_every);
    for (int i = 0; i < s->nenv; i++)
        fprintf(f, "env = %s\n", s->env[i]);
    if (s->no_fork_server)
        fprintf(f, "fork-server = false\n");
    fprintf(f, "[faults]\n");
    if (t && t->nfaults > 0 && t->fault[0].kind == HN_F_KILL)
        fprintf(f, "points = %s\nhits = %llu\ncrashes = %d\n", t->fault[0].point,
                (unsigned long long)t->fault[0].k, t->nfaults);
    fprintf(f, "budget = 1\nseed = %llu\ntimeout = %lldns\nmax-restarts = %d\n",
            (unsigned long long)s->seed, (long long)s->timeout_ns, s->max_restarts);
    fprintf(f, "[expect]\nconverge = %s\nagree-with-batch = %s\n",
            s->expect_converge ? "true" : "false", s->expect_agree ? "true" : "false");
    if (fclose(f) != 0)
        return pl_err_os(eb, errno, "writing %s", path);
    return 0;
}

/* ------------------------------------------------------------ the test */

typedef struct shr {
    const hn_scenario *sc;
    const hn_shrink_opts *o;
    hn_shrink_result *res;
    logv lv;
    uint32_t np;
    char csv[PATH_MAX], work[PATH_MAX];
    int target;                  /* trial verdict */
    char target_tbl[8];          /* batch: first differing table */
    pl_errbuf *eb;
} shr;

static void note(const shr *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const shr *s, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    if (!s->o->note)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->o->note(s->o->note_ctx, line);
}

/* 1 when candidate c fails the same way, 0 when not, < 0 on a harness
 * failure.  *verdict (may be NULL) gets what it did. */
static int same(shr *s, const cand *c, char *verdict, size_t vn)
{
    hn_scenario *sc2 = malloc(sizeof *sc2);
    int ret, ok = 0;
    if (!sc2)
        return pl_err(s->eb, -ENOMEM, "out of memory");
    if (c->n == 0) {
        free(sc2);
        return 0;
    }
    if (s->o->stop && *s->o->stop) {
        free(sc2);
        return pl_err(s->eb, -EINTR, "interrupted");
    }
    s->res->attempts++;
    if ((ret = write_csv(s->csv, &s->lv, c, s->np, s->eb)) < 0)
        goto out;
    cand_scenario(s->sc, c, s->csv, sc2);
    if (s->o->trial) {
        hn_run_opts ro;
        hn_trial_result *tr = malloc(sizeof *tr);
        int golden_failed = 0;
        if (!tr) {
            ret = pl_err(s->eb, -ENOMEM, "out of memory");
            goto out;
        }
        hn_run_opts_init(&ro);
        ro.workdir = s->work;
        ro.jobs = 1;
        ro.stop = s->o->stop;
        ret = hn_run_replay(sc2, &c->t, &ro, tr, &golden_failed, s->eb);
        if (ret == 0 && !golden_failed) {
            ok = tr->verdict == s->target;
            if (verdict)
                snprintf(verdict, vn, "%s", hn_verdict_name(tr->verdict));
        } else if (ret == 0 && verdict)
            snprintf(verdict, vn, "golden run failed");
        if (ret < 0 && ret != -EINTR) {
            /* a candidate the harness cannot run (say, a trial that no longer
             * parses for it) is simply not the same failure */
            ret = 0;
        }
        free(tr);
    } else {
        hn_mut_opts mo;
        hn_mut_cell *cell = malloc(sizeof *cell);
        if (!cell) {
            ret = pl_err(s->eb, -ENOMEM, "out of memory");
            goto out;
        }
        memset(&mo, 0, sizeof mo);
        hn_run_opts_init(&mo.run);
        mo.run.workdir = s->work;
        mo.run.budget = 1;
        ret = hn_mut_run_cell(sc2, NULL, &mo, s->o->stop, cell, s->eb);
        if (ret == 0) {
            char tbl[8] = "";
            const char *p = strstr(cell->how, "(");
            if (p)
                sscanf(p + 1, "%7[a-z]", tbl);
            ok = cell->outcome == HN_MUT_CAUGHT &&
                 !strcmp(cell->verdict, hn_sc_verdict_name(HN_SC_BATCH_DISAGREES));
            /* the first test (the whole log) fixes the table */
            if (ok && !s->target_tbl[0])
                snprintf(s->target_tbl, sizeof s->target_tbl, "%s", tbl);
            ok = ok && !strcmp(tbl, s->target_tbl);
            if (verdict)
                snprintf(verdict, vn, "%s", cell->outcome == HN_MUT_CAUGHT ? cell->verdict
                                                                             : "converged");
        }
        free(cell);
    }
out:
    pl_fs_rm_rf(s->work);
    pl_fs_mkdir_p(s->work, NULL);
    free(sc2);
    return ret < 0 ? ret : ok;
}

/* ------------------------------------------------------------ reductions */

/* 1 when another replay may run.  Also where a stop request ends the
 * reductions: every loop below asks before each replay. */
static int budget_left(shr *s)
{
    if (s->o->stop && *s->o->stop)
        return 0;
    if (s->res->attempts < s->o->budget)
        return 1;
    s->res->budget_exhausted = 1;
    return 0;
}

/* Try candidate t instead of c; keep it when it fails the same way. */
static int try_cand(shr *s, cand *c, cand *t, const char *what)
{
    int r;
    if (!budget_left(s))
        return 0;
    r = same(s, t, NULL, 0);
    if (r < 0)
        return r;
    note(s, "shrink: %s: %s (%zu records, %d aggregations, %d faults)", what,
         r ? "still fails" : "passes, kept", t->n, t->naggs, t->t.nfaults);
    if (r)
        return cand_copy(c, t) < 0 ? pl_err(s->eb, -ENOMEM, "out of memory") : 1;
    return 0;
}

static int drop_faults(shr *s, cand *c, cand *t)
{
    for (int i = c->t.nfaults - 1; i >= 0 && c->t.nfaults > 1; i--) {
        int r;
        char what[64];
        if (cand_copy(t, c) < 0)
            return pl_err(s->eb, -ENOMEM, "out of memory");
        memmove(&t->t.fault[i], &t->t.fault[i + 1],
                (size_t)(t->t.nfaults - i - 1) * sizeof t->t.fault[0]);
        t->t.nfaults--;
        snprintf(what, sizeof what, "without fault %d", i + 1);
        if ((r = try_cand(s, c, t, what)) < 0)
            return r;
    }
    return 0;
}

/* An earlier hit of the first fault's point that still fails the same way,
 * so that the log can be cut shorter: up to 16 hits spread evenly below the
 * current one, tried from the first; the first that fails is kept.  (Which
 * hits fail is not monotone in the hit number, so no bisection.)  A kill, an
 * I/O error or a corruption's kill: each names a hit of a point. */
static int lower_hit(shr *s, cand *c, cand *t)
{
    uint64_t hi, prev = 0;
    int kind = c->t.nfaults > 0 ? c->t.fault[0].kind : -1;
    if (kind != HN_F_KILL && kind != HN_F_IOERR && kind != HN_F_CORRUPT)
        return 0;
    hi = c->t.fault[0].k;
    for (uint64_t i = 1; i <= 16 && budget_left(s); i++) {
        uint64_t k = hi * i / 16;
        int r;
        if (k < 1 || k == prev)
            continue;
        if (k >= hi)
            break;
        prev = k;
        if (cand_copy(t, c) < 0)
            return pl_err(s->eb, -ENOMEM, "out of memory");
        t->t.fault[0].k = k;
        r = same(s, t, NULL, 0);
        if (r < 0)
            return r;
        note(s, "shrink: %s:%llu: %s", t->t.fault[0].point, (unsigned long long)k,
             r ? "still fails" : "passes");
        if (r) {
            c->t.fault[0].k = k;
            break;
        }
    }
    return 0;
}

static int drop_aggs(shr *s, cand *c, cand *t)
{
    for (int i = c->naggs - 1; i >= 0 && c->naggs > 1; i--) {
        int r;
        char what[128];
        if (cand_copy(t, c) < 0)
            return pl_err(s->eb, -ENOMEM, "out of memory");
        snprintf(what, sizeof what, "without aggregation %s", s->sc->cfg.aggs[c->agg[i]].name);
        memmove(&t->agg[i], &t->agg[i + 1], (size_t)(t->naggs - i - 1) * sizeof t->agg[0]);
        t->naggs--;
        if ((r = try_cand(s, c, t, what)) < 0)
            return r;
    }
    return 0;
}

/* Shortest failing prefix, by bisection (c itself fails). */
static int cut_prefix(shr *s, cand *c, cand *t)
{
    size_t lo = 0, hi = c->n;
    while (hi - lo > 1 && budget_left(s)) {
        size_t mid = lo + (hi - lo) / 2;
        int r;
        if (cand_copy(t, c) < 0)
            return pl_err(s->eb, -ENOMEM, "out of memory");
        t->n = mid;
        r = same(s, t, NULL, 0);
        if (r < 0)
            return r;
        note(s, "shrink: first %zu records: %s", mid, r ? "still fails" : "passes");
        if (r)
            hi = mid;
        else
            lo = mid;
    }
    c->n = hi;
    return 0;
}

/* Drop the records matching one partition or one symbol at a time. */
static int drop_keys(shr *s, cand *c, cand *t, int by_sym)
{
    size_t k = 0;
    for (;;) {
        /* the k-th distinct key of c (partitions from the last, symbols in order) */
        const rec *key = NULL;
        size_t seen = 0;
        char what[64];
        int r;
        if (by_sym) {
            for (size_t i = 0; i < c->n && !key; i++) {
                const rec *x = &s->lv.r[c->idx[i]];
                int dup = 0;
                for (size_t j = 0; j < i && !dup; j++)
                    dup = !strcmp(s->lv.r[c->idx[j]].sym, x->sym);
                if (!dup && seen++ == k)
                    key = x;
            }
        } else {
            uint32_t p = s->np;
            while (p-- > 0 && !key) {
                for (size_t i = 0; i < c->n; i++)
                    if (s->lv.r[c->idx[i]].part == p) {
                        if (seen++ == k)
                            key = &s->lv.r[c->idx[i]];
                        break;
                    }
            }
        }
        if (!key)
            return 0;
        if (cand_copy(t, c) < 0)
            return pl_err(s->eb, -ENOMEM, "out of memory");
        t->n = 0;
        for (size_t i = 0; i < c->n; i++) {
            const rec *x = &s->lv.r[c->idx[i]];
            if (by_sym ? strcmp(x->sym, key->sym) != 0 : x->part != key->part)
                t->idx[t->n++] = c->idx[i];
        }
        if (by_sym)
            snprintf(what, sizeof what, "without symbol %s", key->sym[0] ? key->sym
                                                                  : "(none: poison)");
        else
            snprintf(what, sizeof what, "without partition %u", key->part);
        r = t->n ? try_cand(s, c, t, what) : 0;
        if (r < 0)
            return r;
        if (!r)
            k++; /* kept: the next key; dropped: the k-th key is now another */
        if (!budget_left(s))
            return 0;
    }
}

static void measure(const shr *s, const cand *c, int64_t *records, int *parts, int *syms)
{
    uint32_t *map = calloc(s->np ? s->np : 1, sizeof *map);
    *records = (int64_t)c->n;
    *parts = map ? (int)part_map(&s->lv, c, map, s->np) : -1;
    *syms = 0;
    for (size_t i = 0; i < c->n; i++) {
        const rec *x = &s->lv.r[c->idx[i]];
        int dup = !x->sym[0];
        for (size_t j = 0; j < i && !dup; j++)
            dup = !strcmp(s->lv.r[c->idx[j]].sym, x->sym);
        *syms += !dup;
    }
    free(map);
}

/* ------------------------------------------------------------ entry point */

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int hn_shrink(const hn_scenario *sc, const hn_shrink_opts *o, hn_shrink_result *res,
              pl_errbuf *eb)
{
    shr s;
    cand c, t;
    char src[PATH_MAX] = "", verdict[64] = "";
    int ret;

    memset(res, 0, sizeof *res);
    memset(&s, 0, sizeof s);
    memset(&c, 0, sizeof c);
    memset(&t, 0, sizeof t);
    s.sc = sc;
    s.o = o;
    s.res = res;
    s.eb = eb;
    if ((ret = pl_fs_mkdir_p(o->outdir, eb)) < 0)
        return ret;
    snprintf(s.work, sizeof s.work, "%s/work", o->workdir ? o->workdir : o->outdir);
    if ((ret = pl_fs_mkdir_p(s.work, eb)) < 0)
        return ret;
    if (snprintf(s.csv, sizeof s.csv, "%s/%.60s-shrunk.csv", o->outdir, sc->name) >=
        (int)sizeof s.csv)
        return pl_err(eb, -ENAMETOOLONG, "output path too long");

    /* the log as CSV lines */
    if (sc->use_csv) {
        snprintf(src, sizeof src, "%s", sc->csv_path);
    } else {
        hn_gen_stats gs;
        hn_gen_opts go = sc->gen;
        go.stop = o->stop; /* a long generation stops on SIGINT/SIGTERM too */
        snprintf(src, sizeof src, "%s/%.60s-full.csv", o->outdir, sc->name);
        if ((ret = hn_gen_write_path(&go, src, &gs, eb)) < 0) {
            if (ret == -EINTR)
                pl_err(eb, -EINTR, "interrupted");
            goto out;
        }
    }
    ret = load_log(src, &s.lv, eb);
    if (!sc->use_csv)
        remove(src);
    if (ret < 0)
        goto out;
    for (size_t i = 0; i < s.lv.n; i++)
        if (s.lv.r[i].part >= s.np)
            s.np = s.lv.r[i].part + 1;
    c.n = s.lv.n;
    c.idx = malloc((c.n ? c.n : 1) * sizeof *c.idx);
    if (!c.idx) {
        ret = pl_err(eb, -ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < c.n; i++)
        c.idx[i] = i;
    c.naggs = sc->cfg.naggs;
    for (int i = 0; i < c.naggs; i++)
        c.agg[i] = i;
    if (o->trial)
        c.t = *o->trial;
    res->faults0 = c.t.nfaults;
    res->aggs0 = c.naggs;
    measure(&s, &c, &res->records0, &res->partitions0, &res->symbols0);

    /* the failure as it is, in CSV form */
    if (o->trial && o->known_verdict > 0) {
        /* the caller saw it fail: the CSV form below must fail the same way */
        s.target = o->known_verdict;
    } else if (o->trial) {
        hn_trial_result *tr = malloc(sizeof *tr);
        hn_run_opts ro;
        int gf = 0;
        if (!tr) {
            ret = pl_err(eb, -ENOMEM, "out of memory");
            goto out;
        }
        hn_run_opts_init(&ro);
        ro.workdir = s.work;
        ro.stop = o->stop;
        /* the target verdict comes from the original scenario itself */
        ret = hn_run_replay(sc, o->trial, &ro, tr, &gf, eb);
        s.target = tr->verdict;
        free(tr);
        pl_fs_rm_rf(s.work);
        pl_fs_mkdir_p(s.work, NULL);
        if (ret < 0)
            goto out;
        if (gf || s.target == HN_V_CONVERGED) {
            snprintf(res->verdict, sizeof res->verdict, "%s",
                     gf ? "golden run failed" : "converged");
            goto out; /* nothing to shrink */
        }
    }
    ret = same(&s, &c, verdict, sizeof verdict);
    if (ret < 0)
        goto out;
    snprintf(res->verdict, sizeof res->verdict, "%s",
             o->trial ? hn_verdict_name(s.target) : verdict);
    if (!ret) {
        note(&s, "shrink: the failure does not reproduce with the log in CSV form (%s)",
             verdict);
        ret = 0;
        goto out;
    }
    res->reproduced = 1;
    note(&s, "shrink: reproduced (%s) with %zu records", res->verdict, c.n);

    if ((ret = drop_faults(&s, &c, &t)) < 0 || (ret = lower_hit(&s, &c, &t)) < 0 ||
        (ret = drop_aggs(&s, &c, &t)) < 0 ||
        (ret = cut_prefix(&s, &c, &t)) < 0 || (ret = drop_keys(&s, &c, &t, 0)) < 0 ||
        (ret = drop_keys(&s, &c, &t, 1)) < 0 || (ret = cut_prefix(&s, &c, &t)) < 0)
        goto out;
    if (o->stop && *o->stop) {
        /* the reductions stopped early: nothing half-shrunk is written */
        ret = pl_err(eb, -EINTR, "interrupted");
        goto out;
    }
    ret = 0;

    /* the result: CSV and scenario, checked once more as written */
    {
        hn_scenario *w = malloc(sizeof *w);
        char ini[PATH_MAX], csvname[128];
        if (!w) {
            ret = pl_err(eb, -ENOMEM, "out of memory");
            goto out;
        }
        cand_scenario(sc, &c, s.csv, w);
        snprintf(ini, sizeof ini, "%s/%.60s-shrunk.ini", o->outdir, sc->name);
        snprintf(csvname, sizeof csvname, "%.60s-shrunk.csv", sc->name);
        ret = write_csv(s.csv, &s.lv, &c, s.np, eb);
        if (ret == 0)
            ret = write_ini(ini, w, csvname, o->trial ? &c.t : NULL, sc->path, eb);
        free(w);
        if (ret < 0)
            goto out;
        snprintf(res->scenario, sizeof res->scenario, "%s", ini);
        snprintf(res->csv, sizeof res->csv, "%s", s.csv);
        if (o->trial)
            hn_run_trial_format(&c.t, res->trial, sizeof res->trial);
    }
    res->faults = c.t.nfaults;
    res->aggs = c.naggs;
    measure(&s, &c, &res->records, &res->partitions, &res->symbols);

out:
    pl_fs_rm_rf(s.work);
    /* the candidates' CSV is the result only when one was written (and is
     * never the scenario's own log) */
    if ((ret < 0 || !res->scenario[0]) && s.csv[0] && !same_file(s.csv, src))
        remove(s.csv);
    free(c.idx);
    free(t.idx);
    free(s.lv.r);
    free(s.lv.text);
    return ret;
}
