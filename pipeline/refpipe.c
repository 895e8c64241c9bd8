/*
 * refpipe.c - the reference pipeline's command line.
 *
 *   refpipe import [--partitions N] [--keep-cr] [--allow-empty] TICKS.csv LOGDIR
 *   refpipe cat LOGDIR
 *   refpipe run LOGDIR STATEDIR [options]
 *   refpipe export STATEDIR OUTDIR
 *   refpipe batch LOGDIR OUTDIR [options]
 *   refpipe faults
 *
 * Only this file prints or exits.  Exit status: 0 success; 1 export found
 * sink conflicts; 2 bad input (usage, malformed or corrupt input, missing
 * path, configuration mismatch, locked state dir, export of a partial run
 * without --allow-partial); 3 internal failure;
 * 4 I/O failure (a write, fsync or commit failed: the state dir holds the
 * last good checkpoint and a restart recovers).
 */
#include <errno.h>
#include <fiu-local.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_batch.h"
#include "pl_config.h"
#include "pl_err.h"
#include "pl_log.h"
#include "pl_run.h"
#include "pl_sink.h"
#include "pl_unsafe.h"

enum { EX_OK = 0, EX_CONFLICT = 1, EX_INPUT = 2, EX_INTERNAL = 3, EX_IO = 4 };

static const char *usage_text =
    "usage: refpipe [--unsafe=NAME[,NAME...]] COMMAND [ARGS]\n"
    "  import [--partitions N] [--keep-cr] [--allow-empty] TICKS.csv LOGDIR\n"
    "                                             build a log from interchange CSV\n"
    "  cat LOGDIR                                 write the log as interchange CSV\n"
    "  run LOGDIR STATEDIR [OPTIONS]              stream the log into STATEDIR (resumes)\n"
    "  export [--allow-partial] STATEDIR OUTDIR   write bars.csv late.csv dlq.csv, print digests\n"
    "  batch LOGDIR OUTDIR [OPTIONS]              offline recomputation of the same tables\n"
    "  faults                                     list the fail points of the fault build\n"
    "  unsafe                                     list the broken variants of the fault build\n"
    "options for run and batch:\n"
    "  --agg NAME=SPEC        tumbling:SIZE sliding:SIZE:SLIDE ticks:N volume:V dollar:D\n"
    "                         (repeatable; default " PL_DEFAULT_AGG ")\n"
    "  --max-delay DUR        out-of-orderness bound B (default 1s)\n"
    "  --idle-timeout DUR     idleness timeout I in log time, 0 = off (default 10s)\n"
    "run only:\n"
    "  --checkpoint-every N   records per commit cycle (default 1000000)\n"
    "  --discard-state        drop state written under another configuration or log\n"
    "  --quiet                no recovery notes on stderr\n"
    "  --record-digests FILE  write the digests of every checkpoint to FILE\n"
    "  --stop-when-converged FILE\n"
    "                         stop at the first checkpoint whose digests equal a line of\n"
    "                         FILE (written by --record-digests); prints\n"
    "                         'converged-early position=P stopped=yes' on stdout\n"
    "  --check-converged FILE the same check, but run to the end (stopped=no)\n"
    "  --trust-sink-digest    keep the sink digest in the sink and start from the one\n"
    "                         recorded there instead of reading every row; only for a\n"
    "                         state dir that nothing but kills and runs with this option\n"
    "                         touched (a test harness's kill trials)\n"
    "--unsafe (fault build only; also REFPIPE_UNSAFE=NAME[,NAME...]) selects deliberately\n"
    "broken variants, for proving that a test harness catches them.\n"
    "DUR is an integer with an optional unit ns us ms s m h (bare = ns).\n";

static int exit_for(int rc)
{
    if (rc == 0)
        return EX_OK;
    if (rc == PL_ECONFLICT)
        return EX_CONFLICT;
    if (pl_err_is_input(rc))
        return EX_INPUT;
    /* a file system remounted read-only after an error refuses writes: an
     * I/O failure too, not a fault of refpipe */
    if (rc == PL_EIO || rc == -EIO || rc == -ENOSPC || rc == -EDQUOT || rc == -EROFS ||
        rc == PL_EDB)
        return EX_IO;
    return EX_INTERNAL;
}

