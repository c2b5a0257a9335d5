//! Builders against a bucket that fails on command: transient errors and
//! hangs are retried and the plan finishes with every sample; a store that
//! keeps failing ends the plan with a failed file naming the key, and no
//! visible block; a claim whose create landed but reported an error is
//! still the builder's, once.
//!
//! Everything runs in process: the real scanner writes an OpenMetrics
//! campaign into a local-directory bucket, then one builder runs over that
//! bucket wrapped in `testkit::faults::FaultStore`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base::DAY_MS;
use builder::{run_builder, BuilderConfig, BuilderSummary, TenantFilter};
use protocol::bucket::{Bucket, BucketOptions, RetryPolicy};
use protocol::plan::PlanCompression;
use protocol::source::SourceSpec;
use scanner::DayRange;
use testkit::faults::{Fault, FaultStore, Faults, Op, Rule};
use testkit::openmetrics::{generate, to_openmetrics, GenOptions};
use tsdb::BlockReader;

const PREFIX: &str = "migration";
const TENANT: &str = "tenant-a";
/// 2026-11-16T00:00Z.
const DAY0: i64 = 20_773 * DAY_MS;

/// Short backoffs and timeouts, so that every test takes a few seconds.
fn fast(op_timeout: Duration) -> BucketOptions {
    BucketOptions {
        retry: RetryPolicy {
            retries: 3,
            min_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(10),
        },
        op_timeout: Some(op_timeout),
        throttle: None,
    }
}

/// A local-directory bucket under the store `faults` commands.
fn faulty_bucket(dir: &Path, faults: &Faults, op_timeout: Duration) -> Bucket {
    let f = faults.clone();
    Bucket::local(dir)
        .expect("bucket dir")
        .with_options(fast(op_timeout))
        .map_store(move |s| FaultStore::with_faults(s, f))
}

struct Campaign {
    root: tempfile::TempDir,
    plans: Bucket,
    faults: Faults,
    /// Samples in the input (distinct series and timestamps).
    samples: u64,
}

impl Campaign {
    /// A scanned OpenMetrics campaign of one tenant-day, with no rules yet.
    async fn scanned(op_timeout: Duration) -> Campaign {
        let root = tempfile::tempdir().expect("tempdir");
        let series = generate(&GenOptions {
            series: 40,
            max_samples: 60,
            start: DAY0 + 3_600_000,
            span: 3 * 3_600_000,
            stale_markers: false,
            seed: 7,
        });
        let samples = series.iter().map(|s| s.samples.len() as u64).sum();
        let input = root.path().join("input.om");
        std::fs::write(&input, to_openmetrics(&series).expect("openmetrics")).expect("input");
        let faults = Faults::new();
        let plans = faulty_bucket(&root.path().join("bucket"), &faults, op_timeout);
        let cfg = scanner::ScanConfig {
            bucket: plans.clone(),
            prefix: PREFIX.into(),
            work_dir: root.path().join("scan"),
            memory_budget: 16 << 20,
            compression: PlanCompression::Snappy,
            days: DayRange::default(),
            tenant: Some(TENANT.into()),
            cortex: Default::default(),
            prometheus: Default::default(),
        };
        scanner::scan(&cfg, &SourceSpec::OpenMetrics(input))
            .await
            .expect("scan");
        Campaign {
            root,
            plans,
            faults,
            samples,
        }
    }

    fn builder(&self, output: Bucket) -> BuilderConfig {
        BuilderConfig {
            bucket: self.plans.clone(),
            output,
            prefix: PREFIX.into(),
            work_dir: self.root.path().join("build"),
            memory_budget: 16 << 20,
            name: "builder-1".into(),
            poll_interval: Duration::from_millis(20),
            heartbeat: Duration::from_secs(1),
            tenants: TenantFilter::default(),
            block: None,
            pause_after_claim: Duration::ZERO,
            relist_interval: Duration::from_secs(300),
            cortex: None,
            prometheus_roots: Vec::new(),
        }
    }

    async fn build(&self, output: Bucket) -> BuilderSummary {
        run_builder(Arc::new(self.builder(output)), true)
            .await
            .expect("builder")
    }

