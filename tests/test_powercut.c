/*
 * test_powercut.c - the power-cut model (harness/cutstate.c) and the trace
 * preload (faults/trace.c).
 *
 * Layout: a writer of synthetic traces (independent of rp-trace.so, so the
 * model is tested against hand-written operation sequences); the model's
 * rules, one test each; the preload on real programs (a shell, coreutils'
 * sync, the sqlite3 shell: Debian's libsqlite3 must be seen); the explorer
 * end to end on refpipe.
 */
#include <check.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ft_trace.h"
#include "hn_cut.h"
#include "hn_run.h"
#include "hn_scenario.h"
#include "tutil.h"

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir();
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
}

/* ------------------------------------------------------ synthetic traces */

typedef struct tw {
    FILE *t, *d;
    uint64_t doff;
    uint64_t n;
    char path[4096];
} tw;

static void tw_open(tw *w)
{
    char data[4200];
    snprintf(w->path, sizeof w->path, "%s/trace", dir);
    snprintf(data, sizeof data, "%s.data", w->path);
    w->t = fopen(w->path, "wb");
    w->d = fopen(data, "wb");
    ck_assert(w->t && w->d);
    fwrite(FT_TRACE_MAGIC, 1, 8, w->t);
    w->doff = 0;
    w->n = 0;
}

/* Appends one record; returns its index. */
static uint64_t tw_rec(tw *w, int op, int flags, uint32_t obj, const char *p, const char *p2,
                       uint64_t off, const void *data, uint64_t len, int err)
{
    ft_trec r;
    memset(&r, 0, sizeof r);
    r.op = (uint8_t)op;
    r.flags = (uint8_t)flags;
    r.plen = (uint16_t)(p ? strlen(p) : 0);
    r.p2len = (uint16_t)(p2 ? strlen(p2) : 0);
    r.err = err;
    r.ino = obj;
    r.off = off;
    r.len = len;
    if (data) {
        r.data = w->doff;
        fwrite(data, 1, len, w->d);
        w->doff += len;
    }
    fwrite(&r, sizeof r, 1, w->t);
    if (r.plen)
        fwrite(p, 1, r.plen, w->t);
    if (r.p2len)
        fwrite(p2, 1, r.p2len, w->t);
    return w->n++;
}

static hn_cut_trace *tw_close(tw *w)
{
    hn_cut_trace *t;
    pl_errbuf eb = {{0}};
    fclose(w->t);
    fclose(w->d);
    ck_assert_msg(hn_cut_load(w->path, &t, &eb) == 0, "%s", eb.msg);
    ck_assert_uint_eq(hn_cut_nrecords(t), w->n);
    return t;
}

#define W(w, s) tw_rec(w, FT_OP_WRITE, 0, 2, NULL, NULL, 0, s, strlen(s), 0)

/* Build the state at pos under model into dir/state-N; returns its path. */
static const char *build(hn_cut_trace *t, uint64_t pos, int model, uint64_t seed,
                         hn_cut_info *info)
{
    static char out[4200];
    static int seq;
    pl_errbuf eb = {{0}};
    snprintf(out, sizeof out, "%s/state-%d", dir, seq++);
    ck_assert_msg(hn_cut_build(t, pos, model, seed, out, info, &eb) == 0, "%s", eb.msg);
    return out;
}

/* Contents of state/name, or NULL when it does not exist. */
static char *state_file(const char *state, const char *name, size_t *len)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", state, name);
    return tu_slurp(p, len);
}

static void expect_file(const char *state, const char *name, const char *want)
{
    size_t len = 0;
    char *got = state_file(state, name, &len);
    if (!want) {
        ck_assert_msg(got == NULL, "%s/%s should not exist (has %zu bytes)", state, name, len);
        return;
    }
    ck_assert_msg(got != NULL, "%s/%s missing", state, name);
    ck_assert_uint_eq(len, strlen(want));
    ck_assert_msg(memcmp(got, want, len) == 0, "%s/%s: '%.*s', expected '%s'", state, name,
                  (int)len, got, want);
    free(got);
}

