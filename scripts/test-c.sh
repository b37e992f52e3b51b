#!/usr/bin/env bash
# Compile the header and the C tests strictly (C99 pedantic, and as C++), link them against the
# debug libefm, and run them under valgrind: any memory error or leak fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lib="${EFM_LIB_DIR:-$root/target/debug}"
out="$root/tests/c/out"
mkdir -p "$out"
flags=(-Wall -Wextra -Werror -pedantic -I"$root/include" -I"$root/tests/c")

gcc -std=c99 "${flags[@]}" -o "$out/test_foundation" "$root/tests/c/test_foundation.c" -L"$lib" -lefm
gcc -std=c99 -D_POSIX_C_SOURCE=199309L "${flags[@]}" -o "$out/test_flow" "$root/tests/c/test_flow.c" -L"$lib" -lefm
gcc -std=c99 "${flags[@]}" -o "$out/test_lookup" "$root/tests/c/test_lookup.c" -L"$lib" -lefm
gcc -std=c99 -pthread "${flags[@]}" -o "$out/test_boundary" "$root/tests/c/test_boundary.c" -L"$lib" -lefm
# The README's C example, as written (tests/readme/example.c is the README block).
gcc -std=c99 "${flags[@]}" -o "$out/readme_example" "$root/tests/readme/example.c" -L"$lib" -lefm
g++ -std=c++11 "${flags[@]}" -o "$out/header_cpp" "$root/tests/c/header_cpp.cpp" -L"$lib" -lefm
# The header alone, as a C translation unit, with the strictest flags.
echo '#include "efm.h"' | gcc -std=c99 "${flags[@]}" -x c -fsyntax-only -

scratch=$(mktemp -d)
sandbox_pid=
cleanup() {
    [ -n "$sandbox_pid" ] && kill "$sandbox_pid" 2>/dev/null && wait "$sandbox_pid" 2>/dev/null
    rm -rf "$scratch"
}
trap cleanup EXIT
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
vg=(valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible
    --errors-for-leak-kinds=definite,indirect,possible --suppressions="$root/tests/c/valgrind.supp")
"${vg[@]}" "$out/test_foundation" "$scratch"
"${vg[@]}" "$out/header_cpp"

# The lookup test talks to a real efm-sandbox on loopback.
mkfifo "$scratch/sandbox.out"
"$lib/efm-sandbox" --dir "$scratch/sandbox" --no-stdin >"$scratch/sandbox.out" 2>"$scratch/sandbox.log" &
sandbox_pid=$!
exec 3<"$scratch/sandbox.out"
read -r first <&3
case "$first" in "efm-sandbox listening on "*) ;; *) echo "efm-sandbox did not start: $first" >&2; cat "$scratch/sandbox.log" >&2; exit 1;; esac
cat <&3 >/dev/null &
"${vg[@]}" "$out/test_lookup" "$scratch/sandbox/910075918/config.json"
mkdir -p "$scratch/boundary" "$scratch/flow"
"${vg[@]}" "$out/test_boundary" "$scratch/sandbox" "$scratch/boundary"
"${vg[@]}" "$out/test_flow" "$scratch/sandbox" "$scratch/flow"

# The README example runs as a user would: efm.json and the documents in the current directory.
mkdir -p "$scratch/readme"
cp "$scratch/sandbox/910075918/config.json" "$scratch/readme/efm.json"
echo '<arkivmelding/>' >"$scratch/readme/arkivmelding.xml"
head -c 200000 /dev/urandom >"$scratch/readme/vedtak.pdf"
(cd "$scratch/readme" && "${vg[@]}" "$out/readme_example" >"$scratch/readme/out.txt")
if grep -q '^sent: .*"status":"SENDT"' "$scratch/readme/out.txt"; then
    echo "c readme example: 1 passed, 0 failed"
else
    echo "c readme example: 0 passed, 1 failed" >&2
    cat "$scratch/readme/out.txt" >&2
    exit 1
fi
