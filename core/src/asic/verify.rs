//! Verifying the detached CMS signature over `META-INF/ASiCManifest.xml` by hand for
//! RSA PKCS#1 v1.5, the only kind DPO senders write (the IP: SHA1withRSA; efm: SHA256withRSA).
//!
//! Why not OpenSSL's CMS/PKCS7 verifier: hosts in the RHEL 9 family forbid SHA-1 in signatures
//! through their system crypto policy, so OpenSSL refuses the SHA1withRSA signature every
//! integration point writes, and a message the IP accepts would become unopenable. The checks a
//! verifier makes are few and fixed, so they are done here: the signed attributes' messageDigest
//! against our own digest of the manifest, and the RSA signature as `s^e mod n` (plain big-number
//! arithmetic, which no policy restricts) compared with the PKCS#1 v1.5 encoding of our digest of
//! the signed attributes. SHA-1 is computed by pure Rust code (`sha1_smol`), the SHA-2 family by
//! OpenSSL's low-level digest functions, which sit outside the provider and policy machinery.
//! Signatures of any other kind (RSA-PSS, ECDSA) go to OpenSSL's verifier as before.

use crate::crypto::ber::{self, Tlv};
use crate::crypto::cms::algorithms::Digest;
use crate::error::{Error, ErrorKind, Result};
use openssl::bn::{BigNum, BigNumContext};
use openssl::x509::X509;

const OID_SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
const OID_DATA: &str = "1.2.840.113549.1.7.1";
const OID_CONTENT_TYPE: &str = "1.2.840.113549.1.9.3";
const OID_MESSAGE_DIGEST: &str = "1.2.840.113549.1.9.4";
const OID_ALGORITHM_PROTECT: &str = "1.2.840.113549.1.9.52";
const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";

/// The digest a `<digest>WithRSAEncryption` signature algorithm names.
fn digest_of_rsa_signature(oid: &str) -> Option<Digest> {
    Some(match oid {
        "1.2.840.113549.1.1.5" => Digest::Sha1,
        "1.2.840.113549.1.1.14" => Digest::Sha224,
        "1.2.840.113549.1.1.11" => Digest::Sha256,
        "1.2.840.113549.1.1.12" => Digest::Sha384,
        "1.2.840.113549.1.1.13" => Digest::Sha512,
        _ => return None,
    })
}

/// The digest of `data`, computed without OpenSSL's policy-governed EVP layer.
pub(crate) fn digest(d: Digest, data: &[u8]) -> Vec<u8> {
    match d {
        Digest::Sha1 => sha1_smol::Sha1::from(data).digest().bytes().to_vec(),
        Digest::Sha224 => openssl::sha::sha224(data).to_vec(),
        Digest::Sha256 => openssl::sha::sha256(data).to_vec(),
        Digest::Sha384 => openssl::sha::sha384(data).to_vec(),
        Digest::Sha512 => openssl::sha::sha512(data).to_vec(),
    }
}

/// DigestInfo (RFC 8017 9.2) for `hash`; `null_params` chooses between the two encodings RFC 8017
/// allows verifiers to accept (NULL parameters, or none).
fn digest_info(d: Digest, hash: &[u8], null_params: bool) -> Vec<u8> {
    let oid = ber::der_oid(d.oid());
    let alg = if null_params {
        ber::der_seq(ber::SEQUENCE, &[&oid, &[ber::NULL, 0]])
    } else {
        ber::der_seq(ber::SEQUENCE, &[&oid])
    };
    ber::der_seq(ber::SEQUENCE, &[&alg, &ber::der(ber::OCTET_STRING, hash)])
}

fn invalid(why: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::SignatureInvalid,
        format!("the ASiC signature is invalid: {why}"),
    )
}

fn oid_of(t: &Tlv) -> Option<String> {
    if !t.is(ber::OID) {
        return None;
    }
    ber::oid_to_string(t.bytes()?)
}

