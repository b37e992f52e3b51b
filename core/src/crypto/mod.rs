//! Keys, certificates and the cryptographic formats DPO uses. OpenSSL gives the primitives.

#[allow(unsafe_code)] // SIMD intrinsics; see the module
pub mod aes_sha;
pub mod ber;
pub mod cms;
pub mod keys;

pub use keys::Identity;
