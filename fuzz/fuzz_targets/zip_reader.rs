//! The streaming zip reader (ASiC-E containers and the wire zip): any bytes, no panic, bounded work.
#![no_main]

#[path = "../harness.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::zip_reader(data));
