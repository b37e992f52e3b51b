//! Builders of outgoing SBDs (arkivmelding, status, kvittering) with the IP's defaults.

use super::*;

/// What an outgoing arkivmelding SBD needs; the rest gets the IP's defaults
/// (`NextMoveOutMessageFactory`).
#[derive(Debug, Clone)]
pub struct ArkivmeldingSbd {
    pub sender: OrgNumber,
    pub receiver: OrgNumber,
    pub process: String,
    pub hoveddokument: Option<String>,
    pub sikkerhetsnivaa: Option<i64>,
    pub message_id: Option<Uuid>,
    pub conversation_id: Option<Uuid>,
    pub ttl: Duration,
    pub sender_ref: Option<String>,
    pub receiver_ref: Option<String>,
    pub message_channel: Option<String>,
}

impl ArkivmeldingSbd {
    pub fn new(sender: OrgNumber, receiver: OrgNumber) -> Self {
        ArkivmeldingSbd {
            sender,
            receiver,
            process: PROCESS_ADMINISTRASJON.to_string(),
            hoveddokument: Some("arkivmelding.xml".to_string()),
            sikkerhetsnivaa: Some(3),
            message_id: None,
            conversation_id: None,
            ttl: DEFAULT_TTL,
            sender_ref: None,
            receiver_ref: None,
            message_channel: None,
        }
    }

    pub fn build(&self, now: OffsetDateTime) -> Sbd {
        let mut scopes = vec![conversation_scope(
            self.conversation_id
                .unwrap_or_else(Uuid::new_v4)
                .to_string(),
            self.process.clone(),
            now + self.ttl,
        )];
        for (kind, value) in [
            (ScopeKind::SenderRef, &self.sender_ref),
            (ScopeKind::ReceiverRef, &self.receiver_ref),
        ] {
            if let Some(v) = value {
                scopes.push(Scope {
                    scope_type: kind.name().to_string(),
                    instance_identifier: Some(v.clone()),
                    identifier: None,
                    scope_information: Vec::new(),
                });
            }
        }
        if let Some(channel) = &self.message_channel {
            scopes.push(channel_scope(channel));
        }
        Sbd {
            header: Header {
                header_version: HEADER_VERSION.to_string(),
                sender: vec![Partner::organisation(&self.sender)],
                receiver: vec![Partner::organisation(&self.receiver)],
                document_identification: DocumentIdentification {
                    standard: STANDARD_ARKIVMELDING.to_string(),
                    type_version: TYPE_VERSION.to_string(),
                    instance_identifier: Some(
                        self.message_id.unwrap_or_else(Uuid::new_v4).to_string(),
                    ),
                    type_name: "arkivmelding".to_string(),
                    multiple_type: None,
                    creation_date_and_time: Some(format_timestamp(now)),
                },
                manifest: None,
                business_scope: BusinessScope { scope: scopes },
            },
            message: BusinessMessage::Arkivmelding(Arkivmelding {
                sikkerhetsnivaa: self.sikkerhetsnivaa,
                hoveddokument: self.hoveddokument.clone(),
                ..Default::default()
            }),
        }
    }
}

fn conversation_scope(conversation_id: String, process: String, expires: OffsetDateTime) -> Scope {
    Scope {
        scope_type: ScopeKind::ConversationId.name().to_string(),
        instance_identifier: Some(conversation_id),
        identifier: Some(process),
        scope_information: vec![CorrelationInformation {
            expected_response_date_time: Some(format_timestamp(expires)),
            ..Default::default()
        }],
    }
}

fn channel_scope(channel: &str) -> Scope {
    Scope {
        scope_type: ScopeKind::MessageChannel.name().to_string(),
        instance_identifier: Some(Uuid::new_v4().to_string()),
        identifier: Some(channel.to_string()),
        scope_information: Vec::new(),
    }
}

/// The response process for a message of this process (as IP `SBDFactory` picks it).
pub fn response_process(process: &str) -> &'static str {
    if process.contains(":avtalt:") {
        PROCESS_AVTALT_RESPONSE
    } else if process.contains(":einnsyn:") {
        PROCESS_EINNSYN_RESPONSE
    } else {
        PROCESS_ARKIVMELDING_RESPONSE
    }
}

impl Sbd {
    fn reply_header(
        &self,
        standard: &str,
        type_name: &str,
        message_id: String,
        now: OffsetDateTime,
    ) -> Result<Header> {
        let conversation_id = self.conversation_id().ok_or_else(|| {
            invalid(
                "standardBusinessDocumentHeader.businessScope.scope",
                "the original SBD has no conversationId",
            )
        })?;
        let process = response_process(self.process().unwrap_or_default());
        let mut scopes = vec![conversation_scope(
            conversation_id.to_string(),
            process.to_string(),
            now + DEFAULT_TTL,
        )];
        if let Some(ch) = self.scope(ScopeKind::MessageChannel) {
            scopes.push(ch.clone());
        }
        if self.header.sender.is_empty() || self.header.receiver.is_empty() {
            return Err(invalid(
                "standardBusinessDocumentHeader.sender",
                "the original SBD lacks a sender or receiver",
            ));
        }
        Ok(Header {
            header_version: HEADER_VERSION.to_string(),
            // Swapped, values copied verbatim (SBDFactory).
            sender: self.header.receiver.clone(),
            receiver: self.header.sender.clone(),
            document_identification: DocumentIdentification {
                standard: standard.to_string(),
                type_version: TYPE_VERSION.to_string(),
                instance_identifier: Some(message_id),
                type_name: type_name.to_string(),
                multiple_type: None,
                creation_date_and_time: Some(format_timestamp(now - Duration::seconds(5))),
            },
            manifest: None,
            business_scope: BusinessScope { scope: scopes },
        })
    }

