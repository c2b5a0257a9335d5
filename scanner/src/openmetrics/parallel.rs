//! Parsing one OpenMetrics file on every core.
//!
//! A reader thread cuts the file into blocks at line boundaries; worker
//! threads parse blocks ([`openmetrics::BlockParser`]) into the block's
//! distinct series and its samples in file order; the caller's thread takes
//! the parsed blocks back in file order ([`Blocks::next`]), so everything
//! downstream sees the file as one sequential parse would: same sample
//! order, same first error. Line numbers are block-relative until the
//! consumer adds the lines of the blocks before.
//!
//! Memory is a fixed pool of blocks (text plus parsed samples) that cycle
//! between the threads, so a file of any size costs [`Pipeline::reserved`].
//! Threads are plain scoped threads connected by bounded channels: a
//! streaming, ordered, bounded pipeline, which a work-stealing pool (rayon)
//! does not model.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Read};
use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use base::DAY_MS;
use openmetrics::{BlockParser, OpenMetricsError, Sample, MAX_LINE_BYTES};

use super::{DayRange, END_OF_TIME_MS, MAX_SERIES_TEXT_BYTES};

/// A series first seen in a block.
pub(super) struct LocalSeries {
    /// Its text, in the block's buffer.
    pub(super) text: Range<usize>,
    /// Block-relative line of its first in-range sample.
    pub(super) line: u64,
}

/// Why a block stopped early; lines are block-relative.
pub(super) enum BlockError {
    /// The text is not OpenMetrics as promtool takes it.
    Syntax(OpenMetricsError),
    /// A sample no block can hold (see `check_representable`).
    Unrepresentable { line: u64, reason: String },
    /// Reading the file failed after this block's lines.
    Io(io::Error),
}

/// One block of the file and, once parsed, what it holds.
#[derive(Default)]
pub(super) struct Block {
    index: u64,
    buf: Vec<u8>,
    last: bool,
    /// Distinct series with in-range samples, in order of first appearance.
    pub(super) series: Vec<LocalSeries>,
    /// In-range samples in file order: index into `series`, ms, value.
    pub(super) samples: Vec<(u32, i64, f64)>,
    /// Lines of the block (up to the error, if any).
    pub(super) lines: u64,
    /// Samples read, in range or not.
    pub(super) samples_read: u64,
    /// Samples outside the day range.
    pub(super) outside: u64,
    /// What stopped the block, after `samples`.
    pub(super) error: Option<BlockError>,
}

impl Block {
    /// Text of a series of this block.
    pub(super) fn text(&self, s: &LocalSeries) -> &str {
        // Validated UTF-8 by the parser; a failure here is a bug, not input.
        std::str::from_utf8(&self.buf[s.text.clone()]).unwrap_or("")
    }

    /// Whether this is the last block of the file.
    pub(super) fn is_last(&self) -> bool {
        self.last
    }
}

