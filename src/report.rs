//! What the commands print when they end: short tables a person reads at
//! the end of a campaign (logs go to stderr, these go to stdout).

use std::time::Duration;

use builder::BuilderSummary;
use scanner::ScanReport;
use verify::VerifyReport;

pub fn print_scan(r: &ScanReport) {
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
}

pub fn print_build(s: &BuilderSummary) {
    print_run_summary(s, Duration::ZERO);
}

/// The summary table of a run: plans, series, samples in/out, duplicates
/// dropped, blocks, bytes, seconds; failures listed after it.
pub fn print_run_summary(s: &BuilderSummary, elapsed: Duration) {
    let sum =
        |f: fn(&common::records::FinishedRecord) -> u64| s.finished.iter().map(f).sum::<u64>();
    let rows = [
        ("plans finished", s.finished.len() as u64),
        ("plans failed", s.failed.len() as u64),
        ("series", sum(|r| r.series)),
        ("samples in", sum(|r| r.samples_in)),
        ("samples out", sum(|r| r.samples_out)),
        ("duplicates dropped", sum(|r| r.duplicates_dropped)),
        ("  of which disagreeing", sum(|r| r.duplicates_disagreeing)),
        ("blocks", s.finished.len() as u64),
        ("bytes", sum(|r| r.bytes)),
    ];
    println!("{:<24} {:>16}", "summary", "");
    for (k, v) in rows {
        println!("{k:<24} {v:>16}");
    }
    if !elapsed.is_zero() {
        println!("{:<24} {:>16.1}", "seconds", elapsed.as_secs_f64());
    }
    for (id, reason) in &s.failed {
        println!("FAILED {id}: {reason}");
    }
}

pub fn print_verify(r: &VerifyReport) {
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
