//! How every bucket request is made: under the process's throttle, with a
//! timeout per attempt, retried under [`base::retry`]'s policy while the
//! failure is transient, and reported with the bucket, operation, key and attempt
//! count when it is not (or when the retries are spent).
//!
//! Transient: the store's `Generic` errors (dropped connections, 5xx
//! answers, local I/O), task join errors and our own timeouts. Never
//! retried: answers about the object itself (not found, already exists,
//! precondition, not modified), unsupported operations, bad keys, missing
//! permissions, and local file errors during transfers; nor the `Generic`
//! errors that carry a permanent answer ([`is_permanent_answer`]: a 4xx
//! other than 408/429, no such bucket, bad or missing credentials), which
//! asking again cannot change.
//!
//! `object_store`'s own retry layer is switched off ([`store_retry_config`])
//! so that retries do not multiply: `--bucket-retries` is the number of
//! retries a request gets, and the per-attempt timeout bounds one HTTP
//! exchange.
//!
//! Not here: what each operation means (the parent module), or the
//! special care conditional writes need ([`super::conditional`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::{GetResult, GetResultPayload};
use tracing::warn;

use super::{Bucket, BucketError, Result};
use base::retry::RetryPolicy;
use base::throttle::Throttle;

/// How a bucket handle retries, times out and limits its requests.
#[derive(Clone, Debug)]
pub struct BucketOptions {
    /// Retries of a transient failure, and the backoff between them.
    pub retry: RetryPolicy,
    /// Longest wait for one request, one part of an upload, or the next
    /// piece of a body being read; `None` waits forever.
    pub op_timeout: Option<Duration>,
    /// Requests and bytes per second toward this store, shared by every
    /// handle of the process given the same `Arc`.
    pub throttle: Option<Arc<Throttle>>,
}

impl Default for BucketOptions {
    fn default() -> Self {
        BucketOptions {
            retry: RetryPolicy {
                retries: 5,
                min_backoff: Duration::from_millis(200),
                max_backoff: Duration::from_secs(10),
            },
            op_timeout: Some(Duration::from_secs(120)),
            throttle: None,
        }
    }
}

/// How one attempt failed.
#[derive(Debug)]
pub(crate) enum Failure {
    Store(object_store::Error),
    Timeout(Duration),
    /// Not the store's fault (a local file); never retried.
    Local(BucketError),
}

impl Failure {
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Failure::Store(e) => is_transient(e),
            Failure::Timeout(_) => true,
            Failure::Local(_) => false,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Store(e) => e.fmt(f),
            Failure::Timeout(t) => write!(f, "no answer within {t:?}"),
            Failure::Local(e) => e.fmt(f),
        }
    }
}

impl From<BucketError> for Failure {
    fn from(e: BucketError) -> Self {
        Failure::Local(e)
    }
}

/// Whether a store error may go away by asking again.
pub(crate) fn is_transient(e: &object_store::Error) -> bool {
    match e {
        object_store::Error::Generic { .. } => !is_permanent_answer(e),
        object_store::Error::JoinError { .. } => true,
        _ => false,
    }
}

/// The error and its sources as one text: `object_store` wraps S3 list
/// and credential failures as `Generic` with the HTTP answer only in the
/// text (its status-carrying error type is private).
fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        text.push_str(": ");
        text.push_str(&s.to_string());
        next = s.source();
    }
    text
}

/// Error codes of S3 and GCS answers that asking again cannot change.
const PERMANENT_CODES: &[&str] = &[
    "NoSuchBucket",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "AllAccessDisabled",
    "InvalidBucketName",
    "AuthorizationHeaderMalformed",
    "PermanentRedirect",
    "The specified bucket does not exist",
];

/// A `Generic` error carrying a permanent answer: an HTTP 4xx status other
/// than 408 (timeout) and 429 (slow down), a permanent S3/GCS error code,
/// or credentials that cannot be had because none are configured.
pub(crate) fn is_permanent_answer(e: &object_store::Error) -> bool {
    let text = chain_text(e);
    if PERMANENT_CODES.iter().any(|c| text.contains(c)) {
        return true;
    }
    if credentials_missing(&text).is_some() {
        return true;
    }
    text.match_indices("status code: 4").any(|(i, m)| {
        let code = &text[i + m.len() - 1..];
        code.len() >= 3
            && code.as_bytes()[..3].iter().all(u8::is_ascii_digit)
            && !code.starts_with("408")
            && !code.starts_with("429")
    })
}

/// The variables to set, when `text` is a failure to get credentials and
/// none are configured (so the client fell back to a metadata endpoint
/// this machine does not have).
pub(crate) fn credentials_missing(text: &str) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    // Credential errors, or requests to the metadata endpoints the clients
    // fall back to (EC2's token and role paths, GCE's computeMetadata).
    if ![
        "credential",
        "latest/api/token",
        "latest/meta-data",
        "computemetadata",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        return None;
    }
    let set = |vars: &[&str]| vars.iter().any(|v| std::env::var_os(v).is_some());
    if lower.contains("s3") || lower.contains("aws") || lower.contains("169.254.169.254") {
        (!set(&[
            "AWS_ACCESS_KEY_ID",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ]))
        .then_some("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_REGION)")
    } else if lower.contains("gcs") || lower.contains("google") || lower.contains("computemetadata")
    {
        (!set(&[
            "GOOGLE_SERVICE_ACCOUNT",
            "GOOGLE_SERVICE_ACCOUNT_PATH",
            "GOOGLE_SERVICE_ACCOUNT_KEY",
            "GOOGLE_APPLICATION_CREDENTIALS",
        ]))
        .then_some("GOOGLE_APPLICATION_CREDENTIALS (a service account key file)")
    } else {
        None
    }
}

