//! Sending that survives failures, through the public API against the sandbox: every step of a
//! send (Maskinporten token, token exchange, Service Registry, initialize, upload, the broker's
//! publication, the receiver's confirm) faulted once with a 500, 503, 429 with Retry-After or a
//! dropped connection still ends delivered exactly once and LEVERT, with no action by the
//! application beyond its usual calls (`run_due`, `poll`, `peek`, `pop`, `delete`); a permanent
//! refusal and a transfer the broker fails (malware) end FEIL with the reason; a message that
//! cannot be sent before its deadline ends LEVETID_UTLOPT; a send interrupted mid-upload is picked
//! up by another client once its lease runs out.

mod common;

use common::{
    admin, admin_get, fault, history, sandbox, sandbox_config, transfers, work_dir, ORG_A, ORG_B,
};
use efm_core::client::{
    Client, ClientOptions, Direction, MessageFilter, SendDocument, SendRequest, SendRetry,
};
use efm_core::sbd::ReceiptStatus;
use efm_core::ErrorKind;
use efm_sandbox::Sandbox;
use serde_json::json;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ARKIVMELDING: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<arkivmelding xmlns="http://www.arkivverket.no/standarder/noark5/arkivmelding">
  <system>efm test</system>
  <meldingId>retry-1</meldingId>
  <tidspunkt>2026-01-01T12:00:00+01:00</tidspunkt>
  <antallFiler>1</antallFiler>
</arkivmelding>
"#;

/// Retries in milliseconds instead of minutes, so the tests run fast.
fn fast() -> SendRetry {
    SendRetry {
        first_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(400),
        follow_first_delay: Duration::from_millis(20),
        follow_max_delay: Duration::from_millis(200),
        lease: Duration::from_secs(60),
    }
}

/// A client with fast retries and a clock the test can move forward.
fn client_with_clock(sb: &Sandbox, org: &str, offset: Arc<AtomicI64>) -> Client {
    Client::with_options(
        sandbox_config(sb, org),
        ClientOptions {
            send_retry: fast(),
            clock: Some(Arc::new(move || {
                time::OffsetDateTime::now_utc()
                    + time::Duration::seconds(offset.load(Ordering::SeqCst))
            })),
            ..Default::default()
        },
    )
    .unwrap()
}

fn client(sb: &Sandbox, org: &str) -> Client {
    client_with_clock(sb, org, Arc::new(AtomicI64::new(0)))
}

/// An arkivmelding and a document whose bytes say which message they belong to.
fn request(dir: &Path, tag: &str) -> (SendRequest, Vec<u8>) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("arkivmelding.xml"), ARKIVMELDING).unwrap();
    let mut pdf = format!("%PDF-1.4 efm retry test {tag}\n").into_bytes();
    pdf.extend((0..50_000u32).flat_map(|i| i.to_le_bytes()));
    std::fs::write(dir.join("brev.pdf"), &pdf).unwrap();
    let documents = SendDocument::in_folder(dir, &["arkivmelding.xml", "brev.pdf"]);
    (
        SendRequest {
            receiver: Some(ORG_B.to_string()),
            documents,
            ..SendRequest::default()
        },
        pdf,
    )
}

/// Transfers from `from` to `to` whose upload the broker received and accepted.
fn uploaded_transfers(sb: &Sandbox, from: &str, to: &str) -> usize {
    transfers(sb)
        .iter()
        .filter(|t| {
            t["sender"] == json!(format!("0192:{from}"))
                && t["recipients"].as_array().is_some_and(|r| {
                    r.iter()
                        .any(|r| r["recipient"] == json!(format!("0192:{to}")))
                })
                && matches!(
                    t["fileTransferStatus"].as_str(),
                    Some("UploadProcessing" | "Published" | "AllConfirmedDownloaded")
                )
        })
        .count()
}

