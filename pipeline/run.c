/*
 * run.c - the refpipe driver: canonical-order merge of the partitions, the
 * commit cycle, recovery.
 *
 * Layout: state-dir lock; checkpoint body encoding; the canonical merge (a
 * winner tree of partition heads keyed by (ingest_ns, partition)); the
 * commit cycle; pl_run(); the fail point table.
 *
 * Commit protocol.  Invariants (cited in the code as "keeps (N)"):
 *
 *  (1) Results are deterministic: the rows emitted for records [a, b) of
 *      the canonical order depend only on the log, the configuration and the
 *      stream state after record a-1.  Nothing else (clock, timing, crash
 *      history) enters the stream.
 *  (2) A checkpoint describes a cut of the canonical order: its stream state
 *      is the state after exactly `position` records, and its per-partition
 *      next offsets are exactly the records not yet consumed.  State and
 *      offsets are written together in one file, so they can never disagree.
 *  (3) Every row emitted before a checkpoint's cut is durable in the sink
 *      before that checkpoint is written: each cycle commits the sink
 *      transaction (synchronous=FULL) and only then writes the checkpoint.
 *  (4) The sink is keyed and idempotent: re-emitting a row with an existing
 *      key is absorbed when identical and recorded as a conflict otherwise.
 *  (5) A checkpoint is used only after it verifies (checksum, version,
 *      configuration and log fingerprints) - see ckpt.c.
 *  (6) A failed write, fsync or commit ends the run; nothing is retried on
 *      the same descriptor or connection.  Recovery is a restart.
 *  (7) The sink and the checkpoints are cross-checked.  Every sink commit
 *      records its cut (position, configuration, log; sink.c (8)).  At start
 *      a sink cut of another configuration or log is a mismatch like a
 *      checkpoint's, and only a checkpoint whose position the sink has
 *      reached is used; one ahead of the sink (its rows were lost: a failed
 *      WAL fsync, a partial discard) is skipped for an older one, or the
 *      run replays from the start into the idempotent sink.  So the
 *      checkpoints alone can never make a restart skip rows the sink lacks.
 *  (8) Discarding state (--discard-state) is atomic: its commit point is one
 *      rename of sink.db to a trash name and an fsync of the state dir.
 *      Before it the old state is whole (and refused again); after it the
 *      sink is empty, so by (7) no old checkpoint can be resumed, and what
 *      is left is removed at leisure.
 *  (9) The state dir is durable before anything is made durable inside it:
 *      it is created with an fsync of its parent (pl_fs_mkdir_p).
 * (10) Every commit cycle's work is bounded, so that each restart makes
 *      progress under any crash storm: a cycle ends after N records
 *      (--checkpoint-every) or as soon as it emitted N rows, and the
 *      end-of-input flush raises the watermark in steps (to the next
 *      window end or buffered event, pl_stream_next_step), committing a
 *      cycle with its checkpoint whenever N rows were emitted.  A cycle is
 *      then bounded by N rows plus what one record or one step fires.  The
 *      flush steps count in the checkpoints' and the sink cut's position
 *      (progress()), so (7) compares them exactly.
 *
 * Why this gives exactly-once effects: after a crash, recovery resumes from
 * the newest valid checkpoint C (5).  By (3) every row emitted before C's cut
 * is in the sink; rows emitted after it may or may not be.  By (1) and (2)
 * replaying from C re-emits exactly the rows the uninterrupted run emitted
 * after the cut, so rows already in the sink are identical and absorbed (4),
 * missing ones are added, and none is lost or doubled.  A conflict can only
 * come from a broken (1) and is reported, never hidden.
 *
 *        pl_run() start
 *              |
 *     lock_statedir() ---- held by another process ----> PL_ELOCKED
 *              |
 *     pl_sink_open(), pl_sink_get_cut() -- another configuration --> PL_ECONFIG
 *              |                          (--discard-state: discard_state(), keeps (8))
 *     pl_ckpt_load_upto(sink position) -- keeps (7)
 *              | ----- none valid ----> epoch checkpoint at position 0
 *              |                                  |
 *       restore state  <---------------------------
 *              |
 *     +--> push records (stream emits into the open sink transaction)
 *     |        | every checkpoint_every records, and once at end of input
 *     |   commit_cycle(): pl_sink_set_cut(), pl_sink_commit()  -- keeps (3), (7)
 *     |                   pl_ckpt_write()   -- keeps (2)
 *     +--------+
 *              |
 *        final checkpoint (finished = 1): a rerun is a no-op
 */
#include "pl_run.h"

#include <errno.h>
#include <fcntl.h>
#include <fiu-local.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "pl_ckpt.h"
#include "pl_converge.h"
#include "pl_fs.h"
#include "pl_log.h"
#include "pl_sink.h"
#include "pl_unsafe.h"

#define RUN_BODY_MAGIC 0x4e555250u /* "PRUN" little-endian */
#define RUN_BODY_VERSION 2u /* 2: finish steps */

/* ---- state-dir lock ----------------------------------------------------- */

/*
 * Take an exclusive flock on STATEDIR/LOCK.  Two refpipe processes on one
 * state dir would interleave sink writes and checkpoints and break (2); the
 * lock is released by the kernel when the process dies, so a crash never
 * leaves a stale lock behind.
 */
