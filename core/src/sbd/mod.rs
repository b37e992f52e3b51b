//! The StandardBusinessDocument as eFormidling writes it in JSON (`sbd.json`), with the business
//! messages DPO uses: `arkivmelding`, `status` and `arkivmelding_kvittering` (efm-common's SBD
//! model and its Jackson (de)serializer; the IP's `nextmove` message classes and `SBDFactory`).
//!
//! Parsing follows the IP's deserializer: exactly two top-level members, the header and one
//! business message whose key equals `documentIdentification.type`. Anything past the shape
//! (UUIDs, `0192:` identifiers, check digits, the TTL) is checked by [`Sbd::validate`], which
//! receivers run and which names the offending field, so one bad value is reported precisely
//! instead of as a serde error deep in the document.
//!
//! Timestamps stay as the strings that arrived (so relayed SBDs keep their exact text); they are
//! parsed on demand with [`parse_timestamp`], which accepts what Jackson accepts: 0 to 9 fraction
//! digits, an offset or `Z`, and no offset meaning Europe/Oslo.

use crate::error::{Error, ErrorKind, Result};
use crate::ident::{OrgNumber, AUTHORITY};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset, Weekday};
use uuid::Uuid;

mod accessors;
mod builder;
mod json;
mod message;
mod outgoing;
mod received;
mod timestamp;
mod validate;

pub use builder::*;
pub use message::*;
pub use outgoing::{deserialize_outgoing, OutgoingSbd};
pub use received::*;
pub use timestamp::*;
pub use validate::*;

pub const HEADER_KEY: &str = "standardBusinessDocumentHeader";
pub const HEADER_VERSION: &str = "1.0";
pub const TYPE_VERSION: &str = "2.0";

pub const STANDARD_ARKIVMELDING: &str = "urn:no:difi:arkivmelding:xsd::arkivmelding";
pub const STANDARD_KVITTERING: &str = "urn:no:difi:arkivmelding:xsd::arkivmelding_kvittering";
pub const STANDARD_STATUS: &str = "urn:no:difi:eformidling:xsd::status";
pub const PROCESS_ADMINISTRASJON: &str = "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0";
pub const PROCESS_ARKIVMELDING_RESPONSE: &str = "urn:no:difi:profile:arkivmelding:response:ver1.0";
pub const PROCESS_AVTALT_RESPONSE: &str = "urn:no:difi:profile:avtalt:response:ver1.0";
pub const PROCESS_EINNSYN_RESPONSE: &str = "urn:no:difi:profile:einnsyn:response:ver1.0";

/// The default time to live of a message (`difi.move.nextmove.default-ttl-hours`).
pub const DEFAULT_TTL: Duration = Duration::hours(24);

/// NextMove business-message types the IP knows (its `BusinessMessageType`). Types outside this
/// list make the IP's deserializer fail, so we refuse them too. `feil` is deliberately absent.
pub const KNOWN_TYPES: &[&str] = &[
    "arkivmelding",
    "arkivmelding_kvittering",
    "status",
    "avtalt",
    "innsynskrav",
    "publisering",
    "einnsyn_kvittering",
    "digital",
    "digital_dpv",
    "print",
    "dialogmelding",
    "dialogmelding_kvittering",
];

/// Scope types the model allows (COMMON `ScopeType`, plus `ParentId` from newer efm-common).
pub const SCOPE_TYPES: &[&str] = &[
    "ConversationId",
    "SenderRef",
    "ReceiverRef",
    "JournalpostId",
    "MessageChannel",
    "ParentId",
];

/// A whole `sbd.json`: the header and one business message.
#[derive(Debug, Clone, PartialEq)]
pub struct Sbd {
    pub header: Header,
    pub message: BusinessMessage,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    #[serde(default)]
    pub header_version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sender: Vec<Partner>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub receiver: Vec<Partner>,
    pub document_identification: DocumentIdentification,
    /// Not used by eFormidling; carried through untouched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Value>,
    #[serde(default)]
    pub business_scope: BusinessScope,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Partner {
    pub identifier: PartnerIdentification,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contact_information: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerIdentification {
    pub value: String,
    pub authority: String,
}

impl Partner {
    pub fn organisation(org: &OrgNumber) -> Partner {
        Partner {
            identifier: PartnerIdentification {
                value: org.iso6523(),
                authority: AUTHORITY.to_string(),
            },
            contact_information: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentIdentification {
    #[serde(default)]
    pub standard: String,
    #[serde(default)]
    pub type_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_identifier: Option<String>,
    #[serde(rename = "type")]
    pub type_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiple_type: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_date_and_time: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BusinessScope {
    #[serde(default)]
    pub scope: Vec<Scope>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    #[serde(rename = "type")]
    pub scope_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope_information: Vec<CorrelationInformation>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CorrelationInformation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requesting_document_creation_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requesting_document_instance_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_response_date_time: Option<String>,
}

/// The scope kinds we look up; matching accepts the camel-case name and the Java enum name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    ConversationId,
    SenderRef,
    ReceiverRef,
    JournalpostId,
    MessageChannel,
    ParentId,
}

impl ScopeKind {
    pub fn name(self) -> &'static str {
        match self {
            ScopeKind::ConversationId => "ConversationId",
            ScopeKind::SenderRef => "SenderRef",
            ScopeKind::ReceiverRef => "ReceiverRef",
            ScopeKind::JournalpostId => "JournalpostId",
            ScopeKind::MessageChannel => "MessageChannel",
            ScopeKind::ParentId => "ParentId",
        }
    }
    fn enum_name(self) -> &'static str {
        match self {
            ScopeKind::ConversationId => "CONVERSATION_ID",
            ScopeKind::SenderRef => "SENDER_REF",
            ScopeKind::ReceiverRef => "RECEIVER_REF",
            ScopeKind::JournalpostId => "JOURNALPOST_ID",
            ScopeKind::MessageChannel => "MESSAGE_CHANNEL",
            ScopeKind::ParentId => "PARENT_ID",
        }
    }
    fn matches(self, s: &str) -> bool {
        s == self.name() || s == self.enum_name()
    }
}

fn invalid(field: impl Into<String>, msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::SbdInvalid, msg).with_field(field)
}
