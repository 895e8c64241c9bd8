/*
 * test_cli.c - refpipe's command line on bad input: every user mistake gets
 * exactly one line on stderr naming what and where, exit status 2, and
 * nothing half-written.  Also the happy paths of import/cat and faults.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_ckpt.h"
#include "pl_config.h"
#include "pl_log.h"
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

/* Run refpipe with args (a format already expanded), expect status and a
 * single stderr line containing `needle`. */
static void expect_fail(int status, const char *needle, const char *args)
{
    char errp[4096];
    char *err;
    size_t n;
    int lines = 0;
    snprintf(errp, sizeof errp, "%s/stderr", dir);
    ck_assert_int_eq(tu_sh("cd %s && %s %s > /dev/null 2> %s", dir, tu_bin("refpipe"), args, errp),
                     status);
    err = tu_slurp(errp, &n);
    ck_assert_ptr_nonnull(err);
    for (size_t i = 0; i < n; i++)
        lines += err[i] == '\n';
    ck_assert_msg(lines == 1, "expected one stderr line for '%s', got %d: %s", args, lines, err);
    ck_assert_msg(strstr(err, needle) != NULL, "stderr for '%s' lacks '%s': %s", args, needle, err);
    /* the prefix names the command once ("refpipe export: export: ..." was doubled) */
    {
        char twice[64];
        size_t k = strcspn(args, " ");
        snprintf(twice, sizeof twice, "%.*s: %.*s:", (int)k, args, (int)k, args);
        ck_assert_msg(k == 0 || strstr(err, twice) == NULL, "doubled prefix: %s", err);
    }
    free(err);
}

static void small_log(void)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/t.csv", dir);
    tu_write(p, "partition,ingest_ns,event_ns,symbol,price,qty\n"
                "0,1000,900,AAPL,189.25,100\n"
                "1,1500,1400,MSFT,411.5,20\n"
                "0,2000,garbage\n"
                "1,3000000000,2999999999,MSFT,411.75,5\n");
    ck_assert_int_eq(tu_sh("cd %s && %s import t.csv log 2>/dev/null", dir, tu_bin("refpipe")), 0);
}

START_TEST(usage_errors)
{
    expect_fail(2, "missing command", "");
    expect_fail(2, "unknown command 'frobnicate'", "frobnicate");
    expect_fail(2, "unknown option '--bogus'", "run a b --bogus");
    expect_fail(2, "expected 2 arguments", "run onlyone");
    expect_fail(2, "'--checkpoint-every' does not apply", "batch a b --checkpoint-every 5");
    expect_fail(2, "--checkpoint-every '0'", "run a b --checkpoint-every 0");
    expect_fail(2, "--partitions", "import --partitions x a b");
}
END_TEST

START_TEST(bad_agg_and_duration_name_the_argument)
{
    small_log();
    expect_fail(2, "5m=tumbling:5x", "run log st --agg 5m=tumbling:5x");
    expect_fail(2, "x=wobbly:1s", "run log st --agg x=wobbly:1s");
    expect_fail(2, "--max-delay", "run log st --max-delay 1fortnight");
    expect_fail(2, "--idle-timeout", "batch log out --idle-timeout -5s");
    /* nothing was created for a rejected run */
    ck_assert_int_ne(tu_sh("test -e %s/st", dir), 0);
}
END_TEST

START_TEST(import_envelope_error_names_line_and_leaves_nothing)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/bad.csv", dir);
    tu_write(p, "partition,ingest_ns,event_ns,symbol,price,qty\n"
                "0,1000,900,AAPL,1,1\n"
                "0,999,900,AAPL,1,1\n");
    expect_fail(2, "line 3", "import bad.csv log");
    ck_assert_int_ne(tu_sh("test -e %s/log", dir), 0);
    tu_write(p, "0,1000,900,AAPL,1,1\nx,5,1\n");
    expect_fail(2, "line 2", "import bad.csv log");
    tu_write(p, "0,1000,900,AAPL,1,1\n\n0,1001,900,AAPL,1,1\n");
    expect_fail(2, "line 2", "import bad.csv log");
    tu_write(p, "0,1000,900,AAPL,1,1\n3,1001,900,AAPL,1,1\n");
    expect_fail(2, "line 2", "import --partitions 2 bad.csv log");
    ck_assert_int_ne(tu_sh("test -e %s/log", dir), 0);
    expect_fail(2, "missing.csv", "import missing.csv log");
}
END_TEST

