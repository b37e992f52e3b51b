//! A small BER reader and DER writer, enough for CMS EnvelopedData.
//!
//! Written by hand because the CMS that DPO senders write is BER with indefinite lengths and
//! constructed OCTET STRINGs (BouncyCastle's streaming generator), which the DER-only ASN.1 crates
//! reject, and because the encrypted content must be streamed rather than parsed into memory.
//! The reader therefore works on a byte stream: [`Reader`] counts offsets (for error messages and
//! definite-length bookkeeping), [`read_header`] reads one identifier + length, and [`read_tlv`]
//! reads one *small* element (algorithm identifiers, recipient infos) into a [`Tlv`] tree with a
//! byte budget. The big encrypted content never goes through [`read_tlv`]; `cms.rs` walks it
//! segment by segment.

use crate::error::{Error, ErrorKind, Result};
use std::io::{self, BufRead, BufReader, Read};

/// Identifier octets (class + constructed bit + tag number < 31) of the universal types used here.
pub const INTEGER: u8 = 0x02;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;
/// A constructed (BER only) OCTET STRING.
pub const OCTET_STRING_CONSTRUCTED: u8 = 0x24;

pub const CLASS_MASK: u8 = 0xC0;
pub const CONTEXT: u8 = 0x80;
pub const CONSTRUCTED: u8 = 0x20;

/// Deepest nesting [`read_tlv`] accepts; real CMS headers stay below 15.
const MAX_DEPTH: usize = 32;

/// The error for a structure that is not what CMS requires.
pub fn malformed(offset: u64, what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::PackageInvalid,
        format!(
            "the CMS data is malformed at byte {offset}: {what}; it is not a CMS EnvelopedData or \
             it was damaged in transit: ask the sender to send it again"
        ),
    )
}

/// The error for input that stops before the structure is complete.
pub fn truncated(offset: u64) -> Error {
    let what = if offset == 0 {
        "the CMS data is empty".to_string()
    } else {
        format!("the CMS data ends early at byte {offset} (truncated)")
    };
    Error::new(
        ErrorKind::PackageInvalid,
        format!("{what}: download the package again or ask the sender to send it again"),
    )
}

/// A buffered reader that knows how many bytes it has handed out.
pub struct Reader<R: Read> {
    inner: BufReader<R>,
    offset: u64,
}

impl<R: Read> Reader<R> {
    pub fn new(inner: R, buffer_size: usize) -> Self {
        Reader {
            inner: BufReader::with_capacity(buffer_size, inner),
            offset: 0,
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn io_error(&self, e: io::Error) -> Error {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            return truncated(self.offset);
        }
        // The source (a zip entry of the package) failed with a reason of its own, such as a
        // truncated or damaged zip: that is what is wrong, not the disk.
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            if let Ok(inner) = e.into_inner().expect("checked above").downcast::<Error>() {
                return inner.context(format!("reading the CMS data at byte {}", self.offset));
            }
            return Error::new(ErrorKind::Internal, "an error lost its reason");
        }
        Error::io(format!("reading the CMS data at byte {}", self.offset), e)
    }

    pub fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        self.inner.read_exact(buf).map_err(|e| self.io_error(e))?;
        self.offset += buf.len() as u64;
        Ok(())
    }

    pub fn read_byte(&mut self) -> Result<u8> {
        let mut b = [0u8; 1];
        self.read_exact(&mut b)?;
        Ok(b[0])
    }

    /// Read at least one and at most `buf.len()` bytes; end of input is truncation.
    pub fn read_some(&mut self, buf: &mut [u8]) -> Result<usize> {
        loop {
            match self.inner.read(buf) {
                Ok(0) if !buf.is_empty() => return Err(truncated(self.offset)),
                Ok(n) => {
                    self.offset += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(e)),
            }
        }
    }

    /// The bytes buffered next, without consuming them (refilled when none are); empty at the
    /// end of the input.
    pub fn peek(&mut self) -> Result<&[u8]> {
        if let Err(e) = self.inner.fill_buf() {
            return Err(self.io_error(e));
        }
        Ok(self.inner.buffer())
    }

    /// Consume `n` bytes of what [`Reader::peek`] returned.
    pub fn consume(&mut self, n: usize) {
        self.inner.consume(n);
        self.offset += n as u64;
    }

    /// Whether the input has no more bytes (used only to describe what is wrong).
    pub fn at_eof(&mut self) -> bool {
        matches!(self.inner.fill_buf(), Ok(b) if b.is_empty())
    }
}

/// One identifier + length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The first identifier octet (class, constructed bit, low tag bits).
    pub ident: u8,
    /// The full tag number (high-tag-number form decoded).
    pub number: u32,
    /// `None` for the indefinite form.
    pub len: Option<u64>,
    /// Offset of the identifier octet.
    pub start: u64,
    /// Offset of the first content octet.
    pub content_start: u64,
}

