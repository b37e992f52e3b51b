#!/usr/bin/env bash
# The Windows build, tested under Wine: cross-build efm.dll (scripts/build-windows.sh), check the
# PE file (exports match the header, only system DLLs imported, ASLR/DEP flags, version resource),
# compile the C tests with mingw-w64 against the import library, and run them under wine64 against
# the Linux efm-sandbox on 127.0.0.1, with Windows paths (Z:/...) in the configurations.
#
# Wine 8 lacks bcryptprimitives.dll (ProcessPrng, imported by Rust's std since 1.78; Windows 10 /
# Server 2016 have it), so a stand-in built from tests/windows/bcryptprimitives.c is put beside the
# test programs. It is never shipped.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sandbox_bin="${EFM_SANDBOX_BIN:-$root/target/debug/efm-sandbox}"
wine="${EFM_WINE:-$(command -v wine64 || echo /usr/lib/wine/wine64)}"
[ -x "$wine" ] || { echo "wine64 not found: apt-get install wine64 (scripts/install-deps.sh)" >&2; exit 1; }
[ -x "$sandbox_bin" ] || { echo "$sandbox_bin missing: cargo build -p efm-sandbox" >&2; exit 1; }

# EFM_WIN_DIR: a directory with efm.dll and libefm.dll.a to test (scripts/test.sh passes the stripped
# copies scripts/package.sh ships); by default the release cross-build.
dll_dir="${EFM_WIN_DIR:-$("$root/scripts/build-windows.sh" x64)}"
out="$root/tests/c/out-win64"
mkdir -p "$out"
cc=x86_64-w64-mingw32-gcc
objdump=x86_64-w64-mingw32-objdump

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n1)
"${EFM_VENV:-$root/.venv}/bin/python" "$root/tests/windows/check_pe.py" "$dll_dir/efm.dll" "$root/include/efm.h" "$version"

flags=(-std=c99 -Wall -Wextra -Werror -pedantic -I"$root/include" -I"$root/tests/c")
for t in test_foundation test_lookup test_flow; do
    "$cc" "${flags[@]}" -o "$out/$t.exe" "$root/tests/c/$t.c" "$dll_dir/libefm.dll.a"
done
"$cc" "${flags[@]}" -o "$out/test_tls.exe" "$root/tests/windows/test_tls.c" "$dll_dir/libefm.dll.a" -lcrypt32
"$cc" "${flags[@]}" -o "$out/test_proxy.exe" "$root/tests/windows/test_proxy.c" "$dll_dir/libefm.dll.a"
echo '#include "efm.h"' | "$cc" "${flags[@]}" -x c -fsyntax-only -
"$cc" -O2 -Wall -Wextra -Werror -shared -o "$out/bcryptprimitives.dll" "$root/tests/windows/bcryptprimitives.c" -lbcrypt
cp "$dll_dir/efm.dll" "$out/"
# The test programs themselves must not need anything beyond efm.dll and system DLLs either.
for t in test_foundation test_lookup test_flow test_tls test_proxy; do
    "$objdump" -p "$out/$t.exe" | awk '/DLL Name:/ {print tolower($3)}' | grep -vxE 'efm.dll|kernel32.dll|msvcrt.dll|crypt32.dll|api-ms-win-crt-.*' \
        && { echo "$t.exe imports an unexpected DLL" >&2; exit 1; }
done

scratch=$(mktemp -d)
. "$root/scripts/sandbox-lib.sh"
tls_pids=()
cleanup() {
    stop_sandbox
    for p in "${tls_pids[@]}"; do kill "$p" 2>/dev/null && { wait "$p" 2>/dev/null || true; }; done
    rm -rf "$scratch"
}
trap 'rc=$?; cleanup; exit $rc' EXIT

