//! The Altinn 3 Broker REST API as DPO uses it (Altinn 3 Broker OpenAPI; IP `BrokerApiClient`,
//! `AltinnDPOUploadService`, `AltinnDPODownloadService`).
//!
//! Send: initialize (`POST /filetransfer/`, trailing slash as the IP sends it) then upload the wire
//! zip as `application/octet-stream`, streamed. Receive: search `status=Published` and
//! `recipientStatus=Initialized`, oldest first (`orderAscending=true`, against the IP's newest-first
//! starvation), an overview per id for the sender, reference and size, the message-channel filter,
//! then download (streamed) and confirm. Tokens: `altinn:broker.write` for initialize/upload,
//! `altinn:broker.read` for the rest; on a 401 the token is dropped and the call tried once more.

use super::{
    Available, CountingReader, CountingWriter, Outgoing, Progress, SentState, TokenSource,
    Transport,
};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{encode_path_segment, Http, Response};
use std::io::Write;

/// The DPO resource in the Altinn resource registry (TT02 and production alike).
pub const DPO_RESOURCE: &str = "eformidling-dpo-meldingsutveksling";
pub const SCOPE_READ: &str = "altinn:broker.read";
pub const SCOPE_WRITE: &str = "altinn:broker.write";
/// The file name the IP always gives the package.
pub const FILE_NAME: &str = "sbd.zip";
/// Limit on JSON answers (ids, overviews): generous, but bounded.
const MAX_JSON: u64 = 4 * 1024 * 1024;

pub struct Altinn3Broker<'a> {
    http: &'a Http,
    base: String,
    tokens: &'a dyn TokenSource,
    resource: String,
    /// Our message channel; None means "take only transfers without a channel reference".
    message_channel: Option<String>,
}

