#!/usr/bin/env bash
# Every test: lint (rustfmt, clippy), Rust unit/integration tests (incl. header drift and interop
# with openssl/PyJWT/cryptography/lxml), every fuzz target for 30 s, C tests under valgrind and
# against an AddressSanitizer build, Python binding + sandbox conformance tests, C# binding tests
# on Mono; then the release artefacts: efm.dll cross-built and its C tests run under Wine, every
# package built into dist/ and installed the way its users do.
# Installs missing tools first (scripts/install-deps.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# Each step is stamped with the minutes since the start, so CI logs show where the time goes.
step() { printf '\n==> [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

step "dependencies"
scripts/install-deps.sh
export PATH="${EFM_VENV:-$root/.venv}/bin:$PATH"   # python3 for the Rust interop tests is the venv's

step "rustfmt"
cargo fmt --all -- --check

step "build"
cargo build --workspace --all-targets

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "PostgreSQL (a throwaway server for the shared-store tests)"
# The Rust tests and the soak run against it as well as against SQLite (EFM_TEST_POSTGRES).
source scripts/postgres-lib.sh
postgres_scratch=$(mktemp -d "${TMPDIR:-/tmp}/efm-pg.XXXXXX")
chmod 755 "$postgres_scratch"   # the server's user (efm-pg, when run as root) must reach it
trap 'stop_postgres; rm -rf "$postgres_scratch"' EXIT
start_postgres "$postgres_scratch/pg"

step "rust tests"
cargo test --workspace

step "package tests again without the AES-NI+SHA one pass (the path of a CPU without the extensions)"
EFM_NO_STITCHED_AES_SHA=1 cargo test -p efm-core --test package_wire --test package_bouncycastle

step "client tests again on the PostgreSQL store"
EFM_TEST_STORE=postgres cargo test -p efm-core --test client_flow --test concurrency --test send_retry --test multi_org

fuzz_secs="${EFM_FUZZ_SECONDS:-30}"
if [ "$fuzz_secs" -gt 0 ]; then
    # Every cargo-fuzz target from its committed corpus (AddressSanitizer, overflow checks); a
    # crash fails the run and prints the reproducer's path. EFM_FUZZ_SECONDS=0 skips this step
    # (the corpora are still replayed on stable by `cargo test`). A fresh 2-core machine spends
    # about 1.5 min installing cargo-fuzz and 5 min building the targets (7 CPU-min) before the
    # first input runs; with target/ kept, the step takes the 7 x 30 s and a few seconds.
    step "fuzz (${fuzz_secs} s per target)"
    scripts/fuzz.sh "$fuzz_secs"
fi

step "soak (100 messages both ways, 2 processes per data directory, faults on every endpoint, 6 SIGKILLs)"
# A bigger run: cargo run --release -p efm-core --example soak -- --messages 400 --processes 3 --kills 30 --seconds 900
target/debug/examples/soak --messages 100 --processes 2 --kills 6 --seconds 170

step "soak on PostgreSQL (60 messages both ways, 2 workers per organisation, both organisations in one configuration and one schema, faults on every endpoint, 6 SIGKILLs)"
# A bigger run: ... --example soak -- --postgres --messages 400 --processes 4 --kills 30 --seconds 900
# (without --shared-store: each organisation in a schema of its own)
target/debug/examples/soak --postgres --shared-store --messages 60 --processes 2 --kills 6 --seconds 170

step "C tests (strict header, valgrind)"
scripts/test-c.sh

step "C tests again, against libefm built with AddressSanitizer (scripts/test-c-asan.sh)"
# ~3 min on a fresh 2-core machine (a debug build of efm with -Zsanitizer=address); the tests
# themselves run in seconds.
scripts/test-c-asan.sh

step "Python tests"
scripts/test-python.sh

step "C# tests (Mono, NUnit)"
scripts/test-csharp.sh

step "release artefacts (scripts/package.sh -> dist/)"
scripts/package.sh

step "Windows: C tests against the packaged efm.dll under Wine"
EFM_WIN_DIR="$root/target/package-stage/win-x64" scripts/test-windows.sh

step "packages installed as their users do (NuGet, wheel, C archive)"
scripts/test-packages.sh

printf '\nall tests passed\n'
