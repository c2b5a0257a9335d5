//! Reading a block directory (ours or Prometheus'): meta.json, the index
//! and the chunk segments, down to samples, with the block's tombstones
//! applied.
//!
//! Series come in index order with their chunk metas; samples are decoded
//! on request, so a caller walking a large block holds one series at a
//! time. Every checksum on the way is checked (index sections, chunk CRCs,
//! tombstones). Health rules are not applied here; see `health`.
//!
//! Tombstones are applied as Prometheus' querier applies them, so that
//! every reader of a source block (builder and verify alike) sees what
//! Prometheus would answer: a chunk inside one deleted interval is left
//! out, a sample inside any deleted interval (ends inclusive) is dropped,
//! and a series with no sample left is absent. At open, the chunks of
//! every series with tombstones are looked up once, so [`BlockReader::chunk_samples`]
//! can filter by chunk reference (unique within a block) without callers
//! passing the series along.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::block_writer::{CHUNKS_DIRNAME, INDEX_FILENAME};
use super::chunks::{segment_file_name, ChunkMeta, ChunkReadError, ChunkReader};
use super::index::{IndexReadError, IndexReader, RawSeries, SeriesRef};
use super::meta::{BlockMeta, MetaError};
use super::tombstones::{covers, is_deleted, DeletedInterval, TombstoneError, Tombstones};
use super::xor::{ChunkError, XorIterator, ENCODING_XOR};
use base::Labels;

