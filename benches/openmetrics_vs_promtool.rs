//! Benchmark: our `run` against `promtool tsdb create-blocks-from
//! openmetrics` on the same generated file, in one go, so the ratio is
//! measured under the same machine load.
//!
//! `cargo bench -p blocksconvert --bench openmetrics_vs_promtool`; the
//! defaults are the headline case, 2,000 series × 2 days at 30 s (11.5 M
//! samples). Override with BENCH_SERIES, BENCH_DAYS, BENCH_STEP_S (or
//! BENCH_SAMPLES per series, which wins over BENCH_DAYS),
//! BENCH_MEMORY_BUDGET, BENCH_DIR (where the temp dir goes). BENCH_INPUT
//! keeps the generated file at that path and reuses it when it exists.
//! BENCH_BASELINE_BIN times a second blocksconvert binary (an older build)
//! on the same file; BENCH_RUNS repeats ours and the baseline, alternating,
//! and reports medians. BENCH_SKIP_PROMTOOL=1 leaves promtool out. Prints
//! input size, samples, wall time, samples/s and peak RSS (from wait4) per
//! tool, and the ratios.

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use scanner::{write_openmetrics, GenSpec};

const BIN: &str = env!("CARGO_BIN_EXE_blocksconvert");

/// The benchmark's knobs are counts.
fn env_or(name: &str, default: usize) -> usize {
    testkit::bench::env_or(name, default)
}

/// Wall seconds and peak RSS bytes of one run.
type Measured = (f64, u64);

/// Runs a command to completion; returns wall seconds and peak RSS bytes.
fn measure(cmd: &mut Command) -> Measured {
    let u = testkit::bench::measure(cmd);
    assert!(u.status.success(), "{cmd:?} failed: {}", u.status);
    (u.wall, u.peak_rss)
}

/// Generates the input (or reuses BENCH_INPUT); returns sample lines and bytes.
fn input_file(path: &Path, spec: &GenSpec) -> (u64, u64) {
    if std::env::var_os("BENCH_INPUT").is_some() && path.exists() {
        let f = std::fs::File::open(path).expect("open input");
        let lines = std::io::BufRead::lines(std::io::BufReader::new(f))
            .map(|l| l.expect("read input"))
            .filter(|l| !l.starts_with('#'))
            .count() as u64;
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        eprintln!("reusing {} ({lines} samples)", path.display());
        return (lines, size);
    }
    let t = Instant::now();
    let f = std::fs::File::create(path).expect("create input");
    let lines =
        write_openmetrics(spec, &mut BufWriter::with_capacity(1 << 20, f)).expect("write input");
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "generated {lines} samples ({:.0} MiB) in {:.1}s",
        size as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );
    (lines, size)
}

/// One `blocksconvert run` of `bin` into fresh bucket and work dirs.
fn run_ours(bin: &Path, input: &Path, dir: &Path, budget: &str, tag: &str) -> Measured {
    let bucket = dir.join(format!("bucket-{tag}"));
    let work = dir.join(format!("work-{tag}"));
    let m = measure(
        Command::new(bin)
            .args(["run", "--source"])
            .arg(format!("openmetrics:{}", input.display()))
            .args([
                "--tenant",
                "bench",
                "--builders",
                "1",
                "--memory-budget",
                budget,
                "--bucket",
            ])
            .arg(&bucket)
            .arg("--work-dir")
            .arg(&work)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null()),
    );
    // Each run starts from nothing, and the disk does not fill up.
    let _ = std::fs::remove_dir_all(&bucket);
    let _ = std::fs::remove_dir_all(&work);
    m
}

fn median(v: &mut [Measured]) -> Measured {
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let wall = v[v.len() / 2].0;
    let rss = v.iter().map(|m| m.1).max().unwrap_or(0);
    (wall, rss)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing we need.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let series = env_or("BENCH_SERIES", 2_000);
    let days = env_or("BENCH_DAYS", 2);
    let step_s = env_or("BENCH_STEP_S", 30).max(1);
    let samples = env_or("BENCH_SAMPLES", days * 86_400 / step_s);
    let runs = env_or("BENCH_RUNS", 1).max(1);
    let budget = std::env::var("BENCH_MEMORY_BUDGET").unwrap_or_else(|_| "128MiB".into());
    let baseline = std::env::var_os("BENCH_BASELINE_BIN").map(PathBuf::from);
    let dir = tempfile::tempdir_in(
        std::env::var_os("BENCH_DIR").unwrap_or_else(|| std::env::temp_dir().into_os_string()),
    )
    .expect("temp dir");
    let input = std::env::var_os("BENCH_INPUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().join("bench.om"));
    let spec = GenSpec {
        series,
        // 2026-11-16T00:00Z: whole UTC days.
        start_ms: 20_773 * base::DAY_MS,
        samples,
        step_ms: step_s as i64 * 1000,
        seed: 1,
    };
    let (lines, size) = input_file(&input, &spec);

    // Ours and the baseline alternate, so load from other processes on the
    // machine hits both alike.
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for i in 0..runs {
        ours.push(run_ours(
            Path::new(BIN),
            &input,
            dir.path(),
            &budget,
            "ours",
        ));
        eprintln!("run {i}: ours {:.2}s", ours[i].0);
        if let Some(b) = &baseline {
            base.push(run_ours(b, &input, dir.path(), &budget, "baseline"));
            eprintln!("run {i}: baseline {:.2}s", base[i].0);
        }
    }
    let skip_promtool = std::env::var_os("BENCH_SKIP_PROMTOOL").is_some_and(|v| v != "0");
    let promtool = if skip_promtool {
        None
    } else if Command::new("promtool").arg("--version").output().is_ok() {
        let out = dir.path().join("promtool-out");
        let m = measure(
            Command::new("promtool")
                .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
                .arg(&input)
                .arg(&out)
                .stdout(std::process::Stdio::null()),
        );
        let _ = std::fs::remove_dir_all(&out);
        Some(m)
    } else {
        eprintln!("promtool not installed: only our figures");
        None
    };
    let ours = median(&mut ours);
    let base = (!base.is_empty()).then(|| median(&mut base));
    println!();
    println!(
        "OpenMetrics -> blocks: {:.0} MiB input, {lines} samples ({series} series), \
         --memory-budget {budget}, {runs} run(s), median wall, max RSS",
        size as f64 / 1048576.0
    );
    println!(
        "{:<48} {:>9} {:>14} {:>14}",
        "tool", "seconds", "samples/s", "peak RSS MiB"
    );
    let row = |name: &str, (s, rss): &Measured| {
        println!(
            "{name:<48} {s:>9.2} {:>14.0} {:>14.1}",
            lines as f64 / s,
            *rss as f64 / 1048576.0
        );
    };
    row("blocksconvert run (scan + build + upload)", &ours);
    if let Some(b) = &base {
        row("baseline run (BENCH_BASELINE_BIN)", b);
    }
    if let Some(p) = &promtool {
        row("promtool tsdb create-blocks-from openmetrics", p);
        println!("speed-up over promtool (wall): {:.1}x", p.0 / ours.0);
        if let Some(b) = &base {
            println!("baseline over promtool (wall): {:.1}x", p.0 / b.0);
        }
    }
    if let Some(b) = &base {
        println!("speed-up over baseline (wall): {:.2}x", b.0 / ours.0);
    }
}
