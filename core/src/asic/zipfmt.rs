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
//! Zip64 is written when an entry or the archive outgrows 4 GiB (entries whose size is not known
//! up front must be announced with a size hint) and is read wherever it appears.

use crate::error::{Error, ErrorKind, Result};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const DESCRIPTOR_SIG: u32 = 0x0807_4b50;
const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EXTRA: u16 = 0x0001;
/// Entries expected to reach this size get Zip64 local headers (deflate may grow incompressible
/// data a little, so stay clear of 4 GiB).
const ZIP64_HINT: u64 = 0xF000_0000;
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
        "a zip entry grew past 4 GiB without a size hint announcing it (no Zip64 header was written)",
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
    /// The local header carries a Zip64 extra field (and the descriptor 8-byte sizes).
    local_zip64: bool,
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
    force_zip64: bool,
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
            force_zip64: false,
        }
    }

    /// Write Zip64 structures even for small entries (to test readers).
    pub fn force_zip64(&mut self) {
        self.force_zip64 = true;
    }

    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)] // private; one field of the header each
    fn local_header(
        &mut self,
        name: &str,
        flags: u16,
        method: u16,
        crc: u32,
        csize: u64,
        size: u64,
        zip64: bool,
    ) -> Result<()> {
        let mut h = Vec::with_capacity(50 + name.len());
        h.extend_from_slice(&LOCAL_SIG.to_le_bytes());
        h.extend_from_slice(&(if zip64 { 45u16 } else { 20u16 }).to_le_bytes());
        h.extend_from_slice(&flags.to_le_bytes());
        h.extend_from_slice(&method.to_le_bytes());
        h.extend_from_slice(&self.dos.0.to_le_bytes());
        h.extend_from_slice(&self.dos.1.to_le_bytes());
        h.extend_from_slice(&crc.to_le_bytes());
        if zip64 {
            h.extend_from_slice(&u32::MAX.to_le_bytes());
            h.extend_from_slice(&u32::MAX.to_le_bytes());
        } else {
            h.extend_from_slice(&(csize as u32).to_le_bytes());
            h.extend_from_slice(&(size as u32).to_le_bytes());
        }
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&(if zip64 { 20u16 } else { 0 }).to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        if zip64 {
            h.extend_from_slice(&ZIP64_EXTRA.to_le_bytes());
            h.extend_from_slice(&16u16.to_le_bytes());
            h.extend_from_slice(&size.to_le_bytes());
            h.extend_from_slice(&csize.to_le_bytes());
        }
        self.header_offset = self.pos;
        self.emit(&h).map_err(|e| Error::io("writing zip", e))
    }

    #[allow(clippy::too_many_arguments)] // private; one field of the header each
    fn begin(
        &mut self,
        name: &str,
        comment: &str,
        method: u16,
        flags: u16,
        crc: u32,
        size: u64,
        zip64: bool,
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
            zip64,
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
            local_zip64: zip64,
        });
        self.crc = crc32fast::Hasher::new();
        self.size = 0;
        self.compressed = 0;
        Ok(())
    }

    /// Start an entry; write its bytes with `Write`, then call [`ZipWriter::finish_entry`].
    pub fn start_entry(&mut self, name: &str, method: Method, comment: &str) -> Result<()> {
        self.start_entry_sized(name, method, comment, 0)
    }

    /// [`ZipWriter::start_entry`] with the expected uncompressed size of a DEFLATED entry, so that
    /// one that may pass 4 GiB gets a Zip64 header.
    pub fn start_entry_sized(
        &mut self,
        name: &str,
        method: Method,
        comment: &str,
        size_hint: u64,
    ) -> Result<()> {
        match method {
            Method::StoredKnown { crc, size } => {
                let zip64 = self.force_zip64 || size >= LIMIT_32;
                self.begin(name, comment, METHOD_STORED, FLAG_UTF8, crc, size, zip64)?;
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
                    self.force_zip64 || size_hint >= ZIP64_HINT,
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
                let zip64 = self.records.last().is_some_and(|r| r.local_zip64);
                let mut d = Vec::with_capacity(24);
                d.extend_from_slice(&DESCRIPTOR_SIG.to_le_bytes());
                d.extend_from_slice(&crc.to_le_bytes());
                if zip64 {
                    d.extend_from_slice(&self.compressed.to_le_bytes());
                    d.extend_from_slice(&self.size.to_le_bytes());
                } else {
                    if self.size > LIMIT_32 || self.compressed > LIMIT_32 {
                        return Err(too_big());
                    }
                    d.extend_from_slice(&(self.compressed as u32).to_le_bytes());
                    d.extend_from_slice(&(self.size as u32).to_le_bytes());
                }
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
            // Zip64 extra: the values whose 32-bit field says 0xFFFFFFFF, in this order.
            let wide_sizes = r.local_zip64 || r.size >= LIMIT_32 || r.compressed >= LIMIT_32;
            let wide_offset = self.force_zip64 || r.offset >= LIMIT_32;
            let mut extra = Vec::new();
            if wide_sizes {
                extra.extend_from_slice(&r.size.to_le_bytes());
                extra.extend_from_slice(&r.compressed.to_le_bytes());
            }
            if wide_offset {
                extra.extend_from_slice(&r.offset.to_le_bytes());
            }
            if !extra.is_empty() {
                let mut head = ZIP64_EXTRA.to_le_bytes().to_vec();
                head.extend_from_slice(&(extra.len() as u16).to_le_bytes());
                extra.splice(0..0, head);
            }
            let version: u16 = if extra.is_empty() { 20 } else { 45 };
            let mut h = Vec::with_capacity(46 + r.name.len() + extra.len() + r.comment.len());
            h.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
            h.extend_from_slice(&((3u16 << 8) | version).to_le_bytes()); // made by: unix
            h.extend_from_slice(&version.to_le_bytes());
            h.extend_from_slice(&r.flags.to_le_bytes());
            h.extend_from_slice(&r.method.to_le_bytes());
            h.extend_from_slice(&r.dos_time.to_le_bytes());
            h.extend_from_slice(&r.dos_date.to_le_bytes());
            h.extend_from_slice(&r.crc.to_le_bytes());
            let narrow = |v: u64, wide: bool| if wide { u32::MAX } else { v as u32 };
            h.extend_from_slice(&narrow(r.compressed, wide_sizes).to_le_bytes());
            h.extend_from_slice(&narrow(r.size, wide_sizes).to_le_bytes());
            h.extend_from_slice(&(r.name.len() as u16).to_le_bytes());
            h.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            h.extend_from_slice(&(r.comment.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            h.extend_from_slice(&((0o100644u32) << 16).to_le_bytes()); // regular file, rw-r--r--
            h.extend_from_slice(&narrow(r.offset, wide_offset).to_le_bytes());
            h.extend_from_slice(r.name.as_bytes());
            h.extend_from_slice(&extra);
            h.extend_from_slice(r.comment.as_bytes());
            self.emit(&h).map_err(|e| Error::io("writing zip", e))?;
        }
        let cd_size = self.pos - cd_start;
        let count = records.len() as u64;
        let zip64 =
            self.force_zip64 || count >= 0xFFFF || cd_start >= LIMIT_32 || cd_size >= LIMIT_32;
        let mut e = Vec::with_capacity(98 + archive_comment.len());
        if zip64 {
            let record_at = self.pos;
            e.extend_from_slice(&ZIP64_EOCD_SIG.to_le_bytes());
            e.extend_from_slice(&44u64.to_le_bytes());
            e.extend_from_slice(&((3u16 << 8) | 45).to_le_bytes());
            e.extend_from_slice(&45u16.to_le_bytes());
            e.extend_from_slice(&[0; 8]); // this disk, disk with the central directory
            e.extend_from_slice(&count.to_le_bytes());
            e.extend_from_slice(&count.to_le_bytes());
            e.extend_from_slice(&cd_size.to_le_bytes());
            e.extend_from_slice(&cd_start.to_le_bytes());
            e.extend_from_slice(&ZIP64_LOCATOR_SIG.to_le_bytes());
            e.extend_from_slice(&0u32.to_le_bytes());
            e.extend_from_slice(&record_at.to_le_bytes());
            e.extend_from_slice(&1u32.to_le_bytes());
        }
        let count16 = if count >= 0xFFFF {
            0xFFFF
        } else {
            count as u16
        };
        e.extend_from_slice(&EOCD_SIG.to_le_bytes());
        e.extend_from_slice(&[0, 0, 0, 0]);
        e.extend_from_slice(&count16.to_le_bytes());
        e.extend_from_slice(&count16.to_le_bytes());
        e.extend_from_slice(&(cd_size.min(LIMIT_32) as u32).to_le_bytes());
        e.extend_from_slice(&(cd_start.min(LIMIT_32) as u32).to_le_bytes());
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
    pub fn start_patched_entry(&mut self, name: &str, size_hint: u64) -> Result<()> {
        let zip64 = self.force_zip64 || size_hint >= ZIP64_HINT;
        self.begin(name, "", METHOD_STORED, FLAG_UTF8, 0, 0, zip64)?;
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
        let record = self.records.last().expect("entry started");
        let zip64 = record.local_zip64;
        let extra_at = self.header_offset + 30 + record.name.len() as u64 + 4;
        let mut patch = Vec::with_capacity(12);
        patch.extend_from_slice(&crc.to_le_bytes());
        if !zip64 {
            if self.size > LIMIT_32 {
                return Err(too_big());
            }
            patch.extend_from_slice(&(self.size as u32).to_le_bytes());
            patch.extend_from_slice(&(self.size as u32).to_le_bytes());
        }
        let mut wide = Vec::with_capacity(16);
        wide.extend_from_slice(&self.size.to_le_bytes());
        wide.extend_from_slice(&self.size.to_le_bytes());
        let at = self.header_offset + 14;
        let end = self.pos;
        (|| -> io::Result<()> {
            self.out.flush()?;
            self.out.seek(SeekFrom::Start(at))?;
            self.out.write_all(&patch)?;
            if zip64 {
                self.out.seek(SeekFrom::Start(extra_at))?;
                self.out.write_all(&wide)?;
            }
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

struct EntryState {
    entry: LocalEntry,
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
    fn zip64_structures_round_trip() {
        let mut w = ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.force_zip64();
        w.add_bytes("stored", b"abc", false, "").unwrap();
        w.add_bytes("deflated", &vec![7u8; 100_000], true, "")
            .unwrap();
        w.start_patched_entry("patched", 0).unwrap();
        w.write_all(b"patched bytes").unwrap();
        w.finish_patched_entry().unwrap();
        let zip = w.finish("").unwrap().into_inner();
        let got = read_all(&zip).unwrap();
        assert_eq!(got[0].1, b"abc");
        assert_eq!(got[1].1, vec![7u8; 100_000]);
        assert_eq!(got[2], ("patched".to_string(), b"patched bytes".to_vec()));
        // Without forcing, small archives carry no Zip64 record.
        assert!(!sample()
            .windows(4)
            .any(|w| w == ZIP64_EOCD_SIG.to_le_bytes()));
        assert!(zip.windows(4).any(|w| w == ZIP64_EOCD_SIG.to_le_bytes()));
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
