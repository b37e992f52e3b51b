//! Compact JWS (registry answers, tokens) and remote error bodies (problem+json, OAuth errors).
#![no_main]

#[path = "../harness.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::jws_problem(data));
