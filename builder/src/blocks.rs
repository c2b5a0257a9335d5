//! Moving blocks between local disk and the bucket.
//!
//! Upload order is chunk segments, then the index, then meta.json. A block
//! without meta.json is partial and invisible to every reader (Cortex,
//! Mimir, Thanos), so a crash at any point before the last put leaves
//! nothing that a querier or compactor would pick up.

use std::path::{Path, PathBuf};

use protocol::bucket::{Bucket, BucketError};
use tsdb::meta::BlockMeta;

/// Uploads `dir` to `<tenant>/<block>/` and returns the bytes uploaded.
pub async fn upload_block(
    bucket: &Bucket,
    tenant: &str,
    block: &str,
    dir: &Path,
) -> Result<u64, BucketError> {
    let base = format!("{tenant}/{block}");
    let mut bytes = 0u64;
    let chunks_dir = dir.join("chunks");
    let mut segments: Vec<_> = std::fs::read_dir(&chunks_dir)
        .map_err(|e| local_err(bucket, &base, &chunks_dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    segments.sort();
    for s in &segments {
        let file = chunks_dir.join(s);
        bytes += file_len(bucket, &base, &file)?;
        bucket
            .upload_file(&format!("{base}/chunks/{s}"), &file)
            .await?;
    }
    for name in ["index", "meta.json"] {
        let file = dir.join(name);
        bytes += file_len(bucket, &base, &file)?;
        bucket.upload_file(&format!("{base}/{name}"), &file).await?;
    }
    Ok(bytes)
}

/// Removes a block's objects, meta.json first so that it turns invisible
/// before it turns partial.
pub async fn delete_block(bucket: &Bucket, tenant: &str, block: &str) -> Result<(), BucketError> {
    let base = format!("{tenant}/{block}");
    bucket.delete(&format!("{base}/meta.json")).await?;
    bucket.delete_prefix(&base).await
}

fn file_len(bucket: &Bucket, key: &str, file: &Path) -> Result<u64, BucketError> {
    std::fs::metadata(file)
        .map(|m| m.len())
        .map_err(|e| local_err(bucket, key, file, e))
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
    pub tenant: String,
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
        let key = format!("{tenant}/{d}/meta.json");
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
    let base = format!("{tenant}/{block}");
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
