//! The Altinn 3 broker (`/broker/api/v1/filetransfer...`) and Altinn's Maskinporten token exchange,
//! enforcing what spec altinn3-broker.md §7 lists: scopes, party checks, initialize validation,
//! streamed uploads with a size limit, virus-scan delay, search semantics and the 100-row cap,
//! download gating, confirm semantics, expiry, and problem+json errors with BRO codes.

use crate::http::{self, json, json_typed, unauthorized, Issuer};
use crate::jwt;
use crate::state::{
    iso, org_of, Origin, RecipientState, RecipientStatus, State as St, Transfer, TransferStatus,
    DPO_RESOURCE,
};
use crate::store::{self, WriteError};
use crate::Shared;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

const BASE: &str = "/broker/api/v1/filetransfer";
const SCOPE_READ: &str = "altinn:broker.read";
const SCOPE_WRITE: &str = "altinn:broker.write";
const SEARCH_LIMIT: usize = 100;
const ALTINN_TOKEN_LIFETIME_SECS: i64 = 1800;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/authentication/api/v1/exchange/{provider}", get(exchange))
        .route(BASE, post(initialize).get(search))
        .route(&format!("{BASE}/"), post(initialize).get(search))
        .route(&format!("{BASE}/{{id}}"), get(overview))
        .route(&format!("{BASE}/{{id}}/details"), get(details))
        .route(&format!("{BASE}/{{id}}/upload"), post(upload))
        .route(&format!("{BASE}/{{id}}/download"), get(download))
        .route(&format!("{BASE}/{{id}}/confirmdownload"), post(confirm))
}

// ---- errors -------------------------------------------------------------------------------

fn trace_id() -> String {
    let a = Uuid::new_v4().simple().to_string();
    let b = Uuid::new_v4().simple().to_string();
    format!("00-{a}-{}-00", &b[..16])
}

fn rfc_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        401 => "https://tools.ietf.org/html/rfc9110#section-15.5.2",
        403 => "https://tools.ietf.org/html/rfc9110#section-15.5.4",
        404 => "https://tools.ietf.org/html/rfc9110#section-15.5.5",
        409 => "https://tools.ietf.org/html/rfc9110#section-15.5.10",
        415 => "https://tools.ietf.org/html/rfc9110#section-15.5.16",
        416 => "https://tools.ietf.org/html/rfc9110#section-15.5.17",
        503 => "https://tools.ietf.org/html/rfc9110#section-15.6.4",
        _ => "https://tools.ietf.org/html/rfc9110#section-15.6.1",
    }
}

/// An AltinnProblemDetails answer: `code` BRO-nnnnn, RFC 9110 `type`/`title`, `detail`, `traceId`.
pub fn problem(status: StatusCode, code: u32, detail: &str) -> Response {
    json_typed(
        status,
        &json!({
            "code": format!("BRO-{code:05}"),
            "type": rfc_type(status),
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": detail,
            "traceId": trace_id(),
        }),
        "application/problem+json; charset=utf-8",
    )
}

fn not_found() -> Response {
    problem(
        StatusCode::NOT_FOUND,
        1,
        "The requested file transfer was not found",
    )
}

fn no_access() -> Response {
    problem(
        StatusCode::UNAUTHORIZED,
        6,
        "You must use a bearer token that represents a system user with access to the resource in the Resource Rights Registry",
    )
}

/// ASP.NET's ValidationProblemDetails (no `code`).
fn validation(errors: Vec<(String, String)>) -> Response {
    let mut map: Map<String, Value> = Map::new();
    for (field, message) in errors {
        let entry = map.entry(field).or_insert_with(|| json!([]));
        if let Some(a) = entry.as_array_mut() {
            a.push(json!(message));
        }
    }
    json_typed(
        StatusCode::BAD_REQUEST,
        &json!({
            "type": rfc_type(StatusCode::BAD_REQUEST),
            "title": "One or more validation errors occurred.",
            "status": 400,
            "errors": map,
            "traceId": trace_id(),
        }),
        "application/problem+json; charset=utf-8",
    )
}

