//! Helpers of the package and ASiC tests: the PKI made by the openssl command line (kept under
//! this crate's target directory for the life of the test binary), the fixtures, and running
//! tools, from the shared test-support crate.
// Each test binary uses a different part of these helpers.
#![allow(dead_code, unused_imports)]

pub use efm_test_support::pki::OpensslPki as Pki;
pub use efm_test_support::{fixture, noise, python, run, run_ok};
use std::sync::OnceLock;

pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| Pki::create_in(std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))))
}
