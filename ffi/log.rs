//! The log callback bridge: efm-core logs through the `log` crate; this forwards records to one
//! process-wide C callback. Secrets never reach a log line (core logs none).

use crate::boundary::shield;
use crate::result::efm_result;
use std::ffi::{c_char, c_void, CString};
use std::sync::{OnceLock, RwLock};

/// Severity of a log line. efm passes only these values to the callback; efm_set_logger() takes
/// the level as an integer and refuses any other.
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
        // SAFETY: the callback and userdata were given to efm_set_logger, whose contract keeps
        // them valid and usable from any thread until replaced; the message lives for the call.
        unsafe { (sink.callback)(sink.userdata as *mut c_void, level, c.as_ptr(), len) };
        drop::<CString>(c);
    }

    fn flush(&self) {}
}

impl efm_log_level {
    /// The level a C caller passed, if it is one of ours.
    fn from_raw(raw: u32) -> Option<efm_log_level> {
        use efm_log_level as L;
        [L::Off, L::Error, L::Warn, L::Info, L::Debug, L::Trace]
            .into_iter()
            .find(|l| *l as u32 == raw)
    }

    fn filter(self) -> log::LevelFilter {
        match self {
            efm_log_level::Off => log::LevelFilter::Off,
            efm_log_level::Error => log::LevelFilter::Error,
            efm_log_level::Warn => log::LevelFilter::Warn,
            efm_log_level::Info => log::LevelFilter::Info,
            efm_log_level::Debug => log::LevelFilter::Debug,
            efm_log_level::Trace => log::LevelFilter::Trace,
        }
    }
}

/// Install (or, with a NULL callback, remove) the process-wide log callback, and set the most
/// verbose level that reaches it: `max_level` is one of the efm_log_level values (0 to 5); any
/// other number returns EFM_RESULT_INVALID_ARGUMENT and changes nothing. Call it again to change
/// only the level. `userdata` is passed back unchanged; it must stay valid, and be usable from
/// any thread, until the callback is replaced or removed. Returns EFM_RESULT_INTERNAL if another
/// logger already owns the process's Rust `log` facade.
#[no_mangle]
pub unsafe extern "C" fn efm_set_logger(
    callback: efm_log_callback,
    userdata: *mut c_void,
    max_level: u32,
) -> efm_result {
    shield(efm_result::Panic, || {
        let Some(level) = efm_log_level::from_raw(max_level) else {
            return efm_result::InvalidArgument;
        };
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
        log::set_max_level(match sink {
            Some(_) => level.filter(),
            None => log::LevelFilter::Off,
        });
        efm_result::Ok
    })
}
