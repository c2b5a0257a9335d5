//! Scan markers know what was scanned (issue 13, class 3): the same file
//! for a second tenant, or another file of the same name, is scanned and
//! planned; a real repeat plans nothing and says how to force a rescan.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_blocksconvert");

fn scan(work: &Path, bucket: &Path, file: &Path, tenant: &str) -> Output {
    Command::new(BIN)
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
