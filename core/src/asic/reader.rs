//! Reading, verifying and extracting a received ASiC-E (spec 7.7) in one pass over a stream.
//!
//! Entries are written into a fresh temporary directory inside the target while their SHA-256 is
//! computed; only when the whole archive has been read, its central directory matches, the CMS
//! signature verifies over `META-INF/ASiCManifest.xml`, and every file's digest matches, are the
//! files moved into the target. A failure at any point leaves the target as it was.

use super::manifests::parse_asic_manifest;
use super::signature::verify_detached;
use super::zipfmt::{ReadLimits, ZipStreamReader};
use super::ASIC_MIMETYPE;
use crate::error::{Error, ErrorKind, Result};
use openssl::x509::X509;
use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// Metadata files are read into memory; they are small, so anything larger is refused.
const MAX_META_SIZE: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct AsicReadOptions {
    /// Largest uncompressed size of one entry.
    pub max_entry_size: u64,
    /// Largest uncompressed size of all entries together (zip-bomb guard).
    pub max_total_size: u64,
    pub max_entries: usize,
    /// Require this certificate to be the signer.
    pub expected_signer: Option<X509>,
}

impl Default for AsicReadOptions {
    fn default() -> Self {
        AsicReadOptions {
            // DPO allows 1 GB of attachments; leave room for overhead.
            max_entry_size: 2 * 1024 * 1024 * 1024,
            max_total_size: 3 * 1024 * 1024 * 1024,
            max_entries: 10_000,
            expected_signer: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExtractedFile {
    /// Name inside the ASiC.
    pub name: String,
    /// Where it now is.
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
}

struct HashingFile {
    file: std::io::BufWriter<std::fs::File>,
    sha: openssl::sha::Sha256,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

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
fn check_no_symlink_on_path(target: &Path, name: &str) -> Result<()> {
    let mut p = target.to_path_buf();
    for part in name.split('/') {
        p.push(part);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::new(
                    ErrorKind::UnsafeEntry,
                    format!(
                        "{} is a symbolic link; refusing to extract {name:?} through it",
                        p.display()
                    ),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Read an ASiC-E from `input`, verify it and extract its data files into `target` (created if
/// missing). Existing files are never overwritten.
pub fn extract_asic(
    input: impl Read,
    target: &Path,
    opts: &AsicReadOptions,
) -> Result<ExtractedAsic> {
    std::fs::create_dir_all(target)
        .map_err(|e| Error::io(format!("creating {}", target.display()), e))?;
    let staging = tempfile::Builder::new()
        .prefix(".efm-extract-")
        .tempdir_in(target)
        .map_err(|e| {
            Error::io(
                format!("creating a staging directory in {}", target.display()),
                e,
            )
        })?;
    let limits = ReadLimits {
        max_entry_size: opts.max_entry_size,
        max_total_size: opts.max_total_size,
        max_entries: opts.max_entries,
    };
    let mut zr = ZipStreamReader::new(BufReader::with_capacity(256 * 1024, input), limits);

    // mimetype first, STORED, exact content.
    let first = zr
        .next_entry()?
        .ok_or_else(|| invalid("the ASiC-E is empty"))?;
    if first.name != "mimetype" || !first.is_stored() {
        return Err(invalid(format!(
            "the first ASiC-E entry must be a STORED \"mimetype\", found {:?}",
            first.name
        )));
    }
    let mimetype = read_meta(&mut zr, &first)?;
    if mimetype != ASIC_MIMETYPE.as_bytes() {
        return Err(invalid(format!(
            "mimetype is {:?}, expected {ASIC_MIMETYPE:?}",
            String::from_utf8_lossy(&mimetype)
        )));
    }

    let mut asic_manifest = None;
    let mut signature: Option<(String, Vec<u8>)> = None;
    let mut files: Vec<(String, u64, [u8; 32])> = Vec::new();
    while let Some(e) = zr.next_entry()? {
        if e.is_dir() {
            zr.read_data(&e, &mut std::io::sink())?;
            continue;
        }
        if let Some(meta) = e.name.strip_prefix("META-INF/") {
            if meta == "ASiCManifest.xml" {
                asic_manifest = Some(read_meta(&mut zr, &e)?);
            } else if meta == "manifest.xml" {
                read_meta(&mut zr, &e)?;
            } else if meta.ends_with(".p7s") && !meta.contains('/') {
                if signature.is_some() {
                    return Err(invalid("the ASiC-E holds more than one signature file"));
                }
                signature = Some((e.name.clone(), read_meta(&mut zr, &e)?));
            } else {
                return Err(invalid(format!("unexpected file {:?} in META-INF", e.name))
                    .with_field(e.name.clone()));
            }
            continue;
        }
        let path = staging.path().join(&e.name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|err| {
                Error::io(format!("creating the directory for {:?}", e.name), err)
            })?;
        }
        let file = std::fs::File::create_new(&path)
            .map_err(|err| Error::io(format!("creating {}", path.display()), err))?;
        let mut sink = HashingFile {
            file: std::io::BufWriter::with_capacity(256 * 1024, file),
            sha: openssl::sha::Sha256::new(),
        };
        let totals = zr.read_data(&e, &mut sink)?;
        sink.flush()
            .map_err(|err| Error::io(format!("writing {}", path.display()), err))?;
        files.push((e.name.clone(), totals.size, sink.sha.finish()));
    }
    // The stream must end with the archive; this also makes a producer feeding us through a pipe
    // report its own success or failure before anything is moved into place.
    zr.expect_end()?;

    let manifest_bytes =
        asic_manifest.ok_or_else(|| invalid("the ASiC-E has no META-INF/ASiCManifest.xml"))?;
    let (signature_name, p7s) = signature.ok_or_else(|| {
        Error::new(
            ErrorKind::SignatureInvalid,
            "the ASiC-E has no META-INF/*.p7s signature",
        )
    })?;
    let signer = verify_detached(&p7s, &manifest_bytes, opts.expected_signer.as_ref())?;
    let manifest = parse_asic_manifest(&manifest_bytes)?;
    if let Some(uri) = &manifest.signature_uri {
        if uri != &signature_name {
            return Err(invalid(format!(
                "ASiCManifest refers to signature {uri:?} but the file is {signature_name:?}"
            )));
        }
    }
    let mut listed: BTreeMap<&str, &super::manifests::DataObject> = manifest
        .objects
        .iter()
        .map(|o| (o.uri.as_str(), o))
        .collect();
    let mut out = Vec::with_capacity(files.len());
    for (name, size, sha256) in &files {
        let object = listed.remove(name.as_str()).ok_or_else(|| {
            invalid(format!(
                "{name:?} is in the ASiC-E but not listed in the signed ASiCManifest"
            ))
            .with_field(name.clone())
        })?;
        if &object.sha256 != sha256 {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!("the SHA-256 of {name:?} does not match the signed ASiCManifest (the file was altered)"),
            )
            .with_field(name.clone()));
        }
        out.push(ExtractedFile {
            name: name.clone(),
            path: target.join(name),
            mime: object.mime.clone(),
            size: *size,
            sha256: *sha256,
        });
    }
    if let Some((missing, _)) = listed.into_iter().next() {
        return Err(invalid(format!(
            "{missing:?} is listed in the signed ASiCManifest but missing from the ASiC-E"
        ))
        .with_field(missing.to_string()));
    }

    // Verified: move into place without overwriting anything.
    for f in &out {
        check_no_symlink_on_path(target, &f.name)?;
        if std::fs::symlink_metadata(&f.path).is_ok() {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!(
                    "{} already exists; extract into an empty directory",
                    f.path.display()
                ),
            ));
        }
    }
    for f in &out {
        if let Some(parent) = f.path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
        }
        std::fs::rename(staging.path().join(&f.name), &f.path)
            .map_err(|e| Error::io(format!("moving {} into place", f.path.display()), e))?;
    }
    Ok(ExtractedAsic {
        files: out,
        signer,
        signature_name,
    })
}
