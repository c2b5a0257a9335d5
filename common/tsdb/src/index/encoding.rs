//! Byte-level pieces of the index format shared by the writer and the reader.
//!
//! The reading side is a bounds-checked cursor ([`Dec`]) that reports where
//! in the file it failed, and [`section_at`], which opens a
//! `len <4b> | body | CRC32C <4b>` section and checks its checksum. The
//! writing side is [`FileWriter`] (a buffered file that knows its position
//! and can patch bytes it already wrote) and [`PatchedSection`], which writes
//! a section whose length and leading count are only known at its end.
//!
//! Nothing here knows what a series or a posting is; that is the writer's and
//! the reader's business.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use base::codec::{decode_uvarint, unzigzag, VarintError};

use super::IndexFormatError;

/// A bounds-checked cursor over part of an index file.
pub(crate) struct Dec<'a> {
    b: &'a [u8],
    /// Absolute file offset of `b[0]`, for error messages.
    base: u64,
    pos: usize,
}

impl<'a> Dec<'a> {
    pub(crate) fn new(b: &'a [u8], base: u64) -> Self {
        Dec { b, base, pos: 0 }
    }

    /// Absolute file offset of the next byte.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    pub(crate) fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    fn truncated(&self, what: &'static str) -> IndexFormatError {
        IndexFormatError::Truncated {
            offset: self.offset(),
            what,
        }
    }

    pub(crate) fn bytes(
        &mut self,
        n: usize,
        what: &'static str,
    ) -> Result<&'a [u8], IndexFormatError> {
        if n > self.remaining() {
            return Err(self.truncated(what));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn be32(&mut self, what: &'static str) -> Result<u32, IndexFormatError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn be64(&mut self, what: &'static str) -> Result<u64, IndexFormatError> {
        let b = self.bytes(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// Go's `binary.Uvarint` (the rule of `base::codec`): at most 10
    /// bytes, no overflow.
    pub(crate) fn uvarint(&mut self, what: &'static str) -> Result<u64, IndexFormatError> {
        match decode_uvarint(&self.b[self.pos..]) {
            Ok((v, n)) => {
                self.pos += n;
                Ok(v)
            }
            Err(VarintError::Truncated) => Err(self.truncated(what)),
            Err(VarintError::Overflow) => Err(IndexFormatError::BadVarint {
                offset: self.offset(),
                what,
            }),
        }
    }

    /// Go's `binary.Varint` (zigzag).
    pub(crate) fn varint(&mut self, what: &'static str) -> Result<i64, IndexFormatError> {
        self.uvarint(what).map(unzigzag)
    }

    /// A uvarint that must fit 32 bits (symbol references, counts).
    pub(crate) fn uvarint32(&mut self, what: &'static str) -> Result<u32, IndexFormatError> {
        let offset = self.offset();
        let v = self.uvarint(what)?;
        u32::try_from(v).map_err(|_| IndexFormatError::BadVarint { offset, what })
    }

    pub(crate) fn uvarint_bytes(
        &mut self,
        what: &'static str,
    ) -> Result<&'a [u8], IndexFormatError> {
        let n = self.uvarint(what)?;
        let n = usize::try_from(n).map_err(|_| self.truncated(what))?;
        self.bytes(n, what)
    }

    pub(crate) fn uvarint_str(&mut self, what: &'static str) -> Result<&'a str, IndexFormatError> {
        let offset = self.offset();
        let b = self.uvarint_bytes(what)?;
        std::str::from_utf8(b).map_err(|_| IndexFormatError::BadUtf8 { offset })
    }
}

/// Opens the section `len <4b> | body | CRC32C <4b>` at `off` in `data`,
/// checks the checksum and returns a cursor over the body.
pub(crate) fn section_at<'a>(
    data: &'a [u8],
    off: u64,
    section: &'static str,
) -> Result<Dec<'a>, IndexFormatError> {
    let truncated = IndexFormatError::Truncated {
        offset: off,
        what: section,
    };
    let start = usize::try_from(off).map_err(|_| truncated.clone())?;
    let len_end = start.checked_add(4).ok_or_else(|| truncated.clone())?;
    let len_bytes = data.get(start..len_end).ok_or_else(|| truncated.clone())?;
    let len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
    let body_end = len_end + len;
    let body = data
        .get(len_end..body_end)
        .ok_or_else(|| truncated.clone())?;
    let crc = data.get(body_end..body_end + 4).ok_or(truncated)?;
    check_crc(body, crc, off, section)?;
    Ok(Dec::new(body, len_end as u64))
}

