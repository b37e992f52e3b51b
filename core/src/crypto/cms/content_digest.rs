//! Encrypting a plaintext stream while hashing the content ranges its producer announces.
//!
//! The package pipeline encrypts the ASiC-E zip stream; the ASiC manifest needs the SHA-256 of
//! each document, whose bytes lie in that stream (as STORED data or between the 5-byte headers
//! of deflate's stored blocks). The producer announces where they are ([`ContentMark`]) ahead of
//! the bytes, and [`HashingCipher`] hashes them on the thread that encrypts, in the same pass
//! ([`crate::crypto::aes_sha`]), then sends each document's digest back. On a CPU without the
//! extensions it does the same with OpenSSL's AES and SHA-256, one after the other.

// Where `aes_sha`'s types cannot be made, the arms that hold them are dead code.
#![cfg_attr(not(target_arch = "x86_64"), allow(unreachable_code, unused_variables))]

use super::encrypt::AES_BLOCK;
use super::*;
use crate::crypto::aes_sha;
use std::collections::VecDeque;
use std::sync::mpsc;

/// What the producer of the plaintext says about it, ahead of the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentMark {
    /// Plaintext bytes `offset..offset + len` (from the start of the stream) are content of
    /// the current document.
    Content { offset: u64, len: u64 },
    /// The current document ended: its digest is owed.
    DocumentEnd,
}

/// The AES-256-CBC encryptor and SHA-256 hasher, together on one core or apart. (One per
/// package: the size of the stitched variant does not matter.)
#[allow(clippy::large_enum_variant)]
enum Engine {
    Stitched {
        aes: aes_sha::Aes256CbcEncryptor,
        sha: aes_sha::Sha256,
    },
    Portable {
        crypter: Crypter,
        sha: openssl::sha::Sha256,
        /// `Crypter::update` wants a block more room than it writes.
        scratch: Vec<u8>,
    },
}

impl Engine {
    fn new(key: &[u8; 32], iv: &[u8; 16]) -> Result<Engine> {
        if let (Some(aes), Some(sha)) = (
            aes_sha::Aes256CbcEncryptor::new(key, iv),
            aes_sha::Sha256::new(),
        ) {
            return Ok(Engine::Stitched { aes, sha });
        }
        Engine::portable(key, iv)
    }

    fn portable(key: &[u8; 32], iv: &[u8; 16]) -> Result<Engine> {
        let mut crypter = Crypter::new(Cipher::aes_256_cbc(), Mode::Encrypt, key, Some(iv))
            .map_err(|e| crypto_error("setting up AES-256-CBC", e))?;
        crypter.pad(false);
        Ok(Engine::Portable {
            crypter,
            sha: openssl::sha::Sha256::new(),
            scratch: Vec::new(),
        })
    }

    /// Hash the front of `data` up to the hasher's next block boundary (all of it when the
    /// hasher keeps its own partial blocks); returns how much it took.
    fn hash_to_boundary(&mut self, data: &[u8]) -> usize {
        match self {
            Engine::Stitched { sha, .. } => sha.top_up(data),
            Engine::Portable { sha, .. } => {
                sha.update(data);
                data.len()
            }
        }
    }

    fn hash(&mut self, data: &[u8]) {
        match self {
            Engine::Stitched { sha, .. } => sha.update(data),
            Engine::Portable { sha, .. } => sha.update(data),
        }
    }

    /// Encrypt whole blocks `aes_in` into `aes_out` and hash `sha_in` (whole SHA blocks, the
    /// hasher at a block boundary).
    fn encrypt_and_hash(&mut self, aes_in: &[u8], aes_out: &mut [u8], sha_in: &[u8]) -> Result<()> {
        match self {
            Engine::Stitched { aes, sha } => {
                aes_sha::encrypt_and_hash(aes, aes_in, aes_out, sha, sha_in);
                Ok(())
            }
            Engine::Portable {
                crypter,
                sha,
                scratch,
            } => {
                sha.update(sha_in);
                scratch.resize(aes_in.len() + AES_BLOCK, 0);
                let n = crypter
                    .update(aes_in, scratch)
                    .map_err(|e| crypto_error("encrypting with AES-256-CBC", e))?;
                debug_assert_eq!(n, aes_in.len());
                aes_out.copy_from_slice(&scratch[..n]);
                Ok(())
            }
        }
    }

