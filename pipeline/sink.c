/*
 * sink.c - the keyed, idempotent SQLite sink and the canonical export
 * (pl_sink.h; schema in docs/results-schema.md).
 *
 * Layout: invariants; small helpers (growable buffer, SQLite error mapping);
 * the row structs and their canonical CSV lines, shared by conflict records
 * and the export so the two can never disagree; open/close and schema;
 * transactions; the three keyed writers; the stage that batches them; the
 * export.
 *
 * Invariants:
 *  (1) Nothing stored is ever changed.  Every write is
 *      INSERT ... ON CONFLICT DO NOTHING; a key that is already present is
 *      re-read and compared field by field.
 *  (2) A differing replay is recorded in `conflicts` as two canonical CSV
 *      lines (stored, attempted), at most once per (tbl, key, attempted) so
 *      the count does not depend on how often a crashed run replayed.
 *  (3) Rows are durable exactly when pl_sink_commit returns 0: WAL mode with
 *      synchronous=FULL fsyncs the WAL (and, when it is new, its directory)
 *      inside COMMIT.
 *  (4) After any failed SQLite write, BEGIN, COMMIT or WAL checkpoint the
 *      handle is latched: every later call fails with the same code and no
 *      step is retried on it.  Recovery is close + restart from the caller's
 *      last checkpoint.
 *  (5) The export reads the three tables, the cut and the conflict count
 *      inside one read transaction, i.e. from one committed snapshot.
 *  (6) What a new handle sees is durable.  pl_sink_open copies the WAL into
 *      sink.db (wal_checkpoint(TRUNCATE), any error or a reader in the way
 *      fails the open), fsyncs sink.db, the truncated WAL and the directory.
 *      A commit whose WAL fsync failed can leave its frames readable from
 *      the page cache but not on disk; without this step a restart would
 *      build on them and a power cut would later cut a hole under newer
 *      checkpoints.
 *  (7) No WAL checkpoint error is swallowed: SQLite's automatic checkpoint
 *      (which ignores an fsync error of sink.db) is off; pl_sink_commit
 *      checkpoints itself when the WAL has grown, pl_sink_close once more,
 *      and a failure there latches (4) or is returned.
 *  (8) The cut travels with the rows: every transaction the driver commits
 *      records, through pl_sink_set_cut, the position, configuration and
 *      log fingerprints and the finished flag it reached, in the `meta`
 *      table.  So the sink itself says how far it got and under which
 *      configuration, whatever happened to the checkpoints, and the export
 *      knows whether the run had finished.
 *  (9) An export is published as one set: the tables and their digests are
 *      written into a fresh OUTDIR.tmp-XXXXXX next to OUTDIR, each fsync'd,
 *      and that directory is renamed (or exchanged) into place and its
 *      parent fsync'd.  A reader never sees tables of two exports mixed, nor
 *      an export that a power cut can take back.
 * (10) The content digest (pl_sink_digest_start) is a function of the
 *      multiset of rows stored: the sum, over every row of bars, late, dlq
 *      and conflicts, of the XXH3-128 of its table tag and canonical line,
 *      so the order rows came in does not matter.  It is seeded by one scan
 *      of the tables and then kept by sink_row_stored, called once for
 *      every row a write actually stores (an absorbed replay stores
 *      nothing).  Rows of a transaction count only once it commits.
 * (12) Every transaction that records a cut also records the digest of
 *      (10) in `meta` (key sink_digest), written after its rows, so it is
 *      committed exactly with them: the value kept (10), or a placeholder of
 *      the same length when none is kept (the same pages and writes either
 *      way, so fail-point hit counts do not depend on it).  A handle told to
 *      trust it (PL_SINK_DIGEST_STORED) starts from that value instead of
 *      the scan of (10).  After kills alone the two are equal: the value
 *      and the rows commit together, and an uncommitted transaction leaves
 *      neither.  Whatever changes rows outside a transaction of this code
 *      (a corrupted page or row, a power cut under a broken durability
 *      step, a lost write after an I/O error) leaves a stale value, which
 *      is why trusting it is the caller's decision (docs/semantics.md,
 *      "Early stop at convergence").
 * (11) Rows are batched, never reordered across commits: pl_sink_bar, _late
 *      and _dlq only stage a row in memory (copying its text); the stage is
 *      written into the open transaction, table by table in sorted order, by
 *      pl_sink_commit before its COMMIT, or earlier once it is full.  So a
 *      row is durable exactly with the commit of the transaction it was
 *      staged in (3), and staged rows that were never committed vanish with
 *      it (close, crash).  The staged bars go in as one statement (INSERT
 *      ... SELECT from the stage) that SQLite aborts as a whole when any of
 *      their keys is stored; then, as late and dlq rows always, one by one
 *      with the per-row writes and checks of (1) and (2).  A failure in the
 *      middle of writing the stage latches (4), because part of it is then
 *      in the transaction.
 *
 *      pl_sink_open --> IDLE --pl_sink_begin--> IN_TXN --pl_sink_commit--> IDLE
 *                        |                        | (write the stage, COMMIT)
 *                        |                        | any SQLite failure
 *                        +------------------------+-----------> LATCHED
 *      pl_sink_close from any state (an open transaction and the stage are
 *      dropped).  Outside a transaction a row is written at once.
 */
#include "pl_sink.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "pl_digest.h"
#include "pl_fs.h"
#include "pl_payload.h"
#include "pl_unsafe.h"

/* 2: the meta table carries the cut (8); 3: bars keyed by integer ids */
#define SINK_SCHEMA_VERSION "3"
#define SINK_BUSY_MS 5000
/*
 * WAL frames after which pl_sink_commit checkpoints (7).  Small (512 KiB of
 * pages), not SQLite's default of 1000: every restart copies the WAL a crash
 * left into sink.db at open (6), after SQLite has read all of it to index
 * it, and a test harness also copies the whole state dir for each trial that
 * starts from a snapshot; with 1000 frames that WAL was several times the
 * size of sink.db itself.  A checkpoint that copied every frame (nothing
 * reads an older snapshot) lets the next commit write the WAL again from its
 * start, so the file stays about this size unless one transaction is larger.
 */
#define SINK_CKPT_FRAMES 128
/*
 * Page cache bound (KiB; SQLite's default is 2000).  A commit cycle appends
 * to every (agg, symbol) group's end of the bars B-tree, so it dirties
 * about one leaf per group, and that is most of the database: with the
 * default, pages were spilled to the WAL in the middle of a transaction,
 * written again at its commit, and read back by the next cycle (a 2 M-tick,
 * five-aggregation run: 38.5 k pwrite and 25.8 k pread calls, against 24.5 k
 * and 8.2 k here, the rest being the WAL and its checkpoint).  Memory grows
 * only as pages are used, so small sinks cost what they did.
 */
#define SINK_CACHE_KIB "65536"
/*
 * Longest symbol or payload accepted.  SQLite takes lengths as int and
 * refuses values over 1e9 bytes; hex doubles a payload in conflict lines.
 */
#define SINK_MAX_FIELD (1u << 28)

/* ---------------------------------------------------------------- helpers */

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static int sb_reserve(sbuf *b, size_t extra)
{
    size_t want, cap;
    char *np;
    if (extra > SIZE_MAX / 2 - b->n)
        return -ENOMEM;
    want = b->n + extra;
    if (want <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap *= 2;
    np = realloc(b->p, cap);
    if (!np)
        return -ENOMEM;
    b->p = np;
    b->cap = cap;
    return 0;
}

static char *put_bytes(char *p, const void *s, size_t n)
{
    if (n)
        memcpy(p, s, n);
    return p + n;
}

/*
 * Map a SQLite result code to ours.  Full disks and I/O errors are PL_EIO so
 * that callers treat them like any failed write (restart and recover).
 */
static int sq_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
        return PL_EIO;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return PL_ELOCKED;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return PL_ECORRUPT;
    case SQLITE_NOMEM:
        return -ENOMEM;
    default:
        return PL_EDB;
    }
}

/* Record "<step>(<path>): <sqlite message> [<OS error>]" and return our code. */
static int sq_err(pl_errbuf *eb, sqlite3 *db, int rc, const char *step, const char *path)
{
    int sys = db ? sqlite3_system_errno(db) : 0;
    const char *m = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    /* out of descriptors or memory is the environment, not the storage */
    if ((rc & 0xff) == SQLITE_CANTOPEN && (sys == EMFILE || sys == ENFILE || sys == ENOMEM))
        return pl_err(eb, -sys, "%s(%s): %s (sqlite %d, %s)", step, path, m, rc, strerror(sys));
    if (sys && ((rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_FULL ||
                (rc & 0xff) == SQLITE_CANTOPEN))
        return pl_err(eb, sq_code(rc), "%s(%s): %s (sqlite %d, %s)", step, path, m, rc,
                      strerror(sys));
    return pl_err(eb, sq_code(rc), "%s(%s): %s (sqlite %d)", step, path, m, rc);
}

/* ------------------------------------------------- rows and their CSV lines */

/* Field values as stored; text pointers are not NUL-terminated. */
typedef struct bar_row {
    const char *agg, *sym;
    size_t agg_len, sym_len;
    int64_t agg_id, sym_id; /* their ids (aggs, symbols); set for writes only */
    int64_t seq, start_ns;
    int64_t end_ns; /* uint64 stored as its int64 bit pattern */
    int64_t open, high, low, close, volume, trades, vwap;
} bar_row;

typedef struct late_row {
    int64_t partition, offset, event_ns;
    const char *sym;
    size_t sym_len;
    int64_t price, qty, watermark_ns;
} late_row;

typedef struct dlq_row {
    int64_t partition, offset;
    const char *reason;
    size_t reason_len;
    const uint8_t *payload;
    size_t len;
} dlq_row;

/* Column lists shared by the key look-ups and the export, in CSV order. */
#define BAR_COLS "agg,symbol,seq,start_ns,end_ns,open,high,low,close,volume,trades,vwap"
/* bar_rows' columns, and BAR_COLS from bar_rows b joined to aggs a and symbols s */
#define ROW_COLS "agg_id,sym_id,seq,start_ns,end_ns,open,high,low,close,volume,trades,vwap"
#define BAR_NAMED                                                                          \
    "a.name,s.name,b.seq,b.start_ns,b.end_ns,b.open,b.high,b.low,b.close,b.volume,b.trades," \
    "b.vwap"
#define LATE_COLS "partition,offset,event_ns,symbol,price,qty,watermark_ns"
#define DLQ_COLS "partition,offset,reason,payload"

static const char *col_text(sqlite3_stmt *s, int i, size_t *len)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    *len = t ? (size_t)sqlite3_column_bytes(s, i) : 0;
    return t ? t : "";
}

static void bar_from_stmt(sqlite3_stmt *s, bar_row *r)
{
    r->agg = col_text(s, 0, &r->agg_len);
    r->sym = col_text(s, 1, &r->sym_len);
    r->seq = sqlite3_column_int64(s, 2);
    r->start_ns = sqlite3_column_int64(s, 3);
    r->end_ns = sqlite3_column_int64(s, 4);
    r->open = sqlite3_column_int64(s, 5);
    r->high = sqlite3_column_int64(s, 6);
    r->low = sqlite3_column_int64(s, 7);
    r->close = sqlite3_column_int64(s, 8);
    r->volume = sqlite3_column_int64(s, 9);
    r->trades = sqlite3_column_int64(s, 10);
    r->vwap = sqlite3_column_int64(s, 11);
}

static void late_from_stmt(sqlite3_stmt *s, late_row *r)
{
    r->partition = sqlite3_column_int64(s, 0);
    r->offset = sqlite3_column_int64(s, 1);
    r->event_ns = sqlite3_column_int64(s, 2);
    r->sym = col_text(s, 3, &r->sym_len);
    r->price = sqlite3_column_int64(s, 4);
    r->qty = sqlite3_column_int64(s, 5);
    r->watermark_ns = sqlite3_column_int64(s, 6);
}

static void dlq_from_stmt(sqlite3_stmt *s, dlq_row *r)
{
    r->partition = sqlite3_column_int64(s, 0);
    r->offset = sqlite3_column_int64(s, 1);
    r->reason = col_text(s, 2, &r->reason_len);
    /* column_blob before column_bytes, as SQLite requires */
    r->payload = sqlite3_column_blob(s, 3);
    r->len = r->payload ? (size_t)sqlite3_column_bytes(s, 3) : 0;
}

static int bar_eq(const bar_row *a, const bar_row *b)
{
    return a->agg_len == b->agg_len && memcmp(a->agg, b->agg, a->agg_len) == 0 &&
           a->sym_len == b->sym_len && memcmp(a->sym, b->sym, a->sym_len) == 0 &&
           a->seq == b->seq && a->start_ns == b->start_ns && a->end_ns == b->end_ns &&
           a->open == b->open && a->high == b->high && a->low == b->low &&
           a->close == b->close && a->volume == b->volume && a->trades == b->trades &&
           a->vwap == b->vwap;
}

static int late_eq(const late_row *a, const late_row *b)
{
    return a->partition == b->partition && a->offset == b->offset &&
           a->event_ns == b->event_ns && a->sym_len == b->sym_len &&
           memcmp(a->sym, b->sym, a->sym_len) == 0 && a->price == b->price &&
           a->qty == b->qty && a->watermark_ns == b->watermark_ns;
}

static int dlq_eq(const dlq_row *a, const dlq_row *b)
{
    return a->partition == b->partition && a->offset == b->offset &&
           a->reason_len == b->reason_len && memcmp(a->reason, b->reason, a->reason_len) == 0 &&
           a->len == b->len && (a->len == 0 || memcmp(a->payload, b->payload, a->len) == 0);
}

/*
 * Append one canonical CSV line (SPEC section 4) with its LF.  Numbers take at
 * most 21 characters plus the NUL that pl_fmt_* writes, hence 32 per field.
 */
