//! Several organisations in one configuration, one store and one process: A and B share a data
//! directory and a database (SQLite, or PostgreSQL with `EFM_TEST_STORE=postgres`), C has its
//! own. They send to each other through the sandbox; each sees only its own messages, statuses,
//! queue and quarantine, and a message from A to B is stored once on each side and reaches
//! LEVERT.

mod common;

use common::{
    sandbox, sandbox_config, shared_config_json, upload_raw, work_dir, ORG_A, ORG_B, ORG_C,
};
use efm_core::client::{Client, Direction, MessageFilter, SendDocument, SendRequest};
use efm_core::config::Config;
use efm_core::sbd::ReceiptStatus;
use efm_core::ErrorKind;
use std::path::Path;
use std::time::{Duration, Instant};

fn send(from: &Client, to: &str, dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("arkivmelding.xml"),
        format!("<arkivmelding>{to}</arkivmelding>"),
    )
    .unwrap();
    let sent = from
        .send(
            SendRequest {
                receiver: Some(to.to_string()),
                documents: SendDocument::in_folder(dir, &["arkivmelding.xml"]),
                ..SendRequest::default()
            },
            &mut |_, _| {},
        )
        .unwrap();
    assert_eq!(sent.status, ReceiptStatus::Sendt);
    sent.message_id
}

