//! Writing: the `Write` adapter and `encrypt`, shaped as BouncyCastle's stream generator writes.

use super::content_digest::HashingCipher;
use super::*;
use crate::crypto::ber;
use std::io::IoSlice;

/// A `Write` adapter: takes plaintext, writes CMS EnvelopedData for `recipient` to `out`.
///
/// The header goes out in [`CmsEncryptor::new`]; [`CmsEncryptor::finish`] writes the last block
/// and the end markers and must be called, or the output is incomplete. Errors come as
/// `io::Error` wrapping [`Error`]; [`error_from_io`] gets it back. [`encrypt_split`] does the same
/// with the framing and writing on a second thread.
pub struct CmsEncryptor<W: Write> {
    crypter: Crypter,
    /// Ciphertext not yet handed to the framer.
    ciphertext: Box<[u8]>,
    framer: Framer<W>,
}

/// Cuts ciphertext into the 1000-byte primitive OCTET STRING segments BouncyCastle writes and
/// writes them out; the last, shorter segment and the end markers go out in `finish`.
///
/// The segments go out with vectored writes (`writev`: each segment header, then the
/// ciphertext where it lies), so the ciphertext is not copied to put the headers between its
/// segments. A writer that turns out to take one slice per call (`Write`'s default
/// `write_vectored`) gets the framed bytes copied into one buffer from then on instead.
struct Framer<W: Write> {
    out: W,
    /// Ciphertext of a segment not yet complete (fewer than `SEGMENT` bytes).
    pending: Vec<u8>,
    framed: Vec<u8>,
    written: u64,
    vectored: bool,
}

/// The header of every whole segment.
const SEGMENT_HEADER: [u8; 4] = [ber::OCTET_STRING, 0x82, (SEGMENT >> 8) as u8, SEGMENT as u8];
const _: () = assert!(SEGMENT >= 0x100 && SEGMENT < 0x10000);

impl<W: Write> Framer<W> {
    fn new(out: W, header_len: u64) -> Self {
        Framer {
            out,
            pending: Vec::with_capacity(SEGMENT),
            framed: Vec::new(),
            written: header_len,
            vectored: true,
        }
    }

    fn push(&mut self, ciphertext: &[u8]) -> io::Result<()> {
        if self.vectored {
            self.push_vectored(ciphertext)
        } else {
            self.push_copied(ciphertext)
        }
    }

    /// Tops a started segment up from the front of `ciphertext`: `None` when none was started,
    /// else whether it is now whole (if not, all of `ciphertext` went into it).
    fn top_up(&mut self, ciphertext: &mut &[u8]) -> Option<bool> {
        if self.pending.is_empty() {
            return None;
        }
        let take = (SEGMENT - self.pending.len()).min(ciphertext.len());
        self.pending.extend_from_slice(&ciphertext[..take]);
        *ciphertext = &ciphertext[take..];
        Some(self.pending.len() == SEGMENT)
    }

