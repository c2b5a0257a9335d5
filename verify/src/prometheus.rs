//! Verifying a Prometheus source: every tenant and day the source blocks
//! cover, re-read from the sources and compared with the day's block.
//!
//! The expected side is computed without the builder's merge: each source
//! block's series (replica labels dropped, samples inside the day) go into
//! the external sort in preference order, come out grouped by series, and
//! the first sample of each timestamp is kept. Only discovery and block
//! fetching are shared with the scanner and builder.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use base::codec::{get_f64, get_uvarint, get_varint, put_f64, put_uvarint, put_varint};
use base::{Labels, DAY_MS};
use builder::{fetch_block, list_tenant_blocks, local_block, RemoteBlock};
use scanner::prometheus::{discover, group_by_day};
use sort::{ExternalSorter, SortRecord, Sorted};
use tsdb::BlockReader;

use crate::{Difference, VerifyConfig, VerifyReport};

pub(crate) async fn verify_prometheus(
    cfg: &VerifyConfig,
    sources: &[String],
) -> Result<VerifyReport> {
    std::fs::create_dir_all(&cfg.work_dir)
        .with_context(|| format!("creating work dir {}", cfg.work_dir.display()))?;
    let work = tempfile::Builder::new()
        .prefix("verify-")
        .tempdir_in(&cfg.work_dir)
        .with_context(|| format!("creating a dir in {}", cfg.work_dir.display()))?;
    let found = discover(sources).await?;
    let groups = group_by_day(
        &found.blocks,
        &cfg.prometheus,
        cfg.tenant.as_deref(),
        cfg.days,
    )?;

    let mut report = VerifyReport::default();
    let tenants: BTreeSet<String> = groups.keys().map(|(t, _)| t.clone()).collect();
    let mut actual: BTreeMap<(String, i32), Vec<RemoteBlock>> = BTreeMap::new();
    for t in &tenants {
        for b in list_tenant_blocks(&cfg.bucket, t).await? {
            let day = b.meta.min_time.div_euclid(DAY_MS) as i32;
            if cfg.days.contains(day) {
                actual.entry((t.clone(), day)).or_default().push(b);
            }
        }
    }
    // Source blocks fetched once, even when they span several days.
    let mut fetched: BTreeMap<String, std::path::PathBuf> = BTreeMap::new();
    for (n, ((tenant, day), blocks)) in groups.into_iter().enumerate() {
        report.days += 1;
        let mut inputs = Vec::with_capacity(blocks.len());
        for (i, b) in blocks.iter().enumerate() {
            let dir = match fetched.get(&b.url) {
                Some(d) => d.clone(),
                None => {
                    let dest = work.path().join(format!("src-{n}-{i}"));
                    let d = fetch_block(&b.url, &dest)
                        .await
                        .with_context(|| format!("source block {}", b.url))?;
                    fetched.insert(b.url.clone(), d.clone());
                    d
                }
            };
            inputs.push((b.url.clone(), dir));
        }
        let Some(mut found_blocks) = actual.remove(&(tenant.clone(), day)) else {
            // A day whose source blocks hold no sample inside it has no block.
            let expected = expected_day(
                &inputs,
                &cfg.prometheus.drop_labels,
                day,
                work.path(),
                cfg.memory_budget,
            )?;
            if expected.is_some() {
                report.differ(Difference::MissingBlock { tenant, day }, cfg.max_reported);
            }
            continue;
        };
        if found_blocks.len() > 1 {
            report.differ(
                Difference::DuplicateBlocks {
                    tenant: tenant.clone(),
                    day,
                    blocks: found_blocks
                        .iter()
                        .map(|b| b.meta.ulid.to_string())
                        .collect(),
                },
                cfg.max_reported,
            );
        }
        let block = found_blocks.swap_remove(0).meta.ulid.to_string();
        let dir = local_block(&cfg.bucket, &tenant, &block, work.path()).await?;
        let (drop, budget, max, scratch) = (
            cfg.prometheus.drop_labels.clone(),
            cfg.memory_budget,
            cfg.max_reported,
            work.path().to_path_buf(),
        );
        let day_report = tokio::task::spawn_blocking(move || -> Result<VerifyReport> {
            let mut r = VerifyReport::default();
            let expected = expected_day(&inputs, &drop, day, &scratch, budget)?;
            let block =
                BlockReader::open(&dir).with_context(|| format!("block {}", dir.display()))?;
            match expected {
                Some(expected) => compare_day(expected, &block, &tenant, day, max, &mut r)?,
                // Nothing of the sources falls inside this day: every
                // series of the block is one too many.
                None => compare_day(std::iter::empty(), &block, &tenant, day, max, &mut r)?,
            }
            Ok(r)
        })
        .await??;
        report.series += day_report.series;
        report.samples += day_report.samples;
        report.differences += day_report.differences;
        let room = cfg.max_reported.saturating_sub(report.reported.len());
        report
            .reported
            .extend(day_report.reported.into_iter().take(room));
    }
    for ((tenant, day), blocks) in actual {
        for b in blocks {
            report.differ(
                Difference::ExtraBlock {
                    tenant: tenant.clone(),
                    day,
                    block: b.meta.ulid.to_string(),
                },
                cfg.max_reported,
            );
        }
    }
    Ok(report)
}

