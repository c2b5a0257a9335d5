//! Prometheus and Thanos blocks to plans: one plan per tenant and UTC day,
//! naming every source block (of any replica) that overlaps the day.
//!
//! A source is a Prometheus data directory, a snapshot directory (both hold
//! one directory per block, named by its ULID), a single block directory, or
//! a bucket URL (`file://`, `s3://`, `gs://`) with block directories at its
//! root, as Thanos and Prometheus uploads leave them. Several sources are
//! replicas of the same data; their order is the order of preference for
//! samples with equal timestamps, so plan entries keep it: first source
//! first, then its blocks by start time.
//!
//! What is skipped, with a warning: block directories without `meta.json`
//! (being written, or a partial upload), blocks with `deletion-mark.json`,
//! entries that are not ULID directories (`*.tmp-for-creation`,
//! `*.tmp-for-deletion`), and the head (`wal/`, `chunks_head/`,
//! `chunk_snapshot.*`): samples not yet compacted into a block are not
//! converted. The scan summary says which time range the head covers (from
//! the end of the data dir's last block to the last write of its head
//! files) and that a snapshot, which writes the head into a block, captures
//! it ([`HeadLeftOut`]). What is refused, naming the block: downsampled Thanos blocks
//! (resolution > 0) and blocks whose meta.json counts native histogram
//! samples (the builder also refuses any non-XOR chunk it meets).
//!
//! The scanner reads only meta.json files; series and samples are the
//! builder's business. Discovery is public because `verify` re-reads the
//! same sources.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base::DAY_MS;
use protocol::bucket::Bucket;
use protocol::names::{scanned_key, PlanId};
use protocol::plan::{PlanEntry, PlanHeader, PlanSource, PlanWriter};
use protocol::tenant::{validate_tenant, TenantError};
use tracing::{info, warn};
use tsdb::{BlockMeta, META_FILENAME};
use ulid::Ulid;

use crate::openmetrics::DayRange;
use crate::scan::{note_rejected, Output, ScanConfig, ScanReport};

/// Thanos' marker of a block its compactor is about to delete.
pub(crate) const DELETION_MARK: &str = "deletion-mark.json";

/// Options of a Prometheus source beyond its locations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrometheusOptions {
    /// Take the tenant from this Thanos external label of each block
    /// (falling back to `--tenant` for blocks without it).
    pub tenant_label: Option<String>,
    /// Labels removed from every series before replicas are merged.
    pub drop_labels: Vec<String>,
}

/// One block of a source, found by [`discover`].
#[derive(Clone, Debug)]
pub struct SourceBlock {
    /// Position of its source in the `--source` list: lower wins ties.
    pub source: usize,
    /// URL of the block directory: `file:///abs/dir/<ULID>` or `<bucket URL>/<ULID>`.
    pub url: String,
    /// The block's meta.json.
    pub meta: BlockMeta,
}

impl SourceBlock {
    /// The UTC days the block's `[minTime, maxTime)` touches.
    pub fn days(&self) -> std::ops::RangeInclusive<i64> {
        let first = self.meta.min_time.div_euclid(DAY_MS);
        let last = (self.meta.max_time - 1).div_euclid(DAY_MS);
        first..=last
    }
}

/// Something discovery left out, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The path or URL left out.
    pub location: String,
    /// Why it was left out, for the warning.
    pub reason: &'static str,
}

/// The blocks of all sources, in preference order (source, then start
/// time, then ULID), and what was skipped.
#[derive(Clone, Debug, Default)]
pub struct Discovery {
    /// The complete blocks, in preference order.
    pub blocks: Vec<SourceBlock>,
    /// What was left out, with the reason; logged as warnings.
    pub skipped: Vec<Skipped>,
    /// Data dirs whose head (WAL, head chunks) holds samples left out.
    pub head: Vec<HeadLeftOut>,
}

