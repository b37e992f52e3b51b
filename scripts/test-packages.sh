#!/usr/bin/env bash
# The packages in dist/ (scripts/package.sh) installed the way their users install them, each run
# against efm-sandbox on 127.0.0.1:
# - NuGet: Eformidling restored from a local folder feed into a fresh .NET Framework 4.7.2 project
#   (packages.config, as Visual Studio makes it), built with xbuild, run on Mono: a lookup and a
#   send/receive. Then what the build .targets does for Windows builds: x64 gets efm.dll copied,
#   a 32-bit process (Prefer32Bit) gets an error that says what to change.
# - Python: the manylinux wheel in a fresh venv, the flow run with an empty environment; the
#   Windows wheel's tag and contents; a source install without a library stops with advice.
# - C: the Linux archive used through pkg-config only; the program finds libefm by its SONAME.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dist="$root/dist"
venv="${EFM_VENV:-$root/.venv}"
sandbox_bin="${EFM_SANDBOX_BIN:-$root/target/debug/efm-sandbox}"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n1)
abi=$(sed -n 's/^#define EFM_ABI_VERSION \([0-9]*\)$/\1/p' "$root/include/efm.h")
[ -f "$dist/Eformidling.$version.nupkg" ] || { echo "dist/ has no Eformidling.$version.nupkg: run scripts/package.sh" >&2; exit 1; }
scratch=$(mktemp -d)
. "$root/scripts/sandbox-lib.sh"
cleanup() { stop_sandbox; rm -rf "$scratch"; }
trap 'rc=$?; cleanup; exit $rc' EXIT
start_sandbox "$sandbox_bin" "$scratch/sandbox"
passed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
expect_failure() { # what, log, expected text, command...
    local what=$1 log=$2 text=$3; shift 3
    if "$@" >"$log" 2>&1; then echo "$what unexpectedly succeeded" >&2; cat "$log" >&2; exit 1; fi
    grep -q -- "$text" "$log" || { echo "$what failed without saying \"$text\":" >&2; cat "$log" >&2; exit 1; }
}

# --- NuGet ------------------------------------------------------------------------------------
app="$scratch/nuget-app"
src="$root/tests/packaging/nuget-consumer"
mkdir -p "$app/feed"
cp "$dist/Eformidling.$version.nupkg" "$app/feed/"
cp "$src/Program.cs" "$app/"
sed "s/@VERSION@/$version/g" "$src/App.csproj.in" > "$app/App.csproj"
sed "s/@VERSION@/$version/g" "$src/packages.config.in" > "$app/packages.config"
(cd "$app" && nuget restore packages.config -PackagesDirectory packages -Source "$app/feed" -NonInteractive >"$scratch/restore.log") \
    || { cat "$scratch/restore.log" >&2; exit 1; }
(cd "$app" && xbuild /nologo /verbosity:quiet App.csproj >"$scratch/xbuild.log") || { cat "$scratch/xbuild.log" >&2; exit 1; }
cmp "$app/bin/Release/libefm.so" "$app/packages/Eformidling.$version/runtimes/linux-x64/native/libefm.so"
mkdir -p "$scratch/nuget-run"
(cd "$scratch" && env -u LD_LIBRARY_PATH -u EFM_LIBRARY mono "$app/bin/Release/EfmConsumer.exe" "$scratch/sandbox" "$scratch/nuget-run" "$version")
ok "NuGet package restored from a folder feed into a .NET Framework 4.7.2 project, lookup + send/receive on Mono"

# The .targets on a Windows build (OS=Windows_NT as MSBuild sets it there): the x64 library by default
(cd "$app" && xbuild /nologo /verbosity:quiet /p:OS=Windows_NT /p:OutputPath=bin/win-x64/ App.csproj >"$scratch/xbuild-win.log") \
    || { cat "$scratch/xbuild-win.log" >&2; exit 1; }
cmp "$app/bin/win-x64/efm.dll" "$app/packages/Eformidling.$version/runtimes/win-x64/native/efm.dll"
[ ! -e "$app/bin/win-x64/libefm.so" ]
ok "build .targets copies runtimes/win-x64/native/efm.dll next to a Windows AnyCPU application"
if [ ! -e "$app/packages/Eformidling.$version/runtimes/win-x86/native/efm.dll" ]; then
    expect_failure "a 32-bit (Prefer32Bit) Windows build" "$scratch/xbuild-x86.log" "Prefer32Bit&gt;false\|<Prefer32Bit>false" \
        bash -c "cd '$app' && xbuild /nologo /p:OS=Windows_NT /p:Prefer32Bit=true /p:OutputPath=bin/win-x86/ App.csproj"
    ok "build .targets stops a 32-bit Windows build (no win-x86 library) with what to change"
fi

# --- Python -----------------------------------------------------------------------------------
python3 -m venv "$scratch/venv"
wheel=$(ls "$dist"/eformidling-"$version"-py3-none-manylinux_*_x86_64.whl)
"$scratch/venv/bin/pip" install --quiet --no-index "$wheel"
mkdir -p "$scratch/py"
(cd "$scratch" && env -i PATH=/usr/bin:/bin "$scratch/venv/bin/python" "$root/tests/packaging/wheel_flow.py" "$scratch/sandbox" "$scratch/py" "$version")
ok "$(basename "$wheel") in a fresh venv, lookup + send/receive with an empty environment"

"$venv/bin/python" - "$dist/eformidling-$version-py3-none-win_amd64.whl" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = z.namelist()
wheel = z.read(next(n for n in names if n.endswith(".dist-info/WHEEL"))).decode()
assert "Tag: py3-none-win_amd64" in wheel and "Root-Is-Purelib: false" in wheel, wheel
assert "eformidling/_lib/efm.dll" in names and not any(n.endswith(".so") for n in names), names
assert z.read("eformidling/_lib/efm.dll")[:2] == b"MZ"
PY
ok "Windows wheel is py3-none-win_amd64 and carries eformidling/_lib/efm.dll"

cp -r "$root/bindings/python" "$scratch/src-python"
rm -rf "$scratch/src-python/eformidling/_lib" "$scratch/src-python/build" "$scratch/src-python"/*.egg-info
expect_failure "a source build outside the repository without a library" "$scratch/src.log" "the native efm library is missing" \
    env -u EFM_LIBRARY "$venv/bin/pip" wheel --no-deps --no-build-isolation -w "$scratch/src-wheel" "$scratch/src-python"
ok "source install without a library stops and says how to get one"

# --- C archive --------------------------------------------------------------------------------
mkdir -p "$scratch/c"
tar -xzf "$dist/efm-$version-linux-x64.tar.gz" -C "$scratch/c"
prefix="$scratch/c/efm-$version-linux-x64"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
[ "$(pkg-config --modversion efm)" = "$version" ]
# shellcheck disable=SC2046
gcc -std=c99 -Wall -Wextra -Werror -I"$root/tests/c" $(pkg-config --cflags efm) -o "$scratch/c/test_lookup" \
    "$root/tests/c/test_lookup.c" $(pkg-config --libs efm) -Wl,-rpath,"$(pkg-config --variable=libdir efm)"
readelf -d "$scratch/c/test_lookup" | grep -q "NEEDED.*\[libefm.so.$abi\]"
env -u LD_LIBRARY_PATH "$scratch/c/test_lookup" "$scratch/sandbox/910075918/config.json"
ok "C archive: built with pkg-config, linked to libefm.so.$abi by SONAME, lookup against the sandbox"

echo "packages: $passed passed, 0 failed"
