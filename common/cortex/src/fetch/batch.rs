//! Coalesces concurrent single-chunk reads of chunk tables into batch
//! requests.
//!
//! The builder asks for chunks one at a time (a future per chunk, many in
//! flight), while a table store answers many keys per request (Bigtable
//! `ReadRows` over a row set, DynamoDB `BatchGetItem`), as Cortex read
//! them: one round trip per chunk would make a fetch-bound build pay the
//! store's latency per chunk instead of per batch.
//!
//! Each read joins a shared queue and yields once, so the reads started
//! together (a series' chunks, the other series in flight) queue together.
//! Then every read waits for its answer or a request permit, whichever
//! comes first. A read given a permit leads a batch: it takes up to `max`
//! queued keys of one table, sends one request and hands every read its
//! answer; a read whose key another leader took waits for that answer. If
//! a leader is dropped mid-request (its build cancelled), the reads it had
//! taken see their answer channel closed and queue again.
//!
//! Permits count requests, not keys (`--concurrency` is requests in
//! flight): keys wait in the queue for free, so while every permit is out
//! the queue fills and the next request carries up to `max` keys. Counting
//! keys instead would cap a batch at the permits, and with it the chunks in
//! flight against a store 10–50 ms away. What the queued reads' chunks
//! cost in memory is the caller's budget's business.
//!
//! No background task: a batch runs inside the future of one of its reads,
//! so nothing outlives the fetcher or depends on the runtime that made it.
//! A batch never holds more keys than there are reads waiting.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::{oneshot, Semaphore};

/// A read's answer: the chunk, `None` if the table has no such row, or why
/// the batch request failed (shared by every read of that batch).
pub(super) type Answer = Result<Option<Bytes>, String>;

/// A read waiting in the queue.
struct Waiting {
    table: String,
    key: String,
    answer: oneshot::Sender<Answer>,
}

/// The queue of reads not yet taken into a batch.
pub(super) struct Batcher {
    queue: Mutex<VecDeque<Waiting>>,
    /// Most keys per request (the store's limit).
    max: usize,
}

