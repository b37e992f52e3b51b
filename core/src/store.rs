//! Durable state: one SQLite database (`efm.sqlite`, WAL) in the data directory plus payload spool
//! files under `spool/`.
//!
//! Tables: `messages` (one row per messageId and direction, with the SBD, current status and the
//! spool file holding the package), `status_history` (each status once per message, idempotent
//! per value, IP `DefaultConversationService`), `incoming_queue` (what `peek` hands out, with its
//! lock), `transfers` (broker transfers we have started to download, so a crash between download
//! and confirm is finished on the next poll and a transfer delivered twice is stored once) and
//! `outbox` (status receipts owed to senders, sent until the broker takes them), and
//! `quarantine` (what was downloaded but could not be used, `store/quarantine.rs`). Transfers and
//! receipts carry claims (`store/claims.rs`) so several processes can share a data directory;
//! every file a store writes names its owner (`store/owner.rs`), and what dead owners left is
//! collected on open (`store/leftovers.rs`). The schema is
//! versioned (`PRAGMA user_version`, `store/migrations.rs`): opening a data directory upgrades it.
//!
//! Crash safety: every state change is one transaction ([`Store::transaction`]). Files are written
//! under a temporary name, fsynced and renamed ([`persist_file`]) before the row that points to
//! them commits; a file without a row is an orphan that costs disk space, never a lost or doubled
//! message.

mod claims;
mod leftovers;
mod migrations;
mod owner;
mod quarantine;
mod sends;

pub use claims::TransferClaim;
pub use migrations::SCHEMA_VERSION;
pub use quarantine::{NewQuarantine, QuarantineEntry, QuarantineKind};
pub use sends::{SendState, SendStep};

use crate::error::{Error, ErrorKind, Result};
use crate::sbd::ReceiptStatus;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Which way a message went. Read in either case (`"outgoing"`, `"OUTGOING"`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Direction {
    #[serde(alias = "outgoing")]
    Outgoing,
    #[serde(alias = "incoming")]
    Incoming,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::Outgoing => "OUTGOING",
            Direction::Incoming => "INCOMING",
        }
    }
}

/// One message as the store has it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct MessageInfo {
    pub direction: Direction,
    pub message_id: String,
    pub conversation_id: Option<String>,
    pub process: Option<String>,
    /// The SBD's document type (`arkivmelding`, `status`, ...).
    pub document_type: String,
    /// `0192:<orgnr>` as in the SBD.
    pub sender: String,
    pub receiver: String,
    /// The current status (efm's rule: the highest reached, terminal ones overriding; the IP keeps
    /// only the set of statuses and a `finished` flag).
    pub status: ReceiptStatus,
    pub created: String,
    pub last_update: String,
    /// expectedResponseDateTime, when the SBD has one.
    pub expires: Option<String>,
    /// The broker's id of the transfer that carried it.
    pub transfer_id: Option<String>,
    /// The package file still kept (outgoing: until the broker published it, or for a resend
    /// after FEIL; incoming: until deleted, or kept for inspection when it could not be opened).
    pub payload: Option<PathBuf>,
    /// Outgoing: how sending goes (step, attempts, next attempt, last error); see
    /// `client::Client::run_due`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sending: Option<SendState>,
    /// What was unusual about the message but did not stop it (the integration point accepts
    /// it): an SBD that efm would not send, a document saved under another name, ...
    pub warnings: Vec<String>,
}

/// One entry of a message's status history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct StatusEntry {
    pub status: ReceiptStatus,
    pub time: String,
    pub description: Option<String>,
}

/// What to select in [`Tx::messages`]; empty fields match everything.
/// Read strictly: an unknown member or status is an error, not a filter that matches everything.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MessageFilter {
    pub direction: Option<Direction>,
    pub conversation_id: Option<String>,
    pub message_id: Option<String>,
    #[serde(deserialize_with = "crate::sbd::strict_status")]
    pub status: Option<ReceiptStatus>,
    /// At most this many, newest first (0 or none: all).
    pub limit: Option<u32>,
}

