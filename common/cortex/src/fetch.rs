//! Fetching Cortex chunk objects from the chunk store of a schema period.
//!
//! Cortex's builder reads every chunk of a plan from the chunk client of the
//! schema period holding the plan's day: the period's `object_store`, or its
//! `store` when that is empty. Supported here: the filesystem object store
//! (file name = std base64 of the external key, under the config's
//! directory or `--chunks-dir`), S3 (key = external key; with several
//! buckets, `fnv32a(key) % n` picks one) and GCS (key = external key).
//! A missing object is reported as `None`, as Cortex's object clients do, so
//! the caller can count and skip it; transient failures (dropped
//! connections, 5xx answers) are retried under [`base::retry`]'s policy with
//! jittered backoff, and every other answer (permission denied, a key the
//! store refuses) fails at once. Decoding, and so a corrupt chunk, is the
//! caller's: a chunk is never fetched again for failing to decode.
//! Bigtable and DynamoDB chunk tables (table = `chunks.prefix` + period of
//! the chunk's start, row/hash key = the external key) are read in batches:
//! concurrent reads of one table share a request of up to 100 keys
//! (`batch`), as Cortex read them.
//!
//! Every read of every backend goes through the optional
//! [`FetchOptions::throttle`] (one request before, its bytes after), shared
//! by all fetchers of the process, so a campaign can cap its load on a
//! chunk store production still serves from.
//!
//! Decoding the fetched bytes is not done here ([`crate::decode_object`]).
//! It lives in this crate, not the builder's, so that `verify` reads the
//! chunk store through the same client without sharing the builder's merge.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod batch;

use self::batch::Batcher;
use crate::bigtable::{BigtableClient, BigtableOptions};
use crate::dynamodb::{DynamoClient, DynamoOptions};
use crate::{
    s3_bucket_index, AwsConfig, ChunkKey, ChunkStore, CortexConfig, IndexStore, PeriodConfig,
    SchemaConfig,
};
use base::retry::{Failed, RetryPolicy};
use base::throttle::Throttle;
use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::sync::Semaphore;

/// How chunk fetching behaves; defaults are Cortex's (§8.2 step 2).
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// Requests in flight at once (over all series of a plan): an object
    /// read each, or a chunk-table read of up to 100 rows.
    pub concurrency: usize,
    /// Retries of an object read that failed transiently, and the backoff
    /// between them. Chunk tables are retried by their clients instead.
    pub retry: RetryPolicy,
    /// Requests and bytes per second toward the chunk store, shared by
    /// every fetcher given the same `Arc`; `None` is unlimited.
    pub throttle: Option<Arc<Throttle>>,
    /// Read chunk objects from this store (named by their external key, as
    /// on S3 and GCS) instead of the chunk store the config names: for
    /// tests and benchmarks serving a store from memory or through a
    /// wrapper that adds latency or faults. `None` in the binary.
    pub objects: Option<Arc<dyn ObjectStore>>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            concurrency: 64,
            retry: RetryPolicy {
                retries: 5,
                min_backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(5),
            },
            throttle: None,
            objects: None,
        }
    }
}

