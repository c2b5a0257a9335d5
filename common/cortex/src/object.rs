//! Cortex chunk objects: the bytes a chunk store holds for one chunk ID.
//!
//! Layout (`pkg/chunk/chunk.go`): a 4-byte big-endian metadata length; the
//! metadata, a JSON object followed by `\n`, compressed in the snappy
//! *framing* format; a 4-byte big-endian data length; the data section of
//! the chunk's [`Encoding`]. The metadata length counts either itself plus
//! the frames (current writers) or the frames alone (old writers); both are
//! accepted, as Cortex does. The CRC-32C of the whole object is the last part
//! of the chunk ID; there is no checksum inside the object.
//!
//! Only reading: objects are written, for test data, by `cortex-testgen`
//! (which needs Go's snappy encoder to reproduce Cortex's bytes). Nothing
//! here fetches.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::encoding::{self, Encoding, EncodingError, Sample};
use super::key::ChunkKey;
use super::snappy_frame;
use base::{Labels, LabelsError};

/// The metadata of a chunk object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkMetadata {
    /// The series' label fingerprint as Cortex computed it.
    pub fingerprint: u64,
    /// Tenant (`userID`).
    pub user_id: String,
    /// First sample time, ms since the epoch; JSON carries decimal seconds.
    pub from: i64,
    /// Last sample time (inclusive), ms since the epoch.
    pub through: i64,
    /// Label pairs as stored: duplicates kept, order as in the JSON.
    pub metric: Vec<(String, String)>,
    /// As stored; [`Encoding::Delta`] (or a missing field) is read as DoubleDelta.
    pub encoding: Encoding,
}

/// A decoded chunk object: metadata and the raw data section.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkObject {
    /// The decoded metadata JSON.
    pub meta: ChunkMetadata,
    /// The data section, in the encoding `meta.encoding` names.
    pub data: Vec<u8>,
}

/// What is wrong with a chunk object (without saying which one).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ObjectErrorKind {
    /// The CRC-32C of the bytes is not the one in the chunk ID.
    #[error("invalid chunk checksum: key says {expected:08x}, object has {actual:08x}")]
    Checksum {
        /// From the chunk ID.
        expected: u32,
        /// Of the fetched bytes.
        actual: u32,
    },
    /// The object ends inside the named part.
    #[error("object truncated: {0}")]
    Truncated(&'static str),
    /// The snappy-framed metadata does not decode.
    #[error("metadata snappy stream: {0}")]
    Snappy(String),
    /// The metadata is not the JSON object Cortex writes.
    #[error("metadata JSON: {0}")]
    Json(String),
    /// The metadata length word matches neither length convention.
    #[error(
        "chunk metadata wrong length: length word says {declared}, metadata took {read} bytes"
    )]
    MetadataLength {
        /// The length word.
        declared: u32,
        /// Bytes the frames took.
        read: usize,
    },
    /// The data length word is not the number of bytes after it.
    #[error("chunk data wrong length: length word says {declared}, {remaining} bytes follow")]
    DataLength {
        /// The length word.
        declared: u32,
        /// Bytes after it.
        remaining: usize,
    },
    /// An `encoding` number Cortex never registered.
    #[error("unknown chunk encoding {0}")]
    UnknownEncoding(u64),
    /// The metadata names another chunk than the key.
    #[error("wrong chunk metadata: {field} is {object} in the object, {key} in the key")]
    WrongMetadata {
        /// `user`, `fingerprint`, `from` or `through`.
        field: &'static str,
        /// The value in the chunk ID.
        key: String,
        /// The value in the metadata.
        object: String,
    },
    /// The data section does not decode.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// The metadata's labels cannot be normalised.
    #[error("labels: {0}")]
    Labels(#[from] LabelsError),
}

/// A chunk object error naming the chunk.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("chunk {key}: {kind}")]
pub struct ObjectError {
    /// The chunk's external key.
    pub key: String,
    /// What is wrong.
    pub kind: ObjectErrorKind,
}

impl ObjectError {
    fn new(key: &ChunkKey, kind: impl Into<ObjectErrorKind>) -> Self {
        ObjectError {
            key: key.external_key(),
            kind: kind.into(),
        }
    }
}

/// Decodes the object fetched for `key` and checks it is that chunk: the
/// CRC-32C when the key has one, then user, fingerprint, from and through.
/// Legacy keys (no checksum) are not compared, as in Cortex.
pub fn decode_object(key: &ChunkKey, bytes: &[u8]) -> Result<ChunkObject, ObjectError> {
    if let Some(expected) = key.checksum {
        let actual = crc32c::crc32c(bytes);
        if actual != expected {
            return Err(ObjectError::new(
                key,
                ObjectErrorKind::Checksum { expected, actual },
            ));
        }
    }
    let obj = parse_object(bytes).map_err(|k| ObjectError::new(key, k))?;
    if key.checksum.is_some() {
        let m = &obj.meta;
        let mismatch = |field, k: String, o: String| {
            Err(ObjectError::new(
                key,
                ObjectErrorKind::WrongMetadata {
                    field,
                    key: k,
                    object: o,
                },
            ))
        };
        if m.user_id != key.user {
            return mismatch(
                "userID",
                format!("{:?}", key.user),
                format!("{:?}", m.user_id),
            );
        }
        if m.fingerprint != key.fingerprint {
            return mismatch(
                "fingerprint",
                format!("{:x}", key.fingerprint),
                format!("{:x}", m.fingerprint),
            );
        }
        if m.from != key.from {
            return mismatch("from", key.from.to_string(), m.from.to_string());
        }
        if m.through != key.through {
            return mismatch("through", key.through.to_string(), m.through.to_string());
        }
    }
    Ok(obj)
}