/// A new message row.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub direction: Direction,
    pub message_id: &'a str,
    pub conversation_id: Option<&'a str>,
    pub process: Option<&'a str>,
    pub document_type: &'a str,
    pub sender: &'a str,
    pub receiver: &'a str,
    pub expires: Option<&'a str>,
    pub transfer_id: Option<&'a str>,
    /// Relative to the data directory.
    pub payload: Option<&'a str>,
    pub sbd_json: &'a str,
    /// See [`MessageInfo::warnings`].
    pub warnings: &'a [String],
}

/// How far the download of one broker transfer got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferState {
    /// We asked the broker for it; the spool file may be partial or absent.
    Downloading,
    /// Its content is stored (or deliberately discarded); the broker still needs the confirm.
    Stored,
    /// Confirmed at the broker: done.
    Confirmed,
}

impl TransferState {
    fn name(self) -> &'static str {
        match self {
            TransferState::Downloading => "DOWNLOADING",
            TransferState::Stored => "STORED",
            TransferState::Confirmed => "CONFIRMED",
        }
    }
    fn parse(s: &str) -> Result<Self> {
        match s {
            "DOWNLOADING" => Ok(TransferState::Downloading),
            "STORED" => Ok(TransferState::Stored),
            "CONFIRMED" => Ok(TransferState::Confirmed),
            _ => Err(corrupt(format!("unknown transfer state {s:?}"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRecord {
    pub transfer_id: String,
    pub state: TransferState,
    pub spool: Option<String>,
    pub message_id: Option<String>,
    /// Who sent it, as the broker authenticated the sender (`0192:<orgnr>`), when known.
    pub sender: Option<String>,
}

/// A status receipt owed to a sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: i64,
    pub message_id: String,
    pub status: ReceiptStatus,
}

/// Warnings as the `warnings` column holds them: a JSON array, or NULL for none.
fn warnings_json(w: &[String]) -> Option<String> {
    (!w.is_empty()).then(|| serde_json::to_string(w).unwrap_or_default())
}

fn corrupt(msg: impl Into<String>) -> Error {
    Error::new(
        ErrorKind::Storage,
        format!(
            "the state database holds something unexpected: {}",
            msg.into()
        ),
    )
}

fn db_err(what: &str) -> impl FnOnce(rusqlite::Error) -> Error + '_ {
    move |e| Error::new(ErrorKind::Storage, format!("{what}: {e}"))
}

pub fn format_time(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

fn parse_status(s: &str) -> Result<ReceiptStatus> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| corrupt(format!("unknown status {s:?}")))
}

/// Order of the statuses for "current status" (ours; the IP has none); terminal ones override.
fn rank(s: ReceiptStatus) -> u8 {
    match s {
        ReceiptStatus::Opprettet | ReceiptStatus::Annet => 0,
        ReceiptStatus::Sendt | ReceiptStatus::InnkommendeMottatt => 1,
        ReceiptStatus::Mottatt => 2,
        ReceiptStatus::Levert | ReceiptStatus::InnkommendeLevert => 3,
        ReceiptStatus::Lest => 4,
        ReceiptStatus::Feil | ReceiptStatus::LevetidUtlopt => 9,
    }
}

/// Statuses after which a message changes no more (IP `DefaultConversationService.COMPLETABLES`).
pub fn is_terminal(s: ReceiptStatus) -> bool {
    matches!(
        s,
        ReceiptStatus::Lest
            | ReceiptStatus::Feil
            | ReceiptStatus::LevetidUtlopt
            | ReceiptStatus::InnkommendeLevert
    )
}

/// Write-then-rename done durably: fsync `tmp`, rename it to `target`, fsync the directory.
pub fn persist_file(tmp: &Path, target: &Path) -> Result<()> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(tmp)
        .map_err(|e| Error::io(format!("opening {}", tmp.display()), e))?;
    f.sync_all()
        .map_err(|e| Error::io(format!("syncing {}", tmp.display()), e))?;
    drop(f);
    std::fs::rename(tmp, target).map_err(|e| {
        Error::io(
            format!("renaming {} to {}", tmp.display(), target.display()),
            e,
        )
    })?;
    sync_dir(target.parent().unwrap_or(Path::new(".")))
}

/// fsync a directory so a rename in it survives a power cut (a no-op where unsupported).
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let d = std::fs::File::open(dir)
            .map_err(|e| Error::io(format!("opening {}", dir.display()), e))?;
        d.sync_all()
            .map_err(|e| Error::io(format!("syncing {}", dir.display()), e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The state database and spool folders of one data directory.
pub struct Store {
    conn: Mutex<Connection>,
    data_dir: PathBuf,
    /// This store's identity for the files it writes and the claims it takes (`owner.rs`).
    owner: owner::Owner,
}

impl Drop for Store {
    fn drop(&mut self) {
        // Empty by now unless a pop is interrupted; then the next open collects it.
        let _ = std::fs::remove_dir(self.staging_dir());
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("data_dir", &self.data_dir)
            .finish()
    }
}

pub const DATABASE_FILE: &str = "efm.sqlite";
/// Where extracted files wait, inside the data directory, until they are verified and moved.
pub const STAGING_DIR: &str = "staging";

impl Store {
    /// Open (creating on first use) the database and spool folders in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Store> {
        for sub in ["", "spool/out", "spool/in"] {
            let d = data_dir.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| {
                Error::io(format!("creating the data directory {}", d.display()), e)
                    .with_field("data_dir")
            })?;
        }
        let path = data_dir.join(DATABASE_FILE);
        let mut conn = Connection::open(&path).map_err(|e| {
            Error::new(
                ErrorKind::Storage,
                format!("opening the state database {}: {e}", path.display()),
            )
            .with_field("data_dir")
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(db_err("setting the busy timeout"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err("switching the state database to WAL"))?;
        // FULL: a committed transaction survives a power cut, not only a process crash.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err("setting synchronous=FULL"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db_err("enabling foreign keys"))?;
        migrations::migrate(&mut conn)?;
        // Room for every statement the store runs (see `Tx::exec`).
        conn.set_prepared_statement_cache_capacity(128);
        let store = Store {
            conn: Mutex::new(conn),
            data_dir: data_dir.to_path_buf(),
            owner: owner::Owner::acquire(data_dir)?,
        };
        store.collect_leftovers()?;
        Ok(store)
    }

    /// This store's owner id (in the names of the files it writes and in its claims).
    pub fn owner_id(&self) -> &str {
        self.owner.id()
    }

    /// Whether the store that wrote `owner` still runs (this one included).
    pub fn owner_alive(&self, owner: &str) -> bool {
        owner == self.owner.id() || owner::is_alive(&self.data_dir, owner)
    }

    /// A temporary file name in `dir` only this store uses: `<base>.<owner>.<random>.<ext>`.
    pub fn temp_path(&self, dir: &Path, base: &str, ext: &str) -> PathBuf {
        let random = uuid::Uuid::new_v4().simple().to_string();
        dir.join(format!(
            "{base}.{}.{}.{ext}",
            self.owner.id(),
            &random[..12]
        ))
    }

    /// A lasting file name in `dir` for this store's writing: `<base>.<owner>.<ext>`. Two
    /// processes storing the same thing never write, or delete, each other's file.
    pub fn owned_path(&self, dir: &Path, base: &str, ext: &str) -> PathBuf {
        dir.join(format!("{base}.{}.{ext}", self.owner.id()))
    }

    /// A directory for staging extracted files, inside the data directory and this store's own.
    pub fn staging_dir(&self) -> PathBuf {
        self.data_dir.join(STAGING_DIR).join(self.owner.id())
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The folder for outgoing (`out`) or incoming (`in`) package files.
    pub fn spool_dir(&self, direction: Direction) -> PathBuf {
        self.data_dir.join(match direction {
            Direction::Outgoing => "spool/out",
            Direction::Incoming => "spool/in",
        })
    }

    /// A path relative to the data directory, as rows store them.
    pub fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.data_dir)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    }

    pub fn absolute(&self, stored: &str) -> PathBuf {
        self.data_dir.join(stored)
    }

    /// Run `f` in one transaction: all of its changes commit together, or none (on error).
    pub fn transaction<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| Error::new(ErrorKind::Internal, "the state database lock is poisoned"))?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db_err("starting a transaction"))?;
        let wrapped = Tx {
            tx,
            data_dir: &self.data_dir,
        };
        let value = f(&wrapped)?;
        wrapped
            .tx
            .commit()
            .map_err(db_err("committing a transaction"))?;
        Ok(value)
    }
}

