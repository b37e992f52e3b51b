//! Token, scope, system-user and rate-limit checks common to all broker endpoints.

use super::*;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Need {
    Write,
    Read,
    ReadOrWrite,
}

/// A caller whose token and scope passed. Whether its system user may use the resource is
/// decided later (`party`), after the 404 check, as the broker's handlers do.
pub(super) struct Caller {
    org: Option<String>,
    scopes: Vec<String>,
    access: bool,
}

impl Caller {
    pub(super) fn has(&self, s: &str) -> bool {
        self.scopes.iter().any(|x| x == s)
    }
    /// The caller's organisation, if its system user holds access to the resource.
    pub(super) fn party(&self) -> Result<String, Response> {
        match (&self.org, self.access) {
            (Some(o), true) => Ok(o.clone()),
            _ => Err(no_access()),
        }
    }
}

/// Per-minute limits per Maskinporten client and endpoint (Altinn's broker documentation,
/// github.com/Altinn/altinn-studio-docs `content/broker/reference/rate-limits`), applied
/// when the `rate_limits` setting is on.
fn rate_limit(endpoint: &str) -> u32 {
    match endpoint {
        "search" | "details" => 10,
        _ => 120,
    }
}

fn check_rate(shared: &Shared, client_id: &str, endpoint: &'static str) -> Result<(), Response> {
    let mut st = shared.lock();
    if !st.settings.rate_limits {
        return Ok(());
    }
    let now = st.now().unix_timestamp();
    let window = now - now.rem_euclid(60);
    let entry = st
        .rate_counters
        .entry((client_id.to_string(), endpoint))
        .or_insert((window, 0));
    if entry.0 != window {
        *entry = (window, 0);
    }
    entry.1 += 1;
    if entry.1 > rate_limit(endpoint) {
        let retry = (window + 60 - now).max(1);
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::CONTENT_TYPE, "application/json")],
            format!(r#"{{"statusCode":429,"message":"Rate limit is exceeded. Try again in {retry} seconds."}}"#),
        )
            .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry as u64));
        return Err(r);
    }
    Ok(())
}

/// Token, scope and system user checks common to all broker endpoints.
pub(super) fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
    need: Need,
    endpoint: &'static str,
) -> Result<Caller, Response> {
    let Some(token) = http::bearer(headers) else {
        return Err(unauthorized("Bearer token required"));
    };
    let allow_mp = shared.lock().settings.broker_accepts_maskinporten_tokens;
    let issuers: &[Issuer] = if allow_mp {
        &[Issuer::Altinn, Issuer::Maskinporten]
    } else {
        &[Issuer::Altinn]
    };
    let claims = http::verify_token(shared, &token, issuers).map_err(|e| unauthorized(&e))?;
    let scopes = http::scopes(&claims);
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let scope_ok = match need {
        Need::Write => has(SCOPE_WRITE),
        Need::Read => has(SCOPE_READ),
        Need::ReadOrWrite => has(SCOPE_READ) || has(SCOPE_WRITE),
    };
    if !scope_ok {
        return Err(StatusCode::FORBIDDEN.into_response());
    }
    // Only a system user holding the access package may use the DPO resource.
    let su_id = claims
        .get("authorization_details")
        .and_then(|d| d.get(0))
        .and_then(|d| d.get("systemuser_id"))
        .and_then(|i| i.get(0))
        .and_then(Value::as_str)
        .map(str::to_string);
    let client_id = claims
        .get("client_id")
        .and_then(Value::as_str)
        .unwrap_or("");
    check_rate(shared, client_id, endpoint)?;
    let org = http::caller_org(&claims);
    let access = match (&su_id, &org) {
        (Some(id), Some(org)) => shared
            .lock()
            .clients
            .values()
            .flat_map(|c| c.system_users.iter())
            .any(|u| u.id == *id && u.org == *org && u.has_access),
        _ => false,
    };
    Ok(Caller {
        org,
        scopes,
        access,
    })
}
