//! The scheduler over an in-memory bucket: stale plans retried then
//! failed, the report it builds, and its HTTP endpoints.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use protocol::bucket::Bucket;
use protocol::records::{AttemptRecord, FinishedRecord};
use scheduler::{Scheduler, SchedulerConfig, WatchOptions};

fn config(bucket: &Bucket, stale_after: Duration) -> SchedulerConfig {
    SchedulerConfig {
        bucket: bucket.clone(),
        prefix: "m".into(),
        stale_after,
        max_attempts: 2,
        tenants: Default::default(),
    }
}

const UNTIL_DONE: WatchOptions = WatchOptions {
    scan_interval: Duration::from_millis(50),
    exit_when_done: true,
};

async fn attempt(b: &Bucket, key: &str) {
    let rec = AttemptRecord {
        builder: "b".into(),
        block: "01KBXGZ4TQ3YV3N7Z5RAVXJ8PQ".into(),
        started: "t".into(),
        output: None,
    };
    b.put(key, serde_json::to_vec(&rec).unwrap()).await.unwrap();
}

#[tokio::test]
async fn stale_plans_are_retried_then_failed_and_reported() {
    let b = Bucket::open("memory://").unwrap();
    let fin = FinishedRecord {
        block: "01KBXGZ4TQ3YV3N7Z5RAVXJ8PQ".into(),
        samples_out: 42,
        bytes: 1000,
        ..Default::default()
    };
    b.put("m/t/1.plan", "p").await.unwrap();
    b.put(
        "m/t/1.finished.01KBXGZ4TQ3YV3N7Z5RAVXJ8PQ",
        serde_json::to_vec(&fin).unwrap(),
    )
    .await
    .unwrap();
    b.put("m/t/2.plan", "p").await.unwrap();
    attempt(&b, "m/t/2.attempt.1").await;
    b.put("m/t/2.progress", "{}").await.unwrap();
    b.put("m/u/3.plan", "p").await.unwrap();
    attempt(&b, "m/u/3.attempt.1").await;
    attempt(&b, "m/u/3.attempt.2").await;
    b.put("m/u/3.progress", "{}").await.unwrap();
    b.put("m/scan-complete", "now").await.unwrap();

    let mut s = Scheduler::new(config(&b, Duration::from_millis(200)));
    let r = s.scan_once().await.unwrap();
    assert_eq!((r.states.in_progress, r.states.finished), (2, 1));
    assert_eq!(r.totals.samples_out, 42);
    assert!(!r.done());

    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = s.scan_once().await.unwrap();
    // Plan 2 had one attempt of two: retried. Plan 3 used both: failed.
    assert_eq!((r.states.new, r.states.failed), (1, 1), "{r:?}");
    assert!(!b.exists("m/t/2.progress").await.unwrap());
    assert!(b.exists("m/u/3.failed").await.unwrap());
    let counters = r.scheduler.unwrap();
    assert_eq!((counters.retries, counters.failed_stale), (1, 1));

    // Plan 2 finishes; then everything is done, with one failure.
    b.put(
        "m/t/2.finished.01KBXGZ4TQ3YV3N7Z5RAVXJ8PR",
        serde_json::to_vec(&fin).unwrap(),
    )
    .await
    .unwrap();
    let r = s.scan_once().await.unwrap();
    assert!(r.done() && !r.all_finished(), "{r:?}");
    assert_eq!(
        r.totals.samples_out, 84,
        "finished files summed, each read once"
    );
    assert!(
        r.failed[0].reason.contains("no heartbeat"),
        "{:?}",
        r.failed
    );

    let server = s.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = server.address();
    let get = |path: &str| {
        let path = path.to_string();
        tokio::task::spawn_blocking(move || {
            let mut c = TcpStream::connect(addr).unwrap();
            write!(
                c,
                "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut out = String::new();
            c.read_to_string(&mut out).unwrap();
            out
        })
    };
    let json = get("/status.json").await.unwrap();
    assert!(
        json.contains("\"failed\":1") && json.contains("\"finished\":2"),
        "{json}"
    );
    let json2 = get("/status?format=json").await.unwrap();
    assert!(json2.contains("\"scan_complete\":true"), "{json2}");
    let html = get("/status").await.unwrap();
    assert!(
        html.contains("<table>") && html.contains("<td>u</td>"),
        "{html}"
    );
    let metrics = get("/metrics").await.unwrap();
    assert!(
        metrics.contains("blocksconvert_scheduler_plans{state=\"failed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("blocksconvert_scheduler_retries_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("blocksconvert_scheduler_finished{what=\"samples_out\"} 84"),
        "{metrics}"
    );
}

#[tokio::test]
async fn exit_when_done_waits_for_the_scan_to_complete() {
    let b = Bucket::open("memory://").unwrap();
    b.put("m/t/1.plan", "p").await.unwrap();
    b.put(
        "m/t/1.finished.01KBXGZ4TQ3YV3N7Z5RAVXJ8PQ",
        "01KBXGZ4TQ3YV3N7Z5RAVXJ8PQ",
    )
    .await
    .unwrap();
    let cfg = config(&b, Duration::from_secs(60));
    let run = tokio::spawn(scheduler::run_scheduler(cfg, UNTIL_DONE, None));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!run.is_finished(), "no scan-complete yet: keeps watching");
    b.put("m/scan-complete", "now").await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("exits")
        .unwrap()
        .unwrap();
    assert!(r.all_finished());
    assert_eq!(
        r.totals.unreadable, 1,
        "a Cortex finished file (the ID alone) is counted, not summed"
    );
}

#[tokio::test]
async fn watch_reports_every_scan_and_returns_when_stopped() {
    let b = Bucket::open("memory://").unwrap();
    b.put("m/t/1.plan", "p").await.unwrap();
    let mut s = Scheduler::new(config(&b, Duration::from_secs(60)));
    let stop = tokio::sync::Notify::new();
    let mut seen = Vec::new();
    let last = s
        .watch(UNTIL_DONE, stop.notified(), |r| {
            seen.push(r.states.new);
            if seen.len() == 3 {
                // No scan-complete: only the stop ends this watch.
                stop.notify_one();
            }
        })
        .await
        .expect("three scans succeeded");
    assert_eq!(seen, [1, 1, 1]);
    assert!(
        !last.done() && last.scheduler.unwrap().scans == 3,
        "{last:?}"
    );

    // Once the campaign is done, the same loop returns on its own.
    b.put("m/t/1.failed", "{}").await.unwrap();
    b.put("m/scan-complete", "now").await.unwrap();
    let last = tokio::time::timeout(
        Duration::from_secs(5),
        s.watch(UNTIL_DONE, std::future::pending(), |_| {}),
    )
    .await
    .expect("returns once done")
    .expect("a scan succeeded");
    assert!(last.done() && !last.all_finished(), "{last:?}");
}
