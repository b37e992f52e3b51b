//! Strings the library hands to the caller.

use crate::boundary::shield;
use crate::error::to_cstring;
use std::ffi::{c_char, CString};

/// Hand a string to the caller; they release it with efm_string_free().
pub(crate) fn give(s: &str) -> *mut c_char {
    to_cstring(s).into_raw()
}

/// Release a string that efm returned through a `char **` out-parameter. Accepts NULL.
#[no_mangle]
pub unsafe extern "C" fn efm_string_free(s: *mut c_char) {
    shield((), || {
        if !s.is_null() {
            // SAFETY: not NULL, and (header contract) a string efm returned through a `char **`
            // and not yet freed, so it came from CString::into_raw in `give`.
            drop(unsafe { CString::from_raw(s) });
        }
    })
}
