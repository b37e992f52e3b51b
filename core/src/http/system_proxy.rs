//! The operating system's proxy, for `"proxy": "system"` when the environment names none.
//!
//! Asking Windows (WinHTTP: Internet Options, `netsh winhttp`, PAC/WPAD) needs Win32 calls, i.e.
//! unsafe code, which this crate forbids; the C ABI crate does it (ffi/windows_proxy.rs) and
//! installs a lookup here. What can be done in safe code lives here: reading the proxy lists and
//! bypass lists Windows keeps, with Windows' rules.

use super::url::{is_loopback_host, scheme_and_host};
use std::sync::OnceLock;

/// The platform's answer for one URL: `Some("http://host:port")` to use that proxy, `None` to
/// connect directly.
pub type SystemProxyLookup = fn(url: &str) -> Option<String>;

static LOOKUP: OnceLock<SystemProxyLookup> = OnceLock::new();

/// Install the operating system's proxy lookup (once per process; later calls are ignored).
pub fn install_system_proxy_lookup(lookup: SystemProxyLookup) {
    let _ = LOOKUP.set(lookup);
}

pub(super) fn installed_lookup() -> Option<SystemProxyLookup> {
    LOOKUP.get().copied()
}

/// The proxy Windows would use for `url` given a proxy list and a bypass list (the strings
/// Internet Options, `netsh winhttp` and a PAC answer give), as a URL, or `None` for direct.
///
/// The list is `host:port`, or per scheme (`http=h:80;https=h:443;socks=h:1080`), or several
/// `host:port` entries separated by `;` (a PAC answer: the first is taken). The bypass list holds
/// host patterns with `*` (`*.corp.example;10.*`), `<local>` (names without a dot) and
/// `<-loopback>`: loopback addresses bypass the proxy unless the list says `<-loopback>`.
pub fn proxy_from_windows_lists(url: &str, list: &str, bypass: &str) -> Option<String> {
    let (scheme, host) = scheme_and_host(url)?;
    if bypassed(&host, bypass) {
        return None;
    }
    pick(scheme, list)
}

/// The proxy from a PAC script's answer for `url` (WinHTTP gives `host:port;host:port`, the
/// script's `PROXY` entries): the first one. No bypass rules apply: the script has decided, for
/// loopback too.
pub fn proxy_from_pac_answer(url: &str, list: &str) -> Option<String> {
    let (scheme, _) = scheme_and_host(url)?;
    pick(scheme, list)
}

fn pick(scheme: &str, list: &str) -> Option<String> {
    let entries: Vec<&str> = list
        .split([';', ' ', '\t', '\r', '\n'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let scheme = scheme.to_ascii_lowercase();
    let for_scheme = |s: &str| {
        entries.iter().find_map(|e| {
            let (k, v) = e.split_once('=')?;
            k.eq_ignore_ascii_case(s).then_some(v)
        })
    };
    let chosen = for_scheme(&scheme)
        .map(|p| with_scheme(p, "http"))
        .or_else(|| {
            entries
                .iter()
                .find(|e| !e.contains('='))
                .map(|p| with_scheme(p, "http"))
        })
        .or_else(|| for_scheme("socks").map(|p| with_scheme(p, "socks4")))?;
    Some(chosen)
}

fn with_scheme(proxy: &str, default: &str) -> String {
    if proxy.contains("://") {
        proxy.to_string()
    } else {
        format!("{default}://{proxy}")
    }
}

/// Whether Windows' bypass list exempts `host` (lower-cased comparison, `*` matches any run).
fn bypassed(host: &str, bypass: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let entries: Vec<String> = bypass
        .split([';', ' ', ',', '\t', '\r', '\n'])
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .collect();
    if is_loopback_host(&host) && !entries.iter().any(|e| e == "<-loopback>") {
        return true;
    }
    entries.iter().any(|e| match e.as_str() {
        "<local>" => !host.contains('.') && !host.contains(':'),
        "<-loopback>" => false,
        pattern => {
            // An entry may carry a scheme or a port ("https://*.corp", "*.corp:443"); efm
            // compares hosts only.
            let pattern = pattern.split_once("://").map_or(pattern, |(_, p)| p);
            let pattern = match pattern.rsplit_once(':') {
                Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !h.is_empty() => h,
                _ => pattern,
            };
            glob(pattern.as_bytes(), host.as_bytes())
        }
    })
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_list_serves_every_scheme() {
        assert_eq!(
            proxy_from_windows_lists("https://altinn.no/x", "proxy.corp:8080", ""),
            Some("http://proxy.corp:8080".into())
        );
        assert_eq!(
            proxy_from_windows_lists("http://example.org/", "proxy.corp:8080", ""),
            Some("http://proxy.corp:8080".into())
        );
    }

    #[test]
    fn per_scheme_entries_pick_the_urls_scheme_then_socks() {
        let list = "http=a:80;https=b:3128;socks=c:1080";
        assert_eq!(
            proxy_from_windows_lists("https://altinn.no/", list, ""),
            Some("http://b:3128".into())
        );
        assert_eq!(
            proxy_from_windows_lists("http://example.org/", list, ""),
            Some("http://a:80".into())
        );
        assert_eq!(
            proxy_from_windows_lists("https://altinn.no/", "socks=c:1080", ""),
            Some("socks4://c:1080".into())
        );
        assert_eq!(
            proxy_from_windows_lists("https://altinn.no/", "http=a:80", ""),
            None
        );
    }

    #[test]
    fn a_pac_answer_uses_its_first_proxy_even_for_loopback() {
        assert_eq!(
            proxy_from_pac_answer("https://altinn.no/", "p1:8080; p2:8080"),
            Some("http://p1:8080".into())
        );
        assert_eq!(
            proxy_from_pac_answer("http://127.0.0.1:9000/", "p1:8080"),
            Some("http://p1:8080".into())
        );
        assert_eq!(proxy_from_pac_answer("https://altinn.no/", ""), None);
    }

    #[test]
    fn the_bypass_list_follows_windows_rules() {
        let p = |url: &str, bypass: &str| proxy_from_windows_lists(url, "p:1", bypass).is_some();
        assert!(!p("https://api.corp.example/", "*.corp.example"));
        assert!(!p("https://API.Corp.Example/", "*.CORP.example"));
        assert!(p("https://altinn.no/", "*.corp.example;10.*"));
        assert!(!p("https://10.1.2.3/", "*.corp.example;10.*"));
        assert!(!p("https://intranet/", "<local>"));
        assert!(p("https://altinn.no/", "<local>"));
        assert!(!p(
            "https://api.corp.example/",
            "https://*.corp.example:443"
        ));
        // Loopback bypasses the proxy unless the list says <-loopback>.
        assert!(!p("http://127.0.0.1:8080/", ""));
        assert!(!p("http://localhost:8080/", "*.corp"));
        assert!(!p("http://[::1]:8080/", ""));
        assert!(p("http://127.0.0.1:8080/", "<-loopback>"));
    }
}
