//! Rate limits toward shared backends (the bucket, the Cortex chunk store,
//! its index tables).
//!
//! A campaign runs many workers against stores that production still
//! serves from, so a process can cap what it asks of each backend: requests
//! per second and bytes per second, both optional. One [`Throttle`] is
//! shared (through an `Arc`) by every worker of a process that talks to the
//! same backend, which makes the limit a per-process one.
//!
//! The limiter spaces work evenly (a token bucket without burst credit):
//! each request or byte count reserves the next free slot of its kind and
//! waits for it. Bytes are paid for after the fact when their count is only
//! known then (a download), so a large transfer delays the ones after it,
//! and the long-run rate holds either way. Waiting uses tokio's clock, so
//! tests drive it with `tokio::time::pause()`.
//!
//! Not here: retries ([`crate::retry`]).

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Limits on requests and bytes per second toward one backend; `None`
/// means unlimited. Shared by every worker of a process via `Arc`.
#[derive(Debug)]
pub struct Throttle {
    request_interval: Option<Duration>,
    /// Time one byte costs, in seconds.
    byte_cost: Option<f64>,
    slots: Mutex<Slots>,
}

#[derive(Debug)]
struct Slots {
    /// When the next request may start.
    requests: Instant,
    /// When the next byte may go.
    bytes: Instant,
}

impl Throttle {
    /// A limiter for at most `requests_per_sec` requests and
    /// `bytes_per_sec` bytes per second. Zero, negative or non-finite
    /// rates mean unlimited.
    pub fn new(requests_per_sec: Option<f64>, bytes_per_sec: Option<f64>) -> Self {
        let valid = |r: Option<f64>| r.filter(|r| r.is_finite() && *r > 0.0);
        let now = Instant::now();
        Throttle {
            request_interval: valid(requests_per_sec).map(|r| Duration::from_secs_f64(1.0 / r)),
            byte_cost: valid(bytes_per_sec).map(|r| 1.0 / r),
            slots: Mutex::new(Slots {
                requests: now,
                bytes: now,
            }),
        }
    }

    /// No limit at all; every call returns at once.
    pub fn unlimited() -> Self {
        Throttle::new(None, None)
    }

    /// True when neither requests nor bytes are limited.
    pub fn is_unlimited(&self) -> bool {
        self.request_interval.is_none() && self.byte_cost.is_none()
    }

    /// Waits for one request carrying `bytes` (0 when the size is not known
    /// up front; count it later with [`Throttle::bytes`]).
    pub async fn acquire(&self, bytes: u64) {
        if self.is_unlimited() {
            return;
        }
        let wait = self.reserve(true, bytes);
        sleep_until(wait).await;
    }

    /// Waits for one request's slot, bytes aside.
    pub async fn request(&self) {
        self.acquire(0).await;
    }

    /// Accounts `bytes` moved (or about to be moved) outside a request
    /// slot, e.g. a downloaded body, waiting if the byte budget is spent.
    pub async fn bytes(&self, bytes: u64) {
        if self.byte_cost.is_none() || bytes == 0 {
            return;
        }
        let wait = self.reserve(false, bytes);
        sleep_until(wait).await;
    }

    /// Takes the next slots and returns when the caller may proceed.
    fn reserve(&self, request: bool, bytes: u64) -> Option<Instant> {
        let now = Instant::now();
        // A poisoned lock only means another caller panicked between two
        // plain assignments; the instants inside are still valid.
        let mut s = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let mut start = now;
        if let (true, Some(interval)) = (request, self.request_interval) {
            let slot = s.requests.max(now);
            s.requests = slot + interval;
            start = start.max(slot);
        }
        if let (Some(cost), true) = (self.byte_cost, bytes > 0) {
            let slot = s.bytes.max(now);
            s.bytes = slot + Duration::from_secs_f64(cost * bytes as f64);
            start = start.max(slot);
        }
        (start > now).then_some(start)
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_evenly() {
        let t = Throttle::new(Some(10.0), None);
        let start = Instant::now();
        for _ in 0..5 {
            t.request().await;
        }
        // The first goes at once, each next one 100 ms later.
        assert_eq!(start.elapsed(), Duration::from_millis(400));
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_are_paid_by_the_next_caller() {
        let t = Throttle::new(None, Some(1000.0));
        let start = Instant::now();
        t.acquire(500).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        t.bytes(2000).await;
        assert_eq!(start.elapsed(), Duration::from_millis(500));
        // Requests are free; only the bytes already moved delay this one.
        t.acquire(0).await;
        assert_eq!(start.elapsed(), Duration::from_millis(500));
        t.acquire(1).await;
        assert_eq!(start.elapsed(), Duration::from_millis(2500));
    }

    #[tokio::test(start_paused = true)]
    async fn both_limits_apply_and_the_slower_wins() {
        let t = Throttle::new(Some(100.0), Some(1000.0));
        let start = Instant::now();
        // 4 requests of 100 bytes: requests allow one per 10 ms, bytes one
        // per 100 ms, so bytes set the pace.
        for _ in 0..4 {
            t.acquire(100).await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(300));
    }

    #[tokio::test(start_paused = true)]
    async fn shared_by_concurrent_workers() {
        let t = Arc::new(Throttle::new(Some(20.0), None));
        let start = Instant::now();
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let t = Arc::clone(&t);
                tokio::spawn(async move { t.request().await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        // 10 requests at 20/s over all workers: the last starts at 450 ms.
        assert_eq!(start.elapsed(), Duration::from_millis(450));
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_never_waits() {
        for t in [
            Throttle::unlimited(),
            Throttle::new(Some(0.0), Some(f64::NAN)),
        ] {
            assert!(t.is_unlimited());
            let start = Instant::now();
            for _ in 0..1000 {
                t.acquire(1 << 30).await;
                t.bytes(1 << 30).await;
            }
            assert_eq!(start.elapsed(), Duration::ZERO);
        }
    }
}
