//! `efm send`, `efm poll`, `efm inbox` and `efm status` between two sandbox organisations.

use efm_sandbox::{Sandbox, SandboxOptions};
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

#[test]
fn send_poll_inbox_status() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(SandboxOptions {
        dir: dir.path().join("sandbox"),
        port: 0,
        virus_scan_delay_ms: Some(0),
        ..SandboxOptions::default()
    })
    .unwrap();
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