/* ----------------------------------------------------------- the model */

START_TEST(fsynced_data_survives)
{
    tw w;
    hn_cut_trace *t;
    uint64_t end;
    tw_open(&w);
    tw_rec(&w, FT_OP_INIT_DIR, FT_TF_DIR, 1, "", NULL, 0, NULL, 0, 0);
    tw_rec(&w, FT_OP_OPEN, FT_TF_CREATED, 2, "a", NULL, 0, NULL, 0, 0);
    tw_rec(&w, FT_OP_FSYNC, FT_TF_DIR, 1, NULL, NULL, 0, NULL, 0, 0);
    W(&w, "hello");
    end = tw_rec(&w, FT_OP_FSYNC, 0, 2, NULL, NULL, 0, NULL, 0, 0) + 1;
    t = tw_close(&w);
    for (int m = 0; m < HN_PC__COUNT; m++)
        expect_file(build(t, end, m, 5, NULL), "a", "hello");
    /* before the file's fsync, strict keeps the entry (dir fsync'd) but not the data */
    expect_file(build(t, end - 1, HN_PC_STRICT, 0, NULL), "a", "");
    hn_cut_free(t);
}
END_TEST

START_TEST(unsynced_data_lost_under_strict)
{
    tw w;
    hn_cut_trace *t;
    int kept = 0, lost = 0;
    hn_cut_info info;
    tw_open(&w);
    tw_rec(&w, FT_OP_INIT_DIR, FT_TF_DIR, 1, "", NULL, 0, NULL, 0, 0);
    tw_rec(&w, FT_OP_INIT_FILE, 0, 2, "a", NULL, 0, "old", 3, 0);
    tw_rec(&w, FT_OP_TRUNC, 0, 2, NULL, NULL, 0, NULL, 0, 0);
    W(&w, "new data");
    t = tw_close(&w);
    expect_file(build(t, 4, HN_PC_STRICT, 0, &info), "a", "old");
    ck_assert_uint_eq(info.unsynced, 2);
    expect_file(build(t, 4, HN_PC_EXT4_ORDERED, 0, NULL), "a", "old");
    /* keep-some: a seeded subset; over many seeds both fates occur, and the
     * kept write never appears without being one of the recorded states */
    for (uint64_t seed = 0; seed < 32; seed++) {
        size_t len;
        char *got = state_file(build(t, 4, HN_PC_KEEP_SOME, seed, &info), "a", &len);
        ck_assert(got != NULL);
        if (len == 8 && memcmp(got, "new data", 8) == 0)
            kept++;
        else if (len == 3 && memcmp(got, "old", 3) == 0)
            lost++;
        else
            ck_assert_msg((len == 0) || (len == 8 && memcmp(got, "new data", 8) == 0) ||
                              (len == 8 && memcmp(got, "new", 3) == 0),
                          "seed %llu: unexpected '%.*s'", (unsigned long long)seed, (int)len,
                          got);
        free(got);
    }
    ck_assert_int_gt(kept, 0);
    ck_assert_int_gt(lost, 0);
    hn_cut_free(t);
}
END_TEST

START_TEST(rename_without_dir_fsync_reverts)
{
    tw w;
    hn_cut_trace *t;
    uint64_t ren, dsync;
    tw_open(&w);
    tw_rec(&w, FT_OP_INIT_DIR, FT_TF_DIR, 1, "", NULL, 0, NULL, 0, 0);
    tw_rec(&w, FT_OP_INIT_FILE, 0, 3, "ckpt", NULL, 0, "old", 3, 0);
    tw_rec(&w, FT_OP_OPEN, FT_TF_CREATED, 2, "tmp", NULL, 0, NULL, 0, 0);
    W(&w, "new");
    tw_rec(&w, FT_OP_FSYNC, 0, 2, NULL, NULL, 0, NULL, 0, 0);
    ren = tw_rec(&w, FT_OP_RENAME, 0, 2, "tmp", "ckpt", 0, NULL, 0, 0);
    dsync = tw_rec(&w, FT_OP_FSYNC, FT_TF_DIR, 1, NULL, NULL, 0, NULL, 0, 0);
    t = tw_close(&w);
    {
        const char *s = build(t, ren + 1, HN_PC_STRICT, 0, NULL);
        expect_file(s, "ckpt", "old");
        expect_file(s, "tmp", NULL); /* its creation was never made durable either */
    }
    {
        const char *s = build(t, dsync + 1, HN_PC_STRICT, 0, NULL);
        expect_file(s, "ckpt", "new");
        expect_file(s, "tmp", NULL);
    }
    hn_cut_free(t);
}
END_TEST

