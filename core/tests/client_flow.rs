//! The message flows of `efm_core::client::Client` against the sandbox: send, poll, peek, pop,
//! delete, the statuses both ways, duplicates, crash recovery, broker faults, expiry.

mod common;

use common::{
    fault, history, sandbox, sandbox_config, transfers, upload_raw, wait_published, work_dir,
    ORG_A, ORG_B,
};
use efm_core::client::{
    Client, ClientOptions, Direction, MessageFilter, PollSummary, QuarantineKind, RetryOutcome,
    SendDocument, SendRequest,
};
use efm_core::sbd::ReceiptStatus;
use efm_core::ErrorKind;
use efm_sandbox::Sandbox;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ARKIVMELDING: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<arkivmelding xmlns="http://www.arkivverket.no/standarder/noark5/arkivmelding">
  <system>efm test</system>
  <meldingId>test-1</meldingId>
  <tidspunkt>2026-01-01T12:00:00+01:00</tidspunkt>
  <antallFiler>1</antallFiler>
</arkivmelding>
"#;

/// Every log line of this test binary, to check what the client logs (and that it logs no
/// secrets).
struct Capture(std::sync::Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        // The filter every efm log bridge applies (the HTTP stack's raw TRACE dumps stay out).
        if !efm_core::http::log_record_allowed(r.target(), r.level()) {
            return;
        }
        self.0
            .lock()
            .unwrap()
            .push(format!("{} {}", r.level(), r.args()));
    }
    fn flush(&self) {}
}

static LOG: Capture = Capture(std::sync::Mutex::new(Vec::new()));

fn capture_logs() {
    let _ = log::set_logger(&LOG);
    log::set_max_level(log::LevelFilter::Trace);
}

fn logged() -> Vec<String> {
    LOG.0.lock().unwrap().clone()
}

fn client(sb: &Sandbox, org: &str) -> Client {
    capture_logs();
    Client::new(sandbox_config(sb, org)).unwrap()
}

/// Two small documents in a fresh folder.
fn documents(dir: &Path) -> Vec<SendDocument> {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("arkivmelding.xml"), ARKIVMELDING).unwrap();
    let mut pdf = b"%PDF-1.4 efm test\n".to_vec();
    for i in 0..20_000u32 {
        pdf.extend_from_slice(&i.to_le_bytes());
    }
    std::fs::write(dir.join("brev.pdf"), pdf).unwrap();
    SendDocument::in_folder(dir, &["arkivmelding.xml", "brev.pdf"])
}

fn request_to_b(docs: Vec<SendDocument>) -> SendRequest {
    SendRequest {
        receiver: Some(ORG_B.to_string()),
        documents: docs,
        ..SendRequest::default()
    }
}

