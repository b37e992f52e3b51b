"""Bridge from the library's log callback to the ``logging`` module (logger "eformidling")."""

from __future__ import annotations

import ctypes
import logging

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


def _forward(_userdata, level, message, length):  # type: ignore[no-untyped-def]
    # Never let an exception escape into native frames.
    try:
        text = ctypes.string_at(message, length).decode("utf-8", "replace")
        logger.log(_TO_PY.get(level, logging.DEBUG), text)
    except Exception:  # pragma: no cover - logging must never break a call
        pass


# Kept at module level: the library holds this pointer for the life of the process.
_CALLBACK = LOG_CALLBACK(_forward)


def set_log_level(level: int) -> None:
    """Let records at ``level`` (a ``logging`` level) and above through from the library."""
    lib.efm_set_logger(_CALLBACK, None, _to_efm(level))


def install() -> None:
    set_log_level(logger.getEffectiveLevel())
