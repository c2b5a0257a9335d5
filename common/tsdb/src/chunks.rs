//! Chunk segment files of a block (`chunks/000001`, `chunks/000002`, ...), as
//! Prometheus 2.42 `tsdb/chunks/chunks.go` writes and reads them.
//!
//! A segment starts with an 8-byte header (magic `0x85BD40DD` big-endian,
//! format version 1, 3 zero bytes) followed by chunks, each stored as: uvarint
//! data length, 1 encoding byte, the data, and a big-endian CRC32-Castagnoli of
//! the encoding byte and the data. A chunk is addressed by a [`ChunkRef`]:
//! the 0-based segment index in the upper 32 bits, the byte offset in the
//! lower 32.
//!
//! This module stores opaque chunk bytes; encoding them is [`super::xor`]'s
//! job and knowing which series a chunk belongs to is the index's.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use base::codec::{decode_uvarint, encode_uvarint, MAX_VARINT_LEN};

/// Prometheus' default maximum segment size.
pub const DEFAULT_SEGMENT_SIZE: u64 = 512 * 1024 * 1024;

/// Magic number at the start of every segment file.
pub(crate) const MAGIC_CHUNKS: u32 = 0x85BD_40DD;
/// The only segment format version.
pub(crate) const CHUNKS_FORMAT_V1: u8 = 1;
/// Magic, version and padding.
pub const SEGMENT_HEADER_SIZE: u64 = 8;

/// Prometheus budgets the length field at its maximum for 32-bit lengths when
/// deciding whether a chunk still fits in a segment; so do we, to cut at the
/// same places.
const MAX_CHUNK_LENGTH_FIELD_SIZE: u64 = 5;
const CRC_SIZE: usize = 4;

/// Prometheus chunk reference: segment sequence (0-based file index) << 32 | byte offset.
pub type ChunkRef = u64;

/// Where a chunk of a series is and which time range it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkMeta {
    /// Time of the chunk's first sample (ms).
    pub min_time: i64,
    /// Time of the chunk's last sample (ms, inclusive).
    pub max_time: i64,
    /// Where the chunk is in the segment files.
    pub chunk_ref: ChunkRef,
}

/// Name of the segment file with 0-based index `seq` ("000001" for 0).
pub(crate) fn segment_file_name(seq: u32) -> String {
    format!("{:06}", u64::from(seq) + 1)
}

fn crc32c_of(encoding: u8, data: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&[encoding]), data)
}

/// Adds the file name to an I/O error, so that it says which file failed.
fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// A finished segment file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegmentFile {
    /// File name inside the chunks directory, e.g. "000001".
    pub(crate) name: String,
    /// Size in bytes.
    pub(crate) size: u64,
}

/// Appends chunks to the segment files of one block, cutting a new segment
/// when the next chunk would push the current one over the size limit.
pub(crate) struct SegmentWriter {
    dir: PathBuf,
    max_segment_size: u64,
    done: Vec<SegmentFile>,
    current: Option<OpenSegment>,
    /// Whether segments and the directory are fsynced (see
    /// `BlockWriterOptions::durable`).
    durable: bool,
}

struct OpenSegment {
    path: PathBuf,
    name: String,
    out: BufWriter<File>,
    size: u64,
}

impl fmt::Debug for SegmentWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SegmentWriter")
            .field("dir", &self.dir)
            .field("max_segment_size", &self.max_segment_size)
            .field("finished_segments", &self.done.len())
            .finish()
    }
}

