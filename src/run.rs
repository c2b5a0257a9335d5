//! `blocksconvert run`: a whole campaign in one process.
//!
//! The scanner, the scheduler and N builders run here exactly as the
//! `scan`, `schedule` and `build` commands run them, and share nothing but
//! the bucket: builders claim plans with create-if-absent, the scheduler
//! lists the prefix, retries or fails stale plans and feeds the progress
//! view ([`crate::progress`]) through the same loop `schedule` runs
//! (`scheduler::Scheduler::watch`). The run ends when the scheduler sees every
//! plan finished or failed, then prints the summary table. The one thing
//! they share beyond the bucket is a wake-up: a builder that runs out of
//! plans notifies the scheduler, which lists at once instead of at its next
//! interval, so the run ends when the last plan does. The scan is over
//! before builders and scheduler start, so neither waits for it.
//!
//! Ctrl-C or SIGTERM (what Kubernetes sends a Job's pod) stops cleanly,
//! here and in `build` ([`stop_on_signals`]): no new claims, plans in flight
//! given up with their progress files released and partial uploads taken
//! back, the summary marked interrupted, exit code 130. A second signal
//! exits at once.
//!
//! Not here: any behaviour of the workers themselves; this file only wires
//! them together.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use clap::Args;
use scheduler::{Scheduler, SchedulerConfig, WatchOptions};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::cli::{
    builder_config, default_builder_name, exit_code, parse_duration, scan_config, ChunkStoreArgs,
    CortexArgs, ScanArgs,
};
use crate::progress::{Progress, ProgressMode};

/// The exit code of a run or build stopped by SIGINT or SIGTERM (128 + SIGINT).
pub(crate) const INTERRUPTED: u8 = 130;

#[derive(Args, Debug, Clone)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub scan: ScanArgs,
    /// Where blocks go (default: the plan bucket).
    #[arg(long)]
    pub output: Option<String>,
    /// Builders in this process, each building one plan at a time; they split --memory-budget
    /// evenly (--concurrency is per plan).
    #[arg(long, default_value_t = crate::cli::DEFAULT_BUILDERS)]
    pub builders: usize,
    #[command(flatten)]
    pub chunk_store: ChunkStoreArgs,
    /// How often a building builder rewrites its progress file.
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    pub heartbeat: Duration,
    /// A progress file not rewritten for this long is stale: its plan is retried or failed.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub stale_after: Duration,
    /// Attempts a plan gets; a plan gone stale on its last attempt is failed.
    #[arg(long, default_value_t = 3)]
    pub max_attempts: u32,
    /// How often the bucket is listed for plan states (stale plans, progress, the end).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub scan_interval: Duration,
    /// How often an idle builder looks for new plans.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub poll_interval: Duration,
    /// Serve /status and /metrics on this address (port 0 picks a free one); not served unless given.
    #[arg(long)]
    pub listen: Option<String>,
    /// Progress bar on stderr: auto (when stderr is a terminal), always, never (log lines).
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: ProgressMode,
    /// Without a progress bar, one progress log line this often.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub progress_interval: Duration,
    /// Age after which a builder lists the prefix again to see new plans, once its claims paid for the last listing (4 per page).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub relist_interval: Duration,
    /// Fault injection for tests and drills: hold each claim this long before building.
    #[arg(long, hide = true, default_value = "0s", value_parser = parse_duration)]
    pub pause_after_claim: Duration,
}

