//! Reading: `inspect`, the `Read` adapter and `decrypt`.

use super::algorithms::*;
use super::recipients::*;
use super::walker::*;
use super::*;
use crate::crypto::keys::Identity;

/// Read the recipients and content cipher of a CMS EnvelopedData without decrypting it.
/// Reads only up to the first content octet.
pub fn inspect(input: &mut dyn Read) -> Result<CmsInfo> {
    let mut w = Walker::new(input);
    Ok(read_envelope(&mut w)?.info)
}

pub(super) fn unwrap_key(r: &Recipient, identity: &Identity) -> Result<Vec<u8>> {
    let fail = |e| crypto_error("preparing RSA key transport", e);
    let mut ctx = PkeyCtx::new(&identity.private_key).map_err(fail)?;
    ctx.decrypt_init().map_err(fail)?;
    match &r.transport {
        KeyTransport::Pkcs1 => ctx.set_rsa_padding(Padding::PKCS1).map_err(fail)?,
        KeyTransport::Oaep { hash, mgf1, label } => {
            ctx.set_rsa_padding(Padding::PKCS1_OAEP).map_err(fail)?;
            ctx.set_rsa_oaep_md(hash.md()).map_err(fail)?;
            ctx.set_rsa_mgf1_md(mgf1.md()).map_err(fail)?;
            if !label.is_empty() {
                ctx.set_rsa_oaep_label(label).map_err(fail)?;
            }
        }
        KeyTransport::Unsupported(what) => {
            return Err(Error::new(
                ErrorKind::Crypto,
                format!(
                    "the message is encrypted for our certificate with {what}, which efm does not \
                     support (RSAES-OAEP and RSA PKCS#1 v1.5 are): ask the sender to use RSAES-OAEP"
                ),
            ))
        }
    }
    let mut key = Vec::new();
    ctx.decrypt_to_vec(&r.encrypted_key, &mut key)
        .map_err(|_| {
            // OpenSSL's reason adds nothing a user can act on and could help padding-oracle probing.
            Error::new(
                ErrorKind::DecryptFailed,
                format!(
                "the content key for {} could not be decrypted with our private key: the sender \
                 used a certificate with our name and serial but another key, or the message is \
                 damaged; ask the sender to check our certificate in the Service Registry",
                r.describe()
            ),
            )
        })?;
    Ok(key)
}

// ---------------------------------------------------------------------------------------------
// Decrypting

pub(super) enum State {
    Streaming,
    Done,
    Failed(Error),
}

/// A `Read` adapter: reads CMS EnvelopedData from `input` and yields the plaintext.
///
/// The header is read and the content key unwrapped in [`CmsDecryptor::new`]; the content is
/// decrypted as it is read. The final read checks the padding and the end of the structure, so
/// the plaintext is complete and intact (as far as CMS can tell) only once `read` returns 0.
/// Errors come as `io::Error` wrapping [`Error`]; [`error_from_io`] gets it back.
pub struct CmsDecryptor<R: Read> {
    walker: Walker<R>,
    crypter: Crypter,
    block: usize,
    info: CmsInfo,
    ciphertext: Box<[u8]>,
    plain: Box<[u8]>,
    plain_pos: usize,
    plain_len: usize,
    ciphertext_total: u64,
    state: State,
}

impl<R: Read> CmsDecryptor<R> {
    pub fn new(input: R, identity: &Identity) -> Result<Self> {
        let mut walker = Walker::new(input);
        let env = read_envelope(&mut walker)?;
        let named: Vec<&Recipient> = env
            .recipients
            .iter()
            .filter(|r| r.names(&identity.certificate))
            .collect();
        let not_for_us = || {
            let ours = format!(
                "\"{}\" (issuer \"{}\", serial {})",
                name_line(identity.certificate.subject_name()),
                name_line(identity.certificate.issuer_name()),
                serial_magnitude(&identity.certificate)
                    .map(|s| hex_upper(strip_zeros(&s)))
                    .unwrap_or_default(),
            );
            let theirs: Vec<String> = env.recipients.iter().map(|r| r.describe()).collect();
            Error::new(
                ErrorKind::NotForUs,
                format!(
                    "the message is not encrypted for our certificate {ours}; it is encrypted for: \
                     {}. Configure the key of the certificate the sender used, or ask the sender \
                     to fetch our current certificate from the Service Registry",
                    theirs.join("; ")
                ),
            )
        };
        // The integration point takes the first RecipientInfo without comparing its id with our
        // certificate (efm-common `DecryptCMSDocument`: `findFirst`), so a sender may have
        // encrypted to an older or re-issued certificate with our key. When no id names us, try our
        // key on every recipient before giving up: an OAEP unwrap with the wrong key fails
        // reliably.
        let fallback = named.is_empty();
        let candidates: Vec<&Recipient> = if fallback {
            env.recipients.iter().collect()
        } else {
            named
        };
        let Some((cipher, iv)) = env.cipher.clone() else {
            return Err(Error::new(
                ErrorKind::Crypto,
                format!(
                    "the content is encrypted with {}, which efm does not support (AES-128/192/256-CBC \
                     and 3DES-CBC are): ask the sender to use AES-256-CBC",
                    env.info.content_cipher_oid
                ),
            ));
        };
        let mut last_err = None;
        let mut key = None;
        for r in candidates {
            match unwrap_key(r, identity) {
                Ok(k) if !fallback || k.len() == cipher.key_len() => {
                    if fallback {
                        log::warn!(
                            "no recipient of the message names our certificate, but our key opens the one for {}; \
                             the sender used an outdated certificate of ours",
                            r.describe()
                        );
                    }
                    key = Some(k);
                    break;
                }
                Ok(_) => {}
                Err(e) => last_err = Some(e),
            }
        }
        let Some(key) = key else {
            return Err(match last_err {
                Some(e) if !fallback => e,
                _ => not_for_us(),
            });
        };
        if key.len() != cipher.key_len() {
            return Err(Error::new(
                ErrorKind::DecryptFailed,
                format!(
                    "the decrypted content key has {} bytes, but {} needs {}: the message is \
                     damaged or not for this key; ask the sender to send it again",
                    key.len(),
                    env.info.content_cipher,
                    cipher.key_len()
                ),
            ));
        }
        let mut crypter = Crypter::new(cipher, Mode::Decrypt, &key, Some(&iv))
            .map_err(|e| crypto_error("setting up content decryption", e))?;
        crypter.pad(true);
        let block = cipher.block_size();
        Ok(CmsDecryptor {
            walker,
            crypter,
            block,
            info: env.info,
            ciphertext: vec![0u8; CHUNK].into_boxed_slice(),
            plain: vec![0u8; CHUNK + 2 * block].into_boxed_slice(),
            plain_pos: 0,
            plain_len: 0,
            ciphertext_total: 0,
            state: State::Streaming,
        })
    }

