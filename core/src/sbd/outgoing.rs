//! The SBD a caller hands to `send` (the `sbd` member of a send request), read strictly: every
//! member of the integration point's model (efm-common `sbdh`, the IP's `nextmove` business
//! messages) and nothing else, each with its type, so a misspelt member (`"businesScope"`) or a
//! number where text belongs is refused with its path
//! (`sbd.standardBusinessDocumentHeader.businesScope`) instead of silently dropped.
//!
//! Only what we *send* is read this way. A *received* `sbd.json` goes through the lenient
//! [`Sbd::from_json`] and [`Sbd::check_received`], which take whatever the IP takes.
//!
//! The shape types below exist only to check and to describe (`schema/send_request.schema.json`);
//! once checked, the document is read into [`Sbd`] by the same code as every other SBD.

use super::*;
use schemars::JsonSchema;

/// An SBD to send: the header and exactly one business message, whose member name equals
/// `documentIdentification.type`. Business messages efm does not model (`avtalt`, ...) are
/// passed on as given.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "StandardBusinessDocument")]
pub struct OutgoingSbd {
    #[serde(rename = "standardBusinessDocumentHeader")]
    header: OutHeader,
    arkivmelding: Option<OutArkivmelding>,
    status: Option<OutStatus>,
    arkivmelding_kvittering: Option<OutKvittering>,
    avtalt: Option<Map<String, Value>>,
    innsynskrav: Option<Map<String, Value>>,
    publisering: Option<Map<String, Value>>,
    einnsyn_kvittering: Option<Map<String, Value>>,
    digital: Option<Map<String, Value>>,
    digital_dpv: Option<Map<String, Value>>,
    print: Option<Map<String, Value>>,
    dialogmelding: Option<Map<String, Value>>,
    dialogmelding_kvittering: Option<Map<String, Value>>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OutHeader {
    header_version: Option<String>,
    sender: Option<Vec<OutPartner>>,
    receiver: Option<Vec<OutPartner>>,
    document_identification: OutDocumentIdentification,
    manifest: Option<OutManifest>,
    business_scope: Option<OutBusinessScope>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OutPartner {
    identifier: OutPartnerIdentification,
    contact_information: Option<Vec<OutContactInformation>>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct OutPartnerIdentification {
    /// `0192:<organisation number>`.
    value: String,
    /// `iso6523-actorid-upis`.
    authority: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OutContactInformation {
    contact: Option<String>,
    email_address: Option<String>,
    fax_number: Option<String>,
    telephone_number: Option<String>,
    contact_type_identifier: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OutDocumentIdentification {
    standard: Option<String>,
    type_version: Option<String>,
    /// The message id (a UUID).
    instance_identifier: Option<String>,
    /// The business message type, equal to the business message's member name.
    #[serde(rename = "type")]
    type_name: String,
    multiple_type: Option<bool>,
    creation_date_and_time: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OutManifest {
    number_of_items: Option<i64>,
    manifest_item: Option<Vec<OutManifestItem>>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OutManifestItem {
    mime_type_qualifier_code: Option<String>,
    uniform_resource_identifier: Option<String>,
    description: Option<String>,
    language_code: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct OutBusinessScope {
    scope: Option<Vec<OutScope>>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OutScope {
    /// `ConversationId`, `SenderRef`, `ReceiverRef`, `JournalpostId`, `MessageChannel`, `ParentId`.
    #[serde(rename = "type")]
    scope_type: String,
    instance_identifier: Option<String>,
    identifier: Option<String>,
    scope_information: Option<Vec<OutCorrelationInformation>>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OutCorrelationInformation {
    requesting_document_creation_date_time: Option<String>,
    requesting_document_instance_identifier: Option<String>,
    expected_response_date_time: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OutArkivmelding {
    /// 3 or 4 (a number; a string as the NextMove documentation's schema has it is accepted).
    sikkerhetsnivaa: Option<NumberOrText>,
    hoveddokument: Option<String>,
    dpv: Option<OutDpv>,
    dpf: Option<OutDpf>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
enum NumberOrText {
    Number(i64),
    Text(String),
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OutDpv {
    varsel_type: Option<String>,
    varsel_transport_type: Option<String>,
    varsel_tekst: Option<String>,
    taushetsbelagt_varsel_tekst: Option<String>,
    dager_til_svarfrist: Option<i64>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OutDpf {
    forsendelse_type: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct OutStatus {
    #[serde(default, deserialize_with = "strict_status")]
    status: Option<ReceiptStatus>,
    hoveddokument: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OutKvittering {
    /// OK, WARNING, ERROR or NOTSUPPORTED.
    receipt_type: Option<String>,
    related_to_message_id: Option<String>,
    messages: Option<Vec<OutKvitteringText>>,
    hoveddokument: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct OutKvitteringText {
    code: Option<String>,
    text: Option<String>,
}

impl OutgoingSbd {
    /// The checked document as an [`Sbd`] (the IP's structural rules: one business message,
    /// named as the type says). Members given as `null` are left out, as the IP writes them.
    pub fn into_sbd(self) -> Result<Sbd> {
        let mut value = serde_json::to_value(self)
            .map_err(|e| Error::new(ErrorKind::InvalidArgument, e.to_string()))?;
        strip_nulls(&mut value);
        Sbd::from_value(value)
    }
}

fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(members) => {
            members.retain(|_, v| !v.is_null());
            members.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// `deserialize_with` for a send request's `sbd`: strict shape first (errors name the member),
/// then the SBD rules. Received SBDs never come this way.
pub fn deserialize_outgoing<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Sbd>, D::Error> {
    match Option::<OutgoingSbd>::deserialize(d)? {
        None => Ok(None),
        Some(shape) => shape
            .into_sbd()
            .map(Some)
            .map_err(|e| serde::de::Error::custom(e.message())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::SendRequest;
    use crate::input::parse_json;

    fn request(sbd: Value) -> Result<SendRequest> {
        let json = serde_json::json!({ "sbd": sbd }).to_string();
        parse_json(&json, "request_json", ErrorKind::InvalidArgument)
    }

    /// The member a refused request names, and the error (for the assertion message).
    fn refused_member(sbd: Value) -> (String, Error) {
        let e = request(sbd).unwrap_err();
        (e.detail().field.clone().unwrap_or_default(), e)
    }

    fn example() -> Value {
        let sbd = ArkivmeldingSbd::new(
            OrgNumber::parse("910075918").unwrap(),
            OrgNumber::parse("910076787").unwrap(),
        )
        .build(OffsetDateTime::UNIX_EPOCH + Duration::days(20_000));
        serde_json::from_str(&sbd.to_json()).unwrap()
    }

    #[test]
    fn a_complete_sbd_is_read_as_written() {
        let given = example();
        let read = request(given.clone()).unwrap().sbd.unwrap();
        assert_eq!(read, Sbd::from_value(given).unwrap());
    }

    #[test]
    fn unknown_members_are_refused_with_their_path() {
        type Edit = fn(&mut Value);
        let cases: [(&str, Edit); 5] = [
            ("sbd.standardBusinessDocumentHeader.businesScope", |v| {
                v[HEADER_KEY]["businesScope"] = Value::Null
            }),
            (
                "sbd.standardBusinessDocumentHeader.documentIdentification.instanceIdentifer",
                |v| v[HEADER_KEY]["documentIdentification"]["instanceIdentifer"] = "x".into(),
            ),
            (
                "sbd.standardBusinessDocumentHeader.businessScope.scope[0].idnetifier",
                |v| v[HEADER_KEY]["businessScope"]["scope"][0]["idnetifier"] = "x".into(),
            ),
            ("sbd.arkivmelding.sikkerhetsniva", |v| {
                v["arkivmelding"]["sikkerhetsniva"] = 4.into()
            }),
            ("sbd.arkivmelding.dpv.varselTeskt", |v| {
                v["arkivmelding"]["dpv"] = serde_json::json!({"varselTeskt": "hei"})
            }),
        ];
        for (path, edit) in cases {
            let mut v = example();
            edit(&mut v);
            let (member, e) = refused_member(v);
            assert_eq!(member, path, "{e}");
            assert!(e.message().contains("unknown field"), "{e}");
        }
    }

    #[test]
    fn wrong_types_are_refused_with_their_path_and_without_the_value() {
        let mut v = example();
        v[HEADER_KEY]["receiver"][0]["identifier"]["value"] = 910076787.into();
        let (member, e) = refused_member(v);
        let path = "sbd.standardBusinessDocumentHeader.receiver[0].identifier.value";
        assert_eq!(member, path, "{e}");
        assert!(!e.message().contains("910076787"), "{e}");
        let mut v = example();
        v["arkivmelding"]["dpv"] = serde_json::json!({"dagerTilSvarfrist": "ti"});
        let (member, e) = refused_member(v);
        assert_eq!(member, "sbd.arkivmelding.dpv.dagerTilSvarfrist", "{e}");
    }

    #[test]
    fn a_status_to_send_must_be_a_known_status() {
        let status = serde_json::json!({
            HEADER_KEY: {"documentIdentification": {"type": "status"}},
            "status": {"status": "LEVERT"},
        });
        let sbd = request(status.clone()).unwrap().sbd.unwrap();
        assert!(matches!(
            sbd.message,
            BusinessMessage::Status(StatusMessage {
                status: ReceiptStatus::Levert,
                ..
            })
        ));
        let mut bad = status;
        bad["status"]["status"] = "LEVRET".into();
        let (member, e) = refused_member(bad);
        assert_eq!(member, "sbd.status.status", "{e}");
    }

    #[test]
    fn the_sbd_rules_still_apply_and_nulls_are_left_out() {
        let mut v = example();
        v["status"] = serde_json::json!({"status": "LEVERT"});
        let e = request(v).unwrap_err();
        assert!(e.message().contains("exactly two members"), "{e}");
        let given = example();
        let mut v = given.clone();
        v[HEADER_KEY]["manifest"] = Value::Null;
        v["arkivmelding"]["dpf"] = Value::Null;
        assert_eq!(
            request(v).unwrap().sbd.unwrap(),
            Sbd::from_value(given).unwrap()
        );
    }

    #[test]
    fn a_received_sbd_stays_lenient() {
        // What the IP's Jackson (FAIL_ON_UNKNOWN_PROPERTIES off) takes, we take on receive.
        let mut v = example();
        v[HEADER_KEY]["businesScope"] = serde_json::json!({"x": 1});
        v["arkivmelding"]["nyttFelt"] = "fra en nyere avsender".into();
        let sbd = Sbd::from_json(v.to_string().as_bytes()).unwrap();
        assert!(sbd.check_received().is_ok());
    }
}
