//! Plan files: the work for one tenant and one UTC day, as JSON lines.
//!
//! A plan is a header `{"user":"<tenant>","day_index":N}` (ours add
//! `"source":"cortex"|"prometheus"|"openmetrics"`), then entries, then the
//! footer `{"complete":true}`. Entries by source:
//!
//! - cortex: `{"sid":"<seriesID>","cs":["<chunkID>",...]}`, exactly what
//!   Cortex's blocksconvert scanner writes, so its plans can be built here;
//! - prometheus: `{"block":"<URL of a source block directory>"}`, plus
//!   `"drop_labels":["replica",...]` when labels are to be removed from its
//!   series before merging (absent means none, so older plans still read);
//! - openmetrics: `{"staged":"<object path under the prefix>"}`.
//!
//! Plans are written plain, gzip or snappy-framed (the default, as Cortex
//! does); readers pick the decompression from the file name. A plan without
//! its footer is incomplete (its writer died or the upload was cut) and is
//! refused, as is anything after the footer.
//!
//! Reading is streaming: entries come one at a time, so a plan of any size
//! is read with bounded memory. This module knows nothing of the bucket or
//! of plan states (progress, finished, failed files).

use std::fmt;
use std::io::{self, BufRead, BufReader, BufWriter, Write};

use serde::{Deserialize, Serialize};

/// Longest plan line accepted (one Cortex series with its chunk IDs).
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// Where the entries of a plan come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanSource {
    /// Series and chunk IDs of a Cortex chunk store.
    Cortex,
    /// Prometheus TSDB blocks (replicas merged).
    Prometheus,
    /// Samples the scanner staged from OpenMetrics text.
    #[serde(rename = "openmetrics")]
    OpenMetrics,
}

impl fmt::Display for PlanSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PlanSource::Cortex => "cortex",
            PlanSource::Prometheus => "prometheus",
            PlanSource::OpenMetrics => "openmetrics",
        })
    }
}

/// First line of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanHeader {
    /// The tenant (Cortex's name for the field).
    pub user: String,
    /// UTC day: unix seconds / 86400.
    pub day_index: i32,
    /// Absent in Cortex's plans, which are all `cortex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<PlanSource>,
}

impl PlanHeader {
    /// The source of the entries; Cortex's headers name none.
    pub fn effective_source(&self) -> PlanSource {
        self.source.unwrap_or(PlanSource::Cortex)
    }
}

/// One unit of work in a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanEntry {
    /// One series (`sid`) and its chunk IDs (`cs`) in index order.
    Cortex {
        /// The series ID as the index names it.
        series_id: String,
        /// Chunk keys, as the chunk store names them.
        chunk_ids: Vec<String>,
    },
    /// One source block directory overlapping the day, and the labels to
    /// remove from its series (replica labels) before merging.
    Prometheus {
        /// URL of the source block directory.
        block: String,
        /// Label names removed from every series of the block.
        drop_labels: Vec<String>,
    },
    /// One staged object of sorted samples.
    OpenMetrics {
        /// The staged object's key, relative to the plan prefix.
        staged: String,
    },
}

impl PlanEntry {
    /// Which kind of source the entry reads.
    pub fn source(&self) -> PlanSource {
        match self {
            PlanEntry::Cortex { .. } => PlanSource::Cortex,
            PlanEntry::Prometheus { .. } => PlanSource::Prometheus,
            PlanEntry::OpenMetrics { .. } => PlanSource::OpenMetrics,
        }
    }
}

/// Serialized shape of an entry (field names are the file format).
#[derive(Serialize)]
#[serde(untagged)]
enum EntryOut<'a> {
    Cortex {
        sid: &'a str,
        cs: &'a [String],
    },
    Prometheus {
        block: &'a str,
        #[serde(skip_serializing_if = "<[String]>::is_empty")]
        drop_labels: &'a [String],
    },
    OpenMetrics {
        staged: &'a str,
    },
}

/// Any plan line, as Cortex reads it: every field optional, unknown fields
/// ignored.
#[derive(Deserialize, Default)]
struct Record {
    user: Option<String>,
    day_index: Option<i32>,
    source: Option<PlanSource>,
    sid: Option<String>,
    cs: Option<Vec<String>>,
    block: Option<String>,
    drop_labels: Option<Vec<String>>,
    staged: Option<String>,
    complete: Option<bool>,
}

