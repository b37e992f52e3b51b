//! Helpers shared by the tests of every efm crate. A dev-dependency only: nothing here ships.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

/// The repository's `tests/fixtures` folder (see its README for where each file comes from).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// A file or folder under `tests/fixtures`, e.g. `fixture("altinn-soap/arkivmelding.xml")`.
/// Panics with the path when it does not exist, so a missing fixture is a clear failure.
pub fn fixture(relative: &str) -> PathBuf {
    let path = fixtures_dir().join(relative);
    assert!(
        path.exists(),
        "test fixture {} is missing (tests/fixtures is part of the repository)",
        path.display()
    );
    path
}
