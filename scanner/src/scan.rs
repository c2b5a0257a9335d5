//! Driving a scan: source-specific staging, then publishing plans and
//! markers in the bucket, or, in a dry run, tallying what would have been
//! published (see [`Output`]).

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use protocol::bucket::Bucket;
use protocol::names::{relative_key, scan_complete_key, scanned_key, PlanCompression, PlanId};
use protocol::plan::{PlanEntry, PlanHeader, PlanSource, PlanWriter};
use protocol::source::SourceSpec;
use protocol::tenant::validate_tenant;
use tracing::{info, warn};

use crate::dry_run::{estimate_block_bytes, DryRunDay};
use crate::openmetrics::{stage_file, DayRange};

/// Where a scan writes and with what limits; the source is given apart.
#[derive(Clone, Debug)]
pub struct ScanConfig {
    /// The bucket the plans (and staged data) go to.
    pub bucket: Bucket,
    /// The plan prefix in the bucket (`--prefix`).
    pub prefix: String,
    /// Local scratch space: sort runs, staged files and plans before upload.
    pub work_dir: PathBuf,
    /// Bytes of samples or references held in memory before spilling.
    pub memory_budget: usize,
    /// How plan files are written (snappy-framed by default, as Cortex does).
    pub compression: PlanCompression,
    /// UTC days to plan; the rest is counted and left out.
    pub days: DayRange,
    /// Target tenant for sources that carry none (OpenMetrics).
    pub tenant: Option<String>,
    /// Settings of the Cortex index scan.
    pub cortex: crate::cortex::CortexScanOptions,
    /// Tenant label and replica labels of a Prometheus source.
    pub prometheus: crate::prometheus::PrometheusOptions,
}

/// What a scan did.
#[derive(Clone, Debug, Default)]
pub struct ScanReport {
    /// The plans written (or tallied, in a dry run).
    pub plans: Vec<PlanId>,
    /// Series as the source counts them, summed: per staged day
    /// (OpenMetrics), per source block's meta.json (Prometheus), per plan's
    /// series IDs (Cortex). Replicas and days count a series again.
    pub series: u64,
    /// Samples read (OpenMetrics) or counted in source blocks' meta.json
    /// (Prometheus); 0 for Cortex, whose samples only the builder reads.
    pub samples: u64,
    /// Samples left out because their day is outside [`ScanConfig::days`].
    pub samples_outside_range: u64,
    /// Sorted runs the external sort spilled to the work dir.
    pub spilled_runs: usize,
    /// Units skipped because an earlier scan finished them.
    pub already_scanned: Vec<String>,
    /// Index tables read and entry counts (Cortex sources).
    pub cortex: Option<crate::cortex::CortexStats>,
    /// Tenant IDs from the source that Cortex would refuse (Cortex index
    /// entries, Prometheus external labels): skipped, never planned. At
    /// most [`MAX_REPORTED_NAMES`] are kept, escaped for printing.
    pub invalid_tenants: BTreeSet<String>,
    /// What the scan left out that a person should hear about (such as a
    /// Prometheus head), one line each, printed after the summary.
    pub notes: Vec<String>,
}

/// How many rejected names a report keeps: a hostile or broken source can
/// hold millions, and the report must stay small.
pub const MAX_REPORTED_NAMES: usize = 100;

/// Adds `name` (escaped, so control characters cannot reach a terminal)
/// unless the set is full.
pub(crate) fn note_rejected(set: &mut BTreeSet<String>, name: &str) {
    if set.len() < MAX_REPORTED_NAMES {
        let shown: String = name.chars().take(200).collect();
        set.insert(shown.escape_debug().to_string());
    }
}

/// Where a scan's results go. The scan code is the same either way (same
/// discovery, tenant filters and day range); only the publishing step
/// differs. A dry run writes nothing to the bucket: no plan, staged object,
/// `scanned.*` marker or `scan-complete`; it may still read markers to
/// report what a real scan would skip. Local scratch files live in a temp
/// dir under the work dir and are removed as usual.
#[derive(Debug)]
pub(crate) enum Output {
    Bucket,
    DryRun(Vec<DryRunDay>),
}

impl Output {
    pub(crate) fn is_dry_run(&self) -> bool {
        matches!(self, Output::DryRun(_))
    }

    /// Records a plan a dry run would have written; no-op otherwise.
    pub(crate) fn record(&mut self, day: DryRunDay) {
        if let Output::DryRun(days) = self {
            days.push(day);
        }
    }
}

