//! Corrupt and odd input to the Cortex builder, one test per case of the
//! table in `builder::cortex`'s module docs: every corrupt chunk either
//! fails the plan with a reason naming the series and the chunk, or, under
//! the skip policy, is left out and counted while the block holds exactly
//! the good samples. Empty chunks, NaN payloads, series listed twice, plans
//! larger than the memory budget and malformed plan lines have one fixed
//! behaviour each, tested here too.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use base::{Labels, DAY_MS};
use builder::cortex::{
    build_plan_with_policy, decode_chunk, BuildContext, CorruptChunkPolicy, CortexSource,
    FetchOptions,
};
use builder::BuiltBlock;
use cortex::{
    encoding, external_key_from_filesystem_name, ChunkKey, ChunkMetadata, CortexConfig, Encoding,
    Sample,
};
use cortex_testgen::{encode_object, metadata_json};
use protocol::names::PlanId;
use protocol::plan::{PlanCompression, PlanEntry, PlanHeader, PlanWriter};
use protocol::records::SkippedInput;
use testkit::promtool;
use tsdb::BlockReader;

const DAY: i32 = 20_773;
const D0: i64 = DAY as i64 * DAY_MS;
const USER: &str = "tenant-1";
const PLAN_KEY: &str = "migration/tenant-1/20773.plan.snappy";
/// An uncompressed plan (the name decides how a plan is read).
const TEXT_PLAN_KEY: &str = "migration/tenant-1/20773.plan";

/// Series text -> t -> value bits.
type Samples = BTreeMap<String, BTreeMap<i64, u64>>;

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn samples(start: i64, n: usize, step: i64, f: impl Fn(usize) -> f64) -> Vec<Sample> {
    (0..n).map(|i| (start + i as i64 * step, f(i))).collect()
}

fn metric(name: &str) -> Vec<(String, String)> {
    vec![
        ("__name__".to_string(), name.to_string()),
        ("job".to_string(), "j".to_string()),
    ]
}

