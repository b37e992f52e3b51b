#!/usr/bin/env bash
# Compile the header and the C tests strictly (C99 pedantic, and as C++), link them against the
# debug libefm, and run them under valgrind: any memory error or leak fails.
# With EFM_C_SANITIZER=address (scripts/test-c-asan.sh) they are built with AddressSanitizer instead
# and run without valgrind, against the libefm in EFM_LIB_DIR (built with -Zsanitizer=address).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lib="${EFM_LIB_DIR:-$root/target/debug}"
sandbox_bin="${EFM_SANDBOX_BIN:-$lib/efm-sandbox}"
out="$root/tests/c/out"
flags=(-Wall -Wextra -Werror -pedantic -I"$root/include" -I"$root/tests/c")
if [ "${EFM_C_SANITIZER:-}" = address ]; then
    out="$root/tests/c/out-asan"
    flags+=(-g -fsanitize=address -fno-omit-frame-pointer)
fi
mkdir -p "$out"

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
. "$root/scripts/sandbox-lib.sh"
cleanup() {
    stop_sandbox
    rm -rf "$scratch"
}
trap 'rc=$?; cleanup; exit $rc' EXIT
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
vg=(valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible
    --errors-for-leak-kinds=definite,indirect,possible --suppressions="$root/tests/c/valgrind.supp")
if [ "${EFM_C_SANITIZER:-}" = address ]; then
    # AddressSanitizer (and its leak checker) is in the binaries; a finding exits with 99.
    export ASAN_OPTIONS="exitcode=99:detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1"
    export LSAN_OPTIONS="exitcode=99"
    vg=(env)
fi
"${vg[@]}" "$out/test_foundation" "$scratch"
"${vg[@]}" "$out/header_cpp"

# The lookup test talks to a real efm-sandbox on loopback.
start_sandbox "$sandbox_bin" "$scratch/sandbox"
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
