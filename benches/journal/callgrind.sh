#!/usr/bin/env bash
# User-space instructions per request of the data plane's worker, counted by callgrind: one
# worker on the epoll driver, N keep-alive requests on one connection, then 2N; the per-request
# figure is (instructions at 2N - instructions at N) / N, which cancels start-up and shutdown.
#
# Only the instructions executed inside `COLLECT` (callgrind's --toggle-collect; default
# `mockplane_dataplane::answer::answer`: from a parsed head and body to the answer in the write
# buffer, with rule selection, rendering, counting and journaling; not the parsing or the I/O,
# which journaling does not touch) are counted. Counting the whole worker thread, as session 8
# did, also counts its ticker, whose work follows wall time, and wall time under valgrind
# follows the machine's load: on a shared machine two runs of the same binary differed by up
# to 2,600 instructions per request. `COLLECT=` (empty) counts the whole thread.
#
# Usage: benches/journal/callgrind.sh [N] [BINARY]   (defaults: 10000, target/release/mockplane)
# Prints one line per request kind (get: a curl-like GET; post: 7 headers and a 300-byte JSON
# body) and journal setting (--journal 4096, and 0 for the cost of journaling alone).
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-10000}
BIN=${2:-target/release/mockplane}
OUT=${OUT:-target/journal-callgrind}
COLLECT=${COLLECT-mockplane_dataplane::answer::answer}
TOGGLE=()
[ -n "$COLLECT" ] && TOGGLE=(--toggle-collect="$COLLECT")
mkdir -p "$OUT"
cat > "$OUT/rules.yaml" <<'YAML'
rules:
  - id: hello
    match: { method: GET, path: /hello }
    response: { body: "hello" }
  - id: order
    match: { method: POST, path: /orders, headers: { content-type: application/json } }
    response: { status: 200, json: { ok: true } }
YAML

run() { # requests kind journal -> instructions of the busiest thread (the worker)
  local n=$1 kind=$2 journal=$3 dir
  dir=$(mktemp -d "$OUT/run.XXXX")
  valgrind --tool=callgrind --separate-threads=yes "${TOGGLE[@]}" --callgrind-out-file="$dir/cg.out" \
    "$BIN" dataplane --rules "$OUT/rules.yaml" --workers 1 --io-driver epoll --no-pin \
    --listen 127.0.0.1:19400 --admin 127.0.0.1:19401 --journal "$journal" \
    >"$dir/log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 600); do
    curl -sf http://127.0.0.1:19401/readyz >/dev/null 2>&1 && break
    sleep 0.1
  done
  python3 benches/journal/client.py 127.0.0.1:19400 "$n" "$kind"
  kill -TERM "$pid"
  wait "$pid" || true
  # One file per thread; the worker is the one that executed the most.
  grep -h '^summary:' "$dir"/cg.out* | awk '{print $2}' | sort -n | tail -1
  rm -rf "$dir"
}

for kind in get post; do
  for journal in 4096 0; do
    one=$(run "$N" "$kind" "$journal")
    two=$(run $((2 * N)) "$kind" "$journal")
    echo "$kind --journal $journal: $(( (two - one) / N )) instructions per request"
  done
done