static int fmt_bar(sbuf *o, const bar_row *r)
{
    char *p;
    if (sb_reserve(o, r->agg_len + r->sym_len + 12 * 32))
        return -ENOMEM;
    p = o->p + o->n;
    p = put_bytes(p, r->agg, r->agg_len);
    *p++ = ',';
    p = put_bytes(p, r->sym, r->sym_len);
    *p++ = ',';
    p += pl_fmt_u64(p, (uint64_t)r->seq);
    *p++ = ',';
    p += pl_fmt_i64(p, r->start_ns);
    *p++ = ',';
    p += pl_fmt_u64(p, (uint64_t)r->end_ns);
    *p++ = ',';
    p += pl_fmt_price(p, r->open);
    *p++ = ',';
    p += pl_fmt_price(p, r->high);
    *p++ = ',';
    p += pl_fmt_price(p, r->low);
    *p++ = ',';
    p += pl_fmt_price(p, r->close);
    *p++ = ',';
    p += pl_fmt_i64(p, r->volume);
    *p++ = ',';
    p += pl_fmt_i64(p, r->trades);
    *p++ = ',';
    p += pl_fmt_price(p, r->vwap);
    *p++ = '\n';
    o->n = (size_t)(p - o->p);
    return 0;
}

static int fmt_late(sbuf *o, const late_row *r)
{
    char *p;
    if (sb_reserve(o, r->sym_len + 8 * 32))
        return -ENOMEM;
    p = o->p + o->n;
    p += pl_fmt_u64(p, (uint64_t)r->partition);
    *p++ = ',';
    p += pl_fmt_u64(p, (uint64_t)r->offset);
    *p++ = ',';
    p += pl_fmt_i64(p, r->event_ns);
    *p++ = ',';
    p = put_bytes(p, r->sym, r->sym_len);
    *p++ = ',';
    p += pl_fmt_price(p, r->price);
    *p++ = ',';
    p += pl_fmt_i64(p, r->qty);
    *p++ = ',';
    p += pl_fmt_i64(p, r->watermark_ns);
    *p++ = '\n';
    o->n = (size_t)(p - o->p);
    return 0;
}

static int fmt_dlq(sbuf *o, const dlq_row *r)
{
    char *p;
    if (r->len > (SIZE_MAX - 4 * 32) / 2 || sb_reserve(o, r->reason_len + 2 * r->len + 4 * 32))
        return -ENOMEM;
    p = o->p + o->n;
    p += pl_fmt_u64(p, (uint64_t)r->partition);
    *p++ = ',';
    p += pl_fmt_u64(p, (uint64_t)r->offset);
    *p++ = ',';
    p = put_bytes(p, r->reason, r->reason_len);
    *p++ = ',';
    if (r->len)
        p += pl_fmt_hex(p, r->payload, r->len);
    *p++ = '\n';
    o->n = (size_t)(p - o->p);
    return 0;
}

/* ------------------------------------------------------------ the handle */

struct pl_sink {
    sqlite3 *db;
    pl_config cfg; /* a copy: aggregation names are bound SQLITE_STATIC */
    char path[PATH_MAX];
    sqlite3_stmt *ins_bar, *get_bar, *ins_late, *get_late, *ins_dlq, *get_dlq, *ins_conflict;
    sqlite3_stmt *ins_bars; /* the whole stage's bars in one INSERT ... SELECT (11) */
    sqlite3_stmt *begin, *commit, *put_meta;
    int in_txn;
    int wal_frames; /* frames in the WAL after the last commit (wal hook) */
    int ready;      /* pl_sink_open completed: close checkpoints (7) */
    int latched;  /* 0, or the code every later call returns (keeps (4)) */
    pl_errbuf eb; /* last failure of a writer; the latch's cause */
    sbuf key, stored, attempted; /* scratch for conflict records */
    pl_sink_stats st;
    /* content digest (pl_sink_digest_start; keeps (10)): of the committed
     * rows, and of those plus the open transaction's */
    int dig_on;
    int cut_in_txn; /* the open transaction records a cut: and the digest (12) */
    pl_sink_digest dig, dig_txn;
    sbuf dig_line;
    /* the stage (11): rows not yet written, their text in arena */
    struct sg_bar *sbar;
    struct sg_late *slate;
    struct sg_dlq *sdlq;
    size_t nbar, nlate, ndlq, cbar, clate, cdlq;
    sbuf arena;
    uint32_t *ix; /* sort order of one table's staged rows */
    int64_t *rows; /* the staged bars as bar_rows' columns, in stage order (sg_gather) */
    size_t crows;  /* rows' capacity, in rows */
    size_t cix;
    /* the staged bars' groups, one per (agg, symbol), for their sort: the
     * groups, an open-addressing table on group index + 1, and scratch */
    struct sg_grp *grp;
    size_t ngrp, cgrp;
    uint32_t *gtab, gmask;
    uint32_t *gord;
    size_t cgord;
    /* ids of the names (tables aggs, symbols): of cfg's aggregations (0:
     * not looked up yet), and of every symbol this handle has looked up,
     * an open-addressing table on the name */
    int64_t agg_id[PL_MAX_AGGS];
    struct sym_ent *smap;
    uint32_t smask;
    size_t nsmap;
    sbuf snames;
    sqlite3_stmt *ins_agg, *get_agg, *ins_sym, *get_sym;
};

static void sink_row_stored(pl_sink *k, char tbl, const void *row);
static int sg_flush(pl_sink *k);
static int sg_vtab_register(pl_sink *k);
static int put_digest(pl_sink *k, pl_errbuf *eb);

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS meta("
    " key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID, STRICT;"
    /* the names, each once; bar_rows holds their ids, so that its key is
     * three integers (cheap to compare, small records) */
    "CREATE TABLE IF NOT EXISTS aggs(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE) STRICT;"
    "CREATE TABLE IF NOT EXISTS symbols("
    " id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE) STRICT;"
    /* keyed seq before symbol: the bars of one commit cycle have nearby
     * seqs, so they land at the end of each aggregation's range, on a few
     * leaves.  Keyed (agg_id, sym_id, seq) they went to the end of every
     * symbol's range: a cycle of 65 bars over 20 symbols dirtied ~40 leaves,
     * all written to the WAL (a 200k-tick run at a cycle per 1000 records:
     * 22.4 k pwrite calls, against 5.0 k).  A sink made with the other key
     * order reads and writes alike: every statement names its columns, and
     * the export sorts. */
    "CREATE TABLE IF NOT EXISTS bar_rows("
    " agg_id INTEGER NOT NULL, sym_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,"
    " open INTEGER NOT NULL, high INTEGER NOT NULL, low INTEGER NOT NULL,"
    " close INTEGER NOT NULL, volume INTEGER NOT NULL, trades INTEGER NOT NULL,"
    " vwap INTEGER NOT NULL,"
    " PRIMARY KEY(agg_id, seq, sym_id)) WITHOUT ROWID, STRICT;"
    /* the bars with their names: what the digest scan and the checks read,
     * and what a person reads with the sqlite3 shell */
    "CREATE VIEW IF NOT EXISTS bars(" BAR_COLS ") AS SELECT a.name, s.name, b.seq,"
    " b.start_ns, b.end_ns, b.open, b.high, b.low, b.close, b.volume, b.trades, b.vwap"
    " FROM bar_rows b JOIN aggs a ON a.id = b.agg_id JOIN symbols s ON s.id = b.sym_id;"
    "CREATE TABLE IF NOT EXISTS late("
    " partition INTEGER NOT NULL, offset INTEGER NOT NULL, event_ns INTEGER NOT NULL,"
    " symbol TEXT NOT NULL, price INTEGER NOT NULL, qty INTEGER NOT NULL,"
    " watermark_ns INTEGER NOT NULL,"
    " PRIMARY KEY(partition, offset)) WITHOUT ROWID, STRICT;"
    "CREATE TABLE IF NOT EXISTS dlq("
    " partition INTEGER NOT NULL, offset INTEGER NOT NULL, reason TEXT NOT NULL,"
    " payload BLOB NOT NULL,"
    " PRIMARY KEY(partition, offset)) WITHOUT ROWID, STRICT;"
    "CREATE TABLE IF NOT EXISTS conflicts("
    " id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, key TEXT NOT NULL,"
    " stored TEXT NOT NULL, attempted TEXT NOT NULL) STRICT;"
    /* keeps (2) */
    "CREATE UNIQUE INDEX IF NOT EXISTS conflicts_once ON conflicts(tbl, key, attempted);"
    "INSERT INTO meta(key, value) VALUES('schema_version', '" SINK_SCHEMA_VERSION "')"
    " ON CONFLICT DO NOTHING;";

/* The plain-insert variant's bar_rows table: the same columns, no key. */
static const char *const bars_unkeyed_sql =
    "CREATE TABLE IF NOT EXISTS bar_rows("
    " agg_id INTEGER NOT NULL, sym_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,"
    " open INTEGER NOT NULL, high INTEGER NOT NULL, low INTEGER NOT NULL,"
    " close INTEGER NOT NULL, volume INTEGER NOT NULL, trades INTEGER NOT NULL,"
    " vwap INTEGER NOT NULL) STRICT;";

static int exec_sql(sqlite3 *db, const char *sql, const char *step, const char *path,
                    pl_errbuf *eb)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sq_err(eb, db, rc, step, path);
    return 0;
}

static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **st, const char *path,
                pl_errbuf *eb)
{
    int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    if (rc != SQLITE_OK)
        return sq_err(eb, db, rc, "prepare", path);
    return 0;
}

/* The stored schema version must be ours; anything else is another format. */
static int check_version(sqlite3 *db, const char *path, pl_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int rc, ret = 0;
    const char *v;
    rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1,
                            &st, NULL);
    if (rc != SQLITE_OK) {
        ret = sq_err(eb, db, rc, "read schema version", path);
        goto out;
    }
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        ret = rc == SQLITE_DONE
                  ? pl_err(eb, PL_ECORRUPT, "read schema version(%s): no version row", path)
                  : sq_err(eb, db, rc, "read schema version", path);
        goto out;
    }
    v = (const char *)sqlite3_column_text(st, 0);
    if (!v || strcmp(v, SINK_SCHEMA_VERSION) != 0)
        ret = pl_err(eb, PL_ECONFIG, "%s: sink schema version %s, expected %s", path,
                     v ? v : "(null)", SINK_SCHEMA_VERSION);
out:
    sqlite3_finalize(st);
    return ret;
}

static int make_path(char *out, size_t n, const char *dir, const char *name, pl_errbuf *eb)
{
    int w = snprintf(out, n, "%s/%s", dir, name);
    if (w < 0 || (size_t)w >= n)
        return pl_err(eb, PL_EUSAGE, "path %s/%s: too long", dir, name);
    return 0;
}

/* A missing state directory or sink.db is PL_ENOTFOUND naming it. */
static int stat_dir(const char *dir, const char *what, pl_errbuf *eb)
{
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return pl_err(eb, PL_ENOTFOUND, "%s: state directory %s not found", what, dir);
        return pl_err_os(eb, errno, "%s: stat(%s)", what, dir);
    }
    if (!S_ISDIR(sb.st_mode))
        return pl_err(eb, PL_ENOTFOUND, "%s: state directory %s is not a directory", what, dir);
    return 0;
}

/* Replaces SQLite's auto-checkpoint hook: only notes the WAL's size (7). */
static int wal_hook(void *ctx, sqlite3 *db, const char *name, int frames)
{
    ((pl_sink *)ctx)->wal_frames = frames;
    return SQLITE_OK;
}

/*
 * Copy the WAL into sink.db and truncate it (wal_checkpoint(TRUNCATE)), then
 * make that durable: fsync sink.db and the WAL (SQLite does not sync the
 * truncation) and, with statedir, the directory (a WAL that SQLite created
 * at this open gets its entry durable here, whatever SQLite's own, unchecked,
 * directory sync did).  With `strict` a checkpoint that could not complete
 * (a reader holds an old snapshot) is an error; without it that only leaves
 * the WAL for the next open.  Keeps (6) and (7).
 */
static int wal_truncate(pl_sink *k, const char *statedir, int strict, pl_errbuf *eb)
{
    char wal[PATH_MAX + 8];
    int rc, nlog = -1, nckpt = -1;
    rc = sqlite3_wal_checkpoint_v2(k->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &nlog, &nckpt);
    if ((rc & 0xff) == SQLITE_BUSY) {
        if (!strict)
            return 0;
        return pl_err(eb, PL_ELOCKED,
                      "wal_checkpoint(TRUNCATE)(%s): another connection (an export?) holds an "
                      "old snapshot; the sink cannot be made durable before use (retry when it "
                      "is done)", k->path);
    }
    if (rc != SQLITE_OK)
        return sq_err(eb, k->db, rc, "wal_checkpoint(TRUNCATE)", k->path);
    snprintf(wal, sizeof wal, "%s-wal", k->path);
    /* without these a power cut can bring back an older sink.db, or WAL frames
     * that were copied and are no longer wanted */
    if ((rc = pl_fs_sync_file(k->path, 0, eb)) || (rc = pl_fs_sync_file(wal, 1, eb)))
        return rc;
    if (statedir && (rc = pl_fs_sync_dir(statedir, eb)))
        return rc;
    k->wal_frames = 0;
    return 0;
}

