#!/usr/bin/env bash
# Build the C# binding and its NUnit tests with Mono's mcs and run them with nunit-console against
# the debug libefm.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lib="${EFM_LIB_DIR:-$root/target/debug}"
src="$root/bindings/csharp"
out="$src/out"
mkdir -p "$out"
nunit=$(ls /usr/lib/cli/nunit.framework-*/nunit.framework.dll | head -n1)

mcs -nologo -warnaserror -target:library -out:"$out/Eformidling.dll" -doc:"$out/Eformidling.xml" -nowarn:1591 \
    "$src"/Eformidling/*.cs
mcs -nologo -warnaserror -target:library -out:"$out/Eformidling.Tests.dll" \
    -r:"$out/Eformidling.dll" -r:"$nunit" "$src"/Eformidling.Tests/*.cs
# The README's C# example, as written (tests/readme/Example.cs is the README block).
mcs -nologo -warnaserror -out:"$out/Example.exe" -r:"$out/Eformidling.dll" "$root/tests/readme/Example.cs"
cp "$nunit" "$out/"

export EFM_SANDBOX_BIN="${EFM_SANDBOX_BIN:-$lib/efm-sandbox}"
export EFM_HEADER="$root/include/efm.h"
export EFM_LIB_DIR="$lib"
export EFM_README_EXAMPLE="$out/Example.exe"
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cd "$out"
nunit-console -nologo -noshadow -labels "$out/Eformidling.Tests.dll" -xml="$out/TestResult.xml" 2>&1 | tee "$out/nunit.log"
line=$(grep -E "^Tests run:" "$out/nunit.log")
run=$(echo "$line" | sed -E "s/.*Tests run: ([0-9]+).*/\1/")
bad=$(echo "$line" | sed -E "s/.*Errors: ([0-9]+), Failures: ([0-9]+).*/\1+\2/")
failed=$((bad))
echo "csharp: $((run - failed)) passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$run" -gt 0 ]
