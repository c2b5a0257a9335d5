//! Streaming parser for the OpenMetrics text that `promtool tsdb
//! create-blocks-from openmetrics` (Prometheus 2.42) accepts.
//!
//! The input is read line by line from any [`BufRead`], so files larger
//! than memory are fine: memory is one line (at most [`MAX_LINE_BYTES`])
//! plus the last series text. Accepted and refused input follow promtool:
//!
//! - sample lines `name{label="value",...} value timestamp`, single spaces,
//!   timestamps in seconds (a float), turned into milliseconds as Prometheus
//!   does: `int64(seconds * 1000)` in `f64`, truncated toward zero;
//! - a sample without a timestamp is an error (promtool refuses it too);
//! - values and timestamps are parsed like Go's `strconv.ParseFloat`
//!   (`NaN`, `+Inf`, `-Inf`, exponents; no `p`, `P` or `_`; overflow is an
//!   error) and `NaN` is Go's `math.NaN()` bit pattern, so values are
//!   bit-exact with what promtool writes;
//! - `# HELP`, `# TYPE`, `# UNIT` lines are checked and skipped; any other
//!   comment or an empty line is an error;
//! - exemplars (` # {labels} value [timestamp]` after the sample) are checked
//!   and ignored; only `_total` and `_bucket` metrics may carry them;
//! - the input must end with `# EOF` (optionally followed by one newline)
//!   and nothing after it.
//!
//! For speed, samples are yielded as borrowed views ([`Sample`],
//! [`SeriesRef`]): the caller can intern series by their text and build
//! [`Labels`] only once per distinct text. Consecutive lines of the same
//! series are validated once.
//!
//! Not for grouping, sorting, deduplicating or staging samples (the
//! scanner does that), nor for the classic Prometheus text format (which
//! lacks `# EOF` and takes millisecond timestamps).

use std::borrow::Cow;
use std::io::{self, BufRead};

use base::{Label, Labels};

mod number;
mod syntax;

#[cfg(test)]
use number::{parse_go_float, parse_timestamp};
use syntax::{check_comment, scan_series, scan_value_and_timestamp};

/// Longest line accepted, so that a file without newlines cannot exhaust
/// memory.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Why the input was refused.
#[allow(
    missing_docs,
    reason = "each variant's #[error] message documents it and its fields"
)]
#[derive(Debug, thiserror::Error)]
pub enum OpenMetricsError {
    #[error("openmetrics line {line}: {reason}")]
    Syntax { line: u64, reason: String },
    #[error("openmetrics line {line}: reading input: {source}")]
    Io {
        line: u64,
        #[source]
        source: io::Error,
    },
}

impl OpenMetricsError {
    /// 1-based line number the error is about.
    pub fn line(&self) -> u64 {
        match self {
            OpenMetricsError::Syntax { line, .. } | OpenMetricsError::Io { line, .. } => *line,
        }
    }

    /// The same error with `lines` added to its line number: turns a line
    /// of a [`BlockParser`] block into a line of the whole input, given the
    /// lines of the blocks before it.
    pub fn offset_lines(mut self, lines: u64) -> Self {
        match &mut self {
            OpenMetricsError::Syntax { line, .. } | OpenMetricsError::Io { line, .. } => {
                *line += lines
            }
        }
        self
    }
}

/// One sample, borrowing the parser's current line.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// The series text of the line (metric name and labels).
    pub series: SeriesRef<'a>,
    /// Milliseconds since the epoch, as promtool computes them.
    pub timestamp_ms: i64,
    /// The value, bit-exact as Prometheus parses it.
    pub value: f64,
}

/// The series part of a sample line (`name{labels}`), already validated.
#[derive(Debug, Clone, Copy)]
pub struct SeriesRef<'a> {
    text: &'a str,
    name_len: usize,
    line: u64,
}

impl<'a> SeriesRef<'a> {
    /// Validates a series text on its own (as [`SeriesRef::text`] gives it),
    /// so that a text kept apart from its line can become labels again.
    /// `line` is the line errors name.
    pub fn parse(text: &'a str, line: u64) -> Result<Self, OpenMetricsError> {
        let syntax = |reason: String| OpenMetricsError::Syntax { line, reason };
        let (series_len, name_len) = scan_series(text.as_bytes()).map_err(syntax)?;
        if series_len != text.len() {
            return Err(syntax(format!("{text:?} is not a series text")));
        }
        Ok(SeriesRef {
            text,
            name_len,
            line,
        })
    }

