//! Fetch-bound Cortex builds: how close a plan build comes to keeping
//! `--concurrency` chunk fetches in flight when every GET takes a cloud
//! store's latency (issue 14, item 2).
//!
//! Generates a Bigchunk store with `cortex_testgen::generate` (one tenant,
//! one day at 30 s, 360 samples per chunk, two overlapping replicas: the
//! shape of the hold-out set), copies its chunk objects into an in-memory
//! object store and wraps that in [`Latency`], which sleeps a fixed time
//! before every GET and counts them. Then, for each latency (10 ms, 50 ms)
//! and concurrency (16, 64, 256), builds one plan through
//! `builder::cortex::build_plan` (fetch, decode, merge, sort, write, health
//! check: the real path) with just enough series for the run to last
//! about `BENCH_SECONDS` at the ideal rate `concurrency / latency`, and
//! prints a markdown table.
//!
//! `cargo bench -p builder --bench fetch_latency`. Knobs: `BENCH_SERIES`
//! (series generated, default 6,000), `BENCH_SECONDS` (default 3),
//! `BENCH_BUDGET` (`--memory-budget` in MiB, default 512),
//! `BENCH_LATENCIES` and `BENCH_CONCURRENCY` (comma-separated lists).

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use builder::cortex::{build_plan, BuildContext, CortexSource, FetchOptions};
use cortex::{ChunkFetcher, ChunkKey, Encoding};
use cortex_testgen::{generate, GenOptions};
use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use protocol::names::PlanId;
use protocol::plan::{PlanCompression, PlanEntry, PlanReader, PlanWriter};
use testkit::bench::env_or;

fn env_list(name: &str, default: &[u64]) -> Vec<u64> {
    match std::env::var(name) {
        Ok(v) => v.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
        Err(_) => default.to_vec(),
    }
}

/// An object store whose GETs take `latency` each (a sleep before the
/// inner store answers), counted, with the span from the first to the
/// last answer.
#[derive(Debug)]
struct Latency {
    inner: Arc<dyn ObjectStore>,
    latency: Duration,
    gets: AtomicU64,
    /// Time GETs actually slept, ns: the timer rounds `latency` up to its
    /// millisecond ticks, so the ideal is also given at this latency.
    slept_ns: AtomicU64,
    /// (first, last) GET answered.
    span: Mutex<Option<(Instant, Instant)>>,
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Latency({:?}, {})", self.latency, self.inner)
    }
}

