//! The business messages DPO carries: `arkivmelding`, `status` and `arkivmelding_kvittering`.

use super::*;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// unreadable (the IP's `DefaultDpoPolling` discards a package it cannot parse, or before v4
    /// fetched it again on every poll).
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
pub fn strict_status<'de, D: Deserializer<'de>>(
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
    /// OK, WARNING, ERROR or NOTSUPPORTED (kept as text: unknown values mean LEST, IP
    /// `AltinnNextMoveMessageHandler`).
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
    /// LEST for anything else (IP `AltinnNextMoveMessageHandler`).
    pub fn resulting_status(&self) -> ReceiptStatus {
        match self.receipt_type.as_str() {
            "ERROR" | "NOTSUPPORTED" => ReceiptStatus::Feil,
            _ => ReceiptStatus::Lest,
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
