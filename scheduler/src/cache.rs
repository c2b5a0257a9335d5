//! The contents the scheduler reads besides the listing: finished files
//! (for totals) and the first failed files (for their reasons), each read
//! once and remembered by key.
//!
//! A finished file never changes, so one process reads it at most once;
//! what is kept of it is the five sums the report adds up (40 bytes, not
//! the whole record), so a campaign of 1 M plans costs the scheduler about
//! 1 M GETs once and ~150 MB, then nothing more per scan. `status` reads
//! no finished file unless `--exact` asks ([`FinishedReads`]).
//!
//! Plan states never depend on these reads; a file that cannot be read now
//! is simply tried again at the next scan.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use protocol::bucket::Bucket;
use protocol::names::PlanId;
use protocol::records::{FailedRecord, FinishedRecord};
use protocol::state::{PlanFiles, PlanState};
use tracing::warn;

/// Reads in flight at once.
const CONCURRENT_READS: usize = 16;
/// Failed files whose reason is read per scan at most.
const MAX_REASONS: usize = 100;
/// A reason longer than this is cut, so a page stays readable.
const MAX_REASON_LEN: usize = 2000;

/// What the report sums over one finished file: the part of a
/// [`FinishedRecord`] worth keeping for 1 M plans.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FinishedSums {
    /// Series written into the block.
    pub(crate) series: u64,
    /// Samples the builder read from the source.
    pub(crate) samples_in: u64,
    /// Samples written into the block.
    pub(crate) samples_out: u64,
    /// Samples dropped as duplicates of an equal timestamp.
    pub(crate) duplicates_dropped: u64,
    /// Bytes of the block's files.
    pub(crate) bytes: u64,
}

impl From<&FinishedRecord> for FinishedSums {
    fn from(r: &FinishedRecord) -> Self {
        FinishedSums {
            series: r.series,
            samples_in: r.samples_in,
            samples_out: r.samples_out,
            duplicates_dropped: r.duplicates_dropped,
            bytes: r.bytes,
        }
    }
}

/// Whether a refresh reads finished files: the scheduler does (once per
/// file per process), `status` only with `--exact`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FinishedReads {
    /// Read every finished file not read yet.
    All,
    /// Read none: the report counts blocks from the listing alone.
    None,
}

#[derive(Debug, Default)]
pub(crate) struct ContentCache {
    /// Finished key to its sums; `None` when it is not our JSON (Cortex
    /// writes the block ID alone).
    finished: HashMap<String, Option<FinishedSums>>,
    /// Failed plans to (the failed file's time, its reason).
    failed: BTreeMap<PlanId, (DateTime<Utc>, String)>,
}

impl ContentCache {
    /// Reads what is new since the last call and forgets what vanished.
    pub(crate) async fn refresh(
        &mut self,
        bucket: &Bucket,
        prefix: &str,
        plans: &BTreeMap<PlanId, PlanFiles>,
        reads: FinishedReads,
    ) {
        let mut wanted_finished = Vec::new();
        let mut listed_finished = std::collections::HashSet::new();
        let mut wanted_failed = Vec::new();
        let far = chrono::Duration::days(365 * 100);
        let now = Utc::now();
        for (id, files) in plans {
            // Status files over the cap make the plan invalid; never read them.
            if !files.oversized.is_empty() {
                continue;
            }
            for b in files
                .finished
                .iter()
                .filter(|_| reads == FinishedReads::All)
            {
                let key = id.finished_key(prefix, b);
                if !self.finished.contains_key(&key) {
                    wanted_finished.push(key.clone());
                }
                listed_finished.insert(key);
            }
            if files.state(now, far).0 == PlanState::Failed && wanted_failed.len() < MAX_REASONS {
                if let Some(&(cortex, stamp)) = files.failed.first() {
                    let fresh = self
                        .failed
                        .get(id)
                        .is_some_and(|(t, _)| *t == stamp.last_modified);
                    if !fresh {
                        let key = if cortex {
                            id.cortex_error_key(prefix)
                        } else {
                            id.failed_key(prefix)
                        };
                        wanted_failed.push((id.clone(), key, stamp.last_modified));
                    }
                }
            }
        }
        self.finished.retain(|k, _| listed_finished.contains(k));
        self.failed
            .retain(|id, _| plans.get(id).is_some_and(|f| !f.failed.is_empty()));

        let mut reads = futures::stream::iter(wanted_finished)
            .map(|key| async move {
                let r = bucket.get_opt(&key).await;
                (key, r)
            })
            .buffer_unordered(CONCURRENT_READS);
        while let Some((key, r)) = reads.next().await {
            match r {
                Ok(Some(bytes)) => {
                    let sums = serde_json::from_slice::<FinishedRecord>(&bytes)
                        .ok()
                        .map(|r| FinishedSums::from(&r));
                    self.finished.insert(key, sums);
                }
                Ok(None) => {}
                Err(e) => {
                    warn!(key, error = %base::ErrorChain(&e), "cannot read finished file; will retry")
                }
            }
        }
        let mut reads = futures::stream::iter(wanted_failed)
            .map(|(id, key, at)| async move {
                let r = bucket.get_opt(&key).await;
                (id, key, at, r)
            })
            .buffer_unordered(CONCURRENT_READS);
        while let Some((id, key, at, r)) = reads.next().await {
            match r {
                Ok(Some(bytes)) => {
                    self.failed.insert(id, (at, failure_reason(&bytes)));
                }
                Ok(None) => {}
                Err(e) => {
                    warn!(key, error = %base::ErrorChain(&e), "cannot read failed file; will retry")
                }
            }
        }
    }

    pub(crate) fn finished(&self, prefix: &str, id: &PlanId, block: &str) -> Option<FinishedSums> {
        self.finished
            .get(&id.finished_key(prefix, block))
            .copied()
            .flatten()
    }

    pub(crate) fn reasons(&self) -> BTreeMap<PlanId, String> {
        self.failed
            .iter()
            .map(|(id, (_, r))| (id.clone(), r.clone()))
            .collect()
    }
}

/// The reason in a failed file: our JSON, or Cortex's plain text.
pub(crate) fn failure_reason(bytes: &[u8]) -> String {
    let mut s = match serde_json::from_slice::<FailedRecord>(bytes) {
        Ok(r) => format!("{} (attempt {}, {})", r.reason, r.attempt, r.builder),
        Err(_) => String::from_utf8_lossy(bytes).trim().to_string(),
    };
    if s.len() > MAX_REASON_LEN {
        let mut cut = MAX_REASON_LEN;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_from_json_and_text() {
        let rec = FailedRecord {
            reason: "bad chunk".into(),
            builder: "b1".into(),
            at: "t".into(),
            attempt: 2,
        };
        assert_eq!(
            failure_reason(&serde_json::to_vec(&rec).unwrap()),
            "bad chunk (attempt 2, b1)"
        );
        assert_eq!(
            failure_reason(b"Obsolete progress file found\n"),
            "Obsolete progress file found"
        );
        assert!(failure_reason(&vec![b'x'; 5000]).len() < 2100);
    }
}
