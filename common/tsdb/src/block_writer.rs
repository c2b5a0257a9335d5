//! Streaming writer of one Prometheus block directory.
//!
//! Series arrive already sorted, each with its encoded chunks. Chunk data
//! goes to the segment files at once; the label set and chunk metas are
//! appended to a temporary file, and every label name and value is fed to
//! an external sort of symbols. [`BlockWriter::finish`] then writes the
//! symbol table from the merged symbols, re-reads the temporary file to
//! write the series (the index writer sorts postings externally), writes
//! `meta.json` last, fsyncs and renames `<ulid>.tmp` to `<ulid>`. Memory
//! does not grow with the number of series; what exceeds the memory budget
//! spills to files inside the block's temporary directory.
//!
//! Everything a compactor's health check would reject (series out of order,
//! empty label sets, series without chunks, empty chunks, chunks outside
//! the block or overlapping) is refused up front with an error naming the
//! series. This module does not decide what goes into a block (merging,
//! deduplication, day boundaries): its callers do.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use ulid::Ulid;

use super::chunks::{ChunkMeta, SegmentFile, SegmentWriter};
use super::index::{IndexWriteError, IndexWriter};
use super::meta::{
    BlockMeta, BlockStats, Compaction, MetaError, ThanosFile, ThanosMeta, META_FILENAME,
    META_VERSION_1,
};
use super::xor::{EncodedChunk, ENCODING_XOR};
use base::codec::{get_str, get_uvarint, get_varint, put_str, put_uvarint, put_varint};
use base::{Label, Labels};
use sort::{ExternalSorter, SortRecord};

/// Name of the index file in a block.
pub const INDEX_FILENAME: &str = "index";
/// Directory of the chunk segment files in a block.
pub const CHUNKS_DIRNAME: &str = "chunks";
const SERIES_TMP: &str = "series.tmp";

/// How to write one block.
#[derive(Clone, Debug)]
pub struct BlockWriterOptions {
    /// Inclusive start of the block (ms).
    pub min_time: i64,
    /// Exclusive end of the block (ms).
    pub max_time: i64,
    /// The block's id and the name of its directory.
    pub ulid: Ulid,
    /// Bytes of symbols and postings kept in memory before spilling.
    pub memory_budget: usize,
    /// Maximum size of a chunk segment file.
    pub segment_size: u64,
    /// Fsync every file and directory before the final rename, so the block
    /// survives a crash of the machine. A builder's scratch block is
    /// uploaded and, after a crash, swept rather than reused: it passes
    /// false and saves the fsyncs (a third of a small plan's wall time).
    pub durable: bool,
}

/// Why a block could not be written; input errors name the series.
#[allow(
    missing_docs,
    reason = "each variant's #[error] message documents it and its fields"
)]
#[derive(Debug, thiserror::Error)]
pub enum BlockWriteError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Index(#[from] IndexWriteError),
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error("block {path} already exists")]
    AlreadyExists { path: PathBuf },
    #[error("block time range [{min_time}, {max_time}) is empty")]
    InvalidRange { min_time: i64, max_time: i64 },
    #[error("series with an empty label set")]
    EmptyLabels,
    #[error("series {series} added twice")]
    DuplicateSeries { series: String },
    #[error(
        "series {series} added after {previous}; series must be in strictly increasing label order"
    )]
    SeriesOutOfOrder { series: String, previous: String },
    #[error("series {series} has no chunks")]
    NoChunks { series: String },
    #[error("series {series}: chunk {index} holds no samples")]
    EmptyChunk { series: String, index: usize },
    #[error("series {series}: chunk {index} [{min_time}, {max_time}] is not inside the block [{block_min}, {block_max})")]
    ChunkOutsideBlock {
        series: String,
        index: usize,
        min_time: i64,
        max_time: i64,
        block_min: i64,
        block_max: i64,
    },
    #[error("series {series}: chunk {index} has minTime {min_time} after maxTime {max_time}")]
    ChunkMinAfterMax {
        series: String,
        index: usize,
        min_time: i64,
        max_time: i64,
    },
    #[error("series {series}: chunk {index} starts at {min_time}, not after the previous chunk's maxTime {previous_max_time} (chunks out of order or overlapping)")]
    ChunksOutOfOrder {
        series: String,
        index: usize,
        min_time: i64,
        previous_max_time: i64,
    },
    #[error("block {path}: no series were added")]
    NoSeries { path: PathBuf },
    #[error("series temporary file {path} is corrupt: {detail}")]
    CorruptTemp { path: PathBuf, detail: String },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> BlockWriteError + '_ {
    move |source| BlockWriteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A symbol on its way through the external sort.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Symbol(String);

