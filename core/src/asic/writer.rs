//! Writing a DPO ASiC-E (as efm-asic's `AsicOutputStream` and `CadesAsicWriter` lay it out) as a
//! stream: documents are read in 256 KiB blocks, hashed and zipped on the way to `out`, so memory
//! stays flat whatever their size.
//!
//! Entry order: `mimetype` (STORED, with the entry comment), the eFormidling `manifest.xml`, the
//! main document, the other documents in the order given, `META-INF/ASiCManifest.xml`,
//! `META-INF/signature-<uuid>.p7s`, `META-INF/manifest.xml`.
//!
//! Deflate only what shrinks: names of already-compressed formats (pdf, zip, jpg, docx, ...) are
//! not compressed; any other document is sampled (a few 64 KiB pieces spread over the file, the
//! whole file when it is small): a sample as even as compressed data ([`STORED_ENTROPY`]) is not
//! deflated, any other is deflated at the entry's level and the document compressed only when
//! the sample shrinks to [`DEFLATE_PAYS`] of its size. A document that is not compressed goes in as
//! deflate's stored blocks (method DEFLATED, as Java's `ZipOutputStream` writes at level 0, CRC
//! and sizes in a data descriptor as for every DEFLATED entry the IP writes), so it is read once:
//! a STORED entry needs its CRC in the local header (Java's `ZipInputStream` cannot read a STORED
//! entry with a data descriptor), which would cost a pass over the file of its own before the
//! data. [`Compression::Stored`] still writes STORED with that first CRC pass (on two threads for
//! a large file).

use super::manifests::{asic_manifest, eformidling_manifest, oasis_manifest, DataObject};
use super::signature::{sign_detached, SignatureDigest};
use super::zipfmt::{check_entry_name, deflaters, ContentHook, Method, ZipWriter};
use super::{ASIC_MIMETYPE, MIMETYPE_COMMENT};
use crate::crypto::keys::Identity;
use crate::error::{Error, ErrorKind, Result};
use flate2::{FlushCompress, Status};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const BLOCK: usize = 256 * 1024;

/// Whether a document is compressed in the ASiC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Not compressed for names that say the data is already compressed (pdf, zip, jpg, docx,
    /// ...); otherwise compressed when a sample of the content shrinks. What is not compressed
    /// is written as deflate's stored blocks (method DEFLATED, one pass over the file).
    #[default]
    Auto,
    /// Method STORED (CRC and size in the local header, so the file is read twice).
    Stored,
    Deflated,
}

/// One document to pack.
#[derive(Debug, Clone)]
pub struct DocumentSource {
    /// The name inside the ASiC (plain relative path, e.g. `arkivmelding.xml`).
    pub name: String,
    pub path: PathBuf,
    /// MIME type; guessed from the name's extension when `None`.
    pub mime: Option<String>,
    pub compression: Compression,
}

impl DocumentSource {
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        DocumentSource {
            name: name.into(),
            path: path.into(),
            mime: None,
            compression: Compression::Auto,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AsicWriteOptions {
    pub signature_digest: SignatureDigest,
    /// Deflate level 0-9 for DEFLATED documents (the small metadata entries use 6).
    pub deflate_level: u32,
    /// Counts document bytes as they go into the ASiC, for progress reported by another thread.
    pub packed: Option<Arc<AtomicU64>>,
    /// Documents written as they are (not deflated) are hashed by whoever reads the ASiC
    /// stream instead of here (see [`DownstreamDigests`]).
    pub downstream_digests: Option<Arc<dyn DownstreamDigests>>,
}

/// Hashing of document content downstream of [`write_asic`], where the ASiC stream is read: the
/// package pipeline hashes each document on the core that encrypts it, in the same pass, so
/// the packing thread does not spend a core on SHA-256.
pub trait DownstreamDigests: Send + Sync {
    /// Told, before each piece of a document's content is written, where it lies in the stream.
    fn content_hook(&self) -> ContentHook;
    /// The document whose content was announced has ended.
    fn document_ended(&self);
    /// The SHA-256 of the first `count` documents ended, in order, once everything written has
    /// been flushed to the reader; waits for them.
    fn digests(&self, count: usize) -> Result<Vec<[u8; 32]>>;
}

impl std::fmt::Debug for dyn DownstreamDigests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DownstreamDigests")
    }
}

