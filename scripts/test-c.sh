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
g++ -std=c++11 "${flags[@]}" -o "$out/header_cpp" "$root/tests/c/header_cpp.cpp" -L"$lib" -lefm
# The header alone, as a C translation unit, with the strictest flags.
echo '#include "efm.h"' | gcc -std=c99 "${flags[@]}" -x c -fsyntax-only -

scratch=$(mktemp -d)
. "$root/scripts/sandbox-lib.sh"
cleanup() {
    stop_sandbox
    rm -rf "$scratch"
}
trap 'rc=$?; cleanup; exit $rc' EXIT
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
vg=(valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible
    --errors-for-leak-kinds=definite,indirect,possible --suppressions="$root/tests/c/valgrind.supp")
"${vg[@]}" "$out/test_foundation" "$scratch"
"${vg[@]}" "$out/header_cpp"

# The lookup test talks to a real efm-sandbox on loopback.
start_sandbox "$lib/efm-sandbox" "$scratch/sandbox"
"${vg[@]}" "$out/test_lookup" "$scratch/sandbox/910075918/config.json"
mkdir -p "$scratch/flow"
"${vg[@]}" "$out/test_flow" "$scratch/sandbox" "$scratch/flow"