impl SortRecord for Symbol {
    fn encode(&self, out: &mut Vec<u8>) {
        put_str(out, &self.0);
    }
    fn decode(buf: &mut &[u8]) -> io::Result<Self> {
        get_str(buf).map(|s| Symbol(s.to_string()))
    }
    fn mem_size(&self) -> usize {
        std::mem::size_of::<Self>() + self.0.capacity()
    }
}

/// Feeds symbols to the external sort, skipping the ones seen recently:
/// label names and common values repeat in almost every series, and
/// sorting them once per series would spill far more than needed.
struct SymbolCollector {
    sorter: ExternalSorter<Symbol>,
    recent: HashSet<String>,
    recent_bytes: usize,
    recent_budget: usize,
}

impl SymbolCollector {
    fn add(&mut self, s: &str) -> io::Result<()> {
        if self.recent.contains(s) {
            return Ok(());
        }
        if self.recent_bytes + s.len() + 48 > self.recent_budget {
            self.recent.clear();
            self.recent_bytes = 0;
        }
        self.recent_bytes += s.len() + 48;
        self.recent.insert(s.to_string());
        self.sorter.push(Symbol(s.to_string()))
    }
}

/// Writes one block; see the module documentation.
pub struct BlockWriter {
    opts: BlockWriterOptions,
    tmp_dir: PathBuf,
    final_dir: PathBuf,
    segments: Option<SegmentWriter>,
    series_path: PathBuf,
    series_out: BufWriter<File>,
    /// Taken by `finish`.
    symbols: Option<SymbolCollector>,
    last_series: Option<Labels>,
    stats: BlockStats,
    record: Vec<u8>,
    metas: Vec<ChunkMeta>,
    finished: bool,
}

impl BlockWriter {
    /// Writes into `<parent>/<ulid>.tmp/`, renamed to `<parent>/<ulid>/` by
    /// finish. A leftover `<ulid>.tmp` from an earlier attempt is replaced.
    pub fn create(parent: &Path, opts: BlockWriterOptions) -> Result<Self, BlockWriteError> {
        if opts.min_time >= opts.max_time {
            return Err(BlockWriteError::InvalidRange {
                min_time: opts.min_time,
                max_time: opts.max_time,
            });
        }
        let name = opts.ulid.to_string();
        let final_dir = parent.join(&name);
        if final_dir.exists() {
            return Err(BlockWriteError::AlreadyExists { path: final_dir });
        }
        let tmp_dir = parent.join(format!("{name}.tmp"));
        if tmp_dir.exists() {
            fs::remove_dir_all(&tmp_dir).map_err(io_at(&tmp_dir))?;
        }
        fs::create_dir_all(&tmp_dir).map_err(io_at(&tmp_dir))?;
        let chunks_dir = tmp_dir.join(CHUNKS_DIRNAME);
        let segments = SegmentWriter::create(&chunks_dir, opts.segment_size, opts.durable)
            .map_err(io_at(&chunks_dir))?;
        let series_path = tmp_dir.join(SERIES_TMP);
        let series_out = BufWriter::with_capacity(
            1 << 20,
            File::create(&series_path).map_err(io_at(&series_path))?,
        );
        let budget = opts.memory_budget.max(1 << 10);
        let sorter = ExternalSorter::new(&tmp_dir, budget / 2).map_err(io_at(&tmp_dir))?;
        Ok(BlockWriter {
            opts,
            tmp_dir,
            final_dir,
            segments: Some(segments),
            series_path,
            series_out,
            symbols: Some(SymbolCollector {
                sorter,
                recent: HashSet::new(),
                recent_bytes: 0,
                recent_budget: budget / 2,
            }),
            last_series: None,
            stats: BlockStats::default(),
            record: Vec::with_capacity(512),
            metas: Vec::new(),
            finished: false,
        })
    }

