//! The grammar of one OpenMetrics line, as Prometheus 2.42's lexer
//! (`openmetricslex.l`) and parser (`openmetricsparse.go`) define it.
//!
//! Functions here validate a line already split off the input (without
//! its newline) and return positions and numbers; errors are plain reasons
//! that the caller prefixes with the line number. This is the hot path of
//! the parser: byte loops with a class table, no allocation on success.

use std::borrow::Cow;

use super::number::{parse_go_float, parse_timestamp};

const METRIC_START: u8 = 1;
const METRIC_CHAR: u8 = 2;
const LABEL_START: u8 = 4;
const LABEL_CHAR: u8 = 8;

/// Character classes: metric names are `[a-zA-Z_:][a-zA-Z0-9_:]*`, label
/// names `[a-zA-Z_][a-zA-Z0-9_]*`.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let alpha = b.is_ascii_alphabetic() || b == b'_';
        let digit = b.is_ascii_digit();
        if alpha || b == b':' {
            t[c] |= METRIC_START | METRIC_CHAR;
        }
        if digit {
            t[c] |= METRIC_CHAR | LABEL_CHAR;
        }
        if alpha {
            t[c] |= LABEL_START | LABEL_CHAR;
        }
        c += 1;
    }
    t
};

fn is(c: u8, class: u8) -> bool {
    CLASS[c as usize] & class != 0
}

/// End of the run of `class` characters starting at `pos`.
fn skip(line: &[u8], mut pos: usize, class: u8) -> usize {
    while pos < line.len() && is(line[pos], class) {
        pos += 1;
    }
    pos
}

/// Length of the metric name at the start of `b`.
pub(super) fn metric_name_len(b: &[u8]) -> usize {
    match b.first() {
        Some(&c) if is(c, METRIC_START) => skip(b, 1, METRIC_CHAR),
        _ => 0,
    }
}

