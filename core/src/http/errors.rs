//! How transport failures and non-2xx answers become our error kinds.

use super::*;

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
pub(super) fn transport_error(e: &ureq::Error, shown: &str) -> Error {
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
pub(super) fn body_error(e: io::Error, shown: &str) -> Error {
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
        return transport_error(inner, shown);
    }
    io_kind_error(e.kind(), &e.to_string(), shown)
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
