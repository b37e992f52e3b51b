//! Which HTTP proxy the agent uses: the configuration's `proxy` setting decides.
//!
//! - `"system"` (the default outside the sandbox): `HTTPS_PROXY` / `ALL_PROXY` (with `NO_PROXY`)
//!   from the environment; on Windows, when those are unset, the machine's WinHTTP proxy
//!   (`netsh winhttp set proxy`, what services use) and then the user's Internet Options proxy.
//!   Windows proxy auto-configuration (a PAC script or WPAD) is not evaluated: efm logs a warning
//!   saying to set `proxy` explicitly.
//! - `"none"`: connect directly (the default in the sandbox, which lives on loopback).
//! - a URL such as `"http://proxy.example:8080"` (or `socks5://`): that proxy for every request.
//!   Credentials in the URL are refused: efm does not authenticate to proxies (NTLM/Kerberos
//!   proxies need an exception for the eFormidling hosts, or a local relay).

use crate::error::{Error, ErrorKind, Result};

/// The configured proxy choice.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProxySetting {
    /// Environment variables, then (Windows) the system settings.
    #[default]
    System,
    /// Direct connections.
    None,
    /// This proxy URL.
    Url(String),
}

impl ProxySetting {
    /// Parses the configuration value; `field` names it in errors.
    pub fn parse(value: &str, field: &str) -> Result<ProxySetting> {
        let invalid = |msg: String| Error::new(ErrorKind::ConfigInvalid, msg).with_field(field);
        match value {
            "system" => return Ok(ProxySetting::System),
            "none" => return Ok(ProxySetting::None),
            _ => {}
        }
        let Some((scheme, rest)) = value.split_once("://") else {
            return Err(invalid(format!(
                "proxy {value:?} must be \"system\", \"none\" or a URL such as \"http://proxy.example:8080\""
            )));
        };
        if !matches!(scheme, "http" | "https" | "socks4" | "socks4a" | "socks5") {
            return Err(invalid(format!(
                "proxy scheme {scheme:?} is not supported; use http://, https:// or socks5://"
            )));
        }
        if rest.split('/').next().unwrap_or("").contains('@') {
            return Err(invalid(
                "proxy URLs with credentials are not supported: efm does not authenticate to proxies; \
                 ask for an exception for the eFormidling hosts or use a local authenticating relay"
                    .into(),
            ));
        }
        ureq::Proxy::new(value)
            .map_err(|e| invalid(format!("proxy {value:?} is not a usable URL: {e}")))?;
        Ok(ProxySetting::Url(value.to_string()))
    }

    /// The name shown in configuration summaries.
    pub fn describe(&self) -> &str {
        match self {
            ProxySetting::System => "system",
            ProxySetting::None => "none",
            ProxySetting::Url(u) => u,
        }
    }

    /// The proxy for the agent, or `None` for direct connections.
    pub fn resolve(&self) -> Result<Option<ureq::Proxy>> {
        match self {
            ProxySetting::None => Ok(None),
            ProxySetting::Url(u) => ureq::Proxy::new(u).map(Some).map_err(|e| {
                Error::new(ErrorKind::ConfigInvalid, format!("proxy {u:?}: {e}"))
                    .with_field("proxy")
            }),
            ProxySetting::System => Ok(ureq::Proxy::try_from_env().or_else(system_proxy)),
        }
    }
}

/// A proxy from Windows' settings, as WinHTTP and Internet Options write them.
#[cfg(windows)]
fn system_proxy() -> Option<ureq::Proxy> {
    let found = windows::winhttp_default()
        .or_else(windows::internet_options)
        .and_then(|(list, bypass)| from_windows_list(&list, &bypass));
    match found {
        Some((url, no_proxy)) => {
            log::info!("using the Windows system proxy {url}");
            let mut b = ureq::Proxy::builder(proxy_protocol(&url)?);
            let (host, port) = host_port(&url)?;
            b = b.host(&host).port(port);
            for n in &no_proxy {
                b = b.no_proxy(n);
            }
            b.build().ok()
        }
        None => None,
    }
}

#[cfg(not(windows))]
fn system_proxy() -> Option<ureq::Proxy> {
    None
}

#[cfg(windows)]
fn proxy_protocol(url: &str) -> Option<ureq::ProxyProtocol> {
    match url.split_once("://")?.0 {
        "http" => Some(ureq::ProxyProtocol::Http),
        "https" => Some(ureq::ProxyProtocol::Https),
        "socks4" => Some(ureq::ProxyProtocol::Socks4),
        "socks5" => Some(ureq::ProxyProtocol::Socks5),
        _ => None,
    }
}

#[cfg(windows)]
fn host_port(url: &str) -> Option<(String, u16)> {
    let authority = url.split_once("://")?.1.split('/').next()?;
    let (host, port) = authority.rsplit_once(':')?;
    Some((host.to_string(), port.parse().ok()?))
}

