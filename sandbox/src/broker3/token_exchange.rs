//! Altinn's exchange of a Maskinporten token for an Altinn token.

use super::*;

pub(super) async fn exchange(
    State(shared): State<Arc<Shared>>,
    Path(provider): Path<String>,
    headers: HeaderMap,
) -> Response {
    if provider != "maskinporten" {
        return (
            StatusCode::BAD_REQUEST,
            format!("Token provider {provider:?} is not supported; use maskinporten"),
        )
            .into_response();
    }
    let Some(token) = http::bearer(&headers) else {
        return unauthorized("Bearer token required");
    };
    let claims = match http::verify_token(&shared, &token, &[Issuer::Maskinporten]) {
        Ok(c) => c,
        Err(e) => return unauthorized(&e),
    };
    let consumer = claims.get("consumer");
    let authority = consumer
        .and_then(|c| c.get("authority"))
        .and_then(Value::as_str);
    let org = consumer
        .and_then(|c| c.get("ID"))
        .and_then(Value::as_str)
        .and_then(org_of);
    let (Some("iso6523-actorid-upis"), Some(org)) = (authority, org) else {
        return unauthorized("consumer.authority must be iso6523-actorid-upis");
    };
    let mut out = claims.as_object().cloned().unwrap_or_default();
    for k in ["aud", "iss", "client_amr", "jti"] {
        out.remove(k);
    }
    let now = shared.lock().now().unix_timestamp();
    out.insert("urn:altinn:orgNumber".into(), json!(org));
    out.insert(
        "urn:altinn:authenticatemethod".into(),
        json!("maskinporten"),
    );
    out.insert("urn:altinn:authlevel".into(), json!(3));
    out.insert("iss".into(), json!(shared.altinn_issuer()));
    out.insert("jti".into(), json!(Uuid::new_v4().to_string()));
    out.insert("iat".into(), json!(now));
    out.insert("nbf".into(), json!(now));
    out.insert("exp".into(), json!(now + ALTINN_TOKEN_LIFETIME_SECS));
    let cert = &shared.pki.altinn.cert;
    let header = json!({
        "alg": "RS256",
        "typ": "JWT",
        "kid": jwt::thumbprint(&cert.public_key().expect("altinn key")),
        "x5t": jwt::b64url(&cert.digest(openssl::hash::MessageDigest::sha1()).map(|d| d.to_vec()).unwrap_or_default()),
    });
    let altinn = jwt::sign_rs256(
        &shared.pki.altinn.key,
        &header,
        Value::Object(out).to_string().as_bytes(),
    );
    // ASP.NET answers a string as JSON when JSON is asked for, else as text.
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if accept.contains("application/json") && !accept.contains("text/plain") {
        json(StatusCode::OK, &json!(altinn))
    } else {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            altinn,
        )
            .into_response()
    }
}
