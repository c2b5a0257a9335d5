//! The bucket protocol on a local directory: racing builders, a builder
//! killed mid-plan, a takeover, a retry (scenarios in `protocol_support`).
//! On a local directory the heartbeat is fenced by reading back, not by
//! versions, so these also cover that fallback.

mod protocol_support;

use protocol_support::faults::{kill_at_every_stage, work_dir_full};
use protocol_support::{empty_prefix, kill_and_recover, race, retry_failed, takeover, Env};

#[test]
fn builders_race_over_200_plans_and_claim_each_once() {
    race(&Env::local(), 4, &["t0", "t1", "t2", "t3"], 50);
}

#[test]
fn killed_builder_is_detected_stale_and_its_plan_rebuilt() {
    kill_and_recover(&Env::local());
}

#[test]
fn builder_whose_claim_was_taken_stops_without_uploading() {
    let env = Env::local();
    // Noticed by the heartbeat while paused.
    takeover(&env, "200ms", "fast");
    // Noticed only by the check before meta.json.
    takeover(&env, "1h", "slow");
}

#[test]
fn deleting_a_failed_file_makes_the_plan_run_again() {
    retry_failed(&Env::local());
}

#[test]
fn empty_prefix_keeps_plans_at_the_bucket_root() {
    empty_prefix(&Env::local());
}

#[test]
fn builders_killed_at_every_stage_leave_one_block_per_plan() {
    let (rows, samples) = kill_at_every_stage(&Env::local());
    eprintln!("killed at | plan | attempts");
    for r in &rows {
        eprintln!("{} | {} | {:?}", r.stage, r.plan, r.attempts);
    }
    eprintln!("verify: {samples} samples, all there");
}

#[test]
fn full_work_dir_fails_the_plan_cleanly_and_retry_builds_it() {
    match work_dir_full(&Env::local()) {
        Some(reason) => eprintln!("failed file: {reason}"),
        // Not a missing tool but a locked-down machine (no user or mount
        // namespaces): skipped even where tools are required.
        None => eprintln!("skipping: this machine cannot mount a tmpfs in a private namespace"),
    }
}
