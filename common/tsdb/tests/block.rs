//! Blocks written by our BlockWriter, checked by promtool (2.42) and by our
//! own reader and health check; blocks written by promtool, read by us.
//!
//! Tests that need promtool skip themselves (with a message) when it is not
//! installed.

use std::path::{Path, PathBuf};

use base::{Labels, DAY_MS};
use testkit::openmetrics::{generate, GenOptions, TestSeries, STALE_NAN_BITS};
use testkit::promtool;
use tsdb::{
    check_block, BlockReader, BlockWriteError, BlockWriter, BlockWriterOptions, Chunker,
    EncodedChunk, ThanosMeta,
};
use ulid::Ulid;

const START: i64 = 1_600_000_000_000;

fn labels_of(s: &TestSeries) -> Labels {
    Labels::normalize(s.labels.iter().map(|(n, v)| (n.as_str(), v.as_str()))).unwrap()
}

fn chunks_of(samples: &[(i64, f64)]) -> Vec<EncodedChunk> {
    let mut c = Chunker::new();
    let mut out: Vec<EncodedChunk> = samples.iter().filter_map(|&(t, v)| c.push(t, v)).collect();
    out.extend(c.finish());
    out
}

fn opts(memory_budget: usize, segment_size: u64) -> BlockWriterOptions {
    BlockWriterOptions {
        min_time: START,
        max_time: START + DAY_MS,
        ulid: Ulid::new(),
        memory_budget,
        segment_size,
        durable: true,
    }
}

fn write_block(parent: &Path, series: &[TestSeries], o: BlockWriterOptions) -> PathBuf {
    let mut w = BlockWriter::create(parent, o).unwrap();
    for s in series {
        w.add_series(&labels_of(s), &chunks_of(&s.samples)).unwrap();
    }
    let thanos = ThanosMeta {
        labels: [("__org_id__".to_string(), "tenant-1".to_string())].into(),
        source: "blocksconvert".to_string(),
        ..ThanosMeta::default()
    };
    w.finish(Some(thanos)).unwrap().0
}

