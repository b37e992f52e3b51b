//! Which statuses and receipts count: only those from the organisation a message went to, as the
//! broker authenticated the sender of the transfer that carried them.
//!
//! An SBD's `sender` is whatever its writer typed. The broker, however, lets an organisation
//! upload only as itself (Altinn 3 checks the system user's right to act for `sender` when the
//! transfer is initialized; Altinn 2 checks the Reportee), and reports that sender with every
//! transfer (Altinn 3 file transfer overview `sender`, Altinn 2 `BrokerServiceAvailableFile`
//! `Reportee`). So organisation C can write an SBD claiming to be B, but the broker still says C.
//! (The integration point registers any status by messageId alone; efm is stricter here on
//! purpose: a forged LEVERT would tell an archive that a message arrived when it did not.)
//!
//! What is not applied is kept visible: an IGNORED quarantine entry, and a warning on our
//! message when there is one.

use super::super::Direction;
use crate::error::Result;
use crate::sbd::ReceiptStatus;
use crate::store::{NewQuarantine, QuarantineKind, Tx};

/// Who sent a status: the broker's word (when known) and the SBD's claim.
pub(super) struct Sender<'a> {
    pub authenticated: Option<&'a str>,
    pub claimed: &'a str,
}

impl Sender<'_> {
    /// The sender to judge by: the broker's; the SBD's only for a transfer whose broker sender
    /// was never recorded (one an older efm began to download).
    fn effective(&self) -> &str {
        self.authenticated.unwrap_or(self.claimed)
    }
}

/// The organisation number in an SBD party identifier (`0192:<orgnr>[:<on behalf of>]`).
pub(in crate::client) fn primary_org(identifier: &str) -> &str {
    let rest = identifier.strip_prefix("0192:").unwrap_or(identifier);
    rest.split(':').next().unwrap_or(rest)
}

/// Apply a status from the receiver to our outgoing message (idempotent per status value), if
/// it comes from the organisation we sent the message to. Returns whether it was applied;
/// otherwise it is recorded as IGNORED (with `package`, the transfer and its kept file, when the
/// status came as a package of its own).
pub(super) fn apply_to_outgoing(
    tx: &Tx<'_>,
    from: &Sender<'_>,
    message_id: &str,
    status: ReceiptStatus,
    description: Option<&str>,
    package: Option<(&str, &str)>,
    now: time::OffsetDateTime,
) -> Result<bool> {
    let sender = from.effective();
    let why = match tx.message(Direction::Outgoing, message_id)? {
        None => format!(
            "a {} status from {sender} is about message {message_id}, which this organisation did not send",
            status.name()
        ),
        Some(m) if primary_org(&m.receiver) != primary_org(sender) => {
            let claim = if primary_org(from.claimed) != primary_org(sender) {
                format!(" (its SBD claims to come from {})", from.claimed)
            } else {
                String::new()
            };
            let why = format!(
                "a {} status for message {message_id} was sent by {sender}{claim}, not by its receiver {}",
                status.name(),
                m.receiver
            );
            tx.add_warnings(
                Direction::Outgoing,
                message_id,
                &[format!("ignored: {why}")],
            )?;
            why
        }
        Some(_) => {
            tx.add_status(
                Direction::Outgoing,
                message_id,
                status,
                description,
                now,
                false,
            )?;
            return Ok(true);
        }
    };
    let (transfer_id, payload) = package.unzip();
    tx.add_quarantine(
        &NewQuarantine {
            kind: QuarantineKind::Ignored,
            transfer_id,
            message_id: Some(message_id),
            sender: from.authenticated,
            reason: &why,
            code: crate::error::ErrorKind::InvalidMessage.code(),
            payload,
            size: None,
        },
        now,
    )?;
    Ok(false)
}

/// The description the IP records with the status a kvittering causes.
pub(super) fn kvittering_text(k: &crate::sbd::ArkivmeldingKvittering) -> String {
    let mut text = format!("ArkivmeldingKvittering: {}", k.receipt_type);
    let details: Vec<String> = k
        .messages
        .iter()
        .filter_map(|m| match (&m.code, &m.text) {
            (Some(c), Some(t)) => Some(format!("{c}: {t}")),
            (Some(x), None) | (None, Some(x)) => Some(x.clone()),
            (None, None) => None,
        })
        .collect();
    if !details.is_empty() {
        text.push_str(&format!(" ({})", details.join("; ")));
    }
    text
}