/* SPEC section 1: a BOM, a CR LF first line and an empty file are envelope
 * errors naming line, byte and flag; the flags let the bytes in. */
START_TEST(import_bom_crlf_empty_decided)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/t.csv", dir);
    tu_write(p, "\xEF\xBB\xBFpartition,ingest_ns,event_ns,symbol,price,qty\n0,1,1,A,1,1\n");
    expect_fail(2, "t.csv: line 1: UTF-8 byte-order mark (EF BB BF) at byte 0", "import t.csv log");
    tu_write(p, "partition,ingest_ns,event_ns,symbol,price,qty\r\n0,1,1,A,1,1\r\n");
    expect_fail(2, "(the CR at byte 45)", "import t.csv log");
    expect_fail(2, "--keep-cr", "import t.csv log");
    ck_assert_int_ne(tu_sh("test -e %s/log", dir), 0);
    /* with --keep-cr every record keeps its CR and is poison: in dlq.csv */
    ck_assert_int_eq(tu_sh("cd %s && %s import --keep-cr t.csv log 2>/dev/null && "
                           "%s batch log out >/dev/null && grep -q '^0,0,qty,' out/dlq.csv",
                           dir, tu_bin("refpipe"), tu_bin("refpipe")), 0);
    tu_write(p, "");
    expect_fail(2, "--allow-empty", "import t.csv log2");
    ck_assert_int_ne(tu_sh("test -e %s/log2", dir), 0);
    ck_assert_int_eq(tu_sh("cd %s && %s import --allow-empty t.csv log2 2>/dev/null", dir,
                           tu_bin("refpipe")), 0);
    expect_fail(2, "'--keep-cr' does not apply", "batch log out3 --keep-cr");
}
END_TEST

/* Limits are checked when options are parsed, alike by run and batch: exit
 * 2 and nothing created (run used to exit 3 leaving STATEDIR/LOCK). */
START_TEST(limits_refused_at_parse_by_run_and_batch)
{
    char many[2048];
    size_t w = 0;
    small_log();
    expect_fail(2, "1048577 windows", "run log st --agg s=sliding:1048577:1");
    ck_assert_int_ne(tu_sh("test -e %s/st", dir), 0);
    expect_fail(2, "1048577 windows", "batch log out --agg s=sliding:1048577:1");
    ck_assert_int_ne(tu_sh("test -e %s/out", dir), 0);
    for (int cmd = 0; cmd < 2; cmd++) {
        w = (size_t)snprintf(many, sizeof many, "%s", cmd ? "batch log out" : "run log st");
        for (int i = 0; i <= PL_MAX_AGGS; i++)
            w += (size_t)snprintf(many + w, sizeof many - w, " --agg a%d=ticks:5", i);
        expect_fail(2, "too many aggregations (at most 16)", many);
    }
    ck_assert_int_ne(tu_sh("test -e %s/st || test -e %s/out", dir, dir), 0);
}
END_TEST

/* A sink.db whose bars break what every bar satisfies is refused on export
 * (exit 2 naming the row and the relation), not exported with exit 0. */
START_TEST(export_refuses_an_impossible_bar)
{
    small_log();
    ck_assert_int_eq(tu_sh("cd %s && %s run log st --quiet && %s export st ok > /dev/null", dir,
                           tu_bin("refpipe"), tu_bin("refpipe")), 0);
    ck_assert_int_eq(tu_sh("cd %s && cp -r st st2 && sqlite3 st/sink.db \"UPDATE bar_rows SET "
                           "start_ns = end_ns + 5 WHERE sym_id = (SELECT id FROM symbols WHERE "
                           "name = 'AAPL')\"", dir), 0);
    expect_fail(2, "breaks start_ns < end_ns", "export st out");
    ck_assert_int_eq(tu_sh("cd %s && sqlite3 st2/sink.db \"UPDATE bar_rows SET open = high + 1 "
                           "WHERE sym_id = (SELECT id FROM symbols WHERE name = 'MSFT')\"", dir), 0);
    expect_fail(2, "symbol 'MSFT'", "export st2 out2");
    expect_fail(2, "breaks low <= open <= high", "export st2 out2");
}
END_TEST