/// Why chunks cannot be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The config has no schema period for the plan's day.
    #[error("no schema period covers day {day} (the first starts on day {first:?})")]
    NoPeriod {
        /// The plan's day (days since the epoch).
        day: i32,
        /// Day the first period starts on, if any.
        first: Option<i64>,
    },
    /// The period's chunk store is not one we can read, or is missing settings.
    #[error("chunk store {store:?} of the schema period from day {from_day}: {reason}")]
    Unsupported {
        /// The period's `object_store` (or `store`) as configured.
        store: String,
        /// Day the period starts on.
        from_day: i64,
        /// What is missing or unsupported.
        reason: String,
    },
    /// A fetcher used against its configuration (say, a local read of a bucket).
    #[error("chunk store configuration: {0}")]
    Config(String),
    /// A filesystem store's file cannot be read (other than not existing).
    #[error("chunk {key}: reading {file}: {source}")]
    File {
        /// External key of the chunk.
        key: String,
        /// The file it should be in.
        file: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An object store kept failing after the retries.
    #[error("chunk {key}: {store}: {source} (after {attempts} attempts)")]
    Store {
        /// External key of the chunk.
        key: String,
        /// Bucket URL.
        store: String,
        /// Attempts made, the first included.
        attempts: u32,
        /// The last error.
        #[source]
        source: object_store::Error,
    },
    /// The chunk's external key is not a valid object name.
    #[error("chunk {key}: cannot be an object name: {reason}")]
    BadKey {
        /// External key of the chunk.
        key: String,
        /// Why it is refused.
        reason: String,
    },
    /// A Bigtable or DynamoDB chunk table read failed.
    #[error("chunk {key}: reading {table}: {reason}")]
    Table {
        /// External key of the chunk.
        key: String,
        /// Store and table name.
        table: String,
        /// The client's error.
        reason: String,
    },
}

enum Backend {
    /// Directory of Cortex's filesystem object store.
    Filesystem(PathBuf),
    /// One or more buckets; S3 spreads keys over several by FNV-1a.
    Objects {
        kind: &'static str,
        names: Vec<String>,
        stores: Vec<Arc<dyn ObjectStore>>,
    },
    /// The chunk tables of the index store: table = `chunks.prefix` + period
    /// of the chunk's start, row/hash key = the external key.
    Tables {
        schema: SchemaConfig,
        tables: TableClient,
        /// Coalesces concurrent reads into one request per table (boxed: the
        /// variant is the largest already).
        batcher: Box<Batcher>,
    },
}

/// One batch request to a chunk table in flight: rows aligned with the keys.
type BatchRead<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Vec<Option<Bytes>>, String>> + Send + 'a>,
>;

enum TableClient {
    Bigtable(BigtableClient),
    /// The SDK client is made on first use: connecting is async.
    Dynamo(tokio::sync::OnceCell<DynamoClient>, DynamoOptions),
}

/// Reads chunk objects of one schema period's chunk store.
pub struct ChunkFetcher {
    backend: Backend,
    permits: Semaphore,
    opts: FetchOptions,
    /// Requests sent so far (see [`ChunkFetcher::requests`]).
    requests: AtomicU64,
}

impl std::fmt::Debug for ChunkFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl ChunkFetcher {
    /// The fetcher for the chunk store of the period holding `day`.
    /// `chunks_dir` replaces the filesystem store's directory.
    pub fn for_day(
        config: &CortexConfig,
        day: i32,
        chunks_dir: Option<&Path>,
        opts: FetchOptions,
    ) -> Result<Self, FetchError> {
        let period = config
            .schema
            .period_for_day(i64::from(day))
            .ok_or_else(|| FetchError::NoPeriod {
                day,
                first: config.schema.configs.first().map(|p| p.from_day),
            })?;
        let backend = match &opts.objects {
            Some(store) => objects_backend(Arc::clone(store)),
            None => backend_for(config, period, chunks_dir)?,
        };
        Ok(ChunkFetcher {
            backend,
            permits: Semaphore::new(opts.concurrency.max(1)),
            opts,
            requests: AtomicU64::new(0),
        })
    }

    /// A fetcher reading a filesystem chunk store in `dir`.
    pub fn filesystem(dir: &Path, opts: FetchOptions) -> Self {
        ChunkFetcher {
            backend: Backend::Filesystem(dir.to_path_buf()),
            permits: Semaphore::new(opts.concurrency.max(1)),
            opts,
            requests: AtomicU64::new(0),
        }
    }

    /// A fetcher reading chunk objects named by their external key from
    /// `store`, whatever a config would say (see [`FetchOptions::objects`]).
    pub fn objects(store: Arc<dyn ObjectStore>, opts: FetchOptions) -> Self {
        ChunkFetcher {
            backend: objects_backend(store),
            permits: Semaphore::new(opts.concurrency.max(1)),
            opts,
            requests: AtomicU64::new(0),
        }
    }

