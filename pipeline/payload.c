/*
 * payload.c - the producer payload grammar (pl_payload.h) and the canonical
 * number formatting used by every export.
 *
 * Layout: character tables; a fast single-pass parser that accepts only the
 * common shape of a valid payload (no zero padding beyond what fits in 19
 * digits) and hands anything else to the slow path; the slow path, which
 * splits on commas first and then checks each field in table order, so the
 * first failing field names the poison reason; the formatters.
 *
 * The fast path never decides that a payload is poison: it either proves the
 * payload valid or defers.  So the reason a poison message gets depends on
 * the slow path alone, which follows the specification's table literally.
 */
#include "pl_payload.h"

#include <string.h>

#define E8 100000000ULL
#define PRICE_INT_LIMIT 10000000000ULL /* integer part must stay below 1e10 */

/* 1 for the bytes a symbol may contain: A-Z 0-9 . _ - */
static const uint8_t sym_ok[256] = {
    ['-'] = 1, ['.'] = 1, ['_'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
    ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
    ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
};

static const uint64_t pow10_u64[9] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
};

static inline int is_digit(uint8_t c)
{
    return (unsigned)(c - '0') < 10u;
}

/* ---- slow path: exact field checks on known field boundaries ---- */

/*
 * Decimal digits s[0..n) -> *v, requiring n >= 1 and value <= max.  Leading
 * zeros are skipped before counting, so a zero-padded 30-digit number is
 * judged by its value and nothing overflows: more than 19 significant digits
 * is at least 1e19, above every limit used here (all below 2^63).
 */
static int digits_le(const uint8_t *s, size_t n, uint64_t max, uint64_t *v)
{
    size_t i = 0, sig;
    uint64_t acc = 0;
    if (n == 0)
        return 0;
    for (size_t j = 0; j < n; j++)
        if (!is_digit(s[j]))
            return 0;
    while (i < n && s[i] == '0')
        i++;
    sig = n - i;
    if (sig > 19)
        return 0;
    for (; i < n; i++)
        acc = acc * 10 + (uint64_t)(s[i] - '0'); /* < 1e19: fits in uint64 */
    if (acc > max)
        return 0;
    *v = acc;
    return 1;
}

static int check_symbol(const uint8_t *s, size_t n)
{
    if (n < 1 || n > PL_SYMBOL_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!sym_ok[s[i]])
            return 0;
    return 1;
}

static int check_price(const uint8_t *s, size_t n, int64_t *out)
{
    const uint8_t *dot = memchr(s, '.', n);
    size_t ni = dot ? (size_t)(dot - s) : n;
    size_t nf = dot ? n - ni - 1 : 0;
    uint64_t ip, fp = 0;
    uint64_t v;

    if (!digits_le(s, ni, PRICE_INT_LIMIT - 1, &ip))
        return 0;
    if (dot) {
        /* "1." has no fraction digit and a second '.' is not a digit */
        if (nf < 1 || nf > 8 || !digits_le(dot + 1, nf, E8 - 1, &fp))
            return 0;
        fp *= pow10_u64[8 - nf];
    }
    v = ip * E8 + fp;
    if (v == 0)
        return 0;
    *out = (int64_t)v;
    return 1;
}

static int parse_slow(const uint8_t *p, size_t n, pl_tick *out)
{
    const uint8_t *f[4], *end = p + n;
    size_t len[4];
    const uint8_t *s = p;
    uint64_t t, q;
    int64_t price;
    int k = 0;

    /* count fields first: a bad field never hides a wrong field count */
    for (;;) {
        const uint8_t *c = memchr(s, ',', (size_t)(end - s));
        if (k == 4)
            return PL_POISON_FIELDS;
        f[k] = s;
        len[k] = c ? (size_t)(c - s) : (size_t)(end - s);
        k++;
        if (!c)
            break;
        s = c + 1;
    }
    if (k != 4)
        return PL_POISON_FIELDS;

    if (!digits_le(f[0], len[0], (uint64_t)INT64_MAX, &t))
        return PL_POISON_EVENT_TIME;
    if (!check_symbol(f[1], len[1]))
        return PL_POISON_SYMBOL;
    if (!check_price(f[2], len[2], &price))
        return PL_POISON_PRICE;
    if (!digits_le(f[3], len[3], (uint64_t)PL_QTY_MAX, &q) || q == 0)
        return PL_POISON_QTY;

    out->t = (int64_t)t;
    out->sym = (const char *)f[1];
    out->sym_len = (uint32_t)len[1];
    out->price_e8 = price;
    out->qty = (int64_t)q;
    return PL_VALID;
}

/* ---- fast path ---- */

/*
 * Digits at *sp accumulated into *v (wrapping past 20 digits; callers reject
 * long runs by the count returned).  Eight digits at a time where eight bytes
 * remain: a 19-digit event_ns is the longest field of a typical payload, and
 * a byte-serial multiply-add chain over it costs more than the rest of the
 * parse together.  Loads stay inside [*sp, e).
 */
