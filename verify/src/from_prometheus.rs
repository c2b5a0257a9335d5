//! The reference for Prometheus sources: blocks found, grouped by tenant
//! and day, and their series merged, all without the scanner or builder.
//!
//! Discovery follows the rules the scanner documents (see the crate docs),
//! written again here so that a block the scanner wrongly skips or keeps
//! shows up as a missing or extra block. Per tenant-day, every series of
//! every block that touches the day goes into the external sort as one
//! record keyed by (labels without the dropped ones, block preference,
//! series position in the block); each group of equal labels is merged by
//! the reference rule. Memory is the sort's budget.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base::DAY_MS;
use protocol::bucket::Bucket;
use protocol::tenant::validate_tenant;
use sort::{ExternalSorter, Sorted};
use tracing::warn;
use tsdb::{BlockMeta, BlockReader, META_FILENAME};
use ulid::Ulid;

use crate::blocks::{blocks_by_day, day_block, download_dir, extra_blocks};
use crate::compare::{compare_day, next_series, Part};
use crate::report::{Difference, VerifyReport};
use crate::{DayRange, VerifyConfig};

/// Thanos' marker of a block its compactor is about to delete.
const DELETION_MARK: &str = "deletion-mark.json";

/// How a Prometheus source maps to tenants and series, as given to the scan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrometheusOptions {
    /// Take the tenant from this Thanos external label of each block
    /// (falling back to [`crate::VerifyConfig::tenant`] for blocks without it).
    pub tenant_label: Option<String>,
    /// Labels removed from every series before replicas are merged.
    pub drop_labels: Vec<String>,
}

/// Where a source block is.
#[derive(Clone, Debug)]
enum Location {
    Local(PathBuf),
    /// A block directory `name` at the root of a bucket.
    Remote {
        bucket: Bucket,
        name: String,
    },
}

/// One block of a source.
#[derive(Clone, Debug)]
struct SourceBlock {
    /// For messages: a path or bucket URL.
    url: String,
    location: Location,
    meta: BlockMeta,
}

pub(crate) async fn verify_prometheus(
    cfg: &VerifyConfig,
    sources: &[String],
) -> Result<VerifyReport> {
    let work = crate::scratch_dir(cfg)?;
    let found = discover(sources).await?;
    let mut groups = group(&found, &cfg.prometheus, cfg.tenant.as_deref(), cfg.days)?;
    groups.retain(|(t, _), _| cfg.tenants.allows(t));
    let max = cfg.max_reported;

    let mut report = VerifyReport::default();
    let mut actual: BTreeMap<(String, i32), Vec<String>> = BTreeMap::new();
    let tenants: std::collections::BTreeSet<&String> = groups.keys().map(|(t, _)| t).collect();
    for t in tenants {
        for (day, blocks) in blocks_by_day(&cfg.bucket, t, cfg.days).await? {
            actual.insert((t.clone(), day), blocks);
        }
    }
    // Source blocks fetched once, even when they span several days.
    let mut fetched: Vec<Option<PathBuf>> = vec![None; found.len()];
    for ((tenant, day), members) in groups {
        report.days += 1;
        let mut inputs = Vec::with_capacity(members.len());
        for &i in &members {
            let dir = match &fetched[i] {
                Some(d) => d.clone(),
                None => {
                    let d = fetch(&found[i], &work.path().join(format!("src-{i}"))).await?;
                    fetched[i] = Some(d.clone());
                    d
                }
            };
            inputs.push((found[i].url.clone(), dir));
        }
        let drop = cfg.prometheus.drop_labels.clone();
        let (scratch, budget) = (work.path().to_path_buf(), cfg.memory_budget);
        let expected = tokio::task::spawn_blocking(move || {
            expected_day(&inputs, &drop, day, &scratch, budget)
        })
        .await??;
        let Some(day_blocks) = actual.remove(&(tenant.clone(), day)) else {
            if expected.is_some() {
                report.differ(Difference::MissingBlock { tenant, day }, max);
            }
            continue;
        };
        let dir = day_block(cfg, &tenant, day, day_blocks, work.path(), &mut report).await?;
        // With no source sample in the day, every series of the block is
        // one too many.
        let expected = expected.map(|sorted| sorted.peekable());
        let next = |expected: &mut Option<_>, day| match expected {
            Some(sorted) => next_series(sorted, day),
            None => Ok(None),
        };
        let (_, day_report) = compare_day(dir, expected, next, tenant, day, max).await?;
        report.absorb(day_report, max);
    }
    for ((tenant, day), blocks) in actual {
        extra_blocks(&mut report, &tenant, day, blocks, max);
    }
    Ok(report)
}

