//! Cortex chunk storage, read (and, for test data, written) by our own code.
//!
//! What a Cortex chunk store holds and how to find it: chunk IDs and object
//! names ([`key`]), chunk objects ([`object`]), the sample encodings inside
//! them ([`encoding`]), the schema/storage configuration ([`config`]) and
//! the v9–v11 index entries ([`schema`]).
//!
//! It talks to no backend: listing tables, reading Bigtable/DynamoDB rows and
//! fetching objects belong to the scanner and builder, which use these
//! formats. Cortex's code at commit 362e902a5d is the authority for every
//! byte here (`pkg/chunk/{chunk.go, json_helpers.go, schema*.go, encoding/}`).

pub mod bigtable;
pub mod config;
pub mod dynamodb;
pub mod encoding;
pub mod key;
pub mod object;
pub mod schema;
mod snappy_frame;
mod snappy_go;

pub use config::CortexConfig;
pub use encoding::{Encoding, EncodingError, Sample};
pub use key::{ChunkKey, KeyError};
pub use object::{
    decode_object, decode_samples, encode_object, ChunkMetadata, ChunkObject, ObjectError,
    ObjectErrorKind,
};
