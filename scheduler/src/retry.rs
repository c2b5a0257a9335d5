//! `retry`: hand failed plans back to the builders.
//!
//! Deleting a plan's failed file (ours `.failed`, Cortex's `.error`) makes
//! it new again; its stale progress files go too, so that nothing holds it.
//! Attempt files stay: they name blocks the next attempt must remove, and
//! they keep counting, so a retried plan that goes stale again is failed by
//! the scheduler at once when it already used `--max-attempts` (each manual
//! retry grants one more attempt in that case).
//!
//! Every delete here is of a protocol file of a listed plan, by the key
//! the plan's ID gives (never a name read from a file): retry never
//! deletes a block, and never touches a finished file.

use protocol::bucket::{Bucket, BucketError};
use protocol::names::{join_prefix, PlanId};
use protocol::state::plans_from_listing;
use tracing::info;

/// Which plans to retry; `None` fields match every plan.
#[derive(Clone, Debug, Default)]
pub struct RetrySelection {
    /// Only this tenant's plans.
    pub tenant: Option<String>,
    /// Only this UTC day's plans (days since 1970-01-01).
    pub day: Option<i32>,
}

impl RetrySelection {
    fn matches(&self, id: &PlanId) -> bool {
        self.tenant.as_ref().is_none_or(|t| *t == id.tenant) && self.day.is_none_or(|d| d == id.day)
    }
}

/// What [`retry`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetryReport {
    /// Plans whose failed file was deleted.
    pub retried: Vec<PlanId>,
    /// Plans whose stale progress files were deleted.
    pub unstuck: Vec<PlanId>,
}

/// Deletes the failed files (and stale progress files older than
/// `stale_after`) of the selected plans under `prefix`, so builders claim
/// them again.
pub async fn retry(
    bucket: &Bucket,
    prefix: &str,
    sel: &RetrySelection,
    stale_after: chrono::Duration,
) -> Result<RetryReport, BucketError> {
    let dir = match &sel.tenant {
        Some(t) => join_prefix(prefix, t),
        None => prefix.to_string(),
    };
    let objects = bucket.list(&dir).await?;
    let plans = plans_from_listing(prefix, &objects);
    let now = chrono::Utc::now();
    let mut report = RetryReport::default();
    for (id, files) in plans.iter().filter(|(id, _)| sel.matches(id)) {
        if files.plans.len() != 1 {
            continue;
        }
        if !files.failed.is_empty() {
            for &(cortex, _) in &files.failed {
                let key = if cortex {
                    id.cortex_error_key(prefix)
                } else {
                    id.failed_key(prefix)
                };
                bucket.delete(&key).await?;
            }
            info!(plan = %id, "failed file deleted: the plan will run again");
            report.retried.push(id.clone());
        }
        // Also a heartbeat dated in the future: it would hold the plan
        // until that date.
        if files.is_silent(now, stale_after) {
            if files.progress.is_some() {
                bucket.delete(&id.progress_key(prefix)).await?;
            }
            for p in &files.cortex_progress {
                bucket.delete(&p.key).await?;
            }
            info!(plan = %id, "stale progress deleted");
            report.unstuck.push(id.clone());
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deletes_failed_files_of_the_selection_only() {
        let b = Bucket::open("memory://").unwrap();
        for k in [
            "m/a/1.plan",
            "m/a/1.failed",
            "m/a/2.plan",
            "m/a/2.error",
            "m/b/1.plan",
            "m/b/1.failed",
        ] {
            b.put(k, "x").await.unwrap();
        }
        let sel = RetrySelection {
            tenant: Some("a".into()),
            day: None,
        };
        let r = retry(&b, "m", &sel, chrono::Duration::seconds(60))
            .await
            .unwrap();
        assert_eq!(r.retried.len(), 2);
        assert!(!b.exists("m/a/1.failed").await.unwrap());
        assert!(!b.exists("m/a/2.error").await.unwrap());
        assert!(b.exists("m/b/1.failed").await.unwrap());
        let sel = RetrySelection {
            tenant: None,
            day: Some(1),
        };
        let r = retry(&b, "m", &sel, chrono::Duration::seconds(60))
            .await
            .unwrap();
        assert_eq!(
            r.retried,
            vec![PlanId {
                tenant: "b".into(),
                day: 1
            }]
        );
    }
}
