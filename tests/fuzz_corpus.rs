//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/*`) through the same entry
//! points the cargo-fuzz targets call (`fuzz/harness.rs`), on the stable toolchain: the inputs
//! the fuzzer found interesting, and the ones that once crashed, stay checked on every
//! `cargo test` without nightly or sanitizers. `scripts/fuzz.sh` runs the fuzzers themselves.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::Path;

#[test]
fn every_committed_corpus_input_passes_its_target() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut summary = Vec::new();
    for (name, run) in harness::TARGETS {
        let dir = corpus.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (every target has a committed corpus)",
                    dir.display()
                )
            })
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: empty corpus", dir.display());
        for file in &files {
            let data = std::fs::read(file).unwrap();
            // A panic names the input, so it can be rerun with `cargo fuzz run TARGET FILE`.
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{name}: {} panicked", file.display());
        }
        summary.push(format!("{name}: {}", files.len()));
    }
    println!("replayed {}", summary.join(", "));
}

#[test]
fn every_fuzz_target_has_a_replay_entry() {
    let targets = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    let mut on_disk: Vec<String> = std::fs::read_dir(targets)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = harness::TARGETS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "fuzz/harness.rs TARGETS must list every fuzz target"
    );
}
