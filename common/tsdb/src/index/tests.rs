//! Round trips and refusals of the index writer, read back by the reader.

use std::path::Path;

use super::*;
use crate::chunks::ChunkMeta;
use base::Labels;

fn ls(p: &[(&str, &str)]) -> Labels {
    Labels::normalize(p.iter().copied()).unwrap()
}

fn meta(min_time: i64, max_time: i64, chunk_ref: u64) -> ChunkMeta {
    ChunkMeta {
        min_time,
        max_time,
        chunk_ref,
    }
}

/// Writes `series` (sorted by the caller) with all their symbols.
fn write(path: &Path, series: &[(Labels, Vec<ChunkMeta>)], budget: usize) -> IndexSummary {
    let mut syms: Vec<&str> = series
        .iter()
        .flat_map(|(l, _)| l.iter().flat_map(|l| [l.name.as_str(), l.value.as_str()]))
        .collect();
    syms.sort_unstable();
    syms.dedup();
    let mut w = IndexWriter::create(path, budget).unwrap();
    for s in syms {
        w.add_symbol(s).unwrap();
    }
    for (l, c) in series {
        w.add_series(l, c).unwrap();
    }
    w.finish().unwrap()
}

fn sample_series(n: usize) -> Vec<(Labels, Vec<ChunkMeta>)> {
    let mut v: Vec<(Labels, Vec<ChunkMeta>)> = (0..n)
        .map(|i| {
            let l = ls(&[
                ("__name__", if i % 3 == 0 { "up" } else { "requests_total" }),
                ("instance", &format!("host-{:05}", i % 97)),
                ("job", if i % 2 == 0 { "api" } else { "db" }),
                ("series", &i.to_string()),
            ]);
            (l, Vec::new())
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    let mut r = 8u64;
    for (i, (_, c)) in v.iter_mut().enumerate() {
        for k in 0..(1 + i % 3) as i64 {
            c.push(meta(k * 1000 - 5000, k * 1000 + 900 - 5000, r));
            r += 37;
        }
    }
    v
}

#[test]
fn round_trip_series_postings_and_label_values() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("index");
    let series = sample_series(500);
    let sum = write(&p, &series, 1 << 20);
    assert_eq!(sum.num_series, 500);
    let r = IndexReader::open(&p).unwrap();
    assert_eq!(r.size(), sum.size);
    r.verify_sections().unwrap();
    let got: Vec<(Labels, Vec<ChunkMeta>)> = r.series_iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(got, series);

    assert_eq!(
        r.label_names(),
        vec!["__name__", "instance", "job", "series"]
    );
    assert_eq!(r.label_values("job").unwrap(), vec!["api", "db"]);
    assert_eq!(r.label_index("job").unwrap(), vec!["api", "db"]);
    assert_eq!(r.label_values("instance").unwrap().len(), 97);
    let all = r.postings("", "").unwrap();
    assert_eq!(all.len(), 500);
    let ups = r.postings("__name__", "up").unwrap();
    assert_eq!(ups.len(), 167);
    for s in ups {
        let (l, _) = r.series(s).unwrap().into_labels().unwrap();
        assert_eq!(l.get("__name__"), Some("up"));
    }
    assert!(r.postings("job", "nope").unwrap().is_empty());
    assert!(r.postings("nope", "x").unwrap().is_empty());
    // No temporary files left next to the index.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("index")]);
}

#[test]
fn spilling_postings_changes_no_byte() {
    let dir = tempfile::tempdir().unwrap();
    let series = sample_series(3000);
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    write(&a, &series, 1 << 30);
    write(&b, &series, 64);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn empty_index_opens() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("index");
    let sum = write(&p, &[], 1024);
    assert_eq!(sum.num_series, 0);
    let r = IndexReader::open(&p).unwrap();
    assert_eq!(r.raw_series().count(), 0);
    assert!(r.postings("", "").unwrap().is_empty());
    r.verify_sections().unwrap();
}

#[test]
fn refuses_unsorted_and_duplicate_symbols() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = IndexWriter::create(&dir.path().join("index"), 1024).unwrap();
    w.add_symbol("b").unwrap();
    assert!(matches!(
        w.add_symbol("b"),
        Err(IndexWriteError::DuplicateSymbol { .. })
    ));
    let e = w.add_symbol("a").unwrap_err();
    assert!(
        matches!(e, IndexWriteError::SymbolOutOfOrder { ref symbol, ref previous } if symbol == "a" && previous == "b")
    );
}