/// FxHash: series texts come from the operator's own file, so a fast hash
/// without flooding resistance is the right trade for one lookup per line.
#[derive(Default)]
pub(super) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` with [`FxHasher`].
pub(super) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Sizes of the pipeline for a memory budget and a number of threads.
pub(super) struct Pipeline {
    workers: usize,
    block_bytes: usize,
    blocks: usize,
}

impl Pipeline {
    /// Parse threads: one per core.
    pub(super) fn new(memory_budget: usize) -> Self {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        // A block of 1/256 of the budget, 64 KiB to 1 MiB; two per worker
        // plus two keep every thread busy while the consumer catches up.
        let block_bytes = (memory_budget / 256).clamp(64 << 10, 1 << 20);
        Pipeline {
            workers,
            block_bytes,
            blocks: 2 * workers + 2,
        }
    }

    /// Bytes the pool may hold at most: per block its text and its parsed
    /// samples (24 bytes per line of at least 6 bytes: four times the text).
    pub(super) fn reserved(&self) -> usize {
        self.blocks * self.block_bytes * 5
    }
}

/// Per-sample checks and the day range, as the workers apply them.
pub(super) struct Rules {
    /// `--memory-budget`, which bounds a series text.
    pub(super) memory_budget: usize,
    /// Days to keep.
    pub(super) days: DayRange,
}

/// Parsed blocks of one file, in file order.
pub(super) struct Blocks {
    done: Receiver<Block>,
    pool: SyncSender<Block>,
    waiting: BTreeMap<u64, Block>,
    next: u64,
}

impl Blocks {
    /// The next block in file order, or `None` after the last. Give it back
    /// with [`Blocks::recycle`].
    pub(super) fn next(&mut self) -> Option<Block> {
        loop {
            if let Some(b) = self.waiting.remove(&self.next) {
                self.next += 1;
                return Some(b);
            }
            // Err: every worker ended, so no block is missing.
            let b = self.done.recv().ok()?;
            self.waiting.insert(b.index, b);
        }
    }

    /// Returns a block to the reader for the next part of the file.
    pub(super) fn recycle(&mut self, b: Block) {
        // Err: the reader is done; the block is simply dropped.
        let _ = self.pool.send(b);
    }
}

/// Runs `consume` on the parsed blocks of `file` while reader and workers
/// run in scoped threads; they stop when `consume` returns.
pub(super) fn parse_file<T>(
    file: File,
    pipeline: &Pipeline,
    rules: &Rules,
    consume: impl FnOnce(&mut Blocks) -> T,
) -> T {
    let (pool_tx, pool_rx) = sync_channel::<Block>(pipeline.blocks);
    for _ in 0..pipeline.blocks {
        let _ = pool_tx.send(Block::default());
    }
    let (work_tx, work_rx) = sync_channel::<Block>(pipeline.blocks);
    let (done_tx, done_rx) = sync_channel::<Block>(pipeline.blocks);
    let work_rx = Arc::new(Mutex::new(work_rx));
    std::thread::scope(|s| {
        let block_bytes = pipeline.block_bytes;
        s.spawn(move || read_blocks(file, block_bytes, &pool_rx, &work_tx));
        for _ in 0..pipeline.workers {
            let (work_rx, done_tx) = (Arc::clone(&work_rx), done_tx.clone());
            s.spawn(move || loop {
                // The lock is held only to take a block, not to parse it.
                let next = work_rx.lock().map(|rx| rx.recv());
                let Ok(Ok(mut block)) = next else { return };
                parse_block(&mut block, rules);
                if done_tx.send(block).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        let mut blocks = Blocks {
            done: done_rx,
            pool: pool_tx,
            waiting: BTreeMap::new(),
            next: 0,
        };
        // Dropping `blocks` (the pool's only sender, the results' only
        // receiver) ends the reader and then the workers.
        consume(&mut blocks)
    })
}

/// Fills blocks from the pool with whole lines of the file and queues them.
fn read_blocks(
    mut file: File,
    block_bytes: usize,
    pool: &Receiver<Block>,
    work: &SyncSender<Block>,
) {
    let mut carry: Vec<u8> = Vec::new();
    let mut read_error = None;
    let mut index = 0;
    while let Ok(mut block) = pool.recv() {
        block.index = index;
        index += 1;
        block.buf.clear();
        block.buf.append(&mut carry);
        block.last = false;
        block.error = None;
        if let Some(e) = read_error.take() {
            block.error = Some(BlockError::Io(e));
            block.last = true;
            let _ = work.send(block);
            return;
        }
        let mut want = block_bytes.max(block.buf.len() + 1);
        loop {
            match fill(&mut file, &mut block.buf, want) {
                Ok(true) => {}
                Ok(false) => {
                    block.last = true;
                    break;
                }
                Err(e) => {
                    block.error = Some(BlockError::Io(e));
                    block.last = true;
                    break;
                }
            }
            if let Some(n) = block.buf.iter().rposition(|&c| c == b'\n') {
                carry.extend_from_slice(&block.buf[n + 1..]);
                block.buf.truncate(n + 1);
                break;
            }
            // No newline yet: a long line. Past the longest line allowed,
            // the parser refuses it (as its first line).
            if block.buf.len() > MAX_LINE_BYTES {
                break;
            }
            want = (want * 2).min(MAX_LINE_BYTES + 1);
        }
        if carry.is_empty() && !block.last {
            // Ended on a newline: find out now whether the file ends there,
            // as only the last block may end with `# EOF`.
            match fill(&mut file, &mut carry, 1) {
                Ok(false) if carry.is_empty() => block.last = true,
                Ok(_) => {}
                Err(e) => read_error = Some(e),
            }
        }
        let last = block.last;
        if work.send(block).is_err() || last {
            return;
        }
    }
}

/// Reads until `buf` holds `want` bytes; false at the end of the file.
fn fill(file: &mut File, buf: &mut Vec<u8>, want: usize) -> io::Result<bool> {
    let start = buf.len();
    buf.resize(want.max(start), 0);
    let mut len = start;
    while len < buf.len() {
        match file.read(&mut buf[len..]) {
            Ok(0) => {
                buf.truncate(len);
                return Ok(false);
            }
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                buf.truncate(len);
                return Err(e);
            }
        }
    }
    Ok(true)
}

