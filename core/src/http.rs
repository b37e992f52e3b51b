//! One configured HTTP agent for every remote call: Maskinporten, the Service Registry, the Altinn
//! token exchange and the brokers.
//!
//! Built on `ureq` 3 (synchronous, streams request bodies from a `Read` and responses into a
//! `Write`) with native-tls, i.e. the system OpenSSL the rest of the core already links. What this
//! module adds on top:
//! - TLS verification is never switched off. Plain `http://` is refused unless the host is loopback
//!   (the sandbox); everything else must be `https://`. An extra CA bundle (`Config::ca_bundle`) is
//!   trusted next to the system roots, never instead of the checks.
//! - Timeouts from `Config::timeouts`: `connect` for the TCP/TLS setup, `request` as an idle limit on
//!   every read and write and on waiting for the response head, so a large upload or download is
//!   not cut off as long as bytes keep moving. A per-request total limit can be added.
//! - Redirects are not followed: none of the services redirects API calls, and following one could
//!   carry a bearer token to another host.
//! - Transport failures map to `Network` / `Timeout` / `Tls` / `ConnectionDropped`, HTTP errors to
//!   `RemoteService` / `RemoteRateLimited` (with Retry-After) / `RemoteUnavailable`, with the status.
//! - A small retry helper ([`with_retries`]) for callers whose request can safely be repeated.
//!
//! Secrets: `ureq` redacts request headers in its debug logs, but `ureq_proto` dumps the raw bytes
//! of requests (headers and bodies, so bearer tokens and grants) at TRACE level. Whoever installs a
//! logger must cap the targets in [`SECRET_BEARING_LOG_TARGETS`] below TRACE; see
//! [`log_record_allowed`].

use crate::config::{Config, Environment};
use crate::error::{Error, ErrorKind, Result};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

/// Log targets that write raw request bytes (including `Authorization` headers and form bodies
/// holding grants) at TRACE level.
pub const SECRET_BEARING_LOG_TARGETS: &[&str] = &["ureq_proto", "ureq"];

/// Whether a log record may be passed on to the application's logger: false for TRACE records of
/// the HTTP stack, which can hold tokens and grants.
pub fn log_record_allowed(target: &str, level: log::Level) -> bool {
    if level < log::Level::Trace {
        return true;
    }
    !SECRET_BEARING_LOG_TARGETS
        .iter()
        .any(|t| target == *t || target.starts_with(&format!("{t}::")))
}

/// How much of an error response we read to explain the failure.
const MAX_ERROR_BODY: u64 = 64 * 1024;
/// How much of a remote error text goes into an error message.
const MAX_SNIPPET_CHARS: usize = 300;

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
    agent: ureq::Agent,
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

/// The URL without its query string, for messages (queries may carry identifiers nobody needs
/// in a log).
pub fn url_for_message(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

/// Refuse anything but https, except plain http to a loopback address.
pub fn check_url(url: &str) -> Result<()> {
    let bad = |why: &str| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("cannot call {}: {why}", url_for_message(url)),
        )
    };
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("not an absolute http(s) URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = if authority.starts_with('[') {
        authority.split(']').next().unwrap_or("").to_string() + "]"
    } else {
        authority.split(':').next().unwrap_or("").to_string()
    };
    if host.is_empty() || host == "]" {
        return Err(bad("the URL has no host"));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(()),
        "http" if is_loopback_host(&host) => Ok(()),
        "http" => Err(bad(
            "plain http is allowed only to loopback (the sandbox); use https",
        )),
        _ => Err(bad("only http(s) URLs are supported")),
    }
}

/// A request being built. Nothing is sent until one of the `call`/`send_*` methods.
pub struct Request<'h> {
    http: &'h Http,
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    total_timeout: Option<Duration>,
}

