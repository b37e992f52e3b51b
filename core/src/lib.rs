//! efm-core: everything that knows eFormidling DPO. Synchronous, safe Rust, no FFI.
//!
//! Module map (ARCHITECTURE.md tells how they fit together):
//! - `client`: the message flows (send, poll, peek/pop/delete, statuses) over the durable `store`
//!   (SQLite and spool files in the data directory).
//! - `registry`: Service Registry lookups with signed answers; `auth`: Maskinporten grants, the
//!   token cache and Altinn's token exchange.
//! - `package`: the wire zip (`sbd.json`, `asic.zip`); `asic`: the signed ASiC-E container and
//!   its streaming zip format; `crypto`: CMS, keys and certificates.
//! - `sbd`: the StandardBusinessDocument and its business messages.
//! - `transport`: the brokers (Altinn 3 REST, Altinn 2 SOAP) behind one trait.
//! - `http`: the one configured HTTP agent; `config`: the configuration document; `ident`:
//!   organisation numbers; `error`: the error type with stable codes; `input`: strict reading of
//!   caller JSON (field paths, no echoed values); `schema`: the JSON Schemas of the C ABI.
//!
//! No unsafe code but one module: everything unsafe lives at the C boundary (`ffi/`), except
//! `crypto::aes_sha`, the CPU instructions that encrypt and hash in one pass (intrinsics are
//! `unsafe` in Rust); it is compared with OpenSSL in its tests and falls back to OpenSSL on a
//! CPU without them.

#![deny(unsafe_code)]

pub mod asic;
pub mod auth;
pub mod client;
pub mod config;
pub mod crypto;
pub mod error;
pub mod http;
pub mod ident;
pub mod input;
pub mod package;
pub mod progress;
pub mod registry;
pub mod sbd;
pub mod schema;
pub mod store;
pub mod transport;

pub use error::{Error, ErrorGroup, ErrorKind, Result};

/// The library version (the crate version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
