//! `efm_client`: one configured DPO participant (our organisation).

use crate::boundary::{guard, out_arg, str_arg};
use crate::error::efm_error;
use crate::result::efm_result;
use crate::strings::give;
use efm_core::auth::Tokens;
use efm_core::config::Config;
use efm_core::http::Http;
use efm_core::ident::OrgNumber;
use efm_core::registry::Registry;
use efm_core::{Error, ErrorKind};
use std::ffi::c_char;
use std::sync::{Arc, Mutex};

/// A configured client. Create with efm_client_new(), release with efm_client_free().
pub struct efm_client {
    config: Config,
    /// Created on first use: loading the key and building the HTTP agent can fail, and a client
    /// that only validates or inspects needs neither.
    registry: Mutex<Option<Arc<Registry>>>,
    /// The message flows (state in the data directory), likewise created on first use.
    flows: Mutex<Option<Arc<efm_core::client::Client>>>,
}

impl efm_client {
    pub(crate) fn flows(&self) -> Result<Arc<efm_core::client::Client>, Error> {
        let mut slot = self.flows.lock().map_err(|_| {
            Error::new(
                ErrorKind::Internal,
                "client state poisoned by an earlier panic",
            )
        })?;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let client = Arc::new(efm_core::client::Client::new(self.config.clone())?);
        *slot = Some(client.clone());
        Ok(client)
    }

    fn registry(&self) -> Result<Arc<Registry>, Error> {
        let mut slot = self.registry.lock().map_err(|_| {
            Error::new(
                ErrorKind::Internal,
                "client state poisoned by an earlier panic",
            )
        })?;
        if let Some(r) = slot.as_ref() {
            return Ok(r.clone());
        }
        let tokens = Arc::new(Tokens::new(&self.config, Http::new(&self.config)?)?);
        let registry = Arc::new(Registry::new(
            &self.config,
            Http::new(&self.config)?,
            tokens,
        ));
        *slot = Some(registry.clone());
        Ok(registry)
    }
}

pub(crate) unsafe fn client_ref<'a>(client: *const efm_client) -> Result<&'a efm_client, Error> {
    client
        .as_ref()
        .ok_or_else(|| Error::new(ErrorKind::InvalidArgument, "argument `client` is NULL"))
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
        *client_out = Box::into_raw(Box::new(efm_client {
            config,
            registry: Mutex::new(None),
            flows: Mutex::new(None),
        }));
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
        let client = client
            .as_ref()
            .ok_or_else(|| Error::new(ErrorKind::InvalidArgument, "argument `client` is NULL"))?;
        *json_out = give(&client.config.summary_json().to_string());
        Ok(())
    })
}

/// Look up an organisation in the Service Registry: a Maskinporten token is fetched (and cached),
/// the signed answer is verified against the registry's key, and the capabilities are written as
/// JSON (`organisation_number`, `organisation_name`, `process`, `signed`, `capabilities[]` with
/// `process`, `service_identifier`, `document_types`, `service_code`, `service_edition_code`,
/// `certificate`, ...). `process` may be NULL for all processes. Release the JSON with
/// efm_string_free(). Errors: EFM_RESULT_RECEIVER_NOT_FOUND, EFM_RESULT_RECEIVER_LACKS_DPO, auth
/// and network codes. Safe to call from several threads on one client.
#[no_mangle]
pub unsafe extern "C" fn efm_client_lookup(
    client: *const efm_client,
    organisation_number: *const c_char,
    process: *const c_char,
    capabilities_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    guard(error, || {
        out_arg(capabilities_json_out, "capabilities_json_out")?;
        let client = client_ref(client)?;
        let org = OrgNumber::parse(str_arg(organisation_number, "organisation_number")?)
            .map_err(|e| e.with_field("organisation_number"))?;
        let process = if process.is_null() {
            None
        } else {
            Some(str_arg(process, "process")?)
        };
        let caps = client.registry()?.lookup(&org, process)?;
        let json = serde_json::to_string(&caps).map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("serialising capabilities: {e}"),
            )
        })?;
        *capabilities_json_out = give(&json);
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
