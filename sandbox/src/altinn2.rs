//! The Altinn 2 SOAP broker, as its WSDLs (tests/fixtures/altinn-soap) and the integration point's
//! SOAP client (efm-integrasjonspunkt before v4, `AltinnWsClient`) describe it: BrokerServiceExternalBasic.svc
//! (InitiateBrokerServiceBasic, GetAvailableFilesBasic, CheckIfAvailableFilesBasic,
//! ConfirmDownloadedBasic, Test) and BrokerServiceExternalBasicStreamed.svc (UploadFileStreamedBasic
//! and DownloadFileStreamedBasic with MTOM/XOP, streamed to and from disk). Requests are SOAP 1.1
//! envelopes checked against the WSDL sequences; the system user's name and password are the
//! ones written into each organisation's configuration. Transfers live in the same store as
//! the Altinn 3 broker's.

use crate::broker3::{confirm_for, create_transfer, finish_upload};
use crate::soapxml::{self as sx, child, child_text, el, many, nel, El, Fault, Ty};
use crate::state::{iso, Altinn2User, Origin, RecipientStatus, TransferStatus, DPO_RESOURCE};
use crate::store;
use crate::Shared;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use futures_util::StreamExt;
use std::sync::Arc;
use uuid::Uuid;

const BASIC_PATH: &str = "/ServiceEngineExternal/BrokerServiceExternalBasic.svc";
const STREAMED_PATH: &str = "/ServiceEngineExternal/BrokerServiceExternalBasicStreamed.svc";
const ACTION_BASIC: &str =
    "http://www.altinn.no/services/ServiceEngine/Broker/2015/06/IBrokerServiceExternalBasic/";
const ACTION_STREAMED: &str =
    "http://www.altinn.no/services/ServiceEngine/Broker/2015/06/IBrokerServiceExternalBasicStreamed/";
const ACTION_TEST: &str = "http://www.altinn.no/services/2009/10/IAltinnContractBase/Test";
/// Largest envelope (or MTOM root part) read into memory.
const MAX_ENVELOPE: usize = 1 << 20;
/// Largest non-MTOM upload (inline base64), which has to be held in memory to decode.
const MAX_INLINE_UPLOAD: usize = 64 << 20;

use sx::{ARR, BP, BS, BSE};

const USER: El = el(BS, "systemUserName", 1, Ty::Str);
const PASS: El = el(BS, "systemPassword", 1, Ty::Str);
const FILE: &[El] = &[
    nel(BSE, "CheckSum", 0, Ty::Str),
    nel(BSE, "FileName", 1, Ty::Str),
];
const ARRAY_OF_FILE: &[El] = &[many(BSE, "File", Ty::Seq(FILE))];
const PROPERTY: &[El] = &[
    nel(BSE, "PropertyKey", 1, Ty::Str),
    nel(BSE, "PropertyValue", 1, Ty::Str),
];
const ARRAY_OF_PROPERTY: &[El] = &[many(BSE, "Property", Ty::Seq(PROPERTY))];
const MANIFEST: &[El] = &[
    nel(BSE, "ExternalServiceCode", 1, Ty::Str),
    el(BSE, "ExternalServiceEditionCode", 1, Ty::Int),
    nel(BSE, "FileList", 0, Ty::Seq(ARRAY_OF_FILE)),
    // The integration point sends its FileList as <ArrayOfFile> (a JAXB quirk) that WCF skips;
    // tolerated in exactly that position so the IP's real requests pass.
    nel(BSE, "ArrayOfFile", 0, Ty::Skip),
    nel(BSE, "PropertyList", 0, Ty::Seq(ARRAY_OF_PROPERTY)),
    nel(BSE, "Reportee", 1, Ty::Str),
    nel(BSE, "SendersReference", 1, Ty::Str),
];
const RECIPIENT: &[El] = &[nel(BSE, "PartyNumber", 1, Ty::Str)];
const ARRAY_OF_RECIPIENT: &[El] = &[many(BSE, "Recipient", Ty::Seq(RECIPIENT))];
const INITIATION: &[El] = &[
    nel(BSE, "Manifest", 1, Ty::Seq(MANIFEST)),
    nel(BSE, "RecipientList", 1, Ty::Seq(ARRAY_OF_RECIPIENT)),
];
const INITIATE: &[El] = &[
    USER,
    PASS,
    el(BS, "brokerServiceInitiation", 1, Ty::Seq(INITIATION)),
];
const FILE_STATUS: Ty = Ty::Enum(&["Uploaded", "Downloaded"]);
const SEARCH: &[El] = &[
    nel(BSE, "ExternalServiceCode", 0, Ty::Str),
    el(BSE, "ExternalServiceEditionCode", 0, Ty::Int),
    el(BSE, "FileStatus", 1, FILE_STATUS),
    el(BSE, "MaxSentDateTime", 0, Ty::DateTime),
    el(BSE, "MinSentDateTime", 0, Ty::DateTime),
    nel(BSE, "Reportee", 1, Ty::Str),
];
const GET_FILES: &[El] = &[USER, PASS, el(BS, "searchParameters", 1, Ty::Seq(SEARCH))];
const ARRAY_OF_STRING: &[El] = &[many(ARR, "string", Ty::Str)];
const POLL: &[El] = &[
    nel(BP, "ExternalServiceCode", 0, Ty::Str),
    el(BP, "ExternalServiceEditionCode", 0, Ty::Int),
    nel(BP, "Recipients", 1, Ty::Seq(ARRAY_OF_STRING)),
];
const CHECK: &[El] = &[USER, PASS, el(BS, "pollParameters", 1, Ty::Seq(POLL))];
const FILE_OP: &[El] = &[
    USER,
    PASS,
    el(BS, "fileReference", 1, Ty::Str),
    el(BS, "reportee", 1, Ty::Str),
];
const STREAMED_PAYLOAD: &[El] = &[el(BS, "DataStream", 1, Ty::Stream)];
const UPLOAD_HEADERS: [&str; 5] = [
    "FileName",
    "Reference",
    "Reportee",
    "SystemPassword",
    "SystemUserName",
];

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(BASIC_PATH, post(basic))
        .route(STREAMED_PATH, post(streamed))
}

