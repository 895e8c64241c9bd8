/*
 * cutstate.c - crash states from a recorded file-system trace (hn_cut.h).
 *
 * Layout: loading a trace; the simulator (objects with their durable
 * contents, pending operations and two views of every directory); the
 * models' extra steps at the cut; writing a state into a dir and hashing
 * it; the entry points.
 *
 * The simulator replays records [0, pos) keeping, per object:
 *   - the durable contents (what a power cut keeps of a file), changed only
 *     when an operation becomes durable;
 *   - the data operations not yet durable (writes, truncations) in order;
 * and per directory two views: V, the entries as the process saw them (to
 * resolve the paths of later records), and D, the durable entries.
 * Namespace changes (set name -> object, or remove name) are kept in one
 * list in trace order with a done flag; a directory fsync applies the
 * changes of that directory.  Volatile file contents are never needed, so
 * the cost of a build is one pass over the records plus the bytes that
 * became durable.
 */
#include "hn_cut.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "ft_trace.h"
#include "hn_run.h"
#include "pl_fs.h"

#define SECTOR 512
#define MAX_DEPTH 64

typedef struct rec {
    ft_trec h;
    const char *p, *p2;
} rec;

struct hn_cut_trace {
    char *tbuf;
    unsigned char *data;
    size_t dlen;
    rec *r;
    size_t n;
};

/* ---------------------------------------------------------------- loading */

static int read_whole(const char *path, char **out, size_t *len, pl_errbuf *eb)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    *out = NULL;
    if (fd < 0)
        return pl_err_os(eb, errno, "open(%s)", path);
    if (fstat(fd, &st) != 0) {
        ret = pl_err_os(eb, errno, "fstat(%s)", path);
        goto fail;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        ret = pl_err(eb, -ENOMEM, "out of memory reading %s", path);
        goto fail;
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            ret = pl_err_os(eb, r < 0 ? errno : EIO, "read(%s)", path);
            goto fail;
        }
        got += (size_t)r;
    }
    close(fd);
    *out = buf;
    *len = got;
    return 0;
fail:
    free(buf);
    close(fd);
    return ret;
}

int hn_cut_load(const char *path, hn_cut_trace **out, pl_errbuf *eb)
{
    hn_cut_trace *t = calloc(1, sizeof *t);
    char dpath[PATH_MAX];
    size_t tlen = 0, o, cap = 0;
    int ret;
    *out = NULL;
    if (!t)
        return pl_err(eb, -ENOMEM, "out of memory");
    if ((size_t)snprintf(dpath, sizeof dpath, "%s.data", path) >= sizeof dpath) {
        ret = pl_err(eb, -ENAMETOOLONG, "trace path too long: %s", path);
        goto fail;
    }
    if ((ret = read_whole(path, &t->tbuf, &tlen, eb)) ||
        (ret = read_whole(dpath, (char **)&t->data, &t->dlen, eb)))
        goto fail;
    if (tlen < 8 || memcmp(t->tbuf, FT_TRACE_MAGIC, 8) != 0) {
        ret = pl_err(eb, PL_EIO, "%s: not a trace (no %s header)", path, FT_TRACE_MAGIC);
        goto fail;
    }
    for (o = 8; o + sizeof(ft_trec) <= tlen;) {
        rec r;
        memcpy(&r.h, t->tbuf + o, sizeof r.h);
        if (o + sizeof r.h + r.h.plen + r.h.p2len > tlen)
            break; /* cut short: keep the whole records */
        if (r.h.op == 0 || r.h.op >= FT_OP__COUNT ||
            ((r.h.op == FT_OP_WRITE || r.h.op == FT_OP_INIT_FILE) &&
             (r.h.data > t->dlen || r.h.len > t->dlen - r.h.data))) {
            ret = pl_err(eb, PL_EIO, "%s: bad record %zu at byte %zu", path, t->n, o);
            goto fail;
        }
        r.p = t->tbuf + o + sizeof r.h;
        r.p2 = r.p + r.h.plen;
        o += sizeof r.h + r.h.plen + r.h.p2len;
        if (t->n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            rec *nr = realloc(t->r, nc * sizeof *nr);
            if (!nr) {
                ret = pl_err(eb, -ENOMEM, "out of memory");
                goto fail;
            }
            t->r = nr;
            cap = nc;
        }
        t->r[t->n++] = r;
    }
    *out = t;
    return 0;
fail:
    hn_cut_free(t);
    return ret;
}

