"""eformidling: eFormidling DPO for Python, over the efm native library.

    import eformidling
    with eformidling.Client(config) as client:
        sent = client.send("910076787", [("arkivmelding.xml", "arkivmelding.xml")])
        print(sent.message_id, sent.status)

Results are typed (``eformidling.types``), errors are exceptions per result group with a symbolic
``code`` (``ResultCode``), and library log lines arrive in the logger "eformidling".
"""

from __future__ import annotations

import ctypes

from . import _logging
from ._native import ABI_VERSION, lib
from .client import Client, Document, Progress, validate_config
from .codes import ResultCode
from .errors import (
    AuthError,
    CancelledError,
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
from .types import (
    Capabilities,
    Capability,
    ConfigSummary,
    Direction,
    Environment,
    IncomingMessage,
    KeySummary,
    MessageInfo,
    OpenedFile,
    OpenedMessage,
    PollError,
    PollSummary,
    Status,
    StatusEntry,
    SystemUser,
    Timeouts,
    Transport,
    Urls,
)

__all__ = [
    "ABI_VERSION",
    "AuthError",
    "CancelledError",
    "Capabilities",
    "Capability",
    "Client",
    "ConfigError",
    "ConfigSummary",
    "CryptoError",
    "Direction",
    "Document",
    "Environment",
    "EfmError",
    "IncomingMessage",
    "InternalError",
    "InvalidInputError",
    "KeySummary",
    "MessageInfo",
    "NetworkError",
    "OpenedFile",
    "OpenedMessage",
    "PackageError",
    "PanicError",
    "PollError",
    "PollSummary",
    "Progress",
    "RemoteServiceError",
    "ResultCode",
    "Status",
    "StatusEntry",
    "StorageError",
    "SystemUser",
    "Timeouts",
    "Transport",
    "Urls",
    "diagnostic_panic",
    "library_version",
    "set_log_level",
    "validate_config",
]

set_log_level = _logging.set_log_level


def library_version() -> str:
    """The version of the loaded native library."""
    version: bytes = lib.efm_version()
    return version.decode("ascii")


def diagnostic_panic() -> None:
    """Make the library panic behind its boundary; raises PanicError (for integration checks)."""
    err = new_error_slot()
    check(lib.efm_diagnostic_panic(ctypes.byref(err)), err)


_logging.install()
