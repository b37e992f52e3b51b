//! Error answers as the broker gives them: problem+json with BRO codes, ASP.NET validation
//! problems, and the Accept and media-type checks.

use super::*;

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

pub(super) fn not_found() -> Response {
    problem(
        StatusCode::NOT_FOUND,
        1,
        "The requested file transfer was not found",
    )
}

pub(super) fn no_access() -> Response {
    problem(
        StatusCode::UNAUTHORIZED,
        6,
        "You must use a bearer token that represents a system user with access to the resource in the Resource Rights Registry",
    )
}

/// ASP.NET's ValidationProblemDetails (no `code`).
pub(super) fn validation(errors: Vec<(String, String)>) -> Response {
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

pub(super) fn unsupported_media_type() -> Response {
    json_typed(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        &json!({"type": rfc_type(StatusCode::UNSUPPORTED_MEDIA_TYPE), "title": "Unsupported Media Type",
            "status": 415, "traceId": trace_id()}),
        "application/problem+json; charset=utf-8",
    )
}

/// The broker's Accept middleware: a JSON endpoint refuses an Accept that lists neither
/// `application/json` nor `*/*`.
pub(super) fn check_accept(headers: &HeaderMap) -> Result<(), Response> {
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

pub(super) fn media_type(headers: &HeaderMap) -> String {
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
