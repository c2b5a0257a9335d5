//! A block's `meta.json`: Prometheus' `BlockMeta` (`tsdb/block.go`) with the
//! `thanos` section of Thanos' `pkg/block/metadata/meta.go`.
//!
//! Written in the exact shape Go produces: the same field names and order,
//! Go's `omitempty` rules, tab indentation, Go's string escaping and the
//! trailing newline of Thanos' `json.Encoder`, so that our meta.json files
//! match those of Cortex's blocksconvert byte for byte. Reading is lenient
//! like Go's: unknown fields (`numFloatSamples`, `parents`, `index_stats`, ...)
//! and `null` lists are accepted.
//!
//! This module does not compute the statistics or file lists it carries; the
//! block writer does.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};
use ulid::Ulid;

/// File name of the block metadata.
pub const META_FILENAME: &str = "meta.json";

/// The only meta.json format version Prometheus reads.
pub(crate) const META_VERSION_1: u32 = 1;

/// Why a meta.json could not be read.
#[allow(
    missing_docs,
    reason = "each variant's #[error] message documents it and its fields"
)]
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{what}: invalid block meta")]
    Parse {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{what}: unsupported meta.json version {version} (want {META_VERSION_1})")]
    Version { what: String, version: u32 },
}

/// Prometheus' `BlockMeta`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// The block's id, also its directory name.
    #[serde(with = "ulid_text")]
    pub ulid: Ulid,
    /// Inclusive start of the block (ms).
    #[serde(rename = "minTime", default)]
    pub min_time: i64,
    /// Exclusive end of the block (ms).
    #[serde(rename = "maxTime", default)]
    pub max_time: i64,
    /// Counts of what the block holds.
    #[serde(default)]
    pub stats: BlockStats,
    /// Compaction level and source blocks (level 1, itself, for ours).
    #[serde(default)]
    pub compaction: Compaction,
    /// meta.json format version, always [`META_VERSION_1`].
    #[serde(default)]
    pub version: u32,
    /// The Thanos section; Cortex and Thanos need its external labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thanos: Option<ThanosMeta>,
}

/// Block statistics; zero counts are left out of the JSON, as Go does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockStats {
    /// Samples in all chunks.
    #[serde(rename = "numSamples", default, skip_serializing_if = "is_zero")]
    pub num_samples: u64,
    /// Series in the index.
    #[serde(rename = "numSeries", default, skip_serializing_if = "is_zero")]
    pub num_series: u64,
    /// Chunks in the segment files.
    #[serde(rename = "numChunks", default, skip_serializing_if = "is_zero")]
    pub num_chunks: u64,
}

/// Prometheus' `BlockMetaCompaction` (the fields blocksconvert uses).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compaction {
    /// 1 for a block no compactor has touched.
    #[serde(default)]
    pub level: u32,
    /// The level-1 blocks this one was compacted from (itself at level 1).
    #[serde(
        with = "ulid_text::list",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub sources: Vec<Ulid>,
}

/// The `thanos` section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThanosMeta {
    /// Thanos meta version. 0 means absent, which Thanos reads as 1 and which
    /// is what Cortex's blocksconvert wrote; it is left out of the JSON.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub version: u32,
    /// External labels, e.g. `__org_id__` for the tenant.
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// Downsampling of the block; raw data for ours.
    #[serde(default)]
    pub downsample: Downsample,
    /// Who made the block, e.g. "blocksconvert".
    #[serde(default)]
    pub source: String,
    /// Deprecated by Thanos in favour of `files`; left out when empty.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub segment_files: Vec<String>,
    /// Every file of the block, sorted by path; left out when empty.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub files: Vec<ThanosFile>,
}

/// `thanos.downsample`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Downsample {
    /// Resolution in ms; 0 for raw, not downsampled data.
    #[serde(default)]
    pub resolution: i64,
}

/// One entry of `thanos.files`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThanosFile {
    /// Path inside the block directory, e.g. `chunks/000001`.
    pub rel_path: String,
    /// `None` for meta.json itself. Go's `omitempty` also drops a size of 0,
    /// so `Some(0)` is written like `None`.
    #[serde(default, skip_serializing_if = "size_is_empty")]
    pub size_bytes: Option<u64>,
}

fn is_zero<T: Default + PartialEq>(x: &T) -> bool {
    *x == T::default()
}

