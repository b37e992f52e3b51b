#!/usr/bin/env bash
# The C tests (scripts/test-c.sh) against a libefm built with AddressSanitizer, the tests built
# with gcc's -fsanitize=address: a second memory checker beside valgrind, and a faster one (the
# tests run at native speed). The library is built into ${CARGO_TARGET_DIR:-target}/asan with the
# nightly toolchain when rustup has one, else the stable one with RUSTC_BOOTSTRAP=1 (-Z flags).
# Rust code is instrumented; the C code SQLite brings is too (cc passes -fsanitize on), at -O0.
# The sandbox the tests talk to is the ordinary debug build (target/debug/efm-sandbox).
#
# Usage: scripts/test-c-asan.sh      (needs `cargo build -p efm-sandbox` done first)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target_root="${CARGO_TARGET_DIR:-$root/target}"
case "$target_root" in /*) ;; *) target_root="$root/$target_root" ;; esac
triple=x86_64-unknown-linux-gnu

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    cargo=(cargo +nightly)
else
    cargo=(cargo)
    export RUSTC_BOOTSTRAP=1
fi
start=$SECONDS
# --target keeps the sanitizer flags off build scripts and proc-macros.
RUSTFLAGS="-Zsanitizer=address -Cforce-frame-pointers=yes" \
    "${cargo[@]}" build -p efm --lib --target "$triple" --target-dir "$target_root/asan"
echo "c-asan: libefm built with AddressSanitizer in $((SECONDS - start)) s"

EFM_C_SANITIZER=address \
    EFM_LIB_DIR="$target_root/asan/$triple/debug" \
    EFM_SANDBOX_BIN="${EFM_SANDBOX_BIN:-$target_root/debug/efm-sandbox}" \
    "$root/scripts/test-c.sh"
echo "c-asan: the C tests ran in $((SECONDS - start)) s in all"
