//! Block health check: the rules compactors and verifiers apply before they
//! accept a block, checked locally before upload.
//!
//! The rules are those of Thanos' `GatherIndexHealthStats` (used by the
//! Cortex, Thanos and Mimir compactors) plus Mimir's `-check-chunks`, made
//! stricter where our blocks can be: duplicate chunks are refused rather
//! than counted, chunks must lie inside `[minTime, maxTime)`, and the
//! stats in meta.json must match what the block holds. Every checksum is
//! checked on the way (index sections and chunks). The first broken rule is
//! returned as an error naming the rule and the series.
//!
//! Chunks are decoded on all cores (rayon's global pool, which every plan
//! of a process shares), the rules applied in index order after.
//!
//! This module only reads; it never repairs a block.

use std::fmt;
use std::path::{Path, PathBuf};

use super::block_reader::{BlockReadError, BlockReader};
use super::chunks::ChunkMeta;
use super::index::RawSeries;
use base::{go_quote, Label, Labels};
use rayon::prelude::*;

/// A rule a healthy block follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HealthRule {
    /// meta.json's `ulid` is the directory name.
    UlidMatchesDir,
    /// `minTime < maxTime`.
    TimeRange,
    /// No series has an empty label set.
    NonEmptyLabels,
    /// Label names inside a series are strictly increasing.
    LabelNamesSorted,
    /// Series are in strictly increasing label order.
    SeriesSorted,
    /// Every series has at least one chunk.
    SeriesHasChunks,
    /// Chunks lie inside `[minTime, maxTime)` of the block.
    ChunkInsideBlock,
    /// A chunk's minTime is not after its maxTime.
    ChunkTimeRange,
    /// Chunks of a series are in time order and do not overlap (duplicates included).
    ChunksOrdered,
    /// Chunk references increase within and across series.
    ChunkRefsIncreasing,
    /// No chunk is empty.
    ChunkNotEmpty,
    /// The first sample of a chunk is at its minTime.
    FirstSampleAtMinTime,
    /// The last sample of a chunk is at its maxTime.
    LastSampleAtMaxTime,
    /// Timestamps inside a chunk strictly increase.
    TimestampsIncreasing,
    /// The all-postings list names exactly the series of the series section.
    AllPostingsComplete,
    /// meta.json's numSeries/numChunks/numSamples are what the block holds.
    StatsMatch,
}

impl HealthRule {
    /// The rule's stable kebab-case name, as reports print it.
    pub fn name(self) -> &'static str {
        match self {
            HealthRule::UlidMatchesDir => "ulid-matches-dir",
            HealthRule::TimeRange => "time-range",
            HealthRule::NonEmptyLabels => "non-empty-labels",
            HealthRule::LabelNamesSorted => "label-names-sorted",
            HealthRule::SeriesSorted => "series-sorted",
            HealthRule::SeriesHasChunks => "series-has-chunks",
            HealthRule::ChunkInsideBlock => "chunk-inside-block",
            HealthRule::ChunkTimeRange => "chunk-time-range",
            HealthRule::ChunksOrdered => "chunks-ordered",
            HealthRule::ChunkRefsIncreasing => "chunk-refs-increasing",
            HealthRule::ChunkNotEmpty => "chunk-not-empty",
            HealthRule::FirstSampleAtMinTime => "first-sample-at-min-time",
            HealthRule::LastSampleAtMaxTime => "last-sample-at-max-time",
            HealthRule::TimestampsIncreasing => "timestamps-increasing",
            HealthRule::AllPostingsComplete => "all-postings-complete",
            HealthRule::StatsMatch => "stats-match",
        }
    }
}

impl fmt::Display for HealthRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One broken rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthViolation {
    /// The rule the block breaks.
    pub rule: HealthRule,
    /// The series, as promtool prints it, when the rule is about one.
    pub series: Option<String>,
    /// What exactly is wrong (values, offsets), for a human.
    pub detail: String,
}

impl fmt::Display for HealthViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule {} broken", self.rule)?;
        if let Some(s) = &self.series {
            write!(f, " by series {s}")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// Why a block is not healthy.
#[allow(
    missing_docs,
    reason = "each variant's #[error] message documents it and its fields"
)]
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error(transparent)]
    Read(#[from] BlockReadError),
    #[error("block {dir}: {violation}")]
    Unhealthy {
        dir: PathBuf,
        violation: HealthViolation,
    },
}

impl HealthError {
    /// The broken rule, when the block was read but is unhealthy.
    pub fn violation(&self) -> Option<&HealthViolation> {
        match self {
            HealthError::Unhealthy { violation, .. } => Some(violation),
            HealthError::Read(_) => None,
        }
    }
}

/// What a healthy block holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthReport {
    /// Series in the index.
    pub num_series: u64,
    /// Chunks referenced by the series.
    pub num_chunks: u64,
    /// Samples decoded from those chunks.
    pub num_samples: u64,
    /// Time of the oldest sample (ms), when there is any.
    pub min_sample_time: Option<i64>,
    /// Time of the newest sample (ms), when there is any.
    pub max_sample_time: Option<i64>,
    /// Distinct label names in the index.
    pub num_label_names: usize,
}

