//! Runs Prometheus' `promtool` (2.42) against block directories and parses
//! what it prints, so tests can check our blocks with the reference
//! implementation.
//!
//! `promtool tsdb dump` and `analyze` take the *parent* directory holding
//! block directories. `dump` opens it as a read-only database, which fails
//! without a `wal` directory and creates `chunks_head`; [`dump`] makes the
//! `wal` directory itself, so point it at a scratch parent, not at a
//! directory that is uploaded afterwards.
//!
//! Not for production code: nothing here is linked into the binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The `promtool` binary: `$PROMTOOL` or `promtool` on the `PATH`.
pub fn promtool_bin() -> PathBuf {
    std::env::var_os("PROMTOOL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("promtool"))
}

/// Whether `promtool` can be run (tests skip themselves when not).
pub fn available() -> bool {
    Command::new(promtool_bin())
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn run(args: &[&std::ffi::OsStr]) -> Result<String> {
    let out = Command::new(promtool_bin())
        .args(args)
        .output()
        .with_context(|| format!("running promtool {args:?}"))?;
    let stdout = String::from_utf8(out.stdout).context("promtool printed non-UTF-8")?;
    if !out.status.success() {
        bail!(
            "promtool {args:?} failed with {}: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            stdout
        );
    }
    Ok(stdout)
}

/// One line of `promtool tsdb dump`: `{labels} value timestamp_ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct DumpSample {
    /// Label pairs in printed (sorted) order, values unquoted.
    pub labels: Vec<(String, String)>,
    /// The label set exactly as printed, e.g. `{__name__="up", job="a"}`.
    pub labels_text: String,
    /// The value; every NaN (stale markers too) reads back as the same NaN,
    /// because promtool prints all of them as `NaN`.
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
}

/// `promtool tsdb dump --min-time --max-time <db_dir>`, parsed. All series
/// are printed (the default matcher matches every series).
pub fn dump(db_dir: &Path, min_time: i64, max_time: i64) -> Result<Vec<DumpSample>> {
    std::fs::create_dir_all(db_dir.join("wal"))
        .context("creating the wal dir promtool dump needs")?;
    let out = run(&[
        "tsdb".as_ref(),
        "dump".as_ref(),
        format!("--min-time={min_time}").as_ref(),
        format!("--max-time={max_time}").as_ref(),
        db_dir.as_os_str(),
    ])?;
    out.lines()
        .enumerate()
        .map(|(i, l)| parse_dump_line(l).with_context(|| format!("dump line {}: {l:?}", i + 1)))
        .collect()
}

/// `promtool tsdb dump --min-time --max-time <db_dir>`, the lines exactly as
/// printed (for comparing with dumps taken elsewhere byte for byte). Like
/// [`dump`], it creates the `wal` directory promtool needs.
/// Samples by (series text, timestamp), values as bits so NaN payloads and
/// stale markers compare exactly.
pub type SampleMap = std::collections::BTreeMap<(String, i64), u64>;

/// `promtool tsdb dump` of `db_dir` as a [`SampleMap`]; a sample dumped
/// twice (two blocks or two series holding it) is an error.
pub fn dump_samples(db_dir: &Path, min_time: i64, max_time: i64) -> Result<SampleMap> {
    let mut got = SampleMap::new();
    for s in dump(db_dir, min_time, max_time)? {
        let key = (s.labels_text, s.timestamp);
        if got.insert(key.clone(), s.value.to_bits()).is_some() {
            bail!("sample {} @{} dumped twice", key.0, key.1);
        }
    }
    Ok(got)
}

/// Panics unless `got` holds exactly the samples of `expected`, with the
/// same bits (any NaN matches any NaN: promtool prints them alike).
pub fn assert_same_samples(got: &SampleMap, expected: &SampleMap) {
    assert_eq!(got.len(), expected.len(), "sample count");
    for (k, bits) in expected {
        let g = got.get(k).unwrap_or_else(|| panic!("missing {k:?}"));
        let same = if f64::from_bits(*bits).is_nan() {
            f64::from_bits(*g).is_nan()
        } else {
            g == bits
        };
        assert!(
            same,
            "{k:?}: expected {}, dump has {}",
            f64::from_bits(*bits),
            f64::from_bits(*g)
        );
    }
}

/// The lines `promtool tsdb dump` prints for `[min_time, max_time]` ms, in
/// its order (callers sort them to compare with golden dumps).
pub fn dump_lines(db_dir: &Path, min_time: i64, max_time: i64) -> Result<Vec<String>> {
    std::fs::create_dir_all(db_dir.join("wal"))
        .context("creating the wal dir promtool dump needs")?;
    let out = run(&[
        "tsdb".as_ref(),
        "dump".as_ref(),
        format!("--min-time={min_time}").as_ref(),
        format!("--max-time={max_time}").as_ref(),
        db_dir.as_os_str(),
    ])?;
    Ok(out.lines().map(str::to_string).collect())
}

/// Whether a test that needs `promtool` should run: skips (prints why,
/// returns false) when it is missing, fails when tools are required.
pub fn available_or_skip() -> bool {
    if available() {
        return true;
    }
    assert!(
        !crate::emulators::tools_required(),
        "promtool is required (run scripts/install-test-deps.sh)"
    );
    eprintln!("skipping: promtool not installed");
    false
}

/// The dump of one block, lines sorted bytewise (the order golden dumps
/// are hashed in). `db` is a scratch parent, emptied first; the block is
/// copied there and stays, so callers can `analyze` it afterwards.
pub fn sorted_block_dump(block: &Path, db: &Path) -> Result<Vec<String>> {
    let _ = std::fs::remove_dir_all(db);
    let name = block.file_name().context("block dir has no name")?;
    crate::files::copy_dir(block, &db.join(name)).context("copying the block")?;
    let mut lines = dump_lines(db, i64::MIN / 2, i64::MAX / 2)?;
    lines.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(lines)
}

/// `promtool tsdb analyze <db_dir> <block_id>`; returns its report.
pub fn analyze(db_dir: &Path, block_id: &str) -> Result<String> {
    run(&[
        "tsdb".as_ref(),
        "analyze".as_ref(),
        db_dir.as_os_str(),
        block_id.as_ref(),
    ])
}

/// Runs `promtool tsdb analyze` on every complete block of every tenant
/// directory under `bucket` (a local bucket); returns how many it judged.
/// An error names the block promtool refused.
pub fn analyze_bucket(bucket: &Path) -> Result<usize> {
    let mut judged = 0;
    for tenant in std::fs::read_dir(bucket).context("listing the bucket")? {
        let tenant = tenant?.path();
        if !tenant.is_dir() {
            continue;
        }
        for block in crate::files::block_dirs(&tenant)? {
            let id = block.file_name().context("block dir has no name")?;
            analyze(&tenant, &id.to_string_lossy())
                .with_context(|| format!("promtool refused {}", block.display()))?;
            judged += 1;
        }
    }
    Ok(judged)
}

/// `promtool tsdb create-blocks-from openmetrics <input> <out_dir>`; returns
/// the names of the block directories it made, sorted.
pub fn create_blocks_from_openmetrics(input: &Path, out_dir: &Path) -> Result<Vec<String>> {
    run(&[
        "tsdb".as_ref(),
        "create-blocks-from".as_ref(),
        "openmetrics".as_ref(),
        input.as_os_str(),
        out_dir.as_os_str(),
    ])?;
    let mut blocks = Vec::new();
    for e in std::fs::read_dir(out_dir).with_context(|| format!("listing {}", out_dir.display()))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().join("meta.json").is_file() {
            blocks.push(name);
        }
    }
    blocks.sort();
    Ok(blocks)
}

