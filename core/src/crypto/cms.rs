//! CMS EnvelopedData (RFC 5652) for DPO, streamed both ways.
//!
//! Why by hand: OpenSSL's CMS API parses the whole structure into memory before decrypting and
//! cannot set RSAES-OAEP parameters for EnvelopedData, and the DER-only ASN.1 crates reject the
//! BER that DPO senders write. So this module reads and writes the one shape DPO uses and leaves
//! the cryptography to OpenSSL: `PkeyCtx` for the RSA key transport, `Crypter` for AES-CBC,
//! `rand` for the content key and IV.
//!
//! Writing follows the integration point exactly (spec `dpo-soap.md` 6.2: BouncyCastle's
//! `CMSEnvelopedDataStreamGenerator`): ContentInfo, EnvelopedData and EncryptedContentInfo with
//! indefinite lengths; one KeyTransRecipientInfo (version 0, issuerAndSerialNumber, RSAES-OAEP with
//! SHA-256 and MGF1-SHA-256, empty label omitted) in a DER SET; AES-256-CBC with a random IV; the
//! ciphertext as a constructed `[0]` of 1000-byte primitive OCTET STRING segments.
//!
//! Reading accepts BER (indefinite lengths, constructed and nested OCTET STRINGs) and DER; RSAES-OAEP
//! with any SHA-1/SHA-2 hash and MGF1 (SHA-1 when the parameters are absent, as RFC 4055 says) and
//! RSA PKCS#1 v1.5; AES-128/192/256-CBC and 3DES-CBC. With several RecipientInfos it picks the
//! one naming our certificate (issuer + serial, or subjectKeyIdentifier). Memory stays flat: the
//! header (up to the first content octet) is parsed into memory with a 1 MiB cap, the content is
//! decrypted 64 KiB at a time.
//!
//! What CMS alone cannot tell: CBC without a MAC detects tampering only where it breaks the final
//! padding. The ASiC-E digests and signature inside catch the rest.

use super::ber::{self, Header, Tlv};
use super::keys::Identity;
use crate::error::{Error, ErrorKind, Result};
use openssl::md::{Md, MdRef};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::symm::{Cipher, Crypter, Mode};
use openssl::x509::{X509NameRef, X509Ref, X509};
use serde::Serialize;
use std::io::{self, Read, Write};

pub const OID_ENVELOPED_DATA: &str = "1.2.840.113549.1.7.3";
pub const OID_DATA: &str = "1.2.840.113549.1.7.1";
pub const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
pub const OID_RSAES_OAEP: &str = "1.2.840.113549.1.1.7";
pub const OID_MGF1: &str = "1.2.840.113549.1.1.8";
pub const OID_P_SPECIFIED: &str = "1.2.840.113549.1.1.9";
pub const OID_SHA1: &str = "1.3.14.3.2.26";
pub const OID_SHA224: &str = "2.16.840.1.101.3.4.2.4";
pub const OID_SHA256: &str = "2.16.840.1.101.3.4.2.1";
pub const OID_SHA384: &str = "2.16.840.1.101.3.4.2.2";
pub const OID_SHA512: &str = "2.16.840.1.101.3.4.2.3";
pub const OID_AES128_CBC: &str = "2.16.840.1.101.3.4.1.2";
pub const OID_AES192_CBC: &str = "2.16.840.1.101.3.4.1.22";
pub const OID_AES256_CBC: &str = "2.16.840.1.101.3.4.1.42";
pub const OID_DES_EDE3_CBC: &str = "1.2.840.113549.3.7";

/// Plaintext/ciphertext is processed this many bytes at a time.
const CHUNK: usize = 64 * 1024;
/// The OCTET STRING segment size BouncyCastle writes (and so do we).
pub const SEGMENT: usize = 1000;
/// The most the CMS header (everything before the content) may hold in memory.
const HEADER_BUDGET: u64 = 1 << 20;
/// Nesting of constructed OCTET STRINGs inside the content that we follow.
const MAX_CONTENT_NESTING: usize = 8;
/// Identifier of `[0]`, primitive and constructed.
const CTX0: u8 = 0x80;
const CTX0_CONSTRUCTED: u8 = 0xA0;
const CTX1_CONSTRUCTED: u8 = 0xA1;
const CTX2_CONSTRUCTED: u8 = 0xA2;

/// What `inspect` tells about an encrypted message without decrypting it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CmsInfo {
    /// Who can open it, in the order the sender listed them.
    pub recipients: Vec<CmsRecipient>,
    /// Readable content cipher (`AES-256-CBC`), or `unknown` for one we cannot decrypt.
    pub content_cipher: String,
    pub content_cipher_oid: String,
    /// Content type of the encrypted content (`1.2.840.113549.1.7.1` for id-data).
    pub content_type_oid: String,
    /// EnvelopedData version.
    pub version: u32,
    /// `true` for streamed BER (indefinite lengths), `false` for definite lengths (DER).
    pub indefinite_length: bool,
}

