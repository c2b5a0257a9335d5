//! XOR chunk encode and decode speed, in ns per sample, on series shaped
//! like a scrape: a 30 s step with a few ms of jitter (so most
//! delta-of-deltas take the 14-bit bucket) and a bounded walk of mostly
//! integral values, cut into 120-sample chunks as Prometheus cuts them.
//!
//! `cargo bench -p tsdb --bench xor_codec`. Overrides: `BENCH_SERIES`
//! (default 2,000), `BENCH_SAMPLES` per series (default 2,880: a day at
//! 30 s), `BENCH_ROUNDS` (default 5; the table shows the best round, the
//! one least disturbed by other load).

use std::hint::black_box;
use std::time::Instant;

use tsdb::{Chunker, EncodedChunk, XorIterator};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// SplitMix64: a deterministic stream without a dependency.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn series(i: u64, n: usize) -> Vec<(i64, f64)> {
    let mut v = (mix(i) % 1000) as f64;
    (0..n as u64)
        .map(|k| {
            let h = mix(i.wrapping_mul(0x1000_0001) ^ k);
            v += match h >> 60 {
                0..=9 => 1.0,
                10..=13 => 0.0,
                _ => ((h >> 32) % 100) as f64 / 4.0,
            };
            (1_700_000_000_000 + k as i64 * 30_000 + (h % 4) as i64, v)
        })
        .collect()
}

fn encode(samples: &[(i64, f64)]) -> Vec<EncodedChunk> {
    let mut chunker = Chunker::new();
    let mut out: Vec<EncodedChunk> = samples
        .iter()
        .filter_map(|&(t, v)| chunker.push(t, v))
        .collect();
    out.extend(chunker.finish());
    out
}

/// Best of `rounds` timings of `f`, in ns per sample.
fn best(rounds: usize, samples: usize, mut f: impl FnMut()) -> f64 {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_nanos() as f64 / samples as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let (n_series, per_series) = (
        env_or("BENCH_SERIES", 2_000),
        env_or("BENCH_SAMPLES", 2_880),
    );
    let rounds = env_or("BENCH_ROUNDS", 5);
    let all: Vec<Vec<(i64, f64)>> = (0..n_series as u64)
        .map(|i| series(i, per_series))
        .collect();
    let total = n_series * per_series;
    let chunks: Vec<Vec<EncodedChunk>> = all.iter().map(|s| encode(s)).collect();
    let bytes: usize = chunks.iter().flatten().map(|c| c.data.len()).sum();

    let enc = best(rounds, total, || {
        for s in &all {
            black_box(encode(s));
        }
    });
    let dec_vec = best(rounds, total, || {
        let mut out = Vec::new();
        for c in chunks.iter().flatten() {
            out.clear();
            XorIterator::new(&c.data)
                .and_then(|it| it.decode_into(&mut out))
                .expect("chunk");
            black_box(&out);
        }
    });
    let dec_sum = best(rounds, total, || {
        let mut acc = 0i64;
        for c in chunks.iter().flatten() {
            for s in XorIterator::new(&c.data).expect("header") {
                acc = acc.wrapping_add(s.expect("sample").0);
            }
        }
        black_box(acc);
    });
    println!(
        "{n_series} series x {per_series} samples, {:.2} bytes/sample, best of {rounds}\n",
        bytes as f64 / total as f64
    );
    println!("| step | ns/sample | M samples/s |");
    println!("|---|---|---|");
    for (name, ns) in [
        ("encode (Chunker)", enc),
        ("decode_into a Vec", dec_vec),
        ("decode, timestamps summed", dec_sum),
    ] {
        println!("| {name} | {ns:.2} | {:.0} |", 1e3 / ns);
    }
}