fn violation(rule: HealthRule, series: Option<String>, detail: String) -> HealthViolation {
    HealthViolation {
        rule,
        series,
        detail,
    }
}

/// Checks a block directory against every rule, reading all chunks.
pub fn check_block(dir: &Path) -> Result<HealthReport, HealthError> {
    let block = BlockReader::open(dir)?;
    let unhealthy = |v: HealthViolation| HealthError::Unhealthy {
        dir: dir.to_path_buf(),
        violation: v,
    };
    let meta = block.meta();
    let ulid = meta.ulid.to_string();
    if let Some(name) = dir.file_name().and_then(|n| n.to_str()) {
        if name != ulid {
            return Err(unhealthy(violation(
                HealthRule::UlidMatchesDir,
                None,
                format!("meta.json says {ulid}, directory is {name}"),
            )));
        }
    }
    if meta.min_time >= meta.max_time {
        return Err(unhealthy(violation(
            HealthRule::TimeRange,
            None,
            format!(
                "minTime {} is not before maxTime {}",
                meta.min_time, meta.max_time
            ),
        )));
    }
    let index = block.index();
    index.verify_sections().map_err(BlockReadError::from)?;

    let mut report = HealthReport {
        num_label_names: index.label_names().len(),
        ..HealthReport::default()
    };
    let mut checker = SeriesChecker {
        block: &block,
        prev: None,
        last_ref: None,
        refs: Vec::new(),
        report: &mut report,
    };
    // Series are read in batches; the chunks of a batch decode in parallel
    // (the bulk of the work), then the rules are applied in index order, so
    // the first broken rule reported is the same as checking one by one.
    let mut series = index.raw_series();
    let mut batch: Vec<RawSeries> = Vec::new();
    loop {
        batch.clear();
        let mut chunks = 0;
        while chunks < BATCH_CHUNKS {
            let Some(s) = series.next() else { break };
            let s = s.map_err(BlockReadError::from)?;
            chunks += s.chunks.len();
            batch.push(s);
        }
        if batch.is_empty() {
            break;
        }
        let summaries: Vec<Result<ChunkSummary, BlockReadError>> = batch
            .par_iter()
            .flat_map_iter(|s| s.chunks.iter())
            .map(|c| ChunkSummary::read(&block, c))
            .collect();
        let mut summaries = summaries.into_iter();
        for s in batch.drain(..) {
            checker.check(s, &mut summaries).map_err(|e| match e {
                Check::Read(e) => HealthError::Read(e),
                Check::Rule(v) => unhealthy(v),
            })?;
        }
    }
    let refs = std::mem::take(&mut checker.refs);
    let all = index.postings("", "").map_err(BlockReadError::from)?;
    if all != refs {
        return Err(unhealthy(violation(
            HealthRule::AllPostingsComplete,
            None,
            format!(
                "all-postings list has {} entries, the series section {}",
                all.len(),
                refs.len()
            ),
        )));
    }
    let s = meta.stats;
    if (s.num_series, s.num_chunks, s.num_samples)
        != (report.num_series, report.num_chunks, report.num_samples)
    {
        return Err(unhealthy(violation(
            HealthRule::StatsMatch,
            None,
            format!(
                "meta.json says {} series, {} chunks, {} samples; the block holds {}, {}, {}",
                s.num_series,
                s.num_chunks,
                s.num_samples,
                report.num_series,
                report.num_chunks,
                report.num_samples
            ),
        )));
    }
    Ok(report)
}

/// Chunks whose samples are decoded at once, across all cores, before the
/// rules about their series are applied: enough to keep every core busy,
/// and a bound on what the check holds (a few dozen bytes per chunk).
const BATCH_CHUNKS: usize = 16 * 1024;

/// What the rules need of a chunk's samples, read without keeping them.
struct ChunkSummary {
    /// Samples left after tombstones.
    count: u64,
    /// Times of the first and last of them.
    first: i64,
    last: i64,
    /// The first pair of consecutive timestamps that does not increase.
    not_increasing: Option<(i64, i64)>,
}

impl ChunkSummary {
    fn read(block: &BlockReader, c: &ChunkMeta) -> Result<Self, BlockReadError> {
        let mut s = ChunkSummary {
            count: 0,
            first: 0,
            last: 0,
            not_increasing: None,
        };
        block.for_each_chunk_sample(c, |t, _| {
            if s.count == 0 {
                s.first = t;
            } else if t <= s.last && s.not_increasing.is_none() {
                s.not_increasing = Some((s.last, t));
            }
            s.last = t;
            s.count += 1;
        })?;
        Ok(s)
    }
}

enum Check {
    Read(BlockReadError),
    Rule(HealthViolation),
}

impl From<BlockReadError> for Check {
    fn from(e: BlockReadError) -> Self {
        Check::Read(e)
    }
}

struct SeriesChecker<'a> {
    block: &'a BlockReader,
    prev: Option<Labels>,
    last_ref: Option<u64>,
    refs: Vec<u32>,
    report: &'a mut HealthReport,
}

