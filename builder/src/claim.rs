//! Claiming a plan: from one listing to a lease on one plan, its attempt
//! recorded.
//!
//! The claim itself is the create-if-absent of `<day>.progress` (S3
//! `If-None-Match: *`, GCS generation 0, a new file on a local directory):
//! of builders racing for one plan exactly one creates it. The claim then
//! re-lists the plan's tenant directory, because the listing it chose from
//! may predate another builder finishing the plan (finished file written,
//! progress file deleted, and our create landing after that delete). Only
//! then it records the attempt: `<day>.attempt.<k>`, create-if-absent with
//! the next free `k`, naming this builder and the block it will upload.
//!
//! Before the build, [`remove_earlier_blocks`] deletes the blocks that
//! earlier attempts may have uploaded (their attempt files name them), so a
//! retried plan ends with one block whatever the earlier ones left.
//!
//! Not here: keeping the claim ([`crate::heartbeat`]) or the build.

use std::sync::Arc;

use anyhow::Result;
use protocol::names::{PlanCompression, PlanId};
use protocol::records::{now_rfc3339, AttemptRecord, ProgressRecord};
use protocol::state::{list_plan_files, plans_from_listing, PlanFiles, PlanState};
use tracing::{debug, info, warn};
use ulid::Ulid;

use crate::heartbeat::Lease;
use crate::worker::BuilderConfig;

/// How many attempt numbers past the expected one a claim tries before it
/// gives up: attempt files are written only by holders of the progress
/// file, so more than one collision means someone edits the bucket by hand.
const ATTEMPT_PROBES: u32 = 16;

/// A plan this builder now holds.
pub(crate) struct Claimed {
    pub id: PlanId,
    pub plan_key: String,
    pub attempt: u32,
    /// The block this attempt will upload, named in its attempt file.
    pub block: Ulid,
    pub lease: Arc<Lease>,
    /// The plan's files as listed right after the claim.
    pub files: PlanFiles,
}

/// Lists the prefix and claims the first new plan this builder can get.
/// `None` when there is nothing new to claim.
pub(crate) async fn claim_next(cfg: &BuilderConfig) -> Result<Option<Claimed>> {
    let objects = cfg.bucket.list(&cfg.prefix).await?;
    let plans = plans_from_listing(&cfg.prefix, &objects);
    let now = chrono::Utc::now();
    // Staleness does not matter here: any progress file means "not new".
    let never = chrono::Duration::days(365 * 100);
    let mut candidates: Vec<(PlanId, PlanCompression, u32)> = plans
        .iter()
        .filter(|(id, _)| cfg.tenants.allows(&id.tenant))
        .filter(|(_, f)| f.state(now, never).0 == PlanState::New)
        .filter_map(|(id, f)| f.plan().map(|(c, _)| (id.clone(), *c, f.next_attempt())))
        .collect();
    if candidates.is_empty() {
        return Ok(None);
    }
    // Newest day first, as Cortex does; each builder starts at its own
    // place in the list so that racing builders rarely collide.
    candidates.sort_by(|a, b| {
        b.0.day
            .cmp(&a.0.day)
            .then_with(|| a.0.tenant.cmp(&b.0.tenant))
    });
    let start = (name_hash(&cfg.name) as usize) % candidates.len();
    let (tail, head) = candidates.split_at(start);
    for (id, c, attempt) in head.iter().chain(tail) {
        if let Some(claimed) = try_claim(cfg, id, *c, *attempt).await? {
            return Ok(Some(claimed));
        }
    }
    Ok(None)
}

/// Tries to claim one plan; `None` if someone else holds or finished it.
pub(crate) async fn try_claim(
    cfg: &BuilderConfig,
    id: &PlanId,
    compression: PlanCompression,
    expected_attempt: u32,
) -> Result<Option<Claimed>> {
    let block = Ulid::new();
    let started = now_rfc3339();
    let record = ProgressRecord {
        builder: cfg.name.clone(),
        started: started.clone(),
        heartbeat: started.clone(),
        stage: "claimed".into(),
        series_done: 0,
        attempt: expected_attempt,
        block: block.to_string(),
    };
    let key = id.progress_key(&cfg.prefix);
    let Some(version) = cfg
        .bucket
        .create_if_absent(&key, serde_json::to_vec(&record)?)
        .await?
    else {
        debug!(plan = %id, "taken by another builder");
        return Ok(None);
    };
    let lease = Lease::new(cfg.bucket.clone(), key, record, Some(version));

    let files = list_plan_files(&cfg.bucket, &cfg.prefix, id).await?;
    if files.plans.len() != 1 || !files.finished.is_empty() || !files.failed.is_empty() {
        debug!(plan = %id, "finished, failed or gone since the listing");
        lease.release().await?;
        return Ok(None);
    }
    let mut attempt = files.next_attempt();
    let rec = AttemptRecord {
        builder: cfg.name.clone(),
        block: block.to_string(),
        started,
        output: (cfg.output.url() != cfg.bucket.url()).then(|| cfg.output.url().to_string()),
    };
    let body = serde_json::to_vec_pretty(&rec)?;
    loop {
        let key = id.attempt_key(&cfg.prefix, attempt);
        if cfg
            .bucket
            .create_if_absent(&key, body.clone())
            .await?
            .is_some()
        {
            break;
        }
        warn!(plan = %id, attempt, "attempt file exists already; trying the next number");
        attempt += 1;
        if attempt > files.next_attempt() + ATTEMPT_PROBES {
            lease.release().await?;
            anyhow::bail!("plan {id}: attempt files up to {attempt} exist already; is someone else writing them?");
        }
    }
    if attempt != expected_attempt {
        lease.set_attempt(attempt).await;
    }
    info!(plan = %id, builder = %cfg.name, attempt, block = %block, "claimed plan");
    Ok(Some(Claimed {
        id: id.clone(),
        plan_key: id.plan_key(&cfg.prefix, compression),
        attempt,
        block,
        lease,
        files,
    }))
}

/// Deletes the blocks of earlier attempts that provably belong to this
/// plan ([`crate::blocks::remove_earlier_blocks`] says how).
pub(crate) async fn remove_earlier_blocks(
    cfg: &BuilderConfig,
    claimed: &Claimed,
) -> Result<Vec<String>> {
    crate::blocks::remove_earlier_blocks(cfg, &claimed.id, claimed.attempt, &claimed.files).await
}

fn name_hash(s: &str) -> u64 {
    base::fnv1a64(s.as_bytes())
}
