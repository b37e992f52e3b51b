//! The Altinn 3 broker (`/broker/api/v1/filetransfer...`) and Altinn's Maskinporten token exchange,
//! enforcing what the broker service does (github.com/Altinn/altinn-broker: `FileTransferController.cs`,
//! its handlers and `Errors.cs`; the OpenAPI in tests/fixtures/altinn-broker-v3): scopes, party checks, initialize validation,
//! streamed uploads with a size limit, virus-scan delay, search semantics and the 100-row cap,
//! download gating, confirm semantics, expiry, and problem+json errors with BRO codes.

use crate::http::{self, json, json_typed, unauthorized, Issuer};
use crate::jwt;
use crate::state::{
    iso, org_of, Origin, RecipientState, RecipientStatus, State as St, Transfer, TransferStatus,
    DPO_RESOURCE,
};
use crate::store::{self, WriteError};
use crate::Shared;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

mod auth;
mod confirm;
mod download;
mod initialize;
mod overview;
mod problems;
mod search;
mod shapes;
mod token_exchange;
mod upload;

use auth::*;
pub use confirm::*;
use download::*;
pub use initialize::*;
use overview::*;
pub use problems::*;
use search::*;
pub use shapes::*;
use token_exchange::*;
pub use upload::*;

const BASE: &str = "/broker/api/v1/filetransfer";
const SCOPE_READ: &str = "altinn:broker.read";
const SCOPE_WRITE: &str = "altinn:broker.write";
const SEARCH_LIMIT: usize = 100;
const ALTINN_TOKEN_LIFETIME_SECS: i64 = 1800;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/authentication/api/v1/exchange/{provider}", get(exchange))
        .route(BASE, post(initialize).get(search))
        .route(&format!("{BASE}/"), post(initialize).get(search))
        .route(&format!("{BASE}/{{id}}"), get(overview))
        .route(&format!("{BASE}/{{id}}/details"), get(details))
        .route(&format!("{BASE}/{{id}}/upload"), post(upload))
        .route(&format!("{BASE}/{{id}}/download"), get(download))
        .route(&format!("{BASE}/{{id}}/confirmdownload"), post(confirm))
}