fn xml_response(status: StatusCode, xml: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        xml,
    )
        .into_response()
}

fn fault_response(f: Fault) -> Response {
    log::info!("altinn2: fault {}: {}", f.error_id, f.message);
    xml_response(StatusCode::INTERNAL_SERVER_ERROR, f.to_xml())
}

fn ok(inner: String) -> Response {
    xml_response(StatusCode::OK, sx::response_envelope(&inner))
}

/// The SOAPAction header without quotes.
fn soap_action(headers: &HeaderMap) -> Option<String> {
    headers
        .get("soapaction")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().trim_matches('"').to_string())
}

fn check_action(headers: &HeaderMap, expected: &str) -> Result<(), Fault> {
    match soap_action(headers) {
        Some(a) if a == expected => Ok(()),
        Some(a) => Err(Fault::client(format!(
            "The message with Action '{a}' cannot be processed: this operation's SOAPAction is '{expected}'"
        ))),
        None => Err(Fault::client(format!(
            "The SOAPAction header is missing: this operation's SOAPAction is '{expected}'"
        ))),
    }
}

fn authenticate(shared: &Shared, user: &str, password: &str) -> Result<Altinn2User, Fault> {
    let st = shared.lock();
    match st.altinn2_users.get(user) {
        // Compare in constant time; a wrong name and a wrong password look the same.
        Some(u)
            if u.password.len() == password.len()
                && openssl::memcmp::eq(u.password.as_bytes(), password.as_bytes()) =>
        {
            Ok(u.clone())
        }
        _ => Err(Fault::altinn(
            sx::ERR_CREDENTIALS,
            "Incorrect username/password/pin given for user",
        )),
    }
}

fn reportee_org(shared: &Shared, user: &Altinn2User, reportee: &str) -> Result<String, Fault> {
    let org = crate::state::org_of(reportee).ok_or_else(|| {
        Fault::client(format!(
            "Reportee {reportee:?} is not an organisation number (9 digits)"
        ))
    })?;
    let st = shared.lock();
    if !st.altinn2_may_act_for(user, &org) {
        return Err(Fault::altinn(
            sx::ERR_NOT_AUTHORISED,
            format!(
                "User {} is not authorised to act for reportee {org} in this service",
                user.username
            ),
        ));
    }
    Ok(org)
}

fn check_service(code: Option<String>, edition: Option<String>) -> Result<(), Fault> {
    if let Some(c) = code {
        if c != crate::state::DPO_SERVICE_CODE {
            return Err(Fault::altinn(sx::ERR_NOT_FOUND, format!("Service {c} does not exist or is not a broker service (the sandbox serves 4192)")));
        }
    }
    if let Some(e) = edition {
        if e != crate::state::DPO_SERVICE_EDITION {
            return Err(Fault::altinn(sx::ERR_NOT_FOUND, format!("Service edition {e} does not exist for service 4192 (the sandbox serves 270815)")));
        }
    }
    Ok(())
}

async fn read_limited(body: Body, limit: usize) -> Result<Bytes, Fault> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        Fault::client(format!(
            "the request is larger than {limit} bytes or was cut off"
        ))
    })
}

// ---- Basic port ---------------------------------------------------------------------------