static int fail(const char *cmd, int rc, const pl_errbuf *eb)
{
    const char *m = eb->msg[0] ? eb->msg : pl_strerror(rc);
    size_t n = strlen(cmd);
    /* library messages name their step ("export: ..."); the prefix names it already */
    if (strncmp(m, cmd, n) == 0 && m[n] == ':' && m[n + 1] == ' ')
        m += n + 2;
    fprintf(stderr, "refpipe %s: %s\n", cmd, m);
    return exit_for(rc);
}

static int usage_error(const char *cmd, const char *msg)
{
    fprintf(stderr, "refpipe %s: %s (see refpipe --help)\n", cmd, msg);
    return EX_INPUT;
}

static int parse_u64(const char *s, unsigned long long max, unsigned long long *out)
{
    unsigned long long v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v > (max - (unsigned)(*s - '0')) / 10)
            return -1;
        v = v * 10 + (unsigned)(*s - '0');
    }
    *out = v;
    return 0;
}

enum { OPT_AGG = 1000, OPT_DELAY, OPT_IDLE, OPT_EVERY, OPT_DISCARD, OPT_QUIET, OPT_PARTS,
       OPT_KEEP_CR, OPT_ALLOW_EMPTY, OPT_PARTIAL, OPT_RECORD_DIG, OPT_STOP_CONV,
       OPT_CHECK_CONV, OPT_TRUST_DIG };

static const struct option long_opts[] = {
    { "agg", required_argument, NULL, OPT_AGG },
    { "max-delay", required_argument, NULL, OPT_DELAY },
    { "idle-timeout", required_argument, NULL, OPT_IDLE },
    { "checkpoint-every", required_argument, NULL, OPT_EVERY },
    { "discard-state", no_argument, NULL, OPT_DISCARD },
    { "quiet", no_argument, NULL, OPT_QUIET },
    { "partitions", required_argument, NULL, OPT_PARTS },
    { "keep-cr", no_argument, NULL, OPT_KEEP_CR },
    { "allow-empty", no_argument, NULL, OPT_ALLOW_EMPTY },
    { "allow-partial", no_argument, NULL, OPT_PARTIAL },
    { "record-digests", required_argument, NULL, OPT_RECORD_DIG },
    { "stop-when-converged", required_argument, NULL, OPT_STOP_CONV },
    { "check-converged", required_argument, NULL, OPT_CHECK_CONV },
    { "trust-sink-digest", no_argument, NULL, OPT_TRUST_DIG },
    { NULL, 0, NULL, 0 },
};

typedef struct cli {
    const char *cmd;
    pl_config cfg;
    unsigned long long every;
    int discard, quiet, partitions, partial;
    unsigned import_flags; /* PL_IMPORT_* */
    const char *record_digests, *converged_digests;
    int converge_go_on, trust_digest;
    unsigned allowed; /* bit per OPT_ - OPT_AGG */
    char *pos[3];
    int npos;
} cli;

#define ALLOW(o) (1u << ((o) - OPT_AGG))

