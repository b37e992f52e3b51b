//! The DPO package on the wire (IP `AltinnPackage`, v4 in `altinn-v3-client`; before v4 in
//! `altinn-client`): a zip with `sbd.json` and, when the message has files, `asic.zip`, which is
//! the CMS EnvelopedData of the signed ASiC-E; the SOAP-era IP also writes `manifest.xml` and
//! `recipients.xml` first.
//!
//! Creating streams documents -> ASiC-E -> CMS -> zip entry without holding any of them: one
//! thread packs and hashes the ASiC-E, the calling thread encrypts and writes, joined by a bounded
//! pipe. Opening mirrors it: one thread reads the wire zip and decrypts, the calling thread
//! verifies and extracts. `read_sbd` and `inspect` need no key.

use crate::asic::zipfmt::pieces::{ShareBuf, SharedChunk};
use crate::asic::zipfmt::ContentHook;
use crate::asic::zipfmt::{error_from_io, LocalEntry, ReadLimits, ZipStreamReader, ZipWriter};
use crate::asic::{
    self, AsicReadOptions, AsicSummary, AsicWriteOptions, DocumentSource, ExtractedFile,
    SignatureDigest,
};
use crate::crypto::aes_sha;
use crate::crypto::cms::{self, CmsDecryptor, CmsInfo, ContentMark};
use crate::crypto::keys::{subject_line, Identity};
use crate::error::{Error, ErrorKind, Result};
use crate::sbd::{Sbd, ValidationOptions};
use openssl::x509::X509;
use std::io::{self, BufReader, Read, Seek, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

pub const SBD_ENTRY: &str = "sbd.json";
pub const ASIC_ENTRY: &str = "asic.zip";
pub const MANIFEST_ENTRY: &str = "manifest.xml";
pub const RECIPIENTS_ENTRY: &str = "recipients.xml";
/// The pre-NextMove XML SBD; recognised but not supported.
pub const LEGACY_CONTENT_ENTRY: &str = "content.xml";
/// The file name the IP gives the package toward Altinn.
pub const WIRE_FILE_NAME: &str = "sbd.zip";
const BROKER_NS: &str = "http://schema.altinn.no/services/ServiceEngine/Broker/2015/06";
const SMALL_ENTRY_LIMIT: u64 = 1024 * 1024;

/// What goes into a package.
#[derive(Debug, Clone)]
pub struct PackageInput {
    pub sbd: Sbd,
    /// The files; empty for `status`, receipts and file-less messages (then no `asic.zip`).
    pub documents: Vec<DocumentSource>,
}

#[derive(Debug, Clone)]
pub struct CreateOptions {
    pub signature_digest: SignatureDigest,
    /// Deflate level for documents that are deflated (those whose sample shrinks).
    pub deflate_level: u32,
    /// Write the SOAP-era `manifest.xml` and `recipients.xml` (IP v3
    /// `BrokerServiceManifestBuilder`, `RecipientBuilder`). IP v4 omits them.
    pub legacy_xml: bool,
    /// SendersReference for the legacy `manifest.xml` (must equal the one sent to Altinn); when
    /// `None`, [`senders_reference`] chooses it.
    pub senders_reference: Option<String>,
    /// This installation's message channel (`difi.move.dpo.messageChannel`), for choosing the
    /// SendersReference of replies.
    pub own_message_channel: Option<String>,
    /// Validate the SBD as a receiver will before packing.
    pub validation: Option<ValidationOptions>,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            signature_digest: SignatureDigest::Sha256,
            deflate_level: asic::writer::DEFAULT_DEFLATE_LEVEL,
            legacy_xml: true,
            senders_reference: None,
            own_message_channel: None,
            validation: Some(ValidationOptions::default()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PackageSummary {
    pub message_id: Option<String>,
    pub conversation_id: Option<String>,
    pub senders_reference: Option<String>,
    /// The wire entries in order.
    pub entries: Vec<String>,
    pub asic: Option<AsicSummary>,
    /// Size of the CMS (`asic.zip`) entry.
    pub cms_bytes: u64,
}

// ---------------------------------------------------------------------------------------------
// A bounded pipe between two threads. The reader sees end-of-file only after the writer said it
// finished successfully; a writer that stops early (error, panic) makes the reader fail, so a
// truncated stream is never taken for a whole one.

const PIPE_CHUNK: usize = 256 * 1024;
const PIPE_DEPTH: usize = 8;

enum Msg {
    Data(Vec<u8>),
    /// What the writer announced about the bytes that follow (see `PipelineDigests`).
    Marks(Vec<ContentMark>),
    End,
}

struct PipeWriter {
    tx: mpsc::SyncSender<Msg>,
    /// Chunks the reader is done with, to fill again instead of allocating.
    free: mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    /// Marks to send ahead of the next chunk.
    marks: Option<Arc<Mutex<Vec<ContentMark>>>>,
}

fn closed(_: impl Sized) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the consumer stopped")
}

impl PipeWriter {
    /// Marks go ahead of the bytes: everything announced before a chunk is sent goes before it.
    fn send_marks(&mut self) -> io::Result<()> {
        let Some(shared) = &self.marks else {
            return Ok(());
        };
        let marks = std::mem::take(&mut *shared.lock().unwrap_or_else(|e| e.into_inner()));
        if marks.is_empty() {
            return Ok(());
        }
        self.tx.send(Msg::Marks(marks)).map_err(closed)
    }

    fn send_buf(&mut self) -> io::Result<()> {
        self.send_marks()?;
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut next = self
            .free
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(PIPE_CHUNK));
        next.clear();
        let chunk = std::mem::replace(&mut self.buf, next);
        self.tx.send(Msg::Data(chunk)).map_err(closed)
    }
    /// A buffer to fill for [`PipeWriter::send_owned`]: a spent one back from the reader when
    /// there is one, with its old length and bytes (so resizing it need not zero it again).
    fn spare(&mut self) -> Vec<u8> {
        self.free
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(PIPE_CHUNK))
    }

    /// Hand over a filled buffer as it is (after whatever `write` buffered), without copying it.
    fn send_owned(&mut self, chunk: Vec<u8>) -> io::Result<()> {
        self.send_buf()?;
        if chunk.is_empty() {
            return Ok(());
        }
        self.tx.send(Msg::Data(chunk)).map_err(closed)
    }

    fn finish(mut self) -> io::Result<()> {
        self.send_buf()?;
        self.tx.send(Msg::End).map_err(closed)
    }
}