impl SegmentWriter {
    /// Prepares to write segments into `chunks_dir` (created if missing).
    ///
    /// No file is created until the first chunk, so a block without chunks
    /// has an empty chunks directory, as with Prometheus. Existing segment
    /// files are never overwritten.
    pub(crate) fn create(
        chunks_dir: &Path,
        max_segment_size: u64,
        durable: bool,
    ) -> io::Result<Self> {
        // Offsets must fit the 32 low bits of a ChunkRef; every chunk starts
        // below the size limit.
        if max_segment_size <= SEGMENT_HEADER_SIZE || max_segment_size > 1 << 32 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "segment size {max_segment_size} out of range ({} < size <= 4 GiB)",
                    SEGMENT_HEADER_SIZE
                ),
            ));
        }
        fs::create_dir_all(chunks_dir).map_err(|e| with_path(e, chunks_dir))?;
        Ok(SegmentWriter {
            dir: chunks_dir.to_path_buf(),
            max_segment_size,
            done: Vec::new(),
            current: None,
            durable,
        })
    }

    /// Appends one chunk and returns its reference.
    pub(crate) fn write_chunk(&mut self, encoding: u8, data: &[u8]) -> io::Result<ChunkRef> {
        if u32::try_from(data.len()).is_err() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("chunk of {} bytes is too large for a segment", data.len()),
            ));
        }
        let budget = MAX_CHUNK_LENGTH_FIELD_SIZE + 1 + data.len() as u64 + CRC_SIZE as u64;
        let cut = match &self.current {
            None => true,
            // A chunk bigger than the limit still goes alone into a fresh segment.
            Some(seg) => {
                seg.size > SEGMENT_HEADER_SIZE && seg.size + budget > self.max_segment_size
            }
        };
        if cut {
            self.cut()?;
        }
        let seq = self.done.len() as u64;
        let seg = self
            .current
            .as_mut()
            .ok_or_else(|| io::Error::other("internal error: no open segment after cut"))?;
        let chunk_ref = (seq << 32) | seg.size;

        let mut len_buf = [0u8; MAX_VARINT_LEN];
        let n = encode_uvarint(data.len() as u64, &mut len_buf);
        let crc = crc32c_of(encoding, data);
        let write = |out: &mut BufWriter<File>| -> io::Result<()> {
            out.write_all(&len_buf[..n])?;
            out.write_all(&[encoding])?;
            out.write_all(data)?;
            out.write_all(&crc.to_be_bytes())
        };
        write(&mut seg.out).map_err(|e| with_path(e, &seg.path))?;
        seg.size += (n + 1 + data.len() + CRC_SIZE) as u64;
        Ok(chunk_ref)
    }

    /// Flushes (and, if durable, fsyncs) every segment and the directory;
    /// returns the files written.
    pub(crate) fn finish(mut self) -> io::Result<Vec<SegmentFile>> {
        self.close_current()?;
        if self.durable && !self.done.is_empty() {
            // The new directory entries must be durable too.
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| with_path(e, &self.dir))?;
        }
        Ok(std::mem::take(&mut self.done))
    }

    fn cut(&mut self) -> io::Result<()> {
        self.close_current()?;
        let seq = u32::try_from(self.done.len()).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "more than 2^32 segment files")
        })?;
        let name = segment_file_name(seq);
        let path = self.dir.join(&name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| with_path(e, &path))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut header = [0u8; SEGMENT_HEADER_SIZE as usize];
        header[..4].copy_from_slice(&MAGIC_CHUNKS.to_be_bytes());
        header[4] = CHUNKS_FORMAT_V1;
        out.write_all(&header).map_err(|e| with_path(e, &path))?;
        self.current = Some(OpenSegment {
            path,
            name,
            out,
            size: SEGMENT_HEADER_SIZE,
        });
        Ok(())
    }

    fn close_current(&mut self) -> io::Result<()> {
        let Some(seg) = self.current.take() else {
            return Ok(());
        };
        let file = seg
            .out
            .into_inner()
            .map_err(|e| with_path(e.into_error(), &seg.path))?;
        if self.durable {
            file.sync_all().map_err(|e| with_path(e, &seg.path))?;
        }
        self.done.push(SegmentFile {
            name: seg.name,
            size: seg.size,
        });
        Ok(())
    }
}

/// Why a chunk (or the chunks directory) could not be read.
#[allow(
    missing_docs,
    reason = "each variant's #[error] message documents it and its fields"
)]
#[derive(Debug, thiserror::Error)]
pub enum ChunkReadError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: not a chunk segment file: {reason}")]
    BadHeader { path: PathBuf, reason: String },
    #[error("{dir}: segment files are not numbered 000001, 000002, ... without gaps: found {found} where {expected} was expected")]
    SegmentGap {
        dir: PathBuf,
        found: String,
        expected: String,
    },
    #[error(
        "chunk ref {chunk_ref:#x}: segment index {segment} out of range ({segments} segment files)"
    )]
    NoSuchSegment {
        chunk_ref: ChunkRef,
        segment: u64,
        segments: usize,
    },
    #[error("{path} offset {offset}: {reason}")]
    BadChunk {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error(
        "{path} offset {offset}: CRC32C mismatch: stored {stored:#010x}, computed {computed:#010x}"
    )]
    Crc {
        path: PathBuf,
        offset: u64,
        stored: u32,
        computed: u32,
    },
}

