/*
 * test_snap.c - snapshot starts.  rp-crash.so's RP_FIU_SNAP copies the
 * state dir at checkpoints with the hit counts of that moment; a kill at
 * X:K from record 0 and the same kill from a copy (armed at K minus the
 * copy's count of X) leave the same durable state: the same exported rows
 * and byte-identical checkpoints.  In the harness, trials that start from
 * snapshots get the verdicts trials from record 0 get, a mutant's red
 * ones included (those run again from record 0), the reader's block point
 * never starts from one (its restore hits it), and bad keys are refused.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tutil.h"

static tu_env env;
#define DIR env.tmp

static void setup(void)
{
    tu_env_open(&env);
}

static void teardown(void)
{
    tu_env_close(&env);
}

static const char RUN_OPTS[] = "--quiet --agg 1s=tumbling:1s --agg t=ticks:40 "
                               "--checkpoint-every 800 --max-delay 200ms";

/* A 16000-tick log in DIR/log (two blocks per partition), and a discovery-like run of refpipe-fiu that
 * counts every point and copies its state at every checkpoint into DIR/snaps. */
static void snapshots(void)
{
    ck_assert_int_eq(tu_sh("cd %s && '%s' gen --seed 5 --ticks 16000 --partitions 2 --symbols 4 "
                           "--disorder 300ms in.csv >/dev/null && '%s' import in.csv log "
                           ">/dev/null 2>&1 && mkdir snaps && LD_PRELOAD='%s' RP_FIU_COUNT=%s/cnt "
                           "RP_FIU_POINTS='*' RP_FIU_SNAP=ckpt/done/after:1 RP_FIU_SNAP_DIR=%s/disc "
                           "RP_FIU_SNAP_OUT=%s/snaps '%s' run log disc %s",
                           DIR, tu_bin("replayproof"), tu_bin("refpipe"), tu_bin("rp-crash.so"),
                           DIR, DIR, DIR, tu_bin("refpipe-fiu"), RUN_OPTS),
                     0);
}

/* A kill between the same two commits leaves the same durable state
 * wherever it lands, so commit points show an arming off by one hit, and
 * the others (events, blocks) that the kill lands in the right cycle.
 *
 * Kill at point:k from record 0 (state dir a) and from the newest copy
 * taken before that hit (state dir b), armed at k minus the copy's count
 * plus what a restore of the copy hits itself (counted by a probe run to
 * the next mark); both must die by the armed crash and leave the same rows
 * and the same checkpoint files.  $1 point, $2 k; sh same.sh in DIR. */
static const char SAME_SH[] =
    "set -e\n"
    "count() { awk -v p=\"$1\" -v h=\"$2\" '$1 == h { for (i = 2; i <= NF; i++) {\n"
    "  split($i, kv, \"=\"); if (kv[1] == p) c = kv[2] } } END { print c + 0 }' \"$3\"; }\n"
    "rm -rf a b p po ea eb && mkdir po\n"
    "LD_PRELOAD=\"$LIB\" RP_FIU_CRASH=$1:$2 \"$FIU\" run log a $OPTS && exit 1 || test $? -eq 137\n"
    "h=$(awk -v p=\"$1\" -v k=\"$2\" '{ c = 0; for (i = 2; i <= NF; i++) { split($i, kv, \"=\")\n"
    "  if (kv[1] == p) c = kv[2] } if ($1 >= 2 && c < k) h = $1 } END { print h }' snaps/marks)\n"
    "test -n \"$h\"\n"
    "test -d snaps/$((h + 1))\n"
    "cp -r snaps/$h p && cp -r snaps/$h b\n"
    "LD_PRELOAD=\"$LIB\" RP_FIU_COUNT=$PWD/pc RP_FIU_POINTS='*' RP_FIU_SNAP=ckpt/done/after:0 \\\n"
    "  RP_FIU_SNAP_OUT=po RP_FIU_CRASH=ckpt/done/after:1 \"$FIU\" run log p $OPTS && exit 1 ||\n"
    "  test $? -eq 137\n"
    "x=$(( $(count \"$1\" 1 po/marks) - $(count \"$1\" $((h + 1)) snaps/marks) + \\\n"
    "  $(count \"$1\" $h snaps/marks) ))\n"
    "echo \"$1:$2 from copy $h, restore hits $x\" >> same.log\n"
    "LD_PRELOAD=\"$LIB\" RP_FIU_CRASH=$1:$(($2 - $(count \"$1\" $h snaps/marks) + x)) \\\n"
    "  \"$FIU\" run log b $OPTS && exit 1 || test $? -eq 137\n"
    "\"$EXP\" export --allow-partial a ea >/dev/null 2>&1\n"
    "\"$EXP\" export --allow-partial b eb >/dev/null 2>&1\n"
    "for t in bars late dlq; do cmp ea/$t.csv eb/$t.csv; done\n"
    "test \"$(cd a && ls ckpt-*)\" = \"$(cd b && ls ckpt-*)\"\n"
    "for f in $(cd a && ls ckpt-*); do cmp a/$f b/$f; done\n";

