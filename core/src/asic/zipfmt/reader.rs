//! The streaming, validating reader: entries as they come, limits on inflated bytes, central
//! directory checked against the local headers.

use super::pieces::{Piece, ShareBuf, SharedChunk};
use super::*;
pub use crate::error::error_from_io;
use crate::error::to_io;
use std::collections::VecDeque;
use std::ops::Range;

/// A local entry header as read from the stream.
#[derive(Debug, Clone)]
pub struct LocalEntry {
    pub name: String,
    pub method: u16,
    pub flags: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    offset: u64,
    /// A Zip64 extra field was present (then the data descriptor has 8-byte sizes).
    zip64: bool,
}

impl LocalEntry {
    pub fn is_dir(&self) -> bool {
        self.name.ends_with('/')
    }
    pub fn is_stored(&self) -> bool {
        self.method == METHOD_STORED
    }
    pub fn has_descriptor(&self) -> bool {
        self.flags & FLAG_DESCRIPTOR != 0
    }
}

/// Limits applied while reading.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    pub max_entry_size: u64,
    pub max_total_size: u64,
    pub max_entries: usize,
}

struct Seen {
    name: String,
    crc: u32,
    compressed: u64,
    size: u64,
    offset: u64,
}

/// Reads a zip front to back. Call [`ZipStreamReader::next_entry`], then
/// [`ZipStreamReader::read_data`] for each entry; `next_entry` returns `None` once the central
/// directory has been read and checked against the entries seen.
pub struct ZipStreamReader<R: BufRead> {
    r: Counting<R>,
    limits: ReadLimits,
    seen: Vec<Seen>,
    names: std::collections::HashSet<String>,
    /// The entry whose data comes next, and how far it has been read.
    current: Option<EntryState>,
    total: u64,
    done: bool,
}

struct Counting<R> {
    inner: R,
    pos: u64,
}

impl<R: BufRead> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}
impl<R: ShareBuf> Counting<R> {
    fn share(&self) -> Option<(SharedChunk, usize)> {
        self.inner.share()
    }
}
impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        self.pos += n as u64;
        self.inner.consume(n)
    }
}

fn read_exact_or(r: &mut impl Read, buf: &mut [u8], what: &str) -> Result<()> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            pkg_err(format!("zip is truncated (in {what})"))
        } else {
            Error::io(format!("reading zip ({what})"), e)
        }
    })
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}
fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

impl<R: BufRead> ZipStreamReader<R> {
    pub fn new(r: R, limits: ReadLimits) -> Self {
        ZipStreamReader {
            r: Counting { inner: r, pos: 0 },
            limits,
            seen: Vec::new(),
            names: Default::default(),
            current: None,
            total: 0,
            done: false,
        }
    }

