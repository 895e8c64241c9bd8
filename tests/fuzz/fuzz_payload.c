/* fuzz_payload.c - the payload grammar (pl_payload_parse): any bytes give a
 * verdict without reading outside the input, and a valid payload's fields
 * obey the grammar's bounds (SPEC section 1). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pl_payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    pl_tick t;
    /* an exact-size copy: ASan then catches a read one byte past the end */
    uint8_t *p = malloc(n ? n : 1);
    int r;
    if (!p)
        return 0;
    memcpy(p, d, n);
    r = pl_payload_parse(p, n, &t);
    if (r == PL_VALID &&
        (t.t < 0 || t.price_e8 < 1 || t.price_e8 >= 1000000000000000000LL || t.qty < 1 ||
         t.qty > 1000000000 || t.sym_len < 1 || t.sym_len > 16 ||
         (const uint8_t *)t.sym < p || (const uint8_t *)t.sym + t.sym_len > p + n))
        abort();
    if (r < PL_VALID || r > PL_POISON_QTY)
        abort();
    free(p);
    return 0;
}
