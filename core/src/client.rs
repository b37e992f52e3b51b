//! The message flows as a durable, in-process library API: what the integration point's NextMove
//! REST API does (IP `NextMoveMessageOutController`, `NextMoveMessageInController`,
//! `DefaultConversationService`), without a server.
//!
//! - Sending ([`Client::send`], [`Client::resend`], in `client/sending.rs` [`Client::run_due`]):
//!   registry lookup, package into a spool file, OPPRETTET, upload, SENDT, then the broker's
//!   transfer followed until it is published. A transient failure leaves the message pending and
//!   `run_due` tries again with backoff until its deadline; FEIL only for a permanent refusal or a
//!   transfer the broker failed, with the reason (the package stays for a resend).
//! - Receiving ([`Client::poll`], in `client/receive.rs`): download each transfer into a spool
//!   file, read `sbd.json` without decrypting, store atomically (deduplicated by messageId),
//!   confirm at the broker, and send MOTTATT back. Incoming `status` and `arkivmelding_kvittering`
//!   SBDs update our outgoing messages instead of entering the queue.
//! - The queue ([`Client::peek`], [`Client::pop`], [`Client::delete`]): NextMove's in-queue
//!   semantics (oldest first, locks that time out, pop decrypts and extracts, delete records
//!   INNKOMMENDE_LEVERT and sends LEVERT back).
//!
//! Receipts owed to senders (MOTTATT, LEVERT) are written to the store's outbox in the same
//! transaction as the state change that causes them and sent until the broker takes them, so a
//! crash never loses one (a repeat is harmless: statuses are idempotent per value, IP
//! `DefaultConversationService.registerStatus`).

mod context;
mod quarantine;
mod receive;
mod request;
mod sending;

pub use self::context::ClientContext;
pub use self::request::MAX_TTL_SECS;

pub use self::quarantine::{QuarantineEntry, QuarantineKind, RetryOutcome};
pub use self::receive::{IncomingMessage, OpenedFile, OpenedMessage, PollError, PollSummary};
pub use self::sending::{Retrying, SendRetry, WorkSummary};
pub use crate::store::{Direction, MessageFilter, MessageInfo, SendState, SendStep, StatusEntry};

use crate::asic::DocumentSource;
use crate::auth::Tokens;
use crate::config::{Config, TransportKind};
use crate::crypto::keys::Identity;
use crate::error::{Error, ErrorKind, Result};
use crate::http::Http;
use crate::ident::OrgNumber;
use crate::package::{self, CreateOptions, PackageInput};
use crate::progress::{CombinedProgress, Phase, PhaseProgress};
use crate::registry::Registry;
use crate::sbd::{ArkivmeldingSbd, ReceiptStatus, Sbd, ValidationOptions};
use crate::store::{persist_file, NewMessage, Store};
use crate::transport::altinn2::Altinn2Broker;
use crate::transport::altinn3::Altinn3Broker;
use crate::transport::{Outgoing, Progress, SystemUserTokens, Transport};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

/// The client's notion of "now" (injectable so tests can move past deadlines).
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// Description recorded with LEVETID_UTLOPT (the integration point's text).
pub const EXPIRED_DESCRIPTION: &str = "Levetiden for meldingen er utgått. Må sendes på nytt";

/// Settings that are not part of the configuration document.
#[derive(Clone)]
pub struct ClientOptions {
    /// How long `peek` locks a message (NextMove `lockTimeoutMinutes`, default 5 min).
    pub lock_timeout: Duration,
    /// The clock; `None` means the system clock.
    pub clock: Option<Clock>,
    /// How failed sends are retried and uploaded transfers followed.
    pub send_retry: SendRetry,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            lock_timeout: Duration::from_secs(5 * 60),
            clock: None,
            send_retry: SendRetry::default(),
        }
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("lock_timeout", &self.lock_timeout)
            .field("clock", &self.clock.as_ref().map(|_| "custom"))
            .field("send_retry", &self.send_retry)
            .finish()
    }
}

