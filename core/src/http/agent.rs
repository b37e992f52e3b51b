//! The configured agent: settings, trusted roots and request methods.

use super::*;

/// Settings of the HTTP agent (normally taken from the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    pub connect_timeout: Duration,
    /// Idle limit for each read and write and for the wait for the response head.
    pub request_timeout: Duration,
    /// PEM file with CA certificates trusted in addition to the system roots.
    pub ca_bundle: Option<PathBuf>,
    /// Use `HTTPS_PROXY`/`ALL_PROXY`/`NO_PROXY` from the environment.
    pub use_env_proxy: bool,
}

impl HttpSettings {
    pub fn from_config(config: &Config) -> HttpSettings {
        HttpSettings {
            connect_timeout: config.timeouts.connect,
            request_timeout: config.timeouts.request,
            ca_bundle: config.ca_bundle.clone(),
            // The sandbox lives on loopback; a proxy from the environment must not capture it.
            use_env_proxy: config.environment != Environment::Sandbox,
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            ca_bundle: None,
            use_env_proxy: false,
        }
    }
}

/// The HTTP agent. Cheap to clone (connections are pooled and shared) and safe to use from many
/// threads.
#[derive(Clone)]
pub struct Http {
    pub(super) agent: ureq::Agent,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Http")
    }
}

/// Where the system's trusted roots usually live, for when an extra bundle is added (native-tls
/// then takes an explicit list instead of its built-in store).
const SYSTEM_CA_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/usr/local/etc/openssl/cert.pem",
];

fn read_pem_certificates(path: &Path, field: &str) -> Result<Vec<Certificate<'static>>> {
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
    let mut out = Vec::with_capacity(certs.len());
    for c in certs {
        let der = c.to_der().map_err(|_| {
            Error::new(
                ErrorKind::ConfigInvalid,
                format!("{field} {} holds an unreadable certificate", path.display()),
            )
            .with_field(field)
        })?;
        out.push(Certificate::from_der(&der).to_owned());
    }
    Ok(out)
}

fn root_certs(settings: &HttpSettings) -> Result<RootCerts> {
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
    let system = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(SYSTEM_CA_FILES.iter().map(PathBuf::from))
        .find(|p| p.is_file());
    match system {
        Some(path) => certs.extend(read_pem_certificates(&path, "system CA file")?),
        None => log::warn!(
            "no system CA file found; only the certificates in ca_bundle {} are trusted",
            extra.display()
        ),
    }
    Ok(RootCerts::new_with_certs(&certs))
}

impl Http {
    pub fn new(config: &Config) -> Result<Http> {
        Http::with_settings(&HttpSettings::from_config(config))
    }

    pub fn with_settings(settings: &HttpSettings) -> Result<Http> {
        let tls = TlsConfig::builder()
            .provider(TlsProvider::NativeTls)
            .root_certs(root_certs(settings)?)
            .build();
        let proxy = if settings.use_env_proxy {
            ureq::Proxy::try_from_env()
        } else {
            None
        };
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            // Checked per request in `check_url`: plain http only to loopback.
            .https_only(false)
            .max_redirects(0)
            .proxy(proxy)
            .timeout_connect(Some(settings.connect_timeout))
            .timeout_recv_response(Some(settings.request_timeout))
            .timeout_per_read(Some(settings.request_timeout))
            .timeout_per_write(Some(settings.request_timeout))
            .user_agent(format!("efm/{}", crate::VERSION))
            .build();
        Ok(Http {
            agent: config.new_agent(),
        })
    }

    pub fn request(&self, method: Method, url: &str) -> Request<'_> {
        Request {
            http: self,
            method,
            url: url.to_string(),
            headers: Vec::new(),
            total_timeout: None,
        }
    }
    pub fn get(&self, url: &str) -> Request<'_> {
        self.request(Method::Get, url)
    }
    pub fn post(&self, url: &str) -> Request<'_> {
        self.request(Method::Post, url)
    }
    pub fn put(&self, url: &str) -> Request<'_> {
        self.request(Method::Put, url)
    }
    pub fn delete(&self, url: &str) -> Request<'_> {
        self.request(Method::Delete, url)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
        }
    }
}
