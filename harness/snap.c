/*
 * snap.c - snapshot starts: kill trials that begin from a copy of the
 * discovery run's state dir at a checkpoint instead of from record 0
 * (docs/semantics.md, "Snapshot starts").
 *
 * The discovery run, under rp-crash.so's RP_FIU_SNAP (faults/snap.c),
 * writes a marks line at every hit of the snapshot point (by default
 * ckpt/done/after: a checkpoint is complete and durable), with the hits of
 * every fail point so far, and copies its state dir at every EVERY-th hit.
 *
 * Why a trial may start there: a copy taken at hit H of the snapshot point
 * is, byte for byte, the state dir a kill at that hit leaves behind.  A
 * trial "kill at X:K" whose K-th hit of X comes after mark H is then run as
 * "restore the copy, kill at X:(K - hits of X at H + hits of X the restore
 * itself makes)": by determinism the restored process repeats the golden
 * run's hits after H, so it dies at the same operation with the same
 * durable state as the trial from record 0, minus the replay of the
 * prefix.  (Before its probe the copy gets, once, the WAL checkpoint its
 * restored process's sink open makes first anyway: see compact().)
 * Three rules keep that true:
 *
 *   (1) A probe per snapshot restores it, armed as a trial's first
 *       process is (with a crash that never fires), and runs with the
 *       golden run's convergence digests.  It must stop at convergence,
 *       or the copy is not used: a recovery did not bring it back to the
 *       golden run's state (the pipeline is not safe to kill at the
 *       snapshot point, or a restored process computes differently).
 *       A copy is probed when a trial first wants it; after the second
 *       copy that fails, no trial of the scenario starts from a copy.  Its first marks line minus
 *       the golden run's growth between the two marks is what the restore
 *       itself hits (log/block/enter: a restored reader enters its current
 *       blocks anew, before it reads on); negative, the snapshot is not
 *       used for that point.
 *       Without convergence digests (early stop off) there are no
 *       snapshot starts.
 *   (2) Only trials of kills alone start from a snapshot: power cuts, I/O
 *       errors, corruptions and discards keep their own starting states.
 *   (3) A trial from a snapshot that does not converge runs again from
 *       record 0 (trials.c), and that run's verdict is the trial's (an
 *       error naming both when they disagree): a red verdict is always
 *       reproducible as planned.  Early stop's soundness-guard trials may
 *       start from a snapshot: what they check is the recovery, which
 *       still runs to the end.
 */
#include "hn_runner_int.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hn_faults.h"
#include "hn_rundir.h"
#include "pl_fs.h"
#include "pl_sink.h"

#define SNAP_NAMES 64 /* distinct points in the marks, at most */

typedef struct snap {
    uint64_t hit;                 /* of the snapshot point */
    int probed;                   /* rule (1) checked (when a trial first wanted it) */
    uint64_t bytes;               /* the copy's size (taken by the probe) */
    unsigned char ok[SNAP_NAMES]; /* rule (1) holds for this point */
    uint64_t extra[SNAP_NAMES];   /* hits the restore itself makes */
} snap;

struct hn__snaps {
    char dir[PATH_MAX];             /* marks, one copy per snapshot */
    char point[HN_POINT_MAX + 1];   /* the snapshot point */
    int failed, off;                /* probes that failed; 2 turn snapshot starts off */
    char names[SNAP_NAMES][HN_POINT_MAX + 1];
    int nnames;
    uint64_t nmarks;                /* marks lines, hits 1 .. nmarks */
    uint64_t *cnt;                  /* (nmarks + 1) x SNAP_NAMES; row 0 zeros */
    unsigned char *whole;           /* row h came whole */
    snap *s;
    int ns;
};

static int name_index(hn__snaps *sn, const char *name, size_t n, int add)
{
    for (int i = 0; i < sn->nnames; i++)
        if (strlen(sn->names[i]) == n && memcmp(sn->names[i], name, n) == 0)
            return i;
    if (!add || sn->nnames == SNAP_NAMES || n > HN_POINT_MAX)
        return -1;
    memcpy(sn->names[sn->nnames], name, n);
    sn->names[sn->nnames][n] = 0;
    return sn->nnames++;
}

/*
 * Parse a marks file: "HIT NAME=COUNT ..." per line.  Rows land in
 * cnt[HIT * SNAP_NAMES + i]; a row with a name that does not fit, or that
 * says "incomplete", is not whole.  Returns the number of lines (highest
 * HIT), 0 when there is no file, or a negative code.
 */
