//! Verification: re-read a source and compare it, sample for sample, with
//! the blocks in the bucket.
//!
//! It answers the question an SRE asks at the end of a campaign: does the
//! bucket hold exactly what the source held, deduplicated and cut into UTC
//! days? The expected side comes from a reference path written for this
//! crate alone: slow and plain, sharing with the builder and scanner only
//! the format decoders (`tsdb` block reading, `cortex` chunk decoding and
//! chunk-store access, the `openmetrics` parser, `protocol` plan reading,
//! the `sort` external sort), so a dedup, clipping or grouping bug in the
//! builder shows here instead of hiding behind the same code. The actual
//! side is read with `tsdb`'s block reader, which checks every CRC.
//!
//! Not for: repairing anything (it writes nothing to the bucket), checking
//! the builder's counts (finished records), or speed.
//!
//! # The reference
//!
//! Each source is reduced to (labels, sample) pairs in the source's own
//! order of preference; then one rule makes the series of a tenant and UTC
//! day `d` (`[d·86 400 000, (d+1)·86 400 000)` ms):
//!
//! 1. keep the samples inside the day;
//! 2. of samples of one series with equal timestamps keep the first in the
//!    order of preference;
//! 3. compare values bit for bit (NaN and stale markers included).
//!
//! A series with no sample left has no place in the block; a day with no
//! series has no block; a day with samples has exactly one block, the one
//! whose `minTime` falls in it. Per source:
//!
//! - **OpenMetrics** (`--target-tenant`, or the one `--tenant`, names the tenant): every sample the parser
//!   yields, labels normalised (two spellings of one label set are one
//!   series), in file order. Days outside `--from`/`--to` are left out.
//! - **Prometheus**: the blocks are found as the scanner documents (data or
//!   snapshot dir, single block dir, bucket URL; skipping the head and WAL,
//!   non-ULID entries, blocks without meta.json or with a deletion mark;
//!   refusing downsampled and native-histogram blocks); blocks with
//!   `maxTime <= minTime` hold nothing. A block's tenant is its
//!   `--tenant-label` external label, else `--target-tenant`; a block naming an
//!   invalid tenant is left out. A block feeds every day its
//!   `[minTime, maxTime)` touches. Series lose the `--drop-label`s. Order
//!   of preference: sources in command-line order, then blocks by
//!   (minTime, ULID), then series in index order, then samples in chunk
//!   order.
//! - **Cortex**: the chunks the plans under the prefix list, plan by plan
//!   (the plans are the index's answer to "which chunks are the day's").
//!   Each chunk ID is parsed for the plan's tenant and fetched through
//!   [`cortex::ChunkFetcher`] from the store of the day's schema period; a
//!   missing chunk is left out. A fetched chunk is decoded and checked (the
//!   object against its key, its labels, samples never going back in time
//!   and inside the key's `[from, through]`); an empty chunk is left out, a
//!   corrupt one fails verification, or with `--on-corrupt-chunk skip` is
//!   left out (and a series whose fetched chunks are all corrupt with it).
//!   The usable chunks of one series ID must agree on labels, else the
//!   same (fail, or leave the series out). Order of preference, in two
//!   steps: inside a series ID, chunks by (from, chunk key), then samples
//!   in chunk order (the earliest chunk wins); series IDs with equal labels
//!   are then merged, each already deduplicated, by (from, key) of their
//!   first usable chunk, then plan order. The block compared is the one
//!   the plan's finished file names; none is a missing block, several are
//!   duplicates.

mod blocks;
mod compare;
mod from_cortex;
mod from_openmetrics;
mod from_prometheus;
mod report;

use std::path::PathBuf;

use anyhow::{bail, Result};
use protocol::bucket::Bucket;
use protocol::source::SourceSpec;

pub use from_cortex::CortexVerify;
pub use from_prometheus::PrometheusOptions;
pub use report::{Difference, VerifyReport};

/// UTC days to verify: `[from, to)` in days since the epoch, either end open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DayRange {
    /// First day included; `None` for no lower bound.
    pub from: Option<i32>,
    /// First day excluded; `None` for no upper bound.
    pub to: Option<i32>,
}

impl DayRange {
    /// Whether `day` is inside the range.
    pub fn contains(&self, day: i32) -> bool {
        self.from.is_none_or(|f| day >= f) && self.to.is_none_or(|t| day < t)
    }
}

/// What to compare, and with how much memory and detail.
#[derive(Clone, Debug)]
pub struct VerifyConfig {
    /// The output bucket, where the blocks are (`--output`).
    pub bucket: Bucket,
    /// The plan bucket (`--bucket`): Cortex plans and their finished files.
    pub plans: Bucket,
    /// The tenant of an OpenMetrics source, the tenant of a Prometheus
    /// one's blocks without `tenant_label` (`--target-tenant`).
    pub tenant: Option<String>,
    /// Only these tenants are compared (`--tenant`, `--ignore-tenants`).
    pub tenants: protocol::tenant::TenantFilter,
    /// Scratch space: sort runs, downloaded blocks and plans.
    pub work_dir: PathBuf,
    /// Bytes the reference may hold in memory before its sort spills.
    pub memory_budget: usize,
    /// Days compared; the rest of the source and the bucket is ignored.
    pub days: DayRange,
    /// Differences kept for the report; all are counted.
    pub max_reported: usize,
    /// The chunk store and plan prefix, for `--source cortex:...`.
    pub cortex: Option<CortexVerify>,
    /// Tenant label and replica labels, for `--source prometheus:...`.
    pub prometheus: PrometheusOptions,
}

/// Compares the blocks in `cfg.bucket` with what `source` holds.
pub async fn verify(cfg: &VerifyConfig, source: &SourceSpec) -> Result<VerifyReport> {
    match source {
        SourceSpec::OpenMetrics(path) => from_openmetrics::verify_openmetrics(cfg, path).await,
        SourceSpec::Cortex(_) => match &cfg.cortex {
            Some(cv) => from_cortex::verify_cortex(cfg, cv).await,
            None => bail!("verifying a cortex source needs its chunk store configuration"),
        },
        SourceSpec::Prometheus(sources) => from_prometheus::verify_prometheus(cfg, sources).await,
    }
}

/// A scratch directory under the configured work dir, removed on drop.
fn scratch_dir(cfg: &VerifyConfig) -> Result<tempfile::TempDir> {
    use anyhow::Context;
    std::fs::create_dir_all(&cfg.work_dir)
        .with_context(|| format!("creating work dir {}", cfg.work_dir.display()))?;
    tempfile::Builder::new()
        .prefix("verify-")
        .tempdir_in(&cfg.work_dir)
        .with_context(|| format!("creating a dir in {}", cfg.work_dir.display()))
}
