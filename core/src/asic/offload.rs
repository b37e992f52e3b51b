//! A file written on a second thread, so that the thread extracting an ASiC-E spends its time on
//! SHA-256 while the system calls that copy the bytes into the file (as costly as the hashing on
//! a RAM-backed disk) and the CRC-32 the zip reader checks run beside it on the other core.
//!
//! The caller hands over pieces whole: buffers it took from [`OffloadedFile::buffer`], or runs of
//! bytes in a block shared with the thread that decrypted it (written from there with one
//! `writev` per block, the block going back to that thread afterwards), so no byte is copied on
//! the way. Small files never start the thread: the first [`INLINE_UP_TO`] bytes are written on
//! the caller's thread, which for the many small messages of a busy installation is all there
//! is.

use super::zipfmt::pieces::{write_all_vectored, Piece, SharedChunk};
use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::ops::Range;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Bytes written on the caller's thread before the writer thread is started.
const INLINE_UP_TO: u64 = 1024 * 1024;
/// Writes in flight to the writer thread.
const DEPTH: usize = 4;

/// One write: a buffer of its own, or runs of bytes in a shared block (written with one
/// `writev`; the block goes back to whoever fills it once written).
enum Job {
    Owned(Vec<u8>),
    Shared(SharedChunk, Vec<Range<usize>>),
}

impl Job {
    /// Write it, adding its bytes to `crc` (computed here, not on the hashing thread, and after
    /// the write, which brought the bytes into this core's cache).
    fn write(&self, file: &mut File, crc: &mut crc32fast::Hasher) -> io::Result<()> {
        match self {
            Job::Owned(data) => {
                file.write_all(data)?;
                crc.update(data);
            }
            Job::Shared(chunk, ranges) => {
                let bytes = chunk.bytes();
                let mut slices: Vec<IoSlice<'_>> = ranges
                    .iter()
                    .map(|r| IoSlice::new(&bytes[r.clone()]))
                    .collect();
                write_all_vectored(file, &mut slices)?;
                for r in ranges {
                    crc.update(&bytes[r.clone()]);
                }
            }
        }
        Ok(())
    }
}

enum State {
    Inline(File, crc32fast::Hasher),
    Threaded {
        tx: mpsc::SyncSender<Job>,
        free: mpsc::Receiver<Vec<u8>>,
        handle: JoinHandle<io::Result<(File, crc32fast::Hasher)>>,
    },
    Gone,
}

pub(crate) struct OffloadedFile {
    state: State,
    written: u64,
    /// A buffer to hand out again (inline mode, or spare).
    spare: Option<Vec<u8>>,
    /// Runs of one shared block not yet sent, to go out in one write.
    batch: Option<(SharedChunk, Vec<Range<usize>>)>,
}

impl OffloadedFile {
    pub(crate) fn new(file: File) -> Self {
        OffloadedFile {
            state: State::Inline(file, crc32fast::Hasher::new()),
            written: 0,
            spare: None,
            batch: None,
        }
    }

    /// A buffer of `len` bytes to fill (its bytes are whatever it held before).
    pub(crate) fn buffer(&mut self, len: usize) -> Vec<u8> {
        let mut v = self.spare.take().unwrap_or_else(|| match &self.state {
            State::Threaded { free, .. } => free.try_recv().unwrap_or_default(),
            _ => Vec::new(),
        });
        v.resize(len, 0);
        v
    }

    /// Write a piece of an entry: runs of the same shared block are gathered into one write.
    pub(crate) fn write_piece(&mut self, piece: Piece) -> io::Result<()> {
        match piece {
            Piece::Shared { chunk, range } => {
                if let Some((held, ranges)) = &mut self.batch {
                    if held.same(&chunk) {
                        ranges.push(range);
                        return Ok(());
                    }
                }
                self.flush_batch()?;
                self.batch = Some((chunk, vec![range]));
                Ok(())
            }
            Piece::Owned(data) => {
                self.flush_batch()?;
                self.send(Job::Owned(data))
            }
        }
    }

    fn flush_batch(&mut self) -> io::Result<()> {
        match self.batch.take() {
            Some((chunk, ranges)) => self.send(Job::Shared(chunk, ranges)),
            None => Ok(()),
        }
    }

    fn send(&mut self, job: Job) -> io::Result<()> {
        self.written += match &job {
            Job::Owned(data) => data.len() as u64,
            Job::Shared(_, ranges) => ranges.iter().map(|r| r.len() as u64).sum(),
        };
        if let State::Inline(file, crc) = &mut self.state {
            job.write(file, crc)?;
            if let Job::Owned(data) = job {
                self.spare = Some(data);
            }
            if self.written > INLINE_UP_TO {
                self.start_thread()?;
            }
            return Ok(());
        }
        let State::Threaded { tx, .. } = &self.state else {
            return Err(io::Error::other("the file was already finished"));
        };
        if tx.send(job).is_err() {
            // The writer stopped: its error says why.
            return Err(self
                .join()
                .err()
                .unwrap_or_else(|| io::Error::other("the file writer stopped before the end")));
        }
        Ok(())
    }

    fn start_thread(&mut self) -> io::Result<()> {
        let State::Inline(file, crc) = std::mem::replace(&mut self.state, State::Gone) else {
            return Ok(());
        };
        let (tx, rx) = mpsc::sync_channel::<Job>(DEPTH);
        let (free_tx, free) = mpsc::sync_channel::<Vec<u8>>(DEPTH + 2);
        let handle = std::thread::Builder::new()
            .name("efm-extract-write".into())
            .spawn(move || -> io::Result<(File, crc32fast::Hasher)> {
                let (mut file, mut crc) = (file, crc);
                for job in rx {
                    job.write(&mut file, &mut crc)?;
                    if let Job::Owned(data) = job {
                        let _ = free_tx.try_send(data);
                    }
                }
                Ok((file, crc))
            })?;
        self.state = State::Threaded { tx, free, handle };
        Ok(())
    }

    fn join(&mut self) -> io::Result<(File, crc32fast::Hasher)> {
        match std::mem::replace(&mut self.state, State::Gone) {
            State::Inline(file, crc) => Ok((file, crc)),
            State::Threaded { tx, handle, .. } => {
                drop(tx);
                handle
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("the file writer thread panicked")))
            }
            State::Gone => Err(io::Error::other("the file was already finished")),
        }
    }

    /// Wait for every byte to be written: the file and the CRC-32 of its bytes, or the file's
    /// first write error.
    pub(crate) fn finish(mut self) -> io::Result<(File, u32)> {
        self.flush_batch()?;
        self.join().map(|(file, crc)| (file, crc.finalize()))
    }
}

impl Drop for OffloadedFile {
    fn drop(&mut self) {
        // An abandoned file (the extraction failed): let the thread end before the staging
        // directory goes.
        self.batch = None;
        let _ = self.join();
    }
}
