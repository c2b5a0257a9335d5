//! The fuzz targets on stable, for CI: every file of `fuzz/corpus/<target>/`
//! (real data and the inputs of crashes found so far), then a fixed number of
//! deterministic mutations of them, through the very bodies `cargo fuzz`
//! runs (`fuzz/targets.rs`). This is a regression net, not a fuzzer: long
//! campaigns run with libFuzzer on nightly (fuzz/README.md).
//!
//! `FUZZ_SMOKE_ITERATIONS` (per target) and `FUZZ_SMOKE_SEED` change the
//! mutation run; a failing input is written to the test's temp dir and named
//! in the failure, ready to copy into the corpus.
//!
//! The seed corpus is written by the ignored test `write_seed_corpus`:
//! `cargo test -p common --test fuzz_smoke -- --ignored write_seed_corpus`.

#[path = "../fuzz/targets.rs"]
mod targets;

use std::fs;
use std::io::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use base::Labels;
use cortex::encoding::{self, Encoding};
use cortex::ChunkMetadata;
use cortex_testgen::encode_object;
use protocol::plan::{PlanCompression, PlanReader, PlanWriter};
use tsdb::{BlockWriter, BlockWriterOptions, Chunker, XorAppender};

type Body = fn(&[u8]);

const TARGETS: [(&str, Body); 5] = [
    ("cortex_chunk", targets::cortex_chunk),
    ("plan", targets::plan),
    ("openmetrics", targets::openmetrics),
    ("tsdb_block", targets::tsdb_block),
    ("xor_chunk", targets::xor_chunk),
];

/// Mutated inputs per target when `FUZZ_SMOKE_ITERATIONS` is unset: enough
/// to shake the error paths, a few seconds in all.
const DEFAULT_ITERATIONS: u64 = 100_000;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir().join("corpus").join(target);
    let mut out: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).unwrap())
        })
        .collect();
    out.sort();
    out
}

/// Runs `body` on `input`; on a panic, saves the input and fails naming it.
fn run_one(target: &str, what: &str, body: Body, input: &[u8]) {
    if panic::catch_unwind(AssertUnwindSafe(|| body(input))).is_ok() {
        return;
    }
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-smoke-{target}-crash"));
    fs::write(&path, input).unwrap();
    panic!(
        "fuzz target {target} panicked on {what}; input saved to {} ({} bytes)",
        path.display(),
        input.len()
    );
}

/// xorshift64*: deterministic, no dependency, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A few libFuzzer-style edits of one corpus input, sometimes spliced with
/// another. Bytes that make formats interesting (length words, varint
/// continuation bits, zero, all ones) are favoured over uniform noise.
fn mutate(rng: &mut Rng, inputs: &[(String, Vec<u8>)]) -> Vec<u8> {
    const INTERESTING: [u8; 8] = [0x00, 0x01, 0x7f, 0x80, 0xff, b'\n', b'"', b'{'];
    let mut b = inputs[rng.below(inputs.len())].1.clone();
    for _ in 0..1 + rng.below(4) {
        let len = b.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                b[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                b[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                b.insert(i, rng.next() as u8);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                b.drain(i..i + n);
            }
            4 if len > 0 => b.truncate(rng.below(len)),
            5 if len >= 4 => {
                let i = rng.below(len - 3);
                let word = [0u32, 1, 0x7fff_ffff, u32::MAX, len as u32][rng.below(5)];
                b[i..i + 4].copy_from_slice(&word.to_be_bytes());
            }
            6 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                let chunk = b[i..i + n].to_vec();
                let at = rng.below(len + 1);
                b.splice(at..at, chunk);
            }
            _ => {
                let other = &inputs[rng.below(inputs.len())].1;
                let cut = rng.below(b.len() + 1);
                let from = rng.below(other.len() + 1);
                b.truncate(cut);
                b.extend_from_slice(&other[from..]);
            }
        }
    }
    b
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v:?}")))
        .unwrap_or(default)
}

fn smoke(target: &str) {
    let body = TARGETS.iter().find(|(n, _)| *n == target).unwrap().1;
    let inputs = corpus(target);
    assert!(!inputs.is_empty(), "no corpus for {target}");
    for (name, input) in &inputs {
        run_one(target, &format!("corpus file {name}"), body, input);
    }
    let iterations = env_u64("FUZZ_SMOKE_ITERATIONS", DEFAULT_ITERATIONS);
    let seed = env_u64("FUZZ_SMOKE_SEED", 0x5eed_f022);
    let mut rng = Rng(seed ^ target.len() as u64 ^ 0x9e37_79b9_7f4a_7c15);
    for i in 0..iterations {
        let input = mutate(&mut rng, &inputs);
        run_one(
            target,
            &format!("mutation {i} (FUZZ_SMOKE_SEED={seed})"),
            body,
            &input,
        );
    }
}

