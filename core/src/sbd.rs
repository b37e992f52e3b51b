//! The StandardBusinessDocument as eFormidling writes it in JSON (`sbd.json`), with the business
//! messages DPO uses: `arkivmelding`, `status` and `arkivmelding_kvittering` (spec dpo-soap.md
//! section 8, maskinporten-sr-nextmove.md C.2-C.4).
//!
//! Parsing follows the IP's deserializer: exactly two top-level members, the header and one
//! business message whose key equals `documentIdentification.type` (8.1). Anything past the shape
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

// ---------------------------------------------------------------------------------------------
// Business messages

/// The business message, keyed in JSON by its type name.
#[derive(Debug, Clone, PartialEq)]
pub enum BusinessMessage {
    Arkivmelding(Arkivmelding),
    Status(StatusMessage),
    ArkivmeldingKvittering(ArkivmeldingKvittering),
    /// Another known NextMove type (e.g. `avtalt`), carried as raw JSON.
    Other {
        type_name: String,
        body: Map<String, Value>,
    },
}

impl BusinessMessage {
    pub fn type_name(&self) -> &str {
        match self {
            BusinessMessage::Arkivmelding(_) => "arkivmelding",
            BusinessMessage::Status(_) => "status",
            BusinessMessage::ArkivmeldingKvittering(_) => "arkivmelding_kvittering",
            BusinessMessage::Other { type_name, .. } => type_name,
        }
    }

    /// `hoveddokument`, which every business message may carry.
    pub fn hoveddokument(&self) -> Option<&str> {
        match self {
            BusinessMessage::Arkivmelding(a) => a.hoveddokument.as_deref(),
            BusinessMessage::Status(s) => s.extra.get("hoveddokument").and_then(Value::as_str),
            BusinessMessage::ArkivmeldingKvittering(k) => {
                k.extra.get("hoveddokument").and_then(Value::as_str)
            }
            BusinessMessage::Other { body, .. } => {
                body.get("hoveddokument").and_then(Value::as_str)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arkivmelding {
    /// 3 or 4. Written as a number; a string (as the docs' JSON schema has it) is accepted.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "int_or_string"
    )]
    pub sikkerhetsnivaa: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hoveddokument: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpv: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpf: Option<Value>,
    /// Members we do not model, kept so that a relayed message loses nothing.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn int_or_string<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<i64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("sikkerhetsnivaa must be an integer")),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("sikkerhetsnivaa must be 3 or 4")),
        Some(_) => Err(serde::de::Error::custom("sikkerhetsnivaa must be 3 or 4")),
    }
}

/// The statuses of `ReceiptStatus`; on the wire only MOTTATT and LEVERT travel in `status` SBDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReceiptStatus {
    Opprettet,
    Sendt,
    Mottatt,
    Levert,
    Lest,
    Feil,
    InnkommendeMottatt,
    InnkommendeLevert,
    LevetidUtlopt,
    /// Also what an unknown status text becomes: a newer sender must not make the whole package
    /// unreadable (a failed parse on receive means endless redelivery, spec 8.1).
    #[serde(other)]
    Annet,
}

impl ReceiptStatus {
    pub fn name(self) -> &'static str {
        match self {
            ReceiptStatus::Opprettet => "OPPRETTET",
            ReceiptStatus::Sendt => "SENDT",
            ReceiptStatus::Mottatt => "MOTTATT",
            ReceiptStatus::Levert => "LEVERT",
            ReceiptStatus::Lest => "LEST",
            ReceiptStatus::Feil => "FEIL",
            ReceiptStatus::Annet => "ANNET",
            ReceiptStatus::InnkommendeMottatt => "INNKOMMENDE_MOTTATT",
            ReceiptStatus::InnkommendeLevert => "INNKOMMENDE_LEVERT",
            ReceiptStatus::LevetidUtlopt => "LEVETID_UTLOPT",
        }
    }
}

impl ReceiptStatus {
    /// Every status with a name of its own (all but `Annet`, the catch-all for unknown text).
    pub const NAMED: [ReceiptStatus; 9] = [
        ReceiptStatus::Opprettet,
        ReceiptStatus::Sendt,
        ReceiptStatus::Mottatt,
        ReceiptStatus::Levert,
        ReceiptStatus::Lest,
        ReceiptStatus::Feil,
        ReceiptStatus::InnkommendeMottatt,
        ReceiptStatus::InnkommendeLevert,
        ReceiptStatus::LevetidUtlopt,
    ];
}