async fn basic(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let ctype = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !ctype.starts_with("text/xml") {
        return fault_response(Fault::client(format!(
            "Content-Type must be text/xml; charset=utf-8 for SOAP 1.1 (got {ctype:?})"
        )));
    }
    let bytes = match read_limited(body, MAX_ENVELOPE).await {
        Ok(b) => b,
        Err(f) => return fault_response(f),
    };
    match basic_op(&shared, &parts.headers, &bytes) {
        Ok(r) => r,
        Err(f) => fault_response(f),
    }
}

fn basic_op(shared: &Shared, headers: &HeaderMap, bytes: &[u8]) -> Result<Response, Fault> {
    let text = std::str::from_utf8(bytes).map_err(|_| Fault::client("the request is not UTF-8"))?;
    let doc = sx::parse(text).map_err(Fault::client)?;
    let env = sx::envelope(&doc)?;
    let op = env.body_element;
    let ns = op.tag_name().namespace().unwrap_or("");
    let name = op.tag_name().name();
    if ns == sx::CONTRACT_BASE && name == "Test" {
        check_action(headers, ACTION_TEST)?;
        sx::check_seq(op, &[]).map_err(Fault::client)?;
        return Ok(ok(format!(
            r#"<TestResponse xmlns="{}"/>"#,
            sx::CONTRACT_BASE
        )));
    }
    if ns != BS {
        return Err(Fault::client(format!("unknown operation {{{ns}}}{name}")));
    }
    let seq = match name {
        "InitiateBrokerServiceBasic" => INITIATE,
        "GetAvailableFilesBasic" => GET_FILES,
        "CheckIfAvailableFilesBasic" => CHECK,
        "ConfirmDownloadedBasic" => FILE_OP,
        _ => {
            return Err(Fault::client(format!(
                "unknown operation {{{ns}}}{name} on the Basic port"
            )))
        }
    };
    check_action(headers, &format!("{ACTION_BASIC}{name}"))?;
    sx::check_seq(op, seq).map_err(Fault::client)?;
    let user = authenticate(
        shared,
        &child_text(op, BS, "systemUserName").unwrap_or_default(),
        &child_text(op, BS, "systemPassword").unwrap_or_default(),
    )?;
    match name {
        "InitiateBrokerServiceBasic" => initiate(shared, &user, op),
        "GetAvailableFilesBasic" => available_files(shared, &user, op),
        "CheckIfAvailableFilesBasic" => check_available(shared, &user, op),
        _ => confirm_downloaded(shared, &user, op),
    }
}

fn initiate(
    shared: &Shared,
    user: &Altinn2User,
    op: roxmltree::Node<'_, '_>,
) -> Result<Response, Fault> {
    let init = child(op, BS, "brokerServiceInitiation").expect("validated");
    let manifest = child(init, BSE, "Manifest").ok_or_else(|| Fault::client("Manifest is nil"))?;
    check_service(
        Some(child_text(manifest, BSE, "ExternalServiceCode").unwrap_or_default()),
        child_text(manifest, BSE, "ExternalServiceEditionCode"),
    )?;
    let reportee = child_text(manifest, BSE, "Reportee").unwrap_or_default();
    let sender = reportee_org(shared, user, &reportee)?;
    let senders_reference = child_text(manifest, BSE, "SendersReference").filter(|s| !s.is_empty());
    let file_name = child(manifest, BSE, "FileList")
        .and_then(|l| child(l, BSE, "File"))
        .and_then(|f| child_text(f, BSE, "FileName"))
        .unwrap_or_else(|| "sbd.zip".to_string());
    let mut property_list = serde_json::Map::new();
    if let Some(pl) = child(manifest, BSE, "PropertyList") {
        for p in pl.children().filter(|c| c.is_element()) {
            let k = child_text(p, BSE, "PropertyKey").unwrap_or_default();
            let v = child_text(p, BSE, "PropertyValue").unwrap_or_default();
            property_list.insert(k, serde_json::Value::String(v));
        }
    }
    let list =
        child(init, BSE, "RecipientList").ok_or_else(|| Fault::client("RecipientList is nil"))?;
    let mut recipients = Vec::new();
    for r in list.children().filter(|c| c.is_element()) {
        let party = child_text(r, BSE, "PartyNumber").unwrap_or_default();
        let org = efm_core::ident::OrgNumber::parse(&party).map_err(|_| {
            Fault::altinn(
                sx::ERR_NOT_FOUND,
                format!("Recipient {party:?} is not a valid organisation number"),
            )
        })?;
        recipients.push(org.as_str().to_string());
    }
    if recipients.is_empty() {
        return Err(Fault::client(
            "RecipientList must name at least one recipient",
        ));
    }
    let mut st = shared.lock();
    let id = create_transfer(
        &mut st,
        Origin::Altinn2 {
            service_code: crate::state::DPO_SERVICE_CODE.into(),
            service_edition: crate::state::DPO_SERVICE_EDITION.into(),
        },
        DPO_RESOURCE.into(),
        file_name,
        senders_reference,
        format!("0192:{sender}"),
        sender,
        recipients,
        property_list,
        None,
    );
    log::info!("altinn2: initiated {id}");
    Ok(ok(format!(
        r#"<InitiateBrokerServiceBasicResponse xmlns="{BS}"><InitiateBrokerServiceBasicResult>{id}</InitiateBrokerServiceBasicResult></InitiateBrokerServiceBasicResponse>"#
    )))
}

