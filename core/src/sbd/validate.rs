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
    /// Validate strictly, as efm sends (the IP's rules: efm-common's SBD deserializer,
    /// `NextMoveValidator`, the UUID checks of `DefaultDpoPolling`): the first problem, naming the
    /// field. Receivers use [`Sbd::check_received`], which refuses only what the IP refuses.
    pub fn validate(&self, opts: &ValidationOptions) -> Result<()> {
        match self.issues(opts).into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Every problem [`Sbd::validate`] would report, in document order.
    pub fn issues(&self, opts: &ValidationOptions) -> Vec<Error> {
        let mut out = Vec::new();
        let h = &self.header;
        let di = &h.document_identification;
        if h.header_version.is_empty() {
            out.push(invalid(
                "standardBusinessDocumentHeader.headerVersion",
                "headerVersion is missing",
            ));
        }
        out.extend(check_party(&h.sender, "sender", opts).err());
        out.extend(check_party(&h.receiver, "receiver", opts).err());
        let di_field = "standardBusinessDocumentHeader.documentIdentification";
        // Types are matched without regard to case (IP `BusinessMessageType.fromType`), as when
        // parsing.
        if !di
            .standard
            .to_ascii_lowercase()
            .ends_with(&format!("::{}", di.type_name.to_ascii_lowercase()))
        {
            out.push(invalid(
                format!("{di_field}.standard"),
                format!(
                    "standard {:?} does not end with \"::{}\" (the type)",
                    di.standard, di.type_name
                ),
            ));
        }
        out.extend(
            check_uuid(
                di.instance_identifier.as_deref(),
                &format!("{di_field}.instanceIdentifier"),
                "messageId",
            )
            .err(),
        );
        if let Some(t) = &di.creation_date_and_time {
            if let Err(e) = parse_timestamp(t) {
                out.push(invalid(
                    format!("{di_field}.creationDateAndTime"),
                    e.message().to_string(),
                ));
            }
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
                out.push(invalid(
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
        match conv.as_slice() {
            [] => out.push(invalid(sfield, "the ConversationId scope is missing")),
            [(ci, conv), rest @ ..] => {
                if !rest.is_empty() {
                    out.push(invalid(sfield, "more than one ConversationId scope"));
                }
                out.extend(
                    check_uuid(
                        conv.instance_identifier.as_deref(),
                        &format!("{sfield}[{ci}].instanceIdentifier"),
                        "conversationId",
                    )
                    .err(),
                );
                if conv.identifier.as_deref().is_none_or(str::is_empty) {
                    out.push(invalid(
                        format!("{sfield}[{ci}].identifier"),
                        "the process (ConversationId scope identifier) is missing",
                    ));
                }
                let ttl_field =
                    format!("{sfield}[{ci}].scopeInformation[0].expectedResponseDateTime");
                match self.expected_response_date_time() {
                    Some(t) => {
                        if let Err(e) = parse_timestamp(t) {
                            out.push(invalid(ttl_field, e.message().to_string()));
                        }
                    }
                    None if opts.require_ttl => {
                        out.push(invalid(ttl_field, "expectedResponseDateTime is missing"))
                    }
                    None => {}
                }
            }
        }
        for (i, s) in scopes.iter().enumerate() {
            if ScopeKind::MessageChannel.matches(&s.scope_type) {
                let ok = s.identifier.as_deref().is_some_and(|c| {
                    c.len() <= 25
                        && c.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                });
                if !ok {
                    out.push(invalid(
                        format!("{sfield}[{i}].identifier"),
                        "the message channel must be 1-25 characters of [a-zA-Z0-9_-]",
                    ));
                }
            }
        }
        // SenderRef and ReceiverRef are free text (archive systems put case numbers such as
        // "2024/1234-5" there): since MOVE-2799 the IP checks only the ConversationId scope
        // (`SbdScopeConditionalInstanceIdentifierUuidValidator`).
        if let BusinessMessage::ArkivmeldingKvittering(k) = &self.message {
            out.extend(
                check_uuid(
                    Some(&k.related_to_message_id),
                    "arkivmelding_kvittering.relatedToMessageId",
                    "relatedToMessageId",
                )
                .err(),
            );
            if k.receipt_type.is_empty() {
                out.push(invalid(
                    "arkivmelding_kvittering.receiptType",
                    "receiptType is missing",
                ));
            }
        }
        if let BusinessMessage::Arkivmelding(a) = &self.message {
            if let Some(n) = a.sikkerhetsnivaa {
                if n != 3 && n != 4 {
                    out.push(invalid(
                        "arkivmelding.sikkerhetsnivaa",
                        format!("sikkerhetsnivaa is {n}, expected 3 or 4"),
                    ));
                }
            }
        }
        out
    }
}
