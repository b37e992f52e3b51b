//! Payload files on disk, shared by both brokers. Bodies are streamed to and from disk in chunks,
//! so a 1 GiB transfer never sits in memory.

use axum::body::{Body, Bytes};
use futures_util::{Stream, StreamExt};
use openssl::hash::{Hasher, MessageDigest};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

pub enum WriteError {
    /// More than the limit arrived.
    TooLarge,
    /// The client's stream failed (disconnect) or the disk did.
    Failed(String),
}

pub struct Written {
    pub size: u64,
    /// Lower-case hex MD5, as the broker computes it.
    pub md5: String,
}

pub fn payload_path(store_dir: &Path, id: &uuid::Uuid) -> PathBuf {
    store_dir.join(format!("{id}.bin"))
}

/// Stream `body` into `final_path` (through a `.part` file, renamed on success).
pub async fn write_stream<S, E>(
    mut body: S,
    final_path: &Path,
    limit: u64,
) -> Result<Written, WriteError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    // A part file of its own per upload: two concurrent uploads to one transfer (allowed while it
    // is UploadStarted) must not interleave their bytes in one file.
    let part = final_path.with_extension(format!("{}.part", uuid::Uuid::new_v4()));
    let file = tokio::fs::File::create(&part)
        .await
        .map_err(|e| WriteError::Failed(format!("creating {}: {e}", part.display())))?;
    // Network chunks are small; batching them saves a blocking-pool hop per chunk.
    let mut file = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let mut hasher =
        Hasher::new(MessageDigest::md5()).map_err(|e| WriteError::Failed(e.to_string()))?;
    let mut size = 0u64;
    let result = async {
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| WriteError::Failed(format!("reading the request body: {e}")))?;
            size += chunk.len() as u64;
            if size > limit {
                return Err(WriteError::TooLarge);
            }
            hasher
                .update(&chunk)
                .map_err(|e| WriteError::Failed(e.to_string()))?;
            file.write_all(&chunk)
                .await
                .map_err(|e| WriteError::Failed(format!("writing {}: {e}", part.display())))?;
        }
        file.flush()
            .await
            .map_err(|e| WriteError::Failed(format!("writing {}: {e}", part.display())))?;
        Ok(())
    }
    .await;
    drop(file);
    if let Err(e) = result {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(e);
    }
    tokio::fs::rename(&part, final_path)
        .await
        .map_err(|e| WriteError::Failed(format!("renaming {}: {e}", part.display())))?;
    let digest = hasher
        .finish()
        .map_err(|e| WriteError::Failed(e.to_string()))?;
    let md5 = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Written { size, md5 })
}

/// A response body streaming `len` bytes of a file from `offset`.
pub async fn file_body(path: &Path, offset: u64, len: u64) -> std::io::Result<Body> {
    let mut file = tokio::fs::File::open(path).await?;
    if offset > 0 {
        file.seek(std::io::SeekFrom::Start(offset)).await?;
    }
    use tokio::io::AsyncReadExt;
    let reader = file.take(len);
    Ok(Body::from_stream(
        tokio_util::io::ReaderStream::with_capacity(reader, 64 * 1024),
    ))
}