impl Header {
    pub fn constructed(&self) -> bool {
        self.ident & CONSTRUCTED != 0
    }
    pub fn is_eoc(&self) -> bool {
        self.ident == 0 && self.len == Some(0)
    }
    /// Whether the element is the universal or context tag `ident` (an identifier octet with a
    /// low tag number, e.g. [`SEQUENCE`] or `0xA0`).
    pub fn is(&self, ident: u8) -> bool {
        self.ident == ident && self.number == u32::from(ident & 0x1F)
    }
    /// Offset just past the element, for definite lengths.
    pub fn end(&self) -> Option<u64> {
        self.len.map(|l| self.content_start + l)
    }
    pub fn describe(&self) -> String {
        describe_tag(self.ident, self.number)
    }
}

/// A readable name for a tag in error messages.
pub fn describe_tag(ident: u8, number: u32) -> String {
    let form = if ident & CONSTRUCTED != 0 {
        " (constructed)"
    } else {
        ""
    };
    match ident & CLASS_MASK {
        0x00 => {
            let name = match number {
                0 => "end-of-contents",
                1 => "BOOLEAN",
                2 => "INTEGER",
                3 => "BIT STRING",
                4 => "OCTET STRING",
                5 => "NULL",
                6 => "OBJECT IDENTIFIER",
                16 => "SEQUENCE",
                17 => "SET",
                _ => return format!("universal tag {number}{form}"),
            };
            format!("{name}{form}")
        }
        0x40 => format!("application tag [{number}]{form}"),
        0x80 => format!("context tag [{number}]{form}"),
        _ => format!("private tag [{number}]{form}"),
    }
}

/// Read one identifier and length.
pub fn read_header<R: Read>(r: &mut Reader<R>) -> Result<Header> {
    let start = r.offset();
    let ident = r.read_byte()?;
    let mut number = u32::from(ident & 0x1F);
    if number == 0x1F {
        number = 0;
        for i in 0.. {
            let b = r.read_byte()?;
            if i == 4 || (i == 0 && b == 0x80) {
                return Err(malformed(start, "tag number too long or badly encoded"));
            }
            number = (number << 7) | u32::from(b & 0x7F);
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let first = r.read_byte()?;
    let len = match first {
        0x00..=0x7F => Some(u64::from(first)),
        0x80 => {
            if ident & CONSTRUCTED == 0 {
                return Err(malformed(
                    start,
                    format!(
                        "{} uses the indefinite length, which only constructed elements may",
                        describe_tag(ident, number)
                    ),
                ));
            }
            None
        }
        0xFF => return Err(malformed(start, "reserved length octet 0xFF")),
        _ => {
            let n = usize::from(first & 0x7F);
            if n > 8 {
                return Err(malformed(
                    start,
                    format!("length of {n} octets is too long"),
                ));
            }
            let mut v: u64 = 0;
            for _ in 0..n {
                v = (v << 8) | u64::from(r.read_byte()?);
            }
            // Far beyond any real file, and keeps offset arithmetic from overflowing.
            if v > 1 << 56 {
                return Err(malformed(start, format!("length {v} is implausibly large")));
            }
            Some(v)
        }
    };
    if ident == 0 && number == 0 && len != Some(0) {
        return Err(malformed(
            start,
            "end-of-contents marker with a non-zero length",
        ));
    }
    Ok(Header {
        ident,
        number,
        len,
        start,
        content_start: r.offset(),
    })
}

/// A small element read into memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    pub ident: u8,
    pub number: u32,
    /// Where it started in the input (for error messages).
    pub offset: u64,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Primitive(Vec<u8>),
    Constructed(Vec<Tlv>),
}

impl Tlv {
    pub fn is(&self, ident: u8) -> bool {
        self.ident == ident && self.number == u32::from(ident & 0x1F)
    }

    pub fn describe(&self) -> String {
        describe_tag(self.ident, self.number)
    }

    pub fn children(&self) -> &[Tlv] {
        match &self.body {
            Body::Constructed(c) => c,
            Body::Primitive(_) => &[],
        }
    }

    /// The content octets of a primitive element.
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.body {
            Body::Primitive(b) => Some(b),
            Body::Constructed(_) => None,
        }
    }

    /// The value of a string type, joining the segments of a BER constructed string.
    pub fn string_value(&self) -> Vec<u8> {
        match &self.body {
            Body::Primitive(b) => b.clone(),
            Body::Constructed(c) => c.iter().flat_map(|t| t.string_value()).collect(),
        }
    }

    /// The DER encoding (definite lengths; constructed strings kept as they are).
    pub fn to_der(&self) -> Vec<u8> {
        let mut ident = encode_ident(self.ident, self.number);
        match &self.body {
            Body::Primitive(b) => {
                ident.extend_from_slice(&encode_len(b.len()));
                ident.extend_from_slice(b);
            }
            Body::Constructed(children) => {
                let content: Vec<u8> = children.iter().flat_map(|c| c.to_der()).collect();
                ident.extend_from_slice(&encode_len(content.len()));
                ident.extend_from_slice(&content);
            }
        }
        ident
    }
}

