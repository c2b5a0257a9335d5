//! Prometheus sources as a real Prometheus left them, judged by Prometheus
//! itself (issue 17):
//!
//! - Series and time ranges deleted through the admin API of a running
//!   `prometheus` (tombstones in the blocks, several matchers, ranges
//!   crossing block and day boundaries) stay deleted: our blocks dump as
//!   `promtool tsdb dump` of the source does, a real Prometheus over them
//!   answers range queries like one over the source, and `verify` flags
//!   blocks converted from the same data before the deletion.
//! - A block with index format v1 (Prometheus 2.0 to 2.7; Prometheus' own
//!   test block, with tombstones added here) converts to blocks equal to
//!   promtool's dump of it.
//! - The head is left out and the scan summary says which time range, and
//!   a snapshot taken through the admin API converts with the head in it.
//! - An unreadable block fails its plan with a message that says its cause
//!   once.
//!
//! Every server binds 127.0.0.1 on a free port and is killed on drop.
//! Tests skip without promtool/prometheus unless
//! BLOCKSCONVERT_TEST_REQUIRE_TOOLS is set.

use std::path::{Path, PathBuf};
use std::process::Command;

use base::codec::{put_uvarint, put_varint};
use base::DAY_MS;
use testkit::openmetrics::{to_openmetrics, TestSeries};
use testkit::prometheus::{tools_or_skip, Prometheus, NO_COMPACTION, NO_SCRAPES};
use testkit::promtool::{self, SampleMap};

const BIN: &str = env!("CARGO_BIN_EXE_blocksconvert");
const H: i64 = 3_600_000;
const M: i64 = 60_000;
/// 2026-11-16T00:00Z.
const DAY0: i64 = 20_773 * DAY_MS;
const ADMIN: &str = "--web.enable-admin-api";

/// Matchers (any of them) and an inclusive time range, or the whole history.
type Deletion = (&'static [&'static str], Option<(i64, i64)>);

/// Runs blocksconvert; whether it succeeded, and stdout then stderr.
fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("running blocksconvert");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn run_ok(args: &[&str]) -> String {
    let (ok, text) = run(args);
    assert!(ok, "blocksconvert {args:?} failed:\n{text}");
    text
}

/// `run` of a Prometheus source into `bucket` for `tenant`.
fn convert(src: &Path, bucket: &Path, work: &Path, tenant: &str) -> String {
    run_ok(&[
        "run",
        "--source",
        &format!("prometheus:{}", src.display()),
        "--tenant",
        tenant,
        "--bucket",
        bucket.to_str().unwrap(),
        "--work-dir",
        work.to_str().unwrap(),
    ])
}

fn verify(bucket: &Path, src: &Path, tenant: &str) -> (bool, String) {
    run(&[
        "verify",
        "--bucket",
        bucket.to_str().unwrap(),
        "--source",
        &format!("prometheus:{}", src.display()),
        "--tenant",
        tenant,
    ])
}

fn block_dirs(dir: &Path) -> Vec<PathBuf> {
    testkit::files::block_dirs(dir).expect("listing blocks")
}

fn meta(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap()
}

/// Copies the block directories of `dir` into a fresh `dest` (no WAL, no
/// head), for promtool or a server to open without touching `dir`.
fn copy_blocks(dir: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    for b in block_dirs(dir) {
        testkit::files::copy_dir(&b, &dest.join(b.file_name().unwrap())).unwrap();
    }
}

/// promtool's dump of the blocks of `dir` (read from a copy).
fn dump_of(dir: &Path) -> SampleMap {
    let scratch = tempfile::tempdir().unwrap();
    copy_blocks(dir, scratch.path());
    promtool::dump_samples(scratch.path(), i64::MIN / 2, i64::MAX / 2).unwrap()
}

