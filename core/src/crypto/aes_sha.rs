//! AES-256-CBC encryption and SHA-256 in one pass on one core (x86-64 with AES-NI and the SHA
//! extensions).
//!
//! Why: creating a package must both encrypt the ASiC-E (AES-256-CBC, which cannot be spread
//! over cores: every block waits for the one before) and hash each document for the ASiC
//! manifest (SHA-256, serial too). CBC encryption is bound by the latency of the AES unit, not
//! by its throughput, so the core has room for other work while a block goes through its 14
//! rounds; the SHA-256 rounds run on another execution unit. Interleaving the two (as OpenSSL's
//! "stitched" `aes-256-cbc-hmac-sha256` does for TLS) hashes for free: on the project's machine
//! both together run at the speed of AES alone, where apart they cost a core and three quarters.
//!
//! The two streams need not be the same bytes: the caller hands the cipher the zip stream and
//! the hash only the documents' bytes within it ([`encrypt_and_hash`]).
//!
//! [`available`] says whether the CPU can; callers fall back to OpenSSL's EVP when not. The
//! results are compared with OpenSSL's AES-256-CBC and SHA-256 in this module's tests.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Whether this CPU has what [`Aes256CbcEncryptor`] and [`Sha256`] need (AES-NI, SHA, SSSE3,
/// SSE4.1). `EFM_NO_STITCHED_AES_SHA=1` says no (to compare, or to rule this code out).
pub fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        if std::env::var_os("EFM_NO_STITCHED_AES_SHA").is_some_and(|v| v == "1") {
            return false;
        }
        cpu_has_extensions()
    })
}

