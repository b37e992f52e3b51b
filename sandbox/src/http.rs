//! Small HTTP helpers shared by the services: bearer tokens, token verification, JSON answers.

use crate::jwt::Jws;
use crate::Shared;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub fn json(status: StatusCode, value: &Value) -> Response {
    json_typed(status, value, "application/json; charset=utf-8")
}

pub fn json_typed(status: StatusCode, value: &Value, content_type: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        value.to_string(),
    )
        .into_response()
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// 401 with an empty body and a `WWW-Authenticate` challenge, as OAuth resource servers answer.
pub fn unauthorized(description: &str) -> Response {
    let challenge = format!(
        "Bearer error=\"invalid_token\", error_description=\"{}\"",
        description.replace('"', "'")
    );
    let mut r = StatusCode::UNAUTHORIZED.into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// Which issuer a token must come from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Issuer {
    Maskinporten,
    Altinn,
}

/// Verify a token the sandbox issued: signature, issuer, expiry (zero clock skew, sandbox clock).
/// Returns the claims or why it was refused.
pub fn verify_token(shared: &Shared, token: &str, allowed: &[Issuer]) -> Result<Value, String> {
    let jws = Jws::parse(token).map_err(|e| format!("malformed token: {e}"))?;
    if jws.alg() != Some("RS256") {
        return Err("token algorithm must be RS256".into());
    }
    let claims = jws
        .payload_json()
        .ok_or("token payload is not a JSON object")?;
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    let issuer = if iss == shared.maskinporten_issuer() {
        Issuer::Maskinporten
    } else if iss == shared.altinn_issuer() {
        Issuer::Altinn
    } else {
        return Err(format!("The issuer '{iss}' is not trusted here"));
    };
    if !allowed.contains(&issuer) {
        return Err(format!(
            "The issuer '{iss}' is not accepted by this endpoint"
        ));
    }
    let key = match issuer {
        Issuer::Maskinporten => &shared.pki.maskinporten,
        Issuer::Altinn => &shared.pki.altinn,
    };
    if !jws.verify(&key.key) {
        return Err("The token signature is invalid".into());
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or("token has no exp")?;
    let now = shared.lock().now().unix_timestamp();
    if exp <= now {
        return Err(format!("The token expired at {exp} (now {now})"));
    }
    Ok(claims)
}

/// The scopes of verified claims.
pub fn scopes(claims: &Value) -> Vec<String> {
    claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The organisation a broker call acts for: the system user's org, else urn:altinn:orgNumber,
/// else consumer.ID (9 digits).
pub fn caller_org(claims: &Value) -> Option<String> {
    let from_details = claims
        .get("authorization_details")
        .and_then(|d| d.get(0))
        .and_then(|d| d.get("systemuser_org"))
        .and_then(|o| o.get("ID"))
        .and_then(Value::as_str);
    let from_org = claims.get("urn:altinn:orgNumber").and_then(Value::as_str);
    let from_consumer = claims
        .get("consumer")
        .and_then(|c| c.get("ID"))
        .and_then(Value::as_str);
    from_details
        .or(from_org)
        .or(from_consumer)
        .and_then(crate::state::org_of)
}
