//! The detached CAdES-BES-like CMS signature over `META-INF/ASiCManifest.xml` (efm-asic
//! `SignatureHelper`, which signs `"SHA1with" + key algorithm` through BouncyCastle).
//!
//! Signing encodes the SignedData in DER by hand because OpenSSL's `CMS_sign` as exposed by the
//! `openssl` crate neither lets us choose SHA-1 (what the IP writes) nor add the
//! cmsAlgorithmProtect attribute the IP's BouncyCastle writes. The structure is small and fixed:
//! version 1, one SignerInfo identified by issuerAndSerialNumber, signed attributes contentType,
//! signingTime, messageDigest and cmsAlgorithmProtect (sorted as DER SET OF, X.690 11.6, the
//! encoding BouncyCastle verifies against), signatureAlgorithm rsaEncryption, the signer
//! certificate and its chain. The RSA signature itself comes from OpenSSL. Verification of RSA
//! PKCS#1 v1.5 signatures is done by hand (`verify.rs`, so SHA-1 works under any crypto policy);
//! others go to OpenSSL's PKCS#7 verifier.

use crate::crypto::keys::{subject_line, Identity};
use crate::error::{Error, ErrorKind, Result};
use openssl::hash::MessageDigest;
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::sign::Signer;
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::X509;

/// The digest of the CMS signature (the ASiC manifest digests are always SHA-256).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureDigest {
    #[default]
    Sha256,
    /// SHA1withRSA, what the Java integration point writes.
    Sha1,
}

impl SignatureDigest {
    fn md(self) -> MessageDigest {
        match self {
            SignatureDigest::Sha256 => MessageDigest::sha256(),
            SignatureDigest::Sha1 => MessageDigest::sha1(),
        }
    }
    fn oid(self) -> &'static [u64] {
        match self {
            SignatureDigest::Sha256 => &[2, 16, 840, 1, 101, 3, 4, 2, 1],
            SignatureDigest::Sha1 => &[1, 3, 14, 3, 2, 26],
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            SignatureDigest::Sha256 => "SHA-256",
            SignatureDigest::Sha1 => "SHA-1",
        }
    }
}

const OID_SIGNED_DATA: &[u64] = &[1, 2, 840, 113549, 1, 7, 2];
const OID_DATA: &[u64] = &[1, 2, 840, 113549, 1, 7, 1];
const OID_RSA: &[u64] = &[1, 2, 840, 113549, 1, 1, 1];
const OID_CONTENT_TYPE: &[u64] = &[1, 2, 840, 113549, 1, 9, 3];
const OID_MESSAGE_DIGEST: &[u64] = &[1, 2, 840, 113549, 1, 9, 4];
const OID_SIGNING_TIME: &[u64] = &[1, 2, 840, 113549, 1, 9, 5];
const OID_ALGORITHM_PROTECT: &[u64] = &[1, 2, 840, 113549, 1, 9, 52];

// Minimal DER encoding.

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut push = |mut v: u64| {
        let mut tmp = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            tmp.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        tmp.reverse();
        body.extend_from_slice(&tmp);
    };
    push(arcs[0] * 40 + arcs[1]);
    for a in &arcs[2..] {
        push(*a);
    }
    tlv(0x06, &body)
}

fn integer_unsigned(magnitude: &[u8]) -> Vec<u8> {
    let trimmed: &[u8] = {
        let skip = magnitude.iter().take_while(|b| **b == 0).count();
        if skip == magnitude.len() {
            &[0]
        } else {
            &magnitude[skip..]
        }
    };
    let mut body = Vec::with_capacity(trimmed.len() + 1);
    if trimmed[0] & 0x80 != 0 {
        body.push(0);
    }
    body.extend_from_slice(trimmed);
    tlv(0x02, &body)
}

fn alg_id(arcs: &[u64], null_params: bool) -> Vec<u8> {
    if null_params {
        seq(&[&oid(arcs), &[0x05, 0x00]])
    } else {
        seq(&[&oid(arcs)])
    }
}

fn attribute(arcs: &[u64], value: &[u8]) -> Vec<u8> {
    seq(&[&oid(arcs), &tlv(0x31, value)])
}

/// UTCTime for 1950-2049, GeneralizedTime otherwise (RFC 5652 11.3).
fn signing_time(now: time::OffsetDateTime) -> Vec<u8> {
    let t = now.to_offset(time::UtcOffset::UTC);
    let (y, rest) = (
        t.year(),
        format!(
            "{:02}{:02}{:02}{:02}{:02}Z",
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
    );
    if (1950..2050).contains(&y) {
        tlv(0x17, format!("{:02}{rest}", y % 100).as_bytes())
    } else {
        tlv(0x18, format!("{y:04}{rest}").as_bytes())
    }
}

fn crypto_err(what: &str) -> impl Fn(openssl::error::ErrorStack) -> Error + '_ {
    move |e| Error::new(ErrorKind::Crypto, format!("{what}: {e}"))
}

