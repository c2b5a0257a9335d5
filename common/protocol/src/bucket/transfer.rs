//! Moving whole files between local disk and the bucket, resiliently.
//!
//! Uploads: files up to [`MULTIPART_THRESHOLD`] are one put (atomic, and
//! retried as such). Larger ones go in parts of [`PART_SIZE`], a few in
//! flight, each under the per-attempt timeout. `object_store`'s multipart
//! API numbers parts as they are sent, so one part cannot be resent alone:
//! a failed part aborts the upload (no object appears, the parts are
//! dropped) and the whole file is sent again, within the retry budget.
//!
//! Downloads stream to the local file; a failure restarts the file from
//! its first byte.
//!
//! Not here: the block layout or the upload order (`builder::blocks`).

use std::path::Path as FsPath;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{MultipartUpload, ObjectStoreExt, PutPayload};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::warn;

use super::retry::Failure;
use super::{parse_key, Bucket, Result};

/// Objects larger than this are uploaded in parts, so memory stays bounded
/// whatever the size of a chunk segment.
pub(crate) const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts sent at once: enough to fill a link, bounded memory (parts held).
const PARTS_IN_FLIGHT: usize = 4;

impl Bucket {
    /// Uploads a local file, in parts when it is large. On failure no
    /// object (and no partial one) is left under the key by this call.
    pub async fn upload_file(&self, key: &str, file: &FsPath) -> Result<()> {
        let path = parse_key(key)?;
        let ioe = |e| self.io_err("upload", key, file, e);
        let len = tokio::fs::metadata(file).await.map_err(ioe)?.len();
        if len <= MULTIPART_THRESHOLD {
            let data = bytes::Bytes::from(tokio::fs::read(file).await.map_err(ioe)?);
            return self.put_as("upload", key, &path, data).await;
        }
        self.retrying("upload", key, |_| self.multipart_attempt(key, &path, file))
            .await
    }

    /// One try at a multipart upload: aborted on any failure.
    async fn multipart_attempt(
        &self,
        key: &str,
        path: &Path,
        file: &FsPath,
    ) -> Result<(), Failure> {
        let mut f = tokio::fs::File::open(file)
            .await
            .map_err(|e| self.io_err("upload", key, file, e))?;
        let mut upload = self.request(0, self.store.put_multipart(path)).await?;
        let mut result = self.send_parts(upload.as_mut(), &mut f, key, file).await;
        if result.is_ok() {
            result = self.timed(upload.complete()).await.map(drop);
        }
        if let Err(e) = &result {
            if let Err(abort) = self.timed(upload.abort()).await {
                warn!(bucket = %self.url, key, error = %e, abort_error = %abort,
                    "cannot abort a failed multipart upload; the store drops its parts later");
            }
        }
        result
    }

    async fn send_parts(
        &self,
        upload: &mut dyn MultipartUpload,
        f: &mut tokio::fs::File,
        key: &str,
        file: &FsPath,
    ) -> Result<(), Failure> {
        let mut in_flight = FuturesUnordered::new();
        loop {
            let mut buf = vec![0u8; PART_SIZE];
            let n = read_full(f, &mut buf)
                .await
                .map_err(|e| self.io_err("upload", key, file, e))?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            if let Some(t) = &self.opts.throttle {
                t.acquire(n as u64).await;
            }
            let part = upload.put_part(PutPayload::from(buf));
            in_flight.push(self.timed(part));
            while in_flight.len() >= PARTS_IN_FLIGHT {
                if let Some(r) = in_flight.next().await {
                    r?;
                }
            }
            if n < PART_SIZE {
                break;
            }
        }
        while let Some(r) = in_flight.next().await {
            r?;
        }
        Ok(())
    }

    /// Downloads an object into a local file, streaming.
    pub async fn download_file(&self, key: &str, file: &FsPath) -> Result<u64> {
        let path = parse_key(key)?;
        self.confine_local(key)?;
        self.retrying("download", key, |_| async {
            let r = self.request(0, self.store.get(&path)).await?;
            let ioe = |e| Failure::Local(self.io_err("download", key, file, e));
            // Created afresh on each attempt: a retry starts from byte 0.
            let mut out = tokio::fs::File::create(file).await.map_err(ioe)?;
            let mut stream = r.into_stream();
            let mut n = 0u64;
            while let Some(chunk) = self.next_item(&mut stream).await? {
                self.received(chunk.len()).await;
                n += chunk.len() as u64;
                out.write_all(&chunk).await.map_err(ioe)?;
            }
            out.flush().await.map_err(ioe)?;
            Ok(n)
        })
        .await
    }
}

/// Reads until `buf` is full or the file ends; parts must be full-sized
/// except the last (S3 refuses small middle parts).
async fn read_full(f: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let r = f.read(&mut buf[n..]).await?;
        if r == 0 {
            break;
        }
        n += r;
    }
    Ok(n)
}
