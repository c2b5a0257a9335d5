//! External sort: order more records than fit in memory.
//!
//! For: sorting a stream once, with a byte budget, inside one process (the
//! scanners' grouping, the block writer's symbols and postings, the
//! builders' series order). Not for anything that outlives the process:
//! run files are private, unversioned and removed on drop.
//!
//! Records are buffered until their [`SortRecord::mem_size`] total exceeds
//! the memory budget; the buffer is then stably sorted and spilled as a
//! *run* (a snappy-framed file of length-prefixed records) into a private
//! temporary directory under the caller's work directory. [`ExternalSorter::finish`]
//! merges the runs and the last in-memory buffer with a binary heap. Ties
//! go to the earlier run, and runs are in push order, so the whole sort is
//! stable: records that compare equal come out in the order they were
//! pushed (the dedupe rules of the builder depend on this).
//!
//! When there are more runs than can be merged at once, consecutive runs
//! are merged into bigger runs first; merging only neighbours keeps the
//! sort stable. All files are removed when the sorter or its [`Sorted`]
//! iterator is dropped. Records encode themselves, usually with `base::codec`.

use base::codec;

use std::cmp::Ordering;
use std::collections::binary_heap::{BinaryHeap, PeekMut};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// A record the external sort can spill. `Ord` defines the output order.
pub trait SortRecord: Ord + Sized {
    /// Appends the record's bytes to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Consumes one record from the front of `buf`.
    fn decode(buf: &mut &[u8]) -> io::Result<Self>;
    /// Approximate bytes this record holds in memory (struct + heap), for the budget.
    fn mem_size(&self) -> usize;
}

/// Runs merged at once. Each open run costs a file descriptor and its read
/// buffers, so a sort with thousands of runs merges them in rounds.
const MAX_FAN_IN: usize = 64;
/// Bounds of the read buffer each run gets while merging: large enough that
/// interleaved reads of many runs stay sequential-ish on disk.
const MIN_RUN_BUFFER: usize = 64 << 10;
const MAX_RUN_BUFFER: usize = 4 << 20;
/// Write buffer of a run being spilled.
const WRITE_BUFFER: usize = 1 << 20;

/// Sorts records with bounded memory, spilling sorted runs to disk.
pub struct ExternalSorter<T: SortRecord> {
    dir: tempfile::TempDir,
    budget: usize,
    buffer: Vec<T>,
    buffered_bytes: usize,
    runs: Vec<PathBuf>,
    next_file: usize,
    pushed: u64,
}