/// How a plan file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanCompression {
    /// Plain JSON lines.
    None,
    /// gzip.
    Gzip,
    /// Snappy framing format, as Cortex's scanner writes.
    Snappy,
}

impl PlanCompression {
    /// The plan file suffix for this compression.
    pub fn suffix(self) -> &'static str {
        match self {
            PlanCompression::None => ".plan",
            PlanCompression::Gzip => ".plan.gz",
            PlanCompression::Snappy => ".plan.snappy",
        }
    }

    /// Splits a plan file name into its base name and compression, as
    /// Cortex's `IsPlanFilename` does; `None` if it is not a plan name.
    pub fn split_name(name: &str) -> Option<(&str, PlanCompression)> {
        [
            PlanCompression::Gzip,
            PlanCompression::Snappy,
            PlanCompression::None,
        ]
        .into_iter()
        .find_map(|c| name.strip_suffix(c.suffix()).map(|base| (base, c)))
    }

    /// Decompression for reading the named file: by extension, plain
    /// otherwise (Cortex does the same).
    pub fn for_reading(name: &str) -> PlanCompression {
        if name.ends_with(".snappy") {
            PlanCompression::Snappy
        } else if name.ends_with(".gz") {
            PlanCompression::Gzip
        } else {
            PlanCompression::None
        }
    }
}

/// Why a plan cannot be read. Every variant names the plan.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Reading the plan failed.
    #[error("plan {plan}: line {line}: reading: {source}")]
    Io {
        /// Which plan (its key).
        plan: String,
        /// Line number, from 1.
        line: u64,
        /// What the reader said.
        #[source]
        source: io::Error,
    },
    /// A line that is not what the format says.
    #[error("plan {plan}: line {line}: {reason}")]
    Invalid {
        /// Which plan (its key).
        plan: String,
        /// Line number, from 1.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// No footer: the plan was cut while written or read.
    #[error("plan {plan}: incomplete: no footer {{\"complete\":true}} after {line} lines")]
    Incomplete {
        /// Which plan (its key).
        plan: String,
        /// Lines read.
        line: u64,
    },
    /// Lines after the footer.
    #[error("plan {plan}: line {line}: data after the footer")]
    AfterFooter {
        /// Which plan (its key).
        plan: String,
        /// Line number of the first line after the footer.
        line: u64,
    },
}

enum Input<R: BufRead> {
    Plain(R),
    Gzip(BufReader<flate2::bufread::MultiGzDecoder<R>>),
    Snappy(BufReader<snap::read::FrameDecoder<R>>),
}

impl<R: BufRead> Input<R> {
    fn get(&mut self) -> &mut dyn BufRead {
        match self {
            Input::Plain(r) => r,
            Input::Gzip(r) => r,
            Input::Snappy(r) => r,
        }
    }
}

/// Reads a plan: the header on construction, then entries one by one.
pub struct PlanReader<R: BufRead> {
    name: String,
    input: Input<R>,
    line: Vec<u8>,
    line_no: u64,
    header: PlanHeader,
    footer_seen: bool,
    finished: bool,
    entries: u64,
    skipped: u64,
}

impl<R: BufRead> PlanReader<R> {
    /// Opens a plan, choosing the decompression from `name` (see
    /// [`PlanCompression::for_reading`]), and reads its header.
    pub fn new(name: &str, input: R) -> Result<Self, PlanError> {
        Self::with_compression(name, input, PlanCompression::for_reading(name))
    }

    /// Opens a plan with the given compression and reads its header.
    pub fn with_compression(
        name: &str,
        input: R,
        compression: PlanCompression,
    ) -> Result<Self, PlanError> {
        const BUF: usize = 256 << 10;
        let input = match compression {
            PlanCompression::None => Input::Plain(input),
            PlanCompression::Gzip => Input::Gzip(BufReader::with_capacity(
                BUF,
                flate2::bufread::MultiGzDecoder::new(input),
            )),
            PlanCompression::Snappy => Input::Snappy(BufReader::with_capacity(
                BUF,
                snap::read::FrameDecoder::new(input),
            )),
        };
        let mut r = PlanReader {
            name: name.to_owned(),
            input,
            line: Vec::new(),
            line_no: 0,
            header: PlanHeader {
                user: String::new(),
                day_index: 0,
                source: None,
            },
            footer_seen: false,
            finished: false,
            entries: 0,
            skipped: 0,
        };
        let Some(rec) = r.next_record()? else {
            return Err(PlanError::Incomplete {
                plan: r.name,
                line: r.line_no,
            });
        };
        r.header = match (rec.user, rec.day_index) {
            (Some(user), Some(day_index)) if !user.is_empty() => PlanHeader {
                user,
                day_index,
                source: rec.source,
            },
            _ => return Err(r.invalid("first line is not a plan header with user and day_index")),
        };
        Ok(r)
    }

