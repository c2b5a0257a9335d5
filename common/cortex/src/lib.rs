//! Cortex chunk storage as our code reads it: the formats of a Cortex chunk
//! store, clients for its Bigtable and DynamoDB index and chunk tables, and
//! [`ChunkFetcher`], which reads chunk objects from the store of a schema
//! period (filesystem, S3, GCS, chunk tables).
//!
//! What a Cortex chunk store holds and how to find it: chunk IDs and object
//! names ([`ChunkKey`]), chunk objects ([`decode_object`]), the sample
//! encodings inside them ([`encoding`]), the schema/storage configuration
//! ([`CortexConfig`]) and the v9–v11 index entries ([`schema`]). Cortex's
//! code at commit 362e902a5d is the authority for every byte here
//! (`pkg/chunk/{chunk.go, json_helpers.go, schema*.go, encoding/}`).
//!
//! Most of the API is flat at the root. Four modules stay public because
//! their names read best qualified: the two store clients ([`bigtable`],
//! [`dynamodb`]: client, options, errors and row types each, which would
//! collide at the root), [`schema`] (`schema::classify`,
//! `schema::series_id`, …) and [`encoding`] (`encoding::decode` and one
//! submodule per encoding).
//!
//! Not for: deciding what to scan or build (the scanner and builder do,
//! with these pieces), merging chunks into series (the builder), or
//! writing test data (`cortex-testgen`: chunk objects byte-identical to
//! Cortex's, generated stores, table loaders). Nothing here writes to a
//! production store.

pub mod bigtable;
mod config;
pub mod dynamodb;
pub mod encoding;
mod fetch;
mod key;
mod object;
pub mod schema;
mod snappy_frame;

pub use config::{
    AwsConfig, BigtableConfig, BigtableLayout, ChunkStore, ConfigError, CortexConfig,
    DynamoDbConfig, FilesystemConfig, GcsConfig, IndexStore, PeriodConfig, PeriodicTableConfig,
    SchemaConfig, SchemaVersion, StorageConfig,
};
pub use encoding::{Encoding, EncodingError, Sample};
pub use fetch::{ChunkFetcher, FetchError, FetchOptions};
pub use key::{
    external_key_from_filesystem_name, filesystem_file_name, s3_bucket_index, ChunkKey, KeyError,
};
pub use object::{
    decode_object, decode_samples, parse_object, write_json_string, ChunkMetadata, ChunkObject,
    ObjectError, ObjectErrorKind,
};
