//! The names of the files in the bucket that carry the protocol.
//!
//! Under a prefix `P`, every file of one plan starts with `P/<tenant>/<day>`:
//! `.plan[.gz|.snappy]`, `.progress` (Cortex: `.inprogress.<unix>`,
//! `.starting.<unix>`), `.attempt.<k>`, `.finished.<ULID>`, `.failed`
//! (Cortex: `.error`) and our `.staged`. Files directly under `P/` are scan
//! markers. This module turns names into typed values and back, and nothing
//! else: it reads no file contents. Names come from listings and are
//! untrusted; anything that does not parse is [`PlanFile::Other`].

pub use crate::plan::PlanCompression;
use crate::tenant::validate_tenant;

/// The `--prefix` unless given: where plans live in the bucket.
pub const DEFAULT_PREFIX: &str = "migration";
/// `P/scan-complete`: written last by the scanner.
pub const SCAN_COMPLETE: &str = "scan-complete";
/// `P/scanned.<unit>`: one source unit is scanned.
pub const SCANNED_PREFIX: &str = "scanned.";

/// One file of a plan, parsed from the part of its name after `P/<tenant>/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanFile {
    /// `.plan`, `.plan.gz` or `.plan.snappy`.
    Plan(PlanCompression),
    /// Our progress file (`.progress`), or Cortex's `.inprogress.<unix>` /
    /// `.starting.<unix>` / `.progress.<unix>` with the time in the name.
    Progress {
        /// The time in a Cortex progress name (unix seconds); `None` for ours.
        cortex_unix: Option<i64>,
    },
    /// `.attempt.<k>`, k from 1: one claim each.
    Attempt(u32),
    /// `.finished.<ULID>`: the block the plan became.
    Finished(String),
    /// Our `.failed` or Cortex's `.error`.
    Failed {
        /// `true` for Cortex's `.error`.
        cortex: bool,
    },
    /// `.staged`: the scanner's samples of an OpenMetrics plan.
    Staged,
    /// Anything else after `<day>.`: not ours, never acted on.
    Other,
}

/// A plan's identity: tenant and UTC day index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlanId {
    /// The tenant, validated where it came from a listing.
    pub tenant: String,
    /// UTC day: days since 1970-01-01.
    pub day: i32,
}

impl PlanId {
    /// `P/<tenant>/<day>`, the common start of every file of the plan.
    pub fn base(&self, prefix: &str) -> String {
        join_prefix(prefix, &format!("{}/{}", self.tenant, self.day))
    }
    /// `P/<tenant>/<day>.plan[.gz|.snappy]`.
    pub fn plan_key(&self, prefix: &str, c: PlanCompression) -> String {
        format!("{}{}", self.base(prefix), c.suffix())
    }
    /// `P/<tenant>/<day>.progress`: held by the building builder.
    pub fn progress_key(&self, prefix: &str) -> String {
        format!("{}.progress", self.base(prefix))
    }
    /// `P/<tenant>/<day>.attempt.<k>`: the k-th claim.
    pub fn attempt_key(&self, prefix: &str, k: u32) -> String {
        format!("{}.attempt.{}", self.base(prefix), k)
    }
    /// `P/<tenant>/<day>.finished.<block>`: the outcome, naming the block.
    pub fn finished_key(&self, prefix: &str, block: &str) -> String {
        format!("{}.finished.{}", self.base(prefix), block)
    }
    /// `P/<tenant>/<day>.failed`: why the plan failed.
    pub fn failed_key(&self, prefix: &str) -> String {
        format!("{}.failed", self.base(prefix))
    }
    /// `P/<tenant>/<day>.staged`: the scanner's samples for this plan.
    pub fn staged_key(&self, prefix: &str) -> String {
        format!("{}.staged", self.base(prefix))
    }
    /// `P/<tenant>/<day>.error`: Cortex's failed file, read and removed
    /// like ours.
    pub fn cortex_error_key(&self, prefix: &str) -> String {
        format!("{}.error", self.base(prefix))
    }
    /// Start of the day in milliseconds.
    pub fn day_start_ms(&self) -> i64 {
        i64::from(self.day) * base::DAY_MS
    }
    /// End of the day in milliseconds, exclusive.
    pub fn day_end_ms(&self) -> i64 {
        self.day_start_ms() + base::DAY_MS
    }
}

