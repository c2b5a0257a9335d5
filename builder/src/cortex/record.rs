//! The external-sort record of the Cortex builder: one merged series.
//!
//! Plan entries come in index order, not label order, so merged series are
//! sorted by labels before the block is written. A record holds the labels,
//! the precedence of the series among same-label ones, the counts of what
//! was dropped and the encoded XOR chunks (never raw samples), so what
//! spills to disk is about the size of the block itself.

use std::cmp::Ordering;
use std::io;

use base::codec::{get_bytes, get_string, get_u64, get_uvarint, get_varint};
use base::codec::{put_bytes, put_str, put_u64, put_uvarint, put_varint};
use base::Labels;
use sort::SortRecord;
use tsdb::EncodedChunk;

use super::merge::MergedSeries;
use crate::sink::SinkStats;

/// A merged series, ordered by labels then precedence.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesRecord(pub MergedSeries);

impl SeriesRecord {
    fn order_key(&self) -> (&Labels, i64, &str) {
        let s = &self.0;
        (&s.labels, s.priority.0, s.priority.1.as_str())
    }
}

impl Eq for SeriesRecord {}

impl Ord for SeriesRecord {
    fn cmp(&self, other: &Self) -> Ordering {
        self.order_key().cmp(&other.order_key())
    }
}

impl PartialOrd for SeriesRecord {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("series record: bad {what}"),
    )
}

impl SortRecord for SeriesRecord {
    fn encode(&self, out: &mut Vec<u8>) {
        let s = &self.0;
        s.labels.encode(out);
        put_varint(out, s.priority.0);
        put_str(out, &s.priority.1);
        let c = &s.counts;
        for n in [
            c.samples_in,
            c.duplicates_dropped,
            c.duplicates_disagreeing,
            c.samples_outside_day,
        ] {
            put_u64(out, n);
        }
        put_uvarint(out, s.chunks.len() as u64);
        for ch in &s.chunks {
            put_varint(out, ch.min_time);
            put_varint(out, ch.max_time);
            put_uvarint(out, u64::from(ch.num_samples));
            put_bytes(out, &ch.data);
        }
    }

    fn decode(buf: &mut &[u8]) -> io::Result<Self> {
        let labels = Labels::decode(buf)?;
        let priority = (get_varint(buf)?, get_string(buf)?);
        let counts = SinkStats {
            samples_in: get_u64(buf)?,
            duplicates_dropped: get_u64(buf)?,
            duplicates_disagreeing: get_u64(buf)?,
            samples_outside_day: get_u64(buf)?,
            ..SinkStats::default()
        };
        let n = get_uvarint(buf)?;
        // Each chunk takes at least 4 bytes, which bounds a corrupt count.
        if n > (buf.len() / 4) as u64 {
            return Err(invalid("chunk count"));
        }
        let mut chunks = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let min_time = get_varint(buf)?;
            let max_time = get_varint(buf)?;
            let num_samples =
                u32::try_from(get_uvarint(buf)?).map_err(|_| invalid("sample count"))?;
            let data = get_bytes(buf)?.to_vec();
            chunks.push(EncodedChunk {
                min_time,
                max_time,
                num_samples,
                data,
            });
        }
        Ok(SeriesRecord(MergedSeries {
            labels,
            priority,
            chunks,
            counts,
        }))
    }

    fn mem_size(&self) -> usize {
        let s = &self.0;
        std::mem::size_of::<Self>()
            + s.labels.heap_size()
            + s.priority.1.capacity()
            + s.chunks.capacity() * std::mem::size_of::<EncodedChunk>()
            + s.chunks.iter().map(|c| c.data.capacity()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, from: i64) -> SeriesRecord {
        SeriesRecord(MergedSeries {
            labels: Labels::normalize([("__name__", name), ("a", "é \"q\"")]).unwrap(),
            priority: (from, format!("u/1:{from:x}:2:3")),
            chunks: vec![EncodedChunk {
                min_time: -5,
                max_time: 7,
                num_samples: 2,
                data: vec![0, 2, 9, 9],
            }],
            counts: SinkStats {
                samples_in: 9,
                duplicates_dropped: 3,
                duplicates_disagreeing: 1,
                samples_outside_day: 4,
                ..SinkStats::default()
            },
        })
    }

    #[test]
    fn round_trips() {
        let r = record("m", 3);
        let mut b = Vec::new();
        r.encode(&mut b);
        let mut s = &b[..];
        assert_eq!(SeriesRecord::decode(&mut s).unwrap(), r);
        assert!(s.is_empty());
        let mut short = &b[..b.len() - 1];
        assert!(SeriesRecord::decode(&mut short).is_err());
    }

    #[test]
    fn orders_by_labels_then_precedence() {
        assert!(record("a", 9) < record("b", 1));
        assert!(record("a", 1) < record("a", 2));
    }
}
