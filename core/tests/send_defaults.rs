//! Sending with production's defaults, through the public API against the sandbox: the Service
//! Registry token scope of integration point v4 (`eformidling:dpo`) with the fallback to
//! `move/dpo.read` for clients registered before it; an `arkivmelding_kvittering` that goes back
//! on the original message's MessageChannel; sending on behalf of another organisation refused
//! clearly.

mod common;

use common::{admin, sandbox, sandbox_config, sandbox_config_json, ORG_A, ORG_B};
use efm_core::client::{Client, Direction, MessageFilter, PollSummary, SendDocument, SendRequest};
use efm_core::config::Config;
use efm_core::sbd::{ArkivmeldingSbd, ReceiptStatus, Sbd};
use efm_core::ErrorKind;
use efm_sandbox::Sandbox;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const ARKIVMELDING: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<arkivmelding xmlns="http://www.arkivverket.no/standarder/noark5/arkivmelding">
  <system>efm test</system>
  <meldingId>defaults-1</meldingId>
  <tidspunkt>2026-01-01T12:00:00+01:00</tidspunkt>
  <antallFiler>0</antallFiler>
</arkivmelding>
"#;

fn documents(dir: &Path) -> Vec<SendDocument> {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("arkivmelding.xml"), ARKIVMELDING).unwrap();
    vec![SendDocument {
        name: "arkivmelding.xml".into(),
        path: dir.join("arkivmelding.xml"),
        mime: None,
    }]
}

fn to_b(dir: &Path) -> SendRequest {
    SendRequest {
        receiver: Some(ORG_B.into()),
        documents: documents(dir),
        ..Default::default()
    }
}

fn poll_until(c: &Client, done: impl Fn(&PollSummary) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = c.poll().unwrap();
        if done(&s) {
            return;
        }
        assert!(Instant::now() < deadline, "nothing arrived");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Give A's Maskinporten client exactly these scopes (besides the broker's).
fn grant(sb: &Sandbox, scopes: &[&str]) {
    let cfg = sandbox_config(sb, ORG_A);
    let mut all = vec!["altinn:broker.read", "altinn:broker.write"];
    all.extend_from_slice(scopes);
    admin(
        sb,
        "/admin/clients",
        json!({"client_id": cfg.credentials.client_id, "organisation_number": ORG_A, "scopes": all}),
    );
}

#[test]
fn the_registry_scope_is_eformidling_dpo_with_move_dpo_read_as_fallback() {
    let sb = sandbox("defaults-scope");
    let work = sandbox_config(&sb, ORG_A).data_dir.join("../test-scope");
    assert_eq!(
        sandbox_config(&sb, ORG_A).registry_scopes,
        ["eformidling:dpo"]
    );

    // A client of integration point v4: only the new scope. The lookup uses it.
    grant(&sb, &["eformidling:dpo"]);
    let a = Client::new(sandbox_config(&sb, ORG_A)).unwrap();
    let sent = a.send(to_b(&work.join("v4")), &mut |_, _| {}).unwrap();
    assert_eq!(sent.status, ReceiptStatus::Sendt);

    // A client registered before v4: Maskinporten refuses the new scope (invalid_scope), and
    // the lookup falls back to move/dpo.read.
    grant(&sb, &["move/dpo.read"]);
    let a = Client::new(sandbox_config(&sb, ORG_A)).unwrap();
    let sent = a.send(to_b(&work.join("old")), &mut |_, _| {}).unwrap();
    assert_eq!(sent.status, ReceiptStatus::Sendt);

    // Neither: a clear authorisation error naming the scope, nothing stored.
    grant(&sb, &[]);
    let a = Client::new(sandbox_config(&sb, ORG_A)).unwrap();
    let before = a.messages(&MessageFilter::default()).unwrap().len();
    let e = a
        .send(to_b(&work.join("none")), &mut |_, _| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthScopeNotGranted, "{e}");
    assert!(e.message().contains("move/dpo.read"), "{e}");
    assert_eq!(a.messages(&MessageFilter::default()).unwrap().len(), before);

    // A configured scope list is used as it is, without a fallback.
    grant(&sb, &["move/dpo.read"]);
    let mut v = sandbox_config_json(&sb, ORG_A);
    v["registry_scopes"] = json!(["eformidling:dpo"]);
    let a = Client::new(Config::from_json(&v.to_string()).unwrap()).unwrap();
    let e = a
        .send(to_b(&work.join("configured")), &mut |_, _| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthScopeNotGranted, "{e}");
}

