//! Prometheus sources end to end, judged by promtool and a real Prometheus.
//!
//! - A data directory that a real `prometheus` server compacted from
//!   promtool-made blocks into multi-day, non-day-aligned blocks, with a WAL
//!   and head chunks left behind: converting it gives exactly its input.
//! - Two overlapping replicas made by promtool with a `replica` label,
//!   converted with `--drop-label replica`: the daily blocks dump as the
//!   union without duplicates (first replica's value kept), and a real
//!   Prometheus over our output answers range queries exactly like one over
//!   the same samples converted by promtool.
//!
//! Every server binds 127.0.0.1 on a free port and is killed on drop. Tests
//! skip without promtool/prometheus unless BLOCKSCONVERT_TEST_REQUIRE_TOOLS
//! is set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base::DAY_MS;
use testkit::openmetrics::{generate, to_openmetrics, GenOptions, TestSeries};
use testkit::prometheus::{tools_or_skip, Prometheus, NO_SCRAPES};
use testkit::promtool;

const BIN: &str = env!("CARGO_BIN_EXE_blocksconvert");
const H: i64 = 3_600_000;
/// 2026-11-16T00:00Z.
const DAY0: i64 = 20_773 * DAY_MS;

fn run_ok(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("running blocksconvert");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "blocksconvert {args:?} failed: {}\n{stdout}\n{stderr}",
        out.status
    );
    stdout + &stderr
}

/// OpenMetrics for promtool: one family per name, in one piece.
fn openmetrics(series: &mut [TestSeries]) -> String {
    series.sort_by_key(|s| {
        (
            s.labels
                .iter()
                .find(|(n, _)| n == "__name__")
                .map(|(_, v)| v.clone()),
            s.labels_text(),
        )
    });
    to_openmetrics(series).unwrap()
}

/// `generate` keeps samples seconds apart; spread them `factor` times
/// wider from `start`, on whole seconds (which promtool reads back exactly).
fn stretch(series: Vec<TestSeries>, start: i64, factor: i64) -> Vec<TestSeries> {
    series
        .into_iter()
        .map(|mut s| {
            for x in &mut s.samples {
                x.0 = start + (x.0 - start) * factor / 1000 * 1000;
            }
            s.samples.dedup_by_key(|x| x.0);
            s
        })
        .collect()
}

type Expected = promtool::SampleMap;

fn expected_of(series: &[TestSeries]) -> Expected {
    let mut e = Expected::new();
    for s in series {
        for &(t, v) in &s.samples {
            e.entry((s.labels_text(), t)).or_insert(v.to_bits());
        }
    }
    e
}

fn block_dirs(dir: &Path) -> Vec<PathBuf> {
    testkit::files::block_dirs(dir).expect("listing blocks")
}

fn meta(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap()
}

/// Our daily blocks of `tenant_dir`, dumped by promtool from a scratch copy,
/// must hold exactly `expected`; each must pass `promtool tsdb analyze`.
fn assert_blocks_hold(tenant_dir: &Path, expected: &Expected, days: usize) {
    let blocks = block_dirs(tenant_dir);
    assert_eq!(blocks.len(), days, "one block per UTC day: {blocks:?}");
    let scratch = tempfile::tempdir().unwrap();
    for b in &blocks {
        let m = meta(b);
        let (min, max) = (
            m["minTime"].as_i64().unwrap(),
            m["maxTime"].as_i64().unwrap(),
        );
        assert_eq!((min % DAY_MS, max - min), (0, DAY_MS), "{}", b.display());
        let name = b.file_name().unwrap();
        testkit::files::copy_dir(b, &scratch.path().join(name)).expect("copying a tree");
        promtool::analyze(tenant_dir, name.to_str().unwrap()).unwrap();
    }
    let got = promtool::dump_samples(scratch.path(), i64::MIN / 2, i64::MAX / 2).unwrap();
    promtool::assert_same_samples(&got, expected);
}

const SELF_SCRAPE: &str = "global:\n  scrape_interval: 250ms\n  scrape_timeout: 200ms\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:PORT']\n";