START_TEST(created_file_without_dir_fsync_vanishes)
{
    tw w;
    hn_cut_trace *t;
    uint64_t end;
    tw_open(&w);
    tw_rec(&w, FT_OP_INIT_DIR, FT_TF_DIR, 1, "", NULL, 0, NULL, 0, 0);
    tw_rec(&w, FT_OP_MKDIR, FT_TF_DIR, 3, "sub", NULL, 0, NULL, 0, 0);
    tw_rec(&w, FT_OP_OPEN, FT_TF_CREATED, 2, "f", NULL, 0, NULL, 0, 0);
    W(&w, "data");
    end = tw_rec(&w, FT_OP_FSYNC, 0, 2, NULL, NULL, 0, NULL, 0, 0) + 1;
    t = tw_close(&w);
    {
        struct stat st;
        char p[4400];
        const char *s = build(t, end, HN_PC_STRICT, 0, NULL);
        expect_file(s, "f", NULL);
        snprintf(p, sizeof p, "%s/sub", s);
        ck_assert_int_ne(stat(p, &st), 0); /* mkdir without a parent fsync vanishes too */
    }
    /* ext4-ordered: the fsync commits the journal, entries included */
    expect_file(build(t, end, HN_PC_EXT4_ORDERED, 0, NULL), "f", "data");
    hn_cut_free(t);
}
END_TEST

START_TEST(ext4_rename_implies_data)
{
    tw w;
    hn_cut_trace *t;
    uint64_t end;
    tw_open(&w);
    tw_rec(&w, FT_OP_INIT_DIR, FT_TF_DIR, 1, "", NULL, 0, NULL, 0, 0);
    tw_rec(&w, FT_OP_INIT_FILE, 0, 3, "ckpt", NULL, 0, "old", 3, 0);
    tw_rec(&w, FT_OP_INIT_FILE, 0, 4, "other", NULL, 0, "", 0, 0);
    tw_rec(&w, FT_OP_OPEN, FT_TF_CREATED, 2, "tmp", NULL, 0, NULL, 0, 0);
    W(&w, "new"); /* no fsync of tmp: the bug a rename-replace makes */
    tw_rec(&w, FT_OP_RENAME, 0, 2, "tmp", "ckpt", 0, NULL, 0, 0);
    end = tw_rec(&w, FT_OP_FSYNC, FT_TF_DIR, 1, NULL, NULL, 0, NULL, 0, 0) + 1;
    t = tw_close(&w);
    /* strict: the rename is durable, the data are not: an empty checkpoint */
    expect_file(build(t, end, HN_PC_STRICT, 0, NULL), "ckpt", "");
    expect_file(build(t, end, HN_PC_EXT4_ORDERED, 0, NULL), "ckpt", "new");
    hn_cut_free(t);
}
END_TEST