impl Batcher {
    /// Batches of at most `max` keys.
    pub(super) fn new(max: usize) -> Self {
        Batcher {
            queue: Mutex::new(VecDeque::new()),
            max: max.max(1),
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Waiting>> {
        // The queue is consistent after every statement under the lock.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn enqueue(&self, table: &str, key: &str) -> oneshot::Receiver<Answer> {
        let (tx, rx) = oneshot::channel();
        self.queue().push_back(Waiting {
            table: table.to_string(),
            key: key.to_string(),
            answer: tx,
        });
        rx
    }

    /// Up to `max` queued reads of the table of the oldest one.
    fn take(&self) -> Option<(String, Vec<Waiting>)> {
        let mut q = self.queue();
        let table = q.front()?.table.clone();
        let mut batch = Vec::with_capacity(self.max.min(q.len()));
        let mut rest = VecDeque::with_capacity(q.len());
        for w in q.drain(..) {
            if batch.len() < self.max && w.table == table {
                batch.push(w);
            } else {
                rest.push_back(w);
            }
        }
        *q = rest;
        Some((table, batch))
    }

    /// Reads `key` of `table` in some batch; `read(table, keys)` sends one
    /// request and returns the rows aligned with `keys`. A request is sent
    /// only under one of `requests`' permits.
    pub(super) async fn get<F, Fut>(
        &self,
        requests: &Semaphore,
        table: &str,
        key: &str,
        read: F,
    ) -> Answer
    where
        F: Fn(String, Vec<String>) -> Fut,
        Fut: Future<Output = Result<Vec<Option<Bytes>>, String>>,
    {
        let mut rx = self.enqueue(table, key);
        // Let the reads started with this one queue before anyone leads.
        tokio::task::yield_now().await;
        // Off while another leader holds this read's key and nothing else
        // is queued: then there is nothing to lead, only the answer to wait for.
        let mut may_lead = true;
        loop {
            let permit = tokio::select! {
                biased;
                answer = &mut rx => match answer {
                    Ok(answer) => return answer,
                    // The leader holding this read was dropped: queue again.
                    Err(_) => {
                        rx = self.enqueue(table, key);
                        may_lead = true;
                        continue;
                    }
                },
                permit = requests.acquire(), if may_lead => match permit {
                    Ok(p) => p,
                    Err(_) => return Err("chunk fetcher closed".to_string()),
                },
            };
            match self.take() {
                Some((table, batch)) => Self::run(&read, table, batch).await,
                None => may_lead = false,
            }
            drop(permit);
        }
    }

    /// Sends one request for `batch` (a key asked twice is sent once) and
    /// answers every read of it.
    async fn run<F, Fut>(read: &F, table: String, batch: Vec<Waiting>)
    where
        F: Fn(String, Vec<String>) -> Fut,
        Fut: Future<Output = Result<Vec<Option<Bytes>>, String>>,
    {
        let mut keys: Vec<String> = Vec::with_capacity(batch.len());
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(batch.len());
        let mut slots = Vec::with_capacity(batch.len());
        for w in &batch {
            let i = *index.entry(w.key.as_str()).or_insert_with(|| {
                keys.push(w.key.clone());
                keys.len() - 1
            });
            slots.push(i);
        }
        let n = keys.len();
        let rows = match read(table, keys).await {
            Ok(rows) if rows.len() == n => Ok(rows),
            Ok(rows) => Err(format!("{} rows returned for {n} keys", rows.len())),
            Err(e) => Err(e),
        };
        for (w, i) in batch.into_iter().zip(slots) {
            let answer = match &rows {
                Ok(rows) => Ok(rows[i].clone()),
                Err(e) => Err(e.clone()),
            };
            // A read that went away no longer needs its answer.
            let _ = w.answer.send(answer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A table store that records the batches it is sent; key `missing-*`
    /// has no row, table `broken` fails.
    #[derive(Default)]
    struct Store {
        batches: Mutex<Vec<(String, Vec<String>)>>,
        in_flight: AtomicUsize,
        most_in_flight: AtomicUsize,
    }

    impl Store {
        async fn read(
            &self,
            table: String,
            keys: Vec<String>,
        ) -> Result<Vec<Option<Bytes>>, String> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.batches
                .lock()
                .unwrap()
                .push((table.clone(), keys.clone()));
            if table == "broken" {
                return Err("table broken".into());
            }
            Ok(keys
                .iter()
                .map(|k| (!k.starts_with("missing")).then(|| Bytes::from(format!("{table}/{k}"))))
                .collect())
        }
    }

    /// Starts one read per `(table, key)` as its own task, as the builder's
    /// series loads are, with `permits` requests in flight at most; the
    /// answers in the same order.
    async fn read_all(
        b: &Arc<Batcher>,
        store: &Arc<Store>,
        permits: usize,
        wanted: &[(String, String)],
    ) -> Vec<Answer> {
        let requests = Arc::new(Semaphore::new(permits));
        let tasks: Vec<_> = wanted
            .iter()
            .cloned()
            .map(|(t, k)| {
                let (b, store, requests) = (b.clone(), store.clone(), requests.clone());
                tokio::spawn(
                    async move { b.get(&requests, &t, &k, |t, ks| store.read(t, ks)).await },
                )
            })
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_reads_share_requests_per_table() {
        let store = Arc::new(Store::default());
        let b = Arc::new(Batcher::new(100));
        let mut wanted = Vec::new();
        for i in 0..250 {
            wanted.push(("t1".to_string(), format!("k{i}")));
        }
        for i in 0..30 {
            wanted.push(("t2".to_string(), format!("k{i}")));
        }
        // Asked twice while both reads wait in the queue: sent once.
        wanted.push(("t1".to_string(), "k205".to_string()));
        wanted.push(("t2".to_string(), "missing-1".to_string()));
        let got = read_all(&b, &store, 100, &wanted).await;
        for ((t, k), answer) in wanted.iter().zip(got) {
            let want = (!k.starts_with("missing")).then(|| Bytes::from(format!("{t}/{k}")));
            assert_eq!(answer.unwrap(), want, "{t}/{k}");
        }
        let batches = store.batches.lock().unwrap().clone();
        let sizes: Vec<(String, usize)> =
            batches.iter().map(|(t, k)| (t.clone(), k.len())).collect();
        // 251 reads of t1 (one key twice), 31 of t2: three requests for t1,
        // one for t2, each within one table and the limit, no key twice.
        assert_eq!(batches.len(), 4, "{sizes:?}");
        assert!(sizes.iter().all(|(_, n)| *n <= 100), "{sizes:?}");
        for (_, keys) in &batches {
            let unique: std::collections::HashSet<&String> = keys.iter().collect();
            assert_eq!(unique.len(), keys.len(), "{keys:?}");
        }
        let t1: usize = sizes
            .iter()
            .filter(|(t, _)| t == "t1")
            .map(|(_, n)| n)
            .sum();
        assert_eq!(t1, 250, "the repeated key is sent once: {sizes:?}");
        // The batches of both tables were in flight together.
        assert_eq!(store.most_in_flight.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn permits_bound_requests_not_keys() {
        let store = Arc::new(Store::default());
        let b = Arc::new(Batcher::new(100));
        let wanted: Vec<(String, String)> = (0..450)
            .map(|i| ("t".to_string(), format!("k{i}")))
            .collect();
        let got = read_all(&b, &store, 2, &wanted).await;
        assert!(got.iter().all(|a| matches!(a, Ok(Some(_)))));
        let sizes: Vec<usize> = store
            .batches
            .lock()
            .unwrap()
            .iter()
            .map(|(_, k)| k.len())
            .collect();
        // Two requests in flight at most, each as full as the queue allows:
        // a permit bounding keys would have sent 225 requests of 2.
        assert_eq!(store.most_in_flight.load(Ordering::SeqCst), 2);
        assert_eq!(sizes, vec![100, 100, 100, 100, 50], "{sizes:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_request_fails_every_read_of_its_batch() {
        let store = Arc::new(Store::default());
        let b = Arc::new(Batcher::new(10));
        let mut wanted: Vec<(String, String)> = (0..3)
            .map(|i| ("broken".to_string(), format!("k{i}")))
            .collect();
        wanted.push(("t".into(), "k".into()));
        let got = read_all(&b, &store, 100, &wanted).await;
        for a in &got[..3] {
            assert_eq!(a.as_ref().unwrap_err(), "table broken");
        }
        assert_eq!(got[3].as_ref().unwrap(), &Some(Bytes::from("t/k")));
    }

    #[tokio::test(start_paused = true)]
    async fn reads_of_a_dropped_leader_are_sent_again() {
        let store = Arc::new(Store::default());
        let b = Arc::new(Batcher::new(100));
        // Two reads; whichever leads takes both keys and names itself.
        let leader: Arc<Mutex<Option<&'static str>>> = Arc::default();
        let read = |key: &'static str| {
            let (b, store, leader) = (b.clone(), store.clone(), leader.clone());
            tokio::spawn(async move {
                let requests = Semaphore::new(10);
                b.get(&requests, "t", key, |t, ks| {
                    *leader.lock().unwrap() = Some(key);
                    store.read(t, ks)
                })
                .await
            })
        };
        let mut tasks = HashMap::from([("a", read("a")), ("b", read("b"))]);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert_eq!(store.in_flight.load(Ordering::SeqCst), 1);
        let first = leader.lock().unwrap().take().expect("a leader");
        // Dropped mid-request, as a cancelled build drops its reads.
        tasks.remove(first).unwrap().abort();
        let other = if first == "a" { "b" } else { "a" };
        let answer = tasks.remove(other).unwrap().await.unwrap().unwrap();
        assert_eq!(answer, Some(Bytes::from(format!("t/{other}"))));
        let batches = store.batches.lock().unwrap().clone();
        assert_eq!(batches, vec![("t".to_string(), vec![other.to_string()])]);
        assert_eq!(*leader.lock().unwrap(), Some(other));
    }
}
