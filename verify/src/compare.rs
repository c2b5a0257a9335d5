//! What every source's reference shares: the sort record of a series'
//! samples, the one merge rule, and the comparison of a day's expected
//! series with the block, both in label order. Sources differ only in how
//! they find their samples and rank them.

use std::cmp::Ordering;
use std::iter::Peekable;
use std::path::PathBuf;

use anyhow::{Context, Result};
use base::codec::{get_f64, get_uvarint, get_varint, put_f64, put_uvarint, put_varint};
use base::{Labels, DAY_MS};
use sort::{SortRecord, Sorted};
use tsdb::BlockReader;

use crate::report::{Difference, VerifyReport};

/// A series and its samples `(ms, value)`.
pub(crate) type Series = (Labels, Vec<(i64, f64)>);

/// The reference merge: `samples` in the source's order of preference in,
/// the samples a block must hold out: those inside `[start, end)` ms, in
/// time order, and of equal timestamps only the first in preference order.
///
/// Deliberately the plainest form (a stable sort, then `dedup`, which keeps
/// the first of a run), sharing nothing with the builder's merge.
pub(crate) fn reference_samples(
    mut samples: Vec<(i64, f64)>,
    start: i64,
    end: i64,
) -> Vec<(i64, f64)> {
    samples.retain(|&(t, _)| t >= start && t < end);
    samples.sort_by_key(|&(t, _)| t);
    samples.dedup_by_key(|&mut (t, _)| t);
    samples
}

/// Part of one series' samples as a reference sorts them: by (group,
/// labels, rank). `group` splits the stream before labels do (an
/// OpenMetrics file's day; `()` where one stream is one day); `rank` is
/// the source's order of preference among the parts of one series.
pub(crate) struct Part<G, R> {
    pub(crate) group: G,
    pub(crate) labels: Labels,
    pub(crate) rank: R,
    /// In the source's order of preference.
    pub(crate) samples: Vec<(i64, f64)>,
}

impl<G: KeyField, R: KeyField> Part<G, R> {
    fn key(&self) -> (&G, &Labels, &R) {
        (&self.group, &self.labels, &self.rank)
    }
}

impl<G: KeyField, R: KeyField> PartialEq for Part<G, R> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl<G: KeyField, R: KeyField> Eq for Part<G, R> {}
impl<G: KeyField, R: KeyField> PartialOrd for Part<G, R> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<G: KeyField, R: KeyField> Ord for Part<G, R> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl<G: KeyField, R: KeyField> SortRecord for Part<G, R> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.group.encode(out);
        self.labels.encode(out);
        self.rank.encode(out);
        encode_samples(&self.samples, out);
    }

    fn decode(buf: &mut &[u8]) -> std::io::Result<Self> {
        Ok(Part {
            group: G::decode(buf)?,
            labels: Labels::decode(buf)?,
            rank: R::decode(buf)?,
            samples: decode_samples(buf)?,
        })
    }

    fn mem_size(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.labels.heap_size()
            + self.group.heap_size()
            + self.rank.heap_size()
            + self.samples.capacity() * 16
    }
}

/// A [`Part`]'s group or rank: ordered, and written to the sort's runs.
pub(crate) trait KeyField: Ord {
    /// Appends the value's bytes to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Consumes one value from the front of `buf`.
    fn decode(buf: &mut &[u8]) -> std::io::Result<Self>
    where
        Self: Sized;
    /// Bytes held on the heap, for the sort's budget.
    fn heap_size(&self) -> usize {
        0
    }
}

impl KeyField for () {
    fn encode(&self, _: &mut Vec<u8>) {}
    fn decode(_: &mut &[u8]) -> std::io::Result<Self> {
        Ok(())
    }
}

impl KeyField for u64 {
    fn encode(&self, out: &mut Vec<u8>) {
        put_uvarint(out, *self);
    }
    fn decode(buf: &mut &[u8]) -> std::io::Result<Self> {
        get_uvarint(buf)
    }
}

impl KeyField for i64 {
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, *self);
    }
    fn decode(buf: &mut &[u8]) -> std::io::Result<Self> {
        get_varint(buf)
    }
}

impl KeyField for i32 {
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, i64::from(*self));
    }
    fn decode(buf: &mut &[u8]) -> std::io::Result<Self> {
        i32::try_from(get_varint(buf)?).map_err(|_| invalid("i32 out of range"))
    }
}