/// The bytes of a block file: memory-mapped when read from disk, owned when
/// handed over in memory (fuzzing, tests). Both read the same way.
pub(crate) enum FileBytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl FileBytes {
    /// Maps `file`.
    pub(crate) fn map(file: &File) -> io::Result<Self> {
        // SAFETY: block files are immutable once written; as in Prometheus,
        // a file truncated underneath us by another process is outside what
        // we defend against.
        unsafe { Mmap::map(file) }.map(FileBytes::Mapped)
    }
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(m) => m,
            FileBytes::Owned(v) => v,
        }
    }
}

struct Segment {
    path: PathBuf,
    map: FileBytes,
}

/// Reads chunks from the memory-mapped segment files of one block.
pub struct ChunkReader {
    segments: Vec<Segment>,
}

impl fmt::Debug for ChunkReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.segments.iter().map(|s| &s.path))
            .finish()
    }
}

impl ChunkReader {
    /// Drops the mapped pages from this process' resident set. Mapped pages
    /// count towards RSS, so a reader that walks a whole block once (the
    /// health check before upload, verify) would otherwise grow by the
    /// block's size. The mappings are read-only views of files that do not
    /// change, so a page touched again is simply read back from the file.
    pub fn release_pages(&self) {
        for s in &self.segments {
            // SAFETY: MADV_DONTNEED on a read-only shared file mapping only
            // discards cached copies; later reads fault the same bytes in
            // from the unchanged file, so borrowed slices stay valid.
            if let FileBytes::Mapped(m) = &s.map {
                let _ = unsafe { m.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
            }
        }
    }

    /// Maps every segment file of `chunks_dir` and checks its header.
    ///
    /// Files whose names are not all digits are ignored, like Prometheus.
    pub fn open(chunks_dir: &Path) -> Result<Self, ChunkReadError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ChunkReadError::Io { path, source }
        };
        let mut numbered = Vec::new();
        for entry in fs::read_dir(chunks_dir).map_err(io_err(chunks_dir))? {
            let entry = entry.map_err(io_err(chunks_dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            // An absurdly long number cannot be one of ours and would not be contiguous.
            let seq = name.parse::<u64>().unwrap_or(u64::MAX);
            numbered.push((seq, name.to_string()));
        }
        numbered.sort();

        let mut segments = Vec::with_capacity(numbered.len());
        for (i, (seq, name)) in numbered.into_iter().enumerate() {
            if seq != i as u64 + 1 {
                return Err(ChunkReadError::SegmentGap {
                    dir: chunks_dir.to_path_buf(),
                    found: name,
                    expected: format!("{:06}", i + 1),
                });
            }
            let path = chunks_dir.join(&name);
            let file = File::open(&path).map_err(io_err(&path))?;
            let map = FileBytes::map(&file).map_err(io_err(&path))?;
            check_header(&path, &map)?;
            segments.push(Segment { path, map });
        }
        Ok(ChunkReader { segments })
    }

    /// A reader over segment files already in memory, in order (`000001`
    /// first); each is named by its path in errors. For fuzzing and tests:
    /// the same checks as [`ChunkReader::open`] without a directory.
    pub fn from_segments(segments: Vec<(PathBuf, Vec<u8>)>) -> Result<Self, ChunkReadError> {
        let segments = segments
            .into_iter()
            .map(|(path, bytes)| {
                check_header(&path, &bytes)?;
                Ok(Segment {
                    path,
                    map: FileBytes::Owned(bytes),
                })
            })
            .collect::<Result<_, ChunkReadError>>()?;
        Ok(ChunkReader { segments })
    }

    /// Number of segment files.
    pub fn num_segments(&self) -> usize {
        self.segments.len()
    }

    /// The encoding byte and data of the chunk at `r`, after checking its CRC.
    pub fn chunk(&self, r: ChunkRef) -> Result<(u8, &[u8]), ChunkReadError> {
        self.chunk_with_end(r).map(|(enc, data, _)| (enc, data))
    }

    /// Every chunk of every segment in file order, with its reference.
    ///
    /// Stops after the first error, since the following offsets are unknown.
    pub fn iter(&self) -> impl Iterator<Item = Result<(ChunkRef, u8, &[u8]), ChunkReadError>> + '_ {
        let mut seg = 0usize;
        let mut offset = SEGMENT_HEADER_SIZE;
        let mut failed = false;
        std::iter::from_fn(move || {
            if failed {
                return None;
            }
            loop {
                let s = self.segments.get(seg)?;
                if offset < s.map.len() as u64 {
                    break;
                }
                seg += 1;
                offset = SEGMENT_HEADER_SIZE;
            }
            let r = ((seg as u64) << 32) | offset;
            match self.chunk_with_end(r) {
                Ok((enc, data, end)) => {
                    offset = end;
                    Some(Ok((r, enc, data)))
                }
                Err(e) => {
                    failed = true;
                    Some(Err(e))
                }
            }
        })
    }