int pl_sink_fold_wal(const char *statedir, pl_errbuf *eb)
{
    pl_sink *k = calloc(1, sizeof *k);
    int rc, ret;
    if (!k)
        return pl_err_os(eb, ENOMEM, "sink fold(%s)", statedir);
    if ((ret = make_path(k->path, sizeof k->path, statedir, "sink.db", eb)) != 0)
        goto out;
    /* no SQLITE_OPEN_CREATE: nothing to fold is not a reason to make a sink */
    rc = sqlite3_open_v2(k->path, &k->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        ret = rc == SQLITE_CANTOPEN ? 0 : sq_err(eb, k->db, rc, "sqlite3_open", k->path);
        goto out;
    }
    sqlite3_busy_timeout(k->db, SINK_BUSY_MS);
    /* first: no checkpoint at close, so that a database of another schema,
     * or another program's, is left as it was, and ours only checkpointed
     * by wal_truncate, whose errors are seen (7) */
    if ((rc = sqlite3_db_config(k->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL)) !=
        SQLITE_OK) {
        ret = sq_err(eb, k->db, rc, "no checkpoint on close", k->path);
        goto out;
    }
    if (check_version(k->db, k->path, NULL) != 0) {
        ret = 0;
        goto out;
    }
    ret = wal_truncate(k, statedir, 1, eb);
    if (ret == 0)
        ret = 1;
out:
    pl_sink_close(k, NULL); /* not ready: closes without a checkpoint of its own */
    return ret;
}

