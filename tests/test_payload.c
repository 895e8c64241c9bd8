/*
 * test_payload.c - the payload grammar and the canonical formatters.
 *
 * Layout: a table of hand-written payloads with their expected reason (every
 * poison reason and its boundaries); value checks for valid payloads; a
 * randomized comparison against a separately written string-based oracle
 * (split on commas, strip leading zeros, compare digit strings against the
 * limits as text) that shares no code with the parser, on short payloads and
 * on mutated realistic ones of 16..70 bytes; formatter round trips.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_payload.h"

static int parse_str(const char *s, pl_tick *t)
{
    return pl_payload_parse((const uint8_t *)s, strlen(s), t);
}

struct pcase {
    const char *payload;
    int reason;
};

static const struct pcase cases[] = {
    /* valid shapes */
    {"1767605399998000000,AAPL,189.25,100", PL_VALID},
    {"0,A,1,1", PL_VALID},
    {"9223372036854775807,A,1,1", PL_VALID},                 /* 2^63-1 */
    {"000000000009223372036854775807,A,1,1", PL_VALID},      /* zero padded, 30 digits */
    {"000000000000000000000000000000,A,1,1", PL_VALID},      /* 30 zeros */
    {"1,ABCDEFGHIJKLMNOP,1,1", PL_VALID},                    /* 16-byte symbol */
    {"1,A.B_C-9,1,1", PL_VALID},
    {"1,...,1,1", PL_VALID},
    {"1,A,9999999999.99999999,1", PL_VALID},
    {"1,A,0.00000001,1", PL_VALID},
    {"1,A,00000000000000000000000001.5,1", PL_VALID},
    {"1,A,1.12345678,1", PL_VALID},                          /* 8 fraction digits */
    {"1,A,1.00000000000,1", PL_POISON_PRICE},                /* 11 fraction digits */
    {"1,A,1,1000000000", PL_VALID},                          /* 1e9 */
    {"1,A,1,000000000000001000000000", PL_VALID},
    /* field count first */
    {"", PL_POISON_FIELDS},
    {",", PL_POISON_FIELDS},
    {",,", PL_POISON_FIELDS},
    {",,,,", PL_POISON_FIELDS},
    {"1,A,1", PL_POISON_FIELDS},
    {"1,A,1,1,", PL_POISON_FIELDS},
    {"1,A,1,1,1", PL_POISON_FIELDS},
    {"x,A,1,1,1", PL_POISON_FIELDS},                         /* bad event_ns and 5 fields */
    {"garbage-bytes-here", PL_POISON_FIELDS},
    /* event_ns */
    {",A,1,1", PL_POISON_EVENT_TIME},
    {"9223372036854775808,A,1,1", PL_POISON_EVENT_TIME},    /* 2^63 */
    {"18446744073709551616,A,1,1", PL_POISON_EVENT_TIME},   /* 2^64 */
    {"99999999999999999999,A,1,1", PL_POISON_EVENT_TIME},
    {"000000000009223372036854775808,A,1,1", PL_POISON_EVENT_TIME},
    {"+1,A,1,1", PL_POISON_EVENT_TIME},
    {"-1,A,1,1", PL_POISON_EVENT_TIME},
    {" 1,A,1,1", PL_POISON_EVENT_TIME},
    {"1 ,A,1,1", PL_POISON_EVENT_TIME},
    {"1e3,A,1,1", PL_POISON_EVENT_TIME},
    {"1.0,A,1,1", PL_POISON_EVENT_TIME},
    {"x,a,x,x", PL_POISON_EVENT_TIME},
    /* symbol */
    {"1,,1,1", PL_POISON_SYMBOL},
    {"1,ABCDEFGHIJKLMNOPQ,1,1", PL_POISON_SYMBOL},          /* 17 bytes */
    {"1,aapl,1,1", PL_POISON_SYMBOL},
    {"1,AAPL ,1,1", PL_POISON_SYMBOL},
    {"1,A/B,1,1", PL_POISON_SYMBOL},
    {"1,A\xc3\x84,1,1", PL_POISON_SYMBOL},
    {"1,a,x,1", PL_POISON_SYMBOL},                           /* bad symbol and bad price */
    /* price */
    {"1,A,,1", PL_POISON_PRICE},
    {"1,A,0,1", PL_POISON_PRICE},
    {"1,A,0.00000000,1", PL_POISON_PRICE},
    {"1,A,000.0,1", PL_POISON_PRICE},
    {"1,A,10000000000,1", PL_POISON_PRICE},                 /* 1e10 */
    {"1,A,10000000000.0,1", PL_POISON_PRICE},
    {"1,A,99999999999,1", PL_POISON_PRICE},
    {"1,A,1.123456789,1", PL_POISON_PRICE},                 /* 9 fraction digits */
    {"1,A,1.,1", PL_POISON_PRICE},
    {"1,A,.5,1", PL_POISON_PRICE},
    {"1,A,1.2.3,1", PL_POISON_PRICE},
    {"1,A,+1,1", PL_POISON_PRICE},
    {"1,A,-1,1", PL_POISON_PRICE},
    {"1,A,1e2,1", PL_POISON_PRICE},
    {"1,A, 1,1", PL_POISON_PRICE},
    {"1,A,1 ,1", PL_POISON_PRICE},
    {"1,A,x,0", PL_POISON_PRICE},                            /* bad price and bad qty */
    /* qty */
    {"1,A,1,", PL_POISON_QTY},
    {"1,A,1,0", PL_POISON_QTY},
    {"1,A,1,0000", PL_POISON_QTY},
    {"1,A,1,1000000001", PL_POISON_QTY},                    /* 1e9 + 1 */
    {"1,A,1,99999999999999999999999", PL_POISON_QTY},
    {"1,A,1,100\r", PL_POISON_QTY},                         /* CR belongs to qty */
    {"1,A,1,100\n", PL_POISON_QTY},
    {"1,A,1,+1", PL_POISON_QTY},
    {"1,A,1, 1", PL_POISON_QTY},
    {"1,A,1,1.0", PL_POISON_QTY},
    {"1,A,1,1e3", PL_POISON_QTY},
};

