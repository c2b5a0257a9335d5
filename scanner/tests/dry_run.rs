//! `scanner::dry_run` on OpenMetrics and Prometheus sources (the Cortex
//! case is in `cortex_index.rs`, next to its emulator setup): the counts
//! per tenant-day are right, the bucket stays empty and the work dir holds
//! no leftovers. Also: a Prometheus block whose external label names a
//! tenant like `../../etc` is refused and reported, by the dry run and the
//! real scan alike, and nothing lands outside the prefix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use testkit::files::files_under;

use base::DAY_SECS;
use protocol::bucket::Bucket;
use protocol::names::PlanCompression;
use protocol::source::SourceSpec;
use scanner::prometheus::PrometheusOptions;
use scanner::DayRange;
use scanner::{DryRunDay, ScanConfig};
use tsdb::{BlockMeta, BlockStats, ThanosMeta};

fn config(root: &Path) -> ScanConfig {
    ScanConfig {
        bucket: Bucket::local(&root.join("bucket")).unwrap(),
        prefix: "migration".into(),
        work_dir: root.join("work"),
        memory_budget: 8 << 20,
        compression: PlanCompression::Snappy,
        days: DayRange::default(),
        tenant: None,
        cortex: Default::default(),
        prometheus: Default::default(),
    }
}

fn assert_nothing_written(root: &Path) {
    assert_eq!(files_under(&root.join("bucket")), Vec::<String>::new());
    let left: Vec<_> = std::fs::read_dir(root.join("work"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "work dir not cleaned: {left:?}");
}

fn by_day(days: &[DryRunDay]) -> BTreeMap<(String, i32), (u64, u64, Option<u64>)> {
    days.iter()
        .map(|d| ((d.tenant.clone(), d.day), (d.series, d.chunks, d.samples)))
        .collect()
}

#[tokio::test]
async fn openmetrics_counts_series_samples_and_chunks_per_day() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.om");
    // Day 1: series a (130 samples: two chunks) and b (1 sample); day 2: a.
    let mut text = String::from("# TYPE up gauge\n");
    for i in 0..130 {
        text.push_str(&format!("up{{job=\"a\"}} 1 {}\n", DAY_SECS + i * 15));
    }
    text.push_str(&format!("up{{job=\"b\"}} 2 {}\n", DAY_SECS + 5));
    text.push_str(&format!("up{{job=\"a\"}} 3 {}\n", 2 * DAY_SECS + 5));
    text.push_str(&format!("up{{job=\"a\"}} 3 {}\n", 3 * DAY_SECS + 5));
    text.push_str("# EOF\n");
    std::fs::write(&input, text).unwrap();
    let mut cfg = config(tmp.path());
    cfg.tenant = Some("team_b.prod".into());
    cfg.days = DayRange {
        from: None,
        to: Some(3),
    };
    let r = scanner::dry_run(&cfg, &SourceSpec::OpenMetrics(input))
        .await
        .unwrap();
    let t = "team_b.prod".to_string();
    assert_eq!(
        by_day(&r.days),
        [
            ((t.clone(), 1), (2, 3, Some(131))),
            ((t.clone(), 2), (1, 1, Some(1))),
        ]
        .into_iter()
        .collect()
    );
    assert_eq!(r.samples_outside_range, 1);
    assert_eq!(
        r.days[0].estimated_bytes,
        scanner::estimate_block_bytes(2, 3, 131)
    );
    let text = r.render();
    assert!(text.contains("total team_b.prod"), "{text}");
    assert!(text.contains("per sample (XOR)"), "{text}");
    assert_nothing_written(tmp.path());
}

/// A fake block directory: meta.json plus an index and a chunk segment of
/// the given sizes (the scanner reads nothing else).
fn block(dir: &Path, min_h: i64, max_h: i64, stats: BlockStats, tenant: Option<&str>) -> PathBuf {
    let ulid = ulid::Ulid::new();
    let b = dir.join(ulid.to_string());
    std::fs::create_dir_all(b.join("chunks")).unwrap();
    std::fs::write(b.join("index"), vec![0u8; 1000]).unwrap();
    std::fs::write(b.join("chunks/000001"), vec![0u8; 3000]).unwrap();
    let thanos = tenant.map(|t| ThanosMeta {
        labels: [("tenant".to_string(), t.to_string())]
            .into_iter()
            .collect(),
        ..Default::default()
    });
    let meta = BlockMeta {
        ulid,
        min_time: min_h * 3_600_000,
        max_time: max_h * 3_600_000,
        stats,
        compaction: Default::default(),
        version: 1,
        thanos,
    };
    std::fs::write(b.join("meta.json"), meta.to_json()).unwrap();
    b
}

