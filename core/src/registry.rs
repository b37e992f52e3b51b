//! The eFormidling Service Registry (Digdir docs: eFormidling service registry API; IP
//! `ServiceRegistryClient`): who can receive what, and the receiver's certificate.
//!
//! - `GET {service_registry}/identifier/{orgnr}[/process/{process}]` with `Accept: application/jose`
//!   and a Maskinporten token (scopes `Config::registry_scopes`).
//! - A 2xx answer must be a compact JWS (RS256) that verifies against a key from
//!   `{service_registry}/jwk` (chosen by `kid`, else the first RSA key; the key set is cached for an
//!   hour and fetched again once on an unknown `kid`). Unsigned answers, other algorithms (`none`,
//!   HMAC) and bad signatures are refused. The payload has no nonce, so we also check that it is
//!   about the organisation (and process) we asked for.
//! - Non-2xx answers are unsigned JSON whatever their Content-Type (quirk 11): we branch on the
//!   status. 404 → `ReceiverNotFound` or `ReceiverLacksDpo`, 400 → `ReceiverLacksDpo`, 401 → drop
//!   the token and retry once.
//! - Answers are cached for `Config::registry_cache` per (organisation, process); errors are not.

use crate::auth::cache::SingleFlight;
use crate::auth::jws::{rsa_public_key_from_jwk, CompactJws};
use crate::auth::{TokenRequest, Tokens};
use crate::config::Config;
use crate::crypto::keys::subject_line;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{
    encode_path_segment, snippet, status_error, with_retries, Http, RemoteErrorText, RetryPolicy,
};
use crate::ident::OrgNumber;
use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Public};
use openssl::x509::{X509KeyUsage, X509};
use serde::{Deserialize, Deserializer, Serialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The arkivmelding process the integration point uses when none is given.
pub const DEFAULT_PROCESS: &str = "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0";
/// The process receipts and statuses travel in.
pub const RESPONSE_PROCESS: &str = "urn:no:difi:profile:arkivmelding:response:ver1.0";

const MAX_ANSWER: u64 = 4 * 1024 * 1024;
const MAX_JWKS: u64 = 256 * 1024;
const JWKS_TTL: Duration = Duration::from_secs(3600);

/// The registry's own description of the organisation (`infoRecord`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PostalAddress {
    pub address: Option<String>,
    pub postal_code: Option<String>,
    pub postal_area: Option<String>,
    pub country: Option<String>,
}

/// A summary of a receiver's certificate, for people and programs deciding whether to trust it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CertificateInfo {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    pub sha256_fingerprint: String,
}

/// One service record: a process the organisation can receive, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Capability {
    pub process: String,
    /// `DPO`, `DPV`, `DPF`, `DPE`, `DPI`, `DPH`, or what the registry said.
    pub service_identifier: String,
    pub document_types: Vec<String>,
    pub endpoint_url: Option<String>,
    pub service_code: Option<String>,
    pub service_edition_code: Option<String>,
    /// The Altinn 3 resource id (`service.resource`).
    pub resource: Option<String>,
    pub security_level: Option<i64>,
    pub certificate: Option<CertificateInfo>,
    /// Why the certificate cannot be used (expired, not RSA, ...), when it cannot.
    pub certificate_problem: Option<String>,
}

/// What the Service Registry says an organisation can receive. Serialises to the JSON the CLI
/// prints and the C ABI returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Capabilities {
    pub organisation_number: String,
    pub organisation_name: Option<String>,
    /// The BRREG organisation form (`ORGL`, `KOMM`, `AS`, ...).
    pub entity_type: Option<String>,
    pub postal_address: Option<PostalAddress>,
    /// The process asked for, if any.
    pub process: Option<String>,
    /// Always true: unsigned answers are refused. Stated so readers need not know that.
    pub signed: bool,
    pub capabilities: Vec<Capability>,
}

impl Capabilities {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
    /// Whether the organisation can receive DPO in `process`.
    pub fn has_dpo(&self, process: &str) -> bool {
        self.capabilities
            .iter()
            .any(|c| c.process == process && c.service_identifier == "DPO")
    }
}