START_TEST(test_reason_table)
{
    const struct pcase *c = &cases[_i];
    pl_tick t;
    int r = parse_str(c->payload, &t);
    ck_assert_msg(r == c->reason, "payload '%s': got %s, want %s", c->payload,
                  pl_poison_name(r), pl_poison_name(c->reason));
}
END_TEST

START_TEST(test_values)
{
    pl_tick t;
    const char *p = "1767605399998000000,AAPL,189.25,100";
    ck_assert_int_eq(parse_str(p, &t), PL_VALID);
    ck_assert_int_eq(t.t, 1767605399998000000LL);
    ck_assert_int_eq(t.price_e8, 18925000000LL);
    ck_assert_int_eq(t.qty, 100);
    ck_assert_uint_eq(t.sym_len, 4);
    ck_assert(t.sym == p + 20); /* points into the payload */
    ck_assert(memcmp(t.sym, "AAPL", 4) == 0);

    ck_assert_int_eq(parse_str("9223372036854775807,XY,9999999999.99999999,1000000000", &t), 0);
    ck_assert_int_eq(t.t, INT64_MAX);
    ck_assert_int_eq(t.price_e8, PL_PRICE_LIMIT_E8 - 1);
    ck_assert_int_eq(t.qty, PL_QTY_MAX);

    ck_assert_int_eq(parse_str("000000000009223372036854775807,A,0000000000001.5,0000000000000007", &t), 0);
    ck_assert_int_eq(t.t, INT64_MAX);
    ck_assert_int_eq(t.price_e8, 150000000);
    ck_assert_int_eq(t.qty, 7);

    ck_assert_int_eq(parse_str("5,A,0.00000001,1", &t), 0);
    ck_assert_int_eq(t.price_e8, 1);
    ck_assert_int_eq(parse_str("5,A,12.3,1", &t), 0);
    ck_assert_int_eq(t.price_e8, 1230000000);
    ck_assert_int_eq(parse_str("5,A,0.0001000,1", &t), 0);
    ck_assert_int_eq(t.price_e8, 10000);
}
END_TEST