/// Scans `source` into plans under the bucket prefix, skipping units an
/// earlier scan finished, then writes `scan-complete`.
pub async fn scan(cfg: &ScanConfig, source: &SourceSpec) -> Result<ScanReport> {
    let report = scan_into(cfg, source, &mut Output::Bucket).await?;
    cfg.bucket
        .put(
            &scan_complete_key(&cfg.prefix),
            protocol::records::now_rfc3339(),
        )
        .await?;
    Ok(report)
}

/// Scans every unit of the source into `out`; `scan-complete` is the
/// caller's business.
pub(crate) async fn scan_into(
    cfg: &ScanConfig,
    source: &SourceSpec,
    out: &mut Output,
) -> Result<ScanReport> {
    Ok(match source {
        SourceSpec::OpenMetrics(path) => scan_openmetrics(cfg, path, out).await?,
        SourceSpec::Prometheus(sources) => {
            crate::prometheus::scan_prometheus(cfg, sources, out).await?
        }
        SourceSpec::Cortex(path) => crate::cortex::scan_cortex(cfg, path, out).await?,
    })
}

/// The name of a scan unit's `scanned.*` marker: `<kind>-<label>-<hash>`,
/// where the hash covers what was read (`identity`: absolute paths or URLs,
/// with sizes and modification times where the source has them) and for
/// whom and what (target tenant, tenant label, dropped labels, day range).
/// So the same file scanned for another tenant or another range, or another
/// file of the same name, is a new unit; `label` only makes the key
/// readable. FNV-1a: stable across builds; a collision costs a skipped
/// rescan, which the loud skip message lets a person notice.
pub(crate) fn unit_key(kind: &str, label: &str, identity: &[String], cfg: &ScanConfig) -> String {
    let mut parts = identity.to_vec();
    parts.push(format!("tenant={:?}", cfg.tenant));
    parts.push(format!("tenant-label={:?}", cfg.prometheus.tenant_label));
    parts.push(format!("drop-labels={:?}", cfg.prometheus.drop_labels));
    parts.push(format!("days={:?}..{:?}", cfg.days.from, cfg.days.to));
    let h = base::fnv1a64(parts.join("\n").as_bytes());
    let safe: String = label
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{kind}-{safe}-{h:016x}")
}

/// What a file is, for its marker: absolute path, size and mtime (ns).
pub(crate) fn file_identity(path: &std::path::Path) -> Result<String> {
    let abs = std::fs::canonicalize(path).with_context(|| format!("opening {}", path.display()))?;
    let meta = std::fs::metadata(&abs).with_context(|| format!("reading {}", abs.display()))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok(format!(
        "{} size={} mtime={mtime}",
        abs.display(),
        meta.len()
    ))
}

/// How often a scan rewrites its unit's in-progress marker.
const SCAN_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(30);
/// An in-progress marker older than this belongs to a scan that died: the
/// unit is taken over and scanned again.
const SCAN_STALE: chrono::TimeDelta = chrono::TimeDelta::minutes(3);
/// How often a scan waiting for another one's unit looks again.
const SCAN_WAIT_POLL: std::time::Duration = std::time::Duration::from_secs(5);

/// What to do with a scan unit ([`claim_unit`]).
pub(crate) enum UnitClaim {
    /// Scan it; the marker shows the scan in progress until [`InProgress::finish`].
    Scan(InProgress),
    /// A dry run of a unit not yet scanned: tally it, mark nothing.
    DryRun,
    /// Its `scanned.*` marker exists: plan nothing. `waited` when another
    /// scan of it was in progress and this one waited for it to end.
    Done {
        /// Whether this scan waited for a concurrent one.
        waited: bool,
    },
}

