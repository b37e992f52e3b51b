//! The sandbox's test PKI: a CA, service signing certificates (Maskinporten, Service Registry,
//! Altinn) and one enterprise-style certificate per organisation. Everything is written under
//! `DIR` and read back on the next start, so clients keep working across restarts.

use crate::SandboxError;
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use std::fs;
use std::path::{Path, PathBuf};

/// A certificate and its private key.
#[derive(Clone)]
pub struct KeyPair {
    pub cert: X509,
    pub key: PKey<Private>,
}

/// The CA and the services' signing keys.
pub struct ServicePki {
    pub ca: KeyPair,
    /// Signs Maskinporten access tokens.
    pub maskinporten: KeyPair,
    /// Signs Service Registry JWS answers (published at `/jwk`).
    pub registry: KeyPair,
    /// Signs exchanged Altinn tokens.
    pub altinn: KeyPair,
}

fn err(what: &str, e: impl std::fmt::Display) -> SandboxError {
    SandboxError(format!("{what}: {e}"))
}

fn random_serial() -> Result<Asn1Integer, SandboxError> {
    let mut bn = BigNum::new().map_err(|e| err("serial", e))?;
    bn.rand(120, MsbOption::MAYBE_ZERO, false)
        .map_err(|e| err("serial", e))?;
    bn.to_asn1_integer().map_err(|e| err("serial", e))
}

/// Fields of a certificate subject, in order.
fn name(entries: &[(Nid, &str)]) -> Result<openssl::x509::X509Name, SandboxError> {
    let mut b = X509NameBuilder::new().map_err(|e| err("name", e))?;
    for (nid, value) in entries {
        b.append_entry_by_nid(*nid, value)
            .map_err(|e| err("certificate subject", e))?;
    }
    Ok(b.build())
}

fn new_key() -> Result<PKey<Private>, SandboxError> {
    let rsa = Rsa::generate(2048).map_err(|e| err("RSA key generation", e))?;
    PKey::from_rsa(rsa).map_err(|e| err("RSA key", e))
}

fn create_ca() -> Result<KeyPair, SandboxError> {
    let key = new_key()?;
    let subject = name(&[
        (Nid::COUNTRYNAME, "NO"),
        (Nid::ORGANIZATIONNAME, "efm-sandbox"),
        (
            Nid::COMMONNAME,
            "efm-sandbox test CA (not trusted anywhere)",
        ),
    ])?;
    let mut b = X509Builder::new().map_err(|e| err("CA", e))?;
    b.set_version(2).map_err(|e| err("CA", e))?;
    b.set_serial_number(random_serial()?.as_ref())
        .map_err(|e| err("CA", e))?;
    b.set_subject_name(&subject).map_err(|e| err("CA", e))?;
    b.set_issuer_name(&subject).map_err(|e| err("CA", e))?;
    b.set_pubkey(&key).map_err(|e| err("CA", e))?;
    let from = Asn1Time::days_from_now(0).map_err(|e| err("CA", e))?;
    let to = Asn1Time::days_from_now(3650).map_err(|e| err("CA", e))?;
    b.set_not_before(&from).map_err(|e| err("CA", e))?;
    b.set_not_after(&to).map_err(|e| err("CA", e))?;
    let bc = BasicConstraints::new()
        .critical()
        .ca()
        .build()
        .map_err(|e| err("CA", e))?;
    b.append_extension(bc).map_err(|e| err("CA", e))?;
    let ku = KeyUsage::new()
        .critical()
        .key_cert_sign()
        .crl_sign()
        .build()
        .map_err(|e| err("CA", e))?;
    b.append_extension(ku).map_err(|e| err("CA", e))?;
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(None, None))
        .map_err(|e| err("CA", e))?;
    b.append_extension(ski).map_err(|e| err("CA", e))?;
    b.sign(&key, MessageDigest::sha256())
        .map_err(|e| err("CA", e))?;
    Ok(KeyPair {
        cert: b.build(),
        key,
    })
}

