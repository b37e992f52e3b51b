//! The C ABI of efm (`include/efm.h`). Thin by design: argument checking, ownership and the panic
//! boundary live here; everything that knows eFormidling lives in efm-core.
//!
//! Layout: `result` (the stable codes), `error` (owned error objects), `boundary` (catch_unwind and
//! pointer helpers), `strings`, `log` (the log callback bridge), `version`, `config`, `client`
//! (the handle, lookups), `messages` (send, poll, peek/pop/delete, statuses).
#![allow(non_camel_case_types)]
// Every export that takes a pointer is `unsafe extern "C"`: the caller passes NULL or a valid
// pointer (a handle only from its constructor), which the header's conventions state once instead
// of a `# Safety` section per function. Each export checks for NULL before use.
#![allow(clippy::missing_safety_doc)]

mod boundary;
pub mod client;
pub mod config;
pub mod error;
pub mod log;
pub mod messages;
pub mod result;
pub mod strings;
pub mod version;

pub use efm_core;
