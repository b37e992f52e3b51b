//! A file written on a second thread, so that the thread extracting an ASiC-E spends its time on
//! SHA-256 and the zip while the system calls that copy the bytes into the file (as costly as
//! the hashing on a RAM-backed disk) run beside it on the other core.
//!
//! The caller fills buffers it takes from [`OffloadedFile::buffer`] and hands them over whole,
//! so no byte is copied on the way. Small files never start the thread: the first
//! [`INLINE_UP_TO`] bytes are written on the caller's thread, which for the many small messages
//! of a busy installation is all there is.

use std::fs::File;
use std::io::{self, Write};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Bytes written on the caller's thread before the writer thread is started.
const INLINE_UP_TO: u64 = 1024 * 1024;
/// Buffers in flight to the writer thread.
const DEPTH: usize = 4;

enum State {
    Inline(File),
    Threaded {
        tx: mpsc::SyncSender<Vec<u8>>,
        free: mpsc::Receiver<Vec<u8>>,
        handle: JoinHandle<io::Result<File>>,
    },
    Gone,
}

pub(crate) struct OffloadedFile {
    state: State,
    written: u64,
    /// A buffer to hand out again (inline mode, or spare).
    spare: Option<Vec<u8>>,
}

impl OffloadedFile {
    pub(crate) fn new(file: File) -> Self {
        OffloadedFile {
            state: State::Inline(file),
            written: 0,
            spare: None,
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

    /// Write `data` (a buffer from [`OffloadedFile::buffer`], truncated to what was filled).
    pub(crate) fn write_owned(&mut self, data: Vec<u8>) -> io::Result<()> {
        self.written += data.len() as u64;
        if let State::Inline(file) = &mut self.state {
            file.write_all(&data)?;
            self.spare = Some(data);
            if self.written > INLINE_UP_TO {
                self.start_thread()?;
            }
            return Ok(());
        }
        let State::Threaded { tx, .. } = &self.state else {
            return Err(io::Error::other("the file was already finished"));
        };
        if tx.send(data).is_err() {
            // The writer stopped: its error says why.
            return Err(self
                .join()
                .err()
                .unwrap_or_else(|| io::Error::other("the file writer stopped before the end")));
        }
        Ok(())
    }

    fn start_thread(&mut self) -> io::Result<()> {
        let State::Inline(file) = std::mem::replace(&mut self.state, State::Gone) else {
            return Ok(());
        };
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(DEPTH);
        let (free_tx, free) = mpsc::sync_channel::<Vec<u8>>(DEPTH + 2);
        let handle = std::thread::Builder::new()
            .name("efm-extract-write".into())
            .spawn(move || -> io::Result<File> {
                let mut file = file;
                for data in rx {
                    file.write_all(&data)?;
                    let _ = free_tx.try_send(data);
                }
                Ok(file)
            })?;
        self.state = State::Threaded { tx, free, handle };
        Ok(())
    }

    fn join(&mut self) -> io::Result<File> {
        match std::mem::replace(&mut self.state, State::Gone) {
            State::Inline(file) => Ok(file),
            State::Threaded { tx, handle, .. } => {
                drop(tx);
                handle
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("the file writer thread panicked")))
            }
            State::Gone => Err(io::Error::other("the file was already finished")),
        }
    }

    /// Wait for every byte to be written; the file's first write error, if any.
    pub(crate) fn finish(mut self) -> io::Result<File> {
        self.join()
    }
}

impl Drop for OffloadedFile {
    fn drop(&mut self) {
        // An abandoned file (the extraction failed): let the thread end before the staging
        // directory goes.
        let _ = self.join();
    }
}
