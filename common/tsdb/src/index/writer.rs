//! The index writer: symbols, then series, then everything derived from them.
//!
//! Stages are explicit and checked: [`IndexWriter::add_symbol`] takes the
//! sorted, unique symbols; the first [`IndexWriter::add_series`] closes the
//! symbol table; [`IndexWriter::finish`] writes label indices, postings,
//! both offset tables and the TOC. Input that Prometheus would refuse or
//! that would make an unhealthy block (unsorted symbols, series not in
//! strictly increasing label order, unknown symbols, chunks out of time
//! order or overlapping, chunk references going backwards) is refused with
//! an [`IndexWriteError`] naming the symbol or the series.
//!
//! Memory does not grow with the number of series: series entries are
//! written as they come, symbol lookups go through the memory-mapped symbol
//! table, and postings are `(name, value, series)` triples sorted by the
//! external sort within the caller's memory budget (see `postings.rs`).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::encoding::{FileWriter, PatchedSection};
use super::postings::{PostingsBuilder, PostingsFiles};
use super::symbols::Symbols;
use super::{IndexFormatError, SeriesRef, Toc, FORMAT_V2, MAGIC_INDEX};
use crate::chunks::{ChunkMeta, ChunkRef};
use base::codec::{put_uvarint, put_varint};
use base::Labels;

/// Why the writer refused its input or could not write.
#[allow(
    missing_docs,
    reason = "each variant's #[error] message documents it and its fields"
)]
#[derive(Debug, thiserror::Error)]
pub enum IndexWriteError {
    #[error("index {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("symbol {symbol:?} added twice")]
    DuplicateSymbol { symbol: String },
    #[error("symbol {symbol:?} added after {previous:?}; symbols must be sorted")]
    SymbolOutOfOrder { symbol: String, previous: String },
    #[error("symbol {symbol:?} added after the first series; all symbols come first")]
    SymbolAfterSeries { symbol: String },
    #[error("series with an empty label set")]
    EmptyLabels,
    #[error("series {series} added twice")]
    DuplicateSeries { series: String },
    #[error(
        "series {series} added after {previous}; series must be in strictly increasing label order"
    )]
    SeriesOutOfOrder { series: String, previous: String },
    #[error("series {series}: symbol {symbol:?} was not added to the symbol table")]
    UnknownSymbol { series: String, symbol: String },
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
    #[error("series {series}: chunk {index} reference {chunk_ref:#x} is not after the previous reference {previous:#x}")]
    ChunkRefNotIncreasing {
        series: String,
        index: usize,
        chunk_ref: ChunkRef,
        previous: ChunkRef,
    },
    #[error("index {path}: over 64 GiB, series {series} cannot get a 4-byte reference")]
    TooLarge { path: PathBuf, series: String },
    #[error("index {path}: the writer stopped after an earlier error")]
    Aborted { path: PathBuf },
    #[error("index {path}: symbol table being re-read")]
    SymbolTable {
        path: PathBuf,
        #[source]
        source: IndexFormatError,
    },
}

/// What an index holds, returned by [`IndexWriter::finish`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexSummary {
    /// Entries in the symbol table.
    pub num_symbols: u32,
    /// Series written.
    pub num_series: u64,
    /// Chunk metas written across all series.
    pub num_chunks: u64,
    /// Size of the index file in bytes.
    pub size: u64,
}

struct SeriesStage {
    map: Mmap,
    symbols: Symbols,
    /// Per label name: its symbol and the last value looked up with it.
    /// Series come sorted, so most lookups hit the last value.
    cache: HashMap<String, NameCache>,
    last_series: Option<Labels>,
    last_chunk_ref: Option<ChunkRef>,
    postings: PostingsBuilder,
}

struct NameCache {
    name_ref: u32,
    last_value: String,
    last_value_ref: u32,
}

enum Stage {
    Symbols {
        section: PatchedSection,
        last: Option<String>,
    },
    Series(Box<SeriesStage>),
    /// Finished, or stopped by an error while changing stage.
    Done,
}

