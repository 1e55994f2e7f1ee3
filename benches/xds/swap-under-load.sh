#!/usr/bin/env bash
# A data plane under wrk load while its control plane pushes a new version every 100 ms,
# against the same data plane with no swaps, interleaved. Failed requests must be zero and the
# p99 with swaps no more than 2x the p99 without.
#
# The data plane (`mockplane dataplane --control-plane`, one worker) runs on core 0, wrk -t1 -c50
# on core 1, the control plane (benches/src/bin/xds-swap-load.rs) on core 1 too (CP_CORE). Each
# swap is a new version of a realistic rule set, one rule edited as an API edit makes it (the
# other rules shared with the last version), that the data plane decodes, compiles, swaps in
# and ACKs.
#
# Diagnostics: CP_PREFIX (wraps the control plane), CP_CORE, XDS_CORE (moves the data plane's
# xDS thread), DP_FLAGS (more data-plane flags), CPU_TICKS=1 (CPU ms per thread of both
# processes before and after wrk, on stderr).
#
# Usage: benches/xds/swap-under-load.sh [ROUNDS] [SECONDS] [RULES]   (defaults 3, 10, 1000)
# Loopback only; every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
SECS=${2:-10}
RULES=${3:-1000}
OUT=${OUT:-target/xds-bench}
mkdir -p "$OUT"
. benches/lib.sh
require wrk:wrk
cargo build --release -q -p mockplane -p mockplane-benches --bins

CP=127.0.0.1:18555
LISTEN=127.0.0.1:18556
ADMIN=127.0.0.1:18557
cpu_ticks() { # diagnostics: CPU time (ms) so far of each thread of both processes
  for t in /proc/$1/task/* /proc/$2/task/*; do
    awk -v c="$(cat "$t/comm")" '{printf "%s=%d ", c, ($14+$15)*10}' "$t/stat"
  done >&2; echo "($3 wrk)" >&2
}
run() { # $1: interval ms (0 = no swaps)
  ${CP_PREFIX:-} taskset -c "${CP_CORE:-1}" ./target/release/xds-swap-load "$CP" "$RULES" "$1" "$((SECS + 4))" > "$OUT/cp.out" 2> "$OUT/cp.err" &
  local cp=$!
  sleep 0.5
  taskset -c 0 ./target/release/mockplane dataplane --control-plane "http://$CP" --environment bench/swap \
    --listen "$LISTEN" --admin "$ADMIN" --workers 1 --journal 0 ${DP_FLAGS:-} > /dev/null 2> "$OUT/dp.err" &
  local dp=$!
  for _ in $(seq 100); do
    curl -sf "http://$ADMIN/readyz" > /dev/null && break
    sleep 0.1
  done
  if [ -n "${XDS_CORE:-}" ]; then  # diagnostics: move the data plane's xDS thread elsewhere
    for t in /proc/$dp/task/*; do
      [ "$(cat "$t/comm")" = mockplane-xds ] && taskset -p -c "$XDS_CORE" "$(basename "$t")" > /dev/null
    done
  fi
  [ -n "${CPU_TICKS:-}" ] && cpu_ticks "$cp" "$dp" before
  taskset -c 1 wrk -t1 -c50 -d"${SECS}s" --latency "http://$LISTEN/hello" > "$OUT/wrk.out"
  [ -n "${CPU_TICKS:-}" ] && cpu_ticks "$cp" "$dp" after
  kill -TERM "$dp"; wait "$dp" || true
  wait "$cp" || true
  local p99 reqs non2xx errors
  p99=$(awk '$1=="99%" {print $2}' "$OUT/wrk.out")
  reqs=$(awk '/requests in/ {print $1}' "$OUT/wrk.out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$OUT/wrk.out"); non2xx=${non2xx:-0}
  errors=$(awk '/Socket errors/ {gsub(",",""); print $4+$6+$8+$10}' "$OUT/wrk.out"); errors=${errors:-0}
  printf '| %s | %s | %s | %s | %s | %s |\n' "$([ "$1" = 0 ] && echo none || echo "every $1 ms")" \
    "$reqs" "$p99" "$non2xx" "$errors" "$(cat "$OUT/cp.out")"
}

echo "| swaps | requests | p99 | non-2xx | socket errors | control plane |"
echo "|---|---|---|---|---|---|"
for _ in $(seq "$ROUNDS"); do
  run 0
  run 100
done
