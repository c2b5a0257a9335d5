//! The user's Cortex configuration, as far as reading chunk storage needs it.
//!
//! Accepts, unchanged, what a Cortex operator already has: a full Cortex
//! config (`schema: {configs: [...]}` and `storage: {...}`), a bare schema
//! file as given to `-schema-config-file` (top-level `configs:`), or a file
//! with only a `storage:` section; several can be merged. Keys we do not use
//! are ignored, since a real Cortex config has hundreds.
//!
//! It answers: which schema period covers a time, which index and chunk
//! tables hold it, and where its chunks live. It opens no connections.

use serde::Deserialize;

const DAY_SECS: i64 = 86_400;

/// A configuration problem, naming the file's key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("Cortex config is not valid YAML: {0}")]
    Yaml(String),
    #[error("Cortex config has neither `schema:`/`configs:` nor `storage:`")]
    Empty,
    #[error("schema config {index}: bad `from` {value:?}: expected YYYY-MM-DD")]
    BadDate { index: usize, value: String },
    #[error("schema config {index}: bad {field} period {value:?}")]
    BadPeriod {
        index: usize,
        field: &'static str,
        value: String,
    },
    #[error("schema config {index}: {reason}")]
    Invalid { index: usize, reason: String },
    #[error("schema has no period configs")]
    NoPeriods,
}

/// Schema versions; only v9–v11 (daily buckets) can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaVersion {
    V9,
    V10,
    V11,
    /// Any other version (v1–v6 hourly buckets, typos): kept, not readable.
    Unsupported(String),
}

impl SchemaVersion {
    fn parse(s: &str) -> Self {
        match s {
            "v9" => SchemaVersion::V9,
            "v10" => SchemaVersion::V10,
            "v11" => SchemaVersion::V11,
            other => SchemaVersion::Unsupported(other.to_string()),
        }
    }
    pub fn is_supported(&self) -> bool {
        !matches!(self, SchemaVersion::Unsupported(_))
    }
}

/// Row layouts of a Bigtable index (see [`super::schema`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BigtableLayout {
    /// `gcp`: row key `hash\0range`, column `c`.
    Gcp,
    /// `bigtable`, `gcp-columnkey`: row key = hash, qualifier = range.
    ColumnKey,
    /// `bigtable-hashed`: row key = FNV-1a prefix + `-` + hash.
    Hashed,
}

/// Where the index lives (`store`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexStore {
    Bigtable(BigtableLayout),
    DynamoDb,
    Cassandra,
    Other(String),
}

impl IndexStore {
    pub fn parse(s: &str) -> Self {
        match s {
            "gcp" => IndexStore::Bigtable(BigtableLayout::Gcp),
            "bigtable" | "gcp-columnkey" => IndexStore::Bigtable(BigtableLayout::ColumnKey),
            "bigtable-hashed" => IndexStore::Bigtable(BigtableLayout::Hashed),
            "aws" | "aws-dynamo" => IndexStore::DynamoDb,
            "cassandra" => IndexStore::Cassandra,
            other => IndexStore::Other(other.to_string()),
        }
    }
}

/// Where chunk objects live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkStore {
    Gcs,
    S3,
    Filesystem,
    /// Chunks in the index store's own chunk tables (Bigtable, DynamoDB, Cassandra).
    IndexStore(IndexStore),
    Other(String),
}

/// A set of time-sharded tables: `prefix` + `floor(t / period)`, or just
/// `prefix` when the period is 0.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeriodicTableConfig {
    pub prefix: String,
    pub period_secs: i64,
}

impl PeriodicTableConfig {
    /// The table holding time `t_ms` (Cortex's `TableFor`).
    pub fn table_for(&self, t_ms: i64) -> String {
        if self.period_secs == 0 {
            return self.prefix.clone();
        }
        format!(
            "{}{}",
            self.prefix,
            t_ms.div_euclid(1000).div_euclid(self.period_secs)
        )
    }

    /// The `[start, end)` range in ms a table of this config covers, or
    /// `None` if the name does not belong to it. Non-periodic tables have no
    /// range of their own (`Some((i64::MIN, i64::MAX))`).
    pub fn table_range(&self, name: &str) -> Option<(i64, i64)> {
        let suffix = name.strip_prefix(&self.prefix)?;
        if self.period_secs == 0 {
            return suffix.is_empty().then_some((i64::MIN, i64::MAX));
        }
        if suffix.is_empty() || !suffix.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let i: i64 = suffix.parse().ok()?;
        let start = i.checked_mul(self.period_secs)?.checked_mul(1000)?;
        Some((start, start.checked_add(self.period_secs * 1000)?))
    }
}

/// One entry of `configs:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodConfig {
    /// First day of the period, as a day index (unix days).
    pub from_day: i64,
    pub store: String,
    /// Empty means "the index store".
    pub object_store: String,
    pub schema: SchemaVersion,
    pub index: PeriodicTableConfig,
    pub chunks: PeriodicTableConfig,
    /// Defaulted as Cortex does: 16 for v10+, 0 for v9 and older.
    pub row_shards: u32,
}

