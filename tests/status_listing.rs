//! `status` at campaign scale (issue 12, item 3) and its tenant filter
//! (issue 13): the report comes from the listing, finished files are read
//! only with `--exact`, every report says how fresh it is, and `--tenant`
//! selects tenants as in every other subcommand.

use std::path::Path;
use std::process::{Command, Output};

#[path = "support/cli.rs"]
mod cli;
use cli::{bin, put};

fn status(bucket: &Path, extra: &[&str]) -> Output {
    Command::new(bin())
        .arg("status")
        .arg("--bucket")
        .arg(bucket)
        .args(extra)
        .output()
        .unwrap()
}

fn stdout_ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn finished_record(tenant: &str, day: i32, samples_out: u64, bytes: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "block": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "tenant": tenant, "day": day,
        "builder": "b", "series": 3, "chunks": 3, "samples_in": samples_out,
        "samples_out": samples_out, "duplicates_dropped": 0,
        "duplicates_disagreeing": 0, "samples_outside_day": 0,
        "bytes": bytes, "seconds": 0.5
    }))
    .unwrap()
}

/// Tenants `a` (one finished with readable sums, one finished whose file
/// is not our JSON, one new) and `b` (one finished), scan complete.
fn campaign(bucket: &Path) {
    put(bucket, "migration/scan-complete", b"now");
    put(bucket, "migration/a/1.plan", b"x");
    put(
        bucket,
        "migration/a/1.finished.01ARZ3NDEKTSV4RRFFQ69G5FAV",
        finished_record("a", 1, 777_001, 424_242),
    );
    put(bucket, "migration/a/2.plan", b"x");
    put(
        bucket,
        "migration/a/2.finished.01ARZ3NDEKTSV4RRFFQ69G5FAW",
        b"not json at all",
    );
    put(bucket, "migration/a/3.plan", b"x");
    put(bucket, "migration/b/4.plan", b"x");
    put(
        bucket,
        "migration/b/4.finished.01ARZ3NDEKTSV4RRFFQ69G5FAX",
        finished_record("b", 4, 5_550_001, 99_001),
    );
}

/// Without `--exact` no finished file is read: states and blocks come
/// from the listing, the sums show as not read (neither the planted
/// figures nor the unparseable file appear), and the report starts with
/// the time of its listing. `--exact` reads them all.
#[test]
fn status_answers_from_the_listing_and_reads_finished_files_only_when_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = tmp.path().join("bucket");
    campaign(&bucket);

    let out = stdout_ok(&status(&bucket, &[]));
    let first = out.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("as of ") && first.contains("listing took"),
        "{out}"
    );
    let total = out.lines().find(|l| l.starts_with("TOTAL")).expect(&out);
    let cols: Vec<&str> = total.split_whitespace().collect();
    assert_eq!(
        cols,
        ["TOTAL", "1", "0", "0", "3", "0", "0", "-", "-"],
        "{out}"
    );
    assert!(!out.contains("777001") && !out.contains("424242"), "{out}");
    assert!(!out.contains("not our JSON"), "{out}");
    assert!(out.contains("--exact"), "says how to get the sums: {out}");

    let json: serde_json::Value =
        serde_json::from_str(&stdout_ok(&status(&bucket, &["--json"]))).unwrap();
    assert_eq!(json["states"]["finished"], 3, "{json}");
    assert_eq!(json["totals"]["blocks"], 3, "{json}");
    assert_eq!(json["totals"]["samples_out"], 0, "{json}");
    assert_eq!(json["totals_from"], "listing", "{json}");
    assert!(json["listing_seconds"].is_number(), "{json}");

    let out = stdout_ok(&status(&bucket, &["--exact"]));
    let total = out.lines().find(|l| l.starts_with("TOTAL")).expect(&out);
    let cols: Vec<&str> = total.split_whitespace().collect();
    assert_eq!(
        cols,
        ["TOTAL", "1", "0", "0", "3", "0", "0", "6327002", "523243"],
        "{out}"
    );
    assert!(out.contains("1 not our JSON or not readable"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&stdout_ok(&status(&bucket, &["--exact", "--json"]))).unwrap();
    assert_eq!(json["totals_from"], "finished_files", "{json}");
    assert_eq!(json["totals"]["unreadable"], 1, "{json}");
}

/// `status --tenant` selects tenants like every subcommand's `--tenant`
/// (comma separated or repeated); the old `--allowed-tenants` still works.
#[test]
fn status_tenant_filter() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = tmp.path().join("bucket");
    campaign(&bucket);
    let plans = |extra: &[&str]| {
        let mut args = vec!["--json"];
        args.extend(extra);
        let v: serde_json::Value =
            serde_json::from_str(&stdout_ok(&status(&bucket, &args))).unwrap();
        let tenants: Vec<String> = v["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["tenant"].as_str().unwrap().to_string())
            .collect();
        (v["plans"].as_u64().unwrap(), tenants)
    };
    assert_eq!(plans(&[]), (4, vec!["a".into(), "b".into()]));
    assert_eq!(plans(&["--tenant", "b"]), (1, vec!["b".into()]));
    assert_eq!(plans(&["--tenant", "a"]), (3, vec!["a".into()]));
    assert_eq!(
        plans(&["--tenant", "a,b"]),
        (4, vec!["a".into(), "b".into()])
    );
    assert_eq!(
        plans(&["--tenant", "a", "--tenant", "b"]),
        (4, vec!["a".into(), "b".into()])
    );
    assert_eq!(plans(&["--tenant", "nobody"]), (0, vec![]));
    assert_eq!(plans(&["--allowed-tenants", "b"]), (1, vec!["b".into()]));
    assert_eq!(plans(&["--ignore-tenants", "^a$"]), (1, vec!["b".into()]));
    let out = stdout_ok(&status(&bucket, &["--tenant", "b"]));
    assert!(
        out.lines().any(|l| l.starts_with("b ")) && !out.lines().any(|l| l.starts_with("a ")),
        "{out}"
    );
}
