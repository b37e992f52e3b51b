//! The eFormidling Service Registry (github.com/felleslosninger/efm-service-registry and its API
//! documentation at docs.digdir.no; example answers in tests/fixtures/nextmove): identifier, process
//! and info lookups answered as JSON, or as a compact JWS (RS256) for `Accept: application/jose`,
//! verifiable with the key set at `/jwk`. Bearer Maskinporten tokens are required.

use crate::http::{self, json, unauthorized, Issuer};
use crate::jwt;
use crate::state::{Org, DPO_SERVICE_CODE, DPO_SERVICE_EDITION};
use crate::Shared;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::sync::Arc;

const ARKIVMELDING_AREAS: [&str; 11] = [
    "administrasjon",
    "planByggOgGeodata",
    "helseSosialOgOmsorg",
    "oppvekstOgUtdanning",
    "kulturIdrettOgFritid",
    "trafikkReiserOgSamferdsel",
    "naturOgMiljoe",
    "naeringsutvikling",
    "skatterOgAvgifter",
    "tekniskeTjenester",
    "taushetsbelagt",
];
pub const RESPONSE_PROCESS: &str = "urn:no:difi:profile:arkivmelding:response:ver1.0";

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/serviceregistry/jwk", get(jwks))
        .route("/serviceregistry/identifier/{id}", get(identifier))
        .route(
            "/serviceregistry/identifier/{id}/process/{process}",
            get(identifier_process),
        )
        .route("/serviceregistry/info/{id}", get(info))
        .route("/serviceregistry/virksert/{id}", get(virksert))
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    json(
        StatusCode::OK,
        &json!({"keys": [jwt::jwk_for_cert(&shared.pki.registry.cert)]}),
    )
}

fn sr_error(status: StatusCode, description: String) -> Response {
    json(
        status,
        &json!({"error_code": "", "error_description": description}),
    )
}

/// Check the bearer token; on success the consumer's ISO 6523 id.
fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<String, Response> {
    let Some(token) = http::bearer(headers) else {
        return Err(unauthorized("Bearer token required"));
    };
    let claims = http::verify_token(shared, &token, &[Issuer::Maskinporten])
        .map_err(|e| unauthorized(&e))?;
    let consumer = claims
        .get("consumer")
        .and_then(|c| c.get("ID"))
        .and_then(Value::as_str)
        .filter(|id| crate::state::org_of(id).is_some() && id.starts_with("0192:"));
    match consumer {
        Some(c) => Ok(c.to_string()),
        None => Err(sr_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized lookup from 127.0.0.1 - consumer.ID claim in token not present, or does not match ISO6523".into(),
        )),
    }
}

/// The organisation an identifier names, or the registry's error.
fn lookup(shared: &Shared, id: &str) -> Result<Org, Response> {
    let digits = id.strip_prefix("0192:").unwrap_or(id);
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !(digits.len() == 9 || digits.len() == 11) {
        return Err(sr_error(
            StatusCode::BAD_REQUEST,
            format!("Identifier '{id}' is not a valid organisation number or personal identifier"),
        ));
    }
    shared.lock().orgs.get(digits).cloned().ok_or_else(|| {
        sr_error(
            StatusCode::NOT_FOUND,
            format!("Entity with identifier '{digits}' not found."),
        )
    })
}

fn info_record(org: &Org) -> Value {
    json!({
        "identifier": org.orgnr,
        "organizationName": org.name,
        "postadresse": {"adresse": "Postboks 1337", "postnummer": "1337", "poststed": "OSLO", "land": "Norge"},
        "entityType": {"name": "ORGL"},
    })
}

fn pem(org: &Org) -> String {
    org.cert
        .to_pem()
        .map(|p| String::from_utf8_lossy(&p).to_string())
        .unwrap_or_default()
}

fn dpo_record(shared: &Shared, org: &Org, process: &str, document_types: &[&str]) -> Value {
    json!({
        "organisationNumber": org.orgnr,
        "pemCertificate": pem(org),
        "process": process,
        "documentTypes": document_types,
        "service": {
            "identifier": "DPO",
            "endpointUrl": shared.base_url,
            "serviceCode": DPO_SERVICE_CODE,
            "serviceEditionCode": DPO_SERVICE_EDITION,
            "securityLevel": null,
            "resource": crate::state::DPO_RESOURCE,
        },
    })
}

