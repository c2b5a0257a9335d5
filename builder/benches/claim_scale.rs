//! The protocol at campaign scale: what claiming, heartbeating, finishing
//! and scheduling cost in bucket requests as the number of plans grows.
//!
//! `cargo bench -p builder --bench claim_scale -- [PLANS...] [--max-claims N]`
//! (default: 10000 100000). Plans are spread over 2,000 tenants in an
//! in-memory store behind a layer that counts requests and charges the
//! latency of a cloud store: LIST 40 ms per page of 1,000 keys, GET, HEAD,
//! PUT and DELETE 15 ms. 100 builders run as tasks with a build step that
//! does no work (the real claim, heartbeat, finish and release code, see
//! `builder::NoopBuilder`); a scheduler task scans every 60 s. Time is
//! tokio's paused clock, so "wall" is simulated time and a run of a million
//! plans takes minutes of CPU, not days. `--max-claims` stops after that
//! many plans are claimed, for layouts too slow to run to the end; the
//! per-claim figures are then over those claims.
//!
//! The scheduler task's scans also publish the claimable-plans index
//! (`P/claimable.<i>`), which builders refill their pools from; its PUTs
//! are the index's shards.
//!
//! Prints one table row per size. This is a measurement, not a test: it
//! asserts nothing but that every claimed plan got one finished file.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use builder::{BuilderConfig, NoopBuilder, TenantFilter};
use futures::stream::{self, BoxStream, StreamExt};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};
use protocol::bucket::{Bucket, BucketOptions};

const TENANTS: usize = 2000;
const BUILDERS: usize = 100;
const PREFIX: &str = "P";
const PAGE: usize = 1000;
const LIST_PAGE_LATENCY: Duration = Duration::from_millis(40);
const OBJECT_LATENCY: Duration = Duration::from_millis(15);
const SCAN_INTERVAL: Duration = Duration::from_secs(60);

/// Requests seen by one [`SlowStore`], by kind.
#[derive(Debug, Default)]
struct Counts {
    list_pages: AtomicU64,
    get: AtomicU64,
    head: AtomicU64,
    put: AtomicU64,
    delete: AtomicU64,
}

impl Counts {
    fn snapshot(&self) -> [u64; 5] {
        [
            &self.list_pages,
            &self.get,
            &self.head,
            &self.put,
            &self.delete,
        ]
        .map(|c| c.load(Ordering::Relaxed))
    }
}

/// An object store that charges cloud latencies and counts requests.
#[derive(Debug)]
struct SlowStore {
    inner: Arc<dyn ObjectStore>,
    counts: Arc<Counts>,
}

impl fmt::Display for SlowStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SlowStore({})", self.inner)
    }
}

async fn charge(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(OBJECT_LATENCY).await;
}

/// A listing answered a page of 1,000 keys at a time, each page charged;
/// an empty listing is still one page.
fn paged(
    inner: BoxStream<'static, Result<ObjectMeta>>,
    counts: Arc<Counts>,
) -> BoxStream<'static, Result<ObjectMeta>> {
    let seen = Arc::new(AtomicBool::new(false));
    let (seen2, counts2) = (seen.clone(), counts.clone());
    inner
        .chunks(PAGE)
        .then(move |page| {
            let (counts, seen) = (counts.clone(), seen.clone());
            async move {
                seen.store(true, Ordering::Relaxed);
                counts.list_pages.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(LIST_PAGE_LATENCY).await;
                stream::iter(page)
            }
        })
        .flatten()
        .chain(
            stream::once(async move {
                if !seen2.load(Ordering::Relaxed) {
                    counts2.list_pages.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(LIST_PAGE_LATENCY).await;
                }
            })
            .filter_map(|()| futures::future::ready(None)),
        )
        .boxed()
}

/// `inner`'s listing of `prefix`, read one directory at a time as it is
/// consumed: `InMemory` answers a listing with one vector of all of it,
/// and a hundred builders listing a million plans at once would hold
/// gigabytes. Objects come in key order within each directory.
fn lazy_list(
    inner: Arc<dyn ObjectStore>,
    prefix: Option<&Path>,
) -> BoxStream<'static, Result<ObjectMeta>> {
    let prefix = prefix.cloned();
    stream::once(async move {
        match inner.list_with_delimiter(prefix.as_ref()).await {
            Ok(ListResult {
                common_prefixes,
                objects,
                ..
            }) => stream::iter(objects.into_iter().map(Ok))
                .chain(stream::iter(common_prefixes).flat_map(move |dir| inner.list(Some(&dir))))
                .boxed(),
            Err(e) => stream::once(futures::future::ready(Err(e))).boxed(),
        }
    })
    .flatten()
    .boxed()
}