    /// The next local entry, or `None` after the (checked) central directory.
    pub fn next_entry(&mut self) -> Result<Option<LocalEntry>> {
        if self.done {
            return Ok(None);
        }
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.pieces.is_some() && c.totals.is_none())
        {
            // Whoever reads by pieces holds the CRC of what was read; it must finish the entry.
            return Err(Error::new(
                ErrorKind::Internal,
                "a zip entry read by pieces was left unfinished",
            ));
        }
        if self.current.is_some() {
            // The caller skipped (some of) the data: drain and check it.
            let mut buf = vec![0u8; BUF];
            while self.current.as_ref().is_some_and(|c| c.totals.is_none()) {
                self.step(&mut buf)?;
            }
            self.current = None;
        }
        let offset = self.r.pos;
        let mut sig = [0u8; 4];
        read_exact_or(&mut self.r, &mut sig, "entry header")?;
        match u32::from_le_bytes(sig) {
            LOCAL_SIG => {}
            CENTRAL_SIG | EOCD_SIG | ZIP64_EOCD_SIG => {
                self.read_central(u32::from_le_bytes(sig))?;
                self.done = true;
                return Ok(None);
            }
            other => {
                return Err(pkg_err(format!(
                    "not a zip entry at offset {offset} (signature {other:#010x})"
                )))
            }
        }
        let mut h = [0u8; 26];
        read_exact_or(&mut self.r, &mut h, "local header")?;
        let flags = u16_at(&h, 2);
        let method = u16_at(&h, 4);
        let crc = u32_at(&h, 10);
        let mut compressed = u64::from(u32_at(&h, 14));
        let mut size = u64::from(u32_at(&h, 18));
        let name_len = usize::from(u16_at(&h, 22));
        let extra_len = usize::from(u16_at(&h, 24));
        let mut name = vec![0u8; name_len];
        read_exact_or(&mut self.r, &mut name, "entry name")?;
        let mut extra = vec![0u8; extra_len];
        read_exact_or(&mut self.r, &mut extra, "extra field")?;
        let name = String::from_utf8(name)
            .map_err(|_| Error::new(ErrorKind::UnsafeEntry, "zip entry name is not UTF-8"))?;
        // Any name a Java ZipOutputStream writes is read; only escapes are refused here, and
        // extraction makes the rest safe (`asic::placement`).
        crate::asic::placement::check_escape(&name)?;
        if !self.names.insert(name.clone()) {
            return Err(Error::new(
                ErrorKind::UnsafeEntry,
                format!("zip entry {name:?} appears twice"),
            )
            .with_field(name));
        }
        if self.seen.len() >= self.limits.max_entries {
            return Err(Error::new(
                ErrorKind::EntryTooLarge,
                format!("zip has more than {} entries", self.limits.max_entries),
            ));
        }
        if flags & 1 != 0 {
            return Err(pkg_err(format!(
                "zip entry {name:?} is encrypted (zip encryption is not used by DPO)"
            )));
        }
        let zip64 = match find_extra(&extra, ZIP64_EXTRA) {
            Some(z) => {
                // The local Zip64 field holds the sizes the header marks with 0xFFFFFFFF.
                let mut wide = Wide(z);
                if size == LIMIT_32 {
                    size = wide.next(&name)?;
                }
                if compressed == LIMIT_32 {
                    compressed = wide.next(&name)?;
                }
                true
            }
            None if compressed == LIMIT_32 || size == LIMIT_32 => {
                return Err(pkg_err(format!(
                    "zip entry {name:?} marks its sizes as Zip64 but has no Zip64 field"
                )))
            }
            None => false,
        };
        match method {
            METHOD_DEFLATED => {}
            METHOD_STORED if flags & FLAG_DESCRIPTOR == 0 => {}
            METHOD_STORED => {
                return Err(pkg_err(format!(
                    "zip entry {name:?} is STORED with a data descriptor, which streaming readers (and Java) cannot read"
                )))
            }
            m => return Err(pkg_err(format!("zip entry {name:?} uses compression method {m}; only STORED and DEFLATED are allowed"))),
        }
        let e = LocalEntry {
            name,
            method,
            flags,
            crc,
            compressed,
            size,
            offset,
            zip64,
        };
        self.current = Some(EntryState {
            inflate: if e.is_stored() {
                None
            } else {
                Some(Box::new(Decompress::new(false)))
            },
            // STORED: bytes still to read; DEFLATED: 1 until the deflate stream ends.
            left: if e.is_stored() { e.compressed } else { 1 },
            crc: crc32fast::Hasher::new(),
            size: 0,
            start: self.r.pos,
            totals: None,
            pieces: None,
            entry: e.clone(),
        });
        Ok(Some(e))
    }

    fn charge(&mut self, name: &str, entry_bytes: u64, n: u64) -> Result<()> {
        self.total += n;
        if entry_bytes > self.limits.max_entry_size {
            return Err(Error::new(
                ErrorKind::EntryTooLarge,
                format!(
                    "zip entry {name:?} is larger than the limit of {} bytes",
                    self.limits.max_entry_size
                ),
            )
            .with_field(name.to_string()));
        }
        if self.total > self.limits.max_total_size {
            return Err(Error::new(
                ErrorKind::EntryTooLarge,
                format!(
                    "the zip expands to more than the limit of {} bytes",
                    self.limits.max_total_size
                ),
            ));
        }
        Ok(())
    }

    /// Copy the current entry's uncompressed bytes into `sink`, checking limits, CRC and sizes.
    pub fn read_data(&mut self, e: &LocalEntry, sink: &mut dyn Write) -> Result<EntryTotals> {
        let mut reader = self.entry_reader(e)?;
        let mut buf = vec![0u8; BUF];
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|err| error_from_io(err, "reading zip"))?;
            if n == 0 {
                break;
            }
            sink.write_all(&buf[..n])
                .map_err(|err| Error::io(format!("writing the content of {:?}", e.name), err))?;
        }
        reader
            .totals()
            .ok_or_else(|| Error::new(ErrorKind::Internal, "zip entry ended without totals"))
    }

    /// A `Read` over the current entry's uncompressed bytes. Limits, CRC and sizes are checked as
    /// it is read; it returns end-of-file only once they all check out. Whatever is left unread
    /// is read and checked by the next [`ZipStreamReader::next_entry`]. Errors come as
    /// `io::Error` wrapping [`Error`] ([`error_from_io`] gets it back).
    pub fn entry_reader<'a>(&'a mut self, e: &LocalEntry) -> Result<EntryReader<'a, R>> {
        if self.current.as_ref().map(|c| c.entry.offset) != Some(e.offset) {
            return Err(Error::new(
                ErrorKind::Internal,
                "entry_reader called for an entry that is not current",
            ));
        }
        Ok(EntryReader { zr: self })
    }

    fn finish_entry(
        &mut self,
        e: &LocalEntry,
        crc: u32,
        size: u64,
        start: u64,
    ) -> Result<EntryTotals> {
        let compressed = self.r.pos - start;
        let recorded = self.read_recorded(e)?;
        self.record(e, recorded, crc, size, compressed)
    }

    /// The CRC, compressed and uncompressed size the entry says it has: from its data
    /// descriptor (read here) or its local header.
    fn read_recorded(&mut self, e: &LocalEntry) -> Result<(u32, u64, u64)> {
        Ok(if e.has_descriptor() {
            // crc, compressed, size; sizes are 8 bytes when the local header had Zip64.
            let len = if e.zip64 { 20 } else { 12 };
            let mut d = [0u8; 20];
            read_exact_or(&mut self.r, &mut d[..4], "data descriptor")?;
            if u32_at(&d, 0) == DESCRIPTOR_SIG {
                read_exact_or(&mut self.r, &mut d[..len], "data descriptor")?;
            } else {
                read_exact_or(&mut self.r, &mut d[4..len], "data descriptor")?;
            }
            if e.zip64 {
                let w = |i: usize| u64::from_le_bytes(d[i..i + 8].try_into().expect("8 bytes"));
                (u32_at(&d, 0), w(4), w(12))
            } else {
                (
                    u32_at(&d, 0),
                    u64::from(u32_at(&d, 4)),
                    u64::from(u32_at(&d, 8)),
                )
            }
        } else {
            (e.crc, e.compressed, e.size)
        })
    }

    /// Check what was read against what was recorded, and remember the entry for the central
    /// directory.
    fn record(
        &mut self,
        e: &LocalEntry,
        (want_crc, want_c, want_s): (u32, u64, u64),
        crc: u32,
        size: u64,
        compressed: u64,
    ) -> Result<EntryTotals> {
        if want_crc != crc || want_s != size || want_c != compressed {
            return Err(mismatch(e));
        }
        self.seen.push(Seen {
            name: e.name.clone(),
            crc,
            compressed,
            size,
            offset: e.offset,
        });
        Ok(EntryTotals {
            crc,
            size,
            compressed,
        })
    }

    /// Read whatever follows the end record; it must be nothing (a stream that goes on after the
    /// archive is damaged or not what it claims).
    pub fn expect_end(&mut self) -> Result<()> {
        let mut b = [0u8; 1];
        match self.r.read(&mut b) {
            Ok(0) => Ok(()),
            Ok(_) => Err(pkg_err("data follows the end of the zip")),
            Err(e) => Err(error_from_io(e, "reading past the end of the zip")),
        }
    }

    fn read_central(&mut self, mut sig: u32) -> Result<()> {
        let mut i = 0;
        while sig == CENTRAL_SIG {
            let mut h = [0u8; 42];
            read_exact_or(&mut self.r, &mut h, "central directory")?;
            let flags = u16_at(&h, 4);
            let crc = u32_at(&h, 12);
            let mut compressed = u64::from(u32_at(&h, 16));
            let mut size = u64::from(u32_at(&h, 20));
            let name_len = usize::from(u16_at(&h, 24));
            let extra_len = usize::from(u16_at(&h, 26));
            let comment_len = usize::from(u16_at(&h, 28));
            let made_by_os = h[1];
            let external = u32_at(&h, 34);
            let mut offset = u64::from(u32_at(&h, 38));
            let mut rest = vec![0u8; name_len + extra_len + comment_len];
            read_exact_or(&mut self.r, &mut rest, "central directory")?;
            let name = String::from_utf8_lossy(&rest[..name_len]).into_owned();
            let _ = flags;
            if size == LIMIT_32 || compressed == LIMIT_32 || offset == LIMIT_32 {
                let z = find_extra(&rest[name_len..name_len + extra_len], ZIP64_EXTRA).ok_or_else(|| {
                    pkg_err(format!("central directory entry {name:?} marks Zip64 values but has no Zip64 field"))
                })?;
                let mut wide = Wide(z);
                if size == LIMIT_32 {
                    size = wide.next(&name)?;
                }
                if compressed == LIMIT_32 {
                    compressed = wide.next(&name)?;
                }
                if offset == LIMIT_32 {
                    offset = wide.next(&name)?;
                }
            }
            // Unix mode in the high half of the external attributes: refuse symlinks (and any
            // other non-regular, non-directory type).
            if made_by_os == 3 {
                let kind = (external >> 16) & 0o170000;
                if kind == 0o120000 {
                    return Err(Error::new(
                        ErrorKind::UnsafeEntry,
                        format!("zip entry {name:?} is a symbolic link"),
                    )
                    .with_field(name));
                }
                if kind != 0 && kind != 0o100000 && kind != 0o040000 {
                    return Err(Error::new(
                        ErrorKind::UnsafeEntry,
                        format!("zip entry {name:?} is not a regular file"),
                    )
                    .with_field(name));
                }
            }
            let Some(s) = self.seen.get(i) else {
                return Err(pkg_err(format!(
                    "the zip central directory lists {name:?}, which has no local entry"
                )));
            };
            if s.name != name
                || s.crc != crc
                || s.size != size
                || s.compressed != compressed
                || s.offset != offset
            {
                return Err(pkg_err(format!(
                    "the zip central directory entry {name:?} disagrees with the local entry {:?} (a zip that shows different content to different readers)",
                    s.name
                )));
            }
            i += 1;
            let mut b = [0u8; 4];
            read_exact_or(&mut self.r, &mut b, "central directory")?;
            sig = u32::from_le_bytes(b);
        }
        if i != self.seen.len() {
            return Err(pkg_err(format!(
                "the zip central directory lists {i} entries but the archive holds {}",
                self.seen.len()
            )));
        }
        let mut zip64_count = None;
        if sig == ZIP64_EOCD_SIG {
            let mut len = [0u8; 8];
            read_exact_or(&mut self.r, &mut len, "Zip64 end record")?;
            let len = u64::from_le_bytes(len);
            if !(44..=1 << 16).contains(&len) {
                return Err(pkg_err("the Zip64 end record has an impossible size"));
            }
            let mut rec = vec![0u8; len as usize];
            read_exact_or(&mut self.r, &mut rec, "Zip64 end record")?;
            zip64_count = Some(u64::from_le_bytes(rec[20..28].try_into().expect("8 bytes")));
            let mut loc = [0u8; 20];
            read_exact_or(&mut self.r, &mut loc, "Zip64 end locator")?;
            if u32_at(&loc, 0) != ZIP64_LOCATOR_SIG {
                return Err(pkg_err(
                    "the Zip64 end record is not followed by its locator",
                ));
            }
            let mut b = [0u8; 4];
            read_exact_or(&mut self.r, &mut b, "end of central directory")?;
            sig = u32::from_le_bytes(b);
        }
        if sig != EOCD_SIG {
            return Err(pkg_err(
                "the zip central directory is not followed by its end record",
            ));
        }
        let mut e = [0u8; 18];
        read_exact_or(&mut self.r, &mut e, "end of central directory")?;
        let count = match (u16_at(&e, 6), zip64_count) {
            (0xFFFF, Some(n)) => n,
            (n, _) => u64::from(n),
        };
        if zip64_count.is_some_and(|n| n != i as u64) || count != i as u64 {
            return Err(pkg_err(
                "the zip end record counts a different number of entries",
            ));
        }
        let comment_len = usize::from(u16_at(&e, 16));
        let mut c = vec![0u8; comment_len];
        read_exact_or(&mut self.r, &mut c, "archive comment")?;
        Ok(())
    }
}

