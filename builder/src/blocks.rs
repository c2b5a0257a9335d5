//! Blocks in the bucket: listing a tenant's complete ones, getting one onto
//! local disk, deleting one.
//!
//! A block without meta.json is partial and invisible to every reader
//! (Cortex, Mimir, Thanos), so meta.json is uploaded last (the worker's
//! fenced upload) and deleted first, and listings skip blocks without it.

use std::path::{Path, PathBuf};

use protocol::bucket::{Bucket, BucketError};
use protocol::names::{block_dir, block_file_key};
use tsdb::BlockMeta;

/// Removes a block's objects, meta.json first so that it turns invisible
/// before it turns partial.
pub(crate) async fn delete_block(
    bucket: &Bucket,
    tenant: &str,
    block: &str,
) -> Result<(), BucketError> {
    bucket
        .delete(&block_file_key(tenant, block, "meta.json"))
        .await?;
    bucket.delete_prefix(&block_dir(tenant, block)).await
}

fn local_err(bucket: &Bucket, key: &str, file: &Path, e: std::io::Error) -> BucketError {
    BucketError::Io {
        bucket: bucket.url().to_string(),
        op: "upload",
        key: key.to_string(),
        file: file.to_path_buf(),
        error: e,
    }
}

/// A complete block in the bucket: its meta.json parsed.
#[derive(Clone, Debug)]
pub struct RemoteBlock {
    /// The tenant directory the block is under.
    pub tenant: String,
    /// The block's meta.json (its ULID, time range and stats).
    pub meta: BlockMeta,
}

/// The complete blocks of a tenant (those with a readable meta.json),
/// sorted by start time. Partial blocks are left out, as every reader does.
pub async fn list_tenant_blocks(bucket: &Bucket, tenant: &str) -> anyhow::Result<Vec<RemoteBlock>> {
    use anyhow::Context;
    let (dirs, _) = bucket.list_dir(tenant).await?;
    let mut out = Vec::new();
    for d in dirs {
        if ulid::Ulid::from_string(&d).is_err() {
            continue;
        }
        let key = block_file_key(tenant, &d, "meta.json");
        let Some(bytes) = bucket.get_opt(&key).await? else {
            continue;
        };
        let meta = BlockMeta::from_json(&bytes).with_context(|| bucket.key_url(&key))?;
        out.push(RemoteBlock {
            tenant: tenant.to_string(),
            meta,
        });
    }
    out.sort_by_key(|b| (b.meta.min_time, b.meta.ulid));
    Ok(out)
}

/// A local directory holding the block: in place for a local bucket,
/// otherwise downloaded under `scratch`.
pub async fn local_block(
    bucket: &Bucket,
    tenant: &str,
    block: &str,
    scratch: &Path,
) -> Result<PathBuf, BucketError> {
    if let Some(dir) = bucket.local_dir() {
        return Ok(dir.join(tenant).join(block));
    }
    let base = block_dir(tenant, block);
    let dest = scratch.join(block);
    for o in bucket.list(&base).await? {
        let rel = o.key.strip_prefix(&format!("{base}/")).unwrap_or(&o.key);
        let file = dest.join(rel);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| local_err(bucket, &o.key, parent, e))?;
        }
        bucket.download_file(&o.key, &file).await?;
    }
    Ok(dest)
}
