#!/usr/bin/env bash
# Re-records expected.json: WireMock's own answers to the corpus in this folder.
#
# Installs what is missing (Java 17 from Debian's packages, WireMock 3.13.2 standalone from the
# npm `wiremock` package, which ships the jar, into target/wiremock/), starts WireMock on a free
# loopback port with this folder as its root (mappings/ and __files/), and sends every request of
# requests.json in order with the same client the differential test uses
# (cli/tests/wiremock_diff), writing the answers to expected.json; then again with WireMock's
# --global-response-templating, into expected-global.json. Scenarios start at Started:
# WireMock is fresh and its scenarios are reset first. Run from anywhere; takes about a minute.
set -euo pipefail

VERSION=3.13.2
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
CACHE="${WIREMOCK_CACHE:-$ROOT/target/wiremock}"
JAR="$CACHE/package/build/wiremock-standalone-$VERSION.jar"

if ! command -v java >/dev/null || ! java -version 2>&1 | grep -q 'version "\(1[7-9]\|2[0-9]\)'; then
    echo "installing Java 17" >&2
    apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi
if [ ! -f "$JAR" ]; then
    echo "fetching WireMock $VERSION (npm package wiremock)" >&2
    mkdir -p "$CACHE"
    (cd "$CACHE" && npm pack --silent "wiremock@$VERSION" >/dev/null && tar xzf "wiremock-$VERSION.tgz")
fi

# One fresh WireMock a mode: templating per stub (expected.json), then every response a
# template (expected-global.json).
record() {
    local test="$1"; shift
    local port log pid stubs
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    log="$CACHE/wiremock.log"
    java -jar "$JAR" --port "$port" --bind-address 127.0.0.1 --root-dir "$HERE" \
        --disable-banner --disable-gzip "$@" >"$log" 2>&1 &
    pid=$!
    trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true' EXIT
    for _ in $(seq 1 120); do
        if curl -fsS "http://127.0.0.1:$port/__admin/mappings" >/dev/null 2>&1; then break; fi
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; echo "WireMock exited" >&2; exit 1; }
        sleep 0.5
    done
    stubs="$(curl -fsS "http://127.0.0.1:$port/__admin/mappings" | python3 -c 'import json, sys; print(json.load(sys.stdin)["meta"]["total"])')"
    echo "WireMock $VERSION on 127.0.0.1:$port with $stubs stubs $*" >&2
    local out
    out="$(cd "$ROOT" && WIREMOCK_DIFF_RECORD="127.0.0.1:$port" \
        cargo test -p mockplane --test wiremock_diff -- --exact "$test" --nocapture 2>&1)" \
        || { echo "$out" >&2; exit 1; }
    # A renamed test would run nothing and pass: insist on the recording's own line.
    grep -E "^recorded [0-9]+ answers" <<<"$out" >&2 || { echo "$out" >&2; echo "$test recorded nothing" >&2; exit 1; }
    kill "$pid"; wait "$pid" 2>/dev/null || true
    trap - EXIT
}

record mockplane_answers_the_wiremock_corpus_as_wiremock_does
record with_global_templating_mockplane_answers_the_corpus_as_wiremock_does --global-response-templating