/// One RecipientInfo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CmsRecipient {
    /// `key_transport` for KeyTransRecipientInfo; other kinds are listed but not supported.
    pub kind: String,
    /// Issuer of the recipient certificate as one line (`CN=..., O=..., C=NO`), if named that way.
    pub issuer: Option<String>,
    /// Serial number of the recipient certificate in upper-case hex, if named that way.
    pub serial: Option<String>,
    /// subjectKeyIdentifier in lower-case hex, if the recipient is named that way.
    pub subject_key_id: Option<String>,
    /// Readable key transport (`RSAES-OAEP (SHA-256, MGF1-SHA-256)`, `RSA PKCS#1 v1.5`).
    pub key_transport: String,
    pub key_transport_oid: String,
}

/// Recover our error from an `io::Error` that the `Read`/`Write` adapters returned; anything else
/// becomes an I/O error about `what`.
pub fn error_from_io(err: io::Error, what: &str) -> Error {
    if err
        .get_ref()
        .and_then(|e| e.downcast_ref::<Error>())
        .is_some()
    {
        let inner = err.into_inner().expect("checked above");
        return *inner.downcast::<Error>().expect("checked above");
    }
    Error::io(what, err)
}

fn to_io(err: Error) -> io::Error {
    let kind = match err.kind() {
        ErrorKind::Io | ErrorKind::NotFound | ErrorKind::AlreadyExists => io::ErrorKind::Other,
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, err)
}