impl<T: SortRecord> ExternalSorter<T> {
    /// `work_dir`: where run files go (a private temp dir is made inside it
    /// and removed on drop). `memory_budget` bounds the bytes of buffered
    /// records (as counted by [`SortRecord::mem_size`]).
    pub fn new(work_dir: &Path, memory_budget: usize) -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("extsort-")
            .tempdir_in(work_dir)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "external sort: cannot create a temp dir in {}: {e}",
                        work_dir.display()
                    ),
                )
            })?;
        Ok(ExternalSorter {
            dir,
            budget: memory_budget.max(1),
            buffer: Vec::new(),
            buffered_bytes: 0,
            runs: Vec::new(),
            next_file: 0,
            pushed: 0,
        })
    }

    /// Adds a record; spills a sorted run when the budget is exceeded.
    pub fn push(&mut self, item: T) -> io::Result<()> {
        self.buffered_bytes += item.mem_size();
        self.buffer.push(item);
        self.pushed += 1;
        if self.buffered_bytes >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Runs written to disk so far.
    pub fn spilled_runs(&self) -> usize {
        self.runs.len()
    }

    /// Records pushed so far.
    pub fn len(&self) -> u64 {
        self.pushed
    }

    /// True until the first push.
    pub fn is_empty(&self) -> bool {
        self.pushed == 0
    }

    /// Stable: records that compare equal come out in push order.
    pub fn finish(mut self) -> io::Result<Sorted<T>> {
        // `sort` (not `sort_unstable`) keeps equal records in push order.
        self.buffer.sort();
        let tail = std::mem::take(&mut self.buffer);
        if self.runs.is_empty() {
            return Ok(Sorted {
                state: State::Memory(tail.into_iter()),
            });
        }
        // Leave one slot for the in-memory tail in the final merge.
        while self.runs.len() + 1 > MAX_FAN_IN {
            self.merge_round()?;
        }
        let buf_size = self.run_buffer_size(self.runs.len() + 1);
        let mut sources = Vec::with_capacity(self.runs.len() + 1);
        for path in std::mem::take(&mut self.runs) {
            sources.push(Source::Run(RunReader::open(path, buf_size)?));
        }
        sources.push(Source::Memory(tail.into_iter()));
        let merger = Merger::new(sources)?;
        Ok(Sorted {
            state: State::Merge {
                merger,
                _dir: self.dir,
            },
        })
    }

    fn run_buffer_size(&self, runs: usize) -> usize {
        (self.budget / (4 * runs.max(1))).clamp(MIN_RUN_BUFFER, MAX_RUN_BUFFER)
    }

    fn new_run_path(&mut self) -> PathBuf {
        self.next_file += 1;
        self.dir.path().join(format!("run-{:06}", self.next_file))
    }

    fn spill(&mut self) -> io::Result<()> {
        self.buffer.sort();
        let path = self.new_run_path();
        let mut w = RunWriter::create(path)?;
        for item in self.buffer.drain(..) {
            w.write(&item)?;
        }
        self.runs.push(w.finish()?);
        self.buffered_bytes = 0;
        Ok(())
    }

    /// Merges groups of consecutive runs into single runs, so that at most
    /// [`MAX_FAN_IN`] remain after enough rounds.
    fn merge_round(&mut self) -> io::Result<()> {
        let old = std::mem::take(&mut self.runs);
        let buf_size = self.run_buffer_size(MAX_FAN_IN);
        for group in old.chunks(MAX_FAN_IN) {
            if group.len() == 1 {
                self.runs.push(group[0].clone());
                continue;
            }
            let mut sources: Vec<Source<T>> = Vec::with_capacity(group.len());
            for path in group {
                sources.push(Source::Run(RunReader::open(path.clone(), buf_size)?));
            }
            let mut merger = Merger::new(sources)?;
            let out = self.new_run_path();
            let mut w = RunWriter::create(out)?;
            while let Some(item) = merger.next_item()? {
                w.write(&item)?;
            }
            self.runs.push(w.finish()?);
            for path in group {
                std::fs::remove_file(path).map_err(|e| annotate(path, e))?;
            }
        }
        Ok(())
    }
}

/// The sorted records, read from memory or merged from runs.
pub struct Sorted<T: SortRecord> {
    state: State<T>,
}

enum State<T: SortRecord> {
    Memory(std::vec::IntoIter<T>),
    Merge {
        merger: Merger<T>,
        // Keeps the run files alive until the iterator is dropped.
        _dir: tempfile::TempDir,
    },
    Failed,
}

impl<T: SortRecord> Iterator for Sorted<T> {
    type Item = io::Result<T>;

    fn next(&mut self) -> Option<io::Result<T>> {
        match &mut self.state {
            State::Memory(it) => it.next().map(Ok),
            State::Merge { merger, .. } => match merger.next_item() {
                Ok(item) => item.map(Ok),
                Err(e) => {
                    // A broken run cannot be resumed; end the iteration.
                    self.state = State::Failed;
                    Some(Err(e))
                }
            },
            State::Failed => None,
        }
    }
}

fn annotate(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("external sort run {}: {e}", path.display()),
    )
}

struct RunWriter {
    path: PathBuf,
    out: snap::write::FrameEncoder<BufWriter<File>>,
    scratch: Vec<u8>,
    len_buf: Vec<u8>,
}

impl RunWriter {
    fn create(path: PathBuf) -> io::Result<Self> {
        let f = File::create(&path).map_err(|e| annotate(&path, e))?;
        Ok(RunWriter {
            out: snap::write::FrameEncoder::new(BufWriter::with_capacity(WRITE_BUFFER, f)),
            path,
            scratch: Vec::new(),
            len_buf: Vec::with_capacity(10),
        })
    }

    fn write<T: SortRecord>(&mut self, item: &T) -> io::Result<()> {
        self.scratch.clear();
        item.encode(&mut self.scratch);
        self.len_buf.clear();
        codec::put_uvarint(&mut self.len_buf, self.scratch.len() as u64);
        self.out
            .write_all(&self.len_buf)
            .and_then(|()| self.out.write_all(&self.scratch))
            .map_err(|e| annotate(&self.path, e))
    }

