//! Claims: which store (process, or `Client` object) works on a broker transfer or an owed
//! receipt, so that any number of them can poll one data directory without doing the same work
//! twice or undoing each other's.
//!
//! A claim names its owner and holds until a deadline. It is free when it has no owner, when the
//! deadline passed (a stuck owner), or when its owner is gone (`owner.rs`: its lock can be taken,
//! so a crashed claimer's work is taken over at once). Storing a transfer's content commits only
//! while the claim is still held ([`Tx::holds_transfer`]); a claimer that lost its claim throws
//! away its own download and nothing else.

use super::{db_err, format_time, parse_status, OutboxItem, TransferState, Tx};
use crate::error::Result;
use rusqlite::{params, OptionalExtension};
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
        let row: Option<(String, Option<String>, Option<String>)> = self
            .row(
                "SELECT state, claimed_by, claim_until FROM transfers WHERE transfer_id = ?1",
                [transfer_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(db_err("reading a transfer"))?;
        let state = match &row {
            None => {
                self.exec(
                        "INSERT INTO transfers (transfer_id, state, seen, claimed_by, claim_until) VALUES (?1, 'DOWNLOADING', ?2, ?3, ?4)",
                        params![transfer_id, now_s, owner, format_time(until)],
                    )
                    .map_err(db_err("claiming a transfer"))?;
                return Ok(TransferClaim::Claimed(None));
            }
            Some((state, by, claim_until)) => {
                if !free(by.as_deref(), claim_until.as_deref(), owner, &now_s, alive) {
                    return Ok(TransferClaim::Busy);
                }
                TransferState::parse(state)?
            }
        };
        self.exec(
            "UPDATE transfers SET claimed_by = ?2, claim_until = ?3 WHERE transfer_id = ?1",
            params![transfer_id, owner, format_time(until)],
        )
        .map_err(db_err("claiming a transfer"))?;
        Ok(TransferClaim::Claimed(Some(state)))
    }

    /// Whether `owner` still holds the claim on a transfer (a confirmed one needs none).
    pub fn holds_transfer(&self, transfer_id: &str, owner: &str) -> Result<bool> {
        let row: Option<(String, Option<String>)> = self
            .row(
                "SELECT state, claimed_by FROM transfers WHERE transfer_id = ?1",
                [transfer_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db_err("reading a transfer"))?;
        Ok(match row {
            Some((state, by)) => state == "CONFIRMED" || by.as_deref() == Some(owner),
            None => false,
        })
    }

    /// Give up `owner`'s claim on a transfer (after a failure, so that others may try at once).
    pub fn release_transfer(&self, transfer_id: &str, owner: &str) -> Result<()> {
        self.exec(
                "UPDATE transfers SET claimed_by = NULL, claim_until = NULL WHERE transfer_id = ?1 AND claimed_by = ?2",
                params![transfer_id, owner],
            )
            .map_err(db_err("releasing a transfer"))?;
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
        type Row = (i64, String, String, Option<String>, Option<String>);
        let rows: Vec<Row> = {
            let mut stmt = self.tx.prepare_cached(
                    "SELECT o.id, m.message_id, o.status, o.claimed_by, o.claim_until FROM outbox o \
                     JOIN messages m ON m.id = o.message ORDER BY o.id",
                )
                .map_err(db_err("listing receipts"))?;
            let mapped = stmt
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .map_err(db_err("listing receipts"))?;
            mapped
                .collect::<rusqlite::Result<_>>()
                .map_err(db_err("listing receipts"))?
        };
        let mut out = Vec::new();
        for (id, message_id, status, by, claim_until) in rows {
            if !free(by.as_deref(), claim_until.as_deref(), owner, &now_s, alive) {
                continue;
            }
            self.exec(
                "UPDATE outbox SET claimed_by = ?2, claim_until = ?3 WHERE id = ?1",
                params![id, owner, format_time(until)],
            )
            .map_err(db_err("claiming a receipt"))?;
            out.push(OutboxItem {
                id,
                message_id,
                status: parse_status(&status)?,
            });
        }
        Ok(out)
    }

    /// Give up `owner`'s claim on an owed receipt (it stays owed).
    pub fn release_outbox(&self, id: i64, owner: &str) -> Result<()> {
        self.exec(
                "UPDATE outbox SET claimed_by = NULL, claim_until = NULL WHERE id = ?1 AND claimed_by = ?2",
                params![id, owner],
            )
            .map_err(db_err("releasing a receipt"))?;
        Ok(())
    }
}