    /// Series must come in strictly increasing label order; chunks in time
    /// order, not overlapping, inside [min_time, max_time). Chunk data goes
    /// to the segment files at once.
    pub fn add_series(
        &mut self,
        labels: &Labels,
        chunks: &[EncodedChunk],
    ) -> Result<(), BlockWriteError> {
        self.check_series(labels, chunks)?;
        let (Some(segments), Some(symbols)) = (self.segments.as_mut(), self.symbols.as_mut())
        else {
            return Err(BlockWriteError::NoSeries {
                path: self.tmp_dir.clone(),
            });
        };
        let chunks_dir = self.tmp_dir.join(CHUNKS_DIRNAME);
        self.metas.clear();
        for c in chunks {
            let chunk_ref = segments
                .write_chunk(ENCODING_XOR, &c.data)
                .map_err(io_at(&chunks_dir))?;
            self.metas.push(ChunkMeta {
                min_time: c.min_time,
                max_time: c.max_time,
                chunk_ref,
            });
            self.stats.num_samples += u64::from(c.num_samples);
        }
        self.stats.num_chunks += chunks.len() as u64;
        self.stats.num_series += 1;

        let r = &mut self.record;
        r.clear();
        put_uvarint(r, labels.len() as u64);
        for l in labels.iter() {
            put_str(r, &l.name);
            put_str(r, &l.value);
        }
        put_uvarint(r, self.metas.len() as u64);
        for m in &self.metas {
            put_varint(r, m.min_time);
            put_varint(r, m.max_time);
            put_uvarint(r, m.chunk_ref);
        }
        let len = u32::try_from(r.len()).map_err(|_| BlockWriteError::CorruptTemp {
            path: self.series_path.clone(),
            detail: format!("series {labels} does not fit a 4 GiB record"),
        })?;
        self.series_out
            .write_all(&len.to_le_bytes())
            .and_then(|_| self.series_out.write_all(r))
            .map_err(io_at(&self.series_path))?;
        for l in labels.iter() {
            symbols.add(&l.name).map_err(io_at(&self.tmp_dir))?;
            symbols.add(&l.value).map_err(io_at(&self.tmp_dir))?;
        }
        self.last_series = Some(labels.clone());
        Ok(())
    }

    fn check_series(
        &self,
        labels: &Labels,
        chunks: &[EncodedChunk],
    ) -> Result<(), BlockWriteError> {
        if labels.is_empty() {
            return Err(BlockWriteError::EmptyLabels);
        }
        let series = || labels.to_string();
        if let Some(prev) = &self.last_series {
            match labels.cmp(prev) {
                std::cmp::Ordering::Greater => {}
                std::cmp::Ordering::Equal => {
                    return Err(BlockWriteError::DuplicateSeries { series: series() })
                }
                std::cmp::Ordering::Less => {
                    return Err(BlockWriteError::SeriesOutOfOrder {
                        series: series(),
                        previous: prev.to_string(),
                    })
                }
            }
        }
        if chunks.is_empty() {
            return Err(BlockWriteError::NoChunks { series: series() });
        }
        let (block_min, block_max) = (self.opts.min_time, self.opts.max_time);
        let mut prev_max: Option<i64> = None;
        for (index, c) in chunks.iter().enumerate() {
            if c.num_samples == 0 || c.data.is_empty() {
                return Err(BlockWriteError::EmptyChunk {
                    series: series(),
                    index,
                });
            }
            if c.min_time > c.max_time {
                return Err(BlockWriteError::ChunkMinAfterMax {
                    series: series(),
                    index,
                    min_time: c.min_time,
                    max_time: c.max_time,
                });
            }
            if c.min_time < block_min || c.max_time >= block_max {
                return Err(BlockWriteError::ChunkOutsideBlock {
                    series: series(),
                    index,
                    min_time: c.min_time,
                    max_time: c.max_time,
                    block_min,
                    block_max,
                });
            }
            if let Some(p) = prev_max {
                if c.min_time <= p {
                    return Err(BlockWriteError::ChunksOutOfOrder {
                        series: series(),
                        index,
                        min_time: c.min_time,
                        previous_max_time: p,
                    });
                }
            }
            prev_max = Some(c.max_time);
        }
        Ok(())
    }

    /// Statistics of what was added so far.
    pub fn stats(&self) -> BlockStats {
        self.stats
    }

