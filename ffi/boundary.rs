//! The panic boundary and argument helpers shared by every export.
//!
//! `guard` runs the body under `catch_unwind`: a panic in efm becomes `EFM_RESULT_PANIC` with an
//! error object, and the host process (an archive system's server) keeps running.

use crate::error::{efm_error, report};
use crate::result::efm_result;
use efm_core::{Error, ErrorKind};
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

static QUIET_PANICS: Once = Once::new();

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
    install_panic_hook();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => efm_result::Ok,
        Ok(Err(e)) => report(e, err_out),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            report(
                Error::new(
                    ErrorKind::Panic,
                    format!("internal error in efm (a bug; please report it): {what}"),
                ),
                err_out,
            )
        }
    }
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
        ));
    }
    CStr::from_ptr(ptr).to_str().map_err(|e| {
        Error::new(
            ErrorKind::InvalidUtf8,
            format!(
                "argument `{name}` is not valid UTF-8 (byte {})",
                e.valid_up_to()
            ),
        )
    })
}

/// Check that a required out-pointer is present.
pub(crate) fn out_arg<T>(ptr: *mut T, name: &str) -> Result<(), Error> {
    if ptr.is_null() {
        Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("output argument `{name}` is NULL"),
        ))
    } else {
        Ok(())
    }
}
