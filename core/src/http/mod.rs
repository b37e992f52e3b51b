//! One configured HTTP agent for every remote call: Maskinporten, the Service Registry, the Altinn
//! token exchange and the brokers.
//!
//! Built on `ureq` 3 (synchronous, streams request bodies from a `Read` and responses into a
//! `Write`) with native-tls, i.e. the system OpenSSL the rest of the core already links. What this
//! module adds on top:
//! - TLS verification is never switched off. Plain `http://` is refused unless the host is loopback
//!   (the sandbox); everything else must be `https://`. An extra CA bundle (`Config::ca_bundle`) is
//!   trusted next to the system roots (also on Windows, whose certificate store SChannel uses),
//!   never instead of the checks ([`roots`]).
//! - The proxy comes from the configuration's `proxy`: the environment's variables, else the
//!   operating system's settings per URL, by default; an explicit URL; or none ([`ProxySetting`],
//!   [`system_proxy`]).
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

use crate::config::Config;
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

mod agent;
mod errors;
mod proxy;
mod request;
mod response;
mod retry;
pub(crate) mod roots;
pub mod system_proxy;
#[cfg(test)]
mod tests;
mod url;

pub use agent::*;
pub use errors::*;
pub use proxy::ProxySetting;
pub use request::*;
pub use response::*;
pub use retry::*;
pub use url::*;