fn mismatch(e: &LocalEntry) -> Error {
    pkg_err(format!(
        "zip entry {:?} does not match its recorded CRC or sizes (corrupt or tampered)",
        e.name
    ))
}

struct EntryState {
    entry: LocalEntry,
    /// How [`ZipStreamReader::next_piece`] decodes it, once it is read that way.
    pieces: Option<PieceState>,
    inflate: Option<Box<Decompress>>,
    left: u64,
    crc: crc32fast::Hasher,
    size: u64,
    start: u64,
    totals: Option<EntryTotals>,
}

/// The data of extra field `id`, if present.
fn find_extra(extra: &[u8], id: u16) -> Option<&[u8]> {
    let mut rest = extra;
    while rest.len() >= 4 {
        let (tag, len) = (u16_at(rest, 0), usize::from(u16_at(rest, 2)));
        let body = rest.get(4..4 + len)?;
        if tag == id {
            return Some(body);
        }
        rest = &rest[4 + len..];
    }
    None
}

/// Consecutive 8-byte values of a Zip64 extra field.
struct Wide<'a>(&'a [u8]);

impl Wide<'_> {
    fn next(&mut self, name: &str) -> Result<u64> {
        if self.0.len() < 8 {
            return Err(pkg_err(format!("the Zip64 field of {name:?} is too short")));
        }
        let (v, rest) = self.0.split_at(8);
        self.0 = rest;
        Ok(u64::from_le_bytes(v.try_into().expect("8 bytes")))
    }
}

