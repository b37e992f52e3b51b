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
    let mut w = ZipWriter::new(io::Cursor::new(Vec::new()));
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

/// An entry written: name, bytes, compressed size.
type Written = (String, Vec<u8>, u64);

/// Sizes around deflate's 65535-byte stored-block limit.
const BLOCK_EDGES: [usize; 9] = [
    0, 1, 65_534, 65_535, 65_536, 131_070, 131_071, 262_144, 300_007,
];

/// Entries `e0`, `e1`, ... of `sizes` bytes as deflate's stored blocks, written in odd pieces (so
/// blocks end inside writes and writes inside blocks), then, when `then_stored` > 0, a STORED
/// entry `stored.txt` of that size; with (name, data, compressed size) of each.
fn stored_blocks_zip(sizes: &[usize], zip64: bool, then_stored: usize) -> (Vec<u8>, Vec<Written>) {
    let mut w = ZipWriter::new(Vec::new());
    if zip64 {
        w.force_zip64();
    }
    let mut expected = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let data: Vec<u8> = (0..size).map(|j| (j * 7 + i) as u8).collect();
        w.start_entry_sized(&format!("e{i}"), Method::DeflateStoredBlocks, "", 0)
            .unwrap();
        for piece in data.chunks(40_000 + i) {
            w.write_all(piece).unwrap();
        }
        let t = w.finish_entry().unwrap();
        assert_eq!(t.size, size as u64);
        assert_eq!(t.crc, crc32fast::hash(&data));
        expected.push((format!("e{i}"), data, t.compressed));
    }
    if then_stored > 0 {
        let data = vec![b'x'; then_stored];
        w.add_bytes("stored.txt", &data, false, "").unwrap();
        expected.push(("stored.txt".into(), data, then_stored as u64));
    }
    (w.finish("").unwrap(), expected)
}