/// Parses `{a="1", b="x \"y\""} 1.5 1000`.
pub fn parse_dump_line(line: &str) -> Result<DumpSample> {
    let (labels, close) = parse_labels(line)?;
    let labels_text = line[..close].to_string();
    let mut rest = line[close..].split_ascii_whitespace();
    let (Some(v), Some(t), None) = (rest.next(), rest.next(), rest.next()) else {
        bail!("expected `value timestamp` after the labels");
    };
    Ok(DumpSample {
        labels,
        labels_text,
        value: parse_go_float(v)?,
        timestamp: t.parse().with_context(|| format!("timestamp {t:?}"))?,
    })
}

/// Reads a float printed by Go's `%g` (`NaN`, `+Inf`, `-Inf`, `1e+06`, ...).
pub fn parse_go_float(s: &str) -> Result<f64> {
    Ok(match s {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => s.parse().with_context(|| format!("value {s:?}"))?,
    })
}

/// Parses the `{...}` prefix; returns the pairs and the byte index after `}`.
fn parse_labels(line: &str) -> Result<(Vec<(String, String)>, usize)> {
    let b = line.as_bytes();
    if b.first() != Some(&b'{') {
        bail!("line does not start with '{{'");
    }
    let mut i = 1;
    let mut out = Vec::new();
    loop {
        if b.get(i) == Some(&b'}') {
            return Ok((out, i + 1));
        }
        if !out.is_empty() {
            if line.get(i..i + 2) != Some(", ") {
                bail!("expected ', ' at byte {i}");
            }
            i += 2;
        }
        let eq = line[i..]
            .find('=')
            .map(|p| i + p)
            .context("label without '='")?;
        let name = line[i..eq].to_string();
        let (value, next) = unquote_go(line, eq + 1)?;
        out.push((name, value));
        i = next;
    }
}

