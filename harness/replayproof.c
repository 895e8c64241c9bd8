/*
 * replayproof.c - the harness's command-line entry point.
 *
 * `replayproof COMMAND [ARGS]`: main looks COMMAND up in one table (name,
 * handler, one-line summary, usage) and hands it the remaining arguments;
 * adding a subcommand is one table entry and its handler.  Handlers return
 * the exit status: 0 success, 1 failure, 2 bad usage or bad input (run and
 * replay: 3 when the harness itself failed).  Only this
 * file prints and decides the exit status; the libraries fill a pl_errbuf.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "hn_gen.h"
#include "hn_fpool.h"
#include "hn_mutants.h"
#include "hn_progress.h"
#include "hn_prov.h"
#include "hn_results.h"
#include "hn_shrink.h"
#include "hn_run.h"
#include "hn_rundir.h"
#include "hn_scenario.h"
#include "hn_shard.h"
#include "pl_err.h"
#include "pl_fs.h"
#include "rp_model.h"
#include "rp_report.h"

typedef struct rp_cmd {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
    const char *summary;
    const char *usage;              /* synopsis line */
    const char *(*options)(void);   /* option list for help, or NULL */
} rp_cmd;

static int cmd_gen(int argc, char **argv);
static int cmd_check(int argc, char **argv);
static int cmd_run(int argc, char **argv);
static int cmd_replay(int argc, char **argv);
static int cmd_report(int argc, char **argv);
static const char *report_options(void);
static int cmd_merge(int argc, char **argv);
static const char *merge_options(void);
static int cmd_mutants(int argc, char **argv);
static int cmd_shrink(int argc, char **argv);
static const char *shrink_options(void);
static const char *mutants_options(void);
static const char *run_options(void);
static const char *replay_options(void);
static int cmd_help(int argc, char **argv);

static const rp_cmd cmds[] = {
    {"gen", cmd_gen, "write a deterministic workload log as interchange CSV",
     "replayproof gen [OPTIONS] OUT.csv    (OUT.csv = - writes to stdout)", hn_gen_usage},
    {"check", cmd_check, "validate scenario files without running them",
     "replayproof check [--allow-large] SCENARIO.ini...", NULL},
    {"run", cmd_run, "crash every selected fail point of each scenario and judge recovery",
     "replayproof run [OPTIONS] SCENARIO.ini...", run_options},
    {"replay", cmd_replay, "rerun one trial verbosely and keep its state dir",
     "replayproof replay SCENARIO.ini --trial POINT:K[,POINT:K...]", replay_options},
    {"report", cmd_report, "write a run's HTML report, junit.xml and summary.md",
     "replayproof report [RUN] [-o DIR]    (RUN: number, run dir or database; default the last)",
     report_options},
    {"merge", cmd_merge, "merge the results databases of the shards of one suite (run --shard)",
     "replayproof merge SHARD.db... -o MERGED.db [--keep-runs N]", merge_options},
    {"mutants", cmd_mutants, "run the scenarios against every broken variant: the kill matrix",
     "replayproof mutants [OPTIONS] [SCENARIO.ini...]   (default: scenarios/*.ini)",
     mutants_options},
    {"shrink", cmd_shrink, "minimise a failing trial (or batch disagreement) into a small scenario",
     "replayproof shrink SCENARIO.ini [--trial SCHEDULE] [OPTIONS]", shrink_options},
    {"help", cmd_help, "show this overview, or one command's options",
     "replayproof help [COMMAND]", NULL},
};
#define NCMDS (sizeof cmds / sizeof cmds[0])

static const rp_cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < NCMDS; i++)
        if (strcmp(cmds[i].name, name) == 0)
            return &cmds[i];
    return NULL;
}

static void overview(FILE *out)
{
    fprintf(out, "usage: replayproof COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < NCMDS; i++)
        fprintf(out, "  %-8s %s\n", cmds[i].name, cmds[i].summary);
    fprintf(out, "\n'replayproof help COMMAND' shows a command's options.\n");
}

static void cmd_usage(FILE *out, const rp_cmd *c)
{
    fprintf(out, "usage: %s\n%s\n", c->usage, c->summary);
    if (c->options)
        fprintf(out, "\noptions (--key VALUE or --key=VALUE):\n%s", c->options());
}

/*
 * The exit status for a failure code (docs/cli.md, one table for both
 * programs): 2 bad usage or input, 4 an I/O failure (a write, fsync or
 * commit failed: disk full, I/O error, read-only file system), 3 anything
 * else (internal).
 */
static int exit_for(int rc)
{
    if (pl_err_is_input(rc))
        return 2;
    if (rc == PL_EIO || rc == -EIO || rc == -ENOSPC || rc == -EDQUOT || rc == -EROFS)
        return 4;
    return 3;
}

/* "replayproof CMD: MSG" on stderr, without repeating a "CMD: " that the
 * library message starts with; returns exit_for(rc). */
static int fail(const char *cmd, int rc, const pl_errbuf *eb)
{
    const char *m = eb->msg[0] ? eb->msg : pl_strerror(rc);
    size_t n = strlen(cmd);
    if (strncmp(m, cmd, n) == 0 && m[n] == ':' && m[n + 1] == ' ')
        m += n + 2;
    fprintf(stderr, "replayproof %s: %s\n", cmd, m);
    return exit_for(rc);
}

/* The rest of every getopt_long loop: -h, --help prints the command's usage
 * (0); a missing value or an unknown option is one line (2). */
static int other_option(const char *cmd, int opt, char **argv)
{
    if (opt == 'h') {
        cmd_usage(stdout, find_cmd(cmd));
        return 0;
    }
    if (opt == ':')
        fprintf(stderr, "replayproof %s: option '%s' needs a value\n", cmd, argv[optind - 1]);
    else
        fprintf(stderr, "replayproof %s: unknown option '%s' (see replayproof help %s)\n", cmd,
                argv[optind - 1], cmd);
    return 2;
}

/*
 * --workdir names a place to work in, never one to make: a typo such as
 * /nonexistent would otherwise be created (on disk, not tmpfs) and used.
 */
static int workdir_ok(const char *cmd, const char *dir)
{
    struct stat st;
    if (!dir)
        return 0;
    if (stat(dir, &st) != 0) {
        fprintf(stderr, "replayproof %s: --workdir '%s': %s (it must be an existing "
                "directory)\n", cmd, dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "replayproof %s: --workdir '%s': not a directory\n", cmd, dir);
        return -1;
    }
    return 0;
}

/* Set by SIGINT/SIGTERM: the runner kills its children (they run in their
 * own process groups, out of reach of the terminal's ^C) and returns. */
static volatile sig_atomic_t stop_flag;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    /* no SA_RESTART: the runner's poll() returns EINTR and sees the flag */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

/* Open the results database and begin a run row with the command line as
 * typed (argv[0] is the command; "replayproof" goes before it).  A wait for
 * the database's lock ends on SIGINT/SIGTERM.  *db may be set on failure. */
static int open_results(const char *path, int argc, char **argv, hn_res **db, int64_t *run_id,
                        pl_errbuf *eb)
{
    char **words;
    int rc = hn_res_open(path, db, eb);
    if (rc < 0)
        return rc;
    hn_res_set_stop(*db, &stop_flag);
    words = malloc((size_t)(argc + 1) * sizeof *words);
    if (!words)
        return pl_err(eb, -ENOMEM, "out of memory");
    words[0] = "replayproof";
    memcpy(words + 1, argv, (size_t)argc * sizeof *words);
    rc = hn_res_run_begin(*db, argc + 1, words, run_id, eb);
    free(words);
    return rc;
}

/* ------------------------------------------------------------------- gen */

static int cmd_gen(int argc, char **argv)
{
    hn_gen_opts o;
    pl_errbuf eb = {{0}};
    const char *out = NULL;
    int rc, only_args = 0;

    hn_gen_defaults(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *eq, *val;
        char key[64];

        if (only_args || a[0] != '-' || strcmp(a, "-") == 0) {
            if (out) {
                fprintf(stderr, "replayproof gen: more than one output file ('%s', '%s')\n",
                        out, a);
                return 2;
            }
            out = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_args = 1;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            cmd_usage(stdout, find_cmd("gen"));
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "replayproof gen: %s: unknown option (options are --key VALUE)\n",
                    a);
            return 2;
        }
        eq = strchr(a, '=');
        if (eq) {
            size_t n = (size_t)(eq - a);
            if (n >= sizeof key) {
                fprintf(stderr, "replayproof gen: %.*s: unknown option\n", (int)n, a);
                return 2;
            }
            memcpy(key, a, n);
            key[n] = 0;
            val = eq + 1;
        } else {
            if (strlen(a) >= sizeof key) {
                fprintf(stderr, "replayproof gen: %s: unknown option\n", a);
                return 2;
            }
            strcpy(key, a);
            if (i + 1 >= argc) {
                /* still name an unknown option as such, not as valueless */
                rc = hn_gen_parse_opt(&o, key, NULL, &eb);
                fprintf(stderr, "replayproof gen: %s\n", eb.msg);
                return 2;
            }
            val = argv[++i];
        }
        rc = hn_gen_parse_opt(&o, key, val, &eb);
        if (rc < 0) {
            fprintf(stderr, "replayproof gen: %s\n", eb.msg);
            return 2;
        }
    }
    if (!out) {
        fprintf(stderr, "replayproof gen: missing output file (OUT.csv, or - for stdout)\n");
        return 2;
    }
    /* ^C ends a long generation within a batch of records, its temporary
     * file removed, instead of killing it mid-write */
    o.stop = &stop_flag;
    catch_stop_signals();
    rc = hn_gen_write_path(&o, out, NULL, &eb);
    if (rc < 0)
        return fail("gen", rc, &eb);
    return 0;
}

