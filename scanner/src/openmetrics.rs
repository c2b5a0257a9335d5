//! OpenMetrics text to one staged object and one plan per UTC day.
//!
//! The file may be larger than memory and in any series order. Samples are
//! grouped by series text in a hash map until half the memory budget is
//! used, then handed to the external sort as (day, labels, samples) records,
//! which spills sorted runs to the work directory. The sorted stream comes
//! out one day after the other, series in label order, so each day's staged
//! object is written straight from it. Duplicates are not dropped here: the
//! builder drops them and counts them, as it does for every source.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base::codec::{get_f64, get_uvarint, get_varint, put_f64, put_uvarint, put_varint};
use base::{Labels, DAY_MS};
use openmetrics::OpenMetricsParser;
use protocol::staged::StagedWriter;
use sort::{ExternalSorter, SortRecord};

/// Samples of one series for one day, in file order.
struct DayRecord {
    day: i32,
    labels: Labels,
    samples: Vec<(i64, f64)>,
}

impl PartialEq for DayRecord {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for DayRecord {}
impl PartialOrd for DayRecord {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
/// Only day and series: the sort is stable, so records of one series keep
/// file order and the first occurrence of a timestamp stays first.
impl Ord for DayRecord {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.day
            .cmp(&other.day)
            .then_with(|| self.labels.cmp(&other.labels))
    }
}

impl SortRecord for DayRecord {
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, i64::from(self.day));
        self.labels.encode(out);
        put_uvarint(out, self.samples.len() as u64);
        let mut prev = 0i64;
        for &(t, v) in &self.samples {
            put_varint(out, t.wrapping_sub(prev));
            put_f64(out, v);
            prev = t;
        }
    }

    fn decode(buf: &mut &[u8]) -> std::io::Result<Self> {
        let day = i32::try_from(get_varint(buf)?).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "day out of range")
        })?;
        let labels = Labels::decode(buf)?;
        let n = get_uvarint(buf)? as usize;
        let mut samples = Vec::with_capacity(n.min(1 << 20));
        let mut prev = 0i64;
        for _ in 0..n {
            prev = prev.wrapping_add(get_varint(buf)?);
            samples.push((prev, get_f64(buf)?));
        }
        Ok(DayRecord {
            day,
            labels,
            samples,
        })
    }

    fn mem_size(&self) -> usize {
        std::mem::size_of::<Self>() + self.labels.heap_size() + self.samples.capacity() * 16
    }
}

/// What one series text collected since the last drain.
struct Pending {
    labels: Labels,
    first_line: u64,
    samples: Vec<(i64, f64)>,
}

/// One day's staged samples, written to a local file.
#[derive(Clone, Debug)]
pub struct StagedDay {
    /// UTC day index (unix seconds / 86400).
    pub day: i32,
    /// The staged file, in the output directory.
    pub file: PathBuf,
    /// Distinct series of the day.
    pub series: u64,
    /// Samples of the day, duplicates included.
    pub samples: u64,
    /// XOR chunks of at most [`SAMPLES_PER_CHUNK`] samples the day's
    /// series would be cut into (before the builder drops duplicates).
    pub chunks: u64,
}

/// First millisecond after 9999-12-31: the last day a plan name
/// (YYYY-MM-DD) can spell; later timestamps are refused at scan time.
pub(crate) const END_OF_TIME_MS: i64 = 253_402_300_800_000;

/// Largest series text (labels, as written in the file) accepted: a TSDB
/// index holds longer ones, but every reader of a block (Prometheus,
/// Thanos, Cortex) loads a series' labels whole, and no real series comes
/// near this.
pub(crate) const MAX_SERIES_TEXT_BYTES: usize = 1 << 20;

/// Samples per output chunk, as the builder cuts them.
pub(crate) const SAMPLES_PER_CHUNK: u64 = 120;

/// A day being written: its index, writer, file and chunk count so far.
type OpenDay = (i32, StagedWriter<BufWriter<File>>, PathBuf, u64);

/// Counts of a scan, for the report.
#[derive(Clone, Debug, Default)]
pub struct StageReport {
    /// The days written, in day order.
    pub days: Vec<StagedDay>,
    /// Lines of the input read.
    pub lines: u64,
    /// Samples read, inside and outside the day range.
    pub samples: u64,
    /// Samples left out because their day is outside the [`DayRange`].
    pub samples_outside_range: u64,
    /// Sorted runs the external sort spilled to disk (0: it fit in memory).
    pub spilled_runs: usize,
}

