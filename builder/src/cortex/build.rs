//! Building one Cortex plan: entries streamed from the plan file, series
//! loaded in parallel, sorted by labels on disk, written as one block that
//! must pass the health check before anyone sees it.
//!
//! Memory is bounded by configuration: the sort spills beyond half the
//! memory budget; while series load, the other half bounds the chunks
//! fetched and not yet merged (`series`); the block writer gets it after.
//! The plan itself is never held in memory, so a plan of any size builds
//! under any budget.
//!
//! A series ID listed twice, or two IDs whose labels normalise alike, end up
//! next to each other after the sort and are merged into one series. What
//! corrupt input the loader left out (under the source's
//! [`super::CorruptChunkPolicy`]) is reported in the block's stats.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use cortex::ChunkFetcher;
use futures::StreamExt;
use protocol::names::PlanId;
use protocol::plan::{PlanEntry, PlanReader};
use sort::ExternalSorter;
use tokio::sync::mpsc;
use tsdb::{check_block, BlockMeta};
use ulid::Ulid;

use super::merge::{merge_same_labels, MergedSeries};
use super::record::SeriesRecord;
use super::series::SeriesLoader;
use super::{CorruptChunkPolicy, CortexSource};
use crate::failpoint::{self, Stage};
use crate::plan_build::BuiltBlock;
use crate::sink::{DaySink, SinkStats};

/// Most series handed to the block writer at once.
const WRITER_BATCH: usize = 64;

/// Where and how to build: the parts of the builder configuration a Cortex
/// plan needs.
#[derive(Clone, Debug)]
pub struct BuildContext {
    /// Scratch space for the sort runs and the block being written.
    pub work_dir: PathBuf,
    /// Bytes the build may hold in memory; the sort spills beyond half.
    pub memory_budget: usize,
    /// The ULID the block must carry (named by the claim's attempt file).
    pub block: Ulid,
}

/// Builds the Cortex plan downloaded to `local_plan` into a block under
/// `work`, health-checked.
pub async fn build_plan(
    ctx: &BuildContext,
    source: &CortexSource,
    id: &PlanId,
    plan_key: &str,
    local_plan: &Path,
    work: tempfile::TempDir,
) -> Result<BuiltBlock> {
    build_plan_with_policy(
        ctx,
        source,
        source.on_corrupt_chunk,
        id,
        plan_key,
        local_plan,
        work,
    )
    .await
}

/// [`build_plan`] with the given corrupt-chunk policy.
pub async fn build_plan_with_policy(
    ctx: &BuildContext,
    source: &CortexSource,
    policy: CorruptChunkPolicy,
    id: &PlanId,
    plan_key: &str,
    local_plan: &Path,
    work: tempfile::TempDir,
) -> Result<BuiltBlock> {
    let f = File::open(local_plan).with_context(|| format!("opening {}", local_plan.display()))?;
    let mut reader = PlanReader::new(plan_key, BufReader::with_capacity(1 << 20, f))?;
    let h = reader.header();
    if h.user != id.tenant || h.day_index != id.day {
        bail!(
            "header names tenant {:?} day {}, the file is at tenant {:?} day {}",
            h.user,
            h.day_index,
            id.tenant,
            id.day
        );
    }
    let fetcher = ChunkFetcher::for_day(
        &source.config,
        id.day,
        source.chunks_dir.as_deref(),
        source.fetch.clone(),
    )?;
    let (day_start, day_end) = (id.day_start_ms(), id.day_end_ms());
    let loader = Arc::new(
        SeriesLoader::new(Arc::new(fetcher), &id.tenant, day_start, day_end)
            .on_corrupt_chunk(policy, plan_key)
            .memory_budget(ctx.memory_budget / 2),
    );
    let in_flight = source.fetch.concurrency.max(1);

    // Series go to the writer in batches of what is loaded at the moment:
    // a send per series would wake the writer's thread per series, which
    // costs about what the writer then does with it.
    let (tx, rx) = mpsc::channel::<Vec<SeriesRecord>>((in_flight / WRITER_BATCH).max(1));
    let aborted = Arc::new(AtomicBool::new(false));
    let writer = {
        let (parent, budget, tenant, aborted, block) = (
            work.path().to_path_buf(),
            ctx.memory_budget,
            id.tenant.clone(),
            Arc::clone(&aborted),
            ctx.block,
        );
        tokio::task::spawn_blocking(move || {
            let day = (day_start, day_end);
            write_block(rx, &parent, budget, block, day, &tenant, &aborted)
        })
    };

    let started = Instant::now();
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
        .buffer_unordered(in_flight)
        .ready_chunks(WRITER_BATCH);
    let mut failure = None;
    let mut first = true;
    'load: while let Some(results) = loaded.next().await {
        let mut batch = Vec::with_capacity(results.len());
        for r in results {
            match r {
                Ok(Some(series)) => {
                    if std::mem::take(&mut first) {
                        failpoint::reached(Stage::Fetching);
                    }
                    batch.push(SeriesRecord(series));
                }
                Ok(None) => {}
                Err(e) => {
                    failure = Some(e);
                    break 'load;
                }
            }
        }
        if !batch.is_empty() && tx.send(batch).await.is_err() {
            // The writer stopped; its error is reported below.
            break;
        }
    }
    drop(loaded);
    if failure.is_some() {
        aborted.store(true, Ordering::SeqCst);
    }
    drop(tx);
    let loaded_at = started.elapsed();
    let written = writer.await.context("block writer task")?;
    let written_at = started.elapsed();
    if let Some(e) = failure {
        return Err(e);
    }
    let load = loader.stats();
    // When input was left out, the block may have failed for lack of it.
    let s = load.skipped;
    let (dir, meta, mut stats) = match written {
        Err(e) if !s.is_empty() => Err(e.context(format!(
            "{} corrupt chunks, {} empty chunks and {} series were left out",
            s.chunks_corrupt, s.chunks_empty, s.series
        ))),
        w => w,
    }?;
    stats.skipped = load.skipped;
    tracing::info!(
        plan = plan_key,
        series = load.series,
        chunks_fetched = load.chunks_fetched,
        requests = load.requests,
        chunks_not_found = load.chunks_not_found,
        chunk_bytes = load.chunk_bytes,
        samples_out = stats.samples_out,
        duplicates = stats.duplicates_dropped,
        chunks_corrupt = load.skipped.chunks_corrupt,
        chunks_empty = load.skipped.chunks_empty,
        series_skipped = load.skipped.series,
        "cortex plan built"
    );
    if load.skipped.chunks_corrupt + load.skipped.series > 0 {
        tracing::warn!(
            plan = plan_key,
            chunks = load.skipped.chunks_corrupt,
            series = load.skipped.series,
            "corrupt input left out of the block (--on-corrupt-chunk skip)"
        );
    }
    let health_dir = dir.clone();
    tokio::task::spawn_blocking(move || check_block(&health_dir))
        .await
        .context("health check task")?
        .context("the block fails the health check and is not uploaded")?;
    tracing::debug!(
        plan = plan_key,
        load_ms = loaded_at.as_millis() as u64,
        write_ms = (written_at - loaded_at).as_millis() as u64,
        health_ms = (started.elapsed() - written_at).as_millis() as u64,
        "cortex plan phases"
    );
    Ok(BuiltBlock {
        dir,
        meta,
        stats,
        consumed: Vec::new(),
        work,
    })
}