/// The DPO record of a receiver for one process: what a sender needs to package and address a
/// message.
#[derive(Clone)]
pub struct DpoRecord {
    pub organisation_number: OrgNumber,
    pub organisation_name: Option<String>,
    pub process: String,
    pub document_types: Vec<String>,
    /// The receiver's certificate, checked: parses, is within its validity, has an RSA key that
    /// may encrypt keys. Encrypt the CMS to this.
    pub certificate: X509,
    pub service_code: Option<String>,
    pub service_edition_code: Option<String>,
    pub resource: Option<String>,
    pub endpoint_url: Option<String>,
}

impl std::fmt::Debug for DpoRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpoRecord")
            .field("organisation_number", &self.organisation_number)
            .field("process", &self.process)
            .field("document_types", &self.document_types)
            .field("certificate", &subject_line(&self.certificate))
            .field("service_code", &self.service_code)
            .field("service_edition_code", &self.service_edition_code)
            .field("resource", &self.resource)
            .field("endpoint_url", &self.endpoint_url)
            .finish()
    }
}

impl DpoRecord {
    /// Whether the receiver accepts `standard` (a document type URN) in this process.
    pub fn accepts(&self, standard: &str) -> bool {
        self.document_types.iter().any(|d| d == standard)
    }
}

// ---- the wire shape ------------------------------------------------------------------------