fn labels_text(name: &str) -> String {
    Labels::normalize(metric(name).iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .unwrap()
        .to_string()
}

/// Cortex's metadata for one chunk of `samples` (bounds from the samples).
fn meta(fp: u64, metric: Vec<(String, String)>, enc: Encoding, s: &[Sample]) -> ChunkMetadata {
    ChunkMetadata {
        fingerprint: fp,
        user_id: USER.into(),
        from: s.first().map_or(D0, |x| x.0),
        through: s.last().map_or(D0, |x| x.0),
        metric,
        encoding: enc,
    }
}

/// One Cortex data section holding `s` (a single section: the test
/// encodings never overflow).
fn data(enc: Encoding, s: &[Sample]) -> Vec<u8> {
    let mut sections = encoding::encode(enc, s).expect("encode");
    assert_eq!(sections.len(), 1);
    sections.remove(0)
}

/// The snappy framing format with one *uncompressed* chunk, which every
/// reader must accept: lets a test write any metadata bytes.
fn snappy_frame_uncompressed(payload: &[u8]) -> Vec<u8> {
    let crc = crc32c::crc32c(payload);
    let masked = crc.rotate_right(15).wrapping_add(0xa282_ead8);
    let mut out = b"\xff\x06\x00\x00sNaPpY".to_vec();
    out.push(0x01);
    let len = (payload.len() + 4) as u32;
    out.extend_from_slice(&len.to_le_bytes()[..3]);
    out.extend_from_slice(&masked.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// A chunk object from raw metadata JSON and data, as Cortex lays it out.
fn object_from_parts(json: &[u8], data: &[u8]) -> Vec<u8> {
    let frames = snappy_frame_uncompressed(json);
    let mut out = ((frames.len() + 4) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&frames);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

struct Fx {
    tmp: tempfile::TempDir,
    chunks: PathBuf,
    entries: Vec<PlanEntry>,
}

impl Fx {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let chunks = tmp.path().join("chunks");
        std::fs::create_dir_all(&chunks).unwrap();
        Fx {
            tmp,
            chunks,
            entries: Vec::new(),
        }
    }

    /// Writes a well-formed chunk object; returns its ID.
    fn put(&self, m: &ChunkMetadata, data: &[u8]) -> String {
        let (key, bytes) = encode_object(m, data);
        std::fs::write(self.chunks.join(key.filesystem_name()), bytes).unwrap();
        key.external_key()
    }

    /// Writes `bytes` under the key `m` names with `checksum` (the object's
    /// own CRC-32C when `None`, as a writer of garbage would have): the
    /// object reaches the decoder, whatever it holds.
    fn put_bytes(&self, m: &ChunkMetadata, bytes: &[u8], checksum: Option<u32>) -> String {
        let key = ChunkKey {
            user: m.user_id.clone(),
            fingerprint: m.fingerprint,
            from: m.from,
            through: m.through,
            checksum: Some(checksum.unwrap_or_else(|| crc32c::crc32c(bytes))),
        };
        std::fs::write(self.chunks.join(key.filesystem_name()), bytes).unwrap();
        key.external_key()
    }

    /// A clean chunk of series `name`.
    fn good(&self, name: &str, fp: u64, s: &[Sample]) -> String {
        self.put(
            &meta(fp, metric(name), Encoding::Bigchunk, s),
            &data(Encoding::Bigchunk, s),
        )
    }

    fn entry(&mut self, sid: &str, ids: Vec<String>) {
        self.entries.push(PlanEntry::Cortex {
            series_id: sid.into(),
            chunk_ids: ids,
        });
    }

    fn source(&self) -> CortexSource {
        let config = CortexConfig::parse(
            "configs:\n- from: 2026-10-01\n  store: bigtable-hashed\n  object_store: filesystem\n  schema: v11\n  index: {prefix: index_, period: 168h}\n  chunks: {prefix: chunks_, period: 168h}\n",
        )
        .unwrap();
        CortexSource {
            config,
            config_path: "test.yaml".into(),
            chunks_dir: Some(self.chunks.clone()),
            fetch: FetchOptions {
                concurrency: 4,
                ..FetchOptions::default()
            },
            on_corrupt_chunk: Default::default(),
        }
    }

    fn write_plan(&self) -> PathBuf {
        let path = self.tmp.path().join("20773.plan.snappy");
        let f = std::fs::File::create(&path).unwrap();
        let header = PlanHeader {
            user: USER.into(),
            day_index: DAY,
            source: None,
        };
        let mut w = PlanWriter::new(f, PlanCompression::Snappy, &header).unwrap();
        for e in &self.entries {
            w.write_entry(e).unwrap();
        }
        w.finish().unwrap().flush().unwrap();
        path
    }

    fn build_plan_file(
        &self,
        policy: CorruptChunkPolicy,
        plan_key: &str,
        plan: &Path,
        budget: usize,
    ) -> anyhow::Result<BuiltBlock> {
        let ctx = BuildContext {
            work_dir: self.tmp.path().to_path_buf(),
            memory_budget: budget,
            block: ulid::Ulid::new(),
        };
        let id = PlanId {
            tenant: USER.into(),
            day: DAY,
        };
        let work = tempfile::tempdir_in(self.tmp.path()).unwrap();
        let src = self.source();
        run(build_plan_with_policy(
            &ctx, &src, policy, &id, plan_key, plan, work,
        ))
    }

    fn build(&self, policy: CorruptChunkPolicy) -> anyhow::Result<BuiltBlock> {
        let plan = self.write_plan();
        self.build_plan_file(policy, PLAN_KEY, &plan, 1 << 20)
    }
}

fn block_samples(dir: &Path) -> Samples {
    let block = BlockReader::open(dir).unwrap();
    let mut out = Samples::new();
    for s in block.series() {
        let (labels, chunks) = s.unwrap();
        let m = out.entry(labels.to_string()).or_default();
        for c in &chunks {
            for (t, v) in block.chunk_samples(c).unwrap() {
                assert!(m.insert(t, v.to_bits()).is_none(), "{labels} repeats t={t}");
            }
        }
    }
    out
}

fn expect(out: &mut Samples, name: &str, s: &[Sample]) {
    let m = out.entry(labels_text(name)).or_default();
    for &(t, v) in s {
        m.entry(t).or_insert(v.to_bits());
    }
}

/// `promtool tsdb analyze` accepts the block (skipped without promtool,
/// unless tools are required).
fn promtool_accepts(built: &BuiltBlock) {
    if !promtool::available() {
        assert!(
            std::env::var_os("BLOCKSCONVERT_TEST_REQUIRE_TOOLS").is_none(),
            "promtool is required (run scripts/install-test-deps.sh)"
        );
        eprintln!("skipping promtool: not installed");
        return;
    }
    let parent = built.dir.parent().unwrap();
    let id = built.meta.ulid.to_string();
    promtool::analyze(parent, &id).expect("promtool tsdb analyze");
}

/// One way of breaking the second chunk of series "victim".
struct Corruption {
    name: &'static str,
    /// Words the failure must contain, besides series and chunk.
    says: &'static str,
    /// Writes the broken chunk for samples `s`; returns its ID.
    write: fn(&Fx, &[Sample]) -> String,
}

const VICTIM_FP: u64 = 7;

fn victim_meta(s: &[Sample]) -> ChunkMetadata {
    meta(VICTIM_FP, metric("victim"), Encoding::Bigchunk, s)
}

fn corruptions() -> Vec<Corruption> {
    vec![
        Corruption {
            name: "bit flip",
            says: "invalid chunk checksum",
            write: |fx, s| {
                let m = victim_meta(s);
                let (key, mut bytes) = encode_object(&m, &data(Encoding::Bigchunk, s));
                let at = bytes.len() - 5;
                bytes[at] ^= 0x10;
                fx.put_bytes(&m, &bytes, key.checksum)
            },
        },
        Corruption {
            name: "wrong checksum in the ID",
            says: "invalid chunk checksum",
            write: |fx, s| {
                let m = victim_meta(s);
                let (key, bytes) = encode_object(&m, &data(Encoding::Bigchunk, s));
                fx.put_bytes(&m, &bytes, key.checksum.map(|c| c ^ 1))
            },
        },
        Corruption {
            name: "truncated",
            says: "chunk data wrong length",
            write: |fx, s| {
                let m = victim_meta(s);
                let (_, mut bytes) = encode_object(&m, &data(Encoding::Bigchunk, s));
                bytes.truncate(bytes.len() - 10);
                fx.put_bytes(&m, &bytes, None)
            },
        },
        Corruption {
            name: "truncated in the metadata",
            says: "metadata snappy stream",
            write: |fx, s| {
                let m = victim_meta(s);
                let (_, mut bytes) = encode_object(&m, &data(Encoding::Bigchunk, s));
                bytes.truncate(20);
                fx.put_bytes(&m, &bytes, None)
            },
        },
        Corruption {
            name: "bad snappy",
            says: "metadata snappy stream",
            write: |fx, s| {
                let m = victim_meta(s);
                let mut json = metadata_json(&m);
                let mut bytes = object_from_parts(&json, &data(Encoding::Bigchunk, s));
                // The framed chunk's CRC no longer matches its payload.
                json[3] ^= 0x01;
                let at = 4 + 10 + 8 + 3;
                bytes[at] = json[3];
                fx.put_bytes(&m, &bytes, None)
            },
        },
        Corruption {
            name: "unknown encoding",
            says: "unknown chunk encoding 9",
            write: |fx, s| {
                let m = victim_meta(s);
                let json = String::from_utf8(metadata_json(&m)).unwrap();
                let json = json.replace("\"encoding\":3}", "\"encoding\":9}");
                let bytes = object_from_parts(json.as_bytes(), &data(Encoding::Bigchunk, s));
                fx.put_bytes(&m, &bytes, None)
            },
        },
        Corruption {
            name: "undecodable data",
            says: "Bigchunk data",
            write: |fx, s| {
                let m = victim_meta(s);
                // Three sub-chunks announced, one byte of them present.
                fx.put(&m, &[3, 0, 40, 0, 1])
            },
        },
        Corruption {
            name: "a label name with two values",
            says: "labels",
            write: |fx, s| {
                let mut m = victim_meta(s);
                m.metric.push(("job".into(), "other".into()));
                fx.put(&m, &data(Encoding::Bigchunk, s))
            },
        },
        Corruption {
            name: "samples out of order",
            says: "samples out of time order",
            write: |fx, s| {
                let mut shuffled = s.to_vec();
                shuffled.swap(2, 5);
                let mut m = victim_meta(s);
                m.from = s[0].0;
                m.through = s[s.len() - 1].0;
                fx.put(&m, &data(Encoding::Bigchunk, &shuffled))
            },
        },
        Corruption {
            name: "samples far outside the key's range",
            says: "outside the key's range",
            write: |fx, s| {
                let mut far = s.to_vec();
                far[3].0 += 40 * DAY_MS;
                far.sort_by_key(|x| x.0);
                // The key keeps the range the samples should have had.
                let m = victim_meta(s);
                fx.put(&m, &data(Encoding::Bigchunk, &far))
            },
        },
    ]
}

/// The plan of every corruption case: a clean series, and "victim" with a
/// good first chunk and the broken second one. Returns the fixture, the
/// broken chunk's ID and what a skip must leave in the block.
fn corrupt_case(c: &Corruption) -> (Fx, String, Samples) {
    let mut fx = Fx::new();
    let mut want = Samples::new();
    let clean = samples(D0 + 1_000, 50, 60_000, |i| i as f64);
    let id = fx.good("clean", 1, &clean);
    fx.entry("clean-sid", vec![id]);
    expect(&mut want, "clean", &clean);

    let first = samples(D0 + 2_000, 30, 60_000, |i| i as f64 * 2.0);
    let second = samples(D0 + 2_000 + 30 * 60_000, 30, 60_000, |i| i as f64 * 3.0);
    let good = fx.put(&victim_meta(&first), &data(Encoding::Bigchunk, &first));
    let bad = (c.write)(&fx, &second);
    fx.entry("victim-sid", vec![good, bad.clone()]);
    expect(&mut want, "victim", &first);
    (fx, bad, want)
}

#[test]
fn corrupt_chunks_fail_the_plan_naming_series_and_chunk() {
    for c in corruptions() {
        let (fx, bad, _) = corrupt_case(&c);
        let err = fx
            .build(CorruptChunkPolicy::Fail)
            .err()
            .unwrap_or_else(|| panic!("{}: the plan must fail", c.name));
        let msg = format!("{err:#}");
        assert!(
            msg.contains("series victim-sid") && msg.contains(&bad) && msg.contains(c.says),
            "{}: {msg}",
            c.name
        );
    }
}

#[test]
fn corrupt_chunks_are_skipped_and_counted() {
    for c in corruptions() {
        let (fx, bad, want) = corrupt_case(&c);
        let built = fx
            .build(CorruptChunkPolicy::Skip)
            .unwrap_or_else(|e| panic!("{}: {e:#}", c.name));
        assert_eq!(block_samples(&built.dir), want, "{} ({bad})", c.name);
        assert_eq!(
            built.stats.skipped,
            SkippedInput {
                chunks_corrupt: 1,
                ..SkippedInput::default()
            },
            "{}",
            c.name
        );
        assert_eq!(built.stats.samples_out, 80, "{}", c.name);
    }
}

/// Chunks of one series whose metadata disagree on the labels: no chunk
/// alone is known to be the wrong one, so skip drops the whole series.
#[test]
fn chunks_disagreeing_on_labels_fail_or_drop_the_series() {
    let mut fx = Fx::new();
    let mut want = Samples::new();
    let clean = samples(D0 + 1_000, 20, 60_000, |i| i as f64);
    let id = fx.good("clean", 1, &clean);
    fx.entry("clean-sid", vec![id]);
    expect(&mut want, "clean", &clean);
    let a = samples(D0 + 2_000, 20, 60_000, |_| 1.0);
    let b = samples(D0 + 2_000 + 20 * 60_000, 20, 60_000, |_| 2.0);
    let ida = fx.good("mixed", 2, &a);
    let idb = fx.good("other", 2, &b);
    fx.entry("mixed-sid", vec![ida.clone(), idb.clone()]);

    let msg = format!(
        "{:#}",
        fx.build(CorruptChunkPolicy::Fail).err().expect("must fail")
    );
    assert!(msg.contains("series mixed-sid"), "{msg}");
    assert!(msg.contains("chunks for multiple metrics"), "{msg}");
    assert!(msg.contains(&ida) && msg.contains(&idb), "{msg}");

    let built = fx.build(CorruptChunkPolicy::Skip).unwrap();
    assert_eq!(block_samples(&built.dir), want);
    assert_eq!(
        built.stats.skipped,
        SkippedInput {
            series: 1,
            ..SkippedInput::default()
        }
    );
}

#[test]
fn series_without_one_usable_chunk_is_left_out_whole() {
    let mut fx = Fx::new();
    let mut want = Samples::new();
    let clean = samples(D0 + 1_000, 20, 60_000, |i| i as f64);
    let id = fx.good("clean", 1, &clean);
    fx.entry("clean-sid", vec![id]);
    expect(&mut want, "clean", &clean);
    let s = samples(D0 + 5_000, 10, 60_000, |_| 1.0);
    let m = victim_meta(&s);
    let (key, mut bytes) = encode_object(&m, &data(Encoding::Bigchunk, &s));
    bytes[6] ^= 0xff;
    let a = fx.put_bytes(&m, &bytes, key.checksum);
    let b = fx.put(&m, &[1, 0]);
    fx.entry("victim-sid", vec![a, b]);

    let built = fx.build(CorruptChunkPolicy::Skip).unwrap();
    assert_eq!(block_samples(&built.dir), want);
    assert_eq!(
        built.stats.skipped,
        SkippedInput {
            chunks_corrupt: 2,
            chunks_empty: 0,
            series: 1,
        }
    );
}

/// Skipping never turns into an empty block: a plan with nothing usable
/// left fails, saying what was left out.
#[test]
fn plan_with_nothing_usable_fails_even_when_skipping() {
    let mut fx = Fx::new();
    let s = samples(D0 + 5_000, 10, 60_000, |_| 1.0);
    let m = victim_meta(&s);
    let bad = fx.put(&m, &[3, 0, 40, 0, 1]);
    fx.entry("victim-sid", vec![bad]);
    let err = fx.build(CorruptChunkPolicy::Skip).err().expect("must fail");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("1 corrupt chunks, 0 empty chunks and 1 series were left out"),
        "{msg}"
    );
}

/// Empty chunks are left out and counted whatever the policy: they hold
/// nothing to lose.
#[test]
fn empty_chunks_are_left_out_and_counted() {
    let mut fx = Fx::new();
    let mut want = Samples::new();
    let s = samples(D0 + 1_000, 20, 60_000, |i| i as f64);
    let good = fx.good("with-empty", 1, &s);
    let empty_meta = meta(
        1,
        metric("with-empty"),
        Encoding::Bigchunk,
        &[(D0 + 9_000_000, 0.0)],
    );
    let empty = fx.put(&empty_meta, &data(Encoding::Bigchunk, &[]));
    // Also one PrometheusXorChunk with no sample, in a series of its own.
    let xor_meta = meta(
        2,
        metric("only-empty"),
        Encoding::PrometheusXorChunk,
        &[(D0, 0.0)],
    );
    let only = fx.put(&xor_meta, &data(Encoding::PrometheusXorChunk, &[]));
    fx.entry("a", vec![empty, good]);
    fx.entry("b", vec![only]);
    expect(&mut want, "with-empty", &s);
    for policy in [CorruptChunkPolicy::Fail, CorruptChunkPolicy::Skip] {
        let built = fx.build(policy).unwrap();
        assert_eq!(block_samples(&built.dir), want, "{policy}");
        assert_eq!(
            built.stats.skipped,
            SkippedInput {
                chunks_empty: 2,
                ..SkippedInput::default()
            },
            "{policy}"
        );
    }
}

/// NaN is a value: every payload (stale markers included) comes out with
/// the bits it went in with, also where replicas repeat it.
#[test]
fn nan_payloads_are_kept_bit_exact() {
    let nans: [u64; 6] = [
        0x7ff0_0000_0000_0002, // Prometheus' stale marker
        0x7ff8_0000_0000_0001, // Prometheus' NaN
        0x7ff8_0000_0000_0000,
        0xfff8_0000_0000_0000,
        0x7ff4_dead_beef_0001, // signalling, arbitrary payload
        0xffff_ffff_ffff_ffff,
    ];
    let mut fx = Fx::new();
    let mut want = Samples::new();
    for (k, enc) in [Encoding::Bigchunk, Encoding::PrometheusXorChunk]
        .into_iter()
        .enumerate()
    {
        let name = format!("nan_{k}");
        let s: Vec<Sample> = (0..60)
            .map(|i| {
                let bits = if i % 3 == 0 {
                    nans[i / 3 % nans.len()]
                } else {
                    (i as f64).to_bits()
                };
                (D0 + 1_000 + i as i64 * 15_000, f64::from_bits(bits))
            })
            .collect();
        // Two replicas of the same samples, cut at other points.
        let (a, b) = s.split_at(25);
        let (c, d) = s.split_at(40);
        let mut ids = Vec::new();
        for part in [a, b, c, d] {
            ids.push(fx.put(
                &meta(10 + k as u64, metric(&name), enc, part),
                &data(enc, part),
            ));
        }
        fx.entry(&name, ids);
        expect(&mut want, &name, &s);
    }
    let built = fx.build(CorruptChunkPolicy::Fail).unwrap();
    assert_eq!(block_samples(&built.dir), want);
    assert_eq!(built.stats.duplicates_dropped, 120);
    assert_eq!(built.stats.duplicates_disagreeing, 0);
    promtool_accepts(&built);
}

/// A series ID listed twice, and a second ID with the same labels: one
/// series in the block, every repeated sample counted as a duplicate.
#[test]
fn plan_listing_a_series_twice_builds_it_once() {
    let mut fx = Fx::new();
    let mut want = Samples::new();
    let a = samples(D0 + 1_000, 40, 60_000, |i| i as f64);
    let b = samples(D0 + 1_000 + 40 * 60_000, 40, 60_000, |i| i as f64);
    let ia = fx.good("twice", 3, &a);
    let ib = fx.good("twice", 3, &b);
    fx.entry("twice-sid", vec![ia.clone(), ib.clone()]);
    fx.entry("other", vec![fx.good("other", 4, &a)]);
    fx.entry("twice-sid", vec![ia.clone(), ib]);
    fx.entry("twice-sid", vec![ia.clone()]);
    fx.entry("another-sid-same-labels", vec![ia]);
    expect(&mut want, "twice", &a);
    expect(&mut want, "twice", &b);
    expect(&mut want, "other", &a);
    let built = fx.build(CorruptChunkPolicy::Fail).unwrap();
    assert_eq!(block_samples(&built.dir), want);
    assert_eq!(built.stats.series, 2);
    assert_eq!(built.stats.samples_out, 120);
    assert_eq!(built.stats.duplicates_dropped, 80 + 40 + 40);
    assert_eq!(built.stats.duplicates_disagreeing, 0);
    promtool_accepts(&built);
}

/// A plan whose series are far more than the memory budget holds: the
/// sort spills (each record is over 100 bytes, the sort gets 8 KiB) and the
/// block is complete.
#[test]
fn plan_larger_than_memory_builds_under_a_tiny_budget() {
    let mut fx = Fx::new();
    let mut want = Samples::new();
    // Written in reverse label order, so the sort has work to do.
    for i in (0..1500u64).rev() {
        let name = format!("big_{i:05}");
        let s = samples(D0 + i as i64, 12, 300_000, |k| (k as u64 * i) as f64);
        let id = fx.good(&name, 100 + i, &s);
        fx.entry(&format!("sid-{i}"), vec![id]);
        expect(&mut want, &name, &s);
    }
    let plan = fx.write_plan();
    let built = fx
        .build_plan_file(CorruptChunkPolicy::Fail, PLAN_KEY, &plan, 16 << 10)
        .unwrap();
    assert_eq!(built.stats.series, 1500);
    assert_eq!(block_samples(&built.dir), want);
    promtool_accepts(&built);
}

/// A malformed plan line fails the plan whatever the policy, naming the
/// plan and the line.
#[test]
fn malformed_plan_line_fails_naming_plan_and_line() {
    let mut fx = Fx::new();
    let s = samples(D0 + 1_000, 10, 60_000, |i| i as f64);
    let id = fx.good("m", 1, &s);
    fx.entry("m-sid", vec![id.clone()]);
    let cases = [
        (
            format!("{{\"sid\":\"m-sid\",\"cs\":[\"{id}\"]}}\n{{\"sid\":\"x\",\"cs\":[\"a\"\n"),
            "line 3",
        ),
        (
            format!("{{\"sid\":\"m-sid\",\"cs\":[\"{id}\"]}}\nnot json at all\n"),
            "line 3",
        ),
        (
            format!("{{\"sid\":\"m-sid\",\"cs\":[\"{id}\"]}}\n"),
            "footer",
        ),
    ];
    for (i, (body, says)) in cases.iter().enumerate() {
        let path = fx.tmp.path().join(format!("{i}.plan"));
        let mut text = format!("{{\"user\":\"{USER}\",\"day_index\":{DAY}}}\n{body}");
        if *says != "footer" {
            text.push_str("{\"complete\":true}\n");
        }
        std::fs::write(&path, text).unwrap();
        for policy in [CorruptChunkPolicy::Fail, CorruptChunkPolicy::Skip] {
            let err = fx
                .build_plan_file(policy, TEXT_PLAN_KEY, &path, 1 << 20)
                .err()
                .expect("must fail");
            let msg = format!("{err:#}");
            assert!(
                msg.contains(&format!("plan {TEXT_PLAN_KEY}")) && msg.contains(says),
                "case {i}: {msg}"
            );
        }
    }
}

/// The checks raise no false alarm on chunks a real Cortex wrote: every
/// chunk object of the test data (every encoding) passes them.
#[test]
fn real_cortex_chunks_pass_the_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/cortex");
    let mut checked = 0;
    for case in std::fs::read_dir(&root).unwrap() {
        let dir = case.unwrap().path().join("chunks");
        if !dir.is_dir() {
            continue;
        }
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(ext) = external_key_from_filesystem_name(&name) else {
                continue;
            };
            let user = ext.split_once('/').map_or("fake", |(u, _)| u);
            let key = ChunkKey::parse(user, &ext).unwrap();
            let bytes = std::fs::read(e.path()).unwrap();
            if let Err(err) = decode_chunk(key, &bytes) {
                panic!("{}: {err}", e.path().display());
            }
            checked += 1;
        }
    }
    assert!(
        checked > 1000,
        "only {checked} chunks found under {}",
        root.display()
    );
}