fn available_files(
    shared: &Shared,
    user: &Altinn2User,
    op: roxmltree::Node<'_, '_>,
) -> Result<Response, Fault> {
    let s = child(op, BS, "searchParameters").expect("validated");
    check_service(
        child_text(s, BSE, "ExternalServiceCode"),
        child_text(s, BSE, "ExternalServiceEditionCode"),
    )?;
    let reportee = reportee_org(
        shared,
        user,
        &child_text(s, BSE, "Reportee").unwrap_or_default(),
    )?;
    let want_downloaded = child_text(s, BSE, "FileStatus").as_deref() == Some("Downloaded");
    let min = child_text(s, BSE, "MinSentDateTime").and_then(|t| sx::parse_datetime(&t));
    let max = child_text(s, BSE, "MaxSentDateTime").and_then(|t| sx::parse_datetime(&t));
    let mut st = shared.lock();
    st.tick();
    let mut files: Vec<(time::OffsetDateTime, String)> = Vec::new();
    for t in st.transfers.values() {
        if t.resource_id != DPO_RESOURCE {
            continue;
        }
        let Some(r) = t.recipient(&reportee) else {
            continue;
        };
        let confirmed = r.reached(RecipientStatus::DownloadConfirmed);
        let available = matches!(
            t.status(),
            TransferStatus::Published | TransferStatus::AllConfirmedDownloaded
        );
        if !available || confirmed != want_downloaded {
            continue;
        }
        let sent = t.entered(TransferStatus::Published).unwrap_or(t.created);
        if min.is_some_and(|m| sent < m) || max.is_some_and(|m| sent > m) {
            continue;
        }
        let reference = match &t.senders_reference {
            Some(r) => format!("<a:SendersReference>{}</a:SendersReference>", sx::escape(r)),
            None => r#"<a:SendersReference i:nil="true"/>"#.to_string(),
        };
        files.push((
            sent,
            format!(
                "<a:BrokerServiceAvailableFile><a:ExternalServiceCode>{code}</a:ExternalServiceCode><a:ExternalServiceEditionCode>{ed}</a:ExternalServiceEditionCode><a:FileName>{name}</a:FileName><a:FileReference>{id}</a:FileReference><a:FileSize>{size}</a:FileSize><a:FileStatus>{status}</a:FileStatus><a:IsSftpDownloadOnly>false</a:IsSftpDownloadOnly><a:ReceiptID>{receipt}</a:ReceiptID><a:Reportee>{sender}</a:Reportee>{reference}<a:SentDate>{sent}</a:SentDate></a:BrokerServiceAvailableFile>",
                code = crate::state::DPO_SERVICE_CODE,
                ed = crate::state::DPO_SERVICE_EDITION,
                name = sx::escape(&t.file_name),
                id = t.id,
                size = t.size,
                status = if want_downloaded { "Downloaded" } else { "Uploaded" },
                receipt = t.receipt_id,
                sender = t.sender_org,
                sent = iso(sent),
            ),
        ));
    }
    files.sort_by_key(|f| f.0);
    let items: String = files.into_iter().map(|f| f.1).collect();
    Ok(ok(format!(
        r#"<GetAvailableFilesBasicResponse xmlns="{BS}"><GetAvailableFilesBasicResult xmlns:a="{BSE}" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">{items}</GetAvailableFilesBasicResult></GetAvailableFilesBasicResponse>"#
    )))
}

