//! Postings, label indices and their offset tables, from externally sorted
//! `(name, value, series)` triples.
//!
//! While series are written, [`PostingsBuilder`] appends every series
//! reference to the all-postings list (the first list of a temporary
//! postings file, as in Prometheus) and pushes one triple of symbol
//! references per label into the external sort. At the end, the sorted
//! triples come out grouped by label name, then value, then series, which
//! is exactly the order of the label indices, the postings lists and the
//! postings offset table. Label indices and postings go to temporary files
//! first because in the index they come before the tables that point into
//! them; the final offsets are fixed up when the tables are copied.
//!
//! Temporary files are laid out so that, once copied at 4-byte aligned
//! positions, the index is byte-identical to what Prometheus writes.

use std::io;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::encoding::{Dec, FileWriter, PatchedSection};
use super::symbols::Symbols;
use super::{SeriesRef, Toc};
use base::codec::{put_str, put_uvarint};
use sort::{ExternalSorter, SortRecord};

/// One label pair of one series, as symbol references.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Posting {
    name: u32,
    value: u32,
    series: SeriesRef,
}

impl SortRecord for Posting {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.name.to_be_bytes());
        out.extend_from_slice(&self.value.to_be_bytes());
        out.extend_from_slice(&self.series.to_be_bytes());
    }

    fn decode(buf: &mut &[u8]) -> io::Result<Self> {
        if buf.len() < 12 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "posting record truncated",
            ));
        }
        let word = |i: usize| u32::from_be_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
        let p = Posting {
            name: word(0),
            value: word(4),
            series: word(8),
        };
        *buf = &buf[12..];
        Ok(p)
    }

    fn mem_size(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

/// Paths of the temporary files next to the index; removed on drop.
pub(crate) struct PostingsFiles {
    dir: PathBuf,
    postings: PathBuf,
    offsets: PathBuf,
    label_indices: PathBuf,
}

impl PostingsFiles {
    pub(crate) fn new(index: &Path) -> Self {
        let with = |suffix: &str| {
            let mut s = index.as_os_str().to_os_string();
            s.push(suffix);
            PathBuf::from(s)
        };
        PostingsFiles {
            dir: index
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
            postings: with("_tmp_p"),
            offsets: with("_tmp_po"),
            label_indices: with("_tmp_li"),
        }
    }
}

impl Drop for PostingsFiles {
    fn drop(&mut self) {
        for p in [&self.postings, &self.offsets, &self.label_indices] {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Collects postings while series are written; see the module doc.
pub(crate) struct PostingsBuilder {
    files: PostingsFiles,
    postings: FileWriter,
    all: PatchedSection,
    all_count: u32,
    sorter: ExternalSorter<Posting>,
}

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl PostingsBuilder {
    pub(crate) fn new(files: PostingsFiles, memory_budget: usize) -> io::Result<Self> {
        let postings =
            FileWriter::create(&files.postings).map_err(|e| named(&files.postings, e))?;
        let all = PatchedSection::begin(&postings, 4);
        let sorter = ExternalSorter::new(&files.dir, memory_budget)?;
        Ok(PostingsBuilder {
            files,
            postings,
            all,
            all_count: 0,
            sorter,
        })
    }

    /// Records a series and its `(name, value)` symbol references.
    pub(crate) fn add_series(&mut self, series: SeriesRef, pairs: &[(u32, u32)]) -> io::Result<()> {
        self.all
            .push(&mut self.postings, &series.to_be_bytes())
            .map_err(|e| named(&self.files.postings, e))?;
        self.all_count += 1;
        for &(name, value) in pairs {
            self.sorter.push(Posting {
                name,
                value,
                series,
            })?;
        }
        Ok(())
    }

    /// Writes label indices, postings and both offset tables into the index
    /// `f` (positioned just after the series) and records their offsets in
    /// `toc`. `data` is the mapped index holding the symbol table.
    pub(crate) fn finish(
        self,
        f: &mut FileWriter,
        toc: &mut Toc,
        symbols: &Symbols,
        data: &Mmap,
    ) -> io::Result<()> {
        let PostingsBuilder {
            files,
            mut postings,
            all,
            all_count,
            sorter,
        } = self;
        let np = |e| named(&files.postings, e);
        all.end(&mut postings, &all_count.to_be_bytes())
            .map_err(np)?;

        let mut offsets =
            FileWriter::create(&files.offsets).map_err(|e| named(&files.offsets, e))?;
        let mut label_indices =
            FileWriter::create(&files.label_indices).map_err(|e| named(&files.label_indices, e))?;
        let mut tables = Tables {
            offsets: &mut offsets,
            offsets_count: 0,
            label_indexes: Vec::new(),
        };
        tables
            .add_postings_offset(b"", b"", 0)
            .map_err(|e| named(&files.offsets, e))?;

        let mut name: Option<(u32, &str)> = None;
        let mut value: Option<u32> = None;
        let mut li: Option<(PatchedSection, u32)> = None;
        let mut list: Option<(PatchedSection, u32)> = None;
        for rec in sorter.finish()? {
            let rec = rec?;
            if name.map(|n| n.0) != Some(rec.name) {
                end_list(&mut postings, list.take()).map_err(np)?;
                end_label_index(&mut label_indices, li.take())
                    .map_err(|e| named(&files.label_indices, e))?;
                let s = symbols.lookup(data, rec.name).map_err(invalid)?;
                name = Some((rec.name, s));
                value = None;
                label_indices.pad(4)?;
                tables
                    .label_indexes
                    .push((s.to_string(), label_indices.pos()));
                li = Some((PatchedSection::begin(&label_indices, 8), 0));
            }
            if value != Some(rec.value) {
                end_list(&mut postings, list.take()).map_err(np)?;
                value = Some(rec.value);
                postings.pad(4).map_err(np)?;
                let name_str = name.map(|n| n.1).unwrap_or_default();
                let value_str = symbols.lookup(data, rec.value).map_err(invalid)?;
                tables
                    .add_postings_offset(name_str.as_bytes(), value_str.as_bytes(), postings.pos())
                    .map_err(|e| named(&files.offsets, e))?;
                list = Some((PatchedSection::begin(&postings, 4), 0));
                if let Some((sec, n)) = li.as_mut() {
                    sec.push(&mut label_indices, &rec.value.to_be_bytes())?;
                    *n += 1;
                }
            }
            if let Some((sec, n)) = list.as_mut() {
                sec.push(&mut postings, &rec.series.to_be_bytes())
                    .map_err(np)?;
                *n += 1;
            }
        }
        end_list(&mut postings, list.take()).map_err(np)?;
        end_label_index(&mut label_indices, li.take())
            .map_err(|e| named(&files.label_indices, e))?;

        // Into the index, in file order.
        label_indices.flush()?;
        let label_indices_base = if label_indices.pos() > 0 {
            f.pad(4)?;
            let base = f.pos();
            f.copy_from(&files.label_indices)
                .map_err(|e| named(&files.label_indices, e))?;
            base
        } else {
            f.pos()
        };
        toc.postings = f.pos();
        f.pad(4)?;
        let postings_base = f.pos();
        postings.flush().map_err(np)?;
        f.copy_from(&files.postings).map_err(np)?;

        toc.label_indices_table = f.pos();
        let mut sec = PatchedSection::begin(f, 4);
        let mut e = Vec::new();
        for (n, off) in &tables.label_indexes {
            e.clear();
            put_uvarint(&mut e, 1);
            put_str(&mut e, n);
            put_uvarint(&mut e, label_indices_base + off);
            sec.push(f, &e)?;
        }
        let count = u32::try_from(tables.label_indexes.len())
            .map_err(|_| invalid("too many label names"))?;
        sec.end(f, &count.to_be_bytes())?;

        toc.postings_table = f.pos();
        let offsets_count = tables.offsets_count;
        offsets.flush()?;
        copy_postings_offsets(f, &files.offsets, offsets_count, postings_base)
    }
}

/// The postings offset table (to a temporary file, offsets relative to the
/// postings file) and the label offset entries, built during the merge.
struct Tables<'a> {
    offsets: &'a mut FileWriter,
    offsets_count: u32,
    label_indexes: Vec<(String, u64)>,
}

impl Tables<'_> {
    fn add_postings_offset(&mut self, name: &[u8], value: &[u8], off: u64) -> io::Result<()> {
        let mut e = Vec::with_capacity(name.len() + value.len() + 12);
        put_uvarint(&mut e, 2);
        put_uvarint(&mut e, name.len() as u64);
        e.extend_from_slice(name);
        put_uvarint(&mut e, value.len() as u64);
        e.extend_from_slice(value);
        put_uvarint(&mut e, off);
        self.offsets.write(&e)?;
        self.offsets_count = self
            .offsets_count
            .checked_add(1)
            .ok_or_else(|| invalid("more than 2^32 label pairs"))?;
        Ok(())
    }
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

fn end_list(w: &mut FileWriter, list: Option<(PatchedSection, u32)>) -> io::Result<()> {
    match list {
        Some((sec, n)) => sec.end(w, &n.to_be_bytes()),
        None => Ok(()),
    }
}

fn end_label_index(w: &mut FileWriter, li: Option<(PatchedSection, u32)>) -> io::Result<()> {
    match li {
        Some((sec, n)) => {
            let mut header = [0u8; 8];
            header[..4].copy_from_slice(&1u32.to_be_bytes());
            header[4..].copy_from_slice(&n.to_be_bytes());
            sec.end(w, &header)
        }
        None => Ok(()),
    }
}

/// Copies the temporary postings offset table into the index, turning
/// offsets relative to the postings file into absolute ones.
fn copy_postings_offsets(f: &mut FileWriter, tmp: &Path, count: u32, base: u64) -> io::Result<()> {
    let file = std::fs::File::open(tmp).map_err(|e| named(tmp, e))?;
    // SAFETY: the temporary file is private to this writer and complete.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| named(tmp, e))?;
    let mut d = Dec::new(&map, 0);
    let mut sec = PatchedSection::begin(f, 4);
    let mut e = Vec::new();
    for _ in 0..count {
        let bad = |err| named(tmp, invalid(err));
        d.uvarint("key count").map_err(bad)?;
        let name = d.uvarint_bytes("label name").map_err(bad)?;
        let value = d.uvarint_bytes("label value").map_err(bad)?;
        let off = d.uvarint("postings offset").map_err(bad)?;
        e.clear();
        put_uvarint(&mut e, 2);
        put_uvarint(&mut e, name.len() as u64);
        e.extend_from_slice(name);
        put_uvarint(&mut e, value.len() as u64);
        e.extend_from_slice(value);
        put_uvarint(&mut e, off + base);
        sec.push(f, &e)?;
    }
    sec.end(f, &count.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posting_record_round_trips_and_orders_by_name_value_series() {
        let p = Posting {
            name: 1,
            value: 70000,
            series: 9,
        };
        let mut out = Vec::new();
        p.encode(&mut out);
        let mut s = &out[..];
        assert_eq!(Posting::decode(&mut s).unwrap(), p);
        assert!(s.is_empty());
        let q = Posting {
            name: 1,
            value: 2,
            series: 10,
        };
        assert!(q < p);
        assert!(Posting::decode(&mut &out[..5]).is_err());
    }
}