    /// The series exactly as written, e.g. `up{job="a"}`. Equal texts are
    /// the same series; different texts may still be the same series (label
    /// order, escapes), so compare [`Labels`] where that matters.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The metric name.
    pub fn metric_name(&self) -> &'a str {
        &self.text[..self.name_len]
    }

    /// 1-based line the series was read from.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Label pairs as written (without `__name__`), values unescaped.
    pub fn label_pairs(&self) -> LabelPairs<'a> {
        let rest = &self.text[self.name_len..];
        LabelPairs {
            rest: rest.strip_prefix('{').unwrap_or(""),
        }
    }

    /// The label set, `__name__` included. Like the Prometheus head
    /// appender, labels with an empty value are dropped, then a repeated
    /// label name is an error.
    pub fn labels(&self) -> Result<Labels, OpenMetricsError> {
        let mut v = Vec::with_capacity(8);
        v.push(Label {
            name: "__name__".to_owned(),
            value: self.metric_name().to_owned(),
        });
        for (name, value) in self.label_pairs() {
            if !value.is_empty() {
                v.push(Label {
                    name: name.to_owned(),
                    value: value.into_owned(),
                });
            }
        }
        v.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        if let Some(w) = v.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(OpenMetricsError::Syntax {
                line: self.line,
                reason: format!("label name {:?} is not unique in {}", w[0].name, self.text),
            });
        }
        Ok(Labels::from_sorted(v))
    }
}

/// Iterator over the label pairs of a validated series text.
#[derive(Debug, Clone)]
pub struct LabelPairs<'a> {
    /// What follows the opening brace (or a comma) of the series text.
    rest: &'a str,
}

impl<'a> Iterator for LabelPairs<'a> {
    type Item = (&'a str, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest.strip_prefix(',').unwrap_or(self.rest);
        let (name, after) = rest.split_once("=\"")?;
        let b = after.as_bytes();
        let mut i = 0;
        let mut escaped = false;
        while i < b.len() && b[i] != b'"' {
            if b[i] == b'\\' {
                escaped = true;
                i += 1;
            }
            i += 1;
        }
        let raw = after.get(..i)?;
        self.rest = after.get(i + 1..).unwrap_or("");
        let value = if escaped {
            Cow::Owned(unescape(raw))
        } else {
            Cow::Borrowed(raw)
        };
        Some((name, value))
    }
}

/// Undoes label value escaping as Prometheus' replacer does: `\\`, `\"`
/// and `\n` are replaced, any other backslash is kept as is.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let mut lookahead = chars.clone();
        match lookahead.next() {
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('n') => out.push('\n'),
            _ => {
                out.push('\\');
                continue;
            }
        }
        chars = lookahead;
    }
    out
}

/// The series text of the last sample line, known to be valid, so that
/// consecutive lines of one series are validated once.
#[derive(Default)]
struct SeriesCache {
    text: Vec<u8>,
    name_len: usize,
}

/// Parses a sample line (not a comment), `line` without its newline.
fn parse_sample_line<'a>(
    line: &'a [u8],
    line_no: u64,
    cache: &mut SeriesCache,
) -> Result<Sample<'a>, OpenMetricsError> {
    let syntax = |reason: String| OpenMetricsError::Syntax {
        line: line_no,
        reason,
    };
    let cached = !cache.text.is_empty()
        && line.len() > cache.text.len()
        && line[cache.text.len()] == b' '
        && line.starts_with(&cache.text);
    let (text, name_len) = if cached {
        let series = &line[..cache.text.len()];
        // SAFETY: `series` equals `cache.text`, which passed `from_utf8`
        // below when it was cached.
        let text = unsafe { std::str::from_utf8_unchecked(series) };
        (text, cache.name_len)
    } else {
        let (series_len, name_len) = scan_series(line).map_err(syntax)?;
        let text = std::str::from_utf8(&line[..series_len])
            .map_err(|_| syntax("label value is not valid UTF-8".into()))?;
        cache.text.clear();
        cache.text.extend_from_slice(text.as_bytes());
        cache.name_len = name_len;
        (text, name_len)
    };
    let (value, ts) = scan_value_and_timestamp(line, text.len(), name_len)
        .map_err(|reason| syntax(format!("{reason} (series {text})")))?;
    let Some(timestamp_ms) = ts else {
        // Prometheus' parser allows it; promtool's backfill refuses it.
        return Err(syntax(format!(
            "expected timestamp for series {text}, got none"
        )));
    };
    Ok(Sample {
        series: SeriesRef {
            text,
            name_len,
            line: line_no,
        },
        timestamp_ms,
        value,
    })
}