/// A string, or a number written as one (codes are strings on the wire, but be lenient).
fn lenient_string<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawEntity {
    info_record: Option<RawInfo>,
    service_records: Option<Vec<RawRecord>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct RawInfo {
    #[serde(default, deserialize_with = "lenient_string")]
    identifier: Option<String>,
    organization_name: Option<String>,
    postadresse: Option<RawAddress>,
    entity_type: Option<RawEntityType>,
}

#[derive(Deserialize, Clone)]
struct RawAddress {
    adresse: Option<String>,
    postnummer: Option<String>,
    poststed: Option<String>,
    land: Option<String>,
}

#[derive(Deserialize, Clone)]
struct RawEntityType {
    name: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct RawRecord {
    #[serde(default, deserialize_with = "lenient_string")]
    organisation_number: Option<String>,
    pem_certificate: Option<String>,
    process: Option<String>,
    document_types: Option<Vec<String>>,
    service: Option<RawService>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct RawService {
    identifier: Option<String>,
    endpoint_url: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    service_code: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    service_edition_code: Option<String>,
    security_level: Option<i64>,
    resource: Option<String>,
}

/// A verified, parsed answer.
struct Answer {
    info: RawInfo,
    records: Vec<RawRecord>,
}

// ---- certificates ---------------------------------------------------------------------------

/// Parse the registry's `pemCertificate`: with or without the BEGIN/END armour, with any
/// whitespace or indentation inside.
pub fn parse_registry_certificate(pem: &str) -> Result<X509> {
    let body = match (
        pem.find("-----BEGIN CERTIFICATE-----"),
        pem.find("-----END CERTIFICATE-----"),
    ) {
        (Some(b), Some(e)) if e > b => &pem[b + "-----BEGIN CERTIFICATE-----".len()..e],
        (None, None) => pem,
        _ => {
            return Err(Error::new(
                ErrorKind::CertificateInvalid,
                "the certificate's PEM armour is broken",
            ))
        }
    };
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = crate::auth::jws::b64_std_decode(&b64).ok_or_else(|| {
        Error::new(
            ErrorKind::CertificateInvalid,
            "the certificate is not base64 PEM",
        )
    })?;
    X509::from_der(&der).map_err(|_| {
        Error::new(
            ErrorKind::CertificateInvalid,
            "the certificate is not a readable X.509 certificate",
        )
    })
}

/// Seconds since the epoch of an ASN.1 time.
fn asn1_unix(t: &openssl::asn1::Asn1TimeRef) -> Option<i64> {
    let epoch = Asn1Time::from_unix(0).ok()?;
    let d = epoch.diff(t).ok()?;
    Some(i64::from(d.days) * 86400 + i64::from(d.secs))
}

/// `2026-11-26T17:33:36Z` (`@<seconds>` for a time outside years 0000-9999).
pub(crate) fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("@{unix}"))
}

pub fn certificate_info(cert: &X509) -> CertificateInfo {
    let issuer = cert
        .issuer_name()
        .entries()
        .map(|e| {
            format!(
                "{}={}",
                e.object().nid().short_name().unwrap_or("?"),
                e.data().to_string().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let time =
        |t: &openssl::asn1::Asn1TimeRef| asn1_unix(t).map(rfc3339).unwrap_or_else(|| t.to_string());
    CertificateInfo {
        subject: subject_line(cert),
        issuer,
        serial: cert
            .serial_number()
            .to_bn()
            .ok()
            .and_then(|b| b.to_hex_str().ok())
            .map(|s| s.to_string())
            .unwrap_or_default(),
        not_before: time(cert.not_before()),
        not_after: time(cert.not_after()),
        sha256_fingerprint: cert
            .digest(MessageDigest::sha256())
            .map(|d| {
                d.iter()
                    .map(|b| format!("{b:02X}"))
                    .collect::<Vec<_>>()
                    .join(":")
            })
            .unwrap_or_default(),
    }
}

/// Check that `cert` (described as `who`) is valid now; `renew` says what to do once expired.
pub fn check_validity_period(cert: &X509, who: &str, renew: &str) -> Result<()> {
    let now = Asn1Time::days_from_now(0)
        .map_err(|_| Error::new(ErrorKind::Internal, "cannot read the clock"))?;
    if cert.not_before() > now {
        return Err(Error::new(
            ErrorKind::CertificateInvalid,
            format!(
                "{who} is not valid before {} (or this machine's clock is wrong)",
                cert.not_before()
            ),
        ));
    }
    if cert.not_after() < now {
        return Err(Error::new(
            ErrorKind::CertificateInvalid,
            format!("{who} expired {}; {renew}", cert.not_after()),
        ));
    }
    Ok(())
}

/// Whole days until `cert` expires (negative once expired).
pub fn days_until_expiry(cert: &X509) -> Option<i64> {
    let now = Asn1Time::days_from_now(0).ok()?;
    let d = now.diff(cert.not_after()).ok()?;
    Some(i64::from(d.days))
}

/// Check a receiver's certificate before encrypting to it: within its validity, an RSA key of at
/// least 2048 bits, and a key usage (when present) that allows key encipherment.
pub fn check_receiver_certificate(cert: &X509, orgnr: &str) -> Result<()> {
    let who = format!(
        "the certificate the Service Registry gives for {orgnr} ({})",
        subject_line(cert)
    );
    check_validity_period(
        cert,
        &who,
        "the receiver must renew its enterprise certificate before it can get DPO messages",
    )?;
    let key = cert.public_key().map_err(|_| {
        Error::new(
            ErrorKind::CertificateInvalid,
            format!("{who} has no readable public key"),
        )
    })?;
    let rsa = key.rsa().map_err(|_| {
        Error::new(
            ErrorKind::CertificateInvalid,
            format!("{who} has no RSA key; DPO encrypts with RSA-OAEP"),
        )
    })?;
    if rsa.size() * 8 < 2048 {
        return Err(Error::new(
            ErrorKind::CertificateInvalid,
            format!("{who} has an RSA key of only {} bits", rsa.size() * 8),
        ));
    }
    // The integration point encrypts without looking at key usage (BouncyCastle does not check
    // it), so refusing here would make receivers unreachable that the IP can reach: warn only.
    if let Some(usage) = cert.key_usage() {
        if !usage.contains(X509KeyUsage::KEY_ENCIPHERMENT) {
            log::warn!(
                "{who} lacks keyEncipherment in its key usage; encrypting to it anyway, as the integration point does"
            );
        }
    }
    Ok(())
}

// ---- the client -------------------------------------------------------------------------------

struct Jwks {
    fetched: Instant,
    keys: Vec<(Option<String>, PKey<Public>)>,
}

/// A Service Registry client for one configuration. `Send + Sync`; share it.
pub struct Registry {
    http: Http,
    tokens: Arc<Tokens>,
    base: String,
    token_request: TokenRequest,
    /// Asked for when Maskinporten refuses `token_request`'s scopes (`invalid_scope`).
    fallback_request: Option<TokenRequest>,
    /// Set once the fallback was needed: later lookups ask for it directly.
    use_fallback: std::sync::atomic::AtomicBool,
    cache_for: Duration,
    retry: RetryPolicy,
    answers: SingleFlight<(String, Option<String>), Arc<Answer>>,
    jwks: Mutex<Option<Arc<Jwks>>>,
    /// Certificates already parsed, by their PEM text: a cached answer is read again for every
    /// message, and decoding the certificate (its public key) was a tenth of a small send's CPU.
    certificates: Mutex<std::collections::HashMap<String, X509>>,
}

/// At most this many parsed certificates are kept (then the memo starts over).
const PARSED_CERTIFICATES: usize = 256;

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn check_process(process: &str) -> Result<()> {
    let ok = !process.is_empty()
        && process.len() <= 512
        && process
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '/' | '?' | '#' | '%' | '\\'));
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "process {:?} is not a process URN (e.g. {DEFAULT_PROCESS})",
                snippet(process, &[])
            ),
        )
        .with_field("process"))
    }
}

