//! From series→chunk references to plan files.
//!
//! Each reference (tenant, day, series, chunk) is one sort record, packed
//! into a single byte string whose byte order is the tuple order, so that
//! the external sort stays cheap per record. The sorted stream comes out
//! grouped by tenant, then day, then series, then chunk: one plan per
//! (tenant, day), one entry per series, duplicates adjacent and dropped.
//! Where the references came from (which table, split or scan segment) no
//! longer matters, which is what merges a series split across Bigtable
//! splits, DynamoDB segments or tables.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use base::codec::{get_uvarint, put_uvarint};
use protocol::names::{PlanCompression, PlanId};
use protocol::plan::{PlanEntry, PlanHeader, PlanSource, PlanWriter};
use sort::{ExternalSorter, SortRecord};

/// `user \0 day(BE u32) sid \0 chunk`: byte order = (user, day, sid, chunk)
/// order, because validated tenant IDs and series IDs contain no `\0` and
/// day indexes are not negative.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ChunkRef(Box<[u8]>);

impl ChunkRef {
    pub(crate) fn new(user: &str, day: i32, sid: &str, chunk: &str) -> Self {
        let mut b = Vec::with_capacity(user.len() + sid.len() + chunk.len() + 6);
        b.extend_from_slice(user.as_bytes());
        b.push(0);
        b.extend_from_slice(&(day.max(0) as u32).to_be_bytes());
        b.extend_from_slice(sid.as_bytes());
        b.push(0);
        b.extend_from_slice(chunk.as_bytes());
        ChunkRef(b.into_boxed_slice())
    }

    /// `(user, day, sid, chunk)`; `None` if the bytes are not a packed reference.
    pub(crate) fn parts(&self) -> Option<(&str, i32, &str, &str)> {
        let b = &self.0;
        let u = b.iter().position(|&c| c == 0)?;
        let day = u32::from_be_bytes(b.get(u + 1..u + 5)?.try_into().ok()?);
        let rest = b.get(u + 5..)?;
        let s = rest.iter().position(|&c| c == 0)?;
        Some((
            std::str::from_utf8(&b[..u]).ok()?,
            i32::try_from(day).ok()?,
            std::str::from_utf8(&rest[..s]).ok()?,
            std::str::from_utf8(&rest[s + 1..]).ok()?,
        ))
    }
}

impl SortRecord for ChunkRef {
    fn encode(&self, out: &mut Vec<u8>) {
        put_uvarint(out, self.0.len() as u64);
        out.extend_from_slice(&self.0);
    }

    fn decode(buf: &mut &[u8]) -> io::Result<Self> {
        let n = usize::try_from(get_uvarint(buf)?)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "record length"))?;
        if buf.len() < n {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "short chunk reference",
            ));
        }
        let (head, tail) = buf.split_at(n);
        *buf = tail;
        Ok(ChunkRef(head.into()))
    }

    fn mem_size(&self) -> usize {
        // The box, its bytes, and the allocator's bookkeeping.
        std::mem::size_of::<Self>() + self.0.len() + 16
    }
}

/// One finished local plan file.
#[derive(Clone, Debug)]
pub(super) struct LocalPlan {
    pub id: PlanId,
    pub file: PathBuf,
    pub series: u64,
    pub chunk_refs: u64,
}

/// Writes the sorted references as plan files under `dir`
/// (`<dir>/<tenant>/<day><suffix>`, e.g. `.plan.snappy`), calling `done` for each plan once
/// its footer is written. Returns the duplicates dropped.
pub(super) fn write_plans(
    sorter: ExternalSorter<ChunkRef>,
    dir: &Path,
    compression: PlanCompression,
    mut done: impl FnMut(LocalPlan) -> io::Result<()>,
) -> io::Result<u64> {
    let mut current: Option<OpenPlan> = None;
    let mut duplicates = 0u64;
    let mut prev: Option<ChunkRef> = None;
    for rec in sorter.finish()? {
        let rec = rec?;
        if prev.as_ref() == Some(&rec) {
            duplicates += 1;
            continue;
        }
        let (user, day, sid, chunk) = rec.parts().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "corrupt chunk reference in sort run",
            )
        })?;
        if current
            .as_ref()
            .is_none_or(|p| p.id.tenant != user || p.id.day != day)
        {
            if let Some(p) = current.take() {
                done(p.finish()?)?;
            }
            current = Some(OpenPlan::create(dir, user, day, compression)?);
        }
        if let Some(p) = current.as_mut() {
            p.add(sid, chunk)?;
        }
        prev = Some(rec);
    }
    if let Some(p) = current.take() {
        done(p.finish()?)?;
    }
    Ok(duplicates)
}

struct OpenPlan {
    id: PlanId,
    file: PathBuf,
    writer: PlanWriter<BufWriter<File>>,
    sid: String,
    chunks: Vec<String>,
    series: u64,
    chunk_refs: u64,
}