/// Days to keep: `[from, to)`, either end open.
#[derive(Clone, Copy, Debug, Default)]
pub struct DayRange {
    /// First UTC day index kept (`--from`); `None`: no lower bound.
    pub from: Option<i32>,
    /// First UTC day index not kept (`--to`); `None`: no upper bound.
    pub to: Option<i32>,
}

impl DayRange {
    /// Whether UTC day index `day` is in the range.
    pub fn contains(&self, day: i32) -> bool {
        self.from.is_none_or(|f| day >= f) && self.to.is_none_or(|t| day < t)
    }
}

/// Reads `input`, sorts it with at most `memory_budget` bytes of samples in
/// memory, and writes one staged file per day into `out_dir`.
pub fn stage_file(
    input: &Path,
    out_dir: &Path,
    memory_budget: usize,
    days: DayRange,
) -> Result<StageReport> {
    let file = File::open(input).with_context(|| format!("opening {}", input.display()))?;
    let mut parser = OpenMetricsParser::new(BufReader::with_capacity(1 << 20, file));
    // Half for grouping by series text, half for the sort's in-memory run.
    let map_budget = (memory_budget / 2).max(1 << 20);
    let sort_budget = memory_budget.saturating_sub(map_budget).max(1 << 20);
    let mut sorter: ExternalSorter<DayRecord> = ExternalSorter::new(out_dir, sort_budget)
        .with_context(|| format!("creating sort runs in {}", out_dir.display()))?;
    let mut pending: HashMap<Box<str>, Pending> = HashMap::new();
    let mut pending_bytes = 0usize;
    let mut report = StageReport::default();

    loop {
        let sample = parser
            .next_sample()
            .with_context(|| format!("reading {}", input.display()))?;
        let Some(sample) = sample else { break };
        report.samples += 1;
        check_representable(input, &sample, memory_budget)?;
        let day = sample.timestamp_ms.div_euclid(DAY_MS);
        let in_range = i32::try_from(day).is_ok_and(|d| days.contains(d));
        if !in_range {
            report.samples_outside_range += 1;
            continue;
        }
        let text = sample.series.text();
        let entry = match pending.get_mut(text) {
            Some(e) => e,
            None => {
                let labels = sample
                    .series
                    .labels()
                    .with_context(|| format!("reading {}", input.display()))?;
                pending_bytes += text.len() * 2 + labels.heap_size() + 96;
                pending.entry(text.into()).or_insert(Pending {
                    labels,
                    first_line: sample.series.line(),
                    samples: Vec::new(),
                })
            }
        };
        if entry.samples.len() == entry.samples.capacity() {
            pending_bytes += entry.samples.capacity().max(4) * 16;
        }
        entry.samples.push((sample.timestamp_ms, sample.value));
        if pending_bytes > map_budget {
            drain(&mut pending, &mut sorter)?;
            pending_bytes = 0;
        }
    }
    report.lines = parser.line_number();
    drain(&mut pending, &mut sorter)?;
    report.spilled_runs = sorter.spilled_runs();
    write_days(sorter, out_dir, memory_budget, &mut report)?;
    Ok(report)
}

/// Refuses, naming the line, what no builder could turn into a block:
/// timestamps before 1970 or after 9999, and label sets too large for a
/// block or for a quarter of the memory budget (the grouping map, the sort
/// and the builder each hold several at once). Refusing here means no plan
/// is written that would fail every attempt.
fn check_representable(
    input: &Path,
    sample: &openmetrics::Sample<'_>,
    memory_budget: usize,
) -> Result<()> {
    let line = sample.series.line();
    let t = sample.timestamp_ms;
    if t < 0 {
        anyhow::bail!(
            "{}:{line}: timestamp {t} ms is before 1970-01-01, which a TSDB block cannot hold",
            input.display()
        );
    }
    if t >= END_OF_TIME_MS {
        anyhow::bail!(
            "{}:{line}: timestamp {t} ms is after 9999-12-31, the last day a block can be planned for",
            input.display()
        );
    }
    let size = sample.series.text().len();
    if size > MAX_SERIES_TEXT_BYTES {
        anyhow::bail!(
            "{}:{line}: the series' labels take {size} bytes, more than the {MAX_SERIES_TEXT_BYTES} \
             a block's series may have here",
            input.display()
        );
    }
    if size > memory_budget / 4 {
        anyhow::bail!(
            "{}:{line}: the series' labels take {size} bytes, more than a quarter of \
             --memory-budget ({memory_budget} bytes); raise --memory-budget",
            input.display()
        );
    }
    Ok(())
}

