//! OpenMetrics to daily blocks through the real binary, judged by promtool.
//!
//! The input crosses a UTC midnight, holds NaN, ±Inf, counter resets,
//! irregular intervals, unicode and escaped label values, repeated samples,
//! and comes in shuffled line order. The blocks must pass `promtool tsdb
//! analyze`, and `promtool tsdb dump` must print exactly the input,
//! deduplicated (first occurrence kept).

use std::path::{Path, PathBuf};
use std::process::Command;

use base::DAY_MS;
use testkit::openmetrics::{generate, to_openmetrics, GenOptions, Rng};
use testkit::promtool;

const BIN: &str = env!("CARGO_BIN_EXE_blocksconvert");
/// 2026-11-16T00:00Z.
const DAY0: i64 = 20_773 * DAY_MS;

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

/// Expected samples per (series text, timestamp): the first value written.
type Expected = promtool::SampleMap;

/// Writes the test input: generated series, plus a repeated sample with a
/// different value after its original, lines shuffled, `# EOF` last.
fn write_input(dir: &Path, seed: u64) -> (PathBuf, Expected) {
    let series = generate(&GenOptions {
        series: 300,
        max_samples: 400,
        // 23:00 to 01:00: most series cross midnight.
        start: DAY0 + 23 * 3_600_000,
        span: 2 * 3_600_000,
        stale_markers: false,
        seed,
    });
    let text = to_openmetrics(&series).unwrap();
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let mut rng = Rng::new(seed);
    for i in (1..lines.len()).rev() {
        lines.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut expected = Expected::new();
    for s in &series {
        for &(t, v) in &s.samples {
            expected.insert((s.labels_text(), t), v.to_bits());
        }
    }
    // A replica's copy of some samples with other values, after the originals.
    let mut body = lines.join("\n");
    let dup_of: Vec<String> = lines.iter().take(50).map(|l| l.to_string()).collect();
    for l in dup_of {
        let mut parts = l.rsplitn(3, ' ');
        let (ts, _, series) = (parts.next().unwrap(), parts.next(), parts.next().unwrap());
        body.push_str(&format!("\n{series} 424242 {ts}"));
    }
    body.push_str("\n# EOF\n");
    let path = dir.join("input.om");
    std::fs::write(&path, body).unwrap();
    (path, expected)
}

fn assert_blocks_match(tenant_dir: &Path, expected: &Expected) {
    let mut blocks: Vec<String> = std::fs::read_dir(tenant_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 26)
        .collect();
    blocks.sort();
    assert_eq!(blocks.len(), 2, "one block per UTC day, got {blocks:?}");
    for b in &blocks {
        let report = promtool::analyze(tenant_dir, b).unwrap();
        assert!(report.contains("Duration: 24h0m0s"), "{report}");
    }
    // promtool writes wal/ and chunks_head/ into the dir it dumps: copy.
    let scratch = tempfile::tempdir().unwrap();
    for b in &blocks {
        testkit::files::copy_dir(&tenant_dir.join(b), &scratch.path().join(b))
            .expect("copying a tree");
    }
    let got = promtool::dump_samples(scratch.path(), DAY0 - DAY_MS, DAY0 + 3 * DAY_MS).unwrap();
    promtool::assert_same_samples(&got, expected);
}

#[test]
fn run_converts_and_promtool_agrees() {
    if !promtool_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (input, expected) = write_input(dir.path(), 11);
    let bucket = dir.path().join("bucket");
    let src = format!("openmetrics:{}", input.display());
    let out = run_ok(&[
        "run",
        "--source",
        &src,
        "--tenant",
        "team_b.prod",
        "--bucket",
        bucket.to_str().unwrap(),
        "--work-dir",
        dir.path().join("work").to_str().unwrap(),
        // Tiny budget: the sort must spill and merge runs.
        "--memory-budget",
        "1MiB",
        "--builders",
        "2",
    ]);
    assert!(
        out.contains("plans finished                          2"),
        "{out}"
    );
    assert!(
        out.contains("duplicates dropped                     50"),
        "{out}"
    );
    assert_blocks_match(&bucket.join("team_b.prod"), &expected);

    let verify = run_ok(&[
        "verify",
        "--bucket",
        bucket.to_str().unwrap(),
        "--source",
        &src,
        "--tenant",
        "team_b.prod",
    ]);
    assert!(verify.contains("verify: OK"), "{verify}");
    // Plans are finished and staged samples are gone.
    let plans: Vec<String> = std::fs::read_dir(bucket.join("migration/team_b.prod"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        plans.iter().filter(|p| p.contains(".finished.")).count(),
        2,
        "{plans:?}"
    );
    assert!(
        !plans
            .iter()
            .any(|p| p.ends_with(".staged") || p.ends_with(".progress")),
        "{plans:?}"
    );
}

#[test]
fn scan_and_build_in_separate_processes() {
    if !promtool_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (input, expected) = write_input(dir.path(), 12);
    let bucket = dir.path().join("bucket");
    let src = format!("openmetrics:{}", input.display());
    let b = bucket.to_str().unwrap();
    run_ok(&[
        "scan",
        "--source",
        &src,
        "--tenant",
        "t1",
        "--bucket",
        b,
        "--plan-compression",
        "gzip",
    ]);
    assert!(bucket.join("migration/t1").exists());
    assert!(bucket.join("migration/scan-complete").exists());
    run_ok(&["build", "--bucket", b, "--once"]);
    assert_blocks_match(&bucket.join("t1"), &expected);
    // A second scan of the same file is a no-op: the unit is marked scanned.
    let again = run_ok(&["scan", "--source", &src, "--tenant", "t1", "--bucket", b]);
    assert!(again.contains("was scanned before"), "{again}");
}

#[test]
fn verify_reports_a_changed_sample() {
    let dir = tempfile::tempdir().unwrap();
    let (input, _) = write_input(dir.path(), 13);
    let bucket = dir.path().join("bucket");
    let b = bucket.to_str().unwrap();
    let src = format!("openmetrics:{}", input.display());
    run_ok(&["run", "--source", &src, "--tenant", "t", "--bucket", b]);
    // Change one value in the source: verify must fail and name it.
    let text = std::fs::read_to_string(&input).unwrap();
    let first = text.lines().next().unwrap().to_string();
    let mut parts = first.rsplitn(3, ' ');
    let (ts, _, series) = (parts.next().unwrap(), parts.next(), parts.next().unwrap());
    let changed = text.replacen(&first, &format!("{series} 777 {ts}"), 1);
    std::fs::write(&input, changed).unwrap();
    let out = Command::new(BIN)
        .args(["verify", "--bucket", b, "--source", &src, "--tenant", "t"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("MISMATCH") && stdout.contains("expected 777"),
        "{stdout}"
    );
}

#[test]
fn bad_line_is_reported_with_its_number() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.om");
    std::fs::write(
        &input,
        "up{job=\"a\"} 1 1700000000\nup{job=\"a\" 2 1700000060\n# EOF\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([
            "scan",
            "--source",
            &format!("openmetrics:{}", input.display()),
            "--tenant",
            "t",
            "--bucket",
            dir.path().join("bucket").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("line 2"), "{stderr}");
    assert!(stderr.contains("bad.om"), "{stderr}");
}