    /// Where chunks come from, for messages.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Filesystem(d) => format!("filesystem chunk store {}", d.display()),
            Backend::Objects { kind, names, .. } => {
                format!("{kind} chunk store {}", names.join(","))
            }
            Backend::Tables {
                tables: TableClient::Bigtable(_),
                ..
            } => "Bigtable chunk tables".into(),
            Backend::Tables {
                tables: TableClient::Dynamo(..),
                ..
            } => "DynamoDB chunk tables".into(),
        }
    }

    /// Whether reads are local file reads, which callers do on a blocking
    /// thread instead of through the async runtime. Not when throttled:
    /// the throttle waits asynchronously, so throttled local reads go
    /// through [`ChunkFetcher::fetch`].
    pub fn is_local(&self) -> bool {
        matches!(self.backend, Backend::Filesystem(_)) && self.opts.throttle.is_none()
    }

    /// Requests sent to the store so far: a file read, an object GET (each
    /// attempt), or one chunk-table batch (the table clients' own retries
    /// not counted). What a plan cost the store, beside its chunks fetched.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Counts a request about to be sent and waits for the throttle.
    async fn begin_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(t) = &self.opts.throttle {
            t.request().await;
        }
    }

    /// Pays for the bytes of a chunk just read.
    async fn throttle_bytes<T: AsRef<[u8]>>(&self, data: &Option<T>) {
        if let (Some(t), Some(d)) = (&self.opts.throttle, data) {
            t.bytes(d.as_ref().len() as u64).await;
        }
    }

    /// Reads one chunk from a local store; `None` if it does not exist.
    /// Blocking; only for [`ChunkFetcher::is_local`] fetchers.
    pub fn fetch_local(&self, key: &ChunkKey) -> Result<Option<Vec<u8>>, FetchError> {
        let Backend::Filesystem(dir) = &self.backend else {
            return Err(FetchError::Config(format!(
                "{} is not a local chunk store",
                self.describe()
            )));
        };
        let file = local_path(dir, key);
        self.requests.fetch_add(1, Ordering::Relaxed);
        match read_small_file(&file) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(FetchError::File {
                key: key.external_key(),
                file,
                source,
            }),
        }
    }

    /// Fetches one chunk; `None` if the store does not have it. Retries
    /// transient failures with backoff; at most `concurrency` requests run
    /// at once (a chunk table's request carries many keys).
    pub async fn fetch(&self, key: &ChunkKey) -> Result<Option<Bytes>, FetchError> {
        let permit = || async {
            self.permits
                .acquire()
                .await
                .map_err(|_| FetchError::Config("chunk fetcher closed".into()))
        };
        let (store, name, _permit) = match &self.backend {
            Backend::Tables {
                schema,
                tables,
                batcher,
            } => return self.fetch_from_table(schema, tables, batcher, key).await,
            Backend::Filesystem(_) => {
                let _permit = permit().await?;
                self.begin_request().await;
                let data = self.fetch_local_async(key).await?;
                self.throttle_bytes(&data).await;
                return Ok(data.map(Bytes::from));
            }
            Backend::Objects { names, stores, .. } => {
                let ext = key.external_key();
                let i = s3_bucket_index(&ext, stores.len()).unwrap_or(0);
                match (stores.get(i), names.get(i)) {
                    (Some(s), Some(n)) => (s.clone(), n.clone(), permit().await?),
                    _ => return Err(FetchError::Config("no bucket configured".into())),
                }
            }
        };
        let ext = key.external_key();
        let path = object_path(&ext).map_err(|reason| FetchError::BadKey {
            key: ext.clone(),
            reason,
        })?;
        let read = |_| async {
            self.begin_request().await;
            store.get(&path).await?.bytes().await
        };
        let on_retry = |e: &object_store::Error, attempt: u32, wait: Duration| {
            tracing::warn!(chunk = %ext, bucket = %name, attempt, error = %e, backoff = ?wait,
                "chunk fetch failed; retrying");
        };
        match self.opts.retry.run(is_transient, on_retry, read).await {
            Ok(b) => {
                let data = Some(b);
                self.throttle_bytes(&data).await;
                Ok(data)
            }
            Err(Failed {
                error: object_store::Error::NotFound { .. },
                ..
            }) => Ok(None),
            Err(Failed { error, attempts }) => Err(FetchError::Store {
                key: ext,
                store: name,
                attempts,
                source: error,
            }),
        }
    }

    /// One row of a chunk table, read in a batch with the reads of the same
    /// table in flight (see `batch`). A missing row is `None`, as for object
    /// stores: Cortex failed the whole plan on a missing Bigtable chunk, we
    /// count it and go on, so one lost chunk does not block a tenant-day.
    /// The clients retry transient errors themselves.
    async fn fetch_from_table(
        &self,
        schema: &SchemaConfig,
        tables: &TableClient,
        batcher: &Batcher,
        key: &ChunkKey,
    ) -> Result<Option<Bytes>, FetchError> {
        let ext = key.external_key();
        let period = schema.period_for_chunk(key.from).ok_or_else(|| {
            FetchError::Config(format!("chunk {ext}: no schema period holds its start"))
        })?;
        let table = period.chunk_table_for(key.from);
        let store = match tables {
            TableClient::Bigtable(_) => "Bigtable",
            TableClient::Dynamo(..) => "DynamoDB",
        };
        // Boxed: nested inside the builder's futures, the client's own
        // future types are too deep for the compiler to prove them `Send`.
        let read =
            |table, keys| -> BatchRead<'_> { Box::pin(self.read_table_batch(tables, table, keys)) };
        batcher
            .get(&self.permits, &table, &ext, read)
            .await
            .map_err(|reason| FetchError::Table {
                key: ext.clone(),
                table: format!("{store} table {table}"),
                reason,
            })
    }

    /// One batch request to a chunk table: one request and the batch's
    /// bytes toward the throttle. Rows are aligned with `keys`.
    async fn read_table_batch(
        &self,
        tables: &TableClient,
        table: String,
        keys: Vec<String>,
    ) -> Result<Vec<Option<Bytes>>, String> {
        self.begin_request().await;
        let rows = match tables {
            TableClient::Bigtable(c) => c
                .fetch_chunks(&table, &keys)
                .await
                .map_err(|e| e.to_string())?,
            TableClient::Dynamo(cell, opts) => {
                let client = cell
                    .get_or_try_init(|| DynamoClient::connect(opts))
                    .await
                    .map_err(|e| e.to_string())?;
                client
                    .fetch_chunks(&table, &keys)
                    .await
                    .map_err(|e| e.to_string())?
            }
        };
        let bytes: usize = rows.iter().flatten().map(Vec::len).sum();
        if let Some(t) = &self.opts.throttle {
            t.bytes(bytes as u64).await;
        }
        Ok(rows.into_iter().map(|r| r.map(Bytes::from)).collect())
    }

    async fn fetch_local_async(&self, key: &ChunkKey) -> Result<Option<Vec<u8>>, FetchError> {
        let Backend::Filesystem(dir) = &self.backend else {
            return Ok(None);
        };
        let file = local_path(dir, key);
        match tokio::fs::read(&file).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(FetchError::File {
                key: key.external_key(),
                file,
                source,
            }),
        }
    }
}