static inline size_t take_digits(const uint8_t **sp, const uint8_t *e, uint64_t *v)
{
    const uint8_t *s = *sp, *f = s;
    uint64_t acc = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (e - s >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        /* all eight bytes in '0'..'9' (high nibble 3, and no carry past 9) */
        if (((w & 0xF0F0F0F0F0F0F0F0ULL) |
             (((w + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4)) !=
            0x3333333333333333ULL)
            break;
        w -= 0x3030303030303030ULL;
        w = w * 10 + (w >> 8);
        w = (((w & 0x000000FF000000FFULL) * 0x000F424000000064ULL) +
             (((w >> 16) & 0x000000FF000000FFULL) * 0x0000271000000001ULL)) >> 32;
        acc = acc * 100000000ULL + (uint32_t)w;
        s += 8;
    }
#endif
    while (s < e && is_digit(*s))
        acc = acc * 10 + (uint64_t)(*s++ - '0');
    *sp = s;
    *v = acc;
    return (size_t)(s - f);
}

int pl_payload_parse(const uint8_t *p, size_t n, pl_tick *out)
{
    const uint8_t *s = p, *e = p + n, *f;
    uint64_t t, ip = 0, fp = 0, q = 0;
    size_t nd, nf;

    /* one field, and p may be NULL: no pointer arithmetic on it */
    if (n == 0)
        return PL_POISON_FIELDS;

    /* event_ns: 1..19 digits fit uint64 unchecked; the range test follows */
    nd = take_digits(&s, e, &t);
    if (nd == 0 || nd > 19 || t > (uint64_t)INT64_MAX || s == e || *s != ',')
        goto slow;
    s++;

    /* symbol: table lookup stops at ',' (not a symbol byte) */
    f = s;
    while (s < e && sym_ok[*s])
        s++;
    if (s == f || s - f > PL_SYMBOL_MAX || s == e || *s != ',')
        goto slow;
    out->sym = (const char *)f;
    out->sym_len = (uint32_t)(s - f);
    s++;

    /* price: integer part of 1..10 digits keeps ip * 1e8 + fp in int64 */
    f = s;
    while (s < e && is_digit(*s))
        ip = ip * 10 + (uint64_t)(*s++ - '0');
    if (s == f || s - f > 10 || ip >= PRICE_INT_LIMIT || s == e)
        goto slow;
    if (*s == '.') {
        f = ++s;
        while (s < e && is_digit(*s))
            fp = fp * 10 + (uint64_t)(*s++ - '0');
        nf = (size_t)(s - f);
        if (nf < 1 || nf > 8 || s == e)
            goto slow;
        fp *= pow10_u64[8 - nf];
    }
    if (*s != ',' || (ip | fp) == 0)
        goto slow;
    s++;

    /* qty: must run to the very end (a trailing CR is qty's problem) */
    f = s;
    while (s < e && is_digit(*s))
        q = q * 10 + (uint64_t)(*s++ - '0');
    if (s != e || s == f || s - f > 10 || q == 0 || q > (uint64_t)PL_QTY_MAX)
        goto slow;

    out->t = (int64_t)t;
    out->price_e8 = (int64_t)(ip * E8 + fp);
    out->qty = (int64_t)q;
    return PL_VALID;

slow:
    return parse_slow(p, n, out);
}

const char *pl_poison_name(int reason)
{
    switch (reason) {
    case PL_VALID: return "valid";
    case PL_POISON_FIELDS: return "fields";
    case PL_POISON_EVENT_TIME: return "event_time";
    case PL_POISON_SYMBOL: return "symbol";
    case PL_POISON_PRICE: return "price";
    case PL_POISON_QTY: return "qty";
    default: return "unknown";
    }
}

/* ---- formatting ---- */

size_t pl_fmt_u64(char *buf, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = 0;
    return n;
}

size_t pl_fmt_i64(char *buf, int64_t v)
{
    if (v < 0) {
        /* negate in unsigned arithmetic: -INT64_MIN does not exist in int64 */
        buf[0] = '-';
        return 1 + pl_fmt_u64(buf + 1, 0 - (uint64_t)v);
    }
    return pl_fmt_u64(buf, (uint64_t)v);
}

size_t pl_fmt_price(char *buf, int64_t price_e8)
{
    uint64_t a = (uint64_t)price_e8, fr;
    size_t n = 0;
    if (price_e8 < 0) {
        buf[n++] = '-';
        a = 0 - a;
    }
    n += pl_fmt_u64(buf + n, a / E8);
    buf[n++] = '.';
    fr = a % E8;
    for (int i = 7; i >= 0; i--) {
        buf[n + (size_t)i] = (char)('0' + fr % 10);
        fr /= 10;
    }
    n += 8;
    buf[n] = 0;
    return n;
}

size_t pl_fmt_hex(char *buf, const uint8_t *p, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        buf[2 * i] = hx[p[i] >> 4];
        buf[2 * i + 1] = hx[p[i] & 15];
    }
    buf[2 * n] = 0;
    return 2 * n;
}
