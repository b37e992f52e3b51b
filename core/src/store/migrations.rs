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
        name: "send queue: attempts, next attempt, followed transfers, staged documents",
        sql: super::sends::MIGRATION,
    },
    Migration {
        name: "several organisations in one store: an organisation on messages, transfers, quarantine",
        // SQLite cannot change a table's UNIQUE or PRIMARY KEY constraint: the two tables are
        // rebuilt (the documented 12-step procedure; foreign keys are off while migrating, see
        // `Store::open_sqlite`), keeping every row and its id, so the rows that point to them
        // (statuses, queue, receipts, sends) stay valid. Existing rows get '' here and the
        // organisation of the store that upgrades them ([`adopt_rows`]).
        sql: "
CREATE TABLE messages_v4 (
    id INTEGER PRIMARY KEY,
    org TEXT NOT NULL,
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
    warnings TEXT,
    UNIQUE (org, direction, message_id)
);
INSERT INTO messages_v4 (id, org, direction, message_id, conversation_id, process, document_type,
        sender, receiver, status, created, last_update, expires, transfer_id, payload, sbd, warnings)
    SELECT id, '', direction, message_id, conversation_id, process, document_type,
        sender, receiver, status, created, last_update, expires, transfer_id, payload, sbd, warnings
    FROM messages;
DROP TABLE messages;
ALTER TABLE messages_v4 RENAME TO messages;
CREATE TABLE transfers_v4 (
    org TEXT NOT NULL,
    transfer_id TEXT NOT NULL,
    state TEXT NOT NULL,
    spool TEXT,
    message_id TEXT,
    seen TEXT NOT NULL,
    sender TEXT,
    claimed_by TEXT,
    claim_until TEXT,
    PRIMARY KEY (org, transfer_id)
);
INSERT INTO transfers_v4 (org, transfer_id, state, spool, message_id, seen, sender, claimed_by, claim_until)
    SELECT '', transfer_id, state, spool, message_id, seen, sender, claimed_by, claim_until FROM transfers;
DROP TABLE transfers;
ALTER TABLE transfers_v4 RENAME TO transfers;
ALTER TABLE quarantine ADD COLUMN org TEXT NOT NULL DEFAULT '';
DROP INDEX quarantine_by_transfer;
CREATE INDEX quarantine_by_transfer ON quarantine (org, transfer_id);
",
    },
];

/// The first schema version whose rows name their organisation: a database upgraded past it
/// gives its existing rows the organisation of the store that upgrades it ([`adopt_rows`]).
pub const ORGANISATION_VERSION: u32 = 4;

/// The statements that give rows from before [`ORGANISATION_VERSION`] (organisation '') the
/// organisation `?1`; the same SQL for both engines.
pub const ADOPT_ROWS: &[&str] = &[
    "UPDATE messages SET org = ?1 WHERE org = ''",
    "UPDATE transfers SET org = ?1 WHERE org = ''",
    "UPDATE quarantine SET org = ?1 WHERE org = ''",
];

/// The schema version this efm writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

fn db_err(what: String) -> impl FnOnce(rusqlite::Error) -> Error {
    move |e| Error::new(ErrorKind::Storage, format!("{what}: {e}"))
}

/// Bring the database to [`SCHEMA_VERSION`]; rows from before organisations were recorded become
/// `org`'s (the organisation of the configuration that opens the store first after the upgrade).
/// Call with foreign keys off: a rebuilt table is dropped while other tables point to it.
pub fn migrate(conn: &mut Connection, org: &str) -> Result<()> {
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
    if found < ORGANISATION_VERSION {
        for sql in ADOPT_ROWS {
            tx.execute(sql, [org])
                .map_err(db_err("giving the existing rows their organisation".into()))?;
        }
        if found > 0 {
            log::info!("state database: the existing messages are organisation {org}'s");
        }
    }
    let broken: Option<String> = tx
        .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .map_err(db_err("checking the upgraded schema".into()))?;
    if let Some(table) = broken {
        return Err(Error::new(
            ErrorKind::Storage,
            format!("the state database's table {table} points to rows that are missing; the upgrade was not committed"),
        ));
    }
    if found < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(db_err("recording the schema version".into()))?;
    }
    tx.commit()
        .map_err(db_err("committing the schema upgrade".into()))
}
