#!/usr/bin/env bash
# HTTP benchmark of the data plane against nginx `return 200` and a minimal monoio server.
#
# Every server runs on core 0 with one worker; wrk -t1 -c50 runs on core 1. Runs are
# interleaved (A B C D, A B C D, ...) so that drift on a shared machine hits every server
# alike. The figure that holds on a noisy 2-core machine is server CPU per request:
# (utime + stime of the server process, from /proc/PID/stat) / requests served.
#
# Usage: benches/http/run.sh [ROUNDS] [SECONDS]      (defaults: 5 rounds of 5 s)
#
# Servers (SERVERS="…" picks some): nginx, minimal, minimal-epoll, and the data plane on a table
# of RULES realistic rules (default 10,000) or, with a `-big` suffix, BIG_RULES (default 100,000).
# `mockplane[-epoll][-big]` is a hit (`GET /hello`); `mockplane-miss[-big]` a request no rule's
# path reaches (`GET /api/v1/itemz/4242`: a 404 that checks nothing); `mockplane-near[-big]` a
# miss on a known path (`DELETE /hello`: a 404 that checks and names the GET rule). The miss
# rows are also shown as a ratio to the hit on the same table.
# Output: a markdown table on stdout, raw runs in $OUT/raw.tsv. Traffic goes to loopback only,
# and every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-5}
SECS=${2:-5}
OUT=${OUT:-target/http-bench}
RULES=${RULES:-10000}
BIG_RULES=${BIG_RULES:-100000}
mkdir -p "$OUT"

. benches/lib.sh
require wrk:wrk nginx-light:nginx

cargo build --release -q -p mockplane -p mockplane-loadtest -p mockplane-benches --bins
./target/release/gen-rules "$RULES" > "$OUT/rules.yaml"
case " ${SERVERS:-} " in *-big*) ./target/release/gen-rules "$BIG_RULES" > "$OUT/rules-big.yaml" ;; esac
printf 'wrk.method = "DELETE"\n' > "$OUT/delete.lua"

# nginx: one worker, `return 200`, no logs.
nginx_conf nginx 19300 'location / { return 200 "hi"; }'

HZ=$(getconf CLK_TCK)

start_server() { # name -> sets PID, URL, PIDS, WRK_ARGS
  WRK_ARGS=()
  case "$1" in
    nginx)
      taskset -c 0 nginx -c "$PWD/$OUT/nginx.conf" -p "$PWD/$OUT" >/dev/null 2>&1 &
      PID=$!; URL=http://127.0.0.1:19300/hello ;;
    minimal)
      taskset -c 0 ./target/release/minimal-server 127.0.0.1:19301 uring &
      PID=$!; URL=http://127.0.0.1:19301/hello ;;
    minimal-epoll)
      taskset -c 0 ./target/release/minimal-server 127.0.0.1:19304 epoll &
      PID=$!; URL=http://127.0.0.1:19304/hello ;;
    mockplane*)
      local driver=uring rules="$OUT/rules.yaml" path=/hello
      case "$1" in *epoll*) driver=epoll ;; esac
      case "$1" in *-big) rules="$OUT/rules-big.yaml" ;; esac
      case "$1" in *-miss*) path=/api/v1/itemz/4242 ;; *-near*) path=/hello; WRK_ARGS=(-s "$OUT/delete.lua") ;; esac
      taskset -c 0 ./target/release/mockplane dataplane --rules "$rules" --workers 1 --no-pin \
        --listen 127.0.0.1:19302 --admin 127.0.0.1:19312 --io-driver "$driver" >"$OUT/$1.log" 2>&1 &
      PID=$!; URL=http://127.0.0.1:19302$path ;;
  esac
  # Any HTTP answer will do (the miss servers answer 404); a big table takes seconds to load.
  for _ in $(seq 1 600); do curl -s -o /dev/null "$URL" && break; sleep 0.1; done
  curl -s -o /dev/null "$URL" || { echo "$1 did not answer $URL" >&2; exit 1; }
  PIDS="$PID $( (pgrep -P "$PID" || true) | tr "\n" " ")"
}

stop_server() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; sleep 0.3; }

# SERVERS="minimal-epoll mockplane-epoll" benches/http/run.sh … measures a subset.
read -r -a SERVERS <<< "${SERVERS:-nginx minimal minimal-epoll mockplane mockplane-epoll}"
printf 'round\tserver\treq_per_s\tcpu_us_per_req\tp99\n' > "$OUT/raw.tsv"
for round in $(seq 1 "$ROUNDS"); do
  for s in "${SERVERS[@]}"; do
    start_server "$s"
    taskset -c 1 wrk -t1 -c50 -d1s "${WRK_ARGS[@]}" "$URL" >/dev/null 2>&1 # warm-up
    t0=$(ticks $PIDS)
    out=$(taskset -c 1 wrk -t1 -c50 -d"${SECS}s" --latency "${WRK_ARGS[@]}" "$URL")
    t1=$(ticks $PIDS)
    stop_server
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}')
    case "$s" in *-miss*|*-near*) ;; *) [ -n "$errors" ] && echo "$s round $round: $errors" >&2 ;; esac
    cpu=$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v n="$reqs" 'BEGIN { printf "%.3f", t * 1e6 / hz / n }')
    printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$s" "$rps" "$cpu" "$p99" | tee -a "$OUT/raw.tsv" >&2
  done
done

echo "| server (core 0, 1 worker) | req/s (median) | CPU µs/request (median) | vs minimal (same driver) | vs nginx |"
echo "|---|---|---|---|---|"
min_uring=$(awk -F'\t' '$2=="minimal" {print $4}' "$OUT/raw.tsv" | median)
min_epoll=$(awk -F'\t' '$2=="minimal-epoll" {print $4}' "$OUT/raw.tsv" | median)
ngx_cpu=$(awk -F'\t' '$2=="nginx" {print $4}' "$OUT/raw.tsv" | median)
for s in "${SERVERS[@]}"; do
  rps=$(awk -F'\t' -v s="$s" '$2==s {print $3}' "$OUT/raw.tsv" | median)
  cpu=$(awk -F'\t' -v s="$s" '$2==s {print $4}' "$OUT/raw.tsv" | median)
  case "$s" in *epoll) min_cpu=$min_epoll ;; *) min_cpu=$min_uring ;; esac
  vs_min=$(awk -v a="$cpu" -v b="$min_cpu" 'BEGIN { if (b > 0) printf "%+.1f%%", (a / b - 1) * 100; else printf "n/a" }')
  vs_ngx=$(awk -v a="$cpu" -v b="$ngx_cpu" 'BEGIN { if (b > 0) printf "%+.1f%%", (a / b - 1) * 100; else printf "n/a" }')
  echo "| $s | $rps | $cpu | $vs_min | $vs_ngx |"
done
hit_of() { case "$1" in *-big) echo mockplane-big ;; *) echo mockplane ;; esac; }
for s in "${SERVERS[@]}"; do
  case "$s" in *-miss*|*-near*) ;; *) continue ;; esac
  hit=$(hit_of "$s")
  cpu=$(awk -F'\t' -v s="$s" '$2==s {print $4}' "$OUT/raw.tsv" | median)
  hit_cpu=$(awk -F'\t' -v s="$hit" '$2==s {print $4}' "$OUT/raw.tsv" | median)
  [ -n "$hit_cpu" ] && awk -v a="$cpu" -v b="$hit_cpu" -v s="$s" -v h="$hit" 'BEGIN { printf "%s / %s: %.2fx CPU per request\n", s, h, a / b }'
done