fn unsupported_media_type() -> Response {
    json_typed(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        &json!({"type": rfc_type(StatusCode::UNSUPPORTED_MEDIA_TYPE), "title": "Unsupported Media Type",
            "status": 415, "traceId": trace_id()}),
        "application/problem+json; charset=utf-8",
    )
}

/// The broker's Accept middleware: a JSON endpoint refuses an Accept that lists neither
/// `application/json` nor `*/*`.
fn check_accept(headers: &HeaderMap) -> Result<(), Response> {
    let values: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        return Ok(());
    }
    let ok = values.iter().flat_map(|v| v.split(',')).any(|m| {
        let m = m.split(';').next().unwrap_or("").trim();
        m.eq_ignore_ascii_case("application/json") || m == "*/*"
    });
    if ok {
        Ok(())
    } else {
        Err((
            StatusCode::NOT_ACCEPTABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Only 'application/json' and '*/*' are supported for the Accept header of this endpoint.",
        )
            .into_response())
    }
}

fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

// ---- authentication -----------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Write,
    Read,
    ReadOrWrite,
}

/// A caller whose token and scope passed. Whether its system user may use the resource is
/// decided later (`party`), after the 404 check, as the broker's handlers do.
struct Caller {
    org: Option<String>,
    scopes: Vec<String>,
    access: bool,
}

impl Caller {
    fn has(&self, s: &str) -> bool {
        self.scopes.iter().any(|x| x == s)
    }
    /// The caller's organisation, if its system user holds access to the resource.
    fn party(&self) -> Result<String, Response> {
        match (&self.org, self.access) {
            (Some(o), true) => Ok(o.clone()),
            _ => Err(no_access()),
        }
    }
}

/// Token, scope and system user checks common to all broker endpoints.
/// Per-minute limits per Maskinporten client and endpoint (spec altinn3-broker.md §6), applied
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