/// Writes one index file. See the module documentation for the stages.
pub struct IndexWriter {
    path: PathBuf,
    f: FileWriter,
    toc: Toc,
    stage: Stage,
    num_symbols: u32,
    num_series: u64,
    num_chunks: u64,
    memory_budget: usize,
    entry: Vec<u8>,
    finished: bool,
    /// Whether `finish` fsyncs the file ([`IndexWriter::set_durable`]).
    durable: bool,
}

impl IndexWriter {
    /// Creates the index file at `path`. Temporary files (postings and the
    /// external sort's runs) go next to it and are removed by `finish` or
    /// on drop. `memory_budget` bounds the postings kept in memory.
    pub fn create(path: &Path, memory_budget: usize) -> Result<Self, IndexWriteError> {
        let io_err = |source| IndexWriteError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut f = FileWriter::create(path).map_err(io_err)?;
        let mut header = MAGIC_INDEX.to_be_bytes().to_vec();
        header.push(FORMAT_V2);
        f.write(&header).map_err(io_err)?;
        let toc = Toc {
            symbols: f.pos(),
            ..Toc::default()
        };
        let section = PatchedSection::begin(&f, 4);
        Ok(IndexWriter {
            path: path.to_path_buf(),
            f,
            toc,
            stage: Stage::Symbols {
                section,
                last: None,
            },
            num_symbols: 0,
            num_series: 0,
            num_chunks: 0,
            memory_budget,
            entry: Vec::with_capacity(256),
            finished: false,
            durable: true,
        })
    }

    fn io(&self, source: io::Error) -> IndexWriteError {
        IndexWriteError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Adds the next symbol. Symbols must be strictly increasing (bytewise)
    /// and all come before the first series.
    pub fn add_symbol(&mut self, sym: &str) -> Result<(), IndexWriteError> {
        let Stage::Symbols { section, last } = &mut self.stage else {
            return Err(IndexWriteError::SymbolAfterSeries {
                symbol: sym.to_string(),
            });
        };
        if let Some(prev) = last.as_deref() {
            match sym.as_bytes().cmp(prev.as_bytes()) {
                std::cmp::Ordering::Greater => {}
                std::cmp::Ordering::Equal => {
                    return Err(IndexWriteError::DuplicateSymbol {
                        symbol: sym.to_string(),
                    })
                }
                std::cmp::Ordering::Less => {
                    return Err(IndexWriteError::SymbolOutOfOrder {
                        symbol: sym.to_string(),
                        previous: prev.to_string(),
                    })
                }
            }
        }
        self.entry.clear();
        put_uvarint(&mut self.entry, sym.len() as u64);
        self.entry.extend_from_slice(sym.as_bytes());
        section
            .push(&mut self.f, &self.entry)
            .map_err(|source| IndexWriteError::Io {
                path: self.path.clone(),
                source,
            })?;
        match last {
            Some(l) => {
                l.clear();
                l.push_str(sym);
            }
            None => *last = Some(sym.to_string()),
        }
        self.num_symbols += 1;
        Ok(())
    }

    /// Closes the symbol table and maps it for lookups.
    fn start_series(&mut self) -> Result<(), IndexWriteError> {
        let section = match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Symbols { section, .. } => section,
            other => {
                self.stage = other;
                return Ok(());
            }
        };
        section
            .end(&mut self.f, &self.num_symbols.to_be_bytes())
            .map_err(|e| self.io(e))?;
        self.f.flush().map_err(|e| self.io(e))?;
        let file = File::open(&self.path).map_err(|e| self.io(e))?;
        // SAFETY: the mapped range (header and symbol table) is never
        // written again by this writer, and the file is ours until finish.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| self.io(e))?;
        let symbols = Symbols::parse(&map, self.toc.symbols).map_err(|source| {
            IndexWriteError::SymbolTable {
                path: self.path.clone(),
                source,
            }
        })?;
        self.toc.series = self.f.pos();
        let files = PostingsFiles::new(&self.path);
        let postings = PostingsBuilder::new(files, self.memory_budget).map_err(|e| self.io(e))?;
        self.stage = Stage::Series(Box::new(SeriesStage {
            map,
            symbols,
            cache: HashMap::new(),
            last_series: None,
            last_chunk_ref: None,
            postings,
        }));
        Ok(())
    }

