//! `build --once` on 100 new plans, alone and beside 100,000 finished
//! ones (issue 12): how much a large finished campaign slows a builder
//! down. The target is at most 3x.
//!
//! `cargo build --release && cargo bench -p builder --bench
//! once_beside_finished -- [--bin PATH]... [--rounds N]`. Each `--bin` is a
//! `blocksconvert` binary to time (default: the release binary of
//! `$CARGO_TARGET_DIR`); binaries and layouts are timed alternately, round
//! after round, so a loaded machine slows all alike.
//!
//! The 100 new plans are real: 10 OpenMetrics tenants x 10 days, planned
//! by `blocksconvert scan`. The finished plans are planted as the protocol
//! names them (`<day>.plan`, `<day>.attempt.1`, `<day>.finished.<ULID>`,
//! 1,000 tenants x 100 days), with minimal records: the builder never
//! reads a finished plan, only lists it. Prints one row per binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const NEW_TENANTS: usize = 10;
const NEW_DAYS: i64 = 10;
const DONE_TENANTS: usize = 1000;
const DONE_DAYS: i32 = 100;
const PREFIX: &str = "migration";
/// 2026-11-16.
const DAY0: i64 = 20_773;

fn run(bin: &Path, args: &[&str]) {
    let out = Command::new(bin)
        .args(args)
        .output()
        .expect("running blocksconvert");
    assert!(
        out.status.success(),
        "{bin:?} {args:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Scans the 100 new plans into `bucket`.
fn plan_new(bin: &Path, work: &Path, bucket: &Path) {
    for t in 0..NEW_TENANTS {
        let tenant = format!("new-{t:02}");
        let input = work.join(format!("{tenant}.om"));
        let mut text = String::from("# TYPE up gauge\n");
        for d in 0..NEW_DAYS {
            for i in 0..100 {
                let ts = (DAY0 + d) * 86_400 + 60 * i;
                text.push_str(&format!("up{{job=\"j{}\"}} {i} {ts}\n", i % 10));
            }
        }
        text.push_str("# EOF\n");
        std::fs::write(&input, text).expect("writing input");
        let src = format!("openmetrics:{}", input.display());
        let scratch = work.join("scan-work");
        run(
            bin,
            &[
                "scan",
                "--source",
                &src,
                "--tenant",
                &tenant,
                "--bucket",
                bucket.to_str().unwrap(),
                "--work-dir",
                scratch.to_str().unwrap(),
            ],
        );
    }
}

/// Plants the finished plans under `bucket`.
fn plant_finished(bucket: &Path) {
    let attempt =
        br#"{"builder":"b","block":"01ARZ3NDEKTSV4RRFFQ69G5FAV","started":"2026-01-01T00:00:00Z"}"#;
    for t in 0..DONE_TENANTS {
        let dir = bucket.join(PREFIX).join(format!("done-{t:04}"));
        std::fs::create_dir_all(&dir).expect("tenant dir");
        for d in 0..DONE_DAYS {
            let day = DAY0 as i32 - 1000 + d;
            let block = ulid::Ulid::new();
            std::fs::write(dir.join(format!("{day}.plan")), b"").expect("plan");
            std::fs::write(dir.join(format!("{day}.attempt.1")), attempt).expect("attempt");
            std::fs::write(dir.join(format!("{day}.finished.{block}")), b"{}").expect("finished");
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dst = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).expect("copy");
        }
    }
}

/// Puts fresh copies of the new plans into `bucket`, removing what an
/// earlier round built from them (their plan files and blocks).
fn reset(template: &Path, bucket: &Path) {
    for t in 0..NEW_TENANTS {
        let tenant = format!("new-{t:02}");
        for dir in [bucket.join(PREFIX).join(&tenant), bucket.join(&tenant)] {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).expect("removing a round's output");
            }
        }
        copy_dir(
            &template.join(PREFIX).join(&tenant),
            &bucket.join(PREFIX).join(&tenant),
        );
    }
    let marker = template.join(PREFIX).join("scan-complete");
    std::fs::copy(&marker, bucket.join(PREFIX).join("scan-complete")).expect("marker");
}

/// One `build --once` over `bucket`; checks that it finished all 100.
fn time_once(bin: &Path, bucket: &Path, work: &Path) -> Duration {
    let t = Instant::now();
    run(
        bin,
        &[
            "build",
            "--once",
            "--bucket",
            bucket.to_str().unwrap(),
            "--work-dir",
            work.to_str().unwrap(),
        ],
    );
    let took = t.elapsed();
    let finished = (0..NEW_TENANTS)
        .flat_map(|t| std::fs::read_dir(bucket.join(PREFIX).join(format!("new-{t:02}"))).unwrap())
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".finished.")
        })
        .count();
    assert_eq!(
        finished,
        NEW_TENANTS * NEW_DAYS as usize,
        "{bin:?} left plans"
    );
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut bins = Vec::new();
    let mut rounds = 3;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bin" => bins.push(PathBuf::from(args.next().expect("--bin PATH"))),
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--rounds N")
            }
            "--bench" => {}
            other => panic!("unknown argument {other:?}"),
        }
    }
    if bins.is_empty() {
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
        bins.push(Path::new(&target).join("release/blocksconvert"));
    }
    for b in &bins {
        assert!(
            b.is_file(),
            "{b:?} missing: cargo build --release first, or give --bin"
        );
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let template = dir.path().join("template");
    plan_new(&bins[0], dir.path(), &template);
    let alone = dir.path().join("alone");
    let beside = dir.path().join("beside");
    let t = Instant::now();
    plant_finished(&beside);
    eprintln!(
        "planted {} finished plans in {:.1?}",
        DONE_TENANTS * DONE_DAYS as usize,
        t.elapsed()
    );
    let work = dir.path().join("work");
    let mut times = vec![(Vec::new(), Vec::new()); bins.len()];
    for round in 0..rounds {
        for (i, bin) in bins.iter().enumerate() {
            for (bucket, beside_finished) in [(&alone, false), (&beside, true)] {
                reset(&template, bucket);
                let took = time_once(bin, bucket, &work);
                eprintln!("round {round}: {bin:?} beside={beside_finished}: {took:.2?}");
                let slot = &mut times[i];
                if beside_finished {
                    slot.1.push(took);
                } else {
                    slot.0.push(took);
                }
            }
        }
    }
    println!(
        "build --once on {} new plans, alone and beside {} finished ones (median of {rounds}; shared machine)",
        NEW_TENANTS * NEW_DAYS as usize,
        DONE_TENANTS * DONE_DAYS as usize
    );
    println!(
        "{:<48} {:>9} {:>9} {:>7}",
        "binary", "alone s", "beside s", "ratio"
    );
    for (bin, (a, b)) in bins.iter().zip(times) {
        let (a, b) = (median(a), median(b));
        println!(
            "{:<48} {:>9.2} {:>9.2} {:>6.2}x",
            bin.display(),
            a.as_secs_f64(),
            b.as_secs_f64(),
            b.as_secs_f64() / a.as_secs_f64()
        );
    }
}
