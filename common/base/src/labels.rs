//! Label sets as Prometheus orders them.
//!
//! A [`Labels`] is always sorted by name and has unique names; the order of
//! two label sets is Prometheus' `labels.Compare`: label by label, name
//! first, then value, bytewise, and a set that is a prefix of another sorts
//! first. Every series order in this project (block index, external sort,
//! k-way merges) is this order, so it lives here once.

use std::cmp::Ordering;
use std::fmt;

/// One label pair.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    /// Label name, never empty in a [`Labels`].
    pub name: String,
    /// Label value, never empty in a [`Labels`] built by [`Labels::normalize`].
    pub value: String,
}

/// A sorted label set with unique names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Labels(Vec<Label>);

/// Why a set of pairs cannot become [`Labels`].
#[allow(
    missing_docs,
    reason = "each variant's #[error] message documents it and its fields"
)]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelsError {
    #[error("label name {name:?} appears with two values: {first:?} and {second:?}")]
    ConflictingValues {
        name: String,
        first: String,
        second: String,
    },
    #[error("label set is empty")]
    Empty,
    #[error("label name is empty")]
    EmptyName,
}

impl Labels {
    /// Builds a label set from pairs in any order, the way Cortex normalised
    /// chunk metadata: pairs with an empty value are dropped, a name repeated
    /// with the same value collapses to one pair, a name repeated with another
    /// value is an error.
    pub fn normalize<I, N, V>(pairs: I) -> Result<Self, LabelsError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: Into<String>,
        V: Into<String>,
    {
        let mut v: Vec<Label> = pairs
            .into_iter()
            .map(|(n, v)| Label {
                name: n.into(),
                value: v.into(),
            })
            .filter(|l| !l.value.is_empty())
            .collect();
        v.sort();
        let mut out: Vec<Label> = Vec::with_capacity(v.len());
        for l in v {
            if l.name.is_empty() {
                return Err(LabelsError::EmptyName);
            }
            match out.last() {
                Some(prev) if prev.name == l.name => {
                    if prev.value != l.value {
                        return Err(LabelsError::ConflictingValues {
                            name: l.name,
                            first: prev.value.clone(),
                            second: l.value,
                        });
                    }
                }
                _ => out.push(l),
            }
        }
        if out.is_empty() {
            return Err(LabelsError::Empty);
        }
        Ok(Labels(out))
    }

    /// Wraps pairs that the caller knows are sorted by name with unique
    /// names (for example, read back from a block index). Debug builds check.
    pub fn from_sorted(v: Vec<Label>) -> Self {
        debug_assert!(v.windows(2).all(|w| w[0].name < w[1].name), "{v:?}");
        Labels(v)
    }

    /// The pairs in name order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty set, which `normalize` refuses but `default`,
    /// `from_sorted` and `without` can make.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of label `name`, by binary search.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// Returns the set without the named labels.
    pub fn without(&self, names: &[String]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|l| !names.contains(&l.name))
                .cloned()
                .collect(),
        )
    }

    /// The pairs in name order, as a slice.
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// The pairs in name order, giving up the sortedness guarantee.
    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }

    /// Appends the set in the spill format of the external sort: a count,
    /// then length-prefixed names and values.
    pub fn encode(&self, out: &mut Vec<u8>) {
        crate::codec::put_uvarint(out, self.0.len() as u64);
        for l in &self.0 {
            crate::codec::put_str(out, &l.name);
            crate::codec::put_str(out, &l.value);
        }
    }

    /// Reads back what [`Labels::encode`] wrote, checking the order, since
    /// spill files are files and files get damaged.
    pub fn decode(buf: &mut &[u8]) -> std::io::Result<Labels> {
        use crate::codec::{get_string, get_uvarint};
        let n = get_uvarint(buf)?;
        let mut v = Vec::with_capacity(n.min(1024) as usize);
        for _ in 0..n {
            let name = get_string(buf)?;
            let value = get_string(buf)?;
            if v.last().is_some_and(|p: &Label| p.name >= name) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "label names out of order in encoded label set",
                ));
            }
            v.push(Label { name, value });
        }
        Ok(Labels(v))
    }

    /// Bytes of heap the set holds, for memory budgets.
    pub fn heap_size(&self) -> usize {
        self.0.capacity() * std::mem::size_of::<Label>()
            + self
                .0
                .iter()
                .map(|l| l.name.capacity() + l.value.capacity())
                .sum::<usize>()
    }
}