impl OpenPlan {
    fn create(dir: &Path, user: &str, day: i32, compression: PlanCompression) -> io::Result<Self> {
        let tenant_dir = dir.join(user);
        std::fs::create_dir_all(&tenant_dir)?;
        let file = tenant_dir.join(format!("{day}{}", compression.suffix()));
        let f = File::create(&file)
            .map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", file.display())))?;
        let header = PlanHeader {
            user: user.to_string(),
            day_index: day,
            source: Some(PlanSource::Cortex),
        };
        let writer = PlanWriter::new(BufWriter::with_capacity(256 << 10, f), compression, &header)?;
        Ok(OpenPlan {
            id: PlanId {
                tenant: user.to_string(),
                day,
            },
            file,
            writer,
            sid: String::new(),
            chunks: Vec::new(),
            series: 0,
            chunk_refs: 0,
        })
    }

    fn add(&mut self, sid: &str, chunk: &str) -> io::Result<()> {
        if sid != self.sid {
            self.flush_series()?;
            self.sid.clear();
            self.sid.push_str(sid);
        }
        self.chunks.push(chunk.to_string());
        self.chunk_refs += 1;
        Ok(())
    }

    fn flush_series(&mut self) -> io::Result<()> {
        if self.chunks.is_empty() {
            return Ok(());
        }
        self.writer.write_entry(&PlanEntry::Cortex {
            series_id: self.sid.clone(),
            chunk_ids: std::mem::take(&mut self.chunks),
        })?;
        self.series += 1;
        Ok(())
    }

    fn finish(mut self) -> io::Result<LocalPlan> {
        self.flush_series()?;
        let mut w = self.writer.finish()?;
        std::io::Write::flush(&mut w)?;
        Ok(LocalPlan {
            id: self.id,
            file: self.file,
            series: self.series,
            chunk_refs: self.chunk_refs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::plan::PlanReader;

    #[test]
    fn packed_order_is_tuple_order() {
        let mut refs = [
            ChunkRef::new("a.b", 1, "s", "c"),
            ChunkRef::new("a", 2, "s", "c"),
            ChunkRef::new("a", 1, "t", "c"),
            ChunkRef::new("a", 1, "s", "d"),
            ChunkRef::new("a", 1, "s", "c"),
            ChunkRef::new("a", 300, "s", "c"),
        ];
        refs.sort();
        let parts: Vec<_> = refs.iter().map(|r| r.parts().unwrap()).collect();
        assert_eq!(
            parts,
            vec![
                ("a", 1, "s", "c"),
                ("a", 1, "s", "d"),
                ("a", 1, "t", "c"),
                ("a", 2, "s", "c"),
                ("a", 300, "s", "c"),
                ("a.b", 1, "s", "c"),
            ]
        );
        let mut enc = Vec::new();
        refs[0].encode(&mut enc);
        let mut slice = &enc[..];
        assert_eq!(ChunkRef::decode(&mut slice).unwrap(), refs[0]);
        assert!(slice.is_empty());
    }

    #[test]
    fn writes_one_plan_per_tenant_day_with_merged_series() {
        let dir = tempfile::tempdir().unwrap();
        // A tiny budget: every record spills, so runs are merged.
        let mut sorter = ExternalSorter::new(dir.path(), 1).unwrap();
        for (u, d, s, c) in [
            ("t1", 5, "s2", "c3"),
            ("t1", 5, "s1", "c2"),
            ("t2", 5, "s1", "c1"),
            ("t1", 5, "s1", "c1"),
            ("t1", 5, "s1", "c2"),
            ("t1", 6, "s1", "c9"),
        ] {
            sorter.push(ChunkRef::new(u, d, s, c)).unwrap();
        }
        let out = dir.path().join("plans");
        let mut plans = Vec::new();
        let dups = write_plans(sorter, &out, PlanCompression::Snappy, |p| {
            plans.push(p);
            Ok(())
        })
        .unwrap();
        assert_eq!(dups, 1);
        let ids: Vec<String> = plans.iter().map(|p| p.id.to_string()).collect();
        assert_eq!(ids.len(), 3, "{ids:?}");
        let first = &plans[0];
        assert_eq!(
            (
                first.id.tenant.as_str(),
                first.id.day,
                first.series,
                first.chunk_refs
            ),
            ("t1", 5, 2, 3)
        );
        let f = std::io::BufReader::new(File::open(&first.file).unwrap());
        let name = first.file.to_string_lossy().to_string();
        let mut r = PlanReader::new(&name, f).unwrap();
        assert_eq!(r.header().user, "t1");
        let mut entries = Vec::new();
        while let Some(e) = r.next_entry().unwrap() {
            entries.push(e);
        }
        assert_eq!(
            entries,
            vec![
                PlanEntry::Cortex {
                    series_id: "s1".into(),
                    chunk_ids: vec!["c1".into(), "c2".into()]
                },
                PlanEntry::Cortex {
                    series_id: "s2".into(),
                    chunk_ids: vec!["c3".into()]
                },
            ]
        );
    }
}
