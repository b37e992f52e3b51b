//! What each fuzz target does with one input, shared by the cargo-fuzz targets
//! (`fuzz_targets/*.rs`, nightly, sanitizers) and the stable corpus replay
//! (`tests/fuzz_corpus.rs`), so the committed corpora are checked by the same code on every
//! `cargo test` without nightly. Every function takes any bytes and must neither panic nor do
//! unbounded work.

use efm_core::asic::zipfmt::{ReadLimits, ZipStreamReader};
use efm_core::auth::jws::CompactJws;
use efm_core::client::{MessageFilter, SendRequest};
use efm_core::config::Config;
use efm_core::http::RemoteErrorText;
use efm_core::input::parse_json;
use efm_core::sbd::{Sbd, ValidationOptions};
use efm_core::transport::altinn2::mtom::{parse_related, MultipartReader};
use efm_core::transport::altinn2::soap;
use efm_core::ErrorKind;
use std::io::Read;

/// What a target does with one input.
pub type Target = fn(&[u8]);

/// Every target by its cargo-fuzz name (the corpus folder `fuzz/corpus/<name>`).
pub const TARGETS: &[(&str, Target)] = &[
    ("zip_reader", zip_reader),
    ("cms_walker", cms_walker),
    ("mtom_multipart", mtom_multipart),
    ("soap_answer", soap_answer),
    ("sbd_json", sbd_json),
    ("jws_problem", jws_problem),
    ("config_json", config_json),
];

/// The streaming zip reader (ASiC-E containers and the wire zip), with bounded limits.
pub fn zip_reader(data: &[u8]) {
    let limits = ReadLimits {
        max_entry_size: 1 << 20,
        max_total_size: 4 << 20,
        max_entries: 64,
    };
    let mut zip = ZipStreamReader::new(data, limits);
    while let Ok(Some(entry)) = zip.next_entry() {
        if zip.read_data(&entry, &mut std::io::sink()).is_err() {
            return;
        }
    }
}

/// The BER/CMS walker (EnvelopedData, read without a key).
pub fn cms_walker(data: &[u8]) {
    let _ = efm_core::crypto::cms::inspect(&mut &data[..]);
}

/// The MTOM/multipart reader of Altinn 2 answers: a Content-Type line, then the body.
pub fn mtom_multipart(data: &[u8]) {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let content_type = String::from_utf8_lossy(&data[..split]);
    let body = data.get(split + 1..).unwrap_or(&[]);
    let boundary = parse_related(&content_type)
        .map(|r| r.boundary)
        .unwrap_or_else(|| "b".to_string());
    let mut reader = MultipartReader::new(body, &boundary);
    for _ in 0..16 {
        match reader.next_part() {
            Ok(Some(_headers)) => {
                let mut sink = Vec::new();
                if reader.body().take(1 << 20).read_to_end(&mut sink).is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

/// The SOAP answer parsers of the Altinn 2 broker client.
pub fn soap_answer(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = soap::fault_in(text);
    let _ = soap::initiate_result(text);
    let _ = soap::check_result(text);
    let _ = soap::available_files(text);
    let _ = soap::confirm_result(text);
    let _ = soap::upload_receipt(text);
    let _ = soap::download_result(text);
}

/// SBD JSON as it arrives in a package (`sbd.json`): parsed, checked as a receiver checks it,
/// validated as a sender would, written back.
pub fn sbd_json(data: &[u8]) {
    if let Ok(sbd) = Sbd::from_json(data) {
        let _ = sbd.check_received();
        let _ = sbd.validate(&ValidationOptions::default());
        let again = sbd.to_json();
        // What we write we must read back as the same document.
        let reread = Sbd::from_json(again.as_bytes()).expect("efm reads the SBD it wrote");
        assert_eq!(reread, sbd, "the SBD changed in a write and read");
    }
}

/// Compact JWS (registry answers, tokens) and remote error bodies (problem+json, OAuth errors).
pub fn jws_problem(data: &[u8]) {
    let _ = RemoteErrorText::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(jws) = CompactJws::parse(text, "fuzz input") {
            let _ = (jws.alg(), jws.kid(), jws.payload_unverified().len());
        }
    }
}

/// The configuration document and the C ABI's JSON requests, read strictly.
pub fn config_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Config::from_json(text) {
        assert!(e.message().len() < 4096, "an error message must stay short");
    }
    if let Ok(request) = parse_json::<SendRequest>(text, "request_json", ErrorKind::InvalidArgument)
    {
        let _ = request.check();
    }
    let _ = parse_json::<MessageFilter>(text, "filter_json", ErrorKind::InvalidArgument);
}