fn check_available(
    shared: &Shared,
    user: &Altinn2User,
    op: roxmltree::Node<'_, '_>,
) -> Result<Response, Fault> {
    let p = child(op, BS, "pollParameters").expect("validated");
    check_service(
        child_text(p, BP, "ExternalServiceCode"),
        child_text(p, BP, "ExternalServiceEditionCode"),
    )?;
    let list = child(p, BP, "Recipients").ok_or_else(|| Fault::client("Recipients is nil"))?;
    let mut orgs = Vec::new();
    for s in list.children().filter(|c| c.is_element()) {
        orgs.push(reportee_org(shared, user, s.text().unwrap_or("").trim())?);
    }
    if orgs.is_empty() {
        return Err(Fault::client(
            "Recipients must name at least one organisation",
        ));
    }
    let mut st = shared.lock();
    st.tick();
    let any = st.transfers.values().any(|t| {
        t.resource_id == DPO_RESOURCE
            && t.status() == TransferStatus::Published
            && orgs.iter().any(|o| {
                t.recipient(o)
                    .is_some_and(|r| !r.reached(RecipientStatus::DownloadConfirmed))
            })
    });
    Ok(ok(format!(
        r#"<CheckIfAvailableFilesBasicResponse xmlns="{BS}"><CheckIfAvailableFilesBasicResult>{any}</CheckIfAvailableFilesBasicResult></CheckIfAvailableFilesBasicResponse>"#
    )))
}

fn file_reference(op: roxmltree::Node<'_, '_>) -> Result<Uuid, Fault> {
    let r = child_text(op, BS, "fileReference").unwrap_or_default();
    Uuid::parse_str(&r).map_err(|_| {
        Fault::altinn(
            sx::ERR_NOT_FOUND,
            format!("File reference {r:?} is not a valid reference"),
        )
    })
}

fn confirm_downloaded(
    shared: &Shared,
    user: &Altinn2User,
    op: roxmltree::Node<'_, '_>,
) -> Result<Response, Fault> {
    let id = file_reference(op)?;
    let reportee = reportee_org(
        shared,
        user,
        &child_text(op, BS, "reportee").unwrap_or_default(),
    )?;
    let mut st = shared.lock();
    st.tick();
    let now = st.now();
    let t = st
        .transfers
        .get_mut(&id)
        .filter(|t| t.is_recipient(&reportee))
        .ok_or_else(|| {
            Fault::altinn(
                sx::ERR_NOT_FOUND,
                format!("No file {id} is available to reportee {reportee}"),
            )
        })?;
    // Altinn 2 confirms without demanding a download first: record the download if missing.
    if let Some(r) = t.recipient_mut(&reportee) {
        if !r.reached(RecipientStatus::DownloadStarted)
            && !r.reached(RecipientStatus::DownloadConfirmed)
        {
            r.history.push((RecipientStatus::DownloadStarted, now));
        }
    }
    let already = t
        .recipient(&reportee)
        .is_some_and(|r| r.reached(RecipientStatus::DownloadConfirmed));
    if !already {
        confirm_for(&mut st, id, &reportee).map_err(|_| {
            Fault::altinn(
                sx::ERR_STATE,
                format!("File {id} cannot be confirmed in its current state"),
            )
        })?;
    }
    Ok(ok(format!(
        r#"<ConfirmDownloadedBasicResponse xmlns="{BS}"/>"#
    )))
}

// ---- Streamed port ------------------------------------------------------------------------

/// Parameters of a `multipart/related` Content-Type.
struct Related {
    boundary: String,
    start: Option<String>,
}

fn parse_related(ctype: &str) -> Option<Related> {
    let mut parts = split_params(ctype);
    let first = parts.next()?;
    if !first.trim().eq_ignore_ascii_case("multipart/related") {
        return None;
    }
    let mut boundary = None;
    let mut start = None;
    for p in parts {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v)
            .to_string();
        match k.trim().to_ascii_lowercase().as_str() {
            "boundary" => boundary = Some(v),
            "start" => start = Some(v),
            _ => {}
        }
    }
    Some(Related {
        boundary: boundary?,
        start,
    })
}

/// Split on `;` outside quoted strings (boundaries may hold `;`-free but quoted `+`/`=`).
fn split_params(s: &str) -> impl Iterator<Item = String> + '_ {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ';' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
}

fn content_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("content-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
}

/// `cid:` reference → Content-ID (percent-decoded).
fn cid_of(href: &str) -> Option<String> {
    let raw = href.strip_prefix("cid:")?;
    let mut out = Vec::new();
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).ok()?, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

async fn streamed(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    match streamed_op(&shared, req).await {
        Ok(r) => r,
        Err(f) => fault_response(f),
    }
}

enum StreamedOp {
    Upload {
        id: Uuid,
        file_name: Option<String>,
        cid: Option<String>,
        inline: Option<Vec<u8>>,
    },
    Download {
        id: Uuid,
        reportee: String,
    },
    Test,
}

