//! The workspace keeps its promises: `cargo build`/`cargo test` at the root cover every member,
//! every member shares the workspace's lints and `rust-version`, and that `rust-version` is not
//! older than what the locked dependencies declare they need.
//!
//! Reads `cargo metadata` (offline: the packages are there once the workspace has been built).

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn cargo(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo");
    assert!(
        out.status.success(),
        "cargo {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 from cargo")
}

fn metadata() -> Value {
    let version = cargo(&["-vV"]);
    let host = version
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("cargo -vV names the host");
    let json = cargo(&[
        "metadata",
        "--format-version",
        "1",
        "--offline",
        "--filter-platform",
        host,
    ]);
    serde_json::from_str(&json).expect("cargo metadata is JSON")
}

/// `1.89` or `1.88.0` as comparable numbers.
fn version(v: &str) -> (u32, u32, u32) {
    let mut parts = v
        .split('.')
        .map(|p| p.parse::<u32>().expect("numeric rust-version"));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

fn ids(m: &Value, key: &str) -> Vec<String> {
    let mut ids: Vec<String> = m[key]
        .as_array()
        .unwrap_or_else(|| panic!("metadata has {key}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn the_root_commands_cover_every_member() {
    let m = metadata();
    let members = ids(&m, "workspace_members");
    assert!(members.len() >= 5, "{members:?}");
    assert_eq!(
        ids(&m, "workspace_default_members"),
        members,
        "default-members in Cargo.toml must list every member"
    );
}

#[test]
fn every_member_inherits_lints_and_rust_version() {
    let m = metadata();
    let members = ids(&m, "workspace_members");
    for p in m["packages"].as_array().unwrap() {
        if !members.contains(&p["id"].as_str().unwrap().to_string()) {
            continue;
        }
        let manifest = Path::new(p["manifest_path"].as_str().unwrap());
        let text = std::fs::read_to_string(manifest).unwrap();
        let name = p["name"].as_str().unwrap();
        assert!(
            text.contains("\nrust-version.workspace = true\n"),
            "{name} ({}) must inherit rust-version from the workspace",
            manifest.display()
        );
        assert!(
            text.contains("\n[lints]\nworkspace = true\n"),
            "{name} ({}) must use the workspace's lints",
            manifest.display()
        );
    }
}

#[test]
fn no_locked_dependency_needs_a_newer_rust_than_we_declare() {
    let m = metadata();
    let members = ids(&m, "workspace_members");
    let packages = m["packages"].as_array().unwrap();
    let ours = packages
        .iter()
        .find(|p| p["name"] == "efm")
        .and_then(|p| p["rust_version"].as_str())
        .expect("the efm package declares a rust-version");
    let too_new: Vec<String> = packages
        .iter()
        .filter(|p| !members.contains(&p["id"].as_str().unwrap().to_string()))
        .filter_map(|p| {
            let needs = p["rust_version"].as_str()?;
            (version(needs) > version(ours))
                .then(|| format!("{} {} needs {needs}", p["name"], p["version"]))
        })
        .collect();
    assert!(
        too_new.is_empty(),
        "rust-version is {ours} but the lock file holds packages that need more: {too_new:?} \
         (raise workspace.package.rust-version or pin older versions)"
    );
}
