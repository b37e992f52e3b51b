"""The client: one configured DPO participant."""

from __future__ import annotations

import ctypes
import json
import os
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from . import _logging
from ._native import PHASE_CALLBACK, PROGRESS_CALLBACK, ClientPtr, lib, take_string
from .codes import ResultCode
from .errors import InvalidInputError, check, new_error_slot
from .types import (
    Capabilities,
    ConfigSummary,
    Direction,
    IncomingMessage,
    MessageInfo,
    OpenedMessage,
    PollSummary,
    QuarantineEntry,
    RetryOutcome,
    Status,
    StatusEntry,
    WorkSummary,
)

ConfigLike = Union[str, Dict[str, Any]]
PathLike = Union[str, "os.PathLike[str]"]
#: A document to send: (name inside the package, path of the file).
Document = Tuple[str, PathLike]
#: ``progress(done, total)`` during a transfer; return False (or raise) to cancel the call.
Progress = Callable[[int, int], Optional[bool]]
#: ``phase_progress(phase, done, total)`` during a send, ``phase`` "packing" (document bytes,
#: encryption included) then "uploading" (package bytes); return False (or raise) to cancel.
PhaseProgress = Callable[[str, int, int], Optional[bool]]

#: efm_phase values
_PHASES = {1: "packing", 2: "uploading"}


def _text(value: str, name: str) -> bytes:
    """UTF-8 for the C ABI, refusing a NUL (C would see the string end there)."""
    if "\0" in value:
        raise InvalidInputError(
            ResultCode.INVALID_ARGUMENT,
            f"{name} contains a NUL character",
            {"code": int(ResultCode.INVALID_ARGUMENT), "field": name, "group": "invalid_input"},
        )
    return value.encode("utf-8")


def _config_text(config: ConfigLike) -> bytes:
    text = config if isinstance(config, str) else json.dumps(config)
    return _text(text, "config")


def validate_config(config: ConfigLike) -> ConfigSummary:
    """Validate a configuration (JSON text or dict); return the resolved summary (no secrets):
    ``summary.environment``, ``summary.urls.service_registry``, ``summary.key.pkcs12`` ...

    Raises ConfigError / InvalidInputError with ``field`` naming the key at fault.
    """
    _logging.sync()
    out = ctypes.c_void_p()
    err = new_error_slot()
    check(lib.efm_config_validate(_config_text(config), ctypes.byref(out), ctypes.byref(err)), err)
    return ConfigSummary.read(json.loads(take_string(out)))


class _ProgressBridge:
    """The caller's progress callback as a C callback that never lets an exception into native
    frames: the exception (KeyboardInterrupt included) is kept, the call is cancelled, and the
    exception is raised again when the call returns."""

    def __init__(self, progress: Optional[Progress]) -> None:
        self.progress = progress
        self.raised: Optional[BaseException] = None
        self.c = PROGRESS_CALLBACK(self._forward) if progress is not None else PROGRESS_CALLBACK()

    def _forward(self, _userdata: Any, done: int, total: int) -> bool:
        if self.raised is not None or self.progress is None:
            return False
        try:
            return self.progress(done, total) is not False
        except BaseException as e:  # noqa: B902 - re-raised by reraise()
            self.raised = e
            return False

    def reraise(self) -> None:
        if self.raised is not None:
            raised, self.raised = self.raised, None
            raise raised


class _PhaseBridge(_ProgressBridge):
    """``_ProgressBridge`` for a callback by phase (efm_phase_callback)."""

    def __init__(self, progress: PhaseProgress) -> None:
        super().__init__(None)
        self.by_phase = progress
        self.c = PHASE_CALLBACK(self._forward_phase)

    def _forward_phase(self, _userdata: Any, phase: int, done: int, total: int) -> bool:
        if self.raised is not None:
            return False
        try:
            return self.by_phase(_PHASES.get(phase, str(phase)), done, total) is not False
        except BaseException as e:  # noqa: B902 - re-raised by reraise()
            self.raised = e
            return False


