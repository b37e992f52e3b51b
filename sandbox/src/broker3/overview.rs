//! Overview and details of one transfer.

use super::*;

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

pub(super) async fn overview(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match visible(&shared, &headers, &id, "overview") {
        Ok(t) => json(StatusCode::OK, &overview_json(&t)),
        Err(r) => r,
    }
}

pub(super) async fn details(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match visible(&shared, &headers, &id, "details") {
        Ok(t) => json(StatusCode::OK, &details_json(&t)),
        Err(r) => r,
    }
}
