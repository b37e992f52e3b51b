//! SOAP 1.1 envelopes of the Altinn 2 broker (Altinn's `BrokerServiceExternalBasic` and
//! `BrokerServiceExternalBasicStreamed` WSDLs): the requests we send, written element by element in
//! the WSDL's sequence order (DataContractSerializer drops members out of order), and the answers
//! and `AltinnFault`s we read.
//!
//! Answers are parsed with roxmltree, which refuses DTDs (so no entity expansion or external
//! entities) and is given only bounded input by the caller.

use roxmltree::{Document, Node, ParsingOptions};

pub const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// Operation wrappers and their direct children.
pub const BS: &str = "http://www.altinn.no/services/ServiceEngine/Broker/2015/06";
/// Data contracts (Manifest, BrokerServiceSearch, BrokerServiceAvailableFile, ...).
pub const BSE: &str = "http://schemas.altinn.no/services/ServiceEngine/Broker/2015/06";
/// BrokerServicePoll.
pub const BP: &str = "http://schemas.altinn.no/services/ServiceEngine/Broker/2020/01";
pub const ARR: &str = "http://schemas.microsoft.com/2003/10/Serialization/Arrays";
pub const FAULT_NS: &str = "http://www.altinn.no/services/common/fault/2009/10";
pub const XOP: &str = "http://www.w3.org/2004/08/xop/include";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

const ACTION_BASIC: &str =
    "http://www.altinn.no/services/ServiceEngine/Broker/2015/06/IBrokerServiceExternalBasic/";
const ACTION_STREAMED: &str =
    "http://www.altinn.no/services/ServiceEngine/Broker/2015/06/IBrokerServiceExternalBasicStreamed/";

/// The SOAPAction of a Basic-port operation (quoted, as JAX-WS sends it).
pub fn basic_action(operation: &str) -> String {
    format!("\"{ACTION_BASIC}{operation}\"")
}

/// The SOAPAction of a Streamed-port operation (quoted).
pub fn streamed_action(operation: &str) -> String {
    format!("\"{ACTION_STREAMED}{operation}\"")
}

/// Escape text for element content: the XML specials, and CR as a character reference so the
/// receiving parser does not normalise it away (a password may contain one).
pub fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).replace('\r', "&#13;")
}

/// The system user's name and password, as every operation carries them.
#[derive(Clone, Copy)]
pub struct Login<'a> {
    pub username: &'a str,
    pub password: &'a str,
}

fn envelope(header: &str, body: &str) -> String {
    let header = if header.is_empty() {
        String::new()
    } else {
        format!("<soap:Header>{header}</soap:Header>")
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns:soap=\"{SOAP_ENV}\" xmlns:bs=\"{BS}\" xmlns:bse=\"{BSE}\" xmlns:bp=\"{BP}\" xmlns:arr=\"{ARR}\">{header}<soap:Body>{body}</soap:Body></soap:Envelope>"
    )
}

fn credentials(login: Login<'_>) -> String {
    format!(
        "<bs:systemUserName>{}</bs:systemUserName><bs:systemPassword>{}</bs:systemPassword>",
        escape(login.username),
        escape(login.password)
    )
}

/// What InitiateBrokerServiceBasic announces (IP v3 `AltinnWsClient.getManifest`).
pub struct Initiation<'a> {
    pub service_code: &'a str,
    pub service_edition: i32,
    /// The file name in the manifest's FileList (`sbd.zip`).
    pub file_name: &'a str,
    /// The sender's 9-digit organisation number.
    pub reportee: &'a str,
    pub senders_reference: &'a str,
    /// The recipients' 9-digit organisation numbers.
    pub recipients: &'a [&'a str],
}

