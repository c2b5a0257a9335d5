//! Scanner: a source in, plan files out.
//!
//! The scanner discovers what a source holds (an OpenMetrics file, a Cortex
//! chunk store's index, Prometheus blocks), groups it by tenant and UTC day
//! with bounded memory, and writes one plan per tenant and day under the
//! bucket prefix, the plan's own data first and the plan last, so that a
//! visible plan is always complete. Scan units already marked
//! `scanned.<unit>` are skipped, which makes an interrupted scan resumable;
//! `scan-complete` is written when every unit is done. `--dry-run` runs the
//! same scan into a tally ([`dry_run`]).
//!
//! Not for: building blocks or claiming plans (the builder), reading
//! series or samples of Prometheus blocks (only their meta.json), watching
//! the campaign (the scheduler).
//!
//! The API is [`scan`] and [`dry_run`] with their options and reports,
//! OpenMetrics staging, and the demo data generator. [`prometheus`] stays
//! a module: discovering and grouping Prometheus blocks is a piece of its
//! own that `verify` uses to find the same blocks.

mod cortex;
mod dry_run;
mod generate;
mod openmetrics;
pub mod prometheus;
mod scan;

pub use cortex::read::Counts as CortexIndexCounts;
pub use cortex::{CortexScanOptions, CortexStats};
pub use dry_run::{dry_run, estimate_block_bytes, estimate_cortex_bytes, DryRunDay, DryRunReport};
pub use generate::{write_openmetrics, GenSpec};
pub use openmetrics::{stage_file, DayRange, StageReport, StagedDay};
pub use prometheus::PrometheusOptions;
pub use scan::{scan, ScanConfig, ScanReport, MAX_REPORTED_NAMES};
