//! The MTOM/multipart reader of Altinn 2 answers: a Content-Type line, then the body.
#![no_main]
use efm_core::transport::altinn2::mtom::{parse_related, MultipartReader};
use libfuzzer_sys::fuzz_target;
use std::io::Read;

fuzz_target!(|data: &[u8]| {
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
});
