//! Receiving: poll the broker, store what arrives, hand it out through the in-queue
//! (spec maskinporten-sr-nextmove.md C.6, dpo-soap.md 5 and 9, altinn3-broker.md 4).
//!
//! One transfer goes DOWNLOADING (row written before the first byte is asked for) → STORED (the
//! package is fsynced under its final name and the message row, queue entry and owed MOTTATT
//! commit in one transaction) → CONFIRMED (after the broker took the confirm). The broker lists
//! only transfers nobody has started to download (recipientStatus=Initialized, altinn3 4.4), so
//! the DOWNLOADING and STORED rows are what lets the next poll, possibly in a new process, finish
//! a transfer a crash interrupted.

use super::{safe_name, Client, Direction, MessageInfo};
use crate::error::{Error, ErrorGroup, ErrorKind, Result};
use crate::package::{self, OpenOptions};
use crate::sbd::{BusinessMessage, ReceiptStatus, Sbd, ValidationOptions};
use crate::store::{format_time, persist_file, NewMessage, TransferState};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What one [`Client::poll`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PollSummary {
    /// messageIds of new messages put in the incoming queue.
    pub received: Vec<String>,
    /// Status and receipt messages applied to our outgoing messages.
    pub statuses: usize,
    /// Transfers whose message we already had (same messageId): confirmed, not stored again.
    pub duplicates: usize,
    /// Transfers with an unreadable or invalid SBD: logged, confirmed and dropped (as the IP does).
    pub discarded: usize,
    /// Transfers an earlier, interrupted poll had started and this one finished.
    pub recovered: usize,
    /// Status receipts (MOTTATT, LEVERT) sent to senders.
    pub receipts_sent: usize,
    /// Transfers that failed this time (network, broker) and receipts not sent yet; the next
    /// poll tries them again.
    pub errors: Vec<PollError>,
}

/// One transfer that [`Client::poll`] could not finish, or one receipt it could not send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PollError {
    /// The broker transfer, for a failed download or confirm.
    pub transfer_id: Option<String>,
    /// The incoming message, for a receipt (MOTTATT, LEVERT) that could not be sent yet.
    pub message_id: Option<String>,
    /// The stable error code (`ErrorKind`).
    pub code: u32,
    pub message: String,
    pub retryable: bool,
    /// The broker says the transfer is gone (purged, expired): it will not be tried again.
    pub abandoned: bool,
}

/// A message in the incoming queue, as [`Client::peek`] returns it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct IncomingMessage {
    #[serde(flatten)]
    pub info: MessageInfo,
    /// The SBD as it arrived (JSON).
    pub sbd: serde_json::Value,
    /// The lock holds until then; `pop` and `delete` need it.
    pub locked_until: String,
}

/// One extracted document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct OpenedFile {
    pub name: String,
    pub path: PathBuf,
    pub mime: String,
    pub size: u64,
}

/// A message [`Client::pop`] decrypted, verified and extracted.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct OpenedMessage {
    pub message_id: String,
    pub conversation_id: Option<String>,
    pub sbd: serde_json::Value,
    pub files: Vec<OpenedFile>,
    /// Subject of the certificate that signed the ASiC-E.
    pub signer: Option<String>,
}

enum Stored {
    New(String),
    Status,
    Duplicate,
    Discarded,
}

