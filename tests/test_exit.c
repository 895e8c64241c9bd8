/*
 * test_exit.c - the exit status table of docs/cli.md, one row per command
 * and status: 0 success, 1 divergence, 2 bad usage or input, 3 internal
 * failure, 4 I/O failure, for every command of refpipe and replayproof that
 * can produce the status.  A read-only file system is an I/O failure (4);
 * a directory without permission (EACCES) is an input error (2), not in
 * the table because root, which may run these tests, is never refused.
 *
 * Layout: a fixture (a small CSV, its log, a finished state dir, scenario
 * files); the table of shell commands with the status each must give; one
 * test per row.  I/O failures come from a full tmpfs mounted in a private
 * mount namespace (unshare -m), read-only paths from a read-only bind mount
 * in one, internal failures from a descriptor limit (ulimit -n) that no
 * input error explains.  Rows that need a mount namespace are skipped, with
 * a note, where unshare is not permitted.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tutil.h"

static char *top; /* the fixture, built once: top/base */
static char dir[2048]; /* this row's copy of it */

/* A scenario small enough to run in a second: 600 ticks, two trials. */
#define SMALL "[scenario]\nname = small\n[workload]\nseed = 3\npartitions = 2\nsymbols = 3\n" \
              "ticks = 600\nduration = 6s\n[pipeline]\nagg = 1s=tumbling:1s\n"             \
              "checkpoint-every = 100\n"
#define SMALL_FAULTS "[faults]\npoints = sink/commit/after\nhits = 1,2\nbudget = 2\n"

static void setup(void)
{
    char p[4096];
    top = tu_tmpdir();
    snprintf(dir, sizeof dir, "%s/base", top);
    ck_assert_int_eq(tu_sh("mkdir %s", dir), 0);
    snprintf(p, sizeof p, "%s/t.csv", dir);
    tu_write(p, "partition,ingest_ns,event_ns,symbol,price,qty\n"
                "0,1000,900,AAPL,189.25,100\n"
                "1,1500,1400,MSFT,411.5,20\n"
                "0,2000,garbage\n"
                "1,3000000000,2999999999,MSFT,411.75,5\n");
    snprintf(p, sizeof p, "%s/bom.csv", dir);
    tu_write(p, "\xEF\xBB\xBF" "0,1,1,A,1,1\n");
    snprintf(p, sizeof p, "%s/ok.ini", dir);
    tu_write(p, SMALL SMALL_FAULTS);
    /* a broken pipeline variant: replays conflict, so trials fail.  Its
     * recoveries run to the end: this variant computes differently only
     * once resumed, and here its first cycles emit no bar, so an early stop
     * would see nothing (the blind spot the soundness guard samples,
     * docs/semantics.md); this test is about exit statuses */
    snprintf(p, sizeof p, "%s/bad.ini", dir);
    tu_write(p, SMALL "env = REFPIPE_UNSAFE=nondeterministic-replay\n" SMALL_FAULTS
                "early-stop = false\n");
    snprintf(p, sizeof p, "%s/typo.ini", dir);
    tu_write(p, SMALL "[faults]\nbudgett = 2\n");
    ck_assert_int_eq(tu_sh("cd %s && ln -s %s refpipe && ln -s %s rp && "
                           "./refpipe import t.csv log 2>/dev/null && "
                           "./refpipe run log st --quiet && "
                           "./refpipe batch log b0 >/dev/null && "
                           "./refpipe import --partitions 2 t.csv big 2>/dev/null && "
                           "./rp gen --ticks 20000 --partitions 2 big.csv 2>/dev/null && "
                           "rm -rf big && ./refpipe import big.csv big 2>/dev/null && "
                           "./refpipe run big bigst --quiet && mkdir full ro",
                           dir, tu_bin("refpipe"), tu_bin("replayproof")), 0);
}

static void teardown(void)
{
    tu_rmrf(top);
    free(top);
}

/* How a row's command is run. */
enum { PLAIN, FULL, RO, FEWFD };

struct row {
    const char *what;
    int how;
    const char *cmd; /* run in the fixture dir; ./refpipe and ./rp are the programs */
    int status;
};