impl PeriodConfig {
    pub fn from_ms(&self) -> i64 {
        self.from_day * DAY_SECS * 1000
    }
    pub fn index_store(&self) -> IndexStore {
        IndexStore::parse(&self.store)
    }
    /// The chunk store: `object_store`, or `store` when that is empty.
    pub fn chunk_store(&self) -> ChunkStore {
        let name = if self.object_store.is_empty() {
            &self.store
        } else {
            &self.object_store
        };
        match name.as_str() {
            "gcs" => ChunkStore::Gcs,
            // Cortex's chunk client for `aws` is S3 (only `aws-dynamo` means
            // chunks in DynamoDB), even though `aws` as an index is DynamoDB.
            "s3" | "aws" => ChunkStore::S3,
            "filesystem" => ChunkStore::Filesystem,
            other => match IndexStore::parse(other) {
                IndexStore::Other(o) => ChunkStore::Other(o),
                s => ChunkStore::IndexStore(s),
            },
        }
    }
    pub fn index_table_for(&self, t_ms: i64) -> String {
        self.index.table_for(t_ms)
    }
    /// The chunk table of a chunk is chosen by the chunk's `from`.
    pub fn chunk_table_for(&self, t_ms: i64) -> String {
        self.chunks.table_for(t_ms)
    }
}

/// The `configs:` list, sorted by `from` as Cortex requires.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchemaConfig {
    pub configs: Vec<PeriodConfig>,
}

impl SchemaConfig {
    /// The period containing time `t_ms`: the last one whose `from` is at or
    /// before it.
    pub fn period_for_time(&self, t_ms: i64) -> Option<&PeriodConfig> {
        self.configs.iter().rev().find(|p| p.from_ms() <= t_ms)
    }

    /// The period that holds a day's index entries and chunks.
    ///
    /// Cortex's builder keeps a period while `dayStart <= next.from`, so a
    /// day starting exactly on a boundary is given the *earlier* period. We
    /// do not reproduce that: from that day on Cortex wrote with the new
    /// period's stores and tables, so the earlier period's chunk store would
    /// not have the day's chunks.
    pub fn period_for_day(&self, day_index: i64) -> Option<&PeriodConfig> {
        self.period_for_time(day_index * DAY_SECS * 1000)
    }

    /// Where a chunk lives: Cortex writes each chunk to the store of the
    /// period containing the chunk's `from` (so a chunk crossing into a new
    /// period's first day is still in the old store).
    pub fn period_for_chunk(&self, from_ms: i64) -> Option<&PeriodConfig> {
        self.period_for_time(from_ms)
    }

