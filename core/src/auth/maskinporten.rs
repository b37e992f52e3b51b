//! The Maskinporten token request (Maskinporten docs: token endpoint and error codes; efm-common
//! `JwtTokenClient`): a form POST of the grant, the JSON answer, and errors turned into advice
//! (wrong client id, certificate not registered, clock off, scope not granted).

use super::grant::Grant;
use super::AccessToken;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{snippet, Http, RemoteErrorText};
use serde::Deserialize;
use std::time::{Duration, SystemTime};

pub const GRANT_TYPE_JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Maskinporten's answers are small; anything bigger is not one.
const MAX_TOKEN_RESPONSE: u64 = 256 * 1024;

/// Used when the answer has no `expires_in` (a comment in the IP's `DpoTokenProducer`: 120 s).
const DEFAULT_EXPIRES_IN: u64 = 120;

#[derive(Deserialize)]
struct RawTokenResponse {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
    scope: Option<String>,
}

/// Who we are, for error messages.
pub struct Caller<'a> {
    pub client_id: &'a str,
    pub audience: &'a str,
    pub scopes: &'a str,
}

/// POST the grant to `token_url` and read the token.
pub fn request_token(
    http: &Http,
    token_url: &str,
    grant: &Grant,
    caller: &Caller<'_>,
) -> Result<AccessToken> {
    let started = SystemTime::now();
    let response = http
        .post(token_url)
        .header("Accept", "application/json")
        .send_form(&[
            ("grant_type", GRANT_TYPE_JWT_BEARER),
            ("assertion", grant.assertion()),
        ])?;
    let status = response.status();
    let retry_after = response.retry_after();
    let shown = response.url().to_string();
    let body = response.read_bytes(MAX_TOKEN_RESPONSE)?;
    if !(200..300).contains(&status) {
        return Err(classify_error(
            status,
            retry_after,
            &body,
            &shown,
            caller,
            &[grant.assertion()],
        ));
    }
    parse_token_response(&body, &shown, started)
}

fn bad_answer(url: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::RemoteBadResponse,
        format!("Maskinporten at {url} answered 200 but {why}"),
    )
}

/// Read a 200 answer: `access_token` (opaque), `expires_in`, `scope`.
pub fn parse_token_response(body: &[u8], url: &str, started: SystemTime) -> Result<AccessToken> {
    let raw: RawTokenResponse = serde_json::from_slice(body)
        .map_err(|_| bad_answer(url, "the body is not the expected JSON object"))?;
    let token = raw
        .access_token
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| bad_answer(url, "without an access_token"))?;
    if let Some(tt) = &raw.token_type {
        if !tt.eq_ignore_ascii_case("bearer") {
            return Err(bad_answer(
                url,
                &format!("with token_type {:?} instead of Bearer", snippet(tt, &[])),
            ));
        }
    }
    // Numbers are the norm; a numeric string is tolerated.
    let expires_in = match raw.expires_in {
        None => {
            log::warn!("Maskinporten answer has no expires_in; assuming {DEFAULT_EXPIRES_IN} s");
            DEFAULT_EXPIRES_IN
        }
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| bad_answer(url, "with an expires_in that is not a whole number"))?,
        Some(serde_json::Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| bad_answer(url, "with an expires_in that is not a number"))?,
        Some(_) => return Err(bad_answer(url, "with an expires_in that is not a number")),
    };
    if expires_in == 0 {
        return Err(bad_answer(url, "with a token that expires at once"));
    }
    // Count the lifetime from when we asked, so the time on the wire is not counted as ours.
    Ok(AccessToken::new(
        token,
        started + Duration::from_secs(expires_in),
        raw.scope,
    ))
}

/// The `MP-nnn` code in an error description, if any.
pub fn mp_code(description: &str) -> Option<String> {
    let b = description.as_bytes();
    (0..b.len().saturating_sub(5)).find_map(|i| {
        let digits = &b[i + 3..i + 6];
        let ok = &b[i..i + 3] == b"MP-"
            && digits.iter().all(u8::is_ascii_digit)
            && b.get(i + 6).is_none_or(|c| !c.is_ascii_digit());
        ok.then(|| description[i..i + 6].to_string())
    })
}

/// Whether `word` occurs in `text` delimited by non-alphanumerics.
fn has_word(text: &str, word: &str) -> bool {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| w == word)
}

