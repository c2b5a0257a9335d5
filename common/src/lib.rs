//! Shared library of blocksconvert.
//!
//! What every worker needs and no worker owns: label sets and their order,
//! the external sort, the Prometheus TSDB block format (writer and reader),
//! the source formats (Cortex chunk objects, OpenMetrics text), plan files,
//! and bucket access.
//!
//! It is not a place for policy: deciding what to scan, which plan to build
//! or when to retry belongs to the `scanner`, `builder` and `scheduler`
//! crates.

pub mod bucket;
pub mod cortex;
pub mod extsort;
pub mod hash;
pub mod labels;
pub mod names;
pub mod openmetrics;
pub mod plan;
pub mod records;
pub mod source;
pub mod staged;
pub mod state;
pub mod tenant;
pub mod throttle;
pub mod tsdb;

pub use labels::{Label, Labels};