/// The head of a Prometheus data dir: the most recent samples, not yet in
/// a block, which a conversion leaves out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadLeftOut {
    /// The data dir.
    pub dir: String,
    /// Where the head starts: the end (maxTime, ms) of the dir's last
    /// block; `None` when the dir has no block yet.
    pub from_ms: Option<i64>,
    /// When a file of `wal/` or `chunks_head/` was last written (ms since
    /// the epoch): the head's newest samples are about this old.
    pub to_ms: i64,
}

impl HeadLeftOut {
    /// One line for the scan summary: what is left out and how to get it.
    pub fn describe(&self) -> String {
        let time = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms).map_or_else(
                || format!("{ms} ms"),
                |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            )
        };
        let range = match self.from_ms {
            Some(from) if from < self.to_ms => {
                let minutes = (self.to_ms - from) / 60_000;
                format!(
                    "samples from {} to about {} ({}h{:02}m)",
                    time(from),
                    time(self.to_ms),
                    minutes / 60,
                    minutes % 60
                )
            }
            Some(from) => format!(
                "any samples after its last block ({}; head files last written {})",
                time(from),
                time(self.to_ms)
            ),
            None => format!(
                "every sample up to about {} (no block yet)",
                time(self.to_ms)
            ),
        };
        format!(
            "head and WAL are not converted: {} left out of {}; a snapshot \
             (POST /api/v1/admin/tsdb/snapshot with --web.enable-admin-api) writes \
             the head into a block: convert the snapshot directory to include them",
            range, self.dir
        )
    }
}

/// Finds the blocks of every source. Refuses blocks this tool cannot
/// convert (downsampled, native histograms) with an error naming them.
pub async fn discover(sources: &[String]) -> Result<Discovery> {
    if sources.is_empty() {
        bail!("a prometheus source needs at least one directory or bucket URL");
    }
    let mut out = Discovery::default();
    for (i, src) in sources.iter().enumerate() {
        let mut blocks = Vec::new();
        if is_remote(src) {
            discover_bucket(i, src, &mut blocks, &mut out.skipped).await?;
        } else {
            let dir = local_path(src)?;
            discover_dir(i, &dir, &mut blocks, &mut out.skipped)?;
            out.head.extend(head_left_out(&dir, &blocks));
        }
        for b in &blocks {
            check_convertible(b)?;
        }
        blocks.sort_by_key(|b| (b.meta.min_time, b.meta.ulid));
        if blocks.is_empty() {
            warn!(source = %src, "no blocks found");
        }
        out.blocks.extend(blocks);
    }
    for s in &out.skipped {
        warn!(location = %s.location, reason = s.reason, "skipped");
    }
    Ok(out)
}

/// Whether a source names an object store rather than a local directory.
pub(crate) fn is_remote(src: &str) -> bool {
    src.contains("://") && !src.starts_with("file://")
}

/// The local directory of a plain path or `file://` URL; it must exist.
pub(crate) fn local_path(src: &str) -> Result<PathBuf> {
    let p = match src.strip_prefix("file://") {
        Some(rest) if rest.starts_with('/') => PathBuf::from(rest),
        Some(_) => bail!("prometheus source {src:?}: file:// URLs need an absolute path"),
        None => PathBuf::from(src),
    };
    std::fs::canonicalize(&p).with_context(|| format!("prometheus source {src:?}: {}", p.display()))
}

/// Why a directory entry of a data dir is not a block to convert; `None`
/// for a block to read.
fn skip_reason(name: &str, path: &Path) -> Option<&'static str> {
    if matches!(name, "wal" | "chunks_head") || name.starts_with("chunk_snapshot.") {
        return Some("head and WAL are not converted (only samples compacted into blocks are)");
    }
    if Ulid::from_string(name).is_err() {
        return Some(if name.contains(".tmp-for-") {
            "block being created or deleted by Prometheus"
        } else {
            "not a block directory"
        });
    }
    if !path.join(META_FILENAME).is_file() {
        return Some("no meta.json: block being written or partly uploaded");
    }
    if path.join(DELETION_MARK).is_file() {
        return Some("marked for deletion (deletion-mark.json)");
    }
    None
}

