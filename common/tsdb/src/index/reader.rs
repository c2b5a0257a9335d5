//! Reading an index file written by us or by Prometheus (format v2, and
//! format v1 of Prometheus 2.0 to 2.7).
//!
//! [`IndexReader::open`] maps the file and checks the header, the TOC and
//! the checksums of the symbol table and both offset tables. Series entries,
//! postings lists and label indices are checked when they are read;
//! [`IndexReader::verify_sections`] reads all of them once. Memory use is
//! the sampled symbol positions plus one entry per label name (v2), or the
//! whole postings offset table (v1).
//!
//! Format v1 differs from v2 only in how things are referenced, and is
//! read as Prometheus' `tsdb/index` reader reads it: a symbol reference is
//! the file offset of the symbol's entry (not its number), a series
//! reference is the file offset of the series entry (v2: offset / 16, with
//! entries 16-byte aligned), and the postings offset table need not be
//! sorted, so it is loaded whole. Series entries, postings lists, label
//! indices and chunk references are laid out alike.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use super::encoding::{check_crc, section_at, Dec};
use super::symbols::{SymbolIter, Symbols};
use super::{
    IndexFormatError, IndexReadError, SeriesRef, Toc, FORMAT_V1, FORMAT_V2, HEADER_LEN,
    MAGIC_INDEX, TOC_LEN,
};
use crate::chunks::{ChunkMeta, FileBytes};
use base::{Label, Labels};

/// A series as stored, before its label order is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawSeries {
    /// The series' reference (its offset / 16; in index v1, its offset).
    pub series_ref: SeriesRef,
    /// Label pairs in stored order, symbols resolved.
    pub labels: Vec<Label>,
    /// Chunk metas in stored order, deltas resolved.
    pub chunks: Vec<ChunkMeta>,
}

impl RawSeries {
    /// The label set, refused when names are not strictly increasing.
    pub fn into_labels(self) -> Result<(Labels, Vec<ChunkMeta>), IndexFormatError> {
        if !self.labels.windows(2).all(|w| w[0].name < w[1].name) {
            let shown = self
                .labels
                .iter()
                .map(|l| format!("{}={:?}", l.name, l.value))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(IndexFormatError::LabelsNotSorted {
                series_ref: self.series_ref,
                labels: format!("{{{shown}}}"),
            });
        }
        Ok((Labels::from_sorted(self.labels), self.chunks))
    }
}

/// Where the postings offset entries of one label name are.
#[derive(Clone, Copy, Debug)]
struct NameEntries {
    /// Absolute offset of the first entry.
    first: u64,
    count: u32,
}

/// An open, memory-mapped index file.
pub struct IndexReader {
    path: PathBuf,
    map: FileBytes,
    /// Index format version: 1 or 2.
    version: u8,
    toc: Toc,
    symbols: Symbols,
    /// Label name ("" for all postings) to its postings offset entries (v2).
    names: BTreeMap<String, NameEntries>,
    /// Label name to value to postings offset: the whole (possibly
    /// unsorted) postings offset table of a v1 index; empty for v2.
    postings_v1: BTreeMap<String, BTreeMap<String, u64>>,
    /// End of the postings offset table body.
    postings_table_end: u64,
    /// Label name to the offset of its label index.
    label_indices: BTreeMap<String, u64>,
    series_end: u64,
}

impl IndexReader {
    /// Maps the index file at `path` and checks its header, TOC and the
    /// tables it needs to find anything.
    pub fn open(path: &Path) -> Result<Self, IndexReadError> {
        let io = |source| IndexReadError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let map = FileBytes::map(&file).map_err(io)?;
        Self::from_map(path, map).map_err(|source| IndexReadError::Format {
            path: path.to_path_buf(),
            source,
        })
    }