impl Registry {
    pub fn new(config: &Config, http: Http, tokens: Arc<Tokens>) -> Registry {
        Registry {
            http,
            tokens,
            base: config
                .urls
                .service_registry
                .trim_end_matches('/')
                .to_string(),
            token_request: TokenRequest::for_scopes(&config.registry_scopes),
            fallback_request: config
                .registry_scopes_fallback
                .as_deref()
                .map(TokenRequest::for_scopes),
            use_fallback: std::sync::atomic::AtomicBool::new(false),
            cache_for: config.registry_cache,
            retry: RetryPolicy::default(),
            answers: SingleFlight::new(),
            jwks: Mutex::new(None),
            certificates: Mutex::new(std::collections::HashMap::new()),
        }
    }

    pub fn set_retry_policy(&mut self, policy: RetryPolicy) {
        self.retry = policy;
    }

    /// What `org` can receive (all processes, or the one given), from a signed answer.
    pub fn lookup(&self, org: &OrgNumber, process: Option<&str>) -> Result<Capabilities> {
        let answer = self.answer(org, process)?;
        let info = &answer.info;
        let capabilities = answer
            .records
            .iter()
            .map(|r| {
                let service = r.service.clone();
                let (certificate, certificate_problem) = match r.pem_certificate.as_deref() {
                    None | Some("") => (None, None),
                    Some(pem) => match parse_registry_certificate(pem) {
                        Ok(cert) => (
                            Some(certificate_info(&cert)),
                            check_receiver_certificate(&cert, org.as_str())
                                .err()
                                .map(|e| e.message().to_string()),
                        ),
                        Err(e) => (None, Some(e.message().to_string())),
                    },
                };
                Capability {
                    process: r.process.clone().unwrap_or_default(),
                    service_identifier: service
                        .as_ref()
                        .and_then(|s| s.identifier.clone())
                        .unwrap_or_else(|| "UNKNOWN".into()),
                    document_types: r.document_types.clone().unwrap_or_default(),
                    endpoint_url: service.as_ref().and_then(|s| s.endpoint_url.clone()),
                    service_code: service.as_ref().and_then(|s| s.service_code.clone()),
                    service_edition_code: service
                        .as_ref()
                        .and_then(|s| s.service_edition_code.clone()),
                    resource: service.as_ref().and_then(|s| s.resource.clone()),
                    security_level: service.as_ref().and_then(|s| s.security_level),
                    certificate,
                    certificate_problem,
                }
            })
            .collect();
        Ok(Capabilities {
            organisation_number: org.as_str().to_string(),
            organisation_name: info.organization_name.clone(),
            entity_type: info.entity_type.as_ref().and_then(|e| e.name.clone()),
            postal_address: info.postadresse.as_ref().map(|a| PostalAddress {
                address: a.adresse.clone(),
                postal_code: a.postnummer.clone(),
                postal_area: a.poststed.clone(),
                country: a.land.clone(),
            }),
            process: process.map(str::to_string),
            signed: true,
            capabilities,
        })
    }

