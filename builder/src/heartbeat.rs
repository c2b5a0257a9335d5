//! Keeping a claim alive, and knowing the moment it is lost.
//!
//! A builder owns a plan as long as the plan's progress file is the one it
//! wrote. The [`Lease`] rewrites that file every heartbeat period so the
//! scheduler sees the builder alive, and fences every rewrite:
//!
//! - On stores with conditional updates (S3 `If-Match`, GCS generation
//!   match, the in-memory store) the rewrite only succeeds while the file
//!   is still at the version this builder last wrote. Any other writer in
//!   between (the scheduler deleting it as stale, another builder claiming
//!   it afresh) makes the update fail, and the lease is lost.
//! - On a local directory, which has no conditional update, the lease
//!   re-reads the file and compares builder, start time and block before
//!   writing. **Race window:** if the scheduler deletes the file and another
//!   builder claims the plan between that read and the write, this builder
//!   overwrites the other's progress file for one period. The other builder
//!   then finds its claim gone at its next heartbeat and stops; this one
//!   goes on. The plan is built once, by the first builder, but the
//!   interrupted claim leaves an attempt file whose block (never published:
//!   its builder checks ownership before uploading meta.json) is removed by
//!   the next attempt. The window is one read-to-write gap, milliseconds, and
//!   needs a stale takeover to land exactly in it.
//!
//! Independently of the store, [`Lease::still_mine`] re-reads the file; the
//! builder calls it right before it uploads meta.json and before it writes
//! the finished file, so a builder that lost its plan never publishes.
//!
//! Beats and [`Lease::release`] are serialised by one lock, so a heartbeat
//! in flight can never recreate a progress file that release just deleted.
//!
//! Not here: choosing a plan or creating the claim (see [`crate::claim`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use protocol::bucket::{Bucket, BucketError, BucketKind, Version};
use protocol::records::{now_rfc3339, ProgressRecord};
use tokio::sync::{watch, Mutex};
use tracing::{info, warn};

/// A claim on one plan: its progress file and what this builder wrote in it.
pub(crate) struct Lease {
    bucket: Bucket,
    key: String,
    inner: Mutex<Inner>,
    lost_tx: watch::Sender<bool>,
    lost: AtomicBool,
}

struct Inner {
    record: ProgressRecord,
    /// The version of our last write, on stores that can compare it.
    version: Option<Version>,
    /// Set by release: no beat may write after it.
    released: bool,
}

/// What one heartbeat found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Beat {
    Kept,
    Lost,
}

impl Lease {
    /// A lease over a progress file this builder has just created with
    /// `record`; `version` is what the create returned.
    pub(crate) fn new(
        bucket: Bucket,
        key: String,
        record: ProgressRecord,
        version: Option<Version>,
    ) -> Arc<Self> {
        let (lost_tx, _) = watch::channel(false);
        Arc::new(Lease {
            bucket,
            key,
            inner: Mutex::new(Inner {
                record,
                version,
                released: false,
            }),
            lost_tx,
            lost: AtomicBool::new(false),
        })
    }

    /// What the next heartbeat will say the build is doing.
    pub(crate) async fn set_stage(&self, stage: &str) {
        self.inner.lock().await.record.stage = stage.to_string();
    }

