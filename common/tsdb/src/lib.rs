//! The Prometheus TSDB block format, written and read by our own code.
//!
//! No maintained Rust crate writes Prometheus blocks, so this is ours:
//! XOR chunks, chunk segment files, index format v2 and meta.json,
//! bit-compatible with what Prometheus 2.x writes and reads.

pub mod block_reader;
pub mod block_writer;
pub mod chunks;
pub mod health;
pub mod index;
pub mod meta;
pub mod xor;
