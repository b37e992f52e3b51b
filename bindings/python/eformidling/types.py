"""Typed results of the client's calls, read from the JSON the library answers with
(schemas in the repository's ``schema/`` folder).

Each result is a frozen dataclass with attributes (``sent.message_id``, ``sent.status``); the JSON
it was read from stays available as ``.raw``, and ``result["key"]`` reads it too, so code written
against the earlier dict results keeps working. Members a newer library adds are kept in ``raw``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Mapping, Optional, Type, TypeVar


class Direction(str, Enum):
    """Which way a message went."""

    OUTGOING = "OUTGOING"
    INCOMING = "INCOMING"


class Status(str, Enum):
    """A message's status (the integration point's ReceiptStatus)."""

    OPPRETTET = "OPPRETTET"
    SENDT = "SENDT"
    MOTTATT = "MOTTATT"
    LEVERT = "LEVERT"
    LEST = "LEST"
    FEIL = "FEIL"
    INNKOMMENDE_MOTTATT = "INNKOMMENDE_MOTTATT"
    INNKOMMENDE_LEVERT = "INNKOMMENDE_LEVERT"
    LEVETID_UTLOPT = "LEVETID_UTLOPT"
    #: A status text this version does not know (a newer sender's).
    ANNET = "ANNET"

    @classmethod
    def read(cls, text: str) -> "Status":
        try:
            return cls(text)
        except ValueError:
            return cls.ANNET


R = TypeVar("R", bound="Record")


@dataclass(frozen=True)
class Record:
    """Base of the results: the JSON as read, reachable as ``raw`` and by ``record["key"]``."""

    raw: Dict[str, Any] = field(repr=False, compare=False)

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)

    @classmethod
    def read(cls: Type[R], raw: Mapping[str, Any]) -> R:
        raise NotImplementedError


def _opt_str(raw: Mapping[str, Any], key: str) -> Optional[str]:
    value = raw.get(key)
    return None if value is None else str(value)


@dataclass(frozen=True)
class MessageInfo(Record):
    """One message as the local store has it."""

    direction: Direction
    message_id: str
    conversation_id: Optional[str]
    process: Optional[str]
    document_type: str
    sender: str
    receiver: str
    status: Status
    created: str
    last_update: str
    expires: Optional[str]
    transfer_id: Optional[str]
    payload: Optional[str]
    #: What was unusual but accepted (the integration point takes it): an SBD efm would not send,
    #: a document saved under another name, a status not applied.
    warnings: List[str]

    @staticmethod
    def _fields(raw: Mapping[str, Any]) -> Dict[str, Any]:
        return dict(
            direction=Direction(raw["direction"]),
            message_id=raw["message_id"],
            conversation_id=_opt_str(raw, "conversation_id"),
            process=_opt_str(raw, "process"),
            document_type=raw["document_type"],
            sender=raw["sender"],
            receiver=raw["receiver"],
            status=Status.read(raw["status"]),
            created=raw["created"],
            last_update=raw["last_update"],
            expires=_opt_str(raw, "expires"),
            transfer_id=_opt_str(raw, "transfer_id"),
            payload=_opt_str(raw, "payload"),
            warnings=list(raw.get("warnings", [])),
        )

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> "MessageInfo":
        return cls(dict(raw), **cls._fields(raw))


@dataclass(frozen=True)
class IncomingMessage(MessageInfo):
    """A message in the incoming queue, locked for this caller (``peek``)."""

    sbd: Dict[str, Any] = field(default_factory=dict)
    locked_until: str = ""

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> "IncomingMessage":
        return cls(dict(raw), **cls._fields(raw), sbd=raw["sbd"], locked_until=raw["locked_until"])


@dataclass(frozen=True)
class StatusEntry(Record):
    """One entry of a message's status history."""

    status: Status
    time: str
    description: Optional[str]

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> "StatusEntry":
        return cls(
            dict(raw),
            status=Status.read(raw["status"]),
            time=raw["time"],
            description=_opt_str(raw, "description"),
        )


@dataclass(frozen=True)
class PollError(Record):
    """A transfer a poll could not finish, or a receipt it could not send yet."""

    transfer_id: Optional[str]
    message_id: Optional[str]
    code: int
    message: str
    retryable: bool
    abandoned: bool

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> "PollError":
        return cls(
            dict(raw),
            transfer_id=_opt_str(raw, "transfer_id"),
            message_id=_opt_str(raw, "message_id"),
            code=int(raw["code"]),
            message=raw["message"],
            retryable=bool(raw["retryable"]),
            abandoned=bool(raw.get("abandoned", False)),
        )