impl KeyField for String {
    fn encode(&self, out: &mut Vec<u8>) {
        put_uvarint(out, self.len() as u64);
        out.extend_from_slice(self.as_bytes());
    }
    fn decode(buf: &mut &[u8]) -> std::io::Result<Self> {
        let n = get_uvarint(buf)? as usize;
        if buf.len() < n {
            return Err(invalid("string past the end"));
        }
        let (bytes, rest) = buf.split_at(n);
        let s = String::from_utf8(bytes.to_vec()).map_err(|_| invalid("string not UTF-8"))?;
        *buf = rest;
        Ok(s)
    }
    fn heap_size(&self) -> usize {
        self.capacity()
    }
}

impl<A: KeyField, B: KeyField> KeyField for (A, B) {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
        self.1.encode(out);
    }
    fn decode(buf: &mut &[u8]) -> std::io::Result<Self> {
        Ok((A::decode(buf)?, B::decode(buf)?))
    }
    fn heap_size(&self) -> usize {
        self.0.heap_size() + self.1.heap_size()
    }
}

impl<A: KeyField, B: KeyField, C: KeyField> KeyField for (A, B, C) {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
        self.1.encode(out);
        self.2.encode(out);
    }
    fn decode(buf: &mut &[u8]) -> std::io::Result<Self> {
        Ok((A::decode(buf)?, B::decode(buf)?, C::decode(buf)?))
    }
    fn heap_size(&self) -> usize {
        self.0.heap_size() + self.1.heap_size() + self.2.heap_size()
    }
}

/// The next series of `day` from `sorted`: the parts of one group and
/// labels concatenated in rank order and merged by [`reference_samples`];
/// a series with no sample left in the day is skipped.
pub(crate) fn next_series<G: KeyField, R: KeyField>(
    sorted: &mut Peekable<Sorted<Part<G, R>>>,
    day: i32,
) -> Result<Option<Series>> {
    let start = i64::from(day) * DAY_MS;
    loop {
        let Some(mut first) = sorted.next().transpose()? else {
            return Ok(None);
        };
        // A read error ends the series here and surfaces on the next call.
        while let Some(Ok(next)) = sorted.peek() {
            if (&next.group, &next.labels) != (&first.group, &first.labels) {
                break;
            }
            if let Some(mut next) = sorted.next().transpose()? {
                first.samples.append(&mut next.samples);
            }
        }
        let samples = reference_samples(first.samples, start, start + DAY_MS);
        if !samples.is_empty() {
            return Ok(Some((first.labels, samples)));
        }
    }
}

/// Opens the local block copy `dir` and joins it with the series `next`
/// yields from `state`, off the async threads; `state` comes back so a
/// stream spanning several days can go on with the next.
pub(crate) async fn compare_day<S: Send + 'static>(
    dir: PathBuf,
    mut state: S,
    next: fn(&mut S, i32) -> Result<Option<Series>>,
    tenant: String,
    day: i32,
    max: usize,
) -> Result<(S, VerifyReport)> {
    tokio::task::spawn_blocking(move || {
        let mut r = VerifyReport::default();
        let block = BlockReader::open(&dir).with_context(|| format!("block {}", dir.display()))?;
        join_with_block(|| next(&mut state, day), &block, &tenant, day, max, &mut r)?;
        Ok((state, r))
    })
    .await?
}

/// Merge-joins the expected series of one day (label order, samples as
/// [`reference_samples`] left them, none empty) with the block's series,
/// counting and reporting every difference. Every source ends here; only
/// how the expected side is derived differs.
pub(crate) fn join_with_block(
    mut next_expected: impl FnMut() -> Result<Option<Series>>,
    block: &BlockReader,
    tenant: &str,
    day: i32,
    max: usize,
    report: &mut VerifyReport,
) -> Result<()> {
    let mut actual = block.series();
    let mut e = next_expected()?;
    let mut a = actual.next().transpose()?;
    loop {
        let order = match (&e, &a) {
            (None, None) => return Ok(()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((el, _)), Some((al, _))) => el.cmp(al),
        };
        match order {
            Ordering::Equal => {
                if let (Some((labels, es)), Some((_, chunks))) = (&e, &a) {
                    let mut acts = Vec::new();
                    for c in chunks {
                        acts.extend(block.chunk_samples(c)?);
                    }
                    report.series += 1;
                    report.samples += es.len() as u64;
                    let series = labels.to_string();
                    compare_samples(report, tenant, day, &series, es, &acts, max);
                }
                e = next_expected()?;
                a = actual.next().transpose()?;
            }
            Ordering::Less => {
                if let Some((labels, _)) = &e {
                    let d = Difference::MissingSeries {
                        tenant: tenant.into(),
                        day,
                        series: labels.to_string(),
                    };
                    report.differ(d, max);
                }
                e = next_expected()?;
            }
            Ordering::Greater => {
                if let Some((labels, _)) = &a {
                    let d = Difference::ExtraSeries {
                        tenant: tenant.into(),
                        day,
                        series: labels.to_string(),
                    };
                    report.differ(d, max);
                }
                a = actual.next().transpose()?;
            }
        }
    }
}

