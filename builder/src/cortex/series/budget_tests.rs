//! The in-flight budget: what series hold between fetch and merge stays
//! within it whatever the concurrency, a series bigger than it still loads,
//! and a fetch that turns out bigger than reserved is dropped and redone
//! rather than waited on while held.
//!
//! The chunk store counts the bytes it has handed out that are still alive
//! (each GET answers a fresh copy whose drop uncounts it, counted from
//! before the answer arrives): the bytes the loader really holds, in
//! transit included, not its own bookkeeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use cortex::{encoding, ChunkFetcher, ChunkMetadata, Encoding, FetchOptions};
use futures::stream::{BoxStream, StreamExt};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

use super::{SeriesLoader, EXPANSION, UNIT};

const USER: &str = "tenant-1";
/// 2026-11-15, a UTC day.
const DAY_START: i64 = 20_772 * 86_400_000;
const DAY_END: i64 = DAY_START + 86_400_000;
/// Chunks per series, each a different hour of the day.
const CHUNKS: usize = 4;

#[derive(Debug, Default)]
struct Live {
    now: AtomicU64,
    peak: AtomicU64,
    gets: AtomicU64,
}

/// One GET's answer: counted live until dropped.
struct Counted {
    data: Vec<u8>,
    live: Arc<Live>,
}

impl AsRef<[u8]> for Counted {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.live
            .now
            .fetch_sub(self.data.len() as u64, Ordering::SeqCst);
    }
}

#[derive(Debug)]
struct Counting {
    inner: InMemory,
    live: Arc<Live>,
}

impl std::fmt::Display for Counting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Counting(InMemory)")
    }
}

#[async_trait]
impl ObjectStore for Counting {
    async fn put_opts(&self, p: &Path, payload: PutPayload, o: PutOptions) -> Result<PutResult> {
        self.inner.put_opts(p, payload, o).await
    }

    async fn put_multipart_opts(
        &self,
        p: &Path,
        o: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(p, o).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.live.gets.fetch_add(1, Ordering::SeqCst);
        let GetResult {
            payload,
            meta,
            range,
            attributes,
            extensions,
        } = self.inner.get_opts(location, options).await?;
        let GetResultPayload::Stream(mut stream) = payload else {
            unreachable!("InMemory answers streams");
        };
        let mut data = Vec::new();
        while let Some(part) = stream.next().await {
            data.extend_from_slice(&part?);
        }
        let n = data.len() as u64;
        let now = self.live.now.fetch_add(n, Ordering::SeqCst) + n;
        self.live.peak.fetch_max(now, Ordering::SeqCst);
        let bytes = Bytes::from_owner(Counted {
            data,
            live: Arc::clone(&self.live),
        });
        // The answer is on its way (alive) while the other series' requests
        // start: a store's bytes in transit count too.
        tokio::task::yield_now().await;
        Ok(GetResult {
            payload: GetResultPayload::Stream(futures::stream::once(async { Ok(bytes) }).boxed()),
            meta,
            range,
            attributes,
            extensions,
        })
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

    async fn copy_opts(&self, from: &Path, to: &Path, o: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, o).await
    }
}

/// A store of `series` series of [`CHUNKS`] Bigchunk objects each, every
/// object of series `i >= big_from` holding `big` samples and the others
/// 120; labels and fingerprints of equal width, so objects of equal sample
/// counts are of equal size. Returns the store and the plan entries.
async fn store(series: usize, big_from: usize, big: usize) -> (Arc<Counting>, Vec<Vec<String>>) {
    let store = Arc::new(Counting {
        inner: InMemory::new(),
        live: Arc::default(),
    });
    let mut plan = Vec::new();
    for i in 0..series {
        let n = if i >= big_from { big } else { 120 };
        let mut ids = Vec::new();
        for c in 0..CHUNKS {
            let start = DAY_START + c as i64 * 3_600_000;
            let samples: Vec<_> = (0..n)
                .map(|j| (start + j as i64 * 10, (j % 7) as f64 * 0.5))
                .collect();
            let sections = encoding::encode(Encoding::Bigchunk, &samples).unwrap();
            assert_eq!(sections.len(), 1);
            let meta = ChunkMetadata {
                fingerprint: 1_000_000 + i as u64,
                user_id: USER.into(),
                from: samples[0].0,
                through: samples[n - 1].0,
                metric: vec![
                    ("__name__".into(), "m".into()),
                    ("series".into(), format!("{i:05}")),
                ],
                encoding: Encoding::Bigchunk,
            };
            let (key, bytes) = cortex_testgen::encode_object(&meta, &sections[0]);
            let path = Path::parse(key.external_key()).unwrap();
            store.inner.put(&path, bytes.into()).await.unwrap();
            ids.push(key.external_key());
        }
        plan.push(ids);
    }
    (store, plan)
}

async fn sizes(store: &Counting, ids: &[String]) -> Vec<u64> {
    let mut out = Vec::new();
    for id in ids {
        let meta = store.inner.head(&Path::parse(id).unwrap()).await.unwrap();
        out.push(meta.size);
    }
    out
}