/* ------------------------------------------------------------ size checks */

#define MIB (1024 * 1024)

/*
 * A workload above the size cap is refused unless allow_large, with the
 * estimate in the message: 0, or -1 after printing one line.
 */
static int size_ok(const hn_scenario *sc, int allow_large)
{
    int64_t records, bytes;
    hn_scenario_estimate(sc, &records, &bytes);
    if (bytes <= HN_LARGE_BYTES || allow_large)
        return 0;
    fprintf(stderr, "%s: [workload]: about %lld records, an estimated %lld MiB in the work dir, "
            "above the cap of %lld MiB (a typo such as 50h for 50s?); pass --allow-large to "
            "run it\n", sc->path, (long long)records, (long long)(bytes / MIB),
            (long long)(HN_LARGE_BYTES / MIB));
    return -1;
}

/* Free space of the work dir's file system against the estimate: 0 or -1. */
static int space_ok(const hn_scenario *sc, const char *base)
{
    struct statvfs vs;
    int64_t records, bytes, avail;
    hn_scenario_estimate(sc, &records, &bytes);
    if (statvfs(base, &vs) != 0)
        return 0; /* the run itself will name the problem with the directory */
    avail = (int64_t)vs.f_bavail * (int64_t)vs.f_frsize;
    if (bytes <= avail)
        return 0;
    fprintf(stderr, "replayproof run: %s: an estimated %lld MiB needed in the work dir %s, "
            "only %lld MiB free (choose another with --workdir)\n", sc->path,
            (long long)(bytes / MIB), base, (long long)(avail / MIB));
    return -1;
}

/* ----------------------------------------------------------------- check */

/*
 * Each file is loaded as `run` would load it, and its fail point patterns
 * are compared with `BINARY faults` when the binary exists; nothing else is
 * run.  One line per file: "ok   FILE (name: ...)" on stdout, or the error
 * on stderr.  Exit 0 when every file is valid, 2 otherwise.
 */
static int cmd_check(int argc, char **argv)
{
    hn_scenario *sc;
    char bin[4096];
    int bad = 0, allow_large = 0, nfiles = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            cmd_usage(stdout, find_cmd("check"));
            return 0;
        }
        if (strcmp(argv[i], "--allow-large") == 0)
            allow_large = 1;
        else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "replayproof check: unknown option '%s' (see replayproof help "
                    "check)\n", argv[i]);
            return 2;
        } else
            nfiles++;
    }
    if (nfiles == 0) {
        fprintf(stderr, "replayproof check: no scenario file (usage: %s)\n",
                find_cmd("check")->usage);
        return 2;
    }
    sc = malloc(sizeof *sc);
    if (!sc) {
        fprintf(stderr, "replayproof check: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        pl_errbuf eb = {{0}};
        int rc;
        if (strcmp(argv[i], "--allow-large") == 0)
            continue;
        rc = hn_scenario_load(argv[i], sc, &eb);
        if (rc == 0 && size_ok(sc, allow_large) < 0) {
            bad = 1;
            continue;
        }
        if (rc == 0)
            rc = hn_scenario_binary_path(sc, bin, sizeof bin, &eb);
        if (rc == 0)
            rc = hn_scenario_check_points(sc, bin, &eb);
        if (rc < 0) {
            /* a missing binary too: run would refuse it (build it first: make) */
            fflush(stdout);
            fprintf(stderr, "%s\n", eb.msg);
            bad = 1;
        } else {
            printf("ok   %s (name: %s)\n", argv[i], sc->name);
        }
        fflush(stdout);
    }
    free(sc);
    return bad ? 2 : 0;
}

/* ------------------------------------------------------------ run, replay */

/* The scenario's binary exists and is executable: 0, or PL_ENOTFOUND / PL_EUSAGE. */
static int binary_ok(const hn_scenario *sc, const char *bin, pl_errbuf *eb)
{
    struct stat st;
    if (stat(bin, &st) != 0)
        return pl_err(eb, PL_ENOTFOUND, "%s:%d: [pipeline] binary: '%s': %s (build it with "
                      "make, or fix the path)", sc->path, sc->binary_line, bin, strerror(errno));
    if (!S_ISREG(st.st_mode) || access(bin, X_OK) != 0)
        return pl_err(eb, PL_EUSAGE, "%s:%d: [pipeline] binary: '%s' is not an executable file",
                      sc->path, sc->binary_line, bin);
    return 0;
}

static const char *run_options(void)
{
    return "  -j, --jobs N       trials in parallel (default: online CPUs)\n"
           "  --results PATH     results database, created with its directory; runs\n"
           "                     accumulate (default out/results.db)\n"
           "  --workdir DIR      where work dirs go (default /dev/shm, else $TMPDIR or /tmp)\n"
           "  --keep             keep every trial's state dir, not only failing ones\n"
           "  --budget N         trials per scenario, overriding [faults] budget\n"
           "  -q, --quiet        no progress output; the summary only\n"
           "  --allow-large      run a workload estimated above the 2 GiB size cap\n"
           "  --keep-runs N      run dirs kept next to the results database; older ones are\n"
           "                     removed (default 20; 0 keeps all)\n"
           "  --keep-max-mb N    cap on what one run dir keeps of failing trials (default 512)\n"
           "  --shard I/N        run shard I of N: every golden phase, and the trials whose\n"
           "                     plan index is I-1 mod N (merge the shards with\n"
           "                     `replayproof merge`; docs/ci.md)\n"
           "  --no-fork-server   start every trial process by fork+exec (default: through a\n"
           "                     fork server per slot when the binary allows; docs/faults.md)\n"
           "  --no-early-stop    every recovery runs to the end (default: a recovery that\n"
           "                     reaches a golden checkpoint's digests stops there)\n"
           "  --no-snapshots     every trial starts from record 0 (default: kill trials start\n"
           "                     from a copy of the discovery run's state at a checkpoint)\n"
           "Each run writes RESULTS_DIR/runs/<UTC time>-<id>/ (and a `latest` link): the\n"
           "report (index.html, junit.xml, summary.md) and the kept state dirs.\n"
           "exit status: 0 all converged and expectations held; 1 a failure (divergence,\n"
           "conflict, crash loop, hang, crash not reached, batch disagreement, failed\n"
           "expectation); 2 usage or scenario error; 3 the harness itself failed or was\n"
           "interrupted; 4 an I/O failure (results database, or too little free space).\n";
}

static const char *replay_options(void)
{
    return "  --trial SCHEDULE   the faults, as printed by `replayproof run`: POINT:K[,...]\n"
           "                     (kill), or kill:, powercut:, ioerr:, corrupt: entries\n"
           "                     (docs/cli.md, Fault schedules)\n"
           "  --workdir DIR      where the work dir goes; it is kept (default out/replay)\n"
           "exit status: 0 the trial converges; 1 it fails (the failure reproduces);\n"
           "2 usage or scenario error; 3 the harness or the golden run failed.\n";
}

static int parse_count(const char *cmd, const char *opt, const char *s, int min, int *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > 1000000) {
        fprintf(stderr, "replayproof %s: %s '%s': expected an integer in %d..1000000\n", cmd,
                opt, s, min);
        return -1;
    }
    *out = (int)v;
    return 0;
}

enum { O_RESULTS = 1000, O_WORKDIR, O_KEEP, O_BUDGET, O_TRIAL, O_ONLY, O_ALL, O_STRICT, O_OUT,
       O_LARGE, O_KEEP_RUNS, O_KEEP_MAX, O_SHRINK, O_SHARD, O_NO_FSRV, O_NO_EARLY, O_DEPTH,
       O_NO_SNAP, O_CELLS };

/* A path for messages: relative to the current directory when under it. */
static const char *rel(const char *path)
{
    static char cwd[PATH_MAX];
    size_t cl;
    if (!getcwd(cwd, sizeof cwd))
        return path;
    cl = strlen(cwd);
    if (strncmp(path, cwd, cl) == 0 && path[cl] == '/')
        return path + cl + 1;
    return path;
}

