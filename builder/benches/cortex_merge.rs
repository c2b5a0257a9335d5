//! Decode + merge + XOR re-encode throughput of the Cortex builder, one
//! core, on the real chunk objects of testdata/cortex/ (all encodings;
//! the replica case has overlapping chunks to merge).
//!
//! `cargo bench -p builder --bench cortex_merge`. Prints samples/s per
//! case; the target is at least 5 million samples/s per core. Fetching is
//! left out (the objects are read into memory first): this measures the CPU
//! work per series that bounds a builder reading from a fast store.
//!
//! Next to the builder's merge (a k-way merge of the chunks' sorted runs)
//! it times the merge it replaced, run alternately on the same decoded
//! chunks: concatenate, stable-sort by time, keep the first of equal
//! timestamps, cut XOR chunks.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use builder::cortex::{merge_series, DecodedChunk};
use cortex::{decode_samples, external_key_from_filesystem_name, ChunkKey, Sample};
use tsdb::Chunker;

type Series = Vec<(ChunkKey, Vec<u8>)>;

fn load_case(dir: &Path) -> Vec<Series> {
    let mut by_series: BTreeMap<(String, u64), Series> = BTreeMap::new();
    for e in std::fs::read_dir(dir.join("chunks")).expect("chunks dir") {
        let e = e.expect("dir entry");
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(ext) = external_key_from_filesystem_name(&name) else {
            continue;
        };
        let Some((user, _)) = ext.split_once('/') else {
            continue;
        };
        let Ok(key) = ChunkKey::parse(user, &ext) else {
            continue;
        };
        let bytes = std::fs::read(e.path()).expect("chunk file");
        by_series
            .entry((key.user.clone(), key.fingerprint))
            .or_default()
            .push((key, bytes));
    }
    by_series.into_values().collect()
}

/// How a pass merges the decoded chunks of a series.
#[derive(Clone, Copy)]
enum Merge {
    /// The builder's `merge_series`.
    Builder,
    /// The replaced merge: concatenation, stable sort, first of equal
    /// timestamps kept, XOR chunks cut.
    ConcatSort,
}

fn concat_sort(mut chunks: Vec<DecodedChunk>) -> usize {
    chunks.sort_by(|a, b| (a.key.from, &a.id).cmp(&(b.key.from, &b.id)));
    let mut all: Vec<Sample> = Vec::with_capacity(chunks.iter().map(|c| c.samples.len()).sum());
    for c in &chunks {
        all.extend_from_slice(&c.samples);
    }
    all.sort_by_key(|s| s.0);
    let mut chunker = Chunker::new();
    let mut out = Vec::new();
    let mut last = None;
    for &(t, v) in &all {
        if last == Some(t) {
            continue;
        }
        last = Some(t);
        out.extend(chunker.push(t, v));
    }
    out.extend(chunker.finish());
    out.len()
}

/// One pass over every series: samples decoded.
fn pass(series: &[Series], merge: Merge) -> u64 {
    let mut samples = 0u64;
    for s in series {
        let mut chunks = Vec::with_capacity(s.len());
        for (key, bytes) in s {
            let (obj, decoded) = decode_samples(key, bytes).expect("decode");
            samples += decoded.len() as u64;
            chunks.push(DecodedChunk {
                key: key.clone(),
                id: key.external_key(),
                labels: obj.labels().expect("labels"),
                samples: decoded,
            });
        }
        match merge {
            Merge::Builder => {
                std::hint::black_box(merge_series(chunks, i64::MIN, i64::MAX).expect("merge"));
            }
            Merge::ConcatSort => {
                std::hint::black_box(concat_sort(chunks));
            }
        }
    }
    samples
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/cortex");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .expect("testdata/cortex")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("chunks").is_dir())
        .collect();
    cases.sort();
    println!(
        "{:<26} {:>14} {:>14}  (M samples/s: decode + merge + XOR encode, 1 core)",
        "case", "k-way merge", "concat+sort"
    );
    let mut totals = [(0u64, 0f64); 2];
    for case in cases {
        let series = load_case(&case);
        let mut rates = [0f64; 2];
        // Alternate the two merges in half-second slices, so both see the
        // same machine load.
        let mut per = [(0u64, 0f64); 2];
        for _ in 0..4 {
            for (i, merge) in [Merge::Builder, Merge::ConcatSort].into_iter().enumerate() {
                pass(&series, merge); // warm up
                let start = Instant::now();
                while start.elapsed().as_secs_f64() < 0.5 {
                    per[i].0 += pass(&series, merge);
                }
                per[i].1 += start.elapsed().as_secs_f64();
            }
        }
        for i in 0..2 {
            rates[i] = per[i].0 as f64 / per[i].1 / 1e6;
            totals[i].0 += per[i].0;
            totals[i].1 += per[i].1;
        }
        println!(
            "{:<26} {:>14.2} {:>14.2}",
            case.file_name().unwrap_or_default().to_string_lossy(),
            rates[0],
            rates[1]
        );
    }
    println!(
        "{:<26} {:>14.2} {:>14.2}",
        "all",
        totals[0].0 as f64 / totals[0].1 / 1e6,
        totals[1].0 as f64 / totals[1].1 / 1e6
    );
}
