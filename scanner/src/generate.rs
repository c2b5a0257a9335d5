//! Synthetic OpenMetrics sources for the demo and the benchmarks.
//!
//! The data is deterministic for a seed and has the shapes that break
//! converters: counters with resets, gauges, NaN and infinities, irregular
//! intervals, unicode and escaped label values, series that start and end
//! mid-range, a repeated sample, and lines in an interleaved order (all
//! series of one timestamp, then the next), as a scrape dump would be.

use std::io::{self, Write};

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenSpec {
    /// Series, of four kinds in turn (counter, gauge, escaped labels, ratio).
    pub series: usize,
    /// First timestamp, ms.
    pub start_ms: i64,
    /// Samples per series.
    pub samples: usize,
    /// Interval between samples, ms (every 5th series jitters by ±25 ms).
    pub step_ms: i64,
    /// Seed of the values and jitter: equal specs give equal files.
    pub seed: u64,
}

/// Writes OpenMetrics text (timestamps in seconds, `# EOF` last) and returns
/// the number of sample lines.
pub fn write_openmetrics(spec: &GenSpec, out: &mut impl Write) -> io::Result<u64> {
    let mut lines = 0u64;
    let mut rng = spec.seed | 1;
    let mut counters = vec![0f64; spec.series];
    writeln!(out, "# HELP demo_requests_total Requests served.")?;
    writeln!(out, "# TYPE demo_requests_total counter")?;
    let mut buf = String::with_capacity(256);
    for i in 0..spec.samples {
        for (s, counter) in counters.iter_mut().enumerate() {
            // Every 7th series lives only in the middle third of the range.
            if s % 7 == 6 && (i < spec.samples / 3 || i > 2 * spec.samples / 3) {
                continue;
            }
            let jitter = if s % 5 == 4 {
                (next(&mut rng) % 50) as i64 - 25
            } else {
                0
            };
            let t = spec.start_ms + i as i64 * spec.step_ms + jitter;
            let v = value(s, i, counter, &mut rng);
            buf.clear();
            series_text(s, &mut buf);
            writeln!(out, "{buf} {} {}", format_value(v), format_seconds(t))?;
            lines += 1;
            // A repeated sample (same series, same time, another value):
            // the first one must win.
            if s == 1 && i == 10 {
                writeln!(out, "{buf} 12345 {}", format_seconds(t))?;
                lines += 1;
            }
        }
    }
    writeln!(out, "# EOF")?;
    Ok(lines)
}

fn series_text(s: usize, out: &mut String) {
    use std::fmt::Write as _;
    let kind = s % 4;
    let _ = match kind {
        0 => write!(
            out,
            "demo_requests_total{{instance=\"host-{}\",job=\"api\",code=\"200\"}}",
            s / 4
        ),
        1 => write!(
            out,
            "demo_temperature_celsius{{room=\"caf\u{e9} \u{2615} {}\",site=\"lab \\\"A\\\"\"}}",
            s / 4
        ),
        2 => write!(out, "demo_queue_depth{{path=\"C:\\\\temp\\\\q{}\"}}", s / 4),
        _ => write!(out, "demo_ratio{{shard=\"{}\"}}", s / 4),
    };
}

fn value(s: usize, i: usize, counter: &mut f64, rng: &mut u64) -> f64 {
    match s % 4 {
        0 => {
            // A counter that resets every 500 samples.
            if i.is_multiple_of(500) {
                *counter = 0.0;
            }
            *counter += (next(rng) % 100) as f64;
            *counter
        }
        1 => 20.0 + (next(rng) % 1000) as f64 / 100.0,
        2 => match i % 97 {
            13 => f64::NAN,
            14 => f64::INFINITY,
            15 => f64::NEG_INFINITY,
            _ => (next(rng) % 50) as f64,
        },
        _ => (next(rng) % 1_000_000) as f64 / 1e6 * 1e-3,
    }
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        // Rust's shortest round-trip form parses back to the same bits.
        format!("{v:?}")
    }
}

/// Milliseconds as seconds with exactly three decimals, which promtool and
/// our parser both turn back into the same integer milliseconds.
fn format_seconds(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let a = ms.unsigned_abs();
    format!("{sign}{}.{:03}", a / 1000, a % 1000)
}

fn next(x: &mut u64) -> u64 {
    // xorshift64*: fast, deterministic, good enough for test data.
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openmetrics::OpenMetricsParser;

    #[test]
    fn generated_text_parses() {
        let spec = GenSpec {
            series: 40,
            start_ms: 1_700_000_000_000,
            samples: 120,
            step_ms: 60_000,
            seed: 7,
        };
        let mut buf = Vec::new();
        let lines = write_openmetrics(&spec, &mut buf).unwrap();
        let mut p = OpenMetricsParser::new(&buf[..]);
        let mut n = 0;
        while let Some(s) = p.next_sample().unwrap() {
            s.series.labels().unwrap();
            n += 1;
        }
        assert_eq!(n, lines);
    }
}
