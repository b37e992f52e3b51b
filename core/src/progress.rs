//! Progress of a long operation, by phase, so that a big send never looks stuck.
//!
//! Sending runs two phases: [`Phase::Packing`] (documents read, hashed, compressed where it pays,
//! signed and encrypted; encryption streams behind the packing in the same pass, so they are one
//! phase measured in document bytes) and [`Phase::Uploading`] (package bytes). Receiving runs
//! [`Phase::Downloading`]. Callbacks come on the thread that called the operation.

use serde::Serialize;

/// What a long operation is busy with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Building the signed, encrypted package; bytes are document bytes.
    Packing,
    /// Sending the package to the broker; bytes are package bytes.
    Uploading,
    /// Fetching a package from the broker; bytes are package bytes.
    Downloading,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Packing => "packing",
            Phase::Uploading => "uploading",
            Phase::Downloading => "downloading",
        }
    }
}

/// Progress by phase: (phase, bytes done, bytes in all for this phase; 0 when unknown).
pub type PhaseProgress<'a> = &'a mut dyn FnMut(Phase, u64, u64);

/// Folds the phases of a send into one (done, total) that only grows, for callers of the
/// byte-count progress API: packing counts the document bytes, uploading the package bytes after
/// them. Until the package exists its size is taken to be the documents' (it is close for
/// documents that do not compress, and smaller otherwise, so the total can only shrink once).
pub struct CombinedProgress<'a> {
    inner: &'a mut dyn FnMut(u64, u64),
    packed_total: u64,
    packed_done: u64,
}

impl<'a> CombinedProgress<'a> {
    pub fn new(inner: &'a mut dyn FnMut(u64, u64)) -> Self {
        CombinedProgress {
            inner,
            packed_total: 0,
            packed_done: 0,
        }
    }

    pub fn report(&mut self, phase: Phase, done: u64, total: u64) {
        match phase {
            Phase::Packing => {
                self.packed_total = total;
                self.packed_done = done;
                (self.inner)(done, total.saturating_mul(2));
            }
            Phase::Uploading | Phase::Downloading => (self.inner)(
                self.packed_done.saturating_add(done),
                self.packed_done.saturating_add(total),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_progress_grows_and_ends_at_its_total() {
        let mut seen = Vec::new();
        let mut record = |d, t| seen.push((d, t));
        let mut p = CombinedProgress::new(&mut record);
        p.report(Phase::Packing, 0, 100);
        p.report(Phase::Packing, 100, 100);
        p.report(Phase::Uploading, 0, 120);
        p.report(Phase::Uploading, 120, 120);
        assert_eq!(seen, vec![(0, 200), (100, 200), (100, 220), (220, 220)]);
        assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0));
    }
}