#[async_trait]
impl ObjectStore for Latency {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        tokio::time::sleep(self.latency).await;
        self.slept_ns
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        let r = self.inner.get_opts(location, options).await;
        let now = Instant::now();
        let mut span = self.span.lock().unwrap();
        *span = Some(span.map_or((now, now), |(first, _)| (first, now)));
        r
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// One series of the generated plan: its ID and chunk IDs.
type Entry = (String, Vec<String>);

/// One row of the table.
struct Row {
    latency_ms: u64,
    concurrency: u64,
    fetches: u64,
    requests: u64,
    wall: f64,
    /// First to last GET answered: the load phase, without the sort,
    /// block write and health check after it.
    fetch_span: f64,
    /// Mean time a GET slept, ms.
    mean_get_ms: f64,
    samples: u64,
}

async fn run_one(
    config: &std::path::Path,
    store: &Arc<dyn ObjectStore>,
    plan: &[Entry],
    id: &PlanId,
    (latency_ms, concurrency): (u64, u64),
    budget: usize,
    dir: &std::path::Path,
) -> Row {
    let slow = Arc::new(Latency {
        inner: Arc::clone(store),
        latency: Duration::from_millis(latency_ms),
        gets: AtomicU64::new(0),
        slept_ns: AtomicU64::new(0),
        span: Mutex::new(None),
    });
    let fetch = FetchOptions {
        concurrency: concurrency as usize,
        objects: Some(slow.clone()),
        ..FetchOptions::default()
    };
    let source = CortexSource::load(config, None, fetch).expect("cortex config");
    let key = id.plan_key("m", PlanCompression::Snappy);
    let local = dir.join(format!("{latency_ms}-{concurrency}.plan.snappy"));
    let header = protocol::plan::PlanHeader {
        user: id.tenant.clone(),
        day_index: id.day,
        source: None,
    };
    let file = std::fs::File::create(&local).expect("plan file");
    let mut w = PlanWriter::new(file, PlanCompression::Snappy, &header).expect("plan writer");
    let mut fetches = 0u64;
    for (sid, chunks) in plan {
        fetches += chunks.len() as u64;
        w.write_entry(&PlanEntry::Cortex {
            series_id: sid.clone(),
            chunk_ids: chunks.clone(),
        })
        .expect("plan entry");
    }
    w.finish().expect("plan footer");
    let ctx = BuildContext {
        work_dir: dir.to_path_buf(),
        memory_budget: budget,
        block: ulid::Ulid::new(),
    };
    let work = tempfile::tempdir_in(dir).expect("work dir");
    let started = Instant::now();
    let built = build_plan(&ctx, &source, id, &key, &local, work)
        .await
        .expect("build");
    let wall = started.elapsed().as_secs_f64();
    let span = slow.span.lock().unwrap().expect("some GET");
    let requests = slow.gets.load(Ordering::Relaxed);
    Row {
        latency_ms,
        concurrency,
        fetches,
        requests,
        wall,
        fetch_span: (span.1 - span.0).as_secs_f64(),
        mean_get_ms: slow.slept_ns.load(Ordering::Relaxed) as f64 / requests.max(1) as f64 / 1e6,
        samples: built.stats.samples_in,
    }
}

fn main() {
    let series: usize = env_or("BENCH_SERIES", 6_000);
    let seconds: f64 = env_or("BENCH_SECONDS", 3.0);
    let budget = env_or::<usize>("BENCH_BUDGET", 512) << 20;
    let latencies = env_list("BENCH_LATENCIES", &[10, 50]);
    let concurrencies = env_list("BENCH_CONCURRENCY", &[16, 64, 256]);
    let opts = GenOptions {
        tenants: 1,
        series,
        start_day: 20_000,
        days: 1,
        step_ms: 30_000,
        samples_per_chunk: 360,
        encodings: vec![Encoding::Bigchunk],
        replicas: 2,
        duplicate_label_bug: false,
        seed: 42,
        keep_expected: false,
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path();
    let (chunks_dir, bucket) = (root.join("chunks"), root.join("bucket"));
    let report = generate(&opts, &chunks_dir, &bucket, "m").expect("generate the chunk store");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");

    // The plan of the one planned day with a chunk-bearing series each, and
    // its chunks copied into memory under their external keys.
    let id = report
        .plans
        .keys()
        .find(|id| id.day == opts.start_day)
        .expect("a plan of the first day")
        .clone();
    let plan_path: PathBuf = bucket.join(id.plan_key("m", PlanCompression::Snappy));
    let f = std::fs::File::open(&plan_path).expect("plan");
    let mut reader = PlanReader::new(&plan_path.to_string_lossy(), std::io::BufReader::new(f))
        .expect("plan header");
    let mut plan: Vec<Entry> = Vec::new();
    while let Some(e) = reader.next_entry().expect("plan entry") {
        if let PlanEntry::Cortex {
            series_id,
            chunk_ids,
        } = e
        {
            plan.push((series_id, chunk_ids));
        }
    }
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let local = ChunkFetcher::filesystem(&chunks_dir, FetchOptions::default());
    let mut chunks = 0u64;
    rt.block_on(async {
        for (_, ids) in &plan {
            for cid in ids {
                let key = ChunkKey::parse(&id.tenant, cid).expect("chunk ID");
                let bytes = local
                    .fetch_local(&key)
                    .expect("read")
                    .expect("chunk exists");
                let path = Path::parse(key.external_key()).expect("object name");
                store.put(&path, bytes.into()).await.expect("put");
                chunks += 1;
            }
        }
    });
    let per_series = chunks as f64 / plan.len() as f64;
    println!(
        "{} series, {chunks} chunks ({per_series:.1} per series), {:.1} MiB; budget {} MiB; \
         {} cores",
        plan.len(),
        report.chunk_bytes as f64 / f64::from(1 << 20),
        budget >> 20,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!();
    println!(
        "| latency | concurrency | fetches | requests | wall s | load s | fetches/s | ideal/s \
         | % of ideal | % of ideal (load) | GET ms (mean) | samples/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for &latency_ms in &latencies {
        for &concurrency in &concurrencies {
            let ideal = concurrency as f64 * 1000.0 / latency_ms as f64;
            let want = ((ideal * seconds) / per_series).ceil() as usize;
            let take = want.clamp(1, plan.len());
            let row = rt.block_on(run_one(
                &report.config_path,
                &store,
                &plan[..take],
                &id,
                (latency_ms, concurrency),
                budget,
                root,
            ));
            let rate = row.fetches as f64 / row.wall;
            let load_rate = row.fetches as f64 / row.fetch_span.max(1e-9);
            println!(
                "| {} ms | {} | {} | {} | {:.2} | {:.2} | {:.0} | {:.0} | {:.0}% | {:.0}% | {:.1} | {:.2} M |",
                row.latency_ms,
                row.concurrency,
                row.fetches,
                row.requests,
                row.wall,
                row.fetch_span,
                rate,
                ideal,
                100.0 * rate / ideal,
                100.0 * load_rate / ideal,
                row.mean_get_ms,
                row.samples as f64 / row.wall / 1e6,
            );
        }
    }
}
