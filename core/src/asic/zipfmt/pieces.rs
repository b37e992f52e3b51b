//! Blocks of bytes shared between threads instead of copied, for reading an entry without
//! copying it: the decrypting thread fills a block, the extracting thread hashes the entry's
//! bytes where they lie in it, and the thread writing the file writes them from there; the
//! last of them to let go of the block sends it back to be filled again.

use std::io::{self, BufRead, BufReader, Read};
use std::ops::Range;
use std::sync::{mpsc, Arc};

/// A filled block shared by the threads that read it. When the last holder drops it, the buffer
/// goes back to the producer through `recycle` (when there is one and it has room).
pub struct SharedChunk {
    data: Option<Arc<Vec<u8>>>,
    recycle: Option<mpsc::SyncSender<Vec<u8>>>,
}

impl SharedChunk {
    pub fn new(data: Vec<u8>, recycle: Option<mpsc::SyncSender<Vec<u8>>>) -> Self {
        SharedChunk {
            data: Some(Arc::new(data)),
            recycle,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        self.data.as_deref().map(Vec::as_slice).unwrap_or_default()
    }

    /// Whether both are the same block.
    pub fn same(&self, other: &SharedChunk) -> bool {
        match (&self.data, &other.data) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Clone for SharedChunk {
    fn clone(&self) -> Self {
        SharedChunk {
            data: self.data.clone(),
            recycle: self.recycle.clone(),
        }
    }
}

impl Drop for SharedChunk {
    fn drop(&mut self) {
        // `into_inner` gives the buffer to exactly one of the holders dropping it, even when
        // they drop it at the same time on different threads.
        if let (Some(data), Some(recycle)) = (self.data.take(), &self.recycle) {
            if let Some(buffer) = Arc::into_inner(data) {
                let _ = recycle.try_send(buffer);
            }
        }
    }
}

/// A run of an entry's uncompressed bytes.
pub enum Piece {
    /// Where they lie in the input's own block.
    Shared {
        chunk: SharedChunk,
        range: Range<usize>,
    },
    /// Copied or inflated into a buffer of their own.
    Owned(Vec<u8>),
}

impl Piece {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Piece::Shared { chunk, range } => &chunk.bytes()[range.clone()],
            Piece::Owned(v) => v,
        }
    }
}

/// A `BufRead` that may lend its buffer out: `share` names the block the last `fill_buf`
/// returned and where the returned bytes start in it. A source either always shares (once
/// `fill_buf` returned bytes) or never does; one that never does has its bytes copied.
pub trait ShareBuf: BufRead {
    fn share(&self) -> Option<(SharedChunk, usize)> {
        None
    }
}

impl<R: Read> ShareBuf for BufReader<R> {}
impl ShareBuf for &[u8] {}

/// `write_all` for several slices at once (`Write::write_all_vectored` is not stable).
pub(crate) fn write_all_vectored(
    out: &mut impl io::Write,
    mut slices: &mut [io::IoSlice<'_>],
) -> io::Result<()> {
    io::IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match out.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => io::IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
