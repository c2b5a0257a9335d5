//! Verifying a Cortex campaign: every plan against the block its finished
//! file names, sample for sample.
//!
//! For each plan under the prefix (finished or not), the expected series are
//! rebuilt from the chunk store: chunk IDs from the plan, chunks fetched,
//! decoded, checked against their keys and merged with the Cortex rules
//! (shared with the builder, they are the definition of "expected"); the
//! actual series are read back from the block with our block reader, which
//! checks every CRC. A plan without a finished file is a missing block.
//!
//! It trusts nothing of the builder's output but the block itself, and it
//! writes nothing.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use base::Labels;
use builder::cortex::{merge_same_labels, MergedSeries, SeriesRecord};
use builder::cortex::{ChunkFetcher, CortexSource, SeriesLoader};
use builder::local_block;
use futures::StreamExt;
use protocol::names::PlanId;
use protocol::plan::{PlanEntry, PlanReader};
use protocol::state::plans_from_listing;
use sort::ExternalSorter;
use tsdb::{BlockReader, XorIterator};

use super::{Difference, VerifyConfig, VerifyReport};

/// What verifying a Cortex source needs besides [`VerifyConfig`].
#[derive(Clone, Debug)]
pub struct CortexVerify {
    pub source: Arc<CortexSource>,
    /// Where the plans are in the bucket.
    pub prefix: String,
}

pub async fn verify_cortex(cfg: &VerifyConfig, cv: &CortexVerify) -> Result<VerifyReport> {
    std::fs::create_dir_all(&cfg.work_dir)
        .with_context(|| format!("creating work dir {}", cfg.work_dir.display()))?;
    let work = tempfile::Builder::new()
        .prefix("verify-cortex-")
        .tempdir_in(&cfg.work_dir)
        .with_context(|| format!("creating a dir in {}", cfg.work_dir.display()))?;
    let objects = cfg.bucket.list(&cv.prefix).await?;
    let plans = plans_from_listing(&cv.prefix, &objects);
    let mut report = VerifyReport::default();
    for (id, files) in plans {
        if cfg.tenant.as_ref().is_some_and(|t| *t != id.tenant) || !cfg.days.contains(id.day) {
            continue;
        }
        let Some((compression, _)) = files.plans.first() else {
            continue;
        };
        report.days += 1;
        let block = match files.finished.as_slice() {
            [] => {
                let d = Difference::MissingBlock {
                    tenant: id.tenant.clone(),
                    day: id.day,
                };
                report.differ(d, cfg.max_reported);
                continue;
            }
            [one] => one.clone(),
            many => {
                let d = Difference::DuplicateBlocks {
                    tenant: id.tenant.clone(),
                    day: id.day,
                    blocks: many.to_vec(),
                };
                report.differ(d, cfg.max_reported);
                continue;
            }
        };
        let plan_key = id.plan_key(&cv.prefix, *compression);
        let plan_dir = tempfile::Builder::new()
            .prefix("plan-")
            .tempdir_in(work.path())
            .with_context(|| format!("creating a dir in {}", work.path().display()))?;
        let file_name = plan_key.rsplit('/').next().unwrap_or(&plan_key);
        let local_plan = plan_dir.path().join(file_name);
        cfg.bucket.download_file(&plan_key, &local_plan).await?;
        let sorted = expected_series(cfg, cv, &id, &plan_key, &local_plan, plan_dir.path()).await?;
        let dir = local_block(&cfg.bucket, &id.tenant, &block, plan_dir.path()).await?;
        let (tenant, day, max) = (id.tenant.clone(), id.day, cfg.max_reported);
        let day_report = tokio::task::spawn_blocking(move || {
            compare_plan(sorted, &dir, &tenant, day, max)
                .with_context(|| format!("plan {plan_key}: block {}", dir.display()))
        })
        .await??;
        report.series += day_report.series;
        report.samples += day_report.samples;
        report.differences += day_report.differences;
        let room = cfg.max_reported.saturating_sub(report.reported.len());
        report
            .reported
            .extend(day_report.reported.into_iter().take(room));
    }
    Ok(report)
}

