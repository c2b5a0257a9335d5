//! Verification: re-read a source and compare it, sample for sample, with
//! the blocks in the bucket.
//!
//! It answers the question an SRE asks at the end of a campaign: does the
//! bucket hold exactly what the source held, deduplicated and cut into UTC
//! days? The expected side is derived from the source independently of the
//! plans (only the source-reading code is shared with the scanner); the
//! actual side is read with our block reader, which checks every CRC.
//!
//! It does not repair anything and writes nothing to the bucket.

mod cortex;
mod prometheus;

pub use cortex::CortexVerify;

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use builder::blocks::{list_tenant_blocks, local_block, RemoteBlock};
use protocol::bucket::Bucket;
use protocol::names::day_to_date;
use protocol::source::SourceSpec;
use protocol::staged::{StagedReader, StagedSeries};
use scanner::openmetrics::{stage_file, DayRange};
use tsdb::BlockReader;

#[derive(Clone, Debug)]
pub struct VerifyConfig {
    /// Where the blocks are.
    pub bucket: Bucket,
    pub tenant: Option<String>,
    pub work_dir: PathBuf,
    pub memory_budget: usize,
    pub days: DayRange,
    /// Differences kept for the report; all are counted.
    pub max_reported: usize,
    /// The chunk store and plan prefix, for `--source cortex:...`.
    pub cortex: Option<CortexVerify>,
    /// Tenant label and replica labels, for `--source prometheus:...`.
    pub prometheus: scanner::prometheus::PrometheusOptions,
}

/// One way the blocks differ from the source.
#[derive(Clone, Debug, PartialEq)]
pub enum Difference {
    MissingBlock {
        tenant: String,
        day: i32,
    },
    ExtraBlock {
        tenant: String,
        day: i32,
        block: String,
    },
    DuplicateBlocks {
        tenant: String,
        day: i32,
        blocks: Vec<String>,
    },
    MissingSeries {
        tenant: String,
        day: i32,
        series: String,
    },
    ExtraSeries {
        tenant: String,
        day: i32,
        series: String,
    },
    Sample {
        tenant: String,
        day: i32,
        series: String,
        t: i64,
        expected: Option<f64>,
        actual: Option<f64>,
    },
}

fn value(v: Option<f64>) -> String {
    match v {
        None => "nothing".into(),
        Some(v) => format!("{v} (bits {:#018x})", v.to_bits()),
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::MissingBlock { tenant, day } => {
                write!(
                    f,
                    "{tenant} {}: no block, but the source has samples",
                    day_to_date(*day)
                )
            }
            Difference::ExtraBlock { tenant, day, block } => write!(
                f,
                "{tenant} {}: block {block} has no counterpart in the source",
                day_to_date(*day)
            ),
            Difference::DuplicateBlocks {
                tenant,
                day,
                blocks,
            } => write!(
                f,
                "{tenant} {}: {} blocks for one day: {}",
                day_to_date(*day),
                blocks.len(),
                blocks.join(", ")
            ),
            Difference::MissingSeries {
                tenant,
                day,
                series,
            } => {
                write!(
                    f,
                    "{tenant} {}: series {series} is missing",
                    day_to_date(*day)
                )
            }
            Difference::ExtraSeries {
                tenant,
                day,
                series,
            } => {
                write!(
                    f,
                    "{tenant} {}: series {series} is not in the source",
                    day_to_date(*day)
                )
            }
            Difference::Sample {
                tenant,
                day,
                series,
                t,
                expected,
                actual,
            } => write!(
                f,
                "{tenant} {}: {series} at {t}: expected {}, block has {}",
                day_to_date(*day),
                value(*expected),
                value(*actual)
            ),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    pub days: u64,
    pub series: u64,
    pub samples: u64,
    pub differences: u64,
    pub reported: Vec<Difference>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.differences == 0
    }

    fn differ(&mut self, d: Difference, max: usize) {
        self.differences += 1;
        if self.reported.len() < max {
            self.reported.push(d);
        }
    }
}

pub async fn verify(cfg: &VerifyConfig, source: &SourceSpec) -> Result<VerifyReport> {
    match source {
        SourceSpec::OpenMetrics(path) => verify_openmetrics(cfg, path).await,
        SourceSpec::Cortex(_) => match &cfg.cortex {
            Some(cv) => cortex::verify_cortex(cfg, cv).await,
            None => bail!("verifying a cortex source needs its chunk store configuration"),
        },
        SourceSpec::Prometheus(sources) => prometheus::verify_prometheus(cfg, sources).await,
    }
}

