//! Keys, certificates and the cryptographic formats DPO uses. OpenSSL gives the primitives.

pub mod ber;
pub mod cms;
pub mod keys;

pub use keys::Identity;
