//! Claiming a plan: from one listing to a lease on one plan, its attempt
//! recorded, in a constant number of requests however large the campaign.
//!
//! The claim itself is the create-if-absent of `<day>.progress` (S3
//! `If-None-Match: *`, GCS generation 0, a new file on a local directory):
//! of builders racing for one plan exactly one creates it. The listing the
//! plan was chosen from may be old: another builder may have claimed,
//! finished and released the plan since (finished file written, progress
//! file deleted, our create landing after that delete). The attempt file
//! fences that: the claim creates `<day>.attempt.<k>`, create-if-absent,
//! with `k` one past the highest attempt its listing saw. Attempt files are
//! never deleted, and the first claim after a listing always writes exactly
//! that `k` (it either saw the same highest attempt, or saw an older one,
//! collided and looked again), so our create succeeds only if nobody
//! claimed the plan since our listing, and then it cannot have been
//! finished or failed since either. That holds for `k = 1` only: when the
//! listing saw earlier attempts, it may have caught an attempt file but
//! not the finished file written after it (a listing is no snapshot), so a
//! retry lists the plan's own files (one request,
//! [`protocol::state::list_plan_files`]) before recording its attempt. A
//! first attempt that collides gives the plan up: someone claimed and
//! released it since the listing, so it is most likely finished, and
//! looking would cost a LIST request per lost race.
//!
//! Candidates come from the scheduler's claimable-plans index
//! ([`protocol::claimable`], one GET per shard) when it is fresh and newer
//! than this builder's last listing, and from a listing of the prefix
//! otherwise (see [`Claimer`]).
//!
//! Before the build, [`remove_earlier_blocks`] deletes the blocks that
//! earlier attempts may have uploaded (their attempt files name them), so a
//! retried plan ends with one block whatever the earlier ones left.
//!
//! Not here: keeping the claim ([`crate::heartbeat`]) or the build.

use std::collections::BinaryHeap;
use std::sync::Arc;

use anyhow::Result;
use protocol::bucket::ObjectInfo;
use protocol::claimable::{ring_of, PLANS_PER_SHARD};
use protocol::names::{PlanCompression, PlanId};
use protocol::records::{now_rfc3339, AttemptRecord, ProgressRecord};
use protocol::state::{list_plan_files, PlanFiles, PlanGrouper};
use tracing::{debug, info, warn};
use ulid::Ulid;

use crate::heartbeat::Lease;
use index::IndexVersion;

mod index;
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
/// Plans a builder claims from a listing per LIST page it took before
/// `--relist-interval` may list again: a campaign of a million plans is
/// thousands of pages, and relisting it every few minutes would cost each
/// builder more pages than plans. Running dry or losing races still
/// relists at once.
const CLAIMS_PER_PAGE: u64 = 4;
/// How often a builder whose pool is not dry, but due for renewal, looks
/// at the index again when the index had nothing new for it: a GET, but
/// not one per claim.
const INDEX_RECHECK: std::time::Duration = std::time::Duration::from_secs(15);
/// Candidates a pool keeps at most (the nearest after the builder's ring
/// position): about 100 bytes each, so a builder of a campaign of millions
/// holds megabytes, not the campaign.
const POOL_CAP: usize = 20_000;

/// A plan this builder now holds.
pub(crate) struct Claimed {
    pub id: PlanId,
    pub plan_key: String,
    pub attempt: u32,
    /// The block this attempt will upload, named in its attempt file.
    pub block: Ulid,
    pub lease: Arc<Lease>,
    /// The plan's files as last known: its listing, or the listing of its
    /// own files when the claim looked again.
    pub files: PlanFiles,
    /// Plans this claim tried first and lost (taken, or finished since
    /// the listing).
    pub lost_races: u32,
}

/// A new plan of a listing, to try.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    id: PlanId,
    /// The plan's files as the listing saw them: a new plan has one plan
    /// file and attempt files at most.
    files: PlanFiles,
    /// The plan file's compression.
    compression: PlanCompression,
    /// Where the plan sits on the ring every builder orders plans by.
    ring: u64,
}

/// A candidate ranked by its distance ahead of the builder's position.
struct Ranked(u64, Candidate);

