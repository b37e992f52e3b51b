"""Builds the eformidling wheel: the ctypes binding plus the native efm library inside the package
(eformidling/_lib/). The Python code is interpreter-independent, the library is not platform-
independent, so the wheel is tagged py3-none-<platform> (manylinux after `auditwheel repair`,
win_amd64 / win32 for efm.dll). Everything else is configured in pyproject.toml.

Where the library comes from, first match wins:
1. eformidling/_lib/ already holds it (scripts/package.sh puts the release build there);
2. EFM_LIBRARY names a built library, which is copied in;
3. this is a checkout of the efm repository and cargo is installed: `cargo build --release -p efm`
   builds it (linked to the system OpenSSL; the published wheels link it statically).
Otherwise the build stops with a message that says what to do.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent
LIB_DIR = HERE / "eformidling" / "_lib"
LIB_NAMES = ("libefm.so", "efm.dll", "libefm.dylib")
REPO = HERE.parent.parent


def bundled_library():
    found = [LIB_DIR / n for n in LIB_NAMES if (LIB_DIR / n).is_file()]
    if len(found) > 1:
        sys.exit(f"eformidling: {LIB_DIR} holds several libraries ({', '.join(p.name for p in found)}); keep one")
    return found[0] if found else None


def build_with_cargo():
    """Runs cargo in the surrounding efm checkout and returns the built shared library."""
    cmd = ["cargo", "build", "--release", "--locked", "-p", "efm", "--message-format=json-render-diagnostics"]
    print("eformidling: building the efm library: " + " ".join(cmd), file=sys.stderr)
    try:
        run = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, check=True, text=True)
    except subprocess.CalledProcessError as e:
        sys.exit(f"eformidling: `{' '.join(cmd)}` failed (exit {e.returncode}); see the messages above")
    for line in run.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "efm":
            for f in msg["filenames"]:
                if Path(f).name in LIB_NAMES:
                    return Path(f)
    sys.exit("eformidling: cargo finished but reported no efm shared library")


def ensure_library():
    if bundled_library():
        return
    explicit = os.environ.get("EFM_LIBRARY")
    if explicit:
        source = Path(explicit)
        if not source.is_file():
            sys.exit(f"eformidling: EFM_LIBRARY names {explicit}, which does not exist")
    elif (REPO / "Cargo.toml").is_file() and (REPO / "ffi").is_dir() and shutil.which("cargo"):
        source = build_with_cargo()
    else:
        sys.exit(
            "eformidling: the native efm library is missing, so this package cannot be built.\n"
            "  - To install efm, use a released wheel: pip install eformidling (or the .whl file)\n"
            "  - From a checkout of the efm repository, install Rust (https://rustup.rs) and rerun:\n"
            "    pip install ./bindings/python  (it runs cargo build --release -p efm)\n"
            "  - Or build the library yourself and set EFM_LIBRARY=/path/to/libefm.so (or efm.dll)"
        )
    LIB_DIR.mkdir(exist_ok=True)
    name = source.name if source.name in LIB_NAMES else LIB_NAMES[0]
    shutil.copy2(source, LIB_DIR / name)


def windows_platform(dll):
    """win_amd64 or win32, from the PE header's machine field."""
    data = dll.read_bytes()[:4096]
    pe = int.from_bytes(data[0x3C:0x40], "little")
    machine = int.from_bytes(data[pe + 4 : pe + 6], "little")
    platforms = {0x8664: "win_amd64", 0x14C: "win32", 0xAA64: "win_arm64"}
    if data[pe : pe + 4] != b"PE\0\0" or machine not in platforms:
        sys.exit(f"eformidling: {dll} is not a Windows x64/x86/ARM64 DLL")
    return platforms[machine]


class BuildPy(build_py):
    def run(self):
        ensure_library()
        super().run()


class BdistWheel(bdist_wheel):
    def get_tag(self):
        ensure_library()
        lib = bundled_library()
        if lib.name == "efm.dll":
            return "py3", "none", windows_platform(lib)
        return "py3", "none", super().get_tag()[2]


class NativeLibraryDistribution(Distribution):
    def has_ext_modules(self):
        return True


# The package directory must exist for metadata to be prepared; the library itself is checked
# (and built or refused, with advice) when the wheel is built.
LIB_DIR.mkdir(exist_ok=True)
setup(distclass=NativeLibraryDistribution, cmdclass={"build_py": BuildPy, "bdist_wheel": BdistWheel})
