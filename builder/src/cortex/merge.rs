//! One series of a Cortex plan: its decoded chunks in, one day of
//! deduplicated XOR chunks out.
//!
//! Cortex's builder (blocksconvert `builder.go`, §8.2 steps 3–5 of the
//! reference) takes the labels of each chunk from its metadata, normalised;
//! refuses a series whose chunks disagree on them ("chunks for multiple
//! metrics"); merges all chunks so that samples with equal timestamps (the
//! replicas of a replicated write) appear once; and keeps only the plan's UTC
//! day. Cortex keeps an arbitrary one of equal-timestamp samples; we keep the
//! one from the chunk with the earliest start, then the smallest chunk key,
//! so the block does not depend on fetch order (SPEC, "Blocks produced").
//!
//! The result is already cut into XOR chunks of at most 120 samples, so
//! what the external sort holds per series is compact. This module fetches
//! nothing, writes no block and trusts its input: chunks are checked for
//! corruption (order, range) before they get here ([`super::series`]),
//! though a chunk out of order would still merge correctly.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use base::Labels;
use cortex::{ChunkKey, Sample};
use tsdb::{Chunker, EncodedChunk, XorIterator};

use crate::sink::SinkStats;

/// One fetched and decoded chunk of a series.
#[derive(Clone, Debug)]
pub struct DecodedChunk {
    /// The parsed key: tenant, fingerprint, `[from, through]` and checksum.
    pub key: ChunkKey,
    /// The chunk's external key, for ordering and messages.
    pub id: String,
    /// Labels from the chunk's metadata, normalised.
    pub labels: Labels,
    /// The samples, checked against the key: in time order, inside its range.
    pub samples: Vec<Sample>,
}

/// A series ready for the block: labels, chunks inside the day, and the
/// counts of what was dropped on the way.
#[derive(Clone, Debug, PartialEq)]
pub struct MergedSeries {
    /// The series' labels, as every one of its chunks names them.
    pub labels: Labels,
    /// Start of the series' first chunk and that chunk's key: which of two
    /// series with the same labels takes precedence when they are merged.
    pub priority: (i64, String),
    /// Time-ordered XOR chunks; empty when no sample falls inside the day.
    pub chunks: Vec<EncodedChunk>,
    /// Only the input side is filled: `samples_in`, `duplicates_dropped`,
    /// `duplicates_disagreeing`, `samples_outside_day`.
    pub counts: SinkStats,
}

/// Why the chunks of a series cannot be merged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    /// Cortex's wording, so operators can search for it.
    #[error("chunks for multiple metrics: chunk {first} has {first_labels}, chunk {other} has {other_labels}")]
    MultipleMetrics {
        /// The external key of the first chunk (in merge order).
        first: String,
        /// Its labels, printed.
        first_labels: String,
        /// The external key of the first chunk that disagrees.
        other: String,
        /// Its labels, printed.
        other_labels: String,
    },
    /// A chunk this builder encoded does not decode again: a bug, not input.
    #[error("series {series}: re-reading an encoded chunk: {reason}")]
    Reencoded {
        /// The series' labels, printed.
        series: String,
        /// The XOR decoder's complaint.
        reason: String,
    },
}

/// Merges the chunks of one series (any order) into the day
/// `[day_start, day_end)` (ms). `None` when `chunks` is empty.
pub fn merge_series(
    mut chunks: Vec<DecodedChunk>,
    day_start: i64,
    day_end: i64,
) -> Result<Option<MergedSeries>, MergeError> {
    chunks.sort_by(|a, b| (a.key.from, &a.id).cmp(&(b.key.from, &b.id)));
    let Some(first) = chunks.first() else {
        return Ok(None);
    };
    for c in &chunks[1..] {
        if c.labels != first.labels {
            return Err(MergeError::MultipleMetrics {
                first: first.id.clone(),
                first_labels: first.labels.to_string(),
                other: c.id.clone(),
                other_labels: c.labels.to_string(),
            });
        }
    }
    let priority = (first.key.from, first.id.clone());
    let mut cut = DayCutter::new(day_start, day_end);
    if crate::sink::test_break_dedup() {
        // The broken merge of the test hook: reversed, so that a stable
        // sort puts the last of equal timestamps first.
        let mut all: Vec<Sample> = chunks
            .iter()
            .flat_map(|c| c.samples.iter().copied())
            .collect();
        all.reverse();
        all.sort_by_key(|s| s.0);
        for &(t, v) in &all {
            cut.push(t, v);
        }
    } else {
        for c in &mut chunks {
            // Checked chunks never get here out of order; a stable sort
            // keeps equal timestamps in the chunk's order.
            if !c.samples.is_sorted_by_key(|s| s.0) {
                c.samples.sort_by_key(|s| s.0);
            }
        }
        let runs: Vec<&[Sample]> = chunks.iter().map(|c| c.samples.as_slice()).collect();
        merge_runs(&runs, |t, v| cut.push(t, v));
    }
    let labels = chunks.swap_remove(0).labels;
    let (chunks, counts) = cut.finish();
    Ok(Some(MergedSeries {
        labels,
        priority,
        chunks,
        counts,
    }))
}

