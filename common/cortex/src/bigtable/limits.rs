//! Retry backoff and request-rate limiting for the Bigtable and DynamoDB
//! clients (a campaign's scan must not starve the production Cortex still
//! serving from the same tables).
//!
//! Both now live in [`base::throttle`], shared with bucket access; this
//! module keeps the clients' names for them.

use base::throttle::Throttle;

pub(crate) use base::retry::RetryPolicy;

/// Spaces requests evenly at a maximum rate; `None` rate means unlimited.
#[derive(Debug)]
pub(crate) struct RateLimiter(Throttle);

impl RateLimiter {
    pub(crate) fn new(requests_per_sec: Option<f64>) -> Self {
        RateLimiter(Throttle::new(requests_per_sec, None))
    }

    /// Waits for this request's slot.
    pub(crate) async fn acquire(&self) {
        self.0.request().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn limiter_spaces_requests() {
        let l = RateLimiter::new(Some(100.0));
        let start = Instant::now();
        for _ in 0..5 {
            l.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(40));
        let free = RateLimiter::new(None);
        let start = Instant::now();
        for _ in 0..1000 {
            free.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
