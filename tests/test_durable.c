/*
 * test_durable.c - refpipe's durability beyond a plain kill: failed fsyncs
 * (libfiu's POSIX preload, armed at the K-th call through rp-crash.so's
 * RP_FIU_FAIL), a sink that lost commits the checkpoints claim, a discard
 * of state interrupted half-way, directories created without a durable
 * entry, exports published file by file, exports of unfinished runs.
 *
 * Layout: a fixture (a log, the golden export of configuration A, batch
 * exports of A and of another configuration B); helpers to run refpipe,
 * refpipe-fiu and the preloads; then one test per property.  Oracles are
 * the batch recomputation and xxhsum, never the export's own code.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tutil.h"

#define OPTS_A "--agg 10s=tumbling:10s --agg t9=ticks:9 --max-delay 300ms --idle-timeout 3s"
#define OPTS_B "--agg 10s=tumbling:10s --agg v=volume:20000 --max-delay 300ms --idle-timeout 3s"
#define EVERY " --checkpoint-every 250"
#define GEN "--seed 11 --partitions 3 --symbols 12 --ticks 3000 --disorder 500ms --skew 200ms " \
            "--producers 2 --stalls 2 --stall-len 8s --poison-frac 0.01 --late-frac 0.01"
#define POSIX_PRELOAD "/usr/lib/fiu/fiu_posix_preload.so"

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir();
    tu_golden(dir, GEN, "", OPTS_A EVERY, OPTS_A);
    ck_assert_int_eq(tu_sh("cd %s && %s batch log bexpB " OPTS_B " > batchB.d", dir,
                           tu_bin("refpipe")), 0);
    ck_assert_int_ne(tu_sh("cd %s && cmp -s batch.d batchB.d", dir), 0);
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
}

/* refpipe-fiu run on state `st` with configuration `opts`, environment
 * `env` (may be ""), stderr appended to err.log.  Returns the status. */
static int run(const char *st, const char *opts, const char *env)
{
    return tu_sh("cd %s && %s %s run log %s --quiet %s" EVERY " 2>>err.log", dir, env,
                 tu_bin("refpipe-fiu"), st, opts);
}

/* The same under rp-crash.so (RP_FIU_CRASH / RP_FIU_FAIL in env) and, with
 * posix, libfiu's POSIX preload behind it. */
static int run_pre(const char *st, const char *opts, const char *env, int posix,
                   const char *errfile)
{
    return tu_sh("cd %s && exec env %s LD_PRELOAD='%s%s' %s run log %s --quiet %s" EVERY
                 " 2>%s", dir, env, tu_bin("rp-crash.so"), posix ? " " POSIX_PRELOAD : "",
                 tu_bin("refpipe-fiu"), st, opts, errfile);
}

/* Restart until complete, export, compare with the batch digests of
 * `batchd` (batch.d or batchB.d). */
static void converge(const char *st, const char *opts, const char *batchd, const char *what)
{
    int rc = 0, tries = 0;
    do {
        rc = run(st, opts, "");
    } while (rc != 0 && ++tries < 5);
    ck_assert_msg(rc == 0, "%s: restart did not complete (status %d)", what, rc);
    ck_assert_int_eq(tu_sh("cd %s && rm -rf %s.exp && %s export %s %s.exp > %s.d", dir, st,
                           tu_bin("refpipe"), st, st, st), 0);
    ck_assert_msg(tu_sh("cd %s && cmp -s %s %s.d", dir, batchd, st) == 0,
                  "%s: export differs from batch (%s/%s.exp)", what, dir, st);
}

/* Hits of one fail point in an uninterrupted run (with the POSIX preload). */
static long count_hits(const char *point, const char *opts, const char *env)
{
    char path[4096], name[256];
    long n = -1, c;
    FILE *f;
    ck_assert_int_eq(tu_sh("cd %s && rm -rf cnt && exec env %s RP_FIU_COUNT=%s/counts "
                           "RP_FIU_POINTS='%s' LD_PRELOAD='%s " POSIX_PRELOAD "' %s run log cnt "
                           "--quiet %s" EVERY, dir, env, dir, point, tu_bin("rp-crash.so"),
                           tu_bin("refpipe-fiu"), opts), 0);
    snprintf(path, sizeof path, "%s/counts", dir);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    while (fscanf(f, "%255s %ld", name, &c) == 2)
        if (!strcmp(name, point))
            n = c;
    fclose(f);
    return n;
}

