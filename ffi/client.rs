//! `efm_client`: one configured DPO participant (our organisation).

use crate::boundary::{guard, opt_str_arg, out_arg, put, shield, str_arg};
use crate::error::efm_error;
use crate::result::efm_result;
use crate::strings::give;
use efm_core::client::{Client, ClientContext, ClientOptions};
use efm_core::config::Config;
use efm_core::ident::OrgNumber;
use efm_core::registry::Registry;
use efm_core::{Error, ErrorKind};
use std::ffi::c_char;
use std::sync::{Arc, Mutex};

/// A configured client. Create with efm_client_new(), release with efm_client_free().
pub struct efm_client {
    config: Config,
    /// Our key, the HTTP agent, the token cache and the registry cache, shared by lookups and the
    /// message flows. Created on first use: loading the key and building the HTTP agent can fail,
    /// and a client that only validates or inspects needs neither.
    context: Mutex<Option<ClientContext>>,
    /// The message flows (state in the data directory), likewise created on first use.
    flows: Mutex<Option<Arc<Client>>>,
}

/// The value in `slot`, made by `make` the first time. A panic in an earlier `make` (caught at
/// the boundary) leaves the slot empty, so its poisoned lock is taken over rather than making the
/// client unusable for the rest of the process.
fn get_or_make<T: Clone>(
    slot: &Mutex<Option<T>>,
    make: impl FnOnce() -> Result<T, Error>,
) -> Result<T, Error> {
    let mut slot = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(value) = slot.as_ref() {
        return Ok(value.clone());
    }
    let value = make()?;
    *slot = Some(value.clone());
    Ok(value)
}

impl efm_client {
    fn context(&self) -> Result<ClientContext, Error> {
        get_or_make(&self.context, || ClientContext::new(&self.config))
    }

    pub(crate) fn flows(&self) -> Result<Arc<Client>, Error> {
        get_or_make(&self.flows, || {
            let context = self.context()?;
            Ok(Arc::new(Client::with_context(
                self.config.clone(),
                &context,
                ClientOptions::default(),
            )?))
        })
    }

    fn registry(&self) -> Result<Arc<Registry>, Error> {
        Ok(self.context()?.registry().clone())
    }
}

/// Borrow the client behind a pointer from C.
///
/// # Safety
/// `client` is NULL or a pointer from efm_client_new() not yet freed.
pub(crate) unsafe fn client_ref<'a>(client: *const efm_client) -> Result<&'a efm_client, Error> {
    // SAFETY: NULL or a live client (this function's contract).
    unsafe { client.as_ref() }.ok_or_else(|| {
        Error::new(ErrorKind::InvalidArgument, "argument `client` is NULL").with_field("client")
    })
}

/// Create a client from a configuration document (JSON). The configuration is validated as by
/// efm_config_validate(); nothing is contacted yet. With several organisations in the
/// configuration (`"organisations"`) the client acts for the first; see
/// efm_client_new_for_organisation().
#[no_mangle]
pub unsafe extern "C" fn efm_client_new(
    config_json: *const c_char,
    client_out: *mut *mut efm_client,
    error: *mut *mut efm_error,
) -> efm_result {
    // SAFETY: the caller's pointers, passed on under the same contract.
    unsafe { efm_client_new_for_organisation(config_json, std::ptr::null(), client_out, error) }
}

/// Create a client acting for one of the organisations a configuration names (its top-level
/// `organisation_number` or an entry of `"organisations"`): it sends and receives as that
/// organisation, with its credentials, in the store the organisations share, and sees only that
/// organisation's messages, queue, statuses and quarantine. `organisation_number` NULL: the
/// first, as efm_client_new(). EFM_RESULT_CONFIG_INVALID (field `organisation_number`) when the
/// configuration does not name it. One client per organisation, in one process or several.
#[no_mangle]
pub unsafe extern "C" fn efm_client_new_for_organisation(
    config_json: *const c_char,
    organisation_number: *const c_char,
    client_out: *mut *mut efm_client,
    error: *mut *mut efm_error,
) -> efm_result {
    // SAFETY: `error` is NULL or writable (header contract).
    unsafe {
        guard(error, || {
            out_arg(client_out, "client_out")?;
            // SAFETY: a NUL-terminated string or NULL (header contract).
            let json = str_arg(config_json, "config_json")?;
            // SAFETY: a NUL-terminated string or NULL (header contract).
            let org = opt_str_arg(organisation_number, "organisation_number")?;
            let mut config = Config::from_json(json)?;
            if let Some(org) = org {
                config = config.for_organisation(org)?;
            }
            log::info!(
                "client created for organisation {} ({}, {:?})",
                config.organisation_number,
                config.environment.name(),
                config.transport
            );
            let client = Box::into_raw(Box::new(efm_client {
                config,
                context: Mutex::new(None),
                flows: Mutex::new(None),
            }));
            // SAFETY: checked by out_arg; writable (header contract).
            put(client_out, client);
            Ok(())
        })
    }
}

