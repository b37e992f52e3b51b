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
mod db;
mod leftovers;
mod migrations;
mod owner;
mod pg;
mod pg_tls;
mod quarantine;
mod sends;

pub use claims::TransferClaim;
pub use migrations::SCHEMA_VERSION;
pub use quarantine::{NewQuarantine, QuarantineEntry, QuarantineKind};
pub use sends::{SendState, SendStep};

use crate::error::{Error, ErrorKind, Result};
use crate::ident::OrgNumber;
use crate::sbd::ReceiptStatus;
use db::{args, Row, TxConn};
use rusqlite::Connection;
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

/// Counts of unfinished or held work ([`Tx::open_work`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenWork {
    /// Broker transfers seen but not confirmed.
    pub unconfirmed_transfers: i64,
    /// Unconfirmed transfers some worker holds a claim (lease) on (a confirmed one needs none).
    pub transfer_claims: i64,
    /// Status receipts still owed to senders.
    pub owed_receipts: i64,
    /// Incoming messages waiting in the queue, and how many of them are locked by a peek.
    pub queued: i64,
    pub queue_locks: i64,
    /// Outgoing messages whose upload or follow-up is not done.
    pub unfinished_sends: i64,
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

/// The state database and spool folders of one data directory, as one organisation sees them.
///
/// Several organisations may share one database (one SQLite file or one PostgreSQL schema) and
/// one data directory: every row names its organisation, and a store reads and writes only its
/// own organisation's rows, so two organisations in one store never see each other's messages,
/// queue, receipts, transfers or quarantine. Spool file names carry the writing store's owner id,
/// which no two stores share, so their files never collide.
pub struct Store {
    engine: Engine,
    data_dir: PathBuf,
    /// The organisation whose rows this store reads and writes.
    org: OrgNumber,
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
            .field("organisation", &self.org)
            .finish()
    }
}

/// Which database engine holds the state.
enum Engine {
    /// `efm.sqlite` in the data directory: one machine, nothing to run.
    Sqlite(Mutex<SqliteConn>),
    /// A PostgreSQL database shared by every worker (`pg.rs`).
    Postgres(Box<pg::Postgres>),
}

/// The SQLite connection and the `synchronous` mode it is in now.
struct SqliteConn {
    conn: Connection,
    sync: Durability,
}

/// How a commit waits for the disk ([`Store::transaction`], [`Store::relaxed_transaction`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// `synchronous=FULL`: the WAL is fsynced at every commit, which survives a power cut.
    Synced,
    /// `synchronous=NORMAL`: the WAL is written, fsynced only at checkpoints and by the next
    /// synced commit.
    Relaxed,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Synced => "FULL",
            Durability::Relaxed => "NORMAL",
        }
    }
}

/// Where a store keeps its state (the configuration's `"store"`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StoreSetting {
    /// `efm.sqlite` in the data directory (the default).
    #[default]
    Sqlite,
    /// A PostgreSQL database every worker reaches; payload files stay in the data directory,
    /// which every worker must share (see README, "Several workers").
    Postgres {
        /// `postgresql://user@host:port/database` (or key=value form), without a password.
        url: String,
        password: Option<crate::config::Secret>,
        /// The PostgreSQL schema holding efm's tables (created when missing); several
        /// installations can share one database, each in its own. `None`: the server's default
        /// (`public`).
        schema: Option<String>,
        /// Certificates trusted besides the system's for the server's TLS certificate (the
        /// configuration's `ca_bundle`).
        ca_bundle: Option<PathBuf>,
    },
}

/// The stores the tests run against: SQLite, and PostgreSQL in a fresh schema when
/// `EFM_TEST_POSTGRES` names a server (a URL without password; the password in the file
/// `EFM_TEST_POSTGRES_PASSWORD_FILE`). `scripts/test.sh` starts one and always sets it; without
/// it the PostgreSQL runs are skipped with a note on stderr.
#[doc(hidden)]
pub fn test_settings() -> Vec<StoreSetting> {
    let mut out = vec![StoreSetting::Sqlite];
    match std::env::var("EFM_TEST_POSTGRES") {
        Ok(url) => {
            let password = std::env::var("EFM_TEST_POSTGRES_PASSWORD_FILE")
                .ok()
                .map(|f| {
                    let value =
                        std::fs::read_to_string(&f).expect("EFM_TEST_POSTGRES_PASSWORD_FILE");
                    crate::config::Secret::new(value.trim().to_string(), format!("file {f}"))
                });
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            out.push(StoreSetting::Postgres {
                url,
                password,
                schema: Some(schema),
                ca_bundle: std::env::var_os("EFM_TEST_POSTGRES_CA").map(PathBuf::from),
            });
        }
        Err(_) => eprintln!(
            "NOTE: EFM_TEST_POSTGRES is unset, so the PostgreSQL store is NOT tested here \
             (scripts/test.sh starts a server and sets it)"
        ),
    }
    out
}

