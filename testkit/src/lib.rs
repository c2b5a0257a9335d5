//! Test support for blocksconvert: runs `promtool` against our blocks and
//! parses what it prints, writes OpenMetrics input for promtool, and
//! generates series data with the awkward cases (NaN, infinities, stale
//! markers, counter resets, irregular intervals, unicode and escaped label
//! values).
//!
//! It does not depend on `common`, so a bug in the code under test cannot
//! also hide in the checker; label sets are plain `(name, value)` pairs.
//! Never linked into the binary.

pub mod emulators;
pub mod faults;
pub mod files;
pub mod openmetrics;
pub mod promtool;
