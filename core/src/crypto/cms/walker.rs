//! Walking the BER/DER structure around the encrypted content, and reading the header.

use super::algorithms::*;
use super::recipients::*;
use super::*;
use crate::crypto::ber::{self, Header, Tlv};

#[derive(Debug, Clone, Copy)]
pub(super) struct Frame {
    pub(super) end: Option<u64>,
    pub(super) what: &'static str,
}

/// Walks the BER structure around the content and hands out the encrypted content octets.
pub(super) struct Walker<R: Read> {
    pub(super) r: ber::Reader<R>,
    pub(super) frames: Vec<Frame>,
    /// `frames.len()` while inside EncryptedContentInfo, i.e. when the content is done.
    pub(super) content_depth: usize,
    pub(super) segment_left: u64,
}

impl<R: Read> Walker<R> {
    pub(super) fn new(input: R) -> Self {
        Walker {
            r: ber::Reader::new(input, CHUNK),
            frames: Vec::new(),
            content_depth: usize::MAX,
            segment_left: 0,
        }
    }

    /// The next child of the innermost open element, or `None` at its end.
    pub(super) fn next_child(&mut self) -> Result<Option<Header>> {
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

    pub(super) fn child(&mut self, what: &str) -> Result<Header> {
        let parent = self.frames.last().map(|f| f.what).unwrap_or("input");
        self.next_child()?.ok_or_else(|| {
            ber::malformed(
                self.r.offset(),
                format!("the {parent} ends where {what} should follow"),
            )
        })
    }

    pub(super) fn open(&mut self, h: &Header, ident: u8, what: &'static str) -> Result<()> {
        if !h.is(ident) {
            return Err(ber::malformed(
                h.start,
                format!("expected {what}, found {}", h.describe()),
            ));
        }
        self.frames.push(Frame { end: h.end(), what });
        Ok(())
    }

    pub(super) fn small(&mut self, h: &Header, budget: &mut u64) -> Result<Tlv> {
        ber::read_tlv(&mut self.r, h, budget)
    }

    pub(super) fn close(&mut self) -> Result<()> {
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

    /// The header of a primitive, definite-length OCTET STRING segment (the content comes in
    /// a million of them per GB: BouncyCastle and efm write 1000-byte ones), read straight from
    /// the buffer: its length, the header consumed. `None`, nothing consumed, for anything else
    /// (an end, a nested or overlong segment, a header not wholly buffered), which
    /// `next_child` then reads, and checks, the general way.
    fn segment_header(&mut self) -> Result<Option<u64>> {
        let offset = self.r.offset();
        let Some(top) = self.frames.last() else {
            return Ok(None);
        };
        if top.end.is_some_and(|end| offset >= end) {
            return Ok(None);
        }
        let (header, len) = match *self.r.peek()? {
            [ber::OCTET_STRING, l, ..] if l < 0x80 => (2, u64::from(l)),
            [ber::OCTET_STRING, 0x81, l, ..] => (3, u64::from(l)),
            [ber::OCTET_STRING, 0x82, h, l, ..] => (4, u64::from(u16::from_be_bytes([h, l]))),
            _ => return Ok(None),
        };
        let end = offset + header + len;
        if self.frames.iter().any(|f| f.end.is_some_and(|e| end > e)) {
            return Ok(None);
        }
        self.r.consume(header as usize);
        Ok(Some(len))
    }

    /// Read some encrypted content octets; 0 once the content is complete.
    pub(super) fn read_content(&mut self, buf: &mut [u8]) -> Result<usize> {
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
            if let Some(len) = self.segment_header()? {
                self.segment_left = len;
                continue;
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
    pub(super) fn fill(&mut self, buf: &mut [u8]) -> Result<usize> {
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
    pub(super) fn finish(&mut self) -> Result<()> {
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
pub(super) struct Envelope {
    pub(super) info: CmsInfo,
    pub(super) recipients: Vec<Recipient>,
    pub(super) cipher: Option<(Cipher, Vec<u8>)>,
}

pub(super) fn read_envelope<R: Read>(w: &mut Walker<R>) -> Result<Envelope> {
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
