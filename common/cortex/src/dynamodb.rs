//! A DynamoDB client for Cortex index and chunk tables (`aws-dynamo` store).
//!
//! - [`DynamoClient::list_tables`]: table discovery.
//! - [`DynamoClient::scan_segment`]: one segment of a parallel full `Scan`
//!   (`h` and `r` only), page by page.
//! - [`DynamoClient::fetch_chunks`]: chunk objects by external key from a
//!   chunk table, in Cortex's layout (`pkg/chunk/aws` of Cortex 1.x): one
//!   item per chunk, hash key `h` (string) = external key, range key `r`
//!   (binary) = `c`, the object in the binary attribute `c`; read with
//!   `BatchGetItem`, 100 keys per request.
//!
//! Creating tables and writing items (test data) is `cortex-testgen`'s,
//! over [`DynamoClient::sdk_client`].
//!
//! Where to connect comes from Cortex's `dynamodb_url` (see
//! [`DynamoEndpoint::parse`]) or, failing that, the usual AWS environment
//! (`AWS_ENDPOINT_URL`, `AWS_REGION`, credentials chain). Throttling and
//! transient errors are retried by the SDK's standard retry strategy;
//! unprocessed batch keys are retried here under `base::retry`. The request
//! rate can be capped.
//!
//! It knows nothing about Cortex entries beyond the attribute names.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_dynamodb::Client;

use super::bigtable::limits::{RateLimiter, RetryPolicy};
use base::retry::Backoff;

/// Keys per `BatchGetItem`: the API's limit, and Cortex's
/// `dynamoDBMaxReadBatchSize`.
pub const CHUNK_BATCH: usize = 100;
/// Hash key attribute of index and chunk tables (Cortex's `hashKey`): the
/// hash value of an index entry, the external key of a chunk.
pub const HASH_KEY: &str = "h";
/// Range key attribute (Cortex's `rangeKey`), binary.
pub const RANGE_KEY: &str = "r";
/// Value attribute (Cortex's `valueKey`), binary: an index entry's value,
/// a chunk object's bytes.
pub const VALUE_KEY: &str = "c";
/// Range value of every item of a chunk table (Cortex's `placeholder`: a
/// chunk table reuses the index tables' key schema, so each chunk needs a
/// non-empty range value).
pub const CHUNK_RANGE_VALUE: &[u8] = b"c";

/// A DynamoDB request that failed, naming the table.
#[derive(Debug, thiserror::Error)]
pub enum DynamoError {
    /// Cortex's `dynamodb_url` is not usable.
    #[error("dynamodb_url {url:?}: {reason}")]
    Url {
        /// The URL, password redacted.
        url: String,
        /// Why.
        reason: String,
    },
    /// A request failed (after the SDK's retries).
    #[error("dynamodb {op} on {table}: {reason}")]
    Request {
        /// The API call, e.g. `Scan`.
        op: &'static str,
        /// The table, `*` for account-wide calls.
        table: String,
        /// The SDK's error with its context.
        reason: String,
    },
    /// A batch call kept returning unprocessed keys or items.
    #[error("dynamodb {op} on {table}: {reason} still unprocessed after {attempts} attempts")]
    Unprocessed {
        /// The API call.
        op: &'static str,
        /// The table.
        table: String,
        /// `keys` or `items`.
        reason: String,
        /// Attempts made, the first included.
        attempts: u32,
    },
}

/// Where Cortex's `dynamodb_url` points.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DynamoEndpoint {
    /// `None`: the AWS endpoint of the region (or `AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// `None`: from the AWS environment, else `us-east-1`.
    pub region: Option<String>,
    /// Static credentials from the URL's user info.
    pub key: Option<(String, String)>,
}

