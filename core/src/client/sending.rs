//! Sending that survives failures: every outgoing message sits in the store's send queue
//! (`store/sends.rs`) until the broker has it, and [`Client::run_due`] works that queue.
//!
//! - A transient failure while uploading (5xx, 429, a reset or timeout, the token service or the
//!   registry down) leaves the message OPPRETTET with the attempt count, the next attempt time and
//!   the last error; the next attempt is due after an exponential backoff with jitter (never sooner
//!   than the broker's Retry-After), until it is sent or its expectedResponseDateTime passes
//!   (LEVETID_UTLOPT). The integration point does the same through its queue's redelivery (20 s
//!   at first, growing, at most an hour apart, then the dead-letter queue: FEIL).
//! - A permanent refusal (the broker's 4xx, a refused system user) is FEIL with the reason.
//! - An upload interrupted after the broker initialized its transfer is not blindly repeated: the
//!   next attempt asks the broker how far that transfer got, and counts an upload the broker
//!   received (we only missed its answer) as sent, so the receiver gets one copy.
//! - After the upload the transfer is followed until the broker publishes it (SENDT stays) or
//!   fails it, e.g. in its malware scan: FEIL with the broker's reason. The package is kept until
//!   then, so a failed message can be sent again.

use super::{expired_error, Client, Direction, MessageInfo, SendDocument, EXPIRED_DESCRIPTION};
use crate::error::{Error, ErrorGroup, ErrorKind, Result};
use crate::sbd::ReceiptStatus;
use crate::store::{format_time, persist_file, sync_dir, NewMessage, SendStep};
use crate::transport::{Progress, SentState};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;

/// How patiently sending is retried (part of [`ClientOptions`](super::ClientOptions)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendRetry {
    /// Delay after the first failed upload; it doubles with every further failure (with jitter).
    pub first_delay: Duration,
    /// The longest delay between two upload attempts.
    pub max_delay: Duration,
    /// Delay before looking again at a transfer the broker is still scanning; doubles likewise.
    pub follow_first_delay: Duration,
    pub follow_max_delay: Duration,
    /// How long an attempt may take before another thread or process may take the message over
    /// (a process killed mid-upload leaves its message to others after this).
    pub lease: Duration,
}

impl Default for SendRetry {
    fn default() -> Self {
        SendRetry {
            first_delay: Duration::from_secs(20),
            max_delay: Duration::from_secs(3600),
            follow_first_delay: Duration::from_secs(2),
            follow_max_delay: Duration::from_secs(300),
            lease: Duration::from_secs(30 * 60),
        }
    }
}

/// A message whose step did not finish this time; the next attempt is scheduled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Retrying {
    pub message_id: String,
    pub attempts: u32,
    pub next_attempt: String,
    pub error: String,
}

/// What one [`Client::run_due`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct WorkSummary {
    /// Messages uploaded (SENDT).
    pub sent: Vec<String>,
    /// Messages whose transfer the broker published.
    pub published: Vec<String>,
    /// Messages that became FEIL (a permanent refusal, or a transfer the broker failed).
    pub failed: Vec<String>,
    /// Messages that passed their deadline unfinished (LEVETID_UTLOPT).
    pub expired: Vec<String>,
    /// Messages tried again later.
    pub retrying: Vec<Retrying>,
    /// Status receipts (MOTTATT, LEVERT) sent to senders.
    pub receipts_sent: usize,
    /// Receipts the broker did not take yet (sent again next time).
    pub receipt_errors: Vec<super::PollError>,
    /// Outgoing messages still owed an upload, and transfers still followed.
    pub waiting_uploads: u32,
    pub waiting_follows: u32,
}

impl WorkSummary {
    /// The messages that became FEIL, as poll errors (what [`Client::poll`] reports of the sends
    /// it worked on; messages merely waiting for their next attempt are no error).
    pub(super) fn send_errors(&self) -> Vec<super::PollError> {
        self.failed
            .iter()
            .map(|id| super::PollError {
                transfer_id: None,
                message_id: Some(id.clone()),
                code: ErrorKind::RemoteService.code(),
                message: format!("outgoing message {id} could not be sent (FEIL; its status history has the reason)"),
                retryable: false,
                abandoned: true,
            })
            .collect()
    }
}