/// Moves the grouped samples into the sort, in order of first appearance so
/// that two spellings of one series keep file order.
fn drain(
    pending: &mut HashMap<Box<str>, Pending>,
    sorter: &mut ExternalSorter<DayRecord>,
) -> Result<()> {
    let mut entries: Vec<Pending> = pending.drain().map(|(_, p)| p).collect();
    entries.sort_by_key(|p| p.first_line);
    for p in entries {
        let mut samples = p.samples;
        // Split by day keeping file order inside each day.
        samples.sort_by_key(|&(t, _)| t.div_euclid(DAY_MS));
        let mut rest = &samples[..];
        while let Some(&(t0, _)) = rest.first() {
            let day = t0.div_euclid(DAY_MS);
            let n = rest
                .iter()
                .take_while(|&&(t, _)| t.div_euclid(DAY_MS) == day)
                .count();
            sorter.push(DayRecord {
                day: day as i32,
                labels: p.labels.clone(),
                samples: rest[..n].to_vec(),
            })?;
            rest = &rest[n..];
        }
    }
    Ok(())
}

fn write_days(
    sorter: ExternalSorter<DayRecord>,
    out_dir: &Path,
    memory_budget: usize,
    report: &mut StageReport,
) -> Result<()> {
    let mut current: Option<OpenDay> = None;
    let mut group: Option<DayRecord> = None;
    for rec in sorter.finish()? {
        let rec = rec?;
        match &mut group {
            Some(g) if g.day == rec.day && g.labels == rec.labels => {
                g.samples.extend(rec.samples);
                // One series-day is held whole to sort its samples; past
                // the budget it is refused rather than swapping.
                if g.samples.len() * 16 > memory_budget {
                    anyhow::bail!(
                        "series {} has more than {} samples on day {}, more than --memory-budget \
                         ({memory_budget} bytes) holds; raise --memory-budget",
                        g.labels.to_string().escape_debug(),
                        g.samples.len(),
                        g.day
                    );
                }
            }
            _ => {
                if let Some(g) = group.take() {
                    write_series(&mut current, g, out_dir, report)?;
                }
                group = Some(rec);
            }
        }
    }
    if let Some(g) = group.take() {
        write_series(&mut current, g, out_dir, report)?;
    }
    if let Some(open) = current.take() {
        finish_day(open, report)?;
    }
    Ok(())
}

fn write_series(
    current: &mut Option<OpenDay>,
    mut g: DayRecord,
    out_dir: &Path,
    report: &mut StageReport,
) -> Result<()> {
    if current.as_ref().is_some_and(|(d, _, _, _)| *d != g.day) {
        if let Some(open) = current.take() {
            finish_day(open, report)?;
        }
    }
    if current.is_none() {
        let file = out_dir.join(format!("{}.staged", g.day));
        let f = File::create(&file).with_context(|| format!("creating {}", file.display()))?;
        let w = StagedWriter::new(BufWriter::with_capacity(1 << 20, f))?;
        *current = Some((g.day, w, file, 0));
    }
    // Stable: equal timestamps keep file order, so the first one stays first.
    g.samples.sort_by_key(|&(t, _)| t);
    if let Some((_, w, _, chunks)) = current {
        w.write_series(&g.labels, &g.samples)?;
        *chunks += (g.samples.len() as u64).div_ceil(SAMPLES_PER_CHUNK);
    }
    Ok(())
}

fn finish_day((day, w, file, chunks): OpenDay, report: &mut StageReport) -> Result<()> {
    let (series, samples) = (w.series(), w.samples());
    w.finish()?;
    report.days.push(StagedDay {
        day,
        file,
        series,
        samples,
        chunks,
    });
    Ok(())
}
