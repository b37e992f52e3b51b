//! URL policy (https, or http to loopback only) and the encodings requests need.

use super::*;

/// The URL without its query string, for messages (queries may carry identifiers nobody needs
/// in a log).
pub fn url_for_message(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

pub(super) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

/// The scheme and host of an absolute URL (an IPv6 host keeps its brackets; empty if none).
pub(super) fn scheme_and_host(url: &str) -> Option<(&str, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = if authority.starts_with('[') {
        authority.split(']').next().unwrap_or("").to_string() + "]"
    } else {
        authority.split(':').next().unwrap_or("").to_string()
    };
    Some((scheme, host))
}

/// Refuse anything but https, except plain http to a loopback address.
pub fn check_url(url: &str) -> Result<()> {
    let bad = |why: &str| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("cannot call {}: {why}", url_for_message(url)),
        )
    };
    let (scheme, host) = scheme_and_host(url).ok_or_else(|| bad("not an absolute http(s) URL"))?;
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