#[test]
fn cortex_chunk_smoke() {
    smoke("cortex_chunk");
}

#[test]
fn plan_smoke() {
    smoke("plan");
}

#[test]
fn openmetrics_smoke() {
    smoke("openmetrics");
}

#[test]
fn tsdb_block_smoke() {
    smoke("tsdb_block");
}

#[test]
fn xor_chunk_smoke() {
    smoke("xor_chunk");
}

/// The corpus must exercise the happy paths, or mutating it tests little:
/// each seed kind must be accepted by the code it is meant for.
#[test]
fn seeds_are_valid_inputs() {
    let block = seed_block();
    let (meta, index, segments) = targets::unpack_block(&block);
    let segments = segments.into_iter().map(<[u8]>::to_vec).collect();
    let reader =
        tsdb::BlockReader::from_bytes(Path::new("seed"), meta, index.to_vec(), segments).unwrap();
    let mut samples = 0;
    for s in reader.series() {
        for c in s.unwrap().1 {
            samples += reader.chunk_samples(&c).unwrap().len();
        }
    }
    assert_eq!(samples, 3 * 300);

    for (name, bytes) in corpus("plan")
        .iter()
        .filter(|(n, _)| n.starts_with("seed-"))
    {
        let compression = [
            PlanCompression::None,
            PlanCompression::Gzip,
            PlanCompression::Snappy,
        ][usize::from(bytes[0] % 3)];
        let mut r = PlanReader::with_compression(name, &bytes[1..], compression).unwrap();
        assert!(r.next_entry().unwrap().is_some(), "{name}");
    }
    for (name, bytes) in corpus("cortex_chunk")
        .iter()
        .filter(|(n, _)| n.starts_with("seed-object"))
    {
        let obj = cortex::parse_object(&bytes[1..]).unwrap();
        assert!(!obj.samples().unwrap().is_empty(), "{name}");
    }
}

/// A block of three series written by our writer, packed for `tsdb_block`.
fn seed_block() -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let opts = BlockWriterOptions {
        min_time: 0,
        max_time: 2 * 3600 * 1000,
        ulid: "01HZZZZZZZZZZZZZZZZZZZZZZZ".parse().unwrap(),
        memory_budget: 1 << 20,
        segment_size: 1 << 20,
        durable: true,
    };
    let mut w = BlockWriter::create(tmp.path(), opts).unwrap();
    for (i, job) in ["api", "db", "web"].iter().enumerate() {
        let labels = Labels::normalize([("__name__", "up"), ("job", job), ("zone", "eu")]).unwrap();
        let mut chunker = Chunker::new();
        let mut chunks = Vec::new();
        for k in 0..300i64 {
            let v = if k % 50 == 7 {
                f64::NAN
            } else {
                (k * (i as i64 + 1)) as f64 * 0.5
            };
            chunks.extend(chunker.push(k * 15_000 + i as i64, v));
        }
        chunks.extend(chunker.finish());
        w.add_series(&labels, &chunks).unwrap();
    }
    let (dir, _) = w.finish(None).unwrap();
    let segments = vec![fs::read(dir.join("chunks/000001")).unwrap()];
    targets::pack_block(
        &fs::read(dir.join("meta.json")).unwrap(),
        &fs::read(dir.join("index")).unwrap(),
        &segments,
    )
}