static void exe_dir(char *out, size_t n)
{
    char *slash;
    ssize_t len = readlink("/proc/self/exe", out, n - 1);
    if (len < 0) {
        snprintf(out, n, ".");
        return;
    }
    out[len] = 0;
    slash = strrchr(out, '/');
    if (slash)
        *slash = 0;
}

/* The run's hooks: progress, plus what the run dir and the provenance need
 * while the work dir still exists. */
typedef struct run_ctx {
    hn_prog *prog;
    hn_res *db;
    int64_t run_id;
    char sdir[PATH_MAX];        /* the current scenario's folder in the run dir */
    int64_t budget;             /* bytes the run dir may still take */
    int failed;                 /* recording failed */
    pl_errbuf eb;
} run_ctx;

static void run_phase(void *ctx, const hn_scenario *sc, const char *phase,
                      const hn_scenario_result *r)
{
    run_ctx *c = ctx;
    if (strcmp(phase, "discovery") == 0 && c->db && !c->failed &&
        hn_prov_record_log(c->db, c->run_id, sc, r->workdir, &c->eb) < 0)
        c->failed = 1;
    /* the golden tables, for the report's plots even when nothing fails */
    if (strcmp(phase, "trials") == 0 && c->sdir[0] && r->workdir[0] && !c->failed &&
        hn_rundir_keep_tables(c->sdir, r->workdir, r->nbatch_div > 0, &c->budget, &c->eb) < 0)
        c->failed = 1;
    hn_prog_phase(c->prog, sc, phase, r);
}

static void run_trial(void *ctx, const hn_scenario *sc, const hn_trial_result *t, int done,
                      int total, int failed)
{
    run_ctx *c = ctx;
    hn_prog_trial(c->prog, sc, t, done, total, failed);
}

/* Write the run's report; prints where it is. */
static int write_report(const char *results, int64_t run_id, const char *outdir)
{
    rp_report_opts ro;
    rp_report_info info;
    pl_errbuf eb = {{0}};
    char self[PATH_MAX];
    int rc;
    hn_prov_self(self, sizeof self);
    memset(&ro, 0, sizeof ro);
    ro.db_path = results;
    ro.run_id = run_id;
    ro.outdir = outdir;
    ro.self = self;
    rc = rp_report_write(&ro, &info, &eb);
    if (rc < 0) {
        fprintf(stderr, "replayproof report: %s\n", eb.msg);
        return rc;
    }
    printf("report of run %lld: %s/index.html (also junit.xml, summary.md)\n",
           (long long)info.run_id, rel(info.outdir));
    if (info.plots_missing)
        printf("  %d plot%s missing: %s\n", info.plots_missing,
               info.plots_missing == 1 ? "" : "s", info.missing_why);
    fflush(stdout);
    return 0;
}

static void run_notice(void *ctx, const hn_scenario *sc, const char *line)
{
    run_ctx *c = ctx;
    hn_prog_notice(c->prog, sc, line);
}

/* hooks.notice where the hooks' ctx is someone else's (mutants' cells):
 * each scenario runs once per mutant, so a line is said once per scenario */
static void notice_stderr(void *ctx, const hn_scenario *sc, const char *line)
{
    static char said[64][HN_NAME_MAX + 1];
    static int nsaid;
    (void)ctx;
    for (int i = 0; i < nsaid; i++)
        if (strcmp(said[i], sc->name) == 0)
            return;
    if (nsaid < 64)
        snprintf(said[nsaid++], sizeof said[0], "%s", sc->name);
    fprintf(stderr, "%s: %s\n", sc->name, line);
    fflush(stderr);
}

static void note_line(void *ctx, const char *line)
{
    fprintf(ctx, "%s\n", line);
    fflush(ctx);
}

/* What hn_rundir_prune did to the run dirs of runs after `cmd` (removed:
 * how many went, -1 failed with eb): one line, none when nothing went. */
static void said_pruned(const char *cmd, int removed, const pl_errbuf *eb, const char *runs,
                        int keep_runs)
{
    if (removed < 0)
        fprintf(stderr, "replayproof %s: %s\n", cmd, eb->msg);
    else if (removed)
        printf("removed the %d oldest run dir%s of %s (--keep-runs %d)\n", removed,
               removed == 1 ? "" : "s", runs, keep_runs);
}