static const struct row rows[] = {
    /* refpipe import */
    {"import ok", PLAIN, "./refpipe import t.csv l", 0},
    {"import BOM", PLAIN, "./refpipe import bom.csv l", 2},
    {"import read-only", RO, "./refpipe import t.csv ro/l", 4},
    {"import fds", FEWFD, "./refpipe import t.csv l", 3},
    {"import full", FULL, "./refpipe import big.csv full/l", 4},
    /* refpipe cat */
    {"cat ok", PLAIN, "./refpipe cat log", 0},
    {"cat missing", PLAIN, "./refpipe cat nolog", 2},
    {"cat full", PLAIN, "./refpipe cat big > /dev/full", 4},
    /* refpipe run */
    {"run ok", PLAIN, "./refpipe run log s", 0},
    {"run limit", PLAIN, "./refpipe run log s --agg s=sliding:1048577:1", 2},
    {"run read-only", RO, "./refpipe run log ro/s", 4},
    {"run fds", FEWFD, "./refpipe run log s", 3},
    {"run full", FULL, "./refpipe run big full/s", 4},
    /* refpipe export */
    {"export ok", PLAIN, "./refpipe export st e", 0},
    {"export conflict", PLAIN,
     "cp -r st c && sqlite3 c/sink.db \"INSERT INTO conflicts(tbl, key, stored, attempted) "
     "VALUES('bars', 'k', 'a', 'b')\" && ./refpipe export c e", 1},
    {"export missing", PLAIN, "./refpipe export nost e", 2},
    {"export read-only", RO, "./refpipe export st ro/e", 4},
    {"export full", FULL, "./refpipe export bigst full/e", 4},
    /* refpipe batch */
    {"batch ok", PLAIN, "./refpipe batch log b", 0},
    {"batch usage", PLAIN, "./refpipe batch log", 2},
    {"batch read-only", RO, "./refpipe batch log ro/b", 4},
    {"batch full", FULL, "./refpipe batch big full/b", 4},
    /* refpipe faults, unsafe */
    {"faults ok", PLAIN, "./refpipe faults", 0},
    {"faults usage", PLAIN, "./refpipe faults extra", 2},
    {"unsafe plain build", PLAIN, "./refpipe unsafe", 2},
    /* replayproof gen */
    {"gen ok", PLAIN, "./rp gen --ticks 10 g.csv", 0},
    {"gen usage", PLAIN, "./rp gen --rate 99999999999999999999999 g.csv", 2},
    {"gen read-only", RO, "./rp gen --ticks 10 ro/g.csv", 4},
    {"gen full", PLAIN, "./rp gen --ticks 100000 - > /dev/full", 4},
    /* replayproof check */
    {"check ok", PLAIN, "./rp check ok.ini", 0},
    {"check typo", PLAIN, "./rp check typo.ini", 2},
    /* replayproof run */
    {"run-rp ok", PLAIN, "./rp run -q -j 1 --results r.db --workdir . ok.ini", 0},
    {"run-rp divergence", PLAIN, "./rp run -q -j 1 --results r.db --workdir . bad.ini", 1},
    {"run-rp typo", PLAIN, "./rp run -q --results r.db --workdir . typo.ini", 2},
    {"run-rp no workdir", PLAIN, "./rp run -q --results r.db --workdir nowhere ok.ini", 2},
    {"run-rp read-only results", RO, "./rp run -q --results ro/r.db --workdir . ok.ini", 4},
    {"run-rp fds", FEWFD, "./rp run -q --results r.db --workdir . ok.ini", 3},
    {"run-rp full results", FULL, "./rp run -q -j 1 --results full/r.db --workdir . ok.ini", 4},
    /* out/runs beside the database: a file in its place, a read-only one */
    {"run-rp runs is a file", PLAIN, "touch runs && ./rp run -q --results r.db --workdir . ok.ini",
     2},
    {"run-rp read-only runs", RO, "ln -s ro runs && ./rp run -q --results r.db --workdir . ok.ini",
     4},
    /* replayproof replay */
    {"replay ok", PLAIN, "./rp replay ok.ini --trial sink/commit/after:1 --workdir .", 0},
    {"replay divergence", PLAIN, "./rp replay bad.ini --trial sink/commit/after:1 --workdir .",
     1},
    {"replay bad trial", PLAIN, "./rp replay ok.ini --trial nonsense", 2},
    {"replay fds", FEWFD, "./rp replay ok.ini --trial sink/commit/after:1 --workdir .", 3},
    /* replayproof help */
    {"help ok", PLAIN, "./rp help run", 0},
    {"help unknown", PLAIN, "./rp help frobnicate", 2},
};

START_TEST(exit_status)
{
    const struct row *r = &rows[_i];
    int st;

    /* each row in its own copy: one row's outputs never decide another's */
    snprintf(dir, sizeof dir, "%s/row%d", top, _i);
    ck_assert_int_eq(tu_sh("cp -a %s/base %s", top, dir), 0);

    if ((r->how == FULL || r->how == RO) && tu_sh("unshare -m true 2>/dev/null") != 0) {
        fprintf(stderr, "exit_status: '%s' skipped: no mount namespace here\n", r->what);
        return;
    }
    switch (r->how) {
    case FULL:
        /* a tmpfs filled to the last block: the next write fails ENOSPC */
        st = tu_sh("cd %s && unshare -m sh -c 'mount -t tmpfs -o size=256k tmpfs full && "
                   "{ dd if=/dev/zero of=full/fill bs=4k 2>/dev/null; true; } && %s' "
                   ">/dev/null 2>err", dir, r->cmd);
        break;
    case RO:
        st = tu_sh("cd %s && unshare -m sh -c 'mount --bind ro ro && "
                   "mount -o remount,bind,ro ro && %s' >/dev/null 2>err", dir, r->cmd);
        break;
    case FEWFD:
        /* 0-2 and one more (inherited descriptors closed first): the
         * libraries load, and the first files a command keeps open are
         * refused EMFILE */
        st = tu_sh("cd %s && (exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-; ulimit -n 4 && %s) "
                   ">/dev/null 2>err", dir, r->cmd);
        break;
    default:
        st = tu_sh("cd %s && (%s) >/dev/null 2>err", dir, r->cmd);
        break;
    }
    if (st != r->status) {
        char p[4096];
        char *err;
        snprintf(p, sizeof p, "%s/err", dir);
        err = tu_slurp(p, NULL);
        ck_abort_msg("%s: '%s' exited %d, not %d; stderr: %s", r->what, r->cmd, st, r->status,
                     err ? err : "(none)");
    }
    /* an error always says why on stderr (a divergence is the summary's) */
    if (r->status >= 2)
        ck_assert_int_eq(tu_sh("test -s %s/err", dir), 0);
}
END_TEST

Suite *exit_suite(void)
{
    Suite *s = suite_create("exit");
    TCase *tc = tcase_create("table");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, exit_status, 0, (int)(sizeof rows / sizeof rows[0]));
    suite_add_tcase(s, tc);
    return s;
}
