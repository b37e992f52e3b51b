//! Receiving: poll the broker, store what arrives, hand it out through the in-queue
//! (as the IP's `DefaultDpoPolling`, `NextMoveQueueImpl` and `NextMoveMessageInService` do).
//!
//! One transfer goes DOWNLOADING (row written before the first byte is asked for) → STORED (the
//! package is fsynced under its final name and the message row, queue entry and owed MOTTATT commit
//! in one transaction) → CONFIRMED (after the broker took the confirm). The broker lists only
//! transfers nobody has started to download (recipientStatus=Initialized, the search the IP's
//! `BrokerApiClient.getAvailableFiles` makes too), so the DOWNLOADING and STORED rows are what lets
//! the next poll, possibly in a new process, finish a transfer a crash interrupted.
//!
//! What is stored follows the integration point: a package is refused only where the IP refuses
//! it ([`Sbd::check_received`]); everything else efm would not have sent becomes a warning on the
//! message. A refused package is not dropped: it is quarantined with its bytes and the reason
//! (`client/quarantine.rs`). Statuses and receipts count only when the broker's authenticated
//! sender is the organisation the message went to (`receive/trust.rs`).

mod queue;
mod trust;

use super::{safe_name, Client, Direction, MessageInfo};
use crate::error::{Error, ErrorGroup, ErrorKind, Result};
use crate::sbd::{BusinessMessage, ReceiptStatus, Sbd};
use crate::store::{
    persist_file, NewMessage, NewQuarantine, QuarantineKind, TransferClaim, TransferState,
};
use serde::Serialize;
use std::path::{Path, PathBuf};

pub(super) use trust::primary_org;

/// What one [`Client::poll`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PollSummary {
    /// messageIds of new messages put in the incoming queue.
    pub received: Vec<String>,
    /// Status and receipt messages applied to our outgoing messages.
    pub statuses: usize,
    /// Statuses and receipts not applied (not from the organisation the message went to, as the
    /// broker authenticated the sender, or about a message we did not send): quarantined as
    /// IGNORED.
    pub ignored: usize,
    /// Transfers whose message we already had (same messageId): confirmed, not stored again.
    pub duplicates: usize,
    /// Packages that could not be read (not a package, an SBD the integration point would
    /// refuse): confirmed at the broker and quarantined with their bytes
    /// ([`Client::quarantine`]).
    pub quarantined: usize,
    /// Transfers an earlier, interrupted poll had started and this one finished.
    pub recovered: usize,
    /// Status receipts (MOTTATT, LEVERT) sent to senders.
    pub receipts_sent: usize,
    /// Transfers that failed this time (network, broker) and receipts not sent yet; the next
    /// poll tries them again.
    pub errors: Vec<PollError>,
    /// More may wait at the broker than this poll took: the broker asked us to slow down (429),
    /// or new transfers kept arriving. Poll again (after `retry_after_secs`, when given).
    pub more_waiting: bool,
    /// The broker's Retry-After, when it rate-limited this poll.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

impl PollSummary {
    /// Whether anything failed or was held back (errors, or packages quarantined).
    pub fn failed(&self) -> bool {
        !self.errors.is_empty() || self.quarantined > 0
    }
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
    /// The broker says the transfer is gone (purged, expired), or a receipt can never be sent:
    /// it will not be tried again.
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
    /// The name the sender gave it (inside the ASiC-E).
    pub name: String,
    /// Where it is now; the file name differs from `name` when that could not be a file here
    /// (see [`OpenedMessage::warnings`]).
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
    /// The message's warnings (also in [`MessageInfo::warnings`]): what was unusual about it,
    /// including documents saved under another name.
    pub warnings: Vec<String>,
}

pub(super) enum Stored {
    New(String),
    Status,
    Ignored,
    Duplicate,
    Quarantined,
    /// Another store took the transfer over meanwhile (this one was too slow or seemed gone):
    /// its own download is thrown away, the other's counts.
    Lost,
}