void hn_cut_free(hn_cut_trace *t)
{
    if (!t)
        return;
    free(t->tbuf);
    free(t->data);
    free(t->r);
    free(t);
}

uint64_t hn_cut_nrecords(const hn_cut_trace *t)
{
    return t->n;
}

int64_t hn_cut_hit_pos(const hn_cut_trace *t, const char *point, uint64_t k)
{
    size_t pl = strlen(point);
    for (size_t i = 0; i < t->n; i++)
        if (t->r[i].h.op == FT_OP_FIU && t->r[i].h.len == k && t->r[i].h.plen == pl &&
            memcmp(t->r[i].p, point, pl) == 0)
            return (int64_t)i;
    return -1;
}

int64_t hn_cut_hit_after(const hn_cut_trace *t, uint64_t from, const char *point, uint64_t j)
{
    size_t pl = strlen(point);
    for (size_t i = (size_t)from + 1; i < t->n && j > 0; i++)
        if (t->r[i].h.op == FT_OP_FIU && t->r[i].h.plen == pl &&
            memcmp(t->r[i].p, point, pl) == 0 && --j == 0)
            return (int64_t)i;
    return -1;
}

int64_t hn_cut_first_failed_sync(const hn_cut_trace *t)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->r[i].h.op == FT_OP_FSYNC && t->r[i].h.err != 0)
            return (int64_t)i;
    return -1;
}

uint64_t hn_cut_durable_ckpt(const hn_cut_trace *t, uint64_t pos)
{
    static const char done[] = "ckpt/done/after";
    uint64_t named = 0, durable = 0;
    for (size_t i = 0; i < t->n && i <= pos; i++) {
        const rec *r = &t->r[i];
        if (r->h.op == FT_OP_RENAME && r->h.p2len == 21 && memcmp(r->p2, "ckpt-", 5) == 0) {
            char hex[17];
            char *end;
            memcpy(hex, r->p2 + 5, 16);
            hex[16] = 0;
            uint64_t v = strtoull(hex, &end, 16);
            if (*end == 0)
                named = v;
        } else if (r->h.op == FT_OP_FIU && r->h.plen == sizeof done - 1 &&
                   memcmp(r->p, done, sizeof done - 1) == 0) {
            durable = named;
        }
    }
    return durable;
}

int hn_cut_hit_at(const hn_cut_trace *t, uint64_t pos, char *out, size_t n, uint64_t *k)
{
    const rec *r;
    if (pos >= t->n || t->r[pos].h.op != FT_OP_FIU)
        return 0;
    r = &t->r[pos];
    snprintf(out, n, "%.*s", (int)r->h.plen, r->p);
    *k = r->h.len;
    return 1;
}

void hn_cut_describe(const hn_cut_trace *t, uint64_t pos, char *out, size_t n)
{
    out[0] = 0;
    for (size_t i = pos < t->n ? (size_t)pos + 1 : t->n; i-- > 0;) {
        const rec *r = &t->r[i];
        if (r->h.op == FT_OP_FIU) {
            snprintf(out, n, "%.*s:%llu", (int)r->h.plen, r->p, (unsigned long long)r->h.len);
            return;
        }
        if (r->h.op == FT_OP_FSYNC || r->h.op == FT_OP_RENAME)
            return; /* a durability step lies between: no point describes the cut */
    }
}

/* -------------------------------------------------------------- simulator */

typedef struct ent {
    const char *name;
    uint16_t nlen;
    uint32_t obj;
} ent;

typedef struct entlist {
    ent *v;
    size_t n, cap;
} entlist;

typedef struct chg {
    uint32_t rec;
    uint32_t dir;
    const char *name;
    uint16_t nlen;
    uint32_t obj;              /* 0: remove the name */
    int done;
} chg;

enum { T_NONE = 0, T_FILE, T_DIR };

typedef struct obj {
    int type;
    unsigned char *buf;        /* durable contents */
    size_t size, cap;
    uint32_t *pend;            /* record indices of data ops not yet durable */
    size_t npend, cappend;
    entlist V, D;
} obj;