fn authenticate(
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

// ---- token exchange -----------------------------------------------------------------------

async fn exchange(
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

// ---- JSON shapes --------------------------------------------------------------------------

fn recipient_json(r: &RecipientState) -> Value {
    let (status, at) = r.highest();
    json!({
        "recipient": format!("0192:{}", r.org),
        "currentRecipientFileTransferStatusCode": status.name(),
        "currentRecipientFileTransferStatusText": status.text(),
        "currentRecipientFileTransferStatusChanged": iso(at),
    })
}

pub fn overview_json(t: &Transfer) -> Value {
    json!({
        "fileTransferId": t.id.to_string(),
        "resourceId": t.resource_id,
        "fileName": t.file_name,
        "sendersFileTransferReference": t.senders_reference,
        "checksum": t.checksum,
        "useVirusScan": t.use_virus_scan,
        "fileTransferSize": t.size,
        "fileTransferStatus": t.status().name(),
        "fileTransferStatusText": t.status_text(),
        "fileTransferStatusChanged": iso(t.status_changed()),
        "created": iso(t.created),
        "expirationTime": iso(t.expiration),
        "sender": t.sender,
        "recipients": t.recipients.iter().map(recipient_json).collect::<Vec<_>>(),
        "propertyList": t.property_list,
    })
}

fn details_json(t: &Transfer) -> Value {
    let mut v = overview_json(t);
    v["fileTransferStatusHistory"] = t
        .status_history
        .iter()
        .map(|(s, at, text)| {
            json!({"fileTransferStatus": s.name(),
                "fileTransferStatusText": text.clone().unwrap_or_else(|| s.default_text().into()),
                "fileTransferStatusChanged": iso(*at)})
        })
        .collect();
    let mut rh: Vec<(OffsetDateTime, Value)> = Vec::new();
    for r in &t.recipients {
        for (s, at) in &r.history {
            rh.push((
                *at,
                json!({"recipient": format!("0192:{}", r.org),
                    "recipientFileTransferStatusCode": s.name(),
                    "recipientFileTransferStatusText": s.text(),
                    "recipientFileTransferStatusChanged": iso(*at)}),
            ));
        }
    }
    rh.sort_by_key(|x| x.0);
    v["recipientFileTransferStatusHistory"] = rh.into_iter().map(|x| x.1).collect();
    v
}

// ---- initialize ---------------------------------------------------------------------------

fn party_ok(s: &str) -> bool {
    let digits = |d: &str, n: usize| d.len() == n && d.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = s.strip_prefix("urn:altinn:organization:identifier-no:") {
        return digits(rest, 9);
    }
    match s.split_once(':') {
        Some((icd, org)) => digits(icd, 4) && digits(org, 9),
        None => false,
    }
}

struct InitRequest {
    file_name: String,
    resource_id: String,
    senders_reference: Option<String>,
    sender: String,
    recipients: Vec<String>,
    property_list: Map<String, Value>,
    checksum: Option<String>,
    disable_virus_scan: bool,
}

/// Validate the initialize body as the broker's model attributes do. Property names match
/// case-insensitively; unknown properties are ignored.
fn parse_init(body: &[u8]) -> Result<InitRequest, Response> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        validation(vec![(
            "$".into(),
            format!("The JSON value could not be converted: {e}"),
        )])
    })?;
    let obj = v.as_object().ok_or_else(|| {
        validation(vec![(
            "$".into(),
            "The request body must be a JSON object.".into(),
        )])
    })?;
    let lower: HashMap<String, &Value> = obj
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let get = |k: &str| {
        lower
            .get(&k.to_ascii_lowercase())
            .copied()
            .filter(|v| !v.is_null())
    };
    let mut errors: Vec<(String, String)> = Vec::new();
    let string = |k: &str,
                  required: bool,
                  min: usize,
                  max: usize,
                  errors: &mut Vec<(String, String)>|
     -> Option<String> {
        match get(k) {
            None => {
                if required {
                    errors.push((k.into(), format!("The {k} field is required.")));
                }
                None
            }
            Some(Value::String(s)) => {
                let n = s.chars().count();
                if n < min || n > max {
                    errors.push((k.into(), format!("The field {k} must be a string with a minimum length of {min} and a maximum length of {max}.")));
                }
                Some(s.clone())
            }
            Some(_) => {
                errors.push((k.into(), format!("The field {k} must be a string.")));
                None
            }
        }
    };
    let file_name = string("fileName", true, 1, 255, &mut errors);
    let resource_id = string("resourceId", true, 1, 255, &mut errors);
    let senders_reference = string("sendersFileTransferReference", false, 1, 4096, &mut errors);
    let sender = string("sender", true, 0, usize::MAX, &mut errors);
    let checksum = string("checksum", false, 0, usize::MAX, &mut errors);
    if let Some(r) = &resource_id {
        let bare = r.strip_prefix("urn:altinn:resource:").unwrap_or(r);
        if bare.is_empty() || bare.contains(':') {
            errors.push(("resourceId".into(), "The field resourceId must match the regular expression '^(?:urn:altinn:resource:)?[^:]{1,255}$'.".into()));
        }
    }
    if let Some(s) = &sender {
        if !party_ok(s) {
            errors.push(("sender".into(), "Sender must be a valid organization number in the form 0192:<9 digits> or urn:altinn:organization:identifier-no:<9 digits>".into()));
        }
    }
    let mut recipients = Vec::new();
    match get("recipients") {
        None => errors.push((
            "recipients".into(),
            "The recipients field is required.".into(),
        )),
        Some(Value::Array(a)) => {
            if a.is_empty() {
                errors.push((
                    "recipients".into(),
                    "The field recipients must have at least one recipient.".into(),
                ));
            }
            for (i, r) in a.iter().enumerate() {
                match r.as_str() {
                    Some(s) if party_ok(s) => recipients.push(s.to_string()),
                    _ => errors.push((format!("recipients[{i}]"), "Each recipient must be a valid organization number in the form 0192:<9 digits> or urn:altinn:organization:identifier-no:<9 digits>".into())),
                }
            }
        }
        Some(_) => errors.push((
            "recipients".into(),
            "The field recipients must be an array of strings.".into(),
        )),
    }
    let mut property_list = Map::new();
    match get("propertyList") {
        None => {}
        Some(Value::Object(m)) => {
            if m.len() > 10 {
                errors.push((
                    "propertyList".into(),
                    "PropertyList can contain at most 10 properties".into(),
                ));
            }
            for (k, v) in m {
                match v.as_str() {
                    Some(s) if k.chars().count() <= 50 && s.chars().count() <= 3000 => {}
                    Some(_) => errors.push(("propertyList".into(), "PropertyList keys can be at most 50 characters and values at most 3000 characters".into())),
                    None => errors.push(("propertyList".into(), "PropertyList values must be strings".into())),
                }
            }
            property_list = m.clone();
        }
        Some(_) => errors.push((
            "propertyList".into(),
            "The field propertyList must be an object of string values.".into(),
        )),
    }
    let checksum = checksum.filter(|c| !c.is_empty());
    if let Some(c) = &checksum {
        if c.len() != 32
            || !c
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            errors.push(("checksum".into(), "The checksum, if used, must be a MD5 hash value of 32 lower-case hexadecimal characters".into()));
        }
    }
    let disable_virus_scan = match get("disableVirusScan") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push((
                "disableVirusScan".into(),
                "The field disableVirusScan must be a boolean.".into(),
            ));
            false
        }
    };
    if !errors.is_empty() {
        return Err(validation(errors));
    }
    let resource_id = resource_id.unwrap_or_default();
    Ok(InitRequest {
        file_name: file_name.unwrap_or_default(),
        resource_id: resource_id
            .strip_prefix("urn:altinn:resource:")
            .unwrap_or(&resource_id)
            .to_string(),
        senders_reference,
        sender: sender.unwrap_or_default(),
        recipients,
        property_list,
        checksum,
        disable_virus_scan,
    })
}

