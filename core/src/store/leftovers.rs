//! Collecting what interrupted runs left in the data directory, on every open.
//!
//! A file no row points to is garbage once the store that wrote it is gone: half-downloaded
//! `.part` files, packages a crash left between their rename and their commit, outgoing packages
//! a crash left after SENDT (nothing will send them again), receipt packages, staging
//! directories with partly extracted plaintext, and the lock files of dead owners. Every such
//! file names its owner (`owner.rs`), so files of a store still running, in this process or
//! another, are never touched, however fresh. Files from before owners were named (older efm)
//! go when unreferenced and a day old, as they always did.

use super::db::args;
use super::owner::{self, owner_in_name};
use super::{Store, STAGING_DIR};
use crate::error::Result;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

/// Age after which an unreferenced file without an owner in its name is taken for garbage.
const UNNAMED_GRACE: Duration = Duration::from_secs(24 * 3600);

fn older_than(path: &Path, age: Duration) -> bool {
    std::fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|a| a > age)
}

fn remove(path: &Path) {
    let removed = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match removed {
        Ok(()) => log::info!("removed {}, left by an interrupted run", path.display()),
        Err(e) => log::debug!("could not remove {}: {e}", path.display()),
    }
}

impl Store {
    /// Files the rows point to, relative to the data directory: every organisation's rows, not
    /// only this store's, since organisations sharing a database share the data directory too.
    fn referenced_files(&self) -> Result<HashSet<String>> {
        self.transaction(|tx| {
            let mut out = HashSet::new();
            for sql in [
                "SELECT payload FROM messages WHERE payload IS NOT NULL",
                "SELECT spool FROM transfers WHERE spool IS NOT NULL AND state != 'CONFIRMED'",
                "SELECT payload FROM quarantine WHERE payload IS NOT NULL",
                // Documents copied for a send that waits for the registry (a folder).
                "SELECT staged_dir FROM sends WHERE staged_dir IS NOT NULL",
            ] {
                for r in tx.tx.query("listing files", sql, args![])? {
                    out.insert(r.get(0)?);
                }
            }
            Ok(out)
        })
    }

    /// Remove what dead owners (and, after a day, older efm versions) left unreferenced.
    /// Returns how many files and directories went.
    pub fn collect_leftovers(&self) -> Result<usize> {
        let referenced = self.referenced_files()?;
        let mut alive: HashMap<String, bool> = HashMap::new();
        let mut removed = 0;
        for sub in ["spool/out", "spool/in", STAGING_DIR] {
            let Ok(entries) = std::fs::read_dir(self.data_dir.join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                let path = e.path();
                let name = e.file_name().to_string_lossy().into_owned();
                if referenced.contains(&self.relative(&path)) {
                    continue;
                }
                let garbage = match owner_in_name(&name) {
                    Some(o) => !*alive
                        .entry(o.to_string())
                        .or_insert_with(|| self.owner_alive(o)),
                    None => older_than(&path, UNNAMED_GRACE),
                };
                if garbage {
                    remove(&path);
                    removed += 1;
                }
            }
        }
        for dead in owner::dead_owners(&self.data_dir) {
            owner::forget(&self.data_dir, &dead);
        }
        Ok(removed)
    }
}
