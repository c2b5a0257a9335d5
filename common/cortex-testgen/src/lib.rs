//! Test data for the Cortex side of blocksconvert: what a test or benchmark
//! needs to build a Cortex chunk store that the product code then reads.
//!
//! - [`encode_object`]: chunk objects byte-identical to Cortex 1.x's (Go's
//!   snappy encoder, ported in `snappy_go`, and jsoniter's metadata JSON),
//!   so re-encoding a fixture gives back its chunk ID.
//! - [`generate`]: a whole chunk store on the local filesystem with the
//!   config and the plans Cortex's scanner would have written.
//! - [`BigtableLoad`] and [`DynamoLoad`]: creating index tables and writing
//!   cells or items into the emulators, as extension traits of the product
//!   clients (so a test keeps writing `client.create_table(..)`).
//! - [`load_dynamo_store`]: a generated store moved into DynamoDB index and
//!   chunk tables, as Cortex's `aws-dynamo` store held it.
//!
//! Only ever a dev-dependency (`publish = false`): no release binary links
//! it. It is not in `testkit` because it builds on the product crates
//! (`cortex`, `protocol`), which `testkit` must stay independent of. Not
//! here: index entries (`cortex::schema::chunk_entries` computes them, as
//! part of the schema the scanner parses) and chunk sample encoders
//! (`cortex::encoding`, inverse of the decoders and tested with them).

mod bigtable;
mod dynamo_store;
mod dynamodb;
mod object;
mod snappy_go;
mod store;

pub use bigtable::{BigtableLoad, CellWrite};
pub use dynamo_store::{load_dynamo_store, DynamoStore};
pub use dynamodb::{DynamoLoad, ItemWrite};
pub use object::{encode_object, metadata_json, snappy_frame_go};
pub use store::{generate, ExpectedSeries, GenError, GenOptions, GenReport, PlanExpectation};
