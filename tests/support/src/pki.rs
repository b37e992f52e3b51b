//! Throw-away test PKIs: certificates made with the openssl crate ([`Ca`]) for tests that need
//! many variations (expired, wrong key usage, a given key), and a fixed set made by the `openssl`
//! command line ([`OpensslPki`]), so what our code reads was written by an independent tool.

use efm_core::config::KeySource;
use efm_core::crypto::keys::Identity;
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

/// A test certificate authority.
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
    /// An enterprise certificate as Buypass and Commfides issue them: valid now for a year,
    /// for signatures and key encipherment.
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

    /// An enterprise certificate for `spec.orgnr` with its private key.
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

impl Default for Ca {
    fn default() -> Self {
        Ca::new()
    }
}

/// Write a certificate and key as PEM files (`{stem}.crt.pem`, `{stem}.key.pem`, PKCS#8) and
/// return their paths.
pub fn write_pem(dir: &Path, stem: &str, cert: &X509, key: &PKey<Private>) -> (PathBuf, PathBuf) {
    let c = dir.join(format!("{stem}.crt.pem"));
    let k = dir.join(format!("{stem}.key.pem"));
    std::fs::write(&c, cert.to_pem().unwrap()).unwrap();
    std::fs::write(&k, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    (c, k)
}

/// A CA and three organisations made by the `openssl` command line: `a` (910077473, the sender),
/// `b` (910075918, the receiver) and `c` (991825827, a stranger), as PEM files and PKCS#12
/// files with the password [`OpensslPki::P12_PASSWORD`].
pub struct OpensslPki {
    pub dir: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    crate::run_ok(Command::new("openssl").current_dir(dir).args(args));
}

impl OpensslPki {
    pub const P12_PASSWORD: &'static str = "testpass";

    /// Make the PKI in a new directory under `parent` (kept: tests share it for their lifetime).
    pub fn create_in(parent: &Path) -> OpensslPki {
        std::fs::create_dir_all(parent).unwrap();
        let dir = tempfile::Builder::new()
            .prefix("efm-test-pki-")
            .tempdir_in(parent)
            .unwrap()
            .keep();
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "3",
                "-subj",
                "/CN=efm test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        std::fs::write(dir.join("leaf.ext"), "keyUsage=critical,digitalSignature,keyEncipherment,dataEncipherment,nonRepudiation\nbasicConstraints=CA:FALSE\n").unwrap();
        for (who, org) in [("a", "910077473"), ("b", "910075918"), ("c", "991825827")] {
            openssl(
                &dir,
                &[
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-keyout",
                    &format!("{who}.key"),
                    "-out",
                    &format!("{who}.csr"),
                    "-subj",
                    &format!("/C=NO/O=Test org {who}/serialNumber={org}/CN=Test org {who}"),
                ],
            );
            openssl(
                &dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{who}.csr"),
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &format!("{who}.pem"),
                    "-days",
                    "3",
                    "-extfile",
                    "leaf.ext",
                ],
            );
            openssl(
                &dir,
                &[
                    "pkcs12",
                    "-export",
                    "-in",
                    &format!("{who}.pem"),
                    "-inkey",
                    &format!("{who}.key"),
                    "-out",
                    &format!("{who}.p12"),
                    "-passout",
                    &format!("pass:{}", Self::P12_PASSWORD),
                ],
            );
        }
        OpensslPki { dir }
    }

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
    pub fn x509(&self, who: &str) -> X509 {
        X509::from_pem(&std::fs::read(self.cert(who)).unwrap()).unwrap()
    }
}