typedef struct sim {
    const hn_cut_trace *t;
    int model;
    obj *o;                    /* objects by slot; slot 0 is never used */
    size_t nobj, capobj;
    uint64_t *ikey;            /* inode -> slot, open addressing (0 = empty) */
    uint32_t *ival;
    size_t icap, iused;
    uint32_t root;
    chg *chg;
    size_t nchg, capchg, first_open; /* changes before first_open are all done */
    uint64_t vd, vany;         /* versions: durable state, any state */
    int oom;
} sim;

static void *grow(void *p, size_t *cap, size_t need, size_t elem, int *oom)
{
    size_t nc;
    void *np;
    if (need <= *cap)
        return p;
    nc = *cap ? *cap : 16;
    while (nc < need)
        nc *= 2;
    np = realloc(p, nc * elem);
    if (!np) {
        *oom = 1;
        return NULL;
    }
    *cap = nc;
    return np;
}

static obj *get_obj(sim *s, uint32_t id)
{
    return id && id < s->nobj ? &s->o[id] : NULL;
}

static size_t ino_hash(uint64_t ino, size_t cap)
{
    return (size_t)((ino * UINT64_C(0x9e3779b97f4a7c15)) >> 20) & (cap - 1);
}

static void ino_put(sim *s, uint64_t ino, uint32_t slot)
{
    size_t i;
    if ((s->iused + 1) * 2 > s->icap) {
        size_t nc = s->icap ? s->icap * 2 : 256;
        uint64_t *nk = calloc(nc, sizeof *nk);
        uint32_t *nv = calloc(nc, sizeof *nv);
        if (!nk || !nv) {
            free(nk);
            free(nv);
            s->oom = 1;
            return;
        }
        for (size_t j = 0; j < s->icap; j++) {
            if (!s->ikey[j])
                continue;
            i = ino_hash(s->ikey[j], nc);
            while (nk[i])
                i = (i + 1) & (nc - 1);
            nk[i] = s->ikey[j];
            nv[i] = s->ival[j];
        }
        free(s->ikey);
        free(s->ival);
        s->ikey = nk;
        s->ival = nv;
        s->icap = nc;
    }
    i = ino_hash(ino, s->icap);
    while (s->ikey[i] && s->ikey[i] != ino)
        i = (i + 1) & (s->icap - 1);
    if (!s->ikey[i])
        s->iused++;
    s->ikey[i] = ino;
    s->ival[i] = slot;
}

/* A new object slot of this type for ino (created, or first seen). */
static uint32_t slot_new(sim *s, uint64_t ino, int type)
{
    obj *no = grow(s->o, &s->capobj, s->nobj + 1, sizeof *s->o, &s->oom);
    if (!no)
        return 0;
    s->o = no;
    memset(&s->o[s->nobj], 0, sizeof *s->o);
    s->o[s->nobj].type = type;
    if (ino)
        ino_put(s, ino, (uint32_t)s->nobj);
    return (uint32_t)s->nobj++;
}

/* The slot of ino; a new one (type unknown) when never seen. */
static uint32_t slot_of(sim *s, uint64_t ino)
{
    size_t i;
    if (!ino)
        return 0;
    if (s->icap) {
        i = ino_hash(ino, s->icap);
        while (s->ikey[i]) {
            if (s->ikey[i] == ino)
                return s->ival[i];
            i = (i + 1) & (s->icap - 1);
        }
    }
    return slot_new(s, ino, T_NONE);
}

static ent *ent_find(entlist *l, const char *name, size_t nlen)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].nlen == nlen && memcmp(l->v[i].name, name, nlen) == 0)
            return &l->v[i];
    return NULL;
}

static void ent_set(sim *s, entlist *l, const char *name, size_t nlen, uint32_t id)
{
    ent *e = ent_find(l, name, nlen);
    ent *nv;
    if (id == 0) {
        if (e)
            *e = l->v[--l->n];
        return;
    }
    if (e) {
        e->obj = id;
        return;
    }
    nv = grow(l->v, &l->cap, l->n + 1, sizeof *l->v, &s->oom);
    if (!nv)
        return;
    l->v = nv;
    l->v[l->n].name = name;
    l->v[l->n].nlen = (uint16_t)nlen;
    l->v[l->n++].obj = id;
}

/* Split a path into its parent (resolved through V) and last name.
 * Returns the parent's id, 0 when it cannot be resolved or path is "". */
