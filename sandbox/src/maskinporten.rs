//! Maskinporten's token endpoint (Digdir's Maskinporten documentation at docs.digdir.no; the grant
//! as github.com/felleslosninger/efm-common's `JwtTokenClient` and the integration point's
//! `ClaimsFactory` build it, with Altinn's system-user `authorization_details`):
//! JWT-bearer grants are validated as the real service does and answered with signed access
//! tokens, or with Maskinporten's OAuth error JSON.

use crate::http::json;
use crate::jwt::{self, Jws};
use crate::state::Client;
use crate::Shared;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};
use std::sync::Arc;

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// How far `iat` may be from our clock.
const CLOCK_WINDOW_SECS: i64 = 10;
const MAX_GRANT_LIFETIME_SECS: i64 = 120;
const SYSTEMUSER_TYPE: &str = "urn:altinn:systemuser";
const ISO6523_AUTHORITY: &str = "iso6523-actorid-upis";
/// Claims a grant may carry; any other gives "Invalid assertion".
const KNOWN_CLAIMS: [&str; 13] = [
    "aud",
    "iss",
    "scope",
    "iat",
    "exp",
    "jti",
    "resource",
    "pid",
    "consumer_org",
    "iss_onbehalfof",
    "authorization_details",
    "sub",
    "nbf",
];

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/maskinporten/token", post(token))
        .route("/maskinporten/jwk", get(jwks))
        .route(
            "/maskinporten/.well-known/oauth-authorization-server",
            get(metadata),
        )
}

struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

fn fail(status: StatusCode, error: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError {
        status,
        error,
        description: description.into(),
    }
}

fn grant_error(description: impl Into<String>) -> OAuthError {
    fail(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

impl OAuthError {
    fn into_response(self) -> Response {
        let trace = uuid::Uuid::new_v4().simple().to_string();
        log::info!(
            "maskinporten: refused a grant: {} ({})",
            self.error,
            self.description
        );
        json(
            self.status,
            &json!({
                "error": self.error,
                "error_description": format!("{} (trace_id: {trace})", self.description),
            }),
        )
    }
}

async fn metadata(State(shared): State<Arc<Shared>>) -> Response {
    json(
        StatusCode::OK,
        &json!({
            "issuer": shared.maskinporten_issuer(),
            "token_endpoint": format!("{}/maskinporten/token", shared.base_url),
            "jwks_uri": format!("{}/maskinporten/jwk", shared.base_url),
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "grant_types_supported": [GRANT_TYPE],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "RS384", "RS512"],
            "authorization_details_types_supported": [SYSTEMUSER_TYPE],
        }),
    )
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    json(
        StatusCode::OK,
        &json!({"keys": [jwt::jwk_for_cert(&shared.pki.maskinporten.cert)]}),
    )
}

async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    match issue(&shared, &headers, &body) {
        Ok(v) => {
            let mut r = json(StatusCode::OK, &v);
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            r
        }
        Err(e) => e.into_response(),
    }
}

