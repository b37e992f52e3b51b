//! MTOM/XOP framing (`multipart/related; type="application/xop+xml"`) for the Altinn 2 Streamed
//! port, both ways, without holding a payload in memory.
//!
//! - [`MtomBody`] is a `Read` that yields the whole request body: the root part (the SOAP envelope),
//!   then the binary part pulled from the caller's reader, then the closing delimiter. Its length is
//!   known up front, so the request goes out with `Content-Length`.
//! - [`MultipartReader`] walks a `multipart/related` response part by part and hands out each body
//!   as a stream that stops at the next delimiter; a body that ends before its delimiter is an
//!   error (`UnexpectedEof`), never a short part.
//!
//! Written by hand: the multipart crates on crates.io are async (multer) or form-data only, and the
//! job here is small (one delimiter scan over a buffer).

use std::io::{self, Read};

/// The root part's Content-ID (without angle brackets) in requests we build.
pub const ROOT_CID: &str = "root.0@efm.local";

/// A fresh boundary in WCF's style (`uuid:...`), safe in a quoted parameter.
pub fn new_boundary() -> String {
    format!("uuid:{}", uuid::Uuid::new_v4())
}

/// The request `Content-Type` for an MTOM message with `boundary` (SOAP 1.1 inside).
pub fn content_type(boundary: &str) -> String {
    format!(
        "multipart/related; type=\"application/xop+xml\"; start=\"<{ROOT_CID}>\"; start-info=\"text/xml\"; boundary=\"{boundary}\""
    )
}

fn root_part_head(boundary: &str) -> String {
    format!(
        "--{boundary}\r\nContent-Type: application/xop+xml; charset=utf-8; type=\"text/xml\"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{ROOT_CID}>\r\n\r\n"
    )
}

/// An MTOM message with the envelope only (e.g. the download request).
pub fn envelope_only(boundary: &str, envelope: &str) -> Vec<u8> {
    format!(
        "{}{envelope}\r\n--{boundary}--\r\n",
        root_part_head(boundary)
    )
    .into_bytes()
}

/// The request body of an upload: envelope, then `size` bytes from `payload` as the part named
/// `payload_cid`, then the closing delimiter.
pub struct MtomBody<'a> {
    head: io::Cursor<Vec<u8>>,
    payload: &'a mut dyn Read,
    payload_left: u64,
    payload_checked: bool,
    tail: io::Cursor<Vec<u8>>,
    size: u64,
}

impl<'a> MtomBody<'a> {
    pub fn new(
        boundary: &str,
        envelope: &str,
        payload_cid: &str,
        payload: &'a mut dyn Read,
        size: u64,
    ) -> MtomBody<'a> {
        let head = format!(
            "{}{envelope}\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{payload_cid}>\r\n\r\n",
            root_part_head(boundary)
        );
        MtomBody {
            head: io::Cursor::new(head.into_bytes()),
            payload,
            payload_left: size,
            payload_checked: false,
            tail: io::Cursor::new(format!("\r\n--{boundary}--\r\n").into_bytes()),
            size,
        }
    }

    /// The exact number of bytes this body yields.
    pub fn len(&self) -> u64 {
        self.head.get_ref().len() as u64 + self.size + self.tail.get_ref().len() as u64
    }

    /// Never: the envelope part is always there.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Read for MtomBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.head.read(buf)?;
        if n > 0 {
            return Ok(n);
        }
        if self.payload_left > 0 {
            let want = buf
                .len()
                .min(self.payload_left.min(usize::MAX as u64) as usize);
            let n = self.payload.read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the package ended {} bytes before the size given for it",
                        self.payload_left
                    ),
                ));
            }
            self.payload_left -= n as u64;
            return Ok(n);
        }
        if !self.payload_checked {
            // The declared size must be the whole package: a longer one would go out cut short.
            let mut probe = [0u8; 1];
            let extra = loop {
                match self.payload.read(&mut probe) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            };
            if extra != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the package is longer than the size given for it",
                ));
            }
            self.payload_checked = true;
        }
        self.tail.read(buf)
    }
}

// ---- reading ----------------------------------------------------------------------------------

/// The parameters of a `multipart/related` Content-Type that matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Related {
    pub boundary: String,
    /// The root part's Content-ID, without angle brackets.
    pub start: Option<String>,
}

