"""Bridge from the library's log callback to the ``logging`` module (logger "eformidling").

The native level follows the logger's effective level: it is checked before every call, so
``logging.basicConfig(level=logging.INFO)`` after ``import eformidling`` takes effect, and no
line below the level crosses the boundary.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from typing import Any, Optional

from ._native import LOG_CALLBACK, lib

logger = logging.getLogger("eformidling")

# efm_log_level -> logging level
_TO_PY = {1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO, 4: logging.DEBUG, 5: logging.DEBUG}


def _to_efm(level: int) -> int:
    if level <= logging.NOTSET:
        return 5
    if level <= logging.DEBUG:
        return 4
    if level <= logging.INFO:
        return 3
    if level <= logging.WARNING:
        return 2
    return 1


def _forward(_userdata: Any, level: int, message: Any, length: int) -> None:
    # Never let an exception escape into native frames.
    try:
        text = ctypes.string_at(message, length).decode("utf-8", "replace")
        logger.log(_TO_PY.get(level, logging.DEBUG), text)
    except Exception:  # pragma: no cover - logging must never break a call
        pass


# Kept at module level: the library holds this pointer for the life of the process.
_CALLBACK = LOG_CALLBACK(_forward)
_lock = threading.Lock()
_native_level: Optional[int] = None
_pinned: Optional[int] = None


def _apply(efm_level: int) -> None:
    global _native_level
    with _lock:
        if efm_level != _native_level:
            lib.efm_set_logger(_CALLBACK, None, efm_level)
            _native_level = efm_level


def set_log_level(level: Optional[int]) -> None:
    """Let records at ``level`` (a ``logging`` level) and above through from the library, whatever
    the logger's level; ``None`` goes back to following the "eformidling" logger."""
    global _pinned
    _pinned = level
    sync()


def sync() -> None:
    """Set the native level from the logger's effective level (or the pinned one)."""
    _apply(_to_efm(_pinned if _pinned is not None else logger.getEffectiveLevel()))


def install() -> None:
    sync()
