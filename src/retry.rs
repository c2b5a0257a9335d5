//! `blocksconvert retry`: make failed plans run again.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use protocol::names::{date_to_day, PlanId};
use scheduler::RetrySelection;

use crate::cli::{parse_duration, BucketArgs};

#[derive(Args, Debug, Clone)]
pub(crate) struct RetryArgs {
    #[command(flatten)]
    pub bucket: BucketArgs,
    /// Only this tenant's plans.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only this UTC day's plans (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    pub day: Option<i32>,
    /// Progress files of the selected plans older than this are deleted too.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub stale_after: Duration,
}

fn parse_date(s: &str) -> Result<i32, String> {
    date_to_day(s).ok_or_else(|| format!("{s:?} is not a date like 2026-11-16"))
}

pub(crate) async fn retry(a: RetryArgs) -> Result<ExitCode> {
    if let Some(t) = &a.tenant {
        protocol::tenant::validate_tenant(t)?;
    }
    let bucket = a.bucket.open()?;
    let sel = RetrySelection {
        tenant: a.tenant.clone(),
        day: a.day,
    };
    let stale_after = chrono_duration(a.stale_after);
    let r = scheduler::retry(&bucket, &a.bucket.prefix, &sel, stale_after).await?;
    let list = |v: &[PlanId]| {
        v.iter()
            .map(|id| id.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "retry: {} failed plans will run again: {}",
        r.retried.len(),
        list(&r.retried)
    );
    if !r.unstuck.is_empty() {
        println!(
            "retry: stale progress removed from {} plans: {}",
            r.unstuck.len(),
            list(&r.unstuck)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
