//! Helpers for the sandbox's HTTP tests: a sandbox in a fresh directory, an HTTP agent that
//! does not turn 4xx into errors, and Maskinporten grants signed with OpenSSL directly.
// Each test binary uses a different part of these helpers.
#![allow(dead_code, unused_imports)]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use efm_core::config::Config;
use efm_core::crypto::Identity;
use efm_sandbox::Sandbox;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use serde_json::{json, Value};

pub use efm_test_support::sandbox::{seeded_dir, start, start_with};
pub use efm_test_support::{temp_dir, ORG_A, ORG_B, ORG_C};

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

pub struct Org {
    pub orgnr: String,
    pub config: Config,
    pub identity: Identity,
}

pub fn org(sandbox: &Sandbox, orgnr: &str) -> Org {
    let text = std::fs::read_to_string(sandbox.config_path(orgnr)).unwrap();
    let config = Config::from_json(&text).unwrap();
    let identity = Identity::load(&config.credentials.key).unwrap();
    Org {
        orgnr: orgnr.to_string(),
        config,
        identity,
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn b64url(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

pub fn sign(key: &PKey<Private>, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut s = Signer::new(MessageDigest::sha256(), key).unwrap();
    let sig = s.sign_oneshot_to_vec(input.as_bytes()).unwrap();
    format!("{input}.{}", b64url(&sig))
}

pub fn x5c_header(org: &Org) -> Value {
    json!({"alg": "RS256", "x5c": [STANDARD.encode(org.identity.certificate.to_der().unwrap())]})
}

/// Claims as the integration point writes them.
pub fn claims(org: &Org, scope: &str) -> Value {
    let iat = now();
    json!({
        "aud": org.config.urls.maskinporten_audience,
        "iss": org.config.credentials.client_id,
        "scope": scope,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": iat,
        "exp": iat + 120,
    })
}

pub fn system_user_claims(org: &Org, scope: &str) -> Value {
    let mut c = claims(org, scope);
    c["authorization_details"] = json!([{
        "type": "urn:altinn:systemuser",
        "systemuser_org": {"authority": "iso6523-actorid-upis", "ID": org.config.system_user.org_id},
        "externalRef": org.config.system_user.name,
    }]);
    c
}

/// POST a grant; (status, JSON body).
pub fn post_grant(org: &Org, assertion: &str) -> (u16, Value) {
    let mut r = agent()
        .post(&org.config.urls.maskinporten_token)
        .send_form([
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion),
        ])
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.body_mut().read_json().unwrap_or(Value::Null);
    (status, body)
}

pub fn token(org: &Org, scope: &str) -> String {
    let (s, b) = post_grant(
        org,
        &sign(
            &org.identity.private_key,
            &x5c_header(org),
            &claims(org, scope),
        ),
    );
    assert_eq!(s, 200, "{b}");
    b["access_token"].as_str().unwrap().to_string()
}

pub fn system_user_token(org: &Org, scope: &str) -> String {
    let (s, b) = post_grant(
        org,
        &sign(
            &org.identity.private_key,
            &x5c_header(org),
            &system_user_claims(org, scope),
        ),
    );
    assert_eq!(s, 200, "{b}");
    b["access_token"].as_str().unwrap().to_string()
}

/// Exchange a Maskinporten token for an Altinn token.
pub fn altinn_token(org: &Org, scope: &str) -> String {
    let mp = system_user_token(org, scope);
    let mut r = agent()
        .get(&org.config.urls.altinn_token_exchange)
        .header("Authorization", &format!("Bearer {mp}"))
        .header("Accept", "text/plain")
        .call()
        .unwrap();
    let status = r.status().as_u16();
    let www = format!("{:?}", r.headers().get("www-authenticate"));
    assert_eq!(status, 200, "{www}");
    r.body_mut().read_to_string().unwrap()
}

/// Decode a JWT payload without checking it.
pub fn payload(token: &str) -> Value {
    let p = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}
