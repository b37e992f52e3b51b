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

/// The fuzz crate has its own lockfile (it is a workspace of its own, built with sanitizers); every
/// crate efm-core pulls in there must be locked at the main lockfile's version, so the fuzzers test
/// the code that ships. If this fails: `cp Cargo.lock fuzz/Cargo.lock && (cd fuzz && cargo +nightly
/// fuzz build)` and commit fuzz/Cargo.lock.
#[test]
fn fuzz_lockfile_pins_the_workspace_versions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let main = locked_packages(&root.join("Cargo.lock"));
    let fuzz = locked_packages(&root.join("fuzz/Cargo.lock"));
    assert!(fuzz.keys().any(|(name, _)| name == "libfuzzer-sys"));
    // efm-core and everything it depends on in the fuzz build (no dev-dependencies there).
    let mut wanted = vec!["efm-core".to_string()];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(dep) = wanted.pop() {
        // A dependency is "name" (one version locked), "name version" or "name version (source)".
        let mut parts = dep.split_whitespace();
        let name = parts.next().unwrap_or_default();
        let version = parts.next().unwrap_or_default();
        let Some((key, deps)) = fuzz
            .iter()
            .find(|((n, v), _)| n == name && (version.is_empty() || v == version))
        else {
            panic!("fuzz/Cargo.lock names {dep} but has no entry for it");
        };
        if seen.insert(key.clone()) {
            wanted.extend(deps.iter().cloned());
        }
    }
    // A crate only the fuzz build uses (libfuzzer-sys's, or one a fuzz-only feature pulls in,
    // such as cc's jobserver) has no version to agree with.
    let differ: Vec<String> = seen
        .iter()
        .filter(|key| !main.contains_key(*key) && main.keys().any(|(n, _)| *n == key.0))
        .map(|(n, v)| format!("{n} {v}"))
        .collect();
    assert!(
        seen.len() > 50,
        "only {} crates under efm-core?",
        seen.len()
    );
    assert!(
        differ.is_empty(),
        "fuzz/Cargo.lock locks other versions than Cargo.lock: {differ:?}"
    );
}

/// `(name, version) -> dependencies` of the `[[package]]` entries of a Cargo.lock.
fn locked_packages(path: &Path) -> std::collections::BTreeMap<(String, String), Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut packages = std::collections::BTreeMap::new();
    for entry in text.split("[[package]]").skip(1) {
        let field = |key: &str| {
            entry.lines().find_map(|l| {
                l.strip_prefix(key)
                    .and_then(|v| v.strip_prefix(" = \""))
                    .and_then(|v| v.strip_suffix('"'))
                    .map(str::to_string)
            })
        };
        let deps = entry
            .split_once("dependencies = [")
            .map(|(_, rest)| rest.split(']').next().unwrap_or_default())
            .unwrap_or_default()
            .split(',')
            .map(|d| d.trim().trim_matches('"').to_string())
            .filter(|d| !d.is_empty())
            .collect();
        if let (Some(name), Some(version)) = (field("name"), field("version")) {
            packages.insert((name, version), deps);
        }
    }
    packages
}
