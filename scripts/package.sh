#!/usr/bin/env bash
# Build every release artefact into dist/ (one command):
#   Eformidling.<v>.nupkg                       NuGet: lib/netstandard2.0, runtimes/{win-x64,linux-x64}/native, build/.targets
#   eformidling-<v>-py3-none-manylinux_*.whl    Python wheel for Linux x86_64 (OpenSSL linked statically)
#   eformidling-<v>-py3-none-win_amd64.whl      Python wheel for Windows x64
#   efm-<v>-linux-x64.tar.gz                    C: lib (SONAME libefm.so.<abi>), include, pkg-config, licences
#   efm-<v>-windows-x64.zip                     C: efm.dll, import library, .def, include, licences
#   symbols/                                    the debug information stripped from the shipped binaries
#   SHA256SUMS
# Needs what scripts/install-deps.sh --windows installs. The version is the crate version
# (Cargo.toml), the only place it is set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv="${EFM_VENV:-$root/.venv}"
py="$venv/bin/python"
export PATH="$venv/bin:$PATH"   # patchelf for auditwheel
dist="$root/dist"
stage="$root/target/package-stage"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
abi=$(sed -n 's/^#define EFM_ABI_VERSION \([0-9]*\)$/\1/p' include/efm.h)
[ -n "$version" ] && [ -n "$abi" ] || { echo "cannot read the version from Cargo.toml or the ABI from include/efm.h" >&2; exit 1; }
step() { printf '\n--> %s\n' "$*"; }
rm -rf "$dist" "$stage"
mkdir -p "$dist/symbols" "$stage"

# Strip a binary in place, keeping its debug information in symbols/ (linked by .gnu_debuglink,
# which gdb and WinDbg-with-DWARF tools follow).
strip_keep_symbols() { # objcopy-prefix file symbols-name
    local tool=$1 file=$2 name=$3
    "${tool}objcopy" --only-keep-debug "$file" "$dist/symbols/$name"
    "${tool}strip" --strip-unneeded "$file"
    (cd "$dist/symbols" && "${tool}objcopy" --add-gnu-debuglink="$name" "$file")
}

step "Linux x86_64 library (release, OpenSSL static)"
# An explicit --target keeps these objects apart from the ordinary release build. OPENSSL_STATIC
# with an explicit OPENSSL_LIB_DIR links the system's libssl.a/libcrypto.a (through pkg-config,
# libraries in system directories would stay dynamic), so the library runs on any glibc
# distribution (the manylinux rule) without the host's libssl.
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
OPENSSL_STATIC=1 OPENSSL_LIB_DIR="/usr/lib/$multiarch" OPENSSL_INCLUDE_DIR=/usr/include nice -n 10 cargo build --release --locked --target x86_64-unknown-linux-gnu -p efm --lib
linux="$stage/linux-x64"
mkdir -p "$linux"
cp target/x86_64-unknown-linux-gnu/release/libefm.so "$linux/libefm.so"
strip_keep_symbols "" "$linux/libefm.so" "libefm.so.$version-linux-x64.debug"
if readelf -d "$linux/libefm.so" | grep -E "NEEDED.*lib(ssl|crypto)"; then echo "libefm.so still needs the system OpenSSL" >&2; exit 1; fi

step "Windows x64 library (cross-built with mingw-w64)"
windll=$(scripts/build-windows.sh x64)
win="$stage/win-x64"
mkdir -p "$win"
cp "$windll/efm.dll" "$windll/libefm.dll.a" "$win/"
strip_keep_symbols x86_64-w64-mingw32- "$win/efm.dll" "efm.dll.$version-win-x64.debug"
"$py" tests/windows/check_pe.py "$win/efm.dll" include/efm.h "$version" --machine x64 --stripped
# A module-definition file, from which MSVC users make an import library: lib /def:efm.def /machine:x64
{ echo "LIBRARY efm.dll"; echo "EXPORTS"; x86_64-w64-mingw32-objdump -p "$win/efm.dll" \
    | awk '/\[Ordinal\/Name Pointer\] Table/ {on=1; next} on && /^\t\[/ {print "    " $NF} on && /^$/ {on=0}'; } > "$win/efm.def"