    fn push_vectored(&mut self, mut ciphertext: &[u8]) -> io::Result<()> {
        // A segment completed from `pending`, moved out so the slices can borrow it.
        let completed = match self.top_up(&mut ciphertext) {
            Some(false) => return Ok(()),
            Some(true) => Some(std::mem::take(&mut self.pending)),
            None => None,
        };
        let whole = ciphertext.len() / SEGMENT * SEGMENT;
        let mut slices = Vec::with_capacity(2 * (whole / SEGMENT + 1));
        if let Some(segment) = &completed {
            slices.push(IoSlice::new(&SEGMENT_HEADER));
            slices.push(IoSlice::new(segment));
        }
        for segment in ciphertext[..whole].chunks(SEGMENT) {
            slices.push(IoSlice::new(&SEGMENT_HEADER));
            slices.push(IoSlice::new(segment));
        }
        let total: usize = slices.iter().map(|s| s.len()).sum();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            let n = self.out.write_vectored(rest)?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            let one_slice_only = n == rest[0].len() && rest.len() > 1;
            IoSlice::advance_slices(&mut rest, n);
            if one_slice_only {
                // `Write`'s default: one system call per slice would follow. Copy instead.
                self.vectored = false;
                self.framed.clear();
                for s in rest.iter() {
                    self.framed.extend_from_slice(s);
                }
                self.out.write_all(&self.framed)?;
                break;
            }
        }
        self.written += total as u64;
        if let Some(mut buffer) = completed {
            buffer.clear();
            self.pending = buffer;
        }
        self.pending.extend_from_slice(&ciphertext[whole..]);
        Ok(())
    }

    fn push_copied(&mut self, mut ciphertext: &[u8]) -> io::Result<()> {
        self.framed.clear();
        self.framed
            .reserve(ciphertext.len() + 4 * (ciphertext.len() / SEGMENT + 2));
        match self.top_up(&mut ciphertext) {
            Some(false) => return Ok(()),
            Some(true) => {
                segment_header(SEGMENT, &mut self.framed);
                self.framed.extend_from_slice(&self.pending);
                self.pending.clear();
            }
            None => {}
        }
        let whole = ciphertext.len() / SEGMENT * SEGMENT;
        for seg in ciphertext[..whole].chunks(SEGMENT) {
            segment_header(SEGMENT, &mut self.framed);
            self.framed.extend_from_slice(seg);
        }
        self.pending.extend_from_slice(&ciphertext[whole..]);
        self.out.write_all(&self.framed)?;
        self.written += self.framed.len() as u64;
        Ok(())
    }

    /// The last segment, the end markers, a flush: (the writer, bytes written in all).
    fn finish(mut self) -> io::Result<(W, u64)> {
        self.framed.clear();
        if !self.pending.is_empty() {
            segment_header(self.pending.len(), &mut self.framed);
            self.framed.extend_from_slice(&self.pending);
        }
        // End of: encryptedContent, EncryptedContentInfo, EnvelopedData, [0], ContentInfo.
        self.framed.extend_from_slice(&[0u8; 10]);
        self.out.write_all(&self.framed)?;
        self.written += self.framed.len() as u64;
        self.out.flush()?;
        Ok((self.out, self.written))
    }
}

pub(super) const AES_BLOCK: usize = 16;

pub(super) fn segment_header(len: usize, out: &mut Vec<u8>) {
    out.push(ber::OCTET_STRING);
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
}

/// The header up to the first content octet, with the content key wrapped for `recipient`.
pub(super) fn envelope_header(recipient: &X509Ref, key: &[u8], iv: &[u8]) -> Result<Vec<u8>> {
    let public = recipient.public_key().map_err(|e| {
        Error::new(
            ErrorKind::CertificateInvalid,
            format!("the receiver certificate has no readable public key: {e}"),
        )
    })?;
    if public.rsa().is_err() {
        return Err(Error::new(
            ErrorKind::CertificateInvalid,
            format!(
                "the receiver certificate {} does not hold an RSA key; DPO encrypts to RSA \
                 certificates only: check the certificate in the Service Registry",
                name_line(recipient.subject_name())
            ),
        ));
    }
    let fail = |e| crypto_error("encrypting the content key with RSAES-OAEP", e);
    let mut ctx = PkeyCtx::new(&public).map_err(fail)?;
    ctx.encrypt_init().map_err(fail)?;
    ctx.set_rsa_padding(Padding::PKCS1_OAEP).map_err(fail)?;
    ctx.set_rsa_oaep_md(Md::sha256()).map_err(fail)?;
    ctx.set_rsa_mgf1_md(Md::sha256()).map_err(fail)?;
    let mut wrapped = Vec::new();
    ctx.encrypt_to_vec(key, &mut wrapped).map_err(fail)?;

    let issuer = recipient.issuer_name().to_der().map_err(|e| {
        Error::new(
            ErrorKind::CertificateInvalid,
            format!("cannot encode the receiver certificate's issuer: {e}"),
        )
    })?;
    let serial = serial_magnitude(recipient)?;
    let sha256 = ber::der_seq(ber::SEQUENCE, &[&ber::der_oid(OID_SHA256), &[ber::NULL, 0]]);
    // BouncyCastle leaves out members equal to their defaults, so [2] (empty label) is absent.
    let oaep_params = ber::der_seq(
        ber::SEQUENCE,
        &[
            &ber::der(CTX0_CONSTRUCTED, &sha256),
            &ber::der(
                CTX1_CONSTRUCTED,
                &ber::der_seq(ber::SEQUENCE, &[&ber::der_oid(OID_MGF1), &sha256]),
            ),
        ],
    );
    let ktri = ber::der_seq(
        ber::SEQUENCE,
        &[
            &ber::der_uint(&[0]),
            &ber::der_seq(ber::SEQUENCE, &[&issuer, &ber::der_uint(&serial)]),
            &ber::der_seq(
                ber::SEQUENCE,
                &[&ber::der_oid(OID_RSAES_OAEP), &oaep_params],
            ),
            &ber::der(ber::OCTET_STRING, &wrapped),
        ],
    );
    let content_alg = ber::der_seq(
        ber::SEQUENCE,
        &[
            &ber::der_oid(OID_AES256_CBC),
            &ber::der(ber::OCTET_STRING, iv),
        ],
    );
    let mut h = Vec::with_capacity(1024);
    h.extend_from_slice(&[ber::SEQUENCE, 0x80]); // ContentInfo
    h.extend_from_slice(&ber::der_oid(OID_ENVELOPED_DATA));
    h.extend_from_slice(&[CTX0_CONSTRUCTED, 0x80, ber::SEQUENCE, 0x80]); // [0] EnvelopedData
    h.extend_from_slice(&ber::der_uint(&[0])); // version 0: issuerAndSerialNumber, no extras
    h.extend_from_slice(&ber::der(ber::SET, &ktri));
    h.extend_from_slice(&[ber::SEQUENCE, 0x80]); // EncryptedContentInfo
    h.extend_from_slice(&ber::der_oid(OID_DATA));
    h.extend_from_slice(&content_alg);
    h.extend_from_slice(&[CTX0_CONSTRUCTED, 0x80]); // [0] IMPLICIT encryptedContent
    Ok(h)
}

