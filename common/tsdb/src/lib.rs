//! The Prometheus TSDB block format, written and read by our own code.
//!
//! For: XOR chunks ([`XorAppender`], [`XorIterator`], [`Chunker`]), chunk
//! segment files ([`ChunkReader`]), index format v2 ([`IndexWriter`],
//! [`IndexReader`], which reads v1 too), `meta.json` ([`BlockMeta`]),
//! deletions (`tombstones`, [`Tombstones`]), the streaming [`BlockWriter`],
//! the [`BlockReader`] (tombstones applied) and the compactor's health
//! checks ([`check_block`]), bit-compatible with what Prometheus 2.x writes
//! and reads. No maintained Rust crate writes Prometheus blocks, so this is ours.
//!
//! Not for deciding what goes into a block (merging, deduplication, clipping
//! to a day): the builder does that and hands over series in order.
//!
//! The modules are private and the API is flat: every name is unique across
//! the format's parts, and callers rarely need more than a few of them.

mod block_reader;
mod block_writer;
mod chunks;
mod health;
mod index;
mod meta;
mod tombstones;
mod xor;

pub use block_reader::{BlockReadError, BlockReader};
pub use block_writer::{
    BlockWriteError, BlockWriter, BlockWriterOptions, CHUNKS_DIRNAME, INDEX_FILENAME,
};
pub use chunks::{
    ChunkMeta, ChunkReadError, ChunkReader, ChunkRef, DEFAULT_SEGMENT_SIZE, SEGMENT_HEADER_SIZE,
};
pub use health::{check_block, HealthError, HealthReport, HealthRule, HealthViolation};
pub use index::{
    IndexFormatError, IndexReadError, IndexReader, IndexSummary, IndexWriteError, IndexWriter,
    RawSeries, SeriesIter, SeriesRef, SymbolIter, Toc,
};
pub use meta::{
    BlockMeta, BlockStats, Compaction, Downsample, MetaError, ThanosFile, ThanosMeta, META_FILENAME,
};
pub use tombstones::{DeletedInterval, TombstoneError, Tombstones, TOMBSTONES_FILENAME};
pub use xor::{
    ChunkError, Chunker, EncodedChunk, XorAppender, XorIterator, ENCODING_XOR,
    MAX_SAMPLES_PER_CHUNK, MAX_SAMPLES_PER_XOR_CHUNK,
};
