//! The message flows on a client: send, poll, peek/pop/delete, statuses. Metadata crosses as JSON
//! (the serde forms of efm-core's `SendRequest`, `MessageInfo`, `PollSummary`, `IncomingMessage`,
//! `OpenedMessage`, `StatusEntry`, `MessageFilter`; schemas in `schema/`); documents cross as file
//! paths.

use crate::boundary::{guard, json_arg, out_arg, put, str_arg};
use crate::client::{client_ref, efm_client};
use crate::error::efm_error;
use crate::result::efm_result;
use crate::strings::give;
use efm_core::client::{Client, SendRequest};
use efm_core::progress::Phase;
use efm_core::store::MessageFilter;
use efm_core::transport::{request_cancel, reset_cancel};
use efm_core::{Error, ErrorKind};
use serde::Serialize;
use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::path::Path;

/// Reports the progress of a long transfer: `done` of `total` bytes (`total` 0 when unknown).
/// Called on the thread that made the efm call. Return true to go on, false to cancel: the call
/// then stops at its next read or write and fails with EFM_RESULT_CANCELLED (a send is recorded
/// as FEIL; cancelled while uploading it can be sent again with efm_client_resend(), while packing,
/// the first part of a send's progress, it has no package and is sent anew); no further report follows a false. Every
/// report comes from inside a read or write, so even the last one (`done == total`) can still cancel.
pub type efm_progress_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, done: u64, total: u64) -> bool>;

/// The caller's progress callback as a Rust closure (a no-op for NULL). `cancelled` records
/// whether it asked to stop.
fn reporter<'a>(
    progress: efm_progress_callback,
    userdata: *mut c_void,
    cancelled: &'a Cell<bool>,
) -> impl FnMut(u64, u64) + 'a {
    reset_cancel();
    move |done, total| {
        // Once the caller asked to stop, it hears no more reports (packing may report again
        // before the stop takes effect at its next read or write).
        if cancelled.get() {
            return;
        }
        if let Some(cb) = progress {
            // SAFETY: the caller promised a callback valid for the duration of this call, and
            // it runs on the caller's own thread.
            if !unsafe { cb(userdata, done, total) } {
                cancelled.set(true);
                request_cancel();
            }
        }
    }
}

/// What a send is busy with, as efm_phase_callback reports it.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum efm_phase {
    /// Building the package: documents read, hashed, compressed where it pays, signed and
    /// encrypted. Encryption streams behind the packing in the same pass, so it is part of this
    /// phase. `done`/`total` count document bytes.
    Packing = 1,
    /// Sending the package to the broker. `done`/`total` count package bytes.
    Uploading = 2,
}

/// Reports the progress of a send by phase: first EFM_PHASE_PACKING, then EFM_PHASE_UPLOADING,
/// each with its own `done` of `total` bytes (`total` 0 when unknown). Called on the thread that
/// made the efm call. Return true to go on, false to cancel, as with efm_progress_callback.
pub type efm_phase_callback = Option<
    unsafe extern "C" fn(userdata: *mut c_void, phase: efm_phase, done: u64, total: u64) -> bool,
>;

/// Run a transfer with the caller's progress callback; a failure after the callback asked to
/// stop is reported as EFM_RESULT_CANCELLED.
fn with_progress<T>(
    progress: efm_progress_callback,
    userdata: *mut c_void,
    call: impl FnOnce(&mut dyn FnMut(u64, u64)) -> Result<T, Error>,
) -> Result<T, Error> {
    let cancelled = Cell::new(false);
    let result = call(&mut reporter(progress, userdata, &cancelled));
    cancelled_as_such(result, &cancelled)
}

/// [`with_progress`] for a callback by phase.
fn with_phases<T>(
    progress: efm_phase_callback,
    userdata: *mut c_void,
    call: impl FnOnce(&mut dyn FnMut(Phase, u64, u64)) -> Result<T, Error>,
) -> Result<T, Error> {
    let cancelled = Cell::new(false);
    reset_cancel();
    let mut report = |phase: Phase, done: u64, total: u64| {
        let phase = match phase {
            Phase::Packing => efm_phase::Packing,
            Phase::Uploading => efm_phase::Uploading,
            // A send does not download.
            Phase::Downloading => return,
        };
        // As in `reporter`: no report after the caller asked to stop.
        if cancelled.get() {
            return;
        }
        if let Some(cb) = progress {
            // SAFETY: as in `reporter`.
            if !unsafe { cb(userdata, phase, done, total) } {
                cancelled.set(true);
                request_cancel();
            }
        }
    };
    let result = call(&mut report);
    cancelled_as_such(result, &cancelled)
}

/// A failure after the callback asked to stop is EFM_RESULT_CANCELLED.
fn cancelled_as_such<T>(result: Result<T, Error>, cancelled: &Cell<bool>) -> Result<T, Error> {
    reset_cancel();
    match result {
        Err(e) if cancelled.get() => Err(Error::new(
            ErrorKind::Cancelled,
            format!("cancelled by the progress callback ({e})"),
        )),
        other => other,
    }
}

