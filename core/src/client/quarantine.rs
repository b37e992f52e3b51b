//! What the application can do with quarantined items ([`QuarantineEntry`]): list them, copy
//! the package out for inspection, try again (after an efm upgrade that reads more, or a key
//! that was missing), or delete them.

use super::receive::Stored;
use super::{Client, Direction};
use crate::error::{Error, ErrorKind, Result};
use crate::sbd::ReceiptStatus;
pub use crate::store::{QuarantineEntry, QuarantineKind};
use serde::Serialize;
use std::path::Path;

/// What [`Client::quarantine_retry`] achieved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum RetryOutcome {
    /// The package now reads: the message is in the incoming queue (MOTTATT goes back).
    Received { message_id: String },
    /// The message is back in the incoming queue, to be popped again.
    Requeued { message_id: String },
    /// The status now applies to our message.
    Applied { message_id: String },
    /// It was a message or status we already had.
    Duplicate,
    /// Still refused; the entry stays, with the new reason.
    StillRefused { reason: String },
}

fn not_found(id: i64) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("nothing with id {id} is in quarantine (list it with `efm quarantine list`)"),
    )
    .with_field("id")
}

impl Client {
    /// Everything in quarantine, oldest first.
    pub fn quarantine(&self) -> Result<Vec<QuarantineEntry>> {
        self.store.transaction(|tx| tx.quarantined())
    }

    fn quarantine_entry(&self, id: i64) -> Result<QuarantineEntry> {
        self.store
            .transaction(|tx| tx.quarantine_entry(id))?
            .ok_or_else(|| not_found(id))
    }

    /// Copy a quarantined package (as downloaded) to `dest`, which must not exist yet.
    pub fn quarantine_export(&self, id: i64, dest: &Path) -> Result<u64> {
        let q = self.quarantine_entry(id)?;
        let Some(src) = q.payload.filter(|p| p.is_file()) else {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "quarantine entry {id} keeps no package (a status judged from its SBD alone)"
                ),
            ));
        };
        let mut from = std::fs::File::open(&src)
            .map_err(|e| Error::io(format!("opening {}", src.display()), e))?;
        let mut to = std::fs::File::create_new(dest)
            .map_err(|e| Error::io(format!("creating {}", dest.display()), e).with_field("dest"))?;
        std::io::copy(&mut from, &mut to)
            .map_err(|e| Error::io(format!("writing {}", dest.display()), e))
    }

    /// Delete a quarantined item and its kept package. A message that could not be opened keeps
    /// its FEIL status.
    pub fn quarantine_delete(&self, id: i64) -> Result<()> {
        let q = self.quarantine_entry(id)?;
        self.store.transaction(|tx| {
            tx.remove_quarantine(id)?;
            if let (QuarantineKind::Unopenable, Some(m)) = (q.kind, &q.message_id) {
                tx.set_payload(Direction::Incoming, m, None)?;
            }
            Ok(())
        })?;
        if let Some(p) = &q.payload {
            let _ = std::fs::remove_file(p);
        }
        log::info!("quarantine entry {id} deleted");
        Ok(())
    }

    /// Try a quarantined item again: read an unreadable package anew, put a message that could
    /// not be opened back in the queue, or judge an ignored status anew. The entry goes when it
    /// succeeds.
    pub fn quarantine_retry(&self, id: i64) -> Result<RetryOutcome> {
        let q = self.quarantine_entry(id)?;
        match q.kind {
            QuarantineKind::Unopenable => {
                let message_id = q.message_id.clone().ok_or_else(|| {
                    Error::new(ErrorKind::Internal, "an unopenable entry has no message")
                })?;
                let now = self.now();
                self.store.transaction(|tx| {
                    tx.remove_quarantine(id)?;
                    tx.add_status(
                        Direction::Incoming,
                        &message_id,
                        ReceiptStatus::InnkommendeMottatt,
                        Some("put back in the queue from quarantine"),
                        now,
                        true,
                    )?;
                    tx.enqueue(&message_id, now)
                })?;
                log::info!("incoming message {message_id}: back in the queue from quarantine");
                Ok(RetryOutcome::Requeued { message_id })
            }
            QuarantineKind::Unreadable | QuarantineKind::Ignored => {
                let (Some(transfer_id), Some(file)) = (q.transfer_id.clone(), q.payload.clone())
                else {
                    return Ok(RetryOutcome::StillRefused {
                        reason: q.reason.clone(),
                    });
                };
                // Judged anew as if just downloaded; a new entry replaces this one if it is
                // refused again.
                self.store.transaction(|tx| tx.remove_quarantine(id))?;
                let outcome = self.store_package(&transfer_id, &file)?;
                Ok(match outcome {
                    Stored::New(message_id) => RetryOutcome::Received { message_id },
                    Stored::Status => RetryOutcome::Applied {
                        message_id: q.message_id.clone().unwrap_or_default(),
                    },
                    Stored::Duplicate => RetryOutcome::Duplicate,
                    Stored::Lost => RetryOutcome::StillRefused {
                        reason: "another process is storing this transfer".to_string(),
                    },
                    Stored::Quarantined | Stored::Ignored => RetryOutcome::StillRefused {
                        reason: self
                            .quarantine()?
                            .into_iter()
                            .rev()
                            .find(|e| e.transfer_id.as_deref() == Some(&transfer_id))
                            .map(|e| e.reason)
                            .unwrap_or_default(),
                    },
                })
            }
        }
    }
}
