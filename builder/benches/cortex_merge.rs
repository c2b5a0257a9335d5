//! Decode + merge + XOR re-encode throughput of the Cortex builder, one
//! core, on the real chunk objects of testdata/cortex/ (all encodings;
//! the replica case has overlapping chunks to merge).
//!
//! `cargo bench -p builder --bench cortex_merge`. Prints samples/s per
//! case; the target is at least 5 million samples/s per core. Fetching is
//! left out (the objects are read into memory first): this measures the CPU
//! work per series that bounds a builder reading from a fast store.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use builder::cortex::{merge_series, DecodedChunk};
use cortex::{decode_samples, external_key_from_filesystem_name, ChunkKey};

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

/// One pass over every series: samples decoded.
fn pass(series: &[Series]) -> u64 {
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
        let merged = merge_series(chunks, i64::MIN, i64::MAX).expect("merge");
        std::hint::black_box(merged);
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
    let (mut all_samples, mut all_secs) = (0u64, 0f64);
    for case in cases {
        let series = load_case(&case);
        pass(&series); // warm up
        let start = Instant::now();
        let mut samples = 0;
        while start.elapsed().as_secs_f64() < 2.0 {
            samples += pass(&series);
        }
        let secs = start.elapsed().as_secs_f64();
        all_samples += samples;
        all_secs += secs;
        println!(
            "{:<26} {:>6.2} M samples/s (decode + merge + XOR encode, 1 core)",
            case.file_name().unwrap_or_default().to_string_lossy(),
            samples as f64 / secs / 1e6
        );
    }
    println!(
        "{:<26} {:>6.2} M samples/s",
        "all",
        all_samples as f64 / all_secs / 1e6
    );
}
