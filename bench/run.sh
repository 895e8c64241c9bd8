#!/bin/sh
# make bench: refpipe's throughput against the bound of a plain sequential
# read of the same log files (with one and with five mixed aggregations,
# and the sink's share of the latter), peak memory at 1x and 10x log length, the
# fault build's overhead with nothing armed, checkpoint cost as state grows,
# and recovery time at 1x and 10x log length.  Every ratio is between two
# figures measured in this run, on this machine.
#
# BENCH_TICKS (default 2000000: the whole script in about a minute on a quiet
# 2-core machine) sets the large log; BENCH_DIR the scratch dir.
set -eu
N=${BENCH_TICKS:-2000000}
N1=$((N / 10))
D=${BENCH_DIR:-build/bench}
B=bin
rm -rf "$D"
mkdir -p "$D"

field() { # field NAME LINE
    echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}
timed() { # timed CMD... -> "wall_s=.. maxrss_kb=.. status=.."
    $B/rp-bench exec "$@"
}
gen_log() { # gen_log TICKS NAME
    $B/replayproof gen --seed 1 --ticks "$1" --partitions 8 --symbols 500 --disorder 1s \
        "$D/$2.csv"
    $B/refpipe import "$D/$2.csv" "$D/$2" 2>/dev/null
    rm -f "$D/$2.csv"
}

echo "generating logs: $N and $N1 ticks, 8 partitions, 500 symbols, 1 s disorder" >&2
gen_log "$N" big
gen_log "$N1" small

AGG1="--agg 1m=tumbling:1m"

# The bound: the same files read sequentially (second pass: page cache warm,
# as it is for the runs that follow).
$B/rp-bench read "$D/big" >/dev/null
R=$($B/rp-bench read "$D/big")
RT=$(field wall_s "$R")
W=$($B/rp-bench walk "$D/big")
WT=$(field wall_s "$W")

faster() { # faster A B: the timed line with the smaller wall_s
    if [ -z "$2" ] || awk -v a="$(field wall_s "$1")" -v b="$(field wall_s "$2")" \
        'BEGIN { exit !(a < b) }'; then echo "$1"; else echo "$2"; fi
}
once() { # once BIN STATE AGGS -> one timed run on the big log
    rm -rf "$D/$2"
    timed "$B/$1" run "$D/big" "$D/$2" --quiet $3
}
# The fault build is compared with the plain build run by run, alternating,
# so that drift in the machine's speed hits both alike; best of 5 each.
P1="" F1=""
for i in 1 2 3 4 5; do
    P1=$(faster "$(once refpipe s1 "$AGG1")" "$P1")
    F1=$(faster "$(once refpipe-fiu f1 "$AGG1")" "$F1")
done

echo
echo "== refpipe run throughput ($N ticks, warm page cache, wall time; best of 5)"
printf '%-34s %10s %14s %14s\n' case wall_s ticks_per_s x_bound_time
row() { # row LABEL WALL
    awk -v l="$1" -v w="$2" -v n="$N" -v rt="$RT" \
        'BEGIN { printf "%-34s %10.3f %14.0f %14.1f\n", l, w, n / w, w / rt }'
}
row "bound: sequential read(2) of files" "$RT"
row "bound: cursor walk of all records" "$WT"
row "run, 1 aggregation (tumbling:1m)" "$(field wall_s "$P1")"
row "run-fiu, 1 aggregation, unarmed" "$(field wall_s "$F1")"
awk -v p="$(field wall_s "$P1")" -v f="$(field wall_s "$F1")" 'BEGIN {
    printf "target: >= 20000000 ticks/s with one aggregation (here: wall time of the whole process): %s\n", (20000000 <= '"$N"' / p) ? "met" : "NOT met"
    printf "fault build overhead, nothing armed: %+.2f%% (target <= 2%%)\n", (f / p - 1) * 100 }'
# The same overhead counted in instructions (callgrind, the small log): on a
# VM two runs of one binary can differ by more than 2% in wall time; the
# instruction count of a deterministic run does not change between runs.
if command -v valgrind >/dev/null 2>&1; then
    icount() { # icount BIN STATE -> instructions of one run on the small log
        rm -rf "$D/$2"
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$B/$1" run "$D/small" \
            "$D/$2" --quiet $AGG1 2>&1 | sed -n 's/.*Collected : *//p'
    }
    IP=$(icount refpipe s1)
    IF=$(icount refpipe-fiu f1)
    awk -v p="$IP" -v f="$IF" -v n="$N1" 'BEGIN {
        o = (f / p - 1) * 100
        printf "fault build overhead in instructions (callgrind, %d ticks): %d against %d, " \
            "%+.2f%% (target <= 2%%): %s\n", n, f, p, o, (o <= 2) ? "met" : "NOT met" }'
fi

