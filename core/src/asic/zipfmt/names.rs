//! Entry-name checks shared by the writer and the reader.

use super::*;

/// Refuse entry names that could escape the extraction directory or mean different files on
/// different systems: empty, absolute, `..`/`.` components, backslashes, drive letters, NUL and
/// control characters, empty components.
pub fn check_entry_name(name: &str) -> Result<()> {
    let unsafe_entry = |why: &str| {
        Err(Error::new(
            ErrorKind::UnsafeEntry,
            format!("zip entry name {name:?} is unsafe: {why}"),
        )
        .with_field(name.to_string()))
    };
    if name.is_empty() {
        return unsafe_entry("empty name");
    }
    if name.starts_with('/') {
        return unsafe_entry("absolute path");
    }
    if name.contains('\\') {
        return unsafe_entry("contains a backslash");
    }
    if name.chars().any(|c| c.is_control()) {
        return unsafe_entry("contains a control character");
    }
    let b = name.as_bytes();
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        return unsafe_entry("starts with a drive letter");
    }
    if name.contains(':') {
        return unsafe_entry("contains ':' (drive letter or stream name)");
    }
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    for part in trimmed.split('/') {
        match part {
            "" => return unsafe_entry("empty path component"),
            "." | ".." => return unsafe_entry("'.' or '..' component"),
            _ => {}
        }
    }
    Ok(())
}
