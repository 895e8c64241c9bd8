/*
 * rp_esc.h - writing data-derived text (symbols, scenario names and paths,
 * payload bytes, CSV lines) into HTML, XML and markdown so that it can
 * never become markup.
 *
 * Every byte sequence is shown, none is dropped: valid UTF-8 passes as
 * text; markup characters become entities; control bytes (other than tab
 * and, in multi-line mode, LF) and bytes that are not part of valid UTF-8
 * become the visible four characters "\xNN" (XML 1.0 cannot carry them even
 * as character references).  In HTML those are wrapped in <span
 * class="esc"> so that a reader can tell them from a literal backslash.
 */
#ifndef RP_ESC_H
#define RP_ESC_H

#include <stddef.h>
#include <stdio.h>

enum rp_esc_mode {
    RP_ESC_HTML = 0,  /* element content and double- or single-quoted attributes */
    RP_ESC_XML,       /* the same for XML 1.0 (no spans) */
    RP_ESC_MD,        /* markdown table cell / inline text: no line breaks, | and
                         markdown punctuation backslash-escaped, markup as entities */
};

/* Write s (n bytes, or strlen(s) when n is (size_t)-1; NULL writes nothing).
 * nl: keep LF as a line break (HTML/XML text), else it is shown as \x0a. */
void rp_esc(FILE *out, const char *s, size_t n, int mode, int nl);
/* Shorthands: NUL-terminated, no line breaks. */
void rp_html(FILE *out, const char *s);
void rp_xml(FILE *out, const char *s);
void rp_md(FILE *out, const char *s);

/* Length of the valid UTF-8 sequence at s (1..4), 0 when s[0..n) does not
 * start with one (overlong forms, surrogates and code points above U+10FFFF
 * are invalid), for bytes >= 0x80 only. */
size_t rp_utf8_len(const unsigned char *s, size_t n);

#endif