fn form_fields(body: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    let text = std::str::from_utf8(body).map_err(|_| {
        fail(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Request body is not UTF-8",
        )
    })?;
    let mut out = Vec::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| -> Result<String, OAuthError> {
            let s = s.replace('+', " ");
            percent_decode(&s).ok_or_else(|| {
                fail(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Malformed form encoding",
                )
            })
        };
        out.push((dec(k)?, dec(v)?));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn issue(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ctype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        ));
    }
    let fields = form_fields(body)?;
    let field = |name: &str| -> Result<Option<String>, OAuthError> {
        let mut found = fields.iter().filter(|(k, _)| k == name);
        let first = found.next().map(|(_, v)| v.clone());
        if found.next().is_some() {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("Parameter {name} given more than once"),
            ));
        }
        Ok(first)
    };
    match field("grant_type")? {
        Some(g) if g == GRANT_TYPE => {}
        Some(g) => {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("Unsupported grant_type {g:?}: use {GRANT_TYPE}"),
            ))
        }
        None => {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing parameter grant_type",
            ))
        }
    }
    let assertion = field("assertion")?.ok_or_else(|| {
        fail(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing parameter assertion",
        )
    })?;
    let jws = Jws::parse(&assertion).map_err(|e| {
        fail(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("MP-011 Invalid assertion. Invalid parameter value: {e}"),
        )
    })?;
    let claims = jws.payload_json().ok_or_else(|| {
        fail(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "MP-011 Invalid assertion. Invalid parameter value: the payload is not a JSON object",
        )
    })?;
    let claims = claims.as_object().cloned().unwrap_or_default();

    // Header: RS256/384/512 and exactly one of x5c / kid.
    let alg = jws.alg().unwrap_or("");
    if jwt::digest_for(alg).is_none() {
        return Err(grant_error(format!(
            "Invalid assertion. Unsupported JWT alg {alg:?}: use RS256, RS384 or RS512"
        )));
    }
    let x5c = jws.header.get("x5c");
    let kid = jws.header.get("kid");
    if x5c.is_some() == kid.is_some() {
        return Err(grant_error(
            "MP-123 Invalid JWT header: exactly one of x5c and kid is required",
        ));
    }

    // The client.
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    let client = shared.lock().clients.get(iss).cloned().ok_or_else(|| {
        grant_error(format!(
            "MP-100 Invalid assertion. Client authentication failed. Client not found: {iss:?}"
        ))
    })?;

    // Key: the registered certificate (x5c) or key (kid); then the signature.
    let amr = if let Some(x5c) = x5c {
        let der = x5c
            .as_array()
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .and_then(jwt::b64std_decode)
            .ok_or_else(|| {
                grant_error("MP-123 Invalid JWT header x5c: must be an array of standard-base64 DER certificates")
            })?;
        let cert = openssl::x509::X509::from_der(&der).map_err(|_| {
            grant_error("MP-123 Invalid JWT header x5c: the first element is not a DER certificate")
        })?;
        if !client.certificates.contains(&der) {
            return Err(grant_error(
                "MP-120 Invalid assertion. Client authentication failed. The JWT is signed with an invalid certificate: it is not the certificate registered for the client",
            ));
        }
        check_validity(&cert)?;
        let key = cert
            .public_key()
            .map_err(|_| grant_error("MP-123 Invalid JWT header x5c: no public key"))?;
        if !jws.verify(&key) {
            return Err(grant_error("MP-124 Invalid JWT signature"));
        }
        "virksomhetssertifikat"
    } else {
        let kid = kid.and_then(Value::as_str).unwrap_or("");
        let key = client.keys.get(kid).ok_or_else(|| {
            grant_error(format!(
                "MP-120 Invalid assertion. Client authentication failed. No key with kid {kid:?} is registered for the client"
            ))
        })?;
        if !jws.verify(key) {
            return Err(grant_error("MP-124 Invalid JWT signature"));
        }
        "private_key_jwt"
    };

    if let Some(unknown) = claims.keys().find(|k| !KNOWN_CLAIMS.contains(&k.as_str())) {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("Invalid assertion. Unknown claim {unknown:?}"),
        ));
    }
    for (name, value) in &claims {
        if value.is_null() || value.as_str() == Some("") {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("Invalid assertion. Claim {name:?} is null or empty: leave it out"),
            ));
        }
    }

    // aud must be the issuer exactly, trailing slash included, as one string.
    let issuer = shared.maskinporten_issuer();
    match claims.get("aud") {
        Some(Value::String(a)) if *a == issuer => {}
        other => {
            return Err(grant_error(format!(
                "MP-110 Invalid assertion. Invalid JWT claim aud: expected \"{issuer}\", got {}",
                other
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "nothing".into())
            )))
        }
    }

    // Times.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| grant_error("Invalid assertion. Claim iat is missing or not a number"))?;
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| grant_error("Invalid assertion. Claim exp is missing or not a number"))?;
    if iat > now + CLOCK_WINDOW_SECS {
        return Err(grant_error(format!(
            "MP-130 Invalid assertion. Issue time is after now (iat {iat}, now {now}; allowed skew {CLOCK_WINDOW_SECS} s): check the clock"
        )));
    }
    if iat < now - CLOCK_WINDOW_SECS {
        return Err(grant_error(format!(
            "MP-130 Invalid assertion. Issue time is too far in the past (iat {iat}, now {now}; allowed skew {CLOCK_WINDOW_SECS} s): make a fresh grant per request"
        )));
    }
    if exp <= now {
        return Err(grant_error("MP-130 Invalid assertion. JWT is expired"));
    }
    if exp - iat > MAX_GRANT_LIFETIME_SECS {
        return Err(grant_error(format!(
            "Invalid assertion. The JWT lifetime exp - iat is {} s; at most {MAX_GRANT_LIFETIME_SECS} s is allowed",
            exp - iat
        )));
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_i64) {
        if nbf > now + CLOCK_WINDOW_SECS {
            return Err(grant_error("Invalid assertion. JWT is not valid yet (nbf)"));
        }
    }

    // Scopes.
    let scope = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let requested: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    if requested.is_empty() {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "MP-200 Token request contains no scope: the grant must ask for at least one",
        ));
    }
    if scope.contains("  ") || scope.starts_with(' ') || scope.ends_with(' ') {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "MP-200 Scopes must be separated by single spaces",
        ));
    }
    let not_allowed: Vec<&str> = requested
        .iter()
        .copied()
        .filter(|s| !client.scopes.contains(*s))
        .collect();
    if !not_allowed.is_empty() {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!(
                "MP-200 Token request contains invalid scopes for client: {}",
                not_allowed.join(" ")
            ),
        ));
    }

    if let Some(co) = claims.get("consumer_org").and_then(Value::as_str) {
        if co == client.orgnr {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The combination consumer_org in claim and delegation scope on client is invalid: consumer_org is the client's own organisation",
            ));
        }
        return Err(fail(
            StatusCode::FORBIDDEN,
            "access_denied",
            format!("MP-251 Consumer {co} has not delegated access to the scope to the client's organisation"),
        ));
    }

    let details = match claims.get("authorization_details") {
        None => None,
        Some(d) => Some(system_user_details(&client, d)?),
    };

    // Replay: the jti is remembered until the grant expires.
    if let Some(jti) = claims.get("jti") {
        let jti = jti
            .as_str()
            .ok_or_else(|| grant_error("Invalid assertion. Claim jti must be a string"))?;
        let mut st = shared.lock();
        st.tick();
        if st.used_jti.contains_key(jti) {
            return Err(grant_error(
                "MP-012 Invalid assertion. Grant is used before",
            ));
        }
        st.used_jti.insert(jti.to_string(), exp);
    }

    let (lifetime, now_sandbox) = {
        let st = shared.lock();
        (st.settings.token_lifetime_secs, st.now().unix_timestamp())
    };
    let mut token_claims = Map::new();
    token_claims.insert("iss".into(), json!(issuer));
    token_claims.insert("client_amr".into(), json!(amr));
    token_claims.insert("token_type".into(), json!("Bearer"));
    token_claims.insert(
        "aud".into(),
        claims
            .get("resource")
            .cloned()
            .unwrap_or(json!("unspecified")),
    );
    token_claims.insert("scope".into(), json!(requested.join(" ")));
    token_claims.insert("client_id".into(), json!(client.client_id));
    token_claims.insert(
        "consumer".into(),
        json!({"authority": ISO6523_AUTHORITY, "ID": format!("0192:{}", client.orgnr)}),
    );
    if let Some(d) = details {
        token_claims.insert("authorization_details".into(), d);
    }
    token_claims.insert("iat".into(), json!(now_sandbox));
    token_claims.insert("exp".into(), json!(now_sandbox + lifetime));
    token_claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
    let header = json!({"alg": "RS256", "kid": jwt::thumbprint(&shared.pki.maskinporten.key)});
    let access_token = jwt::sign_rs256(
        &shared.pki.maskinporten.key,
        &header,
        Value::Object(token_claims).to_string().as_bytes(),
    );
    log::info!(
        "maskinporten: token for {} scope {:?}",
        client.client_id,
        requested.join(" ")
    );
    Ok(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": requested.join(" "),
    }))
}