/// See [`ZipStreamReader::entry_reader`].
pub struct EntryReader<'a, R: BufRead> {
    zr: &'a mut ZipStreamReader<R>,
}

impl<R: BufRead> EntryReader<'_, R> {
    /// CRC and sizes, once the entry has been read to its end.
    pub fn totals(&self) -> Option<EntryTotals> {
        self.zr.current.as_ref().and_then(|c| c.totals)
    }
}

impl<R: BufRead> ZipStreamReader<R> {
    /// Produce the next bytes of the current entry into `buf`; 0 once it is finished and checked.
    fn step(&mut self, buf: &mut [u8]) -> Result<usize> {
        let Some(cur) = self.current.as_mut() else {
            return Ok(0);
        };
        if cur.totals.is_some() || buf.is_empty() {
            return Ok(0);
        }
        if cur.pieces.is_some() {
            return Err(Error::new(
                ErrorKind::Internal,
                "a zip entry read by pieces cannot also be read as a stream",
            ));
        }
        let name = cur.entry.name.clone();
        let produced = match &mut cur.inflate {
            None => {
                if cur.left == 0 {
                    0
                } else {
                    let want = cur.left.min(buf.len() as u64) as usize;
                    let n = self
                        .r
                        .read(&mut buf[..want])
                        .map_err(|err| Error::io("reading zip", err))?;
                    if n == 0 {
                        return Err(pkg_err(format!(
                            "zip is truncated (in the data of {name:?})"
                        )));
                    }
                    cur.left -= n as u64;
                    n
                }
            }
            Some(d) => loop {
                let input = self
                    .r
                    .fill_buf()
                    .map_err(|err| Error::io("reading zip", err))?;
                let eof = input.is_empty();
                let (ti, to) = (d.total_in(), d.total_out());
                let status = d
                    .decompress(
                        input,
                        buf,
                        if eof {
                            FlushDecompress::Finish
                        } else {
                            FlushDecompress::None
                        },
                    )
                    .map_err(|_| {
                        pkg_err(format!("zip entry {name:?} holds corrupt deflate data"))
                    })?;
                let consumed = (d.total_in() - ti) as usize;
                let produced = (d.total_out() - to) as usize;
                self.r.consume(consumed);
                if status == Status::StreamEnd {
                    cur.left = 0;
                    break produced;
                }
                if produced > 0 {
                    break produced;
                }
                if eof && consumed == 0 {
                    return Err(pkg_err(format!(
                        "zip is truncated (in the data of {name:?})"
                    )));
                }
            },
        };
        let deflated = cur.inflate.is_some();
        if produced > 0 {
            cur.size += produced as u64;
            cur.crc.update(&buf[..produced]);
        }
        let (size, left, start) = (cur.size, cur.left, cur.start);
        if produced > 0 {
            self.charge(&name, size, produced as u64)?;
        }
        if left == 0 && (produced == 0 || deflated) {
            // Data done: check the descriptor/header values before reporting the end.
            let cur = self.current.as_mut().expect("current entry");
            let crc = std::mem::replace(&mut cur.crc, crc32fast::Hasher::new()).finalize();
            let entry = cur.entry.clone();
            let totals = self.finish_entry(&entry, crc, size, start)?;
            self.current.as_mut().expect("current entry").totals = Some(totals);
        }
        Ok(produced)
    }
}

