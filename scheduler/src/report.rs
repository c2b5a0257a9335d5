//! The status of a campaign, from one listing and the finished files:
//! counts per state and per tenant, the oldest plan in progress, totals,
//! throughput and an estimate of the time left.
//!
//! Everything but the sums over finished files (series, samples, bytes)
//! comes from the listing; those sums need one GET per finished file, so a
//! report says where its sums come from ([`TotalsFrom`]) and when its
//! listing was taken.
//!
//! One [`StatusReport`] feeds the scheduler's `/status` page (HTML and
//! JSON), its `/metrics`, and the `status` command's terminal table, so
//! they always agree. Not here: acting on states (see [`crate::stale`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use protocol::names::{day_to_date, PlanId};
use protocol::state::{IgnoredObjects, PlanFiles, PlanState, StateCounts};
use serde::Serialize;

use crate::cache::FinishedSums;

/// Plans listed by name in the report at most (failed, invalid).
const MAX_LISTED: usize = 100;
/// Throughput is measured over the plans finished this long before now.
const THROUGHPUT_WINDOW_S: i64 = 15 * 60;
/// No throughput is reported from finishes seen over less than this.
const MIN_RATE_SPAN_S: i64 = 60;

/// Plans per state, as the JSON report and the tables name them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StateCountsJson {
    /// Claimable: a plan file and nothing else that holds it.
    pub new: u64,
    /// Claimed, with a heartbeat younger than the stale timeout.
    pub in_progress: u64,
    /// Claimed, but the builder stopped heartbeating: the scheduler's to act on.
    pub stale: u64,
    /// A finished file names the plan's block.
    pub finished: u64,
    /// A failed file (ours or Cortex's) holds the plan until `retry`.
    pub failed: u64,
    /// Contradictory files: several plan or finished files, finished and
    /// failed together, or status files without a plan.
    pub invalid: u64,
}

impl From<&StateCounts> for StateCountsJson {
    fn from(c: &StateCounts) -> Self {
        StateCountsJson {
            new: c.get(PlanState::New),
            in_progress: c.get(PlanState::InProgress),
            stale: c.get(PlanState::Stale),
            finished: c.get(PlanState::Finished),
            failed: c.get(PlanState::Failed),
            invalid: c.get(PlanState::Invalid),
        }
    }
}

/// Sums over finished files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Finished files, one per block.
    pub blocks: u64,
    /// Series written into the blocks.
    pub series: u64,
    /// Samples the builders read from the source.
    pub samples_in: u64,
    /// Samples written into the blocks.
    pub samples_out: u64,
    /// Samples dropped as duplicates of an equal timestamp.
    pub duplicates_dropped: u64,
    /// Bytes of the blocks uploaded.
    pub bytes: u64,
    /// Finished files that could not be read as our JSON (Cortex writes the
    /// block ID alone): counted as blocks, not in the other sums.
    pub unreadable: u64,
}

impl Totals {
    /// Counts one finished file; `None`: unreadable, counted as a block only.
    pub(crate) fn add(&mut self, r: Option<&FinishedSums>) {
        self.blocks += 1;
        match r {
            Some(r) => {
                self.series += r.series;
                self.samples_in += r.samples_in;
                self.samples_out += r.samples_out;
                self.duplicates_dropped += r.duplicates_dropped;
                self.bytes += r.bytes;
            }
            None => self.unreadable += 1,
        }
    }
}

/// Where a report's sums over finished files come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TotalsFrom {
    /// No finished file was read: `blocks` counts them from the listing,
    /// every other sum is 0 and means "not read". What `status` shows
    /// unless `--exact`, since the sums cost one GET per finished file.
    #[default]
    Listing,
    /// Every listed finished file was read (each once per process; one
    /// that could not be read counts in `unreadable`).
    FinishedFiles,
}

/// One tenant's line of the report.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TenantStatus {
    /// The tenant (directory name under the prefix).
    pub tenant: String,
    /// Its plans per state.
    pub states: StateCountsJson,
    /// Sums over its finished files.
    pub totals: Totals,
}

/// A plan as the report names it, with its day also as a date for people.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlanRef {
    /// The plan's tenant.
    pub tenant: String,
    /// Days since 1970-01-01 UTC, as in the plan's file names.
    pub day: i32,
    /// The same day as `YYYY-MM-DD`.
    pub date: String,
}

impl From<&PlanId> for PlanRef {
    fn from(id: &PlanId) -> Self {
        PlanRef {
            tenant: id.tenant.clone(),
            day: id.day,
            date: day_to_date(id.day),
        }
    }
}