/*
 * SQLite fdatasyncs the directory when it creates a journal or a WAL and
 * ignores that call's result (unixSync); refpipe fsyncs the state dir
 * itself, checked, around each of them (sink.c (6)).  Which calls of an
 * uninterrupted run are those: dirsync[k-1] for the k-th fdatasync, from
 * one strace of the run (-y names each descriptor's file).
 */
static void sqlite_dirsyncs(const char *env, char *dirsync, long n)
{
    char path[4096], line[8192];
    long k = 0;
    FILE *f;
    ck_assert_msg(tu_sh("command -v strace >/dev/null") == 0, "strace not installed");
    ck_assert_int_eq(tu_sh("cd %s && rm -rf cnt && exec env %s strace -f -y -e trace=fdatasync "
                           "-o %s/strace.txt %s run log cnt --quiet " OPTS_A EVERY, dir, env, dir,
                           tu_bin("refpipe-fiu")), 0);
    snprintf(path, sizeof path, "%s/strace.txt", dir);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f))
        if (strstr(line, "fdatasync(")) {
            ck_assert_msg(k < n, "strace saw more than %ld fdatasync calls", n);
            dirsync[k++] = strstr(line, "/sink.db") == NULL;
        }
    fclose(f);
    ck_assert_msg(k == n, "strace saw %ld fdatasync calls, the count %ld", k, n);
}

/*
 * Fail the K-th call of `point` (posix/io/sync/fsync or fdatasync) for every
 * K of a run.  Returns how many of those runs still exited 0 (an fsync
 * error swallowed), SQLite's unchecked directory syncs left aside; with
 * check, every other failed run must exit 4 with one line and a restart
 * must converge.
 */
static int sweep_sync(const char *point, const char *env, int check)
{
    long n = count_hits(point, OPTS_A, env);
    int swallowed = 0;
    char dirsync[256] = { 0 };
    ck_assert_msg(n > 3 && n <= 256, "%s: %ld calls", point, n);
    if (strstr(point, "fdatasync"))
        sqlite_dirsyncs(env, dirsync, n);
    for (long k = 1; k <= n; k++) {
        char st[32], e[300], what[200];
        int rc;
        if (dirsync[k - 1])
            continue;
        snprintf(st, sizeof st, "s%ld", k);
        snprintf(e, sizeof e, "%s RP_FIU_FAIL=%s:%ld:EIO", env, point, k);
        snprintf(what, sizeof what, "EIO at %s call %ld of %ld", point, k, n);
        rc = run_pre(st, OPTS_A, e, 1, "s.err");
        if (rc == 0)
            swallowed++;
        if (!check)
            continue;
        ck_assert_msg(rc == 4, "%s: run exited %d, not 4", what, rc);
        if (tu_sh("cd %s && test $(wc -l < s.err) -eq 1 && grep -Eq 'Input/output|I/O error' "
                  "s.err", dir) != 0) {
            char p[4096], *t;
            snprintf(p, sizeof p, "%s/s.err", dir);
            t = tu_slurp(p, NULL);
            ck_abort_msg("%s: not one line naming the error: %s", what, t ? t : "(none)");
        }
        converge(st, OPTS_A, "batch.d", what);
        tu_sh("cd %s && rm -rf %s %s.exp", dir, st, st);
    }
    return swallowed;
}

/* ---- 1: no fsync error is swallowed ----------------------------------- */

/* Every fdatasync (SQLite's WAL commits and checkpoints of sink.db) and
 * every fsync of a run, failed one at a time: each ends the run with the
 * I/O status, never exit 0, and a restart converges.  Before the sink ran
 * its own checkpoints, the close-time checkpoint's failed fdatasync of
 * sink.db was swallowed and the run exited 0. */
START_TEST(every_failed_sync_is_fatal)
{
#ifdef RP_SANITIZED
    return; /* libfiu's POSIX preload and ASan both interpose fsync (see test_crash.c) */
#endif
    ck_assert_int_eq(sweep_sync("posix/io/sync/fdatasync", "", 1), 0);
    ck_assert_int_eq(sweep_sync("posix/io/sync/fsync", "", 1), 0);
}
END_TEST