fn discover_dir(
    source: usize,
    dir: &Path,
    blocks: &mut Vec<SourceBlock>,
    skipped: &mut Vec<Skipped>,
) -> Result<()> {
    // A single block directory given directly.
    let own_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if dir.join(META_FILENAME).is_file() && Ulid::from_string(&own_name).is_ok() {
        return match skip_reason(&own_name, dir) {
            None => {
                blocks.push(local_block(source, dir)?);
                Ok(())
            }
            Some(reason) => {
                skipped.push(Skipped {
                    location: dir.display().to_string(),
                    reason,
                });
                Ok(())
            }
        };
    }
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    let mut names = Vec::new();
    for e in entries {
        let e = e.with_context(|| format!("listing {}", dir.display()))?;
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            names.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    for name in names {
        let path = dir.join(&name);
        match skip_reason(&name, &path) {
            None => blocks.push(local_block(source, &path)?),
            Some("not a block directory") => {}
            Some(reason) => skipped.push(Skipped {
                location: path.display().to_string(),
                reason,
            }),
        }
    }
    Ok(())
}

/// The head of the data dir `dir`, whose blocks are `blocks`; `None` when
/// it has no head files (not a data dir, or an empty head).
fn head_left_out(dir: &Path, blocks: &[SourceBlock]) -> Option<HeadLeftOut> {
    /// The newest modification time (ms) of the files under `p` that can
    /// hold a sample: a WAL segment Prometheus just opened is empty, and a
    /// head chunk file holds at least its 8-byte header.
    fn newest(p: &Path) -> Option<i64> {
        let mut best = None;
        for e in std::fs::read_dir(p).ok()?.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            let t = if meta.is_dir() {
                newest(&e.path())
            } else if meta.len() <= 8 {
                None
            } else {
                meta.modified()
                    .ok()
                    .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                    .and_then(|d| i64::try_from(d.as_millis()).ok())
            };
            best = best.max(t);
        }
        best
    }
    let to_ms = ["wal", "chunks_head"]
        .iter()
        .filter_map(|d| newest(&dir.join(d)))
        .max()?;
    Some(HeadLeftOut {
        dir: dir.display().to_string(),
        from_ms: blocks.iter().map(|b| b.meta.max_time).max(),
        to_ms,
    })
}

fn local_block(source: usize, dir: &Path) -> Result<SourceBlock> {
    let meta = BlockMeta::read(dir).with_context(|| format!("block {}", dir.display()))?;
    let raw = std::fs::read(dir.join(META_FILENAME))
        .with_context(|| format!("block {}", dir.display()))?;
    check_histograms(&raw, &dir.display().to_string())?;
    Ok(SourceBlock {
        source,
        url: format!("file://{}", dir.display()),
        meta,
    })
}

async fn discover_bucket(
    source: usize,
    url: &str,
    blocks: &mut Vec<SourceBlock>,
    skipped: &mut Vec<Skipped>,
) -> Result<()> {
    let bucket = Bucket::open(url)?;
    let (dirs, _) = bucket.list_dir("").await?;
    for d in dirs {
        let location = bucket.key_url(&d);
        if Ulid::from_string(&d).is_err() {
            continue;
        }
        let Some(raw) = bucket.get_opt(&format!("{d}/{META_FILENAME}")).await? else {
            skipped.push(Skipped {
                location,
                reason: "no meta.json: block being written or partly uploaded",
            });
            continue;
        };
        if bucket.exists(&format!("{d}/{DELETION_MARK}")).await? {
            skipped.push(Skipped {
                location,
                reason: "marked for deletion (deletion-mark.json)",
            });
            continue;
        }
        let meta = BlockMeta::from_json(&raw).with_context(|| format!("block {location}"))?;
        check_histograms(&raw, &location)?;
        blocks.push(SourceBlock {
            source,
            url: location,
            meta,
        });
    }
    Ok(())
}

/// Refuses what the builder could not convert faithfully.
fn check_convertible(b: &SourceBlock) -> Result<()> {
    let resolution = b
        .meta
        .thanos
        .as_ref()
        .map_or(0, |t| t.downsample.resolution);
    if resolution > 0 {
        bail!(
            "block {}: downsampled to {resolution} ms resolution; only raw blocks (resolution 0) can be converted",
            b.url
        );
    }
    Ok(())
}

