//! The log callback bridge: efm-core logs through the `log` crate; this forwards records to one
//! process-wide C callback. Secrets never reach a log line (core logs none).

use crate::result::efm_result;
use std::ffi::{c_char, c_void, CString};
use std::sync::{OnceLock, RwLock};

/// Severity of a log line.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum efm_log_level {
    Off = 0,
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

/// Receives one log line. `message` is UTF-8, NUL-terminated, `len` bytes long (without the NUL),
/// and valid only during the call. May be called from any thread inside an efm call.
pub type efm_log_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        level: efm_log_level,
        message: *const c_char,
        len: usize,
    ),
>;

#[derive(Clone, Copy)]
struct Sink {
    callback: unsafe extern "C" fn(*mut c_void, efm_log_level, *const c_char, usize),
    // The caller promises the userdata may be used from any thread (documented on efm_set_logger).
    userdata: usize,
}

static SINK: RwLock<Option<Sink>> = RwLock::new(None);
static INSTALLED: OnceLock<bool> = OnceLock::new();

struct Forwarder;

impl log::Log for Forwarder {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        // The HTTP stack dumps raw requests (bearer tokens, grants) at TRACE: never pass those on.
        if !self.enabled(record.metadata())
            || !efm_core::http::log_record_allowed(record.target(), record.level())
        {
            return;
        }
        // Copy the sink out so the callback runs without the lock held (it may call efm_set_logger).
        let sink = match SINK.read() {
            Ok(guard) => *guard,
            Err(_) => None,
        };
        let Some(sink) = sink else { return };
        let level = match record.level() {
            log::Level::Error => efm_log_level::Error,
            log::Level::Warn => efm_log_level::Warn,
            log::Level::Info => efm_log_level::Info,
            log::Level::Debug => efm_log_level::Debug,
            log::Level::Trace => efm_log_level::Trace,
        };
        let text = format!("{}: {}", record.target(), record.args());
        let c = crate::error::to_cstring(&text);
        let len = c.as_bytes().len();
        unsafe { (sink.callback)(sink.userdata as *mut c_void, level, c.as_ptr(), len) };
        drop::<CString>(c);
    }

    fn flush(&self) {}
}

/// Install (or, with a NULL callback, remove) the process-wide log callback, and set the most
/// verbose level that reaches it. `userdata` is passed back unchanged; it must stay valid, and be
/// usable from any thread, until the callback is replaced or removed. Returns
/// EFM_RESULT_INTERNAL if another logger already owns the process's Rust `log` facade.
#[no_mangle]
pub unsafe extern "C" fn efm_set_logger(
    callback: efm_log_callback,
    userdata: *mut c_void,
    max_level: efm_log_level,
) -> efm_result {
    let installed = *INSTALLED.get_or_init(|| log::set_logger(&Forwarder).is_ok());
    if !installed {
        return efm_result::Internal;
    }
    let sink = callback.map(|cb| Sink {
        callback: cb,
        userdata: userdata as usize,
    });
    match SINK.write() {
        Ok(mut guard) => *guard = sink,
        Err(poisoned) => *poisoned.into_inner() = sink,
    }
    let filter = match (sink.is_some(), max_level) {
        (false, _) | (_, efm_log_level::Off) => log::LevelFilter::Off,
        (_, efm_log_level::Error) => log::LevelFilter::Error,
        (_, efm_log_level::Warn) => log::LevelFilter::Warn,
        (_, efm_log_level::Info) => log::LevelFilter::Info,
        (_, efm_log_level::Debug) => log::LevelFilter::Debug,
        (_, efm_log_level::Trace) => log::LevelFilter::Trace,
    };
    log::set_max_level(filter);
    efm_result::Ok
}
