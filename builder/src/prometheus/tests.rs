use super::*;
use tsdb::{BlockWriter, BlockWriterOptions, Chunker};

const H: i64 = 3_600_000;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::normalize(pairs.iter().copied()).unwrap()
}

/// Writes a block of `series` (sorted here) covering `[min, max)`.
fn write_block(
    parent: &Path,
    min: i64,
    max: i64,
    mut series: Vec<(Labels, Vec<(i64, f64)>)>,
) -> PathBuf {
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let opts = BlockWriterOptions {
        min_time: min,
        max_time: max,
        ulid: ulid::Ulid::new(),
        memory_budget: 1 << 20,
        segment_size: 1 << 20,
        durable: true,
    };
    let mut w = BlockWriter::create(parent, opts).unwrap();
    for (l, samples) in &series {
        let mut c = Chunker::new();
        let mut chunks: Vec<_> = samples.iter().filter_map(|&(t, v)| c.push(t, v)).collect();
        chunks.extend(c.finish());
        w.add_series(l, &chunks).unwrap();
    }
    w.finish(None).unwrap().0
}

fn input(dir: PathBuf, drop: &[&str]) -> SourceInput {
    SourceInput {
        url: format!("file://{}", dir.display()),
        dir,
        drop_labels: drop.iter().map(|s| s.to_string()).collect(),
    }
}

fn merge(sources: &[SourceInput], work: &Path, start: i64, end: i64) -> (Vec<Series>, MergeStats) {
    let mut out = Vec::new();
    let stats = merge_blocks(sources, work, start, end, 1 << 20, &mut |l, s| {
        out.push((l.clone(), s.to_vec()));
        Ok(())
    })
    .unwrap();
    (out, stats)
}

#[test]
fn replicas_merge_by_series_first_source_first() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_block(
        dir.path(),
        0,
        4 * H,
        vec![
            (
                labels(&[("__name__", "up"), ("replica", "a")]),
                vec![(0, 1.0), (H, 2.0)],
            ),
            (
                labels(&[("__name__", "x"), ("replica", "a")]),
                vec![(H, 5.0)],
            ),
        ],
    );
    let b = write_block(
        dir.path(),
        0,
        4 * H,
        vec![
            (
                labels(&[("__name__", "up"), ("replica", "b")]),
                vec![(H, 20.0), (2 * H, 30.0)],
            ),
            (
                labels(&[("__name__", "only_b"), ("replica", "b")]),
                vec![(0, 7.0)],
            ),
        ],
    );
    let sources = [input(a, &["replica"]), input(b, &["replica"])];
    let (out, stats) = merge(&sources, dir.path(), 0, 4 * H);
    assert_eq!(stats.resorted, 0);
    let names: Vec<String> = out.iter().map(|(l, _)| l.to_string()).collect();
    assert_eq!(
        names,
        vec![
            r#"{__name__="only_b"}"#,
            r#"{__name__="up"}"#,
            r#"{__name__="x"}"#
        ]
    );
    // Both copies of t=H, replica a's first: the sink keeps it.
    assert_eq!(out[1].1, vec![(0, 1.0), (H, 2.0), (H, 20.0), (2 * H, 30.0)]);
}

