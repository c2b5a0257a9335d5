//! One small handle on the object storage every worker shares.
//!
//! Workers coordinate only through the bucket, so the handful of operations
//! they need (read, write, create-if-absent, conditional update, list,
//! delete, upload and download of large files) are gathered here over
//! [`object_store`], with errors that name the bucket and the key.
//!
//! Keys are `/`-separated paths relative to the bucket URL's own prefix.
//! They are checked before use: no empty, `.` or `..` segments, no control
//! characters, so a name read from the bucket can never address anything
//! outside it.
//!
//! Every operation is throttled, timed out per attempt and retried with
//! backoff while its failure is transient ([`BucketOptions`], `retry.rs`);
//! conditional writes take extra care under retries (`conditional.rs`), and
//! large transfers never leave a partial object (`transfer.rs`). Tests slide
//! a failing store underneath with [`Bucket::map_store`].
//!
//! Not here: what the keys mean (see [`crate::names`]).

mod conditional;
mod listing;
mod retry;
mod transfer;

pub use base::retry::RetryPolicy;
pub use base::throttle::Throttle;
pub use retry::BucketOptions;

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use retry::Failure;

/// A bucket operation that failed for good, naming the bucket, the operation and the key.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    /// A bucket URL that cannot be opened.
    #[error("bucket URL {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A key the store cannot take (empty segment, `..`, bad characters).
    #[error("bad object key {key:?}: {reason}")]
    BadKey {
        /// The key as given.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    // The store's and the file system's errors are part of the message,
    // not a `source`: printed as a chain they would appear twice.
    /// The store answered with an error (after the retries it allows).
    #[error("{bucket}: {op} {key}: {error}{}", after(*attempts))]
    Store {
        /// URL of the bucket.
        bucket: String,
        /// What was attempted: `get`, `put`, `list`, `head`, `delete`…
        op: &'static str,
        /// The key, relative to the bucket.
        key: String,
        /// Attempts made, retries included.
        attempts: u32,
        /// The last attempt's error.
        error: Box<object_store::Error>,
    },
    /// The store could not get credentials and none are configured: one
    /// line naming what to set, not a metadata endpoint's raw answer.
    #[error(
        "{bucket}: no credentials: set {vars} (see README, \"Buckets\"); the client said: {error}"
    )]
    NoCredentials {
        /// URL of the bucket.
        bucket: String,
        /// The environment variables that would configure them.
        vars: &'static str,
        /// The store's error, for the curious.
        error: String,
    },
    /// No attempt got an answer within the per-attempt timeout.
    #[error("{bucket}: {op} {key}: no answer within {timeout:?}{}", after(*attempts))]
    Timeout {
        /// URL of the bucket.
        bucket: String,
        /// What was attempted.
        op: &'static str,
        /// The key, relative to the bucket.
        key: String,
        /// The per-attempt limit that ran out.
        timeout: Duration,
        /// Attempts made, retries included.
        attempts: u32,
    },
    /// Reading or writing the local side of a transfer failed.
    #[error("{bucket}: {op} {key}: local file {file}: {error}")]
    Io {
        /// URL of the bucket.
        bucket: String,
        /// What was attempted.
        op: &'static str,
        /// The key, relative to the bucket.
        key: String,
        /// The local file uploaded or downloaded.
        file: PathBuf,
        /// What the file system said.
        error: std::io::Error,
    },
}

impl BucketError {
    /// True when the store said the object is not there.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            BucketError::Store { error, .. } if matches!(**error, object_store::Error::NotFound { .. })
        )
    }

    /// True when the failure may go away by itself (a timeout, a dropped
    /// connection, a 5xx answer), even though this call's retries are spent.
    pub fn is_transient(&self) -> bool {
        match self {
            BucketError::Store { error, .. } => retry::is_transient(error),
            BucketError::Timeout { .. } => true,
            _ => false,
        }
    }
}