grep -q "efm_client_new" "$win/efm.def"

step "C archives"
c_archive() { # tar.gz of the staged directory $stage/NAME, reproducible (owner, time, order fixed)
    tar -C "$stage" --owner=0 --group=0 --mtime=2020-01-01 --sort=name -czf "$dist/$1.tar.gz" "$1"
}
name="efm-$version-linux-x64"
a="$stage/$name"
mkdir -p "$a/lib/pkgconfig" "$a/include"
# For C programs the SONAME carries the ABI revision, so one built against ABI 1 never loads
# another. (The copies in the NuGet package and the wheel keep the name libefm.so, which the
# bindings' loaders ask for: see build.rs.)
cp "$linux/libefm.so" "$a/lib/libefm.so.$version"
patchelf --set-soname "libefm.so.$abi" "$a/lib/libefm.so.$version"
readelf -d "$a/lib/libefm.so.$version" | grep -q "Library soname: \[libefm.so.$abi\]" || { echo "the archive's library has no SONAME libefm.so.$abi" >&2; exit 1; }
ln -s "libefm.so.$version" "$a/lib/libefm.so.$abi"
ln -s "libefm.so.$abi" "$a/lib/libefm.so"
cp include/efm.h "$a/include/"
cp LICENSE-MIT LICENSE-APACHE README.md "$a/"
sed -e "s/@VERSION@/$version/" packaging/efm.pc.in > "$a/lib/pkgconfig/efm.pc"
c_archive "$name"
name="efm-$version-windows-x64"
a="$stage/$name"
mkdir -p "$a/bin" "$a/lib" "$a/include"
cp "$win/efm.dll" "$a/bin/"
cp "$win/libefm.dll.a" "$win/efm.def" "$a/lib/"
cp include/efm.h "$a/include/"
cp LICENSE-MIT LICENSE-APACHE README.md "$a/"
(cd "$stage" && rm -f "$dist/$name.zip" && find "$name" -print | sort | TZ=UTC zip -q -X -D "$dist/$name.zip" -@)

step "Python wheels"
wheel() { # library-file, output-dir
    local w="$stage/python-$(basename "$1")"
    rm -rf "$w" && cp -r bindings/python "$w"
    rm -rf "$w/eformidling/_lib" "$w/build" "$w"/*.egg-info && mkdir -p "$w/eformidling/_lib"
    cp "$1" "$w/eformidling/_lib/"
    "$py" -m pip wheel --quiet --no-deps --no-build-isolation -w "$2" "$w"
}
wheel "$linux/libefm.so" "$stage/wheel-linux"
# auditwheel checks the library against the manylinux policies (external libraries, symbol
# versions) and tags the wheel with the oldest policy it satisfies.
"$py" -m auditwheel show "$stage"/wheel-linux/*.whl
"$py" -m auditwheel repair -w "$dist" "$stage"/wheel-linux/*.whl 2>&1 | tail -n 1
wheel "$win/efm.dll" "$dist"

step "NuGet package"
n="$stage/nuget"
mkdir -p "$n/lib/netstandard2.0" "$n/runtimes/win-x64/native" "$n/runtimes/linux-x64/native" "$n/build"
scripts/build-csharp.sh "$n/lib/netstandard2.0"
cp "$win/efm.dll" "$n/runtimes/win-x64/native/"
cp "$linux/libefm.so" "$n/runtimes/linux-x64/native/"
cp bindings/csharp/Eformidling/build/Eformidling.targets "$n/build/"
cp LICENSE-MIT LICENSE-APACHE README.md "$n/"
repo_args=()
if url=$(git remote get-url origin 2>/dev/null); then repo_args=(--repository "$url" --commit "$(git rev-parse HEAD)"); fi
"$py" scripts/nupack.py bindings/csharp/Eformidling/Eformidling.nuspec "$n" "$version" "$dist/Eformidling.$version.nupkg" "${repo_args[@]}"

(cd "$dist" && sha256sum ./*.* > SHA256SUMS)
step "dist/"
(cd "$dist" && ls -l --time-style=+ ./*.* symbols/)
