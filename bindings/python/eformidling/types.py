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
    ignored: int
    duplicates: int
    quarantined: int
    recovered: int
    receipts_sent: int
    errors: List[PollError]
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
            retry_after_secs=None if raw.get("retry_after_secs") is None else int(raw["retry_after_secs"]),
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

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> "OpenedMessage":
        return cls(
            dict(raw),
            message_id=raw["message_id"],
            conversation_id=_opt_str(raw, "conversation_id"),
            sbd=raw["sbd"],
            files=[OpenedFile.read(f) for f in raw["files"]],
            signer=_opt_str(raw, "signer"),
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


class Environment(str, Enum):
    """Which eFormidling environment a configuration talks to."""

    PRODUCTION = "production"
    #: Digdir's and Altinn's test environments (TT02).
    TEST = "test"
    #: The local efm sandbox (or any stand-in) at one base URL.
    SANDBOX = "sandbox"


class Transport(str, Enum):
    """The broker a client sends over."""

    #: Altinn 3 Broker REST (today's route).
    ALTINN3 = "altinn3"
    #: The Altinn 2 SOAP broker (test and legacy installations).
    ALTINN2 = "altinn2"


@dataclass(frozen=True)
class KeySummary(Record):
    """Where the key comes from: a PKCS#12 file and where its password was read from (never the
    password), or a PEM certificate and key. The members of the other kind are None."""

    pkcs12: Optional[str]
    #: In words: ``"credentials.pkcs12_password" in the configuration``,
    #: ``environment variable NAME`` or ``file PATH``.
    password_from: Optional[str]
    certificate_pem: Optional[str]
    private_key_pem: Optional[str]

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> "KeySummary":
        if "pkcs12" not in raw and "certificate_pem" not in raw:
            raise ValueError(f"a key summary names neither pkcs12 nor certificate_pem: {sorted(raw)}")
        return cls(
            dict(raw),
            pkcs12=_opt_str(raw, "pkcs12"),
            password_from=_opt_str(raw, "password_from"),
            certificate_pem=_opt_str(raw, "certificate_pem"),
            private_key_pem=_opt_str(raw, "private_key_pem"),
        )


@dataclass(frozen=True)
class SystemUser(Record):
    """The Altinn system user the client's tokens act as."""

    #: ``0192:<orgnr>``.
    org_id: str
    #: The system user's externalRef.
    name: str

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> "SystemUser":
        return cls(dict(raw), org_id=raw["org_id"], name=raw["name"])


@dataclass(frozen=True)
class Timeouts(Record):
    """Network timeouts, in seconds."""

    connect_secs: int
    request_secs: int

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> "Timeouts":
        return cls(dict(raw), connect_secs=int(raw["connect_secs"]), request_secs=int(raw["request_secs"]))


@dataclass(frozen=True)
class Urls(Record):
    """Every URL the client calls, from the environment's preset and any overrides."""

    maskinporten_token: str
    #: The grant's ``aud``: the issuer exactly, trailing slash included.
    maskinporten_audience: str
    service_registry: str
    altinn3_broker: str
    altinn_token_exchange: str
    altinn2_broker_basic: str
    altinn2_broker_streamed: str

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> "Urls":
        names = (
            "maskinporten_token",
            "maskinporten_audience",
            "service_registry",
            "altinn3_broker",
            "altinn_token_exchange",
            "altinn2_broker_basic",
            "altinn2_broker_streamed",
        )
        urls: Dict[str, Any] = {name: str(raw[name]) for name in names}
        return cls(dict(raw), **urls)


@dataclass(frozen=True)
class ConfigSummary(Record):
    """A configuration as the library resolved it: absolute paths, the environment's URLs, and
    where secrets come from, never the secrets."""

    organisation_number: str
    environment: Environment
    transport: Transport
    data_dir: str
    client_id: str
    key: KeySummary
    #: The registered key's id, when one is used instead of the certificate.
    kid: Optional[str]
    system_user: SystemUser
    message_channel: Optional[str]
    #: ``system``, ``none`` or the proxy URL (a password in it shown as ``***``).
    proxy: str
    timeouts: Timeouts
    urls: Urls

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> "ConfigSummary":
        return cls(
            dict(raw),
            organisation_number=raw["organisation_number"],
            environment=Environment(raw["environment"]),
            transport=Transport(raw["transport"]),
            data_dir=raw["data_dir"],
            client_id=raw["client_id"],
            key=KeySummary.read(raw["key"]),
            kid=_opt_str(raw, "kid"),
            system_user=SystemUser.read(raw["system_user"]),
            message_channel=_opt_str(raw, "message_channel"),
            proxy=raw["proxy"],
            timeouts=Timeouts.read(raw["timeouts"]),
            urls=Urls.read(raw["urls"]),
        )