fn stats(series: u64, chunks: u64, samples: u64) -> BlockStats {
    BlockStats {
        num_samples: samples,
        num_series: series,
        num_chunks: chunks,
    }
}

#[tokio::test]
async fn prometheus_counts_from_meta_prorated_per_day() {
    let tmp = tempfile::tempdir().unwrap();
    let (r1, r2) = (tmp.path().join("r1"), tmp.path().join("r2"));
    // Replica 1: one block 12h..36h (half in day 0, half in day 1).
    block(&r1, 12, 36, stats(10, 40, 4000), None);
    // Replica 2: 12h..24h in one block, with more series.
    block(&r2, 12, 24, stats(12, 30, 2000), None);
    let mut cfg = config(tmp.path());
    cfg.tenant = Some("t1".into());
    let src = SourceSpec::Prometheus(vec![r1.display().to_string(), r2.display().to_string()]);
    let r = scanner::dry_run(&cfg, &src).await.unwrap();
    let t = "t1".to_string();
    assert_eq!(
        by_day(&r.days),
        [
            // Day 0: replica 1 gives 20 chunks and 2000 samples, replica 2
            // 30 and 2000; the largest of each counts, not the sum.
            ((t.clone(), 0), (12, 30, Some(2000))),
            ((t.clone(), 1), (10, 20, Some(2000))),
        ]
        .into_iter()
        .collect()
    );
    // Each block is 4000 bytes of files plus its meta.json; day 1 gets half
    // of replica 1's block.
    let d1 = &r.days[1];
    assert!((2000..2500).contains(&d1.estimated_bytes), "{d1:?}");
    assert!(r.render().contains("prorated"), "{}", r.render());
    assert_nothing_written(tmp.path());
}

#[tokio::test]
async fn prometheus_tenant_label_with_path_traversal_is_refused_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let src_dir = tmp.path().join("data");
    block(&src_dir, 0, 2, stats(1, 1, 10), Some("../../etc"));
    block(&src_dir, 0, 2, stats(1, 1, 10), Some("a/b"));
    block(&src_dir, 0, 2, stats(1, 1, 10), Some("team_b.prod"));
    let mut cfg = config(tmp.path());
    cfg.prometheus = PrometheusOptions {
        tenant_label: Some("tenant".into()),
        drop_labels: vec![],
    };
    let src = SourceSpec::Prometheus(vec![src_dir.display().to_string()]);

    let dry = scanner::dry_run(&cfg, &src).await.unwrap();
    let tenants: Vec<&str> = dry.days.iter().map(|d| d.tenant.as_str()).collect();
    assert_eq!(tenants, vec!["team_b.prod"]);
    let refused: Vec<&str> = dry.invalid_tenants.iter().map(String::as_str).collect();
    assert_eq!(refused, vec!["../../etc", "a/b"]);
    assert!(dry.render().contains("invalid tenant ID \"../../etc\""));
    assert_nothing_written(tmp.path());

    let report = scanner::scan(&cfg, &src).await.unwrap();
    assert_eq!(report.plans.len(), 1);
    assert_eq!(report.plans[0].tenant, "team_b.prod");
    assert_eq!(report.invalid_tenants, dry.invalid_tenants);
    let written = files_under(&tmp.path().join("bucket"));
    assert!(
        written.iter().all(|f| f.starts_with("migration/")),
        "{written:?}"
    );
    assert!(written.contains(&"migration/team_b.prod/0.plan.snappy".to_string()));
    assert!(!tmp.path().join("etc").exists());
    assert_eq!(
        files_under(tmp.path())
            .iter()
            .filter(|f| !f.starts_with("bucket/") && !f.starts_with("data/"))
            .count(),
        0
    );
}

#[tokio::test]
async fn dry_run_reports_units_a_scan_would_skip() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("x.om");
    std::fs::write(&input, "up 1 100\n# EOF\n").unwrap();
    let mut cfg = config(tmp.path());
    cfg.tenant = Some("t".into());
    let src = SourceSpec::OpenMetrics(input);
    scanner::scan(&cfg, &src).await.unwrap();
    let before = files_under(&tmp.path().join("bucket"));
    let r = scanner::dry_run(&cfg, &src).await.unwrap();
    assert!(r.days.is_empty());
    assert_eq!(r.already_scanned.len(), 1);
    assert!(r.already_scanned[0].starts_with("openmetrics-x.om-"));
    assert_eq!(files_under(&tmp.path().join("bucket")), before);
}