static int lock_statedir(const char *dir, int *fd_out, pl_errbuf *eb)
{
    char path[4096];
    int fd;
    snprintf(path, sizeof path, "%s/LOCK", dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return pl_err_os(eb, errno, "open(%s)", path);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int err = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        close(fd);
        if (err == EWOULDBLOCK) {
            if (n > 0)
                pid[strcspn(pid, "\n")] = 0;
            return pl_err(eb, PL_ELOCKED, "%s: state dir in use by another refpipe%s%s%s", dir,
                          n > 0 ? " (pid " : "", n > 0 ? pid : "", n > 0 ? ")" : "");
        }
        return pl_err_os(eb, err, "flock(%s)", path);
    }
    {
        /* Informational only: who holds the lock, for the message above. */
        char buf[32];
        int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
        /* a failure here is harmless: the lock itself is what matters */
        if (ftruncate(fd, 0) == 0)
            (void)!pwrite(fd, buf, (size_t)len, 0);
    }
    *fd_out = fd;
    return 0;
}

/* ---- checkpoint body ---------------------------------------------------- */

typedef struct run_state {
    uint32_t parts;
    int finished;
    uint64_t position;     /* records consumed in canonical order */
    uint64_t steps;        /* end-of-input flush steps done (keeps (10)) */
    uint64_t *next_offset; /* per partition */
} run_state;

/*
 * Progress: records consumed plus flush steps done.  It grows with every
 * commit cycle, the flush's included, so it is what checkpoints and the
 * sink's cut carry as their position and what the cross-check (7) compares.
 */
static uint64_t progress(const run_state *rs) { return rs->position + rs->steps; }

static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* body = magic u32, version u32, parts u32, finished u32, position u64,
 *        steps u64, next_offset[parts] u64, stream_len u64, stream bytes.
 * encode_head builds everything before the stream bytes; the stream's own
 * save buffer is written behind it as is (pl_ckpt_write2), not copied. */
static int encode_head(const run_state *rs, size_t slen, uint8_t **out, size_t *len)
{
    uint8_t *b, *p;
    size_t n = 16 + 16 + 8 * (size_t)rs->parts + 8;
    uint32_t hdr[4] = { RUN_BODY_MAGIC, RUN_BODY_VERSION, rs->parts, (uint32_t)rs->finished };
    b = malloc(n);
    if (!b)
        return -ENOMEM;
    p = b;
    memcpy(p, hdr, 16); p += 16;
    put64(p, rs->position); p += 8;
    put64(p, rs->steps); p += 8;
    for (uint32_t i = 0; i < rs->parts; i++, p += 8)
        put64(p, rs->next_offset[i] - (pl_unsafe(PL_UNSAFE_OFFSET_OFF_BY_ONE) &&
                                       rs->next_offset[i] > 0)); /* wrong on purpose */
    put64(p, slen);
    *out = b;
    *len = n;
    return 0;
}

static int decode_body(run_state *rs, pl_stream *s, pl_log *log, const uint8_t *b, size_t n,
                       pl_errbuf *eb)
{
    uint32_t hdr[4];
    const uint8_t *p = b, *end = b + n;
    uint64_t slen, sum = 0;
    if (n < 32)
        return pl_err(eb, PL_ECORRUPT, "checkpoint body too short");
    memcpy(hdr, p, 16); p += 16;
    if (hdr[0] != RUN_BODY_MAGIC || hdr[1] != RUN_BODY_VERSION)
        return pl_err(eb, PL_ECORRUPT, "checkpoint body: bad magic or version");
    if (hdr[2] != rs->parts)
        return pl_err(eb, PL_ECORRUPT, "checkpoint body: %u partitions, log has %u", hdr[2],
                      rs->parts);
    if ((size_t)(end - p) < 16 + 8 * (size_t)rs->parts + 8)
        return pl_err(eb, PL_ECORRUPT, "checkpoint body truncated");
    rs->finished = hdr[3] != 0;
    rs->position = get64(p); p += 8;
    rs->steps = get64(p); p += 8;
    for (uint32_t i = 0; i < rs->parts; i++, p += 8) {
        rs->next_offset[i] = get64(p);
        if (rs->next_offset[i] > pl_log_records(log, i))
            return pl_err(eb, PL_ECORRUPT, "checkpoint offset %llu beyond partition %u",
                          (unsigned long long)rs->next_offset[i], i);
        sum += rs->next_offset[i];
    }
    if (sum != rs->position)
        return pl_err(eb, PL_ECORRUPT, "checkpoint offsets do not add up to its position");
    slen = get64(p); p += 8;
    if (slen != (uint64_t)(end - p))
        return pl_err(eb, PL_ECORRUPT, "checkpoint body: stream state length mismatch");
    return pl_stream_load(s, p, (size_t)slen, eb);
}

/* ---- canonical merge ---------------------------------------------------- */

/*
 * A winner tree over the partitions, keyed by the (ingest_ns, partition) of
 * each partition's next record; an exhausted partition's key is UINT64_MAX,
 * above every ingest_ns (< 2^63).  The root is the next record in canonical
 * order (ingest_ns, partition, offset): within a partition offsets come in
 * order and ingest_ns never decreases.  After a record is taken only the
 * winner's path to the root is replayed: log2(leaves) branch-free selects,
 * where a heap's sift would be a chain of mispredicted compares (the next
 * partition is effectively random).
 */
