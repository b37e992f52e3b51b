//! The panic boundary and argument helpers shared by every export.
//!
//! `guard` runs the body of a fallible export under `catch_unwind`: a panic in efm becomes
//! `EFM_RESULT_PANIC` with an error object, and the host process (an archive system's server)
//! keeps running. `shield` does the same for the exports that return a plain value (accessors,
//! `_free` functions, the logger): a panic there yields a documented fallback value.

use crate::error::{efm_error, report};
use crate::result::efm_result;
use efm_core::{Error, ErrorKind};
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

static QUIET_PANICS: Once = Once::new();

/// What every export does first: the process-wide setup of this library.
fn start() {
    install_panic_hook();
    crate::openssl_init::start_without_config();
    crate::windows_proxy::install();
}

/// Route panic reports to the log callback instead of the host's stderr. This library carries its
/// own copy of Rust's std, so the hook affects only panics inside efm, never the host's.
fn install_panic_hook() {
    QUIET_PANICS.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let place = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            log::error!("panic inside efm{place}: {info}");
        }));
    });
}

/// Run `body`, turning its error or a panic into a result code and an optional error object.
///
/// # Safety
/// `err_out` is NULL or valid for a write of one pointer.
pub(crate) unsafe fn guard(
    err_out: *mut *mut efm_error,
    body: impl FnOnce() -> Result<(), Error>,
) -> efm_result {
    start();
    let outcome = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return efm_result::Ok,
        Ok(Err(e)) => e,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Error::new(
                ErrorKind::Panic,
                format!("internal error in efm (a bug; please report it): {what}"),
            )
        }
    };
    // Building the error object allocates; should even that panic, the code alone still goes back.
    // SAFETY: the caller guarantees `err_out` is NULL or writable (this function's contract).
    catch_unwind(AssertUnwindSafe(|| unsafe { report(outcome, err_out) }))
        .unwrap_or(efm_result::Panic)
}

/// Run the body of an export that has no error out-parameter; a panic yields `fallback`.
pub(crate) fn shield<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    start();
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// Borrow a required C string argument as UTF-8.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives the returned borrow.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Error> {
    if ptr.is_null() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("argument `{name}` is NULL"),
        )
        .with_field(name));
    }
    // SAFETY: not NULL (checked above), NUL-terminated and alive for 'a (the caller's contract).
    let c = unsafe { CStr::from_ptr(ptr) };
    c.to_str().map_err(|e| {
        Error::new(
            ErrorKind::InvalidUtf8,
            format!(
                "argument `{name}` is not valid UTF-8 (byte {})",
                e.valid_up_to()
            ),
        )
        .with_field(name)
    })
}

/// Borrow an optional C string argument (NULL means absent).
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(
    ptr: *const c_char,
    name: &str,
) -> Result<Option<&'a str>, Error> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded contract of this function.
    unsafe { str_arg(ptr, name) }.map(Some)
}

/// Parse a JSON argument strictly: unknown members, wrong types and out-of-range numbers are
/// errors naming the member; values are never echoed.
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn json_arg<T: serde::de::DeserializeOwned>(
    ptr: *const c_char,
    name: &str,
) -> Result<T, Error> {
    // SAFETY: forwarded contract of this function.
    let text = unsafe { str_arg(ptr, name) }?;
    efm_core::input::parse_json(text, name, ErrorKind::InvalidArgument)
}

/// Check that a required out-pointer is present.
pub(crate) fn out_arg<T>(ptr: *mut T, name: &str) -> Result<(), Error> {
    if ptr.is_null() {
        Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("output argument `{name}` is NULL"),
        )
        .with_field(name))
    } else {
        Ok(())
    }
}

/// Write a value through an out-pointer that [`out_arg`] (or a NULL check) has approved.
///
/// # Safety
/// `ptr` is not NULL and valid for a write of one `T`.
pub(crate) unsafe fn put<T>(ptr: *mut T, value: T) {
    // SAFETY: the caller checked `ptr` (not NULL) and the C caller promised it is writable.
    unsafe { ptr.write(value) }
}