/// The blocks of every source in preference order: sources as listed,
/// then each source's blocks by (minTime, ULID).
async fn discover(sources: &[String]) -> Result<Vec<SourceBlock>> {
    if sources.is_empty() {
        bail!("a prometheus source needs at least one directory or bucket URL");
    }
    let mut out = Vec::new();
    for src in sources {
        let mut blocks = if src.contains("://") && !src.starts_with("file://") {
            discover_bucket(src).await?
        } else {
            discover_dir(src)?
        };
        for b in &blocks {
            let resolution = b
                .meta
                .thanos
                .as_ref()
                .map_or(0, |t| t.downsample.resolution);
            if resolution > 0 {
                bail!("block {}: downsampled to {resolution} ms resolution; only raw blocks can be converted", b.url);
            }
        }
        blocks.sort_by_key(|b| (b.meta.min_time, b.meta.ulid));
        out.extend(blocks);
    }
    Ok(out)
}

fn discover_dir(src: &str) -> Result<Vec<SourceBlock>> {
    let path = match src.strip_prefix("file://") {
        Some(rest) if rest.starts_with('/') => PathBuf::from(rest),
        Some(_) => bail!("prometheus source {src:?}: file:// URLs need an absolute path"),
        None => PathBuf::from(src),
    };
    let dir = std::fs::canonicalize(&path)
        .with_context(|| format!("prometheus source {src:?}: {}", path.display()))?;
    let is_block = |d: &Path| {
        d.file_name()
            .is_some_and(|n| Ulid::from_string(&n.to_string_lossy()).is_ok())
            && d.join(META_FILENAME).is_file()
    };
    let candidates = if is_block(&dir) {
        vec![dir]
    } else {
        let mut dirs = Vec::new();
        for e in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let e = e.with_context(|| format!("listing {}", dir.display()))?;
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(e.path());
            }
        }
        dirs.sort();
        dirs
    };
    let mut out = Vec::new();
    for d in candidates {
        // The head, the WAL and half-created blocks are no ULID dirs.
        if !is_block(&d) {
            continue;
        }
        if d.join(DELETION_MARK).is_file() {
            warn!(block = %d.display(), "skipped: marked for deletion");
            continue;
        }
        let raw = std::fs::read(d.join(META_FILENAME))
            .with_context(|| format!("block {}", d.display()))?;
        let url = format!("file://{}", d.display());
        let meta = parse_meta(&raw, &url)?;
        out.push(SourceBlock {
            url,
            location: Location::Local(d),
            meta,
        });
    }
    Ok(out)
}

async fn discover_bucket(url: &str) -> Result<Vec<SourceBlock>> {
    let bucket = Bucket::open(url)?;
    let (dirs, _) = bucket.list_dir("").await?;
    let mut out = Vec::new();
    for name in dirs {
        if Ulid::from_string(&name).is_err() {
            continue;
        }
        let location = bucket.key_url(&name);
        let Some(raw) = bucket.get_opt(&format!("{name}/{META_FILENAME}")).await? else {
            warn!(block = %location, "skipped: no meta.json");
            continue;
        };
        if bucket.exists(&format!("{name}/{DELETION_MARK}")).await? {
            warn!(block = %location, "skipped: marked for deletion");
            continue;
        }
        let meta = parse_meta(&raw, &location)?;
        out.push(SourceBlock {
            url: location,
            location: Location::Remote {
                bucket: bucket.clone(),
                name,
            },
            meta,
        });
    }
    Ok(out)
}

