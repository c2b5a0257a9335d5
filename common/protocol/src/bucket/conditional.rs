//! Conditional writes (create-if-absent, update-if-version) under retries.
//!
//! Retrying a conditional write is not like retrying a plain one. When an
//! attempt fails ambiguously (a timeout, a dropped connection: the request
//! may have landed) and the next attempt is refused because the object
//! exists or changed, the refusal may be about our own first write. So
//! after an ambiguous failure a refusal is checked by reading the object
//! back: the same bytes we wrote mean the write was ours and succeeded
//! (returned with the version read); anything else is a real conflict.
//!
//! The bytes decide: callers write records naming the writer and a time
//! (progress and attempt files), so another writer's object never has the
//! same bytes as ours.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use object_store::{PutMode, PutOptions, PutPayload, UpdateVersion};
use tracing::info;

use super::retry::Failure;
use super::{parse_key, Bucket, Result, Version};

/// What a conditional write found, retries done.
enum Written {
    Done(Version),
    /// Refused: the object exists (create) or changed (update).
    Refused,
    /// Update only: the object is gone.
    Gone,
}

impl Bucket {
    /// Creates the object only if no object has the key: S3 `If-None-Match`,
    /// GCS generation 0, a hard link on a local directory. Returns the new
    /// version, or `None` when someone else holds the key.
    pub async fn create_if_absent(
        &self,
        key: &str,
        data: impl Into<Bytes>,
    ) -> Result<Option<Version>> {
        let path = parse_key(key)?;
        let data: Bytes = data.into();
        let ambiguous = AtomicBool::new(false);
        let written = self
            .retrying("create", key, |_| async {
                let opts = PutOptions::from(PutMode::Create);
                let payload = PutPayload::from_bytes(data.clone());
                let r = self.store.put_opts(&path, payload, opts);
                match self.request(data.len() as u64, r).await {
                    Ok(r) => Ok(Written::Done(Version {
                        e_tag: r.e_tag,
                        version: r.version,
                    })),
                    Err(Failure::Store(
                        object_store::Error::AlreadyExists { .. }
                        | object_store::Error::Precondition { .. },
                    )) => Ok(Written::Refused),
                    Err(f) => {
                        ambiguous.fetch_or(f.is_transient(), Ordering::Relaxed);
                        Err(f)
                    }
                }
            })
            .await?;
        self.settle("create", key, &data, written, ambiguous.into_inner())
            .await
    }

    /// Replaces the object only while it is still at `version`. Returns the
    /// new version, or `None` when it changed or vanished. Stores without
    /// conditional updates (a local directory) return `Err` with
    /// `NotImplemented`; callers fall back to read-and-compare.
    pub async fn update_if_version(
        &self,
        key: &str,
        data: impl Into<Bytes>,
        version: &Version,
    ) -> Result<Option<Version>> {
        let path = parse_key(key)?;
        let data: Bytes = data.into();
        let ambiguous = AtomicBool::new(false);
        let written = self
            .retrying("update", key, |_| async {
                let opts = PutOptions::from(PutMode::Update(UpdateVersion {
                    e_tag: version.e_tag.clone(),
                    version: version.version.clone(),
                }));
                let payload = PutPayload::from_bytes(data.clone());
                let r = self.store.put_opts(&path, payload, opts);
                match self.request(data.len() as u64, r).await {
                    Ok(r) => Ok(Written::Done(Version {
                        e_tag: r.e_tag,
                        version: r.version,
                    })),
                    Err(Failure::Store(object_store::Error::Precondition { .. })) => {
                        Ok(Written::Refused)
                    }
                    Err(Failure::Store(object_store::Error::NotFound { .. })) => Ok(Written::Gone),
                    Err(f) => {
                        ambiguous.fetch_or(f.is_transient(), Ordering::Relaxed);
                        Err(f)
                    }
                }
            })
            .await?;
        self.settle("update", key, &data, written, ambiguous.into_inner())
            .await
    }

    /// Turns a refusal that may be about our own landed write into success.
    async fn settle(
        &self,
        op: &'static str,
        key: &str,
        data: &Bytes,
        written: Written,
        ambiguous: bool,
    ) -> Result<Option<Version>> {
        match written {
            Written::Done(v) => Ok(Some(v)),
            Written::Gone => Ok(None),
            Written::Refused if !ambiguous => Ok(None),
            Written::Refused => match self.get_versioned(key).await? {
                Some((bytes, v)) if bytes == *data => {
                    info!(bucket = %self.url, op, key,
                        "an attempt reported as failed had landed; the object is ours");
                    Ok(Some(v))
                }
                _ => Ok(None),
            },
        }
    }
}
