#!/bin/sh
# bench/mutants.sh: the default scenario suite and the whole kill matrix
# (`make mutants`: every variant against every scenario, then one catch of
# each shrunk with --shrink 40), timed one after the other: crash exploration
# and its proof that it catches real bugs, within 5 minutes on the 2-core
# machine.  Both run in a scratch copy of scenarios/ (BENCH_DIR, default
# build/bench-mutants), so the results database, run dirs and shrunk
# reproducers stay there and go with it.  The load average before and after
# is printed beside the times: on a shared machine other jobs' load is in them.
# Exits 1 when the suite or the matrix does not pass (a time of a failing run
# is no measure), as make mutants would.
set -eu
B=$(cd "${BIN:-bin}" && pwd)
D=${BENCH_DIR:-build/bench-mutants}
rm -rf "$D"
mkdir -p "$D"
cp -r scenarios "$D/"
cd "$D"

now() { date +%s.%N; }
load() { cut -d' ' -f1 /proc/loadavg; }

echo
echo "== the default suite plus make mutants (scenarios/*.ini; $(getconf _NPROCESSORS_ONLN) CPUs)"
l0=$(load)
t0=$(now)
st=0
"$B/replayproof" run -q --results results.db scenarios/*.ini >suite.out 2>&1 || st=$?
t1=$(now)
mst=0
"$B/replayproof" mutants -q --shrink 40 --results results.db scenarios/*.ini >mutants.out 2>&1 ||
    mst=$?
t2=$(now)
l1=$(load)
grep -E '^== [0-9]+ mutants' mutants.out | sed 's/^/  /' || true
awk -v a="$t0" -v b="$t1" -v c="$t2" -v st="$st" -v mst="$mst" -v l0="$l0" -v l1="$l1" 'BEGIN {
    s = b - a; m = c - b
    printf "suite %.1f s (exit %d) + make mutants %.1f s (%d min %02d s, exit %d) = %.1f s " \
        "(load average %s before, %s after); target: within 300 s: %s\n", s, st, m,
        int(m / 60), int(m) % 60, mst, s + m, l0, l1, (s + m <= 300) ? "met" : "NOT met" }'
cd - >/dev/null
if [ "$st" -ne 0 ] || [ "$mst" -ne 0 ]; then
    echo "bench/mutants.sh: the suite or the kill matrix failed; output in $D" >&2
    exit 1
fi
rm -rf "$D"
