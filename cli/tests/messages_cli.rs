//! `efm send`, `efm poll`, `efm inbox` and `efm status` between two sandbox organisations.

use efm_sandbox::{Sandbox, SandboxOptions};
use efm_test_support::broker::upload_raw;
use std::path::Path;
use std::process::Command;

fn efm(config: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_efm"))
        .args(args)
        .env("EFM_CONFIG", config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "efm {args:?} failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..60 {
        if done() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    panic!("{what} did not happen in time");
}

fn start_sandbox(dir: &Path) -> Sandbox {
    Sandbox::start(SandboxOptions {
        dir: dir.join("sandbox"),
        port: 0,
        virus_scan_delay_ms: Some(0),
        ..SandboxOptions::default()
    })
    .unwrap()
}

#[test]
fn send_poll_inbox_status() {
    let dir = tempfile::tempdir().unwrap();
    let sb = start_sandbox(dir.path());
    let a = sb.config_path("910075918");
    let b = sb.config_path("910076787");
    let xml = dir.path().join("arkivmelding.xml");
    std::fs::write(&xml, "<arkivmelding/>").unwrap();
    let pdf = dir.path().join("brev.pdf");
    std::fs::write(&pdf, vec![42u8; 50_000]).unwrap();

    let sent = efm(
        &a,
        &[
            "send",
            "--to",
            "910076787",
            "--doc",
            &format!("arkivmelding.xml={}", xml.display()),
            "--doc",
            &format!("brev.pdf={}", pdf.display()),
        ],
    );
    let sent: serde_json::Value = serde_json::from_str(&sent).unwrap();
    assert_eq!(sent["status"], "SENDT");
    let id = sent["message_id"].as_str().unwrap().to_string();

    until("delivery", || efm(&b, &["poll"]).contains(&id));
    let inbox = dir.path().join("inbox");
    let opened = efm(&b, &["inbox", "--into", inbox.to_str().unwrap()]);
    assert!(opened.contains(&id), "{opened}");
    assert_eq!(
        std::fs::read(inbox.join(&id).join("brev.pdf")).unwrap(),
        vec![42u8; 50_000]
    );

    until("LEVERT back", || {
        efm(&a, &["poll"]);
        efm(&a, &["status", &id]).contains("\"LEVERT\"")
    });
    let history = efm(&a, &["status", &id]);
    for s in ["OPPRETTET", "SENDT", "MOTTATT", "LEVERT"] {
        assert!(history.contains(s), "{s} missing: {history}");
    }
    assert!(efm(&a, &["status"]).contains(&id));
}

/// Runs efm; returns (success, stdout, stderr).
fn efm_run(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_efm"))
        .args(args)
        .env("EFM_CONFIG", config)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A package that cannot be read: `efm poll` exits 1 and says it is in quarantine; `efm
/// quarantine` lists, exports, retries and deletes it; then `efm poll` is clean again.
#[test]
fn poll_fails_visibly_and_quarantine_is_managed_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let sb = start_sandbox(dir.path());
    let b = sb.config_path("910076787");
    let bad = dir.path().join("bad.zip");
    {
        use std::io::Write;
        // A zip holding only an SBD whose messageId is no UUID (written by hand: stored entry).
        let sbd = br#"{"standardBusinessDocumentHeader":{"documentIdentification":{"instanceIdentifier":"x"}}}"#;
        let mut w = efm_core::asic::zipfmt::ZipWriter::new(Vec::new());
        w.add_bytes("sbd.json", sbd, false, "").unwrap();
        let bytes = w.finish("").unwrap();
        std::fs::File::create(&bad)
            .unwrap()
            .write_all(&bytes)
            .unwrap();
    }
    upload_raw(&sb, "910075918", "910076787", &bad);
    let mut outcome = (true, String::new(), String::new());
    until("the bad package", || {
        outcome = efm_run(&b, &["poll"]);
        outcome.1.contains("\"quarantined\": 1")
    });
    let (ok, _, stderr) = &outcome;
    assert!(!ok, "efm poll must fail when a package is quarantined");
    assert!(stderr.contains("efm quarantine list"), "{stderr}");

    let list: serde_json::Value = serde_json::from_str(&efm(&b, &["quarantine", "list"])).unwrap();
    let entry = &list[0];
    assert_eq!(entry["kind"], "UNREADABLE");
    assert_eq!(entry["sender"], "0192:910075918");
    let id = entry["id"].to_string();
    let exported = dir.path().join("exported.zip");
    efm(
        &b,
        &["quarantine", "export", &id, exported.to_str().unwrap()],
    );
    assert_eq!(
        std::fs::read(&exported).unwrap(),
        std::fs::read(&bad).unwrap()
    );
    let retried = efm(&b, &["quarantine", "retry", &id]);
    assert!(retried.contains("still_refused"), "{retried}");
    let list: serde_json::Value = serde_json::from_str(&efm(&b, &["quarantine", "list"])).unwrap();
    let id = list[0]["id"].to_string();
    efm(&b, &["quarantine", "delete", &id]);
    assert_eq!(efm(&b, &["quarantine", "list"]).trim(), "[]");
    let (ok, out, err) = efm_run(&b, &["poll"]);
    assert!(ok, "{out}\n{err}");
}
