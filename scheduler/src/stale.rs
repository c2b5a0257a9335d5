//! What the scheduler does to a plan whose builder went silent.
//!
//! A progress file whose heartbeat (its mtime, or the time in a Cortex
//! progress name) is older than the stale timeout means the builder died
//! or lost the bucket; one dated further in the future than the timeout
//! is suspect (planted or mangled), warned about and handled the same. The plan becomes a retry (its progress files are
//! deleted, so any builder can claim it again) or, once as many attempts
//! as allowed were made (the attempt files count them), a failed file.
//!
//! Before acting, the plan's files are listed again on their own: the full
//! listing may be minutes old, and a heartbeat since then means the
//! builder lives. **Race window:** a heartbeat landing between that second
//! listing and the delete is lost with the file; the builder's next
//! heartbeat then finds its claim gone and stops without publishing (see
//! `builder::heartbeat`), and the plan is retried. That costs one rebuild,
//! never a second block.

use chrono::{DateTime, Utc};
use protocol::bucket::{Bucket, BucketError};
use protocol::names::PlanId;
use protocol::records::{now_rfc3339, FailedRecord};
use protocol::state::{list_plan_files, PlanState};
use tracing::{info, warn};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StaleAction {
    /// Progress removed; the plan is new again.
    Retried { attempts: u32 },
    /// Attempts exhausted: a failed file was written, progress removed.
    Failed { attempts: u32 },
    /// Not stale any more (a heartbeat since the listing) or already gone.
    Skipped,
}

/// Retries or fails one plan found stale in a listing.
pub(crate) async fn handle_stale(
    bucket: &Bucket,
    prefix: &str,
    id: &PlanId,
    now: DateTime<Utc>,
    stale_after: chrono::Duration,
    max_attempts: u32,
) -> Result<StaleAction, BucketError> {
    let files = list_plan_files(bucket, prefix, id).await?;
    if files.state(now, stale_after).0 != PlanState::Stale {
        return Ok(StaleAction::Skipped);
    }
    if let Some(ahead) = files.future_heartbeat(now, stale_after) {
        warn!(plan = %id, ahead_s = ahead.num_seconds(), "progress file dated in the future: suspect, treated as stale");
    }
    let attempts = files.attempt_count();
    let silent = files
        .last_heartbeat()
        .map_or(0, |t| (now - t).num_seconds());
    let action = if attempts >= max_attempts.max(1) {
        let rec = FailedRecord {
            reason: format!(
                "no heartbeat for {silent}s (stale after {}s) on attempt {attempts} of {max_attempts}",
                stale_after.num_seconds()
            ),
            builder: "scheduler".into(),
            at: now_rfc3339(),
            attempt: attempts,
        };
        let body = serde_json::to_vec_pretty(&rec).unwrap_or_default();
        bucket.put(&id.failed_key(prefix), body).await?;
        warn!(plan = %id, attempts, "stale after the last allowed attempt: failed");
        StaleAction::Failed { attempts }
    } else {
        info!(plan = %id, attempts, silent_s = silent, "stale: retrying");
        StaleAction::Retried { attempts }
    };
    if files.progress.is_some() {
        bucket.delete(&id.progress_key(prefix)).await?;
    }
    for p in &files.cortex_progress {
        bucket.delete(&p.key).await?;
    }
    Ok(action)
}

