//! The committed include/efm.h must be exactly what cbindgen makes of ffi/ now. If this fails, an
//! exported signature changed: run `EFM_UPDATE_HEADER=1 cargo build` and commit include/efm.h.

#[test]
fn committed_header_matches_ffi() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/efm.h"));
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/efm.h"))
        .expect("include/efm.h is missing: run `EFM_UPDATE_HEADER=1 cargo build`");
    if generated != committed {
        let line = generated
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1)
            .unwrap_or_else(|| generated.lines().count().min(committed.lines().count()) + 1);
        panic!(
            "include/efm.h is out of date with ffi/ (first difference at line {line}); \
             run `EFM_UPDATE_HEADER=1 cargo build` and commit include/efm.h"
        );
    }
}
