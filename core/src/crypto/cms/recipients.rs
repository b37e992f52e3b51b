//! RecipientInfos: who a message is for, and whether that is us.

use super::algorithms::*;
use super::*;
use crate::crypto::ber::{self, Tlv};

#[derive(Debug, Clone)]
pub(super) enum Rid {
    IssuerSerial {
        issuer_der: Vec<u8>,
        serial: Vec<u8>,
    },
    SubjectKeyId(Vec<u8>),
    Unsupported,
}

#[derive(Debug, Clone)]
pub(super) struct Recipient {
    pub(super) public: CmsRecipient,
    pub(super) rid: Rid,
    pub(super) transport: KeyTransport,
    pub(super) encrypted_key: Vec<u8>,
}

impl Recipient {
    pub(super) fn names(&self, cert: &X509Ref) -> bool {
        match &self.rid {
            Rid::IssuerSerial { issuer_der, serial } => {
                let Ok(ours) = serial_magnitude(cert) else {
                    return false;
                };
                if strip_zeros(serial) != strip_zeros(&ours) {
                    return false;
                }
                let issuer = cert.issuer_name();
                if issuer.to_der().is_ok_and(|d| &d == issuer_der) {
                    return true;
                }
                // Same name in another string encoding: compare OpenSSL's canonical forms.
                openssl::x509::X509Name::from_der(issuer_der)
                    .ok()
                    .and_then(|n| n.try_cmp(issuer).ok())
                    == Some(std::cmp::Ordering::Equal)
            }
            Rid::SubjectKeyId(id) => cert.subject_key_id().is_some_and(|s| s.as_slice() == id),
            Rid::Unsupported => false,
        }
    }

    pub(super) fn describe(&self) -> String {
        let p = &self.public;
        match (&p.issuer, &p.serial, &p.subject_key_id) {
            (Some(i), Some(s), _) => format!("issuer \"{i}\" serial {s} ({})", p.key_transport),
            (_, _, Some(k)) => format!("subjectKeyIdentifier {k} ({})", p.key_transport),
            _ => format!("a {} recipient", p.kind),
        }
    }
}

pub(super) fn parse_recipient(t: &Tlv) -> Result<Recipient> {
    if !t.is(ber::SEQUENCE) {
        let kind = match (t.ident & ber::CLASS_MASK, t.number) {
            (ber::CONTEXT, 1) => "key agreement",
            (ber::CONTEXT, 2) => "KEK",
            (ber::CONTEXT, 3) => "password",
            (ber::CONTEXT, 4) => "other",
            _ => return Err(ber::malformed(t.offset, "expected a RecipientInfo")),
        };
        return Ok(Recipient {
            public: CmsRecipient {
                kind: kind.replace(' ', "_").to_lowercase(),
                issuer: None,
                serial: None,
                subject_key_id: None,
                key_transport: format!("unsupported: {kind} RecipientInfo"),
                key_transport_oid: String::new(),
            },
            rid: Rid::Unsupported,
            transport: KeyTransport::Unsupported(format!("{kind} RecipientInfo")),
            encrypted_key: Vec::new(),
        });
    }
    let [version, rid, alg, key] = t.children() else {
        return Err(ber::malformed(
            t.offset,
            "KeyTransRecipientInfo does not have the four members version, rid, algorithm, key",
        ));
    };
    if !version.is(ber::INTEGER) || !key.is(ber::OCTET_STRING) {
        return Err(ber::malformed(
            t.offset,
            "KeyTransRecipientInfo members have the wrong types",
        ));
    }
    let (mut issuer, mut serial, mut ski) = (None, None, None);
    let rid = if rid.is(ber::SEQUENCE) {
        let [name, number] = rid.children() else {
            return Err(ber::malformed(
                rid.offset,
                "IssuerAndSerialNumber is not a name and a number",
            ));
        };
        let number_bytes = number
            .bytes()
            .filter(|_| number.is(ber::INTEGER) && name.is(ber::SEQUENCE))
            .ok_or_else(|| {
                ber::malformed(rid.offset, "IssuerAndSerialNumber has the wrong types")
            })?;
        let issuer_der = name.to_der();
        issuer = Some(
            openssl::x509::X509Name::from_der(&issuer_der)
                .map(|n| name_line(&n))
                .unwrap_or_else(|_| "(unreadable name)".into()),
        );
        serial = Some(hex_upper(strip_zeros(number_bytes)));
        Rid::IssuerSerial {
            issuer_der,
            serial: number_bytes.to_vec(),
        }
    } else if rid.ident & ber::CLASS_MASK == ber::CONTEXT && rid.number == 0 {
        let id = rid.string_value();
        ski = Some(hex_lower(&id));
        Rid::SubjectKeyId(id)
    } else {
        return Err(ber::malformed(rid.offset, "unknown RecipientIdentifier"));
    };
    let (oid, transport) = key_transport(alg)?;
    Ok(Recipient {
        public: CmsRecipient {
            kind: "key_transport".into(),
            issuer,
            serial,
            subject_key_id: ski,
            key_transport: transport.describe(),
            key_transport_oid: oid,
        },
        rid,
        transport,
        encrypted_key: key.string_value(),
    })
}