    /// The digest of what was hashed; the hasher starts again.
    fn take_digest(&mut self) -> [u8; 32] {
        match self {
            Engine::Stitched { sha, .. } => {
                let fresh = aes_sha::Sha256::new().expect("available: it made the first one");
                std::mem::replace(sha, fresh).finish()
            }
            Engine::Portable { sha, .. } => {
                std::mem::replace(sha, openssl::sha::Sha256::new()).finish()
            }
        }
    }
}

/// AES-256-CBC with PKCS#7 padding over a stream that comes in chunks of any length, hashing
/// the announced content ranges on the way.
pub(super) struct HashingCipher {
    engine: Engine,
    /// Announced and not yet hashed (a range may reach into later chunks).
    marks: VecDeque<ContentMark>,
    /// Stream offset of the next plaintext byte.
    at: u64,
    /// Plaintext of a block not yet whole.
    carry: [u8; AES_BLOCK],
    carry_len: usize,
    digests: Option<mpsc::Sender<[u8; 32]>>,
}

impl HashingCipher {
    /// `digests` receives each document's digest when its [`ContentMark::DocumentEnd`] is
    /// reached; without it, marks are refused.
    pub(super) fn new(
        key: &[u8; 32],
        iv: &[u8; 16],
        digests: Option<mpsc::Sender<[u8; 32]>>,
    ) -> Result<Self> {
        Ok(HashingCipher {
            engine: Engine::new(key, iv)?,
            marks: VecDeque::new(),
            at: 0,
            carry: [0; AES_BLOCK],
            carry_len: 0,
            digests,
        })
    }

    /// Encrypt `plain` (the next bytes of the stream) into `out` (replacing what it held),
    /// hashing what `marks` (and marks given before) announce within it.
    pub(super) fn update(
        &mut self,
        plain: &[u8],
        marks: Vec<ContentMark>,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        if !marks.is_empty() && self.digests.is_none() {
            return Err(internal("content marks without a receiver for the digests"));
        }
        self.marks.extend(marks);
        let start = self.at;
        // Complete the block carried over from the last chunk.
        let fill = (AES_BLOCK - self.carry_len) % AES_BLOCK;
        let (head, body) = plain.split_at(fill.min(plain.len()));
        let whole = body.len() / AES_BLOCK * AES_BLOCK;
        let head_block = self.carry_len > 0 && self.carry_len + head.len() == AES_BLOCK;
        // Sized, not cleared first: a recycled buffer is not zeroed again (every byte is
        // overwritten below).
        out.resize(if head_block { AES_BLOCK } else { 0 } + whole, 0);
        // The AES side: the carried block first, then `body[..whole]` in steps beside the
        // content ranges; `aes_done` counts bytes of `body` encrypted.
        let mut aes_done = 0usize;
        let mut out_at = 0usize;
        if head_block {
            let mut block = self.carry;
            block[self.carry_len..].copy_from_slice(head);
            self.engine
                .encrypt_and_hash(&block, &mut out[..AES_BLOCK], &[])?;
            out_at = AES_BLOCK;
            self.carry_len = 0;
        } else if self.carry_len > 0 {
            // Still not a whole block: all of `plain` joins the carry.
            self.carry[self.carry_len..self.carry_len + head.len()].copy_from_slice(head);
            self.carry_len += head.len();
        }
        let end = start + plain.len() as u64;
        while let Some(mark) = self.marks.front().copied() {
            match mark {
                ContentMark::DocumentEnd => {
                    self.marks.pop_front();
                    let digest = self.engine.take_digest();
                    self.digests
                        .as_ref()
                        .expect("checked above")
                        .send(digest)
                        .map_err(|_| internal("nobody waits for the document digests"))?;
                }
                ContentMark::Content { offset, len } => {
                    if offset < start {
                        return Err(internal("content announced after its bytes passed"));
                    }
                    let stop = (offset + len).min(end);
                    if offset > end || (stop == offset && len > 0) {
                        // Its bytes are in a later chunk.
                        break;
                    }
                    let range = &plain[(offset - start) as usize..(stop - start) as usize];
                    // Hash `range`, and encrypt as much of the body beside it.
                    let took = self.engine.hash_to_boundary(range);
                    let rest = &range[took..];
                    let sha_whole = rest.len() / 64 * 64;
                    let aes_len = (whole - aes_done).min(sha_whole) / AES_BLOCK * AES_BLOCK;
                    let aes_in = &body[aes_done..aes_done + aes_len];
                    let aes_out = &mut out[out_at..out_at + aes_len];
                    self.engine
                        .encrypt_and_hash(aes_in, aes_out, &rest[..sha_whole])?;
                    aes_done += aes_len;
                    out_at += aes_len;
                    self.engine.hash(&rest[sha_whole..]);
                    if stop == offset + len {
                        self.marks.pop_front();
                    } else {
                        self.marks[0] = ContentMark::Content {
                            offset: stop,
                            len: offset + len - stop,
                        };
                        break;
                    }
                }
            }
        }
        // What is left of the body, then the partial block for next time.
        let aes_in = &body[aes_done..whole];
        let n = aes_in.len();
        self.engine
            .encrypt_and_hash(aes_in, &mut out[out_at..out_at + n], &[])?;
        let tail = &body[whole..];
        // (Not when `plain` all went into a carry still short of a block: `tail` is empty.)
        if self.carry_len == 0 {
            self.carry[..tail.len()].copy_from_slice(tail);
            self.carry_len = tail.len();
        }
        self.at = end;
        Ok(())
    }