/// A sends on its own message channel; B's archive system answers with an
/// arkivmelding_kvittering SBD of its own making (no MessageChannel scope). The reply carries
/// the original's channel, so A's installation, which takes only its channel, gets it.
#[test]
fn an_arkivmelding_kvittering_goes_back_on_the_originals_message_channel() {
    let sb = sandbox("defaults-channel");
    let mut v = sandbox_config_json(&sb, ORG_A);
    v["message_channel"] = json!("arkiv-a");
    let a = Client::new(Config::from_json(&v.to_string()).unwrap()).unwrap();
    let b = Client::new(sandbox_config(&sb, ORG_B)).unwrap();
    let work = sandbox_config(&sb, ORG_A).data_dir.join("../test-channel");
    let sent = a.send(to_b(&work.join("out")), &mut |_, _| {}).unwrap();
    poll_until(&b, |s| !s.received.is_empty());
    let m = b.peek().unwrap().unwrap();
    b.delete(&m.info.message_id).unwrap();
    let original = Sbd::from_value(m.sbd).unwrap();
    assert_eq!(original.message_channel(), Some("arkiv-a"));
    let mut kvittering = original
        .kvittering_reply("OK", Vec::new(), time::OffsetDateTime::now_utc())
        .unwrap();
    // As an archive system writes it: without the channel.
    kvittering
        .header
        .business_scope
        .scope
        .retain(|s| s.scope_type != "MessageChannel");
    assert_eq!(kvittering.message_channel(), None);
    let k = b
        .send(
            SendRequest {
                sbd: Some(kvittering),
                ..Default::default()
            },
            &mut |_, _| {},
        )
        .unwrap();
    let transfer = k.transfer_id.clone().unwrap();
    let http = efm_core::http::Http::with_settings(&Default::default()).unwrap();
    let r = http
        .get(&format!("{}/admin/transfers", sb.base_url()))
        .call()
        .unwrap();
    let all: serde_json::Value = serde_json::from_str(&r.read_text(1 << 22).unwrap()).unwrap();
    let t = all
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["fileTransferId"] == json!(transfer))
        .unwrap()
        .clone();
    assert_eq!(t["sendersFileTransferReference"], json!("arkiv-a"));

    poll_until(&a, |s| s.received.contains(&k.message_id));
    assert_eq!(
        a.message(&sent.message_id).unwrap().status,
        ReceiptStatus::Lest
    );
}

/// `0192:<own>:<other>` as the sender: refused before anything is stored or uploaded, saying
/// what to do instead.
#[test]
fn sending_on_behalf_of_another_organisation_is_refused_clearly() {
    let sb = sandbox("defaults-behalf");
    let a = Client::new(sandbox_config(&sb, ORG_A)).unwrap();
    let work = sandbox_config(&sb, ORG_A).data_dir.join("../test-behalf");
    let mut sbd = ArkivmeldingSbd::new(
        efm_core::ident::OrgNumber::parse(ORG_A).unwrap(),
        efm_core::ident::OrgNumber::parse(ORG_B).unwrap(),
    )
    .build(time::OffsetDateTime::now_utc());
    sbd.header.sender[0].identifier.value = format!("0192:{ORG_A}:984661185");
    let e = a
        .send(
            SendRequest {
                sbd: Some(sbd),
                documents: documents(&work),
                ..Default::default()
            },
            &mut |_, _| {},
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidMessage, "{e}");
    assert_eq!(e.detail().field.as_deref(), Some("sender"));
    assert!(e.message().contains("on behalf of"), "{e}");
    assert!(a
        .messages(&MessageFilter {
            direction: Some(Direction::Outgoing),
            ..Default::default()
        })
        .unwrap()
        .is_empty());
}
