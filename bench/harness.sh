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
# ratio, measured side by side, on the standard scenario and on
# scenarios/io-errors.ini (I/O errors through libfiu's POSIX preload); then
# the cost of one process start each way (rp-fsrv-bench).
#
# The power-cut explorer runs on the same scenario with the four
# persistence models (BENCH_PC_BUDGET crash states, default 400): crash
# states explored per second beside the kill trials per second of that
# same run.
#
# Early stop (BENCH_EARLY_BUDGET trials, default 300): trials/s with full
# replay and with early stop at convergence on the standard scenario, and at
# 200k ticks beside 20k, in the same run.
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

# one_run_ini INI JOBS [OPTION] -> "trials seconds" of the trial phase (from
# the summary); one_run JOBS [OPTION]: the standard scenario
one_run_ini() {
    $B/replayproof run -q -j "$2" ${3:-} --results "$D/results.db" "$1" >"$D/out" ||
        { cat "$D/out" >&2; echo "bench/harness.sh: replayproof run failed" >&2; exit 1; }
    awk '/^   trials: / { n = $2 } /^   time: / { s = $7 } END { print n, s }' "$D/out"
}
one_run() {
    one_run_ini "$D/standard.ini" "$@"
}

# keep VAR NF COL COMMAND...: run COMMAND (it prints one line of NF fields)
# and leave in VAR whichever of VAR's line and that one has fewer seconds in
# field COL: the best of the rounds so far.  A failed COMMAND ends the bench.
keep() {
    k_var=$1 k_nf=$2 k_col=$3
    shift 3
    k_line=$("$@") || exit 1
    eval "k_old=\${$k_var}"
    k_new=$(printf '%s\n%s\n' "$k_old" "$k_line" | awk -v nf="$k_nf" -v c="$k_col" '
        NF == nf && (b == "" || $c < bs) { b = $0; bs = $c } END { print b }')
    eval "$k_var=\$k_new"
}

# The trials/s tables (default vs naive, fork server vs fork+exec): the
# header, and rate_row LABEL "TRIALS SECONDS" for one row.
rate_header() {
    printf '%-28s %8s %10s %14s\n' mode trials trial_s trials_per_s
}
rate_row() {
    echo "$2" | awk -v l="$1" '{ printf "%-28s %8d %10.3f %14.1f\n", l, $1, $2, $1 / $2 }'
}

best_par="" best_seq=""
r=0
while [ "$r" -lt "$ROUNDS" ]; do
    keep best_par 2 2 one_run "$CPUS"
    keep best_seq 2 2 one_run 1
    r=$((r + 1))
done

echo
echo "== replayproof run: trials per second (standard scenario, $BUDGET trials, best of $ROUNDS)"
rate_header
rate_row "-j $CPUS (default)" "$best_par"
rate_row "-j 1 (naive, one at a time)" "$best_seq"
set -- $best_par
PN=$1 PS=$2
set -- $best_seq
awk -v pn="$PN" -v ps="$PS" -v sn="$1" -v ss="$2" -v c="$CPUS" 'BEGIN {
    printf "speed-up, default over naive: %.2fx on %d CPUs\n", (pn / ps) / (sn / ss), c
    printf "target: >= 100 trials/s: %s\n", (pn / ps >= 100) ? "met" : "NOT met" }'

# fork server vs fork+exec: the same scenario and -j, interleaved, best of
# ROUNDS each
best_fs="" best_fe=""
r=0
while [ "$r" -lt "$ROUNDS" ]; do
    keep best_fe 2 2 one_run "$CPUS" --no-fork-server
    keep best_fs 2 2 one_run "$CPUS"
    r=$((r + 1))
done
# the I/O-error scenario: its processes with libfiu's POSIX preload go
# through a second server per slot (its power-cut trials, under rp-trace.so,
# are forked and executed either way)
io_fs="" io_fe=""
r=0
while [ "$r" -lt "$ROUNDS" ]; do
    keep io_fe 2 2 one_run_ini scenarios/io-errors.ini "$CPUS" --no-fork-server
    keep io_fs 2 2 one_run_ini scenarios/io-errors.ini "$CPUS"
    r=$((r + 1))
done
echo
echo "== fork server vs fork+exec (standard scenario unless named; -j $CPUS, best of $ROUNDS, same run)"
rate_header
rate_row "fork+exec (--no-fork-server)" "$best_fe"
rate_row "fork server (default)" "$best_fs"
rate_row "io-errors.ini, fork+exec" "$io_fe"
rate_row "io-errors.ini, fork server" "$io_fs"
set -- $best_fe
EN=$1 ES=$2
set -- $best_fs
awk -v en="$EN" -v es="$ES" -v fn="$1" -v fs="$2" \
    'BEGIN { printf "speed-up, fork server over fork+exec: %.2fx\n", (fn / fs) / (en / es) }'