impl Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = PIPE_CHUNK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == PIPE_CHUNK {
            self.send_buf()?;
        }
        Ok(n)
    }
    /// Sends what is buffered (and the marks) now, short as it may be.
    fn flush(&mut self) -> io::Result<()> {
        self.send_buf()
    }
}

struct PipeReader {
    rx: mpsc::Receiver<Msg>,
    /// Where spent chunks from `next_chunk` go back to the writer.
    free: mpsc::SyncSender<Vec<u8>>,
    /// The chunk being read through `BufRead`; lent out by `share`, it goes back to the writer
    /// when its last holder drops it.
    cur: SharedChunk,
    pos: usize,
    ended: bool,
    /// The writer went away without finishing (its own error says why).
    broken: bool,
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let available = io::BufRead::fill_buf(self)?;
            let n = out.len().min(available.len());
            out[..n].copy_from_slice(&available[..n]);
            n
        };
        self.pos += n;
        Ok(n)
    }
}

impl io::BufRead for PipeReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.cur.bytes().len() && !self.ended {
            match self.rx.recv() {
                Ok(Msg::Data(d)) => {
                    self.cur = SharedChunk::new(d, Some(self.free.clone()));
                    self.pos = 0;
                }
                Ok(Msg::Marks(_)) => {}
                Ok(Msg::End) => self.ended = true,
                Err(_) => {
                    self.broken = true;
                    return Err(io::Error::other("the producer stopped before the end"));
                }
            }
        }
        Ok(&self.cur.bytes()[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.cur.bytes().len());
    }
}

impl ShareBuf for PipeReader {
    fn share(&self) -> Option<(SharedChunk, usize)> {
        Some((self.cur.clone(), self.pos))
    }
}

impl PipeReader {
    /// The next whole chunk with the marks sent ahead of it (not for mixing with `read`),
    /// `None` at the end (marks sent last come as a chunk without bytes); fails like `read`
    /// when the writer stopped without finishing.
    fn next_chunk(&mut self) -> io::Result<Option<cms::Plaintext>> {
        let mut marks = Vec::new();
        while !self.ended {
            match self.rx.recv() {
                Ok(Msg::Data(bytes)) => return Ok(Some(cms::Plaintext { bytes, marks })),
                Ok(Msg::Marks(m)) => marks.extend(m),
                Ok(Msg::End) => self.ended = true,
                Err(_) => {
                    self.broken = true;
                    return Err(io::Error::other("the producer stopped before the end"));
                }
            }
        }
        Ok((!marks.is_empty()).then(|| cms::Plaintext {
            bytes: Vec::new(),
            marks,
        }))
    }
}

