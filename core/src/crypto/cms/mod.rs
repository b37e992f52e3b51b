//! CMS EnvelopedData (RFC 5652) for DPO, streamed both ways.
//!
//! Why by hand: OpenSSL's CMS API parses the whole structure into memory before decrypting and
//! cannot set RSAES-OAEP parameters for EnvelopedData, and the DER-only ASN.1 crates reject the
//! BER that DPO senders write. So this module reads and writes the one shape DPO uses and leaves
//! the cryptography to OpenSSL: `PkeyCtx` for the RSA key transport, `Crypter` for AES-CBC,
//! `rand` for the content key and IV.
//!
//! Writing follows the integration point exactly (efm-common `CreateCMSDocument` and
//! `CmsAlgorithm.RSAES_OAEP` on BouncyCastle's `CMSEnvelopedDataStreamGenerator`): ContentInfo,
//! EnvelopedData and EncryptedContentInfo with indefinite lengths; one KeyTransRecipientInfo
//! (version 0, issuerAndSerialNumber, RSAES-OAEP with SHA-256 and MGF1-SHA-256, empty label
//! omitted) in a DER SET; AES-256-CBC with a random IV; the ciphertext as a constructed `[0]` of
//! 1000-byte primitive OCTET STRING segments.
//!
//! Reading accepts BER (indefinite lengths, constructed and nested OCTET STRINGs) and DER; RSAES-OAEP
//! with any SHA-1/SHA-2 hash and MGF1 (SHA-1 when the parameters are absent, as RFC 4055 says) and
//! RSA PKCS#1 v1.5; AES-128/192/256-CBC and 3DES-CBC. With several RecipientInfos it picks the
//! one naming our certificate (issuer + serial, or subjectKeyIdentifier). Memory stays flat: the
//! header (up to the first content octet) is parsed into memory with a 1 MiB cap, the content is
//! decrypted 256 KiB at a time.
//!
//! What CMS alone cannot tell: CBC without a MAC detects tampering only where it breaks the final
//! padding. The ASiC-E digests and signature inside catch the rest.
//!
//! The reader stops at the end of the ContentInfo; bytes after it are not read (a zip entry
//! reader hands over exactly the entry anyway).
//!
//! Layout: `walker` walks the BER around the content and reads the header, `recipients` and
//! `algorithms` interpret what it found, `decrypt` and `encrypt` are the two directions.

use crate::crypto::keys::name_line;
pub use crate::error::error_from_io;
use crate::error::{to_io, Error, ErrorKind, Result};
use openssl::md::{Md, MdRef};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::symm::{Cipher, Crypter, Mode};
use openssl::x509::{X509Ref, X509};
use serde::Serialize;
use std::io::{self, Read, Write};

pub(crate) mod algorithms;
mod content_digest;
mod decrypt;
mod encrypt;
mod recipients;
mod walker;

pub use content_digest::ContentMark;
pub use decrypt::{decrypt, inspect, CmsDecryptor};
pub use encrypt::{encrypt, encrypt_split, CmsEncryptor, Plaintext};

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

/// Plaintext/ciphertext is processed this many bytes at a time: large, so that EVP runs its
/// AES-NI loops over long stretches and the per-call costs vanish.
pub const CHUNK: usize = 256 * 1024;
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

fn crypto_error(what: &str, e: openssl::error::ErrorStack) -> Error {
    Error::new(ErrorKind::Crypto, format!("{what}: {e}"))
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
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