fn is_channel(reference: &str) -> bool {
    reference.len() <= 25
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl<'a> Altinn3Broker<'a> {
    pub fn new(
        http: &'a Http,
        base: &str,
        tokens: &'a dyn TokenSource,
        message_channel: Option<String>,
    ) -> Self {
        Altinn3Broker {
            http,
            base: base.trim_end_matches('/').to_string(),
            tokens,
            resource: DPO_RESOURCE.to_string(),
            message_channel,
        }
    }

    /// Run one call with a token for `scope`, once more with a fresh token after a 401.
    fn with_token(
        &self,
        scope: &str,
        mut call: impl FnMut(&str) -> Result<Response>,
    ) -> Result<Response> {
        let token = self.tokens.token(scope)?;
        let response = call(token.secret())?;
        if response.status() != 401 {
            return Ok(response);
        }
        log::info!("the broker refused our {scope} token (401); fetching a new one");
        self.tokens.invalidate(scope, &token);
        let token = self.tokens.token(scope)?;
        call(token.secret())
    }

    fn fail(&self, response: Response, what: &str) -> Error {
        let status = response.status();
        let err = response.into_error("the Altinn 3 broker", &[]);
        match status {
            401 | 403 => {
                let mut e = Error::new(
                    ErrorKind::AuthForbidden,
                    format!(
                        "{what}: the broker refused our system user ({}); check that the system user has the \
                         access package for {} and that the token's organisation is a party",
                        err.message(),
                        self.resource
                    ),
                )
                .with_http_status(status);
                if let Some(code) = &err.detail().remote_code {
                    e = e.with_remote_code(code.clone());
                }
                e
            }
            _ => err.context(what),
        }
    }

    fn json(&self, response: Response, what: &str) -> Result<serde_json::Value> {
        let text = response.read_text(MAX_JSON)?;
        serde_json::from_str(&text).map_err(|e| {
            Error::new(
                ErrorKind::RemoteBadResponse,
                format!("{what}: the broker's answer is not the JSON expected: {e}"),
            )
        })
    }

    /// A GET with a read token whose answer is JSON.
    fn get_json(&self, url: &str, what: &str) -> Result<serde_json::Value> {
        let r = self.with_token(SCOPE_READ, |t| {
            self.http
                .get(url)
                .bearer(t)
                .header("Accept", "application/json")
                .call()
        })?;
        if !r.is_success() {
            return Err(self.fail(r, what));
        }
        self.json(r, what)
    }

    fn overview(&self, id: &str) -> Result<serde_json::Value> {
        let url = format!("{}/filetransfer/{}", self.base, encode_path_segment(id));
        self.get_json(&url, &format!("reading the overview of transfer {id}"))
    }

    /// The channel filter of the IP (`AltinnDPODownloadService`,
    /// `filterBasedUponSendersFileTransferReference`): with our own channel, only transfers
    /// carrying it; without, only transfers whose reference is not a channel (UUIDs and nulls).
    fn wanted(&self, reference: Option<&str>) -> bool {
        match (&self.message_channel, reference) {
            (Some(own), Some(r)) => r == own,
            (Some(_), None) => false,
            (None, Some(r)) => !is_channel(r),
            (None, None) => true,
        }
    }
}

impl Altinn3Broker<'_> {
    /// `POST /filetransfer/`: a new transfer for `out`; returns its id.
    fn initialize(&self, out: &Outgoing<'_>) -> Result<String> {
        let body = serde_json::json!({
            "fileName": FILE_NAME,
            "resourceId": self.resource,
            "sendersFileTransferReference": out.senders_reference,
            "sender": out.sender.iso6523(),
            "recipients": [out.recipient.iso6523()],
            "propertyList": {},
            "checksum": null,
            "disableVirusScan": null,
        });
        let url = format!("{}/filetransfer/", self.base);
        let r = self.with_token(SCOPE_WRITE, |t| {
            self.http
                .post(&url)
                .bearer(t)
                .header("Accept", "application/json")
                .send_json(&body)
        })?;
        if !r.is_success() {
            return Err(self.fail(r, "initializing the file transfer"));
        }
        let v = self.json(r, "initializing the file transfer")?;
        let id = v["fileTransferId"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::RemoteBadResponse,
                    "the broker accepted the transfer but returned no fileTransferId",
                )
            })?
            .to_string();
        log::info!(
            "broker transfer {id} initialized; uploading {} bytes",
            out.size
        );
        Ok(id)
    }

    /// `POST /filetransfer/{id}/upload`, the body streamed.
    fn put(&self, id: &str, out: Outgoing<'_>, progress: Progress<'_>) -> Result<String> {
        // The body is a stream and can be sent only once: no 401 retry here. Tokens are fetched
        // fresh enough (the cache keeps a margin) that this does not bite.
        let token = self.tokens.token(SCOPE_WRITE)?;
        let url = format!(
            "{}/filetransfer/{}/upload",
            self.base,
            encode_path_segment(id)
        );
        let mut counting = CountingReader {
            inner: out.body,
            done: 0,
            total: out.size,
            progress,
        };
        let r = self
            .http
            .post(&url)
            .bearer(token.secret())
            .header("Accept", "application/json")
            .header("Content-Type", "application/octet-stream")
            // The broker checks the declared length (and our right to upload) before it reads
            // the body, and answers at once when it refuses (BRO-00016 "File size exceeds
            // maximum"). Without this header efm would still be writing and see only a broken
            // pipe, a transient failure retried until the message expired. With it the answer
            // arrives before the body is sent (a server that does not answer 100 Continue within
            // a second gets the body anyway).
            .header("Expect", "100-continue")
            .send_reader(&mut counting, Some(out.size))?;
        if !r.is_success() {
            return Err(self.fail(r, &format!("uploading transfer {id}")));
        }
        // Read the answer to its end: a connection lost before it leaves the upload's outcome
        // unknown (an error), and the next attempt asks the broker instead of guessing.
        r.read_bytes(MAX_JSON)
            .map_err(|e| e.context(format!("reading the answer to the upload of transfer {id}")))?;
        log::info!("broker transfer {id} uploaded");
        Ok(id.to_string())
    }
}

