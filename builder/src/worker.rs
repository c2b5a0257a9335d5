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
//!
//! A builder can be told to stop (Ctrl-C, SIGTERM: a [`CancellationToken`]
//! given to [`run_builder_until`]). It then claims nothing more, and the
//! plan in flight is given up cleanly: the build is dropped (its local
//! directory goes with it), a block upload under way is taken back (the
//! files already up are deleted, since no meta.json was written), and the
//! progress file is deleted if it is still ours, so the plan is new again
//! at once instead of waiting out the stale timeout. Once meta.json is up
//! the block is visible, and finishing (the finished file, a few small
//! writes) is cheaper and safer than taking it back, so a stop then waits
//! for the plan to finish.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use protocol::bucket::Bucket;
use protocol::names::{block_dir, block_file_key, scan_complete_key, PlanId};
use protocol::records::{now_rfc3339, FailedRecord, FinishedRecord};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use ulid::Ulid;

use crate::claim::{remove_earlier_blocks, Claimed, Claimer};
use crate::failpoint::{self, Stage};
use crate::heartbeat::Lease;
use crate::plan_build::{build_plan, BuiltBlock, PlanGone};
use protocol::tenant::TenantFilter;

/// How often an idle builder repeats what it is waiting for.
const WAIT_LOG_EVERY: Duration = Duration::from_secs(60);

/// Everything a builder needs to know, shared by the builders of one process.
#[derive(Clone, Debug)]
pub struct BuilderConfig {
    /// Where the plans are.
    pub bucket: Bucket,
    /// Where the blocks go (the plan bucket unless `--output` says otherwise).
    pub output: Bucket,
    /// The plan prefix in the plan bucket (`--prefix`).
    pub prefix: String,
    /// Local scratch space; each plan gets its own directory under it.
    pub work_dir: PathBuf,
    /// Bytes a build may hold in memory before its sorts spill to disk.
    pub memory_budget: usize,
    /// This builder's name, in its progress, finished and failed files.
    pub name: String,
    /// How long to wait before listing again when no plan is free.
    pub poll_interval: Duration,
    /// How often the progress file of a claimed plan is rewritten.
    pub heartbeat: Duration,
    /// The longest a builder claims from one listing of the prefix before
    /// listing again (`--relist-interval`); it lists sooner when its
    /// candidates run out or keep being taken.
    pub relist_interval: Duration,
    /// Tenants whose plans this builder claims.
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
    /// The Prometheus sources given (`--source prometheus:ROOT,...`): plan
    /// entries may name only blocks under them, and with none every
    /// Prometheus plan fails.
    pub prometheus_roots: Vec<String>,
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
    /// The finished records this builder wrote.
    pub finished: Vec<FinishedRecord>,
    /// Plans this builder failed, with the reason in their failed file.
    pub failed: Vec<(PlanId, String)>,
    /// Plans whose claim was taken away while this builder held them; the
    /// scheduler or another builder owns their outcome.
    pub lost: Vec<PlanId>,
    /// Plans given up because the builder was told to stop; they are new
    /// again (their progress file was released).
    pub interrupted: Vec<PlanId>,
    /// Plans whose plan file was removed after they were offered: their
    /// claim was released and nothing was recorded.
    pub gone: Vec<PlanId>,
}

impl BuilderSummary {
    /// Adds the plans of another builder (the builders of one process).
    pub fn merge(&mut self, other: BuilderSummary) {
        self.finished.extend(other.finished);
        self.failed.extend(other.failed);
        self.lost.extend(other.lost);
        self.interrupted.extend(other.interrupted);
        self.gone.extend(other.gone);
    }
}

/// How one claimed plan ended for this builder.
#[derive(Debug)]
pub(crate) enum Outcome {
    Finished(FinishedRecord),
    /// The plan's own failure, recorded in its failed file.
    Failed(String),
    /// The claim was lost; nothing was published.
    Lost,
    /// The builder was told to stop before the block was visible: the
    /// plan was given up and its progress file released.
    Interrupted,
    /// The plan file was removed after the plan was offered (an operator
    /// mending the campaign while a listing or index still named it): the
    /// claim was released and nothing recorded.
    Gone,
}

