#!/bin/sh
# soak.sh - the flakiness audit behind `make soak`: run the scenarios
# SOAK_N times (default 20), each time with another -j (1 .. twice the CPUs,
# in turn) and another work dir (alternately the default tmpfs and a
# directory on disk under out/soak), and check that every run gives the
# same verdicts, trial plans and digests as the first.
#
#   SOAK_N=N              how many runs (default 20)
#   SOAK_SCENARIOS="..."  which scenario files (default scenarios/*.ini)
#   BIN=dir               where replayproof is (default bin)
#   SOAK_OUT=dir          results, fingerprints and disk work dirs (default out/soak)
#
# What is compared, per run, from its results database (sorted, so the
# order in which parallel trials finish does not matter): per scenario its
# verdict, record count, golden and batch digests, candidates and planned
# trials, the hit count of every fail point; per trial its fault schedule,
# verdict and the three digests it ended with.  Times are not compared.
# Exit 0 when all runs agree, 1 on the first difference (with a diff).
set -u
N=${SOAK_N:-20}
SCEN=${SOAK_SCENARIOS:-scenarios/*.ini}
BIN=${BIN:-bin}
OUT=${SOAK_OUT:-out/soak}
NCPU=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)

fingerprint() {
    sqlite3 -batch "$1" "
      SELECT 'scenario', name, verdict, records, golden_bars, golden_late, golden_dlq,
             batch_bars, batch_late, batch_dlq, candidates, trials_planned, trials_run
        FROM scenarios ORDER BY name;
      SELECT 'hits', s.name, h.point, h.count
        FROM hits h JOIN scenarios s ON s.id = h.scenario_id ORDER BY s.name, h.point;
      SELECT 'trial', s.name, t.crashes, t.verdict, t.bars, t.late, t.dlq
        FROM trials t JOIN scenarios s ON s.id = t.scenario_id ORDER BY s.name, t.crashes;"
}

rm -rf "$OUT"
mkdir -p "$OUT"
i=1
while [ "$i" -le "$N" ]; do
    j=$(( (i - 1) % (2 * NCPU) + 1 ))
    if [ $((i % 2)) -eq 1 ]; then
        wd=""                    # the default: /dev/shm when writable
        where="default work dir"
    else
        wd="$OUT/work-$i"        # on disk
        mkdir -p "$wd"
        where="$wd"
    fi
    t0=$(date +%s)
    # shellcheck disable=SC2086 # SCEN is a list of files
    "$BIN/replayproof" run -q -j "$j" ${wd:+--workdir "$wd"} --results "$OUT/r$i.db" \
        $SCEN > "$OUT/run-$i.out" 2>&1
    st=$?
    if [ "$st" -ge 2 ]; then
        echo "soak: run $i (-j $j, $where) exited $st; see $OUT/run-$i.out" >&2
        exit 1
    fi
    echo "$st" > "$OUT/fp-$i.txt"
    fingerprint "$OUT/r$i.db" >> "$OUT/fp-$i.txt" || exit 1
    if [ "$i" -gt 1 ] && ! cmp -s "$OUT/fp-1.txt" "$OUT/fp-$i.txt"; then
        echo "soak: run $i (-j $j, $where) differs from run 1:" >&2
        diff "$OUT/fp-1.txt" "$OUT/fp-$i.txt" | head -20 >&2
        exit 1
    fi
    echo "soak: run $i/$N (-j $j, $where): exit $st, $(grep -c '^trial' "$OUT/fp-$i.txt") trials, identical, $(( $(date +%s) - t0 )) s"
    [ -n "$wd" ] && rm -rf "$wd"
    i=$((i + 1))
done
echo "soak: $N runs, verdicts, trial plans and digests identical ($OUT/fp-1.txt)"
