//! Everything the sandbox remembers: organisations, Maskinporten clients, system users, Altinn 2
//! logins, used grant ids, file transfers (one store for both brokers), faults and the clock.

use openssl::pkey::{PKey, Public};
use openssl::x509::X509;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use time::OffsetDateTime;
use uuid::Uuid;

pub const DPO_RESOURCE: &str = "eformidling-dpo-meldingsutveksling";
pub const DPO_SERVICE_CODE: &str = "4192";
pub const DPO_SERVICE_EDITION: &str = "270815";
pub const GIB: u64 = 1 << 30;

#[derive(Clone)]
pub struct Org {
    pub orgnr: String,
    pub name: String,
    pub cert: X509,
}

/// A system user registered on a Maskinporten client (Altinn 3).
#[derive(Clone, Debug)]
pub struct SystemUserReg {
    /// 9-digit organisation number the system user acts for.
    pub org: String,
    pub external_ref: String,
    pub id: String,
    /// Whether the system user holds the access package for the DPO resource.
    pub has_access: bool,
}

#[derive(Clone)]
pub struct Client {
    pub client_id: String,
    pub orgnr: String,
    /// DER of the enterprise certificate allowed in `x5c`.
    pub certificates: Vec<Vec<u8>>,
    /// Registered keys for `kid` grants.
    pub keys: BTreeMap<String, PKey<Public>>,
    pub scopes: BTreeSet<String>,
    pub system_users: Vec<SystemUserReg>,
}

#[derive(Clone)]
pub struct Altinn2User {
    pub username: String,
    pub password: String,
    pub orgnr: String,
    /// Organisations that delegated the broker right to this user (besides its own).
    pub reportees: BTreeSet<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TransferStatus {
    Initialized,
    UploadStarted,
    UploadProcessing,
    Published,
    Cancelled,
    AllConfirmedDownloaded,
    Purged,
    Failed,
}

impl TransferStatus {
    pub const ALL: [TransferStatus; 8] = [
        TransferStatus::Initialized,
        TransferStatus::UploadStarted,
        TransferStatus::UploadProcessing,
        TransferStatus::Published,
        TransferStatus::Cancelled,
        TransferStatus::AllConfirmedDownloaded,
        TransferStatus::Purged,
        TransferStatus::Failed,
    ];
    pub fn name(self) -> &'static str {
        match self {
            TransferStatus::Initialized => "Initialized",
            TransferStatus::UploadStarted => "UploadStarted",
            TransferStatus::UploadProcessing => "UploadProcessing",
            TransferStatus::Published => "Published",
            TransferStatus::Cancelled => "Cancelled",
            TransferStatus::AllConfirmedDownloaded => "AllConfirmedDownloaded",
            TransferStatus::Purged => "Purged",
            TransferStatus::Failed => "Failed",
        }
    }
    pub fn number(self) -> u8 {
        match self {
            TransferStatus::Initialized => 0,
            TransferStatus::UploadStarted => 1,
            TransferStatus::UploadProcessing => 2,
            TransferStatus::Published => 3,
            TransferStatus::Cancelled => 4,
            TransferStatus::AllConfirmedDownloaded => 5,
            TransferStatus::Purged => 6,
            TransferStatus::Failed => 7,
        }
    }
    pub fn default_text(self) -> &'static str {
        match self {
            TransferStatus::Initialized => "Ready for upload",
            TransferStatus::UploadStarted => "Upload started",
            TransferStatus::UploadProcessing => "Processing upload",
            TransferStatus::Published => "Ready for download",
            TransferStatus::Cancelled => "FileTransfer cancelled",
            TransferStatus::AllConfirmedDownloaded => "All downloaded",
            TransferStatus::Purged => "FileTransfer has been purged",
            TransferStatus::Failed => "Upload failed",
        }
    }
    /// Case-insensitive name or number, as ASP.NET model binding accepts.
    pub fn parse(s: &str) -> Option<TransferStatus> {
        TransferStatus::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s) || t.number().to_string() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RecipientStatus {
    Initialized,
    DownloadStarted,
    DownloadConfirmed,
}

impl RecipientStatus {
    pub const ALL: [RecipientStatus; 3] = [
        RecipientStatus::Initialized,
        RecipientStatus::DownloadStarted,
        RecipientStatus::DownloadConfirmed,
    ];
    pub fn name(self) -> &'static str {
        match self {
            RecipientStatus::Initialized => "Initialized",
            RecipientStatus::DownloadStarted => "DownloadStarted",
            RecipientStatus::DownloadConfirmed => "DownloadConfirmed",
        }
    }
    pub fn text(self) -> &'static str {
        match self {
            RecipientStatus::Initialized => "Initialized",
            RecipientStatus::DownloadStarted => "Recipient has attempted to download fileTransfer",
            RecipientStatus::DownloadConfirmed => "Recipient has downloaded fileTransfer",
        }
    }
    pub fn parse(s: &str) -> Option<RecipientStatus> {
        RecipientStatus::ALL
            .into_iter()
            .enumerate()
            .find(|(i, r)| r.name().eq_ignore_ascii_case(s) || i.to_string() == s)
            .map(|(_, r)| r)
    }
}

