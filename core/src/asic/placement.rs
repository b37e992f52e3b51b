//! Where the documents of a received ASiC-E go on disk.
//!
//! The integration point never extracts an ASiC-E: it hands the archive system the container, so
//! any entry name a Java `ZipOutputStream` can write arrives (the IP's only rule is that names in
//! one message differ). Some of those names cannot be files here: longer than 255 bytes (134
//! Norwegian letters do it), `CON.pdf` on Windows, `:` or `\` in a name, or `a` and `a/b` in one
//! message. Those are *renamed* on extraction, with a warning, so the message opens; the name the
//! sender gave stays the document's name. Names that try to leave the target directory (`..`
//! components, absolute paths, `C:/` or `C:\`) are refused: no legitimate sender writes them.

use crate::error::{Error, ErrorKind, Result};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// Longest file-name component in bytes on the common file systems (ext4, NTFS counts UTF-16
/// units, which 255 UTF-8 bytes never exceed).
const MAX_COMPONENT: usize = 255;

/// Device names Windows reserves in every directory, with any extension.
const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

fn unsafe_entry(name: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::UnsafeEntry,
        format!("ASiC-E entry {name:?} is refused: {why}"),
    )
    .with_field(name.to_string())
}

/// Refuse names that try to escape the target directory, whichever separator a system uses.
pub fn check_escape(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(unsafe_entry(name, "empty name"));
    }
    if name.starts_with('/') || name.starts_with('\\') {
        return Err(unsafe_entry(name, "absolute path"));
    }
    let b = name.as_bytes();
    if b.len() >= 3 && b[1] == b':' && b[0].is_ascii_alphabetic() && matches!(b[2], b'/' | b'\\') {
        return Err(unsafe_entry(name, "an absolute Windows path"));
    }
    if name.contains('\0') {
        return Err(unsafe_entry(name, "contains a NUL character"));
    }
    if name.split(['/', '\\']).any(|p| p == "..") {
        return Err(unsafe_entry(
            name,
            "a '..' component would leave the target directory",
        ));
    }
    Ok(())
}

/// One component made safe to create on Linux, macOS and Windows, and why it changed.
fn safe_component(part: &str, why: &mut Vec<&'static str>) -> String {
    let mut s: String = part
        .chars()
        .map(|c| match c {
            '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => {
                why.push("characters Windows does not allow in file names");
                '_'
            }
            c if c.is_control() => {
                why.push("control characters");
                '_'
            }
            c => c,
        })
        .collect();
    // Windows drops trailing dots and spaces, which would make two names one.
    if s.ends_with('.') || s.ends_with(' ') {
        why.push("a trailing dot or space");
        s.push('_');
    }
    let stem = s.split('.').next().unwrap_or_default().trim_end();
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem)) {
        why.push("a device name Windows reserves");
        s.insert(0, '_');
    }
    if s.len() > MAX_COMPONENT {
        why.push("longer than 255 bytes");
        s = shorten(&s, MAX_COMPONENT);
    }
    s
}

/// Cut `s` to at most `max` bytes on a character boundary, keeping a short extension and adding
/// a digest of the whole name so that two long names sharing a prefix stay two files.
fn shorten(s: &str, max: usize) -> String {
    let tag = {
        let d = openssl::sha::sha256(s.as_bytes());
        format!("~{:02x}{:02x}{:02x}{:02x}", d[0], d[1], d[2], d[3])
    };
    let ext = match s.rfind('.') {
        Some(i) if i > 0 && s.len() - i <= 16 => &s[i..],
        _ => "",
    };
    let mut room = max - tag.len() - ext.len();
    let stem = &s[..s.len() - ext.len()];
    while !stem.is_char_boundary(room.min(stem.len())) {
        room -= 1;
    }
    format!("{}{tag}{ext}", &stem[..room.min(stem.len())])
}

/// `name~n.ext`: a variant of a component that does not collide.
fn numbered(component: &str, n: usize) -> String {
    let suffix = format!("~{n}");
    let (stem, ext) = match component.rfind('.') {
        Some(i) if i > 0 => component.split_at(i),
        _ => (component, ""),
    };
    let mut stem = stem.to_string();
    while stem.len() + suffix.len() + ext.len() > MAX_COMPONENT {
        stem.pop();
    }
    format!("{stem}{suffix}{ext}")
}

/// A file path relative to the target, and the warning when it differs from the entry name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub relative: PathBuf,
    pub warning: Option<String>,
}

/// Assigns every entry of one container a distinct, creatable path. Comparisons ignore case, so
/// `Brev.pdf` and `brev.pdf` stay two files on Windows and macOS too.
#[derive(Debug, Default)]
pub struct Placement {
    /// Lower-cased paths of files placed so far.
    files: HashSet<String>,
    /// Lower-cased directory paths in use.
    dirs: HashSet<String>,
    /// Directory of the sender's name (lower-cased) → the directory it was placed as.
    renamed_dirs: HashMap<String, String>,
}

