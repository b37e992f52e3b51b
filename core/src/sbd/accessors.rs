//! Typed views of header fields: parties, identifiers, scopes, expiry.

use super::*;

impl Sbd {
    pub fn type_name(&self) -> &str {
        &self.header.document_identification.type_name
    }

    /// The messageId (`documentIdentification.instanceIdentifier`).
    pub fn message_id(&self) -> Option<&str> {
        self.header
            .document_identification
            .instance_identifier
            .as_deref()
    }

    pub fn scope(&self, kind: ScopeKind) -> Option<&Scope> {
        self.header
            .business_scope
            .scope
            .iter()
            .find(|s| kind.matches(&s.scope_type))
    }

    pub fn conversation_id(&self) -> Option<&str> {
        self.scope(ScopeKind::ConversationId)?
            .instance_identifier
            .as_deref()
    }

    /// The process URN (ConversationId scope `identifier`).
    pub fn process(&self) -> Option<&str> {
        self.scope(ScopeKind::ConversationId)?.identifier.as_deref()
    }

    pub fn expected_response_date_time(&self) -> Option<&str> {
        self.scope(ScopeKind::ConversationId)?
            .scope_information
            .iter()
            .find_map(|c| c.expected_response_date_time.as_deref())
    }

    /// SenderRef: the IP reads `instanceIdentifier`; the docs put it in `identifier`. Read either.
    pub fn sender_ref(&self) -> Option<&str> {
        let s = self.scope(ScopeKind::SenderRef)?;
        s.instance_identifier.as_deref().or(s.identifier.as_deref())
    }

    pub fn receiver_ref(&self) -> Option<&str> {
        let s = self.scope(ScopeKind::ReceiverRef)?;
        s.instance_identifier.as_deref().or(s.identifier.as_deref())
    }

    /// The message channel (MessageChannel scope `identifier`).
    pub fn message_channel(&self) -> Option<&str> {
        self.scope(ScopeKind::MessageChannel)?.identifier.as_deref()
    }

    pub fn sender_identifier(&self) -> Option<&str> {
        self.header
            .sender
            .first()
            .map(|p| p.identifier.value.as_str())
    }

    pub fn receiver_identifier(&self) -> Option<&str> {
        self.header
            .receiver
            .first()
            .map(|p| p.identifier.value.as_str())
    }

    /// The sender's organisation number (primary part of `0192:<orgnr>[:...]`).
    pub fn sender_org(&self) -> Result<OrgNumber> {
        party_org(self.sender_identifier(), "sender")
    }

    pub fn receiver_org(&self) -> Result<OrgNumber> {
        party_org(self.receiver_identifier(), "receiver")
    }

    /// Whether `now` is past expectedResponseDateTime (a message without a parseable TTL is not
    /// considered expired here; [`Sbd::validate`] reports it).
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expected_response_date_time()
            .and_then(|t| parse_timestamp(t).ok())
            .is_some_and(|t| now > t)
    }
}

fn party_org(value: Option<&str>, which: &str) -> Result<OrgNumber> {
    let field = format!("standardBusinessDocumentHeader.{which}[0].identifier.value");
    let value = value.ok_or_else(|| invalid(field.clone(), format!("the SBD has no {which}")))?;
    let rest = value.strip_prefix("0192:").ok_or_else(|| {
        invalid(
            field.clone(),
            format!("{which} {value:?} is not an ISO 6523 identifier with ICD 0192 (expected \"0192:<orgnr>\")"),
        )
    })?;
    let primary = rest.split(':').next().unwrap_or(rest);
    OrgNumber::parse(primary).map_err(|e| invalid(field, format!("{which}: {}", e.message())))
}
