//! Plan states from one bucket listing, without reading any file.
//!
//! The scheduler, `status` and the builders all need to know which plans
//! are new, taken, done or failed. Names, sizes and times are enough
//! (see [`crate::names`]), so a campaign of millions of plans costs one
//! listing, not millions of reads.
//!
//! The grouping is built for that scale: names are parsed without
//! allocating, a run of objects of the same plan (a sorted listing puts
//! them side by side) touches the map once, and of each object only its
//! time and size are kept. Not here: acting on the states (the scheduler
//! and the builder do) or reading the files' contents ([`crate::records`]).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use crate::bucket::{Bucket, BucketError, ObjectInfo};
use crate::names::{parse_file_name_ref, split_plan_key, PlanCompression, PlanFileRef, PlanId};
use crate::tenant::validate_tenant;

/// What the listing says of one object: enough to judge age and emptiness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Bytes.
    pub size: u64,
    /// The store's mtime: a heartbeat for progress files.
    pub last_modified: DateTime<Utc>,
}

impl From<&ObjectInfo> for Stamp {
    fn from(o: &ObjectInfo) -> Self {
        Stamp {
            size: o.size,
            last_modified: o.last_modified,
        }
    }
}

/// A Cortex progress object (`.inprogress.<unix>`, `.starting.<unix>`):
/// its heartbeat is the time in its name, and it is kept by key so the
/// scheduler can remove it when it goes stale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CortexProgress {
    /// The full key, to delete it by.
    pub key: String,
    /// The time in its name (unix seconds): its heartbeat.
    pub unix: i64,
}

/// Everything the listing says about one plan.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlanFiles {
    /// Plan files: exactly one in a valid plan.
    pub plans: Vec<(PlanCompression, Stamp)>,
    /// Our `.progress`: its mtime is the last heartbeat.
    pub progress: Option<Stamp>,
    /// Cortex's progress files, by key.
    pub cortex_progress: Vec<CortexProgress>,
    /// Attempt numbers and when each attempt file was written (the claim time).
    pub attempts: Vec<(u32, Stamp)>,
    /// Block IDs named by finished files.
    pub finished: Vec<String>,
    /// The newest finished file's time, for throughput.
    pub finished_at: Option<DateTime<Utc>>,
    /// Failed files: `true` for Cortex's `.error`.
    pub failed: Vec<(bool, Stamp)>,
    /// The scanner's `.staged` samples are still there.
    pub staged: bool,
    /// Finished or failed files over [`crate::records::MAX_RECORD_BYTES`],
    /// by file name and size: the plan is invalid and nobody reads them.
    pub oversized: Vec<(String, u64)>,
}

/// Where a plan is in its life, judged from names, sizes and times alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PlanState {
    /// A plan file and nothing else: ready to claim.
    New,
    /// Claimed, with a heartbeat younger than the stale timeout.
    InProgress,
    /// Claimed, but the heartbeat is older than the timeout.
    Stale,
    /// A finished file names its block.
    Finished,
    /// A failed file says why; `retry` deletes it.
    Failed,
    /// Contradictory files: several plan files, several finished files,
    /// finished and failed together, or status files without a plan.
    Invalid,
}

impl PlanState {
    /// Every state, in report order.
    pub const ALL: [PlanState; 6] = [
        PlanState::New,
        PlanState::InProgress,
        PlanState::Stale,
        PlanState::Finished,
        PlanState::Failed,
        PlanState::Invalid,
    ];

    /// The name people read (`in progress`).
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

    /// A name without spaces, for metrics labels and JSON keys.
    pub fn key(&self) -> &'static str {
        match self {
            PlanState::InProgress => "in_progress",
            s => s.name(),
        }
    }

    /// Finished, failed and invalid plans wait for nobody but a person.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            PlanState::Finished | PlanState::Failed | PlanState::Invalid
        )
    }
}