/// Parses one block of an input held in memory, with the same rules as
/// [`OpenMetricsParser`]: the way to parse one input on several threads.
///
/// The input is cut into blocks at line boundaries: every block but the
/// last ends with a newline, and none but the last is empty. Blocks parse
/// independently (a line's meaning depends on no other line: `# TYPE` and
/// the other metadata lines are only checked), so they can go to different
/// threads. Line numbers are 1-based within the block; add the lines of the
/// blocks before ([`OpenMetricsError::offset_lines`]) for the input's. Only
/// the last block may (and must) end with `# EOF`.
pub struct BlockParser<'a> {
    rest: &'a [u8],
    last: bool,
    line_no: u64,
    done: bool,
    cache: SeriesCache,
}

impl<'a> BlockParser<'a> {
    /// A parser at the first line of `block`; `last`: whether it is the
    /// last block of the input.
    pub fn new(block: &'a [u8], last: bool) -> Self {
        BlockParser {
            rest: block,
            last,
            line_no: 0,
            done: false,
            cache: SeriesCache::default(),
        }
    }

    /// Lines read so far; after the end of the block, its line count.
    pub fn line_number(&self) -> u64 {
        self.line_no
    }

    /// The next sample, or `None` at the end of the block (after a valid
    /// `# EOF` in the last block).
    pub fn next_sample(&mut self) -> Result<Option<Sample<'a>>, OpenMetricsError> {
        loop {
            if self.done {
                return Ok(None);
            }
            if self.rest.is_empty() {
                if self.last {
                    self.line_no += 1;
                    return Err(self.syntax("data does not end with # EOF"));
                }
                self.done = true;
                return Ok(None);
            }
            self.line_no += 1;
            let (line, terminated) = match memchr::memchr(b'\n', self.rest) {
                Some(n) => (&self.rest[..n], true),
                None => (self.rest, false),
            };
            if line.len() > MAX_LINE_BYTES {
                return Err(self.syntax(&format!("line longer than {MAX_LINE_BYTES} bytes")));
            }
            self.rest = &self.rest[(line.len() + usize::from(terminated)).min(self.rest.len())..];
            if line == b"# EOF" {
                self.done = true;
                if !self.rest.is_empty() || !self.last {
                    // The next block is not empty: data follows `# EOF`.
                    self.line_no += 1;
                    return Err(self.syntax("unexpected data after # EOF"));
                }
                return Ok(None);
            }
            if !terminated && self.last {
                return Err(self.syntax("data does not end with # EOF (last line has no newline)"));
            }
            if line.first() == Some(&b'#') {
                check_comment(line).map_err(|reason| OpenMetricsError::Syntax {
                    line: self.line_no,
                    reason,
                })?;
                continue;
            }
            return parse_sample_line(line, self.line_no, &mut self.cache).map(Some);
        }
    }

    fn syntax(&mut self, reason: &str) -> OpenMetricsError {
        self.done = true;
        OpenMetricsError::Syntax {
            line: self.line_no,
            reason: reason.to_owned(),
        }
    }
}

/// Parses OpenMetrics text from a reader, one sample at a time.
pub struct OpenMetricsParser<R> {
    reader: R,
    /// Bytes of the reader's buffer that the current line occupies; they
    /// are consumed when the next line is read, so that a sample can
    /// borrow the line in place.
    pending: usize,
    /// A line that straddled the reader's buffer, copied.
    line: Vec<u8>,
    line_no: u64,
    done: bool,
    cache: SeriesCache,
}

#[derive(Clone, Copy)]
enum LineAt {
    /// The first `n` bytes of the reader's buffer, then a newline.
    InBuffer(usize),
    /// In `self.line`; ended by a newline.
    Copied,
    /// In `self.line`: the last bytes of the input, without a newline.
    Unterminated,
    End,
}

impl<R: BufRead> OpenMetricsParser<R> {
    /// A parser at the first line of `reader`.
    pub fn new(reader: R) -> Self {
        OpenMetricsParser {
            reader,
            pending: 0,
            line: Vec::new(),
            line_no: 0,
            done: false,
            cache: SeriesCache::default(),
        }
    }

    /// Lines read so far (the number of the current line).
    pub fn line_number(&self) -> u64 {
        self.line_no
    }