impl DynamoEndpoint {
    /// Cortex's forms: `dynamodb://REGION`, `dynamodb://KEY:SECRET@REGION`
    /// (AWS endpoints), and `http(s)://[KEY:SECRET@]HOST[:PORT][/...]` (an
    /// endpoint such as a local DynamoDB; region from `AWS_REGION`, else
    /// `us-east-1`). Table names in the path are ignored, as in Cortex.
    pub fn parse(url: &str) -> Result<Self, DynamoError> {
        let bad = |reason: &str| DynamoError::Url {
            url: redact(url),
            reason: reason.to_string(),
        };
        let u = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        let key = (!u.username().is_empty()).then(|| {
            (
                percent_decode(u.username()),
                percent_decode(u.password().unwrap_or("")),
            )
        });
        let host = u.host_str().unwrap_or("").to_string();
        match u.scheme() {
            "dynamodb" => {
                if host.is_empty() {
                    return Err(bad("no region"));
                }
                Ok(DynamoEndpoint {
                    endpoint: None,
                    region: Some(host),
                    key,
                })
            }
            scheme @ ("http" | "https") => {
                if host.is_empty() {
                    return Err(bad("no host"));
                }
                let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
                Ok(DynamoEndpoint {
                    endpoint: Some(format!("{scheme}://{host}{port}")),
                    region: None,
                    key,
                })
            }
            other => Err(bad(&format!("scheme {other:?} is not supported"))),
        }
    }
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("REDACTED"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "<unparsable>".to_string(),
    }
}

/// URL userinfo is percent-encoded; AWS secrets often hold `/` and `+`.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Connection settings.
#[derive(Clone, Debug, Default)]
pub struct DynamoOptions {
    /// Cortex's `dynamodb_url`; `None`: the AWS environment alone.
    pub url: Option<String>,
    /// Retries of failed requests (by the SDK) and of unprocessed batch items.
    pub retry: RetryPolicy,
    /// Requests per second over this client; `None`: unlimited.
    pub requests_per_sec: Option<f64>,
}

/// One page of a scan segment: `(h, r)` of each item.
pub type ScanPage = Vec<(String, Vec<u8>)>;

/// A client for the DynamoDB tables of one account and region. Cheap to clone.
#[derive(Clone, Debug)]
pub struct DynamoClient {
    client: Client,
    retry: RetryPolicy,
    limiter: Arc<RateLimiter>,
}