static uint32_t resolve_parent(sim *s, const char *p, size_t len, const char **name,
                               size_t *nlen)
{
    uint32_t cur = s->root;
    size_t i = 0;
    if (len == 0)
        return 0;
    for (;;) {
        const char *slash = memchr(p + i, '/', len - i);
        size_t cl = slash ? (size_t)(slash - (p + i)) : len - i;
        obj *d = get_obj(s, cur);
        ent *e;
        if (!slash) {
            *name = p + i;
            *nlen = cl;
            return cur;
        }
        if (!d || d->type != T_DIR || !(e = ent_find(&d->V, p + i, cl)))
            return 0;
        cur = e->obj;
        i += cl + 1;
    }
}

static void add_chg(sim *s, uint32_t recno, uint32_t dir, const char *name, size_t nlen,
                    uint32_t id)
{
    chg *nc = grow(s->chg, &s->capchg, s->nchg + 1, sizeof *s->chg, &s->oom);
    if (!nc)
        return;
    s->chg = nc;
    s->chg[s->nchg++] = (chg){recno, dir, name, (uint16_t)nlen, id, 0};
    s->vany++;
}

/* V: name -> id in its parent; queue the change for D. */
static void ns_set(sim *s, uint32_t recno, const char *p, size_t len, uint32_t id)
{
    const char *name;
    size_t nlen;
    uint32_t dir = resolve_parent(s, p, len, &name, &nlen);
    obj *d = get_obj(s, dir);
    if (!d || d->type != T_DIR)
        return;
    ent_set(s, &d->V, name, nlen, id);
    add_chg(s, recno, dir, name, nlen, id);
}

static uint32_t ns_lookup(sim *s, const char *p, size_t len)
{
    const char *name;
    size_t nlen;
    obj *d;
    ent *e;
    if (len == 0)
        return s->root;
    d = get_obj(s, resolve_parent(s, p, len, &name, &nlen));
    if (!d || d->type != T_DIR || !(e = ent_find(&d->V, name, nlen)))
        return 0;
    return e->obj;
}

static void apply_chg(sim *s, chg *c)
{
    obj *d = get_obj(s, c->dir);
    c->done = 1;
    if (d) {
        ent_set(s, &d->D, c->name, c->nlen, c->obj);
        s->vd++;
    }
    while (s->first_open < s->nchg && s->chg[s->first_open].done)
        s->first_open++;
}

static void resize(sim *s, obj *o, size_t size)
{
    unsigned char *nb = grow(o->buf, &o->cap, size, 1, &s->oom);
    if (!nb && size > o->cap)
        return;
    o->buf = nb ? nb : o->buf;
    if (size > o->size)
        memset(o->buf + o->size, 0, size - o->size);
    o->size = size;
}

/* Bytes [lo, hi) of a write into its object's durable contents. */
static void apply_write_range(sim *s, obj *o, const rec *r, uint64_t lo, uint64_t hi)
{
    if (lo >= hi)
        return;
    if (hi > o->size)
        resize(s, o, (size_t)hi);
    if (s->oom)
        return;
    memcpy(o->buf + lo, s->t->data + r->h.data + (lo - r->h.off), (size_t)(hi - lo));
}

/* One data operation (WRITE, TRUNC, FALLOC, OPEN with O_TRUNC) made durable. */
static void apply_data(sim *s, obj *o, const rec *r)
{
    s->vd++;
    switch (r->h.op) {
    case FT_OP_WRITE:
        apply_write_range(s, o, r, r->h.off, r->h.off + r->h.len);
        break;
    case FT_OP_TRUNC:
        resize(s, o, (size_t)r->h.off);
        break;
    case FT_OP_OPEN:
        resize(s, o, 0);
        break;
    case FT_OP_FALLOC: {
        uint64_t end = r->h.off + r->h.len;
        int mode = r->h.err;
        if (!(mode & 0x01) && end > o->size) /* without FALLOC_FL_KEEP_SIZE */
            resize(s, o, (size_t)end);
        if ((mode & (0x02 | 0x10)) && r->h.off < o->size) /* PUNCH_HOLE, ZERO_RANGE */
            memset(o->buf + r->h.off, 0, (size_t)((end < o->size ? end : o->size) - r->h.off));
        break;
    }
    default:
        break;
    }
}

static void pend_data(sim *s, obj *o, uint32_t recno)
{
    uint32_t *np = grow(o->pend, &o->cappend, o->npend + 1, sizeof *o->pend, &s->oom);
    if (!np)
        return;
    o->pend = np;
    o->pend[o->npend++] = recno;
    s->vany++;
}

