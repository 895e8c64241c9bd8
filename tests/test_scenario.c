/*
 * test_scenario.c - scenario files: a full file into the expected values,
 * one table of broken files with the file:line, section, key and problem
 * each message must name, then the pieces with their own rules (repeated
 * keys, path resolution, fractions, hit lists, continuation lines, refpipe
 * argv words, fail point patterns against a listing and against a real
 * binary) and finally every .ini file in scenarios/ of the repository.
 *
 * Files are written to a fresh temporary directory per test; the repository
 * scenarios are found relative to the working directory (the repository
 * root under `make test`).
 */
#include <check.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Write text to DIR/file and load it; path receives the file's path. */
static int load_text(const char *file, const char *text, hn_scenario *sc, pl_errbuf *eb,
                     char *path, size_t n)
{
    snprintf(path, n, "%s/%s", dir, file);
    tu_write(path, text);
    memset(eb, 0, sizeof *eb);
    return hn_scenario_load(path, sc, eb);
}

static const char full[] =
    "; a complete scenario\n"                              /* 1 */
    "[scenario]\n"                                         /* 2 */
    "name = full-1\n"                                      /* 3 */
    "description = Every key given ; with a comment\n"     /* 4 */
    "\n"                                                   /* 5 */
    "[workload]\n"                                         /* 6 */
    "seed = 9\n"                                           /* 7 */
    "partitions = 3\n"                                     /* 8 */
    "symbols = 5\n"                                        /* 9 */
    "duration = 20s\n"                                     /* 10 */
    "rate = 500\n"                                         /* 11 */
    "disorder = 100ms\n"                                   /* 12 */
    "poison_frac = 0.5%\n"                                 /* 13 */
    "stall-len = 2s\n"                                     /* 14 */
    "stalls = 2\n"                                         /* 15 */
    "\n"                                                   /* 16 */
    "[pipeline]\n"                                         /* 17 */
    "binary = refpipe\n"                                   /* 18 */
    "agg = 1m=tumbling:1m\n"                               /* 19 */
    "agg = s=sliding:30s:10s\n"                            /* 20 */
    "agg = v=volume:5000\n"                                /* 21 */
    "max-delay = 250ms\n"                                  /* 22 */
    "idle-timeout = 3s\n"                                  /* 23 */
    "checkpoint-every = 77\n"                              /* 24 */
    "env = TZ=UTC\n"                                       /* 25 */
    "env = MALLOC_CHECK_=3\n"                              /* 26 */
    "\n"                                                   /* 27 */
    "[faults]\n"                                           /* 28 */
    "points = ckpt/*, sink/commit/* log/block/enter\n"     /* 29 */
    "hits = 100, 5 ,1,2\n"                                 /* 30 */
    "crashes = 2\n"                                        /* 31 */
    "budget = 300\n"                                       /* 32 */
    "seed = 18446744073709551615\n"                        /* 33 */
    "timeout = 90s\n"                                      /* 34 */
    "max-restarts = 7\n"                                   /* 35 */
    "\n"                                                   /* 36 */
    "[expect]\n"                                           /* 37 */
    "converge = yes\n"                                     /* 38 */
    "agree-with-batch = false\n"                           /* 39 */
    "max-late-fraction = 0.0125\n"                         /* 40 */
    "max-dlq-fraction = 2%\n";                             /* 41 */

START_TEST(full_file)
{
    hn_scenario *sc = malloc(sizeof *sc);
    pl_errbuf eb;
    char path[PATH_MAX];
    int rc = load_text("full.ini", full, sc, &eb, path, sizeof path);

    ck_assert_msg(rc == 0, "rc %d: %s", rc, eb.msg);
    ck_assert_str_eq(sc->path, path);
    ck_assert_str_eq(sc->name, "full-1");
    ck_assert_str_eq(sc->description, "Every key given");
    ck_assert_int_eq(sc->use_csv, 0);
    ck_assert_uint_eq(sc->gen.seed, 9);
    ck_assert_int_eq(sc->gen.partitions, 3);
    ck_assert_int_eq(sc->gen.symbols, 5);
    ck_assert_int_eq(sc->gen.duration, 20000000000LL);
    ck_assert_int_eq(sc->gen.rate, 500);
    ck_assert_int_eq(sc->gen.disorder, 100000000LL);
    ck_assert_int_eq(sc->gen.poison_ppm, 5000);
    ck_assert_int_eq(sc->gen.stall_len, 2000000000LL);
    ck_assert_int_eq(sc->gen.stalls, 2);
    ck_assert_str_eq(sc->binary, "refpipe");
    ck_assert_int_eq(sc->binary_line, 18);
    ck_assert_int_eq(sc->cfg.naggs, 3);
    ck_assert_str_eq(sc->cfg.aggs[0].name, "1m");
    ck_assert_int_eq(sc->cfg.aggs[0].kind, PL_AGG_TUMBLING);
    ck_assert_int_eq(sc->cfg.aggs[0].size, 60000000000LL);
    ck_assert_str_eq(sc->cfg.aggs[1].name, "s");
    ck_assert_int_eq(sc->cfg.aggs[1].kind, PL_AGG_SLIDING);
    ck_assert_int_eq(sc->cfg.aggs[1].slide, 10000000000LL);
    ck_assert_int_eq(sc->cfg.aggs[2].kind, PL_AGG_VOLUME);
    ck_assert_int_eq(sc->cfg.aggs[2].threshold, 5000);
    ck_assert_int_eq(sc->cfg.max_delay, 250000000LL);
    ck_assert_int_eq(sc->cfg.idle_timeout, 3000000000LL);
    ck_assert_uint_eq(sc->checkpoint_every, 77);
    ck_assert_int_eq(sc->nenv, 2);
    ck_assert_str_eq(sc->env[0], "TZ=UTC");
    ck_assert_str_eq(sc->env[1], "MALLOC_CHECK_=3");
    ck_assert_int_eq(sc->npatterns, 3);
    ck_assert_str_eq(sc->patterns[0], "ckpt/*");
    ck_assert_str_eq(sc->patterns[1], "sink/commit/*");
    ck_assert_str_eq(sc->patterns[2], "log/block/enter");
    ck_assert_int_eq(sc->points_line, 29);
    ck_assert_int_eq(sc->hits_mode, HN_HITS_LIST);
    ck_assert_int_eq(sc->nhits, 4);
    ck_assert_uint_eq(sc->hits[0], 1); /* kept ascending */
    ck_assert_uint_eq(sc->hits[1], 2);
    ck_assert_uint_eq(sc->hits[2], 5);
    ck_assert_uint_eq(sc->hits[3], 100);
    ck_assert_int_eq(sc->crashes, 2);
    ck_assert_int_eq(sc->budget, 300);
    ck_assert_uint_eq(sc->seed, UINT64_MAX);
    ck_assert_int_eq(sc->timeout_ns, 90000000000LL);
    ck_assert_int_eq(sc->max_restarts, 7);
    ck_assert_int_eq(sc->expect_converge, 1);
    ck_assert_int_eq(sc->expect_agree, 0);
    ck_assert_int_eq(sc->max_late_ppm, 12500);
    ck_assert_int_eq(sc->max_dlq_ppm, 20000);
    ck_assert_int_eq(sc->last_line, 41);
    free(sc);
}
END_TEST