fn crypto_error(what: &str, e: openssl::error::ErrorStack) -> Error {
    Error::new(ErrorKind::Crypto, format!("{what}: {e}"))
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn name_line(name: &X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let val = e.data().to_string().unwrap_or_default();
            format!("{key}={val}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let skip = b.iter().take_while(|x| **x == 0).count();
    &b[skip..]
}

fn serial_magnitude(cert: &X509Ref) -> Result<Vec<u8>> {
    let bn = cert.serial_number().to_bn().map_err(|e| {
        Error::new(
            ErrorKind::CertificateInvalid,
            format!("cannot read the certificate serial number: {e}"),
        )
    })?;
    if bn.is_negative() {
        return Err(Error::new(
            ErrorKind::CertificateInvalid,
            format!(
                "the certificate {} has a negative serial number, which CMS cannot name; \
                 use a certificate that follows RFC 5280",
                name_line(cert.subject_name())
            ),
        ));
    }
    Ok(bn.to_vec())
}

// ---------------------------------------------------------------------------------------------
// Algorithms

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Digest {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Digest {
    fn from_oid(oid: &str) -> Option<Digest> {
        Some(match oid {
            OID_SHA1 => Digest::Sha1,
            OID_SHA224 => Digest::Sha224,
            OID_SHA256 => Digest::Sha256,
            OID_SHA384 => Digest::Sha384,
            OID_SHA512 => Digest::Sha512,
            _ => return None,
        })
    }
    fn md(self) -> &'static MdRef {
        match self {
            Digest::Sha1 => Md::sha1(),
            Digest::Sha224 => Md::sha224(),
            Digest::Sha256 => Md::sha256(),
            Digest::Sha384 => Md::sha384(),
            Digest::Sha512 => Md::sha512(),
        }
    }
    fn name(self) -> &'static str {
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
enum KeyTransport {
    Pkcs1,
    Oaep {
        hash: Digest,
        mgf1: Digest,
        label: Vec<u8>,
    },
    Unsupported(String),
}

impl KeyTransport {
    fn describe(&self) -> String {
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
fn algorithm(t: &Tlv) -> Result<(String, Option<&Tlv>)> {
    let c = t.children();
    if !t.is(ber::SEQUENCE) || c.is_empty() || !c[0].is(ber::OID) || c.len() > 2 {
        return Err(ber::malformed(t.offset, "expected an AlgorithmIdentifier"));
    }
    let oid = oid_of(&c[0])?;
    Ok((oid, c.get(1)))
}

fn oid_of(t: &Tlv) -> Result<String> {
    t.bytes()
        .filter(|_| t.is(ber::OID))
        .and_then(ber::oid_to_string)
        .ok_or_else(|| ber::malformed(t.offset, "expected an OBJECT IDENTIFIER"))
}

fn absent_or_null(p: Option<&Tlv>) -> bool {
    p.is_none_or(|p| p.is(ber::NULL))
}

fn digest_alg(t: &Tlv) -> Result<std::result::Result<Digest, String>> {
    let (oid, params) = algorithm(t)?;
    Ok(match Digest::from_oid(&oid) {
        Some(d) if absent_or_null(params) => Ok(d),
        _ => Err(format!("hash {oid}")),
    })
}

fn key_transport(alg: &Tlv) -> Result<(String, KeyTransport)> {
    let (oid, params) = algorithm(alg)?;
    let kt = match oid.as_str() {
        OID_RSA_ENCRYPTION => KeyTransport::Pkcs1,
        OID_RSAES_OAEP => oaep_params(params)?,
        _ => KeyTransport::Unsupported(format!("key transport {oid}")),
    };
    Ok((oid, kt))
}

/// RSAES-OAEP-params (RFC 8017 A.2.1); every member defaults to the SHA-1 choice.
fn oaep_params(params: Option<&Tlv>) -> Result<KeyTransport> {
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

fn content_cipher(oid: &str) -> Option<(Cipher, &'static str)> {
    Some(match oid {
        OID_AES128_CBC => (Cipher::aes_128_cbc(), "AES-128-CBC"),
        OID_AES192_CBC => (Cipher::aes_192_cbc(), "AES-192-CBC"),
        OID_AES256_CBC => (Cipher::aes_256_cbc(), "AES-256-CBC"),
        OID_DES_EDE3_CBC => (Cipher::des_ede3_cbc(), "3DES-CBC"),
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Recipients

#[derive(Debug, Clone)]
enum Rid {
    IssuerSerial {
        issuer_der: Vec<u8>,
        serial: Vec<u8>,
    },
    SubjectKeyId(Vec<u8>),
    Unsupported,
}

#[derive(Debug, Clone)]
struct Recipient {
    public: CmsRecipient,
    rid: Rid,
    transport: KeyTransport,
    encrypted_key: Vec<u8>,
}

impl Recipient {
    fn names(&self, cert: &X509Ref) -> bool {
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

    fn describe(&self) -> String {
        let p = &self.public;
        match (&p.issuer, &p.serial, &p.subject_key_id) {
            (Some(i), Some(s), _) => format!("issuer \"{i}\" serial {s} ({})", p.key_transport),
            (_, _, Some(k)) => format!("subjectKeyIdentifier {k} ({})", p.key_transport),
            _ => format!("a {} recipient", p.kind),
        }
    }
}

fn parse_recipient(t: &Tlv) -> Result<Recipient> {
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

// ---------------------------------------------------------------------------------------------
// Reading: the envelope walker

#[derive(Debug, Clone, Copy)]
struct Frame {
    end: Option<u64>,
    what: &'static str,
}

/// Walks the BER structure around the content and hands out the encrypted content octets.
struct Walker<R: Read> {
    r: ber::Reader<R>,
    frames: Vec<Frame>,
    /// `frames.len()` while inside EncryptedContentInfo, i.e. when the content is done.
    content_depth: usize,
    segment_left: u64,
}

impl<R: Read> Walker<R> {
    fn new(input: R) -> Self {
        Walker {
            r: ber::Reader::new(input, CHUNK),
            frames: Vec::new(),
            content_depth: usize::MAX,
            segment_left: 0,
        }
    }

    /// The next child of the innermost open element, or `None` at its end.
    fn next_child(&mut self) -> Result<Option<Header>> {
        let top = *self.frames.last().expect("an open element");
        if let Some(end) = top.end {
            if self.r.offset() == end {
                return Ok(None);
            }
            if self.r.offset() > end {
                return Err(ber::malformed(
                    end,
                    format!("{} runs past its length", top.what),
                ));
            }
        }
        let h = ber::read_header(&mut self.r)?;
        if h.is_eoc() {
            if top.end.is_none() {
                return Ok(None);
            }
            return Err(ber::malformed(
                h.start,
                format!(
                    "end-of-contents marker inside the definite-length {}",
                    top.what
                ),
            ));
        }
        if let Some(child_end) = h.end() {
            for f in &self.frames {
                if f.end.is_some_and(|end| child_end > end) {
                    return Err(ber::malformed(
                        h.start,
                        format!("{} runs past the end of the {}", h.describe(), f.what),
                    ));
                }
            }
        }
        Ok(Some(h))
    }

    fn child(&mut self, what: &str) -> Result<Header> {
        let parent = self.frames.last().map(|f| f.what).unwrap_or("input");
        self.next_child()?.ok_or_else(|| {
            ber::malformed(
                self.r.offset(),
                format!("the {parent} ends where {what} should follow"),
            )
        })
    }

    fn open(&mut self, h: &Header, ident: u8, what: &'static str) -> Result<()> {
        if !h.is(ident) {
            return Err(ber::malformed(
                h.start,
                format!("expected {what}, found {}", h.describe()),
            ));
        }
        self.frames.push(Frame { end: h.end(), what });
        Ok(())
    }

    fn small(&mut self, h: &Header, budget: &mut u64) -> Result<Tlv> {
        ber::read_tlv(&mut self.r, h, budget)
    }

    fn close(&mut self) -> Result<()> {
        if let Some(h) = self.next_child()? {
            let what = self.frames.last().map(|f| f.what).unwrap_or("input");
            return Err(ber::malformed(
                h.start,
                format!("unexpected {} at the end of the {what}", h.describe()),
            ));
        }
        self.frames.pop();
        Ok(())
    }

    /// Read some encrypted content octets; 0 once the content is complete.
    fn read_content(&mut self, buf: &mut [u8]) -> Result<usize> {
        loop {
            if self.segment_left > 0 {
                let want = (buf.len() as u64).min(self.segment_left) as usize;
                let n = self.r.read_some(&mut buf[..want])?;
                self.segment_left -= n as u64;
                return Ok(n);
            }
            if self.frames.len() <= self.content_depth {
                return Ok(0);
            }
            match self.next_child()? {
                None => {
                    self.frames.pop();
                }
                Some(h) if h.is(ber::OCTET_STRING) => {
                    self.segment_left = h.len.unwrap_or(0);
                }
                Some(h) if h.is(ber::OCTET_STRING_CONSTRUCTED) => {
                    if self.frames.len() - self.content_depth >= MAX_CONTENT_NESTING {
                        return Err(ber::malformed(
                            h.start,
                            "encrypted content nested too deeply",
                        ));
                    }
                    self.frames.push(Frame {
                        end: h.end(),
                        what: "OCTET STRING segment",
                    });
                }
                Some(h) => {
                    return Err(ber::malformed(
                        h.start,
                        format!("{} inside the encrypted content", h.describe()),
                    ))
                }
            }
        }
    }

    /// Fill `buf` with content octets as far as they go.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            let got = self.read_content(&mut buf[n..])?;
            if got == 0 {
                break;
            }
            n += got;
        }
        Ok(n)
    }

    /// After the content: the ends of EncryptedContentInfo, EnvelopedData (after optional
    /// unprotectedAttrs), `[0]` and ContentInfo.
    fn finish(&mut self) -> Result<()> {
        self.close()?; // EncryptedContentInfo
        match self.next_child()? {
            Some(h) if h.is(CTX1_CONSTRUCTED) => {
                let mut budget = HEADER_BUDGET;
                self.small(&h, &mut budget)?; // unprotectedAttrs: nothing DPO uses
                self.close()?; // EnvelopedData
            }
            Some(h) => {
                return Err(ber::malformed(
                    h.start,
                    format!("unexpected {} after the encrypted content", h.describe()),
                ))
            }
            None => {
                self.frames.pop(); // EnvelopedData: next_child consumed its end
            }
        }
        self.close()?; // [0]
        self.close() // ContentInfo
    }
}

/// Everything before the first content octet.
struct Envelope {
    info: CmsInfo,
    recipients: Vec<Recipient>,
    cipher: Option<(Cipher, Vec<u8>)>,
}

fn read_envelope<R: Read>(w: &mut Walker<R>) -> Result<Envelope> {
    let mut budget = HEADER_BUDGET;
    let h = ber::read_header(&mut w.r)?;
    if !h.is(ber::SEQUENCE) {
        let hint = if h.ident == b'P' {
            " (it looks like a zip file: was it encrypted?)"
        } else {
            ""
        };
        return Err(ber::malformed(
            h.start,
            format!(
                "expected a CMS ContentInfo SEQUENCE, found {}{hint}",
                h.describe()
            ),
        ));
    }
    let indefinite_length = h.len.is_none();
    w.frames.push(Frame {
        end: h.end(),
        what: "ContentInfo",
    });
    let h = w.child("the content type")?;
    let ct = w.small(&h, &mut budget)?;
    let ct_oid = oid_of(&ct)?;
    if ct_oid != OID_ENVELOPED_DATA {
        let name = match ct_oid.as_str() {
            "1.2.840.113549.1.7.2" => "SignedData",
            OID_DATA => "Data",
            "1.2.840.113549.1.9.16.1.23" => "AuthEnvelopedData",
            _ => "unknown",
        };
        return Err(Error::new(
            ErrorKind::PackageInvalid,
            format!(
                "the CMS content type is {name} ({ct_oid}), not EnvelopedData: the package content \
                 is not encrypted the way DPO requires; ask the sender to send it again"
            ),
        ));
    }
    let h = w.child("the EnvelopedData")?;
    w.open(&h, CTX0_CONSTRUCTED, "[0] content of ContentInfo")?;
    let h = w.child("the EnvelopedData")?;
    w.open(&h, ber::SEQUENCE, "EnvelopedData")?;
    let h = w.child("the version")?;
    let v = w.small(&h, &mut budget)?;
    let version = match v.bytes().filter(|b| v.is(ber::INTEGER) && b.len() == 1) {
        Some([b]) => u32::from(*b),
        _ => {
            return Err(ber::malformed(
                h.start,
                "EnvelopedData version is not a small INTEGER",
            ))
        }
    };
    let mut h = w.child("the recipient infos")?;
    if h.is(CTX0_CONSTRUCTED) {
        w.small(&h, &mut budget)?; // originatorInfo: certificates we do not need
        h = w.child("the recipient infos")?;
    }
    if !h.is(ber::SET) {
        return Err(ber::malformed(
            h.start,
            format!("expected the SET of RecipientInfos, found {}", h.describe()),
        ));
    }
    let set = w.small(&h, &mut budget)?;
    let recipients = set
        .children()
        .iter()
        .map(parse_recipient)
        .collect::<Result<Vec<_>>>()?;
    if recipients.is_empty() {
        return Err(ber::malformed(h.start, "the message names no recipients"));
    }
    let h = w.child("the EncryptedContentInfo")?;
    w.open(&h, ber::SEQUENCE, "EncryptedContentInfo")?;
    let h = w.child("the content type")?;
    let content_type = oid_of(&w.small(&h, &mut budget)?)?;
    let h = w.child("the content encryption algorithm")?;
    let alg = w.small(&h, &mut budget)?;
    let (cipher_oid, params) = algorithm(&alg)?;
    let cipher = content_cipher(&cipher_oid);
    let iv = match (cipher, params) {
        (Some((c, _)), Some(p)) if p.is(ber::OCTET_STRING) => {
            let iv = p.string_value();
            if Some(iv.len()) != c.iv_len() {
                return Err(ber::malformed(
                    p.offset,
                    format!("IV of {} bytes", iv.len()),
                ));
            }
            Some((c, iv))
        }
        (Some(_), _) => {
            return Err(ber::malformed(
                alg.offset,
                "the content cipher has no IV parameter",
            ));
        }
        (None, _) => None,
    };
    // The encrypted content: [0] IMPLICIT OCTET STRING, primitive or (BER) constructed.
    let Some(h) = w.next_child()? else {
        return Err(Error::new(
            ErrorKind::PackageInvalid,
            "the CMS EnvelopedData carries no encrypted content (detached content is not used \
             in DPO): ask the sender to send the package again",
        ));
    };
    w.content_depth = w.frames.len();
    if h.is(CTX0) {
        w.segment_left = h.len.unwrap_or(0);
    } else if h.is(CTX0_CONSTRUCTED) {
        w.frames.push(Frame {
            end: h.end(),
            what: "encrypted content",
        });
    } else {
        return Err(ber::malformed(
            h.start,
            format!("expected the encrypted content [0], found {}", h.describe()),
        ));
    }
    Ok(Envelope {
        info: CmsInfo {
            recipients: recipients.iter().map(|r| r.public.clone()).collect(),
            content_cipher: cipher.map(|c| c.1).unwrap_or("unknown").to_string(),
            content_cipher_oid: cipher_oid,
            content_type_oid: content_type,
            version,
            indefinite_length,
        },
        recipients,
        cipher: iv,
    })
}

/// Read the recipients and content cipher of a CMS EnvelopedData without decrypting it.
/// Reads only up to the first content octet.
pub fn inspect(input: &mut dyn Read) -> Result<CmsInfo> {
    let mut w = Walker::new(input);
    Ok(read_envelope(&mut w)?.info)
}

fn unwrap_key(r: &Recipient, identity: &Identity) -> Result<Vec<u8>> {
    let fail = |e| crypto_error("preparing RSA key transport", e);
    let mut ctx = PkeyCtx::new(&identity.private_key).map_err(fail)?;
    ctx.decrypt_init().map_err(fail)?;
    match &r.transport {
        KeyTransport::Pkcs1 => ctx.set_rsa_padding(Padding::PKCS1).map_err(fail)?,
        KeyTransport::Oaep { hash, mgf1, label } => {
            ctx.set_rsa_padding(Padding::PKCS1_OAEP).map_err(fail)?;
            ctx.set_rsa_oaep_md(hash.md()).map_err(fail)?;
            ctx.set_rsa_mgf1_md(mgf1.md()).map_err(fail)?;
            if !label.is_empty() {
                ctx.set_rsa_oaep_label(label).map_err(fail)?;
            }
        }
        KeyTransport::Unsupported(what) => {
            return Err(Error::new(
                ErrorKind::Crypto,
                format!(
                    "the message is encrypted for our certificate with {what}, which efm does not \
                     support (RSAES-OAEP and RSA PKCS#1 v1.5 are): ask the sender to use RSAES-OAEP"
                ),
            ))
        }
    }
    let mut key = Vec::new();
    ctx.decrypt_to_vec(&r.encrypted_key, &mut key)
        .map_err(|_| {
            // OpenSSL's reason adds nothing a user can act on and could help padding-oracle probing.
            Error::new(
                ErrorKind::DecryptFailed,
                format!(
                "the content key for {} could not be decrypted with our private key: the sender \
                 used a certificate with our name and serial but another key, or the message is \
                 damaged; ask the sender to check our certificate in the Service Registry",
                r.describe()
            ),
            )
        })?;
    Ok(key)
}

// ---------------------------------------------------------------------------------------------
// Decrypting

enum State {
    Streaming,
    Done,
    Failed(Error),
}

/// A `Read` adapter: reads CMS EnvelopedData from `input` and yields the plaintext.
///
/// The header is read and the content key unwrapped in [`CmsDecryptor::new`]; the content is
/// decrypted as it is read. The final read checks the padding and the end of the structure, so
/// the plaintext is complete and intact (as far as CMS can tell) only once `read` returns 0.
/// Errors come as `io::Error` wrapping [`Error`]; [`error_from_io`] gets it back.
pub struct CmsDecryptor<R: Read> {
    walker: Walker<R>,
    crypter: Crypter,
    block: usize,
    info: CmsInfo,
    ciphertext: Box<[u8]>,
    plain: Box<[u8]>,
    plain_pos: usize,
    plain_len: usize,
    ciphertext_total: u64,
    state: State,
}

impl<R: Read> CmsDecryptor<R> {
    pub fn new(input: R, identity: &Identity) -> Result<Self> {
        let mut walker = Walker::new(input);
        let env = read_envelope(&mut walker)?;
        let ours: Vec<&Recipient> = env
            .recipients
            .iter()
            .filter(|r| r.names(&identity.certificate))
            .collect();
        if ours.is_empty() {
            let ours = format!(
                "\"{}\" (issuer \"{}\", serial {})",
                name_line(identity.certificate.subject_name()),
                name_line(identity.certificate.issuer_name()),
                serial_magnitude(&identity.certificate)
                    .map(|s| hex_upper(strip_zeros(&s)))
                    .unwrap_or_default(),
            );
            let theirs: Vec<String> = env.recipients.iter().map(|r| r.describe()).collect();
            return Err(Error::new(
                ErrorKind::NotForUs,
                format!(
                    "the message is not encrypted for our certificate {ours}; it is encrypted for: \
                     {}. Configure the key of the certificate the sender used, or ask the sender \
                     to fetch our current certificate from the Service Registry",
                    theirs.join("; ")
                ),
            ));
        }
        let Some((cipher, iv)) = env.cipher.clone() else {
            return Err(Error::new(
                ErrorKind::Crypto,
                format!(
                    "the content is encrypted with {}, which efm does not support (AES-128/192/256-CBC \
                     and 3DES-CBC are): ask the sender to use AES-256-CBC",
                    env.info.content_cipher_oid
                ),
            ));
        };
        let mut last_err = None;
        let mut key = None;
        for r in ours {
            match unwrap_key(r, identity) {
                Ok(k) => {
                    key = Some(k);
                    break;
                }
                Err(e) => last_err = Some(e),
            }
        }
        let Some(key) = key else {
            return Err(last_err.expect("at least one recipient was tried"));
        };
        if key.len() != cipher.key_len() {
            return Err(Error::new(
                ErrorKind::DecryptFailed,
                format!(
                    "the decrypted content key has {} bytes, but {} needs {}: the message is \
                     damaged or not for this key; ask the sender to send it again",
                    key.len(),
                    env.info.content_cipher,
                    cipher.key_len()
                ),
            ));
        }
        let mut crypter = Crypter::new(cipher, Mode::Decrypt, &key, Some(&iv))
            .map_err(|e| crypto_error("setting up content decryption", e))?;
        crypter.pad(true);
        let block = cipher.block_size();
        Ok(CmsDecryptor {
            walker,
            crypter,
            block,
            info: env.info,
            ciphertext: vec![0u8; CHUNK].into_boxed_slice(),
            plain: vec![0u8; CHUNK + 2 * block].into_boxed_slice(),
            plain_pos: 0,
            plain_len: 0,
            ciphertext_total: 0,
            state: State::Streaming,
        })
    }

    /// Recipients and cipher of the message being read.
    pub fn info(&self) -> &CmsInfo {
        &self.info
    }

    /// Decrypt the next chunk, straight into `buf` when it is big enough. Returns the bytes
    /// placed in `buf` (0 when they went to the internal buffer or nothing was produced).
    fn step(&mut self, buf: &mut [u8]) -> Result<usize> {
        let n = self.walker.fill(&mut self.ciphertext)?;
        if n == 0 {
            self.walker.finish()?;
            #[allow(clippy::manual_is_multiple_of)] // is_multiple_of needs Rust 1.87; MSRV is 1.85
            if self.ciphertext_total % self.block as u64 != 0 {
                return Err(Error::new(
                    ErrorKind::DecryptFailed,
                    format!(
                        "the encrypted content is {} bytes, not a whole number of {}-byte blocks: \
                         it is damaged; ask the sender to send it again",
                        self.ciphertext_total, self.block
                    ),
                ));
            }
            let m = self.crypter.finalize(&mut self.plain).map_err(|_| {
                Error::new(
                    ErrorKind::DecryptFailed,
                    "the decrypted content has invalid padding: the encrypted content was altered \
                     or damaged in transit; ask the sender to send it again",
                )
            })?;
            self.plain_pos = 0;
            self.plain_len = m;
            self.state = State::Done;
            return Ok(0);
        }
        self.ciphertext_total += n as u64;
        let fail = |e| crypto_error("decrypting the content", e);
        if buf.len() >= n + self.block {
            return self
                .crypter
                .update(&self.ciphertext[..n], buf)
                .map_err(fail);
        }
        let m = self
            .crypter
            .update(&self.ciphertext[..n], &mut self.plain)
            .map_err(fail)?;
        self.plain_pos = 0;
        self.plain_len = m;
        Ok(0)
    }
}

impl<R: Read> Read for CmsDecryptor<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.plain_pos < self.plain_len {
                let n = buf.len().min(self.plain_len - self.plain_pos);
                buf[..n].copy_from_slice(&self.plain[self.plain_pos..self.plain_pos + n]);
                self.plain_pos += n;
                return Ok(n);
            }
            match &self.state {
                State::Done => return Ok(0),
                State::Failed(e) => return Err(to_io(e.clone())),
                State::Streaming => {}
            }
            match self.step(buf) {
                Ok(0) => continue,
                Ok(n) => return Ok(n),
                Err(e) => {
                    self.state = State::Failed(e.clone());
                    return Err(to_io(e));
                }
            }
        }
    }
}

/// Decrypt a whole CMS EnvelopedData from `input` to `out` with our identity. Returns the number
/// of plaintext bytes written. On error, `out` holds an unusable prefix: write to a spool file and
/// discard it then.
pub fn decrypt(input: &mut dyn Read, out: &mut dyn Write, identity: &Identity) -> Result<u64> {
    let mut dec = CmsDecryptor::new(input, identity)?;
    // Room for a whole chunk plus a block lets `step` decrypt in place, without a copy.
    let mut buf = vec![0u8; CHUNK + 64];
    let mut total = 0u64;
    loop {
        let n = match dec.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(error_from_io(e, "reading the CMS data")),
        };
        out.write_all(&buf[..n])
            .map_err(|e| Error::io("writing the decrypted content", e))?;
        total += n as u64;
    }
}

// ---------------------------------------------------------------------------------------------
// Encrypting

/// A `Write` adapter: takes plaintext, writes CMS EnvelopedData for `recipient` to `out`.
///
/// The header goes out in [`CmsEncryptor::new`]; [`CmsEncryptor::finish`] writes the last block
/// and the end markers and must be called, or the output is incomplete. Errors come as
/// `io::Error` wrapping [`Error`]; [`error_from_io`] gets it back.
pub struct CmsEncryptor<W: Write> {
    out: W,
    crypter: Crypter,
    /// Ciphertext not yet framed; always fewer than `CHUNK` bytes between calls.
    ciphertext: Box<[u8]>,
    ciphertext_len: usize,
    framed: Vec<u8>,
    written: u64,
}

const AES_BLOCK: usize = 16;

fn segment_header(len: usize, out: &mut Vec<u8>) {
    out.push(ber::OCTET_STRING);
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
}

/// The header up to the first content octet, with the content key wrapped for `recipient`.
fn envelope_header(recipient: &X509Ref, key: &[u8], iv: &[u8]) -> Result<Vec<u8>> {
    let public = recipient.public_key().map_err(|e| {
        Error::new(
            ErrorKind::CertificateInvalid,
            format!("the receiver certificate has no readable public key: {e}"),
        )
    })?;
    if public.rsa().is_err() {
        return Err(Error::new(
            ErrorKind::CertificateInvalid,
            format!(
                "the receiver certificate {} does not hold an RSA key; DPO encrypts to RSA \
                 certificates only: check the certificate in the Service Registry",
                name_line(recipient.subject_name())
            ),
        ));
    }
    let fail = |e| crypto_error("encrypting the content key with RSAES-OAEP", e);
    let mut ctx = PkeyCtx::new(&public).map_err(fail)?;
    ctx.encrypt_init().map_err(fail)?;
    ctx.set_rsa_padding(Padding::PKCS1_OAEP).map_err(fail)?;
    ctx.set_rsa_oaep_md(Md::sha256()).map_err(fail)?;
    ctx.set_rsa_mgf1_md(Md::sha256()).map_err(fail)?;
    let mut wrapped = Vec::new();
    ctx.encrypt_to_vec(key, &mut wrapped).map_err(fail)?;

    let issuer = recipient.issuer_name().to_der().map_err(|e| {
        Error::new(
            ErrorKind::CertificateInvalid,
            format!("cannot encode the receiver certificate's issuer: {e}"),
        )
    })?;
    let serial = serial_magnitude(recipient)?;
    let sha256 = ber::der_seq(ber::SEQUENCE, &[&ber::der_oid(OID_SHA256), &[ber::NULL, 0]]);
    // BouncyCastle leaves out members equal to their defaults, so [2] (empty label) is absent.
    let oaep_params = ber::der_seq(
        ber::SEQUENCE,
        &[
            &ber::der(CTX0_CONSTRUCTED, &sha256),
            &ber::der(
                CTX1_CONSTRUCTED,
                &ber::der_seq(ber::SEQUENCE, &[&ber::der_oid(OID_MGF1), &sha256]),
            ),
        ],
    );
    let ktri = ber::der_seq(
        ber::SEQUENCE,
        &[
            &ber::der_uint(&[0]),
            &ber::der_seq(ber::SEQUENCE, &[&issuer, &ber::der_uint(&serial)]),
            &ber::der_seq(
                ber::SEQUENCE,
                &[&ber::der_oid(OID_RSAES_OAEP), &oaep_params],
            ),
            &ber::der(ber::OCTET_STRING, &wrapped),
        ],
    );
    let content_alg = ber::der_seq(
        ber::SEQUENCE,
        &[
            &ber::der_oid(OID_AES256_CBC),
            &ber::der(ber::OCTET_STRING, iv),
        ],
    );
    let mut h = Vec::with_capacity(1024);
    h.extend_from_slice(&[ber::SEQUENCE, 0x80]); // ContentInfo
    h.extend_from_slice(&ber::der_oid(OID_ENVELOPED_DATA));
    h.extend_from_slice(&[CTX0_CONSTRUCTED, 0x80, ber::SEQUENCE, 0x80]); // [0] EnvelopedData
    h.extend_from_slice(&ber::der_uint(&[0])); // version 0: issuerAndSerialNumber, no extras
    h.extend_from_slice(&ber::der(ber::SET, &ktri));
    h.extend_from_slice(&[ber::SEQUENCE, 0x80]); // EncryptedContentInfo
    h.extend_from_slice(&ber::der_oid(OID_DATA));
    h.extend_from_slice(&content_alg);
    h.extend_from_slice(&[CTX0_CONSTRUCTED, 0x80]); // [0] IMPLICIT encryptedContent
    Ok(h)
}

impl<W: Write> CmsEncryptor<W> {
    /// Start a message for `recipient` (the receiver's certificate from the Service Registry)
    /// and write its header to `out`.
    pub fn new(mut out: W, recipient: &X509) -> Result<Self> {
        let mut key = [0u8; 32];
        let mut iv = [0u8; 16];
        openssl::rand::rand_bytes(&mut key)
            .and_then(|_| openssl::rand::rand_bytes(&mut iv))
            .map_err(|e| crypto_error("generating the content key", e))?;
        let header = envelope_header(recipient, &key, &iv)?;
        let mut crypter = Crypter::new(Cipher::aes_256_cbc(), Mode::Encrypt, &key, Some(&iv))
            .map_err(|e| crypto_error("setting up AES-256-CBC", e))?;
        crypter.pad(true);
        out.write_all(&header)
            .map_err(|e| Error::io("writing the CMS header", e))?;
        Ok(CmsEncryptor {
            out,
            crypter,
            ciphertext: vec![0u8; CHUNK + SEGMENT + 2 * AES_BLOCK].into_boxed_slice(),
            ciphertext_len: 0,
            framed: Vec::with_capacity(CHUNK + SEGMENT + 4 * (CHUNK / SEGMENT + 2)),
            written: header.len() as u64,
        })
    }

    /// Bytes written to the output so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Frame the buffered ciphertext into segments and write them; all of it when `last`,
    /// otherwise only whole segments.
    fn emit(&mut self, last: bool) -> io::Result<()> {
        let n = if last {
            self.ciphertext_len
        } else {
            self.ciphertext_len / SEGMENT * SEGMENT
        };
        if n == 0 {
            return Ok(());
        }
        self.framed.clear();
        for seg in self.ciphertext[..n].chunks(SEGMENT) {
            segment_header(seg.len(), &mut self.framed);
            self.framed.extend_from_slice(seg);
        }
        self.out.write_all(&self.framed)?;
        self.written += self.framed.len() as u64;
        self.ciphertext.copy_within(n..self.ciphertext_len, 0);
        self.ciphertext_len -= n;
        Ok(())
    }

    /// Encrypt the last block, write the end markers, flush, and hand back the writer.
    pub fn finish(self) -> Result<W> {
        Ok(self.finish_counted()?.0)
    }

    /// [`CmsEncryptor::finish`], also returning the total number of bytes written.
    pub fn finish_counted(mut self) -> Result<(W, u64)> {
        let m = self
            .crypter
            .finalize(&mut self.ciphertext[self.ciphertext_len..])
            .map_err(|e| crypto_error("finishing AES-256-CBC", e))?;
        self.ciphertext_len += m;
        let write_fail = |e| Error::io("writing the CMS data", e);
        self.emit(true).map_err(write_fail)?;
        // End of: encryptedContent, EncryptedContentInfo, EnvelopedData, [0], ContentInfo.
        self.out.write_all(&[0u8; 10]).map_err(write_fail)?;
        self.written += 10;
        self.out.flush().map_err(write_fail)?;
        Ok((self.out, self.written))
    }
}

impl<W: Write> Write for CmsEncryptor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            // `update` needs room for the input plus one block.
            let room = self.ciphertext.len() - self.ciphertext_len - AES_BLOCK;
            let take = room.min(buf.len() - done);
            let n = self
                .crypter
                .update(
                    &buf[done..done + take],
                    &mut self.ciphertext[self.ciphertext_len..],
                )
                .map_err(|e| to_io(crypto_error("encrypting with AES-256-CBC", e)))?;
            self.ciphertext_len += n;
            done += take;
            if self.ciphertext_len >= CHUNK {
                self.emit(false)?;
            }
        }
        Ok(buf.len())
    }

    /// Writes out whole segments and flushes the inner writer. The last partial block stays
    /// buffered until [`CmsEncryptor::finish`].
    fn flush(&mut self) -> io::Result<()> {
        self.emit(false)?;
        self.out.flush()
    }
}

/// Encrypt everything `input` yields for `recipient` into `out`. Returns the number of CMS bytes
/// written.
pub fn encrypt(input: &mut dyn Read, out: &mut dyn Write, recipient: &X509) -> Result<u64> {
    let mut enc = CmsEncryptor::new(out, recipient)?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("reading the content to encrypt", e)),
        };
        enc.write_all(&buf[..n])
            .map_err(|e| error_from_io(e, "writing the CMS data"))?;
    }
    let (_, written) = enc.finish_counted()?;
    Ok(written)
}