/// Deflate's stored blocks written by hand: sizes around the 65535-byte block limit, written in
/// pieces that straddle it, with and without Zip64; our reader and an independent inflater
/// (flate2 on the raw entry bytes) both get the data back, and the entry is
/// DEFLATED with a data descriptor.
#[test]
fn stored_blocks_round_trip_at_block_boundaries() {
    for force64 in [false, true] {
        let (zip, expected) = stored_blocks_zip(&BLOCK_EDGES, force64, 0);
        let got = read_all(&zip).unwrap();
        assert_eq!(got.len(), BLOCK_EDGES.len());
        let mut at = 0usize;
        for ((name, data), (want_name, want, compressed)) in got.iter().zip(&expected) {
            assert_eq!(name, want_name);
            assert_eq!(data, want, "{name} (zip64 {force64})");
            // The raw entry: find its local header, inflate its bytes independently.
            let header = zip[at..]
                .windows(4)
                .position(|s| s == LOCAL_SIG.to_le_bytes())
                .unwrap()
                + at;
            assert_eq!(u16::from_le_bytes([zip[header + 8], zip[header + 9]]), 8);
            assert_ne!(zip[header + 6] & 0x08, 0, "a data descriptor");
            let name_len = usize::from(u16::from_le_bytes([zip[header + 26], zip[header + 27]]));
            let extra_len = usize::from(u16::from_le_bytes([zip[header + 28], zip[header + 29]]));
            let start = header + 30 + name_len + extra_len;
            let raw = &zip[start..start + *compressed as usize];
            let mut inflated = Vec::new();
            flate2::read::DeflateDecoder::new(raw)
                .read_to_end(&mut inflated)
                .unwrap();
            assert_eq!(&inflated, want, "{name} inflated independently");
            at = start + *compressed as usize;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading by pieces (`next_piece`): the bytes of STORED entries and of deflate's stored blocks
// handed out where they lie in a lending input, everything else inflated.

use super::pieces::{Piece, ShareBuf, SharedChunk};
use crate::crypto::test_bytes as noise;

/// An input that lends its blocks, cut every `cut` bytes (so headers, stored blocks and
/// descriptors straddle the cuts).
struct Lending {
    rest: std::collections::VecDeque<Vec<u8>>,
    cur: SharedChunk,
    pos: usize,
}

impl Lending {
    fn new(data: &[u8], cut: usize) -> Self {
        Lending {
            rest: data.chunks(cut).map(<[u8]>::to_vec).collect(),
            cur: SharedChunk::new(Vec::new(), None),
            pos: 0,
        }
    }
}

impl Read for Lending {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let b = self.fill_buf()?;
            let n = b.len().min(out.len());
            out[..n].copy_from_slice(&b[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Lending {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.cur.bytes().len() {
            match self.rest.pop_front() {
                Some(next) => {
                    self.cur = SharedChunk::new(next, None);
                    self.pos = 0;
                }
                None => break,
            }
        }
        Ok(&self.cur.bytes()[self.pos..])
    }
    fn consume(&mut self, n: usize) {
        self.pos += n;
    }
}

impl ShareBuf for Lending {
    fn share(&self) -> Option<(SharedChunk, usize)> {
        Some((self.cur.clone(), self.pos))
    }
}

/// Every entry read by pieces: (name, bytes, pieces lent, pieces copied or inflated).
type PieceRead = (String, Vec<u8>, usize, usize);

fn read_by_pieces<R: ShareBuf>(input: R, limits: ReadLimits) -> Result<Vec<PieceRead>> {
    let mut zr = ZipStreamReader::new(input, limits);
    let mut out = Vec::new();
    while let Some(e) = zr.next_entry()? {
        let (mut data, mut lent, mut owned) = (Vec::new(), 0, 0);
        while let Some(piece) = zr.next_piece(&e, || vec![0u8; 1000])? {
            match &piece {
                Piece::Shared { .. } => lent += 1,
                Piece::Owned(_) => owned += 1,
            }
            data.extend_from_slice(piece.bytes());
        }
        let totals = zr.finish_pieces(&e, crc32fast::hash(&data))?;
        assert_eq!(totals.size, data.len() as u64);
        out.push((e.name, data, lent, owned));
    }
    zr.expect_end()?;
    Ok(out)
}

/// By pieces, at every cut of the input, the bytes are those the stream reader gives; the bytes
/// of stored blocks and STORED entries are always lent, never copied; Zip64 or not.
#[test]
fn pieces_match_the_stream_reader_at_every_cut() {
    let wide = ReadLimits {
        max_entry_size: 1 << 24,
        max_total_size: 1 << 25,
        max_entries: 64,
    };
    for zip64 in [false, true] {
        // Cuts of a few bytes make a block per few bytes: for the small zip only; the odd cut
        // of the large one still splits block headers at every offset somewhere.
        let big: &[usize] = &[4093, 65_535, 65_536, 65_541, 262_144];
        for (zip, cuts) in [
            (stored_blocks_zip(&BLOCK_EDGES, zip64, 70_000).0, big),
            (sample(), &[1, 2, 3, 5, 4096][..]),
        ] {
            let mut want = Vec::new();
            let mut zr = ZipStreamReader::new(zip.as_slice(), wide);
            while let Some(e) = zr.next_entry().unwrap() {
                let mut data = Vec::new();
                zr.read_data(&e, &mut data).unwrap();
                want.push((e.name, data, e.method));
            }
            for &cut in cuts.iter().chain([&zip.len()]) {
                let got = read_by_pieces(Lending::new(&zip, cut), wide).unwrap();
                assert_eq!(got.len(), want.len());
                for ((name, data, lent, owned), (want_name, want_data, method)) in
                    got.iter().zip(&want)
                {
                    assert_eq!(name, want_name);
                    assert_eq!(data, want_data, "{name}, cut {cut}");
                    let stored_blocks = name.starts_with('e');
                    if stored_blocks || *method == METHOD_STORED {
                        assert_eq!(*owned, 0, "{name}, cut {cut}: copied");
                        assert_eq!(*lent > 0, !data.is_empty(), "{name}, cut {cut}");
                    }
                }
            }
            // An input that does not lend its buffer gets the same bytes, copied.
            let got = read_by_pieces(zip.as_slice(), wide).unwrap();
            for ((name, data, lent, _), (_, want_data, _)) in got.iter().zip(&want) {
                assert_eq!(data, want_data, "{name}, not lent");
                assert_eq!(*lent, 0);
            }
        }
    }
}

/// Deflate's stored blocks as our writer writes them, non-final.
fn raw_stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in data.chunks(0xFFFF) {
        let len = piece.len() as u16;
        out.push(0);
        out.extend(len.to_le_bytes());
        out.extend((!len).to_le_bytes());
        out.extend(piece);
    }
    out
}

/// Raw deflate of `data` (final), knowing `history` as what came before it.
fn raw_compressed(data: &[u8], history: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(flate2::Compression::new(6), false);
    if !history.is_empty() {
        c.set_dictionary(history).unwrap();
    }
    let mut out = Vec::with_capacity(data.len() + 1024);
    c.compress_vec(data, &mut out, FlushCompress::Finish)
        .unwrap();
    assert_eq!(c.total_in(), data.len() as u64);
    out
}

/// A zip of one DEFLATED entry, `raw.bin`, whose deflate stream is `raw` (any blocks), with a
/// data descriptor, as Java's `ZipOutputStream` writes it.
fn raw_deflated_zip(raw: &[u8], data: &[u8]) -> Vec<u8> {
    let name = b"raw.bin";
    let (crc, c, s) = (crc32fast::hash(data), raw.len() as u32, data.len() as u32);
    let mut z = Vec::new();
    z.extend(LOCAL_SIG.to_le_bytes());
    z.extend(20u16.to_le_bytes());
    z.extend(FLAG_DESCRIPTOR.to_le_bytes());
    z.extend(METHOD_DEFLATED.to_le_bytes());
    z.extend([0u8; 16]); // time, date, CRC and sizes (in the descriptor)
    z.extend((name.len() as u16).to_le_bytes());
    z.extend(0u16.to_le_bytes());
    z.extend(name);
    z.extend(raw);
    z.extend(DESCRIPTOR_SIG.to_le_bytes());
    for v in [crc, c, s] {
        z.extend(v.to_le_bytes());
    }
    let cd = z.len() as u32;
    z.extend(CENTRAL_SIG.to_le_bytes());
    z.extend(20u16.to_le_bytes());
    z.extend(20u16.to_le_bytes());
    z.extend(FLAG_DESCRIPTOR.to_le_bytes());
    z.extend(METHOD_DEFLATED.to_le_bytes());
    z.extend([0u8; 4]);
    for v in [crc, c, s] {
        z.extend(v.to_le_bytes());
    }
    z.extend((name.len() as u16).to_le_bytes());
    z.extend([0u8; 12]); // extra and comment lengths, disk, attributes
    z.extend(0u32.to_le_bytes()); // offset
    z.extend(name);
    let cd_len = z.len() as u32 - cd;
    z.extend(EOCD_SIG.to_le_bytes());
    z.extend([0u8; 4]);
    z.extend(1u16.to_le_bytes());
    z.extend(1u16.to_le_bytes());
    z.extend(cd_len.to_le_bytes());
    z.extend(cd.to_le_bytes());
    z.extend(0u16.to_le_bytes());
    z
}

/// Stored blocks followed by a compressed block that refers back into them (zlib writes such
/// streams when part of a file shrinks), and a stream that is compressed from its first block:
/// the stored bytes are lent, the rest inflated, and the result is what an independent
/// inflater makes of the stream.
#[test]
fn pieces_switch_to_the_inflater_at_a_compressed_block() {
    let head = noise(100_003, 7);
    // Repeats of the last 20 KiB of the stored part: the compressed block copies from them.
    let mut tail = Vec::new();
    for _ in 0..5 {
        tail.extend_from_slice(&head[head.len() - 20_000..]);
    }
    tail.extend(b"the end".iter().cycle().take(9_999));
    let mut data = head.clone();
    data.extend(&tail);
    let history = &head[head.len() - 32 * 1024..];
    let mut raw = raw_stored(&head);
    let compressed = raw_compressed(&tail, history);
    assert!(compressed.len() < 20_000, "the tail refers back");
    raw.extend(compressed);
    let mut independent = Vec::new();
    flate2::read::DeflateDecoder::new(raw.as_slice())
        .read_to_end(&mut independent)
        .unwrap();
    assert_eq!(independent, data);
    let zip = raw_deflated_zip(&raw, &data);
    for cut in [1, 3, 4096, 65_536, 65_541, zip.len()] {
        let got = read_by_pieces(Lending::new(&zip, cut), limits()).unwrap();
        let (_, bytes, lent, owned) = &got[0];
        assert_eq!(bytes, &data, "cut {cut}");
        assert!(
            *lent >= 2 && *owned >= 1,
            "cut {cut}: {lent} lent, {owned} inflated"
        );
    }
    // Compressed from the first block (an empty file as Java writes it, and text).
    for data in [Vec::new(), b"abc".repeat(50_000)] {
        let zip = raw_deflated_zip(&raw_compressed(&data, &[]), &data);
        for cut in [1, 7, zip.len()] {
            let got = read_by_pieces(Lending::new(&zip, cut), limits()).unwrap();
            assert_eq!(got[0].1, data);
            assert_eq!(got[0].2, 0, "nothing to lend");
        }
    }
}

/// Damage found by pieces is reported as it is by the stream reader: a stored block whose NLEN
/// does not match, a changed byte (the CRC the caller computes), a changed size, truncation
/// inside a block and inside a block header; the limits apply.
#[test]
fn pieces_refuse_damage_and_apply_limits() {
    let data = noise(150_000, 3);
    let mut raw = raw_stored(&data);
    raw.extend([1, 0, 0, 0xFF, 0xFF]); // the final, empty block
    let zip = raw_deflated_zip(&raw, &data);
    let ok = read_by_pieces(Lending::new(&zip, 4096), limits()).unwrap();
    assert_eq!(ok[0].1, data);
    let data_at = zip.windows(7).position(|w| w == b"raw.bin").unwrap() + 7;
    let expect = |bad: &[u8], what: &str| {
        for cut in [1, 4096, bad.len()] {
            let e = read_by_pieces(Lending::new(bad, cut), limits()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PackageInvalid, "{what}: {e}");
            assert!(e.to_string().contains(what), "{what}: {e}");
        }
    };
    let mut bad = zip.clone();
    bad[data_at + 3] ^= 1; // NLEN of the first block
    expect(&bad, "corrupt deflate data");
    let mut bad = zip.clone();
    bad[data_at + 70_000] ^= 1; // a byte of the second block
    expect(&bad, "does not match its recorded CRC");
    let mut bad = zip.clone();
    let descriptor = data_at + raw.len();
    bad[descriptor + 12] ^= 1; // the uncompressed size in the descriptor
    expect(&bad, "does not match its recorded CRC or sizes");
    expect(&zip[..data_at + 70_000], "truncated");
    expect(&zip[..data_at + 65_535 + 5 + 2], "truncated"); // inside the second header
    let small = ReadLimits {
        max_entry_size: 100_000,
        ..limits()
    };
    let e = read_by_pieces(Lending::new(&zip, 65_536), small).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::EntryTooLarge);
}

/// What the zip writer announces as content is exactly the entry's bytes in the stream: for
/// deflate's stored blocks (around the 64 KiB block size, written in pieces) and for STORED, and
/// nothing of the headers, descriptors or of a deflated entry.
#[test]
fn announced_content_is_exactly_the_entry_bytes() {
    use std::sync::{Arc, Mutex};
    let data: Vec<u8> = (0..300_007u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    for size in [0usize, 1, 65534, 65535, 65536, 131_071, 300_007] {
        for stored_known in [false, true] {
            let content = &data[..size];
            let spans = Arc::new(Mutex::new(Vec::new()));
            let mut w = ZipWriter::new(Vec::new());
            w.add_bytes("before.xml", b"<a/>", true, "").unwrap();
            let method = if stored_known {
                let mut crc = crc32fast::Hasher::new();
                crc.update(content);
                Method::StoredKnown {
                    crc: crc.finalize(),
                    size: size as u64,
                }
            } else {
                Method::DeflateStoredBlocks
            };
            w.start_entry("doc.bin", method, "").unwrap();
            let recorded = spans.clone();
            w.announce_content(Some(Box::new(move |offset, len| {
                recorded.lock().unwrap().push((offset, len))
            })));
            for piece in content.chunks(40_000) {
                w.write_all(piece).unwrap();
            }
            w.finish_entry().unwrap();
            w.announce_content(None);
            w.add_bytes("after.xml", b"<b/>", true, "").unwrap();
            let zip = w.finish("").unwrap();
            let mut seen = Vec::new();
            for &(offset, len) in spans.lock().unwrap().iter() {
                seen.extend_from_slice(&zip[offset as usize..(offset + len) as usize]);
            }
            assert!(seen == content, "size {size} stored {stored_known}");
            let got = read_all(&zip).unwrap();
            assert_eq!(got[1].1, content, "size {size} stored {stored_known}");
        }
    }
}
