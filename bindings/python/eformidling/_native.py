"""ctypes declarations for libefm: one argtypes/restype line per exported function.

The library is found by absolute path: $EFM_LIBRARY if set, else the copy shipped inside this
package (eformidling/_lib/). Loading checks the ABI revision and refuses a mismatched library.
"""

from __future__ import annotations

import ctypes
import os
import sys
from ctypes import POINTER, c_char_p, c_int64, c_size_t, c_uint32, c_void_p
from pathlib import Path
from typing import Any, Dict, List, Tuple

#: The ABI revision these declarations were written for (EFM_ABI_VERSION in include/efm.h).
ABI_VERSION = 2


class _Error(ctypes.Structure):
    """Opaque efm_error."""


class _Client(ctypes.Structure):
    """Opaque efm_client."""


ErrorPtr = POINTER(_Error)
ClientPtr = POINTER(_Client)

#: bool (*efm_progress_callback)(void *userdata, uint64_t done, uint64_t total); false cancels
PROGRESS_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_bool, c_void_p, ctypes.c_uint64, ctypes.c_uint64)
#: bool (*efm_phase_callback)(void *userdata, efm_phase phase, uint64_t done, uint64_t total)
PHASE_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_bool, c_void_p, c_uint32, ctypes.c_uint64, ctypes.c_uint64)

#: void (*efm_log_callback)(void *userdata, efm_log_level level, const char *message, size_t len)
LOG_CALLBACK = ctypes.CFUNCTYPE(None, c_void_p, c_uint32, ctypes.POINTER(ctypes.c_char), c_size_t)


def _library_file_name() -> str:
    if sys.platform == "win32":
        return "efm.dll"
    if sys.platform == "darwin":
        return "libefm.dylib"
    return "libefm.so"


def _find_library() -> str:
    explicit = os.environ.get("EFM_LIBRARY")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise OSError(f"EFM_LIBRARY names {explicit}, which does not exist")
        return str(path.resolve())
    bundled = Path(__file__).resolve().parent / "_lib" / _library_file_name()
    if bundled.is_file():
        return str(bundled)
    raise OSError(
        f"the efm native library was not found: expected {bundled} inside the package, "
        "or set EFM_LIBRARY to the absolute path of libefm"
    )


def declarations() -> Dict[str, Tuple[List[Any], Any]]:
    """Every export's (argtypes, restype); tests compare these with include/efm.h."""
    u32 = c_uint32
    return {
        "efm_version": ([], c_char_p),
        "efm_abi_version": ([], u32),
        "efm_result_group": ([u32], c_char_p),
        "efm_diagnostic_panic": ([POINTER(ErrorPtr)], u32),
        "efm_error_code": ([ErrorPtr], u32),
        "efm_error_message": ([ErrorPtr], c_char_p),
        "efm_error_detail_json": ([ErrorPtr], c_char_p),
        "efm_error_http_status": ([ErrorPtr], ctypes.c_uint16),
        "efm_error_remote_code": ([ErrorPtr], c_char_p),
        "efm_error_field": ([ErrorPtr], c_char_p),
        "efm_error_retryable": ([ErrorPtr], ctypes.c_bool),
        "efm_error_free": ([ErrorPtr], None),
        # char ** outputs are declared as c_void_p so ctypes does not copy and lose the pointer we
        # must hand back to efm_string_free.
        "efm_string_free": ([c_void_p], None),
        "efm_set_logger": ([LOG_CALLBACK, c_void_p, u32], u32),
        "efm_config_validate": ([c_char_p, POINTER(c_void_p), POINTER(ErrorPtr)], u32),
        "efm_client_new": ([c_char_p, POINTER(ClientPtr), POINTER(ErrorPtr)], u32),
        "efm_client_new_for_organisation": (
            [c_char_p, c_char_p, POINTER(ClientPtr), POINTER(ErrorPtr)],
            u32,
        ),
        "efm_client_config_json": ([ClientPtr, POINTER(c_void_p), POINTER(ErrorPtr)], u32),
        "efm_client_lookup": (
            [ClientPtr, c_char_p, c_char_p, POINTER(c_void_p), POINTER(ErrorPtr)],
            u32,
        ),
        "efm_client_send": (
            [ClientPtr, c_char_p, PROGRESS_CALLBACK, c_void_p, POINTER(c_void_p), POINTER(ErrorPtr)],
            u32,
        ),
        "efm_client_send_by_phase": (
            [ClientPtr, c_char_p, PHASE_CALLBACK, c_void_p, POINTER(c_void_p), POINTER(ErrorPtr)],
            u32,
        ),
        "efm_client_resend": (
            [ClientPtr, c_char_p, PROGRESS_CALLBACK, c_void_p, POINTER(c_void_p), POINTER(ErrorPtr)],
            u32,
        ),
        "efm_client_poll": ([ClientPtr, POINTER(c_void_p), POINTER(ErrorPtr)], u32),
        "efm_client_peek": ([ClientPtr, POINTER(c_void_p), POINTER(ErrorPtr)], u32),
        "efm_client_pop": (
            [ClientPtr, c_char_p, c_char_p, POINTER(c_void_p), POINTER(ErrorPtr)],
            u32,
        ),
        "efm_client_delete": ([ClientPtr, c_char_p, POINTER(c_void_p), POINTER(ErrorPtr)], u32),
        "efm_client_status": ([ClientPtr, c_char_p, POINTER(c_void_p), POINTER(ErrorPtr)], u32),
        "efm_client_messages": ([ClientPtr, c_char_p, POINTER(c_void_p), POINTER(ErrorPtr)], u32),
        "efm_client_expire": ([ClientPtr, POINTER(c_void_p), POINTER(ErrorPtr)], u32),
        "efm_client_run_due": ([ClientPtr, POINTER(c_void_p), POINTER(ErrorPtr)], u32),
        "efm_client_quarantine": ([ClientPtr, POINTER(c_void_p), POINTER(ErrorPtr)], u32),
        "efm_client_quarantine_export": ([ClientPtr, c_int64, c_char_p, POINTER(ErrorPtr)], u32),
        "efm_client_quarantine_retry": (
            [ClientPtr, c_int64, POINTER(c_void_p), POINTER(ErrorPtr)],
            u32,
        ),
        "efm_client_quarantine_delete": ([ClientPtr, c_int64, POINTER(ErrorPtr)], u32),
        "efm_client_free": ([ClientPtr], None),
    }


def _declare(lib: ctypes.CDLL) -> None:
    for name, (argtypes, restype) in declarations().items():
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = restype


def _load() -> ctypes.CDLL:
    lib = ctypes.CDLL(_find_library())
    _declare(lib)
    found = lib.efm_abi_version()
    if found != ABI_VERSION:
        raise ImportError(
            f"the efm library at {lib._name} implements ABI {found} (library version "
            f"{lib.efm_version().decode()}), but this eformidling package needs ABI {ABI_VERSION}; "
            "install matching versions of the package and the library, or point EFM_LIBRARY at "
            "a matching libefm"
        )
    return lib


lib = _load()


def take_string(ptr: Any) -> str:
    """Copy a library-owned string and release it."""
    try:
        return ctypes.string_at(ptr).decode("utf-8")
    finally:
        lib.efm_string_free(ptr)
