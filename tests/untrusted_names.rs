//! Names planted in the bucket (issue 8): objects whose tenant directory or
//! file name is not a protocol name, and a plan whose header names another
//! (invalid) tenant. `status` and `build --once` must skip or fail them with
//! a reason, and nothing may be written outside the prefix, the output
//! tenant directories of valid tenants, or the work dir.
//!
//! Scanner-side cases (Cortex index rows and Prometheus external labels
//! naming bad tenants) are in `scanner/tests/`.

use std::process::Command;
use testkit::files::files_under;

#[path = "support/cli.rs"]
mod cli;
use cli::put;

/// A command of the binary under test.
fn bin() -> Command {
    Command::new(cli::bin())
}

fn plan(user: &str, day: i32, entry: &str) -> String {
    format!(
        "{{\"user\":{},\"day_index\":{day},\"source\":\"openmetrics\"}}\n{entry}\n{{\"complete\":true}}\n",
        serde_json::Value::String(user.into())
    )
}

#[test]
fn planted_names_are_skipped_and_bad_headers_fail_without_escaping() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = tmp.path().join("bucket");
    let work = tmp.path().join("work");
    put(&bucket, "migration/scan-complete", "now");
    // Not plan files: `..` as the day, an invalid tenant, a nested path.
    put(&bucket, "migration/t/..%2F.plan", "x");
    put(&bucket, "migration/a b/1.plan", plan("a b", 1, "{}"));
    put(&bucket, "migration/t/x/1.plan", "x");
    // A valid name whose header names a tenant that would escape.
    put(
        &bucket,
        "migration/good/5.plan",
        plan("../evil", 5, "{\"staged\":\"../../x\"}"),
    );
    // A valid plan whose staged entry tries to leave the prefix.
    put(
        &bucket,
        "migration/team_b.prod/6.plan",
        plan("team_b.prod", 6, "{\"staged\":\"../../outside\"}"),
    );
    let before = files_under(&bucket);

    let out = bin()
        .args(["status", "--json", "--bucket"])
        .arg(&bucket)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["plans"], 2, "{status}");
    // The planted objects are reported, not silently left out.
    assert_eq!(status["ignored_objects"]["count"], 3, "{status}");
    let examples = status["ignored_objects"]["examples"].to_string();
    assert!(examples.contains("t/x/1.plan"), "{examples}");
    assert_eq!(files_under(&bucket), before, "status wrote something");

    let out = bin()
        .args(["build", "--once", "--bucket"])
        .arg(&bucket)
        .arg("--work-dir")
        .arg(&work)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("header names tenant \"../evil\""),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in ["migration/good/5.failed", "migration/team_b.prod/6.failed"] {
        assert!(bucket.join(f).exists(), "{f} missing: {stdout}");
    }
    // Everything new is a status file of one of the two valid plans.
    for f in files_under(&bucket) {
        assert!(
            before.contains(&f)
                || f.starts_with("migration/good/5.")
                || f.starts_with("migration/team_b.prod/6."),
            "unexpected object {f}"
        );
    }
    let outside: Vec<String> = files_under(tmp.path())
        .into_iter()
        .filter(|f| !f.starts_with("bucket/"))
        .collect();
    assert!(
        outside.is_empty(),
        "written outside the bucket: {outside:?}"
    );
}

/// An object whose name holds a control character (possible on S3 and on
/// a local disk) must be skipped by the listing, not fail it: otherwise
/// one planted object stops `status`, the scheduler and every builder.
#[test]
fn control_characters_in_names_do_not_stop_the_listing() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = tmp.path().join("bucket");
    put(&bucket, "migration/scan-complete", "now");
    put(&bucket, "migration/x\u{7}y/1.plan", "x");
    put(&bucket, "migration/t/2\u{1b}.plan", "x");
    put(&bucket, "migration/ok/1.plan", plan("ok", 1, "{}"));
    let out = bin()
        .args(["status", "--json", "--bucket"])
        .arg(&bucket)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains('\u{7}'), "raw control character printed");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["plans"], 1, "{status}");
}