/// Removes what a builder that died after publishing left behind: the
/// progress file of a plan that is finished or failed (killed between the
/// outcome and the release), and a finished plan's consumed staged samples.
/// Only once the heartbeat is stale, so a builder still releasing is not
/// raced. Returns whether anything was removed.
pub(crate) async fn sweep_done(
    bucket: &Bucket,
    prefix: &str,
    id: &PlanId,
    now: DateTime<Utc>,
    stale_after: chrono::Duration,
) -> Result<bool, BucketError> {
    let files = list_plan_files(bucket, prefix, id).await?;
    let (state, _) = files.state(now, stale_after);
    if !matches!(state, PlanState::Finished | PlanState::Failed) {
        return Ok(false);
    }
    let silent = files.is_silent(now, stale_after);
    let mut swept = false;
    if silent {
        if files.progress.is_some() {
            bucket.delete(&id.progress_key(prefix)).await?;
        }
        for p in &files.cortex_progress {
            bucket.delete(&p.key).await?;
        }
        swept = true;
    }
    if state == PlanState::Finished && files.staged && files.progress.is_none() {
        bucket.delete(&id.staged_key(prefix)).await?;
        swept = true;
    }
    if swept {
        info!(plan = %id, "removed what a builder left after publishing the outcome");
    }
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::records::AttemptRecord;

    async fn stale_plan(bucket: &Bucket, attempts: u32) -> PlanId {
        let id = PlanId {
            tenant: "t".into(),
            day: 9,
        };
        bucket.put("m/t/9.plan", "x").await.unwrap();
        bucket.put("m/t/9.progress", "{}").await.unwrap();
        for k in 1..=attempts {
            let rec = AttemptRecord {
                builder: "b".into(),
                block: "01B".into(),
                started: now_rfc3339(),
                output: None,
            };
            bucket
                .put(&id.attempt_key("m", k), serde_json::to_vec(&rec).unwrap())
                .await
                .unwrap();
        }
        id
    }

    #[tokio::test]
    async fn leftovers_of_a_published_plan_go_once_silent() {
        let bucket = Bucket::open("memory://").unwrap();
        let id = stale_plan(&bucket, 1).await;
        bucket.put("m/t/9.finished.01B", "{}").await.unwrap();
        bucket.put("m/t/9.staged", "samples").await.unwrap();
        let stale = chrono::Duration::seconds(60);
        // The builder may still be releasing: nothing goes yet.
        assert!(!sweep_done(&bucket, "m", &id, Utc::now(), stale)
            .await
            .unwrap());
        assert!(bucket.exists("m/t/9.progress").await.unwrap());
        let later = Utc::now() + chrono::Duration::seconds(120);
        assert!(sweep_done(&bucket, "m", &id, later, stale).await.unwrap());
        assert!(!bucket.exists("m/t/9.progress").await.unwrap());
        assert!(sweep_done(&bucket, "m", &id, later, stale).await.unwrap());
        assert!(!bucket.exists("m/t/9.staged").await.unwrap());
        assert!(bucket.exists("m/t/9.finished.01B").await.unwrap());
        assert!(!sweep_done(&bucket, "m", &id, later, stale).await.unwrap());
    }

    #[tokio::test]
    async fn a_progress_file_dated_in_the_future_is_retried() {
        let bucket = Bucket::open("memory://").unwrap();
        let id = stale_plan(&bucket, 1).await;
        let stale = chrono::Duration::seconds(60);
        // The listing says the heartbeat is a year ahead of this clock.
        let a_year_ago = Utc::now() - chrono::Duration::days(365);
        let a = handle_stale(&bucket, "m", &id, a_year_ago, stale, 3)
            .await
            .unwrap();
        assert_eq!(a, StaleAction::Retried { attempts: 1 });
        assert!(!bucket.exists("m/t/9.progress").await.unwrap());
    }

    #[tokio::test]
    async fn retries_then_fails() {
        let bucket = Bucket::open("memory://").unwrap();
        let id = stale_plan(&bucket, 1).await;
        let later = Utc::now() + chrono::Duration::seconds(120);
        let stale = chrono::Duration::seconds(60);
        // Not stale yet: nothing happens.
        let a = handle_stale(&bucket, "m", &id, Utc::now(), stale, 2)
            .await
            .unwrap();
        assert_eq!(a, StaleAction::Skipped);
        let a = handle_stale(&bucket, "m", &id, later, stale, 2)
            .await
            .unwrap();
        assert_eq!(a, StaleAction::Retried { attempts: 1 });
        assert!(!bucket.exists("m/t/9.progress").await.unwrap());
        assert!(!bucket.exists("m/t/9.failed").await.unwrap());

        let id = stale_plan(&bucket, 2).await;
        let a = handle_stale(&bucket, "m", &id, later, stale, 2)
            .await
            .unwrap();
        assert_eq!(a, StaleAction::Failed { attempts: 2 });
        assert!(!bucket.exists("m/t/9.progress").await.unwrap());
        let f: FailedRecord =
            serde_json::from_slice(&bucket.get("m/t/9.failed").await.unwrap()).unwrap();
        assert!(f.reason.contains("attempt 2 of 2"), "{}", f.reason);
    }
}
