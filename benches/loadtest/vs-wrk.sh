#!/usr/bin/env bash
# mockplane-loadtest against wrk: how many requests per second each drives from one core.
#
# The server (nginx `return 200` with one worker, then `mockplane dataplane` with one rule and
# one worker) runs on core 0; the client (`wrk -t1 -c50` or `mockplane-loadtest run -c50`,
# one thread) on core 1. In each round both clients load the same server process for SECS
# seconds, in alternating order (wrk first in odd rounds), after a 1 s warm-up, so that drift
# on a shared machine hits both alike. Reported: the median req/s of each client, the median
# of the per-round ratios loadtest / wrk, and each client's own CPU time per request (user +
# system, from getrusage), the figure that still holds when other work shares the cores.
#
# Usage: benches/loadtest/vs-wrk.sh [ROUNDS] [SECS]      (defaults: 5 rounds of 5 s)
# Output: a markdown table of medians on stdout; raw rounds in $OUT/raw.tsv. Loopback only; every run
# stops by itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-5}
SECS=${2:-5}
OUT=${OUT:-target/loadtest-vs-wrk}
CONNS=${CONNS:-50}
mkdir -p "$OUT"
PID=

. benches/lib.sh
require wrk:wrk nginx-light:nginx curl:curl

cargo build --release -q -p mockplane -p mockplane-loadtest
LOADTEST=./target/release/mockplane-loadtest

nginx_conf nginx 19400 'location / { return 200 "hi"; }'
cat > "$OUT/rules.yaml" <<RULES
rules:
  - id: hello
    match: { method: GET, path: /hello }
    response: { body: hi }
RULES

start_server() { # name -> PID, URL
  case "$1" in
    nginx)
      taskset -c 0 nginx -c "$PWD/$OUT/nginx.conf" -p "$PWD/$OUT" >/dev/null 2>&1 &
      PID=$!; URL=http://127.0.0.1:19400/hello ;;
    mockplane)
      taskset -c 0 ./target/release/mockplane dataplane --rules "$OUT/rules.yaml" --workers 1 --no-pin \
        --listen 127.0.0.1:19401 --admin 127.0.0.1:19411 >"$OUT/mockplane.log" 2>&1 &
      PID=$!; URL=http://127.0.0.1:19401/hello ;;
  esac
  for _ in $(seq 1 100); do curl -s -o /dev/null "$URL" && break; sleep 0.1; done
  curl -s -o /dev/null "$URL" || { echo "$1 did not answer $URL" >&2; exit 1; }
}
stop_server() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; sleep 0.3; }
trap 'stop_server' EXIT

# Runs a client pinned to core 1; prints its stdout, then `cpu_s=` its user + system CPU seconds.
timed() {
  python3 -c 'import resource, subprocess, sys
out = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, check=True).stdout.decode()
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(out)
print("cpu_s=%.4f" % (r.ru_utime + r.ru_stime))' taskset -c 1 "$@"
}
run_wrk() { # -> "req/s cpu_us_per_request"
  timed wrk -t1 -c"$CONNS" -d"${SECS}s" "$URL" | awk '
    /requests in/ {n = $1} /Requests\/sec/ {rps = $2} /^cpu_s=/ {sub("cpu_s=", ""); cpu = $0}
    END {printf "%s %.3f\n", rps, cpu * 1e6 / n}'
}
run_loadtest() { # -> "req/s cpu_us_per_request"
  timed "$LOADTEST" run "$URL" -z "${SECS}s" -c "$CONNS" --output-format json | python3 -c 'import json, sys
lines = sys.stdin.read().split("\n")
r = json.loads(lines[0]); cpu = float([l for l in lines if l.startswith("cpu_s=")][0][6:])
assert sum(r["errors"].values()) == 0, r["errors"]
print("%.1f %.3f" % (r["rps"], cpu * 1e6 / r["requests"]))'
}

printf 'round\tserver\twrk\tloadtest\tratio\twrk_cpu_us\tloadtest_cpu_us\n' > "$OUT/raw.tsv"
for round in $(seq 1 "$ROUNDS"); do
  for s in nginx mockplane; do
    start_server "$s"
    taskset -c 1 wrk -t1 -c"$CONNS" -d1s "$URL" >/dev/null # warm-up
    if [ $((round % 2)) = 1 ]; then w=$(run_wrk); l=$(run_loadtest); else l=$(run_loadtest); w=$(run_wrk); fi
    stop_server
    read -r w wcpu <<< "$w"
    read -r l lcpu <<< "$l"
    ratio=$(awk -v l="$l" -v w="$w" 'BEGIN { printf "%.3f", l / w }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$s" "$w" "$l" "$ratio" "$wcpu" "$lcpu" | tee -a "$OUT/raw.tsv" >&2
  done
done

echo "| server (core 0, 1 worker) | wrk -t1 -c$CONNS req/s | mockplane-loadtest -c$CONNS req/s | loadtest / wrk (req/s) | client CPU µs/request: wrk | loadtest |"
echo "|---|---|---|---|---|---|"
for s in nginx mockplane; do
  w=$(awk -F'\t' -v s="$s" '$2==s {print $3}' "$OUT/raw.tsv" | median)
  l=$(awk -F'\t' -v s="$s" '$2==s {print $4}' "$OUT/raw.tsv" | median)
  r=$(awk -F'\t' -v s="$s" '$2==s {print $5}' "$OUT/raw.tsv" | median)
  wc=$(awk -F'\t' -v s="$s" '$2==s {print $6}' "$OUT/raw.tsv" | median)
  lc=$(awk -F'\t' -v s="$s" '$2==s {print $7}' "$OUT/raw.tsv" | median)
  echo "| $s | $w | $l | ${r}x | $wc | $lc |"
done