/* A file's pending data ops made durable, those before `before` only. */
static void flush_file(sim *s, obj *o, uint32_t before)
{
    size_t k = 0;
    for (size_t i = 0; i < o->npend; i++) {
        if (o->pend[i] < before)
            apply_data(s, o, &s->t->r[o->pend[i]]);
        else
            o->pend[k++] = o->pend[i];
    }
    o->npend = k;
}

/* A journal commit (ext4-ordered) or sync(): every pending namespace change
 * in trace order; a rename takes the renamed file's earlier data along. */
static void commit_all_changes(sim *s)
{
    for (size_t i = s->first_open; i < s->nchg; i++) {
        chg *c = &s->chg[i];
        obj *f;
        if (c->done)
            continue;
        f = get_obj(s, c->obj);
        if (s->model == HN_PC_EXT4_ORDERED && s->t->r[c->rec].h.op == FT_OP_RENAME && f &&
            f->type == T_FILE)
            flush_file(s, f, c->rec);
        apply_chg(s, c);
    }
}

/* Replay record i into the simulator. */
static void step(sim *s, uint32_t i)
{
    const rec *r = &s->t->r[i];
    uint32_t id = 0;
    obj *o;
    switch (r->h.op) {
    case FT_OP_INIT_DIR:
    case FT_OP_MKDIR:
        if (!(id = slot_new(s, r->h.ino, T_DIR)))
            break;
        if (r->h.plen == 0) {
            s->root = id;
            break;
        }
        ns_set(s, i, r->p, r->h.plen, id);
        if (r->h.op == FT_OP_INIT_DIR)
            commit_all_changes(s); /* the start state is durable */
        break;
    case FT_OP_INIT_FILE:
        if (!(id = slot_new(s, r->h.ino, T_FILE)))
            break;
        apply_write_range(s, &s->o[id], r, 0, r->h.len);
        ns_set(s, i, r->p, r->h.plen, id);
        commit_all_changes(s);
        break;
    case FT_OP_OPEN:
        if (r->h.flags & FT_TF_CREATED) {
            if ((id = slot_new(s, r->h.ino, T_FILE)))
                ns_set(s, i, r->p, r->h.plen, id);
        } else if ((r->h.flags & FT_TF_TRUNC) && (o = get_obj(s, slot_of(s, r->h.ino)))) {
            if (o->type == T_NONE)
                o->type = T_FILE;
            pend_data(s, o, i);
        }
        break;
    case FT_OP_WRITE:
    case FT_OP_TRUNC:
    case FT_OP_FALLOC:
        if (!(o = get_obj(s, slot_of(s, r->h.ino))))
            break;
        if (o->type == T_NONE)
            o->type = T_FILE;
        if (r->h.op == FT_OP_WRITE && (r->h.flags & FT_TF_SYNCIO))
            apply_data(s, o, r); /* O_SYNC / O_DSYNC: durable when write returns */
        else
            pend_data(s, o, i);
        break;
    case FT_OP_FSYNC:
        id = slot_of(s, r->h.ino);
        if (!(o = get_obj(s, id)))
            break;
        s->vany++;
        if (r->h.err) {
            /* a failed fsync: the kernel may have dropped the dirty pages
             * and marked them clean; a later fsync that succeeds says
             * nothing about them */
            o->npend = 0;
            break;
        }
        if (s->model == HN_PC_EXT4_ORDERED)
            commit_all_changes(s); /* fsync commits the running transaction */
        if (o->type == T_DIR) {
            for (size_t c = s->first_open; c < s->nchg; c++)
                if (!s->chg[c].done && s->chg[c].dir == id)
                    apply_chg(s, &s->chg[c]);
        } else
            flush_file(s, o, UINT32_MAX);
        break;
    case FT_OP_SYNC:
        commit_all_changes(s);
        for (size_t k = 1; k < s->nobj; k++)
            flush_file(s, &s->o[k], UINT32_MAX);
        break;
    case FT_OP_RENAME:
        id = ns_lookup(s, r->p, r->h.plen);
        if (!id || (r->h.off & 2)) /* unknown source; RENAME_EXCHANGE is not modelled */
            break;
        ns_set(s, i, r->p, r->h.plen, 0);
        ns_set(s, i, r->p2, r->h.p2len, id);
        break;
    case FT_OP_LINK:
        if ((id = slot_of(s, r->h.ino)))
            ns_set(s, i, r->p2, r->h.p2len, id);
        break;
    case FT_OP_UNLINK:
    case FT_OP_RMDIR:
        ns_set(s, i, r->p, r->h.plen, 0);
        break;
    default: /* CLOSE, SFR (no durability promise), FIU */
        break;
    }
}

