//! Golden tests on real Cortex data (testdata/cortex/, see its README):
//! every case's own plans, written by Cortex's scanner, are built by the
//! real binary from the case's chunk objects, and `promtool tsdb dump` of
//! each block, sorted bytewise, must have exactly the line count and
//! sha256 of the dump of the block Cortex's own builder wrote. Then
//! `verify` must find the blocks equal to the chunk store.
//!
//! The S3 case's objects are files named by the base64 of their keys, the
//! filesystem store's naming, so it is read through the filesystem store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use base::DAY_MS;
use sha2::{Digest, Sha256};
use testkit::promtool;

const BIN: &str = env!("CARGO_BIN_EXE_blocksconvert");

fn promtool_or_skip() -> bool {
    if promtool::available() {
        return true;
    }
    assert!(
        std::env::var_os("BLOCKSCONVERT_TEST_REQUIRE_TOOLS").is_none(),
        "promtool is required (run scripts/install-test-deps.sh)"
    );
    eprintln!("skipping: promtool not installed");
    false
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/cortex")
}

fn run_ok(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("running blocksconvert");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "blocksconvert {args:?} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A bucket holding the case's plans under `migration/`, scan complete.
fn bucket_with_plans(case: &Path, bucket: &Path) {
    let plans = case.join("plans");
    for tenant in std::fs::read_dir(&plans).unwrap() {
        let tenant = tenant.unwrap();
        let dest = bucket.join("migration").join(tenant.file_name());
        std::fs::create_dir_all(&dest).unwrap();
        for f in std::fs::read_dir(tenant.path()).unwrap() {
            let f = f.unwrap();
            let name = f.file_name().to_string_lossy().into_owned();
            if name.ends_with(".plan.snappy") {
                std::fs::copy(f.path(), dest.join(&name)).unwrap();
            }
        }
    }
    std::fs::write(bucket.join("migration/scan-complete"), b"").unwrap();
}

/// The case's schema with its chunks read from the filesystem store.
fn write_config(case: &Path, out: &Path) -> PathBuf {
    let schema = std::fs::read_to_string(case.join("schema.yaml")).unwrap();
    let schema = schema.replace("object_store: s3", "object_store: filesystem");
    assert!(schema.contains("object_store: filesystem"), "{schema}");
    let path = out.join("cortex.yaml");
    std::fs::write(&path, schema).unwrap();
    path
}

/// Sorted dump of one block: (lines, sha256 of the text).
fn sorted_dump(block: &Path, scratch: &Path) -> (usize, String) {
    let db = scratch.join("db");
    let _ = std::fs::remove_dir_all(&db);
    let copy = db.join(block.file_name().unwrap());
    testkit::files::copy_dir(block, &copy).expect("copying a tree");
    let mut lines = promtool::dump_lines(&db, i64::MIN / 2, i64::MAX / 2).unwrap();
    lines.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut h = Sha256::new();
    for l in &lines {
        h.update(l.as_bytes());
        h.update(b"\n");
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    (lines.len(), hex)
}

/// (tenant, day) -> block dir, from the bucket's meta.json files.
fn blocks_in(bucket: &Path) -> BTreeMap<(String, String), (PathBuf, serde_json::Value)> {
    let mut out = BTreeMap::new();
    for tenant in std::fs::read_dir(bucket).unwrap() {
        let tenant = tenant.unwrap();
        let name = tenant.file_name().to_string_lossy().into_owned();
        if name == "migration" || !tenant.file_type().unwrap().is_dir() {
            continue;
        }
        for b in std::fs::read_dir(tenant.path()).unwrap() {
            let b = b.unwrap().path();
            let Ok(meta) = std::fs::read(b.join("meta.json")) else {
                continue;
            };
            let meta: serde_json::Value = serde_json::from_slice(&meta).unwrap();
            let day = meta["minTime"].as_i64().unwrap() / DAY_MS;
            let prev = out.insert((name.clone(), day.to_string()), (b.clone(), meta));
            assert!(prev.is_none(), "two blocks for {name} day {day}");
        }
    }
    out
}

fn check_case(case: &Path) {
    let name = case.file_name().unwrap().to_string_lossy().into_owned();
    let tmp = tempfile::tempdir().unwrap();
    let bucket = tmp.path().join("bucket");
    let work = tmp.path().join("work");
    bucket_with_plans(case, &bucket);
    let config = write_config(case, tmp.path());
    let source = format!("cortex:{}", config.display());
    let chunks = case.join("chunks");
    let common: Vec<&str> = vec![
        "--bucket",
        bucket.to_str().unwrap(),
        "--source",
        &source,
        "--chunks-dir",
        chunks.to_str().unwrap(),
        "--work-dir",
        work.to_str().unwrap(),
    ];
    let mut build = vec![
        "build",
        "--once",
        "--poll-interval",
        "50ms",
        "--concurrency",
        "8",
    ];
    build.extend(&common);
    run_ok(&build);

    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(case.join("expected/dumps.json")).unwrap()).unwrap();
    let blocks = blocks_in(&bucket);
    let mut want = BTreeMap::new();
    for (tenant, days) in expected.as_object().unwrap() {
        for (day, e) in days.as_object().unwrap() {
            want.insert((tenant.clone(), day.clone()), e.clone());
        }
    }
    assert_eq!(
        blocks.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{name}: blocks per tenant and day"
    );
    for (k, (dir, meta)) in &blocks {
        let e = &want[k];
        let (lines, sha) = sorted_dump(dir, tmp.path());
        assert_eq!(
            lines as u64,
            e["lines"].as_u64().unwrap(),
            "{name} {k:?}: dump lines"
        );
        assert_eq!(
            sha,
            e["sha256"].as_str().unwrap(),
            "{name} {k:?}: dump sha256"
        );
        for stat in ["numSeries", "numSamples", "numChunks"] {
            assert_eq!(
                meta["stats"][stat], e["stats"][stat],
                "{name} {k:?}: {stat}"
            );
        }
        let analyze = promtool::analyze(
            &tmp.path().join("db"),
            dir.file_name().unwrap().to_str().unwrap(),
        );
        assert!(
            analyze.is_ok(),
            "{name} {k:?}: promtool analyze: {analyze:?}"
        );
    }

    let mut verify = vec!["verify"];
    verify.extend(&common);
    // Exit status 0 only when nothing differs.
    run_ok(&verify);
}

#[test]
fn cortex_cases_match_cortex_builder_dumps() {
    if !promtool_or_skip() {
        return;
    }
    let mut cases: Vec<PathBuf> = std::fs::read_dir(testdata())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expected/dumps.json").is_file())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 6, "cases in {}", testdata().display());
    for case in &cases {
        check_case(case);
    }
}