typedef struct merge {
    pl_cursor *cur;  /* per partition */
    uint64_t *key;   /* per leaf (leaves >= partitions; spare leaves stay at UINT64_MAX) */
    uint32_t *tree;  /* tree[1] is the winner; tree[leaves + i] = i */
    uint32_t leaves; /* a power of two, >= 2 */
} merge;

static inline uint32_t mwin(const merge *m, uint32_t a, uint32_t b)
{
    uint64_t ka = m->key[a], kb = m->key[b];
    return (kb < ka || (kb == ka && b < a)) ? b : a;
}

/*
 * Leaf `leaf` changed its key: replay its path up to the root.  The winner
 * so far (w, its key kw) stays in registers and meets, at each level, the
 * winner of the sibling subtree, which did not change: those loads do not
 * wait on the level below, so only the compare-and-select chain is serial.
 * On equal keys the left one wins, which is the one with the lower leaf
 * index: so the order is that of (key, leaf), compared as one 128-bit
 * number (a compare and a subtract with borrow, then two selects).
 */
static inline void mreplay(merge *m, uint32_t leaf)
{
    const uint64_t *key = m->key;
    uint32_t *tree = m->tree;
    unsigned __int128 kw = (unsigned __int128)key[leaf] << 32 | leaf;
    for (uint32_t j = m->leaves + leaf; j > 1; j >>= 1) {
        uint32_t o = tree[j ^ 1];
        unsigned __int128 ko = (unsigned __int128)key[o] << 32 | o;
        kw = ko < kw ? ko : kw;
        tree[j >> 1] = (uint32_t)kw;
    }
}

static int merge_alloc(merge *m, uint32_t parts)
{
    m->leaves = 2;
    while (m->leaves < parts)
        m->leaves *= 2;
    m->cur = calloc(parts, sizeof *m->cur);
    m->key = malloc(m->leaves * sizeof *m->key);
    m->tree = malloc(2 * (size_t)m->leaves * sizeof *m->tree);
    if (!m->cur || !m->key || !m->tree)
        return -ENOMEM;
    for (uint32_t i = 0; i < m->leaves; i++) {
        m->key[i] = UINT64_MAX;
        m->tree[m->leaves + i] = i;
    }
    return 0;
}

/* Build every internal node once the leaves' keys are set. */
static void merge_build(merge *m)
{
    for (uint32_t j = m->leaves - 1; j >= 1; j--)
        m->tree[j] = mwin(m, m->tree[2 * j], m->tree[2 * j + 1]);
}

static void merge_free(merge *m)
{
    free(m->cur);
    free(m->key);
    free(m->tree);
}

/* ---- the run ------------------------------------------------------------ */

/*
 * Broken variants of the fault build (pl_unsafe.h): offsets-before-sink
 * writes each checkpoint before the sink commit (breaks (3));
 * nondeterministic-replay changes the VWAP of bars emitted by a resumed
 * process (breaks (1), so replayed rows conflict).
 */

typedef struct run {
    const pl_run_opts *o;
    pl_log *log;
    pl_sink *sink;
    pl_stream *stream;
    run_state rs;
    merge m;
    uint64_t config_fp, log_id, seqno;
    uint64_t cycle_rows; /* rows emitted since the last commit (keeps (10)) */
    int resumed;
    pl_errbuf *eb;
    /* convergence digests (pl_converge.h): lines written to rec, compared
     * with conv; state_dig is the body digest of the last checkpoint */
    FILE *rec;
    pl_conv *conv;
    uint64_t state_dig;
    uint64_t emitted; /* rows this process emitted in committed cycles */
    pl_run_result *res;
    int stop; /* a commit cycle converged: the run ends there */
    /* checkpoint-before-emit: bars held back to the next cycle, their
     * symbols copied into pend_syms (sym holds an offset until the flush) */
    pl_bar *pend;
    size_t npend, cap_pend;
    char *pend_syms;
    size_t nsyms, cap_syms;
} run;