/// How many listings one poll makes at most while new transfers keep arriving.
const DRAIN_ROUNDS: usize = 20;

/// How long a claim on a transfer or a receipt holds without its owner's renewal. A crashed
/// owner's claims are taken over at once (its lock is free); this bounds a stuck one.
const CLAIM_TIME: time::Duration = time::Duration::minutes(30);

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
            if self.try_transfer(&t.transfer_id, 0, None, &mut summary)? {
                summary.recovered += 1;
            }
        }
        // Drain: list again after each batch, for what arrived meanwhile or lay beyond the
        // broker's page, until a listing brings nothing new or the broker says slow down.
        for round in 1.. {
            if summary.retry_after_secs.is_some() {
                break;
            }
            let available = match self.with_transport(|t| t.available()) {
                Ok(a) => a,
                Err(e) if e.kind() == ErrorKind::RemoteRateLimited => {
                    log::info!("the broker asks us to slow down: {e}");
                    summary.more_waiting = true;
                    summary.retry_after_secs = Some(e.detail().retry_after_secs.unwrap_or(1));
                    break;
                }
                // A failure after some work (a second round) is reported, not thrown away.
                Err(e) if round > 1 && e.retryable() => {
                    summary.more_waiting = true;
                    summary.errors.push(PollError {
                        transfer_id: None,
                        message_id: None,
                        code: e.code(),
                        message: e.to_string(),
                        retryable: true,
                        abandoned: false,
                    });
                    break;
                }
                Err(e) => return Err(e),
            };
            let fresh: Vec<_> = available
                .into_iter()
                .filter(|a| tried.insert(a.id.clone()))
                .collect();
            if fresh.is_empty() {
                break;
            }
            if round > DRAIN_ROUNDS {
                summary.more_waiting = true;
                break;
            }
            for a in fresh {
                if summary.retry_after_secs.is_some() {
                    summary.more_waiting = true;
                    break;
                }
                let sender = Some(a.sender.as_str()).filter(|s| !s.is_empty());
                self.try_transfer(&a.id, a.size, sender, &mut summary)?;
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
        sender: Option<&str>,
        summary: &mut PollSummary,
    ) -> Result<bool> {
        let outcome = self.take_transfer(transfer_id, size, sender, summary);
        if outcome.is_err() {
            // Let another store (or the next poll) try at once.
            let owner = self.store.owner_id();
            let _ = self
                .store
                .relaxed_transaction(|tx| tx.release_transfer(transfer_id, owner));
        }
        let e = match outcome {
            Ok(done) => return Ok(done),
            Err(e) if matches!(e.kind().group(), ErrorGroup::Storage | ErrorGroup::Internal) => {
                return Err(e)
            }
            Err(e) => e,
        };
        if e.kind() == ErrorKind::RemoteRateLimited {
            // Honoured: no more calls this poll; the transfer waits for the next.
            log::info!("transfer {transfer_id}: the broker asks us to slow down: {e}");
            summary.more_waiting = true;
            summary.retry_after_secs = Some(e.detail().retry_after_secs.unwrap_or(1));
            return Ok(false);
        }
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

    /// `size`: what the broker's overview says (0 when unknown); `sender`: who the broker says
    /// sent it (`None` when this poll did not list it). False when another store is at it.
    fn take_transfer(
        &self,
        transfer_id: &str,
        size: u64,
        sender: Option<&str>,
        summary: &mut PollSummary,
    ) -> Result<bool> {
        let now = self.now();
        let owner = self.store.owner_id();
        // Relaxed: the DOWNLOADING row this may create is made durable by the commit that
        // records the spool file, before anything is asked of the broker.
        let claim = self.store.relaxed_transaction(|tx| {
            tx.claim_transfer(transfer_id, owner, now, now + CLAIM_TIME, &|o| {
                self.store.owner_alive(o)
            })
        })?;
        let state = match claim {
            TransferClaim::Busy => {
                log::debug!("transfer {transfer_id}: another process is taking it");
                return Ok(false);
            }
            TransferClaim::Claimed(state) => state,
        };
        if matches!(state, None | Some(TransferState::Downloading)) {
            match self.download_and_store(transfer_id, size, sender)? {
                Stored::New(id) => summary.received.push(id),
                Stored::Status => summary.statuses += 1,
                Stored::Ignored => summary.ignored += 1,
                Stored::Duplicate => summary.duplicates += 1,
                Stored::Quarantined => summary.quarantined += 1,
                Stored::Lost => return Ok(false),
            }
        }
        // STORED, or CONFIRMED but offered again: the confirm is idempotent.
        self.with_transport(|t| t.confirm(transfer_id))?;
        let now = self.now();
        // Relaxed: undone by a power cut, the transfer is STORED again and the next poll
        // confirms it once more (idempotent).
        self.store.relaxed_transaction(|tx| {
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
        Ok(true)
    }

    fn download_and_store(
        &self,
        transfer_id: &str,
        size: u64,
        sender: Option<&str>,
    ) -> Result<Stored> {
        let dir = self.store.spool_dir(Direction::Incoming);
        // Names of this store's own: two processes downloading one transfer (one took over
        // from the other) never write, or delete, each other's file.
        let file = self.store.owned_path(&dir, &safe_name(transfer_id), "zip");
        let tmp = self.store.temp_path(&dir, &safe_name(transfer_id), "part");
        let relative = self.store.relative(&file);
        let now = self.now();
        self.store.transaction(|tx| {
            tx.put_transfer(
                transfer_id,
                TransferState::Downloading,
                Some(&relative),
                None,
                now,
            )?;
            match sender {
                Some(s) => tx.set_transfer_sender(transfer_id, s),
                None => Ok(()),
            }
        })?;
        let mut out = std::fs::File::create(&tmp)
            .map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
        let n = self.with_transport(|t| t.download(transfer_id, &mut out, &mut |_, _| {}));
        drop(out);
        let n = n.and_then(|n| {
            // The overview's fileTransferSize (Altinn 3 Broker OpenAPI,
            // `FileTransferOverviewExt`); the IP does not check it.
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
    /// that also marks the transfer STORED. A package the IP would refuse is quarantined.
    pub(super) fn store_package(&self, transfer_id: &str, file: &Path) -> Result<Stored> {
        let now = self.now();
        let relative = self.store.relative(file);
        let broker_sender = self
            .store
            .transaction(|tx| tx.transfer(transfer_id))?
            .and_then(|t| t.sender);
        let checked = crate::package::read_sbd(file).and_then(|sbd| {
            let warnings = sbd.check_received()?;
            Ok((sbd, warnings))
        });
        let (sbd, mut warnings) = match checked {
            Ok(v) => v,
            Err(e) => {
                // Confirmed at the broker, kept here: nothing downloaded is dropped unseen.
                let reason = format!("the package cannot be read: {e}");
                let size = std::fs::metadata(file).map(|m| m.len()).ok();
                let owner = self.store.owner_id();
                let kept = self.store.transaction(|tx| {
                    if !tx.holds_transfer(transfer_id, owner)? {
                        return Ok(false);
                    }
                    tx.add_quarantine(
                        &NewQuarantine {
                            kind: QuarantineKind::Unreadable,
                            transfer_id: Some(transfer_id),
                            message_id: None,
                            sender: broker_sender.as_deref(),
                            reason: &reason,
                            code: e.code(),
                            payload: Some(&relative),
                            size,
                        },
                        now,
                    )?;
                    tx.put_transfer(transfer_id, TransferState::Stored, None, None, now)?;
                    Ok(true)
                })?;
                if !kept {
                    let _ = std::fs::remove_file(file);
                    return Ok(Stored::Lost);
                }
                return Ok(Stored::Quarantined);
            }
        };
        if let Ok(to) = sbd.receiver_org() {
            if to != self.config.organisation_number {
                warnings.push(format!(
                    "the SBD is addressed to {to}, not to this organisation ({}); the broker delivered it here",
                    self.config.organisation_number
                ));
            }
        }
        let claimed = sbd.sender_identifier().unwrap_or_default();
        if let Some(b) = broker_sender.as_deref() {
            if primary_org(b) != primary_org(claimed) {
                warnings.push(format!(
                    "the SBD names the sender {claimed}, but the broker says {b} sent it"
                ));
            }
        }
        let message_id = sbd.message_id().unwrap_or_default().to_string();
        let outcome = match &sbd.message {
            BusinessMessage::Status(s) => {
                let status = s.status;
                let from = trust::Sender {
                    authenticated: broker_sender.as_deref(),
                    claimed,
                };
                let owner = self.store.owner_id();
                self.store.transaction(|tx| {
                    if !tx.holds_transfer(transfer_id, owner)? {
                        return Ok(Stored::Lost);
                    }
                    let applied = trust::apply_to_outgoing(
                        tx,
                        &from,
                        &message_id,
                        status,
                        None,
                        Some((transfer_id, &relative)),
                        now,
                    )?;
                    tx.put_transfer(
                        transfer_id,
                        TransferState::Stored,
                        None,
                        Some(&message_id),
                        now,
                    )?;
                    Ok(if applied {
                        Stored::Status
                    } else {
                        Stored::Ignored
                    })
                })?
            }
            _ => self.store_incoming(
                transfer_id,
                &sbd,
                &relative,
                broker_sender.as_deref(),
                &warnings,
                now,
            )?,
        };
        if matches!(outcome, Stored::Status | Stored::Duplicate | Stored::Lost) {
            let _ = std::fs::remove_file(file);
        }
        Ok(outcome)
    }

    fn store_incoming(
        &self,
        transfer_id: &str,
        sbd: &Sbd,
        relative: &str,
        broker_sender: Option<&str>,
        warnings: &[String],
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
            warnings,
        };
        let expired = sbd.is_expired(now);
        // A kvittering is an ordinary incoming message that also settles our outgoing one
        // (IP `AltinnNextMoveMessageHandler`): LEST, or FEIL for ERROR and NOTSUPPORTED.
        let settles = match &sbd.message {
            BusinessMessage::ArkivmeldingKvittering(k) => Some((
                k.related_to_message_id.clone(),
                k.resulting_status(),
                trust::kvittering_text(k),
            )),
            _ => None,
        };
        let owner = self.store.owner_id();
        self.store.transaction(|tx| {
            if !tx.holds_transfer(transfer_id, owner)? {
                return Ok(Stored::Lost);
            }
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
                // Every stored non-status message gets MOTTATT back (IP
                // `NextMoveQueueImpl.enqueueIncomingMessage`).
                tx.add_outbox(message_id, ReceiptStatus::Mottatt)?;
            }
            if let Some((related, status, description)) = &settles {
                let from = trust::Sender {
                    authenticated: broker_sender,
                    claimed: new.sender,
                };
                let applied = trust::apply_to_outgoing(
                    tx,
                    &from,
                    related,
                    *status,
                    Some(description),
                    None,
                    now,
                )?;
                if !applied {
                    tx.add_warnings(
                        Direction::Incoming,
                        message_id,
                        &[format!(
                            "this receipt was not applied to message {related}: it does not come from the organisation that message went to"
                        )],
                    )?;
                }
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
        let now = self.now();
        let owner = self.store.owner_id();
        // Claims and removals relaxed: a claim counts only while this process runs, and a
        // receipt whose removal a power cut undoes is sent once more, which its receiver takes
        // as the same status again (as after a crash between the upload and the removal).
        let items = self.store.relaxed_transaction(|tx| {
            tx.claim_outbox(owner, now, now + CLAIM_TIME, &|o| self.store.owner_alive(o))
        })?;
        let mut sent = 0;
        let mut errors = Vec::new();
        for item in &items {
            match self.send_receipt(item) {
                Ok(transfer_id) => {
                    self.store
                        .relaxed_transaction(|tx| tx.remove_outbox(item.id))?;
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
                    self.release_receipts(&items);
                    return Err(e);
                }
                Err(e) => {
                    let retryable = e.retryable();
                    // A receipt that can never be built or addressed (the SBD names no
                    // organisation we can reply to) would fail on every poll: it is given up,
                    // with a warning on the message.
                    let hopeless = !retryable
                        && matches!(
                            e.kind().group(),
                            ErrorGroup::InvalidInput | ErrorGroup::Package
                        );
                    if hopeless {
                        let warning = format!(
                            "the {} receipt could not be sent and was given up: {e}",
                            item.status.name()
                        );
                        self.store.transaction(|tx| {
                            tx.remove_outbox(item.id)?;
                            tx.add_warnings(
                                Direction::Incoming,
                                &item.message_id,
                                std::slice::from_ref(&warning),
                            )
                        })?;
                    } else {
                        log::warn!(
                            "incoming message {}: the {} receipt stays owed, will be sent again: {e}",
                            item.message_id,
                            item.status.name()
                        );
                    }
                    errors.push(PollError {
                        transfer_id: None,
                        message_id: Some(item.message_id.clone()),
                        code: e.code(),
                        message: e.to_string(),
                        retryable,
                        abandoned: hopeless,
                    });
                    // The broker is unreachable or overloaded: the rest would fail alike.
                    if retryable {
                        break;
                    }
                }
            }
        }
        // What was not sent stays owed, free for any store to send.
        self.release_receipts(&items);
        Ok((sent, errors))
    }

    fn release_receipts(&self, items: &[crate::store::OutboxItem]) {
        let owner = self.store.owner_id();
        let _ = self.store.relaxed_transaction(|tx| {
            for item in items {
                tx.release_outbox(item.id, owner)?;
            }
            Ok(())
        });
    }

    /// Package and upload one status receipt; returns the broker's transfer id. It goes to the
    /// organisation the broker says sent the message, whatever the SBD claims.
    fn send_receipt(&self, item: &crate::store::OutboxItem) -> Result<String> {
        let (original, sent_by) = self.store.transaction(|tx| {
            let sbd = tx.sbd_json(Direction::Incoming, &item.message_id)?;
            let transfer = tx
                .message(Direction::Incoming, &item.message_id)?
                .and_then(|m| m.transfer_id);
            let sender = match transfer {
                Some(t) => tx.transfer(&t)?.and_then(|t| t.sender),
                None => None,
            };
            Ok((sbd, sender))
        })?;
        let original = Sbd::from_json(original.as_bytes())?;
        let mut reply = original.status_reply(item.status, self.now())?;
        let recipient = match sent_by.as_deref().map(primary_org) {
            Some(org) => crate::ident::OrgNumber::parse(org)?,
            None => reply.receiver_org()?,
        };
        // The reply swaps the original's parties verbatim (as the IP does); where those are not
        // us and the organisation that sent the message, they are put right, so the receipt
        // can be sent at all.
        let us = &self.config.organisation_number;
        if reply.sender_org().ok().as_ref() != Some(us) {
            reply.header.sender = vec![crate::sbd::Partner::organisation(us)];
        }
        if reply.receiver_org().ok().as_ref() != Some(&recipient) {
            reply.header.receiver = vec![crate::sbd::Partner::organisation(&recipient)];
        }
        // A status carries no documents, so nothing is encrypted: our own certificate only
        // fills the parameter. Made in memory: a few KiB, built again should the upload fail.
        let package =
            self.package_in_memory(reply.clone(), Vec::new(), &self.identity.certificate)?;
        self.upload_bytes(&reply, &package)
    }
}