/// Compares two time-ordered sample lists timestamp by timestamp, values
/// bit for bit.
fn compare_samples(
    report: &mut VerifyReport,
    tenant: &str,
    day: i32,
    series: &str,
    expected: &[(i64, f64)],
    actual: &[(i64, f64)],
    max: usize,
) {
    let (mut i, mut j) = (0, 0);
    while i < expected.len() || j < actual.len() {
        let (t, ev, av) = match (expected.get(i), actual.get(j)) {
            (Some(&(et, ev)), Some(&(at, av))) if et == at => {
                i += 1;
                j += 1;
                if ev.to_bits() == av.to_bits() {
                    continue;
                }
                (et, Some(ev), Some(av))
            }
            (Some(&(et, ev)), Some(&(at, _))) if et < at => {
                i += 1;
                (et, Some(ev), None)
            }
            (Some(&(et, ev)), None) => {
                i += 1;
                (et, Some(ev), None)
            }
            (_, Some(&(at, av))) => {
                j += 1;
                (at, None, Some(av))
            }
            (None, None) => break,
        };
        let d = Difference::Sample {
            tenant: tenant.into(),
            day,
            series: series.into(),
            t,
            expected: ev,
            actual: av,
        };
        report.differ(d, max);
    }
}

/// An I/O error for a sort record that does not decode.
fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

/// Samples as a count, then time deltas and raw value bits.
fn encode_samples(samples: &[(i64, f64)], out: &mut Vec<u8>) {
    put_uvarint(out, samples.len() as u64);
    let mut prev = 0i64;
    for &(t, v) in samples {
        put_varint(out, t.wrapping_sub(prev));
        put_f64(out, v);
        prev = t;
    }
}

/// Inverse of [`encode_samples`].
fn decode_samples(buf: &mut &[u8]) -> std::io::Result<Vec<(i64, f64)>> {
    let n = get_uvarint(buf)? as usize;
    let mut samples = Vec::with_capacity(n.min(1 << 20));
    let mut prev = 0i64;
    for _ in 0..n {
        prev = prev.wrapping_add(get_varint(buf)?);
        samples.push((prev, get_f64(buf)?));
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_of_equal_timestamps_wins_and_the_day_clips() {
        let s = vec![
            (30, 3.0),
            (10, 1.0),
            (20, 2.0),
            (10, 9.0),
            (40, 4.0),
            (5, 0.5),
        ];
        assert_eq!(
            reference_samples(s, 10, 40),
            vec![(10, 1.0), (20, 2.0), (30, 3.0)]
        );
    }

    #[test]
    fn stale_markers_and_nan_stay_bit_exact() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let out = reference_samples(vec![(1, stale), (1, f64::NAN)], 0, 2);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1.to_bits(), 0x7ff0_0000_0000_0002);
    }

    #[test]
    fn parts_round_trip_through_the_sort_encoding() {
        let part: Part<i32, (i64, String, u64)> = Part {
            group: -3,
            labels: Labels::normalize([("__name__", "up"), ("job", "x")]).unwrap(),
            rank: (-5, "chunk/key".into(), 7),
            samples: vec![(-1, f64::from_bits(0x7ff0_0000_0000_0002)), (9, 2.5)],
        };
        let mut buf = Vec::new();
        part.encode(&mut buf);
        let back = Part::<i32, (i64, String, u64)>::decode(&mut buf.as_slice()).unwrap();
        assert!(back == part);
        let bits = |p: &Part<_, _>| {
            p.samples
                .iter()
                .map(|&(t, v)| (t, v.to_bits()))
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&back), bits(&part));
    }

    #[test]
    fn sample_differences_name_both_sides() {
        let mut r = VerifyReport::default();
        let e = [(1, 1.0), (2, 2.0), (3, 3.0)];
        let a = [(1, 1.0), (2, 7.0), (4, 4.0)];
        compare_samples(&mut r, "t", 0, "s", &e, &a, 10);
        assert_eq!(r.differences, 3);
        let got: Vec<(i64, Option<f64>, Option<f64>)> = r
            .reported
            .iter()
            .map(|d| match d {
                Difference::Sample {
                    t,
                    expected,
                    actual,
                    ..
                } => (*t, *expected, *actual),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (2, Some(2.0), Some(7.0)),
                (3, Some(3.0), None),
                (4, None, Some(4.0))
            ]
        );
    }
}
