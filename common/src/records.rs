//! Contents of the small status files in the bucket: what a finished file,
//! a failed file, a progress file and an attempt file say.
//!
//! They are JSON so that a person mending a campaign by hand can read them
//! with `cat`, and so that `status` can sum totals from finished files.

use serde::{Deserialize, Serialize};

/// What a builder got out of one plan; the content of `<day>.finished.<ULID>`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FinishedRecord {
    pub block: String,
    pub tenant: String,
    pub day: i32,
    pub builder: String,
    pub series: u64,
    pub chunks: u64,
    pub samples_in: u64,
    pub samples_out: u64,
    pub duplicates_dropped: u64,
    /// Duplicates whose values differed: the first one was kept.
    pub duplicates_disagreeing: u64,
    /// Samples of the sources outside the plan's day (they belong to other days' plans).
    pub samples_outside_day: u64,
    pub bytes: u64,
    pub seconds: f64,
}

/// The content of `<day>.failed`: why, by whom, after how many attempts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailedRecord {
    pub reason: String,
    pub builder: String,
    pub at: String,
    #[serde(default)]
    pub attempt: u32,
}

/// The content of `<day>.progress`: who holds the plan, since when, and how
/// far it got. Rewritten every heartbeat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgressRecord {
    pub builder: String,
    pub started: String,
    pub heartbeat: String,
    /// Which stage the build is in ("fetching", "writing", "uploading"…).
    pub stage: String,
    pub series_done: u64,
    pub attempt: u32,
}

/// The content of `<day>.attempt.<k>`: which builder tried and which block
/// it would upload, so a later attempt can remove what this one left.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub builder: String,
    pub block: String,
    pub started: String,
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