impl<'h> Request<'h> {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// `Authorization: Bearer <token>`. The token is never logged.
    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    /// A limit on the whole exchange (connect, send, receive head and body), on top of the idle
    /// limits from the configuration. For small calls that must not hang.
    pub fn total_timeout(mut self, limit: Duration) -> Self {
        self.total_timeout = Some(limit);
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Send without a body.
    pub fn call(self) -> Result<Response> {
        self.run(ureq::SendBody::none(), None)
    }

    pub fn send_bytes(self, body: &[u8]) -> Result<Response> {
        let len = body.len() as u64;
        let mut reader = body;
        self.run(ureq::SendBody::from_reader(&mut reader), Some(len))
    }

    pub fn send_json(self, value: &serde_json::Value) -> Result<Response> {
        let body = serde_json::to_vec(value)
            .map_err(|e| Error::new(ErrorKind::Internal, format!("serialising JSON: {e}")))?;
        self.header("Content-Type", "application/json")
            .send_bytes(&body)
    }

    /// An `application/x-www-form-urlencoded` body.
    pub fn send_form(self, fields: &[(&str, &str)]) -> Result<Response> {
        let body = form_urlencode(fields);
        self.header("Content-Type", "application/x-www-form-urlencoded")
            .send_bytes(body.as_bytes())
    }

    /// Stream the body from a reader. With a known length it is sent with `Content-Length`,
    /// otherwise chunked.
    /// A failure of `body` itself is reported as such (`Io`), not as a network error.
    pub fn send_reader(self, body: &mut dyn Read, length: Option<u64>) -> Result<Response> {
        let mut tracked = TrackedReader {
            inner: body,
            failure: None,
        };
        let result = self.run(ureq::SendBody::from_reader(&mut tracked), length);
        match (result, tracked.failure) {
            (Err(_), Some(why)) => Err(Error::new(
                ErrorKind::Io,
                format!("reading the body to send failed: {why}"),
            )),
            (result, _) => result,
        }
    }

    fn run(self, body: ureq::SendBody<'_>, length: Option<u64>) -> Result<Response> {
        check_url(&self.url)?;
        let shown = url_for_message(&self.url).to_string();
        let mut builder = ureq::http::Request::builder()
            .method(self.method.as_str())
            .uri(&self.url);
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(len) = length {
            builder = builder.header("Content-Length", len.to_string());
        }
        let request = builder.body(body).map_err(|e| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("cannot build a request to {shown}: {e}"),
            )
        })?;
        let request = match self.total_timeout {
            Some(t) => self
                .http
                .agent
                .configure_request(request)
                .timeout_per_call(Some(t))
                .build(),
            None => request,
        };
        log::debug!("{} {shown}", self.method.as_str());
        let response = self
            .http
            .agent
            .run(request)
            .map_err(|e| transport_error(&e, &shown))?;
        let (parts, body) = response.into_parts();
        log::debug!("{} {shown} -> {}", self.method.as_str(), parts.status);
        Ok(Response {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
            url: shown,
        })
    }
}

/// Remembers whether the caller's body reader failed, to tell that apart from the network.
struct TrackedReader<'a> {
    inner: &'a mut dyn Read,
    failure: Option<String>,
}

impl Read for TrackedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.failure = Some(e.to_string());
            }
        })
    }
}

/// Encode form fields (`application/x-www-form-urlencoded`, RFC 1866 / WHATWG).
pub fn form_urlencode(fields: &[(&str, &str)]) -> String {
    fn enc(s: &str, out: &mut String) {
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        enc(k, &mut out);
        out.push('=');
        enc(v, &mut out);
    }
    out
}

