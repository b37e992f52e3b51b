#!/usr/bin/env bash
# The cargo-fuzz targets (fuzz/fuzz_targets, one per parser of outside bytes), each for a bounded
# time from its committed corpus (fuzz/corpus/TARGET), built with AddressSanitizer and overflow
# checks (-O -a). scripts/test.sh (and so CI) runs it with 30 s per target.
#
# Needs cargo-fuzz (scripts/install-deps.sh installs it) and a toolchain with -Z flags: the nightly
# one when rustup has it, else the stable one with RUSTC_BOOTSTRAP=1 (which cargo-fuzz accepts;
# stable ships the AddressSanitizer runtime too), so no toolchain has to be downloaded.
#
# All targets build in one cargo invocation (efm-core's dependencies compile once), into
# ${CARGO_TARGET_DIR:-target}/fuzz, so a CI run that keeps target/ reuses the build.
# A crash, leak, overflow or hang fails the run; the input that caused it is kept as
# ${CARGO_TARGET_DIR:-target}/fuzz-artifacts/TARGET/crash-... (the path and, for small inputs,
# its base64 are printed): add it to fuzz/corpus/TARGET (tests/fuzz_corpus.rs replays it on
# stable) and as a unit test beside the fix.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     fuzz (default 20 s each, all targets)
#        scripts/fuzz.sh --keep SECONDS [TARGET...]             fuzz, adding new inputs to fuzz/corpus
#        scripts/fuzz.sh --minimise [TARGET...]                 shrink the committed corpora (cmin)
# Without --keep, what a run finds goes to a scratch corpus that is deleted afterwards, so the
# committed corpora (and the work tree) stay as they are. One fuzzer at a time, one job each: the
# machine is shared. Minimise before committing new corpus entries.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target_root="${CARGO_TARGET_DIR:-$root/target}"
case "$target_root" in /*) ;; *) target_root="$root/$target_root" ;; esac
cd "$root/fuzz"

mode=fuzz
case "${1:-}" in
--minimise) mode=minimise; shift ;;
--keep) mode=keep; shift ;;
esac
if [ "$mode" != minimise ]; then
    secs="${1:-20}"
    shift || true
fi

cargo fuzz --version >/dev/null 2>&1 || {
    echo "fuzz: cargo-fuzz is missing: run scripts/install-deps.sh (or cargo install --locked cargo-fuzz)" >&2
    exit 1
}
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    cargo=(cargo +nightly)
    toolchain=nightly
else
    cargo=(cargo)
    export RUSTC_BOOTSTRAP=1
    toolchain="$(rustc --version | cut -d' ' -f2) with RUSTC_BOOTSTRAP=1"
fi

targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <("${cargo[@]}" fuzz list)
flags=(-O -a --target-dir "$target_root/fuzz")
build_start=$SECONDS
"${cargo[@]}" fuzz build "${flags[@]}"
echo "fuzz: ${#targets[@]} targets built in $((SECONDS - build_start)) s ($toolchain, AddressSanitizer)"

if [ "$mode" = minimise ]; then
    for t in "${targets[@]}"; do
        before=$(find "corpus/$t" -type f | wc -l)
        "${cargo[@]}" fuzz cmin "${flags[@]}" "$t" "corpus/$t" -- -max_len=65536 -rss_limit_mb=2048 >/dev/null 2>&1
        echo "minimise $t: $before -> $(find "corpus/$t" -type f | wc -l) files, $(du -sh "corpus/$t" | cut -f1)"
    done
    exit 0
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/efm-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
passed=0
failed=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    artifacts="$target_root/fuzz-artifacts/$t/"
    mkdir -p "$artifacts"
    # libFuzzer adds what it finds to the first corpus folder and only reads the others.
    if [ "$mode" = keep ]; then
        corpora=("corpus/$t")
    else
        mkdir -p "$scratch/$t"
        corpora=("$scratch/$t" "corpus/$t")
    fi
    log="$scratch/$t.log"
    # -max_len bounds input size, -rss_limit_mb memory, -timeout a single input's time; a crash,
    # leak, overflow or hang stops with a non-zero code. The later -artifact_prefix wins over
    # cargo-fuzz's (fuzz/artifacts), so a reproducer outlives a CI clone.
    if "${cargo[@]}" fuzz run "${flags[@]}" "$t" "${corpora[@]}" -- -max_total_time="$secs" \
        -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$artifacts" >"$log" 2>&1; then
        runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
        cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
        echo "fuzz $t: ${runs:-?} executions in ${secs} s, ${cov:-cov ?}, no crash"
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "fuzz $t: FAILED:" >&2
        # What went wrong (a panic, a sanitizer report, a timeout or out-of-memory), then the end.
        grep -m 1 -A 25 -E "panicked at|==ERROR: |ERROR: libFuzzer" "$log" >&2 || true
        echo "fuzz $t: ... its log ends:" >&2
        tail -n 25 "$log" >&2
        reproducer=$(grep -oE 'Test unit written to .*' "$log" | tail -n 1 | sed 's/^Test unit written to //')
        if [ -n "$reproducer" ]; then
            echo "fuzz $t: the reproducer is $reproducer" >&2
            echo "fuzz $t: rerun it with: (cd fuzz && ${cargo[*]} fuzz run -O -a $t $reproducer)" >&2
        else
            echo "fuzz $t: no reproducer was written (the fuzzer itself failed to build or start)" >&2
        fi
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
