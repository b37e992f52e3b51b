//! Who writes which file: every open [`Store`](super::Store) is an *owner* with an id of its own
//! and an exclusive lock on `owners/<id>.lock`, held until the store is dropped or the process
//! dies (the operating system releases it even after SIGKILL). Every temporary, spool and
//! staging file a store creates carries its owner id in its name.
//!
//! So any process can tell, without timeouts, whether a file's writer is still at work: if the
//! owner's lock can be taken, the owner is gone and what it left unreferenced is garbage. Claims
//! on broker transfers and receipts name their owner too, so a dead claimer's work is taken over
//! at once instead of after its claim expires.

use crate::error::{Error, Result};
use std::fs::File;
use std::path::{Path, PathBuf};

pub const OWNERS_DIR: &str = "owners";

/// This store's identity and the lock that proves it alive.
#[derive(Debug)]
pub struct Owner {
    id: String,
    path: PathBuf,
    _lock: File,
}

fn lock_path(data_dir: &Path, id: &str) -> PathBuf {
    data_dir.join(OWNERS_DIR).join(format!("{id}.lock"))
}

impl Owner {
    /// A new owner: a fresh id and its lock, held from now on.
    pub fn acquire(data_dir: &Path) -> Result<Owner> {
        let dir = data_dir.join(OWNERS_DIR);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let path = lock_path(data_dir, &id);
        let lock = File::create_new(&path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        lock.try_lock()
            .map_err(|e| Error::io(format!("locking {}", path.display()), e.into()))?;
        Ok(Owner {
            id,
            path,
            _lock: lock,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        // Gone cleanly: nobody needs to find out by locking.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether the owner `id` of `data_dir` still runs. An owner whose lock file is missing, or whose
/// lock can be taken, is gone. When in doubt (an I/O error), it counts as alive: its files stay.
pub fn is_alive(data_dir: &Path, id: &str) -> bool {
    let path = lock_path(data_dir, id);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return false,
        Err(_) => return true,
    };
    match file.try_lock() {
        Ok(()) => false,
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(_)) => true,
    }
}

/// The owners whose lock files remain but who are gone; their lock files are removed as they
/// are found (after the caller collected what they left, see `Store::collect_leftovers`).
pub fn dead_owners(data_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(data_dir.join(OWNERS_DIR)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let id = name.strip_suffix(".lock")?.to_string();
            (!is_alive(data_dir, &id)).then_some(id)
        })
        .collect()
}

/// Remove a dead owner's lock file.
pub fn forget(data_dir: &Path, id: &str) {
    let _ = std::fs::remove_file(lock_path(data_dir, id));
}

/// The owner id a file name carries (`<base>.<owner>.<rest>`), if any: a 32-hex-digit part.
pub fn owner_in_name(name: &str) -> Option<&str> {
    name.split(['.', '-'])
        .find(|p| p.len() == 32 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_is_alive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let a = Owner::acquire(dir.path()).unwrap();
        let b = Owner::acquire(dir.path()).unwrap();
        assert_ne!(a.id(), b.id());
        assert!(is_alive(dir.path(), a.id()));
        assert!(dead_owners(dir.path()).is_empty());
        let id = a.id().to_string();
        drop(a);
        assert!(!is_alive(dir.path(), &id));
        assert!(is_alive(dir.path(), b.id()));
    }

    #[test]
    fn a_lock_file_without_its_process_is_a_dead_owner() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(OWNERS_DIR)).unwrap();
        let id = "0123456789abcdef0123456789abcdef";
        std::fs::write(lock_path(dir.path(), id), b"").unwrap();
        assert_eq!(dead_owners(dir.path()), [id]);
        assert_eq!(owner_in_name(&format!("x.{id}.zip")), Some(id));
        assert_eq!(
            owner_in_name("8f6e4c1e-1d2b-4f0a-9a39-6d3c1b2a4e5f.zip"),
            None
        );
    }
}
