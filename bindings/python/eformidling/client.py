"""The client: one configured DPO participant."""

from __future__ import annotations

import ctypes
import json
from typing import Any, Dict, Optional, Union

from ._native import ClientPtr, lib, take_string
from .errors import InternalError, check, new_error_slot

ConfigLike = Union[str, Dict[str, Any]]


def _config_text(config: ConfigLike) -> bytes:
    text = config if isinstance(config, str) else json.dumps(config)
    return text.encode("utf-8")


def validate_config(config: ConfigLike) -> Dict[str, Any]:
    """Validate a configuration (JSON text or dict); return the resolved summary (no secrets).

    Raises ConfigError / InvalidInputError with ``field`` naming the key at fault.
    """
    out = ctypes.c_void_p()
    err = new_error_slot()
    check(lib.efm_config_validate(_config_text(config), ctypes.byref(out), ctypes.byref(err)), err)
    return json.loads(take_string(out))


class Client:
    """A configured efm client. Use as a context manager, or call close()."""

    def __init__(self, config: ConfigLike) -> None:
        handle = ClientPtr()
        err = new_error_slot()
        check(lib.efm_client_new(_config_text(config), ctypes.byref(handle), ctypes.byref(err)), err)
        self._handle: Optional[Any] = handle

    def _h(self) -> Any:
        if self._handle is None:
            raise InternalError(900, "the client is closed")
        return self._handle

    @property
    def config(self) -> Dict[str, Any]:
        """The resolved configuration (no secrets)."""
        out = ctypes.c_void_p()
        err = new_error_slot()
        check(lib.efm_client_config_json(self._h(), ctypes.byref(out), ctypes.byref(err)), err)
        return json.loads(take_string(out))

    def lookup(self, organisation_number: str, process: Optional[str] = None) -> Dict[str, Any]:
        """An organisation's capabilities from the Service Registry (signed answer, verified).

        Raises RemoteServiceError (code 503 receiver not found, 504 no DPO for the process),
        AuthError or NetworkError.
        """
        out = ctypes.c_void_p()
        err = new_error_slot()
        check(
            lib.efm_client_lookup(
                self._h(),
                organisation_number.encode("utf-8"),
                process.encode("utf-8") if process is not None else None,
                ctypes.byref(out),
                ctypes.byref(err),
            ),
            err,
        )
        return json.loads(take_string(out))

    def close(self) -> None:
        if self._handle is not None:
            lib.efm_client_free(self._handle)
            self._handle = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
