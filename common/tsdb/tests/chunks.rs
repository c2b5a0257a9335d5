//! Ground truth for the XOR encoder and the segment reader: blocks written by
//! Prometheus' own `promtool tsdb create-blocks-from openmetrics`.
//!
//! For every chunk promtool wrote, our reader must find it (walking from byte
//! 8 of `chunks/000001`), our decoder must return the samples we fed
//! promtool, and our encoder must rebuild the chunk byte for byte.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use tsdb::{ChunkReader, Chunker, XorAppender, XorIterator, ENCODING_XOR, SEGMENT_HEADER_SIZE};

/// Go's `strconv.ParseFloat("NaN")` gives this payload (`math.NaN()`).
const GO_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;
const TWO_HOURS: i64 = 2 * 3600 * 1000;

fn promtool() -> Option<PathBuf> {
    let path = std::env::var_os("PROMTOOL")
        .map_or_else(|| PathBuf::from("/usr/bin/promtool"), PathBuf::from);
    path.exists().then_some(path)
}

/// OpenMetrics text for the value, and the bits promtool will store for it.
fn om_value(v: f64) -> (String, u64) {
    if v.is_nan() {
        ("NaN".into(), GO_NAN_BITS)
    } else if v == f64::INFINITY {
        ("+Inf".into(), v.to_bits())
    } else if v == f64::NEG_INFINITY {
        ("-Inf".into(), v.to_bits())
    } else {
        // Rust prints the shortest text that parses back to the same bits.
        (format!("{v:?}"), v.to_bits())
    }
}

/// OpenMetrics timestamp (seconds) for `ms`, and the milliseconds promtool
/// will compute from it (`int64(seconds * 1000)` in Go).
fn om_timestamp(ms: i64) -> (String, i64) {
    let sign = if ms < 0 { "-" } else { "" };
    let text = format!(
        "{sign}{}.{:03}",
        ms.unsigned_abs() / 1000,
        ms.unsigned_abs() % 1000
    );
    let back = (text.parse::<f64>().expect("our own number") * 1000.0) as i64;
    (text, back)
}

/// Runs promtool on one series and returns what it stored: per chunk, the raw bytes.
fn promtool_chunks(promtool: &Path, samples: &[(i64, f64)]) -> (Vec<(i64, u64)>, Vec<Vec<u8>>) {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = String::from("# TYPE m gauge\n");
    let mut expected = Vec::new();
    for &(t, v) in samples {
        let (ts, t_ms) = om_timestamp(t);
        let (vs, bits) = om_value(v);
        writeln!(text, "m{{case=\"x\"}} {vs} {ts}").unwrap();
        expected.push((t_ms, bits));
    }
    text.push_str("# EOF\n");
    let input = tmp.path().join("in.om");
    let out = tmp.path().join("out");
    std::fs::write(&input, text).unwrap();
    std::fs::create_dir(&out).unwrap();
    let status = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "promtool failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );

    let blocks: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("chunks").is_dir())
        .collect();
    assert_eq!(
        blocks.len(),
        1,
        "pick samples that fit one 2h block: {blocks:?}"
    );
    let reader = ChunkReader::open(&blocks[0].join("chunks")).unwrap();
    let mut chunks = Vec::new();
    for (i, c) in reader.iter().enumerate() {
        let (r, enc, data) = c.unwrap();
        if i == 0 {
            assert_eq!(r, SEGMENT_HEADER_SIZE, "first chunk right after the header");
        }
        assert_eq!(enc, ENCODING_XOR);
        chunks.push(data.to_vec());
    }
    (expected, chunks)
}