    /// The next sample, or `None` after a valid `# EOF`.
    pub fn next_sample(&mut self) -> Result<Option<Sample<'_>>, OpenMetricsError> {
        if self.done {
            return Ok(None);
        }
        // Metadata lines are checked and skipped here; the loop keeps no
        // borrow of the line, which is borrowed again below for the sample.
        let at = loop {
            let at = self.next_line()?;
            self.line_no += 1;
            let line_no = self.line_no;
            let line = match at {
                LineAt::End => return Err(self.syntax("data does not end with # EOF")),
                LineAt::InBuffer(n) => &self.buffer()?[..n],
                LineAt::Copied | LineAt::Unterminated => self.line.as_slice(),
            };
            if line == b"# EOF" {
                return self.finish_at_eof().map(|()| None);
            }
            if let LineAt::Unterminated = at {
                return Err(self.syntax("data does not end with # EOF (last line has no newline)"));
            }
            if line.first() != Some(&b'#') {
                break at;
            }
            check_comment(line).map_err(|reason| OpenMetricsError::Syntax {
                line: line_no,
                reason,
            })?;
        };
        let line_no = self.line_no;
        let line: &[u8] = match at {
            LineAt::InBuffer(n) => {
                let buf = self
                    .reader
                    .fill_buf()
                    .map_err(|source| OpenMetricsError::Io {
                        line: line_no,
                        source,
                    })?;
                &buf[..n]
            }
            _ => &self.line,
        };
        parse_sample_line(line, line_no, &mut self.cache).map(Some)
    }

    fn syntax(&self, reason: &str) -> OpenMetricsError {
        OpenMetricsError::Syntax {
            line: self.line_no,
            reason: reason.to_owned(),
        }
    }

    /// Wraps a read error of the line after the current one.
    fn io_error(&self) -> impl FnOnce(io::Error) -> OpenMetricsError {
        let line = self.line_no + 1;
        move |source| OpenMetricsError::Io { line, source }
    }

    /// The reader's buffer, which holds the current line when it is
    /// [`LineAt::InBuffer`] (not consumed yet, so no I/O happens).
    fn buffer(&mut self) -> Result<&[u8], OpenMetricsError> {
        match self.reader.fill_buf() {
            Ok(b) => Ok(b),
            Err(source) => Err(OpenMetricsError::Io {
                line: self.line_no,
                source,
            }),
        }
    }

    /// After `# EOF`, only the end of the input may follow.
    fn finish_at_eof(&mut self) -> Result<(), OpenMetricsError> {
        self.done = true;
        self.reader.consume(std::mem::take(&mut self.pending));
        let io_error = self.io_error();
        let rest = self.reader.fill_buf().map_err(io_error)?;
        if !rest.is_empty() {
            return Err(OpenMetricsError::Syntax {
                line: self.line_no + 1,
                reason: "unexpected data after # EOF".into(),
            });
        }
        Ok(())
    }

    /// Finds the next line: in place in the reader's buffer when it is
    /// whole there (the common case, no copy), else copied into `self.line`.
    fn next_line(&mut self) -> Result<LineAt, OpenMetricsError> {
        self.reader.consume(std::mem::take(&mut self.pending));
        let io_error = self.io_error();
        let buf = self.reader.fill_buf().map_err(io_error)?;
        if buf.is_empty() {
            return Ok(LineAt::End);
        }
        if let Some(n) = memchr::memchr(b'\n', buf) {
            if n <= MAX_LINE_BYTES {
                self.pending = n + 1;
                return Ok(LineAt::InBuffer(n));
            }
        }
        self.line.clear();
        loop {
            let io_error = self.io_error();
            let buf = self.reader.fill_buf().map_err(io_error)?;
            if buf.is_empty() {
                return Ok(LineAt::Unterminated);
            }
            let (take, found) = match memchr::memchr(b'\n', buf) {
                Some(i) => (i, true),
                None => (buf.len(), false),
            };
            if self.line.len() + take > MAX_LINE_BYTES {
                return Err(OpenMetricsError::Syntax {
                    line: self.line_no + 1,
                    reason: format!("line longer than {MAX_LINE_BYTES} bytes"),
                });
            }
            self.line.extend_from_slice(&buf[..take]);
            self.reader.consume(take + usize::from(found));
            if found {
                return Ok(LineAt::Copied);
            }
        }
    }
}

#[cfg(test)]
mod tests;
