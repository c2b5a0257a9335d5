//! Bucket operations against a store that fails on command.

use std::sync::Arc;
use std::time::Duration;

use testkit::faults::{Fault, FaultStore, Faults, Op, Rule};

use super::*;

fn fast() -> BucketOptions {
    BucketOptions {
        retry: RetryPolicy {
            retries: 3,
            min_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
        },
        op_timeout: Some(Duration::from_secs(1)),
        throttle: None,
    }
}

fn faulty(b: Bucket) -> (Bucket, Faults) {
    let faults = Faults::new();
    let f = faults.clone();
    let b = b
        .with_options(fast())
        .map_store(move |s| FaultStore::with_faults(s, f));
    (b, faults)
}

fn memory() -> (Bucket, Faults) {
    faulty(Bucket::open("memory://").unwrap())
}

#[tokio::test]
async fn transient_errors_are_retried_then_named() {
    let (b, f) = memory();
    f.fail(Rule::error(Op::Put, "a/k", 2));
    b.put("a/k", "v").await.unwrap();
    f.fail(Rule::error(Op::Get, "a/k", 3).with_fault(Fault::BrokenBody));
    assert_eq!(b.get("a/k").await.unwrap().as_ref(), b"v");
    f.fail(Rule::always(Op::Get, "a/k"));
    let e = b.get("a/k").await.unwrap_err();
    let msg = e.to_string();
    assert!(e.is_transient(), "{msg}");
    assert!(msg.contains("memory://: get a/k:"), "{msg}");
    assert!(msg.ends_with("(after 4 attempts)"), "{msg}");
    assert_eq!(f.calls(Op::Put), 3);
}

#[tokio::test]
async fn answers_about_the_object_are_not_retried() {
    let (b, f) = memory();
    assert!(b.get_opt("missing").await.unwrap().is_none());
    assert!(!b.exists("missing").await.unwrap());
    b.delete("missing").await.unwrap();
    assert_eq!(f.calls(Op::Any), 3);
    let e = b.put("a//b", "x").await.unwrap_err();
    assert!(matches!(e, BucketError::BadKey { .. }), "{e}");
    assert_eq!(f.calls(Op::Any), 3);
}

#[tokio::test]
async fn a_create_that_landed_unanswered_is_ours() {
    let (b, f) = memory();
    f.fail(Rule::error(Op::Put, "p.progress", 1).with_fault(Fault::ErrorAfter));
    let v = b.create_if_absent("p.progress", "mine").await.unwrap();
    assert!(v.is_some());
    assert_eq!(f.calls(Op::Put), 2);
    // A second claim with other bytes is a real conflict, ambiguous or not.
    assert!(b
        .create_if_absent("p.progress", "other")
        .await
        .unwrap()
        .is_none());
    f.fail(Rule::error(Op::Put, "p.progress", 1));
    assert!(b
        .create_if_absent("p.progress", "other")
        .await
        .unwrap()
        .is_none());
    // The version read back fences updates like the one a put returns.
    let v = v.unwrap();
    f.fail(Rule::error(Op::Put, "p.progress", 1).with_fault(Fault::ErrorAfter));
    let v2 = b.update_if_version("p.progress", "beat", &v).await.unwrap();
    assert!(v2.is_some());
    assert!(b
        .update_if_version("p.progress", "late", &v)
        .await
        .unwrap()
        .is_none());
    assert_eq!(b.get("p.progress").await.unwrap().as_ref(), b"beat");
}

#[tokio::test(start_paused = true)]
async fn a_hang_times_out_and_is_retried() {
    let (b, f) = memory();
    f.fail(Rule::error(Op::Put, "k", 1).with_fault(Fault::Hang(Duration::from_secs(30))));
    f.fail(Rule::error(Op::List, "", 1).with_fault(Fault::Hang(Duration::from_secs(30))));
    b.put("d/k", "v").await.unwrap();
    assert_eq!(b.list("d").await.unwrap().len(), 1);
    assert_eq!(f.injected(), 2);
    f.fail(Rule::always(Op::Head, "k").with_fault(Fault::Hang(Duration::from_secs(30))));
    let e = b.exists("d/k").await.unwrap_err();
    assert!(matches!(e, BucketError::Timeout { attempts: 4, .. }), "{e}");
    assert!(e.to_string().contains("no answer within 1s"), "{e}");
}

#[tokio::test]
async fn large_uploads_retry_whole_and_leave_nothing_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let (b, f) = faulty(Bucket::local(&dir.path().join("bkt")).unwrap());
    let src = dir.path().join("src");
    let data: Vec<u8> = (0..(transfer::MULTIPART_THRESHOLD as usize + 4321))
        .map(|i| (i * 13) as u8)
        .collect();
    std::fs::write(&src, &data).unwrap();
    // Start, a part, and the completion each fail once.
    f.fail(Rule::error(Op::PutMultipart, "seg", 3));
    b.upload_file("t/b/chunks/seg", &src).await.unwrap();
    assert_eq!(b.get("t/b/chunks/seg").await.unwrap().len(), data.len());
    f.fail(Rule::always(Op::PutMultipart, "other"));
    let e = b.upload_file("t/b/chunks/other", &src).await.unwrap_err();
    assert!(e.to_string().contains("upload t/b/chunks/other"), "{e}");
    assert!(e.to_string().contains("after 4 attempts"), "{e}");
    f.clear();
    let keys: Vec<String> = b
        .list("t")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(keys, vec!["t/b/chunks/seg".to_string()]);
    // Downloads restart from the first byte after a broken body.
    f.fail(Rule::error(Op::Get, "seg", 2).with_fault(Fault::BrokenBody));
    let dst = dir.path().join("dst");
    assert_eq!(
        b.download_file("t/b/chunks/seg", &dst).await.unwrap() as usize,
        data.len()
    );
    assert_eq!(std::fs::read(&dst).unwrap(), data);
}

#[tokio::test(start_paused = true)]
async fn every_request_goes_through_the_throttle() {
    let throttle = Arc::new(Throttle::new(Some(10.0), None));
    let b = Bucket::open("memory://")
        .unwrap()
        .with_options(BucketOptions {
            throttle: Some(Arc::clone(&throttle)),
            ..fast()
        });
    let start = tokio::time::Instant::now();
    b.put("k", "v").await.unwrap();
    b.get("k").await.unwrap();
    b.list("").await.unwrap();
    b.delete("k").await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(300));
}