/// What the archive system does all day, and nothing more: A works its queue and polls; B
/// polls, takes what arrived into its archive (pop, delete). Until A's message is LEVERT.
/// Returns the documents B archived for `id`, as (name, bytes).
fn operate_until_levert(a: &Client, b: &Client, id: &str, into: &Path) -> Vec<(String, Vec<u8>)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut archived = Vec::new();
    loop {
        a.run_due().unwrap();
        b.poll().unwrap();
        while let Some(m) = b.peek().unwrap() {
            let mid = m.info.message_id.clone();
            let opened = b.pop(&mid, &into.join(&mid)).unwrap();
            if mid == id {
                for f in &opened.files {
                    archived.push((f.name.clone(), std::fs::read(&f.path).unwrap()));
                }
            }
            b.delete(&mid).unwrap();
        }
        a.poll().unwrap();
        if a.message(id).unwrap().status == ReceiptStatus::Levert {
            return archived;
        }
        assert!(
            Instant::now() < deadline,
            "message {id} not LEVERT: {:?} {:?}",
            history(a, Direction::Outgoing, id),
            a.message(id).unwrap().sending
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// B archived each of the two documents A sent once, byte for byte (compared without printing
/// them; the package's own manifest.xml comes along).
fn assert_archived(archived: &[(String, Vec<u8>)], pdf: &[u8], case: &str) {
    for (name, sent) in [
        ("arkivmelding.xml", ARKIVMELDING.as_bytes()),
        ("brev.pdf", pdf),
    ] {
        let got: Vec<&Vec<u8>> = archived
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, b)| b)
            .collect();
        assert_eq!(got.len(), 1, "{case}: {name} archived once");
        assert!(
            got[0].as_slice() == sent,
            "{case}: {name} differs ({} bytes, sent {})",
            got[0].len(),
            sent.len()
        );
    }
}

