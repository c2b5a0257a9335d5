//! The sample encodings a Cortex chunk object's data section can hold.
//!
//! Cortex numbers them 0..=4 (`pkg/chunk/encoding/factory.go`): Delta (0,
//! never written by Cortex itself and decoded as DoubleDelta), DoubleDelta (1)
//! and Varbit (2) from Prometheus 1.x, Bigchunk (3, a list of Prometheus XOR
//! chunks) and PrometheusXorChunk (4, one XOR chunk). Decoders return the
//! samples in the chunk's own order and never panic on arbitrary bytes.
//!
//! The encoders exist to write realistic test data (they append samples the
//! way Cortex's ingester did, including overflow into a new chunk); they are
//! not used to convert data.

pub mod bigchunk;
pub mod doubledelta;
pub mod varbit;

use std::fmt;

/// One sample: ms timestamp and value (bit-exact, StaleNaN included).
pub type Sample = (i64, f64);

/// Length of a Prometheus 1.x (DoubleDelta, Varbit) chunk buffer.
pub const CHUNK_LEN: usize = 1024;

/// A chunk encoding as numbered in the chunk metadata's `encoding` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Encoding {
    /// 0: Prometheus 1.x delta; never written by Cortex, read as DoubleDelta.
    Delta,
    /// 1: Prometheus 1.x double-delta.
    DoubleDelta,
    /// 2: Prometheus 1.x varbit.
    Varbit,
    /// 3: a list of Prometheus XOR chunks (Cortex's default).
    Bigchunk,
    /// 4: one Prometheus XOR chunk.
    PrometheusXorChunk,
}

impl Encoding {
    /// The encoding for a metadata number; `None` for numbers Cortex never
    /// registered.
    pub fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Encoding::Delta,
            1 => Encoding::DoubleDelta,
            2 => Encoding::Varbit,
            3 => Encoding::Bigchunk,
            4 => Encoding::PrometheusXorChunk,
            _ => return None,
        })
    }

    /// The number written in chunk metadata.
    pub fn id(self) -> u8 {
        match self {
            Encoding::Delta => 0,
            Encoding::DoubleDelta => 1,
            Encoding::Varbit => 2,
            Encoding::Bigchunk => 3,
            Encoding::PrometheusXorChunk => 4,
        }
    }

    /// Cortex's name for the encoding (as in `summary.json` and the
    /// `-ingester.chunk-encoding` flag).
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Delta => "Delta",
            Encoding::DoubleDelta => "DoubleDelta",
            Encoding::Varbit => "Varbit",
            Encoding::Bigchunk => "Bigchunk",
            Encoding::PrometheusXorChunk => "PrometheusXorChunk",
        }
    }

    /// The encoding whose decoder reads this data: old chunks carry 0 (Delta)
    /// or no encoding at all, and Cortex reads them as DoubleDelta.
    pub fn effective(self) -> Self {
        match self {
            Encoding::Delta => Encoding::DoubleDelta,
            e => e,
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a data section cannot be decoded. The caller adds the chunk key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EncodingError {
    /// The data section is malformed.
    #[error("{encoding} data: {reason}")]
    Invalid {
        /// The encoding being decoded.
        encoding: Encoding,
        /// What is wrong.
        reason: String,
    },
    /// An XOR chunk inside a Bigchunk or PrometheusXorChunk section is bad.
    #[error("{encoding} data: sub-chunk {index}: {source}")]
    Xor {
        /// The encoding being decoded.
        encoding: Encoding,
        /// Position of the XOR chunk in the section, from 0.
        index: usize,
        /// The XOR decoder's error.
        source: tsdb::ChunkError,
    },
}

impl EncodingError {
    pub(crate) fn invalid(encoding: Encoding, reason: impl Into<String>) -> Self {
        EncodingError::Invalid {
            encoding,
            reason: reason.into(),
        }
    }
}

/// Decodes a data section of the given encoding into its samples, in the
/// chunk's order (which Cortex's writers keep ascending in time, but nothing
/// here checks that).
pub fn decode(encoding: Encoding, data: &[u8]) -> Result<Vec<Sample>, EncodingError> {
    match encoding.effective() {
        Encoding::Delta | Encoding::DoubleDelta => doubledelta::decode(data),
        Encoding::Varbit => varbit::decode(data),
        Encoding::Bigchunk => bigchunk::decode(data),
        Encoding::PrometheusXorChunk => bigchunk::decode_xor(data),
    }
}

/// Encodes samples the way a Cortex ingester configured with `encoding`
/// would append them to a fresh chunk: the result is one data section per
/// chunk, more than one when a chunk overflowed. Bigchunk and
/// PrometheusXorChunk never overflow.
pub fn encode(encoding: Encoding, samples: &[Sample]) -> Result<Vec<Vec<u8>>, EncodingError> {
    match encoding.effective() {
        Encoding::Delta | Encoding::DoubleDelta => doubledelta::encode(samples),
        Encoding::Varbit => varbit::encode(samples),
        Encoding::Bigchunk => Ok(vec![bigchunk::encode(samples)?]),
        Encoding::PrometheusXorChunk => Ok(vec![bigchunk::encode_xor(samples)?]),
    }
}
