//! `verify` must catch a builder whose merge is wrong. The builder's hidden
//! test hook `BLOCKSCONVERT_TEST_BREAK_DEDUP=keep-last` (see
//! `builder/src/sink.rs`) makes it keep the last of equal timestamps
//! instead of the first. A source with disagreeing duplicates is converted
//! by the real binary with the hook set, then verified with the hook set
//! too: verify must fail naming the series and the value it expected. A
//! verify that reused the builder's merge (as it once did for Cortex, with
//! `merge_same_labels` and `SeriesLoader`) would be broken the same way
//! and say OK, so this test is red unless verify's reference is its own.
//! Each case first converts the same source without the hook, so the data
//! itself is known to verify OK.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cortex::{ChunkMetadata, Encoding};
use protocol::names::PlanId;
use protocol::plan::{PlanCompression, PlanEntry, PlanHeader, PlanWriter};

const BIN: &str = env!("CARGO_BIN_EXE_blocksconvert");
const HOOK: &str = "BLOCKSCONVERT_TEST_BREAK_DEDUP";
const DAY: i32 = 20_000;
const DAY_MS: i64 = 86_400_000;
const TENANT: &str = "team-a";

fn blocksconvert(args: &[&str], broken: bool) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove(HOOK);
    if broken {
        cmd.env(HOOK, "keep-last");
    }
    cmd.output().expect("running blocksconvert")
}

fn ok(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A Cortex filesystem chunk store holding one series as two chunks that
/// overlap in 5 timestamps with other values (a replica that disagrees),
/// and the plan listing both. Returns the config's path.
fn cortex_store(root: &Path, bucket: &Path) -> PathBuf {
    let chunks = root.join("chunks");
    std::fs::create_dir_all(&chunks).unwrap();
    let metric = vec![
        ("__name__".to_string(), "up".to_string()),
        ("job".to_string(), "node".to_string()),
    ];
    let start = i64::from(DAY) * DAY_MS + 3_600_000;
    let mut ids = Vec::new();
    // Chunk A: minutes 0..10, values 0..10. Chunk B: minutes 5..15, values
    // 100 + minute. A starts first, so at minutes 5..10 its values win.
    for (first, offset) in [(0i64, 0.0), (5, 100.0)] {
        let samples: Vec<(i64, f64)> = (first..first + 10)
            .map(|m| (start + m * 60_000, offset + m as f64))
            .collect();
        let data = cortex::encoding::encode(Encoding::Bigchunk, &samples)
            .unwrap()
            .remove(0);
        let meta = ChunkMetadata {
            fingerprint: 42,
            user_id: TENANT.into(),
            from: samples[0].0,
            through: samples[samples.len() - 1].0,
            metric: metric.clone(),
            encoding: Encoding::Bigchunk,
        };
        let (key, bytes) = cortex_testgen::encode_object(&meta, &data);
        std::fs::write(chunks.join(key.filesystem_name()), bytes).unwrap();
        ids.push(key.external_key());
    }
    let id = PlanId {
        tenant: TENANT.into(),
        day: DAY,
    };
    let plan = bucket.join(id.plan_key("migration", PlanCompression::Snappy));
    std::fs::create_dir_all(plan.parent().unwrap()).unwrap();
    let header = PlanHeader {
        user: TENANT.into(),
        day_index: DAY,
        source: None,
    };
    let mut w = PlanWriter::new(
        File::create(&plan).unwrap(),
        PlanCompression::Snappy,
        &header,
    )
    .unwrap();
    w.write_entry(&PlanEntry::Cortex {
        series_id: "series-1".into(),
        chunk_ids: ids,
    })
    .unwrap();
    w.finish().unwrap().sync_all().unwrap();
    std::fs::write(bucket.join("migration/scan-complete"), b"").unwrap();
    let config = root.join("cortex.yaml");
    std::fs::write(
        &config,
        format!(
            "schema:\n  configs:\n  - from: 2024-09-01\n    store: bigtable-hashed\n    object_store: filesystem\n    schema: v11\n    index: {{prefix: index_, period: 168h}}\n    chunks: {{prefix: chunks_, period: 168h}}\nstorage:\n  filesystem:\n    directory: {}\n",
            chunks.display()
        ),
    )
    .unwrap();
    config
}

/// Builds the Cortex store's plan and verifies it, both with or without
/// the hook; returns verify's output.
fn cortex_case(broken: bool) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("bucket");
    let config = cortex_store(dir.path(), &bucket);
    let source = format!("cortex:{}", config.display());
    let work = dir.path().join("work");
    let common = [
        "--bucket",
        bucket.to_str().unwrap(),
        "--source",
        &source,
        "--work-dir",
        work.to_str().unwrap(),
    ];
    let mut build = vec!["build", "--once", "--poll-interval", "50ms"];
    build.extend(common);
    ok(&blocksconvert(&build, broken), "build");
    if testkit::promtool::available_or_skip() {
        assert!(testkit::promtool::analyze_bucket(&bucket).unwrap() > 0);
    }
    let mut verify = vec!["verify"];
    verify.extend(common);
    blocksconvert(&verify, broken)
}

#[test]
fn cortex_keep_last_merge_is_caught() {
    let good = cortex_case(false);
    let out = ok(&good, "verify of a correct build");
    assert!(out.contains("verify: OK"), "{out}");

    let bad = cortex_case(true);
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(!bad.status.success(), "verify must fail:\n{out}");
    // Minute 5 of chunk A (value 5) must win over chunk B's 105.
    assert!(
        out.contains(r#"{__name__="up", job="node"}"#) && out.contains("expected 5 "),
        "{out}"
    );
    assert!(out.contains("block has 105"), "{out}");
}

/// Runs an OpenMetrics file with a disagreeing duplicate through `run`
/// and verifies it, both with or without the hook.
fn openmetrics_case(broken: bool) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("dup.om");
    let t = i64::from(DAY) * 86_400 + 3_600;
    std::fs::write(
        &input,
        format!(
            "# TYPE up gauge\nup{{job=\"a\"}} 1 {t}\nup{{job=\"a\"}} 2 {t}\nup{{job=\"a\"}} 3 {}\n# EOF\n",
            t + 60
        ),
    )
    .unwrap();
    let bucket = dir.path().join("bucket");
    let work = dir.path().join("work");
    let source = format!("openmetrics:{}", input.display());
    let common = [
        "--bucket",
        bucket.to_str().unwrap(),
        "--source",
        &source,
        "--tenant",
        TENANT,
        "--work-dir",
        work.to_str().unwrap(),
    ];
    let mut run = vec!["run"];
    run.extend(common);
    ok(&blocksconvert(&run, broken), "run");
    if testkit::promtool::available_or_skip() {
        assert!(testkit::promtool::analyze_bucket(&bucket).unwrap() > 0);
    }
    let mut verify = vec!["verify"];
    verify.extend(common);
    blocksconvert(&verify, broken)
}

#[test]
fn openmetrics_keep_last_dedup_is_caught() {
    let good = openmetrics_case(false);
    let out = ok(&good, "verify of a correct build");
    assert!(out.contains("verify: OK"), "{out}");

    let bad = openmetrics_case(true);
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(!bad.status.success(), "verify must fail:\n{out}");
    assert!(
        out.contains(r#"{__name__="up", job="a"}"#)
            && out.contains("expected 1 ")
            && out.contains("block has 2 "),
        "{out}"
    );
}
