//! One plan entry (a series ID and its chunk IDs) to one merged series:
//! parse the IDs, fetch, decode and check every chunk, merge.
//!
//! Fetches are async and bounded by the fetcher's permits (one per GET, not
//! per series, so a series waiting for a core holds none); decoding and
//! merging run on blocking threads, at most one per core, so a plan with
//! many small series keeps every core busy without oversubscribing them.
//!
//! Memory: with [`SeriesLoader::memory_budget`], every series holds a
//! reservation of its share from before its first fetch until it is
//! merged: [`EXPANSION`] bytes per fetched chunk byte (see there), at most
//! the whole share, so a series bigger than the share still loads, alone.
//! Sizes are unknown before the fetch, so a series reserves its chunk
//! count times the largest chunk seen so far (the first series, knowing
//! nothing, the whole share). When the fetched chunks need more than that,
//! the loader takes the difference only if it is free at once; otherwise
//! it drops them, waits for the whole amount and fetches again. No series
//! ever waits while holding a reservation, so none can deadlock, and the
//! chunks held between fetch and merge never exceed the share.
//!
//! Every decoded chunk is checked here, on its samples, before it is
//! merged ([`check_samples`]); what happens to a chunk that fails a check
//! is the loader's [`CorruptChunkPolicy`] (the table of cases is in the
//! [`super`] module docs). The decoders themselves only report what they
//! cannot decode.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use base::LabelsError;
use bytes::Bytes;
use cortex::{decode_samples, ChunkFetcher, ChunkKey, FetchError, KeyError, ObjectError, Sample};
use protocol::records::SkippedInput;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::merge::{merge_series, DecodedChunk, MergeError, MergedSeries};
use super::CorruptChunkPolicy;

/// Corrupt chunks and series logged one by one per plan; the rest are only
/// counted (a store with one bad disk could otherwise flood the log).
const LOG_FIRST: u64 = 10;

/// Bytes of memory a series in flight is charged per byte of its fetched
/// chunk objects. Cortex's encodings take about 1.5 to 3 bytes per sample;
/// a decoded sample takes 16, and merging overlapping replicas copies the
/// samples once more, so 16 covers a series from its fetch through its
/// merge. Series waiting for a core hold only their compressed bytes, so
/// the charge overstates them: the bound is safe, not tight.
const EXPANSION: u64 = 16;

/// Unit of the in-flight budget's semaphore (its permits are counted in
/// `u32` per acquisition): 1 KiB, rounded up.
const UNIT: u64 = 1024;

/// The share of the memory budget that series between their fetch and
/// their merge may hold (see the module docs).
struct InFlightBudget {
    permits: Arc<Semaphore>,
    /// The whole share, in [`UNIT`]s: the most one series may hold.
    share: u32,
    /// The largest chunk object fetched so far, bytes; 0 before the first.
    largest_chunk: AtomicU64,
    /// Held by the one series fetching with the whole share while no chunk
    /// size is known, so the others wait for a size instead of each
    /// asking for the whole share in turn.
    calibrating: tokio::sync::Mutex<()>,
}

impl InFlightBudget {
    fn new(bytes: usize) -> Self {
        let share = (bytes as u64 / UNIT).clamp(1, u64::from(u32::MAX)) as u32;
        InFlightBudget {
            permits: Arc::new(Semaphore::new(share as usize)),
            share,
            largest_chunk: AtomicU64::new(0),
            calibrating: tokio::sync::Mutex::new(()),
        }
    }

    /// Units for chunk objects of `bytes` bytes in all, at most the share.
    fn units(&self, bytes: u64) -> u32 {
        let units = bytes.saturating_mul(EXPANSION).div_ceil(UNIT);
        units.min(u64::from(self.share)) as u32
    }

    /// What a series of `chunks` chunks reserves before its fetch: as if
    /// every chunk were as large as the largest seen so far. While no chunk
    /// has been seen, one series at a time gets the whole share and the
    /// guard, which it keeps until its fetch has taught a size.
    async fn estimate(&self, chunks: usize) -> (u32, Option<tokio::sync::MutexGuard<'_, ()>>) {
        let sized = |largest: u64| self.units(largest.saturating_mul(chunks as u64));
        match self.largest_chunk.load(Ordering::Relaxed) {
            0 if chunks > 0 => {}
            largest => return (sized(largest), None),
        }
        let guard = self.calibrating.lock().await;
        match self.largest_chunk.load(Ordering::Relaxed) {
            0 => (self.share, Some(guard)),
            largest => (sized(largest), None),
        }
    }