START_TEST(defaults)
{
    hn_scenario *sc = malloc(sizeof *sc);
    pl_errbuf eb;
    char path[PATH_MAX];
    int rc = load_text("my.scenario-2.ini", "[scenario]\n[workload]\n[pipeline]\n[faults]\n", sc,
                       &eb, path, sizeof path);
    ck_assert_msg(rc == 0, "rc %d: %s", rc, eb.msg);
    ck_assert_str_eq(sc->name, "my.scenario-2"); /* the file stem */
    ck_assert_str_eq(sc->description, "");
    ck_assert_int_eq(sc->use_csv, 0);
    ck_assert_int_eq(sc->gen.partitions, 4); /* hn_gen_defaults */
    ck_assert_str_eq(sc->binary, "refpipe-fiu");
    ck_assert_int_eq(sc->binary_line, 3);    /* the [pipeline] header */
    ck_assert_int_eq(sc->cfg.naggs, 1);
    ck_assert_str_eq(sc->cfg.aggs[0].name, "1m");
    ck_assert_int_eq(sc->cfg.max_delay, PL_DEFAULT_MAX_DELAY);
    ck_assert_int_eq(sc->cfg.idle_timeout, PL_DEFAULT_IDLE_TIMEOUT);
    ck_assert_uint_eq(sc->checkpoint_every, 1000);
    ck_assert_int_eq(sc->nenv, 0);
    ck_assert_int_eq(sc->npatterns, 1);
    ck_assert_str_eq(sc->patterns[0], "*");
    ck_assert_int_eq(sc->points_line, 4);
    ck_assert_int_eq(sc->hits_mode, HN_HITS_ALL);
    ck_assert_int_eq(sc->crashes, 1);
    ck_assert_int_eq(sc->budget, 2000);
    ck_assert_uint_eq(sc->seed, 1);
    ck_assert_int_eq(sc->timeout_ns, 60000000000LL);
    ck_assert_int_eq(sc->max_restarts, 20);
    ck_assert_int_eq(sc->expect_converge, 1);
    ck_assert_int_eq(sc->expect_agree, 1);
    ck_assert_int_eq(sc->max_late_ppm, -1);
    ck_assert_int_eq(sc->max_dlq_ppm, -1);
    ck_assert_int_eq(sc->last_line, 4);
    free(sc);
}
END_TEST

/* ------------------------------------------------------------ error table */

#define HEAD "[scenario]\nname = e\n"           /* lines 1-2 */
#define WORK "[workload]\nticks = 100\n"        /* 2 lines */
#define PIPE "[pipeline]\n"                     /* 1 line */
#define FAUL "[faults]\n"                       /* 1 line */
#define VALID HEAD WORK PIPE FAUL               /* lines 1-6 */

struct bad {
    const char *what;
    const char *text;
    int line;
    const char *where;   /* "[section] key:" the message names, or NULL */
    const char *problem; /* a fragment of the problem */
};

