//! Download with range requests, gated on the transfer's state.

use super::*;

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

pub(super) async fn download(
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
