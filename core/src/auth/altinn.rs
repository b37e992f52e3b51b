//! The Altinn token exchange (IP `AltinnTokenExchangeService`; Altinn Authentication API `GET
//! /authentication/api/v1/exchange/maskinporten`): `GET {altinn_token_exchange}` with the
//! Maskinporten token as bearer; the answer is the Altinn JWT as text. We ask for `text/plain` and
//! still strip quotes, since with a JSON Accept ASP.NET wraps the string in them.
//!
//! The Altinn token's lifetime is read from its own `exp` claim (not verified: Altinn checks its
//! own tokens; we only need to know when to fetch a new one).

use super::jws::unverified_claims;
use super::AccessToken;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{snippet, status_error, Http, RemoteErrorText};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Altinn tokens are a few kilobytes.
const MAX_TOKEN_LEN: u64 = 64 * 1024;

/// Exchange a Maskinporten token for an Altinn token.
pub fn exchange(http: &Http, url: &str, maskinporten_token: &AccessToken) -> Result<AccessToken> {
    let response = http
        .get(url)
        .bearer(maskinporten_token.secret())
        .header("Accept", "text/plain")
        .call()?;
    let status = response.status();
    let shown = response.url().to_string();
    if !response.is_success() {
        let retry_after = response.retry_after();
        let body = response.read_bytes(MAX_TOKEN_LEN).unwrap_or_default();
        let remote = RemoteErrorText::parse(&body);
        let secrets = [maskinporten_token.secret()];
        let said = remote
            .description
            .as_deref()
            .map(|d| format!(" ({})", snippet(d, &secrets)))
            .unwrap_or_default();
        let e = match status {
            401 => Error::new(
                ErrorKind::AuthFailed,
                format!(
                    "the Altinn token exchange at {shown} did not accept our Maskinporten token (HTTP 401{said}): the token must come from the Maskinporten Altinn trusts for this environment, be unexpired, and name our organisation as consumer"
                ),
            )
            .with_http_status(401),
            400 => Error::new(
                ErrorKind::AuthFailed,
                format!("the Altinn token exchange at {shown} refused the request (HTTP 400{said}); check urls.altinn_token_exchange (it must end in /exchange/maskinporten)"),
            )
            .with_http_status(400),
            _ => status_error(
                "the Altinn token exchange",
                &shown,
                status,
                retry_after,
                &remote,
                &secrets,
            ),
        };
        return Err(e);
    }
    let text = response.read_text(MAX_TOKEN_LEN)?;
    parse_exchanged_token(&text, &shown)
}

/// Read the exchange's answer: the JWT, possibly quoted; expiry from its `exp`.
pub fn parse_exchanged_token(body: &str, url: &str) -> Result<AccessToken> {
    let token = body.trim().trim_matches('"').trim();
    let bad = |why: &str| {
        Error::new(
            ErrorKind::RemoteBadResponse,
            format!("the Altinn token exchange at {url} answered 200 but {why}"),
        )
    };
    if token.is_empty() {
        return Err(bad("with an empty body"));
    }
    if token.bytes().any(|b| b.is_ascii_whitespace() || b == b'"') {
        return Err(bad("with something that is not a token"));
    }
    let claims = unverified_claims(token).ok_or_else(|| bad("with something that is not a JWT"))?;
    let exp = claims
        .get("exp")
        .and_then(|v| v.as_u64().or_else(|| v.as_f64().map(|f| f as u64)))
        .ok_or_else(|| bad("with a token that has no exp"))?;
    let expires_at = UNIX_EPOCH + Duration::from_secs(exp);
    if expires_at <= SystemTime::now() {
        return Err(bad(
            "with a token that has already expired (check this machine's clock)",
        ));
    }
    let scope = claims
        .get("scope")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    Ok(AccessToken::new(token.to_string(), expires_at, scope))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jws::b64url;

    fn jwt(exp: u64) -> String {
        format!(
            "{}.{}.c2ln",
            b64url(br#"{"alg":"RS256"}"#),
            b64url(format!(r#"{{"exp":{exp},"scope":"altinn:broker.read"}}"#).as_bytes())
        )
    }

    #[test]
    fn strips_quotes_and_reads_exp() {
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1800;
        for body in [
            jwt(exp),
            format!("\"{}\"", jwt(exp)),
            format!("{}\n", jwt(exp)),
        ] {
            let t = parse_exchanged_token(&body, "u").unwrap();
            assert_eq!(t.secret(), jwt(exp));
            assert_eq!(t.expires_at(), UNIX_EPOCH + Duration::from_secs(exp));
            assert_eq!(t.scope(), Some("altinn:broker.read"));
        }
    }

    #[test]
    fn refuses_non_tokens() {
        for body in ["", "\"\"", "hello world", "a.b", &jwt(1)] {
            let e = parse_exchanged_token(body, "u").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::RemoteBadResponse, "{body:?}");
        }
    }
}