fn check_validity(cert: &openssl::x509::X509) -> Result<(), OAuthError> {
    let now = openssl::asn1::Asn1Time::days_from_now(0)
        .map_err(|_| grant_error("MP-120 certificate check failed"))?;
    let expired = cert.not_after() < now;
    let not_yet = cert.not_before() > now;
    if expired || not_yet {
        return Err(grant_error(
            "MP-120 Invalid assertion. Client authentication failed. The JWT is signed with an invalid certificate: it is expired or not yet valid",
        ));
    }
    Ok(())
}

fn rar_error(code: &str, text: String) -> OAuthError {
    fail(
        StatusCode::BAD_REQUEST,
        "invalid_authorization_details",
        format!("{code} {text}"),
    )
}

/// Check `authorization_details` for an Altinn system user and build the token's version of it.
fn system_user_details(client: &Client, d: &Value) -> Result<Value, OAuthError> {
    let items = d.as_array().ok_or_else(|| {
        rar_error(
            "MP-303",
            "authorization_details must be a JSON array".into(),
        )
    })?;
    if items.len() != 1 {
        return Err(rar_error(
            "MP-303",
            format!(
                "authorization_details must hold exactly one object (one organisation per grant), got {}",
                items.len()
            ),
        ));
    }
    let item = items[0].as_object().ok_or_else(|| {
        rar_error(
            "MP-303",
            "authorization_details[0] must be an object".into(),
        )
    })?;
    let typ = item.get("type").and_then(Value::as_str).unwrap_or("");
    if typ != SYSTEMUSER_TYPE {
        return Err(rar_error(
            "MP-301",
            format!("Unknown authorization_details type {typ:?}: expected {SYSTEMUSER_TYPE:?}"),
        ));
    }
    if let Some(k) = item
        .keys()
        .find(|k| !["type", "systemuser_org", "externalRef"].contains(&k.as_str()))
    {
        return Err(rar_error(
            "MP-302",
            format!("Unknown field {k:?} in authorization_details of type {SYSTEMUSER_TYPE}"),
        ));
    }
    let org = item
        .get("systemuser_org")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            rar_error(
                "MP-303",
                "systemuser_org must be an object with authority and ID".into(),
            )
        })?;
    if let Some(k) = org
        .keys()
        .find(|k| !["authority", "ID"].contains(&k.as_str()))
    {
        return Err(rar_error(
            "MP-302",
            format!("Unknown field {k:?} in systemuser_org"),
        ));
    }
    let authority = org.get("authority").and_then(Value::as_str).unwrap_or("");
    if authority != ISO6523_AUTHORITY {
        return Err(rar_error(
            "MP-303",
            format!("systemuser_org.authority must be {ISO6523_AUTHORITY:?}, got {authority:?}"),
        ));
    }
    let id = org.get("ID").and_then(Value::as_str).unwrap_or("");
    let orgnr = id
        .strip_prefix("0192:")
        .filter(|d| d.len() == 9 && d.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            rar_error(
                "MP-303",
                format!("systemuser_org.ID must be \"0192:\" followed by 9 digits, got {id:?}"),
            )
        })?;
    let external_ref = match item.get("externalRef") {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            return Err(rar_error("MP-303", "externalRef must be a string".into()));
        }
    };
    let user = client
        .system_users
        .iter()
        .find(|u| u.org == orgnr && external_ref.is_none_or(|r| r == u.external_ref))
        .ok_or_else(|| {
            fail(
                StatusCode::BAD_REQUEST,
                "invalid_authorization_details",
                format!(
                    "MP-303 No system user {} for organisation {id} is registered on client {}",
                    external_ref
                        .map(|r| format!("with externalRef {r:?}"))
                        .unwrap_or_default(),
                    client.client_id
                ),
            )
        })?;
    let mut out = json!({
        "type": SYSTEMUSER_TYPE,
        "systemuser_id": [user.id],
        "systemuser_org": {"authority": ISO6523_AUTHORITY, "ID": id},
        "system_id": format!("{}_integrasjonspunkt", client.orgnr),
    });
    if let Some(r) = external_ref {
        out["externalRef"] = json!(r);
    }
    Ok(json!([out]))
}