/// Create a transfer in the shared store (also used by the Altinn 2 broker).
#[allow(clippy::too_many_arguments)]
pub fn create_transfer(
    st: &mut St,
    origin: Origin,
    resource_id: String,
    file_name: String,
    senders_reference: Option<String>,
    sender: String,
    sender_org: String,
    recipient_orgs: Vec<String>,
    property_list: Map<String, Value>,
    checksum: Option<String>,
) -> Uuid {
    let now = st.now();
    let id = Uuid::new_v4();
    st.next_receipt_id += 1;
    let mut recipients: Vec<RecipientState> = Vec::new();
    for org in recipient_orgs {
        if !recipients.iter().any(|r| r.org == org) {
            recipients.push(RecipientState {
                org,
                history: vec![(RecipientStatus::Initialized, now)],
            });
        }
    }
    let t = Transfer {
        id,
        origin,
        resource_id,
        file_name,
        senders_reference,
        sender,
        sender_org,
        recipients,
        property_list,
        checksum,
        use_virus_scan: true,
        size: 0,
        status_history: vec![(TransferStatus::Initialized, now, None)],
        created: now,
        expiration: now + time::Duration::seconds(st.settings.ttl_secs),
        file_path: None,
        processing_until: None,
        malware: false,
        purge_at: None,
        receipt_id: 100_000 + st.next_receipt_id,
    };
    st.transfers.insert(id, t);
    id
}