    /// The receiver's DPO record for `process`, with its certificate checked.
    pub fn dpo_record(&self, org: &OrgNumber, process: &str) -> Result<DpoRecord> {
        self.select_dpo(org, process, None)
    }

    /// The first DPO record for `process` whose document types include `standard` (the SBD's
    /// `documentIdentification.standard`), as the integration point chooses it (IP
    /// `ServiceRegistryLookup.getServiceRecord`).
    pub fn dpo_record_for_document(
        &self,
        org: &OrgNumber,
        process: &str,
        standard: &str,
    ) -> Result<DpoRecord> {
        self.select_dpo(org, process, Some(standard))
    }

    /// [`parse_registry_certificate`], remembered (the checks that depend on the time still run
    /// on every use).
    fn parsed_certificate(&self, pem: &str) -> Result<X509> {
        let mut memo = self
            .certificates
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(c) = memo.get(pem) {
            return Ok(c.clone());
        }
        let parsed = parse_registry_certificate(pem)?;
        if memo.len() >= PARSED_CERTIFICATES {
            memo.clear();
        }
        memo.insert(pem.to_string(), parsed.clone());
        Ok(parsed)
    }

    fn select_dpo(
        &self,
        org: &OrgNumber,
        process: &str,
        standard: Option<&str>,
    ) -> Result<DpoRecord> {
        let answer = self.answer(org, Some(process))?;
        let mut offered = Vec::new();
        let mut other_types = false;
        for r in answer
            .records
            .iter()
            .filter(|r| r.process.as_deref() == Some(process))
        {
            if let Some(standard) = standard {
                let types = r.document_types.as_deref().unwrap_or_default();
                if !types.iter().any(|t| t == standard) {
                    other_types = true;
                    continue;
                }
            }
            let service = r.service.clone();
            let id = service
                .as_ref()
                .and_then(|s| s.identifier.clone())
                .unwrap_or_else(|| "UNKNOWN".into());
            if id != "DPO" {
                offered.push(id);
                continue;
            }
            let pem = r.pem_certificate.as_deref().unwrap_or("");
            if pem.trim().is_empty() {
                return Err(Error::new(
                    ErrorKind::CertificateInvalid,
                    format!("the Service Registry's DPO record for {org} in {process} has no certificate; the receiver's registration is incomplete"),
                ));
            }
            let certificate = self.parsed_certificate(pem).map_err(|e| {
                e.context(format!(
                    "the certificate in the Service Registry's DPO record for {org}"
                ))
            })?;
            check_receiver_certificate(&certificate, org.as_str())?;
            let service = service.unwrap_or(RawService {
                identifier: None,
                endpoint_url: None,
                service_code: None,
                service_edition_code: None,
                security_level: None,
                resource: None,
            });
            return Ok(DpoRecord {
                organisation_number: org.clone(),
                organisation_name: answer.info.organization_name.clone(),
                process: process.to_string(),
                document_types: r.document_types.clone().unwrap_or_default(),
                certificate,
                service_code: service.service_code,
                service_edition_code: service.service_edition_code,
                resource: service.resource,
                endpoint_url: service.endpoint_url,
            });
        }
        if let (Some(standard), true, true) = (standard, offered.is_empty(), other_types) {
            return Err(Error::new(
                ErrorKind::ReceiverLacksDpo,
                format!("organisation {org} does not accept document type {standard} in process {process} (Service Registry); check the SBD's standard and process"),
            )
            .with_field("document_type"));
        }
        let how = if offered.is_empty() {
            "no service record".to_string()
        } else {
            format!("only {}", offered.join(", "))
        };
        Err(Error::new(
            ErrorKind::ReceiverLacksDpo,
            format!("organisation {org} cannot receive DPO messages in process {process}: the Service Registry has {how} for it; send through another channel or check the process"),
        )
        .with_field("process"))
    }

    /// Forget cached answers (all organisations).
    pub fn clear_cache(&self) {
        self.answers.clear();
    }