class Client:
    """A configured efm client. Use as a context manager, or call close().

    One client may be shared by threads; close() while another thread is inside a call is safe
    (the native client is released when that call returns). Calls on a closed client raise
    ValueError.
    """

    def __init__(self, config: ConfigLike, organisation: Optional[str] = None) -> None:
        """A client acting for ``organisation`` (one the configuration names, at its top level or
        in ``"organisations"``); ``None``: the first. Raises ConfigError for one it does not name."""
        _logging.sync()
        handle = ClientPtr()
        err = new_error_slot()
        org = None if organisation is None else _text(organisation, "organisation")
        check(
            lib.efm_client_new_for_organisation(
                _config_text(config), org, ctypes.byref(handle), ctypes.byref(err)
            ),
            err,
        )
        self._handle: Optional[Any] = handle
        self._lock = threading.Lock()
        self._users = 0

    # ---- lifetime: every call holds a use, the last one out after close() frees the handle ----

    def _enter(self) -> Any:
        with self._lock:
            if self._closed or self._handle is None:
                raise ValueError("the efm client is closed")
            self._users += 1
            handle = self._handle
        _logging.sync()
        return handle

    def _leave(self) -> None:
        with self._lock:
            self._users -= 1
            self._free_if_unused()

    def _free_if_unused(self) -> None:
        if self._closed and self._users == 0 and self._handle is not None:
            lib.efm_client_free(self._handle)
            self._handle = None

    _closed = False

    def close(self) -> None:
        """Release the native client (at once, or when calls in other threads return)."""
        lock = getattr(self, "_lock", None)
        if lock is None:  # __init__ failed: nothing to release
            return
        with lock:
            self._closed = True
            self._free_if_unused()

    def _call(self, fn: Any, *args: Any, progress: Optional[_ProgressBridge] = None) -> Any:
        """Run ``fn(handle, *args, &out, &err)``; the answer's JSON, or None for a NULL answer."""
        handle = self._enter()
        try:
            out = ctypes.c_void_p()
            err = new_error_slot()
            code = fn(handle, *args, ctypes.byref(out), ctypes.byref(err))
            if progress is not None and progress.raised is not None:
                # The callback's exception wins; release what the call handed back.
                if code == 0 and out.value:
                    lib.efm_string_free(out)
                elif code != 0:
                    lib.efm_error_free(err)
                progress.reraise()
            check(code, err)
            return json.loads(take_string(out)) if out.value else None
        finally:
            self._leave()

    # ---- calls ----

    @property
    def config(self) -> ConfigSummary:
        """The resolved configuration (no secrets)."""
        return ConfigSummary.read(self._call(lib.efm_client_config_json))

    def lookup(self, organisation_number: str, process: Optional[str] = None) -> Capabilities:
        """An organisation's capabilities from the Service Registry (signed answer, verified).

        Raises RemoteServiceError (ResultCode.RECEIVER_NOT_FOUND, RECEIVER_LACKS_DPO), AuthError
        or NetworkError.
        """
        proc = _text(process, "process") if process is not None else None
        return Capabilities.read(
            self._call(lib.efm_client_lookup, _text(organisation_number, "organisation_number"), proc)
        )

    def send(
        self,
        receiver: Optional[str] = None,
        documents: Sequence[Document] = (),
        *,
        process: Optional[str] = None,
        conversation_id: Optional[str] = None,
        sbd: Optional[Dict[str, Any]] = None,
        progress: Optional[Progress] = None,
        phase_progress: Optional[PhaseProgress] = None,
        **fields: Any,
    ) -> MessageInfo:
        """Send a message: an arkivmelding to ``receiver`` with ``documents`` (name, path) pairs,
        or a complete ``sbd``. Other request members (``message_id``, ``ttl_secs``,
        ``sender_ref``, ``receiver_ref``, ``hoveddokument``) go as keyword arguments; an unknown
        one is refused by the library (InvalidInputError naming it).

        ``progress(done, total)`` is called during the upload; returning False cancels the send
        (CancelledError), and an exception it raises (KeyboardInterrupt too) cancels the send and
        is raised from here. A message cancelled while uploading is kept as FEIL: ``resend`` sends it
        again; one cancelled while packing (the first part of the progress) is FEIL without a package
        and is sent anew. ``phase_progress(phase, done, total)`` instead tells the phases apart
        ("packing", then "uploading"), so a long send never looks stuck; it cancels alike.
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
        return MessageInfo.read(self.send_json(json.dumps(request), progress, phase_progress))

    def send_json(
        self,
        request_json: str,
        progress: Optional[Progress] = None,
        phase_progress: Optional[PhaseProgress] = None,
    ) -> Dict[str, Any]:
        """``send`` with the request as JSON text (schema/send_request.schema.json); the answer
        as a dict."""
        if phase_progress is not None:
            if progress is not None:
                raise ValueError("give progress or phase_progress, not both")
            phases = _PhaseBridge(phase_progress)
            by_phase: Dict[str, Any] = self._call(
                lib.efm_client_send_by_phase, _text(request_json, "request_json"), phases.c, None, progress=phases
            )
            return by_phase
        bridge = _ProgressBridge(progress)
        answer: Dict[str, Any] = self._call(
            lib.efm_client_send, _text(request_json, "request_json"), bridge.c, None, progress=bridge
        )
        return answer

    def resend(self, message_id: str, progress: Optional[Progress] = None) -> MessageInfo:
        """Send a failed message again from its stored package (``progress`` as for ``send``)."""
        bridge = _ProgressBridge(progress)
        return MessageInfo.read(
            self._call(
                lib.efm_client_resend, _text(message_id, "message_id"), bridge.c, None, progress=bridge
            )
        )

    def poll(self) -> PollSummary:
        """Fetch what waits at the broker; a summary (``received`` ids, ``statuses`` ...)."""
        return PollSummary.read(self._call(lib.efm_client_poll))

    def peek(self) -> Optional[IncomingMessage]:
        """The oldest incoming message, locked for us, or None when the queue is empty."""
        raw = self._call(lib.efm_client_peek)
        return None if raw is None else IncomingMessage.read(raw)

    def pop(self, message_id: str, target_dir: PathLike) -> OpenedMessage:
        """Decrypt, verify and unpack a peeked message into ``target_dir``."""
        return OpenedMessage.read(
            self._call(
                lib.efm_client_pop,
                _text(message_id, "message_id"),
                _text(os.fspath(target_dir), "target_dir"),
            )
        )

    def delete(self, message_id: str) -> MessageInfo:
        """Remove a message from the incoming queue (LEVERT goes back to the sender)."""
        return MessageInfo.read(self._call(lib.efm_client_delete, _text(message_id, "message_id")))

    def status(self, message_id: str) -> List[StatusEntry]:
        """The status history of a message, oldest first."""
        raw = self._call(lib.efm_client_status, _text(message_id, "message_id"))
        return [StatusEntry.read(e) for e in raw]

    def messages(
        self,
        *,
        direction: Union[Direction, str, None] = None,
        conversation_id: Optional[str] = None,
        message_id: Optional[str] = None,
        status: Union[Status, str, None] = None,
        limit: Optional[int] = None,
    ) -> List[MessageInfo]:
        """Messages matching all the given criteria, newest first."""
        criteria: Dict[str, Any] = {
            "direction": direction.value if isinstance(direction, Direction) else direction,
            "conversation_id": conversation_id,
            "message_id": message_id,
            "status": status.value if isinstance(status, Status) else status,
            "limit": limit,
        }
        query = {k: v for k, v in criteria.items() if v is not None}
        raw = self._call(lib.efm_client_messages, _text(json.dumps(query), "filter"))
        return [MessageInfo.read(m) for m in raw]

    def expire(self) -> List[str]:
        """Mark outgoing messages past their deadline without MOTTATT as LEVETID_UTLOPT."""
        expired: List[str] = self._call(lib.efm_client_expire)
        return expired

    def run_due(self) -> WorkSummary:
        """Do what is due for sending: retries of pending messages, following uploaded transfers
        to Published or Failed, expiry, owed receipts. Call it periodically (``poll`` does too).
        Returns what it did (``sent``, ``published``, ``failed``, ``retrying`` ...)."""
        return WorkSummary.read(self._call(lib.efm_client_run_due))

    def _call_no_answer(self, fn: Any, *args: Any) -> None:
        """Run ``fn(handle, *args, &err)`` for a call that answers nothing but its result code."""
        handle = self._enter()
        try:
            err = new_error_slot()
            check(fn(handle, *args, ctypes.byref(err)), err)
        finally:
            self._leave()

    def quarantine(self) -> List[QuarantineEntry]:
        """What was downloaded but could not be used, oldest first: ``id``, ``kind``
        (``QuarantineKind.UNREADABLE``, ``UNOPENABLE``, ``IGNORED``), ``transfer_id``,
        ``message_id``, ``sender`` (as the broker authenticated it), ``reason``, ``code``,
        ``payload`` (the kept package)."""
        return [QuarantineEntry.read(e) for e in self._call(lib.efm_client_quarantine)]

    def quarantine_export(self, entry_id: int, dest: "os.PathLike[str] | str") -> None:
        """Copy a quarantined package, as downloaded, to ``dest`` (which must not exist)."""
        self._call_no_answer(lib.efm_client_quarantine_export, entry_id, os.fsencode(dest))

    def quarantine_retry(self, entry_id: int) -> RetryOutcome:
        """Try an entry again; ``outcome`` is ``RetryOutcomeKind.RECEIVED``, ``REQUEUED``,
        ``APPLIED`` (with ``message_id``), ``DUPLICATE`` or ``STILL_REFUSED`` (with ``reason``)."""
        return RetryOutcome.read(self._call(lib.efm_client_quarantine_retry, entry_id))

    def quarantine_delete(self, entry_id: int) -> None:
        """Delete an entry and its kept package."""
        self._call_no_answer(lib.efm_client_quarantine_delete, entry_id)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