#[cfg(target_arch = "x86_64")]
fn cpu_has_extensions() -> bool {
    is_x86_feature_detected!("aes")
        && is_x86_feature_detected!("sha")
        && is_x86_feature_detected!("ssse3")
        && is_x86_feature_detected!("sse4.1")
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_has_extensions() -> bool {
    false
}

pub use imp::*;

/// Elsewhere the types exist (so callers compile everywhere) but cannot be made.
#[cfg(not(target_arch = "x86_64"))]
mod imp {
    pub enum Aes256CbcEncryptor {}
    pub enum Sha256 {}

    impl Aes256CbcEncryptor {
        pub fn new(_key: &[u8; 32], _iv: &[u8; 16]) -> Option<Self> {
            None
        }
        pub fn encrypt_blocks(&mut self, _input: &[u8], _output: &mut [u8]) {
            match *self {}
        }
    }

    impl Sha256 {
        pub fn new() -> Option<Self> {
            None
        }
        pub fn at_block_boundary(&self) -> bool {
            match *self {}
        }
        pub fn update(&mut self, _data: &[u8]) {
            match *self {}
        }
        pub fn finish(self) -> [u8; 32] {
            match self {}
        }
        pub fn top_up(&mut self, _data: &[u8]) -> usize {
            match *self {}
        }
    }

    pub fn encrypt_and_hash(
        aes: &mut Aes256CbcEncryptor,
        _aes_in: &[u8],
        _aes_out: &mut [u8],
        _sha: &mut Sha256,
        _sha_in: &[u8],
    ) {
        match *aes {}
    }
}

#[cfg(target_arch = "x86_64")]
mod imp {
    use super::*;

    pub const AES_BLOCK: usize = 16;
    pub const SHA_BLOCK: usize = 64;

    /// AES-256 in CBC mode, encrypting (no padding here: whole blocks in, whole blocks out).
    pub struct Aes256CbcEncryptor {
        round_keys: [__m128i; 15],
        chain: __m128i,
    }

    impl Aes256CbcEncryptor {
        /// `None` when the CPU lacks the extensions ([`available`]).
        pub fn new(key: &[u8; 32], iv: &[u8; 16]) -> Option<Self> {
            if !available() {
                return None;
            }
            // SAFETY: the CPU has AES-NI and SSE2 (checked by `available`); the loads read the
            // 32-byte key and 16-byte IV through unaligned loads.
            unsafe {
                Some(Aes256CbcEncryptor {
                    round_keys: expand_key(key),
                    chain: _mm_loadu_si128(iv.as_ptr().cast()),
                })
            }
        }

        /// Encrypt whole blocks from `input` into `output` (same length, a multiple of 16).
        pub fn encrypt_blocks(&mut self, input: &[u8], output: &mut [u8]) {
            assert!(input.len().is_multiple_of(AES_BLOCK) && output.len() == input.len());
            // SAFETY: the extensions were checked in `new`; lengths checked above.
            unsafe { cbc_blocks(self, input.as_ptr(), output.as_mut_ptr(), input.len() / 16) }
        }
    }

    impl Drop for Aes256CbcEncryptor {
        fn drop(&mut self) {
            // The round keys are the content key: do not leave them in freed memory.
            for k in self.round_keys.iter_mut() {
                // SAFETY: a valid, aligned place of our own.
                unsafe { std::ptr::write_volatile(k, _mm_setzero_si128()) };
            }
        }
    }

    /// SHA-256 with the SHA extensions; state kept in their ABEF/CDGH register layout.
    #[derive(Clone)]
    pub struct Sha256 {
        abef: __m128i,
        cdgh: __m128i,
        pending: [u8; SHA_BLOCK],
        pending_len: usize,
        total: u64,
    }

    impl Sha256 {
        /// `None` when the CPU lacks the extensions ([`available`]).
        pub fn new() -> Option<Self> {
            if !available() {
                return None;
            }
            const H: [u32; 8] = [
                0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
                0x5be0cd19,
            ];
            // SAFETY: SSE2/SSSE3/SSE4.1 present (checked above).
            let (abef, cdgh) = unsafe { load_state(&H) };
            Some(Sha256 {
                abef,
                cdgh,
                pending: [0; SHA_BLOCK],
                pending_len: 0,
                total: 0,
            })
        }

        /// Whether no partial block is waiting (so whole blocks can go straight to the rounds).
        pub fn at_block_boundary(&self) -> bool {
            self.pending_len == 0
        }

        /// Takes bytes into the partial block until it is whole (then hashes it) or `data` is
        /// used up; returns how many bytes of `data` it took (none at a block boundary). What
        /// is left can then go to [`encrypt_and_hash`] in whole blocks.
        pub fn top_up(&mut self, data: &[u8]) -> usize {
            if self.pending_len == 0 {
                return 0;
            }
            let take = (SHA_BLOCK - self.pending_len).min(data.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&data[..take]);
            self.pending_len += take;
            self.total += take as u64;
            if self.pending_len == SHA_BLOCK {
                let block = self.pending;
                // SAFETY: extensions checked when `self` was made; one whole block.
                unsafe { sha_blocks(self, block.as_ptr(), 1) };
                self.pending_len = 0;
            }
            take
        }

        pub fn update(&mut self, mut data: &[u8]) {
            data = &data[self.top_up(data)..];
            let whole = data.len() / SHA_BLOCK * SHA_BLOCK;
            if whole > 0 {
                // SAFETY: extensions checked when `self` was made; `whole` bytes are there.
                unsafe { sha_blocks(self, data.as_ptr(), whole / SHA_BLOCK) };
                self.total += whole as u64;
            }
            let rest = &data[whole..];
            self.pending[..rest.len()].copy_from_slice(rest);
            self.pending_len += rest.len();
            self.total += rest.len() as u64;
        }

        pub fn finish(mut self) -> [u8; 32] {
            let bits = self.total.wrapping_mul(8);
            let mut tail = [0u8; 2 * SHA_BLOCK];
            let n = self.pending_len;
            tail[..n].copy_from_slice(&self.pending[..n]);
            tail[n] = 0x80;
            let len = if n + 9 <= SHA_BLOCK {
                SHA_BLOCK
            } else {
                2 * SHA_BLOCK
            };
            tail[len - 8..len].copy_from_slice(&bits.to_be_bytes());
            // SAFETY: extensions checked when `self` was made; `len` bytes of whole blocks.
            unsafe {
                sha_blocks(&mut self, tail.as_ptr(), len / SHA_BLOCK);
                store_state(self.abef, self.cdgh)
            }
        }
    }

    /// Encrypt `aes_in` (whole AES blocks) into `aes_out` and hash `sha_in` (whole SHA blocks;
    /// `sha` must be at a block boundary), interleaved while both have work and then each alone.
    pub fn encrypt_and_hash(
        aes: &mut Aes256CbcEncryptor,
        aes_in: &[u8],
        aes_out: &mut [u8],
        sha: &mut Sha256,
        sha_in: &[u8],
    ) {
        assert!(aes_in.len().is_multiple_of(AES_BLOCK) && aes_out.len() == aes_in.len());
        assert!(
            sha_in.len().is_multiple_of(SHA_BLOCK)
                && (sha_in.is_empty() || sha.at_block_boundary())
        );
        // Four AES blocks (64 bytes) beside each SHA block: the two go at about the same pace.
        let groups = (aes_in.len() / SHA_BLOCK).min(sha_in.len() / SHA_BLOCK);
        // SAFETY: extensions checked when `aes` and `sha` were made; every pointer below stays
        // within the slices, whose lengths were checked above.
        unsafe {
            stitched(
                aes,
                sha,
                aes_in.as_ptr(),
                aes_out.as_mut_ptr(),
                sha_in.as_ptr(),
                groups,
            );
            let done = groups * SHA_BLOCK;
            cbc_blocks(
                aes,
                aes_in.as_ptr().add(done),
                aes_out.as_mut_ptr().add(done),
                (aes_in.len() - done) / AES_BLOCK,
            );
            sha_blocks(
                sha,
                sha_in.as_ptr().add(done),
                (sha_in.len() - done) / SHA_BLOCK,
            );
        }
        sha.total += sha_in.len() as u64;
    }

    // ---- AES-256 -----------------------------------------------------------------------------

    #[target_feature(enable = "aes,sse2")]
    unsafe fn expand_key(key: &[u8; 32]) -> [__m128i; 15] {
        #[inline(always)]
        unsafe fn spread(mut a: __m128i) -> __m128i {
            // a ^ (a << 32) ^ (a << 64) ^ (a << 96): each word xored with those below it.
            let mut t = _mm_slli_si128::<4>(a);
            a = _mm_xor_si128(a, t);
            t = _mm_slli_si128::<4>(t);
            a = _mm_xor_si128(a, t);
            t = _mm_slli_si128::<4>(t);
            _mm_xor_si128(a, t)
        }
        let mut k = [_mm_setzero_si128(); 15];
        let mut even = _mm_loadu_si128(key.as_ptr().cast());
        let mut odd = _mm_loadu_si128(key.as_ptr().add(16).cast());
        k[0] = even;
        k[1] = odd;
        macro_rules! even {
            ($i:expr, $rcon:expr) => {
                let assist = _mm_shuffle_epi32::<0xff>(_mm_aeskeygenassist_si128::<$rcon>(odd));
                even = _mm_xor_si128(spread(even), assist);
                k[$i] = even;
            };
        }
        macro_rules! odd {
            ($i:expr) => {
                let assist = _mm_shuffle_epi32::<0xaa>(_mm_aeskeygenassist_si128::<0>(even));
                odd = _mm_xor_si128(spread(odd), assist);
                k[$i] = odd;
            };
        }
        even!(2, 0x01);
        odd!(3);
        even!(4, 0x02);
        odd!(5);
        even!(6, 0x04);
        odd!(7);
        even!(8, 0x08);
        odd!(9);
        even!(10, 0x10);
        odd!(11);
        even!(12, 0x20);
        odd!(13);
        even!(14, 0x40);
        k
    }

    #[inline(always)]
    unsafe fn aes_encrypt(k: &[__m128i; 15], mut x: __m128i) -> __m128i {
        x = _mm_xor_si128(x, k[0]);
        for key in &k[1..14] {
            x = _mm_aesenc_si128(x, *key);
        }
        _mm_aesenclast_si128(x, k[14])
    }

    #[target_feature(enable = "aes,sse2")]
    unsafe fn cbc_blocks(
        aes: &mut Aes256CbcEncryptor,
        input: *const u8,
        output: *mut u8,
        n: usize,
    ) {
        let k = aes.round_keys;
        let mut chain = aes.chain;
        for i in 0..n {
            let p = _mm_loadu_si128(input.add(16 * i).cast());
            chain = aes_encrypt(&k, _mm_xor_si128(p, chain));
            _mm_storeu_si128(output.add(16 * i).cast(), chain);
        }
        aes.chain = chain;
    }

    // ---- SHA-256 -----------------------------------------------------------------------------

    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    /// H0..H7 into the (ABEF, CDGH) registers the SHA instructions work on.
    #[target_feature(enable = "sse2,ssse3,sse4.1")]
    unsafe fn load_state(h: &[u32; 8]) -> (__m128i, __m128i) {
        let dcba = _mm_shuffle_epi32::<0xB1>(_mm_loadu_si128(h.as_ptr().cast())); // CDAB
        let efgh = _mm_shuffle_epi32::<0x1B>(_mm_loadu_si128(h.as_ptr().add(4).cast()));
        let abef = _mm_alignr_epi8::<8>(dcba, efgh);
        let cdgh = _mm_blend_epi16::<0xF0>(efgh, dcba);
        (abef, cdgh)
    }

    /// The digest (big-endian H0..H7) from the registers.
    #[target_feature(enable = "sse2,ssse3,sse4.1")]
    unsafe fn store_state(abef: __m128i, cdgh: __m128i) -> [u8; 32] {
        let feba = _mm_shuffle_epi32::<0x1B>(abef);
        let dchg = _mm_shuffle_epi32::<0xB1>(cdgh);
        let dcba = _mm_blend_epi16::<0xF0>(feba, dchg);
        let hgfe = _mm_alignr_epi8::<8>(dchg, feba);
        let mut words = [0u32; 8];
        _mm_storeu_si128(words.as_mut_ptr().cast(), dcba);
        _mm_storeu_si128(words.as_mut_ptr().add(4).cast(), hgfe);
        let mut out = [0u8; 32];
        for (o, w) in out.chunks_exact_mut(4).zip(words) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        out
    }

    /// One SHA-256 block's 64 rounds as 16 steps of four, so that they can be spread between
    /// other work: `step(i)` runs rounds 4i..4i+3 and prepares the message words 4 steps ahead.
    struct ShaBlock {
        abef: __m128i,
        cdgh: __m128i,
        saved: (__m128i, __m128i),
        /// Message words 4i..4i+3 for the next four steps, in a ring.
        w: [__m128i; 4],
    }

    impl ShaBlock {
        #[inline(always)]
        unsafe fn start(abef: __m128i, cdgh: __m128i, block: *const u8) -> Self {
            let swap = _mm_set_epi64x(0x0c0d0e0f08090a0b, 0x0405060700010203);
            let load = |i: usize| _mm_shuffle_epi8(_mm_loadu_si128(block.add(16 * i).cast()), swap);
            ShaBlock {
                abef,
                cdgh,
                saved: (abef, cdgh),
                w: [load(0), load(1), load(2), load(3)],
            }
        }

        #[inline(always)]
        unsafe fn step(&mut self, i: usize) {
            let w = self.w[i % 4];
            let mut msg = _mm_add_epi32(w, _mm_loadu_si128(K.as_ptr().add(4 * i).cast()));
            self.cdgh = _mm_sha256rnds2_epu32(self.cdgh, self.abef, msg);
            msg = _mm_shuffle_epi32::<0x0E>(msg);
            self.abef = _mm_sha256rnds2_epu32(self.abef, self.cdgh, msg);
            if i < 12 {
                // W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16], four at a time.
                let (w1, w2, w3) = (
                    self.w[(i + 1) % 4],
                    self.w[(i + 2) % 4],
                    self.w[(i + 3) % 4],
                );
                let mut next = _mm_sha256msg1_epu32(w, w1);
                next = _mm_add_epi32(next, _mm_alignr_epi8::<4>(w3, w2));
                self.w[i % 4] = _mm_sha256msg2_epu32(next, w3);
            }
        }

        #[inline(always)]
        unsafe fn end(self) -> (__m128i, __m128i) {
            (
                _mm_add_epi32(self.abef, self.saved.0),
                _mm_add_epi32(self.cdgh, self.saved.1),
            )
        }
    }

    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn sha_blocks(sha: &mut Sha256, mut data: *const u8, n: usize) {
        let (mut abef, mut cdgh) = (sha.abef, sha.cdgh);
        for _ in 0..n {
            let mut b = ShaBlock::start(abef, cdgh, data);
            for i in 0..16 {
                b.step(i);
            }
            (abef, cdgh) = b.end();
            data = data.add(SHA_BLOCK);
        }
        sha.abef = abef;
        sha.cdgh = cdgh;
    }

    /// `groups` times: four CBC blocks and one SHA block, each AES block followed by four SHA
    /// steps, so the out-of-order core runs the SHA rounds while the AES chain waits.
    #[target_feature(enable = "aes,sha,sse2,ssse3,sse4.1")]
    unsafe fn stitched(
        aes: &mut Aes256CbcEncryptor,
        sha: &mut Sha256,
        mut aes_in: *const u8,
        mut aes_out: *mut u8,
        mut sha_in: *const u8,
        groups: usize,
    ) {
        let k = aes.round_keys;
        let mut chain = aes.chain;
        let (mut abef, mut cdgh) = (sha.abef, sha.cdgh);
        for _ in 0..groups {
            let mut b = ShaBlock::start(abef, cdgh, sha_in);
            for j in 0..4 {
                let p = _mm_loadu_si128(aes_in.add(16 * j).cast());
                chain = aes_encrypt(&k, _mm_xor_si128(p, chain));
                _mm_storeu_si128(aes_out.add(16 * j).cast(), chain);
                for i in 4 * j..4 * j + 4 {
                    b.step(i);
                }
            }
            (abef, cdgh) = b.end();
            aes_in = aes_in.add(SHA_BLOCK);
            aes_out = aes_out.add(SHA_BLOCK);
            sha_in = sha_in.add(SHA_BLOCK);
        }
        aes.chain = chain;
        sha.abef = abef;
        sha.cdgh = cdgh;
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use openssl::symm::{Cipher, Crypter, Mode};

        use crate::crypto::test_bytes as bytes;

        fn openssl_cbc(key: &[u8; 32], iv: &[u8; 16], data: &[u8]) -> Vec<u8> {
            let mut c = Crypter::new(Cipher::aes_256_cbc(), Mode::Encrypt, key, Some(iv)).unwrap();
            c.pad(false);
            let mut out = vec![0; data.len() + 16];
            let n = c.update(data, &mut out).unwrap();
            out.truncate(n);
            out
        }

        #[test]
        fn sha256_matches_openssl_at_every_length_around_the_padding_edges() {
            if !available() {
                eprintln!("skipped: this CPU has no SHA extensions");
                return;
            }
            let data = bytes(1100, 1);
            for n in (0..200).chain([447, 448, 511, 512, 513, 1023, 1024, 1100]) {
                let mut s = Sha256::new().unwrap();
                s.update(&data[..n]);
                assert_eq!(s.finish(), openssl::sha::sha256(&data[..n]), "length {n}");
                // The same in uneven pieces.
                let mut s = Sha256::new().unwrap();
                for piece in data[..n].chunks(7 + n % 61) {
                    s.update(piece);
                }
                assert_eq!(
                    s.finish(),
                    openssl::sha::sha256(&data[..n]),
                    "pieces of {n}"
                );
            }
        }

        #[test]
        fn cbc_matches_openssl() {
            if !available() {
                eprintln!("skipped: this CPU has no AES-NI/SHA extensions");
                return;
            }
            let key: [u8; 32] = bytes(32, 2).try_into().unwrap();
            let iv: [u8; 16] = bytes(16, 3).try_into().unwrap();
            let data = bytes(16 * 300, 4);
            let mut aes = Aes256CbcEncryptor::new(&key, &iv).unwrap();
            let mut out = vec![0; data.len()];
            // In pieces: the chain carries over between calls.
            aes.encrypt_blocks(&data[..16], &mut out[..16]);
            aes.encrypt_blocks(&data[16..16 * 77], &mut out[16..16 * 77]);
            aes.encrypt_blocks(&data[16 * 77..], &mut out[16 * 77..]);
            assert_eq!(out, openssl_cbc(&key, &iv, &data));
        }

        #[test]
        fn stitched_pass_matches_openssl_for_both_streams_whatever_their_lengths() {
            if !available() {
                eprintln!("skipped: this CPU has no AES-NI/SHA extensions");
                return;
            }
            let key: [u8; 32] = bytes(32, 5).try_into().unwrap();
            let iv: [u8; 16] = bytes(16, 6).try_into().unwrap();
            let plain = bytes(64 * 40, 7);
            let hashed = bytes(64 * 40 + 13, 8);
            // AES longer than SHA, SHA longer than AES, equal, empty on either side.
            for (aes_len, sha_len) in [
                (2560, 640),
                (640, 2560),
                (1280, 1280),
                (0, 640),
                (640, 0),
                (16, 64),
                (48, 128),
            ] {
                let mut aes = Aes256CbcEncryptor::new(&key, &iv).unwrap();
                let mut sha = Sha256::new().unwrap();
                let mut out = vec![0; aes_len];
                encrypt_and_hash(
                    &mut aes,
                    &plain[..aes_len],
                    &mut out,
                    &mut sha,
                    &hashed[..sha_len],
                );
                // Then a tail that is not whole blocks, the plain way.
                let tail = &hashed[sha_len..sha_len + 13];
                sha.update(tail);
                assert_eq!(
                    out,
                    openssl_cbc(&key, &iv, &plain[..aes_len]),
                    "{aes_len}/{sha_len}"
                );
                assert_eq!(
                    sha.finish(),
                    openssl::sha::sha256(&hashed[..sha_len + 13]),
                    "{aes_len}/{sha_len}"
                );
            }
        }
    }
}