impl Client {
    /// Fetch what waits at the broker: finish transfers an earlier poll left half-done, then take
    /// the waiting ones oldest first, store each (deduplicated by messageId), confirm it, and send
    /// the receipts owed. A transfer that fails (network, broker) is reported in
    /// [`PollSummary::errors`] and tried again by the next poll, and the others go on (as the IP
    /// does); so is a receipt the broker did not take. Errors in listing or in local storage end
    /// the poll with `Err`; everything done before is kept.
    pub fn poll(&self) -> Result<PollSummary> {
        let _one = self
            .poll_lock
            .lock()
            .map_err(|_| Error::new(ErrorKind::Internal, "the poll lock is poisoned"))?;
        let mut summary = PollSummary::default();
        let mut tried = std::collections::HashSet::new();
        let unfinished = self.store.transaction(|tx| tx.unfinished_transfers())?;
        for t in unfinished {
            log::info!(
                "transfer {}: finishing after an interruption",
                t.transfer_id
            );
            tried.insert(t.transfer_id.clone());
            if self.try_transfer(&t.transfer_id, 0, &mut summary)? {
                summary.recovered += 1;
            }
        }
        let available = self.with_transport(|t| t.available())?;
        for a in available {
            if tried.insert(a.id.clone()) {
                self.try_transfer(&a.id, a.size, &mut summary)?;
            }
        }
        let (sent, errors) = self.flush_outbox()?;
        summary.receipts_sent += sent;
        summary.errors.extend(errors);
        // Our own sends that are due (retries, transfers to follow, expiry) go along.
        let mut sends = super::WorkSummary::default();
        self.work_sends(&mut sends)?;
        summary.errors.extend(sends.send_errors());
        Ok(summary)
    }

    /// Take one transfer; a remote or network failure goes into the summary (false), a local
    /// one (storage) ends the poll.
    fn try_transfer(
        &self,
        transfer_id: &str,
        size: u64,
        summary: &mut PollSummary,
    ) -> Result<bool> {
        let e = match self.take_transfer(transfer_id, size, summary) {
            Ok(()) => return Ok(true),
            Err(e) if matches!(e.kind().group(), ErrorGroup::Storage | ErrorGroup::Internal) => {
                return Err(e)
            }
            Err(e) => e,
        };
        let status = e.detail().http_status;
        let gone = status == Some(404)
            || (status == Some(403) && e.detail().remote_code.as_deref() == Some("BRO-00007"));
        if gone {
            // Purged or expired at the broker: nothing left to fetch or confirm.
            log::warn!("transfer {transfer_id}: abandoned, the broker no longer has it: {e}");
            let now = self.now();
            self.store.transaction(|tx| {
                let t = tx.transfer(transfer_id)?;
                tx.put_transfer(
                    transfer_id,
                    TransferState::Confirmed,
                    None,
                    t.as_ref().and_then(|t| t.message_id.as_deref()),
                    now,
                )
            })?;
        } else {
            log::warn!("transfer {transfer_id}: not finished, will be tried again: {e}");
        }
        summary.errors.push(PollError {
            transfer_id: Some(transfer_id.to_string()),
            message_id: None,
            code: e.code(),
            message: e.to_string(),
            retryable: e.retryable(),
            abandoned: gone,
        });
        Ok(false)
    }

    /// `size`: what the broker's overview says (0 when unknown).
    fn take_transfer(&self, transfer_id: &str, size: u64, summary: &mut PollSummary) -> Result<()> {
        let state = self
            .store
            .transaction(|tx| tx.transfer(transfer_id))?
            .map(|t| t.state);
        if matches!(state, None | Some(TransferState::Downloading)) {
            match self.download_and_store(transfer_id, size)? {
                Stored::New(id) => summary.received.push(id),
                Stored::Status => summary.statuses += 1,
                Stored::Duplicate => summary.duplicates += 1,
                Stored::Discarded => summary.discarded += 1,
            }
        }
        // STORED, or CONFIRMED but offered again: the confirm is idempotent.
        self.with_transport(|t| t.confirm(transfer_id))?;
        let now = self.now();
        self.store.transaction(|tx| {
            let t = tx.transfer(transfer_id)?;
            tx.put_transfer(
                transfer_id,
                TransferState::Confirmed,
                None,
                t.as_ref().and_then(|t| t.message_id.as_deref()),
                now,
            )
        })?;
        log::info!("transfer {transfer_id}: confirmed at the broker");
        Ok(())
    }

