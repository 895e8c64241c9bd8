#!/bin/sh
# scripts/check.sh: run the Check suites of bin/rp-tests (or $BIN/rp-tests)
# as CHECK_JOBS parallel processes, one suite each (CK_RUN_SUITE), the
# slow end-to-end suites first.  Most of a suite's wall time is spent
# waiting for the processes it starts (timeouts, signals, fsync), so two
# or three suites at a time shorten `make test` on two cores.
#
# Each suite's output goes to $CHECK_OUT/NAME.log (default out/check/); its
# summary line is printed as it ends; the logs of failing suites are
# printed at the end, and the exit status is 1 when any suite failed.
# CK_RUN_SUITE set by the caller runs that suite alone, in the foreground.
set -u
BIN=${BIN:-bin}
JOBS=${CHECK_JOBS:-2}
OUT=${CHECK_OUT:-out/check}
T=$BIN/rp-tests

if [ -n "${CK_RUN_SUITE:-}" ]; then
    exec "$T"
fi
suites=$("$T" --list) || { echo "check.sh: $T --list failed" >&2; exit 2; }
# slowest first, so that the last suite to start is a short one
slow="harness hfaults stop mutants agree powercut fsrv shard exit early corrupt ioerr crash durable report scenario"
order=""
for s in $slow; do
    case " $(echo $suites) " in *" $s "*) order="$order $s" ;; esac
done
for s in $suites; do
    case " $order " in *" $s "*) ;; *) order="$order $s" ;; esac
done

rm -rf "$OUT" && mkdir -p "$OUT" || { echo "check.sh: cannot make $OUT" >&2; exit 2; }
start=$(date +%s)
# one line per suite: NAME STATUS; xargs keeps JOBS running
printf '%s\n' $order | xargs -P "$JOBS" -I{} sh -c '
    CK_RUN_SUITE={} "$1" >"$2/{}.log" 2>&1
    st=$?
    echo "$st" >"$2/{}.status"
    printf "%-10s %s\n" {} "$(tr "\r" "\n" <"$2/{}.log" | grep -E "^[0-9]+%: Checks" | tail -1)"
' sh "$T" "$OUT"

checks=0 failures=0 errors=0 bad=""
for s in $order; do
    # a suite's progress lines may end in CR: count the summary on its own line
    line=$(tr '\r' '\n' <"$OUT/$s.log" | grep -E '^[0-9]+%: Checks' | tail -1)
    c=$(echo "$line" | sed -n 's/.*Checks: \([0-9]*\).*/\1/p')
    f=$(echo "$line" | sed -n 's/.*Failures: \([0-9]*\).*/\1/p')
    e=$(echo "$line" | sed -n 's/.*Errors: \([0-9]*\).*/\1/p')
    checks=$((checks + ${c:-0})) failures=$((failures + ${f:-0})) errors=$((errors + ${e:-0}))
    if [ "$(cat "$OUT/$s.status" 2>/dev/null)" != 0 ] || [ -z "$line" ]; then
        bad="$bad $s"
    fi
done
for s in $bad; do
    echo "==== suite $s failed: $OUT/$s.log"
    tr '\r' '\n' <"$OUT/$s.log" | grep -vE '^Running suite|^[0-9]+%: Checks|^ *$' | tail -40
done
echo "all suites ($JOBS at a time, $(( $(date +%s) - start )) s): Checks: $checks, Failures: $failures, Errors: $errors"
[ -z "$bad" ]
