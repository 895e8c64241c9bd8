/*
 * payload.c - the producer payload grammar (pl_payload.h) and the canonical
 * number formatting used by every export.
 *
 * Layout: character tables; the slow path, which splits on commas first and
 * then checks each field in table order, so the first failing field names
 * the poison reason; the fast path for payloads of 16..64 bytes on
 * little-endian machines (bit masks of commas, digits and symbol bytes,
 * SSE2 where available, numbers converted eight digits at a time, and on
 * x86-64 the usual shape's four numbers in three vectors), which accepts
 * only the common shape of a valid payload (no zero padding beyond 19
 * digits) and hands anything else to the slow path; the formatters.
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

static __attribute__((noinline)) int parse_slow(const uint8_t *p, size_t n, pl_tick *out)
{
    const uint8_t *f[4], *end = p + n;
    size_t len[4];
    const uint8_t *s = p;
    uint64_t t, q;
    int64_t price;
    int k = 0;

    /* one empty field, and p may be NULL: no pointer arithmetic on it */
    if (n == 0)
        return PL_POISON_FIELDS;
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

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__

/*
 * The fast path finds every field boundary at once: bit masks over the
 * whole payload (up to 64 bytes) say which bytes are commas and digits
 * (and, around the symbol, symbol bytes), and the fields' checks become
 * mask comparisons.  Byte
 * loops would be shorter to write, but their exits depend on field lengths
 * that vary from payload to payload, and each field's start would wait on
 * the previous field's end; the masks need neither.  Numbers are then
 * converted eight digits at a time from words anchored at a field's end.
 * Byte i of a little-endian word loaded at p is p[i].
 */
#define REP(b) (0x0101010101010101ULL * (uint8_t)(b))

static inline uint64_t load8(const uint8_t *s)
{
    uint64_t w;
    memcpy(&w, s, 8);
    return w;
}

/* Bits 0..n-1 set, for 1 <= n <= 64. */
static inline uint64_t low_bits(unsigned n)
{
    return (2ULL << (n - 1)) - 1;
}

/* Bits a..b-1 set, for a < b <= 64. */
static inline uint64_t bit_range(unsigned a, unsigned b)
{
    return low_bits(b) & ~(low_bits(a + 1) >> 1);
}

#ifdef __SSE2__
#include <emmintrin.h>

static inline __m128i load16(const uint8_t *s)
{
    return _mm_loadu_si128((const __m128i *)(const void *)s);
}

/* Digits of the 16 bytes v, as 0xFF bytes: v - '0' is below 10 unsigned,
 * tested as a signed compare after moving 0 to -128. */
static inline __m128i digits16(__m128i v)
{
    return _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8((char)(0x80 - '0'))),
                          _mm_set1_epi8((char)(0x80 + 10)));
}

/* Bits 0..15: which of the 16 bytes at s are commas, and which digits. */
static inline void scan16(const uint8_t *s, uint64_t *comma, uint64_t *digit)
{
    __m128i v = load16(s);
    *comma = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(',')));
    *digit = (uint32_t)_mm_movemask_epi8(digits16(v));
}

/* Bits 0..15: which of the 16 bytes at s are symbol bytes (A-Z 0-9 . _ -). */
static inline uint64_t symbol16(const uint8_t *s)
{
    __m128i v = load16(s);
    /* signed compares: bytes >= 0x80 are negative, so in neither range */
    __m128i az = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('A' - 1)),
                               _mm_cmplt_epi8(v, _mm_set1_epi8('Z' + 1)));
    __m128i dd = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('-' - 1)),
                               _mm_cmplt_epi8(v, _mm_set1_epi8('.' + 1)));
    __m128i ok = _mm_or_si128(_mm_or_si128(digits16(v), az),
                              _mm_or_si128(dd, _mm_cmpeq_epi8(v, _mm_set1_epi8('_'))));
    return (uint32_t)_mm_movemask_epi8(ok);
}

/*
 * Value of the 16 digit bytes at s.  Multiply-adds on 16-bit lanes fold
 * pairs of digits, then pairs of pairs, then pairs of those: a third of the
 * instructions two general-purpose eight-digit conversions take.
 */