static int sim_init(sim *s, const hn_cut_trace *t, int model)
{
    memset(s, 0, sizeof *s);
    s->t = t;
    s->model = model;
    s->nobj = 1; /* slot 0: "no object" */
    s->o = calloc(16, sizeof *s->o);
    s->capobj = 16;
    /* the traced dir, whether or not the snapshot saw it (an INIT_DIR or
     * MKDIR of "" replaces it) */
    if (!s->o || !(s->root = slot_new(s, 0, T_DIR)))
        return -ENOMEM;
    return 0;
}

static void sim_free(sim *s)
{
    for (size_t i = 0; s->o && i < s->nobj; i++) {
        free(s->o[i].buf);
        free(s->o[i].pend);
        free(s->o[i].V.v);
        free(s->o[i].D.v);
    }
    free(s->o);
    free(s->chg);
    free(s->ikey);
    free(s->ival);
}

/* --------------------------------------------------- the models at the cut */

/* One coin per (seed, record): a rename's two halves share it. */
static int coin(uint64_t seed, uint64_t what)
{
    return (int)(XXH3_64bits_withSeed(&what, sizeof what, seed) & 1);
}

typedef struct item {
    uint32_t rec;
    uint32_t obj;              /* data op: its object; 0: a namespace change */
    size_t chg;
} item;

static int cmp_item(const void *a, const void *b)
{
    const item *x = a, *y = b;
    return x->rec < y->rec ? -1 : x->rec > y->rec;
}

/* Everything not yet durable, in trace order.  *items malloc'd. */
static int unsynced(sim *s, item **items, size_t *n)
{
    size_t cnt = 0, k = 0;
    item *v;
    for (size_t i = 1; i < s->nobj; i++)
        cnt += s->o[i].npend;
    for (size_t c = s->first_open; c < s->nchg; c++)
        cnt += !s->chg[c].done;
    v = malloc((cnt ? cnt : 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    for (size_t i = 1; i < s->nobj; i++)
        for (size_t j = 0; j < s->o[i].npend; j++)
            v[k++] = (item){s->o[i].pend[j], (uint32_t)i, 0};
    for (size_t c = s->first_open; c < s->nchg; c++)
        if (!s->chg[c].done)
            v[k++] = (item){s->chg[c].rec, 0, c};
    qsort(v, k, sizeof *v, cmp_item);
    *items = v;
    *n = k;
    return 0;
}

static int keep_some(sim *s, uint64_t seed, hn_cut_info *info)
{
    item *v;
    size_t n;
    int ret = unsynced(s, &v, &n);
    if (ret)
        return ret;
    info->unsynced = n;
    for (size_t i = 0; i < n; i++) {
        if (!coin(seed, v[i].rec))
            continue;
        info->kept++;
        if (v[i].obj)
            apply_data(s, &s->o[v[i].obj], &s->t->r[v[i].rec]);
        else
            apply_chg(s, &s->chg[v[i].chg]);
    }
    free(v);
    return 0;
}

static int torn(sim *s, uint64_t seed, hn_cut_info *info)
{
    item *v;
    size_t n, nw = 0;
    const rec *r;
    uint64_t first, last, nsect, kept = 0, lost = 0;
    int ret = unsynced(s, &v, &n);
    if (ret)
        return ret;
    info->unsynced = n;
    for (size_t i = 0; i < n; i++)
        if (v[i].obj && s->t->r[v[i].rec].h.op == FT_OP_WRITE && s->t->r[v[i].rec].h.len)
            v[nw++] = v[i];
    if (!nw) {
        free(v);
        return 0;
    }
    {
        item w = v[XXH3_64bits_withSeed("torn", 4, seed) % nw];
        obj *o = &s->o[w.obj];
        r = &s->t->r[w.rec];
        first = r->h.off / SECTOR;
        last = (r->h.off + r->h.len - 1) / SECTOR;
        nsect = last - first + 1;
        for (uint64_t k = 0; k < nsect; k++) {
            int keep = coin(seed ^ w.rec, k);
            /* at least one sector kept, and one lost when there are two */
            if (k == nsect - 1 && !kept)
                keep = 1;
            else if (k == nsect - 1 && nsect > 1 && !lost)
                keep = 0;
            if (!keep) {
                lost++;
                continue;
            }
            kept++;
            {
                uint64_t lo = (first + k) * SECTOR, hi = lo + SECTOR;
                if (lo < r->h.off)
                    lo = r->h.off;
                if (hi > r->h.off + r->h.len)
                    hi = r->h.off + r->h.len;
                apply_write_range(s, o, r, lo, hi);
            }
        }
        s->vd++;
        info->kept = kept;
    }
    free(v);
    return 0;
}

/* ---------------------------------------------------- writing and hashing */

static int cmp_ent(const void *a, const void *b)
{
    const ent *x = a, *y = b;
    size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->nlen > y->nlen) - (x->nlen < y->nlen);
}

typedef struct out {
    sim *s;
    XXH3_state_t *h;
    hn_cut_info *info;
    pl_errbuf *eb;
    char **first_path;         /* per object: where it was written first (hard links) */
} out;

static int write_file(const char *path, const unsigned char *buf, size_t len, pl_errbuf *eb)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644), ret;
    if (fd < 0)
        return pl_err_os(eb, errno, "open(%s)", path);
    ret = pl_fs_write_all(fd, buf, len, path, eb);
    /* no fsync: crash states go to the trial's work dir, which models a
     * process crash from here on; close still reports a lost write */
    if (close(fd) != 0 && ret == 0)
        ret = pl_err_os(eb, errno, "close(%s)", path);
    return ret;
}

