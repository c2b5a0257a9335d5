//! Scan markers know what was scanned (issue 13, class 3): the same file
//! for a second tenant, or another file of the same name, is scanned and
//! planned; a real repeat plans nothing and says how to force a rescan.

use std::path::Path;
use std::process::{Command, Output};

#[path = "support/cli.rs"]
mod cli;
use cli::bin;

fn scan(work: &Path, bucket: &Path, file: &Path, tenant: &str) -> Output {
    Command::new(bin())
        .args(["scan", "--source"])
        .arg(format!("openmetrics:{}", file.display()))
        .arg("--bucket")
        .arg(bucket)
        .args(["--tenant", tenant, "--work-dir"])
        .arg(work.join("work"))
        .output()
        .expect("running blocksconvert")
}

fn plans(bucket: &Path, tenant: &str) -> usize {
    std::fs::read_dir(bucket.join("migration").join(tenant))
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".plan")
            })
            .count()
        })
        .unwrap_or(0)
}

#[test]
fn markers_are_keyed_by_source_identity_and_tenant() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = tmp.path().join("bucket");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(a.join("m.om"), "up{job=\"a\"} 1 1700000000\n# EOF\n").unwrap();
    std::fs::write(b.join("m.om"), "up{job=\"b\"} 1 1700100000\n# EOF\n").unwrap();

    let o = scan(tmp.path(), &bucket, &a.join("m.om"), "team-a");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(plans(&bucket, "team-a"), 1);

    // The same file for another tenant is a new unit.
    let o = scan(tmp.path(), &bucket, &a.join("m.om"), "team-b");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(plans(&bucket, "team-b"), 1, "second tenant planned nothing");

    // Another file with the same base name is a new unit too.
    let o = scan(tmp.path(), &bucket, &b.join("m.om"), "team-a");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        plans(&bucket, "team-a"),
        2,
        "same-named file planned nothing"
    );

    // A true repeat plans nothing and says so, naming the marker to delete.
    let o = scan(tmp.path(), &bucket, &a.join("m.om"), "team-a");
    assert!(o.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(all.contains("nothing planned"), "{all}");
    assert!(all.contains("to scan it again, delete"), "{all}");
    assert!(all.contains("scanned.openmetrics-m.om-"), "{all}");
}

fn scan_file(tmp: &Path, text: &str, budget: &str) -> (bool, String, bool) {
    let file = tmp.join("in.om");
    std::fs::write(&file, text).unwrap();
    let bucket = tmp.join("refused-bucket");
    let o = Command::new(bin())
        .args(["scan", "--source"])
        .arg(format!("openmetrics:{}", file.display()))
        .arg("--bucket")
        .arg(&bucket)
        .args(["--tenant", "t", "--memory-budget", budget, "--work-dir"])
        .arg(tmp.join("work"))
        .output()
        .unwrap();
    let planned = plans(&bucket, "t") > 0;
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        planned,
    )
}

/// Class 7: what no block can hold is refused at scan time, naming the
/// line, and no plan is written for it.
#[test]
fn unrepresentable_input_is_refused_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let ok = "up 1 1700000000\n";
    let cases = [
        (
            format!("{ok}up 2 -86400\n# EOF\n"),
            "64MiB",
            ":2:",
            "before 1970",
        ),
        (
            format!("{ok}{ok}up 2 253402300800\n# EOF\n"),
            "64MiB",
            ":3:",
            "after 9999",
        ),
        (
            format!(
                "{ok}up{{a=\"{}\"}} 1 1700000000\n# EOF\n",
                "x".repeat(2 << 20)
            ),
            "64MiB",
            ":2:",
            "labels take",
        ),
        (
            format!(
                "{ok}up{{a=\"{}\"}} 1 1700000000\n# EOF\n",
                "x".repeat(40 << 10)
            ),
            "128KiB",
            ":2:",
            "--memory-budget",
        ),
    ];
    for (text, budget, line, why) in cases {
        let (ok, err, planned) = scan_file(tmp.path(), &text, budget);
        assert!(!ok, "{why}: accepted");
        assert!(err.contains(line) && err.contains(why), "{why}: {err}");
        assert!(!planned, "{why}: a plan was written");
    }
}