/// Percent-encode one path segment (RFC 3986 unreserved characters and `:`/`@` kept, which
/// the Service Registry expects literally in process URNs).
pub fn encode_path_segment(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' | b'@' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn io_kind_error(kind: io::ErrorKind, what: &str, shown: &str) -> Error {
    use io::ErrorKind as K;
    match kind {
        K::TimedOut | K::WouldBlock => Error::new(
            ErrorKind::Timeout,
            format!("{shown} did not answer in time ({what}); check the network or raise timeouts.request_secs"),
        ),
        K::ConnectionRefused => Error::new(
            ErrorKind::Network,
            format!("{shown} refused the connection; is the service (or the sandbox) running and the URL right?"),
        ),
        K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof | K::BrokenPipe => {
            Error::new(
                ErrorKind::ConnectionDropped,
                format!("the connection to {shown} was dropped ({what}); the call may be retried"),
            )
        }
        _ => Error::new(
            ErrorKind::Network,
            format!("network error talking to {shown}: {what}"),
        ),
    }
}

/// Map a `ureq` failure (no HTTP answer) to our kinds.
fn transport_error(e: &ureq::Error, shown: &str) -> Error {
    use ureq::Error as U;
    match e {
        U::Timeout(which) => Error::new(
            ErrorKind::Timeout,
            format!("{shown} did not answer in time ({which}); check the network or raise timeouts.request_secs / connect_secs"),
        ),
        U::Io(io) => {
            if let Some(inner) = io.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
                return transport_error(inner, shown);
            }
            if is_tls_text(&io.to_string()) {
                return tls_error(&io.to_string(), shown);
            }
            io_kind_error(io.kind(), &io.to_string(), shown)
        }
        U::HostNotFound => Error::new(
            ErrorKind::Network,
            format!("cannot resolve the host of {shown}; check the URL and DNS"),
        ),
        U::ConnectionFailed => Error::new(
            ErrorKind::Network,
            format!("cannot connect to {shown}; check the URL, the network and any proxy"),
        ),
        U::Tls(msg) => tls_error(msg, shown),
        U::NativeTls(err) => tls_error(&err.to_string(), shown),
        U::Der(err) => tls_error(&err.to_string(), shown),
        U::TlsRequired | U::RequireHttpsOnly(_) => tls_error("TLS required", shown),
        U::BadUri(_) | U::Http(_) => Error::new(
            ErrorKind::InvalidArgument,
            format!("cannot call {shown}: {e}"),
        ),
        U::Protocol(p) => Error::new(
            ErrorKind::ConnectionDropped,
            format!("{shown} broke the HTTP protocol or closed the connection early ({p})"),
        ),
        U::BodyExceedsLimit(n) => Error::new(
            ErrorKind::RemoteBadResponse,
            format!("the answer from {shown} is larger than the {n} bytes allowed"),
        ),
        U::LargeResponseHeader(..) => Error::new(
            ErrorKind::RemoteBadResponse,
            format!("the answer from {shown} has oversized headers"),
        ),
        U::InvalidProxyUrl | U::ConnectProxyFailed(_) => Error::new(
            ErrorKind::Network,
            format!("the proxy for {shown} failed: {e}; check HTTPS_PROXY / NO_PROXY"),
        ),
        U::BodyStalled => Error::new(
            ErrorKind::Timeout,
            format!("the body from {shown} stopped arriving"),
        ),
        other => Error::new(
            ErrorKind::Network,
            format!("HTTP call to {shown} failed: {other}"),
        ),
    }
}

fn is_tls_text(s: &str) -> bool {
    let s = s.to_ascii_lowercase();
    s.contains("certificate") || s.contains("ssl") || s.contains("tls") || s.contains("handshake")
}

fn tls_error(msg: &str, shown: &str) -> Error {
    Error::new(
        ErrorKind::Tls,
        format!(
            "TLS with {shown} failed: {msg}; the server's certificate is not trusted or does not match the host (add the issuing CA with \"ca_bundle\" if it is a private CA)"
        ),
    )
}

/// Map an error met while reading a response body.
fn body_error(e: io::Error, shown: &str) -> Error {
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
        return transport_error(inner, shown);
    }
    io_kind_error(e.kind(), &e.to_string(), shown)
}