static const struct bad bads[] = {
    {"unknown section", VALID "[expects]\nconverge = true\n", 7, NULL,
     "[expects]: unknown section"},
    {"unknown empty section", VALID "[output]\n", 7, NULL, "unknown section"},
    {"unknown key", VALID "budgett = 5\n", 7, "[faults] budgett:",
     "unknown key (expected points, hits, crashes, budget, seed, timeout, max-restarts, "},
    {"unknown workload key", HEAD "[workload]\nticks = 100\nrates = 5\n" PIPE FAUL, 5,
     "[workload] rates:", "unknown key (expected csv, or a generator option: seed,"},
    {"duplicated key", VALID "budget = 5\nhits = all\nbudget = 6\n", 9, "[faults] budget:",
     "duplicated key (first at line 7)"},
    {"duplicated key, '_' spelling", VALID "max-restarts = 5\nmax_restarts = 6\n", 8,
     "[faults] max_restarts:", "duplicated key (first at line 7)"},
    {"duplicated generator key", HEAD "[workload]\nstall-len = 1s\nticks = 1\nstall_len = 2s\n"
     PIPE FAUL, 6, "[workload] stall_len:", "duplicated key (first at line 4)"},
    {"duplicated section", VALID "[pipeline]\n", 7, "[pipeline]:",
     "section given twice (first at line 5)"},
    {"bad duration", HEAD WORK PIPE "max-delay = 5x\n" FAUL, 6, "[pipeline] max-delay:",
     "'5x': unknown duration unit 'x'"},
    {"negative duration", HEAD WORK PIPE "idle-timeout = -1s\n" FAUL, 6,
     "[pipeline] idle-timeout:", "'-1s'"},
    {"bad agg kind", HEAD WORK PIPE "agg = 1m=tumbling:1m\nagg = x=hopping:1m\n" FAUL, 7,
     "[pipeline] agg:", "unknown aggregation kind 'hopping'"},
    {"bad agg, no name", HEAD WORK PIPE "agg = tumbling:1m\n" FAUL, 6, "[pipeline] agg:",
     "missing '='"},
    {"duplicate agg name", HEAD WORK PIPE "agg = a=ticks:5\nagg = a=ticks:6\n" FAUL, 7,
     "[pipeline] agg:", "duplicate aggregation name 'a'"},
    {"checkpoint-every 0", HEAD WORK PIPE "checkpoint-every = 0\n" FAUL, 6,
     "[pipeline] checkpoint-every:", "not a positive integer"},
    {"bad env", HEAD WORK PIPE "env = NOEQUALS\n" FAUL, 6, "[pipeline] env:",
     "is not KEY=VALUE"},
    {"reserved env", HEAD WORK PIPE "env = RP_FIU_CRASH=x:1\n" FAUL, 6, "[pipeline] env:",
     "set by the harness"},
    {"env twice", HEAD WORK PIPE "env = A=1\nenv = A=2\n" FAUL, 7, "[pipeline] env:",
     "A is given twice"},
    {"bad io call", VALID "io-errors = fsync:EIO, close:EIO\n", 7, "[faults] io-errors:",
     "'close': not a call"},
    {"bad io errno", VALID "io-errors = fsync:EWHAT\n", 7, "[faults] io-errors:",
     "'EWHAT' is not an errno"},
    {"io entry twice", VALID "io-errors = fsync:5, fsync:EIO\n", 7, "[faults] io-errors:",
     "listed twice"},
    {"bad corruption", VALID "corrupt = truncate, shred\n", 7, "[faults] corrupt:",
     "'shred' is not a corruption"},
    {"bad io budget", VALID "io-budget = -1\n", 7, "[faults] io-budget:",
     "not an integer in 0.."},
    {"bad hits word", VALID "hits = some\n", 7, "[faults] hits:", "'some' is not a hit number"},
    {"hits zero", VALID "hits = 0,1\n", 7, "[faults] hits:", "'0' is not a hit number"},
    {"hits empty entry", VALID "hits = 1,,2\n", 7, "[faults] hits:", "empty entry"},
    {"hits trailing comma", VALID "hits = 1,2,\n", 7, "[faults] hits:", "trailing comma"},
    {"hits twice", VALID "hits = 3, 1, 3\n", 7, "[faults] hits:", "hit 3 is listed twice"},
    {"sample without count", VALID "hits = sample\n", 7, "[faults] hits:",
     "sample needs a count"},
    {"sample zero", VALID "hits = sample 0\n", 7, "[faults] hits:", "sample needs a count"},
    {"hits empty", VALID "hits =\n", 7, "[faults] hits:", "empty list"},
    {"crashes 0", VALID "crashes = 0\n", 7, "[faults] crashes:",
     "'0' is not an integer in 1..16"},
    {"crashes beyond restarts", VALID "crashes = 3\nmax-restarts = 2\n", 7, "[faults] crashes:",
     "need max-restarts >= 3 (it is 2)"},
    {"budget 0", VALID "budget = 0\n", 7, "[faults] budget:", "not an integer in 1.."},
    {"timeout 0", VALID "timeout = 0s\n", 7, "[faults] timeout:", "less than 1 ms"},
    {"timeout without unit", VALID "timeout = 30\n", 7, "[faults] timeout:",
     "'30' has no unit (a scenario requires one: 30ms, 30s"},
    {"max-delay without unit", HEAD WORK PIPE "max-delay = 500\n" FAUL, 6,
     "[pipeline] max-delay:", "'500' has no unit"},
    {"idle-timeout without unit", HEAD WORK PIPE "idle-timeout = 0007\n" FAUL, 6,
     "[pipeline] idle-timeout:", "has no unit"},
    {"window size without unit", HEAD WORK PIPE "agg = 1m=tumbling:60000000000\n" FAUL, 6,
     "[pipeline] agg:", "'60000000000' has no unit"},
    {"slide without unit", HEAD WORK PIPE "agg = s=sliding:30s:10\n" FAUL, 6,
     "[pipeline] agg:", "'10' has no unit"},
    {"generator span without unit", HEAD "[workload]\nticks = 100\ndisorder = 500\n" PIPE FAUL,
     5, "[workload] disorder:", "'500' has no unit"},
    {"generator duration without unit", HEAD "[workload]\nrate = 5\nduration = 20\n" PIPE FAUL,
     5, "[workload] duration:", "has no unit"},
    {"empty file", "", 1, NULL, "empty file"},
    {"rate too large", HEAD "[workload]\nrate = 99999999999999999999999\n" PIPE FAUL, 4,
     "[workload] rate:", "out of range"},
    {"bad timeout", VALID "timeout = soon\n", 7, "[faults] timeout:", "'soon'"},
    {"seed negative", VALID "seed = -1\n", 7, "[faults] seed:", "not an integer"},
    {"bad bool", VALID "[expect]\nconverge = maybe\n", 8, "[expect] converge:",
     "'maybe' is not a boolean"},
    {"bad fraction", VALID "[expect]\nmax-late-fraction = 0.01x\n", 8,
     "[expect] max-late-fraction:", "is not a fraction"},
    {"fraction above 1", VALID "[expect]\nmax-dlq-fraction = 150%\n", 8,
     "[expect] max-dlq-fraction:", "more than 1 (100%)"},
    {"fraction below ppm", VALID "[expect]\nmax-dlq-fraction = 0.0000005\n", 8,
     "[expect] max-dlq-fraction:", "finer than one part per million"},
    {"csv with generator keys", HEAD "[workload]\nticks = 100\ncsv = t.csv\n" PIPE FAUL, 5,
     "[workload] csv:", "given together with generator option 'ticks' (line 4)"},
    {"generator keys after csv", HEAD "[workload]\ncsv = full.ini\nrate = 5\n" PIPE FAUL, 5,
     "[workload] rate:", "given together with csv (line 4)"},
    {"missing csv file", HEAD "[workload]\ncsv = nosuch.csv\n" PIPE FAUL, 4,
     "[workload] csv:", "nosuch.csv': No such file or directory"},
    {"csv is a directory", HEAD "[workload]\ncsv = .\n" PIPE FAUL, 4, "[workload] csv:",
     "Is a directory"},
    {"bad generator value", HEAD "[workload]\npartitions = lots\n" PIPE FAUL, 4,
     "[workload] partitions:", "'lots' is not a non-negative integer"},
    {"bad generator combination", HEAD "[workload]\nticks = 5\nrate = 5\nduration = 1s\n" PIPE
     FAUL, 6, "[workload]:", "duration, rate, ticks: give at most two"},
    {"missing section", HEAD WORK PIPE "\n; no faults\n", 7, NULL, "missing [faults]"},
    {"missing first section", WORK PIPE FAUL, 4, NULL, "missing [scenario]"},
    {"bad glob character", VALID "points = ckpt/?\n", 7, "[faults] points:",
     "invalid character '?'"},
    {"glob star inside", VALID "points = ckpt/*/after\n", 7, "[faults] points:",
     "'*' may only end a pattern"},
    {"glob empty", VALID "points = ,\n", 7, "[faults] points:", "empty entry"},
    {"glob twice", VALID "points = ckpt/*, ckpt/*\n", 7, "[faults] points:", "listed twice"},
    {"bad name", "[scenario]\nname = two words\n" WORK PIPE FAUL, 2, "[scenario] name:",
     "'two words' is not a name"},
    {"control byte in a key", VALID "bud\001get = 5\n", 7, "[faults] bud?get:", "unknown key"},
    {"key before section", "name = x\n" VALID, 1, NULL, "key 'name' before the first [section]"},
    {"line without =", VALID "budget\n", 7, NULL, "syntax error: expected 'key = value'"},
    {"unclosed section", VALID "[expect\n", 7, NULL, "section header without ']'"},
    {"indented line", HEAD WORK PIPE "agg = a=ticks:5\n  agg = b=ticks:6\n" FAUL, 7, NULL,
     "indented line"},
};