impl PartialEq for Ranked {
    fn eq(&self, o: &Self) -> bool {
        (self.0, &self.1.id) == (o.0, &o.1.id)
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ranked {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.0, &self.1.id).cmp(&(o.0, &o.1.id))
    }
}

/// What a listing folds into: the nearest new plans ahead of a position.
struct PoolFold {
    grouper: PlanGrouper,
    nearest: BinaryHeap<Ranked>,
    objects: u64,
}

/// One builder's candidate pool: the new plans of its last listing of the
/// prefix, ordered along a ring that every builder shares (a hash of the
/// plan ID), from this builder's position onward. Builders start at
/// different positions (their seeds) and claim forward, so they meet only
/// where one builder's run reaches the next one's; a builder that loses a
/// race there leaps over the other builder's run (see [`Claimer::leap`])
/// rather than trailing it, losing every plan on the way.
///
/// A listing of a campaign of a million plans is thousands of LIST pages,
/// so it is taken again only when the pool runs dry, when it is older than
/// `relist_interval` and paid for by [`CLAIMS_PER_PAGE`] claims a page, or
/// when the plans lost since it cost more than a new listing would (a lost plan costs one create; the listing one request
/// per 1,000 keys).
pub(crate) struct Claimer {
    /// Ring order from `position`; `None` once tried.
    pool: Vec<Option<Candidate>>,
    /// The next candidate to try.
    cursor: usize,
    /// Untried candidates left in `pool`.
    left: usize,
    /// Ring position the next listing's pool starts from: the seed, then
    /// the last plan claimed, so a builder carries on along its own run.
    position: u64,
    listed_at: Option<tokio::time::Instant>,
    /// LIST pages the last listing took (1,000 keys a page).
    listing_pages: u64,
    /// Plans lost since the last listing.
    lost_since_listing: u64,
    /// Plans claimed since the last listing.
    claimed_since_listing: u64,
    /// Races lost in a row.
    losing_streak: u32,
    /// When this builder's last listing of the prefix started (store
    /// clock): an index older than that tells it nothing new.
    last_listing: Option<chrono::DateTime<chrono::Utc>>,
    /// LIST pages of that listing: what listing again costs.
    full_listing_pages: u64,
    /// The version of the claimable-plans index the pool comes from.
    index: Option<IndexVersion>,
    /// Shards of the last index read: where to find this builder's shard.
    shards_hint: u32,
    /// When the index last had nothing new for a pool due for renewal.
    index_checked: Option<tokio::time::Instant>,
    /// A forged or broken index was logged already.
    index_warned: bool,
}

impl Claimer {
    /// A claimer with an empty pool: its first claim lists.
    pub(crate) fn new(name: &str) -> Self {
        Claimer {
            pool: Vec::new(),
            cursor: 0,
            left: 0,
            position: name_hash(name) ^ (Ulid::new().random() as u64),
            listed_at: None,
            listing_pages: 0,
            lost_since_listing: 0,
            claimed_since_listing: 0,
            losing_streak: 0,
            last_listing: None,
            full_listing_pages: 0,
            index: None,
            shards_hint: 1,
            index_checked: None,
            index_warned: false,
        }
    }

    /// Whether the pool should be renewed when renewing costs `pages`:
    /// it is dry, or it is old and paid for by [`CLAIMS_PER_PAGE`] claims
    /// a page, or it lost more plans than renewing costs.
    fn due(&self, cfg: &BuilderConfig, pages: u64) -> bool {
        let paid_for = self.claimed_since_listing >= CLAIMS_PER_PAGE * pages;
        self.left == 0
            || self
                .listed_at
                .is_none_or(|t| t.elapsed() >= cfg.relist_interval && paid_for)
            || self.lost_since_listing > pages + LOSSES_BEFORE_RELIST
    }

    /// Due for renewal from what the pool cost (one GET for an index shard).
    fn stale(&self, cfg: &BuilderConfig) -> bool {
        self.due(cfg, self.listing_pages)
    }

    /// Due for a listing of the whole prefix: what it costs is the last
    /// listing's pages, or, before any, what the index says the campaign
    /// holds at least.
    fn listing_due(&self, cfg: &BuilderConfig) -> bool {
        let estimate = match (&self.index, self.full_listing_pages) {
            (_, p) if p > 0 => p,
            (Some(v), _) => u64::from(v.shards) * (PLANS_PER_SHARD as u64 / 1000),
            (None, _) => 1,
        };
        self.due(cfg, estimate)
    }