START_TEST(torn_write_keeps_whole_sectors)
{
    tw w;
    hn_cut_trace *t;
    char a[2048], b[1000];
    int saw_mixed = 0;
    memset(a, 'A', sizeof a);
    memset(b, 'B', sizeof b);
    tw_open(&w);
    tw_rec(&w, FT_OP_INIT_DIR, FT_TF_DIR, 1, "", NULL, 0, NULL, 0, 0);
    tw_rec(&w, FT_OP_INIT_FILE, 0, 2, "db", NULL, 0, a, sizeof a, 0);
    /* bytes 100..1099: sectors 0 (part), 1 (whole), 2 (part) */
    tw_rec(&w, FT_OP_WRITE, 0, 2, NULL, NULL, 100, b, sizeof b, 0);
    t = tw_close(&w);
    for (uint64_t seed = 0; seed < 24; seed++) {
        size_t len;
        hn_cut_info info;
        char *got = state_file(build(t, 3, HN_PC_TORN, seed, &info), "db", &len);
        int kept = 0, lost = 0;
        ck_assert(got && len == sizeof a);
        for (int s = 0; s < 4; s++) {
            int lo = s * 512, hi = lo + 512, wl = lo < 100 ? 100 : lo, wh = hi > 1100 ? 1100 : hi;
            int nb = 0;
            for (int i = lo; i < hi; i++) {
                int in = i >= wl && i < wh;
                ck_assert(got[i] == 'A' || (in && got[i] == 'B'));
                nb += got[i] == 'B';
            }
            if (wl >= wh)
                continue; /* sector 3: outside the write */
            /* a sector holds all of its part of the write, or none */
            ck_assert_msg(nb == 0 || nb == wh - wl, "seed %llu sector %d: %d of %d bytes new",
                          (unsigned long long)seed, s, nb, wh - wl);
            kept += nb > 0;
            lost += nb == 0;
        }
        ck_assert_int_ge(kept, 1);
        ck_assert_int_ge(lost, 1);
        saw_mixed |= kept == 2;
        free(got);
    }
    ck_assert(saw_mixed);
    hn_cut_free(t);
}
END_TEST

START_TEST(failed_fsync_loses_data)
{
    tw w;
    hn_cut_trace *t;
    uint64_t end;
    tw_open(&w);
    tw_rec(&w, FT_OP_INIT_DIR, FT_TF_DIR, 1, "", NULL, 0, NULL, 0, 0);
    tw_rec(&w, FT_OP_OPEN, FT_TF_CREATED, 2, "w", NULL, 0, NULL, 0, 0);
    tw_rec(&w, FT_OP_FSYNC, FT_TF_DIR, 1, NULL, NULL, 0, NULL, 0, 0);
    W(&w, "one");
    tw_rec(&w, FT_OP_FSYNC, 0, 2, NULL, NULL, 0, NULL, 0, EIO);
    tw_rec(&w, FT_OP_WRITE, 0, 2, NULL, NULL, 3, "two", 3, 0);
    end = tw_rec(&w, FT_OP_FSYNC, 0, 2, NULL, NULL, 0, NULL, 0, 0) + 1;
    t = tw_close(&w);
    {
        size_t len;
        char *got = state_file(build(t, end, HN_PC_STRICT, 0, NULL), "w", &len);
        ck_assert(got != NULL);
        ck_assert_uint_eq(len, 6);
        ck_assert(memcmp(got, "\0\0\0two", 6) == 0); /* "one" is gone for good */
        free(got);
    }
    hn_cut_free(t);
}
END_TEST