/// At most this many messages per step and run, so one run stays bounded.
const BATCH: u32 = 100;

/// Whether trying again later may succeed.
pub(super) fn transient(e: &Error) -> bool {
    e.retryable()
        || e.kind().group() == ErrorGroup::Network
        || matches!(
            e.kind(),
            ErrorKind::RemoteUnavailable | ErrorKind::RemoteRateLimited
        )
}

/// A number in [0, 1) from the system's random source (uuid v4 draws from it).
fn random_unit() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

/// Exponential backoff with jitter: `first * 2^(n-1)`, at most `max`, then a random 50-100 % of
/// it (so many senders that failed together do not come back together), never below Retry-After.
fn backoff(first: Duration, max: Duration, attempts: u32, retry_after: Option<u64>) -> Duration {
    let exp = first
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(20))
        .min(max);
    let jittered = exp.mul_f64(0.5 + 0.5 * random_unit());
    jittered.max(Duration::from_secs(retry_after.unwrap_or(0)))
}

fn after(now: OffsetDateTime, d: Duration) -> OffsetDateTime {
    now + super::time_span(d)
}

impl Client {
    /// Do what is due: mark messages past their deadline LEVETID_UTLOPT, upload what waits for
    /// an upload (again), follow uploaded transfers to Published or Failed, and send owed receipts.
    /// Call it periodically (`efm run` does, and so does [`Client::poll`]); it returns quickly when
    /// nothing is due. Errors of single messages are recorded with them; `Err` only for local
    /// failures (the state database).
    pub fn run_due(&self) -> Result<WorkSummary> {
        let mut summary = WorkSummary::default();
        self.work_sends(&mut summary)?;
        let (sent, errors) = self.flush_outbox()?;
        summary.receipts_sent = sent;
        summary.receipt_errors = errors;
        Ok(summary)
    }

    /// Expiry, due uploads and due follows (what [`Client::poll`] adds to its own work).
    pub(super) fn work_sends(&self, summary: &mut WorkSummary) -> Result<()> {
        summary.expired = self.expire()?;
        let now = self.now();
        let lease = after(now, self.options.send_retry.lease);
        let uploads = self
            .store
            .transaction(|tx| tx.claim_due_sends(SendStep::Upload, now, lease, BATCH))?;
        for id in uploads {
            match self.attempt_upload(&id, &mut |_, _| {}) {
                Ok(m) if m.status == ReceiptStatus::Sendt => summary.sent.push(id),
                Ok(m) => {
                    if let Some(r) = retrying(&m) {
                        summary.retrying.push(r);
                    }
                }
                Err(e)
                    if matches!(e.kind().group(), ErrorGroup::Storage | ErrorGroup::Internal) =>
                {
                    return Err(e)
                }
                Err(_) => {
                    let m = self.outgoing(&id)?;
                    if m.status == ReceiptStatus::LevetidUtlopt {
                        summary.expired.push(id);
                    } else {
                        summary.failed.push(id);
                    }
                }
            }
        }
        let now = self.now();
        let lease = after(now, self.options.send_retry.lease);
        let follows = self
            .store
            .transaction(|tx| tx.claim_due_sends(SendStep::Follow, now, lease, BATCH))?;
        for id in follows {
            match self.follow(&id)? {
                Followed::Published => summary.published.push(id),
                Followed::Failed => summary.failed.push(id),
                Followed::Waiting(r) => summary.retrying.push(r),
                Followed::Done => {}
            }
        }
        (summary.waiting_uploads, summary.waiting_follows) =
            self.store.transaction(|tx| tx.send_backlog())?;
        Ok(())
    }