/// Poll until `done` says the summaries so far are enough (the broker publishes after its scan).
fn poll_until(c: &Client, done: impl Fn(&PollSummary) -> bool) -> PollSummary {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut all = PollSummary::default();
    loop {
        let s = c.poll().unwrap();
        all.received.extend(s.received);
        all.statuses += s.statuses;
        all.duplicates += s.duplicates;
        all.quarantined += s.quarantined;
        all.ignored += s.ignored;
        all.recovered += s.recovered;
        all.receipts_sent += s.receipts_sent;
        if done(&all) {
            return all;
        }
        assert!(Instant::now() < deadline, "nothing arrived: {all:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn incoming(c: &Client) -> Vec<efm_core::client::MessageInfo> {
    c.messages(&MessageFilter {
        direction: Some(Direction::Incoming),
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn a_sends_b_receives_and_both_see_every_status() {
    let sb = sandbox("client-flow");
    let a = client(&sb, ORG_A);
    let b = client(&sb, ORG_B);
    let work = work_dir(&sb, "flow");
    let docs = documents(&work.join("out"));

    let mut last = (0, 0);
    let sent = a
        .send(request_to_b(docs.clone()), &mut |done, total| {
            last = (done, total)
        })
        .unwrap();
    assert_eq!(sent.status, ReceiptStatus::Sendt);
    assert_eq!(sent.direction, Direction::Outgoing);
    assert!(sent.transfer_id.is_some());
    assert!(last.0 > 0 && last.0 == last.1, "upload progress {last:?}");
    let id = sent.message_id.clone();
    assert_eq!(
        history(&a, Direction::Outgoing, &id),
        ["OPPRETTET", "SENDT"]
    );
    // The package is kept until the broker has published the transfer (so a transfer the
    // broker fails can be sent again).
    let package = sent.payload.clone().expect("kept until published");

    // B receives: stored once, queued, MOTTATT goes back.
    let s = poll_until(&b, |s| !s.received.is_empty());
    assert_eq!(s.received, vec![id.clone()]);
    assert_eq!(s.receipts_sent, 1);
    assert_eq!(
        history(&b, Direction::Incoming, &id),
        ["OPPRETTET", "INNKOMMENDE_MOTTATT"]
    );
    // A second poll finds nothing new.
    let again = b.poll().unwrap();
    assert_eq!(again, PollSummary::default());

    // A sees MOTTATT; its package is gone.
    poll_until(&a, |s| s.statuses >= 1);
    let m = a.message(&id).unwrap();
    assert_eq!(m.status, ReceiptStatus::Mottatt);
    assert!(m.payload.is_none() && !package.exists(), "{m:?}");

    // Pop and delete need the lock peek takes.
    let e = b.pop(&id, &work.join("early")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    let e = b.delete(&id).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");

    // Peek locks the message; a second peek sees nothing.
    let peeked = b.peek().unwrap().expect("a message waits");
    assert_eq!(peeked.info.message_id, id);
    assert_eq!(
        peeked.sbd["standardBusinessDocumentHeader"]["documentIdentification"]
            ["instanceIdentifier"],
        json!(id)
    );
    assert!(b.peek().unwrap().is_none());
    let as_json = serde_json::to_value(&peeked).unwrap();
    assert_eq!(as_json["message_id"], json!(id));
    assert_eq!(as_json["direction"], json!("INCOMING"));

    // Pop: decrypt, verify, extract; byte-equal.
    let inbox = work.join("inbox");
    let opened = b.pop(&id, &inbox).unwrap();
    // The two documents, plus the eFormidling manifest.xml the sender's ASiC-E carries.
    let mut extracted: Vec<_> = opened.files.iter().map(|f| f.name.as_str()).collect();
    extracted.sort();
    assert_eq!(extracted, ["arkivmelding.xml", "brev.pdf", "manifest.xml"]);
    for d in &docs {
        let f = opened.files.iter().find(|f| f.name == d.name).unwrap();
        assert_eq!(
            std::fs::read(&f.path).unwrap(),
            std::fs::read(&d.path).unwrap()
        );
    }
    assert!(opened.signer.unwrap().contains(ORG_A));

    // Delete: INNKOMMENDE_LEVERT here, LEVERT there.
    let deleted = b.delete(&id).unwrap();
    assert_eq!(deleted.status, ReceiptStatus::InnkommendeLevert);
    assert!(deleted.payload.is_none());
    assert_eq!(
        history(&b, Direction::Incoming, &id),
        ["OPPRETTET", "INNKOMMENDE_MOTTATT", "INNKOMMENDE_LEVERT"]
    );
    let e = b.delete(&id).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(b.peek().unwrap().is_none());

    poll_until(&a, |s| s.statuses >= 1);
    let info = a.message(&id).unwrap();
    assert_eq!(info.status, ReceiptStatus::Levert);
    assert_eq!(
        history(&a, Direction::Outgoing, &id),
        ["OPPRETTET", "SENDT", "MOTTATT", "LEVERT"]
    );
    let history = a.status(&id).unwrap();
    assert!(history.windows(2).all(|w| w[0].time <= w[1].time));
    // Statuses cross the C ABI as JSON.
    let j = serde_json::to_value(&history).unwrap();
    assert_eq!(j[3]["status"], json!("LEVERT"));

    // One info line per state change; no tokens or keys in any line.
    let lines = logged();
    for s in ["OPPRETTET", "SENDT", "MOTTATT", "LEVERT"] {
        let line = format!("INFO outgoing message {id}: {s}");
        assert_eq!(lines.iter().filter(|l| **l == line).count(), 1, "{line}");
    }
    for s in ["INNKOMMENDE_MOTTATT", "INNKOMMENDE_LEVERT"] {
        let line = format!("INFO incoming message {id}: {s}");
        assert_eq!(lines.iter().filter(|l| **l == line).count(), 1, "{line}");
    }
    for l in &lines {
        assert!(!l.contains("eyJ"), "a token in the log: {l}");
        assert!(!l.contains("PRIVATE KEY"), "a key in the log: {l}");
    }
}

#[test]
fn the_same_message_delivered_twice_is_stored_once() {
    use efm_core::asic::DocumentSource;
    use efm_core::crypto::keys::Identity;
    use efm_core::package::{self, CreateOptions, PackageInput};
    use efm_core::sbd::ArkivmeldingSbd;

    let sb = sandbox("client-dup");
    let b = client(&sb, ORG_B);
    let work = work_dir(&sb, "dup");
    let docs = documents(&work.join("out"));

    // A, by hand: one package, uploaded twice (as a sender retrying after a lost answer does).
    let cfg = sandbox_config(&sb, ORG_A);
    let id_a = Identity::load(&cfg.credentials.key).unwrap();
    let id_b = Identity::load(&sandbox_config(&sb, ORG_B).credentials.key).unwrap();
    let orgb = efm_core::ident::OrgNumber::parse(ORG_B).unwrap();
    let sbd = ArkivmeldingSbd::new(cfg.organisation_number.clone(), orgb.clone())
        .build(time::OffsetDateTime::now_utc());
    let message_id = sbd.message_id().unwrap().to_string();
    let file = work.join("twice.zip");
    package::create_file(
        &file,
        &PackageInput {
            sbd,
            documents: docs.into_iter().map(DocumentSource::from).collect(),
        },
        &id_a,
        &id_b.certificate,
        &CreateOptions {
            legacy_xml: false,
            ..Default::default()
        },
    )
    .unwrap();
    upload_raw(&sb, ORG_A, ORG_B, &file);
    upload_raw(&sb, ORG_A, ORG_B, &file);

    let s = poll_until(&b, |s| s.received.len() + s.duplicates >= 2);
    assert_eq!(s.received, vec![message_id.clone()]);
    assert_eq!(s.duplicates, 1);
    // Only one MOTTATT went back.
    assert_eq!(s.receipts_sent, 1);
    assert_eq!(incoming(&b).len(), 1);
    // Both transfers were confirmed: the broker offers nothing more.
    assert!(broker_offers_nothing(&b));
    assert!(b.peek().unwrap().is_some());
    assert!(b.peek().unwrap().is_none());
}

fn broker_offers_nothing(c: &Client) -> bool {
    c.poll().unwrap() == PollSummary::default()
}

#[test]
fn a_crash_between_download_and_confirm_loses_and_doubles_nothing() {
    let sb = sandbox("client-crash");
    let a = client(&sb, ORG_A);
    let work = work_dir(&sb, "crash");
    let sent = a
        .send(request_to_b(documents(&work.join("out"))), &mut |_, _| {})
        .unwrap();
    let transfer = sent.transfer_id.clone().unwrap();
    wait_published(&sb, &transfer);

    // First, the connection drops in the middle of the download.
    let b = client(&sb, ORG_B);
    fault(
        &sb,
        &format!("/broker/api/v1/filetransfer/{transfer}/download"),
        json!({"kind": "drop", "after_bytes": 100}),
        1,
    );
    let s = b.poll().unwrap();
    assert_eq!(s.errors.len(), 1, "{s:?}");
    assert_eq!(s.errors[0].transfer_id.as_deref(), Some(transfer.as_str()));
    assert!(!s.errors[0].abandoned);
    assert!(incoming(&b).is_empty());
    drop(b);

    // Then the download works, but the confirm fails: the process "dies" there.
    let b = client(&sb, ORG_B);
    fault(
        &sb,
        &format!("/broker/api/v1/filetransfer/{transfer}/confirmdownload"),
        json!({"kind": "status", "status": 500}),
        1,
    );
    let s = b.poll().unwrap();
    assert_eq!(s.recovered, 0, "{s:?}");
    assert_eq!(s.received, vec![sent.message_id.clone()]);
    assert_eq!(s.errors.len(), 1, "{s:?}");
    assert!(s.errors[0].message.contains("500"), "{s:?}");
    assert_eq!(
        s.receipts_sent, 1,
        "MOTTATT is owed once the message is stored"
    );
    assert_eq!(incoming(&b).len(), 1, "stored before the confirm");
    drop(b);

    // A new client on the same data directory finishes: confirm, MOTTATT, no second copy.
    let b = client(&sb, ORG_B);
    let s = b.poll().unwrap();
    assert_eq!(s.recovered, 1, "{s:?}");
    assert!(s.received.is_empty(), "{s:?}");
    assert!(s.errors.is_empty(), "{s:?}");
    assert_eq!(s.receipts_sent, 0, "MOTTATT went with the earlier poll");
    assert_eq!(incoming(&b).len(), 1);
    assert!(broker_offers_nothing(&b));
    let m = b.peek().unwrap().unwrap();
    assert_eq!(m.info.message_id, sent.message_id);
    assert!(b.peek().unwrap().is_none());

    poll_until(&a, |s| s.statuses >= 1);
    assert_eq!(
        a.message(&sent.message_id).unwrap().status,
        ReceiptStatus::Mottatt
    );
}

#[test]
fn a_broker_refusal_during_upload_gives_feil_and_resend_succeeds() {
    let sb = sandbox("client-resend");
    let a = client(&sb, ORG_A);
    let b = client(&sb, ORG_B);
    let work = work_dir(&sb, "resend");
    // A refusal no retry fixes (a transient 5xx is retried instead: tests/send_retry.rs).
    fault(
        &sb,
        "/broker/api/v1/filetransfer",
        json!({"kind": "status", "status": 400, "method": "POST"}),
        1,
    );
    let e = a
        .send(request_to_b(documents(&work.join("out"))), &mut |_, _| {})
        .unwrap_err();
    assert_eq!(e.detail().http_status, Some(400), "{e}");
    let failed = a
        .messages(&MessageFilter {
            direction: Some(Direction::Outgoing),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(failed.len(), 1);
    let m = &failed[0];
    assert_eq!(m.status, ReceiptStatus::Feil);
    let entries = a.status(&m.message_id).unwrap();
    assert_eq!(entries[1].status, ReceiptStatus::Feil);
    assert!(entries[1].description.as_deref().unwrap().contains("400"));
    assert!(m.payload.as_ref().unwrap().is_file(), "the package is kept");

    let resent = a.resend(&m.message_id, &mut |_, _| {}).unwrap();
    assert_eq!(resent.status, ReceiptStatus::Sendt);
    assert_eq!(
        history(&a, Direction::Outgoing, &m.message_id),
        ["OPPRETTET", "FEIL", "SENDT"]
    );
    // Resending a sent message is refused.
    let e = a.resend(&m.message_id, &mut |_, _| {}).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);

    let s = poll_until(&b, |s| !s.received.is_empty());
    assert_eq!(s.received, vec![m.message_id.clone()]);
    assert_eq!(transfers(&sb).len(), 2, "one message, one MOTTATT");
}

#[test]
fn an_unknown_receiver_is_refused_before_anything_is_stored_or_uploaded() {
    let sb = sandbox("client-unknown");
    let a = client(&sb, ORG_A);
    let work = work_dir(&sb, "unknown");
    let mut req = request_to_b(documents(&work.join("out")));
    // A valid organisation number the Service Registry does not know.
    req.receiver = Some("974760673".into());
    let e = a.send(req, &mut |_, _| {}).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ReceiverNotFound, "{e}");
    assert!(a.messages(&MessageFilter::default()).unwrap().is_empty());
    assert_eq!(transfers(&sb).len(), 0);

    // Bad input gets a specific error too.
    let mut req = request_to_b(Vec::new());
    req.receiver = Some("123".into());
    let e = a.send(req, &mut |_, _| {}).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidOrganisationNumber, "{e}");
    // An arkivmelding without arkivmelding.xml, or with a file name twice.
    let docs = documents(&work.join("out"));
    let e = a
        .send(request_to_b(docs[1..].to_vec()), &mut |_, _| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.message().contains("arkivmelding.xml"), "{e}");
    let mut twice = docs.clone();
    twice.push(docs[1].clone());
    let e = a.send(request_to_b(twice), &mut |_, _| {}).unwrap_err();
    assert_eq!(e.detail().field.as_deref(), Some("documents"), "{e}");
    assert!(a.messages(&MessageFilter::default()).unwrap().is_empty());
    assert_eq!(transfers(&sb).len(), 0);
}

/// A sends B a message; B polls and peeks it. Returns the sandbox, B, a work folder, the sent
/// message and B's stored package file.
fn waiting_at_b(
    name: &str,
) -> (
    Sandbox,
    Client,
    PathBuf,
    efm_core::client::MessageInfo,
    PathBuf,
) {
    let sb = sandbox(&format!("client-{name}"));
    let a = client(&sb, ORG_A);
    let b = client(&sb, ORG_B);
    let work = work_dir(&sb, name);
    let sent = a
        .send(request_to_b(documents(&work.join("out"))), &mut |_, _| {})
        .unwrap();
    poll_until(&b, |s| !s.received.is_empty());
    let m = b.peek().unwrap().unwrap();
    let path = m.info.payload.clone().unwrap();
    (sb, b, work, sent, path)
}

#[test]
fn a_tampered_package_becomes_feil_on_pop_and_is_kept() {
    let (_sb, b, work, sent, path) = waiting_at_b("tamper");
    // Flip one byte in the middle of the package (inside the encrypted asic.zip).
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();

    let inbox = work.join("inbox");
    let e = b.pop(&sent.message_id, &inbox).unwrap_err();
    assert!(
        matches!(
            e.kind().group(),
            efm_core::ErrorGroup::Crypto | efm_core::ErrorGroup::Package
        ),
        "{e}"
    );
    assert!(e.message().contains("FEIL"), "{e}");
    let info = b.message(&sent.message_id).unwrap();
    assert_eq!(info.status, ReceiptStatus::Feil);
    assert_eq!(info.payload.as_deref(), Some(path.as_path()));
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "kept as it was");
    let feil = b.status(&sent.message_id).unwrap().pop().unwrap();
    assert_eq!(feil.status, ReceiptStatus::Feil);
    assert!(feil.description.unwrap().contains("could not be opened"));
    // Out of the queue, nothing extracted.
    assert!(b.peek().unwrap().is_none());
    assert!(!inbox.exists() || std::fs::read_dir(&inbox).unwrap().next().is_none());
    // Listed in quarantine; the application can put it back in the queue (here it fails
    // again, and is back in quarantine).
    let q = b.quarantine().unwrap();
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0].kind, QuarantineKind::Unopenable);
    assert_eq!(q[0].message_id.as_deref(), Some(sent.message_id.as_str()));
    let back = b.quarantine_retry(q[0].id).unwrap();
    assert_eq!(
        back,
        RetryOutcome::Requeued {
            message_id: sent.message_id.clone()
        }
    );
    let again = b.peek().unwrap().unwrap();
    assert_eq!(again.info.message_id, sent.message_id);
    b.pop(&sent.message_id, &inbox).unwrap_err();
    assert_eq!(b.quarantine().unwrap().len(), 1);
    assert!(b.peek().unwrap().is_none(), "never loops in the queue");
}

#[test]
fn expired_messages_get_levetid_utlopt() {
    let sb = sandbox("client-expiry");
    let offset = Arc::new(AtomicI64::new(0));
    let clock_offset = offset.clone();
    let a = Client::with_options(
        sandbox_config(&sb, ORG_A),
        ClientOptions {
            clock: Some(Arc::new(move || {
                time::OffsetDateTime::now_utc()
                    + time::Duration::seconds(clock_offset.load(Ordering::SeqCst))
            })),
            ..Default::default()
        },
    )
    .unwrap();
    let work = work_dir(&sb, "expiry");
    let docs = documents(&work.join("out"));

    // Sent, no MOTTATT, the deadline (1 h) passes: LEVETID_UTLOPT.
    let mut req = request_to_b(docs.clone());
    req.ttl_secs = Some(3600);
    let sent = a.send(req, &mut |_, _| {}).unwrap();
    assert!(a.expire().unwrap().is_empty());
    offset.store(2 * 3600, Ordering::SeqCst);
    assert_eq!(a.expire().unwrap(), vec![sent.message_id.clone()]);
    let info = a.message(&sent.message_id).unwrap();
    assert_eq!(info.status, ReceiptStatus::LevetidUtlopt);
    assert_eq!(
        history(&a, Direction::Outgoing, &sent.message_id),
        ["OPPRETTET", "SENDT", "LEVETID_UTLOPT"]
    );
    assert!(a.expire().unwrap().is_empty(), "once");

    // A message whose deadline is already past is not sent.
    let before = transfers(&sb).len();
    offset.store(0, Ordering::SeqCst);
    let sbd = efm_core::sbd::ArkivmeldingSbd::new(
        efm_core::ident::OrgNumber::parse(ORG_A).unwrap(),
        efm_core::ident::OrgNumber::parse(ORG_B).unwrap(),
    )
    .build(time::OffsetDateTime::now_utc() - time::Duration::hours(30));
    let e = a
        .send(
            SendRequest {
                sbd: Some(sbd.clone()),
                documents: docs,
                ..Default::default()
            },
            &mut |_, _| {},
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidMessage, "{e}");
    let id = sbd.message_id().unwrap();
    assert_eq!(a.message(id).unwrap().status, ReceiptStatus::LevetidUtlopt);
    assert_eq!(transfers(&sb).len(), before, "nothing uploaded");
}

/// B answers with an arkivmelding_kvittering: A's message becomes LEST (OK) or FEIL (ERROR), and
/// the kvittering reaches A's queue as an ordinary message, with MOTTATT going back to B.
#[test]
fn a_kvittering_marks_the_sent_message_lest_or_feil() {
    let sb = sandbox("client-kvittering");
    let a = client(&sb, ORG_A);
    let b = client(&sb, ORG_B);
    let work = work_dir(&sb, "kvittering");
    let docs = documents(&work.join("out"));
    for (receipt_type, expected) in [("OK", ReceiptStatus::Lest), ("ERROR", ReceiptStatus::Feil)] {
        let sent = a.send(request_to_b(docs.clone()), &mut |_, _| {}).unwrap();
        poll_until(&b, |s| !s.received.is_empty());
        let m = b.peek().unwrap().unwrap();
        assert_eq!(m.info.message_id, sent.message_id);
        b.delete(&sent.message_id).unwrap();
        let original = efm_core::sbd::Sbd::from_value(m.sbd).unwrap();
        let kvittering = original
            .kvittering_reply(
                receipt_type,
                vec![efm_core::sbd::KvitteringText {
                    code: Some("Recno".into()),
                    text: Some("315890".into()),
                }],
                time::OffsetDateTime::now_utc(),
            )
            .unwrap();
        let k = b
            .send(
                SendRequest {
                    sbd: Some(kvittering),
                    ..Default::default()
                },
                &mut |_, _| {},
            )
            .unwrap();
        assert_eq!(k.document_type, "arkivmelding_kvittering");

        let s = poll_until(&a, |s| !s.received.is_empty());
        assert_eq!(s.received, vec![k.message_id.clone()]);
        let info = a.message(&sent.message_id).unwrap();
        assert_eq!(info.status, expected, "{receipt_type}");
        let last = a.status(&sent.message_id).unwrap().pop().unwrap();
        assert_eq!(last.status, expected);
        assert_eq!(
            last.description.as_deref(),
            Some(format!("ArkivmeldingKvittering: {receipt_type} (Recno: 315890)").as_str())
        );
        // The kvittering itself waits in A's queue; taking it sends LEVERT to B.
        let got = a.peek().unwrap().unwrap();
        assert_eq!(got.info.message_id, k.message_id);
        assert_eq!(got.info.document_type, "arkivmelding_kvittering");
        // It carries no documents: pop extracts nothing.
        let opened = a.pop(&k.message_id, &work.join("kvittering")).unwrap();
        assert!(opened.files.is_empty());
        assert_eq!(
            opened.sbd["arkivmelding_kvittering"]["receiptType"],
            json!(receipt_type)
        );
        a.delete(&k.message_id).unwrap();
        poll_until(&b, |s| s.statuses >= 2);
        assert_eq!(
            history(&b, Direction::Outgoing, &k.message_id),
            ["OPPRETTET", "SENDT", "MOTTATT", "LEVERT"]
        );
    }
}

/// One client shared by threads: concurrent polls store each message once.
#[test]
fn one_client_serves_several_threads() {
    let sb = sandbox("client-threads");
    let a = client(&sb, ORG_A);
    let b = Arc::new(client(&sb, ORG_B));
    let work = work_dir(&sb, "threads");
    let docs = documents(&work.join("out"));
    let sent: Vec<_> = (0..3)
        .map(|_| a.send(request_to_b(docs.clone()), &mut |_, _| {}).unwrap())
        .collect();
    for m in &sent {
        wait_published(&sb, m.transfer_id.as_deref().unwrap());
    }
    let mut ids: Vec<String> = sent.into_iter().map(|m| m.message_id).collect();
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || b.poll().unwrap())
        })
        .collect();
    let mut received: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap().received)
        .collect();
    received.extend(b.poll().unwrap().received);
    received.sort();
    ids.sort();
    assert_eq!(received, ids);
    // Three threads peek at once: each gets a different message.
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || b.peek().unwrap().unwrap().info.message_id)
        })
        .collect();
    let mut peeked: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    peeked.sort();
    assert_eq!(peeked, ids);
}

