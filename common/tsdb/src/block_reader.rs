//! Reading a block directory (ours or Prometheus'): meta.json, the index
//! and the chunk segments, down to samples.
//!
//! Series come in index order with their chunk metas; samples are decoded
//! on request, so a caller walking a large block holds one series at a
//! time. Every checksum on the way is checked (index sections, chunk CRCs).
//! Health rules are not applied here; see `health`.

use std::path::{Path, PathBuf};

use super::block_writer::{CHUNKS_DIRNAME, INDEX_FILENAME};
use std::sync::atomic::{AtomicU64, Ordering};

use super::chunks::{segment_file_name, ChunkMeta, ChunkReadError, ChunkReader};
use super::index::{IndexReadError, IndexReader};
use super::meta::{BlockMeta, MetaError};
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
    #[error("block {dir}: chunk {chunk_ref:#x} has encoding {encoding}, only XOR ({ENCODING_XOR}) is supported")]
    UnsupportedEncoding {
        dir: PathBuf,
        chunk_ref: u64,
        encoding: u8,
    },
    #[error("block {dir}: chunk {chunk_ref:#x}: {source}")]
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
    /// Chunk bytes read since the mapped pages were last released.
    read_since_release: AtomicU64,
}

/// How much chunk data a reader touches before it drops the mapped pages,
/// so that reading a block costs this much resident memory, not its size.
const RELEASE_PAGES_EVERY: u64 = 32 << 20;

impl BlockReader {
    /// Opens the block directory `dir`: reads meta.json, maps the index and
    /// the chunk segments.
    pub fn open(dir: &Path) -> Result<Self, BlockReadError> {
        let meta = BlockMeta::read(dir)?;
        let index = IndexReader::open(&dir.join(INDEX_FILENAME))?;
        let chunks = ChunkReader::open(&dir.join(CHUNKS_DIRNAME))?;
        Ok(BlockReader {
            dir: dir.to_path_buf(),
            meta,
            index,
            chunks,
            read_since_release: AtomicU64::new(0),
        })
    }

    /// A block already in memory: meta.json, index and segment files (in
    /// order), named as if they were in `dir`. For fuzzing and tests; reads
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
            read_since_release: AtomicU64::new(0),
        })
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

    /// Every series in index order with its chunk metas.
    pub fn series(
        &self,
    ) -> impl Iterator<Item = Result<(Labels, Vec<ChunkMeta>), BlockReadError>> + '_ {
        self.index
            .series_iter()
            .map(|r| r.map_err(BlockReadError::from))
    }

    /// The raw bytes of a chunk after checking its CRC and encoding.
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

    /// The samples of a chunk, values bit-exact (stale markers included).
    pub fn chunk_samples(&self, c: &ChunkMeta) -> Result<Vec<(i64, f64)>, BlockReadError> {
        let data = self.chunk_bytes(c)?;
        let bad = |source| BlockReadError::BadChunk {
            dir: self.dir.clone(),
            chunk_ref: c.chunk_ref,
            source,
        };
        XorIterator::new(data)
            .map_err(bad)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)
    }
}