/* Write (dir != NULL) and hash directory object id, reached as path. */
static int emit_dir(out *w, uint32_t id, const char *dir, int depth)
{
    obj *d = get_obj(w->s, id);
    ent *v;
    int ret = 0;
    if (!d || depth > MAX_DEPTH)
        return 0;
    if (!d->D.n)
        return 0;
    v = malloc(d->D.n * sizeof *v);
    if (!v)
        return pl_err(w->eb, -ENOMEM, "out of memory");
    memcpy(v, d->D.v, d->D.n * sizeof *v);
    qsort(v, d->D.n, sizeof *v, cmp_ent);
    for (size_t i = 0; i < d->D.n && ret == 0; i++) {
        obj *o = get_obj(w->s, v[i].obj);
        char path[PATH_MAX];
        uint8_t type;
        if (!o)
            continue;
        type = (uint8_t)o->type;
        XXH3_64bits_update(w->h, &v[i].nlen, sizeof v[i].nlen);
        XXH3_64bits_update(w->h, v[i].name, v[i].nlen);
        XXH3_64bits_update(w->h, &type, 1);
        if (dir && (size_t)snprintf(path, sizeof path, "%s/%.*s", dir, (int)v[i].nlen,
                                    v[i].name) >= sizeof path) {
            ret = pl_err(w->eb, -ENAMETOOLONG, "crash state path too long under %s", dir);
            break;
        }
        if (o->type == T_DIR) {
            w->info->dirs++;
            if (dir && mkdir(path, 0755) != 0) {
                ret = pl_err_os(w->eb, errno, "mkdir(%s)", path);
                break;
            }
            ret = emit_dir(w, v[i].obj, dir ? path : NULL, depth + 1);
            continue;
        }
        {
            uint64_t size = o->size;
            XXH3_64bits_update(w->h, &size, sizeof size);
            if (o->size)
                XXH3_64bits_update(w->h, o->buf, o->size);
        }
        w->info->files++;
        w->info->bytes += o->size;
        if (!dir)
            continue;
        if (w->first_path[v[i].obj]) {
            if (link(w->first_path[v[i].obj], path) != 0)
                ret = pl_err_os(w->eb, errno, "link(%s, %s)", w->first_path[v[i].obj], path);
            continue;
        }
        ret = write_file(path, o->buf, o->size, w->eb);
        if (ret == 0 && !(w->first_path[v[i].obj] = strdup(path)))
            ret = pl_err(w->eb, -ENOMEM, "out of memory");
    }
    free(v);
    return ret;
}

/* ------------------------------------------------------------ entry points */