/// Sign `content` (the ASiCManifest bytes) detached; returns the DER ContentInfo (.p7s).
pub fn sign_detached(
    content: &[u8],
    identity: &Identity,
    digest: SignatureDigest,
) -> Result<Vec<u8>> {
    let md = digest.md();
    let content_digest =
        openssl::hash::hash(md, content).map_err(crypto_err("hashing the ASiC manifest"))?;
    // BouncyCastle writes SHA-1 AlgorithmIdentifiers with NULL parameters and SHA-2 without.
    let digest_alg = alg_id(digest.oid(), digest == SignatureDigest::Sha1);
    // cmsAlgorithmProtect's signatureAlgorithm is [1] IMPLICIT AlgorithmIdentifier: the same
    // content under a context tag (the encoding is short, so its header is two bytes). It names
    // exactly what the SignerInfo names (rsaEncryption): BouncyCastle's verifier compares the two
    // and rejects a mismatch (checked against bcpkix 1.72, whose generator writes it so too).
    let sig_alg = alg_id(OID_RSA, true);
    let protect_sig = tlv(0xA1, &sig_alg[2..]);
    let mut attrs = [
        attribute(OID_CONTENT_TYPE, &oid(OID_DATA)),
        attribute(
            OID_SIGNING_TIME,
            &signing_time(time::OffsetDateTime::now_utc()),
        ),
        attribute(OID_MESSAGE_DIGEST, &tlv(0x04, &content_digest)),
        attribute(OID_ALGORITHM_PROTECT, &seq(&[&digest_alg, &protect_sig])),
    ];
    // DER SET OF: elements in ascending order of their encodings.
    attrs.sort();
    let attrs_body = attrs.concat();
    let to_sign = tlv(0x31, &attrs_body);
    let mut signer =
        Signer::new(md, &identity.private_key).map_err(crypto_err("preparing the signature"))?;
    signer.update(&to_sign).map_err(crypto_err("signing"))?;
    let signature = signer.sign_to_vec().map_err(crypto_err("signing"))?;

    let cert = &identity.certificate;
    let issuer = cert
        .issuer_name()
        .to_der()
        .map_err(crypto_err("encoding the issuer"))?;
    let serial = cert
        .serial_number()
        .to_bn()
        .map_err(crypto_err("reading the serial number"))?
        .to_vec();
    let sid = seq(&[&issuer, &integer_unsigned(&serial)]);
    let signer_info = seq(&[
        &[0x02, 0x01, 0x01],
        &sid,
        &digest_alg,
        &tlv(0xA0, &attrs_body),
        &alg_id(OID_RSA, true),
        &tlv(0x04, &signature),
    ]);
    let mut certs = cert
        .to_der()
        .map_err(crypto_err("encoding the certificate"))?;
    for c in &identity.chain {
        certs.extend(
            c.to_der()
                .map_err(crypto_err("encoding a chain certificate"))?,
        );
    }
    let signed_data = seq(&[
        &[0x02, 0x01, 0x01],
        &tlv(0x31, &digest_alg),
        &seq(&[&oid(OID_DATA)]),
        &tlv(0xA0, &certs),
        &tlv(0x31, &signer_info),
    ]);
    Ok(seq(&[&oid(OID_SIGNED_DATA), &tlv(0xA0, &signed_data)]))
}

/// Verify a detached signature over `content`; returns the signer's certificate. The certificate
/// chain is not validated here (DPO has no common trust anchor for enterprise certificates in
/// this layer); callers pin the expected signer with `expected`.
pub fn verify_detached(p7s: &[u8], content: &[u8], expected: Option<&X509>) -> Result<X509> {
    // RSA PKCS#1 v1.5 (every DPO sender) is checked by hand, so SHA1withRSA verifies on hosts
    // whose crypto policy forbids SHA-1 signatures; anything else goes to OpenSSL.
    if let Some(signer) = super::verify::verify_rsa_detached(p7s, content, expected)? {
        return Ok(signer);
    }
    verify_with_openssl(p7s, content, expected)
}

/// OpenSSL's PKCS#7 verifier, for signature algorithms [`super::verify`] does not handle.
fn verify_with_openssl(p7s: &[u8], content: &[u8], expected: Option<&X509>) -> Result<X509> {
    let invalid = |why: String| {
        Error::new(
            ErrorKind::SignatureInvalid,
            format!("the ASiC signature is invalid: {why}"),
        )
    };
    let p7 = Pkcs7::from_der(p7s)
        .map_err(|e| invalid(format!("not a CMS SignedData structure ({e})")))?;
    let empty = Stack::new().map_err(crypto_err("allocating"))?;
    let store = X509StoreBuilder::new()
        .map_err(crypto_err("allocating"))?
        .build();
    let flags = Pkcs7Flags::BINARY | Pkcs7Flags::NOVERIFY | Pkcs7Flags::DETACHED;
    p7.verify(&empty, &store, Some(content), None, flags)
        .map_err(|e| {
            invalid(format!(
                "the signature does not match META-INF/ASiCManifest.xml ({e})"
            ))
        })?;
    let signers = p7
        .signers(&empty, Pkcs7Flags::BINARY)
        .map_err(|e| invalid(format!("the signer certificate is missing ({e})")))?;
    if signers.len() != 1 {
        return Err(invalid(format!(
            "expected one signer, found {}",
            signers.len()
        )));
    }
    let signer = signers.get(0).expect("one signer").to_owned();
    check_expected_signer(signer, expected)
}

/// `signer`, unless the caller pinned another certificate.
pub(super) fn check_expected_signer(signer: X509, expected: Option<&X509>) -> Result<X509> {
    if let Some(want) = expected {
        let same = matches!((signer.to_der(), want.to_der()), (Ok(a), Ok(b)) if a == b);
        if !same {
            return Err(Error::new(
                ErrorKind::SignatureInvalid,
                format!(
                    "the ASiC is signed by {}, not by the expected {}",
                    subject_line(&signer),
                    subject_line(want)
                ),
            ));
        }
    }
    Ok(signer)
}