START_TEST(candidates_and_hit_positions)
{
    tw w;
    hn_cut_trace *t;
    uint64_t *pos = NULL, h1, h2, f;
    size_t n = 0;
    pl_errbuf eb = {{0}};
    char desc[64];
    tw_open(&w);
    tw_rec(&w, FT_OP_INIT_DIR, FT_TF_DIR, 1, "", NULL, 0, NULL, 0, 0);
    tw_rec(&w, FT_OP_OPEN, FT_TF_CREATED, 2, "a", NULL, 0, NULL, 0, 0);
    h1 = tw_rec(&w, FT_OP_FIU, 0, 0, "x/y", NULL, 0, NULL, 1, 0);
    W(&w, "1");
    f = tw_rec(&w, FT_OP_FSYNC, 0, 2, NULL, NULL, 0, NULL, 0, 0);
    h2 = tw_rec(&w, FT_OP_FIU, 0, 0, "x/y", NULL, 0, NULL, 2, 0);
    tw_rec(&w, FT_OP_FSYNC, FT_TF_DIR, 1, NULL, NULL, 0, NULL, 0, 0);
    t = tw_close(&w);
    ck_assert_int_eq(hn_cut_hit_pos(t, "x/y", 1), (int64_t)h1);
    ck_assert_int_eq(hn_cut_hit_pos(t, "x/y", 2), (int64_t)h2);
    ck_assert_int_eq(hn_cut_hit_pos(t, "x/y", 3), -1);
    ck_assert_int_eq(hn_cut_hit_pos(t, "x/z", 1), -1);
    hn_cut_describe(t, h2, desc, sizeof desc);
    ck_assert_str_eq(desc, "x/y:2");
    ck_assert_int_eq(hn_cut_candidates(t, HN_PC_STRICT, &pos, &n, &eb), 0);
    /* strict: the state changes at the file fsync (data of an unreachable
     * file: no visible change, but a new durable version) and at the dir
     * fsync; h1 and the positions around it share one state */
    ck_assert_uint_ge(n, 2);
    for (size_t i = 1; i < n; i++)
        ck_assert_uint_gt(pos[i], pos[i - 1]);
    ck_assert_uint_eq(pos[n - 1], f + 3);
    free(pos);
    ck_assert_int_eq(hn_cut_candidates(t, HN_PC_KEEP_SOME, &pos, &n, &eb), 0);
    ck_assert_uint_ge(n, 3);
    free(pos);
    hn_cut_free(t);
}
END_TEST

/* ------------------------------------------------------- the preload */

/* Run a shell command in dir/st under rp-trace.so. */
static int traced(const char *cmd)
{
    return tu_sh("mkdir -p %s/st && cd %s/st && RP_TRACE_DIR=%s/st RP_TRACE_OUT=%s/tr "
                 "LD_PRELOAD=%s sh -c '%s'",
                 dir, dir, dir, dir, tu_bin("rp-trace.so"), cmd);
}

static hn_cut_trace *load_traced(void)
{
    char p[4200];
    hn_cut_trace *t;
    pl_errbuf eb = {{0}};
    snprintf(p, sizeof p, "%s/tr", dir);
    ck_assert_msg(hn_cut_load(p, &t, &eb) == 0, "%s", eb.msg);
    return t;
}

START_TEST(preload_sees_shell_and_sync)
{
    hn_cut_trace *t;
    /* f: written and fsync'd, its entry never; g: both (sync of the dir) */
    ck_assert_int_eq(traced("printf abc > f && sync f && printf xyz > g && sync g && sync ."),
                     0);
    t = load_traced();
    {
        const char *s = build(t, hn_cut_nrecords(t), HN_PC_STRICT, 0, NULL);
        expect_file(s, "f", "abc"); /* the dir fsync at the end covers both entries */
        expect_file(s, "g", "xyz");
    }
    hn_cut_free(t);
    tu_sh("rm -rf %s/st", dir);
    ck_assert_int_eq(traced("printf abc > f && sync f"), 0);
    t = load_traced();
    expect_file(build(t, hn_cut_nrecords(t), HN_PC_STRICT, 0, NULL), "f", NULL);
    expect_file(build(t, hn_cut_nrecords(t), HN_PC_EXT4_ORDERED, 0, NULL), "f", "abc");
    hn_cut_free(t);
    /* the snapshot: a file that was there before the run is in every state */
    ck_assert_int_eq(traced("printf more >> f"), 0);
    t = load_traced();
    expect_file(build(t, 0, HN_PC_STRICT, 0, NULL), "f", "abc");
    expect_file(build(t, hn_cut_nrecords(t), HN_PC_STRICT, 0, NULL), "f", "abc");
    {
        size_t len;
        char *got = state_file(build(t, hn_cut_nrecords(t), HN_PC_KEEP_SOME, 1, NULL), "f",
                               &len);
        ck_assert(got && ((len == 3 && memcmp(got, "abc", 3) == 0) ||
                          (len == 7 && memcmp(got, "abcmore", 7) == 0)));
        free(got);
    }
    hn_cut_free(t);
}
END_TEST