/// Prometheus counts native histogram samples in `stats.numHistogramSamples`,
/// a field our `BlockMeta` does not keep.
fn check_histograms(raw: &[u8], location: &str) -> Result<()> {
    let v: serde_json::Value =
        serde_json::from_slice(raw).with_context(|| format!("block {location}: meta.json"))?;
    let n = v
        .pointer("/stats/numHistogramSamples")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    if n > 0 {
        bail!("block {location}: holds {n} native histogram samples; only float (XOR) series can be converted");
    }
    Ok(())
}

/// The tenant of a block: its external label `tenant_label` if set and
/// present, otherwise `default`.
pub(crate) fn block_tenant(
    b: &SourceBlock,
    opts: &PrometheusOptions,
    default: Option<&str>,
) -> Result<String> {
    let tenant = raw_block_tenant(b, opts, default)?;
    validate_tenant(&tenant).with_context(|| format!("tenant of block {}", b.url))?;
    Ok(tenant)
}

/// The tenant a block names, not yet validated.
fn raw_block_tenant(
    b: &SourceBlock,
    opts: &PrometheusOptions,
    default: Option<&str>,
) -> Result<String> {
    let from_label = opts
        .tenant_label
        .as_ref()
        .and_then(|name| b.meta.thanos.as_ref()?.labels.get(name).cloned());
    Ok(match (from_label, default) {
        (Some(t), _) => t,
        (None, Some(t)) => t.to_string(),
        (None, None) => match &opts.tenant_label {
            Some(name) => bail!(
                "block {}: no external label {name:?} in meta.json, and no --tenant",
                b.url
            ),
            None => bail!("a prometheus source needs --tenant or --tenant-label"),
        },
    })
}

/// Blocks grouped by tenant and day, each group in preference order.
///
/// A block whose external label names a tenant Cortex would refuse (say
/// `../../etc`) is left out with a warning, so that `scan` and `verify`
/// agree on what is converted; [`group_by_day_with_rejects`] also returns
/// them. A missing tenant is still an error.
pub fn group_by_day<'a>(
    blocks: &'a [SourceBlock],
    opts: &PrometheusOptions,
    default_tenant: Option<&str>,
    days: DayRange,
) -> Result<BTreeMap<(String, i32), Vec<&'a SourceBlock>>> {
    Ok(group_by_day_with_rejects(blocks, opts, default_tenant, days)?.0)
}

/// A block refused because of its tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RejectedBlock {
    pub(crate) url: String,
    /// The tenant as the block names it, unvalidated (escape before printing).
    pub(crate) tenant: String,
    pub(crate) reason: String,
}

/// [`group_by_day`], also returning the blocks refused for their tenant.
#[allow(clippy::type_complexity)]
pub(crate) fn group_by_day_with_rejects<'a>(
    blocks: &'a [SourceBlock],
    opts: &PrometheusOptions,
    default_tenant: Option<&str>,
    days: DayRange,
) -> Result<(
    BTreeMap<(String, i32), Vec<&'a SourceBlock>>,
    Vec<RejectedBlock>,
)> {
    let mut out: BTreeMap<(String, i32), Vec<&SourceBlock>> = BTreeMap::new();
    let mut rejected = Vec::new();
    for b in blocks {
        if b.meta.max_time <= b.meta.min_time {
            continue;
        }
        let tenant = match block_tenant(b, opts, default_tenant) {
            Ok(t) => t,
            Err(e) => match e.downcast_ref::<TenantError>() {
                Some(te) => {
                    let tenant = raw_block_tenant(b, opts, default_tenant).unwrap_or_default();
                    warn!(block = %b.url, tenant = %tenant.escape_debug(), error = %te, "block skipped: invalid tenant ID");
                    rejected.push(RejectedBlock {
                        url: b.url.clone(),
                        tenant,
                        reason: te.to_string(),
                    });
                    continue;
                }
                None => return Err(e),
            },
        };
        for day in b.days() {
            let Ok(day) = i32::try_from(day) else {
                continue;
            };
            if days.contains(day) {
                out.entry((tenant.clone(), day)).or_default().push(b);
            }
        }
    }
    Ok((out, rejected))
}