    fn chunk_with_end(&self, r: ChunkRef) -> Result<(u8, &[u8], u64), ChunkReadError> {
        let seq = r >> 32;
        let offset = r & 0xffff_ffff;
        let seg = usize::try_from(seq)
            .ok()
            .and_then(|i| self.segments.get(i))
            .ok_or(ChunkReadError::NoSuchSegment {
                chunk_ref: r,
                segment: seq,
                segments: self.segments.len(),
            })?;
        let bad = |reason: String| ChunkReadError::BadChunk {
            path: seg.path.clone(),
            offset,
            reason,
        };
        let bytes: &[u8] = &seg.map;
        if offset < SEGMENT_HEADER_SIZE {
            return Err(bad("offset points into the segment header".into()));
        }
        // Offsets come from a 32-bit field, so they fit usize on 64-bit targets.
        let start = offset as usize;
        let rest = bytes.get(start..).unwrap_or_default();
        if rest.is_empty() {
            return Err(bad(format!(
                "offset at or past the end of the {}-byte segment",
                bytes.len()
            )));
        }
        let (len, n) =
            decode_uvarint(rest).map_err(|e| bad(format!("unreadable chunk length: {e}")))?;
        let total = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(n + 1 + CRC_SIZE))
            .filter(|&t| t <= rest.len())
            .ok_or_else(|| {
                bad(format!(
                    "chunk of {len} data bytes runs past the end of the {}-byte segment",
                    bytes.len()
                ))
            })?;
        let enc_and_data = &rest[n..total - CRC_SIZE];
        let mut stored = [0u8; CRC_SIZE];
        stored.copy_from_slice(&rest[total - CRC_SIZE..total]);
        let stored = u32::from_be_bytes(stored);
        let computed = crc32c::crc32c(enc_and_data);
        if stored != computed {
            return Err(ChunkReadError::Crc {
                path: seg.path.clone(),
                offset,
                stored,
                computed,
            });
        }
        Ok((enc_and_data[0], &enc_and_data[1..], offset + total as u64))
    }
}

