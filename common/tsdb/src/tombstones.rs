//! The `tombstones` file of a block: time ranges of series deleted through
//! Prometheus' `/api/v1/admin/tsdb/delete_series` but not yet compacted
//! away (`tsdb/docs/format/tombstones.md`).
//!
//! Layout: magic `0x0130BA30` (4 bytes, big-endian), format version 1
//! (1 byte), then tombstones `series ref <uvarint> | mint <varint> |
//! maxt <varint>` up to a big-endian CRC32-Castagnoli in the last 4 bytes.
//! The CRC covers the tombstones only, not the version byte (Prometheus
//! 2.x hashes from after it). A block without the file has no deletions.
//!
//! Intervals are inclusive at both ends, and several tombstones of one
//! series merge as Prometheus merges them (overlapping or adjacent
//! intervals become one). Applying them to samples is the block reader's
//! job.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base::codec::{decode_uvarint, decode_varint};

/// Name of the tombstones file inside a block directory.
pub const TOMBSTONES_FILENAME: &str = "tombstones";

const MAGIC_TOMBSTONES: u32 = 0x0130_BA30;
const TOMBSTONES_FORMAT_V1: u8 = 1;
/// Magic and version.
const HEADER_LEN: usize = 5;
const CRC_LEN: usize = 4;

/// A deleted time range of one series, both ends inclusive (ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeletedInterval {
    /// First deleted millisecond.
    pub min_time: i64,
    /// Last deleted millisecond (inclusive).
    pub max_time: i64,
}

impl DeletedInterval {
    /// Whether `t` is deleted.
    pub fn contains(&self, t: i64) -> bool {
        self.min_time <= t && t <= self.max_time
    }
}

/// Why a tombstones file cannot be read; names the file.
#[allow(
    missing_docs,
    reason = "each variant's #[error] message documents it and its fields"
)]
#[derive(Debug, thiserror::Error)]
pub enum TombstoneError {
    #[error("tombstones {path}: cannot be read")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("tombstones {path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
}

/// The deleted intervals of a block's series, by series reference (the
/// reference its index uses: offset / 16 in index v2, the offset in v1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tombstones {
    by_series: HashMap<u64, Vec<DeletedInterval>>,
}

impl Tombstones {
    /// The tombstones of the block directory `dir`; none when it has no
    /// tombstones file.
    pub fn read(dir: &Path) -> Result<Self, TombstoneError> {
        let path = dir.join(TOMBSTONES_FILENAME);
        match std::fs::read(&path) {
            Ok(bytes) => Self::decode(&path, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Tombstones::default()),
            Err(source) => Err(TombstoneError::Io { path, source }),
        }
    }

    /// Decodes the bytes of a tombstones file named `path` in errors.
    pub fn decode(path: &Path, bytes: &[u8]) -> Result<Self, TombstoneError> {
        let corrupt = |detail: String| TombstoneError::Corrupt {
            path: path.to_path_buf(),
            detail,
        };
        if bytes.len() < HEADER_LEN + CRC_LEN {
            return Err(corrupt(format!(
                "{} bytes are too few for a tombstones file",
                bytes.len()
            )));
        }
        let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if magic != MAGIC_TOMBSTONES {
            return Err(corrupt(format!("bad magic number {magic:#010x}")));
        }
        if bytes[4] != TOMBSTONES_FORMAT_V1 {
            return Err(corrupt(format!(
                "unsupported tombstones format version {}",
                bytes[4]
            )));
        }
        let (body, crc) = bytes[HEADER_LEN..].split_at(bytes.len() - HEADER_LEN - CRC_LEN);
        let stored = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
        let computed = crc32c::crc32c(body);
        if stored != computed {
            return Err(corrupt(format!(
                "CRC32 mismatch: stored {stored:#010x}, computed {computed:#010x}"
            )));
        }
        let mut out = Tombstones::default();
        let mut rest = body;
        while !rest.is_empty() {
            let at = HEADER_LEN + body.len() - rest.len();
            let bad = |what: &str| corrupt(format!("unreadable {what} at offset {at}"));
            let (series_ref, n) = decode_uvarint(rest).map_err(|_| bad("series reference"))?;
            rest = &rest[n..];
            let (min_time, n) = decode_varint(rest).map_err(|_| bad("interval start"))?;
            rest = &rest[n..];
            let (max_time, n) = decode_varint(rest).map_err(|_| bad("interval end"))?;
            rest = &rest[n..];
            out.add(series_ref, DeletedInterval { min_time, max_time });
        }
        Ok(out)
    }

    /// Adds a deleted interval, merging it with those it overlaps or
    /// touches, as Prometheus' `Intervals.Add` does.
    pub fn add(&mut self, series_ref: u64, iv: DeletedInterval) {
        let list = self.by_series.entry(series_ref).or_default();
        list.push(iv);
        list.sort_by_key(|i| i.min_time);
        let mut merged: Vec<DeletedInterval> = Vec::with_capacity(list.len());
        for i in list.drain(..) {
            match merged.last_mut() {
                Some(last) if i.min_time <= last.max_time.saturating_add(1) => {
                    last.max_time = last.max_time.max(i.max_time);
                }
                _ => merged.push(i),
            }
        }
        *list = merged;
    }

