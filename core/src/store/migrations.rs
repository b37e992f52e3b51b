//! The state database's schema: an ordered list of migrations, the database's version kept in
//! `PRAGMA user_version`.
//!
//! Opening a data directory applies, in one transaction, every migration after the version the
//! database has, so a directory written by an older efm is brought up to date and keeps every
//! message; one written by a newer efm is refused instead of being misread. Several processes may
//! open one directory at once: the transaction is IMMEDIATE (one writer), and the version is read
//! inside it, so each migration runs once.
//!
//! To change the schema, append a migration; never edit one that has shipped. Version 0 is a
//! database from before versioning (efm up to the receive hardening): migration 1 is its schema
//! written with `IF NOT EXISTS`, so it applies to an empty and to such a database alike.

use crate::error::{Error, ErrorKind, Result};
use rusqlite::Connection;

/// One step of the schema.
pub struct Migration {
    /// What it is for (shown when it fails).
    pub name: &'static str,
    pub sql: &'static str,
}

/// The migrations in order: `MIGRATIONS[i]` brings the database to version `i + 1`.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "messages, statuses, queue, transfers, receipts",
        sql: "
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    direction TEXT NOT NULL,
    message_id TEXT NOT NULL,
    conversation_id TEXT,
    process TEXT,
    document_type TEXT NOT NULL,
    sender TEXT NOT NULL,
    receiver TEXT NOT NULL,
    status TEXT NOT NULL,
    created TEXT NOT NULL,
    last_update TEXT NOT NULL,
    expires TEXT,
    transfer_id TEXT,
    payload TEXT,
    sbd TEXT NOT NULL,
    UNIQUE (direction, message_id)
);
CREATE TABLE IF NOT EXISTS status_history (
    id INTEGER PRIMARY KEY,
    message INTEGER NOT NULL REFERENCES messages(id),
    status TEXT NOT NULL,
    time TEXT NOT NULL,
    description TEXT,
    UNIQUE (message, status)
);
CREATE TABLE IF NOT EXISTS incoming_queue (
    message INTEGER PRIMARY KEY REFERENCES messages(id),
    enqueued TEXT NOT NULL,
    locked_until TEXT
);
CREATE TABLE IF NOT EXISTS transfers (
    transfer_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    spool TEXT,
    message_id TEXT,
    seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    message INTEGER NOT NULL REFERENCES messages(id),
    status TEXT NOT NULL,
    UNIQUE (message, status)
);
",
    },
    Migration {
        name: "receive: warnings, claims on transfers and receipts, quarantine",
        sql: "
ALTER TABLE messages ADD COLUMN warnings TEXT;
ALTER TABLE transfers ADD COLUMN sender TEXT;
ALTER TABLE transfers ADD COLUMN claimed_by TEXT;
ALTER TABLE transfers ADD COLUMN claim_until TEXT;
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claim_until TEXT;
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    transfer_id TEXT,
    message_id TEXT,
    sender TEXT,
    reason TEXT NOT NULL,
    code INTEGER NOT NULL,
    payload TEXT,
    size INTEGER,
    created TEXT NOT NULL
);
CREATE INDEX quarantine_by_transfer ON quarantine (transfer_id);
",
    },
    Migration {
        name: "send queue: steps, attempts, backoff, staged documents",
        sql: super::sends::MIGRATION,
    },
];

/// The schema version this efm writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

fn db_err(what: String) -> impl FnOnce(rusqlite::Error) -> Error {
    move |e| Error::new(ErrorKind::Storage, format!("{what}: {e}"))
}

/// Bring the database to [`SCHEMA_VERSION`].
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db_err("starting the schema upgrade".into()))?;
    let found: u32 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db_err("reading the schema version".into()))?;
    if found > SCHEMA_VERSION {
        return Err(Error::new(
            ErrorKind::Storage,
            format!(
                "the data directory was written by a newer efm (schema version {found}; this efm knows up to {SCHEMA_VERSION}): use that version or a newer one"
            ),
        )
        .with_field("data_dir"));
    }
    for (i, m) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(m.sql).map_err(db_err(format!(
            "upgrading the state database to schema version {} ({})",
            i + 1,
            m.name
        )))?;
        log::info!("state database: schema version {} ({})", i + 1, m.name);
    }
    if found < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(db_err("recording the schema version".into()))?;
    }
    tx.commit()
        .map_err(db_err("committing the schema upgrade".into()))
}
