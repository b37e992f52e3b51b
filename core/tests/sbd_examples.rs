//! The SBD model against the reference examples (IP cucumber data, docs) and the IP's rules.

use efm_core::ident::OrgNumber;
use efm_core::sbd::*;
use efm_core::ErrorKind;
use serde_json::{json, Value};

fn read(rel: String) -> Vec<u8> {
    let path = efm_test_support::fixture(&rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const NEXTMOVE: &str = "nextmove/examples/";
const ALTINN: &str = "altinn-soap/";

fn example(name: &str) -> Sbd {
    Sbd::from_json(&read(format!("{NEXTMOVE}{name}"))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn field_of(e: &efm_core::Error) -> String {
    e.detail().field.clone().unwrap_or_default()
}

#[test]
fn wire_examples_parse_and_validate() {
    for name in [
        "ip-out-create-arkivmelding-request-cucumber.json",
        "incoming-arkivmelding-sbd-cucumber.json",
        "status-sbd-LEVERT-incoming-at-sender.json",
        "ip-out-create-arkivmelding-response.json",
        "ip-in-delete-response-sbd-arkivmelding.json",
    ] {
        let sbd = example(name);
        sbd.validate(&ValidationOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let status = example("status-sbd-LEVERT-incoming-at-sender.json");
    match &status.message {
        BusinessMessage::Status(s) => assert_eq!(s.status, ReceiptStatus::Levert),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        status.message_id(),
        Some("ff88849c-e281-4809-8555-7cd54952b916")
    );
    assert_eq!(status.process(), Some(PROCESS_ARKIVMELDING_RESPONSE));
    // The incoming cucumber SBD carries an unmodelled member; it is kept.
    let incoming = example("incoming-arkivmelding-sbd-cucumber.json");
    match &incoming.message {
        BusinessMessage::Arkivmelding(a) => assert_eq!(a.extra["securityLevel"], json!(3)),
        other => panic!("{other:?}"),
    }
    // einnsyn publisering is a known type, carried raw.
    let p = example("ip-in-peek-sbd-publisering.json");
    assert_eq!(p.message.type_name(), "publisering");
}

#[test]
fn request_templates_parse_but_fail_receiver_validation() {
    // These are what an end system posts to the IP; the IP fills ids and TTL before sending, so a
    // receiver must refuse them as they are.
    let k = example("arkivmelding-kvittering-sbd-docs.json");
    match &k.message {
        BusinessMessage::ArkivmeldingKvittering(r) => {
            assert_eq!(r.receipt_type, "OK");
            assert_eq!(r.messages[0].text.as_deref(), Some("315890"));
            assert_eq!(r.resulting_status(), ReceiptStatus::Lest);
        }
        other => panic!("{other:?}"),
    }
    let e = k.validate(&ValidationOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SbdInvalid);
    assert_eq!(field_of(&e), "standardBusinessDocumentHeader.sender");

    let mut minimal = example("out-create-arkivmelding-minimal-docs.json");
    let own = OrgNumber::parse("910077473").unwrap();
    minimal.fill_defaults(&own, DEFAULT_TTL, Some("kanal-1"), now_oslo());
    minimal.validate(&ValidationOptions::default()).unwrap();
    assert_eq!(minimal.sender_identifier(), Some("0192:910077473"));
    assert_eq!(minimal.message_channel(), Some("kanal-1"));
}

#[test]
fn legacy_icd_9908_is_rejected_by_strict_validation() {
    let sbd = Sbd::from_json(&read(format!("{ALTINN}StandardBusinessDocument.json"))).unwrap();
    let e = sbd.validate(&ValidationOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SbdInvalid);
    assert_eq!(
        field_of(&e),
        "standardBusinessDocumentHeader.sender[0].identifier.value"
    );
    assert!(e.message().contains("9908"), "{e}");
}

#[test]
fn docs_template_with_placeholders_is_not_an_sbd() {
    // The docs template has the placeholder "<forretningsmeldingnavn>" as its type.
    let e = Sbd::from_json(&read(format!("{ALTINN}sbd.json"))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SbdInvalid);
    assert_eq!(
        field_of(&e),
        "standardBusinessDocumentHeader.documentIdentification.type"
    );
}

fn base() -> Value {
    serde_json::from_slice(&read(format!(
        "{NEXTMOVE}ip-out-create-arkivmelding-request-cucumber.json"
    )))
    .unwrap()
}

fn expect_invalid(v: Value, field: &str) {
    let r = Sbd::from_value(v).and_then(|s| s.validate(&ValidationOptions::default()));
    let e = r.expect_err(field);
    assert_eq!(e.kind(), ErrorKind::SbdInvalid, "{e}");
    assert_eq!(field_of(&e), field, "{e}");
}

#[test]
fn structural_and_field_rules() {
    let mut v = base();
    v["extra"] = json!({});
    expect_invalid(v, "$");

    let mut v = base();
    let am = v.as_object_mut().unwrap().remove("arkivmelding").unwrap();
    v["status"] = am;
    expect_invalid(v, "status");

    let mut v = base();
    v["standardBusinessDocumentHeader"]["documentIdentification"]["instanceIdentifier"] =
        json!("not-a-uuid");
    expect_invalid(
        v,
        "standardBusinessDocumentHeader.documentIdentification.instanceIdentifier",
    );

    let mut v = base();
    v["standardBusinessDocumentHeader"]["businessScope"]["scope"][0]["instanceIdentifier"] =
        json!("x");
    expect_invalid(
        v,
        "standardBusinessDocumentHeader.businessScope.scope[0].instanceIdentifier",
    );

    let mut v = base();
    v["standardBusinessDocumentHeader"]["receiver"][0]["identifier"]["value"] =
        json!("0192:404040404");
    expect_invalid(
        v,
        "standardBusinessDocumentHeader.receiver[0].identifier.value",
    );

    let mut v = base();
    v["standardBusinessDocumentHeader"]["receiver"][0]["identifier"]["value"] = json!("910075918");
    expect_invalid(
        v,
        "standardBusinessDocumentHeader.receiver[0].identifier.value",
    );

    let mut v = base();
    v["standardBusinessDocumentHeader"]["businessScope"]["scope"][0]
        .as_object_mut()
        .unwrap()
        .remove("scopeInformation");
    expect_invalid(v, "standardBusinessDocumentHeader.businessScope.scope[0].scopeInformation[0].expectedResponseDateTime");

    let mut v = base();
    v["standardBusinessDocumentHeader"]["businessScope"]["scope"][0]["scopeInformation"][0]
        ["expectedResponseDateTime"] = json!("soon");
    expect_invalid(v, "standardBusinessDocumentHeader.businessScope.scope[0].scopeInformation[0].expectedResponseDateTime");

    let mut v = base();
    v["standardBusinessDocumentHeader"]["documentIdentification"]["standard"] =
        json!("urn:no:difi:eformidling:xsd::status");
    expect_invalid(
        v,
        "standardBusinessDocumentHeader.documentIdentification.standard",
    );

    // Header second is accepted; the writer puts it first again.
    let v = base();
    let mut reordered = serde_json::Map::new();
    reordered.insert("arkivmelding".into(), v["arkivmelding"].clone());
    reordered.insert(
        "standardBusinessDocumentHeader".into(),
        v["standardBusinessDocumentHeader"].clone(),
    );
    let sbd = Sbd::from_value(Value::Object(reordered)).unwrap();
    assert!(sbd
        .to_json()
        .starts_with("{\"standardBusinessDocumentHeader\""));
    // sikkerhetsnivaa as a string is accepted and written as a number.
    let mut v = base();
    v["arkivmelding"]["sikkerhetsnivaa"] = json!("4");
    let sbd = Sbd::from_value(v).unwrap();
    assert!(sbd.to_json().contains("\"sikkerhetsnivaa\":4"));
}

#[test]
fn serialisation_order_matches_the_ip() {
    // The member order the IP writes (efm-common's SBD model and
    // `StandardBusinessDocumentSerializer`); parse the cucumber example (alphabetical input)
    // and check the output keys come out in the IP's order.
    let sbd = example("ip-out-create-arkivmelding-request-cucumber.json");
    let text = sbd.to_json_pretty();
    let order = [
        "\"headerVersion\"",
        "\"sender\"",
        "\"receiver\"",
        "\"documentIdentification\"",
        "\"standard\"",
        "\"typeVersion\"",
        "\"instanceIdentifier\"",
        "\"type\"",
        "\"creationDateAndTime\"",
        "\"businessScope\"",
        "\"arkivmelding\"",
        "\"sikkerhetsnivaa\"",
        "\"hoveddokument\"",
    ];
    let mut last = 0;
    for key in order {
        let at = text[last..]
            .find(key)
            .unwrap_or_else(|| panic!("{key} after {last} in {text}"))
            + last;
        last = at;
    }
    let scope = text.find("\"ConversationId\"").unwrap();
    let inst = text[scope..].find("\"instanceIdentifier\"").unwrap();
    let ident = text[scope..].find("\"identifier\"").unwrap();
    let info = text[scope..].find("\"scopeInformation\"").unwrap();
    assert!(inst < ident && ident < info);
    assert!(
        text[..text.find("\"receiver\"").unwrap()]
            .find("\"value\"")
            .unwrap()
            < text.find("\"authority\"").unwrap()
    );
    assert!(!text.contains("null"));
    // Same data after a round trip.
    let again = Sbd::from_json(text.as_bytes()).unwrap();
    assert_eq!(again, sbd);
}

#[test]
fn builders_follow_c4() {
    let sender = OrgNumber::parse("910077473").unwrap();
    let receiver = OrgNumber::parse("910075918").unwrap();
    let mut b = ArkivmeldingSbd::new(sender, receiver);
    b.message_channel = Some("kanal".into());
    let now = now_oslo();
    // SenderRef is free text (a case number), as the IP has accepted since MOVE-2799.
    b.sender_ref = Some("2024/1234-5".into());
    let out = b.build(now);
    out.validate(&ValidationOptions::default()).unwrap();
    assert_eq!(out.sender_ref(), Some("2024/1234-5"));
    b.sender_ref = Some("4e7a4c1e-5b8f-4f4e-9a2c-0c1d2e3f4a5b".into());
    let out = b.build(now);
    out.validate(&ValidationOptions::default()).unwrap();
    assert_eq!(
        out.sender_ref(),
        Some("4e7a4c1e-5b8f-4f4e-9a2c-0c1d2e3f4a5b")
    );
    assert!(!out.is_expired(now));
    assert!(out.is_expired(now + time::Duration::hours(25)));

    let status = out.status_reply(ReceiptStatus::Mottatt, now).unwrap();
    status.validate(&ValidationOptions::default()).unwrap();
    assert_eq!(status.message_id(), out.message_id());
    assert_eq!(status.conversation_id(), out.conversation_id());
    assert_eq!(status.sender_identifier(), Some("0192:910075918"));
    assert_eq!(status.receiver_identifier(), Some("0192:910077473"));
    assert_eq!(status.process(), Some(PROCESS_ARKIVMELDING_RESPONSE));
    assert_eq!(
        status.header.document_identification.standard,
        STANDARD_STATUS
    );
    assert_eq!(status.message_channel(), Some("kanal"));
    assert_eq!(status.to_value()["status"], json!({"status": "MOTTATT"}));

    let k = out
        .kvittering_reply(
            "ERROR",
            vec![KvitteringText {
                code: Some("E1".into()),
                text: Some("nope".into()),
            }],
            now,
        )
        .unwrap();
    k.validate(&ValidationOptions::default()).unwrap();
    assert_ne!(k.message_id(), out.message_id());
    assert_eq!(k.conversation_id(), out.conversation_id());
    match &k.message {
        BusinessMessage::ArkivmeldingKvittering(r) => {
            assert_eq!(Some(r.related_to_message_id.as_str()), out.message_id());
            assert_eq!(r.resulting_status(), ReceiptStatus::Feil);
        }
        other => panic!("{other:?}"),
    }
}