/// The default deflate level for documents. With zlib-rs (measured by `examples/bench_deflate.rs`),
/// level 2 deflates XML at about twice the speed of level 6 to within 2 % of its size; level 1
/// is faster still but uses fixed Huffman codes, which grow incompressible stretches by 5 %.
pub const DEFAULT_DEFLATE_LEVEL: u32 = 2;

impl Default for AsicWriteOptions {
    fn default() -> Self {
        AsicWriteOptions {
            signature_digest: SignatureDigest::Sha256,
            deflate_level: DEFAULT_DEFLATE_LEVEL,
            packed: None,
            downstream_digests: None,
        }
    }
}

/// What was packed.
#[derive(Debug, Clone)]
pub struct AsicSummary {
    /// manifest.xml and the documents, in zip order, with MIME types and SHA-256.
    pub objects: Vec<DataObject>,
    pub hoveddokument: String,
    pub signature_name: String,
    /// Bytes of document content read.
    pub content_bytes: u64,
    /// Per document (zip order, without manifest.xml): whether it was compressed (a document
    /// that is not is STORED or in deflate's stored blocks).
    pub deflated: Vec<bool>,
}

/// A sample deflated to at most this fraction of its size makes the document DEFLATED.
pub const DEFLATE_PAYS: f64 = 0.9;
/// A sample with at least this many bits of information per byte (Shannon entropy of its byte
/// values; 8 is the most) is not deflated: coding bytes one by one could shrink it to 7.9/8 =
/// 99 % at best, and data this even is compressed or encrypted already (deflate's string
/// matches find nothing in it). Measuring it costs a pass over the sample instead of deflating
/// it, which for the small documents of a busy installation was a quarter of packing.
pub const STORED_ENTROPY: f64 = 7.9;

/// Shannon entropy of the byte values of `data`, in bits per byte.
pub fn byte_entropy(data: &[u8]) -> f64 {
    // Four tables, so that runs of one byte value do not wait on one counter.
    let mut counts = [[0u32; 256]; 4];
    let mut quads = data.chunks_exact(4);
    for q in &mut quads {
        counts[0][q[0] as usize] += 1;
        counts[1][q[1] as usize] += 1;
        counts[2][q[2] as usize] += 1;
        counts[3][q[3] as usize] += 1;
    }
    for &b in quads.remainder() {
        counts[0][b as usize] += 1;
    }
    let n = data.len() as f64;
    (0..256)
        .map(|v| counts.iter().map(|t| t[v]).sum::<u32>())
        .filter(|&c| c > 0)
        .map(|c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Sample pieces and their size: 4 x 64 KiB, i.e. a document up to 256 KiB is deflated whole
/// (an exact decision) and a larger one costs about a millisecond to judge.
const SAMPLE_PIECES: u64 = 4;
const SAMPLE_PIECE: usize = 64 * 1024;
/// From this size the CRC pass of a STORED document runs on two threads.
const PARALLEL_CRC_FROM: u64 = 8 * 1024 * 1024;

const STORED_EXTENSIONS: &[&str] = &[
    "pdf", "zip", "gz", "tgz", "bz2", "xz", "zst", "7z", "rar", "jpg", "jpeg", "png", "gif",
    "webp", "heic", "tif", "tiff", "mp3", "mp4", "m4a", "mov", "avi", "mkv", "webm", "docx",
    "xlsx", "pptx", "odt", "ods", "odp", "asice", "asics", "sdo", "p7m", "jar", "epub", "cms",
    "p7s",
];

fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// Whether a file of this name is already compressed.
pub fn is_compressed_name(name: &str) -> bool {
    STORED_EXTENSIONS.contains(&extension(name).as_str())
}

/// The MIME type for a file name (what the IP's `MimeTypeExtensionMapper` would choose).
pub fn guess_mime(name: &str) -> &'static str {
    match extension(name).as_str() {
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "html" | "htm" => "text/html",
        "json" => "application/json",
        "csv" => "text/csv",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "tif" | "tiff" => "image/tiff",
        "zip" => "application/zip",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "odt" => "application/vnd.oasis.opendocument.text",
        "ods" => "application/vnd.oasis.opendocument.spreadsheet",
        "rtf" => "application/rtf",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        _ => "application/octet-stream",
    }
}

fn check_document_names(docs: &[DocumentSource]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for d in docs {
        check_entry_name(&d.name).map_err(|e| e.with_field("documents.name"))?;
        if d.name.ends_with('/') {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("document name {:?} ends with '/'", d.name),
            )
            .with_field("documents.name"));
        }
        if d.name == "mimetype" || d.name == "manifest.xml" || d.name.starts_with("META-INF/") {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("document name {:?} is reserved in an ASiC-E (mimetype, manifest.xml, META-INF/); rename the file", d.name),
            )
            .with_field("documents.name"));
        }
        if !seen.insert(d.name.as_str()) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("two documents are named {:?}; names must be unique", d.name),
            )
            .with_field("documents.name"));
        }
    }
    Ok(())
}