/// Runs until there is nothing left to claim and the scan is complete
/// (`once`), or forever, polling. [`run_builder_until`] without a way to
/// stop it.
pub async fn run_builder(cfg: Arc<BuilderConfig>, once: bool) -> Result<BuilderSummary> {
    run_builder_until(cfg, once, CancellationToken::new()).await
}

/// As [`run_builder`], and also returns once `stop` is cancelled, after
/// giving up the plan in flight (see the module doc).
pub async fn run_builder_until(
    cfg: Arc<BuilderConfig>,
    once: bool,
    stop: CancellationToken,
) -> Result<BuilderSummary> {
    run_builder_notifying(cfg, once, stop, None).await
}

/// As [`run_builder_until`], and notifies `idle` whenever this builder
/// runs out of plans to claim after having had one (or at its first look),
/// not again while it stays idle. The last plan of a campaign ends with
/// its builder finding nothing left, so an in-process scheduler woken by
/// this (`run`, through `scheduler::Scheduler::wake_on`) sees the end at
/// once; while plans are plentiful no builder is idle and nothing is sent,
/// so the scheduler lists no more often than its interval.
pub async fn run_builder_notifying(
    cfg: Arc<BuilderConfig>,
    once: bool,
    stop: CancellationToken,
    idle: Option<Arc<Notify>>,
) -> Result<BuilderSummary> {
    let mut summary = BuilderSummary::default();
    // Whether `idle` was told already since this builder last held a plan.
    let mut idle_sent = false;
    let mut claimer = Claimer::new(&cfg.name);
    // When the builder last said what it waits for: at the first idle poll,
    // then every WAIT_LOG_EVERY, so an idle builder is never silent.
    let mut waiting_since_log: Option<Instant> = None;
    // A claim is never dropped half-way (it would leave a progress file
    // nobody heartbeats), so `stop` is looked at between claims only.
    while !stop.is_cancelled() {
        match claimer.next(&cfg).await? {
            Some(claimed) => {
                waiting_since_log = None;
                idle_sent = false;
                let id = claimed.id.clone();
                match build_and_publish(&cfg, claimed, &stop).await? {
                    Outcome::Finished(rec) => summary.finished.push(rec),
                    Outcome::Failed(reason) => summary.failed.push((id, reason)),
                    Outcome::Lost => summary.lost.push(id),
                    Outcome::Interrupted => summary.interrupted.push(id),
                    Outcome::Gone => summary.gone.push(id),
                }
            }
            None => {
                if let Some(n) = idle.as_ref().filter(|_| !idle_sent) {
                    n.notify_one();
                    idle_sent = true;
                }
                let marker = scan_complete_key(&cfg.prefix);
                let complete = cfg.bucket.exists(&marker).await?;
                if once && complete {
                    return Ok(summary);
                }
                if waiting_since_log.is_none_or(|t| t.elapsed() >= WAIT_LOG_EVERY) {
                    waiting_since_log = Some(Instant::now());
                    if complete {
                        info!(builder = %cfg.name, poll = ?cfg.poll_interval, "no plan to claim; waiting for new plans");
                    } else {
                        info!(
                            builder = %cfg.name,
                            marker = %cfg.bucket.key_url(&marker),
                            poll = ?cfg.poll_interval,
                            "no plan to claim; waiting for the scan-complete marker (the scanner writes it when the whole scan is planned)"
                        );
                    }
                }
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = tokio::time::sleep(cfg.poll_interval) => {}
                }
            }
        }
    }
    Ok(summary)
}

