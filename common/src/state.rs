//! Plan states from one bucket listing, without reading any file.
//!
//! The scheduler, `status` and the builders all need to know which plans
//! are new, taken, done or failed. Names, sizes and times are enough
//! (see [`crate::names`]), so a campaign of millions of plans costs one
//! listing, not millions of reads.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::bucket::ObjectInfo;
use crate::names::{parse_plan_key, PlanCompression, PlanFile, PlanId};

/// Everything the listing says about one plan.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlanFiles {
    pub plans: Vec<(PlanCompression, ObjectInfo)>,
    pub progress: Vec<ObjectInfo>,
    /// Heartbeat times encoded in Cortex progress names (`.inprogress.<unix>`).
    pub cortex_progress_unix: Vec<i64>,
    pub attempts: Vec<u32>,
    pub finished: Vec<String>,
    pub failed: Vec<ObjectInfo>,
    pub staged: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PlanState {
    /// A complete-looking plan file and nothing else: ready to claim.
    New,
    /// Claimed, with a heartbeat younger than the stale timeout.
    InProgress,
    /// Claimed, but the heartbeat is older than the timeout.
    Stale,
    Finished,
    Failed,
    /// Contradictory files: several plan files, several finished files,
    /// finished and failed together, or status files without a plan.
    Invalid,
}

impl PlanState {
    pub fn name(&self) -> &'static str {
        match self {
            PlanState::New => "new",
            PlanState::InProgress => "in progress",
            PlanState::Stale => "stale",
            PlanState::Finished => "finished",
            PlanState::Failed => "failed",
            PlanState::Invalid => "invalid",
        }
    }
}

impl PlanFiles {
    /// The state and, for `Invalid`, why.
    pub fn state(&self, now: DateTime<Utc>, stale_after: chrono::Duration) -> (PlanState, Option<String>) {
        if self.plans.len() != 1 {
            let why = if self.plans.is_empty() {
                "status files without a plan file".to_string()
            } else {
                format!("{} plan files", self.plans.len())
            };
            return (PlanState::Invalid, Some(why));
        }
        if self.finished.len() > 1 {
            return (
                PlanState::Invalid,
                Some(format!("{} finished files: {}", self.finished.len(), self.finished.join(", "))),
            );
        }
        if !self.finished.is_empty() && !self.failed.is_empty() {
            return (PlanState::Invalid, Some("both finished and failed".into()));
        }
        if !self.finished.is_empty() {
            return (PlanState::Finished, None);
        }
        if !self.failed.is_empty() {
            return (PlanState::Failed, None);
        }
        match self.last_heartbeat() {
            None => (PlanState::New, None),
            Some(t) if now - t > stale_after => (PlanState::Stale, None),
            Some(_) => (PlanState::InProgress, None),
        }
    }

    /// The newest heartbeat: our progress file's mtime, or the time in a
    /// Cortex progress name.
    pub fn last_heartbeat(&self) -> Option<DateTime<Utc>> {
        let ours = self.progress.iter().map(|o| o.last_modified);
        let cortex = self
            .cortex_progress_unix
            .iter()
            .filter_map(|&s| DateTime::from_timestamp(s, 0));
        ours.chain(cortex).max()
    }

    pub fn plan(&self) -> Option<&(PlanCompression, ObjectInfo)> {
        self.plans.first()
    }

    pub fn next_attempt(&self) -> u32 {
        self.attempts.iter().copied().max().unwrap_or(0) + 1
    }
}

/// Groups a listing of the prefix into plans. Objects that are not plan
/// files (scan markers, stray objects) are ignored.
pub fn plans_from_listing<'a>(
    prefix: &str,
    objects: impl IntoIterator<Item = &'a ObjectInfo>,
) -> BTreeMap<PlanId, PlanFiles> {
    let mut out: BTreeMap<PlanId, PlanFiles> = BTreeMap::new();
    for o in objects {
        let Some((id, file)) = parse_plan_key(prefix, &o.key) else {
            continue;
        };
        let e = out.entry(id).or_default();
        match file {
            PlanFile::Plan(c) => e.plans.push((c, o.clone())),
            PlanFile::Progress { cortex_unix: None } => e.progress.push(o.clone()),
            PlanFile::Progress {
                cortex_unix: Some(t),
            } => e.cortex_progress_unix.push(t),
            PlanFile::Attempt(k) => e.attempts.push(k),
            PlanFile::Finished(b) => e.finished.push(b),
            PlanFile::Failed { .. } => e.failed.push(o.clone()),
            PlanFile::Staged => e.staged = true,
            PlanFile::Other => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(key: &str, age_s: i64) -> ObjectInfo {
        ObjectInfo {
            key: key.into(),
            size: 1,
            last_modified: Utc::now() - chrono::Duration::seconds(age_s),
        }
    }

    #[test]
    fn states() {
        let objs = vec![
            obj("m/a/1.plan.snappy", 0),
            obj("m/a/2.plan.snappy", 0),
            obj("m/a/2.progress", 10),
            obj("m/a/3.plan.snappy", 0),
            obj("m/a/3.progress", 4000),
            obj("m/a/4.plan", 0),
            obj("m/a/4.finished.01ABC", 0),
            obj("m/a/5.plan", 0),
            obj("m/a/5.error", 0),
            obj("m/a/6.plan", 0),
            obj("m/a/6.plan.gz", 0),
            obj("m/a/7.finished.X", 0),
            obj("m/scan-complete", 0),
        ];
        let plans = plans_from_listing("m", &objs);
        let st = |d: i32| {
            plans[&PlanId {
                tenant: "a".into(),
                day: d,
            }]
                .state(Utc::now(), chrono::Duration::seconds(600))
                .0
        };
        assert_eq!(st(1), PlanState::New);
        assert_eq!(st(2), PlanState::InProgress);
        assert_eq!(st(3), PlanState::Stale);
        assert_eq!(st(4), PlanState::Finished);
        assert_eq!(st(5), PlanState::Failed);
        assert_eq!(st(6), PlanState::Invalid);
        assert_eq!(st(7), PlanState::Invalid);
        assert_eq!(plans.len(), 7);
    }
}