/* checkpoint-before-emit: keep a copy of b for the next cycle. */
static int hold_bar(run *r, const pl_bar *b)
{
    if (r->npend == r->cap_pend) {
        size_t cap = r->cap_pend ? 2 * r->cap_pend : 256;
        pl_bar *p = realloc(r->pend, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        r->pend = p;
        r->cap_pend = cap;
    }
    if (r->cap_syms - r->nsyms < b->sym_len) {
        size_t cap = r->cap_syms ? 2 * r->cap_syms : 4096;
        char *p;
        while (cap - r->nsyms < b->sym_len)
            cap *= 2;
        p = realloc(r->pend_syms, cap);
        if (!p)
            return -ENOMEM;
        r->pend_syms = p;
        r->cap_syms = cap;
    }
    memcpy(r->pend_syms + r->nsyms, b->sym, b->sym_len);
    r->pend[r->npend] = *b;
    r->pend[r->npend++].sym = (const char *)(uintptr_t)r->nsyms;
    r->nsyms += b->sym_len;
    return 0;
}

/* checkpoint-before-emit: write the held bars into the open transaction. */
static int flush_held(run *r)
{
    for (size_t i = 0; i < r->npend; i++) {
        pl_bar b = r->pend[i];
        int rc;
        b.sym = r->pend_syms + (uintptr_t)b.sym;
        rc = pl_sink_bar(r->sink, &b);
        if (rc < 0)
            return pl_err(r->eb, rc, "sink: %s", pl_sink_errmsg(r->sink));
    }
    r->npend = r->nsyms = 0;
    return 0;
}

#ifdef PL_BENCH
int pl__bench_null_sink;
#define NULL_SINK() pl__bench_null_sink
#else
#define NULL_SINK() 0
#endif

static int emit_bar(void *ctx, const pl_bar *b)
{
    run *r = ctx;
    r->cycle_rows++;
    if (NULL_SINK())
        return 0;
    if (pl_unsafe(PL_UNSAFE_CHECKPOINT_BEFORE_EMIT) && !r->rs.finished)
        return hold_bar(r, b); /* deliberately late: breaks (3) */
    if (pl_unsafe(PL_UNSAFE_NONDET_REPLAY) && r->resumed) {
        /* another VWAP, kept within [low, high] so that the bar stays a
         * valid bar (a single-price bar gets another volume instead) */
        pl_bar x = *b;
        if (x.vwap < x.high)
            x.vwap += 1;
        else if (x.vwap > x.low)
            x.vwap -= 1;
        else
            x.volume += 1;
        return pl_sink_bar(r->sink, &x);
    }
    return pl_sink_bar(r->sink, b);
}
static int emit_late(void *ctx, const pl_late *l)
{
    ((run *)ctx)->cycle_rows++;
    if (NULL_SINK())
        return 0;
    return pl_sink_late(((run *)ctx)->sink, l);
}
static int emit_dlq(void *ctx, const pl_dlq *d)
{
    ((run *)ctx)->cycle_rows++;
    if (NULL_SINK())
        return 0;
    return pl_sink_dlq(((run *)ctx)->sink, d);
}

static void note(const pl_run_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const pl_run_opts *o, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    if (!o->note)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->note(o->note_ctx, line);
}

/* A push or finish failed: the stream's own message, else the sink's (an
 * emit callback failed). */
static void stream_error(run *r, int rc)
{
    const char *m = pl_stream_errmsg(r->stream);
    if (m && *m)
        pl_err(r->eb, rc, "%s", m);
    else
        pl_err(r->eb, rc, "sink: %s", pl_sink_errmsg(r->sink));
}

/* Write the checkpoint for the current cut.  Called only after the sink
 * transaction holding every row before the cut has committed: keeps (3). */
static int write_checkpoint(run *r)
{
    uint8_t *head = NULL, *state = NULL;
    size_t hlen = 0, slen = 0;
    pl_ckpt_meta meta;
    int rc = pl_stream_save(r->stream, &state, &slen);
    if (rc == 0)
        rc = encode_head(&r->rs, slen, &head, &hlen);
    if (rc < 0) {
        free(state);
        return pl_err(r->eb, rc, "encoding checkpoint: %s", pl_strerror(rc));
    }
    memset(&meta, 0, sizeof meta);
    meta.seqno = ++r->seqno;
    meta.config_fp = r->config_fp;
    meta.log_id = r->log_id;
    meta.position = progress(&r->rs); /* keeps (7) and (10) */
    if (r->rec || r->conv)
        r->state_dig = XXH3_64bits_withSeed(state, slen, XXH3_64bits(head, hlen));
    /* keeps (2): state and offsets go into one file, written atomically */
    rc = pl_ckpt_write2(r->o->statedir, &meta, head, hlen, state, slen, r->eb);
    free(head);
    free(state);
    return rc;
}

/*
 * After a checkpoint is durable: record its digests, and compare them with
 * the converged digests.  A match (once this process has emitted a row)
 * means the committed state (offsets and
 * stream state) and the sink's whole contents are those of the recorded
 * run at the same position; by (1) everything this run would still do is
 * what that run did, so with nothing else to learn the run may stop
 * (docs/semantics.md, "Early stop").  check is 0 for the epoch checkpoint,
 * written before this run did any work.
 */
static int converge_step(run *r, int check)
{
    pl_conv_point pt;
    pl_errbuf deb = { { 0 } };
    int rc;
    if (!r->rec && !r->conv)
        return 0;
    pt.position = progress(&r->rs);
    pt.state = r->state_dig;
    rc = pl_sink_digest_get(r->sink, &pt.sink, &deb);
    if (rc < 0) {
        if (r->rec)
            return pl_err(r->eb, rc, "%s", deb.msg);
        /* without a digest nothing can be compared: run to the end */
        note(r->o, "convergence check off: %s", deb.msg);
        pl_conv_free(r->conv);
        r->conv = NULL;
        return 0;
    }
    if (r->rec && (rc = pl_conv_write(r->rec, &pt)) < 0)
        return pl_err_os(r->eb, -rc, "writing %s", r->o->record_digests);
    /* The last checkpoint (finished) is the end anyway: no early stop there.
     * And not before this process emitted a row itself: a process that
     * computes differently once resumed (breaking (1)) then shows it in the
     * sink - a differing new row, or a conflict - before it can stop. */
    if (check && r->conv && !r->res->converged && !r->rs.finished && r->emitted > 0 &&
        pl_conv_match(r->conv, &pt)) {
        r->res->converged = 1;
        r->res->converged_at = pt.position;
        r->stop = !r->o->converge_go_on;
    }
    return 0;
}

/* One commit cycle: sink first, then checkpoint.  keeps (3) and (6). */
static int commit_cycle(run *r)
{
    int rc;
    if (pl_unsafe(PL_UNSAFE_OFFSETS_BEFORE_SINK)) {
        rc = write_checkpoint(r); /* deliberately wrong order: breaks (3) */
        if (rc < 0)
            return rc;
    }
    {
        /* keeps (7): the cut is committed with the rows it covers */
        pl_sink_cut cut = { progress(&r->rs), r->config_fp, r->log_id, r->rs.finished };
        rc = pl_sink_set_cut(r->sink, &cut, r->eb);
        if (rc < 0)
            return rc;
    }
    if (pl_unsafe(PL_UNSAFE_CHECKPOINT_BEFORE_EMIT) && r->rs.finished &&
        (rc = flush_held(r)) < 0)
        return rc;
    rc = fiu_fail("sink/commit/before")
             ? pl_err(r->eb, PL_EIO, "sink commit: injected failure (sink/commit/before)")
             : pl_sink_commit(r->sink, r->eb);
    if (rc < 0 && pl_unsafe(PL_UNSAFE_COMMIT_ERROR_IGNORED)) {
        /* deliberately wrong: logged, then checkpointed and carried on with a
         * new connection as if the rows were in (breaks (3) and (6)) */
        note(r->o, "sink commit failed, ignored: %s", r->eb->msg);
        pl_sink_close(r->sink, NULL);
        r->sink = NULL;
        rc = pl_sink_open(r->o->statedir, &r->o->cfg, &r->sink, r->eb);
    }
    if (rc < 0)
        return rc; /* the sink latches; recovery goes through restart (6) */
    fiu_return_on("sink/commit/after",
                  pl_err(r->eb, PL_EIO, "after sink commit: injected failure (sink/commit/after)"));
    if (!pl_unsafe(PL_UNSAFE_OFFSETS_BEFORE_SINK)) {
        rc = write_checkpoint(r);
        if (rc < 0)
            return rc;
    }
    r->emitted += r->cycle_rows;
    r->cycle_rows = 0;
    rc = converge_step(r, 1);
    if (rc < 0 || r->stop)
        return rc; /* converged: no new transaction */
    rc = pl_sink_begin(r->sink, r->eb);
    if (rc == 0 && pl_unsafe(PL_UNSAFE_CHECKPOINT_BEFORE_EMIT))
        rc = flush_held(r); /* after the checkpoint whose state no longer has them */
    return rc;
}

void pl_run_opts_init(pl_run_opts *o)
{
    memset(o, 0, sizeof *o);
    pl_config_init(&o->cfg);
    o->checkpoint_every = PL_DEFAULT_CHECKPOINT_EVERY;
}

static const char *const sink_files[] = { "sink.db", "sink.db-journal", "sink.db-wal",
                                          "sink.db-shm" };
#define SINK_TRASH "sink.db.discarded"

/* The broken variants whose damage the cross-check (7) would repair model a
 * pipeline without it. */
static int trusts_checkpoints(void)
{
    return pl_unsafe(PL_UNSAFE_DISCARD_NONATOMIC) || pl_unsafe(PL_UNSAFE_WAL_AUTOCHECKPOINT) ||
           pl_unsafe(PL_UNSAFE_OFFSETS_BEFORE_SINK) ||
           pl_unsafe(PL_UNSAFE_COMMIT_ERROR_IGNORED);
}

/* Remove each of the state dir's files in `names`, then fsync the dir. */
static int unlink_all(const char *dir, const char *const *names, size_t n, pl_errbuf *eb)
{
    char path[4096];
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (unlink(path) < 0 && errno != ENOENT)
            return pl_err_os(eb, errno, "unlink(%s)", path);
    }
    /* without this fsync a power cut could resurrect what was removed */
    return pl_fs_sync_dir(dir, eb);
}

