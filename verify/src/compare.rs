//! The one merge rule of the reference, and the comparison of a day's
//! expected series with the block, both in label order.

use std::cmp::Ordering;

use anyhow::Result;
use base::codec::{get_f64, get_uvarint, get_varint, put_f64, put_uvarint, put_varint};
use base::Labels;
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
pub(crate) fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

/// Samples as a count, then time deltas and raw value bits.
pub(crate) fn encode_samples(samples: &[(i64, f64)], out: &mut Vec<u8>) {
    put_uvarint(out, samples.len() as u64);
    let mut prev = 0i64;
    for &(t, v) in samples {
        put_varint(out, t.wrapping_sub(prev));
        put_f64(out, v);
        prev = t;
    }
}

/// Inverse of [`encode_samples`].
pub(crate) fn decode_samples(buf: &mut &[u8]) -> std::io::Result<Vec<(i64, f64)>> {
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