static const char *table_path(char *buf, size_t n)
{
    snprintf(buf, n, "%s/bad.ini", dir);
    return buf;
}

START_TEST(error_paths)
{
    const struct bad *b = &bads[_i];
    hn_scenario *sc = malloc(sizeof *sc);
    pl_errbuf eb;
    char path[PATH_MAX], want[PATH_MAX + 128];
    int rc;

    /* files the table's csv cases point at */
    snprintf(path, sizeof path, "%s/t.csv", dir);
    tu_write(path, "partition,ingest_ns,event_ns,symbol,price,qty\n");
    snprintf(path, sizeof path, "%s/full.ini", dir);
    tu_write(path, "x");
    rc = load_text("bad.ini", b->text, sc, &eb, path, sizeof path);
    ck_assert_msg(rc < 0, "%s: accepted", b->what);
    snprintf(want, sizeof want, "%s:%d: ", table_path(path, sizeof path), b->line);
    ck_assert_msg(strncmp(eb.msg, want, strlen(want)) == 0, "%s: '%s' does not start with '%s'",
                  b->what, eb.msg, want);
    if (b->where) {
        ck_assert_msg(strncmp(eb.msg + strlen(want), b->where, strlen(b->where)) == 0,
                      "%s: '%s' does not name '%s'", b->what, eb.msg, b->where);
    }
    ck_assert_msg(strstr(eb.msg, b->problem) != NULL, "%s: '%s' lacks '%s'", b->what, eb.msg,
                  b->problem);
    ck_assert_msg(strchr(eb.msg, '\n') == NULL, "%s: not one line", b->what);
    free(sc);
}
END_TEST

START_TEST(open_failure)
{
    hn_scenario *sc = malloc(sizeof *sc);
    pl_errbuf eb = {{0}};
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/absent.ini", dir);
    ck_assert_int_eq(hn_scenario_load(path, sc, &eb), -ENOENT);
    ck_assert_ptr_nonnull(strstr(eb.msg, "absent.ini"));
    free(sc);
}
END_TEST

/* Units are required for lengths of time, not for 0 nor for start (a point in time). */
START_TEST(bare_zero_and_start_accepted)
{
    hn_scenario *sc = malloc(sizeof *sc);
    pl_errbuf eb;
    char path[PATH_MAX];
    int rc = load_text("z.ini", HEAD "[workload]\nstart = 1767623400000000000\nticks = 10\n"
                       "disorder = 0\n" PIPE "max-delay = 0\nidle-timeout = 00\n" FAUL,
                       sc, &eb, path, sizeof path);
    ck_assert_msg(rc == 0, "rc %d: %s", rc, eb.msg);
    ck_assert_int_eq(sc->cfg.max_delay, 0);
    ck_assert_int_eq(sc->cfg.idle_timeout, 0);
    ck_assert_int_eq(sc->gen.start, 1767623400000000000LL);
    free(sc);
}
END_TEST

START_TEST(bad_default_name)
{
    hn_scenario *sc = malloc(sizeof *sc);
    pl_errbuf eb;
    char path[PATH_MAX];
    int rc = load_text("two words.ini", "[scenario]\n" WORK PIPE FAUL, sc, &eb, path,
                       sizeof path);
    ck_assert_int_eq(rc, PL_EUSAGE);
    ck_assert_ptr_nonnull(strstr(eb.msg, ":1: [scenario] name: the file name 'two words'"));
    free(sc);
}
END_TEST

START_TEST(long_line)
{
    hn_scenario *sc = malloc(sizeof *sc);
    pl_errbuf eb;
    char path[PATH_MAX], text[1024], want[PATH_MAX + 64];
    int rc;
    snprintf(text, sizeof text, "[scenario]\ndescription = %0300d\n" WORK PIPE FAUL, 7);
    rc = load_text("long.ini", text, sc, &eb, path, sizeof path);
    ck_assert_int_lt(rc, 0);
    snprintf(want, sizeof want, "%s:2: line longer than", path);
    ck_assert_msg(strncmp(eb.msg, want, strlen(want)) == 0, "%s", eb.msg);
    free(sc);
}
END_TEST

/* ------------------------------------------------------- individual rules */

