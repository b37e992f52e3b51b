//! Deflate streams kept for reuse across entries and packages.
//!
//! Setting one up allocates and clears several hundred KiB (window, hash chains, buffers): for a
//! small message that cost more than the deflating itself (a send of a 20 KiB document set up
//! four, for the sample and the XML entries, about 15 % of its CPU time). A reset stream gives
//! the same output as a new one.

use flate2::{Compress, Compression};
use std::sync::Mutex;

/// Idle streams kept at most (each holds its buffers).
const KEPT: usize = 8;

static IDLE: Mutex<Vec<(u32, Box<Compress>)>> = Mutex::new(Vec::new());

/// A raw deflate stream (no zlib header) at `level`: an idle one, or a new one.
pub fn take(level: u32) -> Box<Compress> {
    let reused = {
        let mut idle = IDLE.lock().unwrap_or_else(|p| p.into_inner());
        idle.iter()
            .position(|(l, _)| *l == level)
            .map(|i| idle.swap_remove(i).1)
    };
    reused.unwrap_or_else(|| Box::new(Compress::new(Compression::new(level), false)))
}

/// Hand a stream taken at `level` back. It is reset here, so one abandoned in the middle of an
/// entry is as clean for its next user as a new one.
pub fn give_back(level: u32, mut stream: Box<Compress>) {
    stream.reset();
    let mut idle = IDLE.lock().unwrap_or_else(|p| p.into_inner());
    if idle.len() < KEPT {
        idle.push((level, stream));
    }
}
