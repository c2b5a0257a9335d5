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

use base::{DAY_MS, DAY_SECS};

/// A configuration problem, naming the file's key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The YAML parser's message.
    #[error("Cortex config is not valid YAML: {0}")]
    Yaml(String),
    /// Nothing we read is in the document.
    #[error("Cortex config has neither `schema:`/`configs:` nor `storage:`")]
    Empty,
    /// A period's `from` is not a date.
    #[error("schema config {index}: bad `from` {value:?}: expected YYYY-MM-DD")]
    BadDate {
        /// Position of the period in `configs:`, from 0.
        index: usize,
        /// The `from` as written.
        value: String,
    },
    /// A table period is not a Prometheus duration of whole seconds.
    #[error("schema config {index}: bad {field} period {value:?}")]
    BadPeriod {
        /// Position of the period in `configs:`, from 0.
        index: usize,
        /// `index` or `chunks`.
        field: &'static str,
        /// The period as written.
        value: String,
    },
    /// A period Cortex itself would reject (see [`SchemaConfig::validate`]).
    #[error("schema config {index}: {reason}")]
    Invalid {
        /// Position of the period in `configs:`, from 0.
        index: usize,
        /// Which rule it breaks.
        reason: String,
    },
    /// `configs:` is empty or missing.
    #[error("schema has no period configs")]
    NoPeriods,
}

/// Schema versions; only v9–v11 (daily buckets) can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaVersion {
    /// Daily buckets, no row shards.
    V9,
    /// Daily buckets, row shards.
    V10,
    /// As v10, plus series→label-names entries.
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
    /// Whether we can read indexes of this version (v9–v11).
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
    /// Bigtable (`gcp`, `bigtable`, `gcp-columnkey`, `bigtable-hashed`).
    Bigtable(BigtableLayout),
    /// DynamoDB (`aws`, `aws-dynamo`).
    DynamoDb,
    /// Cassandra: recognised so it can be refused by name; not readable.
    Cassandra,
    /// Any other `store` value, as written.
    Other(String),
}

impl IndexStore {
    /// Cortex's `store` names; unknown ones become [`IndexStore::Other`].
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
    /// Google Cloud Storage (`gcs`).
    Gcs,
    /// S3 (`s3`, `aws`).
    S3,
    /// A local directory (`filesystem`).
    Filesystem,
    /// Chunks in the index store's own chunk tables (Bigtable, DynamoDB, Cassandra).
    IndexStore(IndexStore),
    /// Any other store name, as written.
    Other(String),
}

/// A set of time-sharded tables: `prefix` + `floor(t / period)`, or just
/// `prefix` when the period is 0.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeriodicTableConfig {
    /// Table name prefix, e.g. `index_`.
    pub prefix: String,
    /// Seconds each table covers; 0: one table named `prefix`.
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
    /// The index store name as written (see [`IndexStore::parse`]).
    pub store: String,
    /// Empty means "the index store".
    pub object_store: String,
    /// Index schema version.
    pub schema: SchemaVersion,
    /// Index tables.
    pub index: PeriodicTableConfig,
    /// Chunk tables, when chunks live in the index store.
    pub chunks: PeriodicTableConfig,
    /// Defaulted as Cortex does: 16 for v10+, 0 for v9 and older.
    pub row_shards: u32,
}

impl PeriodConfig {
    /// Start of the period in ms since the epoch.
    pub fn from_ms(&self) -> i64 {
        self.from_day * DAY_SECS * 1000
    }
    /// Where the period's index lives.
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
    /// The index table holding entries of time `t_ms`.
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
    /// Periods, oldest first.
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

/// `storage.bigtable`: the instance holding index (and maybe chunk) tables.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct BigtableConfig {
    /// Google Cloud project ID.
    pub project: String,
    /// Bigtable instance ID.
    pub instance: String,
}

/// `storage.aws.dynamodb`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct DynamoDbConfig {
    /// `dynamodb://region/`, or an http(s) URL with credentials and endpoint.
    pub dynamodb_url: Option<String>,
}

/// `storage.aws`: DynamoDB for the index, S3 for chunks.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct AwsConfig {
    /// Where the DynamoDB tables are.
    pub dynamodb: DynamoDbConfig,
    /// `s3://region/bucket` or an http(s) URL whose path is the bucket.
    pub s3: Option<String>,
    /// Path-style S3 URLs (`endpoint/bucket/key`), for S3-compatible stores.
    pub s3forcepathstyle: bool,
    /// Comma-separated buckets; chunks spread by [`crate::s3_bucket_index`].
    pub bucketnames: Option<String>,
}

/// `storage.gcs`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct GcsConfig {
    /// The bucket holding chunk objects.
    pub bucket_name: String,
}

/// `storage.filesystem`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct FilesystemConfig {
    /// The directory holding chunk objects (file names: [`crate::filesystem_file_name`]).
    pub directory: String,
}

/// The `storage:` section (only the backends we read).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    /// `storage.engine` (`chunks` or `blocks`) as written; informational.
    pub engine: Option<String>,
    /// `storage.bigtable`.
    pub bigtable: Option<BigtableConfig>,
    /// `storage.aws`.
    pub aws: Option<AwsConfig>,
    /// `storage.gcs`.
    pub gcs: Option<GcsConfig>,
    /// `storage.filesystem`.
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
    /// Schema periods (`schema.configs` or a bare `configs`).
    pub schema: SchemaConfig,
    /// Store locations (`storage`).
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
pub(crate) fn parse_day(s: &str) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    Some((d - epoch).num_days())
}

/// A Prometheus `model.Duration` (`168h`, `1w`, `7d`, `1h30m`, `0s`) in
/// whole seconds; sub-second parts must sum to whole seconds.
pub(crate) fn parse_duration_secs(s: &str) -> Option<i64> {
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
            "d" => DAY_MS,
            "w" => 7 * DAY_MS,
            "y" => 365 * DAY_MS,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total_ms = total_ms.checked_add(n.checked_mul(unit_ms)?)?;
    }
    (total_ms % 1000 == 0).then_some(total_ms / 1000)
}

#[cfg(test)]
mod tests;
