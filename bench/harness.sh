#!/bin/sh
# bench/harness.sh: how fast `replayproof run` explores crash points.
#
# The standard scenario (about 20 000 ticks on 4 partitions, every fail
# point, every hit up to the budget) is run with the default -j (one trial
# per online CPU) and naively (-j 1: one trial at a time, which is also what
# a shell loop over the same plan would do), interleaved, best of
# BENCH_ROUNDS each, so that the ratio is measured in the same run on the
# same machine.  Then the default scenario suite (scenarios/*.ini) is timed.
#
# BENCH_HARNESS_BUDGET (default 1000) sets the plan size; BENCH_DIR the
# scratch dir; BENCH_ROUNDS (default 2) the repetitions.
#
# The fork server (default) and fork+exec (--no-fork-server) run on the same
# scenario and -j, interleaved, best of BENCH_ROUNDS each: trials/s and the
# ratio, measured side by side.
#
# The power-cut explorer runs on the same scenario with the four
# persistence models (BENCH_PC_BUDGET crash states, default 400): crash
# states explored per second beside the kill trials per second of that
# same run.
set -eu
B=bin
D=${BENCH_DIR:-build/bench-harness}
BUDGET=${BENCH_HARNESS_BUDGET:-1000}
ROUNDS=${BENCH_ROUNDS:-2}
PC_BUDGET=${BENCH_PC_BUDGET:-400}
CPUS=$(getconf _NPROCESSORS_ONLN)
rm -rf "$D"
mkdir -p "$D"

cat >"$D/standard.ini" <<EOF
; the harness benchmark's standard scenario
[scenario]
name = bench-standard
description = 20000 ticks over 5 minutes on 4 partitions, two aggregations, a commit
    cycle every 1000 records; every fail point, every hit up to the budget.
[workload]
seed = 11
ticks = 20000
partitions = 4
symbols = 20
duration = 5m
disorder = 500ms
poison-frac = 0.2%
[pipeline]
agg = 1m=tumbling:1m
agg = 5s=tumbling:5s
max-delay = 1s
idle-timeout = 10s
checkpoint-every = 1000
[faults]
points = *
hits = all
budget = $BUDGET
seed = 1
[expect]
converge = true
EOF

# one_run JOBS [OPTION] -> "trials seconds" of the trial phase (from the summary)
one_run() {
    $B/replayproof run -q -j "$1" ${2:-} --results "$D/results.db" "$D/standard.ini" >"$D/out" ||
        { cat "$D/out" >&2; echo "bench/harness.sh: replayproof run failed" >&2; exit 1; }
    awk '/^   trials: / { n = $2 } /^   time: / { s = $7 } END { print n, s }' "$D/out"
}

# fastest: of "trials seconds" lines, the one with the fewest seconds
fastest() {
    awk 'NF == 2 && (b == "" || $2 < bs) { b = $0; bs = $2 } END { print b }'
}

best_par="" best_seq=""
r=0
while [ "$r" -lt "$ROUNDS" ]; do
    p=$(one_run "$CPUS")
    s=$(one_run 1)
    best_par=$(printf '%s\n%s\n' "$best_par" "$p" | fastest)
    best_seq=$(printf '%s\n%s\n' "$best_seq" "$s" | fastest)
    r=$((r + 1))
done

echo
echo "== replayproof run: trials per second (standard scenario, $BUDGET trials, best of $ROUNDS)"
printf '%-28s %8s %10s %14s\n' mode trials trial_s trials_per_s
set -- $best_par
awk -v l="-j $CPUS (default)" -v n="$1" -v s="$2" \
    'BEGIN { printf "%-28s %8d %10.3f %14.1f\n", l, n, s, n / s }'
PN=$1 PS=$2
set -- $best_seq
awk -v l="-j 1 (naive, one at a time)" -v n="$1" -v s="$2" \
    'BEGIN { printf "%-28s %8d %10.3f %14.1f\n", l, n, s, n / s }'
