/*
 * esc.c - escaping for the report writers (rp_esc.h).
 *
 * Layout: UTF-8 validation; the one escaping loop, whose per-mode choices
 * are in esc_byte; shell quoting for reproducer lines.
 */
#include "rp_esc.h"

#include <string.h>

size_t rp_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0; /* continuation byte, 0xc0/0xc1 (always overlong), 0xf5.. */
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    /* U+FFFE and U+FFFF are not XML characters; show them as bytes */
    if (cp == 0xfffe || cp == 0xffff)
        return 0;
    return len;
}

static void hex_byte(FILE *out, unsigned char c, int mode)
{
    if (mode == RP_ESC_HTML)
        fprintf(out, "<span class=\"esc\">\\x%02x</span>", c);
    else if (mode == RP_ESC_MD)
        fprintf(out, "\\\\x%02x", c); /* markdown shows "\x1b" */
    else
        fprintf(out, "\\x%02x", c);
}

void rp_esc(FILE *out, const char *s, size_t n, int mode, int nl)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    if (!s)
        return;
    if (n == (size_t)-1)
        n = strlen(s);
    while (i < n) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t len = rp_utf8_len(p + i, n - i);
            if (len) {
                fwrite(p + i, 1, len, out);
                i += len;
            } else {
                hex_byte(out, c, mode);
                i++;
            }
            continue;
        }
        i++;
        switch (c) {
        case '&': fputs("&amp;", out); continue;
        case '<': fputs("&lt;", out); continue;
        case '>': fputs("&gt;", out); continue;
        case '"': fputs("&quot;", out); continue;
        case '\'': fputs("&#39;", out); continue;
        case '\t': fputc(mode == RP_ESC_MD ? ' ' : '\t', out); continue;
        case '\n':
            if (nl && mode != RP_ESC_MD)
                fputc('\n', out);
            else
                hex_byte(out, c, mode);
            continue;
        default:
            break;
        }
        if (c < 0x20 || c == 0x7f) {
            hex_byte(out, c, mode);
            continue;
        }
        /* markdown: characters that would start emphasis, code, links,
         * tables or escapes are taken literally */
        if (mode == RP_ESC_MD && strchr("\\`*_[]|#!~", c))
            fputc('\\', out);
        fputc(c, out);
    }
}

void rp_html(FILE *out, const char *s)
{
    rp_esc(out, s, (size_t)-1, RP_ESC_HTML, 0);
}

void rp_xml(FILE *out, const char *s)
{
    rp_esc(out, s, (size_t)-1, RP_ESC_XML, 0);
}

void rp_md(FILE *out, const char *s)
{
    rp_esc(out, s, (size_t)-1, RP_ESC_MD, 0);
}