/* The broken variant keeps SQLite's automatic checkpoints: the same sweep
 * finds fdatasync errors that end in exit 0. */
START_TEST(wal_autocheckpoint_swallows_an_fsync_error)
{
#ifdef RP_SANITIZED
    return;
#endif
    ck_assert_int_gt(sweep_sync("posix/io/sync/fdatasync", "REFPIPE_UNSAFE=wal-autocheckpoint", 0),
                     0);
}
END_TEST

/* ---- 2: the sink and the checkpoints are cross-checked ---------------- */

/* A sink that lost commits the checkpoints cover (what a failed WAL fsync
 * and a power cut leave): the restart must notice and replay, not resume
 * after rows the sink does not have. */
START_TEST(sink_behind_checkpoint_is_replayed)
{
    ck_assert_int_eq(run_pre("h", OPTS_A, "RP_FIU_CRASH=ckpt/done/after:3", 0, "h.err"), 137);
    /* the sink as it was after cycle 2, kept aside */
    ck_assert_int_eq(tu_sh("cd %s && mkdir keep && cp h/sink.db* keep/", dir), 0);
    ck_assert_int_eq(run_pre("h", OPTS_A, "RP_FIU_CRASH=ckpt/done/after:6", 0, "h.err"), 137);
    ck_assert_int_eq(tu_sh("cd %s && rm -f h/sink.db* && cp keep/sink.db* h/", dir), 0);
    ck_assert_int_eq(tu_sh("cd %s && %s run log h " OPTS_A EVERY " 2> h.err", dir,
                           tu_bin("refpipe-fiu")), 0);
    ck_assert_msg(tu_sh("grep -q 'ahead of the sink' %s/h.err", dir) == 0,
                  "the restart did not say it skipped checkpoints ahead of the sink");
    converge("h", OPTS_A, "batch.d", "sink rolled back under newer checkpoints");
}
END_TEST

/* A discard killed after the checkpoints went but before the sink did: a
 * restart under another configuration must refuse the old sink (and
 * --discard-state then clears it), never export its rows. */
START_TEST(half_discarded_state_is_refused)
{
    ck_assert_int_eq(tu_sh("cd %s && cp -r golden d && rm -f d/ckpt-*", dir), 0);
    ck_assert_int_eq(tu_sh("cd %s && %s run log d --quiet " OPTS_B EVERY " 2> d.err", dir,
                           tu_bin("refpipe-fiu")), 2);
    ck_assert_int_eq(tu_sh("cd %s && grep -q 'another configuration' d.err && "
                           "test $(wc -l < d.err) -eq 1", dir), 0);
    ck_assert_int_eq(tu_sh("cd %s && %s run log d --quiet --discard-state " OPTS_B EVERY, dir,
                           tu_bin("refpipe-fiu")), 0);
    converge("d", OPTS_B, "batchB.d", "after a half-done discard");
}
END_TEST

/* The broken variant trusts the checkpoints alone: the same state exports
 * the stale sink's rows under the new configuration with exit 0. */
START_TEST(discard_nonatomic_exports_stale_rows)
{
    ck_assert_int_eq(tu_sh("cd %s && cp -r golden d && rm -f d/ckpt-*", dir), 0);
    ck_assert_int_eq(run("d", OPTS_B, "REFPIPE_UNSAFE=discard-nonatomic"), 0);
    ck_assert_int_eq(tu_sh("cd %s && %s export d d.exp > d.d", dir, tu_bin("refpipe")), 0);
    ck_assert_int_ne(tu_sh("cd %s && cmp -s batchB.d d.d", dir), 0);
}
END_TEST

/* --discard-state killed at its commit point (sink renamed away, durable;
 * checkpoints still there): the same command completes the new run, and the
 * old configuration, rerun instead, replays from the start - neither sees
 * rows of the other. */
START_TEST(discard_killed_at_commit_point)
{
    ck_assert_int_eq(tu_sh("cd %s && cp -r golden x && cp -r golden y", dir), 0);
    ck_assert_int_eq(run_pre("x", OPTS_B " --discard-state", "RP_FIU_CRASH=discard/rename/after:1",
                             0, "x.err"), 137);
    ck_assert_int_eq(tu_sh("cd %s && test ! -e x/sink.db && ls x/ckpt-* > /dev/null", dir), 0);
    ck_assert_int_eq(run("x", OPTS_B " --discard-state", ""), 0);
    converge("x", OPTS_B, "batchB.d", "new configuration after a killed discard");

    ck_assert_int_eq(run_pre("y", OPTS_B " --discard-state", "RP_FIU_CRASH=discard/rename/after:1",
                             0, "y.err"), 137);
    converge("y", OPTS_A, "batch.d", "old configuration after a killed discard");
}
END_TEST

