//! Never delete a block on the word of a bucket object alone (issue 13,
//! class 1). Attempt files planted for another plan of the same tenant
//! name a finished block and a block of another day; `build --once` must
//! leave both and warn, and still remove a partial upload that really is
//! an earlier attempt's.

use std::process::Command;

#[path = "support/cli.rs"]
mod cli;
use cli::{bin, put};

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(bin()).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn attempt(block: &str) -> String {
    format!(
        "{{\"builder\":\"planted\",\"block\":\"{block}\",\"started\":\"2026-01-01T00:00:00Z\"}}"
    )
}

#[test]
fn planted_attempt_files_do_not_delete_other_plans_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.om");
    // Day 19675 (2023-11-14).
    std::fs::write(
        &input,
        "up{job=\"a\"} 1 1700000000\nup{job=\"a\"} 2 1700000060\n# EOF\n",
    )
    .unwrap();
    let bucket = tmp.path().join("bucket");
    let b = bucket.to_str().unwrap();
    let work = tmp.path().join("work");
    let w = work.to_str().unwrap();
    let src = format!("openmetrics:{}", input.display());
    let (ok, out) = run(&[
        "run",
        "--source",
        &src,
        "--tenant",
        "t",
        "--bucket",
        b,
        "--work-dir",
        w,
    ]);
    assert!(ok, "{out}");
    let finished: Vec<String> = std::fs::read_dir(bucket.join("t"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(finished.len(), 1, "{finished:?}");
    let finished = &finished[0];
    if testkit::promtool::available_or_skip() {
        testkit::promtool::analyze_bucket(&bucket).unwrap();
    }

    // A complete block of the other day that no finished file names: a
    // copy of the finished one under another ULID.
    let other_day = "01HF0000000000000000000000";
    let from = bucket.join("t").join(finished);
    let to = bucket.join("t").join(other_day);
    testkit::files::copy_dir(&from, &to).unwrap();
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(to.join("meta.json")).unwrap()).unwrap();
    meta["ulid"] = other_day.into();
    std::fs::write(to.join("meta.json"), serde_json::to_vec(&meta).unwrap()).unwrap();
    // A partial upload of a real earlier attempt of the plan below.
    let partial = "01HF0000000000000000000001";
    put(&bucket, &format!("t/{partial}/chunks/000001"), "x");

    // Another plan of the same tenant, day 19676, whose "earlier attempts"
    // name all three.
    let plan = "{\"user\":\"t\",\"day_index\":19676,\"source\":\"openmetrics\"}\n{\"staged\":\"t/19676.staged\"}\n{\"complete\":true}\n";
    put(&bucket, "migration/t/19676.plan", plan);
    put(&bucket, "migration/t/19676.attempt.1", attempt(finished));
    put(&bucket, "migration/t/19676.attempt.2", attempt(other_day));
    put(&bucket, "migration/t/19676.attempt.3", attempt(partial));

    let (_, out) = run(&["build", "--once", "--bucket", b, "--work-dir", w]);
    assert!(
        bucket.join("t").join(finished).join("meta.json").is_file(),
        "a finished block was deleted on the word of a planted attempt file:\n{out}"
    );
    assert!(
        to.join("meta.json").is_file(),
        "a block of another day was deleted:\n{out}"
    );
    assert!(
        !bucket.join("t").join(partial).exists(),
        "the partial upload of an earlier attempt stayed:\n{out}"
    );
    assert!(
        out.contains("finished file of another plan names it"),
        "{out}"
    );
    assert!(out.contains("outside the plan's day"), "{out}");
}
