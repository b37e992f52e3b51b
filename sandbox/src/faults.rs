//! Fault injection for every endpoint (set up through `/admin/faults`): a chosen status, 429 with
//! `Retry-After`, a slow answer, or a connection dropped in the middle of the response body.

use crate::state::FaultKind;
use crate::Shared;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::sync::Arc;

pub async fn inject(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/admin") {
        return next.run(req).await;
    }
    shared
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let fault = shared
        .lock()
        .take_fault(req.method().as_str(), &path, false);
    let Some(fault) = fault else {
        return next.run(req).await;
    };
    log::info!("fault injected on {} {path}: {fault:?}", req.method());
    match fault {
        FaultKind::Status { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            match body {
                Some(b) => (status, b).into_response(),
                None => status.into_response(),
            }
        }
        FaultKind::RateLimit { retry_after_secs } => {
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"statusCode":429,"message":"Rate limit is exceeded. Try again later."}"#,
            )
                .into_response();
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&retry_after_secs.to_string())
                    .unwrap_or(HeaderValue::from_static("1")),
            );
            r
        }
        FaultKind::Slow { delay_ms } => {
            tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
            next.run(req).await
        }
        FaultKind::DropMidBody { after_bytes } => {
            let response = next.run(req).await;
            let (parts, body) = response.into_parts();
            let mut left = after_bytes;
            let mut done = false;
            // Pass `after_bytes` of the body, then fail the stream: hyper aborts the connection,
            // so the client sees a body shorter than Content-Length (or an unterminated chunked one).
            let stream = body.into_data_stream().filter_map(move |chunk| {
                let out = if done {
                    None
                } else {
                    match chunk {
                        Ok(bytes) if (bytes.len() as u64) < left => {
                            left -= bytes.len() as u64;
                            Some(Ok(bytes))
                        }
                        Ok(bytes) => {
                            done = true;
                            let keep = bytes.slice(..left as usize);
                            left = 0;
                            if keep.is_empty() {
                                Some(Err(std::io::Error::other(
                                    "efm-sandbox: injected connection drop",
                                )))
                            } else {
                                Some(Ok(keep))
                            }
                        }
                        Err(e) => Some(Err(std::io::Error::other(e.to_string()))),
                    }
                };
                async move { out }
            });
            let failing = stream.chain(futures_util::stream::once(async {
                Err(std::io::Error::other(
                    "efm-sandbox: injected connection drop",
                ))
            }));
            Response::from_parts(parts, Body::from_stream(failing))
        }
        FaultKind::Malware => next.run(req).await,
    }
}
