//! The operator commands: `efm resend`, `efm expire` and `efm run` between two sandbox
//! organisations, with the broker failing for a while.

use efm_sandbox::{Sandbox, SandboxOptions};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn efm(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_efm"))
        .args(args)
        .env("EFM_CONFIG", config)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// The broker's initialize answers 503 the next `times` times.
fn broker_down(sb: &Sandbox, times: u32) {
    let http = efm_core::http::Http::with_settings(&Default::default()).unwrap();
    let r = http
        .post(&format!("{}/admin/faults", sb.base_url()))
        .send_json(
            &serde_json::json!({"path": "/broker/api/v1/filetransfer/", "method": "POST",
            "kind": "status", "status": 503, "times": times}),
        )
        .unwrap();
    assert_eq!(r.status(), 201);
}

fn status_of(config: &Path, id: &str) -> Vec<String> {
    let o = efm(config, &["status", id]);
    assert!(o.status.success());
    stdout(&o)
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn resend_expire_and_run_until_stopped() {
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

    // The broker is down: send stores the message, pending, and says so (exit 0).
    broker_down(&sb, 2);
    let o = efm(
        &a,
        &[
            "send",
            "--to",
            "910076787",
            "--doc",
            &format!("arkivmelding.xml={}", xml.display()),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sent = stdout(&o);
    let id = sent["message_id"].as_str().unwrap().to_string();
    assert_eq!(sent["status"], "OPPRETTET");
    assert_eq!(sent["sending"]["attempts"], 1);
    assert!(sent["sending"]["last_error"]
        .as_str()
        .unwrap()
        .contains("503"));

    // A resend while the broker is still down: not sent, exit non-zero, the reason shown.
    let o = efm(&a, &["resend", &id]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not sent yet") && err.contains("503"), "{err}");
    assert_eq!(stdout(&o)["sending"]["attempts"], 2);

    // Nothing expired.
    let o = efm(&a, &["expire"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), serde_json::json!([]));

    // efm run for both organisations: A's message goes out, B receives it and MOTTATT comes
    // back, each state change logged; SIGTERM stops A's service cleanly.
    let spawn = |config: &Path| {
        Command::new(env!("CARGO_BIN_EXE_efm"))
            .args(["run", "--interval", "1"])
            .env("EFM_CONFIG", config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut run_a = spawn(&a);
    let mut run_b = spawn(&b);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !status_of(&a, &id).contains(&"MOTTATT".to_string()) {
        assert!(Instant::now() < deadline, "{:?}", status_of(&a, &id));
        std::thread::sleep(Duration::from_millis(300));
    }
    for child in [&mut run_a, &mut run_b] {
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let mut logs = Vec::new();
    for mut child in [run_a, run_b] {
        let status = child.wait().unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert!(status.success(), "efm run exited with {status}: {out}");
        assert!(out.contains("efm run stopped"), "{out}");
        logs.push(out);
    }
    assert!(
        logs[0].contains(&format!("outgoing message {id}: SENDT"))
            && logs[0].contains(&format!("outgoing message {id}: MOTTATT")),
        "{}",
        logs[0]
    );
    assert!(
        logs[1].contains(&format!("incoming message {id}: INNKOMMENDE_MOTTATT")),
        "{}",
        logs[1]
    );
    for log in &logs {
        assert!(!log.contains("eyJ"), "a token in the log: {log}");
    }
}

/// `efm doctor` on an Altinn 2 configuration says that Altinn 2 is gone from production.
#[test]
fn doctor_warns_that_altinn2_is_test_and_legacy_only() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(SandboxOptions {
        dir: dir.path().join("sandbox"),
        port: 0,
        ..SandboxOptions::default()
    })
    .unwrap();
    let config = sb
        .config_path("910075918")
        .with_file_name("config-altinn2.json");
    let o = efm(&config, &["doctor"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("[warn] configuration: transport altinn2: Altinn 2 was switched off in production in June 2026"),
        "{out}"
    );
    // An Altinn 3 configuration gets no such warning.
    let o = efm(&sb.config_path("910075918"), &["doctor"]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("[warn]"));
}
