//! How fast a bucket listing turns into plan states: the scheduler lists
//! the whole prefix every scan, so campaigns of millions of plans must not
//! make that slow. The target is one million plan-related objects in under
//! two seconds of CPU.
//!
//! Run with `cargo bench -p scheduler --bench listing_states`. It prints a
//! table: for a sorted listing (as S3 and our local listing return it) and
//! a shuffled one, the objects, plans, CPU and wall time of grouping the
//! names into plans and deriving every state, best of three runs.

use std::time::Instant;

use chrono::{Duration, Utc};
use protocol::bucket::ObjectInfo;
use protocol::state::plans_from_listing;
use scheduler::classify;

const TENANTS: usize = 100;
const DAYS_PER_TENANT: usize = 2_500;
const RUNS: usize = 3;

/// Four objects per plan, in the mixes a live campaign shows: finished
/// plans with two attempts, plans in progress, failed plans, and plans on
/// their third attempt; a tenth of the tenants are Cortex-written.
fn listing() -> Vec<ObjectInfo> {
    let now = Utc::now();
    let mut out = Vec::with_capacity(TENANTS * DAYS_PER_TENANT * 4);
    for t in 0..TENANTS {
        let tenant = format!("tenant-{t:03}");
        for d in 0..DAYS_PER_TENANT {
            let day = 18_000 + d;
            let base = format!("migration/{tenant}/{day}");
            let o = |suffix: &str| ObjectInfo {
                key: format!("{base}{suffix}"),
                size: 100,
                last_modified: now,
            };
            out.push(o(".plan.snappy"));
            match d % 20 {
                0..=9 => {
                    out.push(o(".attempt.1"));
                    out.push(o(".attempt.2"));
                    out.push(o(".finished.01KBXGZ4TQ3YV3N7Z5RAVXJ8PQ"));
                }
                10..=14 => {
                    out.push(o(".attempt.1"));
                    out.push(o(".progress"));
                    out.push(o(".staged"));
                }
                15..=17 => {
                    out.push(o(".attempt.1"));
                    out.push(o(".attempt.2"));
                    out.push(o(if t % 10 == 0 { ".error" } else { ".failed" }));
                }
                _ => {
                    out.push(o(".attempt.1"));
                    out.push(o(".attempt.2"));
                    out.push(o(if t % 10 == 0 {
                        ".inprogress.1700000000"
                    } else {
                        ".attempt.3"
                    }));
                }
            }
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// CPU time of this thread, from the kernel's scheduler statistics; wall
/// time where those are missing (the benchmark is single-threaded, so the
/// two agree but for preemption).
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn measure(objects: &[ObjectInfo]) -> (usize, f64, f64) {
    let mut best = (0, f64::MAX, f64::MAX);
    for _ in 0..RUNS {
        let cpu0 = cpu_ns();
        let t0 = Instant::now();
        let plans = plans_from_listing("migration", objects);
        let (counts, states) = classify(&plans, Utc::now(), Duration::minutes(30));
        let wall = t0.elapsed().as_secs_f64();
        let cpu = match (cpu0, cpu_ns()) {
            (Some(a), Some(b)) => (b - a) as f64 / 1e9,
            _ => wall,
        };
        assert_eq!(counts.total() as usize, plans.len());
        assert_eq!(states.len(), plans.len());
        std::hint::black_box(&states);
        drop(plans);
        if cpu < best.1 {
            best = (states.len(), cpu, wall);
        }
    }
    best
}

fn main() {
    let sorted = listing();
    let mut shuffled = sorted.clone();
    // A fixed permutation: a multiplicative step coprime to the length.
    let n = shuffled.len();
    let step = 1_000_003 % n;
    let mut j = 0usize;
    for i in (1..n).rev() {
        j = (j + step) % (i + 1);
        shuffled.swap(i, j);
    }
    println!(
        "{:<10} {:>10} {:>9} {:>10} {:>10} {:>12}",
        "listing", "objects", "plans", "cpu s", "wall s", "ns/object"
    );
    let mut worst = 0f64;
    for (name, objects) in [("sorted", &sorted), ("shuffled", &shuffled)] {
        let (plans, cpu, wall) = measure(objects);
        worst = worst.max(cpu);
        println!(
            "{name:<10} {:>10} {plans:>9} {cpu:>10.3} {wall:>10.3} {:>12.0}",
            objects.len(),
            cpu * 1e9 / objects.len() as f64
        );
    }
    println!(
        "target: 1,000,000 objects in < 2 s of CPU: {}",
        if worst < 2.0 { "met" } else { "NOT met" }
    );
}