    /// Recipients and cipher of the message being read.
    pub fn info(&self) -> &CmsInfo {
        &self.info
    }

    /// Decrypt the next chunk, straight into `buf` when it is big enough. Returns the bytes
    /// placed in `buf` (0 when they went to the internal buffer or nothing was produced).
    pub(super) fn step(&mut self, buf: &mut [u8]) -> Result<usize> {
        let n = self.walker.fill(&mut self.ciphertext)?;
        if n == 0 {
            self.walker.finish()?;
            #[allow(clippy::manual_is_multiple_of)] // is_multiple_of needs Rust 1.87; MSRV is 1.85
            if self.ciphertext_total % self.block as u64 != 0 {
                return Err(Error::new(
                    ErrorKind::DecryptFailed,
                    format!(
                        "the encrypted content is {} bytes, not a whole number of {}-byte blocks: \
                         it is damaged; ask the sender to send it again",
                        self.ciphertext_total, self.block
                    ),
                ));
            }
            let m = self.crypter.finalize(&mut self.plain).map_err(|_| {
                Error::new(
                    ErrorKind::DecryptFailed,
                    "the decrypted content has invalid padding: the encrypted content was altered \
                     or damaged in transit; ask the sender to send it again",
                )
            })?;
            self.plain_pos = 0;
            self.plain_len = m;
            self.state = State::Done;
            return Ok(0);
        }
        self.ciphertext_total += n as u64;
        let fail = |e| crypto_error("decrypting the content", e);
        if buf.len() >= n + self.block {
            return self
                .crypter
                .update(&self.ciphertext[..n], buf)
                .map_err(fail);
        }
        let m = self
            .crypter
            .update(&self.ciphertext[..n], &mut self.plain)
            .map_err(fail)?;
        self.plain_pos = 0;
        self.plain_len = m;
        Ok(0)
    }
}

impl<R: Read> Read for CmsDecryptor<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.plain_pos < self.plain_len {
                let n = buf.len().min(self.plain_len - self.plain_pos);
                buf[..n].copy_from_slice(&self.plain[self.plain_pos..self.plain_pos + n]);
                self.plain_pos += n;
                return Ok(n);
            }
            match &self.state {
                State::Done => return Ok(0),
                State::Failed(e) => return Err(to_io(e.clone())),
                State::Streaming => {}
            }
            match self.step(buf) {
                Ok(0) => continue,
                Ok(n) => return Ok(n),
                Err(e) => {
                    self.state = State::Failed(e.clone());
                    return Err(to_io(e));
                }
            }
        }
    }
}

/// Decrypt a whole CMS EnvelopedData from `input` to `out` with our identity. Returns the number
/// of plaintext bytes written. On error, `out` holds an unusable prefix: write to a spool file and
/// discard it then.
pub fn decrypt(input: &mut dyn Read, out: &mut dyn Write, identity: &Identity) -> Result<u64> {
    let mut dec = CmsDecryptor::new(input, identity)?;
    // Room for a whole chunk plus a block lets `step` decrypt in place, without a copy.
    let mut buf = vec![0u8; CHUNK + 64];
    let mut total = 0u64;
    loop {
        let n = match dec.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(error_from_io(e, "reading the CMS data")),
        };
        out.write_all(&buf[..n])
            .map_err(|e| Error::io("writing the decrypted content", e))?;
        total += n as u64;
    }
}