static int cmd_run(int argc, char **argv)
{
    static const struct option lo[] = {
        {"jobs", required_argument, NULL, 'j'},     {"results", required_argument, NULL, O_RESULTS},
        {"workdir", required_argument, NULL, O_WORKDIR}, {"keep", no_argument, NULL, O_KEEP},
        {"budget", required_argument, NULL, O_BUDGET}, {"quiet", no_argument, NULL, 'q'},
        {"allow-large", no_argument, NULL, O_LARGE},
        {"no-fork-server", no_argument, NULL, O_NO_FSRV},
        {"keep-runs", required_argument, NULL, O_KEEP_RUNS},
        {"keep-max-mb", required_argument, NULL, O_KEEP_MAX},
        {"shard", required_argument, NULL, O_SHARD},
        {"no-early-stop", no_argument, NULL, O_NO_EARLY},
        {"no-snapshots", no_argument, NULL, O_NO_SNAP},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    const char *results = "out/results.db", *shard = NULL;
    char runs[PATH_MAX], rundir[PATH_MAX] = "", bindir[PATH_MAX], *slash;
    run_ctx rc_ctx;
    int keep_runs = HN_RUNDIR_KEEP_RUNS, keep_max_mb = HN_RUNDIR_KEEP_MAX_MB;
    hn_run_opts o;
    hn_scenario *scs = NULL;
    hn_res *db = NULL;
    hn_prog *prog = NULL;
    pl_errbuf eb = {{0}};
    int quiet = 0, opt, nsc, status = 0, nfail = 0, rc, allow_large = 0;

    hn_run_opts_init(&o);
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":j:qh", lo, NULL)) != -1) {
        switch (opt) {
        case 'j':
            if (parse_count("run", "-j", optarg, 1, &o.jobs) < 0)
                return 2;
            break;
        case O_RESULTS:
            results = optarg;
            break;
        case O_WORKDIR:
            o.workdir = optarg;
            break;
        case O_KEEP:
            o.keep = 1;
            break;
        case O_BUDGET:
            if (parse_count("run", "--budget", optarg, 1, &o.budget) < 0)
                return 2;
            break;
        case O_KEEP_RUNS:
            if (parse_count("run", "--keep-runs", optarg, 0, &keep_runs) < 0)
                return 2;
            break;
        case O_KEEP_MAX:
            if (parse_count("run", "--keep-max-mb", optarg, 0, &keep_max_mb) < 0)
                return 2;
            break;
        case O_SHARD:
            if (hn_shard_parse(optarg, &o.shard, &o.shards, &eb) < 0)
                return fail("run", PL_EUSAGE, &eb);
            shard = optarg;
            break;
        case 'q':
            quiet = 1;
            break;
        case O_NO_EARLY:
            o.no_early_stop = 1;
            break;
        case O_NO_SNAP:
            o.no_snapshots = 1;
            break;
        case O_LARGE:
            allow_large = 1;
            break;
        case O_NO_FSRV:
            o.no_fork_server = 1;
            break;
        default:
            return other_option("run", opt, argv);
        }
    }
    nsc = argc - optind;
    if (nsc < 1) {
        fprintf(stderr, "replayproof run: no scenario file (usage: %s)\n",
                find_cmd("run")->usage);
        return 2;
    }
    if (workdir_ok("run", o.workdir) < 0)
        return 2;
    scs = calloc((size_t)nsc, sizeof *scs);
    if (!scs) {
        fprintf(stderr, "replayproof run: out of memory\n");
        return 3;
    }
    /* every file is checked before anything runs: a typo in the last
     * scenario must not cost the time of the first ones */
    for (int i = 0; i < nsc; i++) {
        char bin[4096];
        rc = hn_scenario_load(argv[optind + i], &scs[i], &eb);
        /* what check refuses about the binary, run refuses too, before anything runs */
        if (rc == 0)
            rc = hn_scenario_binary_path(&scs[i], bin, sizeof bin, &eb);
        if (rc == 0)
            rc = binary_ok(&scs[i], bin, &eb);
        if (rc < 0) {
            fprintf(stderr, "%s\n", eb.msg);
            free(scs);
            return 2;
        }
        if (size_ok(&scs[i], allow_large) < 0) {
            free(scs);
            return 2;
        }
        /* a full work dir is found before hours of generation, not after */
        if (space_ok(&scs[i], o.workdir ? o.workdir : hn_run_default_base()) < 0) {
            free(scs);
            return 4;
        }
    }
    rc = open_results(results, argc, argv, &db, &o.run_id, &eb);
    if (rc < 0) {
        /* a results path that cannot be written is the user's to fix (2), a
         * full disk an I/O failure (4) */
        int st = fail("run", rc, &eb);
        hn_res_close(db);
        free(scs);
        return st;
    }
    prog = hn_prog_new(stderr, isatty(fileno(stderr)), quiet);
    if (!prog) {
        fprintf(stderr, "replayproof run: out of memory\n");
        hn_res_close(db);
        free(scs);
        return 3;
    }
    /* the run dir sits next to the results database: out/runs/ */
    snprintf(runs, sizeof runs, "%s", results);
    slash = strrchr(runs, '/');
    if (slash)
        snprintf(slash, sizeof runs - (size_t)(slash - runs), "/runs");
    else
        snprintf(runs, sizeof runs, "runs");
    exe_dir(bindir, sizeof bindir);
    memset(&rc_ctx, 0, sizeof rc_ctx);
    rc_ctx.prog = prog;
    rc_ctx.db = db;
    rc_ctx.run_id = o.run_id;
    rc_ctx.budget = (int64_t)keep_max_mb << 20;
    rc = hn_rundir_create(runs, rundir, sizeof rundir, &eb);
    if (rc == 0)
        rc = hn_res_prov_set(db, o.run_id, "run_dir", rundir, &eb);
    if (rc == 0 && shard)
        rc = hn_res_prov_set(db, o.run_id, "shard", shard, &eb);
    if (rc == 0)
        rc = hn_prov_record(db, o.run_id, bindir, scs, nsc, &eb);
    for (int i = 0; i < nsc && rc == 0; i++) {
        char sdir[PATH_MAX];
        hn_rundir_scenario(rundir, scs, i, sdir, sizeof sdir);
        rc = hn_rundir_save_scenario(sdir, &scs[i], &eb);
    }
    if (rc < 0) {
        /* out/runs that cannot be made is a path to fix (2: a file where the
         * directory should be, no permission) or storage (4: read-only, full) */
        status = fail("run", rc, &eb);
        hn_res_run_end(db, o.run_id, status, &eb);
        hn_prog_free(prog);
        hn_res_close(db);
        free(scs);
        return status;
    }
    o.db = db;
    o.stop = &stop_flag;
    o.hooks.ctx = &rc_ctx;
    o.hooks.phase = run_phase;
    o.hooks.trial = run_trial;
    o.hooks.notice = run_notice;
    catch_stop_signals();

    for (int i = 0; i < nsc; i++) {
        hn_scenario_result r;
        int dropped = 0, krc;
        pl_errbuf keb = {{0}};
        eb.msg[0] = 0;
        hn_rundir_scenario(rundir, scs, i, rc_ctx.sdir, sizeof rc_ctx.sdir);
        rc = hn_run_scenario(&scs[i], &o, &r, &eb);
        /* what the work dir kept moves into the run dir before the summary
         * names it; the work dir goes */
        krc = hn_rundir_keep(rc_ctx.sdir, &r, db, o.run_id, &rc_ctx.budget, &dropped, &keb);
        hn_prog_summary(stdout, &scs[i], &r);
        if (shard && r.plan_digest[0])
            printf("   shard %s: %d of the plan's %d trials\n", shard, r.planned, r.plan_total);
        if (dropped)
            printf("   %d failing trial state dir%s deleted: over the run dir's %d MB cap "
                   "(--keep-max-mb)\n", dropped, dropped == 1 ? "" : "s", keep_max_mb);
        if (krc < 0 || rc_ctx.failed) {
            fprintf(stderr, "replayproof run: %s: %s\n", scs[i].path,
                    krc < 0 ? keb.msg : rc_ctx.eb.msg);
            status = 3;
            rc_ctx.failed = 0;
        }
        if (r.exit_status > status)
            status = r.exit_status;
        if (r.exit_status)
            nfail++;
        hn_run_result_free(&r);
        if (rc < 0) {
            fprintf(stderr, "replayproof run: %s: %s\n", scs[i].path, eb.msg);
            /* interrupted or broken: 3; a full disk or failing device: 4 */
            status = rc == -EINTR ? 3 : exit_for(rc) == 4 ? 4 : 3;
            break;
        }
    }
    if (nsc > 1)
        printf("== %d scenario%s: %d passed, %d failed\n", nsc, nsc == 1 ? "" : "s", nsc - nfail,
               nfail);
    printf("exit status %d; results in %s (run %lld)\n", status, results, (long long)o.run_id);
    if ((rc = hn_res_run_end(db, o.run_id, status, &eb)) < 0) {
        fprintf(stderr, "replayproof run: %s\n", eb.msg);
        status = exit_for(rc) == 4 ? 4 : 3;
    }
    hn_prog_free(prog);
    hn_res_close(db);
    free(scs);
    if (write_report(results, o.run_id, NULL) < 0 && status < 3)
        status = 3;
    if (keep_runs > 0) {
        int removed = 0;
        if (hn_rundir_prune(runs, keep_runs, rundir, &removed, &eb) < 0)
            removed = -1;
        said_pruned("run", removed, &eb, runs, keep_runs);
    }
    return status;
}

static int cmd_replay(int argc, char **argv)
{
    static const struct option lo[] = {{"trial", required_argument, NULL, O_TRIAL},
                                       {"workdir", required_argument, NULL, O_WORKDIR},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    const char *spec = NULL;
    hn_run_opts o;
    hn_scenario *sc;
    hn_trial t;
    hn_trial_result *res;
    pl_errbuf eb = {{0}};
    int opt, rc, golden_failed = 0, status;

    hn_run_opts_init(&o);
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
        switch (opt) {
        case O_TRIAL:
            spec = optarg;
            break;
        case O_WORKDIR:
            o.workdir = optarg;
            break;
        default:
            return other_option("replay", opt, argv);
        }
    }
    if (argc - optind != 1 || !spec) {
        fprintf(stderr, "replayproof replay: expected one scenario and --trial (usage: %s)\n",
                find_cmd("replay")->usage);
        return 2;
    }
    if (workdir_ok("replay", o.workdir) < 0)
        return 2;
    if (hn_run_trial_parse(spec, &t, &eb) < 0 || hn_run_trial_check(&t, &eb) < 0) {
        fprintf(stderr, "replayproof replay: %s\n", eb.msg);
        return 2;
    }
    sc = malloc(sizeof *sc);
    res = malloc(sizeof *res);
    if (!sc || !res) {
        fprintf(stderr, "replayproof replay: out of memory\n");
        free(sc);
        free(res);
        return 3;
    }
    rc = hn_scenario_load(argv[optind], sc, &eb);
    if (rc < 0) {
        fprintf(stderr, "%s\n", eb.msg);
        free(sc);
        free(res);
        return 2;
    }
    /* the work dir is kept, so by default it goes under out/ like every
     * other thing the harness keeps (run dirs, shrunk scenarios), not into
     * tmpfs (memory) where nothing would ever remove it */
    if (!o.workdir) {
        if ((rc = pl_fs_mkdir_p("out/replay", &eb)) < 0) {
            free(sc);
            free(res);
            return fail("replay", rc, &eb);
        }
        o.workdir = "out/replay";
    }
    o.stop = &stop_flag;
    o.hooks.ctx = stdout;
    o.hooks.note = note_line;
    catch_stop_signals();
    rc = hn_run_replay(sc, &t, &o, res, &golden_failed, &eb);
    if (rc < 0 || golden_failed) {
        fprintf(stderr, "replayproof replay: %s\n", eb.msg);
        status = 3;
    } else
        status = res->verdict == HN_V_CONVERGED ? 0 : 1;
    free(sc);
    free(res);
    return status;
}

/* --------------------------------------------------------------- mutants */

static const char *mutants_options(void)
{
    return "  -j, --jobs N       trials in parallel (default: online CPUs)\n"
           "  --results PATH     results database (default out/results.db): table mutants\n"
           "  --workdir DIR      where work dirs go (default as for run)\n"
           "  --budget N         trials per scenario, overriding [faults] budget\n"
           "  --only A,B         only these mutants (default: all that BINARY unsafe lists)\n"
           "  --all-trials       run every planned trial (default: a cell stops at its first\n"
           "                     failing trial, or after the golden run when batch disagrees)\n"
           "  --strict           count mutants only a power cut can reveal like the others\n"
           "  --no-early-stop    every recovery runs to the end\n"
           "  --no-snapshots     every trial starts from record 0\n"
           "  --shrink N         then shrink one catch of each mutant (replayproof shrink,\n"
           "                     budget N replays) into out/shrink/MUTANT/\n"
           "  --depth N          stop a mutant's row once N scenarios caught it (its\n"
           "                     other cells are not run: '.'); the gate uses 2\n"
           "  --cells N          cells (and shrinks) side by side, each in a process of its\n"
           "                     own with -j trials (default: online CPUs)\n"
           "  -q, --quiet        no progress lines; the matrix only\n"
           "  --no-fork-server   every trial process by fork+exec (as for run)\n"
           "First every scenario runs unmodified (the baseline: it must pass), then each\n"
           "mutant x scenario cell with REFPIPE_UNSAFE=MUTANT added to the pipeline's env.\n"
           "exit status: 0 every mutant is caught by at least 2 scenarios (kill depth >= 2;\n"
           "without --strict, a power-cut-only mutant is not counted while no scenario has a\n"
           "power-cut model: 'needs power-cut model'); 1 a mutant survived or has depth 1;\n"
           "2 usage or scenario error; 3 the harness failed or a scenario fails without a\n"
           "mutant.\n";
}