/*
 * --discard-state, keeps (8).  The sink is closed (its WAL was truncated and
 * made durable at open, so what remains of it is sink.db alone).  Commit
 * point: sink.db renamed to a trash name and the directory fsync'd.  Then
 * the rest goes: the trash, the sink's side files, every checkpoint.
 */
static int discard_state(const char *dir, pl_errbuf *eb)
{
    char from[4096], to[4096];
    int rc;
    if (pl_unsafe(PL_UNSAFE_DISCARD_NONATOMIC)) {
        /* deliberately old: checkpoints first, then the sink files one by one */
        rc = pl_ckpt_discard(dir, eb);
        if (rc < 0)
            return rc;
        fiu_return_on("discard/rename/after",
                      pl_err(eb, PL_EIO, "discard: injected failure (discard/rename/after)"));
        return unlink_all(dir, sink_files, sizeof sink_files / sizeof sink_files[0], eb);
    }
    snprintf(from, sizeof from, "%s/sink.db", dir);
    snprintf(to, sizeof to, "%s/" SINK_TRASH, dir);
    if (rename(from, to) < 0 && errno != ENOENT)
        return pl_err_os(eb, errno, "rename(%s, %s)", from, to);
    /* the commit point: without this fsync a power cut could bring the old
     * sink back beside an emptied set of checkpoints */
    rc = pl_fs_sync_dir(dir, eb);
    if (rc < 0)
        return rc;
    fiu_return_on("discard/rename/after",
                  pl_err(eb, PL_EIO, "discard: injected failure (discard/rename/after)"));
    {
        static const char *const rest[] = { SINK_TRASH, "sink.db-journal", "sink.db-wal",
                                            "sink.db-shm" };
        rc = unlink_all(dir, rest, sizeof rest / sizeof rest[0], eb);
    }
    return rc < 0 ? rc : pl_ckpt_discard(dir, eb);
}