impl Transport for Altinn3Broker<'_> {
    fn upload(&self, out: Outgoing<'_>, progress: Progress<'_>) -> Result<String> {
        self.upload_resuming(out, progress, None, &mut |_| Ok(()))
    }

    fn upload_resuming(
        &self,
        out: Outgoing<'_>,
        progress: Progress<'_>,
        earlier: Option<&str>,
        created: &mut dyn FnMut(&str) -> Result<()>,
    ) -> Result<String> {
        if let Some(id) = earlier {
            // An upload can be made once per transfer (BRO-00004 after any attempt), so only an
            // untouched transfer is reused; one the broker received counts as sent.
            match self.sent_state(id)? {
                SentState::Initialized => {
                    log::info!("broker transfer {id}: uploading into the transfer an earlier attempt created");
                    return self.put(id, out, progress);
                }
                SentState::Processing | SentState::Published => {
                    log::info!(
                        "broker transfer {id}: the broker received the earlier attempt's upload; not sent again"
                    );
                    return Ok(id.to_string());
                }
                other => log::info!(
                    "broker transfer {id} of an earlier attempt is {}; starting a new transfer",
                    other.name()
                ),
            }
        }
        let id = self.initialize(&out)?;
        created(&id)?;
        self.put(&id, out, progress)
    }

    fn sent_state(&self, id: &str) -> Result<SentState> {
        let o = match self.overview(id) {
            Ok(o) => o,
            Err(e) if e.detail().http_status == Some(404) => return Ok(SentState::Gone),
            Err(e) => return Err(e),
        };
        let status = o["fileTransferStatus"].as_str().unwrap_or_default();
        let text = o["fileTransferStatusText"].as_str().unwrap_or_default();
        Ok(match status {
            "Initialized" => SentState::Initialized,
            "UploadStarted" => SentState::UploadStarted,
            "UploadProcessing" => SentState::Processing,
            "Published" | "AllConfirmedDownloaded" => SentState::Published,
            "Failed" | "Cancelled" => SentState::Failed(if text.is_empty() {
                status.to_string()
            } else {
                format!("{status} ({text})")
            }),
            "Purged" => SentState::Gone,
            other => {
                return Err(Error::new(
                    ErrorKind::RemoteBadResponse,
                    format!(
                        "the broker reports transfer {id} in a status efm does not know: {other:?}"
                    ),
                ))
            }
        })
    }

    fn available(&self) -> Result<Vec<Available>> {
        let url = format!(
            "{}/filetransfer?resourceId={}&status=Published&recipientStatus=Initialized&orderAscending=true",
            self.base, self.resource
        );
        let ids = self.get_json(&url, "searching for transfers to us")?;
        let ids = ids.as_array().ok_or_else(|| {
            Error::new(
                ErrorKind::RemoteBadResponse,
                "the broker's search answer is not a list of ids",
            )
        })?;
        let mut found = Vec::new();
        for id in ids {
            let Some(id) = id.as_str() else { continue };
            let o = self.overview(id)?;
            let reference = o["sendersFileTransferReference"].as_str();
            if !self.wanted(reference) {
                log::debug!("transfer {id} is for another message channel; left alone");
                continue;
            }
            found.push(Available {
                id: id.to_string(),
                sender: o["sender"].as_str().unwrap_or_default().to_string(),
                senders_reference: reference.map(str::to_string),
                size: o["fileTransferSize"].as_u64().unwrap_or(0),
                created: o["created"].as_str().unwrap_or_default().to_string(),
            });
        }
        found.sort_by(|a, b| a.created.cmp(&b.created));
        Ok(found)
    }

    fn download(&self, id: &str, out: &mut dyn Write, progress: Progress<'_>) -> Result<u64> {
        let url = format!(
            "{}/filetransfer/{}/download",
            self.base,
            encode_path_segment(id)
        );
        let r = self.with_token(SCOPE_READ, |t| self.http.get(&url).bearer(t).call())?;
        if !r.is_success() {
            return Err(self.fail(r, &format!("downloading transfer {id}")));
        }
        let total = r
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut counting = CountingWriter {
            inner: out,
            done: 0,
            total,
            progress,
        };
        let n = r.copy_to(&mut counting)?;
        if total != 0 && n != total {
            return Err(Error::new(
                ErrorKind::ConnectionDropped,
                format!("download of transfer {id} ended after {n} of {total} bytes"),
            ));
        }
        Ok(n)
    }

    fn confirm(&self, id: &str) -> Result<()> {
        let url = format!(
            "{}/filetransfer/{}/confirmdownload",
            self.base,
            encode_path_segment(id)
        );
        let r = self.with_token(SCOPE_READ, |t| {
            self.http
                .post(&url)
                .bearer(t)
                .header("Accept", "application/json")
                .send_bytes(&[])
        })?;
        if r.is_success() {
            return Ok(());
        }
        let err = self.fail(r, &format!("confirming transfer {id}"));
        // A repeated confirm of a single-recipient transfer answers BRO-00010 (no longer
        // Published): the first one went through.
        if err.detail().remote_code.as_deref() == Some("BRO-00010") {
            log::info!("transfer {id} was already confirmed");
            return Ok(());
        }
        Err(err)
    }
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
