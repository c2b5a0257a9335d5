//! What the block reader gives for blocks Prometheus itself would read
//! differently from a plain walk of the index: blocks with tombstones, and
//! blocks with an index in format v1 (Prometheus 2.0 to 2.7). The judge is
//! `promtool tsdb dump` (2.42), which applies tombstones through
//! Prometheus' querier and reads both index versions; without promtool the
//! checks against hand-computed expectations still run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base::codec::{put_uvarint, put_varint};
use base::{Labels, DAY_MS};
use testkit::promtool;
use tsdb::{
    BlockReadError, BlockReader, BlockWriter, BlockWriterOptions, Chunker, EncodedChunk,
    TOMBSTONES_FILENAME,
};

const START: i64 = 1_600_000_000_000;
const MIN: i64 = 60_000;

/// A series as written: labels and samples.
type Series = (Labels, Vec<(i64, f64)>);

/// Samples by (series text as promtool prints it, timestamp), value bits.
type Samples = BTreeMap<(String, i64), u64>;

fn labels(i: usize) -> Labels {
    let v = format!("{i}");
    Labels::normalize([("__name__", "m"), ("s", v.as_str())]).unwrap()
}

fn chunks_of(samples: &[(i64, f64)]) -> Vec<EncodedChunk> {
    let mut c = Chunker::new();
    let mut out: Vec<EncodedChunk> = samples.iter().filter_map(|&(t, v)| c.push(t, v)).collect();
    out.extend(c.finish());
    out
}

/// Sample `i` of every series: one a minute from START.
fn t(i: i64) -> i64 {
    START + i * MIN
}

/// A block of `n` series `m{s="<i>"}` with 300 samples each (chunks of
/// 120, 120, 60), in a fresh parent dir.
fn write_block(parent: &Path, n: usize) -> (PathBuf, Vec<Series>) {
    let mut series: Vec<Series> = (0..n)
        .map(|i| {
            (
                labels(i),
                (0..300)
                    .map(|k| (t(k), (i * 1000) as f64 + k as f64))
                    .collect(),
            )
        })
        .collect();
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let opts = BlockWriterOptions {
        min_time: START,
        max_time: START + DAY_MS,
        ulid: ulid::Ulid::new(),
        memory_budget: 1 << 20,
        segment_size: 1 << 20,
        durable: true,
    };
    let mut w = BlockWriter::create(parent, opts).unwrap();
    for (l, s) in &series {
        w.add_series(l, &chunks_of(s)).unwrap();
    }
    (w.finish(None).unwrap().0, series)
}

/// A tombstones file as the format doc lays it out.
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
    out.extend_from_slice(&crc32c(&body).to_be_bytes());
    out
}

/// CRC32-Castagnoli, bit by bit: independent of the crate under test.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Everything our reader yields for the block, and the chunk metas per series.
fn read_all(dir: &Path) -> (Samples, BTreeMap<String, usize>) {
    let b = BlockReader::open(dir).unwrap();
    let (mut out, mut chunks) = (Samples::new(), BTreeMap::new());
    for s in b.series() {
        let (l, metas) = s.unwrap();
        chunks.insert(l.to_string(), metas.len());
        for m in &metas {
            for (t, v) in b.chunk_samples(m).unwrap() {
                assert!(out.insert((l.to_string(), t), v.to_bits()).is_none());
            }
        }
    }
    (out, chunks)
}

fn promtool_dump(block: &Path) -> Option<Samples> {
    if !promtool::available() {
        eprintln!("promtool not found; comparing with computed expectations only");
        return None;
    }
    let scratch = tempfile::tempdir().unwrap();
    testkit::files::copy_dir(block, &scratch.path().join(block.file_name().unwrap())).unwrap();
    Some(promtool::dump_samples(scratch.path(), i64::MIN / 2, i64::MAX / 2).unwrap())
}

#[test]
fn tombstones_delete_samples_chunks_and_series_as_prometheus_does() {
    let parent = tempfile::tempdir().unwrap();
    let (dir, series) = write_block(parent.path(), 6);
    let reader = BlockReader::open(&dir).unwrap();
    assert!(reader.tombstones().is_empty());
    let refs: Vec<u64> = reader
        .index()
        .raw_series()
        .map(|s| u64::from(s.unwrap().series_ref))
        .collect();
    drop(reader);
    // Index order is label order: s="0" < s="1" < ... < s="5".
    let mut stones = vec![
        // s="0": everything.
        (refs[0], i64::MIN, i64::MAX),
        // s="1": samples 10..=20, both ends inclusive.
        (refs[1], t(10), t(20)),
        // s="2": exactly its second chunk (samples 120..=239), and the last sample.
        (refs[2], t(120), t(239)),
        (refs[2], t(299), t(299) + 5),
        // s="4": two overlapping ranges, written apart, plus one touching them.
        (refs[4], t(50), t(60)),
        (refs[4], t(200), t(210)),
        (refs[4], t(55), t(70)),
        (refs[4], t(71), t(72)),
    ];
    // s="3": every sample on its own: no interval covers a whole chunk,
    // yet nothing is left, so the series is absent.
    stones.extend((0..300).map(|k| (refs[3], t(k), t(k))));
    std::fs::write(dir.join(TOMBSTONES_FILENAME), tombstones_file(&stones)).unwrap();

    let deleted = |s: usize, k: i64| match s {
        0 | 3 => true,
        1 => (10..=20).contains(&k),
        2 => (120..=239).contains(&k) || k == 299,
        4 => (50..=72).contains(&k) || (200..=210).contains(&k),
        _ => false,
    };
    let mut expected = Samples::new();
    for (i, (l, samples)) in series.iter().enumerate() {
        for (k, &(ts, v)) in samples.iter().enumerate() {
            if !deleted(i, k as i64) {
                expected.insert((l.to_string(), ts), v.to_bits());
            }
        }
    }
    let (got, chunks) = read_all(&dir);
    assert_eq!(got, expected);
    assert!(!chunks.contains_key(&labels(0).to_string()));
    assert!(!chunks.contains_key(&labels(3).to_string()));
    // The chunk inside one deleted interval is not even listed.
    assert_eq!(chunks[&labels(2).to_string()], 2);
    assert_eq!(chunks[&labels(5).to_string()], 3);
    if let Some(dump) = promtool_dump(&dir) {
        assert_eq!(got.len(), dump.len());
        assert_eq!(got, dump, "our reader against promtool tsdb dump");
    }
}