fn pipe() -> (PipeWriter, PipeReader) {
    let (tx, rx) = mpsc::sync_channel(PIPE_DEPTH);
    // Room for every chunk that can be out at once: in the pipe, being filled, and (when the
    // reader lends them out) held by the extractor and its file writer.
    let (free_tx, free_rx) = mpsc::sync_channel(PIPE_DEPTH + 8);
    (
        PipeWriter {
            tx,
            free: free_rx,
            buf: Vec::with_capacity(PIPE_CHUNK),
            marks: None,
        },
        PipeReader {
            rx,
            free: free_tx,
            cur: SharedChunk::new(Vec::new(), None),
            pos: 0,
            ended: false,
            broken: false,
        },
    )
}

fn join<T>(h: std::thread::ScopedJoinHandle<'_, Result<T>>, what: &str) -> Result<T> {
    h.join().unwrap_or_else(|_| {
        Err(Error::new(
            ErrorKind::Internal,
            format!("the {what} thread panicked"),
        ))
    })
}

// ---------------------------------------------------------------------------------------------
// Legacy in-zip XML (Altinn's `BrokerServiceManifest.xsd`, `BrokerServiceRecipientList.xsd`),
// exactly as the IP's MOXy writes it.

pub fn broker_manifest_xml(senders_reference: &str, reportee: &str) -> String {
    use crate::asic::manifests::xml_escape;
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<BrokerServiceManifest xmlns=\"{BROKER_NS}\">\n   <ExternalServiceCode>v3888</ExternalServiceCode>\n   <ExternalServiceEditionCode>70515</ExternalServiceEditionCode>\n   <SendersReference>{}</SendersReference>\n   <Reportee>{}</Reportee>\n   <FileList>\n      <File>\n         <FileName>sbd.json</FileName>\n      </File>\n   </FileList>\n</BrokerServiceManifest>\n",
        xml_escape(senders_reference),
        xml_escape(reportee)
    )
}

pub fn recipients_xml(party_number: &str) -> String {
    use crate::asic::manifests::xml_escape;
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<BrokerServiceRecipientList xmlns=\"{BROKER_NS}\">\n   <Recipient>\n      <PartyNumber>{}</PartyNumber>\n   </Recipient>\n</BrokerServiceRecipientList>\n",
        xml_escape(party_number)
    )
}

// ---------------------------------------------------------------------------------------------
// Creating

/// The SendersReference for sending `sbd` (IP `AltinnDPOUploadService.getSendersReference`; before
/// v4 `AltinnTransport.getSendersReference`): for a `status` or a receipt carrying a MessageChannel
/// scope that differs from our own channel, that channel (so only the originating installation
/// picks the reply up); otherwise a UUID.
///
/// The IP draws a random UUID on every attempt. We derive it (UUID v5) from the SBD instead: still
/// a 36-character UUID that can never match the channel pattern, but the same whenever it is
/// computed for the same SBD, so the `manifest.xml` inside an Altinn 2 package and the
/// SendersReference of the SOAP call agree without the reference being stored anywhere, also when
/// a failed message is sent again. Distinct SBDs (a MOTTATT and a LEVERT share the messageId but
/// not the content) get distinct references.
pub fn senders_reference(sbd: &Sbd, own_channel: Option<&str>) -> String {
    let is_reply = matches!(
        sbd.type_name(),
        "status" | "arkivmelding_kvittering" | "einnsyn_kvittering"
    );
    match sbd.message_channel() {
        Some(channel) if is_reply && Some(channel) != own_channel => channel.to_string(),
        _ => uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, sbd.to_json().as_bytes()).to_string(),
    }
}

/// Create a package into a seekable output (a file): `asic.zip` is STORED with its CRC and size
/// patched into the local header, so the ciphertext is not run through deflate for nothing.
pub fn create<W: Write + Seek + Send>(
    input: &PackageInput,
    identity: &Identity,
    receiver_cert: &X509,
    out: W,
    opts: &CreateOptions,
) -> Result<(PackageSummary, W)> {
    create_reporting(input, identity, receiver_cert, out, opts, &mut |_, _| {})
}

