//! Helpers of core's integration tests: the sandbox and its admin API, on top of the shared
//! test-support crate (PKI, temporary directories, fixtures, running Python).
// Each test binary uses a different part of these helpers.
#![allow(dead_code, unused_imports)]

pub use efm_test_support::broker::{admin_get, transfers, upload_raw, wait_published};
pub use efm_test_support::pki::{rsa_key, write_pem, Ca, Issue};
pub use efm_test_support::{fixture, python, temp_dir, ORG_A, ORG_B, ORG_C};

// ---- the sandbox -----------------------------------------------------------------------------

use efm_sandbox::Sandbox;

/// A fresh sandbox in its own directory (the PKI is generated once per test binary and copied),
/// so tests do not share state (faults, clients).
pub fn sandbox(name: &str) -> Sandbox {
    efm_test_support::sandbox::start(name)
}

/// The configuration the sandbox wrote for `orgnr`, as JSON (to adjust before parsing).
/// With `EFM_TEST_STORE=postgres` the state goes to the PostgreSQL server `EFM_TEST_POSTGRES`
/// names, in a schema of this sandbox and organisation's own (scripts/test.sh runs the client
/// tests that way too).
pub fn sandbox_config_json(sb: &Sandbox, orgnr: &str) -> serde_json::Value {
    let path = sb.config_path(orgnr);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&text).unwrap();
    if std::env::var("EFM_TEST_STORE").as_deref() == Ok("postgres") {
        let url = std::env::var("EFM_TEST_POSTGRES")
            .expect("EFM_TEST_STORE=postgres needs EFM_TEST_POSTGRES (scripts/postgres-lib.sh)");
        // The same schema for every call of one test, another for the next test.
        let hash = path
            .to_string_lossy()
            .bytes()
            .fold(0xcbf29ce484222325u64, |h, b| {
                (h ^ b as u64).wrapping_mul(0x100000001b3)
            });
        let mut store = serde_json::json!({
            "postgres": url,
            "schema": format!("t_{hash:016x}_{orgnr}"),
        });
        if let Ok(f) = std::env::var("EFM_TEST_POSTGRES_PASSWORD_FILE") {
            store["password_file"] = serde_json::json!(f);
        }
        // scripts/postgres-lib.sh gives the server a certificate: the flows then run over TLS
        // with the certificate verified, as they would to a server on another machine.
        if let Ok(ca) = std::env::var("EFM_TEST_POSTGRES_CA") {
            store["postgres"] = serde_json::json!(format!("{url}?sslmode=require"));
            config["ca_bundle"] = serde_json::json!(ca);
        }
        config["store"] = store;
    }
    config
}

/// One configuration for several organisations in one store: the first's configuration (its
/// store, data directory and credentials), and each further one in `"organisations"` with the
/// credentials of its own sandbox configuration.
pub fn shared_config_json(sb: &Sandbox, orgs: &[&str]) -> serde_json::Value {
    let mut config = sandbox_config_json(sb, orgs[0]);
    let entries: Vec<serde_json::Value> = orgs[1..]
        .iter()
        .map(|o| {
            serde_json::json!({
                "organisation_number": o,
                "credentials": sandbox_config_json(sb, o)["credentials"],
            })
        })
        .collect();
    config["organisations"] = serde_json::Value::Array(entries);
    config
}

pub fn sandbox_config(sb: &Sandbox, orgnr: &str) -> efm_core::config::Config {
    efm_core::config::Config::from_json(&sandbox_config_json(sb, orgnr).to_string()).unwrap()
}

/// POST JSON to the sandbox's admin API; panics unless it answers 2xx.
pub fn admin(sb: &Sandbox, path: &str, body: serde_json::Value) -> serde_json::Value {
    let http = efm_core::http::Http::with_settings(&Default::default()).unwrap();
    let r = http
        .post(&format!("{}{path}", sb.base_url()))
        .send_json(&body)
        .unwrap();
    let status = r.status();
    let text = r.read_text(1 << 20).unwrap();
    assert!(
        (200..300).contains(&status),
        "admin {path}: {status} {text}"
    );
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

/// Make the sandbox answer the next `times` requests under `path` with a fault.
pub fn fault(sb: &Sandbox, path: &str, mut spec: serde_json::Value, times: u32) {
    spec["path"] = serde_json::json!(path);
    spec["times"] = serde_json::json!(times);
    admin(sb, "/admin/faults", spec);
}

// ---- the client ------------------------------------------------------------------------------

use efm_core::client::{Client, Direction};
use std::path::PathBuf;

/// A fresh folder for a test's documents and inboxes, beside the sandbox's data directories.
pub fn work_dir(sb: &Sandbox, name: &str) -> PathBuf {
    let d = sandbox_config(sb, ORG_A)
        .data_dir
        .parent()
        .unwrap()
        .join(format!("test-{name}"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The names of the statuses message `id` went through, oldest first.
pub fn history(c: &Client, direction: Direction, id: &str) -> Vec<&'static str> {
    c.status_of(direction, id)
        .unwrap()
        .iter()
        .map(|e| e.status.name())
        .collect()
}