#[test]
fn data_dir_compacted_by_prometheus_converts_to_its_input() {
    if !tools_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Four and a half days from 07:00, irregular samples, NaN and infinities.
    // About 75 minutes of samples per series, spread to about 4.5 days.
    let series = generate(&GenOptions {
        series: 40,
        max_samples: 300,
        start: DAY0 + 7 * H,
        span: 4 * DAY_MS + 12 * H,
        stale_markers: false,
        seed: 61,
    });
    let mut series = stretch(series, DAY0 + 7 * H, 90);
    series
        .iter_mut()
        .for_each(|s| s.samples.retain(|&(t, _)| t < DAY0 + 4 * DAY_MS + 19 * H));
    let input = dir.path().join("input.om");
    std::fs::write(&input, openmetrics(&mut series)).unwrap();
    let expected = expected_of(&series);
    let data = dir.path().join("data");
    let made = promtool::create_blocks_from_openmetrics(&input, &data).unwrap();
    assert!(made.len() > 10, "promtool makes 2h blocks: {made:?}");

    // Ranges 2h, 6h, 18h, 54h: the first compaction (a minute after start)
    // merges the 2h blocks up to 54h blocks, aligned to multiples of 54h
    // since the epoch, so not to days. It scrapes itself meanwhile, so a
    // WAL and head chunks are left behind.
    let prom = Prometheus::start(
        &data,
        SELF_SCRAPE,
        &[
            "--storage.tsdb.min-block-duration=2h",
            "--storage.tsdb.max-block-duration=54h",
        ],
    )
    .expect("starting prometheus");
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        let long = block_dirs(&data).iter().any(|b| {
            // Prometheus deletes the blocks it compacted away meanwhile:
            // one listed a moment ago may be gone already.
            let Ok(bytes) = std::fs::read(b.join("meta.json")) else {
                return false;
            };
            let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            m["maxTime"].as_i64().unwrap() - m["minTime"].as_i64().unwrap() > DAY_MS
        });
        let busy = std::fs::read_dir(&data)
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().contains(".tmp"));
        if long && !busy {
            break;
        }
        assert!(Instant::now() < deadline, "no compaction: {}", prom.log());
        std::thread::sleep(Duration::from_millis(500));
    }
    // Let the compaction round finish its last steps.
    std::thread::sleep(Duration::from_secs(2));
    prom.stop().expect("stopping prometheus");
    let blocks = block_dirs(&data);
    let multi_day: Vec<_> = blocks
        .iter()
        .map(|b| meta(b))
        .filter(|m| m["maxTime"].as_i64().unwrap() - m["minTime"].as_i64().unwrap() > DAY_MS)
        .collect();
    assert!(!multi_day.is_empty(), "{blocks:?}");
    assert!(multi_day
        .iter()
        .any(|m| m["minTime"].as_i64().unwrap() % DAY_MS != 0));
    assert!(multi_day
        .iter()
        .all(|m| m["compaction"]["level"].as_u64().unwrap() >= 2));
    assert!(
        blocks.len() < made.len(),
        "{} blocks after compaction",
        blocks.len()
    );
    let wal_bytes: u64 = std::fs::read_dir(data.join("wal"))
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    assert!(wal_bytes > 0, "the server left no WAL");
    assert!(data.join("chunks_head").is_dir());

    let bucket = dir.path().join("bucket");
    let src = format!("prometheus:{}", data.display());
    let out = run_ok(&[
        "run",
        "--source",
        &src,
        "--tenant",
        "team-p",
        "--bucket",
        bucket.to_str().unwrap(),
        "--work-dir",
        dir.path().join("work").to_str().unwrap(),
    ]);
    assert!(out.contains("head and WAL are not converted"), "{out}");
    assert_blocks_hold(&bucket.join("team-p"), &expected, 5);
    let v = run_ok(&[
        "verify",
        "--bucket",
        bucket.to_str().unwrap(),
        "--source",
        &src,
        "--tenant",
        "team-p",
    ]);
    assert!(v.contains("verify: OK"), "{v}");
}