    /// An index already in memory, named `path` in errors. For fuzzing and
    /// tests: the same checks as [`IndexReader::open`] without a file.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self, IndexReadError> {
        Self::from_map(path, FileBytes::Owned(bytes)).map_err(|source| IndexReadError::Format {
            path: path.to_path_buf(),
            source,
        })
    }

    fn from_map(path: &Path, map: FileBytes) -> Result<Self, IndexFormatError> {
        let size = map.len();
        if size < HEADER_LEN + TOC_LEN {
            return Err(IndexFormatError::TooSmall { size: size as u64 });
        }
        let magic = u32::from_be_bytes([map[0], map[1], map[2], map[3]]);
        if magic != MAGIC_INDEX {
            return Err(IndexFormatError::BadMagic { found: magic });
        }
        let version = map[4];
        if version != FORMAT_V1 && version != FORMAT_V2 {
            return Err(IndexFormatError::UnsupportedVersion { version });
        }
        let toc_start = size - TOC_LEN;
        check_crc(
            &map[toc_start..size - 4],
            &map[size - 4..],
            toc_start as u64,
            "TOC",
        )?;
        let mut d = Dec::new(&map[toc_start..size - 4], toc_start as u64);
        let toc = Toc {
            symbols: d.be64("TOC")?,
            series: d.be64("TOC")?,
            label_indices: d.be64("TOC")?,
            label_indices_table: d.be64("TOC")?,
            postings: d.be64("TOC")?,
            postings_table: d.be64("TOC")?,
        };
        for (what, off) in [
            ("symbols", toc.symbols),
            ("series", toc.series),
            ("label indices", toc.label_indices),
            ("label offset table", toc.label_indices_table),
            ("postings", toc.postings),
            ("postings offset table", toc.postings_table),
        ] {
            if off > toc_start as u64 {
                return Err(IndexFormatError::Corrupt {
                    offset: toc_start as u64,
                    detail: format!("TOC points the {what} past the end of the file ({off})"),
                });
            }
        }
        let symbols = Symbols::parse(&map, toc.symbols)?;

        let mut names: BTreeMap<String, NameEntries> = BTreeMap::new();
        let mut postings_v1: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut d = section_at(&map, toc.postings_table, "postings offset table")?;
        let count = d.be32("postings offset count")?;
        for _ in 0..count {
            let at = d.offset();
            let keys = d.uvarint("postings offset key count")?;
            if keys != 2 {
                return Err(IndexFormatError::Corrupt {
                    offset: at,
                    detail: format!("postings offset entry with {keys} keys, expected 2"),
                });
            }
            let name = d.uvarint_str("label name")?;
            if version == FORMAT_V1 {
                let value = d.uvarint_str("label value")?;
                let off = d.uvarint("postings offset")?;
                postings_v1
                    .entry(name.to_string())
                    .or_default()
                    .insert(value.to_string(), off);
                continue;
            }
            d.uvarint_bytes("label value")?;
            d.uvarint("postings offset")?;
            match names.get_mut(name) {
                Some(e) => e.count += 1,
                None => {
                    names.insert(
                        name.to_string(),
                        NameEntries {
                            first: at,
                            count: 1,
                        },
                    );
                }
            }
        }
        let postings_table_end = d.offset();

        let mut label_indices = BTreeMap::new();
        if toc.label_indices_table != 0 {
            let mut d = section_at(&map, toc.label_indices_table, "label offset table")?;
            let count = d.be32("label offset count")?;
            for _ in 0..count {
                let at = d.offset();
                let keys = d.uvarint("label offset key count")?;
                if keys != 1 {
                    return Err(IndexFormatError::Corrupt {
                        offset: at,
                        detail: format!("label offset entry with {keys} names, expected 1"),
                    });
                }
                let name = d.uvarint_str("label name")?;
                let off = d.uvarint("label index offset")?;
                label_indices.insert(name.to_string(), off);
            }
        }

        let series_end = [
            toc.label_indices,
            toc.postings,
            toc.label_indices_table,
            toc.postings_table,
        ]
        .into_iter()
        .find(|&o| o != 0)
        .unwrap_or(toc_start as u64);
        Ok(IndexReader {
            path: path.to_path_buf(),
            map,
            version,
            toc,
            symbols,
            names,
            postings_v1,
            postings_table_end,
            label_indices,
            series_end,
        })
    }

    fn err(&self, source: IndexFormatError) -> IndexReadError {
        IndexReadError::Format {
            path: self.path.clone(),
            source,
        }
    }

    /// The index format version: 1 (Prometheus 2.0 to 2.7) or 2.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The symbol with reference `r`: its number (v2) or its entry's file
    /// offset (v1).
    fn lookup_symbol(&self, r: u32) -> Result<&str, IndexFormatError> {
        if self.version == FORMAT_V1 {
            self.symbols.lookup_v1(&self.map, r)
        } else {
            self.symbols.lookup(&self.map, r)
        }
    }

    /// The file offset of the series with reference `r`.
    fn series_offset(&self, r: SeriesRef) -> u64 {
        if self.version == FORMAT_V1 {
            u64::from(r)
        } else {
            u64::from(r) * 16
        }
    }

    /// Label names in the postings offset table, sorted, "" included.
    fn postings_names(&self) -> Vec<&str> {
        if self.version == FORMAT_V1 {
            self.postings_v1.keys().map(String::as_str).collect()
        } else {
            self.names.keys().map(String::as_str).collect()
        }
    }

    /// The index file (as named in errors).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where each section starts.
    pub fn toc(&self) -> &Toc {
        &self.toc
    }

    /// Size of the index file in bytes.
    pub fn size(&self) -> u64 {
        self.map.len() as u64
    }

    /// Entries in the symbol table.
    pub fn num_symbols(&self) -> u32 {
        self.symbols.count()
    }

    /// All symbols in table order.
    pub fn symbols(&self) -> SymbolIter<'_> {
        self.symbols.iter(&self.map)
    }

    /// The symbol with reference `r` (its index in the table; in index v1,
    /// the file offset of its entry).
    pub fn symbol(&self, r: u32) -> Result<&str, IndexReadError> {
        self.lookup_symbol(r).map_err(|e| self.err(e))
    }

    /// Label names that have postings, sorted (without the all-postings key).
    pub fn label_names(&self) -> Vec<&str> {
        let mut names = self.postings_names();
        names.retain(|n| !n.is_empty());
        names
    }

    /// Visits the postings offset entries of `name` in value order:
    /// `(value, postings offset)`, until `f` returns false.
    fn entries_of(
        &self,
        name: &str,
        mut f: impl FnMut(&str, u64) -> bool,
    ) -> Result<(), IndexReadError> {
        if self.version == FORMAT_V1 {
            for (v, &off) in self.postings_v1.get(name).into_iter().flatten() {
                if !f(v, off) {
                    break;
                }
            }
            return Ok(());
        }
        let Some(e) = self.names.get(name) else {
            return Ok(());
        };
        let (start, end) = (e.first as usize, self.postings_table_end as usize);
        let mut d = Dec::new(&self.map[start..end], e.first);
        for _ in 0..e.count {
            let mut entry = || -> Result<(&str, u64), IndexFormatError> {
                d.uvarint("postings offset key count")?;
                d.uvarint_bytes("label name")?;
                let v = d.uvarint_str("label value")?;
                let off = d.uvarint("postings offset")?;
                Ok((v, off))
            };
            let (v, off) = entry().map_err(|e| self.err(e))?;
            if !f(v, off) {
                break;
            }
        }
        Ok(())
    }

    /// The values of a label name, sorted.
    pub fn label_values(&self, name: &str) -> Result<Vec<String>, IndexReadError> {
        let mut out = Vec::new();
        self.entries_of(name, |v, _| {
            out.push(v.to_string());
            true
        })?;
        Ok(out)
    }

    /// Series holding `name=value` (empty when none); `("", "")` is all series.
    pub fn postings(&self, name: &str, value: &str) -> Result<Vec<SeriesRef>, IndexReadError> {
        let mut found = None;
        self.entries_of(name, |v, off| {
            if v == value {
                found = Some(off);
            }
            v < value
        })?;
        match found {
            Some(off) => self.postings_at(off),
            None => Ok(Vec::new()),
        }
    }

    fn postings_at(&self, off: u64) -> Result<Vec<SeriesRef>, IndexReadError> {
        let mut d = section_at(&self.map, off, "postings list").map_err(|e| self.err(e))?;
        let n = d.be32("postings count").map_err(|e| self.err(e))? as usize;
        if d.remaining() != 4 * n {
            return Err(self.err(IndexFormatError::Corrupt {
                offset: off,
                detail: format!("postings list of {n} entries holds {} bytes", d.remaining()),
            }));
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(d.be32("series reference").map_err(|e| self.err(e))?);
        }
        Ok(out)
    }

    /// The values listed by the label index of `name` (checked against its CRC).
    pub fn label_index(&self, name: &str) -> Result<Vec<String>, IndexReadError> {
        let Some(&off) = self.label_indices.get(name) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut read = || -> Result<(), IndexFormatError> {
            let mut d = section_at(&self.map, off, "label index")?;
            let names = d.be32("label index name count")?;
            if names != 1 {
                return Err(IndexFormatError::Corrupt {
                    offset: off,
                    detail: format!("label index over {names} names, expected 1"),
                });
            }
            let n = d.be32("label index entry count")?;
            for _ in 0..n {
                let r = d.be32("label value reference")?;
                out.push(self.lookup_symbol(r)?.to_string());
            }
            Ok(())
        };
        read().map_err(|e| self.err(e))?;
        Ok(out)
    }

    /// The series at `series_ref` (offset / 16; in index v1, the offset).
    pub fn series(&self, series_ref: SeriesRef) -> Result<RawSeries, IndexReadError> {
        let off = self.series_offset(series_ref);
        self.series_at(off).map(|(s, _)| s).map_err(|e| self.err(e))
    }

    /// Decodes the series entry at `off`; returns it and the offset after it.
    fn series_at(&self, off: u64) -> Result<(RawSeries, u64), IndexFormatError> {
        let start = off as usize;
        let end = self.series_end as usize;
        if off < self.toc.series || start >= end {
            return Err(IndexFormatError::Corrupt {
                offset: off,
                detail: "series reference outside the series section".to_string(),
            });
        }
        let mut d = Dec::new(&self.map[start..end], off);
        let len = d.uvarint("series length")? as usize;
        let body_off = d.offset();
        let body = d.bytes(len, "series entry")?;
        let crc = d.bytes(4, "series CRC")?;
        check_crc(body, crc, off, "series entry")?;
        let stored_ref = if self.version == FORMAT_V1 {
            off
        } else {
            off / 16
        };
        let series_ref =
            SeriesRef::try_from(stored_ref).map_err(|_| IndexFormatError::Corrupt {
                offset: off,
                detail: "series offset beyond 4-byte references".to_string(),
            })?;
        let mut b = Dec::new(body, body_off);
        let n = b.uvarint("label count")?;
        let mut labels = Vec::with_capacity(n.min(64) as usize);
        for _ in 0..n {
            let name = b.uvarint32("label name reference")?;
            let value = b.uvarint32("label value reference")?;
            labels.push(Label {
                name: self.lookup_symbol(name)?.to_string(),
                value: self.lookup_symbol(value)?.to_string(),
            });
        }
        let k = b.uvarint("chunk count")?;
        let mut chunks = Vec::with_capacity(k.min(1024) as usize);
        if k > 0 {
            let min_time = b.varint("chunk minTime")?;
            let max_time = min_time.wrapping_add(b.uvarint("chunk maxTime delta")? as i64);
            let chunk_ref = b.uvarint("chunk reference")?;
            chunks.push(ChunkMeta {
                min_time,
                max_time,
                chunk_ref,
            });
            let (mut t0, mut ref0) = (max_time, chunk_ref as i64);
            for _ in 1..k {
                let min_time = t0.wrapping_add(b.uvarint("chunk minTime delta")? as i64);
                let max_time = min_time.wrapping_add(b.uvarint("chunk maxTime delta")? as i64);
                let chunk_ref = ref0.wrapping_add(b.varint("chunk reference delta")?);
                chunks.push(ChunkMeta {
                    min_time,
                    max_time,
                    chunk_ref: chunk_ref as u64,
                });
                t0 = max_time;
                ref0 = chunk_ref;
            }
        }
        let next = d.offset();
        Ok((
            RawSeries {
                series_ref,
                labels,
                chunks,
            },
            next,
        ))
    }

    /// Every series in index order, as stored (label order unchecked).
    pub fn raw_series(&self) -> SeriesIter<'_> {
        SeriesIter {
            r: self,
            pos: self.toc.series,
            done: self.toc.series == 0,
        }
    }

    /// Every series in index order with a checked label set.
    pub fn series_iter(
        &self,
    ) -> impl Iterator<Item = Result<(Labels, Vec<ChunkMeta>), IndexReadError>> + '_ {
        self.raw_series()
            .map(move |s| s.and_then(|s| s.into_labels().map_err(|e| self.err(e))))
    }

    /// Reads every postings list and label index once, checking their CRCs,
    /// that postings are strictly increasing and that label indices list
    /// the same values as the postings table.
    pub fn verify_sections(&self) -> Result<(), IndexReadError> {
        for name in self.postings_names() {
            let mut offsets = Vec::new();
            self.entries_of(name, |_, off| {
                offsets.push(off);
                true
            })?;
            for off in offsets {
                let list = self.postings_at(off)?;
                if let Some(w) = list.windows(2).find(|w| w[0] >= w[1]) {
                    return Err(self.err(IndexFormatError::Corrupt {
                        offset: off,
                        detail: format!(
                            "postings list of label {name:?} not increasing: {} then {}",
                            w[0], w[1]
                        ),
                    }));
                }
            }
            if !name.is_empty()
                && !self.label_indices.is_empty()
                && self.label_index(name)? != self.label_values(name)?
            {
                return Err(self.err(IndexFormatError::Corrupt {
                    offset: self.toc.label_indices_table,
                    detail: format!(
                        "label index of {name:?} disagrees with the postings offset table"
                    ),
                }));
            }
        }
        Ok(())
    }
}

/// Iterator over the series section; see [`IndexReader::raw_series`].
pub struct SeriesIter<'a> {
    r: &'a IndexReader,
    pos: u64,
    done: bool,
}

impl Iterator for SeriesIter<'_> {
    type Item = Result<RawSeries, IndexReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let end = self.r.series_end;
        // Series are padded to 16 bytes with zeros (v2; v1 has no padding,
        // and no entry starts with a zero length).
        while self.pos < end && self.r.map[self.pos as usize] == 0 {
            self.pos += 1;
        }
        if self.pos >= end {
            self.done = true;
            return None;
        }
        if self.r.version != FORMAT_V1 && self.pos & 15 != 0 {
            self.done = true;
            return Some(Err(self.r.err(IndexFormatError::Corrupt {
                offset: self.pos,
                detail: "series entry not 16-byte aligned".to_string(),
            })));
        }
        match self.r.series_at(self.pos) {
            Ok((s, next)) => {
                self.pos = next;
                Some(Ok(s))
            }
            Err(e) => {
                self.done = true;
                Some(Err(self.r.err(e)))
            }
        }
    }
}