/// The plan in progress for the longest time: where a stuck builder shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InProgressPlan {
    /// Which plan.
    pub plan: PlanRef,
    /// When the current attempt was claimed, if an attempt file says so.
    pub claimed_at: Option<String>,
    /// Seconds since the claim, when known.
    pub age_seconds: Option<i64>,
    /// Seconds since the builder's last heartbeat, when known.
    pub heartbeat_age_seconds: Option<i64>,
    /// Attempt files of the plan, the current one included.
    pub attempts: u32,
}

/// A failed or invalid plan and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProblemPlan {
    /// Which plan.
    pub plan: PlanRef,
    /// The failed file's reason, or what is inconsistent about its files.
    pub reason: String,
}

/// The state of a campaign at one listing: what `/status`, `/metrics` and
/// `status` show.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StatusReport {
    /// When the listing was taken (RFC 3339): what the report is as of.
    pub generated_at: String,
    /// Wall time of that listing, in seconds (a campaign of 1 M plans
    /// takes about 1,000 LIST pages).
    pub listing_seconds: f64,
    /// Where `totals` (and each tenant's) come from.
    pub totals_from: TotalsFrom,
    /// The scanner wrote `scan-complete`: no new plan will appear.
    pub scan_complete: bool,
    /// Plans listed (after the tenant filter).
    pub plans: u64,
    /// Plans per state.
    pub states: StateCountsJson,
    /// One line per tenant, by name.
    pub tenants: Vec<TenantStatus>,
    /// The plan in progress for the longest time.
    pub oldest_in_progress: Option<InProgressPlan>,
    /// Sums over every finished file (only `blocks` unless `totals_from`
    /// says they were read).
    pub totals: Totals,
    /// Plans finished per hour, from the finished files' times.
    pub plans_per_hour: Option<f64>,
    /// Plans left (new, in progress, stale) at the current throughput.
    pub eta_seconds: Option<f64>,
    /// The first failed plans (all are counted in `states`).
    pub failed: Vec<ProblemPlan>,
    /// The first invalid plans (all are counted in `states`).
    pub invalid: Vec<ProblemPlan>,
    /// Objects under the prefix that are not plan files (filled from the
    /// listing by the caller).
    pub ignored_objects: IgnoredObjects,
    /// Set by the scheduler: plans it turned into retries and failures.
    pub scheduler: Option<SchedulerCounters>,
}

/// What one scheduler process did since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct SchedulerCounters {
    /// Listings that succeeded.
    pub scans: u64,
    /// Stale plans made claimable again.
    pub retries: u64,
    /// Stale plans failed because their attempts were used up.
    pub failed_stale: u64,
    /// Wall time of the latest scan, listing and actions included.
    pub last_scan_seconds: f64,
    /// Plans in the claimable-plans index the latest scan published (0
    /// when a tenant filter keeps this scheduler from publishing one).
    pub index_plans: u64,
    /// Shards of that index.
    pub index_shards: u64,
}

/// Each plan's state, in one pass; what the benchmark measures.
pub fn classify(
    plans: &BTreeMap<PlanId, PlanFiles>,
    now: DateTime<Utc>,
    stale_after: chrono::Duration,
) -> (StateCounts, Vec<PlanState>) {
    let mut counts = StateCounts::default();
    let states = plans
        .values()
        .map(|f| {
            let s = f.state(now, stale_after).0;
            counts.add(s);
            s
        })
        .collect();
    (counts, states)
}

/// A finished plan's sums by its ID and block: `None` when unreadable or
/// not read yet.
pub(crate) type ReadFinished<'a> = dyn Fn(&PlanId, &str) -> Option<FinishedSums> + 'a;

