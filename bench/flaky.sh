#!/bin/sh
# bench/flaky.sh: the flakiness audit's large run.  The correct pipeline
# (no REFPIPE_UNSAFE) runs the default scenarios with every trial budget
# (kill `budget`, `io-budget`, `corrupt-budget`, `powercut-budget`) and
# every `hits = sample N` multiplied by FLAKY_SCALE, so that kills, second
# crashes in recovery, power cuts, I/O errors and corruption are all in the
# mix; round after round, each with another `[faults] seed` (other sampled
# hits, other power-cut and corruption seeds; trials a round repeats are
# repeated on purpose), until at least FLAKY_MIN trials (default 10000)
# have run.  Every trial of a correct pipeline must converge: any other
# verdict (diverged, conflict, error, hang, crash-loop, not-reached,
# io-error) is a false divergence or a harness fault and fails the
# benchmark, as do a run that does not exit 0 and fewer than FLAKY_MIN
# trials after FLAKY_ROUNDS rounds.
#
# FLAKY_SCALE (default 4), FLAKY_MIN, FLAKY_ROUNDS (default 8), BENCH_DIR
# the scratch dir, FLAKY_WORKDIR replayproof's --workdir (default its own),
# BIN where the programs are.  Not part of `make test`: it takes minutes.
set -eu
B=${BIN:-bin}
D=${BENCH_DIR:-build/bench-flaky}
SCALE=${FLAKY_SCALE:-4}
MIN=${FLAKY_MIN:-10000}
ROUNDS=${FLAKY_ROUNDS:-8}
rm -rf "$D"
mkdir -p "$D"

# scenarios of round $1: budgets and samples times SCALE, [faults] seed + round
make_round() {
    mkdir -p "$D/r$1"
    cp -r scenarios/data "$D/r$1/"
    for f in scenarios/*.ini; do
        awk -v k="$SCALE" -v r="$1" '
            function val(line,   v) { v = line; sub(/^[^=]*=/, "", v); sub(/;.*/, "", v)
                                      gsub(/^[ \t]+|[ \t]+$/, "", v); return v }
            /^\[/ { sec = $0 }
            /^[ \t]*(budget|io-budget|corrupt-budget|powercut-budget)[ \t]*=/ {
                key = $0; sub(/[ \t]*=.*/, "", key); gsub(/[ \t]/, "", key)
                print key " = " val($0) * k; next }
            /^[ \t]*hits[ \t]*=[ \t]*sample[ \t]/ {
                v = val($0); sub(/^sample[ \t]+/, "", v); print "hits = sample " v * k; next }
            sec == "[faults]" && /^[ \t]*seed[ \t]*=/ {
                print "seed = " val($0) + r - 1; seeded = 1; next }
            /^\[expect\]/ && !seeded { print "seed = " r; seeded = 1 }
            { print }' "$f" >"$D/r$1/$(basename "$f")"
    done
}

t0=$(date +%s.%N)
st=0
r=1
n=0
while [ "$r" -le "$ROUNDS" ] && [ "$n" -lt "$MIN" ]; do
    make_round "$r"
    env -u REFPIPE_UNSAFE $B/replayproof run -q --results "$D/results.db" \
        ${FLAKY_WORKDIR:+--workdir "$FLAKY_WORKDIR"} "$D/r$r"/*.ini >"$D/out-$r" 2>"$D/err-$r" ||
        { st=$?; r=$((r + 1)); break; }
    n=$(sqlite3 -batch "$D/results.db" "SELECT count(*) FROM trials")
    echo "flakiness audit: round $r: $n trials so far" >&2
    r=$((r + 1))
done
rounds=$((r - 1))
t1=$(date +%s.%N)

# verdicts of every trial of that run, from its results database
sqlite3 -batch -separator ' ' "$D/results.db" \
    "SELECT t.verdict, count(*) FROM trials t GROUP BY t.verdict ORDER BY t.verdict" \
    >"$D/verdicts"
# "fault kind count", the kind being the schedule's first entry's prefix
sqlite3 -batch -separator ' ' "$D/results.db" "
    SELECT CASE WHEN crashes LIKE 'powercut:%' THEN 'power-cut'
                WHEN crashes LIKE 'ioerr:%' THEN 'io-error'
                WHEN crashes LIKE 'corrupt:%' THEN 'corruption'
                WHEN crashes LIKE '%,%' THEN 'kill+recovery-kill'
                ELSE 'kill' END AS kind, count(*)
      FROM trials GROUP BY kind ORDER BY kind" >"$D/kinds"
n=$(awk '{ s += $2 } END { print s + 0 }' "$D/verdicts")
bad=$(awk '$1 != "converged" { s += $2 } END { print s + 0 }' "$D/verdicts")

echo
echo "== flakiness audit: the correct pipeline, the default scenarios, budgets and samples x$SCALE, $rounds rounds of other seeds"
printf '%-22s %8s\n' "fault kind" trials
awk '{ printf "%-22s %8d\n", $1, $2 }' "$D/kinds"
printf '%-22s %8s\n' verdict trials
awk '{ printf "%-22s %8d\n", $1, $2 }' "$D/verdicts"
awk -v a="$t0" -v b="$t1" -v n="$n" -v st="$st" 'BEGIN {
    printf "wall %.1f s, %.1f trials/s, replayproof exit status %d\n", b - a, n / (b - a), st }'
echo "trials $n, false divergences $bad"
fail=""
if [ "$bad" -ne 0 ]; then
    fail="$bad trials of the correct pipeline did not converge"
    cat "$D"/out-* | grep -A3 -E '^   \[[0-9]+\] ' | head -40 >&2 || true
elif [ "$st" -ne 0 ]; then
    fail="replayproof run exited $st in round $rounds ($(head -c 300 "$D/err-$rounds"))"
elif [ "$n" -lt "$MIN" ]; then
    fail="only $n trials ran in $rounds rounds, fewer than $MIN (raise FLAKY_ROUNDS)"
fi
if [ -n "$fail" ]; then
    echo "FLAKINESS AUDIT FAILED: $fail; results kept in $D" >&2
    exit 1
fi
echo "flakiness audit: passed ($n >= $MIN trials, all converged)"
rm -rf "$D"
