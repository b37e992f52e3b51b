"""Exceptions mirroring the efm_result groups (the hundreds digit of the code)."""

from __future__ import annotations

import ctypes
import json
from typing import Any, Dict, Optional, Type, Union

from .codes import ResultCode


class EfmError(Exception):
    """An error from the efm library.

    ``code`` is the stable efm_result number, ``detail`` the structured facts (``http_status``,
    ``remote_code``, ``field``, ``retryable``, ``retry_after_secs``).
    """

    def __init__(self, code: int, message: str, detail: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.code: Union[ResultCode, int] = _symbolic(code)
        self.message = message
        self.detail: Dict[str, Any] = detail or {}

    @property
    def retryable(self) -> bool:
        return bool(self.detail.get("retryable", False))

    @property
    def field(self) -> Optional[str]:
        value = self.detail.get("field")
        return None if value is None else str(value)

    @property
    def http_status(self) -> Optional[int]:
        value = self.detail.get("http_status")
        return None if value is None else int(value)

    @property
    def remote_code(self) -> Optional[str]:
        value = self.detail.get("remote_code")
        return None if value is None else str(value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, message={self.message!r})"


class InvalidInputError(EfmError, ValueError):
    """1xx: an argument was unusable (NULL, bad UTF-8, malformed JSON, bad organisation number)."""


class CancelledError(InvalidInputError):
    """106: the call was stopped by its progress callback (it returned False or raised)."""


class ConfigError(EfmError):
    """2xx: the configuration is wrong or incomplete."""


class AuthError(EfmError):
    """3xx: Maskinporten or Altinn refused us."""


class NetworkError(EfmError):
    """4xx: the network between us and a service failed."""


class RemoteServiceError(EfmError):
    """5xx: a remote service answered with an error."""


class CryptoError(EfmError):
    """6xx: keys, certificates, signatures or encryption."""


class PackageError(EfmError):
    """7xx: a malformed or unsafe package."""


class StorageError(EfmError):
    """8xx: the local data directory."""


class InternalError(EfmError):
    """9xx: a bug in efm."""


class PanicError(InternalError):
    """901: efm panicked; the panic was caught and this process is unaffected."""


_GROUPS: Dict[int, Type[EfmError]] = {
    1: InvalidInputError,
    2: ConfigError,
    3: AuthError,
    4: NetworkError,
    5: RemoteServiceError,
    6: CryptoError,
    7: PackageError,
    8: StorageError,
    9: InternalError,
}

PANIC = ResultCode.PANIC


def _symbolic(code: int) -> Union[ResultCode, int]:
    try:
        return ResultCode(code)
    except ValueError:
        return code


def error_class(code: int) -> Type[EfmError]:
    if code == ResultCode.PANIC:
        return PanicError
    if code == ResultCode.CANCELLED:
        return CancelledError
    return _GROUPS.get(code // 100, InternalError)


def raise_for(code: int, err: Any) -> None:
    """Raise the exception for a non-zero result, consuming the efm_error object (if any)."""
    from ._native import lib

    if code == 0:
        return
    detail: Dict[str, Any]
    if err:
        try:
            message = lib.efm_error_message(err).decode("utf-8", "replace")
            detail = json.loads(lib.efm_error_detail_json(err).decode("utf-8", "replace"))
        finally:
            lib.efm_error_free(err)
    else:
        message = f"efm call failed with code {code} ({lib.efm_result_group(code).decode()})"
        detail = {"code": code}
    raise error_class(code)(code, message, detail)


def new_error_slot() -> Any:
    from ._native import ErrorPtr

    return ErrorPtr()


def check(code: int, slot: Any) -> None:
    """Raise if ``code`` is not OK; ``slot`` is the ErrorPtr passed by reference."""
    raise_for(code, slot if ctypes.cast(slot, ctypes.c_void_p).value else None)