fn size_is_empty(s: &Option<u64>) -> bool {
    matches!(s, None | Some(0))
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// ULIDs as their 26-character text, like Go's `ulid.ULID` marshals them.
mod ulid_text {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    use ulid::Ulid;

    pub(super) fn serialize<S: Serializer>(u: &Ulid, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(u)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Ulid, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(D::Error::custom)
    }

    fn parse(text: &str) -> Result<Ulid, String> {
        Ulid::from_string(text).map_err(|e| format!("invalid ULID {text:?}: {e}"))
    }

    pub(super) mod list {
        use super::*;

        pub(in super::super) fn serialize<S: Serializer>(
            v: &[Ulid],
            s: S,
        ) -> Result<S::Ok, S::Error> {
            s.collect_seq(v.iter().map(|u| u.to_string()))
        }

        pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Vec<Ulid>, D::Error> {
            let texts = Option::<Vec<String>>::deserialize(d)?.unwrap_or_default();
            texts
                .iter()
                .map(|t| parse(t).map_err(D::Error::custom))
                .collect()
        }
    }
}

impl BlockMeta {
    /// The meta.json bytes, as Thanos writes them: Go's
    /// `json.Encoder` with `SetIndent("", "\t")` (that is, `MarshalIndent`
    /// output plus a newline).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
        // Only strings, integers and string-keyed maps: writing them to memory
        // has no way to fail.
        self.serialize(&mut ser)
            .expect("serializing a BlockMeta to memory cannot fail");
        let mut out = go_escape(&out);
        out.push(b'\n');
        out
    }

    /// Parses meta.json bytes; unknown fields are ignored.
    pub fn from_json(b: &[u8]) -> Result<Self, MetaError> {
        Self::parse(b, "meta.json")
    }

    /// Reads `<dir>/meta.json`.
    pub fn read(dir: &Path) -> Result<Self, MetaError> {
        let path = dir.join(META_FILENAME);
        let b = fs::read(&path).map_err(|source| MetaError::Io {
            path: path.clone(),
            source,
        })?;
        Self::parse(&b, &path.display().to_string())
    }

    /// Writes `<dir>/meta.json` atomically (temporary file, fsync, rename,
    /// directory fsync) and returns its size.
    pub fn write_to_dir(&self, dir: &Path) -> Result<u64, MetaError> {
        self.write_to_dir_with(dir, true)
    }

    /// As [`BlockMeta::write_to_dir`]; without `durable`, nothing is
    /// fsynced (the rename still makes the file appear whole).
    pub fn write_to_dir_with(&self, dir: &Path, durable: bool) -> Result<u64, MetaError> {
        let path = dir.join(META_FILENAME);
        let tmp = dir.join(format!("{META_FILENAME}.tmp"));
        let bytes = self.to_json();
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| MetaError::Io { path, source }
        };
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&bytes).map_err(io_err(&tmp))?;
        if durable {
            f.sync_all().map_err(io_err(&tmp))?;
        }
        drop(f);
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        if durable {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_err(dir))?;
        }
        Ok(bytes.len() as u64)
    }

    fn parse(b: &[u8], what: &str) -> Result<Self, MetaError> {
        let meta: BlockMeta = serde_json::from_slice(b).map_err(|source| MetaError::Parse {
            what: what.to_string(),
            source,
        })?;
        // Prometheus refuses any other version, so a block we accept would
        // otherwise fail later in Prometheus.
        if meta.version != META_VERSION_1 {
            return Err(MetaError::Version {
                what: what.to_string(),
                version: meta.version,
            });
        }
        Ok(meta)
    }
}