/// Split a header value on `;` outside quoted strings and unquote parameter values.
fn params(value: &str) -> (String, Vec<(String, String)>) {
    let mut pieces = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        if quoted {
            if escaped {
                cur.push(c);
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ';' => pieces.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    pieces.push(cur);
    let mut it = pieces.into_iter();
    let media = it.next().unwrap_or_default().trim().to_ascii_lowercase();
    let ps = it
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect();
    (media, ps)
}

/// `Some` when `content_type` is `multipart/related` with a usable boundary.
pub fn parse_related(content_type: &str) -> Option<Related> {
    let (media, ps) = params(content_type);
    if media != "multipart/related" {
        return None;
    }
    let get = |k: &str| ps.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let boundary = get("boundary").filter(|b| !b.is_empty() && b.len() <= 200)?;
    let start = get("start").map(|s| strip_angles(&s).to_string());
    Some(Related { boundary, start })
}

fn strip_angles(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(s)
}

/// The Content-ID named by an `href="cid:..."` (percent-decoded, RFC 2392).
pub fn cid_from_href(href: &str) -> Option<String> {
    let raw = href.trim().strip_prefix("cid:")?;
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The headers of one part.
#[derive(Debug, Clone, Default)]
pub struct PartHeaders {
    headers: Vec<(String, String)>,
}

impl PartHeaders {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// Content-ID without angle brackets.
    pub fn content_id(&self) -> Option<&str> {
        self.get("content-id").map(strip_angles)
    }
}

/// Largest header block of one part.
const MAX_PART_HEADERS: usize = 16 * 1024;
const BUF_SIZE: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Inside a part body (or the preamble, before the first part).
    Body,
    /// The delimiter after the current body has been consumed.
    AtDelimiter,
    /// The closing delimiter has been seen.
    Done,
}

/// The first position of `needle` in `hay`: a scan for its first byte (CR, rare in most data),
/// then a comparison.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let last_start = hay.len().checked_sub(needle.len())?;
    let mut i = 0;
    while i <= last_start {
        let at = i + hay[i..=last_start].iter().position(|&b| b == first)?;
        if &hay[at..at + needle.len()] == needle {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// Reads a `multipart/*` body part by part, streaming each part's content.
pub struct MultipartReader<R: Read> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
    /// `\r\n--boundary`.
    delimiter: Vec<u8>,
    state: State,
}

fn eof(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the MIME multipart body ended {what}"),
    )
}

fn bad(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl<R: Read> MultipartReader<R> {
    pub fn new(inner: R, boundary: &str) -> MultipartReader<R> {
        let mut buf = vec![0u8; BUF_SIZE + boundary.len() + 8];
        // A virtual CRLF in front, so the first delimiter looks like every other one.
        buf[..2].copy_from_slice(b"\r\n");
        MultipartReader {
            inner,
            buf,
            pos: 0,
            end: 2,
            eof: false,
            delimiter: format!("\r\n--{boundary}").into_bytes(),
            state: State::Body,
        }
    }

    /// Move what is unread to the front and read more; false at the end of the input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            return Ok(true);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn find_delimiter(&self) -> Option<usize> {
        find(&self.buf[self.pos..self.end], &self.delimiter)
    }

    /// Read from the current part's body; 0 at its end.
    pub fn read_body(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.state != State::Body || out.is_empty() {
            return Ok(0);
        }
        loop {
            let available = self.end - self.pos;
            if let Some(at) = self.find_delimiter() {
                if at == 0 {
                    self.pos += self.delimiter.len();
                    self.state = State::AtDelimiter;
                    return Ok(0);
                }
                let n = at.min(out.len());
                out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            // Everything but a possible delimiter prefix at the end is body.
            let safe = available.saturating_sub(self.delimiter.len() - 1);
            if safe > 0 {
                let n = safe.min(out.len());
                out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if !self.fill()? {
                return Err(eof("in the middle of a part (the connection was cut?)"));
            }
        }
    }

    /// Skip the rest of the current part and return the next part's headers; `None` after the
    /// closing delimiter.
    pub fn next_part(&mut self) -> io::Result<Option<PartHeaders>> {
        let mut sink = vec![0u8; 8192];
        while self.state == State::Body {
            self.read_body(&mut sink)?;
        }
        if self.state == State::Done {
            return Ok(None);
        }
        // After the delimiter: `--` (close) or optional whitespace and CRLF.
        while self.end - self.pos < 2 {
            if !self.fill()? {
                return Err(eof("right after a boundary"));
            }
        }
        if &self.buf[self.pos..self.pos + 2] == b"--" {
            self.pos += 2;
            self.state = State::Done;
            return Ok(None);
        }
        let mut head: Vec<u8> = Vec::new();
        loop {
            if self.pos == self.end && !self.fill()? {
                return Err(eof("inside a part's headers"));
            }
            head.push(self.buf[self.pos]);
            self.pos += 1;
            if head.ends_with(b"\r\n\r\n") {
                break;
            }
            if head.len() > MAX_PART_HEADERS {
                return Err(bad(format!(
                    "a MIME part's headers are longer than {MAX_PART_HEADERS} bytes"
                )));
            }
        }
        let text = String::from_utf8_lossy(&head);
        let mut lines = text.split("\r\n");
        // The first line is the rest of the boundary line (transport padding only).
        let first = lines.next().unwrap_or("");
        if !first.trim().is_empty() {
            return Err(bad(
                "text after a MIME boundary on the same line".to_string()
            ));
        }
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                if let Some(last) = headers.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
                continue;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| bad(format!("a malformed MIME part header: {line:?}")))?;
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        self.state = State::Body;
        Ok(Some(PartHeaders { headers }))
    }

    /// The current part's body as a `Read`.
    pub fn body(&mut self) -> PartBody<'_, R> {
        PartBody { reader: self }
    }
}

/// One part's content; ends at the part's delimiter.
pub struct PartBody<'a, R: Read> {
    reader: &'a mut MultipartReader<R>,
}

impl<R: Read> Read for PartBody<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read_body(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes a call, to exercise delimiters split over reads.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn parts(body: &[u8], boundary: &str, step: usize) -> io::Result<Vec<(PartHeaders, Vec<u8>)>> {
        let mut r = MultipartReader::new(Trickle { data: body, step }, boundary);
        let mut out = Vec::new();
        while let Some(h) = r.next_part()? {
            let mut content = Vec::new();
            r.body().read_to_end(&mut content)?;
            out.push((h, content));
        }
        Ok(out)
    }

    #[test]
    fn writes_and_reads_back() {
        let payload: Vec<u8> = (0..200_000u32)
            .map(|i| (i % 253) as u8)
            .chain(b"\r\n--uuid:not-it\r\n".iter().copied())
            .collect();
        let boundary = new_boundary();
        let env = "<s:Envelope/>";
        let mut src = payload.as_slice();
        let mut body = MtomBody::new(&boundary, env, "p@x", &mut src, payload.len() as u64);
        let len = body.len();
        let mut wire = Vec::new();
        body.read_to_end(&mut wire).unwrap();
        assert_eq!(wire.len() as u64, len);
        for step in [1, 7, 4096, 1 << 20] {
            let got = parts(&wire, &boundary, step).unwrap();
            assert_eq!(got.len(), 2);
            assert_eq!(got[0].0.content_id(), Some(ROOT_CID));
            assert_eq!(got[0].1, env.as_bytes());
            assert_eq!(got[1].0.content_id(), Some("p@x"));
            assert_eq!(
                got[1].0.get("Content-Type"),
                Some("application/octet-stream")
            );
            assert_eq!(got[1].1, payload);
        }
    }

    #[test]
    fn finds_the_delimiter() {
        assert_eq!(find(b"ab\r\r\n--x", b"\r\n--x"), Some(3));
        assert_eq!(find(b"\r\n--", b"\r\n--x"), None);
        assert_eq!(find(b"\r\n--x", b"\r\n--x"), Some(0));
        assert_eq!(find(b"", b"\r\n--x"), None);
    }

    #[test]
    fn size_must_match() {
        let mut short: &[u8] = b"abc";
        let mut b = MtomBody::new("b", "<e/>", "p", &mut short, 4);
        assert_eq!(
            b.read_to_end(&mut Vec::new()).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        let mut long: &[u8] = b"abcde";
        let mut b = MtomBody::new("b", "<e/>", "p", &mut long, 4);
        assert!(b.read_to_end(&mut Vec::new()).is_err());
    }

    #[test]
    fn a_cut_body_is_an_error() {
        let boundary = "uuid:1+id=2";
        let wire = format!(
            "--{boundary}\r\nContent-ID: <a>\r\n\r\n<x/>\r\n--{boundary}\r\nContent-ID: <b>\r\n\r\nsome bytes but no end"
        );
        let mut r = MultipartReader::new(wire.as_bytes(), boundary);
        r.next_part().unwrap().unwrap();
        r.next_part().unwrap().unwrap();
        let e = r.body().read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn preamble_and_wcf_content_type() {
        let ct = r#"multipart/related; type="application/xop+xml";start="<http://tempuri.org/0>";boundary="uuid:610be47c-1+id=3890";start-info="text/xml""#;
        let rel = parse_related(ct).unwrap();
        assert_eq!(rel.boundary, "uuid:610be47c-1+id=3890");
        assert_eq!(rel.start.as_deref(), Some("http://tempuri.org/0"));
        assert!(parse_related("text/xml; charset=utf-8").is_none());
        let wire = format!(
            "preamble\r\n--{b}  \r\nContent-ID: <http://tempuri.org/0>\r\n\r\n<x/>\r\n--{b}--\r\nepilogue",
            b = rel.boundary
        );
        let got = parts(wire.as_bytes(), &rel.boundary, 3).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0.content_id(), Some("http://tempuri.org/0"));
        assert_eq!(got[0].1, b"<x/>");
        assert_eq!(
            cid_from_href("cid:http%3A%2F%2Ftempuri.org%2F1%2F63").as_deref(),
            Some("http://tempuri.org/1/63")
        );
        assert_eq!(cid_from_href("cid:a%2").as_deref(), Some("a%2"));
        assert_eq!(cid_from_href("http://x"), None);
    }
}