/* Discard everything in the state dir and open a fresh sink (keeps (8)). */
static int rediscard(run *r, pl_errbuf *eb)
{
    int rc;
    note(r->o, "discarding state: %s", eb->msg);
    if (r->sink) {
        rc = pl_sink_close(r->sink, eb);
        r->sink = NULL;
        if (rc < 0)
            return rc;
    }
    rc = discard_state(r->o->statedir, eb);
    if (rc < 0)
        return rc;
    return pl_sink_open(r->o->statedir, &r->o->cfg, &r->sink, eb);
}

/*
 * Open the sink, check its cut against this run, and load the checkpoint
 * to resume from: keeps (5), (7).  Returns 1 (ck filled), 0 (start from
 * zero) or a negative code.  With --discard-state, a mismatch of the sink
 * or of a checkpoint discards the state (8) once.
 */
static int open_state(run *r, pl_ckpt_loaded *ck)
{
    const pl_run_opts *o = r->o;
    pl_errbuf *eb = r->eb;
    pl_sink_cut cut;
    int rc, discarded = 0, have;

    rc = pl_sink_open(o->statedir, &o->cfg, &r->sink, eb);
    if (rc == PL_ECONFIG && o->discard_state) {
        rc = rediscard(r, eb);
        discarded = 1;
    }
    if (rc < 0)
        return rc;
again:
    have = pl_sink_get_cut(r->sink, &cut, eb);
    if (have < 0)
        return have;
    if (have && !trusts_checkpoints() &&
        (cut.config_fp != r->config_fp || cut.log_id != r->log_id)) {
        rc = pl_err(eb, PL_ECONFIG,
                    "%s/sink.db holds rows of another %s (%s %016llx, this run %016llx); "
                    "rerun with the same options and log or pass --discard-state",
                    o->statedir, cut.config_fp != r->config_fp ? "configuration" : "log",
                    cut.config_fp != r->config_fp ? "fingerprint" : "log id",
                    (unsigned long long)(cut.config_fp != r->config_fp ? cut.config_fp
                                                                       : cut.log_id),
                    (unsigned long long)(cut.config_fp != r->config_fp ? r->config_fp
                                                                       : r->log_id));
        if (!o->discard_state || discarded)
            return rc;
        rc = rediscard(r, eb);
        discarded = 1;
        if (rc < 0)
            return rc;
        goto again;
    }
    pl_ckpt_loaded_free(ck);
    rc = pl_ckpt_load_upto(o->statedir, r->config_fp, r->log_id,
                           trusts_checkpoints() ? UINT64_MAX : have ? cut.position : 0, ck, eb);
    if (rc == PL_ECONFIG && o->discard_state && !discarded) {
        rc = rediscard(r, eb);
        discarded = 1;
        if (rc < 0)
            return rc;
        goto again;
    }
    return rc;
}