    /// Claims the next new plan this builder can get. `None` when a
    /// listing taken by this call has no claimable plan left: what
    /// `build --once` exits on.
    pub(crate) async fn next(&mut self, cfg: &BuilderConfig) -> Result<Option<Claimed>> {
        let mut listed = false;
        // The index had nothing (more) for this call.
        let mut index_done = false;
        let mut lost = 0;
        loop {
            if self.stale(cfg) {
                if listed && self.left == 0 {
                    return Ok(None);
                }
                if !listed {
                    let recheck = self.left == 0
                        || self
                            .index_checked
                            .is_none_or(|t| t.elapsed() >= INDEX_RECHECK);
                    if !index_done && recheck {
                        if self.refill_from_index(cfg).await {
                            // Possibly empty (all of another tenant): the
                            // next shard, or a listing, comes next.
                            continue;
                        }
                        index_done = true;
                        self.index_checked = Some(tokio::time::Instant::now());
                    }
                    if self.listing_due(cfg) {
                        self.relist(cfg).await?;
                        listed = true;
                        if self.left == 0 {
                            return Ok(None);
                        }
                    }
                }
            }
            let Some(i) = self.take_next() else {
                continue;
            };
            let Some(candidate) = self.pool[i].take() else {
                continue;
            };
            self.left -= 1;
            match try_claim(cfg, &candidate).await? {
                Some(mut claimed) => {
                    claimed.lost_races = lost;
                    self.cursor = i + 1;
                    self.position = candidate.ring;
                    self.claimed_since_listing += 1;
                    self.losing_streak = 0;
                    return Ok(Some(claimed));
                }
                None => {
                    lost += 1;
                    self.lost_since_listing += 1;
                    self.losing_streak += 1;
                    self.cursor = self.leap(i);
                }
            }
        }
    }

    /// The index of the next untried candidate from the cursor on, or of
    /// the middle of the longest untried stretch once the end is reached.
    fn take_next(&mut self) -> Option<usize> {
        if self.left == 0 {
            return None;
        }
        if let Some(off) = self.pool[self.cursor.min(self.pool.len())..]
            .iter()
            .position(Option::is_some)
        {
            return Some(self.cursor + off);
        }
        self.cursor = self.middle_of_longest_untried();
        Some(self.cursor)
    }

    /// Where to go on after losing the race at index `i`: over the run of
    /// the builder that started there. It has been claiming since about
    /// our listing, as fast as we have, so its run is about as long as
    /// ours; we leap twice that (and twice again with every loss in a
    /// row), leaving it the stretch between to claim without meeting us.
    /// Past the end of the pool: the middle of the longest untried stretch.
    fn leap(&self, i: usize) -> usize {
        let run = self.claimed_since_listing.max(1);
        let skip = run.saturating_mul(1 << self.losing_streak.min(20));
        match usize::try_from(skip)
            .ok()
            .and_then(|s| (i + 1).checked_add(s))
        {
            Some(j) if j < self.pool.len() => j,
            _ => self.middle_of_longest_untried(),
        }
    }

    /// The middle of the longest run of untried candidates: where a builder
    /// that met another one's run is least likely to meet one again.
    fn middle_of_longest_untried(&self) -> usize {
        let (mut best, mut best_len) = (0, 0);
        let mut run_start = None;
        for (i, c) in self.pool.iter().chain([&None]).enumerate() {
            match (c.is_some(), run_start) {
                (true, None) => run_start = Some(i),
                (false, Some(s)) => {
                    if i - s > best_len {
                        (best, best_len) = (s, i - s);
                    }
                    run_start = None;
                }
                _ => {}
            }
        }
        best + best_len / 2
    }