#[test]
fn dropping_labels_that_change_the_order_resorts_the_block() {
    let dir = tempfile::tempdir().unwrap();
    // Index order: {a="1",b="2",r="x"} < {a="1",r="x"}; without r the
    // order flips, and r="x"/r="y" of one series become one.
    let blk = write_block(
        dir.path(),
        0,
        2 * H,
        vec![
            (labels(&[("a", "1"), ("r", "x")]), vec![(10, 1.0)]),
            (
                labels(&[("a", "1"), ("b", "2"), ("r", "x")]),
                vec![(10, 2.0)],
            ),
            (
                labels(&[("a", "1"), ("b", "2"), ("r", "y")]),
                vec![(20, 3.0)],
            ),
        ],
    );
    let (out, stats) = merge(&[input(blk.clone(), &["r"])], dir.path(), 0, 2 * H);
    assert_eq!(stats.resorted, 1);
    let got: Vec<(String, Vec<(i64, f64)>)> = out
        .iter()
        .map(|(l, s)| (l.to_string(), s.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (r#"{a="1"}"#.to_string(), vec![(10, 1.0)]),
            (r#"{a="1", b="2"}"#.to_string(), vec![(10, 2.0), (20, 3.0)]),
        ]
    );
    // Without dropping, the block streams as it is.
    let (out, stats) = merge(&[input(blk, &[])], dir.path(), 0, 2 * H);
    assert_eq!((stats.resorted, out.len()), (0, 3));
}

#[test]
fn only_chunks_overlapping_the_window_are_read() {
    let dir = tempfile::tempdir().unwrap();
    // 300 samples a minute apart: chunks of 120, the first two end
    // before 4h (at 1h59m and 3h59m).
    let samples: Vec<(i64, f64)> = (0..300).map(|i| (i * 60_000, i as f64)).collect();
    let blk = write_block(dir.path(), 0, 6 * H, vec![(labels(&[("a", "1")]), samples)]);
    let (out, _) = merge(&[input(blk.clone(), &[])], dir.path(), 4 * H, 6 * H);
    assert_eq!(out[0].1.first(), Some(&(240 * 60_000, 240.0)));
    let (out, _) = merge(&[input(blk, &[])], dir.path(), 7 * H, 8 * H);
    assert!(out.is_empty());
}

#[test]
fn a_series_with_only_dropped_labels_is_an_error_naming_the_block() {
    let dir = tempfile::tempdir().unwrap();
    let blk = write_block(
        dir.path(),
        0,
        H,
        vec![(labels(&[("replica", "a")]), vec![(1, 1.0)])],
    );
    let src = input(blk, &["replica"]);
    let err = merge_blocks(
        std::slice::from_ref(&src),
        dir.path(),
        0,
        H,
        1 << 20,
        &mut |_, _| Ok(()),
    )
    .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains(&src.url) && text.contains("no label left"),
        "{text}"
    );
}

#[test]
fn remote_entries_must_sit_directly_under_a_root_of_the_same_bucket() {
    const U: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    let roots = ["s3://b/x".to_string(), "gs://g/".to_string()];
    for ok in [
        format!("s3://b/x/{U}"),
        format!("gs://g/{U}"),
        format!("s3://b/x/{U}/"),
    ] {
        assert_eq!(admit_block(&roots, &ok).unwrap(), None, "{ok}");
    }
    for bad in [
        format!("s3://b/x/y/{U}"),
        format!("s3://b/xy/{U}"),
        format!("s3://b/{U}"),
        format!("s3://c/x/{U}"),
        format!("S3://b/x/{U}"),
        format!("gs://b/x/{U}"),
        format!("s3://b/x/../x/{U}"),
        format!("s3://b/x//{U}"),
        format!("s3://b/x/{U}?a=1"),
        format!("https://b/x/{U}"),
        "s3://b/x/not-a-ulid".to_string(),
    ] {
        let err = admit_block(&roots, &bad).unwrap_err().to_string();
        assert!(err.contains(&bad) && err.contains("refused"), "{err}");
    }
    let err = admit_block(&[], &format!("s3://b/x/{U}")).unwrap_err();
    assert!(err.to_string().contains("none given"), "{err}");
}

#[tokio::test]
async fn remote_block_urls_must_end_in_a_ulid() {
    let dir = tempfile::tempdir().unwrap();
    let err = fetch_block("s3://bucket/prefix/../../etc", dir.path())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a block ULID"), "{err}");
    let p = fetch_block("file:///data/01ARZ3NDEKTSV4RRFFQ69G5FAV", dir.path())
        .await
        .unwrap();
    assert_eq!(p, PathBuf::from("/data/01ARZ3NDEKTSV4RRFFQ69G5FAV"));
}