/// InitiateBrokerServiceBasic (3.3.1). The FileList is written as the schema defines it
/// (`<bse:FileList>`), not as the IP's `<ArrayOfFile>` that WCF skips.
pub fn initiate(login: Login<'_>, i: &Initiation<'_>) -> String {
    let recipients: String = i
        .recipients
        .iter()
        .map(|r| {
            format!(
                "<bse:Recipient><bse:PartyNumber>{}</bse:PartyNumber></bse:Recipient>",
                escape(r)
            )
        })
        .collect();
    envelope(
        "",
        &format!(
            "<bs:InitiateBrokerServiceBasic>{}<bs:brokerServiceInitiation><bse:Manifest><bse:ExternalServiceCode>{}</bse:ExternalServiceCode><bse:ExternalServiceEditionCode>{}</bse:ExternalServiceEditionCode><bse:FileList><bse:File><bse:FileName>{}</bse:FileName></bse:File></bse:FileList><bse:Reportee>{}</bse:Reportee><bse:SendersReference>{}</bse:SendersReference></bse:Manifest><bse:RecipientList>{recipients}</bse:RecipientList></bs:brokerServiceInitiation></bs:InitiateBrokerServiceBasic>",
            credentials(login),
            escape(i.service_code),
            i.service_edition,
            escape(i.file_name),
            escape(i.reportee),
            escape(i.senders_reference),
        ),
    )
}

/// CheckIfAvailableFilesBasic (3.3.2) for one recipient.
pub fn check_if_available(
    login: Login<'_>,
    service_code: &str,
    service_edition: i32,
    recipient: &str,
) -> String {
    envelope(
        "",
        &format!(
            "<bs:CheckIfAvailableFilesBasic>{}<bs:pollParameters><bp:ExternalServiceCode>{}</bp:ExternalServiceCode><bp:ExternalServiceEditionCode>{service_edition}</bp:ExternalServiceEditionCode><bp:Recipients><arr:string>{}</arr:string></bp:Recipients></bs:pollParameters></bs:CheckIfAvailableFilesBasic>",
            credentials(login),
            escape(service_code),
            escape(recipient),
        ),
    )
}

/// `FileStatus` of a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    /// New files, not yet confirmed by the reportee.
    Uploaded,
    /// Files the reportee has confirmed but that are still kept.
    Downloaded,
}

impl FileStatus {
    fn as_str(self) -> &'static str {
        match self {
            FileStatus::Uploaded => "Uploaded",
            FileStatus::Downloaded => "Downloaded",
        }
    }
}

/// GetAvailableFilesBasic (3.3.3), without a date range.
pub fn get_available_files(
    login: Login<'_>,
    service_code: &str,
    service_edition: i32,
    status: FileStatus,
    reportee: &str,
) -> String {
    envelope(
        "",
        &format!(
            "<bs:GetAvailableFilesBasic>{}<bs:searchParameters><bse:ExternalServiceCode>{}</bse:ExternalServiceCode><bse:ExternalServiceEditionCode>{service_edition}</bse:ExternalServiceEditionCode><bse:FileStatus>{}</bse:FileStatus><bse:Reportee>{}</bse:Reportee></bs:searchParameters></bs:GetAvailableFilesBasic>",
            credentials(login),
            escape(service_code),
            status.as_str(),
            escape(reportee),
        ),
    )
}

fn file_operation(name: &str, login: Login<'_>, file_reference: &str, reportee: &str) -> String {
    envelope(
        "",
        &format!(
            "<bs:{name}>{}<bs:fileReference>{}</bs:fileReference><bs:reportee>{}</bs:reportee></bs:{name}>",
            credentials(login),
            escape(file_reference),
            escape(reportee),
        ),
    )
}

/// ConfirmDownloadedBasic (3.3.4).
pub fn confirm_downloaded(login: Login<'_>, file_reference: &str, reportee: &str) -> String {
    file_operation("ConfirmDownloadedBasic", login, file_reference, reportee)
}

/// DownloadFileStreamedBasic (3.4.2): the root part of the MTOM request.
pub fn download(login: Login<'_>, file_reference: &str, reportee: &str) -> String {
    file_operation("DownloadFileStreamedBasic", login, file_reference, reportee)
}