/// One file to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendDocument {
    /// The name inside the package (`arkivmelding.xml`, `brev.pdf`).
    pub name: String,
    /// Where the file is now.
    pub path: PathBuf,
    /// MIME type; guessed from the name when absent.
    #[serde(default)]
    pub mime: Option<String>,
}

impl SendDocument {
    /// Files that lie together in `dir`, each sent under its file name, MIME types guessed:
    /// `SendDocument::in_folder(dir, &["arkivmelding.xml", "brev.pdf"])`.
    pub fn in_folder(dir: &Path, names: &[&str]) -> Vec<SendDocument> {
        names
            .iter()
            .map(|n| SendDocument {
                name: n.to_string(),
                path: dir.join(n),
                mime: None,
            })
            .collect()
    }
}

impl From<SendDocument> for DocumentSource {
    fn from(d: SendDocument) -> Self {
        let mut s = DocumentSource::new(d.name, d.path);
        s.mime = d.mime;
        s
    }
}

/// What to send: a complete SBD, or the fields to build an arkivmelding SBD from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SendRequest {
    /// A complete SBD (sender, receiver, ids, process, business message) in the JSON form of the
    /// integration point's NextMove API, read strictly (unknown members and wrong types are
    /// refused, naming the member). When given, the fields below except `documents` are ignored.
    #[serde(deserialize_with = "crate::sbd::deserialize_outgoing")]
    #[schemars(with = "Option<crate::sbd::OutgoingSbd>")]
    pub sbd: Option<Sbd>,
    /// The receiver's organisation number.
    pub receiver: Option<String>,
    /// The process (default: arkivmelding administrasjon).
    pub process: Option<String>,
    pub conversation_id: Option<String>,
    pub message_id: Option<String>,
    /// The primary document's name (default `arkivmelding.xml`).
    pub hoveddokument: Option<String>,
    /// Lifetime in seconds (default 24 h, at most [`MAX_TTL_SECS`]):
    /// expectedResponseDateTime = now + ttl.
    #[schemars(range(min = 1, max = 316224000))]
    pub ttl_secs: Option<i64>,
    pub sender_ref: Option<String>,
    pub receiver_ref: Option<String>,
    pub documents: Vec<SendDocument>,
}

/// A DPO participant: one organisation's configuration, keys, state and broker.
///
/// `Client` is `Send + Sync`: share one between threads (e.g. in an `Arc`). Every call is
/// synchronous; state changes are serialised by the store, and `poll` runs one at a time.
pub struct Client {
    config: Config,
    identity: Identity,
    http: Http,
    tokens: Arc<Tokens>,
    registry: Arc<Registry>,
    store: Store,
    options: ClientOptions,
    /// One poll at a time, so two threads never download the same transfer.
    poll_lock: Mutex<()>,
    /// One outbox flush at a time, so a receipt is not sent twice by two threads.
    outbox_lock: Mutex<()>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("organisation_number", &self.config.organisation_number)
            .field("data_dir", &self.config.data_dir)
            .field("transport", &self.config.transport)
            .finish()
    }
}

fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Client>();
}

impl Client {
    /// Load the identity, build the HTTP agent, token cache, registry and state store, and check
    /// that the configured transport is available.
    pub fn new(config: Config) -> Result<Client> {
        Client::with_options(config, ClientOptions::default())
    }

    pub fn with_options(config: Config, options: ClientOptions) -> Result<Client> {
        let context = ClientContext::new(&config)?;
        Client::with_context(config, &context, options)
    }