/* ---- 3: new directories are durable ------------------------------------ */

/* The first fsync of a run into a new state dir (and of an export into a new
 * output dir) is the one of the directory that received the new entry:
 * failing it ends the command with a line naming that directory. */
START_TEST(new_dirs_fsync_their_parent)
{
#ifdef RP_SANITIZED
    return;
#endif
    ck_assert_int_eq(tu_sh("cd %s && exec env RP_FIU_FAIL=posix/io/sync/fsync:1 LD_PRELOAD='%s "
                           POSIX_PRELOAD "' %s run log new/state --quiet " OPTS_A EVERY
                           " 2> m.err", dir, tu_bin("rp-crash.so"), tu_bin("refpipe-fiu")), 4);
    /* cwd is the test dir: the parent of the new "new" is "." */
    ck_assert_msg(tu_sh("cd %s && grep -qF 'fsync(.)' m.err", dir) == 0,
                  "run: the first fsync was not the new dir's parent");
    ck_assert_int_eq(tu_sh("cd %s && exec env RP_FIU_FAIL=posix/io/sync/fsync:1 LD_PRELOAD='%s "
                           POSIX_PRELOAD "' %s export golden out/exp > /dev/null 2> m.err", dir,
                           tu_bin("rp-crash.so"), tu_bin("refpipe-fiu")), 4);
    ck_assert_msg(tu_sh("cd %s && grep -qF 'fsync(.)' m.err", dir) == 0,
                  "export: the first fsync was not the new dir's parent");
}
END_TEST

/* ---- 5: exports ---------------------------------------------------------- */

/* A completed run's export is one directory whose digests file checks out
 * with xxhsum; nothing is left beside it. */
START_TEST(export_is_one_checked_set)
{
    ck_assert_msg(tu_sh("command -v xxhsum >/dev/null") == 0, "xxhsum not installed");
    ck_assert_int_eq(tu_sh("cd %s/gexp && xxhsum -c digests.xxh128 > /dev/null", dir), 0);
    ck_assert_int_eq(tu_sh("cd %s && ls | grep -q tmp-", dir), 1);
    ck_assert_int_eq(tu_sh("cd %s/gexp && test ! -e PARTIAL", dir), 0);
    /* a directory holding anything else is not replaced */
    ck_assert_int_eq(tu_sh("cd %s && mkdir other && echo keep > other/notes && %s export golden "
                           "other > /dev/null 2> o.err", dir, tu_bin("refpipe")), 2);
    ck_assert_int_eq(tu_sh("cd %s && test \"$(cat other/notes)\" = keep && ! test -e "
                           "other/bars.csv && test $(wc -l < o.err) -eq 1", dir), 0);
}
END_TEST

/* An export killed after its first table was renamed, into a directory that
 * holds an earlier export: the directory still holds exactly the earlier
 * set (before, it held the new bars.csv beside the old late.csv). */
START_TEST(killed_export_leaves_the_old_set)
{
    ck_assert_int_eq(tu_sh("cd %s && %s run log b --quiet " OPTS_B EVERY, dir,
                           tu_bin("refpipe")), 0);
    ck_assert_int_eq(tu_sh("cd %s && %s export golden e > /dev/null && cp -r e e.before", dir,
                           tu_bin("refpipe")), 0);
    for (int k = 1; k <= 3; k++) {
        ck_assert_int_eq(tu_sh("cd %s && exec env RP_FIU_CRASH=digest/rename/after:%d "
                               "LD_PRELOAD='%s' %s export b e > /dev/null 2>&1",
                               dir, k, tu_bin("rp-crash.so"), tu_bin("refpipe-fiu")), 137);
        ck_assert_msg(tu_sh("cd %s && diff -r e e.before > /dev/null", dir) == 0,
                      "export killed at its table rename %d changed the published set", k);
    }
    /* and a complete export replaces it whole */
    ck_assert_int_eq(tu_sh("cd %s && %s export b e > e.d && cmp -s e.d batchB.d", dir,
                           tu_bin("refpipe")), 0);
    ck_assert_int_eq(tu_sh("cd %s/e && xxhsum -c digests.xxh128 > /dev/null", dir), 0);
}
END_TEST