START_TEST(repeated_agg_accumulates)
{
    hn_scenario *sc = malloc(sizeof *sc);
    pl_errbuf eb;
    char path[PATH_MAX];
    char *argv[64];
    int n, rc = load_text("aggs.ini",
                          HEAD WORK PIPE "agg = z=ticks:50\n"
                          "agg = a=dollar:1000000\n"
                          "agg = m=sliding:1m:15s\n"
                          "agg = b=tumbling:5s\n"
                          "agg = q=volume:7\n" FAUL,
                          sc, &eb, path, sizeof path);
    ck_assert_msg(rc == 0, "%s", eb.msg);
    ck_assert_int_eq(sc->cfg.naggs, 5);
    ck_assert_str_eq(sc->cfg.aggs[0].name, "z");
    ck_assert_str_eq(sc->cfg.aggs[1].name, "a");
    ck_assert_str_eq(sc->cfg.aggs[2].name, "m");
    ck_assert_str_eq(sc->cfg.aggs[3].name, "b");
    ck_assert_str_eq(sc->cfg.aggs[4].name, "q");

    n = hn_scenario_pipeline_args(sc, argv, 64);
    ck_assert_int_eq(n, 16);
    ck_assert_str_eq(argv[0], "--agg");
    ck_assert_str_eq(argv[1], "z=ticks:50");
    ck_assert_str_eq(argv[3], "a=dollar:1000000");
    ck_assert_str_eq(argv[5], "m=sliding:60000000000:15000000000");
    ck_assert_str_eq(argv[7], "b=tumbling:5000000000");
    ck_assert_str_eq(argv[9], "q=volume:7");
    ck_assert_str_eq(argv[10], "--max-delay");
    ck_assert_str_eq(argv[11], "1000000000");
    ck_assert_str_eq(argv[12], "--idle-timeout");
    ck_assert_str_eq(argv[13], "10000000000");
    ck_assert_str_eq(argv[14], "--checkpoint-every");
    ck_assert_str_eq(argv[15], "1000");

    n = hn_scenario_batch_args(sc, argv, 64);
    ck_assert_int_eq(n, 14);
    ck_assert_str_eq(argv[13], "10000000000");
    ck_assert_int_eq(hn_scenario_pipeline_args(sc, argv, 15), PL_ELIMIT);
    ck_assert_int_eq(hn_scenario_batch_args(sc, argv, 14), 14);
    free(sc);
}
END_TEST

START_TEST(csv_relative_to_file)
{
    hn_scenario *sc = malloc(sizeof *sc);
    pl_errbuf eb = {{0}};
    char sub[1024], path[PATH_MAX], want[PATH_MAX + 64], cwd[PATH_MAX];
    int rc;

    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd)); /* restored for CK_FORK=no runs */

    snprintf(sub, sizeof sub, "%.900s/sc", dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    snprintf(path, sizeof path, "%s/data", sub);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/data/t.csv", sub);
    tu_write(path, "partition,ingest_ns,event_ns,symbol,price,qty\n");
    snprintf(path, sizeof path, "%s/x.ini", sub);
    tu_write(path, HEAD "[workload]\ncsv = data/t.csv\n" PIPE "binary = ../bin/p\n" FAUL);
    rc = hn_scenario_load(path, sc, &eb);
    ck_assert_msg(rc == 0, "%s", eb.msg);
    ck_assert_int_eq(sc->use_csv, 1);
    snprintf(want, sizeof want, "%s/data/t.csv", sub);
    ck_assert_str_eq(sc->csv_path, want);
    snprintf(want, sizeof want, "%s/../bin/p", sub);
    ck_assert_str_eq(sc->binary, want); /* a path, resolved the same way */

    /* the same file found from elsewhere: the working directory plays no part */
    ck_assert_int_eq(chdir(sub), 0);
    tu_write("y.ini", HEAD "[workload]\ncsv = data/t.csv\n" PIPE FAUL);
    rc = hn_scenario_load("y.ini", sc, &eb);
    ck_assert_msg(rc == 0, "%s", eb.msg);
    ck_assert_str_eq(sc->csv_path, "data/t.csv");
    ck_assert_int_eq(chdir(dir), 0);
    rc = hn_scenario_load("sc/y.ini", sc, &eb);
    ck_assert_msg(rc == 0, "%s", eb.msg);
    ck_assert_str_eq(sc->csv_path, "sc/data/t.csv");

    /* an absolute csv path is kept */
    snprintf(want, sizeof want, HEAD "[workload]\ncsv = %s/data/t.csv\n" PIPE FAUL, sub);
    tu_write("sc/z.ini", want);
    rc = hn_scenario_load("sc/z.ini", sc, &eb);
    ck_assert_msg(rc == 0, "%s", eb.msg);
    snprintf(want, sizeof want, "%s/data/t.csv", sub);
    ck_assert_str_eq(sc->csv_path, want);

    /* from another directory, a relative csv that exists beside the cwd is not found */
    rc = hn_scenario_load("sc/x.ini", sc, &eb);
    ck_assert_int_eq(rc, 0);
    tu_write("sc/w.ini", HEAD "[workload]\ncsv = sc/data/t.csv\n" PIPE FAUL);
    ck_assert_int_eq(hn_scenario_load("sc/w.ini", sc, &eb), -ENOENT);
    ck_assert_ptr_nonnull(strstr(eb.msg, "sc/w.ini:4: [workload] csv: 'sc/sc/data/t.csv'"));
    ck_assert_int_eq(chdir(cwd), 0);
    free(sc);
}
END_TEST

struct frac {
    const char *text;
    int64_t ppm; /* -2: rejected */
};

static const struct frac fracs[] = {
    {"0", 0},           {"1", 1000000},     {"0.01", 10000},  {"1%", 10000},
    {"0.5%", 5000},     {"100%", 1000000},  {"0.000001", 1},  {"0.0001%", 1},
    {"0.10000000", 100000}, {"1.0", 1000000}, {"000.25", 250000}, {"12.5%", 125000},
    {"2", -2},          {"1.000001", -2},   {"100.0001%", -2}, {".5", -2},
    {"5.", -2},         {"-0.1", -2},       {"0,1", -2},      {"%", -2},
    {"1e-3", -2},       {"0.0000001", -2},  {"0.00001%", -2}, {"50 %", -2},
    {"1234567890", -2},
};

START_TEST(fractions)
{
    const struct frac *f = &fracs[_i];
    hn_scenario *sc = malloc(sizeof *sc);
    pl_errbuf eb;
    char path[PATH_MAX], text[256];
    int rc;
    snprintf(text, sizeof text, VALID "[expect]\nmax-late-fraction = %s\n", f->text);
    rc = load_text("f.ini", text, sc, &eb, path, sizeof path);
    if (f->ppm == -2) {
        ck_assert_msg(rc == PL_EUSAGE, "'%s' accepted as %lld", f->text,
                      (long long)sc->max_late_ppm);
        ck_assert_ptr_nonnull(strstr(eb.msg, ":8: [expect] max-late-fraction: "));
    } else {
        ck_assert_msg(rc == 0, "'%s': %s", f->text, eb.msg);
        ck_assert_int_eq(sc->max_late_ppm, f->ppm);
        ck_assert_int_eq(sc->max_dlq_ppm, -1);
    }
    free(sc);
}
END_TEST

