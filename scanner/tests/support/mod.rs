//! Shared by the Cortex index tests: loading fixture and generated index
//! entries into the emulators (with our own clients), running a scan, and
//! reading plans back as comparable maps.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use cortex::bigtable::{BigtableClient, BigtableOptions};
use cortex::dynamodb::{DynamoClient, DynamoOptions};
use cortex::schema::{bigtable_cell, IndexEntry};
use cortex::BigtableLayout;
use cortex_testgen::{BigtableLoad, CellWrite, DynamoLoad, ItemWrite};
use protocol::bucket::Bucket;
use protocol::names::PlanCompression;
use protocol::plan::{PlanEntry, PlanReader};
use scanner::{CortexScanOptions, DayRange};
use scanner::{ScanConfig, ScanReport};

/// (tenant, day) → series ID → chunk IDs.
pub(crate) type Plans = BTreeMap<(String, i32), BTreeMap<String, BTreeSet<String>>>;

pub(crate) fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/cortex")
        .join(case)
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("fixture base64")
}

pub(crate) fn bigtable_client(host: &str, instance: &str) -> BigtableClient {
    let mut o = BigtableOptions::new("fixture-project", instance);
    o.emulator_host = Some(host.to_string());
    BigtableClient::connect(&o).expect("bigtable client")
}

/// Creates every table of the case (family `f`) and writes every cell.
pub(crate) async fn load_bigtable_case(client: &BigtableClient, case: &Path) {
    let tables: serde_json::Value =
        serde_json::from_slice(&std::fs::read(case.join("index/tables.json")).unwrap()).unwrap();
    for t in tables["tables"].as_array().unwrap() {
        client
            .create_table(t["table"].as_str().unwrap(), &["f"])
            .await
            .unwrap();
    }
    for f in std::fs::read_dir(case.join("index")).unwrap() {
        let path = f.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        let mut by_table: BTreeMap<String, Vec<CellWrite>> = BTreeMap::new();
        for line in std::io::BufReader::new(std::fs::File::open(&path).unwrap()).lines() {
            let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            by_table
                .entry(v["table"].as_str().unwrap().to_string())
                .or_default()
                .push((
                    b64(v["row_key_b64"].as_str().unwrap()),
                    v["family"].as_str().unwrap().to_string(),
                    b64(v["qualifier_b64"].as_str().unwrap()),
                    b64(v["value_b64"].as_str().unwrap_or("")),
                ));
        }
        for (table, cells) in by_table {
            client.write_cells(&table, &cells).await.unwrap();
        }
    }
}

pub(crate) async fn dynamo_client(endpoint: &str) -> DynamoClient {
    DynamoClient::connect(&DynamoOptions {
        url: Some(dynamo_url(endpoint)),
        ..Default::default()
    })
    .await
    .expect("dynamodb client")
}

/// Cortex's URL form with static (dummy) credentials: moto takes any.
pub(crate) fn dynamo_url(endpoint: &str) -> String {
    endpoint.replacen("http://", "http://testkey:testsecret@", 1)
}

pub(crate) async fn load_dynamo_case(client: &DynamoClient, case: &Path) {
    let tables: serde_json::Value =
        serde_json::from_slice(&std::fs::read(case.join("index/tables.json")).unwrap()).unwrap();
    let names: Vec<String> = match tables.get("tables") {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|t| {
                t.get("table")
                    .or(t.get("name"))
                    .and_then(|n| n.as_str())
                    .map_or_else(|| t.as_str().unwrap().to_string(), str::to_string)
            })
            .collect(),
        _ => panic!("tables.json: {tables}"),
    };
    for t in &names {
        client.create_index_table(t).await.unwrap();
    }
    for f in std::fs::read_dir(case.join("index")).unwrap() {
        let path = f.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        let mut by_table: BTreeMap<String, Vec<ItemWrite>> = BTreeMap::new();
        for line in std::io::BufReader::new(std::fs::File::open(&path).unwrap()).lines() {
            let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            by_table
                .entry(v["table"].as_str().unwrap().to_string())
                .or_default()
                .push((
                    v["h"].as_str().unwrap().to_string(),
                    b64(v["r_b64"].as_str().unwrap()),
                    v.get("c_b64").and_then(|c| c.as_str()).map(b64),
                ));
        }
        for (table, items) in by_table {
            client.put_items(&table, &items).await.unwrap();
        }
    }
}

/// Writes generated entries into Bigtable tables (created as needed) in `layout`.
pub(crate) async fn load_bigtable_entries(
    client: &BigtableClient,
    layout: BigtableLayout,
    entries: &[IndexEntry],
) {
    let mut by_table: BTreeMap<&str, Vec<CellWrite>> = BTreeMap::new();
    for e in entries {
        let (row, q) = bigtable_cell(layout, &e.hash, &e.range);
        by_table
            .entry(&e.table)
            .or_default()
            .push((row, "f".into(), q, e.value.clone()));
    }
    let existing = client.list_tables().await.unwrap();
    for (table, cells) in by_table {
        if !existing.iter().any(|t| t == table) {
            client.create_table(table, &["f"]).await.unwrap();
        }
        client.write_cells(table, &cells).await.unwrap();
    }
}