/// The OID of an AlgorithmIdentifier.
fn algorithm_oid(t: &Tlv) -> Result<String> {
    t.children()
        .first()
        .filter(|_| t.is(ber::SEQUENCE))
        .and_then(oid_of)
        .ok_or_else(|| invalid("an AlgorithmIdentifier is malformed"))
}

fn is_context(t: &Tlv, number: u32) -> bool {
    t.ident & ber::CLASS_MASK == ber::CONTEXT && t.number == number
}

fn parse(der: &[u8]) -> Result<Tlv> {
    let mut r = ber::Reader::new(der, 8 * 1024);
    let h = ber::read_header(&mut r).map_err(|_| invalid("not a CMS SignedData structure"))?;
    let mut budget = (der.len() as u64).saturating_mul(64) + 64 * 1024;
    ber::read_tlv(&mut r, &h, &mut budget)
        .map_err(|_| invalid("not a well-formed CMS SignedData structure"))
}

/// What the verifier needs from one SignerInfo.
struct SignerInfo<'a> {
    sid: &'a Tlv,
    digest: String,
    signed_attrs: Option<&'a Tlv>,
    signature_algorithm: String,
    signature: Vec<u8>,
}

fn signer_info(t: &Tlv) -> Result<SignerInfo<'_>> {
    let c = t.children();
    if !t.is(ber::SEQUENCE) || c.len() < 5 {
        return Err(invalid("the SignerInfo is malformed"));
    }
    let (signed_attrs, rest) = if is_context(&c[3], 0) {
        (Some(&c[3]), &c[4..])
    } else {
        (None, &c[3..])
    };
    let [sig_alg, signature, ..] = rest else {
        return Err(invalid("the SignerInfo is malformed"));
    };
    if !(signature.is(ber::OCTET_STRING) || signature.is(ber::OCTET_STRING_CONSTRUCTED)) {
        return Err(invalid("the SignerInfo's signature is not an OCTET STRING"));
    }
    Ok(SignerInfo {
        sid: &c[1],
        digest: algorithm_oid(&c[2])?,
        signed_attrs,
        signature_algorithm: algorithm_oid(sig_alg)?,
        signature: signature.string_value(),
    })
}

/// The certificate (DER) the SignerInfo's sid names: issuerAndSerialNumber or [0]
/// subjectKeyIdentifier.
fn find_signer<'a>(sid: &Tlv, certificates: &'a [Vec<u8>]) -> Result<&'a [u8]> {
    for der in certificates {
        let Ok(cert) = X509::from_der(der) else {
            continue;
        };
        let matches = if sid.is(ber::SEQUENCE) {
            let c = sid.children();
            let issuer = cert.issuer_name().to_der().ok();
            let serial = cert.serial_number().to_bn().ok().map(|b| b.to_vec());
            c.len() == 2
                && issuer.as_deref() == Some(c[0].to_der().as_slice())
                && serial.is_some_and(|s| strip_zeros(c[1].bytes().unwrap_or_default()) == s)
        } else if is_context(sid, 0) {
            cert.subject_key_id()
                .is_some_and(|k| Some(k.as_slice()) == sid.bytes())
        } else {
            false
        };
        if matches {
            return Ok(der);
        }
    }
    Err(invalid(
        "the signer certificate is missing from the signature",
    ))
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let skip = b.iter().take_while(|x| **x == 0).count();
    &b[skip..]
}