fn key(s: &str) -> String {
    s.to_lowercase()
}

impl Placement {
    pub fn new() -> Self {
        Self::default()
    }

    /// Where `name` (an entry name, `/`-separated) goes.
    pub fn place(&mut self, name: &str) -> Result<Placed> {
        check_escape(name)?;
        let parts: Vec<&str> = name
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        let Some((file, dirs)) = parts.split_last() else {
            return Err(unsafe_entry(name, "no file name"));
        };
        let mut why = Vec::new();
        let mut placed = String::new();
        let mut original = String::new();
        for d in dirs {
            original = if original.is_empty() {
                key(d)
            } else {
                format!("{original}/{}", key(d))
            };
            if let Some(p) = self.renamed_dirs.get(&original) {
                placed = p.clone();
                continue;
            }
            let base = safe_component(d, &mut why);
            let mut candidate = join(&placed, &base);
            let mut n = 1;
            while self.files.contains(&key(&candidate)) {
                n += 1;
                candidate = join(&placed, &numbered(&base, n));
                why.push("a file of the same name");
            }
            self.dirs.insert(key(&candidate));
            self.renamed_dirs
                .insert(original.clone(), candidate.clone());
            placed = candidate;
        }
        let base = safe_component(file, &mut why);
        let mut candidate = join(&placed, &base);
        let mut n = 1;
        while self.files.contains(&key(&candidate)) || self.dirs.contains(&key(&candidate)) {
            n += 1;
            candidate = join(&placed, &numbered(&base, n));
            if !why.contains(&"another entry of the same name") {
                why.push("another entry of the same name");
            }
        }
        self.files.insert(key(&candidate));
        let warning = (candidate != name).then(|| {
            why.dedup();
            let why = if why.is_empty() {
                "its path was normalised".to_string()
            } else {
                why.join(", ")
            };
            format!("document {name:?} was saved as {candidate:?} ({why})")
        });
        Ok(Placed {
            relative: candidate.split('/').collect(),
            warning,
        })
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(names: &[&str]) -> Vec<String> {
        let mut p = Placement::new();
        names
            .iter()
            .map(|n| p.place(n).unwrap().relative.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn ordinary_names_stay() {
        assert_eq!(
            placed(&[
                "manifest.xml",
                "arkivmelding.xml",
                "vedlegg/brev.pdf",
                "Søknad om løyve.pdf"
            ]),
            [
                "manifest.xml",
                "arkivmelding.xml",
                "vedlegg/brev.pdf",
                "Søknad om løyve.pdf"
            ]
        );
        let mut p = Placement::new();
        assert_eq!(p.place("brev.pdf").unwrap().warning, None);
    }

    #[test]
    fn names_windows_or_linux_cannot_hold_are_renamed() {
        let long = "æ".repeat(134) + ".pdf";
        assert!(long.len() > 255);
        let out = placed(&[
            "a:b.pdf",
            "a\\b.pdf",
            "CON.pdf",
            "nul",
            "x.",
            "tab\there",
            &long,
        ]);
        assert_eq!(
            &out[..6],
            [
                "a_b.pdf",
                "a_b~2.pdf",
                "_CON.pdf",
                "_nul",
                "x._",
                "tab_here"
            ]
        );
        assert!(
            out[6].len() <= 255 && out[6].ends_with(".pdf"),
            "{}",
            out[6]
        );
        assert!(out[6].starts_with("æææ"));
    }

    #[test]
    fn a_file_and_a_directory_of_one_name_both_arrive() {
        assert_eq!(placed(&["a", "a/b"]), ["a", "a~2/b"]);
        assert_eq!(placed(&["a/b", "a", "a/c"]), ["a/b", "a~2", "a/c"]);
        assert_eq!(
            placed(&["Brev.pdf", "brev.pdf"]),
            ["Brev.pdf", "brev~2.pdf"]
        );
    }

    #[test]
    fn escapes_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "\\x",
            "../x",
            "a/../../x",
            "a\\..\\x",
            "C:/x",
            "C:\\x",
            "a\0b",
        ] {
            let e = Placement::new().place(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::UnsafeEntry, "{bad:?}");
        }
    }

    #[test]
    fn two_long_names_with_one_prefix_stay_two_files() {
        let a = "x".repeat(300) + "1.pdf";
        let b = "x".repeat(300) + "2.pdf";
        let out = placed(&[&a, &b]);
        assert_ne!(out[0], out[1]);
        assert!(out.iter().all(|o| o.len() <= 255));
    }
}