START_TEST(missing_paths_are_named)
{
    expect_fail(2, "nolog", "run nolog st");
    expect_fail(2, "nolog", "batch nolog out");
    expect_fail(2, "nolog", "cat nolog");
    expect_fail(2, "nostate", "export nostate out");
    ck_assert_int_ne(tu_sh("test -e %s/nostate", dir), 0);
}
END_TEST

START_TEST(corrupt_log_names_partition_and_offset)
{
    small_log();
    /* flip one byte in the middle of partition 0's file (past any header) */
    ck_assert_int_eq(tu_sh("cd %s/log && f=$(ls | grep -v -i manifest | head -n 1) && "
                           "sz=$(stat -c %%s $f) && "
                           "printf '\\377' | dd of=$f bs=1 seek=$((sz - 3)) conv=notrunc 2>/dev/null",
                           dir), 0);
    expect_fail(2, "partition", "run log st --quiet");
}
END_TEST

START_TEST(locked_state_dir_is_refused)
{
    small_log();
    /* as a running refpipe leaves it: its pid in the file it holds locked */
    ck_assert_int_eq(tu_sh("cd %s && mkdir st && echo 12345 > st/LOCK", dir), 0);
    ck_assert_int_eq(tu_sh("cd %s && flock st/LOCK %s run log st --quiet 2> lock.err",
                           dir, tu_bin("refpipe")), 2);
    ck_assert_int_eq(tu_sh("grep -q 'in use' %s/lock.err", dir), 0);
    /* the holder's pid, in parentheses that close */
    ck_assert_int_eq(tu_sh("grep -q 'in use by another refpipe (pid 12345)$' %s/lock.err", dir),
                     0);
    /* and without the lock held, the same run succeeds */
    ck_assert_int_eq(tu_sh("cd %s && %s run log st --quiet", dir, tu_bin("refpipe")), 0);
}
END_TEST

START_TEST(other_configuration_refused_unless_discarded)
{
    small_log();
    ck_assert_int_eq(tu_sh("cd %s && %s run log st --quiet --agg a=ticks:2", dir,
                           tu_bin("refpipe")), 0);
    expect_fail(2, "configuration", "run log st --quiet --agg a=ticks:3");
    ck_assert_int_eq(tu_sh("cd %s && %s run log st --quiet --agg a=ticks:3 --discard-state",
                           dir, tu_bin("refpipe")), 0);
    ck_assert_int_eq(tu_sh("cd %s && %s export st out > /dev/null", dir, tu_bin("refpipe")), 0);
    ck_assert_int_eq(tu_sh("cd %s && %s batch log bout --agg a=ticks:3 > /dev/null", dir,
                           tu_bin("refpipe")), 0);
    ck_assert_int_eq(tu_sh("cmp -s %s/out/bars.csv %s/bout/bars.csv", dir, dir), 0);
}
END_TEST

/* A state dir written by a build with another state encoding carries a
 * fingerprint without this build's format versions: refused (exit 2, not a
 * decoding failure), and --discard-state starts over. */
START_TEST(older_state_format_refused_unless_discarded)
{
    char path[4096];
    pl_config cfg;
    pl_log *log = NULL;
    pl_errbuf eb = { { 0 } };
    pl_ckpt_meta m = { 1, 0, 0, 0 };
    static const unsigned char old_body[] = { 'o', 'l', 'd', 1, 0, 0, 0 };

    small_log();
    snprintf(path, sizeof path, "%s/log", dir);
    ck_assert_int_eq(pl_log_open(path, &log, &eb), 0);
    pl_config_init(&cfg);
    pl_config_finish(&cfg);
    m.config_fp = pl_config_fingerprint(&cfg); /* the configuration alone */
    m.log_id = pl_log_identity(log);
    pl_log_close(log);
    ck_assert_int_eq(tu_sh("mkdir %s/st", dir), 0);
    snprintf(path, sizeof path, "%s/st", dir);
    ck_assert_int_eq(pl_ckpt_write(path, &m, old_body, sizeof old_body, &eb), 0);

    expect_fail(2, "state format", "run log st --quiet");
    ck_assert_int_eq(tu_sh("cd %s && %s run log st --quiet --discard-state", dir,
                           tu_bin("refpipe")), 0);
    ck_assert_int_eq(tu_sh("cd %s && %s export st out > /dev/null && %s batch log bout > /dev/null"
                           " && cmp -s out/bars.csv bout/bars.csv", dir, tu_bin("refpipe"),
                           tu_bin("refpipe")), 0);
}
END_TEST

