//! The BER/CMS walker (EnvelopedData, read without a key): any bytes, no panic.
#![no_main]

#[path = "../harness.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::cms_walker(data));