START_TEST(bools)
{
    static const char *const yes[] = {"true", "yes", "1", "TRUE", "Yes"};
    static const char *const no[] = {"false", "no", "0", "False", "NO"};
    hn_scenario *sc = malloc(sizeof *sc);
    pl_errbuf eb;
    char path[PATH_MAX], text[256];
    for (int i = 0; i < 5; i++) {
        snprintf(text, sizeof text, VALID "[expect]\nconverge = %s\nagree-with-batch = %s\n",
                 no[i], yes[i]);
        ck_assert_msg(load_text("b.ini", text, sc, &eb, path, sizeof path) == 0, "%s", eb.msg);
        ck_assert_int_eq(sc->expect_converge, 0);
        ck_assert_int_eq(sc->expect_agree, 1);
    }
    free(sc);
}
END_TEST

START_TEST(hits_forms)
{
    hn_scenario *sc = malloc(sizeof *sc);
    pl_errbuf eb;
    char path[PATH_MAX], text[4096];
    size_t w;

    ck_assert_int_eq(load_text("h.ini", VALID "hits = sample 25\n", sc, &eb, path, sizeof path), 0);
    ck_assert_int_eq(sc->hits_mode, HN_HITS_SAMPLE);
    ck_assert_int_eq(sc->sample, 25);
    ck_assert_int_eq(load_text("h.ini", VALID "hits = all\n", sc, &eb, path, sizeof path), 0);
    ck_assert_int_eq(sc->hits_mode, HN_HITS_ALL);
    ck_assert_int_eq(load_text("h.ini", VALID "hits = 7 3\t9\n", sc, &eb, path, sizeof path), 0);
    ck_assert_int_eq(sc->hits_mode, HN_HITS_LIST);
    ck_assert_int_eq(sc->nhits, 3);
    ck_assert_uint_eq(sc->hits[0], 3);
    ck_assert_uint_eq(sc->hits[2], 9);

    /* a long list on one line (lines hold at most 198 characters) */
    w = (size_t)snprintf(text, sizeof text, VALID "hits = ");
    for (int i = 1; i <= 60; i++)
        w += (size_t)snprintf(text + w, sizeof text - w, "%d,", i);
    snprintf(text + w, sizeof text - w, "61\n");
    ck_assert_int_eq(load_text("h.ini", text, sc, &eb, path, sizeof path), 0);
    ck_assert_int_eq(sc->nhits, 61);
    ck_assert_uint_eq(sc->hits[60], 61);
    free(sc);
}
END_TEST

START_TEST(description_continues)
{
    hn_scenario *sc = malloc(sizeof *sc);
    pl_errbuf eb;
    char path[PATH_MAX];
    int rc = load_text("d.ini",
                       "[scenario]\n"
                       "description = First line,\n"
                       "    second line ; comment dropped\n"
                       "\tthird line.\n"
                       "name = dd\n" WORK PIPE FAUL,
                       sc, &eb, path, sizeof path);
    ck_assert_msg(rc == 0, "%s", eb.msg);
    ck_assert_str_eq(sc->description, "First line, second line third line.");
    ck_assert_str_eq(sc->name, "dd");
    /* after another key, an indented line continues nothing */
    rc = load_text("d.ini", "[scenario]\ndescription = a\nname = dd\n  more\n" WORK PIPE FAUL,
                   sc, &eb, path, sizeof path);
    ck_assert_int_eq(rc, PL_EFORMAT);
    ck_assert_ptr_nonnull(strstr(eb.msg, "d.ini:4: indented line"));
    free(sc);
}
END_TEST

START_TEST(comments_bom_crlf)
{
    hn_scenario *sc = malloc(sizeof *sc);
    pl_errbuf eb;
    char path[PATH_MAX];
    int rc = load_text("c.ini",
                       "\xEF\xBB\xBF[scenario]\r\n"
                       "# hash comment\r\n"
                       "  ; indented comment\r\n"
                       "name = crlf ; inline comment\r\n"
                       "[workload]\r\nticks = 10\r\n[pipeline]\r\n[faults]\r\n"
                       "budget: 12\r\n",
                       sc, &eb, path, sizeof path);
    ck_assert_msg(rc == 0, "%s", eb.msg);
    ck_assert_str_eq(sc->name, "crlf");
    ck_assert_int_eq(sc->budget, 12);
    /* '#' is a comment only at the start of a line: inline it is part of the value */
    rc = load_text("c.ini", VALID "points = ckpt/* # steps\n", sc, &eb, path, sizeof path);
    ck_assert_int_eq(rc, PL_EUSAGE);
    ck_assert_ptr_nonnull(strstr(eb.msg, ":7: [faults] points: '#': invalid character '#'"));
    free(sc);
}
END_TEST

START_TEST(pattern_match)
{
    ck_assert_int_eq(hn_scenario_pattern_match("*", "ckpt/write/after"), 1);
    ck_assert_int_eq(hn_scenario_pattern_match("ckpt/*", "ckpt/write/after"), 1);
    ck_assert_int_eq(hn_scenario_pattern_match("ckpt/*", "sink/commit/after"), 0);
    ck_assert_int_eq(hn_scenario_pattern_match("ckpt/write/after", "ckpt/write/after"), 1);
    ck_assert_int_eq(hn_scenario_pattern_match("ckpt/write", "ckpt/write/after"), 0);
    ck_assert_int_eq(hn_scenario_pattern_match("ckpt/write*", "ckpt/write/after"), 1);
    ck_assert_int_eq(hn_scenario_pattern_match("ckpt/write/after", "ckpt/write/afterx"), 0);
}
END_TEST