static void same_crash_state(const char *point, int k)
{
    ck_assert_int_eq(tu_sh("cd %s && LIB='%s' FIU='%s' EXP='%s' OPTS='%s' sh same.sh %s %d "
                           "2>/dev/null", DIR, tu_bin("rp-crash.so"), tu_bin("refpipe-fiu"),
                           tu_bin("refpipe"), RUN_OPTS, point, k),
                     0);
}

START_TEST(kill_from_a_copy_leaves_the_state_a_kill_from_record_0_leaves)
{
    char p[600];
    snapshots();
    snprintf(p, sizeof p, "%s/same.sh", DIR);
    tu_write(p, SAME_SH);
    /* a copy per checkpoint, each whole, with the marks' counts */
    ck_assert_int_eq(tu_sh("test $(ls -d %s/snaps/[0-9]* | wc -l) -ge 15 && "
                           "! ls -d %s/snaps/*.tmp 2>/dev/null", DIR, DIR), 0);
    ck_assert_int_eq(tu_sh("cd %s && test -d snaps/5 && "
                           "grep -q '^5 .*ckpt/done/after=5' snaps/marks && "
                           "test $(wc -l < snaps/marks) -eq $(awk '$1 == \"ckpt/done/after\" "
                           "{ print $2 }' cnt)", DIR), 0);
    same_crash_state("sink/commit/after", 9);
    same_crash_state("sink/commit/before", 12);
    same_crash_state("ckpt/fsync/after", 7);
    same_crash_state("ckpt/rename/after", 14);
    same_crash_state("stream/event/after", 9777);
    /* a restored reader enters its current blocks again: the restore's own
     * hits are added to the armed hit */
    same_crash_state("log/block/enter", 3);
    ck_assert_int_eq(tu_sh("grep -q '^log/block/enter:3 from copy [0-9]*, restore hits [1-9]' "
                           "%s/same.log", DIR), 0);
}
END_TEST

START_TEST(bad_snapshot_variables_stop_the_target)
{
    ck_assert_int_eq(tu_sh("cd %s && LD_PRELOAD='%s' RP_FIU_SNAP=ckpt/done/after:1 '%s' --help "
                           ">/dev/null 2>err; test $? -eq 2 && grep -q '^rp-crash: RP_FIU_SNAP' err",
                           DIR, tu_bin("rp-crash.so"), tu_bin("refpipe-fiu")), 0);
    ck_assert_int_eq(tu_sh("cd %s && LD_PRELOAD='%s' RP_FIU_COUNT=c RP_FIU_POINTS='*' "
                           "RP_FIU_SNAP_OUT=. RP_FIU_SNAP='ckpt/*:1' '%s' --help >/dev/null 2>err; "
                           "test $? -eq 2 && grep -q \"bad entry 'ckpt/\\*:1'\" err",
                           DIR, tu_bin("rp-crash.so"), tu_bin("refpipe-fiu")), 0);
}
END_TEST

