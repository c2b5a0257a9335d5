//! The Cortex plan builder on a generated chunk store, checked against a
//! plain model of Cortex's rules: replicas with overlapping chunks (and
//! disagreeing values: the earliest chunk wins), chunks crossing both
//! midnights, every encoding, a series whose chunks carry the duplicate-label
//! bug (two series IDs that normalise to the same labels must merge, not
//! fail), a missing chunk, empty label values, many series in shuffled plan
//! order with a memory budget small enough that the sort spills.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use base::{Labels, DAY_MS};
use builder::cortex::{build_plan, BuildContext, CortexSource, FetchOptions};
use cortex::{encoding, ChunkMetadata, CortexConfig, Encoding};
use cortex_testgen::encode_object;
use protocol::names::PlanId;
use protocol::plan::{PlanCompression, PlanEntry, PlanHeader, PlanWriter};
use tsdb::BlockReader;

const DAY: i32 = 20_773;
const D0: i64 = DAY as i64 * DAY_MS;
const USER: &str = "tenant-1";

struct Store {
    dir: std::path::PathBuf,
    entries: Vec<PlanEntry>,
    /// Model: series text -> t -> value bits, first writer wins.
    expected: BTreeMap<String, BTreeMap<i64, u64>>,
}

impl Store {
    /// Writes one chunk object; returns its ID. The model is updated by the
    /// caller, which knows the precedence.
    fn chunk(
        &mut self,
        fp: u64,
        metric: &[(&str, &str)],
        enc: Encoding,
        samples: &[(i64, f64)],
    ) -> Vec<String> {
        let mut ids = Vec::new();
        for data in encoding::encode(enc, samples).expect("encode") {
            let decoded = encoding::decode(enc, &data).expect("decode");
            let meta = ChunkMetadata {
                fingerprint: fp,
                user_id: USER.into(),
                from: decoded[0].0,
                through: decoded[decoded.len() - 1].0,
                metric: metric
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                encoding: enc,
            };
            let (key, bytes) = encode_object(&meta, &data);
            std::fs::write(self.dir.join(key.filesystem_name()), bytes).expect("write chunk");
            ids.push(key.external_key());
        }
        ids
    }

    fn expect(&mut self, labels: &Labels, samples: &[(i64, f64)]) {
        let m = self.expected.entry(labels.to_string()).or_default();
        for &(t, v) in samples {
            if (D0..D0 + DAY_MS).contains(&t) {
                m.entry(t).or_insert(v.to_bits());
            }
        }
    }
}

fn series(start: i64, n: usize, step: i64, f: impl Fn(usize) -> f64) -> Vec<(i64, f64)> {
    (0..n).map(|i| (start + i as i64 * step, f(i))).collect()
}

fn write_plan(path: &Path, entries: &[PlanEntry]) {
    let f = std::fs::File::create(path).unwrap();
    let header = PlanHeader {
        user: USER.into(),
        day_index: DAY,
        source: None,
    };
    let mut w = PlanWriter::new(f, PlanCompression::Snappy, &header).unwrap();
    for e in entries {
        w.write_entry(e).unwrap();
    }
    w.finish().unwrap().flush().unwrap();
}