/// Why a block, or part of it, could not be read.
#[allow(
    missing_docs,
    reason = "each variant's #[error] message documents it and its fields"
)]
#[derive(Debug, thiserror::Error)]
pub enum BlockReadError {
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error(transparent)]
    Index(#[from] IndexReadError),
    #[error(transparent)]
    Chunks(#[from] ChunkReadError),
    #[error(transparent)]
    Tombstones(#[from] TombstoneError),
    #[error("block {dir}: tombstone for series {series_ref}, which the index does not hold")]
    UnknownTombstoneSeries {
        dir: PathBuf,
        series_ref: u64,
        #[source]
        source: Option<IndexReadError>,
    },
    #[error("block {dir}: chunk {chunk_ref:#x} has encoding {encoding}, only XOR ({ENCODING_XOR}) is supported")]
    UnsupportedEncoding {
        dir: PathBuf,
        chunk_ref: u64,
        encoding: u8,
    },
    #[error("block {dir}: chunk {chunk_ref:#x} does not decode")]
    BadChunk {
        dir: PathBuf,
        chunk_ref: u64,
        #[source]
        source: ChunkError,
    },
}

/// An open block.
pub struct BlockReader {
    dir: PathBuf,
    meta: BlockMeta,
    index: IndexReader,
    chunks: ChunkReader,
    tombstones: Tombstones,
    /// Chunk reference to the deleted intervals of the series owning it,
    /// for the chunks of series with tombstones.
    deleted_in_chunk: HashMap<u64, Vec<DeletedInterval>>,
    /// Chunk bytes read since the mapped pages were last released.
    read_since_release: AtomicU64,
}

/// How much chunk data a reader touches before it drops the mapped pages,
/// so that reading a block costs this much resident memory, not its size.
const RELEASE_PAGES_EVERY: u64 = 32 << 20;

impl BlockReader {
    /// Opens the block directory `dir`: reads meta.json and the tombstones,
    /// maps the index and the chunk segments.
    pub fn open(dir: &Path) -> Result<Self, BlockReadError> {
        let meta = BlockMeta::read(dir)?;
        let index = IndexReader::open(&dir.join(INDEX_FILENAME))?;
        let chunks = ChunkReader::open(&dir.join(CHUNKS_DIRNAME))?;
        let tombstones = Tombstones::read(dir)?;
        BlockReader {
            dir: dir.to_path_buf(),
            meta,
            index,
            chunks,
            tombstones: Tombstones::default(),
            deleted_in_chunk: HashMap::new(),
            read_since_release: AtomicU64::new(0),
        }
        .with_tombstones(tombstones)
    }

    /// A block already in memory: meta.json, index and segment files (in
    /// order), named as if they were in `dir`, without tombstones (see
    /// [`BlockReader::with_tombstones`]). For fuzzing and tests; reads
    /// exactly as [`BlockReader::open`] does after loading the files.
    pub fn from_bytes(
        dir: &Path,
        meta_json: &[u8],
        index: Vec<u8>,
        segments: Vec<Vec<u8>>,
    ) -> Result<Self, BlockReadError> {
        let meta = BlockMeta::from_json(meta_json)?;
        let index = IndexReader::from_bytes(&dir.join(INDEX_FILENAME), index)?;
        let chunks_dir = dir.join(CHUNKS_DIRNAME);
        let segments = (0u32..)
            .zip(segments)
            .map(|(seq, b)| (chunks_dir.join(segment_file_name(seq)), b))
            .collect();
        let chunks = ChunkReader::from_segments(segments)?;
        Ok(BlockReader {
            dir: dir.to_path_buf(),
            meta,
            index,
            chunks,
            tombstones: Tombstones::default(),
            deleted_in_chunk: HashMap::new(),
            read_since_release: AtomicU64::new(0),
        })
    }

    /// Applies `tombstones` (replacing any applied before): looks up the
    /// chunks of every series they name, which must be in the index.
    pub fn with_tombstones(mut self, tombstones: Tombstones) -> Result<Self, BlockReadError> {
        let mut deleted_in_chunk = HashMap::new();
        for (series_ref, deleted) in tombstones.iter() {
            let unknown = |source| BlockReadError::UnknownTombstoneSeries {
                dir: self.dir.clone(),
                series_ref,
                source,
            };
            // Index references are 32 bits wide in both index versions.
            let r = SeriesRef::try_from(series_ref).map_err(|_| unknown(None))?;
            let series = self.index.series(r).map_err(|e| unknown(Some(e)))?;
            for c in &series.chunks {
                deleted_in_chunk.insert(c.chunk_ref, deleted.to_vec());
            }
        }
        self.tombstones = tombstones;
        self.deleted_in_chunk = deleted_in_chunk;
        Ok(self)
    }

    /// The block directory (as given, or as named by `from_bytes`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The block's meta.json.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// The block's index, for symbol, postings and series lookups.
    pub fn index(&self) -> &IndexReader {
        &self.index
    }

    /// The block's tombstones (empty when it has none).
    pub fn tombstones(&self) -> &Tombstones {
        &self.tombstones
    }

    /// Every series in index order with its chunk metas, tombstones
    /// applied: chunks inside one deleted interval are left out, and so are
    /// series without a sample left.
    pub fn series(
        &self,
    ) -> impl Iterator<Item = Result<(Labels, Vec<ChunkMeta>), BlockReadError>> + '_ {
        self.index.raw_series().filter_map(move |r| match r {
            Ok(raw) => self.without_deleted(raw).transpose(),
            Err(e) => Some(Err(e.into())),
        })
    }

    /// A series with its tombstones applied; `None` when nothing is left.
    fn without_deleted(
        &self,
        raw: RawSeries,
    ) -> Result<Option<(Labels, Vec<ChunkMeta>)>, BlockReadError> {
        let deleted = self.tombstones.get(u64::from(raw.series_ref));
        let path = self.index.path().to_path_buf();
        let (labels, mut chunks) = raw
            .into_labels()
            .map_err(|source| IndexReadError::Format { path, source })?;
        if deleted.is_empty() {
            return Ok(Some((labels, chunks)));
        }
        chunks.retain(|c| !covers(deleted, c.min_time, c.max_time));
        for c in &chunks {
            if !self.chunk_samples(c)?.is_empty() {
                return Ok(Some((labels, chunks)));
            }
        }
        Ok(None)
    }

    /// The raw bytes of a chunk after checking its CRC and encoding. The
    /// block's tombstones are not applied to these bytes: read samples with
    /// [`BlockReader::chunk_samples`].
    pub fn chunk_bytes(&self, c: &ChunkMeta) -> Result<&[u8], BlockReadError> {
        let (encoding, data) = self.chunks.chunk(c.chunk_ref)?;
        let read = self
            .read_since_release
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        if read > RELEASE_PAGES_EVERY {
            self.read_since_release.store(0, Ordering::Relaxed);
            self.chunks.release_pages();
        }
        if encoding != ENCODING_XOR {
            return Err(BlockReadError::UnsupportedEncoding {
                dir: self.dir.clone(),
                chunk_ref: c.chunk_ref,
                encoding,
            });
        }
        Ok(data)
    }

    /// Hands every sample of a chunk to `f`, in stored order, without those
    /// the block's tombstones delete: [`BlockReader::chunk_samples`]
    /// without collecting them. A chunk that stops decoding part way
    /// returns the error after `f` saw the samples before it.
    pub fn for_each_chunk_sample(
        &self,
        c: &ChunkMeta,
        mut f: impl FnMut(i64, f64),
    ) -> Result<(), BlockReadError> {
        let data = self.chunk_bytes(c)?;
        let bad = |source| BlockReadError::BadChunk {
            dir: self.dir.clone(),
            chunk_ref: c.chunk_ref,
            source,
        };
        let deleted = self.deleted_in_chunk.get(&c.chunk_ref);
        let it = XorIterator::new(data).map_err(bad)?;
        match deleted {
            None => it.for_each_sample(f),
            Some(d) => it.for_each_sample(|t, v| {
                if !is_deleted(d, t) {
                    f(t, v);
                }
            }),
        }
        .map_err(bad)
    }

    /// The samples of a chunk, values bit-exact (stale markers included),
    /// without those the block's tombstones delete.
    pub fn chunk_samples(&self, c: &ChunkMeta) -> Result<Vec<(i64, f64)>, BlockReadError> {
        let data = self.chunk_bytes(c)?;
        let bad = |source| BlockReadError::BadChunk {
            dir: self.dir.clone(),
            chunk_ref: c.chunk_ref,
            source,
        };
        let mut samples = XorIterator::new(data)
            .map_err(bad)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        if let Some(deleted) = self.deleted_in_chunk.get(&c.chunk_ref) {
            samples.retain(|&(t, _)| !is_deleted(deleted, t));
        }
        Ok(samples)
    }
}
