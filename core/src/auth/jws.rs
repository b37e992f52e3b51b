//! The little of JOSE that DPO needs, on OpenSSL: RS256 signing (Maskinporten grants), parsing
//! compact JWS and checking RS256 signatures (Service Registry answers), RSA keys from a JWK, and
//! reading the claims of a token we only need the expiry of.
//!
//! Written by hand rather than with `jsonwebtoken` because the Service Registry's payload is not a
//! JWT claims set (no `exp`, `iat`, `aud`), we must pick the key ourselves from a JWK set by `kid`,
//! and every primitive is already in OpenSSL; the whole thing is a few dozen lines.

use crate::error::{Error, ErrorKind, Result};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::Rsa;
use openssl::sign::{Signer, Verifier};
use serde_json::{Map, Value};

/// RSA keys shorter than this are refused (for verification too).
pub const MIN_RSA_BITS: u32 = 2048;

pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

/// Standard base64 with padding, as `x5c` carries certificates (RFC 7515 §4.1.6).
pub fn b64_std(data: &[u8]) -> String {
    STANDARD.encode(data)
}

pub fn b64_std_decode(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok()
}

fn internal(what: &str) -> Error {
    Error::new(ErrorKind::Crypto, format!("OpenSSL failed while {what}"))
}

/// Sign `payload` under `header` (which must already carry `"alg":"RS256"`) with RSA-SHA256 and
/// return the compact serialisation.
pub fn sign_rs256(
    header: &Map<String, Value>,
    payload: &[u8],
    key: &PKey<Private>,
) -> Result<String> {
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(Error::new(
            ErrorKind::Internal,
            "sign_rs256 needs a header with alg RS256",
        ));
    }
    if key.rsa().is_err() {
        return Err(Error::new(
            ErrorKind::KeyInvalid,
            "RS256 needs an RSA private key",
        ));
    }
    let header_json = serde_json::to_vec(header)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("JOSE header: {e}")))?;
    let signing_input = format!("{}.{}", b64url(&header_json), b64url(payload));
    let mut signer =
        Signer::new(MessageDigest::sha256(), key).map_err(|_| internal("preparing to sign"))?;
    signer
        .update(signing_input.as_bytes())
        .map_err(|_| internal("signing"))?;
    let signature = signer.sign_to_vec().map_err(|_| internal("signing"))?;
    Ok(format!("{signing_input}.{}", b64url(&signature)))
}

/// A parsed (not yet verified) compact JWS.
#[derive(Debug, Clone)]
pub struct CompactJws {
    header: Map<String, Value>,
    payload: Vec<u8>,
    signing_input_len: usize,
    text: String,
    signature: Vec<u8>,
}

fn bad(what: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::SignatureInvalid,
        format!("{what} is not a valid signed answer (JWS): {why}"),
    )
}

impl CompactJws {
    /// Parse `header.payload.signature`. `what` names the source for messages.
    pub fn parse(text: &str, what: &str) -> Result<CompactJws> {
        let text = text.trim();
        let mut parts = text.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad(what, "expected three dot-separated parts"));
        };
        let header_bytes = b64url_decode(h).ok_or_else(|| bad(what, "header is not base64url"))?;
        let header: Map<String, Value> = match serde_json::from_slice(&header_bytes) {
            Ok(Value::Object(m)) => m,
            _ => return Err(bad(what, "header is not a JSON object")),
        };
        let payload = b64url_decode(p).ok_or_else(|| bad(what, "payload is not base64url"))?;
        let signature = b64url_decode(s).ok_or_else(|| bad(what, "signature is not base64url"))?;
        Ok(CompactJws {
            header,
            payload,
            signing_input_len: h.len() + 1 + p.len(),
            text: text.to_string(),
            signature,
        })
    }

    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }
    pub fn alg(&self) -> Option<&str> {
        self.header.get("alg").and_then(Value::as_str)
    }
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// The payload bytes. Only trust them after [`CompactJws::verify_rs256`] succeeded.
    pub fn payload_unverified(&self) -> &[u8] {
        &self.payload
    }

    /// Check the RSA-SHA256 signature with `key`. Anything but `alg` RS256 is refused (`none`,
    /// HMAC, other families), as is a header with `crit` extensions we do not understand.
    pub fn verify_rs256(&self, key: &PKey<Public>, what: &str) -> Result<&[u8]> {
        match self.alg() {
            Some("RS256") => {}
            Some(other) => {
                return Err(bad(
                    what,
                    &format!("algorithm {other:?} is not accepted (only RS256)"),
                ))
            }
            None => return Err(bad(what, "header names no algorithm")),
        }
        if self.header.contains_key("crit") {
            return Err(bad(
                what,
                "header has critical extensions we do not support",
            ));
        }
        let rsa = key
            .rsa()
            .map_err(|_| bad(what, "the verification key is not RSA"))?;
        if rsa.size() * 8 < MIN_RSA_BITS {
            return Err(bad(what, "the verification key is shorter than 2048 bits"));
        }
        let mut verifier = Verifier::new(MessageDigest::sha256(), key)
            .map_err(|_| internal("preparing to verify"))?;
        verifier
            .update(&self.text.as_bytes()[..self.signing_input_len])
            .map_err(|_| internal("verifying"))?;
        match verifier.verify(&self.signature) {
            Ok(true) => Ok(&self.payload),
            _ => Err(Error::new(
                ErrorKind::SignatureInvalid,
                format!("{what}: the signature does not verify; the answer was altered or signed with another key"),
            )),
        }
    }
}