/// The client's resolved configuration as JSON (schema/config_summary.schema.json; no secrets):
/// `organisation_number`, `environment`, `transport`, absolute `data_dir`, `client_id`, `key`
/// (the `pkcs12` file and where its password comes from, never the password, or the PEM files),
/// `kid`, `system_user`, `message_channel`, `proxy`, `timeouts` and the `urls` it calls; with
/// several organisations in the configuration, `organisations` lists each (its number, client id,
/// key, kid, system user and message channel).
/// Release with efm_string_free().
#[no_mangle]
pub unsafe extern "C" fn efm_client_config_json(
    client: *const efm_client,
    json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    // SAFETY: `error` is NULL or writable (header contract).
    unsafe {
        guard(error, || {
            out_arg(json_out, "json_out")?;
            // SAFETY: NULL or a live client (header contract).
            let client = client_ref(client)?;
            // SAFETY: checked by out_arg; writable (header contract).
            put(json_out, give(&client.config.summary_json().to_string()));
            Ok(())
        })
    }
}

/// Look up an organisation in the Service Registry: a Maskinporten token is fetched (and cached),
/// the signed answer is verified against the registry's key, and the capabilities are written as
/// JSON (`organisation_number`, `organisation_name`, `entity_type`, `postal_address`, `process`,
/// `signed`, `capabilities` (one per process: `process`, `service_identifier`, `document_types`,
/// `service_code`, `service_edition_code`, `certificate`, ...); schema/capabilities.schema.json).
/// `process` may be NULL for all processes. Release the JSON with efm_string_free(). Errors: EFM_RESULT_RECEIVER_NOT_FOUND, EFM_RESULT_RECEIVER_LACKS_DPO, auth
/// and network codes. Safe to call from several threads on one client.
#[no_mangle]
pub unsafe extern "C" fn efm_client_lookup(
    client: *const efm_client,
    organisation_number: *const c_char,
    process: *const c_char,
    capabilities_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    // SAFETY: `error` is NULL or writable (header contract).
    unsafe {
        guard(error, || {
            out_arg(capabilities_json_out, "capabilities_json_out")?;
            // SAFETY: NULL or a live client (header contract).
            let client = client_ref(client)?;
            // SAFETY: NUL-terminated strings or NULL (header contract).
            let org = OrgNumber::parse(str_arg(organisation_number, "organisation_number")?)
                .map_err(|e| e.with_field("organisation_number"))?;
            // SAFETY: as above.
            let process = opt_str_arg(process, "process")?;
            let caps = client.registry()?.lookup(&org, process)?;
            let json = serde_json::to_string(&caps).map_err(|e| {
                Error::new(
                    ErrorKind::Internal,
                    format!("serialising capabilities: {e}"),
                )
            })?;
            // SAFETY: checked by out_arg; writable (header contract).
            put(capabilities_json_out, give(&json));
            Ok(())
        })
    }
}

/// Release a client. Accepts NULL. No other thread may be inside a call on it.
#[no_mangle]
pub unsafe extern "C" fn efm_client_free(client: *mut efm_client) {
    shield((), || {
        if !client.is_null() {
            // SAFETY: not NULL, and (header contract) a client from efm_client_new() not yet freed
            // and not in use, so it came from Box::into_raw there.
            drop(unsafe { Box::from_raw(client) });
        }
    })
}