# In-process runs (rp-bench run: pl_run as `refpipe run --quiet`), timed by
# CPU time, which a loaded machine disturbs less than wall time.  The sink's
# share of the five-aggregation run is the CPU time that the same run with
# --null-sink (rows dropped instead of staged and written; commit cycles and
# checkpoints as usual) does not spend.  Alternating, best of 3 by CPU time.
A1="1m=tumbling:1m"
A5="1m=tumbling:1m 5s=sliding:5s:1s t100=ticks:100 v=volume:100000 d=dollar:100000000"
cpu_best() { # cpu_best A B: the line with the smaller cpu_s
    if [ -z "$2" ] || awk -v a="$(field cpu_s "$1")" -v b="$(field cpu_s "$2")" \
        'BEGIN { exit !(a < b) }'; then echo "$1"; else echo "$2"; fi
}
inproc() { # inproc STATE ARGS... -> one in-process run on the big log
    S=$1
    shift
    rm -rf "$D/$S"
    $B/rp-bench run "$D/big" "$D/$S" "$@"
}
I1="" I5="" N5=""
for i in 1 2 3; do
    I1=$(cpu_best "$(inproc i1 $A1)" "$I1")
    I5=$(cpu_best "$(inproc i5 $A5)" "$I5")
    N5=$(cpu_best "$(inproc n5 --null-sink $A5)" "$N5")
done
R2=$($B/rp-bench read "$D/big")
RT2=$(field wall_s "$R2")
echo
echo "== refpipe ticks/s against the sequential read of the same log ($N ticks; in-process,"
echo "   CPU time, best of 3; the read: wall time, page cache warm; x_read = time / read's)"
printf '%-34s %8s %8s %14s %8s\n' case wall_s cpu_s ticks_per_s x_read
irow() { # irow LABEL LINE: ticks/s from cpu_s
    awk -v l="$1" -v w="$(field wall_s "$2")" -v c="$(field cpu_s "$2")" -v n="$N" -v rt="$RT2" \
        'BEGIN { printf "%-34s %8.3f %8.3f %14.0f %8.1f\n", l, w, c, n / c, c / rt }'
}
awk -v rt="$RT2" -v n="$N" 'BEGIN { printf "%-34s %8.3f %8s %14.0f %8.1f\n",
    "sequential read(2) of the files", rt, "-", n / rt, 1 }'
irow "refpipe, 1 aggregation" "$I1"
irow "refpipe, 5 mixed aggregations" "$I5"
irow "refpipe, 5 mixed, null sink" "$N5"
awk -v a="$(field cpu_s "$I5")" -v b="$(field cpu_s "$N5")" \
    -v wa="$(field wall_s "$I5")" -v wb="$(field wall_s "$N5")" -v c1="$(field cpu_s "$I1")" \
    -v n="$N" 'BEGIN {
    printf "sink share of the 5-aggregation run: %.0f%% of CPU time (%.0f%% of wall time)\n",
        (a - b) / a * 100, (wa - wb) / wa * 100
    printf "target: 5 mixed aggregations >= 5000000 ticks/s on one core: %s (%.0f)\n",
        (n / a >= 5000000) ? "met" : "NOT met", n / a
    printf "target: 1 aggregation >= 20000000 ticks/s: %s (%.0f)\n",
        (n / c1 >= 20000000) ? "met" : "NOT met", n / c1 }'

echo
echo "== peak memory (run, 1 aggregation)"
rm -rf "$D/m1"
M1=$(timed $B/refpipe run "$D/small" "$D/m1" --quiet $AGG1)
printf '%-12s %12s %12s\n' log ticks maxrss_kb
printf '%-12s %12s %12s\n' 1x "$N1" "$(field maxrss_kb "$M1")"
printf '%-12s %12s %12s\n' 10x "$N" "$(field maxrss_kb "$P1")"
awk -v a="$(field maxrss_kb "$M1")" -v b="$(field maxrss_kb "$P1")" \
    'BEGIN { printf "ratio 10x/1x: %.2f (target: does not grow with log length, ~1)\n", b / a }'

echo
echo "== checkpoint write (stream save + tmp/fsync/rename/dir fsync)"
printf '%-8s %-8s %14s %12s %10s %10s\n' symbols windows open_windows bytes save_ms write_ms
for sw in "100 10" "500 10" "500 60" "2000 60" "5000 60"; do
    set -- $sw
    rm -rf "$D/ck" && mkdir -p "$D/ck"
    C=$($B/rp-bench ckpt "$1" "$2" "$D/ck")
    printf '%-8s %-8s %14s %12s %10s %10s\n' "$1" "$2" "$(field open_windows "$C")" \
        "$(field bytes "$C")" "$(field save_ms "$C")" "$(field write_ms "$C")"
done

echo
echo "== recovery: crash half an interval before the end, time the restart"
EVERY=$((N1 / 4))
printf '%-6s %12s %12s %14s %12s %16s\n' log ticks interval restart_wall_s resumed_at restart_records
for L in small big; do
    if [ "$L" = small ]; then T=$N1; else T=$N; fi
    K=$((T - EVERY / 2))
    rm -rf "$D/r_$L"
    RP_FIU_CRASH="stream/event/after:$K" LD_PRELOAD="$PWD/$B/rp-crash.so" \
        $B/refpipe-fiu run "$D/$L" "$D/r_$L" --checkpoint-every $EVERY $AGG1 \
        2>/dev/null || true
    RR=$(timed $B/refpipe run "$D/$L" "$D/r_$L" --checkpoint-every $EVERY $AGG1 2>"$D/r_$L.err")
    # the restart names the checkpoint it resumed from: "using ckpt-... (position N)"
    POS=$(sed -n 's/.*using ckpt-[0-9a-f]* (position \([0-9]*\)).*/\1/p' "$D/r_$L.err")
    printf '%-6s %12s %12s %14s %12s %16s\n' "$L" "$T" "$EVERY" "$(field wall_s "$RR")" \
        "${POS:-none}" "$((T - ${POS:-0}))"
done
echo "(recovery must depend on the interval, not on the log length)"
rm -rf "$D"
