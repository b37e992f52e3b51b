//! Streamed uploads with a size limit, and recording their outcome.

use super::*;

pub(super) async fn upload(
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
