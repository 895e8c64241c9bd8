/*
 * test_converge.c - refpipe's convergence digests (--record-digests,
 * --stop-when-converged, --check-converged).  The recorded sink digest is
 * checked against a sum recomputed here, independently, from the exported
 * CSV files; a recovery stops at the checkpoint where it has caught up with
 * the crashed run's sink, and finishing it afterwards gives the golden
 * export; a tampered or damaged digest file never makes a run stop; a sink
 * holding a row the recorded run never had, or a conflict, never converges.
 * The digest a run records in the sink with its cut (--trust-sink-digest)
 * is checked against the same oracle, and a row damaged behind the sink's
 * back is seen by a recovery that scans, not by one that trusts it.
 */
#include <check.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "tutil.h"

#define OPTS "--agg 10s=tumbling:10s --agg t9=ticks:9 --max-delay 300ms --idle-timeout 3s " \
             "--checkpoint-every 250"
#define GEN "--seed 5 --partitions 3 --symbols 12 --ticks 3000 --disorder 500ms " \
            "--poison-frac 0.01 --late-frac 0.01"

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir();
    ck_assert_int_eq(tu_sh("%s gen " GEN " %s/in.csv", tu_bin("replayproof"), dir), 0);
    ck_assert_int_eq(tu_sh("%s import %s/in.csv %s/log 2>/dev/null", tu_bin("refpipe"), dir, dir),
                     0);
    ck_assert_int_eq(tu_sh("cd %s && %s run log golden --quiet " OPTS " --record-digests g.dig",
                           dir, tu_bin("refpipe")), 0);
    ck_assert_int_eq(tu_sh("cd %s && %s export golden gexp > golden.d", dir, tu_bin("refpipe")),
                     0);
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
}

typedef struct line {
    uint64_t pos, state, hi, lo, rows;
} line;

/* The lines of a digest file (at most max). */
static int read_lines(const char *name, line *out, int max)
{
    char path[4096];
    FILE *f;
    int n = 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    while (n < max && fscanf(f, "%" SCNu64 " %16" SCNx64 " %16" SCNx64 "%16" SCNx64 " %" SCNu64,
                             &out[n].pos, &out[n].state, &out[n].hi, &out[n].lo,
                             &out[n].rows) == 5)
        n++;
    fclose(f);
    return n;
}

/* The oracle: the sum of XXH3-128 over tag + line of every data line of an
 * exported table (its header line skipped). */
static void add_table(const char *file, char tag, uint64_t *hi, uint64_t *lo, uint64_t *rows)
{
    char path[4096], *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    int first = 1;
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    while ((n = getline(&buf, &cap, f)) > 0) {
        char *t = malloc((size_t)n + 1);
        XXH128_hash_t h;
        if (first) {
            first = 0;
            free(t);
            continue;
        }
        t[0] = tag;
        memcpy(t + 1, buf, (size_t)n);
        h = XXH3_128bits(t, (size_t)n + 1);
        *hi += h.high64;
        *lo += h.low64;
        (*rows)++;
        free(t);
    }
    free(buf);
    fclose(f);
}

/* Run refpipe-fiu on state dir st (crash: RP_FIU_CRASH spec or NULL),
 * stdout to out (NULL: /dev/null).  Returns the shell status. */
static int run(const char *st, const char *crash, const char *extra, const char *out)
{
    return tu_sh("cd %s && %s%s%s%s %s run log %s --quiet " OPTS " %s > %s 2>>stderr.log", dir,
                 crash ? "RP_FIU_CRASH=" : "", crash ? crash : "", crash ? " LD_PRELOAD=" : "",
                 crash ? tu_bin("rp-crash.so") : "", tu_bin("refpipe-fiu"), st, extra,
                 out ? out : "/dev/null");
}