/* The parser must not read past n: the bytes after it would change the answer. */
START_TEST(test_bounded_read)
{
    pl_tick t;
    const char *s = "1,A,1,12345";
    uint8_t *heap;
    ck_assert_int_eq(pl_payload_parse((const uint8_t *)s, 7, &t), PL_VALID);
    ck_assert_int_eq(t.qty, 1);
    ck_assert_int_eq(pl_payload_parse((const uint8_t *)s, 6, &t), PL_POISON_QTY);
    ck_assert_int_eq(pl_payload_parse((const uint8_t *)s, 5, &t), PL_POISON_FIELDS);
    ck_assert_int_eq(pl_payload_parse((const uint8_t *)s, 0, &t), PL_POISON_FIELDS);
    ck_assert_int_eq(pl_payload_parse(NULL, 0, &t), PL_POISON_FIELDS);
    /* an exact-size heap copy lets ASan catch any over-read */
    heap = malloc(7);
    ck_assert_ptr_nonnull(heap);
    memcpy(heap, "1,A,1,9", 7);
    ck_assert_int_eq(pl_payload_parse(heap, 7, &t), PL_VALID);
    ck_assert_int_eq(t.qty, 9);
    memcpy(heap, "1,A,1.5", 7);
    ck_assert_int_eq(pl_payload_parse(heap, 7, &t), PL_POISON_FIELDS);
    memcpy(heap, "1,A,1.,", 7);
    ck_assert_int_eq(pl_payload_parse(heap, 7, &t), PL_POISON_PRICE);
    free(heap);
}
END_TEST

START_TEST(test_names)
{
    ck_assert_str_eq(pl_poison_name(PL_VALID), "valid");
    ck_assert_str_eq(pl_poison_name(PL_POISON_FIELDS), "fields");
    ck_assert_str_eq(pl_poison_name(PL_POISON_EVENT_TIME), "event_time");
    ck_assert_str_eq(pl_poison_name(PL_POISON_SYMBOL), "symbol");
    ck_assert_str_eq(pl_poison_name(PL_POISON_PRICE), "price");
    ck_assert_str_eq(pl_poison_name(PL_POISON_QTY), "qty");
    ck_assert_ptr_nonnull(pl_poison_name(99));
}
END_TEST

/* ---- independent oracle ---- */

/* Digit string compared to a limit as text after stripping leading zeros. */
static int ref_digits_le(const char *s, size_t n, const char *limit, char *norm)
{
    size_t i = 0, ll = strlen(limit), m;
    if (n == 0)
        return 0;
    for (size_t j = 0; j < n; j++)
        if (s[j] < '0' || s[j] > '9')
            return 0;
    while (i + 1 < n && s[i] == '0')
        i++;
    m = n - i;
    memcpy(norm, s + i, m);
    norm[m] = 0;
    if (m != ll)
        return m < ll;
    return strcmp(norm, limit) <= 0;
}

