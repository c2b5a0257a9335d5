//! End to end from a Cortex index in a Bigtable emulator: a fixture case's
//! index is loaded into `cbtemulator`, its chunks stay in the case's
//! filesystem store, and `blocksconvert run --source cortex:cfg.yaml`
//! scans, plans and builds. Every block must pass `promtool tsdb analyze`
//! and dump exactly what Cortex's own builder's block dumped (line count
//! and sha256 of the sorted dump), i.e. the generated samples, deduplicated.
//! Beside it, the chunk-table reader (`fetch_chunks`) against the emulator.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;

use base::DAY_MS;
use base64::Engine as _;
use cortex::bigtable::{BigtableClient, BigtableOptions};
use cortex_testgen::{BigtableLoad, CellWrite};
use sha2::{Digest, Sha256};
use testkit::{emulators, promtool};

const BIN: &str = env!("CARGO_BIN_EXE_blocksconvert");

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

async fn load(host: &str, case: &Path) {
    let mut o = BigtableOptions::new("fixture-project", "fixture-instance");
    o.emulator_host = Some(host.to_string());
    let client = BigtableClient::connect(&o).unwrap();
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
                .entry(v["table"].as_str().unwrap().into())
                .or_default()
                .push((
                    b64(v["row_key_b64"].as_str().unwrap()),
                    v["family"].as_str().unwrap().into(),
                    b64(v["qualifier_b64"].as_str().unwrap()),
                    b64(v["value_b64"].as_str().unwrap_or("")),
                ));
        }
        for (t, cells) in by_table {
            client.write_cells(&t, &cells).await.unwrap();
        }
    }
}

fn sorted_dump(block: &Path, scratch: &Path) -> (usize, String) {
    let db = scratch.join("db");
    let _ = std::fs::remove_dir_all(&db);
    let copy = db.join(block.file_name().unwrap());
    std::fs::create_dir_all(copy.join("chunks")).unwrap();
    for rel in ["index", "meta.json"] {
        std::fs::copy(block.join(rel), copy.join(rel)).unwrap();
    }
    for c in std::fs::read_dir(block.join("chunks")).unwrap() {
        let c = c.unwrap();
        std::fs::copy(c.path(), copy.join("chunks").join(c.file_name())).unwrap();
    }
    let analyze = promtool::analyze(&db, block.file_name().unwrap().to_str().unwrap());
    assert!(
        analyze.is_ok(),
        "promtool analyze {}: {analyze:?}",
        block.display()
    );
    let mut lines = promtool::dump_lines(&db, i64::MIN / 2, i64::MAX / 2).unwrap();
    lines.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut h = Sha256::new();
    for l in &lines {
        h.update(l.as_bytes());
        h.update(b"\n");
    }
    (
        lines.len(),
        h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
    )
}

/// Writes every chunk object of the case into the Bigtable chunk table of
/// its start (`chunks_<week>`, row = external key, cell `f:c`), as Cortex
/// did when `object_store` was empty. Each row also gets a cell `f:a` of
/// junk, which the reader must pass over: it asks for whole rows, and `a`
/// comes before `c`.
async fn load_chunks(host: &str, case: &Path) {
    let mut o = BigtableOptions::new("fixture-project", "fixture-instance");
    o.emulator_host = Some(host.to_string());
    let client = BigtableClient::connect(&o).unwrap();
    let mut by_table: BTreeMap<String, Vec<CellWrite>> = BTreeMap::new();
    for f in std::fs::read_dir(case.join("chunks")).unwrap() {
        let f = f.unwrap();
        let name = f.file_name().to_string_lossy().into_owned();
        let key = cortex::external_key_from_filesystem_name(&name).unwrap();
        let from_hex = key.split(':').nth(1).unwrap();
        let from_ms = i64::from_str_radix(from_hex, 16).unwrap();
        let table = format!("chunks_{}", from_ms / 1000 / 604_800);
        let cells = by_table.entry(table).or_default();
        cells.push((
            key.clone().into_bytes(),
            "f".into(),
            b"c".to_vec(),
            std::fs::read(f.path()).unwrap(),
        ));
        cells.push((
            key.into_bytes(),
            "f".into(),
            b"a".to_vec(),
            b"junk".to_vec(),
        ));
    }
    for (t, cells) in by_table {
        client.write_cells(&t, &cells).await.unwrap();
    }
}