fn after(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

/// Results of bucket operations.
pub type Result<T, E = BucketError> = std::result::Result<T, E>;

/// What kind of store a bucket is; the local kind matters for conditional
/// updates, which a plain directory cannot do atomically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BucketKind {
    /// A directory on this machine (canonical path).
    Local(PathBuf),
    /// Amazon S3 or an S3-compatible store.
    S3,
    /// Google Cloud Storage.
    Gcs,
    /// In this process only; for tests.
    Memory,
}

/// An object as listed: key relative to the bucket, size and mtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Relative to the bucket URL, `/`-separated.
    pub key: String,
    /// Bytes.
    pub size: u64,
    /// When the store last wrote it: the heartbeat of a progress file.
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

/// Opaque version of an object for conditional updates (ETag/generation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// S3's ETag (also what local and in-memory stores give).
    pub e_tag: Option<String>,
    /// GCS's generation, where the store has one.
    pub version: Option<String>,
}

/// A handle on one bucket (or prefix of one) with its retries, timeouts and rate limits; cheap to clone, clones share the throttle.
#[derive(Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    url: String,
    kind: BucketKind,
    opts: BucketOptions,
    /// False once [`Bucket::map_store`] slid another store underneath:
    /// then nothing bypasses `store` (see `listing.rs`).
    own_store: bool,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

impl Bucket {
    /// Opens `file:///abs/dir` or a plain path (created if missing),
    /// `s3://bucket[/prefix]` (AWS variables; `AWS_ENDPOINT_URL` honoured),
    /// `gs://bucket[/prefix]` (Google variables) or `memory://`.
    /// Default [`BucketOptions`]: see [`Bucket::open_with`].
    pub fn open(url: &str) -> Result<Self> {
        Self::open_with(url, BucketOptions::default())
    }

    /// [`Bucket::open`] with its retries, timeouts and limits.
    pub fn open_with(url: &str, opts: BucketOptions) -> Result<Self> {
        Ok(Self::open_store(url)?.with_options(opts))
    }

    /// The same bucket with other retries, timeouts and limits.
    pub fn with_options(self, opts: BucketOptions) -> Self {
        Bucket { opts, ..self }
    }

    /// The retries, timeouts and limits every operation of this handle uses.
    pub fn options(&self) -> &BucketOptions {
        &self.opts
    }