/// The common shape of these exports: check the out-pointer, run `call` on the client's flows
/// and hand its answer to the caller as JSON.
///
/// # Safety
/// `client` is NULL or live, `out` NULL or writable, `error` NULL or writable.
pub(crate) unsafe fn answer<T: Serialize>(
    client: *const efm_client,
    out: *mut *mut c_char,
    out_name: &str,
    error: *mut *mut efm_error,
    call: impl FnOnce(&Client) -> Result<T, Error>,
) -> efm_result {
    // SAFETY: forwarded contract of this function.
    unsafe {
        guard(error, || {
            out_arg(out, out_name)?;
            let flows = client_ref(client)?.flows()?;
            let value = call(&flows)?;
            put(out, give(&to_json(&value)?));
            Ok(())
        })
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("serialising the answer: {e}")))
}

/// Send one message. `request_json` is either `{"sbd": {...}, "documents": [...]}` or the fields
/// of an arkivmelding: `{"receiver": "910076787", "process": "urn:...", "documents":
/// [{"name": "arkivmelding.xml", "path": "/path/arkivmelding.xml"}, {"name": "brev.pdf", "path":
/// "..."}], "conversation_id", "message_id", "ttl_secs", "sender_ref", "receiver_ref",
/// "hoveddokument"}` (all but `receiver` and `documents` optional; `hoveddokument` names the
/// primary document, default arkivmelding.xml; schema/send_request.schema.json). Unknown members, wrong
/// types and out-of-range numbers (`ttl_secs` beyond ten years) fail with
/// EFM_RESULT_INVALID_ARGUMENT naming the member in efm_error_field()
/// (`sbd.standardBusinessDocumentHeader.businessScope.scope[0].identifier`: the `sbd` is read
/// strictly too); a document that is not a regular file likewise. The receiver is looked up, the
/// message recorded (OPPRETTET), packed, encrypted and uploaded (SENDT). On success
/// `message_json_out` receives the message (schema/message_info.schema.json): `message_id`,
/// `conversation_id`, `direction` (`OUTGOING`), `process`, `document_type`, `sender`,
/// `receiver`, `status`, `created` and `last_update` (RFC 3339), `expires`, the broker's
/// `transfer_id`, the package file still kept as `payload`, `sending` and `warnings` (what was
/// unusual but did not stop it). A transient failure
/// of the upload (network, 5xx, 429) is not an error: the message stays OPPRETTET with its
/// `sending` attempts and is sent later by efm_client_run_due(). A permanent refusal fails and
/// records the message as FEIL; efm_client_resend() sends it again. `progress` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn efm_client_send(
    client: *const efm_client,
    request_json: *const c_char,
    progress: efm_progress_callback,
    userdata: *mut c_void,
    message_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    // SAFETY: pointers as the header documents them.
    unsafe {
        send_answer(
            client,
            request_json,
            message_json_out,
            error,
            |c, request| with_progress(progress, userdata, |p| c.send(request, p)),
        )
    }
}

/// The common shape of the two send exports: read the request, send, answer the message.
///
/// # Safety
/// As [`answer`]; `request_json` NULL or a NUL-terminated string.
unsafe fn send_answer(
    client: *const efm_client,
    request_json: *const c_char,
    out: *mut *mut c_char,
    error: *mut *mut efm_error,
    send: impl FnOnce(&Client, SendRequest) -> Result<efm_core::client::MessageInfo, Error>,
) -> efm_result {
    // SAFETY: forwarded contract of this function.
    unsafe {
        answer(client, out, "message_json_out", error, |c| {
            send(c, json_arg(request_json, "request_json")?)
        })
    }
}

/// efm_client_send() with progress by phase (efm_phase_callback: packing, then uploading), so a
/// long send shows what it is doing. `progress` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn efm_client_send_by_phase(
    client: *const efm_client,
    request_json: *const c_char,
    progress: efm_phase_callback,
    userdata: *mut c_void,
    message_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    // SAFETY: pointers as the header documents them.
    unsafe {
        send_answer(
            client,
            request_json,
            message_json_out,
            error,
            |c, request| with_phases(progress, userdata, |p| c.send_by_phase(request, p)),
        )
    }
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
    // SAFETY: pointers as the header documents them.
    unsafe {
        answer(client, message_json_out, "message_json_out", error, |c| {
            let id = str_arg(message_id, "message_id")?;
            with_progress(progress, userdata, |p| c.resend(id, p))
        })
    }
}

/// Fetch what waits at the broker: new messages go to the incoming queue (INNKOMMENDE_MOTTATT,
/// MOTTATT sent back), statuses and receipts update our outgoing messages. Writes a summary
/// (`received` message ids, `statuses`, `ignored`, `duplicates`, `quarantined`, `recovered`,
/// `receipts_sent`, `errors`, `more_waiting` (poll again at once) and `retry_after_secs` (the
/// broker asked us to wait); schema/poll_summary.schema.json). Quarantined packages are listed by
/// `efm_client_quarantine`.
#[no_mangle]
pub unsafe extern "C" fn efm_client_poll(
    client: *const efm_client,
    summary_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    // SAFETY: pointers as the header documents them.
    unsafe {
        answer(client, summary_json_out, "summary_json_out", error, |c| {
            c.poll()
        })
    }
}