/// Read a status that a caller gives (a filter), refusing unknown text instead of reading it as
/// `ANNET` as a received SBD must.
pub fn strict_status<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<ReceiptStatus>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    ReceiptStatus::NAMED
        .into_iter()
        .chain([ReceiptStatus::Annet])
        .find(|s| s.name() == text)
        .map(Some)
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown status {}, expected one of {}",
                crate::input::quote(&text),
                ReceiptStatus::NAMED.map(|s| s.name()).join(", ")
            ))
        })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusMessage {
    pub status: ReceiptStatus,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArkivmeldingKvittering {
    /// OK, WARNING, ERROR or NOTSUPPORTED (kept as text: unknown values mean LEST, spec 9.3).
    pub receipt_type: String,
    pub related_to_message_id: String,
    #[serde(default)]
    pub messages: Vec<KvitteringText>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvitteringText {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl ArkivmeldingKvittering {
    /// The status the original sender records for this receipt: FEIL for ERROR and NOTSUPPORTED,
    /// LEST for anything else (spec 9.3).
    pub fn resulting_status(&self) -> ReceiptStatus {
        match self.receipt_type.as_str() {
            "ERROR" | "NOTSUPPORTED" => ReceiptStatus::Feil,
            _ => ReceiptStatus::Lest,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON (de)serialisation of the two-member root

fn invalid(field: impl Into<String>, msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::SbdInvalid, msg).with_field(field)
}

impl Sbd {
    /// Parse `sbd.json` with the IP's structural rules (8.1). Call [`Sbd::validate`] afterwards to
    /// apply a receiver's checks.
    pub fn from_json(json: &[u8]) -> Result<Sbd> {
        let value: Value = serde_json::from_slice(json).map_err(|e| {
            Error::new(
                ErrorKind::InvalidJson,
                format!("sbd.json is not valid JSON: {e}"),
            )
        })?;
        Sbd::from_value(value)
    }

    pub fn from_value(value: Value) -> Result<Sbd> {
        let Value::Object(mut root) = value else {
            return Err(invalid("$", "the SBD must be a JSON object"));
        };
        let header_value = root.remove(HEADER_KEY).ok_or_else(|| {
            invalid(
                HEADER_KEY,
                format!("the SBD has no \"{HEADER_KEY}\" member"),
            )
        })?;
        if root.len() != 1 {
            let keys: Vec<&String> = root.keys().collect();
            return Err(invalid(
                "$",
                format!(
                    "the SBD must have exactly two members (the header and one business message), found business members {keys:?}"
                ),
            ));
        }
        let header: Header = serde_json::from_value(header_value).map_err(|e| {
            invalid(
                HEADER_KEY,
                format!("the SBD header does not fit the model: {e}"),
            )
        })?;
        let type_name = header.document_identification.type_name.clone();
        let canonical = type_name.to_ascii_lowercase();
        if !KNOWN_TYPES.contains(&canonical.as_str()) {
            return Err(invalid(
                "standardBusinessDocumentHeader.documentIdentification.type",
                format!("unknown business message type {type_name:?} (known: {KNOWN_TYPES:?})"),
            ));
        }
        let (key, body) = root.into_iter().next().expect("one member left");
        if key != canonical {
            return Err(invalid(
                key.clone(),
                format!(
                    "the business message member is {key:?} but documentIdentification.type says {canonical:?}; they must be equal"
                ),
            ));
        }
        let Value::Object(body) = body else {
            return Err(invalid(key, "the business message must be a JSON object"));
        };
        let message = match canonical.as_str() {
            "arkivmelding" => BusinessMessage::Arkivmelding(from_body(&key, body)?),
            "status" => BusinessMessage::Status(from_body(&key, body)?),
            "arkivmelding_kvittering" => {
                BusinessMessage::ArkivmeldingKvittering(from_body(&key, body)?)
            }
            _ => BusinessMessage::Other {
                type_name: canonical,
                body,
            },
        };
        Ok(Sbd { header, message })
    }

    /// The SBD as a JSON value (nulls left out). Note that `serde_json::Value` objects sort their
    /// keys; use [`Sbd::to_json`] for the IP's member order.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("SBD serialises")
    }

    /// Compact JSON in the member order the IP writes, nulls left out.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("SBD serialises")
    }

    /// Pretty JSON with 2-space indentation, as the IP writes `sbd.json`.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("SBD serialises")
    }
}

fn from_body<T: serde::de::DeserializeOwned>(key: &str, body: Map<String, Value>) -> Result<T> {
    serde_json::from_value(Value::Object(body)).map_err(|e| {
        invalid(
            key.to_string(),
            format!("the {key:?} business message does not fit the model: {e}"),
        )
    })
}

impl Serialize for Sbd {
    /// Header first, then the business message under its type name; struct fields keep their
    /// declared (IP) order.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry(HEADER_KEY, &self.header)?;
        let key = self.message.type_name();
        match &self.message {
            BusinessMessage::Arkivmelding(a) => map.serialize_entry(key, a)?,
            BusinessMessage::Status(m) => map.serialize_entry(key, m)?,
            BusinessMessage::ArkivmeldingKvittering(k) => map.serialize_entry(key, k)?,
            BusinessMessage::Other { body, .. } => map.serialize_entry(key, body)?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Sbd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Sbd::from_value(v).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// Accessors

impl Sbd {
    pub fn type_name(&self) -> &str {
        &self.header.document_identification.type_name
    }

    /// The messageId (`documentIdentification.instanceIdentifier`).
    pub fn message_id(&self) -> Option<&str> {
        self.header
            .document_identification
            .instance_identifier
            .as_deref()
    }

    pub fn scope(&self, kind: ScopeKind) -> Option<&Scope> {
        self.header
            .business_scope
            .scope
            .iter()
            .find(|s| kind.matches(&s.scope_type))
    }

    pub fn conversation_id(&self) -> Option<&str> {
        self.scope(ScopeKind::ConversationId)?
            .instance_identifier
            .as_deref()
    }

    /// The process URN (ConversationId scope `identifier`).
    pub fn process(&self) -> Option<&str> {
        self.scope(ScopeKind::ConversationId)?.identifier.as_deref()
    }

    pub fn expected_response_date_time(&self) -> Option<&str> {
        self.scope(ScopeKind::ConversationId)?
            .scope_information
            .iter()
            .find_map(|c| c.expected_response_date_time.as_deref())
    }

    /// SenderRef: the IP reads `instanceIdentifier`; the docs put it in `identifier`. Read either.
    pub fn sender_ref(&self) -> Option<&str> {
        let s = self.scope(ScopeKind::SenderRef)?;
        s.instance_identifier.as_deref().or(s.identifier.as_deref())
    }

    pub fn receiver_ref(&self) -> Option<&str> {
        let s = self.scope(ScopeKind::ReceiverRef)?;
        s.instance_identifier.as_deref().or(s.identifier.as_deref())
    }

    /// The message channel (MessageChannel scope `identifier`).
    pub fn message_channel(&self) -> Option<&str> {
        self.scope(ScopeKind::MessageChannel)?.identifier.as_deref()
    }

    pub fn sender_identifier(&self) -> Option<&str> {
        self.header
            .sender
            .first()
            .map(|p| p.identifier.value.as_str())
    }

    pub fn receiver_identifier(&self) -> Option<&str> {
        self.header
            .receiver
            .first()
            .map(|p| p.identifier.value.as_str())
    }

    /// The sender's organisation number (primary part of `0192:<orgnr>[:...]`).
    pub fn sender_org(&self) -> Result<OrgNumber> {
        party_org(self.sender_identifier(), "sender")
    }

    pub fn receiver_org(&self) -> Result<OrgNumber> {
        party_org(self.receiver_identifier(), "receiver")
    }

    /// Whether `now` is past expectedResponseDateTime (a message without a parseable TTL is not
    /// considered expired here; [`Sbd::validate`] reports it).
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expected_response_date_time()
            .and_then(|t| parse_timestamp(t).ok())
            .is_some_and(|t| now > t)
    }
}

fn party_org(value: Option<&str>, which: &str) -> Result<OrgNumber> {
    let field = format!("standardBusinessDocumentHeader.{which}[0].identifier.value");
    let value = value.ok_or_else(|| invalid(field.clone(), format!("the SBD has no {which}")))?;
    let rest = value.strip_prefix("0192:").ok_or_else(|| {
        invalid(
            field.clone(),
            format!("{which} {value:?} is not an ISO 6523 identifier with ICD 0192 (expected \"0192:<orgnr>\")"),
        )
    })?;
    let primary = rest.split(':').next().unwrap_or(rest);
    OrgNumber::parse(primary).map_err(|e| invalid(field, format!("{which}: {}", e.message())))
}

// ---------------------------------------------------------------------------------------------
// Validation

/// How strict [`Sbd::validate`] is.
#[derive(Debug, Clone)]
pub struct ValidationOptions {
    /// Check the mod-11 digit of organisation numbers (our addition; the IP only checks 9 digits).
    pub check_digits: bool,
    /// Require expectedResponseDateTime (the IP always sets it on the wire).
    pub require_ttl: bool,
}

impl Default for ValidationOptions {
    fn default() -> Self {
        ValidationOptions {
            check_digits: true,
            require_ttl: true,
        }
    }
}

fn check_uuid(value: Option<&str>, field: &str, what: &str) -> Result<()> {
    let v = value.ok_or_else(|| invalid(field, format!("{what} is missing")))?;
    Uuid::parse_str(v)
        .map(|_| ())
        .map_err(|_| invalid(field, format!("{what} {v:?} is not a UUID")))
}

fn check_party(partners: &[Partner], which: &str, opts: &ValidationOptions) -> Result<()> {
    let base = format!("standardBusinessDocumentHeader.{which}");
    match partners.len() {
        1 => {}
        0 => return Err(invalid(base, format!("the SBD has no {which}"))),
        n => {
            return Err(invalid(
                base,
                format!("the SBD has {n} {which}s; at most one is allowed"),
            ))
        }
    }
    let id = &partners[0].identifier;
    if id.authority != AUTHORITY {
        return Err(invalid(
            format!("{base}[0].identifier.authority"),
            format!(
                "{which} authority is {:?}, expected {AUTHORITY:?}",
                id.authority
            ),
        ));
    }
    let field = format!("{base}[0].identifier.value");
    let Some(rest) = id.value.strip_prefix("0192:") else {
        return Err(invalid(
            field,
            format!(
                "{which} {:?} is not a Norwegian ISO 6523 identifier; expected \"0192:<orgnr>\" (the legacy ICD 9908 and bare numbers are not accepted)",
                id.value
            ),
        ));
    };
    let mut parts = rest.split(':');
    let primary = parts.next().unwrap_or_default();
    if primary.len() != 9 || !primary.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            field,
            format!(
                "{which} {:?}: the organisation number must be 9 digits",
                id.value
            ),
        ));
    }
    if opts.check_digits {
        OrgNumber::parse(primary)
            .map_err(|e| invalid(field.clone(), format!("{which}: {}", e.message())))?;
    }
    if parts.any(|p| p.is_empty() || p.len() > 35) {
        return Err(invalid(
            field,
            format!("{which} {:?} has an empty or over-long part", id.value),
        ));
    }
    Ok(())
}

