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
    /// Which proxy to use (see [`ProxySetting`]).
    pub proxy: ProxySetting,
}

impl HttpSettings {
    pub fn from_config(config: &Config) -> HttpSettings {
        HttpSettings {
            connect_timeout: config.timeouts.connect,
            request_timeout: config.timeouts.request,
            ca_bundle: config.ca_bundle.clone(),
            proxy: config.proxy.clone(),
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            ca_bundle: None,
            proxy: ProxySetting::None,
        }
    }
}

/// The HTTP agent. Cheap to clone (connections are pooled and shared) and safe to use from many
/// threads.
#[derive(Clone)]
pub struct Http {
    pub(super) agent: ureq::Agent,
    /// Set when the operating system decides the proxy per URL (`"system"`, no environment proxy).
    pub(super) system_proxy: Option<system_proxy::SystemProxyLookup>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Http")
    }
}

impl Http {
    pub fn new(config: &Config) -> Result<Http> {
        Http::with_settings(&HttpSettings::from_config(config))
    }

    pub fn with_settings(settings: &HttpSettings) -> Result<Http> {
        let tls = TlsConfig::builder()
            .provider(TlsProvider::NativeTls)
            .root_certs(roots::root_certs(settings)?)
            .build();
        let (proxy, system_proxy) = settings.proxy.resolve()?;
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
            system_proxy,
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
