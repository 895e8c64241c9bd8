/*
 * test_mutants.c - `replayproof mutants`: the kill matrix.  A variant that
 * the scenarios catch twice passes (exit 0) with a reproducer per catch that
 * really reproduces it; a variant they cannot catch fails the command
 * (exit 1); a scenario that fails without any variant stops it (exit 3);
 * the cells land in the results database; nothing is left in the work dir.
 * And `replayproof shrink`, which cuts one such failure down to a small
 * scenario that still fails the same way, and only with the variant.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hn_runner_int.h"
#include "tutil.h"

static char *dir;

/* A small scenario dir/name.ini: 1000 ticks on 2 partitions, 10 commit
 * cycles; `pipeline` lines after its first aggregation, `faults` as its
 * [faults] lines. */
static void write_scenario(const char *name, const char *pipeline, const char *faults)
{
    char path[4096], text[2048];
    snprintf(path, sizeof path, "%s/%s.ini", dir, name);
    snprintf(text, sizeof text,
             "[scenario]\nname = %s\n"
             "[workload]\nseed = 4\npartitions = 2\nsymbols = 5\nduration = 10s\nrate = 100\n"
             "[pipeline]\nagg = 1s=tumbling:1s\n%s[faults]\n%s[expect]\nconverge = true\n",
             name, pipeline, faults);
    tu_write(path, text);
}

/* The kill matrix's scenario: two aggregations, every hit of the
 * checkpoint's last step, 12 trials; extra_pipeline added. */
static void scenario(const char *name, const char *extra_pipeline)
{
    char pipeline[1024];
    snprintf(pipeline, sizeof pipeline, "agg = t5=ticks:5\ncheckpoint-every = 100\n%s",
             extra_pipeline);
    write_scenario(name, pipeline, "points = ckpt/done/after\nhits = all\nbudget = 12\n");
}

static void setup(void)
{
    dir = tu_tmpdir();
    ck_assert_int_eq(tu_sh("mkdir %s/work", dir), 0);
    scenario("a", "");
    scenario("b", "max-delay = 10ms\n");
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
}

static int mutants(const char *args)
{
    return tu_sh("cd %s && %s mutants -q -j 2 --results r.db --workdir work %s > mout 2> merr", dir,
                 tu_bin("replayproof"), args);
}

static long q_int(const char *sql)
{
    char path[4096], *txt;
    long v;
    ck_assert_int_eq(tu_sh("cd %s && sqlite3 r.db \"%s\" > q", dir, sql), 0);
    snprintf(path, sizeof path, "%s/q", dir);
    txt = tu_slurp(path, NULL);
    ck_assert_ptr_nonnull(txt);
    v = strtol(txt, NULL, 10);
    free(txt);
    return v;
}

/* Caught by both scenarios: exit 0, depth 2, stored, and the printed
 * reproducers fail with the variant and pass without it. */