/// Issue an end-entity certificate signed by the CA: RSA 2048, digital signature + key encipherment.
pub fn issue(ca: &KeyPair, subject: &[(Nid, &str)]) -> Result<KeyPair, SandboxError> {
    let key = new_key()?;
    let subject = name(subject)?;
    let mut b = X509Builder::new().map_err(|e| err("certificate", e))?;
    b.set_version(2).map_err(|e| err("certificate", e))?;
    b.set_serial_number(random_serial()?.as_ref())
        .map_err(|e| err("certificate", e))?;
    b.set_subject_name(&subject)
        .map_err(|e| err("certificate", e))?;
    b.set_issuer_name(ca.cert.subject_name())
        .map_err(|e| err("certificate", e))?;
    b.set_pubkey(&key).map_err(|e| err("certificate", e))?;
    // Valid from yesterday so a client with a slightly slow clock accepts it.
    let from = Asn1Time::from_unix(time::OffsetDateTime::now_utc().unix_timestamp() - 86_400)
        .map_err(|e| err("certificate", e))?;
    let to = Asn1Time::days_from_now(3 * 365).map_err(|e| err("certificate", e))?;
    b.set_not_before(&from).map_err(|e| err("certificate", e))?;
    b.set_not_after(&to).map_err(|e| err("certificate", e))?;
    let bc = BasicConstraints::new()
        .critical()
        .build()
        .map_err(|e| err("certificate", e))?;
    b.append_extension(bc).map_err(|e| err("certificate", e))?;
    let ku = KeyUsage::new()
        .critical()
        .digital_signature()
        .key_encipherment()
        .data_encipherment()
        .build()
        .map_err(|e| err("certificate", e))?;
    b.append_extension(ku).map_err(|e| err("certificate", e))?;
    let eku = ExtendedKeyUsage::new()
        .client_auth()
        .email_protection()
        .build()
        .map_err(|e| err("certificate", e))?;
    b.append_extension(eku).map_err(|e| err("certificate", e))?;
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(Some(&ca.cert), None))
        .map_err(|e| err("certificate", e))?;
    b.append_extension(ski).map_err(|e| err("certificate", e))?;
    let aki = AuthorityKeyIdentifier::new()
        .keyid(false)
        .build(&b.x509v3_context(Some(&ca.cert), None))
        .map_err(|e| err("certificate", e))?;
    b.append_extension(aki).map_err(|e| err("certificate", e))?;
    b.sign(&ca.key, MessageDigest::sha256())
        .map_err(|e| err("certificate", e))?;
    Ok(KeyPair {
        cert: b.build(),
        key,
    })
}

