//! [`Sbd::validate`]: the field-level checks receivers run, naming the offending field.

use super::*;

/// How strict [`Sbd::validate`] is.
#[derive(Debug, Clone)]
pub struct ValidationOptions {
    /// Check the mod-11 digit of organisation numbers (our addition; the IP only checks 9 digits).
    pub check_digits: bool,
    /// Require expectedResponseDateTime (the IP always sets it on the wire).
    pub require_ttl: bool,
}

impl Default for ValidationOptions {
    fn default() -> Self {
        ValidationOptions {
            check_digits: true,
            require_ttl: true,
        }
    }
}

fn check_uuid(value: Option<&str>, field: &str, what: &str) -> Result<()> {
    let v = value.ok_or_else(|| invalid(field, format!("{what} is missing")))?;
    Uuid::parse_str(v)
        .map(|_| ())
        .map_err(|_| invalid(field, format!("{what} {v:?} is not a UUID")))
}

fn check_party(partners: &[Partner], which: &str, opts: &ValidationOptions) -> Result<()> {
    let base = format!("standardBusinessDocumentHeader.{which}");
    match partners.len() {
        1 => {}
        0 => return Err(invalid(base, format!("the SBD has no {which}"))),
        n => {
            return Err(invalid(
                base,
                format!("the SBD has {n} {which}s; at most one is allowed"),
            ))
        }
    }
    let id = &partners[0].identifier;
    if id.authority != AUTHORITY {
        return Err(invalid(
            format!("{base}[0].identifier.authority"),
            format!(
                "{which} authority is {:?}, expected {AUTHORITY:?}",
                id.authority
            ),
        ));
    }
    let field = format!("{base}[0].identifier.value");
    let Some(rest) = id.value.strip_prefix("0192:") else {
        return Err(invalid(
            field,
            format!(
                "{which} {:?} is not a Norwegian ISO 6523 identifier; expected \"0192:<orgnr>\" (the legacy ICD 9908 and bare numbers are not accepted)",
                id.value
            ),
        ));
    };
    let mut parts = rest.split(':');
    let primary = parts.next().unwrap_or_default();
    if primary.len() != 9 || !primary.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            field,
            format!(
                "{which} {:?}: the organisation number must be 9 digits",
                id.value
            ),
        ));
    }
    if opts.check_digits {
        OrgNumber::parse(primary)
            .map_err(|e| invalid(field.clone(), format!("{which}: {}", e.message())))?;
    }
    if parts.any(|p| p.is_empty() || p.len() > 35) {
        return Err(invalid(
            field,
            format!("{which} {:?} has an empty or over-long part", id.value),
        ));
    }
    Ok(())
}

