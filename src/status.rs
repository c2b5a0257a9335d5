//! `blocksconvert status`: the campaign's state in a terminal, or as JSON.
//!
//! The same report as the scheduler's `/status` page, computed from one
//! listing (and the first failed files' reasons), changing nothing in the
//! bucket. The sums over finished files (series, samples, bytes) cost one
//! GET per finished file, a million for a campaign of a million plans, so
//! they are read only with `--exact`; the scheduler, which reads each
//! finished file once per process, shows them at `/status`. Every report
//! starts with the time of its listing.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;

use crate::cli::{parse_duration, BucketArgs, TenantArgs};

#[derive(Args, Debug, Clone)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub bucket: BucketArgs,
    #[command(flatten)]
    pub tenants: TenantArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also read every finished file for the sums of series, samples and bytes (one request
    /// per finished plan; without it, the report comes from the listing alone).
    #[arg(long)]
    pub exact: bool,
    /// A progress file not rewritten for this long counts as stale.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub stale_after: Duration,
}

pub(crate) async fn status(a: StatusArgs) -> Result<ExitCode> {
    let bucket = a.bucket.open()?;
    let report = scheduler::collect_status(
        &bucket,
        &a.bucket.prefix,
        a.stale_after,
        &a.tenants.filter(),
        a.exact,
    )
    .await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    if std::io::stdout().is_terminal() && report.plans > 0 {
        println!("{}", progress_bar(report.states.finished, report.plans, 40));
    }
    print!("{}", report.render_text());
    Ok(ExitCode::SUCCESS)
}

/// `[#########...............]  37% (370/1000 finished)`
fn progress_bar(done: u64, total: u64, width: usize) -> String {
    let frac = if total == 0 {
        1.0
    } else {
        done as f64 / total as f64
    };
    let filled = ((frac * width as f64).round() as usize).min(width);
    format!(
        "[{}{}] {:>3.0}% ({done}/{total} finished)",
        "#".repeat(filled),
        ".".repeat(width - filled),
        frac * 100.0
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn bar() {
        assert_eq!(
            super::progress_bar(1, 4, 8),
            "[##......]  25% (1/4 finished)"
        );
        assert_eq!(super::progress_bar(0, 0, 2), "[##] 100% (0/0 finished)");
    }
}
