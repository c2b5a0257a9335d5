//! Building plans of a Cortex chunk store (`--source cortex:CONFIG.yaml`).
//!
//! A Cortex plan lists series IDs with their chunk IDs, nothing else. For
//! each series the builder fetches the chunks from the chunk store of the
//! schema period holding the plan's day (`fetch`), decodes and checks them
//! against their keys (`cortex`), merges and deduplicates them into
//! the day (`merge`, `series`), sorts the series by labels on disk
//! (`record`) and writes one block that must pass the health check
//! (`build`). Reading Cortex's index is the scanner's job, not this one.
//!
//! # Bad input
//!
//! Nothing is lost silently: a plan either produces a complete block or a
//! failed file saying why, and whatever is left out of a block is counted in
//! its finished record (`skipped`, [`protocol::records::SkippedInput`]). What a
//! chunk or plan may be wrong about, and what happens then (the policy is
//! a [`CorruptChunkPolicy`] given to [`build_plan_with_policy`];
//! [`build_plan`] uses the default, `fail`):
//!
//! | case | found by | policy | `fail`: the reason names | `skip`: counted in |
//! |---|---|---|---|---|
//! | object truncated, bit-flipped, wrong checksum, bad snappy or JSON metadata, wrong length words, metadata not matching the key | `cortex::decode_object` (the CRC-32C first, when the key has one) | policy | plan, series, chunk, what is wrong | `chunks_corrupt` (the chunk is left out) |
//! | unknown encoding, undecodable data section | `cortex::encoding` | policy | same | `chunks_corrupt` |
//! | metadata repeats a label name with different values | [`base::Labels::normalize`] | policy | same | `chunks_corrupt` |
//! | a sample older than the one before it in the same chunk | `series::check_samples` | policy | same, with both times | `chunks_corrupt` |
//! | a sample outside the chunk key's `[from, through]` | `series::check_samples` | policy | same, with the first such time | `chunks_corrupt` |
//! | chunks of one series disagree on labels (Cortex: "chunks for multiple metrics") | [`merge_series`] | policy | plan, series, both chunks and their labels | `series` (the whole series is left out: no chunk alone is known to be the wrong one) |
//! | every fetched chunk of a series is corrupt | `series` | policy | the first corrupt chunk | `series` and `chunks_corrupt` |
//! | nothing usable left in the whole plan | `build` | always fails (never an empty block) | "no samples of any series", with the counts left out | – |
//! | a chunk with no samples | `series` | always left out | – | `chunks_empty` |
//! | a chunk missing from the store | `fetch` | always left out, as Cortex does | – | logged (`chunks_not_found`) |
//! | NaN values, stale markers included, any payload | – | kept bit-exact: they are values | – | – |
//! | equal timestamps in one chunk or across chunks (replicas) | `merge` | the first kept (earliest chunk, then smallest key) | – | `duplicates_dropped` |
//! | the same series twice in a plan (one series ID twice, or two IDs with equal labels) | `build`, after the sort by labels | merged into one series | – | `duplicates_dropped` |
//! | a plan larger than memory | `build` | the sort spills beyond half of `--memory-budget` | – | – |
//! | a malformed plan line (bad JSON, no footer, data after it) | `protocol::plan::PlanReader` | always fails | plan and line number | – |
//!
//! Samples outside the key's range are treated as corruption rather than
//! dropped one by one: the key's range is what the index was written from
//! and what decides which days' plans list the chunk, so a chunk
//! contradicting it cannot be trusted for any of its samples, and a writer
//! never produces one (Cortex's `through` is the chunk's last sample).
//! Samples *equal* in time are not corruption (replicated writes repeat
//! them); only going backwards is.

mod build;
mod merge;
mod record;
mod series;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use cortex::{ConfigError, CortexConfig};

pub use build::{build_plan, build_plan_with_policy, BuildContext};
pub use cortex::{ChunkFetcher, FetchError, FetchOptions};
pub use merge::{merge_same_labels, merge_series, DecodedChunk, MergeError, MergedSeries};
pub use record::SeriesRecord;
pub use series::{
    decode_chunk, LoadStats, SampleProblem, SeriesError, SeriesErrorKind, SeriesLoader,
};

/// What the builder does with a chunk it cannot trust (see the module
/// docs for every case): fail the plan, or leave the chunk out and count it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CorruptChunkPolicy {
    /// The plan fails; the failed file names the plan, series and chunk.
    #[default]
    Fail,
    /// The chunk is left out (the whole series when its chunks disagree on
    /// labels), counted in the finished record, the first few logged by key.
    Skip,
}

impl CorruptChunkPolicy {
    /// The names the command line takes.
    pub const NAMES: [&'static str; 2] = ["fail", "skip"];

    /// The name `--on-corrupt-chunk` takes for this policy.
    pub fn name(self) -> &'static str {
        match self {
            CorruptChunkPolicy::Fail => "fail",
            CorruptChunkPolicy::Skip => "skip",
        }
    }
}

impl fmt::Display for CorruptChunkPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A policy name that is neither `fail` nor `skip`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown corrupt-chunk policy {0:?}: expected fail or skip")]
pub struct UnknownPolicy(pub String);

impl FromStr for CorruptChunkPolicy {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fail" => Ok(CorruptChunkPolicy::Fail),
            "skip" => Ok(CorruptChunkPolicy::Skip),
            other => Err(UnknownPolicy(other.to_string())),
        }
    }
}

/// The chunk store a campaign reads, from the user's Cortex config.
#[derive(Clone, Debug)]
pub struct CortexSource {
    /// The parsed and validated Cortex config: schema periods and stores.
    pub config: CortexConfig,
    /// The config file, for messages.
    pub config_path: PathBuf,
    /// Replaces the filesystem chunk store's directory of every period.
    pub chunks_dir: Option<PathBuf>,
    /// Concurrency, retries and rate limit of chunk fetches.
    pub fetch: FetchOptions,
    /// What a corrupt chunk does to its plan (`--on-corrupt-chunk`).
    pub on_corrupt_chunk: CorruptChunkPolicy,
}

/// Why the Cortex config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file cannot be read.
    #[error("Cortex config {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a usable Cortex config.
    #[error("Cortex config {path}: {source}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: ConfigError,
    },
}

impl CortexSource {
    /// Reads and validates the config at `path`.
    pub fn load(
        path: &Path,
        chunks_dir: Option<PathBuf>,
        fetch: FetchOptions,
    ) -> Result<Self, SourceError> {
        let yaml = std::fs::read_to_string(path).map_err(|source| SourceError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config_err = |source| SourceError::Config {
            path: path.to_path_buf(),
            source,
        };
        let config = CortexConfig::parse(&yaml).map_err(config_err)?;
        config.schema.validate().map_err(config_err)?;
        Ok(CortexSource {
            config,
            config_path: path.to_path_buf(),
            chunks_dir,
            fetch,
            on_corrupt_chunk: CorruptChunkPolicy::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_round_trip() {
        for name in CorruptChunkPolicy::NAMES {
            let p: CorruptChunkPolicy = name.parse().unwrap();
            assert_eq!(p.to_string(), name);
        }
        assert_eq!(CorruptChunkPolicy::default(), CorruptChunkPolicy::Fail);
        let err = "Skip".parse::<CorruptChunkPolicy>().unwrap_err();
        assert!(err.to_string().contains("\"Skip\""), "{err}");
    }
}