/// The retry settings given to `object_store`'s S3 and GCS clients: none,
/// since [`Bucket::retrying`] already retries every request.
pub(crate) fn store_retry_config() -> object_store::RetryConfig {
    object_store::RetryConfig {
        max_retries: 0,
        ..Default::default()
    }
}

impl Bucket {
    /// Runs `attempt` (given its 1-based number) until it succeeds, fails
    /// for good, or the retries are spent.
    pub(crate) async fn retrying<T, F, Fut>(
        &self,
        op: &'static str,
        key: &str,
        mut attempt: F,
    ) -> Result<T>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        self.opts
            .retry
            .run(
                Failure::is_transient,
                |f, n, wait| {
                    warn!(bucket = %self.url, op, key, attempt = n, error = %f, backoff = ?wait,
                        "bucket request failed; retrying");
                },
                &mut attempt,
            )
            .await
            .map_err(|f| self.failure(op, key, f.error, f.attempts))
    }

    fn failure(&self, op: &'static str, key: &str, f: Failure, attempts: u32) -> BucketError {
        match f {
            Failure::Store(source) if credentials_missing(&chain_text(&source)).is_some() => {
                let text = chain_text(&source);
                BucketError::NoCredentials {
                    bucket: self.url.clone(),
                    vars: credentials_missing(&text).unwrap_or_default(),
                    // The top error only: its sources repeat it.
                    error: source.to_string(),
                }
            }
            Failure::Store(source) => BucketError::Store {
                bucket: self.url.clone(),
                op,
                key: key.to_string(),
                attempts,
                error: Box::new(source),
            },
            Failure::Timeout(timeout) => BucketError::Timeout {
                bucket: self.url.clone(),
                op,
                key: key.to_string(),
                timeout,
                attempts,
            },
            Failure::Local(e) => e,
        }
    }

    /// One request carrying `bytes`, under the throttle and the timeout.
    pub(crate) async fn request<T>(
        &self,
        bytes: u64,
        call: impl Future<Output = object_store::Result<T>>,
    ) -> Result<T, Failure> {
        if let Some(t) = &self.opts.throttle {
            t.acquire(bytes).await;
        }
        self.timed(call).await
    }

    /// `call` under the per-attempt timeout, without the throttle.
    pub(crate) async fn timed<T>(
        &self,
        call: impl Future<Output = object_store::Result<T>>,
    ) -> Result<T, Failure> {
        match self.opts.op_timeout {
            None => call.await.map_err(Failure::Store),
            Some(t) => match tokio::time::timeout(t, call).await {
                Ok(r) => r.map_err(Failure::Store),
                Err(_) => Err(Failure::Timeout(t)),
            },
        }
    }

    /// The next item of a streamed answer (a body, a listing); the timeout
    /// applies to each wait, not to the whole stream.
    pub(crate) async fn next_item<T>(
        &self,
        stream: &mut BoxStream<'static, object_store::Result<T>>,
    ) -> Result<Option<T>, Failure> {
        let next = match self.opts.op_timeout {
            None => stream.next().await,
            Some(t) => tokio::time::timeout(t, stream.next())
                .await
                .map_err(|_| Failure::Timeout(t))?,
        };
        next.transpose().map_err(Failure::Store)
    }

    /// Pays the byte budget for `n` bytes already received.
    pub(crate) async fn received(&self, n: usize) {
        if let Some(t) = &self.opts.throttle {
            t.bytes(n as u64).await;
        }
    }

    /// The whole body of a get answer.
    pub(crate) async fn read_body(&self, r: GetResult) -> Result<Bytes, Failure> {
        if let GetResultPayload::File(..) = r.payload {
            // A local file is read in one blocking call; piecewise reads
            // would cost a thread hop per 8 KiB.
            let b = self.timed(r.bytes()).await?;
            self.received(b.len()).await;
            return Ok(b);
        }
        // The store's size is only a capacity hint, capped against absurd answers.
        let size = usize::try_from(r.range.end - r.range.start)
            .unwrap_or(0)
            .min(64 << 20);
        let mut stream = r.into_stream();
        let Some(first) = self.next_item(&mut stream).await? else {
            return Ok(Bytes::new());
        };
        self.received(first.len()).await;
        let Some(second) = self.next_item(&mut stream).await? else {
            return Ok(first);
        };
        self.received(second.len()).await;
        let mut buf = Vec::with_capacity(size.max(first.len() + second.len()));
        buf.extend_from_slice(&first);
        buf.extend_from_slice(&second);
        while let Some(b) = self.next_item(&mut stream).await? {
            self.received(b.len()).await;
            buf.extend_from_slice(&b);
        }
        Ok(buf.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(text: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: text.to_string().into(),
        }
    }

    #[test]
    fn permanent_answers_are_not_retried() {
        for t in [
            "Error performing GET https://s3/b?list-type=2 in 2ms - Server returned non-2xx \
             status code: 404 Not Found: <Code>NoSuchBucket</Code>",
            "Server returned non-2xx status code: 403 Forbidden: ",
            "Server returned error response: <Code>InvalidAccessKeyId</Code>",
            "Server returned non-2xx status code: 400 Bad Request: ",
        ] {
            assert!(!is_transient(&generic(t)), "{t}");
        }
        for t in [
            "Server returned non-2xx status code: 503 Service Unavailable: ",
            "Server returned non-2xx status code: 429 Too Many Requests: ",
            "Server returned non-2xx status code: 408 Request Timeout: ",
            "error sending request: connection reset by peer",
        ] {
            assert!(is_transient(&generic(t)), "{t}");
        }
    }
}
