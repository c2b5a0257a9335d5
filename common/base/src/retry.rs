//! The one retry policy every store client goes through: the bucket
//! (`protocol::bucket`), the Bigtable and DynamoDB clients, chunk fetches.
//!
//! A caller supplies only the operation and whether an error is transient;
//! how often, how long to wait and the jitter are decided here, so every
//! client backs off the same way. Waits use full jitter above a floor:
//! retry `n` sleeps a uniformly random time in `[min_backoff, cap(n)]`,
//! where `cap(n)` doubles from `min_backoff` up to `max_backoff`. Many
//! workers that fail together (a store restarting under a whole campaign)
//! thus spread their retries over the window instead of returning in
//! lockstep, and none hammers the store with an immediate retry.
//!
//! Ours rather than the `backon` crate: the policy itself is a dozen lines,
//! while our callers need things `backon`'s closures do not give directly
//! (the attempt number inside the operation, for conditional writes that
//! read back a lost answer; the attempt count in the final error; a budget
//! that resets when a resumable stream makes progress, see [`Backoff`]).
//! Waiting uses tokio's clock, so tests drive it with `tokio::time::pause()`.
//!
//! Not here: what counts as transient (each client knows its store's
//! errors), per-attempt timeouts and rate limits (`protocol::bucket`,
//! [`crate::throttle`]).

use std::future::Future;
use std::time::Duration;

/// How often and how patiently a failed request is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub retries: u32,
    /// Shortest wait before a retry, and the start of the doubling.
    pub min_backoff: Duration,
    /// Longest wait before a retry.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 10,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries at all: the first failure is the answer.
    pub const NONE: RetryPolicy = RetryPolicy {
        retries: 0,
        min_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
    };

    /// The longest wait before retry number `attempt` (1-based): doubling
    /// from the minimum, capped at the maximum.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.min_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// The wait before retry number `attempt`: uniform in
    /// `[min_backoff, backoff(attempt)]` (full jitter above the floor).
    pub fn jittered_backoff(&self, attempt: u32) -> Duration {
        let cap = self.backoff(attempt);
        let floor = self.min_backoff.min(cap);
        let span = (cap - floor).as_nanos().min(u64::MAX as u128) as u64;
        floor + Duration::from_nanos(fastrand::u64(0..=span))
    }

    /// Runs `op` (given its 1-based attempt number) until it succeeds,
    /// fails with an error `is_transient` rejects, or the retries are
    /// spent. `on_retry` sees each transient failure with its attempt
    /// number and the wait before the next one (for logging).
    pub async fn run<T, E, Fut>(
        &self,
        is_transient: impl Fn(&E) -> bool,
        mut on_retry: impl FnMut(&E, u32, Duration),
        mut op: impl FnMut(u32) -> Fut,
    ) -> Result<T, Failed<E>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let mut backoff = Backoff::new(*self);
        loop {
            match op(backoff.attempt()).await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let wait = if is_transient(&e) {
                        backoff.next_wait()
                    } else {
                        None
                    };
                    let Some(wait) = wait else {
                        return Err(Failed {
                            error: e,
                            attempts: backoff.attempt(),
                        });
                    };
                    on_retry(&e, backoff.attempt() - 1, wait);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// The last error of a retried operation, with the attempts it took.
#[derive(Debug)]
pub struct Failed<E> {
    /// The error that ended the retries: permanent, or the last transient one.
    pub error: E,
    /// Attempts made, the first included.
    pub attempts: u32,
}

/// The retry state of one operation, for loops that cannot be a closure:
/// a stream that resumes where it broke calls [`Backoff::reset`] whenever
/// it makes progress, so only failures in a row count against the budget.
#[derive(Clone, Debug)]
pub struct Backoff {
    policy: RetryPolicy,
    /// Failures since the last success or reset.
    failures: u32,
}

impl Backoff {
    /// A fresh budget under `policy`.
    pub fn new(policy: RetryPolicy) -> Self {
        Backoff {
            policy,
            failures: 0,
        }
    }

    /// The 1-based number of the attempt about to be made (or just made).
    pub fn attempt(&self) -> u32 {
        self.failures + 1
    }

    /// Progress was made: the next failure is the first of a new run.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// After a transient failure: the wait before trying again, or `None`
    /// when the retries are spent.
    pub fn next_wait(&mut self) -> Option<Duration> {
        if self.failures >= self.policy.retries {
            return None;
        }
        self.failures += 1;
        Some(self.policy.jittered_backoff(self.failures))
    }

    /// [`Backoff::next_wait`], then sleeps it; false when the retries are spent.
    pub async fn wait(&mut self) -> bool {
        match self.next_wait() {
            Some(wait) => {
                tokio::time::sleep(wait).await;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use tokio::time::Instant;

    const P: RetryPolicy = RetryPolicy {
        retries: 3,
        min_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(300),
    };

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            retries: 5,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
        };
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(2), Duration::from_millis(200));
        assert_eq!(p.backoff(3), Duration::from_millis(400));
        assert_eq!(p.backoff(4), Duration::from_millis(500));
        assert_eq!(p.backoff(60), Duration::from_millis(500));
    }

    #[test]
    fn jitter_stays_in_the_window_and_spreads() {
        let p = RetryPolicy {
            retries: 5,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        };
        assert_eq!(p.jittered_backoff(1), p.min_backoff);
        let waits: Vec<Duration> = (0..200).map(|_| p.jittered_backoff(5)).collect();
        for w in &waits {
            assert!(*w >= p.min_backoff && *w <= p.backoff(5), "{w:?}");
        }
        // Full jitter: both halves of the window are used.
        let mid = (p.min_backoff + p.backoff(5)) / 2;
        assert!(waits.iter().any(|w| *w < mid) && waits.iter().any(|w| *w > mid));
        assert_eq!(RetryPolicy::NONE.jittered_backoff(3), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_until_success() {
        let seen = Cell::new(Vec::new());
        let start = Instant::now();
        let r: Result<u32, Failed<&str>> = P
            .run(
                |_| true,
                |_, n, _| {
                    let mut v = seen.take();
                    v.push(n);
                    seen.set(v);
                },
                |n| async move {
                    if n < 3 {
                        Err("flaky")
                    } else {
                        Ok(n)
                    }
                },
            )
            .await;
        assert_eq!(r.unwrap(), 3);
        assert_eq!(seen.take(), vec![1, 2]);
        let slept = start.elapsed();
        assert!(slept >= Duration::from_millis(200) && slept <= Duration::from_millis(300));
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        let calls = Cell::new(0);
        let r: Result<(), _> = P
            .run(
                |e: &&str| *e != "denied",
                |_, _, _| panic!("no retry expected"),
                |_| {
                    calls.set(calls.get() + 1);
                    async { Err("denied") }
                },
            )
            .await;
        let f = r.unwrap_err();
        assert_eq!((f.error, f.attempts, calls.get()), ("denied", 1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_are_bounded() {
        let calls = Cell::new(0);
        let r: Result<(), _> = P
            .run(
                |_| true,
                |_, _, _| {},
                |_| {
                    calls.set(calls.get() + 1);
                    async { Err("down") }
                },
            )
            .await;
        assert_eq!(r.unwrap_err().attempts, 4);
        assert_eq!(calls.get(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_budget_resets_on_progress() {
        let mut b = Backoff::new(P);
        for _ in 0..3 {
            assert!(b.wait().await);
        }
        assert_eq!(b.attempt(), 4);
        assert!(!b.wait().await);
        b.reset();
        assert_eq!(b.attempt(), 1);
        assert!(b.wait().await);
    }
}
