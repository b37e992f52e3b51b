//! Keys, certificates and the cryptographic formats DPO uses. OpenSSL gives the primitives.

pub mod keys;

pub use keys::Identity;