/// Undoes Go's `strconv.Quote` for the string starting at byte `start`
/// (which must be `"`); returns the value and the index after the quote.
fn unquote_go(s: &str, start: usize) -> Result<(String, usize)> {
    let mut chars = s[start..].char_indices();
    if chars.next().map(|(_, c)| c) != Some('"') {
        bail!("expected '\"' at byte {start}");
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, start + i + 1)),
            '\\' => {
                let (_, e) = chars.next().context("dangling backslash")?;
                match e {
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = (0..n)
                            .filter_map(|_| chars.next().map(|(_, c)| c))
                            .collect();
                        let v = u32::from_str_radix(&hex, 16)
                            .with_context(|| format!("escape \\{e}{hex}"))?;
                        out.push(
                            char::from_u32(v)
                                .with_context(|| format!("escape \\{e}{hex} is not a char"))?,
                        );
                    }
                    other => bail!("unknown escape \\{other}"),
                }
            }
            c => out.push(c),
        }
    }
    bail!("unterminated quoted string")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dump_lines_with_escapes_and_special_values() {
        let s = parse_dump_line(r#"{__name__="up", job="a \"q\" \\ é\n"} NaN 1000000"#).unwrap();
        assert_eq!(
            s.labels[1],
            ("job".to_string(), "a \"q\" \\ é\n".to_string())
        );
        assert_eq!(s.labels_text, r#"{__name__="up", job="a \"q\" \\ é\n"}"#);
        assert!(s.value.is_nan());
        assert_eq!(s.timestamp, 1_000_000);
        assert_eq!(
            parse_dump_line(r#"{a="1"} +Inf 5"#).unwrap().value,
            f64::INFINITY
        );
        assert_eq!(parse_dump_line(r#"{a="1"} -Inf -5"#).unwrap().timestamp, -5);
        assert_eq!(parse_dump_line(r#"{a="1"} 1e+06 5"#).unwrap().value, 1e6);
        assert_eq!(
            parse_dump_line(r#"{a="\u200b"} 2.5e-08 5"#).unwrap().labels[0].1,
            "\u{200b}"
        );
        assert!(parse_dump_line(r#"{a="1"} 1"#).is_err());
        assert!(parse_dump_line(r#"{a="1} 1 2"#).is_err());
    }
}
