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
/// `--relist-interval` unless given: how long a builder claims from one
/// listing before listing the prefix again.
pub const DEFAULT_RELIST_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);
/// Plans a pool may lose, beyond the LIST pages of its listing, before the
/// builder lists again: a small pool is not relisted after every loss.
const LOSSES_BEFORE_RELIST: u64 = 8;

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
    /// Plans this claim tried first and lost (taken, or finished since
    /// the listing).
    pub lost_races: u32,
}

/// A plan to try, from a listing: its id, plan file compression and the
/// attempt number it expects.
type Candidate = (PlanId, PlanCompression, u32);

/// One builder's candidate pool: the new plans of its last listing of the
/// prefix, shuffled, tried one by one. A listing of a campaign of a
/// million plans is thousands of LIST pages, so it is taken again only
/// when the pool runs dry, when it is older than `relist_interval`, or
/// when the plans lost since it cost more than a new listing would (a
/// lost plan costs one create, plus a tenant listing when it finished
/// meanwhile; the listing costs one request per 1,000 keys).
pub(crate) struct Claimer {
    pool: Vec<Candidate>,
    listed_at: Option<tokio::time::Instant>,
    /// LIST pages the last listing took (1,000 keys a page).
    listing_pages: u64,
    /// Plans lost since the last listing.
    lost_since_listing: u64,
    rng: u64,
}

impl Claimer {
    /// A claimer with an empty pool: its first claim lists.
    pub(crate) fn new(name: &str) -> Self {
        let seed = name_hash(name) ^ (Ulid::new().random() as u64);
        Claimer {
            pool: Vec::new(),
            listed_at: None,
            listing_pages: 0,
            lost_since_listing: 0,
            rng: seed | 1,
        }
    }

    fn stale(&self, cfg: &BuilderConfig) -> bool {
        self.pool.is_empty()
            || self
                .listed_at
                .is_none_or(|t| t.elapsed() >= cfg.relist_interval)
            || self.lost_since_listing > self.listing_pages + LOSSES_BEFORE_RELIST
    }

    /// Claims the next new plan this builder can get. `None` when a
    /// listing taken by this call has no claimable plan left: what
    /// `build --once` exits on.
    pub(crate) async fn next(&mut self, cfg: &BuilderConfig) -> Result<Option<Claimed>> {
        let mut listed = false;
        let mut lost = 0;
        loop {
            if self.stale(cfg) {
                if listed && self.pool.is_empty() {
                    return Ok(None);
                }
                if !listed || self.pool.is_empty() {
                    self.relist(cfg).await?;
                    listed = true;
                    if self.pool.is_empty() {
                        return Ok(None);
                    }
                }
            }
            let Some((id, c, attempt)) = self.pool.pop() else {
                continue;
            };
            match try_claim(cfg, &id, c, attempt).await? {
                Some(mut claimed) => {
                    claimed.lost_races = lost;
                    return Ok(Some(claimed));
                }
                None => {
                    lost += 1;
                    self.lost_since_listing += 1;
                }
            }
        }
    }

    /// Lists the prefix and makes the pool its new plans, shuffled: racing
    /// builders each start somewhere else, and no tenant or day waits for
    /// the others.
    async fn relist(&mut self, cfg: &BuilderConfig) -> Result<()> {
        let objects = cfg.bucket.list(&cfg.prefix).await?;
        let now = chrono::Utc::now();
        // Staleness does not matter here: any progress file means "not new".
        let never = chrono::Duration::days(365 * 100);
        let mut pool: Vec<Candidate> = plans_from_listing(&cfg.prefix, &objects)
            .into_iter()
            .filter(|(id, _)| cfg.tenants.allows(&id.tenant))
            .filter(|(_, f)| f.state(now, never).0 == PlanState::New)
            .filter_map(|(id, f)| f.plan().map(|(c, _)| (id, *c, f.next_attempt())))
            .collect();
        for i in (1..pool.len()).rev() {
            let j = (self.random() % (i as u64 + 1)) as usize;
            pool.swap(i, j);
        }
        debug!(
            objects = objects.len(),
            candidates = pool.len(),
            "listed the prefix for new plans"
        );
        self.listing_pages = (objects.len() as u64).div_ceil(1000).max(1);
        self.lost_since_listing = 0;
        self.listed_at = Some(tokio::time::Instant::now());
        self.pool = pool;
        Ok(())
    }

    /// splitmix64: enough to shuffle, no dependency.
    fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
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
        lost_races: 0,
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

/// What one claim cost, for the protocol benchmark.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ClaimStep {
    /// Time from asking for a plan to holding one (tokio clock).
    pub claim: std::time::Duration,
    /// Plans tried and lost to another builder (or found finished) first.
    pub lost_races: u32,
}

/// One builder of the protocol benchmark: the real claim, heartbeat and
/// finish, with a build step that does no work and uploads nothing. Not
/// product code; hidden so that the bench target can reach it.
#[doc(hidden)]
pub struct NoopBuilder {
    cfg: Arc<BuilderConfig>,
    claimer: Claimer,
}

impl NoopBuilder {
    /// A benchmark builder over `cfg`.
    pub fn new(cfg: Arc<BuilderConfig>) -> Self {
        NoopBuilder {
            claimer: Claimer::new(&cfg.name),
            cfg,
        }
    }

    /// Claims a plan, holds it (heartbeating) for `hold`, writes its
    /// finished file as `publish_finished` does (claim checked first) and
    /// releases it. `None` when nothing is claimable.
    pub async fn step(&mut self, hold: std::time::Duration) -> Result<Option<ClaimStep>> {
        let cfg = &*self.cfg;
        let t = tokio::time::Instant::now();
        let Some(claimed) = self.claimer.next(cfg).await? else {
            return Ok(None);
        };
        let step = ClaimStep {
            claim: t.elapsed(),
            lost_races: claimed.lost_races,
        };
        let heartbeat = claimed.lease.spawn(cfg.heartbeat);
        remove_earlier_blocks(cfg, &claimed).await?;
        tokio::time::sleep(hold).await;
        let block = claimed.block.to_string();
        if claimed.lease.still_mine().await? {
            let rec = protocol::records::FinishedRecord {
                block: block.clone(),
                tenant: claimed.id.tenant.clone(),
                day: claimed.id.day,
                builder: cfg.name.clone(),
                series: 0,
                chunks: 0,
                samples_in: 0,
                samples_out: 0,
                duplicates_dropped: 0,
                duplicates_disagreeing: 0,
                samples_outside_day: 0,
                bytes: 0,
                seconds: 0.0,
                skipped: Default::default(),
            };
            cfg.bucket
                .put(
                    &claimed.id.finished_key(&cfg.prefix, &block),
                    serde_json::to_vec_pretty(&rec)?,
                )
                .await?;
        }
        drop(heartbeat);
        claimed.lease.release().await?;
        Ok(Some(step))
    }
}
