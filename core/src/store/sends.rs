//! The send queue: what each outgoing message still owes the broker, so a failed or interrupted
//! send is tried again instead of being lost or stuck.
//!
//! One row per outgoing message that entered the queue (`sends`): its step (`UPLOAD`: the package
//! waits for an upload; `FOLLOW`: uploaded, the broker's transfer is followed until it is
//! published or failed; `DONE`), how many attempts the step took, when the next is due (unix
//! milliseconds, so rows compare as numbers) and the last error. `transfer_id` is the broker
//! transfer an interrupted upload had initialized: the next attempt asks the broker how far it
//! got instead of uploading a second copy. `staged` holds the documents of a message that could
//! not be packed yet (the registry, which gives the receiver's certificate, was unreachable):
//! copies in the spool folder `staged_dir`, listed as JSON, packed by the next attempt.
//!
//! Claiming: whoever works on a row first moves its `next_attempt` past a lease in one
//! transaction, so two threads or processes on one data directory never upload the same message
//! at once, and a process killed mid-attempt leaves a row that another picks up once the lease
//! has run out.

use super::db::args;
use super::{Direction, Tx};
use crate::error::Result;
use serde::Serialize;
use time::OffsetDateTime;

/// The schema change this module needs, kept in one place so it can be renumbered as one
/// migration step. Idempotent.
pub(super) const MIGRATION: &str = "
CREATE TABLE IF NOT EXISTS sends (
    message INTEGER PRIMARY KEY REFERENCES messages(id),
    step TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    last_error TEXT,
    transfer_id TEXT,
    staged TEXT,
    staged_dir TEXT
);
CREATE INDEX IF NOT EXISTS sends_due ON sends (step, next_attempt);
-- Outgoing messages an earlier version left at OPPRETTET (a send killed before its upload):
-- owed an upload now.
INSERT OR IGNORE INTO sends (message, step, next_attempt)
    SELECT id, 'UPLOAD', 0 FROM messages WHERE direction = 'OUTGOING' AND status = 'OPPRETTET';
";

/// What an outgoing message still owes the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SendStep {
    /// The package waits to be uploaded (again).
    Upload,
    /// Uploaded; the broker's transfer is followed until it is published or fails.
    Follow,
    /// Nothing more to do.
    Done,
}

impl SendStep {
    pub fn name(self) -> &'static str {
        match self {
            SendStep::Upload => "UPLOAD",
            SendStep::Follow => "FOLLOW",
            SendStep::Done => "DONE",
        }
    }
    fn parse(s: &str) -> SendStep {
        match s {
            "UPLOAD" => SendStep::Upload,
            "FOLLOW" => SendStep::Follow,
            _ => SendStep::Done,
        }
    }
}

/// How sending an outgoing message is going (shown with the message by the API and the CLI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SendState {
    pub step: SendStep,
    /// Attempts made at the current step.
    pub attempts: u32,
    /// When the next attempt is due (RFC 3339), unless done.
    pub next_attempt: Option<String>,
    /// Why the last attempt did not finish the step.
    pub last_error: Option<String>,
    /// The broker transfer an interrupted attempt initialized (looked at before uploading again).
    #[serde(skip)]
    pub pending_transfer: Option<String>,
    /// The documents waiting to be packed (JSON list of `SendDocument`s in the spool).
    #[serde(skip)]
    pub staged: Option<String>,
    /// The spool folder holding them (relative to the data directory).
    #[serde(skip)]
    pub staged_dir: Option<String>,
}

fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_millis(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .map(super::format_time)
        .unwrap_or_default()
}