static int store_cell(hn_res *db, int64_t run_id, const hn_mutant *m, const hn_scenario *sc,
                      const hn_mut_cell *c, pl_errbuf *eb)
{
    hn_res_mutant row = {
        m->name, sc->name, sc->path,
        c->outcome == HN_MUT_CAUGHT ? "caught"
        : c->outcome == HN_MUT_NEEDS_POWER_CUT ? "needs-power-cut" : "survived",
        c->verdict, c->how, c->trials, c->ms, c->reproduce, c->detail};
    return hn_res_mutant_add(db, run_id, &row, eb);
}

/* What the matrix's callbacks need (the parent's side of the workers). */
typedef struct mut_ctx {
    const hn_scenario *scs;
    const hn_mutant *ms;
    hn_res *db;
    int64_t run_id;
    int quiet;
    int bad;  /* baseline: the scenario that failed, -1 */
} mut_ctx;

static int baseline_done(void *ctx, int i, int j, const hn_mut_cell *c)
{
    mut_ctx *m = ctx;
    (void)i;
    if (c->notice[0])
        notice_stderr(NULL, &m->scs[j], c->notice);
    if (c->outcome == HN_MUT_CAUGHT) {
        /* the other scenarios are not worth waiting for */
        m->bad = j;
        return -ECANCELED;
    }
    if (!m->quiet)
        fprintf(stderr, "baseline %s: converged, %d trials, %lld.%03lld s\n", m->scs[j].name,
                c->trials, (long long)(c->ms / 1000), (long long)(c->ms % 1000));
    return 0;
}

static int cell_done(void *ctx, int i, int j, const hn_mut_cell *c)
{
    mut_ctx *m = ctx;
    if (c->notice[0])
        notice_stderr(NULL, &m->scs[j], c->notice);
    if (!m->quiet)
        fprintf(stderr, "%s x %s: %s%s (%d trials, %lld.%03lld s)\n", m->ms[i].name,
                m->scs[j].name, c->outcome == HN_MUT_CAUGHT ? "caught, " : "not caught",
                c->outcome == HN_MUT_CAUGHT ? c->verdict : "", c->trials,
                (long long)(c->ms / 1000), (long long)(c->ms % 1000));
    return 0;
}

/* One catch of each mutant (the first scenario that caught it) shrunk into
 * out/shrink/MUTANT/: the variant goes into the scenario's env, so the
 * shrunk scenario reproduces on its own.  The shrinks are independent (each
 * its own output dir and work dir): they run side by side in worker
 * processes (hn_fpool.h), the costliest scenarios' first, and are printed
 * and stored in the order of the mutants. */
typedef struct shrink_res {
    int ret;             /* < 0: a harness failure (eb) */
    int skipped;         /* not shrunk: a golden-phase verdict other than batch's */
    int trial;           /* shrunk as a trial (not as a batch disagreement) */
    pl_errbuf eb;
    hn_shrink_result res;
} shrink_res;

typedef struct shrink_ctx {
    const hn_mutant *ms;
    const hn_scenario *scs;
    int nsc;
    const hn_mut_cell *cells;
    int budget;
    const char *workdir;
    hn_res *db;
    int64_t run_id;
    int *task_m, *task_j; /* task -> mutant, scenario (tasks in the mutants' order) */
    int *start;           /* the tasks in the order they start */
    int ntasks, next;
    shrink_res *res;      /* per task */
    char *have;           /* per task: its result arrived */
    int printed;          /* tasks printed so far, in order */
} shrink_ctx;

static int shrink_next(void *ctx)
{
    shrink_ctx *x = ctx;
    return x->next < x->ntasks ? x->start[x->next++] : HN_FPOOL_DONE;
}

/* The trial verdict named name, or 0 (converged: no failure to go by). */
static int verdict_by_name(const char *name)
{
    for (int v = 1; v < HN_V__COUNT; v++)
        if (!strcmp(hn_verdict_name(v), name))
            return v;
    return 0;
}

static void shrink_run(void *ctx, int task, void *out)
{
    shrink_ctx *x = ctx;
    shrink_res *sr = out;
    int i = x->task_m[task], j = x->task_j[task];
    const hn_mut_cell *c = &x->cells[(size_t)i * x->nsc + j];
    hn_scenario *sc = malloc(sizeof *sc);
    hn_shrink_opts so;
    hn_trial t;
    char dir[4096], work[4096];
    if (!sc) {
        sr->ret = pl_err(&sr->eb, -ENOMEM, "out of memory");
        return;
    }
    *sc = x->scs[j];
    snprintf(sc->env[sc->nenv++], sizeof sc->env[0], "REFPIPE_UNSAFE=%s", x->ms[i].name);
    memset(&so, 0, sizeof so);
    so.budget = x->budget;
    so.stop = &stop_flag;
    /* a trial catch is a schedule; a golden-phase catch is shrunk as a batch
     * disagreement (other golden-phase verdicts are not shrunk) */
    if (c->trials > 0 && hn_run_trial_parse(c->how, &t, &sr->eb) == 0) {
        so.trial = &t;
        /* the cell saw its verdict: no replay of the original scenario to learn
         * it again (the CSV form is replayed and must fail the same way) */
        so.known_verdict = verdict_by_name(c->verdict);
        sr->trial = 1;
    } else if (strcmp(c->verdict, hn_sc_verdict_name(HN_SC_BATCH_DISAGREES))) {
        sr->skipped = 1;
        free(sc);
        return;
    }
    snprintf(dir, sizeof dir, "out/shrink/%s", x->ms[i].name);
    snprintf(work, sizeof work, "%s/rp-shrink-XXXXXX",
             x->workdir ? x->workdir : hn_run_default_base());
    if (!mkdtemp(work)) {
        sr->ret = pl_err_os(&sr->eb, errno, "%s", work);
        free(sc);
        return;
    }
    so.outdir = dir;
    so.workdir = work;
    sr->ret = hn_shrink(sc, &so, &sr->res, &sr->eb);
    rmdir(work);
    free(sc);
}

/* Print and store one shrink's result. */
static int shrink_report(const shrink_ctx *x, int task)
{
    const shrink_res *sr = &x->res[task];
    const hn_shrink_result *res = &sr->res;
    int i = x->task_m[task], j = x->task_j[task], ret;
    char repro[2 * 4096 + HN_TRIAL_SPEC_MAX];
    pl_errbuf eb = {{0}};
    if (sr->skipped) {
        printf("%s: not shrunk (%s)\n", x->ms[i].name, x->cells[(size_t)i * x->nsc + j].verdict);
        return 0;
    }
    if (!res->reproduced) {
        printf("%s x %s: did not reproduce in CSV form (%s)\n", x->ms[i].name, x->scs[j].name,
               res->verdict);
        return 0;
    }
    snprintf(repro, sizeof repro, "bin/replayproof %s %s%s%s",
             sr->trial ? "replay" : "run --budget 1", res->scenario,
             sr->trial ? " --trial " : "", sr->trial ? res->trial : "");
    printf("%s x %s (%s): records %lld -> %lld, partitions %d -> %d, symbols %d -> %d, "
           "aggregations %d -> %d; %d replays%s\n   %s\n",
           x->ms[i].name, x->scs[j].name, res->verdict, (long long)res->records0,
           (long long)res->records, res->partitions0, res->partitions, res->symbols0,
           res->symbols, res->aggs0, res->aggs, res->attempts,
           res->budget_exhausted ? " (budget ended first: not minimal)" : "", repro);
    fflush(stdout);
    {
        /* stored with the run: the scenario, its CSV and the command */
        char *sct = rp_read_file(res->scenario, 1 << 20), *csv = rp_read_file(res->csv, 16 << 20);
        hn_res_shrink row = {x->ms[i].name, x->scs[j].name, res->verdict, res->records0,
                             res->records, res->partitions0, res->partitions, res->symbols0,
                             res->symbols, res->aggs0, res->aggs, res->faults0, res->faults,
                             res->attempts, res->budget_exhausted, res->scenario, sct,
                             res->csv, csv, sr->trial ? res->trial : NULL, repro};
        ret = hn_res_shrink_add(x->db, x->run_id, &row, &eb);
        free(sct);
        free(csv);
        if (ret < 0)
            fprintf(stderr, "replayproof mutants: %s\n", eb.msg);
    }
    return ret;
}