/// A package whose SBD is unusable is confirmed at the broker (as the IP does) but not dropped:
/// it is quarantined with its bytes and the reason, and the application decides (export,
/// retry, delete). The good one after it still arrives.
#[test]
fn a_bad_sbd_is_confirmed_and_quarantined() {
    let sb = sandbox("client-bad-sbd");
    let a = client(&sb, ORG_A);
    let b = client(&sb, ORG_B);
    let work = work_dir(&sb, "bad");
    // Written by Python's zipfile: an independent zip writer.
    let bad = work.join("bad.zip");
    common::python(
        "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], 'w'); \
         z.writestr('sbd.json', sys.argv[2]); z.close()",
        &[
            bad.to_str().unwrap(),
            r#"{"standardBusinessDocumentHeader": {"documentIdentification": {"instanceIdentifier": "not-a-uuid"}}}"#,
        ],
    );
    upload_raw(&sb, ORG_A, ORG_B, &bad);
    let sent = a
        .send(request_to_b(documents(&work.join("out"))), &mut |_, _| {})
        .unwrap();
    let s = poll_until(&b, |s| s.quarantined + s.received.len() >= 2);
    assert_eq!(s.quarantined, 1, "{s:?}");
    assert!(s.failed());
    assert_eq!(s.received, vec![sent.message_id.clone()]);
    assert!(s.errors.is_empty(), "{s:?}");
    assert_eq!(incoming(&b).len(), 1);
    assert!(broker_offers_nothing(&b));

    let q = b.quarantine().unwrap();
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0].kind, QuarantineKind::Unreadable);
    assert_eq!(
        q[0].sender.as_deref(),
        Some(format!("0192:{ORG_A}").as_str())
    );
    assert!(q[0].reason.contains("sbd.json"), "{}", q[0].reason);
    // The bytes are kept exactly as downloaded.
    let exported = work.join("exported.zip");
    b.quarantine_export(q[0].id, &exported).unwrap();
    assert_eq!(
        std::fs::read(&exported).unwrap(),
        std::fs::read(&bad).unwrap()
    );
    // Trying again refuses it again (nothing changed), and it stays listed.
    let again = b.quarantine_retry(q[0].id).unwrap();
    assert!(
        matches!(again, RetryOutcome::StillRefused { .. }),
        "{again:?}"
    );
    let q = b.quarantine().unwrap();
    assert_eq!(q.len(), 1);
    let kept = q[0].payload.clone().unwrap();
    assert!(kept.is_file());
    b.quarantine_delete(q[0].id).unwrap();
    assert!(b.quarantine().unwrap().is_empty());
    assert!(!kept.exists());
}