# A Wine prefix of our own (created on first use, ~20 s), without the Mono/Gecko installers.
export WINEPREFIX="${EFM_WINEPREFIX:-$root/target/wine-prefix}"
export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree=;mshtml=;winemenubuilder.exe="
unset DISPLAY WAYLAND_DISPLAY
[ -d "$WINEPREFIX" ] || { echo "creating Wine prefix $WINEPREFIX"; "$wine" wineboot --init >/dev/null 2>&1; }
# Wine passes the Unix environment on: a CA file named there would stand in for the Windows store,
# a proxy named there for Windows' proxy settings.  winrun [NAME=VALUE...] PROGRAM ARGS...
winrun() {
    local vars=()
    while [[ $# -gt 0 && $1 =~ ^[A-Z_]+= ]]; do vars+=("$1"); shift; done
    (cd "$out" && env -u SSL_CERT_FILE -u SSL_CERT_DIR -u HTTPS_PROXY -u https_proxy -u ALL_PROXY \
        -u all_proxy -u HTTP_PROXY -u http_proxy "${vars[@]}" "$wine" "$@")
}
# Wine maps the Unix root to drive Z:, so Z:/tmp/x is the Windows name of /tmp/x.
winpath() { echo "Z:$1"; }

mkdir -p "$scratch/foundation"
winrun "$out/test_foundation.exe" "$(winpath "$scratch/foundation")"

start_sandbox "$sandbox_bin" "$scratch/sandbox"
# The configurations name Unix paths; give the Windows programs their Windows names.
for cfg in "$scratch"/sandbox/*/config*.json; do
    sed -i "s#\"$scratch/#\"$(winpath "$scratch")/#g" "$cfg"
done
grep -q "\"Z:$scratch/" "$scratch/sandbox/910075918/config.json"

winrun "$out/test_lookup.exe" "$(winpath "$scratch/sandbox/910075918/config.json")"
mkdir -p "$scratch/flow"
winrun "$out/test_flow.exe" "$(winpath "$scratch/sandbox")" "$(winpath "$scratch/flow")"
# TLS: two servers on 127.0.0.1 (Python's ssl, i.e. OpenSSL), one with a certificate from a
# private CA (given to efm only as ca_bundle), one from a CA that test_tls.exe puts into the
# Windows ROOT store. Certificates made with the openssl CLI.
tls="$scratch/tls"
mkdir -p "$tls"
for ca in private store; do
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tls/$ca-ca.key" -out "$tls/$ca-ca.pem" -days 2 \
        -subj "/CN=efm test $ca CA" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout "$tls/$ca.key" -out "$tls/$ca.csr" -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' > "$tls/ext"
    openssl x509 -req -in "$tls/$ca.csr" -CA "$tls/$ca-ca.pem" -CAkey "$tls/$ca-ca.key" -CAcreateserial \
        -out "$tls/$ca.pem" -days 2 -extfile "$tls/ext" 2>/dev/null
    python3 "$root/tests/windows/tls_server.py" "$tls/$ca.pem" "$tls/$ca.key" >"$tls/$ca.port" &
    tls_pids+=($!)
    for _ in $(seq 50); do [ -s "$tls/$ca.port" ] && break; sleep 0.1; done
    eval "${ca}_url=https://localhost:$(cat "$tls/$ca.port")/token"
done
openssl x509 -in "$tls/store-ca.pem" -outform DER -out "$tls/store-ca.der"
# shellcheck disable=SC2154
winrun "$out/test_tls.exe" "$(winpath "$tls/store-ca.der")" "$(winpath "$tls/private-ca.pem")" \
    "$(winpath "$scratch/sandbox/910075918/config.json")" "$private_url" "$store_url"

# OpenSSL inside efm.dll reads no configuration file (ffi/openssl_init.rs), so it loads no engine or
# provider module from its compiled-in directories (check_pe.py prints them). Proof under Wine: an
# openssl.cnf named by OPENSSL_CONF (the default, under the OPENSSLDIR compiled in,
# "<build dir>/SYSANAGER:[OPENSSL]", holds a colon: no ordinary Windows directory) that activates
# only the null provider, which would make every signature and decryption fail. The lookup (JWT
# signing, signed registry answer) and the message flow (CMS, ASiC-E) must pass. (With the
# configuration read, the lookup fails: tried by disabling ffi/openssl_init.rs.)
planted="$scratch/planted"
mkdir -p "$planted"
cat >"$planted/openssl.cnf" <<CNF
openssl_conf = efm_planted
[efm_planted]
providers = efm_providers
[efm_providers]
null = efm_null
[efm_null]
activate = 1
CNF
planted_env=(OPENSSL_CONF="$(winpath "$planted/openssl.cnf")")
winrun "${planted_env[@]}" "$out/test_lookup.exe" "$(winpath "$scratch/sandbox/910075918/config.json")"
mkdir -p "$scratch/flow-planted"
winrun "${planted_env[@]}" "$out/test_flow.exe" "$(winpath "$scratch/sandbox")" "$(winpath "$scratch/flow-planted")"
echo "windows: an openssl.cnf named by OPENSSL_CONF was not read"

# The Windows system proxy ("proxy": "system"; ffi/windows_proxy.rs): proxies on 127.0.0.1 that
# log what goes through them, named in the Wine prefix's registry the way Internet Options and
# netsh write it. The sandbox's URLs are loopback ones, which Windows sends past a manual proxy
# unless the bypass list says <-loopback>.
proxy_log="$scratch/proxy.log"
python3 "$root/tests/windows/proxy_server.py" "$proxy_log" "$scratch/proxy.pac" >"$scratch/proxy.port" &
tls_pids+=($!)
for _ in $(seq 50); do [ -s "$scratch/proxy.port" ] && break; sleep 0.1; done
proxy_port=$(cat "$scratch/proxy.port")
# The PAC script the proxy serves at /proxy.pac (read per request): loopback goes through it.
printf 'function FindProxyForURL(url, host) {\n  if (host == "127.0.0.1") return "PROXY 127.0.0.1:%s";\n  return "DIRECT";\n}\n' \
    "$proxy_port" >"$scratch/proxy.pac"
sandbox_port=$(sed -n 's#.*"http://127\.0\.0\.1:\([0-9][0-9]*\).*#\1#p' "$scratch/sandbox/910075918/config.json" | head -n1)
[ -n "$sandbox_port" ] || { echo "no sandbox port in the configuration" >&2; exit 1; }
settings='HKCU\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections'
machine='HKLM\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections'
# The binary settings blobs: version, counter, flags (1 direct, 2 proxy, 4 PAC URL, 8 detect),
# then length-prefixed proxy list, bypass list and (Internet Options) PAC URL.
blob() { python3 -c 'import struct, sys
def s(x): return struct.pack("<I", len(x)) + x.encode()
magic, flags = int(sys.argv[1], 0), int(sys.argv[2], 0)
print((struct.pack("<III", magic, 0, flags) + b"".join(s(a) for a in sys.argv[3:])).hex())' "$@"; }
set_internet_options() { "$wine" reg add "$settings" /v DefaultConnectionSettings /t REG_BINARY /d "$(blob 0x46 "$@")" /f >/dev/null 2>&1; }
set_winhttp() { "$wine" reg add "$machine" /v WinHttpSettings /t REG_BINARY /d "$(blob 0x18 "$@")" /f >/dev/null 2>&1; }
proxy_case() {  # proxy_case WHAT through|direct
    : >"$proxy_log"
    winrun "$out/test_proxy.exe" "$(winpath "$scratch/sandbox/910075918/config.json")"
    if [ "$2" = through ]; then
        grep -qE "^(CONNECT 127.0.0.1:$sandbox_port|[A-Z]+ http://127.0.0.1:$sandbox_port/)" "$proxy_log" \
            || { echo "$1: the lookup did not go through the proxy; its log:" >&2; cat "$proxy_log" >&2; exit 1; }
    else
        ! grep -q "127.0.0.1:$sandbox_port" "$proxy_log" \
            || { echo "$1: the lookup went through the proxy; its log:" >&2; cat "$proxy_log" >&2; exit 1; }
    fi
    echo "windows proxy: $1: $2 ($(grep -c . "$proxy_log") requests seen by the proxy)"
}
set_internet_options 0x3 "127.0.0.1:$proxy_port" "<-loopback>" ""
proxy_case "Internet Options proxy" through
set_internet_options 0x3 "127.0.0.1:$proxy_port" "*.corp.example" ""
proxy_case "Internet Options proxy, loopback not listed" direct
set_internet_options 0x5 "" "" "http://127.0.0.1:$proxy_port/proxy.pac"
proxy_case "PAC script" through
grep -q "^GET /proxy.pac" "$proxy_log" || { echo "the PAC script was never fetched" >&2; exit 1; }
set_internet_options 0x1 "" "" ""
set_winhttp 0x3 "127.0.0.1:$proxy_port" "<-loopback>"
proxy_case "WinHTTP machine proxy" through
set_winhttp 0x1 "" ""
proxy_case "no proxy configured" direct

echo "windows: C tests passed under $("$wine" --version)"