/* Parse options and positionals for one subcommand.  Returns 0 or an exit status. */
static int parse_cli(cli *c, int argc, char **argv, int want_pos)
{
    pl_errbuf eb = { { 0 } };
    int opt;
    pl_config_init(&c->cfg);
    c->every = PL_DEFAULT_CHECKPOINT_EVERY;
    c->partitions = -1;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
        char msg[512];
        if (opt == 'h') {
            fputs(usage_text, stdout);
            exit(EX_OK);
        }
        if (opt == '?' || opt == ':') {
            if (opt == ':')
                snprintf(msg, sizeof msg, "option '%s' needs a value", argv[optind - 1]);
            else
                snprintf(msg, sizeof msg, "unknown option '%s'", argv[optind - 1]);
            return usage_error(c->cmd, msg);
        }
        if (!(c->allowed & ALLOW(opt))) {
            const char *name = "?";
            for (const struct option *lo = long_opts; lo->name; lo++)
                if (lo->val == opt)
                    name = lo->name;
            snprintf(msg, sizeof msg, "option '--%s' does not apply here", name);
            return usage_error(c->cmd, msg);
        }
        switch (opt) {
        case OPT_AGG:
            if (pl_config_add_agg(&c->cfg, optarg, &eb) < 0)
                return usage_error(c->cmd, eb.msg);
            break;
        case OPT_DELAY:
            if (pl_parse_duration(optarg, "--max-delay", &c->cfg.max_delay, &eb) < 0)
                return usage_error(c->cmd, eb.msg);
            break;
        case OPT_IDLE:
            if (pl_parse_duration(optarg, "--idle-timeout", &c->cfg.idle_timeout, &eb) < 0)
                return usage_error(c->cmd, eb.msg);
            break;
        case OPT_EVERY:
            if (parse_u64(optarg, ULLONG_MAX, &c->every) < 0 || c->every == 0) {
                snprintf(msg, sizeof msg,
                         "--checkpoint-every '%s': expected a positive integer", optarg);
                return usage_error(c->cmd, msg);
            }
            break;
        case OPT_PARTS: {
            unsigned long long n;
            if (parse_u64(optarg, PL_MAX_PARTITIONS, &n) < 0 || n == 0) {
                snprintf(msg, sizeof msg, "--partitions '%s': expected an integer in 1..%d",
                         optarg, PL_MAX_PARTITIONS);
                return usage_error(c->cmd, msg);
            }
            c->partitions = (int)n;
            break;
        }
        case OPT_DISCARD:
            c->discard = 1;
            break;
        case OPT_QUIET:
            c->quiet = 1;
            break;
        case OPT_KEEP_CR:
            c->import_flags |= PL_IMPORT_KEEP_CR;
            break;
        case OPT_ALLOW_EMPTY:
            c->import_flags |= PL_IMPORT_ALLOW_EMPTY;
            break;
        case OPT_PARTIAL:
            c->partial = 1;
            break;
        case OPT_RECORD_DIG:
            c->record_digests = optarg;
            break;
        case OPT_STOP_CONV:
        case OPT_CHECK_CONV:
            if (c->converged_digests)
                return usage_error(c->cmd, "--stop-when-converged and --check-converged "
                                   "exclude each other and are given once");
            c->converged_digests = optarg;
            c->converge_go_on = opt == OPT_CHECK_CONV;
            break;
        case OPT_TRUST_DIG:
            c->trust_digest = 1;
            break;
        }
    }
    c->npos = argc - optind;
    if (c->npos != want_pos) {
        char msg[128];
        snprintf(msg, sizeof msg, "expected %d argument%s, got %d", want_pos,
                 want_pos == 1 ? "" : "s", c->npos);
        return usage_error(c->cmd, msg);
    }
    for (int i = 0; i < c->npos; i++)
        c->pos[i] = argv[optind + i];
    pl_config_finish(&c->cfg);
    return 0;
}

static void print_digests(const pl_digests *d)
{
    printf("%s  bars.csv  %lld rows\n", d->bars, (long long)d->nbars);
    printf("%s  late.csv  %lld rows\n", d->late, (long long)d->nlate);
    printf("%s  dlq.csv  %lld rows\n", d->dlq, (long long)d->ndlq);
}

static void note_stderr(void *ctx, const char *line)
{
    fprintf(stderr, "refpipe run: %s\n", line);
}

static int cmd_import(int argc, char **argv)
{
    cli c = { .cmd = "import",
              .allowed = ALLOW(OPT_PARTS) | ALLOW(OPT_KEEP_CR) | ALLOW(OPT_ALLOW_EMPTY) };
    pl_errbuf eb = { { 0 } };
    uint64_t n = 0;
    int rc = parse_cli(&c, argc, argv, 2);
    if (rc)
        return rc;
    rc = pl_log_import(c.pos[0], c.pos[1], c.partitions, c.import_flags, &n, &eb);
    if (rc < 0)
        return fail(c.cmd, rc, &eb);
    fprintf(stderr, "refpipe import: %llu records into %s\n", (unsigned long long)n, c.pos[1]);
    return EX_OK;
}