    /// The same bucket (URL, kind, options) over the store `f` makes of
    /// this one's: how tests slide a failing store underneath.
    pub fn map_store(self, f: impl FnOnce(Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore>) -> Self {
        Bucket {
            store: f(self.store),
            own_store: false,
            ..self
        }
    }

    /// [`Bucket::open_with`] for readers (`status`, `verify`, `build`):
    /// a local bucket must already exist, since creating an empty one would
    /// hide a mistyped path behind "nothing to do".
    pub fn open_existing_with(url: &str, opts: BucketOptions) -> Result<Self> {
        if let Location::Local(dir) = parse_location(url)? {
            if !dir.is_dir() {
                return Err(BucketError::BadUrl {
                    url: url.to_string(),
                    reason: format!(
                        "no bucket directory at {} (a reader never creates one; check the path)",
                        absolute(&dir).display()
                    ),
                });
            }
        }
        Self::open_with(url, opts)
    }

    fn open_store(url: &str) -> Result<Self> {
        let bad = |reason: String| BucketError::BadUrl {
            url: url.to_string(),
            reason,
        };
        if let Location::Local(dir) = parse_location(url)? {
            return Self::local(&dir).map_err(|e| bad(e.to_string()));
        }
        if url == "memory://" || url.starts_with("memory://") {
            return Ok(Bucket {
                store: Arc::new(InMemory::new()),
                url: url.to_string(),
                kind: BucketKind::Memory,
                opts: BucketOptions::default(),
                own_store: true,
            });
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            install_tls_provider();
            let (bucket, prefix) = split_bucket(rest);
            let mut b = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry::store_retry_config());
            if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
                b = b.with_endpoint(&endpoint);
                if endpoint.starts_with("http://") {
                    b = b.with_allow_http(true);
                }
            }
            if std::env::var("AWS_DEFAULT_REGION").is_err() && std::env::var("AWS_REGION").is_err()
            {
                b = b.with_region("us-east-1");
            } else if let Ok(region) = std::env::var("AWS_REGION") {
                b = b.with_region(region);
            }
            let store = b.build().map_err(|e| bad(e.to_string()))?;
            return Ok(Self::with_prefix(
                Arc::new(store),
                prefix,
                url,
                BucketKind::S3,
            ));
        }
        if let Some(rest) = url.strip_prefix("gs://") {
            install_tls_provider();
            let (bucket, prefix) = split_bucket(rest);
            let store = GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry::store_retry_config())
                .build()
                .map_err(|e| bad(e.to_string()))?;
            return Ok(Self::with_prefix(
                Arc::new(store),
                prefix,
                url,
                BucketKind::Gcs,
            ));
        }
        Err(bad(format!("unknown scheme; {VALID_FORMS}")))
    }

    /// A bucket over a local directory, created if missing.
    pub fn local(dir: &FsPath) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let dir = std::fs::canonicalize(dir)?;
        let store = LocalFileSystem::new_with_prefix(&dir)
            .map_err(std::io::Error::other)?
            .with_automatic_cleanup(true);
        Ok(Bucket {
            store: Arc::new(store),
            url: format!("file://{}", dir.display()),
            kind: BucketKind::Local(dir),
            opts: BucketOptions::default(),
            own_store: true,
        })
    }

    fn with_prefix(store: Arc<dyn ObjectStore>, prefix: &str, url: &str, kind: BucketKind) -> Self {
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            store
        } else {
            Arc::new(PrefixStore::new(store, prefix))
        };
        Bucket {
            store,
            url: url.trim_end_matches('/').to_string(),
            kind,
            opts: BucketOptions::default(),
            own_store: true,
        }
    }

    /// The URL it was opened with, without a trailing `/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What kind of store this is.
    pub fn kind(&self) -> &BucketKind {
        &self.kind
    }

    /// The directory of a local bucket, where blocks can be read in place.
    pub fn local_dir(&self) -> Option<&FsPath> {
        match &self.kind {
            BucketKind::Local(d) => Some(d),
            _ => None,
        }
    }

    /// The URL of a key, for messages and for plan entries naming objects.
    pub fn key_url(&self, key: &str) -> String {
        format!("{}/{}", self.url, key)
    }

    fn io_err(&self, op: &'static str, key: &str, file: &FsPath, e: std::io::Error) -> BucketError {
        BucketError::Io {
            bucket: self.url.clone(),
            op,
            key: key.to_string(),
            file: file.to_path_buf(),
            error: e,
        }
    }

    /// Refuses a key of a local bucket whose file is reached through a
    /// symlink leading out of the bucket's directory: `LocalFileSystem`
    /// follows symlinks, and a planted link would read another tenant's or
    /// the host's files. A missing file passes (the store says not found).
    fn confine_local(&self, key: &str) -> Result<()> {
        let BucketKind::Local(dir) = &self.kind else {
            return Ok(());
        };
        match std::fs::canonicalize(dir.join(key)) {
            Ok(real) if !real.starts_with(dir) => Err(BucketError::BadKey {
                key: key.to_string(),
                reason: format!(
                    "a symlink leads out of the bucket {} (to {}): not followed",
                    dir.display(),
                    real.display()
                ),
            }),
            _ => Ok(()),
        }
    }

    /// The whole object; a missing one is an error ([`Bucket::get_opt`] is not).
    pub async fn get(&self, key: &str) -> Result<Bytes> {
        let path = parse_key(key)?;
        self.confine_local(key)?;
        self.retrying("get", key, |_| async {
            let r = self.request(0, self.store.get(&path)).await?;
            self.read_body(r).await
        })
        .await
    }

    /// Like [`Bucket::get`], with `None` for a missing object.
    pub async fn get_opt(&self, key: &str) -> Result<Option<Bytes>> {
        match self.get(key).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The object's content and version, for a later conditional update.
    pub async fn get_versioned(&self, key: &str) -> Result<Option<(Bytes, Version)>> {
        let path = parse_key(key)?;
        self.confine_local(key)?;
        self.retrying("get", key, |_| async {
            let r = match self.request(0, self.store.get(&path)).await {
                Ok(r) => r,
                Err(Failure::Store(object_store::Error::NotFound { .. })) => return Ok(None),
                Err(f) => return Err(f),
            };
            let version = Version {
                e_tag: r.meta.e_tag.clone(),
                version: r.meta.version.clone(),
            };
            Ok(Some((self.read_body(r).await?, version)))
        })
        .await
    }

    /// Whether the object is there (a HEAD request).
    pub async fn exists(&self, key: &str) -> Result<bool> {
        let path = parse_key(key)?;
        self.retrying("head", key, |_| async {
            match self.request(0, self.store.head(&path)).await {
                Ok(_) => Ok(true),
                Err(Failure::Store(object_store::Error::NotFound { .. })) => Ok(false),
                Err(f) => Err(f),
            }
        })
        .await
    }

    /// Writes the object whole, replacing any; retried as a whole.
    pub async fn put(&self, key: &str, data: impl Into<Bytes>) -> Result<()> {
        let path = parse_key(key)?;
        self.put_as("put", key, &path, data.into()).await
    }

    /// A plain put, retried as such: writing the same bytes twice is
    /// harmless.
    async fn put_as(&self, op: &'static str, key: &str, path: &Path, data: Bytes) -> Result<()> {
        self.retrying(op, key, |_| async {
            let payload = PutPayload::from_bytes(data.clone());
            self.request(data.len() as u64, self.store.put(path, payload))
                .await
                .map(drop)
        })
        .await
    }

    /// Deletes the object; a missing object is not an error (nor is one
    /// that an attempt reported as failed had already deleted).
    pub async fn delete(&self, key: &str) -> Result<()> {
        let path = parse_key(key)?;
        self.retrying("delete", key, |_| async {
            match self.request(0, self.store.delete(&path)).await {
                Ok(()) | Err(Failure::Store(object_store::Error::NotFound { .. })) => Ok(()),
                Err(f) => Err(f),
            }
        })
        .await
    }

    /// Deletes every object under `prefix` (a directory-like key).
    pub async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        for o in self.list(prefix).await? {
            self.delete(&o.key).await?;
        }
        Ok(())
    }

    /// Every object under `prefix`, recursively, sorted by key. A listing
    /// that fails halfway starts over: stores do not all list in key order,
    /// so there is no safe place to resume from.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let p = parse_prefix(prefix)?;
        let mut out = self
            .retrying("list", prefix, |_| async {
                if let Some(t) = &self.opts.throttle {
                    t.request().await;
                }
                let mut stream = self.store.list(p.as_ref());
                let mut out = Vec::new();
                loop {
                    match self.next_item(&mut stream).await {
                        Ok(Some(m)) => out.push(object_info(m)),
                        Ok(None) => break,
                        // One object whose name is not a valid key (a control
                        // character planted by hand) must not stop every
                        // worker's listing: it is skipped and reported.
                        Err(Failure::Store(e @ object_store::Error::InvalidPath { .. })) => {
                            let what = e.to_string().escape_debug().to_string();
                            tracing::warn!(bucket = %self.url, prefix, error = %what, "skipping an object whose name is not a valid key");
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(out)
            })
            .await?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// The direct children of `prefix`: sub-directory names and objects.
    pub async fn list_dir(&self, prefix: &str) -> Result<(Vec<String>, Vec<ObjectInfo>)> {
        let p = parse_prefix(prefix)?;
        let r = self
            .retrying("list", prefix, |_| {
                self.request(0, self.store.list_with_delimiter(p.as_ref()))
            })
            .await?;
        let mut dirs: Vec<String> = r
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        dirs.sort();
        let mut objects: Vec<ObjectInfo> = r.objects.into_iter().map(object_info).collect();
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok((dirs, objects))
    }
}

/// Makes ring the process's TLS crypto provider before the first S3 or GCS
/// client is built: reqwest is built without a provider of its own (one
/// crypto stack, see the workspace Cargo.toml) and panics without one. Here
/// rather than in `main` so that every caller, tests included, gets it; a
/// provider installed earlier stays.
fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // An error means a provider is installed already, which is enough.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Named in every bucket URL error, so a typo shows what was meant.
const VALID_FORMS: &str = "valid forms: a local path, file:///abs/dir, s3://bucket[/prefix], \
gs://bucket[/prefix], memory://";

/// Scheme names people type for object stores: a local path starting with
/// one of these followed by `//` (`s3//b`) is a URL missing its colon.
const SCHEME_LIKE: &[&str] = &[
    "s3", "s3a", "s3n", "gs", "gcs", "file", "memory", "http", "https", "az", "azure", "abfs",
    "hdfs", "minio",
];

/// Where a bucket URL points, decided from its text alone.
#[derive(Debug, PartialEq, Eq)]
enum Location {
    /// A directory on this machine (not yet checked or created).
    Local(PathBuf),
    /// `s3://`, `gs://` or `memory://`, spelled exactly so.
    Remote,
}

/// Parses strictly: only the exact lowercase schemes are URLs, anything
/// else that looks like one (`S3://b`, `s3:/b`, `s3//b`, `gcs://b`) is an
/// error rather than a local directory of that odd name.
fn parse_location(url: &str) -> Result<Location> {
    let bad = |reason: String| BucketError::BadUrl {
        url: url.to_string(),
        reason,
    };
    if url.is_empty() {
        return Err(bad(format!("empty; {VALID_FORMS}")));
    }
    if ["s3://", "gs://", "memory://"]
        .iter()
        .any(|s| url.starts_with(s))
    {
        return Ok(Location::Remote);
    }
    if let Some(p) = url.strip_prefix("file://") {
        if !p.starts_with('/') {
            return Err(bad(format!(
                "file:// URLs need an absolute path; {VALID_FORMS}"
            )));
        }
        return Ok(Location::Local(PathBuf::from(p)));
    }
    let first = url.split('/').next().unwrap_or_default();
    if let Some((scheme, _)) = first.split_once(':') {
        return Err(bad(format!("unknown scheme {scheme:?}; {VALID_FORMS}")));
    }
    if url[first.len()..].starts_with("//") && SCHEME_LIKE.contains(&first.to_lowercase().as_str())
    {
        return Err(bad(format!(
            "looks like a URL without its colon (write ./{url} for a local directory); {VALID_FORMS}"
        )));
    }
    Ok(Location::Local(PathBuf::from(url)))
}

/// `dir` made absolute against the current directory, for messages.
fn absolute(dir: &FsPath) -> PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

fn split_bucket(rest: &str) -> (&str, &str) {
    match rest.split_once('/') {
        Some((b, p)) => (b, p.trim_matches('/')),
        None => (rest, ""),
    }
}

fn object_info(m: object_store::ObjectMeta) -> ObjectInfo {
    ObjectInfo {
        key: m.location.to_string(),
        size: m.size,
        last_modified: m.last_modified,
    }
}

/// Checks a key segment by segment: object keys come from tenant IDs and
/// from listings, both untrusted.
pub fn parse_key(key: &str) -> Result<Path> {
    let bad = |reason: &str| BucketError::BadKey {
        key: key.to_string(),
        reason: reason.to_string(),
    };
    if key.is_empty() {
        return Err(bad("empty"));
    }
    if key.len() > 1024 {
        return Err(bad("longer than 1024 bytes"));
    }
    for seg in key.split('/') {
        match seg {
            "" => return Err(bad("empty path segment")),
            "." | ".." => return Err(bad("relative path segment")),
            s if s.chars().any(char::is_control) => return Err(bad("control character")),
            _ => {}
        }
    }
    Path::parse(key).map_err(|e| bad(&e.to_string()))
}

fn parse_prefix(prefix: &str) -> Result<Option<Path>> {
    let p = prefix.trim_end_matches('/');
    if p.is_empty() {
        Ok(None)
    } else {
        parse_key(p).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape() {
        for k in ["../x", "a/../b", "a//b", "/a", "a/", "a/./b", "a\nb", ""] {
            assert!(parse_key(k).is_err(), "{k:?} accepted");
        }
        assert!(parse_key("migration/team_b.prod/20773.plan.snappy").is_ok());
    }

    #[test]
    fn url_like_typos_are_errors_not_directories() {
        for u in [
            "s3:/b",
            "s3//b",
            "S3://b",
            "gcs://b",
            "Gs://b",
            "http://h/b",
            "s3:b",
            "",
        ] {
            let e = parse_location(u).expect_err(u).to_string();
            assert!(e.contains("valid forms"), "{u:?}: {e}");
        }
        for (u, dir) in [
            ("./s3//b", "./s3//b"),
            ("out/blocks", "out/blocks"),
            ("file:///x", "/x"),
        ] {
            assert_eq!(parse_location(u).unwrap(), Location::Local(dir.into()));
        }
        assert_eq!(parse_location("s3://b/p").unwrap(), Location::Remote);
    }

    #[test]
    fn readers_do_not_create_buckets() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let e = Bucket::open_existing_with(missing.to_str().unwrap(), BucketOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no bucket directory"), "{e}");
        assert!(!missing.exists());
        let b = Bucket::open_existing_with(dir.path().to_str().unwrap(), BucketOptions::default())
            .unwrap();
        assert!(b.url().starts_with("file:///"), "{}", b.url());
    }

    #[tokio::test]
    async fn local_create_if_absent_and_list() {
        let dir = tempfile::tempdir().unwrap();
        let b = Bucket::open(dir.path().to_str().unwrap()).unwrap();
        assert!(b
            .create_if_absent("p/t/1.progress", "a")
            .await
            .unwrap()
            .is_some());
        assert!(b
            .create_if_absent("p/t/1.progress", "b")
            .await
            .unwrap()
            .is_none());
        assert_eq!(b.get("p/t/1.progress").await.unwrap().as_ref(), b"a");
        b.put("p/t/1.plan", "x").await.unwrap();
        let (dirs, objs) = b.list_dir("p").await.unwrap();
        assert_eq!(dirs, vec!["t".to_string()]);
        assert!(objs.is_empty());
        let all = b.list("p/t").await.unwrap();
        assert_eq!(all.len(), 2);
        b.delete("p/t/1.plan").await.unwrap();
        b.delete("p/t/1.plan").await.unwrap();
        assert!(b.get_opt("p/t/1.plan").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn large_upload_and_download_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let b = Bucket::open(&format!("file://{}", dir.path().join("bkt").display())).unwrap();
        let src = dir.path().join("src");
        let data: Vec<u8> = (0..(transfer::MULTIPART_THRESHOLD as usize + 12345))
            .map(|i| (i * 7) as u8)
            .collect();
        std::fs::write(&src, &data).unwrap();
        b.upload_file("t/blk/chunks/000001", &src).await.unwrap();
        let dst = dir.path().join("dst");
        let n = b.download_file("t/blk/chunks/000001", &dst).await.unwrap();
        assert_eq!(n as usize, data.len());
        assert_eq!(std::fs::read(&dst).unwrap(), data);
    }

    #[tokio::test]
    async fn symlinks_out_of_a_local_bucket_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret"), b"other tenant").unwrap();
        std::fs::write(dir.path().join("inside"), b"fine").unwrap();
        let b = Bucket::local(&dir.path().join("bucket")).unwrap();
        let root = b.local_dir().unwrap().to_path_buf();
        std::os::unix::fs::symlink(outside.join("secret"), root.join("leak")).unwrap();
        std::fs::create_dir_all(root.join("t")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("t/dir")).unwrap();
        std::fs::write(root.join("real"), b"ok").unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("alias")).unwrap();
        for key in ["leak", "t/dir/secret"] {
            let err = b.get(key).await.unwrap_err().to_string();
            assert!(err.contains(key) && err.contains("symlink"), "{err}");
            let dst = dir.path().join("dst");
            let err = b.download_file(key, &dst).await.unwrap_err().to_string();
            assert!(err.contains(key) && err.contains("symlink"), "{err}");
            assert!(!dst.exists());
            assert!(b.get_versioned(key).await.is_err());
        }
        // A link that stays inside the bucket is an ordinary object.
        assert_eq!(&b.get("alias").await.unwrap()[..], b"ok");
    }
}

#[cfg(test)]
mod fault_tests;