int pl_run(const pl_run_opts *o, pl_run_result *res, pl_errbuf *eb)
{
    run r;
    int rc, lockfd = -1, fiu_events = 0, resumed = 0;
    pl_ckpt_loaded ck;
    pl_emit emit;
    uint64_t in_cycle = 0;

    memset(&r, 0, sizeof r);
    memset(res, 0, sizeof *res);
    memset(&ck, 0, sizeof ck);
    r.o = o;
    r.eb = eb;
    r.res = res;
#ifdef FIU_ENABLE
    {
        /* One cheap flag keeps fiu_fail() off the per-event path unless a
         * crash library asked for per-event points. */
        const char *ev = getenv("REFPIPE_FIU_EVENTS");
        fiu_events = ev && *ev && strcmp(ev, "0") != 0;
    }
#endif
    if (o->checkpoint_every == 0)
        return pl_err(eb, PL_EUSAGE, "--checkpoint-every must be at least 1");

    if (o->converged_digests &&
        (rc = pl_conv_load(o->converged_digests, &r.conv, eb)) < 0)
        goto fail;
    rc = pl_log_open(o->logdir, &r.log, eb);
    if (rc < 0)
        goto fail;
    /* keeps (9) */
    rc = pl_fs_mkdir_p(o->statedir, eb);
    if (rc < 0)
        goto fail;
    rc = lock_statedir(o->statedir, &lockfd, eb);
    if (rc < 0)
        goto fail;

    /* The fingerprint checkpoints carry covers the state encodings too: a
     * state dir written by a build with another checkpoint-body or stream
     * format is then refused like one of another configuration, and
     * --discard-state can clear it, instead of failing to decode. */
    r.config_fp = pl_config_fingerprint(&o->cfg) ^
                  (0x9e3779b97f4a7c15ULL * (((uint64_t)RUN_BODY_VERSION << 32) |
                                            PL_STREAM_STATE_VERSION));
    r.log_id = pl_log_identity(r.log);
    r.rs.parts = pl_log_partitions(r.log);
    res->records_total = pl_log_total(r.log);
    r.rs.next_offset = calloc(r.rs.parts, sizeof *r.rs.next_offset);
    if (!r.rs.next_offset || merge_alloc(&r.m, r.rs.parts) < 0) {
        rc = pl_err(eb, -ENOMEM, "out of memory");
        goto fail;
    }

    emit.ctx = &r;
    emit.bar = emit_bar;
    emit.late = emit_late;
    emit.dlq = emit_dlq;
    rc = pl_stream_new(&o->cfg, r.rs.parts, &emit, &r.stream, eb);
    if (rc < 0)
        goto fail;

    /* Recovery: the sink's cut, then the newest valid checkpoint the sink
     * has reached; keeps (5) and (7). */
    rc = open_state(&r, &ck);
    if (ck.report[0]) {
        char *line = ck.report, *nl;
        while (*line) {
            nl = strchr(line, '\n');
            if (nl)
                *nl = 0;
            if (*line)
                note(o, "%s", line);
            if (!nl)
                break;
            line = nl + 1;
        }
    }
    if (rc < 0)
        goto fail;
    /* The next checkpoint is named above every ckpt-* present, valid or not,
     * so that a new checkpoint never sorts below a skipped corrupt one. */
    r.seqno = ck.next_seqno ? ck.next_seqno - 1 : 0;
    resumed = rc == 1;
    r.resumed = resumed;
    if (resumed) {
        rc = decode_body(&r.rs, r.stream, r.log, ck.body, ck.len, eb);
        if (rc < 0) {
            /* The container verified but the content does not: a bug or a
             * checksum collision.  Refuse rather than guess. */
            goto fail;
        }
        if (progress(&r.rs) != ck.meta.position) {
            rc = pl_err(eb, PL_ECORRUPT, "checkpoint position mismatch");
            goto fail;
        }
    }
    res->resumed_at = r.rs.position;

    if (r.rs.finished) {
        res->already_complete = 1;
        pl_stream_stats_get(r.stream, &res->stats);
        rc = pl_sink_close(r.sink, eb);
        r.sink = NULL;
        if (rc < 0)
            goto fail;
        goto done;
    }
    if (o->record_digests) {
        /* a resumed run adds to the lines of the run it continues */
        r.rec = fopen(o->record_digests, resumed ? "ae" : "we");
        if (!r.rec) {
            rc = pl_err_os(eb, errno, "open(%s)", o->record_digests);
            goto fail;
        }
    }
    if (r.rec || r.conv || o->trust_sink_digest) {
        pl_errbuf deb = { { 0 } };
        rc = pl_sink_digest_start(r.sink, o->trust_sink_digest ? PL_SINK_DIGEST_STORED : 0,
                                  &deb);
        if (rc < 0 && r.rec) {
            rc = pl_err(eb, rc, "%s", deb.msg);
            goto fail;
        }
        if (rc < 0 && r.conv) {
            /* a sink the scan cannot read (a damaged page) is left to the
             * run itself to find: it runs to the end as without the option */
            note(o, "convergence check off: %s", deb.msg);
            pl_conv_free(r.conv);
            r.conv = NULL;
        }
        if (rc == 1)
            note(o, "sink digest: the one recorded with the cut, trusted (no scan)");
        rc = 0;
    }
    if (!resumed) {
        /* Epoch checkpoint: pins the configuration and log identity in the
         * state dir before the first sink write, so a later run with other
         * options is refused instead of mixing rows of two configurations
         * in one sink. */
        rc = write_checkpoint(&r);
        if (rc == 0)
            rc = converge_step(&r, 0);
        if (rc < 0)
            goto fail;
    }

    /* Position the cursors at the checkpoint's cut: keeps (2). */
    for (uint32_t p = 0; p < r.rs.parts; p++) {
        int64_t ts;
        rc = pl_cur_init(r.log, p, r.rs.next_offset[p], &r.m.cur[p], eb);
        if (rc < 0)
            goto fail;
        rc = pl_cur_peek(&r.m.cur[p], &ts, eb);
        if (rc < 0)
            goto fail;
        if (rc == 1)
            r.m.key[p] = (uint64_t)ts;
    }
    merge_build(&r.m);

    rc = pl_sink_begin(r.sink, eb);
    if (rc < 0)
        goto fail;

    while (r.m.key[r.m.tree[1]] != UINT64_MAX) {
        uint32_t p = r.m.tree[1];
        pl_cursor *c = &r.m.cur[p];
        int64_t ts;
        rc = pl_cur_next(c, eb);
        if (rc <= 0) {
            if (rc == 0)
                rc = pl_err(eb, PL_ECORRUPT, "partition %u ended early", p);
            goto fail;
        }
        /* The partitions are read as eight or so interleaved sequential
         * streams, each advancing a record at a time: too slowly for the
         * hardware prefetcher, so the next records' lines were fetched by
         * the payload parse itself.  Ask for them a few records ahead. */
        __builtin_prefetch(c->p + 256);
        rc = pl_stream_push(r.stream, p, c->offset, c->ingest_ns, c->payload, c->len,
                            r.rs.position);
        if (rc != 0) {
            stream_error(&r, rc);
            goto fail;
        }
        if (fiu_events) {
            fiu_do_on("stream/event/after", {
                rc = pl_err(eb, PL_EIO, "injected failure (stream/event/after)");
                goto fail;
            });
        }
        r.rs.position++;
        r.rs.next_offset[p] = c->offset + 1;
        /* stopping between records is a crash the state dir is built for,
         * minus the kill: the sink transaction rolls back, the lock goes */
        if ((++res->processed & 4095) == 0 && (rc = pl_check_stop(eb, "run")) < 0)
            goto fail;

        /* Advance this partition's head; drop it when exhausted. */
        rc = pl_cur_peek(c, &ts, eb);
        if (rc < 0)
            goto fail;
        r.m.key[p] = rc == 1 ? (uint64_t)ts : UINT64_MAX;
        mreplay(&r.m, p);

        /* keeps (10): a cycle ends after N records or once it emitted N rows */
        if (++in_cycle == o->checkpoint_every || r.cycle_rows >= o->checkpoint_every) {
            in_cycle = 0;
            rc = commit_cycle(&r);
            if (rc < 0)
                goto fail;
            res->cycles++;
            if (r.stop)
                goto converged;
        }
    }

    /* End of input: the watermark goes to +inf in steps, each to the next
     * point where something fires, and a cycle commits whenever it emitted
     * N rows, so a crash storm cannot undo the whole flush (keeps (10)).
     * The last step, pl_stream_finish, fires nothing left; its cycle
     * records finished = 1 so that a rerun is a no-op. */
    for (;;) {
        int64_t w = pl_stream_next_step(r.stream);
        if (w == PL_WM_POS_INF)
            break;
        rc = pl_stream_advance(r.stream, w);
        if (rc != 0) {
            stream_error(&r, rc);
            goto fail;
        }
        if (r.cycle_rows >= o->checkpoint_every) {
            r.rs.steps++;
            rc = commit_cycle(&r);
            if (rc < 0)
                goto fail;
            res->cycles++;
            if (r.stop)
                goto converged;
        }
    }
    rc = pl_stream_finish(r.stream);
    if (rc != 0) {
        stream_error(&r, rc);
        goto fail;
    }
    r.rs.finished = 1;
    r.rs.steps++;
    rc = commit_cycle(&r);
    if (rc < 0)
        goto fail;
    res->cycles++;
converged:
    res->stopped_early = r.stop;
    pl_stream_stats_get(r.stream, &res->stats);
    /* the last WAL checkpoint's errors count: keeps (6) */
    rc = pl_sink_close(r.sink, eb);
    r.sink = NULL;
    if (rc < 0)
        goto fail;
    goto done;

fail:
    if (rc >= 0)
        rc = PL_EIO;
done:
    if (r.sink)
        pl_sink_close(r.sink, NULL);
    if (r.stream)
        pl_stream_free(r.stream);
    if (r.log)
        pl_log_close(r.log);
    /* the digest file is the caller's record, not durable state: no fsync,
     * but a write error that stdio held back fails the run */
    if (r.rec && fclose(r.rec) != 0 && rc == 0)
        rc = pl_err_os(eb, errno, "writing %s", o->record_digests);
    pl_conv_free(r.conv);
    pl_ckpt_loaded_free(&ck);
    free(r.pend);
    free(r.pend_syms);
    free(r.rs.next_offset);
    merge_free(&r.m);
    if (lockfd >= 0)
        close(lockfd);
    return rc;
}