    /// The padded last block into `out` (replacing what it held). Every announced range must
    /// have been hashed and every document ended.
    pub(super) fn finish(mut self, out: &mut Vec<u8>) -> Result<()> {
        self.update(&[], Vec::new(), out)?;
        if !self.marks.is_empty() {
            return Err(internal(
                "the stream ended before the content announced in it",
            ));
        }
        let pad = AES_BLOCK - self.carry_len;
        let mut block = self.carry;
        block[self.carry_len..].fill(pad as u8);
        out.clear();
        out.resize(AES_BLOCK, 0);
        self.engine.encrypt_and_hash(&block, out, &[])
    }
}

fn internal(what: &str) -> Error {
    Error::new(ErrorKind::Internal, format!("packing: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::crypto::test_bytes as bytes;

    /// Ranges of a stream of `n` bytes as a zip of stored blocks lays documents out: a header,
    /// then content in pieces of `piece` with 5 bytes between them; `docs` documents.
    fn layout(n: u64, piece: u64, docs: u64) -> (Vec<ContentMark>, Vec<(u64, u64)>) {
        let mut marks = Vec::new();
        let mut per_doc = Vec::new();
        let doc_span = n / docs;
        for d in 0..docs {
            let (mut at, stop) = (d * doc_span + 30, (d + 1) * doc_span - 16);
            let first = marks.len();
            while at + 5 < stop {
                let len = piece.min(stop - at - 5);
                marks.push(ContentMark::Content {
                    offset: at + 5,
                    len,
                });
                at += 5 + len;
            }
            per_doc.push((first as u64, marks.len() as u64));
            marks.push(ContentMark::DocumentEnd);
        }
        (marks, per_doc)
    }

    fn expected_digests(plain: &[u8], marks: &[ContentMark]) -> Vec<[u8; 32]> {
        let mut out = Vec::new();
        let mut sha = openssl::sha::Sha256::new();
        for m in marks {
            match *m {
                ContentMark::Content { offset, len } => {
                    sha.update(&plain[offset as usize..(offset + len) as usize])
                }
                ContentMark::DocumentEnd => {
                    out.push(std::mem::replace(&mut sha, openssl::sha::Sha256::new()).finish())
                }
            }
        }
        out
    }

    fn run(
        plain: &[u8],
        marks: &[ContentMark],
        chunk: usize,
        portable: bool,
    ) -> (Vec<u8>, Vec<[u8; 32]>) {
        let key: [u8; 32] = bytes(32, 11).try_into().unwrap();
        let iv: [u8; 16] = bytes(16, 12).try_into().unwrap();
        let (tx, rx) = mpsc::channel();
        let mut c = HashingCipher::new(&key, &iv, Some(tx)).unwrap();
        if portable {
            // What a CPU without the extensions gets.
            c.engine = Engine::portable(&key, &iv).unwrap();
        }
        let mut ciphertext = Vec::new();
        let mut out = Vec::new();
        let mut pending: VecDeque<ContentMark> = marks.iter().copied().collect();
        let mut at = 0u64;
        for piece in plain.chunks(chunk.max(1)) {
            // Marks go with the first chunk their bytes reach into, as the pipe sends them:
            // all those starting before this chunk ends.
            let end = at + piece.len() as u64;
            let mut with = Vec::new();
            while let Some(m) = pending.front() {
                match m {
                    ContentMark::Content { offset, .. } if *offset >= end => break,
                    _ => with.push(pending.pop_front().unwrap()),
                }
            }
            c.update(piece, with, &mut out).unwrap();
            ciphertext.extend_from_slice(&out);
            at = end;
        }
        c.update(&[], pending.into_iter().collect(), &mut out)
            .unwrap();
        ciphertext.extend_from_slice(&out);
        c.finish(&mut out).unwrap();
        ciphertext.extend_from_slice(&out);
        let key_iv = (key, iv);
        let mut dec = Crypter::new(
            Cipher::aes_256_cbc(),
            Mode::Decrypt,
            &key_iv.0,
            Some(&key_iv.1),
        )
        .unwrap();
        let mut back = vec![0; ciphertext.len() + 16];
        let mut n = dec.update(&ciphertext, &mut back).unwrap();
        n += dec.finalize(&mut back[n..]).unwrap();
        back.truncate(n);
        (back, rx.try_iter().collect())
    }

    #[test]
    fn ciphertext_and_digests_match_openssl_for_any_chunking() {
        for (n, piece, docs) in [
            (300_007u64, 65535u64, 1u64),
            (200_000, 1000, 3),
            (4096, 70, 2),
            (90, 10, 1),
        ] {
            let plain = bytes(n as usize, n);
            let (marks, _) = layout(n, piece, docs);
            let want = expected_digests(&plain, &marks);
            assert_eq!(want.len() as u64, docs);
            for chunk in [1, 15, 16, 17, 63, 64, 65, 1000, 65536, 262_144, n as usize] {
                for portable in [false, true] {
                    let (back, digests) = run(&plain, &marks, chunk, portable);
                    let case = format!("n {n} chunk {chunk} portable {portable}");
                    assert!(back == plain, "{case}: decrypts to the plaintext");
                    assert_eq!(digests, want, "{case}: digests");
                }
            }
        }
    }

    #[test]
    fn an_empty_stream_and_an_empty_document() {
        let (back, digests) = run(&[], &[ContentMark::DocumentEnd], 16, false);
        assert!(back.is_empty());
        assert_eq!(digests, vec![openssl::sha::sha256(b"")]);
    }

    #[test]
    fn content_never_delivered_is_an_error() {
        let key = [1u8; 32];
        let iv = [2u8; 16];
        let (tx, _rx) = mpsc::channel();
        let mut c = HashingCipher::new(&key, &iv, Some(tx)).unwrap();
        let mut out = Vec::new();
        c.update(
            &[0; 10],
            vec![ContentMark::Content {
                offset: 5,
                len: 100,
            }],
            &mut out,
        )
        .unwrap();
        let e = c.finish(&mut out).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert!(e.to_string().contains("ended before"), "{e}");
    }
}
