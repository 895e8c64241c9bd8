/*
 * test_converge.c - refpipe's convergence digests (--record-digests,
 * --stop-when-converged, --check-converged).  The recorded sink digest is
 * checked against a sum recomputed here, independently, from the exported
 * CSV files; a recovery stops at the checkpoint where it has caught up with
 * the crashed run's sink, and finishing it afterwards gives the golden
 * export; a tampered or damaged digest file never makes a run stop; a sink
 * holding a row the recorded run never had, or a conflict, never converges.
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

/* A bar the recorded run never had, slipped into the sink after a crash:
 * the digest covers the whole sink, so the recovery never matches. */
START_TEST(foreign_row_prevents_convergence)
{
    char path[4096];
    sqlite3 *db;
    ck_assert_int_eq(run("f", "ckpt/done/after:4", "", NULL), 137);
    snprintf(path, sizeof path, "%s/f/sink.db", dir);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "INSERT INTO bars VALUES('10s','ZZZ',999999,0,1,"
                                      "1,1,1,1,1,1,1)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
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
    suite_add_tcase(s, tc);
    return s;
}