impl Sbd {
    /// Validate as a receiver does (spec 5.3, 8.1-8.2, 10): every error names the field.
    pub fn validate(&self, opts: &ValidationOptions) -> Result<()> {
        let h = &self.header;
        let di = &h.document_identification;
        if h.header_version.is_empty() {
            return Err(invalid(
                "standardBusinessDocumentHeader.headerVersion",
                "headerVersion is missing",
            ));
        }
        check_party(&h.sender, "sender", opts)?;
        check_party(&h.receiver, "receiver", opts)?;
        let di_field = "standardBusinessDocumentHeader.documentIdentification";
        // Types are matched without regard to case (spec C.2), as when parsing.
        if !di
            .standard
            .to_ascii_lowercase()
            .ends_with(&format!("::{}", di.type_name.to_ascii_lowercase()))
        {
            return Err(invalid(
                format!("{di_field}.standard"),
                format!(
                    "standard {:?} does not end with \"::{}\" (the type)",
                    di.standard, di.type_name
                ),
            ));
        }
        check_uuid(
            di.instance_identifier.as_deref(),
            &format!("{di_field}.instanceIdentifier"),
            "messageId",
        )?;
        if let Some(t) = &di.creation_date_and_time {
            parse_timestamp(t).map_err(|e| {
                invalid(
                    format!("{di_field}.creationDateAndTime"),
                    e.message().to_string(),
                )
            })?;
        }
        let scopes = &h.business_scope.scope;
        let sfield = "standardBusinessDocumentHeader.businessScope.scope";
        for (i, s) in scopes.iter().enumerate() {
            let known = SCOPE_TYPES.iter().any(|t| *t == s.scope_type)
                || [
                    ScopeKind::ConversationId,
                    ScopeKind::SenderRef,
                    ScopeKind::ReceiverRef,
                    ScopeKind::JournalpostId,
                    ScopeKind::MessageChannel,
                    ScopeKind::ParentId,
                ]
                .iter()
                .any(|k| k.matches(&s.scope_type));
            if !known {
                return Err(invalid(
                    format!("{sfield}[{i}].type"),
                    format!(
                        "unknown scope type {:?} (allowed: {SCOPE_TYPES:?})",
                        s.scope_type
                    ),
                ));
            }
        }
        let conv: Vec<(usize, &Scope)> = scopes
            .iter()
            .enumerate()
            .filter(|(_, s)| ScopeKind::ConversationId.matches(&s.scope_type))
            .collect();
        let (ci, conv) = match conv.as_slice() {
            [one] => *one,
            [] => return Err(invalid(sfield, "the ConversationId scope is missing")),
            _ => return Err(invalid(sfield, "more than one ConversationId scope")),
        };
        check_uuid(
            conv.instance_identifier.as_deref(),
            &format!("{sfield}[{ci}].instanceIdentifier"),
            "conversationId",
        )?;
        if conv.identifier.as_deref().is_none_or(str::is_empty) {
            return Err(invalid(
                format!("{sfield}[{ci}].identifier"),
                "the process (ConversationId scope identifier) is missing",
            ));
        }
        let ttl_field = format!("{sfield}[{ci}].scopeInformation[0].expectedResponseDateTime");
        match self.expected_response_date_time() {
            Some(t) => {
                parse_timestamp(t).map_err(|e| invalid(ttl_field, e.message().to_string()))?;
            }
            None if opts.require_ttl => {
                return Err(invalid(ttl_field, "expectedResponseDateTime is missing"))
            }
            None => {}
        }
        for (i, s) in scopes.iter().enumerate() {
            if ScopeKind::MessageChannel.matches(&s.scope_type) {
                let ok = s.identifier.as_deref().is_some_and(|c| {
                    c.len() <= 25
                        && c.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                });
                if !ok {
                    return Err(invalid(
                        format!("{sfield}[{i}].identifier"),
                        "the message channel must be 1-25 characters of [a-zA-Z0-9_-]",
                    ));
                }
            }
        }
        // The IP validates a SenderRef as a UUID (spec C.2): one that is not would be refused there.
        for (i, s) in scopes.iter().enumerate() {
            if ScopeKind::SenderRef.matches(&s.scope_type) {
                if let Some(v) = s.instance_identifier.as_deref().filter(|v| !v.is_empty()) {
                    check_uuid(
                        Some(v),
                        &format!("{sfield}[{i}].instanceIdentifier"),
                        "SenderRef",
                    )?;
                }
            }
        }
        if let BusinessMessage::ArkivmeldingKvittering(k) = &self.message {
            check_uuid(
                Some(&k.related_to_message_id),
                "arkivmelding_kvittering.relatedToMessageId",
                "relatedToMessageId",
            )?;
            if k.receipt_type.is_empty() {
                return Err(invalid(
                    "arkivmelding_kvittering.receiptType",
                    "receiptType is missing",
                ));
            }
        }
        if let BusinessMessage::Arkivmelding(a) = &self.message {
            if let Some(n) = a.sikkerhetsnivaa {
                if n != 3 && n != 4 {
                    return Err(invalid(
                        "arkivmelding.sikkerhetsnivaa",
                        format!("sikkerhetsnivaa is {n}, expected 3 or 4"),
                    ));
                }
            }
        }
        Ok(())
    }
}
