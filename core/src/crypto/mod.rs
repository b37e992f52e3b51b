//! Keys, certificates and the cryptographic formats DPO uses. OpenSSL gives the primitives.

#[allow(unsafe_code)] // SIMD intrinsics; see the module
pub mod aes_sha;
pub mod ber;
pub mod cms;
pub mod keys;

pub use keys::Identity;

/// Pseudo-random test bytes (xorshift), the same for the same seed.
#[cfg(test)]
pub(crate) fn test_bytes(n: usize, seed: u64) -> Vec<u8> {
    efm_test_support::noise(n, seed.wrapping_mul(0x9E3779B97F4A7C15))
}
