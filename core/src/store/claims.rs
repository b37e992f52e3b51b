//! Claims: which store (process, or `Client` object) works on a broker transfer or an owed
//! receipt, so that any number of them can poll one data directory without doing the same work
//! twice or undoing each other's.
//!
//! A claim names its owner and holds until a deadline. It is free when it has no owner, when the
//! deadline passed (a stuck owner), or when its owner is gone (`owner.rs`: its lock can be taken,
//! so a crashed claimer's work is taken over at once). Storing a transfer's content commits only
//! while the claim is still held ([`Tx::holds_transfer`]); a claimer that lost its claim throws
//! away its own download and nothing else.

use super::db::args;
use super::{format_time, parse_status, OutboxItem, TransferState, Tx};
use crate::error::Result;
use time::OffsetDateTime;

/// The outcome of [`Tx::claim_transfer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferClaim {
    /// Ours now; the transfer's state so far (`None`: never seen before).
    Claimed(Option<TransferState>),
    /// Another store is working on it.
    Busy,
}

fn free(
    claimed_by: Option<&str>,
    claim_until: Option<&str>,
    me: &str,
    now: &str,
    alive: &dyn Fn(&str) -> bool,
) -> bool {
    match claimed_by {
        None => true,
        Some(o) if o == me => true,
        Some(o) => claim_until.is_none_or(|u| u <= now) || !alive(o),
    }
}

impl Tx<'_> {
    /// Claim a broker transfer for `owner` until `until` (creating its row as DOWNLOADING when it
    /// is new), unless a live store holds it.
    pub fn claim_transfer(
        &self,
        transfer_id: &str,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        alive: &dyn Fn(&str) -> bool,
    ) -> Result<TransferClaim> {
        let now_s = format_time(now);
        // New: ours at once. Two workers seeing it together: the database lets one insert
        // (PostgreSQL makes the other wait for that commit, then reports the conflict).
        let inserted = self.tx.execute(
            "claiming a transfer",
            "INSERT INTO transfers (transfer_id, state, seen, claimed_by, claim_until, org) VALUES (?1, 'DOWNLOADING', ?2, ?3, ?4, ?5) \
             ON CONFLICT (org, transfer_id) DO NOTHING",
            args![transfer_id, &now_s, owner, format_time(until), self.org],
        )?;
        if inserted == 1 {
            return Ok(TransferClaim::Claimed(None));
        }
        // Known: the row stays locked (PostgreSQL) until this transaction ends, so the claim is
        // decided by one worker at a time; one that finds it locked passes it over.
        let Some(row) = self.tx.query_opt(
            "reading a transfer",
            &format!(
                "SELECT state, claimed_by, claim_until FROM transfers t WHERE org = ?2 AND transfer_id = ?1{}",
                self.tx.skip_locked("t")
            ),
            args![transfer_id, self.org],
        )?
        else {
            return Ok(TransferClaim::Busy);
        };
        let (state, by, claim_until): (String, Option<String>, Option<String>) =
            (row.get(0)?, row.get(1)?, row.get(2)?);
        if !free(by.as_deref(), claim_until.as_deref(), owner, &now_s, alive) {
            return Ok(TransferClaim::Busy);
        }
        let state = TransferState::parse(&state)?;
        self.tx.execute(
            "claiming a transfer",
            "UPDATE transfers SET claimed_by = ?2, claim_until = ?3 WHERE org = ?4 AND transfer_id = ?1",
            args![transfer_id, owner, format_time(until), self.org],
        )?;
        Ok(TransferClaim::Claimed(Some(state)))
    }

    /// Whether `owner` still holds the claim on a transfer (a confirmed one needs none).
    pub fn holds_transfer(&self, transfer_id: &str, owner: &str) -> Result<bool> {
        // Locked until this transaction (which stores the transfer's content) ends: nobody
        // takes the claim over between this check and the commit.
        let row = self.tx.query_opt(
            "reading a transfer",
            &format!(
                "SELECT state, claimed_by FROM transfers WHERE org = ?2 AND transfer_id = ?1{}",
                self.tx.for_update()
            ),
            args![transfer_id, self.org],
        )?;
        Ok(match row {
            Some(r) => {
                let (state, by): (String, Option<String>) = (r.get(0)?, r.get(1)?);
                state == "CONFIRMED" || by.as_deref() == Some(owner)
            }
            None => false,
        })
    }

    /// Give up `owner`'s claim on a transfer (after a failure, so that others may try at once).
    pub fn release_transfer(&self, transfer_id: &str, owner: &str) -> Result<()> {
        self.tx.execute(
            "releasing a transfer",
            "UPDATE transfers SET claimed_by = NULL, claim_until = NULL WHERE org = ?3 AND transfer_id = ?1 AND claimed_by = ?2",
            args![transfer_id, owner, self.org],
        )?;
        Ok(())
    }

    /// Claim every owed receipt no live store holds, oldest first.
    pub fn claim_outbox(
        &self,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        alive: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<OutboxItem>> {
        let now_s = format_time(now);
        // Receipts another worker is claiming right now are passed over (PostgreSQL).
        let rows = self.tx.query(
            "listing receipts",
            &format!(
                "SELECT o.id, m.message_id, o.status, o.claimed_by, o.claim_until FROM outbox o \
                 JOIN messages m ON m.id = o.message WHERE m.org = ?1 ORDER BY o.id{}",
                self.tx.skip_locked("o")
            ),
            args![self.org],
        )?;
        let mut out = Vec::new();
        for r in rows {
            let (by, claim_until): (Option<String>, Option<String>) = (r.get(3)?, r.get(4)?);
            if !free(by.as_deref(), claim_until.as_deref(), owner, &now_s, alive) {
                continue;
            }
            let id: i64 = r.get(0)?;
            self.tx.execute(
                "claiming a receipt",
                "UPDATE outbox SET claimed_by = ?2, claim_until = ?3 WHERE id = ?1",
                args![id, owner, format_time(until)],
            )?;
            out.push(OutboxItem {
                id,
                message_id: r.get(1)?,
                status: parse_status(&r.get::<String>(2)?)?,
            });
        }
        Ok(out)
    }

    /// Give up `owner`'s claim on an owed receipt (it stays owed).
    pub fn release_outbox(&self, id: i64, owner: &str) -> Result<()> {
        self.tx.execute(
            "releasing a receipt",
            "UPDATE outbox SET claimed_by = NULL, claim_until = NULL WHERE id = ?1 AND claimed_by = ?2",
            args![id, owner],
        )?;
        Ok(())
    }
}
