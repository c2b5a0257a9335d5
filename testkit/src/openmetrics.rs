//! Test series and their OpenMetrics text, as `promtool tsdb
//! create-blocks-from openmetrics` reads it.
//!
//! promtool parses timestamps as float seconds and truncates `seconds *
//! 1000` to milliseconds, so not every millisecond timestamp survives the
//! trip; [`timestamp_text`] refuses those, and the generators only produce
//! timestamps that survive. OpenMetrics cannot carry stale markers
//! (promtool documents this), so [`generate`] puts them in only on request.

use std::fmt::Write as _;

use anyhow::{bail, Result};

/// Prometheus' stale marker: a NaN with this exact bit pattern.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// One series: sorted, unique label names (with `__name__`), samples in
/// strictly increasing time order.
#[derive(Clone, Debug, PartialEq)]
pub struct TestSeries {
    /// Label pairs sorted by name, `__name__` included.
    pub labels: Vec<(String, String)>,
    /// `(ms, value)` in strictly increasing time order.
    pub samples: Vec<(i64, f64)>,
}

impl TestSeries {
    /// The label set as `promtool tsdb dump` prints it.
    pub fn labels_text(&self) -> String {
        let mut s = String::from("{");
        for (i, (n, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "{n}={}", go_quote(v));
        }
        s.push('}');
        s
    }
}

/// Go's `strconv.Quote` for the characters our generators use (ASCII
/// escapes; printable unicode stays as it is).
pub fn go_quote(v: &str) -> String {
    let mut s = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// The seconds text for a millisecond timestamp, or an error when promtool
/// would read it back as another millisecond.
pub fn timestamp_text(ms: i64) -> Result<String> {
    let text = format!("{}", ms as f64 / 1000.0);
    let back: f64 = text.parse()?;
    if (back * 1000.0) as i64 != ms {
        bail!("timestamp {ms} ms does not survive promtool's float seconds ({text})");
    }
    Ok(text)
}

fn value_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{v:?}")
    }
}

/// OpenMetrics text for `series` (grouped by metric name, as given), with
/// `# EOF`. Fails on series without `__name__` or with stale markers,
/// which the format cannot express.
pub fn to_openmetrics(series: &[TestSeries]) -> Result<String> {
    let mut out = String::new();
    let mut last_name: Option<&str> = None;
    for s in series {
        let Some((_, name)) = s.labels.iter().find(|(n, _)| n == "__name__") else {
            bail!("series {} has no __name__", s.labels_text());
        };
        if last_name != Some(name.as_str()) {
            let _ = writeln!(out, "# TYPE {name} gauge");
            last_name = Some(name);
        }
        let mut lbl = String::new();
        for (n, v) in s.labels.iter().filter(|(n, _)| n != "__name__") {
            if !lbl.is_empty() {
                lbl.push(',');
            }
            let esc = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            let _ = write!(lbl, "{n}=\"{esc}\"");
        }
        for &(t, v) in &s.samples {
            if v.to_bits() == STALE_NAN_BITS {
                bail!(
                    "series {}: OpenMetrics cannot carry stale markers",
                    s.labels_text()
                );
            }
            let _ = writeln!(
                out,
                "{name}{{{lbl}}} {} {}",
                value_text(v),
                timestamp_text(t)?
            );
        }
    }
    out.push_str("# EOF\n");
    Ok(out)
}

/// A small deterministic PRNG (SplitMix64), so generated data is the same
/// on every run without a dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose sequence depends only on `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next value of the SplitMix64 sequence.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// What [`generate`] puts into the data.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// Series to generate.
    pub series: usize,
    /// Samples per series are drawn from `1..=max_samples`.
    pub max_samples: usize,
    /// First timestamp (ms); samples stay inside `[start, start + span)`.
    pub start: i64,
    /// Width of the time range, ms.
    pub span: i64,
    /// Put a stale marker into some series (not valid for OpenMetrics).
    pub stale_markers: bool,
    /// Same seed, same data.
    pub seed: u64,
}

