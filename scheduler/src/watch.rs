//! The scheduler's loop: one listing per interval, stale plans retried or
//! failed, the report refreshed; and the read-only status of `status`.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use protocol::bucket::Bucket;
use protocol::names::{scan_complete_key, PlanId};
use protocol::state::{
    ignored_objects, plans_from_listing, IgnoredObjects, PlanFiles, PlanState, Stamp,
};
use protocol::tenant::TenantFilter;
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::cache::{ContentCache, FinishedReads};
use crate::http::Shared;
use crate::report::{build_report, SchedulerCounters, StatusReport};
use crate::stale::{handle_stale, sweep_done, StaleAction};

/// Where `/status` and `/metrics` are served unless `--listen` says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9120";

/// What the scheduler watches and how it judges plans; how often it looks
/// is the loop's business ([`WatchOptions`]).
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// The plan bucket.
    pub bucket: Bucket,
    /// Plans live under `<prefix>/`; empty: at the bucket root.
    pub prefix: String,
    /// A progress file whose heartbeat is older than this is stale.
    pub stale_after: Duration,
    /// Attempts a plan gets before a stale progress file fails it.
    pub max_attempts: u32,
    /// Plans of other tenants are neither reported nor acted on.
    pub tenants: TenantFilter,
}

/// How [`Scheduler::watch`] loops.
#[derive(Clone, Copy, Debug)]
pub struct WatchOptions {
    /// Time between the starts of two listings of the prefix.
    pub scan_interval: Duration,
    /// Return once the scan is complete and no plan waits for a builder;
    /// otherwise watch until stopped.
    pub exit_when_done: bool,
}

/// The scheduler: its configuration, what it read of finished and failed
/// files, and the report its HTTP endpoints show.
pub struct Scheduler {
    cfg: SchedulerConfig,
    cache: ContentCache,
    shared: Shared,
    counters: SchedulerCounters,
    /// Done plans whose progress file was still there at the last scan (a
    /// builder about to remove it, or one that died after publishing and
    /// whose file the sweep takes once stale). `exit_when_done` waits for
    /// them, so a campaign ends with no progress file left behind.
    unswept: usize,
    /// Set by [`Scheduler::wake_on`]: a notification means "list now".
    wake: Option<Arc<Notify>>,
}

