//! SBD JSON parsing and validation (what arrives as sbd.json in a package).
#![no_main]
use efm_core::sbd::{Sbd, ValidationOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sbd) = Sbd::from_json(data) {
        let _ = sbd.validate(&ValidationOptions::default());
        let _ = sbd.to_json();
    }
});