    /// The header, read when the reader was made.
    pub fn header(&self) -> &PlanHeader {
        &self.header
    }

    /// The plan's name, as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Entries returned so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Entries skipped so far: Cortex entries without a series ID or
    /// without chunks (Cortex's builder ignores them silently).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The next entry; `None` once the footer was read and nothing follows.
    pub fn next_entry(&mut self) -> Result<Option<PlanEntry>, PlanError> {
        if self.finished {
            return Ok(None);
        }
        loop {
            let Some(rec) = self.next_record()? else {
                if !self.footer_seen {
                    return Err(PlanError::Incomplete {
                        plan: self.name.clone(),
                        line: self.line_no,
                    });
                }
                self.finished = true;
                return Ok(None);
            };
            if rec.complete == Some(true) {
                self.footer_seen = true;
                continue;
            }
            if let Some(entry) = self.entry_of(rec)? {
                self.entries += 1;
                return Ok(Some(entry));
            }
            self.skipped += 1;
        }
    }

    /// Turns a record into an entry of the plan's source; `None` for a
    /// Cortex entry that Cortex would skip.
    fn entry_of(&self, rec: Record) -> Result<Option<PlanEntry>, PlanError> {
        let source = self.header.effective_source();
        let entry = match source {
            PlanSource::Cortex => match (rec.sid, rec.cs) {
                (Some(series_id), Some(chunk_ids))
                    if !series_id.is_empty() && !chunk_ids.is_empty() =>
                {
                    PlanEntry::Cortex {
                        series_id,
                        chunk_ids,
                    }
                }
                _ => return Ok(None),
            },
            PlanSource::Prometheus => match rec.block {
                Some(block) if !block.is_empty() => PlanEntry::Prometheus {
                    block,
                    drop_labels: rec.drop_labels.unwrap_or_default(),
                },
                _ => return Err(self.invalid("expected a prometheus entry {\"block\":\"<url>\"}")),
            },
            PlanSource::OpenMetrics => match rec.staged {
                Some(staged) if !staged.is_empty() => PlanEntry::OpenMetrics { staged },
                _ => {
                    return Err(
                        self.invalid("expected an openmetrics entry {\"staged\":\"<path>\"}")
                    )
                }
            },
        };
        Ok(Some(entry))
    }

    fn invalid(&self, reason: impl Into<String>) -> PlanError {
        PlanError::Invalid {
            plan: self.name.clone(),
            line: self.line_no,
            reason: reason.into(),
        }
    }

    /// Reads and decodes the next non-blank line.
    fn next_record(&mut self) -> Result<Option<Record>, PlanError> {
        if !self.next_nonblank_line()? {
            return Ok(None);
        }
        if self.footer_seen {
            // Not worth decoding: nothing may follow the footer.
            return Err(PlanError::AfterFooter {
                plan: self.name.clone(),
                line: self.line_no,
            });
        }
        serde_json::from_slice(&self.line)
            .map(Some)
            .map_err(|e| self.invalid(format!("bad JSON: {e}")))
    }