/// An HTTP answer of any status. The body is read at most once, by one of the consuming methods.
pub struct Response {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: ureq::Body,
    url: String,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Response({} from {})", self.status, self.url)
    }
}

impl Response {
    pub fn status(&self) -> u16 {
        self.status
    }
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
    /// The URL called, without its query.
    pub fn url(&self) -> &str {
        &self.url
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The media type without parameters, lower-cased.
    pub fn content_type(&self) -> Option<String> {
        self.header("content-type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }
    /// Seconds from a `Retry-After` header (delta-seconds or an HTTP date).
    pub fn retry_after(&self) -> Option<u64> {
        self.header("retry-after").and_then(parse_retry_after)
    }

    /// Read the whole body, refusing more than `limit` bytes.
    pub fn read_bytes(self, limit: u64) -> Result<Vec<u8>> {
        let shown = self.url.clone();
        let mut out = Vec::new();
        let mut reader = self.body.into_reader().take(limit + 1);
        reader
            .read_to_end(&mut out)
            .map_err(|e| body_error(e, &shown))?;
        if out.len() as u64 > limit {
            return Err(Error::new(
                ErrorKind::RemoteBadResponse,
                format!("the answer from {shown} is larger than the {limit} bytes allowed"),
            ));
        }
        Ok(out)
    }

    /// Read the whole body as UTF-8 text, refusing more than `limit` bytes.
    pub fn read_text(self, limit: u64) -> Result<String> {
        let shown = self.url.clone();
        let bytes = self.read_bytes(limit)?;
        String::from_utf8(bytes).map_err(|_| {
            Error::new(
                ErrorKind::RemoteBadResponse,
                format!("the answer from {shown} is not UTF-8 text"),
            )
        })
    }

    /// Stream the body into a writer; returns the number of bytes copied.
    pub fn copy_to(self, out: &mut dyn Write) -> Result<u64> {
        let shown = self.url.clone();
        let mut reader = self.body.into_reader();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(body_error(e, &shown)),
            };
            out.write_all(&buf[..n])
                .map_err(|e| Error::io("writing the downloaded body", e))?;
            total += n as u64;
        }
    }

    /// The body as a reader (errors come as `io::Error`; see [`map_body_error`]).
    pub fn into_reader(self) -> impl Read + Send + 'static {
        self.body.into_reader()
    }

    /// Turn a non-2xx answer into an error naming `service`, with the status, the remote error
    /// code and a short excerpt of the remote explanation. Text equal to any of `secrets` is
    /// blanked out of the excerpt, in case a service echoes what we sent.
    pub fn into_error(self, service: &str, secrets: &[&str]) -> Error {
        let status = self.status;
        let retry_after = self.retry_after();
        let url = self.url.clone();
        let body = self.read_bytes(MAX_ERROR_BODY).unwrap_or_default();
        let remote = RemoteErrorText::parse(&body);
        status_error(service, &url, status, retry_after, &remote, secrets)
    }
}

/// Map an `io::Error` from [`Response::into_reader`] to our kinds.
pub fn map_body_error(e: io::Error, url: &str) -> Error {
    body_error(e, url_for_message(url))
}

/// What a service said in an error body, as far as we can tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteErrorText {
    /// A machine code: `error` (OAuth), `code` (Altinn `BRO-…`), `error_code` (SR, when not empty).
    pub code: Option<String>,
    /// A human explanation: `error_description`, `detail`, `message`, `title`, or the text itself.
    pub description: Option<String>,
}

impl RemoteErrorText {
    pub fn parse(body: &[u8]) -> RemoteErrorText {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() {
            return RemoteErrorText::default();
        }
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text)
        {
            let field = |names: &[&str]| {
                names.iter().find_map(|n| {
                    map.get(*n)
                        .and_then(|v| v.as_str())
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                })
            };
            return RemoteErrorText {
                code: field(&["error", "code", "error_code"]),
                description: field(&["error_description", "detail", "message", "title"]),
            };
        }
        if let Ok(serde_json::Value::String(s)) = serde_json::from_str::<serde_json::Value>(text) {
            return RemoteErrorText {
                code: None,
                description: Some(s),
            };
        }
        RemoteErrorText {
            code: None,
            description: Some(text.to_string()),
        }
    }
}

