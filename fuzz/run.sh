#!/usr/bin/env bash
# Fuzzes one target under libFuzzer, or folds what a run found into the kept corpus.
#
#   fuzz/run.sh TARGET [RUNS]   fuzz TARGET for RUNS executions (default 10,000,000)
#   fuzz/run.sh merge TARGET    minimise fuzz/corpus/TARGET plus the run's finds into a fresh
#                               folder and make that the kept corpus: -set_cover_merge=1 with
#                               -use_counters=0 keeps the fewest inputs that reach every edge
#                               (not every hit count), plus the `regression-*` inputs
#
# Targets: http rules template json_body xds (bodies in fuzz/src/, see docs/fuzzing.md).
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and builds with RUSTC_BOOTSTRAP=1 on the stable
# toolchain, without a sanitizer (`-s none`): the code under test is safe Rust, and a sanitizer
# would halve the executions. One fuzzing process at a time, at the lowest priority.
# Run from anywhere; paths are relative to the repository root. Working files (the run's
# corpus, crash artifacts, logs) go in fuzz/work/, which git ignores.
set -euo pipefail
cd "$(dirname "$0")/.."

export RUSTC_BOOTSTRAP=1
FUZZ=(cargo fuzz run --fuzz-dir fuzz/libfuzzer --sanitizer none)

max_len() {
    case "$1" in
        http) echo 8192 ;;      # a few pipelined requests with chunked bodies
        rules) echo 4096 ;;     # a rules file of a dozen rules (larger seeds are cut)
        template) echo 1024 ;;  # templates are a line or a short body
        json_body) echo 4096 ;; # a matcher line and a body of a few hundred nodes
        xds) echo 4096 ;;       # the example rule sets on the wire are up to 3.3 KB
        *) echo "unknown target $1 (http rules template json_body xds)" >&2; exit 2 ;;
    esac
}

if [[ "${1:-}" == merge ]]; then
    target=${2:?usage: fuzz/run.sh merge TARGET}
    max_len "$target" >/dev/null
    fresh=fuzz/work/merged/$target
    rm -rf "$fresh" && mkdir -p "$fresh" "fuzz/work/$target"
    nice -n 19 "${FUZZ[@]}" "$target" "$fresh" "fuzz/corpus/$target" "fuzz/work/$target" -- \
        -set_cover_merge=1 -use_counters=0 -max_len="$(max_len "$target")" -rss_limit_mb=2048 -timeout=10
    # Inputs that once failed are kept whatever their features (`regression-*`).
    cp fuzz/corpus/"$target"/regression-* "$fresh"/ 2>/dev/null || true
    rm -rf "fuzz/corpus/$target" && mv "$fresh" "fuzz/corpus/$target"
    echo "fuzz/corpus/$target: $(ls "fuzz/corpus/$target" | wc -l) files, $(du -sh "fuzz/corpus/$target" | cut -f1)"
    exit 0
fi

target=${1:?usage: fuzz/run.sh TARGET [RUNS] | fuzz/run.sh merge TARGET}
runs=${2:-10000000}
len=$(max_len "$target")
work=fuzz/work/$target
mkdir -p "$work" "fuzz/work/artifacts/$target" fuzz/work/logs
seeds=()
[[ -d fuzz/work/seeds/$target ]] && seeds=("fuzz/work/seeds/$target")
# New inputs go to the first folder ($work); the kept corpus and the seeds are only read.
nice -n 19 "${FUZZ[@]}" "$target" "$work" "fuzz/corpus/$target" "${seeds[@]}" -- \
    -runs="$runs" -max_len="$len" -rss_limit_mb=2048 -timeout=10 -report_slow_units=1 \
    -artifact_prefix="fuzz/work/artifacts/$target/" -print_final_stats=1 \
    2>&1 | tee "fuzz/work/logs/$target-$(date +%Y%m%d-%H%M%S).log"