/// UploadFileStreamedBasic (3.4.1): credentials and metadata as SOAP headers (capitalised, in
/// the IP's order), the body an XOP include of the MIME part `payload_cid`.
pub fn upload(
    login: Login<'_>,
    file_name: &str,
    reference: &str,
    reportee: &str,
    payload_cid: &str,
) -> String {
    envelope(
        &format!(
            "<bs:FileName>{}</bs:FileName><bs:Reference>{}</bs:Reference><bs:Reportee>{}</bs:Reportee><bs:SystemPassword>{}</bs:SystemPassword><bs:SystemUserName>{}</bs:SystemUserName>",
            escape(file_name),
            escape(reference),
            escape(reportee),
            escape(login.password),
            escape(login.username),
        ),
        &format!(
            "<bs:StreamedPayloadBasicBE><bs:DataStream><xop:Include xmlns:xop=\"{XOP}\" href=\"cid:{}\"/></bs:DataStream></bs:StreamedPayloadBasicBE>",
            escape(payload_cid)
        ),
    )
}

// ---- reading answers ---------------------------------------------------------------------------

/// An `AltinnFault` (the WSDLs' `AltinnFaultFault` detail), or a bare SOAP fault.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fault {
    pub fault_code: String,
    pub fault_string: String,
    pub error_id: Option<i64>,
    pub error_message: Option<String>,
    pub localized_message: Option<String>,
    pub extended_message: Option<String>,
    pub error_guid: Option<String>,
    pub user_id: Option<String>,
}

impl Fault {
    /// The best human explanation available.
    pub fn message(&self) -> &str {
        self.error_message
            .as_deref()
            .or(self.localized_message.as_deref())
            .filter(|m| !m.is_empty())
            .unwrap_or(&self.fault_string)
    }

    /// Altinn's answer to a wrong system user name or password (ErrorID 989 as a public Altinn
    /// client records it; the IP's `AltinnAuthenticationAnalyzer` matches the message text).
    pub fn is_bad_credentials(&self) -> bool {
        self.error_id == Some(989)
            || [&self.error_message, &self.localized_message]
                .iter()
                .any(|m| {
                    m.as_deref()
                        .is_some_and(|m| m.contains("Incorrect username/password"))
                })
    }
}

/// Why an answer could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerError {
    Fault(Box<Fault>),
    /// Not the SOAP we expected; the text says what is wrong.
    Malformed(String),
}

fn malformed(what: impl Into<String>) -> AnswerError {
    AnswerError::Malformed(what.into())
}

pub fn parse(text: &str) -> Result<Document<'_>, AnswerError> {
    let opts = ParsingOptions {
        allow_dtd: false,
        nodes_limit: 1_000_000,
    };
    Document::parse_with_options(text, opts).map_err(|e| {
        malformed(format!(
            "the answer is not well-formed XML without a DTD: {e}"
        ))
    })
}

fn is(n: Node<'_, '_>, ns: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().name() == name && n.tag_name().namespace().unwrap_or("") == ns
}

fn child<'a, 'i>(n: Node<'a, 'i>, ns: &str, name: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| is(*c, ns, name))
}

/// The text of a child element; `None` when missing or `i:nil`.
fn child_text(n: Node<'_, '_>, ns: &str, name: &str) -> Option<String> {
    let c = child(n, ns, name)?;
    if matches!(c.attribute((XSI, "nil")), Some("true") | Some("1")) {
        return None;
    }
    Some(c.text().unwrap_or("").trim().to_string())
}

/// Any element child called `name`, whatever its namespace (fault children are unqualified).
fn local_child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn fault_from(f: Node<'_, '_>) -> Fault {
    let text = |n: Option<Node<'_, '_>>| n.map(|n| n.text().unwrap_or("").trim().to_string());
    let mut fault = Fault {
        fault_code: text(local_child(f, "faultcode")).unwrap_or_default(),
        fault_string: text(local_child(f, "faultstring")).unwrap_or_default(),
        ..Fault::default()
    };
    let detail = local_child(f, "detail");
    if let Some(af) = detail.and_then(|d| child(d, FAULT_NS, "AltinnFault")) {
        fault.error_id = child_text(af, FAULT_NS, "ErrorID").and_then(|v| v.parse().ok());
        fault.error_message = child_text(af, FAULT_NS, "AltinnErrorMessage");
        fault.localized_message = child_text(af, FAULT_NS, "AltinnLocalizedErrorMessage");
        fault.extended_message = child_text(af, FAULT_NS, "AltinnExtendedErrorMessage");
        fault.error_guid = child_text(af, FAULT_NS, "ErrorGuid");
        fault.user_id = child_text(af, FAULT_NS, "UserId");
    }
    fault
}