START_TEST(golden_records_one_line_per_checkpoint)
{
    line l[256];
    int n = read_lines("g.dig", l, 256);
    uint64_t hi = 0, lo = 0, rows = 0;
    ck_assert_int_gt(n, 10); /* 3000 records, a cycle per 250 and the flush */
    ck_assert_uint_eq(l[0].pos, 0);
    ck_assert_uint_eq(l[0].rows, 0);
    ck_assert(l[0].hi == 0 && l[0].lo == 0);
    for (int i = 1; i < n; i++) {
        ck_assert_msg(l[i].pos > l[i - 1].pos, "line %d: position does not grow", i + 1);
        ck_assert_uint_ge(l[i].rows, l[i - 1].rows);
    }
    ck_assert_uint_ge(l[n - 1].pos, 3001); /* records, then the flush steps */
    add_table("gexp/bars.csv", 'B', &hi, &lo, &rows);
    add_table("gexp/late.csv", 'L', &hi, &lo, &rows);
    add_table("gexp/dlq.csv", 'D', &hi, &lo, &rows);
    ck_assert_uint_gt(rows, 0);
    ck_assert_uint_eq(l[n - 1].rows, rows);
    ck_assert_msg(l[n - 1].hi == hi && l[n - 1].lo == lo,
                  "final sink digest %016" PRIx64 "%016" PRIx64 " is not the sum over the "
                  "exported rows %016" PRIx64 "%016" PRIx64, l[n - 1].hi, l[n - 1].lo, hi, lo);
    /* a second uninterrupted run records the same lines */
    ck_assert_int_eq(run("again", NULL, "--record-digests again.dig", NULL), 0);
    ck_assert_int_eq(tu_sh("cd %s && cmp -s g.dig again.dig", dir), 0);
}
END_TEST

/* Crash after the k-th sink commit (its checkpoint not written): the
 * recovery resumes from the checkpoint before, replays one cycle and has
 * then caught up with the crashed run, at the k-th commit's position. */
START_TEST(recovery_stops_where_it_caught_up)
{
    line l[256];
    int n = read_lines("g.dig", l, 256);
    char *out;
    unsigned long long pos;
    char stopped[8];
    ck_assert_int_gt(n, 6);
    ck_assert_int_eq(run("c", "sink/commit/after:5", "", NULL), 137);
    ck_assert_int_eq(run("c", NULL, "--stop-when-converged g.dig", "c.out"), 0);
    {
        char path[4096];
        snprintf(path, sizeof path, "%s/c.out", dir);
        out = tu_slurp(path, NULL);
    }
    ck_assert_ptr_nonnull(out);
    ck_assert_msg(sscanf(out, "converged-early position=%llu stopped=%7s", &pos, stopped) == 2,
                  "no marker in '%s'", out);
    free(out);
    /* line 0 is the epoch checkpoint, line k the k-th cycle */
    ck_assert_uint_eq(pos, l[5].pos);
    ck_assert_str_eq(stopped, "yes");
    /* it stopped: the sink holds an unfinished run, which export refuses */
    ck_assert_int_eq(tu_sh("cd %s && %s export c c.exp >/dev/null 2>&1", dir, tu_bin("refpipe")),
                     2);
    /* and finishing it gives the uninterrupted run's tables */
    ck_assert_int_eq(run("c", NULL, "", NULL), 0);
    ck_assert_int_eq(tu_sh("cd %s && %s export c c.exp > c.d && cmp -s golden.d c.d", dir,
                           tu_bin("refpipe")), 0);
}
END_TEST

static int has_marker(const char *name)
{
    char path[4096], *t;
    int found;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    t = tu_slurp(path, NULL);
    ck_assert_ptr_nonnull(t);
    found = strstr(t, "converged-early") != NULL;
    free(t);
    return found;
}

/* Every line's sink digest changed in one hex digit: nothing matches, the
 * run goes to the end and its export is the golden one. */
START_TEST(tampered_digests_never_stop_a_run)
{
    ck_assert_int_eq(tu_sh("cd %s && awk '{ c = substr($3, 9, 1); r = (c == \"0\") ? \"1\" : "
                           "\"0\"; $3 = substr($3, 1, 8) r substr($3, 10); print }' g.dig > t.dig"
                           " && ! cmp -s g.dig t.dig", dir), 0);
    ck_assert_int_eq(run("t", "sink/commit/after:5", "", NULL), 137);
    ck_assert_int_eq(run("t", NULL, "--stop-when-converged t.dig", "t.out"), 0);
    ck_assert_msg(!has_marker("t.out"), "a tampered digest file made the run stop");
    ck_assert_int_eq(tu_sh("cd %s && %s export t t.exp > t.d && cmp -s golden.d t.d", dir,
                           tu_bin("refpipe")), 0);
    /* the row counts alone differing is enough too */
    ck_assert_int_eq(tu_sh("cd %s && awk '{ $4 = $4 + 1; print }' g.dig > r.dig", dir), 0);
    ck_assert_int_eq(run("r", NULL, "--stop-when-converged r.dig", "r.out"), 0);
    ck_assert(!has_marker("r.out"));
    /* a malformed file is bad input: one line, exit 2, nothing run */
    ck_assert_int_eq(tu_sh("cd %s && head -c 20 g.dig > bad.dig && %s run log m --quiet " OPTS
                           " --stop-when-converged bad.dig 2> m.err", dir,
                           tu_bin("refpipe-fiu")), 2);
    ck_assert_int_eq(tu_sh("cd %s && test $(wc -l < m.err) -eq 1 && grep -q 'bad.dig:1' m.err "
                           "&& ! test -e m/sink.db", dir), 0);
}
END_TEST