impl<R: BufRead> Read for EntryReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let done_before = self.totals().is_some();
            let n = self.zr.step(buf).map_err(to_io)?;
            if n > 0 || done_before || self.totals().is_some() || buf.is_empty() {
                return Ok(n);
            }
        }
    }
}

/// The history a deflate block may refer back to.
const WINDOW: usize = 32 * 1024;

/// How [`ZipStreamReader::next_piece`] decodes the current entry.
enum PieceState {
    /// STORED: `EntryState::left` bytes still to come, handed out where they lie.
    Stored,
    /// DEFLATED, while the stream is deflate's stored blocks (what efm, and Java at level 0 or on
    /// data that does not shrink, write): their bytes are handed out where they lie, with no
    /// inflater and no copy. A compressed block ends this (see `Inflate`).
    Blocks {
        block_left: usize,
        last: bool,
        /// The last [`WINDOW`] bytes (at least) handed out, for a compressed block that refers
        /// back to them.
        window: VecDeque<(SharedChunk, Range<usize>)>,
        window_len: usize,
    },
    /// DEFLATED, through the inflater: from the start when the input cannot share its buffer,
    /// else from the first compressed block on, primed with the stored blocks' last bytes.
    Inflate(Box<Decompress>),
    /// The data ended and the recorded sizes matched; the CRC is the caller's to give.
    Ended {
        recorded: (u32, u64, u64),
        size: u64,
        compressed: u64,
    },
}

