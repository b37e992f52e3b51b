//! The SOAP answer parsers of the Altinn 2 broker client.
#![no_main]

#[path = "../harness.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::soap_answer(data));