async fn initialize(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = check_accept(&headers) {
        return r;
    }
    let caller = match authenticate(&shared, &headers, Need::Write, "initialize") {
        Ok(c) => c,
        Err(r) => return r,
    };
    if media_type(&headers) != "application/json" {
        return unsupported_media_type();
    }
    let req = match parse_init(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let org = match caller.party() {
        Ok(o) => o,
        Err(r) => return r,
    };
    let sender_org = org_of(&req.sender).unwrap_or_default();
    if sender_org != org {
        return no_access();
    }
    if req.resource_id != DPO_RESOURCE {
        return problem(
            StatusCode::BAD_REQUEST,
            25,
            &format!("Resource {} is not configured for use in the broker (the sandbox serves {DPO_RESOURCE})", req.resource_id),
        );
    }
    if req.disable_virus_scan {
        return problem(
            StatusCode::BAD_REQUEST,
            20,
            "DisableVirusScan is not approved for this resource",
        );
    }
    let recipients = req.recipients.iter().filter_map(|r| org_of(r)).collect();
    let mut st = shared.lock();
    let id = create_transfer(
        &mut st,
        Origin::Altinn3,
        req.resource_id,
        req.file_name,
        req.senders_reference,
        req.sender,
        sender_org,
        recipients,
        req.property_list,
        req.checksum,
    );
    log::info!("broker: initialized {id}");
    json(StatusCode::OK, &json!({"fileTransferId": id.to_string()}))
}

/// The checks download and confirm share, in the broker's order: token and read scope (401/403),
/// the transfer exists (404 BRO-00001), the caller's system user has access (401 BRO-00006).
/// Gives the transfer id and the caller's organisation.
fn recipient_call(
    shared: &Shared,
    headers: &HeaderMap,
    endpoint: &'static str,
    id: &str,
) -> Result<(Uuid, String), Response> {
    let caller = authenticate(shared, headers, Need::Read, endpoint)?;
    let id = parse_id(id)?;
    let exists = {
        let mut st = shared.lock();
        st.tick();
        st.transfers.contains_key(&id)
    };
    if !exists {
        return Err(not_found());
    }
    Ok((id, caller.party()?))
}

fn parse_id(id: &str) -> Result<Uuid, Response> {
    Uuid::parse_str(id).map_err(|_| {
        validation(vec![(
            "fileTransferId".into(),
            format!("The value '{id}' is not valid."),
        )])
    })
}

// ---- upload -------------------------------------------------------------------------------

async fn upload(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let headers = &parts.headers;
    if let Err(r) = check_accept(headers) {
        return r;
    }
    let caller = match authenticate(&shared, headers, Need::Write, "upload") {
        Ok(c) => c,
        Err(r) => return r,
    };
    if media_type(headers) != "application/octet-stream" {
        return unsupported_media_type();
    }
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let declared: Option<u64> = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let malware = shared
        .lock()
        .take_fault("POST", parts.uri.path(), true)
        .is_some();
    let limit;
    {
        let mut st = shared.lock();
        st.tick();
        limit = st.settings.max_file_size;
        let Some(t) = st.transfers.get_mut(&id) else {
            return not_found();
        };
        match caller.party() {
            Ok(org) if t.sender_org == org => {}
            Ok(_) | Err(_) => return no_access(),
        }
        if t.status() > TransferStatus::UploadStarted {
            return problem(
                StatusCode::CONFLICT,
                4,
                "A file has already been or attempted uploaded to this file transfer. Create a new file transfer to upload again.",
            );
        }
        if declared.is_some_and(|n| n > limit) {
            return problem(
                StatusCode::BAD_REQUEST,
                16,
                &format!("File size exceeds maximum of {limit} bytes"),
            );
        }
        let now = st.now();
        let t = st.transfers.get_mut(&id).expect("present");
        t.set_status(TransferStatus::UploadStarted, now, None);
        t.malware = malware;
    }
    let path = store::payload_path(&shared.store_dir, &id);
    let written = store::write_stream(body.into_data_stream(), &path, limit).await;
    finish_upload(&shared, id, written)
}

/// Record the outcome of an upload (shared with Altinn 2's streamed upload).
pub fn finish_upload(
    shared: &Shared,
    id: Uuid,
    written: Result<store::Written, WriteError>,
) -> Response {
    let mut st = shared.lock();
    let now = st.now();
    let delay = st.settings.virus_scan_delay_ms;
    let max = st.settings.max_file_size;
    let Some(t) = st.transfers.get_mut(&id) else {
        return not_found();
    };
    match written {
        Err(WriteError::TooLarge) => {
            t.set_status(
                TransferStatus::Failed,
                now,
                Some("File size exceeds maximum".into()),
            );
            problem(
                StatusCode::BAD_REQUEST,
                16,
                &format!("File size exceeds maximum of {max} bytes"),
            )
        }
        Err(WriteError::Failed(e)) => {
            log::warn!("broker: upload of {id} failed: {e}");
            t.set_status(
                TransferStatus::Failed,
                now,
                Some("Error occurred while uploading fileTransfer".into()),
            );
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                8,
                "Error occurred while uploading fileTransfer",
            )
        }
        Ok(w) => {
            let path = store::payload_path(&shared.store_dir, &id);
            if let Some(expected) = &t.checksum {
                if *expected != w.md5 {
                    t.set_status(
                        TransferStatus::Failed,
                        now,
                        Some("Checksum mismatch".into()),
                    );
                    let _ = std::fs::remove_file(&path);
                    return problem(
                        StatusCode::BAD_REQUEST,
                        9,
                        "The checksum of uploaded file did not match the checksum specified in initialize call.",
                    );
                }
            }
            t.checksum = Some(w.md5);
            t.size = w.size;
            t.file_path = Some(path);
            t.set_status(TransferStatus::UploadProcessing, now, None);
            t.processing_until = Some(now + time::Duration::milliseconds(delay as i64));
            st.tick();
            log::info!("broker: uploaded {id}");
            json(StatusCode::OK, &json!({"fileTransferId": id.to_string()}))
        }
    }
}

