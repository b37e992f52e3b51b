//! The message flows on a client: send, poll, peek/pop/delete, statuses. Metadata crosses as JSON
//! (the serde forms of efm-core's `SendRequest`, `MessageInfo`, `PollSummary`, `IncomingMessage`,
//! `OpenedMessage`, `StatusEntry`, `MessageFilter`); documents cross as file paths.

use crate::boundary::{guard, out_arg, str_arg};
use crate::client::{client_ref, efm_client};
use crate::error::efm_error;
use crate::result::efm_result;
use crate::strings::give;
use efm_core::client::{Client, SendRequest};
use efm_core::store::MessageFilter;
use efm_core::{Error, ErrorKind};
use serde::Serialize;
use std::ffi::{c_char, c_void};
use std::path::Path;

/// Reports the progress of a long transfer: `done` of `total` bytes (`total` 0 when unknown).
/// Called on the thread that made the efm call.
pub type efm_progress_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, done: u64, total: u64)>;

/// The caller's progress callback as a Rust closure (a no-op for NULL).
fn reporter(progress: efm_progress_callback, userdata: *mut c_void) -> impl FnMut(u64, u64) {
    move |done, total| {
        if let Some(cb) = progress {
            // SAFETY: the caller promised a callback valid for the duration of this call.
            unsafe { cb(userdata, done, total) };
        }
    }
}

/// The common shape of these exports: check the out-pointer, run `call` on the client's flows
/// and hand its answer to the caller as JSON.
unsafe fn answer<T: Serialize>(
    client: *const efm_client,
    out: *mut *mut c_char,
    out_name: &str,
    error: *mut *mut efm_error,
    call: impl FnOnce(&Client) -> Result<T, Error>,
) -> efm_result {
    guard(error, || {
        out_arg(out, out_name)?;
        let flows = client_ref(client)?.flows()?;
        let value = call(&flows)?;
        *out = give(&to_json(&value)?);
        Ok(())
    })
}

fn to_json<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("serialising the answer: {e}")))
}

fn parse<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> Result<T, Error> {
    serde_json::from_str(json).map_err(|e| {
        Error::new(
            ErrorKind::InvalidJson,
            format!(
                "{what} is not valid: {e} (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })
}

/// Send one message. `request_json` is either `{"sbd": {...}, "documents": [...]}` or the fields
/// of an arkivmelding: `{"receiver": "910076787", "process": "urn:...", "documents":
/// [{"name": "arkivmelding.xml", "path": "/path/arkivmelding.xml"}, {"name": "brev.pdf", "path":
/// "..."}], "conversation_id", "message_id", "ttl_secs", "sender_ref", "receiver_ref"}` (all but
/// `receiver` and `documents` optional). The receiver is looked up, the message recorded
/// (OPPRETTET), packed, encrypted and uploaded (SENDT). On success `message_json_out` receives the
/// message (message_id, conversation_id, status, ...). On failure the message, if it got that far,
/// is recorded as FEIL and can be sent again with efm_client_resend(). `progress` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn efm_client_send(
    client: *const efm_client,
    request_json: *const c_char,
    progress: efm_progress_callback,
    userdata: *mut c_void,
    message_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    answer(client, message_json_out, "message_json_out", error, |c| {
        let request: SendRequest = parse(str_arg(request_json, "request_json")?, "request_json")?;
        c.send(request, &mut reporter(progress, userdata))
    })
}

/// Send again a message that failed (FEIL) or was never uploaded, from its stored package.
#[no_mangle]
pub unsafe extern "C" fn efm_client_resend(
    client: *const efm_client,
    message_id: *const c_char,
    progress: efm_progress_callback,
    userdata: *mut c_void,
    message_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    answer(client, message_json_out, "message_json_out", error, |c| {
        c.resend(
            str_arg(message_id, "message_id")?,
            &mut reporter(progress, userdata),
        )
    })
}

/// Fetch what waits at the broker: new messages go to the incoming queue (INNKOMMENDE_MOTTATT,
/// MOTTATT sent back), statuses and receipts update our outgoing messages. Writes a summary
/// (`received` message ids, `statuses`, `duplicates`, `discarded`, `recovered`, `receipts_sent`).
#[no_mangle]
pub unsafe extern "C" fn efm_client_poll(
    client: *const efm_client,
    summary_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    answer(client, summary_json_out, "summary_json_out", error, |c| {
        c.poll()
    })
}

/// The oldest message in the incoming queue, locked for this caller, as JSON (with its SBD); or,
/// when the queue is empty, success with `*message_json_out` set to NULL.
#[no_mangle]
pub unsafe extern "C" fn efm_client_peek(
    client: *const efm_client,
    message_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    guard(error, || {
        out_arg(message_json_out, "message_json_out")?;
        let next = client_ref(client)?.flows()?.peek()?;
        *message_json_out = match next {
            Some(m) => give(&to_json(&m)?),
            None => std::ptr::null_mut(),
        };
        Ok(())
    })
}

/// Decrypt, verify and unpack a peeked message into `target_dir`; writes the message with its
/// `files` (name, path, mime, size) and `signer`. A package that cannot be opened (damaged,
/// tampered, not for us) fails with a package or crypto code, gets status FEIL and leaves the
/// queue; its file is kept for inspection (`payload` in efm_client_messages()).
#[no_mangle]
pub unsafe extern "C" fn efm_client_pop(
    client: *const efm_client,
    message_id: *const c_char,
    target_dir: *const c_char,
    opened_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    answer(client, opened_json_out, "opened_json_out", error, |c| {
        let id = str_arg(message_id, "message_id")?;
        c.pop(id, Path::new(str_arg(target_dir, "target_dir")?))
    })
}

/// Remove a message from the incoming queue once the archive has it: INNKOMMENDE_LEVERT, and
/// LEVERT goes back to the sender. `message_json_out` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn efm_client_delete(
    client: *const efm_client,
    message_id: *const c_char,
    message_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    guard(error, || {
        let client = client_ref(client)?;
        let id = str_arg(message_id, "message_id")?;
        let info = client.flows()?.delete(id)?;
        if !message_json_out.is_null() {
            *message_json_out = give(&to_json(&info)?);
        }
        Ok(())
    })
}

/// The status history of a message (oldest first): `[{"status": "OPPRETTET", "time": ...,
/// "description": ...}, ...]`.
#[no_mangle]
pub unsafe extern "C" fn efm_client_status(
    client: *const efm_client,
    message_id: *const c_char,
    history_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    answer(client, history_json_out, "history_json_out", error, |c| {
        c.status(str_arg(message_id, "message_id")?)
    })
}

/// Messages matching `filter_json` (`{"direction": "outgoing"|"incoming", "conversation_id",
/// "message_id", "status": "LEVERT", "limit": 50}`, all optional; NULL for all), newest first.
#[no_mangle]
pub unsafe extern "C" fn efm_client_messages(
    client: *const efm_client,
    filter_json: *const c_char,
    messages_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    answer(client, messages_json_out, "messages_json_out", error, |c| {
        let filter: MessageFilter = if filter_json.is_null() {
            MessageFilter::default()
        } else {
            parse(str_arg(filter_json, "filter_json")?, "filter_json")?
        };
        c.messages(&filter)
    })
}

/// Mark outgoing messages whose deadline passed without MOTTATT as LEVETID_UTLOPT; writes the
/// ids marked (a JSON array).
#[no_mangle]
pub unsafe extern "C" fn efm_client_expire(
    client: *const efm_client,
    expired_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    answer(client, expired_json_out, "expired_json_out", error, |c| {
        c.expire()
    })
}
