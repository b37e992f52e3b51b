"""The client: one configured DPO participant."""

from __future__ import annotations

import ctypes
import json
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from ._native import PROGRESS_CALLBACK, ClientPtr, lib, take_string
from .errors import InternalError, check, new_error_slot

ConfigLike = Union[str, Dict[str, Any]]
#: A document to send: (name inside the package, path of the file).
Document = Tuple[str, Union[str, "os.PathLike[str]"]]
Progress = Callable[[int, int], None]


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

    def _json_call(self, fn: Any, *args: Any) -> Any:
        out = ctypes.c_void_p()
        err = new_error_slot()
        check(fn(self._h(), *args, ctypes.byref(out), ctypes.byref(err)), err)
        return json.loads(take_string(out)) if out.value else None

    @staticmethod
    def _progress(progress: Optional[Progress]) -> Any:
        if progress is None:
            return PROGRESS_CALLBACK()

        def forward(_userdata: Any, done: int, total: int) -> None:
            try:
                progress(done, total)
            except Exception:  # never unwind into native frames
                pass

        return PROGRESS_CALLBACK(forward)

    def send(
        self,
        receiver: Optional[str] = None,
        documents: Sequence[Document] = (),
        *,
        process: Optional[str] = None,
        conversation_id: Optional[str] = None,
        sbd: Optional[Dict[str, Any]] = None,
        progress: Optional[Progress] = None,
        **fields: Any,
    ) -> Dict[str, Any]:
        """Send a message: an arkivmelding to ``receiver`` with ``documents`` (name, path) pairs,
        or a complete ``sbd``. Returns the message (``message_id``, ``status`` ...).

        ``progress(done, total)`` is called during the upload.
        """
        request: Dict[str, Any] = dict(fields)
        request["documents"] = [{"name": n, "path": os.fspath(p)} for n, p in documents]
        for key, value in (
            ("receiver", receiver),
            ("process", process),
            ("conversation_id", conversation_id),
            ("sbd", sbd),
        ):
            if value is not None:
                request[key] = value
        callback = self._progress(progress)  # kept alive for the duration of the call
        return self._json_call(
            lib.efm_client_send, json.dumps(request).encode("utf-8"), callback, None
        )

    def resend(self, message_id: str, progress: Optional[Progress] = None) -> Dict[str, Any]:
        """Send a failed message again from its stored package."""
        callback = self._progress(progress)
        return self._json_call(lib.efm_client_resend, message_id.encode("utf-8"), callback, None)

    def poll(self) -> Dict[str, Any]:
        """Fetch what waits at the broker; returns a summary (``received`` ids, ``statuses`` ...)."""
        return self._json_call(lib.efm_client_poll)

    def peek(self) -> Optional[Dict[str, Any]]:
        """The oldest incoming message, locked for us, or None when the queue is empty."""
        return self._json_call(lib.efm_client_peek)

    def pop(self, message_id: str, target_dir: Union[str, "os.PathLike[str]"]) -> Dict[str, Any]:
        """Decrypt, verify and unpack a peeked message into ``target_dir``."""
        return self._json_call(
            lib.efm_client_pop, message_id.encode("utf-8"), os.fspath(target_dir).encode("utf-8")
        )

    def delete(self, message_id: str) -> Dict[str, Any]:
        """Remove a message from the incoming queue (LEVERT goes back to the sender)."""
        return self._json_call(lib.efm_client_delete, message_id.encode("utf-8"))

    def status(self, message_id: str) -> List[Dict[str, Any]]:
        """The status history of a message, oldest first."""
        return self._json_call(lib.efm_client_status, message_id.encode("utf-8"))

    def messages(self, **filter: Any) -> List[Dict[str, Any]]:
        """Messages matching ``direction``, ``conversation_id``, ``message_id``, ``status``, ``limit``."""
        return self._json_call(lib.efm_client_messages, json.dumps(filter).encode("utf-8"))

    def expire(self) -> List[str]:
        """Mark outgoing messages past their deadline without MOTTATT as LEVETID_UTLOPT."""
        return self._json_call(lib.efm_client_expire)

    def quarantine(self) -> List[Dict[str, Any]]:
        """What was downloaded but could not be used, oldest first: ``id``, ``kind``
        (``UNREADABLE``, ``UNOPENABLE``, ``IGNORED``), ``transfer_id``, ``message_id``, ``sender``
        (as the broker authenticated it), ``reason``, ``code``, ``payload`` (the kept package)."""
        return self._json_call(lib.efm_client_quarantine)

    def quarantine_export(self, entry_id: int, dest: "os.PathLike[str] | str") -> None:
        """Copy a quarantined package, as downloaded, to ``dest`` (which must not exist)."""
        err = new_error_slot()
        check(
            lib.efm_client_quarantine_export(self._h(), entry_id, os.fsencode(dest), ctypes.byref(err)),
            err,
        )

    def quarantine_retry(self, entry_id: int) -> Dict[str, Any]:
        """Try an entry again; returns ``{"outcome": "received"|"requeued"|"applied"|"duplicate"|
        "still_refused", ...}``."""
        return self._json_call(lib.efm_client_quarantine_retry, entry_id)

    def quarantine_delete(self, entry_id: int) -> None:
        """Delete an entry and its kept package."""
        err = new_error_slot()
        check(lib.efm_client_quarantine_delete(self._h(), entry_id, ctypes.byref(err)), err)

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