set -- $io_fe
EN=$1 ES=$2
set -- $io_fs
awk -v en="$EN" -v es="$ES" -v fn="$1" -v fs="$2" 'BEGIN {
    printf "speed-up on io-errors.ini (I/O errors through the POSIX preload server): %.2fx\n",
        (fn / fs) / (en / es) }'
# where it comes from: one process start (a trial starts two or more)
$B/rp-fsrv-bench 200 "$(pwd)/$B/rp-crash.so" "$B/refpipe-fiu" faults | awk -F'[= ]' '{
    printf "one process start (refpipe-fiu faults, 200 each, alternating): fork+exec %.2f ms, " \
        "fork server %.2f ms (%.1fx); a server starts in %.1f ms\n", $2, $4, $2 / $4, $6 }'

# the same scenario with power cuts: kills and crash states in one run
sed "s/^seed = 1\$/seed = 1\\
powercut = strict, keep-some, torn, ext4-ordered\\
powercut-budget = $PC_BUDGET/" "$D/standard.ini" >"$D/powercut.ini"
# pc_run -> "kills kill_s states state_s records"
pc_run() {
    $B/replayproof run -q -j "$CPUS" --results "$D/results.db" "$D/powercut.ini" >"$D/out" ||
        { cat "$D/out" >&2; echo "bench/harness.sh: power-cut run failed" >&2; exit 1; }
    awk '/^   trials: / { n = $2 } /^   time: / { s = $7 }
         /^   power cuts: / { pn = $3; ps = $(NF - 3); rec = $(NF - 6) }
         END { sub(/-record/, "", rec); print n - pn, s, pn, ps, rec }' "$D/out"
}
best_pc=""
r=0
while [ "$r" -lt "$ROUNDS" ]; do
    keep best_pc 5 4 pc_run
    r=$((r + 1))
done
echo
echo "== power-cut explorer beside kill trials (standard scenario, -j $CPUS, best of $ROUNDS)"
set -- $best_pc
printf '%-34s %8s %10s %10s\n' kind count seconds per_s
awk -v n="$1" -v s="$2" 'BEGIN { printf "%-34s %8d %10.3f %10.1f\n", "kill trials", n, s, n / s }'
awk -v n="$3" -v s="$4" 'BEGIN { printf "%-34s %8d %10.3f %10.1f\n", "power-cut crash states (4 models)", n, s, n / s }'
echo "(crash states built from one traced run of $5 file-system records)"

# Early stop at convergence: the same plan with recoveries that run to the end
# (--no-early-stop) and with recoveries that stop where they caught up with the
# golden run, interleaved; then the trial rate at 20k and at 200k ticks (the
# same scenario over ten times the span) with early stop, and without it for
# reference.  Snapshot starts are off here (--no-snapshots), so that the table
# shows early stop alone; the next one adds them.  BENCH_EARLY_BUDGET (default
# 300) trials each.
EB=${BENCH_EARLY_BUDGET:-300}
sed "s/^budget = .*/budget = $EB/" "$D/standard.ini" >"$D/early20k.ini"
sed -e 's/^ticks = 20000$/ticks = 200000/' -e 's/^duration = 5m$/duration = 50m/' \
    -e 's/^name = bench-standard$/name = bench-200k/' "$D/early20k.ini" >"$D/early200k.ini"
# early_run INI [OPTS] -> "trials seconds stopped" of the trial phase
early_run() {
    ini=$1
    shift
    $B/replayproof run -q -j "$CPUS" --results "$D/results.db" "$@" "$ini" >"$D/out" ||
        { cat "$D/out" >&2; echo "bench/harness.sh: early-stop run failed" >&2; exit 1; }
    awk '/^   trials: / { n = $2 } /^   time: / { s = $7; w = $2 } /^   early stop: / { e = $3 }
         /^   snapshot starts: / { p = $3 } END { print n, s, e + 0, p + 0, w }' "$D/out"
}
b_full="" b_early="" b_200="" b_200full=""
r=0
while [ "$r" -lt "$ROUNDS" ]; do
    keep b_full 5 2 early_run "$D/early20k.ini" --no-snapshots --no-early-stop
    keep b_early 5 2 early_run "$D/early20k.ini" --no-snapshots
    keep b_200 5 2 early_run "$D/early200k.ini" --no-snapshots
    keep b_200full 5 2 early_run "$D/early200k.ini" --no-snapshots --no-early-stop
    r=$((r + 1))