    /// Checks what Cortex's `SchemaConfig.Validate` checks for readable
    /// periods; unsupported schema versions are not errors (they are skipped).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.configs.is_empty() {
            return Err(ConfigError::NoPeriods);
        }
        for (index, p) in self.configs.iter().enumerate() {
            let invalid = |reason: String| Err(ConfigError::Invalid { index, reason });
            if let Some(next) = self.configs.get(index + 1) {
                if next.from_day <= p.from_day {
                    return invalid("`from` dates must increase".into());
                }
            }
            if !p.schema.is_supported() {
                continue;
            }
            for (field, t) in [("index", &p.index), ("chunks", &p.chunks)] {
                if t.period_secs % DAY_SECS != 0 {
                    return invalid(format!("{field} period must be a multiple of 24h"));
                }
            }
            if p.schema != SchemaVersion::V9 && p.row_shards == 0 {
                return invalid("row_shards must be > 0 for v10 and v11".into());
            }
            if matches!(p.chunk_store(), ChunkStore::IndexStore(_)) && p.chunks.prefix.is_empty() {
                return invalid("chunks in the index store need a chunks prefix".into());
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct BigtableConfig {
    pub project: String,
    pub instance: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct DynamoDbConfig {
    /// `dynamodb://region/`, or an http(s) URL with credentials and endpoint.
    pub dynamodb_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct AwsConfig {
    pub dynamodb: DynamoDbConfig,
    /// `s3://region/bucket` or an http(s) URL whose path is the bucket.
    pub s3: Option<String>,
    pub s3forcepathstyle: bool,
    /// Comma-separated buckets; chunks spread by [`super::key::s3_bucket_index`].
    pub bucketnames: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct GcsConfig {
    pub bucket_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct FilesystemConfig {
    pub directory: String,
}

/// The `storage:` section (only the backends we read).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    pub engine: Option<String>,
    pub bigtable: Option<BigtableConfig>,
    pub aws: Option<AwsConfig>,
    pub gcs: Option<GcsConfig>,
    pub filesystem: Option<FilesystemConfig>,
}

impl AwsConfig {
    /// The bucket names, from `bucketnames` or the path of the `s3` URL.
    pub fn buckets(&self) -> Vec<String> {
        if let Some(names) = &self.bucketnames {
            return names
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
        let Some(s3) = &self.s3 else { return vec![] };
        let path = s3.split_once("://").map_or(s3.as_str(), |(_, rest)| rest);
        path.split_once('/')
            .map(|(_, p)| p.trim_matches('/'))
            .filter(|p| !p.is_empty())
            .map(|p| p.split(',').map(String::from).collect())
            .unwrap_or_default()
    }
}

/// Everything we take from the user's Cortex YAML.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CortexConfig {
    pub schema: SchemaConfig,
    pub storage: StorageConfig,
}

#[derive(Deserialize)]
struct RawPeriodic {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    period: Option<String>,
}

#[derive(Deserialize)]
struct RawPeriod {
    from: String,
    #[serde(default)]
    store: String,
    #[serde(default)]
    object_store: String,
    #[serde(default)]
    schema: String,
    #[serde(default)]
    index: Option<RawPeriodic>,
    #[serde(default)]
    chunks: Option<RawPeriodic>,
    #[serde(default)]
    row_shards: u32,
}

#[derive(Deserialize)]
struct RawSchema {
    #[serde(default)]
    configs: Vec<RawPeriod>,
}

#[derive(Deserialize)]
struct RawTop {
    #[serde(default)]
    configs: Option<Vec<RawPeriod>>,
    #[serde(default)]
    schema: Option<RawSchema>,
    #[serde(default)]
    storage: Option<StorageConfig>,
}

impl CortexConfig {
    /// Parses one YAML document: a full Cortex config, a bare schema file,
    /// or a `storage:`-only file. Unknown keys are ignored.
    pub fn parse(yaml: &str) -> Result<Self, ConfigError> {
        let raw: RawTop =
            serde_norway::from_str(yaml).map_err(|e| ConfigError::Yaml(e.to_string()))?;
        let periods = match (raw.configs, raw.schema) {
            (Some(c), _) => Some(c),
            (None, Some(s)) => Some(s.configs),
            (None, None) => None,
        };
        if periods.is_none() && raw.storage.is_none() {
            return Err(ConfigError::Empty);
        }
        let mut configs = Vec::new();
        for (index, p) in periods.unwrap_or_default().into_iter().enumerate() {
            configs.push(convert_period(index, p)?);
        }
        Ok(CortexConfig {
            schema: SchemaConfig { configs },
            storage: raw.storage.unwrap_or_default(),
        })
    }

    /// Adds what `other` defines (its periods replace ours if it has any;
    /// its storage sections fill in ours), e.g. a schema file plus a
    /// storage file.
    pub fn merge(&mut self, other: CortexConfig) {
        if !other.schema.configs.is_empty() {
            self.schema = other.schema;
        }
        let (s, o) = (&mut self.storage, other.storage);
        s.engine = o.engine.or(s.engine.take());
        s.bigtable = o.bigtable.or(s.bigtable.take());
        s.aws = o.aws.or(s.aws.take());
        s.gcs = o.gcs.or(s.gcs.take());
        s.filesystem = o.filesystem.or(s.filesystem.take());
    }
}

fn convert_period(index: usize, p: RawPeriod) -> Result<PeriodConfig, ConfigError> {
    let from_day = parse_day(&p.from).ok_or_else(|| ConfigError::BadDate {
        index,
        value: p.from.clone(),
    })?;
    let table = |field, t: Option<RawPeriodic>| -> Result<PeriodicTableConfig, ConfigError> {
        let t = t.unwrap_or(RawPeriodic {
            prefix: String::new(),
            period: None,
        });
        let period_secs = match t.period.as_deref() {
            None | Some("") => 0,
            Some(s) => parse_duration_secs(s).ok_or_else(|| ConfigError::BadPeriod {
                index,
                field,
                value: s.to_string(),
            })?,
        };
        Ok(PeriodicTableConfig {
            prefix: t.prefix,
            period_secs,
        })
    };
    let schema = SchemaVersion::parse(&p.schema);
    let row_shards = match (p.row_shards, p.schema.as_str()) {
        (0, "v1" | "v2" | "v3" | "v4" | "v5" | "v6" | "v9") => 0,
        (0, _) => 16,
        (n, _) => n,
    };
    Ok(PeriodConfig {
        from_day,
        store: p.store,
        object_store: p.object_store,
        schema,
        index: table("index", p.index)?,
        chunks: table("chunks", p.chunks)?,
        row_shards,
    })
}

/// `YYYY-MM-DD` (UTC) to a unix day index.
pub fn parse_day(s: &str) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    Some((d - epoch).num_days())
}

/// A Prometheus `model.Duration` (`168h`, `1w`, `7d`, `1h30m`, `0s`) in
/// whole seconds; sub-second parts must sum to whole seconds.
pub fn parse_duration_secs(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    let mut rest = s;
    let mut total_ms: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let unit_ms: i64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total_ms = total_ms.checked_add(n.checked_mul(unit_ms)?)?;
    }
    (total_ms % 1000 == 0).then_some(total_ms / 1000)
}

#[cfg(test)]
mod tests;
