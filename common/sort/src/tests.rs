use super::*;
use base::codec::*;

/// Ordered by `key` only, so `seq` shows whether equal keys kept push order.
#[derive(Debug, Clone)]
struct Rec {
    key: u32,
    seq: u64,
    payload: String,
}

impl PartialEq for Rec {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl Eq for Rec {}
impl PartialOrd for Rec {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Rec {
    fn cmp(&self, o: &Self) -> Ordering {
        self.key.cmp(&o.key)
    }
}

impl SortRecord for Rec {
    fn encode(&self, out: &mut Vec<u8>) {
        put_uvarint(out, u64::from(self.key));
        put_uvarint(out, self.seq);
        put_str(out, &self.payload);
    }
    fn decode(buf: &mut &[u8]) -> io::Result<Self> {
        Ok(Rec {
            key: u32::try_from(get_uvarint(buf)?)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
            seq: get_uvarint(buf)?,
            payload: get_string(buf)?,
        })
    }
    fn mem_size(&self) -> usize {
        std::mem::size_of::<Self>() + self.payload.capacity()
    }
}

/// Deterministic xorshift, so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn records(n: u64, distinct_keys: u64, seed: u64) -> Vec<Rec> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|seq| {
            let r = rng.next();
            Rec {
                key: (r % distinct_keys) as u32,
                seq,
                payload: "x".repeat((r >> 32) as usize % 40),
            }
        })
        .collect()
}

fn sort_all(input: &[Rec], budget: usize) -> (Vec<Rec>, usize) {
    let work = tempfile::tempdir().unwrap();
    let mut s = ExternalSorter::new(work.path(), budget).unwrap();
    for r in input {
        s.push(r.clone()).unwrap();
    }
    assert_eq!(s.len(), input.len() as u64);
    let runs = s.spilled_runs();
    let out: Vec<Rec> = s.finish().unwrap().map(|r| r.unwrap()).collect();
    (out, runs)
}

fn assert_same(got: &[Rec], input: &[Rec]) {
    let mut want = input.to_vec();
    want.sort(); // std's sort is stable: the reference for equal keys.
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((g.key, g.seq, &g.payload), (w.key, w.seq, &w.payload));
    }
}

#[test]
fn random_data_matches_std_sort_with_several_runs() {
    let input = records(20_000, 1_000_000, 0x9e37_79b9_7f4a_7c15);
    let (got, runs) = sort_all(&input, 64 << 10);
    assert!(runs >= 5, "only {runs} runs spilled");
    assert_same(&got, &input);
}

#[test]
fn equal_keys_come_out_in_push_order() {
    let input = records(10_000, 7, 42);
    let (got, runs) = sort_all(&input, 16 << 10);
    assert!(runs > 1);
    assert_same(&got, &input);
    for w in got.windows(2) {
        if w[0].key == w[1].key {
            assert!(w[0].seq < w[1].seq);
        }
    }
}

#[test]
fn tiny_budget_forces_merge_rounds() {
    // One record per run: far more runs than one merge can open at once.
    let input = records(MAX_FAN_IN as u64 * 5 + 3, 10, 7);
    let (got, runs) = sort_all(&input, 1);
    assert_eq!(runs, input.len());
    assert_same(&got, &input);
}

#[test]
fn fits_in_memory_without_spilling() {
    let input = records(1_000, 50, 3);
    let (got, runs) = sort_all(&input, 1 << 30);
    assert_eq!(runs, 0);
    assert_same(&got, &input);
}

#[test]
fn empty_input_yields_nothing() {
    let (got, runs) = sort_all(&[], 1);
    assert!(got.is_empty());
    assert_eq!(runs, 0);
}

#[test]
fn temp_files_are_removed_on_drop() {
    let work = tempfile::tempdir().unwrap();
    let mut s = ExternalSorter::new(work.path(), 1).unwrap();
    for r in records(100, 10, 5) {
        s.push(r).unwrap();
    }
    let mut sorted = s.finish().unwrap();
    assert!(sorted.next().unwrap().is_ok());
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 1);
    drop(sorted);
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0);

    let mut s = ExternalSorter::new(work.path(), 1).unwrap();
    s.push(records(1, 1, 1).remove(0)).unwrap();
    drop(s);
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0);
}

#[test]
fn corrupt_run_is_an_error_naming_the_file() {
    let work = tempfile::tempdir().unwrap();
    let mut s = ExternalSorter::new(work.path(), 4 << 10).unwrap();
    for r in records(2_000, 1000, 11) {
        s.push(r).unwrap();
    }
    let victim = s.runs[0].clone();
    let len = std::fs::metadata(&victim).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&victim)
        .unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    let name = victim.display().to_string();
    let err = match s.finish() {
        Err(e) => e,
        Ok(sorted) => sorted
            .filter_map(Result::err)
            .next()
            .expect("a truncated run must fail"),
    };
    assert!(err.to_string().contains(&name), "{err}");
}
