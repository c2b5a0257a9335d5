//! The Cortex index scanner against a real Bigtable emulator (`cbtemulator`)
//! and a real DynamoDB API (`moto_server`), each started on 127.0.0.1.
//!
//! Fixture cases: the index Cortex v1.11 wrote is loaded with our own
//! clients, scanned at concurrency 16, and the plans are compared entry by
//! entry (series and chunk sets) with the plans the real Cortex scanner
//! wrote. Generated cases: entries of every schema version and Bigtable row
//! layout (and DynamoDB), written with `schema::chunk_entries`, scanned and
//! compared with what was generated.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use base::DAY_MS;
use cortex::schema::{chunk_entries, series_id};
use cortex::{BigtableLayout, PeriodConfig, PeriodicTableConfig, SchemaVersion};
use scanner::CortexScanOptions;
use support::*;
use testkit::emulators;

fn bt_opts(host: &str, concurrency: usize) -> CortexScanOptions {
    CortexScanOptions {
        concurrency,
        bigtable_emulator_host: Some(host.to_string()),
        ..Default::default()
    }
}

/// Loads a Bigtable fixture case, scans it and compares with Cortex's plans.
async fn bigtable_case(case: &str, concurrency: usize) {
    let Some(em) = emulators::bigtable().unwrap() else {
        return;
    };
    let dir = fixture(case);
    let instance = "fixture-instance";
    load_bigtable_case(&bigtable_client(&em.addr, instance), &dir).await;
    let tmp = tempfile::tempdir().unwrap();
    let bucket = tmp.path().join("bucket");
    std::fs::create_dir_all(&bucket).unwrap();
    let schema = std::fs::read_to_string(dir.join("schema.yaml")).unwrap();
    let cfg_path = write_config(tmp.path(), &schema, &bigtable_storage(instance));
    let cfg = scan_config(
        &bucket,
        &tmp.path().join("work"),
        bt_opts(&em.addr, concurrency),
    );
    let source = protocol::source::SourceSpec::Cortex(cfg_path.clone());
    let report = scanner::scan(&cfg, &source).await.unwrap();
    let want = expected_plans(&dir);
    assert_same_plans(&bucket_plans(&bucket, "migration"), &want);
    assert_eq!(report.plans.len(), want.len());
    let stats = report.cortex.clone().unwrap();
    assert!(stats.counts.invalid_tenants.is_empty());
    assert!(
        stats.counts.entries["metric-to-series"] > 0,
        "{:?}",
        stats.counts.entries
    );
    // Markers for every index table with the prefix, and scan-complete.
    for t in &stats.tables {
        assert!(
            bucket.join(format!("migration/scanned.{t}")).exists(),
            "marker of {t}"
        );
    }
    assert!(
        stats.tables.iter().all(|t| t.starts_with("index_")),
        "{:?}",
        stats.tables
    );
    assert!(bucket.join("migration/scan-complete").exists());

    // A second run skips every marked table and rewrites nothing.
    let plan_file = bucket.join(format!(
        "migration/{}/{}.plan.snappy",
        want.keys().next().unwrap().0,
        want.keys().next().unwrap().1
    ));
    std::fs::remove_file(&plan_file).unwrap();
    let again = scanner::scan(&cfg, &source).await.unwrap();
    assert!(again.plans.is_empty());
    assert_eq!(again.already_scanned.len(), stats.tables.len());
    assert!(!plan_file.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fixture_v9_bigtable() {
    bigtable_case("v9-bigtable-doubledelta", 16).await;
}

/// Cortex's scanner fails on this layout at concurrency > 1; ours must not.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fixture_v10_gcp_at_concurrency_16() {
    bigtable_case("v10-gcp-varbit", 16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fixture_v11_hashed_bigchunk() {
    bigtable_case("v11-hashed-bigchunk", 16).await;
}

/// Two weekly tables (the data crosses the table boundary).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fixture_v11_hashed_xor_two_tables() {
    bigtable_case("v11-hashed-xor", 16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fixture_v11_replicas() {
    bigtable_case("v11-replicas", 16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fixture_v11_dynamodb() {
    let Some(moto) = emulators::moto().unwrap() else {
        return;
    };
    let dir = fixture("v11-dynamodb-s3");
    load_dynamo_case(&dynamo_client(&moto.endpoint()).await, &dir).await;
    let tmp = tempfile::tempdir().unwrap();
    let bucket = tmp.path().join("bucket");
    std::fs::create_dir_all(&bucket).unwrap();
    let schema = std::fs::read_to_string(dir.join("schema.yaml")).unwrap();
    let cfg_path = write_config(tmp.path(), &schema, &dynamo_storage(&moto.endpoint()));
    let cfg = scan_config(
        &bucket,
        &tmp.path().join("work"),
        CortexScanOptions {
            concurrency: 16,
            ..Default::default()
        },
    );
    let report = scanner::scan(&cfg, &protocol::source::SourceSpec::Cortex(cfg_path))
        .await
        .unwrap();
    assert_same_plans(&bucket_plans(&bucket, "migration"), &expected_plans(&dir));
    // Every index table of the period is read (empty ones too), newest first.
    let tables = report.cortex.unwrap().tables;
    assert_eq!(tables.len(), 8, "{tables:?}");
    assert_eq!(tables[0], "index_2968");
}

/// Generated chunks of `series` series for two tenants (one with a
/// filtered name), over three days, some crossing midnight.
struct Generated {
    entries: Vec<cortex::schema::IndexEntry>,
    want: Plans,
}

const DAY0: i64 = 20_776; // 2026-11-19, first day of week 2968

fn period(schema: SchemaVersion, store: &str) -> PeriodConfig {
    PeriodConfig {
        from_day: DAY0 - 7,
        store: store.to_string(),
        object_store: "filesystem".into(),
        row_shards: if schema == SchemaVersion::V9 { 0 } else { 16 },
        schema,
        index: PeriodicTableConfig {
            prefix: "idx_".into(),
            period_secs: 7 * base::DAY_SECS,
        },
        chunks: PeriodicTableConfig::default(),
    }
}

fn generate(p: &PeriodConfig, series: usize, chunks_per_series: i64) -> Generated {
    let mut entries = Vec::new();
    let mut want = Plans::new();
    for tenant in ["alpha", "team_b.prod", "ignored-1"] {
        for s in 0..series {
            let inst = format!("host-{s}");
            let labels = [
                ("__name__", "up"),
                ("instance", inst.as_str()),
                ("job", "node"),
            ];
            let sid = series_id(&labels);
            for c in 0..chunks_per_series {
                // 6 h chunks, so every 4th crosses midnight; 2 days and a half.
                let from = DAY0 * DAY_MS + c * 6 * 3_600_000 + 1_000 + s as i64;
                let through = from + 6 * 3_600_000;
                let id = format!("{tenant}/{:x}:{from:x}:{through:x}:{:x}", 0x1000 + s, c);
                entries.extend(chunk_entries(p, tenant, from, through, &labels, &id).unwrap());
                if tenant == "ignored-1" {
                    continue;
                }
                for day in from / DAY_MS..=through / DAY_MS {
                    want.entry((tenant.to_string(), day as i32))
                        .or_default()
                        .entry(sid.clone())
                        .or_default()
                        .insert(id.clone());
                }
            }
        }
    }
    Generated { entries, want }
}

fn schema_yaml(p: &PeriodConfig) -> String {
    let v = match p.schema {
        SchemaVersion::V9 => "v9",
        SchemaVersion::V10 => "v10",
        _ => "v11",
    };
    format!(
        "configs:\n- from: 2026-11-12\n  store: {}\n  object_store: filesystem\n  schema: {v}\n  index:\n    prefix: idx_\n    period: 168h\n",
        p.store
    )
}

/// Scans generated entries and compares; `ignored-*` tenants are filtered out.
async fn scan_generated(
    gen: &Generated,
    p: &PeriodConfig,
    storage: String,
    mut opts: CortexScanOptions,
) -> scanner::ScanReport {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = tmp.path().join("bucket");
    std::fs::create_dir_all(&bucket).unwrap();
    let cfg_path = write_config(tmp.path(), &schema_yaml(p), &storage);
    opts.tenants.ignored = Some(regex::Regex::new("^ignored-").unwrap());
    let mut cfg = scan_config(&bucket, &tmp.path().join("work"), opts);
    // A small budget, so the sort spills and merges runs.
    cfg.memory_budget = 2 << 20;
    let report = scanner::scan(&cfg, &protocol::source::SourceSpec::Cortex(cfg_path))
        .await
        .unwrap();
    assert_same_plans(&bucket_plans(&bucket, "migration"), &gen.want);
    for rel in testkit::files::files_under(tmp.path()) {
        assert!(
            rel.starts_with("bucket/migration/") || rel == "cfg.yaml",
            "written outside the prefix: {rel}"
        );
    }
    let stats = report.cortex.as_ref().unwrap();
    assert_eq!(
        stats.counts.ignored_tenants.iter().collect::<Vec<_>>(),
        vec!["ignored-1"]
    );
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generated_every_bigtable_layout_and_schema() {
    let Some(em) = emulators::bigtable().unwrap() else {
        return;
    };
    let cases = [
        (SchemaVersion::V9, "bigtable", BigtableLayout::ColumnKey),
        (
            SchemaVersion::V10,
            "gcp-columnkey",
            BigtableLayout::ColumnKey,
        ),
        (
            SchemaVersion::V11,
            "bigtable-hashed",
            BigtableLayout::Hashed,
        ),
        (SchemaVersion::V9, "gcp", BigtableLayout::Gcp),
        (SchemaVersion::V11, "gcp", BigtableLayout::Gcp),
    ];
    for (i, (schema, store, layout)) in cases.into_iter().enumerate() {
        let p = period(schema, store);
        let gen = generate(&p, 20, 10);
        let instance = format!("gen-{i}");
        load_bigtable_entries(&bigtable_client(&em.addr, &instance), layout, &gen.entries).await;
        let report =
            scan_generated(&gen, &p, bigtable_storage(&instance), bt_opts(&em.addr, 8)).await;
        let stats = report.cortex.unwrap();
        // Two weekly tables: the data starts on a week's first day... and stays in it.
        assert_eq!(stats.tables, vec!["idx_2968".to_string()], "{store}");
        let label_names = stats
            .counts
            .entries
            .get("series-to-label-values")
            .copied()
            .unwrap_or(0);
        assert_eq!(
            label_names > 0,
            matches!(p.schema, SchemaVersion::V11),
            "{store} {:?}",
            stats.counts.entries
        );
    }
}

/// Many series spanning many rows each in the `gcp` layout, read at high
/// concurrency: splits cut through series, the sort must merge them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generated_gcp_layout_at_high_concurrency() {
    let Some(em) = emulators::bigtable().unwrap() else {
        return;
    };
    let p = period(SchemaVersion::V10, "gcp");
    let gen = generate(&p, 150, 10);
    let client = bigtable_client(&em.addr, "gcp-high");
    load_bigtable_entries(&client, BigtableLayout::Gcp, &gen.entries).await;
    let splits = client.sample_row_keys("idx_2968").await.unwrap();
    eprintln!("SampleRowKeys gave {} keys", splits.len());
    let mut opts = bt_opts(&em.addr, 64);
    opts.requests_per_sec = Some(10_000.0);
    scan_generated(&gen, &p, bigtable_storage("gcp-high"), opts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generated_dynamodb_every_schema() {
    let Some(moto) = emulators::moto().unwrap() else {
        return;
    };
    let client = dynamo_client(&moto.endpoint()).await;
    let ignored = regex::Regex::new("^ignored-").unwrap();
    for (i, schema) in [SchemaVersion::V9, SchemaVersion::V10, SchemaVersion::V11]
        .into_iter()
        .enumerate()
    {
        let mut p = period(schema, "aws-dynamo");
        p.index.prefix = format!("idx{i}_");
        let gen = generate(&p, 15, 10);
        load_dynamo_entries(&client, &gen.entries).await;
        let yaml_prefix_fix = |s: String| s.replace("prefix: idx_", &format!("prefix: idx{i}_"));
        let tmp = tempfile::tempdir().unwrap();
        let bucket = tmp.path().join("bucket");
        std::fs::create_dir_all(&bucket).unwrap();
        let cfg_path = write_config(
            tmp.path(),
            &yaml_prefix_fix(schema_yaml(&p)),
            &dynamo_storage(&moto.endpoint()),
        );
        let mut opts = CortexScanOptions {
            concurrency: 7,
            ..Default::default()
        };
        opts.tenants.ignored = Some(ignored.clone());
        let cfg = scan_config(&bucket, &tmp.path().join("work"), opts);
        let report = scanner::scan(&cfg, &protocol::source::SourceSpec::Cortex(cfg_path))
            .await
            .unwrap();
        assert_same_plans(&bucket_plans(&bucket, "migration"), &gen.want);
        assert_eq!(report.cortex.unwrap().tables, vec![format!("idx{i}_2968")]);
    }
}

/// Tenant IDs Cortex would refuse are reported and skipped, not planned,
/// and nothing is written outside the prefix; `team_b.prod` (with a dot)
/// is a valid tenant and gets its plans (see `generate`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalid_tenant_ids_are_skipped() {
    let Some(em) = emulators::bigtable().unwrap() else {
        return;
    };
    let p = period(SchemaVersion::V9, "bigtable");
    let mut gen = generate(&p, 3, 2);
    let labels = [("__name__", "up")];
    let long = "x".repeat(151);
    let bad = [
        "../etc", "a b", "../evil", "a/b", "x\u{7}y", ".", "..", &long,
    ];
    for bad in bad {
        let id = format!("{bad}/1:2:3:4");
        gen.entries.extend(
            chunk_entries(&p, bad, DAY0 * DAY_MS, DAY0 * DAY_MS + 10, &labels, &id).unwrap(),
        );
    }
    load_bigtable_entries(
        &bigtable_client(&em.addr, "bad-tenants"),
        BigtableLayout::ColumnKey,
        &gen.entries,
    )
    .await;
    let report = scan_generated(
        &gen,
        &p,
        bigtable_storage("bad-tenants"),
        bt_opts(&em.addr, 4),
    )
    .await;
    let planned: BTreeSet<&str> = report.plans.iter().map(|p| p.tenant.as_str()).collect();
    assert_eq!(planned, ["alpha", "team_b.prod"].into_iter().collect());
    let stats = report.cortex.unwrap();
    let invalid: BTreeSet<String> = stats.counts.invalid_tenants;
    assert_eq!(invalid, bad.iter().map(|s| s.to_string()).collect());
    assert_eq!(stats.counts.invalid_tenant_entries, bad.len() as u64);
    // The report's copy is escaped for printing: no raw control character.
    assert!(
        report.invalid_tenants.contains("x\\u{7}y"),
        "{:?}",
        report.invalid_tenants
    );
    assert!(report
        .invalid_tenants
        .iter()
        .all(|t| !t.chars().any(char::is_control)));
}

/// `--dry-run` on a Cortex index: series and chunk references per
/// tenant-day are the plans a scan would write, and the bucket stays empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dry_run_counts_plans_and_writes_nothing() {
    let Some(em) = emulators::bigtable().unwrap() else {
        return;
    };
    let p = period(SchemaVersion::V11, "bigtable-hashed");
    let gen = generate(&p, 10, 6);
    let instance = "dry-run";
    load_bigtable_entries(
        &bigtable_client(&em.addr, instance),
        BigtableLayout::Hashed,
        &gen.entries,
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let bucket = tmp.path().join("bucket");
    let cfg_path = write_config(tmp.path(), &schema_yaml(&p), &bigtable_storage(instance));
    let mut opts = bt_opts(&em.addr, 4);
    opts.tenants.ignored = Some(regex::Regex::new("^ignored-").unwrap());
    let cfg = scan_config(&bucket, &tmp.path().join("work"), opts);
    let report = scanner::dry_run(&cfg, &protocol::source::SourceSpec::Cortex(cfg_path))
        .await
        .unwrap();
    let got: BTreeMap<(String, i32), (u64, u64)> = report
        .days
        .iter()
        .map(|d| ((d.tenant.clone(), d.day), (d.series, d.chunks)))
        .collect();
    let want: BTreeMap<(String, i32), (u64, u64)> = gen
        .want
        .iter()
        .map(|(k, series)| {
            let chunks = series.values().map(|c| c.len() as u64).sum();
            (k.clone(), (series.len() as u64, chunks))
        })
        .collect();
    assert_eq!(got, want);
    assert!(report.days.iter().all(|d| d.samples.is_none()
        && d.estimated_bytes == scanner::estimate_cortex_bytes(d.series, d.chunks)));
    let text = report.render();
    assert!(text.contains("per Cortex chunk"), "{text}");
    let written = testkit::files::files_under(&bucket);
    assert!(written.is_empty(), "dry run wrote {written:?}");
    let work = testkit::files::files_under(&tmp.path().join("work"));
    assert!(work.is_empty(), "dry run left {work:?}");
}
