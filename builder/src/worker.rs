//! The builder loop: find a new plan, claim it, build it, publish the
//! outcome, repeat.
//!
//! A plan is claimed by creating its progress file only if absent
//! ([`crate::claim`]), and kept by a fenced heartbeat ([`crate::heartbeat`]).
//! The moment the claim is lost the build is dropped (cancelled at its next
//! await; a blocking step already running finishes and is thrown away), and
//! nothing more is written for that plan. The outcome is published in an
//! order that never loses work and never shows two blocks: the block with
//! meta.json last, preceded by a check that the claim still holds; then,
//! after another check, the finished file naming the block; then the
//! progress file goes. On failure: the failed file with the reason, then
//! the progress file goes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::bucket::Bucket;
use common::names::{scan_complete_key, PlanId};
use common::records::{now_rfc3339, FailedRecord, FinishedRecord};
use tracing::{info, warn};
use ulid::Ulid;

use crate::failpoint::{self, Stage};
use crate::claim::{claim_next, remove_earlier_blocks, Claimed};
use crate::heartbeat::Lease;
use crate::plan_build::{build_plan, BuiltBlock};
use common::tenant::TenantFilter;

/// Everything a builder needs to know, shared by the builders of one process.
#[derive(Clone, Debug)]
pub struct BuilderConfig {
    /// Where the plans are.
    pub bucket: Bucket,
    /// Where the blocks go (the plan bucket unless `--output` says otherwise).
    pub output: Bucket,
    pub prefix: String,
    pub work_dir: PathBuf,
    pub memory_budget: usize,
    pub name: String,
    pub poll_interval: Duration,
    pub heartbeat: Duration,
    pub tenants: TenantFilter,
    /// The ULID of the block being built. The worker sets it for each
    /// claimed plan (the attempt file names it before the build starts);
    /// builds read it through [`BuilderConfig::block_ulid`].
    pub block: Option<Ulid>,
    /// Fault injection for tests and drills: hold every claim this long
    /// (heartbeating) before building. Zero in normal operation.
    pub pause_after_claim: Duration,
    /// The Cortex chunk store (`--source cortex:CONFIG.yaml`); plans of
    /// Cortex's kind fail without it.
    pub cortex: Option<Arc<crate::cortex::CortexSource>>,
}

impl BuilderConfig {
    /// The ULID the block of the current plan must carry; a fresh one
    /// outside a claim (a build run by hand, a test).
    // Not `unwrap_or_default`: the default ULID is the nil one.
    #[allow(clippy::unwrap_or_default)]
    pub fn block_ulid(&self) -> Ulid {
        self.block.unwrap_or_else(Ulid::new)
    }
}

/// Totals over the plans one builder finished or failed.
#[derive(Clone, Debug, Default)]
pub struct BuilderSummary {
    pub finished: Vec<FinishedRecord>,
    pub failed: Vec<(PlanId, String)>,
    /// Plans whose claim was taken away while this builder held them; the
    /// scheduler or another builder owns their outcome.
    pub lost: Vec<PlanId>,
}

impl BuilderSummary {
    pub fn merge(&mut self, other: BuilderSummary) {
        self.finished.extend(other.finished);
        self.failed.extend(other.failed);
        self.lost.extend(other.lost);
    }
}

/// How one claimed plan ended for this builder.
#[derive(Debug)]
pub enum Outcome {
    Finished(FinishedRecord),
    /// The plan's own failure, recorded in its failed file.
    Failed(String),
    /// The claim was lost; nothing was published.
    Lost,
}

/// Runs until there is nothing left to claim and the scan is complete
/// (`once`), or forever, polling.
pub async fn run_builder(cfg: Arc<BuilderConfig>, once: bool) -> Result<BuilderSummary> {
    let mut summary = BuilderSummary::default();
    loop {
        match claim_next(&cfg).await? {
            Some(claimed) => {
                let id = claimed.id.clone();
                match build_and_publish(&cfg, claimed).await? {
                    Outcome::Finished(rec) => summary.finished.push(rec),
                    Outcome::Failed(reason) => summary.failed.push((id, reason)),
                    Outcome::Lost => summary.lost.push(id),
                }
            }
            None => {
                if once && cfg.bucket.exists(&scan_complete_key(&cfg.prefix)).await? {
                    return Ok(summary);
                }
                tokio::time::sleep(cfg.poll_interval).await;
            }
        }
    }
}

/// Builds a claimed plan and publishes the outcome. The outer error is a
/// bucket failure while publishing (the plan stays claimed and the
/// scheduler's stale detection takes over).
pub async fn build_and_publish(cfg: &BuilderConfig, claimed: Claimed) -> Result<Outcome> {
    let started = Instant::now();
    let lease = claimed.lease.clone();
    let heartbeat = lease.spawn(cfg.heartbeat);
    let id = &claimed.id;
    let plan_cfg = BuilderConfig {
        block: Some(claimed.block),
        ..cfg.clone()
    };

    let built = tokio::select! {
        biased;
        _ = lease.lost() => None,
        r = prepare_and_build(&plan_cfg, &claimed) => Some(r),
    };
    let outcome = match built {
        None => Outcome::Lost,
        Some(Ok(built)) => {
            let result = publish_finished(&plan_cfg, &claimed, &built, started).await;
            if let Err(e) = std::fs::remove_dir_all(&built.dir) {
                warn!(dir = %built.dir.display(), error = %e, "cannot remove local block");
            }
            match result? {
                Some(rec) => Outcome::Finished(rec),
                None => Outcome::Lost,
            }
        }
        Some(Err(e)) => {
            let reason = format!("{e:#}");
            warn!(plan = %id, %reason, "plan failed");
            if lease.still_mine().await? {
                let rec = FailedRecord {
                    reason: reason.clone(),
                    builder: cfg.name.clone(),
                    at: now_rfc3339(),
                    attempt: claimed.attempt,
                };
                cfg.bucket
                    .put(
                        &id.failed_key(&cfg.prefix),
                        serde_json::to_vec_pretty(&rec)?,
                    )
                    .await?;
                Outcome::Failed(reason)
            } else {
                Outcome::Lost
            }
        }
    };
    drop(heartbeat);
    if !matches!(outcome, Outcome::Lost) && !lease.release().await? {
        warn!(plan = %id, "progress file was no longer ours when releasing it");
    }
    if matches!(outcome, Outcome::Lost) {
        warn!(plan = %id, "claim lost: stopped without publishing");
    }
    Ok(outcome)
}