    fn download_and_store(&self, transfer_id: &str, size: u64) -> Result<Stored> {
        let dir = self.store.spool_dir(Direction::Incoming);
        let file = dir.join(format!("{}.zip", safe_name(transfer_id)));
        // A name of its own per attempt: two processes on one data directory never share a
        // temporary file (the store then keeps one copy, deduplicated by messageId).
        let tmp = file.with_extension(format!("{}.part", uuid::Uuid::new_v4().simple()));
        let relative = self.store.relative(&file);
        let now = self.now();
        self.store.transaction(|tx| {
            tx.put_transfer(
                transfer_id,
                TransferState::Downloading,
                Some(&relative),
                None,
                now,
            )
        })?;
        let mut out = std::fs::File::create(&tmp)
            .map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
        let n = self.with_transport(|t| t.download(transfer_id, &mut out, &mut |_, _| {}));
        drop(out);
        let n = n.and_then(|n| {
            // The overview's fileTransferSize, checked as spec altinn3 4 recommends.
            if size != 0 && n != size {
                return Err(Error::new(
                    ErrorKind::ConnectionDropped,
                    format!("transfer {transfer_id}: got {n} bytes, the broker announced {size}"),
                )
                .retryable_if(true));
            }
            Ok(n)
        });
        let n = match n {
            Ok(n) => n,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        persist_file(&tmp, &file)?;
        log::info!("transfer {transfer_id}: downloaded {n} bytes");
        self.store_package(transfer_id, &file)
    }

    /// Read `sbd.json` (nothing decrypted) and record what the package means, in one transaction
    /// that also marks the transfer STORED.
    fn store_package(&self, transfer_id: &str, file: &Path) -> Result<Stored> {
        let now = self.now();
        let relative = self.store.relative(file);
        let sbd = package::read_sbd(file).and_then(|sbd| {
            sbd.validate(&ValidationOptions::default())?;
            let to = sbd.receiver_org()?;
            if to != self.config.organisation_number {
                return Err(Error::new(
                    ErrorKind::InvalidMessage,
                    format!(
                        "the SBD is addressed to {to}, not to us ({})",
                        self.config.organisation_number
                    ),
                ));
            }
            Ok(sbd)
        });
        let sbd = match sbd {
            Ok(sbd) => sbd,
            Err(e) => {
                // The IP logs, confirms and drops a package it cannot read (spec dpo-soap 5).
                log::warn!("transfer {transfer_id}: discarded, its SBD is unusable: {e}");
                self.store.transaction(|tx| {
                    tx.put_transfer(transfer_id, TransferState::Stored, None, None, now)
                })?;
                let _ = std::fs::remove_file(file);
                return Ok(Stored::Discarded);
            }
        };
        let message_id = sbd.message_id().unwrap_or_default().to_string();
        let outcome = match &sbd.message {
            BusinessMessage::Status(s) => {
                let status = s.status;
                let from = sbd.sender_identifier().unwrap_or_default().to_string();
                self.store.transaction(|tx| {
                    apply_to_outgoing(tx, &from, &message_id, status, None, now)?;
                    tx.put_transfer(
                        transfer_id,
                        TransferState::Stored,
                        None,
                        Some(&message_id),
                        now,
                    )
                })?;
                Stored::Status
            }
            _ => self.store_incoming(transfer_id, &sbd, &relative, now)?,
        };
        if !matches!(outcome, Stored::New(_)) {
            let _ = std::fs::remove_file(file);
        }
        Ok(outcome)
    }

    fn store_incoming(
        &self,
        transfer_id: &str,
        sbd: &Sbd,
        relative: &str,
        now: time::OffsetDateTime,
    ) -> Result<Stored> {
        let message_id = sbd.message_id().unwrap_or_default();
        let sbd_json = sbd.to_json();
        let new = NewMessage {
            direction: Direction::Incoming,
            message_id,
            conversation_id: sbd.conversation_id(),
            process: sbd.process(),
            document_type: sbd.type_name(),
            sender: sbd.sender_identifier().unwrap_or_default(),
            receiver: sbd.receiver_identifier().unwrap_or_default(),
            expires: sbd.expected_response_date_time(),
            transfer_id: Some(transfer_id),
            payload: Some(relative),
            sbd_json: &sbd_json,
        };
        let expired = sbd.is_expired(now);
        // A kvittering is an ordinary incoming message that also settles our outgoing one
        // (spec dpo-soap 5.3, 9.3): LEST, or FEIL for ERROR and NOTSUPPORTED.
        let settles = match &sbd.message {
            BusinessMessage::ArkivmeldingKvittering(k) => Some((
                k.related_to_message_id.clone(),
                k.resulting_status(),
                kvittering_text(k),
            )),
            _ => None,
        };
        self.store.transaction(|tx| {
            if tx.message(Direction::Incoming, message_id)?.is_some() {
                log::info!(
                    "transfer {transfer_id}: message {message_id} is already stored; not stored again"
                );
                tx.put_transfer(
                    transfer_id,
                    TransferState::Stored,
                    None,
                    Some(message_id),
                    now,
                )?;
                return Ok(Stored::Duplicate);
            }
            tx.insert_message(&new, ReceiptStatus::Opprettet, now)?;
            if expired {
                tx.add_status(
                    Direction::Incoming,
                    message_id,
                    ReceiptStatus::LevetidUtlopt,
                    Some(super::EXPIRED_DESCRIPTION),
                    now,
                    false,
                )?;
            } else {
                tx.add_status(
                    Direction::Incoming,
                    message_id,
                    ReceiptStatus::InnkommendeMottatt,
                    None,
                    now,
                    false,
                )?;
                tx.enqueue(message_id, now)?;
                // Every stored non-status message gets MOTTATT back (spec dpo-soap 5.3).
                tx.add_outbox(message_id, ReceiptStatus::Mottatt)?;
            }
            if let Some((related, status, description)) = &settles {
                apply_to_outgoing(tx, new.sender, related, *status, Some(description), now)?;
            }
            tx.put_transfer(
                transfer_id,
                TransferState::Stored,
                Some(relative),
                Some(message_id),
                now,
            )?;
            Ok(Stored::New(message_id.to_string()))
        })
    }

    /// Send the receipts owed (oldest first); each leaves the outbox only after the broker took
    /// it. Returns how many went.
    pub(super) fn flush_outbox(&self) -> Result<(usize, Vec<PollError>)> {
        let _one = self
            .outbox_lock
            .lock()
            .map_err(|_| Error::new(ErrorKind::Internal, "the outbox lock is poisoned"))?;
        let items = self.store.transaction(|tx| tx.outbox())?;
        let mut sent = 0;
        let mut errors = Vec::new();
        for item in items {
            match self.send_receipt(&item) {
                Ok(transfer_id) => {
                    self.store.transaction(|tx| tx.remove_outbox(item.id))?;
                    log::info!(
                        "incoming message {}: {} sent to the sender (transfer {transfer_id})",
                        item.message_id,
                        item.status.name()
                    );
                    sent += 1;
                }
                Err(e)
                    if matches!(e.kind().group(), ErrorGroup::Storage | ErrorGroup::Internal) =>
                {
                    return Err(e)
                }
                Err(e) => {
                    log::warn!(
                        "incoming message {}: the {} receipt stays owed, will be sent again: {e}",
                        item.message_id,
                        item.status.name()
                    );
                    let retryable = e.retryable();
                    errors.push(PollError {
                        transfer_id: None,
                        message_id: Some(item.message_id.clone()),
                        code: e.code(),
                        message: e.to_string(),
                        retryable,
                        abandoned: false,
                    });
                    // The broker is unreachable or overloaded: the rest would fail alike.
                    if retryable {
                        break;
                    }
                }
            }
        }
        Ok((sent, errors))
    }

    /// Package and upload one status receipt; returns the broker's transfer id.
    fn send_receipt(&self, item: &crate::store::OutboxItem) -> Result<String> {
        let original = self
            .store
            .transaction(|tx| tx.sbd_json(Direction::Incoming, &item.message_id))?;
        let original = Sbd::from_json(original.as_bytes())?;
        let reply = original.status_reply(item.status, self.now())?;
        let file = self.store.spool_dir(Direction::Outgoing).join(format!(
            "receipt-{}-{}.zip",
            safe_name(&item.message_id),
            item.status.name()
        ));
        // A status carries no documents, so nothing is encrypted: our own certificate only
        // fills the parameter.
        self.package_to(&file, reply.clone(), Vec::new(), &self.identity.certificate)?;
        let uploaded = self.upload_file(&reply, &file, &mut |_, _| {});
        let _ = std::fs::remove_file(&file);
        uploaded
    }

    // ---- the in-queue ---------------------------------------------------------------------

    /// The oldest unlocked message in the incoming queue, locked for
    /// [`ClientOptions::lock_timeout`](super::ClientOptions), or `None` when there is none.
    pub fn peek(&self) -> Result<Option<IncomingMessage>> {
        let now = self.now();
        let until = now + self.options.lock_timeout;
        let found = self.store.transaction(|tx| {
            let Some(m) = tx.lock_oldest(now, until)? else {
                return Ok(None);
            };
            let sbd = tx.sbd_json(Direction::Incoming, &m.message_id)?;
            Ok(Some((m, sbd)))
        })?;
        let Some((info, sbd)) = found else {
            return Ok(None);
        };
        let sbd = serde_json::from_str(&sbd).map_err(|e| {
            Error::new(
                ErrorKind::Storage,
                format!("the stored SBD of {} is not JSON: {e}", info.message_id),
            )
        })?;
        Ok(Some(IncomingMessage {
            info,
            sbd,
            locked_until: format_time(until),
        }))
    }

    /// A queued message that `peek` locked, or a clear error.
    fn locked(&self, message_id: &str) -> Result<MessageInfo> {
        let now = self.now();
        self.store.transaction(|tx| match tx.queue_lock(message_id, now)? {
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!("message {message_id} is not in the incoming queue (unknown, or already deleted)"),
            )
            .with_field("message_id")),
            Some(false) => Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("message {message_id} is not locked: peek it first (locks time out)"),
            )
            .with_field("message_id")),
            Some(true) => tx.message(Direction::Incoming, message_id)?.ok_or_else(|| {
                Error::new(ErrorKind::Internal, "a queued message has no row")
            }),
        })
    }

    /// Decrypt, verify and extract a locked message's documents into `target_dir`. A package
    /// that cannot be opened (corrupt, tampered, not for us) gets FEIL, leaves the queue, and its
    /// file is kept for inspection (`MessageInfo::payload`).
    pub fn pop(&self, message_id: &str, target_dir: &Path) -> Result<OpenedMessage> {
        let m = self.locked(message_id)?;
        let path = m.payload.clone().ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("message {message_id} has no package file"),
            )
        })?;
        match package::open(&path, &self.identity, target_dir, &OpenOptions::default()) {
            Ok(opened) => {
                log::info!(
                    "incoming message {message_id}: opened, {} file(s) into {}",
                    opened.files.len(),
                    target_dir.display()
                );
                Ok(OpenedMessage {
                    message_id: message_id.to_string(),
                    conversation_id: m.conversation_id,
                    sbd: opened.sbd.to_value(),
                    files: opened
                        .files
                        .into_iter()
                        .map(|f| OpenedFile {
                            name: f.name,
                            path: f.path,
                            mime: f.mime,
                            size: f.size,
                        })
                        .collect(),
                    signer: opened
                        .signer
                        .as_ref()
                        .map(crate::crypto::keys::subject_line),
                })
            }
            Err(e) if matches!(e.kind().group(), ErrorGroup::Crypto | ErrorGroup::Package) => {
                let now = self.now();
                let reason = format!("the package could not be opened: {e}");
                self.store.transaction(|tx| {
                    tx.dequeue(message_id)?;
                    tx.add_status(
                        Direction::Incoming,
                        message_id,
                        ReceiptStatus::Feil,
                        Some(&reason),
                        now,
                        false,
                    )
                })?;
                log::warn!(
                    "incoming message {message_id}: kept for inspection in {}",
                    path.display()
                );
                Err(e.context(format!(
                    "message {message_id} (status FEIL; the package is kept in {})",
                    path.display()
                )))
            }
            Err(e) => Err(e),
        }
    }

    /// Remove a locked message from the queue: INNKOMMENDE_LEVERT, and LEVERT goes back to the
    /// sender (now, or with the next poll if the broker is unreachable).
    pub fn delete(&self, message_id: &str) -> Result<MessageInfo> {
        let m = self.locked(message_id)?;
        let now = self.now();
        self.store.transaction(|tx| {
            tx.dequeue(message_id)?;
            tx.set_payload(Direction::Incoming, message_id, None)?;
            tx.add_status(
                Direction::Incoming,
                message_id,
                ReceiptStatus::InnkommendeLevert,
                None,
                now,
                false,
            )?;
            // Only non-status messages are queued, and each gets LEVERT (spec dpo-soap 5.5).
            tx.add_outbox(message_id, ReceiptStatus::Levert)?;
            Ok(())
        })?;
        if let Some(p) = &m.payload {
            let _ = std::fs::remove_file(p);
        }
        match self.flush_outbox() {
            Ok((_, errors)) if errors.is_empty() => {}
            Ok(_) => {
                log::warn!("the LEVERT receipt for {message_id} will be sent with the next poll")
            }
            Err(e) => log::warn!(
                "the LEVERT receipt for {message_id} will be sent with the next poll: {e}"
            ),
        }
        self.store
            .transaction(|tx| tx.message(Direction::Incoming, message_id))?
            .ok_or_else(|| Error::new(ErrorKind::Internal, "a deleted message lost its row"))
    }
}

