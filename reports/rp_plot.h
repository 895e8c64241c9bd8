/*
 * rp_plot.h - plots for the HTML report, rendered by gnuplot through a pipe
 * into SVG text that is inlined in the page.
 *
 * The script (data included as inline data blocks) is written to gnuplot's
 * stdin and the SVG read from its stdout: no script or data file is ever
 * written, so nothing is left behind.  The gnuplot program is $RP_GNUPLOT
 * when set (tests point it at a missing program), else "gnuplot" from PATH.
 */
#ifndef RP_PLOT_H
#define RP_PLOT_H

#include "pl_err.h"

/*
 * Render script (gnuplot commands; the terminal and output are set here:
 * SVG of width x height pixels on stdout, no enhanced text) and return the
 * <svg> element, malloc'd, in *svg, with its ids prefixed by id_prefix so
 * that several plots can share one page.  Returns 0; PL_ENOTFOUND when
 * gnuplot cannot be started (eb says so); PL_EIO when it fails or runs for
 * more than 60 s (killed), eb naming its exit status.
 */
int rp_plot_svg(const char *script, int width, int height, const char *id_prefix, char **svg,
                pl_errbuf *eb);

/* Text safe inside a single-quoted gnuplot string (anything but printable
 * ASCII, quotes, backslashes and @ becomes '?'), into buf of n bytes. */
void rp_plot_label(char *buf, size_t n, const char *s);

#endif