    fn answer(&self, org: &OrgNumber, process: Option<&str>) -> Result<Arc<Answer>> {
        if let Some(p) = process {
            check_process(p)?;
        }
        let key = (org.as_str().to_string(), process.map(str::to_string));
        self.answers.get_or_fetch(&key, || {
            let answer = self.fetch(org, process)?;
            Ok((Arc::new(answer), self.cache_for))
        })
    }

    fn url(&self, org: &OrgNumber, process: Option<&str>) -> String {
        match process {
            Some(p) => format!(
                "{}/identifier/{}/process/{}",
                self.base,
                org.as_str(),
                encode_path_segment(p)
            ),
            None => format!("{}/identifier/{}", self.base, org.as_str()),
        }
    }

    /// A Maskinporten token for the lookups, and the request it answers: the configured scopes
    /// (`eformidling:dpo` by default), or, once Maskinporten refused them as `invalid_scope`
    /// (a client registered before integration point v4), the fallback (`move/dpo.read`).
    pub fn token(&self) -> Result<(crate::auth::AccessToken, &TokenRequest)> {
        use std::sync::atomic::Ordering;
        if let Some(fallback) = &self.fallback_request {
            if self.use_fallback.load(Ordering::Relaxed) {
                return Ok((self.tokens.maskinporten(fallback)?, fallback));
            }
            return match self.tokens.maskinporten(&self.token_request) {
                Err(e) if e.kind() == ErrorKind::AuthScopeNotGranted => {
                    log::info!(
                        "Maskinporten refused the Service Registry scope(s) of integration point v4 ({e}); using {:?} instead, as older clients are granted",
                        fallback.scopes
                    );
                    let token = self.tokens.maskinporten(fallback)?;
                    self.use_fallback.store(true, Ordering::Relaxed);
                    Ok((token, fallback))
                }
                other => Ok((other?, &self.token_request)),
            };
        }
        Ok((
            self.tokens.maskinporten(&self.token_request)?,
            &self.token_request,
        ))
    }

    fn fetch(&self, org: &OrgNumber, process: Option<&str>) -> Result<Answer> {
        let url = self.url(org, process);
        let mut refreshed = false;
        loop {
            let (token, token_request) = self.token()?;
            let (status, retry_after, content_type, body) = with_retries(&self.retry, |_| {
                let response = self
                    .http
                    .get(&url)
                    .bearer(token.secret())
                    .header("Accept", "application/jose")
                    .call()?;
                let status = response.status();
                let retry_after = response.retry_after();
                let content_type = response.content_type();
                let body = response.read_bytes(MAX_ANSWER)?;
                if status >= 500 || status == 429 {
                    let remote = RemoteErrorText::parse(&body);
                    return Err(status_error(
                        "the Service Registry",
                        &url,
                        status,
                        retry_after,
                        &remote,
                        &[token.secret()],
                    ));
                }
                Ok((status, retry_after, content_type, body))
            })?;
            if (200..300).contains(&status) {
                return self.verify_answer(&body, content_type.as_deref(), org, process);
            }
            let remote = RemoteErrorText::parse(&body);
            let said = remote
                .description
                .as_deref()
                .map(|d| format!(" ({})", snippet(d, &[token.secret()])))
                .unwrap_or_default();
            match status {
                401 if !refreshed => {
                    // The token may have expired early or been revoked: one retry with a new one.
                    self.tokens.invalidate_maskinporten(token_request, &token);
                    refreshed = true;
                    continue;
                }
                401 => {
                    return Err(Error::new(
                        ErrorKind::AuthFailed,
                        format!("the Service Registry at {} refused our Maskinporten token (HTTP 401{said}): the token must come from the Maskinporten of the same environment and name our organisation as consumer", self.base),
                    )
                    .with_http_status(401))
                }
                403 => {
                    return Err(Error::new(
                        ErrorKind::AuthForbidden,
                        format!("the Service Registry refused the lookup of {org} (HTTP 403{said}): the client lacks a scope for it; check registry_scopes"),
                    )
                    .with_http_status(403))
                }
                404 => {
                    let desc = remote.description.clone().unwrap_or_default();
                    let about_process = process.is_some()
                        && desc.to_ascii_lowercase().contains("process")
                        && !desc.to_ascii_lowercase().starts_with("entity");
                    return Err(if about_process {
                        Error::new(
                            ErrorKind::ReceiverLacksDpo,
                            format!(
                                "organisation {org} cannot receive messages in process {} through eFormidling{said}; check the process, or send through another channel",
                                process.unwrap_or_default()
                            ),
                        )
                        .with_field("process")
                    } else {
                        Error::new(
                            ErrorKind::ReceiverNotFound,
                            format!("the Service Registry does not know organisation {org}{said}; check the organisation number"),
                        )
                        .with_field("organisation_number")
                    }
                    .with_http_status(404));
                }
                400 => {
                    return Err(Error::new(
                        ErrorKind::ReceiverLacksDpo,
                        format!(
                            "the Service Registry cannot offer organisation {org}{} a way to receive (HTTP 400{said})",
                            process.map(|p| format!(" in process {p}")).unwrap_or_default()
                        ),
                    )
                    .with_http_status(400))
                }
                _ => {
                    return Err(status_error(
                        "the Service Registry",
                        &url,
                        status,
                        retry_after,
                        &remote,
                        &[token.secret()],
                    ))
                }
            }
        }
    }