/// Whether an object read may succeed when asked again: object_store
/// reports dropped connections, timeouts and 5xx answers as `Generic`.
/// Its other errors are answers about the object (not found, permission
/// denied, unauthenticated, a bad path) that asking again cannot change.
fn is_transient(e: &object_store::Error) -> bool {
    matches!(
        e,
        object_store::Error::Generic { .. } | object_store::Error::JoinError { .. }
    )
}

/// The retry settings given to object_store's S3 and GCS clients: none, so
/// that [`FetchOptions::retry`] is the whole budget instead of multiplying
/// object_store's own retries.
fn store_retry_config() -> object_store::RetryConfig {
    object_store::RetryConfig {
        max_retries: 0,
        ..Default::default()
    }
}

/// Makes ring the process's TLS crypto provider before the first S3 or GCS
/// client is built: reqwest is built without a provider of its own (one
/// crypto stack, see the workspace Cargo.toml) and panics without one. A
/// provider installed earlier stays.
fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // An error means a provider is installed already, which is enough.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The object name of a chunk, checked segment by segment: the key comes
/// from a plan in the bucket, untrusted.
fn object_path(key: &str) -> Result<object_store::path::Path, String> {
    if key.split('/').any(|seg| seg.chars().any(char::is_control)) {
        return Err("control character".into());
    }
    object_store::path::Path::parse(key).map_err(|e| e.to_string())
}