/// Every record an organisation has: one per arkivmelding process, then the response process.
fn all_records(shared: &Shared, org: &Org) -> Vec<Value> {
    let mut out: Vec<Value> = ARKIVMELDING_AREAS
        .iter()
        .map(|area| {
            dpo_record(
                shared,
                org,
                &format!("urn:no:difi:profile:arkivmelding:{area}:ver1.0"),
                &["urn:no:difi:arkivmelding:xsd::arkivmelding"],
            )
        })
        .collect();
    out.push(dpo_record(
        shared,
        org,
        RESPONSE_PROCESS,
        &[
            "urn:no:difi:arkivmelding:xsd::arkivmelding_kvittering",
            "urn:no:difi:eformidling:xsd::status",
            "urn:no:difi:eformidling:xsd::feil",
        ],
    ));
    out
}

/// JSON, or a compact JWS of the JSON when the client accepts `application/jose`.
fn answer(shared: &Shared, headers: &HeaderMap, body: Value) -> Response {
    let wants_jose = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|m| {
            m.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/jose")
        });
    if !wants_jose {
        return json(StatusCode::OK, &body);
    }
    let cert = &shared.pki.registry.cert;
    let header = json!({
        "alg": "RS256",
        "x5c": [jwt::b64std(&cert.to_der().unwrap_or_default())],
        "kid": jwt::thumbprint(&cert.public_key().expect("registry key")),
    });
    let jws = jwt::sign_rs256(
        &shared.pki.registry.key,
        &header,
        body.to_string().as_bytes(),
    );
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/jose"),
        )],
        jws,
    )
        .into_response()
}

async fn identifier(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&shared, &headers) {
        return r;
    }
    let org = match lookup(&shared, &id) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let body =
        json!({"infoRecord": info_record(&org), "serviceRecords": all_records(&shared, &org)});
    answer(&shared, &headers, body)
}

async fn identifier_process(
    State(shared): State<Arc<Shared>>,
    Path((id, process)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&shared, &headers) {
        return r;
    }
    let org = match lookup(&shared, &id) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let records: Vec<Value> = all_records(&shared, &org)
        .into_iter()
        .filter(|r| r.get("process").and_then(Value::as_str) == Some(process.as_str()))
        .collect();
    if records.is_empty() {
        return sr_error(
            StatusCode::NOT_FOUND,
            format!("Process {process} not found for receiver {}", org.orgnr),
        );
    }
    let body = json!({"infoRecord": info_record(&org), "serviceRecords": records});
    answer(&shared, &headers, body)
}

async fn info(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&shared, &headers) {
        return r;
    }
    let org = match lookup(&shared, &id) {
        Ok(o) => o,
        // The real /info answers an unknown entity with a bare 404.
        Err(r) if r.status() == StatusCode::NOT_FOUND => {
            return StatusCode::NOT_FOUND.into_response()
        }
        Err(r) => return r,
    };
    let body = json!({"infoRecord": info_record(&org), "serviceRecords": []});
    answer(&shared, &headers, body)
}

/// The organisation's certificate as PEM text (or a JWS of it for `Accept: application/jose`).
async fn virksert(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&shared, &headers) {
        return r;
    }
    let org = match lookup(&shared, &id) {
        Ok(o) => o,
        Err(_) => {
            return json(
                StatusCode::NOT_FOUND,
                &json!({"error_code": "certificate_not_found",
                    "error_description": format!("Virksert lookup failed - no certificate for '{id}'")}),
            )
        }
    };
    let text = pem(&org);
    let wants_jose = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("application/jose"));
    if wants_jose {
        let cert = &shared.pki.registry.cert;
        let header = json!({
            "alg": "RS256",
            "x5c": [jwt::b64std(&cert.to_der().unwrap_or_default())],
            "kid": jwt::thumbprint(&cert.public_key().expect("registry key")),
        });
        let jws = jwt::sign_rs256(&shared.pki.registry.key, &header, text.as_bytes());
        return (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jose"),
            )],
            jws,
        )
            .into_response();
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}
