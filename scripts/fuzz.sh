#!/usr/bin/env bash
# The cargo-fuzz targets (fuzz/fuzz_targets, one per parser of outside bytes), each for a bounded
# time from its committed corpus (fuzz/corpus/TARGET), built with AddressSanitizer and overflow
# checks (-O -a). Needs the nightly toolchain and cargo-fuzz: installed here when missing.
# A crash fails the run; its input is left in fuzz/artifacts/TARGET/: add it to the target's
# corpus (tests/fuzz_corpus.rs replays it on stable) and as a unit test beside the fix.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     fuzz (default 20 s each, all targets)
#        scripts/fuzz.sh --minimise [TARGET...]                 shrink the committed corpora (cmin)
# One fuzzer at a time, one job each: the machine is shared. New corpus entries land in
# fuzz/corpus/TARGET; minimise before committing them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"

minimise=0
if [ "${1:-}" = "--minimise" ]; then
    minimise=1
    shift
else
    secs="${1:-20}"
    shift || true
fi

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz: installing the nightly toolchain (minimal profile)" >&2
    rustup toolchain install nightly --profile minimal
fi
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz

targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
flags=(-O -a)
cargo +nightly fuzz build "${flags[@]}"

if [ "$minimise" = 1 ]; then
    for t in "${targets[@]}"; do
        before=$(find "corpus/$t" -type f | wc -l)
        cargo +nightly fuzz cmin "${flags[@]}" "$t" "corpus/$t" -- -max_len=65536 -rss_limit_mb=2048 >/dev/null 2>&1
        echo "minimise $t: $before -> $(find "corpus/$t" -type f | wc -l) files, $(du -sh "corpus/$t" | cut -f1)"
    done
    exit 0
fi

passed=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    log=$(mktemp)
    # -max_len bounds input size, -rss_limit_mb memory, -timeout a single input's time; a crash,
    # leak, overflow or hang stops with a non-zero code.
    if cargo +nightly fuzz run "${flags[@]}" "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=65536 \
        -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
        runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
        cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
        echo "fuzz $t: ${runs:-?} executions in ${secs} s, ${cov:-cov ?}, no crash"
        passed=$((passed + 1))
    else
        echo "fuzz $t: FAILED" >&2
        tail -n 40 "$log" >&2
        rm -f "$log"
        echo "fuzz: $passed passed, 1 failed"
        exit 1
    fi
    rm -f "$log"
done
echo "fuzz: $passed passed, 0 failed"
