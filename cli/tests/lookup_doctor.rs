//! `efm lookup` and `efm doctor` run as a user would, against efm-sandbox.

use efm_sandbox::Sandbox;
use efm_test_support::{ORG_A, ORG_B};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A sandbox in a fresh directory (its PKI copied from a once-per-binary template).
fn sandbox(name: &str) -> Sandbox {
    efm_test_support::sandbox::start_with(&format!("cli-{name}"), None)
}

fn efm(args: &[&str], env_config: Option<&Path>, cwd: &Path) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_efm"));
    c.args(args).current_dir(cwd).env_remove("EFM_CONFIG");
    if let Some(p) = env_config {
        c.env("EFM_CONFIG", p);
    }
    c.output().expect("efm runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Tokens (JWTs) never reach the terminal.
fn assert_no_tokens(s: &str) {
    assert!(!s.contains("eyJ"), "a JWT was printed:\n{s}");
}

#[test]
fn doctor_passes_and_reports_each_step() {
    let sb = sandbox("doctor-ok");
    let cfg = sb.config_path(ORG_A);
    let o = efm(
        &["doctor", "--config", cfg.to_str().unwrap()],
        None,
        sb.dir(),
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert_eq!(out.matches("[ ok ]").count(), 10, "{out}");
    assert!(out.contains("[ ok ] broker: "), "{out}");
    assert!(out.contains("[ ok ] data directory: "), "{out}");
    assert!(out.contains("[ ok ] state store: SQLite "), "{out}");
    assert!(out.contains("all checks passed"));
    assert_no_tokens(&out);
}

/// With a PostgreSQL store (the server scripts/test.sh starts, which has a certificate from a
/// throwaway CA) the doctor says where the state is and that the connection is encrypted, and
/// names neither the password nor its file's content.
#[test]
fn doctor_reports_a_postgresql_store_over_tls() {
    let (Ok(url), Ok(password_file), Ok(ca)) = (
        std::env::var("EFM_TEST_POSTGRES"),
        std::env::var("EFM_TEST_POSTGRES_PASSWORD_FILE"),
        std::env::var("EFM_TEST_POSTGRES_CA"),
    ) else {
        eprintln!("NOTE: EFM_TEST_POSTGRES(_PASSWORD_FILE, _CA) unset: the PostgreSQL doctor check is NOT tested here");
        return;
    };
    let sb = sandbox("doctor-pg");
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(sb.config_path(ORG_A)).unwrap()).unwrap();
    let schema = format!("doctor_{}", std::process::id());
    v["store"] = serde_json::json!({
        "postgres": format!("{url}?sslmode=require"),
        "password_file": password_file,
        "schema": schema,
    });
    v["ca_bundle"] = Value::from(ca);
    let cfg = sb.dir().join("pg.json");
    std::fs::write(&cfg, v.to_string()).unwrap();
    let o = efm(
        &["doctor", "--config", cfg.to_str().unwrap()],
        None,
        sb.dir(),
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("[ ok ] state store: PostgreSQL "))
        .unwrap_or_else(|| panic!("no state store line:\n{out}"));
    assert!(line.contains(&format!("schema {schema}")), "{line}");
    assert!(line.contains("over TLS, certificate verified"), "{line}");
    let password = std::fs::read_to_string(&password_file).unwrap();
    assert!(!out.contains(password.trim()) && !err.contains(password.trim()));
}

#[test]
fn doctor_names_the_failing_step() {
    let sb = sandbox("doctor-fail");
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(sb.config_path(ORG_A)).unwrap()).unwrap();
    v["credentials"]["client_id"] = Value::from("MOVE_IP_974720760");
    let bad = sb.dir().join("bad-client.json");
    std::fs::write(&bad, v.to_string()).unwrap();
    // Through EFM_CONFIG this time.
    let o = efm(&["doctor"], Some(&bad), sb.dir());
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(out.contains("[FAIL] Maskinporten token"), "{out}");
    assert!(out.contains("credentials.client_id"), "{out}");
    assert!(out.contains("MP-100"), "{out}");
    assert!(out.contains("[skip] Service Registry"), "{out}");
    assert!(err.contains("Maskinporten token"), "{err}");
    assert_no_tokens(&out);
    assert_no_tokens(&err);

    // No configuration at all: ./efm.json is looked for, and the message says how to give one.
    let empty = std::env::temp_dir().join(format!("efm-cli-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let o = efm(&["doctor"], None, &empty);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out.contains("[FAIL] configuration") && out.contains("EFM_CONFIG"),
        "{out}"
    );
}

#[test]
fn lookup_prints_capabilities() {
    let sb = sandbox("lookup");
    let cfg = sb.config_path(ORG_A);
    let o = efm(
        &["lookup", ORG_B, "--json", "--config", cfg.to_str().unwrap()],
        None,
        sb.dir(),
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    let caps: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(caps["organisation_number"], ORG_B);
    assert_eq!(caps["signed"], true);
    let list = caps["capabilities"].as_array().unwrap();
    assert!(list.iter().any(|c| c["service_identifier"] == "DPO"
        && c["process"] == "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0"));

    // ./efm.json in the working directory, relative paths resolved against the file's folder.
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    let folder = PathBuf::from(v["base_dir"].as_str().unwrap());
    v.as_object_mut().unwrap().remove("base_dir");
    let p12 = PathBuf::from(v["credentials"]["pkcs12"].as_str().unwrap());
    v["credentials"]["pkcs12"] = Value::from(p12.file_name().unwrap().to_str().unwrap());
    std::fs::write(folder.join("efm.json"), v.to_string()).unwrap();
    let o = efm(
        &[
            "lookup",
            ORG_B,
            "--process",
            "urn:no:difi:profile:arkivmelding:response:ver1.0",
        ],
        None,
        &folder,
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains("DPO  urn:no:difi:profile:arkivmelding:response:ver1.0"),
        "{out}"
    );
    assert!(out.contains("urn:no:difi:eformidling:xsd::status"), "{out}");
    assert!(out.contains("certificate:"), "{out}");
    assert_no_tokens(&out);
}

#[test]
fn lookup_errors_are_clear() {
    let sb = sandbox("lookup-errors");
    let cfg = sb.config_path(ORG_A);
    let cfg = cfg.to_str().unwrap();
    let o = efm(&["lookup", "974720760", "--config", cfg], None, sb.dir());
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("974720760") && err.contains("does not know"),
        "{err}"
    );

    let o = efm(
        &[
            "lookup",
            ORG_B,
            "--process",
            "urn:no:difi:profile:x:ver1.0",
            "--config",
            cfg,
        ],
        None,
        sb.dir(),
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("urn:no:difi:profile:x:ver1.0") && err.contains(ORG_B),
        "{err}"
    );

    let o = efm(&["lookup", "123456789", "--config", cfg], None, sb.dir());
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("mod-11"), "{err}");

    // A usage error (clap's exit code 2) names what is missing and shows the usage.
    let o = efm(&["lookup", "--config", cfg], None, sb.dir());
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("<ORGNR>"), "{err}");
    assert!(err.contains("Usage: efm lookup"), "{err}");
}
