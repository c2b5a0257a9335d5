//! The health check sees deliberately broken blocks and names the rule and
//! the series. Blocks are written correctly, then one part is broken: the
//! index rewritten through the low-level index writer, meta.json edited, a
//! chunk byte flipped, or the directory renamed.

use std::path::{Path, PathBuf};

use base::{Labels, DAY_MS};
use tsdb::{
    check_block, BlockMeta, BlockWriter, BlockWriterOptions, ChunkMeta, Chunker, HealthError,
    HealthRule, IndexReader, IndexWriter,
};
use ulid::Ulid;

const START: i64 = 1_600_000_000_000;

/// A healthy block of three series with two chunks each.
fn good_block(parent: &Path) -> PathBuf {
    let mut w = BlockWriter::create(
        parent,
        BlockWriterOptions {
            min_time: START,
            max_time: START + DAY_MS,
            ulid: Ulid::new(),
            memory_budget: 1 << 16,
            segment_size: 1 << 20,
            durable: true,
        },
    )
    .unwrap();
    for i in 0..3 {
        let labels =
            Labels::normalize([("__name__", "m".to_string()), ("i", i.to_string())]).unwrap();
        let mut c = Chunker::new();
        let mut chunks: Vec<_> = (0..200)
            .filter_map(|k| c.push(START + 1000 + k * 1000, k as f64))
            .collect();
        chunks.extend(c.finish());
        w.add_series(&labels, &chunks).unwrap();
    }
    w.finish(None).unwrap().0
}

/// Rewrites the block's index, letting `edit` change each series' chunks.
fn rewrite_index(dir: &Path, mut edit: impl FnMut(&Labels, &mut Vec<ChunkMeta>)) {
    let path = dir.join("index");
    let series: Vec<(Labels, Vec<ChunkMeta>)> = {
        let r = IndexReader::open(&path).unwrap();
        r.series_iter().collect::<Result<_, _>>().unwrap()
    };
    let symbols: Vec<String> = {
        let r = IndexReader::open(&path).unwrap();
        r.symbols().map(|s| s.unwrap().to_string()).collect()
    };
    let mut w = IndexWriter::create(&path, 1 << 16).unwrap();
    for s in &symbols {
        w.add_symbol(s).unwrap();
    }
    for (l, mut c) in series {
        edit(&l, &mut c);
        w.add_series(&l, &c).unwrap();
    }
    w.finish().unwrap();
}

fn broken_rule(dir: &Path) -> (HealthRule, Option<String>, String) {
    let e = check_block(dir).unwrap_err();
    let msg = e.to_string();
    let v = e
        .violation()
        .unwrap_or_else(|| panic!("not a rule violation: {msg}"));
    (v.rule, v.series.clone(), msg)
}

#[test]
fn healthy_block_passes() {
    let parent = tempfile::tempdir().unwrap();
    let dir = good_block(parent.path());
    let r = check_block(&dir).unwrap();
    assert_eq!((r.num_series, r.num_chunks, r.num_samples), (3, 6, 600));
    assert_eq!(r.min_sample_time, Some(START + 1000));
    assert_eq!(r.num_label_names, 2);
}

#[test]
fn chunk_outside_the_block_is_named() {
    let parent = tempfile::tempdir().unwrap();
    let dir = good_block(parent.path());
    rewrite_index(&dir, |l, c| {
        if l.get("i") == Some("1") {
            c[0].min_time = START - 5;
        }
    });
    let (rule, series, msg) = broken_rule(&dir);
    assert_eq!(rule, HealthRule::ChunkInsideBlock, "{msg}");
    assert_eq!(series.as_deref(), Some(r#"{__name__="m", i="1"}"#));
    assert!(msg.contains("chunk-inside-block"), "{msg}");
}

#[test]
fn chunk_bounds_disagreeing_with_samples_are_named() {
    let parent = tempfile::tempdir().unwrap();
    let dir = good_block(parent.path());
    rewrite_index(&dir, |l, c| {
        if l.get("i") == Some("2") {
            c[1].min_time += 1;
        }
    });
    let (rule, series, _) = broken_rule(&dir);
    assert_eq!(rule, HealthRule::FirstSampleAtMinTime);
    assert_eq!(series.as_deref(), Some(r#"{__name__="m", i="2"}"#));

    rewrite_index(&dir, |l, c| {
        if l.get("i") == Some("2") {
            c[1].min_time -= 1;
            c[1].max_time += 1;
        }
    });
    assert_eq!(broken_rule(&dir).0, HealthRule::LastSampleAtMaxTime);
}

#[test]
fn series_without_chunks_is_named() {
    let parent = tempfile::tempdir().unwrap();
    let dir = good_block(parent.path());
    rewrite_index(&dir, |l, c| {
        if l.get("i") == Some("0") {
            c.clear();
        }
    });
    let (rule, series, _) = broken_rule(&dir);
    assert_eq!(rule, HealthRule::SeriesHasChunks);
    assert_eq!(series.as_deref(), Some(r#"{__name__="m", i="0"}"#));
}

#[test]
fn stats_and_directory_name_must_match_meta() {
    let parent = tempfile::tempdir().unwrap();
    let dir = good_block(parent.path());
    let mut meta = BlockMeta::read(&dir).unwrap();
    meta.stats.num_samples += 1;
    meta.write_to_dir(&dir).unwrap();
    assert_eq!(broken_rule(&dir).0, HealthRule::StatsMatch);

    let moved = parent.path().join(Ulid::new().to_string());
    std::fs::rename(&dir, &moved).unwrap();
    assert_eq!(broken_rule(&moved).0, HealthRule::UlidMatchesDir);
}

#[test]
fn corrupted_chunk_is_a_read_error_naming_the_segment() {
    let parent = tempfile::tempdir().unwrap();
    let dir = good_block(parent.path());
    let seg = dir.join("chunks/000001");
    let mut b = std::fs::read(&seg).unwrap();
    b[20] ^= 0x01;
    std::fs::write(&seg, &b).unwrap();
    let e = check_block(&dir).unwrap_err();
    assert!(matches!(e, HealthError::Read(_)), "{e}");
    assert!(e.to_string().contains("000001"), "{e}");
}