int hn_cut_build(const hn_cut_trace *t, uint64_t pos, int model, uint64_t seed,
                 const char *dir, hn_cut_info *info, pl_errbuf *eb)
{
    sim s;
    hn_cut_info local;
    out w;
    int ret;

    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    memset(&w, 0, sizeof w);
    if (model < 0 || model >= HN_PC__COUNT)
        return pl_err(eb, PL_EUSAGE, "unknown persistence model %d", model);
    if (pos > t->n)
        return pl_err(eb, PL_EUSAGE, "cut position %llu is past the trace's end (%zu records)",
                      (unsigned long long)pos, t->n);
    if (sim_init(&s, t, model) < 0)
        return pl_err(eb, -ENOMEM, "out of memory");
    /* the start snapshot (the leading INIT records) is in every state */
    for (uint64_t i = 0; i < t->n && !s.oom; i++) {
        if (i >= pos && t->r[i].h.op != FT_OP_INIT_DIR && t->r[i].h.op != FT_OP_INIT_FILE)
            break;
        step(&s, (uint32_t)i);
    }
    ret = 0;
    if (model == HN_PC_KEEP_SOME)
        ret = keep_some(&s, seed, info);
    else if (model == HN_PC_TORN)
        ret = torn(&s, seed, info);
    else {
        item *v;
        size_t n;
        if ((ret = unsynced(&s, &v, &n)) == 0) {
            info->unsynced = n;
            free(v);
        }
    }
    if (ret < 0 || s.oom) {
        ret = pl_err(eb, -ENOMEM, "out of memory building a crash state");
        goto done;
    }
    w.s = &s;
    w.info = info;
    w.eb = eb;
    w.h = XXH3_createState();
    w.first_path = calloc(s.nobj, sizeof *w.first_path);
    if (!w.h || !w.first_path) {
        ret = pl_err(eb, -ENOMEM, "out of memory");
        goto done;
    }
    XXH3_64bits_reset(w.h);
    if (dir && (ret = pl_fs_mkdir_p(dir, eb)) < 0)
        goto done;
    ret = emit_dir(&w, s.root, dir, 0);
    info->hash = XXH3_64bits_digest(w.h);
done:
    if (w.first_path)
        for (size_t i = 0; i < s.nobj; i++)
            free(w.first_path[i]);
    free(w.first_path);
    if (w.h)
        XXH3_freeState(w.h);
    sim_free(&s);
    return ret;
}

int hn_cut_candidates(const hn_cut_trace *t, int model, uint64_t **pos, size_t *n,
                      pl_errbuf *eb)
{
    sim s;
    uint64_t *v = NULL, last = 0;
    size_t cnt = 0, cap = 0;
    int have = 0, ret = 0;
    *pos = NULL;
    *n = 0;
    if (sim_init(&s, t, model) < 0)
        return pl_err(eb, -ENOMEM, "out of memory");
    /* the cut at p sees records [0, p): step up to p, then decide */
    for (size_t p = 0; p <= t->n; p++) {
        const rec *prev = p ? &t->r[p - 1] : NULL, *next = p < t->n ? &t->r[p] : NULL;
        int cand = 0;
        uint64_t ver;
#define CUT_OP(r)                                                                        \
    ((r) && ((r)->h.op == FT_OP_FSYNC || (r)->h.op == FT_OP_RENAME ||                    \
             (r)->h.op == FT_OP_UNLINK || (r)->h.op == FT_OP_FIU))
        cand = CUT_OP(prev) || CUT_OP(next);
#undef CUT_OP
        if (prev)
            step(&s, (uint32_t)(p - 1));
        if (s.oom) {
            ret = pl_err(eb, -ENOMEM, "out of memory");
            break;
        }
        if (!cand || (next && (next->h.op == FT_OP_INIT_DIR || next->h.op == FT_OP_INIT_FILE)))
            continue;
        /* strict and ext4-ordered states change only when something becomes
         * durable; the others also when the set of unsynced ops changes */
        ver = model == HN_PC_STRICT || model == HN_PC_EXT4_ORDERED ? s.vd : s.vany;
        if (have && ver == last)
            continue;
        {
            uint64_t *nv = grow(v, &cap, cnt + 1, sizeof *v, &s.oom);
            if (!nv) {
                ret = pl_err(eb, -ENOMEM, "out of memory");
                break;
            }
            v = nv;
        }
        v[cnt++] = p;
        last = ver;
        have = 1;
    }
    sim_free(&s);
    if (ret < 0) {
        free(v);
        return ret;
    }
    *pos = v;
    *n = cnt;
    return 0;
}
