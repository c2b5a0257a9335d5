//! One plan entry (a series ID and its chunk IDs) to one merged series:
//! parse the IDs, fetch, decode and check every chunk, merge.
//!
//! Shared by the builder and by `verify`, which re-reads the chunk store
//! independently of the blocks. Fetches are async and bounded by the
//! fetcher; decoding and merging run on blocking threads, at most one per
//! core, so a plan with many small series keeps every core busy without
//! oversubscribing them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::cortex::key::{ChunkKey, KeyError};
use common::cortex::object::{decode_samples, ObjectError};
use common::labels::LabelsError;
use tokio::sync::Semaphore;

use super::fetch::{ChunkFetcher, FetchError};
use super::merge::{merge_series, DecodedChunk, MergeError, MergedSeries};

/// A series of a plan that cannot be built, naming the series (callers
/// add the plan).
#[derive(Debug, thiserror::Error)]
#[error("series {sid}: {kind}")]
pub struct SeriesError {
    pub sid: String,
    pub kind: SeriesErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum SeriesErrorKind {
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Boxed: fetch errors are large and this travels on every series' result.
    #[error(transparent)]
    Fetch(Box<FetchError>),
    #[error(transparent)]
    Object(#[from] ObjectError),
    #[error("chunk {key}: labels: {source}")]
    Labels {
        key: String,
        #[source]
        source: LabelsError,
    },
    #[error(transparent)]
    Merge(#[from] MergeError),
    #[error("decoding task failed: {0}")]
    Task(String),
}

impl From<FetchError> for SeriesErrorKind {
    fn from(e: FetchError) -> Self {
        SeriesErrorKind::Fetch(Box::new(e))
    }
}

/// Counters over the series a loader handled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadStats {
    pub series: u64,
    pub chunks_fetched: u64,
    pub chunks_not_found: u64,
    pub chunk_bytes: u64,
    /// Series skipped because none of their chunks exists (as Cortex does).
    pub series_without_chunks: u64,
}

/// Loads the series of one plan.
pub struct SeriesLoader {
    fetcher: Arc<ChunkFetcher>,
    user: String,
    day_start: i64,
    day_end: i64,
    cpu: Semaphore,
    series: AtomicU64,
    fetched: AtomicU64,
    not_found: AtomicU64,
    bytes: AtomicU64,
    empty: AtomicU64,
}

impl SeriesLoader {
    /// `user`: the plan's tenant, which every chunk ID must name; the day
    /// is `[day_start, day_end)` in ms.
    pub fn new(fetcher: Arc<ChunkFetcher>, user: &str, day_start: i64, day_end: i64) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        SeriesLoader {
            fetcher,
            user: user.to_string(),
            day_start,
            day_end,
            cpu: Semaphore::new(cores),
            series: AtomicU64::new(0),
            fetched: AtomicU64::new(0),
            not_found: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            empty: AtomicU64::new(0),
        }
    }

    pub fn stats(&self) -> LoadStats {
        LoadStats {
            series: self.series.load(Ordering::Relaxed),
            chunks_fetched: self.fetched.load(Ordering::Relaxed),
            chunks_not_found: self.not_found.load(Ordering::Relaxed),
            chunk_bytes: self.bytes.load(Ordering::Relaxed),
            series_without_chunks: self.empty.load(Ordering::Relaxed),
        }
    }

    /// The merged series of one plan entry; `None` when none of its chunks
    /// exists in the store.
    pub async fn load(
        self: &Arc<Self>,
        sid: String,
        chunk_ids: Vec<String>,
    ) -> Result<Option<MergedSeries>, SeriesError> {
        let err = |kind: SeriesErrorKind| SeriesError {
            sid: sid.clone(),
            kind,
        };
        self.series.fetch_add(1, Ordering::Relaxed);
        let mut keys = Vec::with_capacity(chunk_ids.len());
        for id in &chunk_ids {
            keys.push(ChunkKey::parse(&self.user, id).map_err(|e| err(e.into()))?);
        }
        let this = Arc::clone(self);
        let job: Box<dyn FnOnce() -> Result<Option<MergedSeries>, SeriesErrorKind> + Send> =
            if self.fetcher.is_local() {
                Box::new(move || {
                    let mut raw = Vec::with_capacity(keys.len());
                    for k in keys {
                        if let Some(b) = this.fetcher.fetch_local(&k)? {
                            raw.push((k, b));
                        }
                    }
                    this.decode_and_merge(raw, chunk_ids.len())
                })
            } else {
                let fetched =
                    futures::future::try_join_all(keys.iter().map(|k| self.fetcher.fetch(k)))
                        .await
                        .map_err(|e| err(e.into()))?;
                let raw: Vec<_> = keys
                    .into_iter()
                    .zip(fetched)
                    .filter_map(|(k, b)| b.map(|b| (k, b)))
                    .collect();
                Box::new(move || this.decode_and_merge(raw, chunk_ids.len()))
            };
        let _permit = self
            .cpu
            .acquire()
            .await
            .map_err(|e| err(SeriesErrorKind::Task(e.to_string())))?;
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|e| err(SeriesErrorKind::Task(e.to_string())))?
            .map_err(err)
    }

    fn decode_and_merge<B: AsRef<[u8]>>(
        &self,
        raw: Vec<(ChunkKey, B)>,
        wanted: usize,
    ) -> Result<Option<MergedSeries>, SeriesErrorKind> {
        self.not_found
            .fetch_add((wanted - raw.len()) as u64, Ordering::Relaxed);
        self.fetched.fetch_add(raw.len() as u64, Ordering::Relaxed);
        let mut chunks = Vec::with_capacity(raw.len());
        for (key, bytes) in raw {
            let bytes = bytes.as_ref();
            self.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            let (obj, samples) = decode_samples(&key, bytes)?;
            let id = key.external_key();
            let labels = obj.labels().map_err(|source| SeriesErrorKind::Labels {
                key: id.clone(),
                source,
            })?;
            chunks.push(DecodedChunk {
                key,
                id,
                labels,
                samples,
            });
        }
        let merged = merge_series(chunks, self.day_start, self.day_end)?;
        if merged.is_none() {
            self.empty.fetch_add(1, Ordering::Relaxed);
        }
        Ok(merged)
    }
}