/// A fresh content key and IV, and the header for `recipient` with the key wrapped for it.
fn fresh_key(recipient: &X509) -> Result<([u8; 32], [u8; 16], Vec<u8>)> {
    let mut key = [0u8; 32];
    let mut iv = [0u8; 16];
    openssl::rand::rand_bytes(&mut key)
        .and_then(|_| openssl::rand::rand_bytes(&mut iv))
        .map_err(|e| crypto_error("generating the content key", e))?;
    let header = envelope_header(recipient, &key, &iv)?;
    Ok((key, iv, header))
}

/// A fresh content key and IV, the header for `recipient`, and the AES-256-CBC encrypter.
fn start(recipient: &X509) -> Result<(Vec<u8>, Crypter)> {
    let (key, iv, header) = fresh_key(recipient)?;
    // EVP (Crypter), which takes AES-NI when the CPU has it, over whole buffers.
    let mut crypter = Crypter::new(Cipher::aes_256_cbc(), Mode::Encrypt, &key, Some(&iv))
        .map_err(|e| crypto_error("setting up AES-256-CBC", e))?;
    crypter.pad(true);
    Ok((header, crypter))
}

fn write_fail(e: io::Error) -> Error {
    error_from_io(e, "writing the CMS data")
}

impl<W: Write> CmsEncryptor<W> {
    /// Start a message for `recipient` (the receiver's certificate from the Service Registry)
    /// and write its header to `out`.
    pub fn new(mut out: W, recipient: &X509) -> Result<Self> {
        let (header, crypter) = start(recipient)?;
        out.write_all(&header)
            .map_err(|e| Error::io("writing the CMS header", e))?;
        Ok(CmsEncryptor {
            crypter,
            ciphertext: vec![0u8; CHUNK + AES_BLOCK].into_boxed_slice(),
            framer: Framer::new(out, header.len() as u64),
        })
    }

    /// Bytes written to the output so far.
    pub fn bytes_written(&self) -> u64 {
        self.framer.written
    }

    /// Encrypt the last block, write the end markers, flush, and hand back the writer.
    pub fn finish(self) -> Result<W> {
        Ok(self.finish_counted()?.0)
    }

    /// [`CmsEncryptor::finish`], also returning the total number of bytes written.
    pub fn finish_counted(mut self) -> Result<(W, u64)> {
        let m = self
            .crypter
            .finalize(&mut self.ciphertext)
            .map_err(|e| crypto_error("finishing AES-256-CBC", e))?;
        self.framer
            .push(&self.ciphertext[..m])
            .map_err(write_fail)?;
        self.framer.finish().map_err(write_fail)
    }
}