/// Read the body of the element `h` (header already read) into memory. `budget` caps the total
/// content bytes so a hostile length cannot make us allocate without bound.
pub fn read_tlv<R: Read>(r: &mut Reader<R>, h: &Header, budget: &mut u64) -> Result<Tlv> {
    read_tlv_at(r, h, budget, 0)
}

fn read_tlv_at<R: Read>(
    r: &mut Reader<R>,
    h: &Header,
    budget: &mut u64,
    depth: usize,
) -> Result<Tlv> {
    if depth > MAX_DEPTH {
        return Err(malformed(h.start, "elements nested too deeply"));
    }
    if h.is_eoc() {
        return Err(malformed(h.start, "unexpected end-of-contents marker"));
    }
    // Every element costs its bookkeeping too, so a header made of many empty elements (`04 00`
    // repeated) cannot build a huge tree inside the byte budget.
    const ELEMENT_COST: u64 = 64;
    if *budget < ELEMENT_COST {
        return Err(malformed(h.start, "more elements than expected here"));
    }
    *budget -= ELEMENT_COST;
    let body = if !h.constructed() {
        let len = h.len.unwrap_or(0);
        if len > *budget {
            return Err(malformed(
                h.start,
                format!(
                    "{} of {len} bytes is larger than expected here",
                    h.describe()
                ),
            ));
        }
        *budget -= len;
        let mut buf = vec![0u8; len as usize];
        r.read_exact(&mut buf)?;
        Body::Primitive(buf)
    } else {
        let mut children = Vec::new();
        loop {
            if let Some(end) = h.end() {
                if r.offset() == end {
                    break;
                }
            }
            let child = read_header(r)?;
            if child.is_eoc() {
                if h.len.is_none() {
                    break;
                }
                return Err(malformed(
                    child.start,
                    "end-of-contents marker inside a definite-length element",
                ));
            }
            if let (Some(end), Some(child_end)) = (h.end(), child.end()) {
                if child_end > end {
                    return Err(malformed(
                        child.start,
                        format!("{} runs past the end of its parent", child.describe()),
                    ));
                }
            }
            // Each element costs something even if empty, so a flood of empty ones is bounded too.
            *budget = budget
                .checked_sub(2)
                .ok_or_else(|| malformed(child.start, "too many elements here"))?;
            children.push(read_tlv_at(r, &child, budget, depth + 1)?);
            if let Some(end) = h.end() {
                if r.offset() > end {
                    return Err(malformed(
                        h.start,
                        format!("{} content runs past its length", h.describe()),
                    ));
                }
            }
        }
        Body::Constructed(children)
    };
    Ok(Tlv {
        ident: h.ident,
        number: h.number,
        offset: h.start,
        body,
    })
}

/// Identifier octets for a tag.
pub fn encode_ident(ident: u8, number: u32) -> Vec<u8> {
    if number < 31 {
        return vec![(ident & 0xE0) | number as u8];
    }
    let mut out = vec![(ident & 0xE0) | 0x1F];
    let mut groups = Vec::new();
    let mut n = number;
    loop {
        groups.push((n & 0x7F) as u8);
        n >>= 7;
        if n == 0 {
            break;
        }
    }
    for (i, g) in groups.iter().rev().enumerate() {
        out.push(if i + 1 < groups.len() { g | 0x80 } else { *g });
    }
    out
}

/// DER length octets.
pub fn encode_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes = (len as u64).to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let mut out = vec![0x80 | (8 - skip) as u8];
    out.extend_from_slice(&bytes[skip..]);
    out
}

/// A DER element with a low tag number.
pub fn der(ident: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(ident);
    out.extend_from_slice(&encode_len(content.len()));
    out.extend_from_slice(content);
    out
}

/// A DER constructed element from already-encoded parts.
pub fn der_seq(ident: u8, parts: &[&[u8]]) -> Vec<u8> {
    der(ident, &parts.concat())
}

