//! The builder loop: find a new plan, claim it, build it, publish the
//! outcome, repeat.
//!
//! A plan is claimed by creating its progress file only if absent, so two
//! builders never build the same plan at once. The outcome is published in
//! an order that never loses work: the block (meta.json last), then the
//! finished file naming it, then the progress file goes; on failure, the
//! failed file with the reason, then the progress file goes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::bucket::Bucket;
use common::names::{PlanCompression, PlanId, SCAN_COMPLETE};
use common::records::{now_rfc3339, FailedRecord, FinishedRecord, ProgressRecord};
use common::state::{plans_from_listing, PlanState};
use tracing::{info, warn};

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
}

/// Totals over the plans one builder finished or failed.
#[derive(Clone, Debug, Default)]
pub struct BuilderSummary {
    pub finished: Vec<FinishedRecord>,
    pub failed: Vec<(PlanId, String)>,
}

impl BuilderSummary {
    pub fn merge(&mut self, other: BuilderSummary) {
        self.finished.extend(other.finished);
        self.failed.extend(other.failed);
    }
}

/// Runs until there is nothing left to claim and the scan is complete
/// (`once`), or forever, polling.
pub async fn run_builder(cfg: Arc<BuilderConfig>, once: bool) -> Result<BuilderSummary> {
    let mut summary = BuilderSummary::default();
    loop {
        match claim_next(&cfg).await? {
            Some((id, plan_key)) => {
                let outcome = build_and_publish(&cfg, &id, &plan_key).await?;
                match outcome {
                    Ok(rec) => summary.finished.push(rec),
                    Err(reason) => summary.failed.push((id, reason)),
                }
            }
            None => {
                if once && cfg.bucket.exists(&format!("{}/{}", cfg.prefix, SCAN_COMPLETE)).await? {
                    return Ok(summary);
                }
                tokio::time::sleep(cfg.poll_interval).await;
            }
        }
    }
}

/// Lists the prefix and claims the first new plan this builder can get.
async fn claim_next(cfg: &BuilderConfig) -> Result<Option<(PlanId, String)>> {
    let objects = cfg.bucket.list(&cfg.prefix).await?;
    let plans = plans_from_listing(&cfg.prefix, &objects);
    let now = chrono::Utc::now();
    let stale = chrono::Duration::days(365 * 100);
    let mut candidates: Vec<(PlanId, PlanCompression)> = plans
        .iter()
        .filter(|(id, _)| cfg.tenants.allows(&id.tenant))
        .filter(|(_, f)| f.state(now, stale).0 == PlanState::New)
        .filter_map(|(id, f)| f.plan().map(|(c, _)| (id.clone(), *c)))
        .collect();
    // Newest day first, as Cortex does; builders start at different places
    // in the list so that racing builders rarely collide on one claim.
    candidates.sort_by(|a, b| b.0.day.cmp(&a.0.day).then_with(|| a.0.tenant.cmp(&b.0.tenant)));
    if candidates.is_empty() {
        return Ok(None);
    }
    let start = (fxhash(&cfg.name) as usize) % candidates.len();
    for (id, c) in candidates[start..].iter().chain(candidates[..start].iter()) {
        let progress = ProgressRecord {
            builder: cfg.name.clone(),
            started: now_rfc3339(),
            heartbeat: now_rfc3339(),
            stage: "claimed".into(),
            series_done: 0,
            attempt: 1,
        };
        let body = serde_json::to_vec(&progress)?;
        if cfg
            .bucket
            .create_if_absent(&id.progress_key(&cfg.prefix), body)
            .await?
            .is_some()
        {
            info!(plan = %id, builder = %cfg.name, "claimed plan");
            return Ok(Some((id.clone(), id.plan_key(&cfg.prefix, *c))));
        }
    }
    Ok(None)
}

/// Builds a claimed plan and publishes the outcome. The outer error is a
/// bucket failure while publishing (the plan stays claimed and the
/// scheduler's stale detection takes over); the inner one is the plan's own
/// failure, already recorded in its failed file.
async fn build_and_publish(
    cfg: &Arc<BuilderConfig>,
    id: &PlanId,
    plan_key: &str,
) -> Result<Result<FinishedRecord, String>> {
    let started = Instant::now();
    let heartbeat = spawn_heartbeat(cfg.clone(), id.clone());
    let result = build_plan(cfg, id, plan_key).await;
    heartbeat.abort();
    let outcome = match result {
        Ok(built) => Ok(publish_finished(cfg, id, built, started).await?),
        Err(e) => {
            let reason = format!("{e:#}");
            warn!(plan = %id, %reason, "plan failed");
            let rec = FailedRecord {
                reason: reason.clone(),
                builder: cfg.name.clone(),
                at: now_rfc3339(),
                attempt: 1,
            };
            cfg.bucket
                .put(&id.failed_key(&cfg.prefix), serde_json::to_vec_pretty(&rec)?)
                .await?;
            Err(reason)
        }
    };
    cfg.bucket.delete(&id.progress_key(&cfg.prefix)).await?;
    Ok(outcome)
}

async fn publish_finished(
    cfg: &BuilderConfig,
    id: &PlanId,
    built: BuiltBlock,
    started: Instant,
) -> Result<FinishedRecord> {
    let block = built.meta.ulid.to_string();
    let bytes = crate::blocks::upload_block(&cfg.output, &id.tenant, &block, &built.dir)
        .await
        .with_context(|| format!("plan {id}: uploading block {block}"))?;
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
    cfg.bucket
        .put(&id.finished_key(&cfg.prefix, &block), serde_json::to_vec_pretty(&rec)?)
        .await?;
    for key in &built.consumed {
        cfg.bucket.delete(key).await?;
    }
    if let Err(e) = std::fs::remove_dir_all(&built.dir) {
        warn!(dir = %built.dir.display(), error = %e, "cannot remove local block");
    }
    info!(plan = %id, block = %block, series = s.series, samples = s.samples_out, "plan finished");
    Ok(rec)
}

/// Rewrites the progress file every heartbeat period while the plan builds.
fn spawn_heartbeat(cfg: Arc<BuilderConfig>, id: PlanId) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let started = now_rfc3339();
        loop {
            tokio::time::sleep(cfg.heartbeat).await;
            let rec = ProgressRecord {
                builder: cfg.name.clone(),
                started: started.clone(),
                heartbeat: now_rfc3339(),
                stage: "building".into(),
                series_done: 0,
                attempt: 1,
            };
            let Ok(body) = serde_json::to_vec(&rec) else { return };
            if let Err(e) = cfg.bucket.put(&id.progress_key(&cfg.prefix), body).await {
                warn!(plan = %id, error = %e, "heartbeat failed");
            }
        }
    })
}

fn fxhash(s: &str) -> u64 {
    s.bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}