/* --check-converged reports the match and still finishes. */
START_TEST(check_mode_goes_on_to_the_end)
{
    ck_assert_int_eq(run("k", "sink/commit/after:3", "", NULL), 137);
    ck_assert_int_eq(run("k", NULL, "--check-converged g.dig", "k.out"), 0);
    ck_assert_int_eq(tu_sh("cd %s && grep -q '^converged-early position=[0-9]* stopped=no$' k.out",
                           dir), 0);
    ck_assert_int_eq(tu_sh("cd %s && %s export k k.exp > k.d && cmp -s golden.d k.d", dir,
                           tu_bin("refpipe")), 0);
}
END_TEST

/* Crash a run on state dir st (RP_FIU_CRASH spec crash, more options
 * extra), then change its sink behind the sink's back with sql.  Returns the
 * number of rows sql changed. */
static int crash_and_alter(const char *st, const char *crash, const char *extra,
                           const char *sql)
{
    char path[4096];
    sqlite3 *db;
    int n;
    ck_assert_int_eq(run(st, crash, extra, NULL), 137);
    snprintf(path, sizeof path, "%s/%s/sink.db", dir, st);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    n = sqlite3_changes(db);
    sqlite3_close(db);
    return n;
}

/* A bar the recorded run never had, slipped into the sink after a crash:
 * the digest covers the whole sink, so the recovery never matches. */
START_TEST(foreign_row_prevents_convergence)
{
    /* (the crashed run may not have stored a bar, nor so the names, yet) */
    ck_assert_int_eq(crash_and_alter("f", "ckpt/done/after:4", "",
                                     "INSERT OR IGNORE INTO aggs(name) VALUES('10s');"
                                     "INSERT OR IGNORE INTO symbols(name) VALUES('ZZZ');"
                                     "INSERT INTO bar_rows VALUES((SELECT id FROM aggs WHERE"
                                     " name = '10s'), (SELECT id FROM symbols WHERE name ="
                                     " 'ZZZ'), 999999,0,1,1,1,1,1,1,1,1)"), 1);
    ck_assert_int_eq(run("f", NULL, "--stop-when-converged g.dig", "f.out"), 0);
    ck_assert_msg(!has_marker("f.out"), "a sink with a foreign row converged");
    /* the same crash without the row does converge (the test can fail) */
    ck_assert_int_eq(run("f2", "ckpt/done/after:4", "", NULL), 137);
    ck_assert_int_eq(run("f2", NULL, "--stop-when-converged g.dig", "f2.out"), 0);
    ck_assert(has_marker("f2.out"));
}
END_TEST

/* A build whose resumed runs emit other values: the replayed rows conflict
 * with the stored ones, the conflicts are in the digest, no early stop. */
START_TEST(conflicting_replay_never_converges)
{
    ck_assert_int_eq(run("n", "sink/commit/after:5", "", NULL), 137);
    ck_assert_int_eq(tu_sh("cd %s && REFPIPE_UNSAFE=nondeterministic-replay %s run log n --quiet "
                           OPTS " --stop-when-converged g.dig > n.out 2>/dev/null",
                           dir, tu_bin("refpipe-fiu")), 0);
    ck_assert(!has_marker("n.out"));
    ck_assert_int_eq(tu_sh("cd %s && %s export n n.exp >/dev/null 2>&1", dir, tu_bin("refpipe")),
                     1);
}
END_TEST

/* The sink digest recorded with the cut (12 of sink.c), as 48 hex digits:
 * lo, hi, rows.  0 when the meta table has none. */
static int stored_digest(const char *st, uint64_t *hi, uint64_t *lo, uint64_t *rows)
{
    char path[4096];
    sqlite3 *db;
    sqlite3_stmt *q;
    int found = 0;
    snprintf(path, sizeof path, "%s/%s/sink.db", dir, st);
    /* read-only: closing must not checkpoint the crashed run's WAL away */
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'sink_digest'",
                                        -1, &q, NULL), SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(q, 0);
        ck_assert_ptr_nonnull(v);
        found = sscanf(v, "%16" SCNx64 "%16" SCNx64 "%16" SCNx64, lo, hi, rows) == 3;
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return found;
}

/* --trust-sink-digest: the crashed run kept the digest and committed it
 * with its rows; it equals the oracle's sum over what the sink holds, and a
 * recovery that starts from it (no scan) stops where one that scans does. */