    fn finish(self) -> io::Result<PathBuf> {
        let path = self.path;
        let inner = self
            .out
            .into_inner()
            .map_err(|e| annotate(&path, e.into_error()))?;
        inner
            .into_inner()
            .map_err(|e| annotate(&path, e.into_error()))?;
        Ok(path)
    }
}

struct RunReader {
    path: PathBuf,
    input: BufReader<snap::read::FrameDecoder<BufReader<File>>>,
    scratch: Vec<u8>,
}

impl RunReader {
    fn open(path: PathBuf, buf_size: usize) -> io::Result<Self> {
        let f = File::open(&path).map_err(|e| annotate(&path, e))?;
        let decoder = snap::read::FrameDecoder::new(BufReader::with_capacity(buf_size, f));
        Ok(RunReader {
            path,
            input: BufReader::with_capacity(MIN_RUN_BUFFER, decoder),
            scratch: Vec::new(),
        })
    }

    fn next_item<T: SortRecord>(&mut self) -> io::Result<Option<T>> {
        self.read_item().map_err(|e| annotate(&self.path, e))
    }

    fn read_item<T: SortRecord>(&mut self) -> io::Result<Option<T>> {
        let Some(len) = self.read_len()? else {
            return Ok(None);
        };
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "record length overflows"))?;
        let avail = self.input.fill_buf()?;
        let item = if avail.len() >= len {
            // Fast path: decode straight from the read buffer.
            let item = decode_exact::<T>(&avail[..len])?;
            self.input.consume(len);
            item
        } else {
            self.scratch.resize(len, 0);
            self.input.read_exact(&mut self.scratch)?;
            decode_exact::<T>(&self.scratch)?
        };
        Ok(Some(item))
    }

    /// Reads the uvarint length prefix of the next record, or `None` at a
    /// clean end of the run.
    fn read_len(&mut self) -> io::Result<Option<u64>> {
        codec::read_uvarint(&mut self.input)
            .map_err(|e| io::Error::new(e.kind(), format!("reading a record length: {e}")))
    }
}

fn decode_exact<T: SortRecord>(mut bytes: &[u8]) -> io::Result<T> {
    let item = T::decode(&mut bytes)?;
    if !bytes.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("record decoded with {} bytes left over", bytes.len()),
        ));
    }
    Ok(item)
}

enum Source<T> {
    Run(RunReader),
    Memory(std::vec::IntoIter<T>),
}

impl<T: SortRecord> Source<T> {
    fn next_item(&mut self) -> io::Result<Option<T>> {
        match self {
            Source::Run(r) => r.next_item(),
            Source::Memory(it) => Ok(it.next()),
        }
    }
}

struct HeapEntry<T> {
    item: T,
    source: usize,
}

// BinaryHeap pops the greatest entry, so the order is reversed: the
// smallest record first, and among equal records the earliest source.
impl<T: Ord> Ord for HeapEntry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .item
            .cmp(&self.item)
            .then_with(|| other.source.cmp(&self.source))
    }
}

impl<T: Ord> PartialOrd for HeapEntry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: Ord> PartialEq for HeapEntry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<T: Ord> Eq for HeapEntry<T> {}

/// K-way merge of sorted sources, stable by source index.
struct Merger<T: SortRecord> {
    sources: Vec<Source<T>>,
    heap: BinaryHeap<HeapEntry<T>>,
}

impl<T: SortRecord> Merger<T> {
    fn new(mut sources: Vec<Source<T>>) -> io::Result<Self> {
        let mut heap = BinaryHeap::with_capacity(sources.len());
        for (i, s) in sources.iter_mut().enumerate() {
            if let Some(item) = s.next_item()? {
                heap.push(HeapEntry { item, source: i });
            }
        }
        Ok(Merger { sources, heap })
    }

    fn next_item(&mut self) -> io::Result<Option<T>> {
        let Some(mut top) = self.heap.peek_mut() else {
            return Ok(None);
        };
        // Replacing the top in place costs one sift instead of pop + push.
        match self.sources[top.source].next_item()? {
            Some(next) => Ok(Some(std::mem::replace(&mut top.item, next))),
            None => Ok(Some(PeekMut::pop(top).item)),
        }
    }
}

#[cfg(test)]
mod tests;
