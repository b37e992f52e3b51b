//! The configuration document and the C ABI's JSON requests, read strictly.
#![no_main]

#[path = "../harness.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::config_json(data));