START_TEST(caught_twice_passes)
{
    ck_assert_int_eq(mutants("--only bar-seq-not-restored,float-vwap a.ini b.ini"), 0);
    ck_assert_int_eq(tu_sh("grep -q '^bar-seq-not-restored .* 2$' %s/mout", dir), 0);
    ck_assert_int_eq(tu_sh("grep -q '^float-vwap .* 0 .* 0  2$' %s/mout", dir), 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM mutants WHERE outcome = 'caught'"), 4);
    ck_assert_int_eq(q_int("SELECT count(*) FROM mutants WHERE mutant = 'float-vwap' AND "
                           "verdict = 'batch-disagrees' AND trials = 0"), 2);
    ck_assert_int_eq(q_int("SELECT exit_status FROM runs"), 0);
    /* the reproducer of a trial catch, run as printed (bin/ relative to the
     * project root: the test runs in it) */
    ck_assert_int_eq(tu_sh("cd %s && sqlite3 r.db \"SELECT reproduce FROM mutants WHERE "
                           "mutant = 'bar-seq-not-restored' AND scenario = 'a'\" > repro && "
                           "grep -q '^REFPIPE_UNSAFE=bar-seq-not-restored .* replay .*a.ini "
                           "--trial ckpt/done/after:' repro", dir), 0);
    ck_assert_int_eq(tu_sh("cd %s && sed 's| bin/replayproof | %s |; s|replay |replay "
                           "--workdir work |' repro > repro.sh && sh repro.sh > /dev/null 2>&1",
                           dir, tu_bin("replayproof")), 1);
    ck_assert_int_eq(tu_sh("cd %s && sed 's|^REFPIPE_UNSAFE=[^ ]* ||' repro.sh > plain.sh && "
                           "sh plain.sh > /dev/null 2>&1", dir), 0);
    ck_assert_int_eq(tu_sh("cd %s && rm -rf work/* && test -z \"$(ls -A work)\"", dir), 0);
}
END_TEST

/* --shrink: one catch per mutant cut down into a standalone scenario whose
 * env selects the variant, so that it fails on its own. */
START_TEST(mutants_shrink_catches)
{
    ck_assert_int_eq(mutants("--only float-vwap --shrink 30 a.ini b.ini"), 0);
    ck_assert_int_eq(tu_sh("grep -q '^float-vwap x a (batch-disagrees): records 1000 -> ' %s/mout",
                           dir), 0);
    ck_assert_int_eq(tu_sh("grep -qx 'env = REFPIPE_UNSAFE=float-vwap' "
                           "%s/out/shrink/float-vwap/a-shrunk.ini", dir), 0);
    /* stored with the run: the scenario, its CSV and the command, and shown in the report */
    ck_assert_int_eq(q_int("SELECT count(*) FROM shrinks WHERE mutant = 'float-vwap' AND "
                           "scenario = 'a' AND verdict = 'batch-disagrees' AND records_before = "
                           "1000 AND records < 1000 AND scenario_text LIKE '%REFPIPE_UNSAFE="
                           "float-vwap%' AND csv_text IS NOT NULL AND reproduce = "
                           "'bin/replayproof run --budget 1 ' || scenario_path AND run_id = "
                           "(SELECT max(id) FROM runs)"), 1);
    ck_assert_int_eq(tu_sh("cd %s && %s report --results r.db -o rep > /dev/null 2>&1 && "
                           "grep -q 'Shrunk reproducers' rep/index.html && grep -q "
                           "'a-shrunk.ini</code>' rep/index.html", dir, tu_bin("replayproof")), 0);
    ck_assert_int_eq(tu_sh("cd %s && %s run -q --results r.db --workdir work "
                           "out/shrink/float-vwap/a-shrunk.ini > /dev/null 2>&1", dir,
                           tu_bin("replayproof")), 1);
    ck_assert_int_eq(tu_sh("cd %s && rm -rf work/*", dir), 0);
}
END_TEST

/* late-lt needs an event exactly on the watermark, which these workloads
 * (max-delay 1 s and 10 ms) do not have: a survivor, exit 1. */
START_TEST(survivor_fails)
{
    ck_assert_int_eq(mutants("--only late-lt a.ini b.ini"), 1);
    ck_assert_int_eq(tu_sh("grep -q '^late-lt .* 0  SURVIVED$' %s/mout", dir), 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM mutants WHERE outcome = 'survived' AND "
                           "trials >= 10"), 2);
    /* the survivor ran its scenarios to the end, and left nothing behind */
    ck_assert_int_eq(tu_sh("test -z \"$(ls -A %s/work)\"", dir), 0);
}
END_TEST

/* Caught by one scenario only: kill depth 1 fails too. */
START_TEST(depth_one_fails)
{
    ck_assert_int_eq(mutants("--only poison-retry a.ini"), 1);
    ck_assert_int_eq(tu_sh("grep -q '^poison-retry .* 1  SHALLOW$' %s/mout", dir), 0);
}
END_TEST

/* A scenario that fails on its own would catch everything: the baseline
 * stops the command (exit 3).  A scenario that selects a variant itself and
 * an unknown --only name are usage errors. */
