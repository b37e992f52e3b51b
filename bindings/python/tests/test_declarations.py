"""The bindings' declarations against include/efm.h: every export, its argument and result types,
the result codes and the ABI number. A new or changed export fails here until both the Python
(_native.py) and the C# (Native.cs) declarations follow."""

from __future__ import annotations

import ctypes
import re
from pathlib import Path
from typing import Any, Dict, List, Tuple

from eformidling import ABI_VERSION, ResultCode, _native

ROOT = Path(__file__).resolve().parents[3]
HEADER = (ROOT / "include" / "efm.h").read_text()
NATIVE_CS = (ROOT / "bindings" / "csharp" / "Eformidling" / "Native.cs").read_text()

Signature = Tuple[str, List[str]]


def header_functions() -> Dict[str, Signature]:
    """name -> (result type, [argument types]) of every function the header declares."""
    found: Dict[str, Signature] = {}
    for m in re.finditer(r"^([A-Za-z_][\w ]*?\**)\s*\b(efm_\w+)\(([^)]*)\);", HEADER, re.M):
        ret, name, args = m.group(1).strip(), m.group(2), m.group(3).strip()
        types = [] if args in ("", "void") else [re.sub(r"\s*\b\w+$", "", a.strip()) for a in args.split(",")]
        found[name] = (normalise(ret), [normalise(t) for t in types])
    return found


def normalise(c_type: str) -> str:
    return re.sub(r"\s*\*", "*", re.sub(r"\s+", " ", c_type.strip()))


def header_define(name: str) -> int:
    m = re.search(rf"#define {name} (\d+)", HEADER)
    assert m, name
    return int(m.group(1))


# What each C type must be declared as on the Python side.
def py_type_for(c_type: str) -> Any:
    table: Dict[str, Any] = {
        "void": None,
        "efm_result": ctypes.c_uint32,
        "uint32_t": ctypes.c_uint32,
        "uint16_t": ctypes.c_uint16,
        "int64_t": ctypes.c_int64,
        "bool": ctypes.c_bool,
        "const char*": ctypes.c_char_p,
        "char*": ctypes.c_void_p,
        "void*": ctypes.c_void_p,
        "char**": ctypes.POINTER(ctypes.c_void_p),
        "efm_error*": _native.ErrorPtr,
        "const efm_error*": _native.ErrorPtr,
        "efm_error**": ctypes.POINTER(_native.ErrorPtr),
        "efm_client*": _native.ClientPtr,
        "const efm_client*": _native.ClientPtr,
        "efm_client**": ctypes.POINTER(_native.ClientPtr),
        "efm_progress_callback": _native.PROGRESS_CALLBACK,
        "efm_phase_callback": _native.PHASE_CALLBACK,
        "efm_log_callback": _native.LOG_CALLBACK,
    }
    assert c_type in table, f"no Python mapping for C type {c_type!r}"
    return table[c_type]


def test_python_declares_every_export_as_the_header_does() -> None:
    header = header_functions()
    declared = _native.declarations()
    assert sorted(declared) == sorted(header), "exports missing in or extra to _native.py"
    for name, (ret, args) in header.items():
        py_args, py_ret = declared[name]
        want = [py_type_for(a) for a in args]
        # efm_string_free takes the char* the library gave; ctypes passes it as void*.
        assert py_args == want, f"{name}: arguments {py_args} but the header says {args}"
        assert py_ret == py_type_for(ret), f"{name}: result {py_ret} but the header says {ret}"


# What each C type must be declared as on the C# side (several spellings per type are fine).
CS_TYPES: Dict[str, Tuple[str, ...]] = {
    "void": ("void",),
    "efm_result": ("uint",),
    "uint32_t": ("uint",),
    "uint16_t": ("ushort",),
    "int64_t": ("long",),
    "bool": ("bool",),
    "const char*": ("IntPtr", "byte[]"),
    "char*": ("IntPtr",),
    "void*": ("IntPtr",),
    "char**": ("out IntPtr",),
    "efm_error*": ("IntPtr",),
    "const efm_error*": ("ErrorHandle",),
    "efm_error**": ("out ErrorHandle",),
    "efm_client*": ("IntPtr", "ClientHandle"),
    "const efm_client*": ("ClientHandle",),
    "efm_client**": ("out ClientHandle",),
    "efm_progress_callback": ("ProgressCallback",),
    "efm_phase_callback": ("PhaseCallback",),
    "efm_log_callback": ("LogCallback",),
}


def cs_functions() -> Dict[str, Signature]:
    found: Dict[str, Signature] = {}
    pattern = r"static extern (\w+(?:\[\])?) (efm_\w+)\(([^)]*)\);"
    for m in re.finditer(pattern, NATIVE_CS):
        args = [a.strip() for a in m.group(3).split(",") if a.strip()]
        found[m.group(2)] = (m.group(1), [re.sub(r"\s+\w+$", "", a) for a in args])
    return found


def test_csharp_declares_every_export_as_the_header_does() -> None:
    header = header_functions()
    declared = cs_functions()
    assert sorted(declared) == sorted(header), "exports missing in or extra to Native.cs"
    for name, (ret, args) in header.items():
        cs_ret, cs_args = declared[name]
        assert cs_ret in CS_TYPES[ret], f"{name}: C# result {cs_ret}, header {ret}"
        assert len(cs_args) == len(args), f"{name}: C# takes {cs_args}, header {args}"
        for cs, c in zip(cs_args, args):
            assert cs in CS_TYPES[c], f"{name}: C# argument {cs} for header {c}"
    # bool results and callbacks cross as one byte, as C's bool does
    for m in re.finditer(r"(\[return: MarshalAs\(UnmanagedType\.(\w+)\)\]\s*)?[^\n]*static extern bool (efm_\w+)", NATIVE_CS):
        assert m.group(2) == "I1", f"{m.group(3)} must marshal its bool result as I1"
    assert re.search(r"MarshalAs\(UnmanagedType\.I1\)\]\s*internal delegate bool ProgressCallback", NATIVE_CS)
    assert re.search(r"MarshalAs\(UnmanagedType\.I1\)\]\s*internal delegate bool PhaseCallback", NATIVE_CS)


def test_result_codes_match_the_header() -> None:
    codes = {m.group(1): int(m.group(2)) for m in re.finditer(r"EFM_RESULT_(\w+) = (\d+)", HEADER)}
    assert codes, "no result codes found in the header"
    assert {c.name: int(c) for c in ResultCode} == codes
    cs = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(\w+) = (\d+),", (ROOT / "bindings/csharp/Eformidling/ResultCode.cs").read_text(), re.M)}
    assert sorted(cs.values()) == sorted(codes.values())
    assert {re.sub(r"(?<!^)(?=[A-Z])", "_", n).upper().replace("UTF_8", "UTF8"): v for n, v in cs.items()} == codes


def test_abi_number_comes_from_the_header() -> None:
    abi = header_define("EFM_ABI_VERSION")
    assert ABI_VERSION == abi
    assert _native.lib.efm_abi_version() == abi
    m = re.search(r"AbiVersion = (\d+);", NATIVE_CS)
    assert m and int(m.group(1)) == abi