static int shrink_done(void *ctx, int task, const void *out)
{
    shrink_ctx *x = ctx;
    int ret = 0;
    x->res[task] = *(const shrink_res *)out;
    x->have[task] = 1;
    if (x->res[task].ret < 0) {
        fprintf(stderr, "replayproof mutants: shrinking %s: %s\n", x->ms[x->task_m[task]].name,
                x->res[task].eb.msg);
        return x->res[task].ret;
    }
    /* in the mutants' order, as soon as the ones before it are there */
    while (ret == 0 && x->printed < x->ntasks && x->have[x->printed])
        ret = shrink_report(x, x->printed++);
    return ret;
}

static int shrink_catches(const hn_mutant *ms, int nm, const hn_scenario *scs, int nsc,
                          const hn_mut_cell *cells, const int64_t *cost, int budget,
                          int workers, const char *workdir, hn_res *db, int64_t run_id)
{
    shrink_ctx x;
    hn_fpool p;
    pl_errbuf eb = {{0}};
    int ret = 0;

    memset(&x, 0, sizeof x);
    x.ms = ms;
    x.scs = scs;
    x.nsc = nsc;
    x.cells = cells;
    x.budget = budget;
    x.workdir = workdir;
    x.db = db;
    x.run_id = run_id;
    x.task_m = calloc((size_t)nm + 1, sizeof *x.task_m);
    x.task_j = calloc((size_t)nm + 1, sizeof *x.task_j);
    x.start = calloc((size_t)nm + 1, sizeof *x.start);
    x.res = calloc((size_t)nm + 1, sizeof *x.res);
    x.have = calloc((size_t)nm + 1, 1);
    if (!x.task_m || !x.task_j || !x.start || !x.res || !x.have) {
        ret = -ENOMEM;
        goto out;
    }
    for (int i = 0; i < nm; i++) {
        int j = 0;
        while (j < nsc && cells[(size_t)i * nsc + j].outcome != HN_MUT_CAUGHT)
            j++;
        if (j == nsc || scs[j].nenv >= HN_MAX_ENV)
            continue;
        x.task_m[x.ntasks] = i;
        x.task_j[x.ntasks++] = j;
    }
    /* the costliest scenarios' first, so that the last to finish are short
     * ones (insertion sort: stable, the mutants' order among equals) */
    for (int k = 0; k < x.ntasks; k++) {
        int at = k;
        while (at > 0 && cost[x.task_j[x.start[at - 1]]] < cost[x.task_j[k]]) {
            x.start[at] = x.start[at - 1];
            at--;
        }
        x.start[at] = k;
    }
    printf("\n== shrunk reproducers (budget %d replays each)\n", budget);
    fflush(stdout);
    memset(&p, 0, sizeof p);
    p.workers = workers;
    p.res_size = sizeof(shrink_res);
    p.ctx = &x;
    p.next = shrink_next;
    p.run = shrink_run;
    p.done = shrink_done;
    p.stop = &stop_flag;
    ret = hn_fpool_run(&p, &eb);
    if (ret < 0 && ret != -EINTR && eb.msg[0])
        fprintf(stderr, "replayproof mutants: %s\n", eb.msg);
out:
    free(x.task_m);
    free(x.task_j);
    free(x.start);
    free(x.res);
    free(x.have);
    return ret;
}

static int cmd_mutants(int argc, char **argv)
{
    static const struct option lo[] = {
        {"jobs", required_argument, NULL, 'j'},     {"results", required_argument, NULL, O_RESULTS},
        {"workdir", required_argument, NULL, O_WORKDIR}, {"budget", required_argument, NULL, O_BUDGET},
        {"only", required_argument, NULL, O_ONLY},  {"all-trials", no_argument, NULL, O_ALL},
        {"strict", no_argument, NULL, O_STRICT},    {"quiet", no_argument, NULL, 'q'},
        {"shrink", required_argument, NULL, O_SHRINK},
        {"no-fork-server", no_argument, NULL, O_NO_FSRV},
        {"no-early-stop", no_argument, NULL, O_NO_EARLY},
        {"no-snapshots", no_argument, NULL, O_NO_SNAP},
        {"depth", required_argument, NULL, O_DEPTH},
        {"cells", required_argument, NULL, O_CELLS},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    const char *results = "out/results.db", *only = NULL;
    hn_mut_opts mo;
    hn_scenario *scs = NULL;
    hn_mutant *ms = NULL;
    hn_mut_cell *cells = NULL;
    hn_res *db = NULL;
    glob_t gl;
    char **files, bin[4096];
    pl_errbuf eb = {{0}};
    int quiet = 0, strict = 0, opt, nsc, nm = 0, status = 0, rc, have_glob = 0, shrink = 0;
    int depth = 0, cells_at_once = hn_run_online_cpus();
    hn_mut_matrix mx;
    mut_ctx mc;
    hn_mut_cell *bl = NULL;
    int64_t *cost = NULL;

    memset(&mo, 0, sizeof mo);
    memset(&mc, 0, sizeof mc);
    hn_run_opts_init(&mo.run);
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":j:qh", lo, NULL)) != -1) {
        switch (opt) {
        case 'j':
            if (parse_count("mutants", "-j", optarg, 1, &mo.run.jobs) < 0)
                return 2;
            break;
        case O_RESULTS:
            results = optarg;
            break;
        case O_WORKDIR:
            mo.run.workdir = optarg;
            break;
        case O_BUDGET:
            if (parse_count("mutants", "--budget", optarg, 1, &mo.run.budget) < 0)
                return 2;
            break;
        case O_ONLY:
            only = optarg;
            break;
        case O_ALL:
            mo.all_trials = 1;
            break;
        case O_STRICT:
            strict = 1;
            break;
        case O_NO_EARLY:
            mo.run.no_early_stop = 1;
            break;
        case O_NO_SNAP:
            mo.run.no_snapshots = 1;
            break;
        case O_SHRINK:
            if (parse_count("mutants", "--shrink", optarg, 1, &shrink) < 0)
                return 2;
            break;
        case O_DEPTH:
            if (parse_count("mutants", "--depth", optarg, 1, &depth) < 0)
                return 2;
            break;
        case O_CELLS:
            if (parse_count("mutants", "--cells", optarg, 1, &cells_at_once) < 0)
                return 2;
            break;
        case O_NO_FSRV:
            mo.run.no_fork_server = 1;
            break;
        case 'q':
            quiet = 1;
            break;
        default:
            return other_option("mutants", opt, argv);
        }
    }
    nsc = argc - optind;
    files = argv + optind;
    if (nsc == 0) {
        if (glob("scenarios/*.ini", 0, NULL, &gl) != 0 || gl.gl_pathc == 0) {
            fprintf(stderr, "replayproof mutants: no scenario given and no scenarios/*.ini here\n");
            return 2;
        }
        have_glob = 1;
        nsc = (int)gl.gl_pathc;
        files = gl.gl_pathv;
    }
    scs = calloc((size_t)nsc, sizeof *scs);
    if (!scs) {
        fprintf(stderr, "replayproof mutants: out of memory\n");
        status = 3;
        goto out;
    }
    for (int i = 0; i < nsc; i++) {
        if (hn_scenario_load(files[i], &scs[i], &eb) < 0) {
            fprintf(stderr, "%s\n", eb.msg);
            status = 2;
            goto out;
        }
    }
    for (int i = 0; i < nsc; i++)
        for (int k = 0; k < scs[i].nenv; k++)
            if (!strncmp(scs[i].env[k], "REFPIPE_UNSAFE=", 15)) {
                fprintf(stderr, "replayproof mutants: %s: sets REFPIPE_UNSAFE itself; the "
                        "matrix needs scenarios without a variant\n", scs[i].path);
                status = 2;
                goto out;
            }
    /* the variants of the first scenario's pipeline; every scenario must
     * name the same one, or a cell would select a name another build lacks */
    for (int i = 0; i < nsc; i++) {
        char b[4096];
        if (hn_scenario_binary_path(&scs[i], i ? b : bin, sizeof bin, &eb) < 0) {
            fprintf(stderr, "replayproof mutants: %s\n", eb.msg);
            status = 2;
            goto out;
        }
        if (i && strcmp(b, bin)) {
            fprintf(stderr, "replayproof mutants: %s runs %s, %s runs %s: one pipeline at a "
                    "time\n", scs[0].path, bin, scs[i].path, b);
            status = 2;
            goto out;
        }
    }
    if (hn_mut_list(bin, &ms, &nm, &eb) < 0) {
        fprintf(stderr, "replayproof mutants: %s\n", eb.msg);
        status = 2;
        goto out;
    }
    if (only) {
        int k = 0;
        for (const char *p = only; *p;) {
            size_t n = strcspn(p, ",");
            int found = 0;
            for (int i = 0; i < nm; i++)
                if (strlen(ms[i].name) == n && !strncmp(ms[i].name, p, n))
                    found = 1;
            if (!found) {
                fprintf(stderr, "replayproof mutants: --only: '%.*s' is not a variant of %s "
                        "(%s unsafe lists them)\n", (int)n, p, bin, bin);
                status = 2;
                goto out;
            }
            p += n + (p[n] == ',');
        }
        for (int i = 0; i < nm; i++) {
            size_t n = strlen(ms[i].name);
            const char *hit = strstr(only, ms[i].name);
            while (hit && !((hit == only || hit[-1] == ',') && (hit[n] == 0 || hit[n] == ',')))
                hit = strstr(hit + 1, ms[i].name);
            if (hit)
                ms[k++] = ms[i];
        }
        nm = k;
    }
    if (nm == 0) {
        fprintf(stderr, "replayproof mutants: %s lists no variants\n", bin);
        status = 2;
        goto out;
    }
    cells = calloc((size_t)nm * (size_t)nsc, sizeof *cells);
    rc = cells ? open_results(results, argc, argv, &db, &mo.run.run_id, &eb)
               : pl_err(&eb, -ENOMEM, "out of memory");
    if (rc < 0) {
        fprintf(stderr, "replayproof mutants: %s\n", eb.msg);
        status = 3;
        goto out;
    }
    catch_stop_signals();

    /* the baseline: a scenario that fails without a mutant catches nothing */
    bl = calloc((size_t)nsc, sizeof *bl);
    cost = calloc((size_t)nsc, sizeof *cost);
    if (!bl || !cost) {
        fprintf(stderr, "replayproof mutants: out of memory\n");
        status = 3;
        goto end;
    }
    memset(&mx, 0, sizeof mx);
    mx.scs = scs;
    mx.nsc = nsc;
    mx.cells = cells_at_once;
    mx.done = baseline_done;
    mx.ctx = &mc;
    mc.scs = scs;
    mc.quiet = quiet;
    mc.bad = -1;
    rc = hn_mut_run_matrix(&mx, &mo, &stop_flag, bl, &eb);
    if (rc < 0 || mc.bad >= 0) {
        const hn_mut_cell *c = mc.bad >= 0 ? &bl[mc.bad] : NULL;
        if (c)
            fprintf(stderr, "replayproof mutants: %s: fails without a mutant (baseline); fix it "
                    "first\n   %s %s: %s\n   %s\n", scs[mc.bad].path, c->verdict, c->how,
                    c->detail, c->reproduce);
        else
            fprintf(stderr, "replayproof mutants: %s\n", eb.msg);
        status = !c && pl_err_is_input(rc) ? 2 : 3;
        goto end;
    }
    /* what a whole run of each scenario took orders the cells */
    for (int j = 0; j < nsc; j++)
        cost[j] = bl[j].ms;
    mx.ms = ms;
    mx.nm = nm;
    mx.depth = depth;
    mx.cost = cost;
    mx.done = cell_done;
    mc.ms = ms;
    mc.db = db;
    mc.run_id = mo.run.run_id;
    rc = hn_mut_run_matrix(&mx, &mo, &stop_flag, cells, &eb);
    /* stored in the matrix's order (a report lists them so), also the cells
     * that finished before an interruption */
    for (int i = 0; i < nm; i++)
        for (int j = 0; j < nsc; j++) {
            const hn_mut_cell *c = &cells[(size_t)i * nsc + j];
            pl_errbuf seb = {{0}};
            if (c->outcome != HN_MUT_NOT_RUN &&
                store_cell(db, mo.run.run_id, &ms[i], &scs[j], c, &seb) < 0) {
                fprintf(stderr, "replayproof mutants: %s x %s: %s\n", ms[i].name, scs[j].path,
                        seb.msg);
                status = 3;
                goto end;
            }
        }
    if (rc < 0) {
        fprintf(stderr, "replayproof mutants: %s\n", eb.msg);
        status = 3;
        goto end;
    }
    hn_mut_print(stdout, ms, nm, scs, nsc, cells);
    {
        int weak = 0, pc = 0, have_pc = 0;
        for (int j = 0; j < nsc; j++)
            have_pc += scs[j].npc_models > 0;
        for (int i = 0; i < nm; i++) {
            if (hn_mut_depth(cells, nsc, i) >= 2)
                continue;
            /* excused only while no scenario can cut the power at all */
            if (ms[i].power_cut_only && !strict && !have_pc)
                pc++;
            else
                weak++;
        }
        printf("== %d mutant%s, %d with kill depth < 2", nm, nm == 1 ? "" : "s", weak);
        if (pc)
            printf(", %d not counted: only a power cut reveals them and no scenario has a "
                   "power-cut model (--strict counts them)", pc);
        printf("\n");
        status = weak ? 1 : 0;
    }
    if (shrink &&
        shrink_catches(ms, nm, scs, nsc, cells, cost, shrink, cells_at_once, mo.run.workdir, db,
                       mo.run.run_id) < 0)
        status = 3;
