//! Helpers shared by the integration tests: a throwaway PKI made with OpenSSL, temporary
//! directories, and running Python (PyJWT, cryptography) as the independent implementation.
#![allow(dead_code)]

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, KeyUsage};
use openssl::x509::{X509Builder, X509Name, X509NameBuilder, X509};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "efm-core-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn rsa_key(bits: u32) -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(bits).unwrap()).unwrap()
}

fn name(cn: &str, serial_number: Option<&str>) -> X509Name {
    let mut n = X509NameBuilder::new().unwrap();
    n.append_entry_by_text("C", "NO").unwrap();
    n.append_entry_by_text("O", "efm test").unwrap();
    if let Some(s) = serial_number {
        n.append_entry_by_nid(Nid::SERIALNUMBER, s).unwrap();
    }
    n.append_entry_by_text("CN", cn).unwrap();
    n.build()
}

pub struct Ca {
    pub cert: X509,
    pub key: PKey<Private>,
}

/// What to put in an issued certificate.
pub struct Issue<'a> {
    pub orgnr: &'a str,
    /// Validity relative to now, in days (negative = in the past).
    pub from_days: i64,
    pub to_days: i64,
    pub key_usage: Option<KeyUsage>,
    pub key: Option<PKey<Private>>,
}

impl<'a> Issue<'a> {
    pub fn org(orgnr: &'a str) -> Issue<'a> {
        let mut ku = KeyUsage::new();
        ku.critical().digital_signature().key_encipherment();
        Issue {
            orgnr,
            from_days: -1,
            to_days: 365,
            key_usage: Some(ku),
            key: None,
        }
    }
}

fn time(days: i64) -> Asn1Time {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    Asn1Time::from_unix(now + days * 86400).unwrap()
}

impl Ca {
    pub fn new() -> Ca {
        let key = rsa_key(2048);
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap())
            .unwrap();
        let n = name("efm test CA", None);
        b.set_subject_name(&n).unwrap();
        b.set_issuer_name(&n).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&time(-30)).unwrap();
        b.set_not_after(&time(3650)).unwrap();
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        Ca {
            cert: b.build(),
            key,
        }
    }

    /// An enterprise certificate for `orgnr` with its private key.
    pub fn issue(&self, spec: Issue<'_>) -> (X509, PKey<Private>) {
        static SERIAL: AtomicU32 = AtomicU32::new(100);
        let key = spec.key.unwrap_or_else(|| rsa_key(2048));
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_serial_number(
            &BigNum::from_u32(SERIAL.fetch_add(1, Ordering::SeqCst))
                .unwrap()
                .to_asn1_integer()
                .unwrap(),
        )
        .unwrap();
        b.set_subject_name(&name(&format!("efm test {}", spec.orgnr), Some(spec.orgnr)))
            .unwrap();
        b.set_issuer_name(self.cert.subject_name()).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&time(spec.from_days)).unwrap();
        b.set_not_after(&time(spec.to_days)).unwrap();
        if let Some(ku) = spec.key_usage {
            b.append_extension(ku.build().unwrap()).unwrap();
        }
        b.sign(&self.key, MessageDigest::sha256()).unwrap();
        (b.build(), key)
    }
}

/// Write a certificate and key as PEM files and return their paths.
pub fn write_pem(dir: &Path, stem: &str, cert: &X509, key: &PKey<Private>) -> (PathBuf, PathBuf) {
    let c = dir.join(format!("{stem}.crt.pem"));
    let k = dir.join(format!("{stem}.key.pem"));
    std::fs::write(&c, cert.to_pem().unwrap()).unwrap();
    std::fs::write(&k, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    (c, k)
}

/// Run `python3` (from PATH) with a script; fail the test when Python or a module is missing or
/// the script fails. Returns stdout.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 must be on PATH for the interop tests (with PyJWT and cryptography)");
    assert!(
        out.status.success(),
        "python failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A file under the repository's `tests/fixtures`.
pub fn fixture(relative: &str) -> PathBuf {
    efm_test_support::fixture(relative)
}

// ---- the sandbox -----------------------------------------------------------------------------

use efm_sandbox::{Sandbox, SandboxOptions};

pub const ORG_A: &str = "910075918";
pub const ORG_B: &str = "910076787";
pub const ORG_C: &str = "984661185";

fn copy_tree(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            if e.file_name() == "store" || e.file_name() == "data" {
                continue;
            }
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A fresh sandbox in its own directory. The PKI is generated once per test binary and copied,
/// so each sandbox starts fast and tests do not share state (faults, clients).
pub fn sandbox(name: &str) -> Sandbox {
    static TEMPLATE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let template = TEMPLATE.get_or_init(|| {
        let t = temp_dir("sandbox-template");
        Sandbox::start(SandboxOptions {
            dir: t.clone(),
            ..Default::default()
        })
        .expect("template sandbox starts")
        .stop();
        t
    });
    let dir = temp_dir(name);
    copy_tree(template, &dir);
    Sandbox::start(SandboxOptions {
        dir,
        port: 0,
        virus_scan_delay_ms: Some(0),
        ..Default::default()
    })
    .expect("sandbox starts")
}

/// The configuration the sandbox wrote for `orgnr`, as JSON (to adjust before parsing).
pub fn sandbox_config_json(sb: &Sandbox, orgnr: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(sb.config_path(orgnr)).unwrap();
    serde_json::from_str(&text).unwrap()
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