#[test]
fn a_tombstone_for_a_series_the_index_lacks_is_an_error_naming_the_block() {
    let parent = tempfile::tempdir().unwrap();
    let (dir, _) = write_block(parent.path(), 2);
    std::fs::write(
        dir.join(TOMBSTONES_FILENAME),
        tombstones_file(&[(1 << 40, 0, 1)]),
    )
    .unwrap();
    let Err(e) = BlockReader::open(&dir) else {
        panic!("opened a block whose tombstone names no series");
    };
    assert!(
        matches!(e, BlockReadError::UnknownTombstoneSeries { .. }),
        "{e}"
    );
    assert!(e.to_string().contains(&dir.display().to_string()), "{e}");
    // A corrupt tombstones file is refused, not ignored.
    let mut bytes = tombstones_file(&[(0, 0, 1)]);
    let n = bytes.len();
    bytes[n - 1] ^= 0xFF;
    std::fs::write(dir.join(TOMBSTONES_FILENAME), bytes).unwrap();
    let Err(e) = BlockReader::open(&dir) else {
        panic!("opened a block with a corrupt tombstones file");
    };
    let text = base::error_chain(&e);
    assert!(
        text.contains("tombstones") && text.contains("CRC"),
        "{text}"
    );
}

fn v1_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/prometheus/index_format_v1")
}

#[test]
fn prometheus_index_v1_fixture_reads_like_promtool() {
    let scratch = tempfile::tempdir().unwrap();
    // Under its ULID, as in a data dir.
    let dir = scratch.path().join("01DXXFZDYD1MQW6079WK0K6EDQ");
    testkit::files::copy_dir(&v1_fixture(), &dir).unwrap();
    let b = BlockReader::open(&dir).unwrap();
    assert_eq!(b.index().version(), 1);
    assert!(b.tombstones().is_empty());
    let (got, _) = read_all(&dir);
    assert_eq!(got.len(), 102);
    assert_eq!(got.len() as u64, b.meta().stats.num_samples);
    assert!(got.contains_key(&(r#"{bar="42"}"#.to_string(), 0)));

    // Postings and series lookups agree on v1 references (file offsets).
    let idx = b.index();
    let all = idx.postings("", "").unwrap();
    assert_eq!(all.len(), 102);
    let mut by_ref = Vec::new();
    for r in &all {
        let s = idx.series(*r).unwrap();
        assert_eq!(s.series_ref, *r);
        by_ref.push(s);
    }
    let walked: Vec<_> = idx.raw_series().map(|s| s.unwrap()).collect();
    assert_eq!(by_ref, walked);
    assert_eq!(idx.label_names(), vec!["bar", "foo"]);
    let bar = idx.postings("bar", "7").unwrap();
    assert_eq!(bar.len(), 1);
    let s = idx.series(bar[0]).unwrap();
    assert_eq!(
        (s.labels[0].name.as_str(), s.labels[0].value.as_str()),
        ("bar", "7")
    );
    assert_eq!(idx.label_values("foo").unwrap(), vec!["bar", "baz"]);
    idx.verify_sections().unwrap();

    if let Some(dump) = promtool_dump(&dir) {
        assert_eq!(got, dump, "our reader against promtool tsdb dump");
    }
}

#[test]
fn unknown_index_versions_are_refused_once_with_the_file() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("01DXXFZDYD1MQW6079WK0K6EDQ");
    testkit::files::copy_dir(&v1_fixture(), &dir).unwrap();
    let index = dir.join("index");
    let mut bytes = std::fs::read(&index).unwrap();
    bytes[4] = 3;
    std::fs::write(&index, bytes).unwrap();
    let Err(e) = BlockReader::open(&dir) else {
        panic!("opened an index of version 3");
    };
    let text = base::error_chain(&e);
    let what = "unsupported index format version 3";
    assert_eq!(text.matches(what).count(), 1, "{text}");
    assert!(text.contains(&index.display().to_string()), "{text}");
}
