//! Loading our identity (enterprise certificate + private key) from PKCS#12 or PEM, and parsing
//! other parties' certificates.

use crate::config::KeySource;
use crate::error::{Error, ErrorKind, Result};
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use std::path::Path;

/// Our enterprise certificate, its private key and any chain certificates shipped with it.
#[derive(Clone)]
pub struct Identity {
    pub certificate: X509,
    pub private_key: PKey<Private>,
    pub chain: Vec<X509>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key: only who we are.
        write!(f, "Identity({})", subject_line(&self.certificate))
    }
}

/// The subject of a certificate as one readable line (`CN=..., O=..., serialNumber=...`).
pub fn subject_line(cert: &X509) -> String {
    name_line(cert.subject_name())
}

/// A distinguished name as one readable line (`C=NO, O=..., serialNumber=...`).
pub fn name_line(name: &openssl::x509::X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let val = e.data().to_string().unwrap_or_default();
            format!("{key}={val}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(format!("reading {what} {}", path.display()), e))
}

impl Identity {
    pub fn load(source: &KeySource) -> Result<Identity> {
        match source {
            KeySource::Pkcs12 { path, password } => {
                let der = read(path, "PKCS#12 file")?;
                let p12 = Pkcs12::from_der(&der).map_err(|_| {
                    Error::new(
                        ErrorKind::KeyInvalid,
                        format!(
                            "{} is not a PKCS#12 file (expected .p12/.pfx DER)",
                            path.display()
                        ),
                    )
                })?;
                let parsed = p12.parse2(password.expose()).map_err(|_| {
                    Error::new(
                        ErrorKind::ConfigCredential,
                        format!(
                            "cannot open PKCS#12 file {}: wrong password (from {})?",
                            path.display(),
                            password.source()
                        ),
                    )
                })?;
                let certificate = parsed.cert.ok_or_else(|| {
                    Error::new(
                        ErrorKind::KeyInvalid,
                        format!("{} holds no certificate", path.display()),
                    )
                })?;
                let private_key = parsed.pkey.ok_or_else(|| {
                    Error::new(
                        ErrorKind::KeyInvalid,
                        format!("{} holds no private key", path.display()),
                    )
                })?;
                let chain = parsed
                    .ca
                    .map(|s| s.into_iter().collect())
                    .unwrap_or_default();
                Identity::new(certificate, private_key, chain)
            }
            KeySource::Pem {
                certificate,
                private_key,
            } => {
                let certs =
                    X509::stack_from_pem(&read(certificate, "certificate")?).map_err(|_| {
                        Error::new(
                            ErrorKind::CertificateInvalid,
                            format!("{} is not a PEM certificate", certificate.display()),
                        )
                    })?;
                let mut certs = certs.into_iter();
                let cert = certs.next().ok_or_else(|| {
                    Error::new(
                        ErrorKind::CertificateInvalid,
                        format!("{} holds no certificate", certificate.display()),
                    )
                })?;
                let key = PKey::private_key_from_pem(&read(private_key, "private key")?).map_err(
                    |_| {
                        Error::new(
                            ErrorKind::KeyInvalid,
                            format!(
                                "{} is not an unencrypted PEM private key (PKCS#8 or PKCS#1)",
                                private_key.display()
                            ),
                        )
                    },
                )?;
                Identity::new(cert, key, certs.collect())
            }
        }
    }

    /// Pair a certificate with its key, refusing a key that does not belong to the certificate.
    pub fn new(
        certificate: X509,
        private_key: PKey<Private>,
        chain: Vec<X509>,
    ) -> Result<Identity> {
        let public = certificate.public_key().map_err(|_| {
            Error::new(
                ErrorKind::CertificateInvalid,
                "certificate has no readable public key",
            )
        })?;
        if !public.public_eq(&private_key) {
            return Err(Error::new(
                ErrorKind::KeyInvalid,
                format!(
                    "the private key does not belong to the certificate {}",
                    subject_line(&certificate)
                ),
            ));
        }
        if private_key.rsa().is_err() {
            return Err(Error::new(
                ErrorKind::KeyInvalid,
                "the private key is not RSA; DPO needs an RSA enterprise certificate",
            ));
        }
        Ok(Identity {
            certificate,
            private_key,
            chain,
        })
    }
}

/// Parse a PEM certificate (as the Service Registry's `pemCertificate` carries it).
pub fn certificate_from_pem(pem: &[u8]) -> Result<X509> {
    X509::from_pem(pem)
        .map_err(|_| Error::new(ErrorKind::CertificateInvalid, "not a PEM X.509 certificate"))
}
