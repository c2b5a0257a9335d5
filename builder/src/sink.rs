//! The last step every source shares: one day of one tenant's series, in
//! label order, into a block.
//!
//! A source hands over each series with its samples in time order, equal
//! timestamps in the order of preference (the sample to keep first). The
//! sink drops the repeats, counting those whose values differ, keeps the
//! samples inside the day, cuts XOR chunks of at most 120 samples and feeds
//! the block writer. Sources never touch chunks or the index.

use std::path::{Path, PathBuf};

use base::Labels;
use tsdb::{
    BlockMeta, BlockWriteError, BlockWriter, BlockWriterOptions, Chunker, EncodedChunk, ThanosMeta,
    DEFAULT_SEGMENT_SIZE,
};
use ulid::Ulid;

/// What went in and what came out of a block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Series written to the block (series with no sample in the day are not).
    pub series: u64,
    /// XOR chunks written.
    pub chunks: u64,
    /// Samples the source handed over, duplicates and out-of-day ones included.
    pub samples_in: u64,
    /// Samples written to the block.
    pub samples_out: u64,
    /// Samples dropped for repeating the timestamp of a kept one.
    pub duplicates_dropped: u64,
    /// Of those, the ones whose value differed from the kept sample's.
    pub duplicates_disagreeing: u64,
    /// Samples dropped for falling outside the plan's UTC day.
    pub samples_outside_day: u64,
    /// What the source left out of the block instead of failing (corrupt
    /// or empty input); filled by the source, not by the sink.
    pub skipped: protocol::records::SkippedInput,
}

/// Test hook, off in production: with `BLOCKSCONVERT_TEST_BREAK_DEDUP=keep-last`
/// in the environment (read once per process) the builder keeps the *last*
/// of equal timestamps instead of the first, here and in the Cortex merge.
/// `tests/verify_catches_broken_merge.rs` sets it to show that `verify`,
/// which shares no merge code with the builder, catches a broken merge.
pub(crate) fn test_break_dedup() -> bool {
    static KEEP_LAST: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *KEEP_LAST.get_or_init(|| {
        std::env::var("BLOCKSCONVERT_TEST_BREAK_DEDUP").is_ok_and(|v| v == "keep-last")
    })
}

pub(crate) struct DaySink {
    writer: BlockWriter,
    day_start: i64,
    day_end: i64,
    stats: SinkStats,
    kept: Vec<(i64, f64)>,
}

impl DaySink {
    /// A sink for `[day_start, day_end)` (ms) writing block `ulid` under `parent`.
    pub(crate) fn create(
        parent: &Path,
        ulid: Ulid,
        day_start: i64,
        day_end: i64,
        memory_budget: usize,
    ) -> Result<Self, BlockWriteError> {
        let writer = BlockWriter::create(
            parent,
            BlockWriterOptions {
                min_time: day_start,
                max_time: day_end,
                ulid,
                memory_budget,
                segment_size: DEFAULT_SEGMENT_SIZE,
                // Uploaded, then removed; after a crash the work dir is swept.
                durable: false,
            },
        )?;
        Ok(DaySink {
            writer,
            day_start,
            day_end,
            stats: SinkStats::default(),
            kept: Vec::new(),
        })
    }

    /// Adds one series. `samples` are in non-decreasing time order; of equal
    /// timestamps the first is kept. A series with no sample inside the day
    /// is left out of the block (a block holds no series without chunks).
    pub(crate) fn add_series(
        &mut self,
        labels: &Labels,
        samples: &[(i64, f64)],
    ) -> Result<(), BlockWriteError> {
        self.stats.samples_in += samples.len() as u64;
        self.kept.clear();
        for &(t, v) in samples {
            if t < self.day_start || t >= self.day_end {
                self.stats.samples_outside_day += 1;
                continue;
            }
            if let Some(&(lt, lv)) = self.kept.last() {
                if lt == t {
                    self.stats.duplicates_dropped += 1;
                    if lv.to_bits() != v.to_bits() {
                        self.stats.duplicates_disagreeing += 1;
                    }
                    if test_break_dedup() {
                        self.kept.pop();
                        self.kept.push((t, v));
                    }
                    continue;
                }
            }
            self.kept.push((t, v));
        }
        if self.kept.is_empty() {
            return Ok(());
        }
        let mut chunker = Chunker::new();
        let mut chunks = Vec::with_capacity(self.kept.len() / 120 + 1);
        for &(t, v) in &self.kept {
            if let Some(c) = chunker.push(t, v) {
                chunks.push(c);
            }
        }
        chunks.extend(chunker.finish());
        self.writer.add_series(labels, &chunks)?;
        self.stats.series += 1;
        if self.stats.series == 1 {
            crate::failpoint::reached(crate::failpoint::Stage::Writing);
        }
        self.stats.chunks += chunks.len() as u64;
        self.stats.samples_out += self.kept.len() as u64;
        Ok(())
    }

    /// Adds one series that the source already deduplicated, clipped to the
    /// day and cut into chunks (the Cortex builder does that per series in
    /// parallel, before sorting). From `input` only the counts of what the
    /// source read and dropped are taken: `samples_in`, `duplicates_*` and
    /// `samples_outside_day`. Series without chunks only add their counts.
    pub(crate) fn add_chunks(
        &mut self,
        labels: &Labels,
        chunks: &[EncodedChunk],
        input: &SinkStats,
    ) -> Result<(), BlockWriteError> {
        self.stats.samples_in += input.samples_in;
        self.stats.duplicates_dropped += input.duplicates_dropped;
        self.stats.duplicates_disagreeing += input.duplicates_disagreeing;
        self.stats.samples_outside_day += input.samples_outside_day;
        if chunks.is_empty() {
            return Ok(());
        }
        self.writer.add_series(labels, chunks)?;
        self.stats.series += 1;
        if self.stats.series == 1 {
            crate::failpoint::reached(crate::failpoint::Stage::Writing);
        }
        self.stats.chunks += chunks.len() as u64;
        self.stats.samples_out += chunks.iter().map(|c| u64::from(c.num_samples)).sum::<u64>();
        Ok(())
    }

    pub(crate) fn stats(&self) -> SinkStats {
        self.stats
    }

    /// Writes index and meta.json with the tenant's `__org_id__` label.
    pub(crate) fn finish(
        self,
        tenant: &str,
    ) -> Result<(PathBuf, BlockMeta, SinkStats), BlockWriteError> {
        let thanos = ThanosMeta {
            version: 1,
            labels: [("__org_id__".to_string(), tenant.to_string())].into(),
            source: "blocksconvert".into(),
            ..ThanosMeta::default()
        };
        let (dir, meta) = self.writer.finish(Some(thanos))?;
        Ok((dir, meta, self.stats))
    }
}
