//! The Altinn 2 SOAP broker ("formidlingstjeneste") as the SOAP-era integration point used it
//! (IP v3 `AltinnWsClient`, `DefaultDpoPolling`; Altinn's `BrokerServiceExternalBasic` and
//! `BrokerServiceExternalBasicStreamed` WSDLs).
//!
//! Send: InitiateBrokerServiceBasic on the Basic port (service code and edition from the
//! configuration, Reportee = the sender, the SendersReference, FileList `sbd.zip`, one recipient),
//! then UploadFileStreamedBasic on the Streamed port: an MTOM request whose binary part is pulled
//! from the caller's reader while it is sent (never buffered), with `Content-Length`.
//! Receive: CheckIfAvailableFilesBasic, then GetAvailableFilesBasic (`FileStatus=Uploaded`,
//! Reportee = us), the message-channel filter of IP v3 `AltinnWsClient.availableFiles`,
//! DownloadFileStreamedBasic (an MTOM answer whose binary part is streamed into the caller's
//! writer; a cut answer is an error), and ConfirmDownloadedBasic.
//!
//! Credentials travel in every request (body fields, or SOAP headers for the upload); the
//! password never reaches a log line or an error message.
//!
//! **What the caller must pass as the package:** the Altinn 2 wire zip carries the legacy
//! `manifest.xml` and `recipients.xml` (IP v3 `AltinnPackage`), whose SendersReference must equal
//! the one sent to Altinn. Build it with `package::CreateOptions { legacy_xml: true,
//! senders_reference: Some(r.clone()), .. }` and pass the same `r` as
//! [`Outgoing::senders_reference`] (choose `r` with `package::senders_reference`). `Outgoing::size`
//! must be the package's exact length.

pub mod mtom;
pub mod soap;

use self::soap::{AnswerError, FileStatus, Login};
use super::{Available, CountingReader, CountingWriter, Outgoing, Progress, Transport};
use crate::config::{Altinn2Login, Config, Secret};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{self, Http, RemoteErrorText, Response};
use crate::ident::OrgNumber;
use std::io::{self, Read, Write};

/// The file name the IP gives the package (manifest FileList and the upload's FileName header).
pub const FILE_NAME: &str = "sbd.zip";
/// Limit on a SOAP answer read into memory (lists of available files included).
const MAX_ENVELOPE: u64 = 16 * 1024 * 1024;
/// Limit on a download answered as inline base64 in text/xml (not what Altinn sends; tolerated
/// for small files only, since it has to be decoded in memory).
const MAX_INLINE_DOWNLOAD: u64 = 64 * 1024 * 1024;
/// How many MIME parts we look through for the one the xop:Include names.
const MAX_PARTS: usize = 16;
const SERVICE: &str = "the Altinn 2 broker";

/// `^[a-zA-Z0-9-_]{0,25}$`: what a message channel looks like (IP v3
/// `AltinnWsClient.availableFiles`).
fn is_channel(reference: &str) -> bool {
    reference.len() <= 25
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub struct Altinn2Broker<'a> {
    http: &'a Http,
    basic_url: String,
    streamed_url: String,
    username: String,
    password: Secret,
    service_code: String,
    service_edition: i32,
    /// The organisation we poll for and send as by default (plain 9 digits on the wire).
    reportee: OrgNumber,
    /// Our message channel; None means "take only files without a channel reference".
    message_channel: Option<String>,
}

impl std::fmt::Debug for Altinn2Broker<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Altinn2Broker")
            .field("basic_url", &self.basic_url)
            .field("streamed_url", &self.streamed_url)
            .field("username", &self.username)
            .field("reportee", &self.reportee.as_str())
            .finish_non_exhaustive()
    }
}