static int count_rows(const char *db)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    int n = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, "SELECT count(*) FROM t", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

START_TEST(preload_sees_sqlite)
{
    hn_cut_trace *t;
    uint64_t *pos = NULL;
    size_t n = 0;
    pl_errbuf eb = {{0}};
    char db[4400];
    int seen0 = 0, seen3 = 0;
    /* Debian's libsqlite3 reaches libc through the dynamic symbol table */
    ck_assert_int_eq(traced("sqlite3 x.db \"PRAGMA journal_mode=WAL; CREATE TABLE t(a); "
                            "INSERT INTO t VALUES(1); INSERT INTO t VALUES(2); "
                            "INSERT INTO t VALUES(3);\" >/dev/null"),
                     0);
    t = load_traced();
    snprintf(db, sizeof db, "%s/x.db", build(t, hn_cut_nrecords(t), HN_PC_STRICT, 0, NULL));
    ck_assert_int_eq(count_rows(db), 3);
    /* every strict crash state is a consistent database with a prefix of the commits */
    ck_assert_int_eq(hn_cut_candidates(t, HN_PC_STRICT, &pos, &n, &eb), 0);
    ck_assert_uint_ge(n, 4);
    for (size_t i = 0; i < n; i++) {
        const char *s = build(t, pos[i], HN_PC_STRICT, 0, NULL);
        int rows;
        snprintf(db, sizeof db, "%s/x.db", s);
        rows = access(db, F_OK) == 0 ? count_rows(db) : 0;
        ck_assert_msg(rows == -1 || (rows >= 0 && rows <= 3), "state at %llu: %d rows",
                      (unsigned long long)pos[i], rows);
        seen0 |= rows <= 0;
        seen3 |= rows == 3;
    }
    ck_assert(seen0 && seen3);
    free(pos);
    hn_cut_free(t);
}
END_TEST

/* ------------------------------------------- scenario keys and planning */

static int load_faults(const char *faults, hn_scenario *sc, pl_errbuf *eb)
{
    char p[4200], text[2048];
    snprintf(p, sizeof p, "%s/s.ini", dir);
    snprintf(text, sizeof text,
             "[scenario]\n[workload]\nticks = 200\n[pipeline]\nagg = 1m=tumbling:1m\n"
             "[faults]\n%s\n",
             faults);
    tu_write(p, text);
    return hn_scenario_load(p, sc, eb);
}

START_TEST(scenario_keys)
{
    hn_scenario *sc = malloc(sizeof *sc);
    pl_errbuf eb = {{0}};
    ck_assert(sc != NULL);
    ck_assert_int_eq(load_faults("points = ckpt/*", sc, &eb), 0);
    ck_assert_int_eq(sc->npc_models, 0);
    ck_assert_int_eq(sc->pc_budget, 200);
    ck_assert_int_eq(load_faults("powercut = torn, strict\npowercut-at = points\n"
                                 "powercut-budget = 7", sc, &eb), 0);
    ck_assert_int_eq(sc->npc_models, 2);
    ck_assert_int_eq(sc->pc_models[0], HN_PC_TORN);
    ck_assert_int_eq(sc->pc_models[1], HN_PC_STRICT);
    ck_assert_int_eq(sc->pc_at_points, 1);
    ck_assert_int_eq(sc->pc_budget, 7);
    ck_assert_int_eq(load_faults("powercut = strict, lazy", sc, &eb), PL_EUSAGE);
    ck_assert_msg(strstr(eb.msg, "s.ini:7: [faults] powercut: 'lazy' is not a persistence model") !=
                      NULL, "%s", eb.msg);
    ck_assert_int_eq(load_faults("powercut = strict, strict", sc, &eb), PL_EUSAGE);
    ck_assert_int_eq(load_faults("powercut-at = somewhere", sc, &eb), PL_EUSAGE);
    ck_assert(strstr(eb.msg, "powercut-at") != NULL);
    ck_assert_int_eq(load_faults("powercut-budget = 0", sc, &eb), PL_EUSAGE);
    free(sc);
}
END_TEST

