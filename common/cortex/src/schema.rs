//! The Cortex chunk index, schemas v9, v10 and v11 (`pkg/chunk/schema*.go`).
//!
//! An index entry is (table, hash value, range value, value). Cortex writes,
//! per chunk and per UTC day the chunk touches: a series→chunk entry, and the
//! series' label entries (metric→series, metric+label→series, and in v11
//! series→label names). This module computes those entries exactly as Cortex
//! does (to check our understanding against real indexes and to write test
//! indexes), classifies and parses entries read back (what the scanner
//! needs), and maps entries to Bigtable cells in each row layout.
//!
//! It does not read any store.

use base::DAY_MS;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::config::{BigtableLayout, PeriodConfig, SchemaVersion};
use super::object::write_json_string;

/// The label holding the metric name, indexed apart from the others.
pub const METRIC_NAME: &str = "__name__";

// Range-value type markers: the byte before a range value's final `\0`.
/// Series→chunk entries.
pub const CHUNK_TIME_RANGE_KEY_V3: u8 = b'3';
/// Metric→series entries.
pub const SERIES_RANGE_KEY_V1: u8 = b'7';
/// Metric+label→series entries.
pub const LABEL_SERIES_RANGE_KEY_V1: u8 = b'8';
/// Series→label-names entries (v11).
pub const LABEL_NAMES_RANGE_KEY_V1: u8 = b'9';

/// Why index entries cannot be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// A schema version other than v9–v11, as written.
    #[error("schema {0:?} is not supported (only v9, v10, v11)")]
    Unsupported(String),
    /// A v10/v11 period with `row_shards: 0`; names the version.
    #[error("schema {0} needs row_shards > 0")]
    NoRowShards(&'static str),
    /// A series→chunk entry that does not parse.
    #[error("series-to-chunk entry with hash value {hash:?}: {reason}")]
    BadSeriesChunkEntry {
        /// The entry's hash value.
        hash: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Go's `strconv.Quote`, used inside Cortex's `labelsString`.
///
/// Go decides "printable" with Unicode tables we do not carry; this treats
/// control, format, private-use and non-ASCII space characters as
/// non-printable, which matches Go for every assigned character used in
/// label values in practice (unassigned code points may differ).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if go_printable(c) => out.push(c),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

fn go_printable(c: char) -> bool {
    let u = c as u32;
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(u, 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e | 0x200b..=0x200f
            | 0x2028..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb
            | 0xe000..=0xf8ff | 0xf0000.. | 0xfdd0..=0xfdef)
        || (u & 0xfffe) == 0xfffe)
}

/// Cortex's `labelsString`: the metric name alone if it is the only label,
/// else `name{l1="v1", l2="v2"}` over the labels in the given order,
/// skipping `__name__`.
pub fn labels_string(labels: &[(&str, &str)]) -> String {
    let name = labels
        .iter()
        .find(|(n, _)| *n == METRIC_NAME)
        .map_or("", |(_, v)| v);
    if !name.is_empty() && labels.len() == 1 {
        return name.to_string();
    }
    let mut b = String::with_capacity(256);
    b.push_str(name);
    b.push('{');
    let mut first = true;
    for (n, v) in labels.iter().filter(|(n, _)| *n != METRIC_NAME) {
        if !first {
            b.push_str(", ");
        }
        first = false;
        b.push_str(n);
        b.push('=');
        b.push_str(&go_quote(v));
    }
    b.push('}');
    b
}

fn sha256_b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(data))
}

/// The series ID: unpadded std base64 of SHA-256 of [`labels_string`].
pub fn series_id(labels: &[(&str, &str)]) -> String {
    sha256_b64(labels_string(labels).as_bytes())
}

/// The label value hash used in metric+label→series range values.
pub fn value_hash(value: &str) -> String {
    sha256_b64(value.as_bytes())
}

/// The v10+ row shard of a series: first 4 bytes of the ID *text*, BE, mod n.
pub fn row_shard(series_id: &str, row_shards: u32) -> u32 {
    let mut b = [0u8; 4];
    for (d, s) in b.iter_mut().zip(series_id.bytes()) {
        *d = s;
    }
    u32::from_be_bytes(b) % row_shards.max(1)
}

/// `encodeTime`: a u32 as 8 lowercase hex digits.
pub fn encode_time(t: u32) -> String {
    format!("{t:08x}")
}

/// `encodeRangeKey`: each component followed by `\0`, then type and `\0`.
pub fn encode_range_key(key_type: u8, components: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(components.iter().map(|c| c.len() + 1).sum::<usize>() + 2);
    for c in components {
        out.extend_from_slice(c);
        out.push(0);
    }
    out.extend_from_slice(&[key_type, 0]);
    out
}