fn open(doc: &DocumentSource) -> Result<std::fs::File> {
    std::fs::File::open(&doc.path).map_err(|e| {
        Error::io(format!("opening document {}", doc.path.display()), e)
            .with_field("documents.path")
    })
}

/// Copy `src` into `zip` (the current entry), hashing with SHA-256 unless it is hashed
/// downstream; returns (digest, bytes).
fn copy_hashed<W: Write>(
    src: &mut dyn Read,
    zip: &mut ZipWriter<W>,
    what: &str,
    buf: &mut [u8],
    packed: Option<&AtomicU64>,
    hash_here: bool,
) -> Result<(Option<[u8; 32]>, u64)> {
    let mut sha = hash_here.then(openssl::sha::Sha256::new);
    let mut n = 0u64;
    loop {
        let k = src
            .read(buf)
            .map_err(|e| Error::io(format!("reading {what}"), e))?;
        if k == 0 {
            break;
        }
        if let Some(sha) = &mut sha {
            sha.update(&buf[..k]);
        }
        zip.write_all(&buf[..k])
            .map_err(|e| Error::io("writing the ASiC", e))?;
        n += k as u64;
        if let Some(p) = packed {
            p.fetch_add(k as u64, Ordering::Relaxed);
        }
    }
    Ok((sha.map(|s| s.finish()), n))
}

fn read_error(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(format!("reading {what}"), e)
}

/// Whether deflating a document of `size` bytes pays: deflate [`SAMPLE_PIECES`] pieces spread over
/// it (all of it when it is small) and compare; a sample whose bytes are spread as evenly as
/// compressed or encrypted data's ([`STORED_ENTROPY`]) is not deflated at all. Leaves `file` at
/// its start.
fn deflate_pays(file: &mut std::fs::File, size: u64, level: u32, what: &str) -> Result<bool> {
    if size == 0 {
        return Ok(false);
    }
    let (pieces, piece) = if size <= SAMPLE_PIECES * SAMPLE_PIECE as u64 {
        (1, size as usize)
    } else {
        (SAMPLE_PIECES, SAMPLE_PIECE)
    };
    let mut sample = vec![0u8; pieces as usize * piece];
    for (i, input) in sample.chunks_mut(piece).enumerate() {
        let i = i as u64;
        let at = if pieces == 1 {
            0
        } else {
            (size - piece as u64) * i / (pieces - 1)
        };
        file.seek(SeekFrom::Start(at))
            .and_then(|_| file.read_exact(input))
            .map_err(read_error(what))?;
    }
    file.seek(SeekFrom::Start(0)).map_err(read_error(what))?;
    let entropy = byte_entropy(&sample);
    if entropy >= STORED_ENTROPY {
        log::debug!(
            "{what}: a {}-byte sample has {entropy:.3} bits per byte: not deflated",
            sample.len()
        );
        return Ok(false);
    }
    // Room for deflate's worst case (stored blocks) of one piece.
    let mut output = vec![0u8; piece + piece / 8 + 1024];
    let mut shrunk_to = 0u64;
    for input in sample.chunks(piece) {
        let mut c = deflaters::take(level);
        let compressed = c.compress(input, &mut output, FlushCompress::Finish);
        let shrunk = c.total_out();
        deflaters::give_back(level, c);
        let status = compressed
            .map_err(|e| Error::new(ErrorKind::Internal, format!("deflating a sample: {e}")))?;
        if status != Status::StreamEnd {
            // Grew past the worst case: certainly no gain.
            return Ok(false);
        }
        shrunk_to += shrunk;
    }
    let sampled = sample.len() as u64;
    let pays = shrunk_to as f64 <= sampled as f64 * DEFLATE_PAYS;
    log::debug!(
        "{what}: a {sampled}-byte sample deflates to {shrunk_to} bytes: {}",
        if pays { "DEFLATED" } else { "STORED" }
    );
    Ok(pays)
}

