"""eformidling: eFormidling DPO for Python, over the efm native library.

    import eformidling
    with eformidling.Client(config) as client:
        print(client.config["organisation_number"])
"""

from __future__ import annotations

import ctypes

from . import _logging
from ._native import ABI_VERSION, lib
from .client import Client, validate_config
from .errors import (
    AuthError,
    ConfigError,
    CryptoError,
    EfmError,
    InternalError,
    InvalidInputError,
    NetworkError,
    PackageError,
    PanicError,
    RemoteServiceError,
    StorageError,
    check,
    new_error_slot,
)

__all__ = [
    "ABI_VERSION",
    "AuthError",
    "Client",
    "ConfigError",
    "CryptoError",
    "EfmError",
    "InternalError",
    "InvalidInputError",
    "NetworkError",
    "PackageError",
    "PanicError",
    "RemoteServiceError",
    "StorageError",
    "diagnostic_panic",
    "library_version",
    "set_log_level",
    "validate_config",
]

set_log_level = _logging.set_log_level


def library_version() -> str:
    """The version of the loaded native library."""
    return lib.efm_version().decode("ascii")


def diagnostic_panic() -> None:
    """Make the library panic behind its boundary; raises PanicError (for integration checks)."""
    err = new_error_slot()
    check(lib.efm_diagnostic_panic(ctypes.byref(err)), err)


_logging.install()