end:
    printf("exit status %d; results in %s (run %lld, table mutants)\n", status, results,
           (long long)mo.run.run_id);
    if (hn_res_run_end(db, mo.run.run_id, status, &eb) < 0) {
        fprintf(stderr, "replayproof mutants: %s\n", eb.msg);
        status = 3;
    }
out:
    hn_res_close(db);
    free(cells);
    free(bl);
    free(cost);
    free(ms);
    free(scs);
    if (have_glob)
        globfree(&gl);
    return status;
}

/* ---------------------------------------------------------------- shrink */

static const char *shrink_options(void)
{
    return "  --trial SCHEDULE   the failing trial (as printed by run); without it, the\n"
           "                     golden run's disagreement with batch is shrunk\n"
           "  --budget N         replays at most (default 200)\n"
           "  --out DIR          where NAME-shrunk.ini and NAME-shrunk.csv go (default\n"
           "                     out/shrink)\n"
           "  --workdir DIR      where the replays' work dirs go (default as for run)\n"
           "Reductions, each kept only while the failure stays the same (the same trial\n"
           "verdict, or batch disagreeing on the same table): fewer faults, fewer\n"
           "aggregations, the shortest failing log prefix, fewer partitions, fewer symbols,\n"
           "the prefix again.  Deterministic for a deterministic failure.\n"
           "exit status: 0 shrunk (or the budget ended first: said so); 1 the failure does\n"
           "not reproduce; 2 usage or scenario error; 3 the harness failed.\n";
}

static void shrink_note(void *ctx, const char *line)
{
    fprintf(ctx, "%s\n", line);
}

static int cmd_shrink(int argc, char **argv)
{
    static const struct option lo[] = {{"trial", required_argument, NULL, O_TRIAL},
                                       {"budget", required_argument, NULL, O_BUDGET},
                                       {"out", required_argument, NULL, O_OUT},
                                       {"workdir", required_argument, NULL, O_WORKDIR},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    const char *spec = NULL, *outdir = "out/shrink", *base = NULL, *unsafe;
    hn_shrink_opts so;
    hn_shrink_result res;
    hn_scenario *sc;
    hn_trial t;
    pl_errbuf eb = {{0}};
    char work[4096] = "";
    int opt, rc, budget = 200, quiet = 0, status;

    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":qh", lo, NULL)) != -1) {
        switch (opt) {
        case O_TRIAL:
            spec = optarg;
            break;
        case O_BUDGET:
            if (parse_count("shrink", "--budget", optarg, 1, &budget) < 0)
                return 2;
            break;
        case O_OUT:
            outdir = optarg;
            break;
        case O_WORKDIR:
            base = optarg;
            break;
        case 'q':
            quiet = 1;
            break;
        default:
            return other_option("shrink", opt, argv);
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "replayproof shrink: expected one scenario (usage: %s)\n",
                find_cmd("shrink")->usage);
        return 2;
    }
    if (workdir_ok("shrink", base) < 0)
        return 2;
    if (spec && hn_run_trial_parse(spec, &t, &eb) < 0) {
        fprintf(stderr, "replayproof shrink: %s\n", eb.msg);
        return 2;
    }
    sc = malloc(sizeof *sc);
    if (!sc) {
        fprintf(stderr, "replayproof shrink: out of memory\n");
        return 3;
    }
    if (hn_scenario_load(argv[optind], sc, &eb) < 0) {
        fprintf(stderr, "%s\n", eb.msg);
        free(sc);
        return 2;
    }
    /* the replays' work dirs are removed: tmpfs when there is one, as for run */
    if (!base)
        base = hn_run_default_base();
    snprintf(work, sizeof work, "%s/rp-shrink-XXXXXX", base);
    if (pl_fs_mkdir_p(base, &eb) < 0 || !mkdtemp(work)) {
        fprintf(stderr, "replayproof shrink: work dir under %s: %s\n", base,
                eb.msg[0] ? eb.msg : strerror(errno));
        free(sc);
        return 3;
    }
    memset(&so, 0, sizeof so);
    so.outdir = outdir;
    so.workdir = work;
    so.budget = budget;
    so.trial = spec ? &t : NULL;
    so.note = quiet ? NULL : shrink_note;
    so.note_ctx = stderr;
    so.stop = &stop_flag;
    catch_stop_signals();
    rc = hn_shrink(sc, &so, &res, &eb);
    rmdir(work);
    if (rc < 0) {
        fprintf(stderr, "replayproof shrink: %s\n", eb.msg);
        free(sc);
        return 3;
    }
    if (!res.reproduced) {
        printf("not reproduced: %s (%d replays); nothing written\n", res.verdict, res.attempts);
        free(sc);
        return 1;
    }
    printf("shrunk %s (%s): records %lld -> %lld, partitions %d -> %d, symbols %d -> %d, "
           "aggregations %d -> %d", sc->path, res.verdict, (long long)res.records0,
           (long long)res.records, res.partitions0, res.partitions, res.symbols0, res.symbols,
           res.aggs0, res.aggs);
    if (spec)
        printf(", faults %d -> %d", res.faults0, res.faults);
    printf("; %d replays of a budget of %d%s\n", res.attempts, budget,
           res.budget_exhausted ? ": the budget ended first, so this is smaller but not "
                                  "minimal" : "");
    printf("scenario: %s\nlog:      %s\nreproduce: ", res.scenario, res.csv);
    unsafe = getenv("REFPIPE_UNSAFE");
    if (unsafe && *unsafe)
        printf("REFPIPE_UNSAFE=%s ", unsafe);
    if (spec)
        printf("bin/replayproof replay %s --trial %s\n", res.scenario, res.trial);
    else
        printf("bin/replayproof run --budget 1 %s\n", res.scenario);
    status = 0;
    free(sc);
    return status;
}

