//! The `--source` argument: which kind of history a campaign converts.

use std::path::PathBuf;

/// What `--source` names: one kind of history and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceSpec {
    /// OpenMetrics text with timestamps, as `promtool tsdb create-blocks-from openmetrics` takes.
    OpenMetrics(PathBuf),
    /// A Cortex config (full config or bare schema file) naming index and chunk stores.
    Cortex(PathBuf),
    /// Prometheus data directories, snapshots or block buckets; several are replicas.
    Prometheus(Vec<String>),
}

/// A `--source` that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("--source {given:?}: {reason} (expected openmetrics:PATH, cortex:CONFIG.yaml or prometheus:PATH[,PATH...])")]
pub struct SourceSpecError {
    given: String,
    reason: &'static str,
}

impl std::str::FromStr for SourceSpec {
    type Err = SourceSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| SourceSpecError {
            given: s.to_string(),
            reason,
        };
        let (kind, rest) = s.split_once(':').ok_or_else(|| err("no kind"))?;
        if rest.is_empty() {
            return Err(err("empty path"));
        }
        match kind {
            "openmetrics" => Ok(SourceSpec::OpenMetrics(PathBuf::from(rest))),
            "cortex" => Ok(SourceSpec::Cortex(PathBuf::from(rest))),
            "prometheus" => Ok(SourceSpec::Prometheus(
                rest.split(',')
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect(),
            )),
            _ => Err(err("unknown kind")),
        }
    }
}

impl SourceSpec {
    /// The kind, as written before the `:`.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceSpec::OpenMetrics(_) => "openmetrics",
            SourceSpec::Cortex(_) => "cortex",
            SourceSpec::Prometheus(_) => "prometheus",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kinds() {
        assert_eq!(
            "openmetrics:/x/y.om".parse::<SourceSpec>().unwrap(),
            SourceSpec::OpenMetrics("/x/y.om".into())
        );
        assert_eq!(
            "prometheus:/a,s3://b/c".parse::<SourceSpec>().unwrap(),
            SourceSpec::Prometheus(vec!["/a".into(), "s3://b/c".into()])
        );
        assert!("x:/a".parse::<SourceSpec>().is_err());
        assert!("cortex:".parse::<SourceSpec>().is_err());
    }
}