static int cmd_cat(int argc, char **argv)
{
    cli c = { .cmd = "cat" };
    pl_errbuf eb = { { 0 } };
    pl_log *log = NULL;
    int rc = parse_cli(&c, argc, argv, 1);
    if (rc)
        return rc;
    rc = pl_log_open(c.pos[0], &log, &eb);
    if (rc < 0)
        return fail(c.cmd, rc, &eb);
    rc = pl_log_cat(log, stdout, &eb);
    pl_log_close(log);
    if (rc == 0 && fflush(stdout) != 0)
        rc = pl_err_os(&eb, errno, "writing standard output");
    if (rc < 0)
        return fail(c.cmd, rc, &eb);
    return EX_OK;
}

static int cmd_run(int argc, char **argv)
{
    cli c = { .cmd = "run",
              .allowed = ALLOW(OPT_AGG) | ALLOW(OPT_DELAY) | ALLOW(OPT_IDLE) |
                         ALLOW(OPT_EVERY) | ALLOW(OPT_DISCARD) | ALLOW(OPT_QUIET) |
                         ALLOW(OPT_RECORD_DIG) | ALLOW(OPT_STOP_CONV) | ALLOW(OPT_CHECK_CONV) |
                         ALLOW(OPT_TRUST_DIG) };
    pl_errbuf eb = { { 0 } };
    pl_run_opts o;
    pl_run_result res;
    int rc = parse_cli(&c, argc, argv, 2);
    if (rc)
        return rc;
    pl_run_opts_init(&o);
    o.logdir = c.pos[0];
    o.statedir = c.pos[1];
    o.cfg = c.cfg;
    o.checkpoint_every = c.every;
    o.discard_state = c.discard;
    o.record_digests = c.record_digests;
    o.converged_digests = c.converged_digests;
    o.converge_go_on = c.converge_go_on;
    o.trust_sink_digest = c.trust_digest;
    if (!c.quiet)
        o.note = note_stderr;
    rc = pl_run(&o, &res, &eb);
    if (rc < 0)
        return fail(c.cmd, rc, &eb);
    if (!c.quiet && res.already_complete)
        fprintf(stderr, "refpipe run: %s already holds a completed run; nothing to do\n",
                o.statedir);
    if (res.converged) {
        /* the one line a harness looks for (docs/cli.md) */
        printf("converged-early position=%llu stopped=%s\n",
               (unsigned long long)res.converged_at, res.stopped_early ? "yes" : "no");
        if (fflush(stdout) != 0)
            return fail(c.cmd, pl_err_os(&eb, errno, "writing standard output"), &eb);
    }
    return EX_OK;
}

static int cmd_export(int argc, char **argv)
{
    cli c = { .cmd = "export", .allowed = ALLOW(OPT_PARTIAL) };
    pl_errbuf eb = { { 0 } };
    pl_digests d;
    int rc = parse_cli(&c, argc, argv, 2);
    if (rc)
        return rc;
    memset(&d, 0, sizeof d);
    rc = pl_sink_export(c.pos[0], c.pos[1], c.partial ? PL_EXPORT_ALLOW_PARTIAL : 0, &d, &eb);
    if ((rc == 0 || rc == PL_ECONFLICT) && d.partial)
        fprintf(stderr, "refpipe export: %s holds a partial run (stopped after record %llu); "
                "exported as asked by --allow-partial\n", c.pos[0],
                (unsigned long long)d.position);
    if (rc == 0 || rc == PL_ECONFLICT)
        print_digests(&d);
    if (rc == PL_ECONFLICT) {
        fprintf(stderr, "refpipe export: %lld conflict%s in %s/sink.db (table conflicts)\n",
                (long long)d.nconflicts, d.nconflicts == 1 ? "" : "s", c.pos[0]);
        return EX_CONFLICT;
    }
    if (rc < 0)
        return fail(c.cmd, rc, &eb);
    return EX_OK;
}

