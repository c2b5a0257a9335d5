//! Test support for blocksconvert: runs `promtool` against our blocks and
//! parses what it prints, writes OpenMetrics input for promtool, generates
//! series data with the awkward cases (NaN, infinities, stale markers,
//! counter resets, irregular intervals, unicode and escaped label values),
//! starts the Bigtable and S3/DynamoDB emulators and a real Prometheus
//! server (`prometheus`), and wraps an object store
//! so that chosen calls fail on command ([`FaultStore`]); and measures
//! benchmarks' child processes (`bench`).
//!
//! Not for: production code (never linked into the binary), or anything
//! that needs the product's own types. It depends on none of the product
//! crates (`base`, `tsdb`, `protocol`, …), so a bug in the code under test
//! cannot also hide in the checker; label sets are plain `(name, value)`
//! pairs. Cortex test data, which needs the product's formats, lives in
//! `cortex-testgen`.
//!
//! The modules stay public because their functions read best qualified
//! (`promtool::dump_samples`, `emulators::moto`, `openmetrics::generate`);
//! the types and the file helpers every test uses are also at the root.

pub mod bench;
pub mod emulators;
pub mod faults;
pub mod files;
pub mod openmetrics;
pub mod prometheus;
pub mod promtool;

pub use emulators::{free_port, Emulator};
pub use faults::{Fault, FaultStore, Faults, Op, Rule};
pub use files::{copy_dir, files_under};
pub use openmetrics::TestSeries;
pub use promtool::DumpSample;
