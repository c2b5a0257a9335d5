//! Scanner: a source in, plan files out.
//!
//! The scanner discovers what a source holds, groups it by tenant and UTC
//! day with bounded memory, and writes one plan per tenant and day under the
//! bucket prefix, the plan's own data first and the plan last, so that a
//! visible plan is always complete. Scan units already marked
//! `scanned.<unit>` are skipped, which makes an interrupted scan resumable;
//! `scan-complete` is written when every unit is done.
//!
//! It builds no blocks and claims no plans.

pub mod cortex;
mod dry_run;
pub mod generate;
pub mod openmetrics;
pub mod prometheus;
mod scan;

pub use dry_run::{dry_run, estimate_block_bytes, estimate_cortex_bytes, DryRunDay, DryRunReport};
pub use scan::{scan, ScanConfig, ScanReport, MAX_REPORTED_NAMES};