    fn next_nonblank_line(&mut self) -> Result<bool, PlanError> {
        while self.read_line()? {
            if !self.line.iter().all(u8::is_ascii_whitespace) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Reads the next line into `self.line`; false at the end of input.
    fn read_line(&mut self) -> Result<bool, PlanError> {
        self.line.clear();
        let line_no = self.line_no + 1;
        loop {
            let buf = self
                .input
                .get()
                .fill_buf()
                .map_err(|source| PlanError::Io {
                    plan: self.name.clone(),
                    line: line_no,
                    source,
                })?;
            if buf.is_empty() {
                if self.line.is_empty() {
                    return Ok(false);
                }
                self.line_no = line_no;
                return Ok(true);
            }
            let (take, found) = match memchr::memchr(b'\n', buf) {
                Some(i) => (i, true),
                None => (buf.len(), false),
            };
            if self.line.len() + take > MAX_LINE_BYTES {
                self.line_no = line_no;
                return Err(self.invalid(format!("line longer than {MAX_LINE_BYTES} bytes")));
            }
            self.line.extend_from_slice(&buf[..take]);
            self.input.get().consume(take + usize::from(found));
            if found {
                self.line_no = line_no;
                return Ok(true);
            }
        }
    }
}

impl<R: BufRead> Iterator for PlanReader<R> {
    type Item = Result<PlanEntry, PlanError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_entry() {
            Ok(e) => e.map(Ok),
            Err(e) => {
                // An error ends the plan; do not spin on it.
                self.finished = true;
                Some(Err(e))
            }
        }
    }
}

enum Output<W: Write> {
    Plain(BufWriter<W>),
    Gzip(flate2::write::GzEncoder<W>),
    // Boxed: the encoder holds its 64 KiB-block buffers inline.
    Snappy(Box<snap::write::FrameEncoder<W>>),
}

impl<W: Write> Output<W> {
    fn get(&mut self) -> &mut dyn Write {
        match self {
            Output::Plain(w) => w,
            Output::Gzip(w) => w,
            Output::Snappy(w) => w,
        }
    }
}

/// Writes a plan: header on creation, entries, footer on [`finish`](Self::finish).
pub struct PlanWriter<W: Write> {
    out: Output<W>,
    source: PlanSource,
    scratch: Vec<u8>,
    entries: u64,
}

impl<W: Write> PlanWriter<W> {
    /// Starts a plan and writes its header.
    pub fn new(out: W, compression: PlanCompression, header: &PlanHeader) -> io::Result<Self> {
        let out = match compression {
            PlanCompression::None => Output::Plain(BufWriter::new(out)),
            PlanCompression::Gzip => Output::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::default(),
            )),
            PlanCompression::Snappy => {
                Output::Snappy(Box::new(snap::write::FrameEncoder::new(out)))
            }
        };
        let mut w = PlanWriter {
            out,
            source: header.effective_source(),
            scratch: Vec::with_capacity(1024),
            entries: 0,
        };
        w.write_line(header)?;
        Ok(w)
    }

    /// Appends an entry. It must be of the header's source, and a Cortex
    /// entry needs a series ID and chunks (readers would skip it otherwise).
    pub fn write_entry(&mut self, entry: &PlanEntry) -> io::Result<()> {
        if entry.source() != self.source {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} entry in a {} plan", entry.source(), self.source),
            ));
        }
        let out = match entry {
            PlanEntry::Cortex {
                series_id,
                chunk_ids,
            } => {
                if series_id.is_empty() || chunk_ids.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("cortex plan entry {series_id:?} without series ID or chunks"),
                    ));
                }
                EntryOut::Cortex {
                    sid: series_id,
                    cs: chunk_ids,
                }
            }
            PlanEntry::Prometheus { block, drop_labels } => {
                EntryOut::Prometheus { block, drop_labels }
            }
            PlanEntry::OpenMetrics { staged } => EntryOut::OpenMetrics { staged },
        };
        self.write_line(&out)?;
        self.entries += 1;
        Ok(())
    }

    /// Entries written so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Writes the footer, ends the compression stream and returns the
    /// underlying writer (flushed).
    pub fn finish(mut self) -> io::Result<W> {
        self.out.get().write_all(b"{\"complete\":true}\n")?;
        let mut inner = match self.out {
            Output::Plain(w) => w.into_inner().map_err(|e| e.into_error())?,
            Output::Gzip(w) => w.finish()?,
            Output::Snappy(w) => (*w).into_inner().map_err(|e| e.into_error())?,
        };
        inner.flush()?;
        Ok(inner)
    }

    fn write_line<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        self.scratch.clear();
        serde_json::to_writer(&mut self.scratch, value)?;
        self.scratch.push(b'\n');
        self.out.get().write_all(&self.scratch)
    }
}

#[cfg(test)]
mod tests;