/// Builds the report. `read_finished`, when the finished files were read,
/// gives each finished plan's sums (`None` when unreadable or not yet
/// read); without it, finished plans are counted as blocks alone.
/// `failed_reasons` are the reasons read from the first failed files.
pub(crate) fn build_report(
    plans: &BTreeMap<PlanId, PlanFiles>,
    now: DateTime<Utc>,
    stale_after: chrono::Duration,
    scan_complete: bool,
    read_finished: Option<&ReadFinished<'_>>,
    failed_reasons: &BTreeMap<PlanId, String>,
) -> StatusReport {
    let mut counts = StateCounts::default();
    let mut tenants: BTreeMap<&str, (StateCounts, Totals)> = BTreeMap::new();
    let mut totals = Totals::default();
    let mut oldest: Option<(DateTime<Utc>, &PlanId, &PlanFiles)> = None;
    let mut recent = 0u64;
    let mut first_finish: Option<DateTime<Utc>> = None;
    let mut last_finish: Option<DateTime<Utc>> = None;
    let mut failed = Vec::new();
    let mut invalid = Vec::new();
    for (id, files) in plans {
        let (state, why) = files.state(now, stale_after);
        counts.add(state);
        let t = tenants.entry(id.tenant.as_str()).or_default();
        t.0.add(state);
        match state {
            PlanState::Finished => {
                if let Some(read) = read_finished {
                    let sums = files.finished.first().and_then(|b| read(id, b));
                    totals.add(sums.as_ref());
                    t.1.add(sums.as_ref());
                } else {
                    totals.blocks += 1;
                    t.1.blocks += 1;
                }
                if let Some(at) = files.finished_at {
                    if (now - at).num_seconds() <= THROUGHPUT_WINDOW_S {
                        recent += 1;
                    }
                    first_finish = Some(first_finish.map_or(at, |f| f.min(at)));
                    last_finish = Some(last_finish.map_or(at, |f| f.max(at)));
                }
            }
            PlanState::InProgress | PlanState::Stale => {
                let since = files.claimed_at().or(files.last_heartbeat()).unwrap_or(now);
                if oldest.is_none_or(|(t, _, _)| since < t) {
                    oldest = Some((since, id, files));
                }
            }
            PlanState::Failed if failed.len() < MAX_LISTED => failed.push(ProblemPlan {
                plan: id.into(),
                reason: failed_reasons
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| "(reason not read)".into()),
            }),
            PlanState::Invalid if invalid.len() < MAX_LISTED => invalid.push(ProblemPlan {
                plan: id.into(),
                reason: why.unwrap_or_default(),
            }),
            _ => {}
        }
    }
    // A rate is measured over the time finishes were actually seen: the
    // window, or less while the campaign is younger than it, or the span
    // from first to last finish once the work is done or stalled. Over
    // less than a minute it says nothing (a campaign done in a second is
    // not "thousands of plans an hour"), so none is reported.
    let observed = |from: DateTime<Utc>, to: DateTime<Utc>, n: u64| {
        let secs = (to - from).num_milliseconds() as f64 / 1000.0;
        (secs >= MIN_RATE_SPAN_S as f64).then(|| n as f64 * 3600.0 / secs)
    };
    let finished = counts.get(PlanState::Finished);
    let plans_per_hour = match (first_finish, last_finish) {
        (Some(first), Some(last)) if recent == 0 || counts.pending() == 0 => {
            observed(first, last, finished)
        }
        (Some(first), Some(_)) => {
            let from = first.max(now - chrono::Duration::seconds(THROUGHPUT_WINDOW_S));
            observed(from, now, recent)
        }
        _ => None,
    };
    let pending = counts.pending();
    let eta_seconds = match plans_per_hour {
        _ if pending == 0 => Some(0.0),
        Some(r) if r > 0.0 => Some(pending as f64 / r * 3600.0),
        _ => None,
    };
    StatusReport {
        generated_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        listing_seconds: 0.0,
        totals_from: if read_finished.is_some() {
            TotalsFrom::FinishedFiles
        } else {
            TotalsFrom::Listing
        },
        scan_complete,
        plans: counts.total(),
        states: (&counts).into(),
        tenants: tenants
            .into_iter()
            .map(|(tenant, (c, t))| TenantStatus {
                tenant: tenant.to_string(),
                states: (&c).into(),
                totals: t,
            })
            .collect(),
        oldest_in_progress: oldest.map(|(since, id, f)| InProgressPlan {
            plan: id.into(),
            claimed_at: f
                .claimed_at()
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            age_seconds: Some((now - since).num_seconds()),
            heartbeat_age_seconds: f.last_heartbeat().map(|t| (now - t).num_seconds()),
            attempts: f.attempt_count(),
        }),
        totals,
        plans_per_hour,
        eta_seconds,
        failed,
        invalid,
        ignored_objects: IgnoredObjects::default(),
        scheduler: None,
    }
}

impl StatusReport {
    /// Plans that still need a builder: new, in progress or stale.
    pub fn pending(&self) -> u64 {
        self.states.new + self.states.in_progress + self.states.stale
    }