/// Compares the stored big-endian CRC32C with the one of `body`.
pub(crate) fn check_crc(
    body: &[u8],
    stored: &[u8],
    offset: u64,
    section: &'static str,
) -> Result<(), IndexFormatError> {
    let stored = u32::from_be_bytes([stored[0], stored[1], stored[2], stored[3]]);
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(IndexFormatError::Checksum {
            section,
            offset,
            stored,
            computed,
        });
    }
    Ok(())
}

/// A buffered output file that tracks its position and can patch bytes it
/// already wrote. Every I/O error names the file.
pub(crate) struct FileWriter {
    path: PathBuf,
    out: BufWriter<File>,
    pos: u64,
}

const WRITE_BUFFER: usize = 1 << 20;

impl FileWriter {
    pub(crate) fn create(path: &Path) -> io::Result<Self> {
        let f = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(FileWriter {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(WRITE_BUFFER, f),
            pos: 0,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    pub(crate) fn write(&mut self, b: &[u8]) -> io::Result<()> {
        self.out.write_all(b)?;
        self.pos += b.len() as u64;
        Ok(())
    }

    /// Adds zero bytes until the position is a multiple of `align`, as
    /// Prometheus' `AddPadding` does.
    pub(crate) fn pad(&mut self, align: u64) -> io::Result<()> {
        let rem = self.pos % align;
        if rem != 0 {
            let zeros = [0u8; 16];
            let n = (align - rem) as usize;
            let mut left = n;
            while left > 0 {
                let k = left.min(zeros.len());
                self.write(&zeros[..k])?;
                left -= k;
            }
        }
        Ok(())
    }

    /// Overwrites bytes at `pos`, which must already have been written.
    pub(crate) fn write_at(&mut self, pos: u64, b: &[u8]) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().write_all_at(b, pos)
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Appends the whole content of another file.
    pub(crate) fn copy_from(&mut self, src: &Path) -> io::Result<u64> {
        let mut f = File::open(src)?;
        let n = io::copy(&mut f, &mut self.out)?;
        self.pos += n;
        Ok(n)
    }

    /// Flushes and fsyncs.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_all()
    }
}

/// Bodies up to this size are assembled in memory and written at once;
/// larger ones are streamed and their header patched afterwards, so one
/// huge postings list does not need to fit in memory.
const SECTION_BUFFER_LIMIT: usize = 1 << 20;

/// A section `len <4b> | header | rest | CRC32C(header + rest) <4b>` whose
/// fixed-size `header` (a count, typically) is known only once `rest` has
/// been written.
pub(crate) struct PatchedSection {
    start: u64,
    header_len: usize,
    mem: Vec<u8>,
    streamed: bool,
    rest_crc: u32,
    rest_len: u64,
}

impl PatchedSection {
    /// Starts a section at the writer's current position.
    pub(crate) fn begin(w: &FileWriter, header_len: usize) -> Self {
        PatchedSection {
            start: w.pos(),
            header_len,
            mem: Vec::new(),
            streamed: false,
            rest_crc: 0,
            rest_len: 0,
        }
    }

    pub(crate) fn push(&mut self, w: &mut FileWriter, b: &[u8]) -> io::Result<()> {
        self.rest_crc = crc32c::crc32c_append(self.rest_crc, b);
        self.rest_len += b.len() as u64;
        if self.streamed {
            return w.write(b);
        }
        self.mem.extend_from_slice(b);
        if self.mem.len() > SECTION_BUFFER_LIMIT {
            debug_assert_eq!(w.pos(), self.start);
            w.write(&vec![0u8; 4 + self.header_len])?;
            w.write(&self.mem)?;
            self.mem = Vec::new();
            self.streamed = true;
        }
        Ok(())
    }

    /// Writes the header, the length and the checksum. Fails when the body
    /// does not fit the 4-byte length field.
    pub(crate) fn end(self, w: &mut FileWriter, header: &[u8]) -> io::Result<()> {
        debug_assert_eq!(header.len(), self.header_len);
        let body_len = self.header_len as u64 + self.rest_len;
        let len = u32::try_from(body_len).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "index section at {} of {} is {body_len} bytes, over the 4 GiB the format allows",
                    self.start,
                    w.path().display()
                ),
            )
        })?;
        let crc = crc32c::crc32c_combine(
            crc32c::crc32c(header),
            self.rest_crc,
            self.rest_len as usize,
        );
        if self.streamed {
            w.write(&crc.to_be_bytes())?;
            let mut head = Vec::with_capacity(4 + header.len());
            head.extend_from_slice(&len.to_be_bytes());
            head.extend_from_slice(header);
            w.write_at(self.start, &head)
        } else {
            debug_assert_eq!(w.pos(), self.start);
            w.write(&len.to_be_bytes())?;
            w.write(header)?;
            w.write(&self.mem)?;
            w.write(&crc.to_be_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_matches_go_and_rejects_overflow() {
        let mut d = Dec::new(&[0xac, 0x02, 0x01], 100);
        assert_eq!(d.uvarint("x").unwrap(), 300);
        assert_eq!(d.offset(), 102);
        assert_eq!(d.uvarint("x").unwrap(), 1);
        let over = [0xff; 10];
        let err = Dec::new(&over, 0).uvarint("x").unwrap_err();
        assert!(matches!(err, IndexFormatError::BadVarint { offset: 0, .. }));
        let err = Dec::new(&[0x80], 7).uvarint("x").unwrap_err();
        assert!(matches!(err, IndexFormatError::Truncated { offset: 7, .. }));
    }

    #[test]
    fn varint_is_zigzag() {
        let mut out = Vec::new();
        base::codec::put_varint(&mut out, -3);
        assert_eq!(Dec::new(&out, 0).varint("x").unwrap(), -3);
    }

    #[test]
    fn patched_section_same_bytes_buffered_or_streamed() {
        let dir = tempfile::tempdir().unwrap();
        let mut outputs = Vec::new();
        for n in [10usize, SECTION_BUFFER_LIMIT / 4 + 10] {
            let p = dir.path().join(format!("s{n}"));
            let mut w = FileWriter::create(&p).unwrap();
            w.write(b"xyz").unwrap();
            let mut s = PatchedSection::begin(&w, 4);
            for i in 0..n as u32 {
                s.push(&mut w, &i.to_be_bytes()).unwrap();
            }
            s.end(&mut w, &(n as u32).to_be_bytes()).unwrap();
            w.sync().unwrap();
            let data = std::fs::read(&p).unwrap();
            let mut d = section_at(&data, 3, "test").unwrap();
            assert_eq!(d.be32("n").unwrap() as usize, n);
            assert_eq!(d.remaining(), 4 * n);
            outputs.push(data.len());
        }
        assert_eq!(outputs[0], 3 + 4 + 4 + 40 + 4);
    }

    #[test]
    fn section_checksum_mismatch_is_reported() {
        let mut data = vec![0, 0, 0, 2, 1, 2];
        data.extend_from_slice(&crc32c::crc32c(&[1, 2]).to_be_bytes());
        assert!(section_at(&data, 0, "t").is_ok());
        data[5] = 3;
        let err = section_at(&data, 0, "t").err().unwrap();
        assert!(matches!(err, IndexFormatError::Checksum { offset: 0, .. }));
    }
}
