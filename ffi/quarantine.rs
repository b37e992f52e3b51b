//! The quarantine on a client: packages that were downloaded but could not be read, messages
//! that could not be opened, statuses that were not applied. Entries cross as JSON (efm-core's
//! `QuarantineEntry`, `RetryOutcome`; schema/quarantine.schema.json,
//! schema/quarantine_retry.schema.json).

use crate::boundary::{guard, str_arg};
use crate::client::{client_ref, efm_client};
use crate::error::efm_error;
use crate::messages::answer;
use crate::result::efm_result;
use std::ffi::c_char;
use std::path::Path;

/// Everything in quarantine, oldest first: `[{"id": 1, "kind": "UNREADABLE"|"UNOPENABLE"|
/// "IGNORED", "transfer_id", "message_id", "sender" (as the broker authenticated it), "reason",
/// "code", "payload" (the kept package), "size", "created"}, ...]`
/// (schema/quarantine.schema.json).
#[no_mangle]
pub unsafe extern "C" fn efm_client_quarantine(
    client: *const efm_client,
    entries_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    // SAFETY: pointers as the header documents them.
    unsafe {
        answer(client, entries_json_out, "entries_json_out", error, |c| {
            c.quarantine()
        })
    }
}

/// Copy the package of quarantine entry `id`, as downloaded, to `dest_path` (which must not
/// exist).
#[no_mangle]
pub unsafe extern "C" fn efm_client_quarantine_export(
    client: *const efm_client,
    id: i64,
    dest_path: *const c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    // SAFETY: pointers as the header documents them.
    unsafe {
        guard(error, || {
            let dest = Path::new(str_arg(dest_path, "dest_path")?);
            client_ref(client)?.flows()?.quarantine_export(id, dest)?;
            Ok(())
        })
    }
}

/// Try quarantine entry `id` again: read the package anew, put the message back in the queue,
/// or judge the status anew. Writes the outcome: `{"outcome": "received"|"requeued"|"applied"|
/// "duplicate"|"still_refused", "message_id" or "reason"}` (schema/quarantine_retry.schema.json).
#[no_mangle]
pub unsafe extern "C" fn efm_client_quarantine_retry(
    client: *const efm_client,
    id: i64,
    outcome_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    // SAFETY: pointers as the header documents them.
    unsafe {
        answer(client, outcome_json_out, "outcome_json_out", error, |c| {
            c.quarantine_retry(id)
        })
    }
}

/// Delete quarantine entry `id` and its kept package.
#[no_mangle]
pub unsafe extern "C" fn efm_client_quarantine_delete(
    client: *const efm_client,
    id: i64,
    error: *mut *mut efm_error,
) -> efm_result {
    // SAFETY: pointers as the header documents them.
    unsafe {
        guard(error, || {
            client_ref(client)?.flows()?.quarantine_delete(id)?;
            Ok(())
        })
    }
}