/// Everything between the claim and a block on local disk: the optional
/// pause, removing earlier attempts' blocks, the build itself.
async fn prepare_and_build(cfg: &BuilderConfig, claimed: &Claimed) -> Result<BuiltBlock> {
    if !cfg.pause_after_claim.is_zero() {
        claimed.lease.set_stage("paused").await;
        tokio::time::sleep(cfg.pause_after_claim).await;
    }
    claimed.lease.set_stage("cleaning").await;
    remove_earlier_blocks(cfg, claimed).await?;
    claimed.lease.set_stage("building").await;
    build_plan(cfg, &claimed.id, &claimed.plan_key).await
}

/// Uploads the block and writes the finished file, checking the claim
/// before meta.json and before the finished file. `None` when the claim
/// was lost on the way (a block without meta.json may be left; the next
/// attempt removes it).
async fn publish_finished(
    cfg: &BuilderConfig,
    claimed: &Claimed,
    built: &BuiltBlock,
    started: Instant,
) -> Result<Option<FinishedRecord>> {
    let id = &claimed.id;
    let lease = &claimed.lease;
    let block = built.meta.ulid.to_string();
    if built.meta.ulid != claimed.block {
        anyhow::bail!(
            "plan {id}: the build produced block {block}, not {} as its attempt file says",
            claimed.block
        );
    }
    lease.set_stage("uploading").await;
    let uploaded = tokio::select! {
        biased;
        _ = lease.lost() => None,
        r = upload_fenced(&cfg.output, lease, &id.tenant, &block, &built.dir) => Some(r),
    };
    let Some(bytes) = uploaded
        .transpose()
        .with_context(|| format!("plan {id}: uploading block {block}"))?
        .flatten()
    else {
        return Ok(None);
    };
    let s = built.stats;
    let rec = FinishedRecord {
        block: block.clone(),
        tenant: id.tenant.clone(),
        day: id.day,
        builder: cfg.name.clone(),
        series: s.series,
        chunks: s.chunks,
        samples_in: s.samples_in,
        samples_out: s.samples_out,
        duplicates_dropped: s.duplicates_dropped,
        duplicates_disagreeing: s.duplicates_disagreeing,
        samples_outside_day: s.samples_outside_day,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    };
    if !lease.still_mine().await? {
        // meta.json is up but no finished file names the block: the next
        // attempt's cleanup removes it, as its attempt file names it.
        warn!(plan = %id, block = %block, "claim lost after upload; leaving the block to the next attempt");
        return Ok(None);
    }
    cfg.bucket
        .put(
            &id.finished_key(&cfg.prefix, &block),
            serde_json::to_vec_pretty(&rec)?,
        )
        .await?;
    failpoint::reached(Stage::WritingFinished);
    for key in &built.consumed {
        cfg.bucket.delete(key).await?;
    }
    info!(plan = %id, block = %block, series = s.series, samples = s.samples_out, "plan finished");
    Ok(Some(rec))
}

/// Chunk segments, index, then, if the claim still holds, meta.json.
/// `Ok(None)` when the claim was lost before meta.json: the block stays
/// partial, invisible to every reader.
async fn upload_fenced(
    bucket: &Bucket,
    lease: &Lease,
    tenant: &str,
    block: &str,
    dir: &Path,
) -> Result<Option<u64>> {
    let base = format!("{tenant}/{block}");
    let chunks_dir = dir.join("chunks");
    let mut segments = Vec::new();
    for e in std::fs::read_dir(&chunks_dir)
        .with_context(|| format!("reading {}", chunks_dir.display()))?
    {
        let e = e.with_context(|| format!("reading {}", chunks_dir.display()))?;
        segments.push(e.file_name().to_string_lossy().into_owned());
    }
    segments.sort();
    let mut files: Vec<(String, PathBuf)> = segments
        .iter()
        .map(|s| (format!("{base}/chunks/{s}"), chunks_dir.join(s)))
        .collect();
    files.push((format!("{base}/index"), dir.join("index")));
    let meta = (format!("{base}/meta.json"), dir.join("meta.json"));
    let mut bytes = 0u64;
    for (key, file) in files.iter().chain(std::iter::once(&meta)) {
        if key == &meta.0 && !lease.still_mine().await? {
            return Ok(None);
        }
        bytes += std::fs::metadata(file)
            .with_context(|| format!("reading {}", file.display()))?
            .len();
        bucket.upload_file(key, file).await?;
        if key != &meta.0 {
            failpoint::reached(Stage::UploadingBlock);
        }
    }
    failpoint::reached(Stage::UploadingMeta);
    Ok(Some(bytes))
}