/// Upload, as `uploader`, a `status` reply whose SBD claims to come from `claimed` (the receiver
/// of A's message `message_id`).
fn forge_status(sb: &Sandbox, uploader: &str, claimed: &str, message_id: &str, dir: &Path) {
    let cfg = sandbox_config(sb, uploader);
    let identity = efm_core::crypto::keys::Identity::load(&cfg.credentials.key).unwrap();
    let mut original = efm_core::sbd::ArkivmeldingSbd::new(
        efm_core::ident::OrgNumber::parse(ORG_A).unwrap(),
        efm_core::ident::OrgNumber::parse(claimed).unwrap(),
    );
    original.message_id = Some(message_id.parse().unwrap());
    let forged = original
        .build(time::OffsetDateTime::now_utc())
        .status_reply(ReceiptStatus::Levert, time::OffsetDateTime::now_utc())
        .unwrap();
    let file = dir.join(format!("forged-{uploader}-{claimed}.zip"));
    efm_core::package::create_file(
        &file,
        &efm_core::package::PackageInput {
            sbd: forged,
            documents: Vec::new(),
        },
        &identity,
        &identity.certificate,
        &efm_core::package::CreateOptions {
            legacy_xml: false,
            ..Default::default()
        },
    )
    .unwrap();
    upload_raw(sb, uploader, ORG_A, &file);
}