/// Parses a block: its in-range samples grouped by local series, stopping
/// at the first error.
fn parse_block(block: &mut Block, rules: &Rules) {
    block.series.clear();
    block.samples.clear();
    block.samples_read = 0;
    block.outside = 0;
    if block.error.is_some() {
        // A read error: nothing of this block is whole.
        block.lines = 0;
        return;
    }
    let buf = std::mem::take(&mut block.buf);
    let base = buf.as_ptr() as usize;
    let mut local: FxMap<&str, u32> = FxMap::default();
    local.reserve(block.series.capacity());
    let mut p = BlockParser::new(&buf, block.last);
    loop {
        let sample = match p.next_sample() {
            Ok(Some(s)) => s,
            Ok(None) => break,
            Err(e) => {
                block.error = Some(BlockError::Syntax(e));
                break;
            }
        };
        block.samples_read += 1;
        if let Err(reason) = check_representable(&sample, rules.memory_budget) {
            block.error = Some(BlockError::Unrepresentable {
                line: sample.series.line(),
                reason,
            });
            break;
        }
        let day = sample.timestamp_ms.div_euclid(DAY_MS);
        if !i32::try_from(day).is_ok_and(|d| rules.days.contains(d)) {
            block.outside += 1;
            continue;
        }
        let text = sample.series.text();
        let id = *local.entry(text).or_insert_with(|| {
            let start = text.as_ptr() as usize - base;
            block.series.push(LocalSeries {
                text: start..start + text.len(),
                line: sample.series.line(),
            });
            (block.series.len() - 1) as u32
        });
        block.samples.push((id, sample.timestamp_ms, sample.value));
    }
    block.lines = p.line_number();
    drop(local);
    block.buf = buf;
}

/// What no builder could turn into a block: timestamps before 1970 or
/// after 9999, and label sets too large for a block or for a quarter of
/// the memory budget (the grouping map, the sort and the builder each hold
/// several at once). Refusing here means no plan is written that would
/// fail every attempt. The reason, without file and line.
fn check_representable(sample: &Sample<'_>, memory_budget: usize) -> Result<(), String> {
    let t = sample.timestamp_ms;
    if t < 0 {
        return Err(format!(
            "timestamp {t} ms is before 1970-01-01, which a TSDB block cannot hold"
        ));
    }
    if t >= END_OF_TIME_MS {
        return Err(format!(
            "timestamp {t} ms is after 9999-12-31, the last day a block can be planned for"
        ));
    }
    let size = sample.series.text().len();
    if size > MAX_SERIES_TEXT_BYTES {
        return Err(format!(
            "the series' labels take {size} bytes, more than the {MAX_SERIES_TEXT_BYTES} \
             a block's series may have here"
        ));
    }
    if size > memory_budget / 4 {
        return Err(format!(
            "the series' labels take {size} bytes, more than a quarter of \
             --memory-budget ({memory_budget} bytes); raise --memory-budget"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{stage_file, DayRange};
    use openmetrics::OpenMetricsParser;
    use std::fmt::Write as _;

    /// Lines `i` of a multi-block input: 50 series, timestamps rising.
    fn input(lines: usize) -> String {
        let mut s = String::from("# TYPE m_total counter\n");
        for i in 0..lines {
            let _ = writeln!(
                s,
                "m_total{{k=\"{}\"}} {i}.5 {}",
                i % 50,
                1_000_000 + i / 50
            );
        }
        s
    }

    fn stage(text: &str) -> anyhow::Result<Vec<(i32, u64, u64)>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("in.om");
        std::fs::write(&path, text)?;
        // 64 KiB blocks: the input spans many.
        let r = stage_file(&path, dir.path(), 1 << 20, DayRange::default())?;
        Ok(r.days
            .iter()
            .map(|d| (d.day, d.series, d.samples))
            .collect())
    }

    #[test]
    fn errors_name_the_line_of_the_whole_file() {
        let good = input(40_000);
        assert!(good.len() > 10 * (64 << 10));
        let days = stage(&format!("{good}# EOF\n")).unwrap();
        assert_eq!(days.iter().map(|d| d.2).sum::<u64>(), 40_000);
        // Line 30,002 (after the TYPE line): a bad value deep in a later block.
        let bad = good.replacen("29999.5", "x", 1);
        let e = format!("{:#}", stage(&format!("{bad}# EOF\n")).unwrap_err());
        assert!(e.contains("line 30001:"), "{e}");
        let e = format!("{:#}", stage(&good).unwrap_err());
        assert!(
            e.contains("line 40002: data does not end with # EOF"),
            "{e}"
        );
        let e = format!("{:#}", stage(&format!("{good}# EOF\nm 1 1\n")).unwrap_err());
        assert!(e.contains("line 40003: unexpected data after # EOF"), "{e}");
        let late = good.replacen(" 1000700\n", " -1\n", 1);
        let e = format!("{:#}", stage(&format!("{late}# EOF\n")).unwrap_err());
        assert!(e.contains(":35002: timestamp -1000 ms"), "{e}");
    }

    #[test]
    fn same_lines_as_the_streaming_parser() {
        let text = format!("{}# EOF\n", input(30_000));
        let mut p = OpenMetricsParser::new(text.as_bytes());
        while p.next_sample().unwrap().is_some() {}
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.om");
        std::fs::write(&path, &text).unwrap();
        let r = stage_file(&path, dir.path(), 1 << 20, DayRange::default()).unwrap();
        assert_eq!(r.lines, p.line_number());
        assert_eq!(r.samples, 30_000);
    }
}