/// Merges runs of samples, each in non-decreasing time order, into one
/// time-ordered stream handed to `emit`. Of equal timestamps, those of the
/// earlier run come first, and inside a run they keep their order: exactly
/// what a stable sort of the runs' concatenation gives, without copying or
/// sorting.
///
/// Runs are ordered by their head (time, then run index). The two smallest
/// are merged in a two-way loop for as long as both come before the third
/// run's head: so the chunks of one replica (runs that do not overlap) cost
/// a few heap operations per run, and two replicas interleaving sample by
/// sample one comparison of times per sample.
pub(crate) fn merge_runs(runs: &[&[Sample]], mut emit: impl FnMut(i64, f64)) {
    let mut heap: BinaryHeap<Reverse<(i64, usize)>> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.first().map(|s| Reverse((s.0, i))))
        .collect();
    let mut pos = vec![0usize; runs.len()];
    while let Some(Reverse((_, a))) = heap.pop() {
        let Some(Reverse((_, b))) = heap.pop() else {
            for &(t, v) in &runs[a][pos[a]..] {
                emit(t, v);
            }
            return;
        };
        // The smallest head of the other runs: nothing at or after it may
        // be emitted before it.
        let bound = heap.peek().map_or((i64::MAX, usize::MAX), |r| r.0);
        // Of equal times, the run with the lower index goes first.
        let (lo, hi) = (a.min(b), a.max(b));
        let (run_lo, run_hi) = (runs[lo], runs[hi]);
        let (mut p_lo, mut p_hi) = (pos[lo], pos[hi]);
        let (last_lo, last_hi) = (last_before(bound, lo), last_before(bound, hi));
        while let (Some(&(t_lo, v_lo)), Some(&(t_hi, v_hi))) = (run_lo.get(p_lo), run_hi.get(p_hi))
        {
            // Whichever head comes first may go, if it is before the bound;
            // if it is not, the other head, coming later, is not either.
            if t_lo <= t_hi {
                if last_lo.is_none_or(|l| t_lo > l) {
                    break;
                }
                emit(t_lo, v_lo);
                p_lo += 1;
            } else {
                if last_hi.is_none_or(|l| t_hi > l) {
                    break;
                }
                emit(t_hi, v_hi);
                p_hi += 1;
            }
        }
        // If a run ended, the other goes on alone up to the bound.
        for (run, p, last) in [(run_lo, &mut p_lo, last_lo), (run_hi, &mut p_hi, last_hi)] {
            if let Some(last) = last {
                while let Some(&(t, v)) = run.get(*p) {
                    if t > last {
                        break;
                    }
                    emit(t, v);
                    *p += 1;
                }
            }
        }
        (pos[lo], pos[hi]) = (p_lo, p_hi);
        for i in [lo, hi] {
            if let Some(&(t, _)) = runs[i].get(pos[i]) {
                heap.push(Reverse((t, i)));
            }
        }
    }
}

/// The last time run `run` may emit before `bound`, that is the greatest
/// `t` with `(t, run) < bound`; `None` when there is none.
fn last_before(bound: (i64, usize), run: usize) -> Option<i64> {
    if run < bound.1 {
        Some(bound.0)
    } else {
        bound.0.checked_sub(1)
    }
}