/// [`create`], calling `progress(document bytes packed, document bytes in all)` on this thread as
/// the documents go through. A callback that calls [`crate::transport::request_cancel`] stops it
/// (an `Io` error).
pub fn create_reporting<W: Write + Seek + Send>(
    input: &PackageInput,
    identity: &Identity,
    receiver_cert: &X509,
    out: W,
    opts: &CreateOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(PackageSummary, W)> {
    write_package(
        input,
        identity,
        receiver_cert,
        out,
        opts,
        progress,
        |zip, hint| zip.start_patched_entry(ASIC_ENTRY, hint),
        |zip| zip.finish_patched_entry(),
    )
}

/// Create a package into any output (a socket, a pipe): `asic.zip` is DEFLATED with a data
/// descriptor, as the IP writes it. Slower than [`create`] for large files.
pub fn create_streaming<W: Write + Send>(
    input: &PackageInput,
    identity: &Identity,
    receiver_cert: &X509,
    out: W,
    opts: &CreateOptions,
) -> Result<(PackageSummary, W)> {
    write_package(
        input,
        identity,
        receiver_cert,
        out,
        opts,
        &mut |_, _| {},
        |zip, hint| zip.start_entry_sized(ASIC_ENTRY, asic::zipfmt::Method::Deflated(1), "", hint),
        |zip| zip.finish_entry(),
    )
}

/// Create a package file at `path` (written to a temporary file beside it, then renamed, so
/// `path` never holds a partial package). It is not fsynced: callers that need it durable sync it.
pub fn create_file(
    path: &Path,
    input: &PackageInput,
    identity: &Identity,
    receiver_cert: &X509,
    opts: &CreateOptions,
) -> Result<PackageSummary> {
    create_file_reporting(path, input, identity, receiver_cert, opts, &mut |_, _| {})
}

/// [`create_file`] with progress as in [`create_reporting`].
pub fn create_file_reporting(
    path: &Path,
    input: &PackageInput,
    identity: &Identity,
    receiver_cert: &X509,
    opts: &CreateOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<PackageSummary> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".efm-package-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(format!("creating a temporary file in {}", dir.display()), e))?;
    let (summary, file) = create_reporting(
        input,
        identity,
        receiver_cert,
        // Unbuffered: the CMS arrives in large blocks already, and the few small entries cost
        // a handful of system calls; a buffer would only add a copy of every byte.
        tmp,
        opts,
        progress,
    )?;
    file.persist(path)
        .map_err(|e| Error::io(format!("saving {}", path.display()), e.error))?;
    Ok(summary)
}

/// The documents' digests from the encrypting thread (see [`asic::DownstreamDigests`]): the
/// zip writer's announcements of where content lies go through the pipe ahead of the bytes, and
/// the encryptor sends each document's SHA-256 back when it reaches the document's end.
struct PipelineDigests {
    marks: Arc<Mutex<Vec<ContentMark>>>,
    digests: Mutex<mpsc::Receiver<[u8; 32]>>,
}

impl PipelineDigests {
    fn push(marks: &Mutex<Vec<ContentMark>>, mark: ContentMark) {
        marks.lock().unwrap_or_else(|e| e.into_inner()).push(mark);
    }
}

impl asic::DownstreamDigests for PipelineDigests {
    fn content_hook(&self) -> ContentHook {
        let marks = self.marks.clone();
        Box::new(move |offset, len| {
            PipelineDigests::push(&marks, ContentMark::Content { offset, len })
        })
    }

    fn document_ended(&self) {
        PipelineDigests::push(&self.marks, ContentMark::DocumentEnd);
    }

    fn digests(&self, count: usize) -> Result<Vec<[u8; 32]>> {
        let rx = self.digests.lock().unwrap_or_else(|e| e.into_inner());
        (0..count)
            .map(|_| {
                rx.recv().map_err(|_| {
                    Error::new(
                        ErrorKind::Internal,
                        "the encryptor stopped before it had hashed the documents",
                    )
                })
            })
            .collect()
    }
}

/// Documents smaller than this in all are packed on the calling thread alone: for them the
/// packer and writer threads of the pipeline cost more to start and hand over to than they save
/// (a 20 KiB send spent more time waiting for its threads to be scheduled than packing).
const SERIAL_BELOW: u64 = 1 << 20;

/// The ASiC-E written straight through the CMS encryptor into the zip entry, on this thread.
/// `progress(done)` hears the document bytes packed before each write; a cancel asked for from
/// it stops the packing at that write, as in the pipeline.
#[allow(clippy::too_many_arguments)] // private; the pipeline's arguments, one by one
fn pack_serially<W: Write>(
    documents: &[DocumentSource],
    hoveddokument: Option<&str>,
    (sender, receiver): (&str, &str),
    identity: &Identity,
    opts: &AsicWriteOptions,
    receiver_cert: &X509,
    zip: &mut ZipWriter<W>,
    progress: &mut dyn FnMut(u64),
) -> Result<(AsicSummary, u64)> {
    /// Reports progress and honours a cancel before each write.
    struct Watched<'a, W: Write> {
        inner: W,
        packed: &'a AtomicU64,
        progress: &'a mut dyn FnMut(u64),
    }
    impl<W: Write> Write for Watched<'_, W> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            (self.progress)(self.packed.load(Ordering::Relaxed));
            if let Some(cancelled) = crate::transport::cancelled_now() {
                return Err(cancelled);
            }
            self.inner.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.inner.flush()
        }
    }
    progress(0);
    if let Some(cancelled) = crate::transport::cancelled_now() {
        return Err(Error::io("packing", cancelled));
    }
    let packed = opts.packed.clone().unwrap_or_default();
    let encryptor = cms::CmsEncryptor::new(zip, receiver_cert)?;
    // Buffered in front, so AES gets whole blocks of work and progress is not reported for
    // every zip header.
    let watched = io::BufWriter::with_capacity(
        64 * 1024,
        Watched {
            inner: encryptor,
            packed: &packed,
            progress,
        },
    );
    let (summary, watched) = asic::write_asic(
        documents,
        hoveddokument,
        sender,
        receiver,
        identity,
        opts,
        watched,
    )?;
    let watched = watched
        .into_inner()
        .map_err(|e| error_from_io(e.into_error(), "packing"))?;
    let (_, written) = watched.inner.finish_counted()?;
    (watched.progress)(packed.load(Ordering::Relaxed));
    Ok((summary, written))
}

