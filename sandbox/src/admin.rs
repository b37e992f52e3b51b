//! Test controls under `/admin` (not part of any real API): register organisations, clients,
//! keys, system users and Altinn 2 reportees; list transfers; inject faults; change settings;
//! advance the clock; expire or force the status of transfers. Documented in sandbox/README.md.

use crate::broker3::overview_json;
use crate::http::json;
use crate::state::{iso, org_of, FaultKind, SystemUserReg, TransferStatus};
use crate::Shared;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/admin/state", get(state))
        .route("/admin/organisations", post(add_organisation))
        .route("/admin/clients", post(add_client))
        .route("/admin/system-users", post(add_system_user))
        .route("/admin/altinn2/reportees", post(add_reportee))
        .route("/admin/transfers", get(transfers))
        .route("/admin/transfers/{id}/expire", post(expire))
        .route("/admin/transfers/{id}/status", post(force_status))
        .route(
            "/admin/faults",
            get(faults).post(add_fault).delete(clear_faults),
        )
        .route("/admin/faults/{id}", delete(remove_fault))
        .route("/admin/clock", get(clock))
        .route("/admin/clock/advance", post(advance_clock))
        .route("/admin/settings", get(settings).post(change_settings))
}

fn bad(message: impl Into<String>) -> Response {
    json(StatusCode::BAD_REQUEST, &json!({"error": message.into()}))
}

fn body_json(body: &[u8]) -> Result<Value, Response> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| bad("the request body must be a JSON object"))
}

fn str_field<'a>(v: &'a Value, k: &str) -> Result<&'a str, Response> {
    v.get(k)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("\"{k}\" (a string) is required")))
}

async fn state(State(shared): State<Arc<Shared>>) -> Response {
    let mut st = shared.lock();
    st.tick();
    let orgs: Vec<Value> = st
        .orgs
        .values()
        .map(|o| {
            json!({"organisation_number": o.orgnr, "name": o.name,
                "config": crate::pki::OrgFiles::new(&shared.dir, &o.orgnr).config})
        })
        .collect();
    let clients: Vec<Value> = st
        .clients
        .values()
        .map(|c| {
            json!({"client_id": c.client_id, "organisation_number": c.orgnr,
                "scopes": c.scopes, "kids": c.keys.keys().collect::<Vec<_>>(),
                "certificates": c.certificates.len(),
                "system_users": c.system_users.iter().map(|u| json!({"org_id": format!("0192:{}", u.org),
                    "external_ref": u.external_ref, "id": u.id, "has_access": u.has_access})).collect::<Vec<_>>()})
        })
        .collect();
    let altinn2: Vec<Value> = st
        .altinn2_users
        .values()
        .map(|u| json!({"username": u.username, "organisation_number": u.orgnr, "reportees": u.reportees}))
        .collect();
    json(
        StatusCode::OK,
        &json!({"base_url": shared.base_url, "dir": shared.dir, "now": iso(st.now()),
            "organisations": orgs, "clients": clients, "altinn2_users": altinn2,
            "transfers": st.transfers.len(),
            "requests": shared.requests.load(std::sync::atomic::Ordering::Relaxed),
            "faults": st.faults.iter().map(|f| f.to_json()).collect::<Vec<_>>()}),
    )
}

async fn add_organisation(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let v = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let orgnr = match str_field(&v, "organisation_number") {
        Ok(o) => o.to_string(),
        Err(r) => return r,
    };
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("SANDBOX ORGANISASJON {orgnr}"));
    let shared2 = shared.clone();
    let o2 = orgnr.clone();
    // Key generation takes a moment: keep it off the async workers.
    let done =
        tokio::task::spawn_blocking(move || crate::orgs::add_organisation(&shared2, &o2, &name))
            .await;
    match done {
        Ok(Ok(())) => json(
            StatusCode::CREATED,
            &json!({"organisation_number": orgnr,
                "config": crate::pki::OrgFiles::new(&shared.dir, &orgnr).config,
                "client_id": crate::orgs::client_id(&orgnr)}),
        ),
        Ok(Err(e)) => bad(e.0),
        Err(e) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": e.to_string()}),
        ),
    }
}