fn build_store(dir: &Path) -> Store {
    let mut s = Store {
        dir: dir.to_path_buf(),
        entries: Vec::new(),
        expected: BTreeMap::new(),
    };
    let encodings = [
        Encoding::Bigchunk,
        Encoding::PrometheusXorChunk,
        Encoding::DoubleDelta,
        Encoding::Varbit,
        Encoding::Delta,
    ];
    // Many plain series, each in one encoding, crossing both midnights.
    for i in 0..300usize {
        let name = format!("m{}", i % 7);
        let inst = format!("i{i}");
        let metric = [
            ("__name__", name.as_str()),
            ("instance", inst.as_str()),
            ("empty", ""),
        ];
        let labels = Labels::normalize(metric.iter().copied()).unwrap();
        let enc = encodings[i % encodings.len()];
        let samples = series(D0 - 3_600_000 + i as i64, 200, 180_000 + i as i64, |k| {
            (k * i) as f64 * 0.5
        });
        let (a, b) = samples.split_at(90);
        let mut cs = s.chunk(i as u64, &metric, enc, a);
        cs.extend(s.chunk(i as u64, &metric, enc, b));
        s.expect(&labels, &samples);
        s.entries.push(PlanEntry::Cortex {
            series_id: format!("sid{i}"),
            chunk_ids: cs,
        });
    }
    // Replicas: two overlapping chunk sets; the second starts later and has
    // other values, so the first one's values are kept.
    let metric = [("__name__", "replicated"), ("job", "ha")];
    let labels = Labels::normalize(metric.iter().copied()).unwrap();
    let r1 = series(D0 + 1_000, 500, 15_000, |k| k as f64);
    let r2 = series(D0 + 1_000 + 100 * 15_000, 500, 15_000, |k| -(k as f64));
    s.expect(&labels, &r1);
    s.expect(&labels, &r2);
    let mut cs = s.chunk(1_000, &metric, Encoding::Bigchunk, &r2);
    cs.extend(s.chunk(1_000, &metric, Encoding::Bigchunk, &r1));
    s.entries.push(PlanEntry::Cortex {
        series_id: "replicated".into(),
        chunk_ids: cs,
    });
    // The duplicate-label bug: one series ID's chunk has `job` twice; a
    // second series ID holds the clean labels. They must become one series,
    // the first-starting chunk winning.
    let buggy = [("__name__", "dup"), ("job", "x"), ("job", "x")];
    let clean = [("__name__", "dup"), ("job", "x")];
    let labels = Labels::normalize(clean.iter().copied()).unwrap();
    let a = series(D0 + 5_000, 100, 60_000, |_| 1.0);
    let b = series(D0 + 5_000 + 50 * 60_000, 100, 60_000, |_| 2.0);
    s.expect(&labels, &a);
    s.expect(&labels, &b);
    let ca = s.chunk(2_000, &buggy, Encoding::PrometheusXorChunk, &a);
    let cb = s.chunk(2_001, &clean, Encoding::PrometheusXorChunk, &b);
    s.entries.push(PlanEntry::Cortex {
        series_id: "dup-b".into(),
        chunk_ids: cb,
    });
    s.entries.push(PlanEntry::Cortex {
        series_id: "dup-a".into(),
        chunk_ids: ca,
    });
    // A chunk the store lost: skipped, as Cortex does.
    let metric = [("__name__", "lost"), ("job", "y")];
    let labels = Labels::normalize(metric.iter().copied()).unwrap();
    let kept = series(D0 + 7_000, 10, 60_000, |k| k as f64);
    let lost = series(D0 + 7_000 + 10 * 60_000, 10, 60_000, |k| k as f64);
    s.expect(&labels, &kept);
    let mut cs = s.chunk(3_000, &metric, Encoding::Bigchunk, &kept);
    let lost_ids = s.chunk(3_000, &metric, Encoding::Bigchunk, &lost);
    for id in &lost_ids {
        let key = cortex::ChunkKey::parse(USER, id).unwrap();
        std::fs::remove_file(dir.join(key.filesystem_name())).unwrap();
    }
    cs.extend(lost_ids);
    s.entries.push(PlanEntry::Cortex {
        series_id: "lost".into(),
        chunk_ids: cs,
    });
    // Plan order is arbitrary: a fixed shuffle.
    let n = s.entries.len();
    for i in 0..n {
        s.entries.swap(i, (i * 7919 + 13) % n);
    }
    s
}

fn source(chunks: &Path) -> CortexSource {
    let config = CortexConfig::parse(
        "configs:\n- from: 2026-10-01\n  store: bigtable-hashed\n  object_store: filesystem\n  schema: v11\n  index: {prefix: index_, period: 168h}\n  chunks: {prefix: chunks_, period: 168h}\n",
    )
    .unwrap();
    CortexSource {
        config,
        config_path: "test.yaml".into(),
        chunks_dir: Some(chunks.to_path_buf()),
        fetch: FetchOptions {
            concurrency: 4,
            ..FetchOptions::default()
        },
        on_corrupt_chunk: Default::default(),
    }
}