/// A label list as promtool prints it, even when it is not a valid set.
fn show(labels: &[Label]) -> String {
    let mut s = String::from("{");
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&l.name);
        s.push('=');
        let _ = go_quote(&l.value, &mut s);
    }
    s.push('}');
    s
}

impl SeriesChecker<'_> {
    /// Applies the rules to series `s`; `summaries` yields those of its
    /// chunks (and then of the following series' chunks), in order.
    fn check(
        &mut self,
        s: RawSeries,
        summaries: &mut impl Iterator<Item = Result<ChunkSummary, BlockReadError>>,
    ) -> Result<(), Check> {
        let name = show(&s.labels);
        let rule = |rule, detail: String| Check::Rule(violation(rule, Some(name.clone()), detail));
        if s.labels.is_empty() {
            return Err(rule(
                HealthRule::NonEmptyLabels,
                format!("series {} has no labels", s.series_ref),
            ));
        }
        if let Some(w) = s.labels.windows(2).find(|w| w[0].name >= w[1].name) {
            return Err(rule(
                HealthRule::LabelNamesSorted,
                format!("label name {:?} comes after {:?}", w[1].name, w[0].name),
            ));
        }
        let labels = Labels::from_sorted(s.labels.clone());
        if let Some(prev) = &self.prev {
            if labels <= *prev {
                return Err(rule(
                    HealthRule::SeriesSorted,
                    format!("not after the previous series {prev}"),
                ));
            }
        }
        if s.chunks.is_empty() {
            return Err(rule(
                HealthRule::SeriesHasChunks,
                "series has no chunks".to_string(),
            ));
        }
        let meta = self.block.meta();
        let mut prev_chunk: Option<&ChunkMeta> = None;
        // `zip` asks `s.chunks` first, so it takes exactly this series'
        // summaries.
        for (i, (c, summary)) in s.chunks.iter().zip(summaries.by_ref()).enumerate() {
            if c.min_time > c.max_time {
                return Err(rule(
                    HealthRule::ChunkTimeRange,
                    format!(
                        "chunk {i} has minTime {} after maxTime {}",
                        c.min_time, c.max_time
                    ),
                ));
            }
            if c.min_time < meta.min_time || c.max_time >= meta.max_time {
                return Err(rule(
                    HealthRule::ChunkInsideBlock,
                    format!(
                        "chunk {i} [{}, {}] is not inside the block [{}, {})",
                        c.min_time, c.max_time, meta.min_time, meta.max_time
                    ),
                ));
            }
            if let Some(p) = prev_chunk {
                if c.min_time <= p.max_time {
                    let kind = if (c.min_time, c.max_time) == (p.min_time, p.max_time) {
                        "duplicates"
                    } else {
                        "overlaps or precedes"
                    };
                    return Err(rule(
                        HealthRule::ChunksOrdered,
                        format!(
                            "chunk {i} [{}, {}] {kind} chunk {} [{}, {}]",
                            c.min_time,
                            c.max_time,
                            i - 1,
                            p.min_time,
                            p.max_time
                        ),
                    ));
                }
            }
            if let Some(r) = self.last_ref {
                if c.chunk_ref <= r {
                    return Err(rule(
                        HealthRule::ChunkRefsIncreasing,
                        format!("chunk {i} reference {:#x} is not after {r:#x}", c.chunk_ref),
                    ));
                }
            }
            self.last_ref = Some(c.chunk_ref);
            self.check_samples(i, c, summary?).map_err(|e| match e {
                Check::Rule(mut v) => {
                    v.series = Some(name.clone());
                    Check::Rule(v)
                }
                other => other,
            })?;
            prev_chunk = Some(c);
        }
        self.report.num_series += 1;
        self.report.num_chunks += s.chunks.len() as u64;
        self.refs.push(s.series_ref);
        self.prev = Some(labels);
        Ok(())
    }

    fn check_samples(&mut self, i: usize, c: &ChunkMeta, s: ChunkSummary) -> Result<(), Check> {
        let rule = |rule, detail: String| Check::Rule(violation(rule, None, detail));
        if s.count == 0 {
            return Err(rule(
                HealthRule::ChunkNotEmpty,
                format!("chunk {i} holds no samples"),
            ));
        }
        let (first, last) = (s.first, s.last);
        if first != c.min_time {
            return Err(rule(
                HealthRule::FirstSampleAtMinTime,
                format!(
                    "chunk {i}: first sample at {first}, chunk minTime {}",
                    c.min_time
                ),
            ));
        }
        if let Some((prev, t)) = s.not_increasing {
            return Err(rule(
                HealthRule::TimestampsIncreasing,
                format!("chunk {i}: sample at {t} follows {prev}"),
            ));
        }
        if last != c.max_time {
            return Err(rule(
                HealthRule::LastSampleAtMaxTime,
                format!(
                    "chunk {i}: last sample at {last}, chunk maxTime {}",
                    c.max_time
                ),
            ));
        }
        let r = &mut *self.report;
        r.num_samples += s.count;
        r.min_sample_time = Some(r.min_sample_time.map_or(first, |m| m.min(first)));
        r.max_sample_time = Some(r.max_sample_time.map_or(last, |m| m.max(last)));
        Ok(())
    }
}