/// A status about our message counts only from the organisation we sent it to, as the broker
/// authenticated the uploader: C writing LEVERT as itself, or claiming in the SBD to be B, the
/// real receiver, changes nothing; both are recorded and visible.
#[test]
fn a_status_from_a_third_party_is_ignored() {
    use common::ORG_C;
    let sb = sandbox("client-spoof");
    let a = client(&sb, ORG_A);
    let work = work_dir(&sb, "spoof");
    let sent = a
        .send(request_to_b(documents(&work.join("out"))), &mut |_, _| {})
        .unwrap();
    forge_status(&sb, ORG_C, ORG_C, &sent.message_id, &work);
    forge_status(&sb, ORG_C, ORG_B, &sent.message_id, &work);
    let s = poll_until(&a, |s| s.ignored >= 2);
    assert_eq!(s.statuses, 0, "{s:?}");
    assert!(s.errors.is_empty(), "{s:?}");
    let m = a.message(&sent.message_id).unwrap();
    assert_eq!(m.status, ReceiptStatus::Sendt);
    assert_eq!(
        history(&a, Direction::Outgoing, &sent.message_id),
        ["OPPRETTET", "SENDT"]
    );
    // Visible: a warning on the message and two IGNORED entries naming the real uploader.
    assert_eq!(m.warnings.len(), 2, "{:?}", m.warnings);
    assert!(
        m.warnings[1].contains(&format!("0192:{ORG_C}"))
            && m.warnings[1].contains(&format!("claims to come from 0192:{ORG_B}")),
        "{:?}",
        m.warnings
    );
    let q = a.quarantine().unwrap();
    assert_eq!(q.len(), 2, "{q:?}");
    for e in &q {
        assert_eq!(e.kind, QuarantineKind::Ignored);
        assert_eq!(e.sender.as_deref(), Some(format!("0192:{ORG_C}").as_str()));
        assert_eq!(e.message_id.as_deref(), Some(sent.message_id.as_str()));
    }
    // The real receiver's statuses still count.
    let b = client(&sb, ORG_B);
    poll_until(&b, |s| !s.received.is_empty());
    let got = b.peek().unwrap().unwrap();
    b.pop(&got.info.message_id, &work.join("inbox")).unwrap();
    b.delete(&got.info.message_id).unwrap();
    poll_until(&a, |s| s.statuses >= 2);
    assert_eq!(
        a.message(&sent.message_id).unwrap().status,
        ReceiptStatus::Levert
    );
}