static int ref_parse(const char *p, size_t n, int64_t *t, int64_t *price, int64_t *qty,
                     size_t *sym_off, size_t *sym_len)
{
    size_t start[8], len[8], k = 0, s = 0;
    char buf[256];
    for (size_t i = 0; i <= n; i++) {
        if (i == n || p[i] == ',') {
            if (k < 8) {
                start[k] = s;
                len[k] = i - s;
            }
            k++;
            s = i + 1;
        }
    }
    if (k != 4)
        return PL_POISON_FIELDS;
    if (!ref_digits_le(p + start[0], len[0], "9223372036854775807", buf))
        return PL_POISON_EVENT_TIME;
    *t = strtoll(buf, NULL, 10);
    if (len[1] < 1 || len[1] > 16)
        return PL_POISON_SYMBOL;
    for (size_t j = 0; j < len[1]; j++) {
        char c = p[start[1] + j];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return PL_POISON_SYMBOL;
    }
    *sym_off = start[1];
    *sym_len = len[1];
    {
        const char *ps = p + start[2];
        size_t pl = len[2], ni = pl, nf = 0;
        char frac[9] = "00000000";
        for (size_t j = 0; j < pl; j++)
            if (ps[j] == '.') {
                ni = j;
                nf = pl - j - 1;
                break;
            }
        if (!ref_digits_le(ps, ni, "9999999999", buf))
            return PL_POISON_PRICE;
        if (ni < pl) {
            if (nf < 1 || nf > 8)
                return PL_POISON_PRICE;
            for (size_t j = 0; j < nf; j++) {
                char c = ps[ni + 1 + j];
                if (c < '0' || c > '9')
                    return PL_POISON_PRICE;
                frac[j] = c;
            }
        }
        *price = strtoll(buf, NULL, 10) * 100000000LL + strtoll(frac, NULL, 10);
        if (*price <= 0)
            return PL_POISON_PRICE;
    }
    if (!ref_digits_le(p + start[3], len[3], "1000000000", buf) || strcmp(buf, "0") == 0)
        return PL_POISON_QTY;
    *qty = strtoll(buf, NULL, 10);
    return PL_VALID;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    /* splitmix64: seeded, so a failure is reproducible */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Pieces biased toward the interesting boundaries. */
static const char *pieces[] = {
    "0", "1", "9", "00000", "123", "9223372036854775807", "9223372036854775808",
    "10000000000", "9999999999", "1000000000", "1000000001", ".", ".5", "12345678",
    "123456789", "AAPL", "MSFT", "a", "_", "-", "+", " ", "\r", ",", ",", ",", "e", "ABCDEFGHIJKLMNOPQ",
    "1767605399998000000", "189.25", "0.00000001", "\xff",
};

START_TEST(test_oracle_random)
{
    char buf[256];
    int counts[6] = {0};
    rng_state = 0x1234 + (uint64_t)_i;
    for (int iter = 0; iter < 200000; iter++) {
        size_t n = 0;
        int np;
        pl_tick t;
        int64_t rt = 0, rp = 0, rq = 0;
        size_t so = 0, sl = 0;
        int got, want;
        if (rnd() % 2) {
            /* mostly well-formed four fields with mutated parts */
            const char *f0[] = {"1767605399998000000", "0", "9223372036854775807",
                                "9223372036854775808", "", "0009", "x1"};
            const char *f1[] = {"AAPL", "BRK.B", "", "aapl", "ABCDEFGHIJKLMNOP",
                                "ABCDEFGHIJKLMNOPQ", "A B"};
            const char *f2[] = {"189.25", "0", "0.00000001", "9999999999.99999999",
                                "10000000000", "1.", ".5", "1.123456789", "00012.5", "5"};
            const char *f3[] = {"100", "0", "1000000000", "1000000001", "1\r", "", "007"};
            n = (size_t)snprintf(buf, sizeof buf, "%s,%s,%s,%s", f0[rnd() % 7], f1[rnd() % 7],
                                 f2[rnd() % 10], f3[rnd() % 7]);
        } else {
            np = (int)(rnd() % 9);
            for (int k = 0; k < np; k++) {
                const char *pc = pieces[rnd() % (sizeof pieces / sizeof pieces[0])];
                size_t l = strlen(pc);
                if (n + l >= sizeof buf)
                    break;
                memcpy(buf + n, pc, l);
                n += l;
            }
            buf[n] = 0;
        }
        got = pl_payload_parse((const uint8_t *)buf, n, &t);
        want = ref_parse(buf, n, &rt, &rp, &rq, &so, &sl);
        ck_assert_msg(got == want, "'%s': got %s want %s", buf, pl_poison_name(got),
                      pl_poison_name(want));
        counts[got]++;
        if (got == PL_VALID) {
            ck_assert_int_eq(t.t, rt);
            ck_assert_int_eq(t.price_e8, rp);
            ck_assert_int_eq(t.qty, rq);
            ck_assert(t.sym == buf + so);
            ck_assert_uint_eq(t.sym_len, sl);
        }
    }
    /* the generator must exercise every outcome, or the comparison proves little */
    for (int r = 0; r <= 5; r++)
        ck_assert_msg(counts[r] > 100, "outcome %s seen only %d times", pl_poison_name(r),
                      counts[r]);
}
END_TEST

/*
 * Payloads of 16..70 bytes, the shapes the word-at-a-time fast path takes
 * (every field length from its minimum to past its limit), then one byte
 * replaced, inserted or deleted; each parsed from an exact-size heap copy so
 * that a read past n is an ASan error, and compared with the oracle.
 */
static size_t rnd_digits(char *b, size_t k)
{
    for (size_t i = 0; i < k; i++)
        b[i] = (char)('0' + rnd() % 10);
    return k;
}

START_TEST(test_oracle_long)
{
    static const char mut[] = "0123456789,,,..AZ_-a \r\x80\xff";
    int counts[6] = {0};
    rng_state = 0xfa57 + (uint64_t)_i;
    for (int iter = 0; iter < 300000; iter++) {
        char buf[160];
        size_t n = 0, k;
        uint8_t *heap;
        pl_tick t;
        int64_t rt = 0, rp = 0, rq = 0;
        size_t so = 0, sl = 0;
        int got, want;

        /* event_ns: mostly 19 digits, sometimes 1..21 (leading zeros too) */
        k = rnd() % 4 ? 19 : 1 + rnd() % 21;
        n += rnd_digits(buf + n, k);
        if (k == 19 && rnd() % 2)
            buf[0] = (char)('1' + rnd() % 8); /* below 2^63 */
        buf[n++] = ',';
        k = rnd() % 8 ? 1 + rnd() % 16 : 17; /* symbol: 1..16, or 17 */
        for (size_t i = 0; i < k; i++)
            buf[n++] = "ABCXYZ0189._-"[rnd() % 13];
        buf[n++] = ',';
        k = 1 + rnd() % (rnd() % 8 ? 10 : 12); /* price integer part */
        n += rnd_digits(buf + n, k);
        if (rnd() % 8) {
            buf[n++] = '.';
            n += rnd_digits(buf + n, 1 + rnd() % (rnd() % 8 ? 8 : 10));
        }
        buf[n++] = ',';
        n += rnd_digits(buf + n, 1 + rnd() % (rnd() % 8 ? 9 : 12)); /* qty */
        switch (rnd() % 4) {
        case 0: /* replace */
            buf[rnd() % n] = mut[rnd() % (sizeof mut - 1)];
            break;
        case 1: /* insert */
            k = rnd() % (n + 1);
            memmove(buf + k + 1, buf + k, n - k);
            buf[k] = mut[rnd() % (sizeof mut - 1)];
            n++;
            break;
        case 2: /* delete */
            k = rnd() % n;
            memmove(buf + k, buf + k + 1, n - k - 1);
            n--;
            break;
        default: /* as generated */
            break;
        }
        heap = malloc(n);
        ck_assert_ptr_nonnull(heap);
        memcpy(heap, buf, n);
        got = pl_payload_parse(heap, n, &t);
        buf[n] = 0;
        want = ref_parse(buf, n, &rt, &rp, &rq, &so, &sl);
        ck_assert_msg(got == want, "'%s' (%zu bytes): got %s want %s", buf, n,
                      pl_poison_name(got), pl_poison_name(want));
        counts[got]++;
        if (got == PL_VALID) {
            ck_assert_int_eq(t.t, rt);
            ck_assert_int_eq(t.price_e8, rp);
            ck_assert_int_eq(t.qty, rq);
            ck_assert(t.sym == (const char *)heap + so);
            ck_assert_uint_eq(t.sym_len, sl);
        }
        free(heap);
    }
    for (int r = 0; r <= 5; r++)
        ck_assert_msg(counts[r] > 100, "outcome %s seen only %d times", pl_poison_name(r),
                      counts[r]);
}
END_TEST

/* ---- formatting ---- */

START_TEST(test_fmt_price)
{
    char b[32];
    ck_assert_uint_eq(pl_fmt_price(b, 18925000000LL), 12);
    ck_assert_str_eq(b, "189.25000000");
    pl_fmt_price(b, 1);
    ck_assert_str_eq(b, "0.00000001");
    pl_fmt_price(b, 0);
    ck_assert_str_eq(b, "0.00000000");
    pl_fmt_price(b, -150000000);
    ck_assert_str_eq(b, "-1.50000000");
    pl_fmt_price(b, -1);
    ck_assert_str_eq(b, "-0.00000001");
    pl_fmt_price(b, PL_PRICE_LIMIT_E8 - 1);
    ck_assert_str_eq(b, "9999999999.99999999");
    ck_assert_uint_eq(pl_fmt_price(b, INT64_MAX), 20);
    ck_assert_str_eq(b, "92233720368.54775807");
    ck_assert_uint_eq(pl_fmt_price(b, INT64_MIN), 21);
    ck_assert_str_eq(b, "-92233720368.54775808");
    /* against printf's integer and zero-padded fraction, every magnitude */
    rng_state = 78;
    for (int i = 0; i < 100000; i++) {
        char ref[32];
        int64_t v = (int64_t)rnd() >> (rnd() % 64);
        uint64_t a = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
        size_t n = pl_fmt_price(b, v);
        snprintf(ref, sizeof ref, "%s%" PRIu64 ".%08" PRIu64, v < 0 ? "-" : "", a / 100000000,
                 a % 100000000);
        ck_assert_str_eq(b, ref);
        ck_assert_uint_eq(n, strlen(ref));
    }
}
END_TEST

START_TEST(test_fmt_int)
{
    char b[32];
    char ref[32];
    ck_assert_uint_eq(pl_fmt_i64(b, 0), 1);
    ck_assert_str_eq(b, "0");
    pl_fmt_i64(b, -7);
    ck_assert_str_eq(b, "-7");
    ck_assert_uint_eq(pl_fmt_i64(b, INT64_MIN), 20);
    ck_assert_str_eq(b, "-9223372036854775808");
    pl_fmt_i64(b, INT64_MAX);
    ck_assert_str_eq(b, "9223372036854775807");
    ck_assert_uint_eq(pl_fmt_u64(b, UINT64_MAX), 20);
    ck_assert_str_eq(b, "18446744073709551615");
    pl_fmt_u64(b, 0);
    ck_assert_str_eq(b, "0");
    rng_state = 77;
    for (int i = 0; i < 100000; i++) {
        uint64_t u = rnd() >> (rnd() % 64);
        int64_t s = (int64_t)rnd() >> (rnd() % 64);
        size_t n = pl_fmt_u64(b, u);
        snprintf(ref, sizeof ref, "%" PRIu64, u);
        ck_assert_str_eq(b, ref);
        ck_assert_uint_eq(n, strlen(ref));
        n = pl_fmt_i64(b, s);
        snprintf(ref, sizeof ref, "%" PRId64, s);
        ck_assert_str_eq(b, ref);
        ck_assert_uint_eq(n, strlen(ref));
    }
}
END_TEST

/* Every price the grammar accepts prints in a form it parses back to itself. */
START_TEST(test_price_roundtrip)
{
    char b[32], payload[64];
    rng_state = 99;
    for (int i = 0; i < 100000; i++) {
        int64_t v = (int64_t)(rnd() % (uint64_t)(PL_PRICE_LIMIT_E8 - 1)) + 1;
        pl_tick t;
        size_t n;
        if (i % 3 == 0)
            v = (v % 100000) + 1; /* small prices: leading "0." */
        pl_fmt_price(b, v);
        n = (size_t)snprintf(payload, sizeof payload, "1,A,%s,1", b);
        ck_assert_int_eq(pl_payload_parse((const uint8_t *)payload, n, &t), PL_VALID);
        ck_assert_int_eq(t.price_e8, v);
    }
}
END_TEST

START_TEST(test_fmt_hex)
{
    char b[64];
    const uint8_t in[] = {0x00, 0x01, 0xab, 0xff, 0x7f, '\r'};
    ck_assert_uint_eq(pl_fmt_hex(b, in, sizeof in), 12);
    ck_assert_str_eq(b, "0001abff7f0d");
    ck_assert_uint_eq(pl_fmt_hex(b, in, 0), 0);
    ck_assert_str_eq(b, "");
}
END_TEST

Suite *payload_suite(void)
{
    Suite *s = suite_create("payload");
    TCase *tc = tcase_create("grammar");
    tcase_add_loop_test(tc, test_reason_table, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_bounded_read);
    tcase_add_test(tc, test_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("oracle");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_oracle_random, 0, 3);
    tcase_add_loop_test(tc, test_oracle_long, 0, 3);
    suite_add_tcase(s, tc);

    tc = tcase_create("format");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_fmt_price);
    tcase_add_test(tc, test_fmt_int);
    tcase_add_test(tc, test_price_roundtrip);
    tcase_add_test(tc, test_fmt_hex);
    suite_add_tcase(s, tc);
    return s;
}