/// One open transaction.
pub struct Tx<'a> {
    tx: rusqlite::Transaction<'a>,
    data_dir: &'a Path,
}

const MESSAGE_COLUMNS: &str =
    "direction, message_id, conversation_id, process, document_type, sender, receiver, \
     status, created, last_update, expires, transfer_id, payload, warnings";

impl Tx<'_> {
    /// Run one statement, prepared once per connection (a send or poll runs the same few dozen
    /// statements for every message; parsing them each time was a tenth of its CPU time).
    fn exec<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.tx.prepare_cached(sql)?.execute(params)
    }

    /// One row of a query, prepared once per connection (see [`Tx::exec`]).
    fn row<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.tx.prepare_cached(sql)?.query_row(params, f)
    }

    fn row_to_message(&self, r: &rusqlite::Row<'_>) -> rusqlite::Result<(MessageInfo, String)> {
        let direction: String = r.get(0)?;
        let status: String = r.get(7)?;
        let payload: Option<String> = r.get(12)?;
        let warnings: Option<String> = r.get(13)?;
        Ok((
            MessageInfo {
                direction: if direction == "INCOMING" {
                    Direction::Incoming
                } else {
                    Direction::Outgoing
                },
                message_id: r.get(1)?,
                conversation_id: r.get(2)?,
                process: r.get(3)?,
                document_type: r.get(4)?,
                sender: r.get(5)?,
                receiver: r.get(6)?,
                status: ReceiptStatus::Annet,
                created: r.get(8)?,
                last_update: r.get(9)?,
                expires: r.get(10)?,
                transfer_id: r.get(11)?,
                payload: payload.map(|p| self.data_dir.join(p)),
                sending: None,
                warnings: warnings
                    .and_then(|w| serde_json::from_str(&w).ok())
                    .unwrap_or_default(),
            },
            status,
        ))
    }

    fn finish_message(&self, (mut m, status): (MessageInfo, String)) -> Result<MessageInfo> {
        m.status = parse_status(&status)?;
        if m.direction == Direction::Outgoing {
            m.sending = self.send_state(&m.message_id)?;
        }
        Ok(m)
    }

    fn row_id(&self, direction: Direction, message_id: &str) -> Result<Option<i64>> {
        self.row(
            "SELECT id FROM messages WHERE direction = ?1 AND message_id = ?2",
            params![direction.name(), message_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err("looking up a message"))
    }

    fn require_row(&self, direction: Direction, message_id: &str) -> Result<i64> {
        self.row_id(direction, message_id)?.ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "no {} message with messageId {message_id} in the store",
                    direction.name().to_lowercase()
                ),
            )
            .with_field("message_id")
        })
    }

    /// Insert a message with its first status. `AlreadyExists` if the messageId is known.
    pub fn insert_message(
        &self,
        m: &NewMessage<'_>,
        status: ReceiptStatus,
        now: OffsetDateTime,
    ) -> Result<()> {
        if self.row_id(m.direction, m.message_id)?.is_some() {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!(
                    "a{} {} message with messageId {} is already in the store; use a new messageId",
                    if m.direction == Direction::Incoming {
                        "n"
                    } else {
                        ""
                    },
                    m.direction.name().to_lowercase(),
                    m.message_id
                ),
            )
            .with_field("message_id"));
        }
        let now_s = format_time(now);
        self.exec(
                &format!("INSERT INTO messages ({MESSAGE_COLUMNS}, sbd) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11, ?12, ?14, ?13)"),
                params![
                    m.direction.name(),
                    m.message_id,
                    m.conversation_id,
                    m.process,
                    m.document_type,
                    m.sender,
                    m.receiver,
                    status.name(),
                    now_s,
                    m.expires,
                    m.transfer_id,
                    m.payload,
                    m.sbd_json,
                    warnings_json(m.warnings)
                ],
            )
            .map_err(db_err("storing a message"))?;
        let id = self.tx.last_insert_rowid();
        self.exec(
            "INSERT INTO status_history (message, status, time) VALUES (?1, ?2, ?3)",
            params![id, status.name(), now_s],
        )
        .map_err(db_err("storing a status"))?;
        log::info!(
            "{} message {}: {}",
            m.direction.name().to_lowercase(),
            m.message_id,
            status.name()
        );
        Ok(())
    }

    pub fn message(&self, direction: Direction, message_id: &str) -> Result<Option<MessageInfo>> {
        let found = self.row(
                &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE direction = ?1 AND message_id = ?2"),
                params![direction.name(), message_id],
                |r| self.row_to_message(r),
            )
            .optional()
            .map_err(db_err("reading a message"))?;
        found.map(|m| self.finish_message(m)).transpose()
    }

    /// The stored SBD (JSON text) of a message.
    pub fn sbd_json(&self, direction: Direction, message_id: &str) -> Result<String> {
        let id = self.require_row(direction, message_id)?;
        self.row("SELECT sbd FROM messages WHERE id = ?1", [id], |r| r.get(0))
            .map_err(db_err("reading a stored SBD"))
    }

    /// Record a status. Idempotent per status value (IP `DefaultConversationService`): a status the
    /// message already has is ignored (returns false). The current status moves when the new one
    /// ranks at least as high and the message is not finished, or always when `force` (a resend
    /// after FEIL).
    pub fn add_status(
        &self,
        direction: Direction,
        message_id: &str,
        status: ReceiptStatus,
        description: Option<&str>,
        now: OffsetDateTime,
        force: bool,
    ) -> Result<bool> {
        let id = self.require_row(direction, message_id)?;
        let now_s = format_time(now);
        let inserted = self.exec(
                "INSERT OR IGNORE INTO status_history (message, status, time, description) VALUES (?1, ?2, ?3, ?4)",
                params![id, status.name(), now_s, description],
            )
            .map_err(db_err("storing a status"))?;
        if inserted == 0 && !force {
            log::debug!(
                "message {message_id} already has status {}; ignored",
                status.name()
            );
            return Ok(false);
        }
        let current: String = self
            .row("SELECT status FROM messages WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .map_err(db_err("reading a status"))?;
        let current = parse_status(&current)?;
        let moves = force
            || (!is_terminal(current) && rank(status) >= rank(current))
            || (rank(status) == 9 && rank(current) < 9);
        if moves {
            self.exec(
                "UPDATE messages SET status = ?2, last_update = ?3 WHERE id = ?1",
                params![id, status.name(), now_s],
            )
            .map_err(db_err("updating a status"))?;
        }
        match description {
            Some(d) => log::info!(
                "{} message {message_id}: {} ({d})",
                direction.name().to_lowercase(),
                status.name()
            ),
            None => log::info!(
                "{} message {message_id}: {}",
                direction.name().to_lowercase(),
                status.name()
            ),
        }
        Ok(true)
    }

    pub fn history(&self, direction: Direction, message_id: &str) -> Result<Vec<StatusEntry>> {
        let id = self.require_row(direction, message_id)?;
        let mut stmt = self.tx.prepare_cached(
                "SELECT status, time, description FROM status_history WHERE message = ?1 ORDER BY id",
            )
            .map_err(db_err("reading statuses"))?;
        let rows = stmt
            .query_map([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })
            .map_err(db_err("reading statuses"))?;
        let mut out = Vec::new();
        for row in rows {
            let (s, time, description) = row.map_err(db_err("reading statuses"))?;
            out.push(StatusEntry {
                status: parse_status(&s)?,
                time,
                description,
            });
        }
        Ok(out)
    }

    /// Which direction(s) hold this messageId (outgoing first).
    pub fn directions_of(&self, message_id: &str) -> Result<Vec<Direction>> {
        let mut out = Vec::new();
        for d in [Direction::Outgoing, Direction::Incoming] {
            if self.row_id(d, message_id)?.is_some() {
                out.push(d);
            }
        }
        Ok(out)
    }

    pub fn set_transfer_id(
        &self,
        direction: Direction,
        message_id: &str,
        transfer_id: &str,
    ) -> Result<()> {
        let id = self.require_row(direction, message_id)?;
        self.exec(
            "UPDATE messages SET transfer_id = ?2 WHERE id = ?1",
            params![id, transfer_id],
        )
        .map_err(db_err("storing a transfer id"))?;
        Ok(())
    }

    /// Point the message at a payload file (relative to the data directory), or at none.
    pub fn set_payload(
        &self,
        direction: Direction,
        message_id: &str,
        payload: Option<&str>,
    ) -> Result<()> {
        let id = self.require_row(direction, message_id)?;
        self.exec(
            "UPDATE messages SET payload = ?2 WHERE id = ?1",
            params![id, payload],
        )
        .map_err(db_err("storing a payload path"))?;
        Ok(())
    }

    /// Append warnings to a message (each once).
    pub fn add_warnings(
        &self,
        direction: Direction,
        message_id: &str,
        warnings: &[String],
    ) -> Result<()> {
        if warnings.is_empty() {
            return Ok(());
        }
        let Some(mut m) = self.message(direction, message_id)? else {
            return Err(corrupt(format!("no message {message_id} to warn about")));
        };
        for w in warnings {
            if !m.warnings.contains(w) {
                log::warn!(
                    "{} message {message_id}: {w}",
                    direction.name().to_lowercase()
                );
                m.warnings.push(w.clone());
            }
        }
        self.exec(
            "UPDATE messages SET warnings = ?3 WHERE direction = ?1 AND message_id = ?2",
            params![direction.name(), message_id, warnings_json(&m.warnings)],
        )
        .map_err(db_err("storing warnings"))?;
        Ok(())
    }

    pub fn messages(&self, filter: &MessageFilter) -> Result<Vec<MessageInfo>> {
        let mut sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE 1=1");
        let mut args: Vec<String> = Vec::new();
        let direction = filter.direction.map(|d| d.name().to_string());
        let status = filter.status.map(|s| s.name().to_string());
        for (col, value) in [
            ("direction", &direction),
            ("conversation_id", &filter.conversation_id),
            ("message_id", &filter.message_id),
            ("status", &status),
        ] {
            if let Some(v) = value {
                args.push(v.clone());
                sql.push_str(&format!(" AND {col} = ?{}", args.len()));
            }
        }
        sql.push_str(" ORDER BY id DESC");
        if let Some(n) = filter.limit.filter(|n| *n > 0) {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        let mut stmt = self
            .tx
            .prepare_cached(&sql)
            .map_err(db_err("listing messages"))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                self.row_to_message(r)
            })
            .map_err(db_err("listing messages"))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(self.finish_message(r.map_err(db_err("listing messages"))?)?);
        }
        Ok(out)
    }

    /// Outgoing messages whose deadline is before `now` and which are not finished (IP
    /// `DefaultConversationService`: LEVERT, LEST, FEIL and LEVETID_UTLOPT finish a message;
    /// MOTTATT does not).
    pub fn expired_outgoing(&self, now: OffsetDateTime) -> Result<Vec<(String, String)>> {
        let mut stmt = self.tx.prepare_cached(
                "SELECT message_id, expires FROM messages WHERE direction = 'OUTGOING' AND expires IS NOT NULL \
                 AND status IN ('OPPRETTET', 'SENDT', 'MOTTATT')",
            )
            .map_err(db_err("searching expired messages"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(db_err("searching expired messages"))?;
        let mut out = Vec::new();
        for r in rows {
            let (id, expires) = r.map_err(db_err("searching expired messages"))?;
            match crate::sbd::parse_timestamp(&expires) {
                Ok(t) if now > t => out.push((id, expires)),
                Ok(_) => {}
                Err(_) => log::warn!("message {id} has an unreadable deadline {expires:?}"),
            }
        }
        Ok(out)
    }

    // ---- the incoming queue -------------------------------------------------------------

    pub fn enqueue(&self, message_id: &str, now: OffsetDateTime) -> Result<()> {
        let id = self.require_row(Direction::Incoming, message_id)?;
        self.exec(
            "INSERT OR IGNORE INTO incoming_queue (message, enqueued) VALUES (?1, ?2)",
            params![id, format_time(now)],
        )
        .map_err(db_err("queueing a message"))?;
        Ok(())
    }

    /// Remove from the queue; false if it was not there.
    pub fn dequeue(&self, message_id: &str) -> Result<bool> {
        let Some(id) = self.row_id(Direction::Incoming, message_id)? else {
            return Ok(false);
        };
        let n = self
            .exec("DELETE FROM incoming_queue WHERE message = ?1", [id])
            .map_err(db_err("removing a message from the queue"))?;
        Ok(n > 0)
    }

    /// The oldest queued message whose lock is free at `now`, locked until `until`.
    pub fn lock_oldest(
        &self,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Option<MessageInfo>> {
        let now_s = format_time(now);
        let found: Option<(i64, String)> = self.row(
                "SELECT q.message, m.message_id FROM incoming_queue q JOIN messages m ON m.id = q.message \
                 WHERE q.locked_until IS NULL OR q.locked_until <= ?1 ORDER BY q.enqueued, q.message LIMIT 1",
                [&now_s],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db_err("searching the queue"))?;
        let Some((row, message_id)) = found else {
            return Ok(None);
        };
        self.exec(
            "UPDATE incoming_queue SET locked_until = ?2 WHERE message = ?1",
            params![row, format_time(until)],
        )
        .map_err(db_err("locking a message"))?;
        log::info!(
            "incoming message {message_id}: locked until {}",
            format_time(until)
        );
        self.message(Direction::Incoming, &message_id)
    }

    /// `None` when the message is not queued, else whether its lock holds at `now`.
    pub fn queue_lock(&self, message_id: &str, now: OffsetDateTime) -> Result<Option<bool>> {
        let Some(id) = self.row_id(Direction::Incoming, message_id)? else {
            return Ok(None);
        };
        let lock: Option<Option<String>> = self
            .row(
                "SELECT locked_until FROM incoming_queue WHERE message = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err("reading a queue lock"))?;
        Ok(lock.map(|l| l.is_some_and(|until| until > format_time(now))))
    }

    // ---- broker transfers ---------------------------------------------------------------

    pub fn transfer(&self, transfer_id: &str) -> Result<Option<TransferRecord>> {
        type Row = (
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let row: Option<Row> = self.row(
                "SELECT transfer_id, state, spool, message_id, sender FROM transfers WHERE transfer_id = ?1",
                [transfer_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(db_err("reading a transfer"))?;
        row.map(|(transfer_id, state, spool, message_id, sender)| {
            Ok(TransferRecord {
                transfer_id,
                state: TransferState::parse(&state)?,
                spool,
                message_id,
                sender,
            })
        })
        .transpose()
    }

    /// Transfers not yet confirmed at the broker, oldest first.
    pub fn unfinished_transfers(&self) -> Result<Vec<TransferRecord>> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT transfer_id FROM transfers WHERE state != 'CONFIRMED' ORDER BY seen, rowid",
            )
            .map_err(db_err("listing transfers"))?;
        let ids: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .map_err(db_err("listing transfers"))?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err("listing transfers"))?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(t) = self.transfer(&id)? {
                out.push(t);
            }
        }
        Ok(out)
    }

    pub fn put_transfer(
        &self,
        transfer_id: &str,
        state: TransferState,
        spool: Option<&str>,
        message_id: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<()> {
        self.exec(
                "INSERT INTO transfers (transfer_id, state, spool, message_id, seen) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (transfer_id) DO UPDATE SET \
                 state = CASE WHEN transfers.state = 'CONFIRMED' THEN 'CONFIRMED' ELSE ?2 END, \
                 spool = ?3, message_id = COALESCE(?4, transfers.message_id), \
                 claimed_by = CASE WHEN ?2 = 'CONFIRMED' THEN NULL ELSE transfers.claimed_by END, \
                 claim_until = CASE WHEN ?2 = 'CONFIRMED' THEN NULL ELSE transfers.claim_until END",
                params![transfer_id, state.name(), spool, message_id, format_time(now)],
            )
            .map_err(db_err("storing a transfer"))?;
        log::debug!("transfer {transfer_id}: {}", state.name());
        Ok(())
    }

    /// Remember who sent a transfer, as the broker authenticated the sender.
    pub fn set_transfer_sender(&self, transfer_id: &str, sender: &str) -> Result<()> {
        self.exec(
            "UPDATE transfers SET sender = ?2 WHERE transfer_id = ?1",
            params![transfer_id, sender],
        )
        .map_err(db_err("storing a transfer's sender"))?;
        Ok(())
    }

    // ---- receipts owed to senders ---------------------------------------------------------

    pub fn add_outbox(&self, message_id: &str, status: ReceiptStatus) -> Result<()> {
        let id = self.require_row(Direction::Incoming, message_id)?;
        self.exec(
            "INSERT OR IGNORE INTO outbox (message, status) VALUES (?1, ?2)",
            params![id, status.name()],
        )
        .map_err(db_err("queueing a receipt"))?;
        Ok(())
    }

    pub fn outbox(&self) -> Result<Vec<OutboxItem>> {
        let mut stmt = self.tx.prepare_cached(
                "SELECT o.id, m.message_id, o.status FROM outbox o JOIN messages m ON m.id = o.message ORDER BY o.id",
            )
            .map_err(db_err("listing receipts"))?;
        let rows: Vec<(i64, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(db_err("listing receipts"))?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err("listing receipts"))?;
        rows.into_iter()
            .map(|(id, message_id, s)| {
                Ok(OutboxItem {
                    id,
                    message_id,
                    status: parse_status(&s)?,
                })
            })
            .collect()
    }

    pub fn remove_outbox(&self, id: i64) -> Result<()> {
        self.exec("DELETE FROM outbox WHERE id = ?1", [id])
            .map_err(db_err("removing a receipt"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn new_msg<'a>(id: &'a str, direction: Direction) -> NewMessage<'a> {
        NewMessage {
            direction,
            message_id: id,
            conversation_id: Some("c1"),
            process: Some("p"),
            document_type: "arkivmelding",
            sender: "0192:910075918",
            receiver: "0192:910076787",
            expires: Some("2000-01-01T00:00:00Z"),
            transfer_id: None,
            payload: None,
            sbd_json: "{}",
            warnings: &[],
        }
    }

    #[test]
    fn statuses_are_idempotent_and_ranked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .transaction(|tx| {
                tx.insert_message(
                    &new_msg("m1", Direction::Outgoing),
                    ReceiptStatus::Opprettet,
                    now(),
                )
            })
            .unwrap();
        let e = store
            .transaction(|tx| {
                tx.insert_message(
                    &new_msg("m1", Direction::Outgoing),
                    ReceiptStatus::Opprettet,
                    now(),
                )
            })
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        let d = Direction::Outgoing;
        store
            .transaction(|tx| {
                assert!(tx.add_status(d, "m1", ReceiptStatus::Sendt, None, now(), false)?);
                assert!(tx.add_status(d, "m1", ReceiptStatus::Levert, None, now(), false)?);
                assert!(tx.add_status(d, "m1", ReceiptStatus::Mottatt, None, now(), false)?);
                assert!(!tx.add_status(d, "m1", ReceiptStatus::Mottatt, None, now(), false)?);
                Ok(())
            })
            .unwrap();
        let (m, h) = store
            .transaction(|tx| Ok((tx.message(d, "m1")?.unwrap(), tx.history(d, "m1")?)))
            .unwrap();
        assert_eq!(m.status, ReceiptStatus::Levert);
        let names: Vec<_> = h.iter().map(|e| e.status.name()).collect();
        assert_eq!(names, ["OPPRETTET", "SENDT", "LEVERT", "MOTTATT"]);
        // The deadline passed, but the message was received: not expired.
        assert!(store
            .transaction(|tx| tx.expired_outgoing(now()))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_failed_transaction_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let r: Result<()> = store.transaction(|tx| {
            tx.insert_message(
                &new_msg("m2", Direction::Incoming),
                ReceiptStatus::InnkommendeMottatt,
                now(),
            )?;
            tx.enqueue("m2", now())?;
            Err(Error::new(ErrorKind::Internal, "boom"))
        });
        assert!(r.is_err());
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert!(store
            .transaction(|tx| tx.message(Direction::Incoming, "m2"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn queue_locks_expire() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let t0 = now();
        store
            .transaction(|tx| {
                tx.insert_message(
                    &new_msg("a", Direction::Incoming),
                    ReceiptStatus::InnkommendeMottatt,
                    t0,
                )?;
                tx.enqueue("a", t0)
            })
            .unwrap();
        let later = t0 + time::Duration::minutes(5);
        let got = store.transaction(|tx| tx.lock_oldest(t0, later)).unwrap();
        assert_eq!(got.unwrap().message_id, "a");
        assert!(store
            .transaction(|tx| tx.lock_oldest(t0, later))
            .unwrap()
            .is_none());
        assert_eq!(
            store.transaction(|tx| tx.queue_lock("a", t0)).unwrap(),
            Some(true)
        );
        let after = later + time::Duration::seconds(1);
        assert!(store
            .transaction(|tx| tx.lock_oldest(after, after))
            .unwrap()
            .is_some());
    }
}