fn not_current() -> Error {
    Error::new(
        ErrorKind::Internal,
        "a zip entry was read that is not the current one",
    )
}

impl<R: ShareBuf> ZipStreamReader<R> {
    /// The current entry's uncompressed bytes by pieces, without copying them where the input
    /// can lend its buffer (STORED data and deflate's stored blocks); `buffer` gives a buffer
    /// for bytes that must be copied or inflated. `None` once the data ended and its sizes
    /// matched the recorded ones. The caller computes the CRC of the pieces (on whichever
    /// thread suits it) and must then call [`ZipStreamReader::finish_pieces`] before the next
    /// entry. Limits apply as with [`ZipStreamReader::entry_reader`].
    pub(crate) fn next_piece(
        &mut self,
        e: &LocalEntry,
        buffer: impl FnOnce() -> Vec<u8>,
    ) -> Result<Option<Piece>> {
        let cur = self
            .current
            .as_mut()
            .filter(|c| c.entry.offset == e.offset)
            .ok_or_else(not_current)?;
        if cur.totals.is_some() {
            return Ok(None);
        }
        let mut state = match cur.pieces.take() {
            Some(state) => state,
            None if cur.size > 0 || cur.inflate.as_ref().is_some_and(|d| d.total_in() > 0) => {
                return Err(Error::new(
                    ErrorKind::Internal,
                    "a zip entry read as a stream cannot also be read by pieces",
                ))
            }
            None if e.is_stored() => PieceState::Stored,
            None => {
                let shares = !self
                    .r
                    .fill_buf()
                    .map_err(|err| Error::io("reading zip", err))?
                    .is_empty()
                    && self.r.share().is_some();
                if shares {
                    PieceState::Blocks {
                        block_left: 0,
                        last: false,
                        window: VecDeque::new(),
                        window_len: 0,
                    }
                } else {
                    PieceState::Inflate(Box::new(Decompress::new(false)))
                }
            }
        };
        let got = self.advance_pieces(&mut state, e, buffer);
        self.current.as_mut().expect("current entry").pieces = Some(state);
        got
    }