impl std::fmt::Display for PlanId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} ({})",
            self.tenant,
            self.day,
            day_to_date(self.day)
        )
    }
}

/// `2026-11-16` for a day index.
pub fn day_to_date(day: i32) -> String {
    chrono::DateTime::from_timestamp(i64::from(day) * base::DAY_SECS, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| format!("day {day}"))
}

/// Parses `YYYY-MM-DD` into a day index.
pub fn date_to_day(s: &str) -> Option<i32> {
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    let secs = d.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
    i32::try_from(secs.div_euclid(base::DAY_SECS)).ok()
}

/// `P/scan-complete`: the scan is done, no new plan will appear.
pub fn scan_complete_key(prefix: &str) -> String {
    join_prefix(prefix, SCAN_COMPLETE)
}

/// `P/scanned.<unit>`: the source unit `unit` (a file, an index table) is
/// scanned and its plans are all published.
pub fn scanned_key(prefix: &str, unit: &str) -> String {
    join_prefix(prefix, &format!("{SCANNED_PREFIX}{unit}"))
}

/// `P/<rel>`, or `rel` alone under an empty prefix (plans at the bucket
/// root).
pub fn join_prefix(prefix: &str, rel: &str) -> String {
    if prefix.is_empty() {
        rel.to_string()
    } else {
        format!("{prefix}/{rel}")
    }
}

/// The inverse of [`join_prefix`]: `key` relative to the prefix, or `None`
/// when the key is not under it. Plan entries name objects this way.
pub fn relative_key<'k>(prefix: &str, key: &'k str) -> Option<&'k str> {
    if prefix.is_empty() {
        Some(key)
    } else {
        key.strip_prefix(prefix)?.strip_prefix('/')
    }
}

/// `<tenant>/<ULID>`: a block's directory in the output bucket, the
/// Thanos/Cortex layout (never under the plan prefix).
pub fn block_dir(tenant: &str, block: &str) -> String {
    format!("{tenant}/{block}")
}

/// Whether `key` is a file of a block (`<tenant>/<ULID>/…`), which under an
/// empty prefix sits among the plan files when blocks go to the plan bucket.
pub fn is_block_file(key: &str) -> bool {
    let mut parts = key.splitn(3, '/');
    let (Some(_tenant), Some(block), Some(file)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !file.is_empty() && ulid::Ulid::from_string(block).is_ok()
}

/// `<tenant>/<ULID>/<file>`: one file of a block (`meta.json`, `index`,
/// `chunks/000001`).
pub fn block_file_key(tenant: &str, block: &str, file: &str) -> String {
    format!("{tenant}/{block}/{file}")
}

/// [`PlanFile`] borrowing from the name it was parsed from, so that a
/// listing of millions of names is classified without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanFileRef<'a> {
    /// See [`PlanFile::Plan`].
    Plan(PlanCompression),
    /// See [`PlanFile::Progress`].
    Progress {
        /// See [`PlanFile::Progress`].
        cortex_unix: Option<i64>,
    },
    /// See [`PlanFile::Attempt`].
    Attempt(u32),
    /// See [`PlanFile::Finished`].
    Finished(&'a str),
    /// See [`PlanFile::Failed`].
    Failed {
        /// `true` for Cortex's `.error`.
        cortex: bool,
    },
    /// See [`PlanFile::Staged`].
    Staged,
    /// See [`PlanFile::Other`].
    Other,
}

impl PlanFileRef<'_> {
    /// The owned [`PlanFile`].
    pub fn to_owned(self) -> PlanFile {
        match self {
            PlanFileRef::Plan(c) => PlanFile::Plan(c),
            PlanFileRef::Progress { cortex_unix } => PlanFile::Progress { cortex_unix },
            PlanFileRef::Attempt(k) => PlanFile::Attempt(k),
            PlanFileRef::Finished(b) => PlanFile::Finished(b.to_string()),
            PlanFileRef::Failed { cortex } => PlanFile::Failed { cortex },
            PlanFileRef::Staged => PlanFile::Staged,
            PlanFileRef::Other => PlanFile::Other,
        }
    }
}

