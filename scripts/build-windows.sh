#!/usr/bin/env bash
# Cross-build efm.dll for Windows with the mingw-w64 toolchain (Debian's gcc-mingw-w64-*), OpenSSL
# compiled from source into the DLL (the `vendored` feature, Windows targets only).
# Usage: scripts/build-windows.sh [x64|x86]   (default x64)
# Writes target/<triple>/release/{efm.dll,libefm.dll.a} and prints that directory.
# The first build takes about 10 minutes on 2 cores (mostly OpenSSL); later ones reuse it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
case "${1:-x64}" in
    x64) triple=x86_64-pc-windows-gnu; gcc=x86_64-w64-mingw32-gcc; apt=gcc-mingw-w64-x86-64 ;;
    x86) triple=i686-pc-windows-gnu; gcc=i686-w64-mingw32-gcc; apt=gcc-mingw-w64-i686 ;;
    *) echo "usage: $0 [x64|x86]" >&2; exit 2 ;;
esac
command -v "$gcc" >/dev/null || { echo "$gcc not found: apt-get install $apt (scripts/install-deps.sh)" >&2; exit 1; }
rustup target list --installed 2>/dev/null | grep -qx "$triple" || rustup target add "$triple" >&2
cd "$root"
nice -n 10 cargo build --release --locked --target "$triple" -p efm >&2
echo "$root/target/$triple/release"