    pub(crate) async fn set_attempt(&self, attempt: u32) {
        self.inner.lock().await.record.attempt = attempt;
    }

    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Resolves once the lease is lost (never, if it is kept to the end).
    pub(crate) async fn lost(&self) {
        let mut rx = self.lost_tx.subscribe();
        // An error means the sender is gone, which cannot happen while
        // `self` lives; waiting forever is then the right answer.
        if rx.wait_for(|lost| *lost).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    fn mark_lost(&self, why: &str) {
        if !self.lost.swap(true, Ordering::SeqCst) {
            info!(progress = %self.key, why, "lost the plan");
        }
        self.lost_tx.send_replace(true);
    }

    /// Re-reads the progress file: true while it is still this claim.
    /// A lost lease stays lost even if the file came back.
    pub(crate) async fn still_mine(&self) -> Result<bool, BucketError> {
        if self.is_lost() {
            return Ok(false);
        }
        let inner = self.inner.lock().await;
        self.check_locked(&inner).await
    }

    async fn check_locked(&self, inner: &Inner) -> Result<bool, BucketError> {
        if inner.released {
            return Ok(false);
        }
        let mine = match self.bucket.get_opt(&self.key).await? {
            None => false,
            Some(bytes) => serde_json::from_slice::<ProgressRecord>(&bytes)
                .map(|r| r.same_claim(&inner.record))
                .unwrap_or(false),
        };
        if !mine {
            self.mark_lost("the progress file is gone or names another claim");
        }
        Ok(mine)
    }

    /// One heartbeat: rewrites the progress file if it is still ours.
    pub(crate) async fn beat(&self) -> Result<Beat, BucketError> {
        if self.is_lost() {
            return Ok(Beat::Lost);
        }
        let mut inner = self.inner.lock().await;
        if inner.released {
            return Ok(Beat::Lost);
        }
        inner.record.heartbeat = now_rfc3339();
        let body = serde_json::to_vec(&inner.record).unwrap_or_default();
        let conditional = !matches!(self.bucket.kind(), BucketKind::Local(_));
        if conditional {
            if let Some(version) = inner.version.clone() {
                return match self
                    .bucket
                    .update_if_version(&self.key, body, &version)
                    .await?
                {
                    Some(v) => {
                        inner.version = Some(v);
                        Ok(Beat::Kept)
                    }
                    None => {
                        self.mark_lost("the progress file changed since our last heartbeat");
                        Ok(Beat::Lost)
                    }
                };
            }
        }
        if !self.check_locked(&inner).await? {
            return Ok(Beat::Lost);
        }
        self.bucket.put(&self.key, body).await?;
        Ok(Beat::Kept)
    }

    /// Deletes the progress file if it is still ours, and stops every later
    /// beat. Returns whether it was ours.
    pub(crate) async fn release(&self) -> Result<bool, BucketError> {
        let mut inner = self.inner.lock().await;
        let mine = !self.is_lost() && self.check_locked(&inner).await?;
        inner.released = true;
        if mine {
            self.bucket.delete(&self.key).await?;
        }
        Ok(mine)
    }

    /// Beats every `period` until dropped. Errors talking to the bucket are
    /// logged and retried at the next period: a builder that cannot reach
    /// the bucket for longer than the stale timeout will find its claim
    /// taken when it can again.
    pub(crate) fn spawn(self: &Arc<Self>, period: Duration) -> Heartbeat {
        let lease = self.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                match lease.beat().await {
                    Ok(Beat::Kept) => {}
                    Ok(Beat::Lost) => return,
                    Err(e) => {
                        warn!(progress = %lease.key, error = %e, "heartbeat failed; retrying")
                    }
                }
            }
        });
        Heartbeat { task }
    }
}

/// The heartbeat task of a lease; stops when dropped.
pub(crate) struct Heartbeat {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(builder: &str) -> ProgressRecord {
        ProgressRecord {
            builder: builder.into(),
            started: now_rfc3339(),
            heartbeat: now_rfc3339(),
            stage: "claimed".into(),
            series_done: 0,
            attempt: 1,
            block: ulid::Ulid::new().to_string(),
        }
    }

    async fn claimed(bucket: &Bucket, builder: &str) -> Arc<Lease> {
        let rec = record(builder);
        let v = bucket
            .create_if_absent("p/t/1.progress", serde_json::to_vec(&rec).unwrap())
            .await
            .unwrap()
            .expect("claim");
        Lease::new(bucket.clone(), "p/t/1.progress".into(), rec, Some(v))
    }

    async fn takeover(bucket: &Bucket) {
        bucket.delete("p/t/1.progress").await.unwrap();
        let other = record("other");
        bucket
            .create_if_absent("p/t/1.progress", serde_json::to_vec(&other).unwrap())
            .await
            .unwrap()
            .expect("second claim");
    }

    async fn fencing(bucket: Bucket) {
        let lease = claimed(&bucket, "me").await;
        assert_eq!(lease.beat().await.unwrap(), Beat::Kept);
        assert_eq!(lease.beat().await.unwrap(), Beat::Kept);
        assert!(lease.still_mine().await.unwrap());
        takeover(&bucket).await;
        assert_eq!(lease.beat().await.unwrap(), Beat::Lost);
        assert!(lease.is_lost());
        // The lost lease must not have touched the other claim.
        let now: ProgressRecord =
            serde_json::from_slice(&bucket.get("p/t/1.progress").await.unwrap()).unwrap();
        assert_eq!(now.builder, "other");
        assert!(!lease.release().await.unwrap());
        assert!(bucket.exists("p/t/1.progress").await.unwrap());
        tokio::time::timeout(Duration::from_secs(1), lease.lost())
            .await
            .expect("lost resolves");
    }

    #[tokio::test]
    async fn memory_store_fences_by_version() {
        fencing(Bucket::open("memory://").unwrap()).await;
    }

    #[tokio::test]
    async fn local_store_fences_by_reading_back() {
        let dir = tempfile::tempdir().unwrap();
        fencing(Bucket::local(dir.path()).unwrap()).await;
    }

    #[tokio::test]
    async fn release_deletes_only_our_file_and_stops_beats() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = Bucket::local(dir.path()).unwrap();
        let lease = claimed(&bucket, "me").await;
        let hb = lease.spawn(Duration::from_millis(5));
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(lease.release().await.unwrap());
        tokio::time::sleep(Duration::from_millis(30)).await;
        drop(hb);
        assert!(
            !bucket.exists("p/t/1.progress").await.unwrap(),
            "no beat after release"
        );
    }
}