/// The single element in `soap:Body`; a `soap:Fault` there becomes [`AnswerError::Fault`].
pub fn body_element<'a, 'i>(doc: &'a Document<'i>) -> Result<Node<'a, 'i>, AnswerError> {
    let env = doc.root_element();
    if !is(env, SOAP_ENV, "Envelope") {
        return Err(malformed(format!(
            "the answer is not a SOAP 1.1 envelope (root element {{{}}}{})",
            env.tag_name().namespace().unwrap_or(""),
            env.tag_name().name()
        )));
    }
    let body =
        child(env, SOAP_ENV, "Body").ok_or_else(|| malformed("the SOAP envelope has no Body"))?;
    let first = body
        .children()
        .find(|c| c.is_element())
        .ok_or_else(|| malformed("the SOAP Body is empty"))?;
    if is(first, SOAP_ENV, "Fault") {
        return Err(AnswerError::Fault(Box::new(fault_from(first))));
    }
    Ok(first)
}

/// A SOAP fault anywhere in `text`, if it is one (for error answers).
pub fn fault_in(text: &str) -> Option<Fault> {
    let doc = parse(text).ok()?;
    match body_element(&doc) {
        Err(AnswerError::Fault(f)) => Some(*f),
        _ => None,
    }
}

/// The `<Result>` element of `operation`'s response.
fn result<'a, 'i>(doc: &'a Document<'i>, operation: &str) -> Result<Node<'a, 'i>, AnswerError> {
    let body = body_element(doc)?;
    let response = format!("{operation}Response");
    if !is(body, BS, &response) {
        return Err(malformed(format!(
            "expected {response}, got {}",
            body.tag_name().name()
        )));
    }
    child(body, BS, &format!("{operation}Result"))
        .ok_or_else(|| malformed(format!("{response} has no {operation}Result")))
}

pub fn initiate_result(text: &str) -> Result<String, AnswerError> {
    let doc = parse(text)?;
    let r = result(&doc, "InitiateBrokerServiceBasic")?;
    let v = r.text().unwrap_or("").trim().to_string();
    if v.is_empty() {
        return Err(malformed("InitiateBrokerServiceBasicResult is empty"));
    }
    Ok(v)
}

pub fn check_result(text: &str) -> Result<bool, AnswerError> {
    let doc = parse(text)?;
    let r = result(&doc, "CheckIfAvailableFilesBasic")?;
    match r.text().unwrap_or("").trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(malformed(format!(
            "CheckIfAvailableFilesBasicResult is not a boolean: {other:?}"
        ))),
    }
}

/// One `BrokerServiceAvailableFile`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AvailableFile {
    pub file_reference: String,
    pub file_name: Option<String>,
    pub file_size: Option<u64>,
    pub file_status: Option<String>,
    pub receipt_id: Option<String>,
    /// The sender's organisation number.
    pub reportee: Option<String>,
    pub senders_reference: Option<String>,
    pub sent_date: Option<String>,
    pub service_code: Option<String>,
    pub service_edition: Option<String>,
}