/// Each step of sending, faulted once, in turn. Faults match a path prefix (and method); the
/// sandbox applies each to the first matching request only.
#[test]
fn every_sending_step_faulted_once_ends_delivered_once_and_levert() {
    let sb = sandbox("retry-steps");
    let work = work_dir(&sb, "steps");
    let token = "/maskinporten/token";
    let exchange = "/authentication/api/v1/exchange/maskinporten";
    let registry = "/serviceregistry/identifier";
    let broker = "/broker/api/v1/filetransfer/";
    let cases: Vec<(&str, &str, serde_json::Value)> = vec![
        ("token 500", token, json!({"kind": "status", "status": 500})),
        ("token 503", token, json!({"kind": "status", "status": 503})),
        (
            "token 429",
            token,
            json!({"kind": "rate_limit", "retry_after": 1}),
        ),
        ("token drop", token, json!({"kind": "drop"})),
        (
            "exchange 503",
            exchange,
            json!({"kind": "status", "status": 503}),
        ),
        ("exchange drop", exchange, json!({"kind": "drop"})),
        (
            "registry 503",
            registry,
            json!({"kind": "status", "status": 503}),
        ),
        (
            "registry 429",
            registry,
            json!({"kind": "rate_limit", "retry_after": 1}),
        ),
        ("registry drop", registry, json!({"kind": "drop"})),
        (
            "initialize 500",
            broker,
            json!({"kind": "status", "status": 500, "method": "POST"}),
        ),
        (
            "initialize 503",
            broker,
            json!({"kind": "status", "status": 503, "method": "POST"}),
        ),
        (
            "initialize 429",
            broker,
            json!({"kind": "rate_limit", "retry_after": 1, "method": "POST"}),
        ),
        (
            "initialize drop",
            broker,
            json!({"kind": "drop", "method": "POST"}),
        ),
        (
            "upload 500",
            broker,
            json!({"kind": "status", "status": 500, "method": "POST", "path_suffix": "/upload"}),
        ),
        (
            "upload 503",
            broker,
            json!({"kind": "status", "status": 503, "method": "POST", "path_suffix": "/upload"}),
        ),
        (
            "upload 429",
            broker,
            json!({"kind": "rate_limit", "retry_after": 1, "method": "POST", "path_suffix": "/upload"}),
        ),
        (
            "upload drop",
            broker,
            json!({"kind": "drop", "method": "POST", "path_suffix": "/upload"}),
        ),
        (
            "publication check 503",
            broker,
            json!({"kind": "status", "status": 503, "method": "GET"}),
        ),
        (
            "publication check 429",
            broker,
            json!({"kind": "rate_limit", "retry_after": 1, "method": "GET"}),
        ),
        (
            "confirm 500",
            broker,
            json!({"kind": "status", "status": 500, "method": "POST", "path_suffix": "/confirmdownload"}),
        ),
        (
            "confirm drop",
            broker,
            json!({"kind": "drop", "method": "POST", "path_suffix": "/confirmdownload"}),
        ),
    ];
    for (n, (name, path, spec)) in cases.into_iter().enumerate() {
        // Fresh clients: no token cached, so the token and registry steps really run.
        let a = client(&sb, ORG_A);
        let b = client(&sb, ORG_B);
        let before_a_to_b = uploaded_transfers(&sb, ORG_A, ORG_B);
        let (req, pdf) = request(&work.join(format!("out-{n}")), name);
        fault(&sb, path, spec, 1);
        let sent = a
            .send(req, &mut |_, _| {})
            .unwrap_or_else(|e| panic!("{name}: send failed instead of retrying: {e}"));
        let id = sent.message_id.clone();
        if name.starts_with("initialize") || name.starts_with("upload") {
            // The broker step failed: the message waits for its next attempt, visibly.
            assert_eq!(sent.status, ReceiptStatus::Opprettet, "{name}");
            let s = sent.sending.as_ref().unwrap();
            assert_eq!(s.attempts, 1, "{name}");
            assert!(s.last_error.is_some() && s.next_attempt.is_some(), "{name}");
        }
        let archived = operate_until_levert(&a, &b, &id, &work.join(format!("in-{n}")));
        assert_archived(&archived, &pdf, name);
        let incoming = b
            .messages(&MessageFilter {
                direction: Some(Direction::Incoming),
                message_id: Some(id.clone()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(incoming.len(), 1, "{name}");
        assert_eq!(
            uploaded_transfers(&sb, ORG_A, ORG_B) - before_a_to_b,
            1,
            "{name}: one upload reached the broker"
        );
        let h = history(&a, Direction::Outgoing, &id);
        assert_eq!(h.first(), Some(&"OPPRETTET"), "{name}: {h:?}");
        assert!(!h.contains(&"FEIL"), "{name}: {h:?}");
        assert_eq!(
            a.message(&id).unwrap().status,
            ReceiptStatus::Levert,
            "{name}"
        );
        let faults = admin_get(&sb, "/admin/faults");
        assert_eq!(faults, json!([]), "{name}: the fault fired");
    }
}

/// While the broker keeps failing, the message stays OPPRETTET with its attempts, next attempt
/// and last error visible; once the broker recovers it goes out by itself.
#[test]
fn a_failing_broker_leaves_the_message_pending_with_its_attempts_visible() {
    let sb = sandbox("retry-pending");
    let a = client(&sb, ORG_A);
    let b = client(&sb, ORG_B);
    let work = work_dir(&sb, "pending");
    fault(
        &sb,
        "/broker/api/v1/filetransfer/",
        json!({"kind": "status", "status": 503, "method": "POST"}),
        3,
    );
    let (req, _) = request(&work.join("out"), "pending");
    let sent = a.send(req, &mut |_, _| {}).unwrap();
    assert_eq!(sent.status, ReceiptStatus::Opprettet);
    let s = sent.sending.clone().expect("send state shown");
    assert_eq!(s.attempts, 1);
    assert!(s.next_attempt.is_some());
    assert!(s.last_error.as_deref().unwrap().contains("503"), "{s:?}");
    assert_eq!(
        history(&a, Direction::Outgoing, &sent.message_id),
        ["OPPRETTET"]
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    while a.message(&sent.message_id).unwrap().status == ReceiptStatus::Opprettet {
        let w = a.run_due().unwrap();
        assert!(w.failed.is_empty(), "{w:?}");
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(30));
    }
    let m = a.message(&sent.message_id).unwrap();
    assert_eq!(m.status, ReceiptStatus::Sendt);
    // Uploaded: the transfer is followed (or, published already, done with).
    assert_ne!(m.sending.as_ref().unwrap().step.name(), "UPLOAD");
    operate_until_levert(&a, &b, &sent.message_id, &work.join("in"));
    assert_eq!(
        history(&a, Direction::Outgoing, &sent.message_id),
        ["OPPRETTET", "SENDT", "MOTTATT", "LEVERT"]
    );
}

/// A refusal that no retry can fix (the broker's 400) is FEIL at once, with the reason; the
/// package is kept, and a resend after the cause is fixed delivers it.
#[test]
fn a_permanent_refusal_is_feil_with_the_reason_and_resend_delivers() {
    let sb = sandbox("retry-permanent");
    let a = client(&sb, ORG_A);
    let b = client(&sb, ORG_B);
    let work = work_dir(&sb, "permanent");
    fault(
        &sb,
        "/broker/api/v1/filetransfer/",
        json!({"kind": "status", "status": 400, "method": "POST",
               "body": "{\"title\":\"One or more validation errors occurred.\",\"status\":400}"}),
        1,
    );
    let (req, _) = request(&work.join("out"), "permanent");
    let e = a.send(req, &mut |_, _| {}).unwrap_err();
    assert_eq!(e.detail().http_status, Some(400), "{e}");
    let m = &a
        .messages(&MessageFilter {
            direction: Some(Direction::Outgoing),
            ..Default::default()
        })
        .unwrap()[0];
    assert_eq!(m.status, ReceiptStatus::Feil);
    let last = a.status(&m.message_id).unwrap().pop().unwrap();
    assert!(last.description.unwrap().contains("400"));
    assert!(m.payload.as_ref().unwrap().is_file(), "the package is kept");
    // Nothing retries a FEIL by itself.
    assert!(a.run_due().unwrap().sent.is_empty());

    let resent = a.resend(&m.message_id, &mut |_, _| {}).unwrap();
    assert_eq!(resent.status, ReceiptStatus::Sendt);
    operate_until_levert(&a, &b, &m.message_id, &work.join("in"));
    assert_eq!(
        history(&a, Direction::Outgoing, &m.message_id),
        ["OPPRETTET", "FEIL", "SENDT", "MOTTATT", "LEVERT"]
    );
    let e = a.resend(&m.message_id, &mut |_, _| {}).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

/// A package larger than the broker takes: the broker refuses the declared length before the
/// body is sent (`Expect: 100-continue`), so the message is FEIL at once with the broker's
/// reason, instead of a broken pipe retried until the message expires.
#[test]
fn a_package_over_the_brokers_size_limit_is_feil_at_once() {
    let sb = sandbox("retry-too-large");
    let a = client(&sb, ORG_A);
    let work = work_dir(&sb, "too-large");
    admin(
        &sb,
        "/admin/settings",
        json!({"max_file_size": 1024 * 1024}),
    );
    let (mut req, _) = request(&work.join("out"), "too-large");
    // 16 MiB of incompressible bytes: far more than the socket buffers take, so without the
    // early answer the upload would fail mid-body.
    let big = work.join("out").join("stort.pdf");
    let mut bytes = vec![0u8; 16 * 1024 * 1024];
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for chunk in bytes.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(&big, &bytes).unwrap();
    req.documents.push(SendDocument {
        name: "stort.pdf".into(),
        path: big,
        mime: None,
    });
    let started = Instant::now();
    let e = a.send(req, &mut |_, _| {}).unwrap_err();
    assert_eq!(e.detail().http_status, Some(400), "{e}");
    assert_eq!(e.detail().remote_code.as_deref(), Some("BRO-00016"), "{e}");
    let m = &a
        .messages(&MessageFilter {
            direction: Some(Direction::Outgoing),
            ..Default::default()
        })
        .unwrap()[0];
    assert_eq!(m.status, ReceiptStatus::Feil);
    let reason = a.status(&m.message_id).unwrap().pop().unwrap().description;
    assert!(
        reason
            .as_deref()
            .unwrap_or_default()
            .contains("File size exceeds maximum"),
        "{reason:?}"
    );
    assert_eq!(
        history(&a, Direction::Outgoing, &m.message_id),
        ["OPPRETTET", "FEIL"]
    );
    // No bytes of the body reached the broker: the transfer was never started.
    let t = transfers(&sb);
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(t[0]["fileTransferStatus"], "Initialized", "{t:?}");
    eprintln!("refused after {:?}", started.elapsed());
}

/// The broker's malware scan fails the transfer after the upload: the sender follows the
/// transfer and records FEIL with the broker's reason; nothing reaches the receiver.
#[test]
fn a_malware_failed_transfer_ends_feil() {
    let sb = sandbox("retry-malware");
    let a = client(&sb, ORG_A);
    let b = client(&sb, ORG_B);
    let work = work_dir(&sb, "malware");
    fault(
        &sb,
        "/broker/api/v1/filetransfer/",
        json!({"kind": "malware", "method": "POST"}),
        1,
    );
    let (req, _) = request(&work.join("out"), "malware");
    let sent = a.send(req, &mut |_, _| {}).unwrap();
    assert_eq!(sent.status, ReceiptStatus::Sendt);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let w = a.run_due().unwrap();
        if !w.failed.is_empty() {
            assert_eq!(w.failed, vec![sent.message_id.clone()]);
            break;
        }
        assert!(Instant::now() < deadline, "{w:?}");
        std::thread::sleep(Duration::from_millis(30));
    }
    assert_eq!(
        a.message(&sent.message_id).unwrap().status,
        ReceiptStatus::Feil
    );
    let last = a.status(&sent.message_id).unwrap().pop().unwrap();
    let reason = last.description.unwrap();
    assert!(
        reason.contains("Failed") && reason.contains("Malware"),
        "{reason}"
    );
    assert_eq!(b.poll().unwrap().received, Vec::<String>::new());
    assert_eq!(
        history(&a, Direction::Outgoing, &sent.message_id),
        ["OPPRETTET", "SENDT", "FEIL"]
    );
}

/// A broker that stays down until the deadline: the message ends LEVETID_UTLOPT, its package
/// removed, and is not tried again.
#[test]
fn a_message_not_sent_before_its_deadline_expires() {
    let sb = sandbox("retry-expiry");
    let offset = Arc::new(AtomicI64::new(0));
    let a = client_with_clock(&sb, ORG_A, offset.clone());
    let work = work_dir(&sb, "expiry");
    fault(
        &sb,
        "/broker/api/v1/filetransfer/",
        json!({"kind": "status", "status": 503, "method": "POST"}),
        1000,
    );
    let (mut req, _) = request(&work.join("out"), "expiry");
    req.ttl_secs = Some(3600);
    let sent = a.send(req, &mut |_, _| {}).unwrap();
    assert_eq!(sent.status, ReceiptStatus::Opprettet);
    let package = sent.payload.clone().unwrap();
    offset.store(2 * 3600, Ordering::SeqCst);
    let w = a.run_due().unwrap();
    assert_eq!(w.expired, vec![sent.message_id.clone()], "{w:?}");
    let m = a.message(&sent.message_id).unwrap();
    assert_eq!(m.status, ReceiptStatus::LevetidUtlopt);
    assert_eq!(m.sending.unwrap().step.name(), "DONE");
    assert!(!package.exists(), "the package is removed");
    let w = a.run_due().unwrap();
    assert!(
        w.expired.is_empty() && w.sent.is_empty() && w.retrying.is_empty(),
        "{w:?}"
    );
    assert_eq!(
        history(&a, Direction::Outgoing, &sent.message_id),
        ["OPPRETTET", "LEVETID_UTLOPT"]
    );
}

/// The sending process dies in the middle of the upload (here: the progress callback panics,
/// unwinding out of `send`). The message is left OPPRETTET, claimed; once the claim runs out,
/// another client on the same data directory sends it, and the receiver gets it once.
#[test]
fn a_send_interrupted_mid_upload_is_finished_by_another_client() {
    let sb = sandbox("retry-killed");
    let offset = Arc::new(AtomicI64::new(0));
    let work = work_dir(&sb, "killed");
    let (req, pdf) = request(&work.join("out"), "killed");
    let id = {
        let a = client_with_clock(&sb, ORG_A, offset.clone());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // By phase: send's byte progress also covers packing, and a crash while packing
            // leaves nothing stored (nothing to finish).
            a.send_by_phase(req, &mut |phase, done, total| {
                if phase == efm_core::progress::Phase::Uploading && done > 0 && done < total {
                    panic!("simulated crash during the upload");
                }
            })
        }));
        assert!(r.is_err(), "the send was interrupted");
        let all = a
            .messages(&MessageFilter {
                direction: Some(Direction::Outgoing),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].status, ReceiptStatus::Opprettet);
        // Still claimed by the dead attempt: nobody else takes it yet.
        assert!(a.run_due().unwrap().sent.is_empty());
        all[0].message_id.clone()
    };
    offset.store(120, Ordering::SeqCst);
    let a = client_with_clock(&sb, ORG_A, offset.clone());
    let b = client(&sb, ORG_B);
    let w = a.run_due().unwrap();
    assert_eq!(w.sent, vec![id.clone()], "{w:?}");
    let archived = operate_until_levert(&a, &b, &id, &work.join("in"));
    assert_archived(&archived, &pdf, "interrupted");
    assert_eq!(uploaded_transfers(&sb, ORG_A, ORG_B), 1);
}

