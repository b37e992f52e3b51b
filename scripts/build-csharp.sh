#!/usr/bin/env bash
# Build the Eformidling assembly for the NuGet package's lib/netstandard2.0/ into OUT_DIR
# (Eformidling.dll and its XML documentation). Usage: scripts/build-csharp.sh OUT_DIR
#
# With the .NET SDK installed, `dotnet build` of the csproj does it. Without it (Debian has no
# .NET SDK, and nuget.org, where the netstandard reference pack lives, is out of reach), Mono's mcs
# compiles the same sources against mscorlib of the .NET Framework 4.6.1 reference profile, after
# which the one assembly reference (mscorlib) is retargeted to netstandard 2.0.0.0 with Mono.Cecil (packaging/RetargetNetstandard.cs). The
# binding only uses System types that netstandard 2.0 defines under the same names; the check at
# the end fails if the result references anything but netstandard.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: $0 OUT_DIR}
src="$root/bindings/csharp/Eformidling"
mkdir -p "$out"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n1)

if command -v dotnet >/dev/null && dotnet --list-sdks 2>/dev/null | grep -q .; then
    dotnet build "$src/Eformidling.csproj" -c Release -nologo -p:Version="$version" -o "$out"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ref=/usr/lib/mono/4.6.1-api
cat > "$work/AssemblyInfo.cs" <<CS
[assembly: System.Reflection.AssemblyVersion("$version.0")]
[assembly: System.Reflection.AssemblyFileVersion("$version.0")]
[assembly: System.Reflection.AssemblyInformationalVersion("$version")]
[assembly: System.Reflection.AssemblyProduct("Eformidling (efm)")]
[assembly: System.Runtime.Versioning.TargetFramework(".NETStandard,Version=v2.0", FrameworkDisplayName = "")]
CS
mcs -nologo -warnaserror -optimize+ -nostdlib -r:"$ref/mscorlib.dll" -target:library \
    -out:"$work/Eformidling.dll" -doc:"$out/Eformidling.xml" -nowarn:1591 "$src"/*.cs "$work/AssemblyInfo.cs"
cecil=$(ls -d /usr/lib/mono/gac/Mono.Cecil/0.11.*/Mono.Cecil.dll | head -n1)
mcs -nologo -warnaserror -r:"$cecil" -out:"$work/RetargetNetstandard.exe" "$root/packaging/RetargetNetstandard.cs"
MONO_PATH="$(dirname "$cecil")" mono "$work/RetargetNetstandard.exe" "$work/Eformidling.dll" "$out/Eformidling.dll"
refs=$(ikdasm "$out/Eformidling.dll" | sed -n 's/^\.assembly extern \(\S*\).*/\1/p' | tr '\n' ' ')
[ "$refs" = "netstandard " ] || { echo "Eformidling.dll references: $refs (expected netstandard only)" >&2; exit 1; }
echo "$out/Eformidling.dll: netstandard2.0, references $refs"