static inline uint64_t value16(const uint8_t *s)
{
    __m128i v = _mm_sub_epi8(load16(s), _mm_set1_epi8('0'));
    /* lane k: low byte digit 2k (the more significant), high byte 2k+1 */
    __m128i d2 = _mm_add_epi16(_mm_mullo_epi16(_mm_and_si128(v, _mm_set1_epi16(0xFF)),
                                               _mm_set1_epi16(10)),
                               _mm_srli_epi16(v, 8));
    __m128i d4 = _mm_madd_epi16(d2, _mm_set_epi16(1, 100, 1, 100, 1, 100, 1, 100));
    __m128i d8 = _mm_madd_epi16(_mm_packs_epi32(d4, d4),
                                _mm_set_epi16(1, 10000, 1, 10000, 1, 10000, 1, 10000));
    return (uint64_t)(uint32_t)_mm_cvtsi128_si32(d8) * E8 +
           (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(d8, 4));
}

#else /* eight bytes at a time in general-purpose registers */

#define HIGHS REP(0x80)

/* 0x80 in each byte that is nonzero (exact: no borrow between bytes). */
static inline uint64_t nonzero_bytes(uint64_t z)
{
    return (((z & ~HIGHS) + ~HIGHS) | z) & HIGHS;
}

/* 0x80 in each byte equal to c. */
static inline uint64_t eq_bytes(uint64_t w, uint8_t c)
{
    return ~nonzero_bytes(w ^ REP(c)) & HIGHS;
}

/*
 * 0x80 in each byte in [lo, hi].  With bit 7 cleared no byte sum below
 * carries: x + (0x80 - lo) has bit 7 set iff x >= lo, x + (0x7F - hi) iff
 * x > hi.  Bytes with bit 7 set are in no range.
 */
static inline uint64_t in_bytes(uint64_t w, uint8_t lo, uint8_t hi)
{
    uint64_t x = w & ~HIGHS;
    return (x + REP(0x80 - lo)) & ~(x + REP(0x7F - hi)) & ~w & HIGHS;
}

/* 0x80 bytes -> one bit per byte, byte i to bit i. */
static inline uint64_t gather(uint64_t m)
{
    return ((m >> 7) * 0x0102040810204080ULL) >> 56;
}

static inline void scan16(const uint8_t *s, uint64_t *comma, uint64_t *digit)
{
    uint64_t w0 = load8(s), w1 = load8(s + 8);
    *comma = gather(eq_bytes(w0, ',')) | gather(eq_bytes(w1, ',')) << 8;
    *digit = gather(in_bytes(w0, '0', '9')) | gather(in_bytes(w1, '0', '9')) << 8;
}

static inline uint64_t symbol8(uint64_t w)
{
    return gather(in_bytes(w, '0', '9') | in_bytes(w, 'A', 'Z') | in_bytes(w, '-', '.') |
                  eq_bytes(w, '_'));
}

static inline uint64_t symbol16(const uint8_t *s)
{
    return symbol8(load8(s)) | symbol8(load8(s + 8)) << 8;
}

#endif

/* Eight digit bytes, first digit lowest, with '0' subtracted -> value. */
static inline __attribute__((always_inline)) uint64_t value8(uint64_t w)
{
    w = w * 10 + (w >> 8); /* byte pairs: 10 * d0 + d1 <= 99, no carry */
    return (((w & 0x000000FF000000FFULL) * 0x000F424000000064ULL) +
            (((w >> 16) & 0x000000FF000000FFULL) * 0x0000271000000001ULL)) >> 32;
}

#ifndef __SSE2__
/* Value of the 16 digit bytes at s. */
static inline uint64_t value16(const uint8_t *s)
{
    return value8(load8(s) ^ REP('0')) * E8 + value8(load8(s + 8) ^ REP('0'));
}
#endif

/*
 * Value of the digits p[a..b), 1 <= b - a <= 8, b <= n, n >= 16: the word
 * ending at b (or starting at p when b < 8), shifted so the last digit is
 * the top byte, with the bytes before a cleared to leading zero digits.
 */
static inline __attribute__((always_inline)) uint64_t value_end(const uint8_t *p, unsigned a, unsigned b)
{
    unsigned base = b >= 8 ? b - 8 : 0;
    uint64_t w = (load8(p + base) ^ REP('0')) << (8 * (8 - (b - base)));
    return value8(w & (~0ULL << (8 * (8 - (b - a)))));
}