/// Turn a Maskinporten error answer into an error that says what to fix.
pub fn classify_error(
    status: u16,
    retry_after: Option<u64>,
    body: &[u8],
    url: &str,
    caller: &Caller<'_>,
    secrets: &[&str],
) -> Error {
    let remote = RemoteErrorText::parse(body);
    let code = remote.code.clone().unwrap_or_default();
    let description = remote.description.clone().unwrap_or_default();
    let mp = mp_code(&description);
    let lower = description.to_ascii_lowercase();
    let said = match (remote.code.as_deref(), remote.description.as_deref()) {
        (Some(c), Some(d)) => format!("{} ({})", snippet(d, secrets), snippet(c, secrets)),
        (Some(c), None) => snippet(c, secrets),
        (None, Some(d)) => snippet(d, secrets),
        (None, None) => "no explanation".to_string(),
    };
    let prefix = format!(
        "Maskinporten at {url} refused a token for client {:?} (HTTP {status}: {said})",
        caller.client_id
    );
    let mp_num: Option<u16> = mp.as_deref().and_then(|m| m[3..].parse().ok());

    let (kind, advice): (ErrorKind, String) = if status == 429 {
        (
            ErrorKind::RemoteRateLimited,
            "too many token requests; wait and retry".into(),
        )
    } else if status >= 500 {
        (
            if (502..=504).contains(&status) {
                ErrorKind::RemoteUnavailable
            } else {
                ErrorKind::RemoteService
            },
            "Maskinporten has a problem; retry later".into(),
        )
    } else if mp_num == Some(100) || code == "invalid_client" || lower.contains("client not found")
    {
        (
            ErrorKind::AuthInvalidClient,
            format!(
                "Maskinporten does not know this client: check credentials.client_id ({:?}) and that the client was created in this environment (test clients do not exist in production)",
                caller.client_id
            ),
        )
    } else if mp_num == Some(110) || lower.contains("claim aud") || lower.contains("audience") {
        (
            ErrorKind::AuthFailed,
            format!(
                "the grant's audience {:?} is wrong: urls.maskinporten_audience must be the issuer of this Maskinporten exactly, trailing slash included",
                caller.audience
            ),
        )
    } else if matches!(mp_num, Some(120..=124))
        || lower.contains("certificate")
        || lower.contains("x5c")
        || lower.contains("expired key")
        || lower.contains("does not match certificate")
    {
        (
            ErrorKind::AuthCertificateNotRegistered,
            "our certificate or key is not the one registered for this client: register the enterprise certificate (or, with credentials.kid, the key) on the client, use a test certificate with test and a production one with production, and check that the certificate's organisation number is the client owner's".into(),
        )
    } else if mp_num == Some(130)
        || lower.contains("expired")
        || lower.contains("issue time")
        || has_word(&lower, "iat")
        || lower.contains("not yet valid")
    {
        (
            ErrorKind::AuthClockSkew,
            "the grant's time was refused: this machine's clock is probably off (Maskinporten allows about 10 s); synchronise it with NTP".into(),
        )
    } else if mp_num == Some(12) || lower.contains("used before") {
        (
            ErrorKind::AuthFailed,
            "Maskinporten saw this grant before (replayed jti); a new grant is made on the next try".into(),
        )
    } else if code == "invalid_scope"
        || matches!(mp_num, Some(200..=299))
        || lower.contains("scope")
    {
        (
            ErrorKind::AuthScopeNotGranted,
            format!(
                "the client has not been granted the scope(s) {:?}: ask for access to them on the client (or fix registry_scopes / the requested scopes)",
                caller.scopes
            ),
        )
    } else if matches!(mp_num, Some(300..=399)) || lower.contains("authorization_details") {
        (
            ErrorKind::AuthFailed,
            "Maskinporten refused the system user in authorization_details: check system_user.org_id and system_user.name (the externalRef of the system user in Altinn)".into(),
        )
    } else if code == "invalid_grant" || code == "invalid_request" {
        (
            ErrorKind::AuthFailed,
            "the grant was refused; check the client id, certificate, scopes and clock".into(),
        )
    } else if status == 401 {
        (
            ErrorKind::AuthInvalidClient,
            "client authentication failed: check credentials.client_id and the certificate".into(),
        )
    } else if status == 403 {
        (
            ErrorKind::AuthScopeNotGranted,
            "access refused: the client lacks a scope or a delegation".into(),
        )
    } else {
        (ErrorKind::AuthFailed, "the token request failed".into())
    };
    let mut e = Error::new(kind, format!("{prefix}: {advice}")).with_http_status(status);
    let remote_code = mp.or(remote.code.map(|c| snippet(&c, secrets)));
    if let Some(c) = remote_code {
        e = e.with_remote_code(c);
    }
    if let Some(s) = retry_after {
        e = e.with_retry_after(s);
    }
    if status >= 500 || status == 429 {
        e = e.retryable_if(true);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller<'static> {
        Caller {
            client_id: "MOVE_IP_910075918",
            audience: "https://test.maskinporten.no/",
            scopes: "move/dpo.read",
        }
    }

    fn classify(status: u16, body: &str) -> Error {
        classify_error(
            status,
            None,
            body.as_bytes(),
            "https://mp/token",
            &caller(),
            &["SECRETGRANT.abc.def"],
        )
    }

    #[test]
    fn finds_mp_codes() {
        assert_eq!(
            mp_code("MP-120 Invalid assertion").as_deref(),
            Some("MP-120")
        );
        assert_eq!(
            mp_code("error MP-012: Grant is used before").as_deref(),
            Some("MP-012")
        );
        assert_eq!(mp_code("MP-1234"), None);
        assert_eq!(mp_code("no code"), None);
        assert_eq!(mp_code("MP-"), None);
    }

    #[test]
    fn classifies_documented_errors() {
        let cases = [
            (
                400,
                r#"{"error":"invalid_grant","error_description":"Invalid assertion. Client authentication failed. Client not found (MP-100)"}"#,
                ErrorKind::AuthInvalidClient,
                "MP-100",
            ),
            (
                401,
                r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#,
                ErrorKind::AuthInvalidClient,
                "invalid_client",
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"MP-120 Invalid assertion. Client authentication failed. Assertion signed with an invalid certificate"}"#,
                ErrorKind::AuthCertificateNotRegistered,
                "MP-120",
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"MP-122 Invalid organization number for client. Does not match certificate orgno"}"#,
                ErrorKind::AuthCertificateNotRegistered,
                "MP-122",
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"MP-130 JWT is expired"}"#,
                ErrorKind::AuthClockSkew,
                "MP-130",
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"Issue time is after now"}"#,
                ErrorKind::AuthClockSkew,
                "invalid_grant",
            ),
            (
                400,
                r#"{"error":"invalid_scope","error_description":"MP-200 Token request contains invalid scopes for client"}"#,
                ErrorKind::AuthScopeNotGranted,
                "MP-200",
            ),
            (
                403,
                r#"{"error":"access_denied","error_description":"MP-250 Consumer has not been granted access to the scope"}"#,
                ErrorKind::AuthScopeNotGranted,
                "MP-250",
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"MP-012 Grant is used before"}"#,
                ErrorKind::AuthFailed,
                "MP-012",
            ),
            (
                400,
                r#"{"error":"invalid_request","error_description":"MP-302 unknown fields in authorization_details"}"#,
                ErrorKind::AuthFailed,
                "MP-302",
            ),
            (503, "", ErrorKind::RemoteUnavailable, ""),
            (429, "", ErrorKind::RemoteRateLimited, ""),
        ];
        for (status, body, kind, code) in cases {
            let e = classify(status, body);
            assert_eq!(e.kind(), kind, "{body}: {e}");
            assert_eq!(e.detail().http_status, Some(status));
            assert_eq!(e.detail().remote_code.as_deref().unwrap_or(""), code, "{e}");
        }
        let e = classify(
            400,
            r#"{"error":"invalid_grant","error_description":"MP-110 Invalid JWT claim aud"}"#,
        );
        assert!(e.message().contains("trailing slash"), "{e}");
        let e = classify(400, r#"{"error":"invalid_client","error_description":"x"}"#);
        assert!(e.message().contains("credentials.client_id"), "{e}");
        assert!(classify(503, "").retryable());
        assert!(!classify(400, r#"{"error":"invalid_scope"}"#).retryable());
    }

    #[test]
    fn echoed_grant_is_redacted() {
        let e = classify(
            400,
            r#"{"error":"invalid_request","error_description":"bad assertion SECRETGRANT.abc.def"}"#,
        );
        assert!(!e.message().contains("SECRETGRANT"), "{e}");
    }

    #[test]
    fn parses_token_answers() {
        let now = SystemTime::now();
        let t = parse_token_response(
            br#"{"access_token":"tok","token_type":"Bearer","expires_in":599,"scope":"a b","extra":1}"#,
            "u",
            now,
        )
        .unwrap();
        assert_eq!(t.secret(), "tok");
        assert_eq!(t.scope(), Some("a b"));
        assert_eq!(t.expires_at(), now + Duration::from_secs(599));
        for bad in [
            r#"{"token_type":"Bearer","expires_in":5}"#,
            r#"{"access_token":"t","token_type":"MAC","expires_in":5}"#,
            r#"{"access_token":"t","expires_in":-1}"#,
            r#"{"access_token":"t","expires_in":0}"#,
            "not json",
        ] {
            let e = parse_token_response(bad.as_bytes(), "u", now).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::RemoteBadResponse, "{bad}");
        }
    }
}
