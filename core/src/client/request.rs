//! Checks on a [`SendRequest`] before anything is recorded: numbers in range, strings that can
//! cross the C ABI, documents that are regular files. serde already refused unknown members and
//! wrong types (`deny_unknown_fields`); these are the rules a type cannot say.

use super::SendRequest;
use crate::error::{Error, ErrorKind, Result};
use crate::input::{no_nul, quote};

/// The longest lifetime a message may ask for (`ttl_secs`): ten years. Long enough for any
/// process, short enough that `now + ttl` can never overflow a timestamp.
pub const MAX_TTL_SECS: i64 = 10 * 366 * 24 * 60 * 60;

impl SendRequest {
    /// Refuse what cannot be sent as asked, naming the member at fault.
    pub fn check(&self) -> Result<()> {
        if let Some(ttl) = self.ttl_secs {
            if !(1..=MAX_TTL_SECS).contains(&ttl) {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("\"ttl_secs\" must be between 1 and {MAX_TTL_SECS} (ten years)"),
                )
                .with_field("ttl_secs"));
            }
        }
        for (field, value) in [
            ("receiver", &self.receiver),
            ("process", &self.process),
            ("conversation_id", &self.conversation_id),
            ("message_id", &self.message_id),
            ("hoveddokument", &self.hoveddokument),
            ("sender_ref", &self.sender_ref),
            ("receiver_ref", &self.receiver_ref),
        ] {
            if let Some(v) = value {
                no_nul(v, field)?;
            }
        }
        for (i, d) in self.documents.iter().enumerate() {
            let field = format!("documents[{i}]");
            no_nul(&d.name, &format!("{field}.name"))?;
            let shown = quote(&d.path.to_string_lossy());
            if d.path.to_string_lossy().contains('\0') {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("\"{field}.path\" contains a NUL character"),
                )
                .with_field(format!("{field}.path")));
            }
            // Following symlinks: a link to a regular file is fine, to a device or FIFO is not.
            let meta = std::fs::metadata(&d.path).map_err(|e| {
                Error::io(format!("document {shown} ({field}.path)"), e)
                    .with_field(format!("{field}.path"))
            })?;
            if !meta.is_file() {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "document {shown} ({field}.path) is not a regular file (a directory, device or pipe); give the path of a file"
                    ),
                )
                .with_field(format!("{field}.path")));
            }
        }
        Ok(())
    }
}
