/*
 * replayproof.c - the harness's command-line entry point.
 *
 * `replayproof COMMAND [ARGS]`: main looks COMMAND up in one table (name,
 * handler, one-line summary, usage) and hands it the remaining arguments;
 * adding a subcommand is one table entry and its handler.  Handlers return
 * the exit status: 0 success, 1 failure, 2 bad usage or bad input.  Only this
 * file prints and decides the exit status; the libraries fill a pl_errbuf.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hn_gen.h"
#include "hn_scenario.h"
#include "pl_err.h"

typedef struct rp_cmd {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
    const char *summary;
    const char *usage;              /* synopsis line */
    const char *(*options)(void);   /* option list for help, or NULL */
} rp_cmd;

static int cmd_gen(int argc, char **argv);
static int cmd_check(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const rp_cmd cmds[] = {
    {"gen", cmd_gen, "write a deterministic workload log as interchange CSV",
     "replayproof gen [OPTIONS] OUT.csv    (OUT.csv = - writes to stdout)", hn_gen_usage},
    {"check", cmd_check, "validate scenario files without running them",
     "replayproof check SCENARIO.ini...", NULL},
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

static int exit_for(int rc)
{
    return pl_err_is_input(rc) ? 2 : 1;
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
    rc = hn_gen_write_path(&o, out, NULL, &eb);
    if (rc < 0) {
        fprintf(stderr, "replayproof gen: %s\n", eb.msg);
        return exit_for(rc);
    }
    return 0;
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
    int bad = 0;

    if (argc < 2) {
        fprintf(stderr, "replayproof check: no scenario file (usage: %s)\n",
                find_cmd("check")->usage);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            cmd_usage(stdout, find_cmd("check"));
            return 0;
        }
    }
    sc = malloc(sizeof *sc);
    if (!sc) {
        fprintf(stderr, "replayproof check: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        pl_errbuf eb = {{0}};
        int rc = hn_scenario_load(argv[i], sc, &eb);
        if (rc == 0)
            rc = hn_scenario_binary_path(sc, bin, sizeof bin, &eb);
        if (rc == 0)
            rc = hn_scenario_check_points(sc, bin, &eb);
        if (rc == PL_ENOTFOUND) {
            /* patterns cannot be checked against a pipeline that is not built */
            printf("ok   %s (name: %s; fail points not checked: %s not found)\n", argv[i],
                   sc->name, bin);
        } else if (rc < 0) {
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
