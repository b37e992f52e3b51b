//! The trusted roots for TLS. Without a `ca_bundle` the platform's own verifier and store are used
//! (OpenSSL's default paths on Linux, the Windows certificate store through SChannel on Windows).
//! With one, native-tls verifies against an explicit list instead of the built-in store, so this
//! machine's roots go into that list too: the bundle adds to them and never replaces them.
//!
//! Where this machine's roots come from then:
//! - Unix: `SSL_CERT_FILE` when set, else the distribution's CA file;
//! - Windows: `SSL_CERT_FILE` when set, and always the "ROOT" certificate stores of the current
//!   user and of the machine, which include the roots that group policy and enterprise PKI
//!   install. Roots that Windows fetches on demand (automatic root update) and has not fetched
//!   yet are not among them; put such a root in the bundle if a connection is refused.

use super::*;

/// Where the system's trusted roots usually live on Unix systems.
#[cfg(not(windows))]
const SYSTEM_CA_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/usr/local/etc/openssl/cert.pem",
];

/// The certificates of a PEM file, each as DER, for any TLS stack (the HTTP agent's, and the
/// PostgreSQL store's: `store::pg_tls`).
pub(crate) fn read_pem_der(path: &Path, field: &str) -> Result<Vec<Vec<u8>>> {
    let pem = std::fs::read(path)
        .map_err(|e| Error::io(format!("reading {field} {}", path.display()), e))?;
    let certs = openssl::x509::X509::stack_from_pem(&pem).map_err(|_| {
        Error::new(
            ErrorKind::ConfigInvalid,
            format!(
                "{field} {} is not a PEM file of CA certificates",
                path.display()
            ),
        )
        .with_field(field)
    })?;
    certs
        .iter()
        .map(|c| {
            c.to_der().map_err(|_| {
                Error::new(
                    ErrorKind::ConfigInvalid,
                    format!("{field} {} holds an unreadable certificate", path.display()),
                )
                .with_field(field)
            })
        })
        .collect()
}

fn read_pem_certificates(path: &Path, field: &str) -> Result<Vec<Certificate<'static>>> {
    Ok(read_pem_der(path, field)?
        .into_iter()
        .map(|der| Certificate::from_der(&der).to_owned())
        .collect())
}

pub(super) fn root_certs(settings: &HttpSettings) -> Result<RootCerts> {
    let Some(extra) = &settings.ca_bundle else {
        return Ok(RootCerts::PlatformVerifier);
    };
    let mut certs = read_pem_certificates(extra, "ca_bundle")?;
    if certs.is_empty() {
        return Err(Error::new(
            ErrorKind::ConfigInvalid,
            format!("ca_bundle {} holds no certificate", extra.display()),
        )
        .with_field("ca_bundle"));
    }
    let system = system_roots()?;
    if system.is_empty() {
        log::warn!(
            "no system root certificates found; only the certificates in ca_bundle {} are trusted",
            extra.display()
        );
    }
    certs.extend(system);
    Ok(RootCerts::new_with_certs(&certs))
}

fn system_roots() -> Result<Vec<Certificate<'static>>> {
    let file = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .filter(|f| f.is_file());
    match file {
        // Windows: the store always counts (SChannel trusts it); SSL_CERT_FILE adds to it.
        Some(file) if cfg!(windows) => {
            let mut roots = platform_roots()?;
            roots.extend(read_pem_certificates(&file, "SSL_CERT_FILE")?);
            Ok(roots)
        }
        Some(file) => read_pem_certificates(&file, "SSL_CERT_FILE"),
        None => platform_roots(),
    }
}

#[cfg(not(windows))]
fn platform_roots() -> Result<Vec<Certificate<'static>>> {
    match SYSTEM_CA_FILES.iter().map(Path::new).find(|p| p.is_file()) {
        Some(path) => read_pem_certificates(path, "system CA file"),
        None => Ok(Vec::new()),
    }
}

#[cfg(windows)]
fn platform_roots() -> Result<Vec<Certificate<'static>>> {
    use schannel::cert_store::CertStore;
    let mut roots: Vec<Vec<u8>> = Vec::new();
    for (name, store) in [
        ("current user", CertStore::open_current_user("ROOT")),
        ("local machine", CertStore::open_local_machine("ROOT")),
    ] {
        match store {
            Ok(store) => roots.extend(store.certs().map(|c| c.to_der().to_vec())),
            Err(e) => log::warn!("cannot open the {name} ROOT certificate store: {e}"),
        }
    }
    roots.sort();
    roots.dedup();
    log::debug!("{} roots from the Windows certificate stores", roots.len());
    Ok(roots
        .iter()
        .map(|der| Certificate::from_der(der).to_owned())
        .collect())
}