    /// Waits for `units`, holding nothing else of the budget meanwhile.
    async fn reserve(&self, units: u32) -> Reservation {
        Reservation(
            Arc::clone(&self.permits)
                .acquire_many_owned(units)
                .await
                .ok(),
        )
    }

    /// Makes `held` exactly what `raw` needs, without waiting: `false` when
    /// it needs more than is free at once.
    fn fit(&self, held: &mut Reservation, raw: &[(ChunkKey, Bytes)]) -> bool {
        let bytes: u64 = raw.iter().map(|(_, b)| b.len() as u64).sum();
        let largest = raw.iter().map(|(_, b)| b.len() as u64).max().unwrap_or(0);
        self.largest_chunk.fetch_max(largest, Ordering::Relaxed);
        let need = self.units(bytes);
        let have = held.units();
        if need <= have {
            if let Some(p) = held.0.as_mut() {
                drop(p.split((have - need) as usize));
            }
            return true;
        }
        match Arc::clone(&self.permits).try_acquire_many_owned(need - have) {
            Ok(more) => {
                match held.0.as_mut() {
                    Some(p) => p.merge(more),
                    None => held.0 = Some(more),
                }
                true
            }
            Err(_) => false,
        }
    }
}

/// Units of the in-flight budget held by one series; released on drop.
/// `None` when the loader has no budget (the semaphore is never closed).
struct Reservation(Option<OwnedSemaphorePermit>);

impl Reservation {
    fn units(&self) -> u32 {
        self.0.as_ref().map_or(0, |p| p.num_permits() as u32)
    }
}

/// A series of a plan that cannot be built, naming the series (callers
/// add the plan).
#[derive(Debug, thiserror::Error)]
#[error("series {sid}: {kind}")]
pub struct SeriesError {
    /// The series ID, as the plan names it.
    pub sid: String,
    /// What is wrong.
    pub kind: SeriesErrorKind,
}

/// What is wrong with a series or one of its chunks.
#[derive(Debug, thiserror::Error)]
pub enum SeriesErrorKind {
    /// A chunk ID of the plan does not parse, or names another tenant.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Boxed: fetch errors are large and this travels on every series' result.
    #[error(transparent)]
    Fetch(Box<FetchError>),
    /// The object cannot be decoded or is not the chunk its key names.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// The chunk's metadata repeats a label name with different values.
    #[error("chunk {key}: labels: {source}")]
    Labels {
        /// The chunk's external key.
        key: String,
        /// The conflicting label.
        #[source]
        source: LabelsError,
    },
    /// The chunk decodes, but its samples contradict it.
    #[error("chunk {key}: {problem}")]
    Samples {
        /// The chunk's external key.
        key: String,
        /// How the samples contradict the chunk.
        problem: SampleProblem,
    },
    /// The chunks of the series cannot be merged into one.
    #[error(transparent)]
    Merge(#[from] MergeError),
    /// The blocking decode task panicked or was cancelled.
    #[error("decoding task failed: {0}")]
    Task(String),
}

impl SeriesErrorKind {
    /// Whether this is about one chunk's content, which the skip policy may
    /// leave out; everything else (a bad ID, a store that cannot be read)
    /// always fails the plan.
    pub fn is_corrupt_chunk(&self) -> bool {
        matches!(
            self,
            SeriesErrorKind::Object(_)
                | SeriesErrorKind::Labels { .. }
                | SeriesErrorKind::Samples { .. }
        )
    }
}

impl From<FetchError> for SeriesErrorKind {
    fn from(e: FetchError) -> Self {
        SeriesErrorKind::Fetch(Box::new(e))
    }
}

/// What is wrong with the decoded samples of one chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SampleProblem {
    /// A sample is older than the one before it.
    #[error("samples out of time order: sample {index} at {t} ms follows one at {prev} ms")]
    OutOfOrder {
        /// Position of the offending sample in the chunk.
        index: usize,
        /// Time of the sample before it, ms.
        prev: i64,
        /// Its time, ms.
        t: i64,
    },
    /// Samples fall outside the key's `[from, through]`.
    #[error("{count} samples outside the key's range [{from}, {through}] ms, the first at {t} ms")]
    OutsideKeyRange {
        /// How many samples are outside.
        count: usize,
        /// Time of the first of them, ms.
        t: i64,
        /// The key's `from`, ms.
        from: i64,
        /// The key's `through`, ms (inclusive).
        through: i64,
    },
}