#[allow(clippy::too_many_arguments)] // private; the two ASiC-entry hooks differ per caller
fn write_package<W: Write + Send>(
    input: &PackageInput,
    identity: &Identity,
    receiver_cert: &X509,
    out: W,
    opts: &CreateOptions,
    progress: &mut dyn FnMut(u64, u64),
    start_asic: impl FnOnce(&mut ZipWriter<W>, u64) -> Result<()>,
    finish_asic: impl FnOnce(&mut ZipWriter<W>) -> Result<asic::zipfmt::EntryTotals>,
) -> Result<(PackageSummary, W)> {
    let mut sbd = input.sbd.clone();
    if sbd.normalize_on_behalf_of() {
        log::info!(
            "on-behalf-of sender written as {}",
            sbd.sender_identifier().unwrap_or_default()
        );
    }
    let sbd = &sbd;
    if let Some(v) = &opts.validation {
        sbd.validate(v)
            .map_err(|e| e.context("the SBD to send is not valid"))?;
    }
    // Check the documents are there before writing anything; their sizes size the zip headers.
    let mut total = 0u64;
    for d in &input.documents {
        let meta = std::fs::metadata(&d.path).map_err(|e| {
            Error::io(format!("reading document {}", d.path.display()), e)
                .with_field("documents.path")
        })?;
        total += meta.len();
    }
    let sender = sbd.sender_org()?;
    let receiver = sbd.receiver_org()?;
    let mut zip = ZipWriter::new(out);
    let mut entries = Vec::new();
    let mut chosen_reference = None;
    if opts.legacy_xml {
        let reference = opts
            .senders_reference
            .clone()
            .unwrap_or_else(|| senders_reference(sbd, opts.own_message_channel.as_deref()));
        zip.add_bytes(
            MANIFEST_ENTRY,
            broker_manifest_xml(&reference, sender.as_str()).as_bytes(),
            true,
            "",
        )?;
        zip.add_bytes(
            RECIPIENTS_ENTRY,
            recipients_xml(receiver.as_str()).as_bytes(),
            true,
            "",
        )?;
        entries.push(MANIFEST_ENTRY.to_string());
        entries.push(RECIPIENTS_ENTRY.to_string());
        chosen_reference = Some(reference);
    }
    zip.add_bytes(SBD_ENTRY, sbd.to_json_pretty().as_bytes(), true, "")?;
    entries.push(SBD_ENTRY.to_string());
    let mut asic_summary = None;
    let mut cms_bytes = 0;
    if !input.documents.is_empty() {
        // The ASiC-E (and so the CMS) is a little larger than the documents: tell the zip
        // writer, so that a package near or over 4 GiB gets Zip64 headers.
        start_asic(&mut zip, total + total / 64 + 1024 * 1024)?;
        let packed = Arc::new(AtomicU64::new(0));
        let asic_opts = AsicWriteOptions {
            signature_digest: opts.signature_digest,
            deflate_level: opts.deflate_level,
            packed: Some(packed.clone()),
            downstream_digests: None,
        };
        let sender_id = sbd.sender_identifier().unwrap_or_default().to_string();
        let receiver_id = sbd.receiver_identifier().unwrap_or_default().to_string();
        let hoveddokument = sbd.message.hoveddokument().map(str::to_string);
        let (summary, written) = if total < SERIAL_BELOW {
            pack_serially(
                &input.documents,
                hoveddokument.as_deref(),
                (&sender_id, &receiver_id),
                identity,
                &asic_opts,
                receiver_cert,
                &mut zip,
                &mut |done| progress(done, total),
            )?
        } else {
            std::thread::scope(|s| -> Result<(AsicSummary, u64)> {
                let (mut pw, mut pr) = pipe();
                let mut asic_opts = asic_opts;
                // On a CPU that can, the encrypting thread hashes the documents in the same
                // pass as it encrypts them, and the packing thread only reads and frames.
                let (digests_tx, digests_rx) = mpsc::channel();
                let digests_tx = aes_sha::available().then(|| {
                    let marks = Arc::new(Mutex::new(Vec::new()));
                    pw.marks = Some(marks.clone());
                    asic_opts.downstream_digests = Some(Arc::new(PipelineDigests {
                        marks,
                        digests: Mutex::new(digests_rx),
                    }));
                    digests_tx
                });
                let producer = s.spawn(move || -> Result<AsicSummary> {
                    let (summary, pw) = asic::write_asic(
                        &input.documents,
                        hoveddokument.as_deref(),
                        &sender_id,
                        &receiver_id,
                        identity,
                        &asic_opts,
                        pw,
                    )?;
                    pw.finish()
                        .map_err(|e| Error::io("handing the ASiC-E to the encryptor", e))?;
                    Ok(summary)
                });
                let encrypted = (|| -> Result<u64> {
                    progress(0, total);
                    let free = pr.free.clone();
                    let pr = &mut pr;
                    let (_, n) = cms::encrypt_split(
                        receiver_cert,
                        &mut zip,
                        &mut || {
                            let chunk = pr.next_chunk();
                            progress(packed.load(Ordering::Relaxed), total);
                            match crate::transport::cancelled_now() {
                                Some(cancelled) => Err(cancelled),
                                None => chunk,
                            }
                        },
                        &mut |spent| {
                            let _ = free.try_send(spent);
                        },
                        digests_tx,
                    )?;
                    Ok(n)
                })();
                let producer_failed_first = pr.broken;
                drop(pr);
                // Whichever side failed first has the error worth reporting.
                match (join(producer, "ASiC-E"), encrypted) {
                    (Ok(summary), Ok(n)) => Ok((summary, n)),
                    (Err(p), Err(e)) => Err(if producer_failed_first { p } else { e }),
                    (Err(p), Ok(_)) => Err(p),
                    (Ok(_), Err(e)) => Err(e),
                }
            })?
        };
        finish_asic(&mut zip)?;
        entries.push(ASIC_ENTRY.to_string());
        asic_summary = Some(summary);
        cms_bytes = written;
    }
    let out = zip.finish("")?;
    Ok((
        PackageSummary {
            message_id: sbd.message_id().map(str::to_string),
            conversation_id: sbd.conversation_id().map(str::to_string),
            senders_reference: chosen_reference,
            entries,
            asic: asic_summary,
            cms_bytes,
        },
        out,
    ))
}

