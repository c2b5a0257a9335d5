//! Contents of the small status files in the bucket: what a finished file,
//! a failed file, a progress file and an attempt file say.
//!
//! They are JSON so that a person mending a campaign by hand can read them
//! with `cat`, and so that `status` can sum totals from finished files.
//! Fields added after the first release carry `#[serde(default)]`, so files
//! written by older builders still parse. Cortex's own status files are
//! plain text, not JSON; readers treat an unparsable file as a reason or a
//! block name given verbatim.

use serde::{Deserialize, Serialize};

/// Bytes a finished or failed file may have at most. Real ones are a few
/// hundred bytes; a bigger one is planted or broken, and is reported as
/// invalid instead of being read whole into memory.
pub const MAX_RECORD_BYTES: u64 = 1 << 20;

/// Text from the bucket (a failure reason, a block or tenant name) made
/// safe for a terminal: control characters and bidirectional overrides
/// become `\u{..}` escapes, so a planted file
/// cannot move the cursor, clear the screen or reorder what is shown.
/// Every printer of such text uses this one function.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// What a builder got out of one plan; the content of `<day>.finished.<ULID>`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FinishedRecord {
    /// The block's ULID.
    pub block: String,
    /// The plan's tenant.
    pub tenant: String,
    /// The plan's UTC day.
    pub day: i32,
    /// The builder that built it (`--name`).
    pub builder: String,
    /// Series in the block.
    pub series: u64,
    /// Chunks in the block.
    pub chunks: u64,
    /// Samples read from the source for the day.
    pub samples_in: u64,
    /// Samples written into the block.
    pub samples_out: u64,
    /// Samples dropped for repeating a timestamp of their series.
    pub duplicates_dropped: u64,
    /// Duplicates whose values differed: the first one was kept.
    pub duplicates_disagreeing: u64,
    /// Samples of the sources outside the plan's day (they belong to other days' plans).
    pub samples_outside_day: u64,
    /// Bytes of the block's files.
    pub bytes: u64,
    /// Wall time of the build, in seconds.
    pub seconds: f64,
    /// Input left out instead of failing the plan (absent in records of
    /// builds that skipped nothing, and in older records).
    #[serde(default, skip_serializing_if = "SkippedInput::is_empty")]
    pub skipped: SkippedInput,
}

/// Input a builder left out of a block instead of failing the plan: corrupt
/// chunks and series under the skip policy, and chunks with no samples
/// (the Cortex builder's module docs list every case).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SkippedInput {
    /// Corrupt chunks left out (undecodable, or contradicting their key or
    /// themselves).
    pub chunks_corrupt: u64,
    /// Chunks holding no sample.
    pub chunks_empty: u64,
    /// Series left out whole: their chunks disagree on labels, or none of
    /// them could be used.
    pub series: u64,
}

impl SkippedInput {
    /// True when nothing was left out.
    pub fn is_empty(&self) -> bool {
        *self == SkippedInput::default()
    }
}

/// The content of `<day>.failed`: why, by whom, after how many attempts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailedRecord {
    /// The error chain, as printed.
    pub reason: String,
    /// The builder that gave up, or `scheduler` for a stale plan.
    pub builder: String,
    /// When (RFC 3339).
    pub at: String,
    /// The attempt that failed; 0 in older records.
    #[serde(default)]
    pub attempt: u32,
}

/// The content of `<day>.progress`: who holds the plan, since when, and how
/// far it got. Rewritten every heartbeat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgressRecord {
    /// The builder holding the plan (`--name`).
    pub builder: String,
    /// When it claimed the plan (RFC 3339).
    pub started: String,
    /// Its last heartbeat (RFC 3339); the object's mtime is what counts.
    pub heartbeat: String,
    /// Which stage the build is in ("fetching", "writing", "uploading"…).
    pub stage: String,
    /// Series written into the block so far.
    pub series_done: u64,
    /// Which attempt this is, from 1.
    pub attempt: u32,
    /// The block this claim will upload: with `builder`, what a builder
    /// compares to know the progress file is still its own.
    #[serde(default)]
    pub block: String,
}

impl ProgressRecord {
    /// True when `self` and `other` are the same claim (same builder, same
    /// block), whatever their heartbeats say.
    pub fn same_claim(&self, other: &ProgressRecord) -> bool {
        self.builder == other.builder && self.block == other.block && self.started == other.started
    }
}

/// The content of `<day>.attempt.<k>`: which builder tried and which block
/// it would upload, so a later attempt can remove what this one left.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// The builder that claimed (`--name`).
    pub builder: String,
    /// The ULID it will upload under.
    pub block: String,
    /// When it claimed (RFC 3339).
    pub started: String,
    /// The URL of the bucket the block goes to, when not the plan bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// Now, in the form every record uses (RFC 3339, seconds, `Z`).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_text_has_no_control_characters() {
        let raw = "bad\u{1b}[2J\r\nchunk\u{7}\u{202e}gnp.exe \\ ok é";
        let e = escape_text(raw);
        assert!(!e.chars().any(|c| c.is_control() || c == '\u{202e}'), "{e}");
        assert_eq!(
            e,
            "bad\\u{1b}[2J\\u{d}\\u{a}chunk\\u{7}\\u{202e}gnp.exe \\ ok é"
        );
        assert_eq!(escape_text("plain text"), "plain text");
    }

    #[test]
    fn skipped_counts_default_to_zero() {
        let s: SkippedInput = serde_json::from_str(r#"{"chunks_empty":2}"#).unwrap();
        assert_eq!(
            s,
            SkippedInput {
                chunks_empty: 2,
                ..SkippedInput::default()
            }
        );
        assert!(!s.is_empty());
        let none: SkippedInput = serde_json::from_str("{}").unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn old_progress_files_parse_and_claims_compare() {
        let old = r#"{"builder":"b","started":"s","heartbeat":"h","stage":"x","series_done":0,"attempt":1}"#;
        let p: ProgressRecord = serde_json::from_str(old).unwrap();
        assert_eq!(p.block, "");
        let mut q = p.clone();
        q.heartbeat = "later".into();
        assert!(p.same_claim(&q));
        q.block = "01ABC".into();
        assert!(!p.same_claim(&q));
    }
}