/// A source block's meta.json, refusing native histograms (counted in a
/// field `BlockMeta` does not keep).
fn parse_meta(raw: &[u8], url: &str) -> Result<BlockMeta> {
    let v: serde_json::Value =
        serde_json::from_slice(raw).with_context(|| format!("block {url}: meta.json"))?;
    let histograms = v
        .pointer("/stats/numHistogramSamples")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    if histograms > 0 {
        bail!("block {url}: holds {histograms} native histogram samples; only float series can be converted");
    }
    BlockMeta::from_json(raw).with_context(|| format!("block {url}: meta.json"))
}

/// Indexes into `blocks` per tenant and day, each list in preference order.
fn group(
    blocks: &[SourceBlock],
    opts: &PrometheusOptions,
    default_tenant: Option<&str>,
    days: DayRange,
) -> Result<BTreeMap<(String, i32), Vec<usize>>> {
    let mut out: BTreeMap<(String, i32), Vec<usize>> = BTreeMap::new();
    for (i, b) in blocks.iter().enumerate() {
        if b.meta.max_time <= b.meta.min_time {
            continue;
        }
        let from_label = opts
            .tenant_label
            .as_ref()
            .and_then(|name| b.meta.thanos.as_ref()?.labels.get(name).cloned());
        let tenant = match (from_label, default_tenant, &opts.tenant_label) {
            (Some(t), _, _) => t,
            (None, Some(t), _) => t.to_string(),
            (None, None, Some(name)) => bail!(
                "block {}: no external label {name:?} in meta.json, and no --tenant",
                b.url
            ),
            (None, None, None) => bail!("a prometheus source needs --tenant or --tenant-label"),
        };
        if let Err(e) = validate_tenant(&tenant) {
            warn!(block = %b.url, tenant = %tenant.escape_debug(), error = %e, "block skipped: invalid tenant ID");
            continue;
        }
        let first = b.meta.min_time.div_euclid(DAY_MS);
        let last = (b.meta.max_time - 1).div_euclid(DAY_MS);
        for day in first..=last {
            match i32::try_from(day) {
                Ok(day) if days.contains(day) => {
                    out.entry((tenant.clone(), day)).or_default().push(i)
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

/// A local directory of the block: in place, or downloaded under `dest`.
async fn fetch(b: &SourceBlock, dest: &Path) -> Result<PathBuf> {
    match &b.location {
        Location::Local(d) => Ok(d.clone()),
        Location::Remote { bucket, name } => download_dir(bucket, name, &dest.join(name))
            .await
            .with_context(|| format!("source block {}", b.url)),
    }
}

/// Every series of the day's blocks (`inputs` in preference order) with
/// samples inside the day, sorted by (labels, preference); `None` when no
/// block has a sample in the day.
fn expected_day(
    inputs: &[(String, PathBuf)],
    drop: &[String],
    day: i32,
    scratch: &Path,
    budget: usize,
) -> Result<Option<Sorted<SeriesPart>>> {
    let (start, end) = (i64::from(day) * DAY_MS, (i64::from(day) + 1) * DAY_MS);
    let mut sorter = ExternalSorter::<SeriesPart>::new(scratch, budget.max(1 << 20))
        .with_context(|| format!("sort runs in {}", scratch.display()))?;
    for (block, (url, dir)) in inputs.iter().enumerate() {
        let ctx = || format!("source block {url}");
        let reader = BlockReader::open(dir).with_context(ctx)?;
        for (seq, item) in reader.series().enumerate() {
            let (labels, chunks) = item.with_context(ctx)?;
            let mut samples = Vec::new();
            for c in &chunks {
                samples.extend(reader.chunk_samples(c).with_context(ctx)?);
            }
            samples.retain(|&(t, _)| t >= start && t < end);
            if !samples.is_empty() {
                sorter
                    .push(SeriesPart {
                        group: (),
                        labels: labels.without(drop),
                        rank: (block as u64, seq as u64),
                        samples,
                    })
                    .with_context(ctx)?;
            }
        }
    }
    if sorter.is_empty() {
        return Ok(None);
    }
    Ok(Some(sorter.finish()?))
}

/// One series of one source block, its samples inside the day, labels
/// without the dropped ones; ranked by (block in preference order, series
/// in the block's index).
type SeriesPart = Part<(), (u64, u64)>;