/// Register a client (or add to one): `client_id`, `organisation_number`, optional `scopes`,
/// `certificate_pem`, `jwk` (with `kid`), `system_users`.
async fn add_client(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let v = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (cid, orgnr) = match (
        str_field(&v, "client_id"),
        str_field(&v, "organisation_number"),
    ) {
        (Ok(c), Ok(o)) => (c.to_string(), o.to_string()),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    if efm_core::ident::OrgNumber::parse(&orgnr).is_err() {
        return bad(format!(
            "organisation_number {orgnr:?} is not a valid organisation number"
        ));
    }
    let cert = match v.get("certificate_pem").and_then(Value::as_str) {
        Some(p) => match openssl::x509::X509::from_pem(p.as_bytes()).and_then(|c| c.to_der()) {
            Ok(der) => Some(der),
            Err(_) => return bad("certificate_pem is not a PEM certificate"),
        },
        None => None,
    };
    let key = match v.get("jwk") {
        Some(j) => {
            let kid = j.get("kid").and_then(Value::as_str).map(str::to_string);
            match (kid, crate::jwt::public_key_from_jwk(j)) {
                (Some(kid), Some(k)) => Some((kid, k)),
                _ => return bad("jwk must be an RSA public JWK with kid, n and e"),
            }
        }
        None => None,
    };
    let scopes: Option<Vec<String>> = v.get("scopes").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    });
    let mut st = shared.lock();
    let c = st
        .clients
        .entry(cid.clone())
        .or_insert_with(|| crate::state::Client {
            client_id: cid.clone(),
            orgnr: orgnr.clone(),
            certificates: Vec::new(),
            keys: Default::default(),
            scopes: crate::orgs::DEFAULT_SCOPES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            system_users: Vec::new(),
        });
    if c.orgnr != orgnr {
        return bad(format!("client {cid} belongs to {}", c.orgnr));
    }
    if let Some(der) = cert {
        if !c.certificates.contains(&der) {
            c.certificates.push(der);
        }
    }
    if let Some((kid, k)) = key {
        c.keys.insert(kid, k);
    }
    if let Some(s) = scopes {
        c.scopes = s.into_iter().collect();
    }
    json(
        StatusCode::OK,
        &json!({"client_id": cid, "scopes": c.scopes}),
    )
}

/// Register a system user on a client: `client_id`, `org_id` (0192:...), `external_ref`,
/// optional `has_access` (false = lacks the access package, for BRO-00006 tests).
async fn add_system_user(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let v = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (cid, org_id, ext) = match (
        str_field(&v, "client_id"),
        str_field(&v, "org_id"),
        str_field(&v, "external_ref"),
    ) {
        (Ok(a), Ok(b), Ok(c)) => (a.to_string(), b.to_string(), c.to_string()),
        (Err(r), _, _) | (_, Err(r), _) | (_, _, Err(r)) => return r,
    };
    let Some(org) = org_of(&org_id) else {
        return bad("org_id must be 0192:<9 digits>");
    };
    let has_access = v.get("has_access").and_then(Value::as_bool).unwrap_or(true);
    let mut st = shared.lock();
    let Some(c) = st.clients.get_mut(&cid) else {
        return json(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("no client {cid}")}),
        );
    };
    let id = match c
        .system_users
        .iter_mut()
        .find(|u| u.org == org && u.external_ref == ext)
    {
        Some(u) => {
            u.has_access = has_access;
            u.id.clone()
        }
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            c.system_users.push(SystemUserReg {
                org,
                external_ref: ext,
                id: id.clone(),
                has_access,
            });
            id
        }
    };
    json(
        StatusCode::OK,
        &json!({"systemuser_id": id, "has_access": has_access}),
    )
}

/// Let an Altinn 2 user act for another organisation: `username`, `organisation_number`.
async fn add_reportee(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let v = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (user, org) = match (
        str_field(&v, "username"),
        str_field(&v, "organisation_number"),
    ) {
        (Ok(u), Ok(o)) => (u.to_string(), o.to_string()),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    if org_of(&org).is_none() {
        return bad("organisation_number must be 9 digits");
    }
    let mut st = shared.lock();
    match st.altinn2_users.get_mut(&user) {
        Some(u) => {
            u.reportees.insert(org);
            json(
                StatusCode::OK,
                &json!({"username": user, "reportees": u.reportees}),
            )
        }
        None => json(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("no Altinn 2 user {user}")}),
        ),
    }
}