/// The RSA modulus and exponent of a certificate, read from its SubjectPublicKeyInfo.
fn rsa_public_key(cert_der: &[u8]) -> Result<(BigNum, BigNum)> {
    let bad = || invalid("the signer certificate does not hold an RSA public key");
    let cert = parse(cert_der)?;
    let tbs = cert.children().first().ok_or_else(bad)?;
    let fields = tbs.children();
    // [0] version is optional; then serial, signature, issuer, validity, subject, SPKI.
    let skip = usize::from(fields.first().is_some_and(|f| is_context(f, 0)));
    let spki = fields.get(skip + 5).ok_or_else(bad)?;
    let [alg, bits] = spki.children() else {
        return Err(bad());
    };
    if algorithm_oid(alg)? != OID_RSA_ENCRYPTION {
        return Err(bad());
    }
    let bits = bits.bytes().ok_or_else(bad)?;
    // A BIT STRING: the first octet counts unused bits (0 for a key).
    let key = parse(bits.get(1..).ok_or_else(bad)?)?;
    let [n, e] = key.children() else {
        return Err(bad());
    };
    let num = |t: &Tlv| {
        t.bytes()
            .filter(|_| t.is(ber::INTEGER))
            .and_then(|b| BigNum::from_slice(b).ok())
            .ok_or_else(bad)
    };
    Ok((num(n)?, num(e)?))
}

/// RSASSA-PKCS1-v1_5 verification (RFC 8017 8.2.2) of `signature` over a message whose digest is
/// `hash`: `s^e mod n` must be `00 01 FF.. 00 || DigestInfo(hash)`.
pub(crate) fn rsa_pkcs1_verify(
    n: &BigNum,
    e: &BigNum,
    digest: Digest,
    hash: &[u8],
    signature: &[u8],
) -> Result<()> {
    let k = n.num_bytes() as usize;
    if signature.len() != k {
        return Err(invalid(format!(
            "the RSA signature is {} bytes, the key needs {k}",
            signature.len()
        )));
    }
    let crypto = |e: openssl::error::ErrorStack| Error::new(ErrorKind::Crypto, e.to_string());
    let s = BigNum::from_slice(signature).map_err(crypto)?;
    if &s >= n {
        return Err(invalid("the RSA signature is out of range"));
    }
    let mut ctx = BigNumContext::new().map_err(crypto)?;
    let mut m = BigNum::new().map_err(crypto)?;
    m.mod_exp(&s, e, n, &mut ctx).map_err(crypto)?;
    let em = m.to_vec_padded(k as i32).map_err(crypto)?;
    let matches = [true, false].iter().any(|null_params| {
        let t = digest_info(digest, hash, *null_params);
        // At least 8 bytes of padding (RFC 8017 9.2 step 5).
        k >= t.len() + 11 && {
            let ps = k - t.len() - 3;
            em[0] == 0
                && em[1] == 1
                && em[2..2 + ps].iter().all(|b| *b == 0xFF)
                && em[2 + ps] == 0
                && em[3 + ps..] == t[..]
        }
    });
    if matches {
        Ok(())
    } else {
        Err(invalid(format!(
            "the {}withRSA signature does not match META-INF/ASiCManifest.xml",
            digest.name().replace('-', "")
        )))
    }
}

/// The content of the single value of the attribute `oid` in `attrs`, if present.
fn attribute<'a>(attrs: &'a Tlv, oid: &str) -> Result<Option<&'a Tlv>> {
    let mut found = None;
    for a in attrs.children() {
        let c = a.children();
        if c.first().and_then(oid_of).as_deref() != Some(oid) {
            continue;
        }
        let values = c.get(1).map(Tlv::children).unwrap_or_default();
        if found.is_some() || values.len() != 1 {
            return Err(invalid(format!(
                "the signed attribute {oid} must occur once with one value"
            )));
        }
        found = Some(&values[0]);
    }
    Ok(found)
}