static int64_t parse_marks(hn__snaps *sn, const char *path, uint64_t **cnt,
                           unsigned char **whole, int add)
{
    char *text = hn__slurp(path, NULL), *line, *save = NULL;
    uint64_t rows = 0, cap = 0;
    if (!text)
        return errno == ENOENT ? 0 : -errno;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *p = line, *sp;
        uint64_t hit;
        if (hn_parse_u64(p, strcspn(p, " "), &hit) < 0 || hit == 0 || hit != rows + 1)
            break; /* lines come in hit order; anything else ends what we trust */
        if (hit >= cap) {
            uint64_t ncap = cap ? cap * 2 : 64;
            uint64_t *nc = realloc(*cnt, (size_t)(ncap + 1) * SNAP_NAMES * sizeof *nc);
            unsigned char *nw = nc ? realloc(*whole, (size_t)(ncap + 1)) : NULL;
            if (!nc || !nw) {
                if (nc)
                    *cnt = nc;
                free(text);
                return -ENOMEM;
            }
            memset(nc + (cap + 1) * SNAP_NAMES, 0,
                   (size_t)(ncap - cap) * SNAP_NAMES * sizeof *nc);
            memset(nw + cap + 1, 0, (size_t)(ncap - cap));
            if (cap == 0) {
                memset(nc, 0, SNAP_NAMES * sizeof *nc);
                nw[0] = 1;
            }
            *cnt = nc;
            *whole = nw;
            cap = ncap;
        }
        rows = hit;
        (*whole)[hit] = 1;
        p += strcspn(p, " ");
        while (*p == ' ') {
            char *eq;
            uint64_t v;
            int i;
            p++;
            sp = p + strcspn(p, " ");
            eq = memchr(p, '=', (size_t)(sp - p));
            if (!eq || hn_parse_u64(eq + 1, (size_t)(sp - eq - 1), &v) < 0 ||
                (i = name_index(sn, p, (size_t)(eq - p), add)) < 0) {
                (*whole)[hit] = 0;
                break;
            }
            (*cnt)[hit * SNAP_NAMES + (uint64_t)i] = v;
            p = sp;
        }
    }
    free(text);
    return (int64_t)rows;
}

/*
 * Run, once, on the copy itself the step every process that restores it
 * makes first: the sink's open copies the WAL into sink.db and truncates it
 * (pl_sink.c invariant (6)), and its close leaves it so.  The rows, the cut
 * and the stored digest are the same; only where SQLite keeps them changes.
 * Without this every trial from the copy would copy the WAL (most of the
 * bytes, it holds up to a checkpoint interval of frames) and its first
 * process would rebuild the WAL index from it and checkpoint it again.
 * Runs before the probe, so that rule (1) is checked on the copy the trials
 * get.  Only a copy with a non-empty WAL beside sink.db is looked at, and
 * pl_sink_fold_wal leaves a database that is not refpipe's sink of this
 * schema untouched (another pipeline's state dir), as it does a copy it
 * cannot fold (the probe then decides).
 */
static void compact(const char *copy)
{
    char wal[PATH_MAX];
    struct stat st;
    if (pl_fs_pathf(wal, NULL, "%s/sink.db-wal", copy) < 0 || stat(wal, &st) != 0 ||
        !S_ISREG(st.st_mode) || st.st_size == 0)
        return;
    (void)pl_sink_fold_wal(copy, NULL);
}

/* Restore snapshot s in a scratch dir and run it to convergence; fills
 * s->ok by rule (1).  Returns 1 when it converged, 0 when it did not or
 * could not run (a copy that fails, a full disk), or a negative code. */