START_TEST(failing_baseline_stops)
{
    free(tu_script(dir, "broken-pipe", "export REFPIPE_UNSAFE=float-vwap"));
    scenario("broken", "binary = ./broken-pipe\n");
    ck_assert_int_eq(mutants("--only float-vwap broken.ini"), 3);
    ck_assert_int_eq(tu_sh("grep -q 'fails without a mutant' %s/merr", dir), 0);
    scenario("sets", "env = REFPIPE_UNSAFE=float-vwap\n");
    ck_assert_int_eq(mutants("--only float-vwap a.ini sets.ini"), 2);
    ck_assert_int_eq(mutants("--only no-such-variant a.ini"), 2);
    ck_assert_int_eq(tu_sh("grep -q \"'no-such-variant' is not a variant\" %s/merr", dir), 0);
}
END_TEST

/* shrink, batch form: dead letters dropped (poison-retry) shrink to a log
 * of a few records that still shows it, and only with the variant. */
START_TEST(shrink_batch_disagreement)
{
    ck_assert_int_eq(tu_sh("cd %s && REFPIPE_UNSAFE=poison-retry %s shrink -q a.ini --out sh "
                           "--workdir work > out 2> err", dir, tu_bin("replayproof")), 0);
    ck_assert_int_eq(tu_sh("grep -q 'records 1000 -> ' %s/out", dir), 0);
    ck_assert_int_eq(tu_sh("test -z \"$(ls -A %s/work)\"", dir), 0); /* nothing left */
    /* header + at most a handful of records, one of them poison */
    ck_assert_int_eq(tu_sh("test $(wc -l < %s/sh/a-shrunk.csv) -le 4", dir), 0);
    ck_assert_int_eq(tu_sh("cd %s && REFPIPE_UNSAFE=poison-retry %s run -q --results r.db "
                           "--workdir work sh/a-shrunk.ini > /dev/null 2>&1", dir,
                           tu_bin("replayproof")), 1);
    ck_assert_int_eq(tu_sh("cd %s && %s run -q --results r.db --workdir work sh/a-shrunk.ini "
                           "> /dev/null 2>&1", dir, tu_bin("replayproof")), 0);
}
END_TEST

/* shrink, trial form: bar numbers lost on restore need the tick bars only,
 * and the shrunk scenario's trial still fails with the variant alone. */
START_TEST(shrink_trial)
{
    ck_assert_int_eq(tu_sh("cd %s && REFPIPE_UNSAFE=bar-seq-not-restored %s shrink -q a.ini "
                           "--trial ckpt/done/after:8 --out sh --workdir work > out 2> err", dir,
                           tu_bin("replayproof")), 0);
    ck_assert_int_eq(tu_sh("grep -q '(conflict): records 1000 -> .*aggregations 2 -> 1' %s/out",
                           dir), 0);
    ck_assert_int_eq(tu_sh("grep -qx 'agg = t5=ticks:5' %s/sh/a-shrunk.ini", dir), 0);
    ck_assert_int_eq(tu_sh("cd %s && T=$(sed -n 's/^reproduce: .* --trial //p' out) && "
                           "REFPIPE_UNSAFE=bar-seq-not-restored %s replay sh/a-shrunk.ini "
                           "--trial $T --workdir work > /dev/null 2>&1", dir,
                           tu_bin("replayproof")), 1);
    ck_assert_int_eq(tu_sh("cd %s && rm -rf work/* && T=$(sed -n 's/^reproduce: .* --trial //p' "
                           "out) && %s replay sh/a-shrunk.ini --trial $T --workdir work "
                           "> /dev/null 2>&1", dir, tu_bin("replayproof")), 0);
    /* a trial that does not fail is not shrunk */
    ck_assert_int_eq(tu_sh("cd %s && %s shrink -q a.ini --trial ckpt/done/after:8 --out sh2 "
                           "--workdir work > out 2> err", dir, tu_bin("replayproof")), 1);
    ck_assert_int_eq(tu_sh("grep -q 'not reproduced: converged' %s/out", dir), 0);
}
END_TEST

