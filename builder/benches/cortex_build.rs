//! End-to-end Cortex plan build: generates a chunk store of (by default)
//! 100,000 series x 1 day at 60 s (Bigchunk, one replica) with
//! `cortex_testgen::generate`, then runs the release binary
//! `blocksconvert build --once` on it twice, with the memory budget at
//! 128 MiB and at 4 GiB, each on a fresh copy of the plans. Prints wall
//! time, samples/s, series/s and peak RSS (from `wait4`) per budget.
//!
//! Build the binary first: `cargo build --release`, then
//! `cargo bench -p builder --bench cortex_build`. Smaller runs:
//! `BENCH_SERIES=20000`; also `BENCH_DAYS`, `BENCH_STEP_MS`,
//! `BENCH_REPLICAS`, `BENCH_CONCURRENCY`, `BENCH_DIR` (where to generate;
//! default a temporary directory). The target: peak RSS within the budget
//! plus 64 MiB.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use cortex::Encoding;
use cortex_testgen::{generate, GenOptions};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs a command to completion; returns wall seconds, peak RSS bytes and
/// whether it succeeded.
fn measure(cmd: &mut Command) -> (f64, u64, std::process::ExitStatus) {
    let started = Instant::now();
    let child = cmd.spawn().expect("spawn blocksconvert");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill in, and
    // `pid` is our own child, not yet reaped.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed");
    let secs = started.elapsed().as_secs_f64();
    // Reaped by wait4 already: dropping `child` would not wait, but keep it
    // from being used again.
    std::mem::forget(child);
    (
        secs,
        usage.ru_maxrss as u64 * 1024,
        std::process::ExitStatus::from_raw(status),
    )
}

fn main() {
    let bin: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/blocksconvert");
    if !bin.is_file() {
        eprintln!(
            "cortex_build bench: {} is missing; run `cargo build --release` first",
            bin.display()
        );
        std::process::exit(1);
    }
    let opts = GenOptions {
        tenants: 1,
        series: env_or("BENCH_SERIES", 100_000),
        start_day: 20_000,
        days: env_or("BENCH_DAYS", 1),
        step_ms: env_or("BENCH_STEP_MS", 60_000),
        // Cortex's default max chunk age is 12h: 720 samples at 60 s.
        samples_per_chunk: 720,
        encodings: vec![Encoding::Bigchunk],
        replicas: env_or("BENCH_REPLICAS", 1),
        duplicate_label_bug: false,
        seed: 42,
        keep_expected: false,
    };
    let concurrency: usize = env_or("BENCH_CONCURRENCY", 64);
    let tmp = match std::env::var_os("BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .expect("temp dir");
    let root = tmp.path();
    let started = Instant::now();
    let report = generate(&opts, &root.join("chunks"), &root.join("plans"), "m")
        .expect("generate the chunk store");
    let (samples, series) = (report.total_samples(), report.total_series());
    println!(
        "generated {} series x {} day(s): {} chunks, {:.1} MiB, {} samples in plans, in {:.1} s",
        opts.series,
        opts.days,
        report.chunks,
        report.chunk_bytes as f64 / (1 << 20) as f64,
        samples,
        started.elapsed().as_secs_f64()
    );
    println!(
        "\n{:>8} {:>9} {:>12} {:>10} {:>14}",
        "budget", "seconds", "samples/s", "series/s", "peak RSS MiB"
    );
    for budget in ["128MiB", "4GiB"] {
        let bucket = root.join(format!("bucket-{budget}"));
        testkit::files::copy_dir(&root.join("plans"), &bucket).expect("copying a tree");
        let work = root.join(format!("work-{budget}"));
        std::fs::create_dir_all(&work).expect("work dir");
        let log = root.join(format!("build-{budget}.log"));
        let log_file = std::fs::File::create(&log).expect("log file");
        let (secs, rss, status) = measure(
            Command::new(&bin)
                .arg("build")
                .arg("--once")
                .arg("--bucket")
                .arg(&bucket)
                .args(["--prefix", "m"])
                .arg("--source")
                .arg(format!("cortex:{}", report.config_path.display()))
                .args(["--memory-budget", budget])
                .arg("--work-dir")
                .arg(&work)
                .args(["--concurrency", &concurrency.to_string()])
                .stdout(Stdio::null())
                .stderr(log_file),
        );
        if !status.success() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            eprintln!("blocksconvert build failed ({status}):\n{text}");
            std::process::exit(1);
        }
        println!(
            "{:>8} {:>9.2} {:>12.0} {:>10.0} {:>14.1}",
            budget,
            secs,
            samples as f64 / secs,
            series as f64 / secs,
            rss as f64 / (1 << 20) as f64
        );
    }
}