@dataclass(frozen=True)
class PollSummary(Record):
    """What one poll did."""

    received: List[str]
    statuses: int
    #: Statuses and receipts not applied (not from the organisation the message went to).
    ignored: int
    duplicates: int
    #: Packages that could not be read, kept in quarantine (``Client.quarantine``).
    quarantined: int
    recovered: int
    receipts_sent: int
    errors: List[PollError]
    #: More may wait at the broker (it rate-limited us, or kept receiving): poll again.
    more_waiting: bool
    retry_after_secs: Optional[int]

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> "PollSummary":
        return cls(
            dict(raw),
            received=list(raw["received"]),
            statuses=int(raw["statuses"]),
            ignored=int(raw["ignored"]),
            duplicates=int(raw["duplicates"]),
            quarantined=int(raw["quarantined"]),
            recovered=int(raw["recovered"]),
            receipts_sent=int(raw["receipts_sent"]),
            errors=[PollError.read(e) for e in raw.get("errors", [])],
            more_waiting=bool(raw.get("more_waiting", False)),
            retry_after_secs=raw.get("retry_after_secs"),
        )


@dataclass(frozen=True)
class OpenedFile(Record):
    """One extracted document."""

    name: str
    path: str
    mime: str
    size: int

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> "OpenedFile":
        return cls(dict(raw), name=raw["name"], path=raw["path"], mime=raw["mime"], size=int(raw["size"]))


@dataclass(frozen=True)
class OpenedMessage(Record):
    """A message ``pop`` decrypted, verified and extracted."""

    message_id: str
    conversation_id: Optional[str]
    sbd: Dict[str, Any]
    files: List[OpenedFile]
    #: Subject of the certificate that signed the ASiC-E.
    signer: Optional[str]
    #: Also on the message: what was unusual, documents saved under another name among them.
    warnings: List[str]

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> "OpenedMessage":
        return cls(
            dict(raw),
            message_id=raw["message_id"],
            conversation_id=_opt_str(raw, "conversation_id"),
            sbd=raw["sbd"],
            files=[OpenedFile.read(f) for f in raw["files"]],
            signer=_opt_str(raw, "signer"),
            warnings=list(raw.get("warnings", [])),
        )


@dataclass(frozen=True)
class Capability(Record):
    """One process an organisation can receive, and how."""

    process: str
    #: ``DPO``, ``DPV``, ``DPF``, ``DPE``, ``DPI``, ``DPH``, or what the registry said.
    service_identifier: str
    document_types: List[str]
    endpoint_url: Optional[str]
    service_code: Optional[str]
    service_edition_code: Optional[str]
    resource: Optional[str]
    security_level: Optional[int]
    certificate: Optional[Dict[str, Any]]
    certificate_problem: Optional[str]

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> "Capability":
        level = raw.get("security_level")
        return cls(
            dict(raw),
            process=raw["process"],
            service_identifier=raw["service_identifier"],
            document_types=list(raw.get("document_types", [])),
            endpoint_url=_opt_str(raw, "endpoint_url"),
            service_code=_opt_str(raw, "service_code"),
            service_edition_code=_opt_str(raw, "service_edition_code"),
            resource=_opt_str(raw, "resource"),
            security_level=None if level is None else int(level),
            certificate=raw.get("certificate"),
            certificate_problem=_opt_str(raw, "certificate_problem"),
        )


@dataclass(frozen=True)
class Capabilities(Record):
    """What the Service Registry says an organisation can receive (signed answer, verified)."""

    organisation_number: str
    organisation_name: Optional[str]
    entity_type: Optional[str]
    postal_address: Optional[Dict[str, Any]]
    process: Optional[str]
    signed: bool
    capabilities: List[Capability]

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> "Capabilities":
        return cls(
            dict(raw),
            organisation_number=raw["organisation_number"],
            organisation_name=_opt_str(raw, "organisation_name"),
            entity_type=_opt_str(raw, "entity_type"),
            postal_address=raw.get("postal_address"),
            process=_opt_str(raw, "process"),
            signed=bool(raw["signed"]),
            capabilities=[Capability.read(c) for c in raw["capabilities"]],
        )