/// The Service Registry (which gives the receiver's certificate), or the Maskinporten token in
/// front of it, is down for longer than one call's own retries: the message is stored
/// OPPRETTET with copies of its documents (the application may change its files at once), and
/// a later `run_due` packs and sends it.
#[test]
fn the_registry_or_token_service_down_at_send_time_leaves_the_message_pending() {
    let sb = sandbox("retry-registry");
    let work = work_dir(&sb, "registry");
    for (n, path) in ["/serviceregistry/identifier", "/maskinporten/token"]
        .into_iter()
        .enumerate()
    {
        let a = client(&sb, ORG_A);
        let b = client(&sb, ORG_B);
        let dir = work.join(format!("out-{n}"));
        let (req, pdf) = request(&dir, path);
        // More failures than one lookup's own three attempts.
        fault(&sb, path, json!({"kind": "status", "status": 503}), 3);
        let sent = a.send(req, &mut |_, _| {}).unwrap();
        assert_eq!(sent.status, ReceiptStatus::Opprettet, "{path}");
        let s = sent.sending.clone().unwrap();
        assert_eq!(s.attempts, 1, "{path}");
        assert!(s.last_error.unwrap().contains("503"), "{path}");
        assert!(sent.payload.is_none(), "{path}: not packed yet");
        // The application's files may change now: what was sent is what was given.
        std::fs::write(dir.join("brev.pdf"), b"changed afterwards").unwrap();
        let archived =
            operate_until_levert(&a, &b, &sent.message_id, &work.join(format!("in-{n}")));
        assert_archived(&archived, &pdf, path);
        let spool = sandbox_config(&sb, ORG_A).data_dir.join("spool/out");
        let left: Vec<_> = std::fs::read_dir(&spool)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&sent.message_id))
            .collect();
        assert!(left.is_empty(), "{path}: spool files left: {left:?}");
    }
}