/* 1500 ticks, tick bars, every point, a trial per hit up to the budget. */
static void scenario(const char *extra)
{
    char p[700], text[2048];
    snprintf(p, sizeof p, "%s/s.ini", DIR);
    snprintf(text, sizeof text,
             "[scenario]\nname = snap\n[workload]\nseed = 9\npartitions = 2\nsymbols = 3\n"
             "ticks = 1500\nduration = 15s\ndisorder = 200ms\n[pipeline]\n"
             "binary = %s\nagg = 1s=tumbling:1s\nagg = t=ticks:30\ncheckpoint-every = 100\n"
             "max-delay = 200ms\n%s[faults]\npoints = *\nhits = all\nbudget = 60\nseed = 4\n"
             "crashes = 1\n",
             tu_bin("refpipe-fiu"), extra);
    tu_write(p, text);
}

static int run(const char *db, const char *opts)
{
    return tu_sh("cd %s && rm -f %s && '%s' run -q -j 2 --results %s --workdir '%s' %s s.ini "
                 "> out 2> err", DIR, db, tu_bin("replayproof"), db, env.work, opts);
}

/* The number of trials whose verdicts differ between a.db and b.db. */
static long long verdicts_differ(void)
{
    char sql[900];
    snprintf(sql, sizeof sql, "ATTACH '%s/b.db' AS b; SELECT count(*) FROM trials x JOIN "
             "b.trials y USING (seq) WHERE x.verdict != y.verdict OR x.crashes != y.crashes",
             DIR);
    return tu_query_int(DIR, "a.db", sql);
}

START_TEST(snapshot_starts_change_no_verdict)
{
    scenario("");
    ck_assert_int_eq(run("a.db", ""), 0);
    ck_assert_int_eq(run("b.db", "--no-snapshots"), 0);
    ck_assert_int_eq(tu_query_int(DIR, "a.db", "SELECT count(*) FROM trials"), 60);
    ck_assert_int_eq(verdicts_differ(), 0);
    /* most kill trials started from a copy */
    ck_assert_int_ge(tu_query_int(DIR, "a.db", "SELECT count(*) FROM trials WHERE snap_hit "
                                               "IS NOT NULL"), 20);
    ck_assert_int_eq(tu_query_int(DIR, "b.db", "SELECT count(*) FROM trials WHERE snap_hit "
                                               "IS NOT NULL"), 0);
    /* the report says so: the JUnit property and summary.md of the run
     * (b.db's run came last; a.db's run dir is the older one) */
    ck_assert_int_eq(tu_sh("cd %s/runs && j=$(grep -l 'trials_from_snapshot\" value=\"[1-9]' "
                           "*/junit.xml | wc -l) && test \"$j\" -eq 1 && "
                           "grep -q 'trials_from_snapshot\" value=\"0\"' latest/junit.xml && "
                           "grep -lq 'started from a snapshot' */summary.md", DIR), 0);
}
END_TEST

/* A mutant's red verdicts hold from record 0: the same trials fail with
 * snapshot starts on and off. */
START_TEST(mutant_verdicts_are_the_same_from_snapshots)
{
    scenario("env = REFPIPE_UNSAFE=bar-seq-not-restored\n");
    ck_assert_int_eq(run("a.db", ""), 1);
    ck_assert_int_eq(run("b.db", "--no-snapshots"), 1);
    ck_assert_int_ge(tu_query_int(DIR, "a.db", "SELECT count(*) FROM trials WHERE verdict != "
                                               "'converged'"), 5);
    ck_assert_int_eq(verdicts_differ(), 0);
    /* a failing trial's verdict came from its run from record 0 */
    ck_assert_int_eq(tu_query_int(DIR, "a.db", "SELECT count(*) FROM trials WHERE verdict != "
                                               "'converged' AND snap_hit IS NOT NULL"), 0);
}
END_TEST

/* A stand-in that computes wrongly from its third run on one state dir:
 * the golden and discovery runs and every trial from record 0 (a crashed
 * run and a recovery) never see it, a copy (one run behind it) and its
 * probe neither; a trial from a copy does.  As planned such a trial
 * converges from record 0, so the copy start is run in its double-crash
 * form from record 0 (a kill at the copy's hit first), which is red: that
 * is the verdict, under that schedule, and it replays. */
