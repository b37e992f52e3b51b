//! Version and ABI compatibility.

use crate::boundary::guard;
use crate::error::efm_error;
use crate::result::efm_result;
use std::ffi::c_char;

/// The ABI revision of this header. Bindings compare it with efm_abi_version() when they load the
/// library and refuse to run against a different one. Bumped on any incompatible change.
pub const EFM_ABI_VERSION: u32 = 2;

/// The library version, e.g. "0.1.0". Static; never NULL.
#[no_mangle]
pub extern "C" fn efm_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The ABI revision the loaded library implements (EFM_ABI_VERSION of the header it was built with).
#[no_mangle]
pub extern "C" fn efm_abi_version() -> u32 {
    EFM_ABI_VERSION
}

/// Deliberately panic inside the library, behind the same boundary as every other export. For
/// bindings and integrators to verify that a bug in efm returns EFM_RESULT_PANIC and leaves the
/// host process running. Always returns EFM_RESULT_PANIC.
#[no_mangle]
pub unsafe extern "C" fn efm_diagnostic_panic(error: *mut *mut efm_error) -> efm_result {
    // SAFETY: `error` is NULL or writable (header contract).
    unsafe { guard(error, || panic!("efm_diagnostic_panic was called")) }
}
