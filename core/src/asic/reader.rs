//! Reading, verifying and extracting a received ASiC-E in one pass over a stream.
//!
//! What is accepted is what the ASiC library the integration point ships (difi/asic, now
//! felleslosninger/efm-asic, `AbstractAsicReader`) accepts, so an archive system behind efm
//! opens every container one behind the IP could:
//!
//! - `mimetype`, where present, must read `application/vnd.etsi.asic-e+zip`; that it comes
//!   first and STORED (ETSI's rule, which efm and the IP write) is only a warning, as is its
//!   absence: the library checks neither;
//! - in `META-INF/`: `ASiCManifest*.xml` (any case, as older IPs wrote `asicmanifest.xml`), the
//!   signatures they name (`signature*.p7s`; a manifest without a SigReference names
//!   `META-INF/signature.p7s`), and `manifest.xml`; anything else there is refused, so is XAdES;
//! - every manifest's signature must verify, every signature must be named by a manifest, every
//!   data file must be listed with a matching SHA-256 (the digest method written either as
//!   `xmlenc#sha256` or as `xmldsig#sha256`), and every listed file must be present.
//!
//! Entries are written into a fresh staging directory (inside the data directory when the
//! caller gives one, so partial plaintext never lands elsewhere) under numbered names while their
//! SHA-256 is computed; only when everything verifies are they moved into the target, under
//! names made safe by [`Placement`]. A failure at any point leaves the target as it was. A file
//! already in the target with the same content is taken as extracted before (a `pop` repeated
//! after a crash); one with other content is never overwritten.

use super::manifests::parse_asic_manifest;
use super::offload::OffloadedFile;
use super::placement::Placement;
use super::signature::verify_detached;
use super::zipfmt::pieces::ShareBuf;
use super::zipfmt::{ReadLimits, ZipStreamReader};
use super::ASIC_MIMETYPE;
use crate::error::{Error, ErrorKind, Result};
use openssl::x509::X509;
use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// Metadata files are read into memory; they are small, so anything larger is refused.
const MAX_META_SIZE: u64 = 4 * 1024 * 1024;

/// Where a manifest without a SigReference finds its signature (`CadesAsicManifest`).
const DEFAULT_SIGNATURE: &str = "META-INF/signature.p7s";

#[derive(Debug, Clone)]
pub struct AsicReadOptions {
    /// Largest uncompressed size of one entry.
    pub max_entry_size: u64,
    /// Largest uncompressed size of all entries together (zip-bomb guard).
    pub max_total_size: u64,
    pub max_entries: usize,
    /// Require this certificate to be the signer.
    pub expected_signer: Option<X509>,
    /// Stage files in a fresh directory inside this one (`None`: inside the target).
    pub staging: Option<PathBuf>,
}