START_TEST(stored_digest_is_the_sum_over_the_rows)
{
    line l[256];
    int n = read_lines("g.dig", l, 256);
    uint64_t hi = 0, lo = 0, rows = 0, shi, slo, srows;
    ck_assert_int_gt(n, 6);
    ck_assert_int_eq(run("s", "sink/commit/after:5", "--trust-sink-digest", NULL), 137);
    ck_assert_msg(stored_digest("s", &shi, &slo, &srows), "no digest recorded with the cut");
    ck_assert_int_eq(tu_sh("cd %s && cp -a s s2 && %s export --allow-partial s2 s.exp "
                           ">/dev/null 2>&1", dir, tu_bin("refpipe")), 0);
    add_table("s.exp/bars.csv", 'B', &hi, &lo, &rows);
    add_table("s.exp/late.csv", 'L', &hi, &lo, &rows);
    add_table("s.exp/dlq.csv", 'D', &hi, &lo, &rows);
    ck_assert_uint_gt(rows, 0);
    ck_assert_uint_eq(srows, rows);
    ck_assert_msg(shi == hi && slo == lo, "stored digest %016" PRIx64 "%016" PRIx64 " is not "
                  "the sum over the rows %016" PRIx64 "%016" PRIx64, shi, slo, hi, lo);
    /* the crashed run's commit 5 is line 5 of the golden run's digests */
    ck_assert_uint_eq(srows, l[5].rows);
    ck_assert(shi == l[5].hi && slo == l[5].lo);
    ck_assert_int_eq(tu_sh("cd %s && %s run log s " OPTS " --trust-sink-digest "
                           "--stop-when-converged g.dig > s.out 2> s.err && "
                           "grep -q 'trusted (no scan)' s.err && "
                           "grep -q '^converged-early position=%" PRIu64 " stopped=yes$' s.out",
                           dir, tu_bin("refpipe-fiu"), l[5].pos), 0);
    /* a run without the option records a placeholder: nothing to trust */
    ck_assert_int_eq(run("p", "sink/commit/after:2", "", NULL), 137);
    ck_assert(!stored_digest("p", &shi, &slo, &srows));
}
END_TEST

/* A stored row damaged behind the sink's back (not through a transaction of
 * the sink, as a corruption or a power cut under a broken durability step
 * does it): a recovery that scans never converges, whatever the recorded
 * digest says.  One that trusts the recorded digest cannot see the damage,
 * which is why replayproof gives --trust-sink-digest to kill-only trials
 * alone (docs/semantics.md, "Early stop at convergence"). */
START_TEST(damaged_row_is_seen_by_the_scan_only)
{
    /* the first bar: committed long before the checkpoint the recovery
     * resumes from, so no replay comes near it */
    ck_assert_int_eq(crash_and_alter("d", "ckpt/done/after:6", "--trust-sink-digest",
                                     "UPDATE bar_rows SET close = close + 1 WHERE (agg_id, sym_id,"
                                     " seq) = (SELECT b.agg_id, b.sym_id, b.seq FROM bar_rows b"
                                     " JOIN aggs a ON a.id = b.agg_id JOIN symbols s ON s.id ="
                                     " b.sym_id ORDER BY b.start_ns, a.name, s.name LIMIT 1)"), 1);
    ck_assert_int_eq(tu_sh("cd %s && cp -a d d2", dir), 0);
    ck_assert_int_eq(run("d", NULL, "--stop-when-converged g.dig", "d.out"), 0);
    ck_assert_msg(!has_marker("d.out"), "a sink with a damaged row converged");
    ck_assert_int_eq(tu_sh("cd %s && %s export d d.exp > d.d; ! cmp -s golden.d d.d", dir,
                           tu_bin("refpipe")), 0);
    /* the same state with the recorded digest trusted stops: the scan is
     * what saw the damage */
    ck_assert_int_eq(run("d2", NULL, "--trust-sink-digest --stop-when-converged g.dig", "d2.out"),
                     0);
    ck_assert(has_marker("d2.out"));
}
END_TEST

Suite *converge_suite(void)
{
    Suite *s = suite_create("converge");
    TCase *tc = tcase_create("converge");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, golden_records_one_line_per_checkpoint);
    tcase_add_test(tc, recovery_stops_where_it_caught_up);
    tcase_add_test(tc, tampered_digests_never_stop_a_run);
    tcase_add_test(tc, check_mode_goes_on_to_the_end);
    tcase_add_test(tc, foreign_row_prevents_convergence);
    tcase_add_test(tc, conflicting_replay_never_converges);
    tcase_add_test(tc, stored_digest_is_the_sum_over_the_rows);
    tcase_add_test(tc, damaged_row_is_seen_by_the_scan_only);
    suite_add_tcase(s, tc);
    return s;
}