/// Checks the samples of the chunk `key` names: never going back in time,
/// all inside the key's `[from, through]` (both ends inclusive, as Cortex
/// writes them: the first and last sample's times). Equal timestamps pass:
/// they are repeats for the merge to drop, not corruption.
pub(super) fn check_samples(key: &ChunkKey, samples: &[Sample]) -> Result<(), SampleProblem> {
    let mut outside = 0usize;
    let mut first_outside = None;
    let mut prev = i64::MIN;
    for (index, &(t, _)) in samples.iter().enumerate() {
        if t < prev {
            return Err(SampleProblem::OutOfOrder { index, prev, t });
        }
        prev = t;
        if t < key.from || t > key.through {
            outside += 1;
            first_outside.get_or_insert(t);
        }
    }
    match first_outside {
        None => Ok(()),
        Some(t) => Err(SampleProblem::OutsideKeyRange {
            count: outside,
            t,
            from: key.from,
            through: key.through,
        }),
    }
}

/// Decodes the object fetched for `key` and checks it: the object against
/// its key, the metadata's labels, the samples against the key and their
/// order. A chunk with no samples is returned as such (the caller drops it).
pub fn decode_chunk(key: ChunkKey, bytes: &[u8]) -> Result<DecodedChunk, SeriesErrorKind> {
    let (obj, samples) = decode_samples(&key, bytes)?;
    let id = key.external_key();
    let labels = match obj.labels() {
        Ok(l) => l,
        Err(source) => return Err(SeriesErrorKind::Labels { key: id, source }),
    };
    if let Err(problem) = check_samples(&key, &samples) {
        return Err(SeriesErrorKind::Samples { key: id, problem });
    }
    Ok(DecodedChunk {
        key,
        id,
        labels,
        samples,
    })
}

/// Counters over the series a loader handled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadStats {
    /// Series loaded, with or without chunks.
    pub series: u64,
    /// Chunk objects fetched from the store.
    pub chunks_fetched: u64,
    /// Requests the fetches took ([`ChunkFetcher::requests`]): one per
    /// chunk from an object store, one per batch from a chunk table.
    pub requests: u64,
    /// Chunks the plan names that the store does not hold (left out, as
    /// Cortex does).
    pub chunks_not_found: u64,
    /// Bytes of the fetched chunk objects.
    pub chunk_bytes: u64,
    /// Series skipped because none of their chunks exists or holds a
    /// sample (Cortex skips the former too).
    pub series_without_chunks: u64,
    /// Corrupt input left out under [`CorruptChunkPolicy::Skip`], and empty
    /// chunks (always left out).
    pub skipped: SkippedInput,
}

/// Loads the series of one plan.
pub struct SeriesLoader {
    fetcher: Arc<ChunkFetcher>,
    user: String,
    day_start: i64,
    day_end: i64,
    policy: CorruptChunkPolicy,
    /// The plan, for log lines about what was skipped.
    plan: String,
    cpu: Semaphore,
    /// `None`: series in flight are bounded by the caller alone.
    budget: Option<InFlightBudget>,
    /// Series whose chunks were fetched twice because the first fetch
    /// turned out bigger than the budget could cover at once.
    refetched: AtomicU64,
    series: AtomicU64,
    fetched: AtomicU64,
    not_found: AtomicU64,
    bytes: AtomicU64,
    without_chunks: AtomicU64,
    chunks_corrupt: AtomicU64,
    chunks_empty: AtomicU64,
    series_skipped: AtomicU64,
}

