//! OpenMetrics text to one staged object and one plan per UTC day.
//!
//! The file may be larger than memory and in any series order. Samples are
//! grouped by series text in a hash map until half the memory budget is
//! used, then handed to the external sort as (day, labels, samples) records,
//! which spills sorted runs to the work directory. The sorted stream comes
//! out one day after the other, series in label order, so each day's staged
//! object is written straight from it. Duplicates are not dropped here: the
//! builder drops them and counts them, as it does for every source.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base::codec::{get_f64, get_uvarint, get_varint, put_f64, put_uvarint, put_varint};
use base::{Labels, DAY_MS};
use openmetrics::{OpenMetricsError, SeriesRef};
use protocol::staged::StagedWriter;
use sort::{ExternalSorter, SortRecord};

use parallel::{BlockError, FxMap, Pipeline, Rules};

mod parallel;

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
/// memory, and writes one staged file per day into `out_dir`. The file is
/// parsed on every core ([`parallel`]); samples reach the grouping map in
/// file order, so the result is that of a sequential parse.
pub fn stage_file(
    input: &Path,
    out_dir: &Path,
    memory_budget: usize,
    days: DayRange,
) -> Result<StageReport> {
    let file = File::open(input).with_context(|| format!("opening {}", input.display()))?;
    let pipeline = Pipeline::new(memory_budget);
    // Half for grouping by series text (less the parse pipeline's blocks),
    // half for the sort's in-memory run.
    let map_budget = (memory_budget / 2)
        .saturating_sub(pipeline.reserved())
        .max(1 << 20);
    let sort_budget = (memory_budget / 2).max(1 << 20);
    let mut sorter: ExternalSorter<DayRecord> = ExternalSorter::new(out_dir, sort_budget)
        .with_context(|| format!("creating sort runs in {}", out_dir.display()))?;
    let rules = Rules {
        memory_budget,
        days,
    };
    let mut report = StageReport::default();
    parallel::parse_file(file, &pipeline, &rules, |blocks| {
        group(input, blocks, map_budget, &mut sorter, &mut report)
    })?;
    report.spilled_runs = sorter.spilled_runs();
    write_days(sorter, out_dir, memory_budget, &mut report)?;
    Ok(report)
}

/// Series texts grouped since the last drain: text to index in `entries`.
#[derive(Default)]
struct Grouping {
    index: FxMap<Box<str>, u32>,
    entries: Vec<Pending>,
    /// Bytes the map and its samples hold, as the budget counts them.
    bytes: usize,
}

/// Takes the parsed blocks in file order into the grouping map, draining it
/// into the sort whenever it exceeds `map_budget`.
fn group(
    input: &Path,
    blocks: &mut parallel::Blocks,
    map_budget: usize,
    sorter: &mut ExternalSorter<DayRecord>,
    report: &mut StageReport,
) -> Result<()> {
    let mut g = Grouping::default();
    let mut to_entry: Vec<u32> = Vec::new();
    // Lines of the blocks before the current one.
    let mut base = 0u64;
    while let Some(mut block) = blocks.next() {
        to_entry.clear();
        for s in &block.series {
            let text = block.text(s);
            let line = base + s.line;
            let id = match g.index.get(text) {
                Some(&id) => id,
                None => {
                    let labels = SeriesRef::parse(text, line)
                        .and_then(|r| r.labels())
                        .with_context(|| format!("reading {}", input.display()))?;
                    g.bytes += text.len() * 2 + labels.heap_size() + 96;
                    g.entries.push(Pending {
                        labels,
                        samples: Vec::new(),
                    });
                    let id = (g.entries.len() - 1) as u32;
                    g.index.insert(text.into(), id);
                    id
                }
            };
            to_entry.push(id);
        }
        for &(local, t, v) in &block.samples {
            let entry = &mut g.entries[to_entry[local as usize] as usize];
            if entry.samples.len() == entry.samples.capacity() {
                g.bytes += entry.samples.capacity().max(4) * 16;
            }
            entry.samples.push((t, v));
        }
        report.samples += block.samples_read;
        report.samples_outside_range += block.outside;
        report.lines += block.lines;
        match block.error.take() {
            None => {}
            Some(BlockError::Syntax(e)) => {
                return Err(e.offset_lines(base))
                    .with_context(|| format!("reading {}", input.display()));
            }
            Some(BlockError::Unrepresentable { line, reason }) => {
                anyhow::bail!("{}:{}: {reason}", input.display(), base + line);
            }
            Some(BlockError::Io(source)) => {
                let e = OpenMetricsError::Io {
                    line: base + 1,
                    source,
                };
                return Err(e).with_context(|| format!("reading {}", input.display()));
            }
        }
        base += block.lines;
        let last = block.is_last();
        blocks.recycle(block);
        if g.bytes > map_budget {
            drain(&mut g, sorter)?;
        }
        if last {
            break;
        }
    }
    drain(&mut g, sorter)
}

/// Moves the grouped samples into the sort, in order of first appearance so
/// that two spellings of one series keep file order.
fn drain(g: &mut Grouping, sorter: &mut ExternalSorter<DayRecord>) -> Result<()> {
    g.index.clear();
    g.bytes = 0;
    // Entries are in order of first appearance already.
    for p in g.entries.drain(..) {
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