static int cmd_batch(int argc, char **argv)
{
    cli c = { .cmd = "batch", .allowed = ALLOW(OPT_AGG) | ALLOW(OPT_DELAY) | ALLOW(OPT_IDLE) };
    pl_errbuf eb = { { 0 } };
    pl_log *log = NULL;
    pl_digests d;
    int rc = parse_cli(&c, argc, argv, 2);
    if (rc)
        return rc;
    rc = pl_log_open(c.pos[0], &log, &eb);
    if (rc < 0)
        return fail(c.cmd, rc, &eb);
    memset(&d, 0, sizeof d);
    rc = pl_batch_run(log, &c.cfg, c.pos[1], &d, &eb);
    pl_log_close(log);
    if (rc < 0)
        return fail(c.cmd, rc, &eb);
    print_digests(&d);
    return EX_OK;
}

static int cmd_faults(int argc, char **argv)
{
    cli c = { .cmd = "faults" };
    int rc = parse_cli(&c, argc, argv, 0);
    if (rc)
        return rc;
    for (int i = 0; i < pl_nfailpoints; i++)
        printf("%-20s %s\n", pl_failpoints[i].name, pl_failpoints[i].leaves);
    return EX_OK;
}

static int cmd_unsafe(int argc, char **argv)
{
    cli c = { .cmd = "unsafe" };
    int rc = parse_cli(&c, argc, argv, 0);
    if (rc)
        return rc;
    if (!pl_unsafe_available()) {
        fputs("refpipe unsafe: this is the plain build; the broken variants exist only in "
              "refpipe-fiu\n", stderr);
        return EX_INPUT;
    }
    for (int i = 0; i < PL_UNSAFE__COUNT; i++)
        printf("%-26s %s\n", pl_unsafe_name(i), pl_unsafe_what(i));
    return EX_OK;
}

static const struct {
    const char *name;
    int (*fn)(int, char **);
} commands[] = {
    { "import", cmd_import }, { "cat", cmd_cat },       { "run", cmd_run },
    { "export", cmd_export }, { "batch", cmd_batch },   { "faults", cmd_faults },
    { "unsafe", cmd_unsafe },
};

static void on_stop(int sig)
{
    (void)sig;
    pl_stop = 1;
}

/*
 * SIGINT/SIGTERM become a stop request that the long loops see within a few
 * thousand records: they end through their error paths, which remove
 * import's temporary directory and export's and batch's temporary files
 * (the default action would leave them).  SA_RESTART: an interrupted write
 * is resumed, not reported as a failure.
 */
static void catch_stop(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int main(int argc, char **argv)
{
    /* Fault build: initialise libfiu (a preloaded crash library may have
     * done so already; fiu_init is idempotent).  A no-op in the plain build. */
    if (fiu_init(0) != 0) {
        fputs("refpipe: libfiu initialisation failed\n", stderr);
        return EX_INTERNAL;
    }
    {
        pl_errbuf eb = { { 0 } };
        const char *env = getenv("REFPIPE_UNSAFE");
        if (env && pl_unsafe_set(env, &eb) < 0) {
            fprintf(stderr, "refpipe: REFPIPE_UNSAFE: %s\n", eb.msg);
            return EX_INPUT;
        }
        while (argc >= 2 && !strncmp(argv[1], "--unsafe", 8) &&
               (argv[1][8] == '=' || argv[1][8] == 0)) {
            const char *v = argv[1][8] == '=' ? argv[1] + 9 : argc >= 3 ? argv[2] : NULL;
            if (!v || !*v) {
                fputs("refpipe: option '--unsafe' needs a value (see refpipe --help)\n", stderr);
                return EX_INPUT;
            }
            if (pl_unsafe_set(v, &eb) < 0) {
                fprintf(stderr, "refpipe: --unsafe: %s\n", eb.msg);
                return EX_INPUT;
            }
            int used = argv[1][8] == '=' ? 1 : 2;
            argv[used] = argv[0];
            argv += used;
            argc -= used;
        }
    }
    if (argc < 2) {
        fputs("refpipe: missing command (see refpipe --help)\n", stderr);
        return EX_INPUT;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage_text, stdout);
        return EX_OK;
    }
    catch_stop();
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "refpipe: unknown command '%s' (see refpipe --help)\n", argv[1]);
    return EX_INPUT;
}
