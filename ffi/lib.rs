//! The C ABI of efm (`include/efm.h`). Thin by design: argument checking, ownership and the panic
//! boundary live here; everything that knows eFormidling lives in efm-core.
//!
//! Layout: `result` (the stable codes), `error` (owned error objects), `boundary` (catch_unwind and
//! pointer helpers), `strings`, `log` (the log callback bridge), `version`, `config`, `client`
//! (the handle, lookups), `messages` (send, poll, peek/pop/delete, statuses), `quarantine` (what
//! was downloaded but could not be used).
#![allow(non_camel_case_types)]
// Every export checks its pointers before use; the functions are `unsafe extern "C"` only where the
// caller must uphold more than "valid or NULL".
#![allow(clippy::missing_safety_doc)]

mod boundary;
pub mod client;
pub mod config;
pub mod error;
pub mod log;
pub mod messages;
pub mod quarantine;
pub mod result;
pub mod strings;
pub mod version;

pub use efm_core;
