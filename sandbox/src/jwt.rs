//! Compact JWS (RS256/384/512) signing and verification with OpenSSL, and JWK encoding.
//!
//! Hand-written rather than a JWT crate: the sandbox must inspect malformed tokens field by field
//! to answer with the exact error the real service gives (which header is wrong, which claim),
//! and OpenSSL already gives the RSA primitives the rest of the project uses.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use openssl::hash::{hash, MessageDigest};
use openssl::pkey::{HasPublic, PKey, PKeyRef, Private};
use openssl::sign::{Signer, Verifier};
use openssl::x509::X509;
use serde_json::{json, Value};

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

pub fn b64std(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub fn b64std_decode(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok()
}

/// A JWS split into its parts; nothing is verified yet.
pub struct Jws {
    pub header: Value,
    pub payload_bytes: Vec<u8>,
    pub signing_input: String,
    pub signature: Vec<u8>,
}

impl Jws {
    /// Parse compact serialization. Fails on anything but three base64url parts with a JSON header.
    pub fn parse(token: &str) -> Result<Jws, &'static str> {
        let token = token.trim();
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("not a compact JWS (expected three dot-separated parts)");
        };
        let header_bytes = b64url_decode(h).ok_or("JWS header is not base64url")?;
        let header: Value =
            serde_json::from_slice(&header_bytes).map_err(|_| "JWS header is not JSON")?;
        if !header.is_object() {
            return Err("JWS header is not a JSON object");
        }
        let payload_bytes = b64url_decode(p).ok_or("JWS payload is not base64url")?;
        let signature = b64url_decode(s).ok_or("JWS signature is not base64url")?;
        Ok(Jws {
            header,
            payload_bytes,
            signing_input: format!("{h}.{p}"),
            signature,
        })
    }

    pub fn payload_json(&self) -> Option<Value> {
        serde_json::from_slice::<Value>(&self.payload_bytes)
            .ok()
            .filter(|v| v.is_object())
    }

    pub fn alg(&self) -> Option<&str> {
        self.header.get("alg").and_then(Value::as_str)
    }

    /// Verify the signature with the given public key under the header's algorithm.
    pub fn verify<T: HasPublic>(&self, key: &PKeyRef<T>) -> bool {
        let Some(md) = self.alg().and_then(digest_for) else {
            return false;
        };
        let Ok(mut v) = Verifier::new(md, key) else {
            return false;
        };
        v.verify_oneshot(&self.signature, self.signing_input.as_bytes())
            .unwrap_or(false)
    }
}

pub fn digest_for(alg: &str) -> Option<MessageDigest> {
    match alg {
        "RS256" => Some(MessageDigest::sha256()),
        "RS384" => Some(MessageDigest::sha384()),
        "RS512" => Some(MessageDigest::sha512()),
        _ => None,
    }
}

/// Sign `payload` (any bytes, usually JSON) as a compact RS256 JWS with the given header.
pub fn sign_rs256(key: &PKey<Private>, header: &Value, payload: &[u8]) -> String {
    let h = b64url(header.to_string().as_bytes());
    let p = b64url(payload);
    let input = format!("{h}.{p}");
    let mut signer = Signer::new(MessageDigest::sha256(), key).expect("RSA signer");
    let sig = signer
        .sign_oneshot_to_vec(input.as_bytes())
        .expect("RSA signing");
    format!("{input}.{}", b64url(&sig))
}

/// RFC 7638 thumbprint of an RSA public key (base64url SHA-256 of the canonical JWK).
pub fn thumbprint<T: HasPublic>(key: &PKeyRef<T>) -> String {
    let rsa = key.rsa().expect("RSA key");
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        b64url(&rsa.e().to_vec()),
        b64url(&rsa.n().to_vec())
    );
    b64url(&hash(MessageDigest::sha256(), canonical.as_bytes()).expect("sha256"))
}

/// The public JWK of a certificate's RSA key, with `kid` = thumbprint and `x5c` = the certificate.
pub fn jwk_for_cert(cert: &X509) -> Value {
    let key = cert.public_key().expect("certificate public key");
    let rsa = key.rsa().expect("RSA key");
    json!({
        "kty": "RSA",
        "e": b64url(&rsa.e().to_vec()),
        "n": b64url(&rsa.n().to_vec()),
        "use": "sig",
        "alg": "RS256",
        "kid": thumbprint(&key),
        "x5c": [b64std(&cert.to_der().expect("DER"))],
    })
}

/// Build an RSA public key from a JWK's `n` and `e`.
pub fn public_key_from_jwk(jwk: &Value) -> Option<PKey<openssl::pkey::Public>> {
    if jwk.get("kty")?.as_str()? != "RSA" {
        return None;
    }
    let n = openssl::bn::BigNum::from_slice(&b64url_decode(jwk.get("n")?.as_str()?)?).ok()?;
    let e = openssl::bn::BigNum::from_slice(&b64url_decode(jwk.get("e")?.as_str()?)?).ok()?;
    let rsa = openssl::rsa::Rsa::from_public_components(n, e).ok()?;
    PKey::from_rsa(rsa).ok()
}