/* A scenario file `name` like scenario() with one aggregation, one trial
 * per fault kind, and more [faults] lines. */
static void scenario_faults(const char *name, const char *faults)
{
    char text[1024];
    snprintf(text, sizeof text, "hits = all\nbudget = 1\n%s", faults);
    write_scenario(name, "checkpoint-every = 100\n", text);
}

/* `replayproof run` of dir/name.ini with REFPIPE_UNSAFE=unsafe ("" none). */
static int run_with(const char *unsafe, const char *name)
{
    return tu_sh("cd %s && REFPIPE_UNSAFE=%s %s run -q -j 2 --results r.db --workdir work "
                 "%s.ini > out 2> err", dir, unsafe, tu_bin("replayproof"), name);
}

/* fsyncgate: a failed fsync, then a power cut at the next checkpoint that
 * completes.  The real build exits 4 at the failure and its restarts keep
 * every checkpoint they complete; fsync-retry retries, the retry
 * "succeeds", and the checkpoint it then completes is empty after the cut:
 * recovery goes back to an older one (lost-progress). */
START_TEST(fsyncgate_power_cut)
{
#ifdef RP_SANITIZED
    return; /* libfiu's POSIX preload crashes under AddressSanitizer */
#endif
    scenario_faults("g", "points = ckpt/done/after\nio-errors = fsync:EIO\nio-budget = 0\nio-powercut-budget = 9\n");
    ck_assert_int_eq(run_with("", "g"), 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM trials WHERE crashes LIKE "
                           "'ioerr:posix/io/sync/fsync:%,powercut:strict@ckpt/done/after:1' "
                           "AND verdict = 'converged'"), 9);
    ck_assert_int_eq(run_with("fsync-retry", "g"), 1);
    ck_assert_int_ge(q_int("SELECT count(*) FROM trials WHERE verdict = 'lost-progress' AND "
                           "detail LIKE '%was complete%before the power cut%'"), 1);
    ck_assert_int_eq(tu_sh("cd %s && rm -rf work/* && test -z \"$(ls -A work)\"", dir), 0);
}
END_TEST

/* A checkpoint overwritten in place: a power cut while the newest one is
 * rewritten leaves it torn or misnamed, and recovery goes back to an older
 * one although the newest had completed; the real build writes a temp file
 * and renames it, and passes the same cuts. */
START_TEST(in_place_checkpoint_power_cut)
{
    scenario_faults("p", "points = ckpt/*\npowercut = strict, torn\npowercut-at = points\n"
                         "powercut-budget = 24\n");
    ck_assert_int_eq(run_with("", "p"), 0);
    ck_assert_int_eq(run_with("in-place-checkpoint", "p"), 1);
    ck_assert_int_ge(q_int("SELECT count(*) FROM trials WHERE verdict = 'lost-progress' AND "
                           "crashes LIKE 'powercut:%'"), 1);
    /* and none of the real build's power cuts */
    ck_assert_int_eq(q_int("SELECT count(*) FROM trials t JOIN scenarios s ON s.id = "
                           "t.scenario_id WHERE s.run_id = 1 AND t.verdict <> 'converged'"), 0);
}
END_TEST

/* A discard cut short: a state dir of another configuration, the operator's
 * --discard-state killed at its commit point.  The real build renames the
 * sink away first (the next run refuses the checkpoints once more, then the
 * discard finishes and the tables converge); discard-nonatomic removes the
 * checkpoints first and the next run builds on the foreign sink. */
START_TEST(discard_cut_short)
{
    scenario_faults("d", "points = ckpt/done/after\ncorrupt = foreign-config\n"
                         "corrupt-budget = 2\n");
    ck_assert_int_eq(run_with("", "d"), 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM trials WHERE crashes LIKE 'corrupt:foreign-"
                           "config/2@%,discard:discard/rename/after:1' AND verdict = 'converged' "
                           "AND detail LIKE '%refused%'"), 1);
    ck_assert_int_eq(run_with("discard-nonatomic", "d"), 1);
    ck_assert_int_eq(q_int("SELECT count(*) FROM trials WHERE crashes LIKE '%,discard:%' AND "
                           "verdict IN ('conflict', 'diverged')"), 1);
}
END_TEST