fn same_value(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// promtool's dump of `parent` equals `series`, sample for sample.
fn assert_dump_equals(parent: &Path, series: &[TestSeries]) {
    let dump = promtool::dump(parent, START - DAY_MS, START + 2 * DAY_MS).unwrap();
    let expected: Vec<(String, i64, f64)> = series
        .iter()
        .flat_map(|s| s.samples.iter().map(move |&(t, v)| (s.labels_text(), t, v)))
        .collect();
    assert_eq!(dump.len(), expected.len(), "number of dumped samples");
    for (i, (d, (l, t, v))) in dump.iter().zip(&expected).enumerate() {
        assert_eq!(&d.labels_text, l, "line {i}");
        assert_eq!(d.timestamp, *t, "line {i} of {l}");
        assert!(
            same_value(d.value, *v),
            "line {i} of {l}: dumped {} expected {v}",
            d.value
        );
    }
}

/// Our reader gives back `series` bit for bit.
fn assert_read_back_equals(dir: &Path, series: &[TestSeries]) {
    let b = BlockReader::open(dir).unwrap();
    let mut n = 0;
    for (got, want) in b.series().zip(series) {
        let (labels, metas) = got.unwrap();
        assert_eq!(labels, labels_of(want));
        let samples: Vec<(i64, f64)> = metas
            .iter()
            .flat_map(|m| b.chunk_samples(m).unwrap())
            .collect();
        assert_eq!(samples.len(), want.samples.len(), "{labels}");
        for (a, e) in samples.iter().zip(&want.samples) {
            assert!(
                a.0 == e.0 && a.1.to_bits() == e.1.to_bits(),
                "{labels}: {a:?} vs {e:?}"
            );
        }
        n += 1;
    }
    assert_eq!(n, series.len());
}

fn skip_without_promtool() -> bool {
    if promtool::available() {
        return false;
    }
    eprintln!("promtool not found; skipping");
    true
}

#[test]
fn many_series_tiny_budget_small_segments_pass_promtool() {
    if skip_without_promtool() {
        return;
    }
    let series = generate(&GenOptions {
        series: 5000,
        max_samples: 12,
        start: START,
        span: DAY_MS / 2,
        stale_markers: false,
        seed: 1,
    });
    let parent = tempfile::tempdir().unwrap();
    let dir = write_block(parent.path(), &series, opts(4 << 10, 4 << 10));
    let name = dir.file_name().unwrap().to_str().unwrap().to_string();

    // Nothing but the block is left in the parent, nothing temporary in it.
    let mut names: Vec<String> = walk(&dir);
    names.sort();
    assert_eq!(names.first().map(String::as_str), Some("chunks/000001"));
    assert!(
        names.len() > 5,
        "expected several 4 KiB segments: {names:?}"
    );
    assert_eq!(&names[names.len() - 2..], ["index", "meta.json"]);

    let meta = BlockReader::open(&dir).unwrap().meta().clone();
    assert_eq!(meta.stats.num_series, series.len() as u64);
    assert_eq!(
        meta.stats.num_samples,
        series.iter().map(|s| s.samples.len() as u64).sum::<u64>()
    );
    assert_eq!(meta.compaction.sources, vec![meta.ulid]);
    let thanos = meta.thanos.as_ref().unwrap();
    let listed: Vec<&str> = thanos.files.iter().map(|f| f.rel_path.as_str()).collect();
    assert_eq!(listed, names.iter().map(String::as_str).collect::<Vec<_>>());
    for f in &thanos.files {
        let size = std::fs::metadata(dir.join(&f.rel_path)).unwrap().len();
        match f.rel_path.as_str() {
            "meta.json" => assert_eq!(f.size_bytes, None),
            _ => assert_eq!(f.size_bytes, Some(size), "{}", f.rel_path),
        }
    }
    assert_eq!(thanos.segment_files.len(), names.len() - 2);

    let report = check_block(&dir).unwrap();
    assert_eq!(report.num_series, series.len() as u64);
    assert_read_back_equals(&dir, &series);
    let analysis = promtool::analyze(parent.path(), &name).unwrap();
    assert!(
        analysis.contains(&format!("Series: {}", series.len())),
        "{analysis}"
    );
    assert_dump_equals(parent.path(), &series);
}

#[test]
fn long_series_span_many_chunks_and_segments() {
    if skip_without_promtool() {
        return;
    }
    let series = generate(&GenOptions {
        series: 60,
        max_samples: 700,
        start: START,
        span: DAY_MS - 60_000,
        stale_markers: false,
        seed: 2,
    });
    assert!(series.iter().any(|s| s.samples.len() > 240));
    let parent = tempfile::tempdir().unwrap();
    let dir = write_block(parent.path(), &series, opts(1 << 20, 4 << 10));
    let b = BlockReader::open(&dir).unwrap();
    assert!(b.series().any(|s| s.unwrap().1.len() >= 3));
    check_block(&dir).unwrap();
    assert_read_back_equals(&dir, &series);
    assert_dump_equals(parent.path(), &series);
}

#[test]
fn stale_markers_survive_bit_for_bit() {
    let series = generate(&GenOptions {
        series: 40,
        max_samples: 30,
        start: START,
        span: DAY_MS / 4,
        stale_markers: true,
        seed: 3,
    });
    let stale = series
        .iter()
        .filter(|s| s.samples.iter().any(|v| v.1.to_bits() == STALE_NAN_BITS))
        .count();
    assert!(stale > 0);
    let parent = tempfile::tempdir().unwrap();
    let dir = write_block(parent.path(), &series, opts(1 << 20, 1 << 20));
    // Our reader compares bits, so the stale marker is the exact pattern.
    assert_read_back_equals(&dir, &series);
    check_block(&dir).unwrap();
    if !skip_without_promtool() {
        assert_dump_equals(parent.path(), &series);
    }
}

#[test]
fn unicode_quotes_and_backslashes_in_labels() {
    let mut series: Vec<TestSeries> = [
        "a \"quoted\" value",
        "back\\slash\\",
        "naïve ☕ 日本",
        "new\nline",
        "tab\there",
    ]
    .iter()
    .enumerate()
    .map(|(i, v)| TestSeries {
        labels: vec![
            ("__name__".to_string(), "m".to_string()),
            ("k".to_string(), v.to_string()),
        ],
        samples: vec![(START + i as i64, i as f64 - 0.5), (START + 1000, -0.0)],
    })
    .collect();
    series.sort_by(|a, b| testkit::openmetrics::compare_labels(&a.labels, &b.labels));
    let parent = tempfile::tempdir().unwrap();
    let dir = write_block(parent.path(), &series, opts(1 << 20, 1 << 20));
    assert_read_back_equals(&dir, &series);
    if !skip_without_promtool() {
        assert_dump_equals(parent.path(), &series);
    }
}

#[test]
fn blocks_written_by_promtool_read_back_exactly_and_reindex_identically() {
    if skip_without_promtool() {
        return;
    }
    let series = generate(&GenOptions {
        series: 200,
        max_samples: 1000,
        start: START,
        span: 5 * 3600 * 1000,
        stale_markers: false,
        seed: 4,
    });
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("in.om");
    std::fs::write(
        &input,
        testkit::openmetrics::to_openmetrics(&series).unwrap(),
    )
    .unwrap();
    let out = work.path().join("out");
    let blocks = promtool::create_blocks_from_openmetrics(&input, &out).unwrap();
    assert!(
        blocks.len() >= 2,
        "expected samples over hours to cut several 2h blocks: {blocks:?}"
    );

    let mut got: std::collections::BTreeMap<String, Vec<(i64, f64)>> = Default::default();
    for b in &blocks {
        let dir = out.join(b);
        let r = BlockReader::open(&dir).unwrap();
        for s in r.series() {
            let (labels, metas) = s.unwrap();
            let v = got.entry(labels.to_string()).or_default();
            for m in &metas {
                v.extend(r.chunk_samples(m).unwrap());
            }
        }
        check_block(&dir).unwrap();
        reindex_and_compare(&dir);
    }
    assert_eq!(got.len(), series.len());
    for s in &series {
        let g = &got[&s.labels_text()];
        let mut g = g.clone();
        g.sort_by_key(|x| x.0);
        assert_eq!(g.len(), s.samples.len(), "{}", s.labels_text());
        for (a, e) in g.iter().zip(&s.samples) {
            assert!(
                a.0 == e.0 && same_value(a.1, e.1),
                "{}: {a:?} vs {e:?}",
                s.labels_text()
            );
        }
    }
}

/// Writes the series and chunk metas of promtool's index through our index
/// writer and expects the very same bytes.
fn reindex_and_compare(dir: &Path) {
    use tsdb::{IndexReader, IndexWriter};
    let theirs = IndexReader::open(&dir.join("index")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ours = tmp.path().join("index");
    let mut w = IndexWriter::create(&ours, 256).unwrap();
    for s in theirs.symbols() {
        w.add_symbol(s.unwrap()).unwrap();
    }
    for s in theirs.series_iter() {
        let (l, c) = s.unwrap();
        w.add_series(&l, &c).unwrap();
    }
    w.finish().unwrap();
    let a = std::fs::read(dir.join("index")).unwrap();
    let b = std::fs::read(&ours).unwrap();
    assert!(
        a == b,
        "index of {} differs from ours ({} vs {} bytes)",
        dir.display(),
        a.len(),
        b.len()
    );
}

#[test]
fn refuses_bad_input_with_the_series_named() {
    let parent = tempfile::tempdir().unwrap();
    let mut w = BlockWriter::create(parent.path(), opts(1 << 16, 1 << 20)).unwrap();
    let l = |v: &str| Labels::normalize([("__name__", "m"), ("k", v)]).unwrap();
    let ok = chunks_of(&[(START, 1.0), (START + 10, 2.0)]);
    w.add_series(&l("b"), &ok).unwrap();
    let e = w.add_series(&l("a"), &ok).unwrap_err();
    assert!(
        matches!(e, BlockWriteError::SeriesOutOfOrder { ref series, .. } if series == r#"{__name__="m", k="a"}"#),
        "{e}"
    );
    assert!(matches!(
        w.add_series(&l("b"), &ok),
        Err(BlockWriteError::DuplicateSeries { .. })
    ));
    let e = w.add_series(&l("c"), &[]).unwrap_err();
    assert!(matches!(e, BlockWriteError::NoChunks { .. }), "{e}");
    let outside = chunks_of(&[(START + DAY_MS, 1.0)]);
    let e = w.add_series(&l("c"), &outside).unwrap_err();
    assert!(
        matches!(e, BlockWriteError::ChunkOutsideBlock { .. }),
        "{e}"
    );
    assert!(e.to_string().contains(r#"k="c""#));
    let mut overlapping = chunks_of(&[(START, 1.0), (START + 10, 2.0)]);
    overlapping.extend(chunks_of(&[(START + 10, 3.0)]));
    let e = w.add_series(&l("c"), &overlapping).unwrap_err();
    assert!(
        matches!(e, BlockWriteError::ChunksOutOfOrder { index: 1, .. }),
        "{e}"
    );
    // Refused series left no trace: the block holds the one good series.
    w.add_series(&l("c"), &ok).unwrap();
    let (dir, meta) = w.finish(None).unwrap();
    assert_eq!(meta.stats.num_series, 2);
    assert_eq!(meta.stats.num_chunks, 2);
    check_block(&dir).unwrap();
    assert!(!parent.path().join(format!("{}.tmp", meta.ulid)).exists());
}

#[test]
fn dropped_writer_leaves_nothing_and_empty_block_is_refused() {
    let parent = tempfile::tempdir().unwrap();
    let w = BlockWriter::create(parent.path(), opts(1 << 16, 1 << 20)).unwrap();
    assert!(matches!(
        w.finish(None),
        Err(BlockWriteError::NoSeries { .. })
    ));
    let mut w = BlockWriter::create(parent.path(), opts(1 << 16, 1 << 20)).unwrap();
    w.add_series(
        &Labels::normalize([("a", "1")]).unwrap(),
        &chunks_of(&[(START, 1.0)]),
    )
    .unwrap();
    drop(w);
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
}

/// Relative paths of the files under `dir`.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()).into_iter().map(|n| format!("{name}/{n}")));
        } else {
            out.push(name);
        }
    }
    out
}

#[test]
fn index_writer_refuses_unsorted_symbols_and_series() {
    use tsdb::{IndexWriteError, IndexWriter};
    let dir = tempfile::tempdir().unwrap();
    let mut w = IndexWriter::create(&dir.path().join("index"), 1 << 10).unwrap();
    w.add_symbol("job").unwrap();
    let e = w.add_symbol("instance").unwrap_err();
    assert!(matches!(e, IndexWriteError::SymbolOutOfOrder { .. }), "{e}");
    w.add_symbol("x").unwrap();
    w.add_symbol("y").unwrap();
    let l = |v: &str| Labels::normalize([("job", v)]).unwrap();
    w.add_series(&l("y"), &[]).unwrap();
    let e = w.add_series(&l("x"), &[]).unwrap_err();
    assert!(
        matches!(e, IndexWriteError::SeriesOutOfOrder { ref series, .. } if series == r#"{job="x"}"#),
        "{e}"
    );
}