async fn transfers(State(shared): State<Arc<Shared>>) -> Response {
    let mut st = shared.lock();
    st.tick();
    let list: Vec<Value> = st
        .transfers
        .values()
        .map(|t| {
            let mut v = overview_json(t);
            v["origin"] = json!(match &t.origin {
                crate::state::Origin::Altinn3 => "altinn3",
                crate::state::Origin::Altinn2 { .. } => "altinn2",
            });
            v["stored"] = json!(t.file_path.is_some());
            v
        })
        .collect();
    json(StatusCode::OK, &json!(list))
}

fn parse_uuid(id: &str) -> Result<uuid::Uuid, Response> {
    uuid::Uuid::parse_str(id).map_err(|_| bad(format!("{id:?} is not a UUID")))
}

async fn expire(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let id = match parse_uuid(&id) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let mut st = shared.lock();
    let now = st.now();
    match st.transfers.get_mut(&id) {
        Some(t) => t.expiration = now,
        None => return json(StatusCode::NOT_FOUND, &json!({"error": "no such transfer"})),
    }
    st.tick();
    let t = &st.transfers[&id];
    json(
        StatusCode::OK,
        &json!({"fileTransferStatus": t.status().name()}),
    )
}

async fn force_status(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let id = match parse_uuid(&id) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let v = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(status) = v
        .get("status")
        .and_then(Value::as_str)
        .and_then(TransferStatus::parse)
    else {
        return bad("status must be a file transfer status name");
    };
    let text = v.get("text").and_then(Value::as_str).map(str::to_string);
    let mut st = shared.lock();
    let now = st.now();
    match st.transfers.get_mut(&id) {
        Some(t) => {
            t.set_status(status, now, text);
            json(
                StatusCode::OK,
                &json!({"fileTransferStatus": status.name()}),
            )
        }
        None => json(StatusCode::NOT_FOUND, &json!({"error": "no such transfer"})),
    }
}

async fn faults(State(shared): State<Arc<Shared>>) -> Response {
    let st = shared.lock();
    json(
        StatusCode::OK,
        &json!(st.faults.iter().map(|f| f.to_json()).collect::<Vec<_>>()),
    )
}