/// Splits a range value into its components and type byte; `None` if it
/// is not `c1\0...cn\0T\0`.
pub fn decode_range_key(range: &[u8]) -> Option<(Vec<&[u8]>, u8)> {
    let [body @ .., 0, key_type, 0] = range else {
        return None;
    };
    Some((body.split(|&b| b == 0).collect(), *key_type))
}

/// What an index entry is, by its range-value suffix (the scanner's order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// Metric name → series ID.
    MetricToSeries,
    /// Metric name and label value → series ID.
    MetricLabelToSeries,
    /// Series ID → its label names (v11).
    SeriesToLabelNames,
    /// Series ID → chunk ID: what plans are made of.
    SeriesToChunk,
    /// Anything else: the last two bytes, as Cortex's `unknown-<hex>` metric label.
    Unknown([u8; 2]),
}

/// The kind of the entry with range value `range`.
pub fn classify(range: &[u8]) -> EntryKind {
    match range {
        [.., 0, SERIES_RANGE_KEY_V1, 0] => EntryKind::MetricToSeries,
        [.., 0, LABEL_SERIES_RANGE_KEY_V1, 0] => EntryKind::MetricLabelToSeries,
        [.., 0, LABEL_NAMES_RANGE_KEY_V1, 0] => EntryKind::SeriesToLabelNames,
        [.., 0, CHUNK_TIME_RANGE_KEY_V3, 0] => EntryKind::SeriesToChunk,
        [.., a, b] => EntryKind::Unknown([*a, *b]),
        [a] => EntryKind::Unknown([0, *a]),
        [] => EntryKind::Unknown([0, 0]),
    }
}

/// A series→chunk entry, parsed as Cortex's scanner does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesChunkEntry {
    /// Tenant.
    pub user: String,
    /// The daily bucket, unix days.
    pub day_index: i32,
    /// The series ID ([`series_id`]).
    pub series_id: String,
    /// The chunk's external key.
    pub chunk_id: String,
}

/// Parses a series→chunk entry: hash `<user>:d<day>:<sid>` (the user may
/// contain `:`), range `through\0\0<chunkID>\0 3 \0`.
pub fn parse_series_chunk_entry(hash: &str, range: &[u8]) -> Result<SeriesChunkEntry, SchemaError> {
    let bad = |reason| SchemaError::BadSeriesChunkEntry {
        hash: hash.to_string(),
        reason,
    };
    let (comps, kind) = decode_range_key(range).ok_or_else(|| bad("malformed range value"))?;
    if kind != CHUNK_TIME_RANGE_KEY_V3 {
        return Err(bad("range value is not a series-to-chunk entry"));
    }
    let chunk_id = comps
        .get(2)
        .and_then(|c| std::str::from_utf8(c).ok())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("range value has no chunk ID"))?;
    let mut parts = hash.rsplitn(3, ':');
    let (Some(sid), Some(day), Some(user)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("hash value is not <user>:d<day>:<series>"));
    };
    let day_index = day
        .strip_prefix('d')
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| bad("hash value has no daily bucket d<N>"))?;
    Ok(SeriesChunkEntry {
        user: user.to_string(),
        day_index,
        series_id: sid.to_string(),
        chunk_id: chunk_id.to_string(),
    })
}

/// One index entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndexEntry {
    /// The index table (see [`crate::PeriodConfig::index_table_for`]).
    pub table: String,
    /// Hash value: the row (DynamoDB hash key).
    pub hash: String,
    /// Range value: the column (DynamoDB range key).
    pub range: Vec<u8>,
    /// Cell value; empty for most entries.
    pub value: Vec<u8>,
}

/// A day bucket a chunk is indexed in (`dailyBuckets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// The day, unix days.
    pub day_index: i64,
    /// ms of the chunk's from relative to the day start, clamped to the day.
    pub from: u32,
    /// ms of the chunk's through relative to the day start, clamped to the day.
    pub through: u32,
    /// The index table of the day.
    pub table: String,
    /// `<user>:d<day>`.
    pub hash_key: String,
}

/// Every day bucket from `from_ms` to `through_ms` (inclusive).
pub fn daily_buckets(
    period: &PeriodConfig,
    user: &str,
    from_ms: i64,
    through_ms: i64,
) -> Vec<Bucket> {
    let first = from_ms.div_euclid(DAY_MS);
    let last = through_ms.div_euclid(DAY_MS);
    (first..=last)
        .map(|i| Bucket {
            day_index: i,
            from: (from_ms - i * DAY_MS).max(0) as u32,
            through: (through_ms - i * DAY_MS).min(DAY_MS) as u32,
            table: period.index_table_for(i * DAY_MS),
            hash_key: format!("{user}:d{i}"),
        })
        .collect()
}

