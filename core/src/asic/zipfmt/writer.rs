//! The streaming zip writer (STORED with known sizes, DEFLATED with descriptors, Zip64, patched entries).

use super::*;

/// How an entry's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// STORED with CRC and size known before the data (written in the local header).
    StoredKnown { crc: u32, size: u64 },
    /// DEFLATED at the given level (0-9), sizes in a data descriptor.
    Deflated(u32),
    /// DEFLATED as deflate's stored (uncompressed) blocks, sizes in a data descriptor: what
    /// Java's `ZipOutputStream` writes at level 0. For data that does not shrink, written in one
    /// pass (a STORED entry needs its CRC before the data, so a pass over the data of its own)
    /// and with a 5-byte block header per 64 KiB as the only cost.
    DeflateStoredBlocks,
}

/// The largest stored deflate block (LEN is 16 bits).
const STORED_BLOCK_MAX: usize = 0xFFFF;

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
    Stored {
        expect_crc: u32,
        expect_size: u64,
    },
    /// The stream and its level (it goes back to `deflaters` at the end).
    Deflated(Box<Compress>, u32),
    /// Deflate's stored blocks, written by hand (no copy through a deflater).
    StoredBlocks,
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
    /// Told where entry content lands in the stream, before it is written (see
    /// [`ZipWriter::announce_content`]).
    content_hook: Option<ContentHook>,
}

/// Called with (stream offset, length) of entry content about to be written.
pub type ContentHook = Box<dyn FnMut(u64, u64) + Send>;

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
            content_hook: None,
        }
    }

    /// Write Zip64 structures even for small entries (to test readers).
    pub fn force_zip64(&mut self) {
        self.force_zip64 = true;
    }

    /// From now on, tell `hook` the stream offset and length of each piece of entry content
    /// before the piece is written, for entries whose content goes into the stream as it is
    /// (STORED, deflate's stored blocks); `None` stops it. Lets whoever reads the stream hash
    /// the content on its way (the package pipeline hashes documents as it encrypts them).
    pub fn announce_content(&mut self, hook: Option<ContentHook>) {
        self.content_hook = hook;
    }

    fn announce(&mut self, len: usize) {
        if let Some(hook) = &mut self.content_hook {
            hook(self.pos, len as u64);
        }
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
            Method::Deflated(_) | Method::DeflateStoredBlocks => {
                self.begin(
                    name,
                    comment,
                    METHOD_DEFLATED,
                    FLAG_UTF8 | FLAG_DESCRIPTOR,
                    0,
                    0,
                    self.force_zip64 || size_hint >= ZIP64_HINT,
                )?;
                self.current = match method {
                    Method::Deflated(level) => Current::Deflated(deflaters::take(level), level),
                    _ => Current::StoredBlocks,
                };
            }
        }
        Ok(())
    }

    /// `data` as non-final stored deflate blocks (the final, empty one goes out in
    /// `finish_entry`, when the end is known).
    fn stored_blocks(&mut self, data: &[u8]) -> io::Result<()> {
        for piece in data.chunks(STORED_BLOCK_MAX) {
            let len = piece.len() as u16;
            let mut header = [0u8; 5]; // BFINAL 0, BTYPE 00, aligned to the byte
            header[1..3].copy_from_slice(&len.to_le_bytes());
            header[3..5].copy_from_slice(&(!len).to_le_bytes());
            self.out.write_all(&header)?;
            self.pos += header.len() as u64;
            self.announce(piece.len());
            self.out.write_all(piece)?;
            self.pos += piece.len() as u64;
            let n = (header.len() + piece.len()) as u64;
            self.compressed += n;
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
            let Current::Deflated(c, _) = &mut self.current else {
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
            ended @ (Current::Deflated(..) | Current::StoredBlocks) => {
                if let Current::Deflated(c, level) = ended {
                    self.current = Current::Deflated(c, level);
                    self.deflate_step(&[], FlushCompress::Finish)
                        .map_err(|e| Error::io("writing zip", e))?;
                    if let Current::Deflated(c, level) =
                        std::mem::replace(&mut self.current, Current::None)
                    {
                        deflaters::give_back(level, c);
                    }
                } else {
                    // The final block: empty, BFINAL set.
                    let last = [1u8, 0, 0, 0xFF, 0xFF];
                    self.emit(&last).map_err(|e| Error::io("writing zip", e))?;
                    self.compressed += last.len() as u64;
                }
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
                self.announce(data.len());
                self.out.write_all(data)?;
                self.pos += data.len() as u64;
            }
            Current::Deflated(..) => self.deflate_step(data, FlushCompress::None)?,
            Current::StoredBlocks => self.stored_blocks(data)?,
        }
        self.crc.update(data);
        self.size += data.len() as u64;
        Ok(data.len())
    }
    /// Vectored for STORED data (the CMS framing writes its segments so); otherwise the first
    /// non-empty slice, as `Write`'s default does.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        // Content to announce goes one slice at a time, so each is announced exactly.
        if self.content_hook.is_some()
            || !matches!(self.current, Current::Stored { .. } | Current::Patched)
        {
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
            return self.write(first);
        }
        let n = self.out.write_vectored(bufs)?;
        let mut left = n;
        for b in bufs {
            let k = left.min(b.len());
            self.crc.update(&b[..k]);
            left -= k;
            if left == 0 {
                break;
            }
        }
        self.pos += n as u64;
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