    /// The `status` SBD a receiver sends back about this message (IP
    /// `SBDFactory.createStatusFrom`): sender and receiver swapped, the SAME messageId, the same
    /// conversationId, the response process, the MessageChannel scope copied.
    pub fn status_reply(&self, status: ReceiptStatus, now: OffsetDateTime) -> Result<Sbd> {
        let message_id = self
            .message_id()
            .ok_or_else(|| {
                invalid(
                    "standardBusinessDocumentHeader.documentIdentification.instanceIdentifier",
                    "the original SBD has no messageId",
                )
            })?
            .to_string();
        Ok(Sbd {
            header: self.reply_header(STANDARD_STATUS, "status", message_id, now)?,
            message: BusinessMessage::Status(StatusMessage {
                status,
                extra: Map::new(),
            }),
        })
    }

    /// An `arkivmelding_kvittering` about this message: new messageId, same conversationId.
    pub fn kvittering_reply(
        &self,
        receipt_type: &str,
        messages: Vec<KvitteringText>,
        now: OffsetDateTime,
    ) -> Result<Sbd> {
        let related = self
            .message_id()
            .ok_or_else(|| {
                invalid(
                    "standardBusinessDocumentHeader.documentIdentification.instanceIdentifier",
                    "the original SBD has no messageId",
                )
            })?
            .to_string();
        Ok(Sbd {
            header: self.reply_header(
                STANDARD_KVITTERING,
                "arkivmelding_kvittering",
                Uuid::new_v4().to_string(),
                now,
            )?,
            message: BusinessMessage::ArkivmeldingKvittering(ArkivmeldingKvittering {
                receipt_type: receipt_type.to_string(),
                related_to_message_id: related,
                messages,
                extra: Map::new(),
            }),
        })
    }

    /// On the DPO wire an on-behalf-of sender `0192:<own>:<other>` travels as `0192:<other>`
    /// (IP `DpoConversationStrategyImpl.send`). Returns whether the sender was rewritten.
    pub fn normalize_on_behalf_of(&mut self) -> bool {
        let Some(p) = self.header.sender.first_mut() else {
            return false;
        };
        let value = &p.identifier.value;
        let Some(rest) = value.strip_prefix("0192:") else {
            return false;
        };
        let mut parts = rest.split(':');
        let (_own, Some(other)) = (parts.next(), parts.next()) else {
            return false;
        };
        if other.len() == 9 && other.bytes().all(|b| b.is_ascii_digit()) {
            p.identifier.value = format!("0192:{other}");
            true
        } else {
            false
        }
    }

    /// Fill what the IP fills on an outgoing message (`NextMoveOutMessageFactory`): sender, ids,
    /// creation time, TTL and the message channel scope.
    pub fn fill_defaults(
        &mut self,
        own: &OrgNumber,
        ttl: Duration,
        channel: Option<&str>,
        now: OffsetDateTime,
    ) {
        let h = &mut self.header;
        if h.header_version.is_empty() {
            h.header_version = HEADER_VERSION.to_string();
        }
        if h.sender.is_empty() {
            h.sender.push(Partner::organisation(own));
        }
        let di = &mut h.document_identification;
        if di.instance_identifier.as_deref().is_none_or(str::is_empty) {
            di.instance_identifier = Some(Uuid::new_v4().to_string());
        }
        if di.creation_date_and_time.is_none() {
            di.creation_date_and_time = Some(format_timestamp(now));
        }
        for s in &mut h.business_scope.scope {
            if s.instance_identifier.as_deref().is_none_or(str::is_empty) {
                s.instance_identifier = Some(Uuid::new_v4().to_string());
            }
            if ScopeKind::ConversationId.matches(&s.scope_type)
                && !s
                    .scope_information
                    .iter()
                    .any(|c| c.expected_response_date_time.is_some())
            {
                match s.scope_information.first_mut() {
                    Some(c) => c.expected_response_date_time = Some(format_timestamp(now + ttl)),
                    None => s.scope_information.push(CorrelationInformation {
                        expected_response_date_time: Some(format_timestamp(now + ttl)),
                        ..Default::default()
                    }),
                }
            }
        }
        if let Some(channel) = channel {
            if !h
                .business_scope
                .scope
                .iter()
                .any(|s| ScopeKind::MessageChannel.matches(&s.scope_type))
            {
                h.business_scope.scope.push(channel_scope(channel));
            }
        }
    }
}