/// Shorten remote text for a message: one line, bounded, secrets blanked.
pub fn snippet(text: &str, secrets: &[&str]) -> String {
    let mut s: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        s = s.replace(secret, "<redacted>");
    }
    if s.chars().count() > MAX_SNIPPET_CHARS {
        s = s.chars().take(MAX_SNIPPET_CHARS).collect::<String>() + "…";
    }
    s
}

/// The error for a non-2xx answer (see [`Response::into_error`]).
pub fn status_error(
    service: &str,
    url: &str,
    status: u16,
    retry_after: Option<u64>,
    remote: &RemoteErrorText,
    secrets: &[&str],
) -> Error {
    let said = match (&remote.code, &remote.description) {
        (Some(c), Some(d)) => format!(": {} ({})", snippet(d, secrets), snippet(c, secrets)),
        (Some(c), None) => format!(": {}", snippet(c, secrets)),
        (None, Some(d)) => format!(": {}", snippet(d, secrets)),
        (None, None) => String::new(),
    };
    let url = url_for_message(url);
    let (kind, advice) = match status {
        429 => (
            ErrorKind::RemoteRateLimited,
            match retry_after {
                Some(s) => format!("; slow down and retry after {s} s"),
                None => "; slow down and retry later".to_string(),
            },
        ),
        502..=504 => (
            ErrorKind::RemoteUnavailable,
            "; the service is unavailable, retry later".to_string(),
        ),
        401 => (
            ErrorKind::AuthFailed,
            "; the service did not accept our access token".to_string(),
        ),
        403 => (
            ErrorKind::AuthForbidden,
            "; our token lacks the scope or access this call needs".to_string(),
        ),
        404 => (ErrorKind::RemoteNotFound, String::new()),
        // Redirects are not followed (a bearer token must not travel to another host); the
        // Location is not repeated, since it could name anything.
        300..=399 => (
            ErrorKind::RemoteService,
            "; redirects are not followed: check the URL".to_string(),
        ),
        _ => (ErrorKind::RemoteService, String::new()),
    };
    let mut e = Error::new(
        kind,
        format!("{service} at {url} answered HTTP {status}{said}{advice}"),
    )
    .with_http_status(status);
    if let Some(code) = &remote.code {
        e = e.with_remote_code(snippet(code, secrets));
    }
    if let Some(s) = retry_after {
        e = e.with_retry_after(s);
    }
    if status >= 500 {
        e = e.retryable_if(true);
    }
    e
}