pub(super) fn lossy(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// Checks a `# HELP`, `# TYPE` or `# UNIT` line (the only comments allowed
/// before `# EOF`).
pub(super) fn check_comment(line: &[u8]) -> Result<(), String> {
    let (kind, rest) = if let Some(r) = line.strip_prefix(b"# HELP ") {
        ("HELP", r)
    } else if let Some(r) = line.strip_prefix(b"# TYPE ") {
        ("TYPE", r)
    } else if let Some(r) = line.strip_prefix(b"# UNIT ") {
        ("UNIT", r)
    } else if line.starts_with(b"# EOF") {
        return Err("unexpected data after # EOF".into());
    } else {
        return Err("invalid comment: only # HELP, # TYPE, # UNIT and # EOF are allowed".into());
    };
    let n = metric_name_len(rest);
    if n == 0 {
        return Err(format!("expected metric name after # {kind}"));
    }
    let name = &rest[..n];
    let Some(text) = rest[n..].strip_prefix(b" ") else {
        return Err(format!("expected text in # {kind}"));
    };
    match kind {
        "TYPE" => match text {
            b"counter" | b"gauge" | b"histogram" | b"gaugehistogram" | b"summary" | b"info"
            | b"stateset" | b"unknown" => Ok(()),
            _ => Err(format!("invalid metric type {:?}", lossy(text))),
        },
        "HELP" => std::str::from_utf8(text)
            .map(|_| ())
            .map_err(|_| "help text is not a valid utf8 string".into()),
        _ => {
            // Checked as Prometheus does: a non-empty unit must end the
            // metric name after an underscore.
            let ok = text.is_empty()
                || (name.len() > text.len()
                    && name.ends_with(text)
                    && name[name.len() - text.len() - 1] == b'_');
            if ok {
                Ok(())
            } else {
                Err(format!("unit not a suffix of metric {:?}", lossy(name)))
            }
        }
    }
}

/// Validates `name{labels}` at the start of a sample line; returns the
/// length of the series text and of the metric name.
pub(super) fn scan_series(line: &[u8]) -> Result<(usize, usize), String> {
    let name_len = metric_name_len(line);
    if name_len == 0 {
        return Err(match line.first() {
            None => "empty line".into(),
            Some(&c) => format!("{:?} is not a valid start of a line", char::from(c)),
        });
    }
    match line.get(name_len) {
        Some(b'{') => Ok((scan_labels(line, name_len + 1)?, name_len)),
        _ => Ok((name_len, name_len)),
    }
}

/// Validates label pairs starting just after `{`; returns the position
/// after the closing `}`.
pub(super) fn scan_labels(line: &[u8], mut pos: usize) -> Result<usize, String> {
    let mut first = true;
    loop {
        match line.get(pos) {
            Some(b'}') => return Ok(pos + 1),
            Some(b',') if !first => {
                pos += 1;
                if !line.get(pos).is_some_and(|&c| is(c, LABEL_START)) {
                    return Err("expected label name after comma".into());
                }
            }
            Some(&c) if first && is(c, LABEL_START) => {}
            _ if first => return Err("expected label name or '}'".into()),
            _ => return Err("expected ',' or '}' after label value".into()),
        }
        first = false;
        pos = skip(line, pos + 1, LABEL_CHAR);
        if line.get(pos) != Some(&b'=') {
            return Err("expected '=' after label name".into());
        }
        if line.get(pos + 1) != Some(&b'"') {
            return Err("expected quoted label value".into());
        }
        pos += 2;
        // Values are short: a plain loop beats a vectorised search.
        loop {
            match line.get(pos) {
                Some(b'"') => {
                    pos += 1;
                    break;
                }
                // A backslash escapes any one character.
                Some(b'\\') if pos + 1 < line.len() => pos += 2,
                Some(b'\\') | None => return Err("unterminated label value".into()),
                Some(_) => pos += 1,
            }
        }
    }
}

/// Scans the token starting at `start` up to the next space or the end of
/// the line. Returns its end and, if it is 1 to `max_digits` ASCII digits,
/// its integer value (the common case, parsed in the same pass).
fn scan_token(line: &[u8], start: usize, max_digits: usize) -> (usize, Option<u64>) {
    let mut n: u64 = 0;
    let mut i = start;
    while i < line.len() {
        let d = line[i].wrapping_sub(b'0');
        if d >= 10 {
            break;
        }
        n = n.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    if i == line.len() || line[i] == b' ' {
        let digits = i - start;
        return (i, (digits > 0 && digits <= max_digits).then_some(n));
    }
    let end = memchr::memchr(b' ', &line[i..]).map_or(line.len(), |k| i + k);
    (end, None)
}

const EXEMPLAR: &[u8] = b" # {";

/// Parses ` value [timestamp] [# {exemplar} value [timestamp]]` after the
/// series text.
pub(super) fn scan_value_and_timestamp(
    line: &[u8],
    series_len: usize,
    name_len: usize,
) -> Result<(f64, Option<i64>), String> {
    if line.get(series_len) != Some(&b' ') {
        return Err("expected value after metric".into());
    }
    let start = series_len + 1;
    // Integers of up to 15 digits are exact in f64.
    let (end, int) = scan_token(line, start, 15);
    if end == start {
        return Err("expected value after metric".into());
    }
    let value = match int {
        Some(n) => n as f64,
        None => {
            let tok = &line[start..end];
            parse_go_float(tok).map_err(|e| format!("bad value {:?}: {e}", lossy(tok)))?
        }
    };
    if end == line.len() {
        return Ok((value, None));
    }
    if line[end..].starts_with(EXEMPLAR) {
        check_exemplar(line, end + EXEMPLAR.len(), &line[..name_len])?;
        return Ok((value, None));
    }
    let start = end + 1;
    // Whole seconds below 10^12: `secs * 1000` is exact in f64 and equals
    // the integer product.
    let (end, int) = scan_token(line, start, 12);
    if end == start {
        return Err("expected timestamp or # symbol".into());
    }
    let ts = match int {
        Some(n) => n as i64 * 1000,
        None => {
            let tok = &line[start..end];
            parse_timestamp(tok).map_err(|e| format!("bad timestamp {:?}: {e}", lossy(tok)))?
        }
    };
    if end == line.len() {
        return Ok((value, Some(ts)));
    }
    if line[end..].starts_with(EXEMPLAR) {
        check_exemplar(line, end + EXEMPLAR.len(), &line[..name_len])?;
        return Ok((value, Some(ts)));
    }
    Err("expected end of line or exemplar after timestamp".into())
}

/// Splits off a token `[^ ]+` that follows a single space at `pos`.
fn token_after_space(line: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    if line.get(pos) != Some(&b' ') {
        return None;
    }
    let (end, _) = scan_token(line, pos + 1, 0);
    (end > pos + 1).then(|| (&line[pos + 1..end], end))
}

/// Validates an exemplar (accepted and ignored, as promtool does), starting
/// just after ` # {`.
fn check_exemplar(line: &[u8], pos: usize, metric_name: &[u8]) -> Result<(), String> {
    if !(metric_name.ends_with(b"_total") || metric_name.ends_with(b"_bucket")) {
        return Err(format!(
            "metric name {} does not support exemplars",
            lossy(metric_name)
        ));
    }
    let end = scan_labels(line, pos).map_err(|e| format!("exemplar: {e}"))?;
    if std::str::from_utf8(&line[pos..end]).is_err() {
        return Err("exemplar: label value is not valid UTF-8".into());
    }
    let (tok, end) = token_after_space(line, end)
        .ok_or_else(|| "expected value after exemplar labels".to_owned())?;
    parse_go_float(tok).map_err(|e| format!("bad exemplar value {:?}: {e}", lossy(tok)))?;
    if end == line.len() {
        return Ok(());
    }
    let (tok, end) = token_after_space(line, end)
        .ok_or_else(|| "expected exemplar timestamp or end of line".to_owned())?;
    let secs =
        parse_go_float(tok).map_err(|e| format!("bad exemplar timestamp {:?}: {e}", lossy(tok)))?;
    if !secs.is_finite() {
        return Err("invalid exemplar timestamp".into());
    }
    if end != line.len() {
        return Err("expected end of line after exemplar timestamp".into());
    }
    Ok(())
}