fn shards(period: &PeriodConfig) -> Result<Option<u32>, SchemaError> {
    match &period.schema {
        SchemaVersion::V9 => Ok(None),
        SchemaVersion::V10 | SchemaVersion::V11 if period.row_shards == 0 => Err(
            SchemaError::NoRowShards(if period.schema == SchemaVersion::V10 {
                "v10"
            } else {
                "v11"
            }),
        ),
        SchemaVersion::V10 | SchemaVersion::V11 => Ok(Some(period.row_shards)),
        SchemaVersion::Unsupported(s) => Err(SchemaError::Unsupported(s.clone())),
    }
}

/// All entries Cortex writes for one chunk (`labels` in the chunk's stored
/// order): label entries and the series→chunk entry, in every day bucket.
pub fn chunk_entries(
    period: &PeriodConfig,
    user: &str,
    from_ms: i64,
    through_ms: i64,
    labels: &[(&str, &str)],
    chunk_id: &str,
) -> Result<Vec<IndexEntry>, SchemaError> {
    let shards = shards(period)?;
    let sid = series_id(labels);
    let metric = labels
        .iter()
        .find(|(n, _)| *n == METRIC_NAME)
        .map_or("", |(_, v)| v);
    let others: Vec<&(&str, &str)> = labels.iter().filter(|(n, _)| *n != METRIC_NAME).collect();
    let dash = b"-".to_vec();
    let mut out = Vec::new();
    for b in daily_buckets(period, user, from_ms, through_ms) {
        let entry = |hash: String, range: Vec<u8>, value: Vec<u8>| IndexEntry {
            table: b.table.clone(),
            hash,
            range,
            value,
        };
        let prefix = match shards {
            None => b.hash_key.clone(),
            Some(n) => format!("{:02}:{}", row_shard(&sid, n), b.hash_key),
        };
        out.push(entry(
            format!("{prefix}:{metric}"),
            encode_range_key(SERIES_RANGE_KEY_V1, &[sid.as_bytes(), b"", b""]),
            dash.clone(),
        ));
        if period.schema == SchemaVersion::V11 {
            let mut names = b"[".to_vec();
            for (i, (n, _)) in others.iter().enumerate() {
                if i > 0 {
                    names.push(b',');
                }
                write_json_string(&mut names, n);
            }
            names.push(b']');
            out.push(entry(
                sid.clone(),
                encode_range_key(LABEL_NAMES_RANGE_KEY_V1, &[b"", b"", b""]),
                names,
            ));
        }
        for (n, v) in &others {
            out.push(entry(
                format!("{prefix}:{metric}:{n}"),
                encode_range_key(
                    LABEL_SERIES_RANGE_KEY_V1,
                    &[value_hash(v).as_bytes(), sid.as_bytes(), b""],
                ),
                v.as_bytes().to_vec(),
            ));
        }
        out.push(entry(
            format!("{}:{sid}", b.hash_key),
            encode_range_key(
                CHUNK_TIME_RANGE_KEY_V3,
                &[encode_time(b.through).as_bytes(), b"", chunk_id.as_bytes()],
            ),
            if shards.is_none() {
                Vec::new()
            } else {
                dash.clone()
            },
        ));
    }
    Ok(out)
}

/// `HashPrefix`: 16 hex digits of the little-endian FNV-1a 64 of the hash.
pub fn hash_prefix(hash: &str) -> String {
    let h = base::fnv1a64(hash.as_bytes());
    h.to_le_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// The Bigtable (row key, column qualifier in family `f`) of an entry.
pub fn bigtable_cell(layout: BigtableLayout, hash: &str, range: &[u8]) -> (Vec<u8>, Vec<u8>) {
    match layout {
        BigtableLayout::Gcp => {
            let mut row = hash.as_bytes().to_vec();
            row.push(0);
            row.extend_from_slice(range);
            (row, b"c".to_vec())
        }
        BigtableLayout::ColumnKey => (hash.as_bytes().to_vec(), range.to_vec()),
        BigtableLayout::Hashed => (
            format!("{}-{hash}", hash_prefix(hash)).into_bytes(),
            range.to_vec(),
        ),
    }
}

/// Recovers (hash, range) from a Bigtable cell in any layout, as Cortex's
/// scanner does: a valid hash prefix is stripped; else a `\0` in the row key
/// splits hash and range (`gcp`); else the qualifier is the range.
pub fn parse_bigtable_cell<'a>(row_key: &'a [u8], qualifier: &'a [u8]) -> (&'a [u8], &'a [u8]) {
    if row_key.len() > 16 && row_key[16] == b'-' {
        let rest = &row_key[17..];
        if let Ok(s) = std::str::from_utf8(rest) {
            if row_key[..16] == *hash_prefix(s).as_bytes() {
                return (rest, qualifier);
            }
        }
    }
    match row_key.iter().position(|&b| b == 0) {
        Some(ix) if ix > 0 => (&row_key[..ix], &row_key[ix + 1..]),
        _ => (row_key, qualifier),
    }
}

#[cfg(test)]
mod tests;