impl<'a> Altinn2Broker<'a> {
    /// The broker for `config`'s organisation, URLs, `altinn2` login and message channel.
    pub fn from_config(http: &'a Http, config: &Config) -> Result<Self> {
        let login = config.altinn2.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::ConfigInvalid,
                "the Altinn 2 broker needs an \"altinn2\" object in the configuration (system user name and password)",
            )
            .with_field("altinn2")
        })?;
        Altinn2Broker::new(
            http,
            &config.urls.altinn2_broker_basic,
            &config.urls.altinn2_broker_streamed,
            login,
            &config.organisation_number,
            config.message_channel.clone(),
        )
    }

    pub fn new(
        http: &'a Http,
        basic_url: &str,
        streamed_url: &str,
        login: &Altinn2Login,
        reportee: &OrgNumber,
        message_channel: Option<String>,
    ) -> Result<Self> {
        let service_edition = login.service_edition_code.trim().parse().map_err(|_| {
            Error::new(
                ErrorKind::ConfigInvalid,
                format!(
                    "altinn2.service_edition_code {:?} is not a whole number (Altinn's ExternalServiceEditionCode is an int, e.g. 170101)",
                    login.service_edition_code
                ),
            )
            .with_field("altinn2.service_edition_code")
        })?;
        if let Some(c) = &message_channel {
            if !is_channel(c) {
                return Err(Error::new(
                    ErrorKind::ConfigInvalid,
                    format!("message_channel {c:?} must be at most 25 letters, digits, '-' or '_'"),
                )
                .with_field("message_channel"));
            }
        }
        // The WSDL address is the plain .svc; a `?wsdl` copied from the IP's settings is dropped.
        let plain = |u: &str| u.trim_end_matches("?wsdl").to_string();
        Ok(Altinn2Broker {
            http,
            basic_url: plain(basic_url),
            streamed_url: plain(streamed_url),
            username: login.username.clone(),
            password: login.password.clone(),
            service_code: login.service_code.clone(),
            service_edition,
            reportee: reportee.clone(),
            message_channel,
        })
    }

    fn login(&self) -> Login<'_> {
        Login {
            username: &self.username,
            password: self.password.expose(),
        }
    }

    /// Blank the password out of remote text before it goes into a message.
    fn redact(&self, text: &str) -> String {
        let secret = self.password.expose();
        let text = if secret.len() >= 4 {
            text.replace(secret, "<redacted>")
        } else {
            text.to_string()
        };
        http::snippet(&text, &[])
    }

    fn fault_error(&self, fault: &soap::Fault, what: &str, status: Option<u16>) -> Error {
        let said = self.redact(fault.message());
        let id = fault
            .error_id
            .map(|i| i.to_string())
            .unwrap_or_else(|| fault.fault_code.clone());
        let mut e = if fault.is_bad_credentials() {
            Error::new(
                ErrorKind::AuthFailed,
                format!(
                    "{what}: {SERVICE} refused the system user {:?} (ErrorID {id}: {said}); check altinn2.username and the password ({})",
                    self.username,
                    self.password.source()
                ),
            )
        } else {
            Error::new(
                ErrorKind::RemoteService,
                format!("{what}: {SERVICE} answered a fault (ErrorID {id}): {said}"),
            )
        };
        if !id.is_empty() {
            e = e.with_remote_code(id);
        }
        if let Some(s) = status {
            e = e.with_http_status(s);
        }
        e
    }

    fn answer<T>(
        &self,
        parsed: std::result::Result<T, AnswerError>,
        what: &str,
        status: u16,
    ) -> Result<T> {
        parsed.map_err(|e| match e {
            AnswerError::Fault(f) => self.fault_error(&f, what, Some(status)),
            AnswerError::Malformed(why) => Error::new(
                ErrorKind::RemoteBadResponse,
                format!("{what}: {SERVICE}'s answer is not the SOAP expected: {why}"),
            )
            .with_http_status(status),
        })
    }

    /// Read a SOAP answer (text/xml, or the root part of an MTOM answer), bounded.
    fn envelope_text(&self, response: Response, what: &str) -> Result<String> {
        let url = response.url().to_string();
        let related = response
            .header("content-type")
            .and_then(mtom::parse_related);
        let bytes = match related {
            None => response.read_bytes(MAX_ENVELOPE)?,
            Some(rel) => {
                let mut parts = mtom::MultipartReader::new(response.into_reader(), &rel.boundary);
                let (_, xml) = root_part(&mut parts, &rel, &url)?;
                xml
            }
        };
        String::from_utf8(bytes).map_err(|_| {
            Error::new(
                ErrorKind::RemoteBadResponse,
                format!("{what}: {SERVICE}'s answer is not UTF-8"),
            )
        })
    }

    /// A non-2xx answer: the AltinnFault in it, or the HTTP status.
    fn fail(&self, response: Response, what: &str) -> Error {
        let status = response.status();
        let retry_after = response.retry_after();
        let url = response.url().to_string();
        let text = self.envelope_text(response, what).unwrap_or_default();
        if let Some(fault) = soap::fault_in(&text) {
            return self.fault_error(&fault, what, Some(status));
        }
        let remote = RemoteErrorText::parse(self.redact(&text).as_bytes());
        http::status_error(SERVICE, &url, status, retry_after, &remote, &[]).context(what)
    }

    /// One Basic-port call: the envelope's answer text on success.
    fn basic(&self, operation: &str, envelope: String, what: &str) -> Result<(u16, String)> {
        let r = self
            .http
            .post(&self.basic_url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", &soap::basic_action(operation))
            .send_bytes(envelope.as_bytes())?;
        if !r.is_success() {
            return Err(self.fail(r, what));
        }
        let status = r.status();
        Ok((status, self.envelope_text(r, what)?))
    }

    fn search(&self, status: FileStatus) -> Result<Vec<soap::AvailableFile>> {
        let what = "listing the files waiting at the Altinn 2 broker";
        let (code, text) = self.basic(
            "GetAvailableFilesBasic",
            soap::get_available_files(
                self.login(),
                &self.service_code,
                self.service_edition,
                status,
                self.reportee.as_str(),
            ),
            what,
        )?;
        self.answer(soap::available_files(&text), what, code)
    }

    /// The channel filter of IP v3 `AltinnWsClient.availableFiles`: with our own channel, only
    /// files carrying it; without, only files whose reference is absent or not channel-shaped
    /// (UUIDs).
    fn wanted(&self, reference: Option<&str>) -> bool {
        match (&self.message_channel, reference) {
            (Some(own), Some(r)) => r == own,
            (Some(_), None) => false,
            (None, Some(r)) => !is_channel(r),
            (None, None) => true,
        }
    }
}