/// Check the root envelope of a Streamed-port request and work out what it asks for.
fn streamed_envelope(
    shared: &Shared,
    headers: &HeaderMap,
    xml: &[u8],
) -> Result<StreamedOp, Fault> {
    let text = std::str::from_utf8(xml).map_err(|_| Fault::client("the SOAP part is not UTF-8"))?;
    let doc = sx::parse(text).map_err(Fault::client)?;
    let env = sx::envelope(&doc)?;
    let op = env.body_element;
    let ns = op.tag_name().namespace().unwrap_or("");
    let name = op.tag_name().name();
    if ns == sx::CONTRACT_BASE && name == "Test" {
        check_action(headers, ACTION_TEST)?;
        return Ok(StreamedOp::Test);
    }
    match (ns, name) {
        (BS, "StreamedPayloadBasicBE") => {
            check_action(
                headers,
                &format!("{ACTION_STREAMED}UploadFileStreamedBasic"),
            )?;
            sx::check_seq(op, STREAMED_PAYLOAD).map_err(Fault::client)?;
            let mut values = std::collections::HashMap::new();
            if let Some(h) = env.header {
                for c in h.children().filter(|c| c.is_element()) {
                    let known = c.tag_name().namespace() == Some(BS)
                        && UPLOAD_HEADERS.contains(&c.tag_name().name());
                    if known {
                        values.insert(
                            c.tag_name().name().to_string(),
                            c.text().unwrap_or("").trim().to_string(),
                        );
                    } else if matches!(
                        c.attribute((sx::SOAP_ENV, "mustUnderstand")),
                        Some("1") | Some("true")
                    ) {
                        return Err(Fault {
                            code: "s:MustUnderstand",
                            error_id: sx::ERR_INVALID_REQUEST,
                            message: format!("header {} is not understood", c.tag_name().name()),
                        });
                    }
                }
            }
            let get = |k: &str| values.get(k).cloned().filter(|v| !v.is_empty());
            let (Some(user), Some(password)) = (get("SystemUserName"), get("SystemPassword"))
            else {
                return Err(Fault::client("UploadFileStreamedBasic needs the SOAP headers SystemUserName and SystemPassword"));
            };
            let user = authenticate(shared, &user, &password)?;
            let reference = get("Reference").ok_or_else(|| {
                Fault::client(
                    "the SOAP header Reference (the InitiateBrokerServiceBasic result) is required",
                )
            })?;
            let id = Uuid::parse_str(&reference).map_err(|_| {
                Fault::altinn(
                    sx::ERR_NOT_FOUND,
                    format!("Reference {reference:?} does not name an initiated broker service"),
                )
            })?;
            let reportee = reportee_org(shared, &user, &get("Reportee").unwrap_or_default())?;
            {
                let st = shared.lock();
                let t = st
                    .transfers
                    .get(&id)
                    .filter(|t| matches!(t.origin, Origin::Altinn2 { .. }));
                let Some(t) = t else {
                    return Err(Fault::altinn(
                        sx::ERR_NOT_FOUND,
                        format!("Reference {reference} does not name an initiated broker service"),
                    ));
                };
                if t.sender_org != reportee {
                    return Err(Fault::altinn(
                        sx::ERR_NOT_AUTHORISED,
                        format!("Reference {reference} was initiated by another reportee"),
                    ));
                }
                if t.status() != TransferStatus::Initialized {
                    return Err(Fault::altinn(
                        sx::ERR_STATE,
                        format!("A file has already been uploaded for reference {reference}"),
                    ));
                }
            }
            let data = child(op, BS, "DataStream").expect("validated");
            let include = child(data, sx::XOP, "Include");
            let (cid, inline) = match include {
                Some(inc) => {
                    let href = inc.attribute("href").unwrap_or("");
                    (
                        Some(cid_of(href).ok_or_else(|| {
                            Fault::client(format!(
                                "xop:Include href {href:?} is not a cid: reference"
                            ))
                        })?),
                        None,
                    )
                }
                None => {
                    use base64::Engine;
                    let b64: String = data.text().unwrap_or("").split_whitespace().collect();
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .map_err(|_| {
                            Fault::client("DataStream holds neither an xop:Include nor base64")
                        })?;
                    (None, Some(bytes))
                }
            };
            Ok(StreamedOp::Upload {
                id,
                file_name: get("FileName"),
                cid,
                inline,
            })
        }
        (BS, "DownloadFileStreamedBasic") => {
            check_action(
                headers,
                &format!("{ACTION_STREAMED}DownloadFileStreamedBasic"),
            )?;
            sx::check_seq(op, FILE_OP).map_err(Fault::client)?;
            let user = authenticate(
                shared,
                &child_text(op, BS, "systemUserName").unwrap_or_default(),
                &child_text(op, BS, "systemPassword").unwrap_or_default(),
            )?;
            let id = file_reference(op)?;
            let reportee = reportee_org(
                shared,
                &user,
                &child_text(op, BS, "reportee").unwrap_or_default(),
            )?;
            Ok(StreamedOp::Download { id, reportee })
        }
        _ => Err(Fault::client(format!(
            "unknown operation {{{ns}}}{name} on the Streamed port"
        ))),
    }
}

