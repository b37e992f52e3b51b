//! The broker between two DPO participants: one trait, one implementation per Altinn broker.
//!
//! A transport moves opaque package files (the wire zip, `sbd.zip`) between organisations. It knows
//! nothing of SBDs, ASiC or CMS; the client above it does.

pub mod altinn2;
pub mod altinn3;

use crate::auth::{AccessToken, TokenRequest, Tokens};
use crate::config::SystemUser;
use crate::error::Result;
use crate::ident::OrgNumber;
use std::cell::Cell;
use std::io::{Read, Write};

/// Gives bearer tokens for broker calls, one per scope, and forgets one the broker refused.
pub trait TokenSource: Send + Sync {
    /// A token for the given scope (e.g. `altinn:broker.write`).
    fn token(&self, scope: &str) -> Result<AccessToken>;
    /// The broker answered 401 to `used`: drop it so the next `token` call fetches a new one.
    fn invalidate(&self, scope: &str, used: &AccessToken);
}

/// Altinn tokens for one system user, exchanged from Maskinporten and cached by [`Tokens`].
pub struct SystemUserTokens<'a> {
    pub tokens: &'a Tokens,
    pub user: SystemUser,
}

impl TokenSource for SystemUserTokens<'_> {
    fn token(&self, scope: &str) -> Result<AccessToken> {
        self.tokens
            .altinn(&TokenRequest::for_system_user(&[scope], &self.user))
    }
    fn invalidate(&self, scope: &str, used: &AccessToken) {
        self.tokens
            .invalidate_altinn(&TokenRequest::for_system_user(&[scope], &self.user), used);
    }
}

/// A package to send.
pub struct Outgoing<'a> {
    pub sender: &'a OrgNumber,
    pub recipient: &'a OrgNumber,
    /// The broker's `sendersFileTransferReference`: a fresh UUID, or a message channel.
    pub senders_reference: &'a str,
    /// The package bytes, streamed.
    pub body: &'a mut dyn Read,
    pub size: u64,
}

/// A package waiting for us at the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Available {
    /// The broker's id of the transfer.
    pub id: String,
    /// The sender as the broker has it (`0192:<orgnr>`).
    pub sender: String,
    pub senders_reference: Option<String>,
    /// Size in bytes as the broker recorded it (0 when unknown).
    pub size: u64,
    /// When the transfer was created (ISO 8601), for oldest-first processing.
    pub created: String,
}

/// Progress of a long transfer: bytes done and bytes in all (0 when unknown). Called on the thread
/// that runs the transfer; to stop the transfer, call [`request_cancel`] from inside it.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

thread_local! {
    /// Set by a progress callback that wants its transfer stopped. Thread-local because progress
    /// is reported on the transfer's own thread, so no other call can see or clear the request.
    static CANCEL_REQUESTED: Cell<bool> = const { Cell::new(false) };
}

/// Ask the transfer running on this thread to stop: call it from inside a progress callback. The
/// transfer then fails at its next read or write with an `Io` error ([`CANCELLED_TEXT`]).
pub fn request_cancel() {
    CANCEL_REQUESTED.with(|c| c.set(true));
}

/// Forget a cancel request that no transfer took (call before starting one).
pub fn reset_cancel() {
    CANCEL_REQUESTED.with(|c| c.set(false));
}

/// What a cancelled transfer's I/O error says.
pub const CANCELLED_TEXT: &str = "cancelled by the progress callback";

fn cancelled_now() -> Option<std::io::Error> {
    CANCEL_REQUESTED
        .with(|c| c.replace(false))
        .then(|| std::io::Error::other(CANCELLED_TEXT))
}

/// How far a transfer we sent has got at the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SentState {
    /// Created; no upload has started.
    Initialized,
    /// An upload started and has not finished (still streaming, or interrupted).
    UploadStarted,
    /// Uploaded; the broker is checking it (its malware scan).
    Processing,
    /// Available to the recipient, or already downloaded.
    Published,
    /// The broker gave up on it after the upload (malware scan, checksum) or it was cancelled:
    /// the broker's status and reason.
    Failed(String),
    /// Purged, or unknown to the broker.
    Gone,
}

impl SentState {
    pub fn name(&self) -> &'static str {
        match self {
            SentState::Initialized => "Initialized",
            SentState::UploadStarted => "UploadStarted",
            SentState::Processing => "UploadProcessing",
            SentState::Published => "Published",
            SentState::Failed(_) => "Failed",
            SentState::Gone => "Gone",
        }
    }
}

pub trait Transport {
    /// Send one package; returns the broker's id for it.
    fn upload(&self, outgoing: Outgoing<'_>, progress: Progress<'_>) -> Result<String>;
    /// Send one package after an earlier attempt may have got part of the way: `earlier` is the
    /// transfer that attempt created. A broker that can tell how far it got resumes it (uploads
    /// into a transfer still empty, or counts one it already received as sent) instead of
    /// delivering a second copy. `created` learns the id of a new transfer before its upload
    /// starts, so a crash in the upload leaves it known. Without such a broker: a fresh upload.
    fn upload_resuming(
        &self,
        outgoing: Outgoing<'_>,
        progress: Progress<'_>,
        earlier: Option<&str>,
        created: &mut dyn FnMut(&str) -> Result<()>,
    ) -> Result<String> {
        let _ = (earlier, created);
        self.upload(outgoing, progress)
    }
    /// Where a transfer we sent stands. Without a way to ask (Altinn 2 tells a sender nothing
    /// after the upload): published.
    fn sent_state(&self, id: &str) -> Result<SentState> {
        let _ = id;
        Ok(SentState::Published)
    }
    /// Packages waiting for us, oldest first.
    fn available(&self) -> Result<Vec<Available>>;
    /// Stream one package into `out`; returns its size.
    fn download(&self, id: &str, out: &mut dyn Write, progress: Progress<'_>) -> Result<u64>;
    /// Tell the broker we have the package safely; it then stops offering it. Idempotent.
    fn confirm(&self, id: &str) -> Result<()>;
}

/// A reader that reports how far it has got.
pub(crate) struct CountingReader<'a, R: Read + ?Sized> {
    pub inner: &'a mut R,
    pub done: u64,
    pub total: u64,
    pub progress: Progress<'a>,
}

impl<R: Read + ?Sized> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        (self.progress)(self.done, self.total);
        match cancelled_now() {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }
}

/// A writer that reports how far it has got.
pub(crate) struct CountingWriter<'a, W: Write + ?Sized> {
    pub inner: &'a mut W,
    pub done: u64,
    pub total: u64,
    pub progress: Progress<'a>,
}

impl<W: Write + ?Sized> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.done += n as u64;
        (self.progress)(self.done, self.total);
        match cancelled_now() {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
