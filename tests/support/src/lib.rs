//! Helpers shared by the tests (and benchmark examples) of every efm crate: the fixtures folder,
//! temporary directories, throw-away PKIs, seeded sandboxes and running tools. A dev-dependency
//! only: nothing here ships.

#![forbid(unsafe_code)]

pub mod broker;
pub mod pki;
pub mod sandbox;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// The organisations every sandbox has, with test certificates and ready configurations.
pub const ORG_A: &str = "910075918";
pub const ORG_B: &str = "910076787";
pub const ORG_C: &str = "984661185";

/// `n` incompressible bytes, the same for the same `seed` (xorshift64): documents that deflate
/// cannot shrink, without the cost of a CSPRNG in debug builds.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

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

/// A new, empty directory under the system's temporary directory, unique within this process.
///
/// The directories stay after the test (to look into after a failure); the first call in a
/// process removes those of test processes that have ended, so repeated runs do not fill the disk.
pub fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(remove_dirs_of_ended_tests);
    let dir = std::env::temp_dir().join(format!(
        "efm-test-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Remove `efm-test-<name>-<pid>-<n>` directories whose process is gone (Linux: no `/proc/<pid>`;
/// elsewhere nothing is removed).
fn remove_dirs_of_ended_tests() {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("efm-test-") else {
            continue;
        };
        let mut parts = rest.rsplitn(3, '-');
        let (Some(_n), Some(pid), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Run a command; panics only when it cannot be started (a missing tool fails the test).
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Run a command that must succeed; returns its standard output.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run `python3` (from PATH: the project venv, with PyJWT, cryptography and lxml) with a script;
/// fails the test when Python or a module is missing or the script fails. Returns stdout.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 must be on PATH for the interop tests (with PyJWT, cryptography, lxml)");
    assert!(
        out.status.success(),
        "python failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