    fn verify_answer(
        &self,
        body: &[u8],
        content_type: Option<&str>,
        org: &OrgNumber,
        process: Option<&str>,
    ) -> Result<Answer> {
        let what = format!("the Service Registry's answer for {org}");
        let text = std::str::from_utf8(body)
            .map_err(|_| Error::new(ErrorKind::SignatureInvalid, format!("{what} is not text")))?;
        if text.trim_start().starts_with('{') {
            return Err(Error::new(
                ErrorKind::SignatureInvalid,
                format!("{what} is unsigned JSON (Content-Type {:?}) although a signed answer (application/jose) was asked for; refusing it", content_type.unwrap_or("none")),
            ));
        }
        let jws = CompactJws::parse(text, &what)?;
        let key = self.key_for(jws.kid())?;
        let payload = jws.verify_rs256(&key, &what)?;
        let entity: RawEntity = serde_json::from_slice(payload).map_err(|e| {
            Error::new(
                ErrorKind::RemoteBadResponse,
                format!("{what} is signed but not the expected JSON: {e}"),
            )
        })?;
        let info = entity.info_record.unwrap_or_default();
        // The signature has no nonce or audience: make sure it is the answer to our question.
        if let Some(id) = &info.identifier {
            if id != org.as_str() && id.strip_prefix("0192:") != Some(org.as_str()) {
                return Err(Error::new(
                    ErrorKind::RemoteBadResponse,
                    format!(
                        "{what} describes organisation {} instead; refusing it",
                        snippet(id, &[])
                    ),
                ));
            }
        }
        let records = entity.service_records.unwrap_or_default();
        for r in &records {
            if let Some(n) = &r.organisation_number {
                if n != org.as_str() && n.strip_prefix("0192:") != Some(org.as_str()) {
                    return Err(Error::new(
                        ErrorKind::RemoteBadResponse,
                        format!(
                            "{what} holds a record for organisation {}; refusing it",
                            snippet(n, &[])
                        ),
                    ));
                }
            }
            if let (Some(p), Some(rp)) = (process, r.process.as_deref()) {
                if p != rp {
                    return Err(Error::new(
                        ErrorKind::RemoteBadResponse,
                        format!(
                            "{what} holds a record for process {} instead of {p}; refusing it",
                            snippet(rp, &[])
                        ),
                    ));
                }
            }
        }
        Ok(Answer { info, records })
    }

