//! [`Sbd::check_received`]: what a receiver refuses, which is exactly what the integration point
//! refuses on receive, and nothing more.
//!
//! The IP does not validate a received SBD against its model's constraints (those run when an
//! archive system *sends*). It refuses a package only where its code stops (IP
//! `DefaultDpoPolling.handleFileReference`, `NextMoveQueueImpl.enqueueIncomingMessage`,
//! efm-common `StandardBusinessDocumentHeader`, `PartnerIdentifier.of`, `Iso6523.parse`):
//!
//! - `documentIdentification.instanceIdentifier` (messageId) and the ConversationId scope's
//!   `instanceIdentifier` must pass Java's `UUID.fromString` (otherwise it confirms and discards);
//! - the sender and the receiver must be partner identifiers it can parse (authority
//!   `iso6523-actorid-upis`; `<4-digit ICD>:<id>[:<part>][:<digit>]`, 9 digits, 11 digits or a
//!   UUID), or building the message info throws;
//! - a message other than `status` needs the process (ConversationId scope `identifier`);
//! - timestamps must be ISO date-times (Jackson).
//!
//! Everything else [`Sbd::validate`] checks (check digits, the `0192:` prefix, headerVersion,
//! `standard`, the message channel's form, `sikkerhetsnivaa` 3 or 4, a missing TTL, unknown
//! scope types) the IP lets through: here it becomes a warning stored with the message.

use super::*;

/// Whether Java's `UUID.fromString` (JDK 17 and later) takes `s`: at most 36 characters, five
/// groups of hex digits separated by `-`, each group parsed by `Long.parseLong(.., 16)` (so
/// short groups such as `1-2-3-4-5`, and a leading `+`, pass).
pub fn java_uuid_accepts(s: &str) -> bool {
    if s.len() > 36 {
        return false;
    }
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups.iter().all(|g| {
            let digits = g.strip_prefix('+').unwrap_or(g);
            !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_hexdigit())
                // Within a signed 64-bit long.
                && (digits.len() < 16 || (digits.len() == 16 && digits.as_bytes()[0] < b'8'))
        })
}

/// The ISO 6523 ICD codes efm-common's `ICD` enum knows; `Iso6523.parse` refuses any other (the
/// legacy Norwegian `9908` included).
const IP_KNOWN_ICDS: &[&str] = &[
    "0002", "0007", "0009", "0028", "0037", "0060", "0088", "0096", "0097", "0106", "0135", "0142",
    "0184", "0191", "0192", "0195", "9901", "9902", "9904", "9905", "9906", "9907", "9909", "9910",
    "9912", "9913", "9914", "9915", "9916", "9917", "9918", "9919", "9920", "9921", "9922", "9923",
    "9924", "9925", "9926", "9927", "9928", "9929", "9930", "9931", "9932", "9933", "9934", "9935",
    "9936", "9937", "9938", "9939", "9940", "9941", "9942", "9943", "9944", "9945", "9946", "9947",
    "9948", "9949", "9950", "9951", "9952", "9953", "9954", "9955", "9956", "9957", "9958",
];

/// Whether efm-common's `PartnerIdentifier.of(value, "iso6523-actorid-upis")` parses `value`:
/// an ISO 6523 identifier, a bare Norwegian organisation number, a national identity number or
/// a FIKS IO account (UUID).
fn ip_parses_identifier(value: &str) -> bool {
    let component = |s: &str, inner_space: bool| {
        (1..=35).contains(&s.len())
            && !s.contains(':')
            && (inner_space || !s.chars().any(char::is_whitespace))
    };
    let mut parts = value.split(':');
    let iso6523 = match (parts.next(), parts.next()) {
        (Some(icd), Some(org)) => {
            let rest: Vec<&str> = parts.collect();
            IP_KNOWN_ICDS.contains(&icd)
                && component(org, true)
                && match rest.as_slice() {
                    [] => true,
                    [part] => component(part, false),
                    [part, source] => {
                        component(part, false)
                            && source.len() == 1
                            && source.bytes().all(|b| b.is_ascii_digit())
                    }
                    _ => false,
                }
        }
        _ => false,
    };
    let digits = |n: usize| value.len() == n && value.bytes().all(|b| b.is_ascii_digit());
    iso6523 || digits(9) || digits(11) || Uuid::parse_str(value).is_ok_and(|_| value.len() == 36)
}

fn check_ip_party(partners: &[Partner], which: &str) -> Result<()> {
    let base = format!("standardBusinessDocumentHeader.{which}[0].identifier");
    let id = &partners
        .first()
        .ok_or_else(|| invalid(base.clone(), format!("the SBD has no {which}")))?
        .identifier;
    if id.authority != AUTHORITY {
        return Err(invalid(
            format!("{base}.authority"),
            format!(
                "{which} authority is {:?}; the integration point knows only {AUTHORITY:?} for DPO",
                id.authority
            ),
        ));
    }
    if !ip_parses_identifier(&id.value) {
        return Err(invalid(
            format!("{base}.value"),
            format!(
                "{which} {:?} is not an identifier the integration point can read",
                id.value
            ),
        ));
    }
    Ok(())
}