/* An unfinished run (killed, or still running) exports only when asked, and
 * then says so in the set. */
START_TEST(partial_export_needs_allow_partial)
{
    ck_assert_int_eq(run_pre("p", OPTS_A, "RP_FIU_CRASH=ckpt/done/after:4", 0, "p.err"), 137);
    ck_assert_int_eq(tu_sh("cd %s && %s export p pexp > p.d 2> pe.err", dir, tu_bin("refpipe")),
                     2);
    ck_assert_int_eq(tu_sh("cd %s && test $(wc -l < pe.err) -eq 1 && grep -q partial pe.err && "
                           "test ! -e pexp && test ! -s p.d", dir), 0);
    ck_assert_int_eq(tu_sh("cd %s && %s export --allow-partial p pexp > p.d 2> pe.err", dir,
                           tu_bin("refpipe")), 0);
    ck_assert_int_eq(tu_sh("cd %s && grep -q partial pe.err && test -s pexp/PARTIAL && "
                           "! cmp -s p.d golden.d", dir), 0);
    /* the same state, completed, exports without the option */
    converge("p", OPTS_A, "batch.d", "completed after a partial export");
}
END_TEST

/* ---- 6: progress under a crash storm ------------------------------------ */

#define STORM_GEN "--seed 7 --partitions 2 --symbols 1500 --ticks 6000 --disorder 200ms"
#define STORM_OPTS "--agg 10s=tumbling:10s --agg sl=sliding:20s:5s --max-delay 100ms " \
                   "--idle-timeout 0 --checkpoint-every 400"
#define STORM_OPTS_BATCH "--agg 10s=tumbling:10s --agg sl=sliding:20s:5s --max-delay 100ms " \
                         "--idle-timeout 0"
#define STORM_N 400
#define STORM_SYMBOLS 1500

static long sink_rows(const char *st)
{
    char path[4096], *t;
    long n;
    ck_assert_int_eq(tu_sh("cd %s && sqlite3 %s/sink.db 'SELECT (SELECT count(*) FROM bars) + "
                           "(SELECT count(*) FROM late) + (SELECT count(*) FROM dlq)' > rows.txt",
                           dir, st), 0);
    snprintf(path, sizeof path, "%s/rows.txt", dir);
    t = tu_slurp(path, NULL);
    ck_assert_ptr_nonnull(t);
    n = atol(t);
    free(t);
    return n;
}

/*
 * Every process is killed right after its first durable checkpoint, so each
 * restart completes exactly one commit cycle.  Every cycle, the end-of-input
 * flush's included, must add at most N rows plus what one watermark step
 * fires (here one bar per symbol and time aggregation), so the storm ends
 * within the uninterrupted run's number of cycles, and converges.  Before,
 * the flush emitted every open window (about 5 per symbol) in one cycle.
 */
START_TEST(crash_storm_makes_progress)
{
    long bound = STORM_N + 2L * STORM_SYMBOLS, prev = 0, cycles = 0, restarts = 0;
    int rc;
    ck_assert_int_eq(tu_sh("cd %s && %s gen " STORM_GEN " storm.csv && %s import storm.csv slog "
                           "2>/dev/null && %s batch slog sbexp " STORM_OPTS_BATCH " > sbatch.d",
                           dir, tu_bin("replayproof"), tu_bin("refpipe"), tu_bin("refpipe")), 0);
    ck_assert_int_eq(tu_sh("cd %s && env RP_FIU_COUNT=%s/scount RP_FIU_POINTS=ckpt/done/after "
                           "LD_PRELOAD='%s' %s run slog scnt --quiet " STORM_OPTS
                           " && awk '{print $2}' scount > scycles", dir, dir,
                           tu_bin("rp-crash.so"), tu_bin("refpipe-fiu")), 0);
    {
        char path[4096], *t;
        snprintf(path, sizeof path, "%s/scycles", dir);
        t = tu_slurp(path, NULL);
        ck_assert_ptr_nonnull(t);
        cycles = atol(t);
        free(t);
    }
    ck_assert_int_gt(cycles, 6000 / STORM_N + 2); /* the flush took several cycles */
    for (;;) {
        long now;
        rc = tu_sh("cd %s && exec env RP_FIU_CRASH=ckpt/done/after:1 LD_PRELOAD='%s' %s run slog "
                   "storm --quiet " STORM_OPTS " 2>>err.log", dir, tu_bin("rp-crash.so"),
                   tu_bin("refpipe-fiu"));
        ck_assert_msg(rc == 0 || rc == 137, "run exited %d", rc);
        if (rc == 0)
            break;
        now = sink_rows("storm");
        ck_assert_msg(now - prev <= bound, "restart %ld committed %ld rows in one cycle (bound "
                      "%ld)", restarts + 1, now - prev, bound);
        prev = now;
        ck_assert_msg(++restarts <= cycles + 1, "not complete after %ld restarts (%ld cycles)",
                      restarts, cycles);
    }
    ck_assert_int_eq(tu_sh("cd %s && %s export storm sexp > storm.d && cmp -s storm.d sbatch.d",
                           dir, tu_bin("refpipe")), 0);
}
END_TEST

