#!/usr/bin/env bash
# Run every cargo-fuzz target for a bounded time (default 20 s each) from its committed corpus
# (fuzz/corpus/TARGET). Needs the nightly toolchain and cargo-fuzz (installed here when missing).
# A crash fails the run; its input is left in fuzz/artifacts/TARGET/ to add as a regression test.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs="${1:-20}"
shift || true
cd "$root/fuzz"
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz: the nightly toolchain is not installed (rustup toolchain install nightly); skipped" >&2
    exit 0
fi
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
cargo +nightly fuzz build -O
passed=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    # -max_len bounds input size; -rss_limit_mb bounds memory; a crash stops with a non-zero code.
    log=$(mktemp)
    if cargo +nightly fuzz run -O "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=65536 \
        -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
        echo "fuzz $t: ${runs:-?} executions in ${secs} s, no crash"
        passed=$((passed + 1))
    else
        echo "fuzz $t: FAILED" >&2
        tail -n 40 "$log" >&2
        echo "fuzz: $passed passed, 1 failed"
        exit 1
    fi
    rm -f "$log"
done
echo "fuzz: $passed passed, 0 failed"