/// The oldest message in the incoming queue, locked for this caller, as JSON (the members of
/// schema/message_info.schema.json, with `sbd`, the SBD as it arrived, and `locked_until`;
/// schema/incoming_message.schema.json); or,
/// when the queue is empty, success with `*message_json_out` set to NULL.
#[no_mangle]
pub unsafe extern "C" fn efm_client_peek(
    client: *const efm_client,
    message_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    // SAFETY: pointers as the header documents them.
    unsafe {
        guard(error, || {
            out_arg(message_json_out, "message_json_out")?;
            let next = client_ref(client)?.flows()?.peek()?;
            let json = match next {
                Some(m) => give(&to_json(&m)?),
                None => std::ptr::null_mut(),
            };
            put(message_json_out, json);
            Ok(())
        })
    }
}

/// Decrypt, verify and unpack a peeked message into `target_dir`; writes the message's
/// `message_id`, `conversation_id`, `sbd`, its `files` (name, path, mime, size), `signer` and
/// `warnings` (schema/opened_message.schema.json;
/// documents whose names cannot be files here are saved under safe names, kept in `name`).
/// Calling it again after an interruption finds the files already there and succeeds. A package
/// that cannot be opened (damaged, tampered, not for us) fails with a package or crypto code, gets
/// status FEIL, leaves the queue and is kept in quarantine (efm_client_quarantine).
#[no_mangle]
pub unsafe extern "C" fn efm_client_pop(
    client: *const efm_client,
    message_id: *const c_char,
    target_dir: *const c_char,
    opened_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    // SAFETY: pointers as the header documents them.
    unsafe {
        answer(client, opened_json_out, "opened_json_out", error, |c| {
            let id = str_arg(message_id, "message_id")?;
            c.pop(id, Path::new(str_arg(target_dir, "target_dir")?))
        })
    }
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
    // SAFETY: pointers as the header documents them.
    unsafe {
        guard(error, || {
            let client = client_ref(client)?;
            let id = str_arg(message_id, "message_id")?;
            let info = client.flows()?.delete(id)?;
            if !message_json_out.is_null() {
                put(message_json_out, give(&to_json(&info)?));
            }
            Ok(())
        })
    }
}

/// The status history of a message (oldest first): `[{"status": "OPPRETTET", "time": ...,
/// "description": ...}, ...]` (schema/status_history.schema.json).
#[no_mangle]
pub unsafe extern "C" fn efm_client_status(
    client: *const efm_client,
    message_id: *const c_char,
    history_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    // SAFETY: pointers as the header documents them.
    unsafe {
        answer(client, history_json_out, "history_json_out", error, |c| {
            c.status(str_arg(message_id, "message_id")?)
        })
    }
}

/// Messages matching `filter_json` (`{"direction": "outgoing"|"incoming", "conversation_id",
/// "message_id", "status": "LEVERT", "limit": 50}`, all optional; NULL for all;
/// schema/message_filter.schema.json), newest first. An unknown member or status is
/// EFM_RESULT_INVALID_ARGUMENT, not a filter that matches everything.
#[no_mangle]
pub unsafe extern "C" fn efm_client_messages(
    client: *const efm_client,
    filter_json: *const c_char,
    messages_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    // SAFETY: pointers as the header documents them.
    unsafe {
        answer(client, messages_json_out, "messages_json_out", error, |c| {
            let filter: MessageFilter = if filter_json.is_null() {
                MessageFilter::default()
            } else {
                json_arg(filter_json, "filter_json")?
            };
            c.messages(&filter)
        })
    }
}

/// Mark outgoing messages whose deadline passed without MOTTATT as LEVETID_UTLOPT; writes the
/// ids marked (a JSON array; schema/expired_ids.schema.json).
#[no_mangle]
pub unsafe extern "C" fn efm_client_expire(
    client: *const efm_client,
    expired_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    // SAFETY: pointers as the header documents them.
    unsafe {
        answer(client, expired_json_out, "expired_json_out", error, |c| {
            c.expire()
        })
    }
}

/// Do what is due for sending: mark messages past their deadline LEVETID_UTLOPT, upload again
/// the messages a transient failure left pending (backoff with jitter, Retry-After honoured),
/// follow uploaded transfers until the broker publishes them (or fails them: FEIL), and send the
/// receipts owed. Call it periodically (`efm_client_poll` does it too). Writes a summary:
/// `{"sent": [...], "published": [...], "failed": [...], "expired": [...], "retrying": [{"message_id",
/// "attempts", "next_attempt", "error"}], "receipts_sent": N, "receipt_errors": [...],
/// "waiting_uploads": N, "waiting_follows": N}` (schema/work_summary.schema.json).
#[no_mangle]
pub unsafe extern "C" fn efm_client_run_due(
    client: *const efm_client,
    summary_json_out: *mut *mut c_char,
    error: *mut *mut efm_error,
) -> efm_result {
    // SAFETY: pointers as the header documents them.
    unsafe {
        answer(client, summary_json_out, "summary_json_out", error, |c| {
            c.run_due()
        })
    }
}