impl PlanFiles {
    /// The state and, for `Invalid`, why. Rules in Cortex's order (plan
    /// count, finished, failed, progress), plus staleness.
    pub fn state(
        &self,
        now: DateTime<Utc>,
        stale_after: chrono::Duration,
    ) -> (PlanState, Option<String>) {
        if self.plans.len() != 1 {
            let why = if self.plans.is_empty() {
                "status files without a plan file".to_string()
            } else {
                format!("{} plan files", self.plans.len())
            };
            return (PlanState::Invalid, Some(why));
        }
        if let Some((name, size)) = self.oversized.first() {
            return (
                PlanState::Invalid,
                Some(format!(
                    "{} is {size} bytes, over the {} byte cap of a status file: not read",
                    crate::records::escape_text(name),
                    crate::records::MAX_RECORD_BYTES
                )),
            );
        }
        if self.finished.len() > 1 {
            return (
                PlanState::Invalid,
                Some(format!(
                    "{} finished files: {}",
                    self.finished.len(),
                    self.finished.join(", ")
                )),
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
            Some(_) if self.is_silent(now, stale_after) => (PlanState::Stale, None),
            Some(_) => (PlanState::InProgress, None),
        }
    }

    /// True when the plan's heartbeat says nobody keeps it: older than
    /// `stale_after`, or more than `stale_after` in the future. A future
    /// heartbeat is no clock skew a builder can have (it stamps with the
    /// store's clock); it is a planted or mangled file, and trusting it
    /// would block the plan until that date.
    pub fn is_silent(&self, now: DateTime<Utc>, stale_after: chrono::Duration) -> bool {
        self.last_heartbeat()
            .is_some_and(|t| now - t > stale_after || t - now > stale_after)
    }

    /// How far in the future the heartbeat is, when it is more than
    /// `stale_after` ahead of `now` (see [`PlanFiles::is_silent`]).
    pub fn future_heartbeat(
        &self,
        now: DateTime<Utc>,
        stale_after: chrono::Duration,
    ) -> Option<chrono::Duration> {
        self.last_heartbeat()
            .map(|t| t - now)
            .filter(|ahead| *ahead > stale_after)
    }

    /// True when a builder may claim the plan: one plan file, nothing
    /// else but attempt files (exactly the plans [`PlanFiles::state`] calls
    /// new). The one predicate builders and the scheduler's claimable-plans
    /// index ([`crate::claimable`]) share.
    pub fn is_claimable(&self) -> bool {
        self.plans.len() == 1
            && self.oversized.is_empty()
            && self.finished.is_empty()
            && self.failed.is_empty()
            && self.last_heartbeat().is_none()
    }

    /// The newest heartbeat: our progress file's mtime, or the time in a
    /// Cortex progress name.
    pub fn last_heartbeat(&self) -> Option<DateTime<Utc>> {
        let ours = self.progress.map(|s| s.last_modified);
        let cortex = self
            .cortex_progress
            .iter()
            .filter_map(|p| DateTime::from_timestamp(p.unix, 0))
            .max();
        ours.max(cortex)
    }

    /// When the current attempt was claimed (its attempt file's time).
    pub fn claimed_at(&self) -> Option<DateTime<Utc>> {
        self.attempts
            .iter()
            .max_by_key(|(k, _)| *k)
            .map(|(_, s)| s.last_modified)
    }

    /// The plan file, when there is one (the first of several).
    pub fn plan(&self) -> Option<&(PlanCompression, Stamp)> {
        self.plans.first()
    }

    /// Attempts made so far, as the attempt files count them.
    pub fn attempt_count(&self) -> u32 {
        u32::try_from(self.attempts.len()).unwrap_or(u32::MAX)
    }

    /// The number of the next attempt file: one past the highest.
    pub fn next_attempt(&self) -> u32 {
        self.attempts
            .iter()
            .map(|(k, _)| *k)
            .max()
            .unwrap_or(0)
            .saturating_add(1)
    }

    fn add(&mut self, key: &str, kind: PlanFileRef<'_>, o: &ObjectInfo) {
        let is_record = matches!(kind, PlanFileRef::Finished(_) | PlanFileRef::Failed { .. });
        if is_record && o.size > crate::records::MAX_RECORD_BYTES {
            let name = key.rsplit('/').next().unwrap_or(key);
            self.oversized.push((name.to_string(), o.size));
        }
        match kind {
            PlanFileRef::Plan(c) => self.plans.push((c, o.into())),
            PlanFileRef::Progress { cortex_unix: None } => {
                // Only one object can have this name; keep the newest anyway.
                let s = Stamp::from(o);
                if self
                    .progress
                    .is_none_or(|p| p.last_modified < s.last_modified)
                {
                    self.progress = Some(s);
                }
            }
            PlanFileRef::Progress {
                cortex_unix: Some(t),
            } => self.cortex_progress.push(CortexProgress {
                key: key.to_string(),
                unix: t,
            }),
            PlanFileRef::Attempt(k) => self.attempts.push((k, o.into())),
            PlanFileRef::Finished(b) => {
                self.finished.push(b.to_string());
                self.finished_at = self.finished_at.max(Some(o.last_modified));
            }
            PlanFileRef::Failed { cortex } => self.failed.push((cortex, o.into())),
            PlanFileRef::Staged => self.staged = true,
            PlanFileRef::Other => {}
        }
    }
}

/// Groups a listing of the prefix into plans. Objects that are not plan
/// files (scan markers, stray objects) are ignored.
pub fn plans_from_listing<'a>(
    prefix: &str,
    objects: impl IntoIterator<Item = &'a ObjectInfo>,
) -> BTreeMap<PlanId, PlanFiles> {
    let mut groups: HashMap<(&'a str, i32), PlanFiles> = HashMap::new();
    // The plan of the previous object, still outside the map: in a sorted
    // listing the next object usually belongs to it too.
    let mut current: Option<((&'a str, i32), PlanFiles)> = None;
    let mut valid_tenant: Option<&'a str> = None;
    for o in objects {
        let Some((tenant, file)) = split_plan_key(prefix, &o.key) else {
            continue;
        };
        if valid_tenant != Some(tenant) {
            if validate_tenant(tenant).is_err() {
                continue;
            }
            valid_tenant = Some(tenant);
        }
        let Some((day, kind)) = parse_file_name_ref(file) else {
            continue;
        };
        let id = (tenant, day);
        match &mut current {
            Some((cid, files)) if *cid == id => files.add(&o.key, kind, o),
            _ => {
                if let Some((cid, files)) = current.take() {
                    groups.insert(cid, files);
                }
                let mut files = groups.remove(&id).unwrap_or_default();
                files.add(&o.key, kind, o);
                current = Some((id, files));
            }
        }
    }
    if let Some((cid, files)) = current {
        groups.insert(cid, files);
    }
    groups
        .into_iter()
        .map(|((tenant, day), files)| {
            (
                PlanId {
                    tenant: tenant.to_string(),
                    day,
                },
                files,
            )
        })
        .collect()
}

/// Objects under the prefix that no worker will ever act on because their
/// names are not protocol names: an invalid tenant directory (`a b`,
/// `x\u{7}y`, 151 bytes), a nested path, a file name that is no plan
/// file. `status` reports them, so that an operator sees a planted or
/// mistyped object instead of it silently not counting.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct IgnoredObjects {
    /// Objects ignored.
    pub count: u64,
    /// The first [`MAX_IGNORED_EXAMPLES`] keys, escaped for printing.
    pub examples: Vec<String>,
}

/// Keys of ignored objects kept as examples at most.
pub const MAX_IGNORED_EXAMPLES: usize = 20;

/// The objects of a listing that [`plans_from_listing`] leaves out, other
/// than the scan markers and the claimable-plans index at the prefix's
/// root.
pub fn ignored_objects<'a>(
    prefix: &str,
    objects: impl IntoIterator<Item = &'a ObjectInfo>,
) -> IgnoredObjects {
    let mut out = IgnoredObjects::default();
    for o in objects {
        let Some(rel) = crate::names::relative_key(prefix, &o.key) else {
            continue;
        };
        let is_marker = !rel.contains('/')
            && (rel == crate::names::SCAN_COMPLETE
                || rel.starts_with(crate::names::SCANNED_PREFIX)
                || crate::claimable::parse_shard_key(prefix, &o.key).is_some());
        let is_plan_file = split_plan_key(prefix, &o.key).is_some_and(|(tenant, file)| {
            validate_tenant(tenant).is_ok()
                && parse_file_name_ref(file).is_some_and(|(_, k)| k != PlanFileRef::Other)
        });
        // Under an empty prefix, blocks written to the plan bucket share
        // the tenant directories with the plans.
        let is_block = prefix.is_empty() && crate::names::is_block_file(rel);
        if is_marker || is_plan_file || is_block {
            continue;
        }
        out.count += 1;
        if out.examples.len() < MAX_IGNORED_EXAMPLES {
            let shown: String = o.key.chars().take(300).collect();
            out.examples.push(shown.escape_debug().to_string());
        }
    }
    out
}

/// Groups a listing that arrives one object at a time into plans while
/// holding one tenant's plans at most: how a builder reads a campaign of
/// millions of keys without keeping them. Each tenant's objects must come
/// together (a sorted listing, or a local directory read one directory at
/// a time); a tenant seen again later is grouped again from scratch, so a
/// plan whose files were split would be seen twice, each half alone.
#[derive(Debug)]
pub struct PlanGrouper {
    prefix: String,
    tenant: Option<String>,
    plans: HashMap<i32, PlanFiles>,
}

impl PlanGrouper {
    /// A grouper of a listing of `prefix`.
    pub fn new(prefix: &str) -> Self {
        PlanGrouper {
            prefix: prefix.to_string(),
            tenant: None,
            plans: HashMap::new(),
        }
    }

    /// Adds one object; when it starts another tenant, the plans of the
    /// previous one go to `emit`. Objects that are no plan files are
    /// ignored, as by [`plans_from_listing`].
    pub fn push(&mut self, o: &ObjectInfo, mut emit: impl FnMut(PlanId, PlanFiles)) {
        let Some((tenant, file)) = split_plan_key(&self.prefix, &o.key) else {
            return;
        };
        let Some((day, kind)) = parse_file_name_ref(file) else {
            return;
        };
        if self.tenant.as_deref() != Some(tenant) {
            if validate_tenant(tenant).is_err() {
                return;
            }
            self.flush(&mut emit);
            self.tenant = Some(tenant.to_string());
        }
        self.plans.entry(day).or_default().add(&o.key, kind, o);
    }

    /// Emits the plans of the last tenant.
    pub fn finish(mut self, mut emit: impl FnMut(PlanId, PlanFiles)) {
        self.flush(&mut emit);
    }

    fn flush(&mut self, emit: &mut impl FnMut(PlanId, PlanFiles)) {
        let Some(tenant) = self.tenant.take() else {
            return;
        };
        for (day, files) in self.plans.drain() {
            emit(
                PlanId {
                    tenant: tenant.clone(),
                    day,
                },
                files,
            );
        }
    }
}

/// The files of one plan, from a listing of its own keys alone
/// (`<prefix>/<tenant>/<day>.`, [`Bucket::list_key_prefix`]: one request
/// however many plans the tenant has): what the builder checks when a
/// claim finds the plan claimed since its listing, and the scheduler right
/// before acting on a stale plan, when the full listing may be old.
pub async fn list_plan_files(
    bucket: &Bucket,
    prefix: &str,
    id: &PlanId,
) -> Result<PlanFiles, BucketError> {
    let progress = id.progress_key(prefix);
    let base = progress.strip_suffix("progress").unwrap_or(&progress);
    let objects = bucket.list_key_prefix(base).await?;
    Ok(plans_from_listing(prefix, &objects)
        .remove(id)
        .unwrap_or_default())
}

/// How many plans are in each state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateCounts {
    counts: [u64; 6],
}