fn ids(c: &Client, direction: Direction) -> Vec<String> {
    let mut out: Vec<String> = c
        .messages(&MessageFilter {
            direction: Some(direction),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|m| m.message_id)
        .collect();
    out.sort();
    out
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Poll every client until `done`, taking each queued message into the archive (peek, pop,
/// delete) so LEVERT goes back.
fn serve_until(clients: &[&Client], archive: &Path, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "not done in time");
        for c in clients {
            let s = c.poll().unwrap();
            assert!(s.errors.is_empty(), "{s:?}");
            while let Some(m) = c.peek().unwrap() {
                let id = m.info.message_id;
                c.pop(&id, &archive.join(&id)).unwrap();
                c.delete(&id).unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn two_organisations_share_one_store_and_exchange_with_each_other_and_a_third() {
    let sb = sandbox("multi-org");
    let config = Config::from_json(&shared_config_json(&sb, &[ORG_A, ORG_B]).to_string()).unwrap();
    let a = Client::new(config.for_organisation(ORG_A).unwrap()).unwrap();
    let b = Client::new(config.for_organisation(ORG_B).unwrap()).unwrap();
    let c = Client::new(sandbox_config(&sb, ORG_C)).unwrap();
    assert_eq!(a.config().data_dir, b.config().data_dir);
    assert_eq!(a.config().store, b.config().store);
    assert_eq!(
        Client::new(config.clone())
            .unwrap()
            .config()
            .organisation_number
            .as_str(),
        ORG_A,
        "the first organisation by default"
    );
    let e = config.for_organisation(ORG_C).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConfigInvalid);

    // B also gets a package it cannot read: B's quarantine, not A's.
    let work = work_dir(&sb, "multi");
    let bad = work.join("bad.zip");
    std::fs::write(&bad, b"not a zip").unwrap();
    upload_raw(&sb, ORG_C, ORG_B, &bad);

    let a_to_b = send(&a, ORG_B, &work.join("ab"));
    let b_to_a = send(&b, ORG_A, &work.join("ba"));
    let a_to_c = send(&a, ORG_C, &work.join("ac"));
    let b_to_c = send(&b, ORG_C, &work.join("bc"));

    let levert = |cl: &Client, id: &str| cl.message(id).unwrap().status == ReceiptStatus::Levert;
    serve_until(&[&a, &b, &c], &work.join("archive"), || {
        levert(&a, &a_to_b) && levert(&a, &a_to_c) && levert(&b, &b_to_a) && levert(&b, &b_to_c)
    });

    // Each organisation sees its own messages only.
    assert_eq!(
        ids(&a, Direction::Outgoing),
        sorted(vec![a_to_b.clone(), a_to_c.clone()])
    );
    assert_eq!(ids(&a, Direction::Incoming), [b_to_a.as_str()]);
    assert_eq!(
        ids(&b, Direction::Outgoing),
        sorted(vec![b_to_a.clone(), b_to_c.clone()])
    );
    assert_eq!(ids(&b, Direction::Incoming), [a_to_b.as_str()]);
    assert_eq!(
        ids(&c, Direction::Incoming),
        sorted(vec![a_to_c.clone(), b_to_c.clone()])
    );
    // A's message to B: once on each side of the one store, A's OUTGOING and B's INCOMING.
    let in_a = a
        .messages(&MessageFilter {
            message_id: Some(a_to_b.clone()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(in_a.len(), 1);
    assert_eq!(in_a[0].direction, Direction::Outgoing);
    assert_eq!(
        b.message(&a_to_b).unwrap().status,
        ReceiptStatus::InnkommendeLevert
    );
    // Statuses: A's history of its message, B's of the same message, apart.
    assert_eq!(
        common::history(&a, Direction::Outgoing, &a_to_b),
        ["OPPRETTET", "SENDT", "MOTTATT", "LEVERT"]
    );
    assert_eq!(
        common::history(&b, Direction::Incoming, &a_to_b),
        ["OPPRETTET", "INNKOMMENDE_MOTTATT", "INNKOMMENDE_LEVERT"]
    );
    // B's message is not A's to look at.
    assert_eq!(a.message(&b_to_c).unwrap_err().kind(), ErrorKind::NotFound);
    assert!(a.status_of(Direction::Outgoing, &b_to_c).is_err());

    // The quarantine is per organisation too; A cannot delete B's entry.
    let q = b.quarantine().unwrap();
    assert_eq!(q.len(), 1, "{q:?}");
    assert!(a.quarantine().unwrap().is_empty());
    assert!(a.quarantine_delete(q[0].id).is_err());
    assert_eq!(b.quarantine().unwrap().len(), 1);

    // Nothing left open for either organisation; the queues are empty.
    for cl in [&a, &b] {
        let open = cl.store().transaction(|tx| tx.open_work()).unwrap();
        assert_eq!(
            open,
            efm_core::store::OpenWork::default(),
            "{}",
            cl.config().organisation_number
        );
        assert!(cl.peek().unwrap().is_none());
    }
}

/// A vendor's one Maskinporten client (A's credentials) acting for another organisation through
/// the Altinn system user that organisation registered on it: the entry names no credentials of
/// its own, only its system user. It sends as C in A's store and gets C's statuses back. What is
/// sent to C is encrypted to the certificate the Service Registry publishes for C, which is not
/// the vendor's: opening it fails with the reason, and the message is kept.
#[test]
fn an_organisation_without_credentials_sends_through_the_top_levels_client_and_its_system_user() {
    let sb = sandbox("multi-org-vendor");
    let mut json = shared_config_json(&sb, &[ORG_A]);
    json["organisations"] = serde_json::json!([{
        "organisation_number": ORG_C,
        "system_user": {"name": "vendor_system_for_c"},
    }]);
    let config = Config::from_json(&json.to_string()).unwrap();
    let c_config = config.for_organisation(ORG_C).unwrap();
    assert_eq!(c_config.credentials, config.credentials);
    assert_eq!(c_config.system_user.org_id, format!("0192:{ORG_C}"));
    let c = Client::new(c_config).unwrap();
    let b = Client::new(sandbox_config(&sb, ORG_B)).unwrap();
    let work = work_dir(&sb, "vendor");

    // Not registered yet: the broker is not reached as C.
    std::fs::create_dir_all(work.join("x")).unwrap();
    std::fs::write(work.join("x/arkivmelding.xml"), "<arkivmelding/>").unwrap();
    let early = c.send(
        SendRequest {
            receiver: Some(ORG_B.to_string()),
            documents: SendDocument::in_folder(&work.join("x"), &["arkivmelding.xml"]),
            ..SendRequest::default()
        },
        &mut |_, _| {},
    );
    assert!(
        early
            .as_ref()
            .map_or(true, |m| m.status != ReceiptStatus::Sendt),
        "{early:?}"
    );

    common::admin(
        &sb,
        "/admin/system-users",
        serde_json::json!({
            "client_id": config.credentials.client_id,
            "org_id": format!("0192:{ORG_C}"),
            "external_ref": "vendor_system_for_c",
        }),
    );
    let c_to_b = send(&c, ORG_B, &work.join("cb"));
    let levert = |cl: &Client, id: &str| cl.message(id).unwrap().status == ReceiptStatus::Levert;
    serve_until(&[&b, &c], &work.join("archive"), || levert(&c, &c_to_b));
    assert_eq!(b.message(&c_to_b).unwrap().sender, format!("0192:{ORG_C}"));

    // B's reply is for C's own certificate.
    let b_to_c = send(&b, ORG_C, &work.join("bc"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let peeked = loop {
        c.poll().unwrap();
        if let Some(m) = c.peek().unwrap() {
            break m;
        }
        assert!(Instant::now() < deadline, "nothing arrived for C");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(peeked.info.message_id, b_to_c);
    let e = c.pop(&b_to_c, &work.join("c-inbox")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotForUs, "{e}");
    assert!(
        e.message().contains("not encrypted for our certificate"),
        "{e}"
    );
}