/// A sender on the Altinn 2 SOAP broker and a receiver on Altinn 3 (the brokers share one store,
/// as Altinn's transition bridge does): the message and both statuses cross in each direction.
#[test]
fn an_altinn2_sender_and_an_altinn3_receiver_complete_the_flow() {
    let sb = sandbox("client-altinn2");
    let path = sb.config_path(ORG_A).with_file_name("config-altinn2.json");
    let config =
        efm_core::config::Config::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(config.transport, efm_core::config::TransportKind::Altinn2);
    capture_logs();
    let a = Client::new(config).unwrap();
    let b = client(&sb, ORG_B);
    let work = work_dir(&sb, "altinn2");
    let sent = a
        .send(request_to_b(documents(&work.join("out"))), &mut |_, _| {})
        .unwrap();
    assert_eq!(sent.status, ReceiptStatus::Sendt);
    let id = sent.message_id.clone();

    let s = poll_until(&b, |s| !s.received.is_empty());
    assert_eq!(s.received, vec![id.clone()]);
    let peeked = b.peek().unwrap().expect("the message is queued");
    assert_eq!(peeked.info.message_id, id);
    let opened = b.pop(&id, &work.join("in")).unwrap();
    assert!(opened.files.iter().any(|f| f.name == "brev.pdf"));
    b.delete(&id).unwrap();

    poll_until(&a, |_| {
        a.message(&id).unwrap().status == ReceiptStatus::Levert
    });
    assert_eq!(
        history(&a, Direction::Outgoing, &id),
        ["OPPRETTET", "SENDT", "MOTTATT", "LEVERT"]
    );
}