/// Merges series that ended up with the same labels (two series IDs whose
/// metadata normalise alike), given in order of precedence: of equal
/// timestamps, the earlier series' sample is kept.
pub fn merge_same_labels(
    mut first: MergedSeries,
    rest: Vec<MergedSeries>,
    day_start: i64,
    day_end: i64,
) -> Result<MergedSeries, MergeError> {
    if rest.is_empty() {
        return Ok(first);
    }
    // One run per series: its chunks are already deduplicated and in time
    // order, so the runs merge in order of precedence.
    let mut runs: Vec<Vec<Sample>> = Vec::with_capacity(rest.len() + 1);
    let mut counts = first.counts;
    for s in std::iter::once(&first).chain(rest.iter()) {
        let mut run = Vec::with_capacity(s.chunks.iter().map(|c| c.num_samples as usize).sum());
        for c in &s.chunks {
            let iter = XorIterator::new(&c.data).map_err(|e| MergeError::Reencoded {
                series: s.labels.to_string(),
                reason: e.to_string(),
            })?;
            for sample in iter {
                run.push(sample.map_err(|e| MergeError::Reencoded {
                    series: s.labels.to_string(),
                    reason: e.to_string(),
                })?);
            }
        }
        runs.push(run);
    }
    for s in &rest {
        counts.samples_in += s.counts.samples_in;
        counts.duplicates_dropped += s.counts.duplicates_dropped;
        counts.duplicates_disagreeing += s.counts.duplicates_disagreeing;
        counts.samples_outside_day += s.counts.samples_outside_day;
    }
    let mut cut = DayCutter::new(day_start, day_end);
    if crate::sink::test_break_dedup() {
        let mut all: Vec<Sample> = runs.concat();
        all.reverse();
        all.sort_by_key(|s| s.0);
        for &(t, v) in &all {
            cut.push(t, v);
        }
    } else {
        let runs: Vec<&[Sample]> = runs.iter().map(Vec::as_slice).collect();
        merge_runs(&runs, |t, v| cut.push(t, v));
    }
    let (chunks, extra) = cut.finish();
    // These samples were counted in when first read; only the repeats
    // between the series are new.
    counts.duplicates_dropped += extra.duplicates_dropped;
    counts.duplicates_disagreeing += extra.duplicates_disagreeing;
    first.chunks = chunks;
    first.counts = counts;
    Ok(first)
}

/// Drops samples outside the day and repeats of a timestamp (the first one
/// wins), and cuts the rest into XOR chunks. Input must be in
/// non-decreasing time order.
struct DayCutter {
    day_start: i64,
    day_end: i64,
    last: Option<(i64, u64)>,
    chunker: Chunker,
    chunks: Vec<EncodedChunk>,
    counts: SinkStats,
}

impl DayCutter {
    fn new(day_start: i64, day_end: i64) -> Self {
        DayCutter {
            day_start,
            day_end,
            last: None,
            chunker: Chunker::new(),
            chunks: Vec::new(),
            counts: SinkStats::default(),
        }
    }

    #[inline]
    fn push(&mut self, t: i64, v: f64) {
        self.counts.samples_in += 1;
        if t < self.day_start || t >= self.day_end {
            self.counts.samples_outside_day += 1;
            return;
        }
        if let Some((lt, lv)) = self.last {
            if lt == t {
                self.counts.duplicates_dropped += 1;
                if lv != v.to_bits() {
                    self.counts.duplicates_disagreeing += 1;
                }
                return;
            }
        }
        self.last = Some((t, v.to_bits()));
        if let Some(c) = self.chunker.push(t, v) {
            self.chunks.push(c);
        }
    }

