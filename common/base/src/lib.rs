//! The vocabulary every blocksconvert crate shares.
//!
//! For: label sets and their order ([`Labels`]), the one varint
//! implementation and the byte codecs records are made of ([`codec`]), UTC
//! days ([`DAY_MS`]), a stable hash ([`fnv1a64`]), and what every store
//! client goes through: per-process rate limits ([`throttle`]) and the one
//! retry policy with jitter ([`retry`]), and the one rendering of an
//! error with its causes ([`error_chain`]).
//!
//! Not for formats or I/O: file formats live in `tsdb`, `cortex`,
//! `openmetrics` and `protocol`, and talking to stores in the crates that
//! own those stores. Nothing here may depend on another crate of the
//! workspace.
//!
//! `codec`, `throttle` and `retry` stay public modules: each is a small
//! family of items that reads best qualified (`codec::put_uvarint`,
//! `retry::Backoff`); labels, the hash and the day constants are
//! re-exported here.

pub mod codec;
mod error_chain;
mod hash;
mod labels;
pub mod retry;
pub mod throttle;

pub use error_chain::{error_chain, ErrorChain};
pub use hash::fnv1a64;
pub use labels::{go_quote, Label, Labels, LabelsError};

/// Milliseconds in a UTC day: the unit of every day boundary in this
/// project (blocks span one day, plans and staged data are per day).
/// Day `d` is `[d * DAY_MS, (d + 1) * DAY_MS)`; the day of a timestamp is
/// `t.div_euclid(DAY_MS)`, so times before 1970 land in negative days.
pub const DAY_MS: i64 = 86_400_000;

/// Seconds in a UTC day (day numbers in Cortex's schema and plan names
/// count from unix seconds).
pub const DAY_SECS: i64 = DAY_MS / 1000;

#[cfg(test)]
mod tests {
    #[test]
    fn day_is_24_hours() {
        assert_eq!(super::DAY_MS, 24 * 60 * 60 * 1000);
        assert_eq!(super::DAY_SECS * 1000, super::DAY_MS);
        assert_eq!((-1i64).div_euclid(super::DAY_MS), -1);
    }
}