impl<W: Write> Write for CmsEncryptor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // `update` needs room for the input plus one block.
        for piece in buf.chunks(CHUNK) {
            let n = self
                .crypter
                .update(piece, &mut self.ciphertext)
                .map_err(|e| to_io(crypto_error("encrypting with AES-256-CBC", e)))?;
            self.framer.push(&self.ciphertext[..n])?;
        }
        Ok(buf.len())
    }

    /// Writes out whole segments and flushes the inner writer. The last partial block and
    /// segment stay buffered until [`CmsEncryptor::finish`].
    fn flush(&mut self) -> io::Result<()> {
        self.framer.out.flush()
    }
}

/// A piece of plaintext for [`encrypt_split`], with what its producer announces about the
/// bytes (see [`ContentMark`]): marks for bytes of later pieces may come early, never late.
#[derive(Debug, Default)]
pub struct Plaintext {
    pub bytes: Vec<u8>,
    pub marks: Vec<ContentMark>,
}

/// Encrypt the plaintext pieces `next` yields (`None` at the end) for `recipient` into `out`,
/// with AES on this thread and the framing and writing (and whatever `out` does: a zip CRC, the
/// system call) on a second one, so that on two cores the serial CBC encryption is all this
/// thread does. The content ranges the pieces' marks announce are hashed on this thread in the
/// same pass (see [`crate::crypto::aes_sha`]), each document's SHA-256 sent to `digests` at its
/// end. Spent plaintext buffers go to `spent` for reuse. Returns the writer and the bytes
/// written.
pub fn encrypt_split<W: Write + Send>(
    recipient: &X509,
    mut out: W,
    next: &mut dyn FnMut() -> io::Result<Option<Plaintext>>,
    spent: &mut dyn FnMut(Vec<u8>),
    digests: Option<std::sync::mpsc::Sender<[u8; 32]>>,
) -> Result<(W, u64)> {
    const DEPTH: usize = 4;
    let (key, iv, header) = fresh_key(recipient)?;
    let mut cipher = HashingCipher::new(&key, &iv, digests)?;
    out.write_all(&header)
        .map_err(|e| Error::io("writing the CMS header", e))?;
    std::thread::scope(|s| {
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(DEPTH);
        let (free_tx, free_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(DEPTH + 2);
        let writer = s.spawn(move || -> io::Result<(W, u64)> {
            let mut framer = Framer::new(out, header.len() as u64);
            for ciphertext in full_rx {
                framer.push(&ciphertext)?;
                let _ = free_tx.try_send(ciphertext);
            }
            framer.finish()
        });
        let encrypted = (|| -> Result<()> {
            let stopped = || Error::new(ErrorKind::Io, "the CMS writer stopped");
            while let Some(plain) = next().map_err(|e| error_from_io(e, "encrypting"))? {
                let mut ciphertext = free_rx.try_recv().unwrap_or_default();
                cipher.update(&plain.bytes, plain.marks, &mut ciphertext)?;
                spent(plain.bytes);
                full_tx.send(ciphertext).map_err(|_| stopped())?;
            }
            let mut last = Vec::new();
            cipher.finish(&mut last)?;
            full_tx.send(last).map_err(|_| stopped())?;
            Ok(())
        })();
        drop(full_tx);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the CMS writer thread panicked")));
        match (encrypted, written) {
            // The writer's own error explains a stopped writer.
            (_, Err(e)) => Err(write_fail(e)),
            (Err(e), Ok(_)) => Err(e),
            (Ok(()), Ok(done)) => Ok(done),
        }
    })
}
/// Encrypt everything `input` yields for `recipient` into `out`. Returns the number of CMS bytes
/// written.
pub fn encrypt(input: &mut dyn Read, out: &mut dyn Write, recipient: &X509) -> Result<u64> {
    let mut enc = CmsEncryptor::new(out, recipient)?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("reading the content to encrypt", e)),
        };
        enc.write_all(&buf[..n])
            .map_err(|e| error_from_io(e, "writing the CMS data"))?;
    }
    let (_, written) = enc.finish_counted()?;
    Ok(written)
}