fn check_header(path: &Path, b: &[u8]) -> Result<(), ChunkReadError> {
    let bad = |reason: String| ChunkReadError::BadHeader {
        path: path.to_path_buf(),
        reason,
    };
    let Some(header) = b.first_chunk::<{ SEGMENT_HEADER_SIZE as usize }>() else {
        return Err(bad(format!(
            "{} bytes, shorter than the 8-byte header",
            b.len()
        )));
    };
    let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if magic != MAGIC_CHUNKS {
        return Err(bad(format!(
            "magic {magic:#010x}, want {MAGIC_CHUNKS:#010x}"
        )));
    }
    if header[4] != CHUNKS_FORMAT_V1 {
        return Err(bad(format!(
            "format version {}, want {CHUNKS_FORMAT_V1}",
            header[4]
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_all(
        dir: &Path,
        max: u64,
        chunks: &[(u8, Vec<u8>)],
    ) -> (Vec<ChunkRef>, Vec<SegmentFile>) {
        let mut w = SegmentWriter::create(dir, max, true).unwrap();
        let refs = chunks
            .iter()
            .map(|(e, d)| w.write_chunk(*e, d).unwrap())
            .collect();
        (refs, w.finish().unwrap())
    }

    fn sample_chunks() -> Vec<(u8, Vec<u8>)> {
        vec![
            (1, vec![0, 1, 2, 3]),
            (1, (0..200u8).collect()),
            (2, vec![]),
            (1, vec![0xff; 3]),
        ]
    }

    #[test]
    fn writes_prometheus_layout_and_reads_it_back() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("chunks");
        let chunks = sample_chunks();
        let (refs, files) = write_all(&dir, DEFAULT_SEGMENT_SIZE, &chunks);
        // 8-byte header, then len + enc + data + crc for each.
        assert_eq!(
            refs,
            vec![8, 8 + 1 + 1 + 4 + 4, 18 + 2 + 1 + 200 + 4, 225 + 1 + 1 + 4]
        );
        assert_eq!(
            files,
            vec![SegmentFile {
                name: "000001".into(),
                size: 231 + 1 + 1 + 3 + 4
            }]
        );

        let raw = fs::read(dir.join("000001")).unwrap();
        assert_eq!(raw.len() as u64, files[0].size);
        assert_eq!(&raw[..8], &[0x85, 0xBD, 0x40, 0xDD, 1, 0, 0, 0]);
        assert_eq!(&raw[8..14], &[4, 1, 0, 1, 2, 3]);
        assert_eq!(
            &raw[14..18],
            &crc32c::crc32c(&[1, 0, 1, 2, 3]).to_be_bytes()
        );
        assert_eq!(&raw[18..20], &[0xc8, 0x01], "uvarint of 200");

        let reader = ChunkReader::open(&dir).unwrap();
        assert_eq!(reader.num_segments(), 1);
        for (r, (enc, data)) in refs.iter().zip(&chunks) {
            assert_eq!(reader.chunk(*r).unwrap(), (*enc, data.as_slice()));
        }
        let all: Vec<_> = reader.iter().map(|c| c.unwrap()).collect();
        assert_eq!(all.len(), chunks.len());
        for ((r, enc, data), (want_r, (want_enc, want_data))) in
            all.iter().zip(refs.iter().zip(&chunks))
        {
            assert_eq!((r, enc, *data), (want_r, want_enc, want_data.as_slice()));
        }
    }

    #[test]
    fn cuts_segments_like_prometheus() {
        let tmp = tempfile::tempdir().unwrap();
        // Budget per chunk is 5 + 1 + len + 4: 40 bytes for len 30.
        let chunks = vec![
            (1, vec![1; 30]),  // seg 0 @ 8, budget fits: 8 + 40 <= 100
            (1, vec![2; 30]),  // seg 0 @ 44 (actual size 36): 44 + 40 <= 100
            (1, vec![3; 30]),  // 80 + 40 > 100: seg 1 @ 8
            (1, vec![4; 500]), // bigger than the limit: alone in seg 2
            (1, vec![5; 1]),   // seg 3 @ 8
        ];
        let (refs, files) = write_all(tmp.path(), 100, &chunks);
        assert_eq!(refs, vec![8, 44, 1 << 32 | 8, 2 << 32 | 8, 3 << 32 | 8]);
        let names: Vec<_> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["000001", "000002", "000003", "000004"]);
        assert_eq!(files[2].size, 8 + 2 + 1 + 500 + 4);
        let reader = ChunkReader::open(tmp.path()).unwrap();
        assert_eq!(reader.num_segments(), 4);
        for (r, (enc, data)) in refs.iter().zip(&chunks) {
            assert_eq!(reader.chunk(*r).unwrap(), (*enc, data.as_slice()));
        }
        assert_eq!(reader.iter().count(), chunks.len());
    }

    #[test]
    fn in_memory_segments_read_like_files() {
        let tmp = tempfile::tempdir().unwrap();
        let chunks = sample_chunks();
        let (refs, files) = write_all(tmp.path(), 100, &chunks);
        let segments = files
            .iter()
            .map(|f| {
                (
                    PathBuf::from(&f.name),
                    fs::read(tmp.path().join(&f.name)).unwrap(),
                )
            })
            .collect();
        let reader = ChunkReader::from_segments(segments).unwrap();
        assert_eq!(reader.num_segments(), files.len());
        for (r, (enc, data)) in refs.iter().zip(&chunks) {
            assert_eq!(reader.chunk(*r).unwrap(), (*enc, data.as_slice()));
        }
        reader.release_pages();

        let e = ChunkReader::from_segments(vec![(PathBuf::from("x/000001"), vec![0x85, 0xBD])])
            .unwrap_err();
        assert!(
            matches!(&e, ChunkReadError::BadHeader { path, .. } if path == Path::new("x/000001")),
            "{e}"
        );
    }

    #[test]
    fn released_pages_read_back_the_same_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("chunks");
        let chunks = sample_chunks();
        let (refs, _) = write_all(&dir, DEFAULT_SEGMENT_SIZE, &chunks);
        let reader = ChunkReader::open(&dir).unwrap();
        let before: Vec<Vec<u8>> = refs
            .iter()
            .map(|r| reader.chunk(*r).unwrap().1.to_vec())
            .collect();
        let held = reader.chunk(refs[0]).unwrap().1;
        reader.release_pages();
        assert_eq!(
            held,
            &before[0][..],
            "a slice held across a release still reads the file"
        );
        for (r, b) in refs.iter().zip(&before) {
            assert_eq!(reader.chunk(*r).unwrap().1, &b[..]);
        }
    }

    #[test]
    fn no_chunks_means_no_segment_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("chunks");
        let (_, files) = write_all(&dir, DEFAULT_SEGMENT_SIZE, &[]);
        assert!(files.is_empty());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        let reader = ChunkReader::open(&dir).unwrap();
        assert_eq!(reader.num_segments(), 0);
        assert_eq!(reader.iter().count(), 0);
    }

    #[test]
    fn refuses_to_overwrite_and_bad_sizes() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("000001"), b"old").unwrap();
        let mut w = SegmentWriter::create(tmp.path(), 1000, true).unwrap();
        let err = w.write_chunk(1, &[1]).unwrap_err();
        assert!(err.to_string().contains("000001"), "{err}");
        assert!(SegmentWriter::create(tmp.path(), 8, true).is_err());
        assert!(SegmentWriter::create(tmp.path(), (1 << 32) + 1, true).is_err());
    }

    #[test]
    fn corrupt_data_is_reported_with_file_and_offset() {
        let tmp = tempfile::tempdir().unwrap();
        let (refs, _) = write_all(tmp.path(), DEFAULT_SEGMENT_SIZE, &sample_chunks());
        let path = tmp.path().join("000001");
        let mut raw = fs::read(&path).unwrap();
        raw[20] ^= 0x10; // first data byte of the second chunk
        fs::write(&path, &raw).unwrap();
        let reader = ChunkReader::open(tmp.path()).unwrap();
        assert!(reader.chunk(refs[0]).is_ok());
        let err = reader.chunk(refs[1]).unwrap_err();
        assert!(
            matches!(err, ChunkReadError::Crc { offset: 18, .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("000001") && msg.contains("offset 18"), "{msg}");
        // Iteration stops at the corrupt chunk.
        let items: Vec<_> = reader.iter().collect();
        assert_eq!(items.len(), 2);
        assert!(items[1].is_err());
    }

    #[test]
    fn bad_refs_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let (_, files) = write_all(tmp.path(), DEFAULT_SEGMENT_SIZE, &sample_chunks());
        let reader = ChunkReader::open(tmp.path()).unwrap();
        let size = files[0].size;
        for r in [0, 4, size, size + 100, 0xffff_ffff, 9, 1 << 32 | 8] {
            assert!(reader.chunk(r).is_err(), "ref {r:#x}");
        }
        assert!(matches!(
            reader.chunk(5 << 32 | 8),
            Err(ChunkReadError::NoSuchSegment { segment: 5, .. })
        ));
    }

    #[test]
    fn truncated_segment_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let (refs, _) = write_all(tmp.path(), DEFAULT_SEGMENT_SIZE, &sample_chunks());
        let path = tmp.path().join("000001");
        let raw = fs::read(&path).unwrap();
        fs::write(&path, &raw[..100]).unwrap();
        let reader = ChunkReader::open(tmp.path()).unwrap();
        let err = reader.chunk(refs[1]).unwrap_err();
        assert!(err.to_string().contains("runs past the end"), "{err}");
    }

    #[test]
    fn bad_headers_and_gaps_are_rejected() {
        let cases: [(&[u8], &str); 3] = [
            (&[0x85, 0xBD, 0x40], "shorter"),
            (&[0x85, 0xBD, 0x40, 0xDE, 1, 0, 0, 0], "magic"),
            (&[0x85, 0xBD, 0x40, 0xDD, 2, 0, 0, 0], "version"),
        ];
        for (content, what) in cases {
            let tmp = tempfile::tempdir().unwrap();
            fs::write(tmp.path().join("000001"), content).unwrap();
            let err = ChunkReader::open(tmp.path()).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(what) && msg.contains("000001"), "{msg}");
        }

        let tmp = tempfile::tempdir().unwrap();
        write_all(tmp.path(), 50, &[(1, vec![0; 30]), (1, vec![0; 30])]);
        fs::rename(tmp.path().join("000002"), tmp.path().join("000003")).unwrap();
        fs::write(tmp.path().join("notes.txt"), b"ignored").unwrap();
        let err = ChunkReader::open(tmp.path()).unwrap_err();
        assert!(matches!(err, ChunkReadError::SegmentGap { .. }), "{err:?}");
    }

    #[test]
    fn segment_names() {
        assert_eq!(segment_file_name(0), "000001");
        assert_eq!(segment_file_name(999_999), "1000000");
    }
}
