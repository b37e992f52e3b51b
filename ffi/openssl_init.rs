//! Starting the OpenSSL that efm.dll carries without reading any configuration file (Windows).
//!
//! OpenSSL loads `openssl.cnf` on first use: from `OPENSSL_CONF`, else from the OPENSSLDIR compiled
//! in. A vendored build's directories are the build machine's (`openssl-src` configures a prefix
//! inside Cargo's target directory, which Windows reads as `\work\...` on the current drive, a
//! place any local user can create). Whoever can write such a file could switch providers, lower
//! the TLS and signature settings, or make OpenSSL load a DLL into the host process: on an archive
//! system's server that is privilege escalation. efm needs nothing from a configuration file (its
//! settings come from its own configuration), so on Windows it never reads one, whatever the
//! environment says. Without a configuration file nothing in efm asks OpenSSL to load an engine or
//! provider module, so its compiled-in directories are never used.
//!
//! On Linux the library uses the system's OpenSSL and its configuration, which belongs to root and
//! carries the system's crypto policy; nothing changes there.

/// Call before anything in efm touches OpenSSL (the boundary does, on every export's first call).
#[cfg(windows)]
pub(crate) fn start_without_config() {
    use std::sync::Once;
    // crypto.h: OPENSSL_INIT_NO_LOAD_CONFIG (openssl-sys does not export it).
    const OPENSSL_INIT_NO_LOAD_CONFIG: u64 = 0x0000_0080;
    static START: Once = Once::new();
    START.call_once(|| {
        // The first initialisation decides: OpenSSL runs its "config" step once per process, and
        // with NO_LOAD_CONFIG that step is marked done without reading a file, so the later
        // OPENSSL_init_ssl of the openssl crate (which asks for the config) is a no-op for it.
        // Same options as openssl-sys's own init() otherwise.
        let options = openssl_sys::OPENSSL_INIT_LOAD_SSL_STRINGS
            | openssl_sys::OPENSSL_INIT_NO_ATEXIT
            | OPENSSL_INIT_NO_LOAD_CONFIG;
        // SAFETY: OPENSSL_init_ssl may be called at any time from any thread; a NULL settings
        // pointer means the defaults. It is this DLL's private, statically linked OpenSSL.
        let ok = unsafe { openssl_sys::OPENSSL_init_ssl(options, std::ptr::null()) };
        if ok != 1 {
            // OpenSSL could not even allocate its state: every crypto call will fail and say so.
            log::error!("OpenSSL could not be initialised");
        }
    });
}

#[cfg(not(windows))]
pub(crate) fn start_without_config() {}