START_TEST(points_against_listing)
{
    static const char listing[] =
        "ckpt/write/after     a crash here leaves...\n"
        "sink/commit/before   rows staged\n"
        "\n";
    hn_scenario *sc = malloc(sizeof *sc);
    pl_errbuf eb;
    char path[PATH_MAX];
    ck_assert_int_eq(load_text("p.ini", VALID "\npoints = ckpt/*, sink/commit/before\n", sc, &eb,
                               path, sizeof path), 0);
    ck_assert_int_eq(hn_scenario_match_points(sc, listing, "BIN", &eb), 0);
    ck_assert_int_eq(load_text("p.ini", VALID "\npoints = ckpt/*, sink/commit/after, log/*\n", sc,
                               &eb, path, sizeof path), 0);
    ck_assert_int_eq(hn_scenario_match_points(sc, listing, "BIN", &eb), PL_EUSAGE);
    ck_assert_ptr_nonnull(strstr(eb.msg, "p.ini:8: [faults] points: 'sink/commit/after' "
                                         "matches no fail point of BIN"));
    /* the description words are not point names */
    ck_assert_int_eq(load_text("p.ini", VALID "points = rows\n", sc, &eb, path, sizeof path), 0);
    ck_assert_int_eq(hn_scenario_match_points(sc, listing, "BIN", &eb), PL_EUSAGE);
    ck_assert_int_eq(hn_scenario_match_points(sc, "\n\n", "BIN", &eb), PL_EUSAGE);
    ck_assert_ptr_nonnull(strstr(eb.msg, "lists no fail points"));
    free(sc);
}
END_TEST

START_TEST(points_against_binary)
{
    hn_scenario *sc = malloc(sizeof *sc);
    pl_errbuf eb;
    char path[PATH_MAX], script[PATH_MAX], text[PATH_MAX + 256];

    /* a stand-in pipeline: prints a listing, or fails */
    snprintf(script, sizeof script, "%s/fake-pipe", dir);
    tu_write(script, "#!/bin/sh\n[ \"$1\" = faults ] || exit 3\n"
                     "echo 'one/a/after   x'\necho 'two/b/before  y'\n");
    ck_assert_int_eq(chmod(script, 0755), 0);
    snprintf(text, sizeof text, HEAD WORK PIPE "binary = fake-pipe\n" FAUL "points = two/*\n");
    ck_assert_int_eq(load_text("bin.ini", text, sc, &eb, path, sizeof path), 0);
    ck_assert_str_eq(sc->binary, "fake-pipe");
    ck_assert_int_eq(hn_scenario_check_points(sc, script, &eb), 0);

    snprintf(text, sizeof text, HEAD WORK PIPE "binary = ./fake-pipe\n" FAUL "points = three\n");
    ck_assert_int_eq(load_text("bin.ini", text, sc, &eb, path, sizeof path), 0);
    snprintf(text, sizeof text, "%s/./fake-pipe", dir);
    ck_assert_str_eq(sc->binary, text);
    ck_assert_int_eq(hn_scenario_check_points(sc, sc->binary, &eb), PL_EUSAGE);
    ck_assert_ptr_nonnull(strstr(eb.msg, ":8: [faults] points: 'three' matches no fail point"));

    tu_write(script, "#!/bin/sh\necho usage >&2\nexit 2\n");
    ck_assert_int_eq(hn_scenario_check_points(sc, sc->binary, &eb), PL_EUSAGE);
    ck_assert_ptr_nonnull(strstr(eb.msg, ":6: [pipeline] binary: "));
    ck_assert_ptr_nonnull(strstr(eb.msg, "exited with status 2"));

    ck_assert_int_eq(chmod(script, 0644), 0);
    ck_assert_int_eq(hn_scenario_check_points(sc, sc->binary, &eb), PL_EUSAGE);
    ck_assert_ptr_nonnull(strstr(eb.msg, "not an executable file"));

    snprintf(script, sizeof script, "%s/absent", dir);
    ck_assert_int_eq(hn_scenario_check_points(sc, script, &eb), PL_ENOTFOUND);
    free(sc);
}
END_TEST

START_TEST(points_against_refpipe)
{
    hn_scenario *sc = malloc(sizeof *sc);
    pl_errbuf eb;
    char path[PATH_MAX];
    char bin[PATH_MAX];

    snprintf(bin, sizeof bin, "%s", tu_bin("refpipe-fiu"));
    ck_assert_int_eq(load_text("r.ini", VALID "points = ckpt/*, sink/commit/*\n", sc, &eb, path,
                               sizeof path), 0);
    ck_assert_msg(hn_scenario_check_points(sc, bin, &eb) == 0, "%s", eb.msg);
    ck_assert_int_eq(load_text("r.ini", VALID "points = checkpoint/*\n", sc, &eb, path,
                               sizeof path), 0);
    ck_assert_int_eq(hn_scenario_check_points(sc, bin, &eb), PL_EUSAGE);
    ck_assert_ptr_nonnull(strstr(eb.msg, "'checkpoint/*' matches no fail point"));
    /* export/batch points exist but `run`, the process trials crash, never
     * reaches them: check refuses what run would report as no-points */
    ck_assert_int_eq(load_text("r.ini", VALID "points = ckpt/*, digest/*\n", sc, &eb, path,
                               sizeof path), 0);
    ck_assert_int_eq(hn_scenario_check_points(sc, bin, &eb), PL_EUSAGE);
    ck_assert_msg(strstr(eb.msg, ":7: [faults] points: 'digest/*' matches only export/batch "
                         "points") != NULL, "%s", eb.msg);
    ck_assert_int_eq(load_text("r.ini", VALID "points = digest/write/after\n", sc, &eb, path,
                               sizeof path), 0);
    ck_assert_int_eq(hn_scenario_check_points(sc, bin, &eb), PL_EUSAGE);
    /* a pattern reaching one run point as well is fine */
    ck_assert_int_eq(load_text("r.ini", VALID "points = *\n", sc, &eb, path, sizeof path), 0);
    ck_assert_msg(hn_scenario_check_points(sc, bin, &eb) == 0, "%s", eb.msg);
    free(sc);
}
END_TEST