// ---- overview, details --------------------------------------------------------------------

fn visible(
    shared: &Shared,
    headers: &HeaderMap,
    id: &str,
    endpoint: &'static str,
) -> Result<Transfer, Response> {
    check_accept(headers)?;
    let caller = authenticate(shared, headers, Need::ReadOrWrite, endpoint)?;
    let id = parse_id(id)?;
    let t = {
        let mut st = shared.lock();
        st.tick();
        st.transfers.get(&id).cloned()
    };
    // 404 comes before the party check.
    let t = t.ok_or_else(not_found)?;
    let org = caller.party()?;
    let as_sender = t.sender_org == org;
    let as_recipient = t.is_recipient(&org) && caller.has(SCOPE_READ);
    if as_sender || as_recipient {
        Ok(t)
    } else {
        Err(no_access())
    }
}

async fn overview(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match visible(&shared, &headers, &id, "overview") {
        Ok(t) => json(StatusCode::OK, &overview_json(&t)),
        Err(r) => r,
    }
}

async fn details(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match visible(&shared, &headers, &id, "details") {
        Ok(t) => json(StatusCode::OK, &details_json(&t)),
        Err(r) => r,
    }
}

// ---- search -------------------------------------------------------------------------------

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

async fn search(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = check_accept(&headers) {
        return r;
    }
    let caller = match authenticate(&shared, &headers, Need::ReadOrWrite, "search") {
        Ok(c) => c,
        Err(r) => return r,
    };
    let param = |k: &str| {
        q.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    let mut errors = Vec::new();
    let resource = param("resourceId");
    if resource.as_deref().unwrap_or("").is_empty() {
        errors.push((
            "resourceId".to_string(),
            "The resourceId field is required.".to_string(),
        ));
    }
    let status = param("status").map(|s| (TransferStatus::parse(&s), s));
    let recipient_status = param("recipientStatus").map(|s| (RecipientStatus::parse(&s), s));
    let from = param("from").map(|s| (parse_time(&s), s));
    let to = param("to").map(|s| (parse_time(&s), s));
    let ascending = param("orderAscending").map(|s| (s.parse::<bool>().ok(), s));
    let role = param("role").map(|s| s.to_ascii_lowercase());
    if let Some((None, s)) = &status {
        errors.push(("status".into(), format!("The value '{s}' is not valid.")));
    }
    if let Some((None, s)) = &recipient_status {
        errors.push((
            "recipientStatus".into(),
            format!("The value '{s}' is not valid."),
        ));
    }
    for (name, v) in [("from", &from), ("to", &to)] {
        if let Some((None, s)) = v {
            errors.push((name.into(), format!("The value '{s}' is not valid.")));
        }
    }
    if let Some((None, s)) = &ascending {
        errors.push((
            "orderAscending".into(),
            format!("The value '{s}' is not valid."),
        ));
    }
    if let Some(r) = &role {
        if r != "sender" && r != "recipient" {
            errors.push(("role".into(), format!("The value '{r}' is not valid.")));
        }
    }
    if !errors.is_empty() {
        return validation(errors);
    }
    let org = match caller.party() {
        Ok(o) => o,
        Err(r) => return r,
    };
    let resource = resource.unwrap_or_default();
    if resource != DPO_RESOURCE {
        return problem(
            StatusCode::FORBIDDEN,
            5,
            "The resource needs to be registered as an Altinn 3 resource and it has to be associated with a service owner",
        );
    }
    let status = status.and_then(|s| s.0);
    let recipient_status = recipient_status.and_then(|s| s.0);
    let from = from.and_then(|s| s.0);
    let to = to.and_then(|s| s.0);
    let ascending = ascending.and_then(|s| s.0).unwrap_or(false);

    let mut st = shared.lock();
    st.tick();
    let mut hits: Vec<(OffsetDateTime, Uuid)> = Vec::new();
    for t in st.transfers.values() {
        // Transfers initiated over Altinn 2 share the store and the resource.
        if t.resource_id != resource {
            continue;
        }
        let is_sender = t.sender_org == org;
        let recipient = t.recipient(&org);
        let matches_party = if let Some(rs) = recipient_status {
            recipient.is_some_and(|r| r.latest().0 == rs)
        } else {
            match role.as_deref() {
                Some("sender") => is_sender,
                Some("recipient") => recipient.is_some(),
                _ => is_sender || recipient.is_some(),
            }
        };
        if !matches_party {
            continue;
        }
        if status.is_some_and(|s| t.status() != s) {
            continue;
        }
        let key = match status {
            Some(s) => t.entered(s).unwrap_or(t.created),
            None => t.created,
        };
        let in_range = match (from, to) {
            (Some(f), Some(tt)) => key >= f && key <= tt,
            (Some(f), None) => key > f,
            (None, Some(tt)) => key < tt,
            (None, None) => true,
        };
        if in_range {
            hits.push((key, t.id));
        }
    }
    hits.sort_by_key(|h| h.0);
    if !ascending {
        hits.reverse();
    }
    hits.truncate(SEARCH_LIMIT);
    let ids: Vec<String> = hits.into_iter().map(|h| h.1.to_string()).collect();
    json(StatusCode::OK, &json!(ids))
}

// ---- download -----------------------------------------------------------------------------

/// A single `bytes=a-b` range over `total` bytes; Err(()) when unsatisfiable.
fn parse_range(v: &str, total: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = v.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return Some(Err(()));
    }
    let (a, b) = spec.split_once('-')?;
    let r = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            if n == 0 || total == 0 {
                return Some(Err(()));
            }
            (total.saturating_sub(n), total - 1)
        }
        (s, "") => (s.parse().ok()?, total.saturating_sub(1)),
        (s, e) => {
            let (s, e): (u64, u64) = (s.parse().ok()?, e.parse().ok()?);
            (s, e.min(total.saturating_sub(1)))
        }
    };
    if r.0 >= total || r.0 > r.1 {
        return Some(Err(()));
    }
    Some(Ok(r))
}