#[test]
fn replicas_merge_with_drop_label_and_prometheus_agrees() {
    if !tools_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Replica a from 10:00 on day 0 to 20:00 on day 1, b from 02:00 on day
    // 1 to 18:00 on day 2; in the overlap both scraped the same instants,
    // and some of b's values disagree (a's must win).
    let base = generate(&GenOptions {
        series: 30,
        max_samples: 400,
        start: DAY0 + 10 * H,
        span: 2 * DAY_MS + 8 * H,
        stale_markers: false,
        seed: 62,
    });
    let mut base = stretch(base, DAY0 + 10 * H, 30);
    base.iter_mut()
        .for_each(|s| s.samples.retain(|&(t, _)| t < DAY0 + 2 * DAY_MS + 18 * H));
    let replica = |name: &str, from: i64, to: i64, skew: bool| -> Vec<TestSeries> {
        base.iter()
            .map(|s| {
                let mut labels = s.labels.clone();
                labels.push(("replica".into(), name.into()));
                labels.sort();
                let samples = s
                    .samples
                    .iter()
                    .filter(|&&(t, _)| t >= from && t < to)
                    .map(|&(t, v)| (t, if skew && t % 7 == 0 { v + 1000.0 } else { v }))
                    .collect();
                TestSeries { labels, samples }
            })
            .filter(|s| !s.samples.is_empty())
            .collect()
    };
    let mut a = replica("a", 0, DAY0 + DAY_MS + 20 * H, false);
    let mut b = replica("b", DAY0 + DAY_MS + 2 * H, i64::MAX, true);
    let (dir_a, dir_b) = (dir.path().join("prom-a"), dir.path().join("prom-b"));
    for (series, d) in [(&mut a, &dir_a), (&mut b, &dir_b)] {
        let om = d.with_extension("om");
        std::fs::write(&om, openmetrics(series)).unwrap();
        promtool::create_blocks_from_openmetrics(&om, d).unwrap();
    }
    // The union without the replica label, a's values first.
    let mut union: Vec<TestSeries> = a
        .iter()
        .chain(&b)
        .map(|s| TestSeries {
            labels: s
                .labels
                .iter()
                .filter(|(n, _)| n != "replica")
                .cloned()
                .collect(),
            samples: s.samples.clone(),
        })
        .collect();
    let expected = expected_of(&union);

    let bucket = dir.path().join("bucket");
    let src = format!("prometheus:{},file://{}", dir_a.display(), dir_b.display());
    let out = run_ok(&[
        "run",
        "--source",
        &src,
        "--drop-label",
        "replica",
        "--tenant",
        "ha",
        "--bucket",
        bucket.to_str().unwrap(),
        "--work-dir",
        dir.path().join("work").to_str().unwrap(),
    ]);
    assert!(
        out.contains("plans finished                          3"),
        "{out}"
    );
    assert_blocks_hold(&bucket.join("ha"), &expected, 3);
    let v = run_ok(&[
        "verify",
        "--bucket",
        bucket.to_str().unwrap(),
        "--source",
        &src,
        "--tenant",
        "ha",
        "--drop-label",
        "replica",
    ]);
    assert!(v.contains("verify: OK"), "{v}");

    // A real Prometheus over our blocks against one over promtool's
    // conversion of the expected union: same answers to range queries.
    let ours = dir.path().join("serve-ours");
    for blk in block_dirs(&bucket.join("ha")) {
        testkit::files::copy_dir(&blk, &ours.join(blk.file_name().unwrap()))
            .expect("copying a tree");
    }
    let theirs = dir.path().join("serve-theirs");
    let mut dedup: BTreeMap<String, TestSeries> = BTreeMap::new();
    for s in union.drain(..) {
        let e = dedup.entry(s.labels_text()).or_insert_with(|| TestSeries {
            labels: s.labels.clone(),
            samples: vec![],
        });
        e.samples.extend(s.samples);
    }
    let mut dedup: Vec<TestSeries> = dedup
        .into_values()
        .map(|mut s| {
            s.samples.sort_by_key(|&(t, _)| t);
            s.samples.dedup_by_key(|x| x.0);
            s
        })
        .collect();
    let om = theirs.with_extension("om");
    std::fs::write(&om, openmetrics(&mut dedup)).unwrap();
    promtool::create_blocks_from_openmetrics(&om, &theirs).unwrap();
    let (start, end) = (DAY0, DAY0 + 3 * DAY_MS);
    let p_ours = Prometheus::start(&ours, NO_SCRAPES, &[]).expect("starting prometheus");
    let p_theirs = Prometheus::start(&theirs, NO_SCRAPES, &[]).expect("starting prometheus");
    // The `data.result` of a range query's JSON body.
    let query = |p: &Prometheus, q: &str| -> serde_json::Value {
        let body = p.query_range(q, start, end, 300).expect("query_range");
        let v: serde_json::Value = serde_json::from_str(&body).expect("query_range JSON");
        v["data"]["result"].clone()
    };
    let mut compared = 0;
    for q in [
        "{__name__=~\".+\"}",
        "sum by (__name__) ({__name__=~\".+\"})",
    ] {
        let mine = query(&p_ours, q);
        let reference = query(&p_theirs, q);
        assert!(
            mine.as_array().is_some_and(|a| !a.is_empty()),
            "{q}: {mine}"
        );
        let sorted = |v: &serde_json::Value| {
            let mut a: Vec<String> = v
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.to_string())
                .collect();
            a.sort();
            a
        };
        assert_eq!(sorted(&mine), sorted(&reference), "{q}");
        compared += mine.as_array().unwrap().len();
    }
    assert!(compared >= 30);
}