START_TEST(red_only_from_a_copy_is_reported_in_its_double_crash_form)
{
    char spec[512] = "";
    char *text;
    FILE *f;
    tu_wrapped_scenario(DIR, "third",
                        "if [ \"$1\" = run ]; then mkdir -p \"$3\"\n"
                        "  n=$(( $(cat \"$3/runs\" 2>/dev/null || echo 0) + 1 ))\n"
                        "  echo $n > \"$3/runs\"\n"
                        "  [ $n -ge 3 ] && export REFPIPE_UNSAFE=float-vwap\nfi",
                        "points = sink/commit/after\nhits = all\nfull-run-fraction = 0\n");
    ck_assert_int_eq(run("a.db", ""), 1);
    ck_assert_int_ge(tu_query_int(DIR, "a.db", "SELECT count(*) FROM trials WHERE verdict IN "
                                               "('diverged', 'conflict') AND crashes LIKE "
                                               "'ckpt/done/after:%,sink/commit/after:%' AND "
                                               "detail LIKE 'found from a snapshot start%'"), 3);
    ck_assert_int_eq(tu_query_int(DIR, "a.db", "SELECT count(*) FROM trials WHERE verdict NOT "
                                               "IN ('diverged', 'conflict', 'converged')"), 0);
    /* the trial from record 0 (k = 1: no copy before it) converges */
    ck_assert_int_eq(tu_query_int(DIR, "a.db", "SELECT count(*) FROM trials WHERE crashes = "
                                               "'sink/commit/after:1' AND verdict = "
                                               "'converged'"), 1);
    /* the reported schedule reproduces from record 0 */
    ck_assert_int_eq(tu_sh("cd %s && sqlite3 a.db \"SELECT crashes FROM trials WHERE detail "
                           "LIKE 'found from a snapshot start%%' ORDER BY seq LIMIT 1\" > spec",
                           DIR), 0);
    text = NULL;
    {
        char p[700];
        snprintf(p, sizeof p, "%s/spec", DIR);
        f = fopen(p, "r");
        ck_assert_ptr_nonnull(f);
        ck_assert_ptr_nonnull(fgets(spec, sizeof spec, f));
        fclose(f);
        spec[strcspn(spec, "\n")] = 0;
    }
    ck_assert_int_eq(tu_sh("cd %s && '%s' replay s.ini --workdir '%s' --trial '%s' > rep 2>&1",
                           DIR, tu_bin("replayproof"), env.work, spec), 1);
    free(text);
}
END_TEST

START_TEST(bad_keys_are_refused)
{
    scenario("");
    ck_assert_int_eq(tu_sh("cd %s && sed -i 's/^crashes = 1$/snapshot-point = ckpt\\/*/' s.ini",
                           DIR), 0);
    ck_assert_int_eq(run("a.db", ""), 2);
    ck_assert_int_eq(tu_sh("grep -q 's.ini:[0-9]*: .*snapshot-point.*is a pattern' %s/err", DIR),
                     0);
    scenario("");
    ck_assert_int_eq(tu_sh("cd %s && sed -i 's/^crashes = 1$/snapshot-start = maybe/' s.ini",
                           DIR), 0);
    ck_assert_int_eq(run("a.db", ""), 2);
    ck_assert_int_eq(tu_sh("grep -q 'snapshot-start.*not a boolean' %s/err", DIR), 0);
}
END_TEST

Suite *snap_suite(void)
{
    Suite *s = suite_create("snap");
    TCase *tc = tcase_create("snap");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, kill_from_a_copy_leaves_the_state_a_kill_from_record_0_leaves);
    tcase_add_test(tc, bad_snapshot_variables_stop_the_target);
    tcase_add_test(tc, snapshot_starts_change_no_verdict);
    tcase_add_test(tc, mutant_verdicts_are_the_same_from_snapshots);
    tcase_add_test(tc, red_only_from_a_copy_is_reported_in_its_double_crash_form);
    tcase_add_test(tc, bad_keys_are_refused);
    suite_add_tcase(s, tc);
    return s;
}