pub fn available_files(text: &str) -> Result<Vec<AvailableFile>, AnswerError> {
    let doc = parse(text)?;
    let r = result(&doc, "GetAvailableFilesBasic")?;
    let mut out = Vec::new();
    for f in r
        .children()
        .filter(|c| is(*c, BSE, "BrokerServiceAvailableFile"))
    {
        let t = |name: &str| child_text(f, BSE, name).filter(|v| !v.is_empty());
        let Some(file_reference) = t("FileReference") else {
            log::warn!("an available file without a FileReference was skipped");
            continue;
        };
        out.push(AvailableFile {
            file_reference,
            file_name: t("FileName"),
            file_size: t("FileSize").and_then(|v| v.parse().ok()),
            file_status: t("FileStatus"),
            receipt_id: t("ReceiptID"),
            reportee: t("Reportee"),
            // Present but empty counts as present: it is not a channel name either way.
            senders_reference: child_text(f, BSE, "SendersReference"),
            sent_date: t("SentDate"),
            service_code: t("ExternalServiceCode"),
            service_edition: t("ExternalServiceEditionCode"),
        });
    }
    Ok(out)
}

/// Confirm answers an empty ConfirmDownloadedBasicResponse.
pub fn confirm_result(text: &str) -> Result<(), AnswerError> {
    let doc = parse(text)?;
    let body = body_element(&doc)?;
    if !is(body, BS, "ConfirmDownloadedBasicResponse") {
        return Err(malformed(format!(
            "expected ConfirmDownloadedBasicResponse, got {}",
            body.tag_name().name()
        )));
    }
    Ok(())
}

/// What the upload receipt says (logged only: success is "no fault", as in IP v3
/// `AltinnWsClient`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    pub receipt_id: Option<String>,
    pub status_code: Option<String>,
    pub text: Option<String>,
}

pub fn upload_receipt(text: &str) -> Result<Receipt, AnswerError> {
    let doc = parse(text)?;
    let body = body_element(&doc)?;
    if !is(body, BS, "ReceiptExternalStreamedBE") {
        return Err(malformed(format!(
            "expected ReceiptExternalStreamedBE, got {}",
            body.tag_name().name()
        )));
    }
    Ok(Receipt {
        receipt_id: child_text(body, BS, "ReceiptId"),
        status_code: child_text(body, BS, "ReceiptStatusCode"),
        text: child_text(body, BS, "ReceiptText"),
    })
}

/// Where the downloaded file is: an XOP include (the normal MTOM answer) or inline base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadData {
    /// The Content-ID of the MIME part holding the bytes.
    Include(String),
    Inline(String),
}