fn loader(store: Arc<Counting>, budget: Option<usize>) -> Arc<SeriesLoader> {
    let opts = FetchOptions {
        concurrency: 1 << 14,
        ..FetchOptions::default()
    };
    let fetcher = ChunkFetcher::objects(store, opts);
    let l = SeriesLoader::new(Arc::new(fetcher), USER, DAY_START, DAY_END);
    Arc::new(match budget {
        Some(b) => l.memory_budget(b),
        None => l,
    })
}

/// Loads every series of `plan` at once; the samples of each merged series.
async fn load_all(loader: &Arc<SeriesLoader>, plan: &[Vec<String>]) -> Vec<u64> {
    let loads = plan
        .iter()
        .enumerate()
        .map(|(i, ids)| loader.load(format!("s{i}"), ids.clone()));
    futures::future::join_all(loads)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap().counts.samples_in)
        .collect()
}

/// 64 series started at once against a share of 4 series: the chunk bytes
/// alive never exceed what the share pays for. The same load without a
/// budget shows the test can tell: it holds far more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_in_flight_stay_within_the_share() {
    let (store, plan) = store(64, usize::MAX, 0).await;
    let all: Vec<u64> = sizes(&store, &plan.concat()).await;
    assert!(
        all.iter().all(|&s| s == all[0]),
        "equal-size objects: {all:?}"
    );
    let series_bytes = all[0] * CHUNKS as u64;
    let share = 4 * series_bytes * EXPANSION;
    // What the share's whole units pay for, in chunk bytes.
    let bound = share / UNIT * UNIT / EXPANSION;

    let bounded = loader(Arc::clone(&store), Some(share as usize));
    let samples = load_all(&bounded, &plan).await;
    assert_eq!(samples, vec![(CHUNKS * 120) as u64; 64]);
    let peak = store.live.peak.load(Ordering::SeqCst);
    assert!(peak >= series_bytes, "peak {peak}");
    assert!(
        peak <= bound,
        "peak {peak} B alive, the share pays for {bound} B"
    );
    assert_eq!(store.live.now.load(Ordering::SeqCst), 0);
    assert_eq!(bounded.refetched(), 0);

    store.live.peak.store(0, Ordering::SeqCst);
    let unbounded = loader(Arc::clone(&store), None);
    load_all(&unbounded, &plan).await;
    let peak = store.live.peak.load(Ordering::SeqCst);
    assert!(
        peak > bound,
        "without a budget {peak} B were alive: the bound above proves nothing"
    );
}

/// A share smaller than one chunk: every series takes the whole share and
/// loads alone, none deadlocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_series_bigger_than_the_share_loads_alone() {
    let (store, plan) = store(16, usize::MAX, 0).await;
    let series_bytes: u64 = sizes(&store, &plan[0]).await.iter().sum();
    let l = loader(Arc::clone(&store), Some(1));
    let samples = load_all(&l, &plan).await;
    assert_eq!(samples, vec![(CHUNKS * 120) as u64; 16]);
    let peak = store.live.peak.load(Ordering::SeqCst);
    assert_eq!(peak, series_bytes, "one series at a time");
}

/// A series whose chunks are bigger than the largest seen so far, while
/// the rest of the share is taken: it gives back what it fetched, waits
/// for the whole amount and fetches again, instead of waiting while it
/// holds them (which, with every series doing so, would deadlock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_bigger_than_reserved_are_fetched_again() {
    let (store, plan) = store(2, 1, 1_000).await;
    let small: u64 = sizes(&store, &plan[0]).await.iter().sum();
    let big: u64 = sizes(&store, &plan[1]).await.iter().sum();
    let share = 2 * big * EXPANSION;
    let l = loader(Arc::clone(&store), Some(share as usize));
    // Learn the small size, then take all of the share but what the
    // estimate of the big series (from the small size) leaves free.
    assert_eq!(load_all(&l, &plan[..1]).await, vec![(CHUNKS * 120) as u64]);
    let budget = l.budget.as_ref().unwrap();
    let hold = budget.share - budget.units(small);
    let held = budget.reserve(hold).await;
    let task = {
        let (l, ids) = (Arc::clone(&l), plan[1].clone());
        tokio::spawn(async move { l.load("s1".into(), ids).await })
    };
    while l.refetched() == 0 {
        tokio::task::yield_now().await;
    }
    assert!(!task.is_finished(), "waits for the share, holding nothing");
    assert_eq!(store.live.now.load(Ordering::SeqCst), 0);
    drop(held);
    let merged = task.await.unwrap().unwrap().unwrap();
    assert_eq!(merged.counts.samples_in, (CHUNKS * 1_000) as u64);
    assert_eq!(l.refetched(), 1);
    // The small series once, the big one twice.
    assert_eq!(store.live.gets.load(Ordering::SeqCst), 3 * CHUNKS as u64);
    assert!(big > small);
}
