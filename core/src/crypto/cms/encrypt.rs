//! Writing: the `Write` adapter and `encrypt`, shaped as BouncyCastle's stream generator writes.

use super::*;
use crate::crypto::ber;

/// A `Write` adapter: takes plaintext, writes CMS EnvelopedData for `recipient` to `out`.
///
/// The header goes out in [`CmsEncryptor::new`]; [`CmsEncryptor::finish`] writes the last block
/// and the end markers and must be called, or the output is incomplete. Errors come as
/// `io::Error` wrapping [`Error`]; [`error_from_io`] gets it back.
pub struct CmsEncryptor<W: Write> {
    out: W,
    crypter: Crypter,
    /// Ciphertext not yet framed; always fewer than `CHUNK` bytes between calls.
    ciphertext: Box<[u8]>,
    ciphertext_len: usize,
    framed: Vec<u8>,
    written: u64,
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

impl<W: Write> CmsEncryptor<W> {
    /// Start a message for `recipient` (the receiver's certificate from the Service Registry)
    /// and write its header to `out`.
    pub fn new(mut out: W, recipient: &X509) -> Result<Self> {
        let mut key = [0u8; 32];
        let mut iv = [0u8; 16];
        openssl::rand::rand_bytes(&mut key)
            .and_then(|_| openssl::rand::rand_bytes(&mut iv))
            .map_err(|e| crypto_error("generating the content key", e))?;
        let header = envelope_header(recipient, &key, &iv)?;
        let mut crypter = Crypter::new(Cipher::aes_256_cbc(), Mode::Encrypt, &key, Some(&iv))
            .map_err(|e| crypto_error("setting up AES-256-CBC", e))?;
        crypter.pad(true);
        out.write_all(&header)
            .map_err(|e| Error::io("writing the CMS header", e))?;
        Ok(CmsEncryptor {
            out,
            crypter,
            ciphertext: vec![0u8; CHUNK + SEGMENT + 2 * AES_BLOCK].into_boxed_slice(),
            ciphertext_len: 0,
            framed: Vec::with_capacity(CHUNK + SEGMENT + 4 * (CHUNK / SEGMENT + 2)),
            written: header.len() as u64,
        })
    }

    /// Bytes written to the output so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Frame the buffered ciphertext into segments and write them; all of it when `last`,
    /// otherwise only whole segments.
    pub(super) fn emit(&mut self, last: bool) -> io::Result<()> {
        let n = if last {
            self.ciphertext_len
        } else {
            self.ciphertext_len / SEGMENT * SEGMENT
        };
        if n == 0 {
            return Ok(());
        }
        self.framed.clear();
        for seg in self.ciphertext[..n].chunks(SEGMENT) {
            segment_header(seg.len(), &mut self.framed);
            self.framed.extend_from_slice(seg);
        }
        self.out.write_all(&self.framed)?;
        self.written += self.framed.len() as u64;
        self.ciphertext.copy_within(n..self.ciphertext_len, 0);
        self.ciphertext_len -= n;
        Ok(())
    }

    /// Encrypt the last block, write the end markers, flush, and hand back the writer.
    pub fn finish(self) -> Result<W> {
        Ok(self.finish_counted()?.0)
    }

    /// [`CmsEncryptor::finish`], also returning the total number of bytes written.
    pub fn finish_counted(mut self) -> Result<(W, u64)> {
        let m = self
            .crypter
            .finalize(&mut self.ciphertext[self.ciphertext_len..])
            .map_err(|e| crypto_error("finishing AES-256-CBC", e))?;
        self.ciphertext_len += m;
        let write_fail = |e| Error::io("writing the CMS data", e);
        self.emit(true).map_err(write_fail)?;
        // End of: encryptedContent, EncryptedContentInfo, EnvelopedData, [0], ContentInfo.
        self.out.write_all(&[0u8; 10]).map_err(write_fail)?;
        self.written += 10;
        self.out.flush().map_err(write_fail)?;
        Ok((self.out, self.written))
    }
}

impl<W: Write> Write for CmsEncryptor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            // `update` needs room for the input plus one block.
            let room = self.ciphertext.len() - self.ciphertext_len - AES_BLOCK;
            let take = room.min(buf.len() - done);
            let n = self
                .crypter
                .update(
                    &buf[done..done + take],
                    &mut self.ciphertext[self.ciphertext_len..],
                )
                .map_err(|e| to_io(crypto_error("encrypting with AES-256-CBC", e)))?;
            self.ciphertext_len += n;
            done += take;
            if self.ciphertext_len >= CHUNK {
                self.emit(false)?;
            }
        }
        Ok(buf.len())
    }

    /// Writes out whole segments and flushes the inner writer. The last partial block stays
    /// buffered until [`CmsEncryptor::finish`].
    fn flush(&mut self) -> io::Result<()> {
        self.emit(false)?;
        self.out.flush()
    }
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