/// The subject of an organisation's enterprise certificate (as Norwegian virksomhetssertifikater:
/// organisation number in serialNumber, the name in O and CN).
pub fn org_subject<'a>(orgnr: &'a str, org_name: &'a str) -> Vec<(Nid, &'a str)> {
    vec![
        (Nid::COUNTRYNAME, "NO"),
        (Nid::ORGANIZATIONNAME, org_name),
        (Nid::SERIALNUMBER, orgnr),
        (Nid::COMMONNAME, org_name),
    ]
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SandboxError> {
    fs::write(path, bytes).map_err(|e| err(&format!("writing {}", path.display()), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
    }
    Ok(())
}

pub fn write_pair(dir: &Path, stem: &str, pair: &KeyPair) -> Result<(), SandboxError> {
    fs::create_dir_all(dir).map_err(|e| err(&format!("creating {}", dir.display()), e))?;
    let cert_path = dir.join(format!("{stem}.pem"));
    fs::write(&cert_path, pair.cert.to_pem().map_err(|e| err("PEM", e))?)
        .map_err(|e| err(&format!("writing {}", cert_path.display()), e))?;
    let key_pem = pair
        .key
        .private_key_to_pem_pkcs8()
        .map_err(|e| err("PEM", e))?;
    write_private(&dir.join(format!("{stem}-key.pem")), &key_pem)
}

pub fn read_pair(dir: &Path, stem: &str) -> Result<Option<KeyPair>, SandboxError> {
    let cert_path = dir.join(format!("{stem}.pem"));
    let key_path = dir.join(format!("{stem}-key.pem"));
    if !cert_path.exists() || !key_path.exists() {
        return Ok(None);
    }
    let cert = X509::from_pem(
        &fs::read(&cert_path).map_err(|e| err(&format!("reading {}", cert_path.display()), e))?,
    )
    .map_err(|e| {
        err(
            &format!("{} is not a PEM certificate", cert_path.display()),
            e,
        )
    })?;
    let key = PKey::private_key_from_pem(
        &fs::read(&key_path).map_err(|e| err(&format!("reading {}", key_path.display()), e))?,
    )
    .map_err(|e| {
        err(
            &format!("{} is not a PEM private key", key_path.display()),
            e,
        )
    })?;
    Ok(Some(KeyPair { cert, key }))
}

fn load_or(
    dir: &Path,
    stem: &str,
    make: impl FnOnce() -> Result<KeyPair, SandboxError>,
) -> Result<KeyPair, SandboxError> {
    if let Some(p) = read_pair(dir, stem)? {
        return Ok(p);
    }
    let p = make()?;
    write_pair(dir, stem, &p)?;
    Ok(p)
}

impl ServicePki {
    pub fn load_or_create(dir: &Path) -> Result<ServicePki, SandboxError> {
        let ca_dir = dir.join("ca");
        let ca = load_or(&ca_dir, "ca", create_ca)?;
        let service = |cn: &'static str, orgnr: &'static str| {
            let ca = ca.clone();
            move || {
                issue(
                    &ca,
                    &[
                        (Nid::COUNTRYNAME, "NO"),
                        (Nid::ORGANIZATIONNAME, "efm-sandbox"),
                        (Nid::SERIALNUMBER, orgnr),
                        (Nid::COMMONNAME, cn),
                    ],
                )
            }
        };
        let services = dir.join("services");
        Ok(ServicePki {
            maskinporten: load_or(
                &services,
                "maskinporten",
                service("efm-sandbox Maskinporten", "991825827"),
            )?,
            registry: load_or(
                &services,
                "serviceregistry",
                service("efm-sandbox Service Registry", "991825827"),
            )?,
            altinn: load_or(
                &services,
                "altinn",
                service("efm-sandbox Altinn platform", "991825827"),
            )?,
            ca,
        })
    }
}

/// Files written for one organisation.
pub struct OrgFiles {
    pub dir: PathBuf,
    pub pkcs12: PathBuf,
    pub pkcs12_password_file: PathBuf,
    pub ca_pem: PathBuf,
    pub altinn2_password_file: PathBuf,
    pub config: PathBuf,
    pub data_dir: PathBuf,
}

impl OrgFiles {
    pub fn new(dir: &Path, orgnr: &str) -> OrgFiles {
        let d = dir.join(orgnr);
        OrgFiles {
            pkcs12: d.join(format!("{orgnr}.p12")),
            pkcs12_password_file: d.join("pkcs12-password.txt"),
            ca_pem: d.join("ca.pem"),
            altinn2_password_file: d.join("altinn2-password.txt"),
            config: d.join("config.json"),
            data_dir: d.join("data"),
            dir: d,
        }
    }
}

pub fn random_password() -> String {
    let mut buf = [0u8; 18];
    openssl::rand::rand_bytes(&mut buf).expect("random bytes");
    crate::jwt::b64url(&buf)
}

fn read_secret(path: &Path) -> Option<String> {
    fs::read_to_string(path)
        .ok()
        .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
        .filter(|s| !s.is_empty())
}

/// Load an organisation's certificate and key, or create them (and the PKCS#12, password files).
/// Returns the key pair and the Altinn 2 password.
pub fn load_or_create_org(
    ca: &KeyPair,
    files: &OrgFiles,
    orgnr: &str,
    org_name: &str,
) -> Result<(KeyPair, String), SandboxError> {
    fs::create_dir_all(&files.dir)
        .map_err(|e| err(&format!("creating {}", files.dir.display()), e))?;
    fs::create_dir_all(&files.data_dir)
        .map_err(|e| err(&format!("creating {}", files.data_dir.display()), e))?;
    let existing = read_pair(&files.dir, "certificate")?;
    let pair = match existing {
        Some(p) => p,
        None => {
            let p = issue(ca, &org_subject(orgnr, org_name))?;
            write_pair(&files.dir, "certificate", &p)?;
            p
        }
    };
    fs::write(&files.ca_pem, ca.cert.to_pem().map_err(|e| err("PEM", e))?)
        .map_err(|e| err(&format!("writing {}", files.ca_pem.display()), e))?;
    let p12_password = match read_secret(&files.pkcs12_password_file) {
        Some(p) if files.pkcs12.exists() => p,
        _ => {
            let password = random_password();
            let mut chain = openssl::stack::Stack::new().map_err(|e| err("PKCS#12", e))?;
            chain.push(ca.cert.clone()).map_err(|e| err("PKCS#12", e))?;
            let p12 = Pkcs12::builder()
                .name(orgnr)
                .pkey(&pair.key)
                .cert(&pair.cert)
                .ca(chain)
                .build2(&password)
                .map_err(|e| err("PKCS#12", e))?;
            write_private(&files.pkcs12, &p12.to_der().map_err(|e| err("PKCS#12", e))?)?;
            write_private(
                &files.pkcs12_password_file,
                format!("{password}\n").as_bytes(),
            )?;
            password
        }
    };
    let _ = p12_password;
    let altinn2_password = match read_secret(&files.altinn2_password_file) {
        Some(p) => p,
        None => {
            let p = random_password();
            write_private(&files.altinn2_password_file, format!("{p}\n").as_bytes())?;
            p
        }
    };
    Ok((pair, altinn2_password))
}
