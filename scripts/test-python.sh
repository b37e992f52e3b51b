#!/usr/bin/env bash
# Install the Python binding into the project venv (with the freshly built library inside the
# package, as a wheel would ship it) and run its tests and the cross-language Python tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="${EFM_VENV:-$root/.venv}"
lib="${EFM_LIB_DIR:-$root/target/debug}"
pkg="$root/bindings/python"

mkdir -p "$pkg/eformidling/_lib"
cp "$lib/libefm.so" "$pkg/eformidling/_lib/libefm.so"
"$venv/bin/pip" install --quiet --no-deps --force-reinstall "$pkg"
rm -rf "$pkg/build" "$pkg"/*.egg-info

cd "$root"
# The package and its tests type-check under mypy --strict.
"$venv/bin/python" -m mypy --strict --no-incremental "$pkg/eformidling" "$pkg/tests"
# Run from outside the source tree so the installed package (not the checkout) is imported.
# The binding's tests, and the sandbox conformance tests (zeep over the WSDLs, openapi-core over
# the Altinn 3 OpenAPI, PyJWT against Maskinporten and the registry) on the built efm-sandbox.
export EFM_SANDBOX_BIN="${EFM_SANDBOX_BIN:-$lib/efm-sandbox}"
"$venv/bin/python" -m pytest -q -p no:cacheprovider --rootdir "$root" "$pkg/tests" "$root/tests/sandbox" "$@"
