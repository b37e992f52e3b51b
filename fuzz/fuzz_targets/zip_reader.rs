//! The streaming zip reader (ASiC-E containers and the wire zip): any bytes, no panic, bounded work.
#![no_main]
use efm_core::asic::zipfmt::{ReadLimits, ZipStreamReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
});
