//! The Maskinporten JWT grant (RFC 7523 assertion; Maskinporten docs: JWT grant), as efm-common's
//! `JwtTokenClient` and `JwtHeaderAndSignerFactory` build it for the IP.
//!
//! Header: `alg` RS256 and exactly one of `x5c` (our enterprise certificate, standard base64 DER,
//! leaf only) or `kid` (a key registered at Maskinporten). No `typ`.
//! Claims: `aud` (the issuer exactly, trailing slash included), `iss` (client id), `scope`, `jti`
//! (fresh UUID v4), `iat`, `exp` (`iat` + 120 s), then `resource`, `consumer_org` and
//! `authorization_details` only when asked for. Maskinporten answers 400 to unknown or null
//! claims, so nothing else is ever written.

use super::jws::{b64_std, sign_rs256};
use super::TokenRequest;
use crate::config::Config;
use crate::crypto::keys::Identity;
use crate::error::{Error, ErrorKind, Result};
use crate::ident::{OrgNumber, AUTHORITY};
use openssl::pkey::{PKey, Private};
use serde_json::{json, Map, Value};
use std::fmt;

/// `exp - iat`: Maskinporten refuses more than 120 s.
pub const GRANT_LIFETIME_SECS: u64 = 120;

/// The RAR type of an Altinn system user (Maskinporten docs: system user; IP `ClaimsFactory`).
pub const SYSTEM_USER_TYPE: &str = "urn:altinn:systemuser";

/// How the grant identifies our key to Maskinporten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyReference {
    /// The enterprise certificate in `x5c`.
    Certificate,
    /// A key registered on the client, named by `kid`.
    Kid(String),
}

/// Signs grants for one client.
pub struct GrantSigner {
    client_id: String,
    audience: String,
    key: PKey<Private>,
    header: Map<String, Value>,
    reference: KeyReference,
}

impl fmt::Debug for GrantSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantSigner")
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .field("reference", &self.reference)
            .finish_non_exhaustive()
    }
}

/// A signed grant. Secret: it buys a token for the next two minutes. `Debug` shows only its id.
pub struct Grant {
    assertion: String,
    jti: String,
    iat: u64,
    exp: u64,
}

impl Grant {
    /// The compact JWS, to put in the token request and nowhere else.
    pub fn assertion(&self) -> &str {
        &self.assertion
    }
    pub fn jti(&self) -> &str {
        &self.jti
    }
    pub fn issued_at(&self) -> u64 {
        self.iat
    }
    pub fn expires_at(&self) -> u64 {
        self.exp
    }
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Grant(jti {}, <redacted>)", self.jti)
    }
}

impl GrantSigner {
    pub fn new(
        client_id: &str,
        audience: &str,
        identity: &Identity,
        reference: KeyReference,
    ) -> Result<GrantSigner> {
        if client_id.trim().is_empty() {
            return Err(Error::new(
                ErrorKind::ConfigInvalid,
                "the Maskinporten client id is empty",
            )
            .with_field("credentials.client_id"));
        }
        if audience.is_empty() {
            return Err(Error::new(
                ErrorKind::ConfigInvalid,
                "the Maskinporten audience is empty",
            )
            .with_field("urls.maskinporten_audience"));
        }
        let mut header = Map::new();
        header.insert("alg".into(), json!("RS256"));
        match &reference {
            KeyReference::Certificate => {
                let der = identity.certificate.to_der().map_err(|_| {
                    Error::new(
                        ErrorKind::CertificateInvalid,
                        "cannot encode our certificate for the grant's x5c",
                    )
                })?;
                header.insert("x5c".into(), json!([b64_std(&der)]));
            }
            KeyReference::Kid(kid) => {
                if kid.trim().is_empty() {
                    return Err(
                        Error::new(ErrorKind::ConfigInvalid, "credentials.kid is empty")
                            .with_field("credentials.kid"),
                    );
                }
                header.insert("kid".into(), json!(kid));
            }
        }
        Ok(GrantSigner {
            client_id: client_id.to_string(),
            audience: audience.to_string(),
            key: identity.private_key.clone(),
            header,
            reference,
        })
    }

    /// The signer the configuration asks for: `kid` when `credentials.kid` is set, else `x5c`.
    pub fn from_config(config: &Config, identity: &Identity) -> Result<GrantSigner> {
        let reference = match &config.credentials.kid {
            Some(kid) => KeyReference::Kid(kid.clone()),
            None => KeyReference::Certificate,
        };
        GrantSigner::new(
            &config.credentials.client_id,
            &config.urls.maskinporten_audience,
            identity,
            reference,
        )
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }
    pub fn audience(&self) -> &str {
        &self.audience
    }
    pub fn key_reference(&self) -> &KeyReference {
        &self.reference
    }

    /// Build and sign a grant for `request`, issued at `now` (seconds since the epoch).
    pub fn sign(&self, request: &TokenRequest, now: u64) -> Result<Grant> {
        let scope = request.scope_string()?;
        let jti = uuid::Uuid::new_v4().to_string();
        let exp = now + GRANT_LIFETIME_SECS;
        let mut claims = Map::new();
        claims.insert("aud".into(), json!(self.audience));
        claims.insert("iss".into(), json!(self.client_id));
        claims.insert("scope".into(), json!(scope));
        claims.insert("jti".into(), json!(jti));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(exp));
        if let Some(resource) = &request.resource {
            if resource.trim().is_empty() {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    "the token request's resource is empty; leave it out instead",
                ));
            }
            claims.insert("resource".into(), json!(resource));
        }
        if let Some(org) = &request.consumer_org {
            // Maskinporten wants the plain 9 digits here, not the 0192: form.
            let org = OrgNumber::parse(org).map_err(|e| e.context("consumer_org"))?;
            claims.insert("consumer_org".into(), json!(org.as_str()));
        }
        if let Some(user) = &request.system_user {
            let org = OrgNumber::parse(&user.org_id).map_err(|e| {
                e.context("system user org_id")
                    .with_field("system_user.org_id")
            })?;
            if user.name.trim().is_empty() {
                return Err(Error::new(
                    ErrorKind::ConfigInvalid,
                    "the system user's name (externalRef) is empty",
                )
                .with_field("system_user.name"));
            }
            claims.insert(
                "authorization_details".into(),
                json!([{
                    "type": SYSTEM_USER_TYPE,
                    "systemuser_org": {"authority": AUTHORITY, "ID": org.iso6523()},
                    "externalRef": user.name,
                }]),
            );
        }
        let payload = serde_json::to_vec(&Value::Object(claims))
            .map_err(|e| Error::new(ErrorKind::Internal, format!("grant claims: {e}")))?;
        let assertion = sign_rs256(&self.header, &payload, &self.key)?;
        Ok(Grant {
            assertion,
            jti,
            iat: now,
            exp,
        })
    }
}
