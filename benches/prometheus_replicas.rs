//! Benchmark: merging two Prometheus replicas into daily blocks, beside
//! promtool's own conversion of the same samples, in one run.
//!
//! `cargo bench --bench prometheus_replicas` (defaults: 10,000 series × 2
//! days at a 300 s step, per replica; both replicas scraped the same
//! instants, so half the input is duplicates). Each replica is one 2-day
//! block written with our block writer, as a compacted Prometheus holds
//! it; the series carry `replica="a"`/`"b"`, dropped with `--drop-label`.
//! promtool converts the deduplicated union from OpenMetrics text (it
//! cannot merge blocks), so its row converts half the samples we read.
//! Override with BENCH_SERIES, BENCH_STEP_S, BENCH_MEMORY_BUDGET, BENCH_DIR.
//! Prints wall time, input samples/s and peak RSS (from wait4).

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use base::{Labels, DAY_MS};
use tsdb::{BlockWriter, BlockWriterOptions, Chunker, DEFAULT_SEGMENT_SIZE};

const BIN: &str = env!("CARGO_BIN_EXE_blocksconvert");
/// 2026-11-16T00:00Z.
const START: i64 = 20_773 * DAY_MS;

/// The benchmark's knobs are counts.
fn env_or(name: &str, default: usize) -> usize {
    testkit::bench::env_or(name, default)
}

/// Runs a command to completion; returns wall seconds and peak RSS bytes.
fn measure(cmd: &mut Command) -> (f64, u64) {
    let u = testkit::bench::measure(cmd);
    assert!(u.status.success(), "{cmd:?} failed: {}", u.status);
    (u.wall, u.peak_rss)
}

fn series_labels(i: usize, replica: &str) -> Labels {
    Labels::normalize([
        ("__name__", format!("bench_metric_{}", i % 100)),
        ("instance", format!("host-{i:05}")),
        ("job", "bench".to_string()),
        ("replica", replica.to_string()),
    ])
    .expect("labels")
}

fn value(i: usize, k: usize) -> f64 {
    (i * 7 + k) as f64 * 0.5
}

/// One replica as a single block spanning both days; returns its samples.
fn write_replica(parent: &Path, replica: &str, series: usize, samples: usize, step: i64) -> u64 {
    std::fs::create_dir_all(parent).expect("replica dir");
    let mut all: Vec<Labels> = (0..series).map(|i| series_labels(i, replica)).collect();
    let mut order: Vec<usize> = (0..series).collect();
    order.sort_by(|&a, &b| all[a].cmp(&all[b]));
    let mut w = BlockWriter::create(
        parent,
        BlockWriterOptions {
            min_time: START,
            max_time: START + samples as i64 * step,
            // Parsed, so the bench needs no ulid dependency of its own.
            ulid: if replica == "a" {
                "01KA0000000000000000000000"
            } else {
                "01KA0000000000000000000001"
            }
            .parse()
            .expect("ulid"),
            memory_budget: 64 << 20,
            segment_size: DEFAULT_SEGMENT_SIZE,
            durable: true,
        },
    )
    .expect("block writer");
    for &i in &order {
        let mut c = Chunker::new();
        let mut chunks = Vec::new();
        for k in 0..samples {
            chunks.extend(c.push(START + k as i64 * step, value(i, k)));
        }
        chunks.extend(c.finish());
        w.add_series(&all[i], &chunks).expect("add series");
    }
    w.finish(None).expect("finish block");
    all.clear();
    (series * samples) as u64
}

/// The deduplicated union (replica label dropped) as OpenMetrics text.
fn write_union(path: &Path, series: usize, samples: usize, step: i64) {
    let f = std::fs::File::create(path).expect("create input");
    let mut out = BufWriter::with_capacity(1 << 20, f);
    for m in 0..100 {
        writeln!(out, "# TYPE bench_metric_{m} gauge").expect("write");
        for i in (m..series).step_by(100) {
            for k in 0..samples {
                let t = START + k as i64 * step;
                writeln!(
                    out,
                    "bench_metric_{m}{{instance=\"host-{i:05}\",job=\"bench\"}} {} {}.{:03}",
                    value(i, k),
                    t / 1000,
                    t % 1000
                )
                .expect("write");
            }
        }
    }
    writeln!(out, "# EOF").expect("write");
    out.flush().expect("flush");
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let series = env_or("BENCH_SERIES", 10_000);
    let step = env_or("BENCH_STEP_S", 300) as i64 * 1000;
    let samples = (2 * DAY_MS / step) as usize;
    let budget = std::env::var("BENCH_MEMORY_BUDGET").unwrap_or_else(|_| "256MiB".into());
    let dir = tempfile::tempdir_in(
        std::env::var_os("BENCH_DIR").unwrap_or_else(|| std::env::temp_dir().into_os_string()),
    )
    .expect("temp dir");
    let t = Instant::now();
    let (a, b) = (dir.path().join("replica-a"), dir.path().join("replica-b"));
    let input = write_replica(&a, "a", series, samples, step)
        + write_replica(&b, "b", series, samples, step);
    eprintln!(
        "wrote 2 replicas, {input} samples, in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    let ours = measure(
        Command::new(BIN)
            .args(["run", "--source"])
            .arg(format!("prometheus:{},{}", a.display(), b.display()))
            .args([
                "--drop-label",
                "replica",
                "--tenant",
                "bench",
                "--builders",
                "2",
            ])
            .args(["--memory-budget", &budget, "--bucket"])
            .arg(dir.path().join("bucket"))
            .arg("--work-dir")
            .arg(dir.path().join("work"))
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null()),
    );
    let promtool = if Command::new("promtool").arg("--version").output().is_ok() {
        let om = dir.path().join("union.om");
        write_union(&om, series, samples, step);
        Some(measure(
            Command::new("promtool")
                .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
                .arg(&om)
                .arg(dir.path().join("promtool-out"))
                .stdout(std::process::Stdio::null()),
        ))
    } else {
        eprintln!("promtool not installed: only our figures");
        None
    };
    let union = input / 2;
    println!();
    println!(
        "Two replicas -> daily blocks: {series} series x 2 days, step {} s; {input} input samples, {union} after dedup; --memory-budget {budget}",
        step / 1000
    );
    println!(
        "{:<52} {:>9} {:>12} {:>14} {:>14}",
        "tool", "seconds", "samples", "samples/s", "peak RSS MiB"
    );
    let row = |name: &str, n: u64, (s, rss): &(f64, u64)| {
        println!(
            "{name:<52} {s:>9.2} {n:>12} {:>14.0} {:>14.1}",
            n as f64 / s,
            *rss as f64 / 1048576.0
        );
    };
    row(
        "blocksconvert run (merge 2 replicas, 2 builders)",
        input,
        &ours,
    );
    if let Some(p) = promtool {
        row("promtool create-blocks-from openmetrics (union)", union, &p);
    }
}