/// The scan unit of a source list: stable across runs, different for
/// another list or another order (the order decides which replica wins),
/// another tenant rule or day range ([`crate::scan::unit_key`]). Local
/// roots count by absolute path.
pub(crate) fn unit_name(sources: &[String], cfg: &ScanConfig) -> String {
    let ids: Vec<String> = sources
        .iter()
        .map(|s| match std::fs::canonicalize(s) {
            Ok(abs) if !s.contains("://") => abs.display().to_string(),
            _ => s.clone(),
        })
        .collect();
    crate::scan::unit_key("prometheus", "blocks", &ids, cfg)
}

pub(crate) async fn scan_prometheus(
    cfg: &ScanConfig,
    sources: &[String],
    out: &mut Output,
) -> Result<ScanReport> {
    let opts = &cfg.prometheus;
    if opts.tenant_label.is_none() && cfg.tenant.is_none() {
        bail!("a prometheus source needs --tenant or --tenant-label");
    }
    if let Some(t) = &cfg.tenant {
        validate_tenant(t).with_context(|| "--tenant")?;
    }
    let unit = unit_name(sources, cfg);
    let marker = scanned_key(&cfg.prefix, &unit);
    let mut report = ScanReport::default();
    let in_progress = if out.is_dry_run() {
        if cfg.bucket.exists(&marker).await? {
            crate::scan::warn_already_scanned(cfg, &unit, &marker);
            report.already_scanned.push(unit);
            return Ok(report);
        }
        None
    } else {
        match crate::scan::claim_unit(cfg, &unit, &marker).await? {
            crate::scan::UnitClaim::Scan(p) => Some(p),
            crate::scan::UnitClaim::Done { waited } => {
                if !waited {
                    crate::scan::warn_already_scanned(cfg, &unit, &marker);
                }
                report.already_scanned.push(unit);
                return Ok(report);
            }
            crate::scan::UnitClaim::DryRun => None,
        }
    };
    let found = discover(sources).await?;
    let (mut groups, rejected) =
        group_by_day_with_rejects(&found.blocks, opts, cfg.tenant.as_deref(), cfg.days)?;
    // `--tenant`/`--ignore-tenants` select here as for every source.
    groups.retain(|(t, _), _| cfg.cortex.tenants.allows(t));
    for r in &rejected {
        note_rejected(&mut report.invalid_tenants, &r.tenant);
    }
    for h in &found.head {
        let note = h.describe();
        warn!("{note}");
        report.notes.push(note);
    }
    for b in &found.blocks {
        if rejected.iter().any(|r| r.url == b.url) {
            continue;
        }
        report.series += b.meta.stats.num_series;
        report.samples += b.meta.stats.num_samples;
    }
    if out.is_dry_run() {
        let sizes = crate::dry_run::block_sizes(groups.values().flatten().copied()).await?;
        for ((tenant, day), blocks) in &groups {
            out.record(crate::dry_run::prometheus_day(tenant, *day, blocks, &sizes));
            report.plans.push(PlanId {
                tenant: tenant.clone(),
                day: *day,
            });
        }
        return Ok(report);
    }
    for ((tenant, day), blocks) in groups {
        let id = PlanId {
            tenant: tenant.clone(),
            day,
        };
        let header = PlanHeader {
            user: tenant,
            day_index: day,
            source: Some(PlanSource::Prometheus),
        };
        let mut w = PlanWriter::new(Vec::new(), cfg.compression, &header)?;
        for b in &blocks {
            w.write_entry(&PlanEntry::Prometheus {
                block: b.url.clone(),
                drop_labels: opts.drop_labels.clone(),
            })?;
        }
        let plan = w.finish()?;
        cfg.bucket
            .put(&id.plan_key(&cfg.prefix, cfg.compression), plan)
            .await?;
        info!(plan = %id, blocks = blocks.len(), "plan written");
        report.plans.push(id);
    }
    cfg.bucket
        .put(&marker, protocol::records::now_rfc3339())
        .await?;
    if let Some(p) = in_progress {
        p.finish().await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(source: usize, min: i64, max: i64, labels: &[(&str, &str)]) -> SourceBlock {
        let thanos = tsdb::ThanosMeta {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        SourceBlock {
            source,
            url: format!("file:///s{source}/{min}"),
            meta: BlockMeta {
                ulid: Ulid::new(),
                min_time: min,
                max_time: max,
                stats: Default::default(),
                compaction: Default::default(),
                version: 1,
                thanos: Some(thanos),
            },
        }
    }

    #[test]
    fn blocks_go_to_every_day_they_touch_in_source_order() {
        // 20h to 50h: days 0, 1 and 2; maxTime is exclusive, so a block
        // ending exactly at midnight does not touch the next day.
        let blocks = vec![
            block(0, 20 * 3_600_000, 50 * 3_600_000, &[]),
            block(1, 0, DAY_MS, &[]),
        ];
        let g = group_by_day(
            &blocks,
            &PrometheusOptions::default(),
            Some("t"),
            DayRange::default(),
        )
        .unwrap();
        let days: Vec<i32> = g.keys().map(|(_, d)| *d).collect();
        assert_eq!(days, vec![0, 1, 2]);
        let day0: Vec<usize> = g[&("t".to_string(), 0)].iter().map(|b| b.source).collect();
        assert_eq!(day0, vec![0, 1]);
        let only = DayRange {
            from: Some(1),
            to: Some(2),
        };
        let g = group_by_day(&blocks, &PrometheusOptions::default(), Some("t"), only).unwrap();
        assert_eq!(g.keys().map(|(_, d)| *d).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn tenant_from_external_label_or_flag() {
        let opts = PrometheusOptions {
            tenant_label: Some("tenant".into()),
            drop_labels: vec![],
        };
        let b = block(0, 0, 1, &[("tenant", "team-a")]);
        assert_eq!(block_tenant(&b, &opts, None).unwrap(), "team-a");
        let unlabelled = block(0, 0, 1, &[]);
        assert_eq!(
            block_tenant(&unlabelled, &opts, Some("dflt")).unwrap(),
            "dflt"
        );
        let err = block_tenant(&unlabelled, &opts, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no external label \"tenant\""), "{err}");
        let bad = block(0, 0, 1, &[("tenant", "../etc")]);
        assert!(block_tenant(&bad, &opts, None).is_err());
    }

    #[test]
    fn refuses_downsampled_and_histogram_blocks() {
        let mut b = block(0, 0, 1, &[]);
        if let Some(t) = b.meta.thanos.as_mut() {
            t.downsample.resolution = 300_000;
        }
        let err = check_convertible(&b).unwrap_err().to_string();
        assert!(err.contains("downsampled") && err.contains(&b.url), "{err}");
        let raw = br#"{"stats":{"numSamples":5,"numHistogramSamples":2}}"#;
        let err = check_histograms(raw, "file:///x/B")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("native histogram") && err.contains("file:///x/B"),
            "{err}"
        );
        assert!(check_histograms(br#"{"stats":{"numSamples":5}}"#, "x").is_ok());
    }

    #[test]
    fn data_dir_discovery_skips_head_partial_and_deleted_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let mk = |name: &str, meta: bool, mark: bool| {
            let p = dir.path().join(name);
            std::fs::create_dir_all(&p).unwrap();
            if meta {
                let m = block(0, 0, 1000, &[]).meta;
                let m = BlockMeta {
                    ulid: Ulid::from_string(name).unwrap(),
                    ..m
                };
                std::fs::write(p.join(META_FILENAME), m.to_json()).unwrap();
            }
            if mark {
                std::fs::write(p.join(DELETION_MARK), "{}").unwrap();
            }
        };
        mk("01ARZ3NDEKTSV4RRFFQ69G5FAV", true, false);
        mk("01ARZ3NDEKTSV4RRFFQ69G5FAW", false, false);
        mk("01ARZ3NDEKTSV4RRFFQ69G5FAX", true, true);
        std::fs::create_dir_all(dir.path().join("wal")).unwrap();
        std::fs::create_dir_all(dir.path().join("chunks_head")).unwrap();
        std::fs::create_dir_all(
            dir.path()
                .join("01ARZ3NDEKTSV4RRFFQ69G5FAY.tmp-for-creation"),
        )
        .unwrap();
        let mut blocks = Vec::new();
        let mut skipped = Vec::new();
        discover_dir(0, dir.path(), &mut blocks, &mut skipped).unwrap();
        assert_eq!(blocks.len(), 1);
        assert!(blocks[0].url.ends_with("/01ARZ3NDEKTSV4RRFFQ69G5FAV"));
        let reasons: Vec<&str> = skipped.iter().map(|s| s.reason).collect();
        assert_eq!(reasons.len(), 5, "{skipped:?}");
        assert!(reasons.iter().any(|r| r.contains("no meta.json")));
        assert!(reasons.iter().any(|r| r.contains("deletion")));
        assert!(reasons.iter().any(|r| r.contains("being created")));
        assert_eq!(reasons.iter().filter(|r| r.contains("head")).count(), 2);
        // Empty head dirs, an empty segment, a bare header: nothing left out.
        std::fs::write(dir.path().join("wal").join("00000001"), b"").unwrap();
        std::fs::write(dir.path().join("chunks_head").join("000001"), [1u8; 8]).unwrap();
        assert_eq!(head_left_out(dir.path(), &blocks), None);
        std::fs::create_dir_all(dir.path().join("wal").join("checkpoint.00000000")).unwrap();
        std::fs::write(
            dir.path()
                .join("wal")
                .join("checkpoint.00000000")
                .join("00000000"),
            [7u8; 64],
        )
        .unwrap();
        let head = head_left_out(dir.path(), &blocks).unwrap();
        assert_eq!(head.from_ms, Some(1000));
        let now = chrono::Utc::now().timestamp_millis();
        assert!(
            (now - 60_000..=now + 1000).contains(&head.to_ms),
            "{head:?}"
        );
    }

    #[test]
    fn the_head_note_names_the_range_and_the_snapshot() {
        let h = HeadLeftOut {
            dir: "/prom/data".into(),
            from_ms: Some(1_800_000_000_000),
            to_ms: 1_800_000_000_000 + 3 * 3_600_000 + 25 * 60_000 + 7_000,
        };
        assert_eq!(
            h.describe(),
            "head and WAL are not converted: samples from 2027-01-15T08:00:00Z to about \
             2027-01-15T11:25:07Z (3h25m) left out of /prom/data; a snapshot \
             (POST /api/v1/admin/tsdb/snapshot with --web.enable-admin-api) writes the head \
             into a block: convert the snapshot directory to include them"
        );
        let fresh = HeadLeftOut {
            from_ms: None,
            ..h.clone()
        };
        assert!(fresh
            .describe()
            .contains("every sample up to about 2027-01-15T11:25:07Z"));
        let stale = HeadLeftOut {
            from_ms: Some(h.to_ms + 1),
            ..h
        };
        assert!(stale
            .describe()
            .contains("any samples after its last block"));
    }

    #[test]
    fn unit_names_depend_on_list_and_order() {
        let cfg = crate::scan::tests::config();
        let a = unit_name(&["x".into(), "y".into()], &cfg);
        assert_eq!(a, unit_name(&["x".into(), "y".into()], &cfg));
        assert_ne!(a, unit_name(&["y".into(), "x".into()], &cfg));
        assert_ne!(a, unit_name(&["xy".into()], &cfg));
        assert!(a.starts_with("prometheus-"));
        let other = ScanConfig {
            tenant: Some("team-b".into()),
            ..cfg
        };
        assert_ne!(a, unit_name(&["x".into(), "y".into()], &other));
    }
}
