//! Compact JWS (registry answers, tokens) and remote error bodies (problem+json, OAuth errors).
#![no_main]
use efm_core::auth::jws::CompactJws;
use efm_core::http::RemoteErrorText;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = RemoteErrorText::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(jws) = CompactJws::parse(text, "fuzz input") {
            let _ = (jws.alg(), jws.kid(), jws.payload_unverified().len());
        }
    }
});