/// The proxy for https requests from a Windows proxy list (`host:port`, or per-scheme entries
/// such as `http=h:80;https=h:443;socks=h:1080`), with the bypass list (`*.corp;<local>`) as
/// NO_PROXY expressions. `<local>` (dotless names) has no NO_PROXY form and is left out.
#[cfg_attr(not(windows), allow(dead_code))]
fn from_windows_list(list: &str, bypass: &str) -> Option<(String, Vec<String>)> {
    let entries: Vec<&str> = list
        .split([';', ' '])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let chosen = entries
        .iter()
        .find_map(|e| e.strip_prefix("https="))
        .map(|p| with_scheme(p, "http"))
        .or_else(|| {
            entries
                .iter()
                .find(|e| !e.contains('='))
                .map(|p| with_scheme(p, "http"))
        })
        .or_else(|| {
            entries
                .iter()
                .find_map(|e| e.strip_prefix("socks="))
                .map(|p| with_scheme(p, "socks4"))
        })?;
    let no_proxy = bypass
        .split([';', ' ', ','])
        .map(str::trim)
        .filter(|b| !b.is_empty() && *b != "<local>" && *b != "<-loopback>")
        .map(str::to_string)
        .collect();
    Some((chosen, no_proxy))
}

#[cfg_attr(not(windows), allow(dead_code))]
fn with_scheme(proxy: &str, default: &str) -> String {
    if proxy.contains("://") {
        proxy.to_string()
    } else {
        format!("{default}://{proxy}")
    }
}

#[cfg(windows)]
mod windows {
    //! Reading the proxy settings through WinHTTP (winhttp.dll, part of every Windows).
    use windows_sys::Win32::Foundation::GlobalFree;
    use windows_sys::Win32::Networking::WinHttp::{
        WinHttpGetDefaultProxyConfiguration, WinHttpGetIEProxyConfigForCurrentUser,
        WINHTTP_ACCESS_TYPE_NAMED_PROXY, WINHTTP_CURRENT_USER_IE_PROXY_CONFIG, WINHTTP_PROXY_INFO,
    };

    /// Takes ownership of a WinHTTP-allocated string: returns it and frees it.
    unsafe fn take(p: *mut u16) -> String {
        if p.is_null() {
            return String::new();
        }
        let mut n = 0;
        while *p.add(n) != 0 {
            n += 1;
        }
        let s = String::from_utf16_lossy(std::slice::from_raw_parts(p, n));
        GlobalFree(p.cast());
        s
    }

    /// The machine-wide WinHTTP proxy (`netsh winhttp show proxy`).
    pub fn winhttp_default() -> Option<(String, String)> {
        let mut info = WINHTTP_PROXY_INFO::default();
        // SAFETY: info is a valid out-structure; the strings it receives are freed by `take`.
        unsafe {
            if WinHttpGetDefaultProxyConfiguration(&mut info) == 0 {
                return None;
            }
            let (list, bypass) = (take(info.lpszProxy), take(info.lpszProxyBypass));
            (info.dwAccessType == WINHTTP_ACCESS_TYPE_NAMED_PROXY && !list.is_empty())
                .then_some((list, bypass))
        }
    }

    /// The current user's Internet Options proxy; warns about auto-configuration it cannot use.
    pub fn internet_options() -> Option<(String, String)> {
        let mut cfg = WINHTTP_CURRENT_USER_IE_PROXY_CONFIG::default();
        // SAFETY: as above.
        unsafe {
            if WinHttpGetIEProxyConfigForCurrentUser(&mut cfg) == 0 {
                return None;
            }
            let pac = take(cfg.lpszAutoConfigUrl);
            let (list, bypass) = (take(cfg.lpszProxy), take(cfg.lpszProxyBypass));
            if !pac.is_empty() || cfg.fAutoDetect != 0 {
                log::warn!(
                    "Windows uses proxy auto-configuration ({}), which efm does not evaluate; \
                     if connections fail, set \"proxy\" in the configuration",
                    if pac.is_empty() { "WPAD" } else { pac.as_str() }
                );
            }
            (!list.is_empty()).then_some((list, bypass))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            ProxySetting::parse("system", "proxy").unwrap(),
            ProxySetting::System
        );
        assert_eq!(
            ProxySetting::parse("none", "proxy").unwrap(),
            ProxySetting::None
        );
        assert_eq!(
            ProxySetting::parse("http://proxy.example:8080", "proxy").unwrap(),
            ProxySetting::Url("http://proxy.example:8080".into())
        );
        assert!(ProxySetting::parse("socks5://127.0.0.1:1080", "proxy").is_ok());
    }

    #[test]
    fn refuses_what_it_cannot_use_with_the_reason() {
        for (value, says) in [
            ("proxy.example:8080", "must be"),
            ("ftp://proxy.example", "not supported"),
            ("http://user:secret@proxy.example:8080", "credentials"),
        ] {
            let e = ProxySetting::parse(value, "proxy").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
            assert_eq!(e.detail().field.as_deref(), Some("proxy"));
            assert!(e.message().contains(says), "{value}: {e}");
            assert!(!e.message().contains("secret"), "{e}");
        }
    }

    #[test]
    fn windows_lists_pick_the_https_proxy_and_translate_the_bypass_list() {
        assert_eq!(
            from_windows_list("proxy.corp:8080", "<local>;*.corp.example;10.*"),
            Some((
                "http://proxy.corp:8080".into(),
                vec!["*.corp.example".into(), "10.*".into()]
            ))
        );
        assert_eq!(
            from_windows_list("http=a:80;https=b:3128;socks=c:1080", ""),
            Some(("http://b:3128".into(), vec![]))
        );
        assert_eq!(
            from_windows_list("socks=c:1080", ""),
            Some(("socks4://c:1080".into(), vec![]))
        );
        assert_eq!(from_windows_list("", "<local>"), None);
    }
}