    /// One upload attempt for a message the caller has claimed. `Ok` with SENDT, or with
    /// OPPRETTET and the next attempt scheduled after a transient failure; `Err` when the message
    /// became FEIL (a permanent refusal, with the reason) or LEVETID_UTLOPT.
    pub(super) fn attempt_upload(
        &self,
        message_id: &str,
        progress: Progress<'_>,
    ) -> Result<MessageInfo> {
        let now = self.now();
        let m = self.outgoing(message_id)?;
        if !matches!(m.status, ReceiptStatus::Opprettet | ReceiptStatus::Feil) {
            // Another thread or process got there first (its upload outlived its lease). While
            // the message is SENDT, that uploader's follow-up stands: finishing the send here
            // stopped it, so a transfer the broker fails later went unnoticed and the package
            // stayed in spool/out for good. Once the receiver has answered, nothing is left to do.
            if m.status != ReceiptStatus::Sendt {
                self.finish_follow(&m)?;
            }
            return Ok(m);
        }
        if is_past(m.expires.as_deref(), now) {
            self.store.transaction(|tx| {
                tx.add_status(
                    Direction::Outgoing,
                    message_id,
                    ReceiptStatus::LevetidUtlopt,
                    Some(EXPIRED_DESCRIPTION),
                    now,
                    true,
                )?;
                tx.finish_send(message_id)?;
                tx.set_payload(Direction::Outgoing, message_id, None)
            })?;
            if let Some(p) = &m.payload {
                let _ = std::fs::remove_file(p);
            }
            self.drop_staged(message_id)?;
            return Err(expired_error(message_id, m.expires.as_deref()));
        }
        let state = self.store.transaction(|tx| tx.send_state(message_id))?;
        let mut m = m;
        if let (None, Some(s)) = (&m.payload, state.as_ref().filter(|s| s.staged.is_some())) {
            let staged = s.staged.as_deref().unwrap_or_default();
            if let Err(e) = self.pack_staged(message_id, staged, s.staged_dir.as_deref()) {
                return self.attempt_failed(message_id, e);
            }
            m = self.outgoing(message_id)?;
        }
        let Some(path) = m.payload.clone().filter(|p| p.is_file()) else {
            let e = Error::new(
                ErrorKind::NotFound,
                format!(
                    "the package of message {message_id} is gone (the send was interrupted before it was packed, or the file was removed); send it as a new message"
                ),
            )
            .with_field("message_id");
            self.fail_outgoing(message_id, &e)?;
            return Err(e);
        };
        let sbd = self.stored_sbd(message_id)?;
        let earlier = state.and_then(|s| s.pending_transfer);
        // A long upload renews its claim as it goes, so no other client takes the message over
        // while it is still streaming.
        let lease = self.options.send_retry.lease;
        // Relaxed: a claim matters only while this process runs; after a power cut the message
        // is free again once the claim it had durably runs out.
        let renew = || {
            let until = after(self.now(), lease);
            if let Err(e) = self
                .store
                .relaxed_transaction(|tx| tx.claim_send(message_id, until))
            {
                log::warn!("outgoing message {message_id}: renewing the claim failed: {e}");
            }
        };
        renew();
        let mut renewed = std::time::Instant::now();
        let mut renewing = |done: u64, total: u64| {
            if renewed.elapsed() > lease / 3 {
                renewed = std::time::Instant::now();
                renew();
            }
            progress(done, total);
        };
        // Durable before the first byte goes up: after a power cut in the upload, the next
        // attempt asks the broker about this transfer instead of uploading a second copy.
        let mut created = |id: &str| {
            let until = after(self.now(), lease);
            self.store.transaction(|tx| {
                tx.set_send_transfer(message_id, Some(id))?;
                tx.claim_send(message_id, until)
            })
        };
        let uploaded =
            self.upload_file_resuming(&sbd, &path, &mut renewing, earlier.as_deref(), &mut created);
        match uploaded {
            Ok(transfer_id) => self.mark_sent(message_id, &transfer_id, m.status),
            Err(e) => self.attempt_failed(message_id, e),
        }
    }