/// Turns serde_json's string escapes into Go's: Go also escapes `<`, `>`,
/// `&`, U+2028 and U+2029, and (up to Go 1.21, which built Prometheus 2.42
/// and Cortex) writes backspace and form feed as `\u0008` and `\u000c`.
///
/// None of these bytes can occur outside strings in JSON, and a backslash
/// always starts an escape, so a byte scan is enough.
fn go_escape(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + 16);
    let mut i = 0;
    while i < json.len() {
        let b = json[i];
        match b {
            b'\\' => {
                match json.get(i + 1) {
                    Some(b'b') => out.extend_from_slice(br"\u0008"),
                    Some(b'f') => out.extend_from_slice(br"\u000c"),
                    Some(&c) => out.extend_from_slice(&[b'\\', c]),
                    None => out.push(b'\\'),
                }
                i += 2;
                continue;
            }
            b'<' => out.extend_from_slice(br"\u003c"),
            b'>' => out.extend_from_slice(br"\u003e"),
            b'&' => out.extend_from_slice(br"\u0026"),
            0xE2 if json.get(i + 1) == Some(&0x80)
                && matches!(json.get(i + 2), Some(0xA8 | 0xA9)) =>
            {
                let last = if json[i + 2] == 0xA8 { b'8' } else { b'9' };
                out.extend_from_slice(br"\u202");
                out.push(last);
                i += 3;
                continue;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = "/work/shared/fixtures/cortex";

    /// meta.json written by Cortex v1.11.1 blocksconvert (fixture v9-bigtable-doubledelta, tenant alpha).
    const CORTEX_META: &str = "{\n\t\"ulid\": \"01M807KPXKC31FM1GY7H31PRVK\",\n\t\"minTime\": 1794873600000,\n\t\"maxTime\": 1794960000000,\n\t\"stats\": {\n\t\t\"numSamples\": 29373,\n\t\t\"numSeries\": 22,\n\t\t\"numChunks\": 245\n\t},\n\t\"compaction\": {\n\t\t\"level\": 1,\n\t\t\"sources\": [\n\t\t\t\"01M807KPXKC31FM1GY7H31PRVK\"\n\t\t]\n\t},\n\t\"version\": 1,\n\t\"thanos\": {\n\t\t\"labels\": {\n\t\t\t\"__org_id__\": \"alpha\"\n\t\t},\n\t\t\"downsample\": {\n\t\t\t\"resolution\": 0\n\t\t},\n\t\t\"source\": \"blocksconvert\",\n\t\t\"files\": [\n\t\t\t{\n\t\t\t\t\"rel_path\": \"chunks/000001\",\n\t\t\t\t\"size_bytes\": 145499\n\t\t\t},\n\t\t\t{\n\t\t\t\t\"rel_path\": \"index\",\n\t\t\t\t\"size_bytes\": 4948\n\t\t\t},\n\t\t\t{\n\t\t\t\t\"rel_path\": \"meta.json\"\n\t\t\t}\n\t\t]\n\t}\n}\n";

    fn ulid(s: &str) -> Ulid {
        Ulid::from_string(s).unwrap()
    }

    fn cortex_meta() -> BlockMeta {
        let id = ulid("01M807KPXKC31FM1GY7H31PRVK");
        BlockMeta {
            ulid: id,
            min_time: 1_794_873_600_000,
            max_time: 1_794_960_000_000,
            stats: BlockStats {
                num_samples: 29373,
                num_series: 22,
                num_chunks: 245,
            },
            compaction: Compaction {
                level: 1,
                sources: vec![id],
            },
            version: META_VERSION_1,
            thanos: Some(ThanosMeta {
                version: 0,
                labels: [("__org_id__".to_string(), "alpha".to_string())].into(),
                downsample: Downsample { resolution: 0 },
                source: "blocksconvert".into(),
                segment_files: vec![],
                files: vec![
                    ThanosFile {
                        rel_path: "chunks/000001".into(),
                        size_bytes: Some(145_499),
                    },
                    ThanosFile {
                        rel_path: "index".into(),
                        size_bytes: Some(4948),
                    },
                    ThanosFile {
                        rel_path: "meta.json".into(),
                        size_bytes: None,
                    },
                ],
            }),
        }
    }

    #[test]
    fn writes_exactly_what_cortex_blocksconvert_wrote() {
        assert_eq!(
            String::from_utf8(cortex_meta().to_json()).unwrap(),
            CORTEX_META
        );
        assert_eq!(
            BlockMeta::from_json(CORTEX_META.as_bytes()).unwrap(),
            cortex_meta()
        );
    }

    #[test]
    fn every_fixture_meta_round_trips_byte_for_byte() {
        let Ok(cases) = fs::read_dir(FIXTURES) else {
            eprintln!("skipping: {FIXTURES} not present");
            return;
        };
        let mut seen = 0;
        for case in cases.flatten() {
            for tenant in fs::read_dir(case.path().join("expected"))
                .into_iter()
                .flatten()
                .flatten()
            {
                for block in fs::read_dir(tenant.path()).into_iter().flatten().flatten() {
                    let path = block.path().join(META_FILENAME);
                    let Ok(raw) = fs::read(&path) else { continue };
                    let meta = BlockMeta::read(&block.path()).unwrap();
                    assert_eq!(meta.to_json(), raw, "{}", path.display());
                    seen += 1;
                }
            }
        }
        assert!(seen > 0, "no meta.json found under {FIXTURES}");
    }

    #[test]
    fn prometheus_meta_with_unknown_fields_is_accepted() {
        let json = r#"{
            "ulid": "01h3xkqc1q8j0y6m3hx1x0z8wq",
            "minTime": -7200000, "maxTime": 0,
            "stats": {"numSamples": 5, "numFloatSamples": 5, "numSeries": 1, "numChunks": 1, "numTombstones": 0},
            "compaction": {"level": 2, "sources": null, "parents": [{"ulid": "01H3XKQC1Q8J0Y6M3HX1X0Z8WQ", "minTime": 0, "maxTime": 1}], "hints": ["x"]},
            "version": 1,
            "thanos": {"version": 1, "labels": null, "downsample": {"resolution": 300000}, "source": "compactor",
                       "segment_files": ["000001"], "files": null, "index_stats": {"series_max_size": 10}, "upload_time": "2023-01-01T00:00:00Z"},
            "future": {"anything": [1, 2]}
        }"#;
        let meta = BlockMeta::from_json(json.as_bytes()).unwrap();
        assert_eq!(meta.ulid.to_string(), "01H3XKQC1Q8J0Y6M3HX1X0Z8WQ");
        assert_eq!(
            (meta.min_time, meta.max_time, meta.compaction.level),
            (-7_200_000, 0, 2)
        );
        assert!(meta.compaction.sources.is_empty());
        let thanos = meta.thanos.unwrap();
        assert_eq!(thanos.version, 1);
        assert!(thanos.labels.is_empty() && thanos.files.is_empty());
        assert_eq!(thanos.segment_files, ["000001"]);
        assert_eq!(thanos.downsample.resolution, 300_000);
    }

    #[test]
    fn go_omitempty_and_empty_shapes() {
        let meta = BlockMeta {
            ulid: ulid("01M807KPXKC31FM1GY7H31PRVK"),
            min_time: 0,
            max_time: 1,
            stats: BlockStats::default(),
            compaction: Compaction {
                level: 1,
                sources: vec![],
            },
            version: 1,
            thanos: Some(ThanosMeta {
                version: 1,
                files: vec![ThanosFile {
                    rel_path: "x".into(),
                    size_bytes: Some(0),
                }],
                ..ThanosMeta::default()
            }),
        };
        let want = "{\n\t\"ulid\": \"01M807KPXKC31FM1GY7H31PRVK\",\n\t\"minTime\": 0,\n\t\"maxTime\": 1,\n\t\"stats\": {},\n\t\"compaction\": {\n\t\t\"level\": 1\n\t},\n\t\"version\": 1,\n\t\"thanos\": {\n\t\t\"version\": 1,\n\t\t\"labels\": {},\n\t\t\"downsample\": {\n\t\t\t\"resolution\": 0\n\t\t},\n\t\t\"source\": \"\",\n\t\t\"files\": [\n\t\t\t{\n\t\t\t\t\"rel_path\": \"x\"\n\t\t\t}\n\t\t]\n\t}\n}\n";
        assert_eq!(String::from_utf8(meta.to_json()).unwrap(), want);
        let no_thanos = BlockMeta {
            thanos: None,
            ..meta
        };
        assert!(!String::from_utf8(no_thanos.to_json())
            .unwrap()
            .contains("thanos"));
    }

    #[test]
    fn strings_are_escaped_like_go() {
        let mut meta = cortex_meta();
        let labels = &mut meta.thanos.as_mut().unwrap().labels;
        labels.clear();
        labels.insert(
            "t".into(),
            "a<b>&c\u{2028}\u{2029}\"q\"\\\u{8}\u{c}\n\r\t\u{1}\u{7f}café ☕".into(),
        );
        let json = String::from_utf8(meta.to_json()).unwrap();
        let want = r#""t": "a\u003cb\u003e\u0026c\u2028\u2029\"q\"\\\u0008\u000c\n\r\t\u0001"#
            .to_string()
            + "\u{7f}café ☕\"";
        assert!(json.contains(&want), "{json}");
        assert_eq!(BlockMeta::from_json(json.as_bytes()).unwrap(), meta);
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert!(matches!(
            BlockMeta::from_json(b"{"),
            Err(MetaError::Parse { .. })
        ));
        let bad_ulid = CORTEX_META.replace(
            "01M807KPXKC31FM1GY7H31PRVK\",\n\t\"minTime",
            "nope\",\n\t\"minTime",
        );
        let err = BlockMeta::from_json(bad_ulid.as_bytes()).unwrap_err();
        let text = base::error_chain(&err);
        assert!(
            text.contains("invalid block meta") && text.contains("nope"),
            "{text}"
        );
        let v2 = CORTEX_META.replace("\"version\": 1", "\"version\": 2");
        assert!(matches!(
            BlockMeta::from_json(v2.as_bytes()),
            Err(MetaError::Version { version: 2, .. })
        ));
        let tmp = tempfile::tempdir().unwrap();
        let err = BlockMeta::read(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("meta.json"), "{err}");
    }

    #[test]
    fn write_then_read() {
        let tmp = tempfile::tempdir().unwrap();
        let size = cortex_meta().write_to_dir(tmp.path()).unwrap();
        assert_eq!(size, CORTEX_META.len() as u64);
        assert_eq!(
            fs::read_to_string(tmp.path().join(META_FILENAME)).unwrap(),
            CORTEX_META
        );
        assert!(!tmp.path().join("meta.json.tmp").exists());
        assert_eq!(BlockMeta::read(tmp.path()).unwrap(), cortex_meta());
    }
}