async fn streamed_op(shared: &Arc<Shared>, req: Request) -> Result<Response, Fault> {
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if let Some(rel) = parse_related(&ctype) {
        // MTOM: the root part first (bounded), then the binary part streamed to disk.
        let mut mp = multer::Multipart::new(body.into_data_stream(), rel.boundary.clone());
        let mut root = mp
            .next_field()
            .await
            .map_err(|e| Fault::client(format!("the MIME multipart body is malformed: {e}")))?
            .ok_or_else(|| Fault::client("the MIME multipart body has no parts"))?;
        if let (Some(start), Some(cid)) = (rel.start.as_deref(), content_id(root.headers())) {
            if start.trim_start_matches('<').trim_end_matches('>') != cid {
                return Err(Fault::client(
                    "the first MIME part is not the one the start parameter names",
                ));
            }
        }
        let mut xml = Vec::new();
        while let Some(chunk) = root
            .chunk()
            .await
            .map_err(|e| Fault::client(format!("reading the SOAP part: {e}")))?
        {
            xml.extend_from_slice(&chunk);
            if xml.len() > MAX_ENVELOPE {
                return Err(Fault::client("the SOAP part is larger than 1 MiB"));
            }
        }
        drop(root);
        let op = streamed_envelope(shared, &headers, &xml)?;
        match op {
            StreamedOp::Upload {
                id,
                file_name,
                cid,
                inline,
            } => {
                let written = if let Some(bytes) = inline {
                    write_inline(shared, id, file_name, bytes).await
                } else {
                    let cid = cid.unwrap_or_default();
                    let mut field = loop {
                        let f = mp
                            .next_field()
                            .await
                            .map_err(|e| {
                                Fault::client(format!("the MIME multipart body is malformed: {e}"))
                            })?
                            .ok_or_else(|| {
                                Fault::client(format!("no MIME part has Content-ID <{cid}>"))
                            })?;
                        if content_id(f.headers()).as_deref() == Some(cid.as_str()) {
                            break f;
                        }
                    };
                    start_upload(shared, id, file_name.clone())?;
                    let limit = shared.lock().settings.max_file_size;
                    let path = store::payload_path(&shared.store_dir, &id);
                    let stream = futures_util::stream::poll_fn(move |cx| {
                        use futures_util::Stream;
                        std::pin::Pin::new(&mut field).poll_next(cx)
                    });
                    store::write_stream(Box::pin(stream), &path, limit).await
                };
                upload_answer(shared, id, written)
            }
            StreamedOp::Download { id, reportee } => download(shared, id, &reportee).await,
            StreamedOp::Test => Ok(ok(format!(
                r#"<TestResponse xmlns="{}"/>"#,
                sx::CONTRACT_BASE
            ))),
        }
    } else if ctype.to_ascii_lowercase().starts_with("text/xml") {
        let bytes = read_limited(body, MAX_INLINE_UPLOAD).await?;
        match streamed_envelope(shared, &headers, &bytes)? {
            StreamedOp::Upload {
                id,
                inline: Some(bytes),
                file_name,
                ..
            } => {
                let written = write_inline(shared, id, file_name, bytes).await;
                upload_answer(shared, id, written)
            }
            StreamedOp::Upload { .. } => Err(Fault::client(
                "an xop:Include needs an MTOM (multipart/related) request",
            )),
            StreamedOp::Download { id, reportee } => download(shared, id, &reportee).await,
            StreamedOp::Test => Ok(ok(format!(
                r#"<TestResponse xmlns="{}"/>"#,
                sx::CONTRACT_BASE
            ))),
        }
    } else {
        Err(Fault::client(format!(
            "Content-Type must be multipart/related (MTOM) or text/xml, got {ctype:?}"
        )))
    }
}

fn start_upload(shared: &Shared, id: Uuid, file_name: Option<String>) -> Result<(), Fault> {
    let mut st = shared.lock();
    let now = st.now();
    let t = st
        .transfers
        .get_mut(&id)
        .ok_or_else(|| Fault::altinn(sx::ERR_NOT_FOUND, "the broker service disappeared"))?;
    if t.status() != TransferStatus::Initialized {
        return Err(Fault::altinn(
            sx::ERR_STATE,
            "A file has already been uploaded for this reference",
        ));
    }
    if let Some(n) = file_name {
        t.file_name = n;
    }
    t.set_status(TransferStatus::UploadStarted, now, None);
    Ok(())
}