    /// The deleted intervals of a series, sorted and disjoint; empty when
    /// none.
    pub fn get(&self, series_ref: u64) -> &[DeletedInterval] {
        self.by_series.get(&series_ref).map_or(&[], Vec::as_slice)
    }

    /// Whether no series has a deleted interval.
    pub fn is_empty(&self) -> bool {
        self.by_series.is_empty()
    }

    /// Series with at least one deleted interval, with their intervals.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[DeletedInterval])> + '_ {
        self.by_series.iter().map(|(r, v)| (*r, v.as_slice()))
    }
}

/// Whether `t` falls in one of `deleted` (sorted, disjoint).
pub(crate) fn is_deleted(deleted: &[DeletedInterval], t: i64) -> bool {
    let i = deleted.partition_point(|iv| iv.max_time < t);
    deleted.get(i).is_some_and(|iv| iv.contains(t))
}

/// Whether `[min, max]` lies inside one of `deleted`, as Prometheus'
/// `Interval.IsSubrange` decides that a whole chunk is gone.
pub(crate) fn covers(deleted: &[DeletedInterval], min: i64, max: i64) -> bool {
    deleted
        .iter()
        .any(|iv| iv.min_time <= min && max <= iv.max_time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base::codec::{put_uvarint, put_varint};

    fn file(stones: &[(u64, i64, i64)]) -> Vec<u8> {
        let mut body = Vec::new();
        for &(r, a, b) in stones {
            put_uvarint(&mut body, r);
            put_varint(&mut body, a);
            put_varint(&mut body, b);
        }
        let mut out = MAGIC_TOMBSTONES.to_be_bytes().to_vec();
        out.push(TOMBSTONES_FORMAT_V1);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        out
    }

    fn iv(min_time: i64, max_time: i64) -> DeletedInterval {
        DeletedInterval { min_time, max_time }
    }

    #[test]
    fn decodes_and_merges_like_prometheus() {
        let bytes = file(&[
            (7, 10, 20),
            (7, 21, 30),
            (7, -5, 0),
            (9, 100, 200),
            (7, 15, 25),
        ]);
        let t = Tombstones::decode(Path::new("b/tombstones"), &bytes).unwrap();
        assert_eq!(t.get(7), &[iv(-5, 0), iv(10, 30)]);
        assert_eq!(t.get(9), &[iv(100, 200)]);
        assert!(t.get(8).is_empty());
        assert!(is_deleted(t.get(7), 10) && is_deleted(t.get(7), 30));
        assert!(!is_deleted(t.get(7), 31) && !is_deleted(t.get(7), 5));
        assert!(covers(t.get(7), 12, 30) && !covers(t.get(7), 0, 12));
    }

    #[test]
    fn prometheus_empty_file_and_missing_file_mean_no_deletions() {
        // What Prometheus 2.x writes for a block without deletions.
        let empty = [0x01, 0x30, 0xBA, 0x30, 0x01, 0, 0, 0, 0];
        let t = Tombstones::decode(Path::new("x"), &empty).unwrap();
        assert!(t.is_empty());
        let dir = tempfile::tempdir().unwrap();
        assert!(Tombstones::read(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn garbage_bodies_with_valid_checksums_never_panic() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for len in 0..400 {
            let body: Vec<u8> = (0..len % 40)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let mut f = MAGIC_TOMBSTONES.to_be_bytes().to_vec();
            f.push(TOMBSTONES_FORMAT_V1);
            f.extend_from_slice(&body);
            f.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
            if let Ok(t) = Tombstones::decode(Path::new("x"), &f) {
                for (_, ivs) in t.iter() {
                    assert!(ivs.windows(2).all(|w| w[0].max_time < w[1].min_time));
                }
            }
        }
    }

    #[test]
    fn corruption_is_refused_naming_the_file() {
        let mut bytes = file(&[(1, 2, 3)]);
        let n = bytes.len();
        bytes[n - 5] ^= 1;
        let e = Tombstones::decode(Path::new("blk/tombstones"), &bytes).unwrap_err();
        assert!(e.to_string().contains("blk/tombstones") && e.to_string().contains("CRC"));
        let mut bad_magic = file(&[]);
        bad_magic[0] = 0;
        assert!(Tombstones::decode(Path::new("x"), &bad_magic).is_err());
        assert!(Tombstones::decode(Path::new("x"), &[1, 2]).is_err());
        // A CRC-valid body cut inside a tombstone.
        let mut body = Vec::new();
        put_uvarint(&mut body, 5);
        let mut cut = MAGIC_TOMBSTONES.to_be_bytes().to_vec();
        cut.push(1);
        cut.extend_from_slice(&body);
        cut.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        let e = Tombstones::decode(Path::new("x"), &cut).unwrap_err();
        assert!(e.to_string().contains("interval start"), "{e}");
    }
}
