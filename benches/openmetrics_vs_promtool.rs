//! Benchmark: our `run` against `promtool tsdb create-blocks-from
//! openmetrics` on the same generated file, in one go, so the ratio is
//! measured under the same machine load.
//!
//! `cargo bench --bench openmetrics_vs_promtool` (defaults: 10,000 series
//! × 1 day at 60 s = 14.4 M samples). Override with BENCH_SERIES,
//! BENCH_SAMPLES, BENCH_MEMORY_BUDGET. Prints a table with wall time,
//! samples/s and peak RSS (from wait4) for both.

use std::io::BufWriter;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use scanner::{write_openmetrics, GenSpec};

const BIN: &str = env!("CARGO_BIN_EXE_blocksconvert");

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs a command to completion; returns wall seconds and peak RSS bytes.
fn measure(cmd: &mut Command) -> (f64, u64) {
    let started = Instant::now();
    let child = cmd.spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid value for wait4 to fill in; `pid` is our child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed");
    let secs = started.elapsed().as_secs_f64();
    let st = std::process::ExitStatus::from_raw(status);
    assert!(st.success(), "{cmd:?} failed: {st}");
    std::mem::forget(child);
    (secs, usage.ru_maxrss as u64 * 1024)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing we need.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let series = env_or("BENCH_SERIES", 10_000);
    let samples = env_or("BENCH_SAMPLES", 1_440);
    let budget = std::env::var("BENCH_MEMORY_BUDGET").unwrap_or_else(|_| "128MiB".into());
    let dir = tempfile::tempdir_in(
        std::env::var_os("BENCH_DIR").unwrap_or_else(|| std::env::temp_dir().into_os_string()),
    )
    .expect("temp dir");
    let input = dir.path().join("bench.om");
    let spec = GenSpec {
        series,
        // 2026-11-16T00:00Z: one whole UTC day.
        start_ms: 20_773 * base::DAY_MS,
        samples,
        step_ms: 60_000,
        seed: 1,
    };
    let t = Instant::now();
    let f = std::fs::File::create(&input).expect("create input");
    let lines =
        write_openmetrics(&spec, &mut BufWriter::with_capacity(1 << 20, f)).expect("write input");
    let size = std::fs::metadata(&input).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "generated {lines} samples ({:.0} MiB) in {:.1}s",
        size as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );

    let ours = measure(
        Command::new(BIN)
            .args(["run", "--source"])
            .arg(format!("openmetrics:{}", input.display()))
            .args([
                "--tenant",
                "bench",
                "--builders",
                "1",
                "--memory-budget",
                &budget,
                "--bucket",
            ])
            .arg(dir.path().join("bucket"))
            .arg("--work-dir")
            .arg(dir.path().join("work"))
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null()),
    );
    let promtool = if Command::new("promtool").arg("--version").output().is_ok() {
        Some(measure(
            Command::new("promtool")
                .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
                .arg(&input)
                .arg(dir.path().join("promtool-out"))
                .stdout(std::process::Stdio::null()),
        ))
    } else {
        eprintln!("promtool not installed: only our figures");
        None
    };
    print_table(lines, &ours, promtool.as_ref(), &budget, dir.path());
}

fn print_table(
    samples: u64,
    ours: &(f64, u64),
    promtool: Option<&(f64, u64)>,
    budget: &str,
    _dir: &Path,
) {
    println!();
    println!("OpenMetrics -> blocks, {samples} samples, --memory-budget {budget}");
    println!(
        "{:<44} {:>9} {:>14} {:>14}",
        "tool", "seconds", "samples/s", "peak RSS MiB"
    );
    let row = |name: &str, (s, rss): &(f64, u64)| {
        println!(
            "{name:<44} {s:>9.2} {:>14.0} {:>14.1}",
            samples as f64 / s,
            *rss as f64 / 1048576.0
        );
    };
    row("blocksconvert run (scan + build + upload)", ours);
    if let Some(p) = promtool {
        row("promtool tsdb create-blocks-from openmetrics", p);
        println!("throughput ratio (ours / promtool): {:.1}x", p.0 / ours.0);
    }
}
