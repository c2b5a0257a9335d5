//! The external sort through its public API, with the kind of record the
//! scanner sorts: (series, timestamp) keys with a bit-exact value.

use std::cmp::Ordering;
use std::io;

use base::codec::{
    get_f64, get_string, get_uvarint, get_varint, put_f64, put_str, put_uvarint, put_varint,
};
use sort::{ExternalSorter, SortRecord};

#[derive(Debug, Clone)]
struct Point {
    series: String,
    ts: i64,
    value: f64,
    /// Push order, to check stability; not part of the order.
    seq: u64,
}

impl Ord for Point {
    fn cmp(&self, o: &Self) -> Ordering {
        self.series.cmp(&o.series).then(self.ts.cmp(&o.ts))
    }
}
impl PartialOrd for Point {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl PartialEq for Point {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Point {}

impl SortRecord for Point {
    fn encode(&self, out: &mut Vec<u8>) {
        put_str(out, &self.series);
        put_varint(out, self.ts);
        put_f64(out, self.value);
        put_uvarint(out, self.seq);
    }
    fn decode(buf: &mut &[u8]) -> io::Result<Self> {
        Ok(Point {
            series: get_string(buf)?,
            ts: get_varint(buf)?,
            value: get_f64(buf)?,
            seq: get_uvarint(buf)?,
        })
    }
    fn mem_size(&self) -> usize {
        std::mem::size_of::<Self>() + self.series.capacity()
    }
}

#[test]
fn sorts_samples_by_series_and_time_keeping_duplicates_in_push_order() {
    let work = tempfile::tempdir().unwrap();
    let stale = f64::from_bits(0x7ff0_0000_0000_0002);
    let mut input = Vec::new();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for seq in 0..60_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        input.push(Point {
            series: format!("up{{instance=\"host-{}\"}}", x % 97),
            // Few distinct timestamps, so many (series, ts) duplicates.
            ts: ((x >> 20) % 300) as i64 * 15_000 - 1_000_000,
            value: if seq % 11 == 0 { stale } else { seq as f64 },
            seq,
        });
    }
    let mut sorter = ExternalSorter::new(work.path(), 256 << 10).unwrap();
    for p in &input {
        sorter.push(p.clone()).unwrap();
    }
    assert!(sorter.spilled_runs() > 3);
    let got: Vec<Point> = sorter.finish().unwrap().collect::<io::Result<_>>().unwrap();

    let mut want = input;
    want.sort();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((&g.series, g.ts, g.seq), (&w.series, w.ts, w.seq));
        assert_eq!(g.value.to_bits(), w.value.to_bits());
    }
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        0,
        "run files left behind"
    );
}

#[test]
fn missing_work_dir_is_an_error_naming_it() {
    let work = tempfile::tempdir().unwrap();
    let missing = work.path().join("nope");
    let err = ExternalSorter::<Point>::new(&missing, 1 << 20)
        .err()
        .unwrap();
    assert!(err.to_string().contains("nope"), "{err}");
}