async fn download(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (id, org) = match recipient_call(&shared, &headers, "download", &id) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let range_header = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (path, size, file_name, range) = {
        let mut st = shared.lock();
        let now = st.now();
        let Some(t) = st.transfers.get_mut(&id) else {
            return not_found();
        };
        if !t.is_recipient(&org) {
            return no_access();
        }
        if !matches!(
            t.status(),
            TransferStatus::Published | TransferStatus::AllConfirmedDownloaded
        ) {
            return problem(
                StatusCode::FORBIDDEN,
                7,
                "The file transfer is not ready for download: its status is not Published",
            );
        }
        let Some(path) = t.file_path.clone() else {
            return problem(
                StatusCode::BAD_REQUEST,
                3,
                "No file has been uploaded for this file transfer",
            );
        };
        let range = match range_header.as_deref().map(|h| parse_range(h, t.size)) {
            None | Some(None) => None,
            Some(Some(Ok(r))) => Some(r),
            Some(Some(Err(()))) => {
                return problem(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    29,
                    "The requested byte range is not valid",
                )
            }
        };
        // Recorded when the stream opens, before any byte is sent (ranged requests at most once
        // per five minutes per caller).
        let r = t.recipient_mut(&org).expect("recipient");
        let (latest, at) = r.latest();
        let debounced = range.is_some()
            && latest == RecipientStatus::DownloadStarted
            && now - at < time::Duration::minutes(5);
        if !debounced {
            r.history.push((RecipientStatus::DownloadStarted, now));
        }
        (path, t.size, t.file_name.clone(), range)
    };
    let (offset, len) = match range {
        Some((a, b)) => (a, b - a + 1),
        None => (0, size),
    };
    let body = match store::file_body(&path, offset, len).await {
        Ok(b) => b,
        Err(e) => {
            log::error!("broker: cannot read {}: {e}", path.display());
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                8,
                "The stored file could not be read",
            );
        }
    };
    let mut r = Response::new(body);
    *r.status_mut() = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = file_name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b".-_~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename={ascii}; filename*=UTF-8''{encoded}"
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some((a, b)) = range {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {a}-{b}/{size}")) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    r
}

