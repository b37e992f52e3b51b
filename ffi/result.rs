//! `efm_result`: the stable numeric result codes of the C ABI.
//!
//! The numbers equal `efm_core::ErrorKind` codes one for one (the match below is exhaustive, so a new
//! kind cannot be added without a code here). A number is never reused; retired ones stay as comments.

use efm_core::ErrorKind;

/// Result of every fallible efm function. 0 is success; the hundreds digit gives the group.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum efm_result {
    Ok = 0,

    // 1xx invalid input
    InvalidArgument = 100,
    InvalidUtf8 = 101,
    InvalidJson = 102,
    InvalidOrganisationNumber = 103,
    InvalidIdentifier = 104,
    InvalidMessage = 105,
    /// The caller stopped the call: its progress callback returned false.
    Cancelled = 106,

    // 2xx configuration
    ConfigInvalid = 200,
    ConfigUnknownEnvironment = 201,
    ConfigMissingFile = 202,
    ConfigCredential = 203,

    // 3xx authentication
    AuthFailed = 300,
    AuthInvalidClient = 301,
    AuthCertificateNotRegistered = 302,
    AuthClockSkew = 303,
    AuthScopeNotGranted = 304,
    AuthTokenExpired = 305,
    AuthForbidden = 306,

    // 4xx network
    Network = 400,
    Timeout = 401,
    Tls = 402,
    ConnectionDropped = 403,

    // 5xx remote service
    RemoteService = 500,
    RemoteRateLimited = 501,
    RemoteUnavailable = 502,
    ReceiverNotFound = 503,
    ReceiverLacksDpo = 504,
    RemoteBadResponse = 505,
    RemoteNotFound = 506,

    // 6xx cryptography
    Crypto = 600,
    CertificateInvalid = 601,
    SignatureInvalid = 602,
    DecryptFailed = 603,
    NotForUs = 604,
    KeyInvalid = 605,

    // 7xx package
    PackageInvalid = 700,
    DigestMismatch = 701,
    UnsafeEntry = 702,
    EntryTooLarge = 703,
    SbdInvalid = 704,

    // 8xx storage
    Storage = 800,
    NotFound = 801,
    Io = 802,
    AlreadyExists = 803,

    // 9xx internal
    Internal = 900,
    Panic = 901,
}

impl From<ErrorKind> for efm_result {
    fn from(kind: ErrorKind) -> Self {
        use efm_result as R;
        use ErrorKind as K;
        match kind {
            K::InvalidArgument => R::InvalidArgument,
            K::InvalidUtf8 => R::InvalidUtf8,
            K::InvalidJson => R::InvalidJson,
            K::InvalidOrganisationNumber => R::InvalidOrganisationNumber,
            K::InvalidIdentifier => R::InvalidIdentifier,
            K::InvalidMessage => R::InvalidMessage,
            K::Cancelled => R::Cancelled,
            K::ConfigInvalid => R::ConfigInvalid,
            K::ConfigUnknownEnvironment => R::ConfigUnknownEnvironment,
            K::ConfigMissingFile => R::ConfigMissingFile,
            K::ConfigCredential => R::ConfigCredential,
            K::AuthFailed => R::AuthFailed,
            K::AuthInvalidClient => R::AuthInvalidClient,
            K::AuthCertificateNotRegistered => R::AuthCertificateNotRegistered,
            K::AuthClockSkew => R::AuthClockSkew,
            K::AuthScopeNotGranted => R::AuthScopeNotGranted,
            K::AuthTokenExpired => R::AuthTokenExpired,
            K::AuthForbidden => R::AuthForbidden,
            K::Network => R::Network,
            K::Timeout => R::Timeout,
            K::Tls => R::Tls,
            K::ConnectionDropped => R::ConnectionDropped,
            K::RemoteService => R::RemoteService,
            K::RemoteRateLimited => R::RemoteRateLimited,
            K::RemoteUnavailable => R::RemoteUnavailable,
            K::ReceiverNotFound => R::ReceiverNotFound,
            K::ReceiverLacksDpo => R::ReceiverLacksDpo,
            K::RemoteBadResponse => R::RemoteBadResponse,
            K::RemoteNotFound => R::RemoteNotFound,
            K::Crypto => R::Crypto,
            K::CertificateInvalid => R::CertificateInvalid,
            K::SignatureInvalid => R::SignatureInvalid,
            K::DecryptFailed => R::DecryptFailed,
            K::NotForUs => R::NotForUs,
            K::KeyInvalid => R::KeyInvalid,
            K::PackageInvalid => R::PackageInvalid,
            K::DigestMismatch => R::DigestMismatch,
            K::UnsafeEntry => R::UnsafeEntry,
            K::EntryTooLarge => R::EntryTooLarge,
            K::SbdInvalid => R::SbdInvalid,
            K::Storage => R::Storage,
            K::NotFound => R::NotFound,
            K::Io => R::Io,
            K::AlreadyExists => R::AlreadyExists,
            K::Internal => R::Internal,
            K::Panic => R::Panic,
        }
    }
}

/// The group of a result code as a static lowercase name ("ok", "invalid_input", "config", "auth",
/// "network", "remote_service", "crypto", "package", "storage", "internal"). Never NULL.
#[no_mangle]
pub extern "C" fn efm_result_group(result: u32) -> *const std::ffi::c_char {
    let name: &'static [u8] = match result / 100 {
        _ if result == 0 => b"ok\0",
        1 => b"invalid_input\0",
        2 => b"config\0",
        3 => b"auth\0",
        4 => b"network\0",
        5 => b"remote_service\0",
        6 => b"crypto\0",
        7 => b"package\0",
        8 => b"storage\0",
        _ => b"internal\0",
    };
    name.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_core() {
        for kind in [
            ErrorKind::InvalidJson,
            ErrorKind::ConfigMissingFile,
            ErrorKind::AuthClockSkew,
            ErrorKind::Tls,
            ErrorKind::ReceiverLacksDpo,
            ErrorKind::NotForUs,
            ErrorKind::UnsafeEntry,
            ErrorKind::AlreadyExists,
            ErrorKind::Panic,
        ] {
            assert_eq!(efm_result::from(kind) as u32, kind.code());
        }
    }
}