#[async_trait]
impl ObjectStore for SlowStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        charge(&self.counts.put).await;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        charge(&self.counts.put).await;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let counter = if options.head {
            &self.counts.head
        } else {
            &self.counts.get
        };
        charge(counter).await;
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let (inner, counts) = (self.inner.clone(), self.counts.clone());
        locations
            .then(move |location| {
                let (inner, counts) = (inner.clone(), counts.clone());
                async move {
                    let location = location?;
                    charge(&counts.delete).await;
                    inner.delete(&location).await?;
                    Ok(location)
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        paged(lazy_list(self.inner.clone(), prefix), self.counts.clone())
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        paged(
            self.inner.list_with_offset(prefix, offset),
            self.counts.clone(),
        )
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let r = self.inner.list_with_delimiter(prefix).await?;
        let pages = (r.objects.len() + r.common_prefixes.len())
            .div_ceil(PAGE)
            .max(1);
        self.counts
            .list_pages
            .fetch_add(pages as u64, Ordering::Relaxed);
        tokio::time::sleep(LIST_PAGE_LATENCY * pages as u32).await;
        Ok(r)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        charge(&self.counts.put).await;
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        charge(&self.counts.put).await;
        self.inner.rename_opts(from, to, options).await
    }
}

/// A bucket over `inner` whose requests `counts` sees.
fn slow_bucket(inner: Arc<dyn ObjectStore>, counts: Arc<Counts>) -> Bucket {
    let opts = BucketOptions {
        // A full listing of a million plans is minutes of simulated time.
        op_timeout: None,
        ..BucketOptions::default()
    };
    Bucket::open("memory://")
        .expect("memory bucket")
        .with_options(opts)
        .map_store(|_| Arc::new(SlowStore { inner, counts }))
}

/// One row of the table.
struct Row {
    plans: usize,
    claimed: u64,
    builder: [u64; 5],
    scheduler: [u64; 5],
    scans: u64,
    p50: Duration,
    p99: Duration,
    lost: u64,
    simulated: Duration,
    real: Duration,
}

async fn run(plans: usize, max_claims: u64) -> Row {
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    for i in 0..plans {
        let tenant = format!("tenant-{:04}", i % TENANTS);
        let day = 20000 - (i / TENANTS) as i32;
        let key = Path::from(format!("{PREFIX}/{tenant}/{day}.plan"));
        mem.put(&key, PutPayload::from_static(b"{}"))
            .await
            .expect("put plan");
    }
    mem.put(
        &Path::from(format!("{PREFIX}/scan-complete")),
        PutPayload::from_static(b""),
    )
    .await
    .expect("put marker");

    let builder_counts = Arc::new(Counts::default());
    let scheduler_counts = Arc::new(Counts::default());
    let bucket = slow_bucket(mem.clone(), builder_counts.clone());
    let work = tempfile::tempdir().expect("work dir");
    let claimed = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let lost = Arc::new(AtomicU64::new(0));
    let t_sim = tokio::time::Instant::now();
    let t_real = Instant::now();

    let done = Arc::new(AtomicBool::new(false));
    let scheduler = {
        let cfg = scheduler::SchedulerConfig {
            bucket: slow_bucket(mem.clone(), scheduler_counts.clone()),
            prefix: PREFIX.into(),
            stale_after: Duration::from_secs(1800),
            max_attempts: 3,
            tenants: TenantFilter::default(),
        };
        let done = done.clone();
        tokio::spawn(async move {
            let mut s = scheduler::Scheduler::new(cfg);
            let mut scans = 0u64;
            while !done.load(Ordering::Relaxed) {
                s.scan_once().await.expect("scan");
                scans += 1;
                tokio::time::sleep(SCAN_INTERVAL).await;
            }
            scans
        })
    };

    let mut tasks = Vec::new();
    for b in 0..BUILDERS {
        let cfg = Arc::new(BuilderConfig {
            bucket: bucket.clone(),
            output: bucket.clone(),
            prefix: PREFIX.into(),
            work_dir: work.path().to_path_buf(),
            memory_budget: 1 << 20,
            name: format!("builder-{b:03}"),
            poll_interval: Duration::from_secs(10),
            heartbeat: Duration::from_secs(60),
            tenants: TenantFilter::default(),
            block: None,
            pause_after_claim: Duration::ZERO,
            relist_interval: Duration::from_secs(300),
            cortex: None,
            prometheus_roots: Vec::new(),
        });
        let (claimed, latencies, lost) = (claimed.clone(), latencies.clone(), lost.clone());
        tasks.push(tokio::spawn(async move {
            let mut nb = NoopBuilder::new(cfg);
            while claimed.load(Ordering::Relaxed) < max_claims {
                match nb.step(Duration::ZERO).await.expect("step") {
                    Some(s) => {
                        claimed.fetch_add(1, Ordering::Relaxed);
                        lost.fetch_add(s.lost_races as u64, Ordering::Relaxed);
                        latencies.lock().unwrap().push(s.claim);
                    }
                    None => break,
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("builder task");
    }
    let simulated = t_sim.elapsed();
    let real = t_real.elapsed();
    done.store(true, Ordering::Relaxed);
    let scans = scheduler.await.expect("scheduler task");

    let claimed = claimed.load(Ordering::Relaxed);
    // Every claimed plan has exactly one finished file.
    let mut finished: HashMap<String, u32> = HashMap::new();
    let mut all = mem.list(Some(&Path::from(PREFIX)));
    while let Some(m) = all.next().await {
        let key = m.expect("list").location.to_string();
        if let Some((base, _)) = key.split_once(".finished.") {
            *finished.entry(base.to_string()).or_default() += 1;
        }
    }
    assert_eq!(finished.len() as u64, claimed, "finished plans vs claims");
    assert!(finished.values().all(|&n| n == 1), "a plan finished twice");
    if max_claims == u64::MAX {
        assert_eq!(claimed as usize, plans, "plans left unclaimed");
    }

    let mut lat = latencies.lock().unwrap().clone();
    lat.sort();
    let q = |f: f64| lat[((lat.len() - 1) as f64 * f) as usize];
    Row {
        plans,
        claimed,
        builder: builder_counts.snapshot(),
        scheduler: scheduler_counts.snapshot(),
        scans,
        p50: q(0.5),
        p99: q(0.99),
        lost: lost.load(Ordering::Relaxed),
        simulated,
        real,
    }
}

fn main() {
    let mut sizes = Vec::new();
    let mut max_claims = u64::MAX;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--max-claims" => {
                max_claims = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--max-claims N")
            }
            "--bench" => {}
            n => sizes.push(n.parse::<usize>().expect("a number of plans")),
        }
    }
    if sizes.is_empty() {
        sizes = vec![10_000, 100_000];
    }
    println!(
        "{BUILDERS} builders, {TENANTS} tenants; LIST {} ms/page of {PAGE}, other requests {} ms; \
         per-plan figures are per claimed plan; sched = the scheduler's requests",
        LIST_PAGE_LATENCY.as_millis(),
        OBJECT_LATENCY.as_millis()
    );
    println!(
        "{:>8} {:>8} | {:>9} {:>6} {:>6} {:>6} {:>6} | {:>11} {:>9} {:>9} | {:>8} {:>8} {:>8} | {:>10} {:>8}",
        "plans", "claimed", "LIST/plan", "GET", "HEAD", "PUT", "DEL", "sched LIST", "sched GET", "sched PUT",
        "p50 ms", "p99 ms", "lost", "sim wall", "real"
    );
    for plans in sizes {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        let r = rt.block_on(run(plans, max_claims));
        let per = |n: u64| n as f64 / r.claimed.max(1) as f64;
        println!(
            "{:>8} {:>8} | {:>9.3} {:>6.2} {:>6.2} {:>6.2} {:>6.2} | {:>11} {:>9} {:>9} | {:>8.0} {:>8.0} {:>8} | {:>9.0}s {:>7.1}s",
            r.plans,
            r.claimed,
            per(r.builder[0]),
            per(r.builder[1]),
            per(r.builder[2]),
            per(r.builder[3]),
            per(r.builder[4]),
            format!("{} ({} scans)", r.scheduler[0], r.scans),
            r.scheduler[1],
            r.scheduler[3],
            r.p50.as_secs_f64() * 1000.0,
            r.p99.as_secs_f64() * 1000.0,
            r.lost,
            r.simulated.as_secs_f64(),
            r.real.as_secs_f64(),
        );
    }
}