    /// Lists the prefix and makes the pool the `POOL_CAP` new plans nearest
    /// ahead of this builder's ring position. The listing is folded as it
    /// arrives, so the builder never holds it whole, and is of names only
    /// (on a local directory, no file is stat-ed).
    async fn relist(&mut self, cfg: &BuilderConfig) -> Result<()> {
        let position = self.position;
        let prefix = cfg.prefix.as_str();
        // Names are enough to tell a new plan: any progress, finished or
        // failed file makes it not new, whatever its size or time. The
        // stamps of a names-only listing are zero bytes at the listing time.
        let listed = chrono::Utc::now();
        let fold = cfg
            .bucket
            .list_names_fold(
                prefix,
                2,
                || PoolFold {
                    grouper: PlanGrouper::new(prefix),
                    nearest: BinaryHeap::new(),
                    objects: 0,
                },
                |f, key: &str| {
                    f.objects += 1;
                    let o = ObjectInfo {
                        key: key.to_string(),
                        size: 0,
                        last_modified: listed,
                    };
                    let nearest = &mut f.nearest;
                    f.grouper
                        .push(&o, |id, files| offer(cfg, position, nearest, id, files));
                },
            )
            .await?;
        let PoolFold {
            grouper,
            mut nearest,
            objects,
        } = fold;
        grouper.finish(|id, files| offer(cfg, position, &mut nearest, id, files));
        let pool: Vec<Option<Candidate>> = nearest
            .into_sorted_vec()
            .into_iter()
            .map(|Ranked(_, c)| Some(c))
            .collect();
        debug!(
            objects,
            candidates = pool.len(),
            "listed the prefix for new plans"
        );
        self.listing_pages = objects.div_ceil(1000).max(1);
        self.full_listing_pages = self.listing_pages;
        self.last_listing = Some(listed);
        self.lost_since_listing = 0;
        self.claimed_since_listing = 0;
        self.losing_streak = 0;
        self.listed_at = Some(tokio::time::Instant::now());
        self.left = pool.len();
        self.pool = pool;
        self.cursor = 0;
        Ok(())
    }
}

/// Keeps plan `id` among the `POOL_CAP` nearest ahead of `position` if it
/// is new and this builder's to claim.
fn offer(
    cfg: &BuilderConfig,
    position: u64,
    nearest: &mut BinaryHeap<Ranked>,
    id: PlanId,
    files: PlanFiles,
) {
    if !cfg.tenants.allows(&id.tenant) || !files.is_claimable() {
        return;
    }
    let Some(&(compression, _)) = files.plan() else {
        return;
    };
    let ring = ring_of(&id);
    let dist = ring.wrapping_sub(position);
    if nearest.len() >= POOL_CAP && nearest.peek().is_some_and(|r| r.0 <= dist) {
        return;
    }
    nearest.push(Ranked(
        dist,
        Candidate {
            id,
            files,
            compression,
            ring,
        },
    ));
    if nearest.len() > POOL_CAP {
        nearest.pop();
    }
}

/// Tries to claim one plan; `None` if someone else holds or finished it.
pub(crate) async fn try_claim(cfg: &BuilderConfig, c: &Candidate) -> Result<Option<Claimed>> {
    let id = &c.id;
    let mut files = c.files.clone();
    let expected = files.next_attempt();
    let block = Ulid::new();
    let started = now_rfc3339();
    let record = ProgressRecord {
        builder: cfg.name.clone(),
        started: started.clone(),
        heartbeat: started.clone(),
        stage: "claimed".into(),
        series_done: 0,
        attempt: expected,
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

    let rec = AttemptRecord {
        builder: cfg.name.clone(),
        block: block.to_string(),
        started,
        output: (cfg.output.url() != cfg.bucket.url()).then(|| cfg.output.url().to_string()),
    };
    let body = serde_json::to_vec_pretty(&rec)?;
    // A retry's listing saw an earlier attempt, and a listing is no
    // snapshot: it may have caught that attempt file yet missed the
    // finished (or failed) file written after it. Retries are rare, so
    // they look at the plan's own files once, after the claim (no finish
    // can come later) and before recording the attempt.
    let looked = expected > 1;
    if looked {
        match look_again(cfg, id, &lease).await? {
            Some(f) => files = f,
            None => return Ok(None),
        }
    }
    let mut attempt = files.next_attempt();
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
        if !looked {
            // Claimed since our listing (or index), and released since: it
            // is most likely finished. Seeing whether it is would cost a
            // LIST request per lost race; letting it go costs nothing but
            // a retry's delay (the scheduler only retries a plan that went
            // stale), as the next listing or index shows its attempt.
            debug!(plan = %id, "claimed and released since the listing; letting it be");
            lease.release().await?;
            return Ok(None);
        }
        warn!(plan = %id, attempt, "attempt file exists already; trying the next number");
        attempt += 1;
        if attempt > files.next_attempt() + ATTEMPT_PROBES {
            lease.release().await?;
            anyhow::bail!("plan {id}: attempt files up to {attempt} exist already; is someone else writing them?");
        }
    }
    if attempt != expected {
        lease.set_attempt(attempt).await;
    }
    info!(plan = %id, builder = %cfg.name, attempt, block = %block, "claimed plan");
    Ok(Some(Claimed {
        id: id.clone(),
        plan_key: id.plan_key(&cfg.prefix, c.compression),
        attempt,
        block,
        lease,
        files,
        lost_races: 0,
    }))
}

