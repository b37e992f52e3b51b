#!/usr/bin/env bash
# Install what the tests need on a fresh Debian machine with Rust: system packages (C toolchain,
# valgrind, xmllint, OpenSSL headers, Mono + NUnit), cargo-fuzz and the Python venv (.venv).
# Idempotent and quick when everything is already there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="${EFM_VENV:-$root/.venv}"

need=()
command -v gcc >/dev/null || need+=(gcc)
command -v g++ >/dev/null || need+=(g++)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v valgrind >/dev/null || need+=(valgrind)
command -v xmllint >/dev/null || need+=(libxml2-utils)
command -v openssl >/dev/null || need+=(openssl)
command -v mcs >/dev/null || need+=(mono-mcs)
command -v mono >/dev/null || need+=(mono-runtime)
command -v nunit-console >/dev/null || need+=(nunit-console)
[ -e /usr/lib/cli/nunit.framework-2.6.3/nunit.framework.dll ] || ls /usr/lib/cli/nunit.framework-*/nunit.framework.dll >/dev/null 2>&1 || need+=(libnunit-cil-dev)
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
# BouncyCastle (what the Java integration point uses) for the CMS interop tests, and a JDK to run it.
command -v javac >/dev/null || need+=(openjdk-17-jdk-headless)
[ -e /usr/share/java/bcprov.jar ] || need+=(libbcprov-java)
[ -e /usr/share/java/bcpkix.jar ] || need+=(libbcpkix-java)
[ -e /usr/share/java/bcutil.jar ] || need+=(libbcutil-java)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
# Windows builds and packages (scripts/test-windows.sh, scripts/package.sh): the mingw-w64
# cross compiler (with windres), Wine to run the Windows tests, Mono's reference assemblies,
# Mono.Cecil, xbuild and nuget for the NuGet package and its consumer test, zip for the archive.
command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64)
[ -x /usr/lib/wine/wine64 ] || need+=(wine64)
[ -e /usr/lib/mono/4.6.1-api/mscorlib.dll ] || need+=(mono-devel)
ls /usr/lib/mono/gac/Mono.Cecil/0.11.*/Mono.Cecil.dll >/dev/null 2>&1 || need+=(libmono-cecil-private-cil)
command -v xbuild >/dev/null || need+=(mono-xbuild)
command -v nuget >/dev/null || need+=(nuget)
command -v zip >/dev/null || need+=(zip)
# A throwaway PostgreSQL server for the shared-store tests (scripts/postgres-lib.sh).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)

if [ ${#need[@]} -gt 0 ]; then
    echo "installing system packages: ${need[*]}"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# initdb and postgres refuse to run as root: as root, the test server runs as this system user.
if [ "$(id -u)" -eq 0 ] && ! id efm-pg >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin efm-pg
fi

# The Rust standard library for the Windows cross-build.
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx x86_64-pc-windows-gnu; then
    rustup target add x86_64-pc-windows-gnu
fi

# cargo-fuzz for scripts/fuzz.sh (the fuzz step of scripts/test.sh), built from crates.io: no
# trustworthy prebuilt binary comes from a package registry; about 1.5 min on 2 cores, once per
# machine (~/.cargo/bin). The fuzz builds use the nightly toolchain when rustup has one, else the
# stable one with RUSTC_BOOTSTRAP=1, so no toolchain is downloaded here.
cargo_fuzz_version=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $cargo_fuzz_version"; then
    echo "installing cargo-fuzz $cargo_fuzz_version (cargo install --locked)"
    cargo install --locked --quiet cargo-fuzz --version "$cargo_fuzz_version"
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "creating Python venv $venv"
    python3 -m venv "$venv"
fi
stamp="$venv/.efm-requirements"
if ! cmp -s "$root/scripts/requirements-test.txt" "$stamp"; then
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet -r "$root/scripts/requirements-test.txt"
    cp "$root/scripts/requirements-test.txt" "$stamp"
fi