    /// Adds the next series with its chunks and returns its reference.
    /// `chunks` must be in time order, not overlapping, with increasing
    /// references (that is, written in this order to the segment files).
    pub fn add_series(
        &mut self,
        labels: &Labels,
        chunks: &[ChunkMeta],
    ) -> Result<SeriesRef, IndexWriteError> {
        self.start_series()?;
        let Stage::Series(st) = &mut self.stage else {
            return Err(IndexWriteError::Aborted {
                path: self.path.clone(),
            });
        };
        if labels.is_empty() {
            return Err(IndexWriteError::EmptyLabels);
        }
        if let Some(prev) = &st.last_series {
            match labels.cmp(prev) {
                std::cmp::Ordering::Greater => {}
                std::cmp::Ordering::Equal => {
                    return Err(IndexWriteError::DuplicateSeries {
                        series: labels.to_string(),
                    })
                }
                std::cmp::Ordering::Less => {
                    return Err(IndexWriteError::SeriesOutOfOrder {
                        series: labels.to_string(),
                        previous: prev.to_string(),
                    })
                }
            }
        }
        check_chunks(labels, chunks, st.last_chunk_ref)?;

        let e = &mut self.entry;
        e.clear();
        put_uvarint(e, labels.len() as u64);
        let mut refs = Vec::with_capacity(labels.len());
        for l in labels.iter() {
            let (n, v) = lookup_pair(st, &self.path, labels, &l.name, &l.value)?;
            put_uvarint(e, u64::from(n));
            put_uvarint(e, u64::from(v));
            refs.push((n, v));
        }
        encode_chunks(e, chunks);

        self.f.pad(16).map_err(|source| IndexWriteError::Io {
            path: self.path.clone(),
            source,
        })?;
        let series_ref =
            u32::try_from(self.f.pos() / 16).map_err(|_| IndexWriteError::TooLarge {
                path: self.path.clone(),
                series: labels.to_string(),
            })?;
        let mut head = Vec::with_capacity(10);
        put_uvarint(&mut head, e.len() as u64);
        let crc = crc32c::crc32c(e);
        let io_err = |source| IndexWriteError::Io {
            path: self.path.clone(),
            source,
        };
        self.f.write(&head).map_err(io_err)?;
        self.f.write(e).map_err(io_err)?;
        self.f.write(&crc.to_be_bytes()).map_err(io_err)?;

        st.postings.add_series(series_ref, &refs).map_err(io_err)?;
        if let Some(c) = chunks.last() {
            st.last_chunk_ref = Some(c.chunk_ref);
        }
        st.last_series = Some(labels.clone());
        self.num_series += 1;
        self.num_chunks += chunks.len() as u64;
        Ok(series_ref)
    }

    /// Whether `finish` fsyncs the index (the default). A scratch block
    /// that is uploaded and never reused after a crash needs no fsync.
    pub fn set_durable(&mut self, durable: bool) {
        self.durable = durable;
    }

    /// Writes label indices, postings, the offset tables and the TOC, then
    /// flushes (fsyncs, if durable) the file and removes the temporary files.
    pub fn finish(mut self) -> Result<IndexSummary, IndexWriteError> {
        self.start_series()?;
        let Stage::Series(st) = std::mem::replace(&mut self.stage, Stage::Done) else {
            return Err(IndexWriteError::Aborted {
                path: self.path.clone(),
            });
        };
        let st = *st;
        self.toc.label_indices = self.f.pos();
        st.postings
            .finish(&mut self.f, &mut self.toc, &st.symbols, &st.map)
            .map_err(|source| IndexWriteError::Io {
                path: self.path.clone(),
                source,
            })?;
        let toc = self.toc.encode();
        self.f.write(&toc).map_err(|e| self.io(e))?;
        if self.durable {
            self.f.sync().map_err(|e| self.io(e))?;
        } else {
            self.f.flush().map_err(|e| self.io(e))?;
        }
        self.finished = true;
        Ok(IndexSummary {
            num_symbols: self.num_symbols,
            num_series: self.num_series,
            num_chunks: self.num_chunks,
            size: self.f.pos(),
        })
    }
}

