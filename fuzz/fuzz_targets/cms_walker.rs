//! The BER/CMS walker (EnvelopedData, read without a key): any bytes, no panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = efm_core::crypto::cms::inspect(&mut &data[..]);
});
