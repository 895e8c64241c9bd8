/*
 * unsafe.c - the registry of deliberately broken variants (pl_unsafe.h).
 *
 * Compiled into both builds; only the fault build accepts a selection.
 */
#include "pl_unsafe.h"

#include <string.h>

unsigned long long pl_unsafe_mask;

static const struct {
    const char *name, *what;
} table[] = {
#define PL_UNSAFE_ROW(id, name, what) { name, what },
    PL_UNSAFE_MAP(PL_UNSAFE_ROW)
#undef PL_UNSAFE_ROW
};

_Static_assert(PL_UNSAFE__COUNT <= 64, "pl_unsafe_mask holds 64 variants");

const char *pl_unsafe_name(int id)
{
    return id >= 0 && id < PL_UNSAFE__COUNT ? table[id].name : NULL;
}

const char *pl_unsafe_what(int id)
{
    return id >= 0 && id < PL_UNSAFE__COUNT ? table[id].what : NULL;
}

int pl_unsafe_available(void)
{
#ifdef FIU_ENABLE
    return 1;
#else
    return 0;
#endif
}

int pl_unsafe_set(const char *list, pl_errbuf *eb)
{
    unsigned long long mask = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        int found = -1;
        for (int i = 0; i < PL_UNSAFE__COUNT && n; i++)
            if (strlen(table[i].name) == n && !memcmp(table[i].name, p, n))
                found = i;
        if (!pl_unsafe_available())
            return pl_err(eb, PL_EUSAGE, "unsafe variants exist only in the fault build "
                          "(refpipe-fiu); '%.*s' refused", (int)n, p);
        if (found < 0)
            return pl_err(eb, PL_EUSAGE, "unknown unsafe variant '%.*s' (refpipe-fiu unsafe "
                          "lists them)", (int)n, p);
        mask |= 1ull << found;
        p += n;
        if (*p == ',')
            p++;
    }
    pl_unsafe_mask |= mask;
    return 0;
}