/// The outcome of the hand-made path: `None` when the signature is of a kind it does not handle
/// (the caller asks OpenSSL then).
pub fn verify_rsa_detached(
    p7s: &[u8],
    content: &[u8],
    expected: Option<&X509>,
) -> Result<Option<X509>> {
    let root = parse(p7s)?;
    let c = root.children();
    if !root.is(ber::SEQUENCE)
        || c.first().and_then(oid_of).as_deref() != Some(OID_SIGNED_DATA)
        || !c.get(1).is_some_and(|t| is_context(t, 0))
    {
        return Err(invalid("not a CMS SignedData structure"));
    }
    let signed_data = c[1]
        .children()
        .first()
        .ok_or_else(|| invalid("the SignedData is empty"))?;
    let sd = signed_data.children();
    if sd.len() < 4 {
        return Err(invalid("the SignedData is malformed"));
    }
    let encap = sd[2].children();
    if encap.first().and_then(oid_of).as_deref() != Some(OID_DATA) {
        return Err(invalid("the signed content is not of type id-data"));
    }
    if encap.len() > 1 {
        return Err(invalid(
            "the signature carries its own content; a detached signature over the manifest is expected",
        ));
    }
    let certificates: Vec<Vec<u8>> = sd[3..]
        .iter()
        .find(|t| is_context(t, 0))
        .map(|t| t.children().iter().map(Tlv::to_der).collect())
        .unwrap_or_default();
    let signer_infos = sd
        .last()
        .filter(|t| t.is(ber::SET))
        .ok_or_else(|| invalid("the SignedData has no signerInfos"))?;
    let [info] = signer_infos.children() else {
        return Err(invalid(format!(
            "expected one signer, found {}",
            signer_infos.children().len()
        )));
    };
    let si = signer_info(info)?;
    let Some(digest) = Digest::from_oid(&si.digest) else {
        return Ok(None);
    };
    match digest_of_rsa_signature(&si.signature_algorithm) {
        Some(d) if d == digest => {}
        Some(_) => {
            return Err(invalid(
                "the signature algorithm names another digest than the SignerInfo",
            ))
        }
        None if si.signature_algorithm == OID_RSA_ENCRYPTION => {}
        None => return Ok(None),
    }
    let cert_der = find_signer(si.sid, &certificates)?;
    let (n, e) = rsa_public_key(cert_der)?;
    let content_hash = self::digest(digest, content);
    let signed = match si.signed_attrs {
        None => vec![content_hash],
        Some(attrs) => {
            let md = attribute(attrs, OID_MESSAGE_DIGEST)?
                .ok_or_else(|| invalid("the signed attributes lack messageDigest"))?;
            if md.bytes() != Some(content_hash.as_slice()) {
                return Err(invalid(
                    "the signature does not match META-INF/ASiCManifest.xml (messageDigest differs: the manifest was altered)",
                ));
            }
            if let Some(ct) = attribute(attrs, OID_CONTENT_TYPE)? {
                if oid_of(ct).as_deref() != Some(OID_DATA) {
                    return Err(invalid("the contentType attribute is not id-data"));
                }
            }
            if let Some(protect) = attribute(attrs, OID_ALGORITHM_PROTECT)? {
                // CMS algorithm protection (RFC 6211): the signed copy must name the same
                // digest as the SignerInfo, so the algorithm cannot be swapped.
                let named = protect.children().first().map(algorithm_oid).transpose()?;
                if named.as_deref() != Some(si.digest.as_str()) {
                    return Err(invalid(
                        "cmsAlgorithmProtect names another digest than the SignerInfo",
                    ));
                }
            }
            // The signature covers the attributes as a DER SET OF (tag 0x31, not [0]): in the
            // order received (DER, as every signer writes it), or sorted, as a verifier that
            // re-encodes them would have it.
            let mut elements: Vec<Vec<u8>> = attrs.children().iter().map(Tlv::to_der).collect();
            let mut forms = vec![self::digest(
                digest,
                &ber::der(ber::SET, &elements.concat()),
            )];
            elements.sort();
            let sorted = self::digest(digest, &ber::der(ber::SET, &elements.concat()));
            if sorted != forms[0] {
                forms.push(sorted);
            }
            forms
        }
    };
    let mut outcome = Err(invalid("no signature form to check"));
    for hash in &signed {
        outcome = rsa_pkcs1_verify(&n, &e, digest, hash, &si.signature);
        if outcome.is_ok() {
            break;
        }
    }
    outcome?;
    let signer = X509::from_der(cert_der)
        .map_err(|e| invalid(format!("the signer certificate cannot be read ({e})")))?;
    super::signature::check_expected_signer(signer, expected).map(Some)
}
