//! The bucket protocol: everything scanner, builders and scheduler agree on.
//!
//! Bucket access with retries, timeouts and rate limits (`bucket`), the
//! names of protocol files (`names`), plan files (`plan`), a plan's state
//! from a listing (`state`), the contents of finished and failed files
//! (`records`), staged OpenMetrics samples (`staged`), tenant names
//! (`tenant`) and the `--source` argument (`source`).
//!
//! Not for policy: which plan to build, when to retry or what a source
//! holds belong to the `builder`, `scheduler` and `scanner` crates.

pub mod bucket;
pub mod names;
pub mod plan;
pub mod records;
pub mod source;
pub mod staged;
pub mod state;
pub mod tenant;