/// Writes the seed corpus from the repository's test data (run by hand after
/// a format change; the files are committed).
#[test]
#[ignore]
fn write_seed_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    let corpus = fuzz_dir().join("corpus");
    let put = |target: &str, name: &str, bytes: &[u8]| {
        let dir = corpus.join(target);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    };

    // cortex_chunk: two real objects per data set, and their data sections
    // behind the selector of their encoding.
    let testdata = root.join("testdata/cortex");
    let mut sets: Vec<_> = fs::read_dir(&testdata)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("chunks").is_dir())
        .collect();
    sets.sort();
    for set in &sets {
        let mut files: Vec<_> = fs::read_dir(set.join("chunks"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let set_name = set.file_name().unwrap().to_string_lossy().into_owned();
        for (i, f) in files.iter().take(2).enumerate() {
            let bytes = fs::read(f).unwrap();
            let obj = cortex::parse_object(&bytes).unwrap();
            put(
                "cortex_chunk",
                &format!("object-{set_name}-{i}"),
                &[&[targets::CORTEX_OBJECT], &bytes[..]].concat(),
            );
            let selector = obj.meta.encoding.id() + 1;
            put(
                "cortex_chunk",
                &format!("data-{set_name}-{i}"),
                &[&[selector], &obj.data[..]].concat(),
            );
            if obj.meta.encoding == Encoding::PrometheusXorChunk {
                put("xor_chunk", &format!("{set_name}-{i}"), &obj.data);
            }
        }
    }
    // Encodings no data set uses, from our encoders (Delta reads as DoubleDelta).
    let samples: Vec<(i64, f64)> = (0..40).map(|k| (1_000 * k, (k * k) as f64)).collect();
    for enc in [Encoding::Delta, Encoding::DoubleDelta, Encoding::Varbit] {
        let data = encoding::encode(enc, &samples).unwrap().remove(0);
        let meta = ChunkMetadata {
            fingerprint: 0x1234,
            user_id: "fuzz".into(),
            from: 0,
            through: 39_000,
            metric: vec![("__name__".into(), "m".into()), ("a".into(), "b".into())],
            encoding: enc,
        };
        let (_, object) = encode_object(&meta, &data);
        put(
            "cortex_chunk",
            &format!("object-encoded-{enc}"),
            &[&[0], &object[..]].concat(),
        );
    }

    // plan: the head of a real plan, plain, gzip and snappy, plus an
    // OpenMetrics and a Prometheus plan written by our writer.
    let jsonl =
        fs::read_to_string(testdata.join("v11-hashed-xor/plans/alpha/20775.plan.jsonl")).unwrap();
    let lines: Vec<&str> = jsonl.lines().collect();
    let head = [&lines[..4], &lines[lines.len() - 1..]].concat().join("\n") + "\n";
    put("plan", "cortex-plain", &[&[0], head.as_bytes()].concat());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(head.as_bytes()).unwrap();
    put(
        "plan",
        "cortex-gzip",
        &[vec![1], gz.finish().unwrap()].concat(),
    );
    let mut sn = snap::write::FrameEncoder::new(Vec::new());
    sn.write_all(head.as_bytes()).unwrap();
    put(
        "plan",
        "cortex-snappy",
        &[vec![2], sn.into_inner().unwrap()].concat(),
    );
    for (name, header, entry) in [
        (
            "openmetrics",
            r#"{"user":"t","day_index":20000,"source":"openmetrics"}"#,
            r#"{"staged":"t/20000.staged"}"#,
        ),
        (
            "prometheus",
            r#"{"user":"t","day_index":20000,"source":"prometheus"}"#,
            r#"{"block":"file:///b/01H","drop_labels":["replica"]}"#,
        ),
    ] {
        let text = format!("{header}\n{entry}\n{{\"complete\":true}}\n");
        let mut r = PlanReader::new("seed.plan.jsonl", text.as_bytes()).unwrap();
        let parsed = r.next_entry().unwrap().unwrap();
        let mut w = PlanWriter::new(Vec::new(), PlanCompression::None, r.header()).unwrap();
        w.write_entry(&parsed).unwrap();
        put("plan", name, &[vec![0], w.finish().unwrap()].concat());
    }

    // openmetrics: what promtool accepts, comments, exemplars and escapes.
    put(
        "openmetrics",
        "basic",
        b"# HELP up Up.\n# TYPE up gauge\nup{job=\"a\",zone=\"eu\"} 1 1700000000\nup{job=\"a\",zone=\"eu\"} 0 1700000015.5\nup{job=\"b\"} NaN 1700000000\n# EOF\n",
    );
    put(
        "openmetrics",
        "counter-exemplar",
        b"# TYPE req counter\n# UNIT req seconds\nreq_total{path=\"/a\\\"b\\\\c\\n\"} 1e3 1700000000.123 # {trace_id=\"x\"} 1.5 1700000000\nreq_bucket{le=\"+Inf\"} +Inf -1.5e-3 # {a=\"b\"} 2\nreq_created 1.7e9 1700000000\n# EOF",
    );
    put("openmetrics", "no-labels", b"m 1 2\nm{} -Inf 3\n# EOF\n");

    // xor_chunk: edge values through our appender.
    let mut app = XorAppender::new();
    for (t, v) in [
        (i64::MIN / 2, 0.0),
        (-1, -0.0),
        (0, f64::MAX),
        (1, f64::MIN_POSITIVE),
        (1_000_000, f64::INFINITY),
        (1_000_001, f64::from_bits(0x7ff0_0000_0000_0002)),
        (1_000_001 + (1 << 40), 42.0),
    ] {
        app.append(t, v);
    }
    put("xor_chunk", "edges", app.bytes());
    let mut app = XorAppender::new();
    for k in 0..120 {
        app.append(1_700_000_000_000 + k * 15_000, (k % 7) as f64);
    }
    put("xor_chunk", "regular", app.bytes());

    put("tsdb_block", "three-series", &seed_block());
}