/// Records a plan's own failure in its failed file, if the claim still
/// holds (otherwise the outcome belongs to whoever took it).
async fn record_failure(
    cfg: &BuilderConfig,
    claimed: &Claimed,
    e: &anyhow::Error,
) -> Result<Outcome> {
    let id = &claimed.id;
    let reason = base::error_chain(&**e);
    warn!(plan = %id, %reason, "plan failed");
    if !claimed.lease.still_mine().await? {
        return Ok(Outcome::Lost);
    }
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
    Ok(Outcome::Failed(reason))
}

/// How publishing a built block ended.
enum Published {
    Done(Outcome),
    /// The block could not be uploaded (after the bucket's retries): the
    /// plan fails, nothing of it is visible.
    UploadFailed(anyhow::Error),
}

/// What became of the build step of a claimed plan.
enum Built {
    Done(Result<Box<BuiltBlock>>),
    Lost,
    Interrupted,
}

/// Builds a claimed plan and publishes the outcome, giving the plan up if
/// `stop` is cancelled before its block is visible. The outer error is a
/// bucket failure while publishing (the plan stays claimed and the
/// scheduler's stale detection takes over).
pub(crate) async fn build_and_publish(
    cfg: &BuilderConfig,
    claimed: Claimed,
    stop: &CancellationToken,
) -> Result<Outcome> {
    let started = Instant::now();
    let lease = claimed.lease.clone();
    let heartbeat = lease.spawn(cfg.heartbeat);
    let id = &claimed.id;
    let plan_cfg = BuilderConfig {
        block: Some(claimed.block),
        ..cfg.clone()
    };

    // Dropping the build future removes its local directory (a blocking
    // step already running finishes first and is thrown away).
    let built = tokio::select! {
        biased;
        _ = lease.lost() => Built::Lost,
        _ = stop.cancelled() => Built::Interrupted,
        r = prepare_and_build(&plan_cfg, &claimed) => Built::Done(r.map(Box::new)),
    };
    let outcome = match built {
        Built::Lost => Outcome::Lost,
        Built::Interrupted => Outcome::Interrupted,
        Built::Done(Ok(built)) => {
            let result = publish_finished(&plan_cfg, &claimed, &built, started, stop).await;
            if let Err(e) = std::fs::remove_dir_all(&built.dir) {
                warn!(dir = %built.dir.display(), error = %e, "cannot remove local block");
            }
            match result? {
                Published::Done(outcome) => outcome,
                Published::UploadFailed(e) => {
                    // Best effort: the store may be what is failing. What
                    // stays is invisible (no meta.json) and goes with the
                    // next attempt's cleanup.
                    let prefix = block_dir(&id.tenant, &claimed.block.to_string());
                    if let Err(e) = cfg.output.delete_prefix(&prefix).await {
                        warn!(plan = %id, error = %e, "cannot remove the partly uploaded block");
                    }
                    record_failure(cfg, &claimed, &e).await?
                }
            }
        }
        Built::Done(Err(e)) => match e.downcast_ref::<PlanGone>() {
            Some(gone) => {
                warn!(plan = %id, "{gone} since it was offered; claim released, nothing recorded");
                Outcome::Gone
            }
            None => record_failure(cfg, &claimed, &e).await?,
        },
    };
    drop(heartbeat);
    if !matches!(outcome, Outcome::Lost) && !lease.release().await? {
        warn!(plan = %id, "progress file was no longer ours when releasing it");
    }
    match outcome {
        Outcome::Lost => warn!(plan = %id, "claim lost: stopped without publishing"),
        Outcome::Interrupted => {
            info!(plan = %id, "stopping: plan given up, its progress file released")
        }
        _ => {}
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
/// before meta.json and before the finished file. [`Outcome::Lost`] when
/// the claim was lost on the way (a block without meta.json may be left;
/// the next attempt removes it), [`Outcome::Interrupted`] when `stop` came
/// before meta.json (the files already up are deleted).
async fn publish_finished(
    cfg: &BuilderConfig,
    claimed: &Claimed,
    built: &BuiltBlock,
    started: Instant,
    stop: &CancellationToken,
) -> Result<Published> {
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
        _ = lease.lost() => Upload::Lost,
        r = upload_fenced(&cfg.output, lease, stop, &id.tenant, &block, &built.dir) => {
            match r.with_context(|| format!("plan {id}: uploading block {block}")) {
                Ok(u) => u,
                Err(e) => return Ok(Published::UploadFailed(e)),
            }
        }
    };
    let bytes = match uploaded {
        Upload::Done(bytes) => bytes,
        Upload::Lost => return Ok(Published::Done(Outcome::Lost)),
        Upload::Interrupted => return Ok(Published::Done(Outcome::Interrupted)),
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
        skipped: s.skipped,
    };
    if !lease.still_mine().await? {
        // meta.json is up but no finished file names the block: the next
        // attempt's cleanup removes it, as its attempt file names it.
        warn!(plan = %id, block = %block, "claim lost after upload; leaving the block to the next attempt");
        return Ok(Published::Done(Outcome::Lost));
    }
    cfg.bucket
        .put(
            &id.finished_key(&cfg.prefix, &block),
            serde_json::to_vec_pretty(&rec)?,
        )
        .await?;
    failpoint::reached(Stage::WritingFinished);
    // The plan is finished whatever happens now; staged samples left here
    // are removed by the scheduler's sweep of finished plans.
    for key in &built.consumed {
        if let Err(e) = cfg.bucket.delete(key).await {
            warn!(plan = %id, key, error = %e, "cannot remove consumed input; the scheduler will");
        }
    }
    info!(plan = %id, block = %block, series = s.series, samples = s.samples_out, "plan finished");
    Ok(Published::Done(Outcome::Finished(rec)))
}

/// How the upload of a block ended.
enum Upload {
    /// Every file is up, meta.json last; the bytes uploaded.
    Done(u64),
    /// The claim was lost before meta.json: the block stays partial,
    /// invisible to every reader, for the next attempt to remove.
    Lost,
    /// Told to stop before meta.json: the files already up were deleted.
    Interrupted,
}

/// Chunk segments, index, then, if the claim still holds, meta.json.
/// `stop` is looked at between files; a file being uploaded is finished
/// first, so no half-written multipart upload is left behind.
async fn upload_fenced(
    bucket: &Bucket,
    lease: &Lease,
    stop: &CancellationToken,
    tenant: &str,
    block: &str,
    dir: &Path,
) -> Result<Upload> {
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
        .map(|s| {
            (
                block_file_key(tenant, block, &format!("chunks/{s}")),
                chunks_dir.join(s),
            )
        })
        .collect();
    files.push((block_file_key(tenant, block, "index"), dir.join("index")));
    let meta = (
        block_file_key(tenant, block, "meta.json"),
        dir.join("meta.json"),
    );
    let mut bytes = 0u64;
    for (key, file) in files.iter().chain(std::iter::once(&meta)) {
        if stop.is_cancelled() {
            crate::blocks::delete_block(bucket, tenant, block).await?;
            info!(block = %block_dir(tenant, block), "stopping: partial block upload deleted");
            return Ok(Upload::Interrupted);
        }
        if key == &meta.0 && !lease.still_mine().await? {
            return Ok(Upload::Lost);
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
    Ok(Upload::Done(bytes))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use protocol::records::ProgressRecord;

    fn local_block(dir: &Path) {
        std::fs::create_dir_all(dir.join("chunks")).unwrap();
        std::fs::write(dir.join("chunks/000001"), b"chunks").unwrap();
        std::fs::write(dir.join("index"), b"index").unwrap();
        std::fs::write(dir.join("meta.json"), b"{}").unwrap();
    }

    async fn lease(bucket: &Bucket) -> Arc<Lease> {
        let rec = ProgressRecord {
            builder: "me".into(),
            started: now_rfc3339(),
            heartbeat: now_rfc3339(),
            stage: "uploading".into(),
            series_done: 0,
            attempt: 1,
            block: "B".into(),
        };
        let v = bucket
            .create_if_absent("p/t/1.progress", serde_json::to_vec(&rec).unwrap())
            .await
            .unwrap();
        Lease::new(bucket.clone(), "p/t/1.progress".into(), rec, v)
    }

    /// A builder of prefix `p` on `bucket`, named `b`, polling fast.
    pub(crate) fn config(bucket: &Bucket, work_dir: &Path) -> BuilderConfig {
        BuilderConfig {
            bucket: bucket.clone(),
            output: bucket.clone(),
            prefix: "p".into(),
            work_dir: work_dir.to_path_buf(),
            memory_budget: 16 << 20,
            name: "b".into(),
            poll_interval: Duration::from_millis(5),
            heartbeat: Duration::from_secs(60),
            relist_interval: Duration::from_secs(300),
            tenants: TenantFilter::default(),
            block: None,
            pause_after_claim: Duration::ZERO,
            cortex: None,
            prometheus_roots: Vec::new(),
        }
    }

    /// Waits for a notification; a generous bound turns a missing one into
    /// a failure instead of a hang.
    async fn notified(n: &Notify) {
        tokio::time::timeout(Duration::from_secs(60), n.notified())
            .await
            .expect("the builder never said it was idle");
    }

    #[tokio::test]
    async fn an_idle_builder_notifies_once_until_it_has_held_a_plan() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = Bucket::open("memory://").unwrap();
        bucket.put("p/scan-complete", "").await.unwrap();
        let idle = Arc::new(Notify::new());
        let stop = CancellationToken::new();
        let builder = tokio::spawn(run_builder_notifying(
            Arc::new(config(&bucket, dir.path())),
            false,
            stop.clone(),
            Some(idle.clone()),
        ));
        notified(&idle).await;
        // Polls that keep finding nothing say nothing more (a stored
        // notification would resolve at once).
        tokio::time::sleep(Duration::from_millis(100)).await;
        let again = tokio::time::timeout(Duration::ZERO, idle.notified()).await;
        assert!(again.is_err(), "notified again while staying idle");
        // A plan it cannot build: claimed, failed, and idle again.
        bucket.put("p/t/20000.plan", "not a plan").await.unwrap();
        notified(&idle).await;
        assert!(bucket.exists("p/t/20000.failed").await.unwrap());
        stop.cancel();
        let summary = builder.await.unwrap().unwrap();
        assert_eq!(summary.failed.len(), 1, "{summary:?}");
    }

    #[tokio::test]
    async fn a_stopped_upload_takes_back_what_it_put() {
        let dir = tempfile::tempdir().unwrap();
        local_block(dir.path());
        let bucket = Bucket::open("memory://").unwrap();
        let lease = lease(&bucket).await;
        // What an upload cut short after its first file leaves.
        bucket.put("t/B/chunks/000001", "chunks").await.unwrap();
        let stop = CancellationToken::new();
        stop.cancel();
        let r = upload_fenced(&bucket, &lease, &stop, "t", "B", dir.path())
            .await
            .unwrap();
        assert!(matches!(r, Upload::Interrupted));
        let left: Vec<String> = bucket
            .list("t/")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[tokio::test]
    async fn an_unstopped_upload_puts_meta_last() {
        let dir = tempfile::tempdir().unwrap();
        local_block(dir.path());
        let bucket = Bucket::open("memory://").unwrap();
        let lease = lease(&bucket).await;
        let r = upload_fenced(
            &bucket,
            &lease,
            &CancellationToken::new(),
            "t",
            "B",
            dir.path(),
        )
        .await
        .unwrap();
        assert!(matches!(r, Upload::Done(n) if n == 6 + 5 + 2));
        assert!(bucket.exists("t/B/meta.json").await.unwrap());
    }
}