impl Drop for IndexWriter {
    fn drop(&mut self) {
        if !self.finished {
            // An abandoned index is garbage; its temporary files are removed
            // by the postings builder's own drop.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Symbol references of one label pair, through the per-name cache.
fn lookup_pair(
    st: &mut SeriesStage,
    path: &Path,
    series: &Labels,
    name: &str,
    value: &str,
) -> Result<(u32, u32), IndexWriteError> {
    let lookup = |st: &SeriesStage, sym: &str| -> Result<u32, IndexWriteError> {
        match st.symbols.reverse_lookup(&st.map, sym) {
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err(IndexWriteError::UnknownSymbol {
                series: series.to_string(),
                symbol: sym.to_string(),
            }),
            Err(source) => Err(IndexWriteError::SymbolTable {
                path: path.to_path_buf(),
                source,
            }),
        }
    };
    if let Some(c) = st.cache.get(name) {
        if c.last_value == value {
            return Ok((c.name_ref, c.last_value_ref));
        }
    }
    let name_ref = match st.cache.get(name) {
        Some(c) => c.name_ref,
        None => lookup(st, name)?,
    };
    let value_ref = lookup(st, value)?;
    st.cache.insert(
        name.to_string(),
        NameCache {
            name_ref,
            last_value: value.to_string(),
            last_value_ref: value_ref,
        },
    );
    Ok((name_ref, value_ref))
}

/// Refuses chunks a healthy block cannot hold.
fn check_chunks(
    labels: &Labels,
    chunks: &[ChunkMeta],
    last_ref: Option<ChunkRef>,
) -> Result<(), IndexWriteError> {
    let mut prev: Option<&ChunkMeta> = None;
    for (i, c) in chunks.iter().enumerate() {
        if c.min_time > c.max_time {
            return Err(IndexWriteError::ChunkMinAfterMax {
                series: labels.to_string(),
                index: i,
                min_time: c.min_time,
                max_time: c.max_time,
            });
        }
        let previous_ref = prev.map(|p| p.chunk_ref).or(last_ref);
        if let Some(p) = previous_ref {
            if c.chunk_ref <= p {
                return Err(IndexWriteError::ChunkRefNotIncreasing {
                    series: labels.to_string(),
                    index: i,
                    chunk_ref: c.chunk_ref,
                    previous: p,
                });
            }
        }
        if let Some(p) = prev {
            if c.min_time <= p.max_time {
                return Err(IndexWriteError::ChunksOutOfOrder {
                    series: labels.to_string(),
                    index: i,
                    min_time: c.min_time,
                    previous_max_time: p.max_time,
                });
            }
        }
        prev = Some(c);
    }
    Ok(())
}

/// Chunk metas as Prometheus encodes them: the first absolutely, the
/// following as deltas to the previous chunk (checked to be increasing).
fn encode_chunks(e: &mut Vec<u8>, chunks: &[ChunkMeta]) {
    put_uvarint(e, chunks.len() as u64);
    let Some(first) = chunks.first() else {
        return;
    };
    put_varint(e, first.min_time);
    put_uvarint(e, first.max_time.wrapping_sub(first.min_time) as u64);
    put_uvarint(e, first.chunk_ref);
    let mut t0 = first.max_time;
    let mut ref0 = first.chunk_ref as i64;
    for c in &chunks[1..] {
        put_uvarint(e, c.min_time.wrapping_sub(t0) as u64);
        put_uvarint(e, c.max_time.wrapping_sub(c.min_time) as u64);
        put_varint(e, (c.chunk_ref as i64).wrapping_sub(ref0));
        t0 = c.max_time;
        ref0 = c.chunk_ref as i64;
    }
}