/* A stored bar whose value rotted in a valid page (sink-value-rot), killed
 * at sink/commit/after so the recovery replays it: the real build keeps the
 * stored row and records the conflict; blind-upsert overwrites it and
 * records nothing (silent-overwrite). */
START_TEST(value_rot_silent_overwrite)
{
    scenario_faults("v", "points = sink/commit/after\ncorrupt = sink-value-rot\n"
                         "corrupt-budget = 4\n");
    ck_assert_int_eq(run_with("", "v"), 0);
    ck_assert_int_ge(q_int("SELECT count(*) FROM trials WHERE crashes LIKE 'corrupt:sink-value-"
                           "rot%' AND verdict = 'converged' AND detail LIKE '%was kept and its "
                           "differing replay recorded in conflicts%'"), 1);
    ck_assert_int_eq(run_with("blind-upsert", "v"), 1);
    ck_assert_int_ge(q_int("SELECT count(*) FROM trials t JOIN scenarios s ON s.id = "
                           "t.scenario_id WHERE s.run_id = 2 AND t.verdict = 'silent-overwrite' "
                           "AND t.detail LIKE '%stored bars row 1s,%no conflict recorded%'"), 1);
}
END_TEST

/* The judge of a rotted row on crafted exports: kept, overwritten with and
 * without a conflict, another row changed, the row gone. */
START_TEST(judge_rot_crafted)
{
    static const char hdr[] = "agg,symbol,seq,volume\n";
    char g[4096], a[4096], detail[1024];
    snprintf(g, sizeof g, "%s/g", dir);
    snprintf(a, sizeof a, "%s/a", dir);
    ck_assert_int_eq(tu_sh("mkdir -p %s %s && for d in %s %s; do printf 'p\\n1\\n' > $d/late.csv;"
                           " printf 'p\\n' > $d/dlq.csv; done", g, a, g, a), 0);
    tu_sh("printf '%sx,A,1,5\\nx,A,2,7\\n' > %s/bars.csv", hdr, g);
    /* overwritten, no conflict: the golden value is back */
    tu_sh("printf '%sx,A,1,5\\nx,A,2,7\\n' > %s/bars.csv", hdr, a);
    ck_assert_int_eq(hn__judge_rot(g, a, "x,A,2,", 0, detail, sizeof detail),
                     HN_V_SILENT_OVERWRITE);
    ck_assert_ptr_nonnull(strstr(detail, "x,A,2,7"));
    /* overwritten but a conflict recorded: judged as usual */
    ck_assert_int_eq(hn__judge_rot(g, a, "x,A,2,", 1, detail, sizeof detail), -1);
    /* kept (the rotted value 6), with and without a conflict */
    tu_sh("printf '%sx,A,1,5\\nx,A,2,6\\n' > %s/bars.csv", hdr, a);
    ck_assert_int_eq(hn__judge_rot(g, a, "x,A,2,", 1, detail, sizeof detail), HN_V_CONVERGED);
    ck_assert_ptr_nonnull(strstr(detail, "recorded in conflicts"));
    ck_assert_int_eq(hn__judge_rot(g, a, "x,A,2,", 0, detail, sizeof detail), HN_V_CONVERGED);
    /* another row changed as well */
    tu_sh("printf '%sx,A,1,4\\nx,A,2,6\\n' > %s/bars.csv", hdr, a);
    ck_assert_int_eq(hn__judge_rot(g, a, "x,A,2,", 1, detail, sizeof detail), -1);
    /* the rotted row gone */
    tu_sh("printf '%sx,A,1,5\\n' > %s/bars.csv", hdr, a);
    ck_assert_int_eq(hn__judge_rot(g, a, "x,A,2,", 0, detail, sizeof detail), -1);
    /* late.csv differs */
    tu_sh("printf '%sx,A,1,5\\nx,A,2,6\\n' > %s/bars.csv; printf 'p\\n2\\n' > %s/late.csv",
          hdr, a, a);
    ck_assert_int_eq(hn__judge_rot(g, a, "x,A,2,", 1, detail, sizeof detail), -1);
}
END_TEST