/// Runs `blocksconvert run` on a config and checks every block against the
/// dumps of Cortex's own builder.
fn run_and_compare(emulator: &str, case: &Path, storage: &str, drop_object_store: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = tmp.path().join("bucket");
    std::fs::create_dir_all(&bucket).unwrap();
    let mut schema = std::fs::read_to_string(case.join("schema.yaml")).unwrap();
    if drop_object_store {
        schema = schema
            .lines()
            .filter(|l| !l.trim_start().starts_with("object_store:"))
            .collect::<Vec<_>>()
            .join("\n");
    }
    let cfg = tmp.path().join("cfg.yaml");
    std::fs::write(&cfg, format!("{schema}\nstorage:\n{storage}")).unwrap();
    let out = Command::new(BIN)
        .env("BIGTABLE_EMULATOR_HOST", emulator)
        .args([
            "run",
            "--source",
            &format!("cortex:{}", cfg.display()),
            "--bucket",
            bucket.to_str().unwrap(),
        ])
        .args([
            "--work-dir",
            tmp.path().join("work").to_str().unwrap(),
            "--builders",
            "2",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "run failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(case.join("expected/dumps.json")).unwrap()).unwrap();
    let mut seen = 0;
    for tenant in std::fs::read_dir(&bucket).unwrap() {
        let tenant = tenant.unwrap();
        let name = tenant.file_name().to_string_lossy().into_owned();
        if name == "migration" {
            continue;
        }
        for b in std::fs::read_dir(tenant.path()).unwrap() {
            let b = b.unwrap().path();
            let meta: serde_json::Value =
                serde_json::from_slice(&std::fs::read(b.join("meta.json")).unwrap()).unwrap();
            let day = (meta["minTime"].as_i64().unwrap() / DAY_MS).to_string();
            let want = &expected[&name][&day];
            let (lines, sha) = sorted_dump(&b, tmp.path());
            assert_eq!(
                lines as u64,
                want["lines"].as_u64().unwrap(),
                "{name} {day}: dump lines"
            );
            assert_eq!(
                sha,
                want["sha256"].as_str().unwrap(),
                "{name} {day}: dump sha256"
            );
            seen += 1;
        }
    }
    let want_blocks: usize = expected
        .as_object()
        .unwrap()
        .values()
        .map(|d| d.as_object().unwrap().len())
        .sum();
    assert_eq!(seen, want_blocks, "blocks");
}

fn tools_or_skip() -> bool {
    if !promtool::available() {
        assert!(!emulators::tools_required(), "promtool is required");
        eprintln!("skipping: promtool not installed");
        return false;
    }
    true
}

fn case(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/cortex")
        .join(name)
}

#[test]
fn run_from_bigtable_index_matches_cortex_blocks() {
    if !tools_or_skip() {
        return;
    }
    let Some(em) = emulators::bigtable().unwrap() else {
        return;
    };
    let case = case("v11-hashed-bigchunk");
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(load(&em.addr, &case));
    let storage = format!(
        "  bigtable:\n    project: fixture-project\n    instance: fixture-instance\n  filesystem:\n    directory: {}\n",
        case.join("chunks").display()
    );
    run_and_compare(&em.addr, &case, &storage, false);
}

/// Chunks in Bigtable's own chunk tables (`object_store` unset), the layout
/// of the oldest Cortex clusters.
#[test]
fn run_with_chunks_in_bigtable_chunk_tables() {
    if !tools_or_skip() {
        return;
    }
    let Some(em) = emulators::bigtable().unwrap() else {
        return;
    };
    let case = case("v9-bigtable-doubledelta");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        load(&em.addr, &case).await;
        load_chunks(&em.addr, &case).await;
    });
    let storage = "  bigtable:\n    project: fixture-project\n    instance: fixture-instance\n";
    run_and_compare(&em.addr, &case, storage, true);
}

/// `fetch_chunks` of more keys than one request takes, with a key asked
/// twice, a key without a row, and rows holding a cell besides `f:c`:
/// every answer lands on its key.
#[test]
fn fetch_chunks_answers_every_key() {
    let Some(em) = emulators::bigtable().unwrap() else {
        return;
    };
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut o = BigtableOptions::new("p", "i");
        o.emulator_host = Some(em.addr.clone());
        let client = BigtableClient::connect(&o).unwrap();
        let table = "chunks_2857";
        client.create_table(table, &["f"]).await.unwrap();
        let n = 2 * cortex::bigtable::CHUNK_BATCH + 37;
        let key = |i: usize| format!("u/{i:x}:1:2:3");
        let mut cells: Vec<CellWrite> = Vec::new();
        for i in 0..n {
            let value = format!("object {i}").repeat(1 + i % 300).into_bytes();
            cells.push((key(i).into_bytes(), "f".into(), b"c".to_vec(), value));
            cells.push((
                key(i).into_bytes(),
                "f".into(),
                b"a".to_vec(),
                b"x".to_vec(),
            ));
        }
        client.write_cells(table, &cells).await.unwrap();
        let mut keys: Vec<String> = (0..n).rev().map(key).collect();
        keys.push("u/missing:1:2:3".into());
        keys.push(keys[5].clone());
        let got = client.fetch_chunks(table, &keys).await.unwrap();
        assert_eq!(got.len(), keys.len());
        for (i, (k, v)) in keys.iter().zip(&got).enumerate() {
            let want = (0..n)
                .find(|&j| &key(j) == k)
                .map(|j| format!("object {j}").repeat(1 + j % 300).into_bytes());
            assert_eq!(v, &want, "key {i}: {k}");
        }
        assert!(got[n].is_none(), "the missing key");
    });
}
