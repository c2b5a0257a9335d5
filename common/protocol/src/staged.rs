//! Staged samples: how the OpenMetrics scanner hands one tenant-day to a
//! builder anywhere, through the bucket.
//!
//! A staged object holds series in label order, each with its samples in
//! time order (equal timestamps kept, in the order they appeared in the
//! source, so the builder can keep the first and count the rest). Samples
//! are stored as XOR chunks because that is compact and we have a fast codec
//! for it; they are not block chunks (they may repeat a timestamp).
//!
//! Layout: magic `BCSTAGE1`, then a snappy-framed stream (CRC per frame) of
//! records: `uvarint nlabels`, name/value strings, `uvarint nchunks`, and per
//! chunk `uvarint len` + XOR bytes. A record with zero labels ends the
//! stream and carries the series and sample counts, so a truncated object is
//! detected instead of silently building a short block.

use std::io::{self, BufRead, Read, Write};

use base::codec::{put_str, put_uvarint};
use base::{Label, Labels};
use tsdb::{XorAppender, XorIterator};

const MAGIC: &[u8; 8] = b"BCSTAGE1";
/// Samples per staged chunk; the count field of an XOR chunk is a u16.
const STAGE_CHUNK_SAMPLES: usize = 4096;

/// Why a staged object cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum StagedError {
    /// Reading or decompressing failed.
    #[error("staged object: {0}")]
    Io(#[from] io::Error),
    /// Not written by [`StagedWriter`].
    #[error("staged object: not a staged object (bad magic)")]
    BadMagic,
    /// The end record is missing: the upload or download was cut.
    #[error("staged object is truncated: the end record is missing after {series} series")]
    Truncated {
        /// Series read before the end of the input.
        series: u64,
    },
    /// The end record disagrees with what was read.
    #[error("staged object: end record says {expected} series/{expected_samples} samples, read {series}/{samples}")]
    CountMismatch {
        /// Series the end record counts.
        expected: u64,
        /// Samples the end record counts.
        expected_samples: u64,
        /// Series read.
        series: u64,
        /// Samples read.
        samples: u64,
    },
    /// A series out of label order, or samples that do not decode.
    #[error("staged object: series {series}: {reason}")]
    BadSeries {
        /// The series' labels, as far as they were read.
        series: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// One series as staged: its labels and samples in time order.
pub type StagedSeries = (Labels, Vec<(i64, f64)>);

/// Writes a staged object: magic, then snappy-framed series in label order, then an end record with the counts.
pub struct StagedWriter<W: Write> {
    out: snap::write::FrameEncoder<W>,
    buf: Vec<u8>,
    series: u64,
    samples: u64,
    last: Option<Labels>,
}

impl<W: Write> StagedWriter<W> {
    /// Writes the magic; series follow with `write_series`.
    pub fn new(mut w: W) -> io::Result<Self> {
        w.write_all(MAGIC)?;
        Ok(StagedWriter {
            out: snap::write::FrameEncoder::new(w),
            buf: Vec::with_capacity(64 * 1024),
            series: 0,
            samples: 0,
            last: None,
        })
    }

    /// Appends a series; series must come in increasing label order and
    /// samples in non-decreasing time order.
    pub fn write_series(
        &mut self,
        labels: &Labels,
        samples: &[(i64, f64)],
    ) -> Result<(), StagedError> {
        let bad = |reason: &str| StagedError::BadSeries {
            series: labels.to_string(),
            reason: reason.to_string(),
        };
        if labels.is_empty() {
            return Err(bad("no labels"));
        }
        if let Some(prev) = &self.last {
            if prev >= labels {
                return Err(bad("series out of order"));
            }
        }
        if samples.windows(2).any(|w| w[1].0 < w[0].0) {
            return Err(bad("samples out of time order"));
        }
        self.buf.clear();
        put_uvarint(&mut self.buf, labels.len() as u64);
        for l in labels.iter() {
            put_str(&mut self.buf, &l.name);
            put_str(&mut self.buf, &l.value);
        }
        let chunks = samples.chunks(STAGE_CHUNK_SAMPLES);
        put_uvarint(&mut self.buf, chunks.len() as u64);
        for part in chunks {
            let mut app = XorAppender::new();
            for &(t, v) in part {
                app.append(t, v);
            }
            let bytes = app.bytes();
            put_uvarint(&mut self.buf, bytes.len() as u64);
            self.buf.extend_from_slice(bytes);
        }
        self.out.write_all(&self.buf)?;
        self.series += 1;
        self.samples += samples.len() as u64;
        self.last = Some(labels.clone());
        Ok(())
    }

    /// Series written so far.
    pub fn series(&self) -> u64 {
        self.series
    }

    /// Samples written so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Writes the end record and returns the inner writer, flushed.
    pub fn finish(mut self) -> Result<W, StagedError> {
        self.buf.clear();
        put_uvarint(&mut self.buf, 0);
        put_uvarint(&mut self.buf, self.series);
        put_uvarint(&mut self.buf, self.samples);
        self.out.write_all(&self.buf)?;
        let mut w = self
            .out
            .into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?;
        w.flush()?;
        Ok(w)
    }
}

/// Reads series back one at a time; memory holds one series.
pub struct StagedReader<R: Read> {
    input: io::BufReader<snap::read::FrameDecoder<R>>,
    series: u64,
    samples: u64,
    done: bool,
}

impl<R: Read> StagedReader<R> {
    /// Checks the magic; series follow with `next_series`.
    pub fn new(mut r: R) -> Result<Self, StagedError> {
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic)
            .map_err(|_| StagedError::BadMagic)?;
        if &magic != MAGIC {
            return Err(StagedError::BadMagic);
        }
        Ok(StagedReader {
            input: io::BufReader::with_capacity(256 * 1024, snap::read::FrameDecoder::new(r)),
            series: 0,
            samples: 0,
            done: false,
        })
    }

    /// The next series, or `None` after the end record.
    pub fn next_series(&mut self) -> Result<Option<StagedSeries>, StagedError> {
        if self.done {
            return Ok(None);
        }
        if self.input.fill_buf()?.is_empty() {
            return Err(StagedError::Truncated {
                series: self.series,
            });
        }
        let n = read_uvarint(&mut self.input).map_err(|e| self.truncated(e))?;
        if n == 0 {
            let expected = read_uvarint(&mut self.input).map_err(|e| self.truncated(e))?;
            let expected_samples = read_uvarint(&mut self.input).map_err(|e| self.truncated(e))?;
            if expected != self.series || expected_samples != self.samples {
                return Err(StagedError::CountMismatch {
                    expected,
                    expected_samples,
                    series: self.series,
                    samples: self.samples,
                });
            }
            self.done = true;
            return Ok(None);
        }
        let mut labels = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let name = read_string(&mut self.input).map_err(|e| self.truncated(e))?;
            let value = read_string(&mut self.input).map_err(|e| self.truncated(e))?;
            labels.push(Label { name, value });
        }
        let labels =
            Labels::normalize(labels.into_iter().map(|l| (l.name, l.value))).map_err(|e| {
                StagedError::BadSeries {
                    series: format!("#{}", self.series),
                    reason: e.to_string(),
                }
            })?;
        let nchunks = read_uvarint(&mut self.input).map_err(|e| self.truncated(e))?;
        let mut samples = Vec::new();
        let mut chunk = Vec::new();
        for _ in 0..nchunks {
            let len = read_uvarint(&mut self.input).map_err(|e| self.truncated(e))?;
            chunk.resize(usize::try_from(len).unwrap_or(usize::MAX).min(1 << 26), 0);
            self.input
                .read_exact(&mut chunk)
                .map_err(|e| self.truncated(e))?;
            let it = XorIterator::new(&chunk).map_err(|e| StagedError::BadSeries {
                series: labels.to_string(),
                reason: e.to_string(),
            })?;
            for s in it {
                samples.push(s.map_err(|e| StagedError::BadSeries {
                    series: labels.to_string(),
                    reason: e.to_string(),
                })?);
            }
        }
        self.series += 1;
        self.samples += samples.len() as u64;
        Ok(Some((labels, samples)))
    }

    fn truncated(&self, e: io::Error) -> StagedError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            StagedError::Truncated {
                series: self.series,
            }
        } else {
            StagedError::Io(e)
        }
    }
}