/// A scan in progress: its `scanned.<unit>.in-progress` marker, rewritten
/// every [`SCAN_HEARTBEAT`] until finished or dropped. (Under the
/// `scanned.` prefix, so listings take it for a marker, not a stray file.)
pub(crate) struct InProgress {
    bucket: Bucket,
    key: String,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl InProgress {
    /// Stops the heartbeat and removes the marker (the caller has written
    /// `scanned.<unit>` first, so a waiting scan sees the unit done).
    pub(crate) async fn finish(self) -> Result<()> {
        self.heartbeat.abort();
        self.bucket.delete(&self.key).await?;
        Ok(())
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// Decides whether this process scans `unit`. A second `run` or `scan`
/// started while another scans the same unit does not rescan it from
/// scratch: it waits (logging why) until the other writes `scanned.<unit>`,
/// then plans nothing and goes on with the plans the other wrote; if the
/// other's heartbeat stops for [`SCAN_STALE`], it takes the unit over.
pub(crate) async fn claim_unit(cfg: &ScanConfig, unit: &str, marker: &str) -> Result<UnitClaim> {
    let key = scanned_key(&cfg.prefix, &format!("{unit}.in-progress"));
    let mut waited = false;
    loop {
        if cfg.bucket.exists(marker).await? {
            return Ok(UnitClaim::Done { waited });
        }
        let other = cfg.bucket.get_opt(&key).await?;
        let beat = other
            .as_ref()
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t.trim()).ok());
        let fresh = beat.is_some_and(|t| chrono::Utc::now() - t.to_utc() < SCAN_STALE);
        if fresh {
            if !waited {
                warn!(
                    unit,
                    "another scan of this source is in progress ({}); waiting for it \
                     instead of scanning again",
                    cfg.bucket.key_url(&key)
                );
            }
            waited = true;
            tokio::time::sleep(SCAN_WAIT_POLL).await;
            continue;
        }
        let now = protocol::records::now_rfc3339();
        if other.is_some() {
            warn!(unit, "taking over a scan whose heartbeat stopped");
            cfg.bucket.put(&key, now).await?;
        } else if cfg.bucket.create_if_absent(&key, now).await?.is_none() {
            continue; // another scan claimed it just now
        }
        let (bucket, k) = (cfg.bucket.clone(), key.clone());
        let heartbeat = tokio::spawn(async move {
            loop {
                tokio::time::sleep(SCAN_HEARTBEAT).await;
                if let Err(e) = bucket.put(&k, protocol::records::now_rfc3339()).await {
                    warn!(error = %e, "rewriting the scan's in-progress marker");
                }
            }
        });
        return Ok(UnitClaim::Scan(InProgress {
            bucket: cfg.bucket.clone(),
            key,
            heartbeat,
        }));
    }
}

/// Says loudly that `unit` plans nothing because its marker exists, and
/// how to scan it again.
pub(crate) fn warn_already_scanned(cfg: &ScanConfig, unit: &str, marker: &str) {
    warn!(
        unit,
        "nothing planned: this source was already scanned for the same tenant and days; \
         to scan it again, delete {}",
        cfg.bucket.key_url(marker)
    );
}

async fn scan_openmetrics(
    cfg: &ScanConfig,
    path: &std::path::Path,
    out: &mut Output,
) -> Result<ScanReport> {
    let Some(tenant) = cfg.tenant.clone() else {
        bail!("an openmetrics source needs --tenant");
    };
    validate_tenant(&tenant).with_context(|| "--tenant")?;
    let label = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unit = unit_key("openmetrics", &label, &[file_identity(path)?], cfg);
    let marker = scanned_key(&cfg.prefix, &unit);
    let mut report = ScanReport::default();
    // A dry run writes nothing, in-progress markers included.
    let claim = if out.is_dry_run() {
        match cfg.bucket.exists(&marker).await? {
            true => UnitClaim::Done { waited: false },
            false => UnitClaim::DryRun,
        }
    } else {
        claim_unit(cfg, &unit, &marker).await?
    };
    let in_progress = match claim {
        UnitClaim::Done { waited } => {
            if waited {
                info!(unit = %unit, "the other scan finished; using its plans");
            } else {
                warn_already_scanned(cfg, &unit, &marker);
            }
            report.already_scanned.push(unit);
            return Ok(report);
        }
        UnitClaim::Scan(p) => Some(p),
        UnitClaim::DryRun => None,
    };
    std::fs::create_dir_all(&cfg.work_dir)
        .with_context(|| format!("creating work dir {}", cfg.work_dir.display()))?;
    let work = tempfile::Builder::new()
        .prefix("scan-")
        .tempdir_in(&cfg.work_dir)
        .with_context(|| format!("creating a scan dir in {}", cfg.work_dir.display()))?;
    let (input, scratch, budget, days) = (
        path.to_path_buf(),
        work.path().to_path_buf(),
        cfg.memory_budget,
        cfg.days,
    );
    let staged =
        tokio::task::spawn_blocking(move || stage_file(&input, &scratch, budget, days)).await??;
    report.samples = staged.samples;
    report.samples_outside_range = staged.samples_outside_range;
    report.spilled_runs = staged.spilled_runs;
    for day in &staged.days {
        let id = PlanId {
            tenant: tenant.clone(),
            day: day.day,
        };
        report.series += day.series;
        if out.is_dry_run() {
            out.record(DryRunDay {
                tenant: tenant.clone(),
                day: day.day,
                series: day.series,
                chunks: day.chunks,
                samples: Some(day.samples),
                estimated_bytes: estimate_block_bytes(day.series, day.chunks, day.samples),
            });
            report.plans.push(id);
            continue;
        }
        // Samples first, plan last: a visible plan always has its data.
        let staged_key = id.staged_key(&cfg.prefix);
        cfg.bucket.upload_file(&staged_key, &day.file).await?;
        let rel = relative_key(&cfg.prefix, &staged_key)
            .unwrap_or(&staged_key)
            .to_string();
        let header = PlanHeader {
            user: tenant.clone(),
            day_index: day.day,
            source: Some(PlanSource::OpenMetrics),
        };
        let mut w = PlanWriter::new(Vec::new(), cfg.compression, &header)?;
        w.write_entry(&PlanEntry::OpenMetrics { staged: rel })?;
        let plan = w.finish()?;
        cfg.bucket
            .put(&id.plan_key(&cfg.prefix, cfg.compression), plan)
            .await?;
        info!(plan = %id, series = day.series, samples = day.samples, "plan written");
        report.plans.push(id);
    }
    if !out.is_dry_run() {
        cfg.bucket
            .put(&marker, protocol::records::now_rfc3339())
            .await?;
    }
    if let Some(p) = in_progress {
        p.finish().await?;
    }
    Ok(report)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A scan into a fresh in-memory bucket, for one tenant, all days.
    pub(crate) fn config() -> ScanConfig {
        ScanConfig {
            bucket: Bucket::open("memory://").unwrap(),
            prefix: "migration".into(),
            work_dir: std::env::temp_dir(),
            memory_budget: 1 << 20,
            compression: PlanCompression::None,
            days: DayRange::default(),
            tenant: Some("team-a".into()),
            cortex: Default::default(),
            prometheus: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_second_scan_waits_for_the_first_instead_of_rescanning() {
        let cfg = config();
        let marker = scanned_key(&cfg.prefix, "u");
        let UnitClaim::Scan(first) = claim_unit(&cfg, "u", &marker).await.unwrap() else {
            panic!("a fresh unit is scanned");
        };
        let second = tokio::spawn({
            let cfg = cfg.clone();
            let marker = marker.clone();
            async move { claim_unit(&cfg, "u", &marker).await.unwrap() }
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!second.is_finished(), "the second scan did not wait");
        cfg.bucket.put(&marker, "done").await.unwrap();
        first.finish().await.unwrap();
        let UnitClaim::Done { waited: true } = second.await.unwrap() else {
            panic!("the second scan rescanned");
        };
        // A dead scan's marker (heartbeat long stopped) is taken over.
        let key = scanned_key(&cfg.prefix, "v.in-progress");
        cfg.bucket.put(&key, "2000-01-01T00:00:00Z").await.unwrap();
        let v = scanned_key(&cfg.prefix, "v");
        assert!(matches!(
            claim_unit(&cfg, "v", &v).await.unwrap(),
            UnitClaim::Scan(_)
        ));
    }

    #[test]
    fn openmetrics_units_know_file_tenant_and_days() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("x.om"), "up 1 1\n# EOF\n").unwrap();
        std::fs::write(b.join("x.om"), "up 2 2\n# EOF\n").unwrap();
        let cfg = config();
        let key = |cfg: &ScanConfig, p: &std::path::Path| {
            unit_key("openmetrics", "x.om", &[file_identity(p).unwrap()], cfg)
        };
        let first = key(&cfg, &a.join("x.om"));
        assert_eq!(first, key(&cfg, &a.join("x.om")));
        assert!(first.starts_with("openmetrics-x.om-"), "{first}");
        // Another file of the same name.
        assert_ne!(first, key(&cfg, &b.join("x.om")));
        // The same file for another tenant, or other days.
        let other = ScanConfig {
            tenant: Some("team-b".into()),
            ..cfg.clone()
        };
        assert_ne!(first, key(&other, &a.join("x.om")));
        let days = ScanConfig {
            days: DayRange {
                from: Some(1),
                to: None,
            },
            ..cfg.clone()
        };
        assert_ne!(first, key(&days, &a.join("x.om")));
        // The same path, rewritten with other content.
        std::fs::write(a.join("x.om"), "up 1 1\nup 3 3\n# EOF\n").unwrap();
        assert_ne!(first, key(&cfg, &a.join("x.om")));
    }
}