    /// After a failed attempt: the next one scheduled (transient; `Ok` with the message still
    /// OPPRETTET), or FEIL with the reason (permanent; the error returned).
    fn attempt_failed(&self, message_id: &str, e: Error) -> Result<MessageInfo> {
        match e {
            e if transient(&e) => {
                let retry = &self.options.send_retry;
                let state = self.store.transaction(|tx| tx.send_state(message_id))?;
                let attempts = state.map_or(0, |s| s.attempts) + 1;
                let wait = backoff(
                    retry.first_delay,
                    retry.max_delay,
                    attempts,
                    e.detail().retry_after_secs,
                );
                let next = after(self.now(), wait);
                self.store
                    .transaction(|tx| tx.send_attempt_failed(message_id, e.message(), next))?;
                log::warn!(
                    "outgoing message {message_id}: attempt {attempts} failed, next at {}: {e}",
                    format_time(next)
                );
                self.outgoing(message_id)
            }
            e => {
                self.fail_outgoing(message_id, &e)?;
                Err(e)
            }
        }
    }

    /// Store a message that cannot be packed now (the registry, which gives the receiver's
    /// certificate, or the token service in front of it is unreachable): its documents are
    /// copied into the spool (so the caller may change or remove its files), the message is
    /// OPPRETTET with `cause` as its first failed attempt, and a later attempt packs and sends it.
    pub(super) fn send_later(
        &self,
        new: &NewMessage<'_>,
        documents: &[SendDocument],
        cause: Error,
    ) -> Result<MessageInfo> {
        let dir = self.spool_name(new.message_id, "docs");
        let staged = self.stage_documents(&dir, documents);
        let staged = match staged {
            Ok(s) => s,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e.context(format!(
                    "the receiver cannot be looked up now ({cause}), and the documents could not be kept for a later attempt"
                )));
            }
        };
        let now = self.now();
        let retry = &self.options.send_retry;
        let next = after(
            now,
            backoff(
                retry.first_delay,
                retry.max_delay,
                1,
                cause.detail().retry_after_secs,
            ),
        );
        let stored = self.store.transaction(|tx| {
            tx.insert_message(new, ReceiptStatus::Opprettet, now)?;
            tx.set_send_step(new.message_id, SendStep::Upload, next)?;
            tx.set_send_staged(new.message_id, Some((&staged, &self.store.relative(&dir))))?;
            tx.send_attempt_failed(new.message_id, cause.message(), next)
        });
        if let Err(e) = stored {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        log::warn!(
            "outgoing message {}: not packed yet, the receiver cannot be looked up now; next attempt at {}: {cause}",
            new.message_id,
            format_time(next)
        );
        self.outgoing(new.message_id)
    }

    /// Copy the documents into `dir` (each written, synced, renamed); their list as JSON.
    fn stage_documents(&self, dir: &Path, documents: &[SendDocument]) -> Result<String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let mut staged = Vec::new();
        for (i, d) in documents.iter().enumerate() {
            let target = dir.join(i.to_string());
            let tmp = dir.join(format!("{i}.part"));
            std::fs::copy(&d.path, &tmp).map_err(|e| {
                Error::io(format!("copying document {}", d.path.display()), e)
                    .with_field("documents.path")
            })?;
            persist_file(&tmp, &target)?;
            staged.push(SendDocument {
                name: d.name.clone(),
                path: PathBuf::from(self.store.relative(&target)),
                mime: d.mime.clone(),
            });
        }
        sync_dir(dir)?;
        serde_json::to_string(&staged).map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("listing staged documents: {e}"),
            )
        })
    }

    /// Look the receiver up and pack the staged documents; the message then has its package.
    fn pack_staged(&self, message_id: &str, staged: &str, dir: Option<&str>) -> Result<()> {
        let documents = self.staged_documents(staged)?;
        let sbd = self.stored_sbd(message_id)?;
        let record = self.receiver_record(&sbd)?;
        let file = self.spool_name(message_id, "zip");
        let sources = documents.iter().cloned().map(Into::into).collect();
        self.package_to(&file, sbd, sources, &record.certificate)?;
        let relative = self.store.relative(&file);
        self.store.transaction(|tx| {
            tx.set_payload(Direction::Outgoing, message_id, Some(&relative))?;
            tx.set_send_staged(message_id, None)
        })?;
        self.remove_staged(dir);
        log::info!("outgoing message {message_id}: packed");
        Ok(())
    }

    /// Remove a finished message's staged documents, if it has any.
    pub(super) fn drop_staged(&self, message_id: &str) -> Result<()> {
        let state = self.store.transaction(|tx| tx.send_state(message_id))?;
        if let Some(s) = state.filter(|s| s.staged.is_some() || s.staged_dir.is_some()) {
            self.store
                .transaction(|tx| tx.set_send_staged(message_id, None))?;
            self.remove_staged(s.staged_dir.as_deref());
        }
        Ok(())
    }

    /// Remove the spool folder holding staged documents (relative to the data directory).
    fn remove_staged(&self, dir: Option<&str>) {
        if let Some(dir) = dir {
            let _ = std::fs::remove_dir_all(self.store.absolute(dir));
        }
    }

    /// The staged documents, with absolute paths.
    pub(super) fn staged_documents(&self, staged: &str) -> Result<Vec<SendDocument>> {
        let list: Vec<SendDocument> = serde_json::from_str(staged).map_err(|e| {
            Error::new(
                ErrorKind::Storage,
                format!("the state database holds an unreadable list of staged documents: {e}"),
            )
        })?;
        Ok(list
            .into_iter()
            .map(|mut d| {
                d.path = self.store.absolute(&d.path.to_string_lossy());
                d
            })
            .collect())
    }

    /// The upload went through: SENDT (forced only over our own FEIL, a resend: a MOTTATT that
    /// raced ahead of this commit stays current), then follow the transfer.
    fn mark_sent(
        &self,
        message_id: &str,
        transfer_id: &str,
        before: ReceiptStatus,
    ) -> Result<MessageInfo> {
        let now = self.now();
        self.store.transaction(|tx| {
            tx.set_transfer_id(Direction::Outgoing, message_id, transfer_id)?;
            tx.add_status(
                Direction::Outgoing,
                message_id,
                ReceiptStatus::Sendt,
                None,
                now,
                before == ReceiptStatus::Feil,
            )?;
            tx.set_send_step(message_id, SendStep::Follow, now)?;
            tx.set_send_transfer(message_id, None)
        })?;
        self.outgoing(message_id)
    }

    /// Record FEIL with the reason; the package stays for a resend.
    pub(super) fn fail_outgoing(&self, message_id: &str, e: &Error) -> Result<()> {
        let now = self.now();
        let reason = e.to_string();
        self.store.transaction(|tx| {
            tx.add_status(
                Direction::Outgoing,
                message_id,
                ReceiptStatus::Feil,
                Some(&reason),
                now,
                true,
            )?;
            tx.finish_send(message_id)
        })
    }

    /// Look at an uploaded transfer once.
    fn follow(&self, message_id: &str) -> Result<Followed> {
        let m = self.outgoing(message_id)?;
        let settled = !matches!(m.status, ReceiptStatus::Sendt);
        let Some(transfer_id) = m.transfer_id.clone().filter(|_| !settled) else {
            // The receiver answered already (so the broker delivered it), or the message finished.
            self.finish_follow(&m)?;
            return Ok(Followed::Done);
        };
        let (state, error) = match self.with_transport(|t| t.sent_state(&transfer_id)) {
            Ok(SentState::Published) => {
                log::info!(
                    "outgoing message {message_id}: the broker published transfer {transfer_id}"
                );
                self.finish_follow(&m)?;
                return Ok(Followed::Published);
            }
            Ok(SentState::Failed(reason)) => {
                let e = Error::new(
                    ErrorKind::RemoteService,
                    format!("the broker did not deliver transfer {transfer_id}: {reason}"),
                );
                self.fail_outgoing(message_id, &e)?;
                return Ok(Followed::Failed);
            }
            Ok(SentState::Gone) => {
                log::warn!(
                    "outgoing message {message_id}: the broker no longer knows transfer {transfer_id}; no longer followed"
                );
                self.finish_follow(&m)?;
                return Ok(Followed::Done);
            }
            Ok(other) => (other, None),
            Err(e) if transient(&e) => (SentState::Processing, Some(e)),
            Err(e) => {
                log::warn!(
                    "outgoing message {message_id}: transfer {transfer_id} cannot be followed, no longer followed: {e}"
                );
                self.finish_follow(&m)?;
                return Ok(Followed::Done);
            }
        };
        let retry = &self.options.send_retry;
        let attempts = self
            .store
            .transaction(|tx| tx.send_state(message_id))?
            .map_or(0, |s| s.attempts)
            + 1;
        let wait = backoff(
            retry.follow_first_delay,
            retry.follow_max_delay,
            attempts,
            error.as_ref().and_then(|e| e.detail().retry_after_secs),
        );
        let next = after(self.now(), wait);
        let why = match &error {
            Some(e) => e.to_string(),
            None => format!("transfer {transfer_id} is {} at the broker", state.name()),
        };
        self.store
            .transaction(|tx| tx.send_attempt_failed(message_id, &why, next))?;
        log::debug!(
            "outgoing message {message_id}: {why}; looking again at {}",
            format_time(next)
        );
        Ok(Followed::Waiting(Retrying {
            message_id: message_id.to_string(),
            attempts,
            next_attempt: format_time(next),
            error: why,
        }))
    }

    /// Stop following: the package is no longer needed. Relaxed: undone by a power cut, the
    /// message is followed once more and finished again (the broker still knows the transfer,
    /// or the receiver's answer settled it).
    fn finish_follow(&self, m: &MessageInfo) -> Result<()> {
        self.store.relaxed_transaction(|tx| {
            tx.finish_send(&m.message_id)?;
            tx.set_payload(Direction::Outgoing, &m.message_id, None)
        })?;
        if let Some(p) = &m.payload {
            let _ = std::fs::remove_file(p);
        }
        Ok(())
    }
}

