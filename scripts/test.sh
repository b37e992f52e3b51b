#!/usr/bin/env bash
# Every test: lint (rustfmt, clippy), Rust unit/integration tests (incl. header drift and interop
# with openssl/PyJWT/cryptography/lxml), C tests under valgrind, Python binding + sandbox
# conformance tests, C# binding tests on Mono; then the release artefacts: efm.dll cross-built and
# its C tests run under Wine, every package built into dist/ and installed the way its users do.
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

step "client tests again on the PostgreSQL store"
EFM_TEST_STORE=postgres cargo test -p efm-core --test client_flow --test concurrency --test send_retry --test multi_org

if [ "${EFM_FUZZ_SECONDS:-0}" -gt 0 ]; then
    # Opt-in: nightly + cargo-fuzz + an ASan build cost ~10 min on a fresh 2-core machine before
    # the first input runs. The committed corpora are replayed on stable by `cargo test` anyway.
    step "fuzz (${EFM_FUZZ_SECONDS} s per target)"
    scripts/fuzz.sh "$EFM_FUZZ_SECONDS"
fi

step "soak (100 messages both ways, a fault every 100 ms on every endpoint)"
# A bigger run: cargo run --release -p efm-core --example soak -- --messages 400 --processes 3 --kills 30 --seconds 900
target/debug/examples/soak --messages 100 --processes 1 --kills 0 --seconds 170

step "soak on PostgreSQL (60 messages both ways, 2 workers per organisation, both organisations in one configuration and one schema, faults; SIGKILLs only in the bigger run: a killed packer can leave a package file, see CHANGELOG)"
# A bigger run: ... --example soak -- --postgres --messages 400 --processes 4 --kills 30 --seconds 900
# (without --shared-store: each organisation in a schema of its own)
target/debug/examples/soak --postgres --shared-store --messages 60 --processes 2 --kills 0 --seconds 170

step "C tests (strict header, valgrind)"
scripts/test-c.sh

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
