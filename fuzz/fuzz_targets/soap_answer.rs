//! The SOAP answer parsers of the Altinn 2 broker client.
#![no_main]
use efm_core::transport::altinn2::soap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = soap::fault_in(text);
    let _ = soap::initiate_result(text);
    let _ = soap::check_result(text);
    let _ = soap::available_files(text);
    let _ = soap::confirm_result(text);
    let _ = soap::upload_receipt(text);
});
