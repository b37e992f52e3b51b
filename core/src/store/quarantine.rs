//! The quarantine: what was downloaded but could not be used, kept with its bytes and the reason
//! until the application decides (retry, export, delete). Nothing the broker handed over is
//! dropped without a trace.

use super::db::{args, Row};
use super::{format_time, Tx};
use crate::error::Result;
use serde::Serialize;
use std::path::PathBuf;
use time::OffsetDateTime;

/// Why something is in quarantine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QuarantineKind {
    /// A downloaded package whose SBD could not be read (not a zip, no `sbd.json`, an SBD the
    /// integration point would refuse): no message was stored, no receipt went back.
    Unreadable,
    /// A stored message that could not be opened (decryption, signature, digests): the message
    /// has status FEIL and left the queue.
    Unopenable,
    /// A status or receipt that was not applied: not from the organisation the message went to
    /// (as the broker authenticated the sender), or about a message we did not send.
    Ignored,
}

impl QuarantineKind {
    pub fn name(self) -> &'static str {
        match self {
            QuarantineKind::Unreadable => "UNREADABLE",
            QuarantineKind::Unopenable => "UNOPENABLE",
            QuarantineKind::Ignored => "IGNORED",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "UNOPENABLE" => QuarantineKind::Unopenable,
            "IGNORED" => QuarantineKind::Ignored,
            _ => QuarantineKind::Unreadable,
        }
    }
}

/// One quarantined item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct QuarantineEntry {
    pub id: i64,
    pub kind: QuarantineKind,
    /// The broker transfer that brought it.
    pub transfer_id: Option<String>,
    /// The messageId, when the SBD could be read that far.
    pub message_id: Option<String>,
    /// Who sent it, as the broker authenticated the sender (`0192:<orgnr>`).
    pub sender: Option<String>,
    pub reason: String,
    /// The stable error code of the reason (`ErrorKind`).
    pub code: u32,
    /// The package as downloaded; `None` once deleted.
    pub payload: Option<PathBuf>,
    pub size: Option<u64>,
    pub created: String,
}

/// A new quarantine entry.
#[derive(Debug, Clone)]
pub struct NewQuarantine<'a> {
    pub kind: QuarantineKind,
    pub transfer_id: Option<&'a str>,
    pub message_id: Option<&'a str>,
    pub sender: Option<&'a str>,
    pub reason: &'a str,
    pub code: u32,
    /// Relative to the data directory.
    pub payload: Option<&'a str>,
    pub size: Option<u64>,
}

const COLUMNS: &str =
    "id, kind, transfer_id, message_id, sender, reason, code, payload, size, created";

impl Tx<'_> {
    fn row_to_quarantine(&self, r: &Row) -> Result<QuarantineEntry> {
        let kind: String = r.get(1)?;
        let payload: Option<String> = r.get(7)?;
        let size: Option<i64> = r.get(8)?;
        Ok(QuarantineEntry {
            id: r.get(0)?,
            kind: QuarantineKind::parse(&kind),
            transfer_id: r.get(2)?,
            message_id: r.get(3)?,
            sender: r.get(4)?,
            reason: r.get(5)?,
            code: r.get(6)?,
            payload: payload.map(|p| self.data_dir.join(p)),
            size: size.map(|s| s as u64),
            created: r.get(9)?,
        })
    }

    /// Record a quarantined item; returns its id.
    pub fn add_quarantine(&self, q: &NewQuarantine<'_>, now: OffsetDateTime) -> Result<i64> {
        let id: i64 = self
            .tx
            .query_one(
                "quarantining",
                "INSERT INTO quarantine (kind, transfer_id, message_id, sender, reason, code, payload, size, created, org) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
                args![
                    q.kind.name(),
                    q.transfer_id,
                    q.message_id,
                    q.sender,
                    q.reason,
                    q.code,
                    q.payload,
                    q.size.map(|s| s as i64),
                    format_time(now),
                    self.org
                ],
            )?
            .get(0)?;
        log::warn!(
            "quarantined ({}) as #{id}{}{}: {}",
            q.kind.name(),
            q.transfer_id
                .map(|t| format!(", transfer {t}"))
                .unwrap_or_default(),
            q.message_id
                .map(|m| format!(", message {m}"))
                .unwrap_or_default(),
            q.reason
        );
        Ok(id)
    }

    /// Everything in quarantine, oldest first.
    pub fn quarantined(&self) -> Result<Vec<QuarantineEntry>> {
        let rows = self.tx.query(
            "listing the quarantine",
            &format!("SELECT {COLUMNS} FROM quarantine WHERE org = ?1 ORDER BY id"),
            args![self.org],
        )?;
        rows.iter().map(|r| self.row_to_quarantine(r)).collect()
    }

    pub fn quarantine_entry(&self, id: i64) -> Result<Option<QuarantineEntry>> {
        self.tx
            .query_opt(
                "reading the quarantine",
                &format!("SELECT {COLUMNS} FROM quarantine WHERE id = ?1 AND org = ?2"),
                args![id, self.org],
            )?
            .map(|r| self.row_to_quarantine(&r))
            .transpose()
    }

    pub fn remove_quarantine(&self, id: i64) -> Result<bool> {
        let n = self.tx.execute(
            "removing from the quarantine",
            "DELETE FROM quarantine WHERE id = ?1 AND org = ?2",
            args![id, self.org],
        )?;
        Ok(n > 0)
    }
}
