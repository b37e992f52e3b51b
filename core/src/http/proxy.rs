//! Which HTTP proxy the agent uses: the configuration's `proxy` setting decides.
//!
//! - `"system"` (the default outside the sandbox): `HTTPS_PROXY` / `ALL_PROXY` (with `NO_PROXY`)
//!   from the environment; when those name none, the operating system's proxy for each URL if
//!   the platform layer installed a lookup ([`super::system_proxy`]: efm.dll asks WinHTTP for the
//!   Internet Options, PAC/WPAD and `netsh winhttp` settings).
//! - `"none"`: connect directly (the default in the sandbox, which lives on loopback).
//! - a URL such as `"http://proxy.example:8080"` (or `socks5://`): that proxy for every request.
//!   Credentials in the URL are refused: efm does not authenticate to proxies (NTLM/Kerberos
//!   proxies need an exception for the eFormidling hosts, or a local relay).

use super::system_proxy::SystemProxyLookup;
use crate::error::{Error, ErrorKind, Result};

/// The configured proxy choice.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProxySetting {
    /// The environment's proxy variables, else the operating system's settings.
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

    /// The proxy for the agent (`None`: direct), and the operating system's lookup when the
    /// proxy is decided per request instead.
    pub fn resolve(&self) -> Result<(Option<ureq::Proxy>, Option<SystemProxyLookup>)> {
        match self {
            ProxySetting::None => Ok((None, None)),
            ProxySetting::Url(u) => ureq::Proxy::new(u).map(|p| (Some(p), None)).map_err(|e| {
                Error::new(ErrorKind::ConfigInvalid, format!("proxy {u:?}: {e}"))
                    .with_field("proxy")
            }),
            ProxySetting::System => Ok(match ureq::Proxy::try_from_env() {
                Some(p) => (Some(p), None),
                None => (None, super::system_proxy::installed_lookup()),
            }),
        }
    }
}

/// The proxy the operating system names for `url`, for one request (`None`: direct).
pub(super) fn system_proxy_for(lookup: SystemProxyLookup, url: &str) -> Option<ureq::Proxy> {
    let proxy = lookup(url)?;
    match ureq::Proxy::new(&proxy) {
        Ok(p) => Some(p),
        Err(e) => {
            log::warn!(
                "the system proxy {proxy:?} for {} is not usable ({e}); connecting directly",
                super::url_for_message(url)
            );
            None
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
}