impl StateCounts {
    /// Counts one plan in state `s`.
    pub fn add(&mut self, s: PlanState) {
        self.counts[s as usize] += 1;
    }
    /// Plans in state `s`.
    pub fn get(&self, s: PlanState) -> u64 {
        self.counts[s as usize]
    }
    /// Plans counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
    /// Plans that still need a builder: new, in progress or stale.
    pub fn pending(&self) -> u64 {
        self.get(PlanState::New) + self.get(PlanState::InProgress) + self.get(PlanState::Stale)
    }
    /// Every state with its count, in report order.
    pub fn iter(&self) -> impl Iterator<Item = (PlanState, u64)> + '_ {
        PlanState::ALL.into_iter().map(|s| (s, self.get(s)))
    }
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

    fn st(plans: &BTreeMap<PlanId, PlanFiles>, d: i32) -> PlanState {
        plans[&PlanId {
            tenant: "a".into(),
            day: d,
        }]
            .state(Utc::now(), chrono::Duration::seconds(600))
            .0
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
            obj("m/bad tenant/8.plan", 0),
        ];
        let plans = plans_from_listing("m", &objs);
        assert_eq!(st(&plans, 1), PlanState::New);
        assert_eq!(st(&plans, 2), PlanState::InProgress);
        assert_eq!(st(&plans, 3), PlanState::Stale);
        assert_eq!(st(&plans, 4), PlanState::Finished);
        assert_eq!(st(&plans, 5), PlanState::Failed);
        assert_eq!(st(&plans, 6), PlanState::Invalid);
        assert_eq!(st(&plans, 7), PlanState::Invalid);
        assert_eq!(plans.len(), 7);
        for f in plans.values() {
            let new = f.state(Utc::now(), chrono::Duration::seconds(600)).0 == PlanState::New;
            assert_eq!(f.is_claimable(), new, "{f:?}");
        }
    }

    #[test]
    fn unsorted_listings_group_the_same() {
        let now = Utc::now();
        let o = |k: &str| ObjectInfo {
            key: k.into(),
            size: 3,
            last_modified: now,
        };
        let sorted = vec![
            o("m/a/1.attempt.1"),
            o("m/a/1.attempt.2"),
            o("m/a/1.plan"),
            o("m/a/1.progress"),
            o("m/b/1.plan"),
            o("m/b/1.starting.1700000000"),
        ];
        let mut shuffled = sorted.clone();
        shuffled.swap(0, 4);
        shuffled.swap(1, 5);
        let a = plans_from_listing("m", &sorted);
        let b = plans_from_listing("m", &shuffled);
        let norm = |m: BTreeMap<PlanId, PlanFiles>| {
            m.into_iter()
                .map(|(k, mut v)| {
                    v.attempts.sort_by_key(|a| a.0);
                    (k, v)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(norm(a.clone()), norm(b));
        let pa = &a[&PlanId {
            tenant: "a".into(),
            day: 1,
        }];
        assert_eq!(pa.attempt_count(), 2);
        assert_eq!(pa.next_attempt(), 3);
        assert_eq!(pa.claimed_at(), Some(now));
        let pb = &a[&PlanId {
            tenant: "b".into(),
            day: 1,
        }];
        assert_eq!(pb.cortex_progress[0].key, "m/b/1.starting.1700000000");
        assert_eq!(
            pb.state(now, chrono::Duration::seconds(60)).0,
            PlanState::Stale,
            "a Cortex progress file is judged by the time in its name"
        );
    }

    #[test]
    fn untrusted_names_are_ignored_and_reported_escaped() {
        let long = format!("m/{}/1.plan", "x".repeat(151));
        let objs = vec![
            obj("m/team_b.prod/1.plan", 0),
            obj("m/scan-complete", 0),
            obj("m/scanned.index_1", 0),
            obj("m/claimable.0", 0),
            obj("m/../x", 0),
            obj("m/t/..%2F.plan", 0),
            obj("m/x\u{7}y/1.plan", 0),
            obj("m/a/b/1.plan", 0),
            obj("m/./1.plan", 0),
            obj("m/t/1.weird", 0),
            obj(&long, 0),
            obj("other/t/1.plan", 0),
        ];
        let plans = plans_from_listing("m", &objs);
        let ids: Vec<String> = plans.keys().map(|p| p.tenant.clone()).collect();
        // `t/1.weird` groups under a valid plan ID but is no file of it.
        assert_eq!(ids, vec!["t".to_string(), "team_b.prod".to_string()]);
        let ig = ignored_objects("m", &objs);
        assert_eq!(ig.count, 7, "{ig:?}");
        assert!(
            ig.examples.contains(&"m/x\\u{7}y/1.plan".to_string()),
            "{ig:?}"
        );
        assert!(ig.examples.iter().all(|e| !e.chars().any(char::is_control)));
    }

    #[test]
    fn a_future_heartbeat_is_stale_not_in_progress() {
        let now = Utc::now();
        let stale = chrono::Duration::seconds(600);
        let at = |ahead_s: i64| ObjectInfo {
            key: String::new(),
            size: 100,
            last_modified: now + chrono::Duration::seconds(ahead_s),
        };
        let objs = vec![
            ObjectInfo {
                key: "m/a/1.progress".into(),
                ..at(86_400 * 365)
            },
            ObjectInfo {
                key: "m/a/1.plan".into(),
                ..at(0)
            },
            ObjectInfo {
                key: "m/a/2.progress".into(),
                ..at(30)
            },
            ObjectInfo {
                key: "m/a/2.plan".into(),
                ..at(0)
            },
            ObjectInfo {
                key: "m/a/3.plan".into(),
                ..at(0)
            },
            ObjectInfo {
                key: "m/a/3.inprogress.99999999999".into(),
                ..at(0)
            },
        ];
        let plans = plans_from_listing("m", &objs);
        let get = |d: i32| {
            &plans[&PlanId {
                tenant: "a".into(),
                day: d,
            }]
        };
        assert_eq!(get(1).state(now, stale).0, PlanState::Stale);
        assert!(get(1).future_heartbeat(now, stale).is_some());
        // A little ahead is clock skew: still in progress.
        assert_eq!(get(2).state(now, stale).0, PlanState::InProgress);
        assert!(get(2).future_heartbeat(now, stale).is_none());
        assert_eq!(get(3).state(now, stale).0, PlanState::Stale);
    }

    #[test]
    fn oversized_status_files_make_the_plan_invalid() {
        let big = |key: &str, size: u64| ObjectInfo {
            key: key.into(),
            size,
            last_modified: Utc::now(),
        };
        let objs = vec![
            big("m/a/1.plan", 5 << 20),
            big("m/a/1.failed", (1 << 20) + 1),
            big("m/a/2.plan", 1),
            big("m/a/2.finished.01ARZ3NDEKTSV4RRFFQ69G5FAV", 2 << 20),
            big("m/a/3.plan", 1),
            big("m/a/3.failed", 1 << 20),
        ];
        let plans = plans_from_listing("m", &objs);
        let (s, why) = plans[&PlanId {
            tenant: "a".into(),
            day: 1,
        }]
            .state(Utc::now(), chrono::Duration::seconds(60));
        assert_eq!(s, PlanState::Invalid);
        assert!(why.unwrap().contains("1.failed is 1048577 bytes"));
        assert_eq!(st(&plans, 2), PlanState::Invalid);
        // A plan file may be large; a status file at the cap is fine.
        assert_eq!(st(&plans, 3), PlanState::Failed);
    }

    #[test]
    fn a_grouper_finds_what_a_whole_listing_finds() {
        let objs = vec![
            obj("m/a/1.attempt.1", 0),
            obj("m/a/1.plan", 0),
            obj("m/a/2.plan", 0),
            obj("m/a/2.progress", 0),
            obj("m/bad tenant/8.plan", 0),
            obj("m/b/1.plan", 0),
            obj("m/scan-complete", 0),
        ];
        let mut g = PlanGrouper::new("m");
        let mut seen = BTreeMap::new();
        for o in &objs {
            g.push(o, |id, f| assert!(seen.insert(id, f).is_none()));
        }
        g.finish(|id, f| assert!(seen.insert(id, f).is_none()));
        assert_eq!(seen, plans_from_listing("m", &objs));
    }

    #[test]
    fn counts() {
        let mut c = StateCounts::default();
        c.add(PlanState::New);
        c.add(PlanState::Stale);
        c.add(PlanState::Finished);
        assert_eq!(
            (c.total(), c.pending(), c.get(PlanState::Finished)),
            (3, 2, 1)
        );
    }
}
