//! End-to-end Cortex plan build with the release binary
//! (`blocksconvert build --once`) on a store written by
//! `cortex_testgen::generate`, each run on a fresh copy of the plans.
//!
//! Two presets (`BENCH_PRESET`):
//! - `scale` (default): 1 tenant x 100,000 series x 1 day at 60 s
//!   (Bigchunk, one replica), built at a memory budget of 128 MiB and of
//!   4 GiB. The target: peak RSS within the budget plus 64 MiB.
//! - `holdout`: the shape of issue 14's comparison with Cortex: v11
//!   Bigchunk, 3 tenants x 360 series x 3 days at 30 s, every sample pushed
//!   twice (2 replicas, cut at other points), so 9 plans; 512 MiB. The
//!   target: all 9 plans in <= 0.78 s wall on 2 cores (Cortex: 2.35 s).
//!
//! With `BENCH_BEFORE=/path/to/older/blocksconvert`, that binary and the
//! current one run alternately (`BENCH_RUNS` rounds, default 3), so both
//! see the same machine load; the table shows every run and the medians.
//! Per run: total wall, mean and max wall per plan (the `seconds` of the
//! finished files), samples decoded per second (the finished files'
//! `samples_in`, replicas and out-of-day samples included, over total
//! wall), CPU user+sys and peak RSS (`wait4`).
//!
//! Build the binary first: `cargo build --release -p blocksconvert`, then
//! `cargo bench -p builder --bench cortex_build`. The binary is
//! `$CARGO_TARGET_DIR/release/blocksconvert` (or `BENCH_BIN`). Shape
//! overrides: `BENCH_TENANTS`, `BENCH_SERIES`, `BENCH_DAYS`, `BENCH_STEP_MS`,
//! `BENCH_REPLICAS`, `BENCH_SAMPLES_PER_CHUNK`, `BENCH_CONCURRENCY`,
//! `BENCH_BUDGETS` (comma separated), `BENCH_DIR` (where to generate;
//! default a temporary directory), `BENCH_KEEP=1` (leave the generated
//! store and plans there, to profile one build by hand).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use cortex::Encoding;
use cortex_testgen::{generate, GenOptions};
use protocol::records::FinishedRecord;
use testkit::bench::{env_or, measure, median, release_binaries, Usage};

/// The finished files of one run's bucket.
fn finished_records(bucket: &Path) -> Vec<FinishedRecord> {
    let mut out = Vec::new();
    let mut dirs = vec![bucket.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("bucket dir") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains(".finished."))
            {
                let text = std::fs::read(&p).expect("finished file");
                out.push(serde_json::from_slice(&text).expect("finished record"));
            }
        }
    }
    out
}

/// One measured build.
struct Run {
    binary: &'static str,
    budget: String,
    usage: Usage,
    plans: usize,
    plan_mean: f64,
    plan_max: f64,
    samples_in: u64,
    samples_out: u64,
}

