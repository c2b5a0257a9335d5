//! Parser throughput: `cargo bench -p openmetrics --bench parser`.
//!
//! Parses generated inputs from memory (no I/O in the measurement) the way
//! the scanner consumes them, interning series by their text, and prints
//! one row per input shape: lines, MB, best wall time of a few runs, MB/s
//! and samples/s. `BENCH_LINES` overrides the 2,000,000 lines per input.
//! Without `--bench` (as `cargo test --benches` runs it) the inputs are tiny,
//! so the loop is still exercised but costs nothing.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::BufReader;
use std::time::{Duration, Instant};

use openmetrics::OpenMetricsParser;

/// Runs per input; the fastest counts, as the others only add noise.
const RUNS: usize = 3;

/// One input shape: a name for the table and the line for sample `i`.
struct Shape {
    name: &'static str,
    line: fn(&mut String, u64),
}

const SHAPES: &[Shape] = &[
    Shape {
        // Many lines per series, as exporters scraped over time produce.
        name: "200 series, repeated",
        line: |out, i| {
            let _ = writeln!(
                out,
                "http_requests_total{{job=\"api\",instance=\"10.0.0.{}:9100\",code=\"200\"}} {} {}",
                i % 200,
                i * 3,
                1_700_000_000 + i / 200 * 15
            );
        },
    },
    Shape {
        // Every line a new series: label validation runs on each line.
        name: "every line a new series",
        line: |out, i| {
            let _ = writeln!(
                out,
                "node_cpu_seconds_total{{cpu=\"{}\",mode=\"idle\",instance=\"host-{}\"}} {} 1700000000",
                i % 64,
                i,
                i
            );
        },
    },
    Shape {
        // Fractional values and timestamps: the float parser dominates.
        name: "fractional values",
        line: |out, i| {
            let _ = writeln!(
                out,
                "temperature_celsius{{sensor=\"s{}\"}} {}.{:04}e-1 {}.{:03}",
                i % 50,
                i % 997,
                i % 10_000,
                1_700_000_000 + i / 50,
                i % 1000
            );
        },
    },
];

fn input(shape: &Shape, lines: u64) -> String {
    let mut out = String::with_capacity(lines as usize * 96);
    for i in 0..lines {
        (shape.line)(&mut out, i);
    }
    out.push_str("# EOF\n");
    out
}

/// Parses `text` once; returns the samples read and a checksum that keeps
/// the work from being optimised away.
fn parse(text: &str) -> (u64, u64) {
    let mut p = OpenMetricsParser::new(BufReader::with_capacity(1 << 20, text.as_bytes()));
    let mut ids: HashMap<String, u32> = HashMap::new();
    let (mut samples, mut sum) = (0u64, 0u64);
    while let Some(s) = p.next_sample().expect("generated input parses") {
        let next = ids.len() as u32;
        let id = match ids.get(s.series.text()) {
            Some(&id) => id,
            None => *ids.entry(s.series.text().to_owned()).or_insert(next),
        };
        samples += 1;
        sum = sum.wrapping_add(u64::from(id) ^ s.timestamp_ms as u64 ^ s.value.to_bits());
    }
    (samples, sum)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Test runners list tests first; a bench has none to offer.
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let benching = args.iter().any(|a| a == "--bench");
    let lines: u64 = match std::env::var("BENCH_LINES") {
        Ok(v) => v.parse().expect("BENCH_LINES is a number of lines"),
        Err(_) if benching => 2_000_000,
        Err(_) => 1_000,
    };
    println!(
        "{:<26} {:>10} {:>8} {:>9} {:>8} {:>12}  checksum",
        "input", "lines", "MB", "best s", "MB/s", "samples/s"
    );
    for shape in SHAPES {
        let text = input(shape, lines);
        let mut best = Duration::MAX;
        let mut result = (0, 0);
        for _ in 0..if benching { RUNS } else { 1 } {
            let start = Instant::now();
            result = parse(&text);
            best = best.min(start.elapsed());
        }
        let (samples, sum) = result;
        assert_eq!(samples, lines, "{}: every line is one sample", shape.name);
        let secs = best.as_secs_f64();
        let mb = text.len() as f64 / 1e6;
        println!(
            "{:<26} {:>10} {:>8.1} {:>9.3} {:>8.0} {:>12.0}  {sum:016x}",
            shape.name,
            lines,
            mb,
            secs,
            mb / secs,
            samples as f64 / secs
        );
    }
}
