//! The Prometheus block index, format v2, and v1 for reading
//! (`tsdb/docs/format/index.md`).
//!
//! [`IndexWriter`] writes an index byte for byte as Prometheus 2.42's
//! `tsdb/index/index.go` does for the same symbols, series and chunk
//! references, but with memory bounded by a budget: postings are sorted
//! externally and long sections are streamed. [`IndexReader`] opens an
//! index written by us or by Prometheus (v2, or v1 from Prometheus 2.0 to
//! 2.7), checks every checksum it touches and iterates series in index
//! order.
//!
//! This module is about the `index` file only: chunk data, `meta.json` and
//! block directories are in the sibling modules, and block-level policy
//! (time ranges, stats, health rules) is in `block_writer` and `health`.

mod encoding;
mod postings;
mod reader;
mod symbols;
mod writer;

use std::path::PathBuf;

pub use reader::{IndexReader, RawSeries, SeriesIter};
pub use symbols::SymbolIter;
pub use writer::{IndexSummary, IndexWriteError, IndexWriter};

/// First four bytes of an index file.
pub(crate) const MAGIC_INDEX: u32 = 0xBAAA_D700;
/// The format version we write (and read).
pub(crate) const FORMAT_V2: u8 = 2;
/// The format of Prometheus 2.0 to 2.7, which we read too.
pub(crate) const FORMAT_V1: u8 = 1;
/// Magic and version.
pub(crate) const HEADER_LEN: usize = 5;
/// Six 8-byte section offsets and a CRC32C.
pub(crate) const TOC_LEN: usize = 6 * 8 + 4;

/// A series reference: the series' byte offset divided by 16 in a v2
/// index, the byte offset itself in a v1 index.
pub type SeriesRef = u32;

/// Where each section of an index starts (the table of contents).
///
/// Every field is an absolute byte offset in the index file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Toc {
    /// The symbol table.
    pub symbols: u64,
    /// The first series (16-byte aligned).
    pub series: u64,
    /// The first label index (one per label name).
    pub label_indices: u64,
    /// The offset table of the label indices.
    pub label_indices_table: u64,
    /// The first postings list.
    pub postings: u64,
    /// The offset table of the postings lists.
    pub postings_table: u64,
}

impl Toc {
    fn encode(&self) -> [u8; TOC_LEN] {
        let mut out = [0u8; TOC_LEN];
        let fields = [
            self.symbols,
            self.series,
            self.label_indices,
            self.label_indices_table,
            self.postings,
            self.postings_table,
        ];
        for (i, v) in fields.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
        }
        let crc = crc32c::crc32c(&out[..48]);
        out[48..].copy_from_slice(&crc.to_be_bytes());
        out
    }
}

/// What is wrong with the bytes of an index (independent of which file).
#[allow(
    missing_docs,
    reason = "each variant's #[error] message documents it and its fields"
)]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IndexFormatError {
    #[error("file of {size} bytes is too small for an index")]
    TooSmall { size: u64 },
    #[error("bad magic number {found:#010x}")]
    BadMagic { found: u32 },
    #[error("unsupported index format version {version} (versions 1 and 2 are read)")]
    UnsupportedVersion { version: u8 },
    #[error("CRC32 mismatch in the {section} at offset {offset}: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        section: &'static str,
        offset: u64,
        stored: u32,
        computed: u32,
    },
    #[error("{what} at offset {offset} runs past its section or the file")]
    Truncated { offset: u64, what: &'static str },
    #[error("invalid varint for {what} at offset {offset}")]
    BadVarint { offset: u64, what: &'static str },
    #[error("string at offset {offset} is not UTF-8")]
    BadUtf8 { offset: u64 },
    #[error("symbol reference {symbol_ref} is not in the symbol table")]
    UnknownSymbol { symbol_ref: u32 },
    #[error("series {series_ref} has label names out of order or repeated: {labels}")]
    LabelsNotSorted {
        series_ref: SeriesRef,
        labels: String,
    },
    #[error("at offset {offset}: {detail}")]
    Corrupt { offset: u64, detail: String },
}

/// An index that cannot be opened or read; names the file.
#[allow(
    missing_docs,
    reason = "each variant's #[error] message documents it and its fields"
)]
#[derive(Debug, thiserror::Error)]
pub enum IndexReadError {
    #[error("index {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("index {path}")]
    Format {
        path: PathBuf,
        #[source]
        source: IndexFormatError,
    },
}

impl IndexReadError {
    /// The format problem, when it is one (not an I/O error).
    pub fn format_error(&self) -> Option<&IndexFormatError> {
        match self {
            IndexReadError::Format { source, .. } => Some(source),
            IndexReadError::Io { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests;
