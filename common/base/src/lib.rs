//! The vocabulary every blocksconvert crate shares.
//!
//! Label sets and their order (`labels`), the byte codecs records are made
//! of (`codec`: the one varint implementation), a stable hash (`hash`), and
//! the per-process rate limits and retry backoff every store client goes
//! through (`throttle`).
//!
//! Not for formats or I/O: file formats live in `tsdb`, `cortex`,
//! `openmetrics` and `protocol`, and talking to stores in the crates that
//! own those stores.

pub mod codec;
pub mod hash;
pub mod labels;
pub mod throttle;

pub use labels::{Label, Labels};