async fn write_inline(
    shared: &Shared,
    id: Uuid,
    file_name: Option<String>,
    bytes: Vec<u8>,
) -> Result<store::Written, store::WriteError> {
    if let Err(f) = start_upload(shared, id, file_name) {
        return Err(store::WriteError::Failed(f.message));
    }
    let limit = shared.lock().settings.max_file_size;
    let path = store::payload_path(&shared.store_dir, &id);
    let stream =
        futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(Bytes::from(bytes)) });
    store::write_stream(Box::pin(stream), &path, limit).await
}

fn upload_answer(
    shared: &Shared,
    id: Uuid,
    written: Result<store::Written, store::WriteError>,
) -> Result<Response, Fault> {
    let r = finish_upload(shared, id, written);
    if !r.status().is_success() {
        let st = shared.lock();
        let text = st
            .transfers
            .get(&id)
            .map(|t| t.status_text())
            .unwrap_or_default();
        return Err(Fault::altinn(
            sx::ERR_STATE,
            format!("The upload failed: {text}"),
        ));
    }
    let st = shared.lock();
    let t = st
        .transfers
        .get(&id)
        .ok_or_else(|| Fault::server("the transfer disappeared"))?;
    Ok(ok(format!(
        r#"<ReceiptExternalStreamedBE xmlns="{BS}" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><LastChanged>{changed}</LastChanged><ParentReceiptId>0</ParentReceiptId><ReceiptHistory>{changed} - OK - File uploaded</ReceiptHistory><ReceiptId>{receipt}</ReceiptId><ReceiptStatusCode>OK</ReceiptStatusCode><ReceiptText>File {id} uploaded ({size} bytes)</ReceiptText><ReceiptTypeName>BrokerService</ReceiptTypeName></ReceiptExternalStreamedBE>"#,
        changed = iso(t.status_changed()),
        receipt = t.receipt_id,
        size = t.size,
    )))
}

async fn download(shared: &Shared, id: Uuid, reportee: &str) -> Result<Response, Fault> {
    let (path, size) = {
        let mut st = shared.lock();
        st.tick();
        let now = st.now();
        let t = st
            .transfers
            .get_mut(&id)
            .filter(|t| t.is_recipient(reportee))
            .ok_or_else(|| {
                Fault::altinn(
                    sx::ERR_NOT_FOUND,
                    format!("No file {id} is available to reportee {reportee}"),
                )
            })?;
        if !matches!(
            t.status(),
            TransferStatus::Published | TransferStatus::AllConfirmedDownloaded
        ) {
            return Err(Fault::altinn(
                sx::ERR_STATE,
                format!(
                    "File {id} is not available for download (status {})",
                    t.status().name()
                ),
            ));
        }
        let path = t
            .file_path
            .clone()
            .ok_or_else(|| Fault::altinn(sx::ERR_STATE, "no file was uploaded"))?;
        if let Some(r) = t.recipient_mut(reportee) {
            r.history.push((RecipientStatus::DownloadStarted, now));
        }
        (path, t.size)
    };
    let boundary = format!("uuid:{}+id=1", Uuid::new_v4());
    let data_cid = format!("http://tempuri.org/1/{}", Uuid::new_v4().simple());
    let head = format!(
        "--{boundary}\r\nContent-ID: <http://tempuri.org/0>\r\nContent-Transfer-Encoding: 8bit\r\nContent-Type: application/xop+xml;charset=utf-8;type=\"text/xml\"\r\n\r\n{}\r\n--{boundary}\r\nContent-ID: <{data_cid}>\r\nContent-Transfer-Encoding: binary\r\nContent-Type: application/octet-stream\r\n\r\n",
        sx::response_envelope(&format!(
            r#"<DownloadFileStreamedBasicResponse xmlns="{BS}"><DownloadFileStreamedBasicResult><xop:Include href="cid:{data_cid}" xmlns:xop="{xop}"/></DownloadFileStreamedBasicResult></DownloadFileStreamedBasicResponse>"#,
            xop = sx::XOP
        ))
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let file = store::file_body(&path, 0, size)
        .await
        .map_err(|e| Fault::server(format!("the stored file cannot be read: {e}")))?;
    let stream =
        futures_util::stream::once(async move { Ok::<Bytes, axum::Error>(Bytes::from(head)) })
            .chain(file.into_data_stream())
            .chain(futures_util::stream::once(async move {
                Ok::<Bytes, axum::Error>(Bytes::from(tail))
            }));
    let mut r = Response::new(Body::from_stream(stream));
    let ct = format!(
        "multipart/related; type=\"application/xop+xml\"; start=\"<http://tempuri.org/0>\"; boundary=\"{boundary}\"; start-info=\"text/xml\""
    );
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&ct).map_err(|_| Fault::server("content type"))?,
    );
    r.headers_mut()
        .insert("MIME-Version", HeaderValue::from_static("1.0"));
    Ok(r)
}