    /// True once the scan is complete and no plan waits for a builder.
    pub fn done(&self) -> bool {
        self.scan_complete && self.pending() == 0
    }

    /// True when done and every plan finished.
    pub fn all_finished(&self) -> bool {
        self.done() && self.states.failed == 0 && self.states.invalid == 0
    }

    /// The table `status` prints in a terminal.
    pub fn render_text(&self) -> String {
        self.render_text_at(Utc::now())
    }

    /// [`StatusReport::render_text`] as read at `now` (the listing's age).
    fn render_text_at(&self, now: DateTime<Utc>) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{}", self.freshness(now));
        let read = self.totals_from == TotalsFrom::FinishedFiles;
        // Not read is not zero: a dash, never a 0 that looks like data.
        let sum = |n: u64| if read { n.to_string() } else { "-".into() };
        let line = |s: &mut String, name: &str, c: &StateCountsJson, t: &Totals| {
            let _ = writeln!(
                s,
                "{:<24} {:>8} {:>8} {:>8} {:>9} {:>7} {:>8} {:>14} {:>12}",
                name,
                c.new,
                c.in_progress,
                c.stale,
                c.finished,
                c.failed,
                c.invalid,
                sum(t.samples_out),
                sum(t.bytes)
            );
        };
        let _ = writeln!(
            s,
            "{:<24} {:>8} {:>8} {:>8} {:>9} {:>7} {:>8} {:>14} {:>12}",
            "tenant",
            "new",
            "running",
            "stale",
            "finished",
            "failed",
            "invalid",
            "samples out",
            "bytes"
        );
        for t in &self.tenants {
            line(&mut s, &t.tenant, &t.states, &t.totals);
        }
        line(&mut s, "TOTAL", &self.states, &self.totals);
        let scan = if self.scan_complete {
            "complete"
        } else {
            "not complete"
        };
        if read {
            let _ = writeln!(
                s,
                "plans {}  series-days {}  samples in {}  duplicates dropped {}  scan {scan}",
                self.plans,
                self.totals.series,
                self.totals.samples_in,
                self.totals.duplicates_dropped,
            );
            let _ = writeln!(
                s,
                "totals from all {} finished files{}",
                self.totals.blocks,
                match self.totals.unreadable {
                    0 => String::new(),
                    n => format!(" ({n} not our JSON or not readable: counted as blocks only)"),
                }
            );
        } else {
            let _ = writeln!(s, "plans {}  scan {scan}", self.plans);
            let _ = writeln!(
                s,
                "samples and bytes not read: they take one read per finished file ({}); \
                 `status --exact` reads them, the scheduler's /status page keeps them",
                self.totals.blocks
            );
        }
        if let Some(o) = &self.oldest_in_progress {
            let _ = writeln!(
                s,
                "oldest in progress: {}/{} ({}), {}s, attempt {}",
                o.plan.tenant,
                o.plan.day,
                o.plan.date,
                o.age_seconds.unwrap_or(0),
                o.attempts
            );
        }
        if let Some(r) = self.plans_per_hour {
            let eta = self.eta_seconds.map_or("unknown".into(), human_seconds);
            let _ = writeln!(s, "throughput {r:.1} plans/hour, time left {eta}");
        }
        for p in &self.failed {
            let _ = writeln!(
                s,
                "FAILED {}/{} ({}): {}",
                p.plan.tenant,
                p.plan.day,
                p.plan.date,
                protocol::records::escape_text(&p.reason)
            );
        }
        for p in &self.invalid {
            let _ = writeln!(
                s,
                "INVALID {}/{} ({}): {}",
                p.plan.tenant,
                p.plan.day,
                p.plan.date,
                protocol::records::escape_text(&p.reason)
            );
        }
        let ig = &self.ignored_objects;
        if ig.count > 0 {
            let _ = writeln!(
                s,
                "IGNORED {} objects under the prefix are not plan files, e.g. {}",
                ig.count,
                ig.examples
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        s
    }

    /// How fresh the report is, read at `now`: `as of 2026-11-30T21:03:00Z
    /// (listing took 0.4s, taken 3s ago)`.
    pub fn freshness(&self, now: DateTime<Utc>) -> String {
        let age = DateTime::parse_from_rfc3339(&self.generated_at)
            .ok()
            .map(|t| human_seconds((now - t.with_timezone(&Utc)).num_seconds() as f64));
        match age {
            Some(age) => format!(
                "as of {} (listing took {:.1}s, taken {age} ago)",
                self.generated_at, self.listing_seconds
            ),
            None => format!("as of {}", self.generated_at),
        }
    }

    /// The `/status` page: the same table as HTML, escaped.
    pub fn render_html(&self) -> String {
        let mut s = String::from(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>blocksconvert status</title>\
             <style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}\
             td:first-child,th:first-child{text-align:left}</style></head><body>\
             <h1>blocksconvert</h1>",
        );
        let _ = write!(
            s,
            "<p>{} plans; scan {}; {}. <a href=\"?format=json\">JSON</a> · <a href=\"/metrics\">metrics</a></p>",
            self.plans,
            if self.scan_complete { "complete" } else { "not complete" },
            esc(&self.freshness(Utc::now()))
        );
        if self.totals_from == TotalsFrom::Listing {
            s.push_str("<p>Samples and bytes not read (counted from the listing alone).</p>");
        }
        s.push_str("<table><tr><th>tenant</th><th>new</th><th>in progress</th><th>stale</th><th>finished</th><th>failed</th><th>invalid</th><th>samples out</th><th>bytes</th></tr>");
        let row = |s: &mut String, name: &str, c: &StateCountsJson, t: &Totals| {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(name),
                c.new,
                c.in_progress,
                c.stale,
                c.finished,
                c.failed,
                c.invalid,
                t.samples_out,
                t.bytes
            );
        };
        for t in &self.tenants {
            row(&mut s, &t.tenant, &t.states, &t.totals);
        }
        row(&mut s, "TOTAL", &self.states, &self.totals);
        s.push_str("</table>");
        if let Some(o) = &self.oldest_in_progress {
            let _ = write!(
                s,
                "<p>Oldest in progress: {}/{} ({}), {} s, attempt {}</p>",
                esc(&o.plan.tenant),
                o.plan.day,
                o.plan.date,
                o.age_seconds.unwrap_or(0),
                o.attempts
            );
        }
        if let Some(r) = self.plans_per_hour {
            let eta = self.eta_seconds.map_or("unknown".into(), human_seconds);
            let _ = write!(
                s,
                "<p>Throughput {r:.1} plans/hour; time left {}</p>",
                esc(&eta)
            );
        }
        for (title, list) in [("Failed", &self.failed), ("Invalid", &self.invalid)] {
            if list.is_empty() {
                continue;
            }
            let _ = write!(s, "<h2>{title}</h2><ul>");
            for p in list {
                let _ = write!(
                    s,
                    "<li>{}/{} ({}): {}</li>",
                    esc(&p.plan.tenant),
                    p.plan.day,
                    p.plan.date,
                    esc(&p.reason)
                );
            }
            s.push_str("</ul>");
        }
        s.push_str("</body></html>\n");
        s
    }
}