    /// The registry's signing key: by `kid` from the (cached) key set, fetched again once when the
    /// `kid` is unknown; else the first RSA key.
    fn key_for(&self, kid: Option<&str>) -> Result<PKey<Public>> {
        let cached = self
            .jwks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .filter(|j| j.fetched.elapsed() < JWKS_TTL);
        let jwks = match cached {
            Some(j) if kid.is_none() || j.keys.iter().any(|(k, _)| k.as_deref() == kid) => j,
            _ => self.fetch_jwks()?,
        };
        if let Some(kid) = kid {
            if let Some((_, key)) = jwks.keys.iter().find(|(k, _)| k.as_deref() == Some(kid)) {
                return Ok(key.clone());
            }
        }
        jwks.keys.first().map(|(_, k)| k.clone()).ok_or_else(|| {
            Error::new(
                ErrorKind::RemoteBadResponse,
                format!(
                    "the Service Registry's key set at {}/jwk has no RSA signing key",
                    self.base
                ),
            )
        })
    }

    fn fetch_jwks(&self) -> Result<Arc<Jwks>> {
        let url = format!("{}/jwk", self.base);
        let response = with_retries(&self.retry, |_| {
            let r = self
                .http
                .get(&url)
                .header("Accept", "application/json")
                .call()?;
            if r.is_success() {
                Ok(r)
            } else {
                Err(r.into_error("the Service Registry's key set", &[]))
            }
        })?;
        let body = response.read_bytes(MAX_JWKS)?;
        let set: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
            Error::new(
                ErrorKind::RemoteBadResponse,
                format!("the Service Registry's key set at {url} is not JSON"),
            )
        })?;
        let keys = set
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::RemoteBadResponse,
                    format!("the Service Registry's key set at {url} has no \"keys\" array"),
                )
            })?
            .iter()
            .filter(|k| k.get("kty").and_then(|v| v.as_str()) == Some("RSA"))
            .filter(|k| {
                k.get("use")
                    .and_then(|v| v.as_str())
                    .is_none_or(|u| u == "sig")
            })
            .filter(|k| {
                k.get("alg")
                    .and_then(|v| v.as_str())
                    .is_none_or(|a| a == "RS256")
            })
            .filter_map(|k| match rsa_public_key_from_jwk(k) {
                Ok(key) => Some((
                    k.get("kid").and_then(|v| v.as_str()).map(str::to_string),
                    key,
                )),
                Err(e) => {
                    log::warn!("skipping a key in the Service Registry's key set: {e}");
                    None
                }
            })
            .collect::<Vec<_>>();
        let jwks = Arc::new(Jwks {
            fetched: Instant::now(),
            keys,
        });
        *self.jwks.lock().unwrap_or_else(|p| p.into_inner()) = Some(jwks.clone());
        Ok(jwks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(784111777), "1994-11-06T08:49:37Z");
        assert_eq!(rfc3339(951782400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn parses_the_mocks_indented_pem() {
        // The Digdir mock answers carry PEM with indentation inside (see tests/fixtures/README.md).
        let text = include_str!(
            "../../tests/fixtures/nextmove/efm-mocks/service_records/910075918/910075918"
        );
        let start = text.find("-----BEGIN CERTIFICATE-----").unwrap();
        let end = text[start..].find("-----END CERTIFICATE-----").unwrap() + start + 25;
        let cert = parse_registry_certificate(&text[start..end]).unwrap();
        assert!(
            subject_line(&cert).contains("910075918"),
            "{}",
            subject_line(&cert)
        );
        let info = certificate_info(&cert);
        assert_eq!(info.not_after, "2025-02-22T12:19:27Z");
        // Expired since: refused for encryption, with the date in the message.
        let e = check_receiver_certificate(&cert, "910075918").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CertificateInvalid);
        assert!(e.message().contains("expired"), "{e}");
        // Without armour, as the registry may store it.
        let bare: String = text[start + 27..end - 25].to_string();
        assert!(parse_registry_certificate(&bare).is_ok());
        assert!(parse_registry_certificate("-----BEGIN CERTIFICATE-----\nAAAA").is_err());
        assert!(parse_registry_certificate("not base64 !").is_err());
    }

    #[test]
    fn process_urns() {
        assert!(check_process(DEFAULT_PROCESS).is_ok());
        assert!(check_process("a/b").is_err());
        assert!(check_process("").is_err());
        assert!(check_process("urn with space").is_err());
    }
}
