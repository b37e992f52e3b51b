//! efm-core: everything that knows eFormidling DPO. Synchronous, safe Rust, no FFI.
//!
//! Module map (see ../shared/design.md): `ident` organisation numbers; `config` the one
//! configuration document; `error` the error type with stable codes.

pub mod asic;
pub mod auth;
pub mod client;
pub mod config;
pub mod crypto;
pub mod error;
pub mod http;
pub mod ident;
pub mod package;
pub mod progress;
pub mod registry;
pub mod sbd;
pub mod store;
pub mod transport;

pub use error::{Error, ErrorGroup, ErrorKind, Result};

/// The library version (the crate version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