/* ---- fail points -------------------------------------------------------- */

const pl_failpoint pl_failpoints[] = {
    { "log/block/enter",
      "the reader is entering a new block of a partition; disk holds the last commit" },
    { "stream/event/after",
      "an event was aggregated in memory (per event; armed only with REFPIPE_FIU_EVENTS); "
      "disk holds the last commit" },
    { "sink/commit/before",
      "the cycle's rows are staged (in memory, part maybe in the open SQLite transaction); "
      "they are lost, the checkpoint is older" },
    { "sink/commit/after",
      "rows committed, checkpoint not yet written; replay re-emits rows already in the sink" },
    { "ckpt/write/after",
      "checkpoint temp file written but not fsynced; it may be partial, the old one is intact" },
    { "ckpt/fsync/after",
      "checkpoint temp file durable but not renamed; the old checkpoint is still the newest" },
    { "ckpt/rename/after",
      "new checkpoint renamed into place, directory not fsynced; a power cut may lose the rename" },
    { "ckpt/done/after", "checkpoint complete and durable" },
    { "digest/write/after",
      "export/batch: a table's temp file was written; the old table (if any) is intact" },
    { "digest/fsync/after",
      "export/batch: a table's temp file is durable but not renamed; the old table is intact" },
    { "digest/rename/after",
      "export/batch: a table was renamed into place, directory not fsynced" },
    { "discard/rename/after",
      "--discard-state: the old sink is renamed away and durable (the commit point), "
      "checkpoints and side files not yet removed" },
};
const int pl_nfailpoints = (int)(sizeof pl_failpoints / sizeof pl_failpoints[0]);
