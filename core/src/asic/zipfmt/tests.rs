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

/// Deflate's stored blocks written by hand: sizes around the 65535-byte block limit, written in
/// pieces that straddle it, with and without Zip64; our reader and an independent inflater
/// (flate2 on the raw entry bytes) both get the data back, and the entry is
/// DEFLATED with a data descriptor.
#[test]
fn stored_blocks_round_trip_at_block_boundaries() {
    let sizes = [
        0usize, 1, 65_534, 65_535, 65_536, 131_070, 131_071, 262_144, 300_007,
    ];
    for force64 in [false, true] {
        let mut w = ZipWriter::new(Vec::new());
        if force64 {
            w.force_zip64();
        }
        let mut expected = Vec::new();
        for (i, &size) in sizes.iter().enumerate() {
            let data: Vec<u8> = (0..size).map(|j| (j * 7 + i) as u8).collect();
            w.start_entry_sized(&format!("e{i}"), Method::DeflateStoredBlocks, "", 0)
                .unwrap();
            // Odd piece sizes, so blocks end inside writes and writes inside blocks.
            for piece in data.chunks(40_000 + i) {
                w.write_all(piece).unwrap();
            }
            let t = w.finish_entry().unwrap();
            assert_eq!(t.size, size as u64);
            assert_eq!(t.crc, crc32fast::hash(&data));
            expected.push((format!("e{i}"), data, t.compressed));
        }
        let zip = w.finish("").unwrap();
        let got = read_all(&zip).unwrap();
        assert_eq!(got.len(), sizes.len());
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