impl Tx<'_> {
    /// Put an outgoing message in the send queue at `step`, due at `due` (a fresh step: attempts
    /// and the last error start over).
    pub fn set_send_step(
        &self,
        message_id: &str,
        step: SendStep,
        due: OffsetDateTime,
    ) -> Result<()> {
        let id = self.require_row(Direction::Outgoing, message_id)?;
        self.tx.execute(
            "queueing a send",
            "INSERT INTO sends (message, step, attempts, next_attempt) VALUES (?1, ?2, 0, ?3) \
             ON CONFLICT (message) DO UPDATE SET step = ?2, attempts = 0, next_attempt = ?3, last_error = NULL",
            args![id, step.name(), millis(due)],
        )?;
        Ok(())
    }

    /// End the message's work in the send queue (keeping its attempt count and last error).
    pub fn finish_send(&self, message_id: &str) -> Result<()> {
        let id = self.require_row(Direction::Outgoing, message_id)?;
        self.tx.execute(
            "finishing a send",
            "UPDATE sends SET step = 'DONE', transfer_id = NULL WHERE message = ?1",
            args![id],
        )?;
        Ok(())
    }

    /// Record a failed attempt: one more attempt, the next one due at `next`.
    pub fn send_attempt_failed(
        &self,
        message_id: &str,
        error: &str,
        next: OffsetDateTime,
    ) -> Result<u32> {
        let id = self.require_row(Direction::Outgoing, message_id)?;
        self.tx
            .query_one(
                "recording a send attempt",
                "UPDATE sends SET attempts = attempts + 1, next_attempt = ?2, last_error = ?3 \
                 WHERE message = ?1 RETURNING attempts",
                args![id, millis(next), error],
            )?
            .get(0)
    }

    /// Remember (or forget) the broker transfer an attempt initialized.
    pub fn set_send_transfer(&self, message_id: &str, transfer_id: Option<&str>) -> Result<()> {
        let id = self.require_row(Direction::Outgoing, message_id)?;
        self.tx.execute(
            "recording a broker transfer",
            "UPDATE sends SET transfer_id = ?2 WHERE message = ?1",
            args![id, transfer_id],
        )?;
        Ok(())
    }

    /// Record (or, with `None`, clear) the staged documents of a message not packed yet: their
    /// list (JSON) and the folder holding them (relative to the data directory).
    pub fn set_send_staged(&self, message_id: &str, staged: Option<(&str, &str)>) -> Result<()> {
        let id = self.require_row(Direction::Outgoing, message_id)?;
        let (list, dir) = staged.unzip();
        self.tx.execute(
            "recording staged documents",
            "UPDATE sends SET staged = ?2, staged_dir = ?3 WHERE message = ?1",
            args![id, list, dir],
        )?;
        Ok(())
    }

    pub fn send_state(&self, message_id: &str) -> Result<Option<SendState>> {
        let Some(id) = self.row_id(Direction::Outgoing, message_id)? else {
            return Ok(None);
        };
        self.send_state_of_row(id)
    }

    pub(super) fn send_state_of_row(&self, row: i64) -> Result<Option<SendState>> {
        let Some(r) = self.tx.query_opt(
            "reading a send",
            "SELECT step, attempts, next_attempt, last_error, transfer_id, staged, staged_dir FROM sends WHERE message = ?1",
            args![row],
        )?
        else {
            return Ok(None);
        };
        let step = SendStep::parse(&r.get::<String>(0)?);
        Ok(Some(SendState {
            step,
            attempts: r.get(1)?,
            next_attempt: (step != SendStep::Done).then(|| from_millis(r.get(2).unwrap_or(0))),
            last_error: r.get(3)?,
            pending_transfer: r.get(4)?,
            staged: r.get(5)?,
            staged_dir: r.get(6)?,
        }))
    }

    /// Claim up to `limit` rows at `step` that are due at `now`: their next attempt moves to
    /// `lease_until`, so nobody else takes them meanwhile. Returns the messageIds, oldest due first.
    pub fn claim_due_sends(
        &self,
        step: SendStep,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<String>> {
        // Rows another worker is claiming right now are passed over (PostgreSQL).
        let rows = self.tx.query(
            "searching due sends",
            &format!(
                "SELECT s.message, m.message_id FROM sends s JOIN messages m ON m.id = s.message \
                 WHERE m.org = ?4 AND s.step = ?1 AND s.next_attempt <= ?2 ORDER BY s.next_attempt, s.message LIMIT ?3{}",
                self.tx.skip_locked("s")
            ),
            args![step.name(), millis(now), limit, self.org],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            self.tx.execute(
                "claiming a send",
                "UPDATE sends SET next_attempt = ?2 WHERE message = ?1",
                args![r.get::<i64>(0)?, millis(lease_until)],
            )?;
            out.push(r.get(1)?);
        }
        Ok(out)
    }

    /// Claim one message for an attempt now (an explicit resend, or the first attempt of a send),
    /// whatever its schedule: its next attempt moves to `lease_until`.
    pub fn claim_send(&self, message_id: &str, lease_until: OffsetDateTime) -> Result<()> {
        let id = self.require_row(Direction::Outgoing, message_id)?;
        self.tx.execute(
            "claiming a send",
            "UPDATE sends SET next_attempt = ?2 WHERE message = ?1",
            args![id, millis(lease_until)],
        )?;
        Ok(())
    }

    /// How many outgoing messages wait at each unfinished step: (upload, follow).
    pub fn send_backlog(&self) -> Result<(u32, u32)> {
        let r = self.tx.query_one(
            "counting sends",
            "SELECT COUNT(*) FILTER (WHERE s.step = 'UPLOAD'), COUNT(*) FILTER (WHERE s.step = 'FOLLOW') \
             FROM sends s JOIN messages m ON m.id = s.message WHERE m.org = ?1",
            args![self.org],
        )?;
        Ok((r.get(0)?, r.get(1)?))
    }
}
