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

pub const DEFAULT_PREFIX: &str = "migration";
pub const SCAN_COMPLETE: &str = "scan-complete";
pub const SCANNED_PREFIX: &str = "scanned.";

/// One file of a plan, parsed from the part of its name after `P/<tenant>/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanFile {
    Plan(PlanCompression),
    /// Our progress file (`.progress`), or Cortex's `.inprogress.<unix>` /
    /// `.starting.<unix>` / `.progress.<unix>` with the time in the name.
    Progress { cortex_unix: Option<i64> },
    Attempt(u32),
    Finished(String),
    /// Our `.failed` or Cortex's `.error`.
    Failed { cortex: bool },
    Staged,
    Other,
}

/// A plan's identity: tenant and UTC day index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlanId {
    pub tenant: String,
    pub day: i32,
}

impl PlanId {
    /// `P/<tenant>/<day>`, the common start of every file of the plan.
    pub fn base(&self, prefix: &str) -> String {
        format!("{}/{}/{}", prefix, self.tenant, self.day)
    }
    pub fn plan_key(&self, prefix: &str, c: PlanCompression) -> String {
        format!("{}{}", self.base(prefix), c.suffix())
    }
    pub fn progress_key(&self, prefix: &str) -> String {
        format!("{}.progress", self.base(prefix))
    }
    pub fn attempt_key(&self, prefix: &str, k: u32) -> String {
        format!("{}.attempt.{}", self.base(prefix), k)
    }
    pub fn finished_key(&self, prefix: &str, block: &str) -> String {
        format!("{}.finished.{}", self.base(prefix), block)
    }
    pub fn failed_key(&self, prefix: &str) -> String {
        format!("{}.failed", self.base(prefix))
    }
    pub fn staged_key(&self, prefix: &str) -> String {
        format!("{}.staged", self.base(prefix))
    }
    /// Start of the day in milliseconds.
    pub fn day_start_ms(&self) -> i64 {
        i64::from(self.day) * 86_400_000
    }
    pub fn day_end_ms(&self) -> i64 {
        self.day_start_ms() + 86_400_000
    }
}

impl std::fmt::Display for PlanId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} ({})", self.tenant, self.day, day_to_date(self.day))
    }
}

/// `2026-11-16` for a day index.
pub fn day_to_date(day: i32) -> String {
    chrono::DateTime::from_timestamp(i64::from(day) * 86_400, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| format!("day {day}"))
}

/// Parses `YYYY-MM-DD` into a day index.
pub fn date_to_day(s: &str) -> Option<i32> {
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    let secs = d.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
    i32::try_from(secs.div_euclid(86_400)).ok()
}

/// Splits a key `P/<tenant>/<file>` into the plan it belongs to and what
/// the file is. `None` when the key is not a plan file (a scan marker, a
/// nested object, a bad tenant or day).
pub fn parse_plan_key(prefix: &str, key: &str) -> Option<(PlanId, PlanFile)> {
    let rest = key.strip_prefix(prefix)?.strip_prefix('/')?;
    let (tenant, file) = rest.split_once('/')?;
    if file.contains('/') || validate_tenant(tenant).is_err() {
        return None;
    }
    let (day, kind) = parse_file_name(file)?;
    Some((
        PlanId {
            tenant: tenant.to_string(),
            day,
        },
        kind,
    ))
}

/// Parses the file part (`20773.plan.snappy`, `20773.inprogress.1700000000`…).
pub fn parse_file_name(file: &str) -> Option<(i32, PlanFile)> {
    let (day, rest) = file.split_once('.')?;
    if day.is_empty() || !day.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let day: i32 = day.parse().ok()?;
    let kind = match rest {
        "plan" => PlanFile::Plan(PlanCompression::None),
        "plan.gz" => PlanFile::Plan(PlanCompression::Gzip),
        "plan.snappy" => PlanFile::Plan(PlanCompression::Snappy),
        "progress" => PlanFile::Progress { cortex_unix: None },
        "failed" => PlanFile::Failed { cortex: false },
        "error" => PlanFile::Failed { cortex: true },
        "staged" => PlanFile::Staged,
        _ => {
            let (kind, arg) = rest.split_once('.')?;
            match kind {
                "inprogress" | "starting" | "progress" => PlanFile::Progress {
                    cortex_unix: Some(parse_digits(arg)?),
                },
                "attempt" => PlanFile::Attempt(u32::try_from(parse_digits(arg)?).ok()?),
                "finished" if !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                    PlanFile::Finished(arg.to_string())
                }
                _ => PlanFile::Other,
            }
        }
    };
    Some((day, kind))
}

fn parse_digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
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
        assert_eq!(p("migration/a/1.error").map(|x| x.1), Some(PlanFile::Failed { cortex: true }));
        assert_eq!(p("migration/a/1.attempt.3").map(|x| x.1), Some(PlanFile::Attempt(3)));
        assert_eq!(p("migration/scan-complete"), None);
        assert_eq!(p("migration/../x/1.plan"), None);
        assert_eq!(p("migration/a/b/1.plan"), None);
        assert_eq!(p("migration/a/x1.plan"), None);
        assert_eq!(p("migration/a/1.finished.../x").map(|x| x.1), None);
    }

    #[test]
    fn keys_and_dates() {
        let id = PlanId {
            tenant: "t".into(),
            day: 20773,
        };
        assert_eq!(id.plan_key("m", PlanCompression::Snappy), "m/t/20773.plan.snappy");
        assert_eq!(day_to_date(20773), "2026-11-16");
        assert_eq!(date_to_day("2026-11-16"), Some(20773));
        assert_eq!(id.day_start_ms(), 20773 * 86_400_000);
    }
}