/* ---- broken variants: each shown to break what it models ---------------- */

/* Restart with variant `unsafe` (also in the first process) after a crash at
 * `spec`, export, and return whether the export (exit 0) differs from
 * golden.d; how many bars it holds goes to *nbars. */
static int variant_after_crash(const char *st, const char *unsafe, const char *spec, long *nbars)
{
    char e[300], path[4096], *t, *p;
    snprintf(e, sizeof e, "REFPIPE_UNSAFE=%s RP_FIU_CRASH=%s", unsafe, spec);
    ck_assert_int_eq(run_pre(st, OPTS_A, e, 0, "v.err"), 137);
    snprintf(e, sizeof e, "REFPIPE_UNSAFE=%s", unsafe);
    ck_assert_int_eq(run(st, OPTS_A, e), 0);
    ck_assert_int_eq(tu_sh("cd %s && %s export %s %s.exp > %s.d", dir, tu_bin("refpipe"), st, st,
                           st), 0);
    snprintf(path, sizeof path, "%s/%s.d", dir, st);
    t = tu_slurp(path, NULL);
    ck_assert_ptr_nonnull(t);
    p = strstr(t, "bars.csv");
    *nbars = p ? atol(p + 8) : -1;
    free(t);
    return tu_sh("cd %s && cmp -s golden.d %s.d", dir, st) != 0;
}

/* Without a crash each of these variants gives the golden export: the
 * tests below fail because of the fault, not because the switch is always
 * wrong. */
START_TEST(variants_harmless_without_faults)
{
    static const char *const v[] = { "no-checksum", "commit-error-ignored", "fsync-retry",
                                     "plain-insert", "blind-upsert", "checkpoint-before-emit",
                                     "in-place-checkpoint" };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char e[128];
        snprintf(e, sizeof e, "REFPIPE_UNSAFE=%s", v[i]);
        ck_assert_msg(run("w", OPTS_A, e) == 0, "%s: run failed", v[i]);
        ck_assert_int_eq(tu_sh("cd %s && %s export w w.exp > w.d", dir, tu_bin("refpipe")), 0);
        ck_assert_msg(tu_sh("cd %s && cmp -s golden.d w.d", dir) == 0, "%s changed the export "
                      "of an uninterrupted run", v[i]);
        tu_sh("cd %s && rm -rf w w.exp", dir);
    }
}
END_TEST

/* plain-insert: the replay of a cycle committed but not checkpointed adds
 * its bars a second time. */
START_TEST(plain_insert_duplicates_on_replay)
{
    long n, golden;
    ck_assert_int_eq(variant_after_crash("pi", "plain-insert", "sink/commit/after:8", &n), 1);
    ck_assert_int_eq(tu_sh("cd %s && grep -q '  bars.csv  ' golden.d", dir), 0);
    {
        char path[4096], *t;
        snprintf(path, sizeof path, "%s/golden.d", dir);
        t = tu_slurp(path, NULL);
        golden = atol(strstr(t, "bars.csv") + 8);
        free(t);
    }
    ck_assert_msg(n > golden, "plain-insert: %ld bars, golden %ld", n, golden);
    ck_assert_int_eq(tu_sh("cd %s && sort pi.exp/bars.csv | uniq -d | grep -q .", dir), 0);
}
END_TEST

