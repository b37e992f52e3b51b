//! `efm_error`: an owned error object with message and structured detail, in the manner of
//! wasmtime's `wasmtime_error_t` (no thread-local "last error").

use crate::boundary::shield;
use crate::result::efm_result;
use efm_core::Error;
use std::ffi::{c_char, CString};

/// An error returned by an efm function. Owned by the caller; release with efm_error_free().
pub struct efm_error {
    code: efm_result,
    message: CString,
    detail_json: CString,
    http_status: u16,
    remote_code: Option<CString>,
    field: Option<CString>,
    retryable: bool,
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
            http_status: err.detail().http_status.unwrap_or(0),
            remote_code: err.detail().remote_code.as_deref().map(to_cstring),
            field: err.detail().field.as_deref().map(to_cstring),
            retryable: err.retryable(),
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
        let boxed = Box::into_raw(Box::new(efm_error::from_core(&err)));
        // SAFETY: not NULL (checked) and writable (this function's contract).
        unsafe { out.write(boxed) };
    }
    code
}

/// Borrow the error behind a pointer from C.
///
/// # Safety
/// `error` is NULL or a pointer returned by efm and not yet freed.
unsafe fn borrow<'a>(error: *const efm_error) -> Option<&'a efm_error> {
    // SAFETY: NULL or a live efm_error (the contract of every accessor below).
    unsafe { error.as_ref() }
}

/// The result code of an error (never EFM_RESULT_OK). Returns EFM_RESULT_INVALID_ARGUMENT for NULL.
#[no_mangle]
pub unsafe extern "C" fn efm_error_code(error: *const efm_error) -> efm_result {
    // SAFETY: the C caller passes NULL or an error efm gave it (header contract).
    shield(efm_result::Panic, || match unsafe { borrow(error) } {
        Some(e) => e.code,
        None => efm_result::InvalidArgument,
    })
}

/// A human-readable message: what failed, with which input, and what to do. Borrowed from the
/// error; valid until efm_error_free(). Never NULL (an empty string for a NULL error). Caller
/// input is quoted only in part (at most 64 characters) and values of secret-bearing members
/// never.
#[no_mangle]
pub unsafe extern "C" fn efm_error_message(error: *const efm_error) -> *const c_char {
    // SAFETY: the C caller passes NULL or an error efm gave it (header contract).
    shield(c"".as_ptr(), || match unsafe { borrow(error) } {
        Some(e) => e.message.as_ptr(),
        None => c"".as_ptr(),
    })
}

/// Structured detail as a JSON object: {"code", "kind", "group", "retryable", "http_status",
/// "remote_code", "field", "retry_after_secs"} (absent facts are null). Borrowed from the error;
/// valid until efm_error_free(). Never NULL ("{}" for a NULL error).
#[no_mangle]
pub unsafe extern "C" fn efm_error_detail_json(error: *const efm_error) -> *const c_char {
    // SAFETY: the C caller passes NULL or an error efm gave it (header contract).
    shield(c"{}".as_ptr(), || match unsafe { borrow(error) } {
        Some(e) => e.detail_json.as_ptr(),
        None => c"{}".as_ptr(),
    })
}

/// The HTTP status of the remote answer behind the error, or 0 when there was none.
#[no_mangle]
pub unsafe extern "C" fn efm_error_http_status(error: *const efm_error) -> u16 {
    // SAFETY: the C caller passes NULL or an error efm gave it (header contract).
    shield(0, || unsafe { borrow(error) }.map_or(0, |e| e.http_status))
}

/// The remote service's own error code (`invalid_grant`, `MP-250`, `BRO-00006`, ...), or NULL.
/// Borrowed from the error; valid until efm_error_free().
#[no_mangle]
pub unsafe extern "C" fn efm_error_remote_code(error: *const efm_error) -> *const c_char {
    shield(std::ptr::null(), || {
        // SAFETY: the C caller passes NULL or an error efm gave it (header contract).
        unsafe { borrow(error) }
            .and_then(|e| e.remote_code.as_ref())
            .map_or(std::ptr::null(), |s| s.as_ptr())
    })
}

/// The input field or configuration key at fault (`organisation_number`, `credentials.pkcs12`,
/// `documents[0].path`), or NULL when the error is not about one field. Borrowed from the error;
/// valid until efm_error_free().
#[no_mangle]
pub unsafe extern "C" fn efm_error_field(error: *const efm_error) -> *const c_char {
    shield(std::ptr::null(), || {
        // SAFETY: the C caller passes NULL or an error efm gave it (header contract).
        unsafe { borrow(error) }
            .and_then(|e| e.field.as_ref())
            .map_or(std::ptr::null(), |s| s.as_ptr())
    })
}

/// Whether the same call may succeed if tried again later (network trouble, 429, 503).
#[no_mangle]
pub unsafe extern "C" fn efm_error_retryable(error: *const efm_error) -> bool {
    shield(false, || {
        // SAFETY: the C caller passes NULL or an error efm gave it (header contract).
        unsafe { borrow(error) }.is_some_and(|e| e.retryable)
    })
}

/// Release an error. Accepts NULL.
#[no_mangle]
pub unsafe extern "C" fn efm_error_free(error: *mut efm_error) {
    shield((), || {
        if !error.is_null() {
            // SAFETY: not NULL, and (header contract) a pointer efm returned and not yet freed,
            // so it came from Box::into_raw in `report`.
            drop(unsafe { Box::from_raw(error) });
        }
    })
}
