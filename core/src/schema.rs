//! The JSON Schemas of everything that crosses the C ABI as JSON, generated from the Rust types
//! that read or write it. The committed copies live in the repository's `schema/` folder;
//! `tests/schema_drift.rs` fails when they differ from these (`EFM_UPDATE_SCHEMA=1` rewrites them).

use crate::client::{
    IncomingMessage, MessageFilter, MessageInfo, OpenedMessage, PollSummary, QuarantineEntry,
    RetryOutcome, SendRequest, StatusEntry, WorkSummary,
};
use crate::config::{Config, ConfigSummary};
use crate::error::ErrorDetail;
use crate::registry::Capabilities;
use schemars::{schema_for, Schema};

/// (file stem, schema) for every request and answer, in the order the header lists the calls.
pub fn all() -> Vec<(&'static str, Schema)> {
    vec![
        // requests
        ("config", Config::json_schema()),
        ("send_request", schema_for!(SendRequest)),
        ("message_filter", schema_for!(MessageFilter)),
        // answers
        ("config_summary", schema_for!(ConfigSummary)),
        ("capabilities", schema_for!(Capabilities)),
        ("message_info", schema_for!(MessageInfo)),
        ("poll_summary", schema_for!(PollSummary)),
        ("incoming_message", schema_for!(IncomingMessage)),
        ("opened_message", schema_for!(OpenedMessage)),
        ("status_history", schema_for!(Vec<StatusEntry>)),
        ("message_list", schema_for!(Vec<MessageInfo>)),
        ("expired_ids", schema_for!(Vec<String>)),
        ("work_summary", schema_for!(WorkSummary)),
        ("quarantine_list", schema_for!(Vec<QuarantineEntry>)),
        ("retry_outcome", schema_for!(RetryOutcome)),
        // efm_error_detail_json
        ("error_detail", schema_for!(ErrorDetail)),
    ]
}

/// One schema as committed: pretty JSON with a final newline.
pub fn render(schema: &Schema) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}
