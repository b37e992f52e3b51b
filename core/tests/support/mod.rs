//! Shared test helpers: a throw-away PKI made with the openssl CLI, the fixtures, and
//! running Python. Tools that are missing make the tests fail, never skip.
#![allow(dead_code)]

use efm_core::config::KeySource;
use efm_core::crypto::keys::Identity;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub use efm_test_support::fixture;

pub fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    out
}

pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn python(script: &str, args: &[&str]) -> String {
    run_ok(Command::new("python3").arg("-c").arg(script).args(args))
}

/// A CA and two organisations (sender A, receiver B, and a stranger C), as PEM files.
pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    pub fn cert(&self, who: &str) -> PathBuf {
        self.dir.join(format!("{who}.pem"))
    }
    pub fn key(&self, who: &str) -> PathBuf {
        self.dir.join(format!("{who}.key"))
    }
    pub fn p12(&self, who: &str) -> PathBuf {
        self.dir.join(format!("{who}.p12"))
    }
    pub fn identity(&self, who: &str) -> Identity {
        Identity::load(&KeySource::Pem {
            certificate: self.cert(who),
            private_key: self.key(who),
        })
        .unwrap()
    }
    pub fn x509(&self, who: &str) -> openssl::x509::X509 {
        openssl::x509::X509::from_pem(&std::fs::read(self.cert(who)).unwrap()).unwrap()
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    run_ok(Command::new("openssl").current_dir(dir).args(args));
}

pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        // Kept for the life of the test binary; under the target directory so it never litters /tmp.
        let dir = tempfile::Builder::new()
            .prefix("efm-test-pki-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap()
            .keep();
        openssl(&dir, &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "3",
            "-subj", "/CN=efm test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        std::fs::write(dir.join("leaf.ext"), "keyUsage=critical,digitalSignature,keyEncipherment,dataEncipherment,nonRepudiation\nbasicConstraints=CA:FALSE\n").unwrap();
        for (who, org) in [("a", "910077473"), ("b", "910075918"), ("c", "991825827")] {
            openssl(&dir, &[
                "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &format!("{who}.key"), "-out", &format!("{who}.csr"),
                "-subj", &format!("/C=NO/O=Test org {who}/serialNumber={org}/CN=Test org {who}"),
            ]);
            openssl(&dir, &[
                "x509", "-req", "-in", &format!("{who}.csr"), "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", &format!("{who}.pem"), "-days", "3", "-extfile", "leaf.ext",
            ]);
            openssl(&dir, &[
                "pkcs12", "-export", "-in", &format!("{who}.pem"), "-inkey", &format!("{who}.key"), "-out", &format!("{who}.p12"),
                "-passout", "pass:testpass",
            ]);
        }
        Pki { dir }
    })
}