fn be_u32(bytes: &[u8], at: usize, what: &'static str) -> Result<u32, ObjectErrorKind> {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or(ObjectErrorKind::Truncated(what))
}

/// Parses an object without knowing its key (no checksum or identity check).
pub fn parse_object(bytes: &[u8]) -> Result<ChunkObject, ObjectErrorKind> {
    let declared = be_u32(bytes, 0, "no metadata length")?;
    let (parsed, consumed) =
        snappy_frame::decode_until(&bytes[4..], parse_meta).map_err(ObjectErrorKind::Snappy)?;
    let read = 4 + consumed;
    if !(read as u64 == u64::from(declared) || read as u64 == u64::from(declared) + 4) {
        return Err(ObjectErrorKind::MetadataLength { declared, read });
    }
    let raw = parsed.map_err(ObjectErrorKind::Json)?;
    let encoding = u8::try_from(raw.encoding)
        .ok()
        .and_then(Encoding::from_id)
        .ok_or(ObjectErrorKind::UnknownEncoding(raw.encoding))?;
    let data_len = be_u32(bytes, read, "no data length")?;
    let data = &bytes[read + 4..];
    if data_len as usize != data.len() {
        return Err(ObjectErrorKind::DataLength {
            declared: data_len,
            remaining: data.len(),
        });
    }
    Ok(ChunkObject {
        meta: ChunkMetadata {
            fingerprint: raw.fingerprint,
            user_id: raw.user_id,
            from: raw.from.0,
            through: raw.through.0,
            metric: raw.metric.0,
            encoding,
        },
        data: data.to_vec(),
    })
}

/// The metadata, once `buf` (the frames decoded so far) holds a complete
/// JSON value, so the snappy reader stops where Go's JSON decoder stopped
/// reading; `None` while it does not. A complete value that is malformed
/// or not metadata (or followed by more than whitespace) is its error:
/// more frames would not help. One parse in the usual case: only a
/// failed parse asks whether the value was complete.
fn parse_meta(buf: &[u8]) -> Option<Result<RawMeta, String>> {
    let mut de = serde_json::Deserializer::from_slice(buf);
    match RawMeta::deserialize(&mut de).and_then(|m| de.end().map(|()| m)) {
        Ok(m) => Some(Ok(m)),
        Err(e) if e.is_eof() => None,
        // A value refused before its end (a string where a time goes) may
        // still be incomplete: wait for its end, as Go's decoder would.
        Err(e) => json_complete(buf).then(|| Err(e.to_string())),
    }
}

/// Whether `buf` holds one complete JSON value (trailing bytes allowed). A
/// malformed (not merely incomplete) value counts as complete.
fn json_complete(buf: &[u8]) -> bool {
    let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<de::IgnoredAny>();
    match it.next() {
        None => false,
        Some(Ok(_)) => true,
        Some(Err(e)) => !e.is_eof(),
    }
}

impl ChunkObject {
    /// The samples of the data section, in the chunk's order.
    pub fn samples(&self) -> Result<Vec<Sample>, EncodingError> {
        encoding::decode(self.meta.encoding, &self.data)
    }

    /// The metric as a normalised label set (see [`Labels::normalize`]).
    pub fn labels(&self) -> Result<Labels, LabelsError> {
        Labels::normalize(
            self.meta
                .metric
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str())),
        )
    }
}

/// Decodes the object for `key` and its samples; every error names the key.
pub fn decode_samples(
    key: &ChunkKey,
    bytes: &[u8],
) -> Result<(ChunkObject, Vec<Sample>), ObjectError> {
    let obj = decode_object(key, bytes)?;
    let samples = obj.samples().map_err(|e| ObjectError::new(key, e))?;
    Ok((obj, samples))
}

#[derive(Deserialize)]
struct RawMeta {
    #[serde(default)]
    fingerprint: u64,
    #[serde(default, rename = "userID")]
    user_id: String,
    from: GoTime,
    through: GoTime,
    #[serde(default)]
    metric: Pairs,
    #[serde(default)]
    encoding: u64,
}

/// A `model.Time` in JSON: decimal seconds.
struct GoTime(i64);

impl<'de> Deserialize<'de> for GoTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = GoTime;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a time in decimal seconds")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<GoTime, E> {
                i64::try_from(v)
                    .ok()
                    .and_then(|v| v.checked_mul(1000))
                    .map(GoTime)
                    .ok_or_else(|| E::custom("time out of range"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<GoTime, E> {
                v.checked_mul(1000)
                    .map(GoTime)
                    .ok_or_else(|| E::custom("time out of range"))
            }
            // Cortex writes at most 3 decimals; the nearest f64 to such a
            // decimal is within far less than half a ms of it (for any time
            // within ±285,000 years), so rounding recovers the exact ms.
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<GoTime, E> {
                let ms = (v * 1000.0).round();
                if ms.is_finite() && ms.abs() < 9.0e18 {
                    Ok(GoTime(ms as i64))
                } else {
                    Err(E::custom("time out of range"))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A JSON object of string pairs whose repeated names are all kept.
#[derive(Default)]
struct Pairs(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of label names to values")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Pairs, E> {
                Ok(Pairs::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Pairs, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, String>()? {
                    out.push((k, v));
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Appends `s` as jsoniter's `WriteString` does with HTML escaping off:
/// only `"`, `\` and bytes below 0x20 are escaped; other bytes go raw.
/// Cortex writes label names (v11 index entries) and chunk metadata this
/// way; public for `cortex-testgen`, which writes the metadata.
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}
