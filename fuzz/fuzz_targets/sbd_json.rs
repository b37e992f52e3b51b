//! SBD JSON parsing and validation (what arrives as sbd.json in a package).
#![no_main]

#[path = "../harness.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::sbd_json(data));