    /// Writes index and meta.json (last), then renames the directory into
    /// place. `thanos` is put in meta.json as given, with `segment_files`
    /// and `files` filled in here. Returns the block directory and its meta.
    pub fn finish(
        mut self,
        thanos: Option<ThanosMeta>,
    ) -> Result<(PathBuf, BlockMeta), BlockWriteError> {
        if self.stats.num_series == 0 {
            return Err(BlockWriteError::NoSeries {
                path: self.tmp_dir.clone(),
            });
        }
        let segments = match self.segments.take() {
            Some(s) => s
                .finish()
                .map_err(io_at(&self.tmp_dir.join(CHUNKS_DIRNAME)))?,
            None => Vec::new(),
        };
        self.series_out.flush().map_err(io_at(&self.series_path))?;

        let index_path = self.tmp_dir.join(INDEX_FILENAME);
        let budget = self.opts.memory_budget.max(1 << 10);
        let mut index = IndexWriter::create(&index_path, budget)?;
        index.set_durable(self.opts.durable);
        let Some(symbols) = self.symbols.take() else {
            return Err(BlockWriteError::NoSeries {
                path: self.tmp_dir.clone(),
            });
        };
        let mut last: Option<String> = None;
        for s in symbols.sorter.finish().map_err(io_at(&self.tmp_dir))? {
            let Symbol(s) = s.map_err(io_at(&self.tmp_dir))?;
            if last.as_deref() != Some(s.as_str()) {
                index.add_symbol(&s)?;
                last = Some(s);
            }
        }
        self.write_index_series(&mut index)?;
        let summary = index.finish()?;
        fs::remove_file(&self.series_path).map_err(io_at(&self.series_path))?;

        let meta = BlockMeta {
            ulid: self.opts.ulid,
            min_time: self.opts.min_time,
            max_time: self.opts.max_time,
            stats: self.stats,
            compaction: Compaction {
                level: 1,
                sources: vec![self.opts.ulid],
            },
            version: META_VERSION_1,
            thanos: thanos.map(|t| with_files(t, &segments, summary.size)),
        };
        meta.write_to_dir_with(&self.tmp_dir, self.opts.durable)?;
        if self.opts.durable {
            sync_dir(&self.tmp_dir.join(CHUNKS_DIRNAME))?;
            sync_dir(&self.tmp_dir)?;
        }
        fs::rename(&self.tmp_dir, &self.final_dir).map_err(io_at(&self.final_dir))?;
        if let Some(parent) = self.final_dir.parent().filter(|_| self.opts.durable) {
            sync_dir(parent)?;
        }
        self.finished = true;
        Ok((self.final_dir.clone(), meta))
    }

    /// Re-reads the series temporary file into the index.
    fn write_index_series(&self, index: &mut IndexWriter) -> Result<(), BlockWriteError> {
        let path = &self.series_path;
        let corrupt = |detail: String| BlockWriteError::CorruptTemp {
            path: path.clone(),
            detail,
        };
        let mut input = BufReader::with_capacity(1 << 20, File::open(path).map_err(io_at(path))?);
        let mut buf = Vec::new();
        let mut chunks = Vec::new();
        for _ in 0..self.stats.num_series {
            let mut len = [0u8; 4];
            input.read_exact(&mut len).map_err(io_at(path))?;
            buf.resize(u32::from_le_bytes(len) as usize, 0);
            input.read_exact(&mut buf).map_err(io_at(path))?;
            let mut b = &buf[..];
            let decoded = (|| -> io::Result<Labels> {
                let n = get_uvarint(&mut b)?;
                let mut labels = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let name = get_str(&mut b)?.to_string();
                    let value = get_str(&mut b)?.to_string();
                    labels.push(Label { name, value });
                }
                chunks.clear();
                for _ in 0..get_uvarint(&mut b)? {
                    chunks.push(ChunkMeta {
                        min_time: get_varint(&mut b)?,
                        max_time: get_varint(&mut b)?,
                        chunk_ref: get_uvarint(&mut b)?,
                    });
                }
                Ok(Labels::from_sorted(labels))
            })();
            let labels = decoded.map_err(|e| corrupt(e.to_string()))?;
            index.add_series(&labels, &chunks)?;
        }
        Ok(())
    }
}

impl Drop for BlockWriter {
    fn drop(&mut self) {
        if !self.finished {
            // An unfinished block is never valid; leave nothing behind.
            let _ = fs::remove_dir_all(&self.tmp_dir);
        }
    }
}

/// `segment_files` and the sorted `files` list of a finished block.
fn with_files(mut t: ThanosMeta, segments: &[SegmentFile], index_size: u64) -> ThanosMeta {
    t.segment_files = segments.iter().map(|s| s.name.clone()).collect();
    let mut files: Vec<ThanosFile> = segments
        .iter()
        .map(|s| ThanosFile {
            rel_path: format!("{CHUNKS_DIRNAME}/{}", s.name),
            size_bytes: Some(s.size),
        })
        .collect();
    files.push(ThanosFile {
        rel_path: INDEX_FILENAME.to_string(),
        size_bytes: Some(index_size),
    });
    files.push(ThanosFile {
        rel_path: META_FILENAME.to_string(),
        size_bytes: None,
    });
    files.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    t.files = files;
    t
}

fn sync_dir(dir: &Path) -> Result<(), BlockWriteError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_at(dir))
}