int pl_sink_open(const char *statedir, const pl_config *cfg, pl_sink **out, pl_errbuf *eb)
{
    pl_sink *k = NULL;
    struct stat sb;
    int created, rc, ret;

    *out = NULL;
    if (!statedir || !cfg || cfg->naggs < 0 || cfg->naggs > PL_MAX_AGGS)
        return pl_err(eb, PL_EUSAGE, "sink open: bad arguments");
    if ((ret = stat_dir(statedir, "sink open", eb)) != 0)
        return ret;
    k = calloc(1, sizeof *k);
    if (!k)
        return pl_err_os(eb, ENOMEM, "sink open(%s)", statedir);
    k->cfg = *cfg;
    if ((ret = make_path(k->path, sizeof k->path, statedir, "sink.db", eb)) != 0)
        goto fail;
    created = stat(k->path, &sb) != 0 && errno == ENOENT;

    rc = sqlite3_open_v2(k->path, &k->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        ret = sq_err(eb, k->db, rc, "sqlite3_open", k->path);
        goto fail;
    }
    sqlite3_extended_result_codes(k->db, 1);
    sqlite3_busy_timeout(k->db, SINK_BUSY_MS);
    /*
     * WAL, not DELETE: with synchronous=FULL a WAL commit is one append and
     * one fsync of the WAL (SQLite fsyncs the directory of a new WAL too), so
     * commit == durable.  In DELETE mode the commit point is the unlink of the
     * journal, which SQLite only makes durable with synchronous=EXTRA; a power
     * cut after "successful" commit could then roll it back.  WAL also lets an
     * export read a snapshot while a run is writing.
     */
    if ((ret = exec_sql(k->db, "PRAGMA journal_mode=WAL", "journal_mode=WAL", k->path, eb)) ||
        (ret = exec_sql(k->db, "PRAGMA synchronous=FULL", "synchronous=FULL", k->path, eb)) ||
        /* The stage's one-statement INSERT (11) may abort midway, so SQLite
         * keeps a statement journal for it; on disk that is a temp file
         * made, written and removed per commit in the system's temp dir.
         * It only ever undoes one statement of a live connection and is
         * worthless after a crash, so memory loses nothing durable.  Its
         * size is the original of the pages one stage's statement changes,
         * bounded by SINK_STAGE_ROWS rows a statement. */
        (ret = exec_sql(k->db, "PRAGMA temp_store=MEMORY", "temp_store=MEMORY", k->path, eb)) ||
        (ret = exec_sql(k->db, "PRAGMA cache_size=-" SINK_CACHE_KIB, "cache_size", k->path, eb)))
        goto fail;
    if (!pl_unsafe(PL_UNSAFE_WAL_AUTOCHECKPOINT)) {
        /* keeps (7): the hook replaces SQLite's automatic checkpoint, which
         * would swallow an fsync error of sink.db; the close-time checkpoint
         * is ours too, so that its errors are seen */
        sqlite3_wal_hook(k->db, wal_hook, k);
        if ((rc = sqlite3_db_config(k->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL)) !=
            SQLITE_OK) {
            ret = sq_err(eb, k->db, rc, "no checkpoint on close", k->path);
            goto fail;
        }
    }
    {
        /* journal_mode can silently stay as it was (e.g. on a read-only medium) */
        sqlite3_stmt *st = NULL;
        const char *mode;
        rc = sqlite3_prepare_v2(k->db, "PRAGMA journal_mode", -1, &st, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            mode = (const char *)sqlite3_column_text(st, 0);
            if (!mode || strcmp(mode, "wal") != 0)
                ret = pl_err(eb, PL_EDB, "journal_mode=WAL(%s): mode is %s", k->path,
                             mode ? mode : "(null)");
        } else
            ret = sq_err(eb, k->db, rc, "journal_mode", k->path);
        sqlite3_finalize(st);
        if (ret)
            goto fail;
    }
    /* keeps (6): before anything is read or written, what this handle sees
     * is made durable, or the open fails */
    if (!pl_unsafe(PL_UNSAFE_WAL_AUTOCHECKPOINT) &&
        (ret = wal_truncate(k, statedir, 1, eb)))
        goto fail;
    /* A sink of this version holds its whole schema: it was created in one
     * transaction with the version row, and nothing drops a table.  Every
     * restart then skips parsing and running the DDL; anything else (a new
     * file, no version row, another version) takes the full path below,
     * which creates or refuses. */
    if (created || check_version(k->db, k->path, NULL) != 0) {
        /* IMMEDIATE: two openers of a new file must not both create the schema */
        if ((ret = exec_sql(k->db, "BEGIN IMMEDIATE", "begin schema", k->path, eb)))
            goto fail;
        /* plain-insert: deliberately no key, so nothing stops a duplicate (breaks (1)) */
        if (pl_unsafe(PL_UNSAFE_PLAIN_INSERT) &&
            (ret = exec_sql(k->db, bars_unkeyed_sql, "create schema", k->path, eb))) {
            sqlite3_exec(k->db, "ROLLBACK", NULL, NULL, NULL);
            goto fail;
        }
        if ((ret = exec_sql(k->db, schema_sql, "create schema", k->path, eb)) ||
            (ret = check_version(k->db, k->path, eb)) ||
            (ret = exec_sql(k->db, "COMMIT", "commit schema", k->path, eb))) {
            sqlite3_exec(k->db, "ROLLBACK", NULL, NULL, NULL);
            goto fail;
        }
    }
    /* without it a power cut can drop a new sink.db's directory entry while its WAL survives */
    if (created && (ret = pl_fs_sync_dir(statedir, eb)))
        goto fail;

    if ((ret = prep(k->db,
                    pl_unsafe(PL_UNSAFE_PLAIN_INSERT)
                        ? "INSERT INTO bar_rows(" ROW_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,"
                          "?10,?11,?12)"
                    : pl_unsafe(PL_UNSAFE_BLIND_UPSERT)
                        /* deliberately wrong: a differing replay overwrites (breaks (1)) */
                        ? "INSERT OR REPLACE INTO bar_rows(" ROW_COLS ") VALUES(?1,?2,?3,?4,?5,"
                          "?6,?7,?8,?9,?10,?11,?12)"
                        : "INSERT INTO bar_rows(" ROW_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,"
                          "?10,?11,?12) ON CONFLICT DO NOTHING",
                    &k->ins_bar, k->path, eb)) ||
        (rc = sg_vtab_register(k)) != SQLITE_OK ||
        (ret = prep(k->db,
                    pl_unsafe(PL_UNSAFE_BLIND_UPSERT)
                        /* deliberately wrong, as ins_bar above */
                        ? "INSERT OR REPLACE INTO bar_rows(" ROW_COLS ") SELECT " ROW_COLS
                          " FROM sink_stage"
                        /* no conflict clause: a key that exists aborts the statement
                         * (ABORT undoes only this statement), see sg_write_bars */
                        : "INSERT INTO bar_rows(" ROW_COLS ") SELECT " ROW_COLS
                          " FROM sink_stage",
                    &k->ins_bars, k->path, eb)) ||
        (ret = prep(k->db, "INSERT INTO aggs(name) VALUES(?1) ON CONFLICT DO NOTHING",
                    &k->ins_agg, k->path, eb)) ||
        (ret = prep(k->db, "SELECT id FROM aggs WHERE name = ?1", &k->get_agg, k->path, eb)) ||
        (ret = prep(k->db, "INSERT INTO symbols(name) VALUES(?1) ON CONFLICT DO NOTHING",
                    &k->ins_sym, k->path, eb)) ||
        (ret = prep(k->db, "SELECT id FROM symbols WHERE name = ?1", &k->get_sym, k->path,
                    eb)) ||
        (ret = prep(k->db,
                    "INSERT INTO late(" LATE_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7)"
                    " ON CONFLICT DO NOTHING",
                    &k->ins_late, k->path, eb)) ||
        (ret = prep(k->db,
                    "INSERT INTO dlq(" DLQ_COLS ") VALUES(?1,?2,?3,?4) ON CONFLICT DO NOTHING",
                    &k->ins_dlq, k->path, eb)) ||
        (ret = prep(k->db, "BEGIN IMMEDIATE", &k->begin, k->path, eb)) ||
        (ret = prep(k->db, "COMMIT", &k->commit, k->path, eb)) ||
        (ret = prep(k->db,
                    "INSERT INTO meta(key, value) VALUES(?1, ?2)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    &k->put_meta, k->path, eb))) {
        if (!ret)
            ret = sq_err(eb, k->db, rc, "register sink_stage", k->path);
        goto fail;
    }
    k->ready = 1;
    *out = k;
    return 0;
fail:
    pl_sink_close(k, NULL);
    return ret;
}

int pl_sink_close(pl_sink *k, pl_errbuf *eb)
{
    int ret = 0, rc;
    if (!k)
        return 0;
    if (k->db) {
        sqlite3_finalize(k->ins_bar);
        sqlite3_finalize(k->ins_bars);
        sqlite3_finalize(k->ins_agg);
        sqlite3_finalize(k->get_agg);
        sqlite3_finalize(k->ins_sym);
        sqlite3_finalize(k->get_sym);
        sqlite3_finalize(k->get_bar);
        sqlite3_finalize(k->ins_late);
        sqlite3_finalize(k->get_late);
        sqlite3_finalize(k->ins_dlq);
        sqlite3_finalize(k->get_dlq);
        sqlite3_finalize(k->ins_conflict);
        sqlite3_finalize(k->begin);
        sqlite3_finalize(k->commit);
        sqlite3_finalize(k->put_meta);
        /* an uncommitted cycle must vanish: the caller replays it from its checkpoint */
        if (!sqlite3_get_autocommit(k->db))
            sqlite3_exec(k->db, "ROLLBACK", NULL, NULL, NULL);
        if (pl_unsafe(PL_UNSAFE_WAL_AUTOCHECKPOINT)) {
            /* deliberately old: SQLite's close-time checkpoint, result unseen */
            sqlite3_close_v2(k->db);
            k->db = NULL;
        } else {
            /* keeps (7): the last checkpoint is ours, its errors are returned;
             * a reader in the way only leaves the WAL for the next open (6) */
            if (!k->latched && k->ready)
                ret = wal_truncate(k, NULL, 0, eb);
            /* sqlite3_close, not _v2: a statement left unfinalized is a bug to report */
            rc = sqlite3_close(k->db);
            if (rc != SQLITE_OK && ret == 0)
                ret = sq_err(eb, k->db, rc, "sqlite3_close", k->path);
            if (rc != SQLITE_OK)
                sqlite3_close_v2(k->db);
            k->db = NULL;
        }
    }
    free(k->key.p);
    free(k->stored.p);
    free(k->attempted.p);
    free(k->dig_line.p);
    /* staged rows of an uncommitted cycle vanish with it */
    free(k->sbar);
    free(k->slate);
    free(k->sdlq);
    free(k->arena.p);
    free(k->ix);
    free(k->rows);
    free(k->grp);
    free(k->gtab);
    free(k->gord);
    free(k->smap);
    free(k->snames.p);
    free(k);
    return ret;
}

/* ------------------------------------------------------------ transactions */

/* A latched handle refuses everything; the message keeps the first cause. */
static int latched_err(pl_sink *k, pl_errbuf *eb)
{
    if (eb && eb != &k->eb)
        pl_err(eb, k->latched, "%s", k->eb.msg);
    return k->latched;
}

/* Fail and latch (keeps (4)).  PL_EIO for I/O trouble, PL_EDB otherwise. */
static int latch(pl_sink *k, int rc, const char *step, pl_errbuf *eb)
{
    char what[96];
    snprintf(what, sizeof what, "sink %s", step);
    sq_err(&k->eb, k->db, rc, what, k->path);
    k->latched = sq_code(rc) == PL_EIO ? PL_EIO : PL_EDB;
    return latched_err(k, eb);
}

/*
 * The statements of the replay path (a key already stored: settle_*,
 * put_conflict) are prepared when first needed, not at open: most processes
 * never replay a committed row, and every prepare costs a parse and a plan.
 * A prepare that fails latches (4), as a failed write would.
 */
static int lazy_prep(pl_sink *k, sqlite3_stmt **st, const char *sql)
{
    int rc;
    if (*st)
        return 0;
    rc = sqlite3_prepare_v3(k->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    if (rc != SQLITE_OK) {
        *st = NULL;
        return latch(k, rc, "prepare", NULL);
    }
    return 0;
}

int pl_sink_begin(pl_sink *k, pl_errbuf *eb)
{
    int rc;
    if (k->latched)
        return latched_err(k, eb);
    if (k->in_txn)
        return pl_err(eb, PL_EUSAGE, "sink begin(%s): a transaction is already open", k->path);
    rc = sqlite3_step(k->begin);
    sqlite3_reset(k->begin);
    /* another writer held the database past the busy timeout: nothing changed, no latch */
    if ((rc & 0xff) == SQLITE_BUSY)
        return sq_err(eb, k->db, rc, "sink begin", k->path);
    if (rc != SQLITE_DONE)
        return latch(k, rc, "begin", eb);
    k->in_txn = 1;
    k->cut_in_txn = 0;
    k->dig_txn = k->dig; /* keeps (10): a rolled-back transaction leaves no trace */
    return 0;
}

int pl_sink_commit(pl_sink *k, pl_errbuf *eb)
{
    int rc;
    if (k->latched)
        return latched_err(k, eb);
    if (!k->in_txn)
        return pl_err(eb, PL_EUSAGE, "sink commit(%s): no open transaction", k->path);
    /* keeps (11): the staged rows go into this transaction, before COMMIT */
    if (sg_flush(k))
        return latched_err(k, eb);
    /* keeps (12): the digest of exactly these rows commits with them */
    if (k->cut_in_txn && (rc = put_digest(k, eb)))
        return rc;
    k->in_txn = 0;
    rc = sqlite3_step(k->commit);
    sqlite3_reset(k->commit);
    if (rc != SQLITE_DONE)
        return latch(k, rc, "commit", eb); /* never retried: keeps (4) */
    k->st.commits++;
    k->dig = k->dig_txn; /* keeps (10) */
    if (k->wal_frames >= SINK_CKPT_FRAMES) {
        /* keeps (7): the WAL stays bounded, and an fsync error of sink.db
         * here is an error, not a shrug */
        rc = sqlite3_wal_checkpoint_v2(k->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY)
            return latch(k, rc, "wal_checkpoint", eb);
        k->wal_frames = 0;
    }
    return 0;
}

/* ---------------------------------------------------------------- the cut */

static const char *const cut_keys[4] = { "cut_position", "cut_config", "cut_log",
                                         "cut_finished" };

/* The meta key of (12) and its value: lo, hi and rows as 16 hex digits each. */
#define DIGEST_KEY "sink_digest"
#define DIGEST_LEN 48

/* One meta row (key, value) into the open transaction; failures latch. */
static int put_meta_row(pl_sink *k, const char *key, const char *val, int n, pl_errbuf *eb)
{
    int rc;
    if (sqlite3_bind_text(k->put_meta, 1, key, -1, SQLITE_STATIC) ||
        sqlite3_bind_text(k->put_meta, 2, val, n, SQLITE_TRANSIENT))
        return latch(k, sqlite3_errcode(k->db), "bind meta", eb);
    rc = sqlite3_step(k->put_meta);
    sqlite3_reset(k->put_meta);
    if (rc != SQLITE_DONE)
        return latch(k, rc, "write meta", eb);
    return 0;
}

/* Record the open transaction's digest (12): the kept one, or the
 * placeholder of the same length when none is kept. */
static int put_digest(pl_sink *k, pl_errbuf *eb)
{
    char v[DIGEST_LEN + 1];
    if (k->dig_on == 1)
        snprintf(v, sizeof v, "%016llx%016llx%016llx", (unsigned long long)k->dig_txn.lo,
                 (unsigned long long)k->dig_txn.hi, (unsigned long long)k->dig_txn.rows);
    else
        memset(v, '-', DIGEST_LEN);
    return put_meta_row(k, DIGEST_KEY, v, DIGEST_LEN, eb);
}

int pl_sink_set_cut(pl_sink *k, const pl_sink_cut *c, pl_errbuf *eb)
{
    uint64_t v[4] = { c->position, c->config_fp, c->log_id, c->finished ? 1u : 0u };
    if (k->latched)
        return latched_err(k, eb);
    if (!k->in_txn)
        return pl_err(eb, PL_EUSAGE, "sink cut(%s): no open transaction", k->path);
    /* keeps (8): in the same transaction as the rows it describes */
    for (int i = 0; i < 4; i++) {
        char num[24];
        int n = snprintf(num, sizeof num, "%llu", (unsigned long long)v[i]), rc;
        if ((rc = put_meta_row(k, cut_keys[i], num, n, eb)))
            return rc;
    }
    k->cut_in_txn = 1; /* the digest follows at commit (12) */
    return 0;
}

/* Read the cut from db (inside the caller's transaction, if any): 1 and *c
 * when recorded, 0 when the sink has none, PL_ECORRUPT for a damaged one. */
static int read_cut(sqlite3 *db, const char *path, pl_sink_cut *c, pl_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    uint64_t v[4] = { 0, 0, 0, 0 };
    int rc, seen = 0, ret;
    memset(c, 0, sizeof *c);
    rc = sqlite3_prepare_v2(db, "SELECT key, value FROM meta WHERE key LIKE 'cut!_%' ESCAPE '!'",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sq_err(eb, db, rc, "read cut", path);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        const char *val = (const char *)sqlite3_column_text(st, 1);
        char *end;
        for (int i = 0; i < 4; i++) {
            if (!key || strcmp(key, cut_keys[i]) != 0)
                continue;
            errno = 0;
            v[i] = val && *val >= '0' && *val <= '9' ? strtoull(val, &end, 10) : 0;
            if (!val || *val < '0' || *val > '9' || *end || errno) {
                ret = pl_err(eb, PL_ECORRUPT, "%s: meta %s holds '%s', not a number", path,
                             key, val ? val : "(null)");
                goto out;
            }
            seen |= 1 << i;
        }
    }
    if (rc != SQLITE_DONE) {
        ret = sq_err(eb, db, rc, "read cut", path);
        goto out;
    }
    if (seen != 0 && seen != 15) {
        ret = pl_err(eb, PL_ECORRUPT, "%s: the cut in table meta is incomplete", path);
        goto out;
    }
    c->position = v[0];
    c->config_fp = v[1];
    c->log_id = v[2];
    c->finished = v[3] != 0;
    ret = seen == 15;
out:
    sqlite3_finalize(st);
    return ret;
}

int pl_sink_get_cut(pl_sink *k, pl_sink_cut *c, pl_errbuf *eb)
{
    if (k->latched)
        return latched_err(k, eb);
    return read_cut(k->db, k->path, c, eb);
}

const char *pl_sink_errmsg(const pl_sink *k)
{
    return k->eb.msg;
}

void pl_sink_stats_get(const pl_sink *k, pl_sink_stats *st)
{
    *st = k->st;
}

int pl_sink_conflicts(pl_sink *k, int64_t *n, pl_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int rc, ret = 0;
    *n = 0;
    if (k->latched)
        return latched_err(k, eb);
    rc = sqlite3_prepare_v2(k->db, "SELECT count(*) FROM conflicts", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    else
        ret = sq_err(eb, k->db, rc, "count conflicts", k->path);
    sqlite3_finalize(st);
    return ret;
}

/* ------------------------------------------------------------ the writers */

/*
 * Step an INSERT ... ON CONFLICT DO NOTHING.  Returns 1 when a row was
 * inserted, 0 when the key existed, or a negative (latched) code.
 */
static int step_insert(pl_sink *k, sqlite3_stmt *ins, const char *tbl)
{
    int rc = sqlite3_step(ins);
    sqlite3_reset(ins);
    if (rc != SQLITE_DONE) {
        char step[64];
        snprintf(step, sizeof step, "insert into %s", tbl);
        return latch(k, rc, step, NULL);
    }
    return sqlite3_changes(k->db) > 0;
}

/* Record a differing replay (keeps (1), (2)); k->key/stored/attempted hold the lines. */
static int put_conflict(pl_sink *k, const char *tbl)
{
    sqlite3_stmt *s;
    int rc;
    if ((rc = lazy_prep(k, &k->ins_conflict,
                        "INSERT INTO conflicts(tbl, key, stored, attempted)"
                        " VALUES(?1,?2,?3,?4) ON CONFLICT DO NOTHING")))
        return rc;
    s = k->ins_conflict;
    /* the lines in the table carry no LF */
    if (sqlite3_bind_text(s, 1, tbl, -1, SQLITE_STATIC) ||
        sqlite3_bind_text(s, 2, k->key.p, (int)k->key.n, SQLITE_STATIC) ||
        sqlite3_bind_text(s, 3, k->stored.p, (int)k->stored.n - 1, SQLITE_STATIC) ||
        sqlite3_bind_text(s, 4, k->attempted.p, (int)k->attempted.n - 1, SQLITE_STATIC))
        return latch(k, sqlite3_errcode(k->db), "bind conflict", NULL);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s); /* the scratch buffers may move */
    if (rc != SQLITE_DONE)
        return latch(k, rc, "insert into conflicts", NULL);
    if (sqlite3_changes(k->db) > 0)
        sink_row_stored(k, 'C', tbl);
    k->st.conflicts++;
    return 0;
}

/* The key's row exists: absorb an identical replay, record a differing one. */
/*
 * A row's key already exists: settle_* read the stored row (the key is bound
 * to the lookup statement), compare, and absorb an identical row or record a
 * conflict.  The conflict texts are formatted before the statement is reset,
 * because the stored row's text columns point into it.
 */

/* Step the lookup; 0 with the stored row ready, or the latched error. */
static int fetch_stored(pl_sink *k, sqlite3_stmt *g, const char *what)
{
    int rc = sqlite3_step(g);
    if (rc == SQLITE_ROW)
        return 0;
    sqlite3_reset(g);
    return latch(k, rc == SQLITE_DONE ? SQLITE_CORRUPT : rc, what, NULL);
}

/* Reset the lookup, then absorb (same) or record the conflict whose texts
 * are in k->stored, k->attempted and k->key (nomem: formatting them failed). */
static int settle_end(pl_sink *k, sqlite3_stmt *g, int same, int nomem, const char *tbl)
{
    sqlite3_reset(g);
    if (nomem)
        return pl_err(&k->eb, -ENOMEM, "sink conflict(%s): out of memory", k->path);
    if (same) {
        k->st.absorbed++;
        return 0;
    }
    return put_conflict(k, tbl);
}

static int settle_bar(pl_sink *k, const bar_row *a)
{
    sqlite3_stmt *g;
    bar_row s;
    int rc, same, nomem = 0;
    if ((rc = lazy_prep(k, &k->get_bar,
                        "SELECT " BAR_NAMED " FROM bar_rows b, aggs a, symbols s"
                        " WHERE b.agg_id = ?1 AND b.sym_id = ?2 AND b.seq = ?3"
                        " AND a.id = b.agg_id AND s.id = b.sym_id")))
        return rc;
    g = k->get_bar;
    if (sqlite3_bind_int64(g, 1, a->agg_id) || sqlite3_bind_int64(g, 2, a->sym_id) ||
        sqlite3_bind_int64(g, 3, a->seq))
        return latch(k, sqlite3_errcode(k->db), "bind bars key", NULL);
    if ((rc = fetch_stored(k, g, "read stored bar")))
        return rc;
    bar_from_stmt(g, &s);
    same = bar_eq(a, &s);
    if (!same) {
        k->stored.n = k->attempted.n = k->key.n = 0;
        nomem = fmt_bar(&k->stored, &s) || fmt_bar(&k->attempted, a) ||
                sb_reserve(&k->key, a->agg_len + a->sym_len + 32);
        if (!nomem) {
            char *p = k->key.p;
            p = put_bytes(p, a->agg, a->agg_len);
            *p++ = ',';
            p = put_bytes(p, a->sym, a->sym_len);
            *p++ = ',';
            p += pl_fmt_u64(p, (uint64_t)a->seq);
            k->key.n = (size_t)(p - k->key.p);
        }
    }
    return settle_end(k, g, same, nomem, "bars");
}

static int fmt_pkey(sbuf *o, int64_t partition, int64_t offset)
{
    char *p;
    o->n = 0;
    if (sb_reserve(o, 64))
        return -ENOMEM;
    p = o->p;
    p += pl_fmt_u64(p, (uint64_t)partition);
    *p++ = ',';
    p += pl_fmt_u64(p, (uint64_t)offset);
    o->n = (size_t)(p - o->p);
    return 0;
}

/* Bind a (partition, offset) key to a lookup statement. */
static int bind_pkey(pl_sink *k, sqlite3_stmt *g, int64_t partition, int64_t offset,
                     const char *what)
{
    if (sqlite3_bind_int64(g, 1, partition) || sqlite3_bind_int64(g, 2, offset))
        return latch(k, sqlite3_errcode(k->db), what, NULL);
    return 0;
}

static int settle_late(pl_sink *k, const late_row *a)
{
    sqlite3_stmt *g;
    late_row s;
    int rc, same, nomem = 0;
    if ((rc = lazy_prep(k, &k->get_late,
                        "SELECT " LATE_COLS " FROM late WHERE partition = ?1 AND offset = ?2")))
        return rc;
    g = k->get_late;
    if ((rc = bind_pkey(k, g, a->partition, a->offset, "bind late key")) ||
        (rc = fetch_stored(k, g, "read stored late row")))
        return rc;
    late_from_stmt(g, &s);
    same = late_eq(a, &s);
    if (!same) {
        k->stored.n = k->attempted.n = 0;
        nomem = fmt_late(&k->stored, &s) || fmt_late(&k->attempted, a) ||
                fmt_pkey(&k->key, a->partition, a->offset);
    }
    return settle_end(k, g, same, nomem, "late");
}

static int settle_dlq(pl_sink *k, const dlq_row *a)
{
    sqlite3_stmt *g;
    dlq_row s;
    int rc, same, nomem = 0;
    if ((rc = lazy_prep(k, &k->get_dlq,
                        "SELECT " DLQ_COLS " FROM dlq WHERE partition = ?1 AND offset = ?2")))
        return rc;
    g = k->get_dlq;
    if ((rc = bind_pkey(k, g, a->partition, a->offset, "bind dlq key")) ||
        (rc = fetch_stored(k, g, "read stored dlq row")))
        return rc;
    dlq_from_stmt(g, &s);
    same = dlq_eq(a, &s);
    if (!same) {
        k->stored.n = k->attempted.n = 0;
        nomem = fmt_dlq(&k->stored, &s) || fmt_dlq(&k->attempted, a) ||
                fmt_pkey(&k->key, a->partition, a->offset);
    }
    return settle_end(k, g, same, nomem, "dlq");
}

/*
 * Keys are stored as INTEGER and ordered by SQLite's signed comparison, so a
 * seq or offset above INT64_MAX would sort wrongly.  SPEC bounds them far
 * below (seq <= t < 2^63, offsets count records); refuse rather than misorder.
 */
static int key_fits(pl_sink *k, uint64_t v, const char *what)
{
    if (v > (uint64_t)INT64_MAX)
        return pl_err(&k->eb, PL_ELIMIT, "sink(%s): %s %llu above INT64_MAX", k->path, what,
                      (unsigned long long)v);
    return 0;
}

/* SQLite takes int lengths; a negative one would read past the buffer. */
static int len_fits(pl_sink *k, uint32_t n, const char *what)
{
    if (n > SINK_MAX_FIELD)
        return pl_err(&k->eb, PL_ELIMIT, "sink(%s): %s of %u bytes too long", k->path, what, n);
    return 0;
}

/*
 * Write one row into the open transaction: INSERT ... ON CONFLICT DO NOTHING,
 * and when the key exists, absorb an identical row or record the conflict
 * (keeps (1), (2)).  0, or the latched code.
 */
static int write_bar(pl_sink *k, const bar_row *a)
{
    sqlite3_stmt *s = k->ins_bar;
    int rc;
    if (sqlite3_bind_int64(s, 1, a->agg_id) || sqlite3_bind_int64(s, 2, a->sym_id) ||
        sqlite3_bind_int64(s, 3, a->seq) || sqlite3_bind_int64(s, 4, a->start_ns) ||
        sqlite3_bind_int64(s, 5, a->end_ns) || sqlite3_bind_int64(s, 6, a->open) ||
        sqlite3_bind_int64(s, 7, a->high) || sqlite3_bind_int64(s, 8, a->low) ||
        sqlite3_bind_int64(s, 9, a->close) || sqlite3_bind_int64(s, 10, a->volume) ||
        sqlite3_bind_int64(s, 11, a->trades) || sqlite3_bind_int64(s, 12, a->vwap))
        return latch(k, sqlite3_errcode(k->db), "bind bar", NULL);
    rc = step_insert(k, s, "bars");
    if (rc > 0) {
        sink_row_stored(k, 'B', a);
        k->st.inserted++;
        return 0;
    }
    return rc < 0 ? rc : settle_bar(k, a);
}

static int write_late(pl_sink *k, const late_row *a)
{
    sqlite3_stmt *s = k->ins_late;
    int rc;
    if (sqlite3_bind_int64(s, 1, a->partition) || sqlite3_bind_int64(s, 2, a->offset) ||
        sqlite3_bind_int64(s, 3, a->event_ns) ||
        sqlite3_bind_text(s, 4, a->sym, (int)a->sym_len, SQLITE_STATIC) ||
        sqlite3_bind_int64(s, 5, a->price) || sqlite3_bind_int64(s, 6, a->qty) ||
        sqlite3_bind_int64(s, 7, a->watermark_ns))
        return latch(k, sqlite3_errcode(k->db), "bind late", NULL);
    rc = step_insert(k, s, "late");
    if (rc > 0) {
        sink_row_stored(k, 'L', a);
        k->st.inserted++;
        return 0;
    }
    return rc < 0 ? rc : settle_late(k, a);
}

static int write_dlq(pl_sink *k, const dlq_row *a)
{
    sqlite3_stmt *s = k->ins_dlq;
    int rc;
    if (sqlite3_bind_int64(s, 1, a->partition) || sqlite3_bind_int64(s, 2, a->offset) ||
        sqlite3_bind_text(s, 3, a->reason, (int)a->reason_len, SQLITE_STATIC) ||
        sqlite3_bind_blob(s, 4, a->payload, (int)a->len, SQLITE_STATIC))
        return latch(k, sqlite3_errcode(k->db), "bind dlq", NULL);
    rc = step_insert(k, s, "dlq");
    if (rc > 0) {
        sink_row_stored(k, 'D', a);
        k->st.inserted++;
        return 0;
    }
    return rc < 0 ? rc : settle_dlq(k, a);
}

/* ------------------------------------------------------------ the stage */

/*
 * The stage (keeps (11)): rows of the open transaction wait in memory and
 * are written in one pass per table, sorted, when pl_sink_commit runs or
 * the stage is full: late and dlq rows in their key order, bars by (agg,
 * symbol, seq) (sg_sort_bars).  Sorted rows land on the same or the next
 * B-tree leaf as the row before, or (bars, whose key is (agg, seq, symbol))
 * on the few leaves at the end of each aggregation's range that one
 * cycle's seqs reach, so a pass touches each leaf once instead of once per
 * row.  The sort is stable (ties keep the order of the calls), so a key
 * staged twice is stored from its first call and the second is compared
 * with it, as when every call wrote at once.
 *
 * Staged rows own their text: a symbol or payload is copied into the arena,
 * since the caller's buffers are only valid during the call.
 */
typedef struct sg_bar {
    int64_t seq, start_ns, end_ns, open, high, low, close, volume, trades, vwap;
    uint64_t w0, w1; /* the symbol's first 16 bytes, big-endian, zero-padded */
    size_t sym;      /* arena offset */
    uint32_t sym_len, agg;
    uint32_t grp;    /* its (agg, symbol) group */
} sg_bar;

/* The staged bars of one (agg, symbol): the sort orders groups by their
 * ids (agg_id, sym_id), which is what the key compares, then the rows
 * within a group by seq (sg_sort_bars). */
typedef struct sg_grp {
    uint64_t w0, w1;  /* as in sg_bar */
    size_t sym;       /* arena offset of its first row's symbol */
    uint32_t sym_len, agg;
    uint32_t n;       /* rows */
    uint32_t at;      /* the sort: first position of its rows */
    int64_t sym_id;   /* the symbol's id, looked up before the sort */
} sg_grp;

/* A symbol name and its id (0: an empty slot; ids start at 1). */
typedef struct sym_ent {
    uint64_t h;
    size_t name; /* offset in snames */
    uint32_t len;
    int64_t id;
} sym_ent;

typedef struct sg_late {
    int64_t partition, offset, event_ns, price, qty, watermark_ns;
    size_t sym; /* arena offset */
    uint32_t sym_len;
} sg_late;

typedef struct sg_dlq {
    int64_t partition, offset;
    size_t payload; /* arena offset */
    uint32_t len;
    int reason;
} sg_dlq;

/* Rows, or arena bytes, after which a full stage is written out: bounds
 * the stage's memory whatever the cycle length. */
#define SINK_STAGE_ROWS 65536u
#define SINK_STAGE_BYTES (16u << 20)

/* Grow array *p of *cap elements of sz bytes to hold n + 1. */
static int sg_grow(void **p, size_t *cap, size_t n, size_t sz)
{
    size_t c = *cap ? *cap * 2 : 1024;
    void *q;
    if (n < *cap)
        return 0;
    if (c > SIZE_MAX / sz)
        return -ENOMEM;
    q = realloc(*p, c * sz);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* Room for n entries in *p (capacity *cap): 0 or -ENOMEM. */
static int u32_room(uint32_t **p, size_t *cap, size_t n)
{
    uint32_t *q;
    if (n <= *cap)
        return 0;
    q = realloc(*p, n * sizeof *q);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

/* Copy n bytes into the arena; their offset in *off. */
static int sg_copy(pl_sink *k, const void *src, size_t n, size_t *off)
{
    if (sb_reserve(&k->arena, n))
        return -ENOMEM;
    *off = k->arena.n;
    k->arena.n += n;
    if (n)
        memcpy(k->arena.p + *off, src, n);
    return 0;
}

static uint64_t be64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/*
 * The ids of the names.  An id is looked up in SQL once per handle and name
 * (INSERT ... ON CONFLICT DO NOTHING, then SELECT), inside the transaction
 * that writes the first bar naming it, so a new name is committed exactly
 * with that bar; a rolled-back transaction ends the handle (close, or a
 * latch), so no id it looked up outlives it.  0, or the latched code.
 */
static int name_id(pl_sink *k, sqlite3_stmt *ins, sqlite3_stmt *get, const char *name,
                   size_t len, int64_t *id)
{
    int rc;
    if (sqlite3_bind_text(ins, 1, name, (int)len, SQLITE_STATIC) ||
        sqlite3_bind_text(get, 1, name, (int)len, SQLITE_STATIC))
        return latch(k, sqlite3_errcode(k->db), "bind name", NULL);
    rc = sqlite3_step(ins);
    sqlite3_reset(ins);
    if (rc != SQLITE_DONE)
        return latch(k, rc, "insert name", NULL);
    rc = sqlite3_step(get);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(get, 0) : 0;
    sqlite3_reset(get);
    if (rc != SQLITE_ROW || *id <= 0)
        return latch(k, rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_CORRUPT : rc,
                     "read name id", NULL);
    return 0;
}

/* The id of symbol s (len bytes), from smap or looked up and kept there. */
static int sym_id(pl_sink *k, const char *s, uint32_t len, int64_t *id)
{
    uint64_t h = XXH3_64bits(s, len);
    uint32_t i;
    int rc;
    if ((k->nsmap + 1) * 2 > (size_t)k->smask + 1 || !k->smap) {
        /* load factor <= 1/2: double the table and reinsert */
        size_t cap = k->smap ? ((size_t)k->smask + 1) * 2 : 1024;
        sym_ent *t;
        if (cap > UINT32_MAX || !(t = calloc(cap, sizeof *t)))
            return -ENOMEM;
        for (size_t j = 0; k->smap && j <= k->smask; j++) {
            if (!k->smap[j].id)
                continue;
            i = (uint32_t)(k->smap[j].h & (cap - 1));
            while (t[i].id)
                i = (i + 1) & (uint32_t)(cap - 1);
            t[i] = k->smap[j];
        }
        free(k->smap);
        k->smap = t;
        k->smask = (uint32_t)(cap - 1);
    }
    for (i = (uint32_t)(h & k->smask); k->smap[i].id; i = (i + 1) & k->smask) {
        const sym_ent *e = &k->smap[i];
        if (e->h == h && e->len == len && memcmp(k->snames.p + e->name, s, len) == 0) {
            *id = e->id;
            return 0;
        }
    }
    if (sb_reserve(&k->snames, len))
        return -ENOMEM;
    if ((rc = name_id(k, k->ins_sym, k->get_sym, s, len, id)))
        return rc;
    k->smap[i] = (sym_ent){ h, k->snames.n, len, *id };
    k->snames.n = (size_t)(put_bytes(k->snames.p + k->snames.n, s, len) - k->snames.p);
    k->nsmap++;
    return 0;
}

/* Look up the ids of cfg's aggregations (once) and of every group's symbol. */
static int sg_ids(pl_sink *k)
{
    int rc;
    for (int i = 0; i < k->cfg.naggs; i++)
        if (!k->agg_id[i] && (rc = name_id(k, k->ins_agg, k->get_agg, k->cfg.aggs[i].name,
                                           strlen(k->cfg.aggs[i].name), &k->agg_id[i])))
            return rc;
    for (size_t i = 0; i < k->ngrp; i++) {
        sg_grp *r = &k->grp[i];
        if ((rc = sym_id(k, k->arena.p + r->sym, r->sym_len, &r->sym_id)))
            return rc;
    }
    return 0;
}

/*
 * Stage order: (agg_id, sym_id, seq), then the order of the calls.  Not
 * bar_rows' key order (agg_id, seq, sym_id): what the insert needs is only
 * that the rows of one leaf come together, and one stage's seqs lie close
 * together (a time window's seq is its index, the same for every symbol; a
 * tick, volume or dollar bar's is its symbol's count, and those grow side by
 * side), so its rows of each aggregation fall on the few leaves at the end
 * of that aggregation's range whichever way they are ordered within it.
 *
 * A stage holds a few rows per (agg, symbol) and thousands of those pairs,
 * and the stream emits each pair's rows in seq order.  So the rows are
 * sorted as groups: each staged row joins its pair's group (a hash table,
 * sg_group), the groups are sorted by their ids - a few thousand compares
 * instead of a comparison sort of every row through a pointer - and a
 * counting pass lays the rows out group after group in the order of the
 * calls, which within a group is nearly always seq order already.  The rows
 * join their groups here, in one pass over the stage, not as each is
 * staged: between two calls the stream's own work pushes the group table
 * out of the CPU caches, and every row paid for fetching it back.
 */
static int cmp_grp(const void *x, const void *y, void *ctx)
{
    const pl_sink *k = ctx;
    const sg_grp *a = &k->grp[*(const uint32_t *)x], *b = &k->grp[*(const uint32_t *)y];
    if (k->agg_id[a->agg] != k->agg_id[b->agg])
        return k->agg_id[a->agg] < k->agg_id[b->agg] ? -1 : 1;
    return a->sym_id < b->sym_id ? -1 : a->sym_id > b->sym_id;
}

/* Within a group: seq, then the order of the calls. */
static int cmp_seq(const void *x, const void *y, void *ctx)
{
    const pl_sink *k = ctx;
    uint32_t i = *(const uint32_t *)x, j = *(const uint32_t *)y;
    if (k->sbar[i].seq != k->sbar[j].seq)
        return k->sbar[i].seq < k->sbar[j].seq ? -1 : 1;
    return i < j ? -1 : i > j;
}

/* A 64-bit finalizer (MurmurHash3's fmix64): every input bit moves every
 * output bit, so the low bits taken for a slot depend on the whole key. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDULL;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ULL;
    return x ^ (x >> 33);
}

/*
 * Home slot of a group (or of a staged bar: the same fields) in gtab.  The
 * aggregation and length are spread over all 64 bits (an odd multiplier)
 * before they meet the symbol's bytes: XORed in as they were, aggregation i
 * cancelled a symbol digit's low bits, so S0010 under one aggregation and
 * S0000 under another had the same key, and 2500 groups of 500 symbols
 * shared 676 home slots (3.5 probes a row, each a cache miss, not 1.2).
 */
#define GRP_HOME(k, g)                                                                  \
    ((uint32_t)mix64((g)->w0 + 0x9E3779B97F4A7C15ULL * ((g)->w1 ^                      \
                                                      ((uint64_t)(g)->agg << 32 |       \
                                                       (g)->sym_len))) &                \
     (k)->gmask)

/* Put staged bar g (its symbol already in the arena) into its group. */
static int sg_group(pl_sink *k, sg_bar *g)
{
    uint32_t h, e;
    if ((k->ngrp + 1) * 2 > (size_t)k->gmask + 1 || !k->gtab) {
        /* load factor <= 1/2: double the table and reinsert */
        size_t cap = k->gtab ? ((size_t)k->gmask + 1) * 2 : 1024;
        uint32_t *t;
        if (cap > UINT32_MAX || !(t = calloc(cap, sizeof *t)))
            return -ENOMEM;
        free(k->gtab);
        k->gtab = t;
        k->gmask = (uint32_t)(cap - 1);
        for (size_t i = 0; i < k->ngrp; i++) {
            h = GRP_HOME(k, &k->grp[i]);
            while (k->gtab[h])
                h = (h + 1) & k->gmask;
            k->gtab[h] = (uint32_t)i + 1;
        }
    }
    h = GRP_HOME(k, g);
    while ((e = k->gtab[h]) != 0) {
        sg_grp *r = &k->grp[e - 1];
        if (r->w0 == g->w0 && r->w1 == g->w1 && r->agg == g->agg &&
            r->sym_len == g->sym_len &&
            (g->sym_len <= 16 ||
             memcmp(k->arena.p + r->sym + 16, k->arena.p + g->sym + 16, g->sym_len - 16) == 0)) {
            r->n++;
            g->grp = e - 1;
            return 0;
        }
        h = (h + 1) & k->gmask;
    }
    if (sg_grow((void **)&k->grp, &k->cgrp, k->ngrp, sizeof *k->grp))
        return -ENOMEM;
    k->grp[k->ngrp] = (sg_grp){ g->w0, g->w1, g->sym, g->sym_len, g->agg, 1, 0, 0 };
    k->gtab[h] = (uint32_t)k->ngrp + 1;
    g->grp = (uint32_t)k->ngrp++;
    return 0;
}

/* ix[0..nbar) = the staged bars in stage order, ties in the order of the calls. */
static int sg_sort_bars(pl_sink *k)
{
    size_t n = k->nbar, at = 0;
    int rc;
    for (size_t i = 0; i < n; i++)
        if (sg_group(k, &k->sbar[i]))
            return -ENOMEM;
    if (u32_room(&k->ix, &k->cix, n) || u32_room(&k->gord, &k->cgord, k->ngrp))
        return -ENOMEM;
    if ((rc = sg_ids(k)))
        return rc;
    for (size_t i = 0; i < k->ngrp; i++)
        k->gord[i] = (uint32_t)i;
    if (k->ngrp > 1)
        qsort_r(k->gord, k->ngrp, sizeof *k->gord, cmp_grp, k);
    for (size_t i = 0; i < k->ngrp; i++) {
        sg_grp *r = &k->grp[k->gord[i]];
        r->at = (uint32_t)at;
        at += r->n;
    }
    /* counting pass: stable, so each group's rows are in the order of the calls */
    for (size_t i = 0; i < n; i++)
        k->ix[k->grp[k->sbar[i].grp].at++] = (uint32_t)i;
    /* each group now ends at its at; sort the rare one not in seq order */
    for (size_t i = 0, b = 0; i < k->ngrp; i++) {
        size_t e = k->grp[k->gord[i]].at;
        for (size_t j = b + 1; j < e; j++)
            if (k->sbar[k->ix[j - 1]].seq > k->sbar[k->ix[j]].seq) {
                qsort_r(k->ix + b, e - b, sizeof *k->ix, cmp_seq, k);
                break;
            }
        b = e;
    }
    return 0;
}

/* (partition, offset), then the order of the calls. */
#define CMP_PKEY(name, arr)                                                    \
    static int name(const void *x, const void *y, void *ctx)                  \
    {                                                                          \
        const pl_sink *k = ctx;                                                \
        uint32_t i = *(const uint32_t *)x, j = *(const uint32_t *)y;           \
        if (k->arr[i].partition != k->arr[j].partition)                        \
            return k->arr[i].partition < k->arr[j].partition ? -1 : 1;         \
        if (k->arr[i].offset != k->arr[j].offset)                              \
            return k->arr[i].offset < k->arr[j].offset ? -1 : 1;               \
        return i < j ? -1 : i > j;                                             \
    }
CMP_PKEY(cmp_late, slate)
CMP_PKEY(cmp_dlq, sdlq)

/* ix[0..n) = 0..n-1 sorted by cmp. */
static int sg_sort(pl_sink *k, size_t n, int (*cmp)(const void *, const void *, void *))
{
    if (u32_room(&k->ix, &k->cix, n))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        k->ix[i] = (uint32_t)i;
    if (n > 1)
        qsort_r(k->ix, n, sizeof *k->ix, cmp, k);
    return 0;
}

static void sg_clear(pl_sink *k)
{
    k->nbar = k->nlate = k->ndlq = 0;
    k->arena.n = 0;
    if (k->ngrp * 8 > (size_t)k->gmask + 1) {
        memset(k->gtab, 0, ((size_t)k->gmask + 1) * sizeof *k->gtab);
    } else {
        /* a few groups (rows written one at a time outside a transaction):
         * clear their slots only; each is found from its home slot, empty
         * slots on the way being those cleared already */
        for (size_t i = 0; i < k->ngrp; i++) {
            uint32_t h = GRP_HOME(k, &k->grp[i]);
            while (k->gtab[h] != i + 1)
                h = (h + 1) & k->gmask;
            k->gtab[h] = 0;
        }
    }
    k->ngrp = 0;
}

/*
 * The staged bars as a table: sink_stage, an eponymous virtual table of this
 * connection whose rows are k->rows (the staged bars in the stage order
 * sg_sort_bars made, as sg_gather laid them out), so that one INSERT ...
 * SELECT writes them all.  Read only, and only by ins_bars inside
 * sg_write_bars.
 */
#define SG_NCOL 12 /* ROW_COLS */
typedef struct sg_vcur {
    sqlite3_vtab_cursor base;
    size_t i;
} sg_vcur;

typedef struct sg_vtab {
    sqlite3_vtab base;
    pl_sink *k;
} sg_vtab;

static int sg_vconnect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                       sqlite3_vtab **out, char **err)
{
    sg_vtab *t;
    int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(agg_id INTEGER, sym_id INTEGER, seq INTEGER,"
                                      " start_ns INTEGER, end_ns INTEGER, open INTEGER,"
                                      " high INTEGER, low INTEGER, close INTEGER,"
                                      " volume INTEGER, trades INTEGER, vwap INTEGER)");
    if (rc != SQLITE_OK)
        return rc;
    t = sqlite3_malloc(sizeof *t);
    if (!t)
        return SQLITE_NOMEM;
    memset(t, 0, sizeof *t);
    t->k = aux;
    *out = &t->base;
    return SQLITE_OK;
}

static int sg_vdisconnect(sqlite3_vtab *t)
{
    sqlite3_free(t);
    return SQLITE_OK;
}

static int sg_vbest(sqlite3_vtab *t, sqlite3_index_info *ii)
{
    ii->estimatedCost = (double)((sg_vtab *)t)->k->nbar + 1;
    ii->estimatedRows = (sqlite3_int64)((sg_vtab *)t)->k->nbar;
    return SQLITE_OK;
}

static int sg_vopen(sqlite3_vtab *t, sqlite3_vtab_cursor **out)
{
    sg_vcur *c = sqlite3_malloc(sizeof *c);
    if (!c)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    *out = &c->base;
    return SQLITE_OK;
}

static int sg_vclose(sqlite3_vtab_cursor *c)
{
    sqlite3_free(c);
    return SQLITE_OK;
}

static int sg_vfilter(sqlite3_vtab_cursor *c, int idx, const char *idxs, int argc,
                      sqlite3_value **argv)
{
    ((sg_vcur *)c)->i = 0;
    return SQLITE_OK;
}

static int sg_vnext(sqlite3_vtab_cursor *c)
{
    ((sg_vcur *)c)->i++;
    return SQLITE_OK;
}

static int sg_veof(sqlite3_vtab_cursor *c)
{
    return ((sg_vcur *)c)->i >= ((sg_vtab *)c->pVtab)->k->nbar;
}

static int sg_vcolumn(sqlite3_vtab_cursor *c, sqlite3_context *ctx, int col)
{
    const pl_sink *k = ((sg_vtab *)c->pVtab)->k;
    if (col < 0 || col >= SG_NCOL)
        return SQLITE_RANGE;
    sqlite3_result_int64(ctx, k->rows[((sg_vcur *)c)->i * SG_NCOL + (size_t)col]);
    return SQLITE_OK;
}

static int sg_vrowid(sqlite3_vtab_cursor *c, sqlite3_int64 *rowid)
{
    *rowid = (sqlite3_int64)((sg_vcur *)c)->i;
    return SQLITE_OK;
}

/* xCreate NULL: eponymous only, nothing can CREATE VIRTUAL TABLE with it */
static const sqlite3_module sg_module = {
    .iVersion = 0,
    .xConnect = sg_vconnect,
    .xBestIndex = sg_vbest,
    .xDisconnect = sg_vdisconnect,
    .xOpen = sg_vopen,
    .xClose = sg_vclose,
    .xFilter = sg_vfilter,
    .xNext = sg_vnext,
    .xEof = sg_veof,
    .xColumn = sg_vcolumn,
    .xRowid = sg_vrowid,
};

static int sg_vtab_register(pl_sink *k)
{
    return sqlite3_create_module_v2(k->db, "sink_stage", &sg_module, k, NULL);
}

/* Fill a bar_row from staged bar g (text pointing into cfg and the arena). */
static void sg_bar_row(const pl_sink *k, const sg_bar *g, bar_row *a)
{
    a->agg = k->cfg.aggs[g->agg].name;
    a->agg_len = strlen(a->agg);
    a->sym = k->arena.p + g->sym;
    a->sym_len = g->sym_len;
    a->agg_id = k->agg_id[g->agg];
    a->sym_id = k->grp[g->grp].sym_id;
    a->seq = g->seq;
    a->start_ns = g->start_ns;
    a->end_ns = g->end_ns;
    a->open = g->open;
    a->high = g->high;
    a->low = g->low;
    a->close = g->close;
    a->volume = g->volume;
    a->trades = g->trades;
    a->vwap = g->vwap;
}

/*
 * Lay the staged bars out as sink_stage's rows, in stage order (ix): read in
 * that order, the stage is scattered, and one tight pass that fetches ahead
 * costs less than the statement's column calls each waiting for memory.
 */
static int sg_gather(pl_sink *k)
{
    int64_t *r;
    if (k->nbar > k->crows) {
        if (k->nbar > SIZE_MAX / (SG_NCOL * sizeof *r) ||
            !(r = realloc(k->rows, k->nbar * SG_NCOL * sizeof *r)))
            return -ENOMEM;
        k->rows = r;
        k->crows = k->nbar;
    }
    r = k->rows;
    for (size_t i = 0; i < k->nbar; i++, r += SG_NCOL) {
        const sg_bar *g = &k->sbar[k->ix[i]];
        if (i + 8 < k->nbar)
            __builtin_prefetch(&k->sbar[k->ix[i + 8]]);
        r[0] = k->agg_id[g->agg];
        r[1] = k->grp[g->grp].sym_id;
        r[2] = g->seq;
        r[3] = g->start_ns;
        r[4] = g->end_ns;
        r[5] = g->open;
        r[6] = g->high;
        r[7] = g->low;
        r[8] = g->close;
        r[9] = g->volume;
        r[10] = g->trades;
        r[11] = g->vwap;
    }
    return 0;
}

/*
 * Write the staged bars (sorted: ix) into the open transaction.  First as
 * one statement, INSERT INTO bars SELECT ... FROM sink_stage, without a
 * conflict clause: when no staged key is stored yet (a run that is not
 * replaying) every row is inserted at the cost of one statement instead of
 * one per row.  When a key exists (a replay, or a key staged twice) the
 * statement fails with SQLITE_CONSTRAINT_PRIMARYKEY and SQLite backs out
 * everything it wrote (ABORT: the statement, not the transaction); then the
 * rows go one by one through write_bar, which absorbs or records each
 * (keeps (1), (2)).  Any other failure latches (keeps (4)).
 */
static int sg_write_bars(pl_sink *k)
{
    sqlite3_stmt *s = k->ins_bars;
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_DONE && sqlite3_changes64(k->db) == (sqlite3_int64)k->nbar) {
        k->st.inserted += (int64_t)k->nbar;
        if (k->dig_on)
            for (size_t i = 0; i < k->nbar; i++) {
                bar_row a;
                sg_bar_row(k, &k->sbar[k->ix[i]], &a);
                sink_row_stored(k, 'B', &a);
            }
        return 0;
    }
    if (rc == SQLITE_DONE) /* a row went missing without an error: never expected */
        return latch(k, SQLITE_INTERNAL, "insert into bars (stage)", NULL);
    if (rc != SQLITE_CONSTRAINT_PRIMARYKEY)
        return latch(k, rc, "insert into bars (stage)", NULL);
    rc = 0;
    for (size_t i = 0; i < k->nbar && !rc; i++) {
        bar_row a;
        /* the rows are read in stage order, scattered over the stage */
        if (i + 8 < k->nbar)
            __builtin_prefetch(&k->sbar[k->ix[i + 8]]);
        sg_bar_row(k, &k->sbar[k->ix[i]], &a);
        rc = write_bar(k, &a);
    }
    return rc;
}

/*
 * Write the stage into the open transaction (or, outside one, as SQLite's
 * own autocommit statements), each table sorted, and empty it.  Any
 * failure latches the handle: part of the stage may be written, so the
 * transaction must never commit (keeps (4), (11)).
 */
static int sg_flush(pl_sink *k)
{
    static const uint8_t empty[1];
    int rc = 0;
    if (!k->nbar && !k->nlate && !k->ndlq)
        return 0;
    if (k->nbar && ((rc = sg_sort_bars(k)) || (rc = sg_gather(k)) || (rc = sg_write_bars(k))))
        goto fail;
    if ((rc = sg_sort(k, k->nlate, cmp_late)))
        goto fail;
    for (size_t i = 0; i < k->nlate && !rc; i++) {
        const sg_late *g = &k->slate[k->ix[i]];
        late_row a;
        a.partition = g->partition;
        a.offset = g->offset;
        a.event_ns = g->event_ns;
        a.sym = k->arena.p + g->sym;
        a.sym_len = g->sym_len;
        a.price = g->price;
        a.qty = g->qty;
        a.watermark_ns = g->watermark_ns;
        rc = write_late(k, &a);
    }
    if (rc || (rc = sg_sort(k, k->ndlq, cmp_dlq)))
        goto fail;
    for (size_t i = 0; i < k->ndlq && !rc; i++) {
        const sg_dlq *g = &k->sdlq[k->ix[i]];
        dlq_row a;
        a.partition = g->partition;
        a.offset = g->offset;
        a.reason = pl_poison_name(g->reason);
        a.reason_len = strlen(a.reason);
        /* an empty payload is a zero-length BLOB, never SQL NULL */
        a.payload = g->len ? (const uint8_t *)k->arena.p + g->payload : empty;
        a.len = g->len;
        rc = write_dlq(k, &a);
    }
    if (rc)
        goto fail;
    sg_clear(k);
    return 0;
fail:
    sg_clear(k);
    if (!k->latched) {
        if (rc == -ENOMEM && !k->eb.msg[0])
            pl_err(&k->eb, rc, "sink(%s): out of memory", k->path);
        k->latched = rc;
    }
    return k->latched;
}

/* A row was staged: write the stage when it is full, or at once outside a
 * transaction (there is no commit to wait for). */
static int sg_added(pl_sink *k)
{
    if (!k->in_txn || k->nbar + k->nlate + k->ndlq >= SINK_STAGE_ROWS ||
        k->arena.n >= SINK_STAGE_BYTES)
        return sg_flush(k);
    return 0;
}

static int sg_nomem(pl_sink *k, const char *what)
{
    return pl_err(&k->eb, -ENOMEM, "sink %s(%s): out of memory", what, k->path);
}

int pl_sink_bar(pl_sink *k, const pl_bar *b)
{
    sg_bar *g;
    unsigned char w[16] = { 0 };
    int rc;
    if (k->latched)
        return k->latched;
    if (b->agg >= (uint32_t)k->cfg.naggs)
        return pl_err(&k->eb, PL_EUSAGE, "sink bar(%s): aggregation index %u out of range",
                      k->path, b->agg);
    if ((rc = key_fits(k, b->seq, "bar seq")) || (rc = len_fits(k, b->sym_len, "bar symbol")))
        return rc;
    if (sg_grow((void **)&k->sbar, &k->cbar, k->nbar, sizeof *k->sbar))
        return sg_nomem(k, "bar");
    g = &k->sbar[k->nbar];
    if (sg_copy(k, b->sym, b->sym_len, &g->sym))
        return sg_nomem(k, "bar");
    if (b->sym_len)
        memcpy(w, b->sym, b->sym_len < 16 ? b->sym_len : 16);
    g->w0 = be64(w);
    g->w1 = be64(w + 8);
    g->sym_len = b->sym_len;
    g->agg = b->agg;
    g->seq = (int64_t)b->seq;
    g->start_ns = b->start_ns;
    g->end_ns = (int64_t)b->end_ns; /* bit pattern; printed back as uint64 */
    g->open = b->open;
    g->high = b->high;
    g->low = b->low;
    g->close = b->close;
    g->volume = b->volume;
    g->trades = b->trades;
    g->vwap = b->vwap;
    k->nbar++;
    return sg_added(k);
}

int pl_sink_late(pl_sink *k, const pl_late *l)
{
    sg_late *g;
    int rc;
    if (k->latched)
        return k->latched;
    if ((rc = key_fits(k, l->offset, "late offset")) ||
        (rc = len_fits(k, l->sym_len, "late symbol")))
        return rc;
    if (sg_grow((void **)&k->slate, &k->clate, k->nlate, sizeof *k->slate))
        return sg_nomem(k, "late");
    g = &k->slate[k->nlate];
    if (sg_copy(k, l->sym, l->sym_len, &g->sym))
        return sg_nomem(k, "late");
    g->sym_len = l->sym_len;
    g->partition = l->partition;
    g->offset = (int64_t)l->offset;
    g->event_ns = l->event_ns;
    g->price = l->price_e8;
    g->qty = l->qty;
    g->watermark_ns = l->watermark_ns;
    k->nlate++;
    return sg_added(k);
}

int pl_sink_dlq(pl_sink *k, const pl_dlq *d)
{
    sg_dlq *g;
    int rc;
    if (k->latched)
        return k->latched;
    if ((rc = key_fits(k, d->offset, "dlq offset")) || (rc = len_fits(k, d->len, "dlq payload")))
        return rc;
    if (d->reason <= 0 || d->reason > PL_POISON_QTY)
        return pl_err(&k->eb, PL_EUSAGE, "sink dlq(%s): poison reason %d out of range", k->path,
                      d->reason);
    if (sg_grow((void **)&k->sdlq, &k->cdlq, k->ndlq, sizeof *k->sdlq))
        return sg_nomem(k, "dlq");
    g = &k->sdlq[k->ndlq];
    g->len = d->payload ? d->len : 0;
    if (sg_copy(k, d->payload, g->len, &g->payload))
        return sg_nomem(k, "dlq");
    g->partition = d->partition;
    g->offset = (int64_t)d->offset;
    g->reason = d->reason;
    k->ndlq++;
    return sg_added(k);
}

/* ------------------------------------------------------- the content digest */

/* Add one row, as its tag and canonical line, to *d.  tbl is 'B', 'L',
 * 'D' (row: bar_row, late_row, dlq_row) or 'C' (a conflict: the lines in
 * k->key, k->stored, k->attempted).  Returns 0 or -ENOMEM. */
static int digest_add(pl_sink *k, pl_sink_digest *d, char tbl, const void *row)
{
    sbuf *o = &k->dig_line;
    XXH128_hash_t h;
    int rc = 0;
    o->n = 0;
    if (sb_reserve(o, 1))
        return -ENOMEM;
    o->p[o->n++] = tbl;
    switch (tbl) {
    case 'B': rc = fmt_bar(o, row); break;
    case 'L': rc = fmt_late(o, row); break;
    case 'D': rc = fmt_dlq(o, row); break;
    default: { /* 'C', row the table's name: "tbl,key\nstored\nattempted\n" */
        size_t tl = strlen(row);
        char *p;
        if (sb_reserve(o, tl + k->key.n + k->stored.n + k->attempted.n + 2))
            return -ENOMEM;
        p = put_bytes(o->p + o->n, row, tl);
        *p++ = ',';
        p = put_bytes(p, k->key.p, k->key.n);
        *p++ = '\n';
        p = put_bytes(p, k->stored.p, k->stored.n);
        p = put_bytes(p, k->attempted.p, k->attempted.n);
        o->n = (size_t)(p - o->p);
        break;
    }
    }
    if (rc)
        return rc;
    h = XXH3_128bits(o->p, o->n);
    d->lo += h.low64;
    d->hi += h.high64;
    d->rows++;
    return 0;
}

/* The hook of (10): one row was just stored by the open transaction. */
static void sink_row_stored(pl_sink *k, char tbl, const void *row)
{
    if (k->dig_on && digest_add(k, &k->dig_txn, tbl, row) < 0)
        k->dig_on = -1; /* out of memory: no digest rather than a wrong one */
}

/* Set a scratch line to n bytes of t, plus lf. 0 or -ENOMEM. */
static int scratch_line(sbuf *b, const char *t, size_t n, int lf)
{
    b->n = 0;
    if (sb_reserve(b, n + 1))
        return -ENOMEM;
    b->n = (size_t)(put_bytes(b->p, t, n) - b->p);
    if (lf)
        b->p[b->n++] = '\n';
    return 0;
}

/* Add every row of one table (sql selects its columns in CSV order). */
static int digest_scan(pl_sink *k, const char *sql, char tbl, pl_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int rc, ret = 0;
    rc = sqlite3_prepare_v2(k->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sq_err(eb, k->db, rc, "digest scan", k->path);
    while (ret == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        bar_row b;
        late_row l;
        dlq_row d;
        const void *row = NULL;
        size_t n1, n2, n3, n4;
        const char *t2, *t3, *t4;
        switch (tbl) {
        case 'B': bar_from_stmt(st, &b); row = &b; break;
        case 'L': late_from_stmt(st, &l); row = &l; break;
        case 'D': dlq_from_stmt(st, &d); row = &d; break;
        default: /* conflicts: tbl, key, stored, attempted; the lines get their LF back */
            row = col_text(st, 0, &n1);
            t2 = col_text(st, 1, &n2);
            t3 = col_text(st, 2, &n3);
            t4 = col_text(st, 3, &n4);
            if (scratch_line(&k->key, t2, n2, 0) || scratch_line(&k->stored, t3, n3, 1) ||
                scratch_line(&k->attempted, t4, n4, 1))
                ret = pl_err_os(eb, ENOMEM, "digest scan(%s)", k->path);
            break;
        }
        if (ret == 0 && digest_add(k, &k->dig, tbl, row) < 0)
            ret = pl_err_os(eb, ENOMEM, "digest scan(%s)", k->path);
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = sq_err(eb, k->db, rc, "digest scan", k->path);
    sqlite3_finalize(st);
    return ret;
}

/* The digest recorded by (12): 1 with *d, 0 when there is none (a
 * placeholder, a sink from before (12), a value that is not ours). */
static int stored_digest(pl_sink *k, pl_sink_digest *d, pl_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int rc, ret = 0;
    rc = sqlite3_prepare_v2(k->db, "SELECT value FROM meta WHERE key = '" DIGEST_KEY "'", -1,
                            &st, NULL);
    if (rc != SQLITE_OK)
        return sq_err(eb, k->db, rc, "read stored digest", k->path);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        size_t n;
        const char *v = col_text(st, 0, &n);
        uint64_t w[3] = { 0, 0, 0 };
        ret = v && n == DIGEST_LEN;
        for (size_t i = 0; ret && i < DIGEST_LEN; i++) {
            int c = v[i], x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                                                    : -1;
            if (x < 0)
                ret = 0;
            else
                w[i / 16] = w[i / 16] << 4 | (uint64_t)x;
        }
        if (ret) {
            d->lo = w[0];
            d->hi = w[1];
            d->rows = w[2];
        }
    } else if (rc != SQLITE_DONE)
        ret = sq_err(eb, k->db, rc, "read stored digest", k->path);
    sqlite3_finalize(st);
    return ret;
}

int pl_sink_digest_start(pl_sink *k, unsigned flags, pl_errbuf *eb)
{
    int ret;
    if (k->latched)
        return latched_err(k, eb);
    if (k->in_txn)
        return pl_err(eb, PL_EUSAGE, "sink digest(%s): a transaction is open", k->path);
    memset(&k->dig, 0, sizeof k->dig);
    k->dig_on = 0;
    if ((flags & PL_SINK_DIGEST_STORED) && (ret = stored_digest(k, &k->dig, eb)) != 0) {
        if (ret < 0)
            return ret;
        /* keeps (12): the caller vouches that only kills happened since */
        k->dig_txn = k->dig;
        k->dig_on = 1;
        return 1;
    }
    /* keeps (10): seeded from what is stored, whoever stored it */
    if ((ret = digest_scan(k, "SELECT " BAR_COLS " FROM bars", 'B', eb)) ||
        (ret = digest_scan(k, "SELECT " LATE_COLS " FROM late", 'L', eb)) ||
        (ret = digest_scan(k, "SELECT " DLQ_COLS " FROM dlq", 'D', eb)) ||
        (ret = digest_scan(k, "SELECT tbl, key, stored, attempted FROM conflicts", 'C', eb)))
        return ret;
    k->dig_txn = k->dig;
    k->dig_on = 1;
    return 0;
}

int pl_sink_digest_get(const pl_sink *k, pl_sink_digest *d, pl_errbuf *eb)
{
    if (k->dig_on != 1)
        return pl_err(eb, k->dig_on ? -ENOMEM : PL_EUSAGE, "sink digest(%s): %s", k->path,
                      k->dig_on ? "out of memory while keeping it" : "not started");
    *d = k->dig;
    return 0;
}

/* ------------------------------------------------------------ the export */

typedef int (*fmt_row_fn)(sqlite3_stmt *s, sbuf *o);

static int fmt_bar_stmt(sqlite3_stmt *s, sbuf *o)
{
    bar_row r;
    bar_from_stmt(s, &r);
    return fmt_bar(o, &r);
}

static int fmt_late_stmt(sqlite3_stmt *s, sbuf *o)
{
    late_row r;
    late_from_stmt(s, &r);
    return fmt_late(o, &r);
}

static int fmt_dlq_stmt(sqlite3_stmt *s, sbuf *o)
{
    dlq_row r;
    dlq_from_stmt(s, &r);
    return fmt_dlq(o, &r);
}

static int dfile_err(pl_errbuf *eb, int rc, const char *path)
{
    if (rc > -1000 && rc < 0)
        return pl_err_os(eb, -rc, "export: write(%s)", path);
    return pl_err(eb, rc, "export: write(%s): %s", path, pl_strerror(rc));
}

/* One canonical table: header, rows in key order, digest (section 4 of SPEC). */
static int export_table(sqlite3 *db, const char *dbpath, const char *sql, const char *header,
                        fmt_row_fn fmt, const char *outdir, const char *name, char hex[33],
                        int64_t *nrows, pl_errbuf *eb)
{
    char path[PATH_MAX];
    sqlite3_stmt *st = NULL;
    pl_dfile *f = NULL;
    sbuf line = {0};
    int rc, ret;

    if ((ret = make_path(path, sizeof path, outdir, name, eb)))
        return ret;
    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        ret = sq_err(eb, db, rc, "export prepare", dbpath);
        goto fail;
    }
    if ((ret = pl_dfile_open(path, &f, eb)))
        goto fail;
    if ((ret = pl_dfile_write(f, header, strlen(header)))) {
        ret = dfile_err(eb, ret, path);
        goto fail;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        /* a stop request aborts the table: its temp file is removed below */
        if ((*nrows & 4095) == 4095 && (ret = pl_check_stop(eb, "export")) < 0)
            goto fail;
        line.n = 0;
        if (fmt(st, &line)) {
            ret = pl_err_os(eb, ENOMEM, "export(%s)", path);
            goto fail;
        }
        if ((ret = pl_dfile_write(f, line.p, line.n))) {
            ret = dfile_err(eb, ret, path);
            goto fail;
        }
        (*nrows)++;
    }
    if (rc != SQLITE_DONE) {
        ret = sq_err(eb, db, rc, "export read", dbpath);
        goto fail;
    }
    ret = pl_dfile_close(f, hex, eb);
    f = NULL;
    if (ret)
        goto fail;
    sqlite3_finalize(st);
    free(line.p);
    return 0;
fail:
    if (f)
        pl_dfile_abort(f);
    sqlite3_finalize(st);
    free(line.p);
    return ret;
}

/*
 * What no bar the stream emits can break (SPEC section 3): a non-empty
 * window or span, low <= open, close, vwap <= high, positive prices, at
 * least one trade of at least one unit.  NULL when r holds, else the
 * broken relation.  end_ns is compared unsigned, as it is stored.
 */
static const char *bar_violation(const bar_row *r)
{
    if (!((uint64_t)r->start_ns < (uint64_t)r->end_ns))
        return "start_ns < end_ns";
    if (!(r->low > 0 && r->low <= r->high))
        return "0 < low <= high";
    if (!(r->low <= r->open && r->open <= r->high))
        return "low <= open <= high";
    if (!(r->low <= r->close && r->close <= r->high))
        return "low <= close <= high";
    if (!(r->low <= r->vwap && r->vwap <= r->high))
        return "low <= vwap <= high";
    if (!(r->trades >= 1 && r->volume >= r->trades))
        return "1 <= trades <= volume";
    return NULL;
}

/*
 * Refuse to export a sink whose bars break bar_violation: a value-changing
 * bit flip in sink.db would otherwise be exported as a result (with exit 0).
 * Runs inside the export's read transaction (keeps (5)).  Returns 0 or
 * PL_ECORRUPT naming the row and the relation.
 */
static int validate_bars(sqlite3 *db, const char *dbpath, pl_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int rc, ret = 0;

    /* outer joins: a row whose ids name nothing would drop out of the export */
    rc = sqlite3_prepare_v2(db, "SELECT " BAR_NAMED ", b.agg_id, b.sym_id FROM bar_rows b"
                            " LEFT JOIN aggs a ON a.id = b.agg_id"
                            " LEFT JOIN symbols s ON s.id = b.sym_id", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sq_err(eb, db, rc, "export: validate prepare", dbpath);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        bar_row r;
        const char *bad;
        if (sqlite3_column_type(st, 0) == SQLITE_NULL ||
            sqlite3_column_type(st, 1) == SQLITE_NULL) {
            ret = pl_err(eb, PL_ECORRUPT, "export: %s: bar_rows row (agg_id %lld, sym_id %lld, "
                         "seq %lld) names no aggregation or no symbol: the sink is corrupt",
                         dbpath, (long long)sqlite3_column_int64(st, 12),
                         (long long)sqlite3_column_int64(st, 13),
                         (long long)sqlite3_column_int64(st, 2));
            goto out;
        }
        bar_from_stmt(st, &r);
        bad = bar_violation(&r);
        if (bad) {
            ret = pl_err(eb, PL_ECORRUPT, "export: %s: bars row (agg '%.*s', symbol '%.*s', "
                         "seq %lld) breaks %s (start_ns %lld, end_ns %llu, open %lld, high "
                         "%lld, low %lld, close %lld): the sink is corrupt", dbpath,
                         (int)(r.agg_len > 32 ? 32 : r.agg_len), r.agg,
                         (int)(r.sym_len > 32 ? 32 : r.sym_len), r.sym, (long long)r.seq, bad,
                         (long long)r.start_ns, (unsigned long long)r.end_ns,
                         (long long)r.open, (long long)r.high, (long long)r.low,
                         (long long)r.close);
            goto out;
        }
    }
    if (rc != SQLITE_DONE)
        ret = sq_err(eb, db, rc, "export: validate", dbpath);
out:
    sqlite3_finalize(st);
    return ret;
}

/* The names an export directory may hold: ours, and our writers' temp files. */
static const char *const export_names[] = { "bars.csv", "late.csv", "dlq.csv", "digests.xxh128",
                                            "PARTIAL" };
#define EXPORT_NNAMES (sizeof export_names / sizeof export_names[0])

static int export_name(const char *name)
{
    for (size_t i = 0; i < EXPORT_NNAMES; i++) {
        size_t n = strlen(export_names[i]);
        if (!strncmp(name, export_names[i], n) && (!name[n] || !strcmp(name + n, ".tmp")))
            return 1;
    }
    return 0;
}

/*
 * An existing OUTDIR is replaced as a whole (9), so it may hold nothing but
 * an earlier export: anything else would be deleted with it.
 */
static int export_dir_replaceable(const char *outdir, pl_errbuf *eb)
{
    DIR *d = opendir(outdir);
    struct dirent *de;
    int ret = 0;
    if (!d) {
        if (errno == ENOENT)
            return 0;
        return pl_err_os(eb, errno, "export: opendir(%s)", outdir);
    }
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || export_name(de->d_name))
            continue;
        ret = pl_err(eb, PL_EEXISTS, "export: %s holds '%s', which is not part of an export; "
                     "the export replaces OUTDIR as a whole, so give a new or an earlier "
                     "export's directory", outdir, de->d_name);
        break;
    }
    closedir(d);
    return ret;
}

