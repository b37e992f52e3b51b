//! Confirming a download.

use super::*;

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

pub(super) async fn confirm(
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