/// `1h 02m`, `3m 05s`, `12s`.
pub(crate) fn human_seconds(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::bucket::ObjectInfo;
    use protocol::state::plans_from_listing;

    #[test]
    fn report_counts_totals_and_escapes() {
        let now = Utc::now();
        let o = |k: &str, age: i64| ObjectInfo {
            key: k.into(),
            size: 1,
            last_modified: now - chrono::Duration::seconds(age),
        };
        let objs = vec![
            o("m/a/1.plan", 0),
            o("m/a/1.finished.01B", 60),
            o("m/a/2.plan", 0),
            o("m/a/2.attempt.1", 100),
            o("m/a/2.progress", 5),
            o("m/b'/3.plan", 0),
            o("m/b'/3.failed", 0),
            o("m/b'/4.plan", 0),
            o("m/scan-complete", 0),
        ];
        let plans = plans_from_listing("m", &objs);
        let rec = FinishedSums {
            samples_out: 7,
            bytes: 100,
            ..FinishedSums::default()
        };
        let mut reasons = BTreeMap::new();
        reasons.insert(
            PlanId {
                tenant: "b'".into(),
                day: 3,
            },
            "<boom>".to_string(),
        );
        let r = build_report(
            &plans,
            now,
            chrono::Duration::seconds(60),
            true,
            Some(&|_, b| (b == "01B").then_some(rec)),
            &reasons,
        );
        assert_eq!(r.plans, 4);
        assert_eq!(
            (
                r.states.new,
                r.states.in_progress,
                r.states.finished,
                r.states.failed
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(r.totals.samples_out, 7);
        assert_eq!(r.tenants.len(), 2);
        assert_eq!(
            r.oldest_in_progress.as_ref().unwrap().age_seconds,
            Some(100)
        );
        assert!(r.plans_per_hour.unwrap() > 0.0);
        assert!(!r.done());
        let html = r.render_html();
        assert!(html.contains("&lt;boom&gt;") && !html.contains("<boom>"));
        assert!(html.contains("b&#39;"));
        assert!(r.render_text().contains("FAILED b'/3"));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["states"]["in_progress"], 1);
    }

    /// Throughput needs a minute of finishes: a campaign done in a second
    /// reports none, a done campaign its rate from first to last finish.
    #[test]
    fn throughput_only_over_a_minute_of_finishes() {
        let now = Utc::now();
        let report_of = |finish_ages: &[i64], pending: bool| {
            let o = |k: String, age: i64| ObjectInfo {
                key: k,
                size: 1,
                last_modified: now - chrono::Duration::seconds(age),
            };
            let mut objs = Vec::new();
            for (day, age) in finish_ages.iter().enumerate() {
                objs.push(o(format!("m/a/{day}.plan"), 3600));
                objs.push(o(format!("m/a/{day}.finished.01B"), *age));
            }
            if pending {
                objs.push(o("m/a/999.plan".into(), 3600));
            }
            let plans = plans_from_listing("m", &objs);
            build_report(
                &plans,
                now,
                chrono::Duration::seconds(60),
                true,
                Some(&|_, _| None),
                &BTreeMap::new(),
            )
        };
        // Ten plans finished within one second, ten minutes ago: no rate.
        let quick: Vec<i64> = vec![600; 10];
        assert_eq!(report_of(&quick, false).plans_per_hour, None);
        // Done: 60 plans over the 30 minutes between first and last finish.
        let done: Vec<i64> = (0..60).map(|i| 1800 + i * 30).collect();
        let r = report_of(&done, false).plans_per_hour.expect("a rate");
        assert!((r - 60.0 * 3600.0 / 1770.0).abs() < 0.5, "{r}");
        // Running for 5 minutes, 10 finished: 10 over those 5 minutes.
        let young: Vec<i64> = (0..10).map(|i| 300 - i * 30).collect();
        let r = report_of(&young, true).plans_per_hour.expect("a rate");
        assert!((r - 120.0).abs() < 0.5, "{r}");
    }

    /// Without the finished files, blocks come from the listing and the
    /// sums show as not read (a dash), never as zeros; the report says
    /// how old its listing is.
    #[test]
    fn sums_not_read_are_not_zeros() {
        let now = Utc::now();
        let o = |k: &str| ObjectInfo {
            key: k.into(),
            size: 1,
            last_modified: now,
        };
        let objs = vec![o("m/a/1.plan"), o("m/a/1.finished.01B"), o("m/a/2.plan")];
        let plans = plans_from_listing("m", &objs);
        let stale = chrono::Duration::seconds(60);
        let mut r = build_report(&plans, now, stale, false, None, &BTreeMap::new());
        r.listing_seconds = 1.25;
        assert_eq!(r.totals_from, TotalsFrom::Listing);
        assert_eq!((r.totals.blocks, r.tenants[0].totals.blocks), (1, 1));
        let text = r.render_text_at(now + chrono::Duration::seconds(75));
        assert!(
            text.starts_with(&format!(
                "as of {} (listing took 1.2s, taken 1m 15s ago)\n",
                r.generated_at
            )),
            "{text}"
        );
        let cols = |text: &str| -> Vec<String> {
            let total = text.lines().find(|l| l.starts_with("TOTAL")).unwrap();
            total.split_whitespace().skip(7).map(String::from).collect()
        };
        assert_eq!(cols(&text), ["-", "-"], "{text}");
        assert!(text.contains("samples and bytes not read"), "{text}");
        assert!(!text.contains("series-days"), "{text}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["totals_from"], "listing");

        let sums = FinishedSums {
            samples_out: 5,
            bytes: 9,
            ..FinishedSums::default()
        };
        let read = build_report(
            &plans,
            now,
            stale,
            false,
            Some(&|_, _| Some(sums)),
            &BTreeMap::new(),
        );
        assert_eq!(read.totals_from, TotalsFrom::FinishedFiles);
        let text = read.render_text_at(now);
        assert_eq!(cols(&text), ["5", "9"], "{text}");
        assert!(text.contains("totals from all 1 finished files"), "{text}");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_seconds(12.0), "12s");
        assert_eq!(human_seconds(185.0), "3m 05s");
        assert_eq!(human_seconds(3720.0), "1h 02m");
    }
}