/// Apply a status from the receiver to our outgoing message (idempotent per status value).
/// Only the organisation we sent the message to may change its status.
fn apply_to_outgoing(
    tx: &crate::store::Tx<'_>,
    from: &str,
    message_id: &str,
    status: ReceiptStatus,
    description: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<()> {
    let Some(m) = tx.message(Direction::Outgoing, message_id)? else {
        log::warn!(
            "a {} status arrived for message {message_id}, which we did not send; ignored",
            status.name()
        );
        return Ok(());
    };
    if primary_org(&m.receiver) != primary_org(from) {
        log::warn!(
            "a {} status for message {message_id} came from {from}, not from its receiver {}; ignored",
            status.name(),
            m.receiver
        );
        return Ok(());
    }
    tx.add_status(
        Direction::Outgoing,
        message_id,
        status,
        description,
        now,
        false,
    )?;
    Ok(())
}

/// The organisation number in an SBD party identifier (`0192:<orgnr>[:<on behalf of>]`).
fn primary_org(identifier: &str) -> &str {
    let rest = identifier.strip_prefix("0192:").unwrap_or(identifier);
    rest.split(':').next().unwrap_or(rest)
}

/// The description the IP records with the status a kvittering causes.
fn kvittering_text(k: &crate::sbd::ArkivmeldingKvittering) -> String {
    let mut text = format!("ArkivmeldingKvittering: {}", k.receipt_type);
    let details: Vec<String> = k
        .messages
        .iter()
        .filter_map(|m| match (&m.code, &m.text) {
            (Some(c), Some(t)) => Some(format!("{c}: {t}")),
            (Some(x), None) | (None, Some(x)) => Some(x.clone()),
            (None, None) => None,
        })
        .collect();
    if !details.is_empty() {
        text.push_str(&format!(" ({})", details.join("; ")));
    }
    text
}