// ---------------------------------------------------------------------------------------------
// Reading

#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub asic: AsicReadOptions,
    /// Largest `asic.zip` (CMS) entry accepted.
    pub max_package_entry: u64,
    /// Validate the SBD as a receiver does; `None` only parses it.
    pub validation: Option<ValidationOptions>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            asic: AsicReadOptions::default(),
            max_package_entry: 3 * 1024 * 1024 * 1024,
            validation: Some(ValidationOptions::default()),
        }
    }
}

impl OpenOptions {
    /// The limits for a package file of `package_len` bytes: the defaults, raised for a package
    /// bigger than they allow. A multi-GiB document is legitimate (the broker took it); what the
    /// limits stop is a small package that unpacks to far more than it carries (a zip bomb), and
    /// that stays capped at the defaults.
    pub fn for_package_size(package_len: u64) -> OpenOptions {
        let mut o = OpenOptions::default();
        let room = package_len.saturating_mul(2).saturating_add(64 << 20);
        o.max_package_entry = o.max_package_entry.max(room);
        o.asic.max_entry_size = o.asic.max_entry_size.max(room);
        o.asic.max_total_size = o.asic.max_total_size.max(room);
        o
    }
}

#[derive(Debug)]
pub struct OpenedPackage {
    pub sbd: Sbd,
    /// Extracted files; empty when the package had no `asic.zip`.
    pub files: Vec<ExtractedFile>,
    /// Who signed the ASiC-E.
    pub signer: Option<X509>,
    pub cms: Option<CmsInfo>,
    /// What was unusual but accepted (see [`asic::ExtractedAsic::warnings`]).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct EntryInfo {
    pub name: String,
    /// Uncompressed size.
    pub size: u64,
    pub deflated: bool,
}

