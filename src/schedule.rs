//! `blocksconvert schedule`: the scheduler's command line.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use crate::cli::{exit_code, parse_duration, BucketArgs, TenantArgs};

#[derive(Args, Debug, Clone)]
pub(crate) struct ScheduleArgs {
    #[command(flatten)]
    pub bucket: BucketArgs,
    #[command(flatten)]
    pub tenants: TenantArgs,
    /// Address for /status and /metrics (port 0 picks a free one; `none` serves nothing).
    #[arg(long, default_value = scheduler::DEFAULT_LISTEN)]
    pub listen: String,
    /// How often the bucket is listed.
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    pub scan_interval: Duration,
    /// A progress file not rewritten for this long is stale: its plan is retried or failed.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub stale_after: Duration,
    /// Attempts a plan gets; a plan gone stale on its last attempt is failed.
    #[arg(long, default_value_t = 3)]
    pub max_attempts: u32,
    /// Exit once the scan is complete and no plan waits: 0 if all finished, 1 otherwise.
    #[arg(long)]
    pub exit_when_done: bool,
}

/// `--listen`: an address, or `none` (or empty) for no HTTP endpoints.
pub(crate) fn parse_listen(s: &str) -> Result<Option<SocketAddr>> {
    match s {
        "none" | "" => Ok(None),
        s => Ok(Some(s.parse::<SocketAddr>().with_context(|| {
            format!("--listen {s:?} is not an address like 127.0.0.1:9120")
        })?)),
    }
}

/// Watches until done (with `--exit-when-done`) or for ever, then prints
/// the last report.
pub(crate) async fn schedule(a: ScheduleArgs) -> Result<ExitCode> {
    let listen = parse_listen(&a.listen)?;
    let cfg = scheduler::SchedulerConfig {
        bucket: a.bucket.open()?,
        prefix: a.bucket.prefix.clone(),
        stale_after: a.stale_after,
        max_attempts: a.max_attempts.max(1),
        tenants: a.tenants.filter(),
    };
    let watch = scheduler::WatchOptions {
        scan_interval: a.scan_interval,
        exit_when_done: a.exit_when_done,
    };
    let report = scheduler::run_scheduler(cfg, watch, listen).await?;
    print!("{}", report.render_text());
    Ok(exit_code(report.all_finished()))
}