/* --depth N: a mutant's row stops at its N-th catch; the rest is not run
 * ('.', no database row), and the kill depth is what was run. */
START_TEST(depth_stops_a_row)
{
    ck_assert_int_eq(mutants("--depth 1 --only float-vwap a.ini b.ini"), 1);
    /* which of the two ran is the schedule's choice (cli.md): one did, one not */
    ck_assert_int_eq(tu_sh("grep -Eq '^float-vwap +(0 +\\.|\\. +0)  1  SHALLOW$' %s/mout", dir),
                     0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM mutants WHERE mutant = 'float-vwap'"), 1);
    ck_assert_int_eq(mutants("--depth 2 --only float-vwap a.ini b.ini"), 0);
}
END_TEST

/* --cells N: cells side by side find what cells one at a time find, cell for
 * cell; with --depth a row still stops at exactly its N-th catch while rows
 * run beside each other. */
START_TEST(cells_side_by_side)
{
    static const char *only = "--only float-vwap,bar-seq-not-restored a.ini b.ini";
    char args[256];
    snprintf(args, sizeof args, "--cells 1 %s", only);
    ck_assert_int_eq(mutants(args), 0);
    snprintf(args, sizeof args, "--cells 4 %s", only);
    ck_assert_int_eq(mutants(args), 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM mutants WHERE run_id = 2 AND outcome = "
                           "'caught'"), 4);
    ck_assert_int_eq(q_int("SELECT count(*) FROM (SELECT mutant, scenario, outcome, verdict FROM "
                           "mutants WHERE run_id = 1 EXCEPT SELECT mutant, scenario, outcome, "
                           "verdict FROM mutants WHERE run_id = 2)"), 0);
    ck_assert_int_eq(mutants("--cells 2 --depth 1 --only float-vwap,poison-retry a.ini b.ini"), 1);
    ck_assert_int_eq(q_int("SELECT count(*) FROM mutants WHERE run_id = 3 AND outcome = "
                           "'caught'"), 2);
    ck_assert_int_eq(q_int("SELECT count(DISTINCT mutant) FROM mutants WHERE run_id = 3 AND "
                           "outcome = 'caught'"), 2);
    ck_assert_int_eq(tu_sh("test $(grep -c '  1  SHALLOW$' %s/mout) = 2", dir), 0);
    ck_assert_int_eq(mutants("--cells 0 a.ini"), 2);
    ck_assert_int_eq(tu_sh("test -z \"$(ls -A %s/work)\"", dir), 0);
}
END_TEST

Suite *mutants_suite(void)
{
    Suite *s = suite_create("mutants");
    TCase *tc = tcase_create("mutants");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, caught_twice_passes);
    tcase_add_test(tc, mutants_shrink_catches);
    tcase_add_test(tc, survivor_fails);
    tcase_add_test(tc, depth_one_fails);
    tcase_add_test(tc, failing_baseline_stops);
    tcase_add_test(tc, shrink_batch_disagreement);
    tcase_add_test(tc, shrink_trial);
    tcase_add_test(tc, fsyncgate_power_cut);
    tcase_add_test(tc, in_place_checkpoint_power_cut);
    tcase_add_test(tc, discard_cut_short);
    tcase_add_test(tc, depth_stops_a_row);
    tcase_add_test(tc, cells_side_by_side);
    suite_add_tcase(s, tc);
    tc = tcase_create("value-rot");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, value_rot_silent_overwrite);
    tcase_add_test(tc, judge_rot_crafted);
    suite_add_tcase(s, tc);
    return s;
}
