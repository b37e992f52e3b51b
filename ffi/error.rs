//! `efm_error`: an owned error object with message and structured detail, in the manner of
//! wasmtime's `wasmtime_error_t` (no thread-local "last error").

use crate::result::efm_result;
use efm_core::Error;
use std::ffi::{c_char, CString};

/// An error returned by an efm function. Owned by the caller; release with efm_error_free().
pub struct efm_error {
    code: efm_result,
    message: CString,
    detail_json: CString,
}

/// Turn text into a C string, replacing interior NULs so nothing is silently cut off.
pub(crate) fn to_cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default()
}

impl efm_error {
    pub(crate) fn from_core(err: &Error) -> efm_error {
        efm_error {
            code: err.kind().into(),
            message: to_cstring(err.message()),
            detail_json: to_cstring(&err.detail_json().to_string()),
        }
    }
}

/// Store `err` in `*out` when the caller asked for it, and return its code.
///
/// # Safety
/// `out` is NULL or valid for a write of one pointer.
pub(crate) unsafe fn report(err: Error, out: *mut *mut efm_error) -> efm_result {
    let code = err.kind().into();
    if !out.is_null() {
        *out = Box::into_raw(Box::new(efm_error::from_core(&err)));
    }
    code
}

/// The result code of an error (never EFM_RESULT_OK). Returns EFM_RESULT_INVALID_ARGUMENT for NULL.
#[no_mangle]
pub unsafe extern "C" fn efm_error_code(error: *const efm_error) -> efm_result {
    match error.as_ref() {
        Some(e) => e.code,
        None => efm_result::InvalidArgument,
    }
}

/// A human-readable message: what failed, with which input, and what to do. Borrowed from the
/// error; valid until efm_error_free(). Never NULL (an empty string for a NULL error).
#[no_mangle]
pub unsafe extern "C" fn efm_error_message(error: *const efm_error) -> *const c_char {
    match error.as_ref() {
        Some(e) => e.message.as_ptr(),
        None => c"".as_ptr(),
    }
}

/// Structured detail as a JSON object: {"code", "kind", "group", "retryable", "http_status",
/// "remote_code", "field", "retry_after_secs"} (absent facts are null). Borrowed from the error;
/// valid until efm_error_free(). Never NULL ("{}" for a NULL error).
#[no_mangle]
pub unsafe extern "C" fn efm_error_detail_json(error: *const efm_error) -> *const c_char {
    match error.as_ref() {
        Some(e) => e.detail_json.as_ptr(),
        None => c"{}".as_ptr(),
    }
}

/// Release an error. Accepts NULL.
#[no_mangle]
pub unsafe extern "C" fn efm_error_free(error: *mut efm_error) {
    if !error.is_null() {
        drop(Box::from_raw(error));
    }
}