#[test]
fn refuses_series_out_of_order_duplicate_or_with_unknown_symbols() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = IndexWriter::create(&dir.path().join("index"), 1024).unwrap();
    for s in ["1", "2", "a"] {
        w.add_symbol(s).unwrap();
    }
    w.add_series(&ls(&[("a", "2")]), &[meta(0, 1, 8)]).unwrap();
    let e = w
        .add_series(&ls(&[("a", "1")]), &[meta(0, 1, 20)])
        .unwrap_err();
    assert!(
        matches!(e, IndexWriteError::SeriesOutOfOrder { ref series, .. } if series == r#"{a="1"}"#),
        "{e}"
    );
    assert!(matches!(
        w.add_series(&ls(&[("a", "2")]), &[meta(0, 1, 20)]),
        Err(IndexWriteError::DuplicateSeries { .. })
    ));
    let e = w
        .add_series(&ls(&[("a", "3")]), &[meta(0, 1, 20)])
        .unwrap_err();
    assert!(
        matches!(e, IndexWriteError::UnknownSymbol { ref symbol, .. } if symbol == "3"),
        "{e}"
    );
    assert!(matches!(
        w.add_symbol("z"),
        Err(IndexWriteError::SymbolAfterSeries { .. })
    ));
}

#[test]
fn refuses_chunks_out_of_order_overlapping_or_going_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = IndexWriter::create(&dir.path().join("index"), 1024).unwrap();
    for s in ["1", "2", "3", "4", "a"] {
        w.add_symbol(s).unwrap();
    }
    let l = ls(&[("a", "1")]);
    let e = w
        .add_series(&l, &[meta(0, 10, 8), meta(10, 20, 30)])
        .unwrap_err();
    assert!(
        matches!(e, IndexWriteError::ChunksOutOfOrder { index: 1, .. }),
        "{e}"
    );
    assert!(e.to_string().contains(r#"{a="1"}"#));
    let e = w.add_series(&l, &[meta(5, 4, 8)]).unwrap_err();
    assert!(matches!(e, IndexWriteError::ChunkMinAfterMax { .. }), "{e}");
    let e = w
        .add_series(&l, &[meta(0, 1, 30), meta(5, 6, 8)])
        .unwrap_err();
    assert!(
        matches!(e, IndexWriteError::ChunkRefNotIncreasing { .. }),
        "{e}"
    );
    w.add_series(&l, &[meta(0, 1, 30)]).unwrap();
    let e = w
        .add_series(&ls(&[("a", "2")]), &[meta(0, 1, 30)])
        .unwrap_err();
    assert!(
        matches!(e, IndexWriteError::ChunkRefNotIncreasing { .. }),
        "{e}"
    );
}

#[test]
fn corrupted_bytes_are_caught_by_checksums() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("index");
    write(&p, &sample_series(20), 1 << 20);
    let good = std::fs::read(&p).unwrap();
    let r = IndexReader::open(&p).unwrap();
    let toc = *r.toc();
    drop(r);
    // Flip one byte inside the first series entry, then inside the TOC.
    let first_series = (toc.series as usize).div_ceil(16) * 16;
    for (at, expect_open_ok) in [(first_series + 2, true), (good.len() - 10, false)] {
        let mut bad = good.clone();
        bad[at] ^= 0x40;
        std::fs::write(&p, &bad).unwrap();
        match IndexReader::open(&p) {
            Ok(r) => {
                assert!(expect_open_ok);
                let e = r
                    .raw_series()
                    .find_map(|s| s.err())
                    .expect("series CRC error");
                assert!(
                    matches!(e.format_error(), Some(IndexFormatError::Checksum { .. })),
                    "{e}"
                );
            }
            Err(e) => {
                assert!(!expect_open_ok);
                assert!(
                    matches!(
                        e.format_error(),
                        Some(IndexFormatError::Checksum { section: "TOC", .. })
                    ),
                    "{e}"
                );
            }
        }
    }
}

#[test]
fn index_in_memory_reads_like_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("index");
    let series = sample_series(50);
    write(&p, &series, 1 << 20);
    let bytes = std::fs::read(&p).unwrap();
    let r = IndexReader::from_bytes(Path::new("mem/index"), bytes.clone()).unwrap();
    r.verify_sections().unwrap();
    let got: Vec<(Labels, Vec<ChunkMeta>)> = r.series_iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(got, series);

    let e = IndexReader::from_bytes(Path::new("mem/index"), bytes[..20].to_vec())
        .err()
        .expect("a truncated index is refused");
    assert!(e.to_string().contains("mem/index"), "{e}");
    assert!(
        matches!(
            e.format_error(),
            Some(IndexFormatError::TooSmall { size: 20 })
        ),
        "{e}"
    );
}
