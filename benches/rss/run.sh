#!/usr/bin/env bash
# Memory of the data plane, as a sidecar is judged: resident set size (VmRSS) when idle with
# 1,000, 10,000 and 100,000 rules (2 workers), and per idle keep-alive connection (1 worker,
# 1,000 rules): 5,000 connections opened, each after one request, held, then closed, with
# nginx measured the same way beside it.
#
# Usage: benches/rss/run.sh [CONNECTIONS]     (default 5000)
# Output: a markdown table on stdout. Loopback only; every server is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
CONNS=${1:-5000}
OUT=${OUT:-target/rss-bench}
mkdir -p "$OUT"
ulimit -n 20000 2>/dev/null || true

. benches/lib.sh
require nginx-light:nginx
cargo build --release -q -p mockplane -p mockplane-benches --bins
for n in 1000 10000 100000; do
  [ -s "$OUT/rules-$n.yaml" ] || ./target/release/gen-rules "$n" > "$OUT/rules-$n.yaml"
done

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
wait_ready() { # admin address
  for _ in $(seq 1 1200); do curl -sf -o /dev/null "http://$1/readyz" && return 0; sleep 0.1; done
  echo "the data plane at $1 never became ready" >&2; exit 1
}

echo "| case | VmRSS |"
echo "|---|---|"
for n in 1000 10000 100000; do
  ./target/release/mockplane dataplane --rules "$OUT/rules-$n.yaml" --workers 2 --no-pin \
    --listen 127.0.0.1:19802 --admin 127.0.0.1:19812 >"$OUT/idle-$n.log" 2>&1 &
  pid=$!
  wait_ready 127.0.0.1:19812
  sleep 3
  echo "| mockplane dataplane, $n rules, 2 workers, idle | $(mb "$(rss_kb $pid)") MB |"
  kill $pid; wait $pid 2>/dev/null || true
done

# Per connection: the server's RSS idle, holding CONNS connections, and after they close.
per_connection() { # name pid port path
  local name=$1 pid=$2 port=$3 path=$4 idle held closed
  sleep 1
  idle=$(rss_kb "$pid")
  coproc HOLD { python3 benches/rss/hold.py 127.0.0.1 "$port" "$CONNS" "$path"; }
  read -r line <&"${HOLD[0]}"
  sleep 1
  held=$(rss_kb "$pid")
  echo >&"${HOLD[1]}"
  read -r line <&"${HOLD[0]}"
  wait "$HOLD_PID" 2>/dev/null || true
  sleep 3
  closed=$(rss_kb "$pid")
  awk -v n="$name" -v i="$idle" -v h="$held" -v c="$closed" -v k="$CONNS" 'BEGIN {
    printf "| %s: idle / %d connections held / after they close | %.1f / %.1f / %.1f MB (%.2f KB per connection) |\n",
      n, k, i / 1024, h / 1024, c / 1024, (h - i) / k }'
}

./target/release/mockplane dataplane --rules "$OUT/rules-1000.yaml" --workers 1 --no-pin \
  --listen 127.0.0.1:19803 --admin 127.0.0.1:19813 >"$OUT/conns.log" 2>&1 &
pid=$!
wait_ready 127.0.0.1:19813
per_connection "mockplane, 1 worker, 1000 rules" "$pid" 19803 /hello
kill $pid; wait $pid 2>/dev/null || true

cat > "$OUT/nginx.conf" <<NGINX
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid $PWD/$OUT/nginx.pid;
error_log /dev/null;
events { worker_connections 12000; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:19804;
    location / { return 200 "hi"; }
  }
}
NGINX
nginx -c "$PWD/$OUT/nginx.conf" -p "$PWD/$OUT" >/dev/null 2>&1 &
npid=$!
for _ in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:19804/ && break; sleep 0.1; done
worker=$(pgrep -P "$npid" | head -1)
per_connection "nginx return 200, 1 worker" "$worker" 19804 /hello
kill $npid; wait $npid 2>/dev/null || true