#[derive(Debug, Clone)]
pub struct PackageInfo {
    pub sbd: Sbd,
    pub entries: Vec<EntryInfo>,
    /// Recipients and cipher of `asic.zip`, when present.
    pub cms: Option<CmsInfo>,
    /// The text of the legacy manifest.xml/recipients.xml, when present.
    pub broker_manifest: Option<String>,
    pub recipients: Option<String>,
}

fn open_reader(path: &Path, max_entry: u64) -> Result<ZipStreamReader<BufReader<std::fs::File>>> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::io(format!("opening package {}", path.display()), e))?;
    Ok(ZipStreamReader::new(
        BufReader::with_capacity(256 * 1024, file),
        ReadLimits {
            max_entry_size: max_entry,
            max_total_size: max_entry.saturating_add(64 * SMALL_ENTRY_LIMIT),
            max_entries: 64,
        },
    ))
}

fn read_small<R: io::BufRead>(zr: &mut ZipStreamReader<R>, e: &LocalEntry) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    let mut r = zr.entry_reader(e)?;
    (&mut r)
        .take(SMALL_ENTRY_LIMIT + 1)
        .read_to_end(&mut data)
        .map_err(|err| error_from_io(err, "reading the package"))?;
    if data.len() as u64 > SMALL_ENTRY_LIMIT {
        return Err(Error::new(
            ErrorKind::EntryTooLarge,
            format!(
                "{} in the package is larger than {SMALL_ENTRY_LIMIT} bytes",
                e.name
            ),
        )
        .with_field(e.name.clone()));
    }
    Ok(data)
}

fn parse_sbd(data: &[u8], validation: Option<&ValidationOptions>) -> Result<Sbd> {
    let sbd = Sbd::from_json(data).map_err(|e| e.context("sbd.json in the package"))?;
    if let Some(v) = validation {
        sbd.validate(v)
            .map_err(|e| e.context("sbd.json in the package"))?;
    }
    Ok(sbd)
}

fn missing_sbd(saw_content_xml: bool) -> Error {
    if saw_content_xml {
        Error::new(ErrorKind::PackageInvalid, "the package carries a legacy XML SBD (content.xml), which efm does not read; only NextMove sbd.json packages are supported")
    } else {
        Error::new(ErrorKind::PackageInvalid, "the package has no sbd.json")
    }
}

/// Read `sbd.json` only (no key needed, nothing decrypted); parse it without receiver validation.
pub fn read_sbd(path: &Path) -> Result<Sbd> {
    let mut zr = open_reader(path, u64::MAX / 4)?;
    let mut saw_content = false;
    while let Some(e) = zr.next_entry()? {
        if e.name == SBD_ENTRY {
            return parse_sbd(&read_small(&mut zr, &e)?, None);
        }
        saw_content |= e.name == LEGACY_CONTENT_ENTRY;
    }
    Err(missing_sbd(saw_content))
}

/// Describe a package without a key: the SBD, the entries, and whom `asic.zip` is encrypted for.
pub fn inspect(path: &Path) -> Result<PackageInfo> {
    let mut zr = open_reader(path, u64::MAX / 4)?;
    let mut sbd = None;
    let mut cms_info = None;
    let mut entries = Vec::new();
    let mut broker_manifest = None;
    let mut recipients = None;
    let mut saw_content = false;
    while let Some(e) = zr.next_entry()? {
        let size = match e.name.as_str() {
            SBD_ENTRY => {
                let data = read_small(&mut zr, &e)?;
                sbd = Some(parse_sbd(&data, None)?);
                data.len() as u64
            }
            MANIFEST_ENTRY | RECIPIENTS_ENTRY => {
                let data = read_small(&mut zr, &e)?;
                let text = String::from_utf8_lossy(&data).into_owned();
                if e.name == MANIFEST_ENTRY {
                    broker_manifest = Some(text);
                } else {
                    recipients = Some(text);
                }
                data.len() as u64
            }
            ASIC_ENTRY => {
                let mut r = zr.entry_reader(&e)?;
                cms_info = Some(cms::inspect(&mut r).map_err(|err| err.context("asic.zip"))?);
                io::copy(&mut r, &mut io::sink())
                    .map_err(|err| error_from_io(err, "reading asic.zip"))?;
                r.totals().map(|t| t.size).unwrap_or_default()
            }
            _ => {
                saw_content |= e.name == LEGACY_CONTENT_ENTRY;
                zr.read_data(&e, &mut io::sink())?.size
            }
        };
        entries.push(EntryInfo {
            name: e.name.clone(),
            size,
            deflated: !e.is_stored(),
        });
    }
    Ok(PackageInfo {
        sbd: sbd.ok_or_else(|| missing_sbd(saw_content))?,
        entries,
        cms: cms_info,
        broker_manifest,
        recipients,
    })
}