impl Ord for Labels {
    fn cmp(&self, other: &Self) -> Ordering {
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            match a.name.as_bytes().cmp(b.name.as_bytes()) {
                Ordering::Equal => {}
                o => return o,
            }
            match a.value.as_bytes().cmp(b.value.as_bytes()) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        self.0.len().cmp(&other.0.len())
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Formats as `{a="1", b="2"}`, the way `promtool tsdb dump` prints a series
/// (Go's `strconv.Quote` for values).
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}=", l.name)?;
            go_quote(&l.value, f)?;
        }
        f.write_str("}")
    }
}

/// Go's `strconv.Quote`: printable runes as they are, the usual escapes,
/// `\xNN` for invalid bytes (none in a `str`), `\uNNNN`/`\UNNNNNNNN` for
/// other non-printable runes.
pub fn go_quote(s: &str, f: &mut impl fmt::Write) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\x07' => f.write_str("\\a")?,
            '\x08' => f.write_str("\\b")?,
            '\x0c' => f.write_str("\\f")?,
            '\x0b' => f.write_str("\\v")?,
            c if is_go_printable(c) => f.write_char(c)?,
            c if (c as u32) < 0x10000 => write!(f, "\\u{:04x}", c as u32)?,
            c => write!(f, "\\U{:08x}", c as u32)?,
        }
    }
    f.write_char('"')
}

/// An approximation of Go's `unicode.IsPrint` good for label values: control
/// characters, the Unicode separators other than ASCII space, and
/// private-use/unassigned ranges that Go refuses are escaped.
fn is_go_printable(c: char) -> bool {
    let u = c as u32;
    if u < 0x20 || (0x7f..0xa0).contains(&u) {
        return false;
    }
    // Spaces other than U+0020 are not "graphic" in Go.
    if matches!(
        u,
        0xa0 | 0x1680 | 0x2000..=0x200a | 0x2028 | 0x2029 | 0x202f | 0x205f | 0x3000
    ) {
        return false;
    }
    // Format characters (Cf) such as the byte-order mark and zero-width joiners.
    if matches!(u, 0xad | 0x600..=0x605 | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0xfeff)
    {
        return false;
    }
    !(0xd800..0xe000).contains(&u) && !(0xe000..0xf900).contains(&u) && u != 0xfffe && u != 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(p: &[(&str, &str)]) -> Labels {
        Labels::normalize(p.iter().copied()).unwrap()
    }

    #[test]
    fn order_is_prometheus_compare() {
        assert!(ls(&[("a", "1")]) < ls(&[("a", "1"), ("b", "1")]));
        assert!(ls(&[("a", "1"), ("c", "1")]) > ls(&[("a", "1"), ("b", "9")]));
        assert!(ls(&[("a", "10")]) > ls(&[("a", "1")]));
        assert!(ls(&[("__name__", "x")]) < ls(&[("a", "1")]));
    }

    #[test]
    fn normalize_collapses_and_drops() {
        let l = ls(&[("b", "2"), ("a", "1"), ("b", "2"), ("c", "")]);
        assert_eq!(l.to_string(), r#"{a="1", b="2"}"#);
        let err = Labels::normalize([("a", "1"), ("a", "2")]).unwrap_err();
        assert!(matches!(err, LabelsError::ConflictingValues { .. }));
    }

    #[test]
    fn encode_round_trip() {
        let l = ls(&[("__name__", "x"), ("b", "café")]);
        let mut buf = Vec::new();
        l.encode(&mut buf);
        assert_eq!(Labels::decode(&mut &buf[..]).unwrap(), l);
    }

    #[test]
    fn display_quotes_like_go() {
        let l = ls(&[
            ("path", "C:\\temp\\new"),
            ("q", "lab \"A\""),
            ("u", "café ☕"),
        ]);
        assert_eq!(
            l.to_string(),
            r#"{path="C:\\temp\\new", q="lab \"A\"", u="café ☕"}"#
        );
    }
}