/* Value of the digits p[a..b), 1 <= b - a <= 19: below 1e19, fits. */
static inline __attribute__((always_inline)) uint64_t value_range(const uint8_t *p, unsigned a,
                                                                  unsigned b)
{
    uint64_t v;
    if (b - a <= 8)
        return value_end(p, a, b);
    if (b - a < 16)
        return value_end(p, a, b - 8) * E8 + value_end(p, b - 8, b);
    /* a 19-digit event time, the usual case, takes this way */
    v = value16(p + b - 16);
    return b - a == 16 ? v : value_end(p, a, b - 16) * (E8 * E8) + v;
}

#if defined(__SSE2__) && defined(__x86_64__)
#define FOLD4 1

/*
 * Pairs, then quads of the digit values (0..9, first digit lowest) in the
 * 16 bytes v: eight 16-bit lanes of two digits, folded to four 32-bit lanes
 * of four digits (each <= 9999).
 */
static inline __m128i quads(__m128i v)
{
    __m128i d2 = _mm_add_epi16(_mm_mullo_epi16(_mm_and_si128(v, _mm_set1_epi16(0xFF)),
                                               _mm_set1_epi16(10)),
                               _mm_srli_epi16(v, 8));
    return _mm_madd_epi16(d2, _mm_set_epi16(1, 100, 1, 100, 1, 100, 1, 100));
}

/* The quads of a and b -> four 32-bit lanes: the values of a's bytes 0..7
 * and 8..15, then b's. */
static inline __m128i octets(__m128i qa, __m128i qb)
{
    return _mm_madd_epi16(_mm_packs_epi32(qa, qb),
                          _mm_set_epi16(1, 10000, 1, 10000, 1, 10000, 1, 10000));
}
#endif

int pl_payload_parse(const uint8_t *p, size_t n, pl_tick *out)
{
    uint64_t cm = 0, dm = 0, c, d, x, commas, fw = 0, t, ip, fp = 0, q;
    unsigned c1, c2, c3, nu = (unsigned)n, pe, o, ni, nf = 0, nq;

    /* Masks need 16..64 bytes; a typical payload has about 40. */
    if (n < 16 || n > 64)
        goto slow;
    /* 16-byte chunks, the last one pulled back to end at n: the overlap
     * sets the same bits twice, and nothing is read past n. */
    scan16(p, &cm, &dm);
    o = nu < 32 ? nu - 16 : 16;
    scan16(p + o, &c, &d);
    cm |= c << o;
    dm |= d << o;
    if (nu > 32) {
        o = nu < 48 ? nu - 16 : 32;
        scan16(p + o, &c, &d);
        cm |= c << o;
        dm |= d << o;
        if (nu > 48) {
            o = nu - 16;
            scan16(p + o, &c, &d);
            cm |= c << o;
            dm |= d << o;
        }
    }

    /* exactly three commas */
    commas = cm;
    if (!cm)
        goto slow;
    c1 = (unsigned)__builtin_ctzll(cm);
    cm &= cm - 1;
    if (!cm)
        goto slow;
    c2 = (unsigned)__builtin_ctzll(cm);
    cm &= cm - 1;
    if (!cm || (cm & (cm - 1)))
        goto slow;
    c3 = (unsigned)__builtin_ctzll(cm);

    /* event_ns 1..19 bytes (longer, zero-padded ones go the slow way),
     * symbol 1..16, qty 1..10 */
    nq = nu - c3 - 1;
    if (c1 < 1 || c1 > 19 || c2 - c1 - 1 < 1 || c2 - c1 - 1 > PL_SYMBOL_MAX || nq < 1 ||
        nq > 10)
        goto slow;
    /* the symbol: symbol bytes, all inside one 16-byte chunk */
    o = c1 + 1 < nu - 16 ? c1 + 1 : nu - 16;
    if (~(symbol16(p + o) << o) & bit_range(c1 + 1, c2))
        goto slow;
    /*
     * Every other byte must be a digit or a comma, except one '.' inside
     * the price with a digit on each side: x, the bytes outside the symbol
     * that are neither, is empty or that '.', which checks the digits of
     * event_ns, price and qty at once.
     */
    x = ~(dm | commas) & low_bits(nu) & ~bit_range(c1 + 1, c2);
    pe = c3;
    if (x) {
        pe = (unsigned)__builtin_ctzll(x);
        if ((x & (x - 1)) || p[pe] != '.' || pe < c2 + 2 || c3 - pe < 2 || c3 - pe > 9)
            goto slow;
        /* the fraction digits start a word (pulled back to end at n, then
         * shifted down); the bytes after them, cleared, are trailing zeros */
        nf = c3 - pe - 1;
        o = pe + 1 < nu - 8 ? pe + 1 : nu - 8;
        fw = ((load8(p + o) ^ REP('0')) >> (8 * (pe + 1 - o))) & (~0ULL >> (8 * (8 - nf)));
    }
    /* price integer part: 1..10 digits */
    ni = pe - c2 - 1;
    if (ni < 1 || ni > 10)
        goto slow;

#ifdef FOLD4
    if (c1 >= 17 && ni <= 8 && nq <= 8) {
        /*
         * The usual shape, converted in three vectors: event_ns as its
         * first 1..3 digits and its last 16, the price as its integer part
         * (right-aligned, leading zero digits) beside its fraction
         * (left-aligned, trailing zeros: already units of 1e-8), and the qty
         * beside event_ns's first digits.
         */
        uint64_t thw = (load8(p) ^ REP('0')) << (8 * (24 - c1));
        uint64_t qw = (load8(p + nu - 8) ^ REP('0')) & (~0ULL << (8 * (8 - nq)));
        uint64_t iw = (load8(p + pe - 8) ^ REP('0')) & (~0ULL << (8 * (8 - ni)));
        __m128i qt = quads(_mm_sub_epi8(load16(p + c1 - 16), _mm_set1_epi8('0')));
        __m128i o8 = octets(quads(_mm_set_epi64x((long long)qw, (long long)thw)),
                            quads(_mm_set_epi64x((long long)fw, (long long)iw)));
        uint64_t a = (uint64_t)_mm_cvtsi128_si64(o8);
        uint64_t b = (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(o8, o8));
        uint64_t tl = (uint64_t)_mm_cvtsi128_si64(octets(qt, qt));
        /* a: event_ns's first digits, qty; b: integer part, fraction;
         * tl: event_ns's last 16 digits, as two groups of eight */
        t = (uint64_t)(uint32_t)a * (E8 * E8) + (uint64_t)(uint32_t)tl * E8 + (tl >> 32);
        q = a >> 32;
        ip = (uint32_t)b;
        fp = b >> 32;
    } else
#endif
    {
        t = value_range(p, 0, c1);
        ip = value_range(p, c2 + 1, pe);
        q = value_range(p, c3 + 1, nu);
        if (nf)
            fp = value8(fw);
    }
    if (t > (uint64_t)INT64_MAX || (ip | fp) == 0 || q == 0 || q > (uint64_t)PL_QTY_MAX)
        goto slow;

    out->t = (int64_t)t;
    out->sym = (const char *)p + c1 + 1;
    out->sym_len = c2 - c1 - 1;
    out->price_e8 = (int64_t)(ip * E8 + fp);
    out->qty = (int64_t)q;
    return PL_VALID;

slow:
    return parse_slow(p, n, out);
}

