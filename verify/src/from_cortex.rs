//! The reference for a Cortex chunk store: every plan's chunks fetched,
//! decoded, checked and merged by the rules in the crate docs, then
//! compared with the block the plan's finished file names.
//!
//! Shares with the builder only the chunk store client and the decoders
//! (`cortex`) and plan reading (`protocol`): loading a series, checking
//! its chunks, the two-step merge and the grouping by labels are written
//! here again, plainly, so a bug in the builder's versions shows.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base::Labels;
use cortex::{decode_samples, ChunkFetcher, ChunkKey, CortexConfig, FetchOptions, Sample};
use futures::StreamExt;
use protocol::names::PlanId;
use protocol::plan::{PlanEntry, PlanReader};
use protocol::state::plans_from_listing;
use sort::{ExternalSorter, Sorted};

use crate::blocks::local_copy;
use crate::compare::{compare_day, next_series, reference_samples, Part};
use crate::report::{Difference, VerifyReport};
use crate::VerifyConfig;

/// What verifying a Cortex source needs besides [`VerifyConfig`].
#[derive(Clone, Debug)]
pub struct CortexVerify {
    /// The user's Cortex config: schema periods and chunk stores.
    pub config: CortexConfig,
    /// Replaces the filesystem chunk store's directory of every period.
    pub chunks_dir: Option<PathBuf>,
    /// Concurrency, retries and rate limits toward the chunk store.
    pub fetch: FetchOptions,
    /// Leave corrupt chunks out instead of failing, as the builder does
    /// with `--on-corrupt-chunk skip` (it must be given the same policy).
    pub skip_corrupt_chunks: bool,
    /// Where the plans are in the bucket.
    pub prefix: String,
}