/// Our daily blocks of `tenant_dir` must dump exactly as `expected`.
fn assert_converted(tenant_dir: &Path, expected: &SampleMap) {
    for b in block_dirs(tenant_dir) {
        let m = meta(&b);
        let (min, max) = (
            m["minTime"].as_i64().unwrap(),
            m["maxTime"].as_i64().unwrap(),
        );
        assert_eq!((min % DAY_MS, max - min), (0, DAY_MS), "{}", b.display());
    }
    promtool::assert_same_samples(&dump_of(tenant_dir), expected);
}

fn series(name: &str, label: &str, value: &str, samples: Vec<(i64, f64)>) -> TestSeries {
    let mut labels = vec![
        ("__name__".to_string(), name.to_string()),
        (label.to_string(), value.to_string()),
    ];
    labels.sort();
    TestSeries { labels, samples }
}

/// The result matrix of a range query, one JSON string per series, sorted.
fn matrix(body: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    let mut out: Vec<String> = v["data"]["result"]
        .as_array()
        .expect("a matrix")
        .iter()
        .map(|s| s.to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn deleted_series_and_ranges_stay_deleted_and_prometheus_agrees() {
    if !tools_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Two days from 12:00 on day 0, a sample every 10 minutes: m{s="0".."5"}
    // and other{g="a"|"b"}.
    let (start, end) = (DAY0 + 12 * H, DAY0 + 2 * DAY_MS + 12 * H);
    let grid = |k: i64| {
        (start..end)
            .step_by(10 * M as usize)
            .map(move |t| (t, (k * 10_000 + (t - start) / M) as f64))
    };
    let mut all: Vec<TestSeries> = (0..6)
        .map(|i| series("m", "s", &i.to_string(), grid(i).collect()))
        .collect();
    all.push(series("other", "g", "a", grid(10).collect()));
    all.push(series("other", "g", "b", grid(11).collect()));
    let input = dir.path().join("input.om");
    std::fs::write(&input, to_openmetrics(&all).unwrap()).unwrap();
    let data = dir.path().join("data");
    let made = promtool::create_blocks_from_openmetrics(&input, &data).unwrap();
    assert!(made.len() >= 24, "2h blocks: {made:?}");
    // The same blocks before any deletion: what a conversion that ignores
    // tombstones would produce.
    let before = dir.path().join("before");
    copy_blocks(&data, &before);

    let prom =
        Prometheus::start(&data, NO_SCRAPES, &[&NO_COMPACTION[..], &[ADMIN]].concat()).unwrap();
    // (matchers, inclusive range or whole history)
    let deletions: [Deletion; 5] = [
        // A whole series.
        (&[r#"m{s="1"}"#], None),
        // 20:00 on day 0 to 08:00 on day 1: across midnight and six blocks.
        (
            &[r#"m{s="2"}"#],
            Some((DAY0 + 20 * H, DAY0 + DAY_MS + 8 * H)),
        ),
        // Several matchers at once, 23:30 to 00:30 across midnight, both
        // ends on samples (they go too).
        (
            &[r#"other{g="b"}"#, r#"m{s=~"4|5"}"#],
            Some((DAY0 + DAY_MS + 23 * H + 30 * M, DAY0 + 2 * DAY_MS + 30 * M)),
        ),
        // Inside one block.
        (
            &[r#"{__name__="m",s="3"}"#],
            Some((DAY0 + DAY_MS + H + 10 * M, DAY0 + DAY_MS + H + 50 * M)),
        ),
        // The very first sample alone.
        (&[r#"other{g="a"}"#], Some((start, start))),
    ];
    for (matchers, range) in deletions {
        prom.delete_series(matchers, range).unwrap();
    }
    let served_before_stop = matrix(
        &prom
            .query_range(r#"{__name__=~".+"}"#, DAY0, DAY0 + 3 * DAY_MS, 600)
            .unwrap(),
    );
    prom.stop().unwrap();

    // Deletions are tombstones in the blocks Prometheus left, not rewritten blocks.
    let blocks = block_dirs(&data);
    assert_eq!(blocks.len(), made.len(), "no block was compacted");
    let with_tombstones = blocks
        .iter()
        .filter(|b| std::fs::metadata(b.join("tombstones")).is_ok_and(|m| m.len() > 9))
        .count();
    assert!(
        with_tombstones >= 12,
        "{with_tombstones} blocks with tombstones"
    );

    // What should be left, computed here; promtool must agree.
    let deleted = |labels: &str, t: i64| {
        deletions.iter().any(|(ms, range)| {
            let hit = ms.iter().any(|m| match *m {
                r#"m{s="1"}"# => labels == r#"{__name__="m", s="1"}"#,
                r#"m{s="2"}"# => labels == r#"{__name__="m", s="2"}"#,
                r#"other{g="b"}"# => labels == r#"{__name__="other", g="b"}"#,
                r#"m{s=~"4|5"}"# => {
                    labels == r#"{__name__="m", s="4"}"# || labels == r#"{__name__="m", s="5"}"#
                }
                r#"{__name__="m",s="3"}"# => labels == r#"{__name__="m", s="3"}"#,
                r#"other{g="a"}"# => labels == r#"{__name__="other", g="a"}"#,
                other => panic!("no rule for {other}"),
            });
            hit && range.is_none_or(|(a, b)| a <= t && t <= b)
        })
    };
    let mut expected = SampleMap::new();
    let mut total = 0;
    for s in &all {
        for &(t, v) in &s.samples {
            total += 1;
            if !deleted(&s.labels_text(), t) {
                expected.insert((s.labels_text(), t), v.to_bits());
            }
        }
    }
    let source_dump = dump_of(&data);
    promtool::assert_same_samples(&source_dump, &expected);
    assert!(
        expected.len() < total - 288,
        "{} of {total} left",
        expected.len()
    );
    assert!(!expected.keys().any(|(l, _)| l.contains(r#"s="1""#)));

    // Our conversion of the data dir.
    let bucket = dir.path().join("bucket");
    let out = convert(&data, &bucket, &dir.path().join("work"), "team-t");
    assert!(
        out.contains("plans finished                          3"),
        "{out}"
    );
    assert_converted(&bucket.join("team-t"), &source_dump);
    let (ok, v) = verify(&bucket, &data, "team-t");
    assert!(ok && v.contains("verify: OK"), "{v}");

    // A conversion of the same data before the deletion is flagged.
    let stale = dir.path().join("bucket-before");
    convert(&before, &stale, &dir.path().join("work-before"), "team-t");
    let (ok, v) = verify(&stale, &data, "team-t");
    assert!(!ok && v.contains("verify: MISMATCH"), "{v}");
    assert!(v.contains(r#"s=\"1\""#) || v.contains(r#"s="1""#), "{v}");

    // A real Prometheus over our blocks against one over the source.
    let ours = dir.path().join("serve-ours");
    copy_blocks(&bucket.join("team-t"), &ours);
    let theirs = dir.path().join("serve-theirs");
    copy_blocks(&data, &theirs);
    let p_ours = Prometheus::start(&ours, NO_SCRAPES, &NO_COMPACTION).unwrap();
    let p_theirs = Prometheus::start(&theirs, NO_SCRAPES, &NO_COMPACTION).unwrap();
    let mut compared = 0;
    for q in [
        r#"{__name__=~".+"}"#,
        "sum by (__name__) ({__name__=~\".+\"})",
        "count_over_time(m[3h])",
    ] {
        let mine = matrix(&p_ours.query_range(q, DAY0, DAY0 + 3 * DAY_MS, 600).unwrap());
        let reference = matrix(
            &p_theirs
                .query_range(q, DAY0, DAY0 + 3 * DAY_MS, 600)
                .unwrap(),
        );
        assert!(!mine.is_empty(), "{q}");
        assert_eq!(mine, reference, "{q}");
        compared += mine.len();
    }
    assert_eq!(
        matrix(
            &p_ours
                .query_range(r#"{__name__=~".+"}"#, DAY0, DAY0 + 3 * DAY_MS, 600)
                .unwrap()
        ),
        served_before_stop,
        "the server that deleted them answered the same"
    );
    assert!(compared >= 7 + 2 + 5, "{compared} series compared");
}

/// The refs of the series of a block whose label text is one of `texts`.
fn series_refs(block: &Path, texts: &[&str]) -> Vec<u64> {
    let r = tsdb::BlockReader::open(block).unwrap();
    let refs: Vec<u64> = r
        .index()
        .raw_series()
        .map(|s| s.unwrap())
        .filter(|s| {
            let text = base::Labels::from_sorted(s.labels.clone()).to_string();
            texts.contains(&text.as_str())
        })
        .map(|s| u64::from(s.series_ref))
        .collect();
    assert_eq!(refs.len(), texts.len(), "{texts:?}");
    refs
}

/// A tombstones file (magic, version 1, tombstones, CRC32C of the
/// tombstones) as `tsdb/docs/format/tombstones.md` lays it out.
fn tombstones_file(stones: &[(u64, i64, i64)]) -> Vec<u8> {
    let mut body = Vec::new();
    for &(r, a, b) in stones {
        put_uvarint(&mut body, r);
        put_varint(&mut body, a);
        put_varint(&mut body, b);
    }
    let mut out = 0x0130_BA30u32.to_be_bytes().to_vec();
    out.push(1);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    out
}

const V1_ULID: &str = "01DXXFZDYD1MQW6079WK0K6EDQ";

fn v1_data_dir(parent: &Path) -> PathBuf {
    let data = parent.join("v1-data");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/prometheus/index_format_v1");
    testkit::files::copy_dir(&fixture, &data.join(V1_ULID)).unwrap();
    data
}

#[test]
fn index_v1_block_with_tombstones_converts_like_promtool_reads_it() {
    if !tools_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = v1_data_dir(dir.path());
    let block = data.join(V1_ULID);
    let index = std::fs::read(block.join("index")).unwrap();
    assert_eq!(index[4], 1, "index format v1");
    // Of its 102 series (one sample each), {bar="7"} (t=0) and {foo="baz"}
    // (t=3) deleted, bounds inclusive; {foo="bar"} (t=1) is outside its
    // interval and stays. v1 series refs are file offsets.
    let refs = series_refs(
        &block,
        &[r#"{bar="7"}"#, r#"{foo="bar"}"#, r#"{foo="baz"}"#],
    );
    assert!(
        refs.iter().any(|r| r % 16 != 0),
        "v1 refs are unaligned: {refs:?}"
    );
    let stones = [(refs[0], 0, 0), (refs[1], 2, 100), (refs[2], -5, 3)];
    std::fs::write(block.join("tombstones"), tombstones_file(&stones)).unwrap();
    let expected = dump_of(&data);
    assert_eq!(expected.len(), 100);
    assert!(!expected.contains_key(&(r#"{bar="7"}"#.to_string(), 0)));
    assert!(expected.contains_key(&(r#"{foo="bar"}"#.to_string(), 1)));

    let bucket = dir.path().join("bucket");
    let out = convert(&data, &bucket, &dir.path().join("work"), "old");
    assert!(
        out.contains("plans finished                          1"),
        "{out}"
    );
    assert_converted(&bucket.join("old"), &expected);
    let (ok, v) = verify(&bucket, &data, "old");
    assert!(
        ok && v.contains("verify: OK") && v.contains("100 samples"),
        "{v}"
    );
}

#[test]
fn an_unreadable_block_fails_its_plan_saying_the_cause_once() {
    if !tools_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = v1_data_dir(dir.path());
    let index = data.join(V1_ULID).join("index");
    let mut bytes = std::fs::read(&index).unwrap();
    bytes[4] = 9;
    std::fs::write(&index, bytes).unwrap();
    let bucket = dir.path().join("bucket");
    let (_, out) = run(&[
        "run",
        "--source",
        &format!("prometheus:{}", data.display()),
        "--tenant",
        "old",
        "--bucket",
        bucket.to_str().unwrap(),
        "--work-dir",
        dir.path().join("work").to_str().unwrap(),
    ]);
    let what = "unsupported index format version 9";
    let lines: Vec<&str> = out.lines().filter(|l| l.contains(what)).collect();
    assert!(!lines.is_empty(), "{out}");
    for l in &lines {
        assert_eq!(l.matches(what).count(), 1, "said twice: {l}");
    }
    // The failed record holds the same one-cause reason.
    let failed: Vec<PathBuf> = testkit::files::files_under(&bucket)
        .into_iter()
        .filter(|p| p.ends_with(".failed"))
        .map(|p| bucket.join(p))
        .collect();
    assert_eq!(failed.len(), 1, "{out}");
    let reason = std::fs::read_to_string(&failed[0]).unwrap();
    assert_eq!(reason.matches(what).count(), 1, "{reason}");
    assert!(reason.contains(&index.display().to_string()), "{reason}");
}

#[test]
fn the_head_is_left_out_with_its_range_and_a_snapshot_converts_it() {
    if !tools_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let old = series(
        "old_metric",
        "s",
        "a",
        (0..24)
            .map(|k| (DAY0 + 9 * H + k * 10 * M, k as f64))
            .collect(),
    );
    let input = dir.path().join("input.om");
    std::fs::write(&input, to_openmetrics(&[old]).unwrap()).unwrap();
    let data = dir.path().join("data");
    promtool::create_blocks_from_openmetrics(&input, &data).unwrap();
    let last_block_end = block_dirs(&data)
        .iter()
        .map(|b| meta(b)["maxTime"].as_i64().unwrap())
        .max()
        .unwrap();

    let scrape = "global:\n  scrape_interval: 200ms\n  scrape_timeout: 150ms\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:PORT']\n";
    let prom = Prometheus::start(&data, scrape, &[&NO_COMPACTION[..], &[ADMIN]].concat()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        // {"data":{"result":[{"metric":{...},"value":[<t>,"<count>"]}]}}
        let (_, body) = prom
            .get("/api/v1/query?query=count_over_time(up%5B1m%5D)")
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let scrapes: u32 = v["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if scrapes >= 5 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no scrapes: {}",
            prom.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let snapshot = prom.snapshot().unwrap();
    prom.stop().unwrap();

    // The data dir: blocks converted, the head left out, and the summary
    // says from when to when and what to do.
    let bucket = dir.path().join("bucket");
    let out = convert(&data, &bucket, &dir.path().join("work"), "t");
    let from = chrono::DateTime::from_timestamp_millis(last_block_end)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let note = out
        .lines()
        .find(|l| l.starts_with("scan: head and WAL are not converted"))
        .unwrap_or_else(|| panic!("no head line in the summary:\n{out}"));
    assert!(
        note.contains(&format!("samples from {from} to about ")),
        "{note}"
    );
    assert!(note.contains(&data.display().to_string()), "{note}");
    assert!(note.contains("/api/v1/admin/tsdb/snapshot"), "{note}");
    let converted = dump_of(&bucket.join("t"));
    assert!(
        converted.keys().all(|(l, _)| l.contains("old_metric")),
        "head samples converted"
    );

    // The snapshot holds the head as a block: converting it brings the
    // scraped samples, exactly as promtool reads the snapshot.
    let bucket2 = dir.path().join("bucket-snapshot");
    let out = convert(&snapshot, &bucket2, &dir.path().join("work2"), "t");
    assert!(!out.contains("head and WAL are not converted"), "{out}");
    let expected = dump_of(&snapshot);
    assert!(expected
        .keys()
        .any(|(l, t)| l.contains(r#"job="self""#) && *t > last_block_end));
    assert_converted(&bucket2.join("t"), &expected);
}
