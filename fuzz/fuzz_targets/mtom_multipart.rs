//! The MTOM/multipart reader of Altinn 2 answers: a Content-Type line, then the body.
#![no_main]

#[path = "../harness.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::mtom_multipart(data));