/// Run `core/tests/java/Interop.java` (BouncyCastle and java.util.zip, as the IP writes).
fn java_interop(args: &[String]) {
    let jars = ["bcprov", "bcpkix", "bcutil"].map(|j| format!("/usr/share/java/{j}.jar"));
    let program = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/java/Interop.java");
    let out = std::process::Command::new("java")
        .arg("-cp")
        .arg(jars.join(":"))
        .arg(program)
        .args(args)
        .output()
        .expect("java runs (OpenJDK and libbcpkix-java)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A package as an integration point sends it for an archive system that fills the SBD as the
/// IP's API lets it: free-text SenderRef and ReceiverRef (case numbers), `sikkerhetsnivaa` 2, no
/// expectedResponseDateTime, and document names that cannot all be files here (`:`, a Windows
/// device name, 134 Norwegian letters, `a` beside `a/b`). Written by BouncyCastle and
/// java.util.zip. It arrives: stored with warnings, MOTTATT back, and every document extracted
/// under a safe name while keeping the sender's name.
#[test]
fn an_ip_style_package_with_free_text_references_arrives() {
    let sb = sandbox("client-ip-style");
    let b = client(&sb, ORG_B);
    let work = work_dir(&sb, "ip-style");
    let message_id = uuid::Uuid::new_v4().to_string();
    let now = efm_core::sbd::now_oslo();
    let sbd = json!({
        "standardBusinessDocumentHeader": {
            "headerVersion": "1.0",
            "sender": [{"identifier": {"value": format!("0192:{ORG_A}"), "authority": "iso6523-actorid-upis"}}],
            "receiver": [{"identifier": {"value": format!("0192:{ORG_B}"), "authority": "iso6523-actorid-upis"}}],
            "documentIdentification": {
                "standard": "urn:no:difi:arkivmelding:xsd::arkivmelding",
                "typeVersion": "2.0",
                "instanceIdentifier": message_id,
                "type": "arkivmelding",
                "creationDateAndTime": efm_core::sbd::format_timestamp(now)
            },
            "businessScope": {"scope": [
                {"type": "ConversationId", "instanceIdentifier": uuid::Uuid::new_v4().to_string(),
                 "identifier": "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0"},
                {"type": "SenderRef", "instanceIdentifier": "2024/1234-5", "identifier": "2024/1234-5"},
                {"type": "ReceiverRef", "instanceIdentifier": "Vår ref. 24/77"}
            ]}
        },
        "arkivmelding": {"sikkerhetsnivaa": 2, "hoveddokument": "arkivmelding.xml"}
    });
    let sbd_path = work.join("sbd.json");
    std::fs::write(&sbd_path, serde_json::to_vec_pretty(&sbd).unwrap()).unwrap();
    let long = format!("{}.pdf", "æ".repeat(134));
    let names = [
        "arkivmelding.xml".to_string(),
        "Vedtak 2024:12.pdf".to_string(),
        "CON.pdf".to_string(),
        long.clone(),
        "vedlegg".to_string(),
        "vedlegg/brev.pdf".to_string(),
    ];
    let docs = work.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let mut args = vec![
        "make-package".to_string(),
        work.join("from-ip.zip").to_string_lossy().into_owned(),
        sbd_path.to_string_lossy().into_owned(),
    ];
    let a_dir = sb.config_path(ORG_A).parent().unwrap().to_path_buf();
    args.push(
        a_dir
            .join(format!("{ORG_A}.p12"))
            .to_string_lossy()
            .into_owned(),
    );
    args.push(
        std::fs::read_to_string(a_dir.join("pkcs12-password.txt"))
            .unwrap()
            .trim()
            .to_string(),
    );
    let b_dir = sb.config_path(ORG_B).parent().unwrap().to_path_buf();
    args.push(b_dir.join("certificate.pem").to_string_lossy().into_owned());
    for (i, n) in names.iter().enumerate() {
        let p = docs.join(format!("doc{i}"));
        let content = if i == 0 {
            ARKIVMELDING.to_string()
        } else {
            format!("document {i}: {n}")
        };
        std::fs::write(&p, content).unwrap();
        args.push(format!("{n}={}", p.display()));
    }
    java_interop(&args);
    upload_raw(&sb, ORG_A, ORG_B, &work.join("from-ip.zip"));

    let s = poll_until(&b, |s| !s.received.is_empty());
    assert_eq!(s.received, vec![message_id.clone()], "{s:?}");
    assert_eq!(s.quarantined, 0, "{s:?}");
    assert_eq!(s.receipts_sent, 1, "MOTTATT went back: {s:?}");
    let m = b.message(&message_id).unwrap();
    assert_eq!(m.status, ReceiptStatus::InnkommendeMottatt);
    let warned = m.warnings.join("\n");
    assert!(warned.contains("sikkerhetsnivaa is 2"), "{warned}");
    assert!(
        warned.contains("expectedResponseDateTime is missing"),
        "{warned}"
    );
    // The references arrive as they were written.
    let got = b.peek().unwrap().unwrap();
    let scopes = got.sbd["standardBusinessDocumentHeader"]["businessScope"]["scope"].clone();
    assert_eq!(scopes[1]["instanceIdentifier"], "2024/1234-5");
    assert_eq!(scopes[2]["instanceIdentifier"], "Vår ref. 24/77");

    let inbox = work.join("inbox");
    let opened = b.pop(&message_id, &inbox).unwrap();
    let by_name: std::collections::HashMap<_, _> = opened
        .files
        .iter()
        .map(|f| (f.name.clone(), f.path.clone()))
        .collect();
    for (i, n) in names.iter().enumerate().skip(1) {
        let path = &by_name[n];
        assert!(path.starts_with(&inbox), "{}", path.display());
        assert_eq!(
            std::fs::read_to_string(path).unwrap(),
            format!("document {i}: {n}"),
            "{n}"
        );
    }
    assert_eq!(by_name["arkivmelding.xml"], inbox.join("arkivmelding.xml"));
    assert_eq!(
        by_name["Vedtak 2024:12.pdf"],
        inbox.join("Vedtak 2024_12.pdf")
    );
    assert_eq!(by_name["CON.pdf"], inbox.join("_CON.pdf"));
    assert_eq!(by_name["vedlegg"], inbox.join("vedlegg"));
    assert_eq!(
        by_name["vedlegg/brev.pdf"],
        inbox.join("vedlegg~2/brev.pdf")
    );
    let long_path = by_name[&long]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        long_path.len() <= 255 && long_path.ends_with(".pdf"),
        "{long_path}"
    );
    // Each rename is a warning, on the opened message and stored with it.
    assert_eq!(
        opened
            .warnings
            .iter()
            .filter(|w| w.contains("was saved as"))
            .count(),
        4,
        "{:?}",
        opened.warnings
    );
    assert_eq!(b.message(&message_id).unwrap().warnings, opened.warnings);
    b.delete(&message_id).unwrap();
    assert!(broker_offers_nothing(&b));
}

/// A package cut short (after its sbd.json, so it was stored) cannot be opened: FEIL, out of the
/// queue, kept in quarantine; the queue does not hand it out again and again.
#[test]
fn a_truncated_package_ends_feil_and_never_loops() {
    let (_sb, b, work, sent, path) = waiting_at_b("truncated");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() * 3 / 5]).unwrap();
    let e = b.pop(&sent.message_id, &work.join("inbox")).unwrap_err();
    assert!(
        matches!(
            e.kind().group(),
            efm_core::ErrorGroup::Crypto | efm_core::ErrorGroup::Package
        ),
        "{:?}: {e}",
        e.kind()
    );
    assert_eq!(
        b.message(&sent.message_id).unwrap().status,
        ReceiptStatus::Feil
    );
    assert!(b.peek().unwrap().is_none());
    let q = b.quarantine().unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].kind, QuarantineKind::Unopenable);
}