/// Lists the plan's own files (one request) after our claim: `None`, with
/// the claim released, when it was finished, failed or removed meanwhile.
async fn look_again(cfg: &BuilderConfig, id: &PlanId, lease: &Lease) -> Result<Option<PlanFiles>> {
    let files = list_plan_files(&cfg.bucket, &cfg.prefix, id).await?;
    if files.plans.len() != 1 || !files.finished.is_empty() || !files.failed.is_empty() {
        debug!(plan = %id, "finished, failed or gone since the listing");
        lease.release().await?;
        return Ok(None);
    }
    Ok(Some(files))
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

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::bucket::Bucket;
    use protocol::state::Stamp;

    /// A plan `t`/20000 under prefix `p` of a memory bucket, with its
    /// plan file and attempt file 1.
    async fn plan_with_first_attempt(work: &std::path::Path) -> (Bucket, BuilderConfig, PlanId) {
        let bucket = Bucket::open("memory://").unwrap();
        let cfg = crate::worker::tests::config(&bucket, work);
        let id = PlanId {
            tenant: "t".into(),
            day: 20000,
        };
        bucket
            .put(&id.plan_key("p", PlanCompression::None), "plan")
            .await
            .unwrap();
        bucket.put(&id.attempt_key("p", 1), "{}").await.unwrap();
        (bucket, cfg, id)
    }

    fn stamp() -> Stamp {
        Stamp {
            size: 4,
            last_modified: chrono::Utc::now(),
        }
    }

    /// A listing that caught attempt 1 of a plan but neither the finished
    /// file written after it nor the progress file before its removal: the
    /// retry's claim must see the plan finished and let it be.
    #[tokio::test]
    async fn a_retry_from_a_stale_listing_does_not_claim_a_finished_plan() {
        let dir = tempfile::tempdir().unwrap();
        let (bucket, cfg, id) = plan_with_first_attempt(dir.path()).await;
        let block = Ulid::new().to_string();
        bucket
            .put(&id.finished_key("p", &block), "{}")
            .await
            .unwrap();
        let stamp = stamp();
        let stale = Candidate {
            id: id.clone(),
            files: PlanFiles {
                plans: vec![(PlanCompression::None, stamp)],
                attempts: vec![(1, stamp)],
                ..PlanFiles::default()
            },
            compression: PlanCompression::None,
            ring: ring_of(&id),
        };
        assert!(try_claim(&cfg, &stale).await.unwrap().is_none());
        assert!(!bucket.exists(&id.progress_key("p")).await.unwrap());
        assert!(!bucket.exists(&id.attempt_key("p", 2)).await.unwrap());
    }

    /// A plan claimed and released since the listing (its first attempt
    /// file is there, the listing saw none) is let go without a look.
    #[tokio::test]
    async fn a_first_attempt_that_collides_lets_the_plan_go() {
        let dir = tempfile::tempdir().unwrap();
        let (bucket, cfg, id) = plan_with_first_attempt(dir.path()).await;
        let stamp = stamp();
        let old = Candidate {
            id: id.clone(),
            files: PlanFiles {
                plans: vec![(PlanCompression::None, stamp)],
                ..PlanFiles::default()
            },
            compression: PlanCompression::None,
            ring: ring_of(&id),
        };
        assert!(try_claim(&cfg, &old).await.unwrap().is_none());
        assert!(!bucket.exists(&id.progress_key("p")).await.unwrap());
        assert!(!bucket.exists(&id.attempt_key("p", 2)).await.unwrap());
    }
}