/* ---------------------------------------------------------------- report */

static const char *report_options(void)
{
    return "  RUN                a run number of the results database, or a run dir\n"
           "                     (out/runs/latest), or a results database (MERGED.db: its\n"
           "                     newest run); default: the last run\n"
           "  -o, --output DIR   write there instead of the run's own run dir (a merge's:\n"
           "                     the one `merge` made beside MERGED.db)\n"
           "  --results PATH     results database (default out/results.db)\n"
           "Writes index.html, junit.xml and summary.md (docs/reports.md).\n"
           "exit status: 0 written; 1 the files could not be written; 2 no such run or\n"
           "database, or bad usage.\n";
}

static int cmd_report(int argc, char **argv)
{
    static const struct option lo[] = {{"output", required_argument, NULL, 'o'},
                                       {"results", required_argument, NULL, O_RESULTS},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    const char *results = "out/results.db", *outdir = NULL, *run = NULL;
    pl_errbuf eb = {{0}};
    struct stat sb;
    int64_t run_id = 0;
    int opt, rc, results_given = 0;

    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":o:h", lo, NULL)) != -1) {
        switch (opt) {
        case 'o':
            outdir = optarg;
            break;
        case O_RESULTS:
            results = optarg;
            results_given = 1;
            break;
        default:
            return other_option("report", opt, argv);
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "replayproof report: more than one run given (usage: %s)\n",
                find_cmd("report")->usage);
        return 2;
    }
    if (argc - optind == 1)
        run = argv[optind];
    if (run && run[0] && strspn(run, "0123456789") == strlen(run)) {
        char *end;
        errno = 0;
        run_id = (int64_t)strtoll(run, &end, 10);
        if (errno || run_id <= 0) {
            fprintf(stderr, "replayproof report: run '%s': expected a run number >= 1 or a "
                    "run dir\n", run);
            return 2;
        }
    } else if (run && stat(run, &sb) == 0 && S_ISREG(sb.st_mode)) {
        /* a database (a merge's, say): its newest run */
        if (results_given) {
            fprintf(stderr, "replayproof report: %s is a file and --results %s names the "
                    "database too: give one\n", run, results);
            return 2;
        }
        results = run;
    } else if (run) {
        char abs[PATH_MAX];
        if (!realpath(run, abs)) {
            fprintf(stderr, "replayproof report: run dir %s: %s\n", run, strerror(errno));
            return 2;
        }
        if (rp_model_find_run(results, abs, &run_id, &eb) < 0) {
            fprintf(stderr, "replayproof report: %s\n", eb.msg);
            return 2;
        }
    }
    rc = write_report(results, run_id, outdir);
    return rc < 0 ? exit_for(rc) : 0;
}

/* ----------------------------------------------------------------- merge */

static const char *merge_options(void)
{
    return "  -o, --output PATH  the merged database; must not exist (written under a\n"
           "                     temporary name and renamed when complete)\n"
           "  --keep-runs N      run dirs kept beside MERGED.db, as for run (never the\n"
           "                     merge's own or a shard's it uses); 0 keeps all (20)\n"
           "The newest run of each SHARD.db must be a finished `replayproof run --shard I/N`\n"
           "of the same suite: same N, distinct I, same scenarios, plans and files.  A\n"
           "missing shard is allowed and recorded as incomplete coverage.  Then\n"
           "`replayproof report --results MERGED.db` writes its report into the merge's\n"
           "run dir, runs/<UTC time>-<id>/ beside MERGED.db (and `latest`); -o DIR elsewhere.\n"
           "exit status: 0 every scenario converged and no shard is missing; 1 a failure\n"
           "in the merged verdicts, or a shard missing; 2 usage, an input that is not a\n"
           "shard of the suite, a duplicate shard, or MERGED.db exists (nothing written);\n"
           "3 a scenario's verdict is error, or the merge failed; 4 an I/O failure.\n";
}

static int cmd_merge(int argc, char **argv)
{
    static const struct option lo[] = {{"output", required_argument, NULL, 'o'},
                                       {"keep-runs", required_argument, NULL, O_KEEP_RUNS},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    const char *out = NULL;
    hn_merge_info info;
    pl_errbuf eb = {{0}};
    rp_run *m = NULL;
    char **words;
    int opt, rc, keep_runs = HN_RUNDIR_KEEP_RUNS;

    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":o:h", lo, NULL)) != -1) {
        switch (opt) {
        case 'o':
            out = optarg;
            break;
        case O_KEEP_RUNS:
            if (parse_count("merge", "--keep-runs", optarg, 0, &keep_runs) < 0)
                return 2;
            break;
        default:
            return other_option("merge", opt, argv);
        }
    }
    if (!out || optind >= argc) {
        fprintf(stderr, "replayproof merge: %s (usage: %s)\n",
                out ? "no shard database" : "no output (-o MERGED.db)", find_cmd("merge")->usage);
        return 2;
    }
    /* the command line as typed: argv[-1] is main's "replayproof" slot */
    words = malloc((size_t)(argc + 1) * sizeof *words);
    if (!words) {
        fprintf(stderr, "replayproof merge: out of memory\n");
        return 3;
    }
    words[0] = "replayproof";
    memcpy(words + 1, argv, (size_t)argc * sizeof *words);
    rc = hn_merge((const char *const *)argv + optind, argc - optind, out, keep_runs, argc + 1,
                  words, &info, &eb);
    free(words);
    if (rc < 0)
        return fail("merge", rc, &eb);
    printf("merged %d of %d shard%s into %s: %d scenario%s, %lld of %lld planned trials run\n",
           info.merged, info.shards, info.shards == 1 ? "" : "s", out, info.nscenarios,
           info.nscenarios == 1 ? "" : "s", (long long)info.run_trials,
           (long long)info.plan_trials);
    if (info.missing[0])
        printf("incomplete coverage: shard%s %s of %d missing\n",
               strchr(info.missing, ',') ? "s" : "", info.missing, info.shards);
    if (rp_model_load(out, 0, &m, &eb) == 0) {
        for (int i = 0; i < m->nscn; i++)
            printf("  %s: %s, %lld trials, %d failed\n", m->scn[i].name, m->scn[i].verdict,
                   (long long)m->scn[i].run, m->scn[i].nfailed);
        rp_model_free(m);
    }
    printf("run dir: %s\n", rel(info.run_dir));
    {
        char runs[PATH_MAX], *slash;
        snprintf(runs, sizeof runs, "%s", info.run_dir);
        if ((slash = strrchr(runs, '/')))
            *slash = 0;
        said_pruned("merge", info.pruned, &info.prune_eb, rel(runs), keep_runs);
    }
    printf("exit status %d; report: %s report --results %s (writes into the run dir)\n",
           info.exit_status, "replayproof", out);
    return info.exit_status;
}

/* ------------------------------------------------------------------ help */

static int cmd_help(int argc, char **argv)
{
    const rp_cmd *c;
    if (argc < 2) {
        overview(stdout);
        return 0;
    }
    c = find_cmd(argv[1]);
    if (!c) {
        fprintf(stderr, "replayproof help: unknown command '%s'\n", argv[1]);
        return 2;
    }
    cmd_usage(stdout, c);
    return 0;
}

int main(int argc, char **argv)
{
    const rp_cmd *c;

    if (argc < 2) {
        overview(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        overview(stdout);
        return 0;
    }
    c = find_cmd(argv[1]);
    if (!c) {
        fprintf(stderr, "replayproof: unknown command '%s' (try 'replayproof help')\n",
                argv[1]);
        return 2;
    }
    return c->run(argc - 1, argv + 1);
}
