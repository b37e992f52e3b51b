//! The C ABI of efm (`include/efm.h`). Thin by design: argument checking, ownership and the panic
//! boundary live here; everything that knows eFormidling lives in efm-core.
//!
//! Layout: `result` (the stable codes), `error` (owned error objects), `boundary` (catch_unwind and
//! pointer helpers), `strings`, `log` (the log callback bridge), `openssl_init` (OpenSSL without
//! configuration files on Windows), `windows_proxy` (Windows' proxy settings for efm-core), `version`, `config`, `client`
//! (the handle, lookups), `messages` (send, poll, peek/pop/delete, statuses), `quarantine` (what
//! was downloaded but could not be used).
#![allow(non_camel_case_types)]
// The safety contract of every export is the header's (pointers NULL or valid, strings
// NUL-terminated, handles live); each export checks what can be checked and documents the rest.
#![allow(clippy::missing_safety_doc)]
// Every unsafe operation sits in its own block with a `// SAFETY:` comment saying why it holds.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod boundary;
pub mod client;
pub mod config;
pub mod error;
pub mod log;
pub mod messages;
mod openssl_init;
pub mod quarantine;
pub mod result;
pub mod strings;
pub mod version;
mod windows_proxy;

pub use efm_core;
