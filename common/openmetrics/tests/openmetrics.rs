//! The OpenMetrics parser against promtool 2.42 itself: the same input
//! must give the same series, millisecond timestamps and values as
//! `promtool tsdb create-blocks-from openmetrics` + `promtool tsdb dump`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::Command;

use openmetrics::OpenMetricsParser;

/// Deterministic input with awkward numbers: fractional seconds with up to
/// four decimals (where `seconds * 1000` truncation matters), exponents,
/// signed zero, infinities, escapes and non-ASCII label values.
fn generate() -> String {
    let mut out = String::new();
    out.push_str("# HELP req_total Requests.\n# TYPE req_total counter\n");
    let values = [
        "0",
        "1",
        "-0",
        "0.1",
        "3.14159",
        "1e-7",
        "-2.5E+3",
        "123456789012345678",
        "+Inf",
        "-Inf",
        "1.7976931348623157e308",
        "5e-324",
        ".5",
        "7.",
    ];
    let labels = [
        r#"req_total{path="/a",code="200"}"#,
        r#"req_total{code="500",path="/b \"q\" \\ \n"}"#,
        r#"temp_celsius{city="Zürich ☕"}"#,
        "scrape_samples",
        r#"h_bucket{le="+Inf"}"#,
    ];
    let mut x: u64 = 88172645463325252;
    for i in 0..400u64 {
        for (s, series) in labels.iter().enumerate() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let decimals = (x % 5) as usize;
            let frac = (x >> 8) % 10u64.pow(decimals as u32);
            let secs = 1_700_000_000 + i * 10 + s as u64;
            let ts = if decimals == 0 {
                format!("{secs}")
            } else {
                format!("{secs}.{frac:0decimals$}")
            };
            let v = values[((x >> 40) % values.len() as u64) as usize];
            let exemplar = if s == 0 && i % 7 == 0 {
                " # {trace_id=\"t\"} 1 1700000000.5"
            } else {
                ""
            };
            writeln!(out, "{series} {v} {ts}{exemplar}").unwrap();
        }
    }
    out.push_str("# EOF\n");
    out
}

#[test]
fn same_samples_as_promtool() {
    if Command::new("promtool").arg("--version").output().is_err() {
        eprintln!("promtool not installed; skipping the comparison");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = generate();
    let file = dir.path().join("in.om");
    std::fs::write(&file, &input).unwrap();
    let blocks = dir.path().join("blocks");
    let st = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
        .arg(&file)
        .arg(&blocks)
        .status()
        .unwrap();
    assert!(st.success());
    // `tsdb dump` insists on a WAL directory.
    std::fs::create_dir_all(blocks.join("wal")).unwrap();
    let dump = Command::new("promtool")
        .args(["tsdb", "dump"])
        .arg(&blocks)
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );

    // promtool dump prints `labels value(%g) ts`; %g is the shortest
    // round-trip form, so it parses back to the same bits (NaN aside).
    let mut want: HashMap<(String, i64), u64> = HashMap::new();
    for line in String::from_utf8(dump.stdout).unwrap().lines() {
        let mut it = line.rsplitn(3, ' ');
        let ts: i64 = it.next().unwrap().parse().unwrap();
        let v: f64 = it.next().unwrap().parse().unwrap();
        want.insert((it.next().unwrap().to_owned(), ts), v.to_bits());
    }

    let mut got: HashMap<(String, i64), u64> = HashMap::new();
    let mut p = OpenMetricsParser::new(input.as_bytes());
    while let Some(s) = p.next_sample().unwrap() {
        let labels = s.series.labels().unwrap().to_string();
        got.insert((labels, s.timestamp_ms), s.value.to_bits());
    }
    assert_eq!(got.len(), 2000);
    assert_eq!(got.len(), want.len());
    for (k, bits) in &want {
        assert_eq!(got.get(k), Some(bits), "{k:?}");
    }
}