    /// After [`ZipStreamReader::next_piece`] returned `None`: check `crc`, the CRC of all the
    /// pieces, against the recorded one.
    pub(crate) fn finish_pieces(&mut self, e: &LocalEntry, crc: u32) -> Result<EntryTotals> {
        let cur = self
            .current
            .as_ref()
            .filter(|c| c.entry.offset == e.offset)
            .ok_or_else(not_current)?;
        if let Some(totals) = cur.totals {
            return Ok(totals);
        }
        let Some(PieceState::Ended {
            recorded,
            size,
            compressed,
        }) = cur.pieces
        else {
            return Err(Error::new(
                ErrorKind::Internal,
                "finish_pieces before the end of the entry's data",
            ));
        };
        let totals = self.record(e, recorded, crc, size, compressed)?;
        self.current.as_mut().expect("current entry").totals = Some(totals);
        Ok(totals)
    }

    fn truncated(e: &LocalEntry) -> Error {
        pkg_err(format!("zip is truncated (in the data of {:?})", e.name))
    }

    fn corrupt(e: &LocalEntry) -> Error {
        pkg_err(format!("zip entry {:?} holds corrupt deflate data", e.name))
    }

    /// Bytes available now, at least one (else the entry is truncated).
    fn available(&mut self, e: &LocalEntry) -> Result<usize> {
        let n = self
            .r
            .fill_buf()
            .map_err(|err| Error::io("reading zip", err))?
            .len();
        if n == 0 {
            return Err(Self::truncated(e));
        }
        Ok(n)
    }

    /// The next `n` available bytes, lent when the input shares its buffer, else copied.
    fn take(&mut self, n: usize, buffer: Option<impl FnOnce() -> Vec<u8>>) -> Piece {
        let piece = match self.r.share() {
            Some((chunk, at)) => Piece::Shared {
                chunk,
                range: at..at + n,
            },
            None => {
                let mut buf = buffer.map(|f| f()).unwrap_or_default();
                buf.clear();
                buf.extend_from_slice(&self.r.fill_buf().unwrap_or_default()[..n]);
                Piece::Owned(buf)
            }
        };
        self.r.consume(n);
        piece
    }

