//! Golden tests on real Cortex data (testdata/cortex/, see its README):
//! every case's own plans, written by Cortex's scanner, are built by the
//! real binary from the case's chunk objects, and `promtool tsdb dump` of
//! each block, sorted bytewise, must have exactly the line count and
//! sha256 of the dump of the block Cortex's own builder wrote. Then
//! `verify` must find the blocks equal to the chunk store.
//!
//! The S3 case's objects are files named by the base64 of their keys, the
//! filesystem store's naming, so it is read through the filesystem store.

#[path = "support/blocks.rs"]
mod blocks;
#[path = "support/golden.rs"]
mod golden;

use std::path::{Path, PathBuf};
use std::process::Command;

use golden::assert_golden_dumps;
use testkit::promtool;

const BIN: &str = env!("CARGO_BIN_EXE_blocksconvert");

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

    assert_golden_dumps(
        &name,
        &bucket,
        &case.join("expected/dumps.json"),
        &tmp.path().join("db"),
    );

    let mut verify = vec!["verify"];
    verify.extend(&common);
    // Exit status 0 only when nothing differs.
    run_ok(&verify);
}

#[test]
fn cortex_cases_match_cortex_builder_dumps() {
    if !promtool::available_or_skip() {
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