/// A uvarint that must be there: the end of the input is `UnexpectedEof`.
fn read_uvarint(r: &mut impl BufRead) -> io::Result<u64> {
    base::codec::read_uvarint(r)?.ok_or_else(|| io::ErrorKind::UnexpectedEof.into())
}

fn read_string(r: &mut impl BufRead) -> io::Result<String> {
    let len = read_uvarint(r)?;
    if len > 1 << 20 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "label longer than 1 MiB",
        ));
    }
    let mut b = vec![0u8; len as usize];
    r.read_exact(&mut b)?;
    String::from_utf8(b)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "label is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(p: &[(&str, &str)]) -> Labels {
        Labels::normalize(p.iter().copied()).unwrap()
    }

    #[test]
    fn round_trip_keeps_duplicates_and_bits() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let a: Vec<(i64, f64)> = (0..10_000).map(|i| (i * 1000, i as f64)).collect();
        let b = vec![(5, 1.0), (5, 2.0), (7, stale), (9, f64::INFINITY)];
        let mut w = StagedWriter::new(Vec::new()).unwrap();
        w.write_series(&ls(&[("__name__", "a")]), &a).unwrap();
        w.write_series(&ls(&[("__name__", "b"), ("x", "café")]), &b)
            .unwrap();
        assert!(w.write_series(&ls(&[("__name__", "a")]), &a).is_err());
        let bytes = w.finish().unwrap();
        let mut r = StagedReader::new(&bytes[..]).unwrap();
        let (l, s) = r.next_series().unwrap().unwrap();
        assert_eq!(l, ls(&[("__name__", "a")]));
        assert_eq!(s, a);
        let (_, s) = r.next_series().unwrap().unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s[1], (5, 2.0));
        assert_eq!(s[2].1.to_bits(), 0x7ff0_0000_0000_0002);
        assert!(r.next_series().unwrap().is_none());
    }

    #[test]
    fn truncation_is_detected() {
        let mut w = StagedWriter::new(Vec::new()).unwrap();
        w.write_series(&ls(&[("__name__", "a")]), &[(1, 1.0)])
            .unwrap();
        let bytes = w.finish().unwrap();
        let cut = &bytes[..bytes.len() - 6];
        let mut r = StagedReader::new(cut).unwrap();
        let mut err = None;
        for _ in 0..3 {
            match r.next_series() {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        assert!(err.is_some(), "truncated staged object was accepted");
    }
}