    fn advance_pieces(
        &mut self,
        state: &mut PieceState,
        e: &LocalEntry,
        buffer: impl FnOnce() -> Vec<u8>,
    ) -> Result<Option<Piece>> {
        let mut buffer = Some(buffer);
        let piece = loop {
            match state {
                PieceState::Ended { .. } => return Ok(None),
                PieceState::Stored => {
                    let left = self.current.as_ref().expect("current entry").left;
                    if left == 0 {
                        break None;
                    }
                    let n = left.min(self.available(e)? as u64) as usize;
                    let piece = self.take(n, buffer.take());
                    self.current.as_mut().expect("current entry").left -= n as u64;
                    break Some(piece);
                }
                PieceState::Blocks {
                    block_left,
                    last,
                    window,
                    window_len,
                } => {
                    if *block_left > 0 {
                        let n = (*block_left).min(self.available(e)?);
                        let Piece::Shared { chunk, range } = self.take(n, buffer.take()) else {
                            return Err(Error::new(
                                ErrorKind::Internal,
                                "the zip input stopped sharing its buffer",
                            ));
                        };
                        *block_left -= n;
                        window.push_back((chunk.clone(), range.clone()));
                        *window_len += n;
                        while window
                            .front()
                            .is_some_and(|(_, r)| *window_len - r.len() >= WINDOW)
                        {
                            let (_, r) = window.pop_front().expect("a front");
                            *window_len -= r.len();
                        }
                        break Some(Piece::Shared { chunk, range });
                    }
                    if *last {
                        break None;
                    }
                    self.available(e)?;
                    let first = self.r.fill_buf().unwrap_or_default()[0];
                    if (first >> 1) & 3 == 0 {
                        // A stored block: BFINAL, BTYPE 00 and padding to the byte (the stored
                        // blocks before it ended on one), LEN, NLEN.
                        let mut h = [0u8; 5];
                        read_exact_or(&mut self.r, &mut h, "the data")
                            .map_err(|_| Self::truncated(e))?;
                        let len = u16_at(&h, 1);
                        if u16_at(&h, 3) != !len {
                            return Err(Self::corrupt(e));
                        }
                        *last = h[0] & 1 == 1;
                        *block_left = usize::from(len);
                        continue;
                    }
                    // A compressed block (or a bad type, which the inflater reports): the
                    // inflater goes on from here, knowing the bytes it may refer back to.
                    let mut history = Vec::with_capacity((*window_len).min(WINDOW));
                    for (chunk, r) in window.iter() {
                        history.extend_from_slice(&chunk.bytes()[r.clone()]);
                    }
                    let history = &history[history.len().saturating_sub(WINDOW)..];
                    let mut d = Decompress::new(false);
                    if !history.is_empty() {
                        d.set_dictionary(history).map_err(|_| Self::corrupt(e))?;
                    }
                    *state = PieceState::Inflate(Box::new(d));
                }
                PieceState::Inflate(d) => {
                    if self.current.as_ref().expect("current entry").left == 0 {
                        break None;
                    }
                    let mut buf = buffer.take().map(|f| f()).unwrap_or_default();
                    if buf.len() < BUF {
                        buf.resize(BUF, 0);
                    }
                    loop {
                        let input = self
                            .r
                            .fill_buf()
                            .map_err(|err| Error::io("reading zip", err))?;
                        let eof = input.is_empty();
                        let (ti, to) = (d.total_in(), d.total_out());
                        let flush = if eof {
                            FlushDecompress::Finish
                        } else {
                            FlushDecompress::None
                        };
                        let status = d
                            .decompress(input, &mut buf, flush)
                            .map_err(|_| Self::corrupt(e))?;
                        let consumed = (d.total_in() - ti) as usize;
                        let produced = (d.total_out() - to) as usize;
                        self.r.consume(consumed);
                        if status == Status::StreamEnd {
                            self.current.as_mut().expect("current entry").left = 0;
                        }
                        if produced > 0 {
                            buf.truncate(produced);
                            break;
                        }
                        if status == Status::StreamEnd {
                            buf.clear();
                            break;
                        }
                        if eof && consumed == 0 {
                            return Err(Self::truncated(e));
                        }
                    }
                    if buf.is_empty() {
                        break None;
                    }
                    break Some(Piece::Owned(buf));
                }
            }
        };
        let cur = self.current.as_mut().expect("current entry");
        match piece {
            Some(piece) => {
                let n = piece.bytes().len() as u64;
                cur.size += n;
                let size = cur.size;
                self.charge(&e.name, size, n)?;
                Ok(Some(piece))
            }
            None => {
                // The data ended: the sizes are checked now, the CRC once the caller has it.
                let (size, compressed) = (cur.size, self.r.pos - cur.start);
                let recorded = self.read_recorded(e)?;
                if recorded.1 != compressed || recorded.2 != size {
                    return Err(mismatch(e));
                }
                *state = PieceState::Ended {
                    recorded,
                    size,
                    compressed,
                };
                Ok(None)
            }
        }
    }
}