START_TEST(plan_is_deterministic_and_within_budget)
{
    tw w;
    hn_cut_trace *t;
    hn_scenario *sc = malloc(sizeof *sc);
    hn_trial *a = NULL, *b = NULL;
    int na = 0, nb = 0, nstrict = 0;
    uint64_t cand = 0, cand2 = 0;
    pl_errbuf eb = {{0}};
    char spec[256];
    ck_assert(sc != NULL);
    tw_open(&w);
    tw_rec(&w, FT_OP_INIT_DIR, FT_TF_DIR, 1, "", NULL, 0, NULL, 0, 0);
    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%d", i);
        tw_rec(&w, FT_OP_OPEN, FT_TF_CREATED, 100 + (uint32_t)i, name, NULL, 0, NULL, 0, 0);
        tw_rec(&w, FT_OP_WRITE, 0, 100 + (uint32_t)i, NULL, NULL, 0, "x", 1, 0);
        tw_rec(&w, FT_OP_FIU, 0, 0, "p/q", NULL, 0, NULL, (uint64_t)i + 1, 0);
        tw_rec(&w, FT_OP_FSYNC, 0, 100 + (uint32_t)i, NULL, NULL, 0, NULL, 0, 0);
        tw_rec(&w, FT_OP_FSYNC, FT_TF_DIR, 1, NULL, NULL, 0, NULL, 0, 0);
    }
    t = tw_close(&w);
    ck_assert_int_eq(load_faults("powercut = strict, keep-some\npowercut-budget = 30", sc, &eb),
                     0);
    ck_assert_int_eq(hn_run_plan_powercut(sc, t, &a, &na, &cand, &eb), 0);
    ck_assert_int_eq(hn_run_plan_powercut(sc, t, &b, &nb, &cand2, &eb), 0);
    ck_assert_int_eq(na, 30);
    ck_assert_int_eq(nb, na);
    ck_assert_uint_eq(cand, cand2);
    ck_assert_uint_gt(cand, 30);
    ck_assert(memcmp(a, b, (size_t)na * sizeof *a) == 0);
    for (int i = 0; i < na; i++) {
        ck_assert_int_eq(a[i].nfaults, 1);
        ck_assert_int_eq(a[i].fault[0].kind, HN_F_POWERCUT);
        nstrict += a[i].fault[0].model == HN_PC_STRICT;
        if (a[i].fault[0].model == HN_PC_KEEP_SOME)
            ck_assert_uint_ne(a[i].fault[0].seed, 0);
        /* every planned schedule is one replay accepts */
        hn_run_trial_format(&a[i], spec, sizeof spec);
        ck_assert_int_eq(hn_run_trial_parse(spec, &b[0], &eb), 0);
        ck_assert(memcmp(&b[0], &a[i], sizeof b[0]) == 0);
    }
    ck_assert_int_eq(nstrict, 15); /* an even share */
    free(a);
    free(b);
    /* powercut-at = points: only the hits of the selected points */
    ck_assert_int_eq(load_faults("points = p/*\npowercut = strict\npowercut-at = points", sc,
                                 &eb), 0);
    ck_assert_int_eq(hn_run_plan_powercut(sc, t, &a, &na, &cand, &eb), 0);
    ck_assert_int_eq(na, 40);
    ck_assert_str_eq(a[0].fault[0].point, "p/q");
    ck_assert_uint_eq(a[0].fault[0].k, 1);
    free(a);
    hn_cut_free(t);
    free(sc);
}
END_TEST

/* ------------------------------------------------------ the explorer */

