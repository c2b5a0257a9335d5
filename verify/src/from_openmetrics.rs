//! The reference for an OpenMetrics file: its samples by day and series,
//! in file order, through the external sort.
//!
//! Runs of consecutive samples of one series text and day become one sort
//! record numbered in file order, so the sort's order (day, labels, record
//! number) is the file order inside each series of each day, whatever the
//! sort does with equal keys. Memory is the sort's budget.

use std::fs::File;
use std::io::BufReader;
use std::iter::Peekable;
use std::path::Path;

use anyhow::{bail, Context, Result};
use base::DAY_MS;
use openmetrics::OpenMetricsParser;
use sort::{ExternalSorter, Sorted};

use crate::blocks::{blocks_by_day, day_block, extra_blocks};
use crate::compare::{compare_day, next_series, Part, Series};
use crate::report::{Difference, VerifyReport};
use crate::{DayRange, VerifyConfig};

/// Samples a record holds at most, so one long run does not make one
/// huge record.
const RUN_MAX: usize = 4096;

pub(crate) async fn verify_openmetrics(cfg: &VerifyConfig, path: &Path) -> Result<VerifyReport> {
    let Some(tenant) = cfg.tenant.clone() else {
        bail!("an openmetrics source needs --tenant");
    };
    let work = crate::scratch_dir(cfg)?;
    let (input, scratch, budget, days) = (
        path.to_path_buf(),
        work.path().to_path_buf(),
        cfg.memory_budget,
        cfg.days,
    );
    let sorted =
        tokio::task::spawn_blocking(move || sort_file(&input, &scratch, budget, days)).await??;
    let mut expected = ByDay {
        sorted: sorted.peekable(),
    };
    let mut blocks = blocks_by_day(&cfg.bucket, &tenant, cfg.days).await?;
    let mut report = VerifyReport::default();
    let max = cfg.max_reported;
    while let Some(day) = expected.peek_day()? {
        report.days += 1;
        let Some(day_blocks) = blocks.remove(&day) else {
            let d = Difference::MissingBlock {
                tenant: tenant.clone(),
                day,
            };
            report.differ(d, max);
            while expected.next_series(day)?.is_some() {}
            continue;
        };
        let dir = day_block(cfg, &tenant, day, day_blocks, work.path(), &mut report).await?;
        let (back, day_report) =
            compare_day(dir, expected, ByDay::next_series, tenant.clone(), day, max).await?;
        expected = back;
        report.absorb(day_report, max);
    }
    for (day, extra) in blocks {
        extra_blocks(&mut report, &tenant, day, extra, max);
    }
    Ok(report)
}

/// Every sample of the file inside `days`, sorted by (day, labels, file order).
fn sort_file(input: &Path, scratch: &Path, budget: usize, days: DayRange) -> Result<Sorted<Run>> {
    let ctx = || format!("reading {}", input.display());
    let file = File::open(input).with_context(|| format!("opening {}", input.display()))?;
    let mut parser = OpenMetricsParser::new(BufReader::with_capacity(1 << 20, file));
    let mut sorter = ExternalSorter::<Run>::new(scratch, budget.max(1 << 20))
        .with_context(|| format!("sort runs in {}", scratch.display()))?;
    // The run being collected and the series text it belongs to.
    let mut current: Option<(String, Run)> = None;
    let mut seq = 0u64;
    while let Some(sample) = parser.next_sample().with_context(ctx)? {
        let Ok(day) = i32::try_from(sample.timestamp_ms.div_euclid(DAY_MS)) else {
            continue;
        };
        if !days.contains(day) {
            continue;
        }
        let text = sample.series.text();
        let same = current
            .as_ref()
            .is_some_and(|(t, r)| t == text && r.group == day && r.samples.len() < RUN_MAX);
        if !same {
            let labels = sample.series.labels().with_context(ctx)?;
            let text = text.to_string();
            if let Some((_, run)) = current.replace((
                text,
                Run {
                    group: day,
                    labels,
                    rank: seq,
                    samples: Vec::new(),
                },
            )) {
                sorter.push(run)?;
            }
            seq += 1;
        }
        if let Some((_, run)) = current.as_mut() {
            run.samples.push((sample.timestamp_ms, sample.value));
        }
    }
    if let Some((_, run)) = current {
        sorter.push(run)?;
    }
    Ok(sorter.finish()?)
}

/// The sorted runs, read one day and one series at a time.
struct ByDay {
    sorted: Peekable<Sorted<Run>>,
}

impl ByDay {
    /// The day of the next run, if any.
    fn peek_day(&mut self) -> Result<Option<i32>> {
        match self.sorted.peek() {
            None => Ok(None),
            Some(Ok(r)) => Ok(Some(r.group)),
            Some(Err(_)) => match self.sorted.next() {
                Some(Err(e)) => Err(e).context("reading sorted samples back"),
                _ => Ok(None),
            },
        }
    }

    /// The next series of `day` in label order; `None` when the day is done.
    fn next_series(&mut self, day: i32) -> Result<Option<Series>> {
        if self.peek_day()? != Some(day) {
            return Ok(None);
        }
        next_series(&mut self.sorted, day)
    }
}

/// Consecutive samples of one series in the file, grouped by their day
/// and ranked by a run number in file order.
type Run = Part<i32, u64>;