pub(crate) async fn load_dynamo_entries(client: &DynamoClient, entries: &[IndexEntry]) {
    let mut by_table: BTreeMap<&str, Vec<ItemWrite>> = BTreeMap::new();
    for e in entries {
        let value = (!e.value.is_empty()).then(|| e.value.clone());
        by_table
            .entry(&e.table)
            .or_default()
            .push((e.hash.clone(), e.range.clone(), value));
    }
    let existing = client.list_tables().await.unwrap();
    for (table, items) in by_table {
        if !existing.iter().any(|t| t == table) {
            client.create_index_table(table).await.unwrap();
        }
        client.put_items(table, &items).await.unwrap();
    }
}

/// The plans Cortex's scanner wrote for a fixture case.
pub(crate) fn expected_plans(case: &Path) -> Plans {
    let mut out = Plans::new();
    for tenant in std::fs::read_dir(case.join("plans")).unwrap() {
        let tenant = tenant.unwrap().path();
        for f in std::fs::read_dir(&tenant).unwrap() {
            let f = f.unwrap().path();
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            let Some(day) = name.strip_suffix(".plan.jsonl") else {
                continue;
            };
            let key = (
                tenant.file_name().unwrap().to_string_lossy().to_string(),
                day.parse().unwrap(),
            );
            let plan = out.entry(key).or_default();
            for line in std::io::BufReader::new(std::fs::File::open(&f).unwrap()).lines() {
                let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
                if let (Some(sid), Some(cs)) = (v.get("sid"), v.get("cs")) {
                    let set = plan.entry(sid.as_str().unwrap().to_string()).or_default();
                    set.extend(
                        cs.as_array()
                            .unwrap()
                            .iter()
                            .map(|c| c.as_str().unwrap().to_string()),
                    );
                }
            }
        }
    }
    out
}

/// Every plan under `<bucket>/<prefix>/`, read with our plan reader; also
/// checks that no series appears twice in a plan and no chunk twice in an entry.
pub(crate) fn bucket_plans(bucket_dir: &Path, prefix: &str) -> Plans {
    let mut out = Plans::new();
    let root = bucket_dir.join(prefix);
    let Ok(dirs) = std::fs::read_dir(&root) else {
        return out;
    };
    for tenant in dirs {
        let tenant = tenant.unwrap().path();
        if !tenant.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&tenant).unwrap() {
            let f = f.unwrap().path();
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            if PlanCompression::split_name(&name).is_none() {
                continue;
            }
            let mut r = PlanReader::new(
                &name,
                std::io::BufReader::new(std::fs::File::open(&f).unwrap()),
            )
            .unwrap();
            let key = (r.header().user.clone(), r.header().day_index);
            assert_eq!(
                tenant.file_name().unwrap().to_string_lossy(),
                key.0,
                "plan {name} in the wrong tenant dir"
            );
            let plan = out.entry(key).or_default();
            while let Some(e) = r.next_entry().unwrap() {
                let PlanEntry::Cortex {
                    series_id,
                    chunk_ids,
                } = e
                else {
                    panic!("not a cortex entry in {name}")
                };
                let set: BTreeSet<String> = chunk_ids.iter().cloned().collect();
                assert_eq!(
                    set.len(),
                    chunk_ids.len(),
                    "duplicate chunk IDs for {series_id} in {name}"
                );
                assert!(
                    plan.insert(series_id.clone(), set).is_none(),
                    "series {series_id} twice in {name}"
                );
            }
        }
    }
    out
}

/// Compares entry by entry, printing the first differences.
pub(crate) fn assert_same_plans(got: &Plans, want: &Plans) {
    let gk: Vec<_> = got.keys().collect();
    let wk: Vec<_> = want.keys().collect();
    assert_eq!(gk, wk, "plans (tenant, day)");
    for (k, w) in want {
        let g = &got[k];
        let gs: BTreeSet<_> = g.keys().collect();
        let ws: BTreeSet<_> = w.keys().collect();
        assert_eq!(gs, ws, "series of plan {k:?}");
        for (sid, chunks) in w {
            assert_eq!(&g[sid], chunks, "chunks of series {sid} in plan {k:?}");
        }
    }
}

pub(crate) fn scan_config(bucket_dir: &Path, work: &Path, cortex: CortexScanOptions) -> ScanConfig {
    ScanConfig {
        bucket: Bucket::local(bucket_dir).unwrap(),
        prefix: "migration".into(),
        work_dir: work.to_path_buf(),
        memory_budget: 64 << 20,
        compression: PlanCompression::Snappy,
        days: DayRange::default(),
        tenant: None,
        cortex,
        prometheus: Default::default(),
    }
}

/// Writes `schema` (a `configs:` list) plus a storage section into `dir/cfg.yaml`.
pub(crate) fn write_config(dir: &Path, schema: &str, storage: &str) -> PathBuf {
    let path = dir.join("cfg.yaml");
    std::fs::write(&path, format!("{schema}\nstorage:\n{storage}\n")).unwrap();
    path
}

pub(crate) fn bigtable_storage(instance: &str) -> String {
    format!("  bigtable:\n    project: fixture-project\n    instance: {instance}\n")
}

pub(crate) fn dynamo_storage(endpoint: &str) -> String {
    format!(
        "  aws:\n    dynamodb:\n      dynamodb_url: {}\n",
        dynamo_url(endpoint)
    )
}

pub(crate) fn plans_of(report: &ScanReport) -> usize {
    report.plans.len()
}
