//! Algorithm identifiers: RSA key transport (PKCS#1 v1.5, RSAES-OAEP parameters) and content ciphers.

use super::*;
use crate::crypto::ber::{self, Tlv};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Digest {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Digest {
    pub(crate) fn from_oid(oid: &str) -> Option<Digest> {
        Some(match oid {
            OID_SHA1 => Digest::Sha1,
            OID_SHA224 => Digest::Sha224,
            OID_SHA256 => Digest::Sha256,
            OID_SHA384 => Digest::Sha384,
            OID_SHA512 => Digest::Sha512,
            _ => return None,
        })
    }
    pub(crate) fn oid(self) -> &'static str {
        match self {
            Digest::Sha1 => OID_SHA1,
            Digest::Sha224 => OID_SHA224,
            Digest::Sha256 => OID_SHA256,
            Digest::Sha384 => OID_SHA384,
            Digest::Sha512 => OID_SHA512,
        }
    }
    pub(super) fn md(self) -> &'static MdRef {
        match self {
            Digest::Sha1 => Md::sha1(),
            Digest::Sha224 => Md::sha224(),
            Digest::Sha256 => Md::sha256(),
            Digest::Sha384 => Md::sha384(),
            Digest::Sha512 => Md::sha512(),
        }
    }
    pub(crate) fn name(self) -> &'static str {
        match self {
            Digest::Sha1 => "SHA-1",
            Digest::Sha224 => "SHA-224",
            Digest::Sha256 => "SHA-256",
            Digest::Sha384 => "SHA-384",
            Digest::Sha512 => "SHA-512",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum KeyTransport {
    Pkcs1,
    Oaep {
        hash: Digest,
        mgf1: Digest,
        label: Vec<u8>,
    },
    Unsupported(String),
}

impl KeyTransport {
    pub(super) fn describe(&self) -> String {
        match self {
            KeyTransport::Pkcs1 => "RSA PKCS#1 v1.5".into(),
            KeyTransport::Oaep { hash, mgf1, label } => {
                let label = if label.is_empty() {
                    String::new()
                } else {
                    format!(", label of {} bytes", label.len())
                };
                format!("RSAES-OAEP ({}, MGF1-{}{label})", hash.name(), mgf1.name())
            }
            KeyTransport::Unsupported(what) => format!("unsupported: {what}"),
        }
    }
}

/// The OID of an AlgorithmIdentifier and its parameters, if any.
pub(super) fn algorithm(t: &Tlv) -> Result<(String, Option<&Tlv>)> {
    let c = t.children();
    if !t.is(ber::SEQUENCE) || c.is_empty() || !c[0].is(ber::OID) || c.len() > 2 {
        return Err(ber::malformed(t.offset, "expected an AlgorithmIdentifier"));
    }
    let oid = oid_of(&c[0])?;
    Ok((oid, c.get(1)))
}

pub(super) fn oid_of(t: &Tlv) -> Result<String> {
    t.bytes()
        .filter(|_| t.is(ber::OID))
        .and_then(ber::oid_to_string)
        .ok_or_else(|| ber::malformed(t.offset, "expected an OBJECT IDENTIFIER"))
}

pub(super) fn absent_or_null(p: Option<&Tlv>) -> bool {
    p.is_none_or(|p| p.is(ber::NULL))
}

pub(super) fn digest_alg(t: &Tlv) -> Result<std::result::Result<Digest, String>> {
    let (oid, params) = algorithm(t)?;
    Ok(match Digest::from_oid(&oid) {
        Some(d) if absent_or_null(params) => Ok(d),
        _ => Err(format!("hash {oid}")),
    })
}

pub(super) fn key_transport(alg: &Tlv) -> Result<(String, KeyTransport)> {
    let (oid, params) = algorithm(alg)?;
    let kt = match oid.as_str() {
        OID_RSA_ENCRYPTION => KeyTransport::Pkcs1,
        OID_RSAES_OAEP => oaep_params(params)?,
        _ => KeyTransport::Unsupported(format!("key transport {oid}")),
    };
    Ok((oid, kt))
}

/// RSAES-OAEP-params (RFC 8017 A.2.1); every member defaults to the SHA-1 choice.
pub(super) fn oaep_params(params: Option<&Tlv>) -> Result<KeyTransport> {
    let mut hash = Digest::Sha1;
    let mut mgf1 = Digest::Sha1;
    let mut label = Vec::new();
    let Some(p) = params.filter(|p| !p.is(ber::NULL)) else {
        return Ok(KeyTransport::Oaep { hash, mgf1, label });
    };
    if !p.is(ber::SEQUENCE) {
        return Err(ber::malformed(
            p.offset,
            "RSAES-OAEP parameters are not a SEQUENCE",
        ));
    }
    for member in p.children() {
        let inner = match member.children() {
            [one] => one,
            _ => {
                return Err(ber::malformed(
                    member.offset,
                    "RSAES-OAEP parameter member is not one AlgorithmIdentifier",
                ))
            }
        };
        if member.is(CTX0_CONSTRUCTED) {
            match digest_alg(inner)? {
                Ok(d) => hash = d,
                Err(what) => return Ok(KeyTransport::Unsupported(format!("RSAES-OAEP {what}"))),
            }
        } else if member.is(CTX1_CONSTRUCTED) {
            let (oid, mgf_params) = algorithm(inner)?;
            let Some(mgf_hash) = mgf_params.filter(|_| oid == OID_MGF1) else {
                return Ok(KeyTransport::Unsupported(format!(
                    "RSAES-OAEP mask generation {oid}"
                )));
            };
            match digest_alg(mgf_hash)? {
                Ok(d) => mgf1 = d,
                Err(what) => {
                    return Ok(KeyTransport::Unsupported(format!("RSAES-OAEP MGF1 {what}")))
                }
            }
        } else if member.is(CTX2_CONSTRUCTED) {
            let (oid, src) = algorithm(inner)?;
            match src {
                Some(l) if oid == OID_P_SPECIFIED && l.is(ber::OCTET_STRING) => {
                    label = l.string_value()
                }
                None if oid == OID_P_SPECIFIED => {}
                _ => {
                    return Ok(KeyTransport::Unsupported(format!(
                        "RSAES-OAEP label source {oid}"
                    )))
                }
            }
        } else {
            return Err(ber::malformed(
                member.offset,
                format!("unexpected {} in RSAES-OAEP parameters", member.describe()),
            ));
        }
    }
    Ok(KeyTransport::Oaep { hash, mgf1, label })
}

pub(super) fn content_cipher(oid: &str) -> Option<(Cipher, &'static str)> {
    Some(match oid {
        OID_AES128_CBC => (Cipher::aes_128_cbc(), "AES-128-CBC"),
        OID_AES192_CBC => (Cipher::aes_192_cbc(), "AES-192-CBC"),
        OID_AES256_CBC => (Cipher::aes_256_cbc(), "AES-256-CBC"),
        OID_DES_EDE3_CBC => (Cipher::des_ede3_cbc(), "3DES-CBC"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn parse(der: &[u8]) -> Tlv {
        let mut r = ber::Reader::new(der, 64);
        let h = ber::read_header(&mut r).unwrap();
        ber::read_tlv(&mut r, &h, &mut 4096).unwrap()
    }

    pub(super) fn alg(oid: &str, params: Option<&[u8]>) -> Tlv {
        let o = ber::der_oid(oid);
        parse(&ber::der_seq(ber::SEQUENCE, &[&o, params.unwrap_or(&[])]))
    }

    #[test]
    pub(super) fn oaep_without_parameters_means_sha1() {
        let sha1 = KeyTransport::Oaep {
            hash: Digest::Sha1,
            mgf1: Digest::Sha1,
            label: Vec::new(),
        };
        // Absent, NULL, and an empty SEQUENCE all mean the RFC 8017 defaults.
        for params in [None, Some(&[0x05, 0x00][..]), Some(&[0x30, 0x00][..])] {
            let (oid, kt) = key_transport(&alg(OID_RSAES_OAEP, params)).unwrap();
            assert_eq!(oid, OID_RSAES_OAEP);
            assert_eq!(kt, sha1);
        }
        let (_, kt) = key_transport(&alg(OID_RSA_ENCRYPTION, Some(&[0x05, 0x00]))).unwrap();
        assert_eq!(kt, KeyTransport::Pkcs1);
        let (_, kt) = key_transport(&alg("1.2.840.10045.2.1", None)).unwrap();
        assert!(matches!(kt, KeyTransport::Unsupported(_)));
    }

    #[test]
    pub(super) fn oaep_with_an_unknown_hash_is_unsupported_not_malformed() {
        let md5 = ber::der_seq(ber::SEQUENCE, &[&ber::der_oid("1.2.840.113549.2.5")]);
        let params = ber::der_seq(ber::SEQUENCE, &[&ber::der(CTX0_CONSTRUCTED, &md5)]);
        let (_, kt) = key_transport(&alg(OID_RSAES_OAEP, Some(&params))).unwrap();
        assert!(matches!(kt, KeyTransport::Unsupported(ref w) if w.contains("1.2.840.113549.2.5")));
    }
}
