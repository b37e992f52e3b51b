//! The configuration document and the C ABI's JSON requests, read strictly.
#![no_main]
use efm_core::client::{MessageFilter, SendRequest};
use efm_core::config::Config;
use efm_core::input::parse_json;
use efm_core::ErrorKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = Config::from_json(text) {
        assert!(e.message().len() < 4096, "an error message must stay short");
    }
    if let Ok(request) = parse_json::<SendRequest>(text, "request_json", ErrorKind::InvalidArgument) {
        let _ = request.check();
    }
    let _ = parse_json::<MessageFilter>(text, "filter_json", ErrorKind::InvalidArgument);
});