fn check_ip_timestamp(value: Option<&str>, field: String) -> Result<()> {
    match value {
        Some(t) => parse_timestamp(t)
            .map(|_| ())
            .map_err(|e| invalid(field, e.message().to_string())),
        None => Ok(()),
    }
}

impl Sbd {
    /// Check a received SBD as the integration point does before it queues a message (see the
    /// module notes). `Err` for what makes the IP refuse it; otherwise the warnings: every
    /// problem [`Sbd::validate`] would have refused, as `field: message` lines.
    pub fn check_received(&self) -> Result<Vec<String>> {
        let h = &self.header;
        let di = &h.document_identification;
        let di_field = "standardBusinessDocumentHeader.documentIdentification";
        let message_id = di.instance_identifier.as_deref().unwrap_or_default();
        if !java_uuid_accepts(message_id) {
            return Err(invalid(
                format!("{di_field}.instanceIdentifier"),
                format!("messageId {message_id:?} is not a UUID"),
            ));
        }
        let sfield = "standardBusinessDocumentHeader.businessScope.scope";
        let Some(conv) = self.scope(ScopeKind::ConversationId) else {
            return Err(invalid(sfield, "the ConversationId scope is missing"));
        };
        let conversation_id = conv.instance_identifier.as_deref().unwrap_or_default();
        if !java_uuid_accepts(conversation_id) {
            return Err(invalid(
                format!("{sfield}.instanceIdentifier"),
                format!("conversationId {conversation_id:?} is not a UUID"),
            ));
        }
        check_ip_party(&h.sender, "sender")?;
        check_ip_party(&h.receiver, "receiver")?;
        if !matches!(self.message, BusinessMessage::Status(_))
            && conv.identifier.as_deref().is_none_or(str::is_empty)
        {
            return Err(invalid(
                format!("{sfield}.identifier"),
                "the process (ConversationId scope identifier) is missing",
            ));
        }
        check_ip_timestamp(
            di.creation_date_and_time.as_deref(),
            format!("{di_field}.creationDateAndTime"),
        )?;
        for (i, s) in h.business_scope.scope.iter().enumerate() {
            for (j, c) in s.scope_information.iter().enumerate() {
                let at = format!("{sfield}[{i}].scopeInformation[{j}]");
                check_ip_timestamp(
                    c.expected_response_date_time.as_deref(),
                    format!("{at}.expectedResponseDateTime"),
                )?;
                check_ip_timestamp(
                    c.requesting_document_creation_date_time.as_deref(),
                    format!("{at}.requestingDocumentCreationDateTime"),
                )?;
            }
        }
        Ok(self
            .issues(&ValidationOptions::default())
            .iter()
            .map(|e| match e.detail().field.as_deref() {
                Some(f) => format!("{f}: {}", e.message()),
                None => e.message().to_string(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_uuid_rules() {
        for ok in [
            "4e7a4c1e-5b8f-4f4e-9a2c-0c1d2e3f4a5b",
            "4E7A4C1E-5B8F-4F4E-9A2C-0C1D2E3F4A5B",
            "1-2-3-4-5",
            "+1-2-3-4-5",
        ] {
            assert!(java_uuid_accepts(ok), "{ok}");
        }
        for bad in [
            "",
            "not-a-uuid",
            "4e7a4c1e5b8f4f4e9a2c0c1d2e3f4a5b",
            "{4e7a4c1e-5b8f-4f4e-9a2c-0c1d2e3f4a5b}",
            "urn:uuid:4e7a4c1e-5b8f-4f4e-9a2c-0c1d2e3f4a5b",
            "1--3-4-5",
            "1-2-3-4-5-6",
            "4e7a4c1e-5b8f-4f4e-9a2c-0c1d2e3f4a5b0",
        ] {
            assert!(!java_uuid_accepts(bad), "{bad}");
        }
    }

    #[test]
    fn identifiers_the_ip_reads() {
        for ok in [
            "0192:910075918",
            "0192:910075918:kommune",
            "0192:910075918:kommune:1",
            "0184:12345678",
            "910075918",
            "01017012345",
            "4e7a4c1e-5b8f-4f4e-9a2c-0c1d2e3f4a5b",
            "0192:123",
        ] {
            assert!(ip_parses_identifier(ok), "{ok}");
        }
        for bad in [
            "",
            "0192:",
            "192:910075918",
            "9908:910075918",
            "0192:a:b:c:d",
            "0192:9:p q",
            "abc",
        ] {
            assert!(!ip_parses_identifier(bad), "{bad}");
        }
    }
}