/// The plan's series as the chunk store has them, in label order.
async fn expected_series(
    cfg: &VerifyConfig,
    cv: &CortexVerify,
    id: &PlanId,
    plan_key: &str,
    local_plan: &Path,
    scratch: &Path,
) -> Result<sort::Sorted<SeriesRecord>> {
    let src = &cv.source;
    let f = File::open(local_plan).with_context(|| format!("opening {}", local_plan.display()))?;
    let mut reader = PlanReader::new(plan_key, BufReader::with_capacity(1 << 20, f))?;
    let fetcher = ChunkFetcher::for_day(
        &src.config,
        id.day,
        src.chunks_dir.as_deref(),
        src.fetch.clone(),
    )
    .with_context(|| format!("plan {plan_key}"))?;
    // The builder's policy: under skip, the chunks it left out are left
    // out of what the block is compared with too.
    let loader = Arc::new(
        SeriesLoader::new(
            Arc::new(fetcher),
            &id.tenant,
            id.day_start_ms(),
            id.day_end_ms(),
        )
        .on_corrupt_chunk(src.on_corrupt_chunk, plan_key),
    );
    let mut sorter = ExternalSorter::<SeriesRecord>::new(scratch, cfg.memory_budget.max(1 << 20))?;
    let entries = std::iter::from_fn(|| reader.next_entry().transpose());
    let mut loaded = futures::stream::iter(entries)
        .map(|entry| {
            let loader = Arc::clone(&loader);
            async move {
                match entry? {
                    PlanEntry::Cortex {
                        series_id,
                        chunk_ids,
                    } => Ok(loader.load(series_id, chunk_ids).await?),
                    other => bail!("a {} entry in a cortex plan", other.source()),
                }
            }
        })
        .buffer_unordered(src.fetch.concurrency.max(1));
    while let Some(r) = loaded.next().await {
        if let Some(s) = r.with_context(|| format!("plan {plan_key}"))? {
            sorter.push(SeriesRecord(s))?;
        }
    }
    Ok(sorter.finish()?)
}

/// A series and its samples in time order.
type SeriesSamples = (Labels, Vec<(i64, f64)>);

fn samples_of(s: &MergedSeries) -> Result<Vec<(i64, f64)>> {
    let mut out = Vec::new();
    for c in &s.chunks {
        for sample in XorIterator::new(&c.data)? {
            out.push(sample?);
        }
    }
    Ok(out)
}

/// Merge-joins expected series (sorted, same labels adjacent) with the
/// block's series.
fn compare_plan(
    expected: sort::Sorted<SeriesRecord>,
    block_dir: &Path,
    tenant: &str,
    day: i32,
    max: usize,
) -> Result<VerifyReport> {
    let (day_start, day_end) = (
        i64::from(day) * base::DAY_MS,
        (i64::from(day) + 1) * base::DAY_MS,
    );
    let mut report = VerifyReport::default();
    let block = BlockReader::open(block_dir)?;
    // Groups of expected series with equal labels, merged as the builder must.
    let mut expected = expected.peekable();
    let next_expected = || -> Result<Option<SeriesSamples>> {
        loop {
            let Some(r) = expected.next() else {
                return Ok(None);
            };
            let SeriesRecord(first) = r?;
            let mut rest = Vec::new();
            while let Some(Ok(SeriesRecord(next))) = expected.peek() {
                if next.labels != first.labels {
                    break;
                }
                if let Some(r) = expected.next() {
                    rest.push(r?.0);
                }
            }
            let m = merge_same_labels(first, rest, day_start, day_end)?;
            if !m.chunks.is_empty() {
                let samples = samples_of(&m)?;
                return Ok(Some((m.labels, samples)));
            }
        }
    };
    crate::join_with_block(next_expected, &block, tenant, day, max, &mut report)?;
    Ok(report)
}
