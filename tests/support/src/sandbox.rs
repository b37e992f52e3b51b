//! Fresh efm-sandbox directories without the wait: the sandbox's PKI (RSA keys for every
//! organisation and service) is generated once per test binary into a template and copied.

use crate::temp_dir;
use efm_sandbox::{Sandbox, SandboxOptions};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A new directory holding a sandbox PKI and client configurations, but no transfers, stored
/// files or state: each test gets its own sandbox and shares nothing with others.
pub fn seeded_dir(name: &str) -> PathBuf {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    let template = TEMPLATE.get_or_init(|| {
        let t = temp_dir("sandbox-template");
        Sandbox::start(SandboxOptions {
            dir: t.clone(),
            ..Default::default()
        })
        .expect("template sandbox starts")
        .stop();
        t
    });
    let dir = temp_dir(name);
    copy_tree(template, &dir);
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            if e.file_name() == "store" || e.file_name() == "data" {
                continue;
            }
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A sandbox on a free loopback port in a fresh seeded directory, with no virus-scan delay.
pub fn start(name: &str) -> Sandbox {
    start_with(name, Some(0))
}

/// As [`start`], with the given virus-scan delay (`None`: the sandbox's default).
pub fn start_with(name: &str, virus_scan_delay_ms: Option<u64>) -> Sandbox {
    Sandbox::start(SandboxOptions {
        dir: seeded_dir(name),
        port: 0,
        virus_scan_delay_ms,
        ..Default::default()
    })
    .expect("sandbox starts")
}