/// The RSA public key of a JWK (`kty` RSA, `n`, `e`).
pub fn rsa_public_key_from_jwk(jwk: &Value) -> Result<PKey<Public>> {
    let field = |name: &str| -> Result<BigNum> {
        let s = jwk.get(name).and_then(Value::as_str).ok_or_else(|| {
            Error::new(
                ErrorKind::RemoteBadResponse,
                format!("JWK lacks the RSA member {name:?}"),
            )
        })?;
        let bytes = b64url_decode(s).ok_or_else(|| {
            Error::new(
                ErrorKind::RemoteBadResponse,
                format!("JWK member {name:?} is not base64url"),
            )
        })?;
        BigNum::from_slice(&bytes).map_err(|_| internal("reading a JWK"))
    };
    if jwk.get("kty").and_then(Value::as_str) != Some("RSA") {
        return Err(Error::new(
            ErrorKind::RemoteBadResponse,
            "JWK is not an RSA key",
        ));
    }
    let rsa = Rsa::from_public_components(field("n")?, field("e")?)
        .map_err(|_| internal("building an RSA key from a JWK"))?;
    if rsa.size() * 8 < MIN_RSA_BITS {
        return Err(Error::new(
            ErrorKind::SignatureInvalid,
            "JWK RSA key is shorter than 2048 bits",
        ));
    }
    PKey::from_rsa(rsa).map_err(|_| internal("building an RSA key from a JWK"))
}

/// The claims of a JWT whose signature is someone else's business (a token we only pass on and
/// need the expiry of). Never use the result for a trust decision.
pub fn unverified_claims(token: &str) -> Option<Map<String, Value>> {
    let mut parts = token.split('.');
    let _header = parts.next()?;
    let payload = b64url_decode(parts.next()?)?;
    match serde_json::from_slice(&payload).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> PKey<Private> {
        PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
    }

    fn public(k: &PKey<Private>) -> PKey<Public> {
        PKey::public_key_from_pem(&k.public_key_to_pem().unwrap()).unwrap()
    }

    #[test]
    fn sign_then_verify_and_tamper() {
        let k = key();
        let mut header = Map::new();
        header.insert("alg".into(), json!("RS256"));
        let token = sign_rs256(&header, b"{\"a\":1}", &k).unwrap();
        let jws = CompactJws::parse(&token, "test").unwrap();
        assert_eq!(jws.verify_rs256(&public(&k), "test").unwrap(), b"{\"a\":1}");

        let other = key();
        let e = jws.verify_rs256(&public(&other), "test").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SignatureInvalid);

        // Change one payload character.
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[1] = b64url(b"{\"a\":2}");
        let forged = parts.join(".");
        let e = CompactJws::parse(&forged, "test")
            .unwrap()
            .verify_rs256(&public(&k), "test")
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SignatureInvalid);
    }

    #[test]
    fn refuses_other_algorithms_and_garbage() {
        let k = key();
        let none = format!(
            "{}.{}.",
            b64url(br#"{"alg":"none"}"#),
            b64url(br#"{"a":1}"#)
        );
        let e = CompactJws::parse(&none, "x")
            .unwrap()
            .verify_rs256(&public(&k), "x")
            .unwrap_err();
        assert!(e.message().contains("\"none\""), "{e}");
        for bad in ["", "a.b", "a.b.c.d", "!!.e30.", "e30.!!.abc"] {
            assert!(CompactJws::parse(bad, "x").is_err(), "{bad}");
        }
    }

    #[test]
    fn jwk_round_trip() {
        let k = key();
        let rsa = k.rsa().unwrap();
        let jwk =
            json!({"kty":"RSA","n": b64url(&rsa.n().to_vec()),"e": b64url(&rsa.e().to_vec())});
        let pk = rsa_public_key_from_jwk(&jwk).unwrap();
        assert!(pk.public_eq(&k));
        assert!(rsa_public_key_from_jwk(&json!({"kty":"EC"})).is_err());
        assert!(rsa_public_key_from_jwk(&json!({"kty":"RSA","n":"***","e":"AQAB"})).is_err());
    }

    #[test]
    fn unverified_claims_reads_exp() {
        let t = format!("{}.{}.sig", b64url(b"{}"), b64url(br#"{"exp":123}"#));
        assert_eq!(unverified_claims(&t).unwrap()["exp"], 123);
        assert!(unverified_claims("opaque-token").is_none());
    }
}
