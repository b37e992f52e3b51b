//! The operator commands: `efm resend`, `efm expire` and `efm run` between two sandbox
//! organisations, with the broker failing for a while.

use efm_sandbox::{Sandbox, SandboxOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
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

/// Stop a running `efm run` with SIGTERM; it must exit cleanly. Returns what it printed.
fn stop(mut run: std::process::Child) -> String {
    let ok = Command::new("kill")
        .args(["-TERM", &run.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = run.wait().unwrap();
    let mut out = String::new();
    run.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(status.success(), "efm run exited with {status}: {out}");
    out
}

/// A sandbox with two organisations (their configurations) and an arkivmelding to send.
fn two_organisations() -> (tempfile::TempDir, Sandbox, PathBuf, PathBuf, PathBuf) {
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
    (dir, sb, a, b, xml)
}

/// `efm send` of the arkivmelding from the organisation configured in `from` to 910076787.
fn send_to_b(from: &Path, xml: &Path) -> Output {
    efm(
        from,
        &[
            "send",
            "--to",
            "910076787",
            "--doc",
            &format!("arkivmelding.xml={}", xml.display()),
        ],
    )
}

#[test]
fn resend_expire_and_run_until_stopped() {
    let (_dir, sb, a, b, xml) = two_organisations();

    // The broker is down: send stores the message, pending, and says so (exit 0).
    broker_down(&sb, 2);
    let o = send_to_b(&a, &xml);
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

    // efm run serving both organisations in one process (--also): A's message goes out, B
    // receives it and MOTTATT comes back, each state change logged; SIGTERM stops it cleanly.
    let run = Command::new(env!("CARGO_BIN_EXE_efm"))
        .args(["run", "--interval", "1", "--also"])
        .arg(&b)
        .env("EFM_CONFIG", &a)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !status_of(&a, &id).contains(&"MOTTATT".to_string()) {
        assert!(Instant::now() < deadline, "{:?}", status_of(&a, &id));
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = stop(run);
    assert!(
        out.contains("efm run for 910075918, 910076787") && out.contains("efm run stopped"),
        "{out}"
    );
    assert!(
        out.contains(&format!("outgoing message {id}: SENDT"))
            && out.contains(&format!("outgoing message {id}: MOTTATT"))
            && out.contains(&format!("incoming message {id}: INNKOMMENDE_MOTTATT")),
        "{out}"
    );
    let logs = [out];
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

/// `efm poll` prints its summary and exits non-zero when something failed; the next poll
/// finishes the job.
#[test]
fn poll_exits_non_zero_when_something_failed() {
    let (_dir, sb, a, b, xml) = two_organisations();
    let o = send_to_b(&a, &xml);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let id = stdout(&o)["message_id"].as_str().unwrap().to_string();
    let http = efm_core::http::Http::with_settings(&Default::default()).unwrap();
    let r = http
        .post(&format!("{}/admin/faults", sb.base_url()))
        .send_json(
            &serde_json::json!({"path": "/broker/api/v1/filetransfer/", "path_suffix": "/download",
            "kind": "status", "status": 500, "times": 1}),
        )
        .unwrap();
    assert_eq!(r.status(), 201);
    let o = efm(&b, &["poll"]);
    assert!(!o.status.success(), "a failed download is a failed poll");
    let summary = stdout(&o);
    assert_eq!(summary["errors"].as_array().unwrap().len(), 1, "{summary}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("500"));
    let o = efm(&b, &["poll"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(stdout(&o)["received"], serde_json::json!([id]));
}

/// One configuration naming two organisations (one store): `efm run` serves both, and `--org`
/// picks which one the other commands act for.
#[test]
fn run_serves_every_organisation_of_one_configuration() {
    let (dir, _sb, a, b, xml) = two_organisations();
    let read = |p: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let mut shared = read(&a);
    shared["organisations"] = serde_json::json!([{
        "organisation_number": "910076787",
        "credentials": read(&b)["credentials"],
    }]);
    let config = dir.path().join("shared.json");
    std::fs::write(&config, shared.to_string()).unwrap();

    // B sends to A from the shared configuration (--org), A (the default) to B.
    let o = efm(
        &config,
        &[
            "send",
            "--org",
            "910076787",
            "--to",
            "910075918",
            "--doc",
            &format!("arkivmelding.xml={}", xml.display()),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let from_b = stdout(&o)["message_id"].as_str().unwrap().to_string();
    let o = send_to_b(&config, &xml);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let from_a = stdout(&o)["message_id"].as_str().unwrap().to_string();

    let run = Command::new(env!("CARGO_BIN_EXE_efm"))
        .args(["run", "--interval", "1"])
        .env("EFM_CONFIG", &config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let b_status = |id: &str| {
        let o = efm(&config, &["status", "--org", "910076787", id]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        stdout(&o)
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["status"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(status_of(&config, &from_a).contains(&"MOTTATT".to_string())
        && b_status(&from_b).contains(&"MOTTATT".to_string()))
    {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            status_of(&config, &from_a)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = stop(run);
    assert!(out.contains("efm run for 910075918, 910076787"), "{out}");
    // Each organisation's incoming message is its own: A does not see B's as incoming.
    assert_eq!(b_status(&from_a), ["OPPRETTET", "INNKOMMENDE_MOTTATT"]);
    assert_eq!(
        status_of(&config, &from_b),
        ["OPPRETTET", "INNKOMMENDE_MOTTATT"]
    );
    // An organisation the configuration does not name: a clear error.
    let o = efm(&config, &["status", "--org", "984661185", &from_a]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("does not name organisation"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