// ---- confirm ------------------------------------------------------------------------------

/// Confirm a download for `org` (shared with Altinn 2). Ok(()) on success or no-op.
pub fn confirm_for(st: &mut St, id: Uuid, org: &str) -> Result<(), Response> {
    let now = st.now();
    let grace = st.settings.purge_grace_secs;
    let Some(t) = st.transfers.get_mut(&id) else {
        return Err(not_found());
    };
    if !t.is_recipient(org) {
        return Err(no_access());
    }
    if t.file_path.is_none() && t.status() != TransferStatus::AllConfirmedDownloaded {
        return Err(problem(
            StatusCode::BAD_REQUEST,
            3,
            "No file has been uploaded for this file transfer",
        ));
    }
    if t.status() != TransferStatus::Published {
        return Err(problem(
            StatusCode::BAD_REQUEST,
            10,
            "Confirming download is only allowed while the file transfer is Published",
        ));
    }
    let r = t.recipient_mut(org).expect("recipient");
    if r.reached(RecipientStatus::DownloadConfirmed) {
        return Ok(());
    }
    if !r.reached(RecipientStatus::DownloadStarted) {
        return Err(problem(
            StatusCode::BAD_REQUEST,
            19,
            "Cannot confirm before the file has been downloaded",
        ));
    }
    r.history.push((RecipientStatus::DownloadConfirmed, now));
    if t.recipients
        .iter()
        .all(|r| r.reached(RecipientStatus::DownloadConfirmed))
    {
        t.set_status(TransferStatus::AllConfirmedDownloaded, now, None);
        t.purge_at = Some(now + time::Duration::seconds(grace));
    }
    Ok(())
}

async fn confirm(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = check_accept(&headers) {
        return r;
    }
    let (id, org) = match recipient_call(&shared, &headers, "confirm", &id) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut st = shared.lock();
    match confirm_for(&mut st, id, &org) {
        Ok(()) => {
            let status = st.settings.confirm_status;
            StatusCode::from_u16(status)
                .unwrap_or(StatusCode::NO_CONTENT)
                .into_response()
        }
        Err(r) => r,
    }
}