pub const DATABASE_FILE: &str = "efm.sqlite";
/// Where extracted files wait, inside the data directory, until they are verified and moved.
pub const STAGING_DIR: &str = "staging";

impl Store {
    /// Open (creating on first use) the SQLite database and spool folders in `data_dir`, for the
    /// organisation `org`.
    pub fn open(data_dir: &Path, org: &OrgNumber) -> Result<Store> {
        Store::open_with(data_dir, &StoreSetting::Sqlite, org)
    }

    /// Open the store `setting` names, with the spool folders in `data_dir`, for the organisation
    /// `org`. A database from before organisations were recorded is upgraded, and its rows become
    /// `org`'s.
    pub fn open_with(data_dir: &Path, setting: &StoreSetting, org: &OrgNumber) -> Result<Store> {
        for sub in ["", "spool/out", "spool/in"] {
            let d = data_dir.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| {
                Error::io(format!("creating the data directory {}", d.display()), e)
                    .with_field("data_dir")
            })?;
        }
        let engine = match setting {
            StoreSetting::Sqlite => Engine::Sqlite(Mutex::new(SqliteConn {
                conn: Store::open_sqlite(data_dir, org)?,
                sync: Durability::Synced,
            })),
            StoreSetting::Postgres {
                url,
                password,
                schema,
                ca_bundle,
            } => Engine::Postgres(Box::new(pg::Postgres::connect(
                url,
                password.as_ref(),
                schema.as_deref(),
                ca_bundle.as_deref(),
                org.as_str(),
            )?)),
        };
        let store = Store {
            engine,
            data_dir: data_dir.to_path_buf(),
            org: org.clone(),
            owner: owner::Owner::acquire(data_dir)?,
        };
        store.collect_leftovers()?;
        Ok(store)
    }

    /// The SQLite database of a data directory, brought to the current schema.
    fn open_sqlite(data_dir: &Path, org: &OrgNumber) -> Result<Connection> {
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
        // Off during the upgrade, which rebuilds tables others point to (the bundled SQLite
        // turns them on by default), and checked by it before it commits.
        conn.pragma_update(None, "foreign_keys", "OFF")
            .map_err(db_err("disabling foreign keys for the upgrade"))?;
        migrations::migrate(&mut conn, org.as_str())?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db_err("enabling foreign keys"))?;
        // Room for every statement the store runs (prepared once per connection, see db.rs).
        conn.set_prepared_statement_cache_capacity(128);
        Ok(conn)
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

    /// The organisation whose rows this store reads and writes.
    pub fn organisation(&self) -> &OrgNumber {
        &self.org
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

    /// Where the state is kept, for operators (`efm doctor`); never a password.
    pub fn describe(&self) -> String {
        match &self.engine {
            Engine::Sqlite(_) => format!(
                "SQLite {} (version {SCHEMA_VERSION})",
                self.data_dir.join(DATABASE_FILE).display()
            ),
            Engine::Postgres(pg) => pg.describe(),
        }
    }

    /// Whether the state lives in a PostgreSQL database (shared by many workers).
    pub fn is_shared(&self) -> bool {
        matches!(self.engine, Engine::Postgres(_))
    }

    /// Run `f` in one transaction: all of its changes commit together, or none (on error). The
    /// commit is durable: once this returns, a power cut does not undo it (nor any commit before
    /// it, [`Store::relaxed_transaction`]s included).
    pub fn transaction<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.transaction_synced(Durability::Synced, f)
    }

    /// [`Store::transaction`] without waiting for the disk, for a change the flows redo on their
    /// own when it is missing: a claim, a step already taken at the broker that the next poll
    /// or attempt finds out again, a receipt sent that may be sent once more. A process crash
    /// loses nothing (the change is in the operating system's hands when this returns); a power
    /// cut or an operating system crash may undo it together with the relaxed commits after it,
    /// but never a durable commit made before it, and the next durable commit makes it durable
    /// too. So after a power cut the store is as a process crash at some earlier moment would
    /// have left it, a state every flow already recovers from, and nothing that was
    /// acknowledged (to the caller or the broker) rests on a relaxed commit alone.
    ///
    /// SQLite: the commit runs with `synchronous=NORMAL` (WAL: frames written, not fsynced;
    /// recovery keeps a prefix of the commits, its checksums chain the frames). PostgreSQL: as
    /// [`Store::transaction`] (turning off `synchronous_commit` would cost a round trip).
    pub fn relaxed_transaction<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.transaction_synced(Durability::Relaxed, f)
    }

    fn transaction_synced<T>(
        &self,
        sync: Durability,
        f: impl FnOnce(&Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        match &self.engine {
            Engine::Sqlite(conn) => {
                let mut conn = conn.lock().map_err(|_| {
                    Error::new(ErrorKind::Internal, "the state database lock is poisoned")
                })?;
                let conn = &mut *conn;
                if conn.sync != sync {
                    // Only outside a transaction; the lock guarantees none is open here.
                    conn.conn
                        .pragma_update(None, "synchronous", sync.pragma())
                        .map_err(db_err("setting the commit's synchronous mode"))?;
                    conn.sync = sync;
                }
                let tx = conn
                    .conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(db_err("starting a transaction"))?;
                self.run(TxConn::Sqlite(tx), f)
            }
            Engine::Postgres(pg) => {
                let mut client = pg.client()?;
                let tx = pg::Postgres::begin(&mut client)?;
                // Bound to a local: the transaction borrows `client`, which a tail expression's
                // temporaries would outlive.
                #[allow(clippy::let_and_return)]
                let value = self.run(tx, f);
                value
            }
        }
    }

    fn run<'s: 'c, 'c, T>(
        &'s self,
        tx: TxConn<'c>,
        f: impl FnOnce(&Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        let wrapped = Tx {
            tx,
            data_dir: &self.data_dir,
            org: self.org.as_str(),
        };
        let value = f(&wrapped)?;
        wrapped.tx.commit()?;
        Ok(value)
    }
}