/// Scan, then builders and the scheduler until every plan is finished or
/// failed (or a signal stops the run).
pub(crate) async fn run(a: RunArgs) -> Result<ExitCode> {
    let buckets = a.scan.bucket.open_buckets(a.output.as_deref())?;
    let scan_cfg = scan_config(&a.scan, buckets.plans.clone());
    if a.scan.dry_run {
        let report = scanner::dry_run(&scan_cfg, &a.scan.source).await?;
        print!("{}", report.render());
        return Ok(ExitCode::SUCCESS);
    }
    let listen = match &a.listen {
        Some(s) => crate::schedule::parse_listen(s)?,
        None => None,
    };
    let stop = stop_on_signals();
    let started = Instant::now();
    let scanned = tokio::select! {
        // Dropping the scan leaves at worst a unit without its scanned
        // marker, which the next run scans again.
        _ = stop.cancelled() => {
            println!("run: INTERRUPTED during the scan; run again to resume");
            return Ok(ExitCode::from(INTERRUPTED));
        }
        r = scanner::scan(&scan_cfg, &a.scan.source) => r?,
    };
    crate::report::print_scan(&scanned);

    // Cortex plans need the chunk store of the same config.
    let cortex = CortexArgs {
        concurrency: a.scan.cortex_scan.concurrency,
        store: a.chunk_store.clone(),
    }
    .source(Some(&a.scan.source))?;
    // Cancelled by a signal, by a builder's error, or once the campaign is
    // done: it stops the builders and the scheduler's loop alike.
    let halt = stop.child_token();
    // Builders out of plans wake the scheduler (`Scheduler::wake_on`).
    let idle = Arc::new(tokio::sync::Notify::new());
    let mut cfg = builder_config(
        &buckets,
        &a.scan.bucket.prefix,
        &a.scan.work,
        &a.scan.tenants,
        Some(default_builder_name()),
        a.poll_interval,
        a.heartbeat,
    );
    cfg.cortex = cortex;
    cfg.prometheus_roots = crate::cli::prometheus_roots(Some(&a.scan.source));
    cfg.pause_after_claim = a.pause_after_claim;
    cfg.relist_interval = a.relist_interval;
    // Before the end, a builder returns only after an error: the first one
    // halts the run.
    let builders = tokio::spawn({
        let (halt, idle, n) = (halt.clone(), idle.clone(), a.builders);
        async move {
            let r = builder::run_builders(&cfg, n, false, halt.clone(), Some(idle)).await;
            if r.1.is_some() {
                halt.cancel();
            }
            r
        }
    });

    let mut scheduler = Scheduler::new(SchedulerConfig {
        bucket: buckets.plans.clone(),
        prefix: a.scan.bucket.prefix.clone(),
        stale_after: a.stale_after,
        max_attempts: a.max_attempts.max(1),
        tenants: a.scan.tenants.filter(),
    });
    scheduler.wake_on(idle);
    let server = match listen {
        Some(addr) => Some(scheduler.serve(addr).await?),
        None => None,
    };
    let mut progress = Progress::new(a.progress, a.progress_interval);
    let watch = WatchOptions {
        scan_interval: a.scan_interval,
        exit_when_done: true,
    };
    let mut last = scheduler
        .watch(watch, halt.cancelled(), |r| progress.update(r))
        .await;
    halt.cancel();
    let (summary, failure) = builders.await.map_err(|e| anyhow!("builders' task: {e}"))?;
    let interrupted = stop.is_cancelled();
    // The bucket's view once every builder has let go of its plan.
    match scheduler.scan_once().await {
        Ok(report) => {
            progress.update(&report);
            last = Some(report);
        }
        Err(e) => warn!(error = %base::ErrorChain(&*e), "listing the bucket failed"),
    }
    progress.finish();
    drop(server);
    crate::report::print_run_summary(&summary, last.as_ref(), started.elapsed(), interrupted);
    if let Some(e) = failure {
        return Err(e);
    }
    if interrupted {
        return Ok(ExitCode::from(INTERRUPTED));
    }
    Ok(exit_code(last.is_some_and(|r| r.all_finished())))
}

/// A token cancelled at the first SIGINT or SIGTERM. A second one exits at
/// once with [`INTERRUPTED`], for when a clean stop takes too long.
pub(crate) fn stop_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (mut int, mut term) = match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(i), Ok(t)) => (i, t),
            (Err(e), _) | (_, Err(e)) => {
                warn!(error = %e, "cannot catch SIGINT/SIGTERM; they will kill the process");
                return token;
            }
        };
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            warn!(
                signal = name,
                "stopping: no new claims, plans in flight given up (again to exit at once)"
            );
            t.cancel();
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            eprintln!("blocksconvert: {name} again: exiting at once");
            std::process::exit(i32::from(INTERRUPTED));
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            warn!("stopping: no new claims, plans in flight given up (again to exit at once)");
            t.cancel();
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(i32::from(INTERRUPTED));
        }
    });
    token
}