/// The broker rate-limits a download (429 with Retry-After): the poll stops calling it, says more
/// is waiting and when to come back; the next poll takes the rest. Nothing is lost or doubled.
#[test]
fn poll_honours_a_rate_limit_and_says_more_is_waiting() {
    let sb = sandbox("client-429");
    let a = client(&sb, ORG_A);
    let b = client(&sb, ORG_B);
    let work = work_dir(&sb, "429");
    let mut ids = Vec::new();
    let mut transfers = Vec::new();
    for i in 0..3 {
        let m = a
            .send(
                request_to_b(documents(&work.join(format!("out{i}")))),
                &mut |_, _| {},
            )
            .unwrap();
        wait_published(&sb, m.transfer_id.as_deref().unwrap());
        transfers.push(m.transfer_id.clone().unwrap());
        ids.push(m.message_id);
    }
    fault(
        &sb,
        &format!("/broker/api/v1/filetransfer/{}/download", transfers[1]),
        json!({"kind": "rate_limit", "retry_after": 7}),
        1,
    );
    let first = b.poll().unwrap();
    assert_eq!(first.received, vec![ids[0].clone()], "{first:?}");
    assert!(first.more_waiting, "{first:?}");
    assert_eq!(first.retry_after_secs, Some(7));
    assert!(
        first.errors.is_empty(),
        "a rate limit is no failure: {first:?}"
    );
    let second = b.poll().unwrap();
    assert_eq!(second.received, ids[1..].to_vec(), "{second:?}");
    assert!(!second.more_waiting && second.retry_after_secs.is_none());
    assert_eq!(incoming(&b).len(), 3);
}

/// Progress by phase: packing in document bytes, then uploading in package bytes, each growing
/// to its total, all on the calling thread; the byte-count API folds both into one rising count.
#[test]
fn send_reports_packing_then_uploading() {
    use efm_core::progress::Phase;
    let sb = sandbox("client-phases");
    let a = client(&sb, ORG_A);
    let work = work_dir(&sb, "phases");
    let docs = documents(&work.join("out"));
    let doc_bytes: u64 = docs
        .iter()
        .map(|d| std::fs::metadata(&d.path).unwrap().len())
        .sum();
    let caller = std::thread::current().id();
    let mut events = Vec::new();
    let sent = a
        .send_by_phase(request_to_b(docs.clone()), &mut |phase, done, total| {
            assert_eq!(std::thread::current().id(), caller);
            events.push((phase, done, total));
        })
        .unwrap();
    assert_eq!(sent.status, ReceiptStatus::Sendt);
    let packing: Vec<_> = events.iter().filter(|e| e.0 == Phase::Packing).collect();
    let uploading: Vec<_> = events.iter().filter(|e| e.0 == Phase::Uploading).collect();
    assert!(!packing.is_empty() && !uploading.is_empty(), "{events:?}");
    // All packing before any uploading.
    let first_upload = events.iter().position(|e| e.0 == Phase::Uploading).unwrap();
    assert!(events[first_upload..]
        .iter()
        .all(|e| e.0 == Phase::Uploading));
    for phase in [&packing, &uploading] {
        assert!(phase.windows(2).all(|w| w[0].1 <= w[1].1), "{phase:?}");
        let last = phase.last().unwrap();
        assert!(last.1 > 0 && last.1 == last.2, "{phase:?}");
    }
    assert_eq!(packing.last().unwrap().2, doc_bytes);

    let mut combined = Vec::new();
    a.send(request_to_b(docs), &mut |done, total| {
        combined.push((done, total))
    })
    .unwrap();
    assert!(
        combined.windows(2).all(|w| w[0].0 <= w[1].0),
        "{combined:?}"
    );
    let (done, total) = *combined.last().unwrap();
    assert!(done > doc_bytes && done == total, "{combined:?}");
}