/* blind-upsert: a replay that computes other values overwrites the stored
 * rows and the export exits 0 with them, where the keyed sink exits 1. */
START_TEST(blind_upsert_hides_a_conflict)
{
    long n;
    ck_assert_int_eq(run_pre("bu", OPTS_A, "RP_FIU_CRASH=sink/commit/after:8", 0, "v.err"), 137);
    ck_assert_int_eq(tu_sh("cd %s && cp -r bu bk", dir), 0);
    ck_assert_int_eq(run("bk", OPTS_A, "REFPIPE_UNSAFE=nondeterministic-replay"), 0);
    ck_assert_int_eq(tu_sh("cd %s && %s export bk bk.exp > /dev/null 2>&1", dir,
                           tu_bin("refpipe")), 1);
    ck_assert_int_eq(run("bu", OPTS_A, "REFPIPE_UNSAFE=nondeterministic-replay,blind-upsert"), 0);
    ck_assert_int_eq(tu_sh("cd %s && %s export bu bu.exp > bu.d", dir, tu_bin("refpipe")), 0);
    ck_assert_int_ne(tu_sh("cd %s && cmp -s golden.d bu.d", dir), 0);
    (void)n;
}
END_TEST

/* checkpoint-before-emit: a crash right after a checkpoint loses the bars
 * held for the next cycle; the export exits 0 without them. */
START_TEST(checkpoint_before_emit_loses_bars)
{
    long n;
    ck_assert_int_eq(variant_after_crash("ce", "checkpoint-before-emit", "ckpt/done/after:8", &n),
                     1);
}
END_TEST

/* commit-error-ignored: one failed COMMIT, and the run still exits 0 with
 * the cycle's rows missing (the keyed build exits 4 and converges). */
START_TEST(commit_error_ignored_loses_rows)
{
    ck_assert_int_eq(run_pre("ci", OPTS_A, "RP_FIU_FAIL=sink/commit/before:8", 0, "v.err"), 4);
    ck_assert_int_eq(run_pre("cj", OPTS_A,
                             "REFPIPE_UNSAFE=commit-error-ignored RP_FIU_FAIL=sink/commit/before:8",
                             0, "v.err"), 0);
    ck_assert_int_eq(tu_sh("cd %s && %s export cj cj.exp > cj.d", dir, tu_bin("refpipe")), 0);
    ck_assert_int_ne(tu_sh("cd %s && cmp -s golden.d cj.d", dir), 0);
}
END_TEST

/* fsync-retry: an fsync that fails once no longer ends the run. */
START_TEST(fsync_retry_carries_on)
{
#ifdef RP_SANITIZED
    return;
#endif
    for (int k = 1; k <= 9; k += 4) {
        char e[128], st[16];
        snprintf(e, sizeof e, "RP_FIU_FAIL=posix/io/sync/fsync:%d:EIO", k);
        snprintf(st, sizeof st, "fa%d", k);
        ck_assert_int_eq(run_pre(st, OPTS_A, e, 1, "v.err"), 4);
        snprintf(e, sizeof e, "REFPIPE_UNSAFE=fsync-retry RP_FIU_FAIL=posix/io/sync/fsync:%d:EIO",
                 k);
        snprintf(st, sizeof st, "fr%d", k);
        ck_assert_msg(run_pre(st, OPTS_A, e, 1, "v.err") == 0,
                      "fsync-retry: the failed fsync %d still ended the run", k);
    }
}
END_TEST

/* no-checksum: some single-byte damage to the newest checkpoint's body is
 * restored and exported with exit 0 as wrong bars (the plain build skips
 * every such checkpoint and converges: crash suite). */