/* Remove an export directory made or replaced by us (only our names). */
static void export_dir_remove(const char *path)
{
    char p[PATH_MAX];
    if (!path[0])
        return;
    for (size_t i = 0; i < EXPORT_NNAMES; i++) {
        snprintf(p, sizeof p, "%s/%s", path, export_names[i]);
        unlink(p);
        snprintf(p, sizeof p, "%s/%s.tmp", path, export_names[i]);
        unlink(p);
    }
    rmdir(path);
}

/* A small file of the export set, through the same durable writer. */
static int export_small(const char *dir, const char *name, const char *text, pl_errbuf *eb)
{
    char path[PATH_MAX], hex[33];
    pl_dfile *f = NULL;
    int ret;
    if ((ret = make_path(path, sizeof path, dir, name, eb)) || (ret = pl_dfile_open(path, &f, eb)))
        return ret;
    if ((ret = pl_dfile_write(f, text, strlen(text)))) {
        pl_dfile_abort(f);
        return dfile_err(eb, ret, path);
    }
    return pl_dfile_close(f, hex, eb);
}

int pl_sink_export(const char *statedir, const char *outdir, unsigned flags, pl_digests *d,
                   pl_errbuf *eb)
{
    char path[PATH_MAX], out[PATH_MAX], tmp[PATH_MAX + 16], old[PATH_MAX + 32], *base;
    struct stat sb;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    pl_sink_cut cut;
    size_t n;
    int rc, ret, have_cut;

    memset(d, 0, sizeof *d);
    tmp[0] = 0;
    if (!statedir || !outdir)
        return pl_err(eb, PL_EUSAGE, "export: bad arguments");
    if ((ret = stat_dir(statedir, "export", eb)))
        return ret;
    if ((ret = make_path(path, sizeof path, statedir, "sink.db", eb)))
        return ret;
    /* OUTDIR without trailing slashes names the directory that is replaced (9) */
    n = strlen(outdir);
    while (n > 1 && outdir[n - 1] == '/')
        n--;
    if (n == 0 || n >= sizeof out)
        return pl_err(eb, PL_EUSAGE, "export: bad output directory \"%s\"", outdir);
    memcpy(out, outdir, n);
    out[n] = 0;
    base = strrchr(out, '/');
    base = base ? base + 1 : out;
    if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
        return pl_err(eb, PL_EUSAGE, "export: output directory \"%s\" must end in a name (the "
                      "export is made next to it and renamed into place)", outdir);
    /* checked first: SQLite must not get a chance to create anything in STATEDIR */
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT)
            return pl_err(eb, PL_ENOTFOUND, "export: %s not found", path);
        return pl_err_os(eb, errno, "export: stat(%s)", path);
    }
    if (stat(out, &sb) == 0 && !S_ISDIR(sb.st_mode))
        return pl_err_os(eb, ENOTDIR, "export: %s", out);
    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        ret = sq_err(eb, db, rc, "export: sqlite3_open", path);
        goto fail;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, SINK_BUSY_MS);
    /* keeps (5) */
    if ((ret = exec_sql(db, "BEGIN", "export: begin", path, eb)) ||
        (ret = check_version(db, path, eb)) || (ret = validate_bars(db, path, eb)))
        goto fail;
    if ((have_cut = read_cut(db, path, &cut, eb)) < 0) {
        ret = have_cut;
        goto fail;
    }
    d->partial = !have_cut || !cut.finished;
    d->position = cut.position;
    if (d->partial && !(flags & PL_EXPORT_ALLOW_PARTIAL)) {
        if (have_cut)
            ret = pl_err(eb, PL_EPARTIAL, "%s holds a partial run (stopped after record %llu, "
                         "not finished): complete it with refpipe run, or pass --allow-partial",
                         statedir, (unsigned long long)cut.position);
        else
            ret = pl_err(eb, PL_EPARTIAL, "%s holds a partial run (no commit cycle recorded): "
                         "complete it with refpipe run, or pass --allow-partial", statedir);
        goto fail;
    }
    /* the parent must exist (and be durable) for the temp dir beside OUTDIR */
    if (base != out) {
        char parent[PATH_MAX];
        size_t pn = (size_t)(base - out) - 1;
        memcpy(parent, out, pn ? pn : 1);
        parent[pn ? pn : 1] = 0;
        if ((ret = pl_fs_mkdir_p(parent, eb)))
            goto fail;
    }
    if ((ret = export_dir_replaceable(out, eb)))
        goto fail;
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", out);
    if (!mkdtemp(tmp)) {
        ret = pl_err_os(eb, errno, "export: mkdtemp(%s)", tmp);
        tmp[0] = 0;
        goto fail;
    }
    /* in key order by names, which is not bar_rows' order (agg_id, seq,
     * sym_id): SQLite scans bar_rows and sorts */
    if ((ret = export_table(db, path,
                            "SELECT " BAR_NAMED " FROM bar_rows b"
                            " JOIN aggs a ON a.id = b.agg_id JOIN symbols s ON s.id = b.sym_id"
                            " ORDER BY a.name, s.name, b.seq",
                            "agg,symbol,seq,start_ns,end_ns,open,high,low,close,volume,trades,"
                            "vwap\n",
                            fmt_bar_stmt, tmp, "bars.csv", d->bars, &d->nbars, eb)) ||
        (ret = export_table(db, path,
                            "SELECT " LATE_COLS " FROM late ORDER BY partition, offset",
                            "partition,offset,event_ns,symbol,price,qty,watermark_ns\n",
                            fmt_late_stmt, tmp, "late.csv", d->late, &d->nlate, eb)) ||
        (ret = export_table(db, path, "SELECT " DLQ_COLS " FROM dlq ORDER BY partition, offset",
                            "partition,offset,reason,payload_hex\n", fmt_dlq_stmt, tmp,
                            "dlq.csv", d->dlq, &d->ndlq, eb)))
        goto fail;
    rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM conflicts", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        d->nconflicts = sqlite3_column_int64(st, 0);
    else {
        ret = sq_err(eb, db, rc, "export: count conflicts", path);
        goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((ret = exec_sql(db, "COMMIT", "export: end", path, eb)))
        goto fail;
    rc = sqlite3_close(db);
    db = NULL;
    if (rc != SQLITE_OK) {
        ret = pl_err(eb, PL_EDB, "export: sqlite3_close(%s): %s", path, sqlite3_errstr(rc));
        goto fail;
    }
    {
        /* xxhsum's format: `xxhsum -c digests.xxh128` in OUTDIR checks the set */
        char text[512], note[160];
        snprintf(text, sizeof text, "%s  bars.csv\n%s  late.csv\n%s  dlq.csv\n", d->bars,
                 d->late, d->dlq);
        if ((ret = export_small(tmp, "digests.xxh128", text, eb)))
            goto fail;
        snprintf(note, sizeof note, "partial run: stopped after record %llu, not finished\n",
                 (unsigned long long)d->position);
        if (d->partial && (ret = export_small(tmp, "PARTIAL", note, eb)))
            goto fail;
    }
    /* keeps (9): every file is durable in tmp (pl_dfile_close); one switch */
    if ((ret = pl_fs_publish_dir(tmp, out, old, sizeof old, eb)))
        goto fail;
    tmp[0] = 0;
    export_dir_remove(old); /* tidiness: the old set is no longer reachable as OUTDIR */
    if (d->nconflicts > 0)
        return pl_err(eb, PL_ECONFLICT, "export: %lld conflict(s) recorded in %s",
                      (long long)d->nconflicts, path);
    return 0;
fail:
    sqlite3_finalize(st);
    if (db)
        sqlite3_close_v2(db);
    export_dir_remove(tmp); /* a failed export leaves OUTDIR as it was */
    return ret;
}