fn check_case(name: &str, samples: &[(i64, f64)]) {
    let Some(promtool) = promtool() else {
        eprintln!(
            "SKIPPED {name}: promtool not found (set PROMTOOL or install it at /usr/bin/promtool)"
        );
        return;
    };
    assert!(
        samples.len() <= 120,
        "{name}: keep cases to one chunk's worth"
    );
    let (expected, chunks) = promtool_chunks(&promtool, samples);
    assert!(!chunks.is_empty(), "{name}: promtool wrote no chunk");

    let mut decoded = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let samples: Vec<(i64, f64)> = XorIterator::new(chunk)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut app = XorAppender::new();
        for &(t, v) in &samples {
            app.append(t, v);
        }
        assert_eq!(
            app.bytes(),
            chunk.as_slice(),
            "{name}: chunk {i} differs from Prometheus'"
        );
        decoded.extend(samples.iter().map(|&(t, v)| (t, v.to_bits())));
    }
    assert_eq!(
        decoded, expected,
        "{name}: samples read back differ from those written"
    );

    if chunks.len() == 1 {
        let mut chunker = Chunker::new();
        let mut ours: Vec<_> = expected
            .iter()
            .filter_map(|&(t, bits)| chunker.push(t, f64::from_bits(bits)))
            .collect();
        ours.extend(chunker.finish());
        assert_eq!(ours.len(), 1, "{name}: Chunker cut differently");
        assert_eq!(
            ours[0].data, chunks[0],
            "{name}: Chunker output differs from Prometheus'"
        );
        assert_eq!(ours[0].num_samples as usize, expected.len());
    }
    eprintln!(
        "{name}: {} samples in {} Prometheus chunk(s) matched",
        expected.len(),
        chunks.len()
    );
}

/// Start of a 2h block window, so that promtool makes a single block.
const BASE: i64 = 236_111 * TWO_HOURS;

#[test]
fn regular_scrapes_match_prometheus() {
    let samples: Vec<_> = (0..120)
        .map(|i| (BASE + i * 15_000, i as f64 * 1.5))
        .collect();
    check_case("regular", &samples);
}

#[test]
fn special_values_match_prometheus() {
    let values = [
        f64::NAN,
        1.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        1e308,
        5e-324,
        -2.5e-300,
        f64::NAN,
        f64::NAN,
        42.0,
        42.0,
        42.0,
        0.1,
        0.2,
        0.30000000000000004,
        -123456789.123,
        f64::INFINITY,
    ];
    let samples: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (BASE + i as i64 * 30_000, v))
        .collect();
    check_case("special values", &samples);
}

#[test]
fn irregular_timestamps_match_prometheus() {
    // Deltas that put delta-of-deltas into every bucket, both signs.
    let deltas = [
        1, 1, 2, 1, 3, 8_193, 1, 8_192, 70_000, 1, 65_537, 600_000, 17, 524_289, 1, 1_000_000, 3,
        15_000, 15_000, 14_975, 15_025, 9, 1_200_000, 2,
    ];
    let mut t = BASE;
    let mut samples = vec![(t, 0.0)];
    for (i, d) in deltas.iter().enumerate() {
        t += d;
        samples.push((t, (i % 4) as f64));
    }
    assert!(t < BASE + TWO_HOURS);
    check_case("irregular", &samples);
}

#[test]
fn negative_timestamps_match_prometheus() {
    // promtool aligns its first block by truncating towards zero, so a
    // negative series must start exactly on a window boundary.
    let samples: Vec<_> = (0..100)
        .map(|i| (-TWO_HOURS + i * 60_000 + (i % 3) * 7, (i * i) as f64))
        .collect();
    check_case("negative", &samples);
}

#[test]
fn jittery_gauge_matches_prometheus() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut v = 100.0f64;
    let samples: Vec<_> = (0..110)
        .map(|i| {
            let r = rnd();
            v += (r % 2001) as f64 / 100.0 - 10.0;
            (
                BASE + i * 60_000 + ((r >> 20) % 51) as i64,
                if r % 17 == 0 { v.round() } else { v },
            )
        })
        .collect();
    check_case("jittery gauge", &samples);
}

#[test]
fn tiny_chunks_match_prometheus() {
    check_case("one sample", &[(BASE + 5, 3.25)]);
    check_case("two samples", &[(BASE, 7.0), (BASE + 1, 7.0)]);
    check_case(
        "three samples",
        &[
            (BASE, f64::NAN),
            (BASE + 60_000, 1.0),
            (BASE + 60_001, -1.0),
        ],
    );
}