impl Sbd {
    /// Validate as a receiver does (spec 5.3, 8.1-8.2, 10): every error names the field.
    pub fn validate(&self, opts: &ValidationOptions) -> Result<()> {
        let h = &self.header;
        let di = &h.document_identification;
        if h.header_version.is_empty() {
            return Err(invalid(
                "standardBusinessDocumentHeader.headerVersion",
                "headerVersion is missing",
            ));
        }
        check_party(&h.sender, "sender", opts)?;
        check_party(&h.receiver, "receiver", opts)?;
        let di_field = "standardBusinessDocumentHeader.documentIdentification";
        // Types are matched without regard to case (spec C.2), as when parsing.
        if !di
            .standard
            .to_ascii_lowercase()
            .ends_with(&format!("::{}", di.type_name.to_ascii_lowercase()))
        {
            return Err(invalid(
                format!("{di_field}.standard"),
                format!(
                    "standard {:?} does not end with \"::{}\" (the type)",
                    di.standard, di.type_name
                ),
            ));
        }
        check_uuid(
            di.instance_identifier.as_deref(),
            &format!("{di_field}.instanceIdentifier"),
            "messageId",
        )?;
        if let Some(t) = &di.creation_date_and_time {
            parse_timestamp(t).map_err(|e| {
                invalid(
                    format!("{di_field}.creationDateAndTime"),
                    e.message().to_string(),
                )
            })?;
        }
        let scopes = &h.business_scope.scope;
        let sfield = "standardBusinessDocumentHeader.businessScope.scope";
        for (i, s) in scopes.iter().enumerate() {
            let known = SCOPE_TYPES.iter().any(|t| *t == s.scope_type)
                || [
                    ScopeKind::ConversationId,
                    ScopeKind::SenderRef,
                    ScopeKind::ReceiverRef,
                    ScopeKind::JournalpostId,
                    ScopeKind::MessageChannel,
                    ScopeKind::ParentId,
                ]
                .iter()
                .any(|k| k.matches(&s.scope_type));
            if !known {
                return Err(invalid(
                    format!("{sfield}[{i}].type"),
                    format!(
                        "unknown scope type {:?} (allowed: {SCOPE_TYPES:?})",
                        s.scope_type
                    ),
                ));
            }
        }
        let conv: Vec<(usize, &Scope)> = scopes
            .iter()
            .enumerate()
            .filter(|(_, s)| ScopeKind::ConversationId.matches(&s.scope_type))
            .collect();
        let (ci, conv) = match conv.as_slice() {
            [one] => *one,
            [] => return Err(invalid(sfield, "the ConversationId scope is missing")),
            _ => return Err(invalid(sfield, "more than one ConversationId scope")),
        };
        check_uuid(
            conv.instance_identifier.as_deref(),
            &format!("{sfield}[{ci}].instanceIdentifier"),
            "conversationId",
        )?;
        if conv.identifier.as_deref().is_none_or(str::is_empty) {
            return Err(invalid(
                format!("{sfield}[{ci}].identifier"),
                "the process (ConversationId scope identifier) is missing",
            ));
        }
        let ttl_field = format!("{sfield}[{ci}].scopeInformation[0].expectedResponseDateTime");
        match self.expected_response_date_time() {
            Some(t) => {
                parse_timestamp(t).map_err(|e| invalid(ttl_field, e.message().to_string()))?;
            }
            None if opts.require_ttl => {
                return Err(invalid(ttl_field, "expectedResponseDateTime is missing"))
            }
            None => {}
        }
        for (i, s) in scopes.iter().enumerate() {
            if ScopeKind::MessageChannel.matches(&s.scope_type) {
                let ok = s.identifier.as_deref().is_some_and(|c| {
                    c.len() <= 25
                        && c.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                });
                if !ok {
                    return Err(invalid(
                        format!("{sfield}[{i}].identifier"),
                        "the message channel must be 1-25 characters of [a-zA-Z0-9_-]",
                    ));
                }
            }
        }
        // The IP validates a SenderRef as a UUID (spec C.2): one that is not would be refused there.
        for (i, s) in scopes.iter().enumerate() {
            if ScopeKind::SenderRef.matches(&s.scope_type) {
                if let Some(v) = s.instance_identifier.as_deref().filter(|v| !v.is_empty()) {
                    check_uuid(
                        Some(v),
                        &format!("{sfield}[{i}].instanceIdentifier"),
                        "SenderRef",
                    )?;
                }
            }
        }
        if let BusinessMessage::ArkivmeldingKvittering(k) = &self.message {
            check_uuid(
                Some(&k.related_to_message_id),
                "arkivmelding_kvittering.relatedToMessageId",
                "relatedToMessageId",
            )?;
            if k.receipt_type.is_empty() {
                return Err(invalid(
                    "arkivmelding_kvittering.receiptType",
                    "receiptType is missing",
                ));
            }
        }
        if let BusinessMessage::Arkivmelding(a) = &self.message {
            if let Some(n) = a.sikkerhetsnivaa {
                if n != 3 && n != 4 {
                    return Err(invalid(
                        "arkivmelding.sikkerhetsnivaa",
                        format!("sikkerhetsnivaa is {n}, expected 3 or 4"),
                    ));
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Builders

/// What an outgoing arkivmelding SBD needs; the rest gets the IP's defaults (8.2).
#[derive(Debug, Clone)]
pub struct ArkivmeldingSbd {
    pub sender: OrgNumber,
    pub receiver: OrgNumber,
    pub process: String,
    pub hoveddokument: Option<String>,
    pub sikkerhetsnivaa: Option<i64>,
    pub message_id: Option<Uuid>,
    pub conversation_id: Option<Uuid>,
    pub ttl: Duration,
    pub sender_ref: Option<String>,
    pub receiver_ref: Option<String>,
    pub message_channel: Option<String>,
}

impl ArkivmeldingSbd {
    pub fn new(sender: OrgNumber, receiver: OrgNumber) -> Self {
        ArkivmeldingSbd {
            sender,
            receiver,
            process: PROCESS_ADMINISTRASJON.to_string(),
            hoveddokument: Some("arkivmelding.xml".to_string()),
            sikkerhetsnivaa: Some(3),
            message_id: None,
            conversation_id: None,
            ttl: DEFAULT_TTL,
            sender_ref: None,
            receiver_ref: None,
            message_channel: None,
        }
    }

    pub fn build(&self, now: OffsetDateTime) -> Sbd {
        let mut scopes = vec![conversation_scope(
            self.conversation_id
                .unwrap_or_else(Uuid::new_v4)
                .to_string(),
            self.process.clone(),
            now + self.ttl,
        )];
        for (kind, value) in [
            (ScopeKind::SenderRef, &self.sender_ref),
            (ScopeKind::ReceiverRef, &self.receiver_ref),
        ] {
            if let Some(v) = value {
                scopes.push(Scope {
                    scope_type: kind.name().to_string(),
                    instance_identifier: Some(v.clone()),
                    identifier: None,
                    scope_information: Vec::new(),
                });
            }
        }
        if let Some(channel) = &self.message_channel {
            scopes.push(channel_scope(channel));
        }
        Sbd {
            header: Header {
                header_version: HEADER_VERSION.to_string(),
                sender: vec![Partner::organisation(&self.sender)],
                receiver: vec![Partner::organisation(&self.receiver)],
                document_identification: DocumentIdentification {
                    standard: STANDARD_ARKIVMELDING.to_string(),
                    type_version: TYPE_VERSION.to_string(),
                    instance_identifier: Some(
                        self.message_id.unwrap_or_else(Uuid::new_v4).to_string(),
                    ),
                    type_name: "arkivmelding".to_string(),
                    multiple_type: None,
                    creation_date_and_time: Some(format_timestamp(now)),
                },
                manifest: None,
                business_scope: BusinessScope { scope: scopes },
            },
            message: BusinessMessage::Arkivmelding(Arkivmelding {
                sikkerhetsnivaa: self.sikkerhetsnivaa,
                hoveddokument: self.hoveddokument.clone(),
                ..Default::default()
            }),
        }
    }
}

fn conversation_scope(conversation_id: String, process: String, expires: OffsetDateTime) -> Scope {
    Scope {
        scope_type: ScopeKind::ConversationId.name().to_string(),
        instance_identifier: Some(conversation_id),
        identifier: Some(process),
        scope_information: vec![CorrelationInformation {
            expected_response_date_time: Some(format_timestamp(expires)),
            ..Default::default()
        }],
    }
}

fn channel_scope(channel: &str) -> Scope {
    Scope {
        scope_type: ScopeKind::MessageChannel.name().to_string(),
        instance_identifier: Some(Uuid::new_v4().to_string()),
        identifier: Some(channel.to_string()),
        scope_information: Vec::new(),
    }
}

/// The response process for a message of this process (C.4).
pub fn response_process(process: &str) -> &'static str {
    if process.contains(":avtalt:") {
        PROCESS_AVTALT_RESPONSE
    } else if process.contains(":einnsyn:") {
        PROCESS_EINNSYN_RESPONSE
    } else {
        PROCESS_ARKIVMELDING_RESPONSE
    }
}

impl Sbd {
    fn reply_header(
        &self,
        standard: &str,
        type_name: &str,
        message_id: String,
        now: OffsetDateTime,
    ) -> Result<Header> {
        let conversation_id = self.conversation_id().ok_or_else(|| {
            invalid(
                "standardBusinessDocumentHeader.businessScope.scope",
                "the original SBD has no conversationId",
            )
        })?;
        let process = response_process(self.process().unwrap_or_default());
        let mut scopes = vec![conversation_scope(
            conversation_id.to_string(),
            process.to_string(),
            now + DEFAULT_TTL,
        )];
        if let Some(ch) = self.scope(ScopeKind::MessageChannel) {
            scopes.push(ch.clone());
        }
        if self.header.sender.is_empty() || self.header.receiver.is_empty() {
            return Err(invalid(
                "standardBusinessDocumentHeader.sender",
                "the original SBD lacks a sender or receiver",
            ));
        }
        Ok(Header {
            header_version: HEADER_VERSION.to_string(),
            // Swapped, values copied verbatim (SBDFactory).
            sender: self.header.receiver.clone(),
            receiver: self.header.sender.clone(),
            document_identification: DocumentIdentification {
                standard: standard.to_string(),
                type_version: TYPE_VERSION.to_string(),
                instance_identifier: Some(message_id),
                type_name: type_name.to_string(),
                multiple_type: None,
                creation_date_and_time: Some(format_timestamp(now - Duration::seconds(5))),
            },
            manifest: None,
            business_scope: BusinessScope { scope: scopes },
        })
    }

    /// The `status` SBD a receiver sends back about this message (C.4): sender and receiver
    /// swapped, the SAME messageId, the same conversationId, the response process, the
    /// MessageChannel scope copied.
    pub fn status_reply(&self, status: ReceiptStatus, now: OffsetDateTime) -> Result<Sbd> {
        let message_id = self
            .message_id()
            .ok_or_else(|| {
                invalid(
                    "standardBusinessDocumentHeader.documentIdentification.instanceIdentifier",
                    "the original SBD has no messageId",
                )
            })?
            .to_string();
        Ok(Sbd {
            header: self.reply_header(STANDARD_STATUS, "status", message_id, now)?,
            message: BusinessMessage::Status(StatusMessage {
                status,
                extra: Map::new(),
            }),
        })
    }

    /// An `arkivmelding_kvittering` about this message: new messageId, same conversationId.
    pub fn kvittering_reply(
        &self,
        receipt_type: &str,
        messages: Vec<KvitteringText>,
        now: OffsetDateTime,
    ) -> Result<Sbd> {
        let related = self
            .message_id()
            .ok_or_else(|| {
                invalid(
                    "standardBusinessDocumentHeader.documentIdentification.instanceIdentifier",
                    "the original SBD has no messageId",
                )
            })?
            .to_string();
        Ok(Sbd {
            header: self.reply_header(
                STANDARD_KVITTERING,
                "arkivmelding_kvittering",
                Uuid::new_v4().to_string(),
                now,
            )?,
            message: BusinessMessage::ArkivmeldingKvittering(ArkivmeldingKvittering {
                receipt_type: receipt_type.to_string(),
                related_to_message_id: related,
                messages,
                extra: Map::new(),
            }),
        })
    }

    /// On the DPO wire an on-behalf-of sender `0192:<own>:<other>` travels as `0192:<other>`
    /// (spec 2.4, `DpoConversationStrategyImpl.send`). Returns whether the sender was rewritten.
    pub fn normalize_on_behalf_of(&mut self) -> bool {
        let Some(p) = self.header.sender.first_mut() else {
            return false;
        };
        let value = &p.identifier.value;
        let Some(rest) = value.strip_prefix("0192:") else {
            return false;
        };
        let mut parts = rest.split(':');
        let (_own, Some(other)) = (parts.next(), parts.next()) else {
            return false;
        };
        if other.len() == 9 && other.bytes().all(|b| b.is_ascii_digit()) {
            p.identifier.value = format!("0192:{other}");
            true
        } else {
            false
        }
    }

    /// Fill what the IP fills on an outgoing message (8.2): sender, ids, creation time, TTL and
    /// the message channel scope.
    pub fn fill_defaults(
        &mut self,
        own: &OrgNumber,
        ttl: Duration,
        channel: Option<&str>,
        now: OffsetDateTime,
    ) {
        let h = &mut self.header;
        if h.header_version.is_empty() {
            h.header_version = HEADER_VERSION.to_string();
        }
        if h.sender.is_empty() {
            h.sender.push(Partner::organisation(own));
        }
        let di = &mut h.document_identification;
        if di.instance_identifier.as_deref().is_none_or(str::is_empty) {
            di.instance_identifier = Some(Uuid::new_v4().to_string());
        }
        if di.creation_date_and_time.is_none() {
            di.creation_date_and_time = Some(format_timestamp(now));
        }
        for s in &mut h.business_scope.scope {
            if s.instance_identifier.as_deref().is_none_or(str::is_empty) {
                s.instance_identifier = Some(Uuid::new_v4().to_string());
            }
            if ScopeKind::ConversationId.matches(&s.scope_type)
                && !s
                    .scope_information
                    .iter()
                    .any(|c| c.expected_response_date_time.is_some())
            {
                match s.scope_information.first_mut() {
                    Some(c) => c.expected_response_date_time = Some(format_timestamp(now + ttl)),
                    None => s.scope_information.push(CorrelationInformation {
                        expected_response_date_time: Some(format_timestamp(now + ttl)),
                        ..Default::default()
                    }),
                }
            }
        }
        if let Some(channel) = channel {
            if !h
                .business_scope
                .scope
                .iter()
                .any(|s| ScopeKind::MessageChannel.matches(&s.scope_type))
            {
                h.business_scope.scope.push(channel_scope(channel));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Timestamps

/// "Now" in Europe/Oslo to the microsecond, as the IP (Java's clock) stamps its SBDs.
pub fn now_oslo() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap_or(now);
    now.to_offset(oslo_offset_at_utc(now))
}

/// Europe/Oslo's offset at a UTC instant: CET (+1), CEST (+2) from the last Sunday of March
/// 01:00 UTC to the last Sunday of October 01:00 UTC (EU rules since 1996).
fn oslo_offset_at_utc(t: OffsetDateTime) -> UtcOffset {
    let t = t.to_offset(UtcOffset::UTC);
    let year = t.year();
    let start = last_sunday(year, Month::March)
        .with_hms(1, 0, 0)
        .expect("valid")
        .assume_utc();
    let end = last_sunday(year, Month::October)
        .with_hms(1, 0, 0)
        .expect("valid")
        .assume_utc();
    let hours = if t >= start && t < end { 2 } else { 1 };
    UtcOffset::from_hms(hours, 0, 0).expect("valid offset")
}

fn last_sunday(year: i32, month: Month) -> Date {
    let mut d = Date::from_calendar_date(year, month, month.length(year)).expect("valid date");
    while d.weekday() != Weekday::Sunday {
        d = d.previous_day().expect("in range");
    }
    d
}

/// Format like Java's ISO_OFFSET_DATE_TIME: seconds always, as many fraction digits as needed
/// (none when zero), `Z` for UTC.
pub fn format_timestamp(t: OffsetDateTime) -> String {
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    let off = t.offset();
    if off.is_utc() {
        s.push('Z');
    } else {
        let secs = off.whole_seconds();
        let sign = if secs < 0 { '-' } else { '+' };
        let a = secs.unsigned_abs();
        s.push_str(&format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60));
    }
    s
}

/// Parse an ISO-8601 date-time as the IP's reader does: `YYYY-MM-DDTHH:MM[:SS[.f{1,9}]]` followed
/// by `Z`, `±HH:MM`, `±HHMM`, `±HH`, or nothing (then the time is Europe/Oslo local time).
pub fn parse_timestamp(s: &str) -> Result<OffsetDateTime> {
    let bad = || {
        Error::new(
            ErrorKind::SbdInvalid,
            format!(
                "{s:?} is not an ISO-8601 date-time (expected e.g. 2024-05-10T12:34:56.123+02:00)"
            ),
        )
    };
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let year = num(0, 4).ok_or_else(bad)?;
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't'))
        || b.get(13) != Some(&b':')
    {
        return Err(bad());
    }
    let (month, day, hour, minute) = (
        num(5, 2).ok_or_else(bad)?,
        num(8, 2).ok_or_else(bad)?,
        num(11, 2).ok_or_else(bad)?,
        num(14, 2).ok_or_else(bad)?,
    );
    let mut i = 16;
    let mut second = 0;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b':') {
        second = num(i + 1, 2).ok_or_else(bad)?;
        i += 3;
        if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let digits = i - start;
            if digits == 0 || digits > 9 {
                return Err(bad());
            }
            nanos = num(start, digits).ok_or_else(bad)? * 10u32.pow((9 - digits) as u32);
        }
    }
    let month = Month::try_from(month as u8).map_err(|_| bad())?;
    let date = Date::from_calendar_date(year as i32, month, day as u8).map_err(|_| bad())?;
    let time =
        Time::from_hms_nano(hour as u8, minute as u8, second as u8, nanos).map_err(|_| bad())?;
    let local = PrimitiveDateTime::new(date, time);
    let rest = &s[i..];
    let offset = match rest {
        "" => {
            // Local Oslo time: try the winter offset, then correct if that instant is in summer.
            let guess = local.assume_offset(UtcOffset::from_hms(1, 0, 0).expect("valid"));
            return Ok(local.assume_offset(oslo_offset_at_utc(guess)));
        }
        "Z" | "z" => UtcOffset::UTC,
        _ => {
            let rb = rest.as_bytes();
            let sign: i8 = match rb[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(bad()),
            };
            let digits: String = rest[1..].chars().filter(|c| *c != ':').collect();
            if !digits.bytes().all(|c| c.is_ascii_digit())
                || !matches!(digits.len(), 2 | 4)
                || (rest.len() == 6 && rb[3] != b':')
            {
                return Err(bad());
            }
            let h: i8 = digits[..2].parse().map_err(|_| bad())?;
            let m: i8 = if digits.len() == 4 {
                digits[2..].parse().map_err(|_| bad())?
            } else {
                0
            };
            UtcOffset::from_hms(sign * h, sign * m, 0).map_err(|_| bad())?
        }
    };
    Ok(local.assume_offset(offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_java_style() {
        for s in [
            "2024-05-10T12:34:56.48213+02:00",
            "2019-03-25T11:35:00+01:00",
            "2003-05-10T00:31:52Z",
            "2024-05-10T12:35:10.2+02:00",
            "2024-05-10T12:35:10.123456789-03:30",
        ] {
            assert_eq!(format_timestamp(parse_timestamp(s).unwrap()), s);
        }
        // Minutes only, compact offsets, no offset (Oslo).
        assert_eq!(
            format_timestamp(parse_timestamp("2024-05-10T12:34+0200").unwrap()),
            "2024-05-10T12:34:00+02:00"
        );
        assert_eq!(
            format_timestamp(parse_timestamp("2024-07-01T10:00:00").unwrap()),
            "2024-07-01T10:00:00+02:00"
        );
        assert_eq!(
            format_timestamp(parse_timestamp("2024-01-01T10:00:00").unwrap()),
            "2024-01-01T10:00:00+01:00"
        );
        for bad in [
            "2024-13-01T00:00:00Z",
            "yesterday",
            "2024-01-01T00:00:00.1234567890Z",
            "2024-01-01T00:00:00+2",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod status_tests {
    use super::*;

    #[test]
    fn unknown_status_text_is_annet_not_an_error() {
        let m: StatusMessage = serde_json::from_str(r#"{"status":"KLAR_FOR_MOTTAK"}"#).unwrap();
        assert_eq!(m.status, ReceiptStatus::Annet);
        let m: StatusMessage = serde_json::from_str(r#"{"status":"LEVERT"}"#).unwrap();
        assert_eq!(m.status, ReceiptStatus::Levert);
    }
}