#else /* big-endian: the exact field-by-field path only */

int pl_payload_parse(const uint8_t *p, size_t n, pl_tick *out)
{
    return parse_slow(p, n, out);
}

#endif

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

/* "00" .. "99": two digits per division by 100, half the divisions (the
 * export and the sink digest format every number of every row). */
static const char dig2[201] = "00010203040506070809101112131415161718192021222324252627282930313233"
                              "34353637383940414243444546474849505152535455565758596061626364656667"
                              "6869707172737475767778798081828384858687888990919293949596979899";

/* Number of decimal digits of v (1 for 0). */
static size_t dec_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 10000) {
        v /= 10000;
        n += 4;
    }
    return n + (v >= 10) + (v >= 100) + (v >= 1000);
}

/* Write exactly n digits of v (v < 10^n), right-aligned, ending at end. */
static void put_digits(char *end, uint64_t v, size_t n)
{
    while (n >= 2) {
        end -= 2;
        memcpy(end, dig2 + 2 * (v % 100), 2);
        v /= 100;
        n -= 2;
    }
    if (n)
        end[-1] = (char)('0' + v);
}

size_t pl_fmt_u64(char *buf, uint64_t v)
{
    size_t n = dec_len(v);
    put_digits(buf + n, v, n);
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
    uint64_t a = (uint64_t)price_e8;
    size_t n = 0;
    if (price_e8 < 0) {
        buf[n++] = '-';
        a = 0 - a;
    }
    n += pl_fmt_u64(buf + n, a / E8);
    buf[n++] = '.';
    put_digits(buf + n + 8, a % E8, 8); /* exactly 8, leading zeros kept */
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