async fn verify_openmetrics(cfg: &VerifyConfig, path: &Path) -> Result<VerifyReport> {
    let Some(tenant) = cfg.tenant.clone() else {
        bail!("an openmetrics source needs --tenant");
    };
    std::fs::create_dir_all(&cfg.work_dir)
        .with_context(|| format!("creating work dir {}", cfg.work_dir.display()))?;
    let work = tempfile::Builder::new()
        .prefix("verify-")
        .tempdir_in(&cfg.work_dir)
        .with_context(|| format!("creating a dir in {}", cfg.work_dir.display()))?;
    let (input, out, budget, days) = (
        path.to_path_buf(),
        work.path().to_path_buf(),
        cfg.memory_budget,
        cfg.days,
    );
    let expected =
        tokio::task::spawn_blocking(move || stage_file(&input, &out, budget, days)).await??;

    let mut report = VerifyReport::default();
    let mut blocks_by_day: BTreeMap<i32, Vec<RemoteBlock>> = BTreeMap::new();
    for b in list_tenant_blocks(&cfg.bucket, &tenant).await? {
        let day = b.meta.min_time.div_euclid(base::DAY_MS) as i32;
        if cfg.days.contains(day) {
            blocks_by_day.entry(day).or_default().push(b);
        }
    }
    for staged in &expected.days {
        report.days += 1;
        let Some(blocks) = blocks_by_day.remove(&staged.day) else {
            report.differ(
                Difference::MissingBlock {
                    tenant: tenant.clone(),
                    day: staged.day,
                },
                cfg.max_reported,
            );
            continue;
        };
        if blocks.len() > 1 {
            report.differ(
                Difference::DuplicateBlocks {
                    tenant: tenant.clone(),
                    day: staged.day,
                    blocks: blocks.iter().map(|b| b.meta.ulid.to_string()).collect(),
                },
                cfg.max_reported,
            );
        }
        let block = blocks[0].meta.ulid.to_string();
        let dir = local_block(&cfg.bucket, &tenant, &block, work.path()).await?;
        let (file, t, day, max) = (
            staged.file.clone(),
            tenant.clone(),
            staged.day,
            cfg.max_reported,
        );
        let day_report =
            tokio::task::spawn_blocking(move || compare_day(&file, &dir, &t, day, max)).await??;
        report.series += day_report.series;
        report.samples += day_report.samples;
        report.differences += day_report.differences;
        let room = cfg.max_reported.saturating_sub(report.reported.len());
        report
            .reported
            .extend(day_report.reported.into_iter().take(room));
    }
    for (day, blocks) in blocks_by_day {
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

/// Merge-joins the expected series of one day (staged, with duplicates in
/// source order) with the block's series, both in label order.
fn compare_day(
    staged: &Path,
    block_dir: &Path,
    tenant: &str,
    day: i32,
    max: usize,
) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let f = File::open(staged).with_context(|| format!("opening {}", staged.display()))?;
    let mut expected = StagedReader::new(BufReader::new(f))?;
    let block =
        BlockReader::open(block_dir).with_context(|| format!("block {}", block_dir.display()))?;
    join_with_block(
        || Ok(expected.next_series()?.map(|(l, s)| (l, dedup_first(s)))),
        &block,
        tenant,
        day,
        max,
        &mut report,
    )?;
    Ok(report)
}

/// Merge-joins the expected series of one day (in label order, samples
/// deduplicated as the block must hold them) with the block's series,
/// counting and reporting every difference. Every source's verifier ends
/// here; only how the expected side is derived differs.
pub(crate) fn join_with_block(
    mut next_expected: impl FnMut() -> Result<Option<StagedSeries>>,
    block: &BlockReader,
    tenant: &str,
    day: i32,
    max: usize,
    report: &mut VerifyReport,
) -> Result<()> {
    use std::cmp::Ordering;
    let mut actual = block.series();
    let mut e = next_expected()?;
    let mut a = actual.next().transpose()?;
    loop {
        let order = match (&e, &a) {
            (None, None) => return Ok(()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((el, _)), Some((al, _))) => el.cmp(al),
        };
        match order {
            Ordering::Equal => {
                if let (Some((labels, es)), Some((_, chunks))) = (&e, &a) {
                    let mut acts = Vec::new();
                    for c in chunks {
                        acts.extend(block.chunk_samples(c)?);
                    }
                    report.series += 1;
                    report.samples += es.len() as u64;
                    compare_samples(report, tenant, day, &labels.to_string(), es, &acts, max);
                }
                e = next_expected()?;
                a = actual.next().transpose()?;
            }
            Ordering::Less => {
                if let Some((labels, _)) = &e {
                    let series = labels.to_string();
                    report.differ(
                        Difference::MissingSeries {
                            tenant: tenant.into(),
                            day,
                            series,
                        },
                        max,
                    );
                }
                e = next_expected()?;
            }
            Ordering::Greater => {
                if let Some((labels, _)) = &a {
                    let series = labels.to_string();
                    report.differ(
                        Difference::ExtraSeries {
                            tenant: tenant.into(),
                            day,
                            series,
                        },
                        max,
                    );
                }
                a = actual.next().transpose()?;
            }
        }
    }
}

/// Of samples with equal timestamps, the first is the one the block keeps.
fn dedup_first(mut s: Vec<(i64, f64)>) -> Vec<(i64, f64)> {
    s.dedup_by_key(|x| x.0);
    s
}

fn compare_samples(
    report: &mut VerifyReport,
    tenant: &str,
    day: i32,
    series: &str,
    expected: &[(i64, f64)],
    actual: &[(i64, f64)],
    max: usize,
) {
    let (mut i, mut j) = (0, 0);
    while i < expected.len() || j < actual.len() {
        let e = expected.get(i);
        let a = actual.get(j);
        let (t, ev, av) = match (e, a) {
            (Some(&(et, ev)), Some(&(at, av))) if et == at => {
                i += 1;
                j += 1;
                if ev.to_bits() == av.to_bits() {
                    continue;
                }
                (et, Some(ev), Some(av))
            }
            (Some(&(et, ev)), Some(&(at, _))) if et < at => {
                i += 1;
                (et, Some(ev), None)
            }
            (Some(&(et, ev)), None) => {
                i += 1;
                (et, Some(ev), None)
            }
            (_, Some(&(at, av))) => {
                j += 1;
                (at, None, Some(av))
            }
            (None, None) => break,
        };
        report.differ(
            Difference::Sample {
                tenant: tenant.into(),
                day,
                series: series.into(),
                t,
                expected: ev,
                actual: av,
            },
            max,
        );
    }
}