/// A long upload renews its claim while it streams: a second client on the same data directory,
/// working its queue all the while with a claim shorter than the upload, never starts a second
/// upload of the same message.
#[test]
fn a_long_upload_keeps_its_claim_against_another_client() {
    let sb = sandbox("retry-lease");
    let work = work_dir(&sb, "lease");
    let short = SendRetry {
        lease: Duration::from_millis(1500),
        ..fast()
    };
    let with_lease = || {
        Client::with_options(
            sandbox_config(&sb, ORG_A),
            ClientOptions {
                send_retry: short,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let sender = with_lease();
    let other = with_lease();
    let (mut req, _) = request(&work.join("out"), "lease");
    let big = work.join("out/stor.bin");
    std::fs::write(&big, vec![7u8; 48 << 20]).unwrap();
    req.documents.push(SendDocument {
        name: "stor.bin".into(),
        path: big,
        mime: None,
    });
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (sent, stolen) = std::thread::scope(|s| {
        let worker = s.spawn(|| {
            let mut stolen = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                stolen.extend(other.run_due().unwrap().sent);
                std::thread::sleep(Duration::from_millis(5));
            }
            stolen
        });
        let started = Instant::now();
        let sent = sender.send(req, &mut |_, _| {}).unwrap();
        let took = started.elapsed();
        stop.store(true, Ordering::SeqCst);
        eprintln!("send took {took:?} against a claim of 1.5 s");
        (sent, worker.join().unwrap())
    });
    assert_eq!(sent.status, ReceiptStatus::Sendt);
    assert!(
        stolen.is_empty(),
        "the other client uploaded it too: {stolen:?}"
    );
    assert_eq!(uploaded_transfers(&sb, ORG_A, ORG_B), 1);
}
