//! `efm_client`: one configured DPO participant (our organisation).

use crate::boundary::{guard, out_arg, str_arg};
use crate::error::efm_error;
use crate::result::efm_result;
use crate::strings::give;
use efm_core::config::Config;
use std::ffi::c_char;

/// A configured client. Create with efm_client_new(), release with efm_client_free().
pub struct efm_client {
    config: Config,
}

/// Create a client from a configuration document (JSON). The configuration is validated as by
/// efm_config_validate(); nothing is contacted yet.
#[no_mangle]
pub unsafe extern "C" fn efm_client_new(
    config_json: *const c_char,
    client_out: *mut *mut efm_client,
    error: *mut *mut efm_error,
) -> efm_result {
    guard(error, || {
        out_arg(client_out, "client_out")?;
        let json = str_arg(config_json, "config_json")?;
        let config = Config::from_json(json)?;
        log::info!(
            "client created for organisation {} ({}, {:?})",
            config.organisation_number,
            config.environment.name(),
            config.transport
        );
        *client_out = Box::into_raw(Box::new(efm_client { config }));
        Ok(())
    })
}

/// The client's resolved configuration as JSON (no secrets). Release with efm_string_free().
#[no_mangle]
pub unsafe extern "C" fn efm_client_config_json(
    client: *const efm_client,
    json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    guard(error, || {
        out_arg(json_out, "json_out")?;
        let client = client.as_ref().ok_or_else(|| {
            efm_core::Error::new(
                efm_core::ErrorKind::InvalidArgument,
                "argument `client` is NULL",
            )
        })?;
        *json_out = give(&client.config.summary_json().to_string());
        Ok(())
    })
}

/// Release a client. Accepts NULL.
#[no_mangle]
pub unsafe extern "C" fn efm_client_free(client: *mut efm_client) {
    if !client.is_null() {
        drop(Box::from_raw(client));
    }
}