    /// Keys under the plan prefix of the tenant, as listed without faults.
    fn plan_files(&self) -> Vec<String> {
        let dir = self.root.path().join("bucket").join(PREFIX).join(TENANT);
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("tenant plan dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// Complete blocks (with meta.json) of the tenant in a local bucket dir.
fn blocks(bucket_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(bucket_dir.join(TENANT)) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("meta.json").exists())
        .collect();
    out.sort();
    out
}

fn samples_in(block: &Path) -> u64 {
    let r = BlockReader::open(block).expect("block");
    let mut n = 0;
    for s in r.series() {
        let (_, chunks) = s.expect("series");
        for c in &chunks {
            n += r.chunk_samples(c).expect("chunk").len() as u64;
        }
    }
    n
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn transient_errors_are_retried_and_nothing_is_lost() {
    runtime().block_on(async {
        let c = Campaign::scanned(Duration::from_secs(5)).await;
        // Plan download, staged download, and each kind of block file's
        // upload fail twice.
        for key in [".plan", ".staged", "/chunks/", "/index", "/meta.json"] {
            let op = if key.starts_with('/') {
                Op::Put
            } else {
                Op::Get
            };
            c.faults.fail(Rule::error(op, key, 2));
        }
        let summary = c.build(c.plans.clone()).await;
        assert_eq!(summary.finished.len(), 1, "{summary:?}");
        assert!(summary.failed.is_empty(), "{summary:?}");
        assert_eq!(c.faults.injected(), 10, "{}", c.faults);
        let blocks = blocks(&c.root.path().join("bucket"));
        assert_eq!(blocks.len(), 1, "{blocks:?}");
        assert_eq!(samples_in(&blocks[0]), c.samples);
        assert_eq!(summary.finished[0].samples_out, c.samples);
    });
}

// Needs builder::worker to turn a block upload that failed after its
// retries into a failed plan; today the error leaves the worker loop and
// the plan stays claimed until the scheduler's stale timeout.
#[test]
fn a_store_that_keeps_failing_fails_the_plan_and_shows_no_block() {
    runtime().block_on(async {
        let c = Campaign::scanned(Duration::from_secs(5)).await;
        let out_dir = c.root.path().join("output");
        let output_faults = Faults::new();
        let output = faulty_bucket(&out_dir, &output_faults, Duration::from_secs(5));
        output_faults.fail(Rule::always(Op::Put, &format!("{TENANT}/")));
        let summary = c.build(output).await;
        assert!(summary.finished.is_empty(), "{summary:?}");
        let [(_, reason)] = &summary.failed[..] else {
            panic!("one failed plan expected: {summary:?}");
        };
        assert!(reason.contains(&format!("{TENANT}/")), "{reason}");
        assert!(reason.contains("/chunks/000001"), "{reason}");
        assert!(reason.contains("after 4 attempts"), "{reason}");
        let files = c.plan_files();
        assert!(files.iter().any(|f| f.ends_with(".failed")), "{files:?}");
        assert!(!files.iter().any(|f| f.ends_with(".progress")), "{files:?}");
        assert!(blocks(&out_dir).is_empty());
    });
}

#[test]
fn a_hang_longer_than_the_timeout_is_retried() {
    runtime().block_on(async {
        let c = Campaign::scanned(Duration::from_millis(500)).await;
        let hang = Fault::Hang(Duration::from_secs(30));
        c.faults
            .fail(Rule::error(Op::Get, ".plan", 1).with_fault(hang));
        c.faults
            .fail(Rule::error(Op::Put, "/meta.json", 1).with_fault(hang));
        let summary = c.build(c.plans.clone()).await;
        assert_eq!(summary.finished.len(), 1, "{summary:?}");
        assert_eq!(c.faults.injected(), 2, "{}", c.faults);
        let blocks = blocks(&c.root.path().join("bucket"));
        assert_eq!(blocks.len(), 1, "{blocks:?}");
        assert_eq!(samples_in(&blocks[0]), c.samples);
    });
}

#[test]
fn a_claim_that_landed_unanswered_is_still_ours_once() {
    runtime().block_on(async {
        let c = Campaign::scanned(Duration::from_secs(5)).await;
        c.faults
            .fail(Rule::error(Op::Put, ".progress", 1).with_fault(Fault::ErrorAfter));
        let summary = c.build(c.plans.clone()).await;
        assert_eq!(summary.finished.len(), 1, "{summary:?}");
        assert!(
            summary.failed.is_empty() && summary.lost.is_empty(),
            "{summary:?}"
        );
        assert_eq!(c.faults.injected(), 1, "{}", c.faults);
        let files = c.plan_files();
        let count = |part: &str| files.iter().filter(|f| f.contains(part)).count();
        assert_eq!(count(".attempt."), 1, "{files:?}");
        assert_eq!(count(".finished."), 1, "{files:?}");
        assert_eq!(count(".progress"), 0, "{files:?}");
        assert_eq!(count(".failed"), 0, "{files:?}");
        assert_eq!(blocks(&c.root.path().join("bucket")).len(), 1);
    });
}

/// An operator removing a plan by hand while a listing or the claimable
/// index still offers it: the claim is let go, and the plan is not failed
/// (there is nothing left to fail, and a failed file would name a plan
/// that does not exist).
#[test]
fn a_plan_removed_after_its_claim_is_let_go_not_failed() {
    runtime().block_on(async {
        let c = Campaign::scanned(Duration::from_secs(5)).await;
        let cfg = BuilderConfig {
            pause_after_claim: Duration::from_millis(600),
            ..c.builder(c.plans.clone())
        };
        let builder = tokio::spawn(run_builder(Arc::new(cfg), true));
        let dir = c.root.path().join("bucket").join(PREFIX).join(TENANT);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !c.plan_files().iter().any(|f| f.ends_with(".progress")) {
            assert!(std::time::Instant::now() < deadline, "never claimed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let plan = c
            .plan_files()
            .into_iter()
            .find(|f| f.contains(".plan"))
            .expect("plan file");
        std::fs::remove_file(dir.join(&plan)).expect("removing the plan");
        let summary = builder.await.expect("builder task").expect("builder");
        assert_eq!(summary.gone.len(), 1, "{summary:?}");
        assert!(
            summary.failed.is_empty() && summary.finished.is_empty(),
            "{summary:?}"
        );
        let files = c.plan_files();
        let count = |part: &str| files.iter().filter(|f| f.contains(part)).count();
        assert_eq!(count(".progress"), 0, "{files:?}");
        assert_eq!(count(".failed"), 0, "{files:?}");
        assert!(blocks(&c.root.path().join("bucket")).is_empty());
    });
}