/// The file of a chunk: Thanos' filesystem bucket joins the base64 name to
/// its root, so a `/` inside the name (base64 has them) makes subdirectories.
/// A whole file, read without asking its size first: chunk objects are a
/// few KiB, and a plan reads tens of thousands, so the `statx` that
/// `std::fs::read` spends on a size hint was a fifth of the system calls
/// of a local build. Open, read until a read returns nothing, close.
fn read_small_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 4 << 10];
    let mut n = 0;
    loop {
        if n == buf.len() {
            buf.resize(n * 2, 0);
        }
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    Ok(buf)
}

fn local_path(dir: &Path, key: &ChunkKey) -> PathBuf {
    let name = key.filesystem_name();
    dir.join(name.trim_start_matches('/'))
}

fn objects_backend(store: Arc<dyn ObjectStore>) -> Backend {
    Backend::Objects {
        kind: "object",
        names: vec![store.to_string()],
        stores: vec![store],
    }
}

fn backend_for(
    config: &CortexConfig,
    period: &PeriodConfig,
    chunks_dir: Option<&Path>,
) -> Result<Backend, FetchError> {
    let store_name = if period.object_store.is_empty() {
        period.store.clone()
    } else {
        period.object_store.clone()
    };
    let unsupported = |reason: String| FetchError::Unsupported {
        store: store_name.clone(),
        from_day: period.from_day,
        reason,
    };
    match period.chunk_store() {
        ChunkStore::Filesystem => {
            let dir = match (chunks_dir, &config.storage.filesystem) {
                (Some(d), _) => d.to_path_buf(),
                (None, Some(fs)) if !fs.directory.is_empty() => PathBuf::from(&fs.directory),
                _ => {
                    return Err(unsupported(
                        "no `storage.filesystem.directory` in the config and no --chunks-dir"
                            .into(),
                    ))
                }
            };
            if !dir.is_dir() {
                return Err(unsupported(format!("{} is not a directory", dir.display())));
            }
            Ok(Backend::Filesystem(dir))
        }
        ChunkStore::S3 => {
            let aws = config
                .storage
                .aws
                .as_ref()
                .ok_or_else(|| unsupported("no `storage.aws` section in the config".into()))?;
            s3_backend(aws).map_err(unsupported)
        }
        ChunkStore::Gcs => {
            let gcs = config
                .storage
                .gcs
                .as_ref()
                .filter(|g| !g.bucket_name.is_empty())
                .ok_or_else(|| unsupported("no `storage.gcs.bucket_name` in the config".into()))?;
            install_tls_provider();
            let store = GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(&gcs.bucket_name)
                .with_retry(store_retry_config())
                .build()
                .map_err(|e| unsupported(e.to_string()))?;
            Ok(Backend::Objects {
                kind: "gcs",
                names: vec![format!("gs://{}", gcs.bucket_name)],
                stores: vec![Arc::new(store)],
            })
        }
        ChunkStore::IndexStore(IndexStore::Bigtable(_)) => {
            let bt = config
                .storage
                .bigtable
                .as_ref()
                .filter(|b| !b.project.is_empty() && !b.instance.is_empty())
                .ok_or_else(|| {
                    unsupported("no `storage.bigtable.project`/`instance` in the config".into())
                })?;
            let client = BigtableClient::connect(&BigtableOptions::new(&bt.project, &bt.instance))
                .map_err(|e| unsupported(e.to_string()))?;
            Ok(Backend::Tables {
                schema: config.schema.clone(),
                tables: TableClient::Bigtable(client),
                batcher: Box::new(Batcher::new(crate::bigtable::CHUNK_BATCH)),
            })
        }
        ChunkStore::IndexStore(IndexStore::DynamoDb) => {
            let url = config
                .storage
                .aws
                .as_ref()
                .and_then(|a| a.dynamodb.dynamodb_url.clone());
            Ok(Backend::Tables {
                schema: config.schema.clone(),
                tables: TableClient::Dynamo(
                    tokio::sync::OnceCell::new(),
                    DynamoOptions {
                        url,
                        ..DynamoOptions::default()
                    },
                ),
                batcher: Box::new(Batcher::new(crate::dynamodb::CHUNK_BATCH)),
            })
        }
        ChunkStore::IndexStore(other) => Err(unsupported(format!(
            "chunks in {other:?} chunk tables are not supported"
        ))),
        ChunkStore::Other(o) => Err(unsupported(format!("unknown chunk store {o:?}"))),
    }
}