/// CRC-32 of everything `file` yields from its current position, and the byte count.
fn crc_of(file: &mut dyn Read, what: &str) -> Result<(crc32fast::Hasher, u64)> {
    let mut buf = vec![0u8; BLOCK];
    let mut crc = crc32fast::Hasher::new();
    let mut n = 0u64;
    loop {
        let k = file.read(&mut buf).map_err(read_error(what))?;
        if k == 0 {
            return Ok((crc, n));
        }
        crc.update(&buf[..k]);
        n += k as u64;
    }
}

/// The CRC pass of a STORED document: (crc, size). A large file is read as two halves on two
/// threads (the second through its own handle) and the CRCs combined. Leaves `file` at its start.
fn crc_pass(
    doc: &DocumentSource,
    file: &mut std::fs::File,
    size: u64,
    what: &str,
) -> Result<(u32, u64)> {
    let (crc, n) = if size < PARALLEL_CRC_FROM {
        crc_of(file, what)?
    } else {
        let half = size / 2 / BLOCK as u64 * BLOCK as u64;
        let mut second = open(doc)?;
        second
            .seek(SeekFrom::Start(half))
            .map_err(read_error(what))?;
        let (first, tail) = std::thread::scope(|s| {
            let tail = s.spawn(|| crc_of(&mut second, what));
            let first = crc_of(&mut Read::take(&mut *file, half), what);
            (
                first,
                tail.join().unwrap_or_else(|_| {
                    Err(Error::new(ErrorKind::Internal, "the CRC thread panicked"))
                }),
            )
        });
        let ((mut crc, n1), (crc2, n2)) = (first?, tail?);
        if n1 != half {
            // Shrunk under us; the copy pass would notice too, but say it now.
            return Err(Error::new(
                ErrorKind::Io,
                format!("{what} changed while it was being packed"),
            ));
        }
        crc.combine(&crc2);
        (crc, n1 + n2)
    };
    file.seek(SeekFrom::Start(0)).map_err(read_error(what))?;
    Ok((crc.finalize(), n))
}