pub fn download_result(text: &str) -> Result<DownloadData, AnswerError> {
    let doc = parse(text)?;
    let r = result(&doc, "DownloadFileStreamedBasic")?;
    if let Some(inc) = child(r, XOP, "Include") {
        let href = inc
            .attribute("href")
            .ok_or_else(|| malformed("the xop:Include has no href"))?;
        let cid = super::mtom::cid_from_href(href)
            .ok_or_else(|| malformed(format!("the xop:Include href {href:?} is not a cid: URL")))?;
        return Ok(DownloadData::Include(cid));
    }
    Ok(DownloadData::Inline(
        r.text().unwrap_or("").split_whitespace().collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGIN: Login<'static> = Login {
        username: "u<1>",
        password: "p&ss",
    };

    #[test]
    fn requests_are_escaped_and_well_formed() {
        let xml = initiate(
            LOGIN,
            &Initiation {
                service_code: "4192",
                service_edition: 270815,
                file_name: "sbd.zip",
                reportee: "910075918",
                senders_reference: "a&b",
                recipients: &["910076787"],
            },
        );
        let doc = parse(&xml).unwrap();
        let op = body_element(&doc).unwrap();
        assert!(is(op, BS, "InitiateBrokerServiceBasic"));
        assert_eq!(
            child_text(op, BS, "systemUserName").as_deref(),
            Some("u<1>")
        );
        assert_eq!(
            child_text(op, BS, "systemPassword").as_deref(),
            Some("p&ss")
        );
        let names: Vec<_> = op
            .descendants()
            .filter(|n| n.is_element())
            .map(|n| n.tag_name().name())
            .collect();
        assert_eq!(
            names,
            [
                "InitiateBrokerServiceBasic",
                "systemUserName",
                "systemPassword",
                "brokerServiceInitiation",
                "Manifest",
                "ExternalServiceCode",
                "ExternalServiceEditionCode",
                "FileList",
                "File",
                "FileName",
                "Reportee",
                "SendersReference",
                "RecipientList",
                "Recipient",
                "PartyNumber"
            ]
        );
        for xml in [
            check_if_available(LOGIN, "4192", 1, "910075918"),
            get_available_files(LOGIN, "4192", 1, FileStatus::Uploaded, "910075918"),
            confirm_downloaded(LOGIN, "r", "910075918"),
            download(LOGIN, "r", "910075918"),
            upload(LOGIN, "sbd.zip", "r", "910075918", "p@efm"),
        ] {
            parse(&xml).unwrap();
        }
    }

    #[test]
    fn faults_are_read() {
        let text = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring xml:lang="nb-NO">An error occurred</faultstring><detail><AltinnFault xmlns="http://www.altinn.no/services/common/fault/2009/10" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><AltinnErrorMessage>Incorrect username/password/pin given for user</AltinnErrorMessage><AltinnExtendedErrorMessage>No information available</AltinnExtendedErrorMessage><AltinnLocalizedErrorMessage i:nil="true"/><ErrorGuid>00000000-0000-0000-0000-000000000000</ErrorGuid><ErrorID>989</ErrorID><UserGuid>-no value-</UserGuid><UserId>12345</UserId></AltinnFault></detail></s:Fault></s:Body></s:Envelope>"#;
        let f = fault_in(text).unwrap();
        assert_eq!(f.error_id, Some(989));
        assert_eq!(f.fault_code, "s:Client");
        assert_eq!(f.localized_message, None);
        assert_eq!(f.user_id.as_deref(), Some("12345"));
        assert!(f.is_bad_credentials());
        assert_eq!(
            f.message(),
            "Incorrect username/password/pin given for user"
        );
        assert_eq!(
            initiate_result(text).unwrap_err(),
            AnswerError::Fault(Box::new(f.clone()))
        );
    }

    #[test]
    fn dtds_are_refused() {
        let text = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&e;</s:Body></s:Envelope>"#;
        assert!(matches!(parse(text), Err(AnswerError::Malformed(_))));
    }

    #[test]
    fn available_files_read_like_the_spec_example() {
        let text = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><GetAvailableFilesBasicResponse xmlns="http://www.altinn.no/services/ServiceEngine/Broker/2015/06"><GetAvailableFilesBasicResult xmlns:a="http://schemas.altinn.no/services/ServiceEngine/Broker/2015/06" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><a:BrokerServiceAvailableFile><a:ExternalServiceCode>4192</a:ExternalServiceCode><a:ExternalServiceEditionCode>170101</a:ExternalServiceEditionCode><a:FileName>sbd.zip</a:FileName><a:FileReference>0c9d5d5e-6a57-4c1e-a0a4-2b1b0f3c7d21</a:FileReference><a:FileSize>48213</a:FileSize><a:FileStatus>Uploaded</a:FileStatus><a:IsSftpDownloadOnly>false</a:IsSftpDownloadOnly><a:ReceiptID>123456789</a:ReceiptID><a:Reportee>910077473</a:Reportee><a:SendersReference i:nil="true"/><a:SentDate>2024-05-10T12:34:56.123</a:SentDate></a:BrokerServiceAvailableFile></GetAvailableFilesBasicResult></GetAvailableFilesBasicResponse></s:Body></s:Envelope>"#;
        let files = available_files(text).unwrap();
        assert_eq!(files.len(), 1);
        let f = &files[0];
        assert_eq!(f.file_reference, "0c9d5d5e-6a57-4c1e-a0a4-2b1b0f3c7d21");
        assert_eq!(f.file_size, Some(48213));
        assert_eq!(f.reportee.as_deref(), Some("910077473"));
        assert_eq!(f.senders_reference, None);
        assert_eq!(f.sent_date.as_deref(), Some("2024-05-10T12:34:56.123"));
    }
}
