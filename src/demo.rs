//! `blocksconvert demo [DIR]`: a real conversion on an embedded default.
//!
//! Generates an OpenMetrics file that crosses a UTC midnight, runs the same
//! scan and builders as `run` into DIR (a local directory used as the
//! bucket), verifies the blocks sample for sample against the file, and
//! prints where the blocks are.

use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use protocol::bucket::Bucket;
use protocol::names::{PlanCompression, DEFAULT_PREFIX};
use protocol::source::SourceSpec;
use protocol::tenant::TenantFilter;
use scanner::{write_openmetrics, DayRange, GenSpec};

const TENANT: &str = "demo";

pub(crate) async fn demo(dir: Option<PathBuf>) -> Result<ExitCode> {
    let dir = dir.unwrap_or_else(|| PathBuf::from("demo-out"));
    let bucket_dir = dir.join("bucket");
    let work_dir = dir.join("work");
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("creating {}", work_dir.display()))?;
    if bucket_dir.exists() {
        std::fs::remove_dir_all(&bucket_dir)
            .with_context(|| format!("clearing {}", bucket_dir.display()))?;
    }
    let source_file = dir.join("demo.om");
    // 200 series, 36 hours at 60 s from 2026-11-16T06:00Z: two UTC days.
    let spec = GenSpec {
        series: 200,
        start_ms: 1_794_808_800_000,
        samples: 36 * 60,
        step_ms: 60_000,
        seed: 42,
    };
    let f = std::fs::File::create(&source_file)
        .with_context(|| format!("creating {}", source_file.display()))?;
    let lines = write_openmetrics(&spec, &mut BufWriter::new(f))?;
    println!("demo: wrote {} ({lines} samples)", source_file.display());

    let bucket = Bucket::open(bucket_dir.to_str().context("bucket path is not UTF-8")?)?;
    let source = SourceSpec::OpenMetrics(source_file.clone());
    let scan_cfg = scanner::ScanConfig {
        bucket: bucket.clone(),
        prefix: DEFAULT_PREFIX.into(),
        work_dir: work_dir.clone(),
        memory_budget: 64 << 20,
        compression: PlanCompression::Snappy,
        days: DayRange::default(),
        tenant: Some(TENANT.into()),
        cortex: Default::default(),
        prometheus: Default::default(),
    };
    let scan = scanner::scan(&scan_cfg, &source).await?;
    crate::report::print_scan(&scan);

    let cfg = builder::BuilderConfig {
        bucket: bucket.clone(),
        output: bucket.clone(),
        prefix: DEFAULT_PREFIX.into(),
        work_dir: work_dir.clone(),
        memory_budget: 64 << 20,
        name: "demo-builder".into(),
        poll_interval: Duration::from_millis(100),
        heartbeat: Duration::from_secs(30),
        tenants: TenantFilter::default(),
        block: None,
        pause_after_claim: Duration::ZERO,
        relist_interval: builder::DEFAULT_RELIST_INTERVAL,
        cortex: None,
        prometheus_roots: Vec::new(),
    };
    let summary = builder::run_builder(Arc::new(cfg), true).await?;
    crate::report::print_build(&summary);

    let report = verify::verify(
        &verify::VerifyConfig {
            prometheus: Default::default(),
            bucket: bucket.clone(),
            plans: bucket.clone(),
            tenant: Some(TENANT.into()),
            tenants: TenantFilter::default(),
            work_dir,
            memory_budget: 64 << 20,
            days: verify::DayRange::default(),
            max_reported: 20,
            cortex: None,
        },
        &source,
    )
    .await?;
    crate::report::print_verify(&report);
    for r in &summary.finished {
        println!(
            "block: {}",
            bucket_dir.join(&r.tenant).join(&r.block).display()
        );
    }
    println!(
        "demo: inspect with `promtool tsdb analyze {} <ULID>`",
        bucket_dir.join(TENANT).display()
    );
    Ok(if report.ok() && summary.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