/// Pack `docs` into a signed ASiC-E written to `out`. `receiver`/`sender` are the ISO 6523
/// identifiers for the eFormidling manifest (`0192:<orgnr>`); `hoveddokument` names the main
/// document (else the first document is).
pub fn write_asic<W: Write>(
    docs: &[DocumentSource],
    hoveddokument: Option<&str>,
    sender: &str,
    receiver: &str,
    identity: &Identity,
    opts: &AsicWriteOptions,
    out: W,
) -> Result<(AsicSummary, W)> {
    if docs.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "an ASiC-E needs at least one document",
        )
        .with_field("documents"));
    }
    check_document_names(docs)?;
    // Main document first, then the rest in the order given (IP
    // `NextMoveMessageService.getDocuments`: primary first, then by upload order).
    let main_index = match hoveddokument {
        Some(h) => docs.iter().position(|d| d.name == h).unwrap_or_else(|| {
            log::warn!("hoveddokument {h:?} is not among the documents; the first document becomes the main document");
            0
        }),
        None => 0,
    };
    let mut order: Vec<&DocumentSource> = vec![&docs[main_index]];
    order.extend(
        docs.iter()
            .enumerate()
            .filter(|(i, _)| *i != main_index)
            .map(|(_, d)| d),
    );
    let main = order[0];
    let main_mime = main
        .mime
        .clone()
        .unwrap_or_else(|| guess_mime(&main.name).to_string());

    let mut zip = ZipWriter::new(out);
    zip.add_bytes(
        "mimetype",
        ASIC_MIMETYPE.as_bytes(),
        false,
        MIMETYPE_COMMENT,
    )?;
    let manifest = eformidling_manifest(receiver, sender, Some((&main.name, &main_mime)));
    zip.add_bytes("manifest.xml", manifest.as_bytes(), true, "")?;
    let mut objects = vec![DataObject {
        uri: "manifest.xml".into(),
        mime: "application/xml".into(),
        sha256: openssl::sha::sha256(manifest.as_bytes()),
    }];
    // Grown to the largest document so far (up to a block): a small message does not allocate
    // and clear a buffer sixty times its size.
    let mut buf = Vec::new();
    let mut content_bytes = 0u64;
    let mut deflated = Vec::with_capacity(docs.len());
    // Indexes into `objects` of the documents whose digests come from downstream.
    let mut hashed_downstream = Vec::new();
    for doc in order {
        let mime = doc
            .mime
            .clone()
            .unwrap_or_else(|| guess_mime(&doc.name).to_string());
        let mut file = open(doc)?;
        let what = format!("document {}", doc.path.display());
        let size = file
            .metadata()
            .map_err(|e| Error::io(format!("reading the size of {what}"), e))?
            .len();
        let want = usize::try_from(size).unwrap_or(BLOCK).clamp(4096, BLOCK);
        if buf.len() < want {
            buf.resize(want, 0);
        }
        let method = match doc.compression {
            Compression::Auto if is_compressed_name(&doc.name) => Method::DeflateStoredBlocks,
            Compression::Auto if !deflate_pays(&mut file, size, opts.deflate_level, &what)? => {
                Method::DeflateStoredBlocks
            }
            Compression::Auto | Compression::Deflated => Method::Deflated(opts.deflate_level),
            Compression::Stored => {
                // The local header of a STORED entry needs the CRC and size before the data.
                let (crc, size) = crc_pass(doc, &mut file, size, &what)?;
                Method::StoredKnown { crc, size }
            }
        };
        zip.start_entry_sized(&doc.name, method, "", size)?;
        deflated.push(matches!(method, Method::Deflated(_)));
        // Content written as it is can be hashed downstream; deflated content must be hashed
        // before it is compressed, here.
        let downstream = opts
            .downstream_digests
            .as_deref()
            .filter(|_| !matches!(method, Method::Deflated(_)));
        if let Some(d) = downstream {
            zip.announce_content(Some(d.content_hook()));
        }
        let (sha256, n) = copy_hashed(
            &mut file,
            &mut zip,
            &what,
            &mut buf,
            opts.packed.as_deref(),
            downstream.is_none(),
        )?;
        zip.finish_entry()?;
        if let Some(d) = downstream {
            zip.announce_content(None);
            d.document_ended();
            hashed_downstream.push(objects.len());
        }
        content_bytes += n;
        objects.push(DataObject {
            uri: doc.name.clone(),
            mime,
            sha256: sha256.unwrap_or_default(),
        });
    }
    if let Some(d) = opts.downstream_digests.as_deref() {
        if !hashed_downstream.is_empty() {
            zip.flush()
                .map_err(|e| Error::io("handing the documents over to be hashed", e))?;
            let digests = d.digests(hashed_downstream.len())?;
            for (i, digest) in hashed_downstream.iter().zip(digests) {
                objects[*i].sha256 = digest;
            }
        }
    }
    let signature_name = format!("META-INF/signature-{}.p7s", uuid::Uuid::new_v4());
    let asic_manifest = asic_manifest(&signature_name, &objects);
    zip.add_bytes(
        "META-INF/ASiCManifest.xml",
        asic_manifest.as_bytes(),
        true,
        "",
    )?;
    let p7s = sign_detached(asic_manifest.as_bytes(), identity, opts.signature_digest)?;
    zip.add_bytes(&signature_name, &p7s, true, "")?;
    zip.add_bytes(
        "META-INF/manifest.xml",
        oasis_manifest(&objects).as_bytes(),
        true,
        "",
    )?;
    let out = zip.finish(MIMETYPE_COMMENT)?;
    Ok((
        AsicSummary {
            objects,
            hoveddokument: main.name.clone(),
            signature_name,
            content_bytes,
            deflated,
        },
        out,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_entropy_of_known_distributions() {
        assert_eq!(byte_entropy(&[7u8; 1000]), 0.0);
        let two: Vec<u8> = (0..1000).map(|i| (i % 2) as u8).collect();
        assert!((byte_entropy(&two) - 1.0).abs() < 1e-9);
        let all: Vec<u8> = (0..256 * 40).map(|i| (i % 256) as u8).collect();
        assert!((byte_entropy(&all) - 8.0).abs() < 1e-9);
        // Pseudo-random bytes: just under 8, over the threshold; text far under it.
        let noise = crate::crypto::test_bytes(20 * 1024, 1);
        let e = byte_entropy(&noise);
        assert!(e > STORED_ENTROPY && e <= 8.0, "{e}");
        let text = "<journalpost><tittel>Vedtak i sak 2026/17</tittel></journalpost>".repeat(300);
        assert!(byte_entropy(text.as_bytes()) < 5.0);
        // The remainder after the groups of four counts too.
        assert_eq!(
            byte_entropy(&[1, 1, 1, 1, 2]),
            byte_entropy(&[2, 1, 1, 1, 1])
        );
    }
}