awk -v pn="$PN" -v ps="$PS" -v sn="$1" -v ss="$2" -v c="$CPUS" 'BEGIN {
    printf "speed-up, default over naive: %.2fx on %d CPUs\n", (pn / ps) / (sn / ss), c
    printf "target: >= 100 trials/s: %s\n", (pn / ps >= 100) ? "met" : "NOT met" }'

# fork server vs fork+exec: the same scenario and -j, interleaved, best of
# ROUNDS each
best_fs="" best_fe=""
r=0
while [ "$r" -lt "$ROUNDS" ]; do
    best_fe=$(printf '%s\n%s\n' "$best_fe" "$(one_run "$CPUS" --no-fork-server)" | fastest)
    best_fs=$(printf '%s\n%s\n' "$best_fs" "$(one_run "$CPUS")" | fastest)
    r=$((r + 1))
done
echo
echo "== fork server vs fork+exec (standard scenario, -j $CPUS, best of $ROUNDS, same run)"
printf '%-28s %8s %10s %14s\n' mode trials trial_s trials_per_s
set -- $best_fe
awk -v l="fork+exec (--no-fork-server)" -v n="$1" -v s="$2" \
    'BEGIN { printf "%-28s %8d %10.3f %14.1f\n", l, n, s, n / s }'
EN=$1 ES=$2
set -- $best_fs
awk -v l="fork server (default)" -v n="$1" -v s="$2" \
    'BEGIN { printf "%-28s %8d %10.3f %14.1f\n", l, n, s, n / s }'
awk -v en="$EN" -v es="$ES" -v fn="$1" -v fs="$2" \
    'BEGIN { printf "speed-up, fork server over fork+exec: %.2fx\n", (fn / fs) / (en / es) }'

# the same scenario with power cuts: kills and crash states in one run
sed "s/^seed = 1\$/seed = 1\\
powercut = strict, keep-some, torn, ext4-ordered\\
powercut-budget = $PC_BUDGET/" "$D/standard.ini" >"$D/powercut.ini"
best_pc=""
r=0
while [ "$r" -lt "$ROUNDS" ]; do
    $B/replayproof run -q -j "$CPUS" --results "$D/results.db" "$D/powercut.ini" >"$D/out" ||
        { cat "$D/out" >&2; echo "bench/harness.sh: power-cut run failed" >&2; exit 1; }
    # "kills kill_s states state_s records"
    p=$(awk '/^   trials: / { n = $2 } /^   time: / { s = $7 }
             /^   power cuts: / { pn = $3; ps = $(NF - 3); rec = $(NF - 6) }
             END { sub(/-record/, "", rec); print n - pn, s, pn, ps, rec }' "$D/out")
    best_pc=$(printf '%s\n%s\n' "$best_pc" "$p" |
        awk 'NF == 5 && (b == "" || $4 < bs) { b = $0; bs = $4 } END { print b }')
    r=$((r + 1))
done
echo
echo "== power-cut explorer beside kill trials (standard scenario, -j $CPUS, best of $ROUNDS)"
set -- $best_pc
printf '%-34s %8s %10s %10s\n' kind count seconds per_s
awk -v n="$1" -v s="$2" 'BEGIN { printf "%-34s %8d %10.3f %10.1f\n", "kill trials", n, s, n / s }'
awk -v n="$3" -v s="$4" 'BEGIN { printf "%-34s %8d %10.3f %10.1f\n", "power-cut crash states (4 models)", n, s, n / s }'
echo "(crash states built from one traced run of $5 file-system records)"

echo
echo "== the default scenario suite (scenarios/*.ini)"
t0=$(date +%s.%N)
st=0
$B/replayproof run -q --results "$D/results.db" scenarios/*.ini >"$D/suite.out" || st=$?
t1=$(date +%s.%N)
grep -E '^== |^   trials: ' "$D/suite.out" | grep -v '^== [0-9]* scenarios' | sed 's/^/  /'
awk -v a="$t0" -v b="$t1" -v st="$st" 'BEGIN {
    printf "wall %.1f s, exit status %d; target: within 300 s: %s\n", b - a, st,
        (b - a <= 300) ? "met" : "NOT met" }'
rm -rf "$D"