/// The `/status` and `/metrics` endpoints, served until this is dropped.
pub struct Server {
    address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// The address bound (the real port when `:0` was asked for).
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Scheduler {
    /// A scheduler that has not listed anything yet.
    pub fn new(cfg: SchedulerConfig) -> Self {
        Scheduler {
            cfg,
            cache: ContentCache::default(),
            shared: Shared::default(),
            counters: SchedulerCounters::default(),
            unswept: 0,
            wake: None,
        }
    }

    /// Makes [`Scheduler::watch`] also list as soon as `wake` is notified,
    /// not only every interval. `run` hands the same `Notify` to its
    /// builders, which notify it when they run out of plans to claim: the
    /// campaign may just have ended, and the run should not wait out the
    /// interval to see it. Notifications while a listing is under way are
    /// kept (one, however many came) and answered by the next listing.
    pub fn wake_on(&mut self, wake: Arc<Notify>) {
        self.wake = Some(wake);
    }

    /// Serves `/status` and `/metrics` on `addr` (port 0 picks a free one)
    /// from the result of the latest scan, until the [`Server`] is dropped.
    pub async fn serve(&self, addr: SocketAddr) -> Result<Server> {
        let (address, task) = crate::http::serve(addr, self.shared.clone())
            .await
            .with_context(|| format!("listening on {addr}"))?;
        info!(address = %address, "serving /status and /metrics");
        Ok(Server { address, task })
    }

    /// The campaign loop: scans every interval (and when woken, see
    /// [`Scheduler::wake_on`]) and hands each report to `on_report`, until
    /// `stop` resolves or, with `exit_when_done`, the campaign is done and
    /// no done plan's progress file is left (one whose builder died right
    /// after publishing is swept once stale). A failed listing is logged and
    /// tried again at the next tick. Returns the last report, `None` when
    /// no scan succeeded.
    ///
    /// `stop` is checked between scans, never during one, so a scan that
    /// has started acting on stale plans finishes.
    pub async fn watch(
        &mut self,
        opts: WatchOptions,
        stop: impl Future<Output = ()>,
        mut on_report: impl FnMut(&StatusReport),
    ) -> Option<StatusReport> {
        let mut tick = tokio::time::interval(opts.scan_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        let wake = self.wake.clone();
        let mut last = None;
        loop {
            let woken = async {
                match &wake {
                    Some(w) => w.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = &mut stop => return last,
                _ = tick.tick() => {}
                // The interval restarts from this listing: no second one
                // right behind it.
                _ = woken => tick.reset(),
            }
            match self.scan_once().await {
                Ok(report) => {
                    on_report(&report);
                    let done = report.done();
                    last = Some(report);
                    if opts.exit_when_done && done && self.unswept == 0 {
                        return last;
                    }
                }
                Err(e) => {
                    warn!(error = %base::ErrorChain(&*e), "listing the bucket failed; will retry")
                }
            }
        }
    }

    fn stale_after(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.cfg.stale_after).unwrap_or(chrono::Duration::MAX)
    }

    /// One scan: list, retry or fail stale plans, refresh the report.
    pub async fn scan_once(&mut self) -> Result<StatusReport> {
        let started = Instant::now();
        let metrics = self.shared.metrics.clone();
        metrics.scans.inc();
        let listing_started = Instant::now();
        // The index's time: no plan became unclaimable before it unseen.
        let as_of = chrono::Utc::now();
        let PlanListing {
            mut plans,
            scan_complete,
            ignored,
        } = match list_plans(&self.cfg.bucket, &self.cfg.prefix, &self.cfg.tenants).await {
            Ok(x) => x,
            Err(e) => {
                metrics.scan_errors.inc();
                return Err(e);
            }
        };
        let listing_seconds = listing_started.elapsed().as_secs_f64();
        let now = chrono::Utc::now();
        let stale_after = self.stale_after();
        let stale: Vec<PlanId> = plans
            .iter()
            .filter(|(_, f)| f.state(now, stale_after).0 == PlanState::Stale)
            .map(|(id, _)| id.clone())
            .collect();
        // A plan whose outcome is out but whose progress file (or staged
        // samples) is still there: its builder died just after publishing.
        let leftovers: Vec<PlanId> = plans
            .iter()
            .filter(|(_, f)| {
                let done = matches!(
                    f.state(now, stale_after).0,
                    PlanState::Finished | PlanState::Failed
                );
                let stale = f.last_heartbeat().is_some_and(|t| now - t > stale_after);
                done && (stale || (f.staged && !f.finished.is_empty() && f.progress.is_none()))
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in leftovers {
            match sweep_done(&self.cfg.bucket, &self.cfg.prefix, &id, now, stale_after).await {
                Ok(true) => {
                    if let Some(f) = plans.get_mut(&id) {
                        f.progress = None;
                        f.cortex_progress.clear();
                    }
                }
                Ok(false) => {}
                Err(e) => {
                    metrics.scan_errors.inc();
                    warn!(plan = %id, error = %base::ErrorChain(&e), "cannot remove a done plan's leftovers; will retry next scan");
                }
            }
        }
        for id in stale {
            let action = handle_stale(
                &self.cfg.bucket,
                &self.cfg.prefix,
                &id,
                now,
                stale_after,
                self.cfg.max_attempts,
            )
            .await;
            let Some(files) = plans.get_mut(&id) else {
                continue;
            };
            match action {
                Ok(StaleAction::Retried { .. }) => {
                    self.counters.retries += 1;
                    metrics.retries.inc();
                    files.progress = None;
                    files.cortex_progress.clear();
                }
                Ok(StaleAction::Failed { .. }) => {
                    self.counters.failed_stale += 1;
                    metrics.failed_stale.inc();
                    files.progress = None;
                    files.cortex_progress.clear();
                    files.failed.push((
                        false,
                        Stamp {
                            size: 0,
                            last_modified: now,
                        },
                    ));
                }
                Ok(StaleAction::Skipped) => {}
                Err(e) => {
                    metrics.scan_errors.inc();
                    warn!(plan = %id, error = %base::ErrorChain(&e), "cannot act on a stale plan; will retry next scan");
                }
            }
        }
        // A filtered scheduler sees part of the campaign: an index of it
        // would hide the other tenants' plans from builders.
        if self.cfg.tenants.allowed.is_empty() && self.cfg.tenants.ignored.is_none() {
            match crate::index::publish(&self.cfg.bucket, &self.cfg.prefix, as_of, &plans).await {
                Ok(p) => {
                    self.counters.index_plans = p.plans as u64;
                    self.counters.index_shards = u64::from(p.shards);
                }
                Err(e) => {
                    metrics.scan_errors.inc();
                    warn!(error = %base::ErrorChain(&*e), "cannot publish the claimable-plans index; builders list instead");
                }
            }
        }
        self.unswept = plans
            .values()
            .filter(|f| {
                matches!(
                    f.state(now, stale_after).0,
                    PlanState::Finished | PlanState::Failed
                ) && (f.progress.is_some() || !f.cortex_progress.is_empty())
            })
            .count();
        self.cache
            .refresh(
                &self.cfg.bucket,
                &self.cfg.prefix,
                &plans,
                FinishedReads::All,
            )
            .await;
        let prefix = self.cfg.prefix.clone();
        let cache = &self.cache;
        let mut report = build_report(
            &plans,
            now,
            stale_after,
            scan_complete,
            Some(&|id, b| cache.finished(&prefix, id, b)),
            &cache.reasons(),
        );
        report.ignored_objects = ignored;
        report.listing_seconds = listing_seconds;
        self.counters.scans += 1;
        self.counters.last_scan_seconds = started.elapsed().as_secs_f64();
        report.scheduler = Some(self.counters);
        metrics.observe(&report, self.counters.last_scan_seconds);
        match self.shared.report.write() {
            Ok(mut r) => *r = report.clone(),
            Err(poisoned) => *poisoned.into_inner() = report.clone(),
        }
        Ok(report)
    }
}

/// What one listing of the prefix says.
pub struct PlanListing {
    /// The plans, tenant filter applied.
    pub plans: BTreeMap<PlanId, PlanFiles>,
    /// The scanner wrote `scan-complete`: no new plan will appear.
    pub scan_complete: bool,
    /// Objects under the prefix that are neither plan files nor markers
    /// (planted or mistyped by hand); reported, never acted on.
    pub ignored: IgnoredObjects,
}

/// Lists the prefix once.
pub async fn list_plans(
    bucket: &Bucket,
    prefix: &str,
    tenants: &TenantFilter,
) -> Result<PlanListing> {
    let objects = bucket
        .list(prefix)
        .await
        .with_context(|| format!("listing {}", bucket.key_url(prefix)))?;
    let marker = scan_complete_key(prefix);
    let scan_complete = objects.iter().any(|o| o.key == marker);
    let mut plans = plans_from_listing(prefix, &objects);
    plans.retain(|id, _| tenants.allows(&id.tenant));
    Ok(PlanListing {
        plans,
        scan_complete,
        ignored: ignored_objects(prefix, &objects),
    })
}

/// The status of the campaign, read without changing anything: what the
/// `status` command prints. From one listing and the first failed files'
/// reasons; the finished files (one GET each) only when `exact`.
pub async fn collect_status(
    bucket: &Bucket,
    prefix: &str,
    stale_after: Duration,
    tenants: &TenantFilter,
    exact: bool,
) -> Result<StatusReport> {
    let started = Instant::now();
    let PlanListing {
        plans,
        scan_complete,
        ignored,
    } = list_plans(bucket, prefix, tenants).await?;
    let listing_seconds = started.elapsed().as_secs_f64();
    let now = chrono::Utc::now();
    let reads = if exact {
        FinishedReads::All
    } else {
        FinishedReads::None
    };
    let mut cache = ContentCache::default();
    cache.refresh(bucket, prefix, &plans, reads).await;
    let stale_after = chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::MAX);
    let read = |id: &PlanId, b: &str| cache.finished(prefix, id, b);
    let mut report = build_report(
        &plans,
        now,
        stale_after,
        scan_complete,
        exact.then_some(&read as &crate::report::ReadFinished<'_>),
        &cache.reasons(),
    );
    report.ignored_objects = ignored;
    report.listing_seconds = listing_seconds;
    Ok(report)
}

/// The standalone scheduler (`blocksconvert schedule`): serves on `listen`
/// if given and watches, logging one line per scan. With
/// `exit_when_done`, returns the last report once the campaign is done;
/// otherwise runs until the process stops.
pub async fn run_scheduler(
    cfg: SchedulerConfig,
    opts: WatchOptions,
    listen: Option<SocketAddr>,
) -> Result<StatusReport> {
    let mut scheduler = Scheduler::new(cfg);
    let _server = match listen {
        Some(addr) => Some(scheduler.serve(addr).await?),
        None => None,
    };
    let last = scheduler
        .watch(opts, std::future::pending(), |report| {
            info!(
                plans = report.plans,
                new = report.states.new,
                in_progress = report.states.in_progress,
                finished = report.states.finished,
                failed = report.states.failed,
                invalid = report.states.invalid,
                "scan"
            );
        })
        .await;
    // Without a stop, the watch returns only once done, with that report.
    last.context("the scheduler stopped before any scan succeeded")
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::records::FinishedRecord;

    /// With an interval of an hour, only the wake-up can show the watch
    /// the last plan finishing.
    #[tokio::test]
    async fn a_wake_up_lists_at_once() {
        let b = Bucket::open("memory://").unwrap();
        b.put("m/t/1.plan", "p").await.unwrap();
        b.put("m/t/1.progress", "{}").await.unwrap();
        b.put("m/scan-complete", "now").await.unwrap();
        let mut s = Scheduler::new(SchedulerConfig {
            bucket: b.clone(),
            prefix: "m".into(),
            stale_after: Duration::from_secs(3600),
            max_attempts: 2,
            tenants: TenantFilter::default(),
        });
        let wake = Arc::new(Notify::new());
        s.wake_on(wake.clone());
        let opts = WatchOptions {
            scan_interval: Duration::from_secs(3600),
            exit_when_done: true,
        };
        let mut reports = Vec::new();
        let watch = s.watch(opts, std::future::pending(), |r| {
            if reports.is_empty() {
                // What a builder does with its last plan, then its wake-up.
                let (b, wake) = (b.clone(), wake.clone());
                tokio::spawn(async move {
                    let rec = FinishedRecord {
                        block: "01KBXGZ4TQ3YV3N7Z5RAVXJ8PQ".into(),
                        ..Default::default()
                    };
                    b.put(
                        "m/t/1.finished.01KBXGZ4TQ3YV3N7Z5RAVXJ8PQ",
                        serde_json::to_vec(&rec).unwrap(),
                    )
                    .await
                    .unwrap();
                    b.delete("m/t/1.progress").await.unwrap();
                    wake.notify_one();
                });
            }
            reports.push((r.states.in_progress, r.states.finished));
        });
        // A generous bound: a missed wake-up fails instead of hanging.
        let last = tokio::time::timeout(Duration::from_secs(60), watch)
            .await
            .expect("the wake-up was not answered with a listing");
        assert!(last.is_some_and(|r| r.all_finished()));
        assert_eq!(reports, [(1, 0), (0, 1)]);
    }
}
