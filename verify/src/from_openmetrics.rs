//! The reference for an OpenMetrics file: its samples by day and series,
//! in file order, through the external sort.
//!
//! Runs of consecutive samples of one series text and day become one sort
//! record numbered in file order, so the sort's order (day, labels, record
//! number) is the file order inside each series of each day, whatever the
//! sort does with equal keys. Memory is the sort's budget.

use std::cmp::Ordering;
use std::fs::File;
use std::io::BufReader;
use std::iter::Peekable;
use std::path::Path;

use anyhow::{bail, Context, Result};
use base::codec::{get_uvarint, get_varint, put_uvarint, put_varint};
use base::{Labels, DAY_MS};
use openmetrics::OpenMetricsParser;
use sort::{ExternalSorter, SortRecord, Sorted};
use tsdb::BlockReader;

use crate::blocks::{blocks_by_day, local_copy};
use crate::compare::{
    decode_samples, encode_samples, invalid, join_with_block, reference_samples, Series,
};
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
        if day_blocks.len() > 1 {
            let d = Difference::DuplicateBlocks {
                tenant: tenant.clone(),
                day,
                blocks: day_blocks.clone(),
            };
            report.differ(d, max);
        }
        let dir = local_copy(&cfg.bucket, &tenant, &day_blocks[0], work.path()).await?;
        let t = tenant.clone();
        let (back, day_report) = tokio::task::spawn_blocking(move || -> Result<_> {
            let mut r = VerifyReport::default();
            let block =
                BlockReader::open(&dir).with_context(|| format!("block {}", dir.display()))?;
            join_with_block(|| expected.next_series(day), &block, &t, day, max, &mut r)?;
            Ok((expected, r))
        })
        .await??;
        expected = back;
        report.absorb(day_report, max);
    }
    for (day, extra) in blocks {
        for block in extra {
            let d = Difference::ExtraBlock {
                tenant: tenant.clone(),
                day,
                block,
            };
            report.differ(d, max);
        }
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
            .is_some_and(|(t, r)| t == text && r.day == day && r.samples.len() < RUN_MAX);
        if !same {
            let labels = sample.series.labels().with_context(ctx)?;
            let text = text.to_string();
            if let Some((_, run)) = current.replace((
                text,
                Run {
                    day,
                    labels,
                    seq,
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
            Some(Ok(r)) => Ok(Some(r.day)),
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
        let Some(first) = self.sorted.next().transpose()? else {
            return Ok(None);
        };
        let (labels, mut samples) = (first.labels, first.samples);
        while let Some(Ok(next)) = self.sorted.peek() {
            if next.day != day || next.labels != labels {
                break;
            }
            if let Some(next) = self.sorted.next().transpose()? {
                samples.extend(next.samples);
            }
        }
        let start = i64::from(day) * DAY_MS;
        let samples = reference_samples(samples, start, start + DAY_MS);
        Ok(Some((labels, samples)))
    }
}

/// Consecutive samples of one series and day in the file; `seq` numbers
/// runs in file order.
struct Run {
    day: i32,
    labels: Labels,
    seq: u64,
    samples: Vec<(i64, f64)>,
}

impl Run {
    fn key(&self) -> (i32, &Labels, u64) {
        (self.day, &self.labels, self.seq)
    }
}

impl PartialEq for Run {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Run {}
impl PartialOrd for Run {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Run {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl SortRecord for Run {
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, i64::from(self.day));
        self.labels.encode(out);
        put_uvarint(out, self.seq);
        encode_samples(&self.samples, out);
    }

    fn decode(buf: &mut &[u8]) -> std::io::Result<Self> {
        let day = i32::try_from(get_varint(buf)?).map_err(|_| invalid("day out of range"))?;
        let labels = Labels::decode(buf)?;
        let seq = get_uvarint(buf)?;
        let samples = decode_samples(buf)?;
        Ok(Run {
            day,
            labels,
            seq,
            samples,
        })
    }

    fn mem_size(&self) -> usize {
        std::mem::size_of::<Self>() + self.labels.heap_size() + self.samples.capacity() * 16
    }
}
