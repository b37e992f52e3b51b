//! The in-queue: NextMove's semantics (oldest first, locks that time out), pop decrypting,
//! verifying and extracting, delete recording INNKOMMENDE_LEVERT and owing LEVERT.

use super::super::{Client, Direction, MessageInfo};
use super::{IncomingMessage, OpenedFile, OpenedMessage};
use crate::error::{Error, ErrorGroup, ErrorKind, Result};
use crate::package::{self, OpenOptions};
use crate::sbd::ReceiptStatus;
use crate::store::{format_time, NewQuarantine, QuarantineKind};
use std::path::Path;

impl Client {
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
        // The SBD was judged when the message was stored (`Sbd::check_received`).
        let package_len = std::fs::metadata(&path).map_or(0, |m| m.len());
        let mut opts = OpenOptions {
            validation: None,
            ..OpenOptions::for_package_size(package_len)
        };
        // Decrypted files wait inside the data directory until verified, so partial plaintext
        // never lands in `target_dir`; a pop repeated after a crash finds its files there.
        opts.asic.staging = Some(self.store.staging_dir());
        match package::open(&path, &self.identity, target_dir, &opts) {
            Ok(opened) => {
                self.store.transaction(|tx| {
                    tx.add_warnings(Direction::Incoming, message_id, &opened.warnings)
                })?;
                let mut warnings = m.warnings.clone();
                for w in &opened.warnings {
                    if !warnings.contains(w) {
                        warnings.push(w.clone());
                    }
                }
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
                    warnings,
                })
            }
            Err(e) if matches!(e.kind().group(), ErrorGroup::Crypto | ErrorGroup::Package) => {
                let now = self.now();
                let reason = format!("the package could not be opened: {e}");
                let relative = self.store.relative(&path);
                let size = std::fs::metadata(&path).map(|m| m.len()).ok();
                self.store.transaction(|tx| {
                    tx.dequeue(message_id)?;
                    tx.add_status(
                        Direction::Incoming,
                        message_id,
                        ReceiptStatus::Feil,
                        Some(&reason),
                        now,
                        false,
                    )?;
                    let sender = match &m.transfer_id {
                        Some(t) => tx.transfer(t)?.and_then(|t| t.sender),
                        None => None,
                    };
                    tx.add_quarantine(
                        &NewQuarantine {
                            kind: QuarantineKind::Unopenable,
                            transfer_id: m.transfer_id.as_deref(),
                            message_id: Some(message_id),
                            sender: sender.as_deref(),
                            reason: &reason,
                            code: e.code(),
                            payload: Some(&relative),
                            size,
                        },
                        now,
                    )
                })?;
                Err(e.context(format!(
                    "message {message_id} could not be opened (status FEIL; the package is kept in quarantine, see `efm quarantine`)"
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
            // Only non-status messages are queued, and each gets LEVERT (IP
            // `NextMoveMessageInService.deleteMessage`).
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
