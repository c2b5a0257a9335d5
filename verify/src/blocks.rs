//! The actual side: the complete blocks of a tenant in the output bucket,
//! and local copies of blocks to read them with `tsdb`'s reader.
//!
//! Written here rather than borrowed from the builder, so that what verify
//! counts as "the bucket's blocks" does not depend on the code it checks.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use base::DAY_MS;
use protocol::bucket::Bucket;
use protocol::names::{block_dir, block_file_key};
use tsdb::{BlockMeta, META_FILENAME};

use crate::report::{Difference, VerifyReport};
use crate::{DayRange, VerifyConfig};

/// The complete blocks (those with a meta.json) of `tenant`, by the UTC day
/// their `minTime` falls in, each day's in ULID order; days outside `days`
/// are left out. A block without meta.json is invisible to every reader, so
/// it is not counted.
pub(crate) async fn blocks_by_day(
    bucket: &Bucket,
    tenant: &str,
    days: DayRange,
) -> Result<BTreeMap<i32, Vec<String>>> {
    let (dirs, _) = bucket.list_dir(tenant).await?;
    let mut out: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for d in dirs {
        if ulid::Ulid::from_string(&d).is_err() {
            continue;
        }
        let key = block_file_key(tenant, &d, META_FILENAME);
        let Some(bytes) = bucket.get_opt(&key).await? else {
            continue;
        };
        let meta = BlockMeta::from_json(&bytes).with_context(|| bucket.key_url(&key))?;
        let Ok(day) = i32::try_from(meta.min_time.div_euclid(DAY_MS)) else {
            continue;
        };
        if days.contains(day) {
            out.entry(day).or_default().push(d);
        }
    }
    for blocks in out.values_mut() {
        blocks.sort();
    }
    Ok(out)
}

/// A local copy of the block `day` is compared with: the first of its
/// `blocks` (ULID order, never empty), any others reported as duplicates.
pub(crate) async fn day_block(
    cfg: &VerifyConfig,
    tenant: &str,
    day: i32,
    blocks: Vec<String>,
    scratch: &Path,
    report: &mut VerifyReport,
) -> Result<PathBuf> {
    let dir = local_copy(&cfg.bucket, tenant, &blocks[0], scratch).await?;
    if blocks.len() > 1 {
        let d = Difference::DuplicateBlocks {
            tenant: tenant.into(),
            day,
            blocks,
        };
        report.differ(d, cfg.max_reported);
    }
    Ok(dir)
}

/// Reports `blocks`, in a day with nothing expected, as extra.
pub(crate) fn extra_blocks(
    report: &mut VerifyReport,
    tenant: &str,
    day: i32,
    blocks: Vec<String>,
    max: usize,
) {
    for block in blocks {
        let d = Difference::ExtraBlock {
            tenant: tenant.into(),
            day,
            block,
        };
        report.differ(d, max);
    }
}

/// A local directory holding `<tenant>/<block>` of the output bucket: in
/// place for a local bucket, otherwise downloaded under `scratch`.
pub(crate) async fn local_copy(
    bucket: &Bucket,
    tenant: &str,
    block: &str,
    scratch: &Path,
) -> Result<PathBuf> {
    if let Some(dir) = bucket.local_dir() {
        return Ok(dir.join(tenant).join(block));
    }
    download_dir(bucket, &block_dir(tenant, block), &scratch.join(block)).await
}

/// Downloads every object under `prefix/` into `dest`, refusing names that
/// would leave `dest` (they come from a listing, untrusted).
pub(crate) async fn download_dir(bucket: &Bucket, prefix: &str, dest: &Path) -> Result<PathBuf> {
    let objects = bucket.list(prefix).await?;
    if objects.is_empty() {
        bail!("{}: no objects", bucket.key_url(prefix));
    }
    for o in objects {
        let rel = o.key.strip_prefix(&format!("{prefix}/")).unwrap_or(&o.key);
        if !Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            bail!("{}: not a plain relative name", bucket.key_url(&o.key));
        }
        let file = dest.join(rel);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        bucket.download_file(&o.key, &file).await?;
    }
    Ok(dest.to_path_buf())
}
