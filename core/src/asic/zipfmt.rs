//! The zip format as DPO needs it: a streaming writer and a streaming, validating reader.
//!
//! Written by hand rather than with the `zip` crate because the wire needs control that crate
//! does not give in streaming mode: STORED entries whose CRC and size are known up front must carry
//! them in the local header (Java's `ZipInputStream` cannot read a STORED entry with a data
//! descriptor, spec Appendix C), DEFLATED entries use data descriptors, `mimetype` carries an
//! entry comment, and a STORED entry of unknown size can be patched in place when the output is
//! seekable. The reader reads entries as they come (decrypted ASiC bytes never touch the disk as a
//! zip), counts decompressed bytes against limits, and checks the central directory at the end
//! against what the local headers said, so a zip that shows different things to different readers
//! is refused.
//!
//! Zip64 is not supported: entries and archives are limited to 4 GiB (DPO's limit is 1 GB).

use crate::error::{Error, ErrorKind, Result};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const DESCRIPTOR_SIG: u32 = 0x0807_4b50;
const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const FLAG_DESCRIPTOR: u16 = 1 << 3;
const FLAG_UTF8: u16 = 1 << 11;
const METHOD_STORED: u16 = 0;
const METHOD_DEFLATED: u16 = 8;
const LIMIT_32: u64 = 0xFFFF_FFFF;
const BUF: usize = 64 * 1024;

fn pkg_err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::PackageInvalid, msg)
}

fn too_big() -> Error {
    Error::new(
        ErrorKind::EntryTooLarge,
        "zip entry or archive exceeds 4 GiB, which needs Zip64 (not supported; DPO's limit is 1 GB)",
    )
}

/// How an entry's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// STORED with CRC and size known before the data (written in the local header).
    StoredKnown { crc: u32, size: u64 },
    /// DEFLATED at the given level (0-9), sizes in a data descriptor.
    Deflated(u32),
}

/// What a finished entry turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryTotals {
    pub crc: u32,
    pub size: u64,
    pub compressed: u64,
}

struct CentralRecord {
    name: String,
    comment: String,
    method: u16,
    flags: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    offset: u64,
    dos_time: u16,
    dos_date: u16,
}

enum Current {
    None,
    Stored { expect_crc: u32, expect_size: u64 },
    Deflated(Box<Compress>),
    Patched,
}

/// A zip writer over any `Write`; entries are written one at a time through `Write`.
pub struct ZipWriter<W: Write> {
    out: W,
    pos: u64,
    records: Vec<CentralRecord>,
    current: Current,
    crc: crc32fast::Hasher,
    size: u64,
    compressed: u64,
    header_offset: u64,
    buf: Vec<u8>,
    dos: (u16, u16),
}

/// DOS time and date of "now" (UTC; Java writes local time, nobody reads it).
fn dos_now() -> (u16, u16) {
    let now = time::OffsetDateTime::now_utc();
    let year = now.year().clamp(1980, 2107) as u16;
    let date =
        ((year - 1980) << 9) | (u16::from(u8::from(now.month())) << 5) | u16::from(now.day());
    let time = (u16::from(now.hour()) << 11)
        | (u16::from(now.minute()) << 5)
        | (u16::from(now.second()) / 2);
    (time, date)
}