impl DynamoClient {
    /// Loads the AWS configuration for `opts`; sends nothing yet.
    pub async fn connect(opts: &DynamoOptions) -> Result<Self, DynamoError> {
        let ep = match &opts.url {
            Some(u) if !u.is_empty() => DynamoEndpoint::parse(u)?,
            _ => DynamoEndpoint::default(),
        };
        // ring, not aws-lc: the TLS stack the rest of the binary already uses.
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http);
        if let Some(region) = &ep.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &ep.endpoint {
            loader = loader.endpoint_url(endpoint.clone());
        }
        if let Some((k, s)) = &ep.key {
            loader = loader.credentials_provider(Credentials::new(
                k.clone(),
                s.clone(),
                None,
                None,
                "cortex-dynamodb-url",
            ));
        }
        let sdk = loader.load().await;
        // Failed requests are retried inside the SDK, whose classifier knows
        // DynamoDB's throttling and transient errors; its standard strategy
        // is the same exponential backoff with full jitter as
        // `base::retry`, set from the same policy. Unprocessed batch items
        // (answers, not errors) are retried here under `base::retry`.
        let mut conf = aws_sdk_dynamodb::config::Builder::from(&sdk).retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(opts.retry.retries.saturating_add(1))
                .with_initial_backoff(opts.retry.min_backoff)
                .with_max_backoff(opts.retry.max_backoff),
        );
        // A local endpoint needs some region to sign with.
        if sdk.region().is_none() {
            conf = conf.region(Region::new("us-east-1"));
        }
        Ok(DynamoClient {
            client: Client::from_conf(conf.build()),
            retry: opts.retry,
            limiter: Arc::new(RateLimiter::new(opts.requests_per_sec)),
        })
    }

    fn err<E>(op: &'static str, table: &str, e: E) -> DynamoError
    where
        E: std::error::Error + 'static,
    {
        DynamoError::Request {
            op,
            table: table.to_string(),
            reason: DisplayErrorContext(e).to_string(),
        }
    }

    /// Every table name, sorted.
    pub async fn list_tables(&self) -> Result<Vec<String>, DynamoError> {
        let mut names = Vec::new();
        let mut start: Option<String> = None;
        loop {
            self.limiter.acquire().await;
            let resp = self
                .client
                .list_tables()
                .set_exclusive_start_table_name(start.take())
                .send()
                .await
                .map_err(|e| Self::err("ListTables", "*", e))?;
            names.extend(resp.table_names().iter().cloned());
            match resp.last_evaluated_table_name() {
                Some(n) => start = Some(n.to_string()),
                None => break,
            }
        }
        names.sort();
        Ok(names)
    }

    /// The SDK client, for requests this client has no method for:
    /// `cortex-testgen` creates tables and writes items with it.
    pub fn sdk_client(&self) -> &Client {
        &self.client
    }

    /// Reads one segment of a parallel scan of `table`.
    pub fn scan_segment(&self, table: &str, segment: i32, total_segments: i32) -> SegmentScan {
        SegmentScan {
            client: self.clone(),
            table: table.to_string(),
            segment,
            total_segments,
            start: None,
            done: false,
        }
    }

    /// Fetches chunk objects by external key from a chunk table. The result
    /// is aligned with `keys`; `None` for a key without an item.
    ///
    /// Batched as Cortex's `getDynamoDBChunks`: `BatchGetItem` with at most
    /// [`CHUNK_BATCH`] keys, new keys first and then keys an earlier answer
    /// left unprocessed. Unprocessed keys are the table throttling us, an
    /// answer rather than an error, so before the next request this waits
    /// under `base::retry` (Cortex retried them at once); the budget resets
    /// whenever an answer returns items, so only answers without progress in
    /// a row give up.
    pub async fn fetch_chunks(
        &self,
        table: &str,
        keys: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, DynamoError> {
        let mut unique: Vec<&str> = keys.iter().map(String::as_str).collect();
        unique.sort_unstable();
        unique.dedup();
        let mut outstanding = unique.into_iter();
        let mut unprocessed: Vec<String> = Vec::new();
        let mut found: HashMap<String, Vec<u8>> = HashMap::with_capacity(keys.len());
        let mut backoff = Backoff::new(self.retry);
        loop {
            let mut batch: Vec<String> = outstanding
                .by_ref()
                .take(CHUNK_BATCH)
                .map(str::to_string)
                .collect();
            let room = (CHUNK_BATCH - batch.len()).min(unprocessed.len());
            batch.extend(unprocessed.drain(..room));
            if batch.is_empty() {
                break;
            }
            let request = chunk_keys(table, &batch)?;
            self.limiter.acquire().await;
            let resp = self
                .client
                .batch_get_item()
                .request_items(table, request)
                .send()
                .await
                .map_err(|e| Self::err("BatchGetItem", table, e))?;
            let mut returned = 0usize;
            for item in resp
                .responses
                .unwrap_or_default()
                .remove(table)
                .unwrap_or_default()
            {
                match (item.get(HASH_KEY), item.get(VALUE_KEY)) {
                    (Some(AttributeValue::S(h)), Some(AttributeValue::B(c))) => {
                        found.insert(h.clone(), c.clone().into_inner());
                        returned += 1;
                    }
                    _ => {
                        return Err(DynamoError::Request {
                            op: "BatchGetItem",
                            table: table.to_string(),
                            reason: "an item without a string `h` and a binary `c`".into(),
                        })
                    }
                }
            }
            let left = resp
                .unprocessed_keys
                .unwrap_or_default()
                .remove(table)
                .map(|ka| ka.keys)
                .unwrap_or_default();
            if left.is_empty() {
                continue;
            }
            for key in left {
                match key.get(HASH_KEY) {
                    Some(AttributeValue::S(h)) => unprocessed.push(h.clone()),
                    _ => {
                        return Err(DynamoError::Request {
                            op: "BatchGetItem",
                            table: table.to_string(),
                            reason: "an unprocessed key without a string `h`".into(),
                        })
                    }
                }
            }
            if returned > 0 {
                backoff.reset();
            }
            if !backoff.wait().await {
                return Err(DynamoError::Unprocessed {
                    op: "BatchGetItem",
                    table: table.to_string(),
                    reason: format!("{} keys", unprocessed.len()),
                    attempts: backoff.attempt(),
                });
            }
        }
        Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
    }
}

/// The `BatchGetItem` request of `keys` in one chunk table: every chunk is
/// the item (`h` = key, `r` = [`CHUNK_RANGE_VALUE`]); only `h` and `c` come back.
fn chunk_keys(table: &str, keys: &[String]) -> Result<KeysAndAttributes, DynamoError> {
    let mut ka = KeysAndAttributes::builder().projection_expression("h, c");
    for k in keys {
        ka = ka.keys(HashMap::from([
            (HASH_KEY.to_string(), AttributeValue::S(k.clone())),
            (
                RANGE_KEY.to_string(),
                AttributeValue::B(Blob::new(CHUNK_RANGE_VALUE.to_vec())),
            ),
        ]));
    }
    ka.build()
        .map_err(|e| DynamoClient::err("BatchGetItem", table, e))
}

/// Pages of one parallel-scan segment.
pub struct SegmentScan {
    client: DynamoClient,
    table: String,
    segment: i32,
    total_segments: i32,
    start: Option<HashMap<String, AttributeValue>>,
    done: bool,
}

impl SegmentScan {
    /// The next page of `(h, r)` pairs; `None` when the segment is done.
    /// Items without a string `h` or binary `r` are not Cortex entries and
    /// are left out (counted in the second value).
    pub async fn next_page(&mut self) -> Result<Option<(ScanPage, u64)>, DynamoError> {
        if self.done {
            return Ok(None);
        }
        self.client.limiter.acquire().await;
        let resp = self
            .client
            .client
            .scan()
            .table_name(&self.table)
            .segment(self.segment)
            .total_segments(self.total_segments)
            .projection_expression("h, r")
            .set_exclusive_start_key(self.start.take())
            .send()
            .await
            .map_err(|e| DynamoClient::err("Scan", &self.table, e))?;
        self.start = resp.last_evaluated_key.filter(|k| !k.is_empty());
        self.done = self.start.is_none();
        let mut page = Vec::with_capacity(resp.items.as_ref().map_or(0, Vec::len));
        let mut odd = 0;
        for mut item in resp.items.unwrap_or_default() {
            match (item.remove(HASH_KEY), item.remove(RANGE_KEY)) {
                (Some(AttributeValue::S(h)), Some(AttributeValue::B(r))) => {
                    page.push((h, r.into_inner()))
                }
                _ => odd += 1,
            }
        }
        Ok(Some((page, odd)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cortex_urls() {
        assert_eq!(
            DynamoEndpoint::parse("dynamodb://us-west-2").unwrap(),
            DynamoEndpoint {
                endpoint: None,
                region: Some("us-west-2".into()),
                key: None
            }
        );
        assert_eq!(
            DynamoEndpoint::parse("http://AK:s%2Fecret@127.0.0.1:4566/ignored").unwrap(),
            DynamoEndpoint {
                endpoint: Some("http://127.0.0.1:4566".into()),
                region: None,
                key: Some(("AK".into(), "s/ecret".into()))
            }
        );
        assert_eq!(
            DynamoEndpoint::parse("dynamodb://k:s@eu-west-1")
                .unwrap()
                .key,
            Some(("k".into(), "s".into()))
        );
        let err = DynamoEndpoint::parse("ftp://k:secret@host")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not supported") && !err.contains("secret"),
            "{err}"
        );
        assert!(DynamoEndpoint::parse("dynamodb://").is_err());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
    }
}
