#!/bin/sh
# The main job for now: generate a workload, stream it through refpipe,
# export the canonical tables and show the first bars.
set -eu
out=${OUT:-out/demo}
rm -rf "$out"
mkdir -p "$out"
bin/replayproof gen --seed 47 --partitions 4 --symbols 20 --duration 5m --rate 2000 \
    --disorder 500ms --stalls 2 --stall-len 20s --poison-frac 0.001 "$out/ticks.csv"
bin/refpipe import "$out/ticks.csv" "$out/log"
bin/refpipe run "$out/log" "$out/state" --agg 1m=tumbling:1m --agg vol=volume:50000 \
    --max-delay 1s --idle-timeout 10s
echo "== refpipe export (streaming run)"
bin/refpipe export "$out/state" "$out/export"
echo "== refpipe batch (offline recomputation)"
bin/refpipe batch "$out/log" "$out/batch" --agg 1m=tumbling:1m --agg vol=volume:50000 \
    --max-delay 1s --idle-timeout 10s
if cmp -s "$out/export/bars.csv" "$out/batch/bars.csv" && \
   cmp -s "$out/export/late.csv" "$out/batch/late.csv" && \
   cmp -s "$out/export/dlq.csv" "$out/batch/dlq.csv"; then
    echo "== streaming and batch agree"
else
    echo "== streaming and batch DISAGREE" >&2
    exit 1
fi
echo "== first bars"
head -n 8 "$out/export/bars.csv"