START_TEST(no_checksum_exports_a_damaged_state)
{
    long size, wrong = 0;
    ck_assert_int_eq(run_pre("nc", OPTS_A, "RP_FIU_CRASH=stream/event/after:2100", 0, "v.err"),
                     137);
    ck_assert_int_eq(tu_sh("cd %s/nc && f=$(ls ckpt-* | sort | tail -n 1) && stat -c %%s $f > "
                           "../ncsize && cp $f ../ncgood", dir), 0);
    {
        char path[4096], *t;
        snprintf(path, sizeof path, "%s/ncsize", dir);
        t = tu_slurp(path, NULL);
        size = atol(t);
        free(t);
    }
    ck_assert_int_gt(size, 400);
    for (long off = size - 17; off > size - 17 - 30 * 13 && off > 200; off -= 13) {
        int rc;
        ck_assert_int_eq(tu_sh("cd %s && rm -rf nd nd.exp && cp -r nc nd && f=$(ls nd/ckpt-* | "
                               "sort | tail -n 1) && printf '\\001' | dd of=$f bs=1 seek=%ld "
                               "conv=notrunc 2>/dev/null", dir, off), 0);
        rc = run("nd", OPTS_A, "REFPIPE_UNSAFE=no-checksum");
        if (rc != 0)
            continue; /* refused by the state's own checks: not silent */
        if (tu_sh("cd %s && %s export nd nd.exp > nd.d 2>/dev/null && ! cmp -s golden.d nd.d",
                  dir, tu_bin("refpipe")) == 0)
            wrong++;
    }
    ck_assert_msg(wrong > 0, "no damaged checkpoint was exported wrong with exit 0");
}
END_TEST

/* in-place-checkpoint: a write that fails half-way through a checkpoint
 * leaves the last good one destroyed, where the temp-file protocol keeps
 * it and the restart resumes from it. */
START_TEST(in_place_checkpoint_destroys_the_last_good_one)
{
#ifdef RP_SANITIZED
    return;
#endif
    /* write() calls of a run are the checkpoints' own: header, body parts,
     * checksum; fail the 2nd of the 4th checkpoint (the epoch is the 1st) */
    ck_assert_int_eq(run_pre("ip", OPTS_A, "RP_FIU_FAIL=posix/io/rw/write:14:EIO", 1, "v.err"), 4);
    ck_assert_int_eq(tu_sh("cd %s && %s run log ip " OPTS_A EVERY " 2> ip.err", dir,
                           tu_bin("refpipe-fiu")), 0);
    ck_assert_int_eq(tu_sh("grep -q 'using ckpt-0000000000000003' %s/ip.err", dir), 0);
    ck_assert_int_eq(run_pre("iq", OPTS_A, "REFPIPE_UNSAFE=in-place-checkpoint "
                             "RP_FIU_FAIL=posix/io/rw/write:14:EIO", 1, "v.err"), 4);
    ck_assert_int_eq(tu_sh("cd %s && %s run log iq " OPTS_A EVERY " 2> iq.err", dir,
                           tu_bin("refpipe-fiu")), 0);
    ck_assert_int_eq(tu_sh("grep -q 'skipped ckpt-0000000000000003' %s/iq.err", dir), 0);
}
END_TEST

Suite *durable_suite(void)
{
    Suite *s = suite_create("durable");
    TCase *tc = tcase_create("durable");
    TCase *tv = tcase_create("variants");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, every_failed_sync_is_fatal);
    tcase_add_test(tc, wal_autocheckpoint_swallows_an_fsync_error);
    tcase_add_test(tc, sink_behind_checkpoint_is_replayed);
    tcase_add_test(tc, half_discarded_state_is_refused);
    tcase_add_test(tc, discard_nonatomic_exports_stale_rows);
    tcase_add_test(tc, discard_killed_at_commit_point);
    tcase_add_test(tc, new_dirs_fsync_their_parent);
    tcase_add_test(tc, export_is_one_checked_set);
    tcase_add_test(tc, killed_export_leaves_the_old_set);
    tcase_add_test(tc, partial_export_needs_allow_partial);
    tcase_add_test(tc, crash_storm_makes_progress);
    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(tv, setup, teardown);
    tcase_set_timeout(tv, 300);
    tcase_add_test(tv, variants_harmless_without_faults);
    tcase_add_test(tv, plain_insert_duplicates_on_replay);
    tcase_add_test(tv, blind_upsert_hides_a_conflict);
    tcase_add_test(tv, checkpoint_before_emit_loses_bars);
    tcase_add_test(tv, commit_error_ignored_loses_rows);
    tcase_add_test(tv, fsync_retry_carries_on);
    tcase_add_test(tv, no_checksum_exports_a_damaged_state);
    tcase_add_test(tv, in_place_checkpoint_destroys_the_last_good_one);
    suite_add_tcase(s, tv);
    return s;
}