/// Series with sorted label sets and the awkward cases: NaN, ±Inf,
/// counter resets, irregular intervals, unicode, quotes and backslashes in
/// label values, series without extra labels. Sorted the way Prometheus
/// sorts label sets, unique.
pub fn generate(opts: &GenOptions) -> Vec<TestSeries> {
    let mut rng = Rng::new(opts.seed);
    let values = [
        "plain",
        "café ☕",
        "quote \"q\"",
        "back\\slash",
        "日本語",
        "a b",
        "x=y,z",
    ];
    let mut out: Vec<TestSeries> = Vec::with_capacity(opts.series);
    for i in 0..opts.series {
        let name = match i % 3 {
            0 => "http_requests_total",
            1 => "temperature_celsius",
            _ => "up",
        };
        let mut labels = vec![("__name__".to_string(), name.to_string())];
        if i % 11 != 0 {
            labels.push(("instance".to_string(), format!("host-{:04}", i % 251)));
            labels.push(("kind".to_string(), values[i % values.len()].to_string()));
        }
        labels.push(("series".to_string(), format!("{i:06}")));
        let n = 1 + rng.below(opts.max_samples as u64) as usize;
        let mut samples = Vec::with_capacity(n);
        let mut t = opts.start + rng.below(60_000) as i64;
        let mut counter = 0.0f64;
        for k in 0..n {
            if t >= opts.start + opts.span {
                break;
            }
            let v = match (i % 3, rng.below(40)) {
                (_, 0) => f64::NAN,
                (_, 1) => f64::INFINITY,
                (_, 2) => f64::NEG_INFINITY,
                (0, 3) => {
                    counter = 0.0; // counter reset
                    counter
                }
                (0, _) => {
                    counter += rng.below(100) as f64;
                    counter
                }
                (1, _) => (rng.next_u64() as i64 as f64) / 1e15,
                _ => (k % 2) as f64,
            };
            samples.push((t, v));
            // Irregular steps, kept to timestamps promtool reads back exactly.
            loop {
                t += 1 + rng.below(30_000) as i64;
                if timestamp_text(t).is_ok() {
                    break;
                }
            }
        }
        if opts.stale_markers && i % 5 == 0 {
            samples.push((t, f64::from_bits(STALE_NAN_BITS)));
        }
        out.push(TestSeries { labels, samples });
    }
    out.retain(|s| !s.samples.is_empty());
    out.sort_by(|a, b| compare_labels(&a.labels, &b.labels));
    out
}

/// Prometheus' `labels.Compare` on sorted pair lists.
pub fn compare_labels(a: &[(String, String)], b: &[(String, String)]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b.iter()) {
        let o =
            x.0.as_bytes()
                .cmp(y.0.as_bytes())
                .then(x.1.as_bytes().cmp(y.1.as_bytes()));
        if o.is_ne() {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_that_promtool_would_shift_are_refused() {
        assert_eq!(timestamp_text(1_000_000).unwrap(), "1000");
        assert_eq!(timestamp_text(1_500).unwrap(), "1.5");
        let bad = (1_024_000..1_025_000)
            .filter(|&t| timestamp_text(t).is_err())
            .count();
        assert!(bad > 0, "expected some unrepresentable timestamps");
    }

    #[test]
    fn generated_series_are_sorted_unique_and_time_ordered() {
        let s = generate(&GenOptions {
            series: 300,
            max_samples: 50,
            start: 1_600_000_000_000,
            span: 3_600_000,
            stale_markers: true,
            seed: 7,
        });
        assert!(s
            .windows(2)
            .all(|w| compare_labels(&w[0].labels, &w[1].labels).is_lt()));
        assert!(s
            .iter()
            .all(|x| x.samples.windows(2).all(|w| w[0].0 < w[1].0)));
        assert!(s
            .iter()
            .any(|x| x.samples.iter().any(|v| v.1.to_bits() == STALE_NAN_BITS)));
        assert!(to_openmetrics(&s).is_err());
        let om = to_openmetrics(&generate(&GenOptions {
            stale_markers: false,
            ..GenOptions {
                series: 3,
                max_samples: 2,
                start: 1000,
                span: 100_000,
                stale_markers: false,
                seed: 1,
            }
        }))
        .unwrap();
        assert!(om.ends_with("# EOF\n"));
    }

    #[test]
    fn labels_text_is_dump_format() {
        let s = TestSeries {
            labels: vec![
                ("__name__".into(), "up".into()),
                ("a".into(), "q\"\\".into()),
            ],
            samples: vec![],
        };
        assert_eq!(s.labels_text(), r#"{__name__="up", a="q\"\\"}"#);
    }
}