/// Read the root part of an MTOM answer (the one `start` names, else the first), bounded.
fn root_part<R: Read>(
    parts: &mut mtom::MultipartReader<R>,
    rel: &mtom::Related,
    url: &str,
) -> Result<(mtom::PartHeaders, Vec<u8>)> {
    for _ in 0..MAX_PARTS {
        let headers = parts
            .next_part()
            .map_err(|e| read_error(e, url))?
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::RemoteBadResponse,
                    format!("the MTOM answer from {url} has no SOAP part"),
                )
            })?;
        let is_root = match (&rel.start, headers.content_id()) {
            (Some(start), Some(cid)) => start == cid,
            _ => true,
        };
        if !is_root {
            continue;
        }
        let mut xml = Vec::new();
        parts
            .body()
            .take(MAX_ENVELOPE + 1)
            .read_to_end(&mut xml)
            .map_err(|e| read_error(e, url))?;
        if xml.len() as u64 > MAX_ENVELOPE {
            return Err(Error::new(
                ErrorKind::RemoteBadResponse,
                format!(
                    "the SOAP part of the answer from {url} is larger than {MAX_ENVELOPE} bytes"
                ),
            ));
        }
        return Ok((headers, xml));
    }
    Err(Error::new(
        ErrorKind::RemoteBadResponse,
        format!("the MTOM answer from {url} has no part with the start Content-ID"),
    ))
}

/// Map an error met while reading an answer (the network, or broken MIME framing).
fn read_error(e: io::Error, url: &str) -> Error {
    match e.kind() {
        io::ErrorKind::InvalidData => Error::new(
            ErrorKind::RemoteBadResponse,
            format!("the MTOM answer from {}: {e}", http::url_for_message(url)),
        ),
        io::ErrorKind::UnexpectedEof => Error::new(
            ErrorKind::ConnectionDropped,
            format!(
                "the answer from {} ended early ({e}); nothing complete was received, the call may be retried",
                http::url_for_message(url)
            ),
        ),
        _ => http::map_body_error(e, url),
    }
}

fn payload_cid() -> String {
    format!("payload.{}@efm.local", uuid::Uuid::new_v4().simple())
}