static int probe(const ctx *c, struct hn__fsrv_slot *sl, hn__snaps *sn, snap *s)
{
    char pdir[PATH_MAX], state[PATH_MAX], from[PATH_MAX], out[PATH_MAX], log[PATH_MAX];
    char ev_pre[PATH_MAX + 16], ev_count[PATH_MAX + 32], ev_snap[HN_POINT_MAX + 24];
    char ev_out[PATH_MAX + 24], ev_crash[HN_POINT_MAX + 40], ev_trace[PATH_MAX + 32];
    char *argv[MAX_ARGS + 8], *extra[8], *text;
    uint64_t *pc = NULL;
    unsigned char *pw = NULL;
    int n = 0, st, to, ret;
    int64_t rows;
    const uint64_t *a = sn->cnt + s->hit * SNAP_NAMES, *b = a + SNAP_NAMES;

    if ((ret = pl_fs_pathf(pdir, c->eb, "%s/probe", sn->dir)) ||
        (ret = pl_fs_pathf(state, c->eb, "%s/state", pdir)) ||
        (ret = pl_fs_pathf(out, c->eb, "%s/out", pdir)) ||
        (ret = pl_fs_pathf(log, c->eb, "%s/log", pdir)) ||
        (ret = pl_fs_pathf(from, c->eb, "%s/%" PRIu64, sn->dir, s->hit)))
        return ret;
    pl_fs_rm_rf(pdir);
    compact(from);
    s->bytes = (uint64_t)hn_rundir_tree_bytes(from);
    if (pl_fs_mkdir_p(out, NULL) < 0 || hn_rundir_copy_tree(from, state, NULL) < 0)
        goto out; /* ret 0: not usable (a full disk, say) */
    if (hn__preload(c, HN_PRE_CRASH, ev_pre, sizeof ev_pre) < 0)
        goto out; /* ret 0: not usable */
    snprintf(ev_count, sizeof ev_count, "RP_FIU_COUNT=%s/counts", pdir);
    snprintf(ev_snap, sizeof ev_snap, "RP_FIU_SNAP=%s:0", sn->point);
    snprintf(ev_out, sizeof ev_out, "RP_FIU_SNAP_OUT=%s", out);
    /* armed, as a trial's first process is, with a hit it never reaches */
    snprintf(ev_crash, sizeof ev_crash, "RP_FIU_CRASH=%s:9223372036854775807", sn->point);
    snprintf(ev_trace, sizeof ev_trace, "RP_FIU_TRACE=%s/trace", pdir);
    extra[0] = ev_pre;
    extra[1] = ev_count;
    extra[2] = "RP_FIU_POINTS=*";
    extra[3] = ev_snap;
    extra[4] = ev_out;
    extra[5] = ev_crash;
    extra[6] = ev_trace;
    extra[7] = (char *)c->asan_env;
    argv[n++] = (char *)c->bin;
    argv[n++] = "run";
    argv[n++] = (char *)c->logdir;
    argv[n++] = state;
    for (int j = 0; j < c->npargs; j++)
        argv[n++] = c->pargs[j];
    argv[n++] = "--stop-when-converged";
    argv[n++] = (char *)c->conv;
    if (c->trust_digest) /* a copy of the discovery run's state, as the trials' */
        argv[n++] = "--trust-sink-digest";
    argv[n] = NULL;
    /* through the slot's fork server, as the trial's own first process
     * would start: the same preload and variables, without an exec */
    if ((ret = hn__run_sync_in(c, sl, argv, extra, 8, log, NULL, &st, &to)) < 0)
        goto out;
    ret = 0;
    if (to || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        goto out;
    text = hn__slurp(log, NULL);
    ret = text && strstr(text, "converged-early position=") && strstr(text, "stopped=yes");
    free(text);
    if (!ret)
        goto out; /* ran to the end: the copy is not the golden run's state */
    if (pl_fs_pathf(from, NULL, "%s/marks", out) < 0)
        goto out;
    rows = parse_marks(sn, from, &pc, &pw, 0);
    if (rows == -ENOMEM) {
        ret = pl_err(c->eb, -ENOMEM, "out of memory");
        goto out;
    }
    if (rows < 1 || !pw[1])
        goto out; /* converged, but rule (1) cannot be checked: not used */
    for (int i = 0; i < sn->nnames; i++) {
        uint64_t got = pc[SNAP_NAMES + (uint64_t)i], want = b[i] - a[i];
        s->ok[i] = got >= want;
        s->extra[i] = got - want;
    }
    /* a point the probe hit that the golden run never named: rule (1)
     * cannot be checked for it, and parse_marks(add = 0) made the row
     * not whole, so nothing is ok in that case */
out:
    free(pc);
    free(pw);
    pl_fs_rm_rf(pdir);
    return ret;
}

int hn__snaps_prepare(ctx *c, const char *point)
{
    hn__snaps *sn = calloc(1, sizeof *sn);
    char marks[PATH_MAX], copy[PATH_MAX];
    int64_t rows;
    int ret = 0;

    if (!sn)
        return pl_err(c->eb, -ENOMEM, "out of memory");
    if (!c->conv[0])
        goto fail; /* rule (1) needs the golden run's convergence digests */
    snprintf(sn->point, sizeof sn->point, "%s", point);
    if ((ret = pl_fs_pathf(sn->dir, c->eb, "%s/snapshots", c->dir)) ||
        (ret = pl_fs_pathf(marks, c->eb, "%s/marks", sn->dir)))
        goto fail;
    rows = parse_marks(sn, marks, &sn->cnt, &sn->whole, 1);
    if (rows < 0) {
        ret = pl_err(c->eb, (int)rows, "reading %s", marks);
        goto fail;
    }
    sn->nmarks = (uint64_t)rows;
    sn->s = calloc((size_t)rows + 1, sizeof *sn->s);
    if (!sn->s) {
        ret = pl_err(c->eb, -ENOMEM, "out of memory");
        goto fail;
    }
    /* hit 1 is the start's own checkpoint; the last mark has no next line
     * to check a probe against.  Probes run when a trial first asks for a
     * copy (hn__snap_pick): a scenario that stops at its first failing
     * trial (mutants) probes only the copies it used. */
    for (uint64_t h = 2; h < sn->nmarks; h++) {
        struct stat st;
        if ((ret = pl_fs_pathf(copy, c->eb, "%s/%" PRIu64, sn->dir, h)))
            goto fail;
        /* its size is taken by its probe, after compact() */
        if (stat(copy, &st) == 0 && sn->whole[h] && sn->whole[h + 1])
            sn->s[sn->ns++].hit = h;
    }
    hn__note(c, "snapshot starts: %d copies at the %" PRIu64 " marks of %s", sn->ns,
             sn->nmarks, point);
    c->snaps = sn;
    return sn->ns;

fail:
    hn__snaps_free(sn);
    return ret;
}

int hn__snap_pick(const ctx *c, struct hn__fsrv_slot *sl, const char *point, uint64_t k,
                  uint64_t *hit, uint64_t *k2)
{
    hn__snaps *sn = c->snaps;
    int i = -1, ret;
    if (!sn || sn->off)
        return 0;
    for (int j = 0; j < sn->nnames && i < 0; j++)
        if (strcmp(sn->names[j], point) == 0)
            i = j;
    if (i < 0)
        return 0;
    for (int j = sn->ns - 1; j >= 0 && !sn->off; j--) {
        snap *s = &sn->s[j];
        uint64_t before = sn->cnt[s->hit * SNAP_NAMES + (uint64_t)i];
        if (before >= k)
            continue;
        if (!s->probed) {
            s->probed = 1;
            if ((ret = probe(c, sl, sn, s)) < 0)
                return ret;
            if (ret == 0) {
                /* rule (1): not used.  Near the end of the log a correct
                 * pipeline may have no chance to stop (no row emitted
                 * before the final checkpoint); a broken one fails
                 * everywhere, and each failure ran to the end of the log:
                 * two of them end snapshot starts for the scenario */
                hn__note(c, "snapshot starts: a recovery from the copy at %s hit %" PRIu64
                         " did not converge early; copy not used", sn->point, s->hit);
                memset(s->ok, 0, sizeof s->ok);
                if (++sn->failed == 2) {
                    hn__note(c, "snapshot starts off for this scenario: two copies failed "
                             "their probes");
                    sn->off = 1;
                }
                continue;
            }
        }
        if (s->ok[i]) {
            *hit = s->hit;
            *k2 = k - before + s->extra[i];
            return 1;
        }
    }
    return 0;
}

int hn__snap_restore(const ctx *c, uint64_t hit, const char *state)
{
    char from[PATH_MAX];
    struct statvfs vfs;
    uint64_t bytes = 0;
    int ret = pl_fs_pathf(from, NULL, "%s/%" PRIu64, c->snaps->dir, hit);
    if (ret)
        return ret;
    for (int j = 0; j < c->snaps->ns; j++)
        if (c->snaps->s[j].hit == hit)
            bytes = c->snaps->s[j].bytes;
    /* a copy that cannot fit is not begun: a half copy on a full disk
     * would only change how the trial from record 0 meets that disk */
    if (statvfs(state, &vfs) == 0 &&
        (uint64_t)vfs.f_bavail * vfs.f_frsize < bytes + (UINT64_C(1) << 20))
        return -ENOSPC;
    return hn_rundir_copy_tree(from, state, NULL);
}

void hn__snaps_free(hn__snaps *sn)
{
    if (!sn)
        return;
    /* scratch: every trial that used a copy has its own by now */
    if (sn->dir[0])
        pl_fs_rm_rf(sn->dir);
    free(sn->cnt);
    free(sn->whole);
    free(sn->s);
    free(sn);
}