/* check refuses what run refuses: a missing binary (exit 2 both, nothing run). */
START_TEST(check_and_run_refuse_missing_binary)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/nb.ini", dir);
    tu_write(p, HEAD WORK "[pipeline]\nbinary = ./nonexistent\n" FAUL);
    ck_assert_int_eq(tu_sh("'%s' check '%s' > %s/out 2> %s/err", tu_bin("replayproof"), p, dir,
                           dir), 2);
    ck_assert_int_eq(tu_sh("grep -q 'nb.ini:6: \\[pipeline\\] binary: .*nonexistent.* not "
                           "found' %s/err", dir), 0);
    ck_assert_int_eq(tu_sh("cd %s && '%s' run -q --results r.db --workdir . '%s' > out 2> err",
                           dir, tu_bin("replayproof"), p), 2);
    ck_assert_int_eq(tu_sh("grep -q 'nb.ini:6: \\[pipeline\\] binary: ' %s/err", dir), 0);
    ck_assert_int_ne(tu_sh("test -e %s/r.db", dir), 0);
    /* --workdir must exist: it is not created */
    ck_assert_int_eq(tu_sh("cd %s && '%s' run -q --results r.db --workdir ./nowhere '%s' > out "
                           "2> err", dir, tu_bin("replayproof"), p), 2);
    ck_assert_int_ne(tu_sh("test -e %s/nowhere", dir), 0);
    ck_assert_int_eq(tu_sh("grep -q \"workdir './nowhere'\" %s/err", dir), 0);
}
END_TEST

START_TEST(binary_path)
{
    hn_scenario *sc = malloc(sizeof *sc);
    pl_errbuf eb;
    char path[PATH_MAX], out[PATH_MAX], self[PATH_MAX];
    ssize_t n;
    ck_assert_int_eq(load_text("bp.ini", VALID, sc, &eb, path, sizeof path), 0);
    ck_assert_int_eq(hn_scenario_binary_path(sc, out, sizeof out, &eb), 0);
    n = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert_int_gt(n, 0);
    self[n] = 0;
    *strrchr(self, '/') = 0;
    ck_assert_str_eq(out + strlen(self), "/refpipe-fiu");
    ck_assert_int_eq(strncmp(out, self, strlen(self)), 0);
    ck_assert_int_eq(hn_scenario_binary_path(sc, out, 5, &eb), PL_ELIMIT);
    free(sc);
}
END_TEST

/* Every scenario shipped in the repository loads. */
START_TEST(repository_scenarios)
{
    hn_scenario *sc = malloc(sizeof *sc);
    long total = 0;
    glob_t g;
    int rc = glob("scenarios/*.ini", 0, NULL, &g);
    ck_assert_msg(rc == 0, "no scenarios/*.ini under the working directory");
    ck_assert_uint_ge(g.gl_pathc, 4);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        pl_errbuf eb = {{0}};
        rc = hn_scenario_load(g.gl_pathv[i], sc, &eb);
        ck_assert_msg(rc == 0, "%s", eb.msg);
        ck_assert_msg(sc->description[0] != 0, "%s: no description", g.gl_pathv[i]);
        total += sc->budget;
    }
    /* the default suite runs every scenario: keep it to minutes */
    ck_assert_msg(total <= 3000, "scenario budgets add up to %ld trials", total);
    globfree(&g);
    free(sc);
}
END_TEST

/* The I/O-error and corruption keys of [faults]. */
START_TEST(io_and_corrupt_keys)
{
    hn_scenario *sc = calloc(1, sizeof *sc);
    char path[4096];
    pl_errbuf eb;
    ck_assert_ptr_nonnull(sc);
    ck_assert_int_eq(load_text("ic.ini", VALID "io-errors = fsync, write:ENOSPC, rename:30, "
                               "pwrite-short, sink/commit/before:EROFS\nio-budget = 0\n"
                               "corrupt = foreign-config, sink-bitflip\n", sc, &eb, path,
                               sizeof path), 0);
    ck_assert_int_eq(sc->nioerr, 5);
    ck_assert_str_eq(sc->ioerr_point[0], "posix/io/sync/fsync");
    ck_assert_int_eq(sc->ioerr_errno[0], EIO);
    ck_assert_str_eq(sc->ioerr_point[1], "posix/io/rw/write");
    ck_assert_int_eq(sc->ioerr_errno[1], ENOSPC);
    ck_assert_int_eq(sc->ioerr_errno[2], 30);
    ck_assert_str_eq(sc->ioerr_point[3], "posix/io/rw/pwrite/reduce");
    ck_assert_str_eq(sc->ioerr_point[4], "sink/commit/before");
    ck_assert_int_eq(sc->ioerr_errno[4], EROFS);
    ck_assert_int_eq(sc->io_budget, 0);
    ck_assert_int_eq(sc->ncorrupt, 2);
    ck_assert_int_eq(sc->corrupt[0], HN_C_FOREIGN);
    ck_assert_int_eq(sc->corrupt[1], HN_C_SINK_BITFLIP);
    ck_assert_int_eq(sc->corrupt_budget, 24);
    ck_assert_int_eq(load_text("d.ini", VALID, sc, &eb, path, sizeof path), 0);
    ck_assert_int_eq(sc->nioerr, 0);
    ck_assert_int_eq(sc->ncorrupt, 0);
    ck_assert_int_eq(sc->io_budget, 40);
    free(sc);
}
END_TEST

Suite *scenario_suite(void)
{
    Suite *s = suite_create("scenario");
    TCase *tc = tcase_create("parse");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, full_file);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, io_and_corrupt_keys);
    tcase_add_loop_test(tc, error_paths, 0, (int)(sizeof bads / sizeof bads[0]));
    tcase_add_test(tc, open_failure);
    tcase_add_test(tc, bad_default_name);
    tcase_add_test(tc, bare_zero_and_start_accepted);
    tcase_add_test(tc, check_and_run_refuse_missing_binary);
    tcase_add_test(tc, long_line);
    tcase_add_test(tc, repeated_agg_accumulates);
    tcase_add_test(tc, csv_relative_to_file);
    tcase_add_loop_test(tc, fractions, 0, (int)(sizeof fracs / sizeof fracs[0]));
    tcase_add_test(tc, bools);
    tcase_add_test(tc, hits_forms);
    tcase_add_test(tc, description_continues);
    tcase_add_test(tc, comments_bom_crlf);
    tcase_add_test(tc, pattern_match);
    tcase_add_test(tc, points_against_listing);
    tcase_add_test(tc, binary_path);
    tcase_add_test(tc, repository_scenarios);
    suite_add_tcase(s, tc);

    tc = tcase_create("binary");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, points_against_binary);
    tcase_add_test(tc, points_against_refpipe);
    suite_add_tcase(s, tc);
    return s;
}