/// Sorts the merged series by labels, merges same-label ones and writes the
/// block. Runs on a blocking thread; stops early when `aborted`.
fn write_block(
    mut rx: mpsc::Receiver<Vec<SeriesRecord>>,
    parent: &Path,
    memory_budget: usize,
    block: Ulid,
    (day_start, day_end): (i64, i64),
    tenant: &str,
    aborted: &AtomicBool,
) -> Result<(PathBuf, BlockMeta, SinkStats)> {
    let half = (memory_budget / 2).max(1);
    let mut sorter = ExternalSorter::<SeriesRecord>::new(parent, half)?;
    while let Some(batch) = rx.blocking_recv() {
        for r in batch {
            sorter.push(r).context("sorting series")?;
        }
    }
    if aborted.load(Ordering::SeqCst) {
        bail!("aborted");
    }
    failpoint::reached(Stage::Sorting);
    tracing::debug!(
        spilled_runs = sorter.spilled_runs(),
        "series sorted by labels"
    );
    let mut sink = DaySink::create(parent, block, day_start, day_end, half)?;
    let mut group: Option<(MergedSeries, Vec<MergedSeries>)> = None;
    for r in sorter.finish().context("sorting series")? {
        let SeriesRecord(s) = r.context("reading sorted series")?;
        group = match group.take() {
            Some((first, mut rest)) if first.labels == s.labels => {
                rest.push(s);
                Some((first, rest))
            }
            Some((first, rest)) => {
                flush(&mut sink, first, rest, day_start, day_end)?;
                Some((s, Vec::new()))
            }
            None => Some((s, Vec::new())),
        };
    }
    if let Some((first, rest)) = group {
        flush(&mut sink, first, rest, day_start, day_end)?;
    }
    if sink.stats().series == 0 {
        bail!("no samples of any series fall inside the day");
    }
    Ok(sink.finish(tenant)?)
}

fn flush(
    sink: &mut DaySink,
    first: MergedSeries,
    rest: Vec<MergedSeries>,
    day_start: i64,
    day_end: i64,
) -> Result<()> {
    if !rest.is_empty() {
        tracing::debug!(series = %first.labels, ids = rest.len() + 1, "series IDs with the same labels merged");
    }
    let m = merge_same_labels(first, rest, day_start, day_end)?;
    sink.add_chunks(&m.labels, &m.chunks, &m.counts)
        .with_context(|| format!("series {}", m.labels))?;
    Ok(())
}