pub(crate) async fn verify_cortex(cfg: &VerifyConfig, cv: &CortexVerify) -> Result<VerifyReport> {
    let work = crate::scratch_dir(cfg)?;
    let objects = cfg.plans.list(&cv.prefix).await?;
    let plans = plans_from_listing(&cv.prefix, &objects);
    let max = cfg.max_reported;
    let mut report = VerifyReport::default();
    for (id, files) in plans {
        if !cfg.tenants.allows(&id.tenant) || !cfg.days.contains(id.day) {
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
                report.differ(d, max);
                continue;
            }
            [one] => one.clone(),
            many => {
                let d = Difference::DuplicateBlocks {
                    tenant: id.tenant.clone(),
                    day: id.day,
                    blocks: many.to_vec(),
                };
                report.differ(d, max);
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
        cfg.plans.download_file(&plan_key, &local_plan).await?;
        let sorted = expected_plan(cfg, cv, &id, &plan_key, &local_plan, plan_dir.path())
            .await
            .with_context(|| format!("plan {plan_key}"))?;
        let dir = local_copy(&cfg.bucket, &id.tenant, &block, plan_dir.path()).await?;
        let next = next_series::<(), (i64, String, u64)>;
        let (_, day_report) = compare_day(dir, sorted.peekable(), next, id.tenant, id.day, max)
            .await
            .with_context(|| format!("plan {plan_key}"))?;
        report.absorb(day_report, max);
    }
    Ok(report)
}

/// Every series ID of the plan with what it contributes, sorted by
/// (labels, first usable chunk, plan order).
async fn expected_plan(
    cfg: &VerifyConfig,
    cv: &CortexVerify,
    id: &PlanId,
    plan_key: &str,
    local_plan: &Path,
    scratch: &Path,
) -> Result<Sorted<SeriesPart>> {
    let f = File::open(local_plan).with_context(|| format!("opening {}", local_plan.display()))?;
    let mut reader = PlanReader::new(plan_key, BufReader::with_capacity(1 << 20, f))?;
    let fetcher = ChunkFetcher::for_day(
        &cv.config,
        id.day,
        cv.chunks_dir.as_deref(),
        cv.fetch.clone(),
    )?;
    let mut sorter = ExternalSorter::<SeriesPart>::new(scratch, cfg.memory_budget.max(1 << 20))?;
    let entries = std::iter::from_fn(|| reader.next_entry().transpose()).enumerate();
    // `buffered` keeps plan order; the fetcher bounds the reads in flight.
    let mut loaded = futures::stream::iter(entries)
        .map(|(index, entry)| {
            let fetcher = &fetcher;
            async move {
                match entry? {
                    PlanEntry::Cortex {
                        series_id,
                        chunk_ids,
                    } => load_series(fetcher, id, &series_id, &chunk_ids, cv.skip_corrupt_chunks)
                        .await
                        .map(|s| s.map(|s| (index, s)))
                        .with_context(|| format!("series {series_id}")),
                    other => bail!("a {} entry in a cortex plan", other.source()),
                }
            }
        })
        .buffered(cv.fetch.concurrency.clamp(1, 64));
    while let Some(r) = loaded.next().await {
        if let Some((index, s)) = r? {
            let (start, end) = (id.day_start_ms(), id.day_end_ms());
            sorter.push(SeriesPart {
                group: (),
                labels: s.labels,
                rank: (s.first_chunk.0, s.first_chunk.1, index as u64),
                samples: reference_samples(s.samples, start, end),
            })?;
        }
    }
    Ok(sorter.finish()?)
}

/// One series ID as the store has it: labels, its first usable chunk
/// (from, key), and its samples in preference order.
struct LoadedSeries {
    labels: Labels,
    first_chunk: (i64, String),
    samples: Vec<Sample>,
}

/// Fetches, decodes and checks the chunks of one series ID; `None` when
/// none is usable (all missing or empty, or left out as corrupt).
async fn load_series(
    fetcher: &ChunkFetcher,
    id: &PlanId,
    series_id: &str,
    chunk_ids: &[String],
    skip_corrupt: bool,
) -> Result<Option<LoadedSeries>> {
    let mut usable: Vec<(ChunkKey, String, Labels, Vec<Sample>)> = Vec::new();
    let mut corrupt = 0usize;
    for chunk_id in chunk_ids {
        let key = ChunkKey::parse(&id.tenant, chunk_id)?;
        let Some(bytes) = fetcher.fetch(&key).await? else {
            continue;
        };
        match check_chunk(&key, &bytes) {
            Ok((_, samples)) if samples.is_empty() => {}
            Ok((labels, samples)) => {
                let ext = key.external_key();
                usable.push((key, ext, labels, samples));
            }
            Err(e) if skip_corrupt => {
                tracing::warn!(plan = %id, series = series_id, error = %e, "corrupt chunk left out");
                corrupt += 1;
            }
            Err(e) => return Err(e),
        }
    }
    if usable.is_empty() {
        if corrupt > 0 {
            tracing::warn!(plan = %id, series = series_id, "series left out: none of its chunks can be used");
        }
        return Ok(None);
    }
    usable.sort_by(|a, b| (a.0.from, &a.1).cmp(&(b.0.from, &b.1)));
    let labels = usable[0].2.clone();
    if let Some(other) = usable.iter().find(|c| c.2 != labels) {
        let msg = format!(
            "chunks for multiple metrics: chunk {} has {}, chunk {} has {}",
            usable[0].1, labels, other.1, other.2
        );
        if skip_corrupt {
            tracing::warn!(plan = %id, series = series_id, reason = %msg, "series left out");
            return Ok(None);
        }
        bail!(msg);
    }
    let first_chunk = (usable[0].0.from, usable[0].1.clone());
    let mut samples = Vec::new();
    for (_, _, _, s) in usable {
        samples.extend(s);
    }
    Ok(Some(LoadedSeries {
        labels,
        first_chunk,
        samples,
    }))
}

/// Decodes one chunk object and checks it: the object against its key,
/// the labels of its metadata, and its samples (never going back in time,
/// all inside the key's `[from, through]`).
fn check_chunk(key: &ChunkKey, bytes: &[u8]) -> Result<(Labels, Vec<Sample>)> {
    let ext = key.external_key();
    let (obj, samples) = decode_samples(key, bytes)?;
    let labels = obj
        .labels()
        .with_context(|| format!("chunk {ext}: labels"))?;
    for w in samples.windows(2) {
        if w[1].0 < w[0].0 {
            bail!(
                "chunk {ext}: samples out of time order: {} ms follows {} ms",
                w[1].0,
                w[0].0
            );
        }
    }
    if let Some(&(t, _)) = samples
        .iter()
        .find(|&&(t, _)| t < key.from || t > key.through)
    {
        bail!(
            "chunk {ext}: a sample at {t} ms outside the key's range [{}, {}] ms",
            key.from,
            key.through
        );
    }
    Ok((labels, samples))
}

/// One series ID of a plan: its labels, its deduplicated samples inside
/// the day, ranked among series IDs with the same labels by (start and
/// external key of its first usable chunk, position of its plan entry).
type SeriesPart = Part<(), (i64, String, u64)>;