impl SeriesLoader {
    /// `user`: the plan's tenant, which every chunk ID must name; the day
    /// is `[day_start, day_end)` in ms. Corrupt chunks fail the series
    /// unless [`SeriesLoader::on_corrupt_chunk`] says otherwise.
    pub fn new(fetcher: Arc<ChunkFetcher>, user: &str, day_start: i64, day_end: i64) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        SeriesLoader {
            fetcher,
            user: user.to_string(),
            day_start,
            day_end,
            policy: CorruptChunkPolicy::Fail,
            plan: String::new(),
            cpu: Semaphore::new(cores),
            budget: None,
            refetched: AtomicU64::new(0),
            series: AtomicU64::new(0),
            fetched: AtomicU64::new(0),
            not_found: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            without_chunks: AtomicU64::new(0),
            chunks_corrupt: AtomicU64::new(0),
            chunks_empty: AtomicU64::new(0),
            series_skipped: AtomicU64::new(0),
        }
    }

    /// What to do with corrupt chunks of `plan` (named in log lines).
    pub fn on_corrupt_chunk(mut self, policy: CorruptChunkPolicy, plan: &str) -> Self {
        self.policy = policy;
        self.plan = plan.to_string();
        self
    }

    /// Bounds what series hold from their fetch to their merge to `bytes`
    /// (see the module docs); without it, only the caller's bound on series
    /// in flight limits their memory.
    pub fn memory_budget(mut self, bytes: usize) -> Self {
        self.budget = Some(InFlightBudget::new(bytes));
        self
    }

    /// Series whose chunks were fetched a second time because they needed
    /// more of the in-flight budget than was free when they arrived.
    pub fn refetched(&self) -> u64 {
        self.refetched.load(Ordering::Relaxed)
    }

    /// The counters so far, over every series loaded.
    pub fn stats(&self) -> LoadStats {
        LoadStats {
            series: self.series.load(Ordering::Relaxed),
            chunks_fetched: self.fetched.load(Ordering::Relaxed),
            requests: self.fetcher.requests(),
            chunks_not_found: self.not_found.load(Ordering::Relaxed),
            chunk_bytes: self.bytes.load(Ordering::Relaxed),
            series_without_chunks: self.without_chunks.load(Ordering::Relaxed),
            skipped: SkippedInput {
                chunks_corrupt: self.chunks_corrupt.load(Ordering::Relaxed),
                chunks_empty: self.chunks_empty.load(Ordering::Relaxed),
                series: self.series_skipped.load(Ordering::Relaxed),
            },
        }
    }

    /// The merged series of one plan entry; `None` when none of its chunks
    /// exists in the store or holds a sample, or when the skip policy left
    /// the series out.
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
        let wanted = chunk_ids.len();
        if self.fetcher.is_local() {
            return self.load_local(&sid, keys, wanted).await.map_err(err);
        }
        let (estimate, calibrating) = match &self.budget {
            Some(b) => b.estimate(wanted).await,
            None => (0, None),
        };
        let mut held = self.reserve(estimate).await;
        let mut raw = self.fetch_all(&keys).await.map_err(&err)?;
        if let Some(budget) = &self.budget {
            let fits = budget.fit(&mut held, &raw);
            drop(calibrating);
            if !fits {
                // Never wait while holding: give everything back, wait for
                // the whole amount, fetch again.
                let need = budget.units(raw.iter().map(|(_, b)| b.len() as u64).sum());
                drop((raw, held));
                self.refetched.fetch_add(1, Ordering::Relaxed);
                held = self.reserve(need).await;
                raw = self.fetch_all(&keys).await.map_err(&err)?;
                // The store may answer differently the second time: take
                // the new size only if it is free, else go on with the
                // whole amount held (bounded by what it fetched).
                budget.fit(&mut held, &raw);
            }
        }
        // A remote series takes its core only after its fetch, so no wait
        // for a core holds a fetch permit.
        let cpu = self.core().await.map_err(&err)?;
        let this = Arc::clone(self);
        let job_sid = sid.clone();
        let merged = tokio::task::spawn_blocking(move || {
            let merged = this.decode_and_merge(&job_sid, raw, wanted);
            drop(held);
            merged
        })
        .await;
        drop(cpu);
        merged
            .map_err(|e| err(SeriesErrorKind::Task(e.to_string())))?
            .map_err(err)
    }

    async fn core(&self) -> Result<tokio::sync::SemaphorePermit<'_>, SeriesErrorKind> {
        self.cpu
            .acquire()
            .await
            .map_err(|e| SeriesErrorKind::Task(e.to_string()))
    }

    /// [`SeriesLoader::load`] from a local store: reading the files, taking
    /// their share of the budget and decoding are one trip to a blocking
    /// thread (two when the series needs more of the budget than is free),
    /// because a series is a few small files and handing it from thread to
    /// thread between the steps costs about what decoding it does.
    ///
    /// Local reads are CPU work, done under a core as the decode is. They
    /// take the core before the budget: then whoever holds budget holds a
    /// core too and waits for nothing, so no wait can close a cycle.
    async fn load_local(
        self: &Arc<Self>,
        sid: &str,
        keys: Vec<ChunkKey>,
        wanted: usize,
    ) -> Result<Option<MergedSeries>, SeriesErrorKind> {
        let task = |e: tokio::task::JoinError| SeriesErrorKind::Task(e.to_string());
        let _cpu = self.core().await?;
        let (estimate, calibrating) = match &self.budget {
            Some(b) => b.estimate(wanted).await,
            None => (0, None),
        };
        let mut held = self.reserve(estimate).await;
        let (this, job_sid) = (Arc::clone(self), sid.to_string());
        let first = tokio::task::spawn_blocking(move || {
            let raw = this.read_local(&keys)?;
            if let Some(budget) = &this.budget {
                if !budget.fit(&mut held, &raw) {
                    let bytes = raw.iter().map(|(_, b)| b.len() as u64).sum();
                    return Ok(Err((keys, budget.units(bytes))));
                }
            }
            let merged = this.decode_and_merge(&job_sid, raw, wanted);
            drop(held);
            merged.map(Ok)
        })
        .await
        .map_err(task)?;
        // The first series keeps the others waiting for a chunk size until
        // its fit (inside the trip) has taught one.
        drop(calibrating);
        let (keys, need) = match first? {
            Ok(merged) => return Ok(merged),
            Err(short) => short,
        };
        // Never wait while holding: the first trip gave everything back;
        // wait for the whole amount and read again.
        self.refetched.fetch_add(1, Ordering::Relaxed);
        let mut held = self.reserve(need).await;
        let (this, job_sid) = (Arc::clone(self), sid.to_string());
        tokio::task::spawn_blocking(move || {
            let raw = this.read_local(&keys)?;
            if let Some(budget) = &this.budget {
                // The files may have changed: take the new size only if it
                // is free, else go on with the whole amount held.
                budget.fit(&mut held, &raw);
            }
            let merged = this.decode_and_merge(&job_sid, raw, wanted);
            drop(held);
            merged
        })
        .await
        .map_err(task)?
    }

    /// The chunks of `keys` that a local store has, in order.
    fn read_local(&self, keys: &[ChunkKey]) -> Result<Vec<(ChunkKey, Bytes)>, SeriesErrorKind> {
        let mut raw = Vec::with_capacity(keys.len());
        for k in keys {
            if let Some(b) = self.fetcher.fetch_local(k)? {
                raw.push((k.clone(), Bytes::from(b)));
            }
        }
        Ok(raw)
    }

    async fn reserve(&self, units: u32) -> Reservation {
        match &self.budget {
            Some(b) => b.reserve(units).await,
            None => Reservation(None),
        }
    }

    /// The chunks of `keys` that a remote store has, in order: all in
    /// flight at once, each taking one of the fetcher's permits.
    async fn fetch_all(
        &self,
        keys: &[ChunkKey],
    ) -> Result<Vec<(ChunkKey, Bytes)>, SeriesErrorKind> {
        let fetched =
            futures::future::try_join_all(keys.iter().map(|k| self.fetcher.fetch(k))).await?;
        Ok(keys
            .iter()
            .zip(fetched)
            .filter_map(|(k, b)| b.map(|b| (k.clone(), b)))
            .collect())
    }

    fn decode_and_merge<B: AsRef<[u8]>>(
        &self,
        sid: &str,
        raw: Vec<(ChunkKey, B)>,
        wanted: usize,
    ) -> Result<Option<MergedSeries>, SeriesErrorKind> {
        self.not_found
            .fetch_add((wanted - raw.len()) as u64, Ordering::Relaxed);
        self.fetched.fetch_add(raw.len() as u64, Ordering::Relaxed);
        let mut chunks = Vec::with_capacity(raw.len());
        let mut corrupt = 0usize;
        for (key, bytes) in raw {
            let bytes = bytes.as_ref();
            self.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            match decode_chunk(key, bytes) {
                Ok(c) if c.samples.is_empty() => {
                    self.chunks_empty.fetch_add(1, Ordering::Relaxed);
                }
                Ok(c) => chunks.push(c),
                Err(e) if e.is_corrupt_chunk() && self.policy == CorruptChunkPolicy::Skip => {
                    let n = self.chunks_corrupt.fetch_add(1, Ordering::Relaxed);
                    if n < LOG_FIRST {
                        tracing::warn!(plan = %self.plan, series = sid, error = %e, "corrupt chunk left out");
                    }
                    corrupt += 1;
                }
                Err(e) => return Err(e),
            }
        }
        if chunks.is_empty() && corrupt > 0 {
            self.skip_series(sid, "none of its chunks can be used");
            return Ok(None);
        }
        match merge_series(chunks, self.day_start, self.day_end) {
            Ok(Some(m)) => Ok(Some(m)),
            Ok(None) => {
                self.without_chunks.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            Err(e @ MergeError::MultipleMetrics { .. })
                if self.policy == CorruptChunkPolicy::Skip =>
            {
                self.skip_series(sid, &e.to_string());
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn skip_series(&self, sid: &str, why: &str) {
        let n = self.series_skipped.fetch_add(1, Ordering::Relaxed);
        if n < LOG_FIRST {
            tracing::warn!(plan = %self.plan, series = sid, reason = why, "series left out");
        }
    }
}

#[cfg(test)]
mod budget_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn key(from: i64, through: i64) -> ChunkKey {
        ChunkKey {
            user: "u".into(),
            fingerprint: 1,
            from,
            through,
            checksum: Some(1),
        }
    }

    #[test]
    fn samples_in_order_inside_the_key_pass() {
        let k = key(10, 30);
        assert_eq!(
            check_samples(&k, &[(10, 1.0), (20, 2.0), (30, 3.0)]),
            Ok(())
        );
        // Repeats are the merge's business, not corruption.
        assert_eq!(
            check_samples(&k, &[(10, 1.0), (10, 1.0), (30, f64::NAN)]),
            Ok(())
        );
        assert_eq!(check_samples(&k, &[]), Ok(()));
    }

    #[test]
    fn going_back_in_time_is_named() {
        let err = check_samples(&key(10, 30), &[(10, 1.0), (30, 2.0), (20, 3.0)]).unwrap_err();
        assert_eq!(
            err,
            SampleProblem::OutOfOrder {
                index: 2,
                prev: 30,
                t: 20
            }
        );
        assert!(err.to_string().contains("out of time order"), "{err}");
    }

    #[test]
    fn samples_outside_the_key_are_counted() {
        let err =
            check_samples(&key(10, 30), &[(5, 1.0), (10, 1.0), (30, 2.0), (31, 3.0)]).unwrap_err();
        assert_eq!(
            err,
            SampleProblem::OutsideKeyRange {
                count: 2,
                t: 5,
                from: 10,
                through: 30
            }
        );
    }

    #[test]
    fn only_content_errors_are_skippable() {
        let samples = SeriesErrorKind::Samples {
            key: "k".into(),
            problem: SampleProblem::OutOfOrder {
                index: 1,
                prev: 2,
                t: 1,
            },
        };
        assert!(samples.is_corrupt_chunk());
        let task = SeriesErrorKind::Task("x".into());
        assert!(!task.is_corrupt_chunk());
    }
}
