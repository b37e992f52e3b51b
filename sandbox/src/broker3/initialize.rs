//! Initializing a transfer: body validation and creation in the shared store.

use super::*;

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

pub(super) async fn initialize(
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
pub(super) fn recipient_call(
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

pub(super) fn parse_id(id: &str) -> Result<Uuid, Response> {
    Uuid::parse_str(id).map_err(|_| {
        validation(vec![(
            "fileTransferId".into(),
            format!("The value '{id}' is not valid."),
        )])
    })
}