/// Splits a key `P/<tenant>/<file>` into the plan it belongs to and what
/// the file is. `None` when the key is not a plan file (a scan marker, a
/// nested object, a bad tenant or day).
pub fn parse_plan_key(prefix: &str, key: &str) -> Option<(PlanId, PlanFile)> {
    let (tenant, day, kind) = parse_plan_key_ref(prefix, key)?;
    Some((
        PlanId {
            tenant: tenant.to_string(),
            day,
        },
        kind.to_owned(),
    ))
}

/// [`parse_plan_key`] without allocating: tenant, day and file kind, the
/// strings borrowed from `key`. The tenant is validated.
pub fn parse_plan_key_ref<'k>(
    prefix: &str,
    key: &'k str,
) -> Option<(&'k str, i32, PlanFileRef<'k>)> {
    let (tenant, file) = split_plan_key(prefix, key)?;
    if validate_tenant(tenant).is_err() {
        return None;
    }
    let (day, kind) = parse_file_name_ref(file)?;
    Some((tenant, day, kind))
}

/// `P/<tenant>/<file>` into tenant and file, unvalidated; callers that see
/// the same tenant many times in a row validate it once.
pub fn split_plan_key<'k>(prefix: &str, key: &'k str) -> Option<(&'k str, &'k str)> {
    let (tenant, file) = relative_key(prefix, key)?.split_once('/')?;
    if file.contains('/') {
        return None;
    }
    Some((tenant, file))
}

/// Parses the file part (`20773.plan.snappy`, `20773.inprogress.1700000000`…).
pub fn parse_file_name(file: &str) -> Option<(i32, PlanFile)> {
    parse_file_name_ref(file).map(|(d, k)| (d, k.to_owned()))
}

/// [`parse_file_name`] without allocating.
pub fn parse_file_name_ref(file: &str) -> Option<(i32, PlanFileRef<'_>)> {
    let (day, rest) = file.split_once('.')?;
    let day = i32::try_from(parse_digits(day)?).ok()?;
    let kind = match rest {
        "plan" => PlanFileRef::Plan(PlanCompression::None),
        "plan.gz" => PlanFileRef::Plan(PlanCompression::Gzip),
        "plan.snappy" => PlanFileRef::Plan(PlanCompression::Snappy),
        "progress" => PlanFileRef::Progress { cortex_unix: None },
        "failed" => PlanFileRef::Failed { cortex: false },
        "error" => PlanFileRef::Failed { cortex: true },
        "staged" => PlanFileRef::Staged,
        _ => {
            let Some((kind, arg)) = rest.split_once('.') else {
                return Some((day, PlanFileRef::Other));
            };
            match kind {
                "inprogress" | "starting" | "progress" => match parse_digits(arg) {
                    Some(t) => PlanFileRef::Progress {
                        cortex_unix: Some(t),
                    },
                    None => PlanFileRef::Other,
                },
                "attempt" => match parse_digits(arg).and_then(|k| u32::try_from(k).ok()) {
                    Some(k) if k > 0 => PlanFileRef::Attempt(k),
                    _ => PlanFileRef::Other,
                },
                "finished" if !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                    PlanFileRef::Finished(arg)
                }
                _ => PlanFileRef::Other,
            }
        }
    };
    Some((day, kind))
}