    fn finish(mut self) -> (Vec<EncodedChunk>, SinkStats) {
        self.chunks.extend(self.chunker.finish());
        (self.chunks, self.counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use base::DAY_MS as DAY;

    fn chunk(
        from: i64,
        through: i64,
        check: u32,
        labels: &[(&str, &str)],
        samples: &[Sample],
    ) -> DecodedChunk {
        let key = ChunkKey {
            user: "u".into(),
            fingerprint: 1,
            from,
            through,
            checksum: Some(check),
        };
        DecodedChunk {
            id: key.external_key(),
            key,
            labels: Labels::normalize(labels.iter().copied()).expect("labels"),
            samples: samples.to_vec(),
        }
    }

    fn samples_of(m: &MergedSeries) -> Vec<Sample> {
        m.chunks
            .iter()
            .flat_map(|c| {
                XorIterator::new(&c.data)
                    .expect("chunk")
                    .map(|s| s.expect("sample"))
            })
            .collect()
    }

    const L: &[(&str, &str)] = &[("__name__", "up"), ("job", "a")];

    #[test]
    fn replicas_collapse_and_earliest_chunk_wins() {
        // Two replicas overlapping in [20, 30]; the later-starting one has other values.
        let a = chunk(10, 30, 2, L, &[(10, 1.0), (20, 2.0), (30, 3.0)]);
        let b = chunk(20, 40, 1, L, &[(20, 9.0), (30, 9.0), (40, 4.0)]);
        let m = merge_series(vec![b, a], 0, DAY).unwrap().unwrap();
        assert_eq!(
            samples_of(&m),
            vec![(10, 1.0), (20, 2.0), (30, 3.0), (40, 4.0)]
        );
        assert_eq!(m.counts.samples_in, 6);
        assert_eq!(m.counts.duplicates_dropped, 2);
        assert_eq!(m.counts.duplicates_disagreeing, 2);
        assert_eq!(m.priority.0, 10);
    }

    #[test]
    fn equal_start_prefers_smallest_key() {
        let a = chunk(10, 20, 0xb, L, &[(10, 1.0), (20, 2.0)]);
        let b = chunk(10, 20, 0xa, L, &[(10, 5.0), (20, 6.0)]);
        let m = merge_series(vec![a, b], 0, DAY).unwrap().unwrap();
        assert_eq!(samples_of(&m), vec![(10, 5.0), (20, 6.0)]);
    }

    #[test]
    fn clips_to_the_day_and_cuts_120() {
        let s: Vec<Sample> = (-10..300).map(|i| (DAY + i * 1000, i as f64)).collect();
        let c = chunk(s[0].0, s[s.len() - 1].0, 1, L, &s);
        let m = merge_series(vec![c], DAY, 2 * DAY).unwrap().unwrap();
        assert_eq!(m.counts.samples_outside_day, 10);
        let lens: Vec<u32> = m.chunks.iter().map(|c| c.num_samples).collect();
        assert_eq!(lens, vec![120, 120, 60]);
        assert_eq!(m.chunks[0].min_time, DAY);
        assert_eq!(samples_of(&m).len(), 300);
    }

    #[test]
    fn stale_markers_stay_bit_exact() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let c = chunk(1, 2, 1, L, &[(1, 1.0), (2, stale)]);
        let m = merge_series(vec![c], 0, DAY).unwrap().unwrap();
        assert_eq!(samples_of(&m)[1].1.to_bits(), 0x7ff0_0000_0000_0002);
    }

    #[test]
    fn different_labels_are_refused_naming_both_chunks() {
        let a = chunk(1, 2, 1, L, &[(1, 1.0)]);
        let b = chunk(3, 4, 2, &[("__name__", "up"), ("job", "b")], &[(3, 1.0)]);
        let err = merge_series(vec![a, b], 0, DAY).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("chunks for multiple metrics"), "{msg}");
        assert!(
            msg.contains("u/1:1:2:1") && msg.contains("u/1:3:4:2"),
            "{msg}"
        );
    }

    #[test]
    fn out_of_order_samples_inside_a_chunk_are_sorted() {
        let c = chunk(1, 3, 1, L, &[(1, 1.0), (3, 3.0), (2, 2.0)]);
        let m = merge_series(vec![c], 0, DAY).unwrap().unwrap();
        assert_eq!(samples_of(&m), vec![(1, 1.0), (2, 2.0), (3, 3.0)]);
    }

    #[test]
    fn same_label_series_merge_in_precedence_order() {
        let a = merge_series(vec![chunk(1, 2, 1, L, &[(1, 1.0), (2, 2.0)])], 0, DAY)
            .unwrap()
            .unwrap();
        let b = merge_series(vec![chunk(2, 3, 2, L, &[(2, 7.0), (3, 3.0)])], 0, DAY)
            .unwrap()
            .unwrap();
        let m = merge_same_labels(a, vec![b], 0, DAY).unwrap();
        assert_eq!(samples_of(&m), vec![(1, 1.0), (2, 2.0), (3, 3.0)]);
        assert_eq!(m.counts.samples_in, 4);
        assert_eq!(m.counts.duplicates_dropped, 1);
        assert_eq!(m.counts.duplicates_disagreeing, 1);
    }

    #[test]
    fn merging_runs_is_a_stable_sort_of_their_concatenation() {
        // A fixed LCG: runs of random lengths over a narrow time range, so
        // that equal timestamps across and inside runs are common.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |m: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % m
        };
        for case in 0..500 {
            let runs: Vec<Vec<Sample>> = (0..next(6))
                .map(|r| {
                    // Some cases at the very start of time, where "just
                    // before" a limit does not exist.
                    let base = if case % 5 == 0 { i64::MIN } else { 0 };
                    let mut t = base + next(20) as i64;
                    (0..next(12))
                        .map(|i| {
                            t += next(3) as i64;
                            (t, (case * 1000 + r * 100 + i) as f64)
                        })
                        .collect()
                })
                .collect();
            let mut want = runs.concat();
            want.sort_by_key(|s| s.0);
            let slices: Vec<&[Sample]> = runs.iter().map(Vec::as_slice).collect();
            let mut got = Vec::new();
            merge_runs(&slices, |t, v| got.push((t, v)));
            assert_eq!(got, want, "case {case}: {runs:?}");
        }
    }

    #[test]
    fn no_chunks_no_series() {
        assert!(merge_series(Vec::new(), 0, DAY).unwrap().is_none());
    }
}
