//! Driving a scan: source-specific staging, then publishing plans and
//! markers in the bucket.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use common::bucket::Bucket;
use common::names::{PlanCompression, PlanId, SCANNED_PREFIX, SCAN_COMPLETE};
use common::plan::{PlanEntry, PlanHeader, PlanSource, PlanWriter};
use common::source::SourceSpec;
use common::tenant::validate_tenant;
use tracing::info;

use crate::openmetrics::{stage_file, DayRange};

#[derive(Clone, Debug)]
pub struct ScanConfig {
    pub bucket: Bucket,
    pub prefix: String,
    pub work_dir: PathBuf,
    pub memory_budget: usize,
    pub compression: PlanCompression,
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
    pub plans: Vec<PlanId>,
    pub series: u64,
    pub samples: u64,
    pub samples_outside_range: u64,
    pub spilled_runs: usize,
    /// Units skipped because an earlier scan finished them.
    pub already_scanned: Vec<String>,
    /// Index tables read and entry counts (Cortex sources).
    pub cortex: Option<crate::cortex::CortexStats>,
}

pub async fn scan(cfg: &ScanConfig, source: &SourceSpec) -> Result<ScanReport> {
    let report = match source {
        SourceSpec::OpenMetrics(path) => scan_openmetrics(cfg, path).await?,
        SourceSpec::Prometheus(sources) => crate::prometheus::scan_prometheus(cfg, sources).await?,
        SourceSpec::Cortex(path) => crate::cortex::scan_cortex(cfg, path).await?,
    };
    cfg.bucket
        .put(
            &format!("{}/{}", cfg.prefix, SCAN_COMPLETE),
            common::records::now_rfc3339(),
        )
        .await?;
    Ok(report)
}

/// The scan unit of a file: its name, made safe as an object name.
fn unit_name(path: &std::path::Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("openmetrics-{safe}")
}

async fn scan_openmetrics(cfg: &ScanConfig, path: &std::path::Path) -> Result<ScanReport> {
    let Some(tenant) = cfg.tenant.clone() else {
        bail!("an openmetrics source needs --tenant");
    };
    validate_tenant(&tenant).with_context(|| "--tenant")?;
    let unit = unit_name(path);
    let marker = format!("{}/{}{}", cfg.prefix, SCANNED_PREFIX, unit);
    let mut report = ScanReport::default();
    if cfg.bucket.exists(&marker).await? {
        info!(unit = %unit, "already scanned, skipping");
        report.already_scanned.push(unit);
        return Ok(report);
    }
    std::fs::create_dir_all(&cfg.work_dir)
        .with_context(|| format!("creating work dir {}", cfg.work_dir.display()))?;
    let work = tempfile::Builder::new()
        .prefix("scan-")
        .tempdir_in(&cfg.work_dir)
        .with_context(|| format!("creating a scan dir in {}", cfg.work_dir.display()))?;
    let (input, out, budget, days) = (
        path.to_path_buf(),
        work.path().to_path_buf(),
        cfg.memory_budget,
        cfg.days,
    );
    let staged =
        tokio::task::spawn_blocking(move || stage_file(&input, &out, budget, days)).await??;
    report.samples = staged.samples;
    report.samples_outside_range = staged.samples_outside_range;
    report.spilled_runs = staged.spilled_runs;
    for day in &staged.days {
        let id = PlanId {
            tenant: tenant.clone(),
            day: day.day,
        };
        // Samples first, plan last: a visible plan always has its data.
        let staged_key = id.staged_key(&cfg.prefix);
        cfg.bucket.upload_file(&staged_key, &day.file).await?;
        let rel = staged_key
            .strip_prefix(&format!("{}/", cfg.prefix))
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
        report.series += day.series;
        report.plans.push(id);
    }
    cfg.bucket
        .put(&marker, common::records::now_rfc3339())
        .await?;
    Ok(report)
}