impl<W: Write> ZipWriter<W> {
    pub fn new(out: W) -> Self {
        ZipWriter {
            out,
            pos: 0,
            records: Vec::new(),
            current: Current::None,
            crc: crc32fast::Hasher::new(),
            size: 0,
            compressed: 0,
            header_offset: 0,
            buf: vec![0; BUF],
            dos: dos_now(),
        }
    }

    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    fn local_header(
        &mut self,
        name: &str,
        flags: u16,
        method: u16,
        crc: u32,
        csize: u64,
        size: u64,
    ) -> Result<()> {
        if self.pos > LIMIT_32 || csize > LIMIT_32 || size > LIMIT_32 {
            return Err(too_big());
        }
        let mut h = Vec::with_capacity(30 + name.len());
        h.extend_from_slice(&LOCAL_SIG.to_le_bytes());
        h.extend_from_slice(&20u16.to_le_bytes());
        h.extend_from_slice(&flags.to_le_bytes());
        h.extend_from_slice(&method.to_le_bytes());
        h.extend_from_slice(&self.dos.0.to_le_bytes());
        h.extend_from_slice(&self.dos.1.to_le_bytes());
        h.extend_from_slice(&crc.to_le_bytes());
        h.extend_from_slice(&(csize as u32).to_le_bytes());
        h.extend_from_slice(&(size as u32).to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        self.header_offset = self.pos;
        self.emit(&h).map_err(|e| Error::io("writing zip", e))
    }

    fn begin(
        &mut self,
        name: &str,
        comment: &str,
        method: u16,
        flags: u16,
        crc: u32,
        size: u64,
    ) -> Result<()> {
        if !matches!(self.current, Current::None) {
            return Err(Error::new(
                ErrorKind::Internal,
                "zip entry started before the previous one finished",
            ));
        }
        if name.len() > 0xFFFF || comment.len() > 0xFFFF {
            return Err(pkg_err(format!(
                "zip entry name or comment too long: {name:?}"
            )));
        }
        self.local_header(
            name,
            flags,
            method,
            crc,
            if method == METHOD_STORED { size } else { 0 },
            size,
        )?;
        self.records.push(CentralRecord {
            name: name.to_string(),
            comment: comment.to_string(),
            method,
            flags,
            crc,
            compressed: 0,
            size: 0,
            offset: self.header_offset,
            dos_time: self.dos.0,
            dos_date: self.dos.1,
        });
        self.crc = crc32fast::Hasher::new();
        self.size = 0;
        self.compressed = 0;
        Ok(())
    }

    /// Start an entry; write its bytes with `Write`, then call [`ZipWriter::finish_entry`].
    pub fn start_entry(&mut self, name: &str, method: Method, comment: &str) -> Result<()> {
        match method {
            Method::StoredKnown { crc, size } => {
                self.begin(name, comment, METHOD_STORED, FLAG_UTF8, crc, size)?;
                self.current = Current::Stored {
                    expect_crc: crc,
                    expect_size: size,
                };
            }
            Method::Deflated(level) => {
                self.begin(
                    name,
                    comment,
                    METHOD_DEFLATED,
                    FLAG_UTF8 | FLAG_DESCRIPTOR,
                    0,
                    0,
                )?;
                self.current =
                    Current::Deflated(Box::new(Compress::new(Compression::new(level), false)));
            }
        }
        Ok(())
    }

    /// Write a whole small entry from memory.
    pub fn add_bytes(
        &mut self,
        name: &str,
        data: &[u8],
        deflate: bool,
        comment: &str,
    ) -> Result<EntryTotals> {
        let method = if deflate {
            Method::Deflated(6)
        } else {
            Method::StoredKnown {
                crc: crc32fast::hash(data),
                size: data.len() as u64,
            }
        };
        self.start_entry(name, method, comment)?;
        self.write_all(data)
            .map_err(|e| Error::io(format!("writing zip entry {name}"), e))?;
        self.finish_entry()
    }

    fn deflate_step(&mut self, mut input: &[u8], flush: FlushCompress) -> io::Result<()> {
        loop {
            let Current::Deflated(c) = &mut self.current else {
                unreachable!()
            };
            let before_in = c.total_in();
            let before_out = c.total_out();
            let status = c
                .compress(input, &mut self.buf, flush)
                .map_err(io::Error::other)?;
            let consumed = (c.total_in() - before_in) as usize;
            let produced = (c.total_out() - before_out) as usize;
            input = &input[consumed..];
            if produced > 0 {
                self.out.write_all(&self.buf[..produced])?;
                self.pos += produced as u64;
                self.compressed += produced as u64;
            }
            let done = match flush {
                FlushCompress::Finish => status == Status::StreamEnd,
                _ => input.is_empty() && produced < self.buf.len(),
            };
            if done {
                return Ok(());
            }
        }
    }

    /// Finish the current entry (writes the data descriptor for DEFLATED entries).
    pub fn finish_entry(&mut self) -> Result<EntryTotals> {
        let crc = std::mem::replace(&mut self.crc, crc32fast::Hasher::new()).finalize();
        match std::mem::replace(&mut self.current, Current::None) {
            Current::None => return Err(Error::new(ErrorKind::Internal, "no zip entry to finish")),
            Current::Stored {
                expect_crc,
                expect_size,
            } => {
                if expect_crc != crc || expect_size != self.size {
                    return Err(Error::new(
                        ErrorKind::Io,
                        format!(
                            "the content of {} changed while it was being packed (size {} then {})",
                            self.records.last().map(|r| r.name.as_str()).unwrap_or("?"),
                            expect_size,
                            self.size
                        ),
                    ));
                }
                self.compressed = self.size;
            }
            Current::Deflated(c) => {
                self.current = Current::Deflated(c);
                self.deflate_step(&[], FlushCompress::Finish)
                    .map_err(|e| Error::io("writing zip", e))?;
                self.current = Current::None;
                if self.size > LIMIT_32 || self.compressed > LIMIT_32 {
                    return Err(too_big());
                }
                let mut d = Vec::with_capacity(16);
                d.extend_from_slice(&DESCRIPTOR_SIG.to_le_bytes());
                d.extend_from_slice(&crc.to_le_bytes());
                d.extend_from_slice(&(self.compressed as u32).to_le_bytes());
                d.extend_from_slice(&(self.size as u32).to_le_bytes());
                self.emit(&d).map_err(|e| Error::io("writing zip", e))?;
            }
            Current::Patched => {
                return Err(Error::new(
                    ErrorKind::Internal,
                    "patched entry needs finish_patched_entry",
                ))
            }
        }
        self.close_record(crc)
    }

    fn close_record(&mut self, crc: u32) -> Result<EntryTotals> {
        if self.size > LIMIT_32 || self.compressed > LIMIT_32 {
            return Err(too_big());
        }
        let r = self.records.last_mut().expect("entry started");
        r.crc = crc;
        r.size = self.size;
        r.compressed = self.compressed;
        Ok(EntryTotals {
            crc,
            size: self.size,
            compressed: self.compressed,
        })
    }

    /// Write the central directory and the end record, with an optional archive comment.
    pub fn finish(mut self, archive_comment: &str) -> Result<W> {
        if !matches!(self.current, Current::None) {
            return Err(Error::new(
                ErrorKind::Internal,
                "zip finished with an entry open",
            ));
        }
        let cd_start = self.pos;
        let records = std::mem::take(&mut self.records);
        for r in &records {
            let mut h = Vec::with_capacity(46 + r.name.len() + r.comment.len());
            h.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
            h.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes()); // made by: unix, 2.0
            h.extend_from_slice(&20u16.to_le_bytes());
            h.extend_from_slice(&r.flags.to_le_bytes());
            h.extend_from_slice(&r.method.to_le_bytes());
            h.extend_from_slice(&r.dos_time.to_le_bytes());
            h.extend_from_slice(&r.dos_date.to_le_bytes());
            h.extend_from_slice(&r.crc.to_le_bytes());
            h.extend_from_slice(&(r.compressed as u32).to_le_bytes());
            h.extend_from_slice(&(r.size as u32).to_le_bytes());
            h.extend_from_slice(&(r.name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            h.extend_from_slice(&(r.comment.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            h.extend_from_slice(&((0o100644u32) << 16).to_le_bytes()); // regular file, rw-r--r--
            h.extend_from_slice(&(r.offset as u32).to_le_bytes());
            h.extend_from_slice(r.name.as_bytes());
            h.extend_from_slice(r.comment.as_bytes());
            self.emit(&h).map_err(|e| Error::io("writing zip", e))?;
        }
        let cd_size = self.pos - cd_start;
        if self.pos > LIMIT_32 || records.len() > 0xFFFF {
            return Err(too_big());
        }
        let mut e = Vec::with_capacity(22 + archive_comment.len());
        e.extend_from_slice(&EOCD_SIG.to_le_bytes());
        e.extend_from_slice(&[0, 0, 0, 0]);
        e.extend_from_slice(&(records.len() as u16).to_le_bytes());
        e.extend_from_slice(&(records.len() as u16).to_le_bytes());
        e.extend_from_slice(&(cd_size as u32).to_le_bytes());
        e.extend_from_slice(&(cd_start as u32).to_le_bytes());
        e.extend_from_slice(&(archive_comment.len() as u16).to_le_bytes());
        e.extend_from_slice(archive_comment.as_bytes());
        self.emit(&e).map_err(|e| Error::io("writing zip", e))?;
        self.out.flush().map_err(|e| Error::io("writing zip", e))?;
        Ok(self.out)
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }
}

impl<W: Write + Seek> ZipWriter<W> {
    /// Start a STORED entry whose size is not known yet; its CRC and sizes are patched into the
    /// local header by [`ZipWriter::finish_patched_entry`] (no data descriptor, so Java's
    /// `ZipInputStream` reads it).
    pub fn start_patched_entry(&mut self, name: &str) -> Result<()> {
        self.begin(name, "", METHOD_STORED, FLAG_UTF8, 0, 0)?;
        self.current = Current::Patched;
        Ok(())
    }

    pub fn finish_patched_entry(&mut self) -> Result<EntryTotals> {
        if !matches!(self.current, Current::Patched) {
            return Err(Error::new(ErrorKind::Internal, "no patched zip entry open"));
        }
        self.current = Current::None;
        let crc = std::mem::replace(&mut self.crc, crc32fast::Hasher::new()).finalize();
        self.compressed = self.size;
        if self.size > LIMIT_32 {
            return Err(too_big());
        }
        let mut patch = Vec::with_capacity(12);
        patch.extend_from_slice(&crc.to_le_bytes());
        patch.extend_from_slice(&(self.size as u32).to_le_bytes());
        patch.extend_from_slice(&(self.size as u32).to_le_bytes());
        let at = self.header_offset + 14;
        let end = self.pos;
        (|| -> io::Result<()> {
            self.out.flush()?;
            self.out.seek(SeekFrom::Start(at))?;
            self.out.write_all(&patch)?;
            self.out.seek(SeekFrom::Start(end))?;
            Ok(())
        })()
        .map_err(|e| Error::io("patching the zip local header", e))?;
        self.close_record(crc)
    }
}

impl<W: Write> Write for ZipWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match &self.current {
            Current::None => return Err(io::Error::other("no zip entry open")),
            Current::Stored { .. } | Current::Patched => {
                self.out.write_all(data)?;
                self.pos += data.len() as u64;
            }
            Current::Deflated(_) => self.deflate_step(data, FlushCompress::None)?,
        }
        self.crc.update(data);
        self.size += data.len() as u64;
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

// ---------------------------------------------------------------------------------------------
// Names

/// Refuse entry names that could escape the extraction directory or mean different files on
/// different systems: empty, absolute, `..`/`.` components, backslashes, drive letters, NUL and
/// control characters, empty components.
pub fn check_entry_name(name: &str) -> Result<()> {
    let unsafe_entry = |why: &str| {
        Err(Error::new(
            ErrorKind::UnsafeEntry,
            format!("zip entry name {name:?} is unsafe: {why}"),
        )
        .with_field(name.to_string()))
    };
    if name.is_empty() {
        return unsafe_entry("empty name");
    }
    if name.starts_with('/') {
        return unsafe_entry("absolute path");
    }
    if name.contains('\\') {
        return unsafe_entry("contains a backslash");
    }
    if name.chars().any(|c| c.is_control()) {
        return unsafe_entry("contains a control character");
    }
    let b = name.as_bytes();
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        return unsafe_entry("starts with a drive letter");
    }
    if name.contains(':') {
        return unsafe_entry("contains ':' (drive letter or stream name)");
    }
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    for part in trimmed.split('/') {
        match part {
            "" => return unsafe_entry("empty path component"),
            "." | ".." => return unsafe_entry("'.' or '..' component"),
            _ => {}
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Streaming reader

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
            CENTRAL_SIG | EOCD_SIG => {
                self.read_central(u32::from_le_bytes(sig))?;
                self.done = true;
                return Ok(None);
            }
            ZIP64_EOCD_SIG => return Err(pkg_err("Zip64 archives are not supported")),
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
        let compressed = u64::from(u32_at(&h, 14));
        let size = u64::from(u32_at(&h, 18));
        let name_len = usize::from(u16_at(&h, 22));
        let extra_len = usize::from(u16_at(&h, 24));
        let mut name = vec![0u8; name_len];
        read_exact_or(&mut self.r, &mut name, "entry name")?;
        let mut extra = vec![0u8; extra_len];
        read_exact_or(&mut self.r, &mut extra, "extra field")?;
        let name = String::from_utf8(name)
            .map_err(|_| Error::new(ErrorKind::UnsafeEntry, "zip entry name is not UTF-8"))?;
        check_entry_name(&name)?;
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
        if compressed == LIMIT_32 || size == LIMIT_32 {
            return Err(pkg_err(format!(
                "zip entry {name:?} uses Zip64 sizes (not supported)"
            )));
        }
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
        let (want_crc, want_c, want_s) = if e.has_descriptor() {
            let mut d = [0u8; 12];
            read_exact_or(&mut self.r, &mut d[..4], "data descriptor")?;
            if u32_at(&d, 0) == DESCRIPTOR_SIG {
                read_exact_or(&mut self.r, &mut d, "data descriptor")?;
            } else {
                read_exact_or(&mut self.r, &mut d[4..], "data descriptor")?;
            }
            (
                u32_at(&d, 0),
                u64::from(u32_at(&d, 4)),
                u64::from(u32_at(&d, 8)),
            )
        } else {
            (e.crc, e.compressed, e.size)
        };
        if want_crc != crc || want_s != size || want_c != compressed {
            return Err(pkg_err(format!(
                "zip entry {:?} does not match its recorded CRC or sizes (corrupt or tampered)",
                e.name
            )));
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
            let compressed = u64::from(u32_at(&h, 16));
            let size = u64::from(u32_at(&h, 20));
            let name_len = usize::from(u16_at(&h, 24));
            let extra_len = usize::from(u16_at(&h, 26));
            let comment_len = usize::from(u16_at(&h, 28));
            let made_by_os = h[1];
            let external = u32_at(&h, 34);
            let offset = u64::from(u32_at(&h, 38));
            let mut rest = vec![0u8; name_len + extra_len + comment_len];
            read_exact_or(&mut self.r, &mut rest, "central directory")?;
            let name = String::from_utf8_lossy(&rest[..name_len]).into_owned();
            let _ = flags;
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
        if sig != EOCD_SIG {
            return Err(pkg_err(
                "the zip central directory is not followed by its end record",
            ));
        }
        let mut e = [0u8; 18];
        read_exact_or(&mut self.r, &mut e, "end of central directory")?;
        if usize::from(u16_at(&e, 6)) != i {
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

struct EntryState {
    entry: LocalEntry,
    inflate: Option<Box<Decompress>>,
    left: u64,
    crc: crc32fast::Hasher,
    size: u64,
    start: u64,
    totals: Option<EntryTotals>,
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

fn to_io(err: Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, err)
}

/// Recover our error from an `io::Error` made by [`EntryReader`] (or any adapter that wraps an
/// [`Error`]); anything else becomes an I/O error about `what`.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ReadLimits {
        ReadLimits {
            max_entry_size: 1 << 20,
            max_total_size: 1 << 21,
            max_entries: 16,
        }
    }

    fn read_all(zip: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
        let mut zr = ZipStreamReader::new(zip, limits());
        let mut out = Vec::new();
        while let Some(e) = zr.next_entry()? {
            let mut data = Vec::new();
            zr.read_data(&e, &mut data)?;
            out.push((e.name, data));
        }
        zr.expect_end()?;
        Ok(out)
    }

    fn sample() -> Vec<u8> {
        let mut w = ZipWriter::new(Vec::new());
        w.add_bytes("empty-stored", b"", false, "c").unwrap();
        w.add_bytes("empty-deflated", b"", true, "").unwrap();
        w.add_bytes("dir/", b"", false, "").unwrap();
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        w.add_bytes("dir/big.bin", &big, true, "").unwrap();
        w.add_bytes("æøå.txt", "hei".as_bytes(), false, "").unwrap();
        w.finish("archive comment").unwrap()
    }

    #[test]
    fn round_trip_edge_cases() {
        let got = read_all(&sample()).unwrap();
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "empty-stored",
                "empty-deflated",
                "dir/",
                "dir/big.bin",
                "æøå.txt"
            ]
        );
        assert_eq!(got[3].1.len(), 200_000);
        assert_eq!(got[4].1, "hei".as_bytes());
    }

    #[test]
    fn skipped_entries_are_still_checked() {
        let zip = sample();
        let mut zr = ZipStreamReader::new(zip.as_slice(), limits());
        let mut n = 0;
        while zr.next_entry().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 5);
        // A flipped byte inside the deflated data is caught even when nobody reads it.
        let mut bad = zip.clone();
        let at = bad.windows(11).position(|w| w == b"dir/big.bin").unwrap() + 11 + 100;
        bad[at] ^= 0xFF;
        let mut zr = ZipStreamReader::new(bad.as_slice(), limits());
        let err = loop {
            match zr.next_entry() {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("corruption not detected"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), ErrorKind::PackageInvalid, "{err}");
    }

    #[test]
    fn central_directory_must_agree_with_local_headers() {
        let mut zip = sample();
        // Rename the last entry in the central directory only (the last occurrence of its name).
        let name = "æøå.txt".as_bytes();
        let last = zip.windows(name.len()).rposition(|w| w == name).unwrap();
        zip[last] = b'x';
        let e = read_all(&zip).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PackageInvalid, "{e}");
        assert!(e.message().contains("disagrees"), "{e}");
        // Trailing bytes after the end record.
        let mut zip = sample();
        zip.push(0);
        assert_eq!(
            read_all(&zip).unwrap_err().kind(),
            ErrorKind::PackageInvalid
        );
        // Truncation.
        let zip = sample();
        assert_eq!(
            read_all(&zip[..zip.len() - 30]).unwrap_err().kind(),
            ErrorKind::PackageInvalid
        );
    }

    #[test]
    fn entry_names() {
        for ok in [
            "a.txt",
            "dir/",
            "dir/sub/file.pdf",
            "æøå.txt",
            "..a",
            "a..b",
        ] {
            check_entry_name(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a\\b",
            "C:/x",
            "c:x",
            "a//b",
            "./a",
            "a/./b",
            "a\0b",
            "a\nb",
        ] {
            let e = check_entry_name(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::UnsafeEntry, "{bad:?}");
        }
    }

    #[test]
    fn limits_apply_to_inflated_bytes() {
        let mut w = ZipWriter::new(Vec::new());
        w.add_bytes("zeros", &vec![0u8; 3 << 20], true, "").unwrap();
        let zip = w.finish("").unwrap();
        assert!(zip.len() < 20_000);
        let e = read_all(&zip).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::EntryTooLarge);
    }
}
