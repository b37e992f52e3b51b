//! The zip format as DPO needs it: a streaming writer and a streaming, validating reader.
//!
//! Written by hand rather than with the `zip` crate because the wire needs control that crate does
//! not give in streaming mode: STORED entries whose CRC and size are known up front must carry them
//! in the local header (Java's `ZipInputStream` cannot read a STORED entry with a data descriptor:
//! OpenJDK refuses it, "only DEFLATED entries can have EXT descriptor"), DEFLATED entries use data
//! descriptors, `mimetype` carries an entry comment, and a STORED entry of unknown size can be
//! patched in place when the output is seekable. The reader reads entries as they come (decrypted
//! ASiC bytes never touch the disk as a zip), counts decompressed bytes against limits, and checks
//! the central directory at the end against what the local headers said, so a zip that shows
//! different things to different readers is refused.
//!
//! Zip64 is written when an entry or the archive outgrows 4 GiB (entries whose size is not known
//! up front must be announced with a size hint) and is read wherever it appears.

use crate::error::{Error, ErrorKind, Result};
use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};

pub(crate) mod deflaters;
mod names;
pub(crate) mod pieces;
mod reader;
#[cfg(test)]
mod tests;
mod writer;

pub use names::*;
pub use reader::*;
pub use writer::*;

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const DESCRIPTOR_SIG: u32 = 0x0807_4b50;
const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EXTRA: u16 = 0x0001;
/// Entries expected to reach this size get Zip64 local headers (deflate may grow incompressible
/// data a little, so stay clear of 4 GiB).
const ZIP64_HINT: u64 = 0xF000_0000;
const FLAG_DESCRIPTOR: u16 = 1 << 3;
const FLAG_UTF8: u16 = 1 << 11;
const METHOD_STORED: u16 = 0;
const METHOD_DEFLATED: u16 = 8;
const LIMIT_32: u64 = 0xFFFF_FFFF;
const BUF: usize = 64 * 1024;

fn pkg_err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::PackageInvalid, msg)
}

fn too_big() -> Error {
    Error::new(
        ErrorKind::EntryTooLarge,
        "a zip entry grew past 4 GiB without a size hint announcing it (no Zip64 header was written)",
    )
}
