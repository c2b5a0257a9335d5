//! The bucket protocol: everything scanner, builders and scheduler agree on.
//!
//! Bucket access with retries, timeouts and rate limits ([`bucket`]), the
//! names of protocol files and every key built from them ([`names`]: no
//! other code formats a bucket key), plan files ([`plan`]), a plan's state
//! from a listing ([`state`]), the scheduler's claimable-plans index
//! ([`claimable`]), the contents of finished, failed, progress
//! and attempt files ([`records`]), staged OpenMetrics samples
//! ([`staged`]), tenant names ([`tenant`]) and the `--source` argument
//! ([`source`]).
//!
//! The modules stay public rather than flattened into the root: each is
//! one coherent vocabulary (one kind of protocol file or one concern), and
//! their names read better qualified at the call site (`names::PlanId`,
//! `plan::PlanWriter`, `state::PlanState`) than dozens of unrelated items
//! side by side at the crate root.
//!
//! Not for policy: which plan to build, when to retry or what a source
//! holds belong to the `builder`, `scheduler` and `scanner` crates. Not for
//! the formats of what is converted (`tsdb`, `cortex`, `openmetrics`).

pub mod bucket;
pub mod claimable;
pub mod names;
pub mod plan;
pub mod records;
pub mod source;
pub mod staged;
pub mod state;
pub mod tenant;
