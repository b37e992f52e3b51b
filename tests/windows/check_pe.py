"""Check a Windows build of efm with pefile (an independent PE parser), not with our own tools.

    python check_pe.py efm.dll include/efm.h VERSION [--machine x64|x86] [--stripped]

Fails (exit 1, one line per problem) unless:
- the file is a DLL for the expected machine, with ASLR (and high-entropy ASLR on x64) and DEP;
- every function the header declares is exported by name, and nothing but efm_* functions is;
- it imports only DLLs that ship with Windows (no mingw runtime, no OpenSSL DLLs);
- it carries a version resource whose FileVersion and ProductVersion are VERSION;
- with --stripped: it has no DWARF sections left.

It also prints the directories OpenSSL has compiled in. They are the build machine's, which is why
efm.dll never lets OpenSSL read a configuration file, the route by which they would be used to
load an engine or provider module (scripts/test-windows.sh proves that under Wine).
"""

from __future__ import annotations

import argparse
import re
import sys

import pefile

# DLLs every supported Windows (10 / Server 2016 and newer) has in System32.
SYSTEM_DLLS = {
    "advapi32.dll", "bcrypt.dll", "bcryptprimitives.dll", "crypt32.dll", "gdi32.dll",
    "kernel32.dll", "msvcrt.dll", "ncrypt.dll", "ntdll.dll", "ole32.dll", "oleaut32.dll",
    "secur32.dll", "shell32.dll", "user32.dll", "userenv.dll", "winhttp.dll", "ws2_32.dll",
}
SYSTEM_PREFIXES = ("api-ms-win-",)


def header_functions(header: str) -> set[str]:
    text = open(header, encoding="utf-8").read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return set(re.findall(r"\b(efm_[a-z0-9_]+)\s*\(", text))


def check(path: str, header: str, version: str, machine: str, stripped: bool) -> list[str]:
    problems = []
    pe = pefile.PE(path)
    want_machine = {"x64": 0x8664, "x86": 0x14C}[machine]
    if pe.FILE_HEADER.Machine != want_machine:
        problems.append(f"machine is {pe.FILE_HEADER.Machine:#x}, expected {machine}")
    if not pe.is_dll():
        problems.append("not a DLL")
    flags = pe.OPTIONAL_HEADER.DllCharacteristics
    need = {"DYNAMIC_BASE (ASLR)": 0x40, "NX_COMPAT (DEP)": 0x100}
    if machine == "x64":
        need["HIGH_ENTROPY_VA"] = 0x20
    for name, bit in need.items():
        if not flags & bit:
            problems.append(f"DllCharacteristics lacks {name}")

    exports = {s.name.decode() for s in getattr(pe, "DIRECTORY_ENTRY_EXPORT").symbols if s.name}
    declared = header_functions(header)
    if not declared:
        problems.append(f"no efm_ functions found in {header}")
    for name in sorted(declared - exports):
        problems.append(f"{name} is declared in the header but not exported")
    for name in sorted(e for e in exports if not e.startswith("efm_")):
        problems.append(f"unexpected export {name}")

    imports = sorted(e.dll.decode().lower() for e in pe.DIRECTORY_ENTRY_IMPORT)
    for dll in imports:
        if dll not in SYSTEM_DLLS and not dll.startswith(SYSTEM_PREFIXES):
            problems.append(f"imports {dll}, which Windows does not ship")

    data = open(path, "rb").read()
    for key in (b"OPENSSLDIR", b"ENGINESDIR", b"MODULESDIR"):
        for m in re.finditer(key + rb': "([^"\0]*)"', data):
            print(f"{path}: OpenSSL's compiled-in {key.decode()} is {m.group(1).decode(errors='replace')!r}")

    strings = {}
    for info in getattr(pe, "FileInfo", []):
        for entry in info:
            for table in getattr(entry, "StringTable", []):
                strings.update({k.decode(): v.decode() for k, v in table.entries.items()})
    if not strings:
        problems.append("no version resource")
    else:
        for key in ("FileVersion", "ProductVersion"):
            if strings.get(key) != version:
                problems.append(f"version resource {key} is {strings.get(key)!r}, expected {version!r}")
        for key in ("FileDescription", "ProductName", "OriginalFilename", "LegalCopyright"):
            if not strings.get(key):
                problems.append(f"version resource lacks {key}")
        fixed = pe.VS_FIXEDFILEINFO[0]
        numbers = [fixed.FileVersionMS >> 16, fixed.FileVersionMS & 0xFFFF, fixed.FileVersionLS >> 16]
        if ".".join(map(str, numbers)) != version.split("-")[0]:
            problems.append(f"fixed file version {numbers} does not match {version}")

    if stripped:
        # DWARF sections have long names (".debug_info"), which PE stores as "/<offset>"; the one
        # long-named section a stripped DLL keeps is the small .gnu_debuglink.
        debug = [s.Name.rstrip(b"\0").decode() for s in pe.sections
                 if (s.Name.startswith(b"/") or s.Name.startswith(b".debug")) and s.SizeOfRawData > 512]
        if debug:
            problems.append(f"not stripped: sections {debug}")

    print(f"{path}: {machine} DLL, {len(exports)} exports, imports {', '.join(sorted(set(imports)))}; "
          f"version resource {strings.get('FileVersion')!r}")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dll")
    ap.add_argument("header")
    ap.add_argument("version")
    ap.add_argument("--machine", default="x64", choices=["x64", "x86"])
    ap.add_argument("--stripped", action="store_true")
    a = ap.parse_args()
    problems = check(a.dll, a.header, a.version, a.machine, a.stripped)
    for p in problems:
        print(f"{a.dll}: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
