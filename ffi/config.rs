//! Configuration validation without creating a client.

use crate::boundary::{guard, put, str_arg};
use crate::error::efm_error;
use crate::result::efm_result;
use crate::strings::give;
use efm_core::config::Config;
use std::ffi::c_char;

/// Parse and validate a configuration document (JSON; README "Configuration",
/// schema/config.schema.json). On success, and when
/// `summary_json_out` is not NULL, writes the resolved configuration as JSON
/// (schema/config_summary.schema.json: absolute paths, URLs of the environment, no secrets; as
/// efm_client_config_json() describes it), to be released with efm_string_free().
#[no_mangle]
pub unsafe extern "C" fn efm_config_validate(
    config_json: *const c_char,
    summary_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    // SAFETY: `error` is NULL or writable (header contract).
    unsafe {
        guard(error, || {
            // SAFETY: a NUL-terminated string or NULL (header contract).
            let json = str_arg(config_json, "config_json")?;
            let config = Config::from_json(json)?;
            if !summary_json_out.is_null() {
                // SAFETY: not NULL; writable (header contract).
                put(summary_json_out, give(&config.summary_json().to_string()));
            }
            Ok(())
        })
    }
}
