//! What the commands print when they end: short tables a person reads at
//! the end of a campaign (logs go to stderr, these go to stdout).

use std::fmt::Write as _;
use std::time::Duration;

use builder::BuilderSummary;
use scanner::ScanReport;
use scheduler::StatusReport;
use verify::VerifyReport;

pub(crate) fn print_scan(r: &ScanReport) {
    for u in &r.already_scanned {
        println!("scan: {u} was scanned before (delete its scanned.* marker to scan it again)");
    }
    println!(
        "scan: {} plans, {} series, {} samples read, {} outside --from/--to, {} sort runs spilled",
        r.plans.len(),
        r.series,
        r.samples,
        r.samples_outside_range,
        r.spilled_runs
    );
    for n in &r.notes {
        println!("scan: {n}");
    }
}

pub(crate) fn print_build(s: &BuilderSummary) {
    print_run_summary(s, None, Duration::ZERO, false);
}

/// The summary table of a run: plans, series, samples in/out, duplicates
/// dropped, blocks, bytes, seconds; failures listed after it. The first
/// column is what this process built; with `campaign` (the bucket's view,
/// builders of earlier runs and other processes included) a second column
/// shows the whole campaign. `interrupted` marks a run stopped by a signal.
pub(crate) fn print_run_summary(
    s: &BuilderSummary,
    campaign: Option<&StatusReport>,
    elapsed: Duration,
    interrupted: bool,
) {
    print!("{}", render_run_summary(s, campaign, elapsed, interrupted));
}

fn render_run_summary(
    s: &BuilderSummary,
    campaign: Option<&StatusReport>,
    elapsed: Duration,
    interrupted: bool,
) -> String {
    let sum =
        |f: fn(&protocol::records::FinishedRecord) -> u64| s.finished.iter().map(f).sum::<u64>();
    let c = campaign.map(|r| (&r.states, &r.totals));
    let rows: [(&str, u64, Option<u64>); 14] = [
        (
            "plans",
            (s.finished.len() + s.failed.len()) as u64,
            campaign.map(|r| r.plans),
        ),
        (
            "plans finished",
            s.finished.len() as u64,
            c.map(|c| c.0.finished),
        ),
        ("plans failed", s.failed.len() as u64, c.map(|c| c.0.failed)),
        (
            "plans left",
            (s.interrupted.len() + s.lost.len()) as u64,
            c.map(|c| c.0.new + c.0.in_progress + c.0.stale),
        ),
        ("series-days", sum(|r| r.series), c.map(|c| c.1.series)),
        (
            "samples in",
            sum(|r| r.samples_in),
            c.map(|c| c.1.samples_in),
        ),
        (
            "samples out",
            sum(|r| r.samples_out),
            c.map(|c| c.1.samples_out),
        ),
        (
            "duplicates dropped",
            sum(|r| r.duplicates_dropped),
            c.map(|c| c.1.duplicates_dropped),
        ),
        (
            "  of which disagreeing",
            sum(|r| r.duplicates_disagreeing),
            None,
        ),
        (
            "corrupt chunks skipped",
            sum(|r| r.skipped.chunks_corrupt),
            None,
        ),
        ("series skipped", sum(|r| r.skipped.series), None),
        ("blocks", s.finished.len() as u64, c.map(|c| c.1.blocks)),
        ("bytes", sum(|r| r.bytes), c.map(|c| c.1.bytes)),
        ("invalid plans", 0, c.map(|c| c.0.invalid)),
    ];
    let mut out = String::new();
    let title = if interrupted {
        "summary (INTERRUPTED)"
    } else {
        "summary"
    };
    let _ = match campaign {
        Some(_) => writeln!(out, "{title:<24} {:>16} {:>16}", "this run", "campaign"),
        None => writeln!(out, "{title:<24} {:>16}", ""),
    };
    for (k, mine, all) in rows {
        let _ = match (campaign, all) {
            (None, _) if k == "invalid plans" => Ok(()),
            (None, _) => writeln!(out, "{k:<24} {mine:>16}"),
            (Some(_), Some(all)) => writeln!(out, "{k:<24} {mine:>16} {all:>16}"),
            (Some(_), None) => writeln!(out, "{k:<24} {mine:>16} {:>16}", "-"),
        };
    }
    if !elapsed.is_zero() {
        let _ = writeln!(out, "{:<24} {:>16.1}", "seconds", elapsed.as_secs_f64());
    }
    for (id, reason) in &s.failed {
        let _ = writeln!(
            out,
            "FAILED {id}: {}",
            protocol::records::escape_text(reason)
        );
    }
    if let Some(r) = campaign {
        // Plans failed by others (a stale plan failed by the scheduler).
        for p in r.failed.iter().filter(|p| {
            !s.failed
                .iter()
                .any(|(id, _)| id.tenant == p.plan.tenant && id.day == p.plan.day)
        }) {
            let (t, d, date) = (&p.plan.tenant, p.plan.day, &p.plan.date);
            let reason = protocol::records::escape_text(&p.reason);
            let _ = writeln!(out, "FAILED {t}/{d} ({date}): {reason}");
        }
    }
    if interrupted {
        let _ = writeln!(
            out,
            "INTERRUPTED: {} plans in flight were given up; run again to resume",
            s.interrupted.len()
        );
    }
    out
}

pub(crate) fn print_verify(r: &VerifyReport) {
    for d in &r.reported {
        println!("DIFF {d}");
    }
    if r.differences as usize > r.reported.len() {
        println!(
            "... and {} more differences",
            r.differences as usize - r.reported.len()
        );
    }
    let verdict = if r.ok() { "OK" } else { "MISMATCH" };
    println!(
        "verify: {verdict}: {} days, {} series, {} samples compared, {} differences",
        r.days, r.series, r.samples, r.differences
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::names::PlanId;
    use protocol::records::FinishedRecord;

    fn finished(samples: u64) -> FinishedRecord {
        FinishedRecord {
            block: "01B".into(),
            tenant: "t".into(),
            day: 1,
            builder: "b".into(),
            series: 2,
            chunks: 2,
            samples_in: samples + 1,
            samples_out: samples,
            duplicates_dropped: 1,
            duplicates_disagreeing: 0,
            samples_outside_day: 0,
            bytes: 100,
            seconds: 0.5,
            skipped: Default::default(),
        }
    }

    #[test]
    fn summary_has_both_columns_and_the_failures() {
        let s = BuilderSummary {
            finished: vec![finished(10), finished(20)],
            failed: vec![(
                PlanId {
                    tenant: "t".into(),
                    day: 3,
                },
                "bad chunk".into(),
            )],
            lost: Vec::new(),
            gone: Vec::new(),
            interrupted: Vec::new(),
        };
        let mut r = StatusReport {
            plans: 5,
            ..Default::default()
        };
        r.states.finished = 4;
        r.states.failed = 1;
        r.totals.samples_out = 99;
        let text = render_run_summary(&s, Some(&r), Duration::from_secs(2), true);
        assert!(text.starts_with("summary (INTERRUPTED)"), "{text}");
        let line = |k: &str| {
            text.lines()
                .find(|l| l.starts_with(k))
                .unwrap_or_else(|| panic!("no {k} in {text}"))
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(line("samples out")[2..], ["30", "99"]);
        assert_eq!(line("plans finished")[2..], ["2", "4"]);
        assert!(text.contains("FAILED t/"), "{text}");
        assert!(text.contains("INTERRUPTED: 0 plans"), "{text}");
        let plain = render_run_summary(&s, None, Duration::ZERO, false);
        assert!(
            !plain.contains("campaign") && !plain.contains("invalid"),
            "{plain}"
        );
    }
}