fn main() {
    let (after, before) = release_binaries(
        "cortex_build",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
    );
    let holdout = std::env::var("BENCH_PRESET").is_ok_and(|p| p == "holdout");
    let opts = if holdout {
        GenOptions {
            tenants: env_or("BENCH_TENANTS", 3),
            series: env_or("BENCH_SERIES", 360),
            start_day: 20_000,
            days: env_or("BENCH_DAYS", 3),
            step_ms: env_or("BENCH_STEP_MS", 30_000),
            // 4 h chunks: the hold-out's ~480 samples per chunk fetched.
            samples_per_chunk: env_or("BENCH_SAMPLES_PER_CHUNK", 480),
            encodings: vec![Encoding::Bigchunk],
            replicas: env_or("BENCH_REPLICAS", 2),
            duplicate_label_bug: false,
            seed: 42,
            keep_expected: false,
        }
    } else {
        GenOptions {
            tenants: env_or("BENCH_TENANTS", 1),
            series: env_or("BENCH_SERIES", 100_000),
            start_day: 20_000,
            days: env_or("BENCH_DAYS", 1),
            step_ms: env_or("BENCH_STEP_MS", 60_000),
            // Cortex's default max chunk age is 12h: 720 samples at 60 s.
            samples_per_chunk: env_or("BENCH_SAMPLES_PER_CHUNK", 720),
            encodings: vec![Encoding::Bigchunk],
            replicas: env_or("BENCH_REPLICAS", 1),
            duplicate_label_bug: false,
            seed: 42,
            keep_expected: false,
        }
    };
    let budgets: Vec<String> = env_or(
        "BENCH_BUDGETS",
        if holdout { "512MiB" } else { "128MiB,4GiB" }.to_string(),
    )
    .split(',')
    .map(str::to_string)
    .collect();
    let rounds: usize = env_or("BENCH_RUNS", if before.is_some() { 3 } else { 1 });
    let concurrency: usize = env_or("BENCH_CONCURRENCY", 64);
    let tmp = match std::env::var_os("BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .expect("temp dir");
    let root = tmp.path().to_path_buf();
    let root = &root;
    let started = Instant::now();
    let report = generate(&opts, &root.join("chunks"), &root.join("plans"), "m")
        .expect("generate the chunk store");
    println!(
        "generated {} tenant(s) x {} series x {} day(s), {} replica(s): {} plans, {} chunks, \
         {:.1} MiB, {} samples to write, in {:.1} s",
        opts.tenants,
        opts.series,
        opts.days,
        opts.replicas,
        report.plans.len(),
        report.chunks,
        report.chunk_bytes as f64 / (1 << 20) as f64,
        report.total_samples(),
        started.elapsed().as_secs_f64()
    );

    let mut binaries: Vec<(&'static str, &Path)> = Vec::new();
    if let Some(b) = &before {
        binaries.push(("before", b));
    }
    binaries.push(("after", &after));
    let mut runs: Vec<Run> = Vec::new();
    for round in 0..rounds {
        for budget in &budgets {
            for &(binary, bin) in &binaries {
                let tag = format!("{binary}-{budget}-{round}");
                let bucket = root.join(format!("bucket-{tag}"));
                testkit::files::copy_dir(&root.join("plans"), &bucket).expect("copying a tree");
                let work = root.join(format!("work-{tag}"));
                std::fs::create_dir_all(&work).expect("work dir");
                let log = root.join(format!("build-{tag}.log"));
                let log_file = std::fs::File::create(&log).expect("log file");
                let usage = measure(
                    Command::new(bin)
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
                if !usage.status.success() {
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    eprintln!(
                        "{binary}: blocksconvert build failed ({}):\n{text}",
                        usage.status
                    );
                    std::process::exit(1);
                }
                let done = finished_records(&bucket.join("m"));
                assert_eq!(done.len(), report.plans.len(), "{binary}: plans finished");
                let samples_out: u64 = done.iter().map(|r| r.samples_out).sum();
                assert_eq!(
                    samples_out,
                    report.total_samples(),
                    "{binary}: samples written"
                );
                runs.push(Run {
                    binary,
                    budget: budget.clone(),
                    plans: done.len(),
                    plan_mean: done.iter().map(|r| r.seconds).sum::<f64>() / done.len() as f64,
                    plan_max: done.iter().map(|r| r.seconds).fold(0.0, f64::max),
                    samples_in: done.iter().map(|r| r.samples_in).sum(),
                    samples_out,
                    usage,
                });
                // Keep the disk from filling over many rounds.
                let _ = std::fs::remove_dir_all(&bucket);
                let _ = std::fs::remove_dir_all(&work);
            }
        }
    }
    if std::env::var("BENCH_KEEP").is_ok_and(|v| v == "1") {
        println!("kept the store and plans in {}", tmp.keep().display());
    }

    println!(
        "\n| binary | budget | plans | total wall s | wall/plan s (mean, max) | M samples decoded/s | \
         samples written | CPU user+sys s | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &runs {
        println!(
            "| {} | {} | {} | {:.3} | {:.3}, {:.3} | {:.2} | {} | {:.2} | {:.1} |",
            r.binary,
            r.budget,
            r.plans,
            r.usage.wall,
            r.plan_mean,
            r.plan_max,
            r.samples_in as f64 / r.usage.wall / 1e6,
            r.samples_out,
            r.usage.cpu,
            r.usage.peak_rss as f64 / (1 << 20) as f64
        );
    }
    println!("\nmedians over {rounds} run(s):\n");
    println!(
        "| binary | budget | total wall s | wall/plan s | M samples decoded/s | CPU user+sys s | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|");
    for budget in &budgets {
        for &(binary, _) in &binaries {
            let of: Vec<&Run> = runs
                .iter()
                .filter(|r| r.binary == binary && &r.budget == budget)
                .collect();
            let m = |f: &dyn Fn(&Run) -> f64| median(of.iter().map(|r| f(r)).collect());
            println!(
                "| {} | {} | {:.3} | {:.3} | {:.2} | {:.2} | {:.1} |",
                binary,
                budget,
                m(&|r| r.usage.wall),
                m(&|r| r.plan_mean),
                m(&|r| r.samples_in as f64 / r.usage.wall / 1e6),
                m(&|r| r.usage.cpu),
                m(&|r| r.usage.peak_rss as f64 / (1 << 20) as f64)
            );
        }
    }
}