impl Default for AsicReadOptions {
    fn default() -> Self {
        AsicReadOptions {
            // DPO allows 1 GB of attachments; leave room for overhead.
            max_entry_size: 2 * 1024 * 1024 * 1024,
            max_total_size: 3 * 1024 * 1024 * 1024,
            max_entries: 10_000,
            expected_signer: None,
            staging: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExtractedFile {
    /// Name inside the ASiC.
    pub name: String,
    /// Where it now is (its file name differs from `name` when that could not be a file here).
    pub path: PathBuf,
    pub mime: String,
    pub size: u64,
    pub sha256: [u8; 32],
}

#[derive(Debug, Clone)]
pub struct ExtractedAsic {
    /// The data files (the eFormidling `manifest.xml` and the documents), in zip order.
    pub files: Vec<ExtractedFile>,
    pub signer: X509,
    pub signature_name: String,
    /// What was unusual but accepted (a misplaced `mimetype`, renamed documents, ...).
    pub warnings: Vec<String>,
}

/// Read the current entry into `file`, hashing it: (size, SHA-256). This thread does little
/// but SHA-256 (the largest cost of opening a package): it hashes each piece where it lies (in
/// the decrypted block, for STORED data and deflate's stored blocks; else in the buffer it was
/// inflated into), and hands it to [`OffloadedFile`], which writes it and computes its CRC-32
/// (on a second thread for a large file), which the zip reader then checks.
fn stage_entry<R: ShareBuf>(
    zr: &mut ZipStreamReader<R>,
    e: &super::zipfmt::LocalEntry,
    file: std::fs::File,
    path: &Path,
) -> Result<(u64, [u8; 32])> {
    let write_error = |err| Error::io(format!("writing {}", path.display()), err);
    let mut out = OffloadedFile::new(file);
    let mut sha = openssl::sha::Sha256::new();
    while let Some(piece) = zr.next_piece(e, || out.buffer(STAGE_BLOCK))? {
        sha.update(piece.bytes());
        out.write_piece(piece).map_err(write_error)?;
    }
    let (_, crc) = out.finish().map_err(write_error)?;
    let totals = zr.finish_pieces(e, crc)?;
    Ok((totals.size, sha.finish()))
}

/// Blocks of a staged file: as large as the reader's buffer, so that reads bypass it.
const STAGE_BLOCK: usize = 256 * 1024;

/// A sink that keeps at most `limit` bytes in memory.
struct Capped {
    data: Vec<u8>,
    limit: u64,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if (self.data.len() + buf.len()) as u64 > self.limit {
            return Err(std::io::Error::other("metadata file too large"));
        }
        self.data.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::PackageInvalid, msg)
}

fn read_meta<R: std::io::BufRead>(
    zr: &mut ZipStreamReader<R>,
    e: &super::zipfmt::LocalEntry,
) -> Result<Vec<u8>> {
    let mut sink = Capped {
        data: Vec::new(),
        limit: MAX_META_SIZE,
    };
    zr.read_data(e, &mut sink).map_err(|err| {
        if err.kind() == ErrorKind::Io {
            Error::new(
                ErrorKind::EntryTooLarge,
                format!("{} is larger than {MAX_META_SIZE} bytes", e.name),
            )
            .with_field(e.name.clone())
        } else {
            err
        }
    })?;
    Ok(sink.data)
}

/// Refuse to write through a symlink that already sits in the target tree.
fn check_no_symlink_on_path(target: &Path, relative: &Path) -> Result<()> {
    let mut p = target.to_path_buf();
    for part in relative.components() {
        p.push(part);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::new(
                    ErrorKind::UnsafeEntry,
                    format!(
                        "{} is a symbolic link; refusing to extract {} through it",
                        p.display(),
                        relative.display()
                    ),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// What a `META-INF/` entry is, by the library's name patterns (the part after `META-INF/` is
/// matched without regard to case).
enum Meta {
    Manifest,
    Signature,
    Xades,
    OasisManifest,
    Unknown,
}

fn classify_meta(rest: &str) -> Meta {
    let lower = rest.to_lowercase();
    if lower.starts_with("asicmanifest") && lower.ends_with(".xml") {
        Meta::Manifest
    } else if lower.starts_with("signatures") && lower.ends_with(".xml") {
        Meta::Xades
    } else if lower.starts_with("signature") && lower.ends_with(".p7s") {
        Meta::Signature
    } else if lower == "manifest.xml" {
        Meta::OasisManifest
    } else {
        Meta::Unknown
    }
}

/// A data file read into the staging directory.
struct Staged {
    name: String,
    size: u64,
    sha256: [u8; 32],
    path: PathBuf,
}

fn sha256_of_file(path: &Path) -> Result<(u64, [u8; 32])> {
    let mut f = std::fs::File::open(path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let mut sha = openssl::sha::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let k = f
            .read(&mut buf)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        if k == 0 {
            return Ok((n, sha.finish()));
        }
        n += k as u64;
        sha.update(&buf[..k]);
    }
}

/// Whether a verified file is already at `dest` (extracted by an earlier, interrupted pop); an
/// error when something else is there, which is never overwritten.
fn already_there(dest: &Path, size: u64, sha256: &[u8; 32]) -> Result<bool> {
    if std::fs::symlink_metadata(dest).is_err() {
        return Ok(false);
    }
    let same = std::fs::metadata(dest).is_ok_and(|m| m.is_file() && m.len() == size)
        && sha256_of_file(dest).is_ok_and(|(_, d)| &d == sha256);
    if same {
        return Ok(true);
    }
    Err(Error::new(
        ErrorKind::AlreadyExists,
        format!(
            "{} already exists with other content; extract into an empty directory",
            dest.display()
        ),
    ))
}

/// Move a verified file into place (`dest` is free).
fn move_into_place(staged: &Path, dest: &Path) -> Result<()> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
    match std::fs::rename(staged, dest) {
        Ok(()) => Ok(()),
        // Another file system: copy beside the target under a temporary name, then rename, so
        // the target never holds a partial file under the document's name.
        Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
            let tmp = tempfile::Builder::new()
                .prefix(".efm-part-")
                .tempfile_in(parent)
                .map_err(|e| Error::io(format!("creating a file in {}", parent.display()), e))?;
            let mut from = std::fs::File::open(staged)
                .map_err(|e| Error::io(format!("opening {}", staged.display()), e))?;
            std::io::copy(&mut from, &mut tmp.as_file())
                .map_err(|e| Error::io(format!("copying to {}", dest.display()), e))?;
            tmp.as_file()
                .sync_all()
                .map_err(|e| Error::io(format!("syncing {}", dest.display()), e))?;
            tmp.persist_noclobber(dest)
                .map_err(|e| Error::io(format!("saving {}", dest.display()), e.error))?;
            Ok(())
        }
        Err(e) => Err(Error::io(
            format!("moving {} into place", dest.display()),
            e,
        )),
    }
}

/// Read an ASiC-E from `input`, verify it and extract its data files into `target` (created if
/// missing). Existing files are never overwritten.
pub fn extract_asic(
    input: impl Read,
    target: &Path,
    opts: &AsicReadOptions,
) -> Result<ExtractedAsic> {
    extract_asic_buffered(BufReader::with_capacity(STAGE_BLOCK, input), target, opts)
}

/// [`extract_asic`] from an input that buffers already (a pipe of decrypted blocks), so its
/// blocks are read, and inflated, where they lie rather than copied into a buffer first; an
/// input that shares its blocks has its documents' bytes hashed and written from them.
pub(crate) fn extract_asic_buffered(
    input: impl ShareBuf,
    target: &Path,
    opts: &AsicReadOptions,
) -> Result<ExtractedAsic> {
    std::fs::create_dir_all(target)
        .map_err(|e| Error::io(format!("creating {}", target.display()), e))?;
    let staging_base = opts.staging.as_deref().unwrap_or(target);
    std::fs::create_dir_all(staging_base)
        .map_err(|e| Error::io(format!("creating {}", staging_base.display()), e))?;
    let staging = tempfile::Builder::new()
        .prefix(".efm-extract-")
        .tempdir_in(staging_base)
        .map_err(|e| {
            Error::io(
                format!("creating a staging directory in {}", staging_base.display()),
                e,
            )
        })?;
    let limits = ReadLimits {
        max_entry_size: opts.max_entry_size,
        max_total_size: opts.max_total_size,
        max_entries: opts.max_entries,
    };
    let mut zr = ZipStreamReader::new(input, limits);
    let mut warnings = Vec::new();
    let mut manifests: Vec<(String, Vec<u8>)> = Vec::new();
    let mut signatures: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut staged: Vec<Staged> = Vec::new();
    let mut mimetype_seen = false;
    let mut first = true;
    while let Some(e) = zr.next_entry()? {
        let was_first = std::mem::replace(&mut first, false);
        if e.is_dir() {
            zr.read_data(&e, &mut std::io::sink())?;
            continue;
        }
        if e.name == "mimetype" {
            let content = read_meta(&mut zr, &e)?;
            if content != ASIC_MIMETYPE.as_bytes() {
                return Err(invalid(format!(
                    "mimetype is {:?}, expected {ASIC_MIMETYPE:?}: this is not an ASiC-E container",
                    String::from_utf8_lossy(&content)
                )));
            }
            if !was_first || !e.is_stored() {
                warnings.push(
                    "the ASiC-E's mimetype entry is not the first, STORED entry (ETSI TS 102 918 wants it so; the IP's ASiC library accepts it)"
                        .to_string(),
                );
            }
            mimetype_seen = true;
            continue;
        }
        if let Some(rest) = e.name.strip_prefix("META-INF/") {
            match classify_meta(rest) {
                Meta::Manifest => manifests.push((e.name.clone(), read_meta(&mut zr, &e)?)),
                Meta::Signature => {
                    signatures.insert(e.name.clone(), read_meta(&mut zr, &e)?);
                }
                Meta::OasisManifest => {
                    read_meta(&mut zr, &e)?;
                }
                Meta::Xades => {
                    return Err(invalid(format!(
                        "{:?} is a XAdES signature; DPO containers are signed with CAdES, and efm verifies only those",
                        e.name
                    ))
                    .with_field(e.name.clone()))
                }
                Meta::Unknown => {
                    return Err(invalid(format!("unexpected file {:?} in META-INF", e.name))
                        .with_field(e.name.clone()))
                }
            }
            continue;
        }
        // Staged under a number: the sender's name plays no part until it is placed.
        let path = staging.path().join(staged.len().to_string());
        let file = std::fs::File::create_new(&path)
            .map_err(|err| Error::io(format!("creating {}", path.display()), err))?;
        let (size, sha256) = stage_entry(&mut zr, &e, file, &path)?;
        staged.push(Staged {
            name: e.name.clone(),
            size,
            sha256,
            path,
        });
    }
    // The stream must end with the archive; this also makes a producer feeding us through a pipe
    // report its own success or failure before anything is moved into place.
    zr.expect_end()?;
    if !mimetype_seen {
        warnings.push("the ASiC-E has no mimetype entry".to_string());
    }

    if manifests.is_empty() {
        return Err(invalid("the ASiC-E has no META-INF/ASiCManifest.xml"));
    }
    let mut signer: Option<(X509, String)> = None;
    // name → (mime, digest) from every manifest; a file listed twice must agree.
    let mut listed: BTreeMap<String, (String, [u8; 32])> = BTreeMap::new();
    let mut used_signatures = Vec::new();
    for (manifest_name, bytes) in &manifests {
        let manifest = match parse_asic_manifest(bytes) {
            Ok(m) => m,
            Err(e) => {
                // An altered manifest may no longer parse: when its signature is clear, say
                // that the signature does not match rather than that the XML is odd.
                if let [(_, p7s)] = signatures.iter().collect::<Vec<_>>().as_slice() {
                    verify_detached(p7s, bytes, opts.expected_signer.as_ref())?;
                }
                return Err(e);
            }
        };
        let sig_name = manifest
            .signature_uri
            .clone()
            .unwrap_or_else(|| DEFAULT_SIGNATURE.to_string());
        let p7s = signatures.get(&sig_name).ok_or_else(|| {
            Error::new(
                ErrorKind::SignatureInvalid,
                format!("{manifest_name} names the signature {sig_name:?}, which the ASiC-E does not hold"),
            )
        })?;
        let who = verify_detached(p7s, bytes, opts.expected_signer.as_ref())?;
        signer.get_or_insert((who, sig_name.clone()));
        used_signatures.push(sig_name);
        for o in manifest.objects {
            match listed.get(&o.uri) {
                Some((_, d)) if d != &o.sha256 => {
                    return Err(Error::new(
                        ErrorKind::DigestMismatch,
                        format!("{:?} is listed with two different digests", o.uri),
                    ))
                }
                Some(_) => {}
                None => {
                    listed.insert(o.uri, (o.mime, o.sha256));
                }
            }
        }
    }
    if let Some(unused) = signatures.keys().find(|k| !used_signatures.contains(k)) {
        return Err(Error::new(
            ErrorKind::SignatureInvalid,
            format!(
                "the signature {unused:?} is not named by any ASiCManifest, so it signs nothing"
            ),
        ));
    }
    let (signer, signature_name) = signer.expect("one manifest at least");

    let mut placement = Placement::new();
    let mut out = Vec::with_capacity(staged.len());
    let mut moves = Vec::with_capacity(staged.len());
    for s in &staged {
        let (mime, sha256) = listed.remove(&s.name).ok_or_else(|| {
            invalid(format!(
                "{:?} is in the ASiC-E but not listed in the signed ASiCManifest",
                s.name
            ))
            .with_field(s.name.clone())
        })?;
        if sha256 != s.sha256 {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!("the SHA-256 of {:?} does not match the signed ASiCManifest (the file was altered)", s.name),
            )
            .with_field(s.name.clone()));
        }
        let placed = placement.place(&s.name)?;
        warnings.extend(placed.warning);
        check_no_symlink_on_path(target, &placed.relative)?;
        let path = target.join(&placed.relative);
        moves.push((s, path.clone()));
        out.push(ExtractedFile {
            name: s.name.clone(),
            path,
            mime,
            size: s.size,
            sha256: s.sha256,
        });
    }
    if let Some((missing, _)) = listed.into_iter().next() {
        return Err(invalid(format!(
            "{missing:?} is listed in the signed ASiCManifest but missing from the ASiC-E"
        ))
        .with_field(missing));
    }

    // Verified: move into place without overwriting anything; every destination is checked
    // before the first file moves.
    let mut pending = Vec::with_capacity(moves.len());
    for (s, dest) in moves {
        if !already_there(&dest, s.size, &s.sha256)? {
            pending.push((s, dest));
        }
    }
    for (s, dest) in pending {
        move_into_place(&s.path, &dest)?;
    }
    Ok(ExtractedAsic {
        files: out,
        signer,
        signature_name,
        warnings,
    })
}