/// Open a received package: parse and validate `sbd.json` (before anything else, so a bad SBD
/// costs no decryption), decrypt `asic.zip` with our key, verify the ASiC-E and extract its files
/// into `target_dir`. A package encrypted for someone else fails with `NotForUs`. Nothing is left
/// in `target_dir` on failure.
pub fn open(
    path: &Path,
    identity: &Identity,
    target_dir: &Path,
    opts: &OpenOptions,
) -> Result<OpenedPackage> {
    let sbd = read_sbd(path)?;
    if let Some(v) = &opts.validation {
        sbd.validate(v)
            .map_err(|e| e.context("sbd.json in the package"))?;
    }
    let mut zr = open_reader(path, opts.max_package_entry)?;
    std::thread::scope(|s| -> Result<OpenedPackage> {
        let (pw, pr) = pipe();
        let (started_tx, started_rx) = mpsc::sync_channel::<bool>(1);
        // Reader thread: walks the wire zip, decrypts asic.zip into the pipe.
        let producer = s.spawn(move || -> Result<Option<CmsInfo>> {
            let mut cms_info = None;
            let mut pw = Some(pw);
            let outcome = (|| -> Result<()> {
                while let Some(e) = zr.next_entry()? {
                    if e.name != ASIC_ENTRY {
                        // sbd.json (already read), manifest.xml, recipients.xml, unknown entries:
                        // read through so their CRCs and the central directory are checked.
                        zr.read_data(&e, &mut io::sink())?;
                        continue;
                    }
                    let r = zr.entry_reader(&e)?;
                    let mut dec =
                        CmsDecryptor::new(r, identity).map_err(|err| err.context("asic.zip"))?;
                    cms_info = Some(dec.info().clone());
                    let _ = started_tx.send(true);
                    let w = pw.as_mut().expect("one asic.zip");
                    // The decryptor decrypts straight into a buffer larger than its chunk, so
                    // each chunk is decrypted into the pipe's own buffer and handed over whole.
                    let copied = (|| -> io::Result<()> {
                        loop {
                            let mut buf = w.spare();
                            buf.resize(cms::CHUNK + 64, 0);
                            match dec.read(&mut buf) {
                                Ok(0) => return Ok(()),
                                Ok(n) => {
                                    buf.truncate(n);
                                    w.send_owned(buf)?;
                                }
                                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                                Err(e) => return Err(e),
                            }
                        }
                    })();
                    copied.map_err(|err| {
                        if err.kind() == io::ErrorKind::BrokenPipe {
                            Error::new(ErrorKind::Internal, "the extractor stopped")
                        } else {
                            error_from_io(err, "decrypting asic.zip")
                        }
                    })?;
                }
                Ok(())
            })();
            let _ = started_tx.send(false);
            outcome?;
            // Everything read and checked, including asic.zip's CRC and the central directory:
            // only now may the extractor see the end of its input.
            if let (true, Some(w)) = (cms_info.is_some(), pw.take()) {
                w.finish()
                    .map_err(|_| Error::new(ErrorKind::Internal, "the extractor stopped"))?;
            }
            Ok(cms_info)
        });
        let has_asic = started_rx.recv().unwrap_or(false);
        let extracted = if has_asic {
            Some(asic::reader::extract_asic_buffered(
                pr, target_dir, &opts.asic,
            ))
        } else {
            drop(pr);
            None
        };
        let cms_info = match (join(producer, "package reader"), &extracted) {
            (Err(e), Some(Ok(x))) => {
                // Cannot happen (the extractor waits for the reader's End), but never keep files
                // from a package whose reading failed.
                for f in &x.files {
                    let _ = std::fs::remove_file(&f.path);
                }
                return Err(e);
            }
            // The extractor stopped first: its error is the real one.
            (Err(e), Some(Err(x))) if e.kind() == ErrorKind::Internal => return Err(x.clone()),
            // A reader error explains an extraction failure better (NotForUs, a bad CRC, ...).
            (Err(e), _) => return Err(e),
            (Ok(v), _) => v,
        };
        let extracted = extracted.transpose()?;
        if let Some(x) = &extracted {
            log::info!(
                "opened package {}: {} file(s), signed by {}",
                sbd.message_id().unwrap_or("?"),
                x.files.len(),
                subject_line(&x.signer)
            );
        }
        Ok(OpenedPackage {
            sbd,
            files: extracted
                .as_ref()
                .map(|x| x.files.clone())
                .unwrap_or_default(),
            warnings: extracted
                .as_ref()
                .map(|x| x.warnings.clone())
                .unwrap_or_default(),
            signer: extracted.map(|x| x.signer),
            cms: cms_info,
        })
    })
}