/// S3 stores from Cortex's `aws` section: `s3` is `s3://region/bucket[,bucket]`
/// or `http(s)://key:secret@host:port/bucket[,bucket]` (an endpoint, as
/// emulators use); `bucketnames` overrides the buckets. The usual AWS
/// variables (`AWS_ENDPOINT_URL`, credentials, region) fill what the URL
/// leaves out.
fn s3_backend(aws: &AwsConfig) -> Result<Backend, String> {
    let buckets = aws.buckets();
    if buckets.is_empty() {
        return Err("no S3 bucket in `storage.aws.s3` or `bucketnames`".into());
    }
    install_tls_provider();
    let mut base = AmazonS3Builder::from_env().with_retry(store_retry_config());
    if std::env::var("AWS_DEFAULT_REGION").is_err() && std::env::var("AWS_REGION").is_err() {
        base = base.with_region("us-east-1");
    }
    if let Some(s3) = aws.s3.as_deref().filter(|s| !s.is_empty()) {
        let url = url::Url::parse(s3).map_err(|e| format!("`storage.aws.s3` {s3:?}: {e}"))?;
        match url.scheme() {
            "s3" => {
                if let Some(host) = url.host_str().filter(|h| !h.contains('.')) {
                    base = base.with_region(host);
                }
            }
            "http" | "https" => {
                let host = url
                    .host_str()
                    .ok_or_else(|| format!("`storage.aws.s3` {s3:?} has no host"))?;
                let endpoint = match url.port() {
                    Some(p) => format!("{}://{host}:{p}", url.scheme()),
                    None => format!("{}://{host}", url.scheme()),
                };
                base = base
                    .with_endpoint(endpoint)
                    .with_allow_http(url.scheme() == "http");
                if !url.username().is_empty() {
                    base = base
                        .with_access_key_id(percent_decode(url.username()))
                        .with_secret_access_key(percent_decode(url.password().unwrap_or("")));
                }
            }
            other => {
                return Err(format!(
                    "`storage.aws.s3` scheme {other:?} is not supported"
                ))
            }
        }
    }
    base = base.with_virtual_hosted_style_request(!aws.s3forcepathstyle);
    let mut stores: Vec<Arc<dyn ObjectStore>> = Vec::with_capacity(buckets.len());
    for b in &buckets {
        let store = base
            .clone()
            .with_bucket_name(b)
            .build()
            .map_err(|e| format!("bucket {b}: {e}"))?;
        stores.push(Arc::new(store));
    }
    Ok(Backend::Objects {
        kind: "s3",
        names: buckets.iter().map(|b| format!("s3://{b}")).collect(),
        stores,
    })
}

/// Decodes `%XX` escapes (keys and secrets in Cortex's S3 URL are escaped).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
