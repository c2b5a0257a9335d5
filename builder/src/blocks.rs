//! Blocks in the bucket: listing a tenant's complete ones, getting one onto
//! local disk, deleting one, and removing the blocks of a plan's earlier
//! attempts.
//!
//! A block without meta.json is partial and invisible to every reader
//! (Cortex, Mimir, Thanos), so meta.json is uploaded last (the worker's
//! fenced upload) and deleted first, and listings skip blocks without it.
//!
//! An attempt file is an object anyone with write access to the bucket can
//! plant, so its word alone never deletes a block: the block must be shown
//! to belong to the plan first (see [`remove_earlier_blocks`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use protocol::bucket::{Bucket, BucketError};
use protocol::names::{
    block_dir, block_file_key, join_prefix, parse_file_name_ref, PlanFileRef, PlanId,
};
use protocol::records::AttemptRecord;
use protocol::state::PlanFiles;
use tracing::{info, warn};
use tsdb::BlockMeta;

use crate::worker::BuilderConfig;

/// Deletes the blocks that attempts of plan `id` before `attempt` may have
/// uploaded, so a retried plan ends with one block. A block named by an
/// attempt file is deleted only when it provably belongs to this plan:
///
/// - it is under the plan's tenant (the key is built from the plan's ID,
///   never from the attempt file);
/// - its meta.json, if any, names the same ULID and a time range within
///   the plan's UTC day (no meta.json: a partial upload nobody reads);
/// - no finished file of any plan of the tenant names it.
///
/// Otherwise it stays, with a warning. An attempt file that cannot be read
/// is skipped the same way. Returns the blocks deleted.
pub(crate) async fn remove_earlier_blocks(
    cfg: &BuilderConfig,
    id: &PlanId,
    attempt: u32,
    files: &PlanFiles,
) -> anyhow::Result<Vec<String>> {
    let mut removed = Vec::new();
    // Listed once, and only when some attempt names a block.
    let mut finished: Option<HashSet<String>> = None;
    for &(k, _) in &files.attempts {
        if k >= attempt {
            continue;
        }
        let key = id.attempt_key(&cfg.prefix, k);
        let Some(bytes) = cfg.bucket.get_opt(&key).await? else {
            continue;
        };
        let rec: AttemptRecord = match serde_json::from_slice(&bytes) {
            Ok(r) => r,
            Err(e) => {
                warn!(attempt = %key, error = %e, "unreadable attempt file; its block is not removed");
                continue;
            }
        };
        if files.finished.contains(&rec.block) || ulid::Ulid::from_string(&rec.block).is_err() {
            continue;
        }
        let earlier_output = rec.output.as_deref().unwrap_or(cfg.bucket.url());
        if earlier_output != cfg.output.url() {
            warn!(attempt = %key, output = %earlier_output, "earlier attempt wrote to another output bucket; not removing its block");
            continue;
        }
        let named = match &finished {
            Some(f) => f,
            None => finished.insert(
                finished_blocks(&cfg.bucket, &cfg.prefix, &id.tenant)
                    .await
                    .with_context(|| format!("plan {id}: listing the tenant's finished files"))?,
            ),
        };
        if let Some(why) = not_of_plan(&cfg.output, id, &rec.block, named).await? {
            warn!(plan = %id, attempt = %key, block = %rec.block, reason = %why, "block named by an earlier attempt is not provably this plan's; left in place");
            continue;
        }
        delete_block(&cfg.output, &id.tenant, &rec.block)
            .await
            .with_context(|| format!("plan {id}: removing block {} of attempt {k}", rec.block))?;
        removed.push(rec.block);
    }
    if !removed.is_empty() {
        info!(plan = %id, blocks = ?removed, "removed blocks of earlier attempts");
    }
    Ok(removed)
}

/// The blocks named by finished files of any plan of `tenant` under
/// `prefix` (one listing of the tenant's plan directory).
pub(crate) async fn finished_blocks(
    bucket: &Bucket,
    prefix: &str,
    tenant: &str,
) -> Result<HashSet<String>, BucketError> {
    let (_, objects) = bucket.list_dir(&join_prefix(prefix, tenant)).await?;
    Ok(objects
        .iter()
        .filter_map(|o| {
            let name = o.key.rsplit('/').next()?;
            match parse_file_name_ref(name)? {
                (_, PlanFileRef::Finished(b)) => Some(b.to_string()),
                _ => None,
            }
        })
        .collect())
}

/// Why `block` under the plan's tenant cannot be shown to be the plan's
/// own; `None` when it is (see [`remove_earlier_blocks`]).
async fn not_of_plan(
    output: &Bucket,
    id: &PlanId,
    block: &str,
    finished: &HashSet<String>,
) -> anyhow::Result<Option<String>> {
    if finished.contains(block) {
        return Ok(Some("a finished file of another plan names it".into()));
    }
    let key = block_file_key(&id.tenant, block, "meta.json");
    let Some(bytes) = output.get_opt(&key).await? else {
        return Ok(None);
    };
    let meta = match BlockMeta::from_json(&bytes) {
        Ok(m) => m,
        Err(e) => return Ok(Some(format!("its meta.json does not parse: {e}"))),
    };
    if meta.ulid.to_string() != block {
        return Ok(Some(format!("its meta.json names block {}", meta.ulid)));
    }
    let (start, end) = (id.day_start_ms(), id.day_end_ms());
    if meta.min_time < start || meta.max_time > end {
        return Ok(Some(format!(
            "its time range [{}, {}) is outside the plan's day [{start}, {end})",
            meta.min_time, meta.max_time
        )));
    }
    Ok(None)
}

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