fn block_samples(dir: &Path) -> BTreeMap<String, BTreeMap<i64, u64>> {
    let block = BlockReader::open(dir).unwrap();
    let mut out = BTreeMap::new();
    for s in block.series() {
        let (labels, chunks) = s.unwrap();
        let m: &mut BTreeMap<i64, u64> = out.entry(labels.to_string()).or_default();
        for c in &chunks {
            for (t, v) in block.chunk_samples(c).unwrap() {
                assert!(m.insert(t, v.to_bits()).is_none(), "{labels} repeats t={t}");
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_generated_store_like_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let chunks = tmp.path().join("chunks");
    std::fs::create_dir_all(&chunks).unwrap();
    let store = build_store(&chunks);
    let plan = tmp.path().join(format!("{DAY}.plan.snappy"));
    write_plan(&plan, &store.entries);
    let src = source(&chunks);
    let id = PlanId {
        tenant: USER.into(),
        day: DAY,
    };
    for budget in [16 << 10, 256 << 20] {
        let work = tempfile::tempdir_in(tmp.path()).unwrap();
        let ctx = BuildContext {
            work_dir: tmp.path().to_path_buf(),
            memory_budget: budget,
            block: ulid::Ulid::new(),
        };
        let built = build_plan(
            &ctx,
            &src,
            &id,
            "migration/tenant-1/20773.plan.snappy",
            &plan,
            work,
        )
        .await
        .unwrap();
        let got = block_samples(&built.dir);
        assert_eq!(got.len(), store.expected.len(), "budget {budget}: series");
        for (series, want) in &store.expected {
            assert_eq!(got.get(series), Some(want), "budget {budget}: {series}");
        }
        let st = built.stats;
        let total: u64 = store.expected.values().map(|m| m.len() as u64).sum();
        assert_eq!(st.samples_out, total);
        assert_eq!(
            st.samples_in,
            st.samples_out + st.duplicates_dropped + st.samples_outside_day
        );
        assert!(st.duplicates_disagreeing >= 400, "{st:?}");
        assert_eq!(built.meta.min_time, D0);
        assert_eq!(built.meta.max_time, D0 + DAY_MS);
        assert_eq!(built.meta.ulid, ctx.block);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_labels_fail_naming_the_chunk() {
    let tmp = tempfile::tempdir().unwrap();
    let chunks = tmp.path().join("chunks");
    std::fs::create_dir_all(&chunks).unwrap();
    let mut s = Store {
        dir: chunks.clone(),
        entries: Vec::new(),
        expected: BTreeMap::new(),
    };
    let bad = [("__name__", "m"), ("job", "a"), ("job", "b")];
    let ids = s.chunk(1, &bad, Encoding::Bigchunk, &series(D0, 5, 1000, |_| 1.0));
    s.entries.push(PlanEntry::Cortex {
        series_id: "s".into(),
        chunk_ids: ids.clone(),
    });
    let plan = tmp.path().join("p.plan.snappy");
    write_plan(&plan, &s.entries);
    let ctx = BuildContext {
        work_dir: tmp.path().to_path_buf(),
        memory_budget: 1 << 20,
        block: ulid::Ulid::new(),
    };
    let id = PlanId {
        tenant: USER.into(),
        day: DAY,
    };
    let work = tempfile::tempdir_in(tmp.path()).unwrap();
    let err = build_plan(&ctx, &source(&chunks), &id, "p.plan.snappy", &plan, work)
        .await
        .err()
        .expect("must fail");
    let msg = format!("{err:#}");
    assert!(msg.contains(&ids[0]) && msg.contains("job"), "{msg}");
}

/// The generator's store (every encoding, three replicas, the duplicate-label
/// bug, two days with chunks across midnight) builds into exactly the
/// generator's expected series, day by day, even when the sort spills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_generator_store_as_expected() {
    use cortex_testgen::{generate, GenOptions};
    let tmp = tempfile::tempdir().unwrap();
    let chunks = tmp.path().join("chunks");
    let bucket = tmp.path().join("bucket");
    let opts = GenOptions {
        series: 120,
        days: 2,
        start_day: DAY,
        replicas: 3,
        samples_per_chunk: 120,
        encodings: vec![
            Encoding::Bigchunk,
            Encoding::PrometheusXorChunk,
            Encoding::DoubleDelta,
            Encoding::Varbit,
            Encoding::Delta,
        ],
        duplicate_label_bug: true,
        keep_expected: true,
        ..GenOptions::default()
    };
    let report = generate(&opts, &chunks, &bucket, "m").unwrap();
    let src = CortexSource::load(&report.config_path, None, FetchOptions::default()).unwrap();
    for (id, exp) in &report.plans {
        let key = id.plan_key("m", PlanCompression::Snappy);
        let ctx = BuildContext {
            work_dir: tmp.path().to_path_buf(),
            memory_budget: 64 << 10,
            block: ulid::Ulid::new(),
        };
        let work = tempfile::tempdir_in(tmp.path()).unwrap();
        let built = build_plan(&ctx, &src, id, &key, &bucket.join(&key), work)
            .await
            .unwrap();
        assert_eq!(built.stats.samples_out, exp.samples, "{id:?}");
        let got = block_samples(&built.dir);
        let want = &report.expected[id];
        assert_eq!(got.len() as u64, exp.series, "{id:?}");
        for (series, samples) in want {
            let want: BTreeMap<i64, u64> = samples.iter().copied().collect();
            assert_eq!(got.get(series), Some(&want), "{id:?} {series}");
        }
    }
}