/// `{"path": "/broker/api/v1/filetransfer", "path_suffix"?: "/upload", "method": "GET", "kind": "status"|"rate_limit"|
/// "drop"|"slow"|"malware", "status": 500, "body": "...", "retry_after": 2, "after_bytes": 100,
/// "delay_ms": 1500, "times": 1}`
async fn add_fault(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let v = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let path = match str_field(&v, "path") {
        Ok(p) if p.starts_with('/') => p.to_string(),
        Ok(_) => return bad("path must start with /"),
        Err(r) => return r,
    };
    let u = |k: &str, d: u64| v.get(k).and_then(Value::as_u64).unwrap_or(d);
    let kind = match v.get("kind").and_then(Value::as_str).unwrap_or("") {
        "status" => {
            let status = u("status", 500);
            if !(100..=599).contains(&status) {
                return bad("status must be an HTTP status code");
            }
            FaultKind::Status {
                status: status as u16,
                body: v.get("body").and_then(Value::as_str).map(str::to_string),
            }
        }
        "rate_limit" => FaultKind::RateLimit {
            retry_after_secs: u("retry_after", 1),
        },
        "drop" => FaultKind::DropMidBody {
            after_bytes: u("after_bytes", 0),
        },
        "slow" => FaultKind::Slow {
            delay_ms: u("delay_ms", 1000),
        },
        "malware" => FaultKind::Malware,
        other => {
            return bad(format!(
                "kind {other:?}: use status, rate_limit, drop, slow or malware"
            ))
        }
    };
    let remaining = v
        .get("times")
        .and_then(Value::as_u64)
        .map(|t| t.max(1) as u32);
    let mut st = shared.lock();
    st.next_fault_id += 1;
    let fault = crate::state::Fault {
        id: st.next_fault_id,
        path_prefix: path,
        path_suffix: v
            .get("path_suffix")
            .and_then(Value::as_str)
            .map(str::to_string),
        method: v
            .get("method")
            .and_then(Value::as_str)
            .map(str::to_ascii_uppercase),
        kind,
        remaining,
        hits: 0,
    };
    let out = fault.to_json();
    st.faults.push(fault);
    json(StatusCode::CREATED, &out)
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> Response {
    shared.lock().faults.clear();
    json(StatusCode::OK, &json!({"faults": []}))
}

async fn remove_fault(State(shared): State<Arc<Shared>>, Path(id): Path<u64>) -> Response {
    let mut st = shared.lock();
    let before = st.faults.len();
    st.faults.retain(|f| f.id != id);
    if st.faults.len() == before {
        return json(StatusCode::NOT_FOUND, &json!({"error": "no such fault"}));
    }
    json(StatusCode::OK, &json!({"removed": id}))
}

async fn clock(State(shared): State<Arc<Shared>>) -> Response {
    let st = shared.lock();
    json(
        StatusCode::OK,
        &json!({"now": iso(st.now()), "offset_secs": st.clock_offset_secs}),
    )
}

/// `{"seconds": N}`: move the sandbox clock forward (expiry, virus scans, token lifetimes).
async fn advance_clock(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let v = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(secs) = v.get("seconds").and_then(Value::as_i64).filter(|s| *s >= 0) else {
        return bad("\"seconds\" must be a non-negative number");
    };
    let mut st = shared.lock();
    st.clock_offset_secs += secs;
    st.tick();
    json(
        StatusCode::OK,
        &json!({"now": iso(st.now()), "offset_secs": st.clock_offset_secs}),
    )
}

fn settings_json(s: &crate::state::Settings) -> Value {
    json!({
        "virus_scan_delay_ms": s.virus_scan_delay_ms,
        "max_file_size": s.max_file_size,
        "ttl_secs": s.ttl_secs,
        "purge_grace_secs": s.purge_grace_secs,
        "confirm_status": s.confirm_status,
        "token_lifetime_secs": s.token_lifetime_secs,
        "broker_accepts_maskinporten_tokens": s.broker_accepts_maskinporten_tokens,
        "rate_limits": s.rate_limits,
    })
}

async fn settings(State(shared): State<Arc<Shared>>) -> Response {
    json(StatusCode::OK, &settings_json(&shared.lock().settings))
}

async fn change_settings(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let v = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut st = shared.lock();
    let mut s = st.settings.clone();
    for (k, val) in v.as_object().expect("object") {
        let n = val.as_u64();
        let ok = match (k.as_str(), n) {
            ("virus_scan_delay_ms", Some(n)) => {
                s.virus_scan_delay_ms = n;
                true
            }
            ("max_file_size", Some(n)) => {
                s.max_file_size = n;
                true
            }
            ("ttl_secs", Some(n)) => {
                s.ttl_secs = n as i64;
                true
            }
            ("purge_grace_secs", Some(n)) => {
                s.purge_grace_secs = n as i64;
                true
            }
            ("confirm_status", Some(n)) if n == 200 || n == 204 => {
                s.confirm_status = n as u16;
                true
            }
            ("token_lifetime_secs", Some(n)) if n > 0 => {
                s.token_lifetime_secs = n as i64;
                true
            }
            ("rate_limits", _) => match val.as_bool() {
                Some(b) => {
                    s.rate_limits = b;
                    true
                }
                None => false,
            },
            ("broker_accepts_maskinporten_tokens", _) => match val.as_bool() {
                Some(b) => {
                    s.broker_accepts_maskinporten_tokens = b;
                    true
                }
                None => false,
            },
            _ => false,
        };
        if !ok {
            return bad(format!(
                "setting {k:?} is unknown or has an invalid value {val}"
            ));
        }
    }
    st.settings = s;
    json(StatusCode::OK, &settings_json(&st.settings))
}
