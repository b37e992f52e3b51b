//! One error type for the whole core, with a stable numeric code per kind.
//!
//! Codes are grouped by hundreds (the group is `code / 100`) and never reused: a retired kind keeps
//! its number as a comment. The C ABI (`efm_result`) mirrors these numbers one for one, and the
//! bindings map each group to an exception class, so a number, once published, is a promise.
//!
//! Messages say what failed, with which input, and what to do. They never carry secrets (keys,
//! passwords, tokens, grants): constructors take already-redacted text, and `Detail` has no field
//! that could hold one.

use std::fmt;

/// The kind of failure. The discriminant is the stable public code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ErrorKind {
    // 1xx: the caller passed something unusable, or stopped the call.
    InvalidArgument = 100,
    InvalidUtf8 = 101,
    InvalidJson = 102,
    InvalidOrganisationNumber = 103,
    InvalidIdentifier = 104,
    InvalidMessage = 105,
    /// The caller stopped the call (its progress callback asked to cancel).
    Cancelled = 106,

    // 2xx: the configuration is wrong or incomplete.
    ConfigInvalid = 200,
    ConfigUnknownEnvironment = 201,
    ConfigMissingFile = 202,
    ConfigCredential = 203,

    // 3xx: authentication and authorisation.
    AuthFailed = 300,
    AuthInvalidClient = 301,
    AuthCertificateNotRegistered = 302,
    AuthClockSkew = 303,
    AuthScopeNotGranted = 304,
    AuthTokenExpired = 305,
    AuthForbidden = 306,

    // 4xx: the network between us and a service.
    Network = 400,
    Timeout = 401,
    Tls = 402,
    ConnectionDropped = 403,

    // 5xx: a remote service answered with an error.
    RemoteService = 500,
    RemoteRateLimited = 501,
    RemoteUnavailable = 502,
    ReceiverNotFound = 503,
    ReceiverLacksDpo = 504,
    RemoteBadResponse = 505,
    RemoteNotFound = 506,

    // 6xx: cryptography (keys, certificates, signatures, encryption).
    Crypto = 600,
    CertificateInvalid = 601,
    SignatureInvalid = 602,
    DecryptFailed = 603,
    NotForUs = 604,
    KeyInvalid = 605,

    // 7xx: a DPO package, ASiC-E container or SBD is malformed or unsafe.
    PackageInvalid = 700,
    DigestMismatch = 701,
    UnsafeEntry = 702,
    EntryTooLarge = 703,
    SbdInvalid = 704,

    // 8xx: local storage (data directory, spool files, state database).
    Storage = 800,
    NotFound = 801,
    Io = 802,
    AlreadyExists = 803,

    // 9xx: a bug on our side.
    Internal = 900,
    Panic = 901,
}

/// The group a code belongs to; bindings map these to exception classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorGroup {
    InvalidInput,
    Config,
    Auth,
    Network,
    RemoteService,
    Crypto,
    Package,
    Storage,
    Internal,
}

impl ErrorGroup {
    pub fn name(self) -> &'static str {
        match self {
            ErrorGroup::InvalidInput => "invalid_input",
            ErrorGroup::Config => "config",
            ErrorGroup::Auth => "auth",
            ErrorGroup::Network => "network",
            ErrorGroup::RemoteService => "remote_service",
            ErrorGroup::Crypto => "crypto",
            ErrorGroup::Package => "package",
            ErrorGroup::Storage => "storage",
            ErrorGroup::Internal => "internal",
        }
    }
}

impl ErrorKind {
    pub fn code(self) -> u32 {
        self as u32
    }

    pub fn group(self) -> ErrorGroup {
        match self.code() / 100 {
            1 => ErrorGroup::InvalidInput,
            2 => ErrorGroup::Config,
            3 => ErrorGroup::Auth,
            4 => ErrorGroup::Network,
            5 => ErrorGroup::RemoteService,
            6 => ErrorGroup::Crypto,
            7 => ErrorGroup::Package,
            8 => ErrorGroup::Storage,
            _ => ErrorGroup::Internal,
        }
    }

    /// Whether trying the same call again later may succeed.
    pub fn default_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Network
                | ErrorKind::Timeout
                | ErrorKind::ConnectionDropped
                | ErrorKind::RemoteRateLimited
                | ErrorKind::RemoteUnavailable
        )
    }
}

/// Structured facts about a failure, for programs that react to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail {
    /// HTTP status of the remote answer, when there was one.
    pub http_status: Option<u16>,
    /// The remote service's own error code (`invalid_grant`, `MP-250`, `BRO-00006`, an AltinnFault id).
    pub remote_code: Option<String>,
    /// The input field or configuration key at fault (`organisation_number`, `credentials.pkcs12`).
    pub field: Option<String>,
    /// Seconds the service asked us to wait (Retry-After).
    pub retry_after_secs: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    detail: Detail,
    retryable: bool,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            detail: Detail::default(),
            retryable: kind.default_retryable(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    pub fn code(&self) -> u32 {
        self.kind.code()
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn detail(&self) -> &Detail {
        &self.detail
    }
    pub fn retryable(&self) -> bool {
        self.retryable
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.detail.field = Some(field.into());
        self
    }
    pub fn with_http_status(mut self, status: u16) -> Self {
        self.detail.http_status = Some(status);
        self
    }
    pub fn with_remote_code(mut self, code: impl Into<String>) -> Self {
        self.detail.remote_code = Some(code.into());
        self
    }
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.detail.retry_after_secs = Some(secs);
        self
    }
    pub fn retryable_if(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// Prefix the message with what we were doing, keeping kind and detail.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// The detail as a JSON object (what crosses the C ABI as `efm_error_detail_json`).
    pub fn detail_json(&self) -> serde_json::Value {
        serde_json::json!({
            "code": self.code(),
            "kind": format!("{:?}", self.kind),
            "group": self.kind.group().name(),
            "retryable": self.retryable,
            "http_status": self.detail.http_status,
            "remote_code": self.detail.remote_code,
            "field": self.detail.field,
            "retry_after_secs": self.detail.retry_after_secs,
        })
    }

    pub fn io(what: impl fmt::Display, err: std::io::Error) -> Self {
        let kind = match err.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
            _ => ErrorKind::Io,
        };
        Error::new(kind, format!("{what}: {err}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_follow_hundreds() {
        assert_eq!(ErrorKind::InvalidJson.group(), ErrorGroup::InvalidInput);
        assert_eq!(ErrorKind::ConfigMissingFile.group(), ErrorGroup::Config);
        assert_eq!(ErrorKind::Panic.group(), ErrorGroup::Internal);
        assert_eq!(ErrorKind::UnsafeEntry.code(), 702);
    }

    #[test]
    fn detail_json_carries_facts() {
        let e = Error::new(ErrorKind::AuthInvalidClient, "client id unknown")
            .with_http_status(400)
            .with_remote_code("invalid_client");
        let j = e.detail_json();
        assert_eq!(j["http_status"], 400);
        assert_eq!(j["remote_code"], "invalid_client");
        assert_eq!(j["group"], "auth");
        assert_eq!(j["retryable"], false);
    }
}