fn parse_digits(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ours_and_cortex() {
        let p = |k: &str| parse_plan_key("migration", k);
        assert_eq!(
            p("migration/team_b.prod/20773.plan.snappy"),
            Some((
                PlanId {
                    tenant: "team_b.prod".into(),
                    day: 20773
                },
                PlanFile::Plan(PlanCompression::Snappy)
            ))
        );
        assert_eq!(
            p("migration/a/1.inprogress.1700000000").map(|x| x.1),
            Some(PlanFile::Progress {
                cortex_unix: Some(1_700_000_000)
            })
        );
        assert_eq!(
            p("migration/a/1.finished.01M807KRWAX1DQHCCBKNVQ59J7").map(|x| x.1),
            Some(PlanFile::Finished("01M807KRWAX1DQHCCBKNVQ59J7".into()))
        );
        assert_eq!(
            p("migration/a/1.error").map(|x| x.1),
            Some(PlanFile::Failed { cortex: true })
        );
        assert_eq!(
            p("migration/a/1.attempt.3").map(|x| x.1),
            Some(PlanFile::Attempt(3))
        );
        assert_eq!(p("migration/scan-complete"), None);
        assert_eq!(p("migration/../x/1.plan"), None);
        assert_eq!(p("migration/a/b/1.plan"), None);
        assert_eq!(p("migration/a/x1.plan"), None);
        assert_eq!(p("migration/a/1.finished.../x").map(|x| x.1), None);
        assert_eq!(
            p("migration/a/1.attempt.0").map(|x| x.1),
            Some(PlanFile::Other)
        );
        assert_eq!(
            p("migration/a/1.inprogress.x").map(|x| x.1),
            Some(PlanFile::Other)
        );
        assert_eq!(p("migration/a/99999999999.plan"), None);
        assert_eq!(p("migration/a/1.weird").map(|x| x.1), Some(PlanFile::Other));
        assert_eq!(
            parse_plan_key("", "t/5.failed"),
            Some((
                PlanId {
                    tenant: "t".into(),
                    day: 5
                },
                PlanFile::Failed { cortex: false }
            ))
        );
    }

    #[test]
    fn borrowed_parse_borrows() {
        let key = String::from("m/t/7.finished.01ABC");
        let (tenant, day, kind) = parse_plan_key_ref("m", &key).unwrap();
        assert_eq!(
            (tenant, day, kind),
            ("t", 7, PlanFileRef::Finished("01ABC"))
        );
        assert_eq!(scan_complete_key("m"), "m/scan-complete");
        assert_eq!(scan_complete_key(""), "scan-complete");
    }

    #[test]
    fn empty_prefix_is_the_bucket_root() {
        let id = PlanId {
            tenant: "t".into(),
            day: 3,
        };
        assert_eq!(id.staged_key(""), "t/3.staged");
        assert_eq!(scanned_key("", "x.om"), "scanned.x.om");
        assert_eq!(scanned_key("m", "x.om"), "m/scanned.x.om");
        assert_eq!(relative_key("", "t/3.staged"), Some("t/3.staged"));
        assert_eq!(relative_key("m", "m/t/3.staged"), Some("t/3.staged"));
        assert_eq!(relative_key("m", "mm/t/3.staged"), None);
        let key = id.staged_key("");
        let rel = relative_key("", &key).unwrap();
        assert_eq!(
            parse_plan_key("", &join_prefix("", rel)),
            Some((id, PlanFile::Staged))
        );
        assert_eq!(block_file_key("t", "01X", "meta.json"), "t/01X/meta.json");
        assert!(is_block_file("t/01KBXGZ4TQ3YV3N7Z5RAVXJ8PQ/chunks/000001"));
        assert!(!is_block_file("t/3.staged"));
        assert!(!is_block_file("t/notaulid/meta.json"));
    }

    #[test]
    fn keys_and_dates() {
        let id = PlanId {
            tenant: "t".into(),
            day: 20773,
        };
        assert_eq!(
            id.plan_key("m", PlanCompression::Snappy),
            "m/t/20773.plan.snappy"
        );
        assert_eq!(day_to_date(20773), "2026-11-16");
        assert_eq!(date_to_day("2026-11-16"), Some(20773));
        assert_eq!(id.day_start_ms(), 20773 * base::DAY_MS);
    }
}
