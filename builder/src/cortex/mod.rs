//! Building plans of a Cortex chunk store (`--source cortex:CONFIG.yaml`).
//!
//! A Cortex plan lists series IDs with their chunk IDs, nothing else. For
//! each series the builder fetches the chunks from the chunk store of the
//! schema period holding the plan's day ([`fetch`]), decodes and checks them
//! against their keys (`common::cortex`), merges and deduplicates them into
//! the day ([`merge`], [`series`]), sorts the series by labels on disk
//! ([`record`]) and writes one block that must pass the health check
//! ([`build`]). Reading Cortex's index is the scanner's job, not this one.

pub mod build;
pub mod fetch;
pub mod generate;
pub mod merge;
pub mod record;
pub mod series;

use std::path::{Path, PathBuf};

use common::cortex::config::{ConfigError, CortexConfig};

pub use build::{build_plan, BuildContext};
pub use fetch::{ChunkFetcher, FetchOptions};
pub use series::{LoadStats, SeriesLoader};

/// The chunk store a campaign reads, from the user's Cortex config.
#[derive(Clone, Debug)]
pub struct CortexSource {
    pub config: CortexConfig,
    /// The config file, for messages.
    pub config_path: PathBuf,
    /// Replaces the filesystem chunk store's directory of every period.
    pub chunks_dir: Option<PathBuf>,
    pub fetch: FetchOptions,
}

/// Why the Cortex config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("Cortex config {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Cortex config {path}: {source}")]
    Config {
        path: PathBuf,
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
        })
    }
}