/* Canonical order breaks ingest_ns ties by partition, and the reorder buffer
 * breaks event-time ties by that position: here that alone decides which
 * price opens and which closes the bar (the file lists partition 1 first). */
START_TEST(ingest_ties_follow_partition_order)
{
    char p[4096];
    char *bars;
    snprintf(p, sizeof p, "%s/ties.csv", dir);
    tu_write(p, "1,1000,500,A,2,1\n"
                "0,1000,500,A,1,1\n");
    ck_assert_int_eq(tu_sh("cd %s && %s import ties.csv tlog 2>/dev/null && "
                           "%s run tlog tst --quiet && %s export tst tout > /dev/null",
                           dir, tu_bin("refpipe"), tu_bin("refpipe"), tu_bin("refpipe")), 0);
    snprintf(p, sizeof p, "%s/tout/bars.csv", dir);
    bars = tu_slurp(p, NULL);
    ck_assert_ptr_nonnull(bars);
    /* window [0, 60 s): open 1 (partition 0 first), close 2, vwap (1+2)/2 */
    ck_assert_str_eq(bars, "agg,symbol,seq,start_ns,end_ns,open,high,low,close,volume,trades,vwap\n"
                           "1m,A,0,0,60000000000,1.00000000,2.00000000,1.00000000,2.00000000,"
                           "2,2,1.50000000\n");
    free(bars);
}
END_TEST

START_TEST(import_cat_round_trip)
{
    small_log();
    ck_assert_int_eq(tu_sh("cd %s && %s cat log > c1.csv && %s import c1.csv log2 2>/dev/null && "
                           "%s cat log2 > c2.csv && cmp -s c1.csv c2.csv && cmp -s c1.csv t.csv",
                           dir, tu_bin("refpipe"), tu_bin("refpipe"), tu_bin("refpipe")), 0);
}
END_TEST

START_TEST(faults_lists_every_point)
{
    static const char *points[] = { "log/block/enter", "stream/event/after",
                                     "sink/commit/before", "sink/commit/after",
                                     "ckpt/write/after", "ckpt/fsync/after",
                                     "ckpt/rename/after", "ckpt/done/after",
                                     "digest/write/after", "digest/fsync/after",
                                     "digest/rename/after" };
    ck_assert_int_eq(tu_sh("%s faults > %s/f.txt", tu_bin("refpipe"), dir), 0);
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++)
        ck_assert_int_eq(tu_sh("grep -q '^%s ' %s/f.txt", points[i], dir), 0);
}
END_TEST

Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, usage_errors);
    tcase_add_test(tc, bad_agg_and_duration_name_the_argument);
    tcase_add_test(tc, import_envelope_error_names_line_and_leaves_nothing);
    tcase_add_test(tc, import_bom_crlf_empty_decided);
    tcase_add_test(tc, limits_refused_at_parse_by_run_and_batch);
    tcase_add_test(tc, export_refuses_an_impossible_bar);
    tcase_add_test(tc, missing_paths_are_named);
    tcase_add_test(tc, corrupt_log_names_partition_and_offset);
    tcase_add_test(tc, locked_state_dir_is_refused);
    tcase_add_test(tc, other_configuration_refused_unless_discarded);
    tcase_add_test(tc, older_state_format_refused_unless_discarded);
    tcase_add_test(tc, ingest_ties_follow_partition_order);
    tcase_add_test(tc, import_cat_round_trip);
    tcase_add_test(tc, faults_lists_every_point);
    suite_add_tcase(s, tc);
    return s;
}