/// One open transaction.
///
/// Every query of a transaction is limited to the store's organisation: the tables that hold
/// per-organisation state name it (`messages`, `transfers`, `quarantine`: `org`), and the tables
/// hanging off a message (statuses, queue, receipts, sends) are reached through its row.
pub struct Tx<'a> {
    tx: TxConn<'a>,
    data_dir: &'a Path,
    /// The store's organisation (9 digits).
    org: &'a str,
}

const MESSAGE_COLUMNS: &str =
    "direction, message_id, conversation_id, process, document_type, sender, receiver, \
     status, created, last_update, expires, transfer_id, payload, warnings";

impl Tx<'_> {
    fn row_to_message(&self, r: &Row) -> Result<(MessageInfo, String)> {
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
        self.tx
            .query_opt(
                "looking up a message",
                "SELECT id FROM messages WHERE org = ?3 AND direction = ?1 AND message_id = ?2",
                args![direction.name(), message_id, self.org],
            )?
            .map(|r| r.get(0))
            .transpose()
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
        let id: i64 = self
            .tx
            .query_one(
                "storing a message",
                &format!("INSERT INTO messages ({MESSAGE_COLUMNS}, sbd, org) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11, ?12, ?14, ?13, ?15) RETURNING id"),
                args![
                    m.direction.name(),
                    m.message_id,
                    m.conversation_id,
                    m.process,
                    m.document_type,
                    m.sender,
                    m.receiver,
                    status.name(),
                    &now_s,
                    m.expires,
                    m.transfer_id,
                    m.payload,
                    m.sbd_json,
                    warnings_json(m.warnings),
                    self.org
                ],
            )?
            .get(0)?;
        self.tx.execute(
            "storing a status",
            "INSERT INTO status_history (message, status, time) VALUES (?1, ?2, ?3)",
            args![id, status.name(), &now_s],
        )?;
        log::info!(
            "{} message {}: {}",
            m.direction.name().to_lowercase(),
            m.message_id,
            status.name()
        );
        Ok(())
    }

    pub fn message(&self, direction: Direction, message_id: &str) -> Result<Option<MessageInfo>> {
        let found = self.tx.query_opt(
            "reading a message",
            &format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE org = ?3 AND direction = ?1 AND message_id = ?2"
            ),
            args![direction.name(), message_id, self.org],
        )?;
        found
            .map(|r| self.finish_message(self.row_to_message(&r)?))
            .transpose()
    }

    /// The stored SBD (JSON text) of a message.
    pub fn sbd_json(&self, direction: Direction, message_id: &str) -> Result<String> {
        let id = self.require_row(direction, message_id)?;
        self.tx
            .query_one(
                "reading a stored SBD",
                "SELECT sbd FROM messages WHERE id = ?1",
                args![id],
            )?
            .get(0)
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
        let inserted = self.tx.execute(
            "storing a status",
            "INSERT INTO status_history (message, status, time, description) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT DO NOTHING",
            args![id, status.name(), &now_s, description],
        )?;
        if inserted == 0 && !force {
            log::debug!(
                "message {message_id} already has status {}; ignored",
                status.name()
            );
            return Ok(false);
        }
        let current: String = self
            .tx
            .query_one(
                "reading a status",
                &format!(
                    "SELECT status FROM messages WHERE id = ?1{}",
                    self.tx.for_update()
                ),
                args![id],
            )?
            .get(0)?;
        let current = parse_status(&current)?;
        let moves = force
            || (!is_terminal(current) && rank(status) >= rank(current))
            || (rank(status) == 9 && rank(current) < 9);
        if moves {
            self.tx.execute(
                "updating a status",
                "UPDATE messages SET status = ?2, last_update = ?3 WHERE id = ?1",
                args![id, status.name(), &now_s],
            )?;
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
        let rows = self.tx.query(
            "reading statuses",
            "SELECT status, time, description FROM status_history WHERE message = ?1 ORDER BY id",
            args![id],
        )?;
        rows.iter()
            .map(|r| {
                Ok(StatusEntry {
                    status: parse_status(&r.get::<String>(0)?)?,
                    time: r.get(1)?,
                    description: r.get(2)?,
                })
            })
            .collect()
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
        self.tx.execute(
            "storing a transfer id",
            "UPDATE messages SET transfer_id = ?2 WHERE id = ?1",
            args![id, transfer_id],
        )?;
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
        self.tx.execute(
            "storing a payload path",
            "UPDATE messages SET payload = ?2 WHERE id = ?1",
            args![id, payload],
        )?;
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
        self.tx.execute(
            "storing warnings",
            "UPDATE messages SET warnings = ?3 WHERE org = ?4 AND direction = ?1 AND message_id = ?2",
            args![direction.name(), message_id, warnings_json(&m.warnings), self.org],
        )?;
        Ok(())
    }

    pub fn messages(&self, filter: &MessageFilter) -> Result<Vec<MessageInfo>> {
        let mut sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE org = ?1");
        let mut args: Vec<db::Value> = vec![self.org.into()];
        let direction = filter.direction.map(|d| d.name().to_string());
        let status = filter.status.map(|s| s.name().to_string());
        for (col, value) in [
            ("direction", &direction),
            ("conversation_id", &filter.conversation_id),
            ("message_id", &filter.message_id),
            ("status", &status),
        ] {
            if let Some(v) = value {
                args.push(v.into());
                sql.push_str(&format!(" AND {col} = ?{}", args.len()));
            }
        }
        sql.push_str(" ORDER BY id DESC");
        if let Some(n) = filter.limit.filter(|n| *n > 0) {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        let rows = self.tx.query("listing messages", &sql, &args)?;
        rows.iter()
            .map(|r| self.finish_message(self.row_to_message(r)?))
            .collect()
    }

    /// Outgoing messages whose deadline is before `now` and which are not finished (IP
    /// `DefaultConversationService`: LEVERT, LEST, FEIL and LEVETID_UTLOPT finish a message;
    /// MOTTATT does not).
    pub fn expired_outgoing(&self, now: OffsetDateTime) -> Result<Vec<(String, String)>> {
        let rows = self.tx.query(
            "searching expired messages",
            "SELECT message_id, expires FROM messages WHERE org = ?1 AND direction = 'OUTGOING' AND expires IS NOT NULL \
             AND status IN ('OPPRETTET', 'SENDT', 'MOTTATT')",
            args![self.org],
        )?;
        let mut out = Vec::new();
        for r in rows {
            let (id, expires): (String, String) = (r.get(0)?, r.get(1)?);
            match crate::sbd::parse_timestamp(&expires) {
                Ok(t) if now > t => out.push((id, expires)),
                Ok(_) => {}
                Err(_) => log::warn!("message {id} has an unreadable deadline {expires:?}"),
            }
        }
        Ok(out)
    }

    /// Work still open or held in the store: what a finished, quiet installation has none of.
    pub fn open_work(&self) -> Result<OpenWork> {
        let r = self.tx.query_one(
            "counting open work",
            "SELECT (SELECT COUNT(*) FROM transfers WHERE org = ?1 AND state != 'CONFIRMED'), \
                    (SELECT COUNT(*) FROM transfers WHERE org = ?1 AND claimed_by IS NOT NULL AND state != 'CONFIRMED'), \
                    (SELECT COUNT(*) FROM outbox o JOIN messages m ON m.id = o.message WHERE m.org = ?1), \
                    (SELECT COUNT(*) FROM incoming_queue q JOIN messages m ON m.id = q.message WHERE m.org = ?1), \
                    (SELECT COUNT(*) FROM incoming_queue q JOIN messages m ON m.id = q.message WHERE m.org = ?1 AND q.locked_until IS NOT NULL), \
                    (SELECT COUNT(*) FROM sends s JOIN messages m ON m.id = s.message WHERE m.org = ?1 AND s.step != 'DONE')",
            args![self.org],
        )?;
        Ok(OpenWork {
            unconfirmed_transfers: r.get(0)?,
            transfer_claims: r.get(1)?,
            owed_receipts: r.get(2)?,
            queued: r.get(3)?,
            queue_locks: r.get(4)?,
            unfinished_sends: r.get(5)?,
        })
    }

    // ---- the incoming queue -------------------------------------------------------------

    pub fn enqueue(&self, message_id: &str, now: OffsetDateTime) -> Result<()> {
        let id = self.require_row(Direction::Incoming, message_id)?;
        self.tx.execute(
            "queueing a message",
            "INSERT INTO incoming_queue (message, enqueued) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            args![id, format_time(now)],
        )?;
        Ok(())
    }

    /// Remove from the queue; false if it was not there.
    pub fn dequeue(&self, message_id: &str) -> Result<bool> {
        let Some(id) = self.row_id(Direction::Incoming, message_id)? else {
            return Ok(false);
        };
        let n = self.tx.execute(
            "removing a message from the queue",
            "DELETE FROM incoming_queue WHERE message = ?1",
            args![id],
        )?;
        Ok(n > 0)
    }

    /// The oldest queued message whose lock is free at `now`, locked until `until`.
    pub fn lock_oldest(
        &self,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Option<MessageInfo>> {
        let now_s = format_time(now);
        // A worker that is taking another message passes it over instead of waiting.
        let found = self.tx.query_opt(
            "searching the queue",
            &format!(
                "SELECT q.message, m.message_id FROM incoming_queue q JOIN messages m ON m.id = q.message \
                 WHERE m.org = ?2 AND (q.locked_until IS NULL OR q.locked_until <= ?1) ORDER BY q.enqueued, q.message LIMIT 1{}",
                self.tx.skip_locked("q")
            ),
            args![&now_s, self.org],
        )?;
        let Some(found) = found else {
            return Ok(None);
        };
        let (row, message_id): (i64, String) = (found.get(0)?, found.get(1)?);
        self.tx.execute(
            "locking a message",
            "UPDATE incoming_queue SET locked_until = ?2 WHERE message = ?1",
            args![row, format_time(until)],
        )?;
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
            .tx
            .query_opt(
                "reading a queue lock",
                "SELECT locked_until FROM incoming_queue WHERE message = ?1",
                args![id],
            )?
            .map(|r| r.get(0))
            .transpose()?;
        Ok(lock.map(|l| l.is_some_and(|until| until > format_time(now))))
    }

    // ---- broker transfers ---------------------------------------------------------------

    pub fn transfer(&self, transfer_id: &str) -> Result<Option<TransferRecord>> {
        let row = self.tx.query_opt(
            "reading a transfer",
            "SELECT transfer_id, state, spool, message_id, sender FROM transfers WHERE org = ?2 AND transfer_id = ?1",
            args![transfer_id, self.org],
        )?;
        row.map(|r| {
            Ok(TransferRecord {
                transfer_id: r.get(0)?,
                state: TransferState::parse(&r.get::<String>(1)?)?,
                spool: r.get(2)?,
                message_id: r.get(3)?,
                sender: r.get(4)?,
            })
        })
        .transpose()
    }

    /// Transfers not yet confirmed at the broker, oldest first.
    pub fn unfinished_transfers(&self) -> Result<Vec<TransferRecord>> {
        let ids = self.tx.query(
            "listing transfers",
            "SELECT transfer_id FROM transfers WHERE org = ?1 AND state != 'CONFIRMED' ORDER BY seen, transfer_id",
            args![self.org],
        )?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(t) = self.transfer(&id.get::<String>(0)?)? {
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
        self.tx.execute(
                "storing a transfer",
                "INSERT INTO transfers (transfer_id, state, spool, message_id, seen, org) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (org, transfer_id) DO UPDATE SET \
                 state = CASE WHEN transfers.state = 'CONFIRMED' THEN 'CONFIRMED' ELSE ?2 END, \
                 spool = ?3, message_id = COALESCE(?4, transfers.message_id), \
                 claimed_by = CASE WHEN ?2 = 'CONFIRMED' THEN NULL ELSE transfers.claimed_by END, \
                 claim_until = CASE WHEN ?2 = 'CONFIRMED' THEN NULL ELSE transfers.claim_until END",
                args![transfer_id, state.name(), spool, message_id, format_time(now), self.org],
            )?;
        log::debug!("transfer {transfer_id}: {}", state.name());
        Ok(())
    }

    /// Remember who sent a transfer, as the broker authenticated the sender.
    pub fn set_transfer_sender(&self, transfer_id: &str, sender: &str) -> Result<()> {
        self.tx.execute(
            "storing a transfer's sender",
            "UPDATE transfers SET sender = ?2 WHERE org = ?3 AND transfer_id = ?1",
            args![transfer_id, sender, self.org],
        )?;
        Ok(())
    }

    // ---- receipts owed to senders ---------------------------------------------------------

    pub fn add_outbox(&self, message_id: &str, status: ReceiptStatus) -> Result<()> {
        let id = self.require_row(Direction::Incoming, message_id)?;
        self.tx.execute(
            "queueing a receipt",
            "INSERT INTO outbox (message, status) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            args![id, status.name()],
        )?;
        Ok(())
    }

    pub fn outbox(&self) -> Result<Vec<OutboxItem>> {
        let rows = self.tx.query(
            "listing receipts",
            "SELECT o.id, m.message_id, o.status FROM outbox o JOIN messages m ON m.id = o.message \
             WHERE m.org = ?1 ORDER BY o.id",
            args![self.org],
        )?;
        rows.iter()
            .map(|r| {
                Ok(OutboxItem {
                    id: r.get(0)?,
                    message_id: r.get(1)?,
                    status: parse_status(&r.get::<String>(2)?)?,
                })
            })
            .collect()
    }

    pub fn remove_outbox(&self, id: i64) -> Result<()> {
        self.tx.execute(
            "removing a receipt",
            "DELETE FROM outbox WHERE id = ?1 AND message IN (SELECT id FROM messages WHERE org = ?2)",
            args![id, self.org],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn org() -> OrgNumber {
        OrgNumber::parse("910075918").unwrap()
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
        for setting in test_settings() {
            statuses_are_idempotent_and_ranked_in(&setting);
        }
    }

    fn statuses_are_idempotent_and_ranked_in(setting: &StoreSetting) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), setting, &org()).unwrap();
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
    fn relaxed_commits_are_commits() {
        for setting in test_settings() {
            relaxed_commits_are_commits_in(&setting);
        }
    }

    /// A relaxed transaction commits (seen at once by another store on the same data, as by
    /// another process), rolls back on error like any other, and leaves the next durable
    /// transaction synced: SQLite's `synchronous` is NORMAL only inside relaxed ones.
    fn relaxed_commits_are_commits_in(setting: &StoreSetting) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), setting, &org()).unwrap();
        let other = Store::open_with(dir.path(), setting, &org()).unwrap();
        let d = Direction::Outgoing;
        let synchronous = |tx: &Tx<'_>| -> Result<Option<i64>> {
            Ok(match &tx.tx {
                TxConn::Sqlite(_) => Some(
                    tx.tx
                        .query_one("reading synchronous", "PRAGMA synchronous", args![])?
                        .get(0)?,
                ),
                TxConn::Postgres(_) => None,
            })
        };
        let sqlite = matches!(setting, StoreSetting::Sqlite);
        let mode = store
            .relaxed_transaction(|tx| {
                tx.insert_message(&new_msg("m1", d), ReceiptStatus::Opprettet, now())?;
                synchronous(tx)
            })
            .unwrap();
        assert_eq!(
            mode,
            sqlite.then_some(1),
            "NORMAL inside a relaxed transaction"
        );
        assert!(other
            .transaction(|tx| tx.message(d, "m1"))
            .unwrap()
            .is_some());

        let e = store
            .relaxed_transaction(|tx| {
                tx.insert_message(&new_msg("m2", d), ReceiptStatus::Opprettet, now())?;
                Err::<(), _>(Error::new(ErrorKind::Internal, "changed my mind"))
            })
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert!(other
            .transaction(|tx| tx.message(d, "m2"))
            .unwrap()
            .is_none());

        let mode = store
            .transaction(|tx| {
                tx.add_status(d, "m1", ReceiptStatus::Sendt, None, now(), false)?;
                synchronous(tx)
            })
            .unwrap();
        assert_eq!(mode, sqlite.then_some(2), "FULL again after a relaxed one");
        drop((store, other));
        let reopened = Store::open_with(dir.path(), setting, &org()).unwrap();
        let m = reopened.transaction(|tx| tx.message(d, "m1")).unwrap();
        assert_eq!(m.map(|m| m.status), Some(ReceiptStatus::Sendt));
    }

    #[test]
    fn organisations_sharing_a_store_see_only_their_own() {
        for setting in test_settings() {
            organisations_sharing_a_store_see_only_their_own_in(&setting);
        }
    }

    /// Two organisations in one database: A sends m1 to B (A's OUTGOING row, B's INCOMING row),
    /// both receive the same broker transfer id, both quarantine something; neither sees the
    /// other's rows, and a messageId both hold in the same direction is no conflict.
    fn organisations_sharing_a_store_see_only_their_own_in(setting: &StoreSetting) {
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open_with(dir.path(), setting, &org()).unwrap();
        let b_org = OrgNumber::parse("910076787").unwrap();
        let b = Store::open_with(dir.path(), setting, &b_org).unwrap();
        let t0 = now();
        a.transaction(|tx| {
            tx.insert_message(
                &new_msg("m1", Direction::Outgoing),
                ReceiptStatus::Opprettet,
                t0,
            )?;
            tx.set_send_step("m1", SendStep::Upload, t0)?;
            tx.put_transfer("t1", TransferState::Stored, None, None, t0)
        })
        .unwrap();
        b.transaction(|tx| {
            tx.insert_message(
                &new_msg("m1", Direction::Incoming),
                ReceiptStatus::InnkommendeMottatt,
                t0,
            )?;
            tx.enqueue("m1", t0)?;
            tx.add_outbox("m1", ReceiptStatus::Mottatt)?;
            tx.put_transfer("t1", TransferState::Downloading, None, Some("m1"), t0)?;
            // The same messageId and direction as A's: each organisation's own.
            tx.insert_message(
                &new_msg("m1", Direction::Outgoing),
                ReceiptStatus::Opprettet,
                t0,
            )
        })
        .unwrap();
        let qa = a
            .transaction(|tx| {
                tx.add_quarantine(
                    &NewQuarantine {
                        kind: QuarantineKind::Unreadable,
                        transfer_id: Some("t9"),
                        message_id: None,
                        sender: None,
                        reason: "not a zip",
                        code: 700,
                        payload: None,
                        size: None,
                    },
                    t0,
                )
            })
            .unwrap();

        let (a_msgs, a_work) = a
            .transaction(|tx| Ok((tx.messages(&MessageFilter::default())?, tx.open_work()?)))
            .unwrap();
        assert_eq!(a_msgs.len(), 1);
        assert_eq!(a_msgs[0].direction, Direction::Outgoing);
        assert_eq!(
            a_work,
            OpenWork {
                unconfirmed_transfers: 1,
                unfinished_sends: 1,
                ..OpenWork::default()
            }
        );
        let b_msgs = b
            .transaction(|tx| tx.messages(&MessageFilter::default()))
            .unwrap();
        assert_eq!(b_msgs.len(), 2);
        // A's queue, receipts and quarantine are empty; B's hold B's.
        let later = t0 + time::Duration::minutes(5);
        assert!(a
            .transaction(|tx| tx.lock_oldest(t0, later))
            .unwrap()
            .is_none());
        assert!(a.transaction(|tx| tx.outbox()).unwrap().is_empty());
        assert_eq!(b.transaction(|tx| tx.outbox()).unwrap().len(), 1);
        assert!(b.transaction(|tx| tx.quarantined()).unwrap().is_empty());
        assert!(b
            .transaction(|tx| tx.quarantine_entry(qa))
            .unwrap()
            .is_none());
        assert!(!b.transaction(|tx| tx.remove_quarantine(qa)).unwrap());
        assert_eq!(a.transaction(|tx| tx.quarantined()).unwrap().len(), 1);
        // The same transfer id, each organisation's own state.
        let ta = a.transaction(|tx| tx.transfer("t1")).unwrap().unwrap();
        let tb = b.transaction(|tx| tx.transfer("t1")).unwrap().unwrap();
        assert_eq!(
            (ta.state, tb.state),
            (TransferState::Stored, TransferState::Downloading)
        );
        // A's send is due for A only; B's outgoing m1 was never queued.
        let due = |s: &Store| {
            s.transaction(|tx| tx.claim_due_sends(SendStep::Upload, t0, later, 10))
                .unwrap()
        };
        assert!(due(&b).is_empty());
        assert_eq!(due(&a), ["m1"]);
        let got = b.transaction(|tx| tx.lock_oldest(t0, later)).unwrap();
        assert_eq!(got.unwrap().direction, Direction::Incoming);
    }

    /// A PostgreSQL store at schema version 1 (before organisations) is upgraded on open: its
    /// rows become the opening organisation's, another organisation sees none of them.
    #[test]
    fn a_postgres_store_from_before_organisations_is_upgraded() {
        for setting in test_settings() {
            let StoreSetting::Postgres {
                url,
                password,
                schema,
                ca_bundle,
            } = &setting
            else {
                continue;
            };
            let schema = schema.as_deref().unwrap();
            // A connection made the store's way (TLS as configured), working in a schema of its
            // own; the old schema is written beside it, as an efm of schema version 1 left it.
            let helper = pg::Postgres::connect(
                url,
                password.as_ref(),
                Some(&format!("{schema}_h")),
                ca_bundle.as_deref(),
                "910075918",
            )
            .unwrap();
            let mut guard = helper.client().unwrap();
            let client = guard.as_mut().unwrap();
            client
                .batch_execute(&format!(
                    "CREATE SCHEMA {schema}; SET search_path = {schema}; {} \
                     CREATE TABLE efm_schema (version BIGINT NOT NULL); \
                     INSERT INTO efm_schema VALUES (1); \
                     INSERT INTO messages (direction, message_id, document_type, sender, receiver, status, created, last_update, sbd) \
                       VALUES ('INCOMING', 'm1', 'arkivmelding', '0192:910076787', '0192:910075918', 'INNKOMMENDE_MOTTATT', 't', 't', '{{}}'); \
                     INSERT INTO incoming_queue (message, enqueued) SELECT id, 't' FROM messages; \
                     INSERT INTO transfers (transfer_id, state, seen) VALUES ('t1', 'STORED', 't');",
                    pg::MIGRATIONS[0].sql
                ))
                .unwrap();
            let dir = tempfile::tempdir().unwrap();
            let a = Store::open_with(dir.path(), &setting, &org()).unwrap();
            let b_org = OrgNumber::parse("910076787").unwrap();
            let b = Store::open_with(dir.path(), &setting, &b_org).unwrap();
            let all = MessageFilter::default();
            assert_eq!(a.transaction(|tx| tx.messages(&all)).unwrap().len(), 1);
            assert!(b.transaction(|tx| tx.messages(&all)).unwrap().is_empty());
            assert!(a.transaction(|tx| tx.transfer("t1")).unwrap().is_some());
            assert!(b.transaction(|tx| tx.transfer("t1")).unwrap().is_none());
            let version: i64 = client
                .query_one(&format!("SELECT version FROM {schema}.efm_schema"), &[])
                .unwrap()
                .get(0);
            assert_eq!(version, pg::PG_SCHEMA_VERSION);
        }
    }

    #[test]
    fn a_failed_transaction_leaves_nothing() {
        for setting in test_settings() {
            a_failed_transaction_leaves_nothing_in(&setting);
        }
    }

    fn a_failed_transaction_leaves_nothing_in(setting: &StoreSetting) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), setting, &org()).unwrap();
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
        let store = Store::open_with(dir.path(), setting, &org()).unwrap();
        assert!(store
            .transaction(|tx| tx.message(Direction::Incoming, "m2"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn queue_locks_expire() {
        for setting in test_settings() {
            queue_locks_expire_in(&setting);
        }
    }

    fn queue_locks_expire_in(setting: &StoreSetting) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), setting, &org()).unwrap();
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