    /// A client on an existing [`ClientContext`] (built from the same `config`), sharing its HTTP
    /// agent, token cache and registry cache with whoever else holds it (e.g. lookups).
    pub fn with_context(
        config: Config,
        context: &ClientContext,
        options: ClientOptions,
    ) -> Result<Client> {
        let store = Store::open_with(&config.data_dir, &config.store, &config.organisation_number)?;
        let client = Client {
            config,
            identity: context.identity().clone(),
            http: context.http().clone(),
            tokens: context.tokens().clone(),
            registry: context.registry().clone(),
            store,
            options,
            poll_lock: Mutex::new(()),
            outbox_lock: Mutex::new(()),
        };
        client.with_transport(|_| Ok(()))?;
        log::info!(
            "client for {} ready (data in {})",
            client.config.organisation_number,
            client.config.data_dir.display()
        );
        Ok(client)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The Service Registry this client looks receivers up in (shares its cache with sends).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The state store (read-only use: listing, inspecting).
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn now(&self) -> OffsetDateTime {
        match &self.options.clock {
            Some(c) => c(),
            None => OffsetDateTime::now_utc(),
        }
    }

    /// Run `f` with the broker chosen by `Config::transport`. The one place a transport is picked.
    fn with_transport<T>(&self, f: impl FnOnce(&dyn Transport) -> Result<T>) -> Result<T> {
        match self.config.transport {
            TransportKind::Altinn3 => {
                let source = SystemUserTokens {
                    tokens: &self.tokens,
                    user: self.config.system_user.clone(),
                };
                let broker = Altinn3Broker::new(
                    &self.http,
                    &self.config.urls.altinn3_broker,
                    &source,
                    self.config.message_channel.clone(),
                );
                f(&broker)
            }
            TransportKind::Altinn2 => f(&Altinn2Broker::from_config(&self.http, &self.config)?),
        }
    }

    // ---- sending ------------------------------------------------------------------------

    fn build_sbd(&self, req: &SendRequest, now: OffsetDateTime) -> Result<Sbd> {
        if let Some(sbd) = &req.sbd {
            let mut sbd = sbd.clone();
            let channel = self
                .reply_channel(&sbd)?
                .or_else(|| self.config.message_channel.clone());
            sbd.fill_defaults(
                &self.config.organisation_number,
                crate::sbd::DEFAULT_TTL,
                channel.as_deref(),
                now,
            );
            return Ok(sbd);
        }
        let receiver = req.receiver.as_deref().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidArgument,
                "the send request names no receiver: give \"receiver\" (an organisation number) or a complete \"sbd\"",
            )
            .with_field("receiver")
        })?;
        let receiver = OrgNumber::parse(receiver).map_err(|e| e.with_field("receiver"))?;
        let mut b = ArkivmeldingSbd::new(self.config.organisation_number.clone(), receiver);
        if let Some(p) = &req.process {
            b.process = p.clone();
        }
        b.conversation_id = parse_uuid(req.conversation_id.as_deref(), "conversation_id")?;
        b.message_id = parse_uuid(req.message_id.as_deref(), "message_id")?;
        if let Some(h) = &req.hoveddokument {
            b.hoveddokument = Some(h.clone());
        }
        if let Some(t) = req.ttl_secs {
            b.ttl = time::Duration::seconds(t);
        }
        b.sender_ref = req.sender_ref.clone();
        b.receiver_ref = req.receiver_ref.clone();
        b.message_channel = self.config.message_channel.clone();
        Ok(b.build(now))
    }

    /// Send one message: look the receiver up (its DPO record for the process), package it into
    /// a spool file, record OPPRETTET with the package (one transaction: a crash before it leaves
    /// nothing, after it a message [`Client::run_due`] finishes), upload, record SENDT.
    ///
    /// A transient failure of the upload (5xx, 429, a dropped connection, the token service down)
    /// is not an error: the message stays OPPRETTET, [`MessageInfo::sending`] shows the attempts,
    /// the next attempt and the last error, and `run_due` (or `poll`) sends it later, until its
    /// deadline passes (LEVETID_UTLOPT). A permanent refusal gets FEIL with the reason and is
    /// returned as the error; the package stays, so [`Client::resend`] can try again. A message
    /// whose expectedResponseDateTime has passed is not sent: LEVETID_UTLOPT.
    ///
    /// `progress(done, total)` covers the whole send, packing and uploading, and only grows (see
    /// [`CombinedProgress`]); [`Client::send_by_phase`] tells the phases apart.
    pub fn send(&self, request: SendRequest, progress: Progress<'_>) -> Result<MessageInfo> {
        let mut combined = CombinedProgress::new(progress);
        self.send_by_phase(request, &mut |phase, done, total| {
            combined.report(phase, done, total)
        })
    }

    /// [`Client::send`] with progress by phase: [`Phase::Packing`] in document bytes, then
    /// [`Phase::Uploading`] in package bytes.
    pub fn send_by_phase(
        &self,
        request: SendRequest,
        progress: PhaseProgress<'_>,
    ) -> Result<MessageInfo> {
        request.check()?;
        let now = self.now();
        let sbd = self.build_sbd(&request, now)?;
        sbd.validate(&ValidationOptions::default())
            .map_err(|e| e.context("the message to send"))?;
        self.check_outgoing(&sbd, &request.documents)?;
        let message_id = sbd
            .message_id()
            .ok_or_else(|| Error::new(ErrorKind::InvalidMessage, "the SBD has no messageId"))?
            .to_string();
        if self
            .store
            .transaction(|tx| tx.message(Direction::Outgoing, &message_id))?
            .is_some()
        {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("an outgoing message with messageId {message_id} is already in the store; use a new messageId (or resend it)"),
            )
            .with_field("message_id"));
        }
        let sbd_json = sbd.to_json();
        let sender = sbd.sender_identifier().unwrap_or_default().to_string();
        let receiver_id = sbd.receiver_identifier().unwrap_or_default().to_string();
        let mut new = NewMessage {
            direction: Direction::Outgoing,
            message_id: &message_id,
            conversation_id: sbd.conversation_id(),
            process: sbd.process(),
            document_type: sbd.type_name(),
            sender: &sender,
            receiver: &receiver_id,
            expires: sbd.expected_response_date_time(),
            transfer_id: None,
            payload: None,
            sbd_json: &sbd_json,
            warnings: &[],
        };
        if sbd.is_expired(now) {
            self.store.transaction(|tx| {
                tx.insert_message(&new, ReceiptStatus::Opprettet, now)?;
                tx.add_status(
                    Direction::Outgoing,
                    &message_id,
                    ReceiptStatus::LevetidUtlopt,
                    Some(EXPIRED_DESCRIPTION),
                    now,
                    false,
                )
            })?;
            return Err(expired_error(
                &message_id,
                sbd.expected_response_date_time(),
            ));
        }

        let record = match self.receiver_record(&sbd) {
            Ok(r) => r,
            // The registry (or the token service in front of it) is down: the documents are
            // copied into the spool and packed by a later attempt.
            Err(e) if sending::transient(&e) => {
                return self.send_later(&new, &request.documents, e)
            }
            Err(e) => return Err(e),
        };
        let documents = request.documents.into_iter().map(Into::into).collect();
        // A name of its own per send, so two processes sending the same messageId never write
        // over each other's package (the store keeps the one whose row commits).
        let file = self.spool_name(&message_id, "zip");
        let packed = self.package_reporting(
            &file,
            sbd.clone(),
            documents,
            &record.certificate,
            &mut |d, t| progress(Phase::Packing, d, t),
        );
        if let Err(e) = packed {
            let reason = e.to_string();
            self.store.transaction(|tx| {
                tx.insert_message(&new, ReceiptStatus::Opprettet, now)?;
                tx.add_status(
                    Direction::Outgoing,
                    &message_id,
                    ReceiptStatus::Feil,
                    Some(&reason),
                    now,
                    true,
                )
            })?;
            return Err(e);
        }
        let relative = self.store.relative(&file);
        new.payload = Some(&relative);
        // Claimed by this call for the lease: should the process die in the upload, another
        // client's run_due takes the message over once the lease has run out. Counted from
        // now, not from before packing: packing a large message may take longer than the lease.
        //
        // Relaxed: nothing outside this process depends on the row until the upload's transfer
        // is recorded (durably, which makes this row durable too), and every way back to the
        // caller passes a durable commit (SENDT, the next attempt scheduled, FEIL). A power cut
        // before then undoes a send that never returned, and its package is a leftover.
        let lease = self.now() + time_span(self.options.send_retry.lease);
        let stored = self.store.relaxed_transaction(|tx| {
            tx.insert_message(&new, ReceiptStatus::Opprettet, now)?;
            tx.set_send_step(&message_id, SendStep::Upload, lease)
        });
        if let Err(e) = stored {
            let _ = std::fs::remove_file(&file);
            return Err(e);
        }
        match self.attempt_upload(&message_id, &mut |d, t| progress(Phase::Uploading, d, t)) {
            Ok(m) if m.status == ReceiptStatus::Opprettet => {
                log::warn!(
                    "outgoing message {message_id}: not sent yet, will be tried again ({})",
                    m.sending
                        .as_ref()
                        .and_then(|s| s.last_error.as_deref())
                        .unwrap_or("?")
                );
                Ok(m)
            }
            other => other,
        }
    }

    /// An arkivmelding_kvittering goes back on the message channel of the message it answers
    /// (the IP's `DpoConversationStrategyImpl.ifReceipt`, from the channel it recorded when the
    /// message arrived), so the installation that sent the original picks the reply up. `None`
    /// when the SBD names a channel itself, is no kvittering, or the original had none.
    fn reply_channel(&self, sbd: &Sbd) -> Result<Option<String>> {
        let crate::sbd::BusinessMessage::ArkivmeldingKvittering(k) = &sbd.message else {
            return Ok(None);
        };
        if sbd.message_channel().is_some() {
            return Ok(None);
        }
        let original = self.store.transaction(|tx| {
            match tx.message(Direction::Incoming, &k.related_to_message_id)? {
                Some(_) => tx
                    .sbd_json(Direction::Incoming, &k.related_to_message_id)
                    .map(Some),
                None => Ok(None),
            }
        })?;
        let Some(original) = original else {
            return Ok(None);
        };
        Ok(Sbd::from_json(original.as_bytes())
            .ok()
            .and_then(|o| o.message_channel().map(str::to_string)))
    }

    /// What the IP refuses before it sends a message: a duplicate file name, an arkivmelding
    /// without `arkivmelding.xml` (IP `NextMoveValidator`), a sender with no system user of ours
    /// (IP `AltinnDPOUploadService`; we have none for other organisations). Stricter than the IP:
    /// a `hoveddokument` that names none of the documents (the IP makes the first one the main).
    fn check_outgoing(&self, sbd: &Sbd, documents: &[SendDocument]) -> Result<()> {
        let sender = sbd.sender_org()?;
        // `0192:<own>:<other>`: the IP sends on behalf of `other` with that organisation's own
        // system user (its `dpo.reportees`) and polls its inbox too. efm does not (yet): a
        // message sent with our system user would carry a sender the broker did not
        // authenticate, and its receipts would go to an inbox nobody polls.
        let identifier = sbd.sender_identifier().unwrap_or_default();
        if identifier.split(':').count() > 2 {
            return Err(Error::new(
                ErrorKind::InvalidMessage,
                format!(
                    "sending on behalf of another organisation ({identifier}) is not supported: configure a client for that organisation (its own organisation_number, certificate and system user) and send from it"
                ),
            )
            .with_field("sender"));
        }
        if sender != self.config.organisation_number {
            return Err(Error::new(
                ErrorKind::InvalidMessage,
                format!(
                    "the SBD's sender is {sender}, but this client sends for {}",
                    self.config.organisation_number
                ),
            )
            .with_field("sender"));
        }
        let mut names = std::collections::HashSet::new();
        for d in documents {
            if !names.insert(d.name.as_str()) {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "two documents are named {:?}; file names must be unique",
                        d.name
                    ),
                )
                .with_field("documents"));
            }
        }
        let primary = sbd.message.hoveddokument();
        if let (Some(primary), false) = (primary, documents.is_empty()) {
            if !names.contains(primary) {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "the primary document (hoveddokument) {primary:?} is not among the documents to send"
                    ),
                )
                .with_field("documents"));
            }
        }
        if sbd.type_name() == "arkivmelding" && !names.contains("arkivmelding.xml") {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "an arkivmelding message needs a document named \"arkivmelding.xml\"",
            )
            .with_field("documents"));
        }
        Ok(())
    }

    /// Upload now a message whose sending failed (FEIL, package kept) or is still pending
    /// (OPPRETTET, waiting for its next attempt). As [`Client::send`]: `Ok` with SENDT, or with
    /// OPPRETTET and the next attempt scheduled when the broker is still unavailable.
    pub fn resend(&self, message_id: &str, progress: Progress<'_>) -> Result<MessageInfo> {
        let now = self.now();
        let m = self.outgoing(message_id)?;
        if !matches!(m.status, ReceiptStatus::Feil | ReceiptStatus::Opprettet) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "message {message_id} has status {}; only a message whose sending failed (FEIL) or is pending (OPPRETTET) can be sent again",
                    m.status.name()
                ),
            )
            .with_field("message_id"));
        }
        let staged = m.sending.as_ref().is_some_and(|s| s.staged.is_some());
        if m.payload.as_deref().is_none_or(|p| !p.is_file()) && !staged {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "the package of message {message_id} is gone (it failed before it was packed); send it as a new message"
                ),
            )
            .with_field("message_id"));
        }
        let lease = now + time_span(self.options.send_retry.lease);
        self.store.transaction(|tx| {
            if m.status == ReceiptStatus::Feil {
                tx.set_send_step(message_id, SendStep::Upload, lease)
            } else {
                tx.claim_send(message_id, lease)
            }
        })?;
        self.attempt_upload(message_id, progress)
    }

    fn outgoing(&self, message_id: &str) -> Result<MessageInfo> {
        self.store
            .transaction(|tx| tx.message(Direction::Outgoing, message_id))?
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("no outgoing message with messageId {message_id}"),
                )
                .with_field("message_id")
            })
    }

    /// Package into `file`: written under a temporary name, synced, renamed.
    fn package_to(
        &self,
        file: &Path,
        sbd: Sbd,
        documents: Vec<DocumentSource>,
        receiver_cert: &openssl::x509::X509,
    ) -> Result<()> {
        self.package_reporting(file, sbd, documents, receiver_cert, &mut |_, _| {})
    }

    /// [`Client::package_to`], reporting document bytes packed.
    fn package_reporting(
        &self,
        file: &Path,
        sbd: Sbd,
        documents: Vec<DocumentSource>,
        receiver_cert: &openssl::x509::X509,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<()> {
        // A name of its own per attempt (with this store's owner id, so that what a crash leaves
        // is collected once this store is gone, and never while it runs).
        let dir = file.parent().unwrap_or(Path::new("."));
        let base = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = self.store.temp_path(dir, &base, "part");
        let opts = self.create_options();
        // Written straight into the owner-named file (not a library temp file beside it), so a
        // crash leaves only names the leftover collector can attribute.
        let created = std::fs::File::create_new(&tmp)
            .map_err(|e| Error::io(format!("creating {}", tmp.display()), e))
            .and_then(|out| {
                package::create_reporting(
                    &PackageInput { sbd, documents },
                    &self.identity,
                    receiver_cert,
                    out,
                    &opts,
                    progress,
                )
            })
            .map(|_| ());
        if let Err(e) = created {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        persist_file(&tmp, file)
    }

    /// How this client's packages are made.
    fn create_options(&self) -> CreateOptions {
        CreateOptions {
            // Altinn 3 carries sbd.json and asic.zip only (IP v4 `AltinnPackage.write`).
            legacy_xml: self.config.transport == TransportKind::Altinn2,
            own_message_channel: self.config.message_channel.clone(),
            ..CreateOptions::default()
        }
    }

    /// A package made in memory, for one that is built again whenever it is needed (a status
    /// receipt, which carries no documents): no spool file to create, sync and remove.
    fn package_in_memory(
        &self,
        sbd: Sbd,
        documents: Vec<DocumentSource>,
        receiver_cert: &openssl::x509::X509,
    ) -> Result<Vec<u8>> {
        let (_, out) = package::create(
            &PackageInput { sbd, documents },
            &self.identity,
            receiver_cert,
            std::io::Cursor::new(Vec::new()),
            &self.create_options(),
        )?;
        Ok(out.into_inner())
    }

    /// The receiver's DPO record for the message's process (its certificate encrypts the package).
    fn receiver_record(&self, sbd: &Sbd) -> Result<crate::registry::DpoRecord> {
        let receiver = sbd.receiver_org()?;
        let process = sbd.process().unwrap_or_default().to_string();
        let standard = sbd.header.document_identification.standard.clone();
        self.registry
            .dpo_record_for_document(&receiver, &process, &standard)
    }

    /// A fresh outgoing spool path for a message (`<id>.<owner>.<random>.<ext>`): a name of its
    /// own per writer, so two processes never write over each other's file, and with this
    /// store's owner id, so what a crash leaves is collected once this store is gone.
    fn spool_name(&self, message_id: &str, ext: &str) -> PathBuf {
        self.store.temp_path(
            &self.store.spool_dir(Direction::Outgoing),
            &safe_name(message_id),
            ext,
        )
    }

    /// The stored SBD of an outgoing message.
    fn stored_sbd(&self, message_id: &str) -> Result<Sbd> {
        Sbd::from_json(
            self.store
                .transaction(|tx| tx.sbd_json(Direction::Outgoing, message_id))?
                .as_bytes(),
        )
    }

    /// Upload a package held in memory for `sbd`; returns the broker's transfer id.
    fn upload_bytes(&self, sbd: &Sbd, package: &[u8]) -> Result<String> {
        let mut body = package;
        let size = package.len() as u64;
        self.upload_body(sbd, &mut body, size, &mut |_, _| {}, None, &mut |_| Ok(()))
    }

    /// Upload one package file for `sbd` after an earlier attempt that created transfer
    /// `earlier` (see [`Transport::upload_resuming`]); `created` learns a new transfer's id.
    /// Returns the broker's transfer id.
    fn upload_file_resuming(
        &self,
        sbd: &Sbd,
        path: &Path,
        progress: Progress<'_>,
        earlier: Option<&str>,
        created: &mut dyn FnMut(&str) -> Result<()>,
    ) -> Result<String> {
        let mut body = std::fs::File::open(path)
            .map_err(|e| Error::io(format!("opening the package {}", path.display()), e))?;
        let size = body
            .metadata()
            .map_err(|e| Error::io(format!("reading the size of {}", path.display()), e))?
            .len();
        self.upload_body(sbd, &mut body, size, progress, earlier, created)
    }

    /// Upload `size` package bytes from `body` (see [`Client::upload_file_resuming`]).
    fn upload_body(
        &self,
        sbd: &Sbd,
        body: &mut dyn std::io::Read,
        size: u64,
        progress: Progress<'_>,
        earlier: Option<&str>,
        created: &mut dyn FnMut(&str) -> Result<()>,
    ) -> Result<String> {
        let recipient = sbd.receiver_org()?;
        let sender = sbd.sender_org()?;
        let reference = package::senders_reference(sbd, self.config.message_channel.as_deref());
        self.with_transport(|t| {
            t.upload_resuming(
                Outgoing {
                    sender: &sender,
                    recipient: &recipient,
                    senders_reference: &reference,
                    body,
                    size,
                },
                progress,
                earlier,
                created,
            )
        })
    }

    // ---- statuses -----------------------------------------------------------------------

    /// The status history of a message (outgoing if we sent one with this id, else incoming).
    pub fn status(&self, message_id: &str) -> Result<Vec<StatusEntry>> {
        self.store.transaction(|tx| {
            let d = tx.directions_of(message_id)?;
            match d.first() {
                Some(d) => tx.history(*d, message_id),
                None => Err(Error::new(
                    ErrorKind::NotFound,
                    format!("no message with messageId {message_id} in the store"),
                )
                .with_field("message_id")),
            }
        })
    }

    /// The status history of a message in one direction.
    pub fn status_of(&self, direction: Direction, message_id: &str) -> Result<Vec<StatusEntry>> {
        self.store
            .transaction(|tx| tx.history(direction, message_id))
    }

    /// Messages matching `filter`, newest first.
    pub fn messages(&self, filter: &MessageFilter) -> Result<Vec<MessageInfo>> {
        self.store.transaction(|tx| tx.messages(filter))
    }

    /// One message (outgoing if we sent one with this id, else incoming).
    pub fn message(&self, message_id: &str) -> Result<MessageInfo> {
        self.store.transaction(|tx| {
            for d in tx.directions_of(message_id)? {
                if let Some(m) = tx.message(d, message_id)? {
                    return Ok(m);
                }
            }
            Err(Error::new(
                ErrorKind::NotFound,
                format!("no message with messageId {message_id} in the store"),
            )
            .with_field("message_id"))
        })
    }

    /// Mark outgoing messages that passed expectedResponseDateTime unfinished (no LEVERT, LEST
    /// or FEIL; MOTTATT alone does not finish a message, IP `DefaultConversationService`) as
    /// LEVETID_UTLOPT: no more attempts to send them, their packages removed. Returns their
    /// messageIds.
    pub fn expire(&self) -> Result<Vec<String>> {
        let now = self.now();
        let (ids, packages) = self.store.transaction(|tx| {
            let expired = tx.expired_outgoing(now)?;
            let mut ids = Vec::new();
            let mut packages = Vec::new();
            for (id, _) in expired {
                tx.add_status(
                    Direction::Outgoing,
                    &id,
                    ReceiptStatus::LevetidUtlopt,
                    Some(EXPIRED_DESCRIPTION),
                    now,
                    false,
                )?;
                if let Some(p) = tx
                    .message(Direction::Outgoing, &id)?
                    .and_then(|m| m.payload)
                {
                    packages.push(p);
                }
                tx.finish_send(&id)?;
                tx.set_payload(Direction::Outgoing, &id, None)?;
                ids.push(id);
            }
            Ok((ids, packages))
        })?;
        for p in packages {
            let _ = std::fs::remove_file(p);
        }
        for id in &ids {
            self.drop_staged(id)?;
        }
        Ok(ids)
    }
}

/// A `std` duration as a `time` one (saturating at an hour's worth of years).
fn time_span(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::days(365 * 100))
}

fn expired_error(message_id: &str, expires: Option<&str>) -> Error {
    Error::new(
        ErrorKind::InvalidMessage,
        format!(
            "message {message_id} expired at {} (expectedResponseDateTime) and was not sent (LEVETID_UTLOPT); send it again with a later deadline",
            expires.unwrap_or("?")
        ),
    )
    .with_field("expectedResponseDateTime")
}

fn parse_uuid(value: Option<&str>, field: &str) -> Result<Option<uuid::Uuid>> {
    value
        .map(|v| {
            uuid::Uuid::parse_str(v).map_err(|_| {
                Error::new(
                    ErrorKind::InvalidIdentifier,
                    format!("{field} {} is not a UUID", crate::input::quote(v)),
                )
                .with_field(field)
            })
        })
        .transpose()
}

/// A file-name-safe form of an id (ids are UUIDs; anything else is reduced to safe characters).
fn safe_name(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if s.is_empty() {
        "_".to_string()
    } else {
        s
    }
}