/// The expected series of one day in label order, each deduplicated
/// (first source's sample kept), read from the sort one at a time.
struct ExpectedSeries {
    sorted: std::iter::Peekable<Sorted<Expected>>,
}

impl Iterator for ExpectedSeries {
    type Item = Result<(Labels, Vec<(i64, f64)>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let first = match self.sorted.next()? {
            Ok(r) => r,
            Err(e) => return Some(Err(e.into())),
        };
        let (labels, mut samples) = (first.labels, first.samples);
        while let Some(Ok(r)) = self.sorted.peek() {
            if r.labels != labels {
                break;
            }
            if let Some(Ok(r)) = self.sorted.next() {
                samples.extend(r.samples);
            }
        }
        // Stable: of equal timestamps the preferred source's comes first.
        samples.sort_by_key(|&(t, _)| t);
        samples.dedup_by_key(|x| x.0);
        Some(Ok((labels, samples)))
    }
}

/// The expected series of one day; `None` when the sources hold no sample
/// inside the day.
fn expected_day(
    inputs: &[(String, std::path::PathBuf)],
    drop: &[String],
    day: i32,
    work: &std::path::Path,
    budget: usize,
) -> Result<Option<ExpectedSeries>> {
    let (start, end) = (i64::from(day) * DAY_MS, (i64::from(day) + 1) * DAY_MS);
    let mut sorter: ExternalSorter<Expected> = ExternalSorter::new(work, budget.max(1 << 20))
        .with_context(|| format!("sort runs in {}", work.display()))?;
    for (prio, (url, dir)) in inputs.iter().enumerate() {
        let ctx = || format!("source block {url}");
        let block = BlockReader::open(dir).with_context(ctx)?;
        for item in block.series() {
            let (labels, chunks) = item.with_context(ctx)?;
            let mut samples = Vec::new();
            for c in &chunks {
                samples.extend(block.chunk_samples(c).with_context(ctx)?);
            }
            samples.retain(|&(t, _)| t >= start && t < end);
            if !samples.is_empty() {
                sorter
                    .push(Expected {
                        labels: labels.without(drop),
                        prio: prio as u32,
                        samples,
                    })
                    .with_context(ctx)?;
            }
        }
    }
    if sorter.is_empty() {
        return Ok(None);
    }
    Ok(Some(ExpectedSeries {
        sorted: sorter.finish()?.peekable(),
    }))
}

fn compare_day(
    mut expected: impl Iterator<Item = Result<(Labels, Vec<(i64, f64)>)>>,
    block: &BlockReader,
    tenant: &str,
    day: i32,
    max: usize,
    report: &mut VerifyReport,
) -> Result<()> {
    crate::join_with_block(
        || expected.next().transpose(),
        block,
        tenant,
        day,
        max,
        report,
    )
}

/// One source series of one day; ordered by labels, then source preference.
struct Expected {
    labels: Labels,
    prio: u32,
    samples: Vec<(i64, f64)>,
}

impl PartialEq for Expected {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Expected {}
impl PartialOrd for Expected {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Expected {
    fn cmp(&self, other: &Self) -> Ordering {
        self.labels
            .cmp(&other.labels)
            .then(self.prio.cmp(&other.prio))
    }
}

impl SortRecord for Expected {
    fn encode(&self, out: &mut Vec<u8>) {
        self.labels.encode(out);
        put_uvarint(out, u64::from(self.prio));
        put_uvarint(out, self.samples.len() as u64);
        let mut prev = 0i64;
        for &(t, v) in &self.samples {
            put_varint(out, t.wrapping_sub(prev));
            put_f64(out, v);
            prev = t;
        }
    }

    fn decode(buf: &mut &[u8]) -> std::io::Result<Self> {
        let labels = Labels::decode(buf)?;
        let prio = u32::try_from(get_uvarint(buf)?).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "source index out of range")
        })?;
        let n = get_uvarint(buf)? as usize;
        let mut samples = Vec::with_capacity(n.min(1 << 20));
        let mut prev = 0i64;
        for _ in 0..n {
            prev = prev.wrapping_add(get_varint(buf)?);
            samples.push((prev, get_f64(buf)?));
        }
        Ok(Expected {
            labels,
            prio,
            samples,
        })
    }

    fn mem_size(&self) -> usize {
        std::mem::size_of::<Self>() + self.labels.heap_size() + self.samples.capacity() * 16
    }
}