enum Followed {
    Published,
    Failed,
    Waiting(Retrying),
    Done,
}

fn retrying(m: &MessageInfo) -> Option<Retrying> {
    let s = m.sending.as_ref()?;
    Some(Retrying {
        message_id: m.message_id.clone(),
        attempts: s.attempts,
        next_attempt: s.next_attempt.clone().unwrap_or_default(),
        error: s.last_error.clone().unwrap_or_default(),
    })
}

fn is_past(deadline: Option<&str>, now: OffsetDateTime) -> bool {
    deadline
        .and_then(|t| crate::sbd::parse_timestamp(t).ok())
        .is_some_and(|t| now > t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_honours_retry_after() {
        let first = Duration::from_secs(20);
        let max = Duration::from_secs(3600);
        for n in 1..=12 {
            let exp = (first * 2u32.pow(n - 1)).min(max);
            let d = backoff(first, max, n, None);
            assert!(d >= exp / 2 && d <= exp, "attempt {n}: {d:?} vs {exp:?}");
        }
        assert_eq!(backoff(first, max, 1, Some(90)), Duration::from_secs(90));
        // Jitter: 20 draws are not all the same.
        let draws: std::collections::HashSet<_> =
            (0..20).map(|_| backoff(first, max, 3, None)).collect();
        assert!(draws.len() > 1);
    }

    #[test]
    fn transient_failures_are_the_retryable_ones() {
        assert!(transient(&Error::new(ErrorKind::Timeout, "t")));
        assert!(transient(&Error::new(ErrorKind::RemoteUnavailable, "x")));
        assert!(transient(
            &Error::new(ErrorKind::RemoteService, "x").retryable_if(true)
        ));
        assert!(!transient(
            &Error::new(ErrorKind::RemoteService, "x").with_http_status(400)
        ));
        assert!(!transient(&Error::new(ErrorKind::AuthForbidden, "x")));
    }
}