/// Parse a `Retry-After` value: delta-seconds or an IMF-fixdate (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str) -> Option<u64> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(secs);
    }
    let at = parse_http_date(v)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(at.saturating_sub(now))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` to seconds since the epoch.
fn parse_http_date(v: &str) -> Option<u64> {
    let rest = v.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let m: u64 = hms.next()?.parse().ok()?;
    let s: u64 = hms.next()?.parse().ok()?;
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    if days < 0 {
        return None;
    }
    Some(days as u64 * 86400 + h * 3600 + m * 60 + s)
}

/// How often and how patiently to repeat a call that failed in a retryable way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included (1 = no retry).
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    pub const NONE: RetryPolicy = RetryPolicy {
        attempts: 1,
        first_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    };
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
        }
    }
}

/// Run `op` until it succeeds, fails in a way that is not retryable, or the attempts are used up.
/// A `Retry-After` longer than the policy's `max_delay` ends the retries (the caller can schedule
/// a later attempt); a shorter one is honoured.
pub fn with_retries<T>(policy: &RetryPolicy, mut op: impl FnMut(u32) -> Result<T>) -> Result<T> {
    let mut delay = policy.first_delay;
    let mut attempt = 1;
    loop {
        match op(attempt) {
            Ok(v) => return Ok(v),
            Err(e) if e.retryable() && attempt < policy.attempts => {
                let wait = match e.detail().retry_after_secs {
                    Some(s) if Duration::from_secs(s) > policy.max_delay => return Err(e),
                    Some(s) => Duration::from_secs(s),
                    None => delay,
                };
                log::info!(
                    "attempt {attempt} failed ({}); retrying in {} ms",
                    e.message(),
                    wait.as_millis()
                );
                std::thread::sleep(wait);
                delay = (delay * 2).min(policy.max_delay);
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    #[test]
    fn url_policy() {
        assert!(check_url("https://maskinporten.no/token").is_ok());
        assert!(check_url("http://127.0.0.1:8080/x").is_ok());
        assert!(check_url("http://[::1]:8080/x").is_ok());
        assert!(check_url("http://localhost/x").is_ok());
        let e = check_url("http://example.org/x?secret=1").unwrap_err();
        assert!(e.message().contains("loopback"), "{e}");
        assert!(!e.message().contains("secret"), "{e}");
        assert!(check_url("ftp://127.0.0.1/").is_err());
        assert!(check_url("http:///x").is_err());
        assert!(check_url("http://127.0.0.1.evil.example/").is_err());
    }

    #[test]
    fn form_encoding_matches_the_spec_example() {
        assert_eq!(
            form_urlencode(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", "a.b-c_d"),
            ]),
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a.b-c_d"
        );
        assert_eq!(
            form_urlencode(&[("q", "a b&c=d/é")]),
            "q=a+b%26c%3Dd%2F%C3%A9"
        );
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("120"), Some(120));
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"), Some(0));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn remote_error_texts() {
        let r = RemoteErrorText::parse(
            br#"{"error":"invalid_grant","error_description":"MP-120 bad cert"}"#,
        );
        assert_eq!(r.code.as_deref(), Some("invalid_grant"));
        assert_eq!(r.description.as_deref(), Some("MP-120 bad cert"));
        let r = RemoteErrorText::parse(br#"{"error_code":"","error_description":"x"}"#);
        assert_eq!(r.code, None);
        let r = RemoteErrorText::parse(
            br#"{"code":"BRO-00006","title":"Unauthorized","detail":"no access"}"#,
        );
        assert_eq!(r.code.as_deref(), Some("BRO-00006"));
        assert_eq!(r.description.as_deref(), Some("no access"));
        assert_eq!(RemoteErrorText::parse(b"").description, None);
    }

    #[test]
    fn snippets_are_bounded_and_redacted() {
        let long = "x".repeat(1000);
        assert!(snippet(&long, &[]).chars().count() <= MAX_SNIPPET_CHARS + 1);
        let s = snippet(
            "echo eyJsecret.token.value\nnext",
            &["eyJsecret.token.value"],
        );
        assert_eq!(s, "echo <redacted> next");
    }

    #[test]
    fn log_filter_hides_http_trace() {
        assert!(!log_record_allowed("ureq_proto::util", log::Level::Trace));
        assert!(!log_record_allowed("ureq", log::Level::Trace));
        assert!(log_record_allowed("ureq", log::Level::Debug));
        assert!(log_record_allowed("efm_core::auth", log::Level::Trace));
    }

    /// A one-shot HTTP server on loopback that answers each connection with `answer`.
    fn serve(answers: Vec<Vec<u8>>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for answer in answers {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap() == 0 {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                    head.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                head.push_str(&String::from_utf8_lossy(&body));
                seen.push(head);
                let mut stream = stream;
                if !answer.is_empty() {
                    stream.write_all(&answer).unwrap();
                }
                // Dropping the stream closes the connection (an empty answer = a dropped call).
            }
            seen
        });
        (url, handle)
    }

    fn http() -> Http {
        Http::with_settings(&HttpSettings {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn maps_statuses_and_streams() {
        let ok = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello".to_vec();
        let limited =
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
                .to_vec();
        let down =
            b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
                .to_vec();
        // The test server serves one request per connection, so it says so (no pooling).
        let (url, server) = serve(vec![ok, limited, down, Vec::new()]);
        let h = http();

        let mut body: &[u8] = b"streamed body";
        let r = h
            .post(&format!("{url}/up"))
            .header("Content-Type", "application/octet-stream")
            .send_reader(&mut body, Some(13))
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.content_type().as_deref(), Some("text/plain"));
        let mut out = Vec::new();
        assert_eq!(r.copy_to(&mut out).unwrap(), 5);
        assert_eq!(out, b"hello");

        let r = h.get(&format!("{url}/x")).call().unwrap();
        assert_eq!(r.status(), 429);
        let e = r.into_error("Test service", &[]);
        assert_eq!(e.kind(), ErrorKind::RemoteRateLimited);
        assert_eq!(e.detail().retry_after_secs, Some(7));
        assert_eq!(e.detail().http_status, Some(429));
        assert!(e.retryable());

        let e = h
            .get(&format!("{url}/y"))
            .call()
            .unwrap()
            .into_error("Test service", &[]);
        assert_eq!(e.kind(), ErrorKind::RemoteUnavailable);

        let e = h.get(&format!("{url}/z")).call().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionDropped, "{e:?}");
        let seen = server.join().unwrap();
        assert!(seen[0].starts_with("POST /up HTTP/1.1"), "{}", seen[0]);
        assert!(seen[0].to_ascii_lowercase().contains("content-length: 13"));
        assert!(seen[0].ends_with("streamed body"));
    }

    #[test]
    fn a_failing_body_reader_is_not_a_network_error() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk gone"));
                }
                self.0 -= 1;
                buf[0] = b'x';
                Ok(1)
            }
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/up", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink);
            }
        });
        let e = http()
            .post(&url)
            .send_reader(&mut Failing(3), None)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io, "{e:?}");
        assert!(e.message().contains("disk gone"), "{e}");
    }

    #[test]
    fn refused_and_timeout() {
        // A port that was just free: nothing listens there.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = http()
            .get(&format!("http://127.0.0.1:{port}/"))
            .call()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Network, "{e:?}");
        assert!(e.message().contains("refused"), "{e}");

        // A server that accepts and never answers.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/slow", listener.local_addr().unwrap());
        let hold = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            std::thread::sleep(Duration::from_millis(2500));
            drop(s);
        });
        let slow = Http::with_settings(&HttpSettings {
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
            ..Default::default()
        })
        .unwrap();
        let e = slow.get(&url).call().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{e:?}");
        assert!(e.retryable());
        hold.join().unwrap();
    }

    #[test]
    fn retries_only_retryable() {
        let mut calls = 0;
        let r: Result<u32> = with_retries(
            &RetryPolicy {
                attempts: 3,
                first_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(5),
            },
            |_| {
                calls += 1;
                if calls < 3 {
                    Err(Error::new(ErrorKind::ConnectionDropped, "dropped"))
                } else {
                    Ok(calls)
                }
            },
        );
        assert_eq!(r.unwrap(), 3);
        let mut calls = 0;
        let r: Result<()> = with_retries(&RetryPolicy::default(), |_| {
            calls += 1;
            Err(Error::new(ErrorKind::AuthInvalidClient, "no"))
        });
        assert!(r.is_err());
        assert_eq!(calls, 1);
        // A Retry-After beyond the policy's patience ends the retries at once.
        let mut calls = 0;
        let r: Result<()> = with_retries(&RetryPolicy::default(), |_| {
            calls += 1;
            Err(Error::new(ErrorKind::RemoteRateLimited, "slow").with_retry_after(3600))
        });
        assert_eq!(r.unwrap_err().detail().retry_after_secs, Some(3600));
        assert_eq!(calls, 1);
    }

    /// A CA and a server certificate for 127.0.0.1 signed by it.
    fn tls_pki() -> (
        openssl::x509::X509,
        openssl::x509::X509,
        openssl::pkey::PKey<openssl::pkey::Private>,
    ) {
        use openssl::asn1::Asn1Time;
        use openssl::bn::BigNum;
        use openssl::hash::MessageDigest;
        use openssl::pkey::PKey;
        use openssl::rsa::Rsa;
        use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
        use openssl::x509::{X509Builder, X509NameBuilder};
        let name = |cn: &str| {
            let mut n = X509NameBuilder::new().unwrap();
            n.append_entry_by_text("CN", cn).unwrap();
            n.build()
        };
        let ca_key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap())
            .unwrap();
        b.set_subject_name(&name("efm test CA")).unwrap();
        b.set_issuer_name(&name("efm test CA")).unwrap();
        b.set_pubkey(&ca_key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
            .unwrap();
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        b.sign(&ca_key, MessageDigest::sha256()).unwrap();
        let ca = b.build();

        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_serial_number(&BigNum::from_u32(2).unwrap().to_asn1_integer().unwrap())
            .unwrap();
        b.set_subject_name(&name("127.0.0.1")).unwrap();
        b.set_issuer_name(ca.subject_name()).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
            .unwrap();
        let san = SubjectAlternativeName::new()
            .ip("127.0.0.1")
            .build(&b.x509v3_context(Some(&ca), None))
            .unwrap();
        b.append_extension(san).unwrap();
        b.sign(&ca_key, MessageDigest::sha256()).unwrap();
        (ca, b.build(), key)
    }

    #[test]
    fn tls_is_verified_and_an_extra_ca_is_trusted() {
        use openssl::ssl::{SslAcceptor, SslMethod};
        let (ca, cert, key) = tls_pki();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://{}/secure", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
            acceptor.set_private_key(&key).unwrap();
            acceptor.set_certificate(&cert).unwrap();
            let acceptor = acceptor.build();
            let mut handshakes = Vec::new();
            for _ in 0..2 {
                let (tcp, _) = listener.accept().unwrap();
                match acceptor.accept(tcp) {
                    Ok(mut tls) => {
                        let mut buf = [0u8; 4096];
                        let _ = tls.read(&mut buf).unwrap();
                        tls.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                        )
                        .unwrap();
                        let _ = tls.shutdown();
                        handshakes.push(true);
                    }
                    Err(_) => handshakes.push(false),
                }
            }
            handshakes
        });

        // Without the CA: the server's certificate is not trusted.
        let e = http().get(&url).call().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tls, "{e:?}");
        assert!(e.message().contains("ca_bundle"), "{e}");

        // With the CA in an extra bundle: accepted.
        let dir = std::env::temp_dir().join(format!("efm-http-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bundle = dir.join("ca.pem");
        std::fs::write(&bundle, ca.to_pem().unwrap()).unwrap();
        let trusting = Http::with_settings(&HttpSettings {
            ca_bundle: Some(bundle),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            use_env_proxy: false,
        })
        .unwrap();
        let r = trusting.get(&url).call().unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.read_text(100).unwrap(), "ok");
        assert_eq!(server.join().unwrap(), vec![false, true]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_ca_bundle_is_a_config_error() {
        let dir = std::env::temp_dir().join(format!("efm-http-badca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bundle = dir.join("ca.pem");
        std::fs::write(&bundle, "not a certificate").unwrap();
        let e = Http::with_settings(&HttpSettings {
            ca_bundle: Some(bundle),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        assert_eq!(e.detail().field.as_deref(), Some("ca_bundle"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