impl Transport for Altinn2Broker<'_> {
    fn upload(&self, out: Outgoing<'_>, progress: Progress<'_>) -> Result<String> {
        let sender = out.sender.as_str().to_string();
        let recipient = out.recipient.as_str().to_string();
        let what = format!("initiating a broker shipment to {recipient}");
        let (status, text) = self.basic(
            "InitiateBrokerServiceBasic",
            soap::initiate(
                self.login(),
                &soap::Initiation {
                    service_code: &self.service_code,
                    service_edition: self.service_edition,
                    file_name: FILE_NAME,
                    reportee: &sender,
                    senders_reference: out.senders_reference,
                    recipients: &[&recipient],
                },
            ),
            &what,
        )?;
        let reference = self.answer(soap::initiate_result(&text), &what, status)?;
        log::info!(
            "Altinn 2 shipment {reference} initiated; uploading {} bytes",
            out.size
        );

        let what = format!("uploading shipment {reference}");
        let boundary = mtom::new_boundary();
        let cid = payload_cid();
        let envelope = soap::upload(self.login(), FILE_NAME, &reference, &sender, &cid);
        let mut counting = CountingReader {
            inner: out.body,
            done: 0,
            total: out.size,
            progress,
        };
        let mut body = mtom::MtomBody::new(&boundary, &envelope, &cid, &mut counting, out.size);
        let len = body.len();
        let r = self
            .http
            .post(&self.streamed_url)
            .header("Content-Type", &mtom::content_type(&boundary))
            .header("MIME-Version", "1.0")
            .header(
                "SOAPAction",
                &soap::streamed_action("UploadFileStreamedBasic"),
            )
            .send_reader(&mut body, Some(len))
            .map_err(|e| e.context(&what))?;
        if !r.is_success() {
            return Err(self.fail(r, &what));
        }
        let status = r.status();
        let text = self.envelope_text(r, &what)?;
        let receipt = self.answer(soap::upload_receipt(&text), &what, status)?;
        // Success is "no fault" (IP v3 `AltinnWsClient` only logs the receipt, `markerFrom`);
        // the receipt is only worth a log line.
        log::info!(
            "Altinn 2 shipment {reference} uploaded (receipt {}, status {})",
            receipt.receipt_id.as_deref().unwrap_or("-"),
            receipt.status_code.as_deref().unwrap_or("-")
        );
        Ok(reference)
    }

    fn available(&self) -> Result<Vec<Available>> {
        let what = "asking the Altinn 2 broker for new files";
        let (status, text) = self.basic(
            "CheckIfAvailableFilesBasic",
            soap::check_if_available(
                self.login(),
                &self.service_code,
                self.service_edition,
                self.reportee.as_str(),
            ),
            what,
        )?;
        if !self.answer(soap::check_result(&text), what, status)? {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        for f in self.search(FileStatus::Uploaded)? {
            if !self.wanted(f.senders_reference.as_deref()) {
                log::debug!(
                    "file {} is for another message channel; left alone",
                    f.file_reference
                );
                continue;
            }
            found.push(Available {
                id: f.file_reference,
                sender: f.reportee.map(|r| format!("0192:{r}")).unwrap_or_default(),
                senders_reference: f.senders_reference,
                size: f.file_size.unwrap_or(0),
                created: f.sent_date.unwrap_or_default(),
            });
        }
        // Oldest first; a stable sort keeps Altinn's order among equal dates.
        found.sort_by(|a, b| a.created.cmp(&b.created));
        Ok(found)
    }

    fn download(&self, id: &str, out: &mut dyn Write, progress: Progress<'_>) -> Result<u64> {
        let what = format!("downloading file {id}");
        let boundary = mtom::new_boundary();
        let envelope = soap::download(self.login(), id, self.reportee.as_str());
        // Sent as MTOM like the IP's JAX-WS client (`MTOMFeature(true)`); whether Altinn would
        // also take a plain text/xml request here is unknown: the IP never sent one.
        let r = self
            .http
            .post(&self.streamed_url)
            .header("Content-Type", &mtom::content_type(&boundary))
            .header("MIME-Version", "1.0")
            .header(
                "SOAPAction",
                &soap::streamed_action("DownloadFileStreamedBasic"),
            )
            .send_bytes(&mtom::envelope_only(&boundary, &envelope))
            .map_err(|e| e.context(&what))?;
        if !r.is_success() {
            return Err(self.fail(r, &what));
        }
        let status = r.status();
        let url = r.url().to_string();
        let mut counting = CountingWriter {
            inner: out,
            done: 0,
            total: 0,
            progress,
        };
        let Some(rel) = r.header("content-type").and_then(mtom::parse_related) else {
            // A plain text/xml answer can only hold the file inline, as base64.
            let text = String::from_utf8(r.read_bytes(MAX_INLINE_DOWNLOAD)?).map_err(|_| {
                Error::new(
                    ErrorKind::RemoteBadResponse,
                    format!("{what}: the answer is not UTF-8"),
                )
            })?;
            return match self.answer(soap::download_result(&text), &what, status)? {
                soap::DownloadData::Inline(b64) => write_inline(&b64, &mut counting, &what),
                soap::DownloadData::Include(_) => Err(Error::new(
                    ErrorKind::RemoteBadResponse,
                    format!("{what}: the answer refers to a MIME part but is not multipart"),
                )),
            };
        };
        let mut parts = mtom::MultipartReader::new(r.into_reader(), &rel.boundary);
        let (_, xml) = root_part(&mut parts, &rel, &url)?;
        let xml = String::from_utf8(xml).map_err(|_| {
            Error::new(
                ErrorKind::RemoteBadResponse,
                format!("{what}: the SOAP part is not UTF-8"),
            )
        })?;
        let cid = match self.answer(soap::download_result(&xml), &what, status)? {
            soap::DownloadData::Include(cid) => cid,
            soap::DownloadData::Inline(b64) => return write_inline(&b64, &mut counting, &what),
        };
        for _ in 0..MAX_PARTS {
            let Some(headers) = parts.next_part().map_err(|e| read_error(e, &url))? else {
                break;
            };
            if headers.content_id() != Some(cid.as_str()) {
                continue;
            }
            let mut buf = vec![0u8; 64 * 1024];
            let mut body = parts.body();
            loop {
                let n = match body.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(read_error(e, &url).context(&what)),
                };
                counting
                    .write_all(&buf[..n])
                    .map_err(|e| Error::io("writing the downloaded file", e))?;
            }
            log::info!("Altinn 2 file {id} downloaded ({} bytes)", counting.done);
            return Ok(counting.done);
        }
        Err(Error::new(
            ErrorKind::RemoteBadResponse,
            format!("{what}: the answer has no MIME part with Content-ID <{cid}>"),
        ))
    }

    fn confirm(&self, id: &str) -> Result<()> {
        let what = format!("confirming file {id}");
        let attempt = self
            .basic(
                "ConfirmDownloadedBasic",
                soap::confirm_downloaded(self.login(), id, self.reportee.as_str()),
                &what,
            )
            .and_then(|(status, text)| self.answer(soap::confirm_result(&text), &what, status));
        let err = match attempt {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        // Idempotence: if Altinn refuses a repeated confirm, the file is listed as Downloaded
        // for us (FileStatus `Downloaded`, BrokerServiceExternalBasic WSDL) and the earlier
        // confirm went through.
        if err.kind() == ErrorKind::RemoteService && err.detail().remote_code.is_some() {
            if let Ok(done) = self.search(FileStatus::Downloaded) {
                if done.iter().any(|f| f.file_reference == id) {
                    log::info!("file {id} was already confirmed");
                    return Ok(());
                }
            }
        }
        Err(err)
    }
}

fn write_inline(b64: &str, out: &mut dyn Write, what: &str) -> Result<u64> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| {
            Error::new(
                ErrorKind::RemoteBadResponse,
                format!("{what}: the answer holds neither an xop:Include nor base64"),
            )
        })?;
    out.write_all(&bytes)
        .map_err(|e| Error::io("writing the downloaded file", e))?;
    Ok(bytes.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::is_channel;

    #[test]
    fn channel_pattern() {
        assert!(is_channel("arkiv-1"));
        assert!(is_channel(""));
        assert!(!is_channel("19efbd4c-413d-4e2c-bbc5-257ef4a65b38"));
        assert!(!is_channel("a b"));
    }
}