/* A small power-cut scenario; extra goes into [pipeline]. */
static int run_scenario(const char *extra, const char *out)
{
    char p[4200], text[2048];
    snprintf(p, sizeof p, "%s/pc.ini", dir);
    snprintf(text, sizeof text,
             "[scenario]\nname = pc-test\n[workload]\nseed = 3\npartitions = 2\n"
             "duration = 12s\nrate = 200\ndisorder = 100ms\n[pipeline]\n"
             "agg = 5s=tumbling:5s\nmax-delay = 500ms\ncheckpoint-every = 300\n%s\n"
             "[faults]\npoints = ckpt/done/after\nhits = 1\nbudget = 1\n"
             "powercut = strict\npowercut-budget = 60\n[expect]\nconverge = true\n",
             extra);
    tu_write(p, text);
    /* --workdir names an existing directory; run does not create it */
    ck_assert_int_eq(tu_sh("mkdir -p %s/work", dir), 0);
    return tu_sh("%s run -q -j 2 --workdir %s/work --results %s/r.db %s > %s/%s 2>&1",
                 tu_bin("replayproof"), dir, dir, p, dir, out);
}

static int unsafe_listed(const char *name)
{
    return tu_sh("%s unsafe | grep -q '^%s '", tu_bin("refpipe-fiu"), name) == 0;
}

START_TEST(explorer_converges_on_default_build)
{
    char p[4200], *out;
    ck_assert_int_eq(run_scenario("", "ok.out"), 0);
    snprintf(p, sizeof p, "%s/ok.out", dir);
    out = tu_slurp(p, NULL);
    ck_assert(out && strstr(out, "power cuts: ") != NULL);
    ck_assert_msg(strstr(out, "power cuts: 0 ") == NULL, "%s", out);
    free(out);
}
END_TEST

/* A variant that makes a checkpoint durable before the sink commit: a
 * power cut between the two loses the cycle's rows, and only the crash
 * states show it here (the one kill trial is at the epoch checkpoint). */
START_TEST(explorer_catches_broken_variants)
{
    static const char *const variants[] = {"offsets-before-sink", "no-fsync-before-rename",
                                           "no-dir-fsync"};
    int caught = 0;
    for (size_t i = 0; i < sizeof variants / sizeof *variants; i++) {
        char env[128], p[4200], *out;
        if (!unsafe_listed(variants[i]))
            continue; /* not in this fault build (yet) */
        snprintf(env, sizeof env, "env = REFPIPE_UNSAFE=%s", variants[i]);
        ck_assert_msg(run_scenario(env, "bad.out") == 1, "%s not caught", variants[i]);
        snprintf(p, sizeof p, "%s/bad.out", dir);
        out = tu_slurp(p, NULL);
        ck_assert_msg(out && strstr(out, "--trial powercut:strict") != NULL, "%s: %s",
                      variants[i], out ? out : "(no output)");
        free(out);
        caught++;
    }
    ck_assert_int_ge(caught, 1);
}
END_TEST

Suite *powercut_suite(void)
{
    Suite *s = suite_create("powercut");
    TCase *model = tcase_create("model"), *pre = tcase_create("preload");
    TCase *expl = tcase_create("explorer");
    tcase_add_checked_fixture(model, setup, teardown);
    tcase_add_checked_fixture(pre, setup, teardown);
    tcase_add_test(model, fsynced_data_survives);
    tcase_add_test(model, unsynced_data_lost_under_strict);
    tcase_add_test(model, rename_without_dir_fsync_reverts);
    tcase_add_test(model, created_file_without_dir_fsync_vanishes);
    tcase_add_test(model, ext4_rename_implies_data);
    tcase_add_test(model, torn_write_keeps_whole_sectors);
    tcase_add_test(model, failed_fsync_loses_data);
    tcase_add_test(model, candidates_and_hit_positions);
    tcase_add_test(pre, preload_sees_shell_and_sync);
    tcase_add_test(pre, preload_sees_sqlite);
    tcase_set_timeout(pre, 60);
    tcase_add_test(model, scenario_keys);
    tcase_add_test(model, plan_is_deterministic_and_within_budget);
    tcase_add_checked_fixture(expl, setup, teardown);
    tcase_add_test(expl, explorer_converges_on_default_build);
    tcase_add_test(expl, explorer_catches_broken_variants);
    tcase_set_timeout(expl, 300);
    suite_add_tcase(s, model);
    suite_add_tcase(s, pre);
    suite_add_tcase(s, expl);
    return s;
}
