//! Search with the broker's semantics and its 100-row cap.

use super::*;

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

pub(super) async fn search(
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