/// DER OBJECT IDENTIFIER from its dotted form. Panics on a malformed literal (only called with
/// constants from this crate).
pub fn der_oid(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted
        .split('.')
        .map(|a| a.parse().expect("OID literal"))
        .collect();
    assert!(arcs.len() >= 2, "OID literal");
    let mut content = Vec::new();
    let mut push = |mut v: u64| {
        let mut groups = vec![(v & 0x7F) as u8];
        v >>= 7;
        while v > 0 {
            groups.push((v & 0x7F) as u8 | 0x80);
            v >>= 7;
        }
        content.extend(groups.iter().rev());
    };
    push(arcs[0] * 40 + arcs[1]);
    for a in &arcs[2..] {
        push(*a);
    }
    der(OID, &content)
}

/// The dotted form of OBJECT IDENTIFIER content octets, or `None` if badly encoded.
pub fn oid_to_string(content: &[u8]) -> Option<String> {
    if content.is_empty() || content.len() > 64 {
        return None;
    }
    let mut arcs: Vec<u64> = Vec::new();
    let mut v: u64 = 0;
    let mut fresh = true;
    for &b in content {
        if fresh && b == 0x80 {
            return None;
        }
        if v >> 57 != 0 {
            return None;
        }
        v = (v << 7) | u64::from(b & 0x7F);
        fresh = b & 0x80 == 0;
        if fresh {
            if arcs.is_empty() {
                let first = (v / 40).min(2);
                arcs.push(first);
                arcs.push(v - first * 40);
            } else {
                arcs.push(v);
            }
            v = 0;
        }
    }
    if !fresh {
        return None;
    }
    Some(
        arcs.iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// DER INTEGER content octets for a non-negative big-endian magnitude.
pub fn der_uint(magnitude: &[u8]) -> Vec<u8> {
    let skip = magnitude.iter().take_while(|b| **b == 0).count();
    let m = &magnitude[skip..];
    let mut content = Vec::with_capacity(m.len() + 1);
    if m.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(m);
    der(INTEGER, &content)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Tlv> {
        let mut r = Reader::new(bytes, 64);
        let h = read_header(&mut r)?;
        let mut budget = 1 << 20;
        read_tlv(&mut r, &h, &mut budget)
    }

    #[test]
    fn oid_round_trip() {
        for s in [
            "1.2.840.113549.1.7.3",
            "2.16.840.1.101.3.4.1.42",
            "1.3.14.3.2.26",
            "2.999.3",
        ] {
            let der = der_oid(s);
            assert_eq!(oid_to_string(&der[2..]).as_deref(), Some(s));
        }
        // The envelopedData OID as every CMS encoder writes it.
        assert_eq!(
            der_oid("1.2.840.113549.1.7.3"),
            [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03]
        );
        assert_eq!(oid_to_string(&[0x2a, 0x86]), None);
    }

    #[test]
    fn indefinite_and_constructed_strings_parse_and_reencode_as_der() {
        // SEQUENCE (indefinite) { OCTET STRING (constructed, indefinite) { "ab", "c" }, NULL }
        let ber = [
            0x30, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0x00, 0x00, 0x05,
            0x00, 0x00, 0x00,
        ];
        let t = parse(&ber).unwrap();
        assert!(t.is(SEQUENCE));
        assert_eq!(t.children()[0].string_value(), b"abc");
        assert!(t.children()[1].is(NULL));
        let der = t.to_der();
        assert_eq!(der[0], 0x30);
        let again = parse(&der).unwrap();
        assert_eq!(again.children()[0].string_value(), b"abc");
        assert_eq!(again.to_der(), der);
    }

    #[test]
    fn long_lengths_and_errors() {
        let content = vec![7u8; 300];
        let enc = der(OCTET_STRING, &content);
        assert_eq!(&enc[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(parse(&enc).unwrap().bytes().unwrap(), &content[..]);
        // Truncated.
        let e = parse(&enc[..100]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PackageInvalid);
        assert!(e.message().contains("truncated"), "{}", e.message());
        // Child longer than its parent.
        let e = parse(&[0x30, 0x03, 0x04, 0x05, 1, 2, 3, 4, 5]).unwrap_err();
        assert!(e.message().contains("past the end"), "{}", e.message());
        // Primitive with the indefinite length.
        assert!(parse(&[0x04, 0x80, 0x00, 0x00]).is_err());
        // Budget.
        let mut r = Reader::new(&enc[..], 64);
        let h = read_header(&mut r).unwrap();
        assert!(read_tlv(&mut r, &h, &mut 10).is_err());
    }

    #[test]
    fn integers() {
        assert_eq!(der_uint(&[0x00, 0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(der_uint(&[0x01, 0x02]), [0x02, 0x02, 0x01, 0x02]);
        assert_eq!(der_uint(&[]), [0x02, 0x01, 0x00]);
        assert_eq!(encode_ident(0xA0, 40), [0xBF, 0x28]);
    }
}