#[derive(Clone, Debug)]
pub struct RecipientState {
    /// 9-digit organisation number.
    pub org: String,
    pub history: Vec<(RecipientStatus, OffsetDateTime)>,
}

impl RecipientState {
    pub fn latest(&self) -> (RecipientStatus, OffsetDateTime) {
        *self
            .history
            .last()
            .expect("recipient history is never empty")
    }
    /// The highest status reached, with when it was first reached.
    pub fn highest(&self) -> (RecipientStatus, OffsetDateTime) {
        let top = self.history.iter().map(|h| h.0).max().expect("non-empty");
        *self.history.iter().find(|h| h.0 == top).expect("present")
    }
    pub fn reached(&self, s: RecipientStatus) -> bool {
        self.history.iter().any(|h| h.0 == s)
    }
}

/// Which API created a transfer (both are served from the same store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Altinn3,
    Altinn2 {
        service_code: String,
        service_edition: String,
    },
}

#[derive(Clone, Debug)]
pub struct Transfer {
    pub id: Uuid,
    pub origin: Origin,
    pub resource_id: String,
    pub file_name: String,
    pub senders_reference: Option<String>,
    /// The sender exactly as given at initialize.
    pub sender: String,
    /// 9-digit organisation number of the sender.
    pub sender_org: String,
    pub recipients: Vec<RecipientState>,
    pub property_list: serde_json::Map<String, Value>,
    pub checksum: Option<String>,
    pub use_virus_scan: bool,
    pub size: u64,
    pub status_history: Vec<(TransferStatus, OffsetDateTime, Option<String>)>,
    pub created: OffsetDateTime,
    pub expiration: OffsetDateTime,
    pub file_path: Option<PathBuf>,
    /// When the simulated virus scan finishes.
    pub processing_until: Option<OffsetDateTime>,
    /// Set by a malware fault: the scan will fail.
    pub malware: bool,
    pub purge_at: Option<OffsetDateTime>,
    /// Altinn 2 receipt id (a number per transfer).
    pub receipt_id: u32,
}

impl Transfer {
    pub fn status(&self) -> TransferStatus {
        self.status_history.last().expect("non-empty").0
    }
    pub fn status_changed(&self) -> OffsetDateTime {
        self.status_history.last().expect("non-empty").1
    }
    pub fn status_text(&self) -> String {
        let last = self.status_history.last().expect("non-empty");
        last.2
            .clone()
            .unwrap_or_else(|| last.0.default_text().to_string())
    }
    /// When the transfer last entered a status.
    pub fn entered(&self, s: TransferStatus) -> Option<OffsetDateTime> {
        self.status_history
            .iter()
            .rev()
            .find(|h| h.0 == s)
            .map(|h| h.1)
    }
    pub fn set_status(&mut self, s: TransferStatus, at: OffsetDateTime, text: Option<String>) {
        self.status_history.push((s, at, text));
    }
    pub fn recipient_mut(&mut self, org: &str) -> Option<&mut RecipientState> {
        self.recipients.iter_mut().find(|r| r.org == org)
    }
    pub fn recipient(&self, org: &str) -> Option<&RecipientState> {
        self.recipients.iter().find(|r| r.org == org)
    }
    pub fn is_recipient(&self, org: &str) -> bool {
        self.recipient(org).is_some()
    }
}

/// Tunables an admin can change at run time.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Simulated virus-scan time after upload; 0 publishes at once.
    pub virus_scan_delay_ms: u64,
    pub max_file_size: u64,
    pub ttl_secs: i64,
    pub purge_grace_secs: i64,
    /// 204 as the broker's code does, or 200 as its documentation says.
    pub confirm_status: u16,
    /// Access token lifetime.
    pub token_lifetime_secs: i64,
    /// Accept raw Maskinporten tokens at the broker (the real one does).
    pub broker_accepts_maskinporten_tokens: bool,
    /// Apply the broker's per-client, per-endpoint rate limits (429 + Retry-After).
    pub rate_limits: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            virus_scan_delay_ms: 1000,
            max_file_size: GIB,
            ttl_secs: 30 * 86_400,
            purge_grace_secs: 24 * 3600,
            confirm_status: 204,
            token_lifetime_secs: 120,
            broker_accepts_maskinporten_tokens: true,
            rate_limits: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum FaultKind {
    /// Answer with this status (and body) instead of running the endpoint.
    Status { status: u16, body: Option<String> },
    /// 429 with `Retry-After`.
    RateLimit { retry_after_secs: u64 },
    /// Send part of the response body, then drop the connection.
    DropMidBody { after_bytes: u64 },
    /// Wait before answering.
    Slow { delay_ms: u64 },
    /// The next upload matching the path fails the virus scan.
    Malware,
}

