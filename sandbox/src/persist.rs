//! Keeping the sandbox's state across restarts: transfers, used grant ids, the clock offset,
//! settings, and what was registered at run time (system users, keys, scopes, Altinn 2
//! reportees) are written to `DIR/state.json` (atomically, when they change, at most twice a
//! second, and at shutdown) and read back at the next start. Faults are not kept.

use crate::state::{
    Origin, RecipientState, RecipientStatus, Settings, State, SystemUserReg, Transfer,
    TransferStatus,
};
use crate::Shared;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

pub fn state_file(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

fn t2j(t: OffsetDateTime) -> Value {
    json!(t.unix_timestamp_nanos() as i64)
}

fn j2t(v: &Value) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(v.as_i64()? as i128).ok()
}

fn transfer_json(t: &Transfer) -> Value {
    json!({
        "id": t.id.to_string(),
        "origin": match &t.origin {
            Origin::Altinn3 => json!({"kind": "altinn3"}),
            Origin::Altinn2 { service_code, service_edition } =>
                json!({"kind": "altinn2", "service_code": service_code, "service_edition": service_edition}),
        },
        "resource_id": t.resource_id,
        "file_name": t.file_name,
        "senders_reference": t.senders_reference,
        "sender": t.sender,
        "sender_org": t.sender_org,
        "recipients": t.recipients.iter().map(|r| json!({
            "org": r.org,
            "history": r.history.iter().map(|(s, at)| json!([s.name(), t2j(*at)])).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "property_list": t.property_list,
        "checksum": t.checksum,
        "use_virus_scan": t.use_virus_scan,
        "size": t.size,
        "status_history": t.status_history.iter().map(|(s, at, text)| json!([s.name(), t2j(*at), text])).collect::<Vec<_>>(),
        "created": t2j(t.created),
        "expiration": t2j(t.expiration),
        "file_path": t.file_path,
        "processing_until": t.processing_until.map(t2j),
        "malware": t.malware,
        "purge_at": t.purge_at.map(t2j),
        "receipt_id": t.receipt_id,
    })
}

fn transfer_from(v: &Value) -> Option<Transfer> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let origin = match v.get("origin")?.get("kind")?.as_str()? {
        "altinn2" => Origin::Altinn2 {
            service_code: v["origin"]["service_code"].as_str()?.to_string(),
            service_edition: v["origin"]["service_edition"].as_str()?.to_string(),
        },
        _ => Origin::Altinn3,
    };
    let mut recipients = Vec::new();
    for r in v.get("recipients")?.as_array()? {
        let mut history = Vec::new();
        for h in r.get("history")?.as_array()? {
            history.push((
                RecipientStatus::parse(h.get(0)?.as_str()?)?,
                j2t(h.get(1)?)?,
            ));
        }
        if history.is_empty() {
            return None;
        }
        recipients.push(RecipientState {
            org: r.get("org")?.as_str()?.to_string(),
            history,
        });
    }
    let mut status_history = Vec::new();
    for h in v.get("status_history")?.as_array()? {
        status_history.push((
            TransferStatus::parse(h.get(0)?.as_str()?)?,
            j2t(h.get(1)?)?,
            h.get(2).and_then(Value::as_str).map(str::to_string),
        ));
    }
    if status_history.is_empty() {
        return None;
    }
    Some(Transfer {
        id: uuid::Uuid::parse_str(v.get("id")?.as_str()?).ok()?,
        origin,
        resource_id: s("resource_id")?,
        file_name: s("file_name")?,
        senders_reference: s("senders_reference"),
        sender: s("sender")?,
        sender_org: s("sender_org")?,
        recipients,
        property_list: v
            .get("property_list")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        checksum: s("checksum"),
        use_virus_scan: v.get("use_virus_scan")?.as_bool()?,
        size: v.get("size")?.as_u64()?,
        status_history,
        created: j2t(v.get("created")?)?,
        expiration: j2t(v.get("expiration")?)?,
        file_path: s("file_path").map(PathBuf::from),
        processing_until: v.get("processing_until").and_then(j2t),
        malware: v.get("malware").and_then(Value::as_bool).unwrap_or(false),
        purge_at: v.get("purge_at").and_then(j2t),
        receipt_id: v.get("receipt_id")?.as_u64()? as u32,
    })
}

/// The persistent part of the state as JSON text.
pub fn snapshot(st: &State) -> String {
    let clients: Map<String, Value> = st
        .clients
        .values()
        .map(|c| {
            let keys: Vec<Value> = c
                .keys
                .iter()
                .filter_map(|(kid, k)| {
                    let rsa = k.rsa().ok()?;
                    Some(json!({"kty":"RSA","kid":kid,"n":crate::jwt::b64url(&rsa.n().to_vec()),"e":crate::jwt::b64url(&rsa.e().to_vec())}))
                })
                .collect();
            (
                c.client_id.clone(),
                json!({
                    "orgnr": c.orgnr,
                    "scopes": c.scopes,
                    "certificates": c.certificates.iter().map(|d| crate::jwt::b64std(d)).collect::<Vec<_>>(),
                    "keys": keys,
                    "system_users": c.system_users.iter().map(|u| json!({"org": u.org, "external_ref": u.external_ref, "id": u.id, "has_access": u.has_access})).collect::<Vec<_>>(),
                }),
            )
        })
        .collect();
    let reportees: Map<String, Value> = st
        .altinn2_users
        .values()
        .map(|u| (u.username.clone(), json!(u.reportees)))
        .collect();
    let s = &st.settings;
    json!({
        "version": 1,
        "clock_offset_secs": st.clock_offset_secs,
        "next_receipt_id": st.next_receipt_id,
        "settings": {
            "virus_scan_delay_ms": s.virus_scan_delay_ms, "max_file_size": s.max_file_size,
            "ttl_secs": s.ttl_secs, "purge_grace_secs": s.purge_grace_secs,
            "confirm_status": s.confirm_status, "token_lifetime_secs": s.token_lifetime_secs,
            "broker_accepts_maskinporten_tokens": s.broker_accepts_maskinporten_tokens,
            "rate_limits": s.rate_limits,
        },
        "used_jti": st.used_jti,
        "clients": clients,
        "altinn2_reportees": reportees,
        "transfers": st.transfers.values().map(transfer_json).collect::<Vec<_>>(),
    })
    .to_string()
}

/// Write the snapshot atomically (temporary file, then rename).
pub fn write(dir: &Path, text: &str) -> std::io::Result<()> {
    let path = state_file(dir);
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)
}

/// Merge a saved state into a freshly set-up one. Unreadable parts are skipped with a warning.
pub fn restore(shared: &Shared, keep_settings: &Settings, virus_scan_overridden: bool) {
    let path = state_file(&shared.dir);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return;
    };
    let Ok(v) = serde_json::from_str::<Value>(&text) else {
        log::warn!(
            "{} is not valid JSON; starting with an empty state",
            path.display()
        );
        return;
    };
    let mut st = shared.lock();
    st.clock_offset_secs = v["clock_offset_secs"].as_i64().unwrap_or(0);
    st.next_receipt_id = v["next_receipt_id"].as_u64().unwrap_or(0) as u32;
    if let Some(s) = v.get("settings") {
        let mut settings = keep_settings.clone();
        let u = |k: &str| s.get(k).and_then(Value::as_u64);
        if !virus_scan_overridden {
            settings.virus_scan_delay_ms =
                u("virus_scan_delay_ms").unwrap_or(settings.virus_scan_delay_ms);
        }
        settings.max_file_size = u("max_file_size").unwrap_or(settings.max_file_size);
        settings.ttl_secs = u("ttl_secs").map(|x| x as i64).unwrap_or(settings.ttl_secs);
        settings.purge_grace_secs = u("purge_grace_secs")
            .map(|x| x as i64)
            .unwrap_or(settings.purge_grace_secs);
        settings.confirm_status = u("confirm_status")
            .map(|x| x as u16)
            .unwrap_or(settings.confirm_status);
        settings.token_lifetime_secs = u("token_lifetime_secs")
            .map(|x| x as i64)
            .unwrap_or(settings.token_lifetime_secs);
        settings.broker_accepts_maskinporten_tokens = s
            .get("broker_accepts_maskinporten_tokens")
            .and_then(Value::as_bool)
            .unwrap_or(settings.broker_accepts_maskinporten_tokens);
        settings.rate_limits = s
            .get("rate_limits")
            .and_then(Value::as_bool)
            .unwrap_or(settings.rate_limits);
        st.settings = settings;
    }
    if let Some(j) = v.get("used_jti").and_then(Value::as_object) {
        for (k, exp) in j {
            if let Some(e) = exp.as_i64() {
                st.used_jti.insert(k.clone(), e);
            }
        }
    }
    if let Some(clients) = v.get("clients").and_then(Value::as_object) {
        for (cid, c) in clients {
            let Some(orgnr) = c.get("orgnr").and_then(Value::as_str) else {
                continue;
            };
            let entry = st
                .clients
                .entry(cid.clone())
                .or_insert_with(|| crate::state::Client {
                    client_id: cid.clone(),
                    orgnr: orgnr.to_string(),
                    certificates: Vec::new(),
                    keys: Default::default(),
                    scopes: Default::default(),
                    system_users: Vec::new(),
                });
            if let Some(scopes) = c.get("scopes").and_then(Value::as_array) {
                entry.scopes = scopes
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect();
            }
            for d in c
                .get("certificates")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(der) = d.as_str().and_then(crate::jwt::b64std_decode) {
                    if !entry.certificates.contains(&der) {
                        entry.certificates.push(der);
                    }
                }
            }
            for k in c
                .get("keys")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let (Some(kid), Some(key)) = (
                    k.get("kid").and_then(Value::as_str),
                    crate::jwt::public_key_from_jwk(k),
                ) {
                    entry.keys.insert(kid.to_string(), key);
                }
            }
            // Saved system users replace the defaults so their ids (in issued tokens) stay valid.
            let saved: Vec<SystemUserReg> = c
                .get("system_users")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|u| {
                    Some(SystemUserReg {
                        org: u.get("org")?.as_str()?.to_string(),
                        external_ref: u.get("external_ref")?.as_str()?.to_string(),
                        id: u.get("id")?.as_str()?.to_string(),
                        has_access: u.get("has_access")?.as_bool()?,
                    })
                })
                .collect();
            if !saved.is_empty() {
                entry.system_users = saved;
            }
        }
    }
    if let Some(r) = v.get("altinn2_reportees").and_then(Value::as_object) {
        for (user, orgs) in r {
            if let Some(u) = st.altinn2_users.get_mut(user) {
                u.reportees = orgs
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect();
            }
        }
    }
    let mut skipped = 0;
    for t in v
        .get("transfers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match transfer_from(t) {
            Some(t) => {
                st.transfers.insert(t.id, t);
            }
            None => skipped += 1,
        }
    }
    if skipped > 0 {
        log::warn!(
            "{skipped} transfers in {} could not be read and were skipped",
            path.display()
        );
    }
    st.tick();
}