done
echo
echo "== early stop at convergence (standard scenario, $EB trials, -j $CPUS, best of $ROUNDS)"
printf '%-34s %8s %8s %10s %14s\n' mode trials stopped trial_s trials_per_s
row() {
    echo "$2" | awk -v l="$1" '{ printf "%-34s %8d %8d %10.3f %14.1f\n", l, $1, $3, $2, $1 / $2 }'
}
row "20k ticks, full replay" "$b_full"
row "20k ticks, early stop" "$b_early"
row "200k ticks, full replay" "$b_200full"
row "200k ticks, early stop" "$b_200"
printf '%s\n%s\n%s\n%s\n' "$b_full" "$b_early" "$b_200full" "$b_200" | awk '
    { n[NR] = $1; s[NR] = $2 }
    END {
        r1 = (n[2] / s[2]) / (n[1] / s[1])
        printf "early stop over full replay at 20k ticks: %.2fx\n", r1
        f = (n[3] / s[3] > 0) ? (n[1] / s[1]) / (n[3] / s[3]) : 0
        e = (n[4] / s[4] > 0) ? (n[2] / s[2]) / (n[4] / s[4]) : 0
        printf "trials/s, 20k over 200k ticks: %.2fx with full replay, %.2fx with early stop\n", f, e }'

# Snapshot starts: kill trials from a copy of the discovery run's state at a
# checkpoint instead of from record 0 (the default), against --no-snapshots,
# both with early stop, interleaved, at 20k and 200k ticks.  The flatness
# target is judged on the default configuration.  "All three off" is the
# harness without the fork server, early stop and snapshot starts: the ratio
# to it is the speed-up of the three mechanisms together.  The setup column is the
# scenario's time outside the trial phase (golden run, batch, discovery with
# its copies, and one probe per copy).
# The same two scenarios without the soundness guard (full-run-fraction = 0:
# no trial runs to the end): how much of the 20k/200k gap is the guard's
# full runs, whose cost grows with the log by design.
sed 's/^seed = 1$/seed = 1\
full-run-fraction = 0/' "$D/early20k.ini" >"$D/noguard20k.ini"
sed 's/^seed = 1$/seed = 1\
full-run-fraction = 0/' "$D/early200k.ini" >"$D/noguard200k.ini"
s_20="" s_200="" n_20="" n_200="" o_20="" g_20="" g_200=""
r=0
while [ "$r" -lt "$ROUNDS" ]; do
    keep g_20 5 2 early_run "$D/noguard20k.ini"
    keep g_200 5 2 early_run "$D/noguard200k.ini"
    keep o_20 5 2 early_run "$D/early20k.ini" --no-snapshots --no-early-stop --no-fork-server
    keep n_20 5 2 early_run "$D/early20k.ini" --no-snapshots
    keep s_20 5 2 early_run "$D/early20k.ini"
    keep n_200 5 2 early_run "$D/early200k.ini" --no-snapshots
    keep s_200 5 2 early_run "$D/early200k.ini"
    r=$((r + 1))
done
echo
echo "== snapshot starts (standard scenario, $EB trials, early stop on, -j $CPUS, best of $ROUNDS)"
printf '%-34s %8s %8s %10s %14s %10s\n' mode trials from_snap trial_s trials_per_s setup_s
srow() {
    echo "$2" | awk -v l="$1" '{ printf "%-34s %8d %8d %10.3f %14.1f %10.3f\n", l, $1, $4, $2,
        $1 / $2, $5 - $2 }'
}
srow "20k ticks, all three off" "$o_20"
srow "20k ticks, from record 0" "$n_20"
srow "20k ticks, snapshot starts" "$s_20"
srow "200k ticks, from record 0" "$n_200"
srow "200k ticks, snapshot starts" "$s_200"
srow "20k ticks, no guard trials" "$g_20"
srow "200k ticks, no guard trials" "$g_200"
printf '%s\n%s\n%s\n%s\n%s\n%s\n%s\n' "$n_20" "$s_20" "$n_200" "$s_200" "$o_20" "$g_20" \
    "$g_200" | awk '
    { n[NR] = $1; s[NR] = $2 }
    END {
        a = (n[2] / s[2]) / (n[5] / s[5])
        printf "fork server, early stop and snapshot starts together over none of them " \
            "(fork+exec, full replay, record 0) at 20k ticks: %.2fx\n", a
        printf "target: the standard scenario >= 10x the trials/s without them: %s\n",
            (a >= 10) ? "met" : "NOT met"
        printf "snapshot starts over record 0: %.2fx at 20k ticks, %.2fx at 200k ticks\n",
            (n[2] / s[2]) / (n[1] / s[1]), (n[4] / s[4]) / (n[3] / s[3])
        f = (n[4] / s[4] > 0) ? (n[2] / s[2]) / (n[4] / s[4]) : 0
        printf "trials/s, 20k over 200k ticks, default configuration: %.2fx\n", f
        printf "target: trial cost flat in log length (200k within 1.5x of 20k): %s\n",
            (f <= 1.5) ? "met" : "NOT met"
        g = (n[7] / s[7] > 0) ? (n[6] / s[6]) / (n[7] / s[7]) : 0
        printf "trials/s, 20k over 200k ticks, without the 5%% guard trials (not the target\047s " \
            "configuration): %.2fx\n", g }'

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