#[derive(Clone, Debug)]
pub struct Fault {
    pub id: u64,
    /// Matches a request whose path starts with this...
    pub path_prefix: String,
    /// ...and, when given, ends with this (`/upload`: the upload of any transfer).
    pub path_suffix: Option<String>,
    pub method: Option<String>,
    pub kind: FaultKind,
    /// How many more requests it hits; None = until removed.
    pub remaining: Option<u32>,
    pub hits: u64,
}

impl Fault {
    pub fn to_json(&self) -> Value {
        let kind = match &self.kind {
            FaultKind::Status { status, body } => {
                json!({"kind":"status","status":status,"body":body})
            }
            FaultKind::RateLimit { retry_after_secs } => {
                json!({"kind":"rate_limit","retry_after":retry_after_secs})
            }
            FaultKind::DropMidBody { after_bytes } => {
                json!({"kind":"drop","after_bytes":after_bytes})
            }
            FaultKind::Slow { delay_ms } => json!({"kind":"slow","delay_ms":delay_ms}),
            FaultKind::Malware => json!({"kind":"malware"}),
        };
        let mut v = json!({"id": self.id, "path": self.path_prefix, "path_suffix": self.path_suffix, "method": self.method,
            "remaining": self.remaining, "hits": self.hits});
        if let (Some(o), Value::Object(k)) = (v.as_object_mut(), kind) {
            o.extend(k);
        }
        v
    }
}

#[derive(Default)]
pub struct State {
    pub orgs: BTreeMap<String, Org>,
    pub clients: BTreeMap<String, Client>,
    pub altinn2_users: BTreeMap<String, Altinn2User>,
    /// jti → the grant's exp, kept until it expires.
    pub used_jti: HashMap<String, i64>,
    pub clock_offset_secs: i64,
    pub settings: Settings,
    pub faults: Vec<Fault>,
    pub next_fault_id: u64,
    pub transfers: BTreeMap<Uuid, Transfer>,
    pub next_receipt_id: u32,
    /// Broker calls per (client, endpoint) in the current minute: (minute start, count).
    pub rate_counters: HashMap<(String, &'static str), (i64, u32)>,
}

impl State {
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + time::Duration::seconds(self.clock_offset_secs)
    }

    /// Move transfers along with the clock: finish virus scans, expire and purge.
    pub fn tick(&mut self) {
        let now = self.now();
        for t in self.transfers.values_mut() {
            if t.status() == TransferStatus::UploadProcessing {
                if let Some(done) = t.processing_until {
                    if done <= now {
                        if t.malware {
                            t.set_status(
                                TransferStatus::Failed,
                                done,
                                Some(
                                    "Malware scan failed: Malware detected (efm-sandbox fault)"
                                        .into(),
                                ),
                            );
                            remove_file(t);
                        } else {
                            t.set_status(TransferStatus::Published, done, None);
                        }
                    }
                }
            }
            if t.status() != TransferStatus::Purged {
                let purge_due = t.purge_at.is_some_and(|p| p <= now);
                if t.expiration <= now || purge_due {
                    let at = if purge_due {
                        t.purge_at.unwrap_or(now)
                    } else {
                        t.expiration
                    };
                    t.set_status(TransferStatus::Purged, at.min(now), None);
                    remove_file(t);
                }
            }
        }
        self.used_jti
            .retain(|_, exp| *exp + 60 > now.unix_timestamp());
    }

    /// The first fault matching this request (and counts the hit).
    pub fn take_fault(
        &mut self,
        method: &str,
        path: &str,
        want_malware: bool,
    ) -> Option<FaultKind> {
        let idx = self.faults.iter().position(|f| {
            path.starts_with(&f.path_prefix)
                && f.path_suffix.as_deref().is_none_or(|s| path.ends_with(s))
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && (f.kind == FaultKind::Malware) == want_malware
        })?;
        let f = &mut self.faults[idx];
        f.hits += 1;
        let kind = f.kind.clone();
        if let Some(r) = f.remaining.as_mut() {
            *r = r.saturating_sub(1);
            if *r == 0 {
                self.faults.remove(idx);
            }
        }
        Some(kind)
    }

    /// May this Altinn 2 user act for `org`?
    pub fn altinn2_may_act_for(&self, user: &Altinn2User, org: &str) -> bool {
        user.orgnr == org || user.reportees.contains(org)
    }
}

fn remove_file(t: &mut Transfer) {
    if let Some(p) = t.file_path.take() {
        let _ = std::fs::remove_file(p);
    }
}

/// ISO-8601 with offset, as System.Text.Json writes a DateTimeOffset.
pub fn iso(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// An organisation number from a 9-digit string or an ISO 6523 `0192:`/urn form; None if malformed.
pub fn org_of(id: &str) -> Option<String> {
    let digits = id
        .strip_prefix("urn:altinn:organization:identifier-no:")
        .or_else(|| id.split_once(':').map(|(_, d)| d))
        .unwrap_or(id);
    (digits.len() == 9 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.to_string())
}
