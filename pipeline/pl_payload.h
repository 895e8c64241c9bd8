/*
 * pl_payload.h - the producer payload grammar and canonical number formatting.
 *
 * A valid payload is exactly `event_ns,symbol,price,qty` (see docs/semantics.md).
 * Anything else is a poison message with the reason of the first field, in
 * table order, that fails.  Prices are fixed-point integers in units of 1e-8.
 */
#ifndef PL_PAYLOAD_H
#define PL_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

enum pl_poison {
    PL_VALID = 0,
    PL_POISON_FIELDS = 1,     /* not exactly four comma-separated fields */
    PL_POISON_EVENT_TIME = 2, /* event_ns not only digits or >= 2^63 */
    PL_POISON_SYMBOL = 3,     /* not 1..16 bytes of A-Z 0-9 . _ - */
    PL_POISON_PRICE = 4,      /* not digits[.digits], > 8 fraction digits, <= 0 or >= 1e10 */
    PL_POISON_QTY = 5         /* not only digits or outside [1, 1e9] */
};

#define PL_SYMBOL_MAX 16
#define PL_PRICE_LIMIT_E8 ((int64_t)1000000000000000000LL) /* 1e10 * 1e8 */
#define PL_QTY_MAX 1000000000LL

/* A parsed event.  `sym` points into the payload passed to pl_payload_parse. */
typedef struct pl_tick {
    int64_t t;        /* event_ns, 0 <= t < 2^63 */
    int64_t price_e8; /* 1 <= price_e8 < 1e18 */
    int64_t qty;      /* 1 <= qty <= 1e9 */
    const char *sym;
    uint32_t sym_len; /* 1..16 */
} pl_tick;

/*
 * Parse payload p[0..n).  Returns PL_VALID (0) and fills *out, or the poison
 * reason (> 0).  Never reads outside p[0..n); p need not be NUL-terminated.
 */
int pl_payload_parse(const uint8_t *p, size_t n, pl_tick *out);

/* "fields", "event_time", "symbol", "price", "qty" ("valid" for 0). */
const char *pl_poison_name(int reason);

/*
 * Write price_e8 in canonical form: integer part in plain decimal, '.', exactly
 * 8 fraction digits ("189.25000000").  buf must hold 32 bytes.  Returns the
 * length written (no NUL counted; a NUL is written).  Negative values get '-'.
 */
size_t pl_fmt_price(char *buf, int64_t price_e8);

/* Plain decimal of a signed / unsigned 64-bit integer; same conventions. */
size_t pl_fmt_i64(char *buf, int64_t v);
size_t pl_fmt_u64(char *buf, uint64_t v);

/* Lowercase hex of p[0..n) into buf (2n+1 bytes).  Returns 2n. */
size_t pl_fmt_hex(char *buf, const uint8_t *p, size_t n);

#endif
